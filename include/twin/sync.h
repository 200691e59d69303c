/*
 * The sync engine of one peer connection (proto/PROTOCOL.md, "Sync flow"),
 * as a pure state machine: it never touches the store or a socket.  The
 * daemon feeds it every transport plaintext other than PING/PONG/ERROR
 * (tw_sync_handle) and local events (tw_sync_start, tw_sync_push,
 * tw_sync_answer), and after each call drains the actions it produced
 * (tw_sync_next_action):
 *
 *   TW_SA_SEND        send msg as one transport message, in order;
 *   TW_SA_SERVE       the peer wants these ids: fetch the envelopes still
 *                     stored and answer with tw_sync_answer() (as many
 *                     calls as needed, final on the last; absent ids are
 *                     left out, and a final answer may carry none);
 *   TW_SA_INGEST      envelopes received: verify and store them, then
 *                     insert the new ones into the shared tw_neg_store and
 *                     push them to the other peers (pushed tells a live
 *                     push from an answer to our WANT); once every one of
 *                     them is stored or refused, report seq with
 *                     tw_sync_ingested().  They lie back to back in one
 *                     buffer from envs[0], each envs[i] right after the
 *                     one before it;
 *   TW_SA_RECONCILED  a reconciliation this side initiated has finished.
 *
 * Negentropy messages: between peers that both offer TW_WIRE_FEAT_NEGPART
 * (cfg.neg_parts) a message may be up to TW_NEG_MSG_MAX bytes, the frame
 * limit of both sessions then; one longer than a transport message goes as
 * NEG_PART pieces followed by the NEG_REQ/NEG_RESP that carries the last
 * piece, and the receiver reassembles it (one message at a time, at most
 * TW_NEG_MSG_MAX bytes) before reconciling.  Otherwise every message fits
 * one NEG_REQ/NEG_RESP under cfg.frame_limit, and a NEG_PART is refused.
 *
 * Reconciliation: tw_sync_start() opens an initiator session (sid 1, 2, ...);
 * the peer's NEG_REQ are answered by one responder session, which a NEG_REQ
 * with a greater sid replaces.  As the initiator learns ids it offers the
 * ones the peer lacks (OFFER, <= TW_IDS_PER_MSG per message) and queues the
 * ones it lacks; an OFFER from the peer queues those ids too.  An id is
 * queued only when cfg.have says the store lacks it and it is not already
 * queued or asked for.  A peer that offers more than TW_SYNC_OFFER_MAX
 * ids between two of its reconciliations (NEG_REQ with a new sid) breaks
 * the protocol.  Queued ids are asked for in WANTs of at most
 * TW_IDS_PER_MSG ids, at most TW_WANT_WINDOW at a time; the final ENTRIES
 * of an answer frees its slot and the ids it did not bring are forgotten
 * (the next reconciliation finds them again).  The ids of an answer stay
 * in the set (not queued again) until the daemon has reported every INGEST
 * action up to its last as decided, so that an OFFER or a reconciliation
 * crossing the answer does not fetch the entries twice.  Ids our
 * reconciliation finds beyond TW_SYNC_QUEUE_MAX wait in the engine, and the
 * session's next message waits until they are queued and at most
 * TW_SYNC_ROUND_QUEUE_MAX ids are queued, asked for or being stored: a bulk
 * sync learns each id it lacks once.
 *
 * Any message that is malformed or breaks the rules makes tw_sync_handle()
 * return an error (TW_EPROTO mostly, or the decoder's code); the daemon
 * then sends ERROR with tw_sync_error_text() and closes.  The engine stays
 * failed: later calls return the same code.
 */
#ifndef TWIN_SYNC_H
#define TWIN_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twin/limits.h"
#include "twin/negentropy.h"
#include "twin/wire.h"

/* Largest negentropy frame limit that keeps a NEG message in one transport
 * message. */
#define TW_SYNC_FRAME_LIMIT_MAX (TW_SESS_MSG_MAX - TW_WIRE_NEG_HEAD_MAX)
#define TW_SYNC_HASH_KEY_LEN 16u

typedef struct tw_sync tw_sync;

typedef struct tw_sync_cfg {
    /* Shared by all connections and kept by the daemon in step with the
     * store; it must outlive the engine. */
    tw_neg_store *store;
    /* Negentropy frame limit: 0 means TW_NEG_FRAME_LIMIT_DEFAULT, else
     * TW_NEG_FRAME_LIMIT_MIN..TW_SYNC_FRAME_LIMIT_MAX.  Never unlimited: a
     * whole NEG message must fit in one transport message. */
    size_t frame_limit;
    /* Both hellos offered TW_WIRE_FEAT_NEGPART: negentropy messages of up to
     * TW_NEG_MSG_MAX bytes, in NEG_PART pieces; frame_limit is then unused. */
    bool neg_parts;
    /* Whether the store holds id: 1 yes, 0 no, or a negative TW_E* code,
     * which fails the call that asked. */
    int (*have)(void *ctx, const uint8_t id[TW_WIRE_ID_LEN]);
    /* Or, and then used instead: whether the store holds each of n ids
     * (contiguous), have[i] 1 or 0, in one go (one read of the store for
     * up to TW_IDS_PER_MSG ids); 0 or a negative TW_E* code as have.  One
     * of the two is required. */
    int (*have_many)(void *ctx, const uint8_t *ids, size_t n, uint8_t *have);
    void *ctx;
    /* Random bytes from the caller.  They key the hash of the queued-id
     * set, so that a peer cannot choose offered ids that collide. */
    uint8_t hash_key[TW_SYNC_HASH_KEY_LEN];
} tw_sync_cfg;

