/*
 * Reconciliation benchmark (`make bench`): 100 000 against 100 000 items
 * with 0, 10, 1 000, 10 000 and 100 000 differences (half on each side),
 * without a frame limit, with twind's default one (one frame per message)
 * and with TW_NEG_MSG_MAX (messages over several frames, between peers that
 * both offer TW_WIRE_FEAT_NEGPART); then 10^6 items a side at 1 000 and
 * 10 000 differences, where the range tree is one level deeper.  Prints round
 * trips and bytes each way; asserts nothing beyond the result being exact.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "twin/negentropy.h"

#define N_DEFAULT 100000u

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *limit_name(size_t limit)
{
    return limit == 0 ? "none" : limit == TW_NEG_MSG_MAX ? "4 MiB" : "60000";
}

static void run(size_t N, size_t diffs, size_t limit)
{
    tw_neg_store *a, *b;
    tw_neg_item *items = malloc((N + diffs) * sizeof *items);
    tw_neg_store_new(&a);
    tw_neg_store_new(&b);
    randombytes_buf_deterministic((uint8_t *)items, (N + diffs) * sizeof *items,
                                  (const uint8_t *)"twind negentropy bench seed 0001");
    /* Random times over a year, so the differing items lie anywhere. */
    for (size_t i = 0; i < N + diffs; i++) {
        uint64_t r;
        memcpy(&r, items[i].id + 8, sizeof r);
        items[i].ts = 1700000000000ull + r % (365ull * 86400 * 1000);
    }
    size_t added;
    /* Common items on both; diffs/2 only on a, diffs/2 only on b. */
    tw_neg_store_insert_batch(a, items, N - diffs / 2, &added);
    tw_neg_store_insert_batch(b, items, N - diffs / 2, &added);
    tw_neg_store_insert_batch(a, items + N - diffs / 2, diffs / 2, &added);
    tw_neg_store_insert_batch(b, items + N, diffs - diffs / 2, &added);
    tw_neg *ia, *rb;
    tw_neg_new(&ia, a, limit);
    tw_neg_new(&rb, b, limit);
    const uint8_t *msg;
    size_t len, up = 0, down = 0, rounds = 0, biggest = 0;
    double t0 = now_s();
    int rc = tw_neg_initiate(ia, &msg, &len);
    while (rc == 0 && len && rounds < 1000) {
        up += len;
        if (len > biggest) biggest = len;
        const uint8_t *reply;
        size_t rlen;
        if ((rc = tw_neg_reconcile(rb, msg, len, &reply, &rlen))) break;
        down += rlen;
        if (rlen > biggest) biggest = rlen;
        rounds++;
        rc = tw_neg_reconcile(ia, reply, rlen, &msg, &len);
    }
    double t = now_s() - t0;
    size_t nh, nn;
    tw_neg_have(ia, &nh);
    tw_neg_need(ia, &nn);
    printf("  %7zu items, %6zu differences, frame limit %-5s: %2zu round trip%s, %8zu bytes up, %8zu bytes down, largest message %7zu B, %5.0f ms; have %zu need %zu %s\n",
           N, diffs, limit_name(limit), rounds, rounds == 1 ? " " : "s", up, down, biggest, t * 1000,
           nh, nn, rc == 0 && nh == diffs / 2 && nn == diffs - diffs / 2 ? "(exact)" : "(WRONG)");
    tw_neg_free(ia);
    tw_neg_free(rb);
    tw_neg_store_free(a);
    tw_neg_store_free(b);
    free(items);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    printf("== reconciliation (negentropy v1), differences half on each side, scattered ==\n");
    static const size_t diffs[] = { 0, 10, 1000, 10000, 100000 };
    static const size_t limits[] = { 0, TW_NEG_FRAME_LIMIT_DEFAULT, TW_NEG_MSG_MAX };
    for (size_t l = 0; l < 3; l++)
        for (size_t i = 0; i < sizeof diffs / sizeof diffs[0]; i++)
            run(N_DEFAULT, diffs[i], limits[l]);
    /* Issue 14: at TW_NEG_MSG_MAX, at most 4 round trips for 10 000 and 3
     * for 1 000 differences (3 and 2 without a limit). */
    for (size_t l = 0; l < 3; l++) {
        run(10 * N_DEFAULT, 1000, limits[l]);
        run(10 * N_DEFAULT, 10000, limits[l]);
    }
    return 0;
}
