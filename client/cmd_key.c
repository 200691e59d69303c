/*
 * twin key export|import: back up the node's identity in a file encrypted
 * under a passphrase, and restore it (include/twin/keyfile.h; the format and
 * the reasons for this design are in proto/PROTOCOL.md, "Identity backup
 * files").
 *
 * export asks the running daemon, which holds the secret, over the control
 * socket (op key_export).  twin stretches the passphrase itself, so the slow,
 * memory-hard derivation never stalls the daemon's event loop and the
 * passphrase never leaves this process; the daemon seals its seed under the
 * derived key and twin checks that the file opens before writing it.
 *
 * import writes <data dir>/identity.key itself: the daemon reads its
 * identity once, at start, so a restore is for a stopped node, and twin
 * holds the data directory's lock (as twind does) while it writes, so that
 * no twind can start, or be running, on that directory meanwhile.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "cli.h"
#include "twin/err.h"
#include "twin/keyfile.h"
#include "twin/keytext.h"
#include "twin/limits.h"

/* The daemon's file names and identity format (daemon/node.h and
 * tw_identity_load() in daemon/node.c); twin does not link the daemon. */
#define IDENTITY_FILE "identity.key"
#define LOCK_FILE     "twind.lock"
#define IDENTITY_HEADER \
    "# twind node identity: Ed25519 seed (hex). Secret: keep mode 0600, back it up with 'twin key export'.\n"
#define PASS_ENV      "TWIN_PASSPHRASE"
/* Bytes read from a key file: enough to see that a longer one is not ours. */
#define KEYFILE_READ_MAX (TW_KEYFILE_SIZE + 1u)

typedef struct pass_buf {
    char s[TW_KEYFILE_PASS_MAX + 2];    /* room for a newline and a NUL */
    size_t len;
} pass_buf;

/* ---------------------------------------------------------- passphrases */

/* The terminal as found, restored on every way out, a signal included:
 * a passphrase prompt interrupted by ^C must not leave echo off. */
static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

static void restore_tty(void)
{
    if (tio_saved) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
    tio_saved = 0;
}

static void on_signal(int sig)
{
    restore_tty();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* One line from the terminal without echo; TW_ETOOBIG if it is too long. */
static int read_tty_line(const char *prompt, pass_buf *p)
{
    struct termios tio;
    struct sigaction sa, old_int, old_term, old_hup;
    int rc = 0;
    if (tcgetattr(STDIN_FILENO, &saved_tio) != 0) return TW_EIO;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    tio = saved_tio;
    tio.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    tio.c_lflag |= ICANON;
    tio_saved = 1;
    /* Echo goes off before the prompt shows: what is typed once the prompt
     * is visible is never echoed nor flushed away. */
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio) != 0) rc = TW_EIO;
    fputs(prompt, stderr);
    fflush(stderr);
    /* read(2), not stdio, so that no copy stays in a stdio buffer. */
    p->len = 0;
    while (rc == 0) {
        char c;
        ssize_t r = read(STDIN_FILENO, &c, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0 || c == '\n') break;
        if (p->len >= TW_KEYFILE_PASS_MAX) { rc = TW_ETOOBIG; continue; }
        p->s[p->len++] = c;
    }
    p->s[p->len] = 0;
    restore_tty();
    fputc('\n', stderr);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    return rc;
}

/* The first line of a file given with --passphrase-file; a regular file
 * others may read is refused, as a key file is. */
static int read_pass_file(const char *path, pass_buf *p)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tw_cli_fail("%s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) { close(fd); return tw_cli_fail("%s: %s", path, strerror(errno)); }
    if (S_ISREG(st.st_mode) && (st.st_mode & 077)) {
        close(fd);
        return tw_cli_fail("%s is accessible by other users (mode %03o) and holds a passphrase; "
                           "fix: chmod 600 %s", path, (unsigned)(st.st_mode & 0777), path);
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, p->s + n, sizeof p->s - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { close(fd); return tw_cli_fail("%s: %s", path, strerror(errno)); }
        if (r == 0) break;
        n += (size_t)r;
        if (memchr(p->s, '\n', n) || n == sizeof p->s - 1) break;
    }
    close(fd);
    p->s[n] = 0;
    p->len = strcspn(p->s, "\n");
    if (p->len && p->s[p->len - 1] == '\r') p->len--;
    if (p->len > TW_KEYFILE_PASS_MAX)
        return tw_cli_fail("%s: the passphrase is longer than %u bytes", path, TW_KEYFILE_PASS_MAX);
    p->s[p->len] = 0;
    return TW_EXIT_OK;
}

