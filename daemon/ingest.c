/*
 * Verification pipeline and batched commits (daemon/ingest.h).
 *
 * The writer thread.  A batch's store transaction (tw_store_put_batch_txn:
 * the puts and the word index, then the commit and its fdatasync) runs on
 * a thread of each ingest's own, so that the loop goes on reading peers,
 * handing chunks to the verifiers and answering queries while it commits;
 * before, the loop read nothing for the 0.3-0.5 s of a commit and the
 * verifiers ran dry.  Everything else stays on the loop, in order:
 * admission before (tw_admit_filter), and after the commit returned 0 the
 * store's end (tw_store_put_batch_end: its count, generation, full
 * condition, a map grown and the batch run again), then tw_admit_stored,
 * tw_ops_stored, on_stored, tw_admit_settle and the jobs' done callbacks --
 * so nothing is acknowledged before it is committed, and a kill -9 during
 * a batch loses that batch only (asked for again at the next
 * reconciliation).  The rules that keep it simple:
 *
 *  - One batch in flight per ingest (cur), and one per store: the store is
 *    marked busy from tw_store_writer_begin() to its end, and a write, the
 *    word index or a close on the loop meanwhile calls ingest_wait(),
 *    which waits for the writer and ends the batch then and there (its
 *    callbacks run inside that call, before the write that waited), so no
 *    second write transaction is ever begun while one runs.
 *  - The loop and the writer hand a batch over under mu (todo, done); the
 *    writer touches nothing of the batch but its puts and commit result.
 *  - Ending a batch inside ingest_wait() never begins the next one nor
 *    frees the ingest: that is left to the async callback (on_async), which
 *    ingest_wait() wakes.
 *  - Closing: the async handle holds the loop (uv_ref) while a batch is in
 *    flight, so the loop runs until it has ended; the thread is joined and
 *    the handle closed (the ingest freed in its close callback) once no
 *    chunk, job or batch is left.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "twin/schema.h"
#include "admit.h"
#include "ingest.h"
#include "log.h"
#include "ops.h"

typedef struct chunk chunk;

struct tw_ingest_job {
    tw_ingest *ing;
    /* The network the entries must belong to, copied at submission: the
     * verification threads read it while the loop may move the node to
     * another network (twin join). */
    uint8_t netid[TW_NETID_LEN];
    uint8_t *buf;
    size_t *offs, *lens;
    size_t n;
    int *rcs;
    const char **whys;
    char **owned;              /* reasons written for one entry (field named), freed with the job */
    const uint8_t **authors;   /* into buf, where the envelope parsed */
    size_t chunks_left;
    tw_ingest_counts counts;
    tw_ingest_done_fn done;
    void *ctx;
    tw_ingest_job *next;
};

struct chunk {
    uv_work_t work;
    tw_ingest_job *job;
    size_t first, n;           /* entries [first, first + n) of the job */
    tw_arena arena;
    tw_entry *ents;            /* n parsed entries; valid where rcs[i] == 0 */
    uint64_t now;
    chunk *next;               /* in the commit queue */
};

/* A batch of ready chunks being committed, in halves after a refusal for
 * room (halving, as tw_ingest_commit_halving()). */
typedef struct halving { size_t n, min, at, size, tried, refused; } halving;

typedef struct wbatch {
    chunk *first;                 /* its chunks */
    size_t total;                 /* their entries */
    tw_put *puts;                 /* those admitted, to store */
    size_t np;
    halving h;
    size_t count;                 /* puts[h.at, h.at + count) are on the writer */
    unsigned runs;                /* of that range: run again after the map grew */
    int rc;                       /* why the rest of puts was not stored */
    tw_store_commit c;            /* the writer's result */
} wbatch;

struct tw_ingest {
    tw_node *node;
    tw_ingest_stored_fn on_stored;
    void *ctx;
    chunk *ready, **ready_tail;   /* verified, waiting to be committed */
    size_t ready_entries;
    size_t in_flight;             /* chunks in the thread pool */
    size_t jobs;
    bool closing;
    /* Chunks verified at once: one per core (ingest.h).  A pool thread
     * past the limit waits on it; the pool's other work waits no longer
     * than before, when every pool thread was verifying. */
    uv_sem_t verifiers;
    /* The writer thread and its hand-over (top of this file): todo and
     * done, and quit, under mu. */
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t todo_cv, done_cv;
    wbatch *todo, *done;
    bool quit;
    uv_async_t async;             /* the writer ended a batch, or the loop has more to do */
    wbatch *cur;                  /* the batch in flight (loop): &batch, or NULL */
    bool kicked;                  /* on_async is to begin the next batch or end the ingest */
    wbatch batch;
    bool destroyed;
};

