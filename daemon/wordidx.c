/*
 * The search word index (daemon/wordidx.h).
 *
 * Rows of the "words" table:
 *
 *   0x00 'v'              -> version (1 byte): the index is complete
 *   0x00 'p'              -> entry key: a build is under way, done up to it
 *   0x00 'k' kind         -> code (1 byte) of a kind, 1..TW_WORDIDX_KINDS_MAX
 *   word 0x00 ref(8)      -> block
 *
 * A word key is a folded, normalised word, or 0x01 and the variant key of
 * a name's word, cut to TW_WORDIDX_WORD_MAX bytes (and before any byte
 * under 0x02): a cut key matches more, never less.  A ref is a kind's code
 * in the top byte and the entry's timestamp in the low 48 bits (a later
 * one, past the year 10000, is kept as the largest, which reads every
 * entry of the kind from there on).  A block
 * holds the sorted (word, ref) pairs from its key up to the next block's
 * key, as runs of one word each:
 *
 *   run  = shared(varint) suffix_len(varint) suffix refs_len(varint) refs
 *   refs = for each ref: varint(delta << 2 | other_kind << 1 | more)
 *          [varint(kind code) if other_kind] [varint(count - 1) if more]
 *
 * where shared is the bytes the word shares with the word of the run
 * before.  Each ref is written against a base: the ref before it in the
 * run, or for a run's first ref, the first ref of the run before (most
 * refs of a word are close: records come in time order).  other_kind says
 * its kind is not the base's; delta is then the zigzag of its timestamp
 * minus the base's, as it is for a run's first ref, and otherwise the plain
 * difference.  count is the number of entries of that kind and timestamp
 * with the word (almost always one).  Blocks are cut to at most
 * TW_WORDIDX_BLOCK_MAX bytes: a full block is one LMDB overflow page of
 * 4 KiB (4096 less the page's 16-byte header), which it fills, where
 * blocks of a quarter page left leaf pages about half empty (LMDB splits a
 * page of four in two).  The block format does not depend on the size: an
 * index of smaller blocks reads and merges as it is.
 *
 * Writes are gathered per transaction (tw_wordidx_add / _remove) and
 * applied, sorted, when store.c commits it (tw_wordidx_end): each block a
 * transaction touches is decoded, merged and written once -- unless they
 * are too many (a bulk sync's, in no time order): the index is then set
 * aside and built again in the background (set_aside(), build()).
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lmdb.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "log.h"
#include "wordidx.h"

#define VARIANT 0x01
#define KEY_MAX (1 + TW_WORDIDX_WORD_MAX)
#define BKEY_MAX (KEY_MAX + 1 + 8)
#define TS_MAX ((1ull << 48) - 1)
#define ENC_CAP (2 * TW_WORDIDX_BLOCK_MAX + 4 * KEY_MAX)
#define RUNS_MAX (ENC_CAP / 4 + 1)

/* One (word, ref) pair: in a decoded block (cnt), or to apply (delta). */
typedef struct wp {
    const uint8_t *k;
    uint64_t pfx;       /* the key's first 8 bytes, big-endian (0 after it ends): most comparisons end here */
    uint32_t kn, off;
    int64_t n;          /* count in a block; change to apply */
    uint64_t ref;
} wp;

typedef struct wpvec { wp *p; size_t n, cap; } wpvec;

/* The changes of one transaction, or of one build batch. */
typedef struct pending {
    tw_buf keys;        /* key bytes of the pairs (wp.off) */
    wpvec v;
    char *var;          /* scratch for variant keys */
    size_t varcap;
    uint64_t ref;       /* of the entry being collected */
    int64_t delta;
    int err;
} pending;

struct tw_wordidx {
    MDB_dbi dbi;
    bool ready;
    /* A build under way (the version and progress rows are there): what it
     * has indexed, up to the entry key prog, is kept up to date by writes;
     * the rest it reads later.  rebuild: a background build is wanted (the
     * index was set aside by a bulk write, or a build is under way). */
    bool building, rebuild;
    uint8_t prog[TW_ENTRYKEY_MAX];
    size_t progn;
    bool bulk_logged;            /* "set aside" logged for this rebuild */
    uint64_t rebuilds;           /* rebuilds begun (for tests and the log) */
    double rebuild_t0;
    size_t rebuild_done, rebuild_steps;
    size_t touched, limit;       /* of the last commit's changes: blocks they fall in; the limit then */
    pending pend;
    uint8_t bval[2 * ENC_CAP];  /* copy of the block being changed */
    uint8_t words[RUNS_MAX * KEY_MAX];
    uint8_t nval[2 * ENC_CAP];  /* the next block, when it is taken in */
    uint8_t nwords[RUNS_MAX * KEY_MAX];
    wpvec blk, merged;
};

static const uint8_t META_VERSION[2] = { 0, 'v' }, META_PROGRESS[2] = { 0, 'p' }, META_KIND[2] = { 0, 'k' };

/* ------------------------------------------------------------ encoding */

static size_t put_varint(uint8_t *p, uint64_t x)
{
    size_t n = 0;
    while (x >= 0x80) { p[n++] = (uint8_t)(x | 0x80); x >>= 7; }
    p[n++] = (uint8_t)x;
    return n;
}

static bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *x)
{
    uint64_t v = 0;
    for (unsigned s = 0; s < 64 && *p < end; s += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) { *x = v; return true; }
    }
    return false;
}

static uint64_t zigzag(uint64_t a, uint64_t b) { return a >= b ? (a - b) << 1 : ((b - a) << 1) - 1; }
static uint64_t unzigzag(uint64_t base, uint64_t z) { return z & 1 ? base - ((z + 1) >> 1) : base + (z >> 1); }

static int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : an < bn ? -1 : an > bn;
}

static uint64_t key_pfx(const uint8_t *k, size_t n)
{
    uint64_t x = 0;
    for (size_t i = 0; i < 8; i++) x = x << 8 | (i < n ? k[i] : 0);
    return x;
}

static int wp_cmp(const wp *a, const wp *b)
{
    if (a->pfx != b->pfx) return a->pfx < b->pfx ? -1 : 1;
    int c = key_cmp(a->k, a->kn, b->k, b->kn);
    return c ? c : a->ref < b->ref ? -1 : a->ref > b->ref;
}

static int wp_qcmp(const void *a, const void *b) { return wp_cmp(a, b); }

static size_t block_key(uint8_t *out, const uint8_t *k, size_t kn, uint64_t ref)
{
    memcpy(out, k, kn);
    out[kn] = 0;
    for (int i = 7; i >= 0; i--) { out[kn + 1 + (size_t)i] = (uint8_t)ref; ref >>= 8; }
    return kn + 9;
}

static bool is_block(const MDB_val *k) { return k->mv_size > 9 && ((const uint8_t *)k->mv_data)[0] != 0; }

static int wpvec_push(wpvec *v, const wp *p)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 256;
        wp *n = realloc(v->p, cap * sizeof *n);
        if (!n) return ENOMEM;
        v->p = n;
        v->cap = cap;
    }
    v->p[v->n++] = *p;
    return 0;
}

/* Reads the runs of a block. */
typedef struct runit {
    const uint8_t *p, *end;
    uint8_t w[KEY_MAX];
    size_t wn;
    const uint8_t *refs, *refs_end;
    uint64_t first;      /* first ref of the run read last */
} runit;

