/*
 * Tests of the bounded msgpack reader and the canonical writer
 * (include/twin/mp.h).  The canonical reader is what makes a signed payload
 * have one encoding only, so every rule it enforces has its own mutant here:
 * a minimal input that breaks that one rule and nothing else.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "twin/mp.h"

#define CANON TW_MP_CANONICAL

/* Parses a hex string (spaces ignored) into a malloc'd buffer of exact size,
 * so that sanitizers see any read past the end. */
static uint8_t *unhex(const char *hex, size_t *len)
{
    size_t n = 0;
    uint8_t *out = malloc(strlen(hex) / 2 + 1);
    assert_non_null(out);
    for (const char *p = hex; *p;) {
        if (*p == ' ') { p++; continue; }
        unsigned x;
        assert_true(sscanf(p, "%2x", &x) == 1);
        out[n++] = (uint8_t)x;
        p += 2;
    }
    *len = n;
    return out;
}

/* Decodes hex with the given flags and returns the code. */
static int dec_hex(const char *hex, unsigned flags)
{
    size_t n;
    uint8_t *b = unhex(hex, &n);
    tw_arena a;
    tw_arena_init(&a, 1u << 20);
    tw_val v;
    const char *why = NULL;
    int rc = tw_mp_decode(b, n, &a, flags, &v, NULL, &why);
    if (rc) assert_non_null(why);
    tw_arena_free(&a);
    free(b);
    return rc;
}

/* A buffer of a header (hex) followed by n copies of fill. */
static uint8_t *hdr_fill(const char *hex, size_t n, uint8_t fill, size_t *len)
{
    size_t h;
    uint8_t *hd = unhex(hex, &h);
    uint8_t *b = malloc(h + n + 1);
    assert_non_null(b);
    memcpy(b, hd, h);
    memset(b + h, fill, n);
    free(hd);
    *len = h + n;
    return b;
}

static int dec_buf(const uint8_t *b, size_t n, unsigned flags, size_t cap)
{
    tw_arena a;
    tw_arena_init(&a, cap);
    tw_val v;
    int rc = tw_mp_decode(b, n, &a, flags, &v, NULL, NULL);
    tw_arena_free(&a);
    return rc;
}

static void assert_bytes(const tw_buf *b, const char *hex)
{
    size_t n;
    uint8_t *want = unhex(hex, &n);
    assert_int_equal(b->len, n);
    assert_memory_equal(b->p, want, n);
    free(want);
}

/* Encodes v, decodes it canonically, checks equality and that re-encoding
 * the decoded tree gives the same bytes. */
static void roundtrip(const tw_val *v)
{
    tw_buf b, b2;
    tw_buf_init(&b);
    tw_buf_init(&b2);
    assert_int_equal(tw_mp_encode(&b, v), 0);
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val d;
    const char *why = NULL;
    int rc = tw_mp_decode(b.p, b.len, &a, CANON, &d, NULL, &why);
    if (rc) fail_msg("canonical reader refused writer output: %s", why);
    assert_true(tw_v_equal(v, &d));
    assert_true(tw_v_equal(&d, v));
    assert_int_equal(tw_mp_encode(&b2, &d), 0);
    assert_int_equal(b.len, b2.len);
    assert_memory_equal(b.p, b2.p, b.len);
    tw_arena_free(&a);
    tw_buf_free(&b);
    tw_buf_free(&b2);
}

/* ------------------------------------------------------------ round trips */

static void test_roundtrip_scalars(void **state)
{
    static const uint64_t us[] = { 0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000,
                                   0xffffffffu, 0x100000000ull, UINT64_MAX };
    static const int64_t is[] = { -1, -32, -33, -128, -129, -32768, -32769,
                                  INT32_MIN, (int64_t)INT32_MIN - 1, INT64_MIN };
    tw_val v = tw_v_nil();
    roundtrip(&v);
    v = tw_v_bool(true); roundtrip(&v);
    v = tw_v_bool(false); roundtrip(&v);
    for (size_t i = 0; i < sizeof us / sizeof us[0]; i++) { v = tw_v_uint(us[i]); roundtrip(&v); }
    for (size_t i = 0; i < sizeof is / sizeof is[0]; i++) {
        v = tw_v_int(is[i]);
        assert_int_equal(v.type, TW_INT);
        roundtrip(&v);
    }
    /* tw_v_int of a non-negative number is a UINT. */
    v = tw_v_int(7);
    assert_int_equal(v.type, TW_UINT);
    roundtrip(&v);
    v = tw_v_cstr(""); roundtrip(&v);
    v = tw_v_cstr("Bethlehem \xd8\xa8\xd9\x8a\xd8\xaa \xd9\x84\xd8\xad\xd9\x85"); roundtrip(&v);
    v = tw_v_cstr("\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xed\x9f\xbf \xee\x80\x80"); roundtrip(&v);
    v = tw_v_bin(NULL, 0); roundtrip(&v);
    static uint8_t big[70000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
    static const size_t lens[] = { 1, 31, 32, 255, 256, 65535, 65536, 70000 };
    char *s = malloc(sizeof big);
    assert_non_null(s);
    memset(s, 'x', sizeof big);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        v = tw_v_bin(big, lens[i]); roundtrip(&v);
        v = tw_v_str(s, lens[i]); roundtrip(&v);
    }
    free(s);
}

