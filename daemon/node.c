/*
 * Node start-up (data directory, lock, identity, network) and local writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "twin/schema.h"
#include "log.h"
#include "twin/negentropy.h"
#include "twin/vec.h"
#include "admit.h"
#include "net.h"
#include "node.h"
#include "ops.h"

uint64_t tw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#define ERR(code, ...) do { snprintf(err, errlen, __VA_ARGS__); return (code); } while (0)

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[TW_PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof tmp) return -1;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST) return -1;
    return 0;
}

/* Reads or creates a file holding one secret as text (a header line, then
 * the value).  The value is a hex seed for identity.key and a network key
 * text for network.key. */
/* Creates path (mode 0600) for writing, never through a symbolic link or
 * into a file that exists: one left by a crash is removed first. */
static int create_private(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT) return -1;
    return open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

static int secret_file(const char *path, char *text, size_t cap, const char *fresh,
                       const char *header, int *created, char *err, size_t errlen)
{
    struct stat st;
    *created = 0;
    /* O_NOFOLLOW: a symbolic link planted here must not make twind read
     * (or, below, write) another file; O_NONBLOCK: nor a FIFO hang it. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
        if (fstat(fd, &st) != 0) { int e = errno; close(fd); ERR(TW_EIO, "cannot stat %s: %s", path, strerror(e)); }
        if (!S_ISREG(st.st_mode)) { close(fd); ERR(TW_EPERM, "%s is not a regular file", path); }
        if (st.st_mode & 077) {
            close(fd);
            ERR(TW_EPERM, "%s is accessible by other users (mode %03o); it holds a secret key. "
                "Fix: chmod 600 %s (and consider the key exposed if others could read it)",
                path, (unsigned)(st.st_mode & 0777), path);
        }
        if (st.st_uid != geteuid()) {
            close(fd);
            ERR(TW_EPERM, "%s is owned by uid %u, not by this user (uid %u)", path,
                (unsigned)st.st_uid, (unsigned)geteuid());
        }
        FILE *f = fdopen(fd, "r");
        if (!f) { int e = errno; close(fd); ERR(TW_EIO, "cannot read %s: %s", path, strerror(e)); }
        char line[256];
        int ok = 0;
        while (fgets(line, sizeof line, f)) {
            size_t n = strcspn(line, "\r\n");
            line[n] = 0;
            if (!n || line[0] == '#') continue;
            if (n < cap) { memcpy(text, line, n + 1); ok = 1; }
            break;
        }
        fclose(f);
        if (!ok) ERR(TW_EINVAL, "%s holds no key", path);
        return 0;
    }
    if (errno == ELOOP)
        ERR(TW_EPERM, "%s is a symbolic link; twind follows no symbolic link in its data directory. "
            "Fix: replace it with the file itself", path);
    if (errno != ENOENT) ERR(TW_EIO, "cannot open %s: %s", path, strerror(errno));
    char tmp[TW_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = create_private(tmp);
    if (fd < 0) ERR(TW_EIO, "cannot create %s: %s", tmp, strerror(errno));
    char buf[512];
    int len = snprintf(buf, sizeof buf, "# %s\n%s\n", header, fresh);
    int bad = write(fd, buf, (size_t)len) != len || fsync(fd) != 0;
    close(fd);
    sodium_memzero(buf, sizeof buf);
    if (bad || rename(tmp, path) != 0) { unlink(tmp); ERR(TW_EIO, "cannot write %s: %s", path, strerror(errno)); }
    snprintf(text, cap, "%s", fresh);
    *created = 1;
    return 0;
}

int tw_identity_load(const char *dir, uint8_t sk[TW_SECKEY_LEN], char *err, size_t errlen)
{
    char path[TW_PATH_MAX + 32], text[160], fresh[2 * 32 + 1];
    uint8_t seed[32], pk[TW_KEY_LEN];
    int created, rc;
    snprintf(path, sizeof path, "%s/%s", dir, TW_IDENTITY_FILE);
    randombytes_buf(seed, sizeof seed);
    tw_hex_encode(fresh, seed, sizeof seed);
    rc = secret_file(path, text, sizeof text, fresh,
                     "twind node identity: Ed25519 seed (hex). Secret: keep mode 0600, back it up with 'twin key export'.",
                     &created, err, errlen);
    sodium_memzero(fresh, sizeof fresh);
    if (rc) { sodium_memzero(seed, sizeof seed); return rc; }
    if (tw_hex_decode(seed, sizeof seed, text, strlen(text)))
        ERR(TW_EINVAL, "%s: not a valid identity (expected 64 hex digits)", path);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(text, sizeof text);
    if (created) tw_info("node", "created a new node identity in %s", path);
    return 0;
}

int tw_node_set_identity(tw_node *n, const uint8_t seed[32], char *err, size_t errlen)
{
    char path[TW_PATH_MAX + 32], tmp[TW_PATH_MAX + 40], old[TW_PATH_MAX + 64], hex[2 * 32 + 1], buf[512];
    snprintf(path, sizeof path, "%s/%s", n->cfg.data_dir, TW_IDENTITY_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(old, sizeof old, "%s.replaced-%llu", path, (unsigned long long)tw_now_ms());
    tw_hex_encode(hex, seed, 32);
    int len = snprintf(buf, sizeof buf, "# %s\n%s\n",
                       "twind node identity: Ed25519 seed (hex). Secret: keep mode 0600, back it up with 'twin key export'.",
                       hex);
    sodium_memzero(hex, sizeof hex);
    int fd = create_private(tmp);
    if (fd < 0) {
        sodium_memzero(buf, sizeof buf);
        ERR(TW_EIO, "cannot create %s: %s", tmp, strerror(errno));
    }
    int bad = write(fd, buf, (size_t)len) != len || fsync(fd) != 0;
    close(fd);
    sodium_memzero(buf, sizeof buf);
    /* The old identity is kept beside it (its records stay valid, and a
     * mistake can be undone by hand), as twin key import --force does. */
    if (bad || link(path, old) != 0 || rename(tmp, path) != 0) {
        int er = errno;
        unlink(tmp);
        ERR(TW_EIO, "cannot replace %s: %s", path, strerror(er));
    }
    crypto_sign_seed_keypair(n->pk, n->sk, seed);
    tw_keytext_encode(n->keytext, TW_KEYTEXT_PREFIX, n->pk);
    tw_key_fingerprint(n->fingerprint, n->pk);
    /* The node key is also the transport key: connections made under the
     * old one are closed and made again under the new one. */
    tw_net_drop_all(n, "this node's key changed (key rotation)");
    tw_info("node", "this node now signs with %s; the previous identity is kept as %s", n->fingerprint, old);
    return 0;
}

