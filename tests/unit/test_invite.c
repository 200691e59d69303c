/*
 * Tests of invitation codes (include/twin/invite.h).  A code must decode to
 * what was encoded, whatever whitespace and case it picked up on the way;
 * no changed bit may ever be accepted, and each kind of damage must be
 * refused with its own code: a changed bit alone is a typo (checksum), a
 * changed bit with the checksum made again is tampering (signature) or a
 * malformed code.  Blobs for the refusals are built here byte by byte from
 * the layout in PROTOCOL.md, not with the encoder, so the layout is tested
 * as well.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/invite.h"
#include "twin/keytext.h"
#include "twin/limits.h"

#define NOW      1796040000ull          /* 2026-11-30 12:00 UTC */
#define ADDR     "lewes-twinning.example.org:7700"
#define CTX      "twin-invite-v1:"

static uint8_t pk_a[32], sk_a[64], pk_b[32], sk_b[64];

static int setup(void **state)
{
    uint8_t seed[32];
    memset(seed, 0x11, sizeof seed);
    crypto_sign_seed_keypair(pk_a, sk_a, seed);
    memset(seed, 0x22, sizeof seed);
    crypto_sign_seed_keypair(pk_b, sk_b, seed);
    return 0;
}

static void make_invite(tw_invite *inv, size_t nroots, const char *addr, uint64_t expires)
{
    memset(inv, 0, sizeof *inv);
    inv->expires_s = expires;
    for (size_t i = 0; i < TW_NETKEY_LEN; i++) inv->netkey[i] = (uint8_t)(i * 7 + 3);
    memcpy(inv->inviter, pk_a, 32);
    for (size_t r = 0; r < nroots; r++)
        for (size_t i = 0; i < 32; i++) inv->roots[r][i] = (uint8_t)(r * 31 + i + 1);
    inv->nroots = nroots;
    snprintf(inv->addr, sizeof inv->addr, "%s", addr);
}

static int decode(tw_invite *inv, const char *text, uint64_t now, char *why, size_t whylen)
{
    return tw_invite_decode(inv, text, strlen(text), now, why, whylen);
}

/* ---- blobs built by hand ---- */

typedef struct blob { uint8_t p[TW_INVITE_BIN_MAX + 64]; size_t n; } blob;

static void put(blob *b, const void *p, size_t n) { memcpy(b->p + b->n, p, n); b->n += n; }
static void put8(blob *b, unsigned x) { b->p[b->n++] = (uint8_t)x; }

/* version, expiry, network key, inviter A, nroots roots (the count byte is
 * `count`), the address with the length byte `alen` (-1: its length). */
static void body(blob *b, unsigned version, uint64_t expires, unsigned count, size_t nroots,
                 const char *addr, int alen)
{
    tw_invite ref;
    make_invite(&ref, nroots < TW_CONF_ROOTS_MAX ? nroots : TW_CONF_ROOTS_MAX, ADDR, expires);
    b->n = 0;
    put8(b, version);
    for (int i = 7; i >= 0; i--) put8(b, (unsigned)(expires >> (8 * i)) & 0xff);
    put(b, ref.netkey, 32);
    put(b, pk_a, 32);
    put8(b, count);
    for (size_t r = 0; r < nroots; r++) {
        uint8_t k[32];
        memset(k, (int)(r + 1), sizeof k);
        put(b, k, 32);
    }
    put8(b, alen < 0 ? (unsigned)strlen(addr) : (unsigned)alen);
    put(b, addr, strlen(addr));
}

static void sign(blob *b, const uint8_t *sk)
{
    uint8_t msg[sizeof CTX - 1 + sizeof b->p];
    memcpy(msg, CTX, sizeof CTX - 1);
    memcpy(msg + sizeof CTX - 1, b->p, b->n);
    crypto_sign_detached(b->p + b->n, NULL, msg, sizeof CTX - 1 + b->n, sk);
    b->n += 64;
}

static void sum(blob *b)
{
    uint8_t h[16];
    crypto_generichash(h, sizeof h, b->p, b->n, NULL, 0);
    put(b, h, 2);
}

