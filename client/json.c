/*
 * A strict JSON reader and a JSON writer over tw_val trees (see json.h).
 *
 * The reader is a recursive descent whose depth is bounded by TW_DEPTH_MAX,
 * so hostile files cannot exhaust the stack.  Elements of a container are
 * gathered in a temporary vector and copied into the arena once the size is
 * known, because tw_val arrays cannot grow in place.  Line and column of an
 * error are computed only when an error happens, by rescanning the input,
 * which keeps the hot path free of bookkeeping.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "twin/err.h"
#include "twin/limits.h"
#include "twin/vec.h"

typedef struct jp {
    const char *s;
    size_t n, pos;
    uint32_t line;          /* current line, kept by skip_ws() */
    tw_arena *a;
    tw_buf tmp;             /* unescaped string being built */
    char *err;
    size_t errlen;
} jp;

static int fail_at(jp *p, size_t at, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(jp *p, size_t at, int code, const char *fmt, ...)
{
    if (!p->err || p->errlen == 0) return code;
    /* Columns count characters, not bytes, as editors do. */
    unsigned long line = 1, col = 1;
    for (size_t i = 0; i < at && i < p->n; i++) {
        unsigned char c = (unsigned char)p->s[i];
        if (c == '\n') { line++; col = 1; }
        else if ((c & 0xC0) != 0x80) col++;
    }
    int k = snprintf(p->err, p->errlen, "%lu:%lu: ", line, col);
    if (k < 0 || (size_t)k >= p->errlen) return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
    va_end(ap);
    return code;
}

static void describe(const jp *p, size_t at, char *out, size_t outlen)
{
    if (at >= p->n) { snprintf(out, outlen, "end of input"); return; }
    unsigned char c = (unsigned char)p->s[at];
    if (c > 0x20 && c < 0x7F) { snprintf(out, outlen, "character '%c'", c); return; }
    uint32_t cp;
    tw_width_decode(p->s + at, p->n - at, &cp);
    if (cp == TW_CP_BAD) snprintf(out, outlen, "invalid UTF-8 byte 0x%02X", c);
    else snprintf(out, outlen, "character U+%04" PRIX32, cp);
}

static int unexpected(jp *p, const char *expecting)
{
    char what[48];
    describe(p, p->pos, what, sizeof what);
    if (expecting)
        return fail_at(p, p->pos, TW_EINVAL, "unexpected %s, expected %s", what, expecting);
    return fail_at(p, p->pos, TW_EINVAL, "unexpected %s", what);
}

static void skip_ws(jp *p)
{
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (c == '\n') p->line++;
        else if (c != ' ' && c != '\t' && c != '\r') break;
        p->pos++;
    }
}

/* A growable vector of elements or pairs, freed by the caller. */
typedef struct vec { void *p; size_t n, cap, size; } vec;

static int vec_push(vec *v, const void *item)
{
    void *np = tw_vec_room(v->p, &v->cap, v->n, v->size, 8);
    if (!np) return TW_ENOMEM;
    v->p = np;
    memcpy((char *)v->p + v->n * v->size, item, v->size);
    v->n++;
    return 0;
}

static void *vec_to_arena(jp *p, const vec *v)
{
    if (v->n == 0) return NULL;
    void *dst = tw_arena_alloc(p->a, v->n * v->size);
    if (dst) memcpy(dst, v->p, v->n * v->size);
    return dst;
}

static int parse_value(jp *p, tw_val *out, unsigned depth, vec *lines);

