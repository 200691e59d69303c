/*
 * Peer networking (daemon/net.h).
 *
 * Each TCP connection carries one transport session (handshake, framing,
 * encryption, timers) and, once established, one sync engine.  Both are pure
 * state machines: this file only moves bytes between them and libuv, runs
 * the actions they ask for against the store and the ingest pipeline, and
 * enforces the limits that depend on the network (unauthenticated
 * connections in all and per address, inbound connections, write queues).
 *
 * A connection is freed only when its handle is closed and no ingest job
 * still refers to it (a reference count), never inside its own callback.
 */
#include <errno.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <uv.h>
#include <zstd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "twin/addr.h"
#include "twin/err.h"
#include "twin/idset.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "twin/negentropy.h"
#include "twin/plumtree.h"
#include "twin/schema.h"
#include "twin/session.h"
#include "twin/sync.h"
#include "twin/wire.h"
#include "twin/vec.h"
#include "admit.h"
#include "ingest.h"
#include "log.h"
#include "net.h"
#include "ops.h"

typedef enum { C_CONNECTING, C_HANDSHAKE, C_ESTABLISHED, C_CLOSING } cstate;
static const char *const cstate_name[] = { "connecting", "handshake", "established", "closing" };

typedef struct conn conn;
typedef struct paddr paddr;

struct paddr {                    /* a known peer address */
    char addr[TW_ADDR_MAX];
    enum { SRC_CONFIG, SRC_MANUAL, SRC_INVITE, SRC_LEARNT } source;
    bool removed;
    conn *c;                      /* outbound connection in progress or up */
    unsigned failures;
    uint64_t next_attempt, last_success, last_attempt;
    bool key_known;
    bool refused;                 /* the last attempt ended with a refusal by policy (TW_EREFUSED) */
    uint64_t referred;            /* when a full node's REFER last named it (0: never) */
    uint8_t key[TW_KEY_LEN];
    char last_error[160];
};

struct conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_getaddrinfo_t gai;
    tw_net *net;
    conn *next, **pprev;
    cstate state;
    bool outbound, read_paused, handle_closed;
    bool reading;                 /* uv_read_start in effect */
    bool held;                    /* its messages were left in the session while verification was behind */
    paddr *pa;                    /* outbound: the address dialled */
    char remote[TW_ADDR_MAX + 8];  /* ip:port */
    char ip[64];
    tw_sess *sess;
    tw_sync *sync;
    uint8_t key[TW_KEY_LEN];
    char fpr[TW_FPR_CHARS + 1];
    int64_t clock_offset;
    char sw[65];
    uint64_t started, established, last_sync_done, last_sync_start;
    uint64_t bytes_in_est;        /* bytes read when the handshake completed */
    unsigned refs;                /* the handle, plus one per ingest job */
    bool sync_due;                /* reconcile once the resumed fetches are done */
    bool zstd;                    /* both hellos offered TW_WIRE_FEAT_ZSTD */
    bool offered_negpart;         /* our hello offered TW_WIRE_FEAT_NEGPART */
    bool neg_parts;               /* both hellos offered TW_WIRE_FEAT_NEGPART */
    bool refer;                   /* its hello offered TW_WIRE_FEAT_REFER (ours always does) */
    bool got_refer;               /* a REFER was read on it (one is used) */
    int room;                     /* its last ROOM: 1 room for an inbound connection, 0 none, -1 not told */
    bool carried;                 /* a message other than REFER came on it (it was not refused at once) */
    uint64_t zstd_in, zstd_out;   /* ENTRIES bytes before and after compression, sent */
    uint64_t zstd_rin, zstd_rout; /* COMPRESSED bytes received, and the same once decompressed */
    uint64_t received, stored, refused;
    char last_refusal[TW_REASON_MAX];
    uint64_t answer_wait;         /* since when our WANTs wait for an answer (0: none waits) */
    uint64_t peer_syncing;        /* when the peer last sent a WANT or NEG_PART (0: never) */
    bool acting;                  /* run_actions is draining its engine (ingest_done may run inside it) */
    uint64_t dropped_seen;        /* ids dropped from a full queue, acted on so far */
    bool no_resume;               /* withheld entries: its unfinished fetches are not kept */
    bool known;                   /* inbound from an address that authenticated before */
    int quiet;                    /* a refusal logged once and then counted (Q_*), or Q_NONE */
    tw_plum_link plum;            /* push tree: eager or lazy, and its counters */
    uint64_t plum_id;             /* this connection's name in net->missing */
};

/* Refusals an attacker can repeat at will are logged through the daemon's
 * one rate limiter (tw_log_limited, daemon/log.c), each kind under a key of
 * its own: the first TW_LOG_BURST of a window in full, the rest counted in
 * one line when the window ends. */
enum { Q_NONE = -1, Q_PER_ADDR, Q_EVICTED, Q_BUSY, Q_MSG1, Q_WRONG_KEY, Q_COUNT };
static const char *const q_key[Q_COUNT] = { "net.busy", "net.evicted", "net.deadline", "net.msg1", "net.wrong_key" };

struct tw_net {
    tw_node *node;
    uv_tcp_t listener;
    bool listening;
    /* Setting bind: the source address of outgoing connections to hosts
     * of its family (port 0: any free one); AF_UNSPEC: the OS chooses. */
    struct sockaddr_storage src;
    bool ingest_full;             /* verification is behind: peers are not read */
    uint64_t ingest_pauses;       /* times reading from peers stopped for it, since start */
    uv_timer_t held_timer;        /* takes the held messages on the next turn once it caught up */
    size_t ingest_peak;           /* most verification jobs waiting at once, since start */
    ZSTD_CCtx *zc;                /* one of each serves every connection: one thread */
    ZSTD_DCtx *zd;
    uint8_t *zbuf;                /* TW_SESS_MSG_MAX bytes: a decompressed message */
    tw_buf zout;
    uv_timer_t tick;
    tw_neg_store *neg;
    /* The set is given back (neg empty) after TW_TRIM_IDLE_MS without any
     * connection, and read from the store again when one is established
     * (neg_drop, neg_load): 40 bytes an entry of file (disk and page
     * cache; heap without a file) that a node nobody is connected to does
     * not need. */
    bool neg_dropped;
    /* The last time the set was used (neg_flush runs before every use),
     * and whether it was trimmed since: after TW_TRIM_IDLE_MS unused, with
     * peers or not, its pages leave the resident set (on_tick). */
    uint64_t neg_used_ms;
    bool neg_trimmed;
    uint64_t conns_last_ms;       /* the last tick that saw a connection */
    tw_neg_item *pending;         /* stored entries not yet in neg */
    size_t npending, cpending;
    tw_ingest *ingest;
    /* Ids refused because their authors are not admitted: not asked for
     * again (a peer that is a revocation behind, or has other roots, would
     * offer them at every reconciliation) until some key gains admission. */
    tw_idset *refused;
    bool refused_full_logged;
    uint64_t refused_total;       /* entries from peers not stored, since start */
    char last_refusal[TW_REASON_MAX];
    conn *conns;
    /* Config and manual addresses (at most TW_KNOWN_PEERS_MAX) and learnt
     * ones (at most TW_LEARNT_PEERS_MAX, evicted worst first) share one
     * array but never each other's room: nothing a peer sends can block
     * `twin peers add`. */
    paddr addrs[TW_KNOWN_PEERS_MAX + TW_LEARNT_PEERS_MAX];
    size_t naddrs;
    uint64_t learnt_evicted, learnt_refused;
    /* REFER: records sent in refusals, records received that named a peer
     * now known, and records received and not used. */
    uint64_t refer_sent, refer_used, refer_unused;
    int room_told;                /* the room last told to peers (ROOM), -1 before any */
    /* Refusals as full in a row (a peer's "too many inbound connections")
     * since an outbound link last carried a message, and until when learnt
     * addresses are not dialled because of them (dial_due). */
    unsigned full_streak;
    uint64_t full_pace_until;
    /* Since start, for `peers` "totals": the counters of connections
     * that have closed, added when they close, and events counted. */
    uint64_t gone_received, gone_bytes_in, gone_bytes_out, n_established, n_dials;
    struct { uint8_t key[TW_KEY_LEN]; uint64_t until; } bans[TW_BANS_MAX];
    /* Peers whose link broke during a reconciliation with messages in
     * NEG_PART pieces (pieces arriving, or our session waiting for a
     * reply): a link that cuts before such a message is whole would cut it
     * every time, so NEG_PART is not offered to them for a while and
     * reconciliation goes one frame per message, which makes progress with
     * every round.  By key for the peers we dial, by address
     * for those that dial us (our hello goes out before theirs names
     * them). */
    struct { uint8_t key[TW_KEY_LEN]; char ip[64]; bool inbound; uint64_t until; } neg_cut[TW_NEG_CUT_PEERS_MAX];
    /* Ids still wanted from peers whose connection dropped, by key. */
    struct { uint8_t key[TW_KEY_LEN]; uint8_t *ids; size_t n; uint64_t at; } resume[TW_RESUME_PEERS_MAX];
    size_t resume_ids;            /* ids in all the lists, at most TW_RESUME_IDS_TOTAL_MAX */
    /* Replayed handshake message 1s get no answer (proto/session.c). */
    tw_sess_replay *replay;
    /* Addresses that completed a handshake: TW_UNAUTH_RESERVED of the
     * unauthenticated slots are theirs when strangers fill the others. */
    struct { char ip[64]; uint64_t at; } authed[TW_AUTH_ADDRS_MAX];
    bool trim_due;                /* a large engine was freed: give the heap back */
    /* Push tree: ids announced by lazy peers and not yet received. */
    tw_plum_missing *missing;
    uint64_t plum_ids;            /* the last plum_id given */
    uint64_t missing_dropped;     /* announced ids not remembered: table full */
    uint64_t missing_asked;       /* announced ids asked for after TW_PUSH_MISSING_MS */
    /* Entries stored from peers, by the way they came: a live push, a
     * fetch of an id announced (IHAVE), a reconciliation of a connection
     * before this side's first one finished, or one after (the peer's
     * first, periodic, or again after a full queue): with a working push
     * tree only a node that was away needs the third, and nothing the
     * fourth. */
    uint64_t got_pushed, got_announced, got_connect, got_later;
    /* Of got_connect, the entries the push tree brought as well after
     * (a push or an announcement of them): a link formed while the entry
     * spread, and its first reconciliation fetched it first.  The ids
     * watched for it are the last TW_PUSH_RACED_MAX of got_connect. */
    uint64_t got_connect_raced;
    tw_plum_recent raced;
    unsigned open_handles;
    bool stopping;
    void (*done)(tw_node *);
};

/* One read buffer serves every connection: the event loop is one thread,
 * and each read is handed to its session before the next one. */
static uint8_t readbuf[65536];
static void conn_close(conn *c, int code, const char *reason);
static void flush(conn *c);
static void resume_read(conn *c);
static void sync_reading(conn *c);
static void on_resume(uv_timer_t *t);
static int send_msg(conn *c, const uint8_t *msg, size_t len);
static int add_addr(tw_net *net, const char *addr, int source, char *err, size_t errlen);
static void learn_addrs(tw_net *net, const tw_entry *e);
static void learn_addrs_of(tw_net *net, const tw_entry *e, bool check_admitted);
static void forget_addr(tw_net *net, size_t i);
static int add_pending(tw_net *net, uint64_t ts, const uint8_t id[TW_ID_LEN]);
static void dial_due(tw_net *net, uint64_t now);
static void room_changed(tw_net *net, conn *except);

/* ------------------------------------------------------------- helpers */

static void enter_state(conn *c, cstate s)
{
    tw_debug("net", "%s: %s -> %s", c->remote, cstate_name[c->state], cstate_name[s]);
    c->state = s;
}

static unsigned count_unauth(tw_net *net, const char *ip)
{
    unsigned k = 0;
    for (conn *c = net->conns; c; c = c->next)
        if (c->state == C_HANDSHAKE && !c->outbound && (!ip || strcmp(c->ip, ip) == 0)) k++;
    return k;
}

static unsigned count_state(tw_net *net, cstate s, int outbound)
{
    unsigned k = 0;
    for (conn *c = net->conns; c; c = c->next)
        if (c->state == s && (outbound < 0 || c->outbound == (outbound != 0))) k++;
    return k;
}

static bool banned(tw_net *net, const uint8_t key[TW_KEY_LEN], uint64_t now)
{
    for (size_t i = 0; i < TW_BANS_MAX; i++)
        if (net->bans[i].until > now && memcmp(net->bans[i].key, key, TW_KEY_LEN) == 0) return true;
    return false;
}

static void ban(tw_net *net, const uint8_t key[TW_KEY_LEN], uint64_t now)
{
    size_t oldest = 0;
    for (size_t i = 0; i < TW_BANS_MAX; i++) {
        if (memcmp(net->bans[i].key, key, TW_KEY_LEN) == 0) { oldest = i; break; }
        if (net->bans[i].until < net->bans[oldest].until) oldest = i;
    }
    memcpy(net->bans[oldest].key, key, TW_KEY_LEN);
    net->bans[oldest].until = now + TW_BAN_MS;
}

static void neg_cut_note(tw_net *net, const conn *c, uint64_t now)
{
    size_t slot = 0;
    for (size_t i = 0; i < TW_NEG_CUT_PEERS_MAX; i++) {
        if (memcmp(net->neg_cut[i].key, c->key, TW_KEY_LEN) == 0 && net->neg_cut[i].inbound == !c->outbound) { slot = i; break; }
        if (net->neg_cut[i].until < net->neg_cut[slot].until) slot = i;
    }
    memcpy(net->neg_cut[slot].key, c->key, TW_KEY_LEN);
    snprintf(net->neg_cut[slot].ip, sizeof net->neg_cut[slot].ip, "%s", c->ip);
    net->neg_cut[slot].inbound = !c->outbound;
    net->neg_cut[slot].until = now + TW_NEG_CUT_MS;
}

/* Whether to leave TW_WIRE_FEAT_NEGPART out of the hello of c. */
static bool neg_cut_recent(const tw_net *net, const conn *c, uint64_t now)
{
    for (size_t i = 0; i < TW_NEG_CUT_PEERS_MAX; i++) {
        if (net->neg_cut[i].until <= now) continue;
        if (c->outbound && c->pa && c->pa->key_known && !net->neg_cut[i].inbound &&
            memcmp(net->neg_cut[i].key, c->pa->key, TW_KEY_LEN) == 0) return true;
        if (!c->outbound && net->neg_cut[i].inbound && strcmp(net->neg_cut[i].ip, c->ip) == 0) return true;
    }
    return false;
}

/* Frees the net and everything it owns (not its handles: closed before). */
static void net_free(tw_net *net)
{
    tw_node *n = net->node;
    tw_ingest_free(net->ingest);
    tw_neg_store_free(net->neg);
    tw_idset_free(net->refused);
    tw_sess_replay_free(net->replay);
    tw_plum_missing_free(net->missing);
    free(net->pending);
    for (size_t i = 0; i < TW_RESUME_PEERS_MAX; i++) free(net->resume[i].ids);
    ZSTD_freeCCtx(net->zc);
    ZSTD_freeDCtx(net->zd);
    free(net->zbuf);
    tw_buf_free(&net->zout);
    free(net);
    n->net = NULL;
    n->on_stored = NULL;
}

static void handle_closed(tw_net *net)
{
    if (--net->open_handles == 0 && net->stopping) {
        tw_node *n = net->node;
        void (*done)(tw_node *) = net->done;
        net_free(net);
        if (done) done(n);
    }
}

static void conn_unref(conn *c)
{
    if (--c->refs > 0) return;
    tw_net *net = c->net;
    if (c->sync) {
        tw_sync_progress p;
        tw_sync_get_progress(c->sync, &p);
        if (p.offered_recv > TW_IDS_PER_MSG * 64u) net->trim_due = true;
    }
    tw_sess_free(c->sess);
    tw_sync_free(c->sync);
    free(c);
    handle_closed(net);
}

static void tcp_closed(uv_handle_t *h) { conn_unref(h->data); }

static int neg_load(tw_net *net);
static void neg_drop(tw_net *net);

/* The reconciliation set keeps its items (40 bytes each) in a file without a name
 * in the data directory: at a million entries that is 40 MB of pages the
 * kernel can write back and drop rather than 40 MB of the daemon's heap
 * (tw_neg_store_new_file).  Without a file it lives on the heap. */
static int neg_new(tw_net *net, tw_neg_store **out)
{
    int rc = tw_neg_store_new_file(out, net->node->cfg.data_dir);
    if (rc == 0) return 0;
    tw_warn("net", "cannot make the reconciliation set's file in %s (%s): it is kept in memory",
            net->node->cfg.data_dir, tw_strerror(rc));
    return tw_neg_store_new(out);
}

