/* Unit tests for record schemas and text folding (proto/schema.c,
 * proto/textfold.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "twin/err.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "twin/mp.h"
#include "twin/schema.h"

/* Mirrors TW_PEER_ADDRS_MAX in proto/schema.c (to move to limits.h). */
#define PEER_ADDRS_MAX 8u
#define REC_FIELDS_MAX 16u
#define ERR_MAX 512u

/* ---- building records ---- */

typedef struct rec {
    const char *kind;
    const char *k[REC_FIELDS_MAX];
    tw_val v[REC_FIELDS_MAX];
    size_t n;
} rec;

static void set(rec *r, const char *k, tw_val v)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->k[i], k)) { r->v[i] = v; return; }
    assert_true(r->n < REC_FIELDS_MAX);
    r->k[r->n] = k;
    r->v[r->n++] = v;
}

static void del(rec *r, const char *k)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->k[i], k)) {
            memmove(&r->k[i], &r->k[i + 1], (r->n - i - 1) * sizeof r->k[0]);
            memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof r->v[0]);
            r->n--;
            return;
        }
}

static tw_val S(const char *s) { return tw_v_cstr(s); }

static tw_arena arena;

static tw_val list(size_t n, const char *const *items)
{
    tw_val a;
    assert_int_equal(tw_v_arr(&arena, &a, (uint32_t)n), 0);
    for (size_t i = 0; i < n; i++) a.v.arr[i] = tw_v_cstr(items[i]);
    return a;
}

static tw_val body_of(const rec *r)
{
    tw_val m;
    assert_int_equal(tw_v_map(&arena, &m, (uint32_t)r->n), 0);
    for (size_t i = 0; i < r->n; i++) {
        m.v.map[i].k = tw_v_cstr(r->k[i]);
        m.v.map[i].v = r->v[i];
    }
    return m;
}

static char errbuf[ERR_MAX];

static int run(const rec *r)
{
    tw_val b = body_of(r);
    return tw_schema_validate(r->kind, strlen(r->kind), &b, errbuf, sizeof errbuf);
}

#define OK(r) do { int rc_ = run(r); if (rc_) fail_msg("expected ok, got %d: %s", rc_, errbuf); } while (0)
#define BAD(r, msg) do { \
        int rc_ = run(r); \
        if (rc_ != TW_ESCHEMA) fail_msg("expected TW_ESCHEMA for \"%s\", got %d", msg, rc_); \
        if (!strstr(errbuf, msg)) fail_msg("message \"%s\" lacks \"%s\"", errbuf, msg); \
    } while (0)
#define BAD_WITH(base, field, val, msg) do { rec t_ = (base); set(&t_, field, val); BAD(&t_, msg); } while (0)
#define OK_WITH(base, field, val) do { rec t_ = (base); set(&t_, field, val); OK(&t_); } while (0)

/* Valid key texts from fixed bytes. */
static char key1[TW_KEYTEXT_LEN + 1], key2[TW_KEYTEXT_LEN + 1];

