/*
 * LMDB store (daemon/store.h).
 *
 * LMDB return codes are translated to TW_E* in one place, lmdb_err().  The
 * map starts small and doubles on MDB_MAP_FULL up to a ceiling; past it the
 * write is refused with TW_EFULL and reads go on.  Because every transaction
 * is opened and closed on the calling thread within one call, no transaction
 * is active when the map is resized.
 *
 * A full disk is the other way to run out of room.  LMDB writes a commit's
 * pages with pwrite() past the end of the data file: with no space at all
 * that fails with ENOSPC, but a write that fits in part comes back short,
 * and LMDB reports a short write as EIO.  So an EIO at commit, when the
 * filesystem has less free than the write needed, is a full disk too, and
 * every write path ends in write_end(), which turns both into TW_EFULL and
 * records the condition (since when, the last failure, what it needed) for
 * twin status, until a write as large commits.  A failed commit has written
 * only pages that no meta page points to, so the store stays as it was and
 * the next commit writes over them.
 *
 * One write transaction at a time, and the writer thread.  Ingest commits
 * its batches on a thread of its own (daemon/ingest.c) so that the event
 * loop goes on reading peers and answering queries meanwhile: a batch is
 * run by tw_store_put_batch_txn() on that thread and ended by
 * tw_store_put_batch_end() on the loop.  Between tw_store_writer_begin()
 * and that end, the writer thread owns what a write changes in memory
 * (next_seq, the compression buffers, rbuf and wdctx, the word index's
 * state), and the loop reads only what the end updates (count, gen, the
 * storage-full condition, the map size): so the loop reads them
 * consistently, as of the last batch ended.  Every other write on the loop
 * (write_begin()), the word index (tw_store_wordidx()) and a close first
 * wait for the batch in flight (writer_wait(): the writer's wait function
 * ends it, on the loop, before they go on), so that no second write
 * transaction is begun while one runs and nothing the writer uses changes
 * under it.  Whatever needs no transaction active -- growing the map on
 * MDB_MAP_FULL, following a map another process grew, opening a failed
 * environment again -- is done by the end, on the loop, which then has the
 * batch run again; the writer thread never does them.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <lmdb.h>
#include <sodium.h>
#include <zstd.h>
#include <zdict.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "twin/vec.h"
#include "log.h"
#include "store.h"
#include "wordidx.h"

struct tw_store {
    MDB_env *env;
    char path[4200];              /* <data-dir>/store/data.mdb */
    MDB_dbi envs, ids, order, slots, meta;   /* the tables of format 2 (store.h) */
    uint64_t gen;                 /* committed writes, for tw_store_generation */
    uint64_t next_seq;            /* sequence number of the next envelope stored */
    /* Envelope compression with the store's dictionary (NULL until it has
     * one); cbuf holds a compressed envelope, rbuf one read for a removal. */
    ZSTD_CDict *cdict;
    ZSTD_DDict *ddict;
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    ZSTD_DCtx *wdctx;             /* the write path's own: it may run on the writer thread */
    uint8_t *cbuf, *rbuf;
    size_t cbuf_len;
    uint64_t dict_tried;          /* entries when training last failed (0: not yet tried) */
    uint64_t map_size, map_ceiling;
    uint64_t count;
    uint64_t scanned;             /* entries read by scans since the last trim */
    bool release_due;             /* a batch of TW_STORE_REOPEN_MIN entries or more since the last release */
    uint64_t last_batch_ms;       /* when the last batch ended (CLOCK_MONOTONIC) */
    void *map_at;                 /* the data file's mapping, once found */
    size_t map_len;
    char dir[4200];               /* <data-dir>/store, for statvfs */
    uint64_t psize;               /* LMDB page size */
    /* The storage-full condition: set by a write refused for room, cleared
     * by room_again(). */
    uint64_t full_since, full_last, full_fails, full_need;
    bool full_ceiling;            /* the last refusal was the map ceiling, not the disk */
    unsigned scans;               /* scans running a callback inside their transaction */
    tw_wordidx *words;            /* the search word index, written with the entries */
    /* Set from tw_store_writer_begin() until tw_store_put_batch_end(): a
     * batch is (or may be) running on the writer thread; wait ends it. */
    void (*wait)(void *ctx);
    void *wait_ctx;
    tw_wordidx_info winfo;        /* the word index's state as the batch began */
    /* The order items of the batch being written, put sorted at its end
     * (put_batch_order()); NULL outside a batch's transaction (tw_store_put_batch_txn()). */
    struct order_put *opend;
    size_t nopend;
    uint64_t opend_seq0;          /* the sequence number of opend[0] */
    /* The counts by kind kept for tw_store_count_kinds_kept() (kinds_*):
     * valid from a full count with the filter kf until a removal or a move
     * to another network; kc_skew is what the entry count exceeded them by
     * then (0 but in a damaged store).  kc in the order kinds were met,
     * found by kix (open addressing, kix_n a power of 2, index + 1, 0
     * empty; SipHash with the key kkey) and listed by korder, in kind
     * order, while korder_ok. */
    struct kind_count *kc;
    size_t nkc, ckc, klast;
    uint32_t *kix;
    size_t kix_n;
    struct kind_count **korder;
    bool korder_ok, kc_valid;
    uint8_t kkey[crypto_shorthash_KEYBYTES];
    tw_store_author_filter kf;
    void *kfctx;
    uint64_t kfgen, kc_skew;
};

/* An order item of a batch, to be put at its end: the entry's kind (in the
 * batch's entries), and the item, or dropped by a later version of the
 * same batch. */
struct order_put {
    const char *kind;
    size_t kind_len;
    bool dropped;
    uint8_t it[8 + TW_ID_LEN + 8];
};

/* Items of the order table: ts(8) id(32) seq(8); the fixed part of a slot
 * item: 0x00 after the slot, ts(8) id(32) flags(1). */
#define ORDER_ITEM_LEN (8 + TW_ID_LEN + 8)
#define SLOT_ITEM_FIXED (1 + 8 + TW_ID_LEN + 1)
/* Items of the id table: the id's bytes after the first (its key), then
 * seq(8). */
#define ID_ITEM_LEN (TW_ID_LEN - 1 + 8)
/* zstd level of envelope compression: 1 costs about 1.3 us per envelope on
 * the loop thread, and higher levels gain 1 % at a third more. */
#define STORE_ZSTD_LEVEL 1

static int txn_begin(tw_store *s, unsigned flags, MDB_txn **txn);
static void kinds_note_batch(tw_store *s, const tw_put *puts, size_t n);

static uint64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}


static int lmdb_err(int rc)
{
    switch (rc) {
    case 0: return 0;
    case MDB_NOTFOUND: return TW_ENOTFOUND;
    case MDB_MAP_FULL: case ENOSPC: case EDQUOT: return TW_EFULL;
    case ENOMEM: return TW_ENOMEM;
    case MDB_KEYEXIST: return TW_EEXIST;
    default: return TW_EIO;
    }
}

static void put_be64(uint8_t *p, uint64_t x)
{
    for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)x; x >>= 8; }
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x = (x << 8) | p[i];
    return x;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Bytes free on the store's filesystem for twind: the blocks reserved for
 * root count only when twind runs as root.  UINT64_MAX if unknown. */
static uint64_t disk_free(const tw_store *s)
{
    struct statvfs v;
    if (statvfs(s->dir, &v) != 0) return UINT64_MAX;
    return (uint64_t)(geteuid() == 0 ? v.f_bfree : v.f_bavail) * v.f_frsize;
}

/* "12 KiB", "3.4 MiB", "1.2 GiB": sizes in messages. */
static void size_text(char *out, size_t n, uint64_t b)
{
    if (b < (1u << 20)) snprintf(out, n, "%llu KiB", (unsigned long long)((b + 1023) >> 10));
    else if (b < (1ull << 30)) snprintf(out, n, "%.1f MiB", (double)b / (1 << 20));
    else snprintf(out, n, "%.1f GiB", (double)b / (1 << 30));
}

uint64_t tw_store_put_need(const tw_store *s, const tw_put *puts, size_t n)
{
    /* The rows of an entry: its envelope (counted uncompressed) under an
     * 8-byte sequence number; the id and its sequence number; the order
     * item (48 bytes); the slot item; and about 12 bytes of node header
     * and pointer each.  LMDB copies every page it changes and split pages
     * are half full, so twice the rows, plus the paths of the four trees. */
    uint64_t rows = 0;
    for (size_t i = 0; i < n; i++) {
        const tw_entry *e = puts[i].e;
        rows += e->env_len + 9 + (TW_ID_LEN + 8) + ORDER_ITEM_LEN + (e->slot_len + SLOT_ITEM_FIXED) + 4 * 12;
    }
    return rows * 2 + 4 * 4 * s->psize;
}

/* Key of an entry for scans and their cursors: kind 0x00 ts(8, big-endian)
 * id(32), as the entries table of format 1 had it.  Returns its length. */
size_t tw_store_entry_key(uint8_t *k, const char *kind, size_t kind_len, uint64_t ts, const uint8_t id[TW_ID_LEN])
{
    memcpy(k, kind, kind_len);
    k[kind_len] = 0;
    put_be64(k + kind_len + 1, ts);
    memcpy(k + kind_len + 9, id, TW_ID_LEN);
    return kind_len + 9 + TW_ID_LEN;
}

/* An item of the order table: ts(8, big-endian) id(32) seq(8, big-endian). */
static void order_item(uint8_t *it, uint64_t ts, const uint8_t id[TW_ID_LEN], uint64_t seq)
{
    put_be64(it, ts);
    memcpy(it + 8, id, TW_ID_LEN);
    put_be64(it + 8 + TW_ID_LEN, seq);
}

/* Key of an author's slots of a kind in the slot table: kind 0x00 author(32). */
static size_t slot_key(uint8_t *k, const char *kind, size_t kind_len, const uint8_t author[TW_KEY_LEN])
{
    memcpy(k, kind, kind_len);
    k[kind_len] = 0;
    memcpy(k + kind_len + 1, author, TW_KEY_LEN);
    return kind_len + 1 + TW_KEY_LEN;
}

/* An item of the slot table: slot 0x00 ts(8, big-endian) id(32) flags(1).
 * A slot's bytes are 0x21..0x7e, so items sort by slot as their keys did
 * in format 1. */
static size_t slot_item(uint8_t *it, const char *slot, size_t slot_len, uint64_t ts,
                        const uint8_t id[TW_ID_LEN], uint8_t flags)
{
    memcpy(it, slot, slot_len);
    it[slot_len] = 0;
    put_be64(it + slot_len + 1, ts);
    memcpy(it + slot_len + 9, id, TW_ID_LEN);
    it[slot_len + 9 + TW_ID_LEN] = flags;
    return slot_len + SLOT_ITEM_FIXED;
}

/* Length of the slot of an item, or SIZE_MAX if the item is malformed. */
static size_t slot_item_slot(const MDB_val *v)
{
    if (v->mv_size < SLOT_ITEM_FIXED + 1) return SIZE_MAX;
    size_t sl = v->mv_size - SLOT_ITEM_FIXED;
    if (sl > TW_SLOT_MAX || ((const uint8_t *)v->mv_data)[sl] != 0) return SIZE_MAX;
    return sl;
}

void tw_store_slotkey(uint8_t *key, size_t *len, const char *kind, size_t kind_len,
                      const uint8_t author[TW_KEY_LEN], const char *slot, size_t slot_len)
{
    memcpy(key, kind, kind_len);
    key[kind_len] = 0;
    memcpy(key + kind_len + 1, author, TW_KEY_LEN);
    memcpy(key + kind_len + 1 + TW_KEY_LEN, slot, slot_len);
    *len = kind_len + 1 + TW_KEY_LEN + slot_len;
}

/*
 * Stored envelopes: a format byte, then the envelope (ENV_RAW) or a zstd
 * frame of it made with the store's dictionary, without the frame's
 * checksum, dictionary id or size fields (the envelope's id checks it when
 * it matters, and the dictionary is the store's only one), and in format 3
 * without its magic number either (ENV_ZSTD_BARE), which is put back
 * before it is decoded.  Format 2 compressed with ZSTD_compress_usingCDict,
 * which leaves out none of those fields whatever the context's parameters
 * say: its rows (ENV_ZSTD) have the dictionary's id, the size and the
 * magic number, 9 bytes a row more, and read as they are.
 */
enum { ENV_RAW = 0, ENV_ZSTD = 1, ENV_ZSTD_BARE = 2 };
#define ZSTD_MAGIC_LEN 4
static const uint8_t zstd_magic[ZSTD_MAGIC_LEN] = { 0x28, 0xb5, 0x2f, 0xfd };   /* ZSTD_MAGICNUMBER, little-endian */

/* The stored form of an envelope, in s->cbuf or pointing at env. */
static MDB_val env_pack(tw_store *s, const uint8_t *env, size_t len)
{
    if (s->cdict && s->cbuf) {
        /* The frame's magic number takes cbuf[0..3]; its last byte gives
         * way to the format byte, and the row starts there. */
        size_t n = ZSTD_compress2(s->cctx, s->cbuf, s->cbuf_len, env, len);
        if (!ZSTD_isError(n) && n > ZSTD_MAGIC_LEN && n - ZSTD_MAGIC_LEN < len &&
            memcmp(s->cbuf, zstd_magic, ZSTD_MAGIC_LEN) == 0) {
            s->cbuf[ZSTD_MAGIC_LEN - 1] = ENV_ZSTD_BARE;
            return (MDB_val){ n - ZSTD_MAGIC_LEN + 1, s->cbuf + ZSTD_MAGIC_LEN - 1 };
        }
    }
    return (MDB_val){ 0, NULL };    /* stored raw: the caller writes the format byte and the envelope */
}

/* Decodes a compressed row (its format byte first) into buf
 * (TW_ENVELOPE_MAX bytes).  Returns the envelope's length, 0 if the row is
 * not a frame of the dictionary's. */
static size_t row_decode(ZSTD_DCtx *dctx, const ZSTD_DDict *ddict, uint8_t *buf, const uint8_t *row, size_t len)
{
    size_t n;
    if (row[0] == ENV_ZSTD) {
        n = ZSTD_decompress_usingDDict(dctx, buf, TW_ENVELOPE_MAX, row + 1, len - 1, ddict);
    } else {
        /* A frame is smaller than its envelope, or it was not stored. */
        uint8_t frame[ZSTD_MAGIC_LEN + TW_ENVELOPE_MAX];
        if (row[0] != ENV_ZSTD_BARE || len - 1 >= TW_ENVELOPE_MAX) return 0;
        memcpy(frame, zstd_magic, ZSTD_MAGIC_LEN);
        memcpy(frame + ZSTD_MAGIC_LEN, row + 1, len - 1);
        n = ZSTD_decompress_usingDDict(dctx, buf, TW_ENVELOPE_MAX, frame, ZSTD_MAGIC_LEN + len - 1, ddict);
    }
    return ZSTD_isError(n) ? 0 : n;
}

/* The envelope of a stored row: points into the map (raw), or decompressed
 * into buf (TW_ENVELOPE_MAX bytes). */
