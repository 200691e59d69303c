/*
 * Control operations (daemon/ops.h): registry queries and local writes.
 *
 * Queries scan the store and encode records straight into the response, so
 * no decoded copy of the registry is kept in memory.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include <zstd.h>

#include "twin/err.h"
#include "twin/keyfile.h"
#include "twin/ident.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "twin/schema.h"
#include "twin/search.h"
#include "log.h"
#include "admit.h"
#include "bundle.h"
#include "http.h"
#include "net.h"
#include "ops.h"
#include "report.h"
#include "wordidx.h"

/* A list page ends early at TW_LIST_PAGE_BYTES, whatever the limit asked
 * for: records are up to ~17 KiB each, so 10000 of them would not fit in
 * TW_CTL_MSG_MAX. */

#define FAIL(code, ...) do { snprintf(e->msg, sizeof e->msg, __VA_ARGS__); return (code); } while (0)

/* ------------------------------------------------------------ arguments */

int tw_op_arg_str(const tw_val *args, const char *name, bool required, const char **s,
                  size_t *len, tw_op_err *e)
{
    const tw_val *v = tw_v_get(args, name);
    *s = NULL;
    *len = 0;
    if (!v || v->type == TW_NIL) {
        if (required) FAIL(TW_EINVAL, "missing argument \"%s\"", name);
        return 0;
    }
    if (v->type != TW_STR) FAIL(TW_EINVAL, "argument \"%s\" must be a string", name);
    *s = v->v.s;
    *len = v->len;
    return 0;
}

static int arg_uint(const tw_val *args, const char *name, uint64_t def, uint64_t max,
                    uint64_t *out, tw_op_err *e)
{
    const tw_val *v = tw_v_get(args, name);
    *out = def;
    if (!v || v->type == TW_NIL) return 0;
    if (v->type != TW_UINT || v->v.u > max)
        FAIL(TW_EINVAL, "argument \"%s\" must be a number from 0 to %llu", name, (unsigned long long)max);
    *out = v->v.u;
    return 0;
}

static bool arg_bool(const tw_val *args, const char *name)
{
    const tw_val *v = tw_v_get(args, name);
    return v && v->type == TW_BOOL && v->v.b;
}

/* -------------------------------------------------------------- records */

static int put_kv_str(tw_buf *b, const char *k, const char *s, size_t n)
{
    int rc = tw_mpw_cstr(b, k);
    return rc ? rc : tw_mpw_str(b, s, n);
}

/* The key text of the last author seen: a page of records comes from few
 * authors, and base32 of every record's key was a tenth of a list's time. */
typedef struct author_text {
    bool set;
    uint8_t key[TW_KEY_LEN];
    char kt[TW_KEYTEXT_LEN + 1], fp[TW_FPR_CHARS + 1];
} author_text;

/* What the report says of a link, place or group record (see "marks" below). */
typedef struct rec_marks {
    bool has_confirmed, confirmed;      /* a link statement of the report */
    const char *superseded_by;          /* a listing superseded by its committee's record */
} rec_marks;

typedef struct ref_names ref_names;
static int put_names(tw_buf *b, const ref_names *nm);
static uint32_t names_count(const ref_names *nm);

/* {"kind","slot","author","fingerprint","ts","id","body","mine"[,"envelope","verified"]
 *  [,"confirmed"][,"superseded_by"][,"group_name","place_name","place_name_ar",
 *  "superseded_by_name"]} */
static int encode_record(tw_node *n, tw_buf *b, const tw_entry *en, bool full, author_text *at,
                         const rec_marks *m, const ref_names *nm, uint32_t extra)
{
    char id[2 * TW_ID_LEN + 1];
    const char *kt = at->kt, *fp = at->fp;
    int rc;
    if (!at->set || memcmp(at->key, en->author, TW_KEY_LEN) != 0) {
        tw_keytext_encode(at->kt, TW_KEYTEXT_PREFIX, en->author);
        memcpy(at->fp, at->kt + 4, TW_FPR_CHARS);
        at->fp[TW_FPR_CHARS] = 0;
        memcpy(at->key, en->author, TW_KEY_LEN);
        at->set = true;
    }
    tw_hex_encode(id, en->id, TW_ID_LEN);
    /* extra: pairs the caller appends after these (search's rank, score, match). */
    /* A record signed by a device or a successor key of an association
     * says so: "association" (its identity key) and "signed_by" (what the
     * key is to it).  "mine": this node's association wrote it. */
    uint8_t who[TW_KEY_LEN], me[TW_KEY_LEN];
    tw_admit_identity(n, en->author, who);
    tw_admit_identity(n, n->pk, me);
    bool other_key = memcmp(who, en->author, TW_KEY_LEN) != 0;
    char assoc[TW_KEYTEXT_LEN + 1], signer[TW_STR_MAX + 96];
    if (other_key) {
        tw_keytext_encode(assoc, TW_KEYTEXT_PREFIX, who);
        tw_admit_describe(n, en->author, signer, sizeof signer);
    }
    if ((rc = tw_mpw_map(b, (full ? 10u : 8u) + m->has_confirmed + (m->superseded_by != NULL) + names_count(nm) + extra +
                                2u * other_key)) ||
        (rc = put_kv_str(b, "kind", en->kind, en->kind_len)) ||
        (rc = put_kv_str(b, "slot", en->slot, en->slot_len)) ||
        (rc = put_kv_str(b, "author", kt, strlen(kt))) ||
        (rc = put_kv_str(b, "fingerprint", fp, strlen(fp))) ||
        (rc = tw_mpw_cstr(b, "ts")) || (rc = tw_mpw_uint(b, en->ts)) ||
        (rc = put_kv_str(b, "id", id, strlen(id))) ||
        (rc = tw_mpw_cstr(b, "body")) || (rc = tw_mp_encode(b, &en->body)) ||
        (rc = tw_mpw_cstr(b, "mine")) || (rc = tw_mpw_bool(b, memcmp(who, me, TW_KEY_LEN) == 0)))
        return rc;
    if (other_key && ((rc = put_kv_str(b, "association", assoc, strlen(assoc))) ||
                      (rc = put_kv_str(b, "signed_by", signer, strlen(signer)))))
        return rc;
    if (full) {
        if ((rc = tw_mpw_cstr(b, "envelope")) || (rc = tw_mpw_bin(b, en->env, en->env_len)) ||
            (rc = tw_mpw_cstr(b, "verified")) || (rc = tw_mpw_bool(b, tw_entry_verify(en) == 0)))
            return rc;
    }
    if (m->has_confirmed && ((rc = tw_mpw_cstr(b, "confirmed")) || (rc = tw_mpw_bool(b, m->confirmed))))
        return rc;
    if (m->superseded_by && (rc = put_kv_str(b, "superseded_by", m->superseded_by, strlen(m->superseded_by))))
        return rc;
    return put_names(b, nm);
}

/* Renders a scalar field as text for filters: strings as they are, bools
 * as true/false, numbers in decimal. */
static size_t scalar_text(const tw_val *v, char *buf, size_t cap, const char **s)
{
    switch (v->type) {
    case TW_STR: *s = v->v.s; return v->len;
    case TW_BOOL: *s = v->v.b ? "true" : "false"; return strlen(*s);
    case TW_UINT: *s = buf; return (size_t)snprintf(buf, cap, "%llu", (unsigned long long)v->v.u);
    case TW_INT: *s = buf; return (size_t)snprintf(buf, cap, "%lld", (long long)v->v.i);
    default: return (size_t)-1;
    }
}

static bool text_eq_folded(const char *a, size_t an, const char *b, size_t bn)
{
    char *fa = malloc(4 * an + 1), *fb = malloc(4 * bn + 1);
    bool eq = false;
    if (fa && fb) {
        tw_text_fold(fa, a, an);
        tw_text_fold(fb, b, bn);
        eq = strcmp(fa, fb) == 0;
    }
    free(fa);
    free(fb);
    return eq;
}

static bool field_matches(const tw_val *v, const char *want, size_t wn)
{
    char buf[32];
    const char *s;
    if (!v) return false;
    if (v->type == TW_ARR) {
        for (uint32_t i = 0; i < v->len; i++)
            if (field_matches(&v->v.arr[i], want, wn)) return true;
        return false;
    }
    size_t n = scalar_text(v, buf, sizeof buf, &s);
    return n != (size_t)-1 && text_eq_folded(s, n, want, wn);
}

/* ----------------------------------------------------------------- list */

typedef struct list_ctx {
    tw_node *n;
    tw_buf recs;
    tw_buf *dst;                             /* records go here: recs, or list's output */
    size_t start;                            /* dst->len before the first record */
    size_t budget;                           /* list: bytes of records per page, 0: no cap */
    author_text at;
    uint32_t count, limit;
    const tw_val *where;
    bool author_set, tombstones, full;
    uint8_t author[TW_KEY_LEN];
    const char *slot; size_t slot_len;       /* show: only this slot */
    tw_arena arena;                          /* reused for every record */
    uint8_t last[TW_ENTRYKEY_MAX];
    size_t last_len;
    bool more;
    bool all;                                /* superseded place and group listings too */
    tw_report *marks;                        /* built at the first link, place or group record */
    bool marks_full;                         /* from links too, not places and groups alone */
    tw_arena name_arena;                     /* names: the records referred to, one at a time */
    tw_buf name_env;
    int confirmed;                           /* list: 0 any, 1 unconfirmed links only, 2 confirmed only */
    bool pair_set;                           /* list: only statements of the link pair_id states */
    int pair_state;                          /* 0 not looked up yet, 1 pair_unit found, -1 none */
    uint8_t pair_id[TW_ID_LEN];
    uint32_t pair_unit;
    int err;
} list_ctx;

/* ---------------------------------------------------------------- marks */

/*
 * What list, show and search add to records -- "confirmed" to a link,
 * "superseded_by" to a hub's listing of a place whose committee has its own
 * record, or of a group whose own node has its own -- comes from the report
 * (daemon/report.c), which needs every group, place and link record (places
 * and groups alone for "superseded_by").  It is
 * computed only when a record of those kinds is about to be encoded, then
 * compacted and kept until the registry changes: any write to the store
 * (its generation) or any change of admission.  So the pages of a listing,
 * and every query in between writes, share one report; the registry of a
 * network changes far less often than it is read.  After TW_TRIM_IDLE_MS
 * without requests the kept reports are freed (net.c's idle trim), so that
 * a node at rest holds none.
 */
static int marks_build(tw_node *n, bool full, tw_report **out);

static struct {
    const tw_node *n;
    tw_report *r;
    bool full;                  /* from links too, not places and groups alone */
    uint64_t store_gen, admit_gen;
} marks_cache;

/* The report of stats, gaps and report (see "stats"), kept the same way. */
static struct {
    const tw_node *n;
    tw_report *r;
    uint64_t store_gen, admit_gen;
} report_cache;

/*
 * The slots written since the kept report was made, so that the next query
 * updates it (tw_report_reopen(), daemon/report.h) instead of making it
 * again from every record: at a million records the update costs what
 * finishing the report does, a fraction of the scan.  The journal is
 * trusted only if it saw every commit: each stored entry reports the
 * store's generation after its commit, and the report is updated only when
 * those generations run without a gap from the report's to the store's
 * (a commit the journal did not see -- a network change, a batch of only
 * known entries -- means a rebuild).  Identity and vouch records change
 * which keys are one association, and past TW_REPORT_UPDATE_MAX slots an
 * update is no cheaper than a scan: both mean a rebuild too.
 */
typedef struct jslot {
    char kind[5];
    uint8_t kind_len, slot_len;
    bool has_old;               /* old_id: the version the write replaced */
    uint8_t old_id[TW_ID_LEN];
    uint8_t author[TW_KEY_LEN];
    char slot[TW_SLOT_MAX];
} jslot;

static struct {
    jslot *v;
    size_t n;
    uint64_t gen;               /* the store generation the journal reaches */
    bool broken;                /* a change it cannot describe: rebuild */
} journal;

/* The journal's slots by hash (index + 1, open addressing), so that the
 * background build (below) skips the records written while it runs. */
#define JHASH_N (2 * TW_REPORT_UPDATE_MAX)
static uint32_t jhash[JHASH_N];

static uint32_t slot_hash(const char *kind, size_t kind_len, const uint8_t *author, const char *slot, size_t slot_len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < kind_len; i++) h = (h ^ (uint8_t)kind[i]) * 16777619u;
    for (size_t i = 0; i < TW_KEY_LEN; i++) h = (h ^ author[i]) * 16777619u;
    for (size_t i = 0; i < slot_len; i++) h = (h ^ (uint8_t)slot[i]) * 16777619u;
    return h;
}

static void journal_reset(uint64_t gen)
{
    if (journal.n) memset(jhash, 0, sizeof jhash);
    journal.n = 0;
    journal.gen = gen;
    journal.broken = false;
}

/* Whether the journal holds (kind, author, slot). */
static bool journal_has(const char *kind, size_t kind_len, const uint8_t *author, const char *slot, size_t slot_len)
{
    if (!journal.n) return false;
    for (uint32_t h = slot_hash(kind, kind_len, author, slot, slot_len) % JHASH_N;; h = (h + 1) % JHASH_N) {
        if (!jhash[h]) return false;
        const jslot *j = &journal.v[jhash[h] - 1];
        if (j->kind_len == kind_len && j->slot_len == slot_len && memcmp(j->kind, kind, kind_len) == 0 &&
            memcmp(j->author, author, TW_KEY_LEN) == 0 && memcmp(j->slot, slot, slot_len) == 0)
            return true;
    }
}

static uint64_t report_updates, report_rebuilds;   /* for the debug log */

/*
 * The background build: the report made from every record after start-up,
 * and after a change that cannot be an update (the journal broken), in
 * slices of TW_REPORT_SLICE_RECORDS records, so that peers, writes and
 * other queries are served in between: the loop reads a slice's rows in a
 * read transaction of its own, after the entry key the last one stopped
 * at, a worker decodes them, and the loop adds them to the report while
 * the worker decodes the next (build_queue(), batch_done() below).  A
 * write between slices is in the journal
 * (journal_reset() at the start of the build), and the build skips the
 * records of the slots written since it started: once finished, the report
 * is the kept report of the store's generation at the start, and the
 * journal brings it up to date (report_update()) like any kept report --
 * the version of a written slot read before the write is removed, the
 * current one added.  A change of admission or a broken journal during the
 * build starts it again (after TW_REPORT_BUILD_RETRY_MS, so that a burst
 * of changes is one build).  A query that needs the report while it is
 * being built never gets half a report.  From a door that can hold it (the
 * control socket, the web interface: tw_ops_dispatch_held()) it waits, at
 * most TW_REPORT_WAITERS_MAX of them (the next is told to retry), while the
 * build goes on in its slices and the loop serves everyone else; the door
 * asks again once the build has ended (report_ended()).  From any other
 * caller it finishes the build there and then (report_build_wait()).
 */
static struct {
    tw_node *n;
    uv_timer_t timer;           /* the start, after a delay */
    bool timer_open;            /* timer initialised and not closed */
    struct build_batch *inflight;   /* the slice a worker decodes */
    uint32_t epoch;             /* a batch of another epoch is dropped */
    int add_kind;               /* where the last slice added stopped */
    uint8_t add_after[TW_ENTRYKEY_MAX];
    size_t add_after_len;
    double worker_ms;
    uint32_t later, spilled;    /* entries decoded on the loop, slices whose worker allocated */
    bool active;                /* scheduled or under way */
    tw_report *r;               /* NULL: not started (scheduled) */
    uint64_t start_gen, admit_gen;
    int kind;                   /* index in report_kinds */
    uint8_t after[TW_ENTRYKEY_MAX];
    size_t after_len;
    uint32_t slices, skipped;
    uint64_t records;
    struct timespec w0;
    double cpu_ms;
} bg;