static void run_begin(runit *it, const void *b, size_t n)
{
    memset(it, 0, sizeof *it);
    it->p = b;
    it->end = it->p + n;
}

/* The next run: its word in it->w; its refs between it->refs and
 * it->refs_end.  1, 0 at the end, -1 for a malformed block. */
static int run_next(runit *it)
{
    uint64_t shared, suf, rl;
    if (it->p == it->end) return 0;
    if (!get_varint(&it->p, it->end, &shared) || !get_varint(&it->p, it->end, &suf) || shared > it->wn ||
        suf > KEY_MAX - shared || suf > (size_t)(it->end - it->p) || shared + suf == 0)
        return -1;
    memcpy(it->w + shared, it->p, suf);
    it->wn = shared + suf;
    it->p += suf;
    if (!get_varint(&it->p, it->end, &rl) || rl == 0 || rl > (size_t)(it->end - it->p)) return -1;
    it->refs = it->p;
    it->refs_end = it->p + rl;
    it->p += rl;
    return 1;
}

/* The refs of the current run, with their counts, in order. */
typedef int (*ref_fn)(void *ctx, uint64_t ref, uint64_t count);

static int run_refs(runit *it, ref_fn fn, void *ctx)
{
    const uint8_t *p = it->refs;
    uint64_t ref = 0;
    bool first = true;
    while (p < it->refs_end) {
        uint64_t v, c = 1, base = first ? it->first : ref, code = base >> 48, ts = base & TS_MAX;
        if (!get_varint(&p, it->refs_end, &v)) return -1;
        bool kc = v & 2;
        if (kc && (!get_varint(&p, it->refs_end, &code) || code == 0 || code > 255)) return -1;
        if ((v & 1) && (!get_varint(&p, it->refs_end, &c) || c++ == 0 || c > UINT32_MAX)) return -1;
        ts = first || kc ? unzigzag(ts, v >> 2) : ts + (v >> 2);
        if (ts > TS_MAX) return -1;
        ref = code << 48 | ts;
        if (first) it->first = ref;
        first = false;
        int rc = fn ? fn(ctx, ref, c) : 0;
        if (rc) return rc;
        if (!fn) break;                       /* only the first was needed */
    }
    return first ? -1 : 0;
}

/* Skips the current run's refs, keeping track of its first ref. */
static int run_skip(runit *it) { return run_refs(it, NULL, NULL); }

/* Builds a block from pairs. */
typedef struct enc {
    uint8_t buf[ENC_CAP + BKEY_MAX + 64];
    size_t len;
    uint8_t rb[ENC_CAP];
    size_t rl;
    const uint8_t *pw, *cw;   /* word of the last written run; of the open run (NULL: none) */
    size_t pwn, cwn;
    uint64_t pfirst, pref;
} enc;

static void enc_reset(enc *e)
{
    e->len = e->rl = e->pwn = e->cwn = 0;
    e->pw = e->cw = NULL;
    e->pfirst = e->pref = 0;
}

static void enc_close_run(enc *e)
{
    if (!e->cw) return;
    size_t sh = 0;
    while (sh < e->pwn && sh < e->cwn && e->pw[sh] == e->cw[sh]) sh++;
    e->len += put_varint(e->buf + e->len, sh);
    e->len += put_varint(e->buf + e->len, e->cwn - sh);
    memcpy(e->buf + e->len, e->cw + sh, e->cwn - sh);
    e->len += e->cwn - sh;
    e->len += put_varint(e->buf + e->len, e->rl);
    memcpy(e->buf + e->len, e->rb, e->rl);
    e->len += e->rl;
    e->pw = e->cw;
    e->pwn = e->cwn;
    e->cw = NULL;
    e->rl = 0;
}

static void enc_add(enc *e, const wp *p)
{
    bool run = !e->cw || key_cmp(e->cw, e->cwn, p->k, p->kn) != 0;
    if (run) {
        enc_close_run(e);
        e->cw = p->k;
        e->cwn = p->kn;
    }
    uint64_t base = run ? e->pfirst : e->pref, code = p->ref >> 48, ts = p->ref & TS_MAX;
    bool kc = code != base >> 48;
    uint64_t d = run || kc ? zigzag(ts, base & TS_MAX) : ts - (base & TS_MAX);
    if (run) e->pfirst = p->ref;
    e->pref = p->ref;
    e->rl += put_varint(e->rb + e->rl, d << 2 | (uint64_t)kc << 1 | (p->n > 1));
    if (kc) e->rl += put_varint(e->rb + e->rl, code);
    if (p->n > 1) e->rl += put_varint(e->rb + e->rl, (uint64_t)p->n - 1);
}

/* Bytes of the block if it ended here (a little over). */
static size_t enc_size(const enc *e) { return e->len + (e->cw ? 4 + e->cwn + e->rl : 0); }

/* A pair's bytes at most, were it added. */
static size_t pair_max(const wp *p) { return 4 + p->kn + 20; }

/* ------------------------------------------------------------ applying changes */

static int not_ready(tw_wordidx *w, MDB_txn *txn);

/* Decodes a block into w->blk (words in w->words). */
typedef struct dec_ctx { wpvec *out; const uint8_t *k; size_t kn; uint64_t pfx; } dec_ctx;

static int dec_ref(void *vctx, uint64_t ref, uint64_t count)
{
    dec_ctx *d = vctx;
    wp p = { .k = d->k, .pfx = d->pfx, .kn = (uint32_t)d->kn, .n = (int64_t)count, .ref = ref };
    return wpvec_push(d->out, &p);
}

/* Decodes a block into out, its words into words (RUNS_MAX * KEY_MAX). */
static int decode_into(wpvec *out, uint8_t *words, const uint8_t *b, size_t n)
{
    runit it;
    size_t used = 0;
    int r;
    run_begin(&it, b, n);
    while ((r = run_next(&it)) == 1) {
        if (used + it.wn > RUNS_MAX * KEY_MAX) return MDB_CORRUPTED;
        memcpy(words + used, it.w, it.wn);
        dec_ctx d = { out, words + used, it.wn, key_pfx(it.w, it.wn) };
        used += it.wn;
        int rc = run_refs(&it, dec_ref, &d);
        if (rc) return rc < 0 ? MDB_CORRUPTED : rc;
    }
    return r < 0 ? MDB_CORRUPTED : 0;
}

/* Writes pairs as blocks: cut where a block reaches target bytes. */
static int put_blocks(MDB_txn *txn, MDB_dbi dbi, const wp *p, size_t n, size_t target, size_t *blocks,
                      size_t *bytes, size_t *last, bool write)
{
    static enc e;   /* one thread (the event loop) writes; too large for the stack */
    size_t start = 0;
    *blocks = *bytes = *last = 0;
    enc_reset(&e);
    for (size_t i = 0; i <= n; i++) {
        if (i < n && (i == start || enc_size(&e) + pair_max(&p[i]) <= target)) { enc_add(&e, &p[i]); continue; }
        enc_close_run(&e);
        (*blocks)++;
        *bytes += e.len;
        *last = e.len;
        if (write) {
            uint8_t bk[BKEY_MAX];
            MDB_val k = { block_key(bk, p[start].k, p[start].kn, p[start].ref), bk }, v = { e.len, e.buf };
            int rc = mdb_put(txn, dbi, &k, &v, 0);
            if (rc) return rc;
        }
        enc_reset(&e);
        start = i;
        if (i < n) enc_add(&e, &p[i]);
    }
    return 0;
}

