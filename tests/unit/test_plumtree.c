/*
 * The push tree's state (proto/plumtree.c): a link's eager/lazy
 * transitions, the PRUNE/GRAFT budget both ways, peers that do not speak
 * it, and the table of announced ids that have not arrived (deadlines,
 * announcers in turn, bounds, departed peers), checked against a plain
 * model under random operations; and the ring of ids fetched by a first
 * reconciliation, watched for the tree's own copy (got_connect_raced).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "twin/err.h"
#include "twin/plumtree.h"

static const uint8_t key[TW_PLUM_HASH_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

static void make_id(uint8_t id[TW_PLUM_ID_LEN], unsigned k)
{
    memset(id, 0, TW_PLUM_ID_LEN);
    memcpy(id, &k, sizeof k);
    id[31] = 0x5a;
}

static void test_link_transitions(void **state)
{
    tw_plum_link l;
    tw_plum_link_init(&l, true);
    /* A new link is eager: entries go in full. */
    assert_true(l.eager);
    assert_int_equal(tw_plum_link_route(&l), TW_PLUM_PUSH);
    /* A duplicate push prunes it once. */
    assert_true(tw_plum_link_duplicate(&l, 1000));
    assert_false(l.eager);
    assert_int_equal(tw_plum_link_route(&l), TW_PLUM_ANNOUNCE);
    assert_false(tw_plum_link_duplicate(&l, 1001));   /* PRUNE already sent */
    assert_int_equal(l.dups_recv, 2);
    assert_int_equal(l.prunes_sent, 1);
    /* A missing entry grafts it once. */
    assert_true(tw_plum_link_graft(&l, 1002));
    assert_true(l.eager);
    /* Eager here but announced by the peer: its side is lazy, graft again. */
    assert_true(tw_plum_link_graft(&l, 1003));
    assert_int_equal(l.grafts_sent, 2);
    assert_int_equal(tw_plum_link_route(&l), TW_PLUM_PUSH);
    assert_int_equal(l.pushes_sent, 2);
    assert_int_equal(l.ihave_sent, 1);
    /* The peer's PRUNE and GRAFT set it. */
    const char *why = NULL;
    assert_int_equal(tw_plum_link_on_ctrl(&l, false, 1004, &why), 0);
    assert_false(l.eager);
    assert_int_equal(tw_plum_link_on_ctrl(&l, false, 1005, &why), 0);   /* repeated: harmless */
    assert_false(l.eager);
    assert_int_equal(tw_plum_link_on_ctrl(&l, true, 1006, &why), 0);
    assert_true(l.eager);
    assert_int_equal(l.prunes_recv, 2);
    assert_int_equal(l.grafts_recv, 1);
    assert_int_equal(tw_plum_link_on_ihave(&l, 7, &why), 0);
    assert_int_equal(l.ihave_recv, 7);
}

/* PRUNE and GRAFT that cross leave this side lazy and the peer eager: the
 * peer's pushes keep coming.  Those within TW_PUSH_GRAFT_WAIT_MS of the
 * change were in flight and are let be; a later one prunes again. */
static void test_crossed_prune(void **state)
{
    tw_plum_link l;
    const char *why = NULL;
    tw_plum_link_init(&l, true);
    uint64_t t = 100000;
    assert_true(tw_plum_link_duplicate(&l, t));                 /* we PRUNE ... */
    assert_false(tw_plum_link_duplicate(&l, t + 10));           /* in flight */
    assert_false(tw_plum_link_duplicate(&l, t + TW_PUSH_GRAFT_WAIT_MS - 1));
    assert_true(tw_plum_link_duplicate(&l, t + TW_PUSH_GRAFT_WAIT_MS));   /* it missed it */
    assert_int_equal(l.prunes_sent, 2);
    /* The peer's PRUNE makes pushes already sent by it expected too. */
    tw_plum_link_init(&l, true);
    assert_int_equal(tw_plum_link_on_ctrl(&l, false, t, &why), 0);
    assert_false(tw_plum_link_duplicate(&l, t + 5));
    assert_true(tw_plum_link_duplicate(&l, t + 5 + TW_PUSH_GRAFT_WAIT_MS));
}

/* A peer without the feature gets full pushes and never a tree message;
 * one from it is a protocol error. */
