/*
 * Bounded msgpack reading and canonical writing.
 *
 * msgpack-c's own unpacker allocates from a declared count before the
 * elements arrive, so bytes from a peer or a file are never handed to it.
 * tw_mp_decode() is our reader: every declared length and count is checked
 * against the bytes that remain before anything is allocated, nesting is
 * limited to TW_DEPTH_MAX, strings must be valid UTF-8, and floats and ext
 * types are refused.  With TW_MP_CANONICAL it also insists on the one
 * canonical encoding (shortest forms, map keys unique and sorted bytewise by
 * their encoded bytes), so that a signed payload has exactly one encoding.
 *
 * Writing goes through msgpack-c's packer, which always picks the shortest
 * form; tw_mp_encode() sorts map keys so its output is canonical.
 *
 * Decoded strings and binaries point into the input buffer (no copies):
 * the input must outlive the tree.  Nodes come from an arena that is freed
 * in one go.
 */
#ifndef TWIN_MP_H
#define TWIN_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TW_NIL = 0, TW_BOOL, TW_UINT, TW_INT, TW_STR, TW_BIN, TW_ARR, TW_MAP
} tw_type;

typedef struct tw_val tw_val;
typedef struct tw_kv tw_kv;

struct tw_val {
    tw_type type;
    uint32_t len;          /* bytes of STR/BIN, elements of ARR, pairs of MAP */
    union {
        bool b;
        uint64_t u;        /* TW_UINT: every non-negative integer */
        int64_t i;         /* TW_INT: negative integers only */
        const char *s;     /* TW_STR / TW_BIN bytes; not NUL-terminated */
        tw_val *arr;
        tw_kv *map;
    } v;
};
struct tw_kv { tw_val k, v; };

/* ---- growable byte buffer ---- */
typedef struct tw_buf { uint8_t *p; size_t len, cap; } tw_buf;
void tw_buf_init(tw_buf *b);
int  tw_buf_put(tw_buf *b, const void *data, size_t n);   /* TW_ENOMEM */
int  tw_buf_reserve(tw_buf *b, size_t n);
void tw_buf_reset(tw_buf *b);                             /* len = 0, keeps memory */
void tw_buf_free(tw_buf *b);

/* ---- arena: many small allocations, one free; total bounded by cap ---- */
typedef struct tw_arena_chunk tw_arena_chunk;
typedef struct tw_arena { tw_arena_chunk *head; size_t total, cap; } tw_arena;
void  tw_arena_init(tw_arena *a, size_t cap);             /* cap 0 = no bound */
void *tw_arena_alloc(tw_arena *a, size_t n);              /* zeroed; NULL past cap */
char *tw_arena_strndup(tw_arena *a, const char *s, size_t n); /* NUL-terminated copy */
void  tw_arena_reset(tw_arena *a);    /* forget everything, keep one chunk for reuse */
void  tw_arena_free(tw_arena *a);

/* ---- reading ---- */
#define TW_MP_CANONICAL 1u
/* Nesting up to TW_CTL_DEPTH_MAX instead of TW_DEPTH_MAX: control messages,
 * which wrap record bodies (each within TW_DEPTH_MAX) in a few levels of
 * their own. */
#define TW_MP_CTL_DEPTH 2u
/* Values read back from this node's own store, which were read with
 * TW_MP_CANONICAL when they were admitted: the order and uniqueness of map
 * keys are not checked again (bounds, depth, types and UTF-8 still are).
 * Store scans read every record, and the key comparisons were a tenth of a
 * search at a million records. */
#define TW_MP_STORED 4u
/*
 * Decodes one value from buf.  If consumed is NULL the value must fill buf
 * exactly (trailing bytes are an error); otherwise *consumed gets its size.
 * On error returns a TW_E* code and, if why is not NULL, a static reason.
 */
int tw_mp_decode(const uint8_t *buf, size_t len, tw_arena *a, unsigned flags,
                 tw_val *out, size_t *consumed, const char **why);
bool tw_utf8_valid(const uint8_t *s, size_t n);

/* ---- writing (canonical) ---- */
int tw_mp_encode(tw_buf *b, const tw_val *v);   /* sorts map keys; TW_EINVAL on duplicates */
/* The same, nesting up to TW_CTL_DEPTH_MAX (control messages). */
int tw_mp_encode_ctl(tw_buf *b, const tw_val *v);
/* Streaming writers for hand-built messages (caller keeps keys sorted). */
int tw_mpw_nil(tw_buf *b);
int tw_mpw_bool(tw_buf *b, bool x);
int tw_mpw_uint(tw_buf *b, uint64_t x);
int tw_mpw_int(tw_buf *b, int64_t x);
int tw_mpw_str(tw_buf *b, const char *s, size_t n);
int tw_mpw_cstr(tw_buf *b, const char *s);
int tw_mpw_bin(tw_buf *b, const void *p, size_t n);
int tw_mpw_arr(tw_buf *b, uint32_t n);
int tw_mpw_map(tw_buf *b, uint32_t n);
/* A map pair with a string key: key then value. */
int tw_mpw_kv_cstr(tw_buf *b, const char *k, const char *v);
int tw_mpw_kv_uint(tw_buf *b, const char *k, uint64_t v);

/* ---- building and inspecting trees ---- */
tw_val tw_v_nil(void);
tw_val tw_v_bool(bool x);
tw_val tw_v_uint(uint64_t x);
tw_val tw_v_int(int64_t x);                    /* picks UINT for x >= 0 */
tw_val tw_v_str(const char *s, size_t n);      /* no copy */
tw_val tw_v_cstr(const char *s);               /* no copy */
tw_val tw_v_bin(const void *p, size_t n);      /* no copy */
int tw_v_arr(tw_arena *a, tw_val *out, uint32_t n);   /* n elements, all nil */
int tw_v_map(tw_arena *a, tw_val *out, uint32_t n);   /* n pairs, all nil */
/* Map lookup by string key; NULL when absent or m is not a map. */
const tw_val *tw_v_get(const tw_val *m, const char *key);
bool tw_v_is_str(const tw_val *v, const char *s);      /* STR equal to s */
/* Deep equality (maps compared as sets of pairs). */
bool tw_v_equal(const tw_val *a, const tw_val *b);
/* Deep copy into an arena (strings copied too), so the source may go. */
int tw_v_copy(tw_arena *a, tw_val *dst, const tw_val *src);

#endif
