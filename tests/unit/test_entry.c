/*
 * Tests of signed entries (include/twin/entry.h): signing, parsing,
 * verification, network binding, the clock rule, version ordering, and the
 * fixed reference vectors in tests/vectors/entries.json.
 *
 * Hostile entries are built by hand (our own payload map and envelope, signed
 * with crypto_sign_detached) so that each one breaks exactly one rule while
 * carrying a valid signature over what it holds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <ctype.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "twin/entry.h"
#include "twin/schema.h"
#include "twin/err.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "twin/mp.h"

#define TS0 1700000000000ull

static uint8_t pk1[32], sk1[64], pk2[32], sk2[64];
static uint8_t netid[32], netid2[32];

static void setup_keys(void)
{
    uint8_t seed[32], nk[32];
    memset(seed, 0x01, sizeof seed);
    crypto_sign_seed_keypair(pk1, sk1, seed);
    memset(seed, 0x03, sizeof seed);
    crypto_sign_seed_keypair(pk2, sk2, seed);
    memset(nk, 0x02, sizeof nk);
    tw_netid_derive(netid, nk);
    memset(nk, 0x04, sizeof nk);
    tw_netid_derive(netid2, nk);
}

/* A small group body: {"name": ..., "seeking": true}. */
static tw_val group_body(tw_arena *a, const char *name)
{
    tw_val m;
    assert_int_equal(tw_v_map(a, &m, 2), 0);
    m.v.map[0].k = tw_v_cstr("name");
    m.v.map[0].v = tw_v_cstr(name);
    m.v.map[1].k = tw_v_cstr("seeking");
    m.v.map[1].v = tw_v_bool(true);
    return m;
}

static void sign_ok(tw_buf *out, const uint8_t *sk, const uint8_t *net, const char *kind,
                    const char *slot, uint64_t ts, const tw_val *body)
{
    assert_int_equal(tw_entry_sign(out, sk, net, kind, strlen(kind), slot, strlen(slot),
                                   ts, body), 0);
}

static int parse(const uint8_t *p, size_t n, tw_arena *a, tw_entry *e)
{
    const char *why = NULL;
    int rc = tw_entry_parse(p, n, a, e, &why);
    if (rc) assert_non_null(why);
    return rc;
}

/* Payload fields for hand-built entries; a NULL key drops the field. */
typedef struct fields {
    const char *keys[7];
    tw_val vals[7];
    unsigned n;
} fields;

static void std_fields(fields *f, const uint8_t *author, const uint8_t *net,
                       const char *kind, const char *slot, uint64_t ts, tw_val body)
{
    static const char *const k[6] = { "author", "body", "kind", "net", "slot", "ts" };
    for (unsigned i = 0; i < 6; i++) f->keys[i] = k[i];
    f->vals[0] = tw_v_bin(author, 32);
    f->vals[1] = body;
    f->vals[2] = tw_v_cstr(kind);
    f->vals[3] = tw_v_bin(net, 32);
    f->vals[4] = tw_v_cstr(slot);
    f->vals[5] = tw_v_uint(ts);
    f->n = 6;
}

static void encode_fields(tw_buf *out, const fields *f)
{
    tw_kv kv[7];
    uint32_t n = 0;
    for (unsigned i = 0; i < f->n; i++) {
        if (!f->keys[i]) continue;
        kv[n].k = tw_v_cstr(f->keys[i]);
        kv[n].v = f->vals[i];
        n++;
    }
    tw_val m = { .type = TW_MAP, .len = n, .v.map = kv };
    tw_buf_reset(out);
    assert_int_equal(tw_mp_encode(out, &m), 0);
}

/* [version, payload, Ed25519(ctx || payload)] written with the streaming
 * writer, so the envelope is canonical whatever the payload holds. */
static void envelope(tw_buf *out, uint64_t version, const uint8_t *pl, size_t n,
                     const uint8_t *sk, const char *ctx)
{
    size_t cl = strlen(ctx);
    uint8_t *msg = malloc(cl + n + 1), sig[64];
    assert_non_null(msg);
    memcpy(msg, ctx, cl);
    memcpy(msg + cl, pl, n);
    crypto_sign_detached(sig, NULL, msg, cl + n, sk);
    free(msg);
    tw_buf_reset(out);
    assert_int_equal(tw_mpw_arr(out, 3), 0);
    assert_int_equal(tw_mpw_uint(out, version), 0);
    assert_int_equal(tw_mpw_bin(out, pl, n), 0);
    assert_int_equal(tw_mpw_bin(out, sig, sizeof sig), 0);
}

static int hand_entry(const fields *f, const uint8_t *sk, tw_entry *e, tw_arena *a, tw_buf *env)
{
    tw_buf pl;
    tw_buf_init(&pl);
    encode_fields(&pl, f);
    envelope(env, TW_ENTRY_VERSION, pl.p, pl.len, sk, TW_ENTRY_CONTEXT);
    tw_buf_free(&pl);
    return parse(env->p, env->len, a, e);
}

/* ------------------------------------------------------------------ tests */

