/*
 * Unit tests for proto/wire.c: a round trip of every message type, every
 * field of the wrong type, id and envelope lengths, list sizes, truncation
 * and extra elements, the limits at their edges, and the encoders' refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "twin/err.h"
#include "twin/mp.h"
#include "twin/wire.h"

#define MANY_IDS (TW_IDS_PER_MSG + 1u)

static uint8_t ids[MANY_IDS * TW_WIRE_ID_LEN];

static int setup(void **state)
{
    for (size_t i = 0; i < sizeof ids; i++)
        ids[i] = (uint8_t)(i * 131u + 7u);
    return 0;
}

static void expect(const tw_buf *b, int rc)
{
    tw_wire_msg m;
    const char *why = NULL;
    assert_int_equal(tw_wire_decode(b->p, b->len, &m, &why), rc);
    if (rc)
        assert_non_null(why);
}

/* Walks a list checking each id against ids[first...]. */
static void check_ids(tw_wire_list l, size_t n)
{
    const uint8_t *p;
    size_t len, k = 0;
    assert_int_equal(l.count, n);
    while (tw_wire_list_next(&l, &p, &len)) {
        assert_int_equal(len, TW_WIRE_ID_LEN);
        assert_memory_equal(p, ids + k * TW_WIRE_ID_LEN, TW_WIRE_ID_LEN);
        k++;
    }
    assert_int_equal(k, n);
}

/* ---- round trips ---- */

static void test_roundtrip(void **state)
{
    tw_buf b;
    tw_wire_msg m;
    const uint8_t neg[] = { 0x61, 0x00, 0x00 };
    tw_buf_init(&b);

    for (int t = TW_WIRE_NEG_REQ; t <= TW_WIRE_NEG_RESP; t++) {
        const uint64_t sids[] = { 0, 1, 127, 128, 65536, UINT64_MAX };
        for (size_t i = 0; i < sizeof sids / sizeof sids[0]; i++) {
            tw_buf_reset(&b);
            assert_int_equal(tw_wire_neg(&b, (tw_wire_type)t, sids[i], neg, sizeof neg), 0);
            assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
            assert_int_equal(m.type, t);
            assert_true(m.sid == sids[i]);
            assert_int_equal(m.data_len, sizeof neg);
            assert_memory_equal(m.data, neg, sizeof neg);
            /* A piece of a longer message of that kind. */
            tw_buf_reset(&b);
            assert_int_equal(tw_wire_neg_part(&b, (tw_wire_type)t, sids[i], neg, sizeof neg), 0);
            assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
            assert_int_equal(m.type, TW_WIRE_NEG_PART);
            assert_int_equal(m.kind, t);
            assert_true(m.sid == sids[i]);
            assert_int_equal(m.data_len, sizeof neg);
            assert_memory_equal(m.data, neg, sizeof neg);
        }
    }
    /* NEG_PART of another kind, or empty, is refused by both sides. */
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_neg_part(&b, TW_WIRE_OFFER, 1, neg, sizeof neg), TW_EINVAL);
    assert_int_equal(tw_wire_neg_part(&b, TW_WIRE_NEG_REQ, 1, neg, 0), TW_EINVAL);
    assert_int_equal(b.len, 0);
    tw_mpw_arr(&b, 4); tw_mpw_uint(&b, TW_WIRE_NEG_PART); tw_mpw_uint(&b, 3); tw_mpw_uint(&b, 1);
    tw_mpw_bin(&b, neg, sizeof neg);
    assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), TW_EPROTO);
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 4); tw_mpw_uint(&b, TW_WIRE_NEG_PART); tw_mpw_uint(&b, 1); tw_mpw_uint(&b, 1);
    tw_mpw_bin(&b, neg, 0);
    assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), TW_EPROTO);
    /* The largest piece fits one transport message with its head. */
    {
        uint8_t *piece = calloc(1, TW_SESS_MSG_MAX);
        assert_non_null(piece);
        size_t max = TW_SESS_MSG_MAX - TW_WIRE_NEG_PART_HEAD_MAX;
        tw_buf_reset(&b);
        assert_int_equal(tw_wire_neg_part(&b, TW_WIRE_NEG_RESP, UINT64_MAX, piece, max), 0);
        assert_true(b.len <= TW_SESS_MSG_MAX);
        assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
        assert_int_equal(m.data_len, max);
        free(piece);
    }

    const size_t counts[] = { 1, 2, 15, 16, TW_IDS_PER_MSG };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        tw_buf_reset(&b);
        assert_int_equal(tw_wire_offer(&b, ids, counts[i]), 0);
        assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
        assert_int_equal(m.type, TW_WIRE_OFFER);
        check_ids(m.list, counts[i]);

        tw_buf_reset(&b);
        assert_int_equal(tw_wire_want(&b, 1000 + i, ids, counts[i]), 0);
        assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
        assert_int_equal(m.type, TW_WIRE_WANT);
        assert_true(m.wseq == 1000 + i);
        check_ids(m.list, counts[i]);
    }

    /* ENTRIES: envelopes of varied sizes across the bin header forms. */
    const size_t lens[] = { 1, 255, 256 };
    uint8_t *big = malloc(TW_ENVELOPE_MAX);
    assert_non_null(big);
    for (size_t i = 0; i < TW_ENVELOPE_MAX; i++)
        big[i] = (uint8_t)(i ^ 0x5a);
    const uint8_t *envs[3] = { big, big + 1, big + 2 };
    size_t elens[3] = { lens[0], lens[1], lens[2] };
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_entries(&b, 9, false, envs, elens, 3), 0);
    assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
    assert_int_equal(m.type, TW_WIRE_ENTRIES);
    assert_true(m.wseq == 9);
    assert_false(m.final);
    {
        tw_wire_list l = m.list;
        const uint8_t *p;
        size_t len, k = 0;
        while (tw_wire_list_next(&l, &p, &len)) {
            assert_int_equal(len, elens[k]);
            assert_memory_equal(p, envs[k], len);
            k++;
        }
        assert_int_equal(k, 3);
    }
    /* A final answer with no envelopes (the peer had none of the ids). */
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_entries(&b, 10, true, NULL, NULL, 0), 0);
    assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
    assert_true(m.final);
    assert_int_equal(m.list.count, 0);
    /* A live push. */
    size_t one = TW_ENVELOPE_MAX;
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_entries(&b, 0, true, envs, &one, 1), 0);
    assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
    assert_true(m.wseq == 0 && m.final && m.list.count == 1);

    tw_buf_reset(&b);
    assert_int_equal(tw_wire_ping(&b, UINT64_MAX), 0);
    assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
    assert_int_equal(m.type, TW_WIRE_PING);
    assert_true(m.nonce == UINT64_MAX);
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_pong(&b, 42), 0);
    assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
    assert_int_equal(m.type, TW_WIRE_PONG);
    assert_true(m.nonce == 42);

    const int64_t codes[] = { TW_EPROTO, 0, 5, INT64_MIN, INT64_MAX, -33 };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        tw_buf_reset(&b);
        assert_int_equal(tw_wire_error(&b, codes[i], "bad message", 11), 0);
        assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
        assert_int_equal(m.type, TW_WIRE_ERROR);
        assert_true(m.code == codes[i]);
        assert_int_equal(m.data_len, 11);
        assert_memory_equal(m.data, "bad message", 11);
    }
    free(big);
    tw_buf_free(&b);
}

