/*
 * Tests of identity backup files (include/twin/keyfile.h).  A file must
 * open with its passphrase and with nothing else, any changed or missing
 * byte must be refused, and a hostile header must be refused before any
 * memory is spent on key derivation.
 *
 * Most cases use libsodium's smallest Argon2id parameters so that the 138
 * one-byte changes stay quick; one case uses the parameters export writes
 * and prints the time of one derivation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/keyfile.h"
#include "twin/limits.h"

#define OPS_LOW 1u
#define MEM_LOW (8u << 10)
#define PASS "Ramallah and Lewes, 1997"

static void fill(uint8_t *p, size_t n, uint8_t salt)
{
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 29 + salt);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A file with the low parameters; key gets its file key. */
static void make_file(uint8_t file[TW_KEYFILE_SIZE], uint8_t seed[32], uint8_t key[32])
{
    uint8_t salt[TW_KEYFILE_SALT_LEN], nonce[TW_KEYFILE_NONCE_LEN];
    fill(seed, 32, 1);
    fill(salt, sizeof salt, 2);
    fill(nonce, sizeof nonce, 3);
    assert_int_equal(tw_keyfile_derive(key, PASS, strlen(PASS), salt, OPS_LOW, MEM_LOW), 0);
    assert_int_equal(tw_keyfile_seal(file, key, seed, salt, OPS_LOW, MEM_LOW, nonce), 0);
}

static void test_roundtrip(void **state)
{
    uint8_t file[TW_KEYFILE_SIZE], seed[32], key[32], back[32], pk[32], sk[64];
    make_file(file, seed, key);
    memset(back, 0, sizeof back);
    assert_int_equal(tw_keyfile_unlock(back, file, sizeof file, PASS, strlen(PASS)), 0);
    assert_memory_equal(back, seed, 32);
    /* The public key in clear is the seed's. */
    tw_keyfile kf;
    assert_int_equal(tw_keyfile_decode(&kf, file, sizeof file), 0);
    crypto_sign_seed_keypair(pk, sk, seed);
    assert_memory_equal(kf.pk, pk, 32);
    assert_int_equal(kf.opslimit, OPS_LOW);
    assert_int_equal(kf.memlimit, MEM_LOW);
    /* No byte of the seed appears in clear. */
    for (size_t i = 0; i + 8 <= sizeof file; i++) assert_true(memcmp(file + i, seed, 8) != 0);
}

static void test_layout(void **state)
{
    uint8_t file[TW_KEYFILE_SIZE], seed[32], key[32];
    make_file(file, seed, key);
    assert_memory_equal(file, "TWKEYBAK", 8);
    assert_int_equal(file[8], 1);
    assert_int_equal(file[9], 0);
    static const uint8_t ops[4] = { 0, 0, 0, 1 }, mem[4] = { 0, 0, 0, 8 };
    assert_memory_equal(file + 10, ops, 4);
    assert_memory_equal(file + 14, mem, 4);
    uint8_t salt[16], nonce[24];
    fill(salt, sizeof salt, 2);
    fill(nonce, sizeof nonce, 3);
    assert_memory_equal(file + 18, salt, 16);
    assert_memory_equal(file + 34, nonce, 24);
}

/* The parameters export writes; prints the time of one derivation. */
static void test_export_params(void **state)
{
    uint8_t salt[TW_KEYFILE_SALT_LEN], nonce[TW_KEYFILE_NONCE_LEN], seed[32], key[32], back[32];
    uint8_t file[TW_KEYFILE_SIZE];
    fill(seed, 32, 7);
    fill(salt, sizeof salt, 8);
    fill(nonce, sizeof nonce, 9);
    double t0 = now_s();
    assert_int_equal(tw_keyfile_derive(key, PASS, strlen(PASS), salt, TW_KEYFILE_OPSLIMIT,
                                       TW_KEYFILE_MEMLIMIT), 0);
    double t1 = now_s();
    assert_int_equal(tw_keyfile_seal(file, key, seed, salt, TW_KEYFILE_OPSLIMIT, TW_KEYFILE_MEMLIMIT, nonce), 0);
    assert_int_equal(tw_keyfile_unlock(back, file, sizeof file, PASS, strlen(PASS)), 0);
    assert_memory_equal(back, seed, 32);
    printf("# one Argon2id derivation, opslimit %u, memlimit %u MiB: %.3f s\n",
           TW_KEYFILE_OPSLIMIT, TW_KEYFILE_MEMLIMIT >> 20, t1 - t0);
}

static void test_wrong_passphrase(void **state)
{
    uint8_t file[TW_KEYFILE_SIZE], seed[32], key[32], back[32];
    make_file(file, seed, key);
    static const char *const wrong[] = { "Ramallah and Lewes, 1998", "", "ramallah and lewes, 1997",
                                         "Ramallah and Lewes, 1997 " };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        memset(back, 0xAA, sizeof back);
        assert_int_equal(tw_keyfile_unlock(back, file, sizeof file, wrong[i], strlen(wrong[i])), TW_EDECRYPT);
        for (int j = 0; j < 32; j++) assert_int_equal(back[j], 0);
    }
}