/* Writes pairs in blocks filled up to TW_WORDIDX_BLOCK_MAX, the last one
 * with the rest: most pairs come at the end of their word (records come
 * in time order), so a block that grew past the limit leaves a full block
 * behind and goes on filling the new one. */
static int write_pairs(MDB_txn *txn, MDB_dbi dbi, const wp *p, size_t n)
{
    size_t blocks, bytes, last;
    return n ? put_blocks(txn, dbi, p, n, TW_WORDIDX_BLOCK_MAX, &blocks, &bytes, &last, true) : 0;
}

/*
 * Applies sorted changes (one per distinct pair): each block they fall in
 * is decoded, merged with its changes and written again (cut in two or
 * more when it grew too large; dropped when nothing is left).
 */
static int apply(tw_wordidx *w, MDB_txn *txn, const wp *in, size_t n)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, w->dbi, &cur);
    if (rc) return rc;
    size_t i = 0;
    unsigned missing = 0;
    while (i < n && rc == 0) {
        uint8_t bk[BKEY_MAX], ok[BKEY_MAX], nk[BKEY_MAX];
        size_t okn = 0, nkn = 0, bvn = 0, nvn = 0;
        bool have = false, next = false;
        MDB_val k = { block_key(bk, in[i].k, in[i].kn, in[i].ref), bk }, v;
        /* The block holding the pair: the last whose key is not above it,
         * else the first block (the pair goes in front of it). */
        int r = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (r && r != MDB_NOTFOUND) { rc = r; break; }
        bool exact = r == 0 && k.mv_size == (size_t)(in[i].kn + 9) && memcmp(k.mv_data, bk, k.mv_size) == 0;
        if (!exact) {
            int r2 = mdb_cursor_get(cur, &k, &v, r == 0 ? MDB_PREV : MDB_LAST);
            if (r2 && r2 != MDB_NOTFOUND) { rc = r2; break; }
            if (r2 == 0 && is_block(&k)) {
                have = true;
            } else if (r == 0) {
                k = (MDB_val){ in[i].kn + 9, bk };
                if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE))) break;
                have = true;
            }
        } else {
            have = true;
        }
        if (have) {
            if (k.mv_size > BKEY_MAX || v.mv_size > sizeof w->bval) { rc = MDB_CORRUPTED; break; }
            memcpy(ok, k.mv_data, k.mv_size);
            okn = k.mv_size;
            memcpy(w->bval, v.mv_data, v.mv_size);
            bvn = v.mv_size;
            r = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            if (r && r != MDB_NOTFOUND) { rc = r; break; }
            if (r == 0) {
                if (k.mv_size > BKEY_MAX || v.mv_size > sizeof w->nval) { rc = MDB_CORRUPTED; break; }
                memcpy(nk, k.mv_data, k.mv_size);
                nkn = k.mv_size;
                memcpy(w->nval, v.mv_data, v.mv_size);
                nvn = v.mv_size;
                next = true;
            }
            w->blk.n = 0;
            if ((rc = decode_into(&w->blk, w->words, w->bval, bvn)) == MDB_CORRUPTED) {
                /* Our own table, damaged: the entries are what counts.
                 * Search reads every record until the index is built
                 * again, at the next start. */
                tw_err("wordidx", "a block of the search word index is damaged; search reads every record until twind starts again and builds it afresh");
                w->ready = false;
                mdb_cursor_close(cur);
                return not_ready(w, txn);
            }
            if (rc) break;
        } else {
            w->blk.n = 0;
        }
        /* The changes that fall in this block: those below the next one. */
        size_t j = i;
        while (j < n) {
            if (next) {
                uint8_t jk[BKEY_MAX];
                size_t jn = block_key(jk, in[j].k, in[j].kn, in[j].ref);
                if (key_cmp(jk, jn, nk, nkn) >= 0) break;
            }
            j++;
        }
        /* Merge. */
        w->merged.n = 0;
        size_t a = 0, b = i;
        while ((a < w->blk.n || b < j) && rc == 0) {
            int c = a == w->blk.n ? 1 : b == j ? -1 : wp_cmp(&w->blk.p[a], &in[b]);
            wp p;
            if (c < 0) p = w->blk.p[a++];
            else if (c > 0) {
                p = in[b++];
                if (p.n <= 0) { missing++; continue; }
            } else {
                p = w->blk.p[a++];
                p.n += in[b++].n;
                if (p.n < 0) { missing++; p.n = 0; }
            }
            if (p.n > 0) rc = wpvec_push(&w->merged, &p);
        }
        if (rc) break;
        /* The last block written here (the only one, or the rest after
         * full ones) takes in the next block when it is less than half full
         * and both fit in one: writes that come one record at a time, each
         * in its own transaction, would otherwise leave many small blocks. */
        if (next && w->merged.n) {
            size_t blocks, bytes, last;
            put_blocks(txn, w->dbi, w->merged.p, w->merged.n, TW_WORDIDX_BLOCK_MAX, &blocks, &bytes, &last, false);
            if (last < TW_WORDIDX_BLOCK_MAX / 2 && last + nvn < TW_WORDIDX_BLOCK_MAX) {
                wpvec nb = { 0 };
                int d = decode_into(&nb, w->nwords, w->nval, nvn);
                for (size_t x = 0; d == 0 && x < nb.n; x++) d = wpvec_push(&w->merged, &nb.p[x]);
                free(nb.p);
                if (d == ENOMEM) { rc = d; break; }
                if (d == 0) {             /* (a damaged one is left for its own next write) */
                    MDB_val dk = { nkn, nk };
                    if ((rc = mdb_del(txn, w->dbi, &dk, NULL))) break;
                }
            }
        }
        if (have) {
            MDB_val dk = { okn, ok };
            if ((rc = mdb_del(txn, w->dbi, &dk, NULL))) break;
        }
        rc = write_pairs(txn, w->dbi, w->merged.p, w->merged.n);
        i = j;
    }
    mdb_cursor_close(cur);
    if (missing) tw_warn("wordidx", "%u word(s) to forget were not in the search index; it will be built again at the next start", missing);
    if (missing && rc == 0) {
        MDB_val vk = { 2, (void *)META_VERSION };
        rc = mdb_del(txn, w->dbi, &vk, NULL);
        if (rc == MDB_NOTFOUND) rc = 0;
    }
    return rc;
}

/*
 * How many blocks sorted changes fall in (as apply() finds them), counting
 * no further than stop + 1: a few cursor moves per block, nothing decoded.
 */
