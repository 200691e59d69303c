/*
 * Record schemas (include/twin/schema.h, proto/SCHEMA.md).
 *
 * Validation runs in two passes over a body: first every field on its own
 * (type, length, characters, syntax, code lists), then the rules that tie
 * fields of one kind together (a UK region inside its nation, a governorate
 * and its area, a link's end date).  tw_schema_coerce() runs the first pass
 * on the single value it builds, so a mistake typed on the command line is
 * reported at once with the field's name.
 *
 * Every message starts with "kind.field" (or "kind:" for whole-record
 * rules) and quotes the offending value shortened and with control
 * characters replaced, because values come from peers and end up on
 * terminals.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "twin/entry.h"
#include "twin/err.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "twin/mp.h"
#include "twin/schema.h"
#include "twin/entry.h"

/* Dates outside these years are typing mistakes, not history. */
/* DNS limits (RFC 1035) and mail limits (RFC 5321). */
#define TW_HOSTNAME_MAX      253u
#define TW_DNS_LABEL_MAX     63u
#define TW_EMAIL_MAX         254u
#define TW_EMAIL_LOCAL_MAX   64u
#define TW_IPV6_TEXT_MAX     45u
/* Bytes of a value quoted in an error message. */
#define TW_QUOTE_MAX         48u
/* Room for "kind.field[index]" in messages. */
#define TW_WHERE_MAX         96u
/* Fields of the widest kind; the seen-mask in validate() is 32 bits. */
#define TW_KIND_FIELDS_MAX   32u

/* ---- code lists, copied by hand from the CSV files in proto/data/ (a unit test
 * compares them with the files) ---- */

static const tw_code governorates[] = {
    { "PS-JEN", "Jenin", "west_bank", "جنين" },
    { "PS-TBS", "Tubas", "west_bank", "طوباس" },
    { "PS-TKM", "Tulkarm", "west_bank", "طولكرم" },
    { "PS-NBS", "Nablus", "west_bank", "نابلس" },
    { "PS-QQA", "Qalqilya", "west_bank", "قلقيلية" },
    { "PS-SLT", "Salfit", "west_bank", "سلفيت" },
    { "PS-RBH", "Ramallah and al-Bireh", "west_bank", "رام الله والبيرة" },
    { "PS-JRH", "Jericho and al-Aghwar", "west_bank", "أريحا والأغوار" },
    { "PS-JEM", "Jerusalem (al-Quds)", "west_bank", "القدس" },
    { "PS-BTH", "Bethlehem", "west_bank", "بيت لحم" },
    { "PS-HBN", "Hebron", "west_bank", "الخليل" },
    { "PS-NGZ", "North Gaza", "gaza", "شمال غزة" },
    { "PS-GZA", "Gaza", "gaza", "غزة" },
    { "PS-DEB", "Deir al-Balah", "gaza", "دير البلح" },
    { "PS-KYS", "Khan Yunis", "gaza", "خان يونس" },
    { "PS-RFH", "Rafah", "gaza", "رفح" },
};

static const tw_code uk_regions[] = {
    { "E12000001", "North East", "england", NULL },
    { "E12000002", "North West", "england", NULL },
    { "E12000003", "Yorkshire and The Humber", "england", NULL },
    { "E12000004", "East Midlands", "england", NULL },
    { "E12000005", "West Midlands", "england", NULL },
    { "E12000006", "East of England", "england", NULL },
    { "E12000007", "London", "england", NULL },
    { "E12000008", "South East", "england", NULL },
    { "E12000009", "South West", "england", NULL },
    { "W92000004", "Wales", "wales", NULL },
    { "S92000003", "Scotland", "scotland", NULL },
    { "N92000002", "Northern Ireland", "northern_ireland", NULL },
};

#define COUNT(a) (sizeof (a) / sizeof (a)[0])

const tw_code *tw_codes_governorates(size_t *n) { *n = COUNT(governorates); return governorates; }
const tw_code *tw_codes_uk_regions(size_t *n) { *n = COUNT(uk_regions); return uk_regions; }

const tw_code *tw_code_find(const tw_code *list, size_t n, const char *code, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i].code) == len && memcmp(list[i].code, code, len) == 0) return &list[i];
    return NULL;
}

const tw_code *tw_code_lookup(const char *code, size_t len)
{
    size_t n;
    const tw_code *c, *l;
    if ((c = tw_code_find(governorates, COUNT(governorates), code, len)) ||
        (c = tw_code_find(uk_regions, COUNT(uk_regions), code, len)))
        return c;
    if ((l = tw_codes_countries(&n)) && (c = tw_code_find_sorted(l, n, code, len))) return c;
    l = tw_codes_local_authorities(&n);
    return tw_code_find_sorted(l, n, code, len);
}

/* ---- kinds and fields ---- */

static const char *const group_kinds[] = {
    "twinning_association", "friendship_group", "student_union", "church", "school",
    "university", "council", "health_link", "trade_union", "other", NULL
};
static const char *const nations[] = { "england", "wales", "scotland", "northern_ireland", NULL };
static const char *const formal_statuses[] = { "council_pact", "informal", NULL };
static const char *const place_kinds[] = {
    "city", "town", "village", "refugee_camp", "bedouin_community", "neighbourhood", NULL
};
static const char *const areas[] = { "west_bank", "east_jerusalem", "gaza", NULL };
static const char *const formalities[] = {
    "formal_twinning", "friendship_link", "institutional_link", "exploring", NULL
};
static const char *const link_statuses[] = { "exploring", "active", "dormant", "ended", NULL };
static const char *const vouch_roles[] = { "member", "hub", NULL };

