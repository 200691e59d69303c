/*
 * The counts by kind the store keeps (tw_store_count_kinds_kept, what
 * `twin status` and `stats` show): after every kind of write -- new
 * records, newer versions, tombstones over live records and live records
 * over tombstones, stale and known versions, two versions of one slot in a
 * batch, batches ended by the writer thread's path, 200 kinds met out
 * of order, removals, a move to another network, a filter whose answers
 * change (admission) and a restart -- they equal a full count of the slot
 * table with the same
 * filter, the hidden ones those the filter refuses, and they add up to the
 * store's entry count.  A poll after a commit reads no slot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "twin/entry.h"
#include "twin/err.h"
#include "twin/limits.h"
#include "log.h"
#include "store.h"

#define KEYS 4
#define ROUNDS 40
#define BATCH 24

static uint8_t netid[32], other_net[32];
static uint8_t sks[KEYS][64];
#define TMPDIR_PREFIX "twkinds"
#include "tmpdir.h"

/* Entries made for the test, kept until the end (puts point into them). */
typedef struct made { tw_buf env; tw_arena a; tw_entry e; } made;
static made **mades;
static size_t nmades, cmades;

static tw_entry *make(const uint8_t *net, int key, const char *kind, const char *slot, uint64_t ts, bool tomb)
{
    if (nmades == cmades) {
        cmades = cmades ? 2 * cmades : 256;
        mades = realloc(mades, cmades * sizeof *mades);
        assert_non_null(mades);
    }
    made *m = calloc(1, sizeof *m);
    assert_non_null(m);
    mades[nmades++] = m;
    tw_buf_init(&m->env);
    tw_arena_init(&m->a, 0);
    tw_kv kv[1] = { { tw_v_cstr("name"), tw_v_cstr("Camden") } };
    tw_val body = tomb ? tw_v_nil() : (tw_val){ .type = TW_MAP, .len = 1, .v.map = kv };
    assert_int_equal(tw_entry_sign(&m->env, sks[key], net, kind, strlen(kind), slot, strlen(slot), ts, &body), 0);
    assert_int_equal(tw_entry_parse(m->env.p, m->env.len, &m->a, &m->e, NULL), 0);
    return &m->e;
}

static void mades_free(void)
{
    for (size_t i = 0; i < nmades; i++) {
        tw_buf_free(&mades[i]->env);
        tw_arena_free(&mades[i]->a);
        free(mades[i]);
    }
    free(mades);
    mades = NULL;
    nmades = cmades = 0;
}

/* The filter: keys whose bit is in mask are hidden, and key 1's records
 * before cut_ts (a key cut off by its association from then on is the
 * converse; any rule on (author, ts) will do). */
static struct { unsigned mask; uint64_t cut_ts; uint64_t gen; } flt;

static bool visible(void *ctx, const uint8_t author[32], uint64_t ts)
{
    (void)ctx;
    for (int k = 0; k < KEYS; k++)
        if (memcmp(author, sks[k] + 32, 32) == 0) return !(flt.mask & (1u << k)) && !(k == 1 && ts < flt.cut_ts);
    return true;
}

static bool hidden_only(void *ctx, const uint8_t author[32], uint64_t ts) { return !visible(ctx, author, ts); }

/* Counts by kind as text, "kind live dead;" each, and their sums. */
typedef struct counts { char text[16384]; size_t len; uint64_t total; } counts;

static void count_fn(void *ctx, const char *kind, uint64_t live, uint64_t dead)
{
    counts *c = ctx;
    int n = snprintf(c->text + c->len, sizeof c->text - c->len, "%s %llu %llu;", kind, (unsigned long long)live,
                     (unsigned long long)dead);
    assert_true(n > 0 && (size_t)n < sizeof c->text - c->len);
    c->len += (size_t)n;
    c->total += live + dead;
}

/* The kept counts with the filter in force (or none) against a full count
 * with the same filter, for what is shown, hidden and all of it. */
static void check(tw_store *s, bool filtered)
{
    tw_store_author_filter f = filtered ? visible : NULL;
    counts kept = { .len = 0 }, full = { .len = 0 }, full_hid = { .len = 0 };
    uint64_t hid = 0;
    assert_int_equal(tw_store_count_kinds_kept(s, f, NULL, flt.gen, count_fn, &kept, &hid), 0);
    assert_int_equal(tw_store_count_kinds_filtered(s, f, NULL, count_fn, &full), 0);
    if (filtered) assert_int_equal(tw_store_count_kinds_filtered(s, hidden_only, NULL, count_fn, &full_hid), 0);
    assert_string_equal(kept.text, full.text);
    assert_int_equal(hid, full_hid.total);
    tw_store_info info;
    tw_store_get_info(s, &info);
    assert_int_equal(kept.total + hid, info.entries);
}