static void test_sign_parse_verify(void **state)
{
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val body = group_body(&a, "Exampleton Twinning Association");
    tw_buf env;
    tw_buf_init(&env);
    sign_ok(&env, sk1, netid, "group", "main", TS0, &body);
    tw_entry e;
    assert_int_equal(parse(env.p, env.len, &a, &e), 0);
    assert_int_equal(tw_entry_verify(&e), 0);
    assert_int_equal(tw_entry_check(&e, netid, TS0), 0);
    assert_ptr_equal(e.env, env.p);
    assert_int_equal(e.env_len, env.len);
    assert_memory_equal(e.author, pk1, 32);
    assert_memory_equal(e.net, netid, 32);
    assert_int_equal(e.kind_len, 5);
    assert_memory_equal(e.kind, "group", 5);
    assert_int_equal(e.slot_len, 4);
    assert_memory_equal(e.slot, "main", 4);
    assert_int_equal(e.ts, TS0);
    assert_int_equal(e.body.type, TW_MAP);
    assert_true(tw_v_equal(&e.body, &body));
    /* The payload inside is exactly what the reader calls canonical, and the
     * envelope is [1, bin payload, bin 64]. */
    assert_int_equal(env.p[0], 0x93);
    assert_int_equal(env.p[1], 0x01);
    tw_val pl;
    assert_int_equal(tw_mp_decode(e.payload, e.payload_len, &a, TW_MP_CANONICAL, &pl, NULL, NULL), 0);
    assert_int_equal(pl.len, 6);
    /* id = BLAKE2b-256 of the whole envelope. */
    uint8_t id[32];
    crypto_generichash(id, sizeof id, env.p, env.len, NULL, 0);
    assert_memory_equal(e.id, id, 32);
    /* The signature is plain Ed25519 over the context string and payload. */
    uint8_t *msg = malloc(TW_ENTRY_CONTEXT_LEN + e.payload_len);
    assert_non_null(msg);
    assert_int_equal(strlen(TW_ENTRY_CONTEXT), TW_ENTRY_CONTEXT_LEN);
    memcpy(msg, TW_ENTRY_CONTEXT, TW_ENTRY_CONTEXT_LEN);
    memcpy(msg + TW_ENTRY_CONTEXT_LEN, e.payload, e.payload_len);
    assert_int_equal(crypto_sign_verify_detached(e.sig, msg, TW_ENTRY_CONTEXT_LEN + e.payload_len, pk1), 0);
    free(msg);
    /* Hand-built with the same fields gives the same bytes. */
    fields f;
    std_fields(&f, pk1, netid, "group", "main", TS0, body);
    tw_buf env2;
    tw_buf_init(&env2);
    tw_entry e2;
    assert_int_equal(hand_entry(&f, sk1, &e2, &a, &env2), 0);
    assert_int_equal(env2.len, env.len);
    assert_memory_equal(env2.p, env.p, env.len);
    /* Signing resets the output buffer. */
    sign_ok(&env, sk1, netid, "group", "main", TS0, &body);
    assert_int_equal(env2.len, env.len);
    tw_buf_free(&env2);
    tw_buf_free(&env);
    tw_arena_free(&a);
}

static void test_tombstone(void **state)
{
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val nil = tw_v_nil();
    tw_buf env;
    tw_buf_init(&env);
    sign_ok(&env, sk1, netid, "group", "main", TS0 + 1, &nil);
    tw_entry e;
    assert_int_equal(parse(env.p, env.len, &a, &e), 0);
    assert_int_equal(tw_entry_verify(&e), 0);
    assert_int_equal(e.body.type, TW_NIL);
    assert_int_equal(e.ts, TS0 + 1);
    /* Other body types are refused by the signer. */
    tw_val s = tw_v_cstr("x");
    assert_int_equal(tw_entry_sign(&env, sk1, netid, "group", 5, "main", 4, TS0, &s), TW_ETYPE);
    tw_buf_free(&env);
    tw_arena_free(&a);
}

/* No single flipped byte anywhere in an envelope is ever accepted: either
 * the parser refuses it, or the signature no longer verifies. */
static void test_flip_every_byte(void **state)
{
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val body = group_body(&a, "Exampleton Twinning Association");
    tw_buf env;
    tw_buf_init(&env);
    sign_ok(&env, sk1, netid, "group", "main", TS0, &body);
    static const uint8_t masks[] = { 0x01, 0x02, 0x10, 0x80, 0xff };
    uint8_t *m = malloc(env.len);
    assert_non_null(m);
    unsigned parsed = 0, refused = 0;
    for (size_t i = 0; i < env.len; i++) {
        for (size_t k = 0; k < sizeof masks; k++) {
            memcpy(m, env.p, env.len);
            m[i] ^= masks[k];
            tw_arena t;
            tw_arena_init(&t, 1u << 20);
            tw_entry e;
            int rc = tw_entry_parse(m, env.len, &t, &e, NULL);
            if (rc == 0) {
                parsed++;
                assert_int_equal(tw_entry_verify(&e), TW_EBADSIG);
            } else {
                refused++;
            }
            tw_arena_free(&t);
        }
    }
    /* Both paths were exercised. */
    assert_true(parsed > 0);
    assert_true(refused > 0);
    free(m);
    tw_buf_free(&env);
    tw_arena_free(&a);
}

static void test_flipped_signature(void **state)
{
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val nil = tw_v_nil();
    tw_buf env;
    tw_buf_init(&env);
    sign_ok(&env, sk1, netid, "place", "bethlehem", TS0, &nil);
    for (size_t i = env.len - 64; i < env.len; i++) {
        env.p[i] ^= 0x20;
        tw_entry e;
        assert_int_equal(parse(env.p, env.len, &a, &e), 0);
        assert_int_equal(tw_entry_verify(&e), TW_EBADSIG);
        env.p[i] ^= 0x20;
    }
    tw_entry e;
    assert_int_equal(parse(env.p, env.len, &a, &e), 0);
    assert_int_equal(tw_entry_verify(&e), 0);
    tw_buf_free(&env);
    tw_arena_free(&a);
}