static const tw_field group_fields[] = {
    { "name", TW_FT_STR, true, NULL, "name of the association" },
    { "group_kind", TW_FT_ENUM, true, group_kinds, "what sort of group it is" },
    { "nation", TW_FT_ENUM, true, nations, "UK nation" },
    { "region", TW_FT_CODE, false, NULL, "ONS code of the UK region; must lie in the nation" },
    { "local_authority", TW_FT_STR, false, NULL, "local authority: name or ONS code (gives the region)" },
    { "formal_status", TW_FT_ENUM, false, formal_statuses, "council-endorsed pact or informal" },
    { "founded", TW_FT_DATE, false, NULL, "year, month or day founded" },
    { "website", TW_FT_URL, false, NULL, "http(s) address of the group's website" },
    { "email", TW_FT_EMAIL, false, NULL, "role address (never a person's own)" },
    { "seeking_partner", TW_FT_BOOL, false, NULL, "looking for a partner community" },
    { "description", TW_FT_TEXT, false, NULL, "free text, no personal data" },
    { "own_key", TW_FT_KEY, false, NULL, "key of the group's own node, when a hub lists the group" },
};

static const tw_field place_fields[] = {
    { "name_en", TW_FT_STR, true, NULL, "name in English" },
    { "name_ar", TW_FT_STR, false, NULL, "name in Arabic" },
    { "other_names", TW_FT_STRLIST, false, NULL, "other spellings" },
    { "place_kind", TW_FT_ENUM, true, place_kinds, "what sort of community it is" },
    { "country", TW_FT_CODE, true, NULL, "ISO 3166-1 alpha-2 country code, e.g. PS" },
    { "subdivision", TW_FT_CODE, false, NULL, "ISO 3166-2 code, e.g. PS-BTH" },
    { "area", TW_FT_ENUM, false, areas, "for PS: must agree with the governorate" },
    { "seeking_partner", TW_FT_BOOL, false, NULL, "looking for a partner group" },
    { "website", TW_FT_URL, false, NULL, "http(s) address of the place's website" },
    { "email", TW_FT_EMAIL, false, NULL, "role address (never a person's own)" },
    { "description", TW_FT_TEXT, false, NULL, "free text, no personal data" },
    { "committee", TW_FT_KEY, false, NULL, "key of the place's own committee, when a hub lists it" },
};

static const tw_field link_fields[] = {
    { "group", TW_FT_STR, false, NULL, "the group: SLOT or KEY/SLOT of a group record" },
    { "place", TW_FT_STR, false, NULL, "the place: SLOT or KEY/SLOT of a place record" },
    { "party_key", TW_FT_KEY, false, NULL, "key of the other party's node" },
    { "formality", TW_FT_ENUM, true, formalities, "kind of link" },
    { "status", TW_FT_ENUM, true, link_statuses, "state of the link" },
    { "since", TW_FT_DATE, false, NULL, "when the link began" },
    { "ended", TW_FT_DATE, false, NULL, "when it ended; only with status ended" },
    { "activities", TW_FT_STRLIST, false, NULL, "what the partners do together" },
    { "description", TW_FT_TEXT, false, NULL, "free text, no personal data" },
};

static const tw_field vouch_fields[] = {
    { "key", TW_FT_KEY, true, NULL, "the admitted key; equals the slot key" },
    { "name", TW_FT_STR, true, NULL, "name of the organisation holding the key" },
    { "role", TW_FT_ENUM, false, vouch_roles, "member (default) or hub" },
    { "revoked", TW_FT_BOOL, false, NULL, "true withdraws the admission" },
};

static const tw_field device_fields[] = {
    { "key", TW_FT_KEY, true, NULL, "the device's node key; equals the slot key" },
    { "label", TW_FT_STR, true, NULL, "which machine, e.g. office laptop (no personal names)" },
    { "revoked", TW_FT_BOOL, false, NULL, "true: the device no longer writes for the association" },
    { "from", TW_FT_UINT, false, NULL, "with revoked: its entries dated from this ms on are refused" },
};

static const tw_field succession_fields[] = {
    { "next", TW_FT_KEY, true, NULL, "the association's next key; equals the slot key" },
};

static const tw_field recovery_fields[] = {
    { "key", TW_FT_KEY, true, NULL, "the lost key; equals the slot key" },
    { "next", TW_FT_KEY, true, NULL, "the association's new key" },
    { "from", TW_FT_UINT, true, NULL, "entries of the lost key dated from this ms on are refused" },
};

static const tw_field keyplan_fields[] = {
    { "commit", TW_FT_STR, true, NULL, "BLAKE2b-256 of the next key, 64 hex digits; equals the slot key" },
};

static const tw_field peer_fields[] = {
    { "addresses", TW_FT_STRLIST, true, NULL, "1 to 8 HOST:PORT addresses to dial" },
};

static const tw_kind_schema kinds[] = {
    { "group", group_fields, COUNT(group_fields), "a UK twinning, friendship or linking group" },
    { "place", place_fields, COUNT(place_fields), "a partner community abroad" },
    { "link", link_fields, COUNT(link_fields), "one side's statement of a link" },
    { "vouch", vouch_fields, COUNT(vouch_fields), "admission (or revocation) of a key" },
    { "peer", peer_fields, COUNT(peer_fields), "addresses at which this node accepts connections" },
    { "device", device_fields, COUNT(device_fields), "a node key that writes for the association (or its revocation)" },
    { "succession", succession_fields, COUNT(succession_fields), "the association moves to its next key (signed by the old one)" },
    { "recovery", recovery_fields, COUNT(recovery_fields), "a voucher or root moves an association from a lost key to a new one" },
    { "keyplan", keyplan_fields, COUNT(keyplan_fields), "commitment to the association's next key (pre-rotation)" },
};

const tw_kind_schema *tw_schema_kinds(size_t *n) { *n = COUNT(kinds); return kinds; }

const tw_kind_schema *tw_schema_kind(const char *kind, size_t kind_len)
{
    if (!kind) return NULL;
    for (size_t i = 0; i < COUNT(kinds); i++)
        if (strlen(kinds[i].kind) == kind_len && memcmp(kinds[i].kind, kind, kind_len) == 0)
            return &kinds[i];
    return NULL;
}

const tw_field *tw_schema_field(const tw_kind_schema *k, const char *name, size_t len)
{
    if (!k || !name) return NULL;
    for (size_t i = 0; i < k->nfields; i++)
        if (strlen(k->fields[i].name) == len && memcmp(k->fields[i].name, name, len) == 0)
            return &k->fields[i];
    return NULL;
}

