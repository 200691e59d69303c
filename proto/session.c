/*
 * The transport session of the peer protocol (see include/twin/session.h).
 *
 * States: HANDSHAKE (the Noise handshake state decides whose turn it is),
 * ESTABLISHED (transport keys, hellos checked), CLOSED (terminal; only the
 * output may still be drained).  Every transition goes through enter_state()
 * or sess_fail(), so a closed session can never be revived and there is
 * exactly one CLOSED event.
 *
 * Cost to an attacker without the network key: message 1 is authenticated
 * with the PSK before this side does anything, so a responder that cannot
 * decrypt it sends nothing and performs no X25519 operation.  The X25519
 * static private key is derived from the Ed25519 seed by hashing alone, for
 * the same reason (no point decompression per connection attempt).
 *
 * Events are queued: one input call may carry many frames.  Their
 * plaintexts are appended to one buffer and referred to by offset, so the
 * buffer may grow while events wait; it is emptied once every queued event
 * has been handed out and the caller comes back.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "twin/mp.h"
#include "twin/noise.h"
#include "twin/session.h"
#include "twin/vec.h"

static const char SESS_PROTOCOL[] = "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b";
/* The version is deliberately not in the prologue, so that a version
 * mismatch is reported as such instead of as a decryption failure. */
static const char SESS_PROLOGUE[] = "twin-wire";

/* Transport message types the session handles itself. */
enum { MSG_PING = 6, MSG_PONG = 7, MSG_ERROR = 8 };

#define SESS_HELLO_ARENA_CAP  16384u   /* decoding a <= 1 KiB handshake payload */
#define SESS_CTRL_ARENA_CAP   16384u   /* decoding a PING, PONG or ERROR */
#define SESS_CTRL_MSG_MAX     (TW_ERROR_TEXT_MAX + 32u) /* ERROR [8, code, text] and framing */
#define SESS_REFUSAL_MAX      200u     /* bytes of the refusal text in a hello */

typedef enum { ST_HANDSHAKE, ST_ESTABLISHED, ST_CLOSED } sess_state;

typedef struct {
    tw_sev_type type;
    size_t off, len;          /* MESSAGE: plaintext in s->pt */
} sess_ev;

struct tw_sess {
    sess_state state;
    bool initiator;
    tw_noise_hs *hs;
    tw_noise_cs *tx, *rx;
    unsigned dh_done;         /* X25519 operations of a handshake state already freed */

    uint8_t ed_pk[32];
    char sw[TW_HELLO_SW_MAX + 1];
    uint64_t features;
    uint32_t vmin, vmax;
    uint32_t version;         /* chosen version, once known */
    tw_sess_replay *replay;   /* responder: message-1 keys seen, shared */

    /* Peer's hello, for the ESTABLISHED event. */
    uint8_t remote_key[32];
    uint64_t remote_features;
    char remote_sw[TW_HELLO_SW_MAX + 1];
    int64_t clock_offset;

    /* Timers.  last_in is the last complete frame received. */
    uint64_t start_ms, last_in_ms, last_out_ms, now_ms;
    uint64_t ping_nonce;

    /* Input framing. */
    uint8_t hdr[TW_FRAME_HDR_LEN];
    unsigned hdr_have;
    size_t frame_len;
    tw_buf inbuf;

    tw_buf out;
    size_t out_off;           /* bytes of out already consumed */

    tw_buf pt;                /* plaintexts of queued MESSAGE events */
    sess_ev *evq;
    size_t ev_n, ev_head, ev_cap;

    /* CLOSED. */
    int close_code;
    char close_reason[sizeof(((tw_sess_event *)0)->reason)];
    bool close_by_peer;

    uint64_t bytes_in, bytes_out;
};

/* ------------------------------------------------------------ helpers */

static uint64_t elapsed(uint64_t now, uint64_t since)
{
    return now > since ? now - since : 0;
}

/* Whether a UTF-8 sequence of k bytes is a character that could disguise a
 * log line: C0 and C1 controls, DEL, and the bidirectional overrides and
 * isolates (U+202A..U+202E, U+2066..U+2069). */
static bool text_control(const unsigned char *c, size_t k)
{
    if (k == 1) return c[0] < 0x20 || c[0] == 0x7f;
    if (k == 2) return c[0] == 0xc2 && c[1] < 0xa0;
    if (k == 3 && c[0] == 0xe2)
        return (c[1] == 0x80 && c[2] >= 0xaa && c[2] <= 0xae) ||
               (c[1] == 0x81 && c[2] >= 0xa6 && c[2] <= 0xa9);
    return false;
}

/*
 * Copies peer-supplied text for a log or an event: valid UTF-8 is kept,
 * control characters (text_control) and invalid bytes become '?', and the
 * copy is cut at a character boundary to fit cap (NUL included).
 */
static void copy_text(char *dst, size_t cap, const char *src, size_t n)
{
    size_t o = 0, i = 0;

    if (cap == 0) return;
    while (i < n) {
        unsigned char c = (unsigned char)src[i];
        size_t k = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (k == 0 || i + k > n || !tw_utf8_valid((const uint8_t *)src + i, k)) {
            if (o + 1 >= cap) break;
            dst[o++] = '?';
            i++;
            continue;
        }
        if (o + k >= cap) break;
        if (text_control((const unsigned char *)src + i, k)) dst[o++] = '?';
        else memcpy(dst + o, src + i, k), o += k;
        i += k;
    }
    dst[o] = '\0';
}

static int64_t clock_diff(uint64_t theirs, uint64_t ours)
{
    if (theirs >= ours) return theirs - ours > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(theirs - ours);
    return ours - theirs > (uint64_t)INT64_MAX ? -INT64_MAX : -(int64_t)(ours - theirs);
}

