/*
 * Tests of key text forms, base32 and hex (include/twin/keytext.h).  A key
 * text must have one spelling only and catch a mistyped character.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/keytext.h"

static const char B32[] = "abcdefghijklmnopqrstuvwxyz234567";

static void fixed_key(uint8_t key[32], uint8_t salt)
{
    for (int i = 0; i < 32; i++) key[i] = (uint8_t)(i * 37 + salt);
}

static void test_roundtrip(void **state)
{
    static const char *const prefixes[] = { TW_KEYTEXT_PREFIX, TW_NETTEXT_PREFIX };
    for (int s = 0; s < 64; s++) {
        uint8_t key[32], back[32];
        fixed_key(key, (uint8_t)(s * 11));
        if (s == 0) memset(key, 0, 32);
        if (s == 1) memset(key, 0xff, 32);
        for (int p = 0; p < 2; p++) {
            char t[TW_KEYTEXT_LEN + 1];
            memset(t, 'X', sizeof t);
            tw_keytext_encode(t, prefixes[p], key);
            assert_int_equal(strlen(t), TW_KEYTEXT_LEN);
            assert_memory_equal(t, prefixes[p], 4);
            for (size_t i = 4; i < TW_KEYTEXT_LEN; i++) assert_non_null(strchr(B32, t[i]));
            memset(back, 0, 32);
            assert_int_equal(tw_keytext_decode(back, prefixes[p], t, strlen(t)), 0);
            assert_memory_equal(back, key, 32);
        }
    }
}

/* The key of tests/vectors/entries.json, whose text is stated there too. */
static void test_known_answer(void **state)
{
    uint8_t seed[32], pk[32], sk[64], back[32];
    memset(seed, 0x01, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    char t[TW_KEYTEXT_LEN + 1], f[TW_FPR_CHARS + 1];
    tw_keytext_encode(t, TW_KEYTEXT_PREFIX, pk);
    assert_string_equal(t, "twk_rkeohxlubhyzl7ks3mwtzos5olfgocn7dwkbeg7toseadnapn5ojbiy");
    assert_int_equal(tw_keytext_decode(back, TW_KEYTEXT_PREFIX, t, strlen(t)), 0);
    assert_memory_equal(back, pk, 32);
    tw_key_fingerprint(f, pk);
    assert_string_equal(f, "rkeohxlubh");
    assert_int_equal(strlen(f), TW_FPR_CHARS);
    /* The checksum is the first two bytes of BLAKE2b-128(prefix || key). */
    uint8_t h[16], raw[34];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const uint8_t *)"twk_", 4);
    crypto_generichash_update(&st, pk, 32);
    crypto_generichash_final(&st, h, sizeof h);
    assert_int_equal(tw_base32_decode(raw, sizeof raw, t + 4, TW_KEYTEXT_LEN - 4), 34);
    assert_memory_equal(raw, pk, 32);
    assert_int_equal(raw[32], h[0]);
    assert_int_equal(raw[33], h[1]);
}

static void test_wrong_prefix_and_length(void **state)
{
    uint8_t key[32], back[32];
    fixed_key(key, 5);
    char t[TW_KEYTEXT_LEN + 2];
    tw_keytext_encode(t, TW_KEYTEXT_PREFIX, key);
    /* A key text is not a network key text, even with the prefix swapped,
     * because the checksum covers the prefix. */
    assert_int_equal(tw_keytext_decode(back, TW_NETTEXT_PREFIX, t, TW_KEYTEXT_LEN), TW_EINVAL);
    memcpy(t, TW_NETTEXT_PREFIX, 4);
    assert_int_equal(tw_keytext_decode(back, TW_NETTEXT_PREFIX, t, TW_KEYTEXT_LEN), TW_EINVAL);
    memcpy(t, "TWK_", 4);
    assert_int_equal(tw_keytext_decode(back, TW_KEYTEXT_PREFIX, t, TW_KEYTEXT_LEN), TW_EINVAL);
    memcpy(t, TW_KEYTEXT_PREFIX, 4);
    assert_int_equal(tw_keytext_decode(back, TW_KEYTEXT_PREFIX, t, TW_KEYTEXT_LEN), 0);
    /* Lengths one short, one long, and empty. */
    assert_int_equal(tw_keytext_decode(back, TW_KEYTEXT_PREFIX, t, TW_KEYTEXT_LEN - 1), TW_EINVAL);
    t[TW_KEYTEXT_LEN] = 'a';
    t[TW_KEYTEXT_LEN + 1] = 0;
    assert_int_equal(tw_keytext_decode(back, TW_KEYTEXT_PREFIX, t, TW_KEYTEXT_LEN + 1), TW_EINVAL);
    assert_int_equal(tw_keytext_decode(back, TW_KEYTEXT_PREFIX, "", 0), TW_EINVAL);
    assert_int_equal(tw_keytext_decode(back, TW_KEYTEXT_PREFIX, "twk_", 4), TW_EINVAL);
}