static int env_unpack_with(tw_store *s, ZSTD_DCtx *dctx, const MDB_val *v, uint8_t *buf, const uint8_t **env,
                           size_t *len)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size < 2) return MDB_CORRUPTED;
    if (p[0] == ENV_RAW) {
        *env = p + 1;
        *len = v->mv_size - 1;
        return 0;
    }
    if (!s->ddict || !buf) return MDB_CORRUPTED;
    size_t n = row_decode(dctx, s->ddict, buf, p, v->mv_size);
    if (n == 0) return MDB_CORRUPTED;
    *env = buf;
    *len = n;
    return 0;
}

static int env_unpack(tw_store *s, const MDB_val *v, uint8_t *buf, const uint8_t **env, size_t *len)
{
    return env_unpack_with(s, s->dctx, v, buf, env, len);
}

/* Writes an envelope under seq: compressed when that is smaller. */
static int env_put(tw_store *s, MDB_txn *txn, uint64_t seq, const uint8_t *env, size_t len, unsigned flags)
{
    MDB_val k = { sizeof seq, &seq };
    MDB_val v = env_pack(s, env, len);
    if (v.mv_data) return mdb_put(txn, s->envs, &k, &v, flags);
    /* Raw: reserve the row and write the format byte and the envelope in
     * place, without a copy. */
    v.mv_size = len + 1;
    int rc = mdb_put(txn, s->envs, &k, &v, flags | MDB_RESERVE);
    if (rc) return rc;
    uint8_t *p = v.mv_data;
    p[0] = ENV_RAW;
    memcpy(p + 1, env, len);
    return 0;
}

static int grow(tw_store *s)
{
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    if (info.me_mapsize > s->map_size) s->map_size = info.me_mapsize;
    if (s->map_size >= s->map_ceiling) return TW_EFULL;   /* write_end() says so */
    uint64_t n = s->map_size * 2;
    if (n > s->map_ceiling) n = s->map_ceiling;
    int rc = mdb_env_set_mapsize(s->env, (size_t)n);
    if (rc) { tw_err("store", "cannot grow the map to %llu bytes: %s", (unsigned long long)n, mdb_strerror(rc)); return lmdb_err(rc); }
    tw_info("store", "map grown to %llu MiB", (unsigned long long)(n >> 20));
    s->map_size = n;
    return 0;
}

/* Opens the tables of format 2 (flags MDB_CREATE: creates them) and reads
 * the entry count and the next sequence number. */
/*
 * Items of the id table compare by the id alone (its bytes after the
 * first), not by its sequence number after them: an id has one row, so the
 * order is the one memcmp of whole items gives, and a put with
 * MDB_NODUPDATA finds an id already stored in the same descent that
 * inserts a new one (put_one), where a lookup first took a tenth of the
 * loop thread's time at ingest.  Ids are hashes, so their first 8 bytes,
 * compared as one big-endian number (the same order as memcmp), almost
 * always decide: this comparison runs some 20 times per lookup, and the
 * call to memcmp was a seventh of a sender's time in a sync.
 */
static int id_item_cmp(const MDB_val *a, const MDB_val *b)
{
    size_t an = a->mv_size < TW_ID_LEN - 1 ? a->mv_size : TW_ID_LEN - 1;
    size_t bn = b->mv_size < TW_ID_LEN - 1 ? b->mv_size : TW_ID_LEN - 1;
    if (an >= 8 && bn >= 8) {
        uint64_t x, y;
        memcpy(&x, a->mv_data, sizeof x);
        memcpy(&y, b->mv_data, sizeof y);
        if (x != y) return be64toh(x) < be64toh(y) ? -1 : 1;
    }
    int c = memcmp(a->mv_data, b->mv_data, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static int open_tables(tw_store *s, MDB_txn *txn, unsigned create)
{
    int rc;
    if ((rc = mdb_dbi_open(txn, "env", create | MDB_INTEGERKEY, &s->envs)) ||
        (rc = mdb_dbi_open(txn, "id", create | MDB_DUPSORT | MDB_DUPFIXED, &s->ids)) ||
        (rc = mdb_set_dupsort(txn, s->ids, id_item_cmp)) ||
        (rc = mdb_dbi_open(txn, "order", create | MDB_DUPSORT | MDB_DUPFIXED, &s->order)) ||
        (rc = mdb_dbi_open(txn, "slot", create | MDB_DUPSORT, &s->slots)))
        return rc;
    MDB_stat st;
    if ((rc = mdb_stat(txn, s->ids, &st))) return rc;
    s->count = st.ms_entries;
    s->psize = st.ms_psize;
    MDB_cursor *c;
    MDB_val k, v;
    if ((rc = mdb_cursor_open(txn, s->envs, &c))) return rc;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    s->next_seq = 1;
    if (rc == 0 && k.mv_size == sizeof(uint64_t)) {
        uint64_t x;
        memcpy(&x, k.mv_data, sizeof x);
        s->next_seq = x + 1;
    } else if (rc == 0) {
        rc = MDB_CORRUPTED;
    } else if (rc == MDB_NOTFOUND) {
        rc = 0;
    }
    mdb_cursor_close(c);
    return rc;
}

size_t tw_store_full_text(tw_store *s, uint64_t need, char *buf, size_t len)
{
    char fr[32], nd[32];
    uint64_t f = disk_free(s);
    if (f == UINT64_MAX) snprintf(fr, sizeof fr, "unknown");
    else size_text(fr, sizeof fr, f);
    size_text(nd, sizeof nd, need ? need : s->full_need);
    int w;
    if (s->full_ceiling)
        w = snprintf(buf, len, "storage full: the store has reached its map ceiling of %llu MiB (raise map_ceiling in twind.conf); %s free on the disk",
                     (unsigned long long)(s->map_ceiling >> 20), fr);
    else
        w = snprintf(buf, len, "storage full: %s free on the disk of %s, %s about %s", fr, s->dir,
                     need ? "the write needs" : "the last refused write needed", nd);
    return w < 0 ? 0 : (size_t)w < len ? (size_t)w : len - 1;
}

/* A write refused for room: starts the condition (logged once) or extends it. */
static void note_full(tw_store *s, bool ceiling, uint64_t need)
{
    uint64_t now = wall_ms();
    bool first = s->full_since == 0;
    if (first) s->full_since = now;
    s->full_last = now;
    s->full_fails++;
    s->full_need = need;
    s->full_ceiling = ceiling;
    if (first) {
        char msg[TW_STORE_FULL_TEXT_MAX];
        tw_store_full_text(s, need, msg, sizeof msg);
        tw_err("store", "%s; writes are refused until there is room, reads go on", msg);
    }
}

/* A write of need bytes committed.  The condition is over once a write as
 * large as the last refused one commits, or the disk has room for that
 * one: a smaller write that fits in what is left (ingest tries smaller
 * batches after a refusal) does not end it. */
static void room_again(tw_store *s, uint64_t need)
{
    if (!s->full_since) return;
    if (need < s->full_need && (s->full_ceiling || disk_free(s) <= s->full_need)) return;
    tw_info("store", "storage has room again: a write committed after %llu refused for room over %llu s",
            (unsigned long long)s->full_fails, (unsigned long long)((wall_ms() - s->full_since) / 1000));
    s->full_since = s->full_last = s->full_fails = s->full_need = 0;
    s->full_ceiling = false;
}

/*
 * Ends a write transaction: commits it if rc is 0, else aborts it (a failed
 * commit has already freed it).  Returns 0 once committed, 1 when the caller
 * should run the transaction again (the map was grown), or a TW_E* code:
 * TW_EFULL for the map ceiling, ENOSPC, EDQUOT, and an EIO while the disk
 * has less free than the write needed (a short write: see the top of this
 * file).  need is the estimate of the bytes the write takes; what names it
 * in the log.
 */
static int write_done(tw_store *s, int rc, uint64_t need, uint64_t f, const char *what);

static int write_end(tw_store *s, MDB_txn *txn, int rc, uint64_t need, const char *what)
{
    rc = tw_wordidx_end(s->words, txn, rc);
    if (rc == 0) rc = mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
    return write_done(s, rc, need, rc && rc != MDB_MAP_FULL ? disk_free(s) : 0, what);
}

/* The part of write_end() after the transaction ended with rc, on the
 * loop: f is what was free on the disk when it failed. */
static int write_done(tw_store *s, int rc, uint64_t need, uint64_t f, const char *what)
{
    if (rc == 0) {
        s->gen++;
        room_again(s, need);
        return 0;
    }
    if (rc == MDB_MAP_FULL) {
        int g = grow(s);
        if (g == 0) return 1;
        if (g == TW_EFULL) note_full(s, true, need);
        return g;
    }
    if (rc == ENOSPC || rc == EDQUOT || (rc == EIO && f < need)) {
        note_full(s, false, need);
        tw_debug("store", "%s refused for room: %s (%llu bytes free, about %llu needed)", what, mdb_strerror(rc),
                 (unsigned long long)f, (unsigned long long)need);
        return TW_EFULL;
    }
    tw_err("store", "%s failed, nothing of it stored: %s", what, mdb_strerror(rc));
    return lmdb_err(rc);
}

/* Ends the batch in flight on the writer thread, if any (top of this
 * file): its wait function runs on the loop until the batch is ended. */
static void writer_wait(tw_store *s)
{
    while (s->wait) s->wait(s->wait_ctx);
}

void tw_store_settle(tw_store *s) { writer_wait(s); }

/* Begins a write transaction on the loop, once the writer thread's batch
 * is ended, following a map another process grew. */
static int write_begin(tw_store *s, MDB_txn **txn)
{
    writer_wait(s);
    int rc = txn_begin(s, 0, txn);
    if (rc == MDB_MAP_RESIZED) {
        mdb_env_set_mapsize(s->env, 0);
        rc = txn_begin(s, 0, txn);
    }
    if (rc) tw_err("store", "cannot begin a write: %s", mdb_strerror(rc));
    return rc;
}

static int meta_txn_put(MDB_txn *txn, tw_store *s, const char *name, const void *val, size_t len)
{
    MDB_val k = { strlen(name), (void *)name }, v = { len, (void *)val };
    return mdb_put(txn, s->meta, &k, &v, 0);
}

/* Creates and opens the environment of s->dir at s->map_size (or the size
 * the file already has); on failure s->env is NULL. */
static int env_open(tw_store *s)
{
    int rc = mdb_env_create(&s->env);
    if (rc) { s->env = NULL; return rc; }
    mdb_env_set_maxdbs(s->env, 16);
    /* Full durability by default: no MDB_NOSYNC, MDB_NOMETASYNC or
     * MDB_WRITEMAP.  MDB_NOTLS because read transactions are tied to the
     * store, not to threads. */
    if ((rc = mdb_env_set_mapsize(s->env, (size_t)s->map_size)) ||
        (rc = mdb_env_open(s->env, s->dir, MDB_NOTLS, 0600))) {
        mdb_env_close(s->env);
        s->env = NULL;
        return rc;
    }
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    s->map_size = info.me_mapsize;
    return 0;
}

/*
 * A commit whose meta page could not be written (a full disk on a
 * copy-on-write filesystem, an I/O error) leaves the environment failed:
 * LMDB answers every later transaction with MDB_PANIC.  The data file is
 * as it was before that commit, so closing and opening the environment
 * again brings the store back with nothing lost that was acknowledged.
 * Done only when no transaction is open (no scan is running a callback).
 */
/* Opens the environment and its tables (again); s->env is NULL on failure. */
static int env_load(tw_store *s)
{
    if (s->env) mdb_env_close(s->env);
    s->env = NULL;
    s->map_at = NULL;
    s->map_len = 0;
    int rc = env_open(s);
    MDB_txn *txn = NULL;
    if (rc == 0 && (rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) == 0) {
        if ((rc = mdb_dbi_open(txn, "meta", 0, &s->meta)) == 0 && (rc = open_tables(s, txn, 0)) == 0 && s->words)
            rc = tw_wordidx_reopen(s->words, txn);
        /* Committed, not aborted: an aborted transaction closes the
         * handles it opened. */
        if (rc == 0) rc = mdb_txn_commit(txn);
        else mdb_txn_abort(txn);
    }
    if (rc && s->env) {
        mdb_env_close(s->env);
        s->env = NULL;
    }
    return rc;
}

static int env_reopen(tw_store *s)
{
    if (s->scans || s->wait) return MDB_PANIC;
    int rc = env_load(s);
    if (rc) {
        tw_err("store", "the store failed and cannot be opened again: %s", mdb_strerror(rc));
        return rc;
    }
    s->gen++;                     /* what was computed from the store is computed again */
    tw_warn("store", "the store failed after a write that could not be completed and was opened again; nothing committed before it is lost");
    return 0;
}

/* Begins a transaction; a failed environment is opened again first. */
static int txn_begin(tw_store *s, unsigned flags, MDB_txn **txn)
{
    if (!s->env) {
        int rc = env_reopen(s);
        if (rc) return rc;
    }
    int rc = mdb_txn_begin(s->env, NULL, flags, txn);
    if (rc == MDB_PANIC && (rc = env_reopen(s)) == 0) rc = mdb_txn_begin(s->env, NULL, flags, txn);
    return rc;
}

/* The sequence number of an id: TW_ENOTFOUND's MDB_NOTFOUND if absent. */
static int id_seq(tw_store *s, MDB_txn *txn, const uint8_t id[TW_ID_LEN], uint64_t *seq)
{
    uint8_t probe[ID_ITEM_LEN];
    memcpy(probe, id + 1, TW_ID_LEN - 1);
    memset(probe + TW_ID_LEN - 1, 0, 8);
    MDB_val k = { 1, (void *)id }, v = { sizeof probe, probe };
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->ids, &cur);
    if (rc) return rc;
    rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH_RANGE);
    if (rc == 0 && (v.mv_size != ID_ITEM_LEN || memcmp(v.mv_data, id + 1, TW_ID_LEN - 1) != 0)) rc = MDB_NOTFOUND;
    if (rc == 0) memcpy(seq, (const uint8_t *)v.mv_data + TW_ID_LEN - 1, sizeof *seq);
    mdb_cursor_close(cur);
    return rc;
}

/* Writes (del: deletes) the id row of id and seq. */
static int id_row(tw_store *s, MDB_txn *txn, const uint8_t id[TW_ID_LEN], uint64_t seq, bool del)
{
    uint8_t it[ID_ITEM_LEN];
    memcpy(it, id + 1, TW_ID_LEN - 1);
    memcpy(it + TW_ID_LEN - 1, &seq, sizeof seq);
    MDB_val k = { 1, (void *)id }, v = { sizeof it, it };
    return del ? mdb_del(txn, s->ids, &k, &v) : mdb_put(txn, s->ids, &k, &v, MDB_NODUPDATA);
}

/*
 * The store's compression dictionary: trained once from the envelopes the
 * store holds (TW_STORE_DICT_SAMPLES of them), kept in meta under "zdict"
 * and never changed, since every compressed row needs it.  Envelopes
 * stored before it exist stay raw.
 */
static void dict_free(tw_store *s)
{
    ZSTD_freeCDict(s->cdict);
    ZSTD_freeDDict(s->ddict);
    ZSTD_freeCCtx(s->cctx);
    ZSTD_freeDCtx(s->dctx);
    ZSTD_freeDCtx(s->wdctx);
    free(s->cbuf);
    s->cdict = NULL;
    s->ddict = NULL;
    s->cctx = NULL;
    s->dctx = NULL;
    s->wdctx = NULL;
    s->cbuf = NULL;
}