static int ev_push(tw_sess *s, tw_sev_type type, size_t off, size_t len)
{
    sess_ev *q = tw_vec_room(s->evq, &s->ev_cap, s->ev_n, sizeof *q, 8);
    if (!q) return TW_ENOMEM;
    s->evq = q;
    s->evq[s->ev_n].type = type;
    s->evq[s->ev_n].off = off;
    s->evq[s->ev_n].len = len;
    s->ev_n++;
    return 0;
}

/* Forgets the events already handed out, once none is waiting, so that the
 * plaintext buffer does not grow across calls. */
static void ev_compact(tw_sess *s)
{
    if (s->ev_head == s->ev_n) {
        s->ev_head = s->ev_n = 0;
        if (s->pt.len) sodium_memzero(s->pt.p, s->pt.len);
        tw_buf_reset(&s->pt);
    }
}

static void drop_keys(tw_sess *s)
{
    if (s->hs) {
        s->dh_done += tw_noise_hs_dh_count(s->hs);
        tw_noise_hs_free(s->hs);
        s->hs = NULL;
    }
    tw_noise_cs_free(s->tx);
    tw_noise_cs_free(s->rx);
    s->tx = s->rx = NULL;
}

/*
 * The one place the state changes.  Nothing leaves CLOSED: a transition out
 * of it would be a bug here, never something a peer can cause, so it is
 * fatal.
 */
static void enter_state(tw_sess *s, sess_state next)
{
    if (s->state == ST_CLOSED) abort();
    s->state = next;
}

/* Frames and encrypts one plaintext into the output. */
static int put_transport(tw_sess *s, const uint8_t *msg, size_t len)
{
    size_t need = TW_FRAME_HDR_LEN + len + TW_NOISE_TAGLEN, ctlen = 0;
    int rc;

    if (!s->tx) return TW_ESTATE;
    if (len > TW_SESS_MSG_MAX) return TW_ETOOBIG;
    if ((rc = tw_buf_reserve(&s->out, need)) != 0) return rc;
    uint8_t *p = s->out.p + s->out.len;
    rc = tw_noise_cs_encrypt(s->tx, msg, len, p + TW_FRAME_HDR_LEN, need - TW_FRAME_HDR_LEN, &ctlen);
    if (rc) return rc;
    p[0] = (uint8_t)(ctlen >> 8);
    p[1] = (uint8_t)ctlen;
    s->out.len += TW_FRAME_HDR_LEN + ctlen;
    s->bytes_out += TW_FRAME_HDR_LEN + ctlen;
    s->last_out_ms = s->now_ms;
    return 0;
}

/* Sends [type, n] (PING or PONG). */
static int put_ping(tw_sess *s, unsigned type, uint64_t nonce)
{
    tw_buf m;
    int rc;

    tw_buf_init(&m);
    rc = tw_mpw_arr(&m, 2);
    if (rc == 0) rc = tw_mpw_uint(&m, type);
    if (rc == 0) rc = tw_mpw_uint(&m, nonce);
    if (rc == 0) rc = put_transport(s, m.p, m.len);
    tw_buf_free(&m);
    return rc;
}

static int put_error(tw_sess *s, int code, const char *text)
{
    char t[TW_ERROR_TEXT_MAX + 1];
    tw_buf m;
    int rc;

    copy_text(t, sizeof t, text ? text : "", text ? strlen(text) : 0);
    tw_buf_init(&m);
    rc = tw_mpw_arr(&m, 3);
    if (rc == 0) rc = tw_mpw_uint(&m, MSG_ERROR);
    if (rc == 0) rc = tw_mpw_int(&m, code);
    if (rc == 0) rc = tw_mpw_cstr(&m, t);
    if (rc == 0) rc = put_transport(s, m.p, m.len);
    tw_buf_free(&m);
    return rc;
}

/*
 * Closes the session with a reason: sends ERROR first when transport keys
 * exist and the peer is not the one closing, wipes every key, and queues
 * the CLOSED event.  Returns TW_ECLOSED for callers to pass on.
 */