static void test_bad_characters(void **state)
{
    uint8_t key[32], back[32];
    fixed_key(key, 9);
    char t[TW_KEYTEXT_LEN + 1], m[TW_KEYTEXT_LEN + 1];
    tw_keytext_encode(t, TW_KEYTEXT_PREFIX, key);
    /* Characters outside the lowercase alphabet, at a middle position. */
    static const char bad[] = { 'A', 'Z', '0', '1', '8', '9', '=', ' ', '_', '-', '\0', '\x80' };
    for (size_t i = 0; i < sizeof bad; i++) {
        memcpy(m, t, sizeof m);
        m[20] = bad[i];
        assert_int_equal(tw_keytext_decode(back, TW_KEYTEXT_PREFIX, m, TW_KEYTEXT_LEN), TW_EINVAL);
    }
    /* Upper case is a different spelling and refused. */
    memcpy(m, t, sizeof m);
    for (size_t i = 4; i < TW_KEYTEXT_LEN; i++)
        if (m[i] >= 'a' && m[i] <= 'z') m[i] = (char)(m[i] - 'a' + 'A');
    assert_int_equal(tw_keytext_decode(back, TW_KEYTEXT_PREFIX, m, TW_KEYTEXT_LEN), TW_EINVAL);
}

/* Every single-character substitution after the prefix is caught, by the
 * checksum or by the padding rule in the last character. */
static void test_flipped_character(void **state)
{
    for (int s = 0; s < 4; s++) {
        uint8_t key[32], back[32];
        fixed_key(key, (uint8_t)(s * 50 + 1));
        char t[TW_KEYTEXT_LEN + 1], m[TW_KEYTEXT_LEN + 1];
        tw_keytext_encode(t, TW_KEYTEXT_PREFIX, key);
        unsigned tried = 0;
        for (size_t i = 4; i < TW_KEYTEXT_LEN; i++) {
            for (int c = 0; c < 32; c++) {
                if (B32[c] == t[i]) continue;
                memcpy(m, t, sizeof m);
                m[i] = B32[c];
                assert_int_equal(tw_keytext_decode(back, TW_KEYTEXT_PREFIX, m, TW_KEYTEXT_LEN), TW_EINVAL);
                tried++;
            }
        }
        assert_int_equal(tried, (TW_KEYTEXT_LEN - 4) * 31);
        /* Two adjacent characters swapped, where they differ. */
        for (size_t i = 4; i + 1 < TW_KEYTEXT_LEN; i++) {
            if (t[i] == t[i + 1]) continue;
            memcpy(m, t, sizeof m);
            m[i] = t[i + 1];
            m[i + 1] = t[i];
            assert_int_equal(tw_keytext_decode(back, TW_KEYTEXT_PREFIX, m, TW_KEYTEXT_LEN), TW_EINVAL);
        }
    }
}

static void test_padding_bits(void **state)
{
    uint8_t key[32], back[32];
    fixed_key(key, 3);
    char t[TW_KEYTEXT_LEN + 1];
    tw_keytext_encode(t, TW_KEYTEXT_PREFIX, key);
    /* 34 bytes are 272 bits in 55 characters of 5: the last character holds
     * 2 data bits and 3 zero bits. */
    int last = (int)(strchr(B32, t[TW_KEYTEXT_LEN - 1]) - B32);
    assert_int_equal(last & 7, 0);
    for (int pad = 1; pad < 8; pad++) {
        char m[TW_KEYTEXT_LEN + 1];
        memcpy(m, t, sizeof m);
        m[TW_KEYTEXT_LEN - 1] = B32[last | pad];
        assert_int_equal(tw_keytext_decode(back, TW_KEYTEXT_PREFIX, m, TW_KEYTEXT_LEN), TW_EINVAL);
    }
    uint8_t out[8];
    /* 2 chars = 10 bits: one byte and 2 bits that must be zero. */
    assert_int_equal(tw_base32_decode(out, sizeof out, "aa", 2), 1);
    assert_int_equal(tw_base32_decode(out, sizeof out, "ab", 2), TW_EINVAL);
    assert_int_equal(tw_base32_decode(out, sizeof out, "ac", 2), TW_EINVAL);
    assert_int_equal(tw_base32_decode(out, sizeof out, "ae", 2), 1);
    assert_int_equal(out[0], 0x01);
    /* Lengths that leave five bits or more over are never produced. */
    assert_int_equal(tw_base32_decode(out, sizeof out, "a", 1), TW_EINVAL);
    assert_int_equal(tw_base32_decode(out, sizeof out, "aaa", 3), TW_EINVAL);
    assert_int_equal(tw_base32_decode(out, sizeof out, "aaaaaa", 6), TW_EINVAL);
    assert_int_equal(tw_base32_decode(out, sizeof out, "", 0), 0);
}

