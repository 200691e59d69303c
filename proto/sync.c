/*
 * Sync engine of one connection (include/twin/sync.h).
 *
 * Ids this side is going to ask for live in a pool of 32-byte slots,
 * referred to by index from three places: a hash set (so an id is never
 * queued twice), a FIFO of ids waiting for a WANT, and the WANTs in flight.
 * The set is open addressing with linear probing keyed by SipHash with the
 * caller's random key, because offered ids are chosen by the peer and an
 * unkeyed hash would let it pile them on one probe chain.  Each slot keeps
 * its id's hash, computed once when the id arrives: growing the table and
 * the backward shift of a removal, which looks at the home of every id
 * after the hole, reuse it instead of hashing again.
 *
 * Ids arrive in numbers (a reconciliation's, an OFFER's); those not yet in
 * the set are looked up in the store together (cfg.have_many, one read
 * transaction for up to HAVE_BATCH ids) when the daemon gives that.
 *
 * Actions are queued with their own heap copies, so nothing they point to
 * depends on the buffer the daemon passed in; the one handed out last is
 * freed when the next is taken.
 *
 * The initiator offers and queues ids as each negentropy reply reveals them
 * rather than at the end of the session, so entries start to flow while a
 * long reconciliation is still going on; what the peer sees is the same
 * messages, only earlier.
 */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twin/err.h"
#include "twin/sync.h"
#include "twin/vec.h"

#define ID_LEN TW_WIRE_ID_LEN
#define ACT_INITIAL 16u
#define WHY_MAX 160u
/* Ids looked up in the store at once (cfg.have_many). */
#define HAVE_BATCH TW_IDS_PER_MSG

/* Bytes of a NEG_PART piece: the most that fits one transport message. */
#define PIECE_MAX (TW_SESS_MSG_MAX - TW_WIRE_NEG_PART_HEAD_MAX)

typedef struct act {
    tw_sa_type type;
    uint8_t *data;            /* SEND message, SERVE ids, INGEST envelope bytes */
    size_t len;
    uint64_t wseq;
    size_t n;                 /* SERVE ids, INGEST envelopes */
    uint64_t seq;             /* INGEST: its number, for tw_sync_ingested */
    const uint8_t **envs;
    size_t *lens;
    bool pushed;
    size_t have_count, need_count;
    bool complete;
    uint64_t rounds;
} act;

typedef struct want {
    bool used;
    uint64_t wseq;
    uint32_t *idx;            /* pool slots of the ids asked for */
    uint32_t n;
    uint32_t received;        /* envelopes of the answer so far */
} want;

typedef struct serve {
    bool used;
    uint64_t wseq;
} serve;

/* The ids of a WANT answered in full, kept in the set until every INGEST
 * action handed out up to seq is decided (tw_sync_ingested): until then
 * the store does not hold them yet, and an OFFER or a reconciliation would
 * queue them again. */
typedef struct landing {
    uint64_t seq;
    uint32_t *idx;
    uint32_t n;
} landing;

struct tw_sync {
    tw_sync_cfg cfg;
    size_t frame_limit;       /* of the negentropy sessions */
    int err;
    char why[WHY_MAX];

    /* Initiator session. */
    tw_neg *init;
    uint64_t init_sid, next_sid;
    size_t sess_have, sess_need;
    uint64_t sess_rounds;
    /* A negentropy message arriving in NEG_PART pieces: its kind (0 when
     * none is), sid and the pieces so far. */
    tw_wire_type part_kind;
    uint64_t part_sid;
    tw_buf part;
    /* Responder session. */
    tw_neg *resp;
    uint64_t resp_sid;

    /* Id pool, set, queue. */
    uint8_t (*pool)[ID_LEN];
    uint32_t *hash;           /* per pool slot: id_hash() of its id */
    uint32_t pool_len, pool_cap;
    uint32_t *free_idx;
    uint32_t free_n;
    uint32_t *tab;            /* 0 = empty, else pool index + 1 */
    uint32_t tab_cap, tab_n;  /* tab_cap a power of two */
    uint32_t *q;
    uint32_t q_head, q_len, q_cap;

    want out[TW_WANT_WINDOW];
    uint32_t nout;
    uint64_t next_wseq;
    uint32_t want_ids;        /* ids per WANT now: grows as answers complete */
    serve in[TW_WANT_WINDOW];
    uint32_t nin;
    uint64_t offered_in_sess; /* ids the peer offered since its last new reconciliation */

    /* Received, not yet decided by the daemon (see landing). */
    landing *land;
    size_t land_head, land_len, land_cap;
    uint32_t land_ids;
    uint8_t *landed;          /* per pool slot: 1 while its id is landing */
    uint64_t ing_next;        /* seq of the last INGEST action queued (0: none) */
    uint64_t ing_low;         /* every INGEST up to this seq is decided */
    uint64_t *ing_done;       /* seqs above ing_low decided out of order */
    size_t ing_done_n, ing_done_cap;

    /* Flow control of our reconciliation: ids it found missing that did not
     * fit the queue wait in left (from left_off on), and its next message
     * waits in next until they are queued and the queue is at most
     * TW_SYNC_ROUND_QUEUE_MAX long (next_held; next may be empty when the
     * session has ended).  So a bulk sync learns each id it lacks once,
     * instead of reconciling again every TW_SYNC_QUEUE_MAX ids. */
    tw_buf left;
    size_t left_off;
    tw_buf next;
    bool next_held;

    act *acts;
    size_t act_head, act_len, act_cap;
    act cur;                  /* the action last handed out */

