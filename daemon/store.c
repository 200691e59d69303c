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
 */
#include <errno.h>
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

#include "twin/err.h"
#include "twin/limits.h"
#include "twin/vec.h"
#include "log.h"
#include "store.h"
#include "wordidx.h"

struct tw_store {
    MDB_env *env;
    char path[4200];              /* <data-dir>/store/data.mdb */
    MDB_dbi entries, ids, slots, meta;
    uint64_t gen;                 /* committed writes, for tw_store_generation */
    uint64_t map_size, map_ceiling;
    uint64_t count;
    uint64_t scanned;             /* entries read by scans since the last trim */
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
};

static int txn_begin(tw_store *s, unsigned flags, MDB_txn **txn);

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
    /* The rows of an entry: its envelope under a key of kind, ts and id; the
     * id under its 32 bytes; the slot row; and about 12 bytes of node header
     * and pointer each.  LMDB copies every page it changes and split pages
     * are half full, so twice the rows, plus the paths of the four trees. */
    uint64_t rows = 0;
    for (size_t i = 0; i < n; i++) {
        const tw_entry *e = puts[i].e;
        rows += e->env_len + (e->kind_len + 9 + TW_ID_LEN) + (TW_ID_LEN + e->kind_len + 9) +
                (e->kind_len + 1 + TW_KEY_LEN + e->slot_len + TW_SLOTVAL_LEN) + 3 * 12;
    }
    return rows * 2 + 4 * 4 * s->psize;
}

/* Key of an envelope in the entries table: kind 0x00 ts(8, big-endian)
 * id(32).  Returns its length. */
static size_t entry_key(uint8_t *k, const char *kind, size_t kind_len, uint64_t ts,
                        const uint8_t id[TW_ID_LEN])
{
    memcpy(k, kind, kind_len);
    k[kind_len] = 0;
    put_be64(k + kind_len + 1, ts);
    memcpy(k + kind_len + 9, id, TW_ID_LEN);
    return kind_len + 9 + TW_ID_LEN;
}

/* Looks an id up: kind and timestamp from the ids table, then the envelope. */
static int get_env(tw_store *s, MDB_txn *txn, const uint8_t id[TW_ID_LEN], MDB_val *env, uint64_t *ts)
{
    MDB_val k = { TW_ID_LEN, (void *)id }, v;
    int rc = mdb_get(txn, s->ids, &k, &v);
    if (rc) return rc;
    if (v.mv_size < 10 || v.mv_size > TW_KIND_MAX + 9) return MDB_CORRUPTED;
    uint8_t ek[TW_ENTRYKEY_MAX];
    size_t kl = v.mv_size - 9;
    const uint8_t *iv = v.mv_data;
    uint64_t t = get_be64(iv + kl + 1);
    size_t ekn = entry_key(ek, (const char *)iv, kl, t, id);
    MDB_val kk = { ekn, ek };
    rc = mdb_get(txn, s->entries, &kk, env);
    if (rc == MDB_NOTFOUND) return MDB_CORRUPTED;
    if (ts) *ts = t;
    return rc;
}

