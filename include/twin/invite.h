/*
 * Invitation codes (`twin invite`, `twin join`): one line of text that holds
 * everything a new node needs to enter a network: the network key, the
 * network's root keys (so that every member computes the same admitted
 * set), an address at which a member can be reached, and the inviter's key,
 * with an expiry, all signed by the inviter.
 *
 * Text: "twi_" + lowercase RFC 4648 base32 (no padding) of this blob
 * (integers big-endian; proto/PROTOCOL.md, "Invitation codes"):
 *
 *   1        version, 1
 *   8        expiry, Unix seconds: the code is refused from that second on
 *   32       network key
 *   32       inviter's Ed25519 public key
 *   1        number of root keys r, 1 .. TW_CONF_ROOTS_MAX
 *   32 * r   root keys
 *   1        address length a, 1 .. TW_INVITE_ADDR_MAX
 *   a        address, HOST:PORT (the rules of a peer record's addresses)
 *   64       Ed25519 signature by the inviter over TW_INVITE_CONTEXT
 *            followed by every byte above
 *   2        checksum: the first 2 bytes of BLAKE2b-128 of every byte above
 *
 * The checksum is outside the signature so that a mistyped or cut code (the
 * common case: codes are copied by hand and wrapped in emails) is told apart
 * from one that was changed on purpose and signed again or not at all.
 *
 * Pure code: the caller passes the time; nothing here reads a clock.
 */
#ifndef TWIN_INVITE_H
#define TWIN_INVITE_H

#include <stddef.h>
#include <stdint.h>
#include "twin/entry.h"
#include "twin/limits.h"

#define TW_INVITE_PREFIX     "twi_"
#define TW_INVITE_VERSION    1u
#define TW_INVITE_CONTEXT    "twin-invite-v1:"
#define TW_INVITE_SIG_LEN    64u
#define TW_INVITE_SUM_LEN    2u
/* Bytes of a blob with one root and a one-byte address, and with every
 * root and the longest address. */
#define TW_INVITE_BIN_MIN    (1u + 8u + 32u + 32u + 1u + 32u + 1u + 1u + TW_INVITE_SIG_LEN + TW_INVITE_SUM_LEN)
#define TW_INVITE_BIN_MAX    (1u + 8u + 32u + 32u + 1u + 32u * TW_CONF_ROOTS_MAX + 1u + TW_INVITE_ADDR_MAX + \
                              TW_INVITE_SIG_LEN + TW_INVITE_SUM_LEN)

typedef struct tw_invite {
    uint64_t expires_s;                         /* Unix seconds */
    uint8_t netkey[TW_NETKEY_LEN];
    uint8_t inviter[TW_KEY_LEN];
    uint8_t roots[TW_CONF_ROOTS_MAX][TW_KEY_LEN];
    size_t nroots;
    char addr[TW_INVITE_ADDR_MAX + 1];          /* NUL-terminated */
} tw_invite;

/*
 * Writes the code of inv, signed with sk (a libsodium Ed25519 secret key,
 * whose public half must be inv->inviter: TW_EKEY otherwise), as a
 * NUL-terminated string into out.  cap of TW_INVITE_TEXT_MAX + 1 always
 * suffices (TW_ETOOBIG if cap is short).  TW_EINVAL when nroots is not
 * 1 .. TW_CONF_ROOTS_MAX or the address is not a valid HOST:PORT of at most
 * TW_INVITE_ADDR_MAX bytes.
 */
int tw_invite_encode(char *out, size_t cap, const tw_invite *inv, const uint8_t sk[TW_SECKEY_LEN]);

/*
 * Reads a code.  ASCII whitespace anywhere in the text (surrounding it, or
 * line breaks from wrapping) is ignored, and so is case.  now_s is the
 * caller's clock in Unix seconds.  On refusal inv is zeroed and why gets a
 * message for people; the codes are distinct:
 *   TW_ETYPE     not an invitation code (no "twi_" prefix, a character
 *                outside base32, longer than TW_INVITE_TEXT_MAX or
 *                TW_INVITE_INPUT_MAX)
 *   TW_ETRUNC    incomplete: shorter than the smallest code
 *   TW_EINVAL    mistyped or cut: the checksum does not match
 *   TW_EVERSION  a version this code does not read
 *   TW_EPROTO    malformed: a count or length out of range or past the end,
 *                bytes left over, an address that is not HOST:PORT
 *   TW_EBADSIG   tampered with: the inviter's signature does not verify
 *   TW_ESTALE    expired (now_s >= expires_s), naming the time in UTC
 */
int tw_invite_decode(tw_invite *inv, const char *text, size_t len, uint64_t now_s,
                     char *why, size_t whylen);

/* "2026-11-30 12:00 UTC" for Unix seconds s; out needs 32 bytes. */
void tw_invite_time(char *out, size_t outlen, uint64_t s);

#endif
