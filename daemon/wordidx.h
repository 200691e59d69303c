/*
 * The search word index: one LMDB table ("words") in the store's
 * environment, so that `search` reads the few records that can match
 * instead of every record (DESIGN section 6; proto/PROTOCOL.md, "The
 * store").
 *
 * It is a sorted set of (word, record) pairs: every word proto/search.c
 * reads in a record (folded and normalised, stop words included), and, for
 * the words of name fields, their transliteration-variant keys.  A record
 * is named by its kind and timestamp (a "ref"), which the entries table is
 * ordered by, so candidates are read back in scan order with one cursor;
 * the few records that share a kind and timestamp are all read, and the
 * scorer decides.  Pairs are kept in compressed blocks (words share their
 * prefix with the word before, refs are deltas), so the table costs a few
 * bytes per word of a record, not a row each.
 *
 * The table is written in the same transaction as the entry it indexes
 * (tw_wordidx_add / tw_wordidx_remove, called from store.c's put and
 * remove paths), so it never falls out of step with the entries.  A store
 * without it, or with an older version of it, gets it built on open, in
 * bounded transactions that record how far they got.
 */
#ifndef TWIND_WORDIDX_H
#define TWIND_WORDIDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twin/entry.h"
#include "twin/search.h"
#include "store.h"

#define TW_WORDIDX_VERSION 6u

typedef struct tw_wordidx tw_wordidx;
struct MDB_txn;

/* Opens (creates) the table in the store's opening write transaction. */
int  tw_wordidx_open(tw_wordidx **out, struct MDB_txn *txn);
/* Opens the table's handle again after the environment was reopened. */
int  tw_wordidx_reopen(tw_wordidx *w, struct MDB_txn *txn);
void tw_wordidx_free(tw_wordidx *w);
/* Gives back the room kept for the next transaction's pairs (none is open). */
void tw_wordidx_trim(tw_wordidx *w);

/* Indexes a stored entry / forgets a removed or superseded one, in the
 * transaction that stores / removes it; seq is its sequence number in the
 * store (the key of its envelope).  The _env form parses the
 * envelope first (the supersede path holds only the stored bytes).
 * 0, or an LMDB code or ENOMEM (the transaction must then be aborted). */
int  tw_wordidx_add(tw_wordidx *w, struct MDB_txn *txn, const tw_entry *e, uint64_t seq);
int  tw_wordidx_remove(tw_wordidx *w, struct MDB_txn *txn, const tw_entry *e, uint64_t seq);
int  tw_wordidx_remove_env(tw_wordidx *w, struct MDB_txn *txn, const uint8_t *env, size_t len,
                           const uint8_t id[TW_ID_LEN], uint64_t seq);

/* Called by store.c as it ends every write transaction (rc: how the
 * transaction went so far): applies what add and remove gathered in it when
 * rc is 0, forgets it otherwise.  Returns rc, or how applying went. */
int  tw_wordidx_end(tw_wordidx *w, struct MDB_txn *txn, int rc);

/* Builds the index if it is absent, of an older version, or half built
 * (resuming where a killed build stopped); logs what it does and how long
 * it took.  Called once the store is open.  0 or a TW_E code (search then
 * reads every record, and the next start tries again). */
int  tw_wordidx_build(tw_store *s);
/* Empties the index and builds it again (tests, tools). */
int  tw_wordidx_rebuild(tw_store *s);
/* Empties the index and builds only `steps` transactions of `per`
 * records, leaving it half built, as a build killed then would (tests). */
int  tw_wordidx_build_part(tw_store *s, size_t per, size_t steps);
bool tw_wordidx_ready(const tw_wordidx *w);

/*
 * A commit whose changes fall in more of the index's blocks than
 * TW_WORDIDX_APPLY_SHARE percent of them (at least TW_WORDIDX_APPLY_MIN)
 * sets the index aside instead (a bulk sync's records come in no time
 * order: applying them would rewrite most of the index in every commit),
 * and it is built again in the background: tw_wordidx_wants_build() says
 * so, and the daemon calls tw_wordidx_build_step() once writes pause, one
 * transaction of per records a turn of its event loop, until *done.  A
 * write meanwhile is applied to the records the build has indexed (those
 * after them it reads itself), unless it too is over the limit: then the
 * build starts again.  Killed meanwhile, the build resumes at the next
 * start.  A step returns 0 or a TW_E code (logged; *done then, and the
 * next start builds the index).
 */
bool tw_wordidx_wants_build(const tw_wordidx *w);
int  tw_wordidx_build_step(tw_store *s, size_t per, bool *done);

typedef struct tw_wordidx_info {
    bool ready, rebuilding;     /* in use; set aside and to be built again (or being built) */
    uint64_t rebuilds;          /* background builds begun since the store was opened */
    size_t built;               /* records the build under way has indexed */
    size_t touched, limit;      /* the last commit's changes: blocks they fall in (counted up to limit + 1); the limit */
} tw_wordidx_info;
void tw_wordidx_stats(const tw_wordidx *w, tw_wordidx_info *out);

/*
 * Calls fn, in scan order, for the records of the store that may match q
 * (a superset of those that do); if then *total (the count of matches fn
 * saw, read after that pass) is 0, clears q's suggestions and calls fn
 * again for every record that has a word near a query word (which are all
 * the records that can offer a suggestion).  Falls back to one scan of
 * every record when the index is not ready or would not narrow the search
 * (a word that is a prefix of too many); *used says which.  fn's non-zero
 * value stops and is returned; else 0 or a TW_E code.
 */
int  tw_wordidx_search(tw_store *s, tw_search *q, tw_store_entry_fn fn, void *ctx, const uint64_t *total,
                       bool *used);

/*
 * A search that wants one page of the best matches.  When every query word
 * narrows the search, the candidates the index proves matching whose
 * author's records are all listed (author_shown 1; NULL: every record is
 * listed) are read best bound first (tw_search_bound), and only while one
 * can still enter the page; the rest are counted in unread.  Those of an
 * author whose records are all hidden (0) are neither read nor counted;
 * the others (not sure to match, or an author whose records are listed or
 * not one by one, -1) are all read.  fn then gets, in pos, each record's
 * place in scan order (active): records of one kind and time share a
 * place, and rank among themselves by id.  fn keeps full, kth_score,
 * kth_pos and kth_idpfx: whether the page is full, and the score, place
 * and first 4 bytes of id (big-endian) of its last record.
 */
typedef struct tw_wordidx_topk {
    int (*author_shown)(void *ctx, const uint8_t author[TW_KEY_LEN]);   /* in */
    void *author_ctx;
    bool active;                 /* out: pos is set for each record fn gets */
    uint32_t pos;
    bool full;                   /* kept by fn */
    uint32_t kth_score, kth_pos, kth_idpfx;
    uint64_t unread;             /* out: matches counted without being read */
} tw_wordidx_topk;
int  tw_wordidx_search_topk(tw_store *s, tw_search *q, tw_store_entry_fn fn, void *ctx, const uint64_t *total,
                            tw_wordidx_topk *tk, bool *used);

/* Every pair of the index, in order: its word key (a word, or 0x01 and a
 * variant key), the record's kind and timestamp, and how many records of
 * that kind and timestamp have the word.  For tests and tools. */
typedef int (*tw_wordidx_pair_fn)(void *ctx, const uint8_t *key, size_t kn, const char *kind, size_t kind_len,
                                  uint64_t ts, uint32_t count);
int  tw_wordidx_walk(tw_store *s, tw_wordidx_pair_fn fn, void *ctx);

#endif