/* Non-shortest integer and length forms are still the right types. */
static void test_long_forms(void **state)
{
    /* [0xcd 00 01 = NEG_REQ, sid as uint64, msg as bin16] */
    const uint8_t neg[] = { 0x93, 0xcd, 0x00, 0x01, 0xcf, 0, 0, 0, 0, 0, 0, 0, 7,
                            0xc5, 0x00, 0x01, 0x61 };
    tw_wire_msg m;
    assert_int_equal(tw_wire_decode(neg, sizeof neg, &m, NULL), 0);
    assert_int_equal(m.type, TW_WIRE_NEG_REQ);
    assert_true(m.sid == 7);
    /* Array16 header, int8 code, str8 text. */
    const uint8_t err[] = { 0xdc, 0x00, 0x03, 0x08, 0xd0, 0xee, 0xd9, 0x02, 'n', 'o' };
    assert_int_equal(tw_wire_decode(err, sizeof err, &m, NULL), 0);
    assert_true(m.code == -18);
    /* A uint written as a signed form with a non-negative value. */
    const uint8_t ping[] = { 0x92, 0xd3, 0, 0, 0, 0, 0, 0, 0, 6, 0xd1, 0x01, 0x00 };
    assert_int_equal(tw_wire_decode(ping, sizeof ping, &m, NULL), 0);
    assert_int_equal(m.type, TW_WIRE_PING);
    assert_true(m.nonce == 256);
}

/* ---- wrong types, field by field ---- */

