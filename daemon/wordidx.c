/*
 * The search word index (daemon/wordidx.h).
 *
 * Rows of the "words" table:
 *
 *   0x00 'v'              -> version (1 byte): the index is complete
 *   0x00 'p'              -> entry key: a build is under way, done up to it
 *   0x00 'k' kind         -> code (1 byte) of a kind, 1..TW_WORDIDX_KINDS_MAX
 *   0x00 'a' author(32)   -> the author's number (4 bytes, big-endian), from 1
 *   0x00 'n' number(4)    -> the author's key (32 bytes)
 *   0x00 'c'              -> how many authors have a number (4 bytes)
 *   0x00 'u' block(8)     -> for each sequence number block * 680 to
 *                            block * 680 + 679, up to the last entry: its
 *                            entry's author's number (varint; 0: no entry)
 *                            and the entry id's first 4 bytes (not for 0)
 *   word 0x00 ref(8) seq(8) -> block (ref and seq of its first pair, big-endian)
 *
 * A word key is a folded, normalised word, or 0x01 and the variant key of
 * a name's word, cut to TW_WORDIDX_WORD_MAX bytes (and before any byte
 * under 0x02): a cut key matches more, never less.  A pair is (word, ref,
 * seq): one entry that has the word.  A ref is a kind's code in
 * bits 48-55 and the entry's timestamp in the low 48 bits (a later one,
 * past the year 10000, is kept as the largest, which reads every entry of
 * the kind from there on), and above them what the scorer can make of the
 * word in the entry, for the bounds of a page (tw_search_bound): bit 56 the
 * word is in a name field, bits 57-59 the fewest words (stop words left
 * out, 7: seven or more) of a field of the entry with the word -- of a
 * name field, when a name field has it.  seq is the entry's sequence
 * number in the store (the key of its envelope: kept for the entry's life,
 * and a new version is a new entry), so a pair names one entry even where
 * entries share a kind and time (an import gives its records one), and the
 * entry is read by it, and its author's number and the beginning of its
 * id found (the 'u' rows, about 6 bytes an entry, where an author's number
 * in every pair took 28 MiB more at 1 000 000 records): a page counts the
 * matches of authors whose records are all listed without reading them,
 * and orders the entries of one kind and time by id as a scan does,
 * reading only those whose 4 bytes tie with the page's last record's.  Authors' numbers are
 * never taken back.  A block holds the sorted
 * pairs from its key up to the next block's key, as runs of one word each:
 *
 *   run  = shared(varint) suffix_len(varint) suffix refs_len(varint) refs
 *   refs = for each pair: varint(delta << 6 | step << 2 | other_kind << 1 | more)
 *          [varint(kind code) if other_kind] [varint(count - 1) if more]
 *          [varint(zigzag(seq - base seq)) if step is 15]
 *
 * where shared is the bytes the word shares with the word of the run
 * before.  Each pair is written against a base: the pair before it in the
 * run, or for a run's first pair, the first pair of the run before (most
 * refs of a word are close: records come in time order).  other_kind says
 * its kind code (with the bits above it: "kind code" is the ref's bits
 * 48-59) is not the base's; delta is then the zigzag of its timestamp
 * minus the base's, as it is for a run's first ref, and otherwise the plain
 * difference.  step is seq - base seq - 1 when that is 0 to 14 (a word's
 * records mostly come in time order, so in store order: most pairs take
 * one byte where a seq of their own took one more, 15.5 MiB at 1 000 000
 * records), else 15 and seq follows.  count is 1 (a pair is one entry; more is kept so that a pair
 * applied twice reads back, and is never taken as sure).  Blocks are cut
 * to at most
 * TW_WORDIDX_BLOCK_MAX bytes: a full block is one LMDB overflow page of
 * 4 KiB (4096 less the page's 16-byte header), which it fills, where
 * blocks of a quarter page left leaf pages about half empty (LMDB splits a
 * page of four in two).  The block format does not depend on the size: an
 * index of smaller blocks reads and merges as it is.
 *
 * Version 6 (version 1 had neither the bits above the kind's code, nor
 * seq and the 'u' rows; version 2 had the bits; version 3 the 'u' rows
 * without ids; version 4 rows of 256 and every seq apart; version 5 rows
 * of 680 and every seq apart); an index of another version is
 * built afresh on open.
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
#include <sodium.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "twin/vec.h"
#include "log.h"
#include "wordidx.h"

#define VARIANT 0x01
#define KEY_MAX (1 + TW_WORDIDX_WORD_MAX)
#define BKEY_TAIL (1 + 8 + 8)  /* a block key: its first pair's word, 0x00, ref and seq */
#define BKEY_MAX (KEY_MAX + BKEY_TAIL)
#define TS_MAX ((1ull << 48) - 1)
#define NAME_BIT (1ull << 56)   /* in a ref: the word is in a name field of the entry */
#define REF_MASK (NAME_BIT - 1)
#define SIZE_SHIFT 57           /* in a ref: the fewest words of a field of the entry with the word, 1..7 (7: more) */
#define SIZE_MAX_ 7u
#define SEQ_MAX ((1ull << 56) - 1)   /* a sequence number the index can hold (store.c counts from 1) */
#define SEQ_ESC 15u             /* in a pair's first varint: its seq is base + 1 + these 4 bits, or (15) written apart */
#define AUTH_BLOCK 680u         /* sequence numbers a row of authors holds: 4080 bytes, one LMDB overflow page,
                                 * at 6 bytes each (fewer than 16384 authors); at most 9 */
#define ENC_CAP (2 * TW_WORDIDX_BLOCK_MAX + 4 * KEY_MAX)
#define RUNS_MAX (ENC_CAP / 4 + 1)

/* One (word, ref) pair: in a decoded block (cnt), or to apply (delta). */
typedef struct wp {
    const uint8_t *k;
    uint64_t pfx;       /* the key's first 8 bytes, big-endian (0 after it ends): most comparisons end here */
    uint32_t kn, off;
    int64_t n;          /* count in a block; change to apply */
    uint64_t ref;
    uint64_t seq;       /* the entry's sequence number in the store: one entry a (word, ref, seq) */
} wp;

typedef struct wpvec { wp *p; size_t n, cap; } wpvec;

/* An entry's author's number to write (0: the entry is gone), in the order
 * the changes came. */
typedef struct seqauth { uint64_t seq; uint32_t author, idpfx, order; } seqauth;

/*
 * The codes of kinds and the numbers of authors a transaction looked up or
 * assigned, kept for its later entries: each took a lookup in the words
 * table per entry (2 to 2.5 thousand cycles an entry at ingest, about 5 %
 * of the writer thread's time, where now under 1 thousand),
 * where a batch of TW_COMMIT_BATCH_MAX entries has a few kinds and its
 * authors mostly several entries each.  Valid only in the transaction that
 * filled them (what it assigned goes with it if it aborts): emptied with
 * the rest of the pending changes (pending_reset()), which every
 * transaction's end and every build batch does.  Authors are found by a
 * keyed hash (SipHash, a key per process), so that keys chosen to collide
 * cannot make the table slow.
 */
#define KCACHE_MAX 8u
typedef struct kcache { uint8_t kind[TW_KIND_MAX]; size_t len; unsigned code; } kcache;
typedef struct acache { uint8_t key[TW_KEY_LEN]; uint32_t num; } acache;   /* num 0: a free slot */

/* The changes of one transaction, or of one build batch. */
typedef struct pending {
    tw_buf keys;        /* key bytes of the pairs (wp.off) */
    wpvec v;
    char *var;          /* scratch for variant keys */
    size_t varcap;
    uint64_t ref;       /* of the entry being collected */
    uint64_t seq;
    uint32_t author;
    int64_t delta;
    seqauth *sa;        /* the authors of the entries added and removed */
    size_t nsa, capsa;
    kcache kinds[KCACHE_MAX];   /* kind codes of this transaction */
    size_t nkinds;
    acache *auth;       /* authors' numbers of this transaction: open addressing, authcap a power of 2 */
    size_t nauth, authcap;
    wp *tmp;            /* room for wp_sort() */
    size_t tmpcap;
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
    wpvec blk, merged, nblk;    /* nblk: the next block's pairs, when it is taken in */
    struct bwriter *bw;         /* blocks being written (apply()) */
};

static const uint8_t META_VERSION[2] = { 0, 'v' }, META_PROGRESS[2] = { 0, 'p' }, META_KIND[2] = { 0, 'k' },
                     META_AUTHOR[2] = { 0, 'a' }, META_AUTHOR_NUM[2] = { 0, 'n' }, META_AUTHORS[2] = { 0, 'c' },
                     META_SEQ_AUTHOR[2] = { 0, 'u' };

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

static uint32_t get_be32(const uint8_t *b) { return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]; }

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

/* Whether two keys are the same word: the lengths first (most words of a
 * block differ in length), and the pairs of one run of a decoded block
 * share their word's bytes. */