static char *fill(size_t n, char c)
{
    char *s = tw_arena_alloc(&arena, n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = 0;
    return s;
}

static char *cat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = tw_arena_alloc(&arena, la + lb + 1);
    assert_non_null(s);
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

static int setup(void **state)
{
    uint8_t k[32];
    tw_arena_init(&arena, 0);
    memset(k, 0x11, sizeof k);
    tw_keytext_encode(key1, TW_KEYTEXT_PREFIX, k);
    memset(k, 0x22, sizeof k);
    tw_keytext_encode(key2, TW_KEYTEXT_PREFIX, k);
    return 0;
}

static int teardown(void **state)
{
    tw_arena_free(&arena);
    return 0;
}

static rec group_min(void)
{
    rec r = { .kind = "group" };
    set(&r, "name", S("Oxford Ramallah Friendship Association"));
    set(&r, "group_kind", S("friendship_group"));
    set(&r, "nation", S("england"));
    return r;
}

static rec place_min(void)
{
    rec r = { .kind = "place" };
    set(&r, "name_en", S("Beit Sahour"));
    set(&r, "place_kind", S("town"));
    set(&r, "country", S("PS"));
    return r;
}

static rec link_min(void)
{
    rec r = { .kind = "link" };
    set(&r, "group", S("main"));
    set(&r, "formality", S("friendship_link"));
    set(&r, "status", S("active"));
    return r;
}

static rec vouch_min(void)
{
    rec r = { .kind = "vouch" };
    set(&r, "key", S(key1));
    set(&r, "name", S("Camden Abu Dis Friendship Association"));
    return r;
}

static rec peer_min(void)
{
    static const char *const a[] = { "127.0.0.1:7000" };
    rec r = { .kind = "peer" };
    set(&r, "addresses", list(1, a));
    return r;
}

/* ---- string rules shared by every STR/TEXT field ---- */

static void check_str_field(rec base, const char *field, size_t max, bool text)
{
    OK_WITH(base, field, S(fill(max, 'a')));
    BAD_WITH(base, field, S(fill(max + 1, 'a')), "longer than");
    BAD_WITH(base, field, S(""), "is empty");
    BAD_WITH(base, field, S("   "), "is blank");
    /* Space is Unicode's White_Space plus invisible format characters
     * (SCHEMA.md "Strings"): no-break, ideographic and thin spaces,
     * zero-width space, direction marks, BOM, Arabic letter mark. */
    BAD_WITH(base, field, S("\xc2\xa0"), "is blank");
    BAD_WITH(base, field, S("\xc2\xa0\xc2\xa0\xc2\xa0"), "is blank");
    BAD_WITH(base, field, S("\xe3\x80\x80"), "is blank");
    BAD_WITH(base, field, S("\xe2\x80\x89\xe2\x80\x8b\xe2\x80\x8f\xef\xbb\xbf\xd8\x9c \xe3\x80\x80"), "is blank");
    BAD_WITH(base, field, S("\xe2\x81\xa6\xe2\x81\xa9\xc2\xad\xe1\x85\x9f"), "is blank");
    OK_WITH(base, field, S("\xe3\x80\x80x\xe3\x80\x80"));
    OK_WITH(base, field, S("\xe2\x80\x8f\xd8\xa8"));
    BAD_WITH(base, field, tw_v_uint(3), "must be a string");
    BAD_WITH(base, field, tw_v_bool(true), "must be a string");
    BAD_WITH(base, field, S("tab\there"), "control character");
    BAD_WITH(base, field, S("del\x7f"), "control character");
    BAD_WITH(base, field, S("c1\xc2\x85"), "control character");
    BAD_WITH(base, field, S("cr\rhere"), "control character");
    /* Controls past the first visible character, after characters of two
     * and three bytes (the check goes byte by byte from there). */
    BAD_WITH(base, field, S("\xe2\x80\x8bx\xe3\x80\x80\xc2\x9f"), "control character");
    BAD_WITH(base, field, S("Caf\xc3\xa9\xd8\xa8\x1b[2J"), "control character");
    BAD_WITH(base, field, S("bad\xff"), "not valid UTF-8");
    OK_WITH(base, field, S("\xd8\xa8\xd9\x8a\xd8\xaa \xd8\xb3\xd8\xa7\xd8\xad\xd9\x88\xd8\xb1"));
    OK_WITH(base, field, S("Caf\xc3\xa9 \xc2\xa0 ok"));
    if (text) OK_WITH(base, field, S("line one\nline two"));
    else BAD_WITH(base, field, S("line one\nline two"), "control character");
    /* Multi-byte characters count in bytes: 511 two-byte letters plus 2. */
    char *s = fill(max, 'a');
    for (size_t i = 0; i + 1 < max; i += 2) { s[i] = (char)0xc3; s[i + 1] = (char)0xa9; }
    OK_WITH(base, field, S(s));
}

static void check_enum_field(rec base, const char *field, const char *const *good)
{
    for (size_t i = 0; good[i]; i++) OK_WITH(base, field, S(good[i]));
    BAD_WITH(base, field, S("nonsense"), "is not one of");
    BAD_WITH(base, field, S("England"), "is not one of");
    BAD_WITH(base, field, tw_v_uint(1), "must be a string");
    BAD_WITH(base, field, S(""), "is empty");
}

static void check_bool_field(rec base, const char *field)
{
    OK_WITH(base, field, tw_v_bool(true));
    OK_WITH(base, field, tw_v_bool(false));
    BAD_WITH(base, field, S("true"), "must be true or false");
    BAD_WITH(base, field, tw_v_uint(1), "must be true or false");
    BAD_WITH(base, field, tw_v_nil(), "must be true or false");
}

static void check_date_field(rec base, const char *field)
{
    static const char *const good[] = { "1900", "2200", "2024-02", "2024-02-29", "2000-02-29",
                                        "1999-12-31", "2023-01-31", NULL };
    static const char *const bad[] = { "1899", "2201", "2023-02-29", "1900-02-29", "2024-13",
                                       "2024-00", "2024-04-31", "2024-01-00", "2024-1-01",
                                       "20240101", "24", "2024-01-01T00:00", "abcd", "2024/01",
                                       NULL };
    for (size_t i = 0; good[i]; i++) OK_WITH(base, field, S(good[i]));
    for (size_t i = 0; bad[i]; i++) {
        rec t = base;
        set(&t, field, S(bad[i]));
        assert_int_equal(run(&t), TW_ESCHEMA);
        assert_non_null(strstr(errbuf, field));
    }
    BAD_WITH(base, field, tw_v_uint(2024), "must be a string");
}

static void check_url_field(rec base, const char *field)
{
    static const char *const good[] = {
        "https://example.org", "http://example.org/", "https://www.example.org/path?q=1#x",
        "HTTPS://Example.ORG", "https://example.org:8443/x", "http://192.0.2.1/",
        "http://[2001:db8::1]:8080/", "https://localhost", NULL };
    static const char *const bad[] = {
        "ftp://example.org", "example.org", "https://", "https:///path", "https://exa mple.org",
        "https://user@example.org", "https://example.org:0/", "https://example.org:99999",
        "https://-bad.org", "https://bad_host.org", "https://1.2.3.999/",
        "https://[nonsense]/", "https://example.org/\xc3\xa9", "mailto:info@example.org", NULL };
    for (size_t i = 0; good[i]; i++) OK_WITH(base, field, S(good[i]));
    for (size_t i = 0; bad[i]; i++) {
        rec t = base;
        set(&t, field, S(bad[i]));
        if (run(&t) != TW_ESCHEMA) fail_msg("url %s accepted", bad[i]);
    }
    const char *pre = "https://example.org/";
    char *at = cat(pre, fill(TW_STR_MAX - strlen(pre), 'p'));
    OK_WITH(base, field, S(at));
    BAD_WITH(base, field, S(cat(at, "p")), "longer than 1024");
}

static void check_email_field(rec base, const char *field)
{
    OK_WITH(base, field, S("info@example.org"));
    OK_WITH(base, field, S("twinning+news@mail.example.org.uk"));
    BAD_WITH(base, field, S("info.example.org"), "exactly one @");
    BAD_WITH(base, field, S("a@b@example.org"), "exactly one @");
    BAD_WITH(base, field, S("in fo@example.org"), "without spaces");
    BAD_WITH(base, field, S("@example.org"), "before the @");
    BAD_WITH(base, field, S("info@localhost"), "domain name");
    BAD_WITH(base, field, S("info@"), "domain name");
    OK_WITH(base, field, S(cat(fill(64, 'l'), "@example.org")));
    BAD_WITH(base, field, S(cat(fill(65, 'l'), "@example.org")), "before the @");
    BAD_WITH(base, field, S(cat("info@", fill(300, 'd'))), "254");
}

static void check_key_field(rec base, const char *field)
{
    OK_WITH(base, field, S(key1));
    char k[TW_KEYTEXT_LEN + 2];
    memcpy(k, key1, sizeof key1);
    k[10] = k[10] == 'a' ? 'b' : 'a';
    BAD_WITH(base, field, S(k), "checksum");
    memcpy(k, key1, sizeof key1);
    k[1] = 'x';
    BAD_WITH(base, field, S(k), "twk_");
    memcpy(k, key1, sizeof key1);
    k[20] = 'A';
    BAD_WITH(base, field, S(k), "base32");
    memcpy(k, key1, sizeof key1);
    k[20] = '1';
    BAD_WITH(base, field, S(k), "base32");
    memcpy(k, key1, sizeof key1);
    k[TW_KEYTEXT_LEN - 1] = 0;
    BAD_WITH(base, field, S(k), "is not a key");
    memcpy(k, key1, sizeof key1);
    k[TW_KEYTEXT_LEN] = 'a';
    k[TW_KEYTEXT_LEN + 1] = 0;
    BAD_WITH(base, field, S(k), "is not a key");
    BAD_WITH(base, field, tw_v_bin(key1, 32), "must be a string");
}

/* A list field: type, count limits, item limits, total bytes. */
static void check_list_field(rec base, const char *field, size_t maxn)
{
    const char *items[TW_LIST_MAX + 1];
    static const char *const two[] = { "one", "one" };
    for (size_t i = 0; i <= TW_LIST_MAX; i++) {
        char *s = tw_arena_alloc(&arena, 16);
        snprintf(s, 16, "item %zu", i);
        items[i] = s;
    }
    OK_WITH(base, field, list(1, items));
    OK_WITH(base, field, list(maxn, items));
    BAD_WITH(base, field, list(maxn + 1, items), "more than");
    BAD_WITH(base, field, list(0, items), "empty list");
    BAD_WITH(base, field, list(2, two), "repeats item 0");
    BAD_WITH(base, field, S("item"), "must be a list");
    tw_val l = list(2, items);
    l.v.arr[1] = tw_v_uint(5);
    BAD_WITH(base, field, l, "[1]: must be a string");
    l = list(2, items);
    l.v.arr[1] = S("");
    BAD_WITH(base, field, l, "[1]: is empty");
    l = list(1, items);
    l.v.arr[0] = S(fill(TW_STR_MAX, 'x'));
    OK_WITH(base, field, l);
    l.v.arr[0] = S(fill(TW_STR_MAX + 1, 'x'));
    BAD_WITH(base, field, l, "[0]: is 1025 bytes, longer than 1024");
    /* Total bytes: four distinct 1024-byte items fill TW_DESC_MAX exactly. */
    l = list(5, items);
    for (size_t i = 0; i < 5; i++) l.v.arr[i] = S(fill(TW_DESC_MAX / 4, (char)('a' + i)));
    l.len = 4;
    OK_WITH(base, field, l);
    l.len = 5;
    l.v.arr[4] = S("e");
    BAD_WITH(base, field, l, "items total 4097 bytes, more than 4096");
}

/* ---- tests ---- */

static void test_kinds_api(void **state)
{
    size_t n;
    const tw_kind_schema *ks = tw_schema_kinds(&n);
    assert_int_equal(n, 9);
    static const char *const names[] = { "group", "place", "link", "vouch", "peer",
                                         "device", "succession", "recovery", "keyplan" };
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(ks[i].kind, names[i]);
        assert_ptr_equal(tw_schema_kind(names[i], strlen(names[i])), &ks[i]);
        assert_non_null(ks[i].help);
        assert_true(strlen(ks[i].kind) <= TW_KIND_MAX);
        for (size_t j = 0; j < ks[i].nfields; j++) {
            const tw_field *f = &ks[i].fields[j];
            assert_ptr_equal(tw_schema_field(&ks[i], f->name, strlen(f->name)), f);
            assert_non_null(f->help);
            assert_true((f->type == TW_FT_ENUM) == (f->values != NULL));
        }
    }
    assert_null(tw_schema_kind("groups", 6));
    assert_null(tw_schema_kind("grou", 4));
    assert_null(tw_schema_kind("group", 4));
    assert_null(tw_schema_field(&ks[0], "nam", 3));
    assert_non_null(tw_schema_field(&ks[0], "namexyz", 4));
}