static int dict_load(tw_store *s, const void *d, size_t n)
{
    dict_free(s);
    s->cdict = ZSTD_createCDict(d, n, STORE_ZSTD_LEVEL);
    s->ddict = ZSTD_createDDict(d, n);
    s->cctx = ZSTD_createCCtx();
    s->dctx = ZSTD_createDCtx();
    s->wdctx = ZSTD_createDCtx();
    s->cbuf_len = ZSTD_compressBound(TW_ENVELOPE_MAX) + 1;
    s->cbuf = malloc(s->cbuf_len);
    if (!s->cdict || !s->ddict || !s->cctx || !s->dctx || !s->wdctx || !s->cbuf ||
        ZSTD_isError(ZSTD_CCtx_refCDict(s->cctx, s->cdict)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_contentSizeFlag, 0)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_checksumFlag, 0)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_dictIDFlag, 0)) ||
        ZSTD_isError(ZSTD_DCtx_refDDict(s->dctx, s->ddict))) {
        dict_free(s);
        return ENOMEM;
    }
    return 0;
}

/* Samples for training: up to TW_STORE_DICT_SAMPLES envelopes, at most
 * TW_STORE_DICT_SAMPLE_BYTES in all. */
typedef struct samples { uint8_t *buf; size_t *lens; size_t n, bytes; } samples;

static bool sample_add(samples *sm, const void *env, size_t len)
{
    if (sm->n >= TW_STORE_DICT_SAMPLES || len > TW_STORE_DICT_SAMPLE_BYTES - sm->bytes) return false;
    memcpy(sm->buf + sm->bytes, env, len);
    sm->lens[sm->n++] = len;
    sm->bytes += len;
    return true;
}

static int samples_init(samples *sm)
{
    sm->buf = malloc(TW_STORE_DICT_SAMPLE_BYTES);
    sm->lens = malloc(TW_STORE_DICT_SAMPLES * sizeof *sm->lens);
    sm->n = sm->bytes = 0;
    if (sm->buf && sm->lens) return 0;
    free(sm->buf);
    free(sm->lens);
    return ENOMEM;
}

static void samples_free(samples *sm)
{
    free(sm->buf);
    free(sm->lens);
}

/* Trains a dictionary on the samples and keeps it in meta (in txn, or in a
 * transaction of its own when txn is NULL).  Returns 0 with no dictionary
 * when training finds nothing to learn. */
static int dict_train(tw_store *s, MDB_txn *txn, const samples *sm)
{
    uint8_t *d = malloc(TW_STORE_DICT_BYTES);
    if (!d) return ENOMEM;
    size_t n = ZDICT_trainFromBuffer(d, TW_STORE_DICT_BYTES, sm->buf, sm->lens, (unsigned)sm->n);
    if (ZDICT_isError(n)) {
        tw_info("store", "no compression dictionary from %zu envelopes: %s; envelopes are stored uncompressed",
                sm->n, ZDICT_getErrorName(n));
        free(d);
        return 0;
    }
    int rc;
    if (txn) rc = meta_txn_put(txn, s, "zdict", d, n);
    else rc = tw_store_meta_put(s, "zdict", d, n) ? EIO : 0;
    if (rc == 0) rc = dict_load(s, d, n);
    if (rc == 0) tw_info("store", "envelopes are now stored compressed with a dictionary of %zu bytes trained on %zu of them", n, sm->n);
    free(d);
    return rc;
}

/* Once the store holds TW_STORE_DICT_SAMPLES entries and has no dictionary,
 * trains one on the first envelopes (again when the count has doubled if
 * training found nothing).  A failure costs only compression. */
static void maybe_train(tw_store *s)
{
    if (s->cdict || s->count < TW_STORE_DICT_SAMPLES || (s->dict_tried && s->count < 2 * s->dict_tried)) return;
    s->dict_tried = s->count;
    samples sm;
    if (samples_init(&sm)) return;
    MDB_txn *txn;
    MDB_cursor *cur;
    if (txn_begin(s, MDB_RDONLY, &txn) == 0) {
        if (mdb_cursor_open(txn, s->envs, &cur) == 0) {
            MDB_val k, v;
            int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
            while (rc == 0 && sm.n < TW_STORE_DICT_SAMPLES) {
                const uint8_t *p = v.mv_data;
                if (v.mv_size > 1 && p[0] == ENV_RAW && !sample_add(&sm, p + 1, v.mv_size - 1) &&
                    sm.bytes + 1 >= TW_STORE_DICT_SAMPLE_BYTES)
                    break;
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            }
            mdb_cursor_close(cur);
        }
        mdb_txn_abort(txn);
    }
    if (sm.n >= TW_STORE_DICT_SAMPLES / 2) dict_train(s, NULL, &sm);
    samples_free(&sm);
}

/* Drops the envelope of an id with its id and order rows (not its slot). */
static int drop_envelope(tw_store *s, MDB_txn *txn, const char *kind, size_t kind_len, uint64_t ts,
                         const uint8_t id[TW_ID_LEN])
{
    uint64_t seq;
    int rc = id_seq(s, txn, id, &seq);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return rc;
    uint8_t it[ORDER_ITEM_LEN];
    order_item(it, ts, id, seq);
    MDB_val sk = { sizeof seq, &seq }, ok = { kind_len, (void *)kind }, ov = { sizeof it, it };
    if ((rc = id_row(s, txn, id, seq, true))) return rc;
    if ((rc = mdb_del(txn, s->envs, &sk, NULL)) && rc != MDB_NOTFOUND) return rc;
    /* A version stored by the same batch has its order item still to put. */
    if (s->opend && seq >= s->opend_seq0 && seq - s->opend_seq0 < s->nopend) {
        s->opend[seq - s->opend_seq0].dropped = true;
        return 0;
    }
    if ((rc = mdb_del(txn, s->order, &ok, &ov)) && rc != MDB_NOTFOUND) return rc;
    return 0;
}

/* Takes a superseded version out of the search word index: its envelope
 * is read (and unpacked into rbuf) before the version is dropped. */
static int words_drop_old(tw_store *s, MDB_txn *txn, const uint8_t old_id[TW_ID_LEN])
{
    uint64_t seq;
    int rc = id_seq(s, txn, old_id, &seq);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return rc;
    MDB_val sk = { sizeof seq, &seq }, row;
    if ((rc = mdb_get(txn, s->envs, &sk, &row))) return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
    const uint8_t *env;
    size_t len;
    if ((rc = env_unpack_with(s, s->wdctx, &row, s->rbuf, &env, &len))) return rc;
    return tw_wordidx_remove_env(s->words, txn, env, len, old_id, seq);
}

/*
 * Puts an item of a table with several items per key.  LMDB splits a full
 * page in the middle, except when told it appends: items that arrive in
 * ascending order (the order items of new entries, the slots of an author
 * named in order) would leave every page half full.  So an item that may
 * be the last of its key is put with MDB_APPENDDUP, which LMDB refuses
 * (MDB_KEYEXIST, nothing written) when it is not, and then put in place.
 */
static int put_item(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v, bool maybe_last)
{
    if (maybe_last) {
        int rc = mdb_put(txn, dbi, k, v, MDB_APPENDDUP);
        if (rc != MDB_KEYEXIST) return rc;
    }
    return mdb_put(txn, dbi, k, v, 0);
}

static int put_one(tw_store *s, MDB_txn *txn, tw_put *p)
{
    const tw_entry *e = p->e;
    uint64_t seq;
    int rc;
    p->result = 0;
    p->replaced = false;
    /* The id row first, under the sequence number the envelope will have:
     * refused (nothing written) when the id is stored (id_item_cmp). */
    seq = s->next_seq;
    rc = id_row(s, txn, e->id, seq, false);
    if (rc == MDB_KEYEXIST) { p->result = TW_EEXIST; return 0; }
    if (rc) return rc;
    if (e->kind_len == 0 || e->kind_len > TW_KIND_MAX || e->slot_len == 0 || e->slot_len > TW_SLOT_MAX)
        return MDB_BAD_VALSIZE;

    uint8_t sk[TW_KIND_MAX + 1 + TW_KEY_LEN], si[TW_SLOT_MAX + SLOT_ITEM_FIXED];
    MDB_val slk = { slot_key(sk, e->kind, e->kind_len, e->author), sk };
    memcpy(si, e->slot, e->slot_len);
    si[e->slot_len] = 0;
    MDB_val probe = { e->slot_len + 1, si };
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, s->slots, &cur))) return rc;
    rc = mdb_cursor_get(cur, &slk, &probe, MDB_GET_BOTH_RANGE);
    /* No later slot of this author and kind: the new item is appended. */
    bool slot_last = rc == MDB_NOTFOUND;
    if (rc == 0 && probe.mv_size == e->slot_len + SLOT_ITEM_FIXED && memcmp(probe.mv_data, si, e->slot_len + 1) == 0) {
        slot_last = true;       /* if the old one was the last: tried below */
        const uint8_t *old = (const uint8_t *)probe.mv_data + e->slot_len + 1;
        uint64_t old_ts = get_be64(old);
        if (tw_entry_cmp_version(e->ts, e->id, old_ts, old + 8) <= 0) {
            mdb_cursor_close(cur);
            p->result = TW_ESTALE;
            return id_row(s, txn, e->id, seq, true);    /* the row put above */
        }
        memcpy(p->old_id, old + 8, TW_ID_LEN);
        p->old_ts = old_ts;
        p->old_tomb = (old[8 + TW_ID_LEN] & TW_SLOT_TOMBSTONE) != 0;
        p->replaced = true;
        /* Superseded versions are dropped from storage, and from the
         * search word index. */
        if ((rc = mdb_cursor_del(cur, 0)) == 0 && s->words) rc = words_drop_old(s, txn, p->old_id);
        if (rc == 0) rc = drop_envelope(s, txn, e->kind, e->kind_len, old_ts, p->old_id);
    } else if (rc == MDB_NOTFOUND || rc == 0) {
        rc = 0;
    }
    mdb_cursor_close(cur);
    if (rc) return rc;

    if ((rc = env_put(s, txn, seq, e->env, e->env_len, MDB_APPEND))) return rc;
    s->next_seq++;
    if (s->opend) {
        struct order_put *op = &s->opend[s->nopend++];
        op->kind = e->kind;
        op->kind_len = e->kind_len;
        op->dropped = false;
        order_item(op->it, e->ts, e->id, seq);
    } else {
        uint8_t it[ORDER_ITEM_LEN];
        order_item(it, e->ts, e->id, seq);
        MDB_val ok = { e->kind_len, (void *)e->kind }, ov = { sizeof it, it };
        if ((rc = put_item(txn, s->order, &ok, &ov, true))) return rc;
    }
    if ((rc = tw_wordidx_add(s->words, txn, e, seq))) return rc;
    MDB_val iv = { slot_item(si, e->slot, e->slot_len, e->ts, e->id, e->body.type == TW_NIL ? TW_SLOT_TOMBSTONE : 0), si };
    return put_item(txn, s->slots, &slk, &iv, slot_last);
}

static int order_put_cmp(const void *a, const void *b)
{
    const struct order_put *x = a, *y = b;
    size_t m = x->kind_len < y->kind_len ? x->kind_len : y->kind_len;
    int c = memcmp(x->kind, y->kind, m);
    if (c == 0 && x->kind_len != y->kind_len) c = x->kind_len < y->kind_len ? -1 : 1;
    return c ? c : memcmp(x->it, y->it, sizeof x->it);
}

/*
 * Puts the order items of a batch, sorted.  The entries of a batch come in
 * the order their verification ended, not in time order, and an order item
 * put in the middle of a page of items (LMDB's DUPFIXED pages split in the
 * middle, whatever the position) left pages half full where the items of
 * the same batch put in time order are appended (put_item()): at
 * 1 000 000 entries of bench_ingest the order table takes 49.9 MiB where it
 * took 69.3 (its pages 94 % full, not 68 %).
 */
static int put_batch_order(tw_store *s, MDB_txn *txn)
{
    qsort(s->opend, s->nopend, sizeof *s->opend, order_put_cmp);
    for (size_t i = 0; i < s->nopend; i++) {
        struct order_put *op = &s->opend[i];
        if (op->dropped) continue;
        MDB_val ok = { op->kind_len, (void *)op->kind }, ov = { sizeof op->it, op->it };
        int rc = put_item(txn, s->order, &ok, &ov, true);
        if (rc) return rc;
    }
    return 0;
}

/*
 * Grows the map before a batch that would not fit in it, on the loop with
 * no transaction active: a batch that fills the map is refused whole with
 * MDB_MAP_FULL and run again after the map grew, so every doubling on the
 * way to a million records (64 MiB to 512 MiB: three) cost a batch of
 * TW_COMMIT_BATCH_MAX entries done twice (16 000 of the writer's 316 000
 * puts at 300 000 entries of bench_ingest).  Room is judged from the pages
 * the file uses, its free list left out, and the batch's estimate
 * (tw_store_put_need), so the map may grow a little early, which costs
 * address space, not disk.  At the ceiling nothing is done here: the batch
 * runs, and is refused (and halved) as before if it does not fit.
 */
static void grow_for(tw_store *s, uint64_t need)
{
    if (!s->env) return;
    for (int i = 0; i < 8; i++) {
        MDB_envinfo info;
        mdb_env_info(s->env, &info);
        if (info.me_mapsize > s->map_size) s->map_size = info.me_mapsize;
        if (((uint64_t)info.me_last_pgno + 1) * s->psize + need <= s->map_size) return;
        if (s->map_size >= s->map_ceiling || grow(s)) return;
    }
}

void tw_store_writer_begin(tw_store *s, const tw_put *puts, size_t n, void (*wait)(void *ctx), void *ctx)
{
    writer_wait(s);               /* another ingest's batch */
    grow_for(s, tw_store_put_need(s, puts, n));
    if (s->words) tw_wordidx_stats(s->words, &s->winfo);
    s->wait = wait;
    s->wait_ctx = ctx;
}

/*
 * LMDB reuses the pages a write transaction freed (the old copies of the
 * pages it changed) only from the second write after it: the one right
 * after must leave the last snapshot whole.  Batches of received entries
 * committed back to back (on the writer thread) therefore never reused the
 * previous batch's pages, and the file grew by a batch's pages more: at
 * 1 000 000 entries of bench_ingest its free list held 73.5 MiB where
 * commits run between other work held 41.  After a batch of
 * TW_STORE_RELEASE_MIN entries or more, a write of one meta row ("batch",
 * the next sequence number) comes between it and the next batch, which
 * then reuses them.  That write may fail (a full disk): the batch is
 * committed all the same, and the next one only grows the file.
 */
static void release_freed(tw_store *s)
{
    MDB_txn *txn;
    uint8_t b[8];
    put_be64(b, s->next_seq);
    if (mdb_txn_begin(s->env, NULL, 0, &txn)) return;
    if (meta_txn_put(txn, s, "batch", b, sizeof b)) { mdb_txn_abort(txn); return; }
    (void)mdb_txn_commit(txn);
}

