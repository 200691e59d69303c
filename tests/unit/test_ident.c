/*
 * Tests of associations and their keys (include/twin/ident.h): devices,
 * rotation, commitments, recovery, the freshness rule, each at its edge,
 * the independence of the result from the order in which records arrive,
 * and TW_IDENT_RECORDS_MAX.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "twin/err.h"
#include "twin/ident.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "twin/mp.h"

/* Key number n (first byte orders them). */
static void K(uint8_t k[32], unsigned n)
{
    for (int i = 0; i < 32; i++) k[i] = (uint8_t)(0x33 ^ (i * 7));
    k[0] = (uint8_t)n;
    k[1] = (uint8_t)(n >> 8);
}

/* One record, built in static storage that lives for the test. */
typedef struct trec {
    char kind[16];
    char slot[TW_KEYTEXT_LEN + 1 > 65 ? TW_KEYTEXT_LEN + 1 : 65];
    uint8_t author[32];
    uint64_t ts;
    char s1[TW_KEYTEXT_LEN + 1], s2[TW_KEYTEXT_LEN + 1], label[32];
    tw_kv kv[4];
    tw_entry e;
} trec;

static trec pool[4096];
static size_t npool;

static tw_val str(const char *s) { return (tw_val){ .type = TW_STR, .len = (uint32_t)strlen(s), .v.s = s }; }
static tw_val uintv(uint64_t u) { return (tw_val){ .type = TW_UINT, .v.u = u }; }
static tw_val boolv(bool b) { return (tw_val){ .type = TW_BOOL, .v.b = b }; }

static trec *mk(const char *kind, unsigned author, uint64_t ts)
{
    assert_true(npool < sizeof pool / sizeof pool[0]);
    trec *r = &pool[npool++];
    memset(r, 0, sizeof *r);
    snprintf(r->kind, sizeof r->kind, "%s", kind);
    K(r->author, author);
    r->ts = ts;
    return r;
}

static const tw_entry *fin(trec *r, size_t nkv)
{
    r->e.author = r->author;
    r->e.kind = r->kind;
    r->e.kind_len = (uint32_t)strlen(r->kind);
    r->e.slot = r->slot;
    r->e.slot_len = (uint32_t)strlen(r->slot);
    r->e.ts = r->ts;
    r->e.body = nkv == (size_t)-1 ? (tw_val){ .type = TW_NIL } : (tw_val){ .type = TW_MAP, .len = (uint32_t)nkv, .v.map = r->kv };
    /* A distinct id per record: its index in the pool. */
    memset(r->e.id, 0, sizeof r->e.id);
    r->e.id[0] = (uint8_t)(r - pool);
    r->e.id[1] = (uint8_t)((r - pool) >> 8);
    return &r->e;
}

static void ktext(char *out, unsigned n)
{
    uint8_t k[32];
    K(k, n);
    tw_keytext_encode(out, TW_KEYTEXT_PREFIX, k);
}

static const tw_entry *device(unsigned author, unsigned dev, uint64_t ts, bool revoked, uint64_t from)
{
    trec *r = mk("device", author, ts);
    ktext(r->slot, dev);
    strcpy(r->s1, r->slot);
    snprintf(r->label, sizeof r->label, "office laptop %u", dev);
    size_t n = 0;
    r->kv[n++] = (tw_kv){ str("key"), str(r->s1) };
    r->kv[n++] = (tw_kv){ str("label"), str(r->label) };
    if (revoked) r->kv[n++] = (tw_kv){ str("revoked"), boolv(true) };
    if (from) r->kv[n++] = (tw_kv){ str("from"), uintv(from) };
    return fin(r, n);
}

static const tw_entry *succession(unsigned author, unsigned next, uint64_t ts)
{
    trec *r = mk("succession", author, ts);
    ktext(r->slot, next);
    strcpy(r->s1, r->slot);
    r->kv[0] = (tw_kv){ str("next"), str(r->s1) };
    return fin(r, 1);
}

static const tw_entry *recovery(unsigned author, unsigned lost, unsigned next, uint64_t from, uint64_t ts)
{
    trec *r = mk("recovery", author, ts);
    ktext(r->slot, lost);
    strcpy(r->s1, r->slot);
    ktext(r->s2, next);
    r->kv[0] = (tw_kv){ str("key"), str(r->s1) };
    r->kv[1] = (tw_kv){ str("next"), str(r->s2) };
    r->kv[2] = (tw_kv){ str("from"), uintv(from) };
    return fin(r, 3);
}

