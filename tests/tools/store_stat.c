/*
 * What each table of a twind store takes (for contrib/bench-million.sh):
 *
 *   store_stat DATA_DIR
 *
 * Opens DATA_DIR/store read-only, while twind is stopped or running (LMDB
 * readers do not block its writer), and prints per table (daemon/store.h)
 * its rows, pages (branch, leaf, overflow), bytes, the bytes per row and how
 * full its leaf pages are (bytes of rows, their headers and pointers over
 * the leaf pages' room), then the file's size: the pages in use, on LMDB's
 * free list (kept for reuse), and the unused tail.  LMDB's own counts
 * (mdb_stat) leave out the sub-trees that hold the items of a table with
 * several items per key (id, order, slot), so the pages are counted by
 * walking each table's tree in the data file, as of the read transaction
 * held meanwhile (which keeps them from being reused), with the items'
 * sub-trees on a line of their own.  Reads LMDB's page layout of format
 * 0.9 (the one Debian ships).  Prints figures; asserts nothing.
 */
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <lmdb.h>


/* LMDB 0.9's pages: a header of pgno(8) pad(2) flags(2) lower(2) upper(2)
 * (overflow pages: a 4-byte page count in place of lower and upper), then
 * 2-byte pointers to the nodes; a node is lo(2) hi(2) flags(2) ksize(2),
 * the key and its data (in a branch: lo, hi and flags are the child's page
 * number).  A database record (MDB_db) is pad(4) flags(2) depth(2) branch,
 * leaf, overflow pages, entries and root (8 each). */
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_LEAF2 0x20
#define F_BIGDATA 0x01
#define F_SUBDATA 0x02
#define PAGEHDR 16
#define DB_ROOT_OFF 40
#define NO_PAGE UINT64_MAX

typedef struct tree { size_t branch, leaf, overflow, subs; unsigned long long leaf_used; } tree;

static const uint8_t *map;
static size_t map_len, npages;
static unsigned psz;

static unsigned get16(const uint8_t *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }
static uint64_t get64(const uint8_t *p) { uint64_t x = 0; for (int i = 7; i >= 0; i--) x = x << 8 | p[i]; return x; }

/* Counts the pages of the tree at root into t, and those of the sub-trees
 * of its items into sub (when not NULL).  With name, returns the root of
 * the named table found among its rows instead (the main tree). */
static uint64_t walk(uint64_t root, tree *t, tree *sub, const char *name, int depth)
{
    if (root == NO_PAGE || root >= npages || depth > 32) return NO_PAGE;
    const uint8_t *pg = map + root * psz;
    unsigned flags = get16(pg + 10), lower = get16(pg + 12), upper = get16(pg + 14);
    if (lower < PAGEHDR || upper > psz || lower > upper) return NO_PAGE;
    unsigned n = (lower - PAGEHDR) / 2;
    if (flags & P_BRANCH) {
        t->branch++;
        for (unsigned i = 0; i < n; i++) {
            const uint8_t *nd = pg + get16(pg + PAGEHDR + 2 * i);
            uint64_t child = (uint64_t)get16(nd) | (uint64_t)get16(nd + 2) << 16 | (uint64_t)get16(nd + 4) << 32;
            uint64_t r = walk(child, t, sub, name, depth + 1);
            if (name && r != NO_PAGE) return r;
        }
        return NO_PAGE;
    }
    if (!(flags & P_LEAF)) return NO_PAGE;
    t->leaf++;
    t->leaf_used += (lower - PAGEHDR) + (psz - upper);
    if (flags & P_LEAF2) return NO_PAGE;
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *nd = pg + get16(pg + PAGEHDR + 2 * i);
        unsigned nf = get16(nd + 4), ks = get16(nd + 6);
        const uint8_t *d = nd + 8 + ks;
        if (name) {
            if ((nf & F_SUBDATA) && ks == strlen(name) && memcmp(nd + 8, name, ks) == 0) return get64(d + DB_ROOT_OFF);
            continue;
        }
        if (nf & F_BIGDATA) {
            uint64_t op = get64(d);
            if (op < npages) t->overflow += (size_t)(map[op * psz + 12] | map[op * psz + 13] << 8 |
                                                     map[op * psz + 14] << 16 | (uint32_t)map[op * psz + 15] << 24);
        } else if ((nf & F_SUBDATA) && sub) {
            sub->subs++;
            walk(get64(d + DB_ROOT_OFF), sub, NULL, NULL, 0);
        }
    }
    return NO_PAGE;
}

static uint64_t main_root;