void tw_store_put_batch_txn(tw_store *s, tw_put *puts, size_t n, tw_store_commit *c)
{
    memset(c, 0, sizeof *c);
    c->need = tw_store_put_need(s, puts, n);
    MDB_txn *txn;
    struct order_put *opend = malloc((n ? n : 1) * sizeof *opend);
    if (!opend) { c->begin_rc = ENOMEM; return; }
    /* A failed environment, or a map another process grew, is the end's
     * to deal with, on the loop. */
    int rc = s->env ? mdb_txn_begin(s->env, NULL, 0, &txn) : MDB_PANIC;
    if (rc) { free(opend); c->begin_rc = rc; return; }
    uint64_t seq0 = s->next_seq;
    s->opend = opend;
    s->nopend = 0;
    s->opend_seq0 = seq0;
    for (size_t i = 0; i < n && rc == 0; i++) rc = put_one(s, txn, &puts[i]);
    if (rc == 0) rc = put_batch_order(s, txn);
    s->opend = NULL;
    free(opend);
    rc = tw_wordidx_end(s->words, txn, rc);
    if (rc == 0) rc = mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
    if (rc == 0 && n >= TW_STORE_RELEASE_MIN) release_freed(s);
    if (rc) {
        s->next_seq = seq0;       /* nothing of it was stored */
        if (rc != MDB_MAP_FULL) c->disk_free = disk_free(s);
    }
    c->rc = rc;
}

int tw_store_put_batch_end(tw_store *s, tw_put *puts, size_t n, const tw_store_commit *c)
{
    s->wait = NULL;
    s->wait_ctx = NULL;
    if (c->begin_rc == MDB_MAP_RESIZED) {
        mdb_env_set_mapsize(s->env, 0);
        return 1;
    }
    if (c->begin_rc == MDB_PANIC) {
        int rc = env_reopen(s);
        if (rc == 0) return 1;
        tw_err("store", "cannot begin a write: %s", mdb_strerror(rc));
        return lmdb_err(rc);
    }
    if (c->begin_rc) {
        tw_err("store", "cannot begin a write: %s", mdb_strerror(c->begin_rc));
        return lmdb_err(c->begin_rc);
    }
    char what[64];
    snprintf(what, sizeof what, "write of %zu entries", n);
    int rc = write_done(s, c->rc, c->need, c->disk_free, what);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        if (puts[i].result == 0) s->count++;
        if (puts[i].result == 0 && puts[i].replaced) s->count--;
    }
    kinds_note_batch(s, puts, n);
    if (n >= TW_STORE_REOPEN_MIN) s->release_due = true;
    s->last_batch_ms = mono_ms();
    maybe_train(s);
    return 0;
}

int tw_store_put_batch(tw_store *s, tw_put *puts, size_t n)
{
    writer_wait(s);
    grow_for(s, tw_store_put_need(s, puts, n));
    for (int attempt = 0; attempt < 64; attempt++) {
        tw_store_commit c;
        tw_store_put_batch_txn(s, puts, n, &c);
        int rc = tw_store_put_batch_end(s, puts, n, &c);
        if (rc == 1) continue;
        return rc;
    }
    return TW_EIO;
}

/* Finds the slot item of an id (slot key and item prefix in sk/si) and
 * deletes it if it is still that id's. */
static int drop_slot_of(tw_store *s, MDB_txn *txn, const tw_entry *e, const uint8_t id[TW_ID_LEN])
{
    uint8_t sk[TW_KIND_MAX + 1 + TW_KEY_LEN], si[TW_SLOT_MAX + 1];
    MDB_val slk = { slot_key(sk, e->kind, e->kind_len, e->author), sk };
    memcpy(si, e->slot, e->slot_len);
    si[e->slot_len] = 0;
    MDB_val probe = { e->slot_len + 1, si };
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->slots, &cur);
    if (rc) return rc;
    rc = mdb_cursor_get(cur, &slk, &probe, MDB_GET_BOTH_RANGE);
    if (rc == 0 && probe.mv_size == e->slot_len + SLOT_ITEM_FIXED && memcmp(probe.mv_data, si, e->slot_len + 1) == 0 &&
        memcmp((const uint8_t *)probe.mv_data + e->slot_len + 9, id, TW_ID_LEN) == 0)
        rc = mdb_cursor_del(cur, 0);
    else if (rc == 0 || rc == MDB_NOTFOUND)
        rc = 0;
    mdb_cursor_close(cur);
    return rc;
}

static int remove_one(tw_store *s, MDB_txn *txn, const uint8_t id[TW_ID_LEN], tw_arena *a)
{
    MDB_val ev;
    uint64_t seq;
    int rc = id_seq(s, txn, id, &seq);
    if (rc) return rc == MDB_NOTFOUND ? 1 : rc;
    MDB_val sk = { sizeof seq, &seq };
    if ((rc = mdb_get(txn, s->envs, &sk, &ev))) return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
    const uint8_t *env;
    size_t len;
    if ((rc = env_unpack_with(s, s->wdctx, &ev, s->rbuf, &env, &len))) return rc;
    tw_entry e;
    /* The envelope was checked when stored; parse it again only to find its
     * slot. */
    if (tw_entry_parse(env, len, a, &e, NULL) != 0) return MDB_CORRUPTED;
    if ((rc = drop_slot_of(s, txn, &e, id))) return rc;
    if ((rc = tw_wordidx_remove(s->words, txn, &e, seq))) return rc;
    return drop_envelope(s, txn, e.kind, e.kind_len, e.ts, id);
}

int tw_store_remove(tw_store *s, const uint8_t (*ids)[TW_ID_LEN], size_t n)
{
    for (int attempt = 0; attempt < 64; attempt++) {
        MDB_txn *txn;
        tw_arena a;
        size_t removed = 0;
        int rc = write_begin(s, &txn);
        if (rc) return lmdb_err(rc);
        tw_arena_init(&a, 0);
        for (size_t i = 0; i < n && rc == 0; i++) {
            rc = remove_one(s, txn, ids[i], &a);
            if (rc == 0) removed++;
            if (rc == 1) rc = 0;
        }
        tw_arena_free(&a);
        /* A removal writes the changed pages of the four trees. */
        rc = write_end(s, txn, rc, (uint64_t)(n * 4 + 16) * s->psize, "removal of entries");
        if (rc == 1) continue;
        if (rc) return rc;
        s->count -= removed;
        s->kc_valid = false;      /* counted again when asked: removals are rare */
        return 0;
    }
    return TW_EIO;
}

/* The stored row of an id's envelope. */
static int get_row(tw_store *s, MDB_txn *txn, const uint8_t id[TW_ID_LEN], MDB_val *row)
{
    uint64_t seq;
    int rc = id_seq(s, txn, id, &seq);
    if (rc) return rc;
    MDB_val sk = { sizeof seq, &seq };
    rc = mdb_get(txn, s->envs, &sk, row);
    return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
}

int tw_store_get(tw_store *s, const uint8_t id[TW_ID_LEN], tw_buf *env)
{
    MDB_txn *txn;
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc) return lmdb_err(rc);
    MDB_val row;
    rc = get_row(s, txn, id, &row);
    if (rc == 0) {
        const uint8_t *p;
        size_t len;
        tw_buf_reset(env);
        if (row.mv_size > 1 && ((const uint8_t *)row.mv_data)[0] != ENV_RAW)
            rc = tw_buf_reserve(env, TW_ENVELOPE_MAX) ? ENOMEM : env_unpack(s, &row, env->p, &p, &len);
        else
            rc = env_unpack(s, &row, NULL, &p, &len);
        if (rc == 0 && p != env->p) rc = tw_buf_put(env, p, len) ? ENOMEM : 0;
        else if (rc == 0) env->len = len;
    }
    mdb_txn_abort(txn);
    return lmdb_err(rc);
}

int tw_store_has(tw_store *s, const uint8_t id[TW_ID_LEN])
{
    MDB_txn *txn;
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc) return lmdb_err(rc);
    uint64_t seq;
    rc = id_seq(s, txn, id, &seq);
    mdb_txn_abort(txn);
    if (rc == 0) return 1;
    if (rc == MDB_NOTFOUND) return 0;
    return lmdb_err(rc);
}

/*
 * Many ids at once (a peer's WANT, the ids a reconciliation found): one
 * read transaction, and the ids looked up in their sorted order with one
 * cursor of the id table, so that each lookup starts from where the last
 * one ended instead of a new transaction, cursor and descent from the root
 * per id.  seqs[i] gets the sequence number of ids[i], 0 when absent
 * (sequence numbers start at 1).
 */
/* What the lookups sort: a 64-bit key (an id's first 8 bytes as a
 * big-endian number, or a sequence number) and the place in the request,
 * so that comparisons seldom leave the array. */
typedef struct keyed { uint64_t key; uint32_t i; } keyed;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

static int keyed_id_cmp(const void *a, const void *b, void *ids)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return memcmp((const uint8_t *)ids + (size_t)x->i * TW_ID_LEN, (const uint8_t *)ids + (size_t)y->i * TW_ID_LEN,
                  TW_ID_LEN);
}

static int ids_seqs(tw_store *s, MDB_txn *txn, const uint8_t *ids, size_t n, keyed *ord, uint64_t *seqs)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->ids, &cur);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) ord[i] = (keyed){ get_be64(ids + i * TW_ID_LEN), (uint32_t)i };
    qsort_r(ord, n, sizeof *ord, keyed_id_cmp, (void *)ids);
    for (size_t k = 0; k < n && rc == 0; k++) {
        const uint8_t *id = ids + (size_t)ord[k].i * TW_ID_LEN;
        uint8_t probe[ID_ITEM_LEN];
        memcpy(probe, id + 1, TW_ID_LEN - 1);
        memset(probe + TW_ID_LEN - 1, 0, 8);
        MDB_val kv = { 1, (void *)id }, v = { sizeof probe, probe };
        seqs[ord[k].i] = 0;
        rc = mdb_cursor_get(cur, &kv, &v, MDB_GET_BOTH_RANGE);
        if (rc == 0 && v.mv_size == ID_ITEM_LEN && memcmp(v.mv_data, id + 1, TW_ID_LEN - 1) == 0)
            memcpy(&seqs[ord[k].i], (const uint8_t *)v.mv_data + TW_ID_LEN - 1, sizeof seqs[0]);
        if (rc == MDB_NOTFOUND) rc = 0;
    }
    mdb_cursor_close(cur);
    return rc;
}

int tw_store_has_many(tw_store *s, const uint8_t *ids, size_t n, uint8_t *have)
{
    if (n == 0) return 0;
    if (n > UINT32_MAX) return TW_EINVAL;
    keyed *ord = malloc(n * sizeof *ord);
    uint64_t *seqs = malloc(n * sizeof *seqs);
    MDB_txn *txn;
    int rc = ord && seqs ? txn_begin(s, MDB_RDONLY, &txn) : ENOMEM;
    if (rc == 0) {
        rc = ids_seqs(s, txn, ids, n, ord, seqs);
        mdb_txn_abort(txn);
    }
    for (size_t i = 0; i < n && rc == 0; i++) have[i] = seqs[i] != 0;
    free(ord);
    free(seqs);
    return lmdb_err(rc);
}

int tw_store_get_many(tw_store *s, const uint8_t *ids, size_t n, tw_store_env_fn fn, void *ctx)
{
    if (n == 0) return 0;
    if (n > UINT32_MAX) return TW_EINVAL;
    keyed *ord = malloc(n * sizeof *ord);
    uint64_t *seqs = malloc(n * sizeof *seqs);
    MDB_val *rows = malloc(n * sizeof *rows);
    uint8_t *buf = NULL;
    MDB_txn *txn = NULL;
    MDB_cursor *ec = NULL;
    int rc = ord && seqs && rows && (!s->ddict || (buf = malloc(TW_ENVELOPE_MAX))) ? 0 : ENOMEM, ret = 0;
    if (rc == 0 && (rc = txn_begin(s, MDB_RDONLY, &txn))) txn = NULL;
    if (rc == 0) rc = ids_seqs(s, txn, ids, n, ord, seqs);
    if (rc == 0) rc = mdb_cursor_open(txn, s->envs, &ec);
    /* The rows in sequence order (the order they were written in, so
     * neighbours share pages), then handed out in the order of ids. */
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) ord[i] = (keyed){ seqs[i], (uint32_t)i };
        qsort(ord, n, sizeof *ord, keyed_cmp);
    }
    for (size_t k = 0; k < n && rc == 0; k++) {
        uint64_t seq = ord[k].key;
        rows[ord[k].i] = (MDB_val){ 0, NULL };
        if (!seq) continue;
        MDB_val sk = { sizeof seq, &seq };
        rc = mdb_cursor_get(ec, &sk, &rows[ord[k].i], MDB_SET_KEY);
        if (rc == MDB_NOTFOUND) rc = MDB_CORRUPTED;
    }
    for (size_t i = 0; i < n && rc == 0 && ret == 0; i++) {
        const uint8_t *env;
        size_t len;
        if (!rows[i].mv_data) continue;
        if (env_unpack(s, &rows[i], buf, &env, &len)) {
            tw_warn("store", "skipping a stored entry whose row cannot be read");
            continue;
        }
        ret = fn(ctx, i, env, len);
    }
    if (ec) mdb_cursor_close(ec);
    if (txn) mdb_txn_abort(txn);
    free(ord);
    free(seqs);
    free(rows);
    free(buf);
    return ret ? ret : lmdb_err(rc);
}

int tw_store_slot(tw_store *s, const char *kind, size_t kind_len, const uint8_t author[TW_KEY_LEN],
                  const char *slot, size_t slot_len, uint8_t id[TW_ID_LEN], uint64_t *ts)
{
    if (kind_len > TW_KIND_MAX || slot_len > TW_SLOT_MAX) return TW_EINVAL;
    if (kind_len == 0) return TW_ENOTFOUND;     /* no kind is empty */
    uint8_t sk[TW_KIND_MAX + 1 + TW_KEY_LEN], si[TW_SLOT_MAX + 1];
    MDB_val k = { slot_key(sk, kind, kind_len, author), sk };
    memcpy(si, slot, slot_len);
    si[slot_len] = 0;
    MDB_val v = { slot_len + 1, si };
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc) return lmdb_err(rc);
    if ((rc = mdb_cursor_open(txn, s->slots, &cur))) { mdb_txn_abort(txn); return lmdb_err(rc); }
    rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH_RANGE);
    if (rc == 0 && (v.mv_size != slot_len + SLOT_ITEM_FIXED || memcmp(v.mv_data, si, slot_len + 1) != 0))
        rc = MDB_NOTFOUND;
    if (rc == 0) {
        const uint8_t *p = (const uint8_t *)v.mv_data + slot_len + 1;
        *ts = get_be64(p);
        memcpy(id, p + 8, TW_ID_LEN);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return lmdb_err(rc);
}

/* Positions an order cursor at the first item after the entry key `after`
 * (a cursor from an earlier scan).  Bytes that are not such a key position
 * at the first kind at or after them, as a key in format 1 would have. */
