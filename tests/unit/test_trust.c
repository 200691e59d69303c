/*
 * Tests of admission (include/twin/trust.h): the rules of proto/PROTOCOL.md
 * "Trust and admission" one by one, their independence from the order in
 * which records arrive, a comparison with a plain fixpoint over random
 * graphs, and every limit at its edge.
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
#include "twin/limits.h"
#include "twin/trust.h"

typedef uint8_t key_t32[32];

static const uint8_t HKEY[TW_TRUST_HASH_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* Key number n: its first byte orders keys as their numbers do (n < 256),
 * the rest spreads larger numbers out. */
static void K(uint8_t k[32], uint32_t n)
{
    for (int i = 0; i < 32; i++) k[i] = (uint8_t)(0x5a ^ (i * 29));
    k[0] = (uint8_t)(n & 0xff);
    k[1] = (uint8_t)(n >> 8);
    k[2] = (uint8_t)(n >> 16);
}

static tw_trust *mk(const uint32_t *roots, size_t n, unsigned depth)
{
    key_t32 r[TW_CONF_ROOTS_MAX + 1];
    assert_true(n <= TW_CONF_ROOTS_MAX + 1);
    for (size_t i = 0; i < n; i++) K(r[i], roots[i]);
    tw_trust *t = NULL;
    assert_int_equal(tw_trust_new(&t, (const uint8_t (*)[32])r, n, depth, HKEY), 0);
    return t;
}

static int put(tw_trust *t, uint32_t a, uint32_t k, int role, bool revoked, uint64_t ts)
{
    uint8_t ka[32], kk[32];
    char name[32];
    K(ka, a);
    K(kk, k);
    int n = snprintf(name, sizeof name, "Association %u", (unsigned)k);
    return tw_trust_put_vouch(t, ka, kk, name, (size_t)n, role, revoked, ts);
}

static void vouch(tw_trust *t, uint32_t a, uint32_t k)
{
    assert_int_equal(put(t, a, k, TW_TRUST_MEMBER, false, 1000 + k), 0);
}

static void revoke(tw_trust *t, uint32_t a, uint32_t k)
{
    assert_int_equal(put(t, a, k, TW_TRUST_MEMBER, true, 2000 + k), 0);
}

static bool adm(const tw_trust *t, uint32_t n)
{
    uint8_t k[32];
    K(k, n);
    return tw_trust_admitted(t, k);
}

static int why(const tw_trust *t, uint32_t n)
{
    uint8_t k[32];
    K(k, n);
    return tw_trust_why(t, k);
}

static tw_trust_member look(const tw_trust *t, uint32_t n)
{
    uint8_t k[32];
    tw_trust_member m;
    K(k, n);
    assert_int_equal(tw_trust_lookup(t, k, &m), 0);
    return m;
}

static void compute(tw_trust *t)
{
    assert_int_equal(tw_trust_compute(t), 0);
}

/* The diff of the last compute as "+n" / "-n" words in key order. */
static void diff_is(const tw_trust *t, const char *want)
{
    char got[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < tw_trust_diff_count(t); i++) {
        uint8_t k[32];
        bool gained;
        assert_int_equal(tw_trust_diff(t, i, k, &gained), 0);
        len += (size_t)snprintf(got + len, sizeof got - len, "%s%c%u", i ? " " : "",
                                gained ? '+' : '-', (unsigned)(k[0] | k[1] << 8));
    }
    assert_string_equal(got, want);
}

/* ---- the rules ---- */

static void test_roots_only(void **state)
{
    uint32_t roots[] = { 2, 1, 2 };
    tw_trust *t = mk(roots, 3, 3);
    assert_int_equal(tw_trust_count(t), 0);     /* nothing before the first compute */
    assert_false(adm(t, 1));
    compute(t);
    assert_int_equal(tw_trust_count(t), 2);
    assert_true(adm(t, 1));
    assert_true(adm(t, 2));
    assert_false(adm(t, 3));
    assert_int_equal(why(t, 3), TW_TRUST_UNVOUCHED);
    assert_int_equal(why(t, 1), TW_TRUST_OK);
    diff_is(t, "+1 +2");
    tw_trust_member m;
    uint8_t zero[32] = { 0 }, k[32];
    assert_int_equal(tw_trust_get(t, 0, &m), 0);
    K(k, 1);
    assert_memory_equal(m.key, k, 32);
    assert_memory_equal(m.voucher, zero, 32);
    assert_int_equal(m.role, TW_TRUST_ROOT);
    assert_int_equal(m.depth, 0);
    assert_int_equal(m.since, 0);
    assert_int_equal(m.name_len, 0);
    assert_string_equal(m.name, "");
    assert_int_equal(tw_trust_get(t, 2, &m), TW_ENOTFOUND);
    K(k, 3);
    assert_int_equal(tw_trust_lookup(t, k, &m), TW_ENOTFOUND);
    K(k, 2);
    assert_true(tw_trust_is_root(t, k));
    K(k, 3);
    assert_false(tw_trust_is_root(t, k));
    compute(t);
    diff_is(t, "");
    tw_trust_free(t);

    /* No roots: a network where nobody is admitted. */
    t = mk(NULL, 0, 3);
    vouch(t, 1, 2);
    compute(t);
    assert_int_equal(tw_trust_count(t), 0);
    tw_trust_free(t);
}