/* Value of an id in the ids table: kind 0x00 ts(8). */
static size_t id_val(uint8_t *v, const char *kind, size_t kind_len, uint64_t ts)
{
    memcpy(v, kind, kind_len);
    v[kind_len] = 0;
    put_be64(v + kind_len + 1, ts);
    return kind_len + 9;
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
static int write_end(tw_store *s, MDB_txn *txn, int rc, uint64_t need, const char *what)
{
    rc = tw_wordidx_end(s->words, txn, rc);
    if (rc == 0) rc = mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
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
    uint64_t f = disk_free(s);
    if (rc == ENOSPC || rc == EDQUOT || (rc == EIO && f < need)) {
        note_full(s, false, need);
        tw_debug("store", "%s refused for room: %s (%llu bytes free, about %llu needed)", what, mdb_strerror(rc),
                 (unsigned long long)f, (unsigned long long)need);
        return TW_EFULL;
    }
    tw_err("store", "%s failed, nothing of it stored: %s", what, mdb_strerror(rc));
    return lmdb_err(rc);
}

/* Begins a write transaction, following a map another process grew. */
static int write_begin(tw_store *s, MDB_txn **txn)
{
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
    mdb_env_set_maxdbs(s->env, 8);
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
static int env_reopen(tw_store *s)
{
    if (s->scans) return MDB_PANIC;
    if (s->env) mdb_env_close(s->env);
    s->env = NULL;
    s->map_at = NULL;
    s->map_len = 0;
    int rc = env_open(s);
    MDB_txn *txn = NULL;
    if (rc == 0 && (rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) == 0) {
        if ((rc = mdb_dbi_open(txn, "entries", 0, &s->entries)) == 0 &&
            (rc = mdb_dbi_open(txn, "slots", 0, &s->slots)) == 0 &&
            (rc = mdb_dbi_open(txn, "ids", 0, &s->ids)) == 0 &&
            (rc = mdb_dbi_open(txn, "meta", 0, &s->meta)) == 0 &&
            (!s->words || (rc = tw_wordidx_reopen(s->words, txn)) == 0)) {
            MDB_stat st;
            if ((rc = mdb_stat(txn, s->ids, &st)) == 0) s->count = st.ms_entries;
        }
        /* Committed, not aborted: an aborted transaction closes the
         * handles it opened. */
        if (rc == 0) rc = mdb_txn_commit(txn);
        else mdb_txn_abort(txn);
    }
    if (rc) {
        tw_err("store", "the store failed and cannot be opened again: %s", mdb_strerror(rc));
        return rc;
    }
    s->gen++;
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
    if ((rc = env_open(s))) goto fail;
    snprintf(s->path, sizeof s->path, "%s/data.mdb", path);
    int dead = 0;
    mdb_reader_check(s->env, &dead);
    if (dead) tw_info("store", "cleared %d stale reader slot(s) left by dead processes", dead);

    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn))) goto fail;
    if ((rc = mdb_dbi_open(txn, "entries", MDB_CREATE, &s->entries)) ||
        (rc = mdb_dbi_open(txn, "slots", MDB_CREATE, &s->slots)) ||
        (rc = mdb_dbi_open(txn, "ids", MDB_CREATE, &s->ids)) ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) ||
        (rc = tw_wordidx_open(&s->words, txn)))
        goto fail;
    MDB_val k = { 6, "schema" }, v;
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0) {
        uint32_t ver = 0;
        if (v.mv_size == 4) {
            const uint8_t *b = v.mv_data;
            ver = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        }
        if (ver != TW_STORE_SCHEMA) {
            snprintf(err, errlen, "%s holds store schema %u; this twind reads schema %u", path, ver, TW_STORE_SCHEMA);
            mdb_txn_abort(txn);
            mdb_env_close(s->env);
            free(s);
            return TW_EVERSION;
        }
    } else if (rc == MDB_NOTFOUND) {
        uint8_t ver[4] = { 0, 0, 0, TW_STORE_SCHEMA };
        if ((rc = meta_txn_put(txn, s, "schema", ver, 4))) goto fail;
    } else goto fail;
    k = (MDB_val){ 5, "netid" };
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0) {
        if (v.mv_size != TW_NETID_LEN || memcmp(v.mv_data, netid, TW_NETID_LEN) != 0) {
            snprintf(err, errlen, "%s holds the registry of another network; use another --data-dir, or the network key it was made with", path);
            mdb_txn_abort(txn);
            mdb_env_close(s->env);
            free(s);
            return TW_ENETWORK;
        }
    } else if (rc == MDB_NOTFOUND) {
        if ((rc = meta_txn_put(txn, s, "netid", netid, TW_NETID_LEN))) goto fail;
    } else goto fail;
    MDB_stat st;
    if ((rc = mdb_stat(txn, s->ids, &st))) goto fail;
    s->count = st.ms_entries;
    s->psize = st.ms_psize;
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
    free(s);
    return lmdb_err(rc);
}

void tw_store_close(tw_store *s)
{
    if (!s) return;
    if (s->env) mdb_env_close(s->env);
    tw_wordidx_free(s->words);
    free(s);
}