static void test_roundtrip_containers(void **state)
{
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val m, arr, inner;
    assert_int_equal(tw_v_map(&a, &m, 5), 0);
    assert_int_equal(tw_v_arr(&a, &arr, 4), 0);
    assert_int_equal(tw_v_map(&a, &inner, 0), 0);
    arr.v.arr[0] = tw_v_uint(1);
    arr.v.arr[1] = tw_v_int(-200);
    arr.v.arr[2] = tw_v_cstr("refugee camp");
    arr.v.arr[3] = inner;
    m.v.map[0].k = tw_v_cstr("names"); m.v.map[0].v = arr;
    m.v.map[1].k = tw_v_cstr("a");     m.v.map[1].v = tw_v_bool(true);
    m.v.map[2].k = tw_v_uint(3);       m.v.map[2].v = tw_v_nil();
    m.v.map[3].k = tw_v_int(-3);       m.v.map[3].v = tw_v_bin("\0\1\2", 3);
    m.v.map[4].k = tw_v_bin("k", 1);   m.v.map[4].v = tw_v_cstr("bin key");
    roundtrip(&m);
    tw_val e;
    assert_int_equal(tw_v_arr(&a, &e, 0), 0);
    roundtrip(&e);
    /* Counts at the fix/16/32 boundaries. */
    static const uint32_t counts[] = { 15, 16, 1000, 65535, 65536 };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        tw_val x, y;
        assert_int_equal(tw_v_arr(&a, &x, counts[i]), 0);
        roundtrip(&x);
        assert_int_equal(tw_v_map(&a, &y, counts[i]), 0);
        for (uint32_t k = 0; k < counts[i]; k++) y.v.map[k].k = tw_v_uint(counts[i] - k);
        if (counts[i] <= 1000) { roundtrip(&y); continue; }
        /* tw_v_equal on maps is quadratic: check the big ones by bytes. */
        tw_buf b;
        tw_buf_init(&b);
        assert_int_equal(tw_mp_encode(&b, &y), 0);
        assert_int_equal(b.p[0], counts[i] < 65536 ? 0xde : 0xdf);
        assert_int_equal(dec_buf(b.p, b.len, CANON, 0), 0);
        tw_buf_free(&b);
    }
    tw_arena_free(&a);
}

/* A small deterministic generator of random trees: the writer's output must
 * always pass the canonical reader and decode to an equal tree. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const char *const words[] = { "", "a", "b", "aa", "ab", "ts", "kind",
    "\xd8\xba\xd8\xb2\xd8\xa9", "a longer string of more than thirty-one bytes" };

static void gen(tw_arena *a, tw_val *v, unsigned depth)
{
    unsigned t = (unsigned)(rnd() % (depth + 1 >= TW_DEPTH_MAX ? 6 : 8));
    switch (t) {
    case 0: *v = tw_v_nil(); break;
    case 1: *v = tw_v_bool(rnd() & 1); break;
    case 2: *v = tw_v_uint(rnd() >> (rnd() % 64)); break;
    case 3: *v = tw_v_int(-(int64_t)(rnd() >> (1 + rnd() % 63)) - 1); break;
    case 4: *v = tw_v_cstr(words[rnd() % (sizeof words / sizeof words[0])]); break;
    case 5: *v = tw_v_bin(words[rnd() % (sizeof words / sizeof words[0])], rnd() % 2); break;
    case 6: {
        uint32_t n = (uint32_t)(rnd() % 5);
        assert_int_equal(tw_v_arr(a, v, n), 0);
        for (uint32_t i = 0; i < n; i++) gen(a, &v->v.arr[i], depth + 1);
        break;
    }
    default: {
        /* Distinct keys: small unsigned numbers, shuffled by construction. */
        uint32_t n = (uint32_t)(rnd() % 5);
        assert_int_equal(tw_v_map(a, v, n), 0);
        uint64_t base = rnd() % 300;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t k = base + (uint64_t)(n - i) * 97;
            v->v.map[i].k = (i & 1) ? tw_v_uint(k) : tw_v_int(-(int64_t)k - 1);
            gen(a, &v->v.map[i].v, depth + 1);
        }
        break;
    }
    }
}

static void test_roundtrip_random(void **state)
{
    for (int i = 0; i < 2000; i++) {
        tw_arena a;
        tw_arena_init(&a, 0);
        tw_val v;
        gen(&a, &v, 0);
        roundtrip(&v);
        tw_arena_free(&a);
    }
}

/* ------------------------------------------------ canonical reader mutants */

static void test_canon_uint_widths(void **state)
{
    /* Each width, one below its threshold (refused) and at it (accepted). */
    assert_int_equal(dec_hex("cc 00", CANON), TW_ENONCANON);
    assert_int_equal(dec_hex("cc 7f", CANON), TW_ENONCANON);
    assert_int_equal(dec_hex("cc 80", CANON), 0);
    assert_int_equal(dec_hex("cd 00 ff", CANON), TW_ENONCANON);
    assert_int_equal(dec_hex("cd 01 00", CANON), 0);
    assert_int_equal(dec_hex("ce 00 00 ff ff", CANON), TW_ENONCANON);
    assert_int_equal(dec_hex("ce 00 01 00 00", CANON), 0);
    assert_int_equal(dec_hex("cf 00 00 00 00 ff ff ff ff", CANON), TW_ENONCANON);
    assert_int_equal(dec_hex("cf 00 00 00 01 00 00 00 00", CANON), 0);
    /* The non-canonical reader takes them. */
    assert_int_equal(dec_hex("cc 00", 0), 0);
    assert_int_equal(dec_hex("cf 00 00 00 00 00 00 00 05", 0), 0);
}

static void test_canon_negative_widths(void **state)
{
    assert_int_equal(dec_hex("d0 ff", CANON), TW_ENONCANON);          /* -1 */
    assert_int_equal(dec_hex("d0 e0", CANON), TW_ENONCANON);          /* -32 */
    assert_int_equal(dec_hex("d0 df", CANON), 0);                     /* -33 */
    assert_int_equal(dec_hex("d1 ff 80", CANON), TW_ENONCANON);       /* -128 */
    assert_int_equal(dec_hex("d1 ff 7f", CANON), 0);                  /* -129 */
    assert_int_equal(dec_hex("d2 ff ff 80 00", CANON), TW_ENONCANON); /* -32768 */
    assert_int_equal(dec_hex("d2 ff ff 7f ff", CANON), 0);            /* -32769 */
    assert_int_equal(dec_hex("d3 ff ff ff ff 80 00 00 00", CANON), TW_ENONCANON); /* -2^31 */
    assert_int_equal(dec_hex("d3 ff ff ff ff 7f ff ff ff", CANON), 0);            /* -2^31-1 */
    assert_int_equal(dec_hex("d3 80 00 00 00 00 00 00 00", CANON), 0);            /* INT64_MIN */
    assert_int_equal(dec_hex("d1 ff ff", 0), 0);
}

