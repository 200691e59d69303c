/*
 * twin vouch, twin revoke and twin members: admission of keys to the
 * network (proto/PROTOCOL.md, "Trust and admission").
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/err.h"
#include "twin/limits.h"

static int print_vouch_result(tw_cli *cli, const tw_val *res, const char *what, const char *key)
{
    if (cli->json) return tw_out_json(res) == 0 ? TW_EXIT_OK : TW_EXIT_ERR;
    const tw_val *counts = tw_v_get(res, "counts"), *adm = tw_v_get(res, "admitted");
    size_t nl;
    const char *note = tw_rec_str(res, "note", &nl);
    const tw_val *rec = tw_v_get(res, "record"), *unch = rec ? tw_v_get(rec, "unchanged") : NULL;
    bool same = unch && unch->type == TW_BOOL && unch->v.b;
    printf("%s %s%s\n", what, key, same ? " (unchanged: this node's record already said so)" : "");
    if (counts && counts->type == TW_BOOL && !counts->v.b && nl) printf("note: %.*s\n", (int)nl, note);
    if (adm && adm->type == TW_BOOL)
        printf("%s is %s on this node now\n", key, adm->v.b ? "admitted" : "not admitted");
    return TW_EXIT_OK;
}

static int cmd_vouch(tw_cli *cli, int argc, char **argv)
{
    const char *name = NULL, *role = NULL;
    tw_opt opts[] = { { "name", 'n', &name, NULL }, { "role", 'r', &role, NULL }, { NULL, 0, NULL, NULL } };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_vouch, argc, argv, opts, 1, 1, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    if (!name || !name[0]) return tw_cli_usage(&tw_cmd_vouch, "--name NAME is required: the organisation holding the key");
    if (role && strcmp(role, "member") != 0 && strcmp(role, "hub") != 0)
        return tw_cli_usage(&tw_cmd_vouch, "--role must be member or hub, not '%s'", role);
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_kv kv[3] = {
        { tw_v_cstr("key"), tw_v_cstr(argv[0]) },
        { tw_v_cstr("name"), tw_v_cstr(name) },
        { tw_v_cstr("role"), role ? tw_v_cstr(role) : tw_v_nil() },
    };
    tw_val args, res;
    int exit = TW_EXIT_ERR;
    if (tw_cli_map(&a, &args, kv, 3) == 0 && tw_cli_call(cli, &a, "vouch", &args, &res, NULL) == 0)
        exit = print_vouch_result(cli, &res, "vouched for", argv[0]);
    tw_arena_free(&a);
    return exit;
}

static int cmd_revoke(tw_cli *cli, int argc, char **argv)
{
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_revoke, argc, argv, NULL, 1, 1, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_kv kv[1] = { { tw_v_cstr("key"), tw_v_cstr(argv[0]) } };
    tw_val args, res;
    int exit = TW_EXIT_ERR;
    if (tw_cli_map(&a, &args, kv, 1) == 0 && tw_cli_call(cli, &a, "revoke", &args, &res, NULL) == 0)
        exit = print_vouch_result(cli, &res, "revoked", argv[0]);
    tw_arena_free(&a);
    return exit;
}

static int cmd_members(tw_cli *cli, int argc, char **argv)
{
    bool full = false;
    tw_opt opts[] = { { "full", 0, NULL, &full }, { NULL, 0, NULL, NULL } };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_members, argc, argv, opts, 0, 0, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val res;
    int exit = TW_EXIT_ERR;
    if (tw_cli_call(cli, &a, "members", NULL, &res, NULL) != 0) goto out;
    if (cli->json) {
        exit = tw_out_json(&res) == 0 ? TW_EXIT_OK : TW_EXIT_ERR;
        goto out;
    }
    const tw_val *open = tw_v_get(&res, "open"), *mem = tw_v_get(&res, "members");
    if (open && open->type == TW_BOOL && open->v.b) {
        printf("open network: no root keys, so every holder of the network key may write.\n"
               "`twin invite` makes this node the root; `twin join CODE` joins a network.\n");
        exit = TW_EXIT_OK;
        goto out;
    }
    static const char *const heads[] = { "KEY", "NAME", "ROLE", "DEPTH", "VOUCHED BY", "SINCE", "DEVICES" };
    tw_table t;
    if (tw_table_init(&t, 7, heads)) goto out;
    tw_table_align(&t, 3, TW_COL_RIGHT | TW_COL_NOCUT);
    if (!full) tw_table_align(&t, 0, TW_COL_NOCUT);
    rc = 0;
    for (uint32_t i = 0; mem && mem->type == TW_ARR && i < mem->len && rc == 0; i++) {
        const tw_val *m = &mem->v.arr[i];
        size_t kl, nl, rl, vl, vnl;
        const char *key = tw_rec_str(m, "key", &kl), *name = tw_rec_str(m, "name", &nl),
                   *role = tw_rec_str(m, "role", &rl), *v = tw_rec_str(m, "voucher", &vl),
                   *vn = tw_rec_str(m, "voucher_name", &vnl);
        const tw_val *depth = tw_v_get(m, "depth"), *since = tw_v_get(m, "since");
        char vb[TW_STR_MAX + 80], when[40] = "-";
        /* Keys are long: a fingerprint-length prefix unless --full. */
        size_t show = full ? kl : (kl > 4 + TW_CLI_FPR_CHARS ? 4 + TW_CLI_FPR_CHARS : kl);
        rc |= tw_table_add(&t, key, show);
        rc |= tw_table_add(&t, nl ? name : "-", nl ? nl : 1);
        rc |= tw_table_add(&t, role, rl);
        rc |= tw_table_addv(&t, depth);
        if (vl) snprintf(vb, sizeof vb, "%.*s%s%.*s%s", (int)(full ? vl : (vl > 4 + TW_CLI_FPR_CHARS ? 4 + TW_CLI_FPR_CHARS : vl)), v,
                         vnl ? " (" : "", (int)vnl, vn, vnl ? ")" : "");
        else snprintf(vb, sizeof vb, "-");
        rc |= tw_table_addz(&t, vb);
        if (since && since->type == TW_UINT && since->v.u) tw_out_time(when, sizeof when, since->v.u);
        rc |= tw_table_addz(&t, when);
        /* The association's other keys: devices in use, and whether its key
         * moved (twin device list on its node shows them all). */
        const tw_val *ks = tw_v_get(m, "keys");
        unsigned ndev = 0, nsucc = 0;
        for (uint32_t j = 0; ks && ks->type == TW_ARR && j < ks->len; j++) {
            size_t l;
            const char *r = tw_rec_str(&ks->v.arr[j], "role", &l);
            const tw_val *rv = tw_v_get(&ks->v.arr[j], "revoked");
            if (rv && rv->type == TW_BOOL && rv->v.b) continue;
            if (l == 6 && !memcmp(r, "device", 6)) ndev++;
            else nsucc++;
        }
        char dv[64];
        if (nsucc) snprintf(dv, sizeof dv, "%u (key moved)", ndev);
        else snprintf(dv, sizeof dv, "%u", ndev);
        rc |= tw_table_addz(&t, dv);
    }
    if (rc == 0 && tw_table_print(&t, cli) == 0) exit = TW_EXIT_OK;
    tw_table_free(&t);