/* Items stored since the last reconciliation step go into the set in one
 * sorted merge, just before the set is next read. */
static void neg_flush(tw_net *net)
{
    net->neg_used_ms = tw_now_ms();
    net->neg_trimmed = false;
    if (!net->npending) return;
    if (net->neg_dropped) { net->npending = 0; return; }   /* neg_load reads them from the store */
    size_t added;
    if (tw_neg_store_insert_batch(net->neg, net->pending, net->npending, &added))
        tw_err("net", "cannot add %zu items to the reconciliation set", net->npending);
    net->npending = 0;
    /* The start-up load puts every stored entry here (40 MB at 1 000 000
     * entries) and an initial sync most of them: room past add_pending's
     * growth step is not kept. */
    if (net->cpending > 4096) {
        free(net->pending);
        net->pending = NULL;
        net->cpending = 0;
    }
}

/* ------------------------------------------------------------- writing */

typedef struct wreq { uv_write_t req; conn *c; uint8_t data[]; } wreq;

/* A connection is read unless its peer does not read what we send it
 * (write queue over TW_PEER_WRITE_QUEUE_MAX), or verification is behind
 * (more than TW_INGEST_JOBS_MAX jobs waiting; process() then leaves what
 * was read in the session): then TCP pushes back on the sender instead of
 * entries piling up here. */
static void sync_reading(conn *c)
{
    bool want = !c->handle_closed && (c->state == C_HANDSHAKE || c->state == C_ESTABLISHED) &&
                !c->read_paused && !c->net->ingest_full;
    if (want == c->reading) return;
    c->reading = want;
    if (want) resume_read(c);
    else uv_read_stop((uv_stream_t *)&c->tcp);
}

static void sync_reading_all(tw_net *net)
{
    for (conn *c = net->conns; c; c = c->next) sync_reading(c);
}

static void write_done(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    conn *c = w->c;
    free(w);
    if (status < 0 && c->state != C_CLOSING) {
        conn_close(c, TW_EIO, uv_strerror(status));
    } else if (c->read_paused && c->state != C_CLOSING &&
               uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < TW_PEER_WRITE_QUEUE_MAX / 2) {
        c->read_paused = false;
        tw_debug("net", "%s: write queue drained", c->remote);
        sync_reading(c);
    }
    conn_unref(c);
}

static void flush(conn *c)
{
    if (c->handle_closed || !c->sess) return;
    size_t len;
    const uint8_t *out = tw_sess_output(c->sess, &len);
    if (!len) return;
    wreq *w = malloc(sizeof *w + len);
    if (!w) { conn_close(c, TW_ENOMEM, "out of memory"); return; }
    memcpy(w->data, out, len);
    tw_sess_consume_output(c->sess, len);
    w->c = c;
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done) < 0) {
        free(w);
        conn_close(c, TW_EIO, "write failed");
        return;
    }
    c->refs++;
    /* Stop reading from a peer that does not read what we send it. */
    if (!c->read_paused && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > TW_PEER_WRITE_QUEUE_MAX) {
        c->read_paused = true;
        sync_reading(c);
        tw_debug("net", "%s: write queue over %u bytes; not reading until it drains", c->remote, TW_PEER_WRITE_QUEUE_MAX);
    }
}

/* ----------------------------------------------------------- closing */

/* What a dropped connection still wanted is asked for first on the next
 * connection to the same peer, so a link cut every few hundred KiB resumes
 * instead of reconciling the whole difference again. */
static void drop_resume(tw_net *net, size_t i)
{
    if (!net->resume[i].ids) return;
    free(net->resume[i].ids);
    net->resume_ids -= net->resume[i].n;
    net->resume[i].ids = NULL;
    net->resume[i].n = 0;
    net->trim_due = true;
}

static void save_resume(tw_net *net, conn *c)
{
    uint8_t *ids;
    size_t n, slot = TW_RESUME_PEERS_MAX;
    if (c->no_resume || tw_sync_pending(c->sync, &ids, &n) || n == 0) return;
    if (n > TW_RESUME_IDS_MAX) {
        /* Only what is kept stays allocated. */
        n = TW_RESUME_IDS_MAX;
        uint8_t *t = realloc(ids, n * TW_WIRE_ID_LEN);
        if (!t) { free(ids); return; }
        ids = t;
    }
    /* This peer's slot, else a free one, else the oldest list gives way. */
    for (size_t i = 0; i < TW_RESUME_PEERS_MAX; i++)
        if (net->resume[i].ids && memcmp(net->resume[i].key, c->key, TW_KEY_LEN) == 0) slot = i;
    for (size_t i = 0; i < TW_RESUME_PEERS_MAX && slot == TW_RESUME_PEERS_MAX; i++)
        if (!net->resume[i].ids) slot = i;
    if (slot == TW_RESUME_PEERS_MAX) {
        slot = 0;
        for (size_t i = 1; i < TW_RESUME_PEERS_MAX; i++)
            if (net->resume[i].at < net->resume[slot].at) slot = i;
    }
    drop_resume(net, slot);
    /* All the lists together hold at most TW_RESUME_IDS_TOTAL_MAX ids:
     * peers that leave with full queues cannot make the node keep
     * TW_RESUME_PEERS_MAX full lists; the oldest lists give way. */
    while (net->resume_ids + n > TW_RESUME_IDS_TOTAL_MAX) {
        size_t old = TW_RESUME_PEERS_MAX;
        for (size_t i = 0; i < TW_RESUME_PEERS_MAX; i++)
            if (net->resume[i].ids && (old == TW_RESUME_PEERS_MAX || net->resume[i].at < net->resume[old].at)) old = i;
        if (old == TW_RESUME_PEERS_MAX) break;
        drop_resume(net, old);
    }
    memcpy(net->resume[slot].key, c->key, TW_KEY_LEN);
    net->resume[slot].ids = ids;
    net->resume[slot].n = n;
    net->resume[slot].at = tw_now_ms();
    net->resume_ids += n;
    tw_debug("net", "%s (%s): %zu entries still wanted, kept for the next connection (%zu ids kept in all)",
             c->remote, c->fpr, n, net->resume_ids);
}

static size_t take_resume(tw_net *net, conn *c)
{
    for (size_t i = 0; i < TW_RESUME_PEERS_MAX; i++) {
        if (!net->resume[i].ids || memcmp(net->resume[i].key, c->key, TW_KEY_LEN) != 0) continue;
        size_t n = net->resume[i].n;
        if (tw_sync_want_ids(c->sync, net->resume[i].ids, n)) n = 0;
        drop_resume(net, i);
        return n;
    }
    return 0;
}

static void conn_close(conn *c, int code, const char *reason)
{
    if (c->state == C_CLOSING) return;
    tw_net *net = c->net;
    if (c->state == C_ESTABLISHED)
        tw_info("net", "%s (%s): connection closed: %s", c->remote, c->fpr, reason);
    else
        tw_log_limited(TW_LOG_INFO, "net", c->quiet > Q_NONE ? q_key[c->quiet] : code == TW_EBUSY ? "net.busy" : NULL,
                       "%s: connection closed during %s: %s", c->remote, cstate_name[c->state], reason);
    if (c->pa) {
        paddr *pa = c->pa;
        pa->c = NULL;
        uint64_t now = tw_now_ms();
        /* A link counts as up once the peer sent something after the
         * handshake: one that breaks before (a refusal whose ERROR was
         * lost to a reset, "broken pipe") is a failure like any other. */
        bool was_up = c->state == C_ESTABLISHED && c->sess && tw_sess_bytes_in(c->sess) > c->bytes_in_est;
        if (!was_up || code == TW_EREFUSED || code == TW_EBUSY) {
            /* Exponential backoff with jitter (also after a refusal by
             * policy, ours or the peer's -- a full node, a peer already
             * connected --, which an immediate redial would only repeat;
             * the failure count is not reset by a connection the peer
             * refused just after its handshake), so peers that went down
             * together do not all come back at the same instant. */
            pa->failures++;
            pa->refused = code == TW_EREFUSED;
            /* The peer was full: so, in a network that is forming, are most
             * of those every other node is dialling too.  The next learnt
             * address waits, doubling with each such refusal in a row, so
             * that nodes short of peers do not all dial each address the
             * moment they learn it (measured with swarm.py: dials per node
             * grew with the network, 40 at 100 nodes, 92 at 200). */
            if (code == TW_EBUSY && c->state == C_ESTABLISHED && !c->carried) {
                uint64_t w = TW_FULL_PACE_BASE_MS;
                for (unsigned i = 0; i < net->full_streak && w < TW_FULL_PACE_MAX_MS; i++) w *= 2;
                if (w > TW_FULL_PACE_MAX_MS) w = TW_FULL_PACE_MAX_MS;
                net->full_streak++;
                net->full_pace_until = now + w / 2 + randombytes_uniform((uint32_t)(w / 2 + 1));
            }
            uint64_t d = TW_BACKOFF_BASE_MS;
            for (unsigned i = 1; i < pa->failures && d < TW_BACKOFF_MAX_MS; i++) d *= 2;
            if (d > TW_BACKOFF_MAX_MS) d = TW_BACKOFF_MAX_MS;
            d = d / 2 + randombytes_uniform((uint32_t)(d / 2 + 1));
            pa->next_attempt = now + d;
            snprintf(pa->last_error, sizeof pa->last_error, "%s", reason);
            /* The dial budget of a learnt address: one that never answered
             * is forgotten after TW_LEARNT_FAILS_MAX attempts (it comes back
             * only with a new version of its author's peer record, or at the
             * next start), so a member cannot keep every node dialling
             * addresses that lead nowhere. */
            if (pa->source == SRC_LEARNT && !pa->last_success && pa->failures >= TW_LEARNT_FAILS_MAX) {
                tw_info("net", "learnt address %s forgotten after %u failed attempts: %s", pa->addr, pa->failures, reason);
                c->pa = NULL;
                forget_addr(net, (size_t)(pa - net->addrs));
            }
        } else {
            /* A link that was up is redialled at once (after a little
             * jitter): sync resumes where it stopped. */
            pa->failures = 0;
            pa->next_attempt = now + TW_RECONNECT_MS / 2 + randombytes_uniform(TW_RECONNECT_MS);
        }
    }
    if (c->state == C_ESTABLISHED && c->sync && !net->stopping) {
        tw_sync_progress p;
        tw_sync_get_progress(c->sync, &p);
        /* Pieces had arrived, or our reconciliation waited for a reply
         * whose first piece a link that cuts early never lets through.  A
         * peer that refused us at once (nothing but REFER before its
         * ERROR) cut nothing: the dialer's first NEG_REQ was merely unread. */
        bool refusal = (code == TW_EBUSY || code == TW_EREFUSED) && !c->carried;
        if (c->neg_parts && !refusal && (p.reassembling || (p.reconciling && !p.held))) {
            neg_cut_note(net, c, tw_now_ms());
            tw_info("net", "%s (%s): the link broke during a reconciliation with messages over several frames; "
                           "one frame per message with this peer for the next %u s", c->remote, c->fpr, TW_NEG_CUT_MS / 1000);
        }
        save_resume(net, c);
    }
    if (c->state == C_ESTABLISHED && net->missing) tw_plum_missing_peer_gone(net->missing, c->plum_id);
    net->gone_received += c->received;
    bool was_inbound_up = c->state == C_ESTABLISHED && !c->outbound;
    enter_state(c, C_CLOSING);
    /* A session that closed itself may still hold its last words (an ERROR,
     * or the refusal in handshake message 2): they go out before the socket
     * closes, as session.h asks. */
    if (c->sess) {
        if (!tw_sess_closed(c->sess)) tw_sess_close(c->sess, code, reason);
        flush(c);
        net->gone_bytes_in += tw_sess_bytes_in(c->sess);
        net->gone_bytes_out += tw_sess_bytes_out(c->sess);
    }
    if (c->next) c->next->pprev = c->pprev;
    *c->pprev = c->next;
    c->next = NULL;
    c->pprev = &c->next;
    if (was_inbound_up && !net->stopping) room_changed(net, NULL);
    if (!c->handle_closed) {
        c->handle_closed = true;
        uv_close((uv_handle_t *)&c->tcp, tcp_closed);
    }
}

static void misbehaved(conn *c, const char *reason)
{
    if (c->state == C_ESTABLISHED) {
        ban(c->net, c->key, tw_now_ms());
        tw_warn("net", "%s (%s) misbehaved: %s; its key is kept off for %u s", c->remote, c->fpr, reason, TW_BAN_MS / 1000);
    }
    conn_close(c, TW_EPROTO, reason);
}

/* ------------------------------------------------------------- actions */

/* An ingest job of entries from a connection. */
/* An ingest job of entries from a connection: whether they came by live
 * push, and whether a reconciliation of the connection had finished before
 * (a fetch then is of a later, periodic one, not of the one at connect). */
typedef struct injob { conn *c; bool pushed, later; uint64_t seq; uint8_t id[TW_ID_LEN]; } injob;
static void push_duplicate(conn *c);
static void run_actions(conn *c);
static int tree_message(conn *c, const uint8_t *msg, size_t len);
static void push_repair(tw_net *net, uint64_t now);
static void send_refer(conn *c);
static int refer_message(conn *c, const uint8_t *msg, size_t len);

static void ingest_done(void *ctx, const tw_ingest_counts *k, const int *rcs, const char *const *whys,
                        const uint8_t *const *authors, size_t n)
{
    injob *job = ctx;
    conn *c = job->c;
    bool pushed = job->pushed;
    uint64_t seq = job->seq;
    uint8_t pushed_id[TW_ID_LEN];
    memcpy(pushed_id, job->id, sizeof pushed_id);
    free(job);
    tw_net *net = c->net;
    if (pushed && n == 1 && (rcs[0] == TW_EEXIST || rcs[0] == TW_ESTALE) && c->state == C_ESTABLISHED)
        push_duplicate(c);
    if (pushed && n == 1 && rcs[0] == TW_EEXIST && !net->stopping && tw_plum_recent_take(&net->raced, pushed_id))
        net->got_connect_raced++;
    c->stored += k->stored;
    c->refused += k->refused;
    net->refused_total += k->refused;
    /* Refusals are logged once per author and reason in each batch, with
     * their count: a member that sends thousands of bad records costs a few
     * log lines, and the reason keeps the field it names. */
    struct seen { const uint8_t *author; const char *why; uint64_t n; bool info; } seen[TW_REFUSAL_LOG_MAX];
    size_t nseen = 0;
    uint64_t unlogged = 0;
    const char *bad = NULL;
    for (size_t i = 0; i < n; i++) {
        if (rcs[i] == 0 || rcs[i] == TW_EEXIST || rcs[i] == TW_ESTALE) continue;
        if (rcs[i] == TW_EFULL) continue;   /* logged once per refused commit, with counts, by ingest */
        bool info = rcs[i] == TW_EFUTURE || rcs[i] == TW_EFULL || rcs[i] == TW_EIO || rcs[i] == TW_ECLOSED ||
                    rcs[i] == TW_ENOMEM || rcs[i] == TW_ESCHEMA || rcs[i] == TW_EREFUSED;
        if (!info) bad = whys[i];
        snprintf(c->last_refusal, sizeof c->last_refusal, "%s", whys[i]);
        snprintf(net->last_refusal, sizeof net->last_refusal, "%s", whys[i]);
        size_t j = 0;
        while (j < nseen && !(strcmp(seen[j].why, whys[i]) == 0 &&
                              (seen[j].author == authors[i] ||
                               (seen[j].author && authors[i] && memcmp(seen[j].author, authors[i], TW_KEY_LEN) == 0))))
            j++;
        if (j < nseen) seen[j].n++;
        else if (nseen < TW_REFUSAL_LOG_MAX) seen[nseen++] = (struct seen){ authors[i], whys[i], 1, info };
        else unlogged++;
    }
    for (size_t j = 0; j < nseen; j++) {
        char fpr[TW_FPR_CHARS + 1] = "?";
        if (seen[j].author) {
            char kt[TW_KEYTEXT_LEN + 1];
            tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, seen[j].author);
            memcpy(fpr, kt + 4, TW_FPR_CHARS);
            fpr[TW_FPR_CHARS] = 0;
        }
        if (seen[j].info)
            tw_info("net", "%llu %s by %s from %s (%s) not stored: %s", (unsigned long long)seen[j].n,
                    seen[j].n == 1 ? "entry" : "entries", fpr, c->remote, c->fpr, seen[j].why);
        else
            tw_warn("net", "%llu %s by %s from %s (%s) refused: %s", (unsigned long long)seen[j].n,
                    seen[j].n == 1 ? "entry" : "entries", fpr, c->remote, c->fpr, seen[j].why);
    }
    if (unlogged) tw_info("net", "%llu more entries from %s (%s) not stored for other reasons", (unsigned long long)unlogged, c->remote, c->fpr);
    /* An honest node verifies what it stores and forwards, so a forged,
     * malformed or foreign entry is the sender's fault. */
    if (bad && c->state == C_ESTABLISHED) misbehaved(c, bad);
    /* Stored or refused: the engine may let these ids go (until now an
     * OFFER of them would not fetch them again) and queue more.  A job
     * that fails at submission ends inside run_actions, whose loop then
     * takes the actions. */
    if (tw_sync_ingested(c->sync, seq) == 0 && c->state == C_ESTABLISHED && !c->acting) run_actions(c);
    if (net->ingest_full && !tw_net_ingest_gate(true, tw_ingest_pending(net->ingest))) {
        net->ingest_full = false;
        tw_debug("net", "verification caught up (%zu jobs waiting); reading from peers again",
                 tw_ingest_pending(net->ingest));
        sync_reading_all(net);
        if (!net->stopping) uv_timer_start(&net->held_timer, on_resume, 0, 0);
    }
    conn_unref(c);
}

