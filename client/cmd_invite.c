/*
 * twin invite and twin join: bring a new node into the network with one
 * code (include/twin/invite.h; proto/PROTOCOL.md, "Invitation codes").
 *
 * The daemon makes and reads the codes (ops "invite" and "join"): it holds
 * the node key that signs them and the clock that judges their expiry.
 * twin only parses durations, moves the code and explains the result.
 *
 * A code holds the network key, so twin keeps it out of sight where it
 * can: invite prints the code alone on standard output (the explanation
 * goes to standard error, so CODE=$(twin invite) captures just the code),
 * and join wipes the code from its command line as soon as it has read it
 * (other users can read a process's arguments); `twin join -` reads the
 * code from standard input instead, which leaves no window at all.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/err.h"
#include "twin/invite.h"
#include "twin/limits.h"

/* "30m", "12h", "7d", "90s" or plain seconds; 1 .. TW_INVITE_TTL_MAX_S. */
static int parse_duration(const char *s, uint64_t *out)
{
    uint64_t v = 0, unit = 1;
    size_t i = 0;
    if (!s[0]) return TW_EINVAL;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > TW_INVITE_TTL_MAX_S) return TW_ETOOBIG;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (i == 0) return TW_EINVAL;
    if (s[i]) {
        switch (s[i]) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        default: return TW_EINVAL;
        }
        if (s[i + 1]) return TW_EINVAL;
    }
    if (v == 0) return TW_EINVAL;
    if (v > TW_INVITE_TTL_MAX_S / unit) return TW_ETOOBIG;
    *out = v * unit;
    return 0;
}