static int network_load(tw_node *n, char *err, size_t errlen)
{
    if (n->cfg.have_network_key) {
        memcpy(n->netkey, n->cfg.network_key, TW_NETKEY_LEN);
        return 0;
    }
    char path[TW_PATH_MAX + 32], text[128], fresh[TW_KEYTEXT_LEN + 1];
    uint8_t k[TW_NETKEY_LEN];
    int created;
    snprintf(path, sizeof path, "%s/%s", n->cfg.data_dir, TW_NETWORK_FILE);
    randombytes_buf(k, sizeof k);
    tw_keytext_encode(fresh, TW_NETTEXT_PREFIX, k);
    int rc = secret_file(path, text, sizeof text, fresh,
                         "twind network key: known to members only. Secret: keep mode 0600.",
                         &created, err, errlen);
    sodium_memzero(k, sizeof k);
    if (rc) return rc;
    if (tw_keytext_decode(n->netkey, TW_NETTEXT_PREFIX, text, strlen(text)))
        ERR(TW_EINVAL, "%s: not a valid network key (twn_...)", path);
    if (created) tw_info("node", "created a new network; its key is in %s", path);
    return 0;
}

/*
 * Joining another network changes three things that must agree: the
 * network key file, the roots file and the store (its network id and this
 * node's own records, signed again).  The two files are first written
 * under a ".join" suffix, then the store changes in one transaction, then
 * the files are renamed into place.  A crash in between is settled at the
 * next start: if the store already belongs to the staged network, the
 * renames are finished; otherwise the staged files are dropped.
 */
#define TW_JOIN_SUFFIX ".join"