static void test_canon_signed_nonnegative(void **state)
{
    assert_int_equal(dec_hex("d0 05", CANON), TW_ENONCANON);
    assert_int_equal(dec_hex("d0 7f", CANON), TW_ENONCANON);
    assert_int_equal(dec_hex("d1 00 05", CANON), TW_ENONCANON);
    assert_int_equal(dec_hex("d2 00 00 00 00", CANON), TW_ENONCANON);
    assert_int_equal(dec_hex("d3 7f ff ff ff ff ff ff ff", CANON), TW_ENONCANON);
    /* Outside canonical mode it reads as a non-negative (UINT) number. */
    uint8_t b[] = { 0xd1, 0x01, 0x00 };
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val v;
    assert_int_equal(tw_mp_decode(b, sizeof b, &a, 0, &v, NULL, NULL), 0);
    assert_int_equal(v.type, TW_UINT);
    assert_int_equal(v.v.u, 256);
    tw_arena_free(&a);
}

static void test_canon_lengths(void **state)
{
    size_t n;
    uint8_t *b;
    /* str8 for fewer than 32 bytes; fixstr is the shortest form. */
    b = hdr_fill("d9 1f", 31, 'x', &n);
    assert_int_equal(dec_buf(b, n, CANON, 0), TW_ENONCANON);
    assert_int_equal(dec_buf(b, n, 0, 0), 0);
    free(b);
    assert_int_equal(dec_hex("d9 00", CANON), TW_ENONCANON);
    b = hdr_fill("d9 20", 32, 'x', &n);
    assert_int_equal(dec_buf(b, n, CANON, 0), 0);
    free(b);
    /* str16 for fewer than 256. */
    b = hdr_fill("da 00 ff", 255, 'x', &n);
    assert_int_equal(dec_buf(b, n, CANON, 0), TW_ENONCANON);
    free(b);
    b = hdr_fill("da 01 00", 256, 'x', &n);
    assert_int_equal(dec_buf(b, n, CANON, 0), 0);
    free(b);
    /* str32 for fewer than 65536. */
    b = hdr_fill("db 00 00 ff ff", 65535, 'x', &n);
    assert_int_equal(dec_buf(b, n, CANON, 0), TW_ENONCANON);
    free(b);
    b = hdr_fill("db 00 01 00 00", 65536, 'x', &n);
    assert_int_equal(dec_buf(b, n, CANON, 0), 0);
    free(b);
    /* bin8 is the shortest binary form, for any length below 256. */
    assert_int_equal(dec_hex("c4 00", CANON), 0);
    b = hdr_fill("c5 00 ff", 255, 0, &n);
    assert_int_equal(dec_buf(b, n, CANON, 0), TW_ENONCANON);
    assert_int_equal(dec_buf(b, n, 0, 0), 0);
    free(b);
    b = hdr_fill("c5 01 00", 256, 0, &n);
    assert_int_equal(dec_buf(b, n, CANON, 0), 0);
    free(b);
    b = hdr_fill("c6 00 00 ff ff", 65535, 0, &n);
    assert_int_equal(dec_buf(b, n, CANON, 0), TW_ENONCANON);
    free(b);
    b = hdr_fill("c6 00 01 00 00", 65536, 0, &n);
    assert_int_equal(dec_buf(b, n, CANON, 0), 0);
    free(b);
    /* array16 for fewer than 16 elements, array32 for fewer than 65536. */
    b = hdr_fill("dc 00 0f", 15, 0xc0, &n);
    assert_int_equal(dec_buf(b, n, CANON, 0), TW_ENONCANON);
    assert_int_equal(dec_buf(b, n, 0, 0), 0);
    free(b);
    b = hdr_fill("dc 00 10", 16, 0xc0, &n);
    assert_int_equal(dec_buf(b, n, CANON, 0), 0);
    free(b);
    assert_int_equal(dec_hex("dc 00 00", CANON), TW_ENONCANON);
    assert_int_equal(dec_hex("dd 00 00 00 01 c0", CANON), TW_ENONCANON);
    /* map16 for fewer than 16 pairs, map32 for fewer than 65536. */
    assert_int_equal(dec_hex("de 00 01 a1 61 c0", CANON), TW_ENONCANON);
    assert_int_equal(dec_hex("de 00 01 a1 61 c0", 0), 0);
    assert_int_equal(dec_hex("de 00 00", CANON), TW_ENONCANON);
    assert_int_equal(dec_hex("df 00 00 00 01 a1 61 c0", CANON), TW_ENONCANON);
}

