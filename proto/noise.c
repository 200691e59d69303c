/*
 * Noise Protocol Framework, revision 34, for Noise_*_25519_ChaChaPoly_BLAKE2b.
 *
 * The code follows the spec's objects one to one: a CipherState (k, n), a
 * SymmetricState (ck, h and a CipherState) and a HandshakeState that walks
 * the token list of the pattern message by message.  Patterns are tables of
 * tokens; psk modifiers are spliced into those tables when the protocol name
 * is parsed, so one interpreter runs NN, NK and XX with any psk placement.
 *
 * HMAC and HKDF are written here exactly as section 4.3 of the spec defines
 * them (HMAC with a 128-byte BLOCKLEN).  libsodium's keyed BLAKE2b is a
 * different construction and would not interoperate.
 *
 * Public keys are computed lazily, when a token first needs them, and every
 * X25519 operation is counted.  That is what lets a test show that a
 * responder facing a wrong network key (psk0) rejects message 1 before it
 * spends any key agreement: the design promises that a stranger costs the
 * responder no DH.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "twin/noise.h"

#define NONCELEN        12u
#define BLOCKLEN        128u   /* BLAKE2b block size, the HMAC pad length */
#define MSG_MAX         3u     /* messages in the longest pattern (XX) */
#define TOK_MAX         8u     /* tokens in one message, psk tokens included */

static const char NAME_PREFIX[] = "Noise_";
static const char NAME_SUFFIX[] = "_25519_ChaChaPoly_BLAKE2b";

enum token { T_END = 0, T_E, T_S, T_EE, T_ES, T_SE, T_SS, T_PSK };

struct base_pattern {
    const char *name;
    int         pre_resp_s;                 /* "<- s" before the first message */
    unsigned    nmsg;
    uint8_t     toks[MSG_MAX][TOK_MAX];
};

static const struct base_pattern BASES[] = {
    { "NN", 0, 2, { { T_E }, { T_E, T_EE } } },
    { "NK", 1, 2, { { T_E, T_ES }, { T_E, T_EE } } },
    { "XX", 0, 3, { { T_E }, { T_E, T_EE, T_S, T_ES }, { T_S, T_SE } } },
};

struct tw_noise_cs {
    uint8_t  k[TW_NOISE_KEYLEN];
    uint64_t n;
    int      has_key;
    int      failed;
};

struct tw_noise_hs {
    /* SymmetricState */
    struct tw_noise_cs cs;
    uint8_t  ck[TW_NOISE_HASHLEN];
    uint8_t  h[TW_NOISE_HASHLEN];

    /* the pattern after psk modifiers were applied */
    uint8_t  toks[MSG_MAX][TOK_MAX];
    unsigned nmsg;
    int      psk_mode;
    int      pre_resp_s;       /* pre-message "<- s" (NK) */

    int      initiator;
    uint8_t  s_priv[TW_NOISE_DHLEN], s_pub[TW_NOISE_DHLEN];
    uint8_t  e_priv[TW_NOISE_DHLEN], e_pub[TW_NOISE_DHLEN];
    uint8_t  rs[TW_NOISE_DHLEN], re[TW_NOISE_DHLEN];
    int      has_s, s_pub_ready, e_pub_ready, has_rs, has_re;
    uint8_t  psks[TW_NOISE_PSK_MAX][TW_NOISE_KEYLEN];
    unsigned npsk, psk_next;

    unsigned msg_index;
    int      complete, failed, split_taken;
    unsigned dh_count;
    struct tw_noise_cs c1, c2;
};

/* ---- hash, HMAC, HKDF (spec 4.3) ---- */

static void hash_parts(uint8_t out[TW_NOISE_HASHLEN],
                       const uint8_t *a, size_t alen,
                       const uint8_t *b, size_t blen,
                       const uint8_t *c, size_t clen)
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, NULL, 0, TW_NOISE_HASHLEN);
    if (alen) crypto_generichash_update(&st, a, alen);
    if (blen) crypto_generichash_update(&st, b, blen);
    if (clen) crypto_generichash_update(&st, c, clen);
    crypto_generichash_final(&st, out, TW_NOISE_HASHLEN);
    sodium_memzero(&st, sizeof st);
}