/* ---- messages ---- */

/* Copies at most TW_QUOTE_MAX bytes of s, cut on a character boundary, with
 * control bytes and quotes replaced, so that a value from a peer cannot
 * forge lines or escape sequences in a log or on a terminal. */
static void quote(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0, lim = n > TW_QUOTE_MAX ? TW_QUOTE_MAX : n;
    while (lim < n && lim > 0 && ((unsigned char)s[lim] & 0xC0) == 0x80) lim--;
    if (cap < TW_QUOTE_MAX + 6) { if (cap) out[0] = 0; return; }
    out[o++] = '"';
    for (size_t i = 0; i < lim; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c < 0x20 || c == 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
    }
    out[o++] = '"';
    if (lim < n) { memcpy(out + o, "...", 3); o += 3; }
    out[o] = 0;
}

/* quote() of a string value, for a message: made only once the value is
 * refused (the rules run for every record received). */
static const char *quote_str(char *out, size_t cap, const char *s, size_t n)
{
    quote(out, cap, s, n);
    return out;
}

static const char *quote_val(char *out, size_t cap, const tw_val *v) { return quote_str(out, cap, v->v.s, v->len); }

typedef struct ctx {
    const char *kind;
    char *err;
    size_t errlen;
} ctx;

__attribute__((format(printf, 3, 4)))
static int fail(const ctx *c, const char *where, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        int n = snprintf(c->err, c->errlen, "%s", where);
        if (n >= 0 && (size_t)n < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return TW_ESCHEMA;
}

/* Field names in messages are sanitised like values (they may come from a
 * peer) but printed bare, as in "group.foo: unknown field". */
static void bare(char *out, size_t cap, const char *s, size_t n)
{
    char q[TW_QUOTE_MAX + 8];
    quote(q, sizeof q, s, n);
    size_t l = strlen(q);
    if (l < 2) { snprintf(out, cap, "?"); return; }
    /* Drop the quotes, keep a trailing "..." when cut. */
    if (l >= 5 && memcmp(q + l - 3, "...", 3) == 0)
        snprintf(out, cap, "%.*s...", (int)(l - 5), q + 1);
    else
        snprintf(out, cap, "%.*s", (int)(l - 2), q + 1);
}

static void list_names(char *out, size_t cap, const char *const *names, size_t n,
                       const tw_field *fields)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = fields ? fields[i].name : names[i];
        int w = snprintf(out + o, cap - o, "%s%s", i ? ", " : "", s);
        if (w < 0 || (size_t)w >= cap - o) return;
        o += (size_t)w;
    }
}

static void enum_list(char *out, size_t cap, const char *const *values)
{
    size_t n = 0;
    while (values[n]) n++;
    list_names(out, cap, values, n, NULL);
}

static void kind_list(char *out, size_t cap)
{
    const char *names[COUNT(kinds)];
    for (size_t i = 0; i < COUNT(kinds); i++) names[i] = kinds[i].kind;
    list_names(out, cap, names, COUNT(kinds), NULL);
}

/* ---- syntax helpers ---- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_alnum(char c) { return is_digit(c) || is_lower(c) || is_upper(c); }

static bool str_eq(const tw_val *v, const char *s)
{
    size_t n = strlen(s);
    return v->type == TW_STR && v->len == n && memcmp(v->v.s, s, n) == 0;
}

static bool printable_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) return false;
    return true;
}

/* Decimal 1..65535 without sign or leading zero. */
static bool valid_port(const char *s, size_t n)
{
    if (n == 0 || n > 5 || s[0] == '0') return false;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i])) return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

/* Dotted quad, each part 0..255 without leading zeros. */
static bool valid_ipv4(const char *s, size_t n)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part) { if (i >= n || s[i] != '.') return false; i++; }
        size_t st = i;
        unsigned v = 0;
        while (i < n && is_digit(s[i]) && i - st < 3) v = v * 10 + (unsigned)(s[i++] - '0');
        if (i == st || v > 255 || (i - st > 1 && s[st] == '0')) return false;
    }
    return i == n;
}

static bool valid_ipv6(const char *s, size_t n)
{
    char buf[TW_IPV6_TEXT_MAX + 1];
    unsigned char bin[16];
    if (n == 0 || n > TW_IPV6_TEXT_MAX) return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    return inet_pton(AF_INET6, buf, bin) == 1;
}

/* Host name: dot-separated labels of letters, digits and inner hyphens.
 * A last label of digits only is a malformed IPv4 address, not a name. */
static bool valid_dns(const char *s, size_t n, bool need_dot)
{
    if (n == 0 || n > TW_HOSTNAME_MAX) return false;
    size_t st = 0;
    bool dot = false, all_digits = true;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            size_t l = i - st;
            if (l == 0 || l > TW_DNS_LABEL_MAX || s[st] == '-' || s[i - 1] == '-') return false;
            if (i < n) { dot = true; st = i + 1; all_digits = true; }
            continue;
        }
        if (!is_alnum(s[i]) && s[i] != '-') return false;
        if (!is_digit(s[i])) all_digits = false;
    }
    return !all_digits && (dot || !need_dot);
}

/* "[v6]", IPv4 or a DNS name. */
static bool valid_host(const char *s, size_t n)
{
    if (n >= 2 && s[0] == '[') return s[n - 1] == ']' && valid_ipv6(s + 1, n - 2);
    return valid_ipv4(s, n) || valid_dns(s, n, false);
}

/* HOST:PORT, the port required, an IPv6 host in brackets. */
static bool valid_hostport(const char *s, size_t n)
{
    size_t colon = n;
    while (colon > 0 && s[colon - 1] != ':') colon--;
    if (colon == 0) return false;
    colon--;
    return valid_host(s, colon) && valid_port(s + colon + 1, n - colon - 1);
}

static bool ci_prefix(const char *s, size_t n, const char *p)
{
    size_t l = strlen(p);
    if (n < l) return false;
    for (size_t i = 0; i < l; i++) {
        char c = s[i];
        if (is_upper(c)) c = (char)(c - 'A' + 'a');
        if (c != p[i]) return false;
    }
    return true;
}

