/*
 * Invitation codes (include/twin/invite.h; proto/PROTOCOL.md, "Invitation
 * codes").
 *
 * Decoding checks, in order, what can be told without trusting anything and
 * then what needs more: the text's shape (prefix, alphabet, length), the
 * checksum, the version, each declared count and length against the bytes
 * that remain, the address, the signature, and last the expiry.  So each
 * refusal names the first thing that is wrong, and a code changed by hand
 * is caught by the checksum before anyone is told it was tampered with.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/invite.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "twin/mp.h"
#include "twin/schema.h"

#define PREFIX_LEN   (sizeof TW_INVITE_PREFIX - 1)
#define CONTEXT_LEN  (sizeof TW_INVITE_CONTEXT - 1)
#define HEAD_LEN     (1u + 8u + TW_NETKEY_LEN + TW_KEY_LEN)   /* version .. inviter */
#define TAIL_LEN     (TW_INVITE_SIG_LEN + TW_INVITE_SUM_LEN)
#define B32_LEN(n)   (((n) * 8u + 4u) / 5u)

_Static_assert(TW_INVITE_TEXT_MAX == PREFIX_LEN + B32_LEN(TW_INVITE_BIN_MAX),
               "TW_INVITE_TEXT_MAX is the text of the largest blob");
_Static_assert(TW_INVITE_ADDR_MAX <= 255u, "the address length is one byte");
_Static_assert(TW_CONF_ROOTS_MAX <= 255u, "the root count is one byte");

#define WHY(code, ...) do { if (whylen) snprintf(why, whylen, __VA_ARGS__); rc = (code); goto fail; } while (0)

static void checksum(uint8_t out[TW_INVITE_SUM_LEN], const uint8_t *p, size_t n)
{
    uint8_t h[crypto_generichash_BYTES_MIN];
    crypto_generichash(h, sizeof h, p, n, NULL, 0);
    memcpy(out, h, TW_INVITE_SUM_LEN);
}

/* The signed message: the context, then the blob up to the signature. */
static size_t signed_msg(uint8_t *msg, const uint8_t *blob, size_t n)
{
    memcpy(msg, TW_INVITE_CONTEXT, CONTEXT_LEN);
    memcpy(msg + CONTEXT_LEN, blob, n);
    return CONTEXT_LEN + n;
}

/* An address as a peer record's: the schema's HOST:PORT checker is reused
 * through a one-address peer body, so the two can never disagree. */
static bool addr_ok(const char *s, size_t n)
{
    if (n == 0 || n > TW_INVITE_ADDR_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) return false;
    tw_val item = tw_v_str(s, n);
    tw_val list = { .type = TW_ARR, .len = 1, .v.arr = &item };
    tw_kv kv = { tw_v_cstr("addresses"), list };
    tw_val body = { .type = TW_MAP, .len = 1, .v.map = &kv };
    char err[8];
    return tw_schema_validate("peer", 4, &body, err, sizeof err) == 0;
}

static void put_u64(uint8_t *p, uint64_t x)
{
    for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)x; x >>= 8; }
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x = x << 8 | p[i];
    return x;
}