static void test_link_not_capable(void **state)
{
    tw_plum_link l;
    const char *why = NULL;
    tw_plum_link_init(&l, false);
    for (int i = 0; i < 5; i++) {
        assert_false(tw_plum_link_duplicate(&l, 10 + i));
        assert_int_equal(tw_plum_link_route(&l), TW_PLUM_PUSH);
    }
    assert_false(tw_plum_link_graft(&l, 20));
    assert_int_equal(tw_plum_link_on_ctrl(&l, false, 21, &why), TW_EPROTO);
    assert_non_null(strstr(why, "PRUNE"));
    assert_int_equal(tw_plum_link_on_ctrl(&l, true, 22, &why), TW_EPROTO);
    assert_non_null(strstr(why, "GRAFT"));
    assert_int_equal(tw_plum_link_on_ihave(&l, 1, &why), TW_EPROTO);
    assert_non_null(strstr(why, "IHAVE"));
    assert_true(l.eager);
    assert_int_equal(l.prunes_sent + l.grafts_sent, 0);
}

/* At most TW_PUSH_CTRL_MAX sent per window; without budget the link keeps
 * its state (eager: more copies, never a lost entry); a new window gives
 * the budget back. */
static void test_send_budget(void **state)
{
    tw_plum_link l;
    tw_plum_link_init(&l, true);
    uint64_t t = 50000;
    for (unsigned i = 0; i < TW_PUSH_CTRL_MAX; i++) {
        if (i % 2 == 0) assert_true(tw_plum_link_duplicate(&l, t));
        else assert_true(tw_plum_link_graft(&l, t));
    }
    assert_true(l.eager);                                  /* 32 flips: back to eager */
    assert_false(tw_plum_link_duplicate(&l, t + TW_PUSH_CTRL_WINDOW_MS - 1));
    assert_true(l.eager);
    assert_true(tw_plum_link_duplicate(&l, t + TW_PUSH_CTRL_WINDOW_MS));
    assert_false(l.eager);
    assert_int_equal(l.prunes_sent + l.grafts_sent, TW_PUSH_CTRL_MAX + 1);
}

/* Up to 2 * TW_PUSH_CTRL_MAX received per window (two of the sender's
 * windows may overlap one of ours), one more is refused with a reason. */
static void test_recv_budget(void **state)
{
    tw_plum_link l;
    const char *why = NULL;
    tw_plum_link_init(&l, true);
    uint64_t t = 7;
    for (unsigned i = 0; i < 2 * TW_PUSH_CTRL_MAX; i++)
        assert_int_equal(tw_plum_link_on_ctrl(&l, i % 2, t + i, &why), 0);
    assert_int_equal(tw_plum_link_on_ctrl(&l, true, t + 100, &why), TW_EPROTO);
    assert_non_null(strstr(why, "PRUNE and GRAFT"));
    tw_plum_link_init(&l, true);
    for (unsigned i = 0; i < 2 * TW_PUSH_CTRL_MAX; i++)
        assert_int_equal(tw_plum_link_on_ctrl(&l, true, t, &why), 0);
    assert_int_equal(tw_plum_link_on_ctrl(&l, true, t + TW_PUSH_CTRL_WINDOW_MS, &why), 0);
}

static void test_missing_deadlines(void **state)
{
    tw_plum_missing *m;
    uint8_t a[32], b[32], got[32];
    uint64_t peer;
    make_id(a, 1);
    make_id(b, 2);
    assert_int_equal(tw_plum_missing_new(&m, 16, key), 0);
    assert_int_equal(tw_plum_missing_add(m, a, 11, 1000), 0);
    assert_int_equal(tw_plum_missing_add(m, a, 11, 1001), 0);  /* same peer again: once */
    assert_int_equal(tw_plum_missing_add(m, a, 12, 1002), 0);
    assert_int_equal(tw_plum_missing_add(m, b, 13, 1100), 0);
    assert_int_equal(tw_plum_missing_count(m), 2);
    /* Not before TW_PUSH_MISSING_MS. */
    assert_false(tw_plum_missing_due(m, 1000 + TW_PUSH_MISSING_MS - 1, got, &peer));
    assert_true(tw_plum_missing_due(m, 1000 + TW_PUSH_MISSING_MS, got, &peer));
    assert_memory_equal(got, a, 32);
    assert_int_equal(peer, 11);
    assert_false(tw_plum_missing_due(m, 1000 + TW_PUSH_MISSING_MS, got, &peer));
    /* b arrives in full: forgotten. */
    tw_plum_missing_got(m, b);
    assert_int_equal(tw_plum_missing_count(m), 1);
    assert_false(tw_plum_missing_due(m, 1100 + TW_PUSH_MISSING_MS, got, &peer));
    /* a is still missing TW_PUSH_GRAFT_WAIT_MS later: the next announcer. */
    uint64_t t = 1000 + TW_PUSH_MISSING_MS + TW_PUSH_GRAFT_WAIT_MS;
    assert_false(tw_plum_missing_due(m, t - 1, got, &peer));
    assert_true(tw_plum_missing_due(m, t, got, &peer));
    assert_memory_equal(got, a, 32);
    assert_int_equal(peer, 12);
    assert_false(tw_plum_missing_due(m, t, got, &peer));      /* the sweep ends */
    /* Everyone asked: given up when due again (reconciliation remains). */
    assert_false(tw_plum_missing_due(m, t + TW_PUSH_GRAFT_WAIT_MS, got, &peer));
    assert_int_equal(tw_plum_missing_count(m), 0);
    tw_plum_missing_free(m);
}