/* Whether a stored envelope's author is admitted: hidden records are
 * served to no one. */
static bool visible_env(tw_node *n, const uint8_t id[TW_ID_LEN], const tw_buf *env)
{
    tw_arena a;
    tw_entry e;
    tw_arena_init(&a, 0);
    bool ok = tw_entry_parse_known(env->p, env->len, id, &a, &e) == 0 && tw_node_visible_at(n, e.author, e.ts);
    tw_arena_free(&a);
    return ok;
}

/* Answers a WANT: the envelopes we still have, packed greedily into
 * ENTRIES messages; ids we no longer have are left out.  They are read in
 * one transaction (tw_store_get_many) and copied once, into the message
 * being packed, which goes to the engine when the next would not fit. */
typedef struct answer {
    conn *c;
    uint64_t wseq;
    const uint8_t *ids;
    tw_buf pack;                  /* the envelopes of the message being packed, back to back */
    size_t *lens;                 /* theirs */
    const uint8_t **ptrs;         /* into pack, once it is complete */
    size_t n, size;               /* envelopes packed, and the message's size with them */
    int engine_rc;                /* tw_sync_answer() refused, or no memory: the connection closes */
} answer;

static int answer_flush(answer *an, bool final)
{
    for (size_t k = 0, off = 0; k < an->n; k++) { an->ptrs[k] = an->pack.p + off; off += an->lens[k]; }
    int rc = tw_sync_answer(an->c->sync, an->wseq, final, an->ptrs, an->lens, an->n);
    an->engine_rc = rc;
    tw_buf_reset(&an->pack);
    an->n = 0;
    an->size = TW_WIRE_ENTRIES_HEAD_MAX;
    return rc;
}

static int answer_env(void *ctx, size_t i, const uint8_t *env, size_t len)
{
    answer *an = ctx;
    tw_node *n = an->c->net->node;
    if (tw_admit_hiding(n)) {
        tw_buf b = { .p = (uint8_t *)env, .len = len };
        if (!visible_env(n, an->ids + TW_WIRE_ID_LEN * i, &b)) return 0;
    }
    size_t add = TW_WIRE_BIN_SIZE(len);
    int rc;
    if (an->n > 0 && an->size + add > TW_SESS_MSG_MAX && (rc = answer_flush(an, false))) return rc;
    if ((rc = tw_buf_put(&an->pack, env, len))) return an->engine_rc = rc;
    an->lens[an->n++] = len;
    an->size += add;
    return 0;
}

static void send_entries(conn *c, uint64_t wseq, const uint8_t *ids, size_t nids)
{
    answer an = { .c = c, .wseq = wseq, .ids = ids, .size = TW_WIRE_ENTRIES_HEAD_MAX };
    int rc = 0;
    tw_buf_init(&an.pack);
    an.lens = malloc((nids ? nids : 1) * sizeof *an.lens);
    an.ptrs = malloc((nids ? nids : 1) * sizeof *an.ptrs);
    if (!an.lens || !an.ptrs) rc = TW_ENOMEM;
    if (rc == 0 && (rc = tw_store_get_many(c->net->node->store, ids, nids, answer_env, &an)) && !an.engine_rc) {
        /* The store could not be read: what was packed goes, and the ids
         * not sent are found again by a later reconciliation. */
        tw_warn("net", "cannot read the entries to serve: %s", tw_strerror(rc));
        rc = 0;
    }
    if (rc == 0) rc = answer_flush(&an, true);
    tw_buf_free(&an.pack);
    free(an.lens);
    free(an.ptrs);
    if (rc) conn_close(c, rc, "cannot answer the peer's request");
}

static void run_actions(conn *c)
{
    tw_sync_action a;
    tw_net *net = c->net;
    c->acting = true;
    while (c->state == C_ESTABLISHED && tw_sync_next_action(c->sync, &a)) {
        switch (a.type) {
        case TW_SA_SEND:
            if (send_msg(c, a.msg, a.len)) { c->acting = false; conn_close(c, TW_EINTERNAL, "cannot send"); return; }
            break;
        case TW_SA_SERVE:
            send_entries(c, a.wseq, a.ids, a.nids);
            break;
        case TW_SA_INGEST: {
            /* The envelopes lie back to back from envs[0] (sync.h):
             * submitted as they are, without another copy. */
            const uint8_t *buf = a.nenvs ? a.envs[0] : (const uint8_t *)"";
            c->received += a.nenvs;
            /* The job remembers whether it was a live push: a push that
             * brings nothing new prunes its link from the push tree. */
            injob *j = malloc(sizeof *j);
            if (!j) { c->acting = false; conn_close(c, TW_ENOMEM, "out of memory"); return; }
            j->c = c;
            j->pushed = a.pushed;
            j->later = c->last_sync_done != 0;
            j->seq = a.seq;
            /* A push of one entry: its id, to tell a copy of one fetched
             * first by a reconciliation (got_connect_raced). */
            if (a.pushed && a.nenvs == 1) crypto_generichash(j->id, sizeof j->id, a.envs[0], a.env_lens[0], NULL, 0);
            else memset(j->id, 0, sizeof j->id);
            c->refs++;
            if (tw_ingest_submit(net->ingest, buf, a.env_lens, a.nenvs, ingest_done, j)) {
                c->refs--;
                free(j);
                tw_sync_ingested(c->sync, a.seq);   /* not stored: found again by reconciliation */
            }
            size_t jobs = tw_ingest_pending(net->ingest);
            if (jobs > net->ingest_peak) net->ingest_peak = jobs;
            if (!net->ingest_full && tw_net_ingest_gate(false, jobs)) {
                /* Nothing is dropped: the frames stay in the peers' TCP
                 * buffers until reading resumes.  Rate-limited (an initial
                 * sync from a fast peer may stop many times), and counted
                 * in `twin status`. */
                net->ingest_full = true;
                net->ingest_pauses++;
                tw_log_limited(TW_LOG_INFO, "net", "net.ingest_full",
                               "%zu entry messages from peers waiting to be verified (more than TW_INGEST_JOBS_MAX, %u): "
                               "not reading from peers until %u or fewer wait (%llu times since start)",
                               jobs, TW_INGEST_JOBS_MAX, TW_INGEST_JOBS_MAX / 2, (unsigned long long)net->ingest_pauses);
                sync_reading_all(net);
            }
            break;
        }
        case TW_SA_RECONCILED:
            /* Info when it found something, debug for the periodic ones
             * that find nothing (once a minute per peer). */
            tw_log(a.have_count || a.need_count ? TW_LOG_INFO : TW_LOG_DEBUG, "net", "%s (%s): reconciled in %llu round trip%s (%s): we have %zu it lacks, it has %zu we lack%s",
                    c->remote, c->fpr, (unsigned long long)a.rounds, a.rounds == 1 ? "" : "s",
                    c->neg_parts ? "messages over several frames" : "one frame per message",
                    a.have_count, a.need_count, a.complete ? "" : " (stopped at TW_NEG_IDS_MAX; the next one goes on)");
            break;
        }
        flush(c);
    }
    c->acting = false;
    if (c->state == C_ESTABLISHED && c->sync_due && tw_sync_idle(c->sync)) {
        /* The fetches resumed from the last connection are done: now
         * reconcile, which finds the ranges fetched already equal. */
        c->sync_due = false;
        neg_flush(net);
        c->last_sync_start = tw_now_ms();
        tw_sync_start(c->sync);
        run_actions(c);
        return;
    }
    if (c->state == C_ESTABLISHED && c->last_sync_start > c->last_sync_done && tw_sync_idle(c->sync)) {
        tw_sync_progress p;
        tw_sync_get_progress(c->sync, &p);
        if (p.dropped > c->dropped_seen) {
            /* The queue was full: what did not fit is found by reconciling
             * again now that it has drained, not a sync_interval later. */
            c->dropped_seen = p.dropped;
            neg_flush(net);
            c->last_sync_start = tw_now_ms();
            tw_sync_start(c->sync);
            run_actions(c);
            return;
        }
        c->last_sync_done = tw_now_ms();
    }
    flush(c);
}

/* Sends one message; ENTRIES go compressed when the peer understands it and
 * compression saves bytes (entry batches of text compress; reconciliation
 * messages, which are hashes and ids, do not and go as they are).  The
 * frame is written after ZHEAD bytes of net->zout, where the COMPRESSED
 * message's head then goes: no other buffer, no copy. */
#define ZHEAD 16u
_Static_assert(ZHEAD >= TW_WIRE_COMPRESSED_HEAD_MAX, "room for the COMPRESSED head");
static int send_msg(conn *c, const uint8_t *msg, size_t len)
{
    tw_net *net = c->net;
    if (c->zstd && len >= TW_ZSTD_MIN_BYTES && len >= 2 && msg[1] == TW_WIRE_ENTRIES) {
        size_t bound = ZSTD_compressBound(len);
        tw_buf_reset(&net->zout);
        if (tw_buf_reserve(&net->zout, bound + ZHEAD) == 0) {
            uint8_t *z = net->zout.p + ZHEAD;
            size_t zn = ZSTD_compressCCtx(net->zc, z, bound, msg, len, TW_ZSTD_LEVEL);
            if (!ZSTD_isError(zn) && zn + 16 < len) {
                size_t hl = tw_wire_compressed_head(z, zn);
                uint8_t *h = z - hl;
                size_t wlen = (size_t)(z + zn - h);
                int rc = tw_sess_send(c->sess, h, wlen, tw_now_ms());
                if (!rc) { c->zstd_in += len; c->zstd_out += wlen; }
                return rc;
            }
        }
    }
    return tw_sess_send(c->sess, msg, len, tw_now_ms());
}

/* Unwraps a COMPRESSED message into net->zbuf: one zstd frame that declares
 * its size, at most TW_SESS_MSG_MAX bytes, holding a message of another
 * type.  Anything else is the peer's fault. */
static int unwrap(conn *c, const uint8_t *msg, size_t len, const uint8_t **out, size_t *outlen, const char **why)
{
    tw_net *net = c->net;
    tw_arena a;
    tw_val v;
    int rc;
    if (!c->zstd) { *why = "COMPRESSED message without the zstd feature"; return TW_EPROTO; }
    tw_arena_init(&a, 65536);   /* one small array; the frame stays in msg */
    rc = tw_mp_decode(msg, len, &a, 0, &v, NULL, why);
    if (rc == 0 && (v.type != TW_ARR || v.len != 2 || v.v.arr[1].type != TW_BIN)) { *why = "malformed COMPRESSED message"; rc = TW_EPROTO; }
    if (rc == 0) {
        const uint8_t *z = (const uint8_t *)v.v.arr[1].v.s;
        size_t zn = v.v.arr[1].len;
        unsigned long long declared = ZSTD_getFrameContentSize(z, zn);
        if (declared == ZSTD_CONTENTSIZE_UNKNOWN || declared == ZSTD_CONTENTSIZE_ERROR || declared > TW_SESS_MSG_MAX) {
            *why = "COMPRESSED message of undeclared or too large size";
            rc = TW_EPROTO;
        } else {
            size_t n = ZSTD_decompressDCtx(net->zd, net->zbuf, TW_SESS_MSG_MAX, z, zn);
            if (ZSTD_isError(n) || n != declared || n < 2) { *why = "COMPRESSED message does not decompress"; rc = TW_EPROTO; }
            else if (net->zbuf[1] == TW_WIRE_COMPRESSED) { *why = "COMPRESSED message inside a COMPRESSED message"; rc = TW_EPROTO; }
            else { *out = net->zbuf; *outlen = n; c->zstd_rin += len; c->zstd_rout += n; }
        }
    }
    tw_arena_free(&a);
    return rc;
}

static int have_cb(void *ctx, const uint8_t id[32])
{
    tw_net *net = ctx;
    return tw_store_has(net->node->store, id) == 1 || tw_idset_has(net->refused, id);
}

/* have_cb for many ids at once, in one read of the store (the engine's
 * batches: a reconciliation's ids, an OFFER's).  As there, a store that
 * cannot be read holds none of them: they are asked for, and refused as
 * known when they arrive. */
static int have_many_cb(void *ctx, const uint8_t *ids, size_t n, uint8_t *have)
{
    tw_net *net = ctx;
    if (tw_store_has_many(net->node->store, ids, n, have)) memset(have, 0, n);
    for (size_t i = 0; i < n; i++)
        if (!have[i] && tw_idset_has(net->refused, ids + TW_ID_LEN * i)) have[i] = 1;
    return 0;
}

void tw_net_note_refused(tw_node *n, const uint8_t id[TW_ID_LEN])
{
    tw_net *net = n->net;
    if (!net) return;
    int rc = tw_idset_add(net->refused, id);
    if (rc == TW_ETOOBIG && !net->refused_full_logged) {
        net->refused_full_logged = true;
        tw_info("net", "%u entries refused for admission are remembered; more are asked for again at each "
                       "reconciliation until admission changes", TW_REFUSED_IDS_MAX);
    }
}

/* ------------------------------------------------------------- session */

