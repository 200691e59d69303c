/*
 * Fuzz target: the invitation code decoder (proto/invite.c).  A code comes
 * from an email or a chat message: hostile input.  Decoding must never
 * crash, and what it accepts must be whole.
 *
 * The first byte picks how the rest is used.  Even: the rest is the text
 * of a code, decoded as given.  Odd: the rest is the start of a blob, up to
 * its signature; the target puts its own key in the inviter's place, signs
 * and adds the checksum, so that the fuzzer gets past both and reaches the
 * lengths, counts and address.  Such a code, once accepted, must encode
 * again to exactly the same text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/invite.h"
#include "twin/keytext.h"
#include "twin/limits.h"

#define NOW 1796040000ull            /* 2026-11-30 12:00 UTC */
#define INVITER_AT (1u + 8u + TW_NETKEY_LEN)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const tw_invite *inv)
{
    size_t alen = strlen(inv->addr);
    if (inv->nroots == 0 || inv->nroots > TW_CONF_ROOTS_MAX || alen == 0 || alen > TW_INVITE_ADDR_MAX ||
        inv->expires_s <= NOW || inv->expires_s - NOW > (uint64_t)TW_INVITE_TTL_MAX_S + TW_INVITE_CLOCK_SLACK_S)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    static uint8_t pk[32], sk[64];
    if (!ready) {
        uint8_t seed[32] = { 7 };
        if (sodium_init() < 0) abort();
        crypto_sign_seed_keypair(pk, sk, seed);
        ready = 1;
    }
    if (size == 0) return 0;
    tw_invite inv;
    char why[256];
    if (!(data[0] & 1)) {
        int rc = tw_invite_decode(&inv, (const char *)data + 1, size - 1, NOW, why, sizeof why);
        if (rc == 0) check_accepted(&inv);
        else if (!why[0]) abort();
        return 0;
    }
    size_t n = size - 1;
    if (n + TW_INVITE_SIG_LEN + TW_INVITE_SUM_LEN > TW_INVITE_BIN_MAX) return 0;
    static const char ctx[] = TW_INVITE_CONTEXT;
    uint8_t blob[TW_INVITE_BIN_MAX], msg[sizeof ctx - 1 + TW_INVITE_BIN_MAX], h[16];
    memcpy(blob, data + 1, n);
    if (n >= INVITER_AT + 32) memcpy(blob + INVITER_AT, pk, 32);
    memcpy(msg, ctx, sizeof ctx - 1);
    memcpy(msg + sizeof ctx - 1, blob, n);
    crypto_sign_detached(blob + n, NULL, msg, sizeof ctx - 1 + n, sk);
    n += TW_INVITE_SIG_LEN;
    crypto_generichash(h, sizeof h, blob, n, NULL, 0);
    memcpy(blob + n, h, TW_INVITE_SUM_LEN);
    n += TW_INVITE_SUM_LEN;
    char text[TW_INVITE_TEXT_MAX + 1], again[TW_INVITE_TEXT_MAX + 1];
    memcpy(text, TW_INVITE_PREFIX, 4);
    size_t tl = 4 + tw_base32_encode(text + 4, blob, n);
    int rc = tw_invite_decode(&inv, text, tl, NOW, why, sizeof why);
    if (rc != 0) {
        /* Checksum and signature are right by construction. */
        if (rc == TW_EINVAL || rc == TW_EBADSIG || !why[0]) abort();
        return 0;
    }
    check_accepted(&inv);
    if (tw_invite_encode(again, sizeof again, &inv, sk) != 0 || strcmp(again, text) != 0) abort();
    return 0;
}
