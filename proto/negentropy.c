/*
 * Negentropy protocol v1 (see include/twin/negentropy.h and proto/PROTOCOL.md).
 *
 * The store keeps items in one sorted array and, beside it, sums of the ids
 * as 256-bit integers at every NEG_BLOCK-th item: bsum[k] is the sum of the
 * first k * NEG_BLOCK ids mod 2^256.  Addition mod 2^256 is invertible, so
 * the sum of the first i ids is the nearer block sum plus or minus at most
 * NEG_BLOCK / 2 ids, the sum over [i, j) the difference of two such, and a
 * range fingerprint costs one SHA-256 and at most NEG_BLOCK additions.  Changes only
 * record the lowest block whose sum went stale; the sums are recomputed
 * from there on first use.  Together that is 40 + 1 bytes per item, and the
 * 40 may live in a file without a name (tw_neg_store_new_file):
 * then they are pages of the kernel's cache, which it can write back and
 * drop, not the daemon's heap (a million items: 40 MB).
 *
 * The session follows the reference implementation's message flow, id
 * lists below 32 items and frame limit handling, so that its messages
 * interoperate with it and reconcile identical sets in one round trip.  The
 * first message splits in 16 as the reference does; a reply splits its
 * mismatched ranges into as many pieces as the share of mismatches asks for
 * (plan_split), which the wire format leaves to the sender and the
 * reference accepts.  Another deliberate difference: when the frame limit cuts a
 * message short, ranges already settled are closed with an explicit Skip and
 * the closing fingerprint covers exactly [start of the unfinished range,
 * infinity), the range the peer will compare.  The reference drops the
 * pending Skip and fingerprints only what follows the unfinished range, so
 * the peer compares a different range than was hashed: settled ranges get
 * reconciled (and reported) again, and in rare cases a difference could
 * hide behind a matching hash.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, mkostemp, O_TMPFILE */
#endif
#include "twin/negentropy.h"

#include <fcntl.h>
#include <math.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "twin/err.h"

/* Items per block sum (see the top). */
#define NEG_BLOCK 32u
/* Ranges smaller than this are sent as id lists rather than split. */
#define NEG_IDLIST_BELOW (TW_NEG_BUCKETS * 2u)
/* Bytes of one Fingerprint range in a message, about (bound, mode, 16). */
#define NEG_FP_COST 24.0
/* Bytes of one at most: the longest bound, the mode and the fingerprint. */
#define NEG_FP_MAX (TW_NEG_BOUND_MAX + 1u + TW_NEG_FP_LEN)
/* A responder lists a mismatched range instead of splitting it when the
 * planned pieces hold this many items or fewer. */
#define NEG_LIST_PIECE 2.0
/* The initiator splits down to id-list size at once when the byte-optimal
 * piece is at most this many times larger: a round trip saved for a few
 * more bytes. */
#define NEG_STRETCH 4.0

typedef struct {
    uint64_t w[4]; /* little-endian limbs */
} u256;

struct tw_neg_store {
    tw_neg_item *items;
    u256 *bsum;     /* bsum[k]: sum of items [0, k * NEG_BLOCK); current for k <= stale */
    size_t size;
    size_t cap;     /* of items */
    size_t bcap;    /* of bsum: at least cap / NEG_BLOCK + 1 */
    size_t stale;
    bool sealed;
    int fd;         /* -1: items on the heap; else mapped from this file without a name */
    size_t map_len; /* bytes mapped (and allocated in the file) */
};

typedef struct {
    uint8_t *p;
    size_t len;
    size_t cap;
} bytes;

struct tw_neg {
    tw_neg_store *store;
    size_t frame_limit;
    bool initiator;
    uint64_t last_in;
    uint64_t last_out;
    bytes out;
    bytes have;        /* ids, TW_NEG_ID_LEN each, since the last clear */
    bytes need;
    bytes have_seen;   /* every id reported in the session, sorted */
    bytes need_seen;
    bytes match;       /* per Fingerprint range of the message in hand: 1 if ours is equal */
    double piece;      /* items per sub-range when splitting in this reply; 0: TW_NEG_BUCKETS */
    double density;    /* differences per item, last estimated in this session; 0: none yet */
};

/* ---- small helpers ---- */