/*
 * The passphrase: --passphrase-file, else $TWIN_PASSPHRASE, else the
 * terminal (asked twice when confirm).  Never from the command line, where
 * other users see it in the process list.  Returns an exit status.
 */
static int get_pass(const char *pass_file, const char *file, bool confirm, pass_buf *p)
{
    const char *env = getenv(PASS_ENV);
    int rc;
    if (pass_file) {
        if ((rc = read_pass_file(pass_file, p)) != TW_EXIT_OK) return rc;
    } else if (env) {
        p->len = strlen(env);
        if (p->len > TW_KEYFILE_PASS_MAX)
            return tw_cli_fail("$%s is longer than %u bytes", PASS_ENV, TW_KEYFILE_PASS_MAX);
        memcpy(p->s, env, p->len + 1);
    } else if (isatty(STDIN_FILENO)) {
        char prompt[TW_CLI_PATH_MAX + 64];
        snprintf(prompt, sizeof prompt, "Passphrase for %s: ", file);
        if ((rc = read_tty_line(prompt, p)) == TW_ETOOBIG)
            return tw_cli_fail("the passphrase is longer than %u bytes", TW_KEYFILE_PASS_MAX);
        if (rc) return tw_cli_fail("cannot read a passphrase from the terminal: %s", strerror(errno));
        if (confirm) {
            pass_buf again;
            rc = read_tty_line("The same passphrase again: ", &again);
            bool same = rc == 0 && again.len == p->len && sodium_memcmp(again.s, p->s, p->len) == 0;
            sodium_memzero(&again, sizeof again);
            if (!same) return tw_cli_fail("the two passphrases differ; nothing was written");
        }
    } else {
        return tw_cli_fail("no passphrase: standard input is not a terminal; set $%s or use "
                           "--passphrase-file FILE", PASS_ENV);
    }
    if (confirm && p->len < TW_KEYFILE_PASS_MIN)
        return tw_cli_fail("the passphrase is too short: use at least %u characters (a few words "
                           "are easier to remember than symbols)", TW_KEYFILE_PASS_MIN);
    return TW_EXIT_OK;
}

/* ----------------------------------------------------------------- files */

/* Renames tmp to path unless path exists: renameat2(RENAME_NOREPLACE), or
 * where the file system lacks it, link() and unlink().  EEXIST if path
 * exists. */
static int rename_noreplace(const char *tmp, const char *path)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
    if (link(tmp, path) != 0) return -1;
    unlink(tmp);
    return 0;
}

/* Makes a rename durable: the directory entry is on disk too. */
static void sync_dir_of(const char *path)
{
    char dir[TW_CLI_PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) { fsync(fd); close(fd); }
}

/* Writes data to a new file beside path (mode 0600) and fsyncs it; the
 * caller renames it.  tmp gets its name. */
static int write_temp(const char *path, const void *data, size_t len, char *tmp, size_t tmplen)
{
    if ((size_t)snprintf(tmp, tmplen, "%s.tmp.XXXXXX", path) >= tmplen) { errno = ENAMETOOLONG; return -1; }
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) return -1;
    /* mkostemp creates with 0600 already; fchmod states it whatever the umask. */
    int bad = fchmod(fd, 0600) != 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) != 0;
    int e = errno;
    if (close(fd) != 0 && !bad) { bad = 1; e = errno; }
    if (bad) { unlink(tmp); errno = e; return -1; }
    return 0;
}

/* -------------------------------------------------------------- export */

