/*
 * Identity backup files (`twin key export|import`): a node's Ed25519 seed
 * encrypted under a passphrase.  The passphrase is stretched with Argon2id
 * (libsodium's crypto_pwhash, version 1.3) into a 32-byte file key, and the
 * seed is sealed with XChaCha20-Poly1305 (IETF) under that key, with every
 * header byte as associated data, so that no byte of the file can change
 * unnoticed.  The public key is in clear so that a file can be matched to
 * its node without the passphrase.
 *
 * Layout, version 1 (integers big-endian; proto/PROTOCOL.md, "Identity
 * backup files"):
 *
 *   0   8  magic "TWKEYBAK"
 *   8   1  version, 1
 *   9   1  reserved, 0
 *   10  4  Argon2id opslimit (passes)
 *   14  4  Argon2id memlimit in KiB
 *   18 16  salt
 *   34 24  nonce
 *   58 32  public key
 *   90 48  sealed seed: 32 bytes of ciphertext and a 16-byte tag
 *
 * Pure code: the caller passes the salt and nonce (fresh random bytes), and
 * does all reading and writing of files.  The bounds on the Argon2id
 * parameters a file may ask for (TW_KEYFILE_*_MIN/MAX in limits.h) are
 * checked before anything is derived, so a hostile file cannot make its
 * reader allocate more than TW_KEYFILE_MEMLIMIT_MAX.
 */
#ifndef TWIN_KEYFILE_H
#define TWIN_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#define TW_KEYFILE_MAGIC      "TWKEYBAK"
#define TW_KEYFILE_MAGIC_LEN  8u
#define TW_KEYFILE_VERSION    1u
#define TW_KEYFILE_SALT_LEN   16u   /* crypto_pwhash_SALTBYTES */
#define TW_KEYFILE_NONCE_LEN  24u   /* crypto_aead_xchacha20poly1305_ietf_NPUBBYTES */
#define TW_KEYFILE_KEY_LEN    32u   /* the derived file key */
#define TW_KEYFILE_SEED_LEN   32u   /* an Ed25519 seed */
#define TW_KEYFILE_PK_LEN     32u
#define TW_KEYFILE_TAG_LEN    16u
#define TW_KEYFILE_HEAD_LEN   90u   /* bytes covered as associated data */
#define TW_KEYFILE_SIZE       138u  /* a whole version-1 file */

typedef struct tw_keyfile {
    uint32_t opslimit;
    uint64_t memlimit;                                  /* bytes, a multiple of 1024 */
    uint8_t salt[TW_KEYFILE_SALT_LEN];
    uint8_t nonce[TW_KEYFILE_NONCE_LEN];
    uint8_t pk[TW_KEYFILE_PK_LEN];
    uint8_t sealed[TW_KEYFILE_SEED_LEN + TW_KEYFILE_TAG_LEN];
} tw_keyfile;

/* TW_ETOOBIG when opslimit or memlimit is outside the accepted bounds,
 * TW_EINVAL when memlimit is not a whole number of KiB. */
int tw_keyfile_params_check(uint64_t opslimit, uint64_t memlimit);

/* Argon2id13 of the passphrase: slow and memory-hard by design (about
 * 0.9 s and 256 MiB with the parameters export writes).  TW_ENOMEM when
 * libsodium cannot allocate memlimit bytes. */
int tw_keyfile_derive(uint8_t key[TW_KEYFILE_KEY_LEN], const char *pass, size_t passlen,
                      const uint8_t salt[TW_KEYFILE_SALT_LEN], uint64_t opslimit,
                      uint64_t memlimit);

/* Writes a whole file (TW_KEYFILE_SIZE bytes) holding seed sealed under a
 * key derived from salt, opslimit and memlimit.  The public key written is
 * the seed's. */
int tw_keyfile_seal(uint8_t out[TW_KEYFILE_SIZE], const uint8_t key[TW_KEYFILE_KEY_LEN],
                    const uint8_t seed[TW_KEYFILE_SEED_LEN],
                    const uint8_t salt[TW_KEYFILE_SALT_LEN], uint64_t opslimit,
                    uint64_t memlimit, const uint8_t nonce[TW_KEYFILE_NONCE_LEN]);

/* Reads the header: TW_ETRUNC for a short file, TW_ETYPE for another magic,
 * TW_EVERSION for another version, TW_ETOOBIG for parameters out of bounds,
 * TW_EINVAL for a non-zero reserved byte or bytes after the end. */
int tw_keyfile_decode(tw_keyfile *kf, const uint8_t *buf, size_t len);

/* Opens the sealed seed: TW_EDECRYPT for a wrong key (a wrong passphrase)
 * or any changed byte; TW_EKEY if the seed does not belong to the public
 * key in clear (a file sealed wrongly).  seed is zeroed on failure. */
int tw_keyfile_open(uint8_t seed[TW_KEYFILE_SEED_LEN], const tw_keyfile *kf,
                    const uint8_t key[TW_KEYFILE_KEY_LEN]);

/* Decode, derive and open in one call; seed is zeroed on failure. */
int tw_keyfile_unlock(uint8_t seed[TW_KEYFILE_SEED_LEN], const uint8_t *buf, size_t len,
                      const char *pass, size_t passlen);

#endif