/* root 1 -> 10 -> 11 -> 12 */
static void chain(tw_trust *t)
{
    vouch(t, 1, 10);
    vouch(t, 10, 11);
    assert_int_equal(put(t, 11, 12, TW_TRUST_HUB, false, 777), 0);
}

static void test_chain_depth(void **state)
{
    uint32_t root = 1;
    tw_trust *t = mk(&root, 1, 2);
    chain(t);
    compute(t);
    assert_true(adm(t, 10));
    assert_true(adm(t, 11));
    assert_false(adm(t, 12));
    assert_int_equal(why(t, 12), TW_TRUST_TOO_DEEP);
    assert_int_equal(look(t, 11).depth, 2);
    tw_trust_free(t);

    t = mk(&root, 1, 3);
    chain(t);
    compute(t);
    assert_true(adm(t, 12));
    tw_trust_member m = look(t, 12);
    uint8_t k[32];
    K(k, 11);
    assert_int_equal(m.depth, 3);
    assert_memory_equal(m.voucher, k, 32);
    assert_int_equal(m.role, TW_TRUST_HUB);
    assert_int_equal(m.since, 777);
    assert_int_equal(m.name_len, strlen("Association 12"));
    assert_memory_equal(m.name, "Association 12", m.name_len);
    /* Ordered by depth, then key. */
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(tw_trust_get(t, i, &m), 0);
        assert_int_equal(m.depth, i);
    }
    tw_trust_free(t);

    t = mk(&root, 1, 0);
    chain(t);
    compute(t);
    assert_int_equal(tw_trust_count(t), 1);
    assert_int_equal(why(t, 10), TW_TRUST_TOO_DEEP);
    assert_int_equal(why(t, 11), TW_TRUST_UNVOUCHED);
    tw_trust_free(t);
}

static void test_revoked_by_voucher(void **state)
{
    uint32_t root = 1;
    tw_trust *t = mk(&root, 1, 3);
    chain(t);
    compute(t);
    diff_is(t, "+1 +10 +11 +12");
    revoke(t, 10, 11);
    compute(t);
    assert_false(adm(t, 11));
    assert_int_equal(why(t, 11), TW_TRUST_REVOKED);
    /* 12 is vouched only by 11, which is no longer admitted. */
    assert_false(adm(t, 12));
    assert_int_equal(why(t, 12), TW_TRUST_UNVOUCHED);
    diff_is(t, "-11 -12");
    assert_int_equal(tw_trust_records(t), 3);
    /* A revocation by a key that never vouched cancels nothing. */
    vouch(t, 10, 11);
    revoke(t, 12, 11);
    compute(t);
    diff_is(t, "+11 +12");
    tw_trust_free(t);
}

static void test_revoked_by_root(void **state)
{
    uint32_t roots[] = { 1, 2 };
    tw_trust *t = mk(roots, 2, 3);
    chain(t);
    vouch(t, 2, 11);                 /* a second path, from the other root */
    compute(t);
    assert_int_equal(look(t, 11).depth, 1);
    revoke(t, 1, 11);                /* root 1 never vouched for 11 itself */
    compute(t);
    assert_false(adm(t, 11));
    assert_false(adm(t, 12));
    assert_int_equal(why(t, 11), TW_TRUST_BANNED);
    diff_is(t, "-11 -12");

    /* The root withdraws its revocation: the other paths count again. */
    vouch(t, 1, 11);
    compute(t);
    diff_is(t, "+11 +12");
    revoke(t, 1, 11);
    compute(t);
    uint8_t a[32], k[32];
    K(a, 1);
    K(k, 11);
    /* A tombstone is no revocation: the root simply says nothing. */
    assert_int_equal(tw_trust_del_vouch(t, a, k), 0);
    compute(t);
    diff_is(t, "+11 +12");

    /* Roots are decided by the config alone. */
    revoke(t, 1, 2);
    revoke(t, 10, 1);
    revoke(t, 1, 1);
    compute(t);
    assert_true(adm(t, 1));
    assert_true(adm(t, 2));
    diff_is(t, "");
    tw_trust_free(t);
}