static conn *find_established(tw_net *net, const uint8_t key[TW_KEY_LEN], conn *except)
{
    for (conn *c = net->conns; c; c = c->next)
        if (c != except && c->state == C_ESTABLISHED && memcmp(c->key, key, TW_KEY_LEN) == 0) return c;
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int tw_net_clock(tw_node *n, int64_t *median_ms, unsigned *npeers)
{
    tw_net *net = n->net;
    int64_t offs[TW_INBOUND_MAX + TW_KNOWN_PEERS_MAX];
    unsigned k = 0;
    *median_ms = 0;
    *npeers = 0;
    if (!net) return 0;
    for (conn *c = net->conns; c && k < sizeof offs / sizeof offs[0]; c = c->next)
        if (c->state == C_ESTABLISHED) offs[k++] = c->clock_offset;
    if (k == 0) return 0;
    qsort(offs, k, sizeof offs[0], cmp_i64);
    *median_ms = k % 2 ? offs[k / 2] : (offs[k / 2 - 1] + offs[k / 2]) / 2;
    *npeers = k;
    return (*median_ms > (int64_t)TW_FUTURE_SKEW_MS || *median_ms < -(int64_t)TW_FUTURE_SKEW_MS) ? 1 : 0;
}

/* One peer whose clock is wrong is that peer's problem; when the median
 * of all our peers' clocks is far from ours, ours is the one that is wrong:
 * say so once each time that becomes true. */
static void check_own_clock(tw_net *net)
{
    static bool warned;
    int64_t m;
    unsigned k;
    int off = tw_net_clock(net->node, &m, &k);
    if (off && !warned)
        tw_warn("net", "this node's clock is %+lld s off the median of its %u peer%s; entries it signs may be refused for now by the others, and theirs look old to it: set the clock right",
                (long long)(-m / 1000), k, k == 1 ? "" : "s");
    warned = off;
}

/* ------------------------------------------------ unauthenticated slots */

static bool was_authed(tw_net *net, const char *ip)
{
    for (size_t i = 0; i < TW_AUTH_ADDRS_MAX; i++)
        if (net->authed[i].at && strcmp(net->authed[i].ip, ip) == 0) return true;
    return false;
}

static void remember_authed(tw_net *net, const char *ip, uint64_t now)
{
    size_t slot = 0;
    if (!ip[0]) return;
    for (size_t i = 0; i < TW_AUTH_ADDRS_MAX; i++) {
        if (net->authed[i].at && strcmp(net->authed[i].ip, ip) == 0) { slot = i; break; }
        if (net->authed[i].at < net->authed[slot].at) slot = i;
    }
    snprintf(net->authed[slot].ip, sizeof net->authed[slot].ip, "%s", ip);
    net->authed[slot].at = now;
}

/* The oldest inbound connection in handshake, among strangers' if any. */
static conn *oldest_unauth(tw_net *net, bool strangers_only)
{
    conn *best = NULL;
    for (conn *c = net->conns; c; c = c->next) {
        if (c->state != C_HANDSHAKE || c->outbound) continue;
        if (strangers_only && c->known) continue;
        if (!best || c->started < best->started) best = c;
    }
    return best;
}

/* ------------------------------------------------------------ referral */

/* Room for one more inbound connection: what ROOM tells peers. */
static bool have_room(tw_net *net)
{
    return net->listening && count_state(net, C_ESTABLISHED, 0) < net->node->cfg.inbound_max;
}

static void tell_room(conn *c, bool room)
{
    tw_buf b;
    tw_buf_init(&b);
    if (tw_wire_room(&b, room) == 0 && send_msg(c, b.p, b.len) == 0) flush(c);
    tw_buf_free(&b);
}

/* After an inbound connection was established or closed: when the answer
 * of have_room changed, every peer that takes ROOM is told (except the
 * one being established, told by established()). */
static void room_changed(tw_net *net, conn *except)
{
    int r = have_room(net);
    if (r == net->room_told) return;
    net->room_told = r;
    for (conn *o = net->conns, *next; o; o = next) {
        next = o->next;
        if (o != except && o->state == C_ESTABLISHED && o->refer) tell_room(o, r);
    }
}

/*
 * A node refusing a dialer as full (inbound_max reached, none old enough to
 * give way) first sends it REFER: the signed `peer` records, as stored
 * here, of some of its established peers whose last ROOM said they have
 * room, each with the vouch that admits its author (a new dialer knows the
 * roots only), TW_REFER_MAX records in all.  Records, not addresses: an
 * address travels with its author's signature, so a refusal can name no
 * address that a peer record could not, and the dialer applies to it every
 * rule of learnt addresses (refer_message).
 */
static void send_refer(conn *c)
{
    tw_net *net = c->net;
    tw_node *n = net->node;
    /* TW_REFER_MAX of the peers that said they have room, drawn at random
     * (a reservoir): dialers refused at the same moment are not all sent to
     * the same one. */
    conn *cand[TW_REFER_MAX];
    size_t nc = 0, seen = 0;
    for (conn *o = net->conns; o; o = o->next) {
        if (o == c || o->state != C_ESTABLISHED || o->room != 1 || memcmp(o->key, c->key, TW_KEY_LEN) == 0) continue;
        if (nc < TW_REFER_MAX) { cand[nc++] = o; seen++; continue; }
        uint32_t j = randombytes_uniform((uint32_t)++seen);
        if (j < TW_REFER_MAX) cand[j] = o;
    }
    for (size_t i = nc; i > 1; i--) {              /* and in random order */
        size_t j = randombytes_uniform((uint32_t)i);
        conn *t = cand[i - 1];
        cand[i - 1] = cand[j];
        cand[j] = t;
    }
    tw_buf envs[TW_REFER_MAX];
    const uint8_t *ep[TW_REFER_MAX];
    size_t el[TW_REFER_MAX], ne = 0;
    for (size_t i = 0; i < nc && ne < TW_REFER_MAX; i++) {
        uint8_t id[TW_ID_LEN], vid[TW_ID_LEN], voucher[TW_KEY_LEN];
        uint64_t ts, vts;
        if (tw_store_slot(n->store, "peer", 4, cand[i]->key, "self", 4, id, &ts) || !tw_node_visible_at(n, cand[i]->key, ts))
            continue;
        /* With it, the vouch that admits its author: a dialer that has not
         * synced yet (it knows the roots only) can check that one. */
        bool vouch = false;
        if (tw_admit_voucher(n, cand[i]->key, voucher)) {
            char kt[TW_KEYTEXT_LEN + 1];
            tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, cand[i]->key);
            vouch = tw_store_slot(n->store, "vouch", 5, voucher, kt, strlen(kt), vid, &vts) == 0;
            if (vouch && ne + 2 > TW_REFER_MAX) break;
        }
        for (int k = 0; k < 1 + vouch; k++) {
            tw_buf_init(&envs[ne]);
            if (tw_store_get(n->store, k ? vid : id, &envs[ne]) || envs[ne].len == 0 || envs[ne].len > TW_ENVELOPE_MAX) {
                tw_buf_free(&envs[ne]);
                continue;
            }
            ep[ne] = envs[ne].p;
            el[ne] = envs[ne].len;
            ne++;
        }
    }
    if (ne) {
        tw_buf b;
        tw_buf_init(&b);
        if (tw_wire_refer(&b, ep, el, ne) == 0 && send_msg(c, b.p, b.len) == 0) {
            net->refer_sent += ne;
            tw_debug("net", "%s (%s): full; REFER of %zu records (peers with room, and vouches)", c->remote, c->fpr, ne);
        }
        tw_buf_free(&b);
    }
    for (size_t i = 0; i < ne; i++) tw_buf_free(&envs[i]);
}

/*
 * REFER from a peer we dialled, which refuses us as full.  Each record is
 * checked as if it had arrived in ENTRIES (parsed, of this network,
 * signed, its schema); a vouch counts as this node's admission would count
 * it; a peer record is used as a stored one would be (learn_addrs: slot
 * self, an author admitted here or by a vouch that counted, the classes of
 * learnt addresses, at most TW_PEER_ADDRS_MAX an author, the learnt table
 * and its dial budget), unless this node holds a newer version of it.
 * The addresses of the authors named are marked referred: dialled first
 * while this node has no connection (dial_due).  One REFER a connection is
 * read; a forged or malformed record is misbehaviour.  Returns nonzero
 * when c was closed.
 */
static int refer_message(conn *c, const uint8_t *msg, size_t len)
{
    tw_net *net = c->net;
    tw_node *n = net->node;
    tw_wire_msg m;
    const char *why = NULL;
    int rc = tw_wire_decode(msg, len, &m, &why);
    if (rc) {
        char reason[160];
        snprintf(reason, sizeof reason, "REFER: %s", why);
        misbehaved(c, reason);
        return 1;
    }
    if (!c->outbound || c->got_refer) {
        tw_log_limited(TW_LOG_INFO, "net", "net.refer", "%s (%s): REFER ignored (%s)", c->remote, c->fpr,
                       c->got_refer ? "one was read on this connection already" : "from a peer that dialled this node");
        net->refer_unused += m.list.count;
        return 0;
    }
    c->got_refer = true;
    uint64_t now = tw_now_ms();
    unsigned used = 0, forged = 0, stale = 0, hidden = 0, other = 0, vouches = 0;
    const char *forged_why = NULL;
    const uint8_t *p;
    size_t plen;
    tw_arena a;
    tw_arena_init(&a, 0);
    /* Pass 1: the vouches, each checked as this node's admission would
     * (its author admitted here, below the depth limit, not a
     * revocation), so that a dialer that knows only the roots can use the
     * records of the authors they admit.  Pass 2: the peer records. */
    uint8_t vouched[TW_REFER_MAX][TW_KEY_LEN];
    size_t nvouched = 0;
    for (int pass = 0; pass < 2; pass++) {
        tw_wire_list l = m.list;
        while (tw_wire_list_next(&l, &p, &plen)) {
            tw_entry e;
            const char *w = NULL;
            tw_arena_reset(&a);
            rc = tw_entry_parse(p, plen, &a, &e, &w);
            if (rc == 0 && (rc = tw_entry_check(&e, n->netid, now)) == TW_EFUTURE) { other += pass; continue; }
            if (rc == 0 && (rc = tw_entry_verify(&e))) w = "signature does not verify";
            if (rc) { forged += pass; forged_why = w ? w : tw_strerror(rc); continue; }
            bool is_vouch = e.kind_len == 5 && memcmp(e.kind, "vouch", 5) == 0;
            char msgbuf[TW_REASON_MAX];
            if (tw_schema_check_record(e.kind, e.kind_len, e.slot, e.slot_len, &e.body, TW_RULES_RECEIPT, msgbuf, sizeof msgbuf)) {
                other += pass;
                continue;
            }
            if (is_vouch) {
                if (pass == 1) continue;
                uint8_t k[TW_KEY_LEN];
                if (nvouched < TW_REFER_MAX && tw_admit_vouch_admits(n, &e, k)) {
                    memcpy(vouched[nvouched++], k, TW_KEY_LEN);
                    vouches++;
                }
                continue;
            }
            if (pass == 0) continue;
            if (e.kind_len != 4 || memcmp(e.kind, "peer", 4) != 0 || e.slot_len != 4 || memcmp(e.slot, "self", 4) != 0 ||
                memcmp(e.author, n->pk, TW_KEY_LEN) == 0) {
                other++;
                continue;
            }
            bool admitted = tw_node_visible_at(n, e.author, e.ts), by_vouch = false;
            for (size_t i = 0; !admitted && !by_vouch && i < nvouched; i++) by_vouch = memcmp(vouched[i], e.author, TW_KEY_LEN) == 0;
            if (!admitted && !by_vouch) { hidden++; continue; }
            uint8_t sid[TW_ID_LEN];
            uint64_t sts;
            bool newer_here = tw_store_slot(n->store, "peer", 4, e.author, "self", 4, sid, &sts) == 0 &&
                              tw_entry_cmp_version(sts, sid, e.ts, e.id) > 0;
            if (newer_here) stale++;
            else learn_addrs_of(net, &e, !by_vouch);
            /* What this node knows of the author, from this record or a
             * newer one: its referrer is connected to it now. */
            bool any = false;
            for (size_t i = 0; i < net->naddrs; i++) {
                paddr *pa = &net->addrs[i];
                if (!pa->removed && pa->key_known && memcmp(pa->key, e.author, TW_KEY_LEN) == 0) {
                    pa->referred = now;
                    any = true;
                }
            }
            if (any) used++;
            else other++;
        }
    }
    tw_arena_free(&a);
    net->refer_used += used;
    net->refer_unused += m.list.count - used - vouches;
    tw_debug("net", "%s (%s): REFER of %u records: %u peers to dial (%u known here in a newer version), %u vouches "
             "used, %u of authors not admitted here, %u not usable", c->remote, c->fpr, m.list.count, used, stale,
             vouches, hidden, other);
    if (forged) {
        char reason[200];
        snprintf(reason, sizeof reason, "REFER: %u of its %u records forged or malformed (%s)", forged, m.list.count, forged_why);
        misbehaved(c, reason);
        return 1;
    }
    return 0;
}

static void established(conn *c, const tw_sess_event *ev)
{
    tw_net *net = c->net;
    uint64_t now = tw_now_ms();
    memcpy(c->key, ev->remote_key, TW_KEY_LEN);
    tw_key_fingerprint(c->fpr, c->key);
    c->clock_offset = ev->clock_offset_ms;
    c->zstd = (ev->remote_features & TW_WIRE_FEAT_ZSTD) != 0;
    c->neg_parts = c->offered_negpart && (ev->remote_features & TW_WIRE_FEAT_NEGPART) != 0;
    c->refer = (ev->remote_features & TW_WIRE_FEAT_REFER) != 0;
    tw_plum_link_init(&c->plum, (ev->remote_features & TW_WIRE_FEAT_PUSHTREE) != 0);
    c->plum_id = ++net->plum_ids;
    snprintf(c->sw, sizeof c->sw, "%s", ev->remote_sw);
    if (memcmp(c->key, net->node->pk, TW_KEY_LEN) == 0) { conn_close(c, TW_EREFUSED, "connected to itself"); return; }
    if (banned(net, c->key, now)) { conn_close(c, TW_EREFUSED, "peer key is kept off for a while after misbehaving"); return; }
    const char *why;
    if (tw_admit_refused_peer(net->node, c->key, &why)) {
        tw_log_limited(TW_LOG_WARN, "net", "net.refused", "%s (%s): connection refused: %s", c->remote, c->fpr, why);
        conn_close(c, TW_EREFUSED, why);
        return;
    }
    if (find_established(net, c->key, c)) { conn_close(c, TW_EREFUSED, "already connected to this peer"); return; }
    if (!c->outbound && count_state(net, C_ESTABLISHED, 0) >= net->node->cfg.inbound_max) {
        /* Full.  A node refused by every address it knows never learns
         * another (swarm.py: two new nodes whose seeds were full ended
         * connected only to each other), so an inbound connection
         * established at least TW_INBOUND_EVICT_AGE_MS ago, drawn at
         * random, makes room; its peer knows other addresses and dials
         * one.  Only when every inbound connection is younger is the new
         * one refused (its dialer backs off and comes back). */
        conn *v = NULL;
        unsigned seen = 0;
        for (conn *o = net->conns; o; o = o->next)
            if (o != c && !o->outbound && o->state == C_ESTABLISHED && now - o->established >= TW_INBOUND_EVICT_AGE_MS &&
                randombytes_uniform(++seen) == 0)
                v = o;
        if (!v) {
            if (c->refer) send_refer(c);
            conn_close(c, TW_EBUSY, "too many inbound connections");
            return;
        }
        tw_info("net", "%s (%s): inbound connections full (inbound_max %u): closing the one from %s (%s) to make room",
                c->remote, c->fpr, net->node->cfg.inbound_max, v->remote, v->fpr);
        conn_close(v, TW_EBUSY, "inbound connections full: making room for a newer peer");
    }
    if (neg_load(net)) { conn_close(c, TW_ENOMEM, "cannot read the reconciliation set from the store"); return; }
    tw_sync_cfg sc = { .store = net->neg, .frame_limit = net->node->cfg.neg_frame_limit,
                       .neg_parts = c->neg_parts, .have = have_cb, .have_many = have_many_cb, .ctx = net };
    randombytes_buf(sc.hash_key, sizeof sc.hash_key);
    if (tw_sync_new(&c->sync, &sc)) { conn_close(c, TW_ENOMEM, "out of memory"); return; }
    enter_state(c, C_ESTABLISHED);
    c->established = now;
    if (!c->outbound) room_changed(net, c);
    if (c->refer) tell_room(c, have_room(net));
    c->bytes_in_est = tw_sess_bytes_in(c->sess);
    net->n_established++;
    /* The dialer reconciles at once and its periodic timer counts from
     * now; the accepting side's first one follows TW_ACCEPT_SYNC_DELAY_MS
     * later (on_tick). */
    if (c->outbound) c->last_sync_start = now;
    if (c->pa) {
        c->pa->last_success = now;
        c->pa->key_known = true;
        memcpy(c->pa->key, c->key, TW_KEY_LEN);
        c->pa->last_error[0] = 0;
    }
    remember_authed(net, c->ip, now);
    tw_info("net", "%s: connected to %s (%s, %s), clock offset %+lld ms", c->remote, c->fpr,
            c->outbound ? "outbound" : "inbound", c->sw, (long long)c->clock_offset);
    if (c->clock_offset > (int64_t)TW_FUTURE_SKEW_MS || c->clock_offset < -(int64_t)TW_FUTURE_SKEW_MS)
        tw_warn("net", "the clock of %s (%s) differs from ours by %lld s; one of the two clocks is wrong",
                c->remote, c->fpr, (long long)(c->clock_offset / 1000));
    check_own_clock(net);
    size_t resumed = take_resume(net, c);
    if (resumed) tw_info("net", "%s (%s): resuming: asking for %zu entries first", c->remote, c->fpr, resumed);
    if (c->outbound && resumed) {
        c->sync_due = true;
    } else if (c->outbound) {
        neg_flush(net);
        tw_sync_start(c->sync);
    }
    run_actions(c);
}

/* Takes the session's events in order.  While more than TW_INGEST_JOBS_MAX
 * verification jobs wait it takes none: the messages already read stay in
 * the session (at most one read of 64 KiB), so the job past the limit is
 * the last one made until the jobs fall to half (on_resume). */
