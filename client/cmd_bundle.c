/*
 * twin bundle export|import: offline bundles of signed entries, to carry
 * updates between nodes that never connect (proto/PROTOCOL.md, "Offline
 * bundles").  twin reads and writes the file itself and moves its bytes
 * over the control socket in slices: the daemon may run sandboxed or as
 * another user, and never opens a path the caller names.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "twin/limits.h"
#include "twin/err.h"

/* Client-side limits are in include/twin/limits.h (TW_CLI_BUNDLE_*). */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* "YYYY-MM-DD", "YYYY-MM-DDTHH:MM" or "YYYY-MM-DDTHH:MM:SS" (a space for
 * the T and a final Z allowed), UTC, to ms since the epoch. */
static int parse_date(const char *s, uint64_t *ms)
{
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, se = 0, n = 0;
    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3) return TW_EINVAL;
    const char *r = s + n;
    if (*r == 'T' || *r == ' ') {
        int m = 0;
        if (sscanf(r + 1, "%2d:%2d%n", &h, &mi, &m) != 2) return TW_EINVAL;
        r += 1 + m;
        if (*r == ':') {
            if (sscanf(r + 1, "%2d%n", &se, &m) != 1) return TW_EINVAL;
            r += 1 + m;
        }
    }
    if (*r == 'Z') r++;
    if (*r || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return TW_EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    time_t t = timegm(&tm);
    if (t < 0) return TW_EINVAL;
    *ms = (uint64_t)t * 1000u;
    return 0;
}

static int bundle_export(tw_cli *cli, const char *file, const char *since, const char *author)
{
    uint64_t since_ms = 0;
    if (since && parse_date(since, &since_ms))
        return tw_cli_usage(cli->cmd, "--since: \"%s\" is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], UTC)", since);
    bool to_stdout = strcmp(file, "-") == 0;
    char tmp[TW_CLI_PATH_MAX];
    if (!to_stdout && (size_t)snprintf(tmp, sizeof tmp, "%s.part", file) >= sizeof tmp) return tw_cli_fail("%s: path too long", file);
    FILE *f = to_stdout ? stdout : fopen(tmp, "wb");
    if (!f) return tw_cli_fail("%s: %s", tmp, strerror(errno));
    tw_arena a;
    tw_val args, res;
    int exit = TW_EXIT_ERR;
    uint64_t token = 0, entries = 0, size = 0, written = 0;
    tw_arena_init(&a, 0);
    for (unsigned i = 0; i < TW_CLI_BUNDLE_SLICES_MAX; i++) {
        tw_kv kv[3];
        size_t n = 0;
        tw_arena_free(&a);
        tw_arena_init(&a, 0);
        if (i == 0) {
            if (since) kv[n++] = (tw_kv){ tw_v_cstr("since"), tw_v_uint(since_ms) };
            if (author) kv[n++] = (tw_kv){ tw_v_cstr("author"), tw_v_cstr(author) };
        } else {
            kv[n++] = (tw_kv){ tw_v_cstr("export"), tw_v_uint(token) };
        }
        if (tw_cli_map(&a, &args, kv, n) || tw_cli_call(cli, &a, "bundle_export", &args, &res, NULL)) goto out;
        const tw_val *data = tw_v_get(&res, "data"), *done = tw_v_get(&res, "done");
        token = tw_rec_uint(&res, "export");
        entries = tw_rec_uint(&res, "entries");
        size = tw_rec_uint(&res, "size");
        if (!data || data->type != TW_BIN || tw_rec_uint(&res, "offset") != written) { tw_cli_fail("malformed answer from twind"); goto out; }
        if (data->len && fwrite(data->v.s, 1, data->len, f) != data->len) { tw_cli_fail("%s: %s", to_stdout ? "stdout" : tmp, strerror(errno)); goto out; }
        written += data->len;
        if (done && done->type == TW_BOOL && done->v.b) break;
    }
    if (written != size) { tw_cli_fail("bundle incomplete: %" PRIu64 " of %" PRIu64 " bytes", written, size); goto out; }
    if (fflush(f) != 0 || (!to_stdout && fsync(fileno(f)) != 0)) { tw_cli_fail("%s: %s", to_stdout ? "stdout" : tmp, strerror(errno)); goto out; }
    if (!to_stdout) {
        int c = fclose(f);
        f = NULL;
        if (c != 0 || rename(tmp, file) != 0) { tw_cli_fail("%s: %s", file, strerror(errno)); goto out; }
    }
    if (cli->json) printf("{\"entries\": %" PRIu64 ", \"bytes\": %" PRIu64 "}\n", entries, written);
    else if (!to_stdout) printf("wrote %" PRIu64 " entr%s (%" PRIu64 " bytes) to %s\n", entries, entries == 1 ? "y" : "ies", written, file);
    exit = TW_EXIT_OK;
out:
    if (f && !to_stdout) { fclose(f); unlink(tmp); }
    tw_arena_free(&a);
    return exit;
}