static int sess_close(tw_sess *s, int code, bool by_peer, bool tell_peer, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int sess_close(tw_sess *s, int code, bool by_peer, bool tell_peer, const char *fmt, ...)
{
    char raw[sizeof s->close_reason * 2];
    va_list ap;

    if (s->state == ST_CLOSED) return TW_ECLOSED;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    copy_text(s->close_reason, sizeof s->close_reason, raw, strlen(raw));
    s->close_code = code;
    s->close_by_peer = by_peer;
    /* Best effort: a failure to queue the ERROR changes nothing. */
    if (tell_peer && !by_peer && s->tx) (void)put_error(s, code, s->close_reason);
    drop_keys(s);
    enter_state(s, ST_CLOSED);
    if (s->inbuf.p) sodium_memzero(s->inbuf.p, s->inbuf.cap);
    tw_buf_reset(&s->inbuf);
    /* If even the event cannot be queued, tw_sess_next_event still reports
     * the close from the state. */
    (void)ev_push(s, TW_SEV_CLOSED, 0, 0);
    return TW_ECLOSED;
}

static const char *hs_failure(int rc)
{
    switch (rc) {
    case TW_EDECRYPT: return "handshake failed: wrong network key or corrupted message";
    case TW_EKEY:     return "handshake failed: the peer sent a weak key";
    case TW_ETRUNC:   return "handshake failed: message too short";
    case TW_ETOOBIG:  return "handshake failed: message too large";
    default:          return "handshake failed";
    }
}

/* ------------------------------------------------------------- hello */

typedef struct {
    uint64_t clock, feat, v;
    const uint8_t *key;
    const char *sw;  size_t sw_len;
    const char *err; size_t err_len;   /* err NULL when absent */
} hello;

static int hello_encode(tw_sess *s, tw_buf *b, uint32_t v, const char *err)
{
    tw_arena a;
    tw_val m;
    int rc;

    tw_arena_init(&a, SESS_HELLO_ARENA_CAP);
    if ((rc = tw_v_map(&a, &m, err ? 6 : 5)) == 0) {
        m.v.map[0].k = tw_v_cstr("clock"); m.v.map[0].v = tw_v_uint(s->now_ms);
        m.v.map[1].k = tw_v_cstr("feat");  m.v.map[1].v = tw_v_uint(s->features);
        m.v.map[2].k = tw_v_cstr("key");   m.v.map[2].v = tw_v_bin(s->ed_pk, 32);
        m.v.map[3].k = tw_v_cstr("sw");    m.v.map[3].v = tw_v_cstr(s->sw);
        m.v.map[4].k = tw_v_cstr("v");     m.v.map[4].v = tw_v_uint(v);
        if (err) { m.v.map[5].k = tw_v_cstr("err"); m.v.map[5].v = tw_v_cstr(err); }
        rc = tw_mp_encode(b, &m);
    }
    tw_arena_free(&a);
    return rc;
}

/* Parses a hello; unknown keys are ignored so later versions may add some.
 * On failure *why says what is wrong. */
static int hello_parse(const uint8_t *p, size_t n, tw_arena *a, hello *h, const char **why)
{
    tw_val m;
    const tw_val *v;
    int rc;

    memset(h, 0, sizeof *h);
    if ((rc = tw_mp_decode(p, n, a, TW_MP_CANONICAL, &m, NULL, why)) != 0) return rc;
    *why = "hello is not a map";
    if (m.type != TW_MAP) return TW_EPROTO;
    *why = "hello lacks a uint \"clock\"";
    if (!(v = tw_v_get(&m, "clock")) || v->type != TW_UINT) return TW_EPROTO;
    h->clock = v->v.u;
    *why = "hello lacks a uint \"feat\"";
    if (!(v = tw_v_get(&m, "feat")) || v->type != TW_UINT) return TW_EPROTO;
    h->feat = v->v.u;
    *why = "hello lacks a 32-byte \"key\"";
    if (!(v = tw_v_get(&m, "key")) || v->type != TW_BIN || v->len != 32) return TW_EPROTO;
    h->key = (const uint8_t *)v->v.s;
    *why = "hello lacks a \"sw\" string of at most 64 bytes";
    if (!(v = tw_v_get(&m, "sw")) || v->type != TW_STR || v->len > TW_HELLO_SW_MAX) return TW_EPROTO;
    h->sw = v->v.s;
    h->sw_len = v->len;
    *why = "hello lacks a uint \"v\"";
    if (!(v = tw_v_get(&m, "v")) || v->type != TW_UINT) return TW_EPROTO;
    h->v = v->v.u;
    if ((v = tw_v_get(&m, "err")) != NULL) {
        *why = "hello has an \"err\" that is not a string of at most 256 bytes";
        if (v->type != TW_STR || v->len > TW_ERROR_TEXT_MAX) return TW_EPROTO;
        h->err = v->v.s;
        h->err_len = v->len;
    }
    *why = NULL;
    return 0;
}

/* Checks the identity in a hello against the handshake's static key and
 * keeps what the ESTABLISHED event reports. */
static int hello_accept(tw_sess *s, const hello *h)
{
    uint8_t rs[TW_NOISE_DHLEN], x[TW_NOISE_DHLEN];
    int rc;

    if ((rc = tw_noise_hs_remote_static(s->hs, rs)) != 0)
        return sess_close(s, TW_EINTERNAL, false, false, "handshake: no remote static key (%d)", rc);
    if (tw_noise_pub_from_ed25519(x, h->key) != 0)
        return sess_close(s, TW_EKEY, false, true, "identity key in the hello is not a valid Ed25519 key");
    if (sodium_memcmp(x, rs, sizeof x) != 0)
        return sess_close(s, TW_EKEY, false, true, "identity key does not match the handshake key");
    memcpy(s->remote_key, h->key, 32);
    s->remote_features = h->feat;
    copy_text(s->remote_sw, sizeof s->remote_sw, h->sw, h->sw_len);
    s->clock_offset = clock_diff(h->clock, s->now_ms);
    return 0;
}

/* Handshake complete and hello accepted: hand the keys to transport. */
static int establish(tw_sess *s)
{
    int rc;

    if ((rc = ev_push(s, TW_SEV_ESTABLISHED, 0, 0)) != 0)
        return sess_close(s, rc, false, true, "out of memory");
    s->dh_done += tw_noise_hs_dh_count(s->hs);
    tw_noise_hs_free(s->hs);
    s->hs = NULL;
    s->last_in_ms = s->last_out_ms = s->now_ms;
    enter_state(s, ST_ESTABLISHED);
    return 0;
}

/* Once the handshake state is complete, the transport keys are taken at
 * once so that a failing check can still tell the peer why. */
static int take_keys(tw_sess *s)
{
    int rc = tw_noise_hs_split(s->hs, &s->tx, &s->rx);
    if (rc) return sess_close(s, TW_EINTERNAL, false, false, "handshake: split failed (%d)", rc);
    return 0;
}

static int hs_send(tw_sess *s, const uint8_t *payload, size_t plen)
{
    uint8_t *p;
    size_t n = 0;
    int rc;

    if ((rc = tw_buf_reserve(&s->out, TW_FRAME_HDR_LEN + TW_HANDSHAKE_MSG_MAX)) != 0) return rc;
    p = s->out.p + s->out.len;
    rc = tw_noise_hs_write(s->hs, payload, plen, p + TW_FRAME_HDR_LEN, TW_HANDSHAKE_MSG_MAX, &n);
    if (rc) return rc;
    p[0] = (uint8_t)(n >> 8);
    p[1] = (uint8_t)n;
    s->out.len += TW_FRAME_HDR_LEN + n;
    s->bytes_out += TW_FRAME_HDR_LEN + n;
    s->last_out_ms = s->now_ms;
    return 0;
}

/* ----------------------------------------------------- handshake steps */

/* ------------------------------------------------------ replay defence */

struct tw_sess_replay {
    size_t cap, n;
    uint64_t floor;           /* message-1 dates at or below this are refused */
    struct seen { uint8_t e[32]; uint64_t ts; } *v;
};

int tw_sess_replay_new(tw_sess_replay **out, size_t cap)
{
    tw_sess_replay *r;

    if (!out) return TW_EINVAL;
    *out = NULL;
    if (cap == 0) return TW_EINVAL;
    if (!(r = calloc(1, sizeof *r))) return TW_ENOMEM;
    if (!(r->v = calloc(cap, sizeof *r->v))) { free(r); return TW_ENOMEM; }
    r->cap = cap;
    *out = r;
    return 0;
}

void tw_sess_replay_free(tw_sess_replay *r)
{
    if (!r) return;
    free(r->v);
    free(r);
}

size_t tw_sess_replay_count(const tw_sess_replay *r) { return r ? r->n : 0; }
uint64_t tw_sess_replay_floor(const tw_sess_replay *r) { return r ? r->floor : 0; }

static int msg1_date_check(uint64_t ts, uint64_t now, const char **why)
{
    if (ts > now && ts - now > TW_HS_WINDOW_MS) {
        *why = "is dated more than 1 h ahead of this node's clock (the peer's clock or ours is wrong)";
        return TW_EFUTURE;
    }
    if (ts < now && now - ts > TW_HS_WINDOW_MS) {
        *why = "is dated more than 1 h before this node's clock (a replay, or a clock that is wrong)";
        return TW_ESTALE;
    }
    return 0;
}

/*
 * A message 1 is answered once: its ephemeral key is remembered with its
 * date, and the same key again is a replay.  When the cache is full the
 * entry with the oldest date gives way and the floor rises to that date,
 * so that a message whose key was forgotten can never pass again: its date
 * is at or below the floor.  Nothing outside the date window passes either,
 * which bounds what a restart (an empty cache) lets through.
 */
int tw_sess_replay_check(tw_sess_replay *r, const uint8_t e[32], uint64_t ts, uint64_t now_ms, const char **why)
{
    const char *dummy;
    int rc;

    if (!why) why = &dummy;
    *why = "";
    if ((rc = msg1_date_check(ts, now_ms, why)) != 0) return rc;
    if (!r) return 0;
    if (ts <= r->floor) {
        *why = "is older than the handshakes this node remembers (a replay, or a clock that is wrong)";
        return TW_ESTALE;
    }
    size_t oldest = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (memcmp(r->v[i].e, e, 32) == 0) {   /* public keys: no need for constant time */
            *why = "repeats an ephemeral key seen before (a replay)";
            return TW_EEXIST;
        }
        if (r->v[i].ts < r->v[oldest].ts) oldest = i;
    }
    if (r->n < r->cap) {
        memcpy(r->v[r->n].e, e, 32);
        r->v[r->n++].ts = ts;
    } else if (ts <= r->v[oldest].ts) {
        r->floor = ts;               /* the new one is the oldest: remembered by the floor alone */
    } else {
        if (r->v[oldest].ts > r->floor) r->floor = r->v[oldest].ts;
        memcpy(r->v[oldest].e, e, 32);
        r->v[oldest].ts = ts;
    }
    return 0;
}

