/* Store: newest-wins slots, tombstones, superseded versions dropped, map
 * growth to a ceiling and refusal past it, persistence, network binding,
 * a commit whose meta page cannot be written, the compression dictionary
 * at its threshold, and the upgrade of a store of format 1 (written by
 * tests/tools/store_v1.h): every answer the same, and refused for room. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/statvfs.h>
#include <cmocka.h>
#include <sodium.h>
#include <zstd.h>

#include "twin/entry.h"
#include "twin/err.h"
#include "twin/limits.h"
#include "log.h"
#include "store.h"
#include "wordidx.h"
#include "../tools/store_v1.h"

static uint8_t netid[32], other_net[32];
static uint8_t sk1[64], sk2[64];

typedef struct made { tw_buf env; tw_arena a; tw_entry e; } made;

static void make(made *m, const uint8_t *sk, const char *kind, const char *slot, uint64_t ts, const char *name)
{
    tw_buf_init(&m->env);
    tw_arena_init(&m->a, 0);
    tw_kv kv[1] = { { tw_v_cstr("name"), tw_v_cstr(name ? name : "x") } };
    tw_val body = name ? (tw_val){ .type = TW_MAP, .len = 1, .v.map = kv } : tw_v_nil();
    assert_int_equal(tw_entry_sign(&m->env, sk, netid, kind, strlen(kind), slot, strlen(slot), ts, &body), 0);
    assert_int_equal(tw_entry_parse(m->env.p, m->env.len, &m->a, &m->e, NULL), 0);
}

static void unmake(made *m) { tw_buf_free(&m->env); tw_arena_free(&m->a); }

#define TMPDIR_PREFIX "twstore"
#include "tmpdir.h"

/* pwrite() as LMDB sees it: this definition in the executable takes the
 * place of libc's for liblmdb too.  While fail_meta is set, writes to the
 * two meta pages at the start of the data file fail with ENOSPC, as on a
 * full copy-on-write filesystem, where even overwriting a page needs room. */
static int fail_meta;
static unsigned meta_fails;

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    if (fail_meta && off < 2 * sysconf(_SC_PAGESIZE)) {
        meta_fails++;
        errno = ENOSPC;
        return -1;
    }
    return real(fd, buf, n, off);
}

/* statvfs() as the store sees it: while tiny_disk is set, the disk has
 * 1 MiB free. */
static int tiny_disk;

int statvfs(const char *path, struct statvfs *buf)
{
    static int (*real)(const char *, struct statvfs *);
    if (!real) real = (int (*)(const char *, struct statvfs *))dlsym(RTLD_NEXT, "statvfs");
    int rc = real(path, buf);
    if (rc == 0 && tiny_disk) {
        buf->f_frsize = 4096;
        buf->f_bavail = buf->f_bfree = 256;
    }
    return rc;
}