static const char *const report_kinds[] = { "group", "place", "link" };
typedef struct build_batch build_batch;
static void build_drop(void);

/* Requests held for the report (see "background build"): whether the door
 * of the request being dispatched can hold it, whether it needs the report
 * being made, how many the doors hold, and whom to tell when the build
 * ends. */
static struct {
    bool may;
    bool wanted;
    unsigned held;
    uint64_t dropped;           /* held requests whose clients left, since start */
    void (*ended[2])(tw_node *n, int rc);
} waits;

/* The build has ended (its report kept, rc 0), failed (rc), or was dropped
 * (0: asked again, the request makes the report itself): the doors answer
 * what they hold, in a later turn of the loop. */
static void report_ended(tw_node *n, int rc)
{
    if (!waits.held) return;
    for (size_t i = 0; i < sizeof waits.ended / sizeof waits.ended[0]; i++)
        if (waits.ended[i]) waits.ended[i](n, rc);
}

void tw_ops_free_cache(void)
{
    tw_report_free(marks_cache.r);
    memset(&marks_cache, 0, sizeof marks_cache);
    tw_report_free(report_cache.r);
    memset(&report_cache, 0, sizeof report_cache);
    free(journal.v);
    memset(&journal, 0, sizeof journal);
    memset(jhash, 0, sizeof jhash);
    bool was = bg.active;
    build_drop();
    bg.active = false;
    if (bg.timer_open) uv_timer_stop(&bg.timer);
    if (was && bg.n) report_ended(bg.n, 0);
}

static void report_build_schedule(tw_node *n, uint64_t delay_ms);

/*
 * The search word index built again in the background, after a bulk write
 * set it aside (wordidx.h): once no record was stored for
 * TW_WORDIDX_REBUILD_WAIT_MS, one transaction of TW_WORDIDX_BUILD_STEP
 * records a turn of the loop, so that peers and queries are served in
 * between; a record stored meanwhile postpones the next step as long again
 * (a bulk sync goes first; search reads every record until the end).
 */
static struct {
    tw_node *n;
    uv_timer_t timer;
    bool timer_open;
} words_bg;

static void on_words_timer(uv_timer_t *t)
{
    (void)t;
    tw_node *n = words_bg.n;
    if (!n || n->stopping) return;
    /* A batch committing on ingest's writer thread: its entries, once
     * reported, schedule the step again (tw_ops_stored). */
    if (tw_store_writing(n->store)) return;
    bool done;
    tw_wordidx_build_step(n->store, TW_WORDIDX_BUILD_STEP, &done);   /* logs its start, end and failure */
    /* Not 0 ms: libuv before 1.45 (Debian 12 has 1.44) runs a timer
     * started from its own callback with a 0 ms timeout again in the same
     * pass over the timers, so every step ran back to back and the loop
     * served no peer and no query until the whole index was built.  1 ms
     * lies past the loop's time: the next step waits for the next turn,
     * after the loop has polled for I/O. */
    if (!done) uv_timer_start(&words_bg.timer, on_words_timer, 1, 0);
}

static void words_build_schedule(tw_node *n, uint64_t delay_ms)
{
    if (!words_bg.timer_open || n->stopping || !tw_wordidx_wants_build(tw_store_wordidx(n->store))) return;
    words_bg.n = n;
    uv_timer_start(&words_bg.timer, on_words_timer, delay_ms, 0);
}

void tw_ops_stored(tw_node *n, const tw_put *put)
{
    const tw_entry *e = put->e;
    words_build_schedule(n, TW_WORDIDX_REBUILD_WAIT_MS);
    if (bg.active && !bg.r && bg.n == n) {
        /* A build waits for the writes to pause (a sync's batches), unless
         * a request waits for it. */
        if (!waits.held) report_build_schedule(n, TW_REPORT_BUILD_RETRY_MS);
        return;
    }
    bool building = bg.active && bg.r && bg.n == n;
    if ((!report_cache.r || report_cache.n != n) && !building) return;
    if (journal.broken) return;
    uint64_t g = tw_store_generation(n->store);
    if (g != journal.gen && g != journal.gen + 1) {
        journal.broken = true;
        report_build_schedule(n, TW_REPORT_BUILD_RETRY_MS);
        return;
    }
    journal.gen = g;
    bool counted = (e->kind_len == 5 && (memcmp(e->kind, "group", 5) == 0 || memcmp(e->kind, "place", 5) == 0)) ||
                   (e->kind_len == 4 && memcmp(e->kind, "link", 4) == 0);
    if (!counted) {
        if (tw_ident_kind(e->kind, e->kind_len) || (e->kind_len == 5 && memcmp(e->kind, "vouch", 5) == 0)) {
            journal.broken = true;
            report_build_schedule(n, TW_REPORT_BUILD_RETRY_MS);
        }
        return;
    }
    if (journal.n >= TW_REPORT_UPDATE_MAX || e->slot_len > TW_SLOT_MAX ||
        (!journal.v && !(journal.v = malloc(TW_REPORT_UPDATE_MAX * sizeof *journal.v)))) {
        journal.broken = true;
        report_build_schedule(n, TW_REPORT_BUILD_RETRY_MS);
        return;
    }
    uint32_t h = slot_hash(e->kind, e->kind_len, e->author, e->slot, e->slot_len) % JHASH_N;
    while (jhash[h]) h = (h + 1) % JHASH_N;
    jhash[h] = (uint32_t)journal.n + 1;
    jslot *j = &journal.v[journal.n++];
    memcpy(j->kind, e->kind, e->kind_len);
    j->kind_len = (uint8_t)e->kind_len;
    memcpy(j->author, e->author, TW_KEY_LEN);
    memcpy(j->slot, e->slot, e->slot_len);
    j->slot_len = (uint8_t)e->slot_len;
    j->has_old = put->replaced;
    if (put->replaced) memcpy(j->old_id, put->old_id, TW_ID_LEN);
}

static bool same_slot(const jslot *a, const jslot *b)
{
    return a->kind_len == b->kind_len && a->slot_len == b->slot_len && memcmp(a->kind, b->kind, a->kind_len) == 0 &&
           memcmp(a->author, b->author, TW_KEY_LEN) == 0 && memcmp(a->slot, b->slot, a->slot_len) == 0;
}

/* Brings the kept report up to date with the journal; false (the report
 * freed) when it cannot be. */
static bool report_update(tw_node *n, uint64_t sg, uint64_t ag)
{
    if (!report_cache.r || report_cache.n != n || report_cache.admit_gen != ag || journal.broken ||
        journal.gen != sg || tw_report_reopen(report_cache.r)) {
        tw_report_free(report_cache.r);
        memset(&report_cache, 0, sizeof report_cache);
        return false;
    }
    tw_report *r = report_cache.r;
    struct timespec w0, c0, w1, c1;
    clock_gettime(CLOCK_MONOTONIC, &w0);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    tw_arena a;
    tw_buf env;
    tw_arena_init(&a, 0);
    tw_buf_init(&env);
    int rc = 0;
    /* Groups and places by slot; link statements by the version replaced
     * (one slot's statements by two keys of an association are both kept). */
    for (size_t i = 0; i < journal.n && rc == 0; i++) {
        const jslot *j = &journal.v[i];
        if (j->kind_len == 4) { if (j->has_old) rc = tw_report_remove_link(r, j->old_id); }
        else rc = tw_report_remove(r, j->kind, j->kind_len, j->author, j->slot, j->slot_len);
    }
    for (size_t i = 0; i < journal.n && rc == 0; i++) {
        const jslot *j = &journal.v[i];
        bool seen = false;                  /* a slot written twice is added once */
        for (size_t k = 0; k < i && !seen; k++) seen = same_slot(&journal.v[k], j);
        if (seen) continue;
        uint8_t id[TW_ID_LEN];
        uint64_t ts;
        tw_entry en;
        rc = tw_store_slot(n->store, j->kind, j->kind_len, j->author, j->slot, j->slot_len, id, &ts);
        if (rc == TW_ENOTFOUND) { rc = 0; continue; }
        tw_buf_reset(&env);
        tw_arena_reset(&a);
        if (rc || (rc = tw_store_get(n->store, id, &env)) ||
            (rc = tw_entry_parse_known(env.p, env.len, id, &a, &en)))
            break;
        if (tw_node_shown(n, &en)) rc = tw_report_add(r, &en);
    }
    if (rc == 0) rc = tw_report_finish(r);
    tw_arena_free(&a);
    tw_buf_free(&env);
    if (rc) {
        tw_debug("ops", "the kept report cannot be updated (%s); it is made again", tw_strerror(rc));
        tw_report_free(report_cache.r);
        memset(&report_cache, 0, sizeof report_cache);
        return false;
    }
    report_updates++;
    clock_gettime(CLOCK_MONOTONIC, &w1);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    tw_debug("ops", "the kept report updated with %zu written slots in %.1f ms, %.1f ms of CPU (%llu updates, %llu made from every record)",
             journal.n, (double)(w1.tv_sec - w0.tv_sec) * 1e3 + (double)(w1.tv_nsec - w0.tv_nsec) / 1e6,
             (double)(c1.tv_sec - c0.tv_sec) * 1e3 + (double)(c1.tv_nsec - c0.tv_nsec) / 1e6,
             (unsigned long long)report_updates, (unsigned long long)report_rebuilds);
    report_cache.store_gen = sg;
    journal_reset(sg);
    return true;
}

/* The kept report, if the registry has not changed since it was made; *full
 * whether it was made from links too.  The report of stats (report_cache)
 * is made from the same records by the same report_fn, so a kept one marks
 * records as well: a listing or search after stats, gaps or report, with no
 * write in between, makes no report of its own (at a million records that
 * is the second or more a first page of links took). */
static int report_build_wait(tw_node *n);

static tw_report *marks_cached(tw_node *n, bool need_full, bool *full)
{
    /* NULL with waits.wanted: the request waits for the build. */
    if (bg.active && bg.n == n && report_build_wait(n)) return NULL;
    uint64_t sg = tw_store_generation(n->store), ag = tw_admit_generation(n);
    if (marks_cache.r && marks_cache.n == n && marks_cache.store_gen == sg && marks_cache.admit_gen == ag &&
        (marks_cache.full || !need_full)) {
        *full = marks_cache.full;
        return marks_cache.r;
    }
    if (report_cache.r && report_cache.n == n && report_cache.store_gen == sg && report_cache.admit_gen == ag) {
        *full = true;
        return report_cache.r;
    }
    if (report_cache.r && report_update(n, sg, ag)) {
        *full = true;
        return report_cache.r;
    }
    return NULL;
}

/* The marks of a live link, place or group record; *hide when list leaves it out. */
static int record_marks(list_ctx *c, const tw_entry *en, rec_marks *m, char *by, size_t cap, bool *hide)
{
    bool link = en->kind_len == 4 && memcmp(en->kind, "link", 4) == 0;
    bool place = en->kind_len == 5 && memcmp(en->kind, "place", 5) == 0;
    bool group = en->kind_len == 5 && memcmp(en->kind, "group", 5) == 0;
    int rc;
    memset(m, 0, sizeof *m);
    *hide = false;
    if ((!link && !place && !group) || en->body.type != TW_MAP) return 0;
    if (!c->marks || (link && !c->marks_full)) {
        bool full = false;
        tw_report *r = marks_cached(c->n, link, &full);
        if (!r && waits.wanted) return TW_EBUSY;
        if (!r) {
            uint64_t sg = tw_store_generation(c->n->store), ag = tw_admit_generation(c->n);
            tw_ops_free_cache();
            if ((rc = marks_build(c->n, link, &r))) return rc;
            marks_cache.n = c->n;
            marks_cache.r = r;
            marks_cache.full = link;
            marks_cache.store_gen = sg;
            marks_cache.admit_gen = ag;
            full = link;
        }
        c->marks = r;                /* the cache's: not freed with c */
        c->marks_full = full;
    }
    if (link) {
        m->has_confirmed = tw_report_link_state(c->marks, en->id, &m->confirmed) == 0;
    } else if (tw_report_superseded(c->marks, group, en->author, en->slot, en->slot_len, by, cap) == 0) {
        m->superseded_by = by;
        *hide = !c->all;
    }
    return 0;
}

/* ---------------------------------------------------------------- names */

/*
 * The names of the records a record refers to, so that a client shows
 * "Walsall Kobar Friendship" where the record holds twk_36xp.../walsall:
 * a link's group and place, a superseded listing's committee record.  A
 * reference resolves as in the reports ("Reports: the rules"): SLOT is a
 * record of the referring record's author, KEY/SLOT one of KEY; only a live
 * record of an admitted author has a name.  Each name is one slot lookup
 * and one read of an envelope the store has mapped already.
 */
typedef struct ref_name { char s[TW_STR_MAX]; size_t n; } ref_name;

typedef struct ref_names {
    ref_name group, place, place_ar, super;
} ref_names;

/* The author and slot of a reference made by author; false when it is not
 * one (the schema checks references on publish, but a peer's entry of a
 * newer version may hold anything). */
static bool ref_split(const uint8_t author[TW_KEY_LEN], const char *ref, size_t len, uint8_t key[TW_KEY_LEN],
                      const char **slot, size_t *slot_len)
{
    const char *slash = memchr(ref, '/', len);
    if (!slash) {
        memcpy(key, author, TW_KEY_LEN);
        *slot = ref;
        *slot_len = len;
    } else {
        if (tw_keytext_decode(key, TW_KEYTEXT_PREFIX, ref, (size_t)(slash - ref))) return false;
        *slot = slash + 1;
        *slot_len = len - (size_t)(slash + 1 - ref);
    }
    return *slot_len > 0 && *slot_len <= TW_SLOT_MAX;
}

/* The live record of kind a reference resolves to, parsed into a (its
 * envelope in env): 0, or TW_ENOTFOUND when there is none here (yet), its
 * author is not admitted, or it is deleted. */
static int ref_record(tw_node *n, const uint8_t author[TW_KEY_LEN], const char *kind, const char *ref, size_t len,
                      tw_arena *a, tw_buf *env, tw_entry *en)
{
    uint8_t key[TW_KEY_LEN], id[TW_ID_LEN];
    const char *slot;
    size_t sl;
    uint64_t ts;
    if (!ref_split(author, ref, len, key, &slot, &sl) || !tw_node_visible(n, key)) return TW_ENOTFOUND;
    /* KEY/SLOT with any key of an association names the association's
     * slot: its newest version across the association's keys. */
    uint8_t keys[TW_IDENT_KEYS_SHOWN][TW_KEY_LEN];
    size_t nk = tw_admit_identity_keys(n, key, keys, TW_IDENT_KEYS_SHOWN);
    bool have = false;
    int rc = TW_ENOTFOUND;
    for (size_t i = 0; i < nk; i++) {
        uint8_t kid[TW_ID_LEN];
        uint64_t kts;
        int r = tw_store_slot(n->store, kind, strlen(kind), keys[i], slot, sl, kid, &kts);
        if (r == TW_ENOTFOUND || (r == 0 && !tw_node_visible_at(n, keys[i], kts))) continue;
        if (r) return r;
        if (!have || tw_entry_cmp_version(kts, kid, ts, id) > 0) {
            memcpy(id, kid, TW_ID_LEN);
            ts = kts;
            have = true;
        }
    }
    if (have) rc = 0;
    if (rc) return rc;
    tw_buf_reset(env);
    if ((rc = tw_store_get(n->store, id, env))) return rc;
    if ((rc = tw_entry_parse_known(env->p, env->len, id, a, en))) return rc;
    return en->body.type == TW_MAP ? 0 : TW_ENOTFOUND;
}

