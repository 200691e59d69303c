/*
 * twin device: several nodes per association (proto/PROTOCOL.md,
 * "Associations and their keys").  add, join and accept carry the one-time
 * code and its answer between the association's node and the new machine;
 * list and revoke show and withdraw the association's keys.  The daemon
 * does the work (ops device_*); twin moves codes and explains results.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "cli.h"
#include "twin/err.h"
#include "twin/limits.h"

int tw_cli_parse_time_ms(const char *s, uint64_t *out)
{
    char *end;
    if (s[0] >= '0' && s[0] <= '9') {
        unsigned long long v = strtoull(s, &end, 10);
        if (*end == 0 && end - s >= 10) {
            *out = v;
            return 0;
        }
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%d %H:%M", &tm);
    if (!p) {
        memset(&tm, 0, sizeof tm);
        p = strptime(s, "%Y-%m-%dT%H:%M", &tm);
    }
    if (!p) {
        memset(&tm, 0, sizeof tm);
        p = strptime(s, "%Y-%m-%d", &tm);
    }
    if (!p) return TW_EINVAL;
    while (*p == ' ') p++;
    if (*p && strcmp(p, "UTC") != 0 && strcmp(p, "Z") != 0 && strcmp(p, ":00") != 0) return TW_EINVAL;
    time_t t = timegm(&tm);
    if (t < 0) return TW_EINVAL;
    *out = (uint64_t)t * 1000u;
    return 0;
}

static void print_time(uint64_t ms)
{
    time_t t = (time_t)(ms / 1000u);
    struct tm tm;
    char buf[32];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    fputs(buf, stdout);
}

static int call(tw_cli *cli, const char *op, const tw_kv *kv, size_t n, tw_arena *a, tw_val *res)
{
    tw_val args;
    return tw_cli_map(a, &args, kv, n) == 0 && tw_cli_call(cli, a, op, &args, res, NULL) == 0 ? 0 : -1;
}

static int device_list(tw_cli *cli)
{
    tw_arena a;
    tw_val res;
    tw_arena_init(&a, 0);
    int exit = TW_EXIT_ERR;
    if (call(cli, "device_list", NULL, 0, &a, &res)) goto out;
    if (cli->json) {
        exit = tw_out_json(&res) == 0 ? TW_EXIT_OK : TW_EXIT_ERR;
        goto out;
    }
    size_t l1, l2, l3;
    const char *assoc = tw_rec_str(&res, "association", &l1), *name = tw_rec_str(&res, "name", &l2),
               *commit = tw_rec_str(&res, "commitment", &l3);
    printf("association %.*s%s%.*s%s\n", (int)l1, assoc, l2 ? " (" : "", (int)l2, name, l2 ? ")" : "");
    printf("next key committed: %s\n", l3 == 4 && !memcmp(commit, "none", 4) ? "no"
                                      : l3 == 7 && !memcmp(commit, "planned", 7) ? "yes (twin key rotate --to FILE)"
                                      : "CONFLICT: two commitments, ask your voucher for a recovery");
    const tw_val *keys = tw_v_get(&res, "keys");
    printf("%-10s  %-9s  %-8s  %-20s  %s\n", "KEY", "ROLE", "STATE", "SINCE", "LABEL");
    for (uint32_t i = 0; keys && keys->type == TW_ARR && i < keys->len; i++) {
        const tw_val *k = &keys->v.arr[i];
        size_t fl, rl, ll;
        const char *fpr = tw_rec_str(k, "fingerprint", &fl), *role = tw_rec_str(k, "role", &rl),
                   *label = tw_rec_str(k, "label", &ll);
        const tw_val *rev = tw_v_get(k, "revoked"), *cur = tw_v_get(k, "current"), *me = tw_v_get(k, "this");
        uint64_t cut = tw_rec_uint(k, "cutoff"), since = tw_rec_uint(k, "since");
        bool revoked = rev && rev->type == TW_BOOL && rev->v.b, current = cur && cur->type == TW_BOOL && cur->v.b;
        const char *state = revoked ? "revoked" : current ? "current" : cut ? "former" : "active";
        printf("%-10.*s  %-9.*s  %-8s  ", (int)fl, fpr, (int)rl, role, state);
        if (since) print_time(since);
        else printf("%-20s", "-");
        printf("  %.*s%s", (int)ll, label, me && me->type == TW_BOOL && me->v.b ? "  (this node)" : "");
        if (cut) {
            printf("  refused from ");
            print_time(cut);
        }
        printf("\n");
    }
    exit = TW_EXIT_OK;
out:
    tw_arena_free(&a);
    return exit;
}

static int cmd_device(tw_cli *cli, int argc, char **argv)
{
    const char *label = NULL, *from = NULL, *expires = NULL, *address = NULL;
    tw_opt opts[] = { { "label", 'l', &label, NULL }, { "from", 0, &from, NULL }, { "expires", 'e', &expires, NULL },
                      { "address", 'a', &address, NULL }, { NULL, 0, NULL, NULL } };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_device, argc, argv, opts, 1, 2, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    const char *sub = argv[0];
    tw_arena a;
    tw_val res;
    int exit = TW_EXIT_ERR;
    tw_arena_init(&a, 0);
    if (!strcmp(sub, "list")) {
        if (npos != 1) return tw_cli_usage(&tw_cmd_device, "device list takes no argument");
        tw_arena_free(&a);
        return device_list(cli);
    } else if (!strcmp(sub, "add")) {
        if (npos != 1) return tw_cli_usage(&tw_cmd_device, "device add takes no argument; the label is --label L");
        if (!label || !label[0])
            return tw_cli_usage(&tw_cmd_device, "--label L is required: which machine, e.g. \"office laptop\"");
        uint64_t ttl = 0;
        if (expires) {
            char *end;
            unsigned long long v = strtoull(expires, &end, 10);
            uint64_t unit = *end == 'd' ? 86400 : *end == 'h' ? 3600 : *end == 'm' ? 60 : 1;
            if (end == expires || (*end && end[1]) || (*end && !strchr("dhms", *end)) || v == 0 ||
                v > TW_INVITE_TTL_MAX_S / unit)
                return tw_cli_usage(&tw_cmd_device, "--expires: \"%s\" is not a duration from 1 second to 90 days", expires);
            ttl = v * unit;
        }
        tw_kv kv[3] = { { tw_v_cstr("label"), tw_v_cstr(label) },
                        { tw_v_cstr("expires_s"), ttl ? tw_v_uint(ttl) : tw_v_nil() },
                        { tw_v_cstr("address"), address ? tw_v_cstr(address) : tw_v_nil() } };
        if (call(cli, "device_add", kv, 3, &a, &res)) goto out;
        if (cli->json) { exit = tw_out_json(&res) == 0 ? TW_EXIT_OK : TW_EXIT_ERR; goto out; }
        size_t cl;
        const char *code = tw_rec_str(&res, "code", &cl);
        printf("%.*s\n", (int)cl, code);
        fprintf(stderr, "On the new machine (a fresh twind), run: twin device join CODE\n"
                        "then bring the answer it prints back here: twin device accept ANSWER\n"
                        "The code works once and holds the network key: send it privately.\n");
        exit = TW_EXIT_OK;
    } else if (!strcmp(sub, "join") || !strcmp(sub, "accept")) {
        bool join = !strcmp(sub, "join");
        if (npos != 2) return tw_cli_usage(&tw_cmd_device, "device %s takes one argument: the %s", sub, join ? "code" : "answer");
        static char buf[TW_INVITE_INPUT_MAX + 1];
        const char *text = argv[1];
        if (!strcmp(text, "-")) {
            size_t n = fread(buf, 1, sizeof buf - 1, stdin);
            buf[n] = 0;
            if (n == sizeof buf - 1 && fgetc(stdin) != EOF)
                return tw_cli_usage(&tw_cmd_device, "the %s is longer than %u bytes", join ? "code" : "answer", TW_INVITE_INPUT_MAX);
            text = buf;
        } else {
            if (strlen(argv[1]) > TW_INVITE_INPUT_MAX)
                return tw_cli_usage(&tw_cmd_device, "the %s is longer than %u bytes", join ? "code" : "answer", TW_INVITE_INPUT_MAX);
            snprintf(buf, sizeof buf, "%s", argv[1]);
            memset(argv[1], 'x', strlen(argv[1]));        /* out of sight of ps */
            text = buf;
        }
        tw_kv kv[1] = { { tw_v_cstr(join ? "code" : "answer"), tw_v_cstr(text) } };
        int r = call(cli, join ? "device_join" : "device_accept", kv, 1, &a, &res);
        sodium_memzero(buf, sizeof buf);
        if (r) goto out;
        if (cli->json) { exit = tw_out_json(&res) == 0 ? TW_EXIT_OK : TW_EXIT_ERR; goto out; }
        if (join) {
            size_t al, nl;
            const char *ans = tw_rec_str(&res, "answer", &al), *note = tw_rec_str(&res, "note", &nl);
            printf("%.*s\n", (int)al, ans);
            fprintf(stderr, "Run on the association's node: twin device accept ANSWER\n");
            if (nl) fprintf(stderr, "note: %.*s\n", (int)nl, note);
        } else {
            size_t kl, ll;
            const char *key = tw_rec_str(&res, "key", &kl), *lab = tw_rec_str(&res, "label", &ll);
            printf("device %.*s (%.*s) now writes for this association\n", (int)ll, lab, (int)kl, key);
        }
        exit = TW_EXIT_OK;
    } else if (!strcmp(sub, "revoke")) {
        if (npos != 2) return tw_cli_usage(&tw_cmd_device, "device revoke takes one argument: KEY or FINGERPRINT");
        uint64_t from_ms = 0;
        if (from && tw_cli_parse_time_ms(from, &from_ms))
            return tw_cli_usage(&tw_cmd_device, "--from: \"%s\" is not a time (\"YYYY-MM-DD HH:MM\" UTC or ms since 1970)", from);
        tw_kv kv[2] = { { tw_v_cstr("key"), tw_v_cstr(argv[1]) }, { tw_v_cstr("from_ms"), from ? tw_v_uint(from_ms) : tw_v_nil() } };
        if (call(cli, "device_revoke", kv, 2, &a, &res)) goto out;
        if (cli->json) { exit = tw_out_json(&res) == 0 ? TW_EXIT_OK : TW_EXIT_ERR; goto out; }
        size_t ll;
        const char *lab = tw_rec_str(&res, "label", &ll);
        printf("revoked device %.*s: its entries dated from ", (int)ll, lab);
        print_time(tw_rec_uint(&res, "from"));
        printf(" on are refused everywhere; earlier ones stay the association's\n");
        exit = TW_EXIT_OK;
    } else {
        exit = tw_cli_usage(&tw_cmd_device, "unknown: device %s (add, join, accept, list, revoke)", sub);
    }