static int key_export(tw_cli *cli, const char *file, const char *pass_file)
{
    struct stat st;
    pass_buf p;
    uint8_t salt[TW_KEYFILE_SALT_LEN], key[TW_KEYFILE_KEY_LEN], seed[TW_KEYFILE_SEED_LEN];
    char tmp[TW_CLI_PATH_MAX + 16], kt[TW_KEYTEXT_LEN + 1], fpr[TW_FPR_CHARS + 1];
    tw_arena a;
    tw_val args, res;
    int exit = TW_EXIT_ERR, rc;

    if (strcmp(file, "-") == 0)
        return tw_cli_usage(cli->cmd, "key export writes a file, not standard output");
    if (lstat(file, &st) == 0)
        return tw_cli_fail("%s exists; twin key export never overwrites a file: choose another name "
                           "or remove it first", file);
    memset(&p, 0, sizeof p);
    if ((rc = get_pass(pass_file, file, true, &p)) != TW_EXIT_OK) { sodium_memzero(&p, sizeof p); return rc; }
    tw_arena_init(&a, 0);
    randombytes_buf(salt, sizeof salt);
    rc = tw_keyfile_derive(key, p.s, p.len, salt, TW_KEYFILE_OPSLIMIT, TW_KEYFILE_MEMLIMIT);
    sodium_memzero(&p, sizeof p);
    if (rc) { tw_cli_fail("cannot derive the key from the passphrase: %s", tw_strerror(rc)); goto out; }

    tw_kv kv[4] = {
        { tw_v_cstr("key"), tw_v_bin(key, sizeof key) },
        { tw_v_cstr("salt"), tw_v_bin(salt, sizeof salt) },
        { tw_v_cstr("opslimit"), tw_v_uint(TW_KEYFILE_OPSLIMIT) },
        { tw_v_cstr("memlimit"), tw_v_uint(TW_KEYFILE_MEMLIMIT) },
    };
    if (tw_cli_map(&a, &args, kv, 4) || tw_cli_call(cli, &a, "key_export", &args, &res, NULL)) goto out;
    const tw_val *data = tw_v_get(&res, "file");
    size_t nl;
    const char *node = tw_rec_str(&res, "node", &nl);
    if (!data || data->type != TW_BIN || data->len != TW_KEYFILE_SIZE) {
        tw_cli_fail("malformed key_export answer from twind");
        goto out;
    }
    /* A backup is only as good as its restore: open it with the key now,
     * and check that it holds the key of the node that answered. */
    tw_keyfile kf;
    if ((rc = tw_keyfile_decode(&kf, (const uint8_t *)data->v.s, data->len)) ||
        (rc = tw_keyfile_open(seed, &kf, key))) {
        tw_cli_fail("twind's backup does not open with the key it was given: %s", tw_strerror(rc));
        goto out;
    }
    sodium_memzero(seed, sizeof seed);
    tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, kf.pk);
    tw_key_fingerprint(fpr, kf.pk);
    if (nl != strlen(kt) || memcmp(node, kt, nl) != 0) {
        tw_cli_fail("twind's backup holds key %s, not the node's key %.*s", kt, (int)nl, node);
        goto out;
    }

    if (write_temp(file, data->v.s, data->len, tmp, sizeof tmp) != 0) {
        tw_cli_fail("cannot write %s: %s", file, strerror(errno));
        goto out;
    }
    if (rename_noreplace(tmp, file) != 0) {
        int e = errno;
        unlink(tmp);
        if (e == EEXIST) tw_cli_fail("%s exists (it appeared meanwhile); nothing was overwritten", file);
        else tw_cli_fail("cannot write %s: %s", file, strerror(e));
        goto out;
    }
    sync_dir_of(file);
    /* Some file systems (FAT on a USB stick) have no modes and show every
     * file as the mount options say; import will ask for 0600 again. */
    if (stat(file, &st) == 0 && (st.st_mode & 077))
        fprintf(stderr, "twin: warning: the file system shows %s with mode %03o (it ignores modes); "
                "copy it to a safe place and chmod 600 it before importing\n", file,
                (unsigned)(st.st_mode & 0777));
    if (cli->json) {
        printf("{\n  \"file\": \"");
        for (const char *c = file; *c; c++)
            if (*c == '"' || *c == '\\') printf("\\%c", *c);
            else if ((unsigned char)*c < 0x20) printf("\\u%04x", (unsigned char)*c);
            else putchar(*c);
        printf("\",\n  \"node\": \"%s\",\n  \"fingerprint\": \"%s\",\n  \"bytes\": %u,\n"
               "  \"opslimit\": %u,\n  \"memlimit\": %u\n}\n",
               kt, fpr, TW_KEYFILE_SIZE, TW_KEYFILE_OPSLIMIT, TW_KEYFILE_MEMLIMIT);
    } else {
        printf("wrote the identity of node %s (%s) to %s,\n"
               "encrypted under your passphrase (Argon2id, %u MiB, %u passes).\n"
               "Keep the passphrase apart from the file.  To restore, with twind stopped:\n"
               "  twin key import %s --data-dir DIR\n",
               kt, fpr, file, TW_KEYFILE_MEMLIMIT >> 20, TW_KEYFILE_OPSLIMIT, file);
    }
    exit = TW_EXIT_OK;