static int bytes_reserve(bytes *b, size_t more)
{
    if (more > SIZE_MAX - b->len)
        return TW_ENOMEM;
    size_t need = b->len + more;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return TW_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int bytes_put(bytes *b, const void *src, size_t n)
{
    int rc = bytes_reserve(b, n);
    if (rc)
        return rc;
    memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

static int bytes_put_varint(bytes *b, uint64_t v)
{
    uint8_t tmp[TW_NEG_VARINT_MAX];
    return bytes_put(b, tmp, tw_neg_varint_encode(v, tmp));
}

static void u256_from_id(u256 *r, const uint8_t id[TW_NEG_ID_LEN])
{
    for (int l = 0; l < 4; l++) {
        uint64_t v = 0;
        for (int k = 7; k >= 0; k--)
            v = (v << 8) | id[l * 8 + k];
        r->w[l] = v;
    }
}

static void u256_to_bytes(const u256 *a, uint8_t out[TW_NEG_ID_LEN])
{
    for (int l = 0; l < 4; l++)
        for (int k = 0; k < 8; k++)
            out[l * 8 + k] = (uint8_t)(a->w[l] >> (8 * k));
}

static void u256_add(u256 *r, const u256 *a, const u256 *b)
{
    uint64_t carry = 0;
    for (int l = 0; l < 4; l++) {
        uint64_t s = a->w[l] + carry;
        carry = s < carry;
        uint64_t t = s + b->w[l];
        carry += t < s;
        r->w[l] = t;
    }
}

static void u256_sub(u256 *r, const u256 *a, const u256 *b)
{
    uint64_t borrow = 0;
    for (int l = 0; l < 4; l++) {
        uint64_t x = a->w[l], y = b->w[l];
        uint64_t d = x - y - borrow;
        borrow = (x < y) || (x == y && borrow);
        r->w[l] = d;
    }
}

static int item_cmp(uint64_t ats, const uint8_t *aid, uint64_t bts, const uint8_t *bid)
{
    if (ats != bts)
        return ats < bts ? -1 : 1;
    return memcmp(aid, bid, TW_NEG_ID_LEN);
}

static int item_qsort_cmp(const void *a, const void *b)
{
    const tw_neg_item *x = a, *y = b;
    return item_cmp(x->ts, x->id, y->ts, y->id);
}

/* Ids in memcmp order.  Their first 8 bytes (hashes: uniform), compared
 * as one big-endian number, almost always decide, without a call to
 * memcmp: the initiator of a bulk sync sorts and searches every id it
 * learns several times (idlist_initiator, settle_prepare), about 1 us an
 * id at a million with memcmp alone. */
static uint64_t id_head(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#elif !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_BIG_ENDIAN__
    const uint8_t *b = p;
    v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
#endif
    return v;
}

static int id_qsort_cmp(const void *a, const void *b)
{
    uint64_t x = id_head(a), y = id_head(b);
    if (x != y)
        return x < y ? -1 : 1;
    return memcmp(a, b, TW_NEG_ID_LEN);
}

/* ---- encodings ---- */

size_t tw_neg_varint_encode(uint64_t v, uint8_t out[TW_NEG_VARINT_MAX])
{
    uint8_t rev[TW_NEG_VARINT_MAX];
    size_t n = 0;
    do {
        rev[n++] = (uint8_t)(v & 0x7f);
        v >>= 7;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(rev[n - 1 - i] | (i + 1 < n ? 0x80 : 0));
    return n;
}

int tw_neg_varint_decode(const uint8_t *buf, size_t len, uint64_t *v, size_t *used)
{
    uint64_t r = 0;
    for (size_t i = 0; i < len && i < TW_NEG_VARINT_MAX; i++) {
        /* Refuse a digit that would push bits off the top of 64. */
        if (r >> 57)
            return TW_EPROTO;
        r = (r << 7) | (buf[i] & 0x7f);
        if (!(buf[i] & 0x80)) {
            *v = r;
            *used = i + 1;
            return 0;
        }
    }
    return TW_EPROTO;
}

size_t tw_neg_bound_encode(const tw_neg_bound *b, uint64_t *last_ts, uint8_t out[TW_NEG_BOUND_MAX])
{
    size_t n;
    if (b->ts == TW_NEG_TS_INFINITY) {
        *last_ts = TW_NEG_TS_INFINITY;
        out[0] = 0;
        n = 1;
    } else {
        /* Bounds in a message ascend, so the delta is never negative. */
        n = tw_neg_varint_encode(b->ts - *last_ts + 1, out);
        *last_ts = b->ts;
    }
    size_t idl = b->id_len > TW_NEG_ID_LEN ? TW_NEG_ID_LEN : b->id_len;
    out[n++] = (uint8_t)idl;
    memcpy(out + n, b->id, idl);
    return n + idl;
}

int tw_neg_bound_decode(const uint8_t *buf, size_t len, uint64_t *last_ts, tw_neg_bound *b,
                        size_t *used)
{
    uint64_t enc, idl;
    size_t u1, u2;
    int rc = tw_neg_varint_decode(buf, len, &enc, &u1);
    if (rc)
        return rc;
    rc = tw_neg_varint_decode(buf + u1, len - u1, &idl, &u2);
    if (rc)
        return rc;
    if (idl > TW_NEG_ID_LEN || idl > len - u1 - u2)
        return TW_EPROTO;
    uint64_t ts;
    if (enc == 0) {
        ts = TW_NEG_TS_INFINITY;
    } else {
        /* Saturate like the reference: a sum past the top is infinity. */
        uint64_t delta = enc - 1;
        ts = delta > TW_NEG_TS_INFINITY - *last_ts ? TW_NEG_TS_INFINITY : *last_ts + delta;
    }
    *last_ts = ts;
    b->ts = ts;
    b->id_len = (uint8_t)idl;
    memset(b->id, 0, sizeof b->id);
    memcpy(b->id, buf + u1 + u2, (size_t)idl);
    *used = u1 + u2 + (size_t)idl;
    return 0;
}

void tw_neg_fingerprint(const uint8_t sum[TW_NEG_ID_LEN], uint64_t count, uint8_t fp[TW_NEG_FP_LEN])
{
    uint8_t in[TW_NEG_ID_LEN + TW_NEG_VARINT_MAX];
    uint8_t h[crypto_hash_sha256_BYTES];
    memcpy(in, sum, TW_NEG_ID_LEN);
    size_t n = TW_NEG_ID_LEN + tw_neg_varint_encode(count, in + TW_NEG_ID_LEN);
    crypto_hash_sha256(h, in, n);
    memcpy(fp, h, TW_NEG_FP_LEN);
}

/* ---- storage ---- */

int tw_neg_store_new(tw_neg_store **out)
{
    tw_neg_store *s = calloc(1, sizeof *s);
    if (!s)
        return TW_ENOMEM;
    s->bsum = calloc(1, sizeof *s->bsum);
    if (!s->bsum) {
        free(s);
        return TW_ENOMEM;
    }
    s->bcap = 1;
    s->fd = -1;
    *out = s;
    return 0;
}

int tw_neg_store_new_file(tw_neg_store **out, const char *dir)
{
    /* A file without a name (O_TMPFILE): nothing is left behind by a crash,
     * and nobody else can open it.  Where the file system cannot, one made
     * under a new name and removed at once. */
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        char path[4096];
        int n = snprintf(path, sizeof path, "%s/.negset-XXXXXX", dir);
        if (n < 0 || (size_t)n >= sizeof path)
            return TW_EINVAL;
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
            return TW_EIO;
        unlink(path);
    }
    int rc = tw_neg_store_new(out);
    if (rc) {
        close(fd);
        return rc;
    }
    (*out)->fd = fd;
    return 0;
}

bool tw_neg_store_on_file(const tw_neg_store *s)
{
    return s->fd >= 0;
}

void tw_neg_store_free(tw_neg_store *s)
{
    if (!s)
        return;
    if (s->fd >= 0) {
        if (s->items)
            munmap(s->items, s->map_len);
        close(s->fd);
    } else {
        free(s->items);
    }
    free(s->bsum);
    free(s);
}

/* Moves file-backed items to the heap: the file cannot grow (a full disk). */
static int store_to_heap(tw_neg_store *s)
{
    tw_neg_item *it = NULL;
    if (s->cap) {
        it = malloc(s->cap * sizeof *it);
        if (!it)
            return TW_ENOMEM;
        memcpy(it, s->items, s->size * sizeof *it);
    }
    if (s->items)
        munmap(s->items, s->map_len);
    close(s->fd);
    s->fd = -1;
    s->map_len = 0;
    s->items = it;
    return 0;
}

/* Makes the items array hold cap items. */
static int store_items_grow(tw_neg_store *s, size_t cap)
{
    if (s->fd >= 0) {
        long pg = sysconf(_SC_PAGESIZE);
        size_t page = pg > 0 ? (size_t)pg : 4096u;
        size_t len = (cap * sizeof *s->items + page - 1) / page * page;
        if (len <= s->map_len)
            return 0;
        /* Allocated, not only sized: a write to a page the disk has no room
         * for would kill the process (SIGBUS) instead of failing here. */
        if (posix_fallocate(s->fd, 0, (off_t)len) == 0) {
            void *p = s->items ? mremap(s->items, s->map_len, len, MREMAP_MAYMOVE)
                               : mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
            if (p != MAP_FAILED) {
                s->items = p;
                s->map_len = len;
                return 0;
            }
        }
        int rc = store_to_heap(s);
        if (rc)
            return rc;
    }
    tw_neg_item *it = realloc(s->items, cap * sizeof *it);
    if (!it)
        return TW_ENOMEM;
    s->items = it;
    return 0;
}

static int store_grow(tw_neg_store *s, size_t need, bool exact)
{
    if (need <= s->cap)
        return 0;
    size_t cap = need;
    if (!exact) {
        /* Growth by a quarter keeps single inserts amortised O(1) without
         * letting the slack eat the per-item memory budget. */
        size_t g = s->cap + s->cap / 4 + 16;
        if (g > cap)
            cap = g;
    }
    if (cap > SIZE_MAX / sizeof(tw_neg_item) - 1)
        return TW_ENOMEM;
    int rc = store_items_grow(s, cap);
    if (rc)
        return rc;
    size_t bcap = cap / NEG_BLOCK + 1;
    if (bcap > s->bcap) {
        u256 *b = realloc(s->bsum, bcap * sizeof *b);
        if (!b)
            return TW_ENOMEM; /* items grew, sums did not: cap stays, still consistent */
        s->bsum = b;
        s->bcap = bcap;
    }
    s->cap = cap;
    return 0;
}

static void store_mark(tw_neg_store *s, size_t idx)
{
    if (idx / NEG_BLOCK < s->stale)
        s->stale = idx / NEG_BLOCK;
}

static void sum_items(const tw_neg_store *s, u256 *acc, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++) {
        u256 v;
        u256_from_id(&v, s->items[i].id);
        u256_add(acc, acc, &v);
    }
}

static void store_refresh(tw_neg_store *s)
{
    size_t full = s->size / NEG_BLOCK;
    for (size_t k = s->stale; k < full; k++) {
        s->bsum[k + 1] = s->bsum[k];
        sum_items(s, &s->bsum[k + 1], k * NEG_BLOCK, (k + 1) * NEG_BLOCK);
    }
    s->stale = full;
}

/* Sum of the first i ids, from the nearer block sum: at most NEG_BLOCK / 2
 * additions or subtractions.  The caller has refreshed the sums. */
static void store_prefix(const tw_neg_store *s, size_t i, u256 *out)
{
    size_t k = i / NEG_BLOCK, off = i % NEG_BLOCK;
    if (off > NEG_BLOCK / 2 && k + 1 <= s->size / NEG_BLOCK) {
        u256 part;
        memset(&part, 0, sizeof part);
        sum_items(s, &part, i, (k + 1) * NEG_BLOCK);
        u256_sub(out, &s->bsum[k + 1], &part);
        return;
    }
    *out = s->bsum[k];
    sum_items(s, out, k * NEG_BLOCK, i);
}

/* Sum of the ids of [begin, end); the caller has refreshed the sums. */
static void store_sum(const tw_neg_store *s, size_t begin, size_t end, u256 *out)
{
    memset(out, 0, sizeof *out);
    if (end - begin <= NEG_BLOCK) {
        sum_items(s, out, begin, end);
        return;
    }
    u256 a, b;
    store_prefix(s, end, &b);
    store_prefix(s, begin, &a);
    u256_sub(out, &b, &a);
}

/* First index in [lo, size) whose item is not below (ts, id). */
static size_t store_lower_bound(const tw_neg_store *s, size_t lo, uint64_t ts, const uint8_t *id)
{
    size_t hi = s->size;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (item_cmp(s->items[mid].ts, s->items[mid].id, ts, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int tw_neg_store_insert(tw_neg_store *s, uint64_t ts, const uint8_t id[TW_NEG_ID_LEN])
{
    if (s->sealed)
        return TW_ESTATE;
    if (ts == TW_NEG_TS_INFINITY)
        return TW_EINVAL;
    size_t at = store_lower_bound(s, 0, ts, id);
    if (at < s->size && item_cmp(s->items[at].ts, s->items[at].id, ts, id) == 0)
        return TW_EEXIST;
    int rc = store_grow(s, s->size + 1, false);
    if (rc)
        return rc;
    memmove(&s->items[at + 1], &s->items[at], (s->size - at) * sizeof *s->items);
    s->items[at].ts = ts;
    memcpy(s->items[at].id, id, TW_NEG_ID_LEN);
    s->size++;
    store_mark(s, at);
    return 0;
}

int tw_neg_store_insert_batch(tw_neg_store *s, const tw_neg_item *items, size_t n, size_t *added)
{
    if (added)
        *added = 0;
    if (s->sealed)
        return TW_ESTATE;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (items[i].ts == TW_NEG_TS_INFINITY)
            return TW_EINVAL;
    if (n > SIZE_MAX / sizeof *items)
        return TW_ENOMEM;
    if (s->size == 0) {
        /* The load of a whole set (start-up, after a drop): sorted where
         * it will stay, without a second copy of it on the heap. */
        int rc = store_grow(s, n, true);
        if (rc)
            return rc;
        memcpy(s->items, items, n * sizeof *items);
        qsort(s->items, n, sizeof *items, item_qsort_cmp);
        size_t k = 1;
        for (size_t i = 1; i < n; i++)
            if (item_qsort_cmp(&s->items[k - 1], &s->items[i]) != 0)
                s->items[k++] = s->items[i];
        s->size = k;
        s->stale = 0;
        if (added)
            *added = k;
        return 0;
    }
    tw_neg_item *b = malloc(n * sizeof *b);
    if (!b)
        return TW_ENOMEM;
    memcpy(b, items, n * sizeof *b);
    qsort(b, n, sizeof *b, item_qsort_cmp);

    /* Drop repeats within the batch and items already stored, in one
     * forward walk over both sorted sequences. */
    size_t k = 0, j = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && item_qsort_cmp(&b[k - 1], &b[i]) == 0)
            continue;
        while (j < s->size && item_qsort_cmp(&s->items[j], &b[i]) < 0)
            j++;
        if (j < s->size && item_qsort_cmp(&s->items[j], &b[i]) == 0)
            continue;
        b[k++] = b[i];
    }
    if (k == 0) {
        free(b);
        return 0;
    }
    int rc = store_grow(s, s->size + k, true);
    if (rc) {
        free(b);
        return rc;
    }

    /* Merge from the back so the array is extended in place. */
    size_t oi = s->size, bi = k, w = s->size + k;
    while (bi > 0) {
        if (oi > 0 && item_qsort_cmp(&s->items[oi - 1], &b[bi - 1]) > 0)
            s->items[--w] = s->items[--oi];
        else
            s->items[--w] = b[--bi];
    }
    s->size += k;
    store_mark(s, oi);
    free(b);
    if (added)
        *added = k;
    return 0;
}

int tw_neg_store_erase(tw_neg_store *s, uint64_t ts, const uint8_t id[TW_NEG_ID_LEN])
{
    if (s->sealed)
        return TW_ESTATE;
    size_t at = store_lower_bound(s, 0, ts, id);
    if (at >= s->size || item_cmp(s->items[at].ts, s->items[at].id, ts, id) != 0)
        return TW_ENOTFOUND;
    memmove(&s->items[at], &s->items[at + 1], (s->size - at - 1) * sizeof *s->items);
    s->size--;
    store_mark(s, at);
    return 0;
}

int tw_neg_store_seal(tw_neg_store *s)
{
    if (s->sealed)
        return TW_ESTATE;
    s->sealed = true;
    return 0;
}

bool tw_neg_store_sealed(const tw_neg_store *s)
{
    return s->sealed;
}

size_t tw_neg_store_size(const tw_neg_store *s)
{
    return s->size;
}

/*
 * The block sums are a cache of the items: their pages are handed back to
 * the kernel (MADV_DONTNEED on the whole pages inside the array: a private
 * anonymous page reads as zeros afterwards, and the partial pages at either
 * end, bsum[0] = 0 among them, keep their bytes) and every sum is marked
 * stale, so the next fingerprint recomputes them all.  Nothing is freed or
 * allocated, so nothing can fail.
 */
size_t tw_neg_store_trim(tw_neg_store *s)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0 || !s->cap)
        return 0;
    size_t given = 0;
    /* Items in the file leave this process's resident set too: a shared
     * file page keeps its bytes in the file and the page cache, and comes
     * back on the next read (a minor fault while the kernel keeps it). */
    if (s->fd >= 0 && s->items && madvise(s->items, s->map_len, MADV_DONTNEED) == 0)
        given += s->map_len;
    uintptr_t lo = (uintptr_t)s->bsum, hi = lo + s->bcap * sizeof *s->bsum;
    uintptr_t a = (lo + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1), b = hi & ~((uintptr_t)pg - 1);
    s->stale = 0;
    if (b <= a || madvise((void *)a, b - a, MADV_DONTNEED) != 0)
        return given;
    return given + (b - a);
}