typedef int (*put_fn)(tw_buf *b);
static int put_nil(tw_buf *b) { return tw_mpw_nil(b); }
static int put_str(tw_buf *b) { return tw_mpw_str(b, "x", 1); }
static int put_bin32(tw_buf *b) { return tw_mpw_bin(b, ids, TW_WIRE_ID_LEN); }
static int put_neg(tw_buf *b) { return tw_mpw_int(b, -1); }
static int put_true(tw_buf *b) { return tw_mpw_bool(b, true); }
static int put_map(tw_buf *b) { return tw_mpw_map(b, 0); }
static int put_one(tw_buf *b) { return tw_mpw_uint(b, 1); }
static int put_float(tw_buf *b) { uint8_t f[] = { 0xca, 0, 0, 0, 0 }; return tw_buf_put(b, f, 5); }
static int put_ids(tw_buf *b)
{
    int rc = tw_mpw_arr(b, 1);
    return rc ? rc : tw_mpw_bin(b, ids, TW_WIRE_ID_LEN);
}
static int put_envs(tw_buf *b)
{
    int rc = tw_mpw_arr(b, 1);
    return rc ? rc : tw_mpw_bin(b, "e", 1);
}
static int put_ids_str(tw_buf *b)
{
    int rc = tw_mpw_arr(b, 1);
    return rc ? rc : tw_mpw_str(b, (const char *)"0123456789abcdef0123456789abcdef", 32);
}

/* Builds [type, f1, f2, ...] from field writers. */
static void build(tw_buf *b, uint64_t type, const put_fn *f, size_t n)
{
    tw_buf_reset(b);
    assert_int_equal(tw_mpw_arr(b, (uint32_t)(n + 1)), 0);
    assert_int_equal(tw_mpw_uint(b, type), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(f[i](b), 0);
}

/* What each writer puts, and what each field takes. */
enum { C_NIL, C_STR, C_BIN32, C_NEG, C_BOOL, C_MAP, C_UINT, C_FLOAT, C_BINS, C_STRS };

static void test_wrong_types(void **state)
{
    struct layout { uint64_t type; put_fn good[3]; unsigned takes[3]; size_t n; } layouts[] = {
        { TW_WIRE_NEG_REQ, { put_one, put_bin32 }, { 1u << C_UINT, 1u << C_BIN32 }, 2 },
        { TW_WIRE_NEG_RESP, { put_one, put_bin32 }, { 1u << C_UINT, 1u << C_BIN32 }, 2 },
        { TW_WIRE_OFFER, { put_ids }, { 1u << C_BINS }, 1 },
        { TW_WIRE_WANT, { put_one, put_ids }, { 1u << C_UINT, 1u << C_BINS }, 2 },
        { TW_WIRE_ENTRIES, { put_one, put_true, put_envs },
          { 1u << C_UINT, 1u << C_BOOL, 1u << C_BINS }, 3 },
        { TW_WIRE_PING, { put_one }, { 1u << C_UINT }, 1 },
        { TW_WIRE_PONG, { put_one }, { 1u << C_UINT }, 1 },
        { TW_WIRE_ERROR, { put_neg, put_str }, { 1u << C_NEG | 1u << C_UINT, 1u << C_STR }, 2 },
        { TW_WIRE_NEG_PART, { put_one, put_one, put_bin32 },
          { 1u << C_UINT, 1u << C_UINT, 1u << C_BIN32 }, 3 },
        { TW_WIRE_REFER, { put_envs }, { 1u << C_BINS }, 1 },
        { TW_WIRE_ROOM, { put_true }, { 1u << C_BOOL }, 1 },
    };
    const put_fn wrong[] = { put_nil, put_str, put_bin32, put_neg, put_true, put_map,
                             put_one, put_float, put_ids, put_ids_str };
    const unsigned cat[] = { C_NIL, C_STR, C_BIN32, C_NEG, C_BOOL, C_MAP, C_UINT, C_FLOAT,
                             C_BINS, C_STRS };
    tw_buf b;
    tw_buf_init(&b);
    for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; l++) {
        build(&b, layouts[l].type, layouts[l].good, layouts[l].n);
        expect(&b, 0);
        for (size_t f = 0; f < layouts[l].n; f++) {
            for (size_t w = 0; w < sizeof wrong / sizeof wrong[0]; w++) {
                put_fn fields[3];
                memcpy(fields, layouts[l].good, sizeof fields);
                fields[f] = wrong[w];
                build(&b, layouts[l].type, fields, layouts[l].n);
                tw_wire_msg m;
                int rc = tw_wire_decode(b.p, b.len, &m, NULL);
                if (layouts[l].takes[f] & (1u << cat[w])) {
                    assert_int_equal(rc, 0);
                } else if (rc != TW_ETYPE) {
                    fail_msg("type %u field %zu writer %zu: %d", (unsigned)layouts[l].type, f, w,
                             rc);
                }
            }
        }
    }
    /* The type itself. */
    const put_fn none[1] = { put_one };
    build(&b, 0, none, 1);
    expect(&b, TW_EPROTO);
    build(&b, 9, none, 1);
    expect(&b, TW_EPROTO);
    build(&b, 16, none, 1);
    expect(&b, TW_EPROTO);
    build(&b, UINT64_MAX, none, 1);
    expect(&b, TW_EPROTO);
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 2);
    tw_mpw_int(&b, -6);
    tw_mpw_uint(&b, 1);
    expect(&b, TW_ETYPE);
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 2);
    tw_mpw_str(&b, "6", 1);
    tw_mpw_uint(&b, 1);
    expect(&b, TW_ETYPE);
    /* Not an array at all; an empty array. */
    tw_buf_reset(&b);
    tw_mpw_map(&b, 0);
    expect(&b, TW_ETYPE);
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 0);
    expect(&b, TW_EPROTO);
    tw_buf_reset(&b);
    expect(&b, TW_ETRUNC);
    tw_buf_free(&b);
}