/* Recomputes the checksum of a whole blob in place. */
static void resum(blob *b)
{
    b->n -= 2;
    sum(b);
}

static char *text_of(const blob *b)
{
    char *t = malloc(4 + (b->n * 8 + 4) / 5 + 1);
    assert_non_null(t);
    memcpy(t, "twi_", 4);
    tw_base32_encode(t + 4, b->p, b->n);
    return t;
}

static int decode_blob(const blob *b, uint64_t now, char *why, size_t whylen)
{
    tw_invite inv;
    char *t = text_of(b);
    int rc = decode(&inv, t, now, why, whylen);
    free(t);
    return rc;
}

/* ---- cases ---- */

static void test_roundtrip(void **state)
{
    tw_invite in, out;
    char text[TW_INVITE_TEXT_MAX + 1], why[256];
    make_invite(&in, 3, ADDR, NOW + 3600);
    assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_a), 0);
    assert_memory_equal(text, "twi_", 4);
    size_t blob_len = 1 + 8 + 32 + 32 + 1 + 3 * 32 + 1 + strlen(ADDR) + 64 + 2;
    assert_int_equal(strlen(text), 4 + (blob_len * 8 + 4) / 5);
    printf("# a code with 3 roots and a %zu-byte address: %zu characters\n", strlen(ADDR), strlen(text));
    assert_int_equal(decode(&out, text, NOW, why, sizeof why), 0);
    assert_int_equal(out.expires_s, NOW + 3600);
    assert_memory_equal(out.netkey, in.netkey, 32);
    assert_memory_equal(out.inviter, pk_a, 32);
    assert_int_equal(out.nroots, 3);
    assert_memory_equal(out.roots, in.roots, 3 * 32);
    assert_string_equal(out.addr, ADDR);

    /* The hand-built layout gives the same text as the encoder. */
    blob b;
    body(&b, 1, NOW + 3600, 3, 0, ADDR, -1);
    b.n -= 1 + strlen(ADDR);
    put(&b, in.roots, 3 * 32);
    put8(&b, (unsigned)strlen(ADDR));
    put(&b, ADDR, strlen(ADDR));
    sign(&b, sk_a);
    sum(&b);
    char *t = text_of(&b);
    assert_string_equal(t, text);
    free(t);
}

static void test_whitespace_and_case(void **state)
{
    tw_invite in, out;
    char text[TW_INVITE_TEXT_MAX + 1], wrapped[2 * TW_INVITE_TEXT_MAX], why[256];
    make_invite(&in, 1, "[2001:db8::7]:7700", NOW + 60);
    assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_a), 0);
    /* As a mail client wraps it: CRLF every 40 characters, indented, with
     * blank lines around, and the prefix split. */
    size_t n = 0, len = strlen(text);
    n += (size_t)sprintf(wrapped + n, "\r\n  \t");
    for (size_t i = 0; i < len; i++) {
        if (i == 2 || (i && i % 40 == 0)) n += (size_t)sprintf(wrapped + n, "\r\n  ");
        wrapped[n++] = text[i];
    }
    n += (size_t)sprintf(wrapped + n, "\n\n ");
    assert_int_equal(tw_invite_decode(&out, wrapped, n, NOW, why, sizeof why), 0);
    assert_string_equal(out.addr, "[2001:db8::7]:7700");
    /* Upper case, as some forms turn it. */
    for (size_t i = 0; i < len; i++) if (text[i] >= 'a' && text[i] <= 'z') text[i] = (char)(text[i] - 32);
    assert_int_equal(decode(&out, text, NOW, why, sizeof why), 0);
    assert_memory_equal(out.netkey, in.netkey, 32);
}

/* Every single-bit change of the blob: alone it is caught by the checksum
 * (or, once in 65536, by what follows); with the checksum made again it is
 * caught by the version, the lengths, the address or the signature.  Never
 * accepted. */