static void test_two_vouchers(void **state)
{
    uint32_t root = 1;
    tw_trust *t = mk(&root, 1, 3);
    vouch(t, 1, 10);
    vouch(t, 1, 20);
    vouch(t, 10, 30);
    vouch(t, 20, 30);
    compute(t);
    uint8_t k[32];
    K(k, 10);
    assert_memory_equal(look(t, 30).voucher, k, 32);
    revoke(t, 10, 30);
    compute(t);
    assert_true(adm(t, 30));
    diff_is(t, "");
    K(k, 20);
    assert_memory_equal(look(t, 30).voucher, k, 32);
    assert_int_equal(look(t, 30).depth, 2);
    revoke(t, 20, 30);
    compute(t);
    diff_is(t, "-30");
    assert_int_equal(why(t, 30), TW_TRUST_REVOKED);
    tw_trust_free(t);
}

/* hub 10 -> 20 -> 30 -> 40: revoking 20 takes 30 and 40 too; vouching
 * again brings them all back, with nothing re-sent by 20 or 30. */
static void test_cascade(void **state)
{
    uint32_t root = 1;
    tw_trust *t = mk(&root, 1, 4);
    vouch(t, 1, 10);
    vouch(t, 10, 20);
    vouch(t, 20, 30);
    vouch(t, 30, 40);
    compute(t);
    diff_is(t, "+1 +10 +20 +30 +40");
    revoke(t, 10, 20);
    compute(t);
    diff_is(t, "-20 -30 -40");
    assert_int_equal(tw_trust_count(t), 2);
    assert_int_equal(put(t, 10, 20, TW_TRUST_MEMBER, false, 3000), 0);
    compute(t);
    diff_is(t, "+20 +30 +40");
    assert_int_equal(look(t, 20).since, 3000);
    /* The same through a root's revocation of the hub. */
    revoke(t, 1, 10);
    compute(t);
    diff_is(t, "-10 -20 -30 -40");
    vouch(t, 1, 10);
    compute(t);
    diff_is(t, "+10 +20 +30 +40");
    tw_trust_free(t);
}

static void test_unadmitted_author_counts_later(void **state)
{
    uint32_t root = 1;
    tw_trust *t = mk(&root, 1, 3);
    vouch(t, 50, 51);                /* 50 is nobody yet */
    vouch(t, 51, 52);
    compute(t);
    assert_false(adm(t, 51));
    assert_int_equal(why(t, 51), TW_TRUST_UNVOUCHED);
    assert_int_equal(why(t, 50), TW_TRUST_UNVOUCHED);
    diff_is(t, "+1");
    vouch(t, 1, 50);
    compute(t);
    diff_is(t, "+50 +51 +52");
    assert_int_equal(look(t, 52).depth, 3);
    tw_trust_free(t);
}

static void test_self_and_cycles(void **state)
{
    uint32_t root = 1;
    tw_trust *t = mk(&root, 1, 5);
    vouch(t, 60, 60);
    vouch(t, 70, 71);
    vouch(t, 71, 70);
    compute(t);
    assert_false(adm(t, 60));
    assert_false(adm(t, 70));
    assert_false(adm(t, 71));
    assert_int_equal(why(t, 70), TW_TRUST_UNVOUCHED);
    diff_is(t, "+1");
    /* Admitted, the self-vouch still adds nothing and its revocation takes
     * nothing away. */
    vouch(t, 1, 60);
    revoke(t, 60, 60);
    vouch(t, 60, 70);
    compute(t);
    diff_is(t, "+60 +70 +71");
    assert_int_equal(look(t, 60).depth, 1);
    assert_int_equal(look(t, 71).depth, 3);
    uint8_t k[32];
    K(k, 70);
    assert_memory_equal(look(t, 71).voucher, k, 32);
    tw_trust_free(t);
}

