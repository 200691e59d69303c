/*
 * CSV per RFC 4180 for twin's import, export and --csv output.
 *
 * Reading: fields separated by commas, records by CRLF or LF; a field in
 * double quotes may hold commas, line breaks and doubled quotes.  A quote
 * inside an unquoted field, or anything but a comma or line end after a
 * closing quote, is an error, as is invalid UTF-8.  A UTF-8 byte order mark
 * at the start is skipped and wholly empty lines are skipped.  Each row
 * records the line on which it starts, so errors can point at FILE:LINE
 * even when quoted cells span several lines.
 *
 * Writing: a cell is quoted when it holds a comma, quote, CR or LF or starts
 * or ends with a space; records end with CRLF.  With TW_CSV_GUARD a cell
 * that a spreadsheet would run as a formula (first character = + - @ tab or
 * CR) is prefixed with a single quote; tw_csv_unguard() undoes it exactly.
 */
#ifndef TWIN_CLIENT_CSV_H
#define TWIN_CLIENT_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "twin/limits.h"
#include "twin/mp.h"


typedef struct tw_csv {
    const char *s;
    size_t n, pos;
    uint32_t line;              /* line of the next unread byte */
} tw_csv;

typedef struct tw_csv_row {
    uint32_t line;              /* line on which the row starts */
    size_t n;                   /* cells */
    const char *cell[TW_CSV_COLS_MAX];  /* point into text, NUL-terminated */
    size_t len[TW_CSV_COLS_MAX];
    tw_buf text;                /* cell bytes, reused from row to row */
} tw_csv_row;

void tw_csv_init(tw_csv *c, const char *s, size_t n);
void tw_csv_row_init(tw_csv_row *r);
void tw_csv_row_free(tw_csv_row *r);
/*
 * Reads the next row.  Returns 0 with *got true and the row filled, 0 with
 * *got false at the end, or TW_EINVAL / TW_ETOOBIG with "LINE:COL: reason"
 * in err.  The row's cells stay valid until the next call.
 */
int tw_csv_read(tw_csv *c, tw_csv_row *r, bool *got, char *err, size_t errlen);

#define TW_CSV_GUARD 1u         /* defuse spreadsheet formulas */
int tw_csv_cell(tw_buf *b, const char *s, size_t n, unsigned flags);
/* Cell separator and row end. */
int tw_csv_sep(tw_buf *b);
int tw_csv_eol(tw_buf *b);
/* The cell as it was before TW_CSV_GUARD: drops the added quote, if any. */
const char *tw_csv_unguard(const char *s, size_t *n);

#endif
