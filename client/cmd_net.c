/*
 * twin peers and twin sync: the node's connections, its known peer
 * addresses, and reconciliation on demand.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "twin/limits.h"
#include "twin/err.h"




static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t rec_uint(const tw_val *m, const char *k)
{
    const tw_val *v = tw_v_get(m, k);
    return v && v->type == TW_UINT ? v->v.u : 0;
}

static void ago(char *out, size_t n, uint64_t ms, uint64_t now)
{
    if (!ms) { snprintf(out, n, "never"); return; }
    uint64_t s = now > ms ? (now - ms) / 1000 : 0;
    if (s < 120) snprintf(out, n, "%" PRIu64 " s ago", s);
    else if (s < 7200) snprintf(out, n, "%" PRIu64 " min ago", s / 60);
    else if (s < 172800) snprintf(out, n, "%" PRIu64 " h ago", s / 3600);
    else snprintf(out, n, "%" PRIu64 " days ago", s / 86400);
}

static int show_peers(tw_cli *cli, const tw_val *res)
{
    const tw_val *conns = tw_v_get(res, "connections"), *known = tw_v_get(res, "known");
    uint64_t now = now_ms();
    int rc = 0;
    if (conns && conns->type == TW_ARR && conns->len) {
        static const char *const heads[] = { "PEER", "ADDRESS", "DIRECTION", "STATE", "SINCE", "IN", "OUT",
                                             "CLOCK", "TO RECEIVE", "REFUSED", "LAST SYNC" };
        tw_table t;
        if ((rc = tw_table_init(&t, 11, heads))) return rc;
        for (size_t c = 5; c <= 9; c++) tw_table_align(&t, c, TW_COL_RIGHT | TW_COL_NOCUT);
        for (uint32_t i = 0; i < conns->len && rc == 0; i++) {
            const tw_val *p = &conns->v.arr[i];
            size_t l;
            char since[32], in[32], out[32], clock[32], torecv[32], last[32];
            const char *fp = tw_rec_str(p, "fingerprint", &l);
            rc |= tw_table_add(&t, l ? fp : "-", l ? l : 1);
            const char *s = tw_rec_str(p, "address", &l);
            rc |= tw_table_add(&t, s, l);
            s = tw_rec_str(p, "direction", &l);
            rc |= tw_table_add(&t, s, l);
            s = tw_rec_str(p, "state", &l);
            const tw_val *sy = tw_v_get(p, "syncing");
            bool syncing = sy && sy->type == TW_BOOL && sy->v.b;
            char st[48];
            snprintf(st, sizeof st, "%.*s%s", (int)l, s, syncing ? ", syncing" : "");
            rc |= tw_table_addz(&t, st);
            ago(since, sizeof since, rec_uint(p, "since_ms"), now);
            rc |= tw_table_addz(&t, since);
            snprintf(in, sizeof in, "%" PRIu64, rec_uint(p, "bytes_in"));
            snprintf(out, sizeof out, "%" PRIu64, rec_uint(p, "bytes_out"));
            rc |= tw_table_addz(&t, in);
            rc |= tw_table_addz(&t, out);
            const tw_val *off = tw_v_get(p, "clock_offset_ms");
            int64_t o = off ? (off->type == TW_INT ? off->v.i : off->type == TW_UINT ? (int64_t)off->v.u : 0) : 0;
            snprintf(clock, sizeof clock, "%+.1f s", (double)o / 1000.0);
            rc |= tw_table_addz(&t, clock);
            snprintf(torecv, sizeof torecv, "%" PRIu64, rec_uint(p, "to_receive"));
            rc |= tw_table_addz(&t, torecv);
            char refused[32];
            snprintf(refused, sizeof refused, "%" PRIu64, rec_uint(p, "refused"));
            rc |= tw_table_addz(&t, refused);
            ago(last, sizeof last, rec_uint(p, "last_sync_ms"), now);
            rc |= tw_table_addz(&t, last);
        }
        if (rc == 0) rc = tw_table_print(&t, cli);
        tw_table_free(&t);
        /* Why entries were refused, one line per connection that had any. */
        for (uint32_t i = 0; i < conns->len && rc == 0; i++) {
            size_t fl, wl;
            const char *fp = tw_rec_str(&conns->v.arr[i], "fingerprint", &fl);
            const char *why = tw_rec_str(&conns->v.arr[i], "last_refusal", &wl);
            if (wl) printf("last refusal from %.*s: %.*s\n", (int)(fl ? fl : 1), fl ? fp : "-", (int)wl, why);
        }
    } else {
        printf("no connections\n");
    }
    if (rc == 0 && known && known->type == TW_ARR && known->len) {
        static const char *const heads[] = { "ADDRESS", "SOURCE", "STATE", "PEER", "FAILURES", "LAST SUCCESS", "LAST ERROR" };
        tw_table t;
        putchar('\n');
        if ((rc = tw_table_init(&t, 7, heads))) return rc;
        tw_table_align(&t, 4, TW_COL_RIGHT | TW_COL_NOCUT);
        for (uint32_t i = 0; i < known->len && rc == 0; i++) {
            const tw_val *p = &known->v.arr[i];
            size_t l;
            char f[32], last[32];
            const char *s = tw_rec_str(p, "address", &l);
            rc |= tw_table_add(&t, s, l);
            s = tw_rec_str(p, "source", &l);
            rc |= tw_table_add(&t, s, l);
            s = tw_rec_str(p, "state", &l);
            rc |= tw_table_add(&t, s, l);
            s = tw_rec_str(p, "key", &l);
            rc |= l > 14 ? tw_table_add(&t, s + 4, 10) : tw_table_addz(&t, "-");
            snprintf(f, sizeof f, "%" PRIu64, rec_uint(p, "failures"));
            rc |= tw_table_addz(&t, f);
            ago(last, sizeof last, rec_uint(p, "last_success_ms"), now);
            rc |= tw_table_addz(&t, last);
            s = tw_rec_str(p, "last_error", &l);
            rc |= tw_table_add(&t, s, l);
        }
        if (rc == 0) rc = tw_table_print(&t, cli);
        tw_table_free(&t);
    }
    const tw_val *lt = tw_v_get(res, "learnt");
    if (rc == 0 && lt && lt->type == TW_MAP && (rec_uint(lt, "count") || rec_uint(lt, "evicted") || rec_uint(lt, "refused")))
        printf("\nlearnt addresses: %" PRIu64 " of at most %" PRIu64 "; %" PRIu64 " forgotten to make room, %" PRIu64
               " not dialled (their class: see learn_private, learn_loopback)\n",
               rec_uint(lt, "count"), rec_uint(lt, "max"), rec_uint(lt, "evicted"), rec_uint(lt, "refused"));
    return rc;
}

