/* Verification pipeline and batched commits (daemon/ingest.h). */
#include <stdlib.h>
#include <string.h>
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

int tw_ingest_commit_halving(size_t n, size_t min_batch, tw_ingest_commit_fn commit, void *ctx,
                             size_t *done, size_t *commits, size_t *refused)
{
    size_t at = 0, size = n, tried = 0, nrefused = 0;
    int rc = 0;
    if (min_batch == 0) min_batch = 1;
    /* Each refusal halves the size and a refusal at min_batch ends, so at
     * most log2(n / min_batch) + 1 commits are refused. */
    while (at < n) {
        size_t count = n - at < size ? n - at : size;
        tried++;
        rc = commit(ctx, at, count);
        if (rc == 0) { at += count; continue; }
        if (rc == TW_EFULL) nrefused++;
        if (rc != TW_EFULL || count <= min_batch) break;
        size = count / 2 > min_batch ? count / 2 : min_batch;
    }
    if (at == n) rc = 0;
    *done = at;
    if (commits) *commits = tried;
    if (refused) *refused = nrefused;
    return rc;
}

typedef struct put_range { tw_store *store; tw_put *puts; } put_range;

static int put_range_commit(void *ctx, size_t first, size_t count)
{
    put_range *r = ctx;
    return tw_store_put_batch(r->store, r->puts + first, count);
}

/* Stores puts[0, np) in as few transactions as there is room for; returns
 * how many were committed (a prefix) and, if not all, logs once why. */
static size_t commit_puts(tw_ingest *ing, tw_put *puts, size_t np, int *rcp)
{
    put_range r = { ing->node->store, puts };
    size_t done = 0, commits = 0, refused = 0;
    int rc = tw_ingest_commit_halving(np, TW_COMMIT_BATCH_MIN, put_range_commit, &r, &done, &commits, &refused);
    if (rc == TW_EFULL) {
        /* One line per refused batch, with its counts, however many
         * entries it held. */
        char msg[TW_STORE_FULL_TEXT_MAX];
        tw_store_full_text(ing->node->store, tw_store_put_need(ing->node->store, puts + done, np - done),
                           msg, sizeof msg);
        tw_err("ingest", "%s; %zu of %zu received entries stored, %zu not stored (a peer's are asked for again at the next reconciliation, a bundle can be imported again); %zu of %zu commits refused",
               msg, done, np, np - done, refused, commits);
    } else if (rc) {
        tw_err("ingest", "commit of %zu entries failed, %zu stored: %s", np, done, tw_strerror(rc));
    }
    *rcp = rc;
    return done;
}

/* Commits every ready chunk in one or more transactions, then reports. */
static void commit_ready(tw_ingest *ing)
{
    while (ing->ready) {
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

        tw_put *puts = calloc(total ? total : 1, sizeof *puts);
        size_t np = 0;
        for (c = first; c; c = c->next)
            for (size_t k = 0; k < c->n; k++)
                if (c->job->rcs[c->first + k] == 0 && puts) puts[np++].e = &c->ents[k];
        int rc = TW_ENOMEM;
        size_t stored = 0;
        if (puts) stored = commit_puts(ing, puts, np, &rc);
        else tw_err("ingest", "commit of %zu entries failed, none stored: out of memory", total);
        const char *why = rc == TW_EFULL ? "storage full" : rc == TW_ENOMEM ? "out of memory" : "storage error";
        size_t p = 0;
        for (c = first; c; c = c->next) {
            tw_ingest_job *j = c->job;
            for (size_t k = 0; k < c->n; k++) {
                size_t i = c->first + k;
                if (j->rcs[i] != 0) { j->counts.refused++; continue; }
                if (p >= stored) { j->rcs[i] = rc; j->whys[i] = why; j->counts.refused++; p++; continue; }
                tw_put *pt = &puts[p++];
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
        free(puts);
        /* Also after a failed commit: vouches the filter counted are
         * undone by recomputing from the store. */
        tw_admit_settle(ing->node);
        for (c = first; c;) {
            chunk *next = c->next;
            tw_ingest_job *j = c->job;
            chunk_free(c);
            if (--j->chunks_left == 0) job_finish(j);
            c = next;
        }
    }
}

static void ingest_destroy(tw_ingest *ing)
{
    uv_sem_destroy(&ing->verifiers);
    free(ing);
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
    if (ing->ready_entries >= TW_COMMIT_BATCH_MAX || ing->in_flight == 0) commit_ready(ing);
    if (ing->closing && ing->in_flight == 0 && ing->jobs == 0) ingest_destroy(ing);
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
    *out = ing;
    return 0;
}

void tw_ingest_free(tw_ingest *ing)
{
    if (!ing) return;
    ing->closing = true;
    ing->on_stored = NULL;
    if (ing->in_flight == 0 && ing->jobs == 0) ingest_destroy(ing);
}

size_t tw_ingest_pending(const tw_ingest *ing) { return ing->jobs; }

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
