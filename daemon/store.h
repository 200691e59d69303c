/*
 * The store: one LMDB environment in <data-dir>/store (DESIGN section 6),
 * format 3 (PROTOCOL.md "The store"; format 2's tables, smaller envelope rows):
 *
 *   env    seq(8, native)   -> format byte + envelope (raw, or a bare zstd frame with the store's dictionary)
 *   id     id[0]            -> items id[1..31] seq(8)                  (packed)
 *   order  kind             -> items ts(8, big-endian) id(32) seq(8)   (packed)
 *   slot   kind 0x00 author -> items slot 0x00 ts(8, big-endian) id(32) flags(1)
 *   meta   name             -> value (schema version, network id, zdict)
 *   words  the search word index, kept by daemon/wordidx.c
 *
 * Only current versions are stored (superseded ones are deleted), so the
 * env table is the registry.  Envelopes are appended under a sequence
 * number, so their pages are full whatever order entries arrive in, and
 * compressed with a dictionary trained on the store's own envelopes; the
 * id table answers "do we have it" and leads to the envelope; the order
 * table lists a kind in (timestamp, id) order; the slot table decides which
 * version of a slot is current.  Tombstones are kept like any version.  A
 * store of format 1 (entries, ids and slots tables) is upgraded on open.
 * All calls are made from one thread (the event loop), except
 * tw_store_put_batch_txn(), which ingest runs on its writer thread: one
 * write transaction at a time (a write on the loop first waits for the
 * writer's batch to end), short read transactions, and the map is grown
 * only on the loop, between transactions (store.c, top).
 */
#ifndef TWIND_STORE_H
#define TWIND_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "twin/limits.h"
#include "twin/entry.h"

#define TW_STORE_SCHEMA 3u
#define TW_SLOTVAL_LEN (TW_ID_LEN + 8 + 1)   /* a slot row of format 1: id ts flags */
#define TW_SLOT_TOMBSTONE 1u           /* flags bit: the current version is a deletion */
#define TW_ENTRYKEY_MAX (TW_KIND_MAX + 1 + 8 + TW_ID_LEN)
#define TW_SLOTKEY_MAX (TW_KIND_MAX + 1 + TW_KEY_LEN + TW_SLOT_MAX)

typedef struct tw_store tw_store;

typedef struct tw_store_info {
    uint64_t entries, map_used, map_size, map_ceiling;
    uint64_t disk_free;         /* bytes free on the store's filesystem; UINT64_MAX if unknown */
    /* While writes are refused for room (since the first refusal, until a
     * write commits): wall-clock ms of the first and last refusal (0: not
     * full), refusals, and the bytes the last one needed (an estimate). */
    uint64_t full_since, full_last, full_fails, full_need;
    bool full_ceiling;          /* the last refusal was the map ceiling, not the disk */
} tw_store_info;

/* Room for the text of tw_store_full_text() with any data directory. */
#define TW_STORE_FULL_TEXT_MAX 4608

/* Result of putting one entry. */
typedef struct tw_put {
    const tw_entry *e;
    int result;                 /* 0 stored, TW_EEXIST known, TW_ESTALE superseded */
    bool replaced;              /* a previous version of the slot was removed */
    bool old_tomb;              /* that version was a tombstone */
    uint8_t old_id[TW_ID_LEN];
    uint64_t old_ts;
} tw_put;

int  tw_store_open(tw_store **out, const char *dir, uint64_t map_ceiling,
                   const uint8_t netid[TW_NETID_LEN], char *err, size_t errlen);
void tw_store_close(tw_store *s);
/* All of the batch in one transaction, or none of it: TW_EFULL when there
 * is no room (the map ceiling, or the disk: see tw_store_full_text), TW_EIO. */
int  tw_store_put_batch(tw_store *s, tw_put *puts, size_t n);
/*
 * tw_store_put_batch() in two halves, for a batch committed on another
 * thread (daemon/ingest.c).  On the loop, tw_store_writer_begin() (after
 * ending any batch in flight, and growing the map if the n puts would not
 * fit in it) marks the store busy until the end: wait(ctx)
 * is what a write, the word index or a close on the loop calls meanwhile,
 * and it must end the batch (call tw_store_put_batch_end()) before it
 * returns.  tw_store_put_batch_txn() runs the transaction on the writer
 * thread, touching nothing the loop reads; tw_store_put_batch_end(), on the
 * loop, ends it: 0 committed (the count and generation move, the full
 * condition ends), 1 to run it again (the map was grown, or the
 * environment opened again, there, with no transaction active; begin
 * again first), or TW_EFULL / TW_EIO as tw_store_put_batch().
 */