size_t tw_neg_store_memory(const tw_neg_store *s)
{
    return sizeof *s + (s->fd < 0 ? s->cap * sizeof *s->items : 0) + s->bcap * sizeof *s->bsum;
}

size_t tw_neg_store_file_bytes(const tw_neg_store *s)
{
    return s->fd >= 0 ? s->map_len : 0;
}

int tw_neg_store_item(const tw_neg_store *s, size_t i, tw_neg_item *out)
{
    if (i >= s->size)
        return TW_EINVAL;
    *out = s->items[i];
    return 0;
}

/* Caller has refreshed the block sums. */
static void store_fp(const tw_neg_store *s, size_t begin, size_t end, uint8_t fp[TW_NEG_FP_LEN])
{
    u256 d;
    uint8_t sum[TW_NEG_ID_LEN];
    store_sum(s, begin, end, &d);
    u256_to_bytes(&d, sum);
    tw_neg_fingerprint(sum, end - begin, fp);
}

int tw_neg_store_fingerprint(tw_neg_store *s, size_t begin, size_t end, uint8_t fp[TW_NEG_FP_LEN])
{
    if (begin > end || end > s->size)
        return TW_EINVAL;
    store_refresh(s);
    store_fp(s, begin, end, fp);
    return 0;
}

/* ---- sessions ---- */

