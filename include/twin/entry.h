/*
 * Signed entries: the unit of replication (proto/PROTOCOL.md, "Entries").
 *
 *   envelope = [version, payload (bin), signature (bin 64)]
 *   payload  = canonical map {author, body, kind, net, slot, ts}
 *   signature = Ed25519(TW_ENTRY_CONTEXT || payload)
 *   id = BLAKE2b-256(envelope)
 *
 * Payload bytes are verified as received and stored byte for byte; they are
 * never re-encoded.
 */
#ifndef TWIN_ENTRY_H
#define TWIN_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "twin/mp.h"

#define TW_KEY_LEN    32u
#define TW_SECKEY_LEN 64u
#define TW_SIG_LEN    64u
#define TW_ID_LEN     32u
#define TW_NETID_LEN  32u
#define TW_NETKEY_LEN 32u
/* Signed before the payload bytes, so an entry signature can never be
 * mistaken for a signature over anything else the key signs. */
#define TW_ENTRY_CONTEXT     "twin-entry-v1:"
#define TW_ENTRY_CONTEXT_LEN 14u
/* Key for deriving the public network id from the secret network key. */
#define TW_NETID_CONTEXT     "twin-network-id-v1"

typedef struct tw_entry {
    const uint8_t *env;      size_t env_len;      /* whole envelope */
    const uint8_t *payload;  size_t payload_len;
    const uint8_t *sig;                           /* TW_SIG_LEN bytes */
    uint8_t id[TW_ID_LEN];
    const uint8_t *author;                        /* TW_KEY_LEN bytes */
    const uint8_t *net;                           /* TW_NETID_LEN bytes */
    const char *kind;        uint32_t kind_len;
    const char *slot;        uint32_t slot_len;
    uint64_t ts;                                  /* ms since the epoch */
    tw_val body;                                  /* TW_MAP, or TW_NIL for a tombstone */
} tw_entry;

/* Structural and canonical checks of an envelope; computes the id.  Does not
 * check the signature, the network or the time.  Pointers refer into env. */
int tw_entry_parse(const uint8_t *env, size_t len, tw_arena *a, tw_entry *e,
                   const char **why);
/* The same, for envelopes read back from our own store, whose id is known:
 * skips hashing the envelope and checking the canonical encoding again
 * (TW_MP_STORED: it was checked when the entry was admitted). */
int tw_entry_parse_known(const uint8_t *env, size_t len, const uint8_t id[TW_ID_LEN],
                         tw_arena *a, tw_entry *e);
int tw_entry_verify(const tw_entry *e);                       /* TW_EBADSIG */
/* Network binding and clock: TW_ENETWORK, TW_EFUTURE. */
int tw_entry_check(const tw_entry *e, const uint8_t netid[TW_NETID_LEN], uint64_t now_ms);
/* Builds, signs and encodes an entry into out (reset first).  body is a map
 * or nil; it is encoded canonically. */
int tw_entry_sign(tw_buf *out, const uint8_t sk[TW_SECKEY_LEN],
                  const uint8_t netid[TW_NETID_LEN], const char *kind, size_t kind_len,
                  const char *slot, size_t slot_len, uint64_t ts, const tw_val *body);
/* >0 when a supersedes b in their slot (greater ts, then greater id). */
int tw_entry_cmp_version(uint64_t ts_a, const uint8_t id_a[TW_ID_LEN],
                         uint64_t ts_b, const uint8_t id_b[TW_ID_LEN]);
void tw_netid_derive(uint8_t netid[TW_NETID_LEN], const uint8_t netkey[TW_NETKEY_LEN]);
/* Kind and slot key syntax (lengths, characters), shared by all kinds. */
int tw_entry_check_names(const char *kind, size_t kind_len, const char *slot,
                         size_t slot_len, const char **why);

#endif
