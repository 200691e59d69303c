/*
 * One rule, every door (property test, in process).  Random records from
 * tests/tools/propcase.h -- accepted by construction, or with one fault --
 * go through the three doors a record can enter a node by:
 *   publish  tw_node_write() on node P (what `twin publish`/`import` and the
 *            control socket reach), signed with P's own key;
 *   peer     the ingest pipeline of node R (what a peer's ENTRIES reach),
 *            entries signed by another member's key, in batches;
 *   bundle   the bundle_import/bundle_result operations of node B (what
 *            `twin bundle import` reaches), in bundles of 100.
 * Accepted must mean accepted by all three and refused refused by all
 * three, with the same field-named reason; kinds this version does not
 * know are refused by publish and kept by the other two.  Then every query
 * a volunteer or a hub runs -- list, list KIND, show, search, stats, gaps,
 * report, digest, bundle export -- must still answer, in a control frame
 * the client can read, on both receiving nodes.
 *
 * PROP_CASES (default 2000) and PROP_SEED (default 1) set the run; make fuzz
 * runs more.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>
#include <uv.h>

#include "twin/ctl.h"
#include "twin/err.h"
#include "bundle.h"
#include "config.h"
#include "log.h"
#include "ingest.h"
#include "node.h"
#include "ops.h"
#include "../tools/propcase.h"

#define BATCH 256u          /* entries in one ingest job, as a peer's ENTRIES would bring */
#define BUNDLE_CASES 100u   /* cases per bundle: each bundle's refusals all fit in its report */

typedef struct outcome { bool done, accepted; char *why; } outcome;

static outcome *peer_out;
static size_t jobs_left;

typedef struct job_ctx { size_t first; } job_ctx;

static void on_job(void *ctx, const tw_ingest_counts *k, const int *rcs, const char *const *whys,
                   const uint8_t *const *authors, size_t n)
{
    job_ctx *j = ctx;
    (void)k;
    (void)authors;
    for (size_t i = 0; i < n; i++) {
        outcome *o = &peer_out[j->first + i];
        o->done = true;
        o->accepted = rcs[i] == 0 || rcs[i] == TW_EEXIST || rcs[i] == TW_ESTALE;
        if (!o->accepted) o->why = strdup(whys[i] ? whys[i] : "?");
    }
    free(j);
    jobs_left--;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void open_node(tw_node *n, uv_loop_t *loop, const char *root, const char *name, const uint8_t *netkey)
{
    tw_config cfg;
    char err[512];
    tw_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s/%s", root, name);
    cfg.log_level = TW_LOG_ERROR;
    if (netkey) {
        memcpy(cfg.network_key, netkey, TW_NETKEY_LEN);
        cfg.have_network_key = 1;
    }
    memset(n, 0, sizeof *n);
    int rc = tw_node_open(n, loop, &cfg, err, sizeof err);
    if (rc) fprintf(stderr, "node %s: %s\n", name, err);
    assert_int_equal(rc, 0);
}

/* Runs op on n and checks that the answer, framed as the control server
 * frames it, reads back as the client reads it. */
static void query_ok(tw_node *n, const char *what, const char *op, const tw_val *args)
{
    tw_buf out, frame;
    tw_op_err e;
    tw_val empty = { .type = TW_MAP }, msg;
    tw_arena a;
    const char *why = NULL;
    tw_buf_init(&out);
    tw_buf_init(&frame);
    tw_arena_init(&a, 0);
    int rc = tw_ops_dispatch(n, op, strlen(op), args ? args : &empty, &out, &e);
    if (rc) fprintf(stderr, "%s: %s failed: %s\n", what, op, e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(tw_mpw_map(&frame, 3), 0);
    tw_mpw_kv_uint(&frame, "v", TW_CTL_VERSION);
    tw_mpw_cstr(&frame, "ok");
    tw_mpw_bool(&frame, true);
    tw_mpw_cstr(&frame, "result");
    tw_buf_put(&frame, out.p, out.len);
    rc = tw_ctl_decode(frame.p, frame.len, &a, &msg, &why);
    if (rc) fprintf(stderr, "%s: the answer to %s does not read back: %s\n", what, op, why ? why : tw_strerror(rc));
    assert_int_equal(rc, 0);
    tw_buf_free(&out);
    tw_buf_free(&frame);
    tw_arena_free(&a);
}

static void queries(tw_node *n, const char *what, const char *const *ids, size_t nids)
{
    tw_arena a;
    tw_val args;
    tw_arena_init(&a, 0);
    static const char *const kinds[] = { "group", "place", "link", "vouch", "peer", "event", "x_future_kind", "photo2" };
    query_ok(n, what, "list", NULL);
    tw_v_map(&a, &args, 2);
    args.v.map[0].k = tw_v_cstr("all");
    args.v.map[0].v = tw_v_bool(true);
    args.v.map[1].k = tw_v_cstr("limit");
    args.v.map[1].v = tw_v_uint(TW_LIST_LIMIT_MAX);
    query_ok(n, what, "list", &args);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        tw_v_map(&a, &args, 1);
        args.v.map[0].k = tw_v_cstr("kind");
        args.v.map[0].v = tw_v_cstr(kinds[i]);
        query_ok(n, what, "list", &args);
    }
    static const char *const texts[] = { "abu dis", "\xd8\xa3\xd8\xa8\xd9\x88 \xd8\xaf\xd9\x8a\xd8\xb3", "camden", "ramallah" };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        tw_v_map(&a, &args, 1);
        args.v.map[0].k = tw_v_cstr("text");
        args.v.map[0].v = tw_v_cstr(texts[i]);
        query_ok(n, what, "search", &args);
    }
    for (size_t i = 0; i < nids; i++) {
        tw_v_map(&a, &args, 1);
        args.v.map[0].k = tw_v_cstr("id");
        args.v.map[0].v = tw_v_cstr(ids[i]);
        query_ok(n, what, "show", &args);
    }
    query_ok(n, what, "stats", NULL);
    query_ok(n, what, "gaps", NULL);
    query_ok(n, what, "report", NULL);
    query_ok(n, what, "digest", NULL);
    query_ok(n, what, "members", NULL);
    query_ok(n, what, "bundle_export", NULL);
    tw_arena_free(&a);
}

