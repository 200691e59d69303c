/*
 * Fuzz target: the input is a negentropy message from a hostile peer.  It is
 * read by a responder over a small fixed store (with and without a frame
 * limit), and by an initiator over a second, overlapping store after its
 * initiate().  If the responder answers, the answer goes back to the
 * initiator too, so well-formed inputs reach the id list and split paths on
 * both sides.  Any crash, any reply over the frame limit, or any error code
 * outside the documented ones is a finding.
 *
 * The stores are fixed so that seeds made from genuine sessions over the
 * same items (FUZZ_NEG_* below) go deep.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twin/err.h"
#include "twin/negentropy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NEG_ITEMS      100u  /* items in each store */
#define FUZZ_NEG_SHARED     70u   /* of which both stores hold the first ones */
#define FUZZ_NEG_TS_BASE    1700000000000ull
#define FUZZ_NEG_TS_SPAN    40u   /* few timestamps, so bounds carry id prefixes */
#define FUZZ_NEG_LIMIT      TW_NEG_FRAME_LIMIT_MIN

static tw_neg_store *resp_store, *init_store;

/* Item i of the fixed population: id bytes from a simple counter mix. */
static void fuzz_item(size_t i, tw_neg_item *it)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
    it->ts = FUZZ_NEG_TS_BASE + (x >> 40) % FUZZ_NEG_TS_SPAN;
    for (size_t k = 0; k < TW_NEG_ID_LEN; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        it->id[k] = (uint8_t)x;
    }
}

static void setup(void)
{
    tw_neg_item items[FUZZ_NEG_ITEMS];
    if (resp_store)
        return;
    if (tw_neg_store_new(&resp_store) || tw_neg_store_new(&init_store))
        abort();
    /* Responder: items 0..99; initiator: items 0..69 and 100..129. */
    for (size_t i = 0; i < FUZZ_NEG_ITEMS; i++)
        fuzz_item(i, &items[i]);
    if (tw_neg_store_insert_batch(resp_store, items, FUZZ_NEG_ITEMS, NULL))
        abort();
    for (size_t i = FUZZ_NEG_SHARED; i < FUZZ_NEG_ITEMS; i++)
        fuzz_item(i + FUZZ_NEG_ITEMS - FUZZ_NEG_SHARED, &items[i]);
    if (tw_neg_store_insert_batch(init_store, items, FUZZ_NEG_ITEMS, NULL))
        abort();
    tw_neg_store_seal(resp_store);
    tw_neg_store_seal(init_store);
}

static void check_rc(int rc)
{
    if (rc != 0 && rc != TW_EPROTO && rc != TW_EVERSION && rc != TW_ETOOBIG)
        abort();
}

static void run(size_t limit, const uint8_t *data, size_t size)
{
    tw_neg *resp = NULL, *init = NULL;
    const uint8_t *out, *reply;
    size_t out_len, reply_len;
    int rc;

    if (tw_neg_new(&resp, resp_store, limit) || tw_neg_new(&init, init_store, limit))
        abort();
    if (tw_neg_initiate(init, &out, &out_len))
        abort();

    rc = tw_neg_reconcile(resp, data, size, &reply, &reply_len);
    check_rc(rc);
    if (rc == 0 && (reply_len == 0 || (limit && reply_len > limit)))
        abort();

    rc = tw_neg_reconcile(init, data, size, &out, &out_len);
    check_rc(rc);
    if (rc == 0 && limit && out_len > limit)
        abort();

    /* The responder's answer to the input is a message an initiator may
     * really receive. */
    if (tw_neg_reconcile(resp, data, size, &reply, &reply_len) == 0 && reply_len) {
        rc = tw_neg_reconcile(init, reply, reply_len, &out, &out_len);
        check_rc(rc);
        if (rc == 0 && limit && out_len > limit)
            abort();
    }
    tw_neg_free(resp);
    tw_neg_free(init);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    run(0, data, size);
    run(FUZZ_NEG_LIMIT, data, size);
    return 0;
}