static void verify_chunk(uv_work_t *w)
{
    chunk *c = w->data;
    tw_ingest_job *j = c->job;
    uv_sem_wait(&j->ing->verifiers);
    for (size_t k = 0; k < c->n; k++) {
        size_t i = c->first + k;
        tw_entry *e = &c->ents[k];
        const char *why = NULL;
        int rc = tw_entry_parse(j->buf + j->offs[i], j->lens[i], &c->arena, e, &why);
        if (rc == 0) j->authors[i] = e->author;
        if (rc == 0 && (rc = tw_entry_check(e, j->netid, c->now))) {
            why = rc == TW_ENETWORK ? "entry of another network" : "timestamp more than 10 minutes ahead; refused for now";
        }
        if (rc == 0 && (rc = tw_entry_verify(e))) why = "signature does not verify";
        if (rc == 0) {
            /* The record rule publish applies, in the same function, with
             * its field-named reason (proto/SCHEMA.md "One rule for every
             * door"); kinds of newer versions pass uninterpreted. */
            char msg[TW_REASON_MAX];
            if ((rc = tw_schema_check_record(e->kind, e->kind_len, e->slot, e->slot_len, &e->body,
                                             TW_RULES_RECEIPT, msg, sizeof msg))) {
                why = j->owned[i] = strdup(msg);
                if (!why) why = "record fails its schema";
            }
        }
        j->rcs[i] = rc;
        j->whys[i] = rc ? (why ? why : tw_strerror(rc)) : NULL;
    }
    uv_sem_post(&j->ing->verifiers);
}

static void job_finish(tw_ingest_job *j)
{
    tw_ingest *ing = j->ing;
    if (j->done) j->done(j->ctx, &j->counts, j->rcs, j->whys, j->authors, j->n);
    ing->jobs--;
    free(j->buf);
    free(j->offs);
    free(j->lens);
    free(j->rcs);
    free(j->whys);
    if (j->owned) for (size_t i = 0; i < j->n; i++) free(j->owned[i]);
    free(j->owned);
    free(j->authors);
    free(j);
}

static void chunk_free(chunk *c)
{
    tw_arena_free(&c->arena);
    free(c->ents);
    free(c);
}

static void halving_init(halving *h, size_t n, size_t min_batch)
{
    *h = (halving){ .n = n, .min = min_batch ? min_batch : 1, .size = n };
}

/* How many items the next commit takes (from h->at). */
static size_t halving_next(const halving *h)
{
    return h->n - h->at < h->size ? h->n - h->at : h->size;
}

/* The commit of count items ended with rc: whether to go on with the next.
 * Each refusal halves the size and a refusal at min ends, so at most
 * log2(n / min) + 1 commits are refused. */
static bool halving_result(halving *h, size_t count, int rc)
{
    h->tried++;
    if (rc == 0) { h->at += count; return h->at < h->n; }
    if (rc == TW_EFULL) h->refused++;
    if (rc != TW_EFULL || count <= h->min) return false;
    h->size = count / 2 > h->min ? count / 2 : h->min;
    return true;
}

int tw_ingest_commit_halving(size_t n, size_t min_batch, tw_ingest_commit_fn commit, void *ctx,
                             size_t *done, size_t *commits, size_t *refused)
{
    halving h;
    int rc = 0;
    halving_init(&h, n, min_batch);
    while (h.at < n) {
        size_t count = halving_next(&h);
        rc = commit(ctx, h.at, count);
        if (!halving_result(&h, count, rc)) break;
    }
    if (h.at == n) rc = 0;
    *done = h.at;
    if (commits) *commits = h.tried;
    if (refused) *refused = h.refused;
    return rc;
}

