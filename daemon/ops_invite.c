/*
 * Control operations "invite" and "join" (daemon/ops.h; proto/PROTOCOL.md,
 * "Control socket" and "Invitation codes").
 *
 * An invitation code holds the network key, so neither operation ever logs
 * a code; the log says that one was made or used, by whom and until when.
 * "invite" changes nothing on the node unless the network has no roots
 * yet: a network whose members compute admission needs roots that every
 * member shares, so the first invitation of an open network makes its
 * inviter the root, and says so.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/invite.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "admit.h"
#include "config.h"
#include "log.h"
#include "net.h"
#include "ops.h"

#define FAIL(code, ...) do { snprintf(e->msg, sizeof e->msg, __VA_ARGS__); return (code); } while (0)

/* Shown in the command to send when the new node gave no name. */
#define NAME_PLACEHOLDER "YOUR ASSOCIATION"




/* The network as `status` shows it: the first 8 bytes of its id in hex. */
static void network_text(char out[17], const uint8_t netkey[TW_NETKEY_LEN])
{
    uint8_t id[TW_NETID_LEN];
    tw_netid_derive(id, netkey);
    tw_hex_encode(out, id, 8);
}

/* 0.0.0.0 or [::] (any spelling): an address to listen on, not to dial.
 * 1 for a wildcard, 2 for a loopback address, else 0. */
static int host_kind(const char *addr)
{
    const char *colon = strrchr(addr, ':');
    char host[TW_ADDR_MAX];
    size_t hl = colon ? (size_t)(colon - addr) : strlen(addr);
    if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') { addr++; hl -= 2; }
    if (hl == 0) return 1;
    if (hl >= sizeof host) return 0;
    memcpy(host, addr, hl);
    host[hl] = 0;
    uint8_t a[16];
    static const uint8_t zero[16], lo6[16] = { [15] = 1 };
    if (inet_pton(AF_INET, host, a) == 1) return memcmp(a, zero, 4) == 0 ? 1 : a[0] == 127 ? 2 : 0;
    if (inet_pton(AF_INET6, host, a) == 1) return memcmp(a, zero, 16) == 0 ? 1 : memcmp(a, lo6, 16) == 0 ? 2 : 0;
    return strcmp(host, "localhost") == 0 ? 2 : 0;
}

/* Why a vouch by this node would not admit anyone yet; "" if it would. */
static void vouch_note(tw_node *n, char *note, size_t cap)
{
    char name[TW_STR_MAX + 1];
    unsigned depth = 0;
    int role;
    note[0] = 0;
    if (!tw_admit_member(n, n->pk, name, sizeof name, &depth, &role))
        snprintf(note, cap, "this node is not admitted itself: its vouch for the new node will count only once "
                 "a member vouches for this node");
    else if (depth >= tw_admit_max_depth(n))
        snprintf(note, cap, "this node is at depth %u, the network's vouch_depth: its vouch will not admit the "
                 "new node; ask a member nearer the root to vouch", depth);
}

