/*
 * Control operations of associations and their keys (daemon/ops.h;
 * proto/PROTOCOL.md "Associations and their keys" and "Operations"):
 * device_add, device_join, device_accept, device_list, device_revoke,
 * key_plan, key_rotate, key_recover.
 *
 * Adding a device takes a one-time code, as joining a network does, and one
 * answer back: the association's node makes a code holding an invitation
 * into the network and a fresh secret (device_add); the new machine joins
 * and answers with its key, a MAC under the secret and its signature
 * (device_join); the association's node checks both and publishes the
 * `device` record (device_accept).  The answer proves that the new machine
 * read the code and holds its key, and the secret never travels back.
 * Codes live in memory only (a restart forgets them: make another), are
 * used once and expire.
 */
#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/ident.h"
#include "twin/invite.h"
#include "twin/keyfile.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "admit.h"
#include "log.h"
#include "net.h"
#include "ops.h"

#define FAIL(code, ...) do { snprintf(e->msg, sizeof e->msg, __VA_ARGS__); return (code); } while (0)

#define DEVICE_CONTEXT "twin-device-v1:"
#define DEVICE_VERSION 1u

typedef struct pending {
    uint8_t secret[TW_DEVICE_SECRET_LEN];
    char label[TW_STR_MAX + 1];
    uint64_t expires_s;
    bool live;
} pending;

static pending codes[TW_DEVICE_CODES_MAX];

/* ------------------------------------------------------------- helpers */

static int put_str(tw_buf *b, const char *k, const char *v) { return tw_mpw_kv_cstr(b, k, v); }

static int arg_key(const tw_val *args, const char *name, bool required, uint8_t key[TW_KEY_LEN], bool *have,
                   tw_op_err *e)
{
    const char *s;
    size_t l;
    int rc = tw_op_arg_str(args, name, required, &s, &l, e);
    if (rc) return rc;
    if (have) *have = s != NULL;
    if (!s) return 0;
    if (tw_keytext_decode(key, TW_KEYTEXT_PREFIX, s, l))
        FAIL(TW_EINVAL, "%s: \"%.*s\" is not a valid node key (twk_..., checksum included)", name,
             (int)(l > 80 ? 80 : l), s);
    return 0;
}

static int arg_u64(const tw_val *args, const char *name, uint64_t *out, bool *have, tw_op_err *e)
{
    const tw_val *v = tw_v_get(args, name);
    *have = false;
    if (!v || v->type == TW_NIL) return 0;
    if (v->type != TW_UINT) FAIL(TW_EINVAL, "argument \"%s\" must be a non-negative integer", name);
    *out = v->v.u;
    *have = true;
    return 0;
}

static int check_label(const char *s, size_t l, tw_op_err *e)
{
    if (l == 0 || l > TW_STR_MAX) FAIL(TW_EINVAL, "label: must be 1 to %u bytes", TW_STR_MAX);
    for (size_t i = 0; i < l; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) FAIL(TW_EINVAL, "label: must be one line without control characters");
    return 0;
}

/* This node's standing in its association. */
static void me(tw_node *n, tw_ident_key *k) { tw_ident_lookup(tw_admit_ident(n), n->pk, k); }

/* Refuses unless this node holds the association's current key: only that
 * key signs device records, commitments and successions. */
static int need_assoc_key(tw_node *n, const char *what, tw_op_err *e)
{
    tw_ident_key k;
    me(n, &k);
    if (k.role == TW_IDENT_DEVICE)
        FAIL(TW_EPERM, "%s: this node is a device of its association (%s); only the node holding the association's "
             "key can (twin device list shows it)", what, n->fingerprint);
    if (!k.current) {
        uint8_t cur[TW_KEY_LEN];
        char fpr[TW_FPR_CHARS + 1];
        tw_ident_current(tw_admit_ident(n), n->pk, cur);
        tw_key_fingerprint(fpr, cur);
        FAIL(TW_EPERM, "%s: this node's key is no longer its association's key (the association moved to %s)", what, fpr);
    }
    return 0;
}

static int publish(tw_node *n, const char *kind, const char *slot, size_t slot_len, const tw_val *body,
                   tw_write_result *res, tw_op_err *e)
{
    tw_record_in r = { kind, strlen(kind), slot, slot_len, body };
    size_t bad;
    return tw_node_write(n, &r, 1, res, &bad, e->msg, sizeof e->msg);
}

