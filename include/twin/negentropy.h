/*
 * Negentropy protocol v1: range-based set reconciliation over (timestamp, id)
 * items, as specified in the hoytech/negentropy repository's
 * docs/negentropy-protocol-v1.md.
 *
 * tw_neg_store holds a sorted set of items plus sums of their ids at every
 * 32nd item, so the fingerprint of any range costs at most 32 additions and
 * one SHA-256.
 * tw_neg is one reconciliation session bound to a store.  The initiator calls
 * tw_neg_initiate() once, sends the message, and feeds each reply to
 * tw_neg_reconcile() until it yields an empty message; along the way it
 * accumulates "have" ids (it has them, the peer lacks them) and "need" ids
 * (the peer has them, it lacks them).  The responder only answers: every
 * message it receives goes to tw_neg_reconcile() and the result goes back.
 *
 * Pure code: no I/O.  Messages from a peer are untrusted; every length is
 * checked against the bytes that remain, and a malformed message yields
 * TW_EPROTO without side effects on the have/need lists.
 */
#ifndef TWIN_NEGENTROPY_H
#define TWIN_NEGENTROPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "twin/limits.h"

#define TW_NEG_ID_LEN         32u    /* bytes of an item id (wire) */
#define TW_NEG_FP_LEN         16u    /* bytes of a range fingerprint (wire) */
#define TW_NEG_PROTOCOL_V1    0x61u  /* protocol version byte (wire) */
#define TW_NEG_VERSION_LOWEST 0x60u  /* lowest byte that is a version at all (wire) */
#define TW_NEG_VERSION_HIGHEST 0x6Fu /* highest byte that is a version at all (wire) */
#define TW_NEG_TS_INFINITY    UINT64_MAX /* reserved timestamp; no item may use it */
#define TW_NEG_VARINT_MAX     10u    /* bytes of the longest varint of a uint64 */
#define TW_NEG_BOUND_MAX      (TW_NEG_VARINT_MAX + 1u + TW_NEG_ID_LEN) /* bytes of one encoded bound */


enum {
    TW_NEG_MODE_SKIP = 0,
    TW_NEG_MODE_FINGERPRINT = 1,
    TW_NEG_MODE_IDLIST = 2,
};

typedef struct tw_neg_item {
    uint64_t ts;
    uint8_t id[TW_NEG_ID_LEN];
} tw_neg_item;

/* A range bound: the timestamp and the first id_len bytes of an id; the
 * omitted trailing bytes are zero. */
typedef struct tw_neg_bound {
    uint64_t ts;
    uint8_t id[TW_NEG_ID_LEN];
    uint8_t id_len;
} tw_neg_bound;

/* ---- encodings (exposed for tests and tools) ---- */

/* Writes v as a negentropy varint (base 128, most significant digit first);
 * returns the number of bytes written, at most TW_NEG_VARINT_MAX. */
size_t tw_neg_varint_encode(uint64_t v, uint8_t out[TW_NEG_VARINT_MAX]);
/* Reads a varint; TW_EPROTO if it is truncated or does not fit 64 bits. */
int tw_neg_varint_decode(const uint8_t *buf, size_t len, uint64_t *v, size_t *used);

/* *last_ts is the running timestamp of the message (0 at its start). */
size_t tw_neg_bound_encode(const tw_neg_bound *b, uint64_t *last_ts, uint8_t out[TW_NEG_BOUND_MAX]);
int tw_neg_bound_decode(const uint8_t *buf, size_t len, uint64_t *last_ts, tw_neg_bound *b,
                        size_t *used);

/* Fingerprint of a set given the sum of its ids (32 bytes, little-endian,
 * mod 2^256) and its number of elements. */
void tw_neg_fingerprint(const uint8_t sum[TW_NEG_ID_LEN], uint64_t count, uint8_t fp[TW_NEG_FP_LEN]);

/* ---- storage ---- */

typedef struct tw_neg_store tw_neg_store;

int tw_neg_store_new(tw_neg_store **out);
/* A store whose items (40 bytes each) live in a file without a name in dir
 * (O_TMPFILE; else one made and removed at once): its pages are the
 * kernel's file cache (written back and dropped under memory pressure), not
 * the process's heap.  The file is
 * allocated as it grows; when it cannot grow (a full disk) the items move to
 * the heap and the store goes on.  TW_EIO if the file cannot be made. */