static int put_one(tw_store *s, MDB_txn *txn, tw_put *p)
{
    const tw_entry *e = p->e;
    MDB_val k = { TW_ID_LEN, (void *)e->id }, v;
    int rc;
    p->result = 0;
    p->replaced = false;
    rc = mdb_get(txn, s->ids, &k, &v);
    if (rc == 0) { p->result = TW_EEXIST; return 0; }
    if (rc != MDB_NOTFOUND) return rc;

    uint8_t sk[TW_SLOTKEY_MAX];
    size_t skn;
    tw_store_slotkey(sk, &skn, e->kind, e->kind_len, e->author, e->slot, e->slot_len);
    MDB_val slk = { skn, sk };
    rc = mdb_get(txn, s->slots, &slk, &v);
    if (rc == 0 && v.mv_size == TW_SLOTVAL_LEN) {
        const uint8_t *old = v.mv_data;
        uint64_t old_ts = get_be64(old + TW_ID_LEN);
        if (tw_entry_cmp_version(e->ts, e->id, old_ts, old) <= 0) { p->result = TW_ESTALE; return 0; }
        memcpy(p->old_id, old, TW_ID_LEN);
        p->old_ts = old_ts;
        p->replaced = true;
        /* Superseded versions are dropped from storage. */
        uint8_t ok[TW_ENTRYKEY_MAX];
        size_t okn = entry_key(ok, e->kind, e->kind_len, old_ts, p->old_id);
        MDB_val okv = { okn, ok }, oid = { TW_ID_LEN, p->old_id }, oenv;
        if ((rc = mdb_get(txn, s->entries, &okv, &oenv)) == 0 &&
            (rc = tw_wordidx_remove_env(s->words, txn, oenv.mv_data, oenv.mv_size, p->old_id)))
            return rc;
        if ((rc = mdb_del(txn, s->entries, &okv, NULL)) && rc != MDB_NOTFOUND) return rc;
        if ((rc = mdb_del(txn, s->ids, &oid, NULL)) && rc != MDB_NOTFOUND) return rc;
    } else if (rc != MDB_NOTFOUND && rc != 0) {
        return rc;
    } else if (rc == 0) {
        return MDB_CORRUPTED;
    }
    uint8_t ek[TW_ENTRYKEY_MAX], iv[TW_KIND_MAX + 9];
    size_t ekn = entry_key(ek, e->kind, e->kind_len, e->ts, e->id);
    size_t ivn = id_val(iv, e->kind, e->kind_len, e->ts);
    MDB_val ekv = { ekn, ek }, ev = { e->env_len, (void *)e->env }, tv = { ivn, iv };
    if ((rc = mdb_put(txn, s->entries, &ekv, &ev, MDB_NOOVERWRITE))) return rc;
    if ((rc = mdb_put(txn, s->ids, &k, &tv, MDB_NOOVERWRITE))) return rc;
    if ((rc = tw_wordidx_add(s->words, txn, e))) return rc;
    uint8_t sv[TW_SLOTVAL_LEN];
    memcpy(sv, e->id, TW_ID_LEN);
    put_be64(sv + TW_ID_LEN, e->ts);
    sv[TW_ID_LEN + 8] = e->body.type == TW_NIL ? TW_SLOT_TOMBSTONE : 0;
    v = (MDB_val){ sizeof sv, sv };
    return mdb_put(txn, s->slots, &slk, &v, 0);
}

int tw_store_put_batch(tw_store *s, tw_put *puts, size_t n)
{
    uint64_t need = tw_store_put_need(s, puts, n);
    char what[64];
    snprintf(what, sizeof what, "write of %zu entries", n);
    for (int attempt = 0; attempt < 64; attempt++) {
        MDB_txn *txn;
        int rc = write_begin(s, &txn);
        if (rc) return lmdb_err(rc);
        for (size_t i = 0; i < n && rc == 0; i++) rc = put_one(s, txn, &puts[i]);
        rc = write_end(s, txn, rc, need, what);
        if (rc == 1) continue;
        if (rc) return rc;
        for (size_t i = 0; i < n; i++) {
            if (puts[i].result == 0) s->count++;
            if (puts[i].result == 0 && puts[i].replaced) s->count--;
        }
        return 0;
    }
    return TW_EIO;
}

