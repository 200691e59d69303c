/*
 * Output: aligned tables for people, JSON and CSV for programs.
 *
 * Columns are measured in terminal cells (width.c), not bytes, so Arabic
 * with harakat and CJK text line up.  Two things happen only when stdout is
 * a terminal, because they exist for the eye and would corrupt data piped
 * into another program: cells are cut with an ellipsis to keep lines within
 * $COLUMNS, and right-to-left cells are wrapped in FSI ... PDI.  Tables of
 * records are the exception to the first (TW_FIT_ALWAYS): they fit the
 * width piped too, since scripts read records with --json or --csv, and
 * --wide shows them whole.  Without the
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
#include "twin/vec.h"

#define FSI "\xE2\x81\xA8"
#define PDI "\xE2\x81\xA9"
#define ELLIPSIS "\xE2\x80\xA6"

int tw_table_init(tw_table *t, size_t ncols, const char *const *heads)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->header = heads != NULL;
    tw_buf_init(&t->text);
    tw_buf_init(&t->scratch);
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
    tw_cell *nc = tw_vec_room(t->cell, &t->cap, t->ncells, sizeof *nc, 64);
    if (!nc) return TW_ENOMEM;
    t->cell = nc;
    size_t off = t->text.len, w;
    bool rtl;
    if (tw_width_cell(&t->text, s ? s : "", s ? n : 0, &w, &rtl) != 0) {
        t->text.len = off;
        return TW_ENOMEM;
    }
    if (t->text.len - off > UINT32_MAX || w > UINT32_MAX) {
        t->text.len = off;
        return TW_ETOOBIG;
    }
    t->cell[t->ncells++] = (tw_cell){ .off = off, .len = (uint32_t)(t->text.len - off),
                                      .width = (uint32_t)w, .rtl = rtl };
    return 0;
}

int tw_table_addz(tw_table *t, const char *s)
{
    return tw_table_add(t, s, s ? strlen(s) : 0);
}

int tw_table_addv(tw_table *t, const tw_val *v)
{
    if (v && v->type == TW_STR) return tw_table_add(t, v->v.s, v->len);
    tw_buf_reset(&t->scratch);
    int rc = v ? tw_out_text(&t->scratch, v) : 0;
    if (rc == 0) rc = tw_table_add(t, (const char *)t->scratch.p, t->scratch.len);
    return rc;
}

size_t tw_table_rows(const tw_table *t)
{
    size_t rows = t->ncols ? t->ncells / t->ncols : 0;
    return t->header && rows ? rows - 1 : rows;
}

void tw_table_free(tw_table *t)
{
    free(t->cell);
    free(t->flags);
    tw_buf_free(&t->text);
    tw_buf_free(&t->scratch);
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

/* Column widths: as wide as the widest cell, then narrowed to fit a terminal. */
static void table_widths(const tw_table *t, bool tty, unsigned columns, size_t *w)
{
    size_t nc = t->ncols, rows = t->ncells / nc;
    for (size_t c = 0; c < nc; c++) w[c] = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < nc; c++) {
            size_t cw = t->cell[r * nc + c].width;
            if (cw > w[c]) w[c] = cw;
        }
    size_t shown = 0;
    for (size_t c = 0; c < nc; c++)
        if (t->flags[c] & TW_COL_HIDE) w[c] = 0;
        else shown++;
    bool fit = t->fit == TW_FIT_ALWAYS || (t->fit == TW_FIT_TTY && tty);
    if (fit && columns > 0 && shown > 0) {
        size_t total = 2 * (shown - 1);
        for (size_t c = 0; c < nc; c++) total += w[c];
        /* Narrow the widest column one cell at a time: it spreads the cut
         * over the long columns and leaves short ones whole.  Dates, keys
         * and counts are useless cut, so their columns are never narrowed. */
        while (total > columns) {
            size_t best = nc;
            for (size_t c = 0; c < nc; c++)
                if (!(t->flags[c] & (TW_COL_NOCUT | TW_COL_HIDE)) && w[c] > TW_CLI_CELL_MIN &&
                    (best == nc || w[c] > w[best]))
                    best = c;
            if (best == nc) break;
            w[best]--;
            total--;
        }
    }
}