static const tw_entry *keyplan(unsigned author, unsigned next, uint64_t ts)
{
    trec *r = mk("keyplan", author, ts);
    uint8_t k[32], h[32];
    K(k, next);
    tw_ident_commit_of(h, k);
    for (int i = 0; i < 32; i++) snprintf(r->slot + 2 * i, 3, "%02x", h[i]);
    strcpy(r->s2, r->slot);
    r->kv[0] = (tw_kv){ str("commit"), str(r->s2) };
    return fin(r, 1);
}

static const tw_entry *vouch(unsigned author, unsigned key, bool revoked, uint64_t ts)
{
    trec *r = mk("vouch", author, ts);
    ktext(r->slot, key);
    strcpy(r->s1, r->slot);
    r->kv[0] = (tw_kv){ str("key"), str(r->s1) };
    r->kv[1] = (tw_kv){ str("name"), str("Exampleton Twinning Association") };
    size_t n = 2;
    if (revoked) r->kv[n++] = (tw_kv){ str("revoked"), boolv(true) };
    return fin(r, n);
}

static tw_ident *mkid(unsigned root)
{
    uint8_t r[1][32];
    K(r[0], root);
    tw_ident *t;
    assert_int_equal(tw_ident_new(&t, (const uint8_t (*)[32])r, 1), 0);
    return t;
}

static void put(tw_ident *t, const tw_entry *e) { assert_int_equal(tw_ident_put(t, e), 0); }

static unsigned who(const tw_ident *t, unsigned key)
{
    uint8_t k[32];
    tw_ident_key r;
    K(k, key);
    tw_ident_lookup(t, k, &r);
    return r.identity[0] | (unsigned)r.identity[1] << 8;
}

static bool ok_at(const tw_ident *t, unsigned key, uint64_t ts)
{
    uint8_t k[32];
    const char *why = NULL;
    K(k, key);
    int rc = tw_ident_check(t, k, ts, &why);
    if (rc) assert_non_null(why);
    return rc == 0;
}

static unsigned current(const tw_ident *t, unsigned key)
{
    uint8_t k[32], c[32];
    K(k, key);
    tw_ident_current(t, k, c);
    return c[0] | (unsigned)c[1] << 8;
}

/* Root 1 vouches for associations 10 and 20 (keys no one else names). */
static tw_ident *net(void)
{
    npool = 0;
    tw_ident *t = mkid(1);
    put(t, vouch(1, 10, false, 5));
    put(t, vouch(1, 20, false, 6));
    return t;
}

static void test_single_key_unchanged(void **st)
{
    tw_ident *t = net();
    assert_int_equal(tw_ident_compute(t), 0);
    uint8_t k[32];
    tw_ident_key r;
    K(k, 10);
    tw_ident_lookup(t, k, &r);
    assert_int_equal(r.role, TW_IDENT_SELF);
    assert_int_equal(who(t, 10), 10);
    assert_true(ok_at(t, 10, UINT64_MAX - 1));
    assert_int_equal(current(t, 10), 10);
    tw_ident_free(t);
}

static void test_device_certified_and_revoked(void **st)
{
    tw_ident *t = net();
    put(t, device(10, 11, 100, false, 0));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, 11), 10);
    assert_true(ok_at(t, 11, 5000));
    tw_ident_key ks[4];
    uint8_t id[32];
    K(id, 10);
    assert_int_equal(tw_ident_keys(t, id, ks, 4), 1);
    assert_int_equal(ks[0].role, TW_IDENT_DEVICE);
    assert_int_equal(ks[0].label_len, strlen("office laptop 11"));
    /* Revoked from 300: 299 stays, 300 is refused; the identity's first
     * key and another device are unaffected. */
    put(t, device(10, 12, 110, false, 0));
    put(t, device(10, 11, 400, true, 300));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_true(ok_at(t, 11, 299));
    assert_false(ok_at(t, 11, 300));
    assert_true(ok_at(t, 12, 100000));
    assert_true(ok_at(t, 10, 100000));
    assert_int_equal(who(t, 11), 10);          /* its history stays the association's */
    /* Without from: the revocation's own time. */
    put(t, device(10, 12, 500, true, 0));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_true(ok_at(t, 12, 499));
    assert_false(ok_at(t, 12, 500));
    tw_ident_free(t);
}