int tw_ops_invite(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    const tw_val *ev = tw_v_get(args, "expires_s");
    uint64_t ttl = TW_INVITE_TTL_DEFAULT_S;
    const char *as;
    size_t al;
    int rc;
    if (ev && ev->type != TW_NIL) {
        if (ev->type != TW_UINT || ev->v.u == 0 || ev->v.u > TW_INVITE_TTL_MAX_S)
            FAIL(TW_EINVAL, "argument \"expires_s\" must be a number of seconds from 1 to %u (90 days)",
                 TW_INVITE_TTL_MAX_S);
        ttl = ev->v.u;
    }
    if ((rc = tw_op_arg_str(args, "address", false, &as, &al, e))) return rc;

    tw_invite inv;
    memset(&inv, 0, sizeof inv);
    if (as) {
        if (al > TW_INVITE_ADDR_MAX) FAIL(TW_EINVAL, "address: longer than %u bytes", TW_INVITE_ADDR_MAX);
        memcpy(inv.addr, as, al);
        inv.addr[al] = 0;
        if (strlen(inv.addr) != al || !tw_addr_valid(inv.addr))
            FAIL(TW_EINVAL, "address: \"%.*s\" is not HOST:PORT", (int)(al > 80 ? 80 : al), as);
        if (host_kind(inv.addr) == 1)
            FAIL(TW_EINVAL, "address: %s is an address to listen on, not one to dial; give the address at which "
                 "the new node can reach this node (or another member that listens)", inv.addr);
    } else {
        if (!n->cfg.listen[0])
            FAIL(TW_EINVAL, "this node does not listen for peers (no listen setting), so a new node could not "
                 "reach it: pass --address HOST:PORT of a member that listens, or set listen and restart twind");
        if (host_kind(n->cfg.listen) == 1)
            FAIL(TW_EINVAL, "this node listens on all its addresses (%s): pass --address HOST:PORT with the "
                 "address at which the new node can reach it", n->cfg.listen);
        if (strlen(n->cfg.listen) > TW_INVITE_ADDR_MAX)
            FAIL(TW_EINVAL, "the listen address is longer than %u bytes: pass a shorter --address HOST:PORT",
                 TW_INVITE_ADDR_MAX);
        snprintf(inv.addr, sizeof inv.addr, "%s", n->cfg.listen);
    }

    /* Roots are made only once the request is known to be good, so that a
     * refused invitation leaves the node as it was. */
    const uint8_t (*roots)[TW_KEY_LEN];
    size_t nroots = tw_node_roots(n, &roots);
    bool root_created = false;
    if (nroots == 0) {
        if ((rc = tw_node_make_root(n, e->msg, sizeof e->msg))) return rc;
        nroots = tw_node_roots(n, &roots);
        root_created = true;
        if (nroots == 0) FAIL(TW_EINTERNAL, "this node could not become the root of its network");
    }
    if (nroots > TW_CONF_ROOTS_MAX) FAIL(TW_EINTERNAL, "more root keys than an invitation holds");
    memcpy(inv.roots, roots, nroots * TW_KEY_LEN);
    inv.nroots = nroots;
    inv.expires_s = tw_now_ms() / 1000u + ttl;
    memcpy(inv.netkey, n->netkey, TW_NETKEY_LEN);
    memcpy(inv.inviter, n->pk, TW_KEY_LEN);

    char code[TW_INVITE_TEXT_MAX + 1], when[48], net[17], note[256];
    rc = tw_invite_encode(code, sizeof code, &inv, n->sk);
    sodium_memzero(inv.netkey, sizeof inv.netkey);
    if (rc) FAIL(rc, "cannot make the invitation: %s", tw_strerror(rc));
    tw_invite_time(when, sizeof when, inv.expires_s);
    network_text(net, n->netkey);
    vouch_note(n, note, sizeof note);
    if (!note[0] && host_kind(inv.addr) == 2)
        snprintf(note, sizeof note, "%s is a loopback address: only a node on this machine can use the code",
                 inv.addr);
    tw_info("invite", "invitation made by %s for network %s, expires %s, address %s%s", n->fingerprint, net,
            when, inv.addr, root_created ? "; this node became the network's root" : "");

    if ((rc = tw_mpw_map(out, 8)) || (rc = tw_mpw_kv_cstr(out, "address", inv.addr)) || (rc = tw_mpw_kv_cstr(out, "code", code)) ||
        (rc = tw_mpw_kv_uint(out, "expires", inv.expires_s)) || (rc = tw_mpw_kv_cstr(out, "inviter", n->keytext)) ||
        (rc = tw_mpw_kv_cstr(out, "network", net)) || (rc = tw_mpw_kv_cstr(out, "note", note)) ||
        (rc = tw_mpw_cstr(out, "root_created")) || (rc = tw_mpw_bool(out, root_created)) ||
        (rc = tw_mpw_cstr(out, "roots")) || (rc = tw_mpw_arr(out, (uint32_t)nroots)))
        goto done;
    for (size_t i = 0; i < nroots && rc == 0; i++) {
        char kt[TW_KEYTEXT_LEN + 1];
        tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, roots[i]);
        rc = tw_mpw_cstr(out, kt);
    }
done:
    sodium_memzero(code, sizeof code);
    return rc;
}

/* NAME for a shell command line: in double quotes when nothing in it is
 * special there, else in single quotes (a single quote spelt '\''). */