out:
    sodium_memzero(key, sizeof key);
    sodium_memzero(seed, sizeof seed);
    tw_arena_free(&a);
    return exit;
}

/* -------------------------------------------------------------- import */

/* The public key of an identity.key already there, to name the identity an
 * import would replace.  TW_EINVAL if it holds no seed. */
static int existing_identity(const char *path, uint8_t pk[32])
{
    char line[256];
    uint8_t seed[32], sk[64];
    int rc = TW_EINVAL;
    FILE *f = fopen(path, "re");
    if (!f) return TW_EIO;
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        if (!n || line[0] == '#') continue;
        if (tw_hex_decode(seed, sizeof seed, line, n) == 0) {
            crypto_sign_seed_keypair(pk, sk, seed);
            rc = 0;
        }
        break;
    }
    fclose(f);
    sodium_memzero(line, sizeof line);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
    return rc;
}

static int mkdir_p(const char *path)
{
    char t[TW_CLI_PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof t) { errno = ENAMETOOLONG; return -1; }
    memcpy(t, path, n + 1);
    for (char *c = t + 1; *c; c++) {
        if (*c != '/') continue;
        *c = 0;
        if (mkdir(t, 0700) != 0 && errno != EEXIST) return -1;
        *c = '/';
    }
    return mkdir(t, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static const char *decode_problem(int rc)
{
    switch (rc) {
    case TW_ETYPE:    return "is not a twin key backup";
    case TW_EVERSION: return "is a key backup of another version; this twin reads version 1";
    case TW_ETRUNC:   return "is cut short: a key backup has 138 bytes";
    case TW_ETOOBIG:  return "asks for Argon2id work beyond the bounds twin accepts (damaged, or not made by twin)";
    default:          return "is damaged";
    }
}

static int key_import(tw_cli *cli, const char *file, const char *pass_file, bool force)
{
    char dir[TW_CLI_PATH_MAX], idpath[TW_CLI_PATH_MAX + 32], lockpath[TW_CLI_PATH_MAX + 32];
    char tmp[TW_CLI_PATH_MAX + 64], oldpath[TW_CLI_PATH_MAX + 64], kt[TW_KEYTEXT_LEN + 1], fpr[TW_FPR_CHARS + 1];
    char text[sizeof IDENTITY_HEADER + 2 * TW_KEYFILE_SEED_LEN + 2];
    uint8_t buf[KEYFILE_READ_MAX], seed[TW_KEYFILE_SEED_LEN], oldpk[32];
    struct stat st;
    pass_buf p;
    tw_keyfile kf;
    int exit = TW_EXIT_ERR, rc, lock_fd = -1;
    bool replacing = false;

    /* Everything that needs no passphrase is checked first, so that a
     * refusal costs neither a prompt nor a second of key derivation. */
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tw_cli_fail("%s: %s", file, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { close(fd); return tw_cli_fail("%s is not a regular file", file); }
    if (st.st_mode & 077) {
        close(fd);
        return tw_cli_fail("%s is accessible by other users (mode %03o); it holds your node's secret key, "
                           "encrypted. Fix: chmod 600 %s (and keep the file where only you can read it)",
                           file, (unsigned)(st.st_mode & 0777), file);
    }
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof buf - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { close(fd); return tw_cli_fail("%s: %s", file, strerror(errno)); }
        if (r == 0 || (len += (size_t)r) == sizeof buf) break;
    }
    close(fd);
    if ((rc = tw_keyfile_decode(&kf, buf, len))) return tw_cli_fail("%s %s", file, decode_problem(rc));
    tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, kf.pk);
    tw_key_fingerprint(fpr, kf.pk);

    if (cli->data_dir) snprintf(dir, sizeof dir, "%s", cli->data_dir);
    else if (tw_cli_default_data_dir(dir, sizeof dir)) return tw_cli_fail("no data directory: use --data-dir DIR");
    if (mkdir_p(dir) != 0) return tw_cli_fail("cannot create the data directory %s: %s", dir, strerror(errno));
    snprintf(idpath, sizeof idpath, "%s/%s", dir, IDENTITY_FILE);
    snprintf(lockpath, sizeof lockpath, "%s/%s", dir, LOCK_FILE);
    /* twind holds this lock for its whole life; holding it here until the
     * identity is written keeps a twind from starting on the old one. */
    lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0) return tw_cli_fail("cannot open %s: %s", lockpath, strerror(errno));
    if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t r = pread(lock_fd, pid, sizeof pid - 1, 0);
        if (r > 0) pid[r] = 0;
        pid[strcspn(pid, "\n")] = 0;
        tw_cli_fail("twind (pid %s) is running on %s; stop it first: it reads its identity only at start",
                    pid[0] ? pid : "unknown", dir);
        goto out;
    }
    if (lstat(idpath, &st) == 0) {
        rc = existing_identity(idpath, oldpk);
        if (rc == 0 && sodium_memcmp(oldpk, kf.pk, 32) == 0) {
            if (cli->json) printf("{\n  \"node\": \"%s\",\n  \"fingerprint\": \"%s\",\n  \"changed\": false\n}\n", kt, fpr);
            else printf("%s already holds node %s (%s); nothing to do\n", idpath, kt, fpr);
            exit = TW_EXIT_OK;
            goto out;
        }
        if (!force) {
            char other[TW_KEYTEXT_LEN + 1] = "an unreadable key";
            if (rc == 0) tw_keytext_encode(other, TW_KEYTEXT_PREFIX, oldpk);
            tw_cli_fail("%s exists and holds another identity (%s); importing would replace this node's "
                        "identity. Back it up first (twin key export), then use --force: the old file "
                        "is kept beside it", idpath, other);
            goto out;
        }
        replacing = true;
    } else if (errno != ENOENT) {
        tw_cli_fail("cannot stat %s: %s", idpath, strerror(errno));
        goto out;
    }

    memset(&p, 0, sizeof p);
    if ((rc = get_pass(pass_file, file, false, &p)) != TW_EXIT_OK) { sodium_memzero(&p, sizeof p); exit = rc; goto out; }
    rc = tw_keyfile_unlock(seed, buf, len, p.s, p.len);
    sodium_memzero(&p, sizeof p);
    if (rc == TW_EDECRYPT) { tw_cli_fail("wrong passphrase or damaged file: %s", file); goto out; }
    if (rc == TW_EKEY) { tw_cli_fail("%s is damaged: the key inside is not the key %s it names", file, kt); goto out; }
    if (rc == TW_ENOMEM) {
        tw_cli_fail("cannot allocate the %llu MiB the key derivation of %s needs",
                    (unsigned long long)(kf.memlimit >> 20), file);
        goto out;
    }
    if (rc) { tw_cli_fail("%s: %s", file, tw_strerror(rc)); goto out; }

    memcpy(text, IDENTITY_HEADER, sizeof IDENTITY_HEADER - 1);
    tw_hex_encode(text + sizeof IDENTITY_HEADER - 1, seed, sizeof seed);
    sodium_memzero(seed, sizeof seed);
    size_t tl = strlen(text);
    text[tl++] = '\n';
    int wr = write_temp(idpath, text, tl, tmp, sizeof tmp);
    sodium_memzero(text, sizeof text);
    if (wr != 0) { tw_cli_fail("cannot write %s: %s", idpath, strerror(errno)); goto out; }
    if (replacing) {
        /* The old identity stays beside the new one: a mistaken --force can
         * be undone by hand. */
        snprintf(oldpath, sizeof oldpath, "%s.replaced-%lld", idpath, (long long)time(NULL));
        if (link(idpath, oldpath) != 0) {
            tw_cli_fail("cannot keep the old identity as %s: %s; nothing was changed", oldpath, strerror(errno));
            unlink(tmp);
            goto out;
        }
        if (rename(tmp, idpath) != 0) {
            tw_cli_fail("cannot write %s: %s", idpath, strerror(errno));
            unlink(tmp);
            goto out;
        }
    } else if (rename_noreplace(tmp, idpath) != 0) {
        tw_cli_fail("cannot write %s: %s", idpath, strerror(errno));
        unlink(tmp);
        goto out;
    }
    sync_dir_of(idpath);
    if (cli->json) {
        printf("{\n  \"node\": \"%s\",\n  \"fingerprint\": \"%s\",\n  \"changed\": true", kt, fpr);
        if (replacing) printf(",\n  \"replaced\": \"%s\"", strrchr(oldpath, '/') + 1);
        printf("\n}\n");
    } else {
        printf("restored node %s (%s) into %s\n", kt, fpr, idpath);
        if (replacing) printf("the identity it replaces is kept as %s\n", oldpath);
        printf("Start twind on %s to use it.  The network key and settings are not part of\n"
               "the backup: keep network.key and twind.conf, or join the network again.\n", dir);
    }
    exit = TW_EXIT_OK;
