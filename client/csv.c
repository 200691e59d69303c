/*
 * RFC 4180 CSV reading and writing (see csv.h).
 *
 * The formula guard is made reversible: a cell gets the extra quote when it
 * matches ^'*[=+\-@\t\r], and a read cell loses one leading quote only when
 * what follows matches that pattern.  So a guarded export imports back to
 * exactly the original values, including values that themselves begin with
 * quotes, while ordinary cells such as "'Anata" are left alone.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "csv.h"
#include "twin/err.h"

void tw_csv_init(tw_csv *c, const char *s, size_t n)
{
    c->s = s;
    c->n = n;
    c->pos = 0;
    c->line = 1;
    /* Spreadsheets often start UTF-8 CSV files with a byte order mark. */
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) c->pos = 3;
}

void tw_csv_row_init(tw_csv_row *r)
{
    r->line = 0;
    r->n = 0;
    tw_buf_init(&r->text);
}

void tw_csv_row_free(tw_csv_row *r)
{
    tw_buf_free(&r->text);
    r->n = 0;
}

static int fail(const tw_csv *c, size_t at, uint32_t line, int code, char *err,
                size_t errlen, const char *msg)
{
    if (err && errlen) {
        size_t ls = at;
        while (ls > 0 && c->s[ls - 1] != '\n') ls--;
        unsigned long col = 1;
        for (size_t i = ls; i < at && i < c->n; i++)
            if (((unsigned char)c->s[i] & 0xC0) != 0x80) col++;
        snprintf(err, errlen, "%lu:%lu: %s", (unsigned long)line, col, msg);
    }
    return code;
}

static bool utf8_ok(const char *s, size_t n, size_t *bad)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = tw_width_decode(s + i, n - i, &cp);
        if (cp == TW_CP_BAD) { *bad = i; return false; }
        i += k;
    }
    return true;
}

int tw_csv_read(tw_csv *c, tw_csv_row *r, bool *got, char *err, size_t errlen)
{
    size_t off[TW_CSV_COLS_MAX];
    const char *s = c->s;
    *got = false;
    r->n = 0;
    tw_buf_reset(&r->text);
    for (;;) {
        if (c->pos >= c->n) return 0;
        if (s[c->pos] == '\n') { c->pos++; c->line++; continue; }
        if (s[c->pos] == '\r' && c->pos + 1 < c->n && s[c->pos + 1] == '\n') {
            c->pos += 2; c->line++; continue;
        }
        break;
    }
    r->line = c->line;
    for (;;) {
        size_t cell_at = c->pos;
        uint32_t cell_line = c->line;
        if (r->n == TW_CSV_COLS_MAX)
            return fail(c, c->pos, c->line, TW_ETOOBIG, err, errlen, "too many fields in one row");
        off[r->n] = r->text.len;
        if (c->pos < c->n && s[c->pos] == '"') {
            c->pos++;
            for (;;) {
                size_t run = c->pos;
                while (run < c->n && s[run] != '"') {
                    if (s[run] == '\n') c->line++;
                    run++;
                }
                if (tw_buf_put(&r->text, s + c->pos, run - c->pos) != 0) return TW_ENOMEM;
                c->pos = run;
                if (run >= c->n)
                    return fail(c, cell_at, cell_line, TW_EINVAL, err, errlen,
                                "quoted field not closed before the end of the file");
                if (run + 1 < c->n && s[run + 1] == '"') {
                    if (tw_buf_put(&r->text, "\"", 1) != 0) return TW_ENOMEM;
                    c->pos = run + 2;
                    continue;
                }
                c->pos = run + 1;
                break;
            }
            if (c->pos < c->n && s[c->pos] != ',' && s[c->pos] != '\n' && s[c->pos] != '\r')
                return fail(c, c->pos, c->line, TW_EINVAL, err, errlen,
                            "a closing quote must be followed by a comma or the end of the line");
        } else {
            size_t run = c->pos;
            while (run < c->n && s[run] != ',' && s[run] != '\n' && s[run] != '\r') {
                if (s[run] == '"')
                    return fail(c, run, c->line, TW_EINVAL, err, errlen,
                                "quote inside an unquoted field (quote the whole field and double the quote)");
                run++;
            }
            if (tw_buf_put(&r->text, s + c->pos, run - c->pos) != 0) return TW_ENOMEM;
            c->pos = run;
        }
        size_t bad;
        const char *cell = (const char *)r->text.p + off[r->n];
        if (r->text.len > off[r->n] && !utf8_ok(cell, r->text.len - off[r->n], &bad))
            return fail(c, cell_at, cell_line, TW_EINVAL, err, errlen, "invalid UTF-8 in field");
        if (tw_buf_put(&r->text, "", 1) != 0) return TW_ENOMEM;
        r->len[r->n] = r->text.len - 1 - off[r->n];
        r->n++;
        if (c->pos >= c->n) break;
        if (s[c->pos] == ',') { c->pos++; continue; }
        if (s[c->pos] == '\r') {
            if (c->pos + 1 >= c->n || s[c->pos + 1] != '\n')
                return fail(c, c->pos, c->line, TW_EINVAL, err, errlen,
                            "carriage return not followed by a line feed");
            c->pos++;
        }
        c->pos++;
        c->line++;
        break;
    }
    /* Cells are placed only now: the text buffer may move while it grows. */
    for (size_t i = 0; i < r->n; i++) r->cell[i] = (const char *)r->text.p + off[i];
    *got = true;
    return 0;
}

static bool formula_like(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] == '\'') i++;
    return i < n && strchr("=+-@\t\r", s[i]) != NULL && s[i] != '\0';
}

const char *tw_csv_unguard(const char *s, size_t *n)
{
    if (*n >= 2 && s[0] == '\'' && formula_like(s + 1, *n - 1)) {
        (*n)--;
        return s + 1;
    }
    return s;
}

int tw_csv_cell(tw_buf *b, const char *s, size_t n, unsigned flags)
{
    bool guard = (flags & TW_CSV_GUARD) && formula_like(s, n);
    bool quote = n > 0 && (s[0] == ' ' || s[n - 1] == ' ');
    for (size_t i = 0; i < n && !quote; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n') quote = true;
    if (quote && tw_buf_put(b, "\"", 1) != 0) return TW_ENOMEM;
    if (guard && tw_buf_put(b, "'", 1) != 0) return TW_ENOMEM;
    if (!quote) {
        if (n && tw_buf_put(b, s, n) != 0) return TW_ENOMEM;
        return 0;
    }
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '"') continue;
        if (tw_buf_put(b, s + start, i + 1 - start) != 0) return TW_ENOMEM;
        if (tw_buf_put(b, "\"", 1) != 0) return TW_ENOMEM;
        start = i + 1;
    }
    if (n > start && tw_buf_put(b, s + start, n - start) != 0) return TW_ENOMEM;
    return tw_buf_put(b, "\"", 1);
}

int tw_csv_sep(tw_buf *b) { return tw_buf_put(b, ",", 1); }
int tw_csv_eol(tw_buf *b) { return tw_buf_put(b, "\r\n", 2); }