static bool key_eq(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    return an == bn && (a == b || memcmp(a, b, an) == 0);
}

static int wp_cmp(const wp *a, const wp *b)
{
    if (a->pfx != b->pfx) return a->pfx < b->pfx ? -1 : 1;
    /* Equal prefixes: the first min(8, shorter length) bytes are equal, so
     * only the bytes past the eighth are compared, then the lengths (a
     * shorter key of at most 8 bytes is a prefix of the other).  Sorting a
     * commit's pairs compares the same frequent words again and again:
     * memcmp of whole keys was a tenth of the loop thread's time at
     * ingest. */
    if (a->k != b->k || a->kn != b->kn) {
        size_t m = a->kn < b->kn ? a->kn : b->kn;
        /* The rest in line: past 8 bytes most words have a few more, and
         * a call to memcmp cost more than comparing them. */
        for (size_t i = 8; i < m; i++)
            if (a->k[i] != b->k[i]) return a->k[i] < b->k[i] ? -1 : 1;
        if (a->kn != b->kn) return a->kn < b->kn ? -1 : 1;
    }
    if (a->ref != b->ref) return a->ref < b->ref ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int wp_qcmp(const void *a, const void *b) { return wp_cmp(a, b); }

/* Merge sort of pairs with wp_cmp inlined: the pairs of a commit are the
 * sorted runs of its entries, and qsort through a function pointer was
 * a tenth of the loop thread's time at ingest.  tmp holds n / 2 pairs. */
static void wp_msort(wp *a, wp *tmp, size_t n)
{
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            wp x = a[i];
            size_t j = i;
            for (; j > 0 && wp_cmp(&a[j - 1], &x) > 0; j--) a[j] = a[j - 1];
            a[j] = x;
        }
        return;
    }
    size_t h = n / 2;
    wp_msort(a, tmp, h);
    wp_msort(a + h, tmp, n - h);
    if (wp_cmp(&a[h - 1], &a[h]) <= 0) return;     /* already in order */
    memcpy(tmp, a, h * sizeof *a);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n) a[o++] = wp_cmp(&a[j], &tmp[i]) < 0 ? a[j++] : tmp[i++];
    while (i < h) a[o++] = tmp[i++];
}

/* Sorts with *tmp (*cap pairs) as the merge sort's room, grown when
 * short and kept for the next sort: a commit sorts each entry's pairs and
 * then all of them, and a malloc and free for each took the writer
 * thread's time. */
static void wp_sort(wp *a, size_t n, wp **tmp, size_t *cap)
{
    if (n > 16 && *cap < n / 2) {
        wp *t = realloc(*tmp, n / 2 * sizeof *a);
        if (!t) { qsort(a, n, sizeof *a, wp_qcmp); return; }
        *tmp = t;
        *cap = n / 2;
    }
    wp_msort(a, *tmp, n);
}

static size_t block_key(uint8_t *out, const uint8_t *k, size_t kn, uint64_t ref, uint64_t seq)
{
    memcpy(out, k, kn);
    out[kn] = 0;
    for (int i = 7; i >= 0; i--) { out[kn + 1 + (size_t)i] = (uint8_t)ref; ref >>= 8; }
    for (int i = 7; i >= 0; i--) { out[kn + 9 + (size_t)i] = (uint8_t)seq; seq >>= 8; }
    return kn + BKEY_TAIL;
}

/* key_cmp of a pair's block key (block_key()) with the key k, without
 * making the block key: asked of every change a commit applies, against
 * the key of the block after the one it falls in. */
static int pair_key_cmp(const wp *p, const uint8_t *k, size_t kn)
{
    int c = memcmp(p->k, k, p->kn < kn ? p->kn : kn);
    if (c) return c;
    if (kn <= p->kn) return 1;              /* k is the word or a part of it */
    uint8_t t[BKEY_TAIL];
    t[0] = 0;
    for (int i = 7; i >= 0; i--) t[1 + i] = (uint8_t)(p->ref >> (8 * (7 - i)));
    for (int i = 7; i >= 0; i--) t[9 + i] = (uint8_t)(p->seq >> (8 * (7 - i)));
    size_t r = kn - p->kn;
    c = memcmp(t, k + p->kn, r < BKEY_TAIL ? r : BKEY_TAIL);
    return c ? c : r < BKEY_TAIL ? 1 : r > BKEY_TAIL ? -1 : 0;
}

static bool is_block(const MDB_val *k) { return k->mv_size > BKEY_TAIL && ((const uint8_t *)k->mv_data)[0] != 0; }

static int wpvec_push(wpvec *v, const wp *p)
{
    wp *n = tw_vec_room(v->p, &v->cap, v->n, sizeof *n, 256);
    if (!n) return ENOMEM;
    v->p = n;
    v->p[v->n++] = *p;
    return 0;
}

