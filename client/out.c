/*
 * Output: aligned tables for people, JSON and CSV for programs.
 *
 * Columns are measured in terminal cells (width.c), not bytes, so Arabic
 * with harakat and CJK text line up.  Two things happen only when stdout is
 * a terminal, because they exist for the eye and would corrupt data piped
 * into another program: cells are cut with an ellipsis to keep lines within
 * $COLUMNS, and right-to-left cells are wrapped in FSI ... PDI.  Without the
 * isolates the terminal's bidi algorithm may run an Arabic cell together
 * with a neighbouring number or punctuation and reorder the columns.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "json.h"
#include "twin/err.h"

#define FSI "\xE2\x81\xA8"
#define PDI "\xE2\x81\xA9"
#define ELLIPSIS "\xE2\x80\xA6"

int tw_table_init(tw_table *t, size_t ncols, const char *const *heads)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->header = heads != NULL;
    t->flags = calloc(ncols ? ncols : 1, sizeof *t->flags);
    if (!t->flags) return TW_ENOMEM;
    for (size_t i = 0; heads && i < ncols; i++) {
        int rc = tw_table_addz(t, heads[i]);
        if (rc != 0) return rc;
    }
    return 0;
}

void tw_table_align(tw_table *t, size_t col, unsigned flags)
{
    if (col < t->ncols) t->flags[col] = flags;
}

int tw_table_add(tw_table *t, const char *s, size_t n)
{
    if (t->ncells == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **nc = realloc(t->cell, cap * sizeof *nc);
        if (!nc) return TW_ENOMEM;
        t->cell = nc;
        size_t *nl = realloc(t->len, cap * sizeof *nl);
        if (!nl) return TW_ENOMEM;
        t->len = nl;
        t->cap = cap;
    }
    tw_buf b;
    tw_buf_init(&b);
    if (tw_width_escape(&b, s ? s : "", s ? n : 0) != 0 || tw_buf_put(&b, "", 1) != 0) {
        tw_buf_free(&b);
        return TW_ENOMEM;
    }
    t->cell[t->ncells] = (char *)b.p;
    t->len[t->ncells] = b.len - 1;
    t->ncells++;
    return 0;
}

int tw_table_addz(tw_table *t, const char *s)
{
    return tw_table_add(t, s, s ? strlen(s) : 0);
}

int tw_table_addv(tw_table *t, const tw_val *v)
{
    tw_buf b;
    tw_buf_init(&b);
    int rc = v ? tw_out_text(&b, v) : 0;
    if (rc == 0) rc = tw_table_add(t, (const char *)b.p, b.len);
    tw_buf_free(&b);
    return rc;
}

size_t tw_table_rows(const tw_table *t)
{
    size_t rows = t->ncols ? t->ncells / t->ncols : 0;
    return t->header && rows ? rows - 1 : rows;
}

void tw_table_free(tw_table *t)
{
    for (size_t i = 0; i < t->ncells; i++) free(t->cell[i]);
    free(t->cell);
    free(t->len);
    free(t->flags);
    memset(t, 0, sizeof *t);
}

static int pad(tw_buf *out, size_t n)
{
    static const char spaces[] = "                                ";
    while (n > 0) {
        size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
        if (tw_buf_put(out, spaces, k) != 0) return TW_ENOMEM;
        n -= k;
    }
    return 0;
}

int tw_table_render(const tw_table *t, bool tty, unsigned columns, tw_buf *out)
{
    size_t nc = t->ncols;
    if (nc == 0) return 0;
    size_t rows = t->ncells / nc;   /* an unfinished last row is not shown */
    size_t *w = calloc(nc, sizeof *w);
    if (!w) return TW_ENOMEM;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < nc; c++) {
            size_t cw = tw_width_str(t->cell[r * nc + c], t->len[r * nc + c]);
            if (cw > w[c]) w[c] = cw;
        }
    if (tty && columns > 0) {
        size_t total = 2 * (nc - 1);
        for (size_t c = 0; c < nc; c++) total += w[c];
        /* Narrow the widest column one cell at a time: it spreads the cut
         * over the long columns and leaves short ones whole.  Dates, keys
         * and counts are useless cut, so their columns are never narrowed. */
        while (total > columns) {
            size_t best = nc;
            for (size_t c = 0; c < nc; c++)
                if (!(t->flags[c] & TW_COL_NOCUT) && w[c] > TW_CLI_CELL_MIN &&
                    (best == nc || w[c] > w[best]))
                    best = c;
            if (best == nc) break;
            w[best]--;
            total--;
        }
    }
    int rc = 0;
    for (size_t r = 0; r < rows && rc == 0; r++) {
        size_t line_start = out->len;
        for (size_t c = 0; c < nc && rc == 0; c++) {
            const char *s = t->cell[r * nc + c];
            size_t n = t->len[r * nc + c];
            size_t cw = tw_width_str(s, n);
            bool iso = tty && tw_width_is_rtl(s, n);
            bool cut = cw > w[c];
            if (cut) n = tw_width_fit(s, n, w[c] ? w[c] - 1 : 0, &cw);
            size_t shown = cw + (cut ? 1 : 0);
            size_t fill = w[c] > shown ? w[c] - shown : 0;
            if (c > 0) rc |= pad(out, 2);
            if (t->flags[c] & TW_COL_RIGHT) rc |= pad(out, fill);
            if (iso) rc |= tw_buf_put(out, FSI, 3);
            rc |= tw_buf_put(out, s, n);
            if (cut) rc |= tw_buf_put(out, ELLIPSIS, 3);
            if (iso) rc |= tw_buf_put(out, PDI, 3);
            if (!(t->flags[c] & TW_COL_RIGHT) && c + 1 < nc) rc |= pad(out, fill);
        }
        /* Empty trailing cells would leave blanks at the end of the line. */
        while (out->len > line_start && out->p[out->len - 1] == ' ') out->len--;
        rc |= tw_buf_put(out, "\n", 1);
    }
    free(w);
    return rc ? TW_ENOMEM : 0;
}