static void test_deterministic_choice(void **state)
{
    /* Roots 3 and 2 both vouch for 40; 2 is the smaller key whatever the
     * order of the records.  20 vouches for 40 too but one step further. */
    for (int order = 0; order < 2; order++) {
        uint32_t roots[] = { 3, 2 };
        tw_trust *t = mk(roots, 2, 3);
        vouch(t, 3, 20);
        assert_int_equal(put(t, 20, 40, TW_TRUST_HUB, false, 1), 0);
        if (order == 0) {
            assert_int_equal(put(t, 3, 40, TW_TRUST_HUB, false, 5), 0);
            assert_int_equal(put(t, 2, 40, TW_TRUST_MEMBER, false, 9), 0);
        } else {
            assert_int_equal(put(t, 2, 40, TW_TRUST_MEMBER, false, 9), 0);
            assert_int_equal(put(t, 3, 40, TW_TRUST_HUB, false, 5), 0);
        }
        compute(t);
        tw_trust_member m = look(t, 40);
        uint8_t k[32];
        K(k, 2);
        assert_memory_equal(m.voucher, k, 32);
        assert_int_equal(m.role, TW_TRUST_MEMBER);
        assert_int_equal(m.since, 9);
        assert_int_equal(m.depth, 1);
        /* Without root 2's vouch, root 3's is the shortest path. */
        K(k, 2);
        uint8_t v[32];
        K(v, 40);
        assert_int_equal(tw_trust_del_vouch(t, k, v), 0);
        compute(t);
        m = look(t, 40);
        assert_int_equal(m.role, TW_TRUST_HUB);
        assert_int_equal(m.since, 5);
        tw_trust_free(t);
    }
}

static void test_diff_and_deletion(void **state)
{
    uint32_t root = 1;
    tw_trust *t = mk(&root, 1, 3);
    vouch(t, 1, 10);
    vouch(t, 10, 11);
    compute(t);
    uint8_t a[32], k[32];
    K(a, 10);
    K(k, 11);
    assert_int_equal(tw_trust_del_vouch(t, a, k), 0);
    assert_int_equal(tw_trust_del_vouch(t, a, k), TW_ENOTFOUND);
    /* Answers stay those of the last compute until the next one. */
    assert_true(adm(t, 11));
    assert_int_equal(tw_trust_count(t), 3);
    compute(t);
    diff_is(t, "-11");
    assert_false(adm(t, 11));
    assert_int_equal(why(t, 11), TW_TRUST_UNVOUCHED);
    compute(t);
    diff_is(t, "");
    /* Gone and back before a compute: no change to report. */
    K(a, 1);
    K(k, 10);
    assert_int_equal(tw_trust_del_vouch(t, a, k), 0);
    vouch(t, 1, 10);
    compute(t);
    diff_is(t, "");
    uint8_t out[32];
    bool g;
    assert_int_equal(tw_trust_diff(t, 0, out, &g), TW_ENOTFOUND);
    tw_trust_free(t);
}

static void test_replace_and_args(void **state)
{
    uint32_t root = 1;
    tw_trust *t = mk(&root, 1, 3);
    uint8_t a[32], k[32];
    K(a, 1);
    K(k, 10);
    assert_int_equal(tw_trust_put_vouch(t, a, k, "Old name", 8, TW_TRUST_MEMBER, false, 5), 0);
    assert_int_equal(tw_trust_put_vouch(t, a, k, "New name", 8, TW_TRUST_HUB, false, 3), 0);
    assert_int_equal(tw_trust_records(t), 1);
    compute(t);
    tw_trust_member m = look(t, 10);
    assert_memory_equal(m.name, "New name", 8);
    assert_int_equal(m.role, TW_TRUST_HUB);
    assert_int_equal(m.since, 3);
    assert_int_equal(tw_trust_put_vouch(t, a, k, NULL, 0, TW_TRUST_MEMBER, false, 6), 0);
    compute(t);
    assert_int_equal(look(t, 10).name_len, 0);

    assert_int_equal(tw_trust_put_vouch(t, a, k, "x", 1, TW_TRUST_ROOT, false, 1), TW_EINVAL);
    assert_int_equal(tw_trust_put_vouch(t, a, k, "x", 1, -1, false, 1), TW_EINVAL);
    assert_int_equal(tw_trust_put_vouch(t, a, k, NULL, 1, TW_TRUST_MEMBER, false, 1), TW_EINVAL);
    assert_int_equal(tw_trust_put_vouch(NULL, a, k, "x", 1, TW_TRUST_MEMBER, false, 1), TW_EINVAL);
    assert_int_equal(tw_trust_del_vouch(t, k, a), TW_ENOTFOUND);
    assert_int_equal(tw_trust_compute(NULL), TW_EINVAL);
    assert_false(tw_trust_admitted(NULL, a));
    assert_int_equal(tw_trust_count(NULL), 0);
    assert_string_equal(tw_trust_why_str(TW_TRUST_BANNED), "revoked by a root key");
    assert_string_equal(tw_trust_why_str(99), "unknown reason");
    tw_trust *x = (tw_trust *)1;
    assert_int_equal(tw_trust_new(&x, NULL, 1, 3, HKEY), TW_EINVAL);
    assert_null(x);
    tw_trust_free(t);
    tw_trust_free(NULL);
}

