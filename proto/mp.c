/*
 * Bounded msgpack reader and canonical writer (see include/twin/mp.h).
 *
 * The reader never trusts a declared count: before allocating n elements it
 * checks that at least n bytes remain (every msgpack value takes one byte at
 * least), so a hostile header cannot ask for more memory than its own size
 * times the node size.  The arena cap bounds the rest.
 */
#include <stdlib.h>
#include <string.h>
#include <msgpack.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "twin/mp.h"

/* ---------------------------------------------------------------- buffer */

void tw_buf_init(tw_buf *b) { b->p = NULL; b->len = b->cap = 0; }
void tw_buf_reset(tw_buf *b) { b->len = 0; }
void tw_buf_free(tw_buf *b) { free(b->p); tw_buf_init(b); }

int tw_buf_reserve(tw_buf *b, size_t n)
{
    if (n <= b->cap - b->len) return 0;
    if (n > SIZE_MAX / 2 - b->len) return TW_ENOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return TW_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int tw_buf_put(tw_buf *b, const void *data, size_t n)
{
    if (n == 0) return 0;
    int rc = tw_buf_reserve(b, n);
    if (rc) return rc;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

/* ----------------------------------------------------------------- arena */

struct tw_arena_chunk { tw_arena_chunk *next; size_t used, size; max_align_t data[]; };
#define ARENA_CHUNK 8192u

void tw_arena_init(tw_arena *a, size_t cap) { a->head = NULL; a->total = 0; a->cap = cap; }

void *tw_arena_alloc(tw_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    tw_arena_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        if (a->cap && a->total + size > a->cap) return NULL;
        c = malloc(sizeof *c + size);
        if (!c) return NULL;
        c->next = a->head;
        c->used = 0;
        c->size = size;
        a->head = c;
        a->total += size;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *tw_arena_strndup(tw_arena *a, const char *s, size_t n)
{
    char *p = tw_arena_alloc(a, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void tw_arena_reset(tw_arena *a)
{
    tw_arena_chunk *keep = a->head;
    if (!keep) return;
    tw_arena_chunk *c = keep->next;
    while (c) { tw_arena_chunk *n = c->next; a->total -= c->size; free(c); c = n; }
    keep->next = NULL;
    keep->used = 0;
}

void tw_arena_free(tw_arena *a)
{
    tw_arena_chunk *c = a->head;
    while (c) { tw_arena_chunk *n = c->next; free(c); c = n; }
    a->head = NULL;
    a->total = 0;
}

/* ----------------------------------------------------------------- UTF-8 */

bool tw_utf8_valid(const uint8_t *s, size_t n)
{
    /* Most text is ASCII: one pass over all of it (which the compiler
     * vectorises) settles that before any decoding. */
    uint8_t any = 0;
    for (size_t k = 0; k < n; k++) any |= s[k];
    if (!(any & 0x80)) return true;
    size_t i = 0;
    while (i < n) {
        /* Eight ASCII bytes at a time: the Latin text around Arabic words. */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i == n) break;
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t need;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 0x07; }
        else return false;
        if (n - i - 1 < need) return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;                       /* overlong or out of range */
        if (cp >= 0xd800 && cp <= 0xdfff) return false;   /* surrogate */
        i += need + 1;
    }
    return true;
}

/* ---------------------------------------------------------------- reader */

typedef struct rd {
    const uint8_t *p, *end;
    tw_arena *a;
    unsigned flags;
    unsigned max_depth;           /* containers may sit at depths 0 .. max_depth - 1 */
    const char *why;
} rd;

#define FAIL(r, code, msg) do { (r)->why = (msg); return (code); } while (0)

static uint64_t be(const uint8_t *p, unsigned n)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < n; i++) x = (x << 8) | p[i];
    return x;
}

/* Reads an n-byte big-endian length/number after the type byte. */
static int rd_num(rd *r, unsigned n, uint64_t *out)
{
    if ((size_t)(r->end - r->p) < n) FAIL(r, TW_ETRUNC, "truncated length or number");
    *out = be(r->p, n);
    r->p += n;
    return 0;
}

static int rd_val(rd *r, tw_val *v, unsigned depth);

static int rd_bytes(rd *r, tw_val *v, tw_type t, uint64_t n, uint64_t minshort)
{
    if (n > (uint64_t)(r->end - r->p)) FAIL(r, TW_ETRUNC, "string or binary longer than the input");
    if ((r->flags & TW_MP_CANONICAL) && n < minshort) FAIL(r, TW_ENONCANON, "length not in its shortest form");
    if (t == TW_STR && !tw_utf8_valid(r->p, (size_t)n)) FAIL(r, TW_EUTF8, "string is not valid UTF-8");
    v->type = t;
    v->len = (uint32_t)n;
    v->v.s = (const char *)r->p;
    r->p += n;
    return 0;
}

static int rd_arr(rd *r, tw_val *v, uint64_t n, uint64_t minshort, unsigned depth)
{
    if ((r->flags & TW_MP_CANONICAL) && n < minshort) FAIL(r, TW_ENONCANON, "array count not in its shortest form");
    if (depth >= r->max_depth) FAIL(r, TW_EDEPTH, "nested too deeply");
    if (n > (uint64_t)(r->end - r->p)) FAIL(r, TW_ETRUNC, "array count exceeds the input");
    v->type = TW_ARR;
    v->len = (uint32_t)n;
    v->v.arr = NULL;
    if (n == 0) return 0;
    v->v.arr = tw_arena_alloc(r->a, (size_t)n * sizeof(tw_val));
    if (!v->v.arr) FAIL(r, TW_ETOOBIG, "value too large for its memory bound");
    for (uint64_t i = 0; i < n; i++) {
        int rc = rd_val(r, &v->v.arr[i], depth + 1);
        if (rc) return rc;
    }
    return 0;
}

static int keycmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

typedef struct keyspan { const uint8_t *p; size_t len; const tw_kv *kv; } keyspan;

static int keyspan_cmp(const void *x, const void *y)
{
    const keyspan *a = x, *b = y;
    return keycmp(a->p, a->len, b->p, b->len);
}

static int rd_map(rd *r, tw_val *v, uint64_t n, uint64_t minshort, unsigned depth)
{
    if ((r->flags & TW_MP_CANONICAL) && n < minshort) FAIL(r, TW_ENONCANON, "map count not in its shortest form");
    if (depth >= r->max_depth) FAIL(r, TW_EDEPTH, "nested too deeply");
    if (n > (uint64_t)(r->end - r->p) / 2) FAIL(r, TW_ETRUNC, "map count exceeds the input");
    v->type = TW_MAP;
    v->len = (uint32_t)n;
    v->v.map = NULL;
    if (n == 0) return 0;
    v->v.map = tw_arena_alloc(r->a, (size_t)n * sizeof(tw_kv));
    if (!v->v.map) FAIL(r, TW_ETOOBIG, "value too large for its memory bound");
    if (r->flags & TW_MP_STORED) {
        for (uint64_t i = 0; i < n; i++) {
            int rc = rd_val(r, &v->v.map[i].k, depth + 1);
            if (rc || (rc = rd_val(r, &v->v.map[i].v, depth + 1))) return rc;
        }
        return 0;
    }
    keyspan *ks = tw_arena_alloc(r->a, (size_t)n * sizeof(keyspan));
    if (!ks) FAIL(r, TW_ETOOBIG, "value too large for its memory bound");
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *k0 = r->p;
        int rc = rd_val(r, &v->v.map[i].k, depth + 1);
        if (rc) return rc;
        ks[i].p = k0;
        ks[i].len = (size_t)(r->p - k0);
        if (i > 0 && (r->flags & TW_MP_CANONICAL)) {
            int c = keycmp(ks[i - 1].p, ks[i - 1].len, k0, ks[i].len);
            if (c == 0) FAIL(r, TW_ENONCANON, "duplicate map key");
            if (c > 0) FAIL(r, TW_ENONCANON, "map keys not sorted");
        }
        rc = rd_val(r, &v->v.map[i].v, depth + 1);
        if (rc) return rc;
    }
    /* Outside canonical mode keys may come in any order but must still be
     * unique: sort the key encodings and compare neighbours. */
    if (!(r->flags & TW_MP_CANONICAL) && n > 1) {
        qsort(ks, (size_t)n, sizeof *ks, keyspan_cmp);
        for (uint64_t i = 1; i < n; i++)
            if (keycmp(ks[i - 1].p, ks[i - 1].len, ks[i].p, ks[i].len) == 0)
                FAIL(r, TW_ENONCANON, "duplicate map key");
    }
    return 0;
}