static tw_store *open_store(uint64_t ceiling)
{
    tw_store *s = NULL;
    char err[512];
    int rc = tw_store_open(&s, dir, ceiling, netid, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    return s;
}

static int put1(tw_store *s, made *m, tw_put *p)
{
    memset(p, 0, sizeof *p);
    p->e = &m->e;
    int rc = tw_store_put_batch(s, p, 1);
    assert_int_equal(rc, 0);
    return p->result;
}

static void test_newest_wins(void **state)
{
    tw_store *s = open_store(0);
    made v1, v2, v0, dup;
    tw_put p;
    uint8_t id[32];
    uint64_t ts;
    make(&v1, sk1, "group", "camden", 1000, "v1");
    make(&v2, sk1, "group", "camden", 2000, "v2");
    make(&v0, sk1, "group", "camden", 500, "v0");
    assert_int_equal(put1(s, &v1, &p), 0);
    assert_false(p.replaced);
    assert_int_equal(put1(s, &v1, &p), TW_EEXIST);
    assert_int_equal(put1(s, &v2, &p), 0);
    assert_true(p.replaced);
    assert_memory_equal(p.old_id, v1.e.id, 32);
    assert_int_equal(p.old_ts, 1000);
    /* The superseded version is gone; an older one arriving late is stale. */
    assert_int_equal(tw_store_has(s, v1.e.id), 0);
    assert_int_equal(tw_store_has(s, v2.e.id), 1);
    assert_int_equal(put1(s, &v0, &p), TW_ESTALE);
    assert_int_equal(tw_store_has(s, v0.e.id), 0);
    assert_int_equal(tw_store_slot(s, "group", 5, v1.e.author, "camden", 6, id, &ts), 0);
    assert_memory_equal(id, v2.e.id, 32);
    assert_int_equal(ts, 2000);
    /* Same timestamp: the greater id wins. */
    make(&dup, sk1, "group", "camden", 2000, "v2b");
    int cmp = memcmp(dup.e.id, v2.e.id, 32);
    assert_int_equal(put1(s, &dup, &p), cmp > 0 ? 0 : TW_ESTALE);
    /* Another author's slot of the same name is its own slot. */
    made o;
    make(&o, sk2, "group", "camden", 100, "other");
    assert_int_equal(put1(s, &o, &p), 0);
    assert_false(p.replaced);
    tw_store_info info;
    tw_store_get_info(s, &info);
    assert_int_equal(info.entries, 2);
    unmake(&v1); unmake(&v2); unmake(&v0); unmake(&dup); unmake(&o);
    tw_store_close(s);
}

/* An entry twice in one batch, one known from an earlier batch, and a
 * stale one: stored once each, and the id table (whose rows the count is
 * read from at open) holds one row per stored entry, none for the refused. */
static void test_known_in_batch(void **state)
{
    tw_store *s = open_store(0);
    made a, b, c, old;
    tw_put p[5];
    make(&a, sk1, "group", "leeds", 1000, "a");
    make(&b, sk1, "place", "jenin", 1000, "b");
    make(&c, sk2, "group", "leeds", 1000, "c");
    make(&old, sk1, "group", "leeds", 900, "old");
    assert_int_equal(put1(s, &b, &p[0]), 0);
    memset(p, 0, sizeof p);
    p[0].e = &a.e;
    p[1].e = &a.e;
    p[2].e = &b.e;
    p[3].e = &old.e;
    p[4].e = &c.e;
    assert_int_equal(tw_store_put_batch(s, p, 5), 0);
    assert_int_equal(p[0].result, 0);
    assert_int_equal(p[1].result, TW_EEXIST);
    assert_int_equal(p[2].result, TW_EEXIST);
    assert_int_equal(p[3].result, TW_ESTALE);
    assert_int_equal(p[4].result, 0);
    assert_int_equal(tw_store_has(s, old.e.id), 0);
    tw_store_info info;
    tw_store_get_info(s, &info);
    assert_int_equal(info.entries, 3);
    tw_store_close(s);
    s = open_store(0);
    tw_store_get_info(s, &info);
    assert_int_equal(info.entries, 3);
    uint8_t d[32];
    uint64_t n;
    assert_int_equal(tw_store_digest(s, d, &n), 0);
    assert_int_equal(n, 3);
    /* Known after the reopen too. */
    assert_int_equal(put1(s, &a, &p[0]), TW_EEXIST);
    assert_int_equal(put1(s, &old, &p[0]), TW_ESTALE);
    tw_buf env;
    tw_buf_init(&env);
    assert_int_equal(tw_store_get(s, c.e.id, &env), 0);
    assert_int_equal(env.len, c.e.env_len);
    assert_memory_equal(env.p, c.e.env, env.len);
    tw_buf_free(&env);
    unmake(&a); unmake(&b); unmake(&c); unmake(&old);
    tw_store_close(s);
}

static void count_fn(void *ctx, const char *kind, uint64_t live, uint64_t dead)
{
    uint64_t *c = ctx;
    if (strcmp(kind, "place") == 0) { c[0] = live; c[1] = dead; }
}

static void test_tombstone_kept(void **state)
{
    tw_store *s = open_store(0);
    made v1, del, old;
    tw_put p;
    make(&v1, sk1, "place", "abu-dis", 1000, "Abu Dis");
    make(&del, sk1, "place", "abu-dis", 2000, NULL);
    make(&old, sk1, "place", "abu-dis", 1500, "Abu Dis (old)");
    assert_int_equal(put1(s, &v1, &p), 0);
    assert_int_equal(put1(s, &del, &p), 0);
    assert_true(p.replaced);
    /* The tombstone stays, so an old version cannot come back. */
    assert_int_equal(tw_store_has(s, del.e.id), 1);
    assert_int_equal(put1(s, &old, &p), TW_ESTALE);
    uint64_t c[2] = { 9, 9 };
    assert_int_equal(tw_store_count_kinds(s, count_fn, c), 0);
    assert_int_equal(c[0], 0);
    assert_int_equal(c[1], 1);
    unmake(&v1); unmake(&del); unmake(&old);
    tw_store_close(s);
}

typedef struct scan_ctx { int n; char last[64]; } scan_ctx;
static int scan_fn(void *vctx, const uint8_t *key, size_t klen, const uint8_t id[32], const uint8_t *env, size_t envlen)
{
    scan_ctx *c = vctx;
    c->n++;
    return c->n == 3 ? 7 : 0;
}

/* Within a kind, entries come in timestamp order, and the id passed is the
 * entry's own. */
static int ts_fn(void *vctx, const uint8_t *key, size_t klen, const uint8_t id[32], const uint8_t *env, size_t n)
{
    uint64_t *last = vctx;
    tw_arena a;
    tw_entry e;
    tw_arena_init(&a, 0);
    assert_int_equal(tw_entry_parse(env, n, &a, &e, NULL), 0);
    assert_memory_equal(e.id, id, 32);
    assert_true(e.ts >= *last);
    *last = e.ts;
    tw_arena_free(&a);
    return 0;
}

static void test_batch_scan_persist_remove(void **state)
{
    tw_store *s = open_store(0);
    enum { N = 50 };
    made m[N];
    tw_put p[N];
    memset(p, 0, sizeof p);
    for (int i = 0; i < N; i++) {
        char slot[32];
        snprintf(slot, sizeof slot, "s%02d", i);
        make(&m[i], sk1, i % 2 ? "group" : "place", slot, 5000 - (uint64_t)i, "n");
        p[i].e = &m[i].e;
    }
    assert_int_equal(tw_store_put_batch(s, p, N), 0);
    for (int i = 0; i < N; i++) assert_int_equal(p[i].result, 0);
    scan_ctx c = { 0 };
    assert_int_equal(tw_store_scan(s, "group", 5, NULL, 0, scan_fn, &c), 7);   /* stopped */
    uint64_t last = 0;
    assert_int_equal(tw_store_scan(s, "place", 5, NULL, 0, ts_fn, &last), 0);
    assert_true(last > 0);
    uint8_t d1[32], d2[32];
    uint64_t n1, n2;
    assert_int_equal(tw_store_digest(s, d1, &n1), 0);
    assert_int_equal(n1, N);
    tw_store_close(s);
    /* Reopen: everything is still there, digest unchanged. */
    s = open_store(0);
    assert_int_equal(tw_store_digest(s, d2, &n2), 0);
    assert_int_equal(n2, N);
    assert_memory_equal(d1, d2, 32);
    uint8_t ids[2][32];
    memcpy(ids[0], m[0].e.id, 32);
    memcpy(ids[1], m[1].e.id, 32);
    assert_int_equal(tw_store_remove(s, (const uint8_t (*)[32])ids, 2), 0);
    assert_int_equal(tw_store_has(s, m[0].e.id), 0);
    assert_int_equal(tw_store_digest(s, d2, &n2), 0);
    assert_int_equal(n2, N - 2);
    assert_memory_not_equal(d1, d2, 32);
    /* A removed entry can be stored again (it is not a superseded version). */
    tw_put q;
    assert_int_equal(put1(s, &m[0], &q), 0);
    for (int i = 0; i < N; i++) unmake(&m[i]);
    tw_store_close(s);
}

/* The order items of a batch are put sorted at its end (store.c,
 * put_batch_order): entries given out of time order, a version superseded
 * by a later one of the same batch, and an older one after a newer one,
 * then a batch whose entries fall between and before those stored; every
 * scan is still in (timestamp, id) order with each entry once, the
 * superseded ones gone. */
typedef struct order_ctx { size_t n; uint64_t last_ts; uint8_t last_id[32]; const uint8_t *gone[4]; } order_ctx;

static int order_fn(void *ctx, const uint8_t *key, size_t klen, const uint8_t id[TW_ID_LEN], const uint8_t *env,
                    size_t envlen)
{
    order_ctx *c = ctx;
    uint64_t ts = 0;
    for (int i = 0; i < 8; i++) ts = ts << 8 | key[klen - 40 + i];
    uint8_t h[32];
    crypto_generichash(h, 32, env, envlen, NULL, 0);
    assert_memory_equal(h, id, 32);
    if (c->n) assert_true(ts > c->last_ts || (ts == c->last_ts && memcmp(id, c->last_id, 32) > 0));
    for (int i = 0; i < 4; i++) if (c->gone[i]) assert_memory_not_equal(id, c->gone[i], 32);
    c->n++;
    c->last_ts = ts;
    memcpy(c->last_id, id, 32);
    return 0;
}

static void test_batch_order(void **state)
{
    tw_store *s = open_store(0);
    enum { N = 40, M = 30 };
    made m[N], q[M];
    tw_put p[N], r[M];
    memset(p, 0, sizeof p);
    memset(r, 0, sizeof r);
    for (int i = 0; i < N; i++) {
        char slot[32];
        snprintf(slot, sizeof slot, "s%02d", i);
        /* Times out of order: 1000 to 1390 by tens, shuffled. */
        make(&m[i], sk1, i % 3 ? "group" : "place", slot, 1000 + (uint64_t)(i * 17 % N) * 10, "n");
    }
    /* Two versions of one slot, the older first; two of another, the newer first. */
    unmake(&m[5]);  make(&m[5], sk1, "group", "twice", 1500, "old");
    unmake(&m[31]); make(&m[31], sk1, "group", "twice", 1600, "new");
    unmake(&m[7]);  make(&m[7], sk1, "group", "late", 1700, "newer");
    unmake(&m[20]); make(&m[20], sk1, "group", "late", 1650, "older");
    for (int i = 0; i < N; i++) p[i].e = &m[i].e;
    assert_int_equal(tw_store_put_batch(s, p, N), 0);
    for (int i = 0; i < N; i++) assert_int_equal(p[i].result, i == 20 ? TW_ESTALE : 0);
    assert_true(p[31].replaced);
    assert_memory_equal(p[31].old_id, m[5].e.id, 32);
    assert_int_equal(tw_store_has(s, m[5].e.id), 0);
    order_ctx g = { .gone = { m[5].e.id, m[20].e.id } }, pl = { 0 };
    assert_int_equal(tw_store_scan(s, "group", 5, NULL, 0, order_fn, &g), 0);
    assert_int_equal(tw_store_scan(s, "place", 5, NULL, 0, order_fn, &pl), 0);
    assert_int_equal(g.n + pl.n, N - 2);
    /* Between and before the stored times, and a third version of "twice". */
    for (int i = 0; i < M; i++) {
        char slot[32];
        snprintf(slot, sizeof slot, "t%02d", i);
        make(&q[i], sk2, i % 2 ? "group" : "place", slot, 995 + (uint64_t)((M - i) * 13 % M) * 15, "n");
    }
    unmake(&q[3]); make(&q[3], sk1, "group", "twice", 1800, "third");
    for (int i = 0; i < M; i++) r[i].e = &q[i].e;
    assert_int_equal(tw_store_put_batch(s, r, M), 0);
    for (int i = 0; i < M; i++) assert_int_equal(r[i].result, 0);
    assert_true(r[3].replaced);
    order_ctx g2 = { .gone = { m[5].e.id, m[20].e.id, m[31].e.id } }, pl2 = { 0 };
    assert_int_equal(tw_store_scan(s, "group", 5, NULL, 0, order_fn, &g2), 0);
    assert_int_equal(tw_store_scan(s, "place", 5, NULL, 0, order_fn, &pl2), 0);
    assert_int_equal(g2.n + pl2.n, N - 2 + M - 1);
    uint8_t d[32];
    uint64_t n;
    assert_int_equal(tw_store_digest(s, d, &n), 0);
    assert_int_equal(n, N - 2 + M - 1);
    for (int i = 0; i < N; i++) unmake(&m[i]);
    for (int i = 0; i < M; i++) unmake(&q[i]);
    tw_store_close(s);
}

/* Per-author slot scans, the filtered digest and counts (admission), and
 * moving the store to another network. */
typedef struct slot_ctx { size_t n, tomb; uint8_t author[32]; bool one_author; } slot_ctx;

static int slot_fn(void *ctx, const char *kind, size_t kind_len, const uint8_t author[32], const char *slot,
                   size_t slot_len, const uint8_t id[32], uint64_t ts, bool tombstone)
{
    slot_ctx *c = ctx;
    if (c->one_author) assert_memory_equal(author, c->author, 32);
    c->n++;
    c->tomb += tombstone;
    return 0;
}

static bool only_author1(void *ctx, const uint8_t author[32], uint64_t ts) { return memcmp(author, sk1 + 32, 32) == 0; }
static bool everyone(void *ctx, const uint8_t author[32], uint64_t ts) { return true; }

static void count_kv(void *ctx, const char *kind, uint64_t live, uint64_t dead)
{
    uint64_t *c = ctx;
    c[0] += live;
    c[1] += dead;
}

static void test_slots_filters_rekey(void **state)
{
    tw_store *s = open_store(0);
    enum { N = 40 };
    made m[N];
    tw_put p[N];
    memset(p, 0, sizeof p);
    static const char *const kinds[] = { "group", "link", "place", "vouch0" };
    for (int i = 0; i < N; i++) {
        char slot[32];
        snprintf(slot, sizeof slot, "s%02d", i);
        /* Author 1 gets a third of the records, spread over every kind;
         * every fifth of author 2's is a tombstone. */
        make(&m[i], i % 3 == 0 ? sk1 : sk2, kinds[i % 4], slot, 1000 + (uint64_t)i, i % 5 == 1 ? NULL : "n");
        p[i].e = &m[i].e;
    }
    assert_int_equal(tw_store_put_batch(s, p, N), 0);
    size_t n1 = 0;
    for (int i = 0; i < N; i++) n1 += i % 3 == 0;
    slot_ctx all = { 0 }, one = { .one_author = true };
    memcpy(one.author, sk1 + 32, 32);
    assert_int_equal(tw_store_scan_slots(s, NULL, slot_fn, &all), 0);
    assert_int_equal(all.n, N);
    assert_int_equal(tw_store_scan_slots(s, sk1 + 32, slot_fn, &one), 0);
    assert_int_equal(one.n, n1);
    /* The filtered digest with a filter that takes everyone is the digest. */
    uint8_t d1[32], d2[32];
    uint64_t c1, c2;
    assert_int_equal(tw_store_digest(s, d1, &c1), 0);
    assert_int_equal(tw_store_digest_filtered(s, everyone, NULL, d2, &c2), 0);
    assert_int_equal(c1, c2);
    assert_memory_equal(d1, d2, 32);
    assert_int_equal(tw_store_digest_filtered(s, only_author1, NULL, d2, &c2), 0);
    assert_int_equal(c2, n1);
    assert_memory_not_equal(d1, d2, 32);
    uint64_t cnt[2] = { 0, 0 };
    assert_int_equal(tw_store_count_kinds_filtered(s, only_author1, NULL, count_kv, cnt), 0);
    assert_int_equal(cnt[0] + cnt[1], n1);
    /* Rekey: author 1's records replaced by versions for another network,
     * the network id recorded, all in one transaction. */
    uint8_t (*old)[32] = calloc(n1, 32);
    made *nm = calloc(n1, sizeof *nm);
    tw_put *np = calloc(n1, sizeof *np);
    size_t k = 0;
    for (int i = 0; i < N; i++) {
        if (i % 3) continue;
        memcpy(old[k], m[i].e.id, 32);
        tw_buf_init(&nm[k].env);
        tw_arena_init(&nm[k].a, 0);
        assert_int_equal(tw_entry_sign(&nm[k].env, sk1, other_net, m[i].e.kind, m[i].e.kind_len, m[i].e.slot,
                                       m[i].e.slot_len, m[i].e.ts, &m[i].e.body), 0);
        assert_int_equal(tw_entry_parse(nm[k].env.p, nm[k].env.len, &nm[k].a, &nm[k].e, NULL), 0);
        np[k].e = &nm[k].e;
        k++;
    }
    assert_int_equal(tw_store_rekey(s, other_net, (const uint8_t (*)[32])old, n1, np, n1), 0);
    for (size_t i = 0; i < n1; i++) {
        assert_int_equal(np[i].result, 0);
        assert_int_equal(tw_store_has(s, old[i]), 0);
        assert_int_equal(tw_store_has(s, nm[i].e.id), 1);
    }
    tw_store_info info;
    tw_store_get_info(s, &info);
    assert_int_equal(info.entries, N);
    tw_store_close(s);
    char err[512];
    assert_int_equal(tw_store_open(&s, dir, 0, netid, err, sizeof err), TW_ENETWORK);
    assert_int_equal(tw_store_open(&s, dir, 0, other_net, err, sizeof err), 0);
    tw_store_close(s);
    for (size_t i = 0; i < n1; i++) unmake(&nm[i]);
    for (int i = 0; i < N; i++) unmake(&m[i]);
    free(old);
    free(nm);
    free(np);
}

static void test_other_network_refused(void **state)
{
    tw_store *s = open_store(0);
    tw_store_close(s);
    char err[512];
    assert_int_equal(tw_store_open(&s, dir, 0, other_net, err, sizeof err), TW_ENETWORK);
    assert_non_null(strstr(err, "another network"));
}

static void test_map_ceiling(void **state)
{
    /* A 1 MiB ceiling fills after a few thousand entries: the failing
     * batch is refused whole, and reads go on. */
    const uint64_t ceiling = 1u << 20;
    tw_store *s = open_store(ceiling);
    int full_at = -1;
    uint64_t stored = 0;
    for (int b = 0; b < 400 && full_at < 0; b++) {
        made m[16];
        tw_put p[16];
        memset(p, 0, sizeof p);
        for (int i = 0; i < 16; i++) {
            char slot[32];
            snprintf(slot, sizeof slot, "f%05d", b * 16 + i);
            make(&m[i], sk1, "place", slot, 1000 + (uint64_t)(b * 16 + i), "filler text to take some room in the map");
            p[i].e = &m[i].e;
        }
        int rc = tw_store_put_batch(s, p, 16);
        if (rc == TW_EFULL) {
            full_at = b;
            for (int i = 0; i < 16; i++) assert_int_equal(tw_store_has(s, m[i].e.id), 0);
        } else {
            assert_int_equal(rc, 0);
            stored += 16;
        }
        for (int i = 0; i < 16; i++) unmake(&m[i]);
    }
    assert_true(full_at > 0);
    tw_store_info info;
    tw_store_get_info(s, &info);
    assert_int_equal(info.entries, stored);
    assert_true(info.map_size <= ceiling);
    /* The condition is kept for twin status, and said plainly. */
    assert_true(info.full_since > 0);
    assert_true(info.full_last >= info.full_since);
    assert_int_equal(info.full_fails, 1);
    assert_true(info.full_ceiling);
    assert_true(info.full_need > 0);
    char msg[TW_STORE_FULL_TEXT_MAX];
    assert_true(tw_store_full_text(s, 0, msg, sizeof msg) > 0);
    assert_non_null(strstr(msg, "storage full: the store has reached its map ceiling of 1 MiB (raise map_ceiling"));
    /* A smaller write that fits does not end it; nor does a read. */
    made one;
    tw_put p1;
    make(&one, sk1, "place", "small", 5, "s");
    memset(&p1, 0, sizeof p1);
    p1.e = &one.e;
    int rc1 = tw_store_put_batch(s, &p1, 1);
    assert_true(rc1 == 0 || rc1 == TW_EFULL);
    tw_store_get_info(s, &info);
    assert_true(info.full_since > 0);
    if (rc1 == 0) stored++;
    unmake(&one);
    uint8_t d[32];
    uint64_t n;
    assert_int_equal(tw_store_digest(s, d, &n), 0);
    assert_int_equal(n, stored);
    tw_store_close(s);
    /* Reopened with a higher ceiling, writes go on. */
    s = open_store(8u << 20);
    made m;
    tw_put p;
    make(&m, sk1, "place", "after", 999999, "more");
    assert_int_equal(put1(s, &m, &p), 0);
    unmake(&m);
    tw_store_close(s);
}

/* A commit whose meta page cannot be written leaves LMDB's environment
 * failed (MDB_PANIC for every later transaction): the store opens it
 * again, the refused write is not there, everything before it is, and
 * reads and writes go on. */
static void test_failed_meta_write(void **state)
{
    tw_store *s = open_store(0);
    made a, b;
    tw_put p;
    make(&a, sk1, "place", "before", 100, "kept");
    make(&b, sk1, "place", "refused", 101, "not kept");
    assert_int_equal(put1(s, &a, &p), 0);

    fail_meta = 1;
    meta_fails = 0;
    memset(&p, 0, sizeof p);
    p.e = &b.e;
    assert_int_equal(tw_store_put_batch(s, &p, 1), TW_EFULL);
    fail_meta = 0;
    assert_true(meta_fails > 0);         /* the failure came where it was meant to */
    tw_store_info info;
    tw_store_get_info(s, &info);
    assert_true(info.full_since > 0);

    /* Reads go on (the environment is opened again on the way). */
    assert_int_equal(tw_store_has(s, a.e.id), 1);
    assert_int_equal(tw_store_has(s, b.e.id), 0);
    uint8_t d[32];
    uint64_t n;
    assert_int_equal(tw_store_digest(s, d, &n), 0);
    assert_int_equal(n, 1);
    /* And writes: the refused entry is stored when tried again. */
    assert_int_equal(put1(s, &b, &p), 0);
    tw_store_get_info(s, &info);
    assert_int_equal(info.entries, 2);
    assert_int_equal(info.full_since, 0);
    tw_store_close(s);

    s = open_store(0);
    assert_int_equal(tw_store_digest(s, d, &n), 0);
    assert_int_equal(n, 2);
    tw_buf env;
    tw_buf_init(&env);
    assert_int_equal(tw_store_get(s, b.e.id, &env), 0);
    assert_int_equal(env.len, b.env.len);
    assert_memory_equal(env.p, b.env.p, env.len);
    tw_buf_free(&env);
    tw_store_close(s);
    unmake(&a);
    unmake(&b);
}

static void never_wait(void *ctx)
{
    (void)ctx;
    fail_msg("the store waited for a batch while none but the test's own was in flight");
}

static void test_map_growth(void **state)
{
    /* Starting at TW_MAP_SIZE_INITIAL, the map doubles on demand. */
    tw_store *s = open_store(0);
    tw_store_info info;
    tw_store_get_info(s, &info);
    assert_int_equal(info.map_size, TW_MAP_SIZE_INITIAL);
    assert_int_equal(info.map_ceiling, TW_MAP_SIZE_CEILING_DEFAULT);

    /* A batch of the writer thread larger than the room the map has left
     * is committed in its first run: the map grows before it
     * (tw_store_writer_begin), where it was refused whole for MDB_MAP_FULL
     * and run again, every entry put twice. */
    enum { N = 3000 };
    made *m = calloc(N, sizeof *m);
    tw_put *p = calloc(N, sizeof *p);
    char *text = malloc(4001);
    assert_non_null(m);
    assert_non_null(p);
    assert_non_null(text);
    for (size_t i = 0; i < N; i++) {
        char slot[32];
        snprintf(slot, sizeof slot, "big-%05zu", i);
        for (size_t k = 0; k < 4000; k++) text[k] = (char)('a' + (i * 7 + k * 13 + k / 5) % 26);
        text[4000] = 0;
        tw_kv kv[4] = { { tw_v_cstr("name"), tw_v_cstr(slot) }, { tw_v_cstr("description"), tw_v_cstr(text) },
                        { tw_v_cstr("activities"), tw_v_cstr(text) }, { tw_v_cstr("history"), tw_v_cstr(text + 1000) } };
        tw_val body = { .type = TW_MAP, .len = 4, .v.map = kv };
        tw_buf_init(&m[i].env);
        tw_arena_init(&m[i].a, 0);
        assert_int_equal(tw_entry_sign(&m[i].env, sk1, netid, "group", 5, slot, strlen(slot), 1000 + i, &body), 0);
        assert_int_equal(tw_entry_parse(m[i].env.p, m[i].env.len, &m[i].a, &m[i].e, NULL), 0);
        p[i].e = &m[i].e;
    }
    uint64_t need = tw_store_put_need(s, p, N);
    assert_true(need > TW_MAP_SIZE_INITIAL);
    tw_store_writer_begin(s, p, N, never_wait, NULL);
    tw_store_get_info(s, &info);
    assert_true(info.map_size >= info.map_used + need);
    assert_true(info.map_size <= TW_MAP_SIZE_CEILING_DEFAULT);
    tw_store_commit c;
    tw_store_put_batch_txn(s, p, N, &c);
    assert_int_equal(c.begin_rc, 0);
    assert_int_equal(c.rc, 0);
    assert_int_equal(tw_store_put_batch_end(s, p, N, &c), 0);      /* not 1: run again */
    tw_store_get_info(s, &info);
    assert_int_equal(info.entries, N);
    for (size_t i = 0; i < N; i += 499) assert_int_equal(tw_store_has(s, m[i].e.id), 1);
    for (size_t i = 0; i < N; i++) unmake(&m[i]);
    free(m);
    free(p);
    free(text);
    tw_store_close(s);
}


/* Many entries for the upgrade test: envelopes each in a buffer of their
 * own, parsed into one arena. */
typedef struct many { tw_buf *envs; tw_entry *es; size_t n; tw_arena a; } many;

static void many_add(many *m, const uint8_t *sk, const char *kind, const char *slot, uint64_t ts, const char *name)
{
    tw_buf *b = &m->envs[m->n];
    tw_buf_init(b);
    tw_kv kv[2] = { { tw_v_cstr("name"), tw_v_cstr(name ? name : "x") }, { tw_v_cstr("note"), tw_v_cstr(slot) } };
    tw_val body = name ? (tw_val){ .type = TW_MAP, .len = 2, .v.map = kv } : tw_v_nil();
    assert_int_equal(tw_entry_sign(b, sk, netid, kind, strlen(kind), slot, strlen(slot), ts, &body), 0);
    assert_int_equal(tw_entry_parse(b->p, b->len, &m->a, &m->es[m->n], NULL), 0);
    m->n++;
}

static void many_free(many *m)
{
    for (size_t i = 0; i < m->n; i++) tw_buf_free(&m->envs[i]);
    free(m->envs);
    free(m->es);
    tw_arena_free(&m->a);
}

/* More than one upgrade transaction of entries, three authors and kinds,
 * versions that supersede others (and older ones that do not), tombstones. */
static void many_make(many *m, size_t n)
{
    static const char *const kinds[] = { "group", "place", "link" };
    uint8_t sk3[64], pk[32];
    crypto_sign_keypair(pk, sk3);
    const uint8_t *sks[3] = { sk1, sk2, sk3 };
    m->envs = calloc(n, sizeof *m->envs);
    m->es = calloc(n, sizeof *m->es);
    m->n = 0;
    tw_arena_init(&m->a, 0);
    assert_non_null(m->envs);
    assert_non_null(m->es);
    for (size_t i = 0; i < n; i++) {
        char slot[32], name[64];
        /* Every 7th entry is a later version of an earlier slot, every
         * 11th an older one; every 13th a tombstone. */
        size_t si = i % 7 == 6 ? i / 2 : i % 11 == 10 ? i / 3 : i;
        uint64_t ts = i % 11 == 10 ? 500 + i : 100000 + i * 3 + (i % 5 == 0 ? 0 : 1);
        snprintf(slot, sizeof slot, "s-%zu", si);
        snprintf(name, sizeof name, "Upgrade test record %zu of the twinning association", i);
        many_add(m, sks[si % 3], kinds[si % 3], slot, ts, i % 13 == 12 ? NULL : name);
    }
}

/* Every step-th of the first n envelopes of m reads back from s byte for
 * byte (into b). */
static void assert_envs(tw_store *s, const many *m, size_t n, size_t step, tw_buf *b)
{
    for (size_t i = 0; i < n; i += step) {
        assert_int_equal(tw_store_get(s, m->es[i].id, b), 0);
        assert_int_equal(b->len, m->es[i].env_len);
        assert_memory_equal(b->p, m->es[i].env, b->len);
    }
}

typedef struct rows { uint8_t *p; size_t n, len, cap; } rows;

static void rows_add(rows *r, const void *a, size_t an, const void *b, size_t bn)
{
    if (r->len + an + bn + 8 > r->cap) {
        r->cap = (r->cap + an + bn + 8) * 2;
        r->p = realloc(r->p, r->cap);
        assert_non_null(r->p);
    }
    memcpy(r->p + r->len, &an, 4);
    memcpy(r->p + r->len + 4, a, an);
    memcpy(r->p + r->len + 4 + an, &bn, 4);
    memcpy(r->p + r->len + 8 + an, b, bn);
    r->len += an + bn + 8;
    r->n++;
}

static int scan_row(void *ctx, const uint8_t *key, size_t klen, const uint8_t id[TW_ID_LEN], const uint8_t *env,
                    size_t envlen)
{
    rows *r = ctx;
    uint8_t h[32];
    crypto_generichash(h, 32, env, envlen, NULL, 0);
    assert_memory_equal(h, id, 32);          /* the envelope is the id's */
    rows_add(r, key, klen, env, envlen);
    return 0;
}

static int slot_row(void *ctx, const char *kind, size_t kind_len, const uint8_t author[TW_KEY_LEN], const char *slot,
                    size_t slot_len, const uint8_t id[TW_ID_LEN], uint64_t ts, bool tombstone)
{
    uint8_t k[TW_KIND_MAX + 1 + TW_KEY_LEN + TW_SLOT_MAX], v[TW_ID_LEN + 9];
    size_t kn;
    tw_store_slotkey(k, &kn, kind, kind_len, author, slot, slot_len);
    memcpy(v, id, TW_ID_LEN);
    v1_be64(v + TW_ID_LEN, ts);
    v[TW_ID_LEN + 8] = tombstone;
    rows_add(ctx, k, kn, v, sizeof v);
    return 0;
}

/* The rows of a format 1 table, in its order: what scans answered then. */
static void v1_rows(const char *table, rows *r)
{
    char sd[128];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi d;
    MDB_cursor *c;
    MDB_val k, v;
    snprintf(sd, sizeof sd, "%s/store", dir);
    assert_int_equal(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    assert_int_equal(mdb_env_open(env, sd, MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, table, 0, &d), 0);
    assert_int_equal(mdb_cursor_open(txn, d, &c), 0);
    int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (rc == 0) {
        rows_add(r, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

static void test_upgrade_v1(void **state)
{
    many m;
    many_make(&m, TW_STORE_UPGRADE_BATCH * 3 / 2);
    uint8_t d1[32], d2[32];
    uint64_t n1, n2;
    assert_int_equal(v1_write(dir, netid, m.es, m.n, d1, &n1), 0);
    assert_true(n1 > TW_STORE_UPGRADE_BATCH);
    rows want_scan = { 0 }, want_slots = { 0 }, got = { 0 };
    v1_rows("entries", &want_scan);
    v1_rows("slots", &want_slots);
    assert_int_equal(want_scan.n, n1);

    /* A disk too small for it: refused, saying why, and nothing changed. */
    tw_store *s = NULL;
    char err[512];
    tiny_disk = 1;
    assert_int_equal(tw_store_open(&s, dir, 0, netid, err, sizeof err), TW_EFULL);
    tiny_disk = 0;
    assert_non_null(strstr(err, "to format 3 needs about"));
    assert_non_null(strstr(err, "the store is unchanged (format 1"));
    rows again = { 0 };
    v1_rows("entries", &again);
    assert_int_equal(again.n, want_scan.n);
    assert_memory_equal(again.p, want_scan.p, want_scan.len);
    free(again.p);

    s = open_store(0);
    tw_buf schema;
    tw_buf_init(&schema);
    assert_int_equal(tw_store_meta_get(s, "schema", &schema), 0);
    assert_int_equal(schema.len, 4);
    assert_int_equal(schema.p[3], TW_STORE_SCHEMA);
    /* Enough envelopes for a dictionary: they are stored compressed. */
    assert_int_equal(tw_store_meta_get(s, "zdict", &schema), 0);
    tw_buf_free(&schema);
    assert_int_equal(tw_store_digest(s, d2, &n2), 0);
    assert_int_equal(n2, n1);
    assert_memory_equal(d2, d1, 32);
    /* Scans: the same keys and envelopes, in the same order; the slot
     * table: the same rows in the same order. */
    assert_int_equal(tw_store_scan(s, NULL, 0, NULL, 0, scan_row, &got), 0);
    assert_int_equal(got.n, want_scan.n);
    assert_memory_equal(got.p, want_scan.p, want_scan.len);
    free(got.p);
    memset(&got, 0, sizeof got);
    assert_int_equal(tw_store_scan_slots(s, NULL, slot_row, &got), 0);
    assert_int_equal(got.n, want_slots.n);
    assert_memory_equal(got.p, want_slots.p, want_slots.len);
    free(got.p);
    memset(&got, 0, sizeof got);
    /* A cursor from format 1 (a key of its entries table) pages on. */
    size_t off = 0;
    for (size_t i = 0; i < 100; i++) {
        uint32_t kl, vl;
        memcpy(&kl, want_scan.p + off, 4);
        memcpy(&vl, want_scan.p + off + 4 + kl, 4);
        off += 8 + kl + vl;
    }
    uint32_t kl;
    memcpy(&kl, want_scan.p + off, 4);
    const uint8_t *k100 = want_scan.p + off + 4;
    assert_int_equal(tw_store_scan(s, NULL, 0, k100, kl, scan_row, &got), 0);
    assert_int_equal(got.n, want_scan.n - 101);
    uint32_t vl;
    memcpy(&vl, want_scan.p + off + 4 + kl, 4);
    assert_memory_equal(got.p, want_scan.p + off + 8 + kl + vl, got.len);
    free(got.p);
    /* Every id, every slot answered as before. */
    tw_buf env;
    tw_buf_init(&env);
    for (size_t i = 0; i < m.n; i++) {
        const tw_entry *e = &m.es[i];
        uint8_t sk[TW_KIND_MAX + 1 + TW_KEY_LEN + TW_SLOT_MAX];
        size_t skn;
        tw_store_slotkey(sk, &skn, e->kind, e->kind_len, e->author, e->slot, e->slot_len);
        bool stored = false;
        off = 0;
        for (size_t j = 0; j < want_slots.n; j++) {
            uint32_t a, b;
            memcpy(&a, want_slots.p + off, 4);
            memcpy(&b, want_slots.p + off + 4 + a, 4);
            if (a == skn && memcmp(want_slots.p + off + 4, sk, skn) == 0) {
                const uint8_t *v = want_slots.p + off + 8 + a;
                uint8_t id[32];
                uint64_t ts;
                stored = memcmp(v, e->id, 32) == 0;
                assert_int_equal(tw_store_slot(s, e->kind, e->kind_len, e->author, e->slot, e->slot_len, id, &ts), 0);
                assert_memory_equal(id, v, 32);
                assert_int_equal(ts, v1_get_be64(v + 32));
                break;
            }
            off += 8 + a + b;
        }
        assert_int_equal(tw_store_has(s, e->id), stored);
        if (stored) {
            assert_int_equal(tw_store_get(s, e->id, &env), 0);
            assert_int_equal(env.len, e->env_len);
            assert_memory_equal(env.p, e->env, env.len);
        } else {
            assert_int_equal(tw_store_get(s, e->id, &env), TW_ENOTFOUND);
        }
    }
    tw_buf_free(&env);
    uint8_t nid[32];
    uint64_t nts;
    assert_int_equal(tw_store_slot(s, "", 0, m.es[0].author, "s-0", 3, nid, &nts), TW_ENOTFOUND);
    /* Writes go on: a new version replaces an upgraded one. */
    made nv;
    tw_put p;
    const tw_entry *e0 = &m.es[0];
    char slot0[TW_SLOT_MAX + 1];
    memcpy(slot0, e0->slot, e0->slot_len);
    slot0[e0->slot_len] = 0;
    make(&nv, sk1, "group", slot0, 1u << 30, "newer");
    assert_int_equal(put1(s, &nv, &p), 0);
    assert_true(p.replaced);
    assert_int_equal(tw_store_has(s, p.old_id), 0);
    unmake(&nv);
    tw_store_close(s);
    free(want_scan.p);
    free(want_slots.p);
    many_free(&m);
}

/* The dictionary is trained once the store holds TW_STORE_DICT_SAMPLES
 * entries, not one before; envelopes stored raw before it and compressed
 * after it read back the same, before and after a reopen. */
/* Rewrites the store in dir as format 2 had it: each compressed row of
 * format 3 (2, the frame without its magic number) as the frame
 * ZSTD_compress_usingCDict made (1, with the magic number, the dictionary's
 * id and the size), the schema 2 (or, with schema, that one).  Returns the
 * rows of each format byte (0, 1, 2) and asserts that format 2's were the
 * larger. */
static void as_format2(uint32_t schema, size_t fmt[3])
{
    char sd[128];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi envs, meta;
    MDB_cursor *c;
    MDB_val k, v;
    snprintf(sd, sizeof sd, "%s/store", dir);
    assert_int_equal(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    mdb_env_set_mapsize(env, 256u << 20);
    assert_int_equal(mdb_env_open(env, sd, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "env", MDB_INTEGERKEY, &envs), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    k = (MDB_val){ 5, "zdict" };
    assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
    ZSTD_CDict *cd = ZSTD_createCDict(v.mv_data, v.mv_size, 1);
    ZSTD_DDict *dd = ZSTD_createDDict(v.mv_data, v.mv_size);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    uint8_t *frame = malloc(TW_ENVELOPE_MAX + 8), *env_ = malloc(TW_ENVELOPE_MAX), *row = malloc(TW_ENVELOPE_MAX + 64);
    assert_true(cd && dd && cc && dc && frame && env_ && row);
    memset(fmt, 0, 3 * sizeof *fmt);
    rows conv = { 0 };
    assert_int_equal(mdb_cursor_open(txn, envs, &c), 0);
    int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (rc == 0) {
        const uint8_t *p = v.mv_data;
        assert_true(v.mv_size > 1 && p[0] <= 2);
        fmt[p[0]]++;
        if (schema == 2 && p[0] == 2) {
            static const uint8_t magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
            memcpy(frame, magic, 4);
            memcpy(frame + 4, p + 1, v.mv_size - 1);
            size_t el = ZSTD_decompress_usingDDict(dc, env_, TW_ENVELOPE_MAX, frame, v.mv_size + 3, dd);
            assert_false(ZSTD_isError(el));
            size_t fl = ZSTD_compress_usingCDict(cc, row + 1, TW_ENVELOPE_MAX + 63, env_, el, cd);
            assert_false(ZSTD_isError(fl));
            assert_true(fl + 1 >= v.mv_size + 4 + 4);   /* the magic number and the dictionary's id at least */
            row[0] = 1;
            rows_add(&conv, k.mv_data, k.mv_size, row, fl + 1);
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    /* Put after the walk: a row of another size moves in its page. */
    const uint8_t *q = conv.p;
    for (size_t i = 0; i < conv.n; i++) {
        uint32_t kl, vl;
        memcpy(&kl, q, 4);
        memcpy(&vl, q + 4 + kl, 4);
        k = (MDB_val){ kl, (void *)(q + 4) };
        v = (MDB_val){ vl, (void *)(q + 8 + kl) };
        assert_int_equal(mdb_put(txn, envs, &k, &v, 0), 0);
        q += 8 + kl + vl;
    }
    free(conv.p);
    if (schema) {
        uint8_t vb[4] = { (uint8_t)(schema >> 24), (uint8_t)(schema >> 16), (uint8_t)(schema >> 8), (uint8_t)schema };
        k = (MDB_val){ 6, "schema" };
        v = (MDB_val){ 4, vb };
        assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    ZSTD_freeCDict(cd);
    ZSTD_freeDDict(dd);
    ZSTD_freeCCtx(cc);
    ZSTD_freeDCtx(dc);
    free(frame);
    free(env_);
    free(row);
}

/* A store of format 2 opens as format 3 with nothing converted: its rows
 * (the compressed ones as format 2 made them) read the same, the rows
 * written after are the smaller ones, and a schema this twind does not
 * know is refused. */
static void test_upgrade_v2(void **state)
{
    many m;
    size_t n = TW_STORE_DICT_SAMPLES + 60, more = 20, fmt[3];
    m.envs = calloc(n + more, sizeof *m.envs);
    m.es = calloc(n + more, sizeof *m.es);
    m.n = 0;
    tw_arena_init(&m.a, 0);
    for (size_t i = 0; i < n + more; i++) {
        char slot[32];
        snprintf(slot, sizeof slot, "u-%zu", i);
        many_add(&m, i % 2 ? sk1 : sk2, "place", slot, 1000 + i, "Upgrade test village, West Bank");
    }
    tw_put *p = calloc(n + more, sizeof *p);
    for (size_t i = 0; i < n + more; i++) p[i].e = &m.es[i];
    tw_store *s = open_store(0);
    assert_int_equal(tw_store_put_batch(s, p, TW_STORE_DICT_SAMPLES), 0);
    assert_int_equal(tw_store_put_batch(s, p + TW_STORE_DICT_SAMPLES, n - TW_STORE_DICT_SAMPLES), 0);
    uint8_t d1[32], d2[32];
    uint64_t n1, n2;
    assert_int_equal(tw_store_digest(s, d1, &n1), 0);
    tw_store_close(s);
    as_format2(2, fmt);
    assert_int_equal(fmt[0], TW_STORE_DICT_SAMPLES);
    assert_int_equal(fmt[2], n - TW_STORE_DICT_SAMPLES);
    as_format2(0, fmt);
    assert_int_equal(fmt[1], n - TW_STORE_DICT_SAMPLES);   /* now rows of format 2 */
    assert_int_equal(fmt[2], 0);

    s = open_store(0);
    tw_buf b;
    tw_buf_init(&b);
    assert_int_equal(tw_store_meta_get(s, "schema", &b), 0);
    assert_int_equal(b.len, 4);
    assert_int_equal(b.p[3], 3);
    assert_int_equal(tw_store_digest(s, d2, &n2), 0);
    assert_int_equal(n2, n1);
    assert_memory_equal(d1, d2, 32);
    assert_envs(s, &m, n, 1, &b);
    rows got = { 0 };
    assert_int_equal(tw_store_scan(s, "place", 5, NULL, 0, scan_row, &got), 0);
    assert_int_equal(got.n, n);
    free(got.p);
    assert_int_equal(tw_store_put_batch(s, p + n, more), 0);
    assert_envs(s, &m, n + more, 1, &b);
    tw_store_close(s);
    as_format2(0, fmt);
    assert_int_equal(fmt[0], TW_STORE_DICT_SAMPLES);
    assert_int_equal(fmt[1], n - TW_STORE_DICT_SAMPLES);
    assert_int_equal(fmt[2], more);

    /* A schema from a later twind: refused, the store unchanged. */
    as_format2(4, fmt);
    tw_store *s4 = NULL;
    char err[512];
    assert_int_equal(tw_store_open(&s4, dir, 0, netid, err, sizeof err), TW_EVERSION);
    assert_null(s4);
    assert_non_null(strstr(err, "holds store schema 4"));
    tw_buf_free(&b);
    free(p);
    many_free(&m);
}

/* n places of two authors, slots PREFIX-0, PREFIX-1 ..., all named NAME. */
static void many_places(many *m, size_t n, const char *prefix, const char *name)
{
    m->envs = calloc(n, sizeof *m->envs);
    m->es = calloc(n, sizeof *m->es);
    m->n = 0;
    tw_arena_init(&m->a, 0);
    assert_non_null(m->envs);
    assert_non_null(m->es);
    for (size_t i = 0; i < n; i++) {
        char slot[32];
        snprintf(slot, sizeof slot, "%s-%zu", prefix, i);
        many_add(m, i % 2 ? sk1 : sk2, "place", slot, 1000 + i, name);
    }
}

/* A put for each entry of m, in order. */
static tw_put *puts_for(const many *m)
{
    tw_put *p = calloc(m->n, sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < m->n; i++) p[i].e = &m->es[i];
    return p;
}

/* TW_STORE_RELEASE_MIN at its edge: a batch one entry short of it is not
 * followed by the write that lets the next batch reuse its freed pages
 * (meta "batch"); a batch of exactly that many is, naming the sequence
 * number after it; the entries are stored either way. */
static void test_release_edge(void **state)
{
    (void)state;
    many m;
    size_t n = 2 * TW_STORE_RELEASE_MIN - 1;
    many_places(&m, n, "r", "Release test camp, Gaza");
    tw_store *s = open_store(0);
    tw_put *p = puts_for(&m);
    tw_buf d;
    tw_buf_init(&d);
    assert_int_equal(tw_store_put_batch(s, p, TW_STORE_RELEASE_MIN - 1), 0);
    assert_int_equal(tw_store_meta_get(s, "batch", &d), TW_ENOTFOUND);
    tw_store_info info;
    tw_store_get_info(s, &info);
    assert_int_equal(info.entries, TW_STORE_RELEASE_MIN - 1);
    assert_int_equal(tw_store_put_batch(s, p + TW_STORE_RELEASE_MIN - 1, TW_STORE_RELEASE_MIN), 0);
    assert_int_equal(tw_store_meta_get(s, "batch", &d), 0);
    assert_int_equal(d.len, 8);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | d.p[i];
    assert_true(v >= n);          /* past every envelope stored */
    tw_store_get_info(s, &info);
    assert_int_equal(info.entries, n);
    assert_envs(s, &m, n, 97, &d);
    tw_buf_free(&d);
    free(p);
    tw_store_close(s);
    many_free(&m);
}

static int cmp_ids(const void *a, const void *b) { return memcmp(a, b, TW_ID_LEN); }

/* The digest of 333 entries: BLAKE2b-256 of their ids in order then their
 * count, as PROTOCOL.md says, with and without a filter. */
static void test_digest_many(void **state)
{
    (void)state;
    many m;
    size_t n = 333;
    many_places(&m, n, "d", "Digest test town, Hebron");
    tw_store *s = open_store(0);
    tw_put *p = puts_for(&m);
    uint8_t *ids = malloc(n * TW_ID_LEN);
    assert_non_null(ids);
    for (size_t i = 0; i < n; i++) memcpy(ids + i * TW_ID_LEN, m.es[i].id, TW_ID_LEN);
    assert_int_equal(tw_store_put_batch(s, p, n), 0);
    qsort(ids, n, TW_ID_LEN, cmp_ids);
    crypto_generichash_state st;
    uint8_t want[32], got[32], cnt[8];
    crypto_generichash_init(&st, NULL, 0, 32);
    for (size_t i = 0; i < n; i++) crypto_generichash_update(&st, ids + i * TW_ID_LEN, TW_ID_LEN);
    for (int i = 0; i < 8; i++) cnt[i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    crypto_generichash_update(&st, cnt, 8);
    crypto_generichash_final(&st, want, 32);
    uint64_t count = 0;
    assert_int_equal(tw_store_digest(s, got, &count), 0);
    assert_int_equal(count, n);
    assert_memory_equal(got, want, 32);
    memset(got, 0, sizeof got);
    assert_int_equal(tw_store_digest_filtered(s, everyone, NULL, got, &count), 0);
    assert_int_equal(count, n);
    assert_memory_equal(got, want, 32);
    free(ids);
    free(p);
    tw_store_close(s);
    many_free(&m);
}

/* A scan whose callback asks for a release: refused while the scan's
 * transaction is open. */
static int release_in_scan(void *ctx, const uint8_t *key, size_t klen, const uint8_t id[32], const uint8_t *env, size_t n)
{
    tw_store **s = ctx;
    return tw_store_maybe_release(*s, 0) ? 2 : 1;
}

static int count_pairs(void *ctx, const uint8_t *key, size_t kn, const char *kind, size_t kl, uint64_t ts, uint32_t count)
{
    (*(size_t *)ctx)++;
    return 0;
}

/* TW_STORE_REOPEN_MIN at its edge: after a batch one entry short of it the
 * store is not opened again; after a batch of exactly that many it is,
 * once, when no batch ended for the time asked and no scan is inside its
 * transaction, and the heap LMDB kept for the batch's pages is given back.
 * The store then reads, writes and searches as before. */
static void test_reopen_edge(void **state)
{
    (void)state;
    many m;
    size_t n = 2 * TW_STORE_REOPEN_MIN;
    many_places(&m, n, "o", "Reopen test village, Nablus");
    tw_store *s = open_store(0);
    tw_put *p = puts_for(&m);
    tw_buf d;
    tw_buf_init(&d);
    assert_int_equal(tw_store_put_batch(s, p, TW_STORE_REOPEN_MIN - 1), 0);
    assert_false(tw_store_maybe_release(s, 0));
    assert_int_equal(tw_store_put_batch(s, p + TW_STORE_REOPEN_MIN - 1, TW_STORE_REOPEN_MIN), 0);
    assert_false(tw_store_maybe_release(s, 3600u * 1000u));      /* a batch ended less than an hour ago */
    assert_int_equal(tw_store_scan(s, "place", 5, NULL, 0, release_in_scan, &s), 1);
    size_t pairs = 0, pairs2 = 0;
    assert_int_equal(tw_wordidx_walk(s, count_pairs, &pairs), 0);
    assert_true(pairs > 0);
    uint64_t gen = tw_store_generation(s);
    tw_wordidx_trim(tw_store_wordidx(s));        /* apart: what follows is LMDB's */
    size_t before = mallinfo2().uordblks;
    assert_true(tw_store_maybe_release(s, 0));
    size_t after = mallinfo2().uordblks;
    /* The batch's pages, 4096 bytes each, kept by LMDB: at least one for
     * every 8 of its entries (their rows alone fill that many). */
    assert_true(before > after);
    assert_true(before - after >= TW_STORE_REOPEN_MIN / 8 * 4096);
    assert_false(tw_store_maybe_release(s, 0));                  /* once per large batch */
    assert_int_equal(tw_store_generation(s), gen);               /* what was computed from it stays valid */
    tw_store_info info;
    tw_store_get_info(s, &info);
    assert_int_equal(info.entries, n - 1);
    assert_envs(s, &m, n - 1, 37, &d);
    assert_int_equal(tw_wordidx_walk(s, count_pairs, &pairs2), 0);
    assert_int_equal(pairs2, pairs);
    assert_true(tw_wordidx_ready(tw_store_wordidx(s)));
    assert_int_equal(tw_store_put_batch(s, p + n - 1, 1), 0);
    assert_int_equal(p[n - 1].result, 0);
    tw_store_close(s);
    s = open_store(0);
    tw_store_get_info(s, &info);
    assert_int_equal(info.entries, n);
    assert_envs(s, &m, n, 1, &d);
    tw_buf_free(&d);
    free(p);
    tw_store_close(s);
    many_free(&m);
}

/* The heap thresholds twind sets at start (tw_store_heap_setup) at their
 * edges: a block of TW_MALLOC_MMAP_MIN bytes is mapped on its own, one a
 * page shorter is not (glibc's own threshold starts at 128 KiB and rises);
 * free heap at the arena's top is kept up to TW_MALLOC_TRIM_MIN (glibc's
 * own: 128 KiB) and given back beyond it. */
static void test_heap_edges(void **state)
{
    (void)state;
    tw_store_heap_setup();
    malloc_trim(0);
    size_t mapped = mallinfo2().hblks;
    void *big = malloc(TW_MALLOC_MMAP_MIN);
    assert_non_null(big);
    assert_int_equal(mallinfo2().hblks, mapped + 1);
    void *less = malloc(TW_MALLOC_MMAP_MIN - 4096);
    assert_non_null(less);
    assert_int_equal(mallinfo2().hblks, mapped + 1);
    free(big);
    free(less);
    assert_int_equal(mallinfo2().hblks, mapped);

    /* Small blocks at the top of the heap, freed from the first (the first
     * few stay in the thread's cache): the top grows by their size. */
    enum { BLK = 1024 };
    static void *blk[4 * (TW_MALLOC_TRIM_MIN / BLK)];
    size_t nhalf = TW_MALLOC_TRIM_MIN / 2 / BLK, nall = sizeof blk / sizeof *blk;
    malloc_trim(0);
    for (size_t i = 0; i < nhalf; i++) assert_non_null(blk[i] = malloc(BLK));
    size_t grown = mallinfo2().arena;
    for (size_t i = 0; i < nhalf; i++) free(blk[i]);
    assert_int_equal(mallinfo2().arena, grown);          /* half of it kept */
    malloc_trim(0);
    for (size_t i = 0; i < nall; i++) assert_non_null(blk[i] = malloc(BLK));
    grown = mallinfo2().arena;
    for (size_t i = 0; i < nall; i++) free(blk[i]);
    assert_true(mallinfo2().arena + 2 * TW_MALLOC_TRIM_MIN <= grown);   /* 4 times it: given back */
}

static void test_dict_threshold(void **state)
{
    many m;
    size_t n = TW_STORE_DICT_SAMPLES + 50;
    many_places(&m, n, "d", "Dictionary test village, West Bank");
    tw_store *s = open_store(0);
    tw_put *p = puts_for(&m);
    tw_buf d;
    tw_buf_init(&d);
    assert_int_equal(tw_store_put_batch(s, p, TW_STORE_DICT_SAMPLES - 1), 0);
    assert_int_equal(tw_store_meta_get(s, "zdict", &d), TW_ENOTFOUND);
    assert_int_equal(tw_store_put_batch(s, p + TW_STORE_DICT_SAMPLES - 1, 1), 0);
    assert_int_equal(tw_store_meta_get(s, "zdict", &d), 0);
    assert_true(d.len > 0 && d.len <= TW_STORE_DICT_BYTES);
    assert_int_equal(tw_store_put_batch(s, p + TW_STORE_DICT_SAMPLES, n - TW_STORE_DICT_SAMPLES), 0);
    for (int round = 0; round < 2; round++) {
        assert_envs(s, &m, n, 1, &d);
        rows got = { 0 };
        assert_int_equal(tw_store_scan(s, "place", 5, NULL, 0, scan_row, &got), 0);
        assert_int_equal(got.n, n);
        /* The rows for a worker to decode (ops.c, the report's background
         * build), raw and compressed, read 7 at a time after the last
         * key: the same keys and envelopes, in the same order. */
        rows paged = { 0 };
        ZSTD_DCtx *dctx = ZSTD_createDCtx();
        uint8_t *dbuf = malloc(TW_ENVELOPE_MAX), after[TW_ENTRYKEY_MAX];
        size_t after_len = 0, count, raw = 0;
        assert_non_null(dctx);
        assert_non_null(dbuf);
        do {
            tw_buf b;
            tw_buf_init(&b);
            assert_int_equal(tw_store_read_rows(s, "place", 5, after_len ? after : NULL, after_len, 7, &b, &count), 0);
            assert_true(count <= 7);
            const uint8_t *q = b.p;
            for (size_t i = 0; i < count; i++) {
                size_t kl = q[0];
                const uint8_t *key = q + 1, *id = key + kl, *row, *env;
                uint32_t rl;
                size_t el;
                memcpy(&rl, id + TW_ID_LEN, sizeof rl);
                row = id + TW_ID_LEN + sizeof rl;
                raw += row[0] == 0;
                assert_int_equal(tw_store_row_env(s, dctx, row, rl, dbuf, &env, &el), 0);
                uint8_t h[32];
                crypto_generichash(h, 32, env, el, NULL, 0);
                assert_memory_equal(h, id, 32);
                rows_add(&paged, key, kl, env, el);
                memcpy(after, key, kl);
                after_len = kl;
                q = row + rl;
            }
            assert_ptr_equal(q, b.p + b.len);
            tw_buf_free(&b);
        } while (count == 7);
        assert_int_equal(paged.n, n);
        assert_int_equal(paged.len, got.len);
        assert_memory_equal(paged.p, got.p, got.len);
        assert_true(raw > 0 && raw < n);          /* rows of both formats */
        uint8_t bad[2] = { 9, 0 };
        const uint8_t *env;
        size_t el;
        assert_int_equal(tw_store_row_env(s, dctx, bad, sizeof bad, dbuf, &env, &el), TW_EIO);
        /* A damaged frame of format 3 (no magic number) and one longer
         * than any envelope are refused, not read past. */
        uint8_t junk[40];
        memset(junk, 0xa5, sizeof junk);
        junk[0] = 2;
        assert_int_equal(tw_store_row_env(s, dctx, junk, sizeof junk, dbuf, &env, &el), TW_EIO);
        uint8_t *longrow = calloc(1, TW_ENVELOPE_MAX + 2);
        assert_non_null(longrow);
        longrow[0] = 2;
        assert_int_equal(tw_store_row_env(s, dctx, longrow, TW_ENVELOPE_MAX + 2, dbuf, &env, &el), TW_EIO);
        free(longrow);
        tw_buf nb;
        tw_buf_init(&nb);
        assert_int_equal(tw_store_read_rows(s, "group", 5, NULL, 0, 7, &nb, &count), 0);
        assert_int_equal(count, 0);
        assert_int_equal(tw_store_read_rows(s, "", 0, NULL, 0, 7, &nb, &count), TW_EINVAL);
        tw_buf_free(&nb);
        ZSTD_freeDCtx(dctx);
        free(dbuf);
        free(paged.p);
        free(got.p);
        tw_store_close(s);
        s = open_store(0);
    }
    /* Removal reads a compressed envelope to find its slot. */
    uint8_t (*ids)[TW_ID_LEN] = malloc(TW_ID_LEN);
    memcpy(ids[0], m.es[n - 1].id, TW_ID_LEN);
    assert_int_equal(tw_store_remove(s, (const uint8_t (*)[TW_ID_LEN])ids, 1), 0);
    uint8_t id[32];
    uint64_t ts;
    assert_int_equal(tw_store_slot(s, "place", 5, m.es[n - 1].author, m.es[n - 1].slot, m.es[n - 1].slot_len, id, &ts),
                     TW_ENOTFOUND);
    assert_int_equal(tw_store_has(s, m.es[n - 1].id), 0);
    free(ids);
    tw_buf_free(&d);
    free(p);
    tw_store_close(s);
    many_free(&m);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    tw_log_set_level(TW_LOG_ERROR);
    uint8_t pk[32], key[32];
    crypto_sign_keypair(pk, sk1);
    crypto_sign_keypair(pk, sk2);
    randombytes_buf(key, 32);
    tw_netid_derive(netid, key);
    randombytes_buf(key, 32);
    tw_netid_derive(other_net, key);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_edges),      /* first: on a heap with no free blocks yet */
        cmocka_unit_test_setup_teardown(test_newest_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_in_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tombstone_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_scan_persist_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_network_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slots_filters_rekey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_ceiling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_growth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_meta_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dict_threshold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_v2, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