static void test_other_network(void **state)
{
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val nil = tw_v_nil();
    tw_buf env;
    tw_buf_init(&env);
    sign_ok(&env, sk1, netid2, "group", "main", TS0, &nil);
    tw_entry e;
    assert_int_equal(parse(env.p, env.len, &a, &e), 0);
    assert_int_equal(tw_entry_verify(&e), 0);
    assert_int_equal(tw_entry_check(&e, netid, TS0), TW_ENETWORK);
    assert_int_equal(tw_entry_check(&e, netid2, TS0), 0);
    /* The network id is keyed BLAKE2b-256 of the fixed context string. */
    uint8_t nk[32], want[32], got[32];
    memset(nk, 0x02, sizeof nk);
    crypto_generichash(want, 32, (const uint8_t *)"twin-network-id-v1", 18, nk, 32);
    tw_netid_derive(got, nk);
    assert_memory_equal(got, want, 32);
    assert_memory_equal(got, netid, 32);
    assert_memory_not_equal(netid, netid2, 32);
    tw_buf_free(&env);
    tw_arena_free(&a);
}

static void test_wrong_context_and_author(void **state)
{
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val body = group_body(&a, "Exampleton Twinning Association");
    fields f;
    std_fields(&f, pk1, netid, "group", "main", TS0, body);
    tw_buf pl, env;
    tw_buf_init(&pl);
    tw_buf_init(&env);
    encode_fields(&pl, &f);
    tw_entry e;
    /* Another context string, no context string, and the right one. */
    static const char *const ctxs[] = { "twin-entry-v2:", "", "twin-entry-v1", "twin-noise-v1:" };
    for (size_t i = 0; i < sizeof ctxs / sizeof ctxs[0]; i++) {
        envelope(&env, TW_ENTRY_VERSION, pl.p, pl.len, sk1, ctxs[i]);
        assert_int_equal(parse(env.p, env.len, &a, &e), 0);
        assert_int_equal(tw_entry_verify(&e), TW_EBADSIG);
    }
    envelope(&env, TW_ENTRY_VERSION, pl.p, pl.len, sk1, TW_ENTRY_CONTEXT);
    assert_int_equal(parse(env.p, env.len, &a, &e), 0);
    assert_int_equal(tw_entry_verify(&e), 0);
    /* Signed by key 1, but naming key 2 as its author. */
    std_fields(&f, pk2, netid, "group", "main", TS0, body);
    assert_int_equal(hand_entry(&f, sk1, &e, &a, &env), 0);
    assert_int_equal(tw_entry_verify(&e), TW_EBADSIG);
    assert_int_equal(hand_entry(&f, sk2, &e, &a, &env), 0);
    assert_int_equal(tw_entry_verify(&e), 0);
    tw_buf_free(&pl);
    tw_buf_free(&env);
    tw_arena_free(&a);
}

static void test_noncanonical_payload(void **state)
{
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val nil = tw_v_nil();
    fields f;
    std_fields(&f, pk1, netid, "group", "main", 5, nil);
    tw_buf pl, bad, env;
    tw_buf_init(&pl);
    tw_buf_init(&bad);
    tw_buf_init(&env);
    encode_fields(&pl, &f);
    /* "ts" sorts first: 86 a2 74 73 05 ... */
    static const uint8_t head[] = { 0x86, 0xa2, 0x74, 0x73, 0x05 };
    assert_memory_equal(pl.p, head, sizeof head);
    tw_entry e;
    /* ts = 5 as uint8 (cc 05), then as uint64, properly signed. */
    static const uint8_t widths[][9] = {
        { 0xcc, 0x05 }, { 0xcd, 0x00, 0x05 }, { 0xce, 0, 0, 0, 0x05 },
        { 0xcf, 0, 0, 0, 0, 0, 0, 0, 0x05 }, { 0xd0, 0x05 },
    };
    static const size_t wl[] = { 2, 3, 5, 9, 2 };
    for (size_t w = 0; w < 5; w++) {
        tw_buf_reset(&bad);
        assert_int_equal(tw_buf_put(&bad, pl.p, 4), 0);
        assert_int_equal(tw_buf_put(&bad, widths[w], wl[w]), 0);
        assert_int_equal(tw_buf_put(&bad, pl.p + 5, pl.len - 5), 0);
        envelope(&env, TW_ENTRY_VERSION, bad.p, bad.len, sk1, TW_ENTRY_CONTEXT);
        assert_int_equal(parse(env.p, env.len, &a, &e), TW_ENONCANON);
    }
    /* The map header in its 16-bit form. */
    tw_buf_reset(&bad);
    static const uint8_t m16[] = { 0xde, 0x00, 0x06 };
    assert_int_equal(tw_buf_put(&bad, m16, 3), 0);
    assert_int_equal(tw_buf_put(&bad, pl.p + 1, pl.len - 1), 0);
    envelope(&env, TW_ENTRY_VERSION, bad.p, bad.len, sk1, TW_ENTRY_CONTEXT);
    assert_int_equal(parse(env.p, env.len, &a, &e), TW_ENONCANON);
    /* Keys in alphabetical instead of bytewise-encoded order. */
    tw_buf_reset(&bad);
    assert_int_equal(tw_mpw_map(&bad, 6), 0);
    assert_int_equal(tw_mpw_cstr(&bad, "author"), 0); assert_int_equal(tw_mpw_bin(&bad, pk1, 32), 0);
    assert_int_equal(tw_mpw_cstr(&bad, "body"), 0);   assert_int_equal(tw_mpw_nil(&bad), 0);
    assert_int_equal(tw_mpw_cstr(&bad, "kind"), 0);   assert_int_equal(tw_mpw_cstr(&bad, "group"), 0);
    assert_int_equal(tw_mpw_cstr(&bad, "net"), 0);    assert_int_equal(tw_mpw_bin(&bad, netid, 32), 0);
    assert_int_equal(tw_mpw_cstr(&bad, "slot"), 0);   assert_int_equal(tw_mpw_cstr(&bad, "main"), 0);
    assert_int_equal(tw_mpw_cstr(&bad, "ts"), 0);     assert_int_equal(tw_mpw_uint(&bad, 5), 0);
    assert_int_equal(bad.len, pl.len);
    envelope(&env, TW_ENTRY_VERSION, bad.p, bad.len, sk1, TW_ENTRY_CONTEXT);
    assert_int_equal(parse(env.p, env.len, &a, &e), TW_ENONCANON);
    /* The untouched payload is fine. */
    envelope(&env, TW_ENTRY_VERSION, pl.p, pl.len, sk1, TW_ENTRY_CONTEXT);
    assert_int_equal(parse(env.p, env.len, &a, &e), 0);
    assert_int_equal(tw_entry_verify(&e), 0);
    /* Trailing bytes after the payload map, inside the bin. */
    tw_buf_reset(&bad);
    assert_int_equal(tw_buf_put(&bad, pl.p, pl.len), 0);
    assert_int_equal(tw_mpw_nil(&bad), 0);
    envelope(&env, TW_ENTRY_VERSION, bad.p, bad.len, sk1, TW_ENTRY_CONTEXT);
    assert_int_not_equal(parse(env.p, env.len, &a, &e), 0);
    tw_buf_free(&pl);
    tw_buf_free(&bad);
    tw_buf_free(&env);
    tw_arena_free(&a);
}

