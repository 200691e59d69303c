/*
 * Hub reports (proto/PROTOCOL.md, ops "stats", "gaps" and "report"):
 * statistics, coverage and duplication, and the aggregate export, computed
 * from the current records of kinds group, place and link.
 *
 * The caller feeds every current entry of those kinds (tombstones are
 * skipped here, superseded versions are not in the store) with
 * tw_report_add(), then calls tw_report_finish() once (an update, below,
 * brings a finished report up to date with a few changed slots), then any of the
 * encoders.  Nothing here does I/O or reads a clock: the time that decides
 * which links are dormant is given in the options, so a report is a pure
 * function of the entries and the options.  Each encoder writes one msgpack
 * map whose tables are maps of text -> count and whose lists are arrays of
 * maps; keys are written sorted, so equal inputs give equal bytes.
 *
 * The rules (what a link, a confirmed link, a place's identity, a gap and a
 * suggested match are) are spelt out in proto/PROTOCOL.md under "Reports".
 */
#ifndef TWIND_REPORT_H
#define TWIND_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "twin/limits.h"
#include "twin/entry.h"
#include "twin/mp.h"

/* (the limits are in include/twin/limits.h) */

typedef struct tw_report tw_report;

typedef struct tw_report_opts {
    uint64_t now_ms;            /* the report's time: links not updated since
                                   now - dormant_months months are dormant */
    uint32_t dormant_months;
    /* The association a key writes for (PROTOCOL.md "Associations and
     * their keys"): every author, own_key, committee and KEY/SLOT key is
     * counted as its association; NULL: each key is its own. */
    void (*identity)(void *ctx, const uint8_t key[32], uint8_t out[32]);
    void *identity_ctx;
} tw_report_opts;

int  tw_report_new(tw_report **out, const tw_report_opts *o);
/* Replaces the options.  Only the encoders read them (tw_report_finish()
 * does not), so a finished report can be encoded again for another time or
 * another number of dormant months, with the bytes a report made with those
 * options from the start would give. */
void tw_report_set_opts(tw_report *r, const tw_report_opts *o);
void tw_report_free(tw_report *r);
/* Takes the fields it needs from a group, place or link entry (copied);
 * other kinds and tombstones are ignored.  TW_ETOOBIG past
 * TW_REPORT_RECORDS_MAX, TW_ENOMEM. */
int  tw_report_add(tw_report *r, const tw_entry *en);
/* Resolves link references, merges statements into links, places and
 * groups into identities (a committee's own record taking precedence over
 * a hub's listing of its place, a group's own record over a listing of the
 * group).  Call once, after the last tw_report_add(); again only to end
 * an update (tw_report_reopen() below). */
int  tw_report_finish(tw_report *r);

/*
 * Updates (a kept report brought up to date after a write, instead of made
 * again from every record): tw_report_reopen() on a finished report, then
 * tw_report_remove() for every group or place slot the writes changed
 * and tw_report_remove_link() for every link version they replaced, then
 * tw_report_add() for the current version of each of those slots that
 * counts (as when the report is made: shown, not a tombstone), each slot
 * once, then
 * tw_report_finish().  The result is what a report made from the records
 * as they now are gives, byte for byte.  The caller rebuilds instead when
 * any call fails; the report is then in no state to use (free it):
 * TW_ESTATE from tw_report_reopen() for a report that was compacted or in
 * which two keys of one association wrote the same group or place slot,
 * TW_ETOOBIG once
 * updates have removed more records than it holds (their strings stay in
 * it until it is made again); TW_ESTATE from tw_report_add() for a slot
 * another key of the same association holds in the report.  Changes that
 * move keys between associations (admission) are not updates: the
 * identity function is read again only for the records given here.
 */
int  tw_report_reopen(tw_report *r);
/* Removes the group or place record of (kind, author, slot) if the report
 * holds it; 0 when it does not (and for other kinds). */
int  tw_report_remove(tw_report *r, const char *kind, size_t kind_len, const uint8_t author[TW_KEY_LEN],
                      const char *slot, size_t slot_len);
/* Removes the link statement of entry id (the version a write replaced)
 * if the report holds it; 0 when it does not. */
int  tw_report_remove_link(tw_report *r, const uint8_t id[TW_ID_LEN]);

/* The statistics map.  extra (extra_n pre-encoded key/value pairs, keys
 * sorting before "active_") is written first, e.g. the store's "kinds". */
int  tw_report_stats(const tw_report *r, const uint8_t *extra, size_t extra_len,
                     uint32_t extra_n, tw_buf *out);
/* The gaps map: count tables and, unless counts_only, the lists. */
int  tw_report_gaps(const tw_report *r, bool counts_only, tw_buf *out);

/* The places of each Palestinian governorate, for the published report:
 * an array of the 16 governorates in code list order, each {code, name_ar,
 * name_en, places, places_total}; places (at most TW_REPORT_LIST_MAX, by
 * English name) are place maps as in gaps with "partners" (the place's
 * links to known groups, by group name: {confirmed, formality, group,
 * name, nation, region, since, status}) and "seeking". */
int  tw_report_governorates(const tw_report *r, tw_buf *out);
/* The names of the codes a report shows: a map code -> {ar (when the list
 * has one), en} of every governorate, every UK nation and region and every
 * country some place names. */
int  tw_report_names(const tw_report *r, tw_buf *out);

/*
 * What list and show add to records, after tw_report_finish():
 *
 * tw_report_link_state: whether the link a link entry (by id) states is
 * confirmed, i.e. stated by both sides.  TW_ENOTFOUND for an entry that is
 * not a link statement of the report.
 *
 * tw_report_superseded: for a place record (group false) or a group record
 * (group true) of (author, slot) that is a listing of a place whose
 * committee has its own record, or of a group whose own node has its own
 * record, writes the reference "KEYTEXT/SLOT" of the own record that takes
 * precedence (the identity's representative) into by, NUL-terminated.
 * TW_ENOTFOUND when the record is not superseded (or not known),
 * TW_ETOOBIG when cap is too small (TW_KEYTEXT_LEN + 1 + TW_SLOT_MAX + 1 is
 * enough).  tw_report_place_superseded is the same for a place record.
 *
 * tw_report_compact: frees all but what these read (a few tens of
 * bytes per link statement and per superseded record), for a report kept
 * across the pages of a listing; stats and gaps then return TW_ESTATE.
 */
int  tw_report_link_state(const tw_report *r, const uint8_t id[TW_ID_LEN], bool *confirmed);
/* The link a statement is part of, as a number shared by every statement of
 * the same (group identity, place identity): the statements of both sides. */
int  tw_report_link_unit(const tw_report *r, const uint8_t id[TW_ID_LEN], uint32_t *unit);
int  tw_report_superseded(const tw_report *r, bool group, const uint8_t author[TW_KEY_LEN], const char *slot,
                          size_t slot_len, char *by, size_t cap);
int  tw_report_place_superseded(const tw_report *r, const uint8_t author[TW_KEY_LEN], const char *slot,
                                size_t slot_len, char *by, size_t cap);
int  tw_report_compact(tw_report *r);

/* The bytes the report holds (its own allocations, as allocated), and
 * where they go, in words, into out (for the debug log). */
size_t tw_report_mem(const tw_report *r, char *out, size_t cap);

#endif
