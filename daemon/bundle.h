/*
 * Offline bundles: a file of signed entries carried by hand (a USB stick
 * with a visiting delegation) between nodes that never connect.  The byte
 * layout is in proto/PROTOCOL.md, "Offline bundles":
 *
 *   header   "TWBUNDLE" | version (1) | flags (1) | network id (32) | created ms (8, BE)
 *   records  length (4, BE, 1..TW_ENVELOPE_MAX) | envelope, any number of times
 *   trailer  0 (4) | count (8, BE) | BLAKE2b-256 of every byte before it (32)
 *
 * The codec (tw_bundle_begin/add/end, tw_bundle_parse) is pure: no I/O, no
 * clock.  A damaged bundle is read for everything that can be saved: every
 * record that frames and parses is handed on, damaged stretches are skipped
 * by looking for the next record that parses, and the report says what was
 * lost.  Each entry is then verified by the ingest pipeline exactly as an
 * entry from a peer is.
 *
 * The control operations (bundle_export, bundle_import, bundle_result) keep
 * a few sessions in this module: the client reads and writes the file and
 * moves its bytes over the control socket in slices, so the daemon never
 * opens a path the caller names (it may run sandboxed, as another user).
 */
#ifndef TWIND_BUNDLE_H
#define TWIND_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "twin/limits.h"
#include "twin/entry.h"
#include "twin/mp.h"
#include "node.h"

#define TW_BUNDLE_MAGIC       "TWBUNDLE"
#define TW_BUNDLE_MAGIC_LEN   8u
#define TW_BUNDLE_VERSION     1u
#define TW_BUNDLE_HEADER_LEN  (TW_BUNDLE_MAGIC_LEN + 2u + TW_NETID_LEN + 8u)
#define TW_BUNDLE_SUM_LEN     32u
#define TW_BUNDLE_TRAILER_LEN (4u + 8u + TW_BUNDLE_SUM_LEN)

/* Limits of bundles are in include/twin/limits.h (TW_BUNDLE_*). */

typedef enum {
    TW_BUNDLE_TRAILER_OK = 0,
    TW_BUNDLE_TRAILER_MISSING,   /* truncated, or the trailer itself was damaged */
    TW_BUNDLE_TRAILER_BADSUM,    /* checksum differs: some bytes changed */
    TW_BUNDLE_TRAILER_BADCOUNT,  /* count differs from the records read */
} tw_bundle_trailer;

typedef struct tw_bundle_report {
    uint8_t netid[TW_NETID_LEN];
    uint64_t created_ms;
    uint64_t records;            /* records framed (intact or damaged) */
    uint64_t damaged;            /* of which did not parse as entries */
    uint64_t skipped_bytes;      /* bytes in no record: damaged framing, cut tail */
    uint64_t skipped_regions;
    uint64_t declared;           /* count in the trailer */
    bool truncated;              /* the bundle ends before its trailer */
    tw_bundle_trailer trailer;
} tw_bundle_report;

/* Called for each record in order.  why is NULL for an envelope that parses
 * (it still has to be verified), else the reason the record is damaged.
 * Returns non-zero to stop (that value is returned by tw_bundle_parse). */
typedef int (*tw_bundle_fn)(void *ctx, uint64_t offset, const uint8_t *env, size_t len,
                            const char *why);

/* Writing: begin, add each envelope, end (which appends the trailer). */
int tw_bundle_begin(tw_buf *b, const uint8_t netid[TW_NETID_LEN], uint64_t created_ms);
int tw_bundle_add(tw_buf *b, const uint8_t *env, size_t len);
int tw_bundle_end(tw_buf *b, uint64_t count);

/* Reads a bundle.  TW_EINVAL if it is not one (magic), TW_EVERSION for a
 * version this code does not read, TW_ETRUNC if the header is cut; else 0
 * (or fn's value), with the report filled in whatever the damage. */
int tw_bundle_parse(const uint8_t *buf, size_t len, tw_bundle_fn fn, void *ctx,
                    tw_bundle_report *rep);
const char *tw_bundle_trailer_name(tw_bundle_trailer t);

/* Control operations; on failure a code with a message in err. */
int tw_bundle_op_export(tw_node *n, const tw_val *args, tw_buf *out, char *err, size_t errlen);
int tw_bundle_op_import(tw_node *n, const tw_val *args, tw_buf *out, char *err, size_t errlen);
int tw_bundle_op_result(tw_node *n, const tw_val *args, tw_buf *out, char *err, size_t errlen);

#endif