static void staged_paths(const tw_node *n, char *key, char *roots, size_t cap)
{
    snprintf(key, cap, "%s/%s%s", n->cfg.data_dir, TW_NETWORK_FILE, TW_JOIN_SUFFIX);
    snprintf(roots, cap, "%s/%s%s", n->cfg.data_dir, TW_ROOTS_FILE, TW_JOIN_SUFFIX);
}

static int finish_renames(tw_node *n, char *err, size_t errlen)
{
    char sk[TW_PATH_MAX + 48], sr[TW_PATH_MAX + 48], fk[TW_PATH_MAX + 48], fr[TW_PATH_MAX + 48];
    staged_paths(n, sk, sr, sizeof sk);
    snprintf(fk, sizeof fk, "%s/%s", n->cfg.data_dir, TW_NETWORK_FILE);
    snprintf(fr, sizeof fr, "%s/%s", n->cfg.data_dir, TW_ROOTS_FILE);
    if (rename(sr, fr) != 0 && errno != ENOENT) ERR(TW_EIO, "cannot rename %s: %s", sr, strerror(errno));
    if (rename(sk, fk) != 0 && errno != ENOENT) ERR(TW_EIO, "cannot rename %s: %s", sk, strerror(errno));
    return 0;
}

static int join_recover(tw_node *n, int store_rc, char *err, size_t errlen)
{
    char sk[TW_PATH_MAX + 48], sr[TW_PATH_MAX + 48];
    staged_paths(n, sk, sr, sizeof sk);
    if (access(sk, F_OK) != 0) return store_rc;
    if (store_rc == 0) {
        /* The store is still in the old network: the join did not happen. */
        unlink(sk);
        unlink(sr);
        tw_warn("node", "an interrupted `twin join` did not complete; this node stays in its network");
        return 0;
    }
    int rc = finish_renames(n, err, errlen);
    if (rc || (rc = network_load(n, err, errlen))) return rc;
    tw_netid_derive(n->netid, n->netkey);
    tw_info("node", "finished an interrupted `twin join`");
    return tw_store_open(&n->store, n->cfg.data_dir, n->cfg.map_ceiling, n->netid, err, errlen);
}

typedef struct own_ctx {
    tw_node *n;
    size_t others;
    uint8_t (*ids)[TW_ID_LEN];
    size_t nids, cap;
} own_ctx;

static int own_slot(void *vctx, const char *kind, size_t kind_len, const uint8_t author[TW_KEY_LEN],
                    const char *slot, size_t slot_len, const uint8_t id[TW_ID_LEN], uint64_t ts, bool tombstone)
{
    own_ctx *c = vctx;
    if (memcmp(author, c->n->pk, TW_KEY_LEN) != 0) { c->others++; return 0; }
    void *p = tw_vec_room(c->ids, &c->cap, c->nids, TW_ID_LEN, 64);
    if (!p) return TW_ENOMEM;
    c->ids = p;
    memcpy(c->ids[c->nids++], id, TW_ID_LEN);
    return 0;
}