static int hex4(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static int put_utf8(tw_buf *b, uint32_t cp)
{
    uint8_t u[4];
    size_t k;
    if (cp < 0x80) { u[0] = (uint8_t)cp; k = 1; }
    else if (cp < 0x800) { u[0] = (uint8_t)(0xC0 | (cp >> 6)); u[1] = (uint8_t)(0x80 | (cp & 0x3F)); k = 2; }
    else if (cp < 0x10000) {
        u[0] = (uint8_t)(0xE0 | (cp >> 12)); u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (uint8_t)(0x80 | (cp & 0x3F)); k = 3;
    } else {
        u[0] = (uint8_t)(0xF0 | (cp >> 18)); u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (uint8_t)(0x80 | (cp & 0x3F)); k = 4;
    }
    return tw_buf_put(b, u, k);
}

static int parse_string(jp *p, tw_val *out)
{
    size_t start = p->pos;          /* the opening quote */
    size_t i = start + 1;
    bool escaped = false;
    tw_buf_reset(&p->tmp);
    for (;;) {
        if (i >= p->n)
            return fail_at(p, start, TW_EINVAL, "unterminated string");
        unsigned char c = (unsigned char)p->s[i];
        if (c == '"') break;
        if (c < 0x20)
            return fail_at(p, i, TW_EINVAL, "raw control character U+%04X in a string (write it as \\u%04X)", c, c);
        if (c >= 0x80) {
            uint32_t cp;
            size_t k = tw_width_decode(p->s + i, p->n - i, &cp);
            if (cp == TW_CP_BAD)
                return fail_at(p, i, TW_EINVAL, "invalid UTF-8 byte 0x%02X in a string", c);
            if (escaped && tw_buf_put(&p->tmp, p->s + i, k) != 0) return TW_ENOMEM;
            i += k;
            continue;
        }
        if (c != '\\') {
            if (escaped && tw_buf_put(&p->tmp, &c, 1) != 0) return TW_ENOMEM;
            i++;
            continue;
        }
        if (!escaped) {
            escaped = true;
            if (tw_buf_put(&p->tmp, p->s + start + 1, i - start - 1) != 0) return TW_ENOMEM;
        }
        if (i + 1 >= p->n)
            return fail_at(p, start, TW_EINVAL, "unterminated string");
        char e = p->s[i + 1], r;
        switch (e) {
        case '"': r = '"'; break;
        case '\\': r = '\\'; break;
        case '/': r = '/'; break;
        case 'b': r = '\b'; break;
        case 'f': r = '\f'; break;
        case 'n': r = '\n'; break;
        case 'r': r = '\r'; break;
        case 't': r = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (i + 6 > p->n || hex4(p->s + i + 2, &cp) != 0)
                return fail_at(p, i, TW_EINVAL, "invalid \\u escape (four hex digits expected)");
            size_t esc_at = i;
            i += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail_at(p, esc_at, TW_EINVAL, "invalid \\u escape: lone low surrogate \\u%04" PRIX32, cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (i + 6 > p->n || p->s[i] != '\\' || p->s[i + 1] != 'u' ||
                    hex4(p->s + i + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return fail_at(p, esc_at, TW_EINVAL, "invalid \\u escape: high surrogate \\u%04" PRIX32 " not followed by a low surrogate", cp);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
            if (put_utf8(&p->tmp, cp) != 0) return TW_ENOMEM;
            continue;
        }
        default:
            return fail_at(p, i, TW_EINVAL, "invalid escape '\\%c'", (e > 0x20 && e < 0x7F) ? e : '?');
        }
        if (tw_buf_put(&p->tmp, &r, 1) != 0) return TW_ENOMEM;
        i += 2;
    }
    size_t len = escaped ? p->tmp.len : i - start - 1;
    if (len > UINT32_MAX)
        return fail_at(p, start, TW_ETOOBIG, "string too long");
    if (escaped) {
        char *copy = tw_arena_alloc(p->a, len ? len : 1);
        if (!copy) return TW_ENOMEM;
        if (len) memcpy(copy, p->tmp.p, len);
        *out = tw_v_str(copy, len);
    } else {
        *out = tw_v_str(p->s + start + 1, len);
    }
    p->pos = i + 1;
    return 0;
}

static int parse_number(jp *p, tw_val *out)
{
    size_t start = p->pos, i = p->pos;
    bool neg = false;
    if (p->s[i] == '-') { neg = true; i++; }
    if (i >= p->n || p->s[i] < '0' || p->s[i] > '9')
        return fail_at(p, i, TW_EINVAL, "a digit must follow '-'");
    if (p->s[i] == '0' && i + 1 < p->n && p->s[i + 1] >= '0' && p->s[i + 1] <= '9')
        return fail_at(p, start, TW_EINVAL, "numbers may not have leading zeros");
    uint64_t v = 0;
    bool overflow = false;
    while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') {
        unsigned d = (unsigned)(p->s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) overflow = true;
        else v = v * 10 + d;
        i++;
    }
    if (i < p->n && (p->s[i] == '.' || p->s[i] == 'e' || p->s[i] == 'E'))
        return fail_at(p, start, TW_EINVAL, "floating-point numbers are not supported (records hold integers only)");
    if (overflow || (neg && v > (uint64_t)INT64_MAX + 1))
        return fail_at(p, start, TW_EINVAL, "integer out of range");
    if (!neg || v == 0) *out = tw_v_uint(v);
    else if (v == (uint64_t)INT64_MAX + 1) { out->type = TW_INT; out->len = 0; out->v.i = INT64_MIN; }
    else { out->type = TW_INT; out->len = 0; out->v.i = -(int64_t)v; }
    p->pos = i;
    return 0;
}

static int literal(jp *p, const char *word, tw_val v, tw_val *out)
{
    size_t k = strlen(word);
    if (p->n - p->pos < k || memcmp(p->s + p->pos, word, k) != 0)
        return fail_at(p, p->pos, TW_EINVAL, "invalid literal (expected %s)", word);
    p->pos += k;
    *out = v;
    return 0;
}

static int cmp_keys(const void *a, const void *b)
{
    const tw_kv *x = *(const tw_kv *const *)a, *y = *(const tw_kv *const *)b;
    uint32_t n = x->k.len < y->k.len ? x->k.len : y->k.len;
    int c = n ? memcmp(x->k.v.s, y->k.v.s, n) : 0;
    if (c) return c;
    return (x->k.len > y->k.len) - (x->k.len < y->k.len);
}

/* Sorting pointers keeps a large object O(n log n) instead of O(n^2). */
static int check_duplicates(jp *p, const tw_kv *kv, size_t n, size_t at)
{
    if (n < 2) return 0;
    const tw_kv **idx = malloc(n * sizeof *idx);
    if (!idx) return TW_ENOMEM;
    for (size_t i = 0; i < n; i++) idx[i] = &kv[i];
    qsort(idx, n, sizeof *idx, cmp_keys);
    int rc = 0;
    for (size_t i = 1; i < n; i++) {
        if (cmp_keys(&idx[i - 1], &idx[i]) == 0) {
            const tw_val *k = &idx[i]->k;
            rc = fail_at(p, at, TW_EINVAL, "duplicate key \"%.*s\" in object",
                         (int)(k->len > 64 ? 64 : k->len), k->v.s);
            break;
        }
    }
    free(idx);
    return rc;
}

static int parse_object(jp *p, tw_val *out, unsigned depth)
{
    size_t start = p->pos;
    vec kv = { NULL, 0, 0, sizeof(tw_kv) };
    int rc;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == '}') {
        p->pos++;
        out->type = TW_MAP; out->len = 0; out->v.map = NULL;
        return 0;
    }
    for (;;) {
        tw_kv pair;
        skip_ws(p);
        if (p->pos >= p->n || p->s[p->pos] != '"') {
            rc = unexpected(p, "a string key");
            goto out;
        }
        if ((rc = parse_string(p, &pair.k)) != 0) goto out;
        skip_ws(p);
        if (p->pos >= p->n || p->s[p->pos] != ':') { rc = unexpected(p, "':'"); goto out; }
        p->pos++;
        if ((rc = parse_value(p, &pair.v, depth, NULL)) != 0) goto out;
        if ((rc = vec_push(&kv, &pair)) != 0) goto out;
        skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] == ',') { p->pos++; continue; }
        if (p->pos < p->n && p->s[p->pos] == '}') { p->pos++; break; }
        rc = unexpected(p, "',' or '}'");
        goto out;
    }
    if ((rc = check_duplicates(p, kv.p, kv.n, start)) != 0) goto out;
    out->type = TW_MAP;
    out->len = (uint32_t)kv.n;
    out->v.map = vec_to_arena(p, &kv);
    if (!out->v.map) rc = TW_ENOMEM;