/* Responder, message 1: [min_version, max_version, date]; e is the
 * initiator's ephemeral public key, the first 32 bytes of the message. */
static int on_msg1(tw_sess *s, const uint8_t *e, const uint8_t *payload, size_t plen)
{
    tw_arena a;
    tw_val m;
    tw_buf hb;
    const char *why = NULL;
    char refusal[SESS_REFUSAL_MAX];
    uint64_t pmin, pmax, lo, hi;
    int rc;

    tw_arena_init(&a, SESS_HELLO_ARENA_CAP);
    rc = tw_mp_decode(payload, plen, &a, TW_MP_CANONICAL, &m, NULL, &why);
    /* Extra elements are allowed for later versions; only the range is read. */
    if (rc == 0 && (m.type != TW_ARR || m.len < 2 || m.v.arr[0].type != TW_UINT ||
                    m.v.arr[1].type != TW_UINT || m.v.arr[0].v.u == 0 ||
                    m.v.arr[0].v.u > m.v.arr[1].v.u))
        rc = TW_EPROTO, why = "not an array [min_version, max_version] with 1 <= min <= max";
    if (rc) {
        tw_arena_free(&a);
        /* Authenticated by the network key but malformed: still nothing is
         * sent and no key agreement is done. */
        return sess_close(s, TW_EPROTO, false, false, "handshake message 1: %s", why ? why : "malformed");
    }
    /* Since protocol version 2 the third element is the initiator's clock.
     * Without it, or with it out of the window, or with an ephemeral key
     * seen before, nothing at all is answered, not even a version refusal:
     * a recorded message 1 must not make this node say that it is here. */
    if (m.len < 3 || m.v.arr[2].type != TW_UINT) {
        tw_arena_free(&a);
        return sess_close(s, TW_EVERSION, false, false,
                          "handshake message 1 carries no date (a node older than protocol version 2, "
                          "or a replay of one): not answered");
    }
    pmin = m.v.arr[0].v.u;
    pmax = m.v.arr[1].v.u;
    uint64_t date = m.v.arr[2].v.u;
    tw_arena_free(&a);
    if ((rc = tw_sess_replay_check(s->replay, e, date, s->now_ms, &why)) != 0)
        return sess_close(s, rc, false, false, "handshake message 1 %s: not answered", why);

    lo = pmin > s->vmin ? pmin : s->vmin;
    hi = pmax < s->vmax ? pmax : s->vmax;
    tw_buf_init(&hb);
    if (lo > hi) {
        snprintf(refusal, sizeof refusal,
                 "incompatible protocol version: this node speaks %" PRIu32 "..%" PRIu32
                 ", the peer %" PRIu64 "..%" PRIu64, s->vmin, s->vmax, pmin, pmax);
        rc = hello_encode(s, &hb, 0, refusal);
        if (rc == 0) rc = hs_send(s, hb.p, hb.len);
        tw_buf_free(&hb);
        if (rc) return sess_close(s, rc, false, false, "handshake message 2: %s", tw_strerror(rc));
        return sess_close(s, TW_EVERSION, false, false, "%s", refusal);
    }
    s->version = (uint32_t)hi;
    rc = hello_encode(s, &hb, s->version, NULL);
    if (rc == 0) rc = hs_send(s, hb.p, hb.len);
    tw_buf_free(&hb);
    if (rc) return sess_close(s, rc, false, false, "handshake message 2: %s", tw_strerror(rc));
    return 0;
}