static int write_device(tw_node *n, const uint8_t key[TW_KEY_LEN], const char *label, size_t ll, bool revoked,
                        bool have_from, uint64_t from, tw_write_result *res, tw_op_err *e)
{
    char kt[TW_KEYTEXT_LEN + 1];
    tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, key);
    tw_arena a;
    tw_val body;
    tw_arena_init(&a, 0);
    uint32_t np = 2 + revoked + (revoked && have_from), i = 0;
    int rc = tw_v_map(&a, &body, np);
    if (rc) { tw_arena_free(&a); FAIL(rc, "out of memory"); }
    body.v.map[i].k = tw_v_cstr("key");
    body.v.map[i++].v = tw_v_str(kt, TW_KEYTEXT_LEN);
    body.v.map[i].k = tw_v_cstr("label");
    body.v.map[i++].v = tw_v_str(label, ll);
    if (revoked) { body.v.map[i].k = tw_v_cstr("revoked"); body.v.map[i++].v = tw_v_bool(true); }
    if (revoked && have_from) { body.v.map[i].k = tw_v_cstr("from"); body.v.map[i++].v = tw_v_uint(from); }
    rc = publish(n, "device", kt, TW_KEYTEXT_LEN, &body, res, e);
    tw_arena_free(&a);
    return rc;
}

static const char *role_text(int role)
{
    switch (role) {
    case TW_IDENT_DEVICE: return "device";
    case TW_IDENT_SUCCESSOR: return "successor";
    case TW_IDENT_FIRST: return "first";
    default: return "first";
    }
}

static int put_key(tw_buf *out, const tw_ident_key *k, const uint8_t self[TW_KEY_LEN])
{
    char kt[TW_KEYTEXT_LEN + 1], fpr[TW_FPR_CHARS + 1];
    tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, k->key);
    tw_key_fingerprint(fpr, k->key);
    int rc;
    if ((rc = tw_mpw_map(out, 9)) || (rc = put_str(out, "key", kt)) || (rc = put_str(out, "fingerprint", fpr)) ||
        (rc = put_str(out, "role", role_text(k->role))) || (rc = tw_mpw_cstr(out, "label")) ||
        (rc = tw_mpw_str(out, k->label ? k->label : "", k->label_len)) ||
        (rc = tw_mpw_cstr(out, "revoked")) || (rc = tw_mpw_bool(out, k->revoked)) ||
        (rc = tw_mpw_kv_uint(out, "cutoff", k->cutoff == TW_IDENT_NEVER ? 0 : k->cutoff)) ||
        (rc = tw_mpw_kv_uint(out, "since", k->since)) ||
        (rc = tw_mpw_cstr(out, "current")) || (rc = tw_mpw_bool(out, k->role != TW_IDENT_DEVICE && k->current)) ||
        (rc = tw_mpw_cstr(out, "this")) || (rc = tw_mpw_bool(out, memcmp(k->key, self, TW_KEY_LEN) == 0)))
        return rc;
    return 0;
}

/* ------------------------------------------------------------- device_list */

int tw_ops_device_list(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    const tw_ident *id = tw_admit_ident(n);
    tw_ident_key mine, first;
    me(n, &mine);
    tw_ident_lookup(id, mine.identity, &first);
    static tw_ident_key ks[TW_IDENT_KEYS_SHOWN];
    size_t k = tw_ident_keys(id, mine.identity, ks, TW_IDENT_KEYS_SHOWN);
    if (k > TW_IDENT_KEYS_SHOWN) k = TW_IDENT_KEYS_SHOWN;
    uint8_t cur[TW_KEY_LEN], commit[32];
    tw_ident_current(id, n->pk, cur);
    int c = tw_ident_commitment(id, cur, commit);
    char assoc[TW_KEYTEXT_LEN + 1], curt[TW_KEYTEXT_LEN + 1], name[TW_STR_MAX + 1] = "";
    tw_keytext_encode(assoc, TW_KEYTEXT_PREFIX, mine.identity);
    tw_keytext_encode(curt, TW_KEYTEXT_PREFIX, cur);
    unsigned depth;
    int role;
    tw_admit_member(n, mine.identity, name, sizeof name, &depth, &role);
    int rc;
    if ((rc = tw_mpw_map(out, 6)) || (rc = put_str(out, "association", assoc)) || (rc = put_str(out, "name", name)) ||
        (rc = put_str(out, "current", curt)) || (rc = put_str(out, "this_key", n->keytext)) ||
        (rc = put_str(out, "commitment", c == 0 ? "none" : c == 1 ? "planned" : "conflict")) ||
        (rc = tw_mpw_cstr(out, "keys")) || (rc = tw_mpw_arr(out, (uint32_t)(k + 1))) ||
        (rc = put_key(out, &first, n->pk)))
        return rc;
    for (size_t i = 0; i < k; i++)
        if ((rc = put_key(out, &ks[i], n->pk))) return rc;
    return 0;
}

/* ------------------------------------------------------------- device_revoke */