out:
    tw_arena_free(&a);
    return exit;
}

const tw_cmd tw_cmd_vouch = {
    "vouch", "admit a key to the network (as this node's vouch)",
    "KEY --name NAME [--role member|hub]",
    "Publishes this node's vouch for KEY (twk_..., as `twin status` shows it on\n"
    "the other node): the key is admitted once this node is admitted itself and\n"
    "below the network's vouch_depth.  NAME is the organisation holding the key;\n"
    "--role hub marks a network hub (default member).  Vouching again for a key\n"
    "this node revoked admits it again.\n",
    cmd_vouch,
};

const tw_cmd tw_cmd_revoke = {
    "revoke", "withdraw this node's vouch for a key",
    "KEY",
    "Publishes a revocation of KEY.  A revocation by the key's voucher withdraws\n"
    "that vouch; a revocation by a root withdraws the key whoever vouched for it.\n"
    "The key's records are then hidden on every node (not served, listed or\n"
    "counted), keys admitted only through it lose admission too, and its\n"
    "connections are refused.  `twin vouch KEY` admits it again.\n",
    cmd_revoke,
};

const tw_cmd tw_cmd_members = {
    "members", "list the keys admitted to the network",
    "[--full]",
    "Lists the admitted keys: name, role (root, hub, member), depth (vouches from\n"
    "a root), who vouched for it and since when, and its devices (other nodes\n"
    "writing for the same association; \"key moved\" when its key was succeeded).\n"
    "An association is listed once, by its first key.  Keys are shortened to\n"
    "their fingerprint unless --full.\n",
    cmd_members,
};