static void test_unknown_kind(void **state)
{
    tw_val b = tw_v_nil();
    assert_int_equal(tw_schema_validate("event", 5, &b, errbuf, sizeof errbuf), TW_ENOTFOUND);
    assert_string_equal(errbuf, "event: unknown kind (known: group, place, link, vouch, peer, device, succession, recovery, keyplan)");
    assert_int_equal(tw_schema_check_slot("event", 5, "x", 1, errbuf, sizeof errbuf), TW_ENOTFOUND);
    tw_val v;
    assert_int_equal(tw_schema_coerce(&arena, "event", "x", "y", &v, errbuf, sizeof errbuf), TW_ENOTFOUND);
    /* A hostile kind is printed without its control characters. */
    assert_int_equal(tw_schema_validate("\x1b[2J", 4, &b, errbuf, sizeof errbuf), TW_ENOTFOUND);
    assert_null(strchr(errbuf, '\x1b'));
}

static void test_body_shape(void **state)
{
    tw_val b = tw_v_nil();
    assert_int_equal(tw_schema_validate("group", 5, &b, errbuf, sizeof errbuf), 0);
    b = tw_v_cstr("x");
    assert_int_equal(tw_schema_validate("group", 5, &b, errbuf, sizeof errbuf), TW_ESCHEMA);
    assert_string_equal(errbuf, "group: body must be a map");
    /* Duplicate and non-string keys in a hand-built tree. */
    rec r = group_min();
    tw_val m = body_of(&r);
    m.v.map[1].k = tw_v_cstr("name");
    assert_int_equal(tw_schema_validate("group", 5, &m, errbuf, sizeof errbuf), TW_ESCHEMA);
    assert_string_equal(errbuf, "group: field name appears twice");
    m = body_of(&r);
    m.v.map[1].k = tw_v_uint(1);
    assert_int_equal(tw_schema_validate("group", 5, &m, errbuf, sizeof errbuf), TW_ESCHEMA);
    assert_string_equal(errbuf, "group: field names must be strings");
    /* A tiny error buffer is filled safely; NULL is allowed. */
    char tiny[8];
    m = tw_v_cstr("x");
    assert_int_equal(tw_schema_validate("group", 5, &m, tiny, sizeof tiny), TW_ESCHEMA);
    assert_string_equal(tiny, "group: ");
    assert_int_equal(tw_schema_validate("group", 5, &m, NULL, 0), TW_ESCHEMA);
}

static void test_group(void **state)
{
    rec g = group_min();
    OK(&g);
    rec full = g;
    set(&full, "region", S("E12000008"));
    set(&full, "local_authority", S("Oxford"));
    set(&full, "formal_status", S("council_pact"));
    set(&full, "founded", S("1988-05"));
    set(&full, "website", S("https://example.org"));
    set(&full, "email", S("secretary@example.org"));
    set(&full, "seeking_partner", tw_v_bool(false));
    set(&full, "description", S("Exchanges of school classes and choirs.\nFounded in 1988."));
    OK(&full);

    check_str_field(g, "name", TW_STR_MAX, false);
    check_str_field(g, "local_authority", TW_STR_MAX, false);
    check_str_field(g, "description", TW_DESC_MAX, true);
    static const char *const gk[] = { "twinning_association", "friendship_group", "student_union",
                                      "church", "school", "university", "council", "health_link",
                                      "trade_union", "other", NULL };
    check_enum_field(g, "group_kind", gk);
    static const char *const fs[] = { "council_pact", "informal", NULL };
    check_enum_field(g, "formal_status", fs);
    check_date_field(g, "founded");
    check_url_field(g, "website");
    check_email_field(g, "email");
    check_bool_field(g, "seeking_partner");

    /* Nation and region. */
    static const struct { const char *nation, *region; } ok[] = {
        { "england", "E12000001" }, { "england", "E12000009" }, { "wales", "W92000004" },
        { "scotland", "S92000003" }, { "northern_ireland", "N92000002" },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        rec t = g;
        set(&t, "nation", S(ok[i].nation));
        set(&t, "region", S(ok[i].region));
        OK(&t);
    }
    rec t = g;
    set(&t, "nation", S("wales"));
    OK(&t);   /* region is optional */
    set(&t, "region", S("E12000007"));
    BAD(&t, "group.region: \"E12000007\" (London) is in england, not wales");
    t = g;
    set(&t, "region", S("W92000004"));
    BAD(&t, "group.region: \"W92000004\" (Wales) is in wales, not england");
    BAD_WITH(g, "region", S("E12000010"), "group.region: \"E12000010\" is not a known UK region code");
    BAD_WITH(g, "region", S("e12000001"), "not a known UK region code");
    BAD_WITH(g, "region", S("London"), "not a known UK region code");
    BAD_WITH(g, "region", tw_v_uint(12000001), "must be a string");
    static const char *const nations[] = { "england", "wales", "scotland", "northern_ireland", NULL };
    check_enum_field(g, "nation", nations);
    BAD_WITH(g, "nation", S("cornwall"),
             "group.nation: \"cornwall\" is not one of england, wales, scotland, northern_ireland");

    /* Required fields and unknown fields. */
    static const char *const req[] = { "name", "group_kind", "nation" };
    for (size_t i = 0; i < 3; i++) {
        rec u = g;
        del(&u, req[i]);
        char want[64];
        snprintf(want, sizeof want, "group.%s: required field is missing", req[i]);
        BAD(&u, want);
    }
    BAD_WITH(g, "foo", S("x"), "group.foo: unknown field (known: name, group_kind, nation, region, "
             "local_authority, formal_status, founded, website, email, seeking_partner, description, own_key)");
    BAD_WITH(g, "phone", S("01234 567890"), "group.phone: unknown field");
    BAD_WITH(g, "contact_name", S("x"), "group.contact_name: unknown field");
    BAD_WITH(g, "Name", S("x"), "group.Name: unknown field");
}