static const char *url_problem(const char *s, size_t n)
{
    size_t i;
    if (!printable_ascii(s, n)) return "must be ASCII without spaces (percent-encode the rest)";
    if (ci_prefix(s, n, "https://")) i = 8;
    else if (ci_prefix(s, n, "http://")) i = 7;
    else return "must start with http:// or https://";
    size_t st = i;
    while (i < n && s[i] != '/' && s[i] != '?' && s[i] != '#') i++;
    const char *h = s + st;
    size_t hl = i - st;
    if (hl == 0) return "has no host";
    if (memchr(h, '@', hl)) return "must not carry a user name";
    /* An optional port follows the last colon, unless that colon is inside
     * an IPv6 literal. */
    size_t c = hl;
    while (c > 0 && h[c - 1] != ':' && h[c - 1] != ']') c--;
    if (c > 0 && h[c - 1] == ':') {
        if (!valid_port(h + c, hl - c)) return "has a bad port";
        hl = c - 1;
    }
    if (!valid_host(h, hl)) return "has a bad host name";
    return NULL;
}

static const char *email_problem(const char *s, size_t n)
{
    if (n > TW_EMAIL_MAX) return "is longer than 254 bytes";
    if (!printable_ascii(s, n)) return "must be ASCII without spaces";
    const char *at = memchr(s, '@', n);
    if (!at || memchr(at + 1, '@', n - (size_t)(at - s) - 1)) return "must contain exactly one @";
    size_t ll = (size_t)(at - s);
    if (ll == 0 || ll > TW_EMAIL_LOCAL_MAX) return "needs 1 to 64 bytes before the @";
    if (!valid_dns(at + 1, n - ll - 1, true)) return "needs a domain name after the @";
    return NULL;
}

static const char *key_problem(const char *s, size_t n)
{
    static const size_t pl = sizeof TW_KEYTEXT_PREFIX - 1;
    uint8_t key[32];
    if (n != TW_KEYTEXT_LEN) return "is not a key (twk_ and 55 base32 characters)";
    if (memcmp(s, TW_KEYTEXT_PREFIX, pl) != 0) return "is not a key (must start with twk_)";
    for (size_t i = pl; i < n; i++)
        if (!is_lower(s[i]) && !(s[i] >= '2' && s[i] <= '7'))
            return "is not a key (base32 is a-z and 2-7)";
    if (tw_keytext_decode(key, TW_KEYTEXT_PREFIX, s, n) != 0)
        return "is not a key (checksum fails: mistyped?)";
    return NULL;
}

/* 64 lowercase hex digits: a BLAKE2b-256 hash (keyplan). */
static const char *hex32_problem(const char *s, size_t n)
{
    if (n != 64) return "is not 64 hex digits (BLAKE2b-256 of the next key)";
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f')) return "is not 64 lowercase hex digits";
    return NULL;
}

static const char *slot_problem(const char *s, size_t n)
{
    if (n == 0 || n > TW_SLOT_MAX) return "must be 1 to 200 bytes";
    if (s[0] == '.' || s[0] == '-') return "must not start with '.' or '-'";
    for (size_t i = 0; i < n; i++)
        if (!is_lower(s[i]) && !is_digit(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return "may hold only a-z 0-9 . _ -";
    return NULL;
}

static int days_in_month(int y, int m)
{
    static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : d[m - 1];
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static const char *date_problem(const char *s, size_t n)
{
    if (n != 4 && n != 7 && n != 10) return "must be YYYY, YYYY-MM or YYYY-MM-DD";
    int y = num(s, 4);
    if (y < 0) return "must be YYYY, YYYY-MM or YYYY-MM-DD";
    if (y < TW_DATE_YEAR_MIN || y > TW_DATE_YEAR_MAX) return "has a year outside 1900..2200";
    if (n == 4) return NULL;
    int m = s[4] == '-' ? num(s + 5, 2) : -1;
    if (m < 0) return "must be YYYY, YYYY-MM or YYYY-MM-DD";
    if (m < 1 || m > 12) return "has no such month";
    if (n == 7) return NULL;
    int d = s[7] == '-' ? num(s + 8, 2) : -1;
    if (d < 0) return "must be YYYY, YYYY-MM or YYYY-MM-DD";
    if (d < 1 || d > days_in_month(y, m)) return "has no such day";
    return NULL;
}

/* Decodes the code point at s[*i] of valid UTF-8 and moves *i past it. */
static uint32_t next_cp(const char *s, size_t n, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s + *i;
    size_t left = n - *i;
    uint32_t c = u[0];
    if (c < 0x80 || left < 2) { *i += 1; return c; }
    if (c < 0xe0) { *i += 2; return (c & 0x1f) << 6 | (u[1] & 0x3f); }
    if (c < 0xf0 || left < 4) { *i += 3; return left < 3 ? c : (c & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f); }
    *i += 4;
    return (c & 0x07) << 18 | (uint32_t)(u[1] & 0x3f) << 12 | (uint32_t)(u[2] & 0x3f) << 6 | (u[3] & 0x3f);
}

/*
 * What counts as space for "not blank" (SCHEMA.md, "Strings"): Unicode's
 * White_Space characters, and the invisible format characters that show
 * nothing on their own (soft hyphen, combining grapheme joiner, Arabic
 * letter mark, Hangul fillers, Mongolian and other free variation
 * selectors, zero-width space and joiners, direction marks, embeddings and
 * isolates, word joiner and invisible operators, byte order mark).  A name
 * made of these alone reads as empty to a person, so it is refused as "".
 */
static bool invisible_cp(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0xad ||
           c == 0x34f || c == 0x61c || c == 0x115f || c == 0x1160 || c == 0x1680 ||
           (c >= 0x17b4 && c <= 0x17b5) || (c >= 0x180b && c <= 0x180f) ||
           (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) ||
           (c >= 0x205f && c <= 0x206f) || c == 0x3000 || c == 0x3164 ||
           (c >= 0xfe00 && c <= 0xfe0f) || c == 0xfeff || c == 0xffa0 ||
           (c >= 0xe0000 && c <= 0xe0fff);
}

/* Refuses C0 controls, DEL and C1 controls (U+0080..U+009F); text fields
 * may hold line breaks.  A string of spaces and invisible characters only
 * (invisible_cp) is as empty as "". */
static const char *chars_problem(const char *s, size_t n, bool text)
{
    bool blank = true;
    if (!tw_utf8_valid((const uint8_t *)s, n)) return "is not valid UTF-8";
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (c == '\n' && text) { i++; continue; }
            if (c < 0x20 || c == 0x7f) return "contains a control character";
        }
        if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] < 0xa0) return "contains a control character";
        /* Past the first visible character only the controls are left to
         * find, byte by byte: a continuation byte is never one, nor 0xc2. */
        if (!blank) i++;
        else if (!invisible_cp(next_cp(s, n, &i))) blank = false;
    }
    if (!blank) return NULL;
    return n ? "is blank: only spaces or invisible characters (omit the field instead)"
             : "is empty (omit the field instead)";
}