static void print_report(const char *file, const tw_val *r)
{
    uint64_t ent = tw_rec_uint(r, "entries"), nw = tw_rec_uint(r, "new"), kn = tw_rec_uint(r, "known"),
             st = tw_rec_uint(r, "superseded"), rf = tw_rec_uint(r, "refused"), sk = tw_rec_uint(r, "skipped_bytes");
    size_t l;
    const char *trailer = tw_rec_str(r, "trailer", &l);
    const tw_val *tr = tw_v_get(r, "truncated"), *same = tw_v_get(r, "same_network");
    printf("%s: %" PRIu64 " entries: %" PRIu64 " new, %" PRIu64 " already known, %" PRIu64 " superseded, %" PRIu64 " refused\n",
           file, ent, nw, kn, st, rf);
    if (same && same->type == TW_BOOL && !same->v.b) printf("bundle made for another network\n");
    if (tr && tr->type == TW_BOOL && tr->v.b) printf("bundle cut short: its end is missing\n");
    if (sk) printf("damaged: %" PRIu64 " bytes skipped in %" PRIu64 " place%s\n", sk, tw_rec_uint(r, "skipped_regions"),
                   tw_rec_uint(r, "skipped_regions") == 1 ? "" : "s");
    if (l != 2 || memcmp(trailer, "ok", 2) != 0) printf("trailer: %.*s\n", (int)l, trailer);
    const tw_val *pr = tw_v_get(r, "problems");
    for (uint32_t i = 0; pr && pr->type == TW_ARR && i < pr->len; i++) {
        const char *why = tw_rec_str(&pr->v.arr[i], "reason", &l);
        printf("  at byte %" PRIu64 ": %.*s\n", tw_rec_uint(&pr->v.arr[i], "offset"), (int)l, why);
    }
    if (tw_rec_uint(r, "problems_more")) printf("  and %" PRIu64 " more\n", tw_rec_uint(r, "problems_more"));
}

static int bundle_import(tw_cli *cli, const char *file)
{
    char *data = NULL, err[512];
    size_t len = 0;
    if (tw_cli_read_file(file, TW_CLI_BUNDLE_MAX, &data, &len, err, sizeof err)) return tw_cli_fail("%s", err);
    tw_arena a;
    tw_val args, res;
    int exit = TW_EXIT_ERR;
    uint64_t token = 0;
    size_t off = 0;
    tw_arena_init(&a, 0);
    do {
        size_t n = len - off > TW_CLI_BUNDLE_SLICE ? TW_CLI_BUNDLE_SLICE : len - off;
        bool end = off + n == len;
        tw_kv kv[3];
        size_t k = 0;
        tw_arena_free(&a);
        tw_arena_init(&a, 0);
        if (off) kv[k++] = (tw_kv){ tw_v_cstr("import"), tw_v_uint(token) };
        kv[k++] = (tw_kv){ tw_v_cstr("data"), tw_v_bin(data + off, n) };
        kv[k++] = (tw_kv){ tw_v_cstr("end"), tw_v_bool(end) };
        if (tw_cli_map(&a, &args, kv, k) || tw_cli_call(cli, &a, "bundle_import", &args, &res, NULL)) goto out;
        token = tw_rec_uint(&res, "import");
        off += n;
    } while (off < len);
    /* Entries are verified and stored by the daemon's ingest pipeline;
     * the report is ready when it has decided every one. */
    uint64_t deadline = now_ms() + TW_CLI_TIMEOUT_MS;
    for (;;) {
        tw_kv kv[1] = { { tw_v_cstr("import"), tw_v_uint(token) } };
        tw_arena_free(&a);
        tw_arena_init(&a, 0);
        if (tw_cli_map(&a, &args, kv, 1) || tw_cli_call(cli, &a, "bundle_result", &args, &res, NULL)) goto out;
        const tw_val *done = tw_v_get(&res, "done");
        if (done && done->type == TW_BOOL && done->v.b) break;
        if (now_ms() > deadline) { tw_cli_fail("the import was not finished after %u s", TW_CLI_TIMEOUT_MS / 1000); goto out; }
        usleep(TW_CLI_BUNDLE_POLL_MS * 1000u);
    }
    if (cli->json) tw_out_json(&res);
    else print_report(file, &res);
    size_t l;
    const char *trailer = tw_rec_str(&res, "trailer", &l);
    bool intact = tw_rec_uint(&res, "refused") == 0 && tw_rec_uint(&res, "skipped_bytes") == 0 &&
                  l == 2 && memcmp(trailer, "ok", 2) == 0;
    exit = intact ? TW_EXIT_OK : TW_EXIT_ERR;
out:
    free(data);
    tw_arena_free(&a);
    return exit;
}

static int cmd_bundle(tw_cli *cli, int argc, char **argv)
{
    const char *since = NULL, *author = NULL;
    tw_opt opts[] = { { "since", 0, &since, NULL }, { "author", 0, &author, NULL }, { NULL, 0, NULL, NULL } };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_bundle, argc, argv, opts, 2, 2, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    if (strcmp(argv[0], "export") == 0) return bundle_export(cli, argv[1], since, author);
    if (strcmp(argv[0], "import") == 0) {
        if (since || author) return tw_cli_usage(&tw_cmd_bundle, "--since and --author are for export");
        return bundle_import(cli, argv[1]);
    }
    return tw_cli_usage(&tw_cmd_bundle, "expected: bundle export FILE or bundle import FILE");
}

const tw_cmd tw_cmd_bundle = {
    "bundle", "write or read an offline bundle of signed entries",
    "export FILE [--since DATE] [--author KEY] | import FILE",
    "export writes the node's entries (current versions and deletions) to FILE\n"
    "(\"-\" for stdout), through FILE.part renamed when complete.  --since DATE\n"
    "keeps entries signed at or after DATE (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS],\n"
    "UTC); --author KEY keeps one author's entries.\n\n"
    "import reads FILE (\"-\" for stdin): every entry is verified as one from a\n"
    "peer is (network, signature, schema, clock, trust) and stored if new.\n"
    "Importing twice stores nothing the second time.  A damaged or cut bundle\n"
    "imports its intact entries and reports the rest.  Each entry is stored\n"
    "atomically; the import as a whole is not.  Prints counts: new, already\n"
    "known, superseded, refused (with reasons).  Exit status 0 when the bundle\n"
    "was intact and nothing was refused, 1 otherwise.\n",
    cmd_bundle,
};