static void test_envelope_rules(void **state)
{
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val nil = tw_v_nil();
    fields f;
    std_fields(&f, pk1, netid, "group", "main", TS0, nil);
    tw_buf pl, env;
    tw_buf_init(&pl);
    tw_buf_init(&env);
    encode_fields(&pl, &f);
    tw_entry e;
    envelope(&env, 2, pl.p, pl.len, sk1, TW_ENTRY_CONTEXT);
    assert_int_equal(parse(env.p, env.len, &a, &e), TW_EVERSION);
    envelope(&env, 0, pl.p, pl.len, sk1, TW_ENTRY_CONTEXT);
    assert_int_equal(parse(env.p, env.len, &a, &e), TW_EVERSION);
    envelope(&env, TW_ENTRY_VERSION, pl.p, pl.len, sk1, TW_ENTRY_CONTEXT);
    assert_int_equal(parse(env.p, env.len, &a, &e), 0);
    const size_t good_len = env.len;
    uint8_t *good = malloc(good_len + 8);
    assert_non_null(good);
    memcpy(good, env.p, good_len);
    /* Trailing byte after the envelope. */
    good[good_len] = 0xc0;
    assert_int_not_equal(parse(good, good_len + 1, &a, &e), 0);
    /* Four elements; a payload that is a string; a 63-byte signature. */
    good[0] = 0x94;
    assert_int_not_equal(parse(good, good_len + 1, &a, &e), 0);
    good[0] = 0x93;
    tw_buf_reset(&env);
    tw_mpw_arr(&env, 3); tw_mpw_uint(&env, 1); tw_mpw_str(&env, (const char *)pl.p, pl.len);
    tw_mpw_bin(&env, good + good_len - 64, 64);
    assert_int_not_equal(parse(env.p, env.len, &a, &e), 0);
    tw_buf_reset(&env);
    tw_mpw_arr(&env, 3); tw_mpw_uint(&env, 1); tw_mpw_bin(&env, pl.p, pl.len);
    tw_mpw_bin(&env, good + good_len - 64, 63);
    assert_int_equal(parse(env.p, env.len, &a, &e), TW_ETYPE);
    /* Not an array at all, and empty input. */
    tw_buf_reset(&env);
    tw_mpw_bin(&env, pl.p, pl.len);
    assert_int_equal(parse(env.p, env.len, &a, &e), TW_ETYPE);
    assert_int_equal(parse(good, 0, &a, &e), TW_ETRUNC);
    /* Payload length in the 16-bit form although it is below 256 bytes. */
    assert_true(pl.len < 256);
    tw_buf_reset(&env);
    static const uint8_t h[] = { 0x93, 0x01, 0xc5 };
    tw_buf_put(&env, h, 3);
    uint8_t l16[2] = { 0, (uint8_t)pl.len };
    tw_buf_put(&env, l16, 2);
    tw_buf_put(&env, good + 3, good_len - 3);
    assert_int_equal(parse(env.p, env.len, &a, &e), TW_ENONCANON);
    /* Every truncation of a valid envelope is refused. */
    for (size_t n = 0; n < good_len; n++) {
        uint8_t *t = malloc(n ? n : 1);
        assert_non_null(t);
        memcpy(t, good, n);
        assert_int_not_equal(tw_entry_parse(t, n, &a, &e, NULL), 0);
        free(t);
    }
    free(good);
    tw_buf_free(&pl);
    tw_buf_free(&env);
    tw_arena_free(&a);
}

