/*
 * Signed entries (include/twin/entry.h, proto/PROTOCOL.md "Entries").
 *
 * Parsing insists on the canonical payload encoding, so that the bytes that
 * were signed are the only encoding of the entry and its id is stable.
 */
#include <string.h>
#include <sodium.h>

#include "twin/entry.h"
#include "twin/err.h"
#include "twin/limits.h"

#define WHY(msg) do { if (why) *why = (msg); } while (0)

int tw_entry_check_names(const char *kind, size_t kind_len, const char *slot,
                         size_t slot_len, const char **why)
{
    if (kind_len == 0 || kind_len > TW_KIND_MAX) { WHY("kind must be 1 to 32 bytes"); return TW_EINVAL; }
    for (size_t i = 0; i < kind_len; i++) {
        char c = kind[i];
        if (!((c >= 'a' && c <= 'z') || (i > 0 && ((c >= '0' && c <= '9') || c == '_')))) {
            WHY("kind must be lowercase letters, digits and '_', starting with a letter");
            return TW_EINVAL;
        }
    }
    if (slot_len == 0 || slot_len > TW_SLOT_MAX) { WHY("slot key must be 1 to 200 bytes"); return TW_EINVAL; }
    for (size_t i = 0; i < slot_len; i++) {
        unsigned char c = (unsigned char)slot[i];
        if (c < 0x21 || c > 0x7e) { WHY("slot key must be printable ASCII without spaces"); return TW_EINVAL; }
    }
    return 0;
}

static int parse(const uint8_t *env, size_t len, tw_arena *a, tw_entry *e, const char **why,
                 const uint8_t *known_id);

int tw_entry_parse(const uint8_t *env, size_t len, tw_arena *a, tw_entry *e, const char **why)
{
    return parse(env, len, a, e, why, NULL);
}

int tw_entry_parse_known(const uint8_t *env, size_t len, const uint8_t id[TW_ID_LEN],
                         tw_arena *a, tw_entry *e)
{
    return parse(env, len, a, e, NULL, id);
}

static int parse(const uint8_t *env, size_t len, tw_arena *a, tw_entry *e, const char **why,
                 const uint8_t *known_id)
{
    tw_val top, pl;
    const char *w = NULL;
    int rc;
    /* An envelope of our own store was parsed canonically when admitted. */
    unsigned flags = known_id ? TW_MP_STORED : TW_MP_CANONICAL;
    memset(e, 0, sizeof *e);
    if (len > TW_ENVELOPE_MAX) { WHY("envelope larger than the limit"); return TW_ETOOBIG; }
    if ((rc = tw_mp_decode(env, len, a, flags, &top, NULL, &w))) { WHY(w); return rc; }
    if (top.type != TW_ARR || top.len != 3) { WHY("envelope is not an array of 3"); return TW_ETYPE; }
    if (top.v.arr[0].type != TW_UINT || top.v.arr[0].v.u != TW_ENTRY_VERSION) {
        WHY("unsupported entry version");
        return TW_EVERSION;
    }
    const tw_val *p = &top.v.arr[1], *s = &top.v.arr[2];
    if (p->type != TW_BIN) { WHY("payload is not binary"); return TW_ETYPE; }
    if (p->len > TW_PAYLOAD_MAX) { WHY("payload larger than 16 KiB"); return TW_ETOOBIG; }
    if (s->type != TW_BIN || s->len != TW_SIG_LEN) { WHY("signature is not 64 bytes"); return TW_ETYPE; }
    e->env = env;
    e->env_len = len;
    e->payload = (const uint8_t *)p->v.s;
    e->payload_len = p->len;
    e->sig = (const uint8_t *)s->v.s;

    if ((rc = tw_mp_decode(e->payload, e->payload_len, a, flags, &pl, NULL, &w))) {
        WHY(w);
        return rc;
    }
    if (pl.type != TW_MAP || pl.len != 6) { WHY("payload is not a map of 6 fields"); return TW_ETYPE; }
    /* Keys are unique (the canonical reader checked), so six pairs that
     * include all six names hold exactly those.  Their order on the wire is
     * the bytewise order of the encoded keys (ts, net, body, kind, slot,
     * author), not the alphabetical one, so look them up by name. */
    const tw_val *au = tw_v_get(&pl, "author"), *bo = tw_v_get(&pl, "body"),
                 *ki = tw_v_get(&pl, "kind"), *ne = tw_v_get(&pl, "net"),
                 *sl = tw_v_get(&pl, "slot"), *ts = tw_v_get(&pl, "ts");
    if (!au || !bo || !ki || !ne || !sl || !ts) { WHY("payload fields are not author, body, kind, net, slot, ts"); return TW_ETYPE; }
    if (au->type != TW_BIN || au->len != TW_KEY_LEN) { WHY("author is not a 32-byte key"); return TW_ETYPE; }
    if (ne->type != TW_BIN || ne->len != TW_NETID_LEN) { WHY("net is not a 32-byte network id"); return TW_ETYPE; }
    if (ki->type != TW_STR || sl->type != TW_STR) { WHY("kind and slot must be strings"); return TW_ETYPE; }
    if (ts->type != TW_UINT) { WHY("ts is not an unsigned integer"); return TW_ETYPE; }
    if (bo->type != TW_MAP && bo->type != TW_NIL) { WHY("body is neither a map nor nil"); return TW_ETYPE; }
    if ((rc = tw_entry_check_names(ki->v.s, ki->len, sl->v.s, sl->len, why))) return rc;
    e->author = (const uint8_t *)au->v.s;
    e->net = (const uint8_t *)ne->v.s;
    e->kind = ki->v.s;
    e->kind_len = ki->len;
    e->slot = sl->v.s;
    e->slot_len = sl->len;
    e->ts = ts->v.u;
    e->body = *bo;
    if (known_id) memcpy(e->id, known_id, TW_ID_LEN);
    else crypto_generichash(e->id, TW_ID_LEN, env, len, NULL, 0);
    return 0;
}

