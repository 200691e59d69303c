/*
 * Fuzz target: transport plaintexts from a hostile peer.
 *
 * The whole input is decoded by tw_wire_decode(); when it decodes, it is
 * encoded again from the typed result and must decode to the same fields.
 * Then it goes to tw_sync_handle() of two fresh engines, a pure responder
 * and one that has started a reconciliation.  Finally the input is read as
 * a sequence of messages, each preceded by a 2-byte big-endian length, and
 * fed in order to two more engines, so that inputs can build up state
 * (an OFFER, then answers to the WANTs it caused).  Any crash, any error
 * code outside the documented ones, or any SEND over TW_SESS_MSG_MAX or
 * that does not decode is a finding.
 */
#include <stdlib.h>
#include <string.h>

#include "twin/err.h"
#include "twin/negentropy.h"
#include "twin/sync.h"
#include "twin/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_WIRE_ITEMS   64u   /* items in the engines' store */
#define FUZZ_WIRE_TS_BASE 1700000000000ull
#define FUZZ_WIRE_SEQ_MAX 64u   /* messages taken from one input as a sequence */

static tw_neg_store *store;

static void setup(void)
{
    tw_neg_item it;
    if (store)
        return;
    if (tw_neg_store_new(&store))
        abort();
    for (size_t i = 0; i < FUZZ_WIRE_ITEMS; i++) {
        uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
        it.ts = FUZZ_WIRE_TS_BASE + i * 1000;
        for (size_t k = 0; k < TW_NEG_ID_LEN; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            it.id[k] = (uint8_t)x;
        }
        if (tw_neg_store_insert(store, it.ts, it.id))
            abort();
    }
    tw_neg_store_seal(store);
}

/* Half the ids are "stored", so OFFERs both skip and queue. */
static int have_half(void *ctx, const uint8_t id[TW_WIRE_ID_LEN])
{
    return id[0] & 1;
}

static void check_rc(int rc)
{
    switch (rc) {
    case 0: case TW_EPROTO: case TW_ETRUNC: case TW_ETYPE: case TW_ETOOBIG: case TW_EUTF8:
    case TW_EVERSION:
        return;
    default:
        abort();
    }
}

/* Performs the engine's actions as a daemon with an empty store would. */
static void drain(tw_sync *s)
{
    tw_sync_action a;
    tw_wire_msg m;
    while (tw_sync_next_action(s, &a)) {
        switch (a.type) {
        case TW_SA_SEND:
            if (a.len > TW_SESS_MSG_MAX || tw_wire_decode(a.msg, a.len, &m, NULL))
                abort();
            break;
        case TW_SA_SERVE:
            if (a.nids == 0 || a.nids > TW_IDS_PER_MSG ||
                tw_sync_answer(s, a.wseq, true, NULL, NULL, 0))
                abort();
            break;
        case TW_SA_INGEST:
            for (size_t i = 0; i < a.nenvs; i++)
                if (a.env_lens[i] == 0 || a.env_lens[i] > TW_ENVELOPE_MAX)
                    abort();
            (void)tw_sync_ingested(s, a.seq);   /* an empty store refuses them all */
            break;
        case TW_SA_RECONCILED:
            break;
        }
    }
    tw_sync_progress p;
    tw_sync_get_progress(s, &p);
    if (p.wants_outstanding > TW_WANT_WINDOW || p.serving > TW_WANT_WINDOW)
        abort();
}

static tw_sync *engine(bool initiator)
{
    tw_sync *s;
    tw_sync_cfg cfg = { .store = store, .have = have_half };
    if (tw_sync_new(&s, &cfg))
        abort();
    if (initiator) {
        if (tw_sync_start(s))
            abort();
        drain(s);
    }
    return s;
}

static bool same_list(tw_wire_list a, tw_wire_list b)
{
    const uint8_t *pa, *pb;
    size_t la, lb;
    if (a.count != b.count)
        return false;
    while (tw_wire_list_next(&a, &pa, &la)) {
        if (!tw_wire_list_next(&b, &pb, &lb) || la != lb || memcmp(pa, pb, la))
            return false;
    }
    return !tw_wire_list_next(&b, &pb, &lb);
}