/* ---- values out of range ---- */

static void test_values(void **state)
{
    tw_buf b;
    tw_buf_init(&b);
    /* WANT wseq 0. */
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 3); tw_mpw_uint(&b, 4); tw_mpw_uint(&b, 0); put_ids(&b);
    expect(&b, TW_EPROTO);
    assert_int_equal(tw_wire_want(&b, 0, ids, 1), TW_EINVAL);
    /* Empty id lists. */
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 2); tw_mpw_uint(&b, 3); tw_mpw_arr(&b, 0);
    expect(&b, TW_EPROTO);
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 3); tw_mpw_uint(&b, 4); tw_mpw_uint(&b, 1); tw_mpw_arr(&b, 0);
    expect(&b, TW_EPROTO);
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_offer(&b, ids, 0), TW_EINVAL);
    assert_int_equal(tw_wire_want(&b, 1, ids, 0), TW_EINVAL);
    assert_int_equal(b.len, 0);
    /* Ids of 31 and 33 bytes, and an empty one. */
    const size_t bad[] = { 0, 1, 31, 33, 64 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tw_buf_reset(&b);
        tw_mpw_arr(&b, 2); tw_mpw_uint(&b, 3); tw_mpw_arr(&b, 2);
        tw_mpw_bin(&b, ids, TW_WIRE_ID_LEN);
        tw_mpw_bin(&b, ids, bad[i]);
        expect(&b, TW_EPROTO);
    }
    /* Empty NEG message and empty envelope. */
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 3); tw_mpw_uint(&b, 1); tw_mpw_uint(&b, 1); tw_mpw_bin(&b, "", 0);
    expect(&b, TW_EPROTO);
    assert_int_equal(tw_wire_neg(&b, TW_WIRE_NEG_REQ, 1, (const uint8_t *)"", 0), TW_EINVAL);
    assert_int_equal(tw_wire_neg(&b, TW_WIRE_PING, 1, (const uint8_t *)"a", 1), TW_EINVAL);
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 4); tw_mpw_uint(&b, 5); tw_mpw_uint(&b, 1); tw_mpw_bool(&b, true);
    tw_mpw_arr(&b, 1); tw_mpw_bin(&b, "", 0);
    expect(&b, TW_EPROTO);
    /* Pushes must be final and carry entries. */
    const uint8_t *e = (const uint8_t *)"env";
    size_t el = 3, zero = 0;
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 4); tw_mpw_uint(&b, 5); tw_mpw_uint(&b, 0); tw_mpw_bool(&b, false);
    tw_mpw_arr(&b, 1); tw_mpw_bin(&b, e, el);
    expect(&b, TW_EPROTO);
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 4); tw_mpw_uint(&b, 5); tw_mpw_uint(&b, 0); tw_mpw_bool(&b, true);
    tw_mpw_arr(&b, 0);
    expect(&b, TW_EPROTO);
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_entries(&b, 0, false, &e, &el, 1), TW_EINVAL);
    assert_int_equal(tw_wire_entries(&b, 0, true, &e, &el, 0), TW_EINVAL);
    assert_int_equal(tw_wire_entries(&b, 1, true, &e, &zero, 1), TW_EINVAL);
    assert_int_equal(b.len, 0);
    /* An int field given a uint over INT64_MAX. */
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 3); tw_mpw_uint(&b, 8); tw_mpw_uint(&b, (uint64_t)INT64_MAX + 1);
    tw_mpw_str(&b, "x", 1);
    expect(&b, TW_EPROTO);
    /* Error text not UTF-8. */
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 3); tw_mpw_uint(&b, 8); tw_mpw_int(&b, -1);
    tw_buf_put(&b, "\xa2\xc3\x28", 3);
    expect(&b, TW_EUTF8);
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_error(&b, -1, "\xc3\x28", 2), TW_EUTF8);
    tw_buf_free(&b);
}

