/*
 * Record schemas (proto/SCHEMA.md): the kinds group, place, link, vouch and
 * peer, their fields, types, enumerations and limits.  Used on publish, on
 * import and on receipt.  Kinds this version does not know are accepted as
 * opaque (stored and forwarded, not interpreted) when received from peers,
 * but cannot be published locally.
 */
#ifndef TWIN_SCHEMA_H
#define TWIN_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include "twin/mp.h"

typedef enum {
    TW_FT_STR,      /* short string, <= TW_STR_MAX bytes */
    TW_FT_TEXT,     /* long text, <= TW_DESC_MAX bytes */
    TW_FT_BOOL,
    TW_FT_UINT,
    TW_FT_ENUM,     /* string from a fixed list */
    TW_FT_CODE,     /* string from a code list (governorate, UK region, country) */
    TW_FT_DATE,     /* "YYYY", "YYYY-MM" or "YYYY-MM-DD" */
    TW_FT_STRLIST,  /* array of short strings, <= TW_LIST_MAX */
    TW_FT_KEY,      /* key text "twk_..." */
    TW_FT_URL,      /* http(s) URL */
    TW_FT_EMAIL,    /* role address */
} tw_ftype;

typedef struct tw_field {
    const char *name;
    tw_ftype type;
    bool required;
    const char *const *values;  /* TW_FT_ENUM: NULL-terminated */
    const char *help;           /* one line, for --help and SCHEMA.md */
} tw_field;

typedef struct tw_kind_schema {
    const char *kind;
    const tw_field *fields;
    size_t nfields;
    const char *help;
} tw_kind_schema;

/* NULL for an unknown kind. */
const tw_kind_schema *tw_schema_kind(const char *kind, size_t kind_len);
const tw_kind_schema *tw_schema_kinds(size_t *n);
const tw_field *tw_schema_field(const tw_kind_schema *k, const char *name, size_t len);

/*
 * Validates a record body (a map) for its kind.  On failure returns
 * TW_ESCHEMA and writes a message naming the field and the reason, e.g.
 *   place.subdivision: "PS-XXX" is not a known governorate code
 * Unknown fields are refused; required fields must be present.
 */
int tw_schema_validate(const char *kind, size_t kind_len, const tw_val *body,
                       char *err, size_t errlen);
/* Slot key rules for a kind (on top of tw_entry_check_names). */
int tw_schema_check_slot(const char *kind, size_t kind_len, const char *slot,
                         size_t slot_len, char *err, size_t errlen);
/*
 * The record rule, applied in one place by every door: publish, import,
 * bundle and peer (proto/SCHEMA.md, "One rule for every door").  Checks the
 * kind and slot key syntax, the kind's slot rules (peer only in "self",
 * vouch in the vouched key), the body against the kind's schema, and that a
 * vouch's body names its slot key.  body NULL or nil is a tombstone.
 * Returns 0 or TW_ESCHEMA with a message naming the field and the reason.
 * Kinds this version does not know are refused unless flags has
 * TW_RULES_RECEIPT (an entry received from elsewhere: kept and forwarded
 * uninterpreted).
 */
#define TW_RULES_RECEIPT 1u
int tw_schema_check_record(const char *kind, size_t kind_len, const char *slot, size_t slot_len,
                           const tw_val *body, unsigned flags, char *err, size_t errlen);
/*
 * Turns a FIELD=VALUE text (command line, CSV cell) into the field's typed
 * value: "true"/"false"/"yes"/"no" for bools, decimal for uints, and for
 * lists a ";"-separated text.  Strings are copied into the arena.
 */
int tw_schema_coerce(tw_arena *a, const char *kind, const char *field,
                     const char *text, tw_val *out, char *err, size_t errlen);

/* Code lists (the CSV files in proto/data/, compiled in).  name_ar is the
 * Arabic name where the list has one, else NULL. */
typedef struct tw_code { const char *code, *name, *group, *name_ar; } tw_code;
const tw_code *tw_codes_governorates(size_t *n);   /* group = area */
const tw_code *tw_codes_uk_regions(size_t *n);     /* group = nation */
const tw_code *tw_codes_countries(size_t *n);      /* ISO 3166-1 alpha-2, sorted; group NULL */
const tw_code *tw_codes_local_authorities(size_t *n); /* ONS LAD codes, sorted; group = region code */
const tw_code *tw_code_find(const tw_code *list, size_t n, const char *code, size_t len);
/* As tw_code_find, on a list sorted by code (countries, local authorities). */
const tw_code *tw_code_find_sorted(const tw_code *list, size_t n, const char *code, size_t len);
/* The entry of any code list (governorate, UK region, country, local
 * authority) with this code, for showing a code with its name; NULL if none. */
const tw_code *tw_code_lookup(const char *code, size_t len);

/*
 * Folds text for search: lowercase, Latin diacritics removed, Arabic
 * diacritics and tatweel removed, alef/ya/ta-marbuta variants unified.
 * Returns bytes written (out must hold 4*n+1 bytes); output NUL-terminated.
 */
size_t tw_text_fold(char *out, const char *in, size_t n);

#endif