/* ---- order independence ---- */

typedef struct rec { uint32_t a, k; bool rev; int role; } rec;

/* Root 1; 5 -> 6 arrives before anyone vouches 5; 3 is vouched by two
 * authors and revoked by one; 4 is vouched only by 3. */
static const rec SMALL[] = {
    { 1, 2, false, TW_TRUST_HUB }, { 2, 3, false, TW_TRUST_MEMBER }, { 2, 5, false, TW_TRUST_MEMBER },
    { 5, 6, false, TW_TRUST_HUB }, { 5, 3, true, TW_TRUST_MEMBER }, { 3, 4, false, TW_TRUST_MEMBER },
};
#define NSMALL (sizeof SMALL / sizeof SMALL[0])

static void snapshot(const tw_trust *t, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (size_t i = 0; i < tw_trust_count(t); i++) {
        tw_trust_member m;
        assert_int_equal(tw_trust_get(t, i, &m), 0);
        len += (size_t)snprintf(buf + len, cap - len, "%u/%u/%u/%d/%.*s;", m.key[0], m.depth,
                                m.voucher[0], m.role, (int)m.name_len, m.name);
        assert_true(len < cap);
    }
    for (uint32_t n = 0; n < 8; n++)
        len += (size_t)snprintf(buf + len, cap - len, "w%d", why(t, n));
}

static bool next_perm(size_t *p, size_t n)
{
    size_t i = n - 1;
    while (i > 0 && p[i - 1] >= p[i]) i--;
    if (i == 0) return false;
    size_t j = n - 1;
    while (p[j] <= p[i - 1]) j--;
    size_t x = p[i - 1]; p[i - 1] = p[j]; p[j] = x;
    for (size_t a = i, b = n - 1; a < b; a++, b--) { x = p[a]; p[a] = p[b]; p[b] = x; }
    return true;
}

static void test_order_independence(void **state)
{
    char ref[1024] = "", got[1024];
    size_t p[NSMALL];
    for (size_t i = 0; i < NSMALL; i++) p[i] = i;
    unsigned perms = 0;
    do {
        uint32_t root = 1;
        tw_trust *t = mk(&root, 1, 3);
        for (size_t i = 0; i < NSMALL; i++) {
            const rec *r = &SMALL[p[i]];
            assert_int_equal(put(t, r->a, r->k, r->role, r->rev, 10), 0);
            if (perms % 2) compute(t);      /* computing on the way changes nothing */
        }
        compute(t);
        snapshot(t, got, sizeof got);
        if (perms == 0) strcpy(ref, got);
        assert_string_equal(got, ref);
        tw_trust_free(t);
        perms++;
    } while (next_perm(p, NSMALL) && perms < 1000);
    assert_int_equal(perms, 720);
    /* 1 root; 2 by 1; 3 and 5 by 2; 4 by 3; 6 by 5 (3's revocation by 5
     * leaves 2's vouch). */
    assert_string_equal(ref, "1/0/0/2/;2/1/1/1/Association 2;3/2/2/0/Association 3;"
                             "5/2/2/0/Association 5;4/3/3/0/Association 4;6/3/5/1/Association 6;"
                             "w1w0w0w0w0w0w0w1");
}

/* ---- a plain fixpoint to compare with ---- */

#define RN 24u     /* keys in the random graphs */

static void reference(const rec *rs, size_t n, const bool *root, unsigned maxd,
                      unsigned *depth, uint32_t *voucher, int *role)
{
    bool banned[RN] = { false };
    for (size_t i = 0; i < n; i++)
        if (root[rs[i].a] && rs[i].rev && !root[rs[i].k]) banned[rs[i].k] = true;
    for (uint32_t k = 0; k < RN; k++) depth[k] = root[k] ? 0 : 99;
    for (unsigned round = 0; round < RN; round++)
        for (size_t i = 0; i < n; i++) {
            const rec *r = &rs[i];
            if (r->rev || r->a == r->k || root[r->k] || banned[r->k]) continue;
            if (depth[r->a] < maxd && depth[r->a] + 1 < depth[r->k]) depth[r->k] = depth[r->a] + 1;
        }
    for (uint32_t k = 0; k < RN; k++) {
        voucher[k] = 999;
        role[k] = TW_TRUST_ROOT;
        if (root[k] || depth[k] == 99) continue;
        for (size_t i = 0; i < n; i++) {
            const rec *r = &rs[i];
            if (r->k == k && !r->rev && r->a != k && depth[r->a] + 1 == depth[k] && r->a < voucher[k]) {
                voucher[k] = r->a;
                role[k] = r->role;
            }
        }
    }
}