static int order_seek(MDB_cursor *cur, const uint8_t *after, size_t after_len, MDB_val *k, MDB_val *v)
{
    size_t kl = strnlen((const char *)after, after_len < TW_KIND_MAX + 1 ? after_len : TW_KIND_MAX + 1);
    uint8_t seek[TW_KIND_MAX + 1], probe[ORDER_ITEM_LEN] = { 0 };
    int rc;
    if (kl == 0 || kl > TW_KIND_MAX || kl == after_len || after_len - kl - 1 > 8 + TW_ID_LEN) {
        *k = (MDB_val){ after_len < TW_KIND_MAX + 1 ? after_len : TW_KIND_MAX + 1, (void *)after };
        return mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    }
    memcpy(probe, after + kl + 1, after_len - kl - 1);
    *k = (MDB_val){ kl, (void *)after };
    *v = (MDB_val){ ORDER_ITEM_LEN, probe };
    rc = mdb_cursor_get(cur, k, v, MDB_GET_BOTH_RANGE);
    if (rc == 0 && after_len == kl + 9 + TW_ID_LEN && memcmp(v->mv_data, probe, 8 + TW_ID_LEN) == 0)
        rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
    if (rc == MDB_NOTFOUND) {
        /* Nothing after it in its kind: the next kind. */
        memcpy(seek, after, kl);
        seek[kl] = 0;
        *k = (MDB_val){ kl + 1, seek };
        rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    }
    return rc;
}

/* The env row of an order item (ts id seq), read with the env cursor ec;
 * MDB_CORRUPTED if the item leads nowhere. */
static int order_row(MDB_cursor *ec, const uint8_t *it, MDB_val *row)
{
    uint64_t seq = get_be64(it + 8 + TW_ID_LEN);
    MDB_val sk = { sizeof seq, &seq };
    int rc = mdb_cursor_get(ec, &sk, row, MDB_SET_KEY);
    return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
}

/* Ends a read of envelopes through the env cursor ec (and the order
 * table's cursor cur, if any): fn's value if it stopped the read, else 0
 * or the error (logged as what failed) that did. */
static int scan_end(tw_store *s, MDB_txn *txn, MDB_cursor *cur, MDB_cursor *ec, uint8_t *buf, int rc, int ret,
                    const char *what)
{
    mdb_cursor_close(ec);
    if (cur) mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    free(buf);
    s->scans--;
    if (ret) return ret;
    if (rc && rc != MDB_NOTFOUND) {
        tw_err("store", "%s failed: %s", what, mdb_strerror(rc));
        return lmdb_err(rc);
    }
    return 0;
}

static int scan(tw_store *s, const char *kind, size_t kind_len, const uint8_t *after, size_t after_len,
                tw_store_fn fn, tw_store_seq_fn sfn, void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *cur, *ec;
    if (kind && (kind_len == 0 || kind_len > TW_KIND_MAX)) return kind_len ? TW_EINVAL : 0;
    /* Each scan decompresses into a buffer of its own: fn may start
     * another. */
    uint8_t *buf = NULL;
    if (s->ddict && !(buf = malloc(TW_ENVELOPE_MAX))) return TW_ENOMEM;
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc) { free(buf); return lmdb_err(rc); }
    if ((rc = mdb_cursor_open(txn, s->order, &cur))) { mdb_txn_abort(txn); free(buf); return lmdb_err(rc); }
    /* Envelopes are looked up with a cursor of their own: LMDB looks in
     * the cursor's current page first, and entries stored one after the
     * other are listed one after the other. */
    if ((rc = mdb_cursor_open(txn, s->envs, &ec))) { mdb_cursor_close(cur); mdb_txn_abort(txn); free(buf); return lmdb_err(rc); }
    s->scans++;
    MDB_val k, v;
    if (after && after_len) {
        rc = order_seek(cur, after, after_len, &k, &v);
    } else if (kind) {
        k = (MDB_val){ kind_len, (void *)kind };
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    int ret = 0;
    while (rc == 0) {
        if (kind && (k.mv_size != kind_len || memcmp(k.mv_data, kind, kind_len) != 0)) break;
        if (k.mv_size == 0 || k.mv_size > TW_KIND_MAX || v.mv_size != ORDER_ITEM_LEN) { rc = MDB_CORRUPTED; break; }
        const uint8_t *it = v.mv_data;
        MDB_val row;
        const uint8_t *env;
        size_t len;
        if ((rc = order_row(ec, it, &row))) break;
        if ((rc = env_unpack(s, &row, buf, &env, &len))) break;
        uint8_t ek[TW_ENTRYKEY_MAX];
        size_t ekn = tw_store_entry_key(ek, k.mv_data, k.mv_size, get_be64(it), it + 8);
        s->scanned++;
        if ((ret = fn ? fn(ctx, ek, ekn, it + 8, env, len)
                      : sfn(ctx, ek, ekn, it + 8, get_be64(it + 8 + TW_ID_LEN), env, len)))
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    return scan_end(s, txn, cur, ec, buf, rc, ret, "scan");
}

int tw_store_scan(tw_store *s, const char *kind, size_t kind_len,
                  const uint8_t *after, size_t after_len, tw_store_fn fn, void *ctx)
{
    return scan(s, kind, kind_len, after, after_len, fn, NULL, ctx);
}

int tw_store_scan_seq(tw_store *s, const uint8_t *after, size_t after_len, tw_store_seq_fn fn, void *ctx)
{
    return scan(s, NULL, 0, after, after_len, NULL, fn, ctx);
}
int tw_store_read_rows(tw_store *s, const char *kind, size_t kind_len, const uint8_t *after, size_t after_len,
                       size_t max, tw_buf *out, size_t *count)
{
    MDB_txn *txn;
    MDB_cursor *cur, *ec;
    *count = 0;
    if (kind_len == 0 || kind_len > TW_KIND_MAX) return TW_EINVAL;
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc) return lmdb_err(rc);
    if ((rc = mdb_cursor_open(txn, s->order, &cur))) { mdb_txn_abort(txn); return lmdb_err(rc); }
    if ((rc = mdb_cursor_open(txn, s->envs, &ec))) { mdb_cursor_close(cur); mdb_txn_abort(txn); return lmdb_err(rc); }
    MDB_val k, v;
    if (after && after_len) {
        rc = order_seek(cur, after, after_len, &k, &v);
    } else {
        k = (MDB_val){ kind_len, (void *)kind };
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
    }
    int ret = 0;
    while (rc == 0 && *count < max) {
        if (k.mv_size != kind_len || memcmp(k.mv_data, kind, kind_len) != 0) break;
        if (v.mv_size != ORDER_ITEM_LEN) { rc = MDB_CORRUPTED; break; }
        const uint8_t *it = v.mv_data;
        MDB_val row;
        if ((rc = order_row(ec, it, &row))) break;
        if (row.mv_size < 2 || row.mv_size > UINT32_MAX) { rc = MDB_CORRUPTED; break; }
        uint8_t ek[TW_ENTRYKEY_MAX];
        size_t ekn = tw_store_entry_key(ek, k.mv_data, k.mv_size, get_be64(it), it + 8);
        uint8_t kl = (uint8_t)ekn;
        uint32_t rl = (uint32_t)row.mv_size;
        if ((ret = tw_buf_put(out, &kl, 1)) || (ret = tw_buf_put(out, ek, ekn)) || (ret = tw_buf_put(out, it + 8, TW_ID_LEN)) ||
            (ret = tw_buf_put(out, &rl, sizeof rl)) || (ret = tw_buf_put(out, row.mv_data, row.mv_size)))
            break;
        ++*count;
        s->scanned++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(ec);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (ret) return ret;
    if (rc && rc != MDB_NOTFOUND) {
        tw_err("store", "scan failed: %s", mdb_strerror(rc));
        return lmdb_err(rc);
    }
    return 0;
}

int tw_store_row_env(const tw_store *s, void *dctx, const uint8_t *row, size_t len, uint8_t *buf,
                     const uint8_t **env, size_t *envlen)
{
    if (len < 2) return TW_EIO;
    if (row[0] == ENV_RAW) {
        *env = row + 1;
        *envlen = len - 1;
        return 0;
    }
    if (!s->ddict || !dctx) return TW_EIO;
    size_t n = row_decode(dctx, s->ddict, buf, row, len);
    if (n == 0) return TW_EIO;
    *env = buf;
    *envlen = n;
    return 0;
}

typedef struct parsed_ctx { tw_store_entry_fn fn; void *ctx; tw_arena arena; } parsed_ctx;

static int parsed_fn(void *vctx, const uint8_t *key, size_t klen, const uint8_t id[TW_ID_LEN],
                     const uint8_t *env, size_t envlen)
{
    parsed_ctx *p = vctx;
    tw_entry e;
    tw_arena_reset(&p->arena);
    if (tw_entry_parse_known(env, envlen, id, &p->arena, &e)) {
        tw_warn("store", "skipping an unreadable stored entry");
        return 0;
    }
    return p->fn(p->ctx, key, klen, &e);
}

int tw_store_scan_entries(tw_store *s, const char *kind, size_t kind_len,
                          const uint8_t *after, size_t after_len, tw_store_entry_fn fn, void *ctx)
{
    parsed_ctx p = { fn, ctx, { 0 } };
    tw_arena_init(&p.arena, 0);
    int rc = tw_store_scan(s, kind, kind_len, after, after_len, parsed_fn, &p);
    tw_arena_free(&p.arena);
    return rc;
}

int tw_store_scan_at(tw_store *s, const tw_store_at *at, size_t n, tw_store_entry_fn fn, void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *cur, *ec;
    uint8_t *buf = NULL;
    if (s->ddict && !(buf = malloc(TW_ENVELOPE_MAX))) return TW_ENOMEM;
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc) { free(buf); return lmdb_err(rc); }
    if ((rc = mdb_cursor_open(txn, s->order, &cur))) { mdb_txn_abort(txn); free(buf); return lmdb_err(rc); }
    if ((rc = mdb_cursor_open(txn, s->envs, &ec))) { mdb_cursor_close(cur); mdb_txn_abort(txn); free(buf); return lmdb_err(rc); }
    s->scans++;
    tw_arena a;
    tw_arena_init(&a, 0);
    int ret = 0;
    bool placed = false;          /* the cursor is on an item of the last kind read */
    const char *pk = NULL;
    size_t pkl = 0;
    MDB_val k, v;
    rc = 0;
    for (size_t i = 0; i < n && ret == 0 && (rc == 0 || rc == MDB_NOTFOUND); i++) {
        if (at[i].kind_len == 0 || at[i].kind_len > TW_KIND_MAX) continue;
        uint8_t probe[ORDER_ITEM_LEN] = { 0 };
        put_be64(probe, at[i].ts);
        /* Where the cursor stopped is often the item wanted next: no seek. */
        bool same = placed && rc == 0 && pkl == at[i].kind_len && memcmp(pk, at[i].kind, pkl) == 0 &&
                    v.mv_size == ORDER_ITEM_LEN && memcmp(v.mv_data, probe, 8) == 0;
        if (!same) {
            k = (MDB_val){ at[i].kind_len, (void *)at[i].kind };
            v = (MDB_val){ ORDER_ITEM_LEN, probe };
            rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH_RANGE);
            placed = rc == 0;
            pk = at[i].kind;
            pkl = at[i].kind_len;
        }
        while (rc == 0 && v.mv_size == ORDER_ITEM_LEN && (at[i].rest || memcmp(v.mv_data, probe, 8) == 0)) {
            const uint8_t *it = v.mv_data;
            MDB_val row;
            const uint8_t *env;
            size_t len;
            if ((rc = order_row(ec, it, &row))) break;
            if ((rc = env_unpack(s, &row, buf, &env, &len))) break;
            uint8_t ek[TW_ENTRYKEY_MAX];
            size_t ekn = tw_store_entry_key(ek, at[i].kind, at[i].kind_len, get_be64(it), it + 8);
            tw_entry e;
            s->scanned++;
            tw_arena_reset(&a);
            if (tw_entry_parse_known(env, len, it + 8, &a, &e))
                tw_warn("store", "skipping an unreadable stored entry");
            else if ((ret = fn(ctx, ek, ekn, &e)))
                break;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP);
        }
        if (rc == MDB_NOTFOUND) placed = false;
    }
    tw_arena_free(&a);
    return scan_end(s, txn, cur, ec, buf, rc, ret, "scan");
}

int tw_store_read_seqs(tw_store *s, const uint64_t *seqs, size_t n, tw_store_seq_entry_fn fn, void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *ec;
    uint8_t *buf = NULL;
    if (s->ddict && !(buf = malloc(TW_ENVELOPE_MAX))) return TW_ENOMEM;
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc) { free(buf); return lmdb_err(rc); }
    if ((rc = mdb_cursor_open(txn, s->envs, &ec))) { mdb_txn_abort(txn); free(buf); return lmdb_err(rc); }
    s->scans++;
    tw_arena a;
    tw_arena_init(&a, 0);
    int ret = 0;
    for (size_t i = 0; i < n && ret == 0; i++) {
        uint64_t seq = seqs[i];
        MDB_val sk = { sizeof seq, &seq }, row;
        const uint8_t *env;
        size_t len;
        tw_entry e;
        uint8_t id[TW_ID_LEN];
        if ((rc = mdb_cursor_get(ec, &sk, &row, MDB_SET_KEY)) == MDB_NOTFOUND) {
            tw_warn("store", "skipping an entry the search index names but the store does not hold");
            continue;
        }
        if (rc || (rc = env_unpack(s, &row, buf, &env, &len))) break;
        s->scanned++;
        tw_arena_reset(&a);
        crypto_generichash(id, TW_ID_LEN, env, len, NULL, 0);
        uint8_t ek[TW_ENTRYKEY_MAX];
        if (tw_entry_parse_known(env, len, id, &a, &e) || e.kind_len == 0 || e.kind_len > TW_KIND_MAX)
            tw_warn("store", "skipping an unreadable stored entry");
        else
            ret = fn(ctx, i, ek, tw_store_entry_key(ek, e.kind, e.kind_len, e.ts, id), &e);
    }
    tw_arena_free(&a);
    return scan_end(s, txn, NULL, ec, buf, rc, ret, "reading entries by sequence number");
}

int tw_store_txn(tw_store *s, bool write, tw_store_txn_fn fn, void *ctx, uint64_t need, const char *what)
{
    for (int attempt = 0; attempt < 64; attempt++) {
        MDB_txn *txn;
        int rc = write ? write_begin(s, &txn) : txn_begin(s, MDB_RDONLY, &txn);
        if (rc) return lmdb_err(rc);
        if (!write) {
            s->scans++;
            rc = fn(ctx, txn);
            s->scans--;
            mdb_txn_abort(txn);
            return rc < 0 ? rc : lmdb_err(rc);
        }
        rc = fn(ctx, txn);
        if (rc < 0) { tw_wordidx_end(s->words, txn, rc); mdb_txn_abort(txn); return rc; }
        rc = write_end(s, txn, rc, need, what);
        if (rc == 1) continue;
        return rc;
    }
    return TW_EIO;
}

struct tw_wordidx *tw_store_wordidx(tw_store *s)
{
    writer_wait(s);               /* the writer thread changes its state */
    return s->words;
}

bool tw_store_writing(const tw_store *s) { return s->wait != NULL; }

void tw_store_wordidx_stats(tw_store *s, tw_wordidx_info *out)
{
    if (!s->words) return;
    if (s->wait) *out = s->winfo;
    else tw_wordidx_stats(s->words, out);
}