/* Payload size as a function of the length of one string in the body. */
static size_t payload_len_for(tw_arena *a, size_t slen, char *s, int *rc)
{
    tw_val body;
    assert_int_equal(tw_v_map(a, &body, 1), 0);
    body.v.map[0].k = tw_v_cstr("description");
    body.v.map[0].v = tw_v_str(s, slen);
    tw_buf env;
    tw_buf_init(&env);
    *rc = tw_entry_sign(&env, sk1, netid, "group", 5, "main", 4, TS0, &body);
    size_t n = 0;
    if (*rc == 0) {
        tw_entry e;
        assert_int_equal(parse(env.p, env.len, a, &e), 0);
        assert_int_equal(tw_entry_verify(&e), 0);
        n = e.payload_len;
        assert_true(env.len <= TW_ENVELOPE_MAX);
    }
    tw_buf_free(&env);
    return n;
}

static void test_payload_limit(void **state)
{
    tw_arena a;
    tw_arena_init(&a, 0);
    char *s = malloc(TW_PAYLOAD_MAX + 100);
    assert_non_null(s);
    memset(s, 'w', TW_PAYLOAD_MAX + 100);
    int rc;
    size_t p0 = payload_len_for(&a, 1000, s, &rc);
    assert_int_equal(rc, 0);
    /* The string stays in its 16-bit length form, so size grows one to one. */
    size_t exact = 1000 + (TW_PAYLOAD_MAX - p0);
    assert_int_equal(payload_len_for(&a, exact, s, &rc), TW_PAYLOAD_MAX);
    assert_int_equal(rc, 0);
    payload_len_for(&a, exact + 1, s, &rc);
    assert_int_equal(rc, TW_ETOOBIG);

    /* A hand-signed payload one byte over the limit is refused by the parser
     * even though its envelope is within TW_ENVELOPE_MAX. */
    tw_val body;
    assert_int_equal(tw_v_map(&a, &body, 1), 0);
    body.v.map[0].k = tw_v_cstr("description");
    body.v.map[0].v = tw_v_str(s, exact + 1);
    fields f;
    std_fields(&f, pk1, netid, "group", "main", TS0, body);
    tw_buf env;
    tw_buf_init(&env);
    tw_entry e;
    assert_int_equal(hand_entry(&f, sk1, &e, &a, &env), TW_ETOOBIG);
    assert_true(env.len <= TW_ENVELOPE_MAX);
    /* An envelope over TW_ENVELOPE_MAX is refused before it is decoded. */
    uint8_t *big = calloc(1, TW_ENVELOPE_MAX + 1);
    assert_non_null(big);
    assert_int_equal(tw_entry_parse(big, TW_ENVELOPE_MAX + 1, &a, &e, NULL), TW_ETOOBIG);
    free(big);
    tw_buf_free(&env);
    free(s);
    tw_arena_free(&a);
}

static void test_payload_fields(void **state)
{
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val nil = tw_v_nil();
    fields f;
    tw_buf env;
    tw_buf_init(&env);
    tw_entry e;
    /* Extra field. */
    std_fields(&f, pk1, netid, "group", "main", TS0, nil);
    f.keys[6] = "extra";
    f.vals[6] = tw_v_uint(1);
    f.n = 7;
    assert_int_equal(hand_entry(&f, sk1, &e, &a, &env), TW_ETYPE);
    /* Each field missing in turn, and each renamed in turn. */
    for (unsigned i = 0; i < 6; i++) {
        std_fields(&f, pk1, netid, "group", "main", TS0, nil);
        f.keys[i] = NULL;
        assert_int_equal(hand_entry(&f, sk1, &e, &a, &env), TW_ETYPE);
        std_fields(&f, pk1, netid, "group", "main", TS0, nil);
        f.keys[i] = "other";
        assert_int_equal(hand_entry(&f, sk1, &e, &a, &env), TW_ETYPE);
    }
    /* Wrong types or sizes of each field. */
    static const uint8_t n33[33];
    tw_val bad[] = {
        tw_v_bin(pk1, 31), tw_v_cstr("x"), tw_v_bin("group", 5), tw_v_bin(n33, sizeof n33),
        tw_v_bin("main", 4), tw_v_int(-1),
    };
    for (unsigned i = 0; i < 6; i++) {
        std_fields(&f, pk1, netid, "group", "main", TS0, nil);
        f.vals[i] = bad[i];
        assert_int_equal(hand_entry(&f, sk1, &e, &a, &env), TW_ETYPE);
    }
    std_fields(&f, pk1, netid, "group", "main", TS0, nil);
    f.vals[1] = tw_v_bool(false);
    assert_int_equal(hand_entry(&f, sk1, &e, &a, &env), TW_ETYPE);
    assert_int_equal(tw_v_arr(&a, &f.vals[1], 0), 0);
    assert_int_equal(hand_entry(&f, sk1, &e, &a, &env), TW_ETYPE);
    /* ts may be 0 or the largest uint64. */
    std_fields(&f, pk1, netid, "group", "main", 0, nil);
    assert_int_equal(hand_entry(&f, sk1, &e, &a, &env), 0);
    std_fields(&f, pk1, netid, "group", "main", UINT64_MAX, nil);
    assert_int_equal(hand_entry(&f, sk1, &e, &a, &env), 0);
    assert_int_equal(e.ts, UINT64_MAX);
    /* The clock rule holds at the top of the range without overflowing. */
    assert_int_equal(tw_entry_check(&e, netid, UINT64_MAX), 0);
    assert_int_equal(tw_entry_check(&e, netid, UINT64_MAX - TW_FUTURE_SKEW_MS), 0);
    assert_int_equal(tw_entry_check(&e, netid, UINT64_MAX - TW_FUTURE_SKEW_MS - 1), TW_EFUTURE);
    /* An empty body map is a record, not a tombstone. */
    std_fields(&f, pk1, netid, "group", "main", TS0, nil);
    assert_int_equal(tw_v_map(&a, &f.vals[1], 0), 0);
    assert_int_equal(hand_entry(&f, sk1, &e, &a, &env), 0);
    assert_int_equal(e.body.type, TW_MAP);
    tw_buf_free(&env);
    tw_arena_free(&a);
}