out:
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(buf, sizeof buf);
    if (lock_fd >= 0) close(lock_fd);
    return exit;
}

/* -------------------------------------------------------------- succession */

/* twin key plan FILE: a new key pair made here, sealed into FILE under a
 * passphrase (the key_export format), and only its commitment published:
 * the next key stays offline until twin key rotate --to FILE. */
static int key_plan(tw_cli *cli, const char *file, const char *pass_file)
{
    struct stat st;
    pass_buf p;
    uint8_t salt[TW_KEYFILE_SALT_LEN], key[TW_KEYFILE_KEY_LEN], seed[TW_KEYFILE_SEED_LEN], pk[32], sk[64],
        nonce[TW_KEYFILE_NONCE_LEN], out[TW_KEYFILE_SIZE];
    char tmp[TW_CLI_PATH_MAX + 16], kt[TW_KEYTEXT_LEN + 1];
    tw_arena a;
    tw_val args, res;
    int exit = TW_EXIT_ERR, rc;
    if (lstat(file, &st) == 0) return tw_cli_fail("%s exists; twin key plan never overwrites a file", file);
    memset(&p, 0, sizeof p);
    if ((rc = get_pass(pass_file, file, true, &p)) != TW_EXIT_OK) { sodium_memzero(&p, sizeof p); return rc; }
    tw_arena_init(&a, 0);
    randombytes_buf(seed, sizeof seed);
    randombytes_buf(salt, sizeof salt);
    randombytes_buf(nonce, sizeof nonce);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(sk, sizeof sk);
    rc = tw_keyfile_derive(key, p.s, p.len, salt, TW_KEYFILE_OPSLIMIT, TW_KEYFILE_MEMLIMIT);
    sodium_memzero(&p, sizeof p);
    if (rc) { tw_cli_fail("cannot derive the key from the passphrase: %s", tw_strerror(rc)); goto out; }
    if ((rc = tw_keyfile_seal(out, key, seed, salt, TW_KEYFILE_OPSLIMIT, TW_KEYFILE_MEMLIMIT, nonce))) {
        tw_cli_fail("cannot seal the key: %s", tw_strerror(rc));
        goto out;
    }
    /* The file first: a commitment to a key nobody kept would block planned
     * rotation for good. */
    if (write_temp(file, (const char *)out, sizeof out, tmp, sizeof tmp) != 0 || rename_noreplace(tmp, file) != 0) {
        tw_cli_fail("cannot write %s: %s", file, strerror(errno));
        unlink(tmp);
        goto out;
    }
    sync_dir_of(file);
    tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, pk);
    tw_kv kv[1] = { { tw_v_cstr("next"), tw_v_cstr(kt) } };
    if (tw_cli_map(&a, &args, kv, 1) || tw_cli_call(cli, &a, "key_plan", &args, &res, NULL)) {
        fprintf(stderr, "twin: %s holds a key no commitment names; remove it and try again\n", file);
        goto out;
    }
    if (cli->json) {
        exit = tw_out_json(&res) == 0 ? TW_EXIT_OK : TW_EXIT_ERR;
        goto out;
    }
    printf("committed this association to its next key %s;\n"
           "the key is in %s, encrypted under your passphrase.  Keep it away from this\n"
           "machine (a thief of this node cannot then redirect the association).\n"
           "To move to it: twin key rotate --to %s\n", kt, file, file);
    exit = TW_EXIT_OK;