static void process(conn *c)
{
    tw_sess_event ev;
    while (c->state != C_CLOSING) {
        if (c->net->ingest_full) { c->held = true; break; }
        if (tw_sess_next_event(c->sess, &ev) != 0 || ev.type == TW_SEV_NONE) break;
        switch (ev.type) {
        case TW_SEV_ESTABLISHED:
            established(c, &ev);
            break;
        case TW_SEV_MESSAGE: {
            if (c->state != C_ESTABLISHED) break;
            tw_debug("net", "%s: %s of %zu bytes", c->remote,
                     tw_wire_type_name(ev.msg_len >= 2 ? ev.msg[1] : 0), ev.msg_len);
            const uint8_t *m = ev.msg;
            size_t ml = ev.msg_len;
            if (!c->carried && !(ml >= 2 && m[1] == TW_WIRE_REFER)) {
                c->carried = true;
                if (c->outbound) c->net->full_streak = 0;
            }
            if (ml >= 2 && m[1] == TW_WIRE_COMPRESSED) {
                const char *why = "";
                if (unwrap(c, ev.msg, ev.msg_len, &m, &ml, &why)) { misbehaved(c, why); return; }
            }
            if (ml >= 2 && m[1] == TW_WIRE_ROOM) {
                tw_wire_msg rm;
                const char *why = "";
                if (tw_wire_decode(m, ml, &rm, &why)) {
                    char reason[160];
                    snprintf(reason, sizeof reason, "ROOM: %s", why);
                    misbehaved(c, reason);
                    return;
                }
                c->room = rm.final;
                break;
            }
            if (ml >= 2 && m[1] == TW_WIRE_REFER) {
                if (refer_message(c, m, ml)) return;
                break;
            }
            if (ml >= 2 && (m[1] == TW_WIRE_IHAVE || m[1] == TW_WIRE_PRUNE || m[1] == TW_WIRE_GRAFT)) {
                if (tree_message(c, m, ml)) return;
                break;
            }
            if (ml >= 2 && (m[1] == TW_WIRE_NEG_REQ || m[1] == TW_WIRE_NEG_RESP)) neg_flush(c->net);
            if (ml >= 2 && (m[1] == TW_WIRE_NEG_PART || m[1] == TW_WIRE_WANT))
                c->peer_syncing = tw_now_ms();
            tw_sync_progress p0, p1;
            tw_sync_get_progress(c->sync, &p0);
            int rc = tw_sync_handle(c->sync, m, ml);
            if (rc) { misbehaved(c, tw_sync_error_text(c->sync)); return; }
            tw_sync_get_progress(c->sync, &p1);
            /* An answer to one of our WANTs, even an empty final one, is
             * progress: the stall clock of withheld entries starts again. */
            if (p1.received != p0.received || p1.wants_outstanding < p0.wants_outstanding)
                c->answer_wait = p1.wants_outstanding ? tw_now_ms() : 0;
            /* Ids it offered, was asked for and did not send: an honest node
             * leaves out only what was superseded in between. */
            if (p1.unsent > p0.unsent && p1.unsent > TW_SYNC_UNSENT_MAX && p1.unsent > p1.received) {
                char why[160];
                snprintf(why, sizeof why, "offered %llu entries it did not send when asked (it sent %llu)",
                         (unsigned long long)p1.unsent, (unsigned long long)p1.received);
                misbehaved(c, why);
                return;
            }
            run_actions(c);
            break;
        }
        case TW_SEV_CLOSED:
            if (c->state == C_HANDSHAKE && !c->outbound) {
                if (ev.code == TW_EDECRYPT) c->quiet = Q_WRONG_KEY;
                else if (ev.code == TW_EEXIST || ev.code == TW_ESTALE || ev.code == TW_EFUTURE ||
                         (ev.code == TW_EVERSION && strstr(ev.reason, "no date"))) c->quiet = Q_MSG1;
            }
            if (ev.code == TW_EVERSION && c->quiet == Q_NONE)
                tw_warn("net", "%s: %s", c->remote, ev.reason);
            if (ev.code == TW_ETIMEOUT && c->state == C_HANDSHAKE && c->outbound && tw_sess_bytes_in(c->sess) == 0)
                conn_close(c, ev.code, "no answer to handshake message 1 within 10 s (not a twind node of this "
                                       "network, or this node's clock is more than 1 h off)");
            else
                conn_close(c, ev.code, ev.reason);
            return;
        default:
            break;
        }
    }
    flush(c);
}

/* Verification caught up: the messages held in connections' sessions are
 * taken now, on the loop's turn after the ingest callback that found the
 * jobs drained (which may run inside a connection's own processing), and
 * before anything new is read.  A connection at a time, from the list's
 * head, until none is held or the limit is passed again. */
static void on_resume(uv_timer_t *t)
{
    tw_net *net = t->data;
    while (!net->ingest_full && !net->stopping) {
        conn *c = net->conns;
        while (c && !c->held) c = c->next;
        if (!c) return;
        c->held = false;
        if (c->state == C_CLOSING) continue;
        c->refs++;
        process(c);
        conn_unref(c);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    buf->base = (char *)readbuf;
    buf->len = sizeof readbuf;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = st->data;
    if (nread == 0) return;
    if (nread < 0) {
        conn_close(c, TW_ECLOSED, nread == UV_EOF ? "peer closed the connection" : uv_strerror((int)nread));
        return;
    }
    tw_sess_input(c->sess, (const uint8_t *)buf->base, (size_t)nread, tw_now_ms());
    process(c);
}

static void resume_read(conn *c)
{
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static conn *conn_new(tw_net *net, bool outbound)
{
    conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->net = net;
    c->outbound = outbound;
    c->refs = 1;
    c->quiet = Q_NONE;
    c->room = -1;
    c->started = tw_now_ms();
    uv_tcp_init(net->node->loop, &c->tcp);
    c->tcp.data = c;
    net->open_handles++;
    c->next = net->conns;
    if (net->conns) net->conns->pprev = &c->next;
    net->conns = c;
    c->pprev = &net->conns;
    return c;
}

static int sess_start(conn *c)
{
    tw_node *n = c->net->node;
    uint8_t e[32];
    randombytes_buf(e, sizeof e);
    char sw[32];
    snprintf(sw, sizeof sw, "twind %s", TW_VERSION);
    c->offered_negpart = n->cfg.neg_parts && !neg_cut_recent(c->net, c, tw_now_ms());
    tw_sess_cfg cfg = {
        .initiator = c->outbound, .ed_sk = n->sk, .netkey = n->netkey, .e_rand = e,
        .now_ms = tw_now_ms(), .software = sw,
        .features = TW_WIRE_FEAT_ZSTD | TW_WIRE_FEAT_PUSHTREE | TW_WIRE_FEAT_REFER |
                    (c->offered_negpart ? TW_WIRE_FEAT_NEGPART : 0),
        .version_min = TW_PROTO_VERSION_MIN, .version_max = TW_PROTO_VERSION_MAX,
        .replay = c->outbound ? NULL : c->net->replay,
    };
    int rc = tw_sess_new(&c->sess, &cfg);
    sodium_memzero(e, sizeof e);
    return rc;
}

static void addr_of(const struct sockaddr_storage *ss, char *ip, size_t iplen, char *full, size_t fulllen)
{
    int port = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)ss;
        uv_ip6_name(a, ip, iplen);
        port = ntohs(a->sin6_port);
        snprintf(full, fulllen, "[%s]:%d", ip, port);
    } else {
        const struct sockaddr_in *a = (const void *)ss;
        uv_ip4_name(a, ip, iplen);
        port = ntohs(a->sin_port);
        snprintf(full, fulllen, "%s:%d", ip, port);
    }
}

static void on_inbound(uv_stream_t *server, int status)
{
    tw_net *net = server->data;
    if (status < 0) { tw_warn("net", "accept failed: %s", uv_strerror(status)); return; }
    conn *c = conn_new(net, false);
    if (!c) return;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) { conn_close(c, TW_EIO, "accept failed"); return; }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        addr_of(&ss, c->ip, sizeof c->ip, c->remote, sizeof c->remote);
    else
        snprintf(c->remote, sizeof c->remote, "unknown");
    /* Before authentication only cheap limits apply: a node that does not
     * hold the network key costs us one small buffer for at most the
     * handshake timeout.  When the slots are full the oldest stranger
     * gives way (holding a slot buys nothing), and strangers never take
     * the last TW_UNAUTH_RESERVED slots, which wait for addresses that
     * authenticated before. */
    if (count_unauth(net, c->ip) >= TW_UNAUTH_PER_ADDR_MAX) {
        c->quiet = Q_PER_ADDR;
        conn_close(c, TW_EBUSY, "too many unauthenticated connections from this address");
        return;
    }
    c->known = was_authed(net, c->ip);
    unsigned all = 0, strangers = 0;
    for (conn *o = net->conns; o; o = o->next)
        if (o->state == C_HANDSHAKE && !o->outbound) { all++; strangers += !o->known; }
    while (all >= TW_UNAUTH_CONN_MAX || (!c->known && strangers >= TW_UNAUTH_CONN_MAX - TW_UNAUTH_RESERVED)) {
        conn *v = oldest_unauth(net, true);
        if (!v && c->known) v = oldest_unauth(net, false);
        if (!v) {
            c->quiet = Q_EVICTED;
            conn_close(c, TW_EBUSY, "too many unauthenticated connections");
            return;
        }
        strangers -= !v->known;
        all--;
        v->quiet = Q_EVICTED;
        conn_close(v, TW_EBUSY, "dropped for a newer connection: unauthenticated slots full");
    }
    if (sess_start(c)) { conn_close(c, TW_ENOMEM, "out of memory"); return; }
    uv_tcp_nodelay(&c->tcp, 1);
    enter_state(c, C_HANDSHAKE);
    sync_reading(c);
}