static void test_payload_depth(void **state)
{
    /* The payload map is depth 0 and body depth 1, so a body may hold
     * TW_DEPTH_MAX - 2 nested containers below it. */
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_buf env;
    tw_buf_init(&env);
    for (unsigned inner = TW_DEPTH_MAX - 2; inner <= TW_DEPTH_MAX - 1; inner++) {
        tw_val body, *cur;
        assert_int_equal(tw_v_map(&a, &body, 1), 0);
        body.v.map[0].k = tw_v_cstr("x");
        cur = &body.v.map[0].v;
        for (unsigned i = 0; i < inner; i++) {
            assert_int_equal(tw_v_arr(&a, cur, i + 1 < inner ? 1 : 0), 0);
            if (i + 1 < inner) cur = &cur->v.arr[0];
        }
        int rc = tw_entry_sign(&env, sk1, netid, "group", 5, "main", 4, TS0, &body);
        if (inner == TW_DEPTH_MAX - 2) {
            assert_int_equal(rc, 0);
            tw_entry e;
            assert_int_equal(parse(env.p, env.len, &a, &e), 0);
        } else {
            assert_int_equal(rc, TW_EDEPTH);
        }
    }
    tw_buf_free(&env);
    tw_arena_free(&a);
}

static void names_edge(const char *kind, size_t kl, const char *slot, size_t sl, int want)
{
    const char *why = NULL;
    assert_int_equal(tw_entry_check_names(kind, kl, slot, sl, &why), want);
    if (want) assert_non_null(why);
    tw_buf env;
    tw_buf_init(&env);
    tw_val nil = tw_v_nil();
    assert_int_equal(tw_entry_sign(&env, sk1, netid, kind, kl, slot, sl, TS0, &nil), want);
    /* The parser applies the same rule to a properly signed entry. */
    tw_arena a;
    tw_arena_init(&a, 0);
    fields f;
    std_fields(&f, pk1, netid, "x", "x", TS0, nil);
    f.vals[2] = tw_v_str(kind, kl);
    f.vals[4] = tw_v_str(slot, sl);
    tw_entry e;
    int rc = hand_entry(&f, sk1, &e, &a, &env);
    /* Non-UTF-8 names never get as far as the name check. */
    if (want == 0 || rc != TW_EUTF8) assert_int_equal(rc, want);
    tw_arena_free(&a);
    tw_buf_free(&env);
}

static void test_names(void **state)
{
    char k[TW_KIND_MAX + 2], s[TW_SLOT_MAX + 2];
    memset(k, 'k', sizeof k);
    memset(s, 's', sizeof s);
    names_edge(k, TW_KIND_MAX, "main", 4, 0);
    names_edge(k, TW_KIND_MAX + 1, "main", 4, TW_EINVAL);
    names_edge("group", 5, s, TW_SLOT_MAX, 0);
    names_edge("group", 5, s, TW_SLOT_MAX + 1, TW_EINVAL);
    names_edge("", 0, "main", 4, TW_EINVAL);
    names_edge("group", 5, "", 0, TW_EINVAL);
    names_edge("a", 1, "!", 1, 0);
    names_edge("a_9", 3, "~", 1, 0);
    names_edge("9a", 2, "main", 4, TW_EINVAL);     /* starts with a digit */
    names_edge("_a", 2, "main", 4, TW_EINVAL);
    names_edge("Group", 5, "main", 4, TW_EINVAL);  /* uppercase */
    names_edge("gr-oup", 6, "main", 4, TW_EINVAL);
    names_edge("gr\0up", 5, "main", 4, TW_EINVAL);
    names_edge("group", 5, "ma in", 5, TW_EINVAL); /* space */
    names_edge("group", 5, "ma\x7fin", 5, TW_EINVAL);
    names_edge("group", 5, "ma\tin", 5, TW_EINVAL);
    names_edge("group", 5, "b\xc3\xa9", 3, TW_EINVAL); /* non-ASCII UTF-8 */
    names_edge("group", 5, "PS-BTH/bethlehem:1", 18, 0);
}