/* HMAC-BLAKE2b over the concatenation d1 || d2 with a HASHLEN-byte key. */
static void hmac(uint8_t out[TW_NOISE_HASHLEN], const uint8_t key[TW_NOISE_HASHLEN],
                 const uint8_t *d1, size_t l1, const uint8_t *d2, size_t l2)
{
    uint8_t pad[BLOCKLEN], inner[TW_NOISE_HASHLEN];
    size_t i;

    memset(pad, 0, sizeof pad);
    memcpy(pad, key, TW_NOISE_HASHLEN);
    for (i = 0; i < BLOCKLEN; i++) pad[i] ^= 0x36;
    hash_parts(inner, pad, BLOCKLEN, d1, l1, d2, l2);
    for (i = 0; i < BLOCKLEN; i++) pad[i] ^= 0x36 ^ 0x5c;
    hash_parts(out, pad, BLOCKLEN, inner, sizeof inner, NULL, 0);
    sodium_memzero(pad, sizeof pad);
    sodium_memzero(inner, sizeof inner);
}

/* HKDF(ck, ikm) with two or three outputs; o3 may be NULL. */
static void hkdf(const uint8_t ck[TW_NOISE_HASHLEN], const uint8_t *ikm, size_t ikmlen,
                 uint8_t o1[TW_NOISE_HASHLEN], uint8_t o2[TW_NOISE_HASHLEN],
                 uint8_t o3[TW_NOISE_HASHLEN])
{
    uint8_t temp[TW_NOISE_HASHLEN];
    const uint8_t b1 = 1, b2 = 2, b3 = 3;

    hmac(temp, ck, ikm, ikmlen, NULL, 0);
    hmac(o1, temp, &b1, 1, NULL, 0);
    hmac(o2, temp, o1, TW_NOISE_HASHLEN, &b2, 1);
    if (o3) hmac(o3, temp, o2, TW_NOISE_HASHLEN, &b3, 1);
    sodium_memzero(temp, sizeof temp);
}

/* ---- CipherState (spec 5.1) ---- */

static void cs_init_key(struct tw_noise_cs *cs, const uint8_t *k)
{
    memcpy(cs->k, k, TW_NOISE_KEYLEN);
    cs->n = 0;
    cs->has_key = 1;
    cs->failed = 0;
}

static void make_nonce(uint8_t nonce[NONCELEN], uint64_t n)
{
    unsigned i;

    memset(nonce, 0, 4);
    for (i = 0; i < 8; i++) nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

/* Writes len (+ TAGLEN when keyed) bytes to out, which may alias pt. */
static int cs_encrypt_ad(struct tw_noise_cs *cs, const uint8_t *ad, size_t adlen,
                         const uint8_t *pt, size_t len, uint8_t *out)
{
    uint8_t nonce[NONCELEN];

    if (!cs->has_key) {
        if (len) memmove(out, pt, len);
        return 0;
    }
    /* Nonce 2^64-1 is reserved by the spec; reaching it means rekey or stop. */
    if (cs->n == UINT64_MAX) return TW_ETOOBIG;
    make_nonce(nonce, cs->n);
    crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, len, ad, adlen, NULL, nonce, cs->k);
    cs->n++;
    return 0;
}

/* Writes len (- TAGLEN when keyed) bytes to out; the nonce only advances
 * on success, as the spec requires. */
static int cs_decrypt_ad(struct tw_noise_cs *cs, const uint8_t *ad, size_t adlen,
                         const uint8_t *ct, size_t len, uint8_t *out)
{
    uint8_t nonce[NONCELEN];

    if (!cs->has_key) {
        if (len) memmove(out, ct, len);
        return 0;
    }
    if (cs->n == UINT64_MAX) return TW_ETOOBIG;
    if (len < TW_NOISE_TAGLEN) return TW_ETRUNC;
    make_nonce(nonce, cs->n);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, len, ad, adlen,
                                                  nonce, cs->k) != 0)
        return TW_EDECRYPT;
    cs->n++;
    return 0;
}

/* ---- SymmetricState (spec 5.2) ---- */

static void mix_hash(tw_noise_hs *hs, const uint8_t *data, size_t len)
{
    hash_parts(hs->h, hs->h, TW_NOISE_HASHLEN, data, len, NULL, 0);
}

static void mix_key(tw_noise_hs *hs, const uint8_t *ikm, size_t len)
{
    uint8_t temp_k[TW_NOISE_HASHLEN];

    hkdf(hs->ck, ikm, len, hs->ck, temp_k, NULL);
    cs_init_key(&hs->cs, temp_k);          /* truncated to KEYLEN */
    sodium_memzero(temp_k, sizeof temp_k);
}

