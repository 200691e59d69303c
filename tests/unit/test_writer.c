/*
 * Ingest's writer thread (daemon/ingest.c, top; daemon/store.c, top): the
 * loop answers reads while a batch commits on the writer, a write asked for
 * on the loop meanwhile lands after the batch (whose entries are reported
 * first), and a store that runs out of room refuses what does not fit as
 * before, with nothing reported stored that is not.  Counted, not timed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>
#include <uv.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "config.h"
#include "ingest.h"
#include "log.h"
#include "node.h"
#include "store.h"
#include "wordidx.h"

/* Two full batches and a part of one. */
#define N (2 * TW_COMMIT_BATCH_MAX + 100)
#define JOB 256u

static char root[] = "/tmp/tw_writer_XXXXXX";
static uv_loop_t loop;
static tw_node node;
static uint8_t *all;
static size_t lens[N];
static uint8_t ids[N][TW_ID_LEN];

/* What the callbacks saw. */
static size_t jobs_left, stored_cb, done_stored, done_refused, done_full;

static void on_stored(void *ctx, void *job_ctx, const tw_entry *e, const tw_put *put)
{
    (void)ctx; (void)job_ctx; (void)e; (void)put;
    stored_cb++;
}

static void on_job(void *ctx, const tw_ingest_counts *k, const int *rcs, const char *const *whys,
                   const uint8_t *const *authors, size_t n)
{
    (void)ctx; (void)whys; (void)authors;
    done_stored += k->stored;
    done_refused += k->refused;
    for (size_t i = 0; i < n; i++)
        if (rcs[i] == TW_EFULL) done_full++;
    jobs_left--;
}

static void open_node(uint64_t ceiling)
{
    tw_config cfg;
    char err[512];
    tw_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s/node", root);
    cfg.log_level = TW_LOG_ERROR;
    cfg.map_ceiling = ceiling;
    memset(&node, 0, sizeof node);
    int rc = tw_node_open(&node, &loop, &cfg, err, sizeof err);
    if (rc) fprintf(stderr, "node: %s\n", err);
    assert_int_equal(rc, 0);
}

/* N place records of one author, signed for the node's network. */
static void make_entries(void)
{
    uint8_t pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    all = malloc((size_t)N * 512);
    assert_non_null(all);
    tw_buf env;
    tw_buf_init(&env);
    uint64_t ts0 = tw_now_ms() - N;
    size_t off = 0;
    for (size_t i = 0; i < N; i++) {
        char slot[32], name[64];
        snprintf(slot, sizeof slot, "place-%zu", i);
        snprintf(name, sizeof name, "Writer Test Village %zu", i);
        tw_kv kv[4] = { { tw_v_cstr("name_en"), tw_v_cstr(name) }, { tw_v_cstr("place_kind"), tw_v_cstr("village") },
                        { tw_v_cstr("country"), tw_v_cstr("PS") }, { tw_v_cstr("area"), tw_v_cstr("west_bank") } };
        tw_val body = { .type = TW_MAP, .len = 4, .v.map = kv };
        assert_int_equal(tw_entry_sign(&env, sk, node.netid, "place", 5, slot, strlen(slot), ts0 + i, &body), 0);
        assert_true(env.len <= 512);
        memcpy(all + off, env.p, env.len);
        crypto_generichash(ids[i], TW_ID_LEN, env.p, env.len, NULL, 0);
        lens[i] = env.len;
        off += env.len;
    }
    tw_buf_free(&env);
}

static tw_ingest *submit_all(void)
{
    tw_ingest *ing;
    assert_int_equal(tw_ingest_new(&ing, &node, on_stored, NULL), 0);
    size_t off = 0;
    for (size_t i = 0; i < N; i += JOB) {
        size_t n = N - i < JOB ? N - i : JOB, bytes = 0;
        for (size_t k = 0; k < n; k++) bytes += lens[i + k];
        jobs_left++;
        assert_int_equal(tw_ingest_submit(ing, all + off, lens + i, n, on_job, NULL), 0);
        off += bytes;
    }
    return ing;
}

/* Runs the loop until every job is done, then closes chk (if any) and the
 * ingest (its writer's handle). */
static void run_until_done(tw_ingest *ing, uv_check_t *chk)
{
    for (unsigned guard = 0; jobs_left && guard < 1000000; guard++) uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(jobs_left, 0);
    tw_ingest_free(ing);
    if (chk) uv_close((uv_handle_t *)chk, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(root));
    assert_int_equal(uv_loop_init(&loop), 0);
    jobs_left = stored_cb = done_stored = done_refused = done_full = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tw_node_close(&node);
    assert_int_equal(uv_loop_close(&loop), 0);
    free(all);
    all = NULL;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    assert_int_equal(system(cmd), 0);
    memcpy(root + strlen(root) - 6, "XXXXXX", 6);
    return 0;
}

/* Reads on the loop while a batch is on the writer: each sees the store as
 * of the last batch ended (its count and generation do not move under it),
 * an entry reported stored is found, and none of them waits for the batch
 * (it is still in flight after them). */
static struct {
    unsigned turns_writing, reads, first_found;
    uint64_t gen;
    bool bad;
} q;

