/*
 * Text forms of keys: "twk_" + lowercase RFC 4648 base32 (no padding) of the
 * 32 key bytes followed by a 2-byte BLAKE2b checksum, so a mistyped key is
 * caught.  A fingerprint is the first TW_FPR_CHARS characters after the prefix.
 * Network keys use the prefix "twn_" with the same layout.
 */
#ifndef TWIN_KEYTEXT_H
#define TWIN_KEYTEXT_H

#include <stddef.h>
#include <stdint.h>

#define TW_KEYTEXT_PREFIX  "twk_"
#define TW_NETTEXT_PREFIX  "twn_"
#define TW_KEYTEXT_LEN     59u   /* prefix 4 + base32 of 34 bytes (55) */
#define TW_FPR_CHARS       10u

/* out must hold TW_KEYTEXT_LEN + 1 bytes. */
void tw_keytext_encode(char *out, const char *prefix, const uint8_t key[32]);
/* TW_EINVAL for a wrong prefix, length, character or checksum. */
int  tw_keytext_decode(uint8_t key[32], const char *prefix, const char *text, size_t len);
/* out must hold TW_FPR_CHARS + 1 bytes. */
void tw_key_fingerprint(char *out, const uint8_t key[32]);
/* Generic RFC 4648 base32, lowercase, no padding.  Returns chars written
 * (out needs (n*8+4)/5 + 1) / bytes decoded, or TW_EINVAL. */
size_t tw_base32_encode(char *out, const uint8_t *in, size_t n);
int    tw_base32_decode(uint8_t *out, size_t cap, const char *in, size_t n);
void   tw_hex_encode(char *out, const uint8_t *in, size_t n);     /* out: 2n+1 */
int    tw_hex_decode(uint8_t *out, size_t n, const char *in, size_t len); /* exactly n bytes */

#endif