/* Initiator, message 2: the responder's hello.  Message 3 goes out only if
 * it is acceptable; the identity can only be checked once the handshake is
 * complete, because the Noise state reveals the remote static key then. */
static int on_msg2(tw_sess *s, const uint8_t *payload, size_t plen)
{
    tw_arena a;
    hello h;
    tw_buf hb;
    const char *why = NULL;
    char err[TW_ERROR_TEXT_MAX + 1];
    int rc;

    tw_arena_init(&a, SESS_HELLO_ARENA_CAP);
    if ((rc = hello_parse(payload, plen, &a, &h, &why)) != 0) {
        tw_arena_free(&a);
        return sess_close(s, TW_EPROTO, false, false, "handshake message 2: %s", why ? why : "malformed hello");
    }
    if (h.err || h.v == 0) {
        copy_text(err, sizeof err, h.err ? h.err : "no reason given", h.err ? h.err_len : 15);
        tw_arena_free(&a);
        return sess_close(s, h.v == 0 ? TW_EVERSION : TW_EREFUSED, false, false,
                          "peer refused: \"%s\"; local range %" PRIu32 "..%" PRIu32,
                          err, s->vmin, s->vmax);
    }
    if (h.v < s->vmin || h.v > s->vmax) {
        uint64_t v = h.v;
        tw_arena_free(&a);
        return sess_close(s, TW_EVERSION, false, false,
                          "incompatible protocol version: the peer chose %" PRIu64
                          ", this node speaks %" PRIu32 "..%" PRIu32, v, s->vmin, s->vmax);
    }
    s->version = (uint32_t)h.v;

    tw_buf_init(&hb);
    rc = hello_encode(s, &hb, s->version, NULL);
    if (rc == 0) rc = hs_send(s, hb.p, hb.len);
    tw_buf_free(&hb);
    if (rc) {
        tw_arena_free(&a);
        return sess_close(s, rc, false, false, "handshake message 3: %s", tw_strerror(rc));
    }
    if ((rc = take_keys(s)) != 0 || (rc = hello_accept(s, &h)) != 0) {
        tw_arena_free(&a);
        return rc;
    }
    tw_arena_free(&a);
    return establish(s);
}

/* Responder, message 3: the initiator's hello. */
static int on_msg3(tw_sess *s, const uint8_t *payload, size_t plen)
{
    tw_arena a;
    hello h;
    const char *why = NULL;
    char err[TW_ERROR_TEXT_MAX + 1];
    int rc;

    if ((rc = take_keys(s)) != 0) return rc;
    tw_arena_init(&a, SESS_HELLO_ARENA_CAP);
    if ((rc = hello_parse(payload, plen, &a, &h, &why)) != 0) {
        tw_arena_free(&a);
        return sess_close(s, TW_EPROTO, false, true, "handshake message 3: %s", why ? why : "malformed hello");
    }
    if (h.err) {
        copy_text(err, sizeof err, h.err, h.err_len);
        tw_arena_free(&a);
        return sess_close(s, TW_EREFUSED, false, false, "peer refused: %s", err);
    }
    if (h.v != s->version) {
        uint64_t v = h.v;
        tw_arena_free(&a);
        return sess_close(s, TW_EPROTO, false, true,
                          "handshake message 3: the peer's hello names version %" PRIu64
                          ", not the chosen %" PRIu32, v, s->version);
    }
    rc = hello_accept(s, &h);
    tw_arena_free(&a);
    return rc ? rc : establish(s);
}

static int on_hs_frame(tw_sess *s, const uint8_t *f, size_t n)
{
    uint8_t payload[TW_HANDSHAKE_MSG_MAX];
    size_t plen = 0;
    int rc;

    if (tw_noise_hs_my_turn(s->hs))
        return sess_close(s, TW_EPROTO, false, false, "handshake: a frame arrived out of turn");
    rc = tw_noise_hs_read(s->hs, f, n, payload, sizeof payload, &plen);
    if (rc) return sess_close(s, rc, false, false, "%s", hs_failure(rc));
    if (!s->initiator && !tw_noise_hs_complete(s->hs)) rc = on_msg1(s, f, payload, plen);
    else if (s->initiator) rc = on_msg2(s, payload, plen);
    else rc = on_msg3(s, payload, plen);
    sodium_memzero(payload, plen);
    return rc;
}