/* Reads the runs of a block. */
typedef struct runit {
    const uint8_t *p, *end;
    uint8_t w[KEY_MAX];
    size_t wn;
    const uint8_t *refs, *refs_end;
    uint64_t first, first_seq;   /* first ref (and its seq) of the run read last */
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

/* One pair of a run as read. */
typedef struct post { uint64_t ref, count, seq; } post;

/* The pairs of the current run, in order. */
typedef int (*ref_fn)(void *ctx, const post *p);

static int run_refs(runit *it, ref_fn fn, void *ctx)
{
    const uint8_t *p = it->refs;
    uint64_t ref = 0, seq = 0;
    bool first = true;
    while (p < it->refs_end) {
        uint64_t v, c = 1, base = first ? it->first : ref, code = base >> 48, ts = base & TS_MAX, z;
        uint64_t bseq = first ? it->first_seq : seq;
        if (!get_varint(&p, it->refs_end, &v)) return -1;
        bool kc = v & 2;
        uint64_t sc = v >> 2 & SEQ_ESC;
        if (kc && (!get_varint(&p, it->refs_end, &code) || (code & 0xff) == 0 || code > 0xfff)) return -1;
        if ((v & 1) && (!get_varint(&p, it->refs_end, &c) || c++ == 0 || c > UINT32_MAX)) return -1;
        if (sc == SEQ_ESC && !get_varint(&p, it->refs_end, &z)) return -1;
        ts = first || kc ? unzigzag(ts, v >> 6) : ts + (v >> 6);
        seq = sc == SEQ_ESC ? unzigzag(bseq, z) : bseq + sc + 1;
        if (ts > TS_MAX || seq == 0 || seq > SEQ_MAX) return -1;
        ref = code << 48 | ts;
        if (first) { it->first = ref; it->first_seq = seq; }
        first = false;
        post pp = { ref, c, seq };
        int rc = fn ? fn(ctx, &pp) : 0;
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
    size_t pwn, cwn, csh;     /* csh: bytes the open run's word shares with the last written */
    uint64_t pfirst, pref, pfseq, pseq;
} enc;

static size_t varint_len(uint64_t x) { size_t n = 1; while (x >= 0x80) { x >>= 7; n++; } return n; }

static void enc_reset(enc *e)
{
    e->len = e->rl = e->pwn = e->cwn = 0;
    e->pw = e->cw = NULL;
    e->pfirst = e->pref = e->pfseq = e->pseq = 0;
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
    bool run = !e->cw || !key_eq(e->cw, e->cwn, p->k, p->kn);
    if (run) {
        enc_close_run(e);
        e->cw = p->k;
        e->cwn = p->kn;
        e->csh = 0;
        while (e->csh < e->pwn && e->csh < e->cwn && e->pw[e->csh] == e->cw[e->csh]) e->csh++;
    }
    uint64_t base = run ? e->pfirst : e->pref, code = p->ref >> 48, ts = p->ref & TS_MAX;
    bool kc = code != base >> 48;
    uint64_t d = run || kc ? zigzag(ts, base & TS_MAX) : ts - (base & TS_MAX);
    uint64_t bseq = run ? e->pfseq : e->pseq;
    uint64_t sc = p->seq > bseq && p->seq - bseq <= SEQ_ESC ? p->seq - bseq - 1 : SEQ_ESC;
    if (run) { e->pfirst = p->ref; e->pfseq = p->seq; }
    e->pref = p->ref;
    e->pseq = p->seq;
    e->rl += put_varint(e->rb + e->rl, d << 6 | sc << 2 | (uint64_t)kc << 1 | (p->n > 1));
    if (kc) e->rl += put_varint(e->rb + e->rl, code);
    if (p->n > 1) e->rl += put_varint(e->rb + e->rl, (uint64_t)p->n - 1);
    if (sc == SEQ_ESC) e->rl += put_varint(e->rb + e->rl, zigzag(p->seq, bseq));
}

/* Bytes of the block if it ended here. */
static size_t enc_size(const enc *e)
{
    return e->len + (e->cw ? varint_len(e->csh) + varint_len(e->cwn - e->csh) + e->cwn - e->csh + varint_len(e->rl) + e->rl : 0);
}

/* A pair's bytes at most, were it added: its varints (8 + 2 + 5 + 9), one
 * more of its run's length, and the head of a new run. */
static size_t pair_max(const enc *e, const wp *p)
{
    bool run = !e->cw || !key_eq(e->cw, e->cwn, p->k, p->kn);
    return 25 + (run ? 4 + p->kn : 0);
}

/* ------------------------------------------------------------ applying changes */

static int not_ready(tw_wordidx *w, MDB_txn *txn);

/* Decodes a block into w->blk (words in w->words). */
typedef struct dec_ctx { wpvec *out; const uint8_t *k; size_t kn; uint64_t pfx; } dec_ctx;

static int dec_ref(void *vctx, const post *q)
{
    dec_ctx *d = vctx;
    wp p = { .k = d->k, .pfx = d->pfx, .kn = (uint32_t)d->kn, .n = (int64_t)q->count, .ref = q->ref, .seq = q->seq };
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

/*
 * Writes pairs, in order, as blocks: a block is cut where the next pair
 * could take it past TW_WORDIDX_BLOCK_MAX, so most are full and the last
 * holds the rest (most pairs come at the end of their word: records come
 * in time order, so a block that grew past the limit leaves a full block
 * behind and goes on filling the new one).  The block open at the end is
 * written by bw_flush(), once its caller has decided whether the next
 * block joins it: each pair is encoded once, where a dry run of the
 * encoding first measured the last block.
 */
struct bwriter {
    enc e;
    uint8_t key[BKEY_MAX];
    size_t keyn;
    bool open;
};
typedef struct bwriter bwriter;

static int bw_flush(MDB_txn *txn, MDB_dbi dbi, bwriter *b)
{
    if (!b->open) return 0;
    b->open = false;
    enc_close_run(&b->e);
    MDB_val k = { b->keyn, b->key }, v = { b->e.len, b->e.buf };
    return mdb_put(txn, dbi, &k, &v, 0);
}

static int bw_add(MDB_txn *txn, MDB_dbi dbi, bwriter *b, const wp *p)
{
    if (b->open && enc_size(&b->e) + pair_max(&b->e, p) > TW_WORDIDX_BLOCK_MAX) {
        int rc = bw_flush(txn, dbi, b);
        if (rc) return rc;
    }
    if (!b->open) {
        enc_reset(&b->e);
        b->keyn = block_key(b->key, p->k, p->kn, p->ref, p->seq);
        b->open = true;
    }
    enc_add(&b->e, p);
    return 0;
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
        MDB_val k = { block_key(bk, in[i].k, in[i].kn, in[i].ref, in[i].seq), bk }, v;
        /* The block holding the pair: the last whose key is not above it,
         * else the first block (the pair goes in front of it). */
        int r = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (r && r != MDB_NOTFOUND) { rc = r; break; }
        bool exact = r == 0 && k.mv_size == (size_t)(in[i].kn + BKEY_TAIL) && memcmp(k.mv_data, bk, k.mv_size) == 0;
        if (!exact) {
            int r2 = mdb_cursor_get(cur, &k, &v, r == 0 ? MDB_PREV : MDB_LAST);
            if (r2 && r2 != MDB_NOTFOUND) { rc = r2; break; }
            if (r2 == 0 && is_block(&k)) {
                have = true;
            } else if (r == 0) {
                k = (MDB_val){ in[i].kn + BKEY_TAIL, bk };
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
                if (pair_key_cmp(&in[j], nk, nkn) >= 0) break;
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
        if (have) {
            MDB_val dk = { okn, ok };
            if ((rc = mdb_del(txn, w->dbi, &dk, NULL))) break;
        }
        /* Written again: the pairs' keys are all below the next block's,
         * so the full blocks go out as they fill. */
        w->bw->open = false;
        for (size_t x = 0; x < w->merged.n && rc == 0; x++) rc = bw_add(txn, w->dbi, w->bw, &w->merged.p[x]);
        if (rc) break;
        /* The last block written here (the only one, or the rest after
         * full ones) takes in the next block when it is less than half full
         * and both fit in one: writes that come one record at a time, each
         * in its own transaction, would otherwise leave many small blocks. */
        if (next && w->bw->open) {
            size_t last = enc_size(&w->bw->e);
            if (last < TW_WORDIDX_BLOCK_MAX / 2 && last + nvn < TW_WORDIDX_BLOCK_MAX) {
                w->nblk.n = 0;
                int d = decode_into(&w->nblk, w->nwords, w->nval, nvn);
                if (d == ENOMEM) { rc = d; break; }
                if (d == 0) {             /* (a damaged one is left for its own next write) */
                    MDB_val dk = { nkn, nk };
                    if ((rc = mdb_del(txn, w->dbi, &dk, NULL))) break;
                    for (size_t x = 0; x < w->nblk.n && rc == 0; x++) rc = bw_add(txn, w->dbi, w->bw, &w->nblk.p[x]);
                    if (rc) break;
                }
            }
        }
        if ((rc = bw_flush(txn, w->dbi, w->bw))) break;
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
        MDB_val k = { block_key(bk, in[i].k, in[i].kn, in[i].ref, in[i].seq), bk }, v;
        int r = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (r && r != MDB_NOTFOUND) { rc = r; break; }
        bool exact = r == 0 && k.mv_size == (size_t)(in[i].kn + BKEY_TAIL) && memcmp(k.mv_data, bk, k.mv_size) == 0;
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
                k = (MDB_val){ in[i].kn + BKEY_TAIL, bk };
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
            if (pair_key_cmp(&in[i], nk, nkn) >= 0) break;
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

static int add_key(pending *pd, const uint8_t *w, size_t n, bool variant, bool name, size_t fw)
{
    size_t kn = n < TW_WORDIDX_WORD_MAX ? n : TW_WORDIDX_WORD_MAX;
    for (size_t i = 0; i < kn; i++)
        if (w[i] < 2) { kn = i; break; }
    if (kn == 0) return 0;
    wp p = { .off = (uint32_t)pd->keys.len, .kn = (uint32_t)(kn + variant), .n = pd->delta,
             .ref = pd->ref | (name ? NAME_BIT : 0) | (uint64_t)(fw > SIZE_MAX_ ? SIZE_MAX_ : fw) << SIZE_SHIFT,
             .seq = pd->seq };
    uint8_t m = VARIANT;
    int rc = 0;
    if ((variant && tw_buf_put(&pd->keys, &m, 1)) || tw_buf_put(&pd->keys, w, kn) || (rc = wpvec_push(&pd->v, &p)))
        return ENOMEM;
    return rc;
}

static int word_fn(void *ctx, const char *w, size_t n, bool name, size_t fw)
{
    pending *pd = ctx;
    int rc = add_key(pd, (const uint8_t *)w, n, false, name, fw);
    if (rc || !name) return rc;
    if (n + 1 > pd->varcap) {
        char *v = realloc(pd->var, n + 1);
        if (!v) return ENOMEM;
        pd->var = v;
        pd->varcap = n + 1;
    }
    size_t vn = tw_search_variant(w, n, pd->var);
    return vn ? add_key(pd, (const uint8_t *)pd->var, vn, true, true, fw) : 0;
}

/* Points the pairs from index from at their key bytes (pd->keys moves as
 * it grows); with pfx: and sets their prefixes, which only the bytes make,
 * so a flush, after every pair was collected, needs the pointers only. */
static void fix_keys(pending *pd, size_t from, bool pfx)
{
    for (size_t i = from; i < pd->v.n; i++) {
        pd->v.p[i].k = pd->keys.p + pd->v.p[i].off;
        if (pfx) pd->v.p[i].pfx = key_pfx(pd->v.p[i].k, pd->v.p[i].kn);
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

/* The number of an author, assigned in txn when new: numbers go from 1
 * up and stay (META_AUTHOR, META_AUTHOR_NUM, META_AUTHORS). */
static int author_num(MDB_txn *txn, MDB_dbi dbi, const uint8_t author[TW_KEY_LEN], uint32_t *num, bool assign)
{
    uint8_t ak[2 + TW_KEY_LEN], nk[6], nb[4];
    memcpy(ak, META_AUTHOR, 2);
    memcpy(ak + 2, author, TW_KEY_LEN);
    MDB_val k = { sizeof ak, ak }, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == 0) {
        if (v.mv_size != 4) return MDB_CORRUPTED;
        const uint8_t *b = v.mv_data;
        *num = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        return *num ? 0 : MDB_CORRUPTED;
    }
    if (rc != MDB_NOTFOUND || !assign) return rc;
    uint32_t n = 0;
    MDB_val ck = { 2, (void *)META_AUTHORS };
    if ((rc = mdb_get(txn, dbi, &ck, &v)) == 0) {
        if (v.mv_size != 4) return MDB_CORRUPTED;
        const uint8_t *b = v.mv_data;
        n = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    if (n == UINT32_MAX) return MDB_INCOMPATIBLE;
    n++;
    for (int i = 0; i < 4; i++) nb[i] = (uint8_t)(n >> (24 - 8 * i));
    memcpy(nk, META_AUTHOR_NUM, 2);
    memcpy(nk + 2, nb, 4);
    MDB_val nv = { 4, nb }, kk = { sizeof nk, nk }, av = { TW_KEY_LEN, (void *)author };
    k = (MDB_val){ sizeof ak, ak };
    ck = (MDB_val){ 2, (void *)META_AUTHORS };
    if ((rc = mdb_put(txn, dbi, &k, &nv, 0)) || (rc = mdb_put(txn, dbi, &kk, &av, 0)) ||
        (rc = mdb_put(txn, dbi, &ck, &nv, 0)))
        return rc;
    *num = n;
    return 0;
}

/* kind_code() (assigning), through pd's cache of the transaction. */
static int kind_code_cached(MDB_txn *txn, MDB_dbi dbi, pending *pd, const char *kind, size_t kl, unsigned *code)
{
    for (size_t i = 0; i < pd->nkinds; i++)
        if (pd->kinds[i].len == kl && memcmp(pd->kinds[i].kind, kind, kl) == 0) { *code = pd->kinds[i].code; return 0; }
    int rc = kind_code(txn, dbi, kind, kl, code, true);
    if (rc == 0 && *code && pd->nkinds < KCACHE_MAX && kl <= TW_KIND_MAX) {
        kcache *c = &pd->kinds[pd->nkinds++];
        memcpy(c->kind, kind, kl);
        c->len = kl;
        c->code = *code;
    }
    return rc;
}

static size_t auth_slot(const uint8_t author[TW_KEY_LEN], size_t cap)
{
    static uint8_t key[crypto_shorthash_KEYBYTES];
    static bool keyed;     /* (one thread writes at a time; a key made twice is as good) */
    if (!keyed) { randombytes_buf(key, sizeof key); keyed = true; }
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, author, TW_KEY_LEN, key);
    uint64_t x;
    memcpy(&x, h, sizeof x);
    return (size_t)x & (cap - 1);
}

/* author_num() (assigning), through pd's cache of the transaction: a full
 * table (out of memory to grow it) only looks up. */
static int author_num_cached(MDB_txn *txn, MDB_dbi dbi, pending *pd, const uint8_t author[TW_KEY_LEN], uint32_t *num)
{
    if (pd->authcap) {
        for (size_t i = auth_slot(author, pd->authcap);; i = (i + 1) & (pd->authcap - 1)) {
            acache *c = &pd->auth[i];
            if (c->num == 0) break;
            if (memcmp(c->key, author, TW_KEY_LEN) == 0) { *num = c->num; return 0; }
        }
    }
    int rc = author_num(txn, dbi, author, num, true);
    if (rc) return rc;
    if (2 * (pd->nauth + 1) > pd->authcap) {
        /* Grown to twice, the authors so far put again; a table half
         * full at most, so that a search ends soon at a free slot. */
        size_t cap = pd->authcap ? 2 * pd->authcap : 256;
        acache *t = calloc(cap, sizeof *t);
        if (!t) return 0;
        for (size_t j = 0; j < pd->authcap; j++) {
            if (pd->auth[j].num == 0) continue;
            size_t i = auth_slot(pd->auth[j].key, cap);
            while (t[i].num) i = (i + 1) & (cap - 1);
            t[i] = pd->auth[j];
        }
        free(pd->auth);
        pd->auth = t;
        pd->authcap = cap;
    }
    size_t i = auth_slot(author, pd->authcap);
    while (pd->auth[i].num) i = (i + 1) & (pd->authcap - 1);
    memcpy(pd->auth[i].key, author, TW_KEY_LEN);
    pd->auth[i].num = *num;
    pd->nauth++;
    return 0;
}

/* Adds an entry's distinct words to pd with change delta. */
static int collect(MDB_txn *txn, MDB_dbi dbi, pending *pd, const tw_entry *e, uint64_t seq, int64_t delta)
{
    if (e->body.type != TW_MAP) return 0;   /* a tombstone has no words */
    if (seq == 0 || seq > SEQ_MAX) return MDB_INCOMPATIBLE;
    unsigned code;
    int rc = kind_code_cached(txn, dbi, pd, e->kind, e->kind_len, &code);
    if (rc) return rc;
    if (!code) return MDB_INCOMPATIBLE;
    uint32_t au = 0;         /* (an entry taken out: its seq has no author any more) */
    if (delta > 0 && (rc = author_num_cached(txn, dbi, pd, e->author, &au))) return rc;
    pd->ref = (uint64_t)code << 48 | (e->ts > TS_MAX ? TS_MAX : e->ts);
    pd->seq = seq;
    pd->author = au;
    pd->delta = delta;
    seqauth *sa = tw_vec_room(pd->sa, &pd->capsa, pd->nsa, sizeof *sa, 256);
    if (!sa) return ENOMEM;
    pd->sa = sa;
    pd->sa[pd->nsa] = (seqauth){ seq, delta > 0 ? au : 0, get_be32(e->id), (uint32_t)pd->nsa };
    pd->nsa++;
    size_t from = pd->v.n;
    rc = tw_search_record_words(&e->body, e->slot, e->slot_len, word_fn, pd);
    if (rc) return rc == TW_ENOMEM ? ENOMEM : rc;
    /* Each word once per entry: with the name bit when some name field
     * has it, and the fewest words of the fields that have it. */
    fix_keys(pd, from, true);
    wp_sort(pd->v.p + from, pd->v.n - from, &pd->tmp, &pd->tmpcap);
    size_t o = from;
    for (size_t i = from; i < pd->v.n; i++) {
        wp *l = o > from ? &pd->v.p[o - 1] : NULL;
        if (l && l->kn == pd->v.p[i].kn && memcmp(l->k, pd->v.p[i].k, l->kn) == 0) {
            /* A word of a name field: the fewest words of the name fields
             * that have it; of other fields only: of those fields. */
            uint64_t x = l->ref, y = pd->v.p[i].ref, a = x >> SIZE_SHIFT & SIZE_MAX_, b = y >> SIZE_SHIFT & SIZE_MAX_;
            if ((x & NAME_BIT) != (y & NAME_BIT)) l->ref = x & NAME_BIT ? x : y;
            else l->ref = (x & (REF_MASK | NAME_BIT)) | (a < b ? a : b) << SIZE_SHIFT;
            continue;
        }
        pd->v.p[o++] = pd->v.p[i];
    }
    pd->v.n = o;
    return 0;
}

static int seqauth_cmp(const void *a, const void *b)
{
    const seqauth *x = a, *y = b;
    if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The key of the authors' block of seq. */
static void authors_key(uint8_t k[10], uint64_t seq)
{
    uint64_t b = seq / AUTH_BLOCK;
    memcpy(k, META_SEQ_AUTHOR, 2);
    for (int i = 7; i >= 0; i--) { k[2 + i] = (uint8_t)b; b >>= 8; }
}

/* Decodes an authors' block into a[AUTH_BLOCK] and the entries' first 4
 * bytes of id into pf[AUTH_BLOCK]: false if it is damaged. */
static bool authors_decode(const MDB_val *v, uint32_t *a, uint32_t *pf)
{
    const uint8_t *p = v->mv_data, *end = p + v->mv_size;
    for (size_t i = 0; i < AUTH_BLOCK; i++) {
        uint64_t x;
        a[i] = pf[i] = 0;
        if (p == end) continue;
        if (!get_varint(&p, end, &x) || x > UINT32_MAX) return false;
        a[i] = (uint32_t)x;
        if (x == 0) continue;
        if (end - p < 4) return false;
        pf[i] = get_be32(p);
        p += 4;
    }
    return p == end;
}

/* Writes the authors' numbers pd gathered, block by block (the last of
 * one entry's changes wins). */
static int apply_authors(tw_wordidx *w, MDB_txn *txn, pending *pd)
{
    if (pd->nsa == 0) return 0;
    qsort(pd->sa, pd->nsa, sizeof pd->sa[0], seqauth_cmp);
    static uint32_t a[AUTH_BLOCK], pf[AUTH_BLOCK];
    static uint8_t buf[AUTH_BLOCK * 9];
    for (size_t i = 0; i < pd->nsa;) {
        uint8_t k[10];
        authors_key(k, pd->sa[i].seq);
        MDB_val key = { sizeof k, k }, v;
        int rc = mdb_get(txn, w->dbi, &key, &v);
        if (rc == MDB_NOTFOUND || (rc == 0 && !authors_decode(&v, a, pf))) { memset(a, 0, sizeof a); memset(pf, 0, sizeof pf); }
        else if (rc) return rc;
        uint64_t blk = pd->sa[i].seq / AUTH_BLOCK;
        for (; i < pd->nsa && pd->sa[i].seq / AUTH_BLOCK == blk; i++) {
            a[pd->sa[i].seq % AUTH_BLOCK] = pd->sa[i].author;
            pf[pd->sa[i].seq % AUTH_BLOCK] = pd->sa[i].idpfx;
        }
        size_t last = AUTH_BLOCK, n = 0;
        while (last > 0 && a[last - 1] == 0) last--;
        for (size_t j = 0; j < last; j++) {
            n += put_varint(buf + n, a[j]);
            if (a[j]) { for (int b = 0; b < 4; b++) buf[n++] = (uint8_t)(pf[j] >> (24 - 8 * b)); }
        }
        key = (MDB_val){ sizeof k, k };
        v = (MDB_val){ n, buf };
        if (n) rc = mdb_put(txn, w->dbi, &key, &v, 0);
        else if ((rc = mdb_del(txn, w->dbi, &key, NULL)) == MDB_NOTFOUND) rc = 0;
        if (rc) return rc;
    }
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
    int rc = apply_authors(w, txn, pd);
    if (rc || pd->v.n == 0) return rc;
    fix_keys(pd, 0, false);
    wp_sort(pd->v.p, pd->v.n, &pd->tmp, &pd->tmpcap);
    size_t o = 0;
    for (size_t i = 0; i < pd->v.n; i++) {
        if (o && wp_cmp(&pd->v.p[o - 1], &pd->v.p[i]) == 0) pd->v.p[o - 1].n += pd->v.p[i].n;
        else pd->v.p[o++] = pd->v.p[i];
    }
    size_t z = 0;
    for (size_t i = 0; i < o; i++)
        if (pd->v.p[i].n) pd->v.p[z++] = pd->v.p[i];
    if (bounded && z) {
        rc = apply_limit(w, txn, &w->limit);
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
    pd->nsa = 0;
    pd->nkinds = 0;
    if (pd->nauth) memset(pd->auth, 0, pd->authcap * sizeof *pd->auth);
    /* The room of a commit's sort of all its pairs (megabytes) is not
     * kept between commits; an entry's few are. */
    if (pd->tmpcap > 1024) { free(pd->tmp); pd->tmp = NULL; pd->tmpcap = 0; }
    pd->nauth = 0;
    pd->err = 0;
}

static void pending_free(pending *pd)
{
    tw_buf_free(&pd->keys);
    free(pd->v.p);
    free(pd->sa);
    free(pd->var);
    free(pd->auth);
    free(pd->tmp);
    memset(pd, 0, sizeof *pd);
}

/* ------------------------------------------------------------ the store's calls */

int tw_wordidx_open(tw_wordidx **out, MDB_txn *txn)
{
    tw_wordidx *w = calloc(1, sizeof *w);
    if (!w) return ENOMEM;
    if (!(w->bw = calloc(1, sizeof *w->bw))) { free(w); return ENOMEM; }
    tw_buf_init(&w->pend.keys);
    int rc = mdb_dbi_open(txn, "words", MDB_CREATE, &w->dbi);
    if (rc) { free(w->bw); free(w); return rc; }
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
    free(w->nblk.p);
    free(w->bw);
    free(w);
}

/* Between transactions the pairs' vectors hold nothing, only room: a batch
 * of 8192 new entries leaves some 13 MiB of it (measured after a 300 000-
 * entry sync). */
void tw_wordidx_trim(tw_wordidx *w)
{
    if (!w || w->pend.v.n || w->pend.nsa) return;
    pending_free(&w->pend);
    free(w->blk.p);
    free(w->merged.p);
    memset(&w->blk, 0, sizeof w->blk);
    memset(&w->merged, 0, sizeof w->merged);
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

static int change(tw_wordidx *w, MDB_txn *txn, const tw_entry *e, uint64_t seq, int64_t delta)
{
    if (!w) return 0;
    if (!w->ready) {
        if (!w->building) return not_ready(w, txn);
        /* A build under way: it reads the records after prog itself. */
        uint8_t k[TW_ENTRYKEY_MAX];
        size_t kn = tw_store_entry_key(k, e->kind, e->kind_len, e->ts, e->id);
        if (key_cmp(k, kn, w->prog, w->progn) > 0) return 0;
    }
    int rc = collect(txn, w->dbi, &w->pend, e, seq, delta);
    if (rc == MDB_INCOMPATIBLE || rc == MDB_CORRUPTED) {
        if (rc == MDB_INCOMPATIBLE)
            tw_err("wordidx", "more than %u kinds of record (or a sequence number past 2^56): search reads every record from now on",
                   TW_WORDIDX_KINDS_MAX);
        else
            tw_err("wordidx", "the search word index is damaged; search reads every record until twind starts again and builds it afresh");
        w->ready = w->building = w->rebuild = false;
        pending_reset(&w->pend);
        return not_ready(w, txn);
    }
    return rc;
}

int tw_wordidx_add(tw_wordidx *w, MDB_txn *txn, const tw_entry *e, uint64_t seq) { return change(w, txn, e, seq, 1); }
int tw_wordidx_remove(tw_wordidx *w, MDB_txn *txn, const tw_entry *e, uint64_t seq) { return change(w, txn, e, seq, -1); }

int tw_wordidx_remove_env(tw_wordidx *w, MDB_txn *txn, const uint8_t *env, size_t len, const uint8_t id[TW_ID_LEN],
                          uint64_t seq)
{
    if (!w) return 0;
    tw_arena a;
    tw_entry e;
    tw_arena_init(&a, 0);
    int rc = tw_entry_parse_known(env, len, id, &a, &e) ? MDB_CORRUPTED : change(w, txn, &e, seq, -1);
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
    uint64_t *seqs;
    uint8_t last[TW_ENTRYKEY_MAX];
    size_t lastn, max;
} batch;

static int batch_fn(void *vctx, const uint8_t *key, size_t klen, const uint8_t id[TW_ID_LEN], uint64_t seq,
                    const uint8_t *env, size_t envlen)
{
    batch *bt = vctx;
    if (klen > sizeof bt->last) return TW_EIO;
    bt->seqs[bt->n] = seq;
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
        rc = collect(txn, w->dbi, pd, &e, c->bt->seqs[i], 1);
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
                 .ids = malloc(max * TW_ID_LEN), .seqs = malloc(max * sizeof(uint64_t)), .max = max };
    tw_buf_init(&bt.envs);
    tw_buf_init(&b.pd.keys);
    if (!bt.offs || !bt.lens || !bt.ids || !bt.seqs) rc = TW_ENOMEM;
    size_t done = 0, batches = 0;
    bool finished = false;
    while (rc == 0) {
        bt.n = 0;
        tw_buf_reset(&bt.envs);
        memcpy(bt.last, b.last, b.lastn);
        bt.lastn = b.lastn;
        rc = tw_store_scan_seq(s, b.lastn ? b.last : NULL, b.lastn, batch_fn, &bt);
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
    free(bt.seqs);
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

/*
 * A candidate: k is its entry's sequence number << 8 and what the index
 * says of it (INF_*); ref its kind's code and time (name bit and size
 * cleared).  For one query word's set, the
 * low byte is what that word's pairs say: the best level of the word in
 * any field and in a name field, as the scorer counts them (a level the
 * index cannot tell apart counted as the higher), whether the record surely
 * matches by it, and the fewest words of a field with it.  Once the sets
 * are intersected: INF_SURE (by every word), INF_SIZE (the largest of the
 * words'), and in bits 0-2 the largest of the words in no name field; the
 * levels are then in find_ctx.lv.
 */
typedef struct cand { uint64_t k, ref; } cand;
typedef struct candvec { cand *p; size_t n, cap; } candvec;

#define INF_ANY     0x03u
#define INF_NAME    0x0cu
#define INF_SURE    0x10u
#define INF_SIZE    0xe0u       /* the fewest words of a field with the word (SIZE_SHIFT) */
#define INF_SIZE_SHIFT 5

static int cand_push(candvec *v, const cand *c)
{
    cand *n = tw_vec_room(v->p, &v->cap, v->n, sizeof *n, 1024);
    if (!n) return TW_ENOMEM;
    v->p = n;
    v->p[v->n++] = *c;
    return 0;
}

static uint64_t info_merge(uint64_t a, uint64_t b)
{
    uint64_t any = (a & INF_ANY) > (b & INF_ANY) ? a & INF_ANY : b & INF_ANY;
    uint64_t name = (a & INF_NAME) > (b & INF_NAME) ? a & INF_NAME : b & INF_NAME;
    /* The fewest words of a name field with the word when one has it, else
     * of any field with it (the bound takes the one or the other). */
    uint64_t size = (a & INF_SIZE) < (b & INF_SIZE) ? a & INF_SIZE : b & INF_SIZE;
    if ((a & INF_NAME) && !(b & INF_NAME)) size = a & INF_SIZE;
    if ((b & INF_NAME) && !(a & INF_NAME)) size = b & INF_SIZE;
    return (a & ~(uint64_t)0xff) | any | name | size | ((a | b) & INF_SURE);
}

/* Sorts by sequence number, by radix (bytes that are the same in every one
 * skipped), and merges the pairs of one entry. */
static int cand_sort_unique(candvec *v)
{
    bool sorted = true;
    for (size_t i = 1; i < v->n && sorted; i++) sorted = v->p[i - 1].k >> 8 <= v->p[i].k >> 8;
    if (!sorted) {
        cand *tmp = malloc(v->n * sizeof *tmp);
        if (!tmp) return TW_ENOMEM;
        cand *a = v->p, *b = tmp;
        for (unsigned sh = 8; sh < 64; sh += 8) {
            size_t cnt[257] = { 0 };
            for (size_t i = 0; i < v->n; i++) cnt[((a[i].k >> sh) & 0xff) + 1]++;
            if (cnt[((a[0].k >> sh) & 0xff) + 1] == v->n) continue;
            for (int i = 0; i < 256; i++) cnt[i + 1] += cnt[i];
            for (size_t i = 0; i < v->n; i++) b[cnt[(a[i].k >> sh) & 0xff]++] = a[i];
            cand *t = a; a = b; b = t;
        }
        if (a != v->p) memcpy(v->p, a, v->n * sizeof *a);
        free(tmp);
    }
    size_t o = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (o && v->p[o - 1].k >> 8 == v->p[i].k >> 8) { v->p[o - 1].k = info_merge(v->p[o - 1].k, v->p[i].k); continue; }
        v->p[o++] = v->p[i];
    }
    v->n = o;
    return 0;
}

/* (key, place) pairs sorted by key, by radix. */
typedef struct kv { uint64_t k; uint32_t i; } kv;

static int kv_sort(kv *p, size_t n)
{
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++) sorted = p[i - 1].k <= p[i].k;
    if (sorted) return 0;
    kv *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return TW_ENOMEM;
    kv *a = p, *b = tmp;
    for (unsigned sh = 0; sh < 64; sh += 8) {
        size_t cnt[257] = { 0 };
        for (size_t i = 0; i < n; i++) cnt[((a[i].k >> sh) & 0xff) + 1]++;
        if (cnt[((a[0].k >> sh) & 0xff) + 1] == n) continue;
        for (int i = 0; i < 256; i++) cnt[i + 1] += cnt[i];
        for (size_t i = 0; i < n; i++) b[cnt[(a[i].k >> sh) & 0xff]++] = a[i];
        kv *t = a; a = b; b = t;
    }
    if (a != p) memcpy(p, a, n * sizeof *a);
    free(tmp);
    return 0;
}

typedef struct collect_ctx {
    candvec *out;
    size_t cap;
    bool over;
    uint8_t level;     /* of the run being read: 1 variant, 2 prefix, 3 whole word */
    bool sure;         /* the run's word makes the record match by the query word */
} collect_ctx;

static int push_ref(void *vctx, const post *p)
{
    collect_ctx *c = vctx;
    if (c->out->n >= c->cap) { c->over = true; return 1; }
    /* A pair counted twice (it should not be) is not sure. */
    uint64_t ref = p->ref;
    uint64_t info = c->level | ((ref & NAME_BIT) ? (uint64_t)c->level << 2 : 0) | (c->sure && p->count == 1 ? INF_SURE : 0) |
                    (ref >> SIZE_SHIFT & SIZE_MAX_) << INF_SIZE_SHIFT;
    cand x = { p->seq << 8 | info, ref & (((uint64_t)0xff << 48) | TS_MAX) };
    return cand_push(c->out, &x);
}

/* The refs of the words that begin with (exact: are) key p; whole: the key
 * is not the whole query word (cut), so every match may be whole. */
static int range_refs(MDB_cursor *cur, const uint8_t *p, size_t pn, bool exact, bool whole, collect_ctx *c)
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
                if (exact) {
                    c->level = 1;
                    /* (a key of TW_WORDIDX_WORD_MAX bytes may be a longer one cut) */
                    c->sure = !whole && pn - 1 < TW_WORDIDX_WORD_MAX &&
                              !tw_search_stop_variant((const char *)it.w + 1, it.wn - 1);
                } else {
                    c->level = whole || it.wn == pn ? 3 : 2;
                    c->sure = !whole && !tw_search_stop_word((const char *)it.w, it.wn);
                }
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

/* What an author's records are to a page (find_ctx.cls). */
enum { CLS_UNKNOWN = 0, CLS_SHOWN, CLS_HIDDEN, CLS_READ };

typedef struct find_ctx {
    tw_wordidx *w;
    const tw_search *q;
    bool near;
    bool topk;                   /* bounds wanted: levels kept, authors looked up */
    tw_wordidx_topk *tk;
    uint64_t entries;
    candvec cand;
    uint64_t *lv;                /* per candidate, 4 bits per query word: its INF_ANY | INF_NAME */
    bool unsure;                 /* some query word did not narrow: no candidate is sure */
    bool authors_bad;            /* an author number the index does not know: no page */
    uint8_t *cls;                /* per author number: CLS_* */
    uint32_t *author;            /* per candidate: its author's number */
    uint32_t *idpfx;             /* per candidate: its id's first 4 bytes (big-endian) */
    uint32_t nauthors;
    bool broad;                  /* the index would not narrow it: read every record */
    kindname kinds[TW_WORDIDX_KINDS_MAX];
    size_t nkinds;
} find_ctx;

/* Keeps the candidates of f that are in b, taking in b's word (word i). */
static void cand_intersect(find_ctx *f, const candvec *b, size_t i)
{
    candvec *a = &f->cand;
    size_t x = 0, y = 0, o = 0;
    while (x < a->n && y < b->n) {
        uint64_t ra = a->p[x].k >> 8, rb = b->p[y].k >> 8;
        if (ra < rb) x++;
        else if (ra > rb) y++;
        else {
            uint64_t ak = a->p[x].k, bi = b->p[y].k & 0xff;
            uint64_t as = ak & INF_SIZE, bs = bi & INF_SIZE, an = ak & 7, bn = bi & INF_NAME ? 0 : bs >> INF_SIZE_SHIFT;
            a->p[o] = a->p[x];
            a->p[o].k = (ak & ~(uint64_t)0xff) | (ak & bi & INF_SURE) | (as > bs ? as : bs) | (an > bn ? an : bn);
            f->lv[o] = (f->lv[x] & ~(0xfull << (4 * i))) | (bi & 0xf) << (4 * i);
            o++; x++; y++;
        }
    }
    a->n = o;
}


/* What each candidate's author is to a page: asked once an author. */
static int classify_authors(find_ctx *f, MDB_txn *txn)
{
    MDB_val k = { 2, (void *)META_AUTHORS }, v;
    int rc = mdb_get(txn, f->w->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) { f->authors_bad = f->cand.n > 0; return 0; }
    if (rc) return rc;
    if (v.mv_size != 4) return MDB_CORRUPTED;
    f->nauthors = get_be32(v.mv_data);
    if (!(f->cls = calloc((size_t)f->nauthors + 1, 1))) return TW_ENOMEM;
    /* Each candidate's author, from the rows of authors by sequence number
     * (the candidates are in that order). */
    uint32_t *blk = malloc(2 * AUTH_BLOCK * sizeof *blk), *bpf = blk + AUTH_BLOCK;
    uint64_t cur = UINT64_MAX;
    f->author = malloc((f->cand.n ? f->cand.n : 1) * sizeof *f->author);
    f->idpfx = malloc((f->cand.n ? f->cand.n : 1) * sizeof *f->idpfx);
    if (!blk || !f->author || !f->idpfx) { free(blk); return TW_ENOMEM; }
    for (size_t j = 0; j < f->cand.n; j++) {
        uint64_t seq = f->cand.p[j].k >> 8;
        if (seq / AUTH_BLOCK != cur) {
            uint8_t ak[10];
            authors_key(ak, seq);
            cur = seq / AUTH_BLOCK;
            k = (MDB_val){ sizeof ak, ak };
            if ((rc = mdb_get(txn, f->w->dbi, &k, &v)) == MDB_NOTFOUND || (rc == 0 && !authors_decode(&v, blk, bpf))) {
                f->authors_bad = true;
                break;
            }
            if (rc) break;
        }
        f->author[j] = blk[seq % AUTH_BLOCK];
        f->idpfx[j] = bpf[seq % AUTH_BLOCK];
    }
    free(blk);
    if (rc || f->authors_bad) return rc == MDB_NOTFOUND ? 0 : rc;
    for (size_t j = 0; j < f->cand.n; j++) {
        uint32_t a = f->author[j];
        if (a == 0 || a > f->nauthors) { f->authors_bad = true; return 0; }
        if (f->cls[a] != CLS_UNKNOWN) continue;
        uint8_t nk[6];
        memcpy(nk, META_AUTHOR_NUM, 2);
        for (int i = 0; i < 4; i++) nk[2 + i] = (uint8_t)(a >> (24 - 8 * i));
        k = (MDB_val){ sizeof nk, nk };
        if ((rc = mdb_get(txn, f->w->dbi, &k, &v)) == MDB_NOTFOUND || (rc == 0 && v.mv_size != TW_KEY_LEN)) {
            f->authors_bad = true;
            return 0;
        }
        if (rc) return rc;
        int shown = f->tk->author_shown ? f->tk->author_shown(f->tk->author_ctx, v.mv_data) : 1;
        f->cls[a] = shown > 0 ? CLS_SHOWN : shown == 0 ? CLS_HIDDEN : CLS_READ;
    }
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
    size_t nw = tw_search_word_count(f->q);
    f->cand.n = 0;
    if (f->near) {
        collect_ctx c = { &f->cand, cap, false, 0, false };
        rc = near_refs(cur, f->q, &c);
        if (rc == 0 && c.over) f->broad = true;
        if (rc == 0 && !f->broad) rc = cand_sort_unique(&f->cand);
    } else {
        bool any = false;
        for (size_t i = 0; i < nw && rc == 0; i++) {
            const char *x, *xv;
            size_t xn, xvn;
            tw_search_word_at(f->q, i, &x, &xn, &xv, &xvn);
            candvec set = { 0 };
            collect_ctx c = { &set, cap, false, 0, false };
            uint8_t key[KEY_MAX];
            size_t kn = xn < TW_WORDIDX_WORD_MAX ? xn : TW_WORDIDX_WORD_MAX;
            for (size_t j = 0; j < kn; j++)
                if ((uint8_t)x[j] < 2) { kn = j; break; }
            if (kn == 0) { f->unsure = true; continue; }       /* no narrowing by this word */
            rc = range_refs(cur, (const uint8_t *)x, kn, false, kn != xn, &c);
            if (rc == 0 && !c.over && xvn) {
                size_t vkn = xvn < TW_WORDIDX_WORD_MAX ? xvn : TW_WORDIDX_WORD_MAX;
                for (size_t j = 0; j < vkn; j++)
                    if ((uint8_t)xv[j] < 2) { vkn = j; break; }
                if (vkn) {
                    key[0] = VARIANT;
                    memcpy(key + 1, xv, vkn);
                    rc = range_refs(cur, key, vkn + 1, true, vkn != xvn, &c);
                } else {
                    c.over = true;
                }
            }
            if (rc == 0 && !c.over) rc = cand_sort_unique(&set);
            if (rc == 0 && !c.over && set.n <= share) {
                if (!any) {
                    free(f->cand.p);
                    f->cand = set;
                    set.p = NULL;
                    any = true;
                    free(f->lv);
                    f->lv = NULL;
                    if (f->cand.n && !(f->lv = malloc(f->cand.n * sizeof *f->lv))) rc = TW_ENOMEM;
                    for (size_t j = 0; f->lv && j < f->cand.n; j++) {
                        uint64_t cv = f->cand.p[j].k;
                        f->lv[j] = (~0ull & ~(0xfull << (4 * i))) | (cv & 0xf) << (4 * i);
                        f->cand.p[j].k = (cv & ~(uint64_t)0xf) | (cv & INF_NAME ? 0 : (cv & INF_SIZE) >> INF_SIZE_SHIFT);
                    }
                } else {
                    cand_intersect(f, &set, i);
                }
            } else if (rc == 0) {
                f->unsure = true;
            }
            free(set.p);
        }
        if (!any) f->broad = true;
    }
    if (rc == 0 && !f->broad && f->cand.n > share) f->broad = true;
    if (rc == 0 && !f->broad && f->topk && !f->unsure) rc = classify_authors(f, txn);
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

/* A candidate as read for a page: its bound, its place in scan order (of
 * its kind and time: entries of one kind and time follow one another by
 * id) and its place in find_ctx.cand. */
typedef struct ranked { uint32_t bound, pos, pfx, j; } ranked;

/* Sorts best bound first, then by place, then by id's beginning, by radix
 * (a qsort of every sure candidate took a sixth of a page's time). */
static int rank_sort(ranked *r, size_t n)
{
    kv *k = malloc(n * sizeof *k);
    ranked *o = malloc(n * sizeof *o);
    int rc = k && o ? 0 : TW_ENOMEM;
    /* By id's beginning, then (stable) by bound and place. */
    for (size_t i = 0; rc == 0 && i < n; i++) k[i] = (kv){ r[i].pfx, (uint32_t)i };
    if (rc == 0) rc = kv_sort(k, n);
    for (size_t i = 0; rc == 0 && i < n; i++) o[i] = r[k[i].i];
    for (size_t i = 0; rc == 0 && i < n; i++) k[i] = (kv){ (uint64_t)(UINT32_MAX - o[i].bound) << 32 | o[i].pos, (uint32_t)i };
    if (rc == 0) rc = kv_sort(k, n);
    for (size_t i = 0; rc == 0 && i < n; i++) r[i] = o[k[i].i];
    free(k);
    free(o);
    return rc;
}

/* Can a record of this bound, at this place, still enter the page?  At the
 * place of the page's last record, its id would tell: it is read. */
static bool can_enter(const tw_wordidx_topk *tk, uint32_t bound, uint32_t pos, uint32_t pfx)
{
    return !tk->full || bound > tk->kth_score ||
           (bound == tk->kth_score && (pos < tk->kth_pos || (pos == tk->kth_pos && pfx <= tk->kth_idpfx)));
}

typedef struct page_ctx {
    tw_wordidx_topk *tk;
    const ranked *order;         /* the reads, in order */
    size_t n;
    bool stop;                   /* stop when the next read cannot enter the page */
    bool stopped;
    size_t done;                 /* reads through this one */
    tw_store_entry_fn fn;
    void *ctx;
} page_ctx;

static int page_fn(void *vctx, size_t i, const uint8_t *key, size_t klen, const tw_entry *e)
{
    page_ctx *p = vctx;
    p->tk->pos = p->order[i].pos;
    int rc = p->fn(p->ctx, key, klen, e);
    if (rc) return rc;
    p->done = i + 1;
    if (p->stop && i + 1 < p->n && !can_enter(p->tk, p->order[i + 1].bound, p->order[i + 1].pos, p->order[i + 1].pfx)) {
        p->stopped = true;
        return 1;
    }
    return 0;
}

/* Reads the entries of order[0..n) by sequence number. */
static int read_ranked(tw_store *s, find_ctx *f, const ranked *order, size_t n, bool stop, tw_wordidx_topk *tk,
                       tw_store_entry_fn fn, void *ctx, size_t *done)
{
    *done = 0;
    if (!n) return 0;
    uint64_t *seqs = malloc(n * sizeof *seqs);
    if (!seqs) return TW_ENOMEM;
    for (size_t j = 0; j < n; j++) seqs[j] = f->cand.p[order[j].j].k >> 8;
    page_ctx pc = { tk, order, n, stop, false, 0, fn, ctx };
    int rc = tw_store_read_seqs(s, seqs, n, page_fn, &pc);
    if (rc == 1 && pc.stopped) rc = 0;
    *done = pc.stopped ? pc.done : n;
    free(seqs);
    return rc;
}

/*
 * Reads a page: every candidate not sure to match, or whose author's
 * records are shown or not one by one, so that the total counts those
 * that match and are shown; then the sure ones of authors whose records
 * are all shown, best bound first, while one can still enter the page; the
 * sure ones left count without being read, and those of authors whose
 * records are all hidden neither count nor are read.
 */
static int read_page(tw_store *s, find_ctx *f, const uint32_t *pos, tw_wordidx_topk *tk, tw_store_entry_fn fn,
                     void *ctx)
{
    size_t n = f->cand.n;
    ranked *order = malloc((n ? n : 1) * sizeof *order), *unsure = malloc((n ? n : 1) * sizeof *unsure);
    uint8_t any[TW_SEARCH_WORDS_MAX], name[TW_SEARCH_WORDS_MAX];
    size_t nw = tw_search_word_count(f->q), no = 0, nu = 0, hidden = 0;
    int rc = 0;
    if (!order || !unsure) rc = TW_ENOMEM;
    for (size_t j = 0; rc == 0 && j < n; j++) {
        uint64_t c = f->cand.p[j].k;
        uint8_t cls = f->cls[f->author[j]];
        if (!(c & INF_SURE) || cls == CLS_READ) {
            unsure[nu++] = (ranked){ 0, pos[j], 0, (uint32_t)j };
        } else if (cls == CLS_HIDDEN) {
            hidden++;
        } else {
            for (size_t i = 0; i < nw; i++) {
                any[i] = (uint8_t)(f->lv[j] >> (4 * i) & INF_ANY);
                name[i] = (uint8_t)(f->lv[j] >> (4 * i + 2) & 3);
            }
            order[no++] = (ranked){ tw_search_bound(f->q, any, name, (c & INF_SIZE) >> INF_SIZE_SHIFT, c & 7), pos[j],
                                    f->idpfx[j], (uint32_t)j };
        }
    }
    tk->active = true;
    size_t done = 0;
    if (rc == 0) rc = read_ranked(s, f, unsure, nu, false, tk, fn, ctx, &done);
    if (rc == 0 && no) rc = rank_sort(order, no);
    if (rc == 0 && no) {
        if (can_enter(tk, order[0].bound, order[0].pos, order[0].pfx)) rc = read_ranked(s, f, order, no, true, tk, fn, ctx, &done);
        else done = 0;
        tk->unread = no - done;
    }
    tw_debug("wordidx", "a page: %zu candidates read one by one, %zu sure to match and shown (%llu of them not read), %zu of hidden authors",
             nu, no, (unsigned long long)tk->unread, hidden);
    free(order);
    free(unsure);
    return rc;
}

/* Finds the candidates and reads them; *broad when the index cannot say. */
static int pass(tw_store *s, tw_search *q, bool near, tw_wordidx_topk *tk, tw_store_entry_fn fn, void *ctx,
                bool *broad)
{
    tw_store_info info;
    tw_store_get_info(s, &info);
    find_ctx *f = calloc(1, sizeof *f);
    if (!f) return TW_ENOMEM;
    f->w = tw_store_wordidx(s);
    f->q = q;
    f->near = near;
    f->topk = !near && tk;
    f->tk = tk;
    f->entries = info.entries;
    int rc = tw_store_txn(s, false, find_fn, f, 0, "search index read");
    tw_store_at *at = NULL;
    kv *g = NULL;
    uint32_t *pos = NULL;
    if (rc) {
        /* The records are all there: read them rather than fail the search. */
        tw_log_limited(TW_LOG_ERROR, "wordidx", "wordidx-read", "cannot read the search word index (%s); this search reads every record",
                       tw_strerror(rc));
        f->broad = true;
        rc = 0;
    }
    *broad = f->broad;
    size_t nc = f->cand.n;
    if (rc == 0 && !*broad && nc &&
        (!(at = malloc(nc * sizeof *at)) || !(g = malloc(nc * sizeof *g)) || !(pos = malloc(nc * sizeof *pos))))
        rc = TW_ENOMEM;
    if (rc == 0 && !*broad) {
        /* Scan order: kind by kind in the entries table's order (a kind's
         * name, then its 0x00), then by time (then by id, which the index
         * does not hold: the entries of one kind and time are one place). */
        qsort(f->kinds, f->nkinds, sizeof f->kinds[0], kind_qcmp);
        uint64_t rank[256];
        for (size_t i = 0; i < 256; i++) rank[i] = UINT64_MAX;
        for (size_t i = 0; i < f->nkinds; i++) rank[f->kinds[i].code & 0xff] = i;
        bool clamped = false;
        size_t m = 0;
        for (size_t j = 0; j < nc; j++) {
            uint64_t ref = f->cand.p[j].ref, r = rank[ref >> 48 & 0xff];
            if (r == UINT64_MAX) continue;        /* a kind the index does not name: not read, as before */
            clamped |= (ref & TS_MAX) == TS_MAX;
            g[m++] = (kv){ r << 48 | (ref & TS_MAX), (uint32_t)j };
        }
        rc = kv_sort(g, m);
        size_t n = 0;
        for (size_t i = 0; rc == 0 && i < m; i++) {
            if (i == 0 || g[i].k != g[i - 1].k) {
                uint64_t ts = g[i].k & TS_MAX;
                const kindname *kn = &f->kinds[g[i].k >> 48];
                at[n++] = (tw_store_at){ kn->s, kn->n, ts, ts == TS_MAX };   /* a clamped time: all later ones */
            }
            pos[g[i].i] = (uint32_t)(n - 1);
        }
        bool page = rc == 0 && f->topk && f->lv && !f->unsure && !f->authors_bad && f->cls && !clamped && m == nc;
        if (rc == 0 && f->topk && !page)
            tw_debug("wordidx", "no page read: %s", f->unsure ? "a query word does not narrow" :
                     clamped ? "a record time past the index's largest" : "the index's authors do not add up");
        if (rc == 0 && page) rc = read_page(s, f, pos, tk, fn, ctx);
        else if (rc == 0) rc = tw_store_scan_at(s, at, n, fn, ctx);
    }
    free(at);
    free(g);
    free(pos);
    free(f->lv);
    free(f->cls);
    free(f->author);
    free(f->idpfx);
    free(f->cand.p);
    free(f);
    return rc;
}

int tw_wordidx_search_topk(tw_store *s, tw_search *q, tw_store_entry_fn fn, void *ctx, const uint64_t *total,
                           tw_wordidx_topk *tk, bool *used)
{
    tw_wordidx *w = tw_store_wordidx(s);
    *used = false;
    if (tk) { tk->active = false; tk->unread = 0; }
    if (!tw_wordidx_ready(w)) return tw_store_scan_entries(s, NULL, 0, NULL, 0, fn, ctx);
    bool broad;
    int rc = pass(s, q, false, tk, fn, ctx, &broad);
    if (broad) return tw_store_scan_entries(s, NULL, 0, NULL, 0, fn, ctx);
    *used = true;
    if (rc || *total || (tk && tk->unread)) return rc;
    /* Nothing matched: the names that can be suggested. */
    if (tk) tk->active = false;
    tw_search_suggestions_clear(q);
    rc = pass(s, q, true, NULL, fn, ctx, &broad);
    if (broad) {
        tw_search_suggestions_clear(q);
        rc = tw_store_scan_entries(s, NULL, 0, NULL, 0, fn, ctx);
    }
    return rc;
}

int tw_wordidx_search(tw_store *s, tw_search *q, tw_store_entry_fn fn, void *ctx, const uint64_t *total, bool *used)
{
    return tw_wordidx_search_topk(s, q, fn, ctx, total, NULL, used);
}

/* ------------------------------------------------------------ walking */

typedef struct walk_ctx { tw_wordidx_pair_fn fn; void *ctx; MDB_dbi dbi; } walk_ctx;
typedef struct refcount { uint64_t ref, count; } refcount;
typedef struct walk_run { walk_ctx *w; uint8_t k[KEY_MAX]; size_t kn; kindname *kinds; size_t nkinds;
                          refcount *rc; size_t n, cap; } walk_run;

/* Gathers a run's refs: those of a word in a name field and elsewhere are
 * one pair to the caller. */
static int walk_ref(void *vctx, const post *p)
{
    uint64_t ref = p->ref, count = p->count;
    walk_run *r = vctx;
    refcount *n = tw_vec_room(r->rc, &r->cap, r->n, sizeof *n, 256);
    if (!n) return ENOMEM;
    r->rc = n;
    r->rc[r->n++] = (refcount){ ref & REF_MASK, count };
    return 0;
}

static int refcount_cmp(const void *a, const void *b)
{
    uint64_t x = ((const refcount *)a)->ref, y = ((const refcount *)b)->ref;
    return x < y ? -1 : x > y;
}

static int walk_emit(walk_run *r)
{
    qsort(r->rc, r->n, sizeof r->rc[0], refcount_cmp);
    for (size_t j = 0; j < r->n;) {
        uint64_t ref = r->rc[j].ref, count = 0;
        for (; j < r->n && r->rc[j].ref == ref; j++) count += r->rc[j].count;
        unsigned code = (unsigned)(ref >> 48);
        size_t i = 0;
        while (i < r->nkinds && r->kinds[i].code != code) i++;
        if (i == r->nkinds) return MDB_CORRUPTED;
        int rc = r->w->fn(r->w->ctx, r->k, r->kn, r->kinds[i].s, r->kinds[i].n, ref & TS_MAX, (uint32_t)count);
        if (rc) return rc;
    }
    r->n = 0;
    return 0;
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
    walk_run wr = { .w = wc, .kinds = kinds, .nkinds = nk };
    while (rc == 0) {
        runit it;
        int r;
        run_begin(&it, v.mv_data, v.mv_size);
        while ((r = run_next(&it)) == 1) {
            /* A word's runs follow one another, across blocks too. */
            if (wr.n && (it.wn != wr.kn || memcmp(it.w, wr.k, wr.kn) != 0) && (r = walk_emit(&wr))) break;
            memcpy(wr.k, it.w, it.wn);
            wr.kn = it.wn;
            if ((r = run_refs(&it, walk_ref, &wr))) break;
        }
        if (r) { rc = r < 0 ? MDB_CORRUPTED : r; break; }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND && wr.n) rc = walk_emit(&wr);
    free(wr.rc);
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
