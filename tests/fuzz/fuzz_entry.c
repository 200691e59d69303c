/*
 * Fuzz target for entries and the msgpack reader: tw_entry_parse, verify and
 * check on arbitrary bytes, and tw_mp_decode in both modes.  Beyond "no
 * crash", it checks the properties the protocol relies on:
 *   - a value the canonical reader accepts re-encodes to exactly its input
 *     (there is one encoding, and the writer produces it);
 *   - whatever the writer produces from a tree the lenient reader accepted,
 *     the canonical reader accepts;
 *   - the canonical reader accepts nothing the lenient reader refuses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "twin/entry.h"
#include "twin/err.h"
#include "twin/limits.h"
#include "twin/mp.h"

/* Enough for any value inside TW_ENVELOPE_MAX bytes and well below what a
 * fuzzer run may use; larger inputs must be refused with TW_ETOOBIG. */
#define FUZZ_ARENA_CAP (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_mp(const uint8_t *data, size_t size)
{
    tw_arena a, ac;
    tw_val v, c;
    tw_buf b;
    tw_arena_init(&a, FUZZ_ARENA_CAP);
    tw_arena_init(&ac, FUZZ_ARENA_CAP);
    tw_buf_init(&b);
    int lenient = tw_mp_decode(data, size, &a, 0, &v, NULL, NULL);
    int canon = tw_mp_decode(data, size, &ac, TW_MP_CANONICAL, &c, NULL, NULL);
    if (canon == 0 && lenient != 0 && lenient != TW_ETOOBIG) abort();
    if (canon == 0) {
        if (tw_mp_encode(&b, &c) != 0) abort();
        if (b.len != size || memcmp(b.p, data, size) != 0) abort();
    }
    if (lenient == 0) {
        tw_buf_reset(&b);
        /* Keys that differ only in their spelling collapse when written
         * in the shortest form, which the writer refuses as duplicates. */
        int rc = tw_mp_encode(&b, &v);
        if (rc == 0) {
            tw_arena a2;
            tw_val w;
            tw_arena_init(&a2, FUZZ_ARENA_CAP * 2);
            int rc2 = tw_mp_decode(b.p, b.len, &a2, TW_MP_CANONICAL, &w, NULL, NULL);
            if (rc2 != 0 && rc2 != TW_ETOOBIG) abort();
            if (rc2 == 0 && !tw_v_equal(&v, &w)) abort();
            tw_arena_free(&a2);
        } else if (rc != TW_EINVAL) {
            abort();
        }
    }
    tw_buf_free(&b);
    tw_arena_free(&ac);
    tw_arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (sodium_init() < 0) abort();
        ready = 1;
    }
    check_mp(data, size);

    tw_arena a;
    tw_entry e;
    const char *why = NULL;
    tw_arena_init(&a, FUZZ_ARENA_CAP);
    int rc = tw_entry_parse(data, size, &a, &e, &why);
    if (rc == 0) {
        if (e.payload_len > TW_PAYLOAD_MAX || e.env_len != size) abort();
        if (e.body.type != TW_MAP && e.body.type != TW_NIL) abort();
        if (e.kind_len == 0 || e.kind_len > TW_KIND_MAX) abort();
        if (e.slot_len == 0 || e.slot_len > TW_SLOT_MAX) abort();
        (void)tw_entry_verify(&e);
        uint8_t net[TW_NETID_LEN];
        memcpy(net, e.net, sizeof net);
        if (tw_entry_check(&e, net, e.ts) != 0) abort();
        net[0] ^= 1;
        if (tw_entry_check(&e, net, e.ts) != TW_ENETWORK) abort();
    } else if (!why) {
        abort();
    }
    tw_arena_free(&a);
    return 0;
}