out:
    free(kv.p);
    return rc;
}

static int parse_array(jp *p, tw_val *out, unsigned depth, vec *lines)
{
    vec el = { NULL, 0, 0, sizeof(tw_val) };
    int rc = 0;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == ']') {
        p->pos++;
        out->type = TW_ARR; out->len = 0; out->v.arr = NULL;
        return 0;
    }
    for (;;) {
        tw_val v;
        skip_ws(p);
        if (lines && (rc = vec_push(lines, &p->line)) != 0) goto out;
        if ((rc = parse_value(p, &v, depth, NULL)) != 0) goto out;
        if ((rc = vec_push(&el, &v)) != 0) goto out;
        skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] == ',') { p->pos++; continue; }
        if (p->pos < p->n && p->s[p->pos] == ']') { p->pos++; break; }
        rc = unexpected(p, "',' or ']'");
        goto out;
    }
    out->type = TW_ARR;
    out->len = (uint32_t)el.n;
    out->v.arr = vec_to_arena(p, &el);
    if (!out->v.arr) rc = TW_ENOMEM;
out:
    free(el.p);
    return rc;
}

static int parse_value(jp *p, tw_val *out, unsigned depth, vec *lines)
{
    skip_ws(p);
    if (p->pos >= p->n) return unexpected(p, "a value");
    char c = p->s[p->pos];
    switch (c) {
    case '{':
    case '[':
        /* An export wraps bodies nested up to TW_DEPTH_MAX in levels of
         * its own, as control messages do: it must read back. */
        if (depth + 1 > TW_CTL_DEPTH_MAX)
            return fail_at(p, p->pos, TW_EDEPTH, "nesting deeper than %u levels", TW_CTL_DEPTH_MAX);
        return c == '{' ? parse_object(p, out, depth + 1)
                        : parse_array(p, out, depth + 1, lines);
    case '"': return parse_string(p, out);
    case 't': return literal(p, "true", tw_v_bool(true), out);
    case 'f': return literal(p, "false", tw_v_bool(false), out);
    case 'n': return literal(p, "null", tw_v_nil(), out);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, out);
        return unexpected(p, "a value");
    }
}