int tw_out_write(const tw_buf *b)
{
    if (b->len && fwrite(b->p, 1, b->len, stdout) != b->len) return TW_EIO;
    if (fflush(stdout) != 0) return TW_EIO;
    return 0;
}

int tw_table_print(const tw_table *t, const tw_cli *cli)
{
    tw_buf b;
    tw_buf_init(&b);
    int rc = tw_table_render(t, cli->tty, cli->columns, &b);
    if (rc == 0) rc = tw_out_write(&b);
    tw_buf_free(&b);
    return rc;
}

int tw_out_json(const tw_val *v)
{
    tw_buf b;
    tw_buf_init(&b);
    int rc = tw_json_write(&b, v, TW_JSON_PRETTY);
    if (rc == 0) rc = tw_buf_put(&b, "\n", 1);
    if (rc == 0) rc = tw_out_write(&b);
    tw_buf_free(&b);
    return rc;
}

int tw_out_text(tw_buf *b, const tw_val *v)
{
    char num[32];
    switch (v->type) {
    case TW_NIL: return 0;
    case TW_BOOL: return tw_buf_put(b, v->v.b ? "yes" : "no", v->v.b ? 3 : 2);
    case TW_UINT:
        snprintf(num, sizeof num, "%" PRIu64, v->v.u);
        return tw_buf_put(b, num, strlen(num));
    case TW_INT:
        snprintf(num, sizeof num, "%" PRId64, v->v.i);
        return tw_buf_put(b, num, strlen(num));
    case TW_STR: return v->len ? tw_buf_put(b, v->v.s, v->len) : 0;
    case TW_BIN:
        for (uint32_t i = 0; i < v->len; i++) {
            snprintf(num, sizeof num, "%02x", (unsigned char)v->v.s[i]);
            if (tw_buf_put(b, num, 2) != 0) return TW_ENOMEM;
        }
        return 0;
    case TW_ARR:
        for (uint32_t i = 0; i < v->len; i++) {
            if (i && tw_buf_put(b, "; ", 2) != 0) return TW_ENOMEM;
            int rc = tw_out_text(b, &v->v.arr[i]);
            if (rc != 0) return rc;
        }
        return 0;
    case TW_MAP: return tw_json_write(b, v, 0);
    }
    return TW_ETYPE;
}

void tw_out_time(char *out, size_t outlen, uint64_t ms)
{
    time_t t = (time_t)(ms / 1000u);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, outlen, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(out, outlen, "%" PRIu64, ms);
}