/* A poll right after a commit: the counts as kept, no slot read. */
static void check_kept(tw_store *s, bool filtered)
{
    counts kept = { .len = 0 };
    uint64_t hid;
    tw_store_maybe_trim(s);
    assert_int_equal(tw_store_count_kinds_kept(s, filtered ? visible : NULL, NULL, flt.gen, count_fn, &kept, &hid), 0);
    assert_false(tw_store_maybe_trim(s));
    check(s, filtered);
}

static tw_store *open_store(const uint8_t *net)
{
    tw_store *s = NULL;
    char err[512];
    int rc = tw_store_open(&s, dir, 0, net, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    return s;
}

static void no_wait(void *ctx) { (void)ctx; }

/* A batch of random writes over few slots (so that versions replace one
 * another, tombstones included), some stale or already stored; half the
 * batches ended as ingest ends them (the writer's two halves). */
static uint32_t rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void random_batch(tw_store *s, uint32_t *rng, uint64_t *clock, bool writer)
{
    static const char *const kinds[] = { "group", "place", "link", "zz_unknown" };
    static const char *const slots[] = { "camden", "hebron", "nablus" };
    tw_put p[BATCH];
    size_t n = 0;
    memset(p, 0, sizeof p);
    for (size_t i = 0; i < BATCH; i++) {
        uint32_t r = rnd(rng);
        int key = (int)(r % KEYS);
        const char *kind = kinds[(r >> 2) % 4], *slot = slots[(r >> 4) % 3];
        bool tomb = (r >> 6) % 3 == 0, stale = (r >> 8) % 5 == 0;
        uint64_t ts = stale ? *clock - 1 - (r >> 10) % 50 : (*clock += 1 + (r >> 10) % 3);
        p[n++].e = make(netid, key, kind, slot, ts, tomb);
        /* The same version again now and then: known. */
        if ((r >> 20) % 7 == 0 && n < BATCH) {
            p[n].e = p[n - 1].e;
            n++;
        }
        if (n == BATCH) break;
    }
    if (!writer) {
        assert_int_equal(tw_store_put_batch(s, p, n), 0);
        return;
    }
    tw_store_commit c;
    tw_store_writer_begin(s, p, n, no_wait, NULL);
    tw_store_put_batch_txn(s, p, n, &c);
    assert_int_equal(tw_store_put_batch_end(s, p, n, &c), 0);
}

static void test_kept_counts(void **state)
{
    (void)state;
    tw_store *s = open_store(netid);
    uint32_t rng = 2463534242u;
    uint64_t clock = 1000000;
    memset(&flt, 0, sizeof flt);

    /* Empty, then with no filter (an open network hiding nothing). */
    check(s, false);
    for (int i = 0; i < ROUNDS; i++) {
        random_batch(s, &rng, &clock, i % 2);
        check_kept(s, false);
    }

    /* A tombstone over a live record, a live one over the tombstone, and
     * a version older than the one stored, by hand. */
    tw_put p[2];
    memset(p, 0, sizeof p);
    p[0].e = make(netid, 0, "group", "bethlehem", clock + 10, false);
    assert_false(p[0].replaced);
    assert_int_equal(tw_store_put_batch(s, p, 1), 0);
    check_kept(s, false);
    p[0].e = make(netid, 0, "group", "bethlehem", clock + 20, true);
    assert_int_equal(tw_store_put_batch(s, p, 1), 0);
    assert_true(p[0].replaced);
    assert_false(p[0].old_tomb);
    check_kept(s, false);
    p[0].e = make(netid, 0, "group", "bethlehem", clock + 15, false);
    assert_int_equal(tw_store_put_batch(s, p, 1), 0);
    assert_int_equal(p[0].result, TW_ESTALE);
    check_kept(s, false);
    /* Two versions of one slot in one batch: the first replaced by the second. */
    p[0].e = make(netid, 0, "group", "bethlehem", clock + 30, false);
    p[1].e = make(netid, 0, "group", "bethlehem", clock + 31, true);
    assert_int_equal(tw_store_put_batch(s, p, 2), 0);
    assert_true(p[0].replaced);
    assert_true(p[0].old_tomb);
    assert_true(p[1].replaced);
    assert_false(p[1].old_tomb);
    check_kept(s, false);
    clock += 100;

    /* Many kinds (a peer may send any, unknown ones are kept), met out of
     * order, the table of kinds grown several times: listed in kind order
     * all the same, and moved by tombstones over some of them. */
    enum { MANY = 200 };   /* the word index tells 250 kinds apart: under it */
    tw_put *mp = calloc(MANY, sizeof *mp);
    assert_non_null(mp);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < MANY; i++) {
            char kind[16];
            snprintf(kind, sizeof kind, "k%04u", (unsigned)((i * 7919) % MANY));
            memset(&mp[i], 0, sizeof mp[i]);
            mp[i].e = make(netid, i % KEYS, kind, "camden", clock + 1 + (uint64_t)pass, pass == 1 && i % 3 == 0);
        }
        assert_int_equal(tw_store_put_batch(s, mp, MANY), 0);
        check_kept(s, false);
    }
    free(mp);
    clock += 10;

    /* Admission: key 3 hidden, key 1's older records cut off; then key 3
     * admitted again (its records shown again), key 2 hidden.  Each change
     * comes with a new generation. */
    flt.mask = 1u << 3;
    flt.cut_ts = clock - 60;
    flt.gen++;
    check(s, true);
    for (int i = 0; i < ROUNDS; i++) {
        random_batch(s, &rng, &clock, i % 2);
        check_kept(s, true);
    }
    flt.mask = 1u << 2;
    flt.gen++;
    check(s, true);
    for (int i = 0; i < ROUNDS / 2; i++) {
        random_batch(s, &rng, &clock, i % 2);
        check_kept(s, true);
    }

    /* A removal: counted again, with the same filter. */
    uint8_t ids[3][TW_ID_LEN];
    size_t nids = 0;
    for (size_t i = 0; i < nmades && nids < 3; i += 7)
        if (tw_store_has(s, mades[i]->e.id) == 1) memcpy(ids[nids++], mades[i]->e.id, TW_ID_LEN);
    assert_int_equal(nids, 3);
    tw_store_info info;
    tw_store_get_info(s, &info);
    assert_int_equal(tw_store_remove(s, (const uint8_t (*)[TW_ID_LEN])ids, nids), 0);
    uint64_t was = info.entries;
    tw_store_get_info(s, &info);
    assert_int_equal(info.entries, was - 3);
    check(s, true);
    for (int i = 0; i < 4; i++) {
        random_batch(s, &rng, &clock, i % 2);
        check_kept(s, true);
    }

    /* A restart: counted from the store. */
    tw_store_close(s);
    s = open_store(netid);
    check(s, true);
    random_batch(s, &rng, &clock, true);
    check_kept(s, true);

    /* A move to another network: every record re-signed for it. */
    counts before = { .len = 0 };
    uint64_t hid_before;
    assert_int_equal(tw_store_count_kinds_kept(s, visible, NULL, flt.gen, count_fn, &before, &hid_before), 0);
    size_t nold = nmades;
    uint8_t (*old)[TW_ID_LEN] = malloc(nold * TW_ID_LEN);
    tw_put *np = calloc(nold, sizeof *np);
    assert_non_null(old);
    assert_non_null(np);
    size_t k = 0;
    for (size_t i = 0; i < nold; i++) {
        const tw_entry *e = &mades[i]->e;
        if (tw_store_has(s, e->id) != 1) continue;
        memcpy(old[k], e->id, TW_ID_LEN);
        char kind[TW_KIND_MAX + 1], slot[TW_SLOT_MAX + 1];
        snprintf(kind, sizeof kind, "%.*s", (int)e->kind_len, e->kind);
        snprintf(slot, sizeof slot, "%.*s", (int)e->slot_len, e->slot);
        int key = 0;
        while (key < KEYS && memcmp(e->author, sks[key] + 32, 32) != 0) key++;
        assert_true(key < KEYS);
        np[k].e = make(other_net, key, kind, slot, e->ts, e->body.type == TW_NIL);   /* may move mades */
        k++;
    }
    assert_int_equal(tw_store_rekey(s, other_net, (const uint8_t (*)[TW_ID_LEN])old, k, np, k), 0);
    counts after = { .len = 0 };
    uint64_t hid_after;
    assert_int_equal(tw_store_count_kinds_kept(s, visible, NULL, flt.gen, count_fn, &after, &hid_after), 0);
    assert_string_equal(after.text, before.text);
    assert_int_equal(hid_after, hid_before);
    check(s, true);
    free(old);
    free(np);
    tw_store_close(s);
    mades_free();
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    tw_log_set_level(TW_LOG_ERROR);
    uint8_t pk[32], key[32];
    for (int k = 0; k < KEYS; k++) crypto_sign_keypair(pk, sks[k]);
    randombytes_buf(key, 32);
    tw_netid_derive(netid, key);
    randombytes_buf(key, 32);
    tw_netid_derive(other_net, key);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kept_counts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