int tw_json_parse(const char *s, size_t n, tw_arena *a, tw_val *out,
                  uint32_t **lines, char *err, size_t errlen)
{
    jp p = { .s = s, .n = n, .pos = 0, .line = 1, .a = a, .err = err, .errlen = errlen };
    vec lv = { NULL, 0, 0, sizeof(uint32_t) };
    int rc;
    if (err && errlen) err[0] = '\0';
    if (lines) *lines = NULL;
    if (n > TW_JSON_INPUT_MAX)
        return fail_at(&p, 0, TW_ETOOBIG, "input larger than %u bytes", TW_JSON_INPUT_MAX);
    tw_buf_init(&p.tmp);
    /* A byte order mark is not JSON, but editors on some systems add one. */
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) p.pos = 3;
    skip_ws(&p);
    if (p.pos >= n) { rc = fail_at(&p, p.pos, TW_EINVAL, "empty input"); goto out; }
    bool top_array = s[p.pos] == '[';
    if (lines && !top_array && (rc = vec_push(&lv, &p.line)) != 0) goto out;
    if ((rc = parse_value(&p, out, 0, (lines && top_array) ? &lv : NULL)) != 0) goto out;
    skip_ws(&p);
    if (p.pos < n) { rc = fail_at(&p, p.pos, TW_EINVAL, "unexpected data after the JSON value"); goto out; }
    if (lines && lv.n) {
        *lines = vec_to_arena(&p, &lv);
        if (!*lines) rc = TW_ENOMEM;
    }
out:
    free(lv.p);
    tw_buf_free(&p.tmp);
    return rc;
}

/* ---- writer ---- */

static int put(tw_buf *b, const char *s) { return tw_buf_put(b, s, strlen(s)); }

