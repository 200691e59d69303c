/*
 * Admission in the daemon (proto/PROTOCOL.md, "Trust and admission"): the
 * root keys, the admitted set computed by proto/trust.c from the vouch
 * records in the store, and what follows when it changes.
 *
 * Entries of authors who are not admitted are refused on receipt
 * (tw_admit_filter, before a commit).  Entries stored while their author
 * was admitted stay on disk when it loses admission, but are hidden: not
 * in the reconciliation set, not served, listed or counted
 * (tw_node_visible); they show again when it is admitted again.
 *
 * The admitted set in force is always the one computed from the vouch
 * records in the store: a batch that brought vouches is followed by
 * tw_admit_settle(), which recomputes from the store, compares with the
 * set before and tells the network layer which keys gained or lost
 * admission.  All calls are made on the event loop thread.
 */
#ifndef TWIND_ADMIT_H
#define TWIND_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twin/entry.h"
#include "twin/mp.h"

typedef struct tw_node tw_node;

#define TW_ROOTS_FILE "network.roots"

/* Roots from the config, else from the data directory; the vouch records
 * of the store.  Called by tw_node_open once the store is open. */
int  tw_admit_open(tw_node *n, char *err, size_t errlen);
void tw_admit_close(tw_node *n);


/* Before a commit of received entries: entries whose authors are not
 * admitted once the batch's own vouches count get rcs[i] = TW_EREFUSED and
 * a reason.  Each refusing author is logged once per batch. */
void tw_admit_filter(tw_node *n, tw_entry *const *ents, int *rcs, const char **whys, size_t cnt);
/* After a commit: each entry stored (vouches are noted), then settle once. */
void tw_admit_stored(tw_node *n, const tw_entry *e);
void tw_admit_settle(tw_node *n);

/* ---- associations and their keys (proto/ident.c; PROTOCOL.md "Associations and their keys") ---- */
/* The association (identity) a key writes for: the key itself unless a
 * device, succession or recovery record says otherwise. */
void tw_admit_identity(const tw_node *n, const uint8_t key[TW_KEY_LEN], uint8_t out[TW_KEY_LEN]);
/* The one stateful rule every door applies (publish, import, peer, bundle):
 * 0, or TW_EREFUSED with *why when the key is cut off at ts. */
int  tw_admit_check_entry(const tw_node *n, const uint8_t author[TW_KEY_LEN], uint64_t ts, const char **why);
/* The keys of key's association, its identity key first; at most cap. */
size_t tw_admit_identity_keys(const tw_node *n, const uint8_t key[TW_KEY_LEN], uint8_t (*out)[TW_KEY_LEN], size_t cap);
/* "device LABEL of ASSOC", "former key of ASSOC", or ASSOC's name (its
 * fingerprint when it has none), for showing a key. */
int  tw_admit_describe(const tw_node *n, const uint8_t key[TW_KEY_LEN], char *buf, size_t cap);
/* The identity table in force (never NULL once open). */
const struct tw_ident *tw_admit_ident(const tw_node *n);

/* True when the network has no root keys: every author is admitted. */
bool tw_admit_is_open(const tw_node *n);
/* TW_TRUST_OK, or why key is not admitted (include/twin/trust.h). */
int  tw_admit_why(const tw_node *n, const uint8_t key[TW_KEY_LEN]);
/* A key whose connections are refused: revoked by its vouchers or a root. */
bool tw_admit_refused_peer(const tw_node *n, const uint8_t key[TW_KEY_LEN], const char **why);
/* tw_node_visible as a store filter (tw_store_author_filter), node as ctx. */
bool tw_admit_visible_cb(void *node, const uint8_t author[TW_KEY_LEN], uint64_t ts);
/* True when some stored records are hidden (their authors lost admission
 * or were never admitted): readers must then check tw_node_visible. */
bool tw_admit_hiding(const tw_node *n);

/* The "members" op result: open flag and the admitted keys. */
int tw_admit_encode_members(tw_node *n, tw_buf *out);
/* Adds this node's admission to a status map being written: "admission"
 * (text), "admitted" (bool), "members" (count); 3 pairs. */
int tw_admit_encode_status(tw_node *n, tw_buf *out);
/* Name, role and depth of an admitted key, for messages; false if none. */
bool tw_admit_member(const tw_node *n, const uint8_t key[TW_KEY_LEN], char *name, size_t cap,
                     unsigned *depth, int *role);
unsigned tw_admit_max_depth(const tw_node *n);
/* The key whose vouch admits key (itself an association's identity key, not
 * a root), for a full node's REFER (daemon/net.c); false if none. */
/* Whether a vouch record this node has not stored (one sent with a REFER)
 * would admit its subject here now, by this node's own rules: a map, not a
 * revocation, its author a member here below the depth limit, its subject
 * (written to subject) not refused.  The record's signature and schema are
 * the caller's to check. */
bool tw_admit_vouch_admits(const tw_node *n, const tw_entry *e, uint8_t subject[TW_KEY_LEN]);
bool tw_admit_voucher(const tw_node *n, const uint8_t key[TW_KEY_LEN], uint8_t voucher[TW_KEY_LEN]);
/* Changes whenever the admitted set may have changed, so that what is
 * computed from visible records can be kept until it does. */
uint64_t tw_admit_generation(const tw_node *n);
/* New roots in force (join, make_root): admission recomputed from the
 * store and every record's visibility compared with before. */
int tw_admit_set_roots(tw_node *n, const uint8_t (*roots)[TW_KEY_LEN], size_t nroots);
/* Writes the roots file atomically; suffix "" for network.roots itself or
 * a suffix for a staged copy. */
int tw_admit_write_roots(tw_node *n, const uint8_t (*roots)[TW_KEY_LEN], size_t nroots,
                         const char *suffix, char *err, size_t errlen);

#endif
