/*
 * JSON <-> tw_val for twin: reading files given to publish and import, and
 * writing --json output and exports.
 *
 * The reader is strict RFC 8259: one value, optional surrounding whitespace,
 * no comments, no trailing commas, no leading zeros, strings valid UTF-8
 * without raw control characters, \u escapes (surrogate pairs joined, lone
 * surrogates refused).  Numbers must be integers: the registry holds no
 * floats, so a fraction or exponent is refused rather than rounded.
 * Non-negative integers become TW_UINT, negative ones TW_INT.  Objects
 * become TW_MAP with their keys in input order; a duplicate key is refused.
 * Nesting is limited to TW_DEPTH_MAX containers and the input to
 * TW_JSON_INPUT_MAX bytes.  Errors read "LINE:COLUMN: reason".
 */
#ifndef TWIN_CLIENT_JSON_H
#define TWIN_CLIENT_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "twin/limits.h"
#include "twin/mp.h"

/* Trees we write come from bounded decoders; this only guards the stack. */

/*
 * Parses s[0..n).  Strings without escapes point into s, so s must outlive
 * the tree; everything else comes from the arena.  If lines is not NULL it
 * gets an arena array with the line on which each element of a top-level
 * array starts (one entry, line of the value, for any other top-level value).
 * Returns 0, TW_ENOMEM, TW_ETOOBIG (input over the limit), TW_EDEPTH, or
 * TW_EINVAL for malformed input, with "LINE:COL: reason" in err.
 */
int tw_json_parse(const char *s, size_t n, tw_arena *a, tw_val *out,
                  uint32_t **lines, char *err, size_t errlen);

#define TW_JSON_PRETTY 1u   /* two-space indentation, one member per line */
/*
 * Appends v as JSON.  Strings are escaped per RFC 8259 (quote, backslash,
 * controls) and otherwise passed through as UTF-8; an invalid byte becomes
 * U+FFFD.  Binaries are written as lowercase hex strings, non-string map keys
 * as the string of their JSON text.  TW_EDEPTH beyond TW_JSON_WRITE_DEPTH.
 */
int tw_json_write(tw_buf *b, const tw_val *v, unsigned flags);
/* The same for a value nested level deep, indented as tw_json_write() would
 * indent it there: lets a long array be written one element at a time. */
int tw_json_write_at(tw_buf *b, const tw_val *v, unsigned flags, unsigned level);

#endif