int tw_neg_store_new_file(tw_neg_store **out, const char *dir);
/* Whether the items are in the file (false after a move to the heap). */
bool tw_neg_store_on_file(const tw_neg_store *s);
/* Bytes of the file (0 on the heap). */
size_t tw_neg_store_file_bytes(const tw_neg_store *s);
void tw_neg_store_free(tw_neg_store *s);
/* TW_EEXIST if the item is present, TW_EINVAL for the infinity timestamp,
 * TW_ESTATE once sealed. */
int tw_neg_store_insert(tw_neg_store *s, uint64_t ts, const uint8_t id[TW_NEG_ID_LEN]);
/* Inserts n items in O(size + n log n); items already present (or repeated
 * in the batch) are skipped.  *added (may be NULL) gets the number inserted.
 * All or nothing: on error the store is unchanged. */
int tw_neg_store_insert_batch(tw_neg_store *s, const tw_neg_item *items, size_t n, size_t *added);
/* TW_ENOTFOUND if absent, TW_ESTATE once sealed. */
int tw_neg_store_erase(tw_neg_store *s, uint64_t ts, const uint8_t id[TW_NEG_ID_LEN]);
/* Freezes the store: later changes fail with TW_ESTATE. */
int tw_neg_store_seal(tw_neg_store *s);
bool tw_neg_store_sealed(const tw_neg_store *s);
size_t tw_neg_store_size(const tw_neg_store *s);
/* Bytes of heap the store holds. */
size_t tw_neg_store_memory(const tw_neg_store *s);
/* Gives the memory of the block sums (1 byte per item) back to the kernel
 * while the store is not read; the next fingerprint recomputes them
 * (O(size)).  Items in a file leave the resident set too (they stay in the
 * file and the page cache).  Returns the bytes given back. */
size_t tw_neg_store_trim(tw_neg_store *s);
/* The i-th item in (timestamp, id) order. */
int tw_neg_store_item(const tw_neg_store *s, size_t i, tw_neg_item *out);
/* Fingerprint of items [begin, end) in order. */
int tw_neg_store_fingerprint(tw_neg_store *s, size_t begin, size_t end, uint8_t fp[TW_NEG_FP_LEN]);

/* ---- sessions ---- */

typedef struct tw_neg tw_neg;

/* frame_limit 0 means no limit; otherwise at least TW_NEG_FRAME_LIMIT_MIN,
 * and no message produced will exceed it.  The store must outlive the
 * session and must not change during a call; it may change between calls. */
int tw_neg_new(tw_neg **out, tw_neg_store *store, size_t frame_limit);
void tw_neg_free(tw_neg *n);
/* Makes this session the initiator and returns the first message.  *out
 * stays valid until the next call on n. */
int tw_neg_initiate(tw_neg *n, const uint8_t **out, size_t *out_len);
/* Processes a peer message and returns the reply.  On the initiator an
 * empty reply (*out_len == 0) means reconciliation is complete.  Errors:
 * TW_EPROTO for a malformed message, TW_EVERSION on the initiator when the
 * peer speaks another version (the responder answers that case with its own
 * version byte alone), TW_ETOOBIG when TW_NEG_IDS_MAX is reached. */
int tw_neg_reconcile(tw_neg *n, const uint8_t *msg, size_t len, const uint8_t **out, size_t *out_len);
bool tw_neg_is_initiator(const tw_neg *n);
/* Frees the buffer of the last message produced (which the caller has
 * copied): a large frame limit can grow it to the limit, and a session
 * lives as long as its connection. */
void tw_neg_trim(tw_neg *n);
/* Ids accumulated on the initiator, TW_NEG_ID_LEN bytes each, since the
 * last tw_neg_clear_ids().  Each id is reported once per session, even when
 * a frame limit makes the peers go over a range twice; each call's additions
 * are sorted bytewise. */
const uint8_t *tw_neg_have(const tw_neg *n, size_t *count);
const uint8_t *tw_neg_need(const tw_neg *n, size_t *count);
void tw_neg_clear_ids(tw_neg *n);

#endif