static void test_canon_map_keys(void **state)
{
    /* Sorted bytewise by encoded key: "b" (a1 62) sorts before "aa" (a2 61 61)
     * because the length is part of the encoding. */
    assert_int_equal(dec_hex("82 a1 62 c0 a2 61 61 c0", CANON), 0);
    assert_int_equal(dec_hex("82 a2 61 61 c0 a1 62 c0", CANON), TW_ENONCANON);
    assert_int_equal(dec_hex("82 a2 61 61 c0 a1 62 c0", 0), 0);
    assert_int_equal(dec_hex("82 a1 62 c0 a1 61 c0", CANON), TW_ENONCANON);
    /* Keys of mixed types sort by their bytes too: 01 < a1 61 < ff. */
    assert_int_equal(dec_hex("83 01 c0 a1 61 c0 ff c0", CANON), 0);
    assert_int_equal(dec_hex("83 01 c0 ff c0 a1 61 c0", CANON), TW_ENONCANON);
    /* Unsorted only at the last pair. */
    assert_int_equal(dec_hex("83 a1 61 c0 a1 63 c0 a1 62 c0", CANON), TW_ENONCANON);
    /* Duplicate keys, in both modes, adjacent or not. */
    assert_int_equal(dec_hex("82 a1 61 c0 a1 61 c3", CANON), TW_ENONCANON);
    assert_int_equal(dec_hex("82 a1 61 c0 a1 61 c3", 0), TW_ENONCANON);
    assert_int_equal(dec_hex("83 a1 61 c0 a1 62 c0 a1 61 c0", 0), TW_ENONCANON);
    assert_int_equal(dec_hex("83 a1 62 c0 a1 61 c0 a1 63 c0", 0), 0);
    /* Binary keys too: the length byte makes the shorter key sort first. */
    assert_int_equal(dec_hex("82 c4 02 61 61 c0 c4 01 62 c0", CANON), TW_ENONCANON);
    assert_int_equal(dec_hex("82 c4 01 62 c0 c4 02 61 61 c0", CANON), 0);
    assert_int_equal(dec_hex("82 c4 01 61 c0 c4 01 62 c0", CANON), 0);
}

static void test_types_refused(void **state)
{
    static const char *const bad[] = {
        "ca 3f 80 00 00", "cb 3f f0 00 00 00 00 00 00",           /* floats */
        "d4 01 00", "d5 01 00 00", "d6 01 00 00 00 00",            /* fixext */
        "d7 01 00 00 00 00 00 00 00 00",
        "d8 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
        "c7 01 01 00", "c8 00 01 01 00", "c9 00 00 00 01 01 00",   /* ext */
        "c1",                                                      /* never used */
        "91 ca 00 00 00 00", "81 a1 61 c1",                        /* nested */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dec_hex(bad[i], CANON), TW_ETYPE);
        assert_int_equal(dec_hex(bad[i], 0), TW_ETYPE);
    }
}

static void test_utf8(void **state)
{
    static const char *const bad[] = {
        "a2 c0 80",          /* overlong NUL, 2 bytes */
        "a2 c1 bf",          /* overlong, 2 bytes */
        "a3 e0 80 80",       /* overlong, 3 bytes */
        "a3 e0 9f bf",       /* overlong U+07FF */
        "a4 f0 80 80 80",    /* overlong, 4 bytes */
        "a4 f0 8f bf bf",    /* overlong U+FFFF */
        "a3 ed a0 80",       /* surrogate U+D800 */
        "a3 ed bf bf",       /* surrogate U+DFFF */
        "a2 e2 82",          /* truncated 3-byte sequence */
        "a3 f0 9f 98",       /* truncated 4-byte sequence */
        "a1 c2",             /* truncated 2-byte sequence */
        "a4 f4 90 80 80",    /* U+110000 */
        "a4 f5 80 80 80",    /* lead byte above F4 */
        "a1 80",             /* lone continuation byte */
        "a1 ff",
        "a2 c2 41",          /* continuation byte missing */
    };
    static const char *const good[] = {
        "a2 c2 80", "a3 e0 a0 80", "a3 ed 9f bf", "a3 ee 80 80", "a3 ef bf bf",
        "a4 f0 90 80 80", "a4 f4 8f bf bf", "a1 7f", "a1 00",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dec_hex(bad[i], CANON), TW_EUTF8);
        assert_int_equal(dec_hex(bad[i], 0), TW_EUTF8);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(dec_hex(good[i], CANON), 0);
    /* Binary is not checked, and map keys are checked like any string. */
    assert_int_equal(dec_hex("c4 02 c0 80", CANON), 0);
    assert_int_equal(dec_hex("81 a2 c0 80 c0", CANON), TW_EUTF8);
    /* The writer refuses to produce invalid UTF-8 that it could not read. */
    tw_buf b;
    tw_buf_init(&b);
    tw_val v = tw_v_str("\xed\xa0\x80", 3);
    assert_int_equal(tw_mp_encode(&b, &v), TW_EUTF8);
    tw_buf_free(&b);
}

static void test_truncation(void **state)
{
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val m, arr;
    assert_int_equal(tw_v_map(&a, &m, 6), 0);
    assert_int_equal(tw_v_arr(&a, &arr, 3), 0);
    static uint8_t bin[300];
    arr.v.arr[0] = tw_v_int(-40000);
    arr.v.arr[1] = tw_v_uint(0x123456789ull);
    arr.v.arr[2] = tw_v_bin(bin, sizeof bin);
    m.v.map[0].k = tw_v_cstr("a"); m.v.map[0].v = arr;
    m.v.map[1].k = tw_v_cstr("b"); m.v.map[1].v = tw_v_cstr("Jenin governorate, occupied West Bank");
    m.v.map[2].k = tw_v_cstr("c"); m.v.map[2].v = tw_v_bool(false);
    m.v.map[3].k = tw_v_cstr("d"); m.v.map[3].v = tw_v_nil();
    m.v.map[4].k = tw_v_cstr("e"); m.v.map[4].v = tw_v_uint(300);
    m.v.map[5].k = tw_v_cstr("f"); m.v.map[5].v = tw_v_int(-5);
    tw_buf b;
    tw_buf_init(&b);
    assert_int_equal(tw_mp_encode(&b, &m), 0);
    for (size_t n = 0; n < b.len; n++) {
        uint8_t *p = malloc(n ? n : 1);
        assert_non_null(p);
        memcpy(p, b.p, n);
        tw_arena a2;
        tw_arena_init(&a2, 1u << 20);
        tw_val v;
        size_t used = 0;
        assert_int_not_equal(tw_mp_decode(p, n, &a2, CANON, &v, NULL, NULL), 0);
        assert_int_not_equal(tw_mp_decode(p, n, &a2, 0, &v, &used, NULL), 0);
        tw_arena_free(&a2);
        free(p);
    }
    assert_int_equal(dec_buf(b.p, b.len, CANON, 0), 0);
    tw_buf_free(&b);
    tw_arena_free(&a);
}