int tw_neg_new(tw_neg **out, tw_neg_store *store, size_t frame_limit)
{
    if (!store || (frame_limit != 0 && frame_limit < TW_NEG_FRAME_LIMIT_MIN))
        return TW_EINVAL;
    tw_neg *n = calloc(1, sizeof *n);
    if (!n)
        return TW_ENOMEM;
    n->store = store;
    n->frame_limit = frame_limit;
    *out = n;
    return 0;
}

void tw_neg_free(tw_neg *n)
{
    if (!n)
        return;
    free(n->out.p);
    free(n->have.p);
    free(n->need.p);
    free(n->have_seen.p);
    free(n->need_seen.p);
    free(n->match.p);
    free(n);
}

void tw_neg_trim(tw_neg *n)
{
    free(n->out.p);
    n->out.p = NULL;
    n->out.len = n->out.cap = 0;
    free(n->match.p);
    n->match.p = NULL;
    n->match.len = n->match.cap = 0;
}

bool tw_neg_is_initiator(const tw_neg *n)
{
    return n->initiator;
}

const uint8_t *tw_neg_have(const tw_neg *n, size_t *count)
{
    *count = n->have.len / TW_NEG_ID_LEN;
    return n->have.p;
}

const uint8_t *tw_neg_need(const tw_neg *n, size_t *count)
{
    *count = n->need.len / TW_NEG_ID_LEN;
    return n->need.p;
}