static void shell_quote(char *out, size_t cap, const char *s, size_t n)
{
    bool plain = true;
    for (size_t i = 0; i < n; i++)
        if (strchr("\"\\$`!", s[i])) plain = false;
    size_t o = 0;
    if (cap < 3) { if (cap) out[0] = 0; return; }
    out[o++] = plain ? '"' : '\'';
    for (size_t i = 0; i < n && o + 6 < cap; i++) {
        if (!plain && s[i] == '\'') { memcpy(out + o, "'\\''", 4); o += 4; }
        else out[o++] = s[i];
    }
    out[o++] = plain ? '"' : '\'';
    out[o] = 0;
}

int tw_ops_join(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    const char *code, *name;
    size_t cl, nl;
    int rc;
    if ((rc = tw_op_arg_str(args, "code", true, &code, &cl, e)) || (rc = tw_op_arg_str(args, "name", false, &name, &nl, e)))
        return rc;
    if (name) {
        if (nl == 0 || nl > TW_STR_MAX) FAIL(TW_EINVAL, "name: must be 1 to %u bytes", TW_STR_MAX);
        for (size_t i = 0; i < nl; i++)
            if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
                FAIL(TW_EINVAL, "name: must be one line without control characters");
    }
    tw_invite inv;
    char why[256];
    /* The control server logs the refusal with this message. */
    if (tw_invite_decode(&inv, code, cl, tw_now_ms() / 1000u, why, sizeof why) != 0) FAIL(TW_EINVAL, "%s", why);
    int result = 0;
    char inviter[TW_KEYTEXT_LEN + 1], ifp[TW_FPR_CHARS + 1], net[17], when[48], note[384] = "";
    tw_keytext_encode(inviter, TW_KEYTEXT_PREFIX, inv.inviter);
    tw_key_fingerprint(ifp, inv.inviter);
    network_text(net, inv.netkey);
    tw_invite_time(when, sizeof when, inv.expires_s);
    if (memcmp(inv.inviter, n->pk, TW_KEY_LEN) == 0) {
        snprintf(e->msg, sizeof e->msg, "this invitation was made by this node: run twin join on the new node");
        result = TW_EINVAL;
        goto done;
    }
    if (!tw_addr_valid(inv.addr)) {
        snprintf(e->msg, sizeof e->msg, "the invitation's address \"%s\" is not one this node can dial", inv.addr);
        result = TW_EINVAL;
        goto done;
    }
    if ((result = tw_node_join(n, inv.netkey, (const uint8_t (*)[TW_KEY_LEN])inv.roots, inv.nroots, e->msg,
                               sizeof e->msg)))
        goto done;
    /* The node is in the network now; a failure to dial is worth telling,
     * not undoing the join for. */
    char perr[256];
    if (tw_net_peer_add_invite(n, inv.addr, perr, sizeof perr) != 0)
        snprintf(note, sizeof note, "joined, but the inviter's address was not added: %s "
                 "(add a member's address with twin peers add HOST:PORT)", perr);
    tw_net_sync_now(n);
    tw_info("invite", "joined network %s on an invitation by %s (%zu root key%s, expires %s); dialling %s", net, ifp,
            inv.nroots, inv.nroots == 1 ? "" : "s", when, inv.addr);

    char quoted[4 * TW_STR_MAX + 8], send[4 * TW_STR_MAX + 128];
    if (name) shell_quote(quoted, sizeof quoted, name, nl);
    else shell_quote(quoted, sizeof quoted, NAME_PLACEHOLDER, strlen(NAME_PLACEHOLDER));
    snprintf(send, sizeof send, "twin vouch %s --name %s", n->keytext, quoted);
    if ((rc = tw_mpw_map(out, 8)) || (rc = tw_mpw_kv_cstr(out, "address", inv.addr)) ||
        (rc = tw_mpw_kv_uint(out, "expires", inv.expires_s)) || (rc = tw_mpw_kv_cstr(out, "inviter", inviter)) ||
        (rc = tw_mpw_kv_cstr(out, "key", n->keytext)) || (rc = tw_mpw_kv_cstr(out, "network", net)) ||
        (rc = tw_mpw_kv_cstr(out, "note", note)) || (rc = tw_mpw_kv_uint(out, "roots", inv.nroots)) ||
        (rc = tw_mpw_kv_cstr(out, "send", send)))
        result = rc;
done:
    sodium_memzero(&inv, sizeof inv);
    return result;
}