static int count_blocks(tw_wordidx *w, MDB_txn *txn, const wp *in, size_t n, size_t stop, size_t *count)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, w->dbi, &cur);
    if (rc) return rc;
    size_t i = 0;
    *count = 0;
    while (i < n && *count <= stop) {
        uint8_t bk[BKEY_MAX], nk[BKEY_MAX];
        size_t nkn = 0;
        MDB_val k = { block_key(bk, in[i].k, in[i].kn, in[i].ref), bk }, v;
        int r = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (r && r != MDB_NOTFOUND) { rc = r; break; }
        bool exact = r == 0 && k.mv_size == (size_t)(in[i].kn + 9) && memcmp(k.mv_data, bk, k.mv_size) == 0;
        bool next = false;
        if (exact) {
            /* The block begins with the pair: the next block bounds it. */
            r = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            if (r && r != MDB_NOTFOUND) { rc = r; break; }
            next = r == 0;
        } else if (r == 0) {
            /* A block begins above the pair: it bounds the block before,
             * or, when there is none, the pair goes in front of it and the
             * one after it bounds that. */
            MDB_val pk, pv;
            int r2 = mdb_cursor_get(cur, &pk, &pv, MDB_PREV);
            if (r2 && r2 != MDB_NOTFOUND) { rc = r2; break; }
            if (r2 == 0 && is_block(&pk)) {
                r2 = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
                if (r2) { rc = r2; break; }
            } else {
                k = (MDB_val){ in[i].kn + 9, bk };
                if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE))) break;
                r2 = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
                if (r2 && r2 != MDB_NOTFOUND) { rc = r2; break; }
                if (r2) k.mv_size = 0;
            }
            next = k.mv_size > 0;
        }
        /* else: past every block's key, the last block (or a new one) takes the rest */
        if (next) {
            if (k.mv_size > BKEY_MAX) { rc = MDB_CORRUPTED; break; }
            memcpy(nk, k.mv_data, k.mv_size);
            nkn = k.mv_size;
        }
        (*count)++;
        if (!next) break;
        while (i < n) {
            uint8_t jk[BKEY_MAX];
            size_t jn = block_key(jk, in[i].k, in[i].kn, in[i].ref);
            if (key_cmp(jk, jn, nk, nkn) >= 0) break;
            i++;
        }
    }
    mdb_cursor_close(cur);
    return rc;
}

/* The blocks one commit's changes may fall in and still be applied:
 * TW_WORDIDX_APPLY_SHARE percent of the index's rows, at least
 * TW_WORDIDX_APPLY_MIN. */
static int apply_limit(tw_wordidx *w, MDB_txn *txn, size_t *limit)
{
    MDB_stat st;
    int rc = mdb_stat(txn, w->dbi, &st);
    if (rc) return rc;
    size_t share = st.ms_entries * TW_WORDIDX_APPLY_SHARE / 100;
    *limit = share > TW_WORDIDX_APPLY_MIN ? share : TW_WORDIDX_APPLY_MIN;
    return 0;
}

/* ------------------------------------------------------------ collecting an entry's words */

static int add_key(pending *pd, const uint8_t *w, size_t n, bool variant)
{
    size_t kn = n < TW_WORDIDX_WORD_MAX ? n : TW_WORDIDX_WORD_MAX;
    for (size_t i = 0; i < kn; i++)
        if (w[i] < 2) { kn = i; break; }
    if (kn == 0) return 0;
    wp p = { .off = (uint32_t)pd->keys.len, .kn = (uint32_t)(kn + variant), .n = pd->delta, .ref = pd->ref };
    uint8_t m = VARIANT;
    int rc = 0;
    if ((variant && tw_buf_put(&pd->keys, &m, 1)) || tw_buf_put(&pd->keys, w, kn) || (rc = wpvec_push(&pd->v, &p)))
        return ENOMEM;
    return rc;
}

static int word_fn(void *ctx, const char *w, size_t n, bool name)
{
    pending *pd = ctx;
    int rc = add_key(pd, (const uint8_t *)w, n, false);
    if (rc || !name) return rc;
    if (n + 1 > pd->varcap) {
        char *v = realloc(pd->var, n + 1);
        if (!v) return ENOMEM;
        pd->var = v;
        pd->varcap = n + 1;
    }
    size_t vn = tw_search_variant(w, n, pd->var);
    return vn ? add_key(pd, (const uint8_t *)pd->var, vn, true) : 0;
}

static void fix_keys(pending *pd, size_t from)
{
    for (size_t i = from; i < pd->v.n; i++) {
        pd->v.p[i].k = pd->keys.p + pd->v.p[i].off;
        pd->v.p[i].pfx = key_pfx(pd->v.p[i].k, pd->v.p[i].kn);
    }
}

/* The code of a kind, assigned in txn when new (*code 0: too many kinds). */
static int kind_code(MDB_txn *txn, MDB_dbi dbi, const char *kind, size_t kl, unsigned *code, bool assign)
{
    uint8_t kk[2 + TW_KIND_MAX];
    memcpy(kk, META_KIND, 2);
    memcpy(kk + 2, kind, kl);
    MDB_val k = { 2 + kl, kk }, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == 0) { *code = v.mv_size == 1 ? ((const uint8_t *)v.mv_data)[0] : 0; return *code ? 0 : MDB_CORRUPTED; }
    if (rc != MDB_NOTFOUND || !assign) return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, dbi, &cur))) return rc;
    unsigned n = 0;
    MDB_val ck = { 2, (void *)META_KIND };
    rc = mdb_cursor_get(cur, &ck, &v, MDB_SET_RANGE);
    while (rc == 0 && ck.mv_size >= 2 && memcmp(ck.mv_data, META_KIND, 2) == 0) {
        n++;
        rc = mdb_cursor_get(cur, &ck, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND) return rc;
    if (n >= TW_WORDIDX_KINDS_MAX) { *code = 0; return 0; }
    uint8_t c = (uint8_t)(n + 1);
    v = (MDB_val){ 1, &c };
    k = (MDB_val){ 2 + kl, kk };
    if ((rc = mdb_put(txn, dbi, &k, &v, 0))) return rc;
    *code = c;
    return 0;
}

/* Adds an entry's distinct words to pd with change delta. */
static int collect(MDB_txn *txn, MDB_dbi dbi, pending *pd, const tw_entry *e, int64_t delta)
{
    if (e->body.type != TW_MAP) return 0;   /* a tombstone has no words */
    unsigned code;
    int rc = kind_code(txn, dbi, e->kind, e->kind_len, &code, true);
    if (rc) return rc;
    if (!code) return MDB_INCOMPATIBLE;
    pd->ref = (uint64_t)code << 48 | (e->ts > TS_MAX ? TS_MAX : e->ts);
    pd->delta = delta;
    size_t from = pd->v.n;
    rc = tw_search_record_words(&e->body, e->slot, e->slot_len, word_fn, pd);
    if (rc) return rc == TW_ENOMEM ? ENOMEM : rc;
    /* Each word once per entry. */
    fix_keys(pd, from);
    qsort(pd->v.p + from, pd->v.n - from, sizeof pd->v.p[0], wp_qcmp);
    size_t o = from;
    for (size_t i = from; i < pd->v.n; i++)
        if (o == from || wp_cmp(&pd->v.p[o - 1], &pd->v.p[i]) != 0) pd->v.p[o++] = pd->v.p[i];
    pd->v.n = o;
    return 0;
}

static double mono_s(void);

/*
 * A commit whose changes fall in more blocks than the limit (apply_limit())
 * does not apply them: rewriting a large share of the index in every commit
 * of a bulk sync, whose records come in no time order, costs more than
 * building it again once, so the index is set aside in the same
 * transaction (search reads every record meanwhile) and built again in the
 * background once the writes pause (tw_wordidx_build_step()).
 */
static int set_aside(tw_wordidx *w, MDB_txn *txn)
{
    if (!w->bulk_logged)
        tw_info("wordidx", "a write of many records changes %zu blocks of the search word index (more than %zu): it is built again once the writes pause; search reads every record until then",
                w->touched, w->limit);
    w->bulk_logged = true;
    w->ready = false;
    w->building = false;         /* what a build under way indexed is out of date now */
    w->rebuild = true;
    return not_ready(w, txn);
}

/* Applies what pd gathered: sorted, the changes of one pair summed;
 * bounded: unless they fall in more blocks than the limit. */