int tw_store_digest(tw_store *s, uint8_t out[32], uint64_t *count)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    crypto_generichash_state st;
    uint64_t n = 0;
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc) return lmdb_err(rc);
    if ((rc = mdb_cursor_open(txn, s->ids, &cur))) { mdb_txn_abort(txn); return lmdb_err(rc); }
    crypto_generichash_init(&st, NULL, 0, 32);
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        /* The id: its first byte (the key), then the rest (the item). */
        if (k.mv_size != 1 || v.mv_size != ID_ITEM_LEN) { rc = MDB_CORRUPTED; break; }
        crypto_generichash_update(&st, k.mv_data, 1);
        crypto_generichash_update(&st, v.mv_data, TW_ID_LEN - 1);
        n++;
        s->scanned++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc != MDB_NOTFOUND) return lmdb_err(rc);
    /* The count goes in too, so the empty set has a digest of its own. */
    uint8_t nb[8];
    put_be64(nb, n);
    crypto_generichash_update(&st, nb, 8);
    crypto_generichash_final(&st, out, 32);
    *count = n;
    return 0;
}

uint64_t tw_store_generation(const tw_store *s) { return s->gen; }

void tw_store_get_info(tw_store *s, tw_store_info *info)
{
    MDB_envinfo ei = { 0 };
    MDB_stat st = { 0 };
    if (s->env) {               /* NULL only after a failed reopen */
        mdb_env_info(s->env, &ei);
        mdb_env_stat(s->env, &st);
    }
    info->entries = s->count;
    info->map_size = ei.me_mapsize;
    info->map_used = s->env ? (uint64_t)(ei.me_last_pgno + 1) * st.ms_psize : 0;
    info->map_ceiling = s->map_ceiling;
    info->disk_free = disk_free(s);
    info->full_since = s->full_since;
    info->full_last = s->full_last;
    info->full_fails = s->full_fails;
    info->full_need = s->full_need;
    info->full_ceiling = s->full_ceiling;
}

int tw_store_meta_get(tw_store *s, const char *name, tw_buf *val)
{
    MDB_txn *txn;
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc) return lmdb_err(rc);
    MDB_val k = { strlen(name), (void *)name }, v;
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0) {
        tw_buf_reset(val);
        if (tw_buf_put(val, v.mv_data, v.mv_size)) rc = ENOMEM;
    }
    mdb_txn_abort(txn);
    return lmdb_err(rc);
}

int tw_store_meta_put(tw_store *s, const char *name, const void *val, size_t len)
{
    for (int attempt = 0; attempt < 64; attempt++) {
        MDB_txn *txn;
        int rc = write_begin(s, &txn);
        if (rc) return lmdb_err(rc);
        rc = meta_txn_put(txn, s, name, val, len);
        rc = write_end(s, txn, rc, 2 * (strlen(name) + len) + 4 * s->psize, "write of a setting");
        if (rc == 1) continue;
        return rc;
    }
    return TW_EIO;
}

int tw_store_scan_slots(tw_store *s, const uint8_t *author, tw_store_slot_fn fn, void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc) return lmdb_err(rc);
    if ((rc = mdb_cursor_open(txn, s->slots, &cur))) { mdb_txn_abort(txn); return lmdb_err(rc); }
    s->scans++;
    MDB_val k, v;
    uint8_t seek[TW_KIND_MAX + 1 + TW_KEY_LEN];
    int ret = 0;
    /* Keys are kind 0x00 author, each with its slots as items in slot
     * order: the order of format 1's keys kind 0x00 author slot. */
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        const uint8_t *kp = k.mv_data;
        size_t kl = strnlen((const char *)kp, k.mv_size);
        if (kl == 0 || kl > TW_KIND_MAX || k.mv_size != kl + 1 + TW_KEY_LEN) { rc = MDB_CORRUPTED; break; }
        const uint8_t *ak = kp + kl + 1;
        if (author && memcmp(ak, author, TW_KEY_LEN) != 0) {
            /* Jump to this author's slots of the kind, or past the kind. */
            int c = memcmp(ak, author, TW_KEY_LEN);
            memcpy(seek, kp, kl + 1);
            if (c < 0) {
                memcpy(seek + kl + 1, author, TW_KEY_LEN);
                k = (MDB_val){ kl + 1 + TW_KEY_LEN, seek };
            } else {
                seek[kl] = 1;           /* kind 0x01 sorts after every kind 0x00 author */
                k = (MDB_val){ kl + 1, seek };
            }
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            continue;
        }
        /* k points into the map and stays valid while the transaction is
         * open, through the items below. */
        while (rc == 0) {
            size_t sl = slot_item_slot(&v);
            if (sl == SIZE_MAX) { rc = MDB_CORRUPTED; break; }
            const uint8_t *vp = (const uint8_t *)v.mv_data + sl + 1;
            s->scanned++;
            if ((ret = fn(ctx, (const char *)kp, kl, ak, (const char *)v.mv_data, sl, vp + 8, get_be64(vp),
                          (vp[8 + TW_ID_LEN] & TW_SLOT_TOMBSTONE) != 0)))
                break;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP);
        }
        if (ret || rc != MDB_NOTFOUND) break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_NODUP);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    s->scans--;
    if (ret) return ret;
    if (rc && rc != MDB_NOTFOUND) {
        tw_err("store", "slot scan failed: %s", mdb_strerror(rc));
        return lmdb_err(rc);
    }
    return 0;
}

typedef struct count_ctx {
    tw_store_author_filter f;
    void *fctx;
    tw_store_count_fn fn;
    void *ctx;
    char kind[TW_KIND_MAX + 1];
    uint64_t live, dead;
} count_ctx;

static int count_slot(void *vctx, const char *kind, size_t kind_len, const uint8_t author[TW_KEY_LEN],
                      const char *slot, size_t slot_len, const uint8_t id[TW_ID_LEN], uint64_t ts,
                      bool tombstone)
{
    count_ctx *c = vctx;
    if (strlen(c->kind) != kind_len || memcmp(c->kind, kind, kind_len) != 0) {
        /* A kind all of whose records are filtered out is not reported. */
        if (c->kind[0] && (c->live || c->dead)) c->fn(c->ctx, c->kind, c->live, c->dead);
        memcpy(c->kind, kind, kind_len);
        c->kind[kind_len] = 0;
        c->live = c->dead = 0;
    }
    if (c->f && !c->f(c->fctx, author, ts)) return 0;
    if (tombstone) c->dead++;
    else c->live++;
    return 0;
}

int tw_store_count_kinds_filtered(tw_store *s, tw_store_author_filter f, void *fctx,
                                  tw_store_count_fn fn, void *ctx)
{
    count_ctx c = { .f = f, .fctx = fctx, .fn = fn, .ctx = ctx };
    int rc = tw_store_scan_slots(s, NULL, count_slot, &c);
    if (rc == 0 && c.kind[0] && (c.live || c.dead)) fn(ctx, c.kind, c.live, c.dead);
    return rc;
}

int tw_store_count_kinds(tw_store *s, tw_store_count_fn fn, void *ctx)
{
    return tw_store_count_kinds_filtered(s, NULL, NULL, fn, ctx);
}

/*
 * The counts by kind, kept (tw_store_count_kinds_kept).  Counting reads
 * every slot, about 20 ns a slot, and `twin status` polled every 100 ms
 * during an initial sync (a script, a web page, contrib/bench-sync.sh)
 * counted again after every commit: at 1 000 000 entries, seconds of the
 * loop.  So the counts are kept, per kind, records and tombstones apart
 * for those the filter hides: a batch ended adds what it stored and takes
 * off the version each stored entry replaced (tw_put: replaced, old_ts,
 * old_tomb, found by the transaction anyway), the filter asked for each, at
 * the point the entry count moves.  A removal and a move to another network
 * only mark them to be counted again (both are rare).  All on the loop.
 */
typedef struct kind_count {
    uint8_t len;
    char kind[TW_KIND_MAX];
    uint64_t n[2][2];             /* [hidden][tombstone] */
} kind_count;

static int kind_cmp(const void *x, const void *y)
{
    const kind_count *a = *(const kind_count *const *)x, *b = *(const kind_count *const *)y;
    int c = memcmp(a->kind, b->kind, a->len < b->len ? a->len : b->len);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Kinds are any a peer sends (unknown ones are kept): hashed with a key of
 * this process's, so that no choice of names makes lookups slow. */
static size_t kind_hash(const tw_store *s, const char *kind, size_t len)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)kind, len, s->kkey);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return (size_t)v;
}

static int kinds_rehash(tw_store *s, size_t n)
{
    uint32_t *ix = calloc(n, sizeof *ix);
    if (!ix) return TW_ENOMEM;
    if (!s->kix) randombytes_buf(s->kkey, sizeof s->kkey);
    for (size_t i = 0; i < s->nkc; i++) {
        size_t h = kind_hash(s, s->kc[i].kind, s->kc[i].len) & (n - 1);
        while (ix[h]) h = (h + 1) & (n - 1);
        ix[h] = (uint32_t)i + 1;
    }
    free(s->kix);
    s->kix = ix;
    s->kix_n = n;
    return 0;
}

/* The counts of a kind, a new one (zero) added; NULL out of memory. */
static kind_count *kinds_find(tw_store *s, const char *kind, size_t len)
{
    /* Entries of a batch are mostly of one kind, a full count's all are. */
    kind_count *k = s->klast < s->nkc ? &s->kc[s->klast] : NULL;
    if (k && k->len == len && memcmp(k->kind, kind, len) == 0) return k;
    if (2 * (s->nkc + 1) > s->kix_n && kinds_rehash(s, s->kix_n ? 2 * s->kix_n : 64)) return NULL;
    size_t mask = s->kix_n - 1, h = kind_hash(s, kind, len) & mask;
    for (; s->kix[h]; h = (h + 1) & mask) {
        k = &s->kc[s->kix[h] - 1];
        if (k->len == len && memcmp(k->kind, kind, len) == 0) {
            s->klast = s->kix[h] - 1;
            return k;
        }
    }
    if (s->nkc >= UINT32_MAX - 1) return NULL;
    kind_count *v = tw_vec_room(s->kc, &s->ckc, s->nkc, sizeof *v, 16);
    if (!v) return NULL;
    s->kc = v;
    k = &v[s->nkc];
    memset(k, 0, sizeof *k);
    memcpy(k->kind, kind, len);
    k->len = (uint8_t)len;
    s->klast = s->nkc++;
    s->kix[h] = (uint32_t)s->nkc;
    s->korder_ok = false;
    return k;
}

/* korder: the kinds in kind order (the slot table's), sorted again only
 * after a kind was added. */
static int kinds_order(tw_store *s)
{
    if (s->korder_ok) return 0;
    kind_count **o = realloc(s->korder, (s->nkc ? s->nkc : 1) * sizeof *o);
    if (!o) return TW_ENOMEM;
    s->korder = o;
    for (size_t i = 0; i < s->nkc; i++) o[i] = &s->kc[i];
    qsort(o, s->nkc, sizeof *o, kind_cmp);
    s->korder_ok = true;
    return 0;
}

/* One current version counted in (add) or out; a failure leaves the counts
 * to be counted again. */
static void kinds_note(tw_store *s, const char *kind, size_t len, const uint8_t author[TW_KEY_LEN], uint64_t ts,
                       bool tomb, bool add)
{
    bool hidden = s->kf && !s->kf(s->kfctx, author, ts);
    kind_count *k = len && len <= TW_KIND_MAX ? kinds_find(s, kind, len) : NULL;
    uint64_t *c = k ? &k->n[hidden][tomb] : NULL;
    if (c && (add || *c)) {
        *c += add ? 1 : (uint64_t)-1;
        return;
    }
    /* Out of memory, or a version taken off that was not counted: the
     * filter's answers changed without a new fgen (a caller's bug). */
    if (c) tw_warn("store", "the counts by kind lost track of a %.*s version: counted again when next asked", (int)len, kind);
    s->kc_valid = false;
}

static void kinds_note_batch(tw_store *s, const tw_put *puts, size_t n)
{
    for (size_t i = 0; i < n && s->kc_valid; i++) {
        const tw_put *p = &puts[i];
        if (p->result != 0) continue;
        const tw_entry *e = p->e;
        kinds_note(s, e->kind, e->kind_len, e->author, e->ts, e->body.type == TW_NIL, true);
        if (p->replaced) kinds_note(s, e->kind, e->kind_len, e->author, p->old_ts, p->old_tomb, false);
    }
}

static int kinds_count_slot(void *vctx, const char *kind, size_t kind_len, const uint8_t author[TW_KEY_LEN],
                            const char *slot, size_t slot_len, const uint8_t id[TW_ID_LEN], uint64_t ts,
                            bool tombstone)
{
    tw_store *s = vctx;
    if (!kind_len || kind_len > TW_KIND_MAX) return TW_EIO;
    kinds_note(s, kind, kind_len, author, ts, tombstone, true);
    return s->kc_valid ? 0 : TW_ENOMEM;
}

static void kinds_reset(tw_store *s)
{
    s->nkc = s->klast = 0;
    s->korder_ok = false;
    if (s->kix) memset(s->kix, 0, s->kix_n * sizeof *s->kix);
}

/* Counts in full, with the filter f: on the loop, once the batch in flight
 * has ended, so that the counts and the entry count are of one state. */
static int kinds_recount(tw_store *s, tw_store_author_filter f, void *fctx, uint64_t fgen)
{
    writer_wait(s);
    s->kf = f;
    s->kfctx = fctx;
    s->kfgen = fgen;
    kinds_reset(s);
    s->kc_valid = true;
    int rc = tw_store_scan_slots(s, NULL, kinds_count_slot, s);
    if (rc) {
        s->kc_valid = false;
        kinds_reset(s);
        return rc;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < s->nkc; i++) total += s->kc[i].n[0][0] + s->kc[i].n[0][1] + s->kc[i].n[1][0] + s->kc[i].n[1][1];
    s->kc_skew = s->count - total;
    if (total != s->count)
        tw_warn("store", "the slot table holds %llu current versions, the id table %llu entries: the store is damaged",
                (unsigned long long)total, (unsigned long long)s->count);
    return 0;
}

int tw_store_count_kinds_kept(tw_store *s, tw_store_author_filter f, void *fctx, uint64_t fgen,
                              tw_store_count_fn fn, void *ctx, uint64_t *hidden)
{
    int rc;
    if ((!s->kc_valid || s->kf != f || s->kfctx != fctx || s->kfgen != fgen) && (rc = kinds_recount(s, f, fctx, fgen)))
        return rc;
    if ((rc = kinds_order(s))) return rc;
    uint64_t total = 0, hid = 0;
    for (size_t i = 0; i < s->nkc; i++) {
        const kind_count *k = &s->kc[i];
        total += k->n[0][0] + k->n[0][1] + k->n[1][0] + k->n[1][1];
        hid += k->n[1][0] + k->n[1][1];
    }
    /* Kept at the point the entry count moves, they move together: a
     * difference is a bug here, logged and counted again. */
    if (total + s->kc_skew != s->count) {
        tw_err("store", "the counts by kind (%llu versions) do not add up to the entry count (%llu): counted again",
               (unsigned long long)total, (unsigned long long)s->count);
        s->kc_valid = false;
        return tw_store_count_kinds_kept(s, f, fctx, fgen, fn, ctx, hidden);
    }
    for (size_t i = 0; i < s->nkc; i++) {
        const kind_count *k = s->korder[i];
        if (!k->n[0][0] && !k->n[0][1]) continue;     /* a kind all hidden, or gone */
        char kind[TW_KIND_MAX + 1];
        memcpy(kind, k->kind, k->len);
        kind[k->len] = 0;
        fn(ctx, kind, k->n[0][0], k->n[0][1]);
    }
    *hidden = hid;
    return 0;
}