out:
    tw_arena_free(&a);
    return exit;
}

const tw_cmd tw_cmd_device = {
    "device", "several nodes for one association: add, join, accept, list, revoke",
    "add --label L [--expires D] [--address HOST:PORT] | join CODE|- | accept ANSWER|- | list | revoke KEY|FPR [--from TIME]",
    "Records signed by any device of an association count as the association's:\n"
    "one set of records (the newest version of each wins, whichever device wrote\n"
    "it), one name in members, reports and confirmations.\n\n"
    "add, on the node holding the association's key, prints a one-time code\n"
    "(it holds an invitation into the network; valid 7 days unless --expires).\n"
    "join CODE, on the new machine, joins the network if needed and prints an\n"
    "answer.  accept ANSWER, back on the association's node, checks that the\n"
    "answer comes from the machine that read this code and publishes the\n"
    "device record.  A code works once; twind forgets unanswered codes when it\n"
    "restarts.  list shows the association's keys.  revoke KEY (or its\n"
    "fingerprint) withdraws a device: its entries dated from --from (default\n"
    "now) on are refused on every node; earlier ones stay.\n\n"
    "  --label L             which machine, e.g. \"office laptop\" (no personal names)\n"
    "  --expires D           life of the code: 30m, 12h, 7d (at most 90 days)\n"
    "  --address HOST:PORT   address of this node put in the code\n"
    "  --from TIME           revoke from this time: \"YYYY-MM-DD HH:MM\" (UTC) or ms\n",
    cmd_device,
};