static void test_place(void **state)
{
    rec p = place_min();
    OK(&p);
    rec full = p;
    static const char *const other[] = { "Beit Sahur", "Bayt Sahur" };
    set(&full, "name_ar", S("\xd8\xa8\xd9\x8a\xd8\xaa \xd8\xb3\xd8\xa7\xd8\xad\xd9\x88\xd8\xb1"));
    set(&full, "other_names", list(2, other));
    set(&full, "subdivision", S("PS-BTH"));
    set(&full, "area", S("west_bank"));
    set(&full, "seeking_partner", tw_v_bool(true));
    set(&full, "website", S("https://example.ps"));
    set(&full, "email", S("committee@example.ps"));
    set(&full, "description", S("A town east of Bethlehem."));
    set(&full, "committee", S(key2));
    OK(&full);

    check_str_field(p, "name_en", TW_STR_MAX, false);
    check_str_field(p, "name_ar", TW_STR_MAX, false);
    check_str_field(p, "description", TW_DESC_MAX, true);
    check_list_field(p, "other_names", TW_LIST_MAX);
    static const char *const pk[] = { "city", "town", "village", "refugee_camp", "bedouin_community",
                                      "neighbourhood", NULL };
    check_enum_field(p, "place_kind", pk);
    check_bool_field(p, "seeking_partner");
    check_url_field(p, "website");
    check_email_field(p, "email");
    check_key_field(p, "committee");

    /* Country. */
    OK_WITH(p, "country", S("GB"));
    OK_WITH(p, "country", S("ZA"));
    BAD_WITH(p, "country", S("ps"), "place.country: \"ps\" is not an ISO 3166-1 alpha-2 code");
    BAD_WITH(p, "country", S("P"), "not an ISO 3166-1");
    BAD_WITH(p, "country", S("PSE"), "not an ISO 3166-1");
    BAD_WITH(p, "country", S("P1"), "not an ISO 3166-1");
    BAD_WITH(p, "country", tw_v_uint(1), "must be a string");

    /* Subdivision. */
    size_t ng;
    const tw_code *gov = tw_codes_governorates(&ng);
    for (size_t i = 0; i < ng; i++) OK_WITH(p, "subdivision", S(gov[i].code));
    BAD_WITH(p, "subdivision", S("PS-XXX"), "place.subdivision: \"PS-XXX\" is not a known governorate code");
    {
        rec t = p;
        set(&t, "subdivision", S("PS-XXX"));
        assert_int_equal(run(&t), TW_ESCHEMA);
        assert_string_equal(errbuf, "place.subdivision: \"PS-XXX\" is not a known governorate code");
    }
    BAD_WITH(p, "subdivision", S("PS-bth"), "not an ISO 3166-2 code");
    BAD_WITH(p, "subdivision", S("PS"), "not an ISO 3166-2 code");
    BAD_WITH(p, "subdivision", S("PS-ABCD"), "not an ISO 3166-2 code");
    BAD_WITH(p, "subdivision", S("PSBTH"), "not an ISO 3166-2 code");
    BAD_WITH(p, "subdivision", S("GB-LND"), "place.subdivision: \"GB-LND\" is not in country \"PS\"");
    {
        rec t = p;
        set(&t, "country", S("GB"));
        set(&t, "subdivision", S("GB-LND"));
        OK(&t);
        set(&t, "subdivision", S("PS-BTH"));
        BAD(&t, "is not in country \"GB\"");
        set(&t, "subdivision", S("GB-LND"));
        set(&t, "area", S("west_bank"));
        BAD(&t, "place.area: applies only to country \"PS\"");
    }

    /* Area against governorate. */
    static const struct { const char *sub, *area; bool ok; } cases[] = {
        { "PS-BTH", "west_bank", true }, { "PS-BTH", "gaza", false },
        { "PS-BTH", "east_jerusalem", false }, { "PS-JEM", "east_jerusalem", true },
        { "PS-JEM", "west_bank", true }, { "PS-JEM", "gaza", false },
        { "PS-GZA", "gaza", true }, { "PS-RFH", "gaza", true }, { "PS-RFH", "west_bank", false },
        { "PS-GZA", "east_jerusalem", false }, { NULL, "west_bank", true }, { NULL, "gaza", true },
        { NULL, "east_jerusalem", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rec t = p;
        if (cases[i].sub) set(&t, "subdivision", S(cases[i].sub));
        set(&t, "area", S(cases[i].area));
        int rc = run(&t);
        if (cases[i].ok && rc) fail_msg("%s/%s refused: %s", cases[i].sub, cases[i].area, errbuf);
        if (!cases[i].ok && (rc != TW_ESCHEMA || strncmp(errbuf, "place.area: ", 12)))
            fail_msg("%s/%s accepted or wrong message: %s", cases[i].sub, cases[i].area, errbuf);
    }
    {
        rec t = p;
        set(&t, "subdivision", S("PS-BTH"));
        set(&t, "area", S("gaza"));
        BAD(&t, "place.area: \"gaza\" does not match subdivision \"PS-BTH\" (Bethlehem, west_bank)");
        set(&t, "area", S("east_jerusalem"));
        BAD(&t, "place.area: \"east_jerusalem\" needs subdivision \"PS-JEM\"");
    }
    /* The enumeration itself, with a subdivision each value agrees with. */
    static const char *const jem_areas[] = { "west_bank", "east_jerusalem", NULL };
    static const char *const gaza_areas[] = { "gaza", NULL };
    {
        rec t = p;
        set(&t, "subdivision", S("PS-JEM"));
        check_enum_field(t, "area", jem_areas);
        set(&t, "subdivision", S("PS-GZA"));
        check_enum_field(t, "area", gaza_areas);
    }

    static const char *const req[] = { "name_en", "place_kind", "country" };
    for (size_t i = 0; i < 3; i++) {
        rec u = p;
        del(&u, req[i]);
        char want[64];
        snprintf(want, sizeof want, "place.%s: required field is missing", req[i]);
        BAD(&u, want);
    }
    BAD_WITH(p, "mayor", S("x"), "place.mayor: unknown field (known: name_en, name_ar, other_names, "
             "place_kind, country, subdivision, area, seeking_partner, website, email, description, committee)");
}

static void test_link(void **state)
{
    rec l = link_min();
    OK(&l);
    rec full = l;
    static const char *const acts[] = { "school exchange", "olive harvest visits" };
    set(&full, "place", S(cat(cat(key2, "/"), "beit-sahour")));
    set(&full, "party_key", S(key2));
    set(&full, "since", S("1990"));
    set(&full, "status", S("ended"));
    set(&full, "ended", S("2015-06-30"));
    set(&full, "activities", list(2, acts));
    set(&full, "description", S("Exchanges since 1990."));
    OK(&full);

    /* References. */
    static const char *const refs_ok[] = { "main", "group.1", "a", "twinning_2024", NULL };
    static const char *const refs_bad[] = { "", "Main", ".x", "-x", "a b", "/x", "x/", NULL };
    for (size_t i = 0; refs_ok[i]; i++) {
        OK_WITH(l, "group", S(refs_ok[i]));
        OK_WITH(l, "place", S(cat(cat(key1, "/"), refs_ok[i])));
    }
    for (size_t i = 0; refs_bad[i]; i++) {
        rec t = l;
        set(&t, "group", S(refs_bad[i]));
        if (run(&t) != TW_ESCHEMA || !strstr(errbuf, "link.group")) fail_msg("ref \"%s\" accepted", refs_bad[i]);
    }
    BAD_WITH(l, "group", S("Main"), "link.group: \"Main\" is not a reference (SLOT or KEY/SLOT)");
    BAD_WITH(l, "place", S("twk_abc/main"), "KEY/SLOT with a bad key");
    BAD_WITH(l, "place", S(cat(key1, "/Main")), "KEY/SLOT with a bad slot");
    BAD_WITH(l, "place", S(cat(key1, "/")), "KEY/SLOT with a bad slot");
    BAD_WITH(l, "place", S(cat(cat(key1, "/"), fill(TW_SLOT_MAX + 1, 's'))), "bad slot");
    OK_WITH(l, "place", S(cat(cat(key1, "/"), fill(TW_SLOT_MAX, 's'))));
    BAD_WITH(l, "group", tw_v_uint(1), "must be a string");
    check_key_field(l, "party_key");

    /* At least one party. */
    {
        rec t = l;
        del(&t, "group");
        BAD(&t, "link: needs at least one of group, place, party_key");
        set(&t, "party_key", S(key1));
        OK(&t);
        del(&t, "party_key");
        set(&t, "place", S("bethlehem"));
        OK(&t);
    }

    static const char *const fm[] = { "formal_twinning", "friendship_link", "institutional_link",
                                      "exploring", NULL };
    check_enum_field(l, "formality", fm);
    static const char *const st[] = { "exploring", "active", "dormant", "ended", NULL };
    check_enum_field(l, "status", st);
    check_date_field(l, "since");
    {
        rec t = l;
        set(&t, "status", S("ended"));
        check_date_field(t, "ended");
    }
    check_list_field(l, "activities", TW_LIST_MAX);
    check_str_field(l, "description", TW_DESC_MAX, true);

    /* Ended: only with status ended, not before since. */
    BAD_WITH(l, "ended", S("2020"), "link.ended: only allowed when status is \"ended\"");
    {
        rec t = l;
        set(&t, "status", S("ended"));
        set(&t, "since", S("2005-06"));
        set(&t, "ended", S("2005"));
        OK(&t);
        set(&t, "ended", S("2005-06-01"));
        OK(&t);
        set(&t, "ended", S("2005-05-31"));
        BAD(&t, "link.ended: \"2005-05-31\" is before since \"2005-06\"");
        set(&t, "ended", S("2004"));
        BAD(&t, "is before since");
        del(&t, "ended");
        OK(&t);   /* ended is optional even when status is ended */
    }
    static const char *const req[] = { "formality", "status" };
    for (size_t i = 0; i < 2; i++) {
        rec u = l;
        del(&u, req[i]);
        char want[64];
        snprintf(want, sizeof want, "link.%s: required field is missing", req[i]);
        BAD(&u, want);
    }
    BAD_WITH(l, "foo", S("x"), "link.foo: unknown field (known: group, place, party_key, formality, "
             "status, since, ended, activities, description)");
}

static void test_vouch(void **state)
{
    rec v = vouch_min();
    OK(&v);
    check_key_field(v, "key");
    check_str_field(v, "name", TW_STR_MAX, false);
    static const char *const roles[] = { "member", "hub", NULL };
    check_enum_field(v, "role", roles);
    check_bool_field(v, "revoked");
    static const char *const req[] = { "key", "name" };
    for (size_t i = 0; i < 2; i++) {
        rec u = v;
        del(&u, req[i]);
        char want[64];
        snprintf(want, sizeof want, "vouch.%s: required field is missing", req[i]);
        BAD(&u, want);
    }
    BAD_WITH(v, "depth", tw_v_uint(1), "vouch.depth: unknown field (known: key, name, role, revoked)");
}

/* The four kinds of associations and their keys, through the record rule
 * every door applies: slot equals the named key, no tombstones, from only
 * with revoked, recovery.next not the lost key. */
static int rule(const char *kind, const char *slot_key, const rec *r)
{
    tw_val b = r ? body_of(r) : (tw_val){ .type = TW_NIL };
    return tw_schema_check_record(kind, strlen(kind), slot_key, strlen(slot_key), &b, 0, errbuf, sizeof errbuf);
}

static void test_ident_kinds(void **state)
{
    rec d = { .kind = "device" };
    set(&d, "key", S(key1));
    set(&d, "label", S("office laptop"));
    assert_int_equal(rule("device", key1, &d), 0);
    assert_int_equal(rule("device", key2, &d), TW_ESCHEMA);
    assert_string_equal(errbuf, "device.key: differs from the slot key");
    assert_int_equal(rule("device", "main", &d), TW_ESCHEMA);
    assert_non_null(strstr(errbuf, "must be the device's key"));
    rec d2 = d;
    set(&d2, "from", tw_v_uint(5));
    assert_int_equal(rule("device", key1, &d2), TW_ESCHEMA);
    assert_string_equal(errbuf, "device.from: only with revoked: true");
    set(&d2, "revoked", tw_v_bool(true));
    assert_int_equal(rule("device", key1, &d2), 0);
    rec d3 = d;
    del(&d3, "label");
    assert_int_equal(rule("device", key1, &d3), TW_ESCHEMA);
    assert_string_equal(errbuf, "device.label: required field is missing");
    assert_int_equal(rule("device", key1, NULL), TW_ESCHEMA);
    assert_string_equal(errbuf, "device: cannot be deleted (publish it with revoked: true instead)");

    rec sc = { .kind = "succession" };
    set(&sc, "next", S(key2));
    assert_int_equal(rule("succession", key2, &sc), 0);
    assert_int_equal(rule("succession", key1, &sc), TW_ESCHEMA);
    assert_string_equal(errbuf, "succession.next: differs from the slot key");
    assert_int_equal(rule("succession", key2, NULL), TW_ESCHEMA);
    assert_string_equal(errbuf, "succession: cannot be deleted (it is permanent)");

    rec rc = { .kind = "recovery" };
    set(&rc, "key", S(key1));
    set(&rc, "next", S(key2));
    set(&rc, "from", tw_v_uint(1700000000000ull));
    assert_int_equal(rule("recovery", key1, &rc), 0);
    rec rc2 = rc;
    set(&rc2, "next", S(key1));
    assert_int_equal(rule("recovery", key1, &rc2), TW_ESCHEMA);
    assert_string_equal(errbuf, "recovery.next: is the lost key itself");
    rec rc3 = rc;
    del(&rc3, "from");
    assert_int_equal(rule("recovery", key1, &rc3), TW_ESCHEMA);
    assert_string_equal(errbuf, "recovery.from: required field is missing");
    assert_int_equal(rule("recovery", key1, NULL), TW_ESCHEMA);

    char *hex = fill(64, 'a');
    rec kp = { .kind = "keyplan" };
    set(&kp, "commit", S(hex));
    assert_int_equal(rule("keyplan", hex, &kp), 0);
    char *h63 = fill(63, 'a'), *hup = fill(64, 'A'), *h2 = fill(64, 'b');
    assert_int_equal(rule("keyplan", h63, &kp), TW_ESCHEMA);
    assert_non_null(strstr(errbuf, "must be the commitment: is not 64 hex digits"));
    assert_int_equal(rule("keyplan", hup, &kp), TW_ESCHEMA);
    assert_int_equal(rule("keyplan", h2, &kp), TW_ESCHEMA);
    assert_string_equal(errbuf, "keyplan.commit: differs from the slot key");
    assert_int_equal(rule("keyplan", hex, NULL), TW_ESCHEMA);
}

static void test_peer(void **state)
{
    rec p = peer_min();
    OK(&p);
    static const char *const good[] = {
        "127.0.0.1:7000", "[::1]:7000", "[2001:db8::17]:65535", "node.example.org:443",
        "localhost:1", "0.0.0.0:80", "255.255.255.255:9", "[::ffff:192.0.2.1]:80",
        "a-b.example:10", NULL };
    static const char *const bad[] = {
        "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:080", "127.0.0.1:+80",
        "1.2.3.256:1", "01.2.3.4:1", "1.2.3:80", "[::1]", "::1:80", "[::1:80", "[]:80",
        "[fe80::1%eth0]:80", "-bad.org:1", "bad-.org:1", "a..b:1", ".a:1", "a.:1", ":80",
        "host name:80", "host_name:80", "example.org:http", "1234:80", NULL };
    for (size_t i = 0; good[i]; i++) {
        rec t = p;
        set(&t, "addresses", list(1, &good[i]));
        int rc = run(&t);
        if (rc) fail_msg("address %s refused: %s", good[i], errbuf);
    }
    for (size_t i = 0; bad[i]; i++) {
        rec t = p;
        set(&t, "addresses", list(1, &bad[i]));
        if (run(&t) != TW_ESCHEMA || !strstr(errbuf, "is not HOST:PORT"))
            fail_msg("address %s: %s", bad[i], errbuf);
    }
    /* Host name length: 253 bytes in 63-byte labels is the most. */
    char *h = cat(cat(cat(cat(fill(63, 'a'), "."), cat(fill(63, 'b'), ".")), cat(fill(63, 'c'), ".")),
                  fill(61, 'd'));
    assert_int_equal(strlen(h), 253);
    const char *one[1] = { cat(h, ":1") };
    set(&p, "addresses", list(1, one));
    OK(&p);
    one[0] = cat(cat(h, "d"), ":1");
    set(&p, "addresses", list(1, one));
    BAD(&p, "is not HOST:PORT");
    one[0] = cat(fill(64, 'a'), ".org:1");
    set(&p, "addresses", list(1, one));
    BAD(&p, "is not HOST:PORT");

    const char *many[PEER_ADDRS_MAX + 1];
    for (size_t i = 0; i <= PEER_ADDRS_MAX; i++) {
        char *s = tw_arena_alloc(&arena, 32);
        snprintf(s, 32, "192.0.2.%zu:7000", i + 1);
        many[i] = s;
    }
    set(&p, "addresses", list(PEER_ADDRS_MAX, many));
    OK(&p);
    set(&p, "addresses", list(PEER_ADDRS_MAX + 1, many));
    BAD(&p, "peer.addresses: has 9 items, more than 8");
    set(&p, "addresses", list(0, many));
    BAD(&p, "peer.addresses: is an empty list");
    many[1] = many[0];
    set(&p, "addresses", list(2, many));
    BAD(&p, "peer.addresses[1]: repeats item 0");
    set(&p, "addresses", S("127.0.0.1:7000"));
    BAD(&p, "must be a list");
    del(&p, "addresses");
    BAD(&p, "peer.addresses: required field is missing");
    BAD_WITH(peer_min(), "host", S("x"), "peer.host: unknown field (known: addresses)");
}

static int slot(const char *kind, const char *s, size_t n)
{
    return tw_schema_check_slot(kind, strlen(kind), s, n, errbuf, sizeof errbuf);
}

static void test_slots(void **state)
{
    static const char *const kinds3[] = { "group", "place", "link" };
    static const char *const good[] = { "main", "a", "0", "beit-sahour", "group.2024", "x_y", "_x",
                                        "a..b", NULL };
    static const char *const bad[] = { "", ".x", "-x", "Main", "a b", "a/b", "caf\xc3\xa9", "a:b",
                                       "x\n", NULL };
    for (size_t k = 0; k < 3; k++) {
        for (size_t i = 0; good[i]; i++)
            if (slot(kinds3[k], good[i], strlen(good[i]))) fail_msg("%s slot %s: %s", kinds3[k], good[i], errbuf);
        for (size_t i = 0; bad[i]; i++)
            if (slot(kinds3[k], bad[i], strlen(bad[i])) != TW_ESCHEMA) fail_msg("%s slot \"%s\" accepted", kinds3[k], bad[i]);
        char *s = fill(TW_SLOT_MAX, 's');
        assert_int_equal(slot(kinds3[k], s, TW_SLOT_MAX), 0);
        s = fill(TW_SLOT_MAX + 1, 's');
        assert_int_equal(slot(kinds3[k], s, TW_SLOT_MAX + 1), TW_ESCHEMA);
        assert_non_null(strstr(errbuf, "must be 1 to 200 bytes"));
    }
    assert_int_equal(slot("group", "Main", 4), TW_ESCHEMA);
    assert_string_equal(errbuf, "group: slot key \"Main\" may hold only a-z 0-9 . _ -");
    assert_int_equal(slot("group", ".x", 2), TW_ESCHEMA);
    assert_string_equal(errbuf, "group: slot key \".x\" must not start with '.' or '-'");
    assert_int_equal(slot("group", NULL, 0), TW_ESCHEMA);

    assert_int_equal(slot("peer", "self", 4), 0);
    assert_int_equal(slot("peer", "other", 5), TW_ESCHEMA);
    assert_string_equal(errbuf, "peer: slot key \"other\" must be \"self\"");
    assert_int_equal(slot("peer", "selfx", 4), 0);   /* length decides, not NUL */

    assert_int_equal(slot("vouch", key1, strlen(key1)), 0);
    assert_int_equal(slot("vouch", "main", 4), TW_ESCHEMA);
    assert_non_null(strstr(errbuf, "vouch: slot key \"main\" must be the vouched key"));
    char k[TW_KEYTEXT_LEN + 1];
    memcpy(k, key1, sizeof k);
    k[30] = k[30] == 'a' ? 'b' : 'a';
    assert_int_equal(slot("vouch", k, strlen(k)), TW_ESCHEMA);
    assert_non_null(strstr(errbuf, "checksum"));
}

static int co(const char *kind, const char *field, const char *text, tw_val *out)
{
    return tw_schema_coerce(&arena, kind, field, text, out, errbuf, sizeof errbuf);
}

static void test_coerce(void **state)
{
    tw_val v;
    static const char *const yes[] = { "true", "yes", "TRUE", "Yes", NULL };
    static const char *const no[] = { "false", "no", "False", "NO", NULL };
    for (size_t i = 0; yes[i]; i++) {
        assert_int_equal(co("group", "seeking_partner", yes[i], &v), 0);
        assert_int_equal(v.type, TW_BOOL);
        assert_true(v.v.b);
    }
    for (size_t i = 0; no[i]; i++) {
        assert_int_equal(co("vouch", "revoked", no[i], &v), 0);
        assert_int_equal(v.type, TW_BOOL);
        assert_false(v.v.b);
    }
    assert_int_equal(co("group", "seeking_partner", "1", &v), TW_ESCHEMA);
    assert_string_equal(errbuf, "group.seeking_partner: \"1\" is not true, false, yes or no");
    assert_int_equal(co("group", "seeking_partner", "", &v), TW_ESCHEMA);

    /* Strings are copied into the arena. */
    char buf[32];
    strcpy(buf, "Oxford");
    assert_int_equal(co("group", "local_authority", buf, &v), 0);
    buf[0] = 'X';
    assert_true(tw_v_is_str(&v, "Oxford"));
    assert_int_equal(co("group", "nation", "wales", &v), 0);
    assert_true(tw_v_is_str(&v, "wales"));

    /* Field checks run at once. */
    assert_int_equal(co("group", "nation", "Wales", &v), TW_ESCHEMA);
    assert_non_null(strstr(errbuf, "group.nation: \"Wales\" is not one of"));
    assert_int_equal(co("place", "subdivision", "PS-XXX", &v), TW_ESCHEMA);
    assert_string_equal(errbuf, "place.subdivision: \"PS-XXX\" is not a known governorate code");
    assert_int_equal(co("group", "founded", "2023-02-29", &v), TW_ESCHEMA);
    assert_string_equal(errbuf, "group.founded: \"2023-02-29\" has no such day");
    assert_int_equal(co("group", "name", "", &v), TW_ESCHEMA);
    assert_int_equal(co("group", "name", fill(TW_STR_MAX, 'n'), &v), 0);
    assert_int_equal(co("group", "name", fill(TW_STR_MAX + 1, 'n'), &v), TW_ESCHEMA);
    assert_int_equal(co("group", "description", fill(TW_DESC_MAX, 'n'), &v), 0);
    assert_int_equal(co("group", "description", fill(TW_DESC_MAX + 1, 'n'), &v), TW_ESCHEMA);
    assert_int_equal(co("group", "description", fill(TW_PAYLOAD_MAX + 1, 'n'), &v), TW_ESCHEMA);
    assert_int_equal(co("vouch", "key", key1, &v), 0);
    assert_int_equal(co("link", "group", "twk_x/main", &v), TW_ESCHEMA);

    /* Lists: ";"-separated, items trimmed. */
    assert_int_equal(co("peer", "addresses", "127.0.0.1:7000; [::1]:7000 ;node.example.org:1", &v), 0);
    assert_int_equal(v.type, TW_ARR);
    assert_int_equal(v.len, 3);
    assert_true(tw_v_is_str(&v.v.arr[0], "127.0.0.1:7000"));
    assert_true(tw_v_is_str(&v.v.arr[1], "[::1]:7000"));
    assert_true(tw_v_is_str(&v.v.arr[2], "node.example.org:1"));
    assert_int_equal(co("place", "other_names", "Beit Sahur", &v), 0);
    assert_int_equal(v.len, 1);
    assert_int_equal(co("place", "other_names", "a;;b", &v), TW_ESCHEMA);
    assert_string_equal(errbuf, "place.other_names[1]: is empty (omit the field instead)");
    assert_int_equal(co("place", "other_names", "a;b;", &v), TW_ESCHEMA);
    assert_int_equal(co("place", "other_names", "", &v), TW_ESCHEMA);
    assert_int_equal(co("peer", "addresses", "1.1.1.1:1;1.1.1.2:1;1.1.1.3:1;1.1.1.4:1;1.1.1.5:1;"
                                             "1.1.1.6:1;1.1.1.7:1;1.1.1.8:1", &v), 0);
    assert_int_equal(co("peer", "addresses", "1.1.1.1:1;1.1.1.2:1;1.1.1.3:1;1.1.1.4:1;1.1.1.5:1;"
                                             "1.1.1.6:1;1.1.1.7:1;1.1.1.8:1;1.1.1.9:1", &v), TW_ESCHEMA);
    {
        /* 64 items pass, 65 are refused before anything is allocated. */
        char *s = fill(TW_LIST_MAX * 4, 0);
        size_t o = 0;
        for (size_t i = 0; i < TW_LIST_MAX; i++) o += (size_t)sprintf(s + o, "%s%02zu", i ? ";" : "", i);
        assert_int_equal(co("link", "activities", s, &v), 0);
        assert_int_equal(v.len, TW_LIST_MAX);
        s = cat(s, ";y");
        assert_int_equal(co("link", "activities", s, &v), TW_ESCHEMA);
        assert_non_null(strstr(errbuf, "more than 64"));
    }

    /* Unknown kind and field. */
    assert_int_equal(co("group", "foo", "x", &v), TW_ESCHEMA);
    assert_string_equal(errbuf, "group.foo: unknown field (known: name, group_kind, nation, region, "
                                "local_authority, formal_status, founded, website, email, "
                                "seeking_partner, description, own_key)");
    assert_int_equal(co("peer", "address", "x", &v), TW_ESCHEMA);
    assert_string_equal(errbuf, "peer.address: unknown field (known: addresses)");
    assert_int_equal(co("nope", "x", "y", &v), TW_ENOTFOUND);
    assert_string_equal(errbuf, "nope: unknown kind (known: group, place, link, vouch, peer, device, succession, recovery, keyplan)");
    assert_int_equal(tw_schema_coerce(&arena, "group", "name", NULL, &v, errbuf, sizeof errbuf), TW_EINVAL);

    /* A record built by coercion validates. */
    static const char *const fv[][2] = {
        { "name_en", "Aida Camp" }, { "place_kind", "refugee_camp" }, { "country", "PS" },
        { "subdivision", "PS-BTH" }, { "area", "west_bank" }, { "seeking_partner", "yes" },
        { "other_names", "Aida; Ayda" },
    };
    rec r = { .kind = "place" };
    for (size_t i = 0; i < sizeof fv / sizeof fv[0]; i++) {
        assert_int_equal(co("place", fv[i][0], fv[i][1], &v), 0);
        set(&r, fv[i][0], v);
    }
    OK(&r);
}

/* ---- code tables against the CSV files ---- */

/* The repository root, from this file's path as the compiler saw it, so
 * the test finds proto/data/ from any working directory. */
static void repo_path(char *out, size_t cap, const char *rel)
{
    const char *me = __FILE__, *tail = "tests/unit/test_schema.c";
    size_t ml = strlen(me), tl = strlen(tail);
    size_t pl = ml >= tl && !strcmp(me + ml - tl, tail) ? ml - tl : 0;
    snprintf(out, cap, "%.*s%s", (int)pl, me, rel);
}

static void compare_csv(const char *rel, const char *header, const tw_code *codes, size_t n)
{
    char path[512], line[512];
    repo_path(path, sizeof path, rel);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    assert_non_null(fgets(line, sizeof line, f));
    line[strcspn(line, "\r\n")] = 0;
    assert_string_equal(line, header);
    size_t i = 0;
    while (fgets(line, sizeof line, f) && i <= n) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        assert_non_null(c2);
        /* A fourth column, when the header has one, is the Arabic name. */
        char *c3 = strchr(c2 + 1, ',');
        assert_true((c3 != NULL) == (strstr(header, ",name_ar") != NULL));
        if (c3) assert_null(strchr(c3 + 1, ','));
        assert_null(strchr(line, '"'));   /* no quoting in these files */
        *c1 = *c2 = 0;
        if (c3) *c3 = 0;
        if (i >= n) fail_msg("%s has more rows than the table (%zu)", rel, n);
        assert_string_equal(codes[i].code, line);
        assert_string_equal(codes[i].name, c1 + 1);
        assert_string_equal(codes[i].group, c2 + 1);
        if (c3) assert_string_equal(codes[i].name_ar, c3 + 1);
        else assert_null(codes[i].name_ar);
        i++;
    }
    fclose(f);
    assert_int_equal(i, n);
}