static int flush(tw_wordidx *w, MDB_txn *txn, pending *pd, bool bounded)
{
    if (pd->v.n == 0) return 0;
    fix_keys(pd, 0);
    qsort(pd->v.p, pd->v.n, sizeof pd->v.p[0], wp_qcmp);
    size_t o = 0;
    for (size_t i = 0; i < pd->v.n; i++) {
        if (o && wp_cmp(&pd->v.p[o - 1], &pd->v.p[i]) == 0) pd->v.p[o - 1].n += pd->v.p[i].n;
        else pd->v.p[o++] = pd->v.p[i];
    }
    size_t z = 0;
    for (size_t i = 0; i < o; i++)
        if (pd->v.p[i].n) pd->v.p[z++] = pd->v.p[i];
    if (bounded && z) {
        int rc = apply_limit(w, txn, &w->limit);
        if (rc == 0) rc = count_blocks(w, txn, pd->v.p, z, w->limit, &w->touched);
        if (rc) return rc;
        if (w->touched > w->limit) return set_aside(w, txn);
    }
    return apply(w, txn, pd->v.p, z);
}

static void pending_reset(pending *pd)
{
    tw_buf_reset(&pd->keys);
    pd->v.n = 0;
    pd->err = 0;
}

static void pending_free(pending *pd)
{
    tw_buf_free(&pd->keys);
    free(pd->v.p);
    free(pd->var);
    memset(pd, 0, sizeof *pd);
}

/* ------------------------------------------------------------ the store's calls */

int tw_wordidx_open(tw_wordidx **out, MDB_txn *txn)
{
    tw_wordidx *w = calloc(1, sizeof *w);
    if (!w) return ENOMEM;
    tw_buf_init(&w->pend.keys);
    int rc = mdb_dbi_open(txn, "words", MDB_CREATE, &w->dbi);
    if (rc) { free(w); return rc; }
    *out = w;
    return 0;
}

int tw_wordidx_reopen(tw_wordidx *w, MDB_txn *txn) { return mdb_dbi_open(txn, "words", 0, &w->dbi); }

void tw_wordidx_free(tw_wordidx *w)
{
    if (!w) return;
    pending_free(&w->pend);
    free(w->blk.p);
    free(w->merged.p);
    free(w);
}

bool tw_wordidx_ready(const tw_wordidx *w) { return w && w->ready; }

/* While the index is not complete, a write marks it to be built afresh at
 * the next start (an incremental build would miss this change). */
