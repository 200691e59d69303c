/*
 * Noise Protocol Framework (revision 34) for the one suite twind speaks:
 * DH 25519, cipher ChaChaPoly, hash BLAKE2b.  The handshake patterns NN, NK
 * and XX are supported with any set of psk0..psk3 modifiers, parsed from the
 * protocol name, so the public test vectors for the suite can all be run;
 * twind itself uses "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b".
 *
 * The module is pure: it does no I/O and draws no randomness.  The caller
 * passes the ephemeral private key (32 bytes from randombytes_buf() in the
 * daemon, fixed bytes in tests) and must have called sodium_init().
 *
 * Every function returns 0 or a negative TW_E* code.  A handshake that meets
 * any error caused by the peer's bytes (bad length, failed authentication,
 * weak key) is failed for good: its secrets are wiped and every later call
 * returns TW_ESTATE.
 */
#ifndef TWIN_NOISE_H
#define TWIN_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "twin/limits.h"

#define TW_NOISE_DHLEN     32u   /* X25519 public and private key bytes */
#define TW_NOISE_KEYLEN    32u   /* cipher key bytes, also PSK bytes */
#define TW_NOISE_HASHLEN   64u   /* BLAKE2b-512 output; the handshake hash */
#define TW_NOISE_TAGLEN    16u   /* Poly1305 tag appended to every ciphertext */
#define TW_NOISE_PSK_MAX   4u    /* psk modifiers in one pattern (psk0..psk3) */
#define TW_NOISE_NAME_MAX  255u  /* bytes of a protocol name we accept */

/* The plaintext that fits in one transport message of TW_FRAME_MAX bytes. */
#define TW_NOISE_PLAINTEXT_MAX (TW_FRAME_MAX - TW_NOISE_TAGLEN)

typedef struct tw_noise_hs tw_noise_hs;   /* a handshake in progress */
typedef struct tw_noise_cs tw_noise_cs;   /* one direction of transport */

/*
 * What a handshake is started with.  Pointers are read during
 * tw_noise_hs_new() only; the state keeps its own copies.
 */
struct tw_noise_params {
    const char    *protocol;      /* e.g. "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b" */
    int            initiator;     /* 1 for the side that sends message 1, else 0 */
    const uint8_t *prologue;      /* may be NULL when prologue_len is 0 */
    size_t         prologue_len;
    const uint8_t *s_priv;        /* local static private key; required if the
                                     pattern uses s for this side, else ignored */
    const uint8_t *rs_pub;        /* remote static public key known beforehand;
                                     required for the NK initiator, else ignored */
    const uint8_t *psks;          /* psk_count keys of 32 bytes, in the order
                                     the psk tokens occur in the pattern */
    size_t         psk_count;     /* must equal the number of psk modifiers */
    const uint8_t *e_priv;        /* ephemeral private key: 32 random bytes */
};

/* Starts a handshake.  TW_EINVAL for an unknown or malformed protocol name
 * or a missing key; TW_ENOMEM if allocation fails. */
int tw_noise_hs_new(tw_noise_hs **out, const struct tw_noise_params *p);

/* Wipes and frees a handshake (and any transport states not taken). */
void tw_noise_hs_free(tw_noise_hs *hs);

/*
 * Writes the next handshake message carrying payload into out.  TW_ESTATE if
 * it is not this side's turn or the handshake is over or failed; TW_ETOOBIG if
 * the message would exceed cap or TW_FRAME_MAX (the state is then unchanged);
 * TW_EKEY if a Diffie-Hellman result is zero (the peer sent a weak key).
 * payload and out must not overlap.
 */
int tw_noise_hs_write(tw_noise_hs *hs, const uint8_t *payload, size_t len,
                      uint8_t *out, size_t cap, size_t *outlen);

