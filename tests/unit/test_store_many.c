/* Store reads of many ids at once (tw_store_has_many, tw_store_get_many:
 * a peer's WANT, the ids a reconciliation found): the same answers as one
 * id at a time, for raw and compressed rows, in the order the ids were
 * given whatever their sorted order, absent ids left out, and the
 * callback's value stops the read; ids that differ from a stored one only
 * past their first bytes are told apart. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "twin/entry.h"
#include "twin/err.h"
#include "twin/limits.h"
#include "store.h"

static uint8_t netid[32], sk[64];
static char dir[64];

/* Entries stored: the first TW_STORE_DICT_SAMPLES - 1 raw (before the
 * store has its compression dictionary), the rest compressed. */
#define STORED (TW_STORE_DICT_SAMPLES + 200)

static tw_buf envs[STORED];
static uint8_t ids[STORED][TW_ID_LEN];
static tw_store *st;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/twmany.XXXXXX");
    assert_non_null(mkdtemp(dir));
    char err[512];
    assert_int_equal(tw_store_open(&st, dir, 0, netid, err, sizeof err), 0);
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_entry *es = calloc(STORED, sizeof *es);
    tw_put *p = calloc(STORED, sizeof *p);
    assert_non_null(es);
    assert_non_null(p);
    for (size_t i = 0; i < STORED; i++) {
        char slot[32];
        snprintf(slot, sizeof slot, "m-%zu", i);
        tw_kv kv[1] = { { tw_v_cstr("name"), tw_v_cstr("Many ids test village, Hebron governorate") } };
        tw_val body = { .type = TW_MAP, .len = 1, .v.map = kv };
        tw_buf_init(&envs[i]);
        assert_int_equal(tw_entry_sign(&envs[i], sk, netid, "place", 5, slot, strlen(slot), 1000 + i, &body), 0);
        assert_int_equal(tw_entry_parse(envs[i].p, envs[i].len, &a, &es[i], NULL), 0);
        crypto_generichash(ids[i], TW_ID_LEN, envs[i].p, envs[i].len, NULL, 0);
        p[i].e = &es[i];
    }
    assert_int_equal(tw_store_put_batch(st, p, TW_STORE_DICT_SAMPLES), 0);
    assert_int_equal(tw_store_put_batch(st, p + TW_STORE_DICT_SAMPLES, STORED - TW_STORE_DICT_SAMPLES), 0);
    tw_buf d;
    tw_buf_init(&d);
    assert_int_equal(tw_store_meta_get(st, "zdict", &d), 0);   /* so the later rows are compressed */
    tw_buf_free(&d);
    free(p);
    free(es);
    tw_arena_free(&a);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tw_store_close(st);
    for (size_t i = 0; i < STORED; i++) tw_buf_free(&envs[i]);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* A request: stored ids from both ends of the store (raw and compressed
 * rows) in an order unlike their sorted one, an id twice, and absent ids
 * (a random one and the all-zero one) among them.  want[k] is the entry
 * of request id k, or -1 when absent. */
#define REQ 64
static uint8_t req[REQ][TW_ID_LEN];
static long want[REQ];

static void make_request(void)
{
    for (size_t k = 0; k < REQ; k++) {
        long e = (long)((k * 7919u) % STORED);
        if (k % 9 == 4) e = -1;
        want[k] = e;
        if (e >= 0) memcpy(req[k], ids[e], TW_ID_LEN);
        else if (k % 2) randombytes_buf(req[k], TW_ID_LEN);
        else memset(req[k], 0, TW_ID_LEN);
    }
    want[REQ - 1] = want[3];                 /* the same id twice */
    memcpy(req[REQ - 1], req[3], TW_ID_LEN);
    assert_true(want[3] >= 0);
}

static void test_has_many(void **state)
{
    (void)state;
    make_request();
    uint8_t have[REQ];
    memset(have, 7, sizeof have);
    assert_int_equal(tw_store_has_many(st, req[0], REQ, have), 0);
    for (size_t k = 0; k < REQ; k++) {
        assert_int_equal(have[k], want[k] >= 0);
        assert_int_equal(tw_store_has(st, req[k]), want[k] >= 0);
    }
    /* Ids that share their first bytes with a stored one (the id table
     * compares the first 8 as a number, then the rest): absent, and the
     * stored one next to them still found. */
    for (size_t at = 1; at < TW_ID_LEN; at += 5) {
        uint8_t near[2][TW_ID_LEN];
        memcpy(near[0], ids[STORED - 1], TW_ID_LEN);
        near[0][at] ^= 0x01;
        memcpy(near[1], ids[STORED - 1], TW_ID_LEN);
        uint8_t h[2] = { 7, 7 };
        assert_int_equal(tw_store_has_many(st, near[0], 2, h), 0);
        assert_int_equal(h[0], 0);
        assert_int_equal(h[1], 1);
        assert_int_equal(tw_store_has(st, near[0]), 0);
    }
    /* None: nothing read, nothing written. */
    assert_int_equal(tw_store_has_many(st, req[0], 0, have), 0);
}

typedef struct got { size_t n, stop_at; long last; size_t at[REQ]; } got;

static int on_env(void *ctx, size_t i, const uint8_t *env, size_t len)
{
    got *g = ctx;
    assert_true(i < REQ);
    assert_true((long)i > g->last);          /* in the order of the request */
    g->last = (long)i;
    assert_true(want[i] >= 0);
    assert_int_equal(len, envs[want[i]].len);
    assert_memory_equal(env, envs[want[i]].p, len);
    g->at[g->n++] = i;
    return g->n == g->stop_at ? TW_ECLOSED : 0;
}

static void test_get_many(void **state)
{
    (void)state;
    make_request();
    got g = { .last = -1 };
    assert_int_equal(tw_store_get_many(st, req[0], REQ, on_env, &g), 0);
    size_t stored = 0, raw = 0;
    for (size_t k = 0; k < REQ; k++) {
        if (want[k] < 0) continue;
        assert_int_equal(g.at[stored], k);
        stored++;
        raw += want[k] < (long)TW_STORE_DICT_SAMPLES - 1;
    }
    assert_int_equal(g.n, stored);
    assert_true(raw > 0 && raw < stored);    /* both kinds of row were read */
    /* The same as one at a time. */
    tw_buf e;
    tw_buf_init(&e);
    for (size_t k = 0; k < REQ; k++) {
        assert_int_equal(tw_store_get(st, req[k], &e), want[k] >= 0 ? 0 : TW_ENOTFOUND);
        if (want[k] >= 0) assert_memory_equal(e.p, envs[want[k]].p, e.len);
    }
    tw_buf_free(&e);
    /* The callback's value stops the read and is returned. */
    got s = { .last = -1, .stop_at = 5 };
    assert_int_equal(tw_store_get_many(st, req[0], REQ, on_env, &s), TW_ECLOSED);
    assert_int_equal(s.n, 5);
    /* None stored, and none asked for: no call. */
    got none = { .last = -1 };
    assert_int_equal(tw_store_get_many(st, req[4], 1, on_env, &none), 0);
    assert_int_equal(tw_store_get_many(st, req[0], 0, on_env, &none), 0);
    assert_int_equal(none.n, 0);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    uint8_t pk[32];
    crypto_sign_keypair(pk, sk);
    randombytes_buf(netid, sizeof netid);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_has_many),
        cmocka_unit_test(test_get_many),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
