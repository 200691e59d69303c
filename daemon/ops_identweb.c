/*
 * Planning and making a key rotation from the web interface
 * (proto/PROTOCOL.md "Operations", key_plan_sealed and key_rotate_sealed;
 * "Web interface" says why the web may do this and what it may not).
 *
 * twin plans with `twin key plan FILE`: it makes the next key itself, seals
 * it under a passphrase it stretches itself, and gives twind only the public
 * key (key_plan).  A browser can do neither, so these two ops do it in
 * twind: key_plan_sealed makes the next key, seals it into an identity
 * backup file in the data directory (never anywhere else, and never in the
 * answer) and only then publishes the commitment through key_plan;
 * key_rotate_sealed takes such a file's bytes back from the page with its
 * passphrase and hands them to key_rotate.
 *
 * The cost: Argon2id runs on the event loop (about a second, with the
 * parameters `twin key export` writes), so twind answers nobody else for
 * that long.  These are rare, deliberate steps taken by the committee, so a
 * second's pause is accepted; a file asking for more work than twind itself
 * writes is refused before any is done.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/ident.h"
#include "twin/keyfile.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "admit.h"
#include "log.h"
#include "ops.h"

#define FAIL(code, ...) do { snprintf(e->msg, sizeof e->msg, __VA_ARGS__); return (code); } while (0)

static int arg_pass(const tw_val *args, const char **p, size_t *l, tw_op_err *e)
{
    int rc = tw_op_arg_str(args, "passphrase", true, p, l, e);
    if (rc) return rc;
    if (*l < TW_KEYFILE_PASS_MIN)
        FAIL(TW_EINVAL, "passphrase: too short, use at least %u characters (a few words are best)", TW_KEYFILE_PASS_MIN);
    if (*l > TW_KEYFILE_PASS_MAX) FAIL(TW_ETOOBIG, "passphrase: longer than %u bytes", TW_KEYFILE_PASS_MAX);
    return 0;
}

/* Writes the whole file at path, new (never over another file), mode 0600,
 * flushed to disk before it is named: a crash leaves the file whole or
 * absent, never half a key. */