/*
 * Reads the next handshake message and puts its payload into payload_out.
 * TW_ESTATE out of turn; TW_ETOOBIG if len exceeds TW_FRAME_MAX; TW_ETRUNC if
 * msg is shorter than its tokens require; TW_EDECRYPT if authentication
 * fails; TW_EKEY for a weak remote key.  Each of these fails the handshake.
 * If the payload would not fit in cap the call returns TW_ETOOBIG and leaves
 * the state unchanged, so the caller may retry with a larger buffer.
 * msg and payload_out must not overlap.
 */
int tw_noise_hs_read(tw_noise_hs *hs, const uint8_t *msg, size_t len,
                     uint8_t *payload_out, size_t cap, size_t *plen);

int tw_noise_hs_my_turn(const tw_noise_hs *hs);   /* 1 if this side writes next */
int tw_noise_hs_complete(const tw_noise_hs *hs);  /* 1 once every message is done */
int tw_noise_hs_failed(const tw_noise_hs *hs);    /* 1 after an aborting error */

/* X25519 operations this state has performed (key generation and DH). */
unsigned tw_noise_hs_dh_count(const tw_noise_hs *hs);

/* The handshake hash h, for channel binding.  TW_ESTATE until complete. */
int tw_noise_hs_handshake_hash(const tw_noise_hs *hs, uint8_t out[TW_NOISE_HASHLEN]);

/* The peer's static public key.  TW_ESTATE until complete; TW_ENOTFOUND if
 * the pattern never transmits or pre-shares one (NN). */
int tw_noise_hs_remote_static(const tw_noise_hs *hs, uint8_t out[TW_NOISE_DHLEN]);

/*
 * Hands over the two transport states once the handshake is complete: tx
 * encrypts what this side sends, rx decrypts what it receives.  Can be done
 * once; TW_ESTATE otherwise.  The caller frees both with tw_noise_cs_free().
 */
int tw_noise_hs_split(tw_noise_hs *hs, tw_noise_cs **tx, tw_noise_cs **rx);

/*
 * Transport messages, with empty associated data as Noise transport
 * messages have.  out needs len + TW_NOISE_TAGLEN bytes for encryption and
 * len - TW_NOISE_TAGLEN for decryption.  TW_ETOOBIG past TW_FRAME_MAX or cap,
 * or when the nonce counter has reached 2^64-1 (the state must be dropped).
 * A failed decryption returns TW_EDECRYPT and fails the state for good: the
 * connection is to be closed, and a dead state gives a forger no second try.
 */
int tw_noise_cs_encrypt(tw_noise_cs *cs, const uint8_t *pt, size_t len,
                        uint8_t *out, size_t cap, size_t *outlen);
int tw_noise_cs_decrypt(tw_noise_cs *cs, const uint8_t *ct, size_t len,
                        uint8_t *out, size_t cap, size_t *outlen);

/* The nonce the next message will use. */
uint64_t tw_noise_cs_nonce(const tw_noise_cs *cs);

/* Moves the nonce forward (never back, so no nonce can be used twice);
 * TW_EINVAL if n is below the current nonce. */
int tw_noise_cs_set_nonce(tw_noise_cs *cs, uint64_t n);

/* Wipes and frees a transport state; NULL is accepted. */
void tw_noise_cs_free(tw_noise_cs *cs);

/* The X25519 key pair that belongs to an Ed25519 identity key pair
 * (libsodium's sk is 64 bytes: seed then public key).  TW_EKEY if the
 * public key is not a valid point. */
int tw_noise_keypair_from_ed25519(uint8_t x_priv[TW_NOISE_DHLEN], uint8_t x_pub[TW_NOISE_DHLEN],
                                  const uint8_t ed_sk[64], const uint8_t ed_pk[32]);

/* The X25519 public key of a peer's Ed25519 identity, to compare with
 * tw_noise_hs_remote_static() after the handshake. */
int tw_noise_pub_from_ed25519(uint8_t x_pub[TW_NOISE_DHLEN], const uint8_t ed_pk[32]);

#endif