static void test_random_against_fixpoint(void **state)
{
    srand(4242);
    for (int round = 0; round < 300; round++) {
        bool root[RN] = { false };
        uint32_t roots[4];
        size_t nroots = (size_t)(rand() % 4);
        for (size_t i = 0; i < nroots; i++) {
            roots[i] = (uint32_t)(rand() % RN);
            root[roots[i]] = true;
        }
        unsigned maxd = (unsigned)(rand() % 6);
        /* One record per (author, key) pair, as in the store. */
        rec rs[RN * 3];
        size_t n = 0;
        size_t want = (size_t)(rand() % (RN * 3));
        for (size_t tries = 0; n < want && tries < 1000; tries++) {
            rec r = { (uint32_t)(rand() % RN), (uint32_t)(rand() % RN), rand() % 5 == 0,
                      rand() % 2 ? TW_TRUST_HUB : TW_TRUST_MEMBER };
            bool dup = false;
            for (size_t i = 0; i < n; i++) dup |= rs[i].a == r.a && rs[i].k == r.k;
            if (!dup) rs[n++] = r;
        }
        tw_trust *t = mk(roots, nroots, maxd);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(put(t, rs[i].a, rs[i].k, rs[i].role, rs[i].rev, 1), 0);
        compute(t);
        unsigned depth[RN];
        uint32_t voucher[RN];
        int role[RN];
        reference(rs, n, root, maxd, depth, voucher, role);
        size_t count = 0;
        for (uint32_t k = 0; k < RN; k++) {
            bool in = depth[k] != 99;
            count += in;
            assert_int_equal(adm(t, k), in);
            if (!in) {
                assert_int_not_equal(why(t, k), TW_TRUST_OK);
                continue;
            }
            tw_trust_member m = look(t, k);
            assert_int_equal(m.depth, depth[k]);
            assert_int_equal(m.role, role[k]);
            if (!root[k]) assert_int_equal(m.voucher[0], voucher[k]);
        }
        assert_int_equal(tw_trust_count(t), count);
        tw_trust_free(t);
    }
}

/* Puts, replacements and deletions in any mix, computing now and then:
 * the answers and the diff always match the fixpoint of the records held. */
static void test_churn_against_fixpoint(void **state)
{
    srand(777);
    for (int round = 0; round < 40; round++) {
        uint32_t roots[2] = { (uint32_t)(rand() % RN), (uint32_t)(rand() % RN) };
        bool root[RN] = { false };
        root[roots[0]] = root[roots[1]] = true;
        unsigned maxd = 1 + (unsigned)(rand() % 4);
        tw_trust *t = mk(roots, 2, maxd);
        rec rs[RN * RN];
        size_t n = 0;
        bool before[RN] = { false };
        for (int step = 0; step < 400; step++) {
            uint32_t a = (uint32_t)(rand() % RN), k = (uint32_t)(rand() % RN);
            size_t at = n;
            for (size_t i = 0; i < n; i++)
                if (rs[i].a == a && rs[i].k == k) at = i;
            if (at < n && rand() % 3 == 0) {
                uint8_t ka[32], kk[32];
                K(ka, a);
                K(kk, k);
                assert_int_equal(tw_trust_del_vouch(t, ka, kk), 0);
                rs[at] = rs[--n];
            } else {
                rec r = { a, k, rand() % 4 == 0, rand() % 2 ? TW_TRUST_HUB : TW_TRUST_MEMBER };
                assert_int_equal(put(t, a, k, r.role, r.rev, (uint64_t)step), 0);
                rs[at] = r;
                if (at == n) n++;
            }
            assert_int_equal(tw_trust_records(t), n);
            if (rand() % 10) continue;
            compute(t);
            unsigned depth[RN];
            uint32_t voucher[RN];
            int role[RN];
            reference(rs, n, root, maxd, depth, voucher, role);
            size_t changed = 0, count = 0;
            for (uint32_t key = 0; key < RN; key++) {
                bool in = depth[key] != 99;
                count += in;
                changed += in != before[key];
                before[key] = in;
                assert_int_equal(adm(t, key), in);
                if (in && !root[key]) {
                    tw_trust_member m = look(t, key);
                    assert_int_equal(m.depth, depth[key]);
                    assert_int_equal(m.voucher[0], voucher[key]);
                    assert_int_equal(m.role, role[key]);
                }
            }
            assert_int_equal(tw_trust_count(t), count);
            assert_int_equal(tw_trust_diff_count(t), changed);
            for (size_t i = 0; i < tw_trust_diff_count(t); i++) {
                uint8_t key[32];
                bool gained;
                assert_int_equal(tw_trust_diff(t, i, key, &gained), 0);
                assert_int_equal(gained, before[key[0]]);
            }
        }
        tw_trust_free(t);
    }
}