static void name_copy(ref_name *out, const tw_val *body, const char *field)
{
    const tw_val *v = tw_v_get(body, field);
    out->n = 0;
    if (v && v->type == TW_STR && v->len <= sizeof out->s) {
        memcpy(out->s, v->v.s, v->len);
        out->n = v->len;
    }
}

/* Fills the names of what a record refers to (each left empty when it
 * does not resolve).  scratch and env are reused from record to record. */
static int record_names(tw_node *n, const tw_entry *en, const rec_marks *m, tw_report *marks, tw_arena *scratch,
                        tw_buf *env, ref_names *out)
{
    tw_entry r;
    int rc;
    out->group.n = out->place.n = out->place_ar.n = out->super.n = 0;
    if (en->body.type != TW_MAP) return 0;
    bool link = en->kind_len == 4 && memcmp(en->kind, "link", 4) == 0;
    const tw_val *g = link ? tw_v_get(&en->body, "group") : NULL, *p = link ? tw_v_get(&en->body, "place") : NULL;
    if (g && g->type == TW_STR) {
        tw_arena_reset(scratch);
        rc = ref_record(n, en->author, "group", g->v.s, g->len, scratch, env, &r);
        if (rc == 0) name_copy(&out->group, &r.body, "name");
        else if (rc != TW_ENOTFOUND) return rc;
    }
    if (p && p->type == TW_STR) {
        tw_arena_reset(scratch);
        rc = ref_record(n, en->author, "place", p->v.s, p->len, scratch, env, &r);
        /* A hub's listing superseded by its committee's record: the place
         * is called what the committee calls it. */
        char by[TW_KEYTEXT_LEN + 1 + TW_SLOT_MAX + 1];
        if (rc == 0 && marks &&
            tw_report_place_superseded(marks, r.author, r.slot, r.slot_len, by, sizeof by) == 0) {
            tw_entry c;
            tw_arena_reset(scratch);
            if (ref_record(n, en->author, "place", by, strlen(by), scratch, env, &c) == 0) r = c;
            else rc = ref_record(n, en->author, "place", p->v.s, p->len, scratch, env, &r);
        }
        if (rc == 0) {
            name_copy(&out->place, &r.body, "name_en");
            name_copy(&out->place_ar, &r.body, "name_ar");
        } else if (rc != TW_ENOTFOUND) {
            return rc;
        }
    }
    if (m->superseded_by) {
        tw_arena_reset(scratch);
        rc = ref_record(n, en->author, "place", m->superseded_by, strlen(m->superseded_by), scratch, env, &r);
        if (rc == 0) name_copy(&out->super, &r.body, "name_en");
        else if (rc != TW_ENOTFOUND) return rc;
    }
    return 0;
}

static uint32_t names_count(const ref_names *nm)
{
    return (nm->group.n > 0) + (nm->place.n > 0) + (nm->place_ar.n > 0) + (nm->super.n > 0);
}

static int put_names(tw_buf *b, const ref_names *nm)
{
    int rc = 0;
    if (nm->group.n) rc = put_kv_str(b, "group_name", nm->group.s, nm->group.n);
    if (!rc && nm->place.n) rc = put_kv_str(b, "place_name", nm->place.s, nm->place.n);
    if (!rc && nm->place_ar.n) rc = put_kv_str(b, "place_name_ar", nm->place_ar.s, nm->place_ar.n);
    if (!rc && nm->super.n) rc = put_kv_str(b, "superseded_by_name", nm->super.s, nm->super.n);
    return rc;
}

static int list_fn(void *vctx, const uint8_t *key, size_t klen, const uint8_t id[TW_ID_LEN],
                   const uint8_t *env, size_t envlen)
{
    list_ctx *c = vctx;
    tw_entry en;
    tw_arena_reset(&c->arena);
    int rc = tw_entry_parse_known(env, envlen, id, &c->arena, &en);
    if (rc) {
        tw_warn("ops", "skipping an unreadable stored entry");
        return 0;
    }
    /* Records of authors who are not admitted are not part of the registry. */
    bool ok = tw_node_shown(c->n, &en);
    if (en.body.type == TW_NIL && !c->tombstones) ok = false;
    if (ok && c->author_set) {
        /* Any key of an association lists the association's records. */
        uint8_t a1[TW_KEY_LEN], a2[TW_KEY_LEN];
        tw_admit_identity(c->n, en.author, a1);
        tw_admit_identity(c->n, c->author, a2);
        ok = memcmp(a1, a2, TW_KEY_LEN) == 0;
    }
    if (ok && c->slot && (en.slot_len != c->slot_len || memcmp(en.slot, c->slot, c->slot_len) != 0)) ok = false;
    if (ok && c->where) {
        for (uint32_t i = 0; i < c->where->len && ok; i++) {
            const tw_kv *w = &c->where->v.map[i];
            char name[TW_STR_MAX + 1];
            snprintf(name, sizeof name, "%.*s", (int)w->k.len, w->k.v.s);
            ok = field_matches(tw_v_get(&en.body, name), w->v.v.s, w->v.len);
        }
    }
    int stop = 0;
    rec_marks m = { .has_confirmed = false };
    char by[TW_KEYTEXT_LEN + 1 + TW_SLOT_MAX + 1];
    if (ok) {
        bool hide;
        if ((c->err = record_marks(c, &en, &m, by, sizeof by, &hide))) return 1;
        ok = !hide;
        if (ok && c->confirmed) ok = m.has_confirmed && m.confirmed == (c->confirmed == 2);
        if (ok && c->pair_set) {
            uint32_t u;
            if (c->pair_state == 0 && c->marks && c->marks_full)
                c->pair_state = tw_report_link_unit(c->marks, c->pair_id, &c->pair_unit) == 0 ? 1 : -1;
            ok = m.has_confirmed && c->pair_state == 1 && tw_report_link_unit(c->marks, en.id, &u) == 0 &&
                 u == c->pair_unit;
        }
    }
    if (ok) {
        static ref_names nm;    /* 4 KiB: one list runs at a time, on the loop */
        if (c->count == c->limit || (c->budget && c->dst->len - c->start >= c->budget)) {
            c->more = true;
            stop = 1;
        } else if ((c->err = record_names(c->n, &en, &m, c->marks, &c->name_arena, &c->name_env, &nm)) ||
                   (c->err = encode_record(c->n, c->dst, &en, c->full, &c->at, &m, &nm, 0))) {
            stop = 1;
        } else {
            c->count++;
            memcpy(c->last, key, klen);
            c->last_len = klen;
        }
    }
    return stop;
}

static void list_ctx_free(list_ctx *c)
{
    tw_buf_free(&c->recs);
    tw_buf_free(&c->name_env);
    tw_arena_free(&c->name_arena);
    tw_arena_free(&c->arena);
    c->marks = NULL;
}

/* {"records": [...]} for show and search, which return one page only. */
static int finish_list(list_ctx *c, tw_buf *out)
{
    int rc;
    if (c->err) return c->err;
    if ((rc = tw_mpw_map(out, 1)) || (rc = tw_mpw_cstr(out, "records")) ||
        (rc = tw_mpw_arr(out, c->count)) || (rc = tw_buf_put(out, c->recs.p, c->recs.len)))
        return rc;
    return 0;
}

static int op_list(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    list_ctx c = { .n = n };
    const char *kind, *author;
    size_t kl, al;
    uint64_t limit;
    int rc;
    if ((rc = tw_op_arg_str(args, "kind", false, &kind, &kl, e)) || (rc = tw_op_arg_str(args, "author", false, &author, &al, e)) ||
        (rc = arg_uint(args, "limit", TW_LIST_LIMIT_DEFAULT, TW_LIST_LIMIT_MAX, &limit, e)))
        return rc;
    if (kind && kl > TW_KIND_MAX) FAIL(TW_EINVAL, "kind too long");
    if (author) {
        if (tw_keytext_decode(c.author, TW_KEYTEXT_PREFIX, author, al)) FAIL(TW_EINVAL, "author: not a valid node key (twk_...)");
        c.author_set = true;
    }
    const tw_val *where = tw_v_get(args, "where");
    if (where && where->type != TW_NIL) {
        if (where->type != TW_MAP) FAIL(TW_EINVAL, "argument \"where\" must be a map of field to text");
        for (uint32_t i = 0; i < where->len; i++)
            if (where->v.map[i].k.type != TW_STR || where->v.map[i].v.type != TW_STR)
                FAIL(TW_EINVAL, "argument \"where\" must be a map of field to text");
        if (kind) {
            const tw_kind_schema *ks = tw_schema_kind(kind, kl);
            for (uint32_t i = 0; ks && i < where->len; i++)
                if (!tw_schema_field(ks, where->v.map[i].k.v.s, where->v.map[i].k.len))
                    FAIL(TW_EINVAL, "%.*s.%.*s: unknown field", (int)kl, kind, (int)where->v.map[i].k.len, where->v.map[i].k.v.s);
        }
        c.where = where;
    }
    /* The cursor as binary, or as its hex text: JSON (the web interface)
     * has no binary, and twin's JSON writer gives it as hex. */
    const tw_val *after = tw_v_get(args, "after");
    uint8_t cur[TW_ENTRYKEY_MAX];
    size_t cur_len = 0;
    if (after && after->type == TW_BIN && after->len <= TW_ENTRYKEY_MAX) {
        memcpy(cur, after->v.s, after->len);
        cur_len = after->len;
    } else if (after && after->type == TW_STR && after->len % 2 == 0 && after->len / 2 <= TW_ENTRYKEY_MAX &&
               tw_hex_decode(cur, after->len / 2, after->v.s, after->len) == 0) {
        cur_len = after->len / 2;
    } else if (after && after->type != TW_NIL) {
        FAIL(TW_EINVAL, "argument \"after\" must be a cursor from a previous page");
    }
    const tw_val *conf = tw_v_get(args, "confirmed");
    if (conf && conf->type != TW_NIL) {
        if (conf->type != TW_BOOL) FAIL(TW_EINVAL, "argument \"confirmed\" must be true or false");
        c.confirmed = conf->v.b ? 2 : 1;
    }
    const char *pair;
    size_t pl;
    if ((rc = tw_op_arg_str(args, "pair_of", false, &pair, &pl, e))) return rc;
    if (pair) {
        if (tw_hex_decode(c.pair_id, TW_ID_LEN, pair, pl)) FAIL(TW_EINVAL, "pair_of: not 64 hex digits");
        if (kind && !(kl == 4 && memcmp(kind, "link", 4) == 0)) FAIL(TW_EINVAL, "pair_of: only with kind link");
        kind = "link";
        kl = 4;
        c.pair_set = true;
    }
    if (c.confirmed && !kind) { kind = "link"; kl = 4; }
    if (c.confirmed && !(kl == 4 && memcmp(kind, "link", 4) == 0))
        FAIL(TW_EINVAL, "confirmed: only with kind link");
    c.limit = (uint32_t)limit;
    c.tombstones = arg_bool(args, "tombstones");
    c.all = arg_bool(args, "all");
    c.budget = TW_LIST_PAGE_BYTES;
    tw_buf_init(&c.recs);
    /* Records are encoded straight into the response after an array header
     * of fixed size (array 32), filled in once they are counted: a page is
     * megabytes, and building it apart cost a copy and a page fault per
     * 4 KiB.  Clients decode responses without the canonical rule. */
    if ((rc = tw_mpw_map(out, 2)) || (rc = tw_mpw_cstr(out, "records")) || (rc = tw_buf_reserve(out, 5)))
        return rc;
    size_t hdr = out->len;
    out->len += 5;
    c.dst = out;
    c.start = out->len;
    rc = tw_store_scan(n->store, kind, kl, cur_len ? cur : NULL, cur_len, list_fn, &c);
    list_ctx_free(&c);
    if (rc < 0) FAIL(rc, "cannot read the store: %s", tw_strerror(rc));
    if (c.err) return c.err;
    out->p[hdr] = 0xdd;
    out->p[hdr + 1] = (uint8_t)(c.count >> 24);
    out->p[hdr + 2] = (uint8_t)(c.count >> 16);
    out->p[hdr + 3] = (uint8_t)(c.count >> 8);
    out->p[hdr + 4] = (uint8_t)c.count;
    if ((rc = tw_mpw_cstr(out, "next"))) return rc;
    return c.more ? tw_mpw_bin(out, c.last, c.last_len) : tw_mpw_nil(out);
}

static int op_show(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    list_ctx c = { .n = n, .full = true, .tombstones = true, .limit = TW_LIST_LIMIT_MAX, .all = true };
    c.dst = &c.recs;
    const char *kind, *slot, *idhex;
    size_t kl, sl, il;
    int rc;
    if ((rc = tw_op_arg_str(args, "id", false, &idhex, &il, e))) return rc;
    tw_buf_init(&c.recs);
    if (idhex) {
        uint8_t id[TW_ID_LEN];
        tw_buf env;
        if (tw_hex_decode(id, TW_ID_LEN, idhex, il)) FAIL(TW_EINVAL, "id: not 64 hex digits");
        tw_buf_init(&env);
        rc = tw_store_get(n->store, id, &env);
        if (rc == 0) list_fn(&c, (const uint8_t *)"", 0, id, env.p, env.len);
        tw_buf_free(&env);
        if (rc == 0 && c.count == 0 && !c.err) rc = TW_ENOTFOUND;
        if (rc == TW_ENOTFOUND) { list_ctx_free(&c); FAIL(rc, "no entry with id %.*s", (int)il, idhex); }
        if (rc) FAIL(rc, "cannot read the store: %s", tw_strerror(rc));
    } else {
        if ((rc = tw_op_arg_str(args, "kind", true, &kind, &kl, e)) || (rc = tw_op_arg_str(args, "slot", true, &slot, &sl, e))) return rc;
        if (kl > TW_KIND_MAX) FAIL(TW_EINVAL, "kind too long");
        c.slot = slot;
        c.slot_len = sl;
        rc = tw_store_scan(n->store, kind, kl, NULL, 0, list_fn, &c);
        if (rc < 0) { list_ctx_free(&c); FAIL(rc, "cannot read the store: %s", tw_strerror(rc)); }
        if (c.count == 0) { list_ctx_free(&c); FAIL(TW_ENOTFOUND, "no %.*s record with slot %.*s", (int)kl, kind, (int)sl, slot); }
    }
    rc = finish_list(&c, out);
    list_ctx_free(&c);
    return rc;
}

/*
 * search: the records that can match -- those the word index
 * (daemon/wordidx.c) finds for every word of the query, read in the store's
 * order, or every record when the index cannot narrow the search -- are
 * scored by proto/search.c, and only the best `limit` are kept (by id, in a
 * heap whose top is the worst kept); they are read again and encoded in
 * rank order once the scan is over.  So a query that matches 40 000 records costs a heap of
 * `limit` ids, not 40 000 encoded records.  Until something matches, the
 * names of the records that did not are offered to the query's "did you
 * mean" list, which the answer carries when nothing matched at all.
 */
typedef struct search_hit { uint32_t score, seq; uint8_t id[TW_ID_LEN]; } search_hit;

typedef struct search_ctx {
    tw_node *n;
    tw_search *q;
    search_hit *heap;
    size_t nheap, limit;
    uint32_t seq;                /* scan order: among equal scores the first scanned ranks first (then by id:
                                  * the records of one kind and time share a place when a page is read) */
    uint64_t total;              /* every match read, kept or not */
    tw_wordidx_topk tk;          /* reading a page only: places in scan order, the page's last */
    int err;
} search_ctx;

/* a ranks below b. */
static bool hit_below(const search_hit *a, const search_hit *b)
{
    if (a->score != b->score) return a->score < b->score;
    if (a->seq != b->seq) return a->seq > b->seq;
    return memcmp(a->id, b->id, TW_ID_LEN) > 0;      /* a page's records of one kind and time: by id */
}