static void test_code_lists(void **state)
{
    size_t n;
    const tw_code *g = tw_codes_governorates(&n);
    assert_int_equal(n, 16);
    compare_csv("proto/data/ps-governorates.csv", "code,name_en,area,name_ar", g, n);
    assert_ptr_equal(tw_code_find(g, n, "PS-BTH", 6), &g[9]);
    assert_null(tw_code_find(g, n, "PS-BT", 5));
    assert_null(tw_code_find(g, n, "PS-BTHX", 7));
    for (size_t i = 0; i < n; i++)
        assert_true(!strcmp(g[i].group, "west_bank") || !strcmp(g[i].group, "gaza"));
    const tw_code *r = tw_codes_uk_regions(&n);
    assert_int_equal(n, 12);
    compare_csv("proto/data/uk-nations-regions.csv", "code,name,nation", r, n);
    assert_ptr_equal(tw_code_find(r, n, "N92000002", 9), &r[11]);
}

/* One CSV cell: plain, or in double quotes with "" for a quote (RFC 4180).
 * Returns the position after the cell's separator, NULL at a bad quote. */
static char *csv_cell(char *s, char *out, size_t cap)
{
    size_t o = 0;
    if (*s == '"') {
        for (s++;; s++) {
            if (!*s) return NULL;
            if (*s == '"' && s[1] != '"') { s++; break; }
            if (*s == '"') s++;
            if (o + 1 < cap) out[o++] = *s;
        }
    } else {
        while (*s && *s != ',') if (o + 1 < cap) out[o++] = *s++; else s++;
    }
    out[o] = 0;
    return *s == ',' ? s + 1 : s;
}