/* A key of this association named by key text or fingerprint. */
static int find_device(tw_node *n, const char *s, size_t l, tw_ident_key *out, tw_op_err *e)
{
    const tw_ident *id = tw_admit_ident(n);
    tw_ident_key mine;
    me(n, &mine);
    static tw_ident_key ks[TW_IDENT_KEYS_SHOWN];
    size_t k = tw_ident_keys(id, mine.identity, ks, TW_IDENT_KEYS_SHOWN);
    if (k > TW_IDENT_KEYS_SHOWN) k = TW_IDENT_KEYS_SHOWN;
    uint8_t key[TW_KEY_LEN];
    bool full = tw_keytext_decode(key, TW_KEYTEXT_PREFIX, s, l) == 0;
    if (!full && l != TW_FPR_CHARS)
        FAIL(TW_EINVAL, "key: \"%.*s\" is neither a node key (twk_...) nor a fingerprint (%u characters)",
             (int)(l > 80 ? 80 : l), s, TW_FPR_CHARS);
    for (size_t i = 0; i < k; i++) {
        char fpr[TW_FPR_CHARS + 1];
        tw_key_fingerprint(fpr, ks[i].key);
        if (ks[i].role != TW_IDENT_DEVICE) continue;
        if (full ? memcmp(ks[i].key, key, TW_KEY_LEN) == 0 : memcmp(fpr, s, TW_FPR_CHARS) == 0) {
            *out = ks[i];
            return 0;
        }
    }
    FAIL(TW_ENOTFOUND, "key: %.*s is not a device of this association (twin device list)", (int)(l > 80 ? 80 : l), s);
}

int tw_ops_device_revoke(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    const char *s;
    size_t l;
    uint64_t from = 0;
    bool have_from;
    int rc;
    if ((rc = tw_op_arg_str(args, "key", true, &s, &l, e)) || (rc = arg_u64(args, "from_ms", &from, &have_from, e)))
        return rc;
    if ((rc = need_assoc_key(n, "device revoke", e))) return rc;
    tw_ident_key d;
    if ((rc = find_device(n, s, l, &d, e))) return rc;
    /* The label lives in the identity table, which the write replaces. */
    char label[TW_STR_MAX + 1];
    snprintf(label, sizeof label, "%.*s", (int)d.label_len, d.label);
    d.label = label;
    tw_write_result res;
    if ((rc = write_device(n, d.key, d.label, d.label_len, true, have_from, from, &res, e))) return rc;
    char kt[TW_KEYTEXT_LEN + 1];
    tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, d.key);
    tw_info("ident", "revoked device %.*s (%s) from %llu", (int)d.label_len, d.label, kt,
            (unsigned long long)(have_from ? from : res.ts));
    if ((rc = tw_mpw_map(out, 3)) || (rc = put_str(out, "key", kt)) || (rc = tw_mpw_cstr(out, "label")) ||
        (rc = tw_mpw_str(out, d.label, d.label_len)) || (rc = tw_mpw_kv_uint(out, "from", have_from ? from : res.ts)))
        return rc;
    return 0;
}

/* ------------------------------------------------------------- device_add */

int tw_ops_device_add(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    const char *label;
    size_t ll;
    int rc;
    if ((rc = tw_op_arg_str(args, "label", true, &label, &ll, e)) || (rc = check_label(label, ll, e))) return rc;
    if ((rc = need_assoc_key(n, "device add", e))) return rc;
    uint64_t now_s = tw_now_ms() / 1000u;
    pending *p = NULL;
    for (size_t i = 0; i < TW_DEVICE_CODES_MAX; i++) {
        if (codes[i].live && codes[i].expires_s <= now_s) codes[i].live = false;
        if (!codes[i].live && !p) p = &codes[i];
    }
    if (!p)
        FAIL(TW_ETOOBIG, "%u device codes are waiting for an answer already: accept or let some expire first",
             TW_DEVICE_CODES_MAX);
    /* The invitation into the network, made by the invite op itself (the
     * same address rules, the same roots). */
    tw_buf ib;
    tw_buf_init(&ib);
    if ((rc = tw_ops_invite(n, args, &ib, e))) {
        tw_buf_free(&ib);
        return rc;
    }
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val inv;
    const tw_val *code = NULL, *exp = NULL;
    if (tw_mp_decode(ib.p, ib.len, &a, 0, &inv, NULL, NULL) == 0) {
        code = tw_v_get(&inv, "code");
        exp = tw_v_get(&inv, "expires");
    }
    if (!code || code->type != TW_STR || !exp || exp->type != TW_UINT || code->len > TW_INVITE_TEXT_MAX) {
        tw_arena_free(&a);
        tw_buf_free(&ib);
        FAIL(TW_EINTERNAL, "internal error: the invitation could not be read back");
    }
    uint8_t blob[TW_DEVICE_CODE_BIN_MAX];
    size_t bl = 0;
    blob[bl++] = DEVICE_VERSION;
    for (int i = 7; i >= 0; i--) blob[bl++] = (uint8_t)(exp->v.u >> (8 * i));
    memcpy(blob + bl, n->pk, TW_KEY_LEN);
    bl += TW_KEY_LEN;
    randombytes_buf(p->secret, sizeof p->secret);
    memcpy(blob + bl, p->secret, sizeof p->secret);
    bl += sizeof p->secret;
    blob[bl++] = (uint8_t)(code->len >> 8);
    blob[bl++] = (uint8_t)code->len;
    memcpy(blob + bl, code->v.s, code->len);
    bl += code->len;
    static char text[TW_DEVICE_CODE_TEXT_MAX + 1];
    memcpy(text, TW_DEVICE_CODE_PREFIX, 4);
    tw_base32_encode(text + 4, blob, bl);
    sodium_memzero(blob, sizeof blob);
    p->live = true;
    p->expires_s = exp->v.u;
    snprintf(p->label, sizeof p->label, "%.*s", (int)ll, label);
    uint64_t expires = exp->v.u;
    tw_arena_free(&a);
    tw_buf_free(&ib);
    tw_info("ident", "made a device code for \"%.*s\" (expires at %llu s); the code itself is not logged", (int)ll, label,
            (unsigned long long)expires);
    if (!(rc = tw_mpw_map(out, 3)) && !(rc = put_str(out, "code", text)) &&
        !(rc = tw_mpw_kv_uint(out, "expires", expires)) && !(rc = tw_mpw_cstr(out, "label")))
        rc = tw_mpw_str(out, label, ll);
    sodium_memzero(text, sizeof text);
    return rc;
}