static void test_future(void **state)
{
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val nil = tw_v_nil();
    tw_buf env;
    tw_buf_init(&env);
    sign_ok(&env, sk1, netid, "group", "main", TS0, &nil);
    tw_entry e;
    assert_int_equal(parse(env.p, env.len, &a, &e), 0);
    assert_int_equal(tw_entry_check(&e, netid, TS0 - TW_FUTURE_SKEW_MS), 0);
    assert_int_equal(tw_entry_check(&e, netid, TS0 - TW_FUTURE_SKEW_MS - 1), TW_EFUTURE);
    assert_int_equal(tw_entry_check(&e, netid, TS0), 0);
    assert_int_equal(tw_entry_check(&e, netid, TS0 + 86400000ull * 365), 0);
    /* The network is checked before the clock. */
    assert_int_equal(tw_entry_check(&e, netid2, 0), TW_ENETWORK);
    tw_buf_free(&env);
    tw_arena_free(&a);
}

static void test_cmp_version(void **state)
{
    uint8_t lo[32], hi[32];
    memset(lo, 0x10, 32);
    memset(hi, 0x10, 32);
    hi[31] = 0x11;
    assert_int_equal(tw_entry_cmp_version(2, lo, 1, hi), 1);
    assert_int_equal(tw_entry_cmp_version(1, hi, 2, lo), -1);
    assert_int_equal(tw_entry_cmp_version(5, hi, 5, lo), 1);
    assert_int_equal(tw_entry_cmp_version(5, lo, 5, hi), -1);
    assert_int_equal(tw_entry_cmp_version(5, lo, 5, lo), 0);
    /* The id is compared as unsigned bytes, first byte most significant. */
    uint8_t x[32] = { 0x80 }, y[32] = { 0x7f };
    memset(y + 1, 0xff, 31);
    assert_int_equal(tw_entry_cmp_version(0, x, 0, y), 1);
    assert_int_equal(tw_entry_cmp_version(UINT64_MAX, lo, UINT64_MAX - 1, hi), 1);
    /* A tombstone wins over an older record like any version does. */
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val body = group_body(&a, "Exampleton Twinning Association"), nil = tw_v_nil();
    tw_buf e1, e2;
    tw_buf_init(&e1);
    tw_buf_init(&e2);
    sign_ok(&e1, sk1, netid, "group", "main", TS0, &body);
    sign_ok(&e2, sk1, netid, "group", "main", TS0 + 1, &nil);
    tw_entry r, t;
    assert_int_equal(parse(e1.p, e1.len, &a, &r), 0);
    assert_int_equal(parse(e2.p, e2.len, &a, &t), 0);
    assert_int_equal(tw_entry_cmp_version(t.ts, t.id, r.ts, r.id), 1);
    assert_int_equal(tw_entry_cmp_version(r.ts, r.id, t.ts, t.id), -1);
    tw_buf_free(&e1);
    tw_buf_free(&e2);
    tw_arena_free(&a);
}

/* ------------------------------------------------------- reference vectors */

/* A minimal reader for tests/vectors/entries.json: the vectors are flat
 * objects whose values are strings or integers, one field a line. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Value of "key" within [obj, end): a string (returned without quotes) or
 * a bare number.  Copies into out. */
static void field(const char *obj, const char *end, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(obj, pat);
    if (!p || p >= end) fail_msg("vector field %s missing", key);
    p += strlen(pat);
    while (*p == ' ') p++;
    const char *q;
    if (*p == '"') { p++; q = strchr(p, '"'); }
    else { q = p; while (*q >= '0' && *q <= '9') q++; }
    assert_non_null(q);
    size_t n = (size_t)(q - p);
    assert_true(n < cap);
    memcpy(out, p, n);
    out[n] = 0;
}

static size_t hexfield(const char *obj, const char *end, const char *key, uint8_t *out, size_t cap)
{
    static char txt[2 * (TW_ENVELOPE_MAX + 1)];
    field(obj, end, key, txt, sizeof txt);
    size_t n = strlen(txt) / 2;
    assert_true(n <= cap);
    assert_int_equal(tw_hex_decode(out, n, txt, strlen(txt)), 0);
    return n;
}

/*
 * The worked example of proto/PROTOCOL.md: its payload ("As one string")
 * is the first vector's, byte for byte, and it is a valid record.
 */
static void test_spec_example(void **state)
{
    size_t len;
    char *md = slurp("proto/PROTOCOL.md", &len);
    if (!md) fail_msg("cannot read proto/PROTOCOL.md (run from the repository root)");
    const char *p = strstr(md, "### Worked example");
    assert_non_null(p);
    p = strstr(p, "As one string:");
    assert_non_null(p);
    p = strstr(p, "```");
    assert_non_null(p);
    p += 3;
    static char hexs[2 * TW_PAYLOAD_MAX + 1];
    size_t n = 0;
    for (; *p && strncmp(p, "```", 3) != 0 && n + 1 < sizeof hexs; p++)
        if (isxdigit((unsigned char)*p)) hexs[n++] = *p;
    hexs[n] = 0;
    static uint8_t payload[TW_PAYLOAD_MAX];
    assert_int_equal(tw_hex_decode(payload, n / 2, hexs, n), 0);
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val pl;
    assert_int_equal(tw_mp_decode(payload, n / 2, &a, TW_MP_CANONICAL, &pl, NULL, NULL), 0);
    const tw_val *kind = tw_v_get(&pl, "kind"), *slot = tw_v_get(&pl, "slot"), *body = tw_v_get(&pl, "body");
    assert_true(kind && slot && body && kind->type == TW_STR && slot->type == TW_STR);
    char why[256];
    if (tw_schema_check_record(kind->v.s, kind->len, slot->v.s, slot->len, body, 0, why, sizeof why))
        fail_msg("the worked example of PROTOCOL.md is not a valid record: %s", why);
    /* And it is the first reference vector's payload. */
    size_t vl;
    char *json = slurp("tests/vectors/entries.json", &vl);
    assert_non_null(json);
    const char *f = strstr(json, "\"payload\": \"");
    assert_non_null(f);
    f += strlen("\"payload\": \"");
    assert_true(strncmp(f, hexs, n) == 0 && f[n] == '"');
    free(json);
    free(md);
    tw_arena_free(&a);
    (void)state;
}