int tw_node_join(tw_node *n, const uint8_t netkey[TW_NETKEY_LEN], const uint8_t (*roots)[TW_KEY_LEN],
                 size_t nroots, char *err, size_t errlen)
{
    if (n->cfg.have_network_key || n->cfg.nroots)
        ERR(TW_EBUSY, "the config file sets %s; remove those lines (and restart twind) so that the invitation's "
            "network is used", n->cfg.have_network_key ? "network_key" : "root keys");
    if (nroots == 0 || nroots > TW_CONF_ROOTS_MAX) ERR(TW_EINVAL, "an invitation names 1 to %u root keys", TW_CONF_ROOTS_MAX);
    own_ctx oc = { .n = n };
    tw_arena a;
    tw_buf *envs = NULL;
    tw_put *puts = NULL;
    tw_entry *ents = NULL;
    tw_neg_item *old = NULL, *added = NULL;
    size_t nput = 0, nadded = 0;
    char sk[TW_PATH_MAX + 48], sr[TW_PATH_MAX + 48], text[TW_KEYTEXT_LEN + 1];
    uint8_t netid[TW_NETID_LEN];
    tw_arena_init(&a, 0);
    int rc = tw_store_scan_slots(n->store, NULL, own_slot, &oc);
    if (rc) { snprintf(err, errlen, "cannot read the store: %s", tw_strerror(rc)); goto done; }
    bool same = memcmp(netkey, n->netkey, TW_NETKEY_LEN) == 0;
    if (oc.others && !same) {
        rc = TW_EBUSY;
        snprintf(err, errlen, "this node holds %zu records of other nodes of its current network; a node joins "
                 "another network with a fresh data directory (twind --data-dir)", oc.others);
        goto done;
    }
    tw_netid_derive(netid, netkey);
    /* This node's own records, signed again for the new network (same
     * kind, slot, time and body: only the network id changes). */
    if (!(envs = calloc(oc.nids + 1, sizeof *envs)) || !(puts = calloc(oc.nids + 1, sizeof *puts)) ||
        !(ents = calloc(oc.nids + 1, sizeof *ents)) || !(old = calloc(oc.nids + 1, sizeof *old)) ||
        !(added = calloc(oc.nids + 1, sizeof *added))) {
        rc = TW_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < oc.nids && !same; i++) {
        tw_buf env;
        tw_entry e;
        tw_buf_init(&env);
        if ((rc = tw_store_get(n->store, oc.ids[i], &env)) == 0) {
            uint8_t *copy = tw_arena_alloc(&a, env.len);
            rc = copy ? 0 : TW_ENOMEM;
            if (copy) memcpy(copy, env.p, env.len);
            if (rc == 0) rc = tw_entry_parse(copy, env.len, &a, &e, NULL);
        }
        tw_buf_free(&env);
        if (rc == 0) {
            old[i].ts = e.ts;
            memcpy(old[i].id, e.id, TW_ID_LEN);
            rc = tw_entry_sign(&envs[nput], n->sk, netid, e.kind, e.kind_len, e.slot, e.slot_len, e.ts, &e.body);
        }
        if (rc == 0) rc = tw_entry_parse(envs[nput].p, envs[nput].len, &a, &ents[nput], NULL);
        if (rc) { snprintf(err, errlen, "cannot sign this node's records again: %s", tw_strerror(rc)); goto done; }
        puts[nput].e = &ents[nput];
        nput++;
    }
    staged_paths(n, sk, sr, sizeof sk);
    if (!same) {
        int fd = create_private(sk);
        char buf[256];
        tw_keytext_encode(text, TW_NETTEXT_PREFIX, netkey);
        int len = snprintf(buf, sizeof buf, "# twind network key: known to members only. Secret: keep mode 0600.\n%s\n", text);
        bool bad = fd < 0 || write(fd, buf, (size_t)len) != len || fsync(fd) != 0;
        if (fd >= 0) close(fd);
        sodium_memzero(buf, sizeof buf);
        sodium_memzero(text, sizeof text);
        if (bad) { rc = TW_EIO; snprintf(err, errlen, "cannot write %s: %s", sk, strerror(errno)); unlink(sk); goto done; }
    }
    if ((rc = tw_admit_write_roots(n, roots, nroots, same ? "" : TW_JOIN_SUFFIX, err, errlen))) { unlink(sk); goto done; }
    if (!same) {
        if ((rc = tw_store_rekey(n->store, netid, (const uint8_t (*)[TW_ID_LEN])oc.ids, oc.nids, puts, nput))) {
            unlink(sk);
            unlink(sr);
            snprintf(err, errlen, "cannot move the store to the new network, nothing changed: %s", tw_strerror(rc));
            goto done;
        }
        if ((rc = finish_renames(n, err, errlen))) goto done;
        memcpy(n->netkey, netkey, TW_NETKEY_LEN);
        memcpy(n->netid, netid, TW_NETID_LEN);
        /* Connections of the old network end; new ones use the new key. */
        tw_net_drop_all(n, "this node joined another network");
    }
    if ((rc = tw_admit_set_roots(n, roots, nroots))) { snprintf(err, errlen, "cannot compute admission: %s", tw_strerror(rc)); goto done; }
    for (size_t i = 0; i < nput; i++)
        if (tw_node_visible(n, n->pk)) { added[nadded].ts = ents[i].ts; memcpy(added[nadded++].id, ents[i].id, TW_ID_LEN); }
    tw_net_admission_changed(n, old, same ? 0 : oc.nids, added, nadded, true);
    tw_info("node", "joined network %s with %zu root key%s; %zu own records signed for it", same ? "(same key)" : "",
            nroots, nroots == 1 ? "" : "s", nput);
done:
    if (envs) for (size_t i = 0; i < oc.nids; i++) tw_buf_free(&envs[i]);
    free(envs);
    free(puts);
    free(ents);
    free(old);
    free(added);
    free(oc.ids);
    tw_arena_free(&a);
    return rc;
}