static void mix_key_and_hash(tw_noise_hs *hs, const uint8_t *ikm, size_t len)
{
    uint8_t temp_h[TW_NOISE_HASHLEN], temp_k[TW_NOISE_HASHLEN];

    hkdf(hs->ck, ikm, len, hs->ck, temp_h, temp_k);
    mix_hash(hs, temp_h, sizeof temp_h);
    cs_init_key(&hs->cs, temp_k);
    sodium_memzero(temp_h, sizeof temp_h);
    sodium_memzero(temp_k, sizeof temp_k);
}

static int encrypt_and_hash(tw_noise_hs *hs, const uint8_t *pt, size_t len, uint8_t *out,
                            size_t *outlen)
{
    int rc = cs_encrypt_ad(&hs->cs, hs->h, TW_NOISE_HASHLEN, pt, len, out);

    if (rc) return rc;
    *outlen = len + (hs->cs.has_key ? TW_NOISE_TAGLEN : 0);
    mix_hash(hs, out, *outlen);
    return 0;
}

/* ct must not alias out: h is mixed with the ciphertext after decryption. */
static int decrypt_and_hash(tw_noise_hs *hs, const uint8_t *ct, size_t len, uint8_t *out)
{
    int rc = cs_decrypt_ad(&hs->cs, hs->h, TW_NOISE_HASHLEN, ct, len, out);

    if (rc) return rc;
    mix_hash(hs, ct, len);
    return 0;
}

/* ---- protocol name ---- */

/* Applies "pskN(+pskN)*" to the base pattern.  Modifiers must be in rising
 * order, which also rules out repeats. */
static int apply_modifiers(tw_noise_hs *hs, const char *m, size_t mlen)
{
    size_t i = 0;
    int last = -1;

    while (i < mlen) {
        unsigned n, t;
        uint8_t *msg;

        if (last >= 0) {
            if (m[i] != '+') return TW_EINVAL;
            i++;
        }
        if (mlen - i < 4 || memcmp(m + i, "psk", 3) != 0) return TW_EINVAL;
        if (m[i + 3] < '0' || m[i + 3] > '9') return TW_EINVAL;
        n = (unsigned)(m[i + 3] - '0');
        i += 4;
        if ((int)n <= last || n > hs->nmsg || hs->npsk >= TW_NOISE_PSK_MAX) return TW_EINVAL;
        last = (int)n;
        msg = hs->toks[n == 0 ? 0 : n - 1];
        for (t = 0; t < TOK_MAX && msg[t] != T_END; t++)
            ;
        if (t + 1 >= TOK_MAX) return TW_EINVAL;
        if (n == 0) {
            memmove(msg + 1, msg, t);
            msg[0] = T_PSK;
        } else {
            msg[t] = T_PSK;
        }
        hs->npsk++;
        hs->psk_mode = 1;
    }
    return 0;
}

static int parse_name(tw_noise_hs *hs, const char *name, size_t len)
{
    const size_t plen = sizeof NAME_PREFIX - 1, slen = sizeof NAME_SUFFIX - 1;
    const char *pat;
    size_t patlen, b, blen;

    if (len < plen + slen + 2 || memcmp(name, NAME_PREFIX, plen) != 0 ||
        memcmp(name + len - slen, NAME_SUFFIX, slen) != 0)
        return TW_EINVAL;
    pat = name + plen;
    patlen = len - plen - slen;
    for (blen = 0; blen < patlen && pat[blen] >= 'A' && pat[blen] <= 'Z'; blen++)
        ;
    for (b = 0; b < sizeof BASES / sizeof BASES[0]; b++) {
        if (strlen(BASES[b].name) == blen && memcmp(BASES[b].name, pat, blen) == 0) break;
    }
    if (b == sizeof BASES / sizeof BASES[0]) return TW_EINVAL;
    memcpy(hs->toks, BASES[b].toks, sizeof hs->toks);
    hs->nmsg = BASES[b].nmsg;
    hs->pre_resp_s = BASES[b].pre_resp_s;
    return apply_modifiers(hs, pat + blen, patlen - blen);
}