void tw_neg_clear_ids(tw_neg *n)
{
    n->have.len = 0;
    n->need.len = 0;
}

static bool over_limit(const tw_neg *n, size_t len)
{
    return n->frame_limit && len > n->frame_limit - TW_NEG_FRAME_SLACK;
}

static int put_bound(tw_neg *n, const tw_neg_bound *b)
{
    uint8_t tmp[TW_NEG_BOUND_MAX];
    return bytes_put(&n->out, tmp, tw_neg_bound_encode(b, &n->last_out, tmp));
}

static void bound_of_item(tw_neg_bound *b, const tw_neg_item *it)
{
    b->ts = it->ts;
    memcpy(b->id, it->id, TW_NEG_ID_LEN);
    b->id_len = TW_NEG_ID_LEN;
}

/* The shortest bound that separates prev from curr (curr is greater). */
static void minimal_bound(tw_neg_bound *b, const tw_neg_item *prev, const tw_neg_item *curr)
{
    memset(b, 0, sizeof *b);
    b->ts = curr->ts;
    if (curr->ts != prev->ts)
        return;
    size_t shared = 0;
    while (shared < TW_NEG_ID_LEN && curr->id[shared] == prev->id[shared])
        shared++;
    size_t len = shared + 1 > TW_NEG_ID_LEN ? TW_NEG_ID_LEN : shared + 1;
    memcpy(b->id, curr->id, len);
    b->id_len = (uint8_t)len;
}

static int put_fingerprint_range(tw_neg *n, const tw_neg_bound *ub, size_t lo, size_t hi)
{
    uint8_t fp[TW_NEG_FP_LEN];
    store_fp(n->store, lo, hi, fp);
    int rc = put_bound(n, ub);
    if (!rc)
        rc = bytes_put_varint(&n->out, TW_NEG_MODE_FINGERPRINT);
    if (!rc)
        rc = bytes_put(&n->out, fp, sizeof fp);
    return rc;
}

/* Describes [lower, upper) ending at ub: an id list when small, else
 * fingerprinted sub-ranges of near-equal size, TW_NEG_BUCKETS of them (as
 * the reference) or, when plan_split() chose a size, as many as that size
 * asks for.  A responder sends the id list at once when the pieces would
 * hold two items or fewer: the list is then hardly larger than their
 * fingerprints and settles the range a round trip sooner. */
static int split_range(tw_neg *n, size_t lower, size_t upper, const tw_neg_bound *ub)
{
    const tw_neg_store *s = n->store;
    size_t num = upper - lower, pieces = TW_NEG_BUCKETS;
    int rc;
    if (n->piece > 0) {
        double want = (double)num / n->piece;
        if (want > (double)num)
            want = (double)num;
        if (want > (double)pieces)
            pieces = (size_t)want + 1;
    }
    /* What one range asks for must fit the room left in the message, or
     * the range would be cut back whole, again and again; the reference's
     * 16 always fit (TW_NEG_FRAME_LIMIT_MIN). */
    size_t room = SIZE_MAX;
    if (n->frame_limit)
        room = n->out.len + TW_NEG_FRAME_SLACK < n->frame_limit ? n->frame_limit - TW_NEG_FRAME_SLACK - n->out.len : 0;
    if (pieces > TW_NEG_BUCKETS && pieces > room / NEG_FP_MAX)
        pieces = room / NEG_FP_MAX > TW_NEG_BUCKETS ? room / NEG_FP_MAX : TW_NEG_BUCKETS;
    if (pieces > num)
        pieces = num;
    bool list_now = !n->initiator && n->piece > 0 && n->piece <= NEG_LIST_PIECE && room > NEG_FP_MAX &&
                    num <= (room - NEG_FP_MAX) / TW_NEG_ID_LEN;
    if (num < NEG_IDLIST_BELOW || list_now) {
        rc = put_bound(n, ub);
        if (!rc)
            rc = bytes_put_varint(&n->out, TW_NEG_MODE_IDLIST);
        if (!rc)
            rc = bytes_put_varint(&n->out, num);
        for (size_t i = lower; !rc && i < upper; i++)
            rc = bytes_put(&n->out, s->items[i].id, TW_NEG_ID_LEN);
        return rc;
    }
    size_t per = num / pieces, extra = num % pieces, curr = lower;
    for (size_t i = 0; i < pieces; i++) {
        size_t start = curr;
        curr += per + (i < extra ? 1 : 0);
        tw_neg_bound nb;
        if (curr == upper)
            nb = *ub;
        else
            minimal_bound(&nb, &s->items[curr - 1], &s->items[curr]);
        rc = put_fingerprint_range(n, &nb, start, curr);
        if (rc)
            return rc;
        /* Past the limit the message is cut back anyway (reconcile_body):
         * stop computing fingerprints that will not be sent. */
        if (over_limit(n, n->out.len))
            return 0;
    }
    return 0;
}

/*
 * How finely to split the mismatched ranges of a message (the wire format
 * leaves it to the sender).  The reference always splits in 16, which at a
 * million items and 10 000 scattered differences takes five round trips at
 * TW_NEG_MSG_MAX.  Here the mismatched share of the peer's fingerprints
 * estimates the differences D (Poisson: a range of m items holding on
 * average x differences matches with probability e^-x, so D = -R ln(1 - M/R)
 * for M of R ranges mismatched; all mismatched gives only a lower bound,
 * R ln 2R, or the session's last density if that says more).  Splitting I
 * mismatched items into pieces of s items costs about I/s fingerprints of
 * NEG_FP_COST bytes, and listing the pieces that hold the differences about
 * D s ids each way, so bytes are least at s = sqrt(NEG_FP_COST I / (64 D)).
 * When that s is below the id-list size the peer lists the pieces in its
 * answer: the differences are settled in the next half round trip.  When it
 * is well above, a split into sqrt(m / 31) pieces of each range of m items
 * leads there in two steps.  The fingerprints are kept to three quarters of
 * the message limit and the lists expected next to three quarters as well,
 * so that neither message is cut; with identical sets no range mismatches
 * and nothing changes (one round trip, the first message as small as the
 * reference's).
 */
