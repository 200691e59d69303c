/* Bundle codec (daemon/bundle.h): round trip, every truncation, damaged
 * lengths and bytes, trailing bytes, bad headers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "twin/err.h"
#include "bundle.h"

#define NENT 20

static uint8_t netid[TW_NETID_LEN];
static tw_buf envs[NENT];

static int setup(void **state)
{
    uint8_t pk[TW_KEY_LEN], sk[TW_SECKEY_LEN];
    assert_true(sodium_init() >= 0);
    crypto_sign_keypair(pk, sk);
    memset(netid, 7, sizeof netid);
    for (int i = 0; i < NENT; i++) {
        tw_arena a;
        tw_val body;
        char slot[16], text[64];
        tw_arena_init(&a, 0);
        assert_int_equal(tw_v_map(&a, &body, 1), 0);
        snprintf(slot, sizeof slot, "s%d", i);
        snprintf(text, sizeof text, "record %d of the bundle test", i);
        body.v.map[0].k = tw_v_cstr("name");
        body.v.map[0].v = tw_v_cstr(text);
        tw_buf_init(&envs[i]);
        assert_int_equal(tw_entry_sign(&envs[i], sk, netid, "group", 5, slot, strlen(slot), 1700000000000ull + (uint64_t)i, &body), 0);
        tw_arena_free(&a);
    }
    return 0;
}

static int teardown(void **state)
{
    for (int i = 0; i < NENT; i++) tw_buf_free(&envs[i]);
    return 0;
}

static void build(tw_buf *b)
{
    tw_buf_init(b);
    assert_int_equal(tw_bundle_begin(b, netid, 1234), 0);
    for (int i = 0; i < NENT; i++) assert_int_equal(tw_bundle_add(b, envs[i].p, envs[i].len), 0);
    assert_int_equal(tw_bundle_end(b, NENT), 0);
}

typedef struct seen { unsigned ok, damaged; bool match[NENT]; } seen;

static int seen_fn(void *ctx, uint64_t offset, const uint8_t *env, size_t len, const char *why)
{
    seen *s = ctx;
    if (why) { s->damaged++; return 0; }
    s->ok++;
    for (int i = 0; i < NENT; i++)
        if (envs[i].len == len && memcmp(envs[i].p, env, len) == 0) s->match[i] = true;
    return 0;
}

static size_t rec_off(int k)
{
    size_t p = TW_BUNDLE_HEADER_LEN;
    for (int i = 0; i < k; i++) p += 4 + envs[i].len;
    return p;
}

static void test_round_trip(void **state)
{
    tw_buf b;
    tw_bundle_report r;
    seen s = { 0 };
    build(&b);
    assert_int_equal(b.len, rec_off(NENT) + TW_BUNDLE_TRAILER_LEN);
    assert_int_equal(tw_bundle_parse(b.p, b.len, seen_fn, &s, &r), 0);
    assert_int_equal(s.ok, NENT);
    for (int i = 0; i < NENT; i++) assert_true(s.match[i]);
    assert_int_equal(r.records, NENT);
    assert_int_equal(r.trailer, TW_BUNDLE_TRAILER_OK);
    assert_int_equal(r.declared, NENT);
    assert_int_equal(r.created_ms, 1234);
    assert_memory_equal(r.netid, netid, TW_NETID_LEN);
    assert_false(r.truncated);
    assert_int_equal(r.skipped_bytes, 0);
    tw_buf_free(&b);
}

/* Every prefix: the whole records in it are read, nothing else, and the
 * bundle is reported cut. */
static void test_every_truncation(void **state)
{
    tw_buf b;
    build(&b);
    for (size_t len = 0; len < b.len; len++) {
        tw_bundle_report r;
        seen s = { 0 };
        uint8_t *copy = malloc(len ? len : 1);   /* exact size, so reads past it are caught by sanitizers */
        memcpy(copy, b.p, len);
        int rc = tw_bundle_parse(copy, len, seen_fn, &s, &r);
        free(copy);
        if (len < TW_BUNDLE_MAGIC_LEN) { assert_int_equal(rc, TW_EINVAL); continue; }
        if (len < TW_BUNDLE_HEADER_LEN) { assert_int_equal(rc, TW_ETRUNC); continue; }
        assert_int_equal(rc, 0);
        unsigned whole = 0;
        while (whole < NENT && rec_off((int)whole + 1) <= len) whole++;
        assert_int_equal(s.ok, whole);
        assert_int_equal(s.damaged, 0);
        assert_int_equal(r.trailer, TW_BUNDLE_TRAILER_MISSING);
        assert_true(r.truncated);
    }
    tw_buf_free(&b);
}

