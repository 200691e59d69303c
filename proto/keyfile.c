/*
 * Identity backup files (include/twin/keyfile.h).
 *
 * The whole header is the associated data of the seal, and the file key
 * depends on the salt and the Argon2id parameters, so a changed byte
 * anywhere makes the file fail to open, exactly as a wrong passphrase
 * does: the two cannot be told apart, and the reader says so.
 */
#include <string.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/keyfile.h"
#include "twin/limits.h"

_Static_assert(TW_KEYFILE_SALT_LEN == crypto_pwhash_argon2id_SALTBYTES, "salt length");
_Static_assert(TW_KEYFILE_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce length");
_Static_assert(TW_KEYFILE_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key length");
_Static_assert(TW_KEYFILE_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag length");
_Static_assert(TW_KEYFILE_SEED_LEN == crypto_sign_SEEDBYTES, "seed length");
_Static_assert(TW_KEYFILE_PK_LEN == crypto_sign_PUBLICKEYBYTES, "public key length");
_Static_assert(TW_KEYFILE_HEAD_LEN == TW_KEYFILE_MAGIC_LEN + 2 + 4 + 4 + TW_KEYFILE_SALT_LEN +
               TW_KEYFILE_NONCE_LEN + TW_KEYFILE_PK_LEN, "header layout");
_Static_assert(TW_KEYFILE_SIZE == TW_KEYFILE_HEAD_LEN + TW_KEYFILE_SEED_LEN + TW_KEYFILE_TAG_LEN,
               "file layout");
/* The parameters export writes must be ones its own reader accepts. */
_Static_assert(TW_KEYFILE_OPSLIMIT >= TW_KEYFILE_OPSLIMIT_MIN &&
               TW_KEYFILE_OPSLIMIT <= TW_KEYFILE_OPSLIMIT_MAX, "opslimit in bounds");
_Static_assert(TW_KEYFILE_MEMLIMIT >= TW_KEYFILE_MEMLIMIT_MIN &&
               TW_KEYFILE_MEMLIMIT <= TW_KEYFILE_MEMLIMIT_MAX &&
               TW_KEYFILE_MEMLIMIT % 1024u == 0, "memlimit in bounds");

#define OFF_VERSION  8u
#define OFF_RESERVED 9u
#define OFF_OPS      10u
#define OFF_MEM      14u
#define OFF_SALT     18u
#define OFF_NONCE    (OFF_SALT + TW_KEYFILE_SALT_LEN)
#define OFF_PK       (OFF_NONCE + TW_KEYFILE_NONCE_LEN)

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int tw_keyfile_params_check(uint64_t opslimit, uint64_t memlimit)
{
    if (opslimit < TW_KEYFILE_OPSLIMIT_MIN || opslimit > TW_KEYFILE_OPSLIMIT_MAX) return TW_ETOOBIG;
    if (memlimit < TW_KEYFILE_MEMLIMIT_MIN || memlimit > TW_KEYFILE_MEMLIMIT_MAX) return TW_ETOOBIG;
    if (memlimit % 1024u) return TW_EINVAL;
    return 0;
}

int tw_keyfile_derive(uint8_t key[TW_KEYFILE_KEY_LEN], const char *pass, size_t passlen,
                      const uint8_t salt[TW_KEYFILE_SALT_LEN], uint64_t opslimit,
                      uint64_t memlimit)
{
    int rc = tw_keyfile_params_check(opslimit, memlimit);
    if (rc) return rc;
    if (passlen > TW_KEYFILE_PASS_MAX) return TW_ETOOBIG;
    /* crypto_pwhash fails only when it cannot allocate (the parameters are
     * within libsodium's bounds, checked above). */
    if (crypto_pwhash(key, TW_KEYFILE_KEY_LEN, pass ? pass : "", passlen, salt, opslimit,
                      (size_t)memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        sodium_memzero(key, TW_KEYFILE_KEY_LEN);
        return TW_ENOMEM;
    }
    return 0;
}

static void encode_head(uint8_t h[TW_KEYFILE_HEAD_LEN], const tw_keyfile *kf)
{
    memcpy(h, TW_KEYFILE_MAGIC, TW_KEYFILE_MAGIC_LEN);
    h[OFF_VERSION] = TW_KEYFILE_VERSION;
    h[OFF_RESERVED] = 0;
    put32(h + OFF_OPS, kf->opslimit);
    put32(h + OFF_MEM, (uint32_t)(kf->memlimit / 1024u));
    memcpy(h + OFF_SALT, kf->salt, TW_KEYFILE_SALT_LEN);
    memcpy(h + OFF_NONCE, kf->nonce, TW_KEYFILE_NONCE_LEN);
    memcpy(h + OFF_PK, kf->pk, TW_KEYFILE_PK_LEN);
}

int tw_keyfile_seal(uint8_t out[TW_KEYFILE_SIZE], const uint8_t key[TW_KEYFILE_KEY_LEN],
                    const uint8_t seed[TW_KEYFILE_SEED_LEN],
                    const uint8_t salt[TW_KEYFILE_SALT_LEN], uint64_t opslimit,
                    uint64_t memlimit, const uint8_t nonce[TW_KEYFILE_NONCE_LEN])
{
    tw_keyfile kf;
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    int rc = tw_keyfile_params_check(opslimit, memlimit);
    if (rc) return rc;
    kf.opslimit = (uint32_t)opslimit;
    kf.memlimit = memlimit;
    memcpy(kf.salt, salt, TW_KEYFILE_SALT_LEN);
    memcpy(kf.nonce, nonce, TW_KEYFILE_NONCE_LEN);
    crypto_sign_seed_keypair(kf.pk, sk, seed);
    sodium_memzero(sk, sizeof sk);
    encode_head(out, &kf);
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + TW_KEYFILE_HEAD_LEN, &clen, seed,
                                               TW_KEYFILE_SEED_LEN, out, TW_KEYFILE_HEAD_LEN,
                                               NULL, nonce, key);
    return clen == TW_KEYFILE_SEED_LEN + TW_KEYFILE_TAG_LEN ? 0 : TW_EINTERNAL;
}

int tw_keyfile_decode(tw_keyfile *kf, const uint8_t *buf, size_t len)
{
    memset(kf, 0, sizeof *kf);
    /* Magic and version first, so that another file, or a later version of
     * a different length, is named as such rather than as a short file. */
    if (len < TW_KEYFILE_MAGIC_LEN) {
        return len && memcmp(buf, TW_KEYFILE_MAGIC, len) != 0 ? TW_ETYPE : TW_ETRUNC;
    }
    if (memcmp(buf, TW_KEYFILE_MAGIC, TW_KEYFILE_MAGIC_LEN) != 0) return TW_ETYPE;
    if (len <= OFF_VERSION) return TW_ETRUNC;
    if (buf[OFF_VERSION] != TW_KEYFILE_VERSION) return TW_EVERSION;
    if (len < TW_KEYFILE_SIZE) return TW_ETRUNC;
    if (len > TW_KEYFILE_SIZE) return TW_EINVAL;
    if (buf[OFF_RESERVED] != 0) return TW_EINVAL;
    uint32_t ops = get32(buf + OFF_OPS), mem_kib = get32(buf + OFF_MEM);
    int rc = tw_keyfile_params_check(ops, (uint64_t)mem_kib * 1024u);
    if (rc) return rc;
    kf->opslimit = ops;
    kf->memlimit = (uint64_t)mem_kib * 1024u;
    memcpy(kf->salt, buf + OFF_SALT, TW_KEYFILE_SALT_LEN);
    memcpy(kf->nonce, buf + OFF_NONCE, TW_KEYFILE_NONCE_LEN);
    memcpy(kf->pk, buf + OFF_PK, TW_KEYFILE_PK_LEN);
    memcpy(kf->sealed, buf + TW_KEYFILE_HEAD_LEN, sizeof kf->sealed);
    return 0;
}

int tw_keyfile_open(uint8_t seed[TW_KEYFILE_SEED_LEN], const tw_keyfile *kf,
                    const uint8_t key[TW_KEYFILE_KEY_LEN])
{
    uint8_t head[TW_KEYFILE_HEAD_LEN], pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    unsigned long long mlen;
    encode_head(head, kf);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(seed, &mlen, NULL, kf->sealed, sizeof kf->sealed,
                                                   head, sizeof head, kf->nonce, key) != 0 ||
        mlen != TW_KEYFILE_SEED_LEN) {
        sodium_memzero(seed, TW_KEYFILE_SEED_LEN);
        return TW_EDECRYPT;
    }
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(sk, sizeof sk);
    if (sodium_memcmp(pk, kf->pk, sizeof pk) != 0) {
        sodium_memzero(seed, TW_KEYFILE_SEED_LEN);
        return TW_EKEY;
    }
    return 0;
}

int tw_keyfile_unlock(uint8_t seed[TW_KEYFILE_SEED_LEN], const uint8_t *buf, size_t len,
                      const char *pass, size_t passlen)
{
    tw_keyfile kf;
    uint8_t key[TW_KEYFILE_KEY_LEN];
    int rc = tw_keyfile_decode(&kf, buf, len);
    if (rc == 0) rc = tw_keyfile_derive(key, pass, passlen, kf.salt, kf.opslimit, kf.memlimit);
    if (rc == 0) rc = tw_keyfile_open(seed, &kf, key);
    if (rc) sodium_memzero(seed, TW_KEYFILE_SEED_LEN);
    sodium_memzero(key, sizeof key);
    return rc;
}