    uint8_t scratch[TW_IDS_PER_MSG * ID_LEN];
    /* enqueue_ids(): the ids of a batch not yet in the set, their hashes,
     * and what the store said of them (one allocation, made at the first
     * id queued: a connection that never fetches holds none of it). */
    uint8_t *cand;
    uint32_t *cand_hash;
    uint8_t *cand_have;
    tw_sync_progress prog;
};

__attribute__((format(printf, 3, 4)))
static int fail(tw_sync *s, int rc, const char *fmt, ...)
{
    va_list ap;
    if (s->err)
        return s->err;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof s->why, fmt, ap);
    va_end(ap);
    s->err = rc;
    return rc;
}

/* ---- actions ---- */

static void act_free(act *a)
{
    free(a->data);
    free(a->envs);
    free(a->lens);
    memset(a, 0, sizeof *a);
}

static int act_push(tw_sync *s, const act *a)
{
    if (s->act_head == s->act_len) {
        s->act_head = s->act_len = 0;
    } else if (s->act_head > 0 && s->act_len == s->act_cap) {
        memmove(s->acts, s->acts + s->act_head, (s->act_len - s->act_head) * sizeof *s->acts);
        s->act_len -= s->act_head;
        s->act_head = 0;
    }
    act *p = tw_vec_room(s->acts, &s->act_cap, s->act_len, sizeof *p, ACT_INITIAL);
    if (!p)
        return TW_ENOMEM;
    s->acts = p;
    s->acts[s->act_len++] = *a;
    return 0;
}

/* Queues the message in b as a SEND, taking its memory. */
static int send_buf(tw_sync *s, tw_buf *b)
{
    act a = { .type = TW_SA_SEND, .data = b->p, .len = b->len };
    int rc = act_push(s, &a);
    if (rc)
        tw_buf_free(b);
    else
        tw_buf_init(b);
    return rc;
}

/* ---- id pool, set and queue ---- */

static uint32_t id_hash(const tw_sync *s, const uint8_t *id)
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v;
    crypto_shorthash(h, id, ID_LEN, s->cfg.hash_key);
    memcpy(&v, h, sizeof v);
    return (uint32_t)(v ^ (v >> 32));
}

/* The pool slot of id (whose id_hash() is h) plus one, or 0 when it is
 * not in the set. */
static uint32_t set_slot_h(const tw_sync *s, const uint8_t *id, uint32_t h)
{
    if (s->tab_n == 0)
        return 0;
    uint32_t mask = s->tab_cap - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t e = s->tab[i];
        if (e == 0 || (s->hash[e - 1] == h && memcmp(s->pool[e - 1], id, ID_LEN) == 0))
            return e;
    }
}

static uint32_t set_slot(const tw_sync *s, const uint8_t *id)
{
    return s->tab_n == 0 ? 0 : set_slot_h(s, id, id_hash(s, id));
}

static bool set_find(const tw_sync *s, const uint8_t *id)
{
    return set_slot(s, id) != 0;
}

static void tab_place(tw_sync *s, uint32_t idx)
{
    uint32_t mask = s->tab_cap - 1;
    uint32_t i = s->hash[idx] & mask;
    while (s->tab[i])
        i = (i + 1) & mask;
    s->tab[i] = idx + 1;
}

static int tab_grow(tw_sync *s)
{
    uint32_t cap = s->tab_cap ? s->tab_cap * 2 : 1024u;
    uint32_t *old = s->tab, old_cap = s->tab_cap;
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t)
        return TW_ENOMEM;
    s->tab = t;
    s->tab_cap = cap;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old[i])
            tab_place(s, old[i] - 1);
    free(old);
    return 0;
}

/* Adds id (known absent, its id_hash() h) to the pool and the set; *idx
 * gets its slot. */
static int set_add(tw_sync *s, const uint8_t *id, uint32_t h, uint32_t *idx)
{
    int rc;
    /* Load factor at most one half keeps probe chains short. */
    if ((s->tab_n + 1) * 2 > s->tab_cap && (rc = tab_grow(s)))
        return rc;
    if (s->free_n == 0 && s->pool_len == s->pool_cap) {
        uint32_t cap = s->pool_cap ? s->pool_cap * 2 : 1024u;
        void *p = realloc(s->pool, (size_t)cap * ID_LEN);
        if (!p)
            return TW_ENOMEM;
        s->pool = p;
        uint32_t *f = realloc(s->free_idx, (size_t)cap * sizeof *f);
        if (!f)
            return TW_ENOMEM;
        s->free_idx = f;
        uint8_t *l = realloc(s->landed, cap);
        if (!l)
            return TW_ENOMEM;
        s->landed = l;
        uint32_t *hs = realloc(s->hash, (size_t)cap * sizeof *hs);
        if (!hs)
            return TW_ENOMEM;
        s->hash = hs;
        s->pool_cap = cap;
    }
    *idx = s->free_n ? s->free_idx[--s->free_n] : s->pool_len++;
    s->landed[*idx] = 0;
    s->hash[*idx] = h;
    memcpy(s->pool[*idx], id, ID_LEN);
    tab_place(s, *idx);
    s->tab_n++;
    return 0;
}

/* Removes slot idx from the set (backward-shift deletion, so no tombstones
 * build up) and returns it to the pool. */