/* Logs once why the puts of a batch past b->h.at were not stored. */
static void batch_log(tw_ingest *ing, wbatch *b)
{
    if (b->rc == TW_EFULL) {
        /* One line per refused batch, with its counts, however many
         * entries it held. */
        char msg[TW_STORE_FULL_TEXT_MAX];
        tw_store_full_text(ing->node->store,
                           tw_store_put_need(ing->node->store, b->puts + b->h.at, b->np - b->h.at), msg, sizeof msg);
        tw_err("ingest", "%s; %zu of %zu received entries stored, %zu not stored (a peer's are asked for again at the next reconciliation, a bundle can be imported again); %zu of %zu commits refused",
               msg, b->h.at, b->np, b->np - b->h.at, b->h.refused, b->h.tried);
    } else if (b->rc == TW_ENOMEM && !b->puts) {
        tw_err("ingest", "commit of %zu entries failed, none stored: out of memory", b->total);
    } else if (b->rc) {
        tw_err("ingest", "commit of %zu entries failed, %zu stored: %s", b->np, b->h.at, tw_strerror(b->rc));
    }
}

/* Reports a batch that has ended (committed, refused, or failed), on the
 * loop: counts, the stored callbacks, admission settled, chunks and jobs
 * done.  Begins nothing (see the top of this file). */
static void batch_finish(tw_ingest *ing, wbatch *b)
{
    chunk *c;
    size_t stored = b->h.at;
    int rc = b->rc;
    batch_log(ing, b);
    const char *why = rc == TW_EFULL ? "storage full" : rc == TW_ENOMEM ? "out of memory" : "storage error";
    size_t p = 0;
    for (c = b->first; c; c = c->next) {
        tw_ingest_job *j = c->job;
        for (size_t k = 0; k < c->n; k++) {
            size_t i = c->first + k;
            if (j->rcs[i] != 0) { j->counts.refused++; continue; }
            if (!b->puts || p >= stored) { j->rcs[i] = rc; j->whys[i] = why; j->counts.refused++; p++; continue; }
            tw_put *pt = &b->puts[p++];
            j->rcs[i] = pt->result;
            if (pt->result == 0) {
                j->counts.stored++;
                tw_admit_stored(ing->node, pt->e);
                tw_ops_stored(ing->node, pt);
                if (ing->on_stored) ing->on_stored(ing->ctx, j->ctx, pt->e, pt);
            } else if (pt->result == TW_EEXIST) {
                j->counts.known++;
            } else {
                j->counts.stale++;
            }
        }
    }
    free(b->puts);
    /* Also after a failed commit: vouches the filter counted are
     * undone by recomputing from the store. */
    tw_admit_settle(ing->node);
    for (c = b->first; c;) {
        chunk *next = c->next;
        tw_ingest_job *j = c->job;
        chunk_free(c);
        if (--j->chunks_left == 0) job_finish(j);
        c = next;
    }
}

static void ingest_wait(void *ctx);

/* The writer's handle holds the loop while a batch is in flight or the
 * async callback has work to do, and only then: an idle ingest does not
 * keep a loop running, and a kick is never lost to a loop that thinks it
 * has nothing left. */
static void hold(tw_ingest *ing)
{
    if (ing->cur || ing->kicked) uv_ref((uv_handle_t *)&ing->async);
    else uv_unref((uv_handle_t *)&ing->async);
}

/* Hands puts[h.at, h.at + count) of b to the writer thread. */
static void batch_send(tw_ingest *ing, wbatch *b)
{
    b->count = halving_next(&b->h);
    tw_store_writer_begin(ing->node->store, b->puts + b->h.at, b->count, ingest_wait, ing);
    ing->cur = b;
    hold(ing);
    uv_mutex_lock(&ing->mu);
    ing->todo = b;
    uv_cond_signal(&ing->todo_cv);
    uv_mutex_unlock(&ing->mu);
}

/* The writer has run b's transaction: the store ends it, on the loop; then
 * the next part of the batch goes to the writer, or the batch is over. */
static void batch_result(tw_ingest *ing, wbatch *b)
{
    int rc = tw_store_put_batch_end(ing->node->store, b->puts + b->h.at, b->count, &b->c);
    if (rc == 1) {
        /* The map was grown (or the environment opened again): the same
         * puts once more, as tw_store_put_batch() does, at most 64 times. */
        if (++b->runs < 64) { batch_send(ing, b); return; }
        rc = TW_EIO;
    }
    b->runs = 0;
    if (halving_result(&b->h, b->count, rc)) { batch_send(ing, b); return; }
    b->rc = b->h.at == b->np ? 0 : rc;
    ing->cur = NULL;
    hold(ing);
    batch_finish(ing, b);
}