static void plan_split(tw_neg *n, size_t ranges, size_t mismatched, size_t items_all,
                       size_t items_mismatched)
{
    n->piece = 0;
    if (!mismatched || !ranges)
        return;
    double R = (double)ranges, M = (double)mismatched, I = (double)items_mismatched;
    double D;
    if (mismatched < ranges) {
        D = -R * log1p(-M / R);
        if (items_all)
            n->density = D / (double)items_all;
    } else {
        D = R * log(2.0 * R);
        if (n->density * I > D)
            D = n->density * I;
    }
    if (I < 1.0 || D <= 0.0)
        return;
    double budget = 0.75 * (double)(n->frame_limit ? n->frame_limit : TW_NEG_MSG_MAX);
    double listable = (double)(NEG_IDLIST_BELOW - 1);
    double s = sqrt(NEG_FP_COST * I / (64.0 * D));
    double two_steps = sqrt(I / M * listable);
    if (!n->initiator) {
        /* The initiator's next split to listable pieces is answered with
         * the lists in the same round trip: the responder need not get
         * there itself, only bring the ranges within one split of it. */
        if (two_steps > s)
            s = two_steps;
    } else if (s > listable && s <= NEG_STRETCH * listable) {
        s = listable;
    } else if (s > listable) {
        s = two_steps;
    }
    double s_list = budget / (TW_NEG_ID_LEN * D);   /* the lists expected next fit */
    double s_fp = NEG_FP_COST * I / budget;         /* our fingerprints fit */
    if (s > s_list)
        s = s_list;
    if (s < s_fp)
        s = s_fp;
    n->piece = s < 1.0 ? 1.0 : s;
}

static void infinity_bound(tw_neg_bound *b)
{
    memset(b, 0, sizeof *b);
    b->ts = TW_NEG_TS_INFINITY;
}

int tw_neg_initiate(tw_neg *n, const uint8_t **out, size_t *out_len)
{
    if (n->initiator)
        return TW_ESTATE;
    store_refresh(n->store);
    n->out.len = 0;
    n->last_out = 0;
    uint8_t v = TW_NEG_PROTOCOL_V1;
    tw_neg_bound inf;
    infinity_bound(&inf);
    int rc = bytes_put(&n->out, &v, 1);
    if (!rc)
        rc = split_range(n, 0, n->store->size, &inf);
    if (rc)
        return rc;
    n->initiator = true;
    *out = n->out.p;
    *out_len = n->out.len;
    return 0;
}

static int bound_cmp(const tw_neg_bound *a, const tw_neg_bound *b)
{
    return item_cmp(a->ts, a->id, b->ts, b->id);
}

/* Initiator side of an id list: our items in [lower, upper) that the peer
 * did not list are "have", listed ids we lack are "need" -- in the order
 * the peer listed them, which is its items' order, by timestamp: asked for
 * and stored in that order, a bulk sync's entries mostly append to the
 * store's tables and the search word index instead of landing all over
 * them (an order by id is random in time). */
static int idlist_initiator(tw_neg *n, const uint8_t *ids, size_t count, size_t lower, size_t upper)
{
    const tw_neg_store *s = n->store;
    uint8_t *theirs = NULL, *seen = NULL;
    int rc = 0;
    /* None of ours in the range (a bulk sync to an empty node): every id
     * listed is needed, in the peer's order; settle_prepare(), which the
     * ids added to need always go through, drops the repeats and those
     * reported before, as the folding below would. */
    if (lower == upper)
        return count ? bytes_put(&n->need, ids, count * TW_NEG_ID_LEN) : 0;
    if (count) {
        theirs = malloc(count * TW_NEG_ID_LEN);
        seen = calloc(count, 1);
        if (!theirs || !seen) {
            rc = TW_ENOMEM;
            goto done;
        }
        memcpy(theirs, ids, count * TW_NEG_ID_LEN);
        qsort(theirs, count, TW_NEG_ID_LEN, id_qsort_cmp);
    }
    /* The peer's list is a set: fold repeats so each id counts once. */
    size_t uniq = 0;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *id = theirs + i * TW_NEG_ID_LEN;
        if (uniq > 0 && memcmp(id, theirs + (uniq - 1) * TW_NEG_ID_LEN, TW_NEG_ID_LEN) == 0)
            continue;
        memmove(theirs + uniq * TW_NEG_ID_LEN, id, TW_NEG_ID_LEN);
        uniq++;
    }
    for (size_t i = lower; i < upper; i++) {
        const uint8_t *hit = uniq ? bsearch(s->items[i].id, theirs, uniq, TW_NEG_ID_LEN, id_qsort_cmp) : NULL;
        if (hit) {
            seen[(size_t)(hit - theirs) / TW_NEG_ID_LEN] = 1;
            continue;
        }
        rc = bytes_put(&n->have, s->items[i].id, TW_NEG_ID_LEN);
        if (rc)
            goto done;
    }
    for (size_t i = 0; i < count; i++) {
        const uint8_t *id = ids + i * TW_NEG_ID_LEN;
        const uint8_t *hit = bsearch(id, theirs, uniq, TW_NEG_ID_LEN, id_qsort_cmp);
        size_t k = (size_t)(hit - theirs) / TW_NEG_ID_LEN;
        if (seen[k])
            continue;       /* ours, or a repeat already needed */
        seen[k] = 1;
        rc = bytes_put(&n->need, id, TW_NEG_ID_LEN);
        if (rc)
            goto done;
    }
done:
    free(theirs);
    free(seen);
    return rc;
}

/* Responder side of an id list: answer with all our ids in [lower, upper),
 * or as many as the frame limit allows, ending the range early then. */
static int idlist_responder(tw_neg *n, size_t base, size_t lower, size_t *upper,
                            const tw_neg_bound *ub)
{
    const tw_neg_store *s = n->store;
    tw_neg_bound end = *ub;
    size_t stop = *upper;
    for (size_t i = lower; i < *upper; i++) {
        /* Measured from the output before this range, as the reference
         * does, so a non-empty range always answers with at least one id. */
        if (over_limit(n, base + (i - lower) * TW_NEG_ID_LEN)) {
            bound_of_item(&end, &s->items[i]);
            stop = i;
            break;
        }
    }
    int rc = put_bound(n, &end);
    if (!rc)
        rc = bytes_put_varint(&n->out, TW_NEG_MODE_IDLIST);
    if (!rc)
        rc = bytes_put_varint(&n->out, stop - lower);
    for (size_t i = lower; !rc && i < stop; i++)
        rc = bytes_put(&n->out, s->items[i].id, TW_NEG_ID_LEN);
    *upper = stop;
    return rc;
}