static void test_each_bit_flipped(void **state)
{
    blob b;
    char why[256];
    body(&b, 1, NOW + 86400, 2, 2, ADDR, -1);
    sign(&b, sk_a);
    sum(&b);
    assert_int_equal(decode_blob(&b, NOW, why, sizeof why), 0);
    unsigned mistyped = 0, tampered = 0, malformed = 0, version = 0;
    for (size_t bit = 0; bit < b.n * 8; bit++) {
        blob c = b;
        c.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc = decode_blob(&c, NOW, why, sizeof why);
        assert_int_not_equal(rc, 0);
        if (rc == TW_EINVAL) {
            mistyped++;
            assert_non_null(strstr(why, "mistyped"));
        }
        if (bit / 8 >= b.n - 2) { assert_int_equal(rc, TW_EINVAL); continue; }
        resum(&c);
        rc = decode_blob(&c, NOW, why, sizeof why);
        assert_int_not_equal(rc, 0);
        size_t at = bit / 8;
        if (at == 0) { assert_int_equal(rc, TW_EVERSION); version++; }
        else if (at == 73 || at == 73 + 1 + 64) { assert_int_equal(rc, TW_EPROTO); malformed++; }
        else if (rc == TW_EPROTO) { assert_true(at > 73 + 1 + 64 && at < b.n - 66); malformed++; }
        else { assert_int_equal(rc, TW_EBADSIG); assert_non_null(strstr(why, "tampered")); tampered++; }
    }
    printf("# %zu bits: %u refused as mistyped alone; with the checksum made again %u tampered, "
           "%u malformed, %u unsupported version\n", b.n * 8, mistyped, tampered, malformed, version);
    assert_true(mistyped >= b.n * 8 - 8);
    assert_int_equal(version, 8);
}

static void test_other_signer(void **state)
{
    blob b;
    char why[256];
    body(&b, 1, NOW + 86400, 1, 1, ADDR, -1);
    sign(&b, sk_b);                    /* inviter field says A */
    sum(&b);
    assert_int_equal(decode_blob(&b, NOW, why, sizeof why), TW_EBADSIG);
    assert_non_null(strstr(why, "tampered"));
    /* An all-zero signature too. */
    body(&b, 1, NOW + 86400, 1, 1, ADDR, -1);
    memset(b.p + b.n, 0, 64);
    b.n += 64;
    sum(&b);
    assert_int_equal(decode_blob(&b, NOW, why, sizeof why), TW_EBADSIG);
}

static void test_expiry(void **state)
{
    tw_invite in, out;
    char text[TW_INVITE_TEXT_MAX + 1], why[256];
    make_invite(&in, 1, ADDR, NOW);
    assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_a), 0);
    /* Valid up to the second before its expiry, refused from it on. */
    assert_int_equal(decode(&out, text, NOW - 1, why, sizeof why), 0);
    assert_int_equal(decode(&out, text, NOW, why, sizeof why), TW_ESTALE);
    assert_string_equal(why, "the invitation expired on 2026-11-30 12:00 UTC; ask the inviter for a new one");
    assert_int_equal(decode(&out, text, UINT64_MAX, why, sizeof why), TW_ESTALE);
    /* A refusal leaves nothing of the code behind. */
    static const uint8_t zero[TW_NETKEY_LEN];
    assert_memory_equal(out.netkey, zero, sizeof zero);
    assert_int_equal(out.nroots, 0);
    /* Expiry 0 is expired at every time; UINT64_MAX at none. */
    make_invite(&in, 1, ADDR, 0);
    assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_a), 0);
    assert_int_equal(decode(&out, text, 0, why, sizeof why), TW_ESTALE);
    make_invite(&in, 1, ADDR, UINT64_MAX);
    assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_a), 0);
    assert_int_equal(decode(&out, text, UINT64_MAX - 1, why, sizeof why), 0);
    /* A life longer than TW_INVITE_TTL_MAX_S (plus the clock slack) is
     * refused, at its edge exactly. */
    uint64_t longest = (uint64_t)TW_INVITE_TTL_MAX_S + TW_INVITE_CLOCK_SLACK_S;
    make_invite(&in, 1, ADDR, NOW + longest);
    assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_a), 0);
    assert_int_equal(decode(&out, text, NOW, why, sizeof why), 0);
    make_invite(&in, 1, ADDR, NOW + longest + 1);
    assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_a), 0);
    assert_int_equal(decode(&out, text, NOW, why, sizeof why), TW_EPROTO);
    assert_non_null(strstr(why, "longer than the 90 days"));
}