static void test_damaged_length(void **state)
{
    tw_buf b;
    tw_bundle_report r;
    seen s = { 0 };
    build(&b);
    size_t o = rec_off(5);
    b.p[o] = 0xff;                             /* length far beyond any envelope */
    assert_int_equal(tw_bundle_parse(b.p, b.len, seen_fn, &s, &r), 0);
    assert_int_equal(s.ok, NENT - 1);
    assert_false(s.match[5]);
    assert_int_equal(r.skipped_regions, 1);
    assert_int_equal(r.skipped_bytes, 4 + envs[5].len);
    assert_int_equal(r.trailer, TW_BUNDLE_TRAILER_BADSUM);
    tw_buf_free(&b);

    /* A length still in range but wrong: the record at the end of it does
     * not parse, so reading resynchronises instead of trusting it. */
    memset(&s, 0, sizeof s);
    build(&b);
    o = rec_off(7);
    b.p[o + 3] = (uint8_t)(b.p[o + 3] + 9);
    assert_int_equal(tw_bundle_parse(b.p, b.len, seen_fn, &s, &r), 0);
    assert_int_equal(s.ok, NENT - 1);
    assert_false(s.match[7]);
    tw_buf_free(&b);

    /* A length made longer by a whole number of records (records of one
     * size: the byte of 256s raised by 7 adds 8 records of 224 bytes)
     * lands on a later record's start: the records it spans are still
     * read, only the damaged one is lost (it swallowed 8 of them). */
    memset(&s, 0, sizeof s);
    build(&b);
    assert_int_equal(rec_off(1) - rec_off(0), 224);
    o = rec_off(0);
    assert_int_equal(b.p[o + 2], 0);
    b.p[o + 2] = 0x07;
    size_t l = (size_t)b.p[o] << 24 | (size_t)b.p[o + 1] << 16 | (size_t)b.p[o + 2] << 8 | b.p[o + 3];
    assert_int_equal(o + 4 + l, rec_off(9));
    assert_int_equal(tw_bundle_parse(b.p, b.len, seen_fn, &s, &r), 0);
    assert_false(s.match[0]);
    for (int i = 1; i < NENT; i++) assert_true(s.match[i]);
    tw_buf_free(&b);

    /* A length zeroed by damage is not the trailer: the records after it
     * are still read. */
    memset(&s, 0, sizeof s);
    build(&b);
    o = rec_off(5);
    memset(b.p + o, 0, 4);
    assert_int_equal(tw_bundle_parse(b.p, b.len, seen_fn, &s, &r), 0);
    assert_false(s.match[5]);
    for (int i = 0; i < NENT; i++) if (i != 5) assert_true(s.match[i]);
    assert_int_equal(r.trailer, TW_BUNDLE_TRAILER_BADSUM);
    tw_buf_free(&b);
}

static void test_damaged_bytes(void **state)
{
    tw_buf b;
    tw_bundle_report r;
    seen s = { 0 };
    build(&b);
    size_t o = rec_off(3);
    b.p[o + 4 + 3] ^= 0x55;                    /* inside the payload framing of record 3 */
    assert_int_equal(tw_bundle_parse(b.p, b.len, seen_fn, &s, &r), 0);
    assert_int_equal(s.ok + s.damaged, NENT);
    assert_false(s.match[3]);
    assert_int_equal(r.trailer, TW_BUNDLE_TRAILER_BADSUM);
    tw_buf_free(&b);

    /* Random damage never crashes and never loses more than the records
     * it touches. */
    for (unsigned iter = 0; iter < 300; iter++) {
        build(&b);
        unsigned hits = 1 + randombytes_uniform(4);
        for (unsigned h = 0; h < hits; h++) b.p[TW_BUNDLE_HEADER_LEN + randombytes_uniform((uint32_t)(b.len - TW_BUNDLE_HEADER_LEN))] = (uint8_t)randombytes_uniform(256);
        memset(&s, 0, sizeof s);
        assert_int_equal(tw_bundle_parse(b.p, b.len, seen_fn, &s, &r), 0);
        unsigned intact = 0;
        for (int i = 0; i < NENT; i++) intact += s.match[i];
        assert_true(intact + 2 * hits >= NENT);
        tw_buf_free(&b);
    }
}