/* ---- one field on its own ---- */

/* SLOT or KEY/SLOT, for link.group and link.place. */
static const char *ref_problem(const char *s, size_t n)
{
    const char *sl = memchr(s, '/', n);
    if (!sl) return slot_problem(s, n) ? "is not a reference (SLOT or KEY/SLOT)" : NULL;
    if (key_problem(s, (size_t)(sl - s))) return "is not a reference (KEY/SLOT with a bad key)";
    if (slot_problem(sl + 1, n - (size_t)(sl - s) - 1)) return "is not a reference (KEY/SLOT with a bad slot)";
    return NULL;
}

static int check_code(const ctx *c, const char *where, const tw_field *f, const tw_val *v)
{
    char q[TW_QUOTE_MAX + 8];
    if (!strcmp(f->name, "region")) {
        if (!tw_code_find(uk_regions, COUNT(uk_regions), v->v.s, v->len))
            return fail(c, where, ": %s is not a known UK region code", quote_val(q, sizeof q, v));
    } else if (!strcmp(f->name, "country")) {
        if (v->len != 2 || !is_upper(v->v.s[0]) || !is_upper(v->v.s[1]))
            return fail(c, where, ": %s is not an ISO 3166-1 alpha-2 code (two capital letters)", quote_val(q, sizeof q, v));
    } else if (!strcmp(f->name, "subdivision")) {
        bool ok = v->len >= 4 && v->len <= 6 && is_upper(v->v.s[0]) && is_upper(v->v.s[1]) &&
                  v->v.s[2] == '-';
        for (size_t i = 3; ok && i < v->len; i++)
            ok = is_upper(v->v.s[i]) || is_digit(v->v.s[i]);
        if (!ok) return fail(c, where, ": %s is not an ISO 3166-2 code (like PS-BTH)", quote_val(q, sizeof q, v));
        if (memcmp(v->v.s, "PS-", 3) == 0 &&
            !tw_code_find(governorates, COUNT(governorates), v->v.s, v->len))
            return fail(c, where, ": %s is not a known governorate code", quote_val(q, sizeof q, v));
    } else {
        return fail(c, where, ": has no code list (a bug)");
    }
    return 0;
}

static int check_str(const ctx *c, const char *where, const tw_field *f, const tw_val *v)
{
    char q[TW_QUOTE_MAX + 8];
    const char *why;
    size_t max = f->type == TW_FT_TEXT ? TW_DESC_MAX : TW_STR_MAX;
    if (v->type != TW_STR) return fail(c, where, ": must be a string");
    if (v->len > max) return fail(c, where, ": is %u bytes, longer than %zu", v->len, max);
    if ((why = chars_problem(v->v.s, v->len, f->type == TW_FT_TEXT))) return fail(c, where, ": %s", why);
    switch (f->type) {
    case TW_FT_ENUM: {
        char vals[512];
        for (size_t i = 0; f->values[i]; i++)
            if (str_eq(v, f->values[i])) return 0;
        enum_list(vals, sizeof vals, f->values);
        return fail(c, where, ": %s is not one of %s", quote_val(q, sizeof q, v), vals);
    }
    case TW_FT_CODE: return check_code(c, where, f, v);
    case TW_FT_DATE: why = date_problem(v->v.s, v->len); break;
    case TW_FT_KEY: why = key_problem(v->v.s, v->len); break;
    case TW_FT_URL: why = url_problem(v->v.s, v->len); break;
    case TW_FT_EMAIL: why = email_problem(v->v.s, v->len); break;
    default: why = NULL; break;
    }
    if (why) return fail(c, where, ": %s %s", quote_val(q, sizeof q, v), why);
    return 0;
}

static bool is_field(const ctx *c, const tw_field *f, const char *kind, const char *name)
{
    return !strcmp(c->kind, kind) && !strcmp(f->name, name);
}

static int check_item(const ctx *c, const char *where, const tw_field *f, const tw_val *v)
{
    static const tw_field item = { "item", TW_FT_STR, false, NULL, NULL };
    int rc = check_str(c, where, &item, v);
    if (rc) return rc;
    if (is_field(c, f, "peer", "addresses") && !valid_hostport(v->v.s, v->len)) {
        char q[TW_QUOTE_MAX + 8];
        quote(q, sizeof q, v->v.s, v->len);
        return fail(c, where, ": %s is not HOST:PORT (IPv4, [IPv6] or host name; port 1..65535)", q);
    }
    return 0;
}