static int remove_one(tw_store *s, MDB_txn *txn, const uint8_t id[TW_ID_LEN], tw_arena *a)
{
    MDB_val env;
    uint64_t ts;
    int rc = get_env(s, txn, id, &env, &ts);
    if (rc) return rc == MDB_NOTFOUND ? 1 : rc;
    tw_entry e;
    /* The envelope was checked when stored; parse it again only to find its
     * slot. */
    if (tw_entry_parse(env.mv_data, env.mv_size, a, &e, NULL) != 0) return MDB_CORRUPTED;
    uint8_t sk[TW_SLOTKEY_MAX], ek[TW_ENTRYKEY_MAX];
    size_t skn;
    tw_store_slotkey(sk, &skn, e.kind, e.kind_len, e.author, e.slot, e.slot_len);
    size_t ekn = entry_key(ek, e.kind, e.kind_len, ts, id);
    MDB_val slk = { skn, sk }, ekv = { ekn, ek }, idk = { TW_ID_LEN, (void *)id }, cur;
    if (mdb_get(txn, s->slots, &slk, &cur) == 0 && cur.mv_size >= TW_ID_LEN &&
        memcmp(cur.mv_data, id, TW_ID_LEN) == 0)
        if ((rc = mdb_del(txn, s->slots, &slk, NULL))) return rc;
    if ((rc = mdb_del(txn, s->ids, &idk, NULL))) return rc;
    if ((rc = tw_wordidx_remove(s->words, txn, &e))) return rc;
    return mdb_del(txn, s->entries, &ekv, NULL);
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
        /* A removal writes the changed pages of the three trees. */
        rc = write_end(s, txn, rc, (uint64_t)(n * 3 + 12) * s->psize, "removal of entries");
        if (rc == 1) continue;
        if (rc) return rc;
        s->count -= removed;
        return 0;
    }
    return TW_EIO;
}

int tw_store_get(tw_store *s, const uint8_t id[TW_ID_LEN], tw_buf *env)
{
    MDB_txn *txn;
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc) return lmdb_err(rc);
    MDB_val v;
    rc = get_env(s, txn, id, &v, NULL);
    if (rc == 0) {
        tw_buf_reset(env);
        rc = tw_buf_put(env, v.mv_data, v.mv_size) ? ENOMEM : 0;
    }
    mdb_txn_abort(txn);
    return lmdb_err(rc);
}

int tw_store_has(tw_store *s, const uint8_t id[TW_ID_LEN])
{
    MDB_txn *txn;
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc) return lmdb_err(rc);
    MDB_val k = { TW_ID_LEN, (void *)id }, v;
    rc = mdb_get(txn, s->ids, &k, &v);
    mdb_txn_abort(txn);
    if (rc == 0) return 1;
    if (rc == MDB_NOTFOUND) return 0;
    return lmdb_err(rc);
}

int tw_store_slot(tw_store *s, const char *kind, size_t kind_len, const uint8_t author[TW_KEY_LEN],
                  const char *slot, size_t slot_len, uint8_t id[TW_ID_LEN], uint64_t *ts)
{
    uint8_t sk[TW_SLOTKEY_MAX];
    size_t skn;
    if (kind_len > TW_KIND_MAX || slot_len > TW_SLOT_MAX) return TW_EINVAL;
    tw_store_slotkey(sk, &skn, kind, kind_len, author, slot, slot_len);
    MDB_txn *txn;
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc) return lmdb_err(rc);
    MDB_val k = { skn, sk }, v;
    rc = mdb_get(txn, s->slots, &k, &v);
    if (rc == 0 && v.mv_size == TW_SLOTVAL_LEN) {
        memcpy(id, v.mv_data, TW_ID_LEN);
        *ts = get_be64((const uint8_t *)v.mv_data + TW_ID_LEN);
    } else if (rc == 0) {
        rc = MDB_CORRUPTED;
    }
    mdb_txn_abort(txn);
    return lmdb_err(rc);
}