static int cmd_peers(tw_cli *cli, int argc, char **argv)
{
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_peers, argc, argv, NULL, 0, 2, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    tw_arena a;
    tw_val res, args;
    int exit = TW_EXIT_ERR;
    tw_arena_init(&a, 0);
    if (npos == 0 || (npos == 1 && strcmp(argv[0], "list") == 0)) {
        if (tw_cli_call(cli, &a, "peers", NULL, &res, NULL) != 0) goto out;
        rc = cli->json ? tw_out_json(&res) : show_peers(cli, &res);
        if (rc == 0) exit = TW_EXIT_OK;
    } else if (npos == 2 && (strcmp(argv[0], "add") == 0 || strcmp(argv[0], "remove") == 0)) {
        bool add = argv[0][0] == 'a';
        tw_kv kv[1] = { { tw_v_cstr("address"), tw_v_cstr(argv[1]) } };
        if (tw_cli_map(&a, &args, kv, 1)) goto out;
        if (tw_cli_call(cli, &a, add ? "peers_add" : "peers_remove", &args, &res, NULL) != 0) goto out;
        if (cli->json) tw_out_json(&res);
        else printf("%s %s\n", add ? "added" : "removed", argv[1]);
        exit = TW_EXIT_OK;
    } else {
        exit = tw_cli_usage(&tw_cmd_peers, "expected: peers [list], peers add HOST:PORT, or peers remove HOST:PORT");
    }
out:
    tw_arena_free(&a);
    return exit;
}

/* Done when every established connection has finished a reconciliation
 * that started at or after `since` and has nothing left to receive. */
static bool sync_done(const tw_val *res, uint64_t since, uint64_t *to_receive, unsigned *peers, unsigned *done)
{
    const tw_val *conns = tw_v_get(res, "connections");
    bool all = true;
    *to_receive = 0;
    *peers = *done = 0;
    for (uint32_t i = 0; conns && conns->type == TW_ARR && i < conns->len; i++) {
        const tw_val *p = &conns->v.arr[i];
        size_t l;
        const char *st = tw_rec_str(p, "state", &l);
        if (l != 11 || memcmp(st, "established", 11) != 0) continue;
        const tw_val *sy = tw_v_get(p, "syncing");
        bool syncing = sy && sy->type == TW_BOOL && sy->v.b;
        (*peers)++;
        *to_receive += rec_uint(p, "to_receive");
        if (!syncing && rec_uint(p, "last_sync_ms") >= since) (*done)++;
        else all = false;
    }
    return all;
}