static int rd_val(rd *r, tw_val *v, unsigned depth)
{
    if (r->p >= r->end) FAIL(r, TW_ETRUNC, "input ends early");
    uint8_t c = *r->p++;
    uint64_t n;
    int rc;
    bool canon = r->flags & TW_MP_CANONICAL;
    memset(v, 0, sizeof *v);
    if (c <= 0x7f) { v->type = TW_UINT; v->v.u = c; return 0; }
    if (c >= 0xe0) { v->type = TW_INT; v->v.i = (int8_t)c; return 0; }
    if ((c & 0xf0) == 0x80) return rd_map(r, v, c & 0x0f, 0, depth);
    if ((c & 0xf0) == 0x90) return rd_arr(r, v, c & 0x0f, 0, depth);
    if ((c & 0xe0) == 0xa0) return rd_bytes(r, v, TW_STR, c & 0x1f, 0);
    switch (c) {
    case 0xc0: v->type = TW_NIL; return 0;
    case 0xc2: v->type = TW_BOOL; v->v.b = false; return 0;
    case 0xc3: v->type = TW_BOOL; v->v.b = true; return 0;
    case 0xc4: case 0xc5: case 0xc6: {
        unsigned w = c == 0xc4 ? 1 : c == 0xc5 ? 2 : 4;
        if ((rc = rd_num(r, w, &n))) return rc;
        return rd_bytes(r, v, TW_BIN, n, w == 1 ? 0 : w == 2 ? 0x100 : 0x10000);
    }
    case 0xd9: case 0xda: case 0xdb: {
        unsigned w = c == 0xd9 ? 1 : c == 0xda ? 2 : 4;
        if ((rc = rd_num(r, w, &n))) return rc;
        return rd_bytes(r, v, TW_STR, n, w == 1 ? 32 : w == 2 ? 0x100 : 0x10000);
    }
    case 0xdc: case 0xdd:
        if ((rc = rd_num(r, c == 0xdc ? 2 : 4, &n))) return rc;
        return rd_arr(r, v, n, c == 0xdc ? 16 : 0x10000, depth);
    case 0xde: case 0xdf:
        if ((rc = rd_num(r, c == 0xde ? 2 : 4, &n))) return rc;
        return rd_map(r, v, n, c == 0xde ? 16 : 0x10000, depth);
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        unsigned w = 1u << (c - 0xcc);
        if ((rc = rd_num(r, w, &n))) return rc;
        static const uint64_t minv[] = { 0x80, 0x100, 0x10000, 0x100000000ull };
        if (canon && n < minv[c - 0xcc]) FAIL(r, TW_ENONCANON, "integer not in its shortest form");
        v->type = TW_UINT; v->v.u = n;
        return 0;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        unsigned w = 1u << (c - 0xd0);
        if ((rc = rd_num(r, w, &n))) return rc;
        int64_t x;
        switch (w) {
        case 1: x = (int8_t)n; break;
        case 2: x = (int16_t)n; break;
        case 4: x = (int32_t)n; break;
        default: x = (int64_t)n; break;
        }
        if (x >= 0) {
            /* A non-negative number in a signed form is never canonical. */
            if (canon) FAIL(r, TW_ENONCANON, "non-negative integer in a signed form");
            v->type = TW_UINT; v->v.u = (uint64_t)x;
            return 0;
        }
        static const int64_t minv[] = { -32, -128, -32768, -2147483648ll };
        if (canon && x >= minv[c - 0xd0]) FAIL(r, TW_ENONCANON, "integer not in its shortest form");
        v->type = TW_INT; v->v.i = x;
        return 0;
    }
    case 0xca: case 0xcb: FAIL(r, TW_ETYPE, "floating-point numbers are not accepted");
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
    case 0xc7: case 0xc8: case 0xc9: FAIL(r, TW_ETYPE, "extension types are not accepted");
    default: FAIL(r, TW_ETYPE, "reserved type byte 0xc1");
    }
}