static void test_device_rules(void **st)
{
    tw_ident *t = net();
    /* A vouched key or a root cannot be claimed as a device. */
    put(t, device(10, 20, 100, false, 0));
    put(t, device(10, 1, 100, false, 0));
    /* A device cannot certify a device. */
    put(t, device(10, 11, 100, false, 0));
    put(t, device(11, 12, 200, false, 0));
    /* The earlier certification wins when two identities claim a key. */
    put(t, device(20, 13, 90, false, 0));
    put(t, device(10, 13, 95, false, 0));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, 20), 20);
    assert_int_equal(who(t, 1), 1);
    assert_int_equal(who(t, 11), 10);
    assert_int_equal(who(t, 12), 12);
    assert_int_equal(who(t, 13), 20);
    /* A revocation by the other identity does nothing to 13. */
    put(t, device(10, 13, 300, true, 0));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_true(ok_at(t, 13, 1000));
    tw_ident_free(t);
}

static void test_rotation(void **st)
{
    tw_ident *t = net();
    put(t, device(10, 11, 50, false, 0));
    put(t, succession(10, 30, 100));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, 30), 10);
    assert_int_equal(current(t, 10), 30);
    assert_int_equal(current(t, 11), 30);
    assert_true(ok_at(t, 10, 100));            /* the rotation is the old key's last entry */
    assert_false(ok_at(t, 10, 101));
    assert_true(ok_at(t, 30, 101));
    assert_true(ok_at(t, 11, 1000));           /* devices belong to the identity */
    /* The new key certifies and revokes devices; the old key no longer can. */
    put(t, device(10, 14, 150, false, 0));
    put(t, device(30, 11, 160, true, 0));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, 14), 14);
    assert_false(ok_at(t, 11, 160));
    /* A second, later rotation by the old key is ignored. */
    put(t, succession(10, 31, 200));
    /* The chain goes on: 30 -> 32. */
    put(t, succession(30, 32, 300));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, 31), 31);
    assert_int_equal(who(t, 32), 10);
    assert_int_equal(current(t, 10), 32);
    assert_false(ok_at(t, 30, 301));
    /* A rotation to a vouched key (another association) is invalid. */
    put(t, succession(32, 20, 400));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, 20), 20);
    assert_true(ok_at(t, 32, 500));
    tw_ident_free(t);
}

static void test_commitment(void **st)
{
    tw_ident *t = net();
    uint8_t k10[32], c[32], h[32], k40[32];
    K(k10, 10);
    K(k40, 40);
    put(t, keyplan(10, 40, 50));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(tw_ident_commitment(t, k10, c), 1);
    tw_ident_commit_of(h, k40);
    assert_memory_equal(c, h, 32);
    /* A thief with key 10 rotates to its own key: invalid. */
    put(t, succession(10, 41, 60));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, 41), 41);
    assert_true(ok_at(t, 10, 1000));
    /* The committed key: valid, though later. */
    put(t, succession(10, 40, 70));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, 40), 10);
    assert_false(ok_at(t, 10, 71));
    /* A second commitment blocks planned rotation altogether. */
    put(t, keyplan(10, 41, 80));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(tw_ident_commitment(t, k10, c), 2);
    assert_int_equal(who(t, 40), 40);
    assert_true(ok_at(t, 10, 1000));
    tw_ident_free(t);
}

static void test_recovery(void **st)
{
    tw_ident *t = net();
    put(t, device(10, 11, 50, false, 0));
    /* Not the voucher: association 20 cannot recover 10. */
    put(t, recovery(20, 10, 50, 200, 300));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, 50), 50);
    assert_true(ok_at(t, 10, 250));
    /* The voucher (the root here) can. */
    put(t, recovery(1, 10, 51, 200, 300));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, 51), 10);
    assert_int_equal(current(t, 10), 51);
    assert_true(ok_at(t, 10, 199));
    assert_false(ok_at(t, 10, 200));
    assert_true(ok_at(t, 11, 1000));
    /* The thief's rotation, even backdated, changes nothing. */
    put(t, succession(10, 52, 150));
    put(t, succession(10, 53, 250));
    put(t, device(10, 54, 260, false, 0));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(current(t, 10), 51);
    assert_int_equal(who(t, 52), 52);
    assert_int_equal(who(t, 53), 53);
    assert_int_equal(who(t, 54), 54);
    assert_false(ok_at(t, 10, 260));
    tw_ident_free(t);

    /* A member's voucher (not a root) recovers it. */
    t = net();
    put(t, vouch(10, 60, false, 10));
    put(t, recovery(10, 60, 61, 500, 600));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, 61), 60);
    assert_false(ok_at(t, 60, 500));
    /* ... but not through one of its devices: a recovery, like a rotation
     * or a certification, is signed by an association key. */
    put(t, vouch(10, 70, false, 10));
    put(t, device(10, 12, 20, false, 0));
    put(t, recovery(12, 70, 71, 500, 600));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, 71), 71);
    /* Its successor key speaks for it. */
    put(t, succession(10, 13, 30));
    put(t, recovery(13, 70, 72, 500, 600));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, 72), 70);
    /* A revoked vouch gives no right to recover. */
    put(t, vouch(10, 80, true, 10));
    put(t, recovery(10, 80, 81, 500, 600));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, 81), 81);
    tw_ident_free(t);
}