/* Whether this side sends an s token, and so must be given a static key. */
static int sends_static(const tw_noise_hs *hs)
{
    unsigned m, t;

    for (m = hs->initiator ? 0 : 1; m < hs->nmsg; m += 2) {
        for (t = 0; t < TOK_MAX && hs->toks[m][t] != T_END; t++) {
            if (hs->toks[m][t] == T_S) return 1;
        }
    }
    return 0;
}

/* ---- HandshakeState (spec 5.3) ---- */

static int x25519(tw_noise_hs *hs, uint8_t out[TW_NOISE_DHLEN], const uint8_t priv[TW_NOISE_DHLEN],
                  const uint8_t *pub)
{
    hs->dh_count++;
    if (pub == NULL) return crypto_scalarmult_base(out, priv) == 0 ? 0 : TW_EINTERNAL;
    /* libsodium returns -1 when the result is all zero, which is what a
     * small-order (or all-zero) public key produces; the second test keeps
     * that promise even if an implementation forgot to. */
    if (crypto_scalarmult(out, priv, pub) != 0 || sodium_is_zero(out, TW_NOISE_DHLEN))
        return TW_EKEY;
    return 0;
}

static int s_pub(tw_noise_hs *hs)
{
    int rc;

    if (hs->s_pub_ready) return 0;
    rc = x25519(hs, hs->s_pub, hs->s_priv, NULL);
    hs->s_pub_ready = (rc == 0);
    return rc;
}

static int e_pub(tw_noise_hs *hs)
{
    int rc;

    if (hs->e_pub_ready) return 0;
    rc = x25519(hs, hs->e_pub, hs->e_priv, NULL);
    hs->e_pub_ready = (rc == 0);
    return rc;
}

/* Wipes every secret; only the failure and the DH count stay visible. */
static void hs_fail(tw_noise_hs *hs)
{
    unsigned dh = hs->dh_count;

    sodium_memzero(hs, sizeof *hs);
    hs->failed = 1;
    hs->dh_count = dh;
}

static void hs_finish(tw_noise_hs *hs)
{
    uint8_t k1[TW_NOISE_HASHLEN], k2[TW_NOISE_HASHLEN];

    hkdf(hs->ck, NULL, 0, k1, k2, NULL);
    cs_init_key(&hs->c1, k1);
    cs_init_key(&hs->c2, k2);
    sodium_memzero(k1, sizeof k1);
    sodium_memzero(k2, sizeof k2);
    /* Only h and rs are needed from here on. */
    sodium_memzero(&hs->cs, sizeof hs->cs);
    sodium_memzero(hs->ck, sizeof hs->ck);
    sodium_memzero(hs->s_priv, sizeof hs->s_priv);
    sodium_memzero(hs->e_priv, sizeof hs->e_priv);
    sodium_memzero(hs->re, sizeof hs->re);
    sodium_memzero(hs->psks, sizeof hs->psks);
    hs->complete = 1;
}

int tw_noise_hs_new(tw_noise_hs **out, const struct tw_noise_params *p)
{
    tw_noise_hs *hs;
    size_t namelen;
    int rc = TW_EINVAL, sends_s, pre;

    if (!out || !p || !p->protocol || !p->e_priv || (p->prologue_len && !p->prologue))
        return TW_EINVAL;
    *out = NULL;
    namelen = strnlen(p->protocol, TW_NOISE_NAME_MAX + 1);
    if (namelen > TW_NOISE_NAME_MAX) return TW_EINVAL;
    hs = calloc(1, sizeof *hs);
    if (!hs) return TW_ENOMEM;
    hs->initiator = p->initiator != 0;
    if ((rc = parse_name(hs, p->protocol, namelen)) != 0) goto fail;
    rc = TW_EINVAL;
    if (p->psk_count != hs->npsk || (hs->npsk && !p->psks)) goto fail;
    if (hs->npsk) memcpy(hs->psks, p->psks, hs->npsk * TW_NOISE_KEYLEN);

    sends_s = sends_static(hs);
    pre = hs->pre_resp_s;
    if ((sends_s || (pre && !hs->initiator)) && !p->s_priv) goto fail;
    if (pre && hs->initiator && !p->rs_pub) goto fail;
    if (sends_s || (pre && !hs->initiator)) {
        memcpy(hs->s_priv, p->s_priv, TW_NOISE_DHLEN);
        hs->has_s = 1;
    }
    memcpy(hs->e_priv, p->e_priv, TW_NOISE_DHLEN);

    /* InitializeSymmetric: a name of HASHLEN bytes or fewer is used as h
     * directly, zero padded; a longer one is hashed. */
    if (namelen <= TW_NOISE_HASHLEN) memcpy(hs->h, p->protocol, namelen);
    else hash_parts(hs->h, (const uint8_t *)p->protocol, namelen, NULL, 0, NULL, 0);
    memcpy(hs->ck, hs->h, TW_NOISE_HASHLEN);
    mix_hash(hs, p->prologue, p->prologue_len);

    /* Pre-message "<- s": both sides hash the responder's static key. */
    if (pre) {
        if (hs->initiator) {
            memcpy(hs->rs, p->rs_pub, TW_NOISE_DHLEN);
            hs->has_rs = 1;
            mix_hash(hs, hs->rs, TW_NOISE_DHLEN);
        } else {
            if ((rc = s_pub(hs)) != 0) goto fail;
            mix_hash(hs, hs->s_pub, TW_NOISE_DHLEN);
        }
    }
    *out = hs;
    return 0;
fail:
    tw_noise_hs_free(hs);
    return rc;
}