/* The longest host name the peer rules allow (253 bytes in labels of at
 * most 63) with a one-digit port: 255 bytes, TW_INVITE_ADDR_MAX. */
static void longest_addr(char *a)
{
    size_t n = 0;
    for (int l = 0; l < 4; l++) {
        size_t ll = l < 3 ? 63 : 61;
        if (l) a[n++] = '.';
        for (size_t i = 0; i < ll; i++) a[n++] = (char)('a' + (i + (size_t)l) % 26);
    }
    strcpy(a + n, ":7");
}

static void test_max_roots_and_address(void **state)
{
    tw_invite in, out;
    char text[TW_INVITE_TEXT_MAX + 1], why[256], addr[TW_INVITE_ADDR_MAX + 2];
    longest_addr(addr);
    assert_int_equal(strlen(addr), TW_INVITE_ADDR_MAX);
    make_invite(&in, TW_CONF_ROOTS_MAX, addr, NOW + 1);
    assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_a), 0);
    assert_int_equal(strlen(text), TW_INVITE_TEXT_MAX);
    assert_int_equal(decode(&out, text, NOW, why, sizeof why), 0);
    assert_int_equal(out.nroots, TW_CONF_ROOTS_MAX);
    assert_memory_equal(out.roots, in.roots, sizeof in.roots);
    assert_string_equal(out.addr, addr);
    /* The buffer must hold the terminator too. */
    assert_int_equal(tw_invite_encode(text, TW_INVITE_TEXT_MAX, &in, sk_a), TW_ETOOBIG);

    /* One root too many, or none: the encoder refuses, and so does the
     * decoder when a code says so. */
    in.nroots = TW_CONF_ROOTS_MAX + 1;
    assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_a), TW_EINVAL);
    in.nroots = 0;
    assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_a), TW_EINVAL);
    blob b;
    body(&b, 1, NOW + 1, TW_CONF_ROOTS_MAX + 1, TW_CONF_ROOTS_MAX + 1, ADDR, -1);
    sign(&b, sk_a);
    sum(&b);
    assert_int_equal(decode_blob(&b, NOW, why, sizeof why), TW_EPROTO);
    assert_non_null(strstr(why, "33 root keys"));
    /* (An address long enough that the blob is not too short to be a code.) */
    body(&b, 1, NOW + 1, 0, 0, "lewes-and-district-twinning.example.org:7700", -1);
    sign(&b, sk_a);
    sum(&b);
    assert_int_equal(decode_blob(&b, NOW, why, sizeof why), TW_EPROTO);
    assert_non_null(strstr(why, "0 root keys"));

    /* An address filling the buffer without a terminator (one byte more
     * than the limit) is refused. */
    make_invite(&in, 1, ADDR, NOW + 1);
    memset(in.addr, 'a', sizeof in.addr);
    assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_a), TW_EINVAL);
}

static void test_bad_addresses(void **state)
{
    static const char *const bad[] = {
        "lewes.example.org", "lewes.example.org:", "lewes.example.org:0", "lewes.example.org:65536",
        "lewes example.org:7700", "-lewes.example.org:7700", "[::1:7700", "300.1.1.1:7700",
        "lewes.example.org:7700\n", "caf\xc3\xa9.example:7700", ":7700",
    };
    tw_invite in;
    char text[TW_INVITE_TEXT_MAX + 1], why[256];
    blob b;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        make_invite(&in, 1, bad[i], NOW + 1);
        assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_a), TW_EINVAL);
        body(&b, 1, NOW + 1, 1, 1, bad[i], -1);
        sign(&b, sk_a);
        sum(&b);
        assert_int_equal(decode_blob(&b, NOW, why, sizeof why), TW_EPROTO);
        assert_non_null(strstr(why, "HOST:PORT"));
    }
    static const char *const good[] = { "127.0.0.1:7700", "[::1]:1", "localhost:65535", "hub.bptn.example:7700" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        make_invite(&in, 1, good[i], NOW + 1);
        assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_a), 0);
    }
}

