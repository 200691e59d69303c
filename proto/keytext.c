/* Key text forms and hex/base32 helpers (include/twin/keytext.h). */
#include <string.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/keytext.h"

static const char B32[] = "abcdefghijklmnopqrstuvwxyz234567";

size_t tw_base32_encode(char *out, const uint8_t *in, size_t n)
{
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) { out[o++] = B32[(acc >> (bits - 5)) & 31]; bits -= 5; }
    }
    if (bits) out[o++] = B32[(acc << (5 - bits)) & 31];
    out[o] = 0;
    return o;
}

int tw_base32_decode(uint8_t *out, size_t cap, const char *in, size_t n)
{
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = in[i] ? strchr(B32, in[i]) : NULL;
        if (!p) return TW_EINVAL;
        acc = (acc << 5) | (uint32_t)(p - B32);
        bits += 5;
        if (bits >= 8) {
            if (o >= cap) return TW_EINVAL;
            out[o++] = (uint8_t)(acc >> (bits - 8));
            bits -= 8;
        }
    }
    /* Leftover bits must be zero padding, or the text has two spellings. */
    if (bits >= 5 || (acc & ((1u << bits) - 1))) return TW_EINVAL;
    return (int)o;
}

static void checksum(uint8_t out[2], const char *prefix, const uint8_t key[32])
{
    crypto_generichash_state st;
    uint8_t h[16];
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const uint8_t *)prefix, strlen(prefix));
    crypto_generichash_update(&st, key, 32);
    crypto_generichash_final(&st, h, sizeof h);
    out[0] = h[0];
    out[1] = h[1];
}

void tw_keytext_encode(char *out, const char *prefix, const uint8_t key[32])
{
    uint8_t raw[34];
    memcpy(raw, key, 32);
    checksum(raw + 32, prefix, key);
    size_t pl = strlen(prefix);
    memcpy(out, prefix, pl);
    tw_base32_encode(out + pl, raw, sizeof raw);
}

int tw_keytext_decode(uint8_t key[32], const char *prefix, const char *text, size_t len)
{
    size_t pl = strlen(prefix);
    if (len != TW_KEYTEXT_LEN || memcmp(text, prefix, pl) != 0) return TW_EINVAL;
    uint8_t raw[34], sum[2];
    if (tw_base32_decode(raw, sizeof raw, text + pl, len - pl) != 34) return TW_EINVAL;
    checksum(sum, prefix, raw);
    if (raw[32] != sum[0] || raw[33] != sum[1]) return TW_EINVAL;
    memcpy(key, raw, 32);
    return 0;
}

void tw_key_fingerprint(char *out, const uint8_t key[32])
{
    char t[TW_KEYTEXT_LEN + 1];
    tw_keytext_encode(t, TW_KEYTEXT_PREFIX, key);
    memcpy(out, t + strlen(TW_KEYTEXT_PREFIX), TW_FPR_CHARS);
    out[TW_FPR_CHARS] = 0;
}

void tw_hex_encode(char *out, const uint8_t *in, size_t n)
{
    static const char H[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) { out[2 * i] = H[in[i] >> 4]; out[2 * i + 1] = H[in[i] & 15]; }
    out[2 * n] = 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int tw_hex_decode(uint8_t *out, size_t n, const char *in, size_t len)
{
    if (len != 2 * n) return TW_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int h = hexval(in[2 * i]), l = hexval(in[2 * i + 1]);
        if (h < 0 || l < 0) return TW_EINVAL;
        out[i] = (uint8_t)(h << 4 | l);
    }
    return 0;
}