static int not_ready(tw_wordidx *w, MDB_txn *txn)
{
    MDB_val k = { 2, (void *)META_VERSION };
    int rc = mdb_del(txn, w->dbi, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int change(tw_wordidx *w, MDB_txn *txn, const tw_entry *e, int64_t delta)
{
    if (!w) return 0;
    if (!w->ready) {
        if (!w->building) return not_ready(w, txn);
        /* A build under way: it reads the records after prog itself. */
        uint8_t k[TW_ENTRYKEY_MAX];
        size_t kn = tw_store_entry_key(k, e->kind, e->kind_len, e->ts, e->id);
        if (key_cmp(k, kn, w->prog, w->progn) > 0) return 0;
    }
    int rc = collect(txn, w->dbi, &w->pend, e, delta);
    if (rc == MDB_INCOMPATIBLE) {
        tw_err("wordidx", "more than %u kinds of record: search reads every record from now on", TW_WORDIDX_KINDS_MAX);
        w->ready = w->building = w->rebuild = false;
        pending_reset(&w->pend);
        return not_ready(w, txn);
    }
    return rc;
}

int tw_wordidx_add(tw_wordidx *w, MDB_txn *txn, const tw_entry *e) { return change(w, txn, e, 1); }
int tw_wordidx_remove(tw_wordidx *w, MDB_txn *txn, const tw_entry *e) { return change(w, txn, e, -1); }

int tw_wordidx_remove_env(tw_wordidx *w, MDB_txn *txn, const uint8_t *env, size_t len, const uint8_t id[TW_ID_LEN])
{
    if (!w) return 0;
    tw_arena a;
    tw_entry e;
    tw_arena_init(&a, 0);
    int rc = tw_entry_parse_known(env, len, id, &a, &e) ? MDB_CORRUPTED : change(w, txn, &e, -1);
    tw_arena_free(&a);
    return rc;
}

int tw_wordidx_end(tw_wordidx *w, MDB_txn *txn, int rc)
{
    if (!w) return rc;
    if (rc == 0) rc = flush(w, txn, &w->pend, true);
    pending_reset(&w->pend);
    return rc;
}

/* ------------------------------------------------------------ building */

typedef struct build_ctx {
    tw_wordidx *w;
    pending pd;
    uint8_t last[TW_ENTRYKEY_MAX];  /* the entry key the build has reached */
    size_t lastn;
    bool have_version, have_progress;
} build_ctx;

static int state_fn(void *vctx, struct MDB_txn *txn)
{
    build_ctx *b = vctx;
    MDB_val k = { 2, (void *)META_VERSION }, v;
    int rc = mdb_get(txn, b->w->dbi, &k, &v);
    if (rc && rc != MDB_NOTFOUND) return rc;
    b->have_version = rc == 0 && v.mv_size == 1 && ((const uint8_t *)v.mv_data)[0] == TW_WORDIDX_VERSION;
    k = (MDB_val){ 2, (void *)META_PROGRESS };
    rc = mdb_get(txn, b->w->dbi, &k, &v);
    if (rc && rc != MDB_NOTFOUND) return rc;
    b->have_progress = rc == 0;
    if (rc == 0) {
        if (v.mv_size > sizeof b->last) return MDB_CORRUPTED;
        memcpy(b->last, v.mv_data, v.mv_size);
        b->lastn = v.mv_size;
    }
    return 0;
}

static int start_fn(void *vctx, struct MDB_txn *txn)
{
    build_ctx *b = vctx;
    uint8_t ver = TW_WORDIDX_VERSION;
    MDB_val k = { 2, (void *)META_VERSION }, v = { 1, &ver };
    int rc = mdb_drop(txn, b->w->dbi, 0);
    if (rc || (rc = mdb_put(txn, b->w->dbi, &k, &v, 0))) return rc;
    k = (MDB_val){ 2, (void *)META_PROGRESS };
    v = (MDB_val){ 0, "" };
    return mdb_put(txn, b->w->dbi, &k, &v, 0);
}

/* A batch of envelopes read for the build (their words are collected in
 * the write transaction, where kinds get their codes). */
typedef struct batch {
    tw_buf envs;
    size_t *offs, *lens, n;
    uint8_t (*ids)[TW_ID_LEN];
    uint8_t last[TW_ENTRYKEY_MAX];
    size_t lastn, max;
} batch;

static int batch_fn(void *vctx, const uint8_t *key, size_t klen, const uint8_t id[TW_ID_LEN], const uint8_t *env,
                    size_t envlen)
{
    batch *bt = vctx;
    if (klen > sizeof bt->last) return TW_EIO;
    bt->offs[bt->n] = bt->envs.len;
    bt->lens[bt->n] = envlen;
    memcpy(bt->ids[bt->n], id, TW_ID_LEN);
    if (tw_buf_put(&bt->envs, env, envlen)) return TW_ENOMEM;
    memcpy(bt->last, key, klen);
    bt->lastn = klen;
    return ++bt->n == bt->max ? 1 : 0;
}

typedef struct write_ctx { build_ctx *b; batch *bt; bool done; } write_ctx;

static int batch_write_fn(void *vctx, struct MDB_txn *txn)
{
    write_ctx *c = vctx;
    tw_wordidx *w = c->b->w;
    pending *pd = &c->b->pd;
    tw_arena a;
    int rc = 0;
    pending_reset(pd);
    tw_arena_init(&a, 0);
    for (size_t i = 0; i < c->bt->n && rc == 0; i++) {
        tw_entry e;
        tw_arena_reset(&a);
        if (tw_entry_parse_known(c->bt->envs.p + c->bt->offs[i], c->bt->lens[i], c->bt->ids[i], &a, &e)) continue;
        rc = collect(txn, w->dbi, pd, &e, 1);
    }
    tw_arena_free(&a);
    if (rc == 0) rc = flush(w, txn, pd, false);
    MDB_val k = { 2, (void *)META_PROGRESS }, v = { c->bt->lastn, c->bt->last };
    if (rc == 0) rc = c->done ? mdb_del(txn, w->dbi, &k, NULL) : mdb_put(txn, w->dbi, &k, &v, 0);
    return rc;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Builds (resumes) the index, max records a transaction, for at most
 * steps transactions.  bg: a step of the background build (resumed from
 * where the last step stopped, logged when it begins and ends). */
static int build(tw_store *s, size_t max, size_t steps, bool bg)
{
    tw_wordidx *w = tw_store_wordidx(s);
    if (!w) return 0;
    build_ctx b = { .w = w };
    int rc = 0;
    tw_store_info info;
    tw_store_get_info(s, &info);
    double t0 = mono_s();
    if (bg && w->building) {
        memcpy(b.last, w->prog, w->progn);
        b.lastn = w->progn;
    } else {
        if ((rc = tw_store_txn(s, false, state_fn, &b, 0, "search index check"))) return rc;
        if (b.have_version && !b.have_progress) {
            w->ready = true;
            w->building = w->rebuild = w->bulk_logged = false;
            return 0;
        }
        if (!b.have_version) {
            if (bg)
                tw_info("wordidx", "building the search word index again (%llu records), in steps while no write comes",
                        (unsigned long long)info.entries);
            else
                tw_info("wordidx", "building the search word index of %llu records", (unsigned long long)info.entries);
            if ((rc = tw_store_txn(s, true, start_fn, &b, 64 * 4096, "search index start"))) return rc;
            b.lastn = 0;
        } else {
            tw_info("wordidx", "resuming the build of the search word index (%llu records in the store)",
                    (unsigned long long)info.entries);
        }
        if (bg) {
            w->rebuilds++;
            w->rebuild_t0 = t0;
            w->rebuild_done = w->rebuild_steps = 0;
        }
        w->building = true;
        memcpy(w->prog, b.last, b.lastn);
        w->progn = b.lastn;
    }
    batch bt = { .offs = malloc(max * sizeof(size_t)), .lens = malloc(max * sizeof(size_t)),
                 .ids = malloc(max * TW_ID_LEN), .max = max };
    tw_buf_init(&bt.envs);
    tw_buf_init(&b.pd.keys);
    if (!bt.offs || !bt.lens || !bt.ids) rc = TW_ENOMEM;
    size_t done = 0, batches = 0;
    bool finished = false;
    while (rc == 0) {
        bt.n = 0;
        tw_buf_reset(&bt.envs);
        memcpy(bt.last, b.last, b.lastn);
        bt.lastn = b.lastn;
        rc = tw_store_scan(s, NULL, 0, b.lastn ? b.last : NULL, b.lastn, batch_fn, &bt);
        if (rc < 0) break;
        rc = 0;
        write_ctx wc = { &b, &bt, bt.n < max };
        /* About the pairs' bytes, twice, for the pages a commit copies. */
        rc = tw_store_txn(s, true, batch_write_fn, &wc, (uint64_t)bt.n * 200 + 64 * 4096, "search index build");
        if (rc) break;
        done += bt.n;
        memcpy(b.last, bt.last, bt.lastn);
        b.lastn = bt.lastn;
        /* What writes keep up to date from now on (tw_wordidx_add). */
        memcpy(w->prog, b.last, b.lastn);
        w->progn = b.lastn;
        if (!bg && ++batches % 20 == 0)
            tw_info("wordidx", "search word index: %zu records indexed (%.1f s)", done, mono_s() - t0);
        if (wc.done) { finished = true; break; }
        if (bg || batches == steps) break;          /* the next step (or, for tests, left half built as by a kill) */
    }
    free(bt.offs);
    free(bt.lens);
    free(bt.ids);
    tw_buf_free(&bt.envs);
    pending_free(&b.pd);
    if (bg) {
        w->rebuild_done += done;
        w->rebuild_steps++;
    }
    if (rc) {
        tw_err("wordidx", "building the search word index failed after %zu records: %s; search reads every record until it is built (at the next start)",
               bg ? w->rebuild_done : done, tw_strerror(rc));
        w->rebuild = false;
        return rc;
    }
    if (!finished) return 0;
    w->ready = true;
    w->building = w->rebuild = w->bulk_logged = false;
    if (bg)
        tw_info("wordidx", "search word index ready again: %zu records in %.1f s (%zu steps)", w->rebuild_done,
                mono_s() - w->rebuild_t0, w->rebuild_steps);
    else
        tw_info("wordidx", "search word index built: %zu records in %.1f s", done, mono_s() - t0);
    malloc_trim(0);   /* the batches' memory goes back now, not at the first idle trim */
    return 0;
}

int tw_wordidx_build(tw_store *s) { return build(s, TW_WORDIDX_BUILD_BATCH, SIZE_MAX, false); }

bool tw_wordidx_wants_build(const tw_wordidx *w) { return w && !w->ready && w->rebuild; }

int tw_wordidx_build_step(tw_store *s, size_t per, bool *done)
{
    tw_wordidx *w = tw_store_wordidx(s);
    *done = true;
    if (!w || per == 0) return TW_EINVAL;
    if (!tw_wordidx_wants_build(w)) return 0;
    int rc = build(s, per, 1, true);
    *done = rc != 0 || w->ready;
    return rc;
}

void tw_wordidx_stats(const tw_wordidx *w, tw_wordidx_info *out)
{
    memset(out, 0, sizeof *out);
    if (!w) return;
    out->ready = w->ready;
    out->rebuilding = w->rebuild;
    out->rebuilds = w->rebuilds;
    out->built = w->building ? w->rebuild_done : 0;
    out->touched = w->touched;
    out->limit = w->limit;
}

static int drop_fn(void *vctx, struct MDB_txn *txn)
{
    tw_wordidx *w = vctx;
    return mdb_drop(txn, w->dbi, 0);
}

int tw_wordidx_rebuild(tw_store *s)
{
    tw_wordidx *w = tw_store_wordidx(s);
    if (!w) return TW_EINVAL;
    w->ready = w->building = w->rebuild = false;
    int rc = tw_store_txn(s, true, drop_fn, w, 64 * 4096, "search index drop");
    return rc ? rc : tw_wordidx_build(s);
}

int tw_wordidx_build_part(tw_store *s, size_t per, size_t steps)
{
    tw_wordidx *w = tw_store_wordidx(s);
    if (!w || per == 0) return TW_EINVAL;
    w->ready = w->building = w->rebuild = false;
    int rc = tw_store_txn(s, true, drop_fn, w, 64 * 4096, "search index drop");
    return rc ? rc : build(s, per, steps, false);
}

/* ------------------------------------------------------------ reading */

typedef struct u64vec { uint64_t *p; size_t n, cap; } u64vec;

static int u64_push(u64vec *v, uint64_t x)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 1024;
        uint64_t *n = realloc(v->p, cap * sizeof *n);
        if (!n) return TW_ENOMEM;
        v->p = n;
        v->cap = cap;
    }
    v->p[v->n++] = x;
    return 0;
}

/* Sorts by radix (bytes that are the same in every ref are skipped) and
 * drops repeats. */
static int u64_sort_unique(u64vec *v)
{
    bool sorted = true;
    for (size_t i = 1; i < v->n && sorted; i++) sorted = v->p[i - 1] <= v->p[i];
    if (!sorted) {
        uint64_t *tmp = malloc(v->n * sizeof *tmp);
        if (!tmp) return TW_ENOMEM;
        uint64_t *a = v->p, *b = tmp;
        for (unsigned sh = 0; sh < 64; sh += 8) {
            size_t cnt[257] = { 0 };
            for (size_t i = 0; i < v->n; i++) cnt[((a[i] >> sh) & 0xff) + 1]++;
            if (cnt[((a[0] >> sh) & 0xff) + 1] == v->n) continue;
            for (int i = 0; i < 256; i++) cnt[i + 1] += cnt[i];
            for (size_t i = 0; i < v->n; i++) b[cnt[(a[i] >> sh) & 0xff]++] = a[i];
            uint64_t *t = a; a = b; b = t;
        }
        if (a != v->p) { memcpy(v->p, a, v->n * sizeof *a); }
        free(tmp);
    }
    size_t o = 0;
    for (size_t i = 0; i < v->n; i++)
        if (o == 0 || v->p[o - 1] != v->p[i]) v->p[o++] = v->p[i];
    v->n = o;
    return 0;
}

typedef struct collect_ctx { u64vec *out; size_t cap; bool over; } collect_ctx;

static int push_ref(void *vctx, uint64_t ref, uint64_t count)
{
    (void)count;
    collect_ctx *c = vctx;
    if (c->out->n >= c->cap) { c->over = true; return 1; }
    return u64_push(c->out, ref);
}

/* The refs of the words that begin with (exact: are) key p. */
static int range_refs(MDB_cursor *cur, const uint8_t *p, size_t pn, bool exact, collect_ctx *c)
{
    MDB_val k = { pn, (void *)p }, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc && rc != MDB_NOTFOUND) return rc;
    /* The block before may end with such words. */
    int r2 = mdb_cursor_get(cur, &k, &v, rc == 0 ? MDB_PREV : MDB_LAST);
    if (r2 && r2 != MDB_NOTFOUND) return r2;
    if (r2 != 0 || !is_block(&k)) {
        if (rc) return 0;
        k = (MDB_val){ pn, (void *)p };
        if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE))) return rc == MDB_NOTFOUND ? 0 : rc;
    }
    for (;;) {
        if (!is_block(&k)) return MDB_CORRUPTED;
        runit it;
        int r;
        run_begin(&it, v.mv_data, v.mv_size);
        while ((r = run_next(&it)) == 1) {
            int cmp = memcmp(it.w, p, it.wn < pn ? it.wn : pn);
            bool match = cmp == 0 && (exact ? it.wn == pn : it.wn >= pn);
            if (match) {
                r = run_refs(&it, push_ref, c);
                if (r) return r < 0 ? MDB_CORRUPTED : 0;
            } else if (cmp > 0 || (cmp == 0 && it.wn > pn)) {
                return 0;                   /* past every word that begins with p */
            } else if (run_skip(&it)) {
                return MDB_CORRUPTED;
            }
        }
        if (r < 0) return MDB_CORRUPTED;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        if (rc) return rc == MDB_NOTFOUND ? 0 : rc;
    }
}

