/*
 * Associations and their keys (proto/PROTOCOL.md "Associations and their
 * keys").  Pure code, like trust.c: the daemon feeds it the current version
 * of every `device`, `succession`, `recovery`, `keyplan` and `vouch` record
 * it holds, asks it to recompute, and then asks, for any signing key, which
 * association (identity) it writes for and from when its entries are
 * refused (its cut-off).  The module never reads the store.
 *
 * Entries stay signed, stored and reconciled per key; only what they mean
 * is per identity.  An identity is named by its first key (the key the
 * network admitted); a key no record names is its own identity with no
 * cut-off, so a single-node association is exactly what it was.
 *
 *   - A rotation: a `succession` record by key O naming key N.  The
 *     earliest valid one counts; O's entries dated after it are refused and
 *     N is the identity's current key.  When O committed to its next key
 *     (`keyplan`), only a rotation to the committed key is valid; two
 *     commitments by O block planned rotation until a recovery.
 *   - A recovery: a `recovery` record by a root or by the identity of a key
 *     holding a current vouch for O's identity, naming O, N and `from`:
 *     O's entries dated from `from` on are refused, N is the current key.
 *     It outranks every rotation by O (a thief can backdate one).
 *   - A device: a `device` record by a key of the identity that was current
 *     at the record's time certifies a key as the identity's; the newest
 *     device record for that key across the identity's keys says whether it
 *     is revoked and from when.
 *   - A successor or device key must be fresh: not a root, not named by a
 *     vouch, not another identity's key.
 *
 * The result depends only on the roots and the set of current records,
 * never on the order in which they arrived.
 */
#ifndef TWIN_IDENT_H
#define TWIN_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twin/entry.h"
#include "twin/limits.h"

#define TW_IDENT_KEY_LEN 32u
#define TW_IDENT_NEVER   UINT64_MAX    /* no cut-off */

typedef struct tw_ident tw_ident;

/* What a key is to its identity. */
enum {
    TW_IDENT_SELF = 0,     /* a key no record names: its own identity */
    TW_IDENT_FIRST,        /* the first key of an identity that has other keys */
    TW_IDENT_SUCCESSOR,    /* a key the identity moved to (rotation or recovery) */
    TW_IDENT_DEVICE,       /* a device certified by the identity */
};

typedef struct tw_ident_key {
    uint8_t key[TW_IDENT_KEY_LEN];
    uint8_t identity[TW_IDENT_KEY_LEN];
    int role;              /* TW_IDENT_* */
    uint64_t cutoff;       /* entries with ts >= cutoff are refused; TW_IDENT_NEVER */
    bool revoked;          /* device revoked, or key lost (recovered) */
    bool current;          /* the identity's current key */
    const char *label;     /* device label (not NUL-terminated), else "" */
    size_t label_len;
    uint64_t since;        /* ts of the certifying record (device, succession) */
} tw_ident_key;

int  tw_ident_new(tw_ident **out, const uint8_t (*roots)[TW_IDENT_KEY_LEN], size_t nroots);
void tw_ident_free(tw_ident *t);

/* Whether this module reads records of this kind. */
bool tw_ident_kind(const char *kind, size_t kind_len);
/* The current version of a record of one of those kinds (body already
 * passed tw_schema_check_record): replaces the one held for (author, kind,
 * slot).  A tombstone (only a vouch may have one) removes it.  Records of
 * other kinds are ignored (0).  TW_ETOOBIG, with nothing changed, past
 * TW_IDENT_RECORDS_MAX records; TW_ENOMEM. */
int  tw_ident_put(tw_ident *t, const tw_entry *e);
/* Recompute.  On TW_ENOMEM the previous results stay. */
int  tw_ident_compute(tw_ident *t);

/* The identity a key writes for (the key itself when none other) and its
 * role and cut-off; the label points into the table (valid until the next
 * compute). */
void tw_ident_lookup(const tw_ident *t, const uint8_t key[TW_IDENT_KEY_LEN], tw_ident_key *out);
/* 0 when an entry by author dated ts counts; TW_EREFUSED with *why (static
 * text) when its key is cut off at or before ts. */
int  tw_ident_check(const tw_ident *t, const uint8_t author[TW_IDENT_KEY_LEN], uint64_t ts, const char **why);
/* The current key of the identity of key (key's identity followed to its
 * newest valid succession). */
void tw_ident_current(const tw_ident *t, const uint8_t key[TW_IDENT_KEY_LEN], uint8_t out[TW_IDENT_KEY_LEN]);
/* The keys of an identity other than the identity key itself: successors,
 * devices in use, revoked devices, each by since then key (the order views
 * compare them in).  Returns how many there are; fills at most cap. */
size_t tw_ident_keys(const tw_ident *t, const uint8_t identity[TW_IDENT_KEY_LEN], tw_ident_key *out, size_t cap);
/* Why a planned rotation of key is blocked (more than one commitment), or
 * the commitment it must match: 0 none, 1 one (hash in commit), 2 blocked. */
int  tw_ident_commitment(const tw_ident *t, const uint8_t key[TW_IDENT_KEY_LEN], uint8_t commit[32]);
/* Keys whose identity or cut-off changed in the last compute (sorted). */
size_t tw_ident_changed(const tw_ident *t, const uint8_t (**keys)[TW_IDENT_KEY_LEN]);
/* Whether two tables resolve every key alike (identity, role, cut-off):
 * what decides, in the daemon, whether every record must be looked at. */
bool tw_ident_same(const tw_ident *a, const tw_ident *b);
/* Records held. */
size_t tw_ident_records(const tw_ident *t);

/* BLAKE2b-256 of a public key: the commitment a keyplan records. */
void tw_ident_commit_of(uint8_t out[32], const uint8_t key[TW_IDENT_KEY_LEN]);

#endif