/* Drops the ids a call added to list (from byte offset start) that are
 * repeated or already reported in this session, keeping the others in the
 * order they came (the peer's order, by timestamp: idlist_initiator()),
 * and makes room to record them as reported: a sorted copy of them goes
 * after room for as many in seen, for settle_commit().  Repeats are normal
 * under a frame limit: a closing fingerprint also covers ranges the peer
 * had settled and marked Skip, and those are reconciled once more.
 * Nothing is recorded yet, so a failure here leaves the session as it was. */
static int settle_prepare(bytes *list, size_t start, bytes *seen)
{
    size_t k = (list->len - start) / TW_NEG_ID_LEN, kept = 0;
    size_t have = seen->len / TW_NEG_ID_LEN;
    if (k == 0)
        return 0;
    uint8_t *add = list->p + start;
    uint8_t *sorted = malloc(k * TW_NEG_ID_LEN), *taken = calloc(k, 1);
    if (!sorted || !taken) {
        free(sorted);
        free(taken);
        return TW_ENOMEM;
    }
    memcpy(sorted, add, k * TW_NEG_ID_LEN);
    qsort(sorted, k, TW_NEG_ID_LEN, id_qsort_cmp);
    size_t u = 0;
    for (size_t i = 0; i < k; i++) {
        const uint8_t *id = sorted + i * TW_NEG_ID_LEN;
        if (u > 0 && memcmp(id, sorted + (u - 1) * TW_NEG_ID_LEN, TW_NEG_ID_LEN) == 0)
            continue;
        if (have && bsearch(id, seen->p, have, TW_NEG_ID_LEN, id_qsort_cmp))
            continue;
        memmove(sorted + u * TW_NEG_ID_LEN, id, TW_NEG_ID_LEN);
        u++;
    }
    for (size_t i = 0; i < k; i++) {
        const uint8_t *id = add + i * TW_NEG_ID_LEN;
        const uint8_t *hit = u ? bsearch(id, sorted, u, TW_NEG_ID_LEN, id_qsort_cmp) : NULL;
        if (!hit || taken[(size_t)(hit - sorted) / TW_NEG_ID_LEN])
            continue;
        taken[(size_t)(hit - sorted) / TW_NEG_ID_LEN] = 1;
        memmove(add + kept * TW_NEG_ID_LEN, id, TW_NEG_ID_LEN);
        kept++;
    }
    free(taken);
    list->len = start + kept * TW_NEG_ID_LEN;
    int rc = have + kept > TW_NEG_IDS_MAX ? TW_ETOOBIG : bytes_reserve(seen, 2 * kept * TW_NEG_ID_LEN);
    if (rc == 0)
        memcpy(seen->p + (have + kept) * TW_NEG_ID_LEN, sorted, kept * TW_NEG_ID_LEN);
    free(sorted);
    return rc;
}

/* Merges the ids kept by settle_prepare() (their sorted copy, after room
 * for them in seen) into the sorted reported set, from the back so it
 * grows in place. */
static void settle_commit(const bytes *list, size_t start, bytes *seen)
{
    size_t kept = (list->len - start) / TW_NEG_ID_LEN, have = seen->len / TW_NEG_ID_LEN;
    if (kept == 0)
        return;
    const uint8_t *add = seen->p + (have + kept) * TW_NEG_ID_LEN;
    size_t si = have, ai = kept, w = have + kept;
    while (ai > 0) {
        const uint8_t *a = add + (ai - 1) * TW_NEG_ID_LEN;
        w--;
        if (si > 0 && memcmp(seen->p + (si - 1) * TW_NEG_ID_LEN, a, TW_NEG_ID_LEN) > 0) {
            si--;
            memcpy(seen->p + w * TW_NEG_ID_LEN, seen->p + si * TW_NEG_ID_LEN, TW_NEG_ID_LEN);
        } else {
            ai--;
            memcpy(seen->p + w * TW_NEG_ID_LEN, a, TW_NEG_ID_LEN);
        }
    }
    seen->len = (have + kept) * TW_NEG_ID_LEN;
}

/* The head of a range in a message at *pos: its upper bound (delta-coded
 * against *last_in, and not below prev) and its mode. */
static int range_head(const uint8_t *msg, size_t len, size_t *pos, uint64_t *last_in, const tw_neg_bound *prev,
                      tw_neg_bound *cur, uint64_t *mode)
{
    size_t used;
    int rc = tw_neg_bound_decode(msg + *pos, len - *pos, last_in, cur, &used);
    if (rc)
        return rc;
    *pos += used;
    if (bound_cmp(cur, prev) < 0)
        return TW_EPROTO;
    if ((rc = tw_neg_varint_decode(msg + *pos, len - *pos, mode, &used)))
        return rc;
    *pos += used;
    return 0;
}

/* The count of an IdList range at *pos, checked against what is left. */
static int idlist_head(const uint8_t *msg, size_t len, size_t *pos, uint64_t *count)
{
    size_t used;
    int rc = tw_neg_varint_decode(msg + *pos, len - *pos, count, &used);
    if (rc)
        return rc;
    *pos += used;
    if (*count > (len - *pos) / TW_NEG_ID_LEN)
        return TW_EPROTO;
    return 0;
}

/* A first pass over a message: compares every Fingerprint range with ours
 * (the result is kept in n->match for the second pass) and plans the split
 * of the mismatched ones from their share (plan_split).  Refuses what the
 * second pass would refuse, before anything is written. */