int tw_mp_decode(const uint8_t *buf, size_t len, tw_arena *a, unsigned flags,
                 tw_val *out, size_t *consumed, const char **why)
{
    rd r = { buf, buf + len, a, flags, (flags & TW_MP_CTL_DEPTH) ? TW_CTL_DEPTH_MAX : TW_DEPTH_MAX, NULL };
    int rc = rd_val(&r, out, 0);
    if (rc == 0 && !consumed && r.p != r.end) { r.why = "trailing bytes after the value"; rc = TW_EINVAL; }
    if (rc == 0 && consumed) *consumed = (size_t)(r.p - buf);
    if (why) *why = rc ? r.why : NULL;
    return rc;
}

/* ---------------------------------------------------------------- writer */

static int buf_write_cb(void *data, const char *p, size_t n)
{
    return tw_buf_put(data, p, n) ? -1 : 0;
}

#define PK(b, call) do { msgpack_packer pk_; msgpack_packer_init(&pk_, (b), buf_write_cb); \
                         return call ? TW_ENOMEM : 0; } while (0)

int tw_mpw_nil(tw_buf *b) { PK(b, msgpack_pack_nil(&pk_)); }
int tw_mpw_bool(tw_buf *b, bool x) { PK(b, (x ? msgpack_pack_true(&pk_) : msgpack_pack_false(&pk_))); }
int tw_mpw_uint(tw_buf *b, uint64_t x) { PK(b, msgpack_pack_uint64(&pk_, x)); }
int tw_mpw_int(tw_buf *b, int64_t x) { PK(b, msgpack_pack_int64(&pk_, x)); }
int tw_mpw_arr(tw_buf *b, uint32_t n) { PK(b, msgpack_pack_array(&pk_, n)); }
int tw_mpw_map(tw_buf *b, uint32_t n) { PK(b, msgpack_pack_map(&pk_, n)); }
int tw_mpw_cstr(tw_buf *b, const char *s) { return tw_mpw_str(b, s, strlen(s)); }