/* The store's wait (tw_store_writer_begin): ends the batch in flight here,
 * on the loop, waiting for the writer as long as it takes. */
static void ingest_wait(void *ctx)
{
    tw_ingest *ing = ctx;
    while (ing->cur) {
        uv_mutex_lock(&ing->mu);
        while (!ing->done) uv_cond_wait(&ing->done_cv, &ing->mu);
        wbatch *b = ing->done;
        ing->done = NULL;
        uv_mutex_unlock(&ing->mu);
        batch_result(ing, b);
    }
    /* The next batch, or the end, in a later turn. */
    ing->kicked = true;
    hold(ing);
    uv_async_send(&ing->async);
}

static void writer_main(void *arg)
{
    tw_ingest *ing = arg;
#ifdef __linux__
    pthread_setname_np(pthread_self(), "tw-writer");   /* its CPU apart in /proc (contrib/bench-sync.sh) */
#endif
    uv_mutex_lock(&ing->mu);
    for (;;) {
        while (!ing->todo && !ing->quit) uv_cond_wait(&ing->todo_cv, &ing->mu);
        if (!ing->todo) break;
        wbatch *b = ing->todo;
        ing->todo = NULL;
        uv_mutex_unlock(&ing->mu);
        tw_store_put_batch_txn(ing->node->store, b->puts + b->h.at, b->count, &b->c);
        uv_mutex_lock(&ing->mu);
        ing->done = b;
        uv_cond_signal(&ing->done_cv);
        uv_async_send(&ing->async);
    }
    uv_mutex_unlock(&ing->mu);
}

/* Takes the ready chunks, up to TW_COMMIT_BATCH_MAX entries a batch, while
 * no batch is in flight: admission, then the puts to the writer thread.
 * Batches with nothing to store end here. */
static void commit_ready(tw_ingest *ing)
{
    while (ing->ready && !ing->cur) {
        /* Take chunks up to the batch size. */
        chunk *first = ing->ready, *last = first, *c;
        size_t total = first->n;
        while (last->next && total + last->next->n <= TW_COMMIT_BATCH_MAX) { last = last->next; total += last->n; }
        ing->ready = last->next;
        if (!ing->ready) ing->ready_tail = &ing->ready;
        last->next = NULL;
        ing->ready_entries -= total;

        /* Admission: authors who are not admitted (once this batch's own
         * vouches count) are refused before anything is stored. */
        tw_entry **ents = calloc(total ? total : 1, sizeof *ents);
        int *rcs = calloc(total ? total : 1, sizeof *rcs);
        const char **whys = calloc(total ? total : 1, sizeof *whys);
        if (ents && rcs && whys) {
            size_t m = 0;
            for (c = first; c; c = c->next) {
                /* Verified for a network this node has since left (twin join). */
                bool left = memcmp(c->job->netid, ing->node->netid, TW_NETID_LEN) != 0;
                for (size_t k = 0; k < c->n; k++, m++) {
                    if (left && c->job->rcs[c->first + k] == 0) {
                        c->job->rcs[c->first + k] = TW_ENETWORK;
                        c->job->whys[c->first + k] = "entry of the network this node has left";
                    }
                    ents[m] = &c->ents[k];
                    rcs[m] = c->job->rcs[c->first + k];
                }
            }
            tw_admit_filter(ing->node, ents, rcs, whys, total);
            m = 0;
            for (c = first; c; c = c->next)
                for (size_t k = 0; k < c->n; k++, m++)
                    if (rcs[m] != c->job->rcs[c->first + k]) {
                        c->job->rcs[c->first + k] = rcs[m];
                        c->job->whys[c->first + k] = whys[m];
                    }
        } else {
            for (c = first; c; c = c->next)
                for (size_t k = 0; k < c->n; k++)
                    if (c->job->rcs[c->first + k] == 0) {
                        c->job->rcs[c->first + k] = TW_ENOMEM;
                        c->job->whys[c->first + k] = "out of memory";
                    }
        }
        free(ents);
        free(rcs);
        free(whys);

        wbatch *b = &ing->batch;    /* free: no batch is in flight */
        tw_put *puts = calloc(total ? total : 1, sizeof *puts);
        size_t np = 0;
        for (c = first; c; c = c->next)
            for (size_t k = 0; k < c->n; k++)
                if (c->job->rcs[c->first + k] == 0 && puts) puts[np++].e = &c->ents[k];
        memset(b, 0, sizeof *b);
        b->first = first;
        b->total = total;
        b->puts = puts;
        b->np = np;
        halving_init(&b->h, np, TW_COMMIT_BATCH_MIN);
        if (!puts) { b->rc = TW_ENOMEM; batch_finish(ing, b); continue; }
        if (np == 0) { batch_finish(ing, b); continue; }
        batch_send(ing, b);
    }
}