static void test_successor_claimed_once(void **st)
{
    tw_ident *t = net();
    /* Two keys rotate to the same key: the first to hand over keeps it. */
    put(t, succession(20, 90, 100));
    put(t, succession(10, 90, 200));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, 90), 20);
    tw_ident_free(t);
}

/* The same records in every order give the same answers. */
static void snapshot(const tw_ident *t, const unsigned *keys, size_t n, uint64_t *out)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t k[32];
        tw_ident_key r;
        K(k, keys[i]);
        tw_ident_lookup(t, k, &r);
        out[3 * i] = r.identity[0] | (uint64_t)r.identity[1] << 8;
        out[3 * i + 1] = r.cutoff;
        out[3 * i + 2] = (uint64_t)r.role;
    }
}

static void test_order_independence(void **st)
{
    npool = 0;
    const tw_entry *recs[7];
    recs[0] = vouch(1, 10, false, 5);
    recs[1] = device(10, 11, 50, false, 0);
    recs[2] = succession(10, 30, 100);
    recs[3] = device(30, 11, 150, true, 120);
    recs[4] = recovery(1, 30, 31, 200, 250);
    recs[5] = succession(30, 33, 220);          /* the thief's */
    recs[6] = keyplan(10, 30, 40);
    const unsigned keys[] = { 1, 10, 11, 30, 31, 33 };
    uint64_t want[3 * 6], got[3 * 6];
    size_t perm[7] = { 0, 1, 2, 3, 4, 5, 6 }, n = 7;
    bool first = true;
    unsigned count = 0;
    /* Heap's algorithm over all 5040 orders. */
    size_t cstate[7] = { 0 };
    for (size_t i = 0;;) {
        uint8_t r[1][32];
        K(r[0], 1);
        tw_ident *t;
        assert_int_equal(tw_ident_new(&t, (const uint8_t (*)[32])r, 1), 0);
        for (size_t j = 0; j < n; j++) put(t, recs[perm[j]]);
        assert_int_equal(tw_ident_compute(t), 0);
        snapshot(t, keys, 6, first ? want : got);
        if (!first) assert_memory_equal(want, got, sizeof want);
        first = false;
        count++;
        tw_ident_free(t);
        while (i < n && cstate[i] >= i) cstate[i++] = 0;
        if (i >= n) break;
        size_t sw = i % 2 ? cstate[i] : 0, tmp = perm[sw];
        perm[sw] = perm[i];
        perm[i] = tmp;
        cstate[i]++;
        i = 1;
    }
    assert_int_equal(count, 5040);
    /* And the answers are the intended ones. */
    assert_int_equal(want[3 * 3], 10);          /* 30 is 10's successor */
    assert_int_equal(want[3 * 3 + 1], 200);     /* cut off by the recovery */
    assert_int_equal(want[3 * 4], 10);          /* 31 is the recovered key */
    assert_int_equal(want[3 * 5], 33);          /* the thief's key is its own */
    assert_int_equal(want[3 * 2 + 1], 120);     /* the device revoked from 120 */
}