static void on_connect(uv_connect_t *req, int status)
{
    conn *c = req->data;
    if (c->state == C_CLOSING) return;
    if (status < 0) { conn_close(c, TW_EIO, uv_strerror(status)); return; }
    if (sess_start(c)) { conn_close(c, TW_ENOMEM, "out of memory"); return; }
    uv_tcp_nodelay(&c->tcp, 1);
    enter_state(c, C_HANDSHAKE);
    sync_reading(c);
    flush(c);                                   /* handshake message 1 */
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    conn *c = req->data;
    conn_unref(c);                              /* the resolver's reference */
    if (c->state == C_CLOSING) { uv_freeaddrinfo(res); return; }
    if (status < 0 || !res) {
        conn_close(c, TW_EIO, status < 0 ? uv_strerror(status) : "no address");
        uv_freeaddrinfo(res);
        return;
    }
    /* A learnt name is dialled only at an address of a class this node
     * dials for learnt addresses: a name can point at 127.0.0.1 or
     * 169.254.169.254 as well as a literal can. */
    struct addrinfo *pick = res;
    tw_addr_class cl = TW_ADDR_PUBLIC;
    if (c->pa && c->pa->source == SRC_LEARNT) {
        for (pick = res; pick; pick = pick->ai_next) {
            const struct sockaddr *sa = pick->ai_addr;
            if (sa->sa_family == AF_INET)
                cl = tw_addr_classify_ip(4, (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr);
            else if (sa->sa_family == AF_INET6)
                cl = tw_addr_classify_ip(6, (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
            else cl = TW_ADDR_INVALID;
            if (tw_addr_allowed(cl, c->net->node->cfg.learn_allow)) break;
        }
        if (!pick) {
            char why[128];
            snprintf(why, sizeof why, "learnt name resolves to a %s address, which this node does not dial", tw_addr_class_name(cl));
            uv_freeaddrinfo(res);
            c->net->learnt_refused++;
            conn_close(c, TW_EREFUSED, why);
            return;
        }
    }
    struct sockaddr_storage ss;
    memcpy(&ss, pick->ai_addr, pick->ai_addrlen);
    uv_freeaddrinfo(res);
    addr_of(&ss, c->ip, sizeof c->ip, c->remote, sizeof c->remote);
    c->creq.data = c;
    if (c->net->src.ss_family == ss.ss_family) {
        int brc = uv_tcp_bind(&c->tcp, (struct sockaddr *)&c->net->src, 0);
        if (brc) {
            char why[200];
            snprintf(why, sizeof why, "cannot use the source address %s (setting bind): %s",
                     c->net->node->cfg.bind, uv_strerror(brc));
            conn_close(c, TW_EIO, why);
            return;
        }
    }
    int rc = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&ss, on_connect);
    if (rc) conn_close(c, TW_EIO, uv_strerror(rc));
}

static void dial(tw_net *net, paddr *pa, uint64_t now)
{
    char host[TW_ADDR_MAX], port[8];
    const char *colon = strrchr(pa->addr, ':');
    size_t hl = (size_t)(colon - pa->addr);
    if (pa->addr[0] == '[') { memcpy(host, pa->addr + 1, hl - 2); host[hl - 2] = 0; }
    else { memcpy(host, pa->addr, hl); host[hl] = 0; }
    snprintf(port, sizeof port, "%s", colon + 1);
    conn *c = conn_new(net, true);
    if (!c) return;
    c->pa = pa;
    pa->c = c;
    pa->last_attempt = now;
    net->n_dials++;
    snprintf(c->remote, sizeof c->remote, "%s", pa->addr);
    enter_state(c, C_CONNECTING);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    c->gai.data = c;
    c->refs++;
    int rc = uv_getaddrinfo(net->node->loop, &c->gai, on_resolved, host, port, &hints);
    if (rc) { c->refs--; conn_close(c, TW_EIO, uv_strerror(rc)); }
}

/* ------------------------------------------------------------- timers */

/* Our WANTs have had no answer for TW_WANT_STALL_MS while we were
 * reading: the peer offered entries and keeps them (or the link carries
 * nothing any more).  It is not banned, since a stalled link looks the
 * same, but what it offered is not asked of it first again. */
static void withheld(conn *c, const tw_sync_progress *p)
{
    char why[160];
    snprintf(why, sizeof why, "no answer to a WANT for %u s (%zu entries asked for and still to receive)",
             TW_WANT_STALL_MS / 1000, p->to_receive);
    tw_warn("net", "%s (%s): closing the connection: %s", c->remote, c->fpr, why);
    c->no_resume = true;
    conn_close(c, TW_ETIMEOUT, why);
}

static void on_tick(uv_timer_t *t)
{
    tw_net *net = t->data;
    uint64_t now = tw_now_ms();
    tw_node *n = net->node;
    /* Under pressure (half the unauthenticated slots taken) a stranger's
     * handshake has TW_HANDSHAKE_BUSY_MS instead of TW_HANDSHAKE_TIMEOUT_MS:
     * an honest one takes three messages, under 2 s even at 600 ms each
     * way.  Addresses that authenticated before keep the full time. */
    bool busy = count_unauth(net, NULL) >= TW_UNAUTH_CONN_MAX / 2;
    for (conn *c = net->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == C_CONNECTING) {
            if (now - c->started > TW_HANDSHAKE_TIMEOUT_MS) conn_close(c, TW_ETIMEOUT, "connect timed out");
            continue;
        }
        if (!c->sess) continue;
        if (busy && c->state == C_HANDSHAKE && !c->outbound && !c->known && now - c->started >= TW_HANDSHAKE_BUSY_MS) {
            c->quiet = Q_BUSY;
            conn_close(c, TW_ETIMEOUT, "handshake not finished within 4 s while unauthenticated slots are scarce");
            continue;
        }
        tw_sess_tick(c->sess, now);
        process(c);
        if (c->state == C_ESTABLISHED) {
            tw_sync_progress p;
            tw_sync_get_progress(c->sync, &p);
            if (!p.wants_outstanding) c->answer_wait = 0;
            else if (!c->answer_wait || !c->reading) c->answer_wait = now;   /* not reading: not its fault */
            else if (now - c->answer_wait >= TW_WANT_STALL_MS) { withheld(c, &p); continue; }
        }
        /* Periodic anti-entropy catches whatever live push missed.  The
         * dialer reconciles at connect; the accepting side starts its own
         * first one TW_ACCEPT_SYNC_DELAY_MS after the connection was
         * established, at a tick where its engine is idle: by then the
         * dialer's reconciliation has offered it what it lacks and fetched
         * what the dialer lacked, so this one costs a round of fingerprints
         * and finds what a dialer that does not reconcile at connect (or
         * stopped early) left.  Starting both at once doubles the ids sent
         * and, as one side's OFFER races the other's WANTs, fetches many
         * entries twice.  Nor does either side start one while the peer
         * is fetching from it or reconciling many differences with it (a
         * WANT or NEG_PART in the last TW_PEER_SYNC_QUIET_MS): the peer's
         * own run offers this side what it lacks, and one of ours would
         * offer the peer every id it is still fetching (a bulk sync of
         * 200 000 entries got 180 000 ids offered, 31 bytes an entry, from
         * the accepting side's first reconciliation 2 s in).  A NEG_REQ
         * alone does not count: with a short sync_interval the peer's
         * periodic ones would keep this side from ever starting one. */
        bool due;
        if (c->last_sync_start) due = now - c->last_sync_start >= (uint64_t)n->cfg.sync_interval_s * 1000u;
        else if (c->outbound) due = now - c->established >= (uint64_t)n->cfg.sync_interval_s * 1000u;
        else due = now - c->established >= TW_ACCEPT_SYNC_DELAY_MS;
        if (c->peer_syncing && now - c->peer_syncing < TW_PEER_SYNC_QUIET_MS) due = false;
        if (c->state == C_ESTABLISHED && tw_sync_idle(c->sync) && due) {
            if (!c->last_sync_start && !c->outbound)
                tw_debug("net", "%s (%s): first reconciliation of the accepting side, %llu ms after establishment",
                         c->remote, c->fpr, (unsigned long long)(now - c->established));
            neg_flush(net);
            c->last_sync_start = now;
            tw_sync_start(c->sync);
            run_actions(c);
        }
    }
    push_repair(net, now);
    /* Quiet after work: give back the store pages scans mapped, the
     * reports kept between queries (ops.c), the reconciliation set's prefix
     * sums (recomputed at the next reconciliation: 32 bytes an entry) and
     * the heap that reports and imports used; and at once the heap of a
     * connection that had queued many ids. */
    if (net->conns || !net->conns_last_ms) net->conns_last_ms = now;
    else if (now - net->conns_last_ms >= TW_TRIM_IDLE_MS) neg_drop(net);   /* sets trim_due once */
    if (now - n->last_request_ms >= TW_TRIM_IDLE_MS && tw_store_maybe_trim(n->store)) {
        tw_ops_free_cache();
        tw_neg_store_trim(net->neg);
        net->neg_trimmed = true;
        malloc_trim(0);
    }
    else if (net->trim_due) malloc_trim(0);
    net->trim_due = false;
    /* And once batches of many entries paused (an initial sync, a large
     * import), whether or not anyone asks anything: the heap LMDB keeps
     * after them (store.c, tw_store_maybe_release). */
    if (tw_store_maybe_release(n->store, TW_TRIM_IDLE_MS)) malloc_trim(0);
    /* Between reconciliations (each peer's every sync_interval) the set's
     * file pages and block sums leave the resident set; the next use faults
     * the pages back from the page cache and recomputes the sums (about
     * 25 ms at a million entries). */
    if (!net->neg_trimmed && now - net->neg_used_ms >= TW_TRIM_IDLE_MS) {
        tw_neg_store_trim(net->neg);
        net->neg_trimmed = true;
    }
    dial_due(net, now);
}

/* Dials due addresses while fewer than outbound_target outbound
 * connections are open: the operator's addresses (config, manual,
 * invitation) first, in table order, then learnt ones drawn at random.
 * Every node learns the same peer records in the same order, so dialling
 * learnt addresses in table order would send every node of the network
 * to the same few nodes (measured with tests/tools/swarm.py: 30 nodes, one
 * of them with 29 connections, another with 27, while most had 4). */
static void dial_due(tw_net *net, uint64_t now)
{
    unsigned target = net->node->cfg.outbound_target;
    unsigned out = count_state(net, C_ESTABLISHED, 1) + count_state(net, C_HANDSHAKE, 1) + count_state(net, C_CONNECTING, 1);
    uint16_t due[TW_KNOWN_PEERS_MAX + TW_LEARNT_PEERS_MAX];
    size_t ndue = 0;
    bool connected = count_state(net, C_ESTABLISHED, -1) > 0;
    for (int pass = 0; pass < 2 && out < target; pass++) {
        ndue = 0;
        for (size_t i = 0; i < net->naddrs; i++) {
            paddr *pa = &net->addrs[i];
            if ((pa->source == SRC_LEARNT) != (pass == 1) || pa->removed || pa->c || pa->next_attempt > now) continue;
            due[ndue++] = (uint16_t)i;
        }
        for (size_t k = 0; k < ndue && out < target; k++) {
            if (pass == 1) {
                /* A random one of those left with the fewest failures: an
                 * address not tried yet before one back from a backoff
                 * (a full node, most likely full still); among those, while
                 * no connection is up, one a full node's REFER named since
                 * it was last tried (its referrer was connected to it and
                 * it said it had room) first.  Only then: a node that took
                 * every link it could through referrals would be linked to
                 * its referrers' neighbours only, and swarm.py saw such
                 * clusters split the network until evictions joined them. */
                size_t j = k;
                unsigned best = UINT32_MAX, seen = 0;
                for (size_t m = k; m < ndue; m++) {
                    const paddr *q = due[m] < net->naddrs ? &net->addrs[due[m]] : NULL;
                    unsigned f = !q ? UINT32_MAX : q->failures >= UINT32_MAX / 2 - 1 ? UINT32_MAX - 1
                               : q->failures * 2 + (!connected && q->referred > q->last_attempt ? 0 : 1);
                    if (f < best) { best = f; seen = 0; }
                    if (f == best && randombytes_uniform(++seen) == 0) j = m;
                }
                uint16_t t = due[k];
                due[k] = due[j];
                due[j] = t;
            }
            /* A dial that fails at once may forget a learnt address, which
             * moves the table's last entry: look again before dialling. */
            if (due[k] >= net->naddrs) continue;
            paddr *pa = &net->addrs[due[k]];
            if ((pa->source == SRC_LEARNT) != (pass == 1) || pa->removed || pa->c || pa->next_attempt > now) continue;
            /* Refused as full lately: not now, unless no connection at all
             * is up (a node that has none learns nothing, and would stay
             * behind the whole network). */
            if (pass == 1 && connected && now < net->full_pace_until) continue;
            /* Do not dial a peer already connected the other way. */
            if (pa->key_known && find_established(net, pa->key, NULL)) { pa->next_attempt = now + TW_RECHECK_CONNECTED_MS; continue; }
            dial(net, pa, now);
            out++;
        }
    }
}

/* ----------------------------------------------------------- live push */

/* Sends IHAVE [id] or PRUNE or GRAFT. */
static void send_tree(conn *c, int type, const uint8_t *id)
{
    tw_buf b;
    tw_buf_init(&b);
    int rc = type == TW_WIRE_IHAVE ? tw_wire_ihave(&b, id, 1) : tw_wire_tree(&b, type == TW_WIRE_GRAFT);
    if (!rc) rc = send_msg(c, b.p, b.len);
    tw_buf_free(&b);
    if (rc) { conn_close(c, TW_EINTERNAL, "cannot send"); return; }
    flush(c);
}

/* A live push from c brought an entry held already: a second path to it,
 * so the link leaves the tree (both sides: we tell the peer). */
static void push_duplicate(conn *c)
{
    if (!tw_plum_link_duplicate(&c->plum, tw_now_ms())) return;
    tw_debug("net", "%s (%s): push tree: link lazy (a push brought an entry held already)", c->remote, c->fpr);
    send_tree(c, TW_WIRE_PRUNE, NULL);
}

/* IHAVE, PRUNE or GRAFT from the peer; nonzero when the connection was
 * closed for it. */
static int tree_message(conn *c, const uint8_t *msg, size_t len)
{
    tw_net *net = c->net;
    tw_wire_msg m;
    const char *why = "";
    uint64_t now = tw_now_ms();
    int rc = tw_wire_decode(msg, len, &m, &why);
    if (!rc && m.type == TW_WIRE_IHAVE) rc = tw_plum_link_on_ihave(&c->plum, m.list.count, &why);
    else if (!rc) rc = tw_plum_link_on_ctrl(&c->plum, m.type == TW_WIRE_GRAFT, now, &why);
    if (rc) {
        char reason[160];
        snprintf(reason, sizeof reason, "%s: %s", tw_wire_type_name(msg[1]), why);
        misbehaved(c, reason);
        return rc;
    }
    if (m.type != TW_WIRE_IHAVE) {
        tw_debug("net", "%s (%s): push tree: link %s (%s from the peer)", c->remote, c->fpr,
                 m.type == TW_WIRE_GRAFT ? "eager" : "lazy", tw_wire_type_name(m.type));
        return 0;
    }
    /* Ids held (or refused here) are ignored; the others wait
     * TW_PUSH_MISSING_MS for a full copy on the tree (on_tick). */
    const uint8_t *p;
    size_t idlen;
    uint64_t dropped = 0;
    while (tw_wire_list_next(&m.list, &p, &idlen)) {
        int h = have_cb(net, p);
        if (h == 1) {
            if (tw_plum_recent_take(&net->raced, p)) net->got_connect_raced++;
            continue;
        }
        if (tw_plum_missing_add(net->missing, p, c->plum_id, now)) dropped++;
    }
    if (dropped) {
        net->missing_dropped += dropped;
        tw_log_limited(TW_LOG_INFO, "net", "net.missing_full",
                       "%s (%s): %llu announced entries not tracked: %u are awaited already (TW_PUSH_MISSING_MAX); "
                       "the next reconciliation finds them", c->remote, c->fpr, (unsigned long long)dropped,
                       TW_PUSH_MISSING_MAX);
    }
    return 0;
}

typedef struct asked { uint64_t peer; uint8_t id[TW_ID_LEN]; } asked;

static int cmp_asked(const void *a, const void *b)
{
    uint64_t x = ((const asked *)a)->peer, y = ((const asked *)b)->peer;
    return (x > y) - (x < y);
}

/* Whether some connection has id queued or asked for already: during a
 * long reconciliation over a slow link, the entries it fetches are
 * announced by the other peers as they get them, and asking for them
 * again would bring them twice. */
static bool fetching(tw_net *net, const uint8_t id[TW_ID_LEN])
{
    for (conn *c = net->conns; c; c = c->next)
        if (c->state == C_ESTABLISHED && tw_sync_expects(c->sync, id)) return true;
    return false;
}

static bool landing(tw_net *net, const uint8_t id[TW_ID_LEN])
{
    for (conn *c = net->conns; c; c = c->next)
        if (c->state == C_ESTABLISHED && tw_sync_landing(c->sync, id)) return true;
    return false;
}

/* Ids announced and still missing TW_PUSH_MISSING_MS later: the tree did
 * not bring them (a link died, or pruning cut this node off).  Each is
 * asked of its announcer (WANT), and that link rejoins the tree (GRAFT). */
static void push_repair(tw_net *net, uint64_t now)
{
    size_t n = 0, cap = 0;
    asked *a = NULL, one;
    /* A node whose links are all lazy is off the tree: prunes at both ends
     * of its links crossed.  Every entry would reach it by repair only, a
     * round of announcement later, so it grafts one link at once. */
    conn *first = NULL;
    bool attached = false;
    for (conn *c = net->conns; c && !attached; c = c->next) {
        if (c->state != C_ESTABLISHED) continue;
        if (!c->plum.capable || c->plum.eager) attached = true;
        else if (!first) first = c;
    }
    if (!attached && first && tw_plum_link_graft(&first->plum, now)) {
        tw_debug("net", "%s (%s): push tree: every link lazy; grafting this one", first->remote, first->fpr);
        send_tree(first, TW_WIRE_GRAFT, NULL);
    }
    if (!tw_plum_missing_count(net->missing)) return;
    /* The whole sweep, to its end: ids held by now (stored through
     * another door, or refused here) are forgotten, not asked for. */
    while (tw_plum_missing_due(net->missing, now, one.id, &one.peer)) {
        /* Received and being stored (an answer to the first announcer,
         * most often): kept, so that once stored it counts as announced
         * and goes on as a live entry; nothing to ask. */
        if (landing(net, one.id)) continue;
        if (have_cb(net, one.id) == 1 || fetching(net, one.id)) { tw_plum_missing_got(net->missing, one.id); continue; }
        if (n == cap) {
            asked *g = realloc(a, (cap ? 2 * cap : 64) * sizeof *a);
            if (!g) continue;           /* asked of the next announcer, or found by reconciliation */
            a = g;
            cap = cap ? 2 * cap : 64;
        }
        a[n++] = one;
    }
    if (!n) { free(a); return; }
    qsort(a, n, sizeof *a, cmp_asked);
    /* One link rejoins the tree per sweep, the one that announced the most:
     * grafting every announcer at once would make cycles, whose duplicates
     * prune links again, and can leave a node of two links with neither. */
    uint64_t graft = 0;
    for (size_t i = 0, j, most = 0; i < n; i = j) {
        for (j = i; j < n && a[j].peer == a[i].peer; j++) {}
        if (j - i > most) { most = j - i; graft = a[i].peer; }
    }
    uint8_t *ids = malloc(n ? n * TW_ID_LEN : 1);
    for (size_t i = 0, j; ids && i < n; i = j) {
        size_t k = 0;
        for (j = i; j < n && a[j].peer == a[i].peer; j++) memcpy(ids + TW_ID_LEN * k++, a[j].id, TW_ID_LEN);
        conn *c = net->conns;
        while (c && !(c->plum_id == a[i].peer && c->state == C_ESTABLISHED)) c = c->next;
        if (!c) continue;
        net->missing_asked += k;
        tw_debug("net", "%s (%s): push tree: %zu announced entries missing after %u ms, asking for them%s",
                 c->remote, c->fpr, k, TW_PUSH_MISSING_MS, c->plum_id == graft ? " (graft)" : "");
        if (c->plum_id == graft && tw_plum_link_graft(&c->plum, now)) send_tree(c, TW_WIRE_GRAFT, NULL);
        if (c->state != C_ESTABLISHED) continue;
        if (tw_sync_want_ids(c->sync, ids, k)) { misbehaved(c, tw_sync_error_text(c->sync)); continue; }
        run_actions(c);
    }
    free(ids);
    free(a);
}

/* A new entry stored here: into the reconciliation set, and on to the
 * peers by the push tree.  fetched: it came by a reconciliation (neither a
 * live push nor an announced id): a node back from a stop or a partition
 * catching up.  Such entries are old news to most peers, and pushing them
 * in full on every eager link brought a copy each that the peers held
 * already, and pruned the node's new links for it (swarm.py, 200 nodes
 * under churn: 1.27 copies received per entry per node); they are
 * announced by id on every link instead, and a peer that lacks one asks
 * for it (and grafts) TW_PUSH_MISSING_MS later. */
static void stored_how(tw_node *n, void *source, const tw_entry *e, const tw_put *put, bool fetched)
{
    tw_net *net = n->net;
    if (!net || net->stopping) return;
    if (!tw_node_visible_at(n, e->author, e->ts)) {
        /* This node's own record while it is not admitted: kept here, and
         * offered to peers once a member vouches for it. */
        if (put->replaced) {
            neg_flush(net);
            tw_neg_store_erase(net->neg, put->old_ts, put->old_id);
        }
        return;
    }
    if (put->replaced) {
        neg_flush(net);
        tw_neg_store_erase(net->neg, put->old_ts, put->old_id);
    }
    if (!net->neg_dropped && add_pending(net, e->ts, e->id)) {
        tw_err("net", "out of memory for the reconciliation set");
        return;
    }
    learn_addrs(net, e);
    tw_plum_missing_got(net->missing, e->id);
    /* The push tree: in full on eager links, by id on lazy ones.  A
     * connection that fails to send is closed and leaves the list: its
     * successor is taken first. */
    for (conn *c = net->conns, *next; c; c = next) {
        next = c->next;
        if (c == source || c->state != C_ESTABLISHED) continue;
        if (fetched && c->plum.capable) {
            c->plum.ihave_sent++;
            send_tree(c, TW_WIRE_IHAVE, e->id);
        } else if (tw_plum_link_route(&c->plum) == TW_PLUM_PUSH) {
            tw_sync_push(c->sync, e->env, e->env_len);
            run_actions(c);
        } else {
            send_tree(c, TW_WIRE_IHAVE, e->id);
        }
    }
}

static void ingest_stored(void *ctx, void *job_ctx, const tw_entry *e, const tw_put *put)
{
    tw_node *n = ctx;
    tw_net *net = n->net;
    bool fetched = false;
    if (net && !net->stopping) {
        if (((injob *)job_ctx)->pushed) net->got_pushed++;
        else if (tw_plum_missing_got(net->missing, e->id)) net->got_announced++;
        else if ((fetched = true, ((injob *)job_ctx)->later)) net->got_later++;
        else {
            net->got_connect++;
            tw_plum_recent_add(&net->raced, e->id);
        }
    }
    stored_how(ctx, ((injob *)job_ctx)->c, e, put, fetched);
}

static void on_stored(tw_node *n, void *source, const tw_entry *e, const tw_put *put)
{
    stored_how(n, source, e, put, false);
}

/* ------------------------------------------------------------ peers */

static paddr *find_addr(tw_net *net, const char *addr)
{
    for (size_t i = 0; i < net->naddrs; i++)
        if (strcmp(net->addrs[i].addr, addr) == 0) return &net->addrs[i];
    return NULL;
}

/* Drops entry i of the table (never one being dialled or connected). */
static void forget_addr(tw_net *net, size_t i)
{
    paddr *last = &net->addrs[--net->naddrs];
    if (&net->addrs[i] != last) {
        net->addrs[i] = *last;
        if (net->addrs[i].c) net->addrs[i].c->pa = &net->addrs[i];
    }
    memset(last, 0, sizeof *last);
}

/* The learnt address to give way for a new one: not in use, and worst by
 * failures, then by the oldest success; -1 if all are in use. */
static ptrdiff_t worst_learnt(tw_net *net)
{
    ptrdiff_t w = -1;
    for (size_t i = 0; i < net->naddrs; i++) {
        paddr *pa = &net->addrs[i];
        if (pa->source != SRC_LEARNT || pa->c) continue;
        if (w < 0) { w = (ptrdiff_t)i; continue; }
        paddr *b = &net->addrs[w];
        if (pa->failures > b->failures || (pa->failures == b->failures && pa->last_success < b->last_success))
            w = (ptrdiff_t)i;
    }
    return w;
}

/*
 * Addresses from another node's peer record (slot "self" only: the schema
 * refuses others on every door, and this is checked again here), with that
 * node's key, so a peer already connected the other way is not dialled in
 * vain.  Addresses of classes this node does not dial (PROTOCOL.md,
 * "Learnt addresses") are not kept; a new version of the record replaces
 * the addresses learnt from the old one, so an author holds at most
 * TW_PEER_ADDRS_MAX entries of the learnt table however often it writes.
 */
static void learn_addrs(tw_net *net, const tw_entry *e)
{
    learn_addrs_of(net, e, true);
}

/* admitted_checked: the author is admitted here, or (a REFER) vouched for
 * by a record its referrer sent, checked by refer_message. */
static void learn_addrs_of(tw_net *net, const tw_entry *e, bool check_admitted)
{
    tw_node *n = net->node;
    if (e->kind_len != 4 || memcmp(e->kind, "peer", 4) != 0 || memcmp(e->author, n->pk, TW_KEY_LEN) == 0 ||
        e->slot_len != 4 || memcmp(e->slot, "self", 4) != 0 || (check_admitted && !tw_node_visible_at(n, e->author, e->ts)))
        return;
    const tw_val *as = e->body.type == TW_MAP ? tw_v_get(&e->body, "addresses") : NULL;
    char wanted[TW_PEER_ADDRS_MAX][TW_ADDR_MAX];
    size_t nw = 0;
    unsigned refused = 0;
    const char *refused_class = NULL;
    for (uint32_t i = 0; as && as->type == TW_ARR && i < as->len && nw < TW_PEER_ADDRS_MAX; i++) {
        const tw_val *a = &as->v.arr[i];
        if (a->type != TW_STR || a->len >= TW_ADDR_MAX) continue;
        memcpy(wanted[nw], a->v.s, a->len);
        wanted[nw][a->len] = 0;
        tw_addr_class cl = tw_addr_classify(wanted[nw], a->len);
        if (!tw_addr_valid(wanted[nw]) || !tw_addr_allowed(cl, n->cfg.learn_allow)) {
            refused++;
            refused_class = tw_addr_class_name(cl);
            continue;
        }
        nw++;
    }
    if (refused) {
        net->learnt_refused += refused;
        char fpr[TW_KEYTEXT_LEN + 1];
        tw_keytext_encode(fpr, TW_KEYTEXT_PREFIX, e->author);
        tw_info("net", "peer record of %.*s: %u address%s not learnt (%s%s; see learn_private, learn_loopback)",
                (int)TW_FPR_CHARS, fpr + 4, refused, refused == 1 ? "" : "es", refused_class,
                refused > 1 ? " and others" : "");
    }
    /* Forget what this author published before and no longer does. */
    for (size_t i = net->naddrs; i-- > 0;) {
        paddr *pa = &net->addrs[i];
        if (pa->source != SRC_LEARNT || !pa->key_known || memcmp(pa->key, e->author, TW_KEY_LEN) != 0) continue;
        bool still = false;
        for (size_t k = 0; k < nw && !still; k++) still = strcmp(wanted[k], pa->addr) == 0;
        if (!still && !pa->c && !pa->removed) forget_addr(net, i);
    }
    for (size_t k = 0; k < nw; k++) {
        char err[128];
        if (add_addr(net, wanted[k], SRC_LEARNT, err, sizeof err)) continue;
        /* A learnt address belongs to its author (the next version of the
         * record replaces it); another address only gains a key to skip
         * dialling a peer already connected the other way. */
        paddr *pa = find_addr(net, wanted[k]);
        if (pa && (pa->source == SRC_LEARNT || !pa->key_known)) {
            pa->key_known = true;
            memcpy(pa->key, e->author, TW_KEY_LEN);
        }
    }
}

static int add_addr(tw_net *net, const char *addr, int source, char *err, size_t errlen)
{
    if (!tw_addr_valid(addr)) { snprintf(err, errlen, "\"%s\" is not HOST:PORT", addr); return TW_EINVAL; }
    if (net->node->cfg.listen[0] && strcmp(addr, net->node->cfg.listen) == 0) return 0;   /* ourselves */
    paddr *pa = find_addr(net, addr);
    if (pa) {
        /* An address the operator removed stays removed when it is merely
         * learnt again; config or peers add bring it back. */
        if (pa->removed && source == SRC_LEARNT) return 0;
        if (pa->removed || (int)pa->source > source) pa->source = source;
        pa->removed = false;
        return 0;
    }
    size_t learnt = 0, other = 0;
    for (size_t i = 0; i < net->naddrs; i++) {
        if (net->addrs[i].source == SRC_LEARNT) learnt++;
        else other++;
    }
    if (source == SRC_LEARNT && learnt >= TW_LEARNT_PEERS_MAX) {
        ptrdiff_t w = worst_learnt(net);
        if (w < 0) { snprintf(err, errlen, "the learnt-address table is full (%u), all in use", TW_LEARNT_PEERS_MAX); return TW_ETOOBIG; }
        tw_debug("net", "learnt address %s forgotten for %s (learnt table full)", net->addrs[w].addr, addr);
        forget_addr(net, (size_t)w);
        net->learnt_evicted++;
    } else if (source != SRC_LEARNT && other >= TW_KNOWN_PEERS_MAX) {
        /* An address the operator removed gives its room back. */
        size_t i = 0;
        while (i < net->naddrs && !(net->addrs[i].source != SRC_LEARNT && net->addrs[i].removed && !net->addrs[i].c)) i++;
        if (i == net->naddrs) { snprintf(err, errlen, "the known-peer table is full (%u)", TW_KNOWN_PEERS_MAX); return TW_ETOOBIG; }
        forget_addr(net, i);
    }
    pa = &net->addrs[net->naddrs++];
    memset(pa, 0, sizeof *pa);
    snprintf(pa->addr, sizeof pa->addr, "%s", addr);
    pa->source = source;
    return 0;
}

/* Saved as an array: a manual address as a string, one from an
 * invitation as [address, "invite"]. */
static void save_manual(tw_net *net)
{
    tw_buf b;
    tw_buf_init(&b);
    uint32_t k = 0;
    for (size_t i = 0; i < net->naddrs; i++)
        if (!net->addrs[i].removed && (net->addrs[i].source == SRC_MANUAL || net->addrs[i].source == SRC_INVITE)) k++;
    tw_mpw_arr(&b, k);
    for (size_t i = 0; i < net->naddrs; i++) {
        paddr *pa = &net->addrs[i];
        if (pa->removed) continue;
        if (pa->source == SRC_MANUAL) tw_mpw_cstr(&b, pa->addr);
        else if (pa->source == SRC_INVITE) { tw_mpw_arr(&b, 2); tw_mpw_cstr(&b, pa->addr); tw_mpw_cstr(&b, "invite"); }
    }
    if (tw_store_meta_put(net->node->store, "peers", b.p, b.len))
        tw_warn("net", "cannot save the peer list");
    tw_buf_free(&b);
}

static int peer_add(tw_node *n, const char *addr, int source, char *err, size_t errlen)
{
    tw_net *net = n->net;
    if (!net) { snprintf(err, errlen, "networking is not running"); return TW_ESTATE; }
    int rc = add_addr(net, addr, source, err, errlen);
    if (rc) return rc;
    paddr *pa = find_addr(net, addr);
    if (pa) { pa->next_attempt = 0; pa->failures = 0; }
    save_manual(net);
    tw_info("net", "peer %s added%s", addr, source == SRC_INVITE ? " from an invitation" : "");
    return 0;
}

int tw_net_peer_add(tw_node *n, const char *addr, char *err, size_t errlen)
{
    return peer_add(n, addr, SRC_MANUAL, err, errlen);
}

int tw_net_peer_add_invite(tw_node *n, const char *addr, char *err, size_t errlen)
{
    return peer_add(n, addr, SRC_INVITE, err, errlen);
}

int tw_net_peer_remove(tw_node *n, const char *addr, char *err, size_t errlen)
{
    tw_net *net = n->net;
    if (!net) { snprintf(err, errlen, "networking is not running"); return TW_ESTATE; }
    paddr *pa = find_addr(net, addr);
    if (!pa || pa->removed) { snprintf(err, errlen, "%s is not a known peer", addr); return TW_ENOTFOUND; }
    pa->removed = true;
    if (pa->c) conn_close(pa->c, TW_ECLOSED, "peer removed by the operator");
    save_manual(net);
    tw_info("net", "peer %s removed", addr);
    return 0;
}

unsigned tw_net_sync_now(tw_node *n)
{
    tw_net *net = n->net;
    unsigned k = 0;
    if (!net) return 0;
    neg_flush(net);
    for (conn *c = net->conns; c; c = c->next) {
        if (c->state != C_ESTABLISHED) continue;
        c->last_sync_start = tw_now_ms();
        tw_sync_start(c->sync);
        run_actions(c);
        k++;
    }
    return k;
}



bool tw_net_ingest_gate(bool full, size_t jobs)
{
    return full ? jobs > TW_INGEST_JOBS_MAX / 2 : jobs > TW_INGEST_JOBS_MAX;
}

int tw_net_encode_ingest(tw_node *n, tw_buf *out)
{
    tw_net *net = n->net;
    size_t jobs = net && net->ingest ? tw_ingest_pending(net->ingest) : 0;
    int rc;
    if ((rc = tw_mpw_map(out, 4)) || (rc = tw_mpw_kv_uint(out, "jobs", jobs)) ||
        (rc = tw_mpw_kv_uint(out, "jobs_peak", net ? net->ingest_peak : 0)) ||
        (rc = tw_mpw_kv_uint(out, "paused", net ? net->ingest_pauses : 0)) ||
        (rc = tw_mpw_cstr(out, "reading")) || (rc = tw_mpw_bool(out, !(net && net->ingest_full))))
        return rc;
    return 0;
}

void tw_net_refusals(tw_node *n, uint64_t *count, const char **last)
{
    *count = n->net ? n->net->refused_total : 0;
    *last = n->net ? n->net->last_refusal : "";
}

/* {"connections": [ {...} ], "known": [ {...} ]} */
int tw_net_encode_peers(tw_node *n, tw_buf *out)
{
    tw_net *net = n->net;
    int rc;
    uint32_t nc = 0, nk = 0;
    if (!net) return TW_ESTATE;
    for (conn *c = net->conns; c; c = c->next) nc++;
    for (size_t i = 0; i < net->naddrs; i++) if (!net->addrs[i].removed) nk++;
    size_t nlearnt = 0;
    for (size_t i = 0; i < net->naddrs; i++) nlearnt += net->addrs[i].source == SRC_LEARNT;
    uint64_t rcv = net->gone_received, bin = net->gone_bytes_in, bout = net->gone_bytes_out;
    for (conn *c = net->conns; c; c = c->next) {
        rcv += c->received;
        if (c->sess) { bin += tw_sess_bytes_in(c->sess); bout += tw_sess_bytes_out(c->sess); }
    }
    if ((rc = tw_mpw_map(out, 5)) || (rc = tw_mpw_cstr(out, "totals")) || (rc = tw_mpw_map(out, 5)) ||
        (rc = tw_mpw_kv_uint(out, "received", rcv)) || (rc = tw_mpw_kv_uint(out, "bytes_in", bin)) ||
        (rc = tw_mpw_kv_uint(out, "bytes_out", bout)) || (rc = tw_mpw_kv_uint(out, "established", net->n_established)) ||
        (rc = tw_mpw_kv_uint(out, "dials", net->n_dials)) ||
        (rc = tw_mpw_cstr(out, "push_tree")) || (rc = tw_mpw_map(out, 9)) ||
        (rc = tw_mpw_kv_uint(out, "awaited", tw_plum_missing_count(net->missing))) ||
        (rc = tw_mpw_kv_uint(out, "max", TW_PUSH_MISSING_MAX)) ||
        (rc = tw_mpw_kv_uint(out, "asked", net->missing_asked)) ||
        (rc = tw_mpw_kv_uint(out, "dropped", net->missing_dropped)) ||
        (rc = tw_mpw_kv_uint(out, "got_pushed", net->got_pushed)) ||
        (rc = tw_mpw_kv_uint(out, "got_announced", net->got_announced)) ||
        (rc = tw_mpw_kv_uint(out, "got_connect", net->got_connect)) ||
        (rc = tw_mpw_kv_uint(out, "got_connect_raced", net->got_connect_raced)) ||
        (rc = tw_mpw_kv_uint(out, "got_later", net->got_later)) ||
        (rc = tw_mpw_cstr(out, "learnt")) || (rc = tw_mpw_map(out, 7)) ||
        (rc = tw_mpw_kv_uint(out, "count", nlearnt)) || (rc = tw_mpw_kv_uint(out, "max", TW_LEARNT_PEERS_MAX)) ||
        (rc = tw_mpw_kv_uint(out, "evicted", net->learnt_evicted)) || (rc = tw_mpw_kv_uint(out, "refused", net->learnt_refused)) ||
        (rc = tw_mpw_kv_uint(out, "refer_sent", net->refer_sent)) || (rc = tw_mpw_kv_uint(out, "refer_used", net->refer_used)) ||
        (rc = tw_mpw_kv_uint(out, "refer_unused", net->refer_unused)) ||
        (rc = tw_mpw_cstr(out, "connections")) || (rc = tw_mpw_arr(out, nc))) return rc;
    for (conn *c = net->conns; c; c = c->next) {
        char kt[TW_KEYTEXT_LEN + 1] = "";
        tw_sync_progress p = { 0 };
        if (c->state == C_ESTABLISHED) { tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, c->key); tw_sync_get_progress(c->sync, &p); }
        const tw_plum_link *l = &c->plum;
        if ((rc = tw_mpw_map(out, 21)) || (rc = tw_mpw_kv_cstr(out, "address", c->remote)) || (rc = tw_mpw_kv_cstr(out, "key", kt)) ||
            (rc = tw_mpw_cstr(out, "zstd")) || (rc = tw_mpw_map(out, 4)) ||
            (rc = tw_mpw_kv_uint(out, "out", c->zstd_out)) || (rc = tw_mpw_kv_uint(out, "out_plain", c->zstd_in)) ||
            (rc = tw_mpw_kv_uint(out, "in", c->zstd_rin)) || (rc = tw_mpw_kv_uint(out, "in_plain", c->zstd_rout)) ||
            (rc = tw_mpw_cstr(out, "push")) || (rc = tw_mpw_map(out, 11)) ||
            (rc = tw_mpw_cstr(out, "tree")) || (rc = tw_mpw_bool(out, l->capable)) ||
            (rc = tw_mpw_cstr(out, "eager")) || (rc = tw_mpw_bool(out, c->state == C_ESTABLISHED && (l->eager || !l->capable))) ||
            (rc = tw_mpw_kv_uint(out, "pushed", l->pushes_sent)) || (rc = tw_mpw_kv_uint(out, "pushes_received", p.pushes_recv)) ||
            (rc = tw_mpw_kv_uint(out, "duplicates", l->dups_recv)) ||
            (rc = tw_mpw_kv_uint(out, "announced", l->ihave_sent)) || (rc = tw_mpw_kv_uint(out, "announced_received", l->ihave_recv)) ||
            (rc = tw_mpw_kv_uint(out, "prunes_sent", l->prunes_sent)) || (rc = tw_mpw_kv_uint(out, "prunes_received", l->prunes_recv)) ||
            (rc = tw_mpw_kv_uint(out, "grafts_sent", l->grafts_sent)) || (rc = tw_mpw_kv_uint(out, "grafts_received", l->grafts_recv)) ||
            (rc = tw_mpw_kv_uint(out, "refused", c->refused)) || (rc = tw_mpw_kv_cstr(out, "last_refusal", c->last_refusal)) ||
            (rc = tw_mpw_kv_cstr(out, "fingerprint", c->state == C_ESTABLISHED ? c->fpr : "")) ||
            (rc = tw_mpw_kv_cstr(out, "state", cstate_name[c->state])) ||
            (rc = tw_mpw_kv_cstr(out, "direction", c->outbound ? "outbound" : "inbound")) ||
            (rc = tw_mpw_kv_cstr(out, "software", c->sw)) ||
            (rc = tw_mpw_kv_uint(out, "bytes_in", c->sess ? tw_sess_bytes_in(c->sess) : 0)) ||
            (rc = tw_mpw_kv_uint(out, "bytes_out", c->sess ? tw_sess_bytes_out(c->sess) : 0)) ||
            (rc = tw_mpw_cstr(out, "clock_offset_ms")) || (rc = tw_mpw_int(out, c->clock_offset)) ||
            (rc = tw_mpw_kv_uint(out, "since_ms", c->established ? c->established : c->started)) ||
            (rc = tw_mpw_kv_uint(out, "received", c->received)) || (rc = tw_mpw_kv_uint(out, "stored", c->stored)) ||
            (rc = tw_mpw_kv_uint(out, "to_receive", p.to_receive)) ||
            (rc = tw_mpw_cstr(out, "syncing")) ||
            (rc = tw_mpw_bool(out, c->state == C_ESTABLISHED && !tw_sync_idle(c->sync))) ||
            (rc = tw_mpw_kv_uint(out, "last_sync_ms", c->last_sync_done)) ||
            (rc = tw_mpw_kv_uint(out, "last_rounds", p.last_rounds)) ||
            (rc = tw_mpw_cstr(out, "neg_parts")) || (rc = tw_mpw_bool(out, c->state == C_ESTABLISHED && c->neg_parts)))
            return rc;
    }
    if ((rc = tw_mpw_cstr(out, "known")) || (rc = tw_mpw_arr(out, nk))) return rc;
    static const char *const src[] = { "config", "manual", "invite", "learnt" };
    for (size_t i = 0; i < net->naddrs; i++) {
        paddr *pa = &net->addrs[i];
        if (pa->removed) continue;
        char kt[TW_KEYTEXT_LEN + 1] = "";
        if (pa->key_known) tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, pa->key);
        if ((rc = tw_mpw_map(out, 8)) || (rc = tw_mpw_kv_cstr(out, "address", pa->addr)) || (rc = tw_mpw_kv_cstr(out, "key", kt)) ||
            (rc = tw_mpw_kv_cstr(out, "source", src[pa->source])) ||
            (rc = tw_mpw_kv_cstr(out, "state", pa->c ? cstate_name[pa->c->state] : "idle")) ||
            (rc = tw_mpw_kv_uint(out, "failures", pa->failures)) || (rc = tw_mpw_kv_uint(out, "last_success_ms", pa->last_success)) ||
            (rc = tw_mpw_kv_uint(out, "next_attempt_ms", pa->next_attempt)) || (rc = tw_mpw_kv_cstr(out, "last_error", pa->last_error)))
            return rc;
    }
    return 0;
}