/* Lengths that disagree with the bytes: an address length past the end,
 * zero, or short of it (bytes left over); a blob ending in its roots. */
static void test_lengths(void **state)
{
    blob b;
    char why[256];
    body(&b, 1, NOW + 1, 1, 1, ADDR, (int)strlen(ADDR) + 1);
    sign(&b, sk_a);
    sum(&b);
    assert_int_equal(decode_blob(&b, NOW, why, sizeof why), TW_EPROTO);
    assert_non_null(strstr(why, "ends inside its address"));
    body(&b, 1, NOW + 1, 1, 1, ADDR, 0);
    sign(&b, sk_a);
    sum(&b);
    assert_int_equal(decode_blob(&b, NOW, why, sizeof why), TW_EPROTO);
    body(&b, 1, NOW + 1, 1, 1, ADDR, (int)strlen(ADDR) - 2);
    sign(&b, sk_a);
    sum(&b);
    assert_int_equal(decode_blob(&b, NOW, why, sizeof why), TW_EPROTO);
    assert_non_null(strstr(why, "2 bytes left over"));
    /* Says 5 roots, holds 3 and a short address. */
    body(&b, 1, NOW + 1, 5, 3, "a:1", -1);
    sign(&b, sk_a);
    sum(&b);
    assert_int_equal(decode_blob(&b, NOW, why, sizeof why), TW_EPROTO);
    assert_non_null(strstr(why, "ends inside its 5 root keys"));
}

static void test_version(void **state)
{
    blob b;
    char why[256];
    body(&b, 2, NOW + 1, 1, 1, ADDR, -1);
    sign(&b, sk_a);
    sum(&b);
    assert_int_equal(decode_blob(&b, NOW, why, sizeof why), TW_EVERSION);
    assert_non_null(strstr(why, "version 2"));
}

static void test_not_an_invitation(void **state)
{
    tw_invite in, out;
    char text[TW_INVITE_TEXT_MAX + 1], why[256], kt[TW_KEYTEXT_LEN + 1];
    assert_int_equal(decode(&out, "", NOW, why, sizeof why), TW_ETYPE);
    assert_int_equal(decode(&out, " \r\n\t", NOW, why, sizeof why), TW_ETYPE);
    assert_string_equal(why, "no invitation code given");
    assert_int_equal(decode(&out, "twi", NOW, why, sizeof why), TW_ETYPE);
    assert_int_equal(decode(&out, "hello, Bethlehem", NOW, why, sizeof why), TW_ETYPE);
    assert_non_null(strstr(why, "must start with twi_"));
    tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, pk_a);
    assert_int_equal(decode(&out, kt, NOW, why, sizeof why), TW_ETYPE);
    assert_non_null(strstr(why, "node key"));
    tw_keytext_encode(kt, TW_NETTEXT_PREFIX, pk_a);
    assert_int_equal(decode(&out, kt, NOW, why, sizeof why), TW_ETYPE);
    assert_non_null(strstr(why, "network key"));

    make_invite(&in, 1, ADDR, NOW + 1);
    assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_a), 0);
    /* A character outside the alphabet, wherever it is. */
    static const char badc[] = { '0', '1', '8', '9', '-', '=', '\x7f', '\0', '\xc3' };
    for (size_t i = 0; i < sizeof badc; i++) {
        char t[TW_INVITE_TEXT_MAX + 1];
        strcpy(t, text);
        t[10 + i] = badc[i];
        assert_int_equal(tw_invite_decode(&out, t, strlen(text), NOW, why, sizeof why), TW_ETYPE);
        assert_non_null(strstr(why, "is not a letter or a digit"));
    }
    /* Longer than any code, by text and by input. */
    char *big = malloc(TW_INVITE_INPUT_MAX + 2);
    assert_non_null(big);
    memset(big, 'a', TW_INVITE_INPUT_MAX + 1);
    memcpy(big, "twi_", 4);
    big[TW_INVITE_INPUT_MAX + 1] = 0;
    assert_int_equal(tw_invite_decode(&out, big, TW_INVITE_TEXT_MAX + 1, NOW, why, sizeof why), TW_ETYPE);
    assert_non_null(strstr(why, "longer than 2276 characters"));
    assert_int_equal(tw_invite_decode(&out, big, TW_INVITE_INPUT_MAX + 1, NOW, why, sizeof why), TW_ETYPE);
    /* A valid code padded with whitespace to exactly the input limit is read. */
    memset(big, ' ', TW_INVITE_INPUT_MAX);
    memcpy(big + 100, text, strlen(text));
    assert_int_equal(tw_invite_decode(&out, big, TW_INVITE_INPUT_MAX, NOW, why, sizeof why), 0);
    free(big);
}

