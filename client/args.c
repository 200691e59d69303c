/*
 * Argument parsing shared by all subcommands, the socket path rule, and
 * small helpers for messages and files.
 *
 * Global options (--json, --data-dir, --socket) are accepted both before
 * and after the subcommand name, so `twin list group --json` works as well
 * as `twin --json list group`.  Each subcommand passes its own option table;
 * anything that is not an option is positional, and "--" ends options so
 * that a search text may begin with a dash.
 */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "twin/ctl.h"
#include "twin/err.h"

void tw_cli_init(tw_cli *cli, bool tty, const char *columns_env)
{
    memset(cli, 0, sizeof *cli);
    cli->tty = tty;
    cli->columns = TW_CLI_COLUMNS_DEFAULT;
    if (columns_env && *columns_env) {
        char *end;
        errno = 0;
        unsigned long c = strtoul(columns_env, &end, 10);
        if (errno == 0 && *end == '\0' && c >= 20 && c <= 10000) cli->columns = (unsigned)c;
    }
}

int tw_cli_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("twin: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return TW_EXIT_ERR;
}

int tw_cli_usage(const tw_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("twin: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (cmd) {
        fprintf(stderr, "usage: twin %s %s\n", cmd->name, cmd->usage);
        fprintf(stderr, "Try 'twin %s --help' for more.\n", cmd->name);
    } else {
        fputs("usage: twin [--data-dir DIR | --socket PATH] [--json] SUBCOMMAND [ARGS...]\n"
              "Try 'twin help' for the list of subcommands.\n", stderr);
    }
    return TW_EXIT_USAGE;
}

void tw_cli_print_help(const tw_cmd *cmd)
{
    printf("usage: twin %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
    if (cmd->help && *cmd->help) printf("\n%s", cmd->help);
    printf("\nGlobal options (before or after the subcommand):\n"
           "  --data-dir DIR   data directory of twind (socket DIR/%s)\n"
           "  --socket PATH    control socket of twind\n"
           "  --json           machine-readable JSON output\n"
           "  -h, --help       this help\n", TW_CTL_SOCKET_NAME);
}

static const tw_opt global_opts[] = {
    { "data-dir", 0, NULL, NULL },
    { "socket", 0, NULL, NULL },
    { "json", 0, NULL, NULL },
    { "help", 'h', NULL, NULL },
    { NULL, 0, NULL, NULL },
};

/* Index into global_opts or -1; the global table's targets live in cli. */
static int global_index(const char *name, size_t len, char short_name)
{
    for (int i = 0; global_opts[i].name; i++) {
        if (short_name ? global_opts[i].short_name == short_name
                       : (strlen(global_opts[i].name) == len &&
                          memcmp(global_opts[i].name, name, len) == 0))
            return i;
    }
    return -1;
}

static const tw_opt *find_opt(const tw_opt *opts, const char *name, size_t len, char short_name)
{
    for (size_t i = 0; opts && opts[i].name; i++) {
        if (short_name ? opts[i].short_name == short_name
                       : (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0))
            return &opts[i];
    }
    return NULL;
}

/*
 * Handles one option at argv[*i].  Returns TW_CLI_CONTINUE, or an exit
 * status.  *help is set for --help, which is answered after the whole line
 * has been read, so that a usage error elsewhere does not print help.
 */
static int one_option(tw_cli *cli, const tw_cmd *cmd, const tw_opt *opts, int argc,
                      char **argv, int *i, bool *help)
{
    const char *a = argv[*i];
    const char *name, *val = NULL;
    size_t len;
    char sn = 0;
    if (a[1] == '-') {
        name = a + 2;
        const char *eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        if (eq) val = eq + 1;
    } else {
        if (a[2] != '\0') return tw_cli_usage(cmd, "unknown option %s", a);
        sn = a[1];
        name = a + 1;
        len = 1;
    }
    const tw_opt *o = find_opt(opts, name, len, sn);
    int g = o ? -1 : global_index(name, len, sn);
    if (!o && g < 0) return tw_cli_usage(cmd, "unknown option %s", a);
    bool takes_arg = o ? o->arg != NULL : (g == 0 || g == 1);
    if (!takes_arg) {
        if (val) return tw_cli_usage(cmd, "option --%.*s takes no argument", (int)len, name);
        if (o) *o->flag = true;
        else if (g == 2) cli->json = true;
        else *help = true;
        return TW_CLI_CONTINUE;
    }
    if (!val) {
        if (*i + 1 >= argc) return tw_cli_usage(cmd, "option %s needs an argument", a);
        val = argv[++*i];
    }
    if (o) *o->arg = val;
    else if (g == 0) cli->data_dir = val;
    else cli->socket = val;
    return TW_CLI_CONTINUE;
}

int tw_cli_parse(tw_cli *cli, const tw_cmd *cmd, int argc, char **argv,
                 const tw_opt *opts, int min_pos, int max_pos, int *npos)
{
    int n = 0;
    bool help = false, dashdash = false;
    cli->cmd = cmd;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!dashdash && strcmp(a, "--") == 0) { dashdash = true; continue; }
        if (!dashdash && a[0] == '-' && a[1] != '\0') {
            int rc = one_option(cli, cmd, opts, argc, argv, &i, &help);
            if (rc != TW_CLI_CONTINUE) return rc;
            continue;
        }
        argv[n++] = a;   /* n <= i, so nothing unread is overwritten */
    }
    *npos = n;
    if (help) { tw_cli_print_help(cmd); return TW_EXIT_OK; }
    if (n < min_pos) return tw_cli_usage(cmd, "missing argument");
    if (max_pos >= 0 && n > max_pos) return tw_cli_usage(cmd, "unexpected argument '%s'", argv[max_pos]);
    return TW_CLI_CONTINUE;
}