/* [{"fingerprint","address","to_receive","to_send","syncing"}] of established connections */
int tw_net_encode_progress(tw_node *n, tw_buf *out)
{
    tw_net *net = n->net;
    uint32_t k = 0;
    int rc;
    for (conn *c = net ? net->conns : NULL; c; c = c->next) if (c->state == C_ESTABLISHED) k++;
    if ((rc = tw_mpw_arr(out, k))) return rc;
    for (conn *c = net ? net->conns : NULL; c; c = c->next) {
        if (c->state != C_ESTABLISHED) continue;
        tw_sync_progress p;
        tw_sync_get_progress(c->sync, &p);
        /* What the peer was offered and has not been sent yet: an upper
         * bound, as the peer may get some of it from elsewhere. */
        uint64_t to_send = p.offered_sent > p.served ? p.offered_sent - p.served : 0;
        if ((rc = tw_mpw_map(out, 6)) || (rc = tw_mpw_kv_cstr(out, "fingerprint", c->fpr)) || (rc = tw_mpw_kv_cstr(out, "address", c->remote)) ||
            (rc = tw_mpw_kv_uint(out, "to_receive", p.to_receive)) || (rc = tw_mpw_kv_uint(out, "to_send", to_send)) ||
            (rc = tw_mpw_cstr(out, "clock_offset_ms")) || (rc = tw_mpw_int(out, c->clock_offset)) ||
            (rc = tw_mpw_cstr(out, "syncing")) || (rc = tw_mpw_bool(out, !tw_sync_idle(c->sync))))
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ start/stop */

static int add_pending(tw_net *net, uint64_t ts, const uint8_t id[TW_ID_LEN])
{
    tw_neg_item *p = tw_vec_room(net->pending, &net->cpending, net->npending, sizeof *p, 4096);
    if (!p) return TW_ENOMEM;
    net->pending = p;
    net->pending[net->npending].ts = ts;
    memcpy(net->pending[net->npending].id, id, TW_ID_LEN);
    net->npending++;
    return 0;
}

/* The reconciliation set: every record of an admitted author. */
static int load_set(void *ctx, const char *kind, size_t kind_len, const uint8_t author[TW_KEY_LEN],
                    const char *slot, size_t slot_len, const uint8_t id[TW_ID_LEN], uint64_t ts,
                    bool tombstone)
{
    tw_net *net = ctx;
    return tw_node_visible_at(net->node, author, ts) ? add_pending(net, ts, id) : 0;
}

/*
 * After TW_TRIM_IDLE_MS without any connection (not one dialling, in a
 * handshake or established), the reconciliation set is given back: a node
 * nobody reaches needs none of it.  What is stored meanwhile is not added
 * (neg_flush, on_stored); the store is the set's source, and neg_load reads
 * it whole, as at start-up, before the next connection reconciles.  At
 * 1 000 000 entries that is 40 MB of file given back, and a read of the
 * slot table (a few hundred ms) when a peer comes.
 */
static void neg_drop(tw_net *net)
{
    tw_neg_store *empty;
    if (net->neg_dropped || net->conns || neg_new(net, &empty)) return;
    size_t n = tw_neg_store_size(net->neg);
    tw_neg_store_free(net->neg);
    net->neg = empty;
    net->neg_dropped = true;
    net->npending = 0;
    free(net->pending);
    net->pending = NULL;
    net->cpending = 0;
    net->trim_due = true;
    tw_info("net", "no connection for %u s: the reconciliation set (%zu entries) is given back until one comes",
            TW_TRIM_IDLE_MS / 1000, n);
}

static int neg_load(tw_net *net)
{
    if (!net->neg_dropped) return 0;
    uint64_t t0 = tw_now_ms();
    net->neg_dropped = false;
    int rc = tw_store_scan_slots(net->node->store, NULL, load_set, net);
    if (rc) {
        net->npending = 0;
        net->neg_dropped = true;
        tw_err("net", "cannot read the reconciliation set from the store: %s", tw_strerror(rc));
        return rc;
    }
    neg_flush(net);
    /* The read went through the heap (40 bytes an entry, grown by
     * doubling: at 1 000 000 entries 47 MiB stayed resident, freed but not
     * given back, until the next idle trim 30 s later). */
    malloc_trim(0);
    tw_info("net", "the reconciliation set is read from the store again: %zu entries in %llu ms",
            tw_neg_store_size(net->neg), (unsigned long long)(tw_now_ms() - t0));
    return 0;
}

/* Addresses of other nodes from their peer records. */
static int load_addrs(void *ctx, const uint8_t *key, size_t klen, const tw_entry *e)
{
    tw_net *net = ctx;
    if (tw_node_visible_at(net->node, e->author, e->ts)) learn_addrs(net, e);
    return 0;
}

void tw_net_drop_all(tw_node *n, const char *why)
{
    tw_net *net = n->net;
    if (!net) return;
    while (net->conns) conn_close(net->conns, TW_ECLOSED, why);
    tw_idset_clear(net->refused);
    for (size_t i = 0; i < TW_RESUME_PEERS_MAX; i++) drop_resume(net, i);
}

void tw_net_admission_changed(tw_node *n, const tw_neg_item *gone, size_t ngone,
                              const tw_neg_item *added, size_t nadded, bool gained)
{
    tw_net *net = n->net;
    if (!net || net->stopping) return;
    neg_flush(net);
    for (size_t i = 0; i < ngone; i++) tw_neg_store_erase(net->neg, gone[i].ts, gone[i].id);
    for (size_t i = 0; i < nadded; i++)
        if (add_pending(net, added[i].ts, added[i].id)) { tw_err("net", "out of memory for the reconciliation set"); break; }
    neg_flush(net);
    for (conn *c = net->conns, *next; c; c = next) {
        const char *why;
        next = c->next;
        if (c->state == C_ESTABLISHED && tw_admit_refused_peer(n, c->key, &why)) {
            tw_warn("net", "%s (%s): closing the connection: %s", c->remote, c->fpr, why);
            conn_close(c, TW_EREFUSED, why);
        }
    }
    /* What peers offered before and was refused may be admitted now, and
     * a peer refused for a revocation may be welcome again. */
    if (gained) {
        tw_idset_clear(net->refused);
        net->refused_full_logged = false;
        uint64_t now = tw_now_ms();
        /* Only those refused by policy: an address in backoff because its
         * node is down or full would only fail again, and vouches come in
         * waves (100 nodes forming: each node dialled 72 times and was
         * refused as full 55 times when every vouch reset them all). */
        for (size_t i = 0; i < net->naddrs; i++)
            if (net->addrs[i].refused && net->addrs[i].failures && net->addrs[i].next_attempt > now)
                net->addrs[i].next_attempt = now;
    }
    if (gained || nadded || ngone) tw_net_sync_now(n);
}

static int parse_listen(const char *s, struct sockaddr_storage *ss)
{
    char host[TW_ADDR_MAX];
    const char *colon = strrchr(s, ':');
    if (!colon) return TW_EINVAL;
    int port = atoi(colon + 1);
    size_t hl = (size_t)(colon - s);
    if (s[0] == '[') {
        memcpy(host, s + 1, hl - 2);
        host[hl - 2] = 0;
        return uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) ? TW_EINVAL : 0;
    }
    memcpy(host, s, hl);
    host[hl] = 0;
    return uv_ip4_addr(host, port, (struct sockaddr_in *)ss) ? TW_EINVAL : 0;
}

/* The source address of setting bind, tried once at start: an address
 * this machine does not have would make every dial fail, each with the
 * same error, instead of one clear refusal to start. */
static int check_bind(tw_net *net, char *err, size_t errlen)
{
    const char *ip = net->node->cfg.bind;
    struct sockaddr_storage *ss = &net->src;
    int rc = strchr(ip, ':') ? uv_ip6_addr(ip, 0, (struct sockaddr_in6 *)ss) : uv_ip4_addr(ip, 0, (struct sockaddr_in *)ss);
    if (rc) { snprintf(err, errlen, "bind: \"%s\" is not an IP address", ip); ss->ss_family = AF_UNSPEC; return TW_EINVAL; }
    /* 0.0.0.0 and :: name no address: the system chooses, as when unset. */
    static const uint8_t zero[16];
    if (ss->ss_family == AF_INET ? ((struct sockaddr_in *)ss)->sin_addr.s_addr == 0
                                 : memcmp(&((struct sockaddr_in6 *)ss)->sin6_addr, zero, 16) == 0) {
        ss->ss_family = AF_UNSPEC;
        return 0;
    }
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) { snprintf(err, errlen, "bind: cannot open a socket: %s", strerror(errno)); ss->ss_family = AF_UNSPEC; return TW_EIO; }
    socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (bind(fd, (struct sockaddr *)ss, len) != 0) {
        snprintf(err, errlen, "bind: cannot use %s as the source address of outgoing connections: %s", ip, strerror(errno));
        close(fd);
        ss->ss_family = AF_UNSPEC;
        return TW_EINVAL;
    }
    close(fd);
    return 0;
}