/* The refs of every word (and variant key) near a query word. */
static int near_refs(MDB_cursor *cur, const tw_search *q, collect_ctx *c)
{
    MDB_val k = { 1, (void *)"\x01" }, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    uint8_t lw[KEY_MAX];
    size_t lwn = 0;
    bool lnear = false;
    while (rc == 0) {
        if (!is_block(&k)) return MDB_CORRUPTED;
        runit it;
        int r;
        run_begin(&it, v.mv_data, v.mv_size);
        while ((r = run_next(&it)) == 1) {
            /* A word's runs follow one another, across blocks too. */
            if (it.wn != lwn || memcmp(it.w, lw, lwn) != 0) {
                bool variant = it.w[0] == VARIANT;
                lnear = tw_search_near(q, (const char *)it.w + variant, it.wn - variant, variant);
                memcpy(lw, it.w, it.wn);
                lwn = it.wn;
            }
            r = lnear ? run_refs(&it, push_ref, c) : run_skip(&it);
            if (r) return r < 0 ? MDB_CORRUPTED : 0;
        }
        if (r < 0) return MDB_CORRUPTED;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

typedef struct kindname { char s[TW_KIND_MAX + 1]; size_t n; unsigned code; } kindname;

typedef struct find_ctx {
    tw_wordidx *w;
    const tw_search *q;
    bool near;
    uint64_t entries;
    u64vec cand;
    bool broad;                  /* the index would not narrow it: read every record */
    kindname kinds[TW_WORDIDX_KINDS_MAX];
    size_t nkinds;
} find_ctx;

static int u64_intersect(u64vec *a, const u64vec *b)
{
    size_t i = 0, j = 0, o = 0;
    while (i < a->n && j < b->n) {
        if (a->p[i] < b->p[j]) i++;
        else if (a->p[i] > b->p[j]) j++;
        else { a->p[o++] = a->p[i]; i++; j++; }
    }
    a->n = o;
    return 0;
}

static int find_fn(void *vctx, struct MDB_txn *txn)
{
    find_ctx *f = vctx;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, f->w->dbi, &cur);
    if (rc) return rc;
    uint64_t share = f->entries * TW_SEARCH_INDEX_SHARE / 100;
    size_t cap = (size_t)(2 * f->entries + 1024);
    f->cand.n = 0;
    if (f->near) {
        collect_ctx c = { &f->cand, cap, false };
        rc = near_refs(cur, f->q, &c);
        if (rc == 0 && c.over) f->broad = true;
        if (rc == 0 && !f->broad) rc = u64_sort_unique(&f->cand);
    } else {
        bool any = false;
        for (size_t i = 0; i < tw_search_word_count(f->q) && rc == 0; i++) {
            const char *x, *xv;
            size_t xn, xvn;
            tw_search_word_at(f->q, i, &x, &xn, &xv, &xvn);
            u64vec set = { 0 };
            collect_ctx c = { &set, cap, false };
            uint8_t key[KEY_MAX];
            size_t kn = xn < TW_WORDIDX_WORD_MAX ? xn : TW_WORDIDX_WORD_MAX;
            for (size_t j = 0; j < kn; j++)
                if ((uint8_t)x[j] < 2) { kn = j; break; }
            if (kn == 0) { free(set.p); continue; }       /* no narrowing by this word */
            rc = range_refs(cur, (const uint8_t *)x, kn, false, &c);
            if (rc == 0 && !c.over && xvn) {
                size_t vkn = xvn < TW_WORDIDX_WORD_MAX ? xvn : TW_WORDIDX_WORD_MAX;
                for (size_t j = 0; j < vkn; j++)
                    if ((uint8_t)xv[j] < 2) { vkn = j; break; }
                if (vkn) {
                    key[0] = VARIANT;
                    memcpy(key + 1, xv, vkn);
                    rc = range_refs(cur, key, vkn + 1, true, &c);
                } else {
                    c.over = true;
                }
            }
            if (rc == 0 && !c.over) rc = u64_sort_unique(&set);
            if (rc == 0 && !c.over && set.n <= share) {
                if (!any) { free(f->cand.p); f->cand = set; set.p = NULL; any = true; }
                else u64_intersect(&f->cand, &set);
            }
            free(set.p);
        }
        if (!any) f->broad = true;
    }
    if (rc == 0 && !f->broad && f->cand.n > share) f->broad = true;
    /* The kinds, to read the candidates back in scan order. */
    MDB_val k = { 2, (void *)META_KIND }, v;
    int r = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (r == 0 && k.mv_size >= 2 && memcmp(k.mv_data, META_KIND, 2) == 0) {
        if (k.mv_size - 2 > TW_KIND_MAX || v.mv_size != 1 || f->nkinds == TW_WORDIDX_KINDS_MAX) { r = MDB_CORRUPTED; break; }
        kindname *kn = &f->kinds[f->nkinds++];
        kn->n = k.mv_size - 2;
        memcpy(kn->s, (const uint8_t *)k.mv_data + 2, kn->n);
        kn->s[kn->n] = 0;
        kn->code = ((const uint8_t *)v.mv_data)[0];
        r = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc == 0 && r != MDB_NOTFOUND) rc = r;
    mdb_cursor_close(cur);
    return rc;
}

static int kind_qcmp(const void *a, const void *b) { return strcmp(((const kindname *)a)->s, ((const kindname *)b)->s); }

/* Finds the candidates and reads them; *broad when the index cannot say. */
static int pass(tw_store *s, tw_search *q, bool near, tw_store_entry_fn fn, void *ctx, bool *broad)
{
    tw_store_info info;
    tw_store_get_info(s, &info);
    find_ctx *f = calloc(1, sizeof *f);
    if (!f) return TW_ENOMEM;
    f->w = tw_store_wordidx(s);
    f->q = q;
    f->near = near;
    f->entries = info.entries;
    int rc = tw_store_txn(s, false, find_fn, f, 0, "search index read");
    tw_store_at *at = NULL;
    if (rc) {
        /* The records are all there: read them rather than fail the search. */
        tw_log_limited(TW_LOG_ERROR, "wordidx", "wordidx-read", "cannot read the search word index (%s); this search reads every record",
                       tw_strerror(rc));
        f->broad = true;
        rc = 0;
    }
    *broad = f->broad;
    if (rc == 0 && !*broad && f->cand.n && !(at = malloc(f->cand.n * sizeof *at))) rc = TW_ENOMEM;
    if (rc == 0 && !*broad) {
        /* Kind by kind in the entries table's order (a kind's name, then
         * its 0x00), each kind's refs already in time order. */
        qsort(f->kinds, f->nkinds, sizeof f->kinds[0], kind_qcmp);
        size_t n = 0;
        for (size_t i = 0; i < f->nkinds; i++) {
            uint64_t lo = (uint64_t)f->kinds[i].code << 48, hi = lo | TS_MAX;
            size_t a = 0, b = f->cand.n;
            while (a < b) { size_t m = (a + b) / 2; if (f->cand.p[m] < lo) a = m + 1; else b = m; }
            for (; a < f->cand.n && f->cand.p[a] <= hi; a++)
                at[n++] = (tw_store_at){ f->kinds[i].s, f->kinds[i].n, f->cand.p[a] & TS_MAX,
                                         (f->cand.p[a] & TS_MAX) == TS_MAX };   /* a clamped time: all later ones */
        }
        rc = tw_store_scan_at(s, at, n, fn, ctx);
    }
    free(at);
    free(f->cand.p);
    free(f);
    return rc;
}

int tw_wordidx_search(tw_store *s, tw_search *q, tw_store_entry_fn fn, void *ctx, const uint64_t *total, bool *used)
{
    tw_wordidx *w = tw_store_wordidx(s);
    *used = false;
    if (!tw_wordidx_ready(w)) return tw_store_scan_entries(s, NULL, 0, NULL, 0, fn, ctx);
    bool broad;
    int rc = pass(s, q, false, fn, ctx, &broad);
    if (broad) return tw_store_scan_entries(s, NULL, 0, NULL, 0, fn, ctx);
    *used = true;
    if (rc || *total) return rc;
    /* Nothing matched: the names that can be suggested. */
    tw_search_suggestions_clear(q);
    rc = pass(s, q, true, fn, ctx, &broad);
    if (broad) {
        tw_search_suggestions_clear(q);
        rc = tw_store_scan_entries(s, NULL, 0, NULL, 0, fn, ctx);
    }
    return rc;
}

/* ------------------------------------------------------------ walking */

typedef struct walk_ctx { tw_wordidx_pair_fn fn; void *ctx; MDB_dbi dbi; } walk_ctx;
typedef struct walk_run { walk_ctx *w; const uint8_t *k; size_t kn; kindname *kinds; size_t nkinds; } walk_run;

static int walk_ref(void *vctx, uint64_t ref, uint64_t count)
{
    walk_run *r = vctx;
    unsigned code = (unsigned)(ref >> 48);
    for (size_t i = 0; i < r->nkinds; i++)
        if (r->kinds[i].code == code)
            return r->w->fn(r->w->ctx, r->k, r->kn, r->kinds[i].s, r->kinds[i].n, ref & TS_MAX, (uint32_t)count);
    return MDB_CORRUPTED;
}

static int walk_fn(void *vctx, struct MDB_txn *txn)
{
    walk_ctx *wc = vctx;
    MDB_dbi dbi = wc->dbi;
    int rc;
    static kindname kinds[TW_WORDIDX_KINDS_MAX];
    size_t nk = 0;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, dbi, &cur))) return rc;
    MDB_val k = { 2, (void *)META_KIND }, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= 2 && memcmp(k.mv_data, META_KIND, 2) == 0 && nk < TW_WORDIDX_KINDS_MAX) {
        kinds[nk].n = k.mv_size - 2 > TW_KIND_MAX ? TW_KIND_MAX : k.mv_size - 2;
        memcpy(kinds[nk].s, (const uint8_t *)k.mv_data + 2, kinds[nk].n);
        kinds[nk].s[kinds[nk].n] = 0;
        kinds[nk].code = v.mv_size == 1 ? ((const uint8_t *)v.mv_data)[0] : 0;
        nk++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    k = (MDB_val){ 1, (void *)"\x01" };
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        runit it;
        int r;
        run_begin(&it, v.mv_data, v.mv_size);
        while ((r = run_next(&it)) == 1) {
            walk_run wr = { wc, it.w, it.wn, kinds, nk };
            if ((r = run_refs(&it, walk_ref, &wr))) break;
        }
        if (r) { rc = r < 0 ? MDB_CORRUPTED : r; break; }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int tw_wordidx_walk(tw_store *s, tw_wordidx_pair_fn fn, void *ctx)
{
    tw_wordidx *w = tw_store_wordidx(s);
    if (!w) return TW_EINVAL;
    walk_ctx wc = { fn, ctx, w->dbi };
    return tw_store_txn(s, false, walk_fn, &wc, 0, "search index walk");
}