static void ingest_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Once nothing is left (no chunk verifying, no job, no batch): the writer
 * thread is joined and the ingest freed when its handle has closed. */
static void maybe_destroy(tw_ingest *ing)
{
    if (!ing->closing || ing->destroyed || ing->in_flight || ing->jobs || ing->cur) return;
    ing->destroyed = true;
    uv_mutex_lock(&ing->mu);
    ing->quit = true;
    uv_cond_signal(&ing->todo_cv);
    uv_mutex_unlock(&ing->mu);
    uv_thread_join(&ing->thread);
    uv_cond_destroy(&ing->todo_cv);
    uv_cond_destroy(&ing->done_cv);
    uv_mutex_destroy(&ing->mu);
    uv_sem_destroy(&ing->verifiers);
    uv_close((uv_handle_t *)&ing->async, ingest_closed);
}

/* Small enough to wait for more chunks, unless the pool has drained. */
static bool batch_wanted(const tw_ingest *ing)
{
    return ing->ready && (ing->ready_entries >= TW_COMMIT_BATCH_MAX || ing->in_flight == 0);
}

static void on_async(uv_async_t *a)
{
    tw_ingest *ing = a->data;
    ing->kicked = false;
    uv_mutex_lock(&ing->mu);
    wbatch *b = ing->done;
    ing->done = NULL;
    uv_mutex_unlock(&ing->mu);
    if (b) batch_result(ing, b);
    if (!ing->cur && batch_wanted(ing)) commit_ready(ing);
    hold(ing);
    maybe_destroy(ing);
}

static void chunk_done(uv_work_t *w, int status)
{
    chunk *c = w->data;
    tw_ingest *ing = c->job->ing;
    ing->in_flight--;
    if (status == UV_ECANCELED) {
        for (size_t k = 0; k < c->n; k++) {
            c->job->rcs[c->first + k] = TW_ECLOSED;
            c->job->whys[c->first + k] = "shutting down";
        }
    }
    c->next = NULL;
    *ing->ready_tail = c;
    ing->ready_tail = &c->next;
    ing->ready_entries += c->n;
    /* Commit in large transactions while verification keeps the pool busy;
     * commit whatever is ready once the pool has drained. */
    if (batch_wanted(ing)) commit_ready(ing);
    maybe_destroy(ing);
}

int tw_ingest_new(tw_ingest **out, tw_node *node, tw_ingest_stored_fn on_stored, void *ctx)
{
    tw_ingest *ing = calloc(1, sizeof *ing);
    if (!ing) return TW_ENOMEM;
    ing->node = node;
    ing->on_stored = on_stored;
    ing->ctx = ctx;
    ing->ready_tail = &ing->ready;
    unsigned cores = uv_available_parallelism();
    if (uv_sem_init(&ing->verifiers, cores ? cores : 1)) { free(ing); return TW_ENOMEM; }
    if (uv_mutex_init(&ing->mu)) goto fail_sem;
    if (uv_cond_init(&ing->todo_cv)) goto fail_mu;
    if (uv_cond_init(&ing->done_cv)) goto fail_todo;
    if (uv_async_init(node->loop, &ing->async, on_async)) goto fail_done;
    ing->async.data = ing;
    uv_unref((uv_handle_t *)&ing->async);   /* held only while a batch is in flight */
    if (uv_thread_create(&ing->thread, writer_main, ing)) {
        /* The handle frees the ingest once closed. */
        uv_cond_destroy(&ing->done_cv);
        uv_cond_destroy(&ing->todo_cv);
        uv_mutex_destroy(&ing->mu);
        uv_sem_destroy(&ing->verifiers);
        uv_close((uv_handle_t *)&ing->async, ingest_closed);
        return TW_ENOMEM;
    }
    *out = ing;
    return 0;
fail_done:
    uv_cond_destroy(&ing->done_cv);
fail_todo:
    uv_cond_destroy(&ing->todo_cv);
fail_mu:
    uv_mutex_destroy(&ing->mu);
fail_sem:
    uv_sem_destroy(&ing->verifiers);
    free(ing);
    return TW_ENOMEM;
}