static void test_trailing(void **state)
{
    uint8_t in[] = { 0x92, 0x01, 0x02, 0xc0 };
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val v;
    size_t used = 0;
    const char *why = NULL;
    assert_int_equal(tw_mp_decode(in, sizeof in, &a, CANON, &v, NULL, &why), TW_EINVAL);
    assert_non_null(why);
    assert_int_equal(tw_mp_decode(in, sizeof in, &a, CANON, &v, &used, &why), 0);
    assert_null(why);
    assert_int_equal(used, 3);
    assert_int_equal(v.type, TW_ARR);
    assert_int_equal(v.len, 2);
    assert_int_equal(tw_mp_decode(in, 0, &a, CANON, &v, &used, NULL), TW_ETRUNC);
    tw_arena_free(&a);
}

/* Depth counts containers: the outermost array or map is at depth 0 and a
 * container may sit at depths 0 .. TW_DEPTH_MAX - 1, so TW_DEPTH_MAX nested
 * containers are accepted and one more is refused.  Scalars inside the
 * innermost allowed container are fine. */
static void nest_hex(char *out, unsigned n, const char *open, const char *leaf,
                     const char *close)
{
    out[0] = 0;
    for (unsigned i = 0; i < n; i++) strcat(out, open);
    strcat(out, leaf);
    for (unsigned i = 0; i < n; i++) strcat(out, close);
}

static void test_depth(void **state)
{
    char h[512];
    nest_hex(h, TW_DEPTH_MAX - 1, "91 ", "90", "");
    assert_int_equal(dec_hex(h, CANON), 0);
    nest_hex(h, TW_DEPTH_MAX, "91 ", "c0", "");
    assert_int_equal(dec_hex(h, CANON), 0);
    nest_hex(h, TW_DEPTH_MAX, "91 ", "90", "");
    assert_int_equal(dec_hex(h, CANON), TW_EDEPTH);
    assert_int_equal(dec_hex(h, 0), TW_EDEPTH);
    nest_hex(h, TW_DEPTH_MAX - 1, "81 a1 61 ", "80", "");
    assert_int_equal(dec_hex(h, CANON), 0);
    nest_hex(h, TW_DEPTH_MAX, "81 a1 61 ", "80", "");
    assert_int_equal(dec_hex(h, CANON), TW_EDEPTH);
    /* A container used as a map key counts like any other: k maps, each the
     * key of the one outside it, the innermost holding {[]: nil}. */
    nest_hex(h, TW_DEPTH_MAX - 2, "81 ", "81 90 c0", " c0");
    assert_int_equal(dec_hex(h, CANON), 0);
    nest_hex(h, TW_DEPTH_MAX - 1, "81 ", "81 90 c0", " c0");
    assert_int_equal(dec_hex(h, CANON), TW_EDEPTH);

    /* The writer has the same bound, so it never writes what it cannot read. */
    tw_arena a;
    tw_arena_init(&a, 0);
    for (unsigned levels = TW_DEPTH_MAX; levels <= TW_DEPTH_MAX + 1; levels++) {
        tw_val top, *cur = &top;
        for (unsigned i = 0; i < levels; i++) {
            if (i + 1 < levels) {
                assert_int_equal(tw_v_arr(&a, cur, 1), 0);
                cur = &cur->v.arr[0];
            } else {
                assert_int_equal(tw_v_arr(&a, cur, 0), 0);
            }
        }
        tw_buf b;
        tw_buf_init(&b);
        if (levels == TW_DEPTH_MAX) roundtrip(&top);
        else assert_int_equal(tw_mp_encode(&b, &top), TW_EDEPTH);
        tw_buf_free(&b);
    }

    /* Control messages nest to TW_CTL_DEPTH_MAX, reading and writing: a
     * body at TW_DEPTH_MAX inside a response's own levels. */
    static char big[2048];
    nest_hex(big, TW_CTL_DEPTH_MAX, "91 ", "c0", "");
    assert_int_equal(dec_hex(big, 0), TW_EDEPTH);
    assert_int_equal(dec_hex(big, TW_MP_CTL_DEPTH), 0);
    nest_hex(big, TW_CTL_DEPTH_MAX, "91 ", "90", "");
    assert_int_equal(dec_hex(big, TW_MP_CTL_DEPTH), TW_EDEPTH);
    for (unsigned levels = TW_CTL_DEPTH_MAX; levels <= TW_CTL_DEPTH_MAX + 1; levels++) {
        tw_val top, *cur = &top;
        for (unsigned i = 0; i < levels; i++) {
            assert_int_equal(tw_v_arr(&a, cur, i + 1 < levels ? 1 : 0), 0);
            if (i + 1 < levels) cur = &cur->v.arr[0];
        }
        tw_buf b;
        tw_buf_init(&b);
        assert_int_equal(tw_mp_encode(&b, &top), TW_EDEPTH);
        assert_int_equal(tw_mp_encode_ctl(&b, &top), levels == TW_CTL_DEPTH_MAX ? 0 : TW_EDEPTH);
        tw_buf_free(&b);
    }
    tw_arena_free(&a);
}

static void test_hostile_counts(void **state)
{
    tw_arena a;
    tw_val v;
    static const char *const hostile[] = {
        "dd ff ff ff ff", "df ff ff ff ff", "dc ff ff", "de ff ff",
        "db ff ff ff ff", "c6 ff ff ff ff", "dd ff ff ff ff c0 c0 c0",
        "83 a1 61 c0", "de 01 00 c0 c0 c0 c0", "df 00 01 00 00 c0 c0",
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        size_t n;
        uint8_t *b = unhex(hostile[i], &n);
        for (unsigned flags = 0; flags <= CANON; flags++) {
            tw_arena_init(&a, 1u << 16);
            assert_int_equal(tw_mp_decode(b, n, &a, flags, &v, NULL, NULL), TW_ETRUNC);
            /* Refused before any allocation. */
            assert_int_equal(a.total, 0);
            tw_arena_free(&a);
        }
        free(b);
    }
}