static void test_missing_bounds(void **state)
{
    tw_plum_missing *m;
    uint8_t id[32], got[32];
    uint64_t peer;
    assert_int_equal(tw_plum_missing_new(&m, 0, key), TW_EINVAL);
    assert_int_equal(tw_plum_missing_new(&m, 8, key), 0);
    for (unsigned k = 0; k < 8; k++) {
        make_id(id, k);
        assert_int_equal(tw_plum_missing_add(m, id, 1, 0), 0);
    }
    make_id(id, 8);
    assert_int_equal(tw_plum_missing_add(m, id, 1, 0), TW_EFULL);
    assert_int_equal(tw_plum_missing_count(m), 8);
    /* A known id still takes announcers when the table is full, up to
     * TW_PUSH_ANNOUNCERS_MAX. */
    make_id(id, 3);
    for (uint64_t p = 2; p < 10; p++) assert_int_equal(tw_plum_missing_add(m, id, p, 0), 0);
    unsigned asked = 0;
    for (uint64_t t = TW_PUSH_MISSING_MS; t < 20u * TW_PUSH_GRAFT_WAIT_MS; t += TW_PUSH_GRAFT_WAIT_MS)
        while (tw_plum_missing_due(m, t, got, &peer))
            if (memcmp(got, id, 32) == 0) {
                assert_int_equal(peer, 1 + asked);
                asked++;
            }
    assert_int_equal(asked, TW_PUSH_ANNOUNCERS_MAX);
    assert_int_equal(tw_plum_missing_count(m), 0);
    make_id(id, 8);
    assert_int_equal(tw_plum_missing_add(m, id, 1, 0), 0);
    tw_plum_missing_free(m);
}

static void test_missing_peer_gone(void **state)
{
    tw_plum_missing *m;
    uint8_t a[32], b[32], got[32];
    uint64_t peer;
    make_id(a, 100);
    make_id(b, 200);
    assert_int_equal(tw_plum_missing_new(&m, 4, key), 0);
    assert_int_equal(tw_plum_missing_add(m, a, 1, 0), 0);
    assert_int_equal(tw_plum_missing_add(m, a, 2, 0), 0);
    assert_int_equal(tw_plum_missing_add(m, b, 1, 0), 0);
    tw_plum_missing_peer_gone(m, 1);
    /* a is asked of peer 2, b of no one. */
    assert_true(tw_plum_missing_due(m, TW_PUSH_MISSING_MS, got, &peer));
    assert_memory_equal(got, a, 32);
    assert_int_equal(peer, 2);
    assert_false(tw_plum_missing_due(m, TW_PUSH_MISSING_MS, got, &peer));
    assert_int_equal(tw_plum_missing_count(m), 1);
    /* Peer 2 goes after being asked: a is given up when due. */
    tw_plum_missing_peer_gone(m, 2);
    assert_false(tw_plum_missing_due(m, TW_PUSH_MISSING_MS + TW_PUSH_GRAFT_WAIT_MS, got, &peer));
    assert_int_equal(tw_plum_missing_count(m), 0);
    tw_plum_missing_free(m);
}

/* Random adds, arrivals and sweeps against a plain list: the table must
 * hold exactly the model's ids (deletion by backward shift keeps every
 * record findable). */