static int write_new(const char *path, const uint8_t *buf, size_t len, tw_op_err *e)
{
    char tmp[TW_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (access(path, F_OK) == 0) FAIL(TW_EEXIST, "%.300s exists already: move it away first", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) FAIL(TW_EIO, "cannot write %.300s: %s", tmp, strerror(errno));
    ssize_t w = write(fd, buf, len);
    int err = w == (ssize_t)len ? 0 : (w < 0 ? errno : ENOSPC);
    if (!err && fsync(fd)) err = errno;
    if (close(fd) && !err) err = errno;
    if (!err && link(tmp, path)) err = errno;   /* link, not rename: never replaces a file */
    unlink(tmp);
    if (err) FAIL(TW_EIO, "cannot write %.300s: %s", path, strerror(err));
    return 0;
}

int tw_ops_key_plan_sealed(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    const char *pass;
    size_t pl;
    int rc;
    if ((rc = arg_pass(args, &pass, &pl, e))) return rc;
    /* Refusals that need no work come first (key_plan checks them again):
     * a file is written only when the commitment can follow. */
    tw_ident_key mine;
    uint8_t have[32];
    tw_ident_lookup(tw_admit_ident(n), n->pk, &mine);
    if (mine.role == TW_IDENT_DEVICE)
        FAIL(TW_EPERM, "key plan: this node is a device of its association; only the node holding the association's "
                       "key can plan its next key");
    if (!mine.current) FAIL(TW_EPERM, "key plan: this node's key is no longer its association's key");
    int c = tw_ident_commitment(tw_admit_ident(n), n->pk, have);
    if (c == 2) FAIL(TW_EPERM, "this key has two commitments already: planned rotation is blocked; ask the "
                               "association's voucher for a recovery");
    if (c == 1) FAIL(TW_EEXIST, "this association has planned its next key already; a plan cannot be changed "
                                "(rotate to it with the file it wrote)");

    uint8_t seed[TW_KEYFILE_SEED_LEN], pk[TW_KEY_LEN], sk[crypto_sign_SECRETKEYBYTES], salt[TW_KEYFILE_SALT_LEN],
        nonce[TW_KEYFILE_NONCE_LEN], fkey[TW_KEYFILE_KEY_LEN], file[TW_KEYFILE_SIZE];
    randombytes_buf(seed, sizeof seed);
    randombytes_buf(salt, sizeof salt);
    randombytes_buf(nonce, sizeof nonce);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(sk, sizeof sk);
    rc = tw_keyfile_derive(fkey, pass, pl, salt, TW_KEYFILE_OPSLIMIT, TW_KEYFILE_MEMLIMIT);
    if (!rc) rc = tw_keyfile_seal(file, fkey, seed, salt, TW_KEYFILE_OPSLIMIT, TW_KEYFILE_MEMLIMIT, nonce);
    sodium_memzero(fkey, sizeof fkey);
    sodium_memzero(seed, sizeof seed);
    if (rc) FAIL(rc, "cannot seal the next key: %s", tw_strerror(rc));

    char fpr[TW_FPR_CHARS + 1], path[TW_PATH_MAX], nt[TW_KEYTEXT_LEN + 1];
    tw_key_fingerprint(fpr, pk);
    tw_keytext_encode(nt, TW_KEYTEXT_PREFIX, pk);
    if (snprintf(path, sizeof path, "%s/next-key-%s.twinkey", n->cfg.data_dir, fpr) >= (int)sizeof path)
        FAIL(TW_ETOOBIG, "the data directory's path is too long for the key file");
    if ((rc = write_new(path, file, sizeof file, e))) return rc;

    /* The commitment, through key_plan itself. */
    tw_arena a;
    tw_val pa;
    tw_arena_init(&a, 0);
    if ((rc = tw_v_map(&a, &pa, 1))) { tw_arena_free(&a); unlink(path); FAIL(rc, "out of memory"); }
    pa.v.map[0].k = tw_v_cstr("next");
    pa.v.map[0].v = tw_v_str(nt, TW_KEYTEXT_LEN);
    tw_buf res;
    tw_buf_init(&res);
    rc = tw_ops_key_plan(n, &pa, &res, e);
    tw_buf_free(&res);
    tw_arena_free(&a);
    if (rc) { unlink(path); return rc; }
    char hex[65];
    uint8_t h[32];
    tw_ident_commit_of(h, pk);
    tw_hex_encode(hex, h, 32);
    tw_info("ident", "planned the next key of this association; its file is %s", path);
    if ((rc = tw_mpw_map(out, 3)) || (rc = tw_mpw_kv_cstr(out, "commit", hex)) ||
        (rc = tw_mpw_kv_cstr(out, "next", nt)) || (rc = tw_mpw_kv_cstr(out, "file", path)))
        return rc;
    return 0;
}

int tw_ops_key_rotate_sealed(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    const char *hx, *pass;
    size_t hl, pl;
    int rc;
    if ((rc = tw_op_arg_str(args, "file_hex", true, &hx, &hl, e))) return rc;
    if ((rc = arg_pass(args, &pass, &pl, e))) return rc;
    uint8_t file[TW_KEYFILE_SIZE], fkey[TW_KEYFILE_KEY_LEN], have[32];
    tw_keyfile kf;
    /* Only to a planned key: a key the page brings that nobody committed to
     * would let whoever holds a web session move the association to a key
     * of their own making (key_rotate, denied to the web, would allow it). */
    if (tw_ident_commitment(tw_admit_ident(n), n->pk, have) == 0)
        FAIL(TW_EPERM, "no next key is planned for this key: the web interface moves only to a planned key "
                       "(plan it first; twin key rotate does the rest)");
    if (hl != 2 * sizeof file || tw_hex_decode(file, sizeof file, hx, hl) ||
        tw_keyfile_decode(&kf, file, sizeof file))
        FAIL(TW_EINVAL, "file: not an identity backup file (the next key's file is %u bytes)", TW_KEYFILE_SIZE);
    if (kf.opslimit > TW_KEYFILE_OPSLIMIT || kf.memlimit > TW_KEYFILE_MEMLIMIT)
        FAIL(TW_ETOOBIG, "file: asks for more work to open than twind writes (%u passes, %u MiB at most here); "
                         "rotate with twin key rotate --to FILE", TW_KEYFILE_OPSLIMIT, TW_KEYFILE_MEMLIMIT >> 20);
    if ((rc = tw_keyfile_derive(fkey, pass, pl, kf.salt, kf.opslimit, kf.memlimit)))
        FAIL(rc, "cannot derive the key from the passphrase: %s", tw_strerror(rc));
    tw_arena a;
    tw_val ra;
    tw_arena_init(&a, 0);
    if ((rc = tw_v_map(&a, &ra, 2))) { tw_arena_free(&a); sodium_memzero(fkey, sizeof fkey); FAIL(rc, "out of memory"); }
    ra.v.map[0].k = tw_v_cstr("file");
    ra.v.map[0].v = tw_v_bin(file, sizeof file);
    ra.v.map[1].k = tw_v_cstr("key");
    ra.v.map[1].v = tw_v_bin(fkey, sizeof fkey);
    rc = tw_ops_key_rotate(n, &ra, out, e);
    sodium_memzero(fkey, sizeof fkey);
    tw_arena_free(&a);
    return rc;
}