static void test_base32_rfc4648(void **state)
{
    /* RFC 4648 section 10, in lower case without padding. */
    static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *const enc[] = { "", "my", "mzxq", "mzxw6", "mzxw6yq", "mzxw6ytb", "mzxw6ytboi" };
    for (int i = 0; i < 7; i++) {
        char out[32];
        uint8_t back[16];
        size_t n = strlen(plain[i]);
        assert_int_equal(tw_base32_encode(out, (const uint8_t *)plain[i], n), strlen(enc[i]));
        assert_string_equal(out, enc[i]);
        assert_int_equal(tw_base32_decode(back, sizeof back, enc[i], strlen(enc[i])), (int)n);
        assert_memory_equal(back, plain[i], n);
    }
    /* Output capacity is enforced. */
    uint8_t small[5];
    assert_int_equal(tw_base32_decode(small, 5, "mzxw6ytb", 8), 5);
    assert_int_equal(tw_base32_decode(small, 5, "mzxw6ytboi", 10), TW_EINVAL);
    assert_int_equal(tw_base32_decode(small, 0, "my", 2), TW_EINVAL);
}

static void test_hex(void **state)
{
    uint8_t in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
    char out[2 * sizeof in + 1];
    tw_hex_encode(out, in, sizeof in);
    assert_string_equal(out, "00017f80abff");
    uint8_t back[sizeof in];
    assert_int_equal(tw_hex_decode(back, sizeof back, out, strlen(out)), 0);
    assert_memory_equal(back, in, sizeof in);
    assert_int_equal(tw_hex_decode(back, sizeof back, "00017F80ABFF", 12), 0);
    assert_memory_equal(back, in, sizeof in);
    /* Wrong lengths: odd, short, long; and characters outside hex. */
    assert_int_equal(tw_hex_decode(back, sizeof back, "00017f80abf", 11), TW_EINVAL);
    assert_int_equal(tw_hex_decode(back, sizeof back, "00017f80ab", 10), TW_EINVAL);
    assert_int_equal(tw_hex_decode(back, sizeof back, "00017f80abff00", 14), TW_EINVAL);
    static const char *const bad[] = { "g0017f80abff", "00017f80abfG", " 0017f80abff",
                                       "00017f80ab f", "0x017f80abff", "00017f80ab\0f" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(tw_hex_decode(back, sizeof back, bad[i], 12), TW_EINVAL);
    /* Zero bytes. */
    tw_hex_encode(out, in, 0);
    assert_string_equal(out, "");
    assert_int_equal(tw_hex_decode(back, 0, "", 0), 0);
    assert_int_equal(tw_hex_decode(back, 0, "00", 2), TW_EINVAL);
    /* Boundary characters of each range. */
    uint8_t one;
    assert_int_equal(tw_hex_decode(&one, 1, "9a", 2), 0);
    assert_int_equal(one, 0x9a);
    assert_int_equal(tw_hex_decode(&one, 1, "fF", 2), 0);
    assert_int_equal(one, 0xff);
    assert_int_equal(tw_hex_decode(&one, 1, "/0", 2), TW_EINVAL);
    assert_int_equal(tw_hex_decode(&one, 1, ":0", 2), TW_EINVAL);
    assert_int_equal(tw_hex_decode(&one, 1, "`0", 2), TW_EINVAL);
    assert_int_equal(tw_hex_decode(&one, 1, "@0", 2), TW_EINVAL);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_wrong_prefix_and_length),
        cmocka_unit_test(test_bad_characters),
        cmocka_unit_test(test_flipped_character),
        cmocka_unit_test(test_padding_bits),
        cmocka_unit_test(test_base32_rfc4648),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