static int value_rule(const ctx *c, const char *where, const tw_field *f, const tw_val *v)
{
    switch (f->type) {
    case TW_FT_BOOL:
        return v->type == TW_BOOL ? 0 : fail(c, where, ": must be true or false");
    case TW_FT_UINT:
        return v->type == TW_UINT ? 0 : fail(c, where, ": must be a non-negative integer");
    case TW_FT_STRLIST: {
        size_t max = is_field(c, f, "peer", "addresses") ? TW_PEER_ADDRS_MAX : TW_LIST_MAX;
        size_t total = 0;
        if (v->type != TW_ARR) return fail(c, where, ": must be a list of strings");
        if (v->len == 0) return fail(c, where, ": is an empty list (omit the field instead)");
        if (v->len > max) return fail(c, where, ": has %u items, more than %zu", v->len, max);
        for (uint32_t i = 0; i < v->len; i++) {
            char w[TW_WHERE_MAX + 16] = "";
            const tw_val *it = &v->v.arr[i];
            if (c->err) snprintf(w, sizeof w, "%s[%u]", where, i);
            int rc = check_item(c, w, f, it);
            if (rc) return rc;
            total += it->len;
            for (uint32_t j = 0; j < i; j++)
                if (v->v.arr[j].len == it->len && !memcmp(v->v.arr[j].v.s, it->v.s, it->len))
                    return fail(c, w, ": repeats item %u", j);
        }
        if (total > TW_DESC_MAX)
            return fail(c, where, ": items total %zu bytes, more than %u", total, TW_DESC_MAX);
        return 0;
    }
    default: {
        int rc = check_str(c, where, f, v);
        if (rc) return rc;
        if (is_field(c, f, "link", "group") || is_field(c, f, "link", "place")) {
            const char *why = ref_problem(v->v.s, v->len);
            if (why) {
                char q[TW_QUOTE_MAX + 8];
                quote(q, sizeof q, v->v.s, v->len);
                return fail(c, where, ": %s %s", q, why);
            }
        }
        return 0;
    }
    }
}

/* A field's value against its rule.  A record passes every rule of every
 * field it has, so the rules run first with no message to write: where
 * ("group.name", "peer.addresses[2]") and the quoted value are formatted
 * only for a refused value, on a second pass that finds the same
 * problem. */
static int check_value(const ctx *c, const tw_field *f, const tw_val *v)
{
    const ctx quiet = { c->kind, NULL, 0 };
    int rc = value_rule(&quiet, "", f, v);
    if (rc == 0 || !c->err || !c->errlen) return rc;
    char where[TW_WHERE_MAX];
    snprintf(where, sizeof where, "%s.%s", c->kind, f->name);
    return value_rule(c, where, f, v);
}

/* ---- rules across fields ---- */

static const tw_val *get(const tw_val *body, const char *name)
{
    for (uint32_t i = 0; i < body->len; i++)
        if (str_eq(&body->v.map[i].k, name)) return &body->v.map[i].v;
    return NULL;
}

static int check_group(const ctx *c, const tw_val *b)
{
    const tw_val *region = get(b, "region"), *nation = get(b, "nation");
    if (region && nation) {
        const tw_code *r = tw_code_find(uk_regions, COUNT(uk_regions), region->v.s, region->len);
        if (!str_eq(nation, r->group))
            return fail(c, "group.region", ": \"%s\" (%s) is in %s, not %.*s", r->code, r->name,
                        r->group, (int)nation->len, nation->v.s);
    }
    return 0;
}

static int check_place(const ctx *c, const tw_val *b)
{
    const tw_val *country = get(b, "country"), *sub = get(b, "subdivision"), *area = get(b, "area");
    if (sub && country && memcmp(sub->v.s, country->v.s, 2) != 0)
        return fail(c, "place.subdivision", ": \"%.*s\" is not in country \"%.*s\"",
                    (int)sub->len, sub->v.s, (int)country->len, country->v.s);
    if (!area) return 0;
    if (!country || !str_eq(country, "PS"))
        return fail(c, "place.area", ": applies only to country \"PS\"");
    if (str_eq(area, "east_jerusalem")) {
        if (!sub || !str_eq(sub, "PS-JEM"))
            return fail(c, "place.area", ": \"east_jerusalem\" needs subdivision \"PS-JEM\"");
        return 0;
    }
    if (sub) {
        const tw_code *g = tw_code_find(governorates, COUNT(governorates), sub->v.s, sub->len);
        if (!str_eq(area, g->group))
            return fail(c, "place.area", ": \"%.*s\" does not match subdivision \"%s\" (%s, %s)",
                        (int)area->len, area->v.s, g->code, g->name, g->group);
    }
    return 0;
}

/* Partial dates compare on the digits both have: "2005" is not after
 * "2005-06", and "2005-07" is after "2005-06-30". */
static int date_cmp(const tw_val *a, const tw_val *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    return memcmp(a->v.s, b->v.s, n);
}

static int check_link(const ctx *c, const tw_val *b)
{
    const tw_val *since = get(b, "since"), *ended = get(b, "ended"), *status = get(b, "status");
    if (!get(b, "group") && !get(b, "place") && !get(b, "party_key"))
        return fail(c, "link", ": needs at least one of group, place, party_key");
    if (ended && !str_eq(status, "ended"))
        return fail(c, "link.ended", ": only allowed when status is \"ended\"");
    if (ended && since && date_cmp(ended, since) < 0)
        return fail(c, "link.ended", ": \"%.*s\" is before since \"%.*s\"",
                    (int)ended->len, ended->v.s, (int)since->len, since->v.s);
    return 0;
}

/* Unknown kinds are TW_ENOTFOUND, not TW_ESCHEMA: received from a peer
 * they are stored and forwarded as opaque (a newer version may know them);
 * only local publishing refuses them. */
static int unknown_kind(const char *kind, size_t kind_len, char *err, size_t errlen)
{
    char name[TW_QUOTE_MAX + 8], known[128];
    ctx c0 = { "", err, errlen };
    kind_list(known, sizeof known);
    bare(name, sizeof name, kind ? kind : "", kind ? kind_len : 0);
    fail(&c0, name, ": unknown kind (known: %s)", known);
    return TW_ENOTFOUND;
}