/* ------------------------------------------------------------- device_join */

/* The MAC and the signature an answer carries. */
static void answer_mac(uint8_t mac[32], const uint8_t secret[TW_DEVICE_SECRET_LEN], const uint8_t assoc[TW_KEY_LEN],
                       const uint8_t dev[TW_KEY_LEN])
{
    uint8_t msg[sizeof DEVICE_CONTEXT - 1 + 2 * TW_KEY_LEN];
    memcpy(msg, DEVICE_CONTEXT, sizeof DEVICE_CONTEXT - 1);
    memcpy(msg + sizeof DEVICE_CONTEXT - 1, assoc, TW_KEY_LEN);
    memcpy(msg + sizeof DEVICE_CONTEXT - 1 + TW_KEY_LEN, dev, TW_KEY_LEN);
    crypto_generichash(mac, 32, msg, sizeof msg, secret, TW_DEVICE_SECRET_LEN);
}

static void answer_signed(uint8_t *msg, const uint8_t assoc[TW_KEY_LEN], const uint8_t mac[32])
{
    memcpy(msg, DEVICE_CONTEXT, sizeof DEVICE_CONTEXT - 1);
    memcpy(msg + sizeof DEVICE_CONTEXT - 1, assoc, TW_KEY_LEN);
    memcpy(msg + sizeof DEVICE_CONTEXT - 1 + TW_KEY_LEN, mac, 32);
}

#define SIGNED_LEN (sizeof DEVICE_CONTEXT - 1 + TW_KEY_LEN + 32)
#define ANSWER_BIN (1 + TW_KEY_LEN + TW_KEY_LEN + 32 + 64)   /* version, association, device, mac, signature */

