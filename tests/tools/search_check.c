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
#include "searchpage.h"

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

static void finish(seen *s) { sp_tail(s->q, s->total, &s->out); }

typedef struct page { sp_page sp; int err; } page;

static int page_fn(void *ctx, const uint8_t *key, size_t klen, const tw_entry *e)
{
    (void)key; (void)klen;
    page *p = ctx;
    if (e->body.type != TW_MAP) return 0;
    return (p->err = sp_page_add(&p->sp, e)) ? 1 : 0;
}

/* The page, its total and suggestions as text; how the index read it. */
static int page_text(tw_store *st, const char *text, size_t n, size_t limit, bool index, tw_buf *out, bool *read_page)
{
    page p = { .sp.limit = limit };
    if (tw_search_new(&p.sp.q, text, n)) return -1;
    sp_page_start(&p.sp);
    bool used = false;
    int rc = index ? tw_wordidx_search_topk(st, p.sp.q, page_fn, &p, &p.sp.total, &p.sp.tk, &used)
                   : tw_store_scan_entries(st, NULL, 0, NULL, 0, page_fn, &p);
    *read_page = p.sp.tk.active;
    sp_page_text(&p.sp, out);
    tw_search_free(p.sp.q);
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
    static const size_t limits[] = { 0, 1, 3, SP_PAGE_MAX };
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

    printf("pages of 0, 1, 3 and %d: %u read best bound first, %u differ\n", SP_PAGE_MAX, pages, page_differ);
    printf("%u queries: %u matched, %u suggested, %u through the index, %u differ\n", queries, matched, suggested,
           used_count, differ);
    tw_store_close(st);
    return differ || page_differ ? 1 : 0;
}