int tw_mpw_kv_cstr(tw_buf *b, const char *k, const char *v)
{
    int rc = tw_mpw_cstr(b, k);
    return rc ? rc : tw_mpw_cstr(b, v);
}

int tw_mpw_kv_uint(tw_buf *b, const char *k, uint64_t v)
{
    int rc = tw_mpw_cstr(b, k);
    return rc ? rc : tw_mpw_uint(b, v);
}

int tw_mpw_str(tw_buf *b, const char *s, size_t n)
{
    if (n > UINT32_MAX) return TW_ETOOBIG;
    msgpack_packer pk;
    msgpack_packer_init(&pk, b, buf_write_cb);
    if (msgpack_pack_str(&pk, n) || msgpack_pack_str_body(&pk, s, n)) return TW_ENOMEM;
    return 0;
}

int tw_mpw_bin(tw_buf *b, const void *p, size_t n)
{
    if (n > UINT32_MAX) return TW_ETOOBIG;
    msgpack_packer pk;
    msgpack_packer_init(&pk, b, buf_write_cb);
    if (msgpack_pack_bin(&pk, n) || msgpack_pack_bin_body(&pk, p, n)) return TW_ENOMEM;
    return 0;
}

typedef struct encspan { size_t off, len; const tw_kv *kv; const uint8_t *base; } encspan;
static int encspan_cmp(const void *x, const void *y)
{
    const encspan *a = x, *b = y;
    return keycmp(a->base + a->off, a->len, b->base + b->off, b->len);
}