void tw_ingest_free(tw_ingest *ing)
{
    if (!ing) return;
    ing->closing = true;
    ing->on_stored = NULL;
    maybe_destroy(ing);
}

size_t tw_ingest_pending(const tw_ingest *ing) { return ing->jobs; }

double tw_ingest_writer_cpu(const tw_ingest *ing)
{
    clockid_t c;
    struct timespec ts;
    if (pthread_getcpuclockid(ing->thread, &c) || clock_gettime(c, &ts)) return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int tw_ingest_submit(tw_ingest *ing, const uint8_t *buf, const size_t *lens, size_t n,
                     tw_ingest_done_fn done, void *ctx)
{
    if (ing->closing) return TW_ECLOSED;
    tw_ingest_job *j = calloc(1, sizeof *j);
    if (!j) return TW_ENOMEM;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += lens[i];
    j->ing = ing;
    memcpy(j->netid, ing->node->netid, TW_NETID_LEN);
    j->n = n;
    j->done = done;
    j->ctx = ctx;
    j->buf = malloc(total ? total : 1);
    j->offs = malloc((n ? n : 1) * sizeof *j->offs);
    j->lens = malloc((n ? n : 1) * sizeof *j->lens);
    j->rcs = calloc(n ? n : 1, sizeof *j->rcs);
    j->whys = calloc(n ? n : 1, sizeof *j->whys);
    j->owned = calloc(n ? n : 1, sizeof *j->owned);
    j->authors = calloc(n ? n : 1, sizeof *j->authors);
    if (!j->buf || !j->offs || !j->lens || !j->rcs || !j->whys || !j->owned || !j->authors) goto nomem;
    memcpy(j->buf, buf, total);
    memcpy(j->lens, lens, n * sizeof *lens);
    for (size_t i = 0, off = 0; i < n; i++) { j->offs[i] = off; off += lens[i]; }
    ing->jobs++;
    if (n == 0) { job_finish(j); return 0; }
    j->chunks_left = (n + TW_VERIFY_CHUNK - 1) / TW_VERIFY_CHUNK;
    uint64_t now = tw_now_ms();
    for (size_t first = 0; first < n; first += TW_VERIFY_CHUNK) {
        chunk *c = calloc(1, sizeof *c);
        size_t cn = n - first < TW_VERIFY_CHUNK ? n - first : TW_VERIFY_CHUNK;
        if (c) c->ents = calloc(cn, sizeof *c->ents);
        if (!c || !c->ents) {
            /* Entries of chunks that cannot be queued are refused, and the
             * job still completes through the normal path. */
            free(c);
            for (size_t k = first; k < first + cn; k++) { j->rcs[k] = TW_ENOMEM; j->whys[k] = "out of memory"; j->counts.refused++; }
            if (--j->chunks_left == 0) job_finish(j);
            continue;
        }
        c->job = j;
        c->first = first;
        c->n = cn;
        c->now = now;
        c->work.data = c;
        tw_arena_init(&c->arena, 0);
        ing->in_flight++;
        if (uv_queue_work(ing->node->loop, &c->work, verify_chunk, chunk_done) != 0) {
            ing->in_flight--;
            for (size_t k = first; k < first + cn; k++) { j->rcs[k] = TW_EINTERNAL; j->whys[k] = "cannot queue work"; j->counts.refused++; }
            chunk_free(c);
            if (--j->chunks_left == 0) job_finish(j);
        }
    }
    return 0;
nomem:
    free(j->buf); free(j->offs); free(j->lens); free(j->rcs); free(j->whys); free(j->owned); free(j->authors); free(j);
    return TW_ENOMEM;
}