static void test_every_door(void **state)
{
    (void)state;
    unsigned ncases = getenv("PROP_CASES") ? (unsigned)strtoul(getenv("PROP_CASES"), NULL, 10) : 2000u;
    uint64_t rng = getenv("PROP_SEED") ? strtoull(getenv("PROP_SEED"), NULL, 10) : 1u;
    char root[] = "/tmp/twprop.XXXXXX";
    assert_non_null(mkdtemp(root));
    uv_loop_t loop;
    uv_loop_init(&loop);
    uint8_t netkey[TW_NETKEY_LEN], seed[32], pk[TW_KEY_LEN], sk[TW_SECKEY_LEN];
    memset(netkey, 0x5a, sizeof netkey);
    memset(seed, 0x77, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    static tw_node P, R, B;
    open_node(&P, &loop, root, "p", netkey);
    open_node(&R, &loop, root, "r", netkey);
    open_node(&B, &loop, root, "b", netkey);

    tw_arena a;
    tw_arena_init(&a, 0);
    pcase *cs = calloc(ncases, sizeof *cs);
    tw_buf *envs = calloc(ncases, sizeof *envs);
    char **pub_why = calloc(ncases, sizeof *pub_why);
    bool *pub_ok = calloc(ncases, sizeof *pub_ok);
    peer_out = calloc(ncases, sizeof *peer_out);
    outcome *bun_out = calloc(ncases, sizeof *bun_out);
    char (*idhex)[65] = calloc(ncases, sizeof *idhex);
    assert_true(cs && envs && pub_why && pub_ok && peer_out && bun_out && idhex);
    uint64_t ts0 = tw_now_ms() - 3600000u;
    unsigned counts[4] = { 0 };
    double t0 = now_s();

    /* Publish door, and the signed entries for the other two. */
    for (unsigned i = 0; i < ncases; i++) {
        pcase *c = &cs[i];
        pc_gen(&a, &rng, i, 40, true, c);
        counts[c->intent]++;
        tw_buf_init(&envs[i]);
        assert_int_equal(pc_sign(&envs[i], sk, R.netid, c, ts0 + i), 0);
        uint8_t id[32];
        crypto_generichash(id, sizeof id, envs[i].p, envs[i].len, NULL, 0);
        tw_hex_encode(idhex[i], id, sizeof id);
        if (c->intent == PC_TOMBSTONE) continue;   /* publish deletes only what it holds: see the integration test */
        tw_record_in r = { c->kind, strlen(c->kind), c->slot, strlen(c->slot), &c->body };
        tw_write_result res;
        size_t bad;
        char err[TW_REASON_MAX];
        pub_ok[i] = tw_node_write(&P, &r, 1, &res, &bad, err, sizeof err) == 0;
        if (!pub_ok[i]) pub_why[i] = strdup(err);
    }

    /* Peer door: the ingest pipeline, in batches. */
    tw_ingest *ing;
    assert_int_equal(tw_ingest_new(&ing, &R, NULL, NULL), 0);
    for (unsigned first = 0; first < ncases; first += BATCH) {
        unsigned n = ncases - first < BATCH ? ncases - first : BATCH;
        tw_buf all;
        size_t *lens = calloc(n, sizeof *lens);
        tw_buf_init(&all);
        for (unsigned k = 0; k < n; k++) {
            tw_buf_put(&all, envs[first + k].p, envs[first + k].len);
            lens[k] = envs[first + k].len;
        }
        job_ctx *j = malloc(sizeof *j);
        j->first = first;
        jobs_left++;
        assert_int_equal(tw_ingest_submit(ing, all.p, lens, n, on_job, j), 0);
        tw_buf_free(&all);
        free(lens);
    }
    for (unsigned guard = 0; jobs_left && guard < 100000; guard++) uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(jobs_left, 0);
    tw_ingest_free(ing);

    /* Bundle door, through the operations twin uses. */
    for (unsigned first = 0; first < ncases; first += BUNDLE_CASES) {
        unsigned n = ncases - first < BUNDLE_CASES ? ncases - first : BUNDLE_CASES;
        tw_buf bun, out;
        uint64_t *offs = calloc(n, sizeof *offs);
        tw_buf_init(&bun);
        tw_buf_init(&out);
        assert_int_equal(tw_bundle_begin(&bun, B.netid, tw_now_ms()), 0);
        for (unsigned k = 0; k < n; k++) {
            offs[k] = bun.len;
            assert_int_equal(tw_bundle_add(&bun, envs[first + k].p, envs[first + k].len), 0);
        }
        assert_int_equal(tw_bundle_end(&bun, n), 0);
        tw_kv kv[2] = { { tw_v_cstr("data"), tw_v_bin(bun.p, bun.len) }, { tw_v_cstr("end"), tw_v_bool(true) } };
        tw_val args = { .type = TW_MAP, .len = 2, .v.map = kv }, res;
        char err[256];
        assert_int_equal(tw_bundle_op_import(&B, &args, &out, err, sizeof err), 0);
        tw_arena ra;
        tw_arena_init(&ra, 0);
        assert_int_equal(tw_mp_decode(out.p, out.len, &ra, 0, &res, NULL, NULL), 0);
        tw_kv qk[1] = { { tw_v_cstr("import"), *tw_v_get(&res, "import") } };
        tw_val q = { .type = TW_MAP, .len = 1, .v.map = qk };
        const tw_val *done = NULL;
        for (unsigned guard = 0; guard < 100000; guard++) {
            tw_buf_reset(&out);
            assert_int_equal(tw_bundle_op_result(&B, &q, &out, err, sizeof err), 0);
            tw_arena_reset(&ra);
            assert_int_equal(tw_mp_decode(out.p, out.len, &ra, 0, &res, NULL, NULL), 0);
            done = tw_v_get(&res, "done");
            if (done && done->type == TW_BOOL && done->v.b) break;
            uv_run(&loop, UV_RUN_ONCE);
        }
        assert_true(done && done->v.b);
        const tw_val *probs = tw_v_get(&res, "problems"), *more = tw_v_get(&res, "problems_more");
        assert_true(more && more->type == TW_UINT && more->v.u == 0);
        for (unsigned k = 0; k < n; k++) bun_out[first + k].accepted = true;
        for (uint32_t p = 0; probs && p < probs->len; p++) {
            const tw_val *off = tw_v_get(&probs->v.arr[p], "offset"), *why = tw_v_get(&probs->v.arr[p], "reason");
            unsigned k = 0;
            while (k < n && offs[k] != off->v.u) k++;
            assert_true(k < n);
            bun_out[first + k].accepted = false;
            bun_out[first + k].why = strndup(why->v.s, why->len);
        }
        tw_arena_free(&ra);
        tw_buf_free(&bun);
        tw_buf_free(&out);
        free(offs);
    }
    double secs = now_s() - t0;

    /* The property. */
    unsigned bad = 0;
    for (unsigned i = 0; i < ncases; i++) {
        pcase *c = &cs[i];
        const outcome *pe = &peer_out[i], *bu = &bun_out[i];
        bool want_receipt = c->intent != PC_BAD;
        bool want_publish = c->intent == PC_OK;
        bool ok = pe->done && pe->accepted == want_receipt && bu->accepted == want_receipt;
        if (c->intent != PC_TOMBSTONE) ok = ok && pub_ok[i] == want_publish;
        if (ok && c->intent == PC_UNKNOWN_KIND) ok = pub_why[i] && strstr(pub_why[i], "unknown kind");
        if (ok && c->intent == PC_BAD)
            ok = pub_why[i] && pe->why && bu->why && !strcmp(pub_why[i], pe->why) && !strcmp(pe->why, bu->why);
        if (!ok && bad++ < 10)
            fprintf(stderr, "case %u (%s %s, %s%s): publish %s [%s], peer %s [%s], bundle %s [%s]\n", i, c->kind,
                    strlen(c->slot) > 40 ? "(long slot)" : c->slot,
                    c->intent == PC_OK ? "valid" : c->intent == PC_BAD ? "fault: " : c->intent == PC_TOMBSTONE ? "tombstone" : "unknown kind",
                    c->intent == PC_BAD ? c->fault : "", pub_ok[i] ? "accepted" : "refused", pub_why[i] ? pub_why[i] : "",
                    pe->accepted ? "accepted" : "refused", pe->why ? pe->why : "", bu->accepted ? "accepted" : "refused",
                    bu->why ? bu->why : "");
    }
    printf("property: %u cases (%u valid, %u faulty, %u unknown kinds, %u tombstones) through 3 doors in %.2f s: "
           "%.0f cases/s; %u disagreements\n",
           ncases, counts[PC_OK], counts[PC_BAD], counts[PC_UNKNOWN_KIND], counts[PC_TOMBSTONE], secs, ncases / secs, bad);
    assert_int_equal(bad, 0);

    /* Every query still answers on the nodes that took the entries. */
    const char *ids[50];
    size_t nids = 0;
    for (unsigned i = 0; i < ncases && nids < 50; i++)
        /* Not a peer record: all of one signer's are in slot "self", so a
         * later one replaces it and its id is gone from the store. */
        if (peer_out[i].accepted && (cs[i].intent == PC_UNKNOWN_KIND || i % 7 == 0) && strcmp(cs[i].kind, "peer"))
            ids[nids++] = idhex[i];
    queries(&R, "peer door node", ids, nids);
    queries(&B, "bundle door node", ids, nids);
    queries(&P, "publish door node", NULL, 0);

    for (unsigned i = 0; i < ncases; i++) {
        tw_buf_free(&envs[i]);
        free(pub_why[i]);
        free(peer_out[i].why);
        free(bun_out[i].why);
    }
    free(cs); free(envs); free(pub_why); free(pub_ok); free(peer_out); free(bun_out); free(idhex);
    tw_arena_free(&a);
    tw_node_close(&P);
    tw_node_close(&R);
    tw_node_close(&B);
    tw_ops_free_cache();
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    tw_log_set_level(TW_LOG_WARN);
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_every_door) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