int tw_node_open(tw_node *n, uv_loop_t *loop, const tw_config *cfg, char *err, size_t errlen)
{
    struct stat st;
    char path[TW_PATH_MAX + 32];
    int rc;
    memset(n, 0, sizeof *n);
    n->loop = loop;
    n->cfg = *cfg;
    n->lock_fd = -1;
    n->started_ms = tw_now_ms();
    if (mkdir_p(cfg->data_dir, 0700) != 0)
        ERR(TW_EIO, "cannot create the data directory %s: %s", cfg->data_dir, strerror(errno));
    if (stat(cfg->data_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        ERR(TW_EIO, "%s is not a directory", cfg->data_dir);
    /* Whoever owns the directory can swap its files for links to files of
     * ours: twind (root included) works only in a directory of its own. */
    if (st.st_uid != geteuid())
        ERR(TW_EPERM, "the data directory %s is owned by uid %u, not by this user (uid %u); twind runs only on a "
            "data directory of its own user. Fix: run twind as that user, or use another --data-dir",
            cfg->data_dir, (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & 077)
        tw_warn("node", "data directory %s is accessible by other users (mode %03o); fix: chmod 700 %s",
                cfg->data_dir, (unsigned)(st.st_mode & 0777), cfg->data_dir);

    /* One twind per data directory: an advisory lock held for the life of
     * the process, released by the kernel even after kill -9.  Never
     * through a symbolic link: the pid is written into it. */
    snprintf(path, sizeof path, "%s/%s", cfg->data_dir, TW_LOCK_FILE);
    n->lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (n->lock_fd < 0 && errno == ELOOP)
        ERR(TW_EPERM, "%s is a symbolic link; twind follows no symbolic link in its data directory. "
            "Fix: remove it (twind creates the lock file itself)", path);
    if (n->lock_fd < 0) ERR(TW_EIO, "cannot open %s: %s", path, strerror(errno));
    if (fstat(n->lock_fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(n->lock_fd);
        n->lock_fd = -1;
        ERR(TW_EPERM, "%s is not a regular file of this user; remove it (twind creates the lock file itself)", path);
    }
    if (flock(n->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t r = pread(n->lock_fd, pid, sizeof pid - 1, 0);
        if (r > 0) pid[r] = 0;
        pid[strcspn(pid, "\n")] = 0;
        close(n->lock_fd);
        n->lock_fd = -1;
        ERR(TW_EBUSY, "another twind (pid %s) is already running on %s; stop it first or use another --data-dir",
            pid[0] ? pid : "unknown", cfg->data_dir);
    }
    char pid[32];
    int pl = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(n->lock_fd, 0) != 0 || pwrite(n->lock_fd, pid, (size_t)pl, 0) != pl)
        tw_warn("node", "cannot write the pid to %s", path);

    if ((rc = tw_identity_load(cfg->data_dir, n->sk, err, errlen))) goto fail;
    memcpy(n->pk, n->sk + 32, TW_KEY_LEN);
    tw_keytext_encode(n->keytext, TW_KEYTEXT_PREFIX, n->pk);
    tw_key_fingerprint(n->fingerprint, n->pk);
    if ((rc = network_load(n, err, errlen))) goto fail;
    tw_netid_derive(n->netid, n->netkey);
    rc = tw_store_open(&n->store, cfg->data_dir, cfg->map_ceiling, n->netid, err, errlen);
    if ((rc == 0 || rc == TW_ENETWORK) && (rc = join_recover(n, rc, err, errlen))) goto fail;
    if (rc) goto fail;
    if ((rc = tw_admit_open(n, err, errlen))) goto fail;
    return 0;
fail:
    tw_node_close(n);
    return rc;
}

void tw_node_close(tw_node *n)
{
    tw_admit_close(n);
    tw_store_close(n->store);
    n->store = NULL;
    if (n->lock_fd >= 0) close(n->lock_fd);
    n->lock_fd = -1;
    sodium_memzero(n->sk, sizeof n->sk);
    sodium_memzero(n->netkey, sizeof n->netkey);
}

/* Current version of one of our association's slots, parsed into a (if
 * present): the newest across its keys (this node's, its other devices',
 * its former keys'), so that this node signs above it and the slot's
 * newest version wins everywhere (PROTOCOL.md "Associations and their
 * keys").  Versions by a key cut off at their time do not count. */
static int current(tw_node *n, const tw_record_in *r, tw_arena *a, tw_buf *env, tw_entry *e,
                   uint64_t *ts)
{
    uint8_t keys[TW_IDENT_KEYS_SHOWN][TW_KEY_LEN], id[TW_ID_LEN], best[TW_ID_LEN];
    uint64_t bts = 0;
    bool have = false;
    size_t k = tw_admit_identity_keys(n, n->pk, keys, TW_IDENT_KEYS_SHOWN);
    bool mine = false;
    for (size_t i = 0; i < k; i++) mine |= memcmp(keys[i], n->pk, TW_KEY_LEN) == 0;
    if (!mine && k < TW_IDENT_KEYS_SHOWN) memcpy(keys[k++], n->pk, TW_KEY_LEN);
    for (size_t i = 0; i < k; i++) {
        uint64_t t;
        int rc = tw_store_slot(n->store, r->kind, r->kind_len, keys[i], r->slot, r->slot_len, id, &t);
        if (rc == TW_ENOTFOUND) continue;
        if (rc) return rc;
        if (memcmp(keys[i], n->pk, TW_KEY_LEN) && tw_admit_check_entry(n, keys[i], t, NULL)) continue;
        if (!have || tw_entry_cmp_version(t, id, bts, best) > 0) {
            memcpy(best, id, TW_ID_LEN);
            bts = t;
            have = true;
        }
    }
    if (!have) return TW_ENOTFOUND;
    *ts = bts;
    int rc;
    if ((rc = tw_store_get(n->store, best, env))) return rc;
    return tw_entry_parse(env->p, env->len, a, e, NULL);
}

int tw_node_write(tw_node *n, const tw_record_in *recs, size_t nrec, tw_write_result *res,
                  size_t *bad, char *err, size_t errlen)
{
    tw_arena a;
    tw_buf *envs = NULL;
    tw_entry *ents = NULL;
    tw_put *puts = NULL;
    size_t nput = 0;
    int rc = 0;
    tw_buf cur;
    tw_buf_init(&cur);
    tw_arena_init(&a, 0);
    *bad = 0;
    err[0] = 0;
    if (!(envs = calloc(nrec ? nrec : 1, sizeof *envs)) || !(ents = calloc(nrec ? nrec : 1, sizeof *ents)) ||
        !(puts = calloc(nrec ? nrec : 1, sizeof *puts))) { rc = TW_ENOMEM; snprintf(err, errlen, "out of memory"); goto done; }
    uint64_t now = tw_now_ms();
    for (size_t i = 0; i < nrec; i++) {
        const tw_record_in *r = &recs[i];
        char kind[TW_KIND_MAX + 1];
        *bad = i;
        memset(&res[i], 0, sizeof res[i]);
        /* The one record rule every door applies (publish, import, bundle,
         * peer); publishing refuses kinds this version does not know. */
        if ((rc = tw_schema_check_record(r->kind, r->kind_len, r->slot, r->slot_len, r->body, 0, err, errlen)))
            goto done;
        snprintf(kind, sizeof kind, "%.*s", (int)r->kind_len, r->kind);

        /* The slot's current version: in the store, or earlier in this batch. */
        tw_entry old;
        uint64_t old_ts = 0;
        bool have_old = false;
        for (size_t j = i; j-- > 0;) {
            if (envs[j].len && ents[j].kind_len == r->kind_len && ents[j].slot_len == r->slot_len &&
                memcmp(ents[j].kind, r->kind, r->kind_len) == 0 && memcmp(ents[j].slot, r->slot, r->slot_len) == 0) {
                old = ents[j];
                old_ts = old.ts;
                have_old = true;
                break;
            }
        }
        if (!have_old) {
            rc = current(n, r, &a, &cur, &old, &old_ts);
            if (rc == 0) {
                have_old = true;
                /* Keep the old envelope alive for the comparison below. */
                uint8_t *copy = tw_arena_alloc(&a, cur.len);
                if (!copy) { rc = TW_ENOMEM; snprintf(err, errlen, "out of memory"); goto done; }
                memcpy(copy, cur.p, cur.len);
                if ((rc = tw_entry_parse(copy, cur.len, &a, &old, NULL))) { snprintf(err, errlen, "stored entry unreadable"); goto done; }
            } else if (rc != TW_ENOTFOUND) {
                snprintf(err, errlen, "cannot read the store: %s", tw_strerror(rc));
                goto done;
            }
            rc = 0;
        }
        bool old_live = have_old && old.body.type == TW_MAP;
        if (!r->body && !old_live) {
            rc = TW_ENOTFOUND;
            snprintf(err, errlen, "%s %.*s: no such record of this node to delete", kind, (int)r->slot_len, r->slot);
            goto done;
        }
        if (r->body && old_live && tw_v_equal(r->body, &old.body)) {
            res[i].unchanged = true;
            memcpy(res[i].id, old.id, TW_ID_LEN);
            res[i].ts = old.ts;
            continue;
        }
        /* Never sign a timestamp at or below the slot's current one, even if
         * the clock has gone back. */
        uint64_t ts = now;
        if (have_old && ts <= old_ts) ts = old_ts + 1;
        /* The one stateful rule of every door: a key its association has
         * succeeded or revoked writes no more. */
        const char *cut = NULL;
        if ((rc = tw_admit_check_entry(n, n->pk, ts, &cut))) {
            snprintf(err, errlen, "this node's key no longer writes for its association: %s", cut);
            goto done;
        }
        tw_val nil = tw_v_nil();
        if ((rc = tw_entry_sign(&envs[i], n->sk, n->netid, r->kind, r->kind_len, r->slot, r->slot_len, ts,
                                r->body ? r->body : &nil))) {
            if (rc == TW_ETOOBIG)
                snprintf(err, errlen, "%s %.*s: record too large: its signed payload would exceed %u bytes",
                         kind, (int)r->slot_len, r->slot, TW_PAYLOAD_MAX);
            else
                snprintf(err, errlen, "cannot sign: %s", tw_strerror(rc));
            goto done;
        }
        if ((rc = tw_entry_parse(envs[i].p, envs[i].len, &a, &ents[i], NULL))) {
            snprintf(err, errlen, "internal error: own entry does not parse");
            rc = TW_EINTERNAL;
            goto done;
        }
        res[i].ts = ts;
        res[i].created = !old_live;
        memcpy(res[i].id, ents[i].id, TW_ID_LEN);
        puts[nput++].e = &ents[i];
    }
    *bad = 0;
    if (nput && (rc = tw_store_put_batch(n->store, puts, nput))) {
        if (rc == TW_EFULL) {
            char msg[TW_STORE_FULL_TEXT_MAX];
            tw_store_full_text(n->store, tw_store_put_need(n->store, puts, nput), msg, sizeof msg);
            snprintf(err, errlen, "%s; nothing was written", msg);
        } else {
            snprintf(err, errlen, "storage error, nothing was written: %s", tw_strerror(rc));
        }
        goto done;
    }
    for (size_t i = 0; i < nput; i++) {
        if (puts[i].result != 0) continue;
        tw_admit_stored(n, puts[i].e);
        tw_ops_stored(n, &puts[i]);
        if (n->on_stored) n->on_stored(n, NULL, puts[i].e, &puts[i]);
    }
    tw_admit_settle(n);
done:
    if (envs) for (size_t i = 0; i < nrec; i++) tw_buf_free(&envs[i]);
    free(envs);
    free(ents);
    free(puts);
    tw_buf_free(&cur);
    tw_arena_free(&a);
    return rc;
}
