/* Control protocol framing and message builders (include/twin/ctl.h). */
#include <string.h>

#include "twin/ctl.h"
#include "twin/err.h"
#include "twin/limits.h"

int tw_ctl_frame_len(const uint8_t hdr[TW_CTL_HDR_LEN], uint32_t *len)
{
    uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (n == 0) return TW_EINVAL;
    if (n > TW_CTL_MSG_MAX) return TW_ETOOBIG;
    *len = n;
    return 0;
}

int tw_ctl_frame(tw_buf *out, const tw_val *msg)
{
    size_t at = out->len;
    uint8_t hdr[TW_CTL_HDR_LEN] = { 0 };
    int rc = tw_buf_put(out, hdr, sizeof hdr);
    if (rc) return rc;
    if ((rc = tw_mp_encode_ctl(out, msg))) { out->len = at; return rc; }
    size_t n = out->len - at - TW_CTL_HDR_LEN;
    if (n > TW_CTL_MSG_MAX) { out->len = at; return TW_ETOOBIG; }
    out->p[at] = (uint8_t)(n >> 24);
    out->p[at + 1] = (uint8_t)(n >> 16);
    out->p[at + 2] = (uint8_t)(n >> 8);
    out->p[at + 3] = (uint8_t)n;
    return 0;
}

int tw_ctl_decode(const uint8_t *buf, size_t len, tw_arena *a, tw_val *msg, const char **why)
{
    /* Responses carry record bodies, each nested up to TW_DEPTH_MAX, inside
     * a few levels of their own: every body the node accepted must be
     * showable (PROTOCOL.md, "Control socket"). */
    int rc = tw_mp_decode(buf, len, a, TW_MP_CTL_DEPTH, msg, NULL, why);
    if (rc) return rc;
    if (msg->type != TW_MAP) { if (why) *why = "control message is not a map"; return TW_ETYPE; }
    const tw_val *v = tw_v_get(msg, "v");
    if (!v || v->type != TW_UINT) { if (why) *why = "control message has no version"; return TW_EPROTO; }
    if (v->v.u != TW_CTL_VERSION) { if (why) *why = "control protocol version not supported"; return TW_EVERSION; }
    return 0;
}

static int build(tw_arena *a, tw_val *msg, uint32_t n, tw_kv **kv)
{
    if (tw_v_map(a, msg, n)) return TW_ENOMEM;
    *kv = msg->v.map;
    (*kv)[0].k = tw_v_cstr("v");
    (*kv)[0].v = tw_v_uint(TW_CTL_VERSION);
    return 0;
}

int tw_ctl_request(tw_arena *a, tw_val *msg, const char *op, const tw_val *args)
{
    tw_kv *kv;
    if (build(a, msg, 3, &kv)) return TW_ENOMEM;
    kv[1].k = tw_v_cstr("op");
    kv[1].v = tw_v_cstr(op);
    kv[2].k = tw_v_cstr("args");
    if (args) kv[2].v = *args;
    else if (tw_v_map(a, &kv[2].v, 0)) return TW_ENOMEM;
    return 0;
}

int tw_ctl_ok(tw_arena *a, tw_val *msg, const tw_val *result)
{
    tw_kv *kv;
    if (build(a, msg, 3, &kv)) return TW_ENOMEM;
    kv[1].k = tw_v_cstr("ok");
    kv[1].v = tw_v_bool(true);
    kv[2].k = tw_v_cstr("result");
    kv[2].v = result ? *result : tw_v_nil();
    return 0;
}

int tw_ctl_error(tw_arena *a, tw_val *msg, int code, const char *error)
{
    tw_kv *kv;
    if (build(a, msg, 4, &kv)) return TW_ENOMEM;
    kv[1].k = tw_v_cstr("ok");
    kv[1].v = tw_v_bool(false);
    kv[2].k = tw_v_cstr("code");
    kv[2].v = tw_v_int(code);
    kv[3].k = tw_v_cstr("error");
    kv[3].v = tw_v_cstr(error);
    return 0;
}