static void heap_down(search_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && hit_below(&h[l], &h[m])) m = l;
        if (r < n && hit_below(&h[r], &h[m])) m = r;
        if (m == i) return;
        search_hit t = h[i]; h[i] = h[m]; h[m] = t;
        i = m;
    }
}

static int search_match(void *vctx, const uint8_t *key, size_t klen, const tw_entry *en)
{
    search_ctx *s = vctx;
    uint32_t score;
    if (en->body.type != TW_MAP || !tw_node_shown(s->n, en)) return 0;
    /* Suggestions are gathered while nothing has matched, in the same scan:
     * a query that finds nothing costs one scan, not two. */
    if ((s->err = tw_search_score(s->q, &en->body, en->kind, en->kind_len, en->slot, en->slot_len, s->total == 0,
                                  &score)))
        return 1;
    if (!score) return 0;
    s->total++;
    search_hit h = { .score = score, .seq = s->tk.active ? s->tk.pos : s->seq++ };
    memcpy(h.id, en->id, TW_ID_LEN);
    if (s->nheap < s->limit) {
        size_t i = s->nheap++;
        s->heap[i] = h;
        while (i && hit_below(&s->heap[i], &s->heap[(i - 1) / 2])) {
            search_hit t = s->heap[i]; s->heap[i] = s->heap[(i - 1) / 2]; s->heap[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
    } else if (s->nheap && hit_below(&s->heap[0], &h)) {
        s->heap[0] = h;
        heap_down(s->heap, s->nheap, 0);
    }
    if (s->nheap == s->limit && s->nheap) {
        s->tk.full = true;
        s->tk.kth_score = s->heap[0].score;
        s->tk.kth_pos = s->heap[0].seq;
        s->tk.kth_idpfx = (uint32_t)s->heap[0].id[0] << 24 | (uint32_t)s->heap[0].id[1] << 16 |
                          (uint32_t)s->heap[0].id[2] << 8 | s->heap[0].id[3];
    }
    return 0;
}

static int author_shown(void *ctx, const uint8_t author[TW_KEY_LEN]) { return tw_node_author_shown(ctx, author); }

static int hit_cmp(const void *a, const void *b)
{
    return hit_below(b, a) ? -1 : hit_below(a, b) ? 1 : 0;
}

/* The records of the kept hits, best first, each with "rank", "score" and
 * "match" added to encode_record's map (a fixmap of at most 12 pairs). */
static int search_encode(search_ctx *s, tw_buf *recs, uint32_t *count)
{
    list_ctx c = { .n = s->n, .all = true };
    tw_buf env;
    int rc = 0;
    *count = 0;
    tw_buf_init(&env);
    tw_arena_init(&c.arena, 0);
    tw_arena_init(&c.name_arena, 0);
    qsort(s->heap, s->nheap, sizeof s->heap[0], hit_cmp);
    for (size_t i = 0; i < s->nheap && rc == 0; i++) {
        tw_entry en;
        rec_marks m;
        bool hide;
        char by[TW_KEYTEXT_LEN + 1 + TW_SLOT_MAX + 1];
        tw_buf_reset(&env);
        tw_arena_reset(&c.arena);
        /* The scan and these reads run in one turn of the loop (commits
         * run on it too), so every id is still there; one that is not is
         * left out rather than failing the search. */
        if ((rc = tw_store_get(s->n->store, s->heap[i].id, &env)) == TW_ENOTFOUND) { rc = 0; continue; }
        if (rc || (rc = tw_entry_parse_known(env.p, env.len, s->heap[i].id, &c.arena, &en)) ||
            (rc = record_marks(&c, &en, &m, by, sizeof by, &hide)))
            break;
        ref_names nm;
        if ((rc = record_names(s->n, &en, &m, c.marks, &c.name_arena, &c.name_env, &nm)) ||
            (rc = encode_record(s->n, recs, &en, false, &c.at, &m, &nm, 3)))
            break;
        tw_search_match k = tw_search_score_match(s->heap[i].score);
        if ((rc = tw_mpw_kv_uint(recs, "rank", *count + 1)) || (rc = tw_mpw_kv_uint(recs, "score", s->heap[i].score)) ||
            (rc = tw_mpw_kv_cstr(recs, "match", tw_search_match_name(k))))
            break;
        (*count)++;
    }
    tw_buf_free(&env);
    list_ctx_free(&c);
    return rc;
}

static int op_search(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    search_ctx s = { .n = n };
    const char *text;
    size_t tl;
    uint64_t limit;
    int rc;
    /* The word index is the writer thread's while a batch commits: the
     * batch ends here (its entries reported, admission settled) before the
     * search reads anything, not halfway through it. */
    (void)tw_store_wordidx(n->store);
    if ((rc = tw_op_arg_str(args, "text", true, &text, &tl, e)) ||
        (rc = arg_uint(args, "limit", TW_SEARCH_LIMIT_DEFAULT, TW_LIST_LIMIT_MAX, &limit, e)))
        return rc;
    if (tl > TW_STR_MAX) FAIL(TW_ETOOBIG, "search text longer than %u bytes", TW_STR_MAX);
    rc = tw_search_new(&s.q, text, tl);
    if (rc == TW_ETOOBIG) FAIL(rc, "search text has more than %u words", TW_SEARCH_WORDS_MAX);
    if (rc == TW_EINVAL) FAIL(rc, "search text is empty (no letters or digits)");
    if (rc) FAIL(rc, "%s", tw_strerror(rc));
    s.limit = (size_t)limit;
    if (limit && !(s.heap = malloc((size_t)limit * sizeof *s.heap))) { tw_search_free(s.q); FAIL(TW_ENOMEM, "out of memory"); }
    tw_buf recs;
    uint32_t count = 0;
    tw_buf_init(&recs);
    bool indexed;
    /* A match the index proves is counted unread when its author's
     * entries are all shown (tw_node_author_shown). */
    s.tk.author_shown = author_shown;
    s.tk.author_ctx = n;
    if (limit == 0) { s.tk.full = true; s.tk.kth_score = UINT32_MAX; s.tk.kth_pos = 0; }
    rc = tw_wordidx_search_topk(n->store, s.q, search_match, &s, &s.total, &s.tk, &indexed);
    s.total += s.tk.unread;
    tw_debug("ops", "search read %s", indexed ? "the records the word index found" : "every record");
    if (rc >= 0 && !s.err) rc = search_encode(&s, &recs, &count);
    else if (rc >= 0) rc = s.err;
    if (rc == 0) {
        size_t ns = s.total ? 0 : tw_search_suggestion_count(s.q);
        if ((rc = tw_mpw_map(out, 3)) || (rc = tw_mpw_cstr(out, "records")) || (rc = tw_mpw_arr(out, count)) ||
            (rc = tw_buf_put(out, recs.p, recs.len)) || (rc = tw_mpw_kv_uint(out, "total", s.total)) ||
            (rc = tw_mpw_cstr(out, "suggestions")) || (rc = tw_mpw_arr(out, (uint32_t)ns)))
            goto done;
        for (size_t i = 0; i < ns && rc == 0; i++) {
            const tw_search_suggestion *g = tw_search_suggestion_at(s.q, i);
            if ((rc = tw_mpw_map(out, 5)) || (rc = tw_mpw_kv_cstr(out, "name", g->text)) ||
                (rc = tw_mpw_kv_cstr(out, "kind", g->kind)) || (rc = tw_mpw_kv_cstr(out, "slot", g->slot)) ||
                (rc = tw_mpw_kv_uint(out, "missing", g->missing)) || (rc = tw_mpw_kv_uint(out, "distance", g->distance)))
                break;
        }
    }
done:
    tw_buf_free(&recs);
    free(s.heap);
    tw_search_free(s.q);
    if (rc < 0) FAIL(rc, "search failed: %s", tw_strerror(rc));
    return 0;
}

/* ---------------------------------------------------------------- writes */

static int body_arg(const tw_val *rec, const tw_val **body, tw_op_err *e)
{
    *body = tw_v_get(rec, "body");
    if (!*body || (*body)->type != TW_MAP) FAIL(TW_EINVAL, "argument \"body\" must be a map of fields");
    return 0;
}

static int write_result(tw_buf *out, const tw_write_result *r, const char *note)
{
    char id[2 * TW_ID_LEN + 1];
    int rc;
    tw_hex_encode(id, r->id, TW_ID_LEN);
    if ((rc = tw_mpw_map(out, note ? 5 : 4)) || (rc = put_kv_str(out, "id", id, strlen(id))) ||
        (rc = tw_mpw_cstr(out, "ts")) || (rc = tw_mpw_uint(out, r->ts)) ||
        (rc = tw_mpw_cstr(out, "created")) || (rc = tw_mpw_bool(out, r->created)) ||
        (rc = tw_mpw_cstr(out, "unchanged")) || (rc = tw_mpw_bool(out, r->unchanged)))
        return rc;
    if (note && ((rc = tw_mpw_cstr(out, "note")) || (rc = tw_mpw_cstr(out, note)))) return rc;
    return 0;
}

/* Said with every write while this node is not admitted: its records are
 * kept, but nobody else takes them yet. */
static const char *held_note(tw_node *n)
{
    return tw_node_visible(n, n->pk) ? NULL
           : "this node is not admitted yet: the record is kept here, and goes to the network once a "
             "member vouches for this node (twin status)";
}

/* This node's only live place record: its slot into slot (NUL-terminated)
 * and 0; TW_ENOTFOUND when it has none or several. */
typedef struct own_places { uint32_t n; char slot[TW_SLOT_MAX + 1]; } own_places;

static int own_place_fn(void *vctx, const char *kind, size_t kind_len, const uint8_t author[TW_KEY_LEN],
                        const char *slot, size_t slot_len, const uint8_t id[TW_ID_LEN], uint64_t ts, bool tombstone)
{
    own_places *o = vctx;
    if (tombstone || kind_len != 5 || memcmp(kind, "place", 5) != 0) return 0;
    if (o->n++ == 0) snprintf(o->slot, sizeof o->slot, "%.*s", (int)slot_len, slot);
    return o->n > 1;
}

/* "twk_36xpq4rm7a.../walsall", or "walsall (of this node)", for messages. */
static void ref_short(char *out, size_t cap, const char *ref, size_t len)
{
    const char *slash = memchr(ref, '/', len);
    size_t pl = strlen(TW_KEYTEXT_PREFIX);
    if (!slash) snprintf(out, cap, "%.*s (of this node)", (int)len, ref);
    else if ((size_t)(slash - ref) > pl + TW_FPR_CHARS)
        snprintf(out, cap, "%.*s\xE2\x80\xA6/%.*s", (int)(pl + TW_FPR_CHARS), ref, (int)(len - (size_t)(slash + 1 - ref)), slash + 1);
    else snprintf(out, cap, "%.*s", (int)len, ref);
}

/* Whether a link's group reference names a record of this node: then this
 * node is the group's side, and its place is for the user to say. */
static bool ref_is_own(tw_node *n, const tw_val *ref)
{
    uint8_t key[TW_KEY_LEN];
    const char *slot;
    size_t sl;
    return ref && ref->type == TW_STR && ref_split(n->pk, ref->v.s, ref->len, key, &slot, &sl) &&
           memcmp(key, n->pk, TW_KEY_LEN) == 0;
}

/* Up to three notes and warnings of a publish; each a line of text. */
#define PUBLISH_NOTES 3
typedef struct pub_notes { uint32_t nn, nw; char note[PUBLISH_NOTES][512], warn[PUBLISH_NOTES][512]; } pub_notes;

/*
 * The committee's side of a link (proto/PROTOCOL.md, "publish"): a link
 * with no place, published on a node whose only place record is its own
 * (no other key named as committee), and whose group, if given, is
 * another node's, is this node's place's link: place= is filled with that
 * record.  Without it the link would match nothing and count as a link of
 * its own.  *body is replaced by a copy in a.
 */
static int fill_place(tw_node *n, tw_arena *a, const tw_val **body, pub_notes *pn)
{
    const tw_val *b = *body, *pv = tw_v_get(b, "place");
    if ((pv && pv->type != TW_NIL) || ref_is_own(n, tw_v_get(b, "group"))) return 0;
    own_places o = { .n = 0 };
    int rc = tw_store_scan_slots(n->store, n->pk, own_place_fn, &o);
    if (rc < 0) return rc;
    if (o.n != 1) return 0;
    tw_buf env;
    tw_entry en;
    tw_buf_init(&env);
    rc = ref_record(n, n->pk, "place", o.slot, strlen(o.slot), a, &env, &en);
    if (rc == 0) {
        const tw_val *c = tw_v_get(&en.body, "committee"), *nm = tw_v_get(&en.body, "name_en");
        uint8_t ck[TW_KEY_LEN];
        /* A listing of another key's place: that key speaks for it. */
        if (c && c->type == TW_STR && tw_keytext_decode(ck, TW_KEYTEXT_PREFIX, c->v.s, c->len) == 0 &&
            memcmp(ck, n->pk, TW_KEY_LEN) != 0) {
            tw_buf_free(&env);
            return 0;
        }
        tw_val nb;
        char *slot = tw_arena_strndup(a, o.slot, strlen(o.slot));
        if (!slot || (rc = tw_v_map(a, &nb, b->len + 1))) { tw_buf_free(&env); return TW_ENOMEM; }
        uint32_t j = 0;
        for (uint32_t i = 0; i < b->len; i++)
            if (!(b->v.map[i].k.type == TW_STR && b->v.map[i].k.len == 5 && memcmp(b->v.map[i].k.v.s, "place", 5) == 0))
                nb.v.map[j++] = b->v.map[i];
        nb.v.map[j].k = tw_v_cstr("place");
        nb.v.map[j++].v = tw_v_cstr(slot);
        nb.len = j;
        tw_val *keep = tw_arena_alloc(a, sizeof *keep);
        if (!keep) { tw_buf_free(&env); return TW_ENOMEM; }
        *keep = nb;
        *body = keep;
        snprintf(pn->note[pn->nn++], sizeof pn->note[0], "place= filled with %s (this node's only place%s%.*s)",
                 o.slot, nm && nm->type == TW_STR ? ", " : "", nm && nm->type == TW_STR ? (int)(nm->len > 200 ? 200 : nm->len) : 0,
                 nm && nm->type == TW_STR ? nm->v.s : "");
    }
    tw_buf_free(&env);
    return rc == TW_ENOTFOUND ? 0 : rc;
}

/* A link's group= or place= that resolves to no record is kept (the record
 * may arrive later), with a warning: until it does the link matches
 * nothing. */
static int dangling_refs(tw_node *n, tw_arena *a, const tw_val *body, pub_notes *pn)
{
    static const char *const kinds[] = { "group", "place" };
    tw_buf env;
    int rc = 0;
    tw_buf_init(&env);
    for (int k = 0; k < 2 && rc == 0; k++) {
        const tw_val *v = tw_v_get(body, kinds[k]);
        tw_entry en;
        if (!v || v->type != TW_STR) continue;
        rc = ref_record(n, n->pk, kinds[k], v->v.s, v->len, a, &env, &en);
        if (rc == TW_ENOTFOUND) {
            char shortref[TW_KEYTEXT_LEN + TW_SLOT_MAX + 32];
            ref_short(shortref, sizeof shortref, v->v.s, v->len);
            snprintf(pn->warn[pn->nw++], sizeof pn->warn[0], "no %s %s is known yet; the link counts once it arrives",
                     kinds[k], shortref);
            rc = 0;
        }
    }
    tw_buf_free(&env);
    return rc;
}

static int put_lines(tw_buf *out, const char *key, char (*lines)[512], uint32_t n)
{
    int rc;
    if ((rc = tw_mpw_cstr(out, key)) || (rc = tw_mpw_arr(out, n))) return rc;
    for (uint32_t i = 0; i < n; i++)
        if ((rc = tw_mpw_cstr(out, lines[i]))) return rc;
    return 0;
}

static int op_publish(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    tw_record_in r;
    tw_write_result res;
    size_t bad;
    pub_notes pn = { .nn = 0, .nw = 0 };
    tw_arena a;
    int rc;
    if ((rc = tw_op_arg_str(args, "kind", true, &r.kind, &r.kind_len, e)) ||
        (rc = tw_op_arg_str(args, "slot", true, &r.slot, &r.slot_len, e)) || (rc = body_arg(args, &r.body, e)))
        return rc;
    bool link = r.kind_len == 4 && memcmp(r.kind, "link", 4) == 0;
    tw_arena_init(&a, 0);
    if (link && (rc = fill_place(n, &a, &r.body, &pn))) {
        tw_arena_free(&a);
        FAIL(rc, "cannot read the store: %s", tw_strerror(rc));
    }
    if ((rc = tw_node_write(n, &r, 1, &res, &bad, e->msg, sizeof e->msg))) { tw_arena_free(&a); return rc; }
    if (link && (rc = dangling_refs(n, &a, r.body, &pn)))
        tw_warn("ops", "cannot check the references of link %.*s: %s", (int)r.slot_len, r.slot, tw_strerror(rc));
    tw_arena_free(&a);
    tw_info("ops", "published %.*s %.*s", (int)r.kind_len, r.kind, (int)r.slot_len, r.slot);
    for (uint32_t i = 0; i < pn.nn; i++) tw_info("ops", "link %.*s: %s", (int)r.slot_len, r.slot, pn.note[i]);
    for (uint32_t i = 0; i < pn.nw; i++) tw_info("ops", "link %.*s: %s", (int)r.slot_len, r.slot, pn.warn[i]);
    /* {"id","ts","created","unchanged"[,"note"],"notes","warnings"} */
    const char *held = held_note(n);
    char id[2 * TW_ID_LEN + 1];
    tw_hex_encode(id, res.id, TW_ID_LEN);
    if ((rc = tw_mpw_map(out, (held ? 5u : 4u) + 2u)) || (rc = put_kv_str(out, "id", id, strlen(id))) ||
        (rc = tw_mpw_cstr(out, "ts")) || (rc = tw_mpw_uint(out, res.ts)) ||
        (rc = tw_mpw_cstr(out, "created")) || (rc = tw_mpw_bool(out, res.created)) ||
        (rc = tw_mpw_cstr(out, "unchanged")) || (rc = tw_mpw_bool(out, res.unchanged)) ||
        (held && ((rc = tw_mpw_cstr(out, "note")) || (rc = tw_mpw_cstr(out, held)))) ||
        (rc = put_lines(out, "notes", pn.note, pn.nn)) || (rc = put_lines(out, "warnings", pn.warn, pn.nw)))
        return rc;
    return 0;
}

static int op_delete(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    tw_record_in r = { 0 };
    tw_write_result res;
    size_t bad;
    int rc;
    if ((rc = tw_op_arg_str(args, "kind", true, &r.kind, &r.kind_len, e)) ||
        (rc = tw_op_arg_str(args, "slot", true, &r.slot, &r.slot_len, e)))
        return rc;
    if ((rc = tw_node_write(n, &r, 1, &res, &bad, e->msg, sizeof e->msg))) return rc;
    tw_info("ops", "deleted %.*s %.*s", (int)r.kind_len, r.kind, (int)r.slot_len, r.slot);
    return write_result(out, &res, held_note(n));
}

static int op_import(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    const tw_val *recs = tw_v_get(args, "records");
    int rc;
    if (!recs || recs->type != TW_ARR) FAIL(TW_EINVAL, "argument \"records\" must be an array");
    if (recs->len > TW_IMPORT_MAX_RECORDS) FAIL(TW_ETOOBIG, "more than %u records in one import", TW_IMPORT_MAX_RECORDS);
    tw_record_in *in = calloc(recs->len ? recs->len : 1, sizeof *in);
    tw_write_result *res = calloc(recs->len ? recs->len : 1, sizeof *res);
    if (!in || !res) { free(in); free(res); FAIL(TW_ENOMEM, "out of memory"); }
    for (uint32_t i = 0; i < recs->len; i++) {
        const tw_val *r = &recs->v.arr[i];
        e->index = i;
        if (r->type != TW_MAP) { rc = TW_EINVAL; snprintf(e->msg, sizeof e->msg, "record is not a map"); goto done; }
        if ((rc = tw_op_arg_str(r, "kind", true, &in[i].kind, &in[i].kind_len, e)) ||
            (rc = tw_op_arg_str(r, "slot", true, &in[i].slot, &in[i].slot_len, e)) || (rc = body_arg(r, &in[i].body, e)))
            goto done;
    }
    size_t bad = 0;
    rc = tw_node_write(n, in, recs->len, res, &bad, e->msg, sizeof e->msg);
    if (rc) { e->index = (int64_t)bad; goto done; }
    e->index = -1;
    uint64_t imported = 0, unchanged = 0;
    for (uint32_t i = 0; i < recs->len; i++) res[i].unchanged ? unchanged++ : imported++;
    tw_info("ops", "imported %llu records (%llu unchanged)", (unsigned long long)imported, (unsigned long long)unchanged);
    if ((rc = tw_mpw_map(out, 2)) || (rc = tw_mpw_cstr(out, "imported")) || (rc = tw_mpw_uint(out, imported)) ||
        (rc = tw_mpw_cstr(out, "unchanged")) || (rc = tw_mpw_uint(out, unchanged)))
        goto done;
done:
    free(in);
    free(res);
    return rc;
}

/* ---------------------------------------------------------- node status */

typedef struct kinds_ctx { tw_buf b; uint32_t n; uint64_t tombstones, total; } kinds_ctx;

static void kinds_fn(void *vctx, const char *kind, uint64_t live, uint64_t dead)
{
    kinds_ctx *c = vctx;
    tw_mpw_cstr(&c->b, kind);
    tw_mpw_uint(&c->b, live);
    c->n++;
    c->tombstones += dead;
    c->total += live + dead;
}

/* The counts by kind of `status` and `stats`, of the records shown (the
 * admission filter, while some stored records are hidden or the network
 * has roots), and of those hidden.  Kept by the
 * store from one full count (tw_store_count_kinds_kept), so that a poll
 * costs O(kinds), not a read of every slot.  A full count ends the batch
 * in flight, whose settling may change the admitted set: then once more. */
static bool counts_filtered(const tw_node *n) { return !(tw_admit_is_open(n) && !tw_admit_hiding(n)); }

static int kind_counts(tw_node *n, kinds_ctx *kc, uint64_t *hidden, bool *filtered)
{
    int rc = 0;
    for (int i = 0; i < 2; i++) {
        uint64_t ag = tw_admit_generation(n);
        *filtered = counts_filtered(n);
        tw_buf_reset(&kc->b);
        kc->n = 0;
        kc->tombstones = kc->total = 0;
        rc = tw_store_count_kinds_kept(n->store, *filtered ? tw_admit_visible_cb : NULL, n, ag, kinds_fn, kc, hidden);
        if (rc || (ag == tw_admit_generation(n) && *filtered == counts_filtered(n))) break;
    }
    return rc;
}

static bool hidden_cb(void *node, const uint8_t author[TW_KEY_LEN], uint64_t ts)
{
    return !tw_admit_visible_cb(node, author, ts);
}

/* `status` with "recount": the same counts made by reading every slot, as
 * they were before they were kept, put next to them (for the tests, and an
 * operator who doubts them).  Both of one state: the caller ends the batch
 * in flight first, and nothing runs in between. */
static int recount_kinds(tw_node *n, bool filtered, kinds_ctx *kc, uint64_t *hidden)
{
    kinds_ctx h = { .n = 0 };
    tw_buf_init(&h.b);
    int rc = tw_store_count_kinds_filtered(n->store, filtered ? tw_admit_visible_cb : NULL, n, kinds_fn, kc);
    if (rc == 0 && filtered) rc = tw_store_count_kinds_filtered(n->store, hidden_cb, n, kinds_fn, &h);
    *hidden = h.total;
    tw_buf_free(&h.b);
    return rc;
}

static int op_status(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    tw_store_info info;
    kinds_ctx kc = { .n = 0 }, rkc = { .n = 0 };
    uint64_t hidden, rhidden = 0;
    bool filtered, recount = arg_bool(args, "recount");
    char net[2 * 8 + 1];
    int rc;
    tw_buf_init(&kc.b);
    tw_buf_init(&rkc.b);
    if (recount) tw_store_settle(n->store);
    if ((rc = kind_counts(n, &kc, &hidden, &filtered)) || (recount && (rc = recount_kinds(n, filtered, &rkc, &rhidden)))) {
        tw_buf_free(&kc.b);
        tw_buf_free(&rkc.b);
        FAIL(rc, "cannot read the store: %s", tw_strerror(rc));
    }
    /* The store's entry count moves with the counts (both when the loop
     * ends a batch): entries + hidden is info.entries. */
    tw_store_get_info(n->store, &info);
    tw_hex_encode(net, n->netid, 8);
    int64_t median;
    unsigned npeers;
    int skewed = tw_net_clock(n, &median, &npeers);
    uint64_t refused;
    const char *last_refusal;
    tw_net_refusals(n, &refused, &last_refusal);
    bool disk_known = info.disk_free != UINT64_MAX, full = info.full_since != 0;
    char full_msg[TW_STORE_FULL_TEXT_MAX];
    if (full) tw_store_full_text(n->store, 0, full_msg, sizeof full_msg);
    char http[TW_ADDR_MAX + 160];
    tw_http_state(n, http, sizeof http);
    /* The search word index, while searches cannot use it (set aside by a
     * bulk write and being built again, or off after an error). */
    tw_wordidx_info wi = { .ready = true };
    tw_store_wordidx_stats(n->store, &wi);   /* without waiting for a batch committing */
    bool idx_off = !wi.ready;
    if ((rc = tw_mpw_map(out, 23 + disk_known + full + idx_off + recount)) ||
        (rc = tw_mpw_kv_cstr(out, "http", http)) ||
        (rc = tw_mpw_kv_uint(out, "refused_from_peers", refused)) ||
        (rc = tw_mpw_kv_cstr(out, "last_refusal", last_refusal)) ||
        (rc = put_kv_str(out, "version", TW_VERSION, strlen(TW_VERSION))) ||
        (rc = put_kv_str(out, "node", n->keytext, strlen(n->keytext))) ||
        (rc = put_kv_str(out, "fingerprint", n->fingerprint, strlen(n->fingerprint))) ||
        (rc = put_kv_str(out, "network", net, strlen(net))) ||
        (rc = put_kv_str(out, "data_dir", n->cfg.data_dir, strlen(n->cfg.data_dir))) ||
        (rc = tw_mpw_cstr(out, "entries")) || (rc = tw_mpw_uint(out, kc.total)) ||
        (rc = tw_mpw_cstr(out, "hidden")) || (rc = tw_mpw_uint(out, hidden)) ||
        (rc = tw_admit_encode_status(n, out)) ||
        (rc = tw_mpw_cstr(out, "tombstones")) || (rc = tw_mpw_uint(out, kc.tombstones)) ||
        (rc = tw_mpw_cstr(out, "kinds")) || (rc = tw_mpw_map(out, kc.n)) || (rc = tw_buf_put(out, kc.b.p, kc.b.len)) ||
        (recount && ((rc = tw_mpw_cstr(out, "recounted")) || (rc = tw_mpw_map(out, 4)) ||
                     (rc = tw_mpw_kv_uint(out, "entries", rkc.total)) || (rc = tw_mpw_kv_uint(out, "hidden", rhidden)) ||
                     (rc = tw_mpw_kv_uint(out, "tombstones", rkc.tombstones)) ||
                     (rc = tw_mpw_cstr(out, "kinds")) || (rc = tw_mpw_map(out, rkc.n)) ||
                     (rc = tw_buf_put(out, rkc.b.p, rkc.b.len)))) ||
        (rc = tw_mpw_cstr(out, "uptime_ms")) || (rc = tw_mpw_uint(out, tw_now_ms() - n->started_ms)) ||
        (rc = tw_mpw_cstr(out, "map_used")) || (rc = tw_mpw_uint(out, info.map_used)) ||
        (rc = tw_mpw_cstr(out, "map_size")) || (rc = tw_mpw_uint(out, info.map_size)) ||
        (rc = tw_mpw_cstr(out, "map_ceiling")) || (rc = tw_mpw_uint(out, info.map_ceiling)) ||
        (disk_known && ((rc = tw_mpw_cstr(out, "disk_free")) || (rc = tw_mpw_uint(out, info.disk_free)))) ||
        (full && ((rc = tw_mpw_cstr(out, "storage_full")) || (rc = tw_mpw_map(out, 6)) ||
                  (rc = tw_mpw_cstr(out, "since_ms")) || (rc = tw_mpw_uint(out, info.full_since)) ||
                  (rc = tw_mpw_cstr(out, "last_ms")) || (rc = tw_mpw_uint(out, info.full_last)) ||
                  (rc = tw_mpw_cstr(out, "refused")) || (rc = tw_mpw_uint(out, info.full_fails)) ||
                  (rc = tw_mpw_cstr(out, "needed")) || (rc = tw_mpw_uint(out, info.full_need)) ||
                  (rc = tw_mpw_cstr(out, "ceiling")) || (rc = tw_mpw_bool(out, info.full_ceiling)) ||
                  (rc = put_kv_str(out, "message", full_msg, strlen(full_msg))))) ||
        (idx_off && ((rc = tw_mpw_cstr(out, "search_index")) || (rc = tw_mpw_map(out, 3)) ||
                     (rc = tw_mpw_kv_cstr(out, "state", wi.rebuilding ? "rebuilding" : "off")) ||
                     (rc = tw_mpw_kv_uint(out, "built", wi.built)) ||
                     (rc = tw_mpw_kv_uint(out, "records", info.entries)))) ||
        (rc = tw_mpw_cstr(out, "clock")) || (rc = tw_mpw_map(out, 3)) ||
        (rc = tw_mpw_cstr(out, "peers")) || (rc = tw_mpw_uint(out, npeers)) ||
        (rc = tw_mpw_cstr(out, "median_offset_ms")) || (rc = tw_mpw_int(out, median)) ||
        (rc = tw_mpw_cstr(out, "skewed")) || (rc = tw_mpw_bool(out, skewed == 1)) ||
        (rc = tw_mpw_cstr(out, "peers")) || (rc = tw_net_encode_progress(n, out)) ||
        (rc = tw_mpw_cstr(out, "verification")) || (rc = tw_net_encode_ingest(n, out)) ||
        (rc = tw_mpw_cstr(out, "report_waits")) || (rc = tw_mpw_map(out, 2)) ||
        (rc = tw_mpw_kv_uint(out, "held", waits.held)) || (rc = tw_mpw_kv_uint(out, "dropped", waits.dropped)))
        goto done;
done:
    tw_buf_free(&kc.b);
    tw_buf_free(&rkc.b);
    return rc;
}

static int op_digest(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    uint8_t d[32];
    uint64_t count;
    char hex[65];
    int rc = tw_store_digest_filtered(n->store, tw_admit_is_open(n) && !tw_admit_hiding(n) ? NULL : tw_admit_visible_cb, n, d, &count);
    if (rc) FAIL(rc, "cannot read the store: %s", tw_strerror(rc));
    tw_hex_encode(hex, d, 32);
    if ((rc = tw_mpw_map(out, 2)) || (rc = put_kv_str(out, "digest", hex, 64)) ||
        (rc = tw_mpw_cstr(out, "entries")) || (rc = tw_mpw_uint(out, count)))
        return rc;
    return 0;
}

/* ----------------------------------------------------------------- stats */

/*
 * The report of stats, gaps and report (daemon/report.h), with the options
 * of args: "dormant_months" and "at_ms" (the report's time, default now, so
 * that a report can be reproduced).  It is made from a scan of every group,
 * place and link record -- at a million records a second or more of reading
 * and parsing -- and kept, like the marks, until the registry changes (the
 * store's generation, admission's); the options are read only when the
 * report is encoded, so one kept report answers any time and any dormant
 * months.  *rep belongs to the cache: not freed by the caller.  What is kept
 * is given back after a while without requests (tw_ops_free_cache(), from
 * the idle trim), so that a node at rest holds no report.
 */
static int report_scan(tw_node *n, const tw_val *args, tw_report **rep, tw_op_err *e);

typedef struct report_ctx { tw_node *n; tw_report *r; int err; } report_ctx;

static int report_fn(void *vctx, const uint8_t *key, size_t klen, const tw_entry *en)
{
    report_ctx *c = vctx;
    if (!tw_node_shown(c->n, en)) return 0;
    c->err = tw_report_add(c->r, en);
    return c->err ? 1 : 0;
}

static void report_identity(void *node, const uint8_t key[32], uint8_t out[32])
{
    uint8_t tmp[TW_KEY_LEN];
    tw_admit_identity(node, key, tmp);      /* key and out may be one buffer */
    memcpy(out, tmp, TW_KEY_LEN);
}

static double ms_since(const struct timespec *t0, clockid_t clk)
{
    struct timespec t1;
    clock_gettime(clk, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Starts the background build (see "background build" above) from the
 * first record, at the store's generation now; the kept report, which the
 * journal can no longer bring up to date, is given back first. */
static int report_build_begin(tw_node *n)
{
    tw_report_opts o = { .now_ms = tw_now_ms(), .dormant_months = TW_REPORT_DORMANT_MONTHS_DEFAULT,
                         .identity = report_identity, .identity_ctx = n };
    tw_report_free(report_cache.r);
    memset(&report_cache, 0, sizeof report_cache);
    build_drop();
    int rc = tw_report_new(&bg.r, &o);
    if (rc) return rc;
    bg.n = n;
    bg.add_kind = 0;
    bg.add_after_len = 0;
    bg.worker_ms = 0;
    bg.later = bg.spilled = 0;
    bg.active = true;
    bg.start_gen = tw_store_generation(n->store);
    bg.admit_gen = tw_admit_generation(n);
    bg.kind = 0;
    bg.after_len = 0;
    bg.slices = bg.skipped = 0;
    bg.records = 0;
    bg.cpu_ms = 0;
    clock_gettime(CLOCK_MONOTONIC, &bg.w0);
    journal_reset(bg.start_gen);
    return 0;
}

typedef struct build_ctx { tw_node *n; uint64_t left; int err; } build_ctx;

/* Records per slice: the setting report_slice (a slow machine keeps its
 * loop's pauses shorter with smaller ones), TW_REPORT_SLICE_RECORDS when
 * unset. */
static uint32_t slice_records(const tw_node *n)
{
    unsigned k = n->cfg.report_slice;
    return k && k <= TW_REPORT_SLICE_RECORDS ? k : TW_REPORT_SLICE_RECORDS;
}

/* Adds a record read by the build (see "background build"). */
static int build_add(tw_node *n, const tw_entry *en)
{
    bg.records++;
    /* A slot written since the build started: its current version is
     * added when the journal brings the report up to date. */
    if (journal_has(en->kind, en->kind_len, en->author, en->slot, en->slot_len)) {
        bg.skipped++;
        return 0;
    }
    return tw_node_shown(n, en) ? tw_report_add(bg.r, en) : 0;
}

static int build_fn(void *vctx, const uint8_t *key, size_t klen, const tw_entry *en)
{
    build_ctx *c = vctx;
    if (klen > sizeof bg.after) { c->err = TW_EINVAL; return 1; }
    memcpy(bg.after, key, klen);
    bg.after_len = klen;
    if ((c->err = build_add(c->n, en))) return 1;
    return --c->left == 0 ? 2 : 0;
}

/* Drops the build's report and what a worker decodes for it. */
static void build_drop(void)
{
    tw_report_free(bg.r);
    bg.r = NULL;
    bg.epoch++;
    bg.inflight = NULL;         /* freed when its worker is done (its epoch is old) */
}

/* The build failed: dropped, and the requests held for it told why (unless
 * tell is false: build_done() has told them). */
static int build_fail(tw_node *n, int rc, bool tell)
{
    build_drop();
    bg.active = false;
    if (tell) report_ended(n, rc);
    return rc;
}

/* The build has read every record: finishes its report and keeps it. */
static int build_done(tw_node *n)
{
    struct timespec c0;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    int rc = tw_report_finish(bg.r);
    bg.cpu_ms += ms_since(&c0, CLOCK_THREAD_CPUTIME_ID);
    if (rc) return build_fail(n, rc, true);
    report_cache.n = n;
    report_cache.r = bg.r;
    report_cache.store_gen = bg.start_gen;
    report_cache.admit_gen = bg.admit_gen;
    bg.r = NULL;
    bg.active = false;
    report_rebuilds++;
    tw_debug("ops", "the report made from every record in %.1f ms, %.1f ms of CPU on the loop and %.1f ms in workers (%u records decoded on the loop, %u slices allocated in them), %u slice%s, %llu records read, %u of slots written meanwhile (%llu updates, %llu made from every record)",
             ms_since(&bg.w0, CLOCK_MONOTONIC), bg.cpu_ms, bg.worker_ms, bg.later, bg.spilled, bg.slices, bg.slices == 1 ? "" : "s",
             (unsigned long long)bg.records, bg.skipped,
             (unsigned long long)report_updates, (unsigned long long)report_rebuilds);
    /* What the build allocated and freed (the slices' buffers, the maps
     * outgrown) goes back now rather than at the idle trim: 25 MiB at a
     * million records, for about 2 ms. */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    malloc_trim(0);
    double trim_ms = ms_since(&t0, CLOCK_MONOTONIC);
    char mem[512];
    tw_report_mem(report_cache.r, mem, sizeof mem);
    tw_debug("ops", "the report holds %s (malloc_trim %.1f ms)", mem, trim_ms);
    report_ended(n, 0);
    return 0;
}

/* The rest of the build, here and now, for a query that needs the report
 * (what a worker decodes is dropped: read again from where the last slice
 * added stopped).  Begins it again when what it read no longer describes
 * the registry. */
static int report_build_step(tw_node *n, bool all)
{
    int rc;
    if (bg.inflight) {
        bg.epoch++;
        bg.inflight = NULL;
    }
    bg.kind = bg.add_kind;
    memcpy(bg.after, bg.add_after, bg.add_after_len);
    bg.after_len = bg.add_after_len;
    if (!bg.r || bg.n != n || journal.broken || bg.admit_gen != tw_admit_generation(n)) {
        if ((rc = report_build_begin(n))) {
            bg.active = false;
            report_ended(n, rc);
            return rc;
        }
    }
    struct timespec c0;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    build_ctx c = { .n = n, .left = all ? UINT64_MAX : slice_records(n) };
    rc = 0;
    bg.slices++;
    while (bg.kind < 3) {
        const char *k = report_kinds[bg.kind];
        rc = tw_store_scan_entries(n->store, k, strlen(k), bg.after_len ? bg.after : NULL, bg.after_len, build_fn, &c);
        if (rc == 1) rc = c.err;
        if (rc) break;
        bg.kind++;              /* the kind is read to its end */
        bg.after_len = 0;
    }
    if (rc == 2) rc = 0;        /* the slice is full */
    bg.add_kind = bg.kind;
    memcpy(bg.add_after, bg.after, bg.after_len);
    bg.add_after_len = bg.after_len;
    bg.cpu_ms += ms_since(&c0, CLOCK_THREAD_CPUTIME_ID);
    if (rc) return build_fail(n, rc, true);
    return bg.kind < 3 ? 0 : build_done(n);
}

/*
 * The slices in the background: the loop thread reads a slice's stored
 * rows (tw_store_read_rows(), one short read transaction: no LMDB in the
 * worker), a worker of libuv's pool decompresses and parses them, and back
 * on the loop the next slice is read and queued before this one's records
 * are added -- so the worker decodes one slice while the loop adds the
 * last, on the second core.
 */
struct build_batch {
    uv_work_t req;
    uint32_t epoch;
    tw_store *store;
    tw_buf rows;                /* as tw_store_read_rows() writes them */
    size_t count;
    int end_kind;               /* the read cursor after this slice */
    uint8_t end_after[TW_ENTRYKEY_MAX];
    size_t end_after_len;
    /* Allocated on the loop thread, all of it: what a worker thread
     * allocates stays in glibc's arena of that thread, which the idle
     * trim does not give back (15 MiB at rest after a build at 1M). */
    ZSTD_DCtx *dctx;
    uint8_t *buf;               /* TW_ENVELOPE_MAX */
    tw_buf dec;                 /* the envelopes, decompressed: room reserved */
    size_t *off;
    const uint8_t **ids, **row;
    uint32_t *rowlen;
    tw_entry *e;
    uint8_t *st;                /* per entry: BATCH_OK, BATCH_LATER (no room left in dec: decoded on the loop), BATCH_BAD */
    uint32_t bad;               /* rows that did not decode */
    tw_arena a;                 /* one chunk reserved */
    size_t reserved;            /* its size: more (a.total) was allocated by the worker */
    double cpu_ms;
};

enum { BATCH_BAD = 0, BATCH_OK = 1, BATCH_LATER = 2 };

static void batch_free(build_batch *b)
{
    if (!b) return;
    tw_buf_free(&b->rows);
    tw_buf_free(&b->dec);
    tw_arena_free(&b->a);
    ZSTD_freeDCtx(b->dctx);
    free(b->buf);
    free(b->off);
    free(b->ids);
    free(b->row);
    free(b->rowlen);
    free(b->e);
    free(b->st);
    free(b);
}

/* What the worker needs, allocated here on the loop (see build_batch). */
static int batch_alloc(build_batch *b)
{
    size_t n = b->count;
    b->dctx = ZSTD_createDCtx();
    b->buf = malloc(TW_ENVELOPE_MAX);
    b->off = calloc(n, sizeof *b->off);
    b->ids = calloc(n, sizeof *b->ids);
    b->row = calloc(n, sizeof *b->row);
    b->rowlen = calloc(n, sizeof *b->rowlen);
    b->e = calloc(n, sizeof *b->e);
    b->st = calloc(n, sizeof *b->st);
    if (!b->dctx || !b->buf || !b->off || !b->ids || !b->row || !b->rowlen || !b->e || !b->st) return TW_ENOMEM;
    /* Compressed rows grow about threefold; the parsed values take about
     * as much again as the envelopes. */
    if (tw_buf_reserve(&b->dec, 4 * b->rows.len + TW_ENVELOPE_MAX)) return TW_ENOMEM;
    if (!tw_arena_alloc(&b->a, 8 * b->rows.len + 65536)) return TW_ENOMEM;
    tw_arena_reset(&b->a);
    b->reserved = b->a.total;
    const uint8_t *p = b->rows.p;
    for (size_t i = 0; i < n; i++) {
        size_t kl = p[0];
        b->ids[i] = p + 1 + kl;
        memcpy(&b->rowlen[i], b->ids[i] + TW_ID_LEN, sizeof b->rowlen[i]);
        b->row[i] = b->ids[i] + TW_ID_LEN + sizeof b->rowlen[i];
        p = b->row[i] + b->rowlen[i];
    }
    return 0;
}

static void batch_work(uv_work_t *req)
{
    build_batch *b = req->data;
    struct timespec c0;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    for (size_t i = 0; i < b->count; i++) {
        const uint8_t *env = NULL;
        size_t el = 0;
        if (tw_store_row_env(b->store, b->dctx, b->row[i], b->rowlen[i], b->buf, &env, &el)) {
            b->st[i] = BATCH_BAD;
        } else if (b->dec.cap - b->dec.len < el) {
            b->st[i] = BATCH_LATER;
        } else {
            b->off[i] = b->dec.len;
            memcpy(b->dec.p + b->dec.len, env, el);   /* within the room reserved: dec does not move */
            b->dec.len += el;
            b->e[i].env_len = el;
            b->st[i] = BATCH_OK;
        }
    }
    for (size_t i = 0; i < b->count; i++)
        if (b->st[i] == BATCH_OK &&
            tw_entry_parse_known(b->dec.p + b->off[i], b->e[i].env_len, b->ids[i], &b->a, &b->e[i]))
            b->st[i] = BATCH_BAD;
    for (size_t i = 0; i < b->count; i++) b->bad += b->st[i] == BATCH_BAD;
    b->cpu_ms = ms_since(&c0, CLOCK_THREAD_CPUTIME_ID);
}

/* An entry the worker left (no room): decoded and added here. */
static int batch_add_later(tw_node *n, build_batch *b, size_t i, tw_arena *a)
{
    const uint8_t *env;
    size_t el;
    tw_entry en;
    tw_arena_reset(a);
    if (tw_store_row_env(b->store, b->dctx, b->row[i], b->rowlen[i], b->buf, &env, &el) ||
        tw_entry_parse_known(env, el, b->ids[i], a, &en)) {
        b->bad++;
        return 0;
    }
    return build_add(n, &en);
}

static void batch_done(uv_work_t *req, int status);

/* Reads the next slice's rows and gives them to a worker (bg.inflight);
 * none left: bg.inflight stays NULL. */
static int build_queue(tw_node *n)
{
    if (bg.kind >= 3) return 0;
    build_batch *b = calloc(1, sizeof *b);
    if (!b) return TW_ENOMEM;
    tw_buf_init(&b->rows);
    tw_buf_init(&b->dec);
    tw_arena_init(&b->a, 0);
    int rc = 0;
    const uint32_t slice = slice_records(n);
    while (bg.kind < 3 && b->count < slice) {
        const char *k = report_kinds[bg.kind];
        size_t got, mark = b->rows.len;
        rc = tw_store_read_rows(n->store, k, strlen(k), bg.after_len ? bg.after : NULL, bg.after_len,
                                slice - b->count, &b->rows, &got);
        if (rc) break;
        b->count += got;
        if (got < slice - b->count + got) {   /* the kind is read to its end */
            bg.kind++;
            bg.after_len = 0;
            continue;
        }
        /* The cursor: the last row's entry key. */
        const uint8_t *p = b->rows.p + mark, *last = p;
        for (size_t i = 0; i < got; i++) {
            uint32_t rl;
            last = p;
            memcpy(&rl, p + 1 + p[0] + TW_ID_LEN, sizeof rl);
            p += 1 + p[0] + TW_ID_LEN + sizeof rl + rl;
        }
        memcpy(bg.after, last + 1, last[0]);
        bg.after_len = last[0];
    }
    b->end_kind = bg.kind;
    memcpy(b->end_after, bg.after, bg.after_len);
    b->end_after_len = bg.after_len;
    if (rc || b->count == 0) {
        batch_free(b);
        return rc;
    }
    if ((rc = batch_alloc(b))) {
        batch_free(b);
        return rc;
    }
    b->epoch = bg.epoch;
    b->store = n->store;
    b->req.data = b;
    if ((rc = uv_queue_work(n->loop, &b->req, batch_work, batch_done))) {
        batch_free(b);
        return TW_EINTERNAL;
    }
    bg.inflight = b;
    return 0;
}

static void on_build_timer(uv_timer_t *t);

static void batch_done(uv_work_t *req, int status)
{
    build_batch *b = req->data;
    if (status || b->epoch != bg.epoch || bg.inflight != b || !bg.active || !bg.r || bg.n->stopping) {
        if (bg.inflight == b) bg.inflight = NULL;
        batch_free(b);
        return;
    }
    tw_node *n = bg.n;
    bg.inflight = NULL;
    /* The idle trim waits for the build, and keeps its report as long as
     * one a query made. */
    n->last_request_ms = tw_now_ms();
    if (journal.broken || bg.admit_gen != tw_admit_generation(n)) {
        /* What it read no longer describes the registry: again, once the
         * changes have settled -- unless requests wait for it: then here
         * and now, in one go, as a query did before there were waits
         * (changes that keep coming would otherwise keep them waiting). */
        build_drop();
        batch_free(b);
        if (waits.held) {
            tw_debug("ops", "the registry changed beyond the journal while %u requests wait for the report: it is "
                     "made here and now", waits.held);
            int rc = 0;
            while (bg.active && bg.n == n && rc == 0) rc = report_build_step(n, true);   /* tells the doors */
            if (rc) tw_warn("ops", "cannot make the report: %s", tw_strerror(rc));
            return;
        }
        tw_debug("ops", "the report being made is made again (the registry changed beyond the journal)");
        uv_timer_start(&bg.timer, on_build_timer, TW_REPORT_BUILD_RETRY_MS, 0);
        return;
    }
    struct timespec c0;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    int rc = build_queue(n);     /* the next slice, decoded while this one is added */
    tw_arena a;
    tw_arena_init(&a, 0);
    for (size_t i = 0; i < b->count && rc == 0; i++) {
        if (b->st[i] == BATCH_OK) rc = build_add(n, &b->e[i]);
        else if (b->st[i] == BATCH_LATER) {
            bg.later++;
            rc = batch_add_later(n, b, i, &a);
        }
    }
    bg.spilled += b->a.total > b->reserved;
    tw_arena_free(&a);
    if (b->bad) tw_warn("ops", "the report skips %u stored entries that cannot be read", b->bad);
    bg.add_kind = b->end_kind;
    memcpy(bg.add_after, b->end_after, b->end_after_len);
    bg.add_after_len = b->end_after_len;
    bg.slices++;
    bg.cpu_ms += ms_since(&c0, CLOCK_THREAD_CPUTIME_ID);
    bg.worker_ms += b->cpu_ms;
    batch_free(b);
    bool finishing = rc == 0 && !bg.inflight && bg.kind >= 3;
    if (finishing) rc = build_done(n);      /* tells the doors itself */
    if (rc) {
        tw_warn("ops", "cannot make the report in the background: %s (the next query makes it)", tw_strerror(rc));
        build_fail(n, rc, !finishing);
    }
}

static void on_build_timer(uv_timer_t *t)
{
    (void)t;
    tw_node *n = bg.n;
    if (!bg.active || n->stopping || bg.inflight) return;
    n->last_request_ms = tw_now_ms();
    int rc = report_build_begin(n);
    if (rc == 0) rc = build_queue(n);
    bool finishing = rc == 0 && !bg.inflight;
    if (finishing) rc = build_done(n);      /* nothing to read; tells the doors itself */
    if (rc) {
        tw_warn("ops", "cannot make the report in the background: %s (the next query makes it)", tw_strerror(rc));
        build_fail(n, rc, !finishing);
    }
}

static void report_build_schedule(tw_node *n, uint64_t delay_ms)
{
    if (!bg.timer_open || n->stopping) return;     /* not started (tests of ops alone), or stopping */
    if (bg.active && bg.r) return;      /* under way: it starts again itself if it must */
    bg.n = n;
    bg.active = true;
    uv_timer_start(&bg.timer, on_build_timer, delay_ms, 0);
}

void tw_ops_start(tw_node *n)
{
    if (!bg.timer_open) {
        uv_timer_init(n->loop, &bg.timer);
        bg.timer_open = true;
    }
    report_build_schedule(n, 0);
    if (!words_bg.timer_open) {
        uv_timer_init(n->loop, &words_bg.timer);
        words_bg.timer_open = true;
    }
    words_build_schedule(n, TW_WORDIDX_REBUILD_WAIT_MS);
}

static void build_timer_closed(uv_handle_t *h) { (void)h; }

void tw_ops_stop(tw_node *n)
{
    (void)n;
    build_drop();
    bg.active = false;
    memset(waits.ended, 0, sizeof waits.ended);     /* the doors close what they hold */
    if (bg.timer_open) {
        uv_close((uv_handle_t *)&bg.timer, build_timer_closed);
        bg.timer_open = false;
    }
    if (words_bg.timer_open) {
        uv_close((uv_handle_t *)&words_bg.timer, build_timer_closed);
        words_bg.timer_open = false;
    }
}

void tw_ops_report_counts(uint64_t *made, uint64_t *updated)
{
    *made = report_rebuilds;
    *updated = report_updates;
}

bool tw_ops_report_building(uint64_t *records)
{
    if (records) *records = bg.active && bg.r ? bg.records : 0;
    return bg.active;
}

/* Finishes a build under way (or scheduled) now, for a query that needs
 * its report. */
static int report_build_wait(tw_node *n)
{
    if (waits.may && bg.active && bg.n == n && bg.timer_open) {
        /* The door holds the request until the build ends; a build that
         * waits for the writes to pause, or was only begun (report_scan),
         * starts now. */
        waits.wanted = true;
        if (!bg.inflight && !n->stopping) uv_timer_start(&bg.timer, on_build_timer, 0, 0);
        return TW_EBUSY;
    }
    int rc = 0;
    while (bg.active && bg.n == n && rc == 0) rc = report_build_step(n, true);
    if (bg.timer_open) uv_timer_stop(&bg.timer);
    return rc;
}

static int report_scan(tw_node *n, const tw_val *args, tw_report **rep, tw_op_err *e)
{
    uint64_t months, at;
    int rc;
    if ((rc = arg_uint(args, "dormant_months", TW_REPORT_DORMANT_MONTHS_DEFAULT, TW_REPORT_DORMANT_MONTHS_MAX, &months, e)) ||
        (rc = arg_uint(args, "at_ms", 0, UINT64_MAX, &at, e)))
        return rc;
    tw_report_opts o = { .now_ms = at ? at : tw_now_ms(), .dormant_months = (uint32_t)months,
                         .identity = report_identity, .identity_ctx = n };
    if ((rc = report_build_wait(n))) {
        if (waits.wanted) return rc;
        FAIL(rc, "cannot compute the report: %s", tw_strerror(rc));
    }
    uint64_t sg = tw_store_generation(n->store), ag = tw_admit_generation(n);
    if (!((report_cache.r && report_cache.n == n && report_cache.store_gen == sg && report_cache.admit_gen == ag) ||
          (report_cache.r && report_update(n, sg, ag)))) {
        /* Made here and now, from every record, in one go. */
        if ((rc = report_build_begin(n)) || (rc = report_build_wait(n)))
            FAIL(rc, "cannot compute the report: %s", tw_strerror(rc));
        if (!report_cache.r || report_cache.store_gen != sg || report_cache.admit_gen != ag)
            FAIL(TW_ESTATE, "cannot compute the report");
    }
    tw_report_set_opts(report_cache.r, &o);
    *rep = report_cache.r;
    return 0;
}

/* The report records are marked from (see "marks"): of the place and group
 * records alone, or with the links too when full; compacted. */
static int marks_build(tw_node *n, bool full, tw_report **out)
{
    tw_report_opts o = { .now_ms = tw_now_ms(), .dormant_months = TW_REPORT_DORMANT_MONTHS_DEFAULT };
    report_ctx c = { .n = n, .r = NULL };
    int rc = tw_report_new(&c.r, &o);
    if (rc) return rc;
    static const char *const kinds[] = { "place", "group", "link" };
    for (int k = 0; k < (full ? 3 : 2) && rc == 0; k++)
        rc = tw_store_scan_entries(n->store, kinds[k], strlen(kinds[k]), NULL, 0, report_fn, &c);
    if (rc > 0) rc = c.err;
    if (rc == 0) rc = tw_report_finish(c.r);
    if (rc == 0) rc = tw_report_compact(c.r);
    if (rc) {
        tw_report_free(c.r);
        return rc;
    }
    *out = c.r;
    return 0;
}

static int op_stats(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    tw_report *r;
    kinds_ctx kc = { .n = 0 };
    uint64_t hidden;
    bool filtered;
    /* "kinds": records and tombstones per kind, as in status (hidden
     * records left out, like every table of the report); counted first, as
     * a full count may end the batch in flight, whose reports touch the
     * report kept (r). */
    tw_buf_init(&kc.b);
    int rc = kind_counts(n, &kc, &hidden, &filtered);
    if (rc) {
        tw_buf_free(&kc.b);
        FAIL(rc, "cannot read the store: %s", tw_strerror(rc));
    }
    if ((rc = report_scan(n, args, &r, e))) {
        tw_buf_free(&kc.b);
        return rc;
    }
    tw_buf extra;
    tw_buf_init(&extra);
    if (rc == 0 && !(rc = tw_mpw_cstr(&extra, "kinds")) && !(rc = tw_mpw_map(&extra, kc.n)) &&
        !(rc = tw_buf_put(&extra, kc.b.p, kc.b.len)))
        rc = tw_report_stats(r, extra.p, extra.len, 1, out);
    tw_buf_free(&extra);
    tw_buf_free(&kc.b);
    return rc;
}

static int op_gaps(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    tw_report *r;
    int rc = report_scan(n, args, &r, e);
    if (rc) return rc;
    return tw_report_gaps(r, arg_bool(args, "counts_only"), out);
}

/* {"aggregate","at_ms","gaps","governorates","names","stats"}: the reports
 * from one scan; with "aggregate" true, counts only (no names, references or
 * contact fields): no "governorates" or "names". */
static int op_report(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    tw_report *r;
    bool agg = arg_bool(args, "aggregate");
    uint64_t at;
    int rc = report_scan(n, args, &r, e);
    if (rc) return rc;
    if ((rc = arg_uint(args, "at_ms", 0, UINT64_MAX, &at, e))) return rc;
    if (!(rc = tw_mpw_map(out, agg ? 4 : 6)) && !(rc = tw_mpw_cstr(out, "aggregate")) && !(rc = tw_mpw_bool(out, agg)) &&
        !(rc = tw_mpw_cstr(out, "at_ms")) && !(rc = tw_mpw_uint(out, at ? at : tw_now_ms())) &&
        !(rc = tw_mpw_cstr(out, "gaps")) && !(rc = tw_report_gaps(r, agg, out)) &&
        (agg || (!(rc = tw_mpw_cstr(out, "governorates")) && !(rc = tw_report_governorates(r, out)) &&
                 !(rc = tw_mpw_cstr(out, "names")) && !(rc = tw_report_names(r, out)))) &&
        !(rc = tw_mpw_cstr(out, "stats")))
        rc = tw_report_stats(r, NULL, 0, 0, out);
    return rc;
}

/* ------------------------------------------------------------ peers */

static int op_peers(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    int rc = tw_net_encode_peers(n, out);
    if (rc) FAIL(rc, "cannot list peers: %s", tw_strerror(rc));
    return 0;
}

static int addr_arg(const tw_val *args, char *addr, tw_op_err *e)
{
    const char *a;
    size_t al;
    int rc = tw_op_arg_str(args, "address", true, &a, &al, e);
    if (rc) return rc;
    if (al >= TW_ADDR_MAX) FAIL(TW_EINVAL, "address too long");
    memcpy(addr, a, al);
    addr[al] = 0;
    return 0;
}

static int op_peers_add(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    char addr[TW_ADDR_MAX];
    int rc = addr_arg(args, addr, e);
    if (rc || (rc = tw_net_peer_add(n, addr, e->msg, sizeof e->msg))) return rc;
    return tw_mpw_map(out, 0);
}

static int op_peers_remove(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    char addr[TW_ADDR_MAX];
    int rc = addr_arg(args, addr, e);
    if (rc || (rc = tw_net_peer_remove(n, addr, e->msg, sizeof e->msg))) return rc;
    return tw_mpw_map(out, 0);
}

static int op_sync(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    unsigned k = tw_net_sync_now(n);
    int rc;
    if ((rc = tw_mpw_map(out, 2)) || (rc = tw_mpw_cstr(out, "started")) || (rc = tw_mpw_uint(out, k)) ||
        (rc = tw_mpw_cstr(out, "at_ms")) || (rc = tw_mpw_uint(out, tw_now_ms())))
        return rc;
    return 0;
}

/* --------------------------------------------------------------- bundles */

static int op_bundle_export(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    return tw_bundle_op_export(n, args, out, e->msg, sizeof e->msg);
}

static int op_bundle_import(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    return tw_bundle_op_import(n, args, out, e->msg, sizeof e->msg);
}

static int op_bundle_result(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    return tw_bundle_op_result(n, args, out, e->msg, sizeof e->msg);
}

/* ------------------------------------------------------------ key backup */

/* twin derives the file key from the passphrase itself (proto/PROTOCOL.md,
 * "Identity backup files"): Argon2id takes about a second and 256 MiB, which
 * must not stall the event loop, and the passphrase then never reaches the
 * daemon.  Here the seed is only sealed under the key twin sends. */
static int op_key_export(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    const tw_val *k = tw_v_get(args, "key"), *s = tw_v_get(args, "salt");
    uint64_t ops, mem;
    uint8_t nonce[TW_KEYFILE_NONCE_LEN], file[TW_KEYFILE_SIZE];
    int rc;
    if (!k || k->type != TW_BIN || k->len != TW_KEYFILE_KEY_LEN)
        FAIL(TW_EINVAL, "argument \"key\" must be %u bytes", TW_KEYFILE_KEY_LEN);
    if (!s || s->type != TW_BIN || s->len != TW_KEYFILE_SALT_LEN)
        FAIL(TW_EINVAL, "argument \"salt\" must be %u bytes", TW_KEYFILE_SALT_LEN);
    if ((rc = arg_uint(args, "opslimit", 0, UINT32_MAX, &ops, e)) ||
        (rc = arg_uint(args, "memlimit", 0, UINT64_MAX, &mem, e)))
        return rc;
    if ((rc = tw_keyfile_params_check(ops, mem)))
        FAIL(rc, "Argon2id parameters out of bounds (opslimit %u..%u, memlimit %u..%u bytes, a multiple of 1024)",
             TW_KEYFILE_OPSLIMIT_MIN, TW_KEYFILE_OPSLIMIT_MAX, TW_KEYFILE_MEMLIMIT_MIN, TW_KEYFILE_MEMLIMIT_MAX);
    randombytes_buf(nonce, sizeof nonce);
    /* A libsodium Ed25519 secret key is the seed followed by the public key. */
    if ((rc = tw_keyfile_seal(file, (const uint8_t *)k->v.s, n->sk, (const uint8_t *)s->v.s, ops, mem, nonce)))
        FAIL(rc, "cannot seal the key: %s", tw_strerror(rc));
    tw_info("node", "node identity exported, encrypted, to a control client (twin key export)");
    if ((rc = tw_mpw_map(out, 2)) || (rc = tw_mpw_cstr(out, "file")) || (rc = tw_mpw_bin(out, file, sizeof file)) ||
        (rc = put_kv_str(out, "node", n->keytext, strlen(n->keytext))))
        return rc;
    return 0;
}

/* -------------------------------------------------------------- dispatch */

typedef int (*op_fn)(tw_node *, const tw_val *, tw_buf *, tw_op_err *);
/* ----------------------------------------------------------------- trust */

/* Whether a vouch by this node admits anyone now: it must be admitted, at
 * a depth below the limit. */
static bool vouch_counts(tw_node *n, char *note, size_t cap)
{
    char name[TW_STR_MAX + 1];
    unsigned depth = 0;
    int role;
    note[0] = 0;
    if (tw_admit_is_open(n)) {
        snprintf(note, cap, "open network (no root keys): vouches count once the network has roots");
        return false;
    }
    if (!tw_admit_member(n, n->pk, name, sizeof name, &depth, &role)) {
        snprintf(note, cap, "this node is not admitted itself: its vouches count once a member vouches for it");
        return false;
    }
    if (depth >= tw_admit_max_depth(n)) {
        snprintf(note, cap, "this node is at depth %u, the network's vouch_depth: its vouches admit no one", depth);
        return false;
    }
    return true;
}

/* Writes this node's vouch record for key: admission or revocation. */
static int write_vouch(tw_node *n, const char *keytext, size_t kl, const char *name, size_t nl, const char *role,
                       bool revoked, tw_buf *out, tw_op_err *e)
{
    tw_arena a;
    tw_val body;
    tw_write_result res;
    size_t bad;
    char note[160];
    tw_arena_init(&a, 0);
    uint32_t k = 2 + (role != NULL) + revoked;
    int rc = tw_v_map(&a, &body, k);
    if (rc) { tw_arena_free(&a); FAIL(rc, "out of memory"); }
    uint32_t i = 0;
    body.v.map[i].k = tw_v_cstr("key");
    body.v.map[i++].v = tw_v_str(keytext, kl);
    body.v.map[i].k = tw_v_cstr("name");
    body.v.map[i++].v = tw_v_str(name, nl);
    if (role) { body.v.map[i].k = tw_v_cstr("role"); body.v.map[i++].v = tw_v_cstr(role); }
    if (revoked) { body.v.map[i].k = tw_v_cstr("revoked"); body.v.map[i++].v = tw_v_bool(true); }
    tw_record_in r = { "vouch", 5, keytext, kl, &body };
    rc = tw_node_write(n, &r, 1, &res, &bad, e->msg, sizeof e->msg);
    tw_arena_free(&a);
    if (rc) return rc;
    bool counts = vouch_counts(n, note, sizeof note);
    tw_info("ops", "%s %.*s", revoked ? "revoked" : "vouched for", (int)kl, keytext);
    uint8_t key[TW_KEY_LEN];
    tw_keytext_decode(key, TW_KEYTEXT_PREFIX, keytext, kl);
    if ((rc = tw_mpw_map(out, 5)) || (rc = tw_mpw_cstr(out, "record")) || (rc = write_result(out, &res, NULL)) ||
        (rc = tw_mpw_cstr(out, "counts")) || (rc = tw_mpw_bool(out, counts)) ||
        (rc = tw_mpw_cstr(out, "note")) || (rc = tw_mpw_cstr(out, note)) ||
        (rc = tw_mpw_cstr(out, "admitted")) || (rc = tw_mpw_bool(out, tw_node_visible(n, key))) ||
        (rc = tw_mpw_cstr(out, "why")) || (rc = tw_mpw_uint(out, (uint64_t)tw_admit_why(n, key))))
        return rc;
    return 0;
}

static int key_arg(tw_node *n, const tw_val *args, const char **kt, size_t *kl, tw_op_err *e)
{
    uint8_t key[TW_KEY_LEN];
    int rc = tw_op_arg_str(args, "key", true, kt, kl, e);
    if (rc) return rc;
    if (tw_keytext_decode(key, TW_KEYTEXT_PREFIX, *kt, *kl))
        FAIL(TW_EINVAL, "key: \"%.*s\" is not a valid node key (twk_..., checksum included)", (int)(*kl > 80 ? 80 : *kl), *kt);
    if (memcmp(key, n->pk, TW_KEY_LEN) == 0) FAIL(TW_EINVAL, "key: a node cannot vouch for or revoke itself");
    return 0;
}

static int op_vouch(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    const char *kt, *name, *role;
    size_t kl, nl, rl;
    int rc;
    if ((rc = key_arg(n, args, &kt, &kl, e)) || (rc = tw_op_arg_str(args, "name", true, &name, &nl, e)) ||
        (rc = tw_op_arg_str(args, "role", false, &role, &rl, e)))
        return rc;
    if (role && !((rl == 6 && memcmp(role, "member", 6) == 0) || (rl == 3 && memcmp(role, "hub", 3) == 0)))
        FAIL(TW_EINVAL, "role: \"%.*s\" is not member or hub", (int)(rl > 40 ? 40 : rl), role);
    return write_vouch(n, kt, kl, name, nl, role && rl == 3 ? "hub" : NULL, false, out, e);
}

static int op_revoke(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    const char *kt;
    size_t kl;
    int rc;
    if ((rc = key_arg(n, args, &kt, &kl, e))) return rc;
    /* The revocation keeps the name and role of this node's vouch, else
     * the name the network knows the key by. */
    char name[TW_STR_MAX + 1] = "";
    const char *role = NULL;
    uint8_t key[TW_KEY_LEN], id[TW_ID_LEN];
    uint64_t ts;
    tw_keytext_decode(key, TW_KEYTEXT_PREFIX, kt, kl);
    if (tw_store_slot(n->store, "vouch", 5, n->pk, kt, kl, id, &ts) == 0) {
        tw_buf env;
        tw_arena a;
        tw_entry en;
        tw_buf_init(&env);
        tw_arena_init(&a, 0);
        if (tw_store_get(n->store, id, &env) == 0 && tw_entry_parse_known(env.p, env.len, id, &a, &en) == 0 &&
            en.body.type == TW_MAP) {
            const tw_val *nv = tw_v_get(&en.body, "name"), *rv = tw_v_get(&en.body, "role");
            if (nv && nv->type == TW_STR) snprintf(name, sizeof name, "%.*s", (int)nv->len, nv->v.s);
            if (rv && rv->type == TW_STR && rv->len == 3 && memcmp(rv->v.s, "hub", 3) == 0) role = "hub";
        }
        tw_buf_free(&env);
        tw_arena_free(&a);
    }
    unsigned depth;
    int r;
    if (!name[0]) tw_admit_member(n, key, name, sizeof name, &depth, &r);
    if (!name[0]) snprintf(name, sizeof name, "revoked key");
    return write_vouch(n, kt, kl, name, strlen(name), role, true, out, e);
}

static int op_members(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    int rc = tw_admit_encode_members(n, out);
    if (rc) FAIL(rc, "cannot list the members: %s", tw_strerror(rc));
    return 0;
}

/* ----------------------------------------------------------- invitations */

static int op_invite(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    return tw_ops_invite(n, args, out, e);
}

static int op_join(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    return tw_ops_join(n, args, out, e);
}

/* ------------------------------------------------------- web interface */

/* A one-time login URL for the web interface (daemon/http.c).  The web
 * door refuses this op: only the control socket's caller may log in. */
static int op_ui_login(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    uint64_t ttl;
    char url[TW_ADDR_MAX + 128];
    int rc = arg_uint(args, "ttl_s", TW_HTTP_TOKEN_TTL_S, UINT32_MAX, &ttl, e);
    if (rc) return rc;
    if ((rc = tw_http_login_token(n, (unsigned)ttl, url, sizeof url, e->msg, sizeof e->msg))) return rc;
    rc = tw_mpw_map(out, 2);
    if (!rc) rc = tw_mpw_kv_cstr(out, "url", url);
    if (!rc) rc = tw_mpw_kv_uint(out, "expires_s", ttl);
    sodium_memzero(url, sizeof url);
    return rc;
}

static const char *const ftype_names[] = {
    [TW_FT_STR] = "str", [TW_FT_TEXT] = "text", [TW_FT_BOOL] = "bool", [TW_FT_UINT] = "uint",
    [TW_FT_ENUM] = "enum", [TW_FT_CODE] = "code", [TW_FT_DATE] = "date", [TW_FT_STRLIST] = "list",
    [TW_FT_KEY] = "key", [TW_FT_URL] = "url", [TW_FT_EMAIL] = "email",
};

static int put_codes(tw_buf *out, const char *name, const tw_code *c, size_t nc)
{
    int rc = tw_mpw_cstr(out, name);
    if (!rc) rc = tw_mpw_arr(out, (uint32_t)nc);
    for (size_t i = 0; !rc && i < nc; i++) {
        if ((rc = tw_mpw_map(out, 3)) || (rc = tw_mpw_kv_cstr(out, "code", c[i].code)) ||
            (rc = tw_mpw_kv_cstr(out, "name", c[i].name)) || (rc = tw_mpw_kv_cstr(out, "group", c[i].group)))
            break;
    }
    return rc;
}

/* The record schemas of proto/schema.c, for forms: kinds, their fields
 * (type, required, enumeration values, help) and the code lists. */
static int op_schema(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    size_t nk, ng, nr;
    const tw_kind_schema *k = tw_schema_kinds(&nk);
    const tw_code *gov = tw_codes_governorates(&ng), *reg = tw_codes_uk_regions(&nr);
    int rc = tw_mpw_map(out, 3);
    if (!rc) rc = tw_mpw_cstr(out, "kinds");
    if (!rc) rc = tw_mpw_arr(out, (uint32_t)nk);
    for (size_t i = 0; !rc && i < nk; i++) {
        if ((rc = tw_mpw_map(out, 3)) || (rc = tw_mpw_kv_cstr(out, "kind", k[i].kind)) ||
            (rc = tw_mpw_kv_cstr(out, "help", k[i].help ? k[i].help : "")) ||
            (rc = tw_mpw_cstr(out, "fields")) || (rc = tw_mpw_arr(out, (uint32_t)k[i].nfields)))
            break;
        for (size_t j = 0; !rc && j < k[i].nfields; j++) {
            const tw_field *f = &k[i].fields[j];
            size_t nv = 0;
            while (f->values && f->values[nv]) nv++;
            if ((rc = tw_mpw_map(out, 5)) || (rc = tw_mpw_kv_cstr(out, "name", f->name)) ||
                (rc = tw_mpw_kv_cstr(out, "type", ftype_names[f->type])) ||
                (rc = tw_mpw_cstr(out, "required")) || (rc = tw_mpw_bool(out, f->required)) ||
                (rc = tw_mpw_kv_cstr(out, "help", f->help ? f->help : "")) ||
                (rc = tw_mpw_cstr(out, "values")) || (rc = tw_mpw_arr(out, (uint32_t)nv)))
                break;
            for (size_t v = 0; !rc && v < nv; v++) rc = tw_mpw_cstr(out, f->values[v]);
        }
    }
    if (!rc) rc = put_codes(out, "governorates", gov, ng);
    if (!rc) rc = put_codes(out, "uk_regions", reg, nr);
    return rc;
}

/* Associations and their keys: daemon/ops_ident.c. */
static int op_device_add(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e) { return tw_ops_device_add(n, args, out, e); }
static int op_device_join(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e) { return tw_ops_device_join(n, args, out, e); }
static int op_device_accept(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e) { return tw_ops_device_accept(n, args, out, e); }
static int op_device_list(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e) { return tw_ops_device_list(n, args, out, e); }
static int op_device_revoke(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e) { return tw_ops_device_revoke(n, args, out, e); }
static int op_key_plan(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e) { return tw_ops_key_plan(n, args, out, e); }
static int op_key_rotate(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e) { return tw_ops_key_rotate(n, args, out, e); }
static int op_key_recover(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e) { return tw_ops_key_recover(n, args, out, e); }
/* The web interface's plan and rotation: daemon/ops_identweb.c. */
static int op_key_plan_sealed(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e) { return tw_ops_key_plan_sealed(n, args, out, e); }
static int op_key_rotate_sealed(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e) { return tw_ops_key_rotate_sealed(n, args, out, e); }

static const struct { const char *name; op_fn fn; } ops[] = {
    { "status", op_status },   { "publish", op_publish }, { "delete", op_delete },
    { "list", op_list },       { "show", op_show },       { "search", op_search },
    { "import", op_import },   { "digest", op_digest },   { "stats", op_stats },
    { "gaps", op_gaps },       { "report", op_report },
    { "peers", op_peers },     { "peers_add", op_peers_add }, { "peers_remove", op_peers_remove },
    { "sync", op_sync },
    { "bundle_export", op_bundle_export }, { "bundle_import", op_bundle_import }, { "bundle_result", op_bundle_result },
    { "key_export", op_key_export },
    { "vouch", op_vouch },     { "revoke", op_revoke },   { "members", op_members },
    { "invite", op_invite },   { "join", op_join },
    { "device_add", op_device_add }, { "device_join", op_device_join },
    { "device_accept", op_device_accept }, { "device_list", op_device_list },
    { "device_revoke", op_device_revoke }, { "key_plan", op_key_plan },
    { "key_rotate", op_key_rotate }, { "key_recover", op_key_recover },
    { "key_plan_sealed", op_key_plan_sealed }, { "key_rotate_sealed", op_key_rotate_sealed },
    { "ui_login", op_ui_login }, { "schema", op_schema },
};

static int dispatch(tw_node *n, const char *op, size_t oplen, const tw_val *args, tw_buf *out, tw_op_err *e,
                    bool *held)
{
    e->msg[0] = 0;
    e->index = -1;
    if (held) *held = false;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strlen(ops[i].name) == oplen && memcmp(ops[i].name, op, oplen) == 0) {
            size_t mark = out->len;
            waits.may = held != NULL;
            waits.wanted = false;
            int rc = ops[i].fn(n, args, out, e);
            bool wanted = waits.wanted;
            waits.may = waits.wanted = false;
            n->last_request_ms = tw_now_ms();
            if (wanted) {
                /* It needs the report being made: held, or told to retry.
                 * Whatever it wrote is dropped; it runs again. */
                out->len = mark;
                e->index = -1;
                if (waits.held >= TW_REPORT_WAITERS_MAX) {
                    snprintf(e->msg, sizeof e->msg, "busy: twind is making the figures of the registry (after its "
                             "start or a change), and %u requests already wait for them; retry in a moment",
                             TW_REPORT_WAITERS_MAX);
                    return TW_EBUSY;
                }
                waits.held++;
                *held = true;
                e->msg[0] = 0;
                return 0;
            }
            if (rc) {
                out->len = mark;
                if (!e->msg[0]) snprintf(e->msg, sizeof e->msg, "%s", tw_strerror(rc));
            }
            return rc;
        }
    snprintf(e->msg, sizeof e->msg, "unknown operation \"%.*s\"", (int)(oplen > 64 ? 64 : oplen), op);
    return TW_EINVAL;
}

int tw_ops_dispatch(tw_node *n, const char *op, size_t oplen, const tw_val *args,
                    tw_buf *out, tw_op_err *e)
{
    return dispatch(n, op, oplen, args, out, e, NULL);
}

int tw_ops_dispatch_held(tw_node *n, const char *op, size_t oplen, const tw_val *args,
                         tw_buf *out, tw_op_err *e, bool *held)
{
    return dispatch(n, op, oplen, args, out, e, held);
}

void tw_ops_held_done(void)
{
    if (waits.held) waits.held--;
}

void tw_ops_held_dropped(void)
{
    if (waits.held) waits.held--;
    waits.dropped++;
}

unsigned tw_ops_held(void)
{
    return waits.held;
}

void tw_ops_on_report_ended(void (*fn)(tw_node *n, int rc))
{
    size_t free_slot = SIZE_MAX;
    for (size_t i = 0; i < sizeof waits.ended / sizeof waits.ended[0]; i++) {
        if (waits.ended[i] == fn) return;
        if (!waits.ended[i] && free_slot == SIZE_MAX) free_slot = i;
    }
    if (free_slot != SIZE_MAX) waits.ended[free_slot] = fn;
}