static void test_arena_cap(void **state)
{
    /* 65535 nils in an array need about 1 MiB of nodes: more than the cap. */
    size_t n;
    uint8_t *b = hdr_fill("dc ff ff", 0xffff, 0xc0, &n);
    assert_int_equal(dec_buf(b, n, CANON, 1u << 16), TW_ETOOBIG);
    assert_int_equal(dec_buf(b, n, CANON, 0), 0);
    assert_int_equal(dec_buf(b, n, CANON, 2u << 20), 0);
    free(b);
    /* The same for a map of distinct keys. */
    tw_buf w;
    tw_buf_init(&w);
    assert_int_equal(tw_mpw_map(&w, 3000), 0);
    for (uint32_t i = 0; i < 3000; i++) {
        assert_int_equal(tw_mpw_uint(&w, i), 0);
        assert_int_equal(tw_mpw_nil(&w), 0);
    }
    assert_int_equal(dec_buf(w.p, w.len, CANON, 1u << 16), TW_ETOOBIG);
    assert_int_equal(dec_buf(w.p, w.len, CANON, 1u << 20), 0);
    tw_buf_free(&w);
    /* The arena itself never exceeds its cap. */
    tw_arena a;
    tw_arena_init(&a, 20000);
    assert_non_null(tw_arena_alloc(&a, 100));
    assert_non_null(tw_arena_alloc(&a, 8000));
    assert_non_null(tw_arena_alloc(&a, 8192));
    assert_null(tw_arena_alloc(&a, 8192));
    assert_true(a.total <= 20000);
    tw_arena_free(&a);
    assert_int_equal(a.total, 0);
}

/* ------------------------------------------------------------------ writer */

static void w_uint(uint64_t x, const char *hex)
{
    tw_buf b;
    tw_buf_init(&b);
    assert_int_equal(tw_mpw_uint(&b, x), 0);
    assert_bytes(&b, hex);
    assert_int_equal(dec_buf(b.p, b.len, CANON, 0), 0);
    tw_buf_free(&b);
}

static void w_int(int64_t x, const char *hex)
{
    tw_buf b;
    tw_buf_init(&b);
    assert_int_equal(tw_mpw_int(&b, x), 0);
    assert_bytes(&b, hex);
    assert_int_equal(dec_buf(b.p, b.len, CANON, 0), 0);
    tw_buf_free(&b);
}

static void test_writer_ints(void **state)
{
    w_uint(0, "00");
    w_uint(0x7f, "7f");
    w_uint(0x80, "cc 80");
    w_uint(0xff, "cc ff");
    w_uint(0x100, "cd 01 00");
    w_uint(0xffff, "cd ff ff");
    w_uint(0x10000, "ce 00 01 00 00");
    w_uint(0xffffffffu, "ce ff ff ff ff");
    w_uint(0x100000000ull, "cf 00 00 00 01 00 00 00 00");
    w_uint(UINT64_MAX, "cf ff ff ff ff ff ff ff ff");
    w_int(0, "00");
    w_int(0x7f, "7f");
    w_int(0x80, "cc 80");
    w_int(0x100, "cd 01 00");
    w_int(INT64_MAX, "cf 7f ff ff ff ff ff ff ff");
    w_int(-1, "ff");
    w_int(-32, "e0");
    w_int(-33, "d0 df");
    w_int(-128, "d0 80");
    w_int(-129, "d1 ff 7f");
    w_int(-32768, "d1 80 00");
    w_int(-32769, "d2 ff ff 7f ff");
    w_int(INT32_MIN, "d2 80 00 00 00");
    w_int((int64_t)INT32_MIN - 1, "d3 ff ff ff ff 7f ff ff ff");
    w_int(INT64_MIN, "d3 80 00 00 00 00 00 00 00");
}

static void w_len(int (*fn)(tw_buf *, const char *, size_t), size_t n, const char *hex)
{
    static char zeros[70000];
    tw_buf b;
    tw_buf_init(&b);
    assert_int_equal(fn(&b, zeros, n), 0);
    size_t h;
    uint8_t *want = unhex(hex, &h);
    assert_int_equal(b.len, h + n);
    assert_memory_equal(b.p, want, h);
    assert_int_equal(dec_buf(b.p, b.len, CANON, 0), 0);
    free(want);
    tw_buf_free(&b);
}

static int w_bin_c(tw_buf *b, const char *p, size_t n) { return tw_mpw_bin(b, p, n); }

static void w_count(int (*fn)(tw_buf *, uint32_t), uint32_t n, const char *hex)
{
    tw_buf b;
    tw_buf_init(&b);
    assert_int_equal(fn(&b, n), 0);
    assert_bytes(&b, hex);
    tw_buf_free(&b);
}