out:
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(key, sizeof key);
    sodium_memzero(out, sizeof out);
    tw_arena_free(&a);
    return exit;
}

static int key_rotate(tw_cli *cli, const char *file, const char *pass_file)
{
    uint8_t buf[KEYFILE_READ_MAX], key[TW_KEYFILE_KEY_LEN];
    tw_arena a;
    tw_val args, res;
    int exit = TW_EXIT_ERR, rc;
    size_t len = 0;
    tw_arena_init(&a, 0);
    tw_kv kv[2] = { { tw_v_cstr("file"), tw_v_nil() }, { tw_v_cstr("key"), tw_v_nil() } };
    if (file) {
        struct stat st;
        tw_keyfile kf;
        pass_buf p;
        int fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) { tw_arena_free(&a); return tw_cli_fail("%s: %s", file, strerror(errno)); }
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { close(fd); tw_arena_free(&a); return tw_cli_fail("%s is not a regular file", file); }
        for (;;) {
            ssize_t r = read(fd, buf + len, sizeof buf - len);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0 || (len += (size_t)r) == sizeof buf) break;
        }
        close(fd);
        if ((rc = tw_keyfile_decode(&kf, buf, len))) { tw_arena_free(&a); return tw_cli_fail("%s %s", file, decode_problem(rc)); }
        memset(&p, 0, sizeof p);
        if ((rc = get_pass(pass_file, file, false, &p)) != TW_EXIT_OK) { sodium_memzero(&p, sizeof p); tw_arena_free(&a); return rc; }
        rc = tw_keyfile_derive(key, p.s, p.len, kf.salt, kf.opslimit, kf.memlimit);
        sodium_memzero(&p, sizeof p);
        if (rc) { tw_cli_fail("cannot derive the key from the passphrase: %s", tw_strerror(rc)); goto out; }
        kv[0].v = tw_v_bin(buf, len);
        kv[1].v = tw_v_bin(key, sizeof key);
    }
    if (tw_cli_map(&a, &args, kv, 2) || tw_cli_call(cli, &a, "key_rotate", &args, &res, NULL)) goto out;
    if (cli->json) {
        exit = tw_out_json(&res) == 0 ? TW_EXIT_OK : TW_EXIT_ERR;
        goto out;
    }
    size_t pl, kl, nl;
    const char *prev = tw_rec_str(&res, "previous", &pl), *now = tw_rec_str(&res, "key", &kl),
               *note = tw_rec_str(&res, "note", &nl);
    printf("this association moved from %.*s\nto %.*s, which this node signs with from now on.\n"
           "Everything the old key wrote stays the association's; its later entries are refused.\n",
           (int)pl, prev, (int)kl, now);
    if (nl) printf("note: %.*s\n", (int)nl, note);
    exit = TW_EXIT_OK;