int tw_cli_globals(tw_cli *cli, int argc, char **argv, int *first)
{
    bool help = false;
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0') break;
        if (strcmp(a, "--") == 0) { i++; break; }
        int rc = one_option(cli, NULL, NULL, argc, argv, &i, &help);
        if (rc != TW_CLI_CONTINUE) return rc;
    }
    *first = help ? -1 : i;
    return TW_CLI_CONTINUE;
}

int tw_cli_default_data_dir(char *out, size_t outlen)
{
    const char *xdg = getenv("XDG_DATA_HOME");
    int k;
    /* The XDG rules say a relative XDG_DATA_HOME is to be ignored. */
    if (xdg && xdg[0] == '/') {
        k = snprintf(out, outlen, "%s/twind", xdg);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home) {
            struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home) return TW_ENOTFOUND;
        k = snprintf(out, outlen, "%s/.local/share/twind", home);
    }
    return (k < 0 || (size_t)k >= outlen) ? TW_ETOOBIG : 0;
}

int tw_cli_socket_path(const tw_cli *cli, char *out, size_t outlen)
{
    const char *env = getenv("TWIN_SOCKET");
    int k;
    if (cli->socket) k = snprintf(out, outlen, "%s", cli->socket);
    else if (cli->data_dir) k = snprintf(out, outlen, "%s/%s", cli->data_dir, TW_CTL_SOCKET_NAME);
    else if (env && *env) k = snprintf(out, outlen, "%s", env);
    else {
        char dir[TW_CLI_PATH_MAX];
        int rc = tw_cli_default_data_dir(dir, sizeof dir);
        if (rc != 0) return rc;
        k = snprintf(out, outlen, "%s/%s", dir, TW_CTL_SOCKET_NAME);
    }
    return (k < 0 || (size_t)k >= outlen) ? TW_ETOOBIG : 0;
}

int tw_cli_read_file(const char *path, size_t max, char **data, size_t *len,
                     char *err, size_t errlen)
{
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return TW_EIO;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    int rc = 0;
    if (!buf) { rc = TW_ENOMEM; goto out; }
    for (;;) {
        if (n == cap) {
            if (cap > max) break;
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) { rc = TW_ENOMEM; goto out; }
            buf = nb;
            cap = ncap;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = TW_EIO;
    } else if (n > max) {
        snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
        rc = TW_ETOOBIG;
    }
out:
    if (!is_stdin) fclose(f);
    if (rc != 0) { free(buf); if (rc == TW_ENOMEM) snprintf(err, errlen, "%s: out of memory", path); return rc; }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

void tw_cli_close(tw_cli *cli)
{
    if (cli->conn) tw_conn_close(cli->conn);
    cli->conn = NULL;
}

int tw_cli_map(tw_arena *a, tw_val *out, const tw_kv *kv, size_t n)
{
    int rc = tw_v_map(a, out, (uint32_t)n);
    if (rc != 0) return rc;
    for (size_t i = 0; i < n; i++) out->v.map[i] = kv[i];
    return 0;
}