static int table(MDB_txn *txn, const char *name, unsigned psize, size_t *pages)
{
    MDB_dbi dbi;
    MDB_stat st;
    MDB_cursor *cur;
    MDB_val k, v;
    if (mdb_dbi_open(txn, name, 0, &dbi) || mdb_stat(txn, dbi, &st)) {
        printf("  %-8s (absent)\n", name);
        return 0;
    }
    tree t = { 0 }, sub = { 0 }, scratch = { 0 };
    uint64_t root = map ? walk(main_root, &scratch, NULL, name, 0) : NO_PAGE;
    if (root != NO_PAGE) walk(root, &t, &sub, NULL, 0);
    else {   /* not found in the file: LMDB's counts */
        t.branch = st.ms_branch_pages;
        t.leaf = st.ms_leaf_pages;
        t.overflow = st.ms_overflow_pages;
        /* The bytes of the rows as LMDB lays them out on leaf pages: an
         * 8-byte node header, the key, the value, a 2-byte pointer. */
        if (mdb_cursor_open(txn, dbi, &cur) == 0) {
            int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
            while (rc == 0) {
                t.leaf_used += 8 + k.mv_size + v.mv_size + 2 + ((k.mv_size + v.mv_size) & 1);
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_NODUP);
            }
            mdb_cursor_close(cur);
        }
    }
    size_t n = t.branch + t.leaf + t.overflow;
    double room = (double)t.leaf * (psize - 16);
    printf("  %-8s %9zu rows  %7zu branch + %8zu leaf + %zu overflow pages = %8.1f MiB  %6.1f bytes/row  leaves %3.0f%% full\n",
           name, st.ms_entries, t.branch, t.leaf, t.overflow,
           (double)n * psize / 1048576.0, st.ms_entries ? (double)n * psize / (double)st.ms_entries : 0.0,
           room > 0 ? 100.0 * (double)t.leaf_used / room : 0.0);
    if (sub.subs) {
        size_t sn = sub.branch + sub.leaf + sub.overflow;
        double sroom = (double)sub.leaf * (psize - 16);
        printf("  %-8s   its items: %zu sub-trees of %zu branch + %zu leaf pages = %.1f MiB  %.1f bytes/row  leaves %.0f%% full\n",
               "", sub.subs, sub.branch, sub.leaf, (double)sn * psize / 1048576.0,
               st.ms_entries ? (double)sn * psize / (double)st.ms_entries : 0.0,
               sroom > 0 ? 100.0 * (double)sub.leaf_used / sroom : 0.0);
        n += sn;
    }
    *pages += n;
    return 0;
}

int main(int argc, char **argv)
{
    char dir[4200], file[4300];
    if (argc != 2) { fprintf(stderr, "usage: store_stat DATA_DIR\n"); return 2; }
    snprintf(dir, sizeof dir, "%s/store", argv[1]);
    snprintf(file, sizeof file, "%s/data.mdb", dir);
    struct stat fs;
    if (stat(file, &fs) != 0) { fprintf(stderr, "store_stat: no %s\n", file); return 1; }
    MDB_env *env;
    MDB_txn *txn;
    MDB_envinfo info;
    MDB_stat est;
    int rc;
    if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 16)) ||
        (rc = mdb_env_set_mapsize(env, (size_t)fs.st_size)) ||
        (rc = mdb_env_open(env, dir, MDB_RDONLY, 0600)) ||
        (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))) {
        fprintf(stderr, "store_stat: %s: %s\n", dir, mdb_strerror(rc));
        return 1;
    }
    mdb_env_info(env, &info);
    mdb_env_stat(env, &est);
    /* The file mapped for the page walk, its root as of txn: the meta page
     * (0 or 1) of txn's transaction id. */
    int fd = open(file, O_RDONLY);
    if (fd >= 0) {
        void *m = mmap(NULL, (size_t)fs.st_size, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (m != MAP_FAILED) {
            map = m;
            map_len = (size_t)fs.st_size;
            psz = est.ms_psize;
            npages = map_len / psz;
            for (unsigned i = 0; i < 2 && (size_t)(i + 1) * psz <= map_len; i++)
                if (get64(map + i * psz + 144) == (uint64_t)mdb_txn_id(txn)) main_root = get64(map + i * psz + 128);
            if (main_root == 0) map = NULL;   /* not found: LMDB's counts only */
        }
    }
    size_t pages = 0;
    static const char *const names[] = { "env", "id", "order", "slot", "meta", "words", "entries", "ids", "slots" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) table(txn, names[i], est.ms_psize, &pages);
    /* Pages on LMDB's free list (table 0): each row is a list of page
     * numbers, its first word the count. */
    size_t freep = 0;
    MDB_cursor *fc;
    if (mdb_cursor_open(txn, 0, &fc) == 0) {
        MDB_val k, v;
        int r = mdb_cursor_get(fc, &k, &v, MDB_FIRST);
        while (r == 0) {
            if (v.mv_size >= sizeof(size_t)) { size_t n; memcpy(&n, v.mv_data, sizeof n); freep += n; }
            r = mdb_cursor_get(fc, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(fc);
    }
    size_t filepages = (size_t)fs.st_size / est.ms_psize, last = info.me_last_pgno + 1;
    size_t used = last > freep ? last - freep : 0;
    printf("  file %.1f MiB (%zu pages of %u bytes): %.1f MiB used, %.1f MiB on the free list, %.1f MiB unused tail\n",
           (double)fs.st_size / 1048576.0, filepages, est.ms_psize, (double)used * est.ms_psize / 1048576.0,
           (double)freep * est.ms_psize / 1048576.0, (double)(filepages > last ? filepages - last : 0) * est.ms_psize / 1048576.0);
    if (!map)
        printf("  (the data file could not be walked: the items of id, order and slot are not counted above)\n");
    else if (used > pages)
        printf("  the rest: %.1f MiB (LMDB's main tree and the pages of its free list)\n",
               (double)(used - pages) * est.ms_psize / 1048576.0);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return 0;
}