void tw_invite_time(char *out, size_t outlen, uint64_t s)
{
    struct tm tm;
    time_t t = (time_t)s;
    if ((uint64_t)t != s || !gmtime_r(&t, &tm) || strftime(out, outlen, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(out, outlen, "second %llu of the Unix epoch", (unsigned long long)s);
}

int tw_invite_encode(char *out, size_t cap, const tw_invite *inv, const uint8_t sk[TW_SECKEY_LEN])
{
    uint8_t blob[TW_INVITE_BIN_MAX], msg[CONTEXT_LEN + TW_INVITE_BIN_MAX];
    size_t alen = strnlen(inv->addr, sizeof inv->addr), n = 0;
    /* A libsodium Ed25519 secret key is the seed followed by the public key. */
    if (memcmp(sk + 32, inv->inviter, TW_KEY_LEN) != 0) return TW_EKEY;
    if (inv->nroots == 0 || inv->nroots > TW_CONF_ROOTS_MAX || !addr_ok(inv->addr, alen)) return TW_EINVAL;
    blob[n++] = TW_INVITE_VERSION;
    put_u64(blob + n, inv->expires_s);
    n += 8;
    memcpy(blob + n, inv->netkey, TW_NETKEY_LEN);
    n += TW_NETKEY_LEN;
    memcpy(blob + n, inv->inviter, TW_KEY_LEN);
    n += TW_KEY_LEN;
    blob[n++] = (uint8_t)inv->nroots;
    memcpy(blob + n, inv->roots, inv->nroots * TW_KEY_LEN);
    n += inv->nroots * TW_KEY_LEN;
    blob[n++] = (uint8_t)alen;
    memcpy(blob + n, inv->addr, alen);
    n += alen;
    crypto_sign_detached(blob + n, NULL, msg, signed_msg(msg, blob, n), sk);
    n += TW_INVITE_SIG_LEN;
    checksum(blob + n, blob, n);
    n += TW_INVITE_SUM_LEN;
    int rc = 0;
    if (cap < PREFIX_LEN + B32_LEN(n) + 1) rc = TW_ETOOBIG;
    else {
        memcpy(out, TW_INVITE_PREFIX, PREFIX_LEN);
        tw_base32_encode(out + PREFIX_LEN, blob, n);
    }
    /* The blob holds the network key, which is a secret of the members. */
    sodium_memzero(blob, sizeof blob);
    sodium_memzero(msg, sizeof msg);
    return rc;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_b32(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
}

int tw_invite_decode(tw_invite *inv, const char *text, size_t len, uint64_t now_s,
                     char *why, size_t whylen)
{
    char t[TW_INVITE_TEXT_MAX];
    uint8_t blob[TW_INVITE_BIN_MAX], msg[CONTEXT_LEN + TW_INVITE_BIN_MAX], sum[TW_INVITE_SUM_LEN];
    size_t tn = 0;
    int rc;
    memset(inv, 0, sizeof *inv);
    if (whylen) why[0] = 0;
    if (len > TW_INVITE_INPUT_MAX)
        WHY(TW_ETYPE, "not an invitation code: longer than %u bytes", TW_INVITE_INPUT_MAX);
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (is_space(c)) continue;
        if (tn == sizeof t)
            WHY(TW_ETYPE, "not an invitation code: longer than %u characters", TW_INVITE_TEXT_MAX);
        t[tn++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    if (tn == 0) WHY(TW_ETYPE, "no invitation code given");
    if (tn < PREFIX_LEN || memcmp(t, TW_INVITE_PREFIX, PREFIX_LEN) != 0) {
        if (tn >= 4 && memcmp(t, TW_KEYTEXT_PREFIX, 4) == 0)
            WHY(TW_ETYPE, "not an invitation code: that is a node key (%s...); an invitation starts with %s",
                TW_KEYTEXT_PREFIX, TW_INVITE_PREFIX);
        if (tn >= 4 && memcmp(t, TW_NETTEXT_PREFIX, 4) == 0)
            WHY(TW_ETYPE, "not an invitation code: that is a network key (%s...); an invitation starts with %s",
                TW_NETTEXT_PREFIX, TW_INVITE_PREFIX);
        WHY(TW_ETYPE, "not an invitation code: it must start with %s", TW_INVITE_PREFIX);
    }
    for (size_t i = PREFIX_LEN; i < tn; i++) {
        unsigned char c = (unsigned char)t[i];
        if (is_b32((char)c)) continue;
        if (c > 0x20 && c < 0x7f)
            WHY(TW_ETYPE, "not an invitation code: character %zu, '%c', is not a letter or a digit from 2 to 7",
                i + 1, c);
        WHY(TW_ETYPE, "not an invitation code: character %zu (byte 0x%02x) is not a letter or a digit from 2 to 7",
            i + 1, c);
    }
    size_t chars = tn - PREFIX_LEN, n = chars * 5u / 8u;
    if (n < TW_INVITE_BIN_MIN)
        WHY(TW_ETRUNC, "the invitation code is incomplete: %zu characters where a code has at least %u; copy all of it",
            tn, (unsigned)(PREFIX_LEN + B32_LEN(TW_INVITE_BIN_MIN)));
    /* A character dropped or added leaves bits that cannot be padding. */
    if (tw_base32_decode(blob, sizeof blob, t + PREFIX_LEN, chars) != (int)n)
        WHY(TW_EINVAL, "the invitation code is mistyped or incomplete (a character is missing or extra); copy it again, whole");
    checksum(sum, blob, n - TW_INVITE_SUM_LEN);
    if (memcmp(sum, blob + n - TW_INVITE_SUM_LEN, TW_INVITE_SUM_LEN) != 0)
        WHY(TW_EINVAL, "the invitation code is mistyped or incomplete (its checksum does not match); copy it again, whole");
    if (blob[0] != TW_INVITE_VERSION)
        WHY(TW_EVERSION, "unsupported invitation version %u (this version reads %u); the inviter's twin is newer",
            blob[0], TW_INVITE_VERSION);

    /* Every length is checked against what remains before the signature. */
    size_t end = n - TAIL_LEN, off = HEAD_LEN;
    size_t nroots = blob[off++];
    if (nroots == 0 || nroots > TW_CONF_ROOTS_MAX)
        WHY(TW_EPROTO, "malformed invitation code: %zu root keys (1 to %u allowed)", nroots, TW_CONF_ROOTS_MAX);
    if (nroots * TW_KEY_LEN + 1 > end - off)
        WHY(TW_EPROTO, "malformed invitation code: it ends inside its %zu root keys", nroots);
    memcpy(inv->roots, blob + off, nroots * TW_KEY_LEN);
    off += nroots * TW_KEY_LEN;
    size_t alen = blob[off++];
    if (alen == 0) WHY(TW_EPROTO, "malformed invitation code: the address is empty");
    if (alen > end - off) WHY(TW_EPROTO, "malformed invitation code: it ends inside its address");
    if (off + alen < end)
        WHY(TW_EPROTO, "malformed invitation code: %zu bytes left over after the address", end - off - alen);
    if (!addr_ok((const char *)blob + off, alen))
        WHY(TW_EPROTO, "malformed invitation code: its address is not HOST:PORT");
    memcpy(inv->addr, blob + off, alen);
    inv->addr[alen] = 0;

    memcpy(inv->inviter, blob + 9 + TW_NETKEY_LEN, TW_KEY_LEN);
    if (crypto_sign_verify_detached(blob + end, msg, signed_msg(msg, blob, end), inv->inviter) != 0)
        WHY(TW_EBADSIG, "the invitation code has been tampered with: the inviter's signature does not verify");
    inv->expires_s = get_u64(blob + 1);
    if (now_s >= inv->expires_s) {
        char when[48];
        tw_invite_time(when, sizeof when, inv->expires_s);
        WHY(TW_ESTALE, "the invitation expired on %s; ask the inviter for a new one", when);
    }
    /* No honest inviter makes a code that lives longer than the limit
     * (allowing for the two clocks to differ): one that claims to is
     * refused rather than trusted for years. */
    if (inv->expires_s - now_s > (uint64_t)TW_INVITE_TTL_MAX_S + TW_INVITE_CLOCK_SLACK_S) {
        char when[48];
        tw_invite_time(when, sizeof when, inv->expires_s);
        WHY(TW_EPROTO, "the invitation claims to last until %s, longer than the %u days a code may live; "
            "check this machine's clock, or ask the inviter for a new code", when, TW_INVITE_TTL_MAX_S / 86400u);
    }
    memcpy(inv->netkey, blob + 9, TW_NETKEY_LEN);
    inv->nroots = nroots;
    rc = 0;
    goto done;
fail:
    sodium_memzero(inv, sizeof *inv);
done:
    sodium_memzero(t, sizeof t);
    sodium_memzero(blob, sizeof blob);
    sodium_memzero(msg, sizeof msg);
    return rc;
}