/* ---- counts, truncation, trailing bytes ---- */

static void test_too_many_ids(void **state)
{
    tw_buf b;
    tw_buf_init(&b);
    assert_int_equal(tw_wire_offer(&b, ids, TW_IDS_PER_MSG + 1), TW_ETOOBIG);
    assert_int_equal(tw_wire_want(&b, 1, ids, TW_IDS_PER_MSG + 1), TW_ETOOBIG);
    assert_int_equal(b.len, 0);
    for (int t = TW_WIRE_OFFER; t <= TW_WIRE_WANT; t++) {
        tw_buf_reset(&b);
        tw_mpw_arr(&b, t == TW_WIRE_OFFER ? 2 : 3);
        tw_mpw_uint(&b, (uint64_t)t);
        if (t == TW_WIRE_WANT)
            tw_mpw_uint(&b, 1);
        tw_mpw_arr(&b, TW_IDS_PER_MSG + 1);
        for (size_t i = 0; i < TW_IDS_PER_MSG + 1; i++)
            tw_mpw_bin(&b, ids + i * TW_WIRE_ID_LEN, TW_WIRE_ID_LEN);
        expect(&b, TW_ETOOBIG);
    }
    /* A count that claims four billion ids in a few bytes. */
    const uint8_t huge[] = { 0x92, 0x03, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc4, 0x20 };
    tw_wire_msg m;
    assert_int_equal(tw_wire_decode(huge, sizeof huge, &m, NULL), TW_ETOOBIG);
    const uint8_t huge_envs[] = { 0x94, 0x05, 0x01, 0xc3, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc4, 0x01, 0x00 };
    assert_int_equal(tw_wire_decode(huge_envs, sizeof huge_envs, &m, NULL), TW_ETRUNC);
    tw_buf_free(&b);
}

/* Every strict prefix of every message fails cleanly; a byte more fails
 * too, and so does one element more or less. */
static void test_truncated_and_extra(void **state)
{
    tw_buf msgs[8], b;
    const uint8_t neg[] = { 0x61, 0x00 };
    const uint8_t *envs[2] = { ids, ids + 40 };
    size_t lens[2] = { 300, 7 };
    for (int i = 0; i < 8; i++)
        tw_buf_init(&msgs[i]);
    tw_buf_init(&b);
    assert_int_equal(tw_wire_neg(&msgs[0], TW_WIRE_NEG_REQ, 300, neg, 2), 0);
    assert_int_equal(tw_wire_neg(&msgs[1], TW_WIRE_NEG_RESP, 3, neg, 2), 0);
    assert_int_equal(tw_wire_offer(&msgs[2], ids, 3), 0);
    assert_int_equal(tw_wire_want(&msgs[3], 70000, ids, 2), 0);
    assert_int_equal(tw_wire_entries(&msgs[4], 5, true, envs, lens, 2), 0);
    assert_int_equal(tw_wire_ping(&msgs[5], 1u << 20), 0);
    assert_int_equal(tw_wire_pong(&msgs[6], 0), 0);
    assert_int_equal(tw_wire_error(&msgs[7], TW_ETIMEOUT, "idle", 4), 0);

    for (int i = 0; i < 8; i++) {
        tw_wire_msg m;
        assert_int_equal(tw_wire_decode(msgs[i].p, msgs[i].len, &m, NULL), 0);
        for (size_t k = 0; k < msgs[i].len; k++) {
            int rc = tw_wire_decode(msgs[i].p, k, &m, NULL);
            assert_int_not_equal(rc, 0);
        }
        /* Trailing byte. */
        tw_buf_reset(&b);
        tw_buf_put(&b, msgs[i].p, msgs[i].len);
        tw_buf_put(&b, "\x00", 1);
        expect(&b, TW_EPROTO);
        /* One element more: bump the fixarray count and append a nil. */
        b.p[0]++;
        b.p[b.len - 1] = 0xc0;
        expect(&b, TW_EPROTO);
        /* One element fewer. */
        tw_buf_reset(&b);
        tw_buf_put(&b, msgs[i].p, msgs[i].len);
        b.p[0]--;
        assert_int_not_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
        tw_buf_free(&msgs[i]);
    }
    tw_buf_free(&b);
}

/* ---- limits at their edges ---- */