int tw_entry_verify(const tw_entry *e)
{
    /* Ed25519 over context || payload, in one buffer: libsodium's
     * multi-part API is Ed25519ph, a different signature scheme. */
    uint8_t msg[TW_ENTRY_CONTEXT_LEN + TW_PAYLOAD_MAX];
    if (e->payload_len > TW_PAYLOAD_MAX) return TW_ETOOBIG;
    memcpy(msg, TW_ENTRY_CONTEXT, TW_ENTRY_CONTEXT_LEN);
    memcpy(msg + TW_ENTRY_CONTEXT_LEN, e->payload, e->payload_len);
    if (crypto_sign_verify_detached(e->sig, msg, TW_ENTRY_CONTEXT_LEN + e->payload_len, e->author) != 0)
        return TW_EBADSIG;
    return 0;
}

int tw_entry_check(const tw_entry *e, const uint8_t netid[TW_NETID_LEN], uint64_t now_ms)
{
    if (sodium_memcmp(e->net, netid, TW_NETID_LEN) != 0) return TW_ENETWORK;
    /* Written as a difference so that no clock value can overflow it. */
    if (e->ts > now_ms && e->ts - now_ms > TW_FUTURE_SKEW_MS) return TW_EFUTURE;
    return 0;
}

int tw_entry_sign(tw_buf *out, const uint8_t sk[TW_SECKEY_LEN],
                  const uint8_t netid[TW_NETID_LEN], const char *kind, size_t kind_len,
                  const char *slot, size_t slot_len, uint64_t ts, const tw_val *body)
{
    int rc;
    const char *why;
    if ((rc = tw_entry_check_names(kind, kind_len, slot, slot_len, &why))) return rc;
    if (body->type != TW_MAP && body->type != TW_NIL) return TW_ETYPE;
    tw_buf pl;
    tw_buf_init(&pl);
    tw_kv kv[6] = {
        { tw_v_cstr("author"), tw_v_bin(sk + 32, TW_KEY_LEN) },
        { tw_v_cstr("body"), *body },
        { tw_v_cstr("kind"), tw_v_str(kind, kind_len) },
        { tw_v_cstr("net"), tw_v_bin(netid, TW_NETID_LEN) },
        { tw_v_cstr("slot"), tw_v_str(slot, slot_len) },
        { tw_v_cstr("ts"), tw_v_uint(ts) },
    };
    tw_val map = { .type = TW_MAP, .len = 6, .v.map = kv };
    if ((rc = tw_mp_encode(&pl, &map))) goto done;
    if (pl.len > TW_PAYLOAD_MAX) { rc = TW_ETOOBIG; goto done; }
    uint8_t msg[TW_ENTRY_CONTEXT_LEN + TW_PAYLOAD_MAX], sig[TW_SIG_LEN];
    memcpy(msg, TW_ENTRY_CONTEXT, TW_ENTRY_CONTEXT_LEN);
    memcpy(msg + TW_ENTRY_CONTEXT_LEN, pl.p, pl.len);
    crypto_sign_detached(sig, NULL, msg, TW_ENTRY_CONTEXT_LEN + pl.len, sk);
    tw_buf_reset(out);
    if ((rc = tw_mpw_arr(out, 3)) || (rc = tw_mpw_uint(out, TW_ENTRY_VERSION)) ||
        (rc = tw_mpw_bin(out, pl.p, pl.len)) || (rc = tw_mpw_bin(out, sig, TW_SIG_LEN)))
        goto done;
done:
    tw_buf_free(&pl);
    return rc;
}

int tw_entry_cmp_version(uint64_t ts_a, const uint8_t id_a[TW_ID_LEN],
                         uint64_t ts_b, const uint8_t id_b[TW_ID_LEN])
{
    if (ts_a != ts_b) return ts_a > ts_b ? 1 : -1;
    int c = memcmp(id_a, id_b, TW_ID_LEN);
    return (c > 0) - (c < 0);
}

void tw_netid_derive(uint8_t netid[TW_NETID_LEN], const uint8_t netkey[TW_NETKEY_LEN])
{
    crypto_generichash(netid, TW_NETID_LEN, (const uint8_t *)TW_NETID_CONTEXT,
                       strlen(TW_NETID_CONTEXT), netkey, TW_NETKEY_LEN);
}