int tw_schema_validate(const char *kind, size_t kind_len, const tw_val *body,
                       char *err, size_t errlen)
{
    const tw_kind_schema *k = tw_schema_kind(kind, kind_len);
    char name[TW_QUOTE_MAX + 8];
    uint32_t seen = 0;
    if (err && errlen) err[0] = 0;
    if (!k) return unknown_kind(kind, kind_len, err, errlen);
    ctx c = { k->kind, err, errlen };
    if (!body) return TW_EINVAL;
    if (body->type == TW_NIL) return 0;   /* a tombstone carries no fields */
    if (body->type != TW_MAP) return fail(&c, k->kind, ": body must be a map");
    _Static_assert(COUNT(group_fields) <= TW_KIND_FIELDS_MAX && COUNT(place_fields) <= TW_KIND_FIELDS_MAX,
                   "seen mask too narrow");
    for (uint32_t i = 0; i < body->len; i++) {
        const tw_val *key = &body->v.map[i].k;
        if (key->type != TW_STR) return fail(&c, k->kind, ": field names must be strings");
        const tw_field *f = tw_schema_field(k, key->v.s, key->len);
        if (!f) {
            char where[TW_WHERE_MAX], known[512];
            bare(name, sizeof name, key->v.s, key->len);
            snprintf(where, sizeof where, "%s.%s", k->kind, name);
            list_names(known, sizeof known, NULL, k->nfields, k->fields);
            return fail(&c, where, ": unknown field (known: %s)", known);
        }
        uint32_t bit = 1u << (uint32_t)(f - k->fields);
        if (seen & bit) return fail(&c, k->kind, ": field %s appears twice", f->name);
        seen |= bit;
        int rc = check_value(&c, f, &body->v.map[i].v);
        if (rc) return rc;
    }
    for (size_t i = 0; i < k->nfields; i++)
        if (k->fields[i].required && !(seen & (1u << i)))
            return fail(&c, k->kind, ".%s: required field is missing", k->fields[i].name);
    if (!strcmp(k->kind, "group")) return check_group(&c, body);
    if (!strcmp(k->kind, "place")) return check_place(&c, body);
    if (!strcmp(k->kind, "link")) return check_link(&c, body);
    return 0;
}

int tw_schema_check_slot(const char *kind, size_t kind_len, const char *slot,
                         size_t slot_len, char *err, size_t errlen)
{
    const tw_kind_schema *k = tw_schema_kind(kind, kind_len);
    char q[TW_QUOTE_MAX + 8];
    const char *why;
    if (err && errlen) err[0] = 0;
    if (!k) return unknown_kind(kind, kind_len, err, errlen);
    ctx c = { k->kind, err, errlen };
    if (!slot) slot_len = 0;
    /* The slot key is quoted only in a refusal's message. */
    const char *shown = slot ? slot : "";
    if ((why = slot_problem(slot, slot_len)))
        return fail(&c, k->kind, ": slot key %s %s", quote_str(q, sizeof q, shown, slot_len), why);
    if (!strcmp(k->kind, "peer") && !(slot_len == 4 && !memcmp(slot, "self", 4)))
        return fail(&c, k->kind, ": slot key %s must be \"self\"", quote_str(q, sizeof q, shown, slot_len));
    if (!strcmp(k->kind, "vouch") && (why = key_problem(slot, slot_len)))
        return fail(&c, k->kind, ": slot key %s must be the vouched key: %s", quote_str(q, sizeof q, shown, slot_len), why);
    if (!strcmp(k->kind, "device") && (why = key_problem(slot, slot_len)))
        return fail(&c, k->kind, ": slot key %s must be the device's key: %s", quote_str(q, sizeof q, shown, slot_len), why);
    if (!strcmp(k->kind, "succession") && (why = key_problem(slot, slot_len)))
        return fail(&c, k->kind, ": slot key %s must be the next key: %s", quote_str(q, sizeof q, shown, slot_len), why);
    if (!strcmp(k->kind, "recovery") && (why = key_problem(slot, slot_len)))
        return fail(&c, k->kind, ": slot key %s must be the lost key: %s", quote_str(q, sizeof q, shown, slot_len), why);
    if (!strcmp(k->kind, "keyplan") && (why = hex32_problem(slot, slot_len)))
        return fail(&c, k->kind, ": slot key %s must be the commitment: %s", quote_str(q, sizeof q, shown, slot_len), why);
    return 0;
}

/* ---- the record rule: one place for every door ---- */