static void test_writer_lengths(void **state)
{
    w_len(tw_mpw_str, 0, "a0");
    w_len(tw_mpw_str, 31, "bf");
    w_len(tw_mpw_str, 32, "d9 20");
    w_len(tw_mpw_str, 255, "d9 ff");
    w_len(tw_mpw_str, 256, "da 01 00");
    w_len(tw_mpw_str, 65535, "da ff ff");
    w_len(tw_mpw_str, 65536, "db 00 01 00 00");
    w_len(w_bin_c, 0, "c4 00");
    w_len(w_bin_c, 255, "c4 ff");
    w_len(w_bin_c, 256, "c5 01 00");
    w_len(w_bin_c, 65535, "c5 ff ff");
    w_len(w_bin_c, 65536, "c6 00 01 00 00");
    w_count(tw_mpw_arr, 0, "90");
    w_count(tw_mpw_arr, 15, "9f");
    w_count(tw_mpw_arr, 16, "dc 00 10");
    w_count(tw_mpw_arr, 65535, "dc ff ff");
    w_count(tw_mpw_arr, 65536, "dd 00 01 00 00");
    w_count(tw_mpw_map, 0, "80");
    w_count(tw_mpw_map, 15, "8f");
    w_count(tw_mpw_map, 16, "de 00 10");
    w_count(tw_mpw_map, 65535, "de ff ff");
    w_count(tw_mpw_map, 65536, "df 00 01 00 00");
    tw_buf b;
    tw_buf_init(&b);
    assert_int_equal(tw_mpw_nil(&b), 0);
    assert_int_equal(tw_mpw_bool(&b, false), 0);
    assert_int_equal(tw_mpw_bool(&b, true), 0);
    assert_int_equal(tw_mpw_cstr(&b, "PS-BTH"), 0);
    assert_bytes(&b, "c0 c2 c3 a6 50 53 2d 42 54 48");
    tw_buf_reset(&b);
    assert_int_equal(b.len, 0);
    tw_buf_free(&b);
}

static void test_encode_sorts(void **state)
{
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val m;
    assert_int_equal(tw_v_map(&a, &m, 2), 0);
    m.v.map[0].k = tw_v_cstr("aa"); m.v.map[0].v = tw_v_uint(1);
    m.v.map[1].k = tw_v_cstr("b");  m.v.map[1].v = tw_v_uint(2);
    tw_buf b;
    tw_buf_init(&b);
    assert_int_equal(tw_mp_encode(&b, &m), 0);
    assert_bytes(&b, "82 a1 62 02 a2 61 61 01");
    /* Mixed key types and a nested map, both sorted. */
    tw_val m2, in;
    assert_int_equal(tw_v_map(&a, &m2, 4), 0);
    assert_int_equal(tw_v_map(&a, &in, 2), 0);
    in.v.map[0].k = tw_v_cstr("z"); in.v.map[0].v = tw_v_nil();
    in.v.map[1].k = tw_v_cstr("y"); in.v.map[1].v = tw_v_nil();
    m2.v.map[0].k = tw_v_int(-1);      m2.v.map[0].v = tw_v_nil();
    m2.v.map[1].k = tw_v_cstr("a");    m2.v.map[1].v = in;
    m2.v.map[2].k = tw_v_uint(200);    m2.v.map[2].v = tw_v_nil();
    m2.v.map[3].k = tw_v_uint(1);      m2.v.map[3].v = tw_v_nil();
    tw_buf_reset(&b);
    assert_int_equal(tw_mp_encode(&b, &m2), 0);
    assert_bytes(&b, "84 01 c0 a1 61 82 a1 79 c0 a1 7a c0 cc c8 c0 ff c0");
    assert_int_equal(dec_buf(b.p, b.len, CANON, 0), 0);
    /* Duplicate keys are refused, even when spelt differently in the tree
     * (an INT and a UINT of one value never happen; two equal strings do). */
    m.v.map[1].k = tw_v_cstr("aa");
    tw_buf_reset(&b);
    assert_int_equal(tw_mp_encode(&b, &m), TW_EINVAL);
    m.v.map[0].k = tw_v_int(5);
    m.v.map[1].k = tw_v_uint(5);
    tw_buf_reset(&b);
    assert_int_equal(tw_mp_encode(&b, &m), TW_EINVAL);
    tw_buf_free(&b);
    tw_arena_free(&a);
}

/* ------------------------------------------------------------ tree helpers */

static void test_v_get_equal_copy(void **state)
{
    uint8_t *in;
    size_t n;
    /* {"a": 1, "b": [true, "x"], 7: "seven"} in canonical order. */
    in = unhex("83 07 a5 73 65 76 65 6e a1 61 01 a1 62 92 c3 a1 78", &n);
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val v;
    assert_int_equal(tw_mp_decode(in, n, &a, CANON, &v, NULL, NULL), 0);
    const tw_val *x = tw_v_get(&v, "a");
    assert_non_null(x);
    assert_int_equal(x->type, TW_UINT);
    assert_int_equal(x->v.u, 1);
    x = tw_v_get(&v, "b");
    assert_non_null(x);
    assert_int_equal(x->type, TW_ARR);
    assert_true(tw_v_is_str(&x->v.arr[1], "x"));
    assert_false(tw_v_is_str(&x->v.arr[0], "x"));
    assert_false(tw_v_is_str(&x->v.arr[1], "xy"));
    assert_null(tw_v_get(&v, "c"));
    assert_null(tw_v_get(&v, "7"));       /* the key 7 is a number, not a string */
    assert_null(tw_v_get(&v, ""));
    assert_null(tw_v_get(x, "a"));        /* not a map */
    assert_null(tw_v_get(NULL, "a"));

    /* A deep copy survives its source buffer. */
    tw_arena a2;
    tw_arena_init(&a2, 0);
    tw_val c;
    assert_int_equal(tw_v_copy(&a2, &c, &v), 0);
    assert_true(tw_v_equal(&c, &v));
    memset(in, 0, n);
    tw_arena_free(&a);
    uint8_t *in2 = unhex("83 07 a5 73 65 76 65 6e a1 61 01 a1 62 92 c3 a1 78", &n);
    tw_arena_init(&a, 0);
    assert_int_equal(tw_mp_decode(in2, n, &a, CANON, &v, NULL, NULL), 0);
    assert_true(tw_v_equal(&c, &v));
    assert_true(tw_v_is_str(tw_v_get(&c, "b")->v.arr + 1, "x"));
    tw_val e = tw_v_bin(NULL, 0), ec;
    assert_int_equal(tw_v_copy(&a2, &ec, &e), 0);
    assert_true(tw_v_equal(&e, &ec));
    tw_arena_free(&a2);

    /* Equality: maps are sets of pairs; types and lengths matter. */
    uint8_t *o;
    size_t on;
    o = unhex("83 a1 62 92 c3 a1 78 a1 61 01 07 a5 73 65 76 65 6e", &on);
    tw_val w;
    tw_arena_init(&a2, 0);
    assert_int_equal(tw_mp_decode(o, on, &a2, 0, &w, NULL, NULL), 0);
    assert_true(tw_v_equal(&v, &w));
    tw_val s1 = tw_v_cstr("ab"), s2 = tw_v_bin("ab", 2), s3 = tw_v_cstr("ac"), s4 = tw_v_cstr("abc");
    assert_false(tw_v_equal(&s1, &s2));
    assert_false(tw_v_equal(&s1, &s3));
    assert_false(tw_v_equal(&s1, &s4));
    tw_val u = tw_v_uint(1), i1 = tw_v_int(-1), b1 = tw_v_bool(true), b0 = tw_v_bool(false);
    assert_false(tw_v_equal(&u, &b1));
    assert_false(tw_v_equal(&i1, &u));
    assert_false(tw_v_equal(&b0, &b1));
    tw_val nil = tw_v_nil();
    assert_true(tw_v_equal(&nil, &nil));
    /* A map differing in one value, or one key. */
    tw_val m1, m2;
    assert_int_equal(tw_v_map(&a2, &m1, 2), 0);
    assert_int_equal(tw_v_map(&a2, &m2, 2), 0);
    m1.v.map[0].k = tw_v_cstr("a"); m1.v.map[0].v = tw_v_uint(1);
    m1.v.map[1].k = tw_v_cstr("b"); m1.v.map[1].v = tw_v_uint(2);
    m2.v.map[0].k = tw_v_cstr("b"); m2.v.map[0].v = tw_v_uint(2);
    m2.v.map[1].k = tw_v_cstr("a"); m2.v.map[1].v = tw_v_uint(1);
    assert_true(tw_v_equal(&m1, &m2));
    m2.v.map[1].v = tw_v_uint(3);
    assert_false(tw_v_equal(&m1, &m2));
    m2.v.map[1].v = tw_v_uint(1);
    m2.v.map[1].k = tw_v_cstr("c");
    assert_false(tw_v_equal(&m1, &m2));
    tw_arena_free(&a2);
    tw_arena_free(&a);
    free(in);
    free(in2);
    free(o);
}

