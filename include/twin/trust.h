/*
 * Admission: which keys may write to the registry (proto/PROTOCOL.md,
 * "Trust and admission").  Pure code: the daemon feeds it the current
 * version of every `vouch` record it holds and asks it to recompute; the
 * module never reads the store.
 *
 * The admitted set is recomputed from scratch by a breadth-first walk from
 * the configured roots over the vouches that count, so it depends only on
 * the roots, the depth limit and the set of current records, never on the
 * order in which records arrived:
 *
 *   - a root is admitted at depth 0, whatever any vouch says;
 *   - a vouch by an admitted author at depth d admits its key at depth
 *     d + 1 if d + 1 <= max_depth, unless the vouch is revoked, is a
 *     self-vouch, or a root's current record for that key is revoked;
 *   - depth is the shortest path; the name, role, voucher and since of a
 *     member come from the vouch on a shortest path whose author's key is
 *     smallest bytewise.
 *
 * A key reached only through a key that lost admission loses it too, and
 * gets it back when a path from the roots exists again.  Vouches by
 * authors who are not admitted are kept and count as soon as their author
 * is admitted.
 *
 * Nothing a put or del does is visible until tw_trust_compute(): queries
 * answer for the last compute, and the diff lists the keys whose admission
 * changed in it.
 */
#ifndef TWIN_TRUST_H
#define TWIN_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twin/limits.h"

#define TW_TRUST_KEY_LEN      32u
#define TW_TRUST_HASH_KEY_LEN 16u   /* SipHash key of the key table */

typedef struct tw_trust tw_trust;

/* Roles: members and hubs are what a vouch says; roots come from config. */
enum {
    TW_TRUST_MEMBER = 0,
    TW_TRUST_HUB    = 1,
    TW_TRUST_ROOT   = 2,
};

/* Why a key is or is not admitted, for the daemon's refusal log.  When
 * several reasons hold, the greatest value is given. */
enum {
    TW_TRUST_OK = 0,       /* admitted */
    TW_TRUST_UNVOUCHED,    /* no admitted author vouches for it */
    TW_TRUST_REVOKED,      /* admitted authors hold only revocations of it */
    TW_TRUST_TOO_DEEP,     /* vouched, but only by admitted authors at max_depth */
    TW_TRUST_BANNED,       /* a root's current record for it is a revocation */
};

typedef struct tw_trust_member {
    uint8_t key[TW_TRUST_KEY_LEN];
    uint8_t voucher[TW_TRUST_KEY_LEN]; /* all zero for a root */
    const char *name;      /* not NUL-terminated; "" for a root.  Valid until
                            * the next tw_trust_compute() or tw_trust_free(). */
    size_t name_len;
    int role;              /* TW_TRUST_ROOT, TW_TRUST_MEMBER or TW_TRUST_HUB */
    unsigned depth;        /* 0 for a root */
    uint64_t since;        /* timestamp (ms) of the admitting vouch; 0 for a root */
} tw_trust_member;

/* roots: nroots keys (duplicates are merged), at most TW_CONF_ROOTS_MAX
 * (TW_ETOOBIG); max_depth at most TW_TRUST_DEPTH_MAX (TW_EINVAL).
 * hash_key: random bytes from the caller, so that keys chosen to collide
 * cannot pile up on one probe chain.  Nothing is admitted until the first
 * tw_trust_compute(). */
int  tw_trust_new(tw_trust **out, const uint8_t (*roots)[TW_TRUST_KEY_LEN], size_t nroots,
                  unsigned max_depth, const uint8_t hash_key[TW_TRUST_HASH_KEY_LEN]);
void tw_trust_free(tw_trust *t);

/* The current vouch record of author for key: it replaces the one held for
 * (author, key), if any, whatever the timestamps (the store decides which
 * version is current).  name may be NULL when name_len is 0.  role is
 * TW_TRUST_MEMBER or TW_TRUST_HUB (TW_EINVAL otherwise).  TW_ETOOBIG, with
 * nothing changed, when name_len > TW_STR_MAX or a new record would pass
 * TW_TRUST_VOUCHES_MAX, TW_TRUST_VOUCHES_PER_AUTHOR_MAX or (with the keys
 * it names) TW_TRUST_KEYS_MAX; TW_ENOMEM. */
int  tw_trust_put_vouch(tw_trust *t, const uint8_t author[TW_TRUST_KEY_LEN],
                        const uint8_t key[TW_TRUST_KEY_LEN], const char *name, size_t name_len,
                        int role, bool revoked, uint64_t ts);
/* The record of author for key is gone (a tombstone).  TW_ENOTFOUND if none
 * is held. */
int  tw_trust_del_vouch(tw_trust *t, const uint8_t author[TW_TRUST_KEY_LEN],
                        const uint8_t key[TW_TRUST_KEY_LEN]);

/* Recompute the admitted set, the members and the diff.  On TW_ENOMEM the
 * results of the previous compute stay as they were. */
int  tw_trust_compute(tw_trust *t);

bool tw_trust_admitted(const tw_trust *t, const uint8_t key[TW_TRUST_KEY_LEN]);
bool tw_trust_is_root(const tw_trust *t, const uint8_t key[TW_TRUST_KEY_LEN]);
/* TW_TRUST_OK or the reason it is not admitted. */
int  tw_trust_why(const tw_trust *t, const uint8_t key[TW_TRUST_KEY_LEN]);
const char *tw_trust_why_str(int why);

/* Admitted keys, ordered by depth, then key bytewise. */
size_t tw_trust_count(const tw_trust *t);
int  tw_trust_get(const tw_trust *t, size_t i, tw_trust_member *m);        /* TW_ENOTFOUND past the end */
int  tw_trust_lookup(const tw_trust *t, const uint8_t key[TW_TRUST_KEY_LEN],
                     tw_trust_member *m);                                   /* TW_ENOTFOUND if not admitted */

/* Keys whose admission changed in the last compute, ordered by key
 * bytewise: gained true for a key admitted now and not before, false for
 * one admitted before and not now.  The first compute lists every admitted
 * key as gained.  A change of depth, role or voucher alone is not listed. */
size_t tw_trust_diff_count(const tw_trust *t);
int  tw_trust_diff(const tw_trust *t, size_t i, uint8_t key[TW_TRUST_KEY_LEN], bool *gained);

/* Vouch records held (all authors, revoked ones included). */
size_t tw_trust_records(const tw_trust *t);

#endif
