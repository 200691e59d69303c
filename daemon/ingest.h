/*
 * Ingest: verification and storage of entries that come from outside
 * (peers, bundles, imports of signed entries).
 *
 * Verification is the ceiling of ingest speed, so it is spread over the
 * libuv thread pool in chunks of TW_VERIFY_CHUNK entries (parse, canonical
 * check, signature, network, clock, schema), at most one chunk per core at
 * once, while verified entries are committed in transactions of up to
 * TW_COMMIT_BATCH_MAX, one at a time, on a writer thread of the ingest's
 * own (ingest.c, top: admission and every callback stay on the loop, which
 * reads peers and answers queries while a batch commits).  With a verifier
 * on every pool thread (4 by default) the commits got a fifth of two cores
 * where they need over a quarter; they fell behind, and the last were made
 * alone with a core idle.  Entries of different chunks are independent (a
 * slot keeps the newest version whatever the order of arrival), so chunks
 * are committed in the order they finish, and the two stages overlap.
 */
#ifndef TWIND_INGEST_H
#define TWIND_INGEST_H

#include <stddef.h>
#include <stdint.h>
#include "twin/limits.h"
#include "twin/entry.h"
#include "node.h"


typedef struct tw_ingest tw_ingest;
typedef struct tw_ingest_job tw_ingest_job;

typedef struct tw_ingest_counts {
    uint64_t stored, known, stale, refused;
} tw_ingest_counts;

/* Called on the loop thread once every entry of a job is decided.
 * rcs[i] is 0 (stored), TW_EEXIST, TW_ESTALE, or the refusal code of entry i,
 * whys[i] the reason of a refusal (NULL otherwise; a schema refusal names the
 * field), authors[i] the entry's author key where its envelope parsed (else
 * NULL).  All of it lives until the callback returns. */
typedef void (*tw_ingest_done_fn)(void *ctx, const tw_ingest_counts *c, const int *rcs,
                                  const char *const *whys, const uint8_t *const *authors, size_t n);
/* Called on the loop thread for every entry newly stored, after its commit;
 * job_ctx is the ctx given to tw_ingest_submit (its source). */
typedef void (*tw_ingest_stored_fn)(void *ctx, void *job_ctx, const tw_entry *e, const tw_put *put);

int  tw_ingest_new(tw_ingest **out, tw_node *node, tw_ingest_stored_fn on_stored, void *ctx);
/* Stops accepting jobs; in-flight chunks finish (their callbacks still run). */
void tw_ingest_free(tw_ingest *ing);
/*
 * Takes n envelopes laid end to end in buf (lens[i] bytes each); both
 * arrays are copied, so the caller may free them at once.  done runs later.
 */
int  tw_ingest_submit(tw_ingest *ing, const uint8_t *buf, const size_t *lens, size_t n,
                      tw_ingest_done_fn done, void *ctx);
/* Jobs submitted but not finished. */
size_t tw_ingest_pending(const tw_ingest *ing);
/* CPU seconds its writer thread has used (the commits), for benchmarks. */
double tw_ingest_writer_cpu(const tw_ingest *ing);

/*
 * Commits items [0, n) through commit(ctx, first, count), all in one commit
 * if it can.  A commit refused for room (TW_EFULL) is tried again in halves,
 * down to min_batch items, so that what fits is stored: after a refusal the
 * next commits are half as large, after a success they stay the size that
 * worked.  A refusal of a batch of min_batch items or fewer ends it (the
 * disk is full to within one batch), and so does any other error.  What is
 * committed is always a prefix, *done items.  Returns 0 when all are
 * committed, else the error that stopped it; *commits counts the commits
 * tried and *refused those refused.  Pure: no I/O of its own.
 */
typedef int (*tw_ingest_commit_fn)(void *ctx, size_t first, size_t count);
int tw_ingest_commit_halving(size_t n, size_t min_batch, tw_ingest_commit_fn commit, void *ctx,
                             size_t *done, size_t *commits, size_t *refused);

#endif