void tw_noise_hs_free(tw_noise_hs *hs)
{
    if (!hs) return;
    sodium_memzero(hs, sizeof *hs);
    free(hs);
}

int tw_noise_hs_my_turn(const tw_noise_hs *hs)
{
    if (!hs || hs->failed || hs->complete) return 0;
    return ((hs->msg_index % 2) == 0) == (hs->initiator != 0);
}

int tw_noise_hs_complete(const tw_noise_hs *hs)
{
    return hs && hs->complete;
}

int tw_noise_hs_failed(const tw_noise_hs *hs)
{
    return hs && hs->failed;
}

unsigned tw_noise_hs_dh_count(const tw_noise_hs *hs)
{
    return hs ? hs->dh_count : 0;
}

/* Bytes the current message adds to its payload: keys, and a tag on each
 * encrypted part.  Computed ahead so that lengths are checked before the
 * state changes. */
static size_t msg_overhead(const tw_noise_hs *hs)
{
    const uint8_t *tok = hs->toks[hs->msg_index];
    int keyed = hs->cs.has_key;
    size_t over = 0;
    unsigned t;

    for (t = 0; t < TOK_MAX && tok[t] != T_END; t++) {
        switch (tok[t]) {
        case T_E:
            over += TW_NOISE_DHLEN;
            if (hs->psk_mode) keyed = 1;
            break;
        case T_S:
            over += TW_NOISE_DHLEN + (keyed ? TW_NOISE_TAGLEN : 0);
            break;
        default:
            keyed = 1;
            break;
        }
    }
    return over + (keyed ? TW_NOISE_TAGLEN : 0);
}

/* The DH for one of ee, es, se, ss, from this side's point of view. */
static int dh_token(tw_noise_hs *hs, uint8_t tok)
{
    uint8_t out[TW_NOISE_DHLEN];
    const uint8_t *priv, *pub;
    int local_e, remote_e, rc;

    switch (tok) {
    case T_EE: local_e = 1; remote_e = 1; break;
    case T_SS: local_e = 0; remote_e = 0; break;
    case T_ES: local_e = hs->initiator; remote_e = !hs->initiator; break;
    default:   local_e = !hs->initiator; remote_e = hs->initiator; break;   /* T_SE */
    }
    if (local_e ? !hs->e_pub_ready : !hs->has_s) return TW_EINTERNAL;
    if (remote_e ? !hs->has_re : !hs->has_rs) return TW_EINTERNAL;
    priv = local_e ? hs->e_priv : hs->s_priv;
    pub = remote_e ? hs->re : hs->rs;
    rc = x25519(hs, out, priv, pub);
    if (rc == 0) mix_key(hs, out, sizeof out);
    sodium_memzero(out, sizeof out);
    return rc;
}

static int psk_token(tw_noise_hs *hs)
{
    if (hs->psk_next >= hs->npsk) return TW_EINTERNAL;
    mix_key_and_hash(hs, hs->psks[hs->psk_next], TW_NOISE_KEYLEN);
    hs->psk_next++;
    return 0;
}

static void advance(tw_noise_hs *hs)
{
    hs->msg_index++;
    if (hs->msg_index == hs->nmsg) hs_finish(hs);
}