/*
 * A bundle made by a hostile member's own tool: its framing and checksum are
 * intact, but three adjacent records hold envelopes the reader refuses (an
 * uppercase kind, a slot with a space, another envelope version).  Each is
 * read as a record of its own with its reason -- none hides its neighbours
 * as skipped bytes -- and the intact trailer reads "ok", not "count
 * mismatch".
 */
static void test_refused_neighbours(void **state)
{
    uint8_t pk[TW_KEY_LEN], sk[TW_SECKEY_LEN];
    crypto_sign_keypair(pk, sk);
    tw_buf bad[3], b;
    for (int k = 0; k < 3; k++) {
        tw_buf_init(&bad[k]);
        /* Sign a valid entry, then rewrite one byte inside the payload:
         * the framing stays whole, the entry does not parse. */
        assert_int_equal(tw_entry_sign(&bad[k], sk, netid, "group", 5, "s-x", 3, 1700000000000ull, &(tw_val){ .type = TW_NIL }), 0);
    }
    uint8_t *g = memmem(bad[0].p, bad[0].len, "group", 5);
    assert_non_null(g);
    g[0] = 'G';                                   /* kind "Group" */
    uint8_t *sl = memmem(bad[1].p, bad[1].len, "s-x", 3);
    assert_non_null(sl);
    sl[1] = ' ';                                  /* slot "s x" */
    bad[2].p[1] = 0x02;                           /* envelope version 2 */
    tw_buf_init(&b);
    assert_int_equal(tw_bundle_begin(&b, netid, 1), 0);
    assert_int_equal(tw_bundle_add(&b, envs[0].p, envs[0].len), 0);
    for (int k = 0; k < 3; k++) assert_int_equal(tw_bundle_add(&b, bad[k].p, bad[k].len), 0);
    assert_int_equal(tw_bundle_add(&b, envs[1].p, envs[1].len), 0);
    assert_int_equal(tw_bundle_end(&b, 5), 0);
    tw_bundle_report r;
    seen s = { 0 };
    assert_int_equal(tw_bundle_parse(b.p, b.len, seen_fn, &s, &r), 0);
    assert_int_equal(s.ok, 2);
    assert_int_equal(s.damaged, 3);
    assert_true(s.match[0] && s.match[1]);
    assert_int_equal(r.records, 5);
    assert_int_equal(r.damaged, 3);
    assert_int_equal(r.skipped_bytes, 0);
    assert_int_equal(r.skipped_regions, 0);
    assert_int_equal(r.trailer, TW_BUNDLE_TRAILER_OK);
    assert_false(r.truncated);
    for (int k = 0; k < 3; k++) tw_buf_free(&bad[k]);
    tw_buf_free(&b);
}

static void test_trailer_and_header(void **state)
{
    tw_buf b;
    tw_bundle_report r;
    build(&b);
    assert_int_equal(tw_buf_put(&b, "xyz", 3), 0);
    assert_int_equal(tw_bundle_parse(b.p, b.len, NULL, NULL, &r), 0);
    assert_int_equal(r.records, NENT);
    assert_int_equal(r.skipped_bytes, 3);
    assert_int_not_equal(r.trailer, TW_BUNDLE_TRAILER_OK);
    b.len -= 3;
    b.p[b.len - TW_BUNDLE_SUM_LEN - 1] ^= 1;  /* the count */
    assert_int_equal(tw_bundle_parse(b.p, b.len, NULL, NULL, &r), 0);
    assert_int_equal(r.trailer, TW_BUNDLE_TRAILER_BADSUM);
    b.p[TW_BUNDLE_MAGIC_LEN] = 2;
    assert_int_equal(tw_bundle_parse(b.p, b.len, NULL, NULL, &r), TW_EVERSION);
    b.p[0] = 'X';
    assert_int_equal(tw_bundle_parse(b.p, b.len, NULL, NULL, &r), TW_EINVAL);
    assert_int_equal(tw_bundle_add(&b, b.p, 0), TW_ETOOBIG);
    assert_int_equal(tw_bundle_add(&b, b.p, TW_ENVELOPE_MAX + 1), TW_ETOOBIG);
    tw_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_damaged_length),
        cmocka_unit_test(test_damaged_bytes),
        cmocka_unit_test(test_trailer_and_header),
        cmocka_unit_test(test_refused_neighbours),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