static int cmd_sync(tw_cli *cli, int argc, char **argv)
{
    bool wait = false;
    const char *timeout_s = NULL;
    tw_opt opts[] = { { "wait", 'w', NULL, &wait }, { "timeout", 0, &timeout_s, NULL }, { NULL, 0, NULL, NULL } };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_sync, argc, argv, opts, 0, 0, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    unsigned long timeout = TW_SYNC_WAIT_DEFAULT_S;
    if (timeout_s) {
        char *end;
        timeout = strtoul(timeout_s, &end, 10);
        if (*end || !timeout_s[0] || timeout == 0 || timeout > 86400)
            return tw_cli_usage(&tw_cmd_sync, "--timeout: \"%s\" is not a number of seconds from 1 to 86400", timeout_s);
    }
    tw_arena a;
    tw_val res;
    int exit = TW_EXIT_ERR;
    tw_arena_init(&a, 0);
    if (tw_cli_call(cli, &a, "sync", NULL, &res, NULL) != 0) goto out;
    uint64_t started = rec_uint(&res, "started"), at = rec_uint(&res, "at_ms");
    if (!wait) {
        if (cli->json) tw_out_json(&res);
        else printf("reconciliation started with %" PRIu64 " peer%s\n", started, started == 1 ? "" : "s");
        exit = started ? TW_EXIT_OK : TW_EXIT_ERR;
        if (!started) tw_cli_fail("no connected peers");
        goto out;
    }
    if (!started) { tw_cli_fail("no connected peers"); goto out; }
    bool tty = cli->tty && !cli->json;
    uint64_t deadline = now_ms() + (uint64_t)timeout * 1000u, last_line = 0, max_recv = 0;
    for (unsigned iter = 0;; iter++) {
        tw_arena_free(&a);
        tw_arena_init(&a, 0);
        if (tw_cli_call(cli, &a, "peers", NULL, &res, NULL) != 0) goto out;
        uint64_t recv;
        unsigned peers, done;
        bool all = sync_done(&res, at, &recv, &peers, &done);
        if (recv > max_recv) max_recv = recv;
        uint64_t now = now_ms();
        if (tty) {
            /* A bar of the peers finished, and what is still to come. */
            char bar[21];
            unsigned fill = peers ? 20 * done / peers : 20;
            for (unsigned i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
            bar[20] = 0;
            printf("\r[%s] %u/%u peers done, %" PRIu64 " entries to receive   ", bar, done, peers, recv);
            fflush(stdout);
        } else if (!cli->json && (now - last_line >= 1000 || all)) {
            printf("sync: %u/%u peers done, %" PRIu64 " entries to receive\n", done, peers, recv);
            fflush(stdout);
            last_line = now;
        }
        if (all) {
            if (tty) putchar('\n');
            if (cli->json) {
                printf("{\"peers\": %u, \"done\": %u}\n", peers, done);
            } else {
                printf("sync done with %u peer%s\n", peers, peers == 1 ? "" : "s");
            }
            exit = TW_EXIT_OK;
            break;
        }
        if (now >= deadline || iter > 86400u * 1000u / TW_SYNC_POLL_MS) {
            if (tty) putchar('\n');
            tw_cli_fail("sync not finished after %lu s (%u of %u peers done, %" PRIu64 " entries to receive)",
                        timeout, done, peers, recv);
            break;
        }
        usleep(TW_SYNC_POLL_MS * 1000u);
    }
out:
    tw_arena_free(&a);
    return exit;
}

const tw_cmd tw_cmd_peers = {
    "peers", "show connections and known peers; add or remove a peer address",
    "[list | add HOST:PORT | remove HOST:PORT]",
    "With no argument (or list), shows the node's connections (peer fingerprint,\n"
    "address, direction, state, bytes in and out, the peer's clock offset, entries\n"
    "still to receive, entries refused with the last reason, last finished sync)\n"
    "and its known peer addresses (where each came from: config, manual, invite\n"
    "(a join code) or learnt from peer records; failures, last success, last\n"
    "error), and how full the learnt-address table is.  add dials HOST:PORT and\n"
    "remembers it across restarts; remove forgets it and closes its connection.\n",
    cmd_peers,
};

const tw_cmd tw_cmd_sync = {
    "sync", "reconcile with every connected peer now",
    "[--wait] [--timeout SECONDS]",
    "Starts a reconciliation with every connected peer.  With --wait, returns\n"
    "when each of them has finished and nothing is left to receive, showing a\n"
    "progress bar on a terminal and a plain line a second otherwise; gives up\n"
    "after --timeout seconds (default 300), exit status 1.  Exit status 1 too\n"
    "when no peer is connected.\n",
    cmd_sync,
};