/* Rows code,name,third of a quoted CSV file against a table, whose third
 * column is the group (ar false) or the Arabic name (ar true). */
static void compare_csv_quoted(const char *rel, const char *header, const tw_code *codes, size_t n, bool ar)
{
    char path[512], line[1024], c[3][512];
    repo_path(path, sizeof path, rel);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    assert_non_null(fgets(line, sizeof line, f));
    line[strcspn(line, "\r\n")] = 0;
    assert_string_equal(line, header);
    size_t i = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        char *p = line;
        for (int k = 0; k < 3; k++) {
            p = csv_cell(p, c[k], sizeof c[k]);
            assert_non_null(p);
        }
        assert_int_equal(*p, 0);
        if (i >= n) fail_msg("%s has more rows than the table (%zu)", rel, n);
        assert_string_equal(codes[i].code, c[0]);
        assert_string_equal(codes[i].name, c[1]);
        assert_string_equal(ar ? codes[i].name_ar : codes[i].group, c[2]);
        /* Sorted, for tw_code_find_sorted. */
        if (i) assert_true(strcmp(codes[i - 1].code, codes[i].code) < 0);
        assert_ptr_equal(tw_code_find_sorted(codes, n, c[0], strlen(c[0])), &codes[i]);
        assert_ptr_equal(tw_code_lookup(c[0], strlen(c[0])), &codes[i]);
        i++;
    }
    fclose(f);
    assert_int_equal(i, n);
}