static void duration_text(char *out, size_t cap, uint64_t s)
{
    static const struct { uint64_t unit; const char *name; } units[] = {
        { 86400, "day" }, { 3600, "hour" }, { 60, "minute" }, { 1, "second" },
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (s % units[i].unit == 0) {
            uint64_t k = s / units[i].unit;
            snprintf(out, cap, "%" PRIu64 " %s%s", k, units[i].name, k == 1 ? "" : "s");
            return;
        }
}

static int cmd_invite(tw_cli *cli, int argc, char **argv)
{
    const char *expires = NULL, *address = NULL;
    tw_opt opts[] = { { "expires", 'e', &expires, NULL }, { "address", 'a', &address, NULL }, { NULL, 0, NULL, NULL } };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_invite, argc, argv, opts, 0, 0, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    uint64_t ttl = TW_INVITE_TTL_DEFAULT_S;
    if (expires && (rc = parse_duration(expires, &ttl)) != 0)
        return tw_cli_usage(&tw_cmd_invite, "--expires: \"%s\" is %s", expires,
                            rc == TW_ETOOBIG ? "longer than 90 days"
                                             : "not a duration from 1 second to 90 days such as 30m, 12h, 7d or 3600");
    tw_arena a;
    tw_val args, res;
    tw_kv kv[2] = { { tw_v_cstr("expires_s"), tw_v_uint(ttl) }, { tw_v_cstr("address"), tw_v_nil() } };
    if (address) kv[1].v = tw_v_cstr(address);
    int exit = TW_EXIT_ERR;
    tw_arena_init(&a, 0);
    if (tw_cli_map(&a, &args, kv, 2) != 0 || tw_cli_call(cli, &a, "invite", &args, &res, NULL) != 0) goto out;
    if (cli->json) {
        exit = tw_out_json(&res) == 0 ? TW_EXIT_OK : TW_EXIT_ERR;
        goto out;
    }
    size_t cl, al, il, ol;
    const char *code = tw_rec_str(&res, "code", &cl), *addr = tw_rec_str(&res, "address", &al);
    const char *inviter = tw_rec_str(&res, "inviter", &il), *note = tw_rec_str(&res, "note", &ol);
    const tw_val *roots = tw_v_get(&res, "roots"), *created = tw_v_get(&res, "root_created");
    if (!cl) { tw_cli_fail("the daemon answered without a code"); goto out; }
    char when[48], life[32];
    tw_invite_time(when, sizeof when, tw_rec_uint(&res, "expires"));
    duration_text(life, sizeof life, ttl);
    printf("%.*s\n", (int)cl, code);
    if (fflush(stdout) != 0) goto out;
    unsigned nroots = roots && roots->type == TW_ARR ? roots->len : 0;
    fprintf(stderr, "\nAn invitation into this node's network, valid for %s (until %s).\n"
                    "It holds the network key, %u root key%s, the address %.*s to dial,\n"
                    "and this node's key, %.*s.\n"
                    "On the new node run: twin join CODE  (or twin join -, the code on standard input)\n"
                    "Send it over a private channel: it holds the network key.\n",
            life, when, nroots, nroots == 1 ? "" : "s", (int)al, addr, (int)il, inviter);
    if (created && created->type == TW_BOOL && created->v.b)
        fprintf(stderr, "This network had no root keys: this node is now its root (network.roots), and only\n"
                        "keys it vouches for, and keys they vouch for, may write.\n");
    if (ol) fprintf(stderr, "Note: %.*s\n", (int)ol, note);
    exit = TW_EXIT_OK;
out:
    tw_arena_free(&a);
    return exit;
}

/* The code from the arguments (joined: a code pasted with a line break
 * arrives in pieces) or from standard input for "-". */
static int read_code(int npos, char **argv, char **code, size_t *len)
{
    char err[TW_CLI_PATH_MAX + 64];
    if (npos == 1 && strcmp(argv[0], "-") == 0) {
        int rc = tw_cli_read_file("-", TW_INVITE_INPUT_MAX, code, len, err, sizeof err);
        if (rc == TW_ETOOBIG) return tw_cli_fail("standard input: longer than %u bytes: not an invitation code",
                                                 TW_INVITE_INPUT_MAX);
        if (rc) return tw_cli_fail("%s", err);
        return TW_EXIT_OK;
    }
    size_t total = 0;
    for (int i = 0; i < npos; i++) {
        total += strlen(argv[i]) + 1;
        if (total > TW_INVITE_INPUT_MAX)
            return tw_cli_fail("the code is longer than %u bytes: not an invitation code", TW_INVITE_INPUT_MAX);
    }
    char *c = malloc(total + 1);
    if (!c) return tw_cli_fail("out of memory");
    size_t n = 0;
    for (int i = 0; i < npos; i++) {
        size_t l = strlen(argv[i]);
        if (i) c[n++] = ' ';
        memcpy(c + n, argv[i], l);
        n += l;
        /* Other users can read the command line in /proc; the copy is all
         * that is needed from here on. */
        memset(argv[i], 'x', l);
    }
    c[n] = 0;
    *code = c;
    *len = n;
    return TW_EXIT_OK;
}

static int cmd_join(tw_cli *cli, int argc, char **argv)
{
    const char *name = NULL;
    tw_opt opts[] = { { "name", 'n', &name, NULL }, { NULL, 0, NULL, NULL } };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_join, argc, argv, opts, 1, -1, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    if (name && !name[0]) return tw_cli_usage(&tw_cmd_join, "--name: must not be empty");
    char *code = NULL;
    size_t codelen = 0;
    if ((rc = read_code(npos, argv, &code, &codelen)) != TW_EXIT_OK) return rc;
    tw_arena a;
    tw_val args, res;
    tw_kv kv[2] = { { tw_v_cstr("code"), tw_v_str(code, codelen) }, { tw_v_cstr("name"), tw_v_nil() } };
    if (name) kv[1].v = tw_v_cstr(name);
    int exit = TW_EXIT_ERR;
    tw_arena_init(&a, 0);
    rc = tw_cli_map(&a, &args, kv, 2);
    if (rc == 0) rc = tw_cli_call(cli, &a, "join", &args, &res, NULL);
    memset(code, 0, codelen);
    free(code);
    if (rc != 0) goto out;
    if (cli->json) {
        exit = tw_out_json(&res) == 0 ? TW_EXIT_OK : TW_EXIT_ERR;
        goto out;
    }
    size_t nl, il, al, kl, sl, ol;
    const char *net = tw_rec_str(&res, "network", &nl), *inviter = tw_rec_str(&res, "inviter", &il);
    const char *addr = tw_rec_str(&res, "address", &al), *key = tw_rec_str(&res, "key", &kl);
    const char *send = tw_rec_str(&res, "send", &sl), *note = tw_rec_str(&res, "note", &ol);
    uint64_t nroots = tw_rec_uint(&res, "roots");
    printf("Joined network %.*s, invited by %.*s.\n"
           "This node keeps the network's key and its %" PRIu64 " root key%s, and dials %.*s.\n"
           "This node's key: %.*s\n\n"
           "Ask your inviter to run:\n  %.*s\n\n"
           "Until a member vouches for this node, its records stay on this node only.\n",
           (int)nl, net, (int)il, inviter, nroots, nroots == 1 ? "" : "s", (int)al, addr, (int)kl, key,
           (int)sl, send);
    if (!name) printf("(Put your association's name in place of YOUR ASSOCIATION, or give --name.)\n");
    if (ol) printf("Note: %.*s\n", (int)ol, note);
    exit = TW_EXIT_OK;
out:
    tw_arena_free(&a);
    return exit;
}

const tw_cmd tw_cmd_invite = {
    "invite", "make a code that brings a new node into this network",
    "[--expires DURATION] [--address HOST:PORT]",
    "Prints an invitation code: one line holding the network key, the network's\n"
    "root keys, an address at which the new node can reach this network, and this\n"
    "node's key, signed by this node.  The new node runs `twin join CODE`.  The\n"
    "code alone goes to standard output; what it holds and until when, to\n"
    "standard error.  Send it over a private channel: whoever holds it can\n"
    "connect to the network until it expires.\n\n"
    "If the network has no root keys yet (an open network), this node becomes\n"
    "its root first (written to network.roots in the data directory): every\n"
    "member must share the roots to agree on who may write.\n\n"
    "  -e, --expires DURATION   how long the code is valid: 30m, 12h, 7d, or\n"
    "                           seconds; 1 second to 90 days (default 7d)\n"
    "  -a, --address HOST:PORT  the address to put in the code (default: the\n"
    "                           listen setting; needed when twind listens on\n"
    "                           0.0.0.0 or [::], or does not listen)\n",
    cmd_invite,
};

const tw_cmd tw_cmd_join = {
    "join", "join the network of an invitation code",
    "CODE [--name NAME] | - [--name NAME]",
    "Moves this node into the network of CODE (made by `twin invite` on a\n"
    "member): the network key and root keys of the code replace this node's\n"
    "(network.key and network.roots), this node's own records are signed again\n"
    "for the new network, and it dials the code's address.  Then prints the\n"
    "command to send to the inviter, who vouches for this node so that its\n"
    "records are accepted by the members.\n\n"
    "CODE may be wrapped, indented or split into several arguments; - reads it\n"
    "from standard input (best on a shared machine: a command line can be seen\n"
    "by other users for a moment).  Refused, with exit status 1 and the reason,\n"
    "when the code is mistyped or incomplete, expired, tampered with, or not an\n"
    "invitation; when the config file sets network_key or root; and when this\n"
    "node holds records of other nodes of another network (use a fresh data\n"
    "directory).\n\n"
    "  -n, --name NAME   your association's name, put in the command for the\n"
    "                    inviter (`twin vouch KEY --name NAME`)\n",
    cmd_join,
};
