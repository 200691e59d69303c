/*
 * twind: the registry sync daemon.  Start-up, flags, signals, shutdown.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <uv.h>

#include "twin/err.h"
#include "config.h"
#include "ctlsrv.h"
#include "http.h"
#include "log.h"
#include "net.h"
#include "node.h"
#include "ops.h"
#include "store.h"

static const char usage[] =
    "usage: twind [options]\n"
    "\n"
    "Runs a twind node: keeps this association's records and a replica of the\n"
    "registry, and answers the twin command on a control socket.\n"
    "\n"
    "  -d, --data-dir DIR     data directory (default $XDG_DATA_HOME/twind or\n"
    "                         ~/.local/share/twind); created 0700 on first start\n"
    "  -c, --config FILE      read settings from FILE (see twind.conf(5))\n"
    "  -l, --log-level LEVEL  error, warn, info (default) or debug\n"
    "      --listen HOST:PORT accept peer connections at this address\n"
    "      --peer HOST:PORT   dial this peer (repeatable)\n"
    "      --http IP:PORT|off serve the web interface here (default 127.0.0.1:8427)\n"
    "  -V, --version          print the version and exit\n"
    "  -h, --help             print this help and exit\n"
    "\n"
    "Flags override the config file.  SIGTERM or SIGINT stop the node cleanly.\n"
    "Exit status: 0 clean stop, 1 error at start-up, 2 bad usage.\n";

static uv_signal_t sig_term, sig_int, sig_hup;
static uv_timer_t log_timer;          /* writes rate-limit summaries (log.h) */
static int exit_code = 0;

static void sig_closed(uv_handle_t *h) { (void)h; }

static void net_stopped(tw_node *n);

static void ctl_stopped(tw_node *n)
{
    tw_net_stop(n, net_stopped);
}

static void net_stopped(tw_node *n)
{
    uv_close((uv_handle_t *)&sig_term, sig_closed);
    uv_close((uv_handle_t *)&sig_int, sig_closed);
    uv_close((uv_handle_t *)&sig_hup, sig_closed);
    uv_close((uv_handle_t *)&log_timer, sig_closed);
}

static void on_log_timer(uv_timer_t *t) { tw_log_flush(0); }