static void test_limits(void **state)
{
    tw_buf b;
    tw_wire_msg m;
    tw_buf_init(&b);
    uint8_t *big = calloc(1, TW_SESS_MSG_MAX + 16);
    assert_non_null(big);

    /* NEG: [1, 1, bin16] is 6 bytes of framing, so 65513 fills the message. */
    size_t fill = TW_SESS_MSG_MAX - 6;
    assert_int_equal(tw_wire_neg(&b, TW_WIRE_NEG_REQ, 1, big, fill), 0);
    assert_int_equal(b.len, TW_SESS_MSG_MAX);
    assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
    assert_int_equal(m.data_len, fill);
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_neg(&b, TW_WIRE_NEG_REQ, 1, big, fill + 1), TW_ETOOBIG);
    assert_int_equal(b.len, 0);
    /* The same by hand, one byte over: refused before parsing. */
    tw_mpw_arr(&b, 3); tw_mpw_uint(&b, 1); tw_mpw_uint(&b, 1); tw_mpw_bin(&b, big, fill + 1);
    assert_int_equal(b.len, TW_SESS_MSG_MAX + 1);
    expect(&b, TW_ETOOBIG);
    /* The largest frame limit the sync engine accepts, with the largest sid. */
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_neg(&b, TW_WIRE_NEG_RESP, UINT64_MAX, big,
                                 TW_SESS_MSG_MAX - TW_WIRE_NEG_HEAD_MAX), 0);
    assert_true(b.len <= TW_SESS_MSG_MAX);

    /* ENTRIES packed by the documented rule fit exactly. */
    const uint8_t *envs[8];
    size_t lens[8], total = TW_WIRE_ENTRIES_HEAD_MAX, n = 0;
    while (n < 8) {
        size_t len = TW_ENVELOPE_MAX;
        if (total + TW_WIRE_BIN_SIZE(len) > TW_SESS_MSG_MAX)
            len = TW_SESS_MSG_MAX - total - 3;
        envs[n] = big;
        lens[n] = len;
        total += TW_WIRE_BIN_SIZE(len);
        n++;
        if (total == TW_SESS_MSG_MAX)
            break;
    }
    assert_int_equal(total, TW_SESS_MSG_MAX);
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_entries(&b, UINT64_MAX, false, envs, lens, n), 0);
    assert_true(b.len <= TW_SESS_MSG_MAX);
    assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
    assert_int_equal(m.list.count, n);
    /* With a small wseq and a fixarray the real header is 12 bytes shorter
     * than TW_WIRE_ENTRIES_HEAD_MAX: one byte more still fits, 16 do not. */
    tw_buf_reset(&b);
    lens[n - 1]++;
    assert_int_equal(tw_wire_entries(&b, 1, false, envs, lens, n), 0);
    tw_buf_reset(&b);
    lens[n - 1] += 16;
    assert_int_equal(tw_wire_entries(&b, 1, false, envs, lens, n), TW_ETOOBIG);
    assert_int_equal(b.len, 0);

    /* Envelope size at TW_ENVELOPE_MAX and one over. */
    size_t one = TW_ENVELOPE_MAX;
    const uint8_t *e = big;
    assert_int_equal(tw_wire_entries(&b, 3, true, &e, &one, 1), 0);
    expect(&b, 0);
    one++;
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_entries(&b, 3, true, &e, &one, 1), TW_ETOOBIG);
    tw_mpw_arr(&b, 4); tw_mpw_uint(&b, 5); tw_mpw_uint(&b, 3); tw_mpw_bool(&b, true);
    tw_mpw_arr(&b, 1); tw_mpw_bin(&b, big, one);
    expect(&b, TW_ETOOBIG);

    /* 1024 ids fit easily: 1024 * 34 bytes plus a few. */
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_want(&b, UINT64_MAX, ids, TW_IDS_PER_MSG), 0);
    assert_true(b.len < TW_SESS_MSG_MAX);
    expect(&b, 0);

    /* Error text: 256 bytes pass, 257 are refused on reading and cut on
     * writing at a character boundary. */
    char text[TW_WIRE_ERROR_TEXT_MAX + 8];
    memset(text, 'a', sizeof text);
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_error(&b, -1, text, TW_WIRE_ERROR_TEXT_MAX), 0);
    assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
    assert_int_equal(m.data_len, TW_WIRE_ERROR_TEXT_MAX);
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 3); tw_mpw_uint(&b, 8); tw_mpw_int(&b, -1);
    tw_mpw_str(&b, text, TW_WIRE_ERROR_TEXT_MAX + 1);
    expect(&b, TW_ETOOBIG);
    /* "é" (2 bytes) straddling byte 256 is dropped whole. */
    text[TW_WIRE_ERROR_TEXT_MAX - 1] = (char)0xc3;
    text[TW_WIRE_ERROR_TEXT_MAX] = (char)0xa9;
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_error(&b, -1, text, TW_WIRE_ERROR_TEXT_MAX + 4), 0);
    assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
    assert_int_equal(m.data_len, TW_WIRE_ERROR_TEXT_MAX - 1);
    free(big);
    tw_buf_free(&b);
}