static int render_row(const tw_table *t, size_t r, const size_t *w, bool tty, tw_buf *out)
{
    size_t nc = t->ncols, line_start = out->len, last = nc;
    bool first = true;
    int rc = tw_buf_reserve(out, 256);
    while (last > 0 && (t->flags[last - 1] & TW_COL_HIDE)) last--;
    for (size_t c = 0; c < last && rc == 0; c++) {
        if (t->flags[c] & TW_COL_HIDE) continue;
        const tw_cell *cell = &t->cell[r * nc + c];
        const char *s = (const char *)t->text.p + cell->off;
        size_t n = cell->len, cw = cell->width;
        bool iso = tty && cell->rtl;
        bool cut = cw > w[c];
        if (cut) n = tw_width_fit(s, n, w[c] ? w[c] - 1 : 0, &cw);
        size_t shown = cw + (cut ? 1 : 0);
        size_t fill = w[c] > shown ? w[c] - shown : 0;
        if (!first) rc |= pad(out, 2);
        first = false;
        if (t->flags[c] & TW_COL_RIGHT) rc |= pad(out, fill);
        if (iso) rc |= tw_buf_put(out, FSI, 3);
        rc |= tw_buf_put(out, s, n);
        if (cut) rc |= tw_buf_put(out, ELLIPSIS, 3);
        if (iso) rc |= tw_buf_put(out, PDI, 3);
        if (!(t->flags[c] & TW_COL_RIGHT) && c + 1 < last) rc |= pad(out, fill);
    }
    /* Empty trailing cells would leave blanks at the end of the line. */
    while (out->len > line_start && out->p[out->len - 1] == ' ') out->len--;
    rc |= tw_buf_put(out, "\n", 1);
    return rc ? TW_ENOMEM : 0;
}

int tw_table_render(const tw_table *t, bool tty, unsigned columns, tw_buf *out)
{
    size_t nc = t->ncols;
    if (nc == 0) return 0;
    size_t rows = t->ncells / nc;   /* an unfinished last row is not shown */
    size_t *w = malloc(nc * sizeof *w);
    if (!w) return TW_ENOMEM;
    table_widths(t, tty, columns, w);
    int rc = 0;
    for (size_t r = 0; r < rows && rc == 0; r++) rc = render_row(t, r, w, tty, out);
    free(w);
    return rc;
}

int tw_out_write(const tw_buf *b)
{
    if (b->len && fwrite(b->p, 1, b->len, stdout) != b->len) return TW_EIO;
    if (fflush(stdout) != 0) return TW_EIO;
    return 0;
}

/* Large outputs go out in pieces from one reused buffer: a buffer the size
 * of the whole output would cost a page fault for every 4 KiB of it. */
int tw_out_chunk(FILE *f, tw_buf *b, bool last)
{
    if (!last && b->len < TW_CLI_OUT_CHUNK) return 0;
    if (b->len && fwrite(b->p, 1, b->len, f) != b->len) return TW_EIO;
    tw_buf_reset(b);
    if (last && fflush(f) != 0) return TW_EIO;
    return 0;
}

int tw_table_print(const tw_table *t, const tw_cli *cli)
{
    size_t nc = t->ncols;
    if (nc == 0) return 0;
    size_t rows = t->ncells / nc;
    size_t *w = malloc(nc * sizeof *w);
    if (!w) return TW_ENOMEM;
    table_widths(t, cli->tty, cli->columns, w);
    tw_buf b;
    tw_buf_init(&b);
    int rc = 0;
    for (size_t r = 0; r < rows && rc == 0; r++)
        if ((rc = render_row(t, r, w, cli->tty, &b)) == 0) rc = tw_out_chunk(stdout, &b, false);
    if (rc == 0) rc = tw_out_chunk(stdout, &b, true);
    tw_buf_free(&b);
    free(w);
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