typedef struct tw_store_commit {
    int begin_rc, rc;           /* LMDB codes of the begin, and of the transaction */
    uint64_t need, disk_free;   /* the write's estimate; free on the disk when it failed */
} tw_store_commit;
void tw_store_writer_begin(tw_store *s, const tw_put *puts, size_t n, void (*wait)(void *ctx), void *ctx);
void tw_store_put_batch_txn(tw_store *s, tw_put *puts, size_t n, tw_store_commit *c);
int  tw_store_put_batch_end(tw_store *s, tw_put *puts, size_t n, const tw_store_commit *c);
/* Whether a batch is in flight (between those two). */
bool tw_store_writing(const tw_store *s);
/* Ends the batch in flight, if any (its wait function runs, on the loop). */
void tw_store_settle(tw_store *s);
/* Estimate of the bytes on disk a write of these entries takes. */
uint64_t tw_store_put_need(const tw_store *s, const tw_put *puts, size_t n);
/* "storage full: 120 KiB free on the disk of DIR, the write needs about
 * 1.6 MiB" (need 0: "the last refused write needed about"), or what the
 * map ceiling allows; for refusals and logs.  Returns the length written. */
size_t tw_store_full_text(tw_store *s, uint64_t need, char *buf, size_t len);
/* Removes entries by id (with their slot and index rows), in one transaction. */
int  tw_store_remove(tw_store *s, const uint8_t (*ids)[TW_ID_LEN], size_t n);
int  tw_store_get(tw_store *s, const uint8_t id[TW_ID_LEN], tw_buf *env);
int  tw_store_has(tw_store *s, const uint8_t id[TW_ID_LEN]);       /* 1, 0 or error */
/* tw_store_has() of n ids (TW_ID_LEN bytes each, contiguous) in one read
 * transaction, looked up in sorted order with one cursor: have[i] 1 or 0. */
int  tw_store_has_many(tw_store *s, const uint8_t *ids, size_t n, uint8_t *have);
/* The envelopes of n ids, as tw_store_has_many() looks them up: fn gets
 * each one stored, in the order of ids, with its place i there (pointers
 * valid only during the call); ids not stored are skipped, and rows that
 * cannot be read logged and skipped.  fn's non-zero value stops and is
 * returned.  For a peer's WANT (daemon/net.c). */
typedef int (*tw_store_env_fn)(void *ctx, size_t i, const uint8_t *env, size_t len);
int  tw_store_get_many(tw_store *s, const uint8_t *ids, size_t n, tw_store_env_fn fn, void *ctx);
/* Current version of a slot: TW_ENOTFOUND when empty. */
int  tw_store_slot(tw_store *s, const char *kind, size_t kind_len, const uint8_t author[TW_KEY_LEN],
                   const char *slot, size_t slot_len, uint8_t id[TW_ID_LEN], uint64_t *ts);
void tw_store_slotkey(uint8_t *key, size_t *len, const char *kind, size_t kind_len,
                      const uint8_t author[TW_KEY_LEN], const char *slot, size_t slot_len);

/* Scans the entries of one kind (kind NULL: every kind, kind by kind), in
 * (timestamp, id) order within a kind, starting after the entry key `after`
 * if given (a cursor for paging: the key passed to fn).  fn gets pointers
 * valid only during the call; it returns non-zero to stop (that value is
 * returned). */
typedef int (*tw_store_fn)(void *ctx, const uint8_t *key, size_t klen, const uint8_t id[TW_ID_LEN],
                           const uint8_t *env, size_t envlen);
int tw_store_scan(tw_store *s, const char *kind, size_t kind_len,
                  const uint8_t *after, size_t after_len, tw_store_fn fn, void *ctx);