static int enc(tw_buf *b, const tw_val *v, unsigned depth, unsigned max)
{
    int rc;
    /* Same bound as the reader: containers may sit at depths 0 to
     * TW_DEPTH_MAX - 1, so whatever we write can be read back. */
    if ((v->type == TW_ARR || v->type == TW_MAP) && depth >= max) return TW_EDEPTH;
    switch (v->type) {
    case TW_NIL: return tw_mpw_nil(b);
    case TW_BOOL: return tw_mpw_bool(b, v->v.b);
    case TW_UINT: return tw_mpw_uint(b, v->v.u);
    case TW_INT: return v->v.i >= 0 ? tw_mpw_uint(b, (uint64_t)v->v.i) : tw_mpw_int(b, v->v.i);
    case TW_STR:
        /* The reader refuses invalid UTF-8, so never write it. */
        if (!tw_utf8_valid((const uint8_t *)v->v.s, v->len)) return TW_EUTF8;
        return tw_mpw_str(b, v->v.s, v->len);
    case TW_BIN: return tw_mpw_bin(b, v->v.s, v->len);
    case TW_ARR:
        if ((rc = tw_mpw_arr(b, v->len))) return rc;
        for (uint32_t i = 0; i < v->len; i++)
            if ((rc = enc(b, &v->v.arr[i], depth + 1, max))) return rc;
        return 0;
    case TW_MAP: {
        if ((rc = tw_mpw_map(b, v->len))) return rc;
        if (v->len == 0) return 0;
        /* Encode every key into a scratch buffer, sort the encodings
         * bytewise, then emit pairs in that order. */
        tw_buf kb;
        tw_buf_init(&kb);
        encspan *ks = malloc(v->len * sizeof *ks);
        if (!ks) return TW_ENOMEM;
        for (uint32_t i = 0; i < v->len && rc == 0; i++) {
            ks[i].off = kb.len;
            ks[i].kv = &v->v.map[i];
            rc = enc(&kb, &v->v.map[i].k, depth + 1, max);
            ks[i].len = kb.len - ks[i].off;
        }
        if (rc == 0) {
            for (uint32_t i = 0; i < v->len; i++) ks[i].base = kb.p;
            qsort(ks, v->len, sizeof *ks, encspan_cmp);
            for (uint32_t i = 0; i + 1 < v->len && rc == 0; i++)
                if (keycmp(kb.p + ks[i].off, ks[i].len, kb.p + ks[i + 1].off, ks[i + 1].len) == 0)
                    rc = TW_EINVAL;
            for (uint32_t i = 0; i < v->len && rc == 0; i++) {
                rc = tw_buf_put(b, kb.p + ks[i].off, ks[i].len);
                if (rc == 0) rc = enc(b, &ks[i].kv->v, depth + 1, max);
            }
        }
        free(ks);
        tw_buf_free(&kb);
        return rc;
    }
    }
    return TW_EINVAL;
}

int tw_mp_encode(tw_buf *b, const tw_val *v) { return enc(b, v, 0, TW_DEPTH_MAX); }
int tw_mp_encode_ctl(tw_buf *b, const tw_val *v) { return enc(b, v, 0, TW_CTL_DEPTH_MAX); }

/* ------------------------------------------------------------- builders */

tw_val tw_v_nil(void) { tw_val v = { .type = TW_NIL }; return v; }
tw_val tw_v_bool(bool x) { tw_val v = { .type = TW_BOOL, .v.b = x }; return v; }
tw_val tw_v_uint(uint64_t x) { tw_val v = { .type = TW_UINT, .v.u = x }; return v; }
tw_val tw_v_int(int64_t x)
{
    if (x >= 0) return tw_v_uint((uint64_t)x);
    tw_val v = { .type = TW_INT, .v.i = x };
    return v;
}
tw_val tw_v_str(const char *s, size_t n) { tw_val v = { .type = TW_STR, .len = (uint32_t)n, .v.s = s }; return v; }
tw_val tw_v_cstr(const char *s) { return tw_v_str(s, strlen(s)); }
tw_val tw_v_bin(const void *p, size_t n) { tw_val v = { .type = TW_BIN, .len = (uint32_t)n, .v.s = p }; return v; }

