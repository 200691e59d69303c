/*
 * The report of stats, gaps and report made in the background (daemon/ops.c,
 * "background build"): a node with more records than three slices read
 * (TW_REPORT_SLICE_RECORDS each) makes it a slice per turn of its loop;
 * writes between the slices -- a group and a place the build has read, a
 * place it has not, a new link, then a link it has read replaced and one
 * deleted -- must be in the finished report: its stats, gaps and report
 * must equal, byte for byte, those of a report made from scratch after the
 * writes.  And a query made while the build is under way answers from the
 * whole report (it finishes the build), not from the part read so far.
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
#include <uv.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "config.h"
#include "log.h"
#include "node.h"
#include "ops.h"

#define T_GROUPS 2000
#define T_PLACES 4000
#define T_LINKS  3000
#define BATCH   500
#define AT_MS   1767225600000ull     /* the reports' time: 2026-01-01 */

static uv_loop_t loop;
static tw_node N;
static char root[64];

typedef struct { char kind[8], slot[32]; tw_arena a; tw_val body; } rec;

/* The body of kind's record number i (v: its version). */
static void make(rec *r, const char *kind, unsigned i, unsigned v, bool del)
{
    snprintf(r->kind, sizeof r->kind, "%s", kind);
    snprintf(r->slot, sizeof r->slot, "%c%u", kind[0], i);
    tw_arena_init(&r->a, 0);
    if (del) return;
    tw_val *b = &r->body;
    const char *k[5], *val[5];
    char s0[96], s1[32], s2[32];
    unsigned nf = 0;
    if (kind[0] == 'p') {
        snprintf(s0, sizeof s0, "Slice Village %u v%u", i, v);
        k[0] = "name_en"; val[0] = s0; k[1] = "place_kind"; val[1] = "village"; k[2] = "country"; val[2] = "PS";
        k[3] = "subdivision"; val[3] = i % 2 ? "PS-NBS" : "PS-BTH"; k[4] = "seeking_partner"; val[4] = i % 3 ? "no" : "yes";
        nf = 5;
    } else if (kind[0] == 'g') {
        snprintf(s0, sizeof s0, "Slice Twinning Association %u v%u", i, v);
        k[0] = "name"; val[0] = s0; k[1] = "group_kind"; val[1] = "twinning_association";
        k[2] = "nation"; val[2] = v % 2 ? "wales" : "england"; k[3] = "seeking_partner"; val[3] = i % 4 ? "no" : "yes";
        nf = 4;
    } else {
        snprintf(s1, sizeof s1, "g%u", i % T_GROUPS);
        snprintf(s2, sizeof s2, "p%u", (i * 7) % T_PLACES);
        k[0] = "group"; val[0] = s1; k[1] = "place"; val[1] = s2; k[2] = "formality"; val[2] = "friendship_link";
        k[3] = "status"; val[3] = v % 2 ? "dormant" : "active"; k[4] = "since"; val[4] = "2019-04";
        nf = 5;
    }
    assert_int_equal(tw_v_map(&r->a, b, nf), 0);
    for (unsigned f = 0; f < nf; f++) {
        size_t l = strlen(val[f]);
        char *c = tw_arena_alloc(&r->a, l);
        assert_non_null(c);
        memcpy(c, val[f], l);
        b->v.map[f].k = tw_v_cstr(k[f]);
        b->v.map[f].v = strcmp(k[f], "seeking_partner") == 0 ? tw_v_bool(val[f][0] == 'y') : tw_v_str(c, l);
    }
}

static void write_recs(rec *rs, size_t n)
{
    tw_record_in in[BATCH];
    tw_write_result res[BATCH];
    size_t bad;
    char err[TW_REASON_MAX];
    assert_true(n <= BATCH);
    for (size_t i = 0; i < n; i++)
        in[i] = (tw_record_in){ rs[i].kind, strlen(rs[i].kind), rs[i].slot, strlen(rs[i].slot),
                                rs[i].body.type == TW_MAP ? &rs[i].body : NULL };
    int rc = tw_node_write(&N, in, n, res, &bad, err, sizeof err);
    if (rc) fprintf(stderr, "write: %s\n", err);
    assert_int_equal(rc, 0);
    for (size_t i = 0; i < n; i++) tw_arena_free(&rs[i].a);
}

static void write_one(const char *kind, unsigned i, unsigned v, bool del)
{
    rec r;
    memset(&r, 0, sizeof r);
    make(&r, kind, i, v, del);
    write_recs(&r, 1);
}

static void write_all(const char *kind, unsigned count)
{
    static rec rs[BATCH];
    for (unsigned first = 0; first < count; first += BATCH) {
        unsigned n = count - first < BATCH ? count - first : BATCH;
        memset(rs, 0, sizeof rs);
        for (unsigned i = 0; i < n; i++) make(&rs[i], kind, first + i, 0, false);
        write_recs(rs, n);
    }
}