/* The COMPRESSED head written in front of a frame: byte for byte what the
 * msgpack writer makes of [9, frame], at each edge of bin8, bin16 and
 * bin32, never longer than TW_WIRE_COMPRESSED_HEAD_MAX. */
static void test_compressed_head(void **state)
{
    (void)state;
    const size_t sizes[] = { 0, 1, 255, 256, 65535, 65536, 70000 };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t zn = sizes[k];
        uint8_t *buf = malloc(TW_WIRE_COMPRESSED_HEAD_MAX + zn + 1);
        assert_non_null(buf);
        uint8_t *frame = buf + TW_WIRE_COMPRESSED_HEAD_MAX;
        for (size_t i = 0; i < zn; i++)
            frame[i] = (uint8_t)(i * 7u);
        size_t hl = tw_wire_compressed_head(frame, zn);
        assert_true(hl >= 4 && hl <= TW_WIRE_COMPRESSED_HEAD_MAX);
        tw_buf want;
        tw_buf_init(&want);
        assert_int_equal(tw_mpw_arr(&want, 2), 0);
        assert_int_equal(tw_mpw_uint(&want, TW_WIRE_COMPRESSED), 0);
        assert_int_equal(tw_mpw_bin(&want, frame, zn), 0);
        assert_int_equal(want.len, hl + zn);
        assert_memory_equal(want.p, frame - hl, hl + zn);
        tw_buf_free(&want);
        free(buf);
    }
}

static void test_names(void **state)
{
    assert_string_equal(tw_wire_type_name(TW_WIRE_OFFER), "OFFER");
    assert_string_equal(tw_wire_type_name(TW_WIRE_ERROR), "ERROR");
    assert_string_equal(tw_wire_type_name(0), "unknown");
    assert_string_equal(tw_wire_type_name(TW_WIRE_COMPRESSED), "COMPRESSED");
    assert_string_equal(tw_wire_type_name(TW_WIRE_NEG_PART), "NEG_PART");
        assert_string_equal(tw_wire_type_name(TW_WIRE_IHAVE), "IHAVE");
    assert_string_equal(tw_wire_type_name(TW_WIRE_PRUNE), "PRUNE");
    assert_string_equal(tw_wire_type_name(TW_WIRE_GRAFT), "GRAFT");
    assert_string_equal(tw_wire_type_name(TW_WIRE_REFER), "REFER");
    assert_string_equal(tw_wire_type_name(TW_WIRE_ROOM), "ROOM");
    assert_string_equal(tw_wire_type_name(16), "unknown");
}

/* The push tree's messages: IHAVE carries ids as OFFER does, PRUNE and
 * GRAFT nothing; anything else in them is refused. */
static void test_tree_messages(void **state)
{
    tw_buf b;
    tw_wire_msg m;
    tw_buf_init(&b);
    assert_int_equal(tw_wire_ihave(&b, ids, 3), 0);
    assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
    assert_int_equal(m.type, TW_WIRE_IHAVE);
    check_ids(m.list, 3);
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_ihave(&b, ids, TW_IDS_PER_MSG), 0);
    assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
    check_ids(m.list, TW_IDS_PER_MSG);
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_ihave(&b, ids, TW_IDS_PER_MSG + 1), TW_ETOOBIG);
    assert_int_equal(tw_wire_ihave(&b, ids, 0), TW_EINVAL);
    assert_int_equal(b.len, 0);
    /* An IHAVE of 1025 ids, written by hand, and an empty one. */
    tw_mpw_arr(&b, 2);
    tw_mpw_uint(&b, TW_WIRE_IHAVE);
    tw_mpw_arr(&b, TW_IDS_PER_MSG + 1);
    for (size_t i = 0; i <= TW_IDS_PER_MSG; i++) tw_mpw_bin(&b, ids + (i % MANY_IDS) * TW_WIRE_ID_LEN, TW_WIRE_ID_LEN);
    expect(&b, TW_ETOOBIG);
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 2);
    tw_mpw_uint(&b, TW_WIRE_IHAVE);
    tw_mpw_arr(&b, 0);
    expect(&b, TW_EPROTO);
    for (int g = 0; g < 2; g++) {
        tw_buf_reset(&b);
        assert_int_equal(tw_wire_tree(&b, g), 0);
        assert_int_equal(b.len, 2);
        assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
        assert_int_equal(m.type, g ? TW_WIRE_GRAFT : TW_WIRE_PRUNE);
        /* With an element more, or bytes after it. */
        tw_buf_reset(&b);
        tw_mpw_arr(&b, 2);
        tw_mpw_uint(&b, g ? TW_WIRE_GRAFT : TW_WIRE_PRUNE);
        tw_mpw_uint(&b, 1);
        expect(&b, TW_EPROTO);
        tw_buf_reset(&b);
        tw_wire_tree(&b, g);
        tw_mpw_uint(&b, 0);
        expect(&b, TW_EPROTO);
    }
    /* 16 is no type yet. */
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 1);
    tw_mpw_uint(&b, 16);
    expect(&b, TW_EPROTO);
    tw_buf_free(&b);
}

