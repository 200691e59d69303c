/*
 * Checks the search word index of a stopped twind's store against reading
 * every record (tests/integration/t_search_index.sh):
 *
 *   search_check DATA_DIR < QUERIES      (one query a line)
 *
 * For each query, scores every record of the store as `search` did before
 * the index, and the records the index gives (daemon/wordidx.c), and
 * compares what `search` answers from them: every match with its score in
 * order, the total, and the "did you mean" names when nothing matched.
 * Prints each query that differs, then one line of counts:
 *   "N queries: M matched, S suggested, U through the index, D differ".
 * Exit status 1 if any differs (or the store cannot be read).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lmdb.h>
#include <sodium.h>

#include "twin/entry.h"
#include "twin/err.h"
#include "twin/search.h"
#include "log.h"
#include "store.h"
#include "wordidx.h"

typedef struct seen { tw_search *q; tw_buf out; uint64_t total; int err; } seen;

static int seen_fn(void *ctx, const uint8_t *key, size_t klen, const tw_entry *e)
{
    (void)key; (void)klen;
    seen *s = ctx;
    uint32_t score;
    if (e->body.type != TW_MAP) return 0;
    if ((s->err = tw_search_score(s->q, &e->body, e->kind, e->kind_len, e->slot, e->slot_len, s->total == 0, &score)))
        return 1;
    if (!score) return 0;
    s->total++;
    char line[128];
    int n = snprintf(line, sizeof line, "%.*s %.*s %u\n", (int)e->kind_len, e->kind, (int)e->slot_len, e->slot, score);
    return tw_buf_put(&s->out, line, (size_t)n) ? 1 : 0;
}

static void finish(seen *s)
{
    char line[512];
    int n = snprintf(line, sizeof line, "total %llu\n", (unsigned long long)s->total);
    tw_buf_put(&s->out, line, (size_t)n);
    for (size_t i = 0; s->total == 0 && i < tw_search_suggestion_count(s->q); i++) {
        const tw_search_suggestion *g = tw_search_suggestion_at(s->q, i);
        n = snprintf(line, sizeof line, "did you mean %s (%s %s) %u %u\n", g->text, g->kind, g->slot, g->missing,
                     g->distance);
        tw_buf_put(&s->out, line, (size_t)n);
    }
}

/* A page of `limit` best matches, kept as search does (ops.c): by score,
 * then scan order; the place in scan order is the index's when it reads
 * a page (tk.active), else the count of matches seen. */
#define PAGE_MAX 20
typedef struct hit { uint32_t score, seq; uint8_t id[TW_ID_LEN]; char line[96]; } hit;
typedef struct page {
    tw_search *q;
    hit h[PAGE_MAX];
    size_t n, limit;
    uint32_t seq;
    uint64_t total;
    tw_wordidx_topk tk;
    int err;
} page;

static bool hit_below(const hit *a, const hit *b)
{
    if (a->score != b->score) return a->score < b->score;
    if (a->seq != b->seq) return a->seq > b->seq;
    return memcmp(a->id, b->id, TW_ID_LEN) > 0;     /* one kind and time: by id */
}

static int page_fn(void *ctx, const uint8_t *key, size_t klen, const tw_entry *e)
{
    (void)key; (void)klen;
    page *p = ctx;
    uint32_t score;
    if (e->body.type != TW_MAP) return 0;
    if ((p->err = tw_search_score(p->q, &e->body, e->kind, e->kind_len, e->slot, e->slot_len, p->total == 0, &score)))
        return 1;
    if (!score) return 0;
    p->total++;
    hit x = { .score = score, .seq = p->tk.active ? p->tk.pos : p->seq++ };
    memcpy(x.id, e->id, TW_ID_LEN);
    snprintf(x.line, sizeof x.line, "%.*s %.*s %u\n", (int)e->kind_len, e->kind, (int)e->slot_len, e->slot, score);
    /* Sorted, best first: the worst kept is last. */
    size_t at = p->n;
    while (at > 0 && hit_below(&p->h[at - 1], &x)) at--;
    if (at < p->limit) {
        size_t end = p->n < p->limit ? p->n : p->limit - 1;
        memmove(&p->h[at + 1], &p->h[at], (end - at) * sizeof x);
        p->h[at] = x;
        if (p->n < p->limit) p->n++;
    }
    if (p->limit && p->n == p->limit) {
        p->tk.full = true;
        p->tk.kth_score = p->h[p->n - 1].score;
        p->tk.kth_pos = p->h[p->n - 1].seq;
        const uint8_t *kid = p->h[p->n - 1].id;
        p->tk.kth_idpfx = (uint32_t)kid[0] << 24 | (uint32_t)kid[1] << 16 | (uint32_t)kid[2] << 8 | kid[3];
    }
    return 0;
}