int tw_store_scan(tw_store *s, const char *kind, size_t kind_len,
                  const uint8_t *after, size_t after_len, tw_store_fn fn, void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    uint8_t prefix[TW_KIND_MAX + 1];
    size_t plen = 0;
    if (kind) {
        if (kind_len > TW_KIND_MAX) return TW_EINVAL;
        memcpy(prefix, kind, kind_len);
        prefix[kind_len] = 0;
        plen = kind_len + 1;
    }
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc) return lmdb_err(rc);
    if ((rc = mdb_cursor_open(txn, s->entries, &cur))) { mdb_txn_abort(txn); return lmdb_err(rc); }
    s->scans++;
    MDB_val k, v;
    if (after && after_len) {
        k = (MDB_val){ after_len, (void *)after };
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && k.mv_size == after_len && memcmp(k.mv_data, after, after_len) == 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    } else if (plen) {
        k = (MDB_val){ plen, prefix };
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    int ret = 0;
    while (rc == 0) {
        if (plen && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)) break;
        if (k.mv_size < 10 + TW_ID_LEN) { rc = MDB_CORRUPTED; break; }
        const uint8_t *kp = k.mv_data;
        const uint8_t *id = kp + k.mv_size - TW_ID_LEN;
        s->scanned++;
        if ((ret = fn(ctx, kp, k.mv_size, id, v.mv_data, v.mv_size))) break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    s->scans--;
    if (ret) return ret;
    if (rc && rc != MDB_NOTFOUND) {
        tw_err("store", "scan failed: %s", mdb_strerror(rc));
        return lmdb_err(rc);
    }
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
    MDB_cursor *cur;
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc) return lmdb_err(rc);
    if ((rc = mdb_cursor_open(txn, s->entries, &cur))) { mdb_txn_abort(txn); return lmdb_err(rc); }
    s->scans++;
    tw_arena a;
    tw_arena_init(&a, 0);
    int ret = 0;
    MDB_val k = { 0, NULL }, v;
    for (size_t i = 0; i < n && ret == 0 && (rc == 0 || rc == MDB_NOTFOUND); i++) {
        uint8_t pk[TW_KIND_MAX + 9];
        if (at[i].kind_len > TW_KIND_MAX) continue;
        memcpy(pk, at[i].kind, at[i].kind_len);
        pk[at[i].kind_len] = 0;
        put_be64(pk + at[i].kind_len + 1, at[i].ts);
        size_t pn = at[i].kind_len + 9;
        size_t cmpn = at[i].rest ? at[i].kind_len + 1 : pn;   /* the kind only, or with the time */
        /* Where the cursor stopped is often the entry wanted next: no seek. */
        if (!(rc == 0 && k.mv_size == pn + TW_ID_LEN && memcmp(k.mv_data, pk, pn) == 0)) {
            k = (MDB_val){ pn, pk };
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        }
        while (rc == 0 && k.mv_size == pn + TW_ID_LEN && memcmp(k.mv_data, pk, cmpn) == 0) {
            tw_entry e;
            s->scanned++;
            tw_arena_reset(&a);
            if (tw_entry_parse_known(v.mv_data, v.mv_size, (const uint8_t *)k.mv_data + pn, &a, &e))
                tw_warn("store", "skipping an unreadable stored entry");
            else if ((ret = fn(ctx, k.mv_data, k.mv_size, &e)))
                break;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    }
    tw_arena_free(&a);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    s->scans--;
    if (ret) return ret;
    if (rc && rc != MDB_NOTFOUND) {
        tw_err("store", "scan failed: %s", mdb_strerror(rc));
        return lmdb_err(rc);
    }
    return 0;
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

struct tw_wordidx *tw_store_wordidx(tw_store *s) { return s->words; }

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
        crypto_generichash_update(&st, k.mv_data, k.mv_size);
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
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        const uint8_t *kp = k.mv_data;
        size_t kl = strnlen((const char *)kp, k.mv_size);
        if (kl > TW_KIND_MAX || k.mv_size < kl + 1 + TW_KEY_LEN || v.mv_size != TW_SLOTVAL_LEN) { rc = MDB_CORRUPTED; break; }
        const uint8_t *ak = kp + kl + 1;
        if (author && memcmp(ak, author, TW_KEY_LEN) != 0) {
            /* Jump to this author's range of the kind, or past it to the
             * next kind. */
            int c = memcmp(ak, author, TW_KEY_LEN);
            memcpy(seek, kp, kl + 1);
            if (c < 0) {
                memcpy(seek + kl + 1, author, TW_KEY_LEN);
                k = (MDB_val){ kl + 1 + TW_KEY_LEN, seek };
            } else {
                seek[kl] = 1;           /* kind 0x01 sorts after every kind 0x00 ... key */
                k = (MDB_val){ kl + 1, seek };
            }
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            continue;
        }
        const uint8_t *vp = v.mv_data;
        s->scanned++;
        if ((ret = fn(ctx, (const char *)kp, kl, ak, (const char *)ak + TW_KEY_LEN,
                      k.mv_size - kl - 1 - TW_KEY_LEN, vp, get_be64(vp + TW_ID_LEN),
                      (vp[TW_ID_LEN + 8] & TW_SLOT_TOMBSTONE) != 0)))
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
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
