/*
 * twin ui: a one-time login address for the node's web interface
 * (proto/PROTOCOL.md, "Web interface").  The token in it works once and for
 * at most five minutes; the browser exchanges it for a session cookie.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "twin/err.h"
#include "twin/limits.h"

/* Runs xdg-open URL when a graphical session is there, without waiting for
 * the browser; the URL goes in argv, never through a shell. */
static void open_browser(const char *url)
{
    const char *d = getenv("DISPLAY"), *w = getenv("WAYLAND_DISPLAY");
    if ((!d || !d[0]) && (!w || !w[0])) return;
    if (access("/usr/bin/xdg-open", X_OK) != 0) return;
    pid_t p = fork();
    if (p == 0) {
        if (fork() == 0) {
            freopen("/dev/null", "r", stdin);
            freopen("/dev/null", "w", stdout);
            freopen("/dev/null", "w", stderr);
            execl("/usr/bin/xdg-open", "xdg-open", url, (char *)NULL);
            _exit(127);
        }
        _exit(0);
    }
    if (p > 0) waitpid(p, NULL, 0);
}

static int cmd_ui(tw_cli *cli, int argc, char **argv)
{
    const char *expires = NULL;
    bool no_open = false;
    tw_opt opts[] = { { "expires", 0, &expires, NULL }, { "no-open", 0, NULL, &no_open }, { NULL, 0, NULL, NULL } };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_ui, argc, argv, opts, 0, 0, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    unsigned long ttl = TW_HTTP_TOKEN_TTL_S;
    if (expires) {
        char *end;
        ttl = strtoul(expires, &end, 10);
        if (*end || !expires[0] || ttl < 1 || ttl > TW_HTTP_TOKEN_TTL_S)
            return tw_cli_usage(&tw_cmd_ui, "--expires must be a number of seconds from 1 to %u", TW_HTTP_TOKEN_TTL_S);
    }
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_kv kv[1] = { { tw_v_cstr("ttl_s"), tw_v_uint(ttl) } };
    tw_val args, res;
    int exit = TW_EXIT_ERR;
    if (tw_cli_map(&a, &args, kv, 1) == 0 && tw_cli_call(cli, &a, "ui_login", &args, &res, NULL) == 0) {
        size_t ul;
        const char *url = tw_rec_str(&res, "url", &ul);
        if (cli->json) {
            exit = tw_out_json(&res) == 0 ? TW_EXIT_OK : TW_EXIT_ERR;
        } else if (url) {
            printf("%.*s\n", (int)ul, url);
            fprintf(stderr, "Open this address in a browser on this machine; it works once, within %lu seconds.\n", ttl);
            exit = TW_EXIT_OK;
        }
        if (url && !no_open) {
            char *u = strndup(url, ul);
            if (u) { fflush(stdout); open_browser(u); free(u); }
        }
    }
    tw_arena_free(&a);
    return exit;
}

const tw_cmd tw_cmd_ui = {
    "ui", "print a login address for the web interface (and open it)", "[--expires SECONDS] [--no-open]",
    "Asks twind for a one-time login address of its web interface and prints it:\n"
    "  http://127.0.0.1:8427/login#TOKEN\n"
    "The token works once, within 300 seconds (--expires SECONDS: fewer); it is\n"
    "exchanged for a session cookie.  When a graphical session is there\n"
    "($DISPLAY or $WAYLAND_DISPLAY) and xdg-open exists, the address is opened in\n"
    "the browser too, unless --no-open.  From another machine, tunnel the port:\n"
    "  ssh -L 8427:127.0.0.1:8427 HOST   and open the printed address there.\n",
    cmd_ui,
};