/* ---------------------------------------------------------- transport */

/* Reads the array header and first uint of a plaintext, tolerating any
 * encoding msgpack allows; the full message is the caller's to decode. */
static int msg_type(const uint8_t *p, size_t n, uint64_t *type)
{
    size_t i, w;
    uint32_t count;

    if (n < 1) return TW_EPROTO;
    if ((p[0] & 0xf0) == 0x90) { count = p[0] & 0x0f; i = 1; }
    else if (p[0] == 0xdc && n >= 3) { count = ((uint32_t)p[1] << 8) | p[2]; i = 3; }
    else if (p[0] == 0xdd && n >= 5) {
        count = ((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) | p[4];
        i = 5;
    } else return TW_EPROTO;
    if (count < 1 || i >= n) return TW_EPROTO;
    if (p[i] < 0x80) { *type = p[i]; return 0; }
    if (p[i] < 0xcc || p[i] > 0xcf) return TW_EPROTO;
    w = (size_t)1 << (p[i] - 0xcc);
    if (n - i - 1 < w) return TW_EPROTO;
    *type = 0;
    for (size_t k = 0; k < w; k++) *type = (*type << 8) | p[i + 1 + k];
    return 0;
}

static int on_control(tw_sess *s, uint64_t type, const uint8_t *p, size_t n)
{
    tw_arena a;
    tw_val m;
    const char *why = NULL;
    char text[TW_ERROR_TEXT_MAX + 1];
    int rc;

    tw_arena_init(&a, SESS_CTRL_ARENA_CAP);
    rc = tw_mp_decode(p, n, &a, 0, &m, NULL, &why);
    if (rc) {
        tw_arena_free(&a);
        return sess_close(s, TW_EPROTO, false, true, "malformed %s message: %s",
                          type == MSG_PING ? "PING" : type == MSG_PONG ? "PONG" : "ERROR",
                          why ? why : "bad msgpack");
    }
    if (type == MSG_ERROR) {
        if (m.len != 3 || (m.v.arr[1].type != TW_UINT && m.v.arr[1].type != TW_INT) ||
            m.v.arr[2].type != TW_STR || m.v.arr[2].len > TW_ERROR_TEXT_MAX) {
            tw_arena_free(&a);
            return sess_close(s, TW_EPROTO, false, true, "malformed ERROR message");
        }
        copy_text(text, sizeof text, m.v.arr[2].v.s, m.v.arr[2].len);
        /* A refusal by policy (full, already connected, revoked) keeps its
         * code, so the dialer backs off instead of redialling at once. */
        int64_t pc = m.v.arr[1].type == TW_INT ? m.v.arr[1].v.i : 0;
        tw_arena_free(&a);
        return sess_close(s, pc == TW_EBUSY || pc == TW_EREFUSED ? (int)pc : TW_ECLOSED, true, false, "peer closed: %s", text);
    }
    if (m.len != 2 || m.v.arr[1].type != TW_UINT) {
        tw_arena_free(&a);
        return sess_close(s, TW_EPROTO, false, true, "malformed %s message",
                          type == MSG_PING ? "PING" : "PONG");
    }
    if (type == MSG_PING) {
        rc = put_ping(s, MSG_PONG, m.v.arr[1].v.u);
        tw_arena_free(&a);
        if (rc) return sess_close(s, rc, false, false, "cannot answer PING: %s", tw_strerror(rc));
    } else {
        tw_arena_free(&a);   /* a PONG only proves liveness, already noted */
    }
    return 0;
}

static int on_transport_frame(tw_sess *s, const uint8_t *f, size_t n)
{
    size_t off = s->pt.len, plen = 0;
    uint64_t type = 0;
    int rc;

    if (n < TW_NOISE_TAGLEN)
        return sess_close(s, TW_EPROTO, false, true, "transport frame of %zu bytes is shorter than its tag", n);
    if ((rc = tw_buf_reserve(&s->pt, n)) != 0)
        return sess_close(s, rc, false, true, "out of memory");
    rc = tw_noise_cs_decrypt(s->rx, f, n, s->pt.p + off, s->pt.cap - off, &plen);
    if (rc)
        return sess_close(s, rc == TW_EDECRYPT ? TW_EDECRYPT : TW_EPROTO, false, true,
                          "transport message failed authentication (corrupted or forged)");
    s->last_in_ms = s->now_ms;
    if (msg_type(s->pt.p + off, plen, &type) != 0) {
        sodium_memzero(s->pt.p + off, plen);
        return sess_close(s, TW_EPROTO, false, true,
                          "transport message is not a msgpack array starting with a uint type");
    }
    if (type == MSG_PING || type == MSG_PONG || type == MSG_ERROR) {
        /* Copied out because answering a PING appends to the output only,
         * but the plaintext slot is given back before anything else. */
        uint8_t ctl[SESS_CTRL_MSG_MAX];
        if (plen > sizeof ctl) {
            sodium_memzero(s->pt.p + off, plen);
            return sess_close(s, TW_EPROTO, false, true, "control message of %zu bytes is too large", plen);
        }
        memcpy(ctl, s->pt.p + off, plen);
        sodium_memzero(s->pt.p + off, plen);
        return on_control(s, type, ctl, plen);
    }
    s->pt.len = off + plen;
    if ((rc = ev_push(s, TW_SEV_MESSAGE, off, plen)) != 0)
        return sess_close(s, rc, false, true, "out of memory");
    return 0;
}

static int on_frame(tw_sess *s, const uint8_t *f, size_t n)
{
    if (s->state == ST_HANDSHAKE) return on_hs_frame(s, f, n);
    return on_transport_frame(s, f, n);
}

/* Called when a frame header is complete: checks the length against the
 * limit of the current state before any byte of the body is buffered. */
static int check_frame_len(tw_sess *s)
{
    size_t limit = s->state == ST_HANDSHAKE ? TW_HANDSHAKE_MSG_MAX : TW_FRAME_MAX;

    if (s->frame_len == 0) return sess_close(s, TW_EPROTO, false, true, "empty frame");
    if (s->frame_len > limit)
        return sess_close(s, TW_ETOOBIG, false, true, "frame of %zu bytes exceeds %zu%s",
                          s->frame_len, limit, s->state == ST_HANDSHAKE ? " before the handshake completes" : "");
    return 0;
}

static int handshake_deadline(tw_sess *s)
{
    if (s->state == ST_HANDSHAKE && elapsed(s->now_ms, s->start_ms) >= TW_HANDSHAKE_TIMEOUT_MS)
        return sess_close(s, TW_ETIMEOUT, false, false, "handshake not finished within %u s",
                          TW_HANDSHAKE_TIMEOUT_MS / 1000u);
    return 0;
}

/* ------------------------------------------------------------- public */

int tw_sess_new(tw_sess **out, const tw_sess_cfg *cfg)
{
    struct tw_noise_params p;
    uint8_t x_priv[TW_NOISE_DHLEN];
    tw_sess *s;
    size_t swlen;
    int rc;

    if (!out) return TW_EINVAL;
    *out = NULL;
    if (!cfg || !cfg->ed_sk || !cfg->netkey || !cfg->e_rand) return TW_EINVAL;
    if (cfg->version_min == 0 || cfg->version_min > cfg->version_max) return TW_EINVAL;
    swlen = cfg->software ? strnlen(cfg->software, TW_HELLO_SW_MAX + 1) : 0;
    if (swlen > TW_HELLO_SW_MAX || !tw_utf8_valid((const uint8_t *)cfg->software, swlen))
        return TW_EINVAL;

    s = calloc(1, sizeof *s);
    if (!s) return TW_ENOMEM;
    s->state = ST_HANDSHAKE;
    s->initiator = cfg->initiator;
    memcpy(s->ed_pk, cfg->ed_sk + 32, 32);
    if (swlen) memcpy(s->sw, cfg->software, swlen);
    s->features = cfg->features;
    s->vmin = cfg->version_min;
    s->vmax = cfg->version_max;
    s->replay = cfg->replay;
    s->start_ms = s->now_ms = s->last_in_ms = s->last_out_ms = cfg->now_ms;
    tw_buf_init(&s->inbuf);
    tw_buf_init(&s->out);
    tw_buf_init(&s->pt);

    /* Hashing the seed is all the X25519 private key needs; the public half
     * is computed by the Noise state when message 2 or 3 sends it. */
    if (crypto_sign_ed25519_sk_to_curve25519(x_priv, cfg->ed_sk) != 0) { rc = TW_EKEY; goto fail; }
    memset(&p, 0, sizeof p);
    p.protocol = SESS_PROTOCOL;
    p.initiator = cfg->initiator;
    p.prologue = (const uint8_t *)SESS_PROLOGUE;
    p.prologue_len = sizeof SESS_PROLOGUE - 1;
    p.s_priv = x_priv;
    p.psks = cfg->netkey;
    p.psk_count = 1;
    p.e_priv = cfg->e_rand;
    rc = tw_noise_hs_new(&s->hs, &p);
    sodium_memzero(x_priv, sizeof x_priv);
    if (rc) goto fail;

    if (s->initiator) {
        tw_buf m;
        tw_buf_init(&m);
        rc = tw_mpw_arr(&m, 3);
        if (rc == 0) rc = tw_mpw_uint(&m, s->vmin);
        if (rc == 0) rc = tw_mpw_uint(&m, s->vmax);
        if (rc == 0) rc = tw_mpw_uint(&m, s->now_ms);
        if (rc == 0) rc = hs_send(s, m.p, m.len);
        tw_buf_free(&m);
        if (rc) goto fail;
    }
    *out = s;
    return 0;
fail:
    tw_sess_free(s);
    return rc;
}

void tw_sess_free(tw_sess *s)
{
    if (!s) return;
    drop_keys(s);
    if (s->inbuf.p) sodium_memzero(s->inbuf.p, s->inbuf.cap);
    if (s->pt.p) sodium_memzero(s->pt.p, s->pt.cap);
    if (s->out.p) sodium_memzero(s->out.p, s->out.cap);
    tw_buf_free(&s->inbuf);
    tw_buf_free(&s->pt);
    tw_buf_free(&s->out);
    free(s->evq);
    sodium_memzero(s, sizeof *s);
    free(s);
}

int tw_sess_input(tw_sess *s, const uint8_t *data, size_t len, uint64_t now_ms)
{
    int rc;

    if (!s || (!data && len)) return TW_EINVAL;
    if (s->state == ST_CLOSED) return TW_ECLOSED;
    ev_compact(s);
    if (now_ms > s->now_ms) s->now_ms = now_ms;
    if ((rc = handshake_deadline(s)) != 0) return rc;

    while (len > 0 && s->state != ST_CLOSED) {
        if (s->hdr_have < TW_FRAME_HDR_LEN) {
            s->hdr[s->hdr_have++] = *data++;
            len--;
            s->bytes_in++;
            if (s->hdr_have == TW_FRAME_HDR_LEN) {
                s->frame_len = ((size_t)s->hdr[0] << 8) | s->hdr[1];
                if ((rc = check_frame_len(s)) != 0) return rc;
            }
            continue;
        }
        /* A frame wholly inside the caller's bytes is read in place. */
        if (s->inbuf.len == 0 && len >= s->frame_len) {
            size_t n = s->frame_len;
            s->hdr_have = 0;
            s->bytes_in += n;
            rc = on_frame(s, data, n);
            data += n;
            len -= n;
            continue;
        }
        size_t take = s->frame_len - s->inbuf.len;
        if (take > len) take = len;
        if ((rc = tw_buf_put(&s->inbuf, data, take)) != 0)
            return sess_close(s, rc, false, true, "out of memory");
        data += take;
        len -= take;
        s->bytes_in += take;
        if (s->inbuf.len == s->frame_len) {
            s->hdr_have = 0;
            rc = on_frame(s, s->inbuf.p, s->inbuf.len);
            if (s->state != ST_CLOSED) tw_buf_reset(&s->inbuf);
        }
    }
    return s->state == ST_CLOSED ? TW_ECLOSED : 0;
}

int tw_sess_next_event(tw_sess *s, tw_sess_event *ev)
{
    if (!s || !ev) return TW_EINVAL;
    memset(ev, 0, sizeof *ev);
    if (s->ev_head == s->ev_n) {
        ev_compact(s);
        ev->type = TW_SEV_NONE;
        return 0;
    }
    const sess_ev *q = &s->evq[s->ev_head++];
    ev->type = q->type;
    switch (q->type) {
    case TW_SEV_ESTABLISHED:
        memcpy(ev->remote_key, s->remote_key, 32);
        ev->version = s->version;
        ev->remote_features = s->remote_features;
        memcpy(ev->remote_sw, s->remote_sw, sizeof ev->remote_sw);
        ev->clock_offset_ms = s->clock_offset;
        break;
    case TW_SEV_MESSAGE:
        ev->msg = s->pt.p + q->off;
        ev->msg_len = q->len;
        break;
    case TW_SEV_CLOSED:
        ev->code = s->close_code;
        memcpy(ev->reason, s->close_reason, sizeof ev->reason);
        ev->by_peer = s->close_by_peer;
        break;
    case TW_SEV_NONE:
        break;
    }
    return 0;
}

const uint8_t *tw_sess_output(const tw_sess *s, size_t *len)
{
    if (!s || s->out.len == s->out_off) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = s->out.len - s->out_off;
    return s->out.p + s->out_off;
}

void tw_sess_consume_output(tw_sess *s, size_t n)
{
    if (!s) return;
    size_t avail = s->out.len - s->out_off;
    s->out_off += n < avail ? n : avail;
    if (s->out_off == s->out.len) {
        s->out_off = 0;
        tw_buf_reset(&s->out);
    } else if (s->out_off > s->out.len / 2) {
        /* Moves the unwritten tail down so the buffer does not creep. */
        memmove(s->out.p, s->out.p + s->out_off, s->out.len - s->out_off);
        s->out.len -= s->out_off;
        s->out_off = 0;
    }
}

int tw_sess_send(tw_sess *s, const uint8_t *msg, size_t len, uint64_t now_ms)
{
    int rc;

    if (!s) return TW_EINVAL;
    if (s->state != ST_ESTABLISHED) return TW_ESTATE;
    if (len > TW_SESS_MSG_MAX) return TW_ETOOBIG;
    if (!msg || len == 0) return TW_EINVAL;
    if (now_ms > s->now_ms) s->now_ms = now_ms;
    rc = put_transport(s, msg, len);
    /* The nonce counter reaching its end is the only way encryption fails
     * with our own valid input: the session cannot continue. */
    if (rc == TW_ETOOBIG) return sess_close(s, TW_ETOOBIG, false, false, "transport nonce exhausted");
    return rc;
}

int tw_sess_tick(tw_sess *s, uint64_t now_ms)
{
    int rc;

    if (!s) return TW_EINVAL;
    if (s->state == ST_CLOSED) return TW_ECLOSED;
    if (now_ms > s->now_ms) s->now_ms = now_ms;
    if ((rc = handshake_deadline(s)) != 0) return rc;
    if (s->state != ST_ESTABLISHED) return 0;
    if (elapsed(s->now_ms, s->last_in_ms) >= TW_IDLE_TIMEOUT_MS)
        return sess_close(s, TW_ETIMEOUT, false, true, "idle for %u s", TW_IDLE_TIMEOUT_MS / 1000u);
    if (elapsed(s->now_ms, s->last_out_ms) >= TW_PING_INTERVAL_MS) {
        if ((rc = put_ping(s, MSG_PING, ++s->ping_nonce)) != 0)
            return sess_close(s, rc, false, false, "cannot send PING: %s", tw_strerror(rc));
    }
    return 0;
}

int tw_sess_close(tw_sess *s, int code, const char *text)
{
    if (!s) return TW_EINVAL;
    if (s->state == ST_CLOSED) return TW_ECLOSED;
    sess_close(s, code, false, true, "%s", text ? text : "closed");
    return 0;
}

bool tw_sess_established(const tw_sess *s) { return s && s->state == ST_ESTABLISHED; }
bool tw_sess_closed(const tw_sess *s) { return !s || s->state == ST_CLOSED; }

unsigned tw_sess_dh_count(const tw_sess *s)
{
    return s ? s->dh_done + (s->hs ? tw_noise_hs_dh_count(s->hs) : 0) : 0;
}

uint64_t tw_sess_bytes_in(const tw_sess *s) { return s ? s->bytes_in : 0; }
uint64_t tw_sess_bytes_out(const tw_sess *s) { return s ? s->bytes_out : 0; }