static int survey(tw_neg *n, const uint8_t *msg, size_t len)
{
    tw_neg_store *s = n->store;
    size_t pos = 1, prev_index = 0, ranges = 0, mismatched = 0, items_all = 0, items_mm = 0;
    uint64_t last_in = 0;
    tw_neg_bound prev_bound, cur;
    int rc;

    memset(&prev_bound, 0, sizeof prev_bound);
    n->match.len = 0;
    while (pos < len) {
        uint64_t mode;
        if ((rc = range_head(msg, len, &pos, &last_in, &prev_bound, &cur, &mode)))
            return rc;
        size_t lower = prev_index, upper = store_lower_bound(s, lower, cur.ts, cur.id);
        if (mode == TW_NEG_MODE_FINGERPRINT) {
            if (len - pos < TW_NEG_FP_LEN)
                return TW_EPROTO;
            uint8_t ours[TW_NEG_FP_LEN];
            store_fp(s, lower, upper, ours);
            uint8_t same = memcmp(ours, msg + pos, TW_NEG_FP_LEN) == 0;
            pos += TW_NEG_FP_LEN;
            if ((rc = bytes_put(&n->match, &same, 1)))
                return rc;
            ranges++;
            items_all += upper - lower;
            if (!same) {
                mismatched++;
                items_mm += upper - lower;
            }
        } else if (mode == TW_NEG_MODE_IDLIST) {
            uint64_t count;
            if ((rc = idlist_head(msg, len, &pos, &count)))
                return rc;
            pos += (size_t)count * TW_NEG_ID_LEN;
        } else if (mode != TW_NEG_MODE_SKIP) {
            return TW_EPROTO;
        }
        prev_index = upper;
        prev_bound = cur;
    }
    plan_split(n, ranges, mismatched, items_all, items_mm);
    return 0;
}

static int reconcile_body(tw_neg *n, const uint8_t *msg, size_t len)
{
    tw_neg_store *s = n->store;
    size_t pos = 1, prev_index = 0, fp_index = 0;
    tw_neg_bound prev_bound, cur;
    bool skip = false;
    int rc;

    if ((rc = survey(n, msg, len)))
        return rc;
    memset(&prev_bound, 0, sizeof prev_bound);
    n->last_in = n->last_out = 0;

    while (pos < len) {
        size_t range_start = n->out.len;
        uint64_t mode, last_out_start = n->last_out;
        bool skip_start = skip, committed = false;

        if ((rc = range_head(msg, len, &pos, &n->last_in, &prev_bound, &cur, &mode)))
            return rc;

        size_t lower = prev_index;
        size_t upper = store_lower_bound(s, lower, cur.ts, cur.id);

        /* A pending skip is written only when a later range needs to be
         * sent; trailing skips are implied by the end of the message. */
        bool flush_skip = false;
        if (mode == TW_NEG_MODE_SKIP) {
            skip = true;
        } else if (mode == TW_NEG_MODE_FINGERPRINT) {
            if (len - pos < TW_NEG_FP_LEN)
                return TW_EPROTO;
            bool same = fp_index < n->match.len && n->match.p[fp_index];
            fp_index++;
            pos += TW_NEG_FP_LEN;
            if (same) {
                skip = true;
            } else {
                flush_skip = true;
            }
        } else if (mode == TW_NEG_MODE_IDLIST) {
            uint64_t count;
            if ((rc = idlist_head(msg, len, &pos, &count)))
                return rc;
            const uint8_t *ids = msg + pos;
            pos += (size_t)count * TW_NEG_ID_LEN;
            if (n->initiator) {
                rc = idlist_initiator(n, ids, (size_t)count, lower, upper);
                if (rc)
                    return rc;
                skip = true;
            } else {
                flush_skip = true;
            }
        } else {
            return TW_EPROTO;
        }

        if (flush_skip) {
            if (skip) {
                skip = false;
                rc = put_bound(n, &prev_bound);
                if (!rc)
                    rc = bytes_put_varint(&n->out, TW_NEG_MODE_SKIP);
                if (rc)
                    return rc;
            }
            if (mode == TW_NEG_MODE_FINGERPRINT) {
                rc = split_range(n, lower, upper, &cur);
            } else {
                /* The id list reply is kept even if it reaches the limit:
                 * it was cut to fit, and [upper, ...) is still owed. */
                rc = idlist_responder(n, range_start, lower, &upper, &cur);
                committed = true;
            }
            if (rc)
                return rc;
        }

        if (over_limit(n, n->out.len)) {
            /* Close the message with one fingerprint over everything not
             * yet answered; the peer splits it again if it differs, so the
             * rest follows in later rounds.  Settled ranges before it are
             * skipped explicitly so that they are never reconciled twice. */
            size_t from = upper;
            if (!committed) {
                n->out.len = range_start;
                n->last_out = last_out_start;
                from = lower;
                if (skip_start) {
                    rc = put_bound(n, &prev_bound);
                    if (!rc)
                        rc = bytes_put_varint(&n->out, TW_NEG_MODE_SKIP);
                    if (rc)
                        return rc;
                }
            }
            tw_neg_bound inf;
            infinity_bound(&inf);
            return put_fingerprint_range(n, &inf, from, s->size);
        }
        prev_index = upper;
        prev_bound = cur;
    }
    return 0;
}

int tw_neg_reconcile(tw_neg *n, const uint8_t *msg, size_t len, const uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len < 1 || msg[0] < TW_NEG_VERSION_LOWEST || msg[0] > TW_NEG_VERSION_HIGHEST)
        return TW_EPROTO;

    uint8_t v = TW_NEG_PROTOCOL_V1;
    n->out.len = 0;
    int rc = bytes_put(&n->out, &v, 1);
    if (rc)
        return rc;
    if (msg[0] != TW_NEG_PROTOCOL_V1) {
        if (n->initiator)
            return TW_EVERSION;
        /* Tell the peer the version we speak so it can fall back. */
        *out = n->out.p;
        *out_len = n->out.len;
        return 0;
    }

    store_refresh(n->store);
    size_t have0 = n->have.len, need0 = n->need.len;
    rc = reconcile_body(n, msg, len);
    if (!rc)
        rc = settle_prepare(&n->have, have0, &n->have_seen);
    if (!rc)
        rc = settle_prepare(&n->need, need0, &n->need_seen);
    if (rc) {
        n->have.len = have0;
        n->need.len = need0;
        n->out.len = 0;
        return rc;
    }
    settle_commit(&n->have, have0, &n->have_seen);
    settle_commit(&n->need, need0, &n->need_seen);
    if (n->initiator && n->out.len == 1)
        return 0; /* nothing left to ask: done */
    *out = n->out.p;
    *out_len = n->out.len;
    return 0;
}
