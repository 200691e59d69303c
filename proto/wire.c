/*
 * Transport message codec (include/twin/wire.h).
 *
 * Messages have fixed layouts, so they are read with a small cursor
 * instead of the general tree reader: nothing is allocated, the typed
 * result points into the input, and each layout's rules (element count,
 * field types, id length, list sizes) are checked as the bytes are met.
 * Every declared length is compared with the bytes that remain before it is
 * used.
 */
#include <string.h>

#include "twin/err.h"
#include "twin/wire.h"

typedef struct rd {
    const uint8_t *p, *end;
    const char *why;
} rd;

static size_t rd_left(const rd *r)
{
    return (size_t)(r->end - r->p);
}

static int rd_fail(rd *r, int rc, const char *why)
{
    if (!r->why)
        r->why = why;
    return rc;
}

/* Big-endian unsigned of k bytes at p (k <= 8). */
static uint64_t be(const uint8_t *p, size_t k)
{
    uint64_t v = 0;
    for (size_t i = 0; i < k; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Reads the k-byte big-endian argument that follows a marker byte. */
static int rd_arg(rd *r, size_t k, uint64_t *v, const char *what)
{
    if (rd_left(r) < 1 + k)
        return rd_fail(r, TW_ETRUNC, what);
    *v = be(r->p + 1, k);
    r->p += 1 + k;
    return 0;
}

static int rd_arr(rd *r, uint32_t *n, const char *what)
{
    uint64_t v;
    int rc;
    if (rd_left(r) < 1)
        return rd_fail(r, TW_ETRUNC, what);
    uint8_t c = r->p[0];
    if (c >= 0x90 && c <= 0x9f) {
        *n = c & 0x0f;
        r->p++;
        return 0;
    }
    if (c == 0xdc || c == 0xdd) {
        if ((rc = rd_arg(r, c == 0xdc ? 2 : 4, &v, what)))
            return rc;
        *n = (uint32_t)v;
        return 0;
    }
    return rd_fail(r, TW_ETYPE, what);
}

/* Negative integers are reported through *neg so that int fields can share
 * this; a uint field refuses them. */
static int rd_integer(rd *r, uint64_t *u, int64_t *neg, bool *is_neg, const char *what)
{
    uint64_t v;
    int rc;
    if (rd_left(r) < 1)
        return rd_fail(r, TW_ETRUNC, what);
    uint8_t c = r->p[0];
    *is_neg = false;
    if (c <= 0x7f) {
        *u = c;
        r->p++;
        return 0;
    }
    if (c >= 0xe0) {
        *is_neg = true;
        *neg = (int8_t)c;
        r->p++;
        return 0;
    }
    if (c >= 0xcc && c <= 0xcf) {
        if ((rc = rd_arg(r, (size_t)1 << (c - 0xcc), u, what)))
            return rc;
        return 0;
    }
    if (c >= 0xd0 && c <= 0xd3) {
        size_t k = (size_t)1 << (c - 0xd0);
        if ((rc = rd_arg(r, k, &v, what)))
            return rc;
        /* Sign-extend the k-byte two's complement value. */
        if (k < 8 && (v >> (8 * k - 1)))
            v |= ~(uint64_t)0 << (8 * k);
        int64_t s;
        memcpy(&s, &v, sizeof s);
        if (s >= 0) {
            *u = (uint64_t)s;
        } else {
            *is_neg = true;
            *neg = s;
        }
        return 0;
    }
    return rd_fail(r, TW_ETYPE, what);
}

static int rd_uint(rd *r, uint64_t *u, const char *what)
{
    int64_t neg;
    bool is_neg;
    int rc = rd_integer(r, u, &neg, &is_neg, what);
    if (rc)
        return rc;
    if (is_neg)
        return rd_fail(r, TW_ETYPE, what);
    return 0;
}

static int rd_int(rd *r, int64_t *i, const char *what)
{
    uint64_t u = 0;
    bool is_neg;
    int rc = rd_integer(r, &u, i, &is_neg, what);
    if (rc)
        return rc;
    if (!is_neg) {
        if (u > (uint64_t)INT64_MAX)
            return rd_fail(r, TW_EPROTO, what);
        *i = (int64_t)u;
    }
    return 0;
}

static int rd_bool(rd *r, bool *b, const char *what)
{
    if (rd_left(r) < 1)
        return rd_fail(r, TW_ETRUNC, what);
    if (r->p[0] != 0xc2 && r->p[0] != 0xc3)
        return rd_fail(r, TW_ETYPE, what);
    *b = r->p[0] == 0xc3;
    r->p++;
    return 0;
}

/* Reads a bin (or, with str, a str) header and checks its length against
 * the bytes that remain. */
static int rd_bytes(rd *r, bool str, const uint8_t **p, size_t *n, const char *what)
{
    uint64_t v;
    int rc;
    if (rd_left(r) < 1)
        return rd_fail(r, TW_ETRUNC, what);
    uint8_t c = r->p[0];
    if (str && c >= 0xa0 && c <= 0xbf) {
        v = c & 0x1f;
        r->p++;
    } else if ((!str && c >= 0xc4 && c <= 0xc6) || (str && c >= 0xd9 && c <= 0xdb)) {
        size_t k = (size_t)1 << (c - (str ? 0xd9 : 0xc4));
        if ((rc = rd_arg(r, k, &v, what)))
            return rc;
    } else {
        return rd_fail(r, TW_ETYPE, what);
    }
    if (v > rd_left(r))
        return rd_fail(r, TW_ETRUNC, what);
    *p = r->p;
    *n = (size_t)v;
    r->p += v;
    return 0;
}

/* Checks a list of ids (1..TW_IDS_PER_MSG, 32 bytes each). */
static int rd_ids(rd *r, tw_wire_list *l)
{
    uint32_t n;
    const uint8_t *p;
    size_t len;
    int rc;
    if ((rc = rd_arr(r, &n, "id list is not an array")))
        return rc;
    if (n == 0)
        return rd_fail(r, TW_EPROTO, "empty id list");
    if (n > TW_IDS_PER_MSG)
        return rd_fail(r, TW_ETOOBIG, "more ids than TW_IDS_PER_MSG");
    l->p = r->p;
    l->count = n;
    for (uint32_t i = 0; i < n; i++) {
        if ((rc = rd_bytes(r, false, &p, &len, "id is not a bin")))
            return rc;
        if (len != TW_WIRE_ID_LEN)
            return rd_fail(r, TW_EPROTO, "id is not 32 bytes");
    }
    l->end = r->p;
    return 0;
}

static int rd_envs(rd *r, tw_wire_list *l)
{
    uint32_t n;
    const uint8_t *p;
    size_t len;
    int rc;
    if ((rc = rd_arr(r, &n, "envelope list is not an array")))
        return rc;
    /* Each envelope takes at least two bytes; refusing an impossible count
     * early keeps a hostile header from costing a long walk. */
    if ((uint64_t)n * 2 > rd_left(r))
        return rd_fail(r, TW_ETRUNC, "envelope list longer than the message");
    l->p = r->p;
    l->count = n;
    for (uint32_t i = 0; i < n; i++) {
        if ((rc = rd_bytes(r, false, &p, &len, "envelope is not a bin")))
            return rc;
        if (len == 0)
            return rd_fail(r, TW_EPROTO, "empty envelope");
        if (len > TW_ENVELOPE_MAX)
            return rd_fail(r, TW_ETOOBIG, "envelope over TW_ENVELOPE_MAX");
    }
    l->end = r->p;
    return 0;
}

static int decode(rd *r, tw_wire_msg *m)
{
    static const uint8_t fields[] = { 0, 3, 3, 2, 3, 4, 2, 2, 3, 0, 4, 2, 1, 1, 2, 2 };
    uint32_t n;
    uint64_t type;
    int rc;

    if ((rc = rd_arr(r, &n, "message is not an array")))
        return rc;
    if (n == 0)
        return rd_fail(r, TW_EPROTO, "empty message array");
    if ((rc = rd_uint(r, &type, "message type is not a uint")))
        return rc;
    /* COMPRESSED (9) is unwrapped by the daemon before decoding. */
    if (type < TW_WIRE_NEG_REQ || type > TW_WIRE_ROOM || type == TW_WIRE_COMPRESSED)
        return rd_fail(r, TW_EPROTO, "unknown message type");
    if (n != fields[type])
        return rd_fail(r, TW_EPROTO, "wrong number of elements for the message type");
    m->type = (tw_wire_type)type;

    switch (m->type) {
    case TW_WIRE_NEG_REQ:
    case TW_WIRE_NEG_RESP:
        if ((rc = rd_uint(r, &m->sid, "sid is not a uint")))
            return rc;
        if ((rc = rd_bytes(r, false, &m->data, &m->data_len, "negentropy message is not a bin")))
            return rc;
        if (m->data_len == 0)
            return rd_fail(r, TW_EPROTO, "empty negentropy message");
        break;
    case TW_WIRE_NEG_PART: {
        uint64_t kind;
        if ((rc = rd_uint(r, &kind, "NEG_PART kind is not a uint")))
            return rc;
        if (kind != TW_WIRE_NEG_REQ && kind != TW_WIRE_NEG_RESP)
            return rd_fail(r, TW_EPROTO, "NEG_PART kind is neither NEG_REQ (1) nor NEG_RESP (2)");
        m->kind = (tw_wire_type)kind;
        if ((rc = rd_uint(r, &m->sid, "sid is not a uint")))
            return rc;
        if ((rc = rd_bytes(r, false, &m->data, &m->data_len, "NEG_PART piece is not a bin")))
            return rc;
        if (m->data_len == 0)
            return rd_fail(r, TW_EPROTO, "empty NEG_PART piece");
        break;
    }
    case TW_WIRE_OFFER:
    case TW_WIRE_IHAVE:
        if ((rc = rd_ids(r, &m->list)))
            return rc;
        break;
    case TW_WIRE_PRUNE:
    case TW_WIRE_GRAFT:
        break;
    case TW_WIRE_WANT:
        if ((rc = rd_uint(r, &m->wseq, "wseq is not a uint")))
            return rc;
        if (m->wseq == 0)
            return rd_fail(r, TW_EPROTO, "WANT with wseq 0");
        if ((rc = rd_ids(r, &m->list)))
            return rc;
        break;
    case TW_WIRE_ENTRIES:
        if ((rc = rd_uint(r, &m->wseq, "wseq is not a uint")))
            return rc;
        if ((rc = rd_bool(r, &m->final, "final is not a bool")))
            return rc;
        if ((rc = rd_envs(r, &m->list)))
            return rc;
        if (m->wseq == 0 && (!m->final || m->list.count == 0))
            return rd_fail(r, TW_EPROTO, "push (wseq 0) must be final and carry entries");
        break;
    case TW_WIRE_REFER:
        if ((rc = rd_envs(r, &m->list)))
            return rc;
        if (m->list.count == 0)
            return rd_fail(r, TW_EPROTO, "REFER without records");
        if (m->list.count > TW_REFER_MAX)
            return rd_fail(r, TW_ETOOBIG, "more records in REFER than TW_REFER_MAX");
        break;
    case TW_WIRE_ROOM:
        if ((rc = rd_bool(r, &m->final, "room is not a bool")))
            return rc;
        break;
    case TW_WIRE_PING:
    case TW_WIRE_PONG:
        if ((rc = rd_uint(r, &m->nonce, "nonce is not a uint")))
            return rc;
        break;
    case TW_WIRE_ERROR:
        if ((rc = rd_int(r, &m->code, "error code is not an int")))
            return rc;
        if ((rc = rd_bytes(r, true, &m->data, &m->data_len, "error text is not a str")))
            return rc;
        if (m->data_len > TW_WIRE_ERROR_TEXT_MAX)
            return rd_fail(r, TW_ETOOBIG, "error text over TW_WIRE_ERROR_TEXT_MAX");
        if (!tw_utf8_valid(m->data, m->data_len))
            return rd_fail(r, TW_EUTF8, "error text is not UTF-8");
        break;
    case TW_WIRE_COMPRESSED:
        /* The daemon unwraps COMPRESSED before decoding (daemon/net.c);
         * here it was refused above as an unknown type. */
        break;
    }
    if (r->p != r->end)
        return rd_fail(r, TW_EPROTO, "trailing bytes after the message");
    return 0;
}

int tw_wire_decode(const uint8_t *buf, size_t len, tw_wire_msg *m, const char **why)
{
    rd r = { buf, buf + len, NULL };
    int rc;
    memset(m, 0, sizeof *m);
    if (!buf && len)
        return TW_EINVAL;
    if (len > TW_SESS_MSG_MAX)
        rc = rd_fail(&r, TW_ETOOBIG, "message over TW_SESS_MSG_MAX");
    else
        rc = decode(&r, m);
    if (rc) {
        memset(m, 0, sizeof *m);
        if (why)
            *why = r.why ? r.why : "malformed message";
    }
    return rc;
}

bool tw_wire_list_next(tw_wire_list *l, const uint8_t **p, size_t *len)
{
    rd r = { l->p, l->end, NULL };
    if (!l->p || l->p >= l->end)
        return false;
    /* The list was checked whole by the decoder, so this cannot fail. */
    if (rd_bytes(&r, false, p, len, ""))
        return false;
    l->p = r.p;
    return true;
}

/* ---- encoders ---- */

/* Ends an encoder: on error or when the message grew past the transport
 * limit, b is put back as it was. */
static int enc_end(tw_buf *b, size_t start, int rc)
{
    if (rc == 0 && b->len - start > TW_SESS_MSG_MAX)
        rc = TW_ETOOBIG;
    if (rc)
        b->len = start;
    return rc;
}

/* NEG_REQ / NEG_RESP [type, sid, msg], or with part true NEG_PART
 * [10, type, sid, piece]: one writer for both. */
static int enc_neg(tw_buf *b, bool part, tw_wire_type type, uint64_t sid, const uint8_t *msg, size_t len)
{
    size_t start = b->len;
    int rc;
    if (type != TW_WIRE_NEG_REQ && type != TW_WIRE_NEG_RESP)
        return TW_EINVAL;
    if (len == 0)
        return TW_EINVAL;
    if (len > TW_SESS_MSG_MAX)
        return TW_ETOOBIG;
    if ((rc = tw_mpw_arr(b, part ? 4 : 3)) || (part && (rc = tw_mpw_uint(b, TW_WIRE_NEG_PART))) ||
        (rc = tw_mpw_uint(b, type)) || (rc = tw_mpw_uint(b, sid)) || (rc = tw_mpw_bin(b, msg, len)))
        return enc_end(b, start, rc);
    return enc_end(b, start, 0);
}

int tw_wire_neg(tw_buf *b, tw_wire_type type, uint64_t sid, const uint8_t *msg, size_t len)
{
    return enc_neg(b, false, type, sid, msg, len);
}

int tw_wire_neg_part(tw_buf *b, tw_wire_type kind, uint64_t sid, const uint8_t *part, size_t len)
{
    return enc_neg(b, true, kind, sid, part, len);
}

static int enc_ids(tw_buf *b, const uint8_t *ids, size_t n)
{
    int rc;
    if ((rc = tw_mpw_arr(b, (uint32_t)n)))
        return rc;
    for (size_t i = 0; i < n; i++)
        if ((rc = tw_mpw_bin(b, ids + i * TW_WIRE_ID_LEN, TW_WIRE_ID_LEN)))
            return rc;
    return 0;
}

/* OFFER or IHAVE: [type, [id, ...]]. */
static int enc_id_msg(tw_buf *b, tw_wire_type type, const uint8_t *ids, size_t n)
{
    size_t start = b->len;
    int rc;
    if (n == 0)
        return TW_EINVAL;
    if (n > TW_IDS_PER_MSG)
        return TW_ETOOBIG;
    if ((rc = tw_mpw_arr(b, 2)) || (rc = tw_mpw_uint(b, type)) || (rc = enc_ids(b, ids, n)))
        return enc_end(b, start, rc);
    return enc_end(b, start, 0);
}

int tw_wire_offer(tw_buf *b, const uint8_t *ids, size_t n) { return enc_id_msg(b, TW_WIRE_OFFER, ids, n); }

int tw_wire_ihave(tw_buf *b, const uint8_t *ids, size_t n) { return enc_id_msg(b, TW_WIRE_IHAVE, ids, n); }

int tw_wire_tree(tw_buf *b, bool graft)
{
    size_t start = b->len;
    int rc;
    if ((rc = tw_mpw_arr(b, 1)) || (rc = tw_mpw_uint(b, graft ? TW_WIRE_GRAFT : TW_WIRE_PRUNE)))
        return enc_end(b, start, rc);
    return enc_end(b, start, 0);
}

int tw_wire_want(tw_buf *b, uint64_t wseq, const uint8_t *ids, size_t n)
{
    size_t start = b->len;
    int rc;
    if (n == 0 || wseq == 0)
        return TW_EINVAL;
    if (n > TW_IDS_PER_MSG)
        return TW_ETOOBIG;
    if ((rc = tw_mpw_arr(b, 3)) || (rc = tw_mpw_uint(b, TW_WIRE_WANT)) || (rc = tw_mpw_uint(b, wseq)) ||
        (rc = enc_ids(b, ids, n)))
        return enc_end(b, start, rc);
    return enc_end(b, start, 0);
}

/* ENTRIES [5, wseq, final, [env, ...]] or, with refer, REFER [14, [env, ...]]:
 * one writer for both lists of envelopes. */
static int enc_envs(tw_buf *b, bool refer, uint64_t wseq, bool final, const uint8_t *const *envs,
                    const size_t *lens, size_t n)
{
    size_t start = b->len, total = TW_WIRE_ENTRIES_HEAD_MAX;
    int rc;
    if (refer && n == 0)
        return TW_EINVAL;
    if (refer && n > TW_REFER_MAX)
        return TW_ETOOBIG;
    if (!refer && wseq == 0 && (!final || n == 0))
        return TW_EINVAL;
    /* Sizes are checked before anything is written, so a batch that does
     * not fit costs no copying. */
    for (size_t i = 0; i < n; i++) {
        if (lens[i] == 0)
            return TW_EINVAL;
        if (lens[i] > TW_ENVELOPE_MAX)
            return TW_ETOOBIG;
        total += TW_WIRE_BIN_SIZE(lens[i]);
        if (total > TW_SESS_MSG_MAX + TW_WIRE_ENTRIES_HEAD_MAX)
            return TW_ETOOBIG;
    }
    if (refer ? (rc = tw_mpw_arr(b, 2)) || (rc = tw_mpw_uint(b, TW_WIRE_REFER))
              : (rc = tw_mpw_arr(b, 4)) || (rc = tw_mpw_uint(b, TW_WIRE_ENTRIES)) || (rc = tw_mpw_uint(b, wseq)) ||
                    (rc = tw_mpw_bool(b, final)))
        return enc_end(b, start, rc);
    if ((rc = tw_mpw_arr(b, (uint32_t)n)))
        return enc_end(b, start, rc);
    for (size_t i = 0; i < n; i++)
        if ((rc = tw_mpw_bin(b, envs[i], lens[i])))
            return enc_end(b, start, rc);
    return enc_end(b, start, 0);
}

size_t tw_wire_compressed_head(uint8_t *frame, size_t zn)
{
    /* fixarray 2, the type as a positive fixint, then bin8, bin16 or
     * bin32 as tw_mpw_bin writes it (the shortest). */
    _Static_assert(TW_WIRE_COMPRESSED < 0x80, "COMPRESSED is a positive fixint");
    uint8_t *h = frame;
    if (zn > UINT32_MAX)
        return 0;
    if (zn > 0xffff) {
        h -= 5;
        h[0] = 0xc6;
        h[1] = (uint8_t)(zn >> 24);
        h[2] = (uint8_t)(zn >> 16);
        h[3] = (uint8_t)(zn >> 8);
        h[4] = (uint8_t)zn;
    } else if (zn > 0xff) {
        h -= 3;
        h[0] = 0xc5;
        h[1] = (uint8_t)(zn >> 8);
        h[2] = (uint8_t)zn;
    } else {
        h -= 2;
        h[0] = 0xc4;
        h[1] = (uint8_t)zn;
    }
    *--h = TW_WIRE_COMPRESSED;
    *--h = 0x92;
    return (size_t)(frame - h);
}

int tw_wire_entries(tw_buf *b, uint64_t wseq, bool final, const uint8_t *const *envs,
                    const size_t *lens, size_t n)
{
    return enc_envs(b, false, wseq, final, envs, lens, n);
}

int tw_wire_refer(tw_buf *b, const uint8_t *const *envs, const size_t *lens, size_t n)
{
    return enc_envs(b, true, 0, true, envs, lens, n);
}

static int enc_nonce(tw_buf *b, tw_wire_type type, uint64_t nonce)
{
    size_t start = b->len;
    int rc;
    if ((rc = tw_mpw_arr(b, 2)) || (rc = tw_mpw_uint(b, type)) || (rc = tw_mpw_uint(b, nonce)))
        return enc_end(b, start, rc);
    return enc_end(b, start, 0);
}

int tw_wire_room(tw_buf *b, bool room)
{
    size_t start = b->len;
    int rc;
    if ((rc = tw_mpw_arr(b, 2)) || (rc = tw_mpw_uint(b, TW_WIRE_ROOM)) || (rc = tw_mpw_bool(b, room)))
        return enc_end(b, start, rc);
    return enc_end(b, start, 0);
}

int tw_wire_ping(tw_buf *b, uint64_t nonce)
{
    return enc_nonce(b, TW_WIRE_PING, nonce);
}

int tw_wire_pong(tw_buf *b, uint64_t nonce)
{
    return enc_nonce(b, TW_WIRE_PONG, nonce);
}

int tw_wire_error(tw_buf *b, int64_t code, const char *text, size_t len)
{
    size_t start = b->len;
    int rc;
    if (!tw_utf8_valid((const uint8_t *)text, len))
        return TW_EUTF8;
    if (len > TW_WIRE_ERROR_TEXT_MAX) {
        /* Back up over continuation bytes to the start of the character
         * that would be cut. */
        len = TW_WIRE_ERROR_TEXT_MAX;
        while (len > 0 && ((uint8_t)text[len] & 0xc0) == 0x80)
            len--;
    }
    if ((rc = tw_mpw_arr(b, 3)) || (rc = tw_mpw_uint(b, TW_WIRE_ERROR)) || (rc = tw_mpw_int(b, code)) ||
        (rc = tw_mpw_str(b, text, len)))
        return enc_end(b, start, rc);
    return enc_end(b, start, 0);
}

const char *tw_wire_type_name(int type)
{
    static const char *const names[] = {
        "?", "NEG_REQ", "NEG_RESP", "OFFER", "WANT", "ENTRIES", "PING", "PONG", "ERROR", "COMPRESSED",
        "NEG_PART", "IHAVE", "PRUNE", "GRAFT", "REFER", "ROOM",
    };
    if (type < TW_WIRE_NEG_REQ || type > TW_WIRE_ROOM)
        return "unknown";
    return names[type];
}