out:
    sodium_memzero(key, sizeof key);
    sodium_memzero(buf, sizeof buf);
    tw_arena_free(&a);
    return exit;
}

static int key_recover(tw_cli *cli, const char *lost, const char *to, const char *from)
{
    uint64_t from_ms = 0;
    if (!to) return tw_cli_usage(&tw_cmd_key, "key recover LOSTKEY needs --to NEWKEY: the association's new key");
    if (from && tw_cli_parse_time_ms(from, &from_ms))
        return tw_cli_usage(&tw_cmd_key, "--from: \"%s\" is not a time (\"YYYY-MM-DD HH:MM\" UTC or ms since 1970)", from);
    tw_arena a;
    tw_val args, res;
    tw_arena_init(&a, 0);
    tw_kv kv[3] = { { tw_v_cstr("key"), tw_v_cstr(lost) }, { tw_v_cstr("next"), tw_v_cstr(to) },
                    { tw_v_cstr("from_ms"), from ? tw_v_uint(from_ms) : tw_v_nil() } };
    int exit = TW_EXIT_ERR;
    if (tw_cli_map(&a, &args, kv, 3) == 0 && tw_cli_call(cli, &a, "key_recover", &args, &res, NULL) == 0) {
        if (cli->json) {
            exit = tw_out_json(&res) == 0 ? TW_EXIT_OK : TW_EXIT_ERR;
        } else {
            const tw_val *c = tw_v_get(&res, "counts");
            char when[32];
            tw_out_time(when, sizeof when, tw_rec_uint(&res, "from"));
            printf("recovered: entries of %s dated from %s UTC on are refused everywhere this record reaches;\n"
                   "%s is the association's key now%s\n", lost, when, to,
                   c && c->type == TW_BOOL && !c->v.b ? " (NOT counted here: see twin device list on its node)" : "");
            exit = TW_EXIT_OK;
        }
    }
    tw_arena_free(&a);
    return exit;
}