/* Drops ASCII whitespace; lower-cases. */
static size_t squeeze(char *out, size_t cap, const char *in, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < len && k < cap; i++) {
        char c = in[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
        out[k++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    return k;
}

int tw_ops_device_join(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    const char *s;
    size_t l;
    int rc;
    if ((rc = tw_op_arg_str(args, "code", true, &s, &l, e))) return rc;
    if (l > TW_INVITE_INPUT_MAX) FAIL(TW_ETOOBIG, "code: longer than %u bytes", TW_INVITE_INPUT_MAX);
    static char text[TW_INVITE_INPUT_MAX];
    size_t tl = squeeze(text, sizeof text, s, l);
    if (tl < 4 || memcmp(text, TW_DEVICE_CODE_PREFIX, 4) != 0)
        FAIL(TW_EINVAL, "not a device code (it starts with %s; an invitation twi_... is for twin join)", TW_DEVICE_CODE_PREFIX);
    if (tl > TW_DEVICE_CODE_TEXT_MAX) FAIL(TW_EINVAL, "not a device code: too long");
    uint8_t blob[TW_DEVICE_CODE_BIN_MAX];
    int bl = tw_base32_decode(blob, sizeof blob, text + 4, tl - 4);
    sodium_memzero(text, sizeof text);      /* it holds the network key */
    if (bl < (int)(1 + 8 + TW_KEY_LEN + TW_DEVICE_SECRET_LEN + 2)) FAIL(TW_EINVAL, "device code mistyped or incomplete");
    if (blob[0] != DEVICE_VERSION) FAIL(TW_EVERSION, "device code of an unsupported version %u", blob[0]);
    size_t off = 1;
    uint64_t expires = 0;
    for (int i = 0; i < 8; i++) expires = expires << 8 | blob[off++];
    uint8_t assoc[TW_KEY_LEN], secret[TW_DEVICE_SECRET_LEN];
    memcpy(assoc, blob + off, TW_KEY_LEN);
    off += TW_KEY_LEN;
    memcpy(secret, blob + off, sizeof secret);
    off += sizeof secret;
    size_t il = (size_t)blob[off] << 8 | blob[off + 1];
    off += 2;
    if (il != (size_t)bl - off) {
        sodium_memzero(blob, sizeof blob);
        FAIL(TW_EINVAL, "device code mistyped or incomplete");
    }
    if (expires <= tw_now_ms() / 1000u) {
        sodium_memzero(blob, sizeof blob);
        FAIL(TW_ESTALE, "the device code expired: make another with twin device add");
    }
    if (memcmp(assoc, n->pk, TW_KEY_LEN) == 0) {
        sodium_memzero(blob, sizeof blob);
        FAIL(TW_EINVAL, "this device code was made by this node: run twin device join on the new machine");
    }
    /* Join the network of the code's invitation unless this node is in it. */
    tw_invite inv;
    char why[256];
    if (tw_invite_decode(&inv, (const char *)blob + off, il, tw_now_ms() / 1000u, why, sizeof why)) {
        sodium_memzero(blob, sizeof blob);
        FAIL(TW_EINVAL, "the device code's invitation: %s", why);
    }
    bool joined = false;
    char note[320] = "";
    if (sodium_memcmp(inv.netkey, n->netkey, TW_NETKEY_LEN) != 0) {
        tw_arena a;
        tw_val jargs;
        tw_arena_init(&a, 0);
        tw_buf jb;
        tw_buf_init(&jb);
        rc = tw_v_map(&a, &jargs, 1);
        if (!rc) {
            jargs.v.map[0].k = tw_v_cstr("code");
            jargs.v.map[0].v = tw_v_str((const char *)blob + off, il);
            rc = tw_ops_join(n, &jargs, &jb, e);
        }
        tw_buf_free(&jb);
        tw_arena_free(&a);
        if (rc) {
            sodium_memzero(blob, sizeof blob);
            sodium_memzero(&inv, sizeof inv);
            return rc;
        }
        joined = true;
    } else {
        char perr[256];
        if (tw_net_peer_add_invite(n, inv.addr, perr, sizeof perr) != 0)
            snprintf(note, sizeof note, "the association's address was not added: %s", perr);
        tw_net_sync_now(n);
    }
    sodium_memzero(&inv, sizeof inv);
    sodium_memzero(blob, sizeof blob);
    uint8_t ans[ANSWER_BIN], msg[SIGNED_LEN], mac[32];
    answer_mac(mac, secret, assoc, n->pk);
    sodium_memzero(secret, sizeof secret);
    answer_signed(msg, assoc, mac);
    size_t k = 0;
    ans[k++] = DEVICE_VERSION;
    memcpy(ans + k, assoc, TW_KEY_LEN);
    k += TW_KEY_LEN;
    memcpy(ans + k, n->pk, TW_KEY_LEN);
    k += TW_KEY_LEN;
    memcpy(ans + k, mac, 32);
    k += 32;
    crypto_sign_detached(ans + k, NULL, msg, sizeof msg, n->sk);
    k += 64;
    char answer[4 + (ANSWER_BIN * 8 + 4) / 5 + 1], at[TW_KEYTEXT_LEN + 1];
    memcpy(answer, TW_DEVICE_ANSWER_PREFIX, 4);
    tw_base32_encode(answer + 4, ans, k);
    tw_keytext_encode(at, TW_KEYTEXT_PREFIX, assoc);
    char fpr[TW_FPR_CHARS + 1];
    tw_key_fingerprint(fpr, assoc);
    tw_info("ident", "answered a device code of association %s%s", fpr, joined ? " (joined its network)" : "");
    if ((rc = tw_mpw_map(out, 5)) || (rc = put_str(out, "answer", answer)) || (rc = put_str(out, "association", at)) ||
        (rc = put_str(out, "key", n->keytext)) || (rc = tw_mpw_cstr(out, "joined")) || (rc = tw_mpw_bool(out, joined)) ||
        (rc = put_str(out, "note", note)))
        return rc;
    return 0;
}

/* ------------------------------------------------------------- device_accept */

int tw_ops_device_accept(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    const char *s;
    size_t l;
    int rc;
    if ((rc = tw_op_arg_str(args, "answer", true, &s, &l, e))) return rc;
    if (l > TW_INVITE_INPUT_MAX) FAIL(TW_ETOOBIG, "answer: longer than %u bytes", TW_INVITE_INPUT_MAX);
    char text[512];                       /* an answer is 262 characters; more cannot decode */
    size_t tl = squeeze(text, sizeof text, s, l);
    if (tl < 4 || memcmp(text, TW_DEVICE_ANSWER_PREFIX, 4) != 0)
        FAIL(TW_EINVAL, "not a device answer (it starts with %s, printed by twin device join)", TW_DEVICE_ANSWER_PREFIX);
    uint8_t ans[ANSWER_BIN + 8];
    int al = tw_base32_decode(ans, sizeof ans, text + 4, tl - 4);
    if (al != (int)ANSWER_BIN) FAIL(TW_EINVAL, "device answer mistyped or incomplete");
    if (ans[0] != DEVICE_VERSION) FAIL(TW_EVERSION, "device answer of an unsupported version %u", ans[0]);
    const uint8_t *assoc = ans + 1, *dev = ans + 1 + TW_KEY_LEN, *mac = ans + 1 + 2 * TW_KEY_LEN,
                  *sig = ans + 1 + 2 * TW_KEY_LEN + 32;
    if (memcmp(assoc, n->pk, TW_KEY_LEN) != 0)
        FAIL(TW_EINVAL, "this answer is for a code made by another node (%.10s...)", text + 4);
    if ((rc = need_assoc_key(n, "device accept", e))) return rc;
    uint8_t msg[SIGNED_LEN];
    answer_signed(msg, assoc, mac);
    if (crypto_sign_verify_detached(sig, msg, sizeof msg, dev) != 0)
        FAIL(TW_EBADSIG, "the device answer's signature does not verify: it was changed on the way");
    uint64_t now_s = tw_now_ms() / 1000u;
    pending *p = NULL;
    for (size_t i = 0; i < TW_DEVICE_CODES_MAX && !p; i++) {
        if (!codes[i].live) continue;
        uint8_t want[32];
        answer_mac(want, codes[i].secret, n->pk, dev);
        if (sodium_memcmp(want, mac, 32) == 0) p = &codes[i];
    }
    if (!p) FAIL(TW_ENOTFOUND, "no device code of this node matches this answer: it was used already, or twind "
                               "restarted since it was made (make another with twin device add)");
    if (p->expires_s <= now_s) {
        p->live = false;
        FAIL(TW_ESTALE, "the device code of this answer expired: make another with twin device add");
    }
    if (memcmp(dev, n->pk, TW_KEY_LEN) == 0) FAIL(TW_EINVAL, "the answer names this node's own key");
    tw_write_result res;
    if ((rc = write_device(n, dev, p->label, strlen(p->label), false, false, 0, &res, e))) return rc;
    p->live = false;                      /* used once */
    sodium_memzero(p->secret, sizeof p->secret);
    char kt[TW_KEYTEXT_LEN + 1];
    tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, dev);
    tw_ident_key k;
    tw_ident_lookup(tw_admit_ident(n), dev, &k);
    bool counts = k.role == TW_IDENT_DEVICE;
    tw_info("ident", "certified device \"%s\" (%s)", p->label, kt);
    if ((rc = tw_mpw_map(out, 3)) || (rc = put_str(out, "key", kt)) || (rc = put_str(out, "label", p->label)) ||
        (rc = tw_mpw_cstr(out, "counts")) || (rc = tw_mpw_bool(out, counts)))
        return rc;
    return 0;
}

/* ------------------------------------------------------------- keys */

int tw_ops_key_plan(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    uint8_t next[TW_KEY_LEN], h[32], have[32];
    int rc;
    if ((rc = arg_key(args, "next", true, next, NULL, e))) return rc;
    if ((rc = need_assoc_key(n, "key plan", e))) return rc;
    if (memcmp(next, n->pk, TW_KEY_LEN) == 0) FAIL(TW_EINVAL, "next: is this node's key itself");
    tw_ident_commit_of(h, next);
    int c = tw_ident_commitment(tw_admit_ident(n), n->pk, have);
    if (c == 2) FAIL(TW_EPERM, "this key has two commitments already: planned rotation is blocked; ask the "
                               "association's voucher for a recovery (twin key recover)");
    if (c == 1 && memcmp(have, h, 32) != 0)
        FAIL(TW_EEXIST, "this key is committed to another next key already; a commitment cannot be changed "
                        "(a second one would block rotation)");
    char hex[65], nt[TW_KEYTEXT_LEN + 1];
    tw_hex_encode(hex, h, 32);
    tw_keytext_encode(nt, TW_KEYTEXT_PREFIX, next);
    tw_arena a;
    tw_val body;
    tw_arena_init(&a, 0);
    if ((rc = tw_v_map(&a, &body, 1))) { tw_arena_free(&a); FAIL(rc, "out of memory"); }
    body.v.map[0].k = tw_v_cstr("commit");
    body.v.map[0].v = tw_v_str(hex, 64);
    tw_write_result res;
    rc = publish(n, "keyplan", hex, 64, &body, &res, e);
    tw_arena_free(&a);
    if (rc) return rc;
    tw_info("ident", "committed to the next key of this association (%s)", hex);
    if ((rc = tw_mpw_map(out, 3)) || (rc = put_str(out, "commit", hex)) || (rc = put_str(out, "next", nt)) ||
        (rc = tw_mpw_cstr(out, "unchanged")) || (rc = tw_mpw_bool(out, res.unchanged)))
        return rc;
    return 0;
}

int tw_ops_key_rotate(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    const tw_val *f = tw_v_get(args, "file"), *k = tw_v_get(args, "key");
    uint8_t seed[32], next_pk[TW_KEY_LEN], next_sk[64], h[32], have[32];
    int rc;
    bool from_file = f && f->type != TW_NIL;
    if (from_file) {
        tw_keyfile kf;
        if (f->type != TW_BIN || !k || k->type != TW_BIN || k->len != TW_KEYFILE_KEY_LEN)
            FAIL(TW_EINVAL, "arguments \"file\" (bin) and \"key\" (bin, %u bytes) go together", TW_KEYFILE_KEY_LEN);
        if ((rc = tw_keyfile_decode(&kf, (const uint8_t *)f->v.s, f->len))) FAIL(rc, "file: not an identity backup file");
        if ((rc = tw_keyfile_open(seed, &kf, (const uint8_t *)k->v.s)))
            FAIL(rc, "file: cannot be opened with this passphrase");
    } else {
        randombytes_buf(seed, sizeof seed);
    }
    crypto_sign_seed_keypair(next_pk, next_sk, seed);
    sodium_memzero(next_sk, sizeof next_sk);
    const tw_ident *id = tw_admit_ident(n);
    tw_ident_key mine;
    me(n, &mine);
    /* Done already (a crash between the succession and the switch): the
     * succession stands; only the switch is left. */
    tw_ident_key nk;
    tw_ident_lookup(id, next_pk, &nk);
    bool redo = nk.role == TW_IDENT_SUCCESSOR && memcmp(nk.identity, mine.identity, TW_KEY_LEN) == 0 && !mine.current;
    if (!redo) {
        if ((rc = need_assoc_key(n, "key rotate", e))) { sodium_memzero(seed, sizeof seed); return rc; }
        if (memcmp(next_pk, n->pk, TW_KEY_LEN) == 0) { sodium_memzero(seed, sizeof seed); FAIL(TW_EINVAL, "file: holds this node's key itself"); }
        int c = tw_ident_commitment(id, n->pk, have);
        tw_ident_commit_of(h, next_pk);
        if (c == 2) {
            sodium_memzero(seed, sizeof seed);
            FAIL(TW_EPERM, "planned rotation is blocked: this key has two commitments (someone holding it made a second "
                           "one); ask the association's voucher for a recovery (twin key recover)");
        }
        if (c == 1 && !from_file) {
            sodium_memzero(seed, sizeof seed);
            FAIL(TW_EINVAL, "this association committed to its next key (twin key plan): rotate to it with --to FILE");
        }
        if (c == 1 && memcmp(have, h, 32) != 0) {
            sodium_memzero(seed, sizeof seed);
            FAIL(TW_EPERM, "commitment mismatch: the key in this file is not the one this association committed to");
        }
        char nt[TW_KEYTEXT_LEN + 1];
        tw_keytext_encode(nt, TW_KEYTEXT_PREFIX, next_pk);
        tw_arena a;
        tw_val body;
        tw_arena_init(&a, 0);
        if ((rc = tw_v_map(&a, &body, 1))) { tw_arena_free(&a); sodium_memzero(seed, sizeof seed); FAIL(rc, "out of memory"); }
        body.v.map[0].k = tw_v_cstr("next");
        body.v.map[0].v = tw_v_str(nt, TW_KEYTEXT_LEN);
        tw_write_result res;
        rc = publish(n, "succession", nt, TW_KEYTEXT_LEN, &body, &res, e);
        tw_arena_free(&a);
        if (rc) { sodium_memzero(seed, sizeof seed); return rc; }
        tw_ident_lookup(tw_admit_ident(n), next_pk, &nk);
        if (nk.role != TW_IDENT_SUCCESSOR) {
            sodium_memzero(seed, sizeof seed);
            FAIL(TW_EPERM, "the succession was written but does not count (the next key is another association's, "
                           "or a recovery of this key outranks it): this node keeps its key");
        }
    }
    char prev[sizeof n->keytext];
    snprintf(prev, sizeof prev, "%s", n->keytext);
    rc = tw_node_set_identity(n, seed, e->msg, sizeof e->msg);
    sodium_memzero(seed, sizeof seed);
    if (rc) return rc;
    tw_net_sync_now(n);
    if ((rc = tw_mpw_map(out, 4)) || (rc = put_str(out, "previous", prev)) || (rc = put_str(out, "key", n->keytext)) ||
        (rc = tw_mpw_cstr(out, "planned")) || (rc = tw_mpw_bool(out, from_file)) ||
        (rc = put_str(out, "note", from_file ? "" : "the new key was made here and exists only in this data directory: "
                                                    "back it up (twin key export)")))
        return rc;
    return 0;
}

int tw_ops_key_recover(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e)
{
    uint8_t lost[TW_KEY_LEN], next[TW_KEY_LEN];
    uint64_t from = 0;
    bool have_from;
    int rc;
    if ((rc = arg_key(args, "key", true, lost, NULL, e)) || (rc = arg_key(args, "next", true, next, NULL, e)) ||
        (rc = arg_u64(args, "from_ms", &from, &have_from, e)))
        return rc;
    if (!have_from) from = tw_now_ms();
    if (memcmp(lost, next, TW_KEY_LEN) == 0) FAIL(TW_EINVAL, "next: is the lost key itself");
    const tw_ident *id = tw_admit_ident(n);
    tw_ident_key mine, lk;
    me(n, &mine);
    tw_ident_lookup(id, lost, &lk);
    if (!memcmp(lk.identity, mine.identity, TW_KEY_LEN))
        FAIL(TW_EPERM, "key: belongs to this node's own association; its voucher (or a root) recovers it");
    if (mine.role == TW_IDENT_DEVICE)
        FAIL(TW_EPERM, "this node is a device of its association: a recovery is signed by the association's key");
    /* A root, or the association that vouches for the lost key's. */
    const uint8_t (*roots)[TW_KEY_LEN];
    size_t nr = tw_node_roots(n, &roots);
    bool ok = false;
    for (size_t i = 0; i < nr && !ok; i++) ok = memcmp(roots[i], n->pk, TW_KEY_LEN) == 0;
    if (!ok) {
        char slot[TW_KEYTEXT_LEN + 1];
        tw_keytext_encode(slot, TW_KEYTEXT_PREFIX, lk.identity);
        uint8_t keys[TW_IDENT_KEYS_SHOWN][TW_KEY_LEN];
        size_t k = tw_admit_identity_keys(n, n->pk, keys, TW_IDENT_KEYS_SHOWN);
        tw_arena a;
        tw_buf env;
        tw_arena_init(&a, 0);
        tw_buf_init(&env);
        for (size_t i = 0; i < k && !ok; i++) {
            uint8_t vid[TW_ID_LEN];
            uint64_t ts;
            tw_entry en;
            if (tw_store_slot(n->store, "vouch", 5, keys[i], slot, TW_KEYTEXT_LEN, vid, &ts) ||
                tw_store_get(n->store, vid, &env) || tw_entry_parse_known(env.p, env.len, vid, &a, &en))
                continue;
            const tw_val *rv = en.body.type == TW_MAP ? tw_v_get(&en.body, "revoked") : NULL;
            ok = en.body.type == TW_MAP && !(rv && rv->type == TW_BOOL && rv->v.b);
        }
        tw_buf_free(&env);
        tw_arena_free(&a);
    }
    if (!ok)
        FAIL(TW_EPERM, "not the voucher: only a root or the association that vouches for the lost key's association "
                       "can recover it (twin members shows who vouched for whom)");
    char lt[TW_KEYTEXT_LEN + 1], nt[TW_KEYTEXT_LEN + 1];
    tw_keytext_encode(lt, TW_KEYTEXT_PREFIX, lost);
    tw_keytext_encode(nt, TW_KEYTEXT_PREFIX, next);
    tw_arena a;
    tw_val body;
    tw_arena_init(&a, 0);
    if ((rc = tw_v_map(&a, &body, 3))) { tw_arena_free(&a); FAIL(rc, "out of memory"); }
    body.v.map[0].k = tw_v_cstr("key");
    body.v.map[0].v = tw_v_str(lt, TW_KEYTEXT_LEN);
    body.v.map[1].k = tw_v_cstr("next");
    body.v.map[1].v = tw_v_str(nt, TW_KEYTEXT_LEN);
    body.v.map[2].k = tw_v_cstr("from");
    body.v.map[2].v = tw_v_uint(from);
    tw_write_result res;
    rc = publish(n, "recovery", lt, TW_KEYTEXT_LEN, &body, &res, e);
    tw_arena_free(&a);
    if (rc) return rc;
    tw_ident_key after;
    tw_ident_lookup(tw_admit_ident(n), next, &after);
    bool counts = memcmp(after.identity, lk.identity, TW_KEY_LEN) == 0;
    tw_info("ident", "recovered %s to %s from %llu%s", lt, nt, (unsigned long long)from,
            counts ? "" : " (does not count: see twin device list on the association's node)");
    if ((rc = tw_mpw_map(out, 4)) || (rc = put_str(out, "key", lt)) || (rc = put_str(out, "next", nt)) ||
        (rc = tw_mpw_kv_uint(out, "from", from)) || (rc = tw_mpw_cstr(out, "counts")) || (rc = tw_mpw_bool(out, counts)))
        return rc;
    return 0;
}