/* The page, its total and suggestions as text; how the index read it. */
static int page_text(tw_store *st, const char *text, size_t n, size_t limit, bool index, tw_buf *out, bool *read_page)
{
    page p = { .limit = limit };
    if (tw_search_new(&p.q, text, n)) return -1;
    if (limit == 0) { p.tk.full = true; p.tk.kth_score = UINT32_MAX; }
    bool used = false;
    int rc = index ? tw_wordidx_search_topk(st, p.q, page_fn, &p, &p.total, &p.tk, &used)
                   : tw_store_scan_entries(st, NULL, 0, NULL, 0, page_fn, &p);
    p.total += p.tk.unread;
    *read_page = p.tk.active;
    for (size_t i = 0; i < p.n; i++) tw_buf_put(out, p.h[i].line, strlen(p.h[i].line));
    char line[512];
    int k = snprintf(line, sizeof line, "total %llu\n", (unsigned long long)p.total);
    tw_buf_put(out, line, (size_t)k);
    for (size_t i = 0; p.total == 0 && i < tw_search_suggestion_count(p.q); i++) {
        const tw_search_suggestion *g = tw_search_suggestion_at(p.q, i);
        k = snprintf(line, sizeof line, "did you mean %s (%s %s) %u %u\n", g->text, g->kind, g->slot, g->missing,
                     g->distance);
        tw_buf_put(out, line, (size_t)k);
    }
    tw_search_free(p.q);
    return rc ? rc : p.err;
}

/* The network id the store was made for (tw_store_open checks it). */
static int read_netid(const char *dir, uint8_t netid[TW_NETID_LEN])
{
    char path[4200];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = { 5, "netid" }, v;
    snprintf(path, sizeof path, "%s/store", dir);
    if (mdb_env_create(&env)) return -1;
    mdb_env_set_maxdbs(env, 8);
    int rc = mdb_env_open(env, path, MDB_RDONLY, 0600);
    if (rc == 0 && (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) == 0) {
        if ((rc = mdb_dbi_open(txn, "meta", 0, &dbi)) == 0 && (rc = mdb_get(txn, dbi, &k, &v)) == 0 &&
            v.mv_size == TW_NETID_LEN)
            memcpy(netid, v.mv_data, TW_NETID_LEN);
        else if (rc == 0)
            rc = -1;
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: search_check DATA_DIR < QUERIES\n"); return 2; }
    if (sodium_init() < 0) return 1;
    tw_log_set_level(TW_LOG_WARN);
    uint8_t netid[TW_NETID_LEN];
    char err[512];
    tw_store *st = NULL;
    if (read_netid(argv[1], netid) || tw_store_open(&st, argv[1], 0, netid, err, sizeof err)) {
        fprintf(stderr, "search_check: cannot open the store of %s\n", argv[1]);
        return 1;
    }
    char line[4096];
    unsigned queries = 0, matched = 0, suggested = 0, used_count = 0, differ = 0, pages = 0, page_differ = 0;
    static const size_t limits[] = { 0, 1, 3, PAGE_MAX };
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strcspn(line, "\n");
        line[n] = 0;
        if (n == 0) continue;
        seen a = { 0 }, b = { 0 };
        if (tw_search_new(&a.q, line, n) || tw_search_new(&b.q, line, n)) {
            tw_search_free(a.q);
            continue;                             /* refused text: nothing to compare */
        }
        tw_buf_init(&a.out);
        tw_buf_init(&b.out);
        bool used = false;
        int ra = tw_store_scan_entries(st, NULL, 0, NULL, 0, seen_fn, &a);
        int rb = tw_wordidx_search(st, b.q, seen_fn, &b, &b.total, &used);
        finish(&a);
        finish(&b);
        queries++;
        matched += a.total > 0;
        suggested += a.total == 0 && tw_search_suggestion_count(a.q) > 0;
        used_count += used;
        if (ra || rb || a.err || b.err || a.out.len != b.out.len || memcmp(a.out.p, b.out.p, a.out.len) != 0) {
            differ++;
            printf("query \"%s\" differs (scan %d, index %d%s):\n-- every record:\n%.*s-- the index:\n%.*s", line, ra, rb,
                   used ? "" : ", index not used", (int)(a.out.len > 2000 ? 2000 : a.out.len), (const char *)a.out.p,
                   (int)(b.out.len > 2000 ? 2000 : b.out.len), (const char *)b.out.p);
        }
        tw_search_free(a.q);
        tw_search_free(b.q);
        tw_buf_free(&a.out);
        tw_buf_free(&b.out);
        /* A page read best bound first, as search does when every record is
         * shown, against the same page of a scan of every record. */
        for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
            tw_buf pa, pb;
            tw_buf_init(&pa);
            tw_buf_init(&pb);
            bool ra_page = false, rb_page = false;
            int r1 = page_text(st, line, n, limits[l], false, &pa, &ra_page);
            int r2 = page_text(st, line, n, limits[l], true, &pb, &rb_page);
            pages += rb_page;
            if (r1 || r2 || pa.len != pb.len || memcmp(pa.p, pb.p, pa.len) != 0) {
                page_differ++;
                printf("query \"%s\" page of %zu differs (scan %d, index %d%s):\n-- every record:\n%.*s-- the index:\n%.*s",
                       line, limits[l], r1, r2, rb_page ? ", read a page" : "", (int)(pa.len > 2000 ? 2000 : pa.len),
                       (const char *)pa.p, (int)(pb.len > 2000 ? 2000 : pb.len), (const char *)pb.p);
            }
            tw_buf_free(&pa);
            tw_buf_free(&pb);
        }
    }

    printf("pages of 0, 1, 3 and %d: %u read best bound first, %u differ\n", PAGE_MAX, pages, page_differ);
    printf("%u queries: %u matched, %u suggested, %u through the index, %u differ\n", queries, matched, suggested,
           used_count, differ);
    tw_store_close(st);
    return differ || page_differ ? 1 : 0;
}
