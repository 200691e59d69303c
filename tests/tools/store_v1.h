/*
 * A store of format 1 (schema 1), written the way twind wrote it before
 * format 2, for the tests of the upgrade (tests/unit/test_store.c,
 * tests/tools/mkstore_v1.c):
 *
 *   entries  kind 0x00 ts(8, big-endian) id(32) -> envelope bytes
 *   ids      id(32)                       -> kind 0x00 ts(8, big-endian)
 *   slots    kind 0x00 author(32) slot    -> id(32) ts(8, big-endian) flags(1)
 *   meta     schema -> 00 00 00 01, netid -> the network id
 *
 * Only the newest version of a slot is kept, as twind did.  Returns 0 or an
 * LMDB code; out_digest gets the digest format 1 gave (BLAKE2b-256 over the
 * ids in id order, then the count as 8 big-endian bytes).
 */
#ifndef TW_TEST_STORE_V1_H
#define TW_TEST_STORE_V1_H

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <lmdb.h>
#include <sodium.h>
#include "twin/entry.h"

static void v1_be64(uint8_t *p, uint64_t x)
{
    for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)x; x >>= 8; }
}

static uint64_t v1_get_be64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x = (x << 8) | p[i];
    return x;
}

static int v1_put(MDB_txn *txn, MDB_dbi en, MDB_dbi ids, MDB_dbi sl, const tw_entry *e)
{
    uint8_t sk[TW_KIND_MAX + 1 + TW_KEY_LEN + TW_SLOT_MAX], ek[TW_KIND_MAX + 9 + TW_ID_LEN], iv[TW_KIND_MAX + 9];
    size_t skn = e->kind_len + 1 + TW_KEY_LEN + e->slot_len;
    MDB_val k = { TW_ID_LEN, (void *)e->id }, v;
    if (mdb_get(txn, ids, &k, &v) == 0) return 0;
    memcpy(sk, e->kind, e->kind_len);
    sk[e->kind_len] = 0;
    memcpy(sk + e->kind_len + 1, e->author, TW_KEY_LEN);
    memcpy(sk + e->kind_len + 1 + TW_KEY_LEN, e->slot, e->slot_len);
    MDB_val slk = { skn, sk };
    int rc = mdb_get(txn, sl, &slk, &v);
    if (rc == 0) {
        const uint8_t *old = v.mv_data;
        uint64_t ots = v1_get_be64(old + TW_ID_LEN);
        if (tw_entry_cmp_version(e->ts, e->id, ots, old) <= 0) return 0;
        uint8_t oid[TW_ID_LEN], ok[sizeof ek];
        memcpy(oid, old, TW_ID_LEN);
        memcpy(ok, e->kind, e->kind_len);
        ok[e->kind_len] = 0;
        v1_be64(ok + e->kind_len + 1, ots);
        memcpy(ok + e->kind_len + 9, oid, TW_ID_LEN);
        MDB_val okv = { e->kind_len + 9 + TW_ID_LEN, ok }, oidv = { TW_ID_LEN, oid };
        if ((rc = mdb_del(txn, en, &okv, NULL)) || (rc = mdb_del(txn, ids, &oidv, NULL))) return rc;
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    memcpy(ek, e->kind, e->kind_len);
    ek[e->kind_len] = 0;
    v1_be64(ek + e->kind_len + 1, e->ts);
    memcpy(ek + e->kind_len + 9, e->id, TW_ID_LEN);
    memcpy(iv, ek, e->kind_len + 9);
    uint8_t sv[TW_ID_LEN + 9];
    memcpy(sv, e->id, TW_ID_LEN);
    v1_be64(sv + TW_ID_LEN, e->ts);
    sv[TW_ID_LEN + 8] = e->body.type == TW_NIL ? 1 : 0;
    MDB_val ekv = { e->kind_len + 9 + TW_ID_LEN, ek }, ev = { e->env_len, (void *)e->env };
    MDB_val ivv = { e->kind_len + 9, iv }, svv = { sizeof sv, sv };
    if ((rc = mdb_put(txn, en, &ekv, &ev, MDB_NOOVERWRITE)) || (rc = mdb_put(txn, ids, &k, &ivv, MDB_NOOVERWRITE)))
        return rc;
    return mdb_put(txn, sl, &slk, &svv, 0);
}

/* Writes the entries into DATADIR/store (made if absent; must hold no store). */
static int v1_write(const char *datadir, const uint8_t netid[TW_NETID_LEN], const tw_entry *es, size_t n,
                    uint8_t out_digest[32], uint64_t *out_count)
{
    char dir[4200];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi en, ids, sl, meta;
    int rc;
    snprintf(dir, sizeof dir, "%s/store", datadir);
    mkdir(dir, 0700);
    if ((rc = mdb_env_create(&env))) return rc;
    mdb_env_set_maxdbs(env, 8);
    if ((rc = mdb_env_set_mapsize(env, (size_t)(n * 2048 + (64u << 20)))) || (rc = mdb_env_open(env, dir, MDB_NOTLS, 0600)))
        goto out;
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn))) goto out;
    if ((rc = mdb_dbi_open(txn, "entries", MDB_CREATE, &en)) || (rc = mdb_dbi_open(txn, "slots", MDB_CREATE, &sl)) ||
        (rc = mdb_dbi_open(txn, "ids", MDB_CREATE, &ids)) || (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &meta))) {
        mdb_txn_abort(txn);
        goto out;
    }
    uint8_t ver[4] = { 0, 0, 0, 1 };
    MDB_val k = { 6, "schema" }, v = { 4, ver };
    if ((rc = mdb_put(txn, meta, &k, &v, 0))) { mdb_txn_abort(txn); goto out; }
    k = (MDB_val){ 5, "netid" };
    v = (MDB_val){ TW_NETID_LEN, (void *)netid };
    if ((rc = mdb_put(txn, meta, &k, &v, 0))) { mdb_txn_abort(txn); goto out; }
    for (size_t i = 0; i < n && rc == 0; i++) rc = v1_put(txn, en, ids, sl, &es[i]);
    if (rc == 0 && out_digest) {
        MDB_cursor *c;
        crypto_generichash_state st;
        uint64_t cnt = 0;
        crypto_generichash_init(&st, NULL, 0, 32);
        if ((rc = mdb_cursor_open(txn, ids, &c)) == 0) {
            rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
            while (rc == 0) {
                crypto_generichash_update(&st, k.mv_data, k.mv_size);
                cnt++;
                rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
            }
            mdb_cursor_close(c);
            if (rc == MDB_NOTFOUND) rc = 0;
        }
        uint8_t nb[8];
        v1_be64(nb, cnt);
        crypto_generichash_update(&st, nb, 8);
        crypto_generichash_final(&st, out_digest, 32);
        *out_count = cnt;
    }
    if (rc == 0) rc = mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
out:
    mdb_env_close(env);
    return rc;
}

#endif