/* Every byte changed, two ways: the file is refused and no seed comes out. */
static void test_each_byte_flipped(void **state)
{
    uint8_t file[TW_KEYFILE_SIZE], seed[32], key[32], back[32];
    static const uint8_t masks[] = { 0x01, 0x80 };
    make_file(file, seed, key);
    for (size_t m = 0; m < sizeof masks; m++)
        for (size_t i = 0; i < sizeof file; i++) {
            uint8_t bad[TW_KEYFILE_SIZE];
            memcpy(bad, file, sizeof bad);
            bad[i] ^= masks[m];
            memset(back, 0xAA, sizeof back);
            int rc = tw_keyfile_unlock(back, bad, sizeof bad, PASS, strlen(PASS));
            if (rc == 0) fail_msg("byte %zu ^ 0x%02x accepted", i, masks[m]);
            for (int j = 0; j < 32; j++) assert_int_equal(back[j], 0);
            /* Header fields are associated data: even with the original
             * file key (as if the parameters had not changed the derived
             * key), a change past the magic and version fails to open. */
            tw_keyfile kf;
            if (i >= 10 && tw_keyfile_decode(&kf, bad, sizeof bad) == 0)
                assert_int_equal(tw_keyfile_open(back, &kf, key), TW_EDECRYPT);
        }
}

static void test_truncated_and_long(void **state)
{
    uint8_t file[TW_KEYFILE_SIZE + 1], seed[32], key[32], back[32];
    tw_keyfile kf;
    make_file(file, seed, key);
    for (size_t n = 0; n < TW_KEYFILE_SIZE; n++) {
        assert_int_equal(tw_keyfile_decode(&kf, file, n), TW_ETRUNC);
        assert_int_equal(tw_keyfile_unlock(back, file, n, PASS, strlen(PASS)), TW_ETRUNC);
    }
    file[TW_KEYFILE_SIZE] = 0;
    assert_int_equal(tw_keyfile_decode(&kf, file, TW_KEYFILE_SIZE + 1), TW_EINVAL);
}

static void test_magic_and_version(void **state)
{
    uint8_t file[TW_KEYFILE_SIZE], seed[32], key[32];
    tw_keyfile kf;
    make_file(file, seed, key);
    uint8_t bad[TW_KEYFILE_SIZE];
    memcpy(bad, file, sizeof bad);
    bad[8] = 2;
    assert_int_equal(tw_keyfile_decode(&kf, bad, sizeof bad), TW_EVERSION);
    /* A later version may be longer or shorter: still named a version. */
    assert_int_equal(tw_keyfile_decode(&kf, bad, 9), TW_EVERSION);
    assert_int_equal(tw_keyfile_decode(&kf, bad, sizeof bad - 1), TW_EVERSION);
    bad[8] = 0;
    assert_int_equal(tw_keyfile_decode(&kf, bad, sizeof bad), TW_EVERSION);
    memcpy(bad, file, sizeof bad);
    memcpy(bad, "TWBUNDLE", 8);
    assert_int_equal(tw_keyfile_decode(&kf, bad, sizeof bad), TW_ETYPE);
    assert_int_equal(tw_keyfile_decode(&kf, (const uint8_t *)"# twind", 7), TW_ETYPE);
    assert_int_equal(tw_keyfile_decode(&kf, (const uint8_t *)"TWKEY", 5), TW_ETRUNC);
    memcpy(bad, file, sizeof bad);
    bad[9] = 1;
    assert_int_equal(tw_keyfile_decode(&kf, bad, sizeof bad), TW_EINVAL);
}

static void set_params(uint8_t *f, uint32_t ops, uint32_t mem_kib)
{
    for (int i = 0; i < 4; i++) {
        f[10 + i] = (uint8_t)(ops >> (24 - 8 * i));
        f[14 + i] = (uint8_t)(mem_kib >> (24 - 8 * i));
    }
}

/* A hostile header asking for huge work is refused before derivation: the
 * refusal is immediate, not after allocating gigabytes. */