/* Every cut of a code, and a character more or changed, are refused. */
static void test_truncated_and_mistyped(void **state)
{
    tw_invite in, out;
    char text[TW_INVITE_TEXT_MAX + 2], why[256];
    make_invite(&in, 1, ADDR, NOW + 1);
    assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_a), 0);
    size_t len = strlen(text);
    unsigned incomplete = 0;
    for (size_t cut = 0; cut < len; cut++) {
        int rc = tw_invite_decode(&out, text, cut, NOW, why, sizeof why);
        assert_int_not_equal(rc, 0);
        if (cut > 4) assert_true(rc == TW_ETRUNC || rc == TW_EINVAL);
        if (rc == TW_ETRUNC) { incomplete++; assert_non_null(strstr(why, "incomplete")); }
    }
    assert_true(incomplete > 0);
    /* One character more at the end. */
    text[len] = 'a';
    text[len + 1] = 0;
    assert_int_equal(decode(&out, text, NOW, why, sizeof why), TW_EINVAL);
    text[len] = 0;
    /* Each character changed to its neighbour in the alphabet. */
    unsigned accepted = 0;
    for (size_t i = 4; i < len; i++) {
        char saved = text[i];
        text[i] = saved == 'z' ? '2' : saved == '7' ? 'a' : (char)(saved + 1);
        int rc = decode(&out, text, NOW, why, sizeof why);
        accepted += rc == 0;
        assert_true(rc == TW_EINVAL || rc == TW_EBADSIG || rc == TW_EPROTO || rc == TW_EVERSION);
        text[i] = saved;
    }
    assert_int_equal(accepted, 0);
}

static void test_encode_checks(void **state)
{
    tw_invite in;
    char text[TW_INVITE_TEXT_MAX + 1];
    make_invite(&in, 1, ADDR, NOW + 1);
    assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_b), TW_EKEY);
    assert_int_equal(tw_invite_encode(text, 10, &in, sk_a), TW_ETOOBIG);
    in.addr[0] = 0;
    assert_int_equal(tw_invite_encode(text, sizeof text, &in, sk_a), TW_EINVAL);
}

static void test_time_text(void **state)
{
    char t[48];
    tw_invite_time(t, sizeof t, NOW);
    assert_string_equal(t, "2026-11-30 12:00 UTC");
    tw_invite_time(t, sizeof t, 0);
    assert_string_equal(t, "1970-01-01 00:00 UTC");
    tw_invite_time(t, sizeof t, UINT64_MAX);
    assert_true(strlen(t) > 0);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_whitespace_and_case),
        cmocka_unit_test(test_each_bit_flipped),
        cmocka_unit_test(test_other_signer),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_max_roots_and_address),
        cmocka_unit_test(test_bad_addresses),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_not_an_invitation),
        cmocka_unit_test(test_truncated_and_mistyped),
        cmocka_unit_test(test_encode_checks),
        cmocka_unit_test(test_time_text),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
