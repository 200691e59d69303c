/*
 * The node: identity, network, store and the services around them.  One
 * per twind process, owned by main.c; every module reaches the others
 * through it.
 */
#ifndef TWIND_NODE_H
#define TWIND_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "twin/entry.h"
#include "twin/mp.h"
#include "config.h"
#include "store.h"

#define TW_IDENTITY_FILE "identity.key"
#define TW_NETWORK_FILE  "network.key"
#define TW_LOCK_FILE     "twind.lock"
#define TW_VERSION       "0.1.0"

typedef struct tw_ctlsrv tw_ctlsrv;
typedef struct tw_net tw_net;
typedef struct tw_admit tw_admit;
typedef struct tw_http tw_http;
typedef struct tw_node tw_node;
/* Called for every entry newly stored, whatever its source (NULL: this node). */
typedef void (*tw_stored_hook)(tw_node *n, void *source, const tw_entry *e, const tw_put *put);

struct tw_node {
    uv_loop_t *loop;
    tw_config cfg;
    uint8_t sk[TW_SECKEY_LEN], pk[TW_KEY_LEN];
    uint8_t netkey[TW_NETKEY_LEN], netid[TW_NETID_LEN];
    char keytext[64], fingerprint[16];
    tw_store *store;
    tw_ctlsrv *ctl;
    tw_net *net;
    tw_admit *admit;                   /* daemon/admit.c */
    tw_http *http;                     /* daemon/http.c; NULL when http = off */
    tw_stored_hook on_stored;
    int lock_fd;
    uint64_t started_ms;
    uint64_t last_request_ms;          /* last control request, for idle trims */
    bool stopping;
};

uint64_t tw_now_ms(void);

/* Data directory, lock, identity, network key, store.  err gets a message
 * that names the file and the fix. */
int  tw_node_open(tw_node *n, uv_loop_t *loop, const tw_config *cfg, char *err, size_t errlen);
void tw_node_close(tw_node *n);

/* Identity file: created with mode 0600 if absent; refused if group or
 * others may read or write it. */
int tw_identity_load(const char *dir, uint8_t sk[TW_SECKEY_LEN], char *err, size_t errlen);

/* Local writes.  Each validates the record against its schema, signs it
 * with the node key at a timestamp above the slot's current one, and stores
 * it durably before returning. */
typedef struct tw_record_in {
    const char *kind; size_t kind_len;
    const char *slot; size_t slot_len;
    const tw_val *body;               /* map, or NULL for a deletion */
} tw_record_in;

typedef struct tw_write_result {
    uint8_t id[TW_ID_LEN];
    uint64_t ts;
    bool created;                     /* the slot had no live record before */
    bool unchanged;                   /* same body as the current version: nothing signed */
} tw_write_result;

/* Signs and stores n records in one transaction: all or nothing.  On a
 * refusal *bad is the index of the record and err says why. */
int tw_node_write(tw_node *n, const tw_record_in *recs, size_t nrec, tw_write_result *res,
                  size_t *bad, char *err, size_t errlen);

/* Replaces this node's key (key rotation): identity.key written afresh
 * (the old one kept as identity.key.replaced-MS), the node signs with the
 * new key from now on, and every connection is closed to be made again
 * under it. */
int tw_node_set_identity(tw_node *n, const uint8_t seed[32], char *err, size_t errlen);

/* ---- admission (daemon/admit.c; proto/PROTOCOL.md "Trust and admission") ---- */

/* Whether records of this author are part of the registry here: always
 * true on an open network (no root keys), else whether it is admitted. */
bool tw_node_visible(const tw_node *n, const uint8_t author[TW_KEY_LEN]);
/* An entry by author dated ts: its association visible and its key not cut
 * off at ts (replication, serving, bundles). */
bool tw_node_visible_at(const tw_node *n, const uint8_t author[TW_KEY_LEN], uint64_t ts);
/* An entry as the views see it: visible at its time and the newest version
 * of its (association, kind, slot) across the association's keys. */
bool tw_node_shown(tw_node *n, const tw_entry *e);
/* What tw_node_shown says of every entry of an author, when the author
 * alone decides: 1 all shown (a key no identity record names, visible), 0
 * none (its association not visible), -1 it depends on the entry (a key of
 * an association of several keys, or one cut off from some time on). */
int tw_node_author_shown(tw_node *n, const uint8_t author[TW_KEY_LEN]);
/* The root keys in force (config `root` lines, else the data directory's
 * network.roots file); *roots valid until the next join. */
size_t tw_node_roots(const tw_node *n, const uint8_t (**roots)[TW_KEY_LEN]);
/* On an open network, makes this node its only root (persisted in
 * network.roots) so that it can invite; 0 with nothing done when roots are
 * set already. */
int tw_node_make_root(tw_node *n, char *err, size_t errlen);
/* Moves this node into another network: its network key and roots are
 * replaced (persisted), its own records are signed again for the new
 * network, and every connection is closed.  Refused (TW_EBUSY) when the
 * store holds records of other authors or when the config file sets
 * network_key or root. */
int tw_node_join(tw_node *n, const uint8_t netkey[TW_NETKEY_LEN], const uint8_t (*roots)[TW_KEY_LEN],
                 size_t nroots, char *err, size_t errlen);

#endif