static void test_params_out_of_range(void **state)
{
    uint8_t file[TW_KEYFILE_SIZE], seed[32], key[32], back[32];
    tw_keyfile kf;
    make_file(file, seed, key);
    static const struct { uint32_t ops, mem_kib; int rc; } cases[] = {
        { 0, 8, TW_ETOOBIG },
        { TW_KEYFILE_OPSLIMIT_MAX + 1, 8, TW_ETOOBIG },
        { 0xFFFFFFFFu, 8, TW_ETOOBIG },
        { 1, 7, TW_ETOOBIG },
        { 1, 0, TW_ETOOBIG },
        { 1, (TW_KEYFILE_MEMLIMIT_MAX >> 10) + 1, TW_ETOOBIG },
        { 1, 0xFFFFFFFFu, TW_ETOOBIG },
        { TW_KEYFILE_OPSLIMIT_MAX, 0x00400000u, TW_ETOOBIG },   /* 4 GiB */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t bad[TW_KEYFILE_SIZE];
        memcpy(bad, file, sizeof bad);
        set_params(bad, cases[i].ops, cases[i].mem_kib);
        assert_int_equal(tw_keyfile_decode(&kf, bad, sizeof bad), cases[i].rc);
        double t0 = now_s();
        assert_int_equal(tw_keyfile_unlock(back, bad, sizeof bad, PASS, strlen(PASS)), cases[i].rc);
        assert_true(now_s() - t0 < 0.05);
    }
    /* The bounds themselves are accepted by the decoder. */
    uint8_t ok[TW_KEYFILE_SIZE];
    memcpy(ok, file, sizeof ok);
    set_params(ok, TW_KEYFILE_OPSLIMIT_MAX, TW_KEYFILE_MEMLIMIT_MAX >> 10);
    assert_int_equal(tw_keyfile_decode(&kf, ok, sizeof ok), 0);
    assert_int_equal(kf.memlimit, TW_KEYFILE_MEMLIMIT_MAX);
    /* The writer and the derivation keep to the same bounds. */
    uint8_t salt[16] = { 0 }, nonce[24] = { 0 };
    assert_int_equal(tw_keyfile_params_check(TW_KEYFILE_OPSLIMIT, TW_KEYFILE_MEMLIMIT), 0);
    assert_int_equal(tw_keyfile_params_check(1, MEM_LOW + 1), TW_EINVAL);
    assert_int_equal(tw_keyfile_derive(key, PASS, strlen(PASS), salt, 1, (uint64_t)TW_KEYFILE_MEMLIMIT_MAX + 1024),
                     TW_ETOOBIG);
    assert_int_equal(tw_keyfile_derive(key, PASS, TW_KEYFILE_PASS_MAX + 1, salt, 1, MEM_LOW), TW_ETOOBIG);
    assert_int_equal(tw_keyfile_seal(ok, key, seed, salt, TW_KEYFILE_OPSLIMIT_MAX + 1, MEM_LOW, nonce), TW_ETOOBIG);
}

/* A file whose seal opens but whose public key in clear is another's (made
 * by a faulty or hostile writer holding the passphrase) is refused. */
static void test_public_key_mismatch(void **state)
{
    uint8_t file[TW_KEYFILE_SIZE], seed[32], key[32], back[32];
    make_file(file, seed, key);
    file[58] ^= 1;
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt(file + TW_KEYFILE_HEAD_LEN, &clen, seed, 32, file,
                                               TW_KEYFILE_HEAD_LEN, NULL, file + 34, key);
    memset(back, 0xAA, sizeof back);
    assert_int_equal(tw_keyfile_unlock(back, file, sizeof file, PASS, strlen(PASS)), TW_EKEY);
    for (int j = 0; j < 32; j++) assert_int_equal(back[j], 0);
}

/* The same seed, passphrase and parameters with another salt give another
 * file key; another nonce gives other ciphertext. */
static void test_salt_and_nonce_matter(void **state)
{
    uint8_t s1[16], s2[16], k1[32], k2[32], n1[24], n2[24], seed[32], f1[TW_KEYFILE_SIZE], f2[TW_KEYFILE_SIZE];
    fill(s1, 16, 1);
    fill(s2, 16, 2);
    fill(n1, 24, 3);
    fill(n2, 24, 4);
    fill(seed, 32, 5);
    assert_int_equal(tw_keyfile_derive(k1, PASS, strlen(PASS), s1, OPS_LOW, MEM_LOW), 0);
    assert_int_equal(tw_keyfile_derive(k2, PASS, strlen(PASS), s2, OPS_LOW, MEM_LOW), 0);
    assert_true(memcmp(k1, k2, 32) != 0);
    assert_int_equal(tw_keyfile_seal(f1, k1, seed, s1, OPS_LOW, MEM_LOW, n1), 0);
    assert_int_equal(tw_keyfile_seal(f2, k1, seed, s1, OPS_LOW, MEM_LOW, n2), 0);
    assert_true(memcmp(f1 + TW_KEYFILE_HEAD_LEN, f2 + TW_KEYFILE_HEAD_LEN, 32) != 0);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_export_params),
        cmocka_unit_test(test_wrong_passphrase),
        cmocka_unit_test(test_each_byte_flipped),
        cmocka_unit_test(test_truncated_and_long),
        cmocka_unit_test(test_magic_and_version),
        cmocka_unit_test(test_params_out_of_range),
        cmocka_unit_test(test_public_key_mismatch),
        cmocka_unit_test(test_salt_and_nonce_matter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