/* ---- limits ---- */

static void test_limits_new(void **state)
{
    uint32_t roots[TW_CONF_ROOTS_MAX + 1];
    for (uint32_t i = 0; i <= TW_CONF_ROOTS_MAX; i++) roots[i] = 100 + i;
    tw_trust *t = mk(roots, TW_CONF_ROOTS_MAX, TW_TRUST_DEPTH_MAX);
    /* A chain as long as the deepest setting allows, and one step more. */
    for (uint32_t i = 0; i <= TW_TRUST_DEPTH_MAX; i++) vouch(t, i == 0 ? 100 : i, i + 1);
    compute(t);
    assert_int_equal(tw_trust_count(t), TW_CONF_ROOTS_MAX + TW_TRUST_DEPTH_MAX);
    assert_int_equal(look(t, TW_TRUST_DEPTH_MAX).depth, TW_TRUST_DEPTH_MAX);
    assert_int_equal(why(t, TW_TRUST_DEPTH_MAX + 1), TW_TRUST_TOO_DEEP);
    tw_trust_free(t);

    key_t32 r[TW_CONF_ROOTS_MAX + 1];
    for (uint32_t i = 0; i <= TW_CONF_ROOTS_MAX; i++) K(r[i], roots[i]);
    t = NULL;
    assert_int_equal(tw_trust_new(&t, (const uint8_t (*)[32])r, TW_CONF_ROOTS_MAX + 1, 3, HKEY),
                     TW_ETOOBIG);
    assert_int_equal(tw_trust_new(&t, (const uint8_t (*)[32])r, 1, TW_TRUST_DEPTH_MAX + 1, HKEY),
                     TW_EINVAL);
    assert_null(t);
}

static void test_limit_name(void **state)
{
    uint32_t root = 1;
    tw_trust *t = mk(&root, 1, 3);
    char *name = malloc(TW_STR_MAX + 1);
    assert_non_null(name);
    memset(name, 'a', TW_STR_MAX + 1);
    uint8_t a[32], k[32];
    K(a, 1);
    K(k, 2);
    assert_int_equal(tw_trust_put_vouch(t, a, k, name, TW_STR_MAX + 1, 0, false, 1), TW_ETOOBIG);
    assert_int_equal(tw_trust_records(t), 0);
    assert_int_equal(tw_trust_put_vouch(t, a, k, name, TW_STR_MAX, 0, false, 1), 0);
    compute(t);
    assert_int_equal(look(t, 2).name_len, TW_STR_MAX);
    free(name);
    tw_trust_free(t);
}

static void test_limit_per_author(void **state)
{
    uint32_t root = 1;
    tw_trust *t = mk(&root, 1, 3);
    for (uint32_t i = 0; i < TW_TRUST_VOUCHES_PER_AUTHOR_MAX; i++)
        assert_int_equal(put(t, 1, 1000 + i, 0, false, 1), 0);
    assert_int_equal(put(t, 1, 999, 0, false, 1), TW_ETOOBIG);
    /* Replacing a record is no new record. */
    assert_int_equal(put(t, 1, 1000, 0, true, 2), 0);
    /* Another author is not held back. */
    assert_int_equal(put(t, 1000, 999, 0, false, 1), 0);
    uint8_t a[32], k[32];
    K(a, 1);
    K(k, 1001);
    assert_int_equal(tw_trust_del_vouch(t, a, k), 0);
    assert_int_equal(put(t, 1, 999, 0, false, 1), 0);
    compute(t);
    /* The root, 999, and 1002.. (1000 revoked, 1001 gone). */
    assert_int_equal(tw_trust_count(t), 1 + 1 + TW_TRUST_VOUCHES_PER_AUTHOR_MAX - 2);
    tw_trust_free(t);
}