static void on_check_query(uv_check_t *h)
{
    (void)h;
    if (!tw_store_writing(node.store)) return;
    q.turns_writing++;
    tw_store_info info;
    uint64_t g = tw_store_generation(node.store);
    tw_store_get_info(node.store, &info);
    /* Admission is off and no slot is written twice: every stored entry
     * counts once, and the loop's count is that of the batches ended. */
    if (info.entries != stored_cb) q.bad = true;
    int has = tw_store_has(node.store, ids[0]);
    if (has < 0) q.bad = true;
    if (stored_cb > 0 && has != 1) q.bad = true;   /* reported stored, so committed */
    if (has == 1) q.first_found++;
    uint8_t d[32];
    uint64_t cnt;
    if (tw_store_digest(node.store, d, &cnt) != 0) q.bad = true;
    if (cnt < stored_cb) q.bad = true;
    /* What twin status shows of the word index, without waiting. */
    tw_wordidx_info wi;
    memset(&wi, 0xff, sizeof wi);
    tw_store_wordidx_stats(node.store, &wi);
    if (wi.limit == SIZE_MAX) q.bad = true;
    if (tw_store_generation(node.store) != g || !tw_store_writing(node.store)) q.bad = true;
    q.reads++;
}

static void test_reads_while_batch_commits(void **state)
{
    (void)state;
    open_node(0);
    make_entries();
    memset(&q, 0, sizeof q);
    uv_check_t chk;
    uv_check_init(&loop, &chk);
    uv_check_start(&chk, on_check_query);
    tw_ingest *ing = submit_all();
    run_until_done(ing, &chk);
    /* At least one turn of the loop per batch ran while it was on the
     * writer, and every read then answered. */
    assert_true(q.turns_writing >= (N + TW_COMMIT_BATCH_MAX - 1) / TW_COMMIT_BATCH_MAX);
    assert_int_equal(q.reads, q.turns_writing);
    assert_false(q.bad);
    assert_true(q.first_found > 0);
    assert_int_equal(done_stored, N);
    assert_int_equal(stored_cb, N);
    assert_int_equal(done_refused, 0);
    assert_false(tw_store_writing(node.store));
    tw_store_info info;
    tw_store_get_info(node.store, &info);
    assert_int_equal(info.entries, N);
    for (size_t i = 0; i < N; i += 97) assert_int_equal(tw_store_has(node.store, ids[i]), 1);
}

/* A write on the loop while a batch is on the writer (a setting, as the
 * peer list is saved) waits for it: when the write returns, the batch has
 * ended and its entries were reported, and the write is the commit after
 * the batch's. */
static struct {
    unsigned writes;
    size_t stored_before, stored_after;
    uint64_t gen_before, gen_after;
    int rc;
    bool writing_after;
} w;

static void on_check_write(uv_check_t *h)
{
    /* The second batch: the first's end trains the store's compression
     * dictionary (a write of its own). */
    if (!tw_store_writing(node.store) || w.writes || stored_cb < TW_COMMIT_BATCH_MAX) return;
    w.writes++;
    w.stored_before = stored_cb;
    w.gen_before = tw_store_generation(node.store);
    w.rc = tw_store_meta_put(node.store, "test.writer", "after", 5);
    w.writing_after = tw_store_writing(node.store);
    w.stored_after = stored_cb;
    w.gen_after = tw_store_generation(node.store);
    uv_check_stop(h);
}

static void test_write_waits_for_batch(void **state)
{
    (void)state;
    open_node(0);
    make_entries();
    memset(&w, 0, sizeof w);
    uv_check_t chk;
    uv_check_init(&loop, &chk);
    uv_check_start(&chk, on_check_write);
    tw_ingest *ing = submit_all();
    run_until_done(ing, &chk);
    assert_int_equal(w.writes, 1);
    assert_int_equal(w.rc, 0);
    assert_false(w.writing_after);
    /* The batch in flight (a large one: a batch is taken once
     * TW_COMMIT_BATCH_MAX entries are ready, and holds them but for a chunk
     * that would pass the limit) was reported before the write returned. */
    assert_true(w.stored_after >= w.stored_before + TW_COMMIT_BATCH_MAX - TW_VERIFY_CHUNK);
    /* Its commit, then the write's: in that order, nothing in between. */
    assert_int_equal(w.gen_after, w.gen_before + 2);
    tw_buf v;
    tw_buf_init(&v);
    assert_int_equal(tw_store_meta_get(node.store, "test.writer", &v), 0);
    assert_int_equal(v.len, 5);
    assert_memory_equal(v.p, "after", 5);
    tw_buf_free(&v);
    assert_int_equal(done_stored, N);
    assert_int_equal(stored_cb, N);
    tw_store_info info;
    tw_store_get_info(node.store, &info);
    assert_int_equal(info.entries, N);
}

/* A map ceiling of 1 MiB: the writer's commits are refused for room, the
 * loop's end says so (the store's full condition), the batch is tried in
 * halves, and what is reported stored is exactly what the store holds. */
static void test_full_store_through_writer(void **state)
{
    (void)state;
    open_node(1u << 20);
    make_entries();
    tw_ingest *ing = submit_all();
    run_until_done(ing, NULL);
    assert_true(done_stored > 0);
    assert_true(done_stored < N);
    assert_int_equal(done_stored + done_refused, N);
    assert_int_equal(done_full, done_refused);
    assert_int_equal(stored_cb, done_stored);
    tw_store_info info;
    tw_store_get_info(node.store, &info);
    assert_int_equal(info.entries, done_stored);
    assert_true(info.full_since != 0);
    assert_true(info.full_ceiling);
    uint8_t d[32];
    uint64_t cnt;
    assert_int_equal(tw_store_digest(node.store, d, &cnt), 0);
    assert_int_equal(cnt, done_stored);
    /* Reads go on, and the store takes no write past its ceiling. */
    assert_false(tw_store_writing(node.store));
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    tw_log_set_level(TW_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reads_while_batch_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_waits_for_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_store_through_writer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