typedef struct ids_ctx {
    tw_store_author_filter f;
    void *fctx;
    uint8_t *ids;
    size_t n, cap;
} ids_ctx;

static int collect_id(void *vctx, const char *kind, size_t kind_len, const uint8_t author[TW_KEY_LEN],
                      const char *slot, size_t slot_len, const uint8_t id[TW_ID_LEN], uint64_t ts,
                      bool tombstone)
{
    ids_ctx *c = vctx;
    if (!c->f(c->fctx, author, ts)) return 0;
    uint8_t *p = tw_vec_room(c->ids, &c->cap, c->n, TW_ID_LEN, 1024);
    if (!p) return TW_ENOMEM;
    c->ids = p;
    memcpy(c->ids + c->n++ * TW_ID_LEN, id, TW_ID_LEN);
    return 0;
}

static int cmp_id(const void *a, const void *b) { return memcmp(a, b, TW_ID_LEN); }

int tw_store_digest_filtered(tw_store *s, tw_store_author_filter f, void *fctx, uint8_t out[32],
                             uint64_t *count)
{
    if (!f) return tw_store_digest(s, out, count);
    ids_ctx c = { .f = f, .fctx = fctx };
    int rc = tw_store_scan_slots(s, NULL, collect_id, &c);
    if (rc) { free(c.ids); return rc; }
    /* The same digest as tw_store_digest gives over the same ids. */
    qsort(c.ids, c.n, TW_ID_LEN, cmp_id);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    for (size_t i = 0; i < c.n; i++) crypto_generichash_update(&st, c.ids + i * TW_ID_LEN, TW_ID_LEN);
    uint8_t nb[8];
    put_be64(nb, c.n);
    crypto_generichash_update(&st, nb, 8);
    crypto_generichash_final(&st, out, 32);
    *count = c.n;
    free(c.ids);
    return 0;
}

int tw_store_rekey(tw_store *s, const uint8_t netid[TW_NETID_LEN], const uint8_t (*old)[TW_ID_LEN],
                   size_t nold, tw_put *puts, size_t nput)
{
    for (int attempt = 0; attempt < 64; attempt++) {
        MDB_txn *txn;
        tw_arena a;
        size_t removed = 0;
        int rc = write_begin(s, &txn);
        if (rc) return lmdb_err(rc);
        tw_arena_init(&a, 0);
        for (size_t i = 0; i < nold && rc == 0; i++) {
            rc = remove_one(s, txn, old[i], &a);
            if (rc == 0) removed++;
            if (rc == 1) rc = 0;
        }
        tw_arena_free(&a);
        for (size_t i = 0; i < nput && rc == 0; i++) rc = put_one(s, txn, &puts[i]);
        if (rc == 0) rc = meta_txn_put(txn, s, "netid", netid, TW_NETID_LEN);
        rc = write_end(s, txn, rc, tw_store_put_need(s, puts, nput) + (uint64_t)(nold * 3) * s->psize,
                       "moving the store to another network");
        if (rc == 1) continue;
        if (rc) return rc;
        s->count -= removed;
        for (size_t i = 0; i < nput; i++) s->count += puts[i].result == 0;
        s->kc_valid = false;
        return 0;
    }
    return TW_EIO;
}

/*
 * Without MDB_WRITEMAP the map is a read-only shared mapping of the data
 * file, so dropping its pages from this process loses nothing: they stay in
 * the page cache and come back on the next read as minor faults.  Done
 * when the daemon has been quiet for a while after scans (and after the
 * start-up scan), so that a report over the whole registry does not leave
 * the daemon holding all of it resident, while reports run back to back
 * still find their pages mapped.  LMDB does not give the map address
 * without MDB_FIXEDMAP, so it is found in /proc/self/maps; where that fails,
 * nothing happens.
 */
bool tw_store_maybe_trim(tw_store *s)
{
    if (!s->scanned) return false;
    tw_store_trim(s);
    return true;
}

/*
 * LMDB keeps every page a write transaction dirtied, once committed, on a
 * list of its own for the transactions after it, and frees that list only
 * when the environment is closed: after a batch of thousands of entries,
 * tens of MiB of heap for good (33.5 of the 57 MiB of heap in use 45 s
 * after a 300 000-entry initial sync, measured with heaptrack; a batch of
 * 8192 entries into a large store dirties a page for nearly every entry).
 * So once batches of many entries have paused, the environment is closed
 * and opened again (env_load(), as after a failed commit: milliseconds),
 * and the word index gives back the room its last batch's pairs took.  On
 * the loop, with no batch in flight and no scan inside its transaction;
 * if the opening fails, the next transaction tries again (txn_begin()).
 * The store holds what it held: its generation stays, so that what was
 * computed from it stays valid (the report kept for stats, which follows
 * the generation commit by commit, would otherwise be made again from
 * every record: 2.8 s of CPU at a million).
 */
/* glibc keeps freed heap in each thread's arena: the top of an arena only
 * goes back to the system when a free leaves more than M_TRIM_THRESHOLD of
 * it (malloc_trim() gives back the middle, not the top), and blocks of
 * M_MMAP_THRESHOLD or more are mapped on their own, a threshold glibc
 * raises to the largest such block freed.  The writer thread's arena holds
 * LMDB's pages and the verifiers' the entries: left to glibc, 35 MiB of
 * free arena tops after a 300 000-entry sync.  Fixed thresholds keep large
 * blocks (a batch's pairs, id sets, a report's tables) out of the arenas
 * and give arena tops back past TW_MALLOC_TRIM_MIN: 6.7 MiB of heap then
 * (measured with contrib/bench-sync.sh's set-up and /proc/PID/status). */
void tw_store_heap_setup(void)
{
#if defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
    mallopt(M_MMAP_THRESHOLD, (int)TW_MALLOC_MMAP_MIN);
    mallopt(M_TRIM_THRESHOLD, (int)TW_MALLOC_TRIM_MIN);
#endif
}

bool tw_store_maybe_release(tw_store *s, uint64_t idle_ms)
{
    if (!s->release_due || s->scans || s->wait || !s->env || mono_ms() - s->last_batch_ms < idle_ms) return false;
    s->release_due = false;
    tw_wordidx_trim(s->words);
    int rc = env_load(s);
    if (rc) {
        tw_err("store", "cannot open the store again after large writes: %s (tried again at the next use)", mdb_strerror(rc));
        return false;
    }
    tw_debug("store", "large writes paused: the store opened again to give back the pages LMDB keeps after them");
    return true;
}

/* The mapping moves when the map grows, so it is looked up again then. */
static void find_map(tw_store *s)
{
    FILE *f = fopen("/proc/self/maps", "r");
    s->map_at = NULL;
    s->map_len = 0;
    if (!f) return;
    char line[4400];
    size_t pl = strlen(s->path);
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\n");
        line[n] = 0;
        if (n < pl || strcmp(line + n - pl, s->path) != 0) continue;
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && hi > lo) {
            s->map_at = (void *)lo;
            s->map_len = hi - lo;
            break;
        }
    }
    fclose(f);
}

void tw_store_trim(tw_store *s)
{
    s->scanned = 0;
    if (!s->map_at || s->map_len < s->map_size) find_map(s);
    if (s->map_at) madvise(s->map_at, s->map_len, MADV_DONTNEED);
}
/*
 * Upgrade of a store of format 1 (tables entries, ids and slots) to the
 * tables of format 2, which format 3 keeps, on open.  They are filled
 * beside those of format 1 in transactions of TW_STORE_UPGRADE_BATCH rows,
 * each of which records how far it got in meta ("upgrade.entries",
 * "upgrade.slots": the last key of format 1 converted), so that an upgrade
 * cut short (kill -9, power loss) goes on from there at the next start.
 * The tables of format 1 are read only, until the last transaction drops
 * them and records the schema: until that commits, the store is a store of
 * format 1 that any twind can read.
 */
typedef struct v1 { MDB_dbi entries, ids, slots; } v1;

static int meta_marker(MDB_txn *txn, tw_store *s, const char *name, uint8_t *buf, size_t *len)
{
    MDB_val k = { strlen(name), (void *)name }, v;
    int rc = mdb_get(txn, s->meta, &k, &v);
    *len = 0;
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return rc;
    if (v.mv_size > TW_SLOTKEY_MAX) return MDB_CORRUPTED;
    memcpy(buf, v.mv_data, v.mv_size);
    *len = v.mv_size;
    return 0;
}

/* Ends a batch of the upgrade: *more unless the old table is all read,
 * and the marker of the last row moved (rc the cursor's last result). */
static int v1_batch_end(tw_store *s, MDB_txn *txn, MDB_cursor *cur, int rc, const char *marker, const uint8_t *mark,
                        size_t mlen, bool *more)
{
    mdb_cursor_close(cur);
    *more = rc == 0;
    if (rc == MDB_NOTFOUND) rc = 0;
    if (rc == 0 && mlen) rc = meta_txn_put(txn, s, marker, mark, mlen);
    return rc;
}

/* Positions cur at the first row after the marker (or the first row). */
static int v1_resume(MDB_cursor *cur, const uint8_t *mark, size_t mlen, MDB_val *k, MDB_val *v)
{
    if (!mlen) return mdb_cursor_get(cur, k, v, MDB_FIRST);
    *k = (MDB_val){ mlen, (void *)mark };
    int rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (rc == 0 && k->mv_size == mlen && memcmp(k->mv_data, mark, mlen) == 0) rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
    return rc;
}

/* Converts up to TW_STORE_UPGRADE_BATCH envelopes after the marker; *more
 * is set while rows remain. */
