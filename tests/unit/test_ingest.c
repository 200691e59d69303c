/* Ingest: the commit of received entries in halves when a batch is refused
 * for room (tw_ingest_commit_halving), against a model store that holds a
 * given number of items. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "ingest.h"
#include "net.h"

#define TRIES_MAX 256

/* A store with room for `room` items: a commit that would pass it is
 * refused whole with TW_EFULL, as LMDB refuses a transaction. */
typedef struct model {
    size_t room, stored;
    int other_error;            /* returned instead at the commit numbered fail_at */
    size_t fail_at;
    size_t tries, firsts[TRIES_MAX], counts[TRIES_MAX];
} model;

static int model_commit(void *ctx, size_t first, size_t count)
{
    model *m = ctx;
    assert_true(m->tries < TRIES_MAX);
    m->firsts[m->tries] = first;
    m->counts[m->tries] = count;
    m->tries++;
    /* Always the next items in order: what is committed stays a prefix. */
    assert_int_equal(first, m->stored);
    assert_true(count > 0);
    if (m->other_error && m->tries == m->fail_at) return m->other_error;
    if (m->stored + count > m->room) return TW_EFULL;
    m->stored += count;
    return 0;
}

static size_t log2_ceil(size_t n)
{
    size_t k = 0;
    while (((size_t)1 << k) < n) k++;
    return k;
}

static void test_all_fit_one_commit(void **state)
{
    (void)state;
    model m = { .room = 100000 };
    size_t done = 9, commits = 9, refused = 9;
    assert_int_equal(tw_ingest_commit_halving(TW_COMMIT_BATCH_MAX, TW_COMMIT_BATCH_MIN, model_commit, &m,
                                              &done, &commits, &refused), 0);
    assert_int_equal(done, TW_COMMIT_BATCH_MAX);
    assert_int_equal(commits, 1);
    assert_int_equal(refused, 0);
    assert_int_equal(m.counts[0], TW_COMMIT_BATCH_MAX);
}

static void test_nothing_to_commit(void **state)
{
    (void)state;
    model m = { .room = 0 };
    size_t done = 9, commits = 9, refused = 9;
    assert_int_equal(tw_ingest_commit_halving(0, TW_COMMIT_BATCH_MIN, model_commit, &m, &done, &commits, &refused), 0);
    assert_int_equal(done, 0);
    assert_int_equal(commits, 0);
    assert_int_equal(m.tries, 0);
}

/* Whatever fits is stored, for every room from none to all, and the
 * refused commits stay about two per halving. */
static void test_what_fits_is_stored(void **state)
{
    (void)state;
    const size_t n = TW_COMMIT_BATCH_MAX;
    for (size_t room = 0; room <= n + 1; room += room < 40 ? 1 : 37) {
        model m = { .room = room };
        size_t done, commits, refused;
        int rc = tw_ingest_commit_halving(n, TW_COMMIT_BATCH_MIN, model_commit, &m, &done, &commits, &refused);
        size_t want = room < n ? room : n;
        assert_int_equal(done, want);
        assert_int_equal(m.stored, want);
        assert_int_equal(rc, want == n ? 0 : TW_EFULL);
        assert_int_equal(commits, m.tries);
        assert_true(refused <= log2_ceil(n) + 1);
        assert_true(commits <= 2 * (log2_ceil(n) + 1));
    }
}

/* The edge of TW_COMMIT_BATCH_MIN: with no room at all, commits halve from
 * the whole batch down to exactly the smallest batch, which is tried once
 * and never gone below. */