static void test_long_code_lists(void **state)
{
    size_t n, nr;
    const tw_code *c = tw_codes_countries(&n);
    assert_int_equal(n, 249);
    compare_csv_quoted("proto/data/iso3166-countries.csv", "code,name_en,name_ar", c, n, true);
    assert_string_equal(tw_code_find_sorted(c, n, "PS", 2)->name, "Palestine");
    assert_null(tw_code_find_sorted(c, n, "XK", 2));
    assert_null(tw_code_find_sorted(c, n, "P", 1));
    assert_null(tw_code_find_sorted(c, n, "PSX", 3));
    assert_null(tw_code_find_sorted(c, 0, "PS", 2));
    const tw_code *l = tw_codes_local_authorities(&n), *r = tw_codes_uk_regions(&nr);
    assert_int_equal(n, 361);
    compare_csv_quoted("proto/data/uk-local-authorities.csv", "code,name,region", l, n, false);
    /* Every district lies in a listed region of its own nation's letter. */
    size_t per[4] = { 0 };
    for (size_t i = 0; i < n; i++) {
        const tw_code *reg = tw_code_find(r, nr, l[i].group, strlen(l[i].group));
        assert_non_null(reg);
        assert_int_equal(reg->code[0], l[i].code[0]);
        per[strchr("ESWN", l[i].code[0]) - "ESWN"]++;
    }
    assert_int_equal(per[0], 296);
    assert_int_equal(per[1], 32);
    assert_int_equal(per[2], 22);
    assert_int_equal(per[3], 11);
    assert_string_equal(tw_code_lookup("PS-RBH", 6)->name, "Ramallah and al-Bireh");
    assert_string_equal(tw_code_lookup("E12000007", 9)->name, "London");
    assert_null(tw_code_lookup("(none)", 6));
}

/* SCHEMA.md must name every kind, field and enumeration value. */
static void test_schema_md(void **state)
{
    char path[512];
    repo_path(path, sizeof path, "proto/SCHEMA.md");
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    static char doc[65536];
    size_t len = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[len] = 0;
    size_t nk;
    const tw_kind_schema *ks = tw_schema_kinds(&nk);
    for (size_t i = 0; i < nk; i++) {
        char want[128];
        snprintf(want, sizeof want, "`%s`", ks[i].kind);
        if (!strstr(doc, want)) fail_msg("SCHEMA.md lacks kind %s", want);
        for (size_t j = 0; j < ks[i].nfields; j++) {
            const tw_field *fl = &ks[i].fields[j];
            snprintf(want, sizeof want, "| `%s` |", fl->name);
            if (!strstr(doc, want)) fail_msg("SCHEMA.md lacks field %s.%s", ks[i].kind, fl->name);
            for (size_t v = 0; fl->values && fl->values[v]; v++) {
                snprintf(want, sizeof want, "`%s`", fl->values[v]);
                if (!strstr(doc, want)) fail_msg("SCHEMA.md lacks value %s", want);
            }
        }
    }
}