static void test_utf8_valid_direct(void **state)
{
    assert_true(tw_utf8_valid((const uint8_t *)"", 0));
    assert_true(tw_utf8_valid((const uint8_t *)"\xd8\xb1\xd8\xa7\xd9\x85 \xd8\xa7\xd9\x84\xd9\x84\xd9\x87", 15));
    assert_false(tw_utf8_valid((const uint8_t *)"\xe2\x82", 2));
    assert_false(tw_utf8_valid((const uint8_t *)"ok\xc0", 3));
    /* The eight-byte ASCII step: a bad byte at each place after, inside and
     * at the end of runs of ASCII is still found. */
    for (size_t n = 1; n <= 40; n++)
        for (size_t at = 0; at < n; at++) {
            uint8_t b[40];
            memset(b, 'a', n);
            assert_true(tw_utf8_valid(b, n));
            b[at] = 0xc0;
            assert_false(tw_utf8_valid(b, n));
            b[at] = 0x80;
            assert_false(tw_utf8_valid(b, n));
            if (at + 2 <= n) { b[at] = 0xd8; b[at + 1] = 0xb1; assert_true(tw_utf8_valid(b, n)); }
        }
}

/* TW_MP_STORED (our own store's values, canonical when admitted) reads map
 * keys as they come, but bounds, depth, types and UTF-8 are still checked. */
static void test_stored(void **state)
{
    (void)state;
    const unsigned ST = TW_MP_STORED;
    assert_int_equal(dec_hex("82 a1 62 c0 a1 61 c3", ST), 0);
    assert_int_equal(dec_hex("82 a1 61 c0 a1 62 c3", ST), 0);
    assert_int_equal(dec_hex("82 a1 61 c0 a1 62", ST), TW_ETRUNC);
    assert_int_equal(dec_hex("81 a1 61 a1 ff", ST), TW_EUTF8);
    assert_int_equal(dec_hex("81 a1 61 ca 00 00 00 00", ST), TW_ETYPE);
    assert_int_equal(dec_hex("8f a1 61 c0", ST), TW_ETRUNC);
    /* The values of a map read so are the same as read canonically. */
    size_t n;
    uint8_t *b = unhex("83 a1 61 01 a1 62 92 a1 78 c3 a1 63 81 a1 64 a0", &n);
    tw_arena a1, a2;
    tw_val v1, v2;
    tw_arena_init(&a1, 0);
    tw_arena_init(&a2, 0);
    assert_int_equal(tw_mp_decode(b, n, &a1, TW_MP_CANONICAL, &v1, NULL, NULL), 0);
    assert_int_equal(tw_mp_decode(b, n, &a2, ST, &v2, NULL, NULL), 0);
    assert_true(tw_v_equal(&v1, &v2));
    tw_arena_free(&a1);
    tw_arena_free(&a2);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_scalars),
        cmocka_unit_test(test_roundtrip_containers),
        cmocka_unit_test(test_roundtrip_random),
        cmocka_unit_test(test_canon_uint_widths),
        cmocka_unit_test(test_canon_negative_widths),
        cmocka_unit_test(test_canon_signed_nonnegative),
        cmocka_unit_test(test_canon_lengths),
        cmocka_unit_test(test_canon_map_keys),
        cmocka_unit_test(test_types_refused),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_trailing),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_hostile_counts),
        cmocka_unit_test(test_arena_cap),
        cmocka_unit_test(test_writer_ints),
        cmocka_unit_test(test_writer_lengths),
        cmocka_unit_test(test_encode_sorts),
        cmocka_unit_test(test_v_get_equal_copy),
        cmocka_unit_test(test_utf8_valid_direct),
        cmocka_unit_test(test_stored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