int tw_noise_hs_write(tw_noise_hs *hs, const uint8_t *payload, size_t len,
                      uint8_t *out, size_t cap, size_t *outlen)
{
    const uint8_t *tok;
    size_t over, pos = 0, n;
    unsigned t;
    int rc = 0;

    if (!hs || !outlen || (len && !payload) || (cap && !out)) return TW_EINVAL;
    *outlen = 0;
    if (!tw_noise_hs_my_turn(hs)) return TW_ESTATE;
    over = msg_overhead(hs);
    if (len > TW_FRAME_MAX - over || len + over > cap) return TW_ETOOBIG;

    tok = hs->toks[hs->msg_index];
    for (t = 0; t < TOK_MAX && tok[t] != T_END && rc == 0; t++) {
        switch (tok[t]) {
        case T_E:
            if ((rc = e_pub(hs)) != 0) break;
            memcpy(out + pos, hs->e_pub, TW_NOISE_DHLEN);
            pos += TW_NOISE_DHLEN;
            mix_hash(hs, hs->e_pub, TW_NOISE_DHLEN);
            if (hs->psk_mode) mix_key(hs, hs->e_pub, TW_NOISE_DHLEN);
            break;
        case T_S:
            if ((rc = s_pub(hs)) != 0) break;
            if ((rc = encrypt_and_hash(hs, hs->s_pub, TW_NOISE_DHLEN, out + pos, &n)) != 0) break;
            pos += n;
            break;
        case T_PSK:
            rc = psk_token(hs);
            break;
        default:
            rc = dh_token(hs, tok[t]);
            break;
        }
    }
    if (rc == 0) rc = encrypt_and_hash(hs, payload, len, out + pos, &n);
    if (rc != 0) {
        hs_fail(hs);
        return rc;
    }
    *outlen = pos + n;
    advance(hs);
    return 0;
}

int tw_noise_hs_read(tw_noise_hs *hs, const uint8_t *msg, size_t len,
                     uint8_t *payload_out, size_t cap, size_t *plen)
{
    const uint8_t *tok;
    size_t over, pos = 0, n;
    unsigned t;
    int rc = 0;

    if (!hs || !plen || (len && !msg) || (cap && !payload_out)) return TW_EINVAL;
    *plen = 0;
    if (hs->failed || hs->complete || tw_noise_hs_my_turn(hs)) return TW_ESTATE;
    over = msg_overhead(hs);
    if (len > TW_FRAME_MAX) rc = TW_ETOOBIG;
    else if (len < over) rc = TW_ETRUNC;
    if (rc != 0) {
        hs_fail(hs);
        return rc;
    }
    if (len - over > cap) return TW_ETOOBIG;

    tok = hs->toks[hs->msg_index];
    for (t = 0; t < TOK_MAX && tok[t] != T_END && rc == 0; t++) {
        switch (tok[t]) {
        case T_E:
            memcpy(hs->re, msg + pos, TW_NOISE_DHLEN);
            hs->has_re = 1;
            pos += TW_NOISE_DHLEN;
            mix_hash(hs, hs->re, TW_NOISE_DHLEN);
            if (hs->psk_mode) mix_key(hs, hs->re, TW_NOISE_DHLEN);
            break;
        case T_S:
            n = TW_NOISE_DHLEN + (hs->cs.has_key ? TW_NOISE_TAGLEN : 0);
            if ((rc = decrypt_and_hash(hs, msg + pos, n, hs->rs)) != 0) break;
            hs->has_rs = 1;
            pos += n;
            break;
        case T_PSK:
            rc = psk_token(hs);
            break;
        default:
            rc = dh_token(hs, tok[t]);
            break;
        }
    }
    if (rc == 0) rc = decrypt_and_hash(hs, msg + pos, len - pos, payload_out);
    if (rc != 0) {
        hs_fail(hs);
        return rc;
    }
    *plen = len - over;
    advance(hs);
    return 0;
}

int tw_noise_hs_handshake_hash(const tw_noise_hs *hs, uint8_t out[TW_NOISE_HASHLEN])
{
    if (!hs || !out) return TW_EINVAL;
    if (!hs->complete) return TW_ESTATE;
    memcpy(out, hs->h, TW_NOISE_HASHLEN);
    return 0;
}