static int cmd_key(tw_cli *cli, int argc, char **argv)
{
    const char *pass_file = NULL, *to = NULL, *from = NULL;
    bool force = false;
    const tw_opt opts[] = { { "passphrase-file", 0, &pass_file, NULL }, { "force", 0, NULL, &force },
                            { "to", 0, &to, NULL }, { "from", 0, &from, NULL }, { NULL, 0, NULL, NULL } };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_key, argc, argv, opts, 1, 2, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    if (sodium_init() < 0) return tw_cli_fail("libsodium failed to initialise");
    if (strcmp(argv[0], "rotate") == 0) {
        if (npos != 1) return tw_cli_usage(&tw_cmd_key, "key rotate takes no argument: the planned key is --to FILE");
        return key_rotate(cli, to, pass_file);
    }
    if (npos != 2) return tw_cli_usage(&tw_cmd_key, "expected: key export|import|plan FILE, key rotate, or key recover LOSTKEY --to NEWKEY");
    if (strcmp(argv[0], "plan") == 0) return key_plan(cli, argv[1], pass_file);
    if (strcmp(argv[0], "recover") == 0) return key_recover(cli, argv[1], to, from);
    if (strcmp(argv[0], "export") == 0) {
        if (force) return tw_cli_usage(&tw_cmd_key, "--force is for import; export never overwrites a file");
        return key_export(cli, argv[1], pass_file);
    }
    if (strcmp(argv[0], "import") == 0) return key_import(cli, argv[1], pass_file, force);
    return tw_cli_usage(&tw_cmd_key, "expected: key export FILE or key import FILE");
}

const tw_cmd tw_cmd_key = {
    "key", "back up or restore the node's identity; plan, rotate or recover an association's key",
    "export FILE [--passphrase-file F] | import FILE [--data-dir DIR] [--force] [--passphrase-file F]\n"
    "       | plan FILE [--passphrase-file F] | rotate [--to FILE] [--passphrase-file F]\n"
    "       | recover LOSTKEY --to NEWKEY [--from TIME]",
    "export asks the running twind for its identity (secret key) and writes it\n"
    "to FILE (mode 0600) encrypted under a passphrase: Argon2id (256 MiB, 3\n"
    "passes, about a second) and XChaCha20-Poly1305.  FILE must not exist.\n\n"
    "import restores FILE into DIR/identity.key (the --data-dir, else the\n"
    "default data directory).  twind must not be running on DIR: it reads its\n"
    "identity at start.  FILE must not be readable by others (chmod 600).  An\n"
    "existing identity.key with another key is refused unless --force; the old\n"
    "file is then kept as identity.key.replaced-TIME.  The network key and\n"
    "settings are not in the backup.\n\n"
    "The passphrase is the first line of --passphrase-file F (mode 0600) if\n"
    "given, else $TWIN_PASSPHRASE if set, else read from the terminal without\n"
    "echo (asked twice on export); never from the command line.  An export\n"
    "passphrase has at least 8 characters.\n\n"
    "plan FILE makes the association's next key here, writes it to FILE (the\n"
    "export format) and publishes only a commitment to it (keyplan): keep FILE\n"
    "away from this machine.  A commitment cannot be changed; once one exists,\n"
    "only a rotation to that key counts.\n\n"
    "rotate moves the association to its next key: the planned one with --to\n"
    "FILE (required when a commitment exists), else a key made here.  The old\n"
    "key signs the succession; this node signs with the new key from then on\n"
    "(connections are made again).  Everything the old key wrote stays the\n"
    "association's; its later entries are refused.\n\n"
    "recover LOSTKEY --to NEWKEY, on the node of the association that vouched\n"
    "for LOSTKEY's association (or of a root), moves that association to NEWKEY\n"
    "(the key of its new node, from twin status there): entries of LOSTKEY\n"
    "dated from --from (default now) on are refused everywhere; earlier ones\n"
    "stay.  It outranks any rotation the lost key signs.\n\n"
    "  --passphrase-file F   read the passphrase from F (scripts)\n"
    "  --force               import over another identity (kept beside it)\n"
    "  --to FILE|NEWKEY      rotate: the planned key's file; recover: the new key\n"
    "  --from TIME           recover from this time: \"YYYY-MM-DD HH:MM\" (UTC) or ms\n",
    cmd_key,
};