static void test_replace_and_limit(void **st)
{
    tw_ident *t = net();
    /* The newest put of a slot replaces the older. */
    put(t, device(10, 11, 50, true, 0));
    put(t, device(10, 11, 60, false, 0));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_true(ok_at(t, 11, 1000));
    /* A vouch tombstone removes the vouch. */
    trec *r = mk("vouch", 1, 7);
    ktext(r->slot, 20);
    put(t, fin(r, (size_t)-1));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(tw_ident_records(t), 2);   /* vouch 1->10, device 10->11 */
    tw_ident_free(t);

    /* TW_IDENT_RECORDS_MAX: the last one fits, one more is refused, a
     * replacement is not. */
    npool = 0;
    uint8_t k[32];
    K(k, 1);
    assert_int_equal(tw_ident_new(&t, (const uint8_t (*)[32])&k, 1), 0);
    trec *base = mk("vouch", 1, 1);
    ktext(base->slot, 2);
    strcpy(base->s1, base->slot);
    base->kv[0] = (tw_kv){ str("key"), str(base->s1) };
    base->kv[1] = (tw_kv){ str("name"), str("Exampleton") };
    tw_entry e = *fin(base, 2);
    for (unsigned i = 0; i < TW_IDENT_RECORDS_MAX; i++) {
        uint8_t a[32];
        K(a, 1000 + (i & 0xff));
        a[2] = (uint8_t)(i >> 8);
        e.author = a;
        e.id[2] = (uint8_t)i;
        assert_int_equal(tw_ident_put(t, &e), 0);
        if (i == TW_IDENT_RECORDS_MAX - 1) {
            uint8_t b[32];
            memcpy(b, a, 32);
            b[3] ^= 0xff;
            e.author = b;
            assert_int_equal(tw_ident_put(t, &e), TW_ETOOBIG);
            e.author = a;
            assert_int_equal(tw_ident_put(t, &e), 0);
        }
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(tw_ident_compute(t), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(tw_ident_records(t), TW_IDENT_RECORDS_MAX);
    /* A figure, not an assertion: the cost of a compute at the limit. */
    printf("figure: tw_ident_compute over %u records: %.1f ms\n", TW_IDENT_RECORDS_MAX,
           (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    tw_ident_free(t);
}

/* TW_IDENT_KEYS_SHOWN: an identity and 63 devices in use; a 64th device is
 * not certified until one is revoked (views compare that many keys). */
static void test_keys_limit(void **st)
{
    tw_ident *t = net();
    unsigned last = 100 + TW_IDENT_KEYS_SHOWN - 2;      /* devices 100 .. 162: 63 */
    for (unsigned d = 100; d <= last; d++) put(t, device(10, d, 1000 + d, false, 0));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, last), 10);
    uint8_t id[32];
    K(id, 10);
    assert_int_equal(tw_ident_keys(t, id, NULL, 0), TW_IDENT_KEYS_SHOWN - 1);
    put(t, device(10, last + 1, 5000, false, 0));       /* the 64th, the latest */
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, last + 1), last + 1);
    assert_int_equal(who(t, last), 10);
    assert_int_equal(tw_ident_keys(t, id, NULL, 0), TW_IDENT_KEYS_SHOWN - 1);
    /* A revoked device keeps its history and frees its place. */
    put(t, device(10, 100, 6000, true, 0));
    assert_int_equal(tw_ident_compute(t), 0);
    assert_int_equal(who(t, 100), 10);
    assert_false(ok_at(t, 100, 6000));
    assert_int_equal(who(t, last + 1), 10);
    tw_ident_free(t);
}

/* tw_ident_same: tables from the same records in another order agree; a
 * device more, or a revocation, makes them differ. */
static void test_same(void **st)
{
    npool = 0;
    const tw_entry *v = vouch(1, 10, false, 5), *d = device(10, 11, 50, false, 0), *r = succession(10, 30, 100);
    tw_ident *a = mkid(1), *b = mkid(1);
    put(a, v); put(a, d); put(a, r);
    put(b, r); put(b, d); put(b, v);
    assert_int_equal(tw_ident_compute(a), 0);
    assert_int_equal(tw_ident_compute(b), 0);
    assert_true(tw_ident_same(a, b));
    put(b, device(30, 12, 150, false, 0));
    assert_int_equal(tw_ident_compute(b), 0);
    assert_false(tw_ident_same(a, b));
    put(a, device(30, 12, 150, false, 0));
    put(a, device(30, 11, 160, true, 0));
    assert_int_equal(tw_ident_compute(a), 0);
    assert_false(tw_ident_same(a, b));
    tw_ident_free(a);
    tw_ident_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_key_unchanged),
        cmocka_unit_test(test_device_certified_and_revoked),
        cmocka_unit_test(test_device_rules),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_commitment),
        cmocka_unit_test(test_recovery),
        cmocka_unit_test(test_successor_claimed_once),
        cmocka_unit_test(test_order_independence),
        cmocka_unit_test(test_replace_and_limit),
        cmocka_unit_test(test_keys_limit),
        cmocka_unit_test(test_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