int tw_noise_hs_remote_static(const tw_noise_hs *hs, uint8_t out[TW_NOISE_DHLEN])
{
    if (!hs || !out) return TW_EINVAL;
    if (!hs->complete) return TW_ESTATE;
    if (!hs->has_rs) return TW_ENOTFOUND;
    memcpy(out, hs->rs, TW_NOISE_DHLEN);
    return 0;
}

int tw_noise_hs_split(tw_noise_hs *hs, tw_noise_cs **tx, tw_noise_cs **rx)
{
    tw_noise_cs *a, *b;

    if (!hs || !tx || !rx) return TW_EINVAL;
    if (!hs->complete || hs->split_taken) return TW_ESTATE;
    a = malloc(sizeof *a);
    b = malloc(sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return TW_ENOMEM;
    }
    /* The initiator sends with the first key, the responder with the second. */
    *a = hs->initiator ? hs->c1 : hs->c2;
    *b = hs->initiator ? hs->c2 : hs->c1;
    sodium_memzero(&hs->c1, sizeof hs->c1);
    sodium_memzero(&hs->c2, sizeof hs->c2);
    hs->split_taken = 1;
    *tx = a;
    *rx = b;
    return 0;
}

/* ---- transport ---- */

int tw_noise_cs_encrypt(tw_noise_cs *cs, const uint8_t *pt, size_t len,
                        uint8_t *out, size_t cap, size_t *outlen)
{
    int rc;

    if (!cs || !outlen || (len && !pt) || (cap && !out)) return TW_EINVAL;
    *outlen = 0;
    if (cs->failed || !cs->has_key) return TW_ESTATE;
    if (len > TW_NOISE_PLAINTEXT_MAX || len + TW_NOISE_TAGLEN > cap) return TW_ETOOBIG;
    if ((rc = cs_encrypt_ad(cs, NULL, 0, pt, len, out)) != 0) return rc;
    *outlen = len + TW_NOISE_TAGLEN;
    return 0;
}

int tw_noise_cs_decrypt(tw_noise_cs *cs, const uint8_t *ct, size_t len,
                        uint8_t *out, size_t cap, size_t *outlen)
{
    int rc;

    if (!cs || !outlen || (len && !ct) || (cap && !out)) return TW_EINVAL;
    *outlen = 0;
    if (cs->failed || !cs->has_key) return TW_ESTATE;
    if (len > TW_FRAME_MAX) return TW_ETOOBIG;
    if (len < TW_NOISE_TAGLEN) return TW_ETRUNC;
    if (len - TW_NOISE_TAGLEN > cap) return TW_ETOOBIG;
    rc = cs_decrypt_ad(cs, NULL, 0, ct, len, out);
    if (rc == TW_EDECRYPT) {
        sodium_memzero(cs, sizeof *cs);
        cs->failed = 1;
        return rc;
    }
    if (rc) return rc;
    *outlen = len - TW_NOISE_TAGLEN;
    return 0;
}

uint64_t tw_noise_cs_nonce(const tw_noise_cs *cs)
{
    return cs ? cs->n : 0;
}

int tw_noise_cs_set_nonce(tw_noise_cs *cs, uint64_t n)
{
    if (!cs || n < cs->n) return TW_EINVAL;
    cs->n = n;
    return 0;
}

void tw_noise_cs_free(tw_noise_cs *cs)
{
    if (!cs) return;
    sodium_memzero(cs, sizeof *cs);
    free(cs);
}

/* ---- keys ---- */

int tw_noise_keypair_from_ed25519(uint8_t x_priv[TW_NOISE_DHLEN], uint8_t x_pub[TW_NOISE_DHLEN],
                                  const uint8_t ed_sk[64], const uint8_t ed_pk[32])
{
    if (!x_priv || !x_pub || !ed_sk || !ed_pk) return TW_EINVAL;
    if (crypto_sign_ed25519_pk_to_curve25519(x_pub, ed_pk) != 0) return TW_EKEY;
    if (crypto_sign_ed25519_sk_to_curve25519(x_priv, ed_sk) != 0) {
        sodium_memzero(x_pub, TW_NOISE_DHLEN);
        return TW_EKEY;
    }
    return 0;
}

int tw_noise_pub_from_ed25519(uint8_t x_pub[TW_NOISE_DHLEN], const uint8_t ed_pk[32])
{
    if (!x_pub || !ed_pk) return TW_EINVAL;
    return crypto_sign_ed25519_pk_to_curve25519(x_pub, ed_pk) == 0 ? 0 : TW_EKEY;
}