/* Publishes (or refreshes) this node's peer record when it accepts inbound
 * connections at an address others can dial. */
static void publish_self(tw_node *n)
{
    const char *a = n->cfg.listen;
    if (!a[0] || strncmp(a, "0.0.0.0:", 8) == 0 || strncmp(a, "[::]:", 5) == 0) return;
    tw_arena ar;
    tw_val body, list;
    tw_arena_init(&ar, 0);
    if (tw_v_arr(&ar, &list, 1) == 0 && tw_v_map(&ar, &body, 1) == 0) {
        list.v.arr[0] = tw_v_cstr(a);
        body.v.map[0].k = tw_v_cstr("addresses");
        body.v.map[0].v = list;
        tw_record_in r = { "peer", 4, "self", 4, &body };
        tw_write_result res;
        size_t bad;
        char err[256];
        if (tw_node_write(n, &r, 1, &res, &bad, err, sizeof err))
            tw_warn("net", "cannot publish this node's address: %s", err);
        else if (!res.unchanged)
            tw_info("net", "published this node's address %s", a);
    }
    tw_arena_free(&ar);
}

int tw_net_start(tw_node *n, char *err, size_t errlen)
{
    tw_net *net = calloc(1, sizeof *net);
    int rc;
    if (!net) { snprintf(err, errlen, "out of memory"); return TW_ENOMEM; }
    net->node = n;
    n->net = net;
    net->room_told = -1;
    tw_buf_init(&net->zout);
    net->zc = ZSTD_createCCtx();
    net->zd = ZSTD_createDCtx();
    net->zbuf = malloc(TW_SESS_MSG_MAX);
    if (!net->zc || !net->zd || !net->zbuf) { rc = TW_ENOMEM; snprintf(err, errlen, "out of memory"); goto fail; }
    if (n->cfg.bind[0] && (rc = check_bind(net, err, errlen))) goto fail;
    uint8_t mkey[TW_PLUM_HASH_KEY_LEN];
    randombytes_buf(mkey, sizeof mkey);
    if ((rc = neg_new(net, &net->neg)) || (rc = tw_ingest_new(&net->ingest, n, ingest_stored, n)) ||
        (rc = tw_plum_missing_new(&net->missing, TW_PUSH_MISSING_MAX, mkey)) ||
        (rc = tw_idset_new(&net->refused, TW_REFUSED_IDS_MAX)) || (rc = tw_sess_replay_new(&net->replay, TW_HS_REPLAY_MAX))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* The reconciliation set and learnt addresses come from the store. */
    if ((rc = tw_store_scan_slots(n->store, NULL, load_set, net)) ||
        (rc = tw_store_scan_entries(n->store, "peer", 4, NULL, 0, load_addrs, net))) {
        snprintf(err, errlen, "cannot read the store: %s", tw_strerror(rc));
        goto fail;
    }
    neg_flush(net);
    net->trim_due = true;   /* the load's buffers (80 MB at a million entries) */
    tw_store_maybe_trim(n->store);
    for (unsigned i = 0; i < n->cfg.npeers; i++) add_addr(net, n->cfg.peers[i], SRC_CONFIG, err, errlen);
    tw_buf saved;
    tw_buf_init(&saved);
    if (tw_store_meta_get(n->store, "peers", &saved) == 0) {
        tw_arena a;
        tw_val v;
        tw_arena_init(&a, 1 << 20);
        if (tw_mp_decode(saved.p, saved.len, &a, 0, &v, NULL, NULL) == 0 && v.type == TW_ARR)
            for (uint32_t i = 0; i < v.len; i++) {
                const tw_val *it = &v.v.arr[i];
                int src = SRC_MANUAL;
                if (it->type == TW_ARR && it->len == 2 && it->v.arr[1].type == TW_STR) {
                    src = SRC_INVITE;
                    it = &it->v.arr[0];
                }
                if (it->type == TW_STR && it->len < TW_ADDR_MAX) {
                    char addr[TW_ADDR_MAX];
                    memcpy(addr, it->v.s, it->len);
                    addr[it->len] = 0;
                    add_addr(net, addr, src, err, errlen);
                }
            }
        tw_arena_free(&a);
    }
    tw_buf_free(&saved);
    n->on_stored = on_stored;

    uv_timer_init(n->loop, &net->tick);
    net->tick.data = net;
    net->open_handles++;
    uv_timer_start(&net->tick, on_tick, 0, TW_TICK_MS);
    uv_timer_init(n->loop, &net->held_timer);
    net->held_timer.data = net;
    net->open_handles++;
    if (n->cfg.listen[0]) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        if (parse_listen(n->cfg.listen, &ss)) {
            snprintf(err, errlen, "listen: \"%s\" is not an IP address and port", n->cfg.listen);
            return TW_EINVAL;   /* the caller stops the node, which closes the timer */
        }
        uv_tcp_init(n->loop, &net->listener);
        net->listener.data = net;
        net->open_handles++;
        net->listening = true;
        if ((rc = uv_tcp_bind(&net->listener, (struct sockaddr *)&ss, 0)) ||
            (rc = uv_listen((uv_stream_t *)&net->listener, TW_LISTEN_BACKLOG, on_inbound))) {
            snprintf(err, errlen, "cannot listen on %s: %s", n->cfg.listen, uv_strerror(rc));
            return TW_EIO;
        }
        tw_info("net", "listening on %s", n->cfg.listen);
        publish_self(n);
    }
    return 0;
fail:
    net_free(net);
    return rc;
}

static void net_handle_closed(uv_handle_t *h) { handle_closed(h->data); }

void tw_net_stop(tw_node *n, void (*done)(tw_node *))
{
    tw_net *net = n->net;
    if (!net) { if (done) done(n); return; }
    net->stopping = true;
    net->done = done;
    while (net->conns) conn_close(net->conns, TW_ECLOSED, "node stopping");
    uv_close((uv_handle_t *)&net->tick, net_handle_closed);
    uv_close((uv_handle_t *)&net->held_timer, net_handle_closed);
    if (net->listening) uv_close((uv_handle_t *)&net->listener, net_handle_closed);
}