static void test_halves_down_to_the_smallest_batch(void **state)
{
    (void)state;
    const size_t n = TW_COMMIT_BATCH_MAX;
    model m = { .room = 0 };
    size_t done, commits, refused;
    assert_int_equal(tw_ingest_commit_halving(n, TW_COMMIT_BATCH_MIN, model_commit, &m, &done, &commits, &refused),
                     TW_EFULL);
    assert_int_equal(done, 0);
    assert_int_equal(refused, commits);
    size_t want = n;
    for (size_t i = 0; i < m.tries; i++) {
        assert_int_equal(m.counts[i], want);
        want /= 2;
    }
    assert_int_equal(m.counts[m.tries - 1], TW_COMMIT_BATCH_MIN);
    assert_int_equal(m.tries, log2_ceil(n / TW_COMMIT_BATCH_MIN) + 1);

    /* Room for exactly the smallest batch: it is stored, the rest is not. */
    model one = { .room = TW_COMMIT_BATCH_MIN };
    assert_int_equal(tw_ingest_commit_halving(n, TW_COMMIT_BATCH_MIN, model_commit, &one, &done, &commits, &refused),
                     TW_EFULL);
    assert_int_equal(done, TW_COMMIT_BATCH_MIN);
    for (size_t i = 0; i < one.tries; i++) assert_true(one.counts[i] >= TW_COMMIT_BATCH_MIN);

    /* A larger smallest batch stops there: 4096 -> ... -> 64, never 32. */
    model big = { .room = 0 };
    assert_int_equal(tw_ingest_commit_halving(n, 64, model_commit, &big, &done, &commits, &refused), TW_EFULL);
    assert_int_equal(big.counts[big.tries - 1], 64);
    for (size_t i = 0; i < big.tries; i++) assert_true(big.counts[i] >= 64);
}

/* An odd count halves without losing an item: 5 -> 2, then what is left. */
static void test_odd_counts(void **state)
{
    (void)state;
    model m = { .room = 4 };
    size_t done, commits, refused;
    assert_int_equal(tw_ingest_commit_halving(5, 1, model_commit, &m, &done, &commits, &refused), TW_EFULL);
    assert_int_equal(done, 4);
    assert_int_equal(m.counts[0], 5);
    assert_int_equal(m.counts[1], 2);
    assert_int_equal(m.counts[2], 2);
    assert_int_equal(m.counts[3], 1);
}

/* Any other error ends at once, without halving: it is not for room. */
static void test_other_errors_do_not_halve(void **state)
{
    (void)state;
    model m = { .room = 100000, .other_error = TW_EIO, .fail_at = 1 };
    size_t done, commits, refused;
    assert_int_equal(tw_ingest_commit_halving(1000, 1, model_commit, &m, &done, &commits, &refused), TW_EIO);
    assert_int_equal(done, 0);
    assert_int_equal(commits, 1);
    assert_int_equal(refused, 0);

    /* After a refusal for room and a success, an I/O error stops too. */
    model k = { .room = 600, .other_error = TW_EIO, .fail_at = 3 };
    assert_int_equal(tw_ingest_commit_halving(1000, 1, model_commit, &k, &done, &commits, &refused), TW_EIO);
    assert_int_equal(done, 500);
    assert_int_equal(commits, 3);
    assert_int_equal(refused, 1);
}

/* TW_INGEST_JOBS_MAX at its edge (PROTOCOL.md "Backpressure"): peers are
 * read with 256 jobs waiting, not with 257; once stopped, not with 129, and
 * again with 128.  tests/integration/t_ingest_jobs.sh has a daemon act on
 * it under a flood (at most 257 jobs, nothing lost). */
static void test_jobs_limit_edge(void **state)
{
    (void)state;
    assert_int_equal(TW_INGEST_JOBS_MAX, 256);
    assert_false(tw_net_ingest_gate(false, 0));
    assert_false(tw_net_ingest_gate(false, TW_INGEST_JOBS_MAX));
    assert_true(tw_net_ingest_gate(false, TW_INGEST_JOBS_MAX + 1));
    assert_true(tw_net_ingest_gate(true, TW_INGEST_JOBS_MAX + 1));
    assert_true(tw_net_ingest_gate(true, TW_INGEST_JOBS_MAX));
    assert_true(tw_net_ingest_gate(true, TW_INGEST_JOBS_MAX / 2 + 1));
    assert_false(tw_net_ingest_gate(true, TW_INGEST_JOBS_MAX / 2));
    assert_false(tw_net_ingest_gate(true, 0));
    /* Between the two, reading stays as it was: no flapping job by job. */
    for (size_t j = TW_INGEST_JOBS_MAX / 2 + 1; j <= TW_INGEST_JOBS_MAX; j++) {
        assert_false(tw_net_ingest_gate(false, j));
        assert_true(tw_net_ingest_gate(true, j));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_fit_one_commit),
        cmocka_unit_test(test_nothing_to_commit),
        cmocka_unit_test(test_what_fits_is_stored),
        cmocka_unit_test(test_halves_down_to_the_smallest_batch),
        cmocka_unit_test(test_odd_counts),
        cmocka_unit_test(test_other_errors_do_not_halve),
        cmocka_unit_test(test_jobs_limit_edge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