static int v1_entries_batch(tw_store *s, MDB_txn *txn, const v1 *o, uint64_t *done, bool *more)
{
    uint8_t mark[TW_SLOTKEY_MAX];
    size_t mlen;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = meta_marker(txn, s, "upgrade.entries", mark, &mlen);
    if (rc || (rc = mdb_cursor_open(txn, o->entries, &cur))) return rc;
    rc = v1_resume(cur, mark, mlen, &k, &v);
    size_t n = 0;
    while (rc == 0 && n < TW_STORE_UPGRADE_BATCH) {
        const uint8_t *kp = k.mv_data;
        size_t kl = strnlen((const char *)kp, k.mv_size);
        if (kl == 0 || kl > TW_KIND_MAX || k.mv_size != kl + 9 + TW_ID_LEN || v.mv_size == 0 || v.mv_size > TW_ENVELOPE_MAX) {
            rc = MDB_CORRUPTED;
            break;
        }
        const uint8_t *id = kp + kl + 9;
        uint64_t seq = s->next_seq, had;
        rc = id_seq(s, txn, id, &had);
        if (rc == 0) rc = MDB_KEYEXIST;
        else if (rc == MDB_NOTFOUND) rc = id_row(s, txn, id, seq, false);
        if (rc == 0 && (rc = env_put(s, txn, seq, v.mv_data, v.mv_size, MDB_APPEND)) == 0) {
            uint8_t it[ORDER_ITEM_LEN];
            order_item(it, get_be64(kp + kl + 1), id, seq);
            MDB_val okey = { kl, (void *)kp }, ov = { sizeof it, it };
            /* Rows come in order: appended, so pages are filled. */
            rc = put_item(txn, s->order, &okey, &ov, true);
            s->next_seq++;
            (*done)++;
        } else if (rc == MDB_KEYEXIST) {
            rc = 0;             /* an id twice in format 1: kept once */
        }
        if (rc) break;
        memcpy(mark, kp, k.mv_size);
        mlen = k.mv_size;
        n++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    return v1_batch_end(s, txn, cur, rc, "upgrade.entries", mark, mlen, more);
}

/* The same for slot rows: kind 0x00 author slot -> id ts flags becomes the
 * item slot 0x00 ts id flags under kind 0x00 author. */
static int v1_slots_batch(tw_store *s, MDB_txn *txn, const v1 *o, bool *more)
{
    uint8_t mark[TW_SLOTKEY_MAX], it[TW_SLOT_MAX + SLOT_ITEM_FIXED];
    size_t mlen;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = meta_marker(txn, s, "upgrade.slots", mark, &mlen);
    if (rc || (rc = mdb_cursor_open(txn, o->slots, &cur))) return rc;
    rc = v1_resume(cur, mark, mlen, &k, &v);
    size_t n = 0;
    while (rc == 0 && n < TW_STORE_UPGRADE_BATCH) {
        const uint8_t *kp = k.mv_data, *vp = v.mv_data;
        size_t kl = strnlen((const char *)kp, k.mv_size);
        if (kl == 0 || kl > TW_KIND_MAX || k.mv_size <= kl + 1 + TW_KEY_LEN ||
            k.mv_size - kl - 1 - TW_KEY_LEN > TW_SLOT_MAX || v.mv_size != TW_SLOTVAL_LEN) {
            rc = MDB_CORRUPTED;
            break;
        }
        size_t sl = k.mv_size - kl - 1 - TW_KEY_LEN;
        MDB_val nk = { kl + 1 + TW_KEY_LEN, (void *)kp };
        MDB_val iv = { slot_item(it, (const char *)kp + kl + 1 + TW_KEY_LEN, sl, get_be64(vp + TW_ID_LEN), vp,
                                 vp[TW_ID_LEN + 8]), it };
        if ((rc = put_item(txn, s->slots, &nk, &iv, true))) break;
        memcpy(mark, kp, k.mv_size);
        mlen = k.mv_size;
        n++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    return v1_batch_end(s, txn, cur, rc, "upgrade.slots", mark, mlen, more);
}

/* A dictionary from envelopes spread over the whole of format 1's table. */
static int v1_dict(tw_store *s, const v1 *o, uint64_t total)
{
    samples sm;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = samples_init(&sm);
    if (rc) return rc;
    if ((rc = write_begin(s, &txn))) { samples_free(&sm); return rc; }
    uint64_t step = total / TW_STORE_DICT_SAMPLES + 1, i = 0;
    if ((rc = mdb_cursor_open(txn, o->entries, &cur)) == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        while (rc == 0 && sm.n < TW_STORE_DICT_SAMPLES) {
            if (i++ % step == 0) sample_add(&sm, v.mv_data, v.mv_size);
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
        if (rc == MDB_NOTFOUND) rc = 0;
    }
    if (rc == 0) rc = dict_train(s, txn, &sm);
    samples_free(&sm);
    rc = write_end(s, txn, rc, TW_STORE_DICT_BYTES + 4 * s->psize, "the store's compression dictionary");
    if (rc == 1) rc = 0;        /* a grown map: trained again at the next start */
    return rc;
}

/*
 * mdb_env_copy2 with MDB_CP_COMPACT writes the live pages only; the copy
 * replaces data.mdb by rename(), so a crash leaves one file or the other.
 * Done after an upgrade, when the tables of format 1 have left their pages
 * free in the file (LMDB never shrinks it).
 */
/* Removes DIR/compact/data.mdb and DIR/compact, only if they are a file
 * and a directory of their own (not links: nothing outside the store is
 * ever removed). */
static void compact_clean(const char *dir)
{
    char d[4300], f[4400];
    struct stat st;
    snprintf(d, sizeof d, "%s/compact", dir);
    snprintf(f, sizeof f, "%s/data.mdb", d);
    if (lstat(d, &st) != 0 || !S_ISDIR(st.st_mode)) return;
    if (lstat(f, &st) == 0 && S_ISREG(st.st_mode)) unlink(f);
    rmdir(d);
}

static void compact(tw_store *s)
{
    char tmp[4300], from[4400];
    snprintf(tmp, sizeof tmp, "%s/compact", s->dir);
    snprintf(from, sizeof from, "%s/data.mdb", tmp);
    MDB_envinfo ei;
    MDB_stat st;
    mdb_env_info(s->env, &ei);
    mdb_env_stat(s->env, &st);
    uint64_t used = (uint64_t)(ei.me_last_pgno + 1) * st.ms_psize, f = disk_free(s);
    if (f != UINT64_MAX && f < used + (16u << 20)) {
        tw_warn("store", "the store's file is not compacted after the upgrade (%llu MiB free on the disk, up to %llu MiB needed); its free pages are used by later writes",
                (unsigned long long)(f >> 20), (unsigned long long)(used >> 20));
        return;
    }
    compact_clean(s->dir);
    if (mkdir(tmp, 0700) != 0) return;
    int rc = mdb_env_copy2(s->env, tmp, MDB_CP_COMPACT);
    int fd = rc ? -1 : open(from, O_RDONLY | O_NOFOLLOW);
    if (rc || fd < 0 || fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
        tw_warn("store", "the store's file is not compacted after the upgrade: %s", rc ? mdb_strerror(rc) : strerror(errno));
        if (fd >= 0) close(fd);
        unlink(from);
        rmdir(tmp);
        return;
    }
    close(fd);
    struct stat a, b;
    stat(s->path, &a);
    mdb_env_close(s->env);
    s->env = NULL;
    if (rename(from, s->path) != 0) tw_warn("store", "the store's file is not compacted: %s", strerror(errno));
    rmdir(tmp);
    if ((fd = open(s->dir, O_RDONLY | O_DIRECTORY)) >= 0) { fsync(fd); close(fd); }
    if (stat(s->path, &b) == 0 && b.st_size < a.st_size)
        tw_info("store", "store file compacted from %llu to %llu MiB", (unsigned long long)(a.st_size >> 20),
                (unsigned long long)(b.st_size >> 20));
    if ((rc = env_load(s))) tw_err("store", "cannot open the store again after compacting it: %s", mdb_strerror(rc));
}

static int upgrade_v1(tw_store *s, char *err, size_t errlen)
{
    MDB_txn *txn;
    v1 o;
    MDB_stat a, b, c;
    int rc;
    /* The first transaction creates the tables of format 2: a store whose
     * file is full needs the map grown first. */
    for (int attempt = 0;; attempt++) {
        if ((rc = write_begin(s, &txn))) return rc;
        if ((rc = mdb_dbi_open(txn, "entries", 0, &o.entries)) || (rc = mdb_dbi_open(txn, "ids", 0, &o.ids)) ||
            (rc = mdb_dbi_open(txn, "slots", 0, &o.slots)) || (rc = mdb_stat(txn, o.entries, &a)) ||
            (rc = mdb_stat(txn, o.ids, &b)) || (rc = mdb_stat(txn, o.slots, &c)) || (rc = open_tables(s, txn, MDB_CREATE))) {
            mdb_txn_abort(txn);
            if (rc == MDB_MAP_FULL && attempt < 64 && grow(s) == 0) continue;
            snprintf(err, errlen, "cannot read the store of format 1 in %s to upgrade it: %s", s->dir, mdb_strerror(rc));
            return rc;
        }
        break;
    }
    uint64_t total = a.ms_entries, done = s->count;
    /* Format 2 takes less than format 1 (about 0.55 of it at a million
     * entries); what is left to convert needs about that much more in the
     * file until format 1's pages are freed at the end. */
    uint64_t v1b = (uint64_t)(a.ms_branch_pages + a.ms_leaf_pages + a.ms_overflow_pages + b.ms_branch_pages +
                              b.ms_leaf_pages + b.ms_overflow_pages + c.ms_branch_pages + c.ms_leaf_pages +
                              c.ms_overflow_pages) * a.ms_psize;
    uint64_t need = total ? (v1b - v1b / total * (done < total ? done : total)) * 3 / 4 + (8u << 20) : 0;
    /* Committed, not aborted: the handles opened stay open.  It wrote
     * nothing but empty tables. */
    if ((rc = mdb_txn_commit(txn))) {
        snprintf(err, errlen, "cannot upgrade the store in %s: %s", s->dir, mdb_strerror(rc));
        return rc;
    }
    uint64_t f = disk_free(s);
    if (f != UINT64_MAX && f < need) {
        char fr[32], nd[32];
        size_text(fr, sizeof fr, f);
        size_text(nd, sizeof nd, need);
        snprintf(err, errlen, "upgrading the store in %s to format %u needs about %s free on its disk, and %s is free; the store is unchanged (format 1, %llu entries): make room and start twind again",
                 s->dir, TW_STORE_SCHEMA, nd, fr, (unsigned long long)total);
        return TW_EFULL;
    }
    tw_info("store", "upgrading the store in %s from format 1 to %u: %llu entries, %llu converted before; in transactions of %u",
            s->dir, TW_STORE_SCHEMA, (unsigned long long)total, (unsigned long long)done, TW_STORE_UPGRADE_BATCH);
    uint64_t t0 = wall_ms();
    MDB_val zk = { 5, "zdict" }, zv;
    if ((rc = txn_begin(s, MDB_RDONLY, &txn)) == 0) {
        rc = mdb_get(txn, s->meta, &zk, &zv);
        if (rc == 0) rc = dict_load(s, zv.mv_data, zv.mv_size);
        mdb_txn_abort(txn);
        if (rc == MDB_NOTFOUND) rc = total >= TW_STORE_DICT_SAMPLES ? v1_dict(s, &o, total) : 0;
    }
    bool more = true;
    uint64_t logged = 0;        /* the first batch is logged, then every 2 s */
    for (int phase = 0; phase < 2 && rc == 0; phase++) {
        more = true;
        while (more && rc == 0) {
            uint64_t seq0 = s->next_seq, done0 = done;
            if ((rc = write_begin(s, &txn))) break;
            rc = phase == 0 ? v1_entries_batch(s, txn, &o, &done, &more) : v1_slots_batch(s, txn, &o, &more);
            rc = write_end(s, txn, rc, (uint64_t)TW_STORE_UPGRADE_BATCH * 1024, "upgrade of the store");
            if (rc) { s->next_seq = seq0; done = done0; }
            if (rc == 1) { rc = 0; more = true; continue; }
            /* Progress every few seconds (each batch commits). */
            if (rc == 0 && phase == 0 && (wall_ms() - logged >= 2000 || !more)) {
                tw_info("store", "upgrade: %llu of %llu entries converted", (unsigned long long)done, (unsigned long long)total);
                logged = wall_ms();
            }
        }
    }
    if (rc == 0) {
        for (;;) {
            if ((rc = write_begin(s, &txn))) break;
            uint8_t ver[4] = { 0, 0, 0, TW_STORE_SCHEMA };
            MDB_val m1 = { 15, "upgrade.entries" }, m2 = { 13, "upgrade.slots" };
            if ((rc = mdb_drop(txn, o.entries, 1)) == 0 && (rc = mdb_drop(txn, o.ids, 1)) == 0 &&
                (rc = mdb_drop(txn, o.slots, 1)) == 0 && (rc = meta_txn_put(txn, s, "schema", ver, 4)) == 0) {
                if ((rc = mdb_del(txn, s->meta, &m1, NULL)) == MDB_NOTFOUND) rc = 0;
                if (rc == 0 && (rc = mdb_del(txn, s->meta, &m2, NULL)) == MDB_NOTFOUND) rc = 0;
            }
            rc = write_end(s, txn, rc, 64 * s->psize, "upgrade of the store");
            if (rc != 1) break;
        }
    }
    if (rc) {
        snprintf(err, errlen, "upgrading the store in %s to format %u failed after %llu of %llu entries (%s); the store is unchanged (format 1) and the upgrade goes on from there at the next start",
                 s->dir, TW_STORE_SCHEMA, (unsigned long long)done, (unsigned long long)total, rc < 0 ? tw_strerror(rc) : mdb_strerror(rc));
        return rc;
    }
    s->count = done;
    tw_info("store", "store upgraded to format %u: %llu entries in %.1f s", TW_STORE_SCHEMA, (unsigned long long)done,
            (double)(wall_ms() - t0) / 1000.0);
    compact(s);
    return 0;
}

int tw_store_open(tw_store **out, const char *dir, uint64_t map_ceiling,
                  const uint8_t netid[TW_NETID_LEN], char *err, size_t errlen)
{
    tw_store *s = calloc(1, sizeof *s);
    MDB_txn *txn = NULL;
    char path[4096];
    int rc;
    if (!s) { snprintf(err, errlen, "out of memory"); return TW_ENOMEM; }
    s->map_ceiling = map_ceiling ? map_ceiling : TW_MAP_SIZE_CEILING_DEFAULT;
    s->map_size = TW_MAP_SIZE_INITIAL < s->map_ceiling ? TW_MAP_SIZE_INITIAL : s->map_ceiling;
    snprintf(path, sizeof path, "%s/store", dir);
    snprintf(s->dir, sizeof s->dir, "%s", path);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        free(s);
        return TW_EIO;
    }
    /* LMDB opens its files by name and follows links: refuse a store
     * directory or store file that is a symbolic link (someone else's file
     * would be mapped and written), as the other files of the data
     * directory are opened with O_NOFOLLOW. */
    {
        static const char *const names[] = { "", "/data.mdb", "/lock.mdb" };
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            char f[4200];
            struct stat st;
            snprintf(f, sizeof f, "%s%s", path, names[i]);
            if (lstat(f, &st) == 0 && S_ISLNK(st.st_mode)) {
                snprintf(err, errlen, "%s is a symbolic link; twind keeps its store only in a directory and files of its own", f);
                free(s);
                return TW_EPERM;
            }
        }
    }
    /* What a compaction cut short left (the store is the one in data.mdb). */
    compact_clean(path);
    if (!(s->rbuf = malloc(TW_ENVELOPE_MAX))) { snprintf(err, errlen, "out of memory"); free(s); return TW_ENOMEM; }
    if ((rc = env_open(s))) goto fail;
    snprintf(s->path, sizeof s->path, "%s/data.mdb", path);
    int dead = 0;
    mdb_reader_check(s->env, &dead);
    if (dead) tw_info("store", "cleared %d stale reader slot(s) left by dead processes", dead);

    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn))) goto fail;
    if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta))) goto fail;
    MDB_val k = { 6, "schema" }, v;
    uint32_t ver = TW_STORE_SCHEMA;
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0) {
        ver = 0;
        if (v.mv_size == 4) {
            const uint8_t *b = v.mv_data;
            ver = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        }
        if (ver != TW_STORE_SCHEMA && ver != 1 && ver != 2) {
            snprintf(err, errlen, "%s holds store schema %u; this twind reads schemas 1 and 2 (upgraded on open) and %u", path, ver, TW_STORE_SCHEMA);
            mdb_txn_abort(txn);
            mdb_env_close(s->env);
            free(s->rbuf);
            free(s);
            return TW_EVERSION;
        }
    } else if (rc == MDB_NOTFOUND) {
        uint8_t vb[4] = { 0, 0, 0, TW_STORE_SCHEMA };
        if ((rc = meta_txn_put(txn, s, "schema", vb, 4))) goto fail;
    } else goto fail;
    k = (MDB_val){ 5, "netid" };
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0) {
        if (v.mv_size != TW_NETID_LEN || memcmp(v.mv_data, netid, TW_NETID_LEN) != 0) {
            snprintf(err, errlen, "%s holds the registry of another network; use another --data-dir, or the network key it was made with", path);
            mdb_txn_abort(txn);
            mdb_env_close(s->env);
            free(s->rbuf);
            free(s);
            return TW_ENETWORK;
        }
    } else if (rc == MDB_NOTFOUND) {
        if ((rc = meta_txn_put(txn, s, "netid", netid, TW_NETID_LEN))) goto fail;
    } else goto fail;
    if (ver == 2) {
        /* Format 3 has the tables of format 2, and reads its rows as they
         * are: only the rows written from now on are smaller (ENV_ZSTD_BARE),
         * and a twind of format 2 must not read them. */
        uint8_t vb[4] = { 0, 0, 0, TW_STORE_SCHEMA };
        if ((rc = meta_txn_put(txn, s, "schema", vb, 4))) goto fail;
        tw_info("store", "store upgraded from format 2 to %u: nothing to convert (envelopes stored from now on take about 9 bytes less)",
                TW_STORE_SCHEMA);
        ver = TW_STORE_SCHEMA;
    }
    if (ver == TW_STORE_SCHEMA && (rc = open_tables(s, txn, MDB_CREATE))) goto fail;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc) goto fail;
    if (ver == 1 && (rc = upgrade_v1(s, err, errlen))) {
        tw_store_close(s);
        return rc < 0 ? rc : lmdb_err(rc);
    }
    if (!s->env && (rc = env_load(s))) {
        snprintf(err, errlen, "cannot open the store in %s after its upgrade: %s", path, mdb_strerror(rc));
        tw_store_close(s);
        return lmdb_err(rc);
    }
    if (!s->cdict) {
        /* The dictionary, if the store has one. */
        if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) goto fail;
        k = (MDB_val){ 5, "zdict" };
        rc = mdb_get(txn, s->meta, &k, &v);
        if (rc == 0) rc = dict_load(s, v.mv_data, v.mv_size);
        else if (rc == MDB_NOTFOUND) rc = 0;
        mdb_txn_abort(txn);
        txn = NULL;
        if (rc) goto fail;
    }
    /* The search word index's table, in the environment as it now is
     * (after an upgrade); built below if absent or old. */
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn))) goto fail;
    if ((rc = tw_wordidx_open(&s->words, txn))) goto fail;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc) goto fail;
    *out = s;
    tw_wordidx_build(s);   /* logged; until it is built, search reads every record */
    return 0;
fail:
    snprintf(err, errlen, "cannot open the store in %s: %s", path, mdb_strerror(rc));
    if (txn) mdb_txn_abort(txn);
    if (s->env) mdb_env_close(s->env);
    tw_wordidx_free(s->words);
    dict_free(s);
    free(s->rbuf);
    free(s);
    return lmdb_err(rc);
}

void tw_store_close(tw_store *s)
{
    if (!s) return;
    writer_wait(s);
    if (s->env) mdb_env_close(s->env);
    tw_wordidx_free(s->words);
    dict_free(s);
    free(s->rbuf);
    free(s->kc);
    free(s->kix);
    free(s->korder);
    free(s);
}