static int write_string(tw_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (tw_buf_put(b, "\"", 1) != 0) return TW_ENOMEM;
    size_t i = 0, run = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u6[7];
        size_t k = 1;
        if (c >= 0x80) {
            uint32_t cp;
            k = tw_width_decode(s + i, n - i, &cp);
            if (cp == TW_CP_BAD) esc = "\xEF\xBF\xBD";
        } else if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c < 0x20) {
            switch (c) {
            case '\b': esc = "\\b"; break;
            case '\f': esc = "\\f"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            case '\t': esc = "\\t"; break;
            default:
                u6[0] = '\\'; u6[1] = 'u'; u6[2] = '0'; u6[3] = '0';
                u6[4] = hex[c >> 4]; u6[5] = hex[c & 15]; u6[6] = '\0';
                esc = u6;
            }
        }
        if (esc) {
            if (run && tw_buf_put(b, s + i - run, run) != 0) return TW_ENOMEM;
            run = 0;
            if (put(b, esc) != 0) return TW_ENOMEM;
        } else {
            run += k;
        }
        i += k;
    }
    if (run && tw_buf_put(b, s + i - run, run) != 0) return TW_ENOMEM;
    return tw_buf_put(b, "\"", 1);
}

static int newline(tw_buf *b, unsigned flags, unsigned level)
{
    if (!(flags & TW_JSON_PRETTY)) return 0;
    if (tw_buf_put(b, "\n", 1) != 0) return TW_ENOMEM;
    for (unsigned i = 0; i < level; i++)
        if (tw_buf_put(b, "  ", 2) != 0) return TW_ENOMEM;
    return 0;
}

static int write_val(tw_buf *b, const tw_val *v, unsigned flags, unsigned level)
{
    char num[32];
    int rc;
    if (level > TW_JSON_WRITE_DEPTH) return TW_EDEPTH;
    switch (v->type) {
    case TW_NIL: return put(b, "null");
    case TW_BOOL: return put(b, v->v.b ? "true" : "false");
    case TW_UINT: snprintf(num, sizeof num, "%" PRIu64, v->v.u); return put(b, num);
    case TW_INT: snprintf(num, sizeof num, "%" PRId64, v->v.i); return put(b, num);
    case TW_STR: return write_string(b, v->v.s, v->len);
    case TW_BIN: {
        static const char hex[] = "0123456789abcdef";
        if (tw_buf_put(b, "\"", 1) != 0) return TW_ENOMEM;
        for (uint32_t i = 0; i < v->len; i++) {
            unsigned char c = (unsigned char)v->v.s[i];
            char h[2] = { hex[c >> 4], hex[c & 15] };
            if (tw_buf_put(b, h, 2) != 0) return TW_ENOMEM;
        }
        return tw_buf_put(b, "\"", 1);
    }
    case TW_ARR:
        if (v->len == 0) return put(b, "[]");
        if (put(b, "[") != 0) return TW_ENOMEM;
        for (uint32_t i = 0; i < v->len; i++) {
            if (i && put(b, ",") != 0) return TW_ENOMEM;
            if ((rc = newline(b, flags, level + 1)) != 0) return rc;
            if ((rc = write_val(b, &v->v.arr[i], flags, level + 1)) != 0) return rc;
        }
        if ((rc = newline(b, flags, level)) != 0) return rc;
        return put(b, "]");
    case TW_MAP:
        if (v->len == 0) return put(b, "{}");
        if (put(b, "{") != 0) return TW_ENOMEM;
        for (uint32_t i = 0; i < v->len; i++) {
            const tw_kv *kv = &v->v.map[i];
            if (i && put(b, ",") != 0) return TW_ENOMEM;
            if ((rc = newline(b, flags, level + 1)) != 0) return rc;
            if (kv->k.type == TW_STR) {
                rc = write_string(b, kv->k.v.s, kv->k.len);
            } else {
                tw_buf kb;
                tw_buf_init(&kb);
                rc = write_val(&kb, &kv->k, 0, level + 1);
                if (rc == 0) rc = write_string(b, (const char *)kb.p, kb.len);
                tw_buf_free(&kb);
            }
            if (rc != 0) return rc;
            if (put(b, (flags & TW_JSON_PRETTY) ? ": " : ":") != 0) return TW_ENOMEM;
            if ((rc = write_val(b, &kv->v, flags, level + 1)) != 0) return rc;
        }
        if ((rc = newline(b, flags, level)) != 0) return rc;
        return put(b, "}");
    }
    return TW_ETYPE;
}

int tw_json_write(tw_buf *b, const tw_val *v, unsigned flags)
{
    return write_val(b, v, flags, 0);
}

int tw_json_write_at(tw_buf *b, const tw_val *v, unsigned flags, unsigned level)
{
    return write_val(b, v, flags, level);
}