/* tw_store_scan() that also gives each entry's sequence number: the key of
 * its envelope, set when it is stored and kept until it is removed (a new
 * version is a new entry), so that it names one entry (the word index,
 * daemon/wordidx.c). */
typedef int (*tw_store_seq_fn)(void *ctx, const uint8_t *key, size_t klen, const uint8_t id[TW_ID_LEN], uint64_t seq,
                               const uint8_t *env, size_t envlen);
int tw_store_scan_seq(tw_store *s, const uint8_t *after, size_t after_len, tw_store_seq_fn fn, void *ctx);
/* tw_store_scan() with each envelope parsed (into one reused arena, without
 * re-hashing its id); an envelope that does not parse is logged and skipped.
 * e and its strings are valid only during the call. */
typedef int (*tw_store_entry_fn)(void *ctx, const uint8_t *key, size_t klen, const tw_entry *e);
int tw_store_scan_entries(tw_store *s, const char *kind, size_t kind_len,
                          const uint8_t *after, size_t after_len, tw_store_entry_fn fn, void *ctx);
/* For a scan decoded in another thread (ops.c, the report's background
 * build): up to max entries of kind after the entry key `after` (as
 * tw_store_scan()), read in one read transaction of the calling thread and
 * appended to out, each as: its entry key's length (1 byte), entry key, id,
 * the stored row's length (4 bytes, host order) and the row as stored (a
 * format byte, then the envelope, raw or compressed); *count the entries.
 * tw_store_row_env() gives a row's envelope, in any thread, with a zstd
 * decompression context of that thread's own (ZSTD_DCtx) and buf of
 * TW_ENVELOPE_MAX bytes; TW_EIO for a row it cannot read. */
int tw_store_read_rows(tw_store *s, const char *kind, size_t kind_len, const uint8_t *after, size_t after_len,
                       size_t max, tw_buf *out, size_t *count);
int tw_store_row_env(const tw_store *s, void *dctx, const uint8_t *row, size_t len, uint8_t *buf,
                     const uint8_t **env, size_t *envlen);
/* The entries of the given (kind, timestamp)s -- every entry of that kind
 * with that timestamp, or with rest every one from that timestamp on -- in
 * scan order (at[] must be in it: kind by kind, then by timestamp), parsed
 * as by tw_store_scan_entries, in one read transaction.  For search's word
 * index (daemon/wordidx.c). */
typedef struct tw_store_at { const char *kind; size_t kind_len; uint64_t ts; bool rest; } tw_store_at;
int tw_store_scan_at(tw_store *s, const tw_store_at *at, size_t n, tw_store_entry_fn fn, void *ctx);
/* The entries of the given sequence numbers, in the order given, parsed (id
 * computed from the envelope), in one read transaction: fn gets each with
 * its place i in seqs and its entry key; its non-zero value stops and is
 * returned.  A number that names no entry is skipped (logged). */
typedef int (*tw_store_seq_entry_fn)(void *ctx, size_t i, const uint8_t *key, size_t klen, const tw_entry *e);
int tw_store_read_seqs(tw_store *s, const uint64_t *seqs, size_t n, tw_store_seq_entry_fn fn, void *ctx);
/* Runs fn in one read or write transaction of the store's environment, for
 * a table another module keeps in it (the search word index).  fn returns
 * 0, an LMDB code or a TW_E code; a write commits when it returns 0, and is
 * run again after the map has grown.  need: the bytes a write may take. */
struct MDB_txn;
typedef int (*tw_store_txn_fn)(void *ctx, struct MDB_txn *txn);
int tw_store_txn(tw_store *s, bool write, tw_store_txn_fn fn, void *ctx, uint64_t need, const char *what);
/* The store's search word index (daemon/wordidx.h), once the batch in
 * flight on the writer thread, if any, has ended. */
struct tw_wordidx *tw_store_wordidx(tw_store *s);
/* tw_wordidx_stats() of it without waiting: while a batch is in flight,
 * as it was when the batch began.  *out is left as it is without an index. */
struct tw_wordidx_info;
void tw_store_wordidx_stats(tw_store *s, struct tw_wordidx_info *out);
/* The key scans order entries by and resume after (kind 0x00 ts id; at
 * most TW_ENTRYKEY_MAX bytes); returns its length. */