/* ---- folding ---- */

static const char *fold(const char *in)
{
    static char out[4 * 256 + 1];
    size_t n = strlen(in);
    assert_true(n <= 256);
    size_t o = tw_text_fold(out, in, n);
    assert_int_equal(o, strlen(out));
    assert_true(o <= n);
    return out;
}

static void test_fold_latin(void **state)
{
    assert_string_equal(fold("Beit Sahour"), "beit sahour");
    assert_string_equal(fold("beit-sahour"), "beit sahour");
    assert_string_equal(fold("Bayt S\xc4\x81\xe1\xb8\xa5\xc5\xab" "r"), "bayt sahur");
    assert_string_equal(fold("  Beit   Sahour  "), "beit sahour");
    assert_string_equal(fold("Ni'lin"), "ni lin");
    assert_string_equal(fold("Ni\xe2\x80\x99lin"), "ni lin");
    assert_string_equal(fold("Ni\xca\xbflin"), "ni lin");               /* U+02BF ayn */
    assert_string_equal(fold("Caf\xc3\xa9 M\xc3\xbcller Stra\xc3\x9f" "e"), "cafe muller strasse");
    assert_string_equal(fold("\xc3\x86" "bel \xc3\x98re \xc3\x9e" "orn"), "aebel ore thorn");
    assert_string_equal(fold("\xc5\x81\xc3\xb3" "d\xc5\xba \xc5\x92uvre \xc4\xb2sselmeer"), "lodz oeuvre ijsselmeer");
    assert_string_equal(fold("\xc7\xa6" "aza"), "gaza");                 /* U+01E6 */
    assert_string_equal(fold("\xe1\xb8\xa4" "ebron \xe1\xb9\xad\xe1\xb8\x8f"), "hebron td");
    assert_string_equal(fold("e\xcc\x81" "cole"), "ecole");              /* decomposed accent */
    assert_string_equal(fold("A.B,C;D(E)F/G\"H!"), "a b c d e f g h");
    assert_string_equal(fold("Jenin\xe2\x80\x94" "camp"), "jenin camp");  /* em dash */
    assert_string_equal(fold("x\xc2\xa0y"), "x y");                      /* NBSP */
    assert_string_equal(fold("Tab\tNew\nline"), "tab new line");
    assert_string_equal(fold("a\xe2\x80\x8b" "b"), "ab");                /* zero-width space */
    assert_string_equal(fold("---"), "");
    assert_string_equal(fold(""), "");
    assert_string_equal(fold("Room 101"), "room 101");
    /* Scripts without a table pass through. */
    assert_string_equal(fold("\xce\x91\xce\xb8\xce\xae\xce\xbd\xce\xb1"), "\xce\x91\xce\xb8\xce\xae\xce\xbd\xce\xb1");
}

static void test_fold_arabic(void **state)
{
    /* بَيْت سَاحُور with harakat, and plain. */
    const char *marked = "\xd8\xa8\xd9\x8e\xd9\x8a\xd9\x92\xd8\xaa \xd8\xb3\xd9\x8e\xd8\xa7\xd8\xad\xd9\x8f\xd9\x88\xd8\xb1";
    const char *plain = "\xd8\xa8\xd9\x8a\xd8\xaa \xd8\xb3\xd8\xa7\xd8\xad\xd9\x88\xd8\xb1";
    char a[256];
    strcpy(a, fold(marked));
    assert_string_equal(a, fold(plain));
    assert_string_equal(a, plain);
    /* Alef forms: أريحا, إريحا, آريحا, ٱريحا all fold to اريحا. */
    const char *alefs[] = { "\xd8\xa3", "\xd8\xa5", "\xd8\xa2", "\xd9\xb1", "\xd8\xa7" };
    for (size_t i = 0; i < 5; i++) {
        char in[32];
        snprintf(in, sizeof in, "%s\xd8\xb1\xd9\x8a\xd8\xad\xd8\xa7", alefs[i]);
        assert_string_equal(fold(in), "\xd8\xa7\xd8\xb1\xd9\x8a\xd8\xad\xd8\xa7");
    }
    /* Ta marbuta -> ha, alef maksura -> ya: غزة = غزه; مصطفى = مصطفي. */
    assert_string_equal(fold("\xd8\xba\xd8\xb2\xd8\xa9"), "\xd8\xba\xd8\xb2\xd9\x87");
    assert_string_equal(fold("\xd9\x85\xd8\xb5\xd8\xb7\xd9\x81\xd9\x89"), "\xd9\x85\xd8\xb5\xd8\xb7\xd9\x81\xd9\x8a");
    /* Tatweel and superscript alef removed: نـابلس = نابلس; U+0670. */
    assert_string_equal(fold("\xd9\x86\xd9\x80\xd8\xa7\xd8\xa8\xd9\x84\xd8\xb3"), "\xd9\x86\xd8\xa7\xd8\xa8\xd9\x84\xd8\xb3");
    assert_string_equal(fold("\xd9\x87\xd9\xb0\xd8\xb0\xd8\xa7"), "\xd9\x87\xd8\xb0\xd8\xa7");
    /* Every haraka in U+064B..U+065F is removed. */
    for (unsigned cp = 0x064B; cp <= 0x065F; cp++) {
        char in[8] = { (char)0xd8, (char)0xa8, (char)(0xC0 | (cp >> 6)), (char)(0x80 | (cp & 0x3F)), 0 };
        assert_string_equal(fold(in), "\xd8\xa8");
    }
    /* Arabic comma and question mark separate; Arabic-Indic digits become ASCII. */
    assert_string_equal(fold("\xd8\xa8\xd8\x8c\xd8\xa8\xd8\x9f"), "\xd8\xa8 \xd8\xa8");
    assert_string_equal(fold("\xd9\xa1\xd9\xa9\xd9\xa4\xd9\xa8"), "1948");
    /* Direction marks vanish. */
    assert_string_equal(fold("\xe2\x80\x8f\xd8\xa8\xe2\x80\x8e"), "\xd8\xa8");
}

static void test_fold_invalid(void **state)
{
    assert_string_equal(fold("a\xffz"), "az");
    assert_string_equal(fold("a\xc3"), "a");                 /* truncated */
    assert_string_equal(fold("a\xc0\xafz"), "az");           /* overlong */
    assert_string_equal(fold("a\xed\xa0\x80z"), "az");       /* surrogate */
    assert_string_equal(fold("a\xf4\x90\x80\x80z"), "az");   /* beyond U+10FFFF */
    assert_string_equal(fold("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
    /* Length is taken from n, not from a NUL. */
    char out[32];
    assert_int_equal(tw_text_fold(out, "AB\0CD", 5), 5);
    assert_string_equal(out, "ab cd");
    /* Output is never longer than input, over every two-byte character. */
    for (unsigned cp = 0x80; cp < 0x800; cp++) {
        char in[3] = { (char)(0xC0 | (cp >> 6)), (char)(0x80 | (cp & 0x3F)), 0 };
        assert_true(tw_text_fold(out, in, 2) <= 2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_api),
        cmocka_unit_test(test_unknown_kind),
        cmocka_unit_test(test_body_shape),
        cmocka_unit_test(test_group),
        cmocka_unit_test(test_place),
        cmocka_unit_test(test_link),
        cmocka_unit_test(test_vouch),
        cmocka_unit_test(test_ident_kinds),
        cmocka_unit_test(test_peer),
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_coerce),
        cmocka_unit_test(test_code_lists),
        cmocka_unit_test(test_long_code_lists),
        cmocka_unit_test(test_schema_md),
        cmocka_unit_test(test_fold_latin),
        cmocka_unit_test(test_fold_arabic),
        cmocka_unit_test(test_fold_invalid),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
