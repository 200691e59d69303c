/*
 * The push tree (proto/PROTOCOL.md, "Push tree"): which connections carry
 * a new entry in full and which only its id, after the Plumtree idea
 * (Leitão, Pereira, Rodrigues, "Epidemic broadcast trees", 2007).  Pure
 * code: no socket, no clock of its own (times are passed in), no store.
 *
 * Every link starts eager: a new entry goes to it in full (a live push).
 * A live push that brings an entry already held shows a second path to
 * it; the receiver makes that link lazy and tells the sender (PRUNE), who
 * makes it lazy too.  On a lazy link a new entry is only announced by id
 * (IHAVE).  An announced id that has not arrived TW_PUSH_MISSING_MS later
 * is asked of the announcer (WANT), and that link is made eager again on
 * both sides (GRAFT): the tree repairs itself where a link died or pruning
 * cut it.  Links of peers that do not speak the push tree (no
 * TW_WIRE_FEAT_PUSHTREE in both hellos) stay eager: they get today's full
 * push, and nothing of the push tree is sent to them.
 *
 * Two parts:
 *   tw_plum_link     the state of one link (a plain struct the daemon keeps
 *                    in its connection), with its counters;
 *   tw_plum_missing  one table per node of ids announced and not received,
 *                    with their deadlines and the peers that announced
 *                    them (peers are named by numbers the caller chooses).
 */
#ifndef TWIN_PLUMTREE_H
#define TWIN_PLUMTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twin/limits.h"

#define TW_PLUM_ID_LEN 32u
#define TW_PLUM_HASH_KEY_LEN 16u

typedef struct tw_plum_link {
    bool capable;               /* both hellos carry TW_WIRE_FEAT_PUSHTREE */
    bool eager;                 /* new entries go on this link in full */
    uint64_t window_start;      /* PRUNE/GRAFT rate window (ms) */
    uint64_t pruned_at;         /* when the link last became lazy (ms) */
    unsigned ctrl_sent, ctrl_recv;
    /* counters, since the connection was established */
    uint64_t pushes_sent;       /* entries pushed in full */
    uint64_t ihave_sent;        /* ids announced */
    uint64_t ihave_recv;        /* ids announced by the peer */
    uint64_t dups_recv;         /* live pushes that brought an entry already held */
    uint64_t prunes_sent, prunes_recv, grafts_sent, grafts_recv;
} tw_plum_link;

typedef enum { TW_PLUM_PUSH = 1, TW_PLUM_ANNOUNCE } tw_plum_route;

void tw_plum_link_init(tw_plum_link *l, bool capable);
/* How a new entry goes on this link: in full or by id.  Counts it. */
tw_plum_route tw_plum_link_route(tw_plum_link *l);
/* A live push on this link brought an entry already held.  Returns true
 * when a PRUNE is to be sent: the link is capable, eager (or lazy for
 * TW_PUSH_GRAFT_WAIT_MS already, so that the peer evidently missed the
 * change), and this window's budget (TW_PUSH_CTRL_MAX) is not spent; the
 * link is then lazy.  Otherwise nothing changes (without budget the link
 * stays eager: more copies, never fewer entries). */
bool tw_plum_link_duplicate(tw_plum_link *l, uint64_t now);
/* An announced id is missing and is asked of this link's peer, which
 * holds the link lazy since it announced.  Returns true when a GRAFT is to
 * be sent: the link is capable and the budget not spent; the link is then
 * eager (it may have been here already, if the peer's PRUNE and ours
 * crossed). */
bool tw_plum_link_graft(tw_plum_link *l, uint64_t now);
/* A PRUNE (graft false) or GRAFT (true) from the peer.  0, or TW_EPROTO
 * with *why when the link is not capable or the peer sent more than
 * 2 * TW_PUSH_CTRL_MAX of them in one window. */
int tw_plum_link_on_ctrl(tw_plum_link *l, bool graft, uint64_t now, const char **why);
/* ids announced by the peer (IHAVE of n ids).  0, or TW_EPROTO with *why
 * when the link is not capable. */
int tw_plum_link_on_ihave(tw_plum_link *l, size_t n, const char **why);

typedef struct tw_plum_missing tw_plum_missing;

/* max: ids remembered at once (1..); key: random bytes keying the table's
 * hash, so that a peer cannot choose announced ids that collide. */
int tw_plum_missing_new(tw_plum_missing **out, size_t max, const uint8_t key[TW_PLUM_HASH_KEY_LEN]);
void tw_plum_missing_free(tw_plum_missing *m);
/* peer announced id at now.  A new id is due at now + TW_PUSH_MISSING_MS;
 * a known one gains peer as a later source (at most TW_PUSH_ANNOUNCERS_MAX,
 * each once).  0; TW_EFULL when the table holds max ids (nothing kept). */
int tw_plum_missing_add(tw_plum_missing *m, const uint8_t id[TW_PLUM_ID_LEN], uint64_t peer, uint64_t now);
/* id is held now (stored, or refused for good): forgotten.  true when it
 * was awaited (announced and not yet received). */
bool tw_plum_missing_got(tw_plum_missing *m, const uint8_t id[TW_PLUM_ID_LEN]);
/* The next id due at now and the peer to ask it of: the first announcer
 * not yet asked.  The id is then due again TW_PUSH_GRAFT_WAIT_MS later for
 * the next announcer, or forgotten when every one has been asked (the
 * periodic reconciliation remains).  false when nothing more is due: call
 * it until then (one sweep of the table; a record moved during the sweep
 * may wait for the next one). */
bool tw_plum_missing_due(tw_plum_missing *m, uint64_t now, uint8_t id[TW_PLUM_ID_LEN], uint64_t *peer);
/* The peer's connection is gone: it is no source any more. */
void tw_plum_missing_peer_gone(tw_plum_missing *m, uint64_t peer);
size_t tw_plum_missing_count(const tw_plum_missing *m);

/* The last TW_PUSH_RACED_MAX ids stored from the first reconciliation of
 * a connection, each until the push tree brings it as well (a push of it
 * or an announcement, received after): the reconciliation of a link that
 * formed while the entry spread fetched it first, and the tree reached
 * this node all the same.  A bounded ring: the oldest gives way. */
typedef struct tw_plum_recent {
    uint8_t id[TW_PUSH_RACED_MAX][TW_PLUM_ID_LEN];
    size_t n, next;
} tw_plum_recent;
void tw_plum_recent_add(tw_plum_recent *r, const uint8_t id[TW_PLUM_ID_LEN]);
/* true when id is in the ring; it is then forgotten (counted once). */
bool tw_plum_recent_take(tw_plum_recent *r, const uint8_t id[TW_PLUM_ID_LEN]);

#endif
