/*
 * What each table of a twind store takes (for contrib/bench-million.sh):
 *
 *   store_stat DATA_DIR
 *
 * Opens DATA_DIR/store read-only, while twind is stopped or running (LMDB
 * readers do not block its writer), and prints per table (daemon/store.h)
 * its rows, pages (branch, leaf, overflow), bytes, the bytes per row and how
 * full its leaf pages are (bytes of rows and their headers over the leaf
 * pages' room), then the file's size: the pages in use, on LMDB's free list
 * (kept for reuse), and the unused tail.  For the tables of format 2 that
 * hold several items per key (id, order, slot), LMDB's counts leave out the
 * sub-trees of the items: their pages are printed as what the used pages
 * hold beyond the other tables.  Prints figures; asserts nothing.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <lmdb.h>

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
    /* The bytes of the rows as LMDB lays them out on leaf pages: a 8-byte
     * node header, the key, the value, a 2-byte pointer. */
    unsigned long long used = 0;
    if (mdb_cursor_open(txn, dbi, &cur) == 0) {
        int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        while (rc == 0) {
            used += 8 + k.mv_size + v.mv_size + 2 + ((k.mv_size + v.mv_size) & 1);
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
    }
    size_t n = st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    double room = (double)st.ms_leaf_pages * (psize - 16);
    printf("  %-8s %9zu rows  %7zu branch + %8zu leaf + %zu overflow pages = %8.1f MiB  %6.1f bytes/row  leaves %3.0f%% full\n",
           name, st.ms_entries, st.ms_branch_pages, st.ms_leaf_pages, st.ms_overflow_pages,
           (double)n * psize / 1048576.0, st.ms_entries ? (double)n * psize / (double)st.ms_entries : 0.0,
           room > 0 ? 100.0 * (double)used / room : 0.0);
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
    /* mdb_stat does not count the pages of the sub-trees holding the items
     * of a table with several items per key (id, order, slot): what the used
     * pages hold beyond the counted tables is theirs. */
    if (used > pages)
        printf("  items of id, order and slot (their sub-trees, not in the counts above): %.1f MiB\n",
               (double)(used - pages) * est.ms_psize / 1048576.0);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return 0;
}