/* The answers of stats, gaps and report, one after the other. */
static void answers(tw_buf *out)
{
    static const char *const ops[] = { "stats", "gaps", "report" };
    tw_arena a;
    tw_val args;
    tw_arena_init(&a, 0);
    assert_int_equal(tw_v_map(&a, &args, 1), 0);
    args.v.map[0].k = tw_v_cstr("at_ms");
    args.v.map[0].v = tw_v_uint(AT_MS);
    tw_buf_init(out);
    for (int i = 0; i < 3; i++) {
        tw_op_err e;
        int rc = tw_ops_dispatch(&N, ops[i], strlen(ops[i]), &args, out, &e);
        if (rc) fprintf(stderr, "%s: %s\n", ops[i], e.msg);
        assert_int_equal(rc, 0);
    }
    tw_arena_free(&a);
}

/* Turns of the loop until the build has read at least `records` (0: until
 * it is done); false if it ended first. */
static bool run_until(uint64_t records)
{
    uint64_t r = 0;
    for (int guard = 0; guard < 10000; guard++) {
        bool on = tw_ops_report_building(&r);
        if (!on) return records == 0;
        if (records && r >= records) return true;
        uv_run(&loop, UV_RUN_ONCE);
    }
    fail_msg("the background build did not end");
    return false;
}

static void test_write_during_build(void **state)
{
    (void)state;
    const uint64_t total = T_GROUPS + T_PLACES + T_LINKS;
    write_all("group", T_GROUPS);
    write_all("place", T_PLACES);
    write_all("link", T_LINKS);

    tw_ops_free_cache();
    uint64_t made0, upd0, made1, upd1;
    tw_ops_report_counts(&made0, &upd0);
    tw_ops_start(&N);
    assert_true(tw_ops_report_building(NULL));
    /* After the first slice (the groups and some places read): a group
     * read replaced, a place not read yet replaced, a new link. */
    assert_true(run_until(TW_REPORT_SLICE_RECORDS));
    uint64_t read;
    assert_true(tw_ops_report_building(&read));
    assert_true(read >= TW_REPORT_SLICE_RECORDS && read < total);
    write_one("group", 0, 1, false);
    write_one("place", T_PLACES - 1, 1, false);
    write_one("link", T_LINKS + 5, 0, false);
    /* After the second (some links read): a link read replaced, one
     * deleted, a place read replaced. */
    assert_true(run_until(2 * TW_REPORT_SLICE_RECORDS));
    assert_true(tw_ops_report_building(&read));
    assert_true(read >= 2 * TW_REPORT_SLICE_RECORDS && read < total);
    write_one("link", 0, 1, false);
    write_one("link", 1, 0, true);
    write_one("place", 0, 1, false);
    assert_true(run_until(0));
    tw_buf bg;
    answers(&bg);
    /* Made once, in the background, then updated with the six writes:
     * not made again from every record. */
    tw_ops_report_counts(&made1, &upd1);
    assert_int_equal(made1, made0 + 1);
    assert_int_equal(upd1, upd0 + 1);

    /* From scratch, after the writes. */
    tw_ops_free_cache();
    tw_buf scratch;
    answers(&scratch);
    assert_int_equal(bg.len, scratch.len);
    assert_memory_equal(bg.p, scratch.p, bg.len);

    /* A query during a build answers from the whole report. */
    tw_ops_free_cache();
    tw_ops_start(&N);
    assert_true(run_until(TW_REPORT_SLICE_RECORDS));
    assert_true(tw_ops_report_building(&read) && read < total);
    tw_buf during;
    tw_ops_report_counts(&made0, &upd0);
    answers(&during);
    assert_false(tw_ops_report_building(NULL));
    tw_ops_report_counts(&made1, &upd1);
    assert_int_equal(made1, made0 + 1);       /* one report, made once */
    assert_int_equal(during.len, scratch.len);
    assert_memory_equal(during.p, scratch.p, during.len);

    tw_buf_free(&bg);
    tw_buf_free(&during);
    tw_buf_free(&scratch);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/twrbg.XXXXXX");
    if (!mkdtemp(root)) return -1;
    uv_loop_init(&loop);
    tw_config cfg;
    char err[512];
    tw_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s/n", root);
    cfg.log_level = TW_LOG_ERROR;
    memset(&N, 0, sizeof N);
    if (tw_node_open(&N, &loop, &cfg, err, sizeof err)) {
        fprintf(stderr, "node: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tw_ops_stop(&N);
    uv_run(&loop, UV_RUN_DEFAULT);
    tw_node_close(&N);
    tw_ops_free_cache();
    uv_loop_close(&loop);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_during_build),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