size_t tw_store_entry_key(uint8_t *k, const char *kind, size_t kind_len, uint64_t ts, const uint8_t id[TW_ID_LEN]);
/* Whether an author's record of time ts counts (admission, and its key's
 * cut-off: PROTOCOL.md "Associations and their keys"); NULL: every one. */
typedef bool (*tw_store_author_filter)(void *fctx, const uint8_t author[TW_KEY_LEN], uint64_t ts);
/* BLAKE2b-256 over every entry id in id order, and the count; with a
 * filter, over the entries of the authors it accepts only. */
int tw_store_digest(tw_store *s, uint8_t out[32], uint64_t *count);
int tw_store_digest_filtered(tw_store *s, tw_store_author_filter f, void *fctx, uint8_t out[32],
                             uint64_t *count);
/* Per kind: current records and tombstones, from the slot table alone. */
typedef void (*tw_store_count_fn)(void *ctx, const char *kind, uint64_t live, uint64_t tombstones);
int tw_store_count_kinds(tw_store *s, tw_store_count_fn fn, void *ctx);
int tw_store_count_kinds_filtered(tw_store *s, tw_store_author_filter f, void *fctx,
                                  tw_store_count_fn fn, void *ctx);
/* The counts of tw_store_count_kinds_filtered() without reading the store:
 * kept from one full count by every write, on the loop, at the same point
 * as the entry count, so that tw_store_info.entries is always the sum of
 * what fn gets and *hidden (the records f does not accept).  The first
 * call, one with another f, fctx or fgen (a change of fgen says that f's
 * answers changed), and the first after a removal or a move to another
 * network count in full, once the batch in flight, if any, has ended. */
int tw_store_count_kinds_kept(tw_store *s, tw_store_author_filter f, void *fctx, uint64_t fgen,
                              tw_store_count_fn fn, void *ctx, uint64_t *hidden);
/* The slot table: every current version (tombstones included), kind by
 * kind, or, with author, that author's only (a range per kind, so cheap
 * however large the store).  kind is not NUL-terminated.  fn returns
 * non-zero to stop (that value is returned). */
typedef int (*tw_store_slot_fn)(void *ctx, const char *kind, size_t kind_len,
                                const uint8_t author[TW_KEY_LEN], const char *slot, size_t slot_len,
                                const uint8_t id[TW_ID_LEN], uint64_t ts, bool tombstone);
int tw_store_scan_slots(tw_store *s, const uint8_t *author, tw_store_slot_fn fn, void *ctx);
void tw_store_get_info(tw_store *s, tw_store_info *info);
/* Changes with every committed write, so that what is computed from the
 * store can be kept until it changes. */
uint64_t tw_store_generation(const tw_store *s);
/* Drops the store's mapped pages from this process's resident set (they stay
 * in the page cache); call when no read transaction is open. */
void tw_store_trim(tw_store *s);
/* Trims if any scan ran since the last trim; true if it did. */
bool tw_store_maybe_trim(tw_store *s);
/* After a batch of TW_STORE_REOPEN_MIN entries or more, once no batch ended
 * for idle_ms: gives the heap LMDB keeps after large writes back, by opening
 * the environment again; call on the loop with no read transaction open.
 * True if it did. */
bool tw_store_maybe_release(tw_store *s, uint64_t idle_ms);
/* Sets the process's heap thresholds (TW_MALLOC_MMAP_MIN, TW_MALLOC_TRIM_MIN)
 * so that large blocks and the threads' free heap go back to the system:
 * once, at start, before any thread. */
void tw_store_heap_setup(void);
/* Moves the store to another network in one transaction: removes the
 * entries old (ids), stores puts (signed for the new network) and records
 * the new network id.  All or nothing. */
int tw_store_rekey(tw_store *s, const uint8_t netid[TW_NETID_LEN], const uint8_t (*old)[TW_ID_LEN],
                   size_t nold, tw_put *puts, size_t nput);
/* Small named values in the meta table. */
int tw_store_meta_get(tw_store *s, const char *name, tw_buf *val);
int tw_store_meta_put(tw_store *s, const char *name, const void *val, size_t len);

#endif