typedef enum {
    TW_SA_SEND = 1,
    TW_SA_SERVE,
    TW_SA_INGEST,
    TW_SA_RECONCILED,
} tw_sa_type;

typedef struct tw_sync_action {
    tw_sa_type type;
    /* SEND */
    const uint8_t *msg; size_t len;
    /* SERVE: nids ids of TW_WIRE_ID_LEN bytes, contiguous */
    uint64_t wseq; const uint8_t *ids; size_t nids;
    /* INGEST */
    const uint8_t *const *envs; const size_t *env_lens; size_t nenvs; bool pushed;
    uint64_t seq;              /* INGEST: 1, 2, ... in order; for tw_sync_ingested */
    /* RECONCILED: ids offered to the peer and ids found missing here in
     * this session; complete is false when the session stopped at
     * TW_NEG_IDS_MAX differences (the next one goes on from there). */
    size_t have_count, need_count; bool complete;
    uint64_t rounds;           /* RECONCILED: round trips the session took */
} tw_sync_action;

typedef struct tw_sync_progress {
    bool reconciling;          /* an initiator session is running */
    bool held;                 /* ... and its next message waits for room in the queue */
    size_t to_receive;         /* ids queued, asked for, or found and waiting for room */
    size_t landing;            /* ids of answers received, their INGEST not yet reported */
    size_t wants_outstanding;  /* our WANTs not yet answered in full */
    size_t serving;            /* the peer's WANTs not yet answered in full */
    uint64_t offered_sent;     /* ids offered to the peer */
    uint64_t offered_recv;     /* ids the peer offered */
    uint64_t received;         /* envelopes received in answers */
    uint64_t pushes_recv;      /* envelopes received as live pushes */
    uint64_t served;           /* envelopes sent in answers */
    uint64_t pushes_sent;      /* envelopes pushed */
    uint64_t dropped;          /* ids not queued because the queue was full */
    uint64_t unsent;           /* ids asked for that a final answer did not bring */
    uint64_t rounds;           /* NEG_REQ messages sent (a message in pieces counts once) */
    uint64_t last_rounds;      /* round trips of the last initiator session finished (0: none yet) */
    uint64_t neg_parts_sent;   /* NEG_PART pieces sent */
    uint64_t neg_parts_recv;   /* NEG_PART pieces received */
    bool reassembling;         /* pieces of a negentropy message arrived, not yet its end */
    uint64_t reconciliations;  /* initiator sessions finished */
    uint64_t rounds_held;      /* times our next NEG_REQ waited for room in the queue */
} tw_sync_progress;

/* TW_EINVAL for a bad configuration, TW_ENOMEM. */
int tw_sync_new(tw_sync **out, const tw_sync_cfg *cfg);
void tw_sync_free(tw_sync *s);
/* Begins a reconciliation as initiator; does nothing (and returns 0) while
 * one is running. */
int tw_sync_start(tw_sync *s);
/* One transport plaintext from the peer. */
int tw_sync_handle(tw_sync *s, const uint8_t *msg, size_t len);
/* Answers the peer's WANT wseq (from a SERVE action) with envelopes; final
 * on the last call.  TW_ENOTFOUND if wseq is not being served, TW_ETOOBIG
 * if the envelopes do not fit in one message (pack them greedily while
 * TW_WIRE_ENTRIES_HEAD_MAX + sum of TW_WIRE_BIN_SIZE(len) <= TW_SESS_MSG_MAX). */
int tw_sync_answer(tw_sync *s, uint64_t wseq, bool final, const uint8_t *const *envs,
                   const size_t *lens, size_t n);
/* Live push of an entry newly stored here (ENTRIES [5, 0, true, [env]]). */
int tw_sync_push(tw_sync *s, const uint8_t *env, size_t len);
/* Takes the next action; false when there is none.  Pointers in *a stay
 * valid until the next call of tw_sync_next_action() or tw_sync_free(). */
bool tw_sync_next_action(tw_sync *s, tw_sync_action *a);
/* Why the engine failed ("" if it has not). */
const char *tw_sync_error_text(const tw_sync *s);
void tw_sync_get_progress(const tw_sync *s, tw_sync_progress *p);
/* No reconciliation running, no id queued or asked for, no WANT of the
 * peer being served, no action waiting. */
bool tw_sync_idle(const tw_sync *s);
/* Ids still wanted from the peer (asked for without a final answer, then
 * queued), copied into *ids (malloc'd, TW_WIRE_ID_LEN bytes each), so that
 * a connection that drops can resume on the next one. */
int tw_sync_pending(const tw_sync *s, uint8_t **ids, size_t *n);
/* Whether id is queued or asked for (not yet answered) on this engine:
 * another connection need not ask for it too. */
bool tw_sync_expects(const tw_sync *s, const uint8_t id[TW_WIRE_ID_LEN]);
/* Whether id came in an answer whose INGEST is not yet reported: it is
 * being stored. */
bool tw_sync_landing(const tw_sync *s, const uint8_t id[TW_WIRE_ID_LEN]);
/* Queues ids to ask for, as an OFFER from the peer would (ids the store
 * has, or already queued, are skipped), and sends WANTs. */
int tw_sync_want_ids(tw_sync *s, const uint8_t *ids, size_t n);
/* Every envelope of the INGEST action seq is stored or refused (in any
 * order of seq): the ids of answers whose INGEST actions are all reported
 * leave the set, and the room made may send WANTs and our reconciliation's
 * next message (drain the actions).  TW_EINVAL for a seq not handed out. */
int tw_sync_ingested(tw_sync *s, uint64_t seq);

#endif