int tw_v_arr(tw_arena *a, tw_val *out, uint32_t n)
{
    out->type = TW_ARR;
    out->len = n;
    out->v.arr = NULL;
    if (n && !(out->v.arr = tw_arena_alloc(a, (size_t)n * sizeof(tw_val)))) return TW_ENOMEM;
    return 0;
}

int tw_v_map(tw_arena *a, tw_val *out, uint32_t n)
{
    out->type = TW_MAP;
    out->len = n;
    out->v.map = NULL;
    if (n && !(out->v.map = tw_arena_alloc(a, (size_t)n * sizeof(tw_kv)))) return TW_ENOMEM;
    return 0;
}

const tw_val *tw_v_get(const tw_val *m, const char *key)
{
    if (!m || m->type != TW_MAP) return NULL;
    size_t n = strlen(key);
    for (uint32_t i = 0; i < m->len; i++) {
        const tw_val *k = &m->v.map[i].k;
        if (k->type == TW_STR && k->len == n && memcmp(k->v.s, key, n) == 0)
            return &m->v.map[i].v;
    }
    return NULL;
}

bool tw_v_is_str(const tw_val *v, const char *s)
{
    return v && v->type == TW_STR && v->len == strlen(s) && memcmp(v->v.s, s, v->len) == 0;
}

bool tw_v_equal(const tw_val *a, const tw_val *b)
{
    if (a->type != b->type || a->len != b->len) return false;
    switch (a->type) {
    case TW_NIL: return true;
    case TW_BOOL: return a->v.b == b->v.b;
    case TW_UINT: return a->v.u == b->v.u;
    case TW_INT: return a->v.i == b->v.i;
    case TW_STR: case TW_BIN: return a->len == 0 || memcmp(a->v.s, b->v.s, a->len) == 0;
    case TW_ARR:
        for (uint32_t i = 0; i < a->len; i++)
            if (!tw_v_equal(&a->v.arr[i], &b->v.arr[i])) return false;
        return true;
    case TW_MAP:
        /* Keys are unique in a valid map, so each key of a must find its
         * equal key in b with an equal value. */
        for (uint32_t i = 0; i < a->len; i++) {
            const tw_val *bv = NULL;
            for (uint32_t j = 0; j < b->len && !bv; j++)
                if (tw_v_equal(&a->v.map[i].k, &b->v.map[j].k)) bv = &b->v.map[j].v;
            if (!bv || !tw_v_equal(&a->v.map[i].v, bv)) return false;
        }
        return true;
    }
    return false;
}

int tw_v_copy(tw_arena *a, tw_val *dst, const tw_val *src)
{
    *dst = *src;
    switch (src->type) {
    case TW_STR: case TW_BIN:
        if (!(dst->v.s = tw_arena_strndup(a, src->v.s, src->len))) return TW_ENOMEM;
        return 0;
    case TW_ARR:
        if (tw_v_arr(a, dst, src->len)) return TW_ENOMEM;
        for (uint32_t i = 0; i < src->len; i++)
            if (tw_v_copy(a, &dst->v.arr[i], &src->v.arr[i])) return TW_ENOMEM;
        return 0;
    case TW_MAP:
        if (tw_v_map(a, dst, src->len)) return TW_ENOMEM;
        for (uint32_t i = 0; i < src->len; i++)
            if (tw_v_copy(a, &dst->v.map[i].k, &src->v.map[i].k) ||
                tw_v_copy(a, &dst->v.map[i].v, &src->v.map[i].v)) return TW_ENOMEM;
        return 0;
    default:
        return 0;
    }
}