static void test_limit_keys(void **state)
{
    uint32_t root = 1;
    tw_trust *t = mk(&root, 1, 3);
    /* Authors 2, 3, ... each vouch for fresh keys from 100000 on. */
    uint32_t keys = 1, next = 100000, author = 2;
    bool author_new = true;
    uint32_t per = 0;
    for (;;) {
        uint32_t need = keys + 1 + author_new;
        int rc = put(t, author, next, 0, false, 1);
        if (need > TW_TRUST_KEYS_MAX) {
            assert_int_equal(rc, TW_ETOOBIG);
            break;
        }
        assert_int_equal(rc, 0);
        keys = need;
        next++;
        author_new = false;
        if (++per == TW_TRUST_VOUCHES_PER_AUTHOR_MAX) {
            per = 0;
            author++;
            author_new = true;
        }
    }
    assert_int_equal(keys, TW_TRUST_KEYS_MAX);
    /* Records between known keys still go in. */
    assert_int_equal(put(t, 1, 2, 0, false, 1), 0);
    assert_int_equal(put(t, 1, 100000, 0, false, 1), 0);
    assert_int_equal(put(t, 1, 50, 0, false, 1), TW_ETOOBIG);
    /* A key no record names any more makes room for one. */
    uint8_t a[32], k[32];
    K(a, 2);
    K(k, 100001);
    assert_int_equal(tw_trust_del_vouch(t, a, k), 0);
    assert_int_equal(put(t, 1, 50, 0, false, 1), 0);
    compute(t);
    assert_true(adm(t, 100000));
    assert_true(adm(t, 100002));
    assert_false(adm(t, 100001));
    tw_trust_free(t);
}

static void test_limit_vouches_and_cost(void **state)
{
    uint32_t root = 1;
    enum { AUTHORS = TW_TRUST_VOUCHES_MAX / TW_TRUST_VOUCHES_PER_AUTHOR_MAX };
    tw_trust *t = mk(&root, 1, 3);
    for (uint32_t a = 0; a < AUTHORS; a++) vouch(t, 1, 10 + a);
    uint32_t n = AUTHORS;
    for (uint32_t a = 0; a < AUTHORS; a++)
        for (uint32_t i = 0; i < TW_TRUST_VOUCHES_PER_AUTHOR_MAX && n < TW_TRUST_VOUCHES_MAX; i++, n++)
            assert_int_equal(put(t, 10 + a, 100000 + i, i % 2, false, 1), 0);
    assert_int_equal(tw_trust_records(t), TW_TRUST_VOUCHES_MAX);
    assert_int_equal(put(t, 5, 6, 0, false, 1), TW_ETOOBIG);
    assert_int_equal(put(t, 10, 100000, 0, true, 2), 0);   /* a replacement */

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    compute(t);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    print_message("compute over %u records and %u keys: %.1f ms\n", (unsigned)TW_TRUST_VOUCHES_MAX,
                  (unsigned)(1 + AUTHORS + TW_TRUST_VOUCHES_PER_AUTHOR_MAX), ms);
    assert_int_equal(tw_trust_count(t), 1 + AUTHORS + TW_TRUST_VOUCHES_PER_AUTHOR_MAX);
    /* 100000 is vouched by 10 (revoked) and 11: 11 gives it. */
    uint8_t k[32];
    K(k, 11);
    assert_memory_equal(look(t, 100000).voucher, k, 32);
    assert_true(ms < 2000);

    /* Revoking every author takes everything they vouched for. */
    for (uint32_t a = 0; a < AUTHORS; a++) revoke(t, 1, 10 + a);
    compute(t);
    assert_int_equal(tw_trust_count(t), 1);
    assert_int_equal(tw_trust_diff_count(t), AUTHORS + TW_TRUST_VOUCHES_PER_AUTHOR_MAX);
    tw_trust_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roots_only),
        cmocka_unit_test(test_chain_depth),
        cmocka_unit_test(test_revoked_by_voucher),
        cmocka_unit_test(test_revoked_by_root),
        cmocka_unit_test(test_two_vouchers),
        cmocka_unit_test(test_cascade),
        cmocka_unit_test(test_unadmitted_author_counts_later),
        cmocka_unit_test(test_self_and_cycles),
        cmocka_unit_test(test_deterministic_choice),
        cmocka_unit_test(test_diff_and_deletion),
        cmocka_unit_test(test_replace_and_args),
        cmocka_unit_test(test_order_independence),
        cmocka_unit_test(test_random_against_fixpoint),
        cmocka_unit_test(test_churn_against_fixpoint),
        cmocka_unit_test(test_limits_new),
        cmocka_unit_test(test_limit_name),
        cmocka_unit_test(test_limit_per_author),
        cmocka_unit_test(test_limit_keys),
        cmocka_unit_test(test_limit_vouches_and_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