static void test_reference_vectors(void **state)
{
    const char *path = getenv("TW_ENTRY_VECTORS");
    if (!path) path = "tests/vectors/entries.json";
    size_t len;
    char *json = slurp(path, &len);
    if (!json) fail_msg("cannot read %s (run from the repository root)", path);
    const char *p = strstr(json, "\"vectors\"");
    assert_non_null(p);
    unsigned count = 0;
    static uint8_t env[TW_ENVELOPE_MAX], payload[TW_PAYLOAD_MAX], bodyb[TW_PAYLOAD_MAX];
    while ((p = strchr(p, '{')) && count < 100) {
        const char *end = strchr(p, '}');
        assert_non_null(end);
        uint8_t seed[32], pk[32], sk[64], nk[32], nid[32], sig[64], id[32], nidc[32];
        char kind[64], slot[256], ts[32], kt[128], name[64];
        field(p, end, "name", name, sizeof name);
        assert_int_equal(hexfield(p, end, "seed", seed, 32), 32);
        assert_int_equal(hexfield(p, end, "public_key", pk, 32), 32);
        assert_int_equal(hexfield(p, end, "network_key", nk, 32), 32);
        assert_int_equal(hexfield(p, end, "network_id", nid, 32), 32);
        assert_int_equal(hexfield(p, end, "signature", sig, 64), 64);
        assert_int_equal(hexfield(p, end, "id", id, 32), 32);
        size_t envn = hexfield(p, end, "envelope", env, sizeof env);
        size_t pln = hexfield(p, end, "payload", payload, sizeof payload);
        size_t bn = hexfield(p, end, "body", bodyb, sizeof bodyb);
        field(p, end, "kind", kind, sizeof kind);
        field(p, end, "slot", slot, sizeof slot);
        field(p, end, "ts", ts, sizeof ts);
        field(p, end, "public_key_text", kt, sizeof kt);
        uint64_t t = strtoull(ts, NULL, 10);

        /* Keys and network id follow from the seeds. */
        uint8_t pkc[32];
        crypto_sign_seed_keypair(pkc, sk, seed);
        assert_memory_equal(pkc, pk, 32);
        tw_netid_derive(nidc, nk);
        assert_memory_equal(nidc, nid, 32);
        char ktc[TW_KEYTEXT_LEN + 1];
        tw_keytext_encode(ktc, TW_KEYTEXT_PREFIX, pk);
        assert_string_equal(ktc, kt);

        /* Signing the same fields gives the same bytes. */
        tw_arena a;
        tw_arena_init(&a, 0);
        tw_val body;
        assert_int_equal(tw_mp_decode(bodyb, bn, &a, TW_MP_CANONICAL, &body, NULL, NULL), 0);
        /* A reference entry is a record every door accepts. */
        char why[256];
        if (tw_schema_check_record(kind, strlen(kind), slot, strlen(slot), &body, 0, why, sizeof why))
            fail_msg("vector %s is not a valid record: %s", name, why);
        tw_buf out;
        tw_buf_init(&out);
        sign_ok(&out, sk, nid, kind, slot, t, &body);
        assert_int_equal(out.len, envn);
        assert_memory_equal(out.p, env, envn);
        tw_buf_free(&out);

        /* Parsing the stored bytes gives the stated fields. */
        tw_entry e;
        assert_int_equal(parse(env, envn, &a, &e), 0);
        assert_int_equal(tw_entry_verify(&e), 0);
        assert_int_equal(tw_entry_check(&e, nid, t), 0);
        assert_int_equal(e.payload_len, pln);
        assert_memory_equal(e.payload, payload, pln);
        assert_memory_equal(e.sig, sig, 64);
        assert_memory_equal(e.id, id, 32);
        assert_memory_equal(e.author, pk, 32);
        assert_int_equal(e.ts, t);
        assert_int_equal(e.kind_len, strlen(kind));
        assert_memory_equal(e.kind, kind, e.kind_len);
        assert_int_equal(e.slot_len, strlen(slot));
        assert_memory_equal(e.slot, slot, e.slot_len);
        assert_true(tw_v_equal(&e.body, &body));
        tw_arena_free(&a);
        count++;
        p = end + 1;
    }
    assert_int_equal(count, 3);
    free(json);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    setup_keys();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_parse_verify),
        cmocka_unit_test(test_tombstone),
        cmocka_unit_test(test_flip_every_byte),
        cmocka_unit_test(test_flipped_signature),
        cmocka_unit_test(test_other_network),
        cmocka_unit_test(test_wrong_context_and_author),
        cmocka_unit_test(test_noncanonical_payload),
        cmocka_unit_test(test_envelope_rules),
        cmocka_unit_test(test_payload_limit),
        cmocka_unit_test(test_payload_fields),
        cmocka_unit_test(test_payload_depth),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_future),
        cmocka_unit_test(test_cmp_version),
        cmocka_unit_test(test_reference_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