/* REFER: 1 to TW_REFER_MAX envelopes, each 1..TW_ENVELOPE_MAX bytes; one
 * more, none, an empty or oversized one, or a list that is not one, is
 * refused, by the encoder as by the decoder. */
static void test_refer(void **state)
{
    tw_buf b;
    tw_wire_msg m;
    static uint8_t env[TW_ENVELOPE_MAX + 1];
    const uint8_t *envs[TW_REFER_MAX + 1];
    size_t lens[TW_REFER_MAX + 1];
    for (size_t i = 0; i <= TW_REFER_MAX; i++) { envs[i] = env; lens[i] = 100 + i; }
    memset(env, 0xa5, sizeof env);
    tw_buf_init(&b);
    assert_int_equal(tw_wire_refer(&b, envs, lens, TW_REFER_MAX), 0);
    assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
    assert_int_equal(m.type, TW_WIRE_REFER);
    assert_int_equal(m.list.count, TW_REFER_MAX);
    const uint8_t *p;
    size_t len, k = 0;
    while (tw_wire_list_next(&m.list, &p, &len)) {
        assert_int_equal(len, 100 + k);
        k++;
    }
    assert_int_equal(k, TW_REFER_MAX);
    tw_buf_reset(&b);
    assert_int_equal(tw_wire_refer(&b, envs, lens, TW_REFER_MAX + 1), TW_ETOOBIG);
    assert_int_equal(tw_wire_refer(&b, envs, lens, 0), TW_EINVAL);
    lens[0] = 0;
    assert_int_equal(tw_wire_refer(&b, envs, lens, 1), TW_EINVAL);
    lens[0] = TW_ENVELOPE_MAX + 1;
    assert_int_equal(tw_wire_refer(&b, envs, lens, 1), TW_ETOOBIG);
    assert_int_equal(b.len, 0);
    /* By hand: one record too many, none, an empty one, an id list. */
    tw_mpw_arr(&b, 2);
    tw_mpw_uint(&b, TW_WIRE_REFER);
    tw_mpw_arr(&b, TW_REFER_MAX + 1);
    for (size_t i = 0; i <= TW_REFER_MAX; i++) tw_mpw_bin(&b, env, 50);
    expect(&b, TW_ETOOBIG);
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 2);
    tw_mpw_uint(&b, TW_WIRE_REFER);
    tw_mpw_arr(&b, 0);
    expect(&b, TW_EPROTO);
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 2);
    tw_mpw_uint(&b, TW_WIRE_REFER);
    tw_mpw_arr(&b, 1);
    tw_mpw_bin(&b, env, 0);
    expect(&b, TW_EPROTO);
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 2);
    tw_mpw_uint(&b, TW_WIRE_REFER);
    tw_mpw_uint(&b, 3);
    expect(&b, TW_ETYPE);
    tw_buf_reset(&b);
    tw_mpw_arr(&b, 3);
    tw_mpw_uint(&b, TW_WIRE_REFER);
    tw_mpw_arr(&b, 1);
    tw_mpw_bin(&b, env, 50);
    tw_mpw_uint(&b, 0);
    expect(&b, TW_EPROTO);
    /* ROOM: a bool, both ways. */
    for (int r = 0; r < 2; r++) {
        tw_buf_reset(&b);
        assert_int_equal(tw_wire_room(&b, r), 0);
        assert_int_equal(tw_wire_decode(b.p, b.len, &m, NULL), 0);
        assert_int_equal(m.type, TW_WIRE_ROOM);
        assert_int_equal(m.final, r);
    }
    tw_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_tree_messages),
        cmocka_unit_test(test_refer),
        cmocka_unit_test(test_long_forms),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_too_many_ids),
        cmocka_unit_test(test_truncated_and_extra),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_compressed_head),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