/* Encodes m again and checks that it reads back the same. */
static void reencode(const tw_wire_msg *m)
{
    tw_buf b;
    tw_wire_msg back;
    uint8_t *ids = NULL;
    const uint8_t **envs = NULL;
    size_t *lens = NULL, n = 0, len;
    const uint8_t *p;
    tw_wire_list l = m->list;
    int rc = TW_EINTERNAL;

    tw_buf_init(&b);
    if (m->list.count) {
        ids = malloc((size_t)m->list.count * TW_WIRE_ID_LEN);
        envs = malloc(m->list.count * sizeof *envs);
        lens = malloc(m->list.count * sizeof *lens);
        if (!ids || !envs || !lens)
            abort();
        while (tw_wire_list_next(&l, &p, &len)) {
            if (m->type != TW_WIRE_ENTRIES && m->type != TW_WIRE_REFER)
                memcpy(ids + n * TW_WIRE_ID_LEN, p, TW_WIRE_ID_LEN);
            envs[n] = p;
            lens[n++] = len;
        }
        if (n != m->list.count)
            abort();
    }
    switch (m->type) {
    case TW_WIRE_COMPRESSED:
        abort();                /* never decoded: the daemon unwraps it */
    case TW_WIRE_NEG_REQ:
    case TW_WIRE_NEG_RESP:
        rc = tw_wire_neg(&b, m->type, m->sid, m->data, m->data_len);
        break;
    case TW_WIRE_NEG_PART:
        rc = tw_wire_neg_part(&b, m->kind, m->sid, m->data, m->data_len);
        break;
    case TW_WIRE_OFFER:
        rc = tw_wire_offer(&b, ids, n);
        break;
    case TW_WIRE_WANT:
        rc = tw_wire_want(&b, m->wseq, ids, n);
        break;
    case TW_WIRE_ENTRIES:
        rc = tw_wire_entries(&b, m->wseq, m->final, envs, lens, n);
        break;
    case TW_WIRE_IHAVE:
        rc = tw_wire_ihave(&b, ids, n);
        break;
    case TW_WIRE_REFER:
        rc = tw_wire_refer(&b, envs, lens, n);
        break;
    case TW_WIRE_ROOM:
        rc = tw_wire_room(&b, m->final);
        break;
    case TW_WIRE_PRUNE:
    case TW_WIRE_GRAFT:
        rc = tw_wire_tree(&b, m->type == TW_WIRE_GRAFT);
        break;
    case TW_WIRE_PING:
        rc = tw_wire_ping(&b, m->nonce);
        break;
    case TW_WIRE_PONG:
        rc = tw_wire_pong(&b, m->nonce);
        break;
    case TW_WIRE_ERROR:
        rc = tw_wire_error(&b, m->code, (const char *)m->data, m->data_len);
        break;
    }
    /* Shortest forms never make a message longer, so what decoded must
     * encode. */
    if (rc || tw_wire_decode(b.p, b.len, &back, NULL))
        abort();
    if (back.type != m->type || back.kind != m->kind || back.sid != m->sid || back.wseq != m->wseq ||
        back.nonce != m->nonce || back.code != m->code || back.final != m->final ||
        back.data_len != m->data_len || (m->data_len && memcmp(back.data, m->data, m->data_len)) ||
        !same_list(back.list, m->list))
        abort();
    tw_buf_free(&b);
    free(ids);
    free(envs);
    free(lens);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tw_wire_msg m;
    setup();

    int rc = tw_wire_decode(data, size, &m, NULL);
    check_rc(rc);
    if (rc == 0)
        reencode(&m);

    for (int init = 0; init < 2; init++) {
        tw_sync *s = engine(init);
        check_rc(tw_sync_handle(s, data, size));
        drain(s);
        tw_sync_free(s);
    }

    for (int init = 0; init < 2; init++) {
        tw_sync *s = engine(init);
        size_t off = 0;
        for (unsigned k = 0; k < FUZZ_WIRE_SEQ_MAX && size - off >= 2; k++) {
            size_t len = (size_t)data[off] << 8 | data[off + 1];
            off += 2;
            if (len > size - off)
                len = size - off;
            rc = tw_sync_handle(s, data + off, len);
            check_rc(rc);
            off += len;
            drain(s);
            if (rc)
                break;
        }
        tw_sync_free(s);
    }
    return 0;
}