static void test_missing_model(void **state)
{
    enum { MAX = 96, IDS = 300, OPS = 40000 };
    tw_plum_missing *m;
    bool in[IDS] = { false };
    size_t n = 0;
    uint8_t id[32], got[32];
    uint64_t peer;
    unsigned seed = 12345;
    assert_int_equal(tw_plum_missing_new(&m, MAX, key), 0);
    for (int op = 0; op < OPS; op++) {
        seed = seed * 1103515245u + 12345u;
        unsigned k = (seed >> 8) % IDS, what = (seed >> 20) % 10;
        make_id(id, k);
        if (what < 6) {
            int rc = tw_plum_missing_add(m, id, 1, (uint64_t)op);
            if (in[k]) assert_int_equal(rc, 0);
            else if (n >= MAX) assert_int_equal(rc, TW_EFULL);
            else { assert_int_equal(rc, 0); in[k] = true; n++; }
        } else if (what < 9) {
            tw_plum_missing_got(m, id);
            if (in[k]) { in[k] = false; n--; }
        } else {
            /* A sweep far in the future asks each id of its one announcer,
             * a second one gives them all up. */
            uint64_t t = (uint64_t)op + 10u * TW_PUSH_GRAFT_WAIT_MS;
            size_t asked = 0;
            while (tw_plum_missing_due(m, t, got, &peer)) {
                unsigned g;
                memcpy(&g, got, sizeof g);
                assert_true(g < IDS && in[g]);
                asked++;
            }
            assert_true(asked <= n);
            while (tw_plum_missing_due(m, t + TW_PUSH_GRAFT_WAIT_MS, got, &peer)) {}
            if (tw_plum_missing_count(m) != 0) {
                /* A sweep may leave a record it met before a shift moved it;
                 * the next one takes it. */
                while (tw_plum_missing_due(m, t + 2u * TW_PUSH_GRAFT_WAIT_MS, got, &peer)) {}
                while (tw_plum_missing_due(m, t + 3u * TW_PUSH_GRAFT_WAIT_MS, got, &peer)) {}
            }
            assert_int_equal(tw_plum_missing_count(m), 0);
            memset(in, 0, sizeof in);
            n = 0;
        }
        assert_int_equal(tw_plum_missing_count(m), n);
    }
    /* Every id of the model is found: adding it again changes nothing. */
    for (unsigned k = 0; k < IDS; k++) {
        if (!in[k]) continue;
        make_id(id, k);
        assert_int_equal(tw_plum_missing_add(m, id, 2, 0), 0);
        assert_int_equal(tw_plum_missing_count(m), n);
    }
    tw_plum_missing_free(m);
}

/* TW_PUSH_RACED_MAX ids are watched; one more and the oldest gives way;
 * an id is counted once; taking one out of the middle keeps the order in
 * which the others give way. */
static void test_recent_ring(void **state)
{
    (void)state;
    static tw_plum_recent r;
    uint8_t id[TW_PLUM_ID_LEN];
    memset(&r, 0, sizeof r);
    make_id(id, 7);
    assert_false(tw_plum_recent_take(&r, id));
    for (unsigned k = 0; k < TW_PUSH_RACED_MAX; k++) { make_id(id, k); tw_plum_recent_add(&r, id); }
    for (unsigned k = 0; k < TW_PUSH_RACED_MAX; k++) {
        make_id(id, k);
        assert_true(tw_plum_recent_take(&r, id));
        assert_false(tw_plum_recent_take(&r, id));   /* once */
        tw_plum_recent_add(&r, id);                    /* back, newest now */
    }
    /* At the edge: one more gives way to the oldest (0, re-added first). */
    make_id(id, TW_PUSH_RACED_MAX);
    tw_plum_recent_add(&r, id);
    make_id(id, 0);
    assert_false(tw_plum_recent_take(&r, id));
    make_id(id, 1);
    assert_true(tw_plum_recent_take(&r, id));         /* 1 taken from the oldest end */
    make_id(id, 10);
    assert_true(tw_plum_recent_take(&r, id));         /* 10 from the middle */
    /* 62 held; two more fit, then 2, 3, ... give way in order. */
    for (unsigned k = 0; k < 2; k++) { make_id(id, 1000 + k); tw_plum_recent_add(&r, id); }
    for (unsigned k = 2; k < 6; k++) { make_id(id, 2000 + k); tw_plum_recent_add(&r, id); }
    for (unsigned k = 2; k < 6; k++) { make_id(id, k); assert_false(tw_plum_recent_take(&r, id)); }
    for (unsigned k = 6; k < TW_PUSH_RACED_MAX; k++) {
        make_id(id, k);
        assert_int_equal(tw_plum_recent_take(&r, id), k != 10);
    }
    for (unsigned k = 0; k < 2; k++) { make_id(id, 1000 + k); assert_true(tw_plum_recent_take(&r, id)); }
    for (unsigned k = 2; k < 6; k++) { make_id(id, 2000 + k); assert_true(tw_plum_recent_take(&r, id)); }
    make_id(id, TW_PUSH_RACED_MAX);
    assert_true(tw_plum_recent_take(&r, id));
    assert_int_equal(r.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_transitions),
        cmocka_unit_test(test_crossed_prune),
        cmocka_unit_test(test_link_not_capable),
        cmocka_unit_test(test_send_budget),
        cmocka_unit_test(test_recv_budget),
        cmocka_unit_test(test_missing_deadlines),
        cmocka_unit_test(test_missing_bounds),
        cmocka_unit_test(test_missing_peer_gone),
        cmocka_unit_test(test_missing_model),
        cmocka_unit_test(test_recent_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