static void set_remove(tw_sync *s, uint32_t idx)
{
    uint32_t mask = s->tab_cap - 1;
    uint32_t i = s->hash[idx] & mask;
    while (s->tab[i] != idx + 1)
        i = (i + 1) & mask;
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (s->tab[j] == 0)
            break;
        uint32_t home = s->hash[s->tab[j] - 1] & mask;
        /* Entry j may fill hole i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            s->tab[i] = s->tab[j];
            i = j;
        }
    }
    s->tab[i] = 0;
    s->tab_n--;
    s->free_idx[s->free_n++] = idx;
}

static int q_push(tw_sync *s, uint32_t idx)
{
    if (s->q_head + s->q_len == s->q_cap) {
        if (s->q_head > 0) {
            memmove(s->q, s->q + s->q_head, (size_t)s->q_len * sizeof *s->q);
            s->q_head = 0;
        }
        if (s->q_len == s->q_cap) {
            uint32_t cap = s->q_cap ? s->q_cap * 2 : 1024u;
            uint32_t *p = realloc(s->q, (size_t)cap * sizeof *p);
            if (!p)
                return TW_ENOMEM;
            s->q = p;
            s->q_cap = cap;
        }
    }
    s->q[s->q_head + s->q_len++] = idx;
    return 0;
}

/* Queues the ids (n of them) not stored, queued or asked for already.
 * When the queue is full (TW_SYNC_QUEUE_MAX in the set): with drop the
 * rest are dropped and counted, without it the call stops there; *used
 * gets how many ids were taken either way.  The ids not in the set are
 * looked up in the store in batches (cfg.have_many) or one by one. */
static int enqueue_ids(tw_sync *s, const uint8_t *ids, size_t n, bool drop, size_t *used)
{
    size_t at = 0;
    int rc;
    if (n && !s->cand) {
        uint8_t *p = malloc(HAVE_BATCH * (ID_LEN + sizeof *s->cand_hash + 1));
        if (!p)
            return fail(s, TW_ENOMEM, "out of memory");
        s->cand_hash = (uint32_t *)(void *)p;   /* first: aligned */
        s->cand = p + HAVE_BATCH * sizeof *s->cand_hash;
        s->cand_have = s->cand + HAVE_BATCH * ID_LEN;
    }
    while (at < n) {
        /* A full queue is checked first: a peer flooding OFFERs then costs
         * a comparison per id, neither a hash nor a store lookup. */
        if (s->tab_n >= TW_SYNC_QUEUE_MAX) {
            if (!drop)
                break;
            s->prog.dropped += n - at;
            at = n;
            break;
        }
        /* The next batch: the ids not in the set (an id twice in it is
         * looked up twice and added once). */
        size_t take = n - at < HAVE_BATCH ? n - at : HAVE_BATCH, nc = 0;
        /* Without drop, no more than the queue has room for, so that the
         * ids past a full queue stay untaken. */
        if (!drop && take > TW_SYNC_QUEUE_MAX - s->tab_n)
            take = TW_SYNC_QUEUE_MAX - s->tab_n;
        for (size_t i = 0; i < take; i++) {
            const uint8_t *id = ids + (at + i) * ID_LEN;
            uint32_t h = id_hash(s, id);
            if (set_slot_h(s, id, h))
                continue;
            memcpy(s->cand + nc * ID_LEN, id, ID_LEN);
            s->cand_hash[nc++] = h;
        }
        if (nc && s->cfg.have_many) {
            if ((rc = s->cfg.have_many(s->cfg.ctx, s->cand, nc, s->cand_have)) < 0)
                return fail(s, rc, "store lookup failed: %s", tw_strerror(rc));
        } else {
            for (size_t k = 0; k < nc; k++) {
                if ((rc = s->cfg.have(s->cfg.ctx, s->cand + k * ID_LEN)) < 0)
                    return fail(s, rc, "store lookup failed: %s", tw_strerror(rc));
                s->cand_have[k] = rc > 0;
            }
        }
        for (size_t k = 0; k < nc; k++) {
            const uint8_t *id = s->cand + k * ID_LEN;
            uint32_t idx;
            if (s->cand_have[k])
                continue;
            if (s->tab_n >= TW_SYNC_QUEUE_MAX) {
                /* Filled by this batch (only with drop): its later ids
                 * not in the set are dropped. */
                s->prog.dropped++;
                continue;
            }
            if (k > 0 && set_slot_h(s, id, s->cand_hash[k]))
                continue;                           /* twice in the batch */
            if ((rc = set_add(s, id, s->cand_hash[k], &idx)))
                return fail(s, rc, "out of memory");
            if ((rc = q_push(s, idx))) {
                set_remove(s, idx);
                return fail(s, rc, "out of memory");
            }
        }
        at += take;
    }
    if (used)
        *used = at;
    return 0;
}

/* Sends WANTs for queued ids while the window has room. */
static int pump(tw_sync *s)
{
    /* Slow start: a new connection asks for a few ids at a time and doubles
     * with every answer completed, so that a link cut every few hundred KiB
     * does not spend its bytes on requests whose answers it never sees. */
    if (s->want_ids < TW_WANT_IDS_FIRST) s->want_ids = TW_WANT_IDS_FIRST;
    while (s->nout < TW_WANT_WINDOW && s->q_len > 0) {
        uint32_t n = s->q_len < s->want_ids ? s->q_len : s->want_ids;
        want *w = NULL;
        tw_buf b;
        int rc;
        for (size_t i = 0; i < TW_WANT_WINDOW && !w; i++)
            if (!s->out[i].used)
                w = &s->out[i];
        uint32_t *idx = malloc((size_t)n * sizeof *idx);
        if (!idx)
            return fail(s, TW_ENOMEM, "out of memory");
        for (uint32_t i = 0; i < n; i++) {
            idx[i] = s->q[s->q_head + i];
            memcpy(s->scratch + (size_t)i * ID_LEN, s->pool[idx[i]], ID_LEN);
        }
        tw_buf_init(&b);
        if ((rc = tw_wire_want(&b, s->next_wseq + 1, s->scratch, n)) || (rc = send_buf(s, &b))) {
            tw_buf_free(&b);
            free(idx);
            return fail(s, rc, "cannot queue a WANT: %s", tw_strerror(rc));
        }
        s->q_head += n;
        s->q_len -= n;
        if (s->q_len == 0)
            s->q_head = 0;
        *w = (want){ .used = true, .wseq = ++s->next_wseq, .idx = idx, .n = n };
        s->nout++;
    }
    return 0;
}

/* A WANT answered in full: its ids leave the set at once if every INGEST
 * so far is decided, else once the ones up to the last are (landing). */
static void want_release(tw_sync *s, want *w)
{
    s->prog.unsent += w->n - w->received;
    if (s->ing_low < s->ing_next) {
        if (s->land_head > 0 && s->land_len == s->land_cap) {
            memmove(s->land, s->land + s->land_head, (s->land_len - s->land_head) * sizeof *s->land);
            s->land_len -= s->land_head;
            s->land_head = 0;
        }
        /* Without memory for it the ids are let go now: at worst an entry
         * is asked for twice. */
        landing *l = tw_vec_room(s->land, &s->land_cap, s->land_len, sizeof *l, ACT_INITIAL);
        if (l) {
            s->land = l;
            s->land[s->land_len++] = (landing){ .seq = s->ing_next, .idx = w->idx, .n = w->n };
            s->land_ids += w->n;
            for (uint32_t i = 0; i < w->n; i++)
                s->landed[w->idx[i]] = 1;
            w->idx = NULL;
        }
    }
    if (w->idx)
        for (uint32_t i = 0; i < w->n; i++)
            set_remove(s, w->idx[i]);
    free(w->idx);
    memset(w, 0, sizeof *w);
    s->nout--;
}

/* Lets go of the ids whose INGEST actions are all decided. */
static void land_release(tw_sync *s)
{
    while (s->land_head < s->land_len && s->land[s->land_head].seq <= s->ing_low) {
        landing *l = &s->land[s->land_head++];
        for (uint32_t i = 0; i < l->n; i++)
            set_remove(s, l->idx[i]);
        s->land_ids -= l->n;
        free(l->idx);
        l->idx = NULL;
    }
    if (s->land_head == s->land_len)
        s->land_head = s->land_len = 0;
}

/* ---- life cycle ---- */

int tw_sync_new(tw_sync **out, const tw_sync_cfg *cfg)
{
    *out = NULL;
    if (!cfg || !cfg->store || (!cfg->have && !cfg->have_many))
        return TW_EINVAL;
    size_t limit = cfg->frame_limit ? cfg->frame_limit : TW_NEG_FRAME_LIMIT_DEFAULT;
    if (limit < TW_NEG_FRAME_LIMIT_MIN || limit > TW_SYNC_FRAME_LIMIT_MAX)
        return TW_EINVAL;
    if (cfg->neg_parts)
        limit = TW_NEG_MSG_MAX;
    if (sodium_init() < 0)
        return TW_EINTERNAL;
    tw_sync *s = calloc(1, sizeof *s);
    if (!s)
        return TW_ENOMEM;
    s->cfg = *cfg;
    s->frame_limit = limit;
    tw_buf_init(&s->part);
    tw_buf_init(&s->left);
    tw_buf_init(&s->next);
    *out = s;
    return 0;
}

void tw_sync_free(tw_sync *s)
{
    if (!s)
        return;
    tw_neg_free(s->init);
    tw_neg_free(s->resp);
    for (size_t i = 0; i < TW_WANT_WINDOW; i++)
        free(s->out[i].idx);
    for (size_t i = s->act_head; i < s->act_len; i++)
        act_free(&s->acts[i]);
    act_free(&s->cur);
    free(s->acts);
    free(s->pool);
    free(s->hash);
    free(s->cand_hash);                 /* the one allocation of cand, cand_hash, cand_have */
    free(s->free_idx);
    free(s->tab);
    free(s->q);
    tw_buf_free(&s->part);
    for (size_t i = s->land_head; i < s->land_len; i++)
        free(s->land[i].idx);
    free(s->land);
    free(s->landed);
    free(s->ing_done);
    tw_buf_free(&s->left);
    tw_buf_free(&s->next);
    free(s);
}

/* Queues a negentropy message: one NEG_REQ/NEG_RESP when it fits, else
 * NEG_PART pieces of PIECE_MAX bytes and the NEG_REQ/NEG_RESP with the
 * rest, back to back (only with neg_parts: the sessions' frame limit keeps
 * messages within one transport message otherwise). */
static int send_neg(tw_sync *s, tw_wire_type type, uint64_t sid, const uint8_t *msg, size_t len)
{
    tw_buf b;
    int rc = 0;
    tw_buf_init(&b);
    while (!rc && len > TW_SYNC_FRAME_LIMIT_MAX) {
        if (!s->cfg.neg_parts) {
            rc = TW_ETOOBIG;
            break;
        }
        if (!(rc = tw_wire_neg_part(&b, type, sid, msg, PIECE_MAX)) && !(rc = send_buf(s, &b))) {
            msg += PIECE_MAX;
            len -= PIECE_MAX;
            s->prog.neg_parts_sent++;
        }
    }
    if (rc || (rc = tw_wire_neg(&b, type, sid, msg, len)) || (rc = send_buf(s, &b))) {
        tw_buf_free(&b);
        return fail(s, rc, "cannot queue a %s: %s", tw_wire_type_name(type), tw_strerror(rc));
    }
    return 0;
}

int tw_sync_start(tw_sync *s)
{
    const uint8_t *msg;
    size_t len;
    int rc;
    if (s->err)
        return s->err;
    /* Ids the last one found and could not queue yet go first. */
    if (s->init || s->left_off < s->left.len)
        return 0;
    if ((rc = tw_neg_new(&s->init, s->cfg.store, s->frame_limit)))
        return fail(s, rc, "cannot open a reconciliation: %s", tw_strerror(rc));
    if ((rc = tw_neg_initiate(s->init, &msg, &len)))
        return fail(s, rc, "cannot begin a reconciliation: %s", tw_strerror(rc));
    s->init_sid = ++s->next_sid;
    s->sess_have = s->sess_need = 0;
    s->sess_rounds = 1;
    if ((rc = send_neg(s, TW_WIRE_NEG_REQ, s->init_sid, msg, len)))
        return rc;
    if (len > TW_SYNC_FRAME_LIMIT_MAX)
        tw_neg_trim(s->init);
    s->prog.rounds++;
    return 0;
}

/* ---- handling ---- */

/* Offers the ids the initiator session found the peer lacks and queues the
 * ones it found missing here. */
static int harvest(tw_sync *s)
{
    size_t nh, nn;
    const uint8_t *have = tw_neg_have(s->init, &nh);
    const uint8_t *need = tw_neg_need(s->init, &nn);
    int rc;
    for (size_t off = 0; off < nh; off += TW_IDS_PER_MSG) {
        size_t n = nh - off < TW_IDS_PER_MSG ? nh - off : TW_IDS_PER_MSG;
        tw_buf b;
        tw_buf_init(&b);
        if ((rc = tw_wire_offer(&b, have + off * ID_LEN, n)) || (rc = send_buf(s, &b))) {
            tw_buf_free(&b);
            return fail(s, rc, "cannot queue an OFFER: %s", tw_strerror(rc));
        }
        s->prog.offered_sent += n;
    }
    /* A full queue: the rest wait for room (refill), and the session
     * waits with them (on_neg_resp), instead of being dropped and found
     * again by a whole new reconciliation. */
    size_t used = 0;
    if (s->left_off >= s->left.len && (rc = enqueue_ids(s, need, nn, false, &used)))
        return rc;
    if (used < nn && (rc = tw_buf_put(&s->left, need + used * ID_LEN, (nn - used) * ID_LEN)))
        return fail(s, rc, "out of memory");
    s->sess_have += nh;
    s->sess_need += nn;
    tw_neg_clear_ids(s->init);
    return 0;
}

static int finish_session(tw_sync *s, bool complete)
{
    act a = { .type = TW_SA_RECONCILED, .have_count = s->sess_have,
              .need_count = s->sess_need, .complete = complete, .rounds = s->sess_rounds };
    tw_neg_free(s->init);
    s->init = NULL;
    s->prog.reconciliations++;
    s->prog.last_rounds = s->sess_rounds;
    if (act_push(s, &a))
        return fail(s, TW_ENOMEM, "out of memory");
    return 0;
}

/* Queues the ids our reconciliation found and could not queue for lack of
 * room, as room comes; once they all are and the queue is at most
 * TW_SYNC_ROUND_QUEUE_MAX ids long, sends the message the session holds. */
static int refill(tw_sync *s)
{
    int rc;
    if (s->left_off < s->left.len) {
        size_t used;
        if ((rc = enqueue_ids(s, s->left.p + s->left_off, (s->left.len - s->left_off) / ID_LEN, false, &used)))
            return rc;
        s->left_off += used * ID_LEN;
    }
    if (s->left_off < s->left.len)
        return 0;
    if (s->left.p) {
        tw_buf_free(&s->left);
        tw_buf_init(&s->left);
        s->left_off = 0;
    }
    if (!s->next_held || s->tab_n > TW_SYNC_ROUND_QUEUE_MAX || !s->init)
        return 0;
    s->next_held = false;
    tw_buf m = s->next;
    tw_buf_init(&s->next);
    rc = send_neg(s, TW_WIRE_NEG_REQ, s->init_sid, m.p, m.len);
    tw_buf_free(&m);
    if (rc)
        return rc;
    s->prog.rounds++;
    s->sess_rounds++;
    return 0;
}

/* The whole negentropy message of a NEG_REQ/NEG_RESP m: its own bytes, or
 * the pieces before it with its bytes appended. */
static int whole_message(tw_sync *s, const tw_wire_msg *m, const uint8_t **msg, size_t *len)
{
    int rc;
    if (!s->part_kind) {
        *msg = m->data;
        *len = m->data_len;
        return 0;
    }
    if (s->part_kind != m->type || s->part_sid != m->sid)
        return fail(s, TW_EPROTO, "%s for sid %llu while a %s of sid %llu is in pieces",
                    tw_wire_type_name(m->type), (unsigned long long)m->sid,
                    tw_wire_type_name(s->part_kind), (unsigned long long)s->part_sid);
    if (m->data_len > TW_NEG_MSG_MAX - s->part.len)
        return fail(s, TW_ETOOBIG, "%s of more than %u bytes (TW_NEG_MSG_MAX) in pieces",
                    tw_wire_type_name(m->type), TW_NEG_MSG_MAX);
    if ((rc = tw_buf_put(&s->part, m->data, m->data_len)))
        return fail(s, rc, "out of memory");
    *msg = s->part.p;
    *len = s->part.len;
    return 0;
}

/* Forgets a reassembled message once handled, memory included. */
static void part_done(tw_sync *s)
{
    if (!s->part_kind)
        return;
    tw_buf_free(&s->part);
    tw_buf_init(&s->part);
    s->part_kind = 0;
}

static int on_neg_resp(tw_sync *s, const tw_wire_msg *m)
{
    const uint8_t *out, *in;
    size_t len, in_len;
    int rc;
    if (!s->init || m->sid != s->init_sid)
        return fail(s, TW_EPROTO, "NEG_RESP for sid %llu, which is not our session",
                    (unsigned long long)m->sid);
    if ((rc = whole_message(s, m, &in, &in_len)))
        return rc;
    rc = tw_neg_reconcile(s->init, in, in_len, &out, &len);
    part_done(s);
    if (rc == TW_ETOOBIG) {
        /* So many differences that the session cannot record more: act on
         * those found so far, and let the next session go on from there. */
        if ((rc = harvest(s)) || (rc = pump(s)))
            return rc;
        return finish_session(s, false);
    }
    if (rc)
        return fail(s, rc, "bad NEG_RESP: %s", tw_strerror(rc));
    if ((rc = harvest(s)))
        return rc;
    if (len == 0) {
        if ((rc = finish_session(s, true)))
            return rc;
    } else if (s->left_off < s->left.len || s->tab_n > TW_SYNC_ROUND_QUEUE_MAX) {
        /* The next round waits until what this one found is queued and
         * the queue has room for what the next finds (refill). */
        tw_buf_reset(&s->next);
        if ((rc = tw_buf_put(&s->next, out, len)))
            return fail(s, rc, "out of memory");
        s->next_held = true;
        s->prog.rounds_held++;
        if (len > TW_SYNC_FRAME_LIMIT_MAX)
            tw_neg_trim(s->init);
    } else {
        if ((rc = send_neg(s, TW_WIRE_NEG_REQ, s->init_sid, out, len)))
            return rc;
        if (len > TW_SYNC_FRAME_LIMIT_MAX)
            tw_neg_trim(s->init);
        s->prog.rounds++;
        s->sess_rounds++;
    }
    return pump(s);
}

static int on_neg_req(tw_sync *s, const tw_wire_msg *m)
{
    const uint8_t *out, *in;
    size_t len, in_len;
    int rc;
    if (s->resp && m->sid < s->resp_sid)
        return fail(s, TW_EPROTO, "NEG_REQ for sid %llu, older than the current %llu",
                    (unsigned long long)m->sid, (unsigned long long)s->resp_sid);
    if ((rc = whole_message(s, m, &in, &in_len)))
        return rc;
    if (!s->resp || m->sid > s->resp_sid) {
        tw_neg_free(s->resp);
        s->resp = NULL;
        if ((rc = tw_neg_new(&s->resp, s->cfg.store, s->frame_limit)))
            return fail(s, rc, "cannot open a reconciliation: %s", tw_strerror(rc));
        s->resp_sid = m->sid;
        s->offered_in_sess = 0;
    }
    rc = tw_neg_reconcile(s->resp, in, in_len, &out, &len);
    part_done(s);
    if (rc)
        return fail(s, rc, "bad NEG_REQ: %s", tw_strerror(rc));
    if (len == 0)
        return 0;
    if ((rc = send_neg(s, TW_WIRE_NEG_RESP, m->sid, out, len)))
        return rc;
    if (len > TW_SYNC_FRAME_LIMIT_MAX)
        tw_neg_trim(s->resp);
    return 0;
}

/* A piece of a negentropy message.  The checks a NEG_REQ/NEG_RESP gets are
 * made at the first piece already, so that a peer cannot make this side
 * hold TW_NEG_MSG_MAX bytes for a session that does not exist. */
static int on_neg_part(tw_sync *s, const tw_wire_msg *m)
{
    int rc;
    if (!s->cfg.neg_parts)
        return fail(s, TW_EPROTO, "NEG_PART from a peer that did not offer the negpart feature");
    if (s->part_kind && (s->part_kind != m->kind || s->part_sid != m->sid))
        return fail(s, TW_EPROTO, "NEG_PART of a %s for sid %llu while a %s of sid %llu is in pieces",
                    tw_wire_type_name(m->kind), (unsigned long long)m->sid,
                    tw_wire_type_name(s->part_kind), (unsigned long long)s->part_sid);
    if (m->kind == TW_WIRE_NEG_RESP && (!s->init || m->sid != s->init_sid))
        return fail(s, TW_EPROTO, "NEG_PART of a NEG_RESP for sid %llu, which is not our session",
                    (unsigned long long)m->sid);
    if (m->kind == TW_WIRE_NEG_REQ && s->resp && m->sid < s->resp_sid)
        return fail(s, TW_EPROTO, "NEG_PART of a NEG_REQ for sid %llu, older than the current %llu",
                    (unsigned long long)m->sid, (unsigned long long)s->resp_sid);
    /* The final NEG_REQ/NEG_RESP brings at least one byte more. */
    if (m->data_len >= TW_NEG_MSG_MAX - s->part.len)
        return fail(s, TW_ETOOBIG, "%s of more than %u bytes (TW_NEG_MSG_MAX) in pieces",
                    tw_wire_type_name(m->kind), TW_NEG_MSG_MAX);
    if ((rc = tw_buf_put(&s->part, m->data, m->data_len)))
        return fail(s, rc, "out of memory");
    s->part_kind = m->kind;
    s->part_sid = m->sid;
    s->prog.neg_parts_recv++;
    return 0;
}

static int on_offer(tw_sync *s, const tw_wire_msg *m)
{
    tw_wire_list l = m->list;
    const uint8_t *id;
    size_t len;
    int rc;
    /* An honest peer offers what one of its reconciliations found this side
     * lacks, which is at most TW_NEG_IDS_MAX ids, before it starts another
     * (a NEG_REQ with a new sid); more is a flood. */
    s->offered_in_sess += m->list.count;
    if (s->offered_in_sess > TW_SYNC_OFFER_MAX)
        return fail(s, TW_EPROTO, "offered more than %u ids in one reconciliation", TW_SYNC_OFFER_MAX);
    /* At most TW_IDS_PER_MSG ids (the decoder's bound), side by side. */
    size_t k = 0;
    while (k < TW_IDS_PER_MSG && tw_wire_list_next(&l, &id, &len))
        memcpy(s->scratch + ID_LEN * k++, id, ID_LEN);
    if ((rc = enqueue_ids(s, s->scratch, k, true, NULL)))
        return rc;
    s->prog.offered_recv += m->list.count;
    return pump(s);
}

static int on_want(tw_sync *s, const tw_wire_msg *m)
{
    tw_wire_list l = m->list;
    const uint8_t *id;
    size_t len, k = 0;
    serve *slot = NULL;
    for (size_t i = 0; i < TW_WANT_WINDOW; i++) {
        if (s->in[i].used && s->in[i].wseq == m->wseq)
            return fail(s, TW_EPROTO, "WANT %llu repeated while it is being answered",
                        (unsigned long long)m->wseq);
        if (!s->in[i].used && !slot)
            slot = &s->in[i];
    }
    if (!slot)
        return fail(s, TW_EPROTO, "more than %u WANTs outstanding", TW_WANT_WINDOW);
    act a = { .type = TW_SA_SERVE, .wseq = m->wseq, .n = m->list.count };
    a.data = malloc((size_t)m->list.count * ID_LEN);
    if (!a.data)
        return fail(s, TW_ENOMEM, "out of memory");
    while (tw_wire_list_next(&l, &id, &len))
        memcpy(a.data + ID_LEN * k++, id, ID_LEN);
    a.len = k * ID_LEN;
    if (act_push(s, &a)) {
        act_free(&a);
        return fail(s, TW_ENOMEM, "out of memory");
    }
    *slot = (serve){ .used = true, .wseq = m->wseq };
    s->nin++;
    return 0;
}

/* Queues an INGEST of the envelopes of an ENTRIES message, copied back to
 * back into one buffer (their bin heads left out): the daemon hands that
 * to verification as it is. */
static int ingest(tw_sync *s, const tw_wire_list *list, bool pushed)
{
    act a = { .type = TW_SA_INGEST, .pushed = pushed, .n = list->count, .seq = s->ing_next + 1 };
    size_t bytes = (size_t)(list->end - list->p), k = 0, len, off = 0;
    const uint8_t *p;
    a.data = malloc(bytes ? bytes : 1);
    a.envs = malloc((list->count ? list->count : 1) * sizeof *a.envs);
    a.lens = malloc((list->count ? list->count : 1) * sizeof *a.lens);
    if (!a.data || !a.envs || !a.lens) {
        act_free(&a);
        return fail(s, TW_ENOMEM, "out of memory");
    }
    tw_wire_list l = *list;
    while (k < list->count && tw_wire_list_next(&l, &p, &len)) {
        memcpy(a.data + off, p, len);
        a.envs[k] = a.data + off;
        a.lens[k++] = len;
        off += len;
    }
    a.len = off;
    if (act_push(s, &a)) {
        act_free(&a);
        return fail(s, TW_ENOMEM, "out of memory");
    }
    s->ing_next = a.seq;
    return 0;
}

static int on_entries(tw_sync *s, const tw_wire_msg *m)
{
    want *w = NULL;
    int rc;
    if (m->wseq == 0) {
        s->prog.pushes_recv += m->list.count;
        return ingest(s, &m->list, true);
    }
    for (size_t i = 0; i < TW_WANT_WINDOW && !w; i++)
        if (s->out[i].used && s->out[i].wseq == m->wseq)
            w = &s->out[i];
    if (!w)
        return fail(s, TW_EPROTO, "ENTRIES for wseq %llu, which is not outstanding",
                    (unsigned long long)m->wseq);
    if (m->list.count > w->n - w->received)
        return fail(s, TW_EPROTO, "ENTRIES for wseq %llu bring more entries than asked",
                    (unsigned long long)m->wseq);
    w->received += m->list.count;
    s->prog.received += m->list.count;
    if (m->list.count && (rc = ingest(s, &m->list, false)))
        return rc;
    if (m->final) {
        want_release(s, w);
        if (s->want_ids < TW_IDS_PER_MSG)
            s->want_ids = s->want_ids * 2 > TW_IDS_PER_MSG ? TW_IDS_PER_MSG : s->want_ids * 2;
        if ((rc = refill(s)))
            return rc;
        return pump(s);
    }
    return 0;
}

int tw_sync_handle(tw_sync *s, const uint8_t *msg, size_t len)
{
    tw_wire_msg m;
    const char *why;
    int rc;
    if (s->err)
        return s->err;
    if ((rc = tw_wire_decode(msg, len, &m, &why)))
        return fail(s, rc, "malformed message: %s", why);
    switch (m.type) {
    case TW_WIRE_NEG_REQ:
        return on_neg_req(s, &m);
    case TW_WIRE_NEG_RESP:
        return on_neg_resp(s, &m);
    case TW_WIRE_OFFER:
        return on_offer(s, &m);
    case TW_WIRE_WANT:
        return on_want(s, &m);
    case TW_WIRE_ENTRIES:
        return on_entries(s, &m);
    case TW_WIRE_NEG_PART:
        return on_neg_part(s, &m);
    default:
        return fail(s, TW_EPROTO, "%s reached the sync engine (the session handles it)",
                    tw_wire_type_name(m.type));
    }
}

/* ---- daemon side ---- */

int tw_sync_answer(tw_sync *s, uint64_t wseq, bool final, const uint8_t *const *envs,
                   const size_t *lens, size_t n)
{
    serve *slot = NULL;
    tw_buf b;
    int rc;
    if (s->err)
        return s->err;
    for (size_t i = 0; i < TW_WANT_WINDOW && !slot; i++)
        if (s->in[i].used && s->in[i].wseq == wseq)
            slot = &s->in[i];
    if (!slot)
        return TW_ENOTFOUND;
    tw_buf_init(&b);
    /* A refused batch is the daemon's to repack; the engine stays sound. */
    if ((rc = tw_wire_entries(&b, wseq, final, envs, lens, n))) {
        tw_buf_free(&b);
        return rc;
    }
    if ((rc = send_buf(s, &b)))
        return fail(s, rc, "out of memory");
    s->prog.served += n;
    if (final) {
        slot->used = false;
        s->nin--;
    }
    return 0;
}

int tw_sync_push(tw_sync *s, const uint8_t *env, size_t len)
{
    tw_buf b;
    int rc;
    if (s->err)
        return s->err;
    tw_buf_init(&b);
    if ((rc = tw_wire_entries(&b, 0, true, &env, &len, 1))) {
        tw_buf_free(&b);
        return rc;
    }
    if ((rc = send_buf(s, &b)))
        return fail(s, rc, "out of memory");
    s->prog.pushes_sent++;
    return 0;
}

bool tw_sync_next_action(tw_sync *s, tw_sync_action *a)
{
    act_free(&s->cur);
    memset(a, 0, sizeof *a);
    if (s->act_head == s->act_len)
        return false;
    s->cur = s->acts[s->act_head++];
    if (s->act_head == s->act_len)
        s->act_head = s->act_len = 0;
    const act *c = &s->cur;
    a->type = c->type;
    switch (c->type) {
    case TW_SA_SEND:
        a->msg = c->data;
        a->len = c->len;
        break;
    case TW_SA_SERVE:
        a->wseq = c->wseq;
        a->ids = c->data;
        a->nids = c->n;
        break;
    case TW_SA_INGEST:
        a->envs = c->envs;
        a->env_lens = c->lens;
        a->nenvs = c->n;
        a->pushed = c->pushed;
        a->seq = c->seq;
        break;
    case TW_SA_RECONCILED:
        a->have_count = c->have_count;
        a->need_count = c->need_count;
        a->complete = c->complete;
        a->rounds = c->rounds;
        break;
    }
    return true;
}

const char *tw_sync_error_text(const tw_sync *s)
{
    return s->err ? s->why : "";
}

void tw_sync_get_progress(const tw_sync *s, tw_sync_progress *p)
{
    *p = s->prog;
    p->reconciling = s->init != NULL;
    p->held = s->next_held;
    p->to_receive = s->tab_n - s->land_ids + (s->left.len - s->left_off) / ID_LEN;
    p->landing = s->land_ids;
    p->wants_outstanding = s->nout;
    p->serving = s->nin;
    p->reassembling = s->part_kind != 0;
}

bool tw_sync_idle(const tw_sync *s)
{
    return !s->init && s->tab_n == 0 && s->nout == 0 && s->nin == 0 &&
           s->act_head == s->act_len && s->left_off >= s->left.len;
}

int tw_sync_pending(const tw_sync *s, uint8_t **ids, size_t *n)
{
    size_t left = (s->left.len - s->left_off) / ID_LEN;
    size_t total = s->q_len + left;
    for (size_t i = 0; i < TW_WANT_WINDOW; i++)
        if (s->out[i].used) total += s->out[i].n;
    *ids = NULL;
    *n = 0;
    if (total == 0) return 0;
    uint8_t *p = malloc(total * ID_LEN);
    if (!p) return TW_ENOMEM;
    size_t k = 0;
    /* Ids asked for first (their answers were cut short), then the queue. */
    for (size_t i = 0; i < TW_WANT_WINDOW; i++)
        if (s->out[i].used)
            for (uint32_t j = 0; j < s->out[i].n; j++)
                memcpy(p + ID_LEN * k++, s->pool[s->out[i].idx[j]], ID_LEN);
    for (uint32_t j = 0; j < s->q_len; j++)
        memcpy(p + ID_LEN * k++, s->pool[s->q[s->q_head + j]], ID_LEN);
    if (left)
        memcpy(p + ID_LEN * k, s->left.p + s->left_off, left * ID_LEN);
    k += left;
    *ids = p;
    *n = k;
    return 0;
}

bool tw_sync_expects(const tw_sync *s, const uint8_t id[TW_WIRE_ID_LEN])
{
    return !s->err && set_find(s, id);
}

int tw_sync_want_ids(tw_sync *s, const uint8_t *ids, size_t n)
{
    int rc;
    if (s->err)
        return s->err;
    if ((rc = enqueue_ids(s, ids, n, true, NULL)))
        return rc;
    return pump(s);
}

bool tw_sync_landing(const tw_sync *s, const uint8_t id[TW_WIRE_ID_LEN])
{
    uint32_t e = s->err ? 0 : set_slot(s, id);
    return e && s->landed[e - 1];
}

int tw_sync_ingested(tw_sync *s, uint64_t seq)
{
    int rc;
    if (seq == 0 || seq > s->ing_next)
        return TW_EINVAL;
    if (seq > s->ing_low) {
        if (seq == s->ing_low + 1) {
            s->ing_low = seq;
        } else {
            uint64_t *d = tw_vec_room(s->ing_done, &s->ing_done_cap, s->ing_done_n, sizeof *d, ACT_INITIAL);
            if (!d)
                return fail(s, TW_ENOMEM, "out of memory");
            s->ing_done = d;
            s->ing_done[s->ing_done_n++] = seq;
        }
        /* Those decided out of order follow the low mark (few: the
         * daemon's jobs finish nearly in order). */
        for (size_t i = 0; i < s->ing_done_n;) {
            if (s->ing_done[i] == s->ing_low + 1) {
                s->ing_low++;
                s->ing_done[i] = s->ing_done[--s->ing_done_n];
                i = 0;
            } else {
                i++;
            }
        }
        land_release(s);
    }
    if (s->err)
        return s->err;
    if ((rc = refill(s)))
        return rc;
    return pump(s);
}