int tw_schema_check_record(const char *kind, size_t kind_len, const char *slot, size_t slot_len,
                           const tw_val *body, unsigned flags, char *err, size_t errlen)
{
    const char *why = NULL;
    int rc;
    if (err && errlen) err[0] = 0;
    if ((rc = tw_entry_check_names(kind, kind_len, slot, slot_len, &why))) {
        if (err && errlen) snprintf(err, errlen, "%s", why ? why : "bad kind or slot key");
        return TW_ESCHEMA;
    }
    if (body && body->type != TW_NIL && body->type != TW_MAP) {
        if (err && errlen) snprintf(err, errlen, "body must be a map or nil");
        return TW_ESCHEMA;
    }
    const tw_kind_schema *k = tw_schema_kind(kind, kind_len);
    if (!k) {
        /* Kinds of newer versions travel uninterpreted (SCHEMA.md, "Kinds
         * this version does not know"); only the generic rules above and
         * the reader's bounds apply to them. */
        if (flags & TW_RULES_RECEIPT) return 0;
        char name[TW_QUOTE_MAX + 8], known[128];
        kind_list(known, sizeof known);
        quote(name, sizeof name, kind, kind_len);
        if (err && errlen) snprintf(err, errlen, "unknown kind %s (known: %s)", name, known);
        return TW_ESCHEMA;
    }
    if ((rc = tw_schema_check_slot(kind, kind_len, slot, slot_len, err, errlen))) return TW_ESCHEMA;
    bool ident = !strcmp(k->kind, "device") || !strcmp(k->kind, "succession") || !strcmp(k->kind, "recovery") ||
                 !strcmp(k->kind, "keyplan");
    if ((!body || body->type == TW_NIL) && ident) {
        /* These records say who writes for an association; deleting one
         * would let a newer tombstone erase what an older record settled
         * (PROTOCOL.md "Associations and their keys").  A device is
         * revoked, a key succeeded, never deleted. */
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot be deleted (%s)", k->kind,
                     !strcmp(k->kind, "device") ? "publish it with revoked: true instead" : "it is permanent");
        return TW_ESCHEMA;
    }
    if (!body || body->type == TW_NIL) return 0;
    if ((rc = tw_schema_validate(kind, kind_len, body, err, errlen))) return TW_ESCHEMA;
    if (!strcmp(k->kind, "vouch")) {
        const tw_val *key = tw_v_get(body, "key");
        if (!key || key->type != TW_STR || key->len != slot_len || memcmp(key->v.s, slot, slot_len) != 0) {
            if (err && errlen) snprintf(err, errlen, "vouch.key: differs from the slot key (a vouch is kept in the slot of the key it vouches for)");
            return TW_ESCHEMA;
        }
    }
    if (ident) {
        const char *fname = !strcmp(k->kind, "succession") ? "next" : !strcmp(k->kind, "keyplan") ? "commit" : "key";
        const tw_val *f = tw_v_get(body, fname);
        if (!strcmp(k->kind, "keyplan") && f && f->type == TW_STR && (why = hex32_problem(f->v.s, f->len))) {
            if (err && errlen) snprintf(err, errlen, "keyplan.commit: %s", why);
            return TW_ESCHEMA;
        }
        if (!f || f->type != TW_STR || f->len != slot_len || memcmp(f->v.s, slot, slot_len) != 0) {
            if (err && errlen) snprintf(err, errlen, "%s.%s: differs from the slot key", k->kind, fname);
            return TW_ESCHEMA;
        }
        const tw_val *nx = tw_v_get(body, "next"), *from = tw_v_get(body, "from"), *rev = tw_v_get(body, "revoked");
        if (!strcmp(k->kind, "recovery") && nx && nx->type == TW_STR && nx->len == slot_len &&
            memcmp(nx->v.s, slot, slot_len) == 0) {
            if (err && errlen) snprintf(err, errlen, "recovery.next: is the lost key itself");
            return TW_ESCHEMA;
        }
        if (!strcmp(k->kind, "device") && from && !(rev && rev->type == TW_BOOL && rev->v.b)) {
            if (err && errlen) snprintf(err, errlen, "device.from: only with revoked: true");
            return TW_ESCHEMA;
        }
    }
    return 0;
}

/* ---- text to typed values ---- */

static bool ci_eq(const char *s, const char *lit)
{
    size_t n = strlen(lit);
    return strlen(s) == n && ci_prefix(s, n, lit);
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) { (*s)++; (*n)--; }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

int tw_schema_coerce(tw_arena *a, const char *kind, const char *field,
                     const char *text, tw_val *out, char *err, size_t errlen)
{
    const tw_kind_schema *k = tw_schema_kind(kind, kind ? strlen(kind) : 0);
    char where[TW_WHERE_MAX], name[TW_QUOTE_MAX + 8], q[TW_QUOTE_MAX + 8];
    if (err && errlen) err[0] = 0;
    if (!a || !field || !text || !out) return TW_EINVAL;
    if (!k) return unknown_kind(kind, kind ? strlen(kind) : 0, err, errlen);
    ctx c = { k->kind, err, errlen };
    const tw_field *f = tw_schema_field(k, field, strlen(field));
    if (!f) {
        char known[512];
        bare(name, sizeof name, field, strlen(field));
        snprintf(where, sizeof where, "%s.%s", k->kind, name);
        list_names(known, sizeof known, NULL, k->nfields, k->fields);
        return fail(&c, where, ": unknown field (known: %s)", known);
    }
    snprintf(where, sizeof where, "%s.%s", k->kind, f->name);
    size_t tl = strlen(text);
    quote(q, sizeof q, text, tl);
    /* No field's value comes near a whole payload; refusing here keeps a
     * runaway argument out of the arena and out of tw_val's 32-bit length. */
    if (tl > TW_PAYLOAD_MAX) return fail(&c, where, ": is longer than %u bytes", TW_PAYLOAD_MAX);
    switch (f->type) {
    case TW_FT_BOOL:
        if (ci_eq(text, "true") || ci_eq(text, "yes")) *out = tw_v_bool(true);
        else if (ci_eq(text, "false") || ci_eq(text, "no")) *out = tw_v_bool(false);
        else return fail(&c, where, ": %s is not true, false, yes or no", q);
        return 0;
    case TW_FT_UINT: {
        uint64_t v = 0;
        if (tl == 0 || tl > 20) return fail(&c, where, ": %s is not a decimal number", q);
        for (size_t i = 0; i < tl; i++) {
            if (!is_digit(text[i])) return fail(&c, where, ": %s is not a decimal number", q);
            unsigned d = (unsigned)(text[i] - '0');
            if (v > (UINT64_MAX - d) / 10) return fail(&c, where, ": %s is too large", q);
            v = v * 10 + d;
        }
        *out = tw_v_uint(v);
        return 0;
    }
    case TW_FT_STRLIST: {
        /* Count first so that a hostile text cannot make us allocate a
         * list longer than any field allows. */
        size_t n = 1;
        for (size_t i = 0; i < tl; i++) if (text[i] == ';') n++;
        if (n > TW_LIST_MAX) return fail(&c, where, ": has %zu items, more than %u", n, TW_LIST_MAX);
        int rc = tw_v_arr(a, out, (uint32_t)n);
        if (rc) return rc;
        const char *s = text;
        for (size_t i = 0; i < n; i++) {
            const char *e = strchr(s, ';');
            size_t l = e ? (size_t)(e - s) : strlen(s);
            const char *t = s;
            trim(&t, &l);
            char *cp = tw_arena_strndup(a, t, l);
            if (!cp) return TW_ENOMEM;
            out->v.arr[i] = tw_v_str(cp, l);
            if (e) s = e + 1;
        }
        return check_value(&c, f, out);
    }
    default: {
        char *cp = tw_arena_strndup(a, text, tl);
        if (!cp) return TW_ENOMEM;
        *out = tw_v_str(cp, tl);
        return check_value(&c, f, out);
    }
    }
}