/* Start-up failed after the control socket opened: close what is open. */
static void ctl_stopped_early(tw_node *n)
{
    tw_net_stop(n, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    tw_node *n = h->data;
    if (signum == SIGHUP) { tw_info("main", "SIGHUP ignored (restart twind to reload its configuration)"); return; }
    if (n->stopping) return;
    n->stopping = true;
    tw_info("main", "%s received; stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    tw_ops_stop(n);
    tw_http_stop(n);
    tw_ctlsrv_stop(n, ctl_stopped);
}

static void walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    tw_err("main", "handle of type %s still open at exit", uv_handle_type_name(uv_handle_get_type(h)));
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "data-dir", required_argument, NULL, 'd' }, { "config", required_argument, NULL, 'c' },
        { "log-level", required_argument, NULL, 'l' }, { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' }, { "listen", required_argument, NULL, 'L' },
        { "peer", required_argument, NULL, 'P' }, { "http", required_argument, NULL, 'H' },
        { NULL, 0, NULL, 0 },
    };
    tw_store_heap_setup();
    const char *data_dir = NULL, *config = NULL, *level = NULL, *listen = NULL, *http = NULL;
    const char *peers[TW_CONF_PEERS_MAX];
    unsigned npeers = 0;
    int c;
    while ((c = getopt_long(argc, argv, "d:c:l:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data_dir = optarg; break;
        case 'c': config = optarg; break;
        case 'l': level = optarg; break;
        case 'L': listen = optarg; break;
        case 'H': http = optarg; break;
        case 'P':
            if (npeers == TW_CONF_PEERS_MAX) { fprintf(stderr, "twind: more than %u --peer flags\n", TW_CONF_PEERS_MAX); return 2; }
            peers[npeers++] = optarg;
            break;
        case 'V': printf("twind %s\n", TW_VERSION); return 0;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "twind: unexpected argument \"%s\"\n%s", argv[optind], usage);
        return 2;
    }
    if (sodium_init() < 0) { fprintf(stderr, "twind: libsodium failed to initialise\n"); return 1; }
    signal(SIGPIPE, SIG_IGN);

    tw_config cfg;
    char err[1024];
    tw_config_defaults(&cfg);
    if (config && tw_config_load(&cfg, config, err, sizeof err)) {
        fprintf(stderr, "twind: %s\n", err);
        return 1;
    }
    if (level && tw_config_set(&cfg, "log_level", level, err, sizeof err)) {
        fprintf(stderr, "twind: --log-level: %s\n", err);
        return 2;
    }
    if (data_dir && tw_config_set(&cfg, "data_dir", data_dir, err, sizeof err)) {
        fprintf(stderr, "twind: --data-dir: %s\n", err);
        return 2;
    }
    if (listen && tw_config_set(&cfg, "listen", listen, err, sizeof err)) {
        fprintf(stderr, "twind: --listen: %s\n", err);
        return 2;
    }
    if (http && tw_config_set(&cfg, "http", http, err, sizeof err)) {
        fprintf(stderr, "twind: --http: %s\n", err);
        return 2;
    }
    for (unsigned i = 0; i < npeers; i++)
        if (tw_config_set(&cfg, "peer", peers[i], err, sizeof err)) {
            fprintf(stderr, "twind: --peer: %s\n", err);
            return 2;
        }
    if (!cfg.data_dir[0] && tw_config_default_data_dir(cfg.data_dir, sizeof cfg.data_dir)) {
        fprintf(stderr, "twind: no data directory: set --data-dir, or HOME or XDG_DATA_HOME\n");
        return 1;
    }
    tw_log_set_level(cfg.log_level);

    uv_loop_t *loop = uv_default_loop();
    static tw_node node;
    if (tw_node_open(&node, loop, &cfg, err, sizeof err)) {
        tw_err("main", "%s", err);
        return 1;
    }
    if (tw_ctlsrv_start(&node, err, sizeof err)) {
        tw_err("main", "%s", err);
        uv_run(loop, UV_RUN_DEFAULT);
        tw_node_close(&node);
        return 1;
    }
    if (tw_net_start(&node, err, sizeof err)) {
        tw_err("main", "%s", err);
        exit_code = 1;
        node.stopping = true;
        tw_ctlsrv_stop(&node, ctl_stopped_early);
        uv_run(loop, UV_RUN_DEFAULT);
        uv_loop_close(loop);
        tw_node_close(&node);
        return 1;
    }
    if (tw_http_start(&node, err, sizeof err)) {
        tw_err("main", "%s", err);
        exit_code = 1;
        node.stopping = true;
        tw_http_stop(&node);
        tw_ctlsrv_stop(&node, ctl_stopped_early);
        uv_run(loop, UV_RUN_DEFAULT);
        uv_loop_close(loop);
        tw_node_close(&node);
        return 1;
    }
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_init(loop, &sig_hup);
    sig_term.data = sig_int.data = sig_hup.data = &node;
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_hup, on_signal, SIGHUP);
    uv_timer_init(loop, &log_timer);
    uv_timer_start(&log_timer, on_log_timer, 1000, 1000);
    tw_ops_start(&node);

    tw_store_info info;
    tw_store_get_info(node.store, &info);
    tw_info("main", "twind %s started: node %s, data %s, %llu entries, control socket %s/twind.sock",
            TW_VERSION, node.keytext, cfg.data_dir, (unsigned long long)info.entries, cfg.data_dir);

    uv_run(loop, UV_RUN_DEFAULT);

    int rc = uv_loop_close(loop);
    if (rc != 0) {
        uv_walk(loop, walk_cb, NULL);
        tw_err("main", "event loop not closed cleanly: %s", uv_strerror(rc));
        exit_code = 1;
    }
    tw_node_close(&node);
    tw_ops_free_cache();
    tw_log_flush(1);
    tw_info("main", "stopped");
    return exit_code;
}
