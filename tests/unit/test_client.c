/*
 * Unit tests of twin's pieces that need no daemon: the JSON reader and
 * writer, CSV, display width, table layout, argument parsing and the
 * socket path rule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli.h"
#include "csv.h"
#include "json.h"
#include "twin/err.h"
#include "twin/keytext.h"
#include "twin/limits.h"

/* ---- helpers ---- */

static tw_arena arena;

static int setup(void **state) { tw_arena_init(&arena, 0); return 0; }
static int teardown(void **state) { tw_arena_free(&arena); return 0; }

static int parse(const char *s, tw_val *v, char *err, size_t errlen)
{
    return tw_json_parse(s, strlen(s), &arena, v, NULL, err, errlen);
}

/* Compact JSON of a value, NUL-terminated, freed with free(). */
static char *write_compact(const tw_val *v)
{
    tw_buf b;
    tw_buf_init(&b);
    assert_int_equal(tw_json_write(&b, v, 0), 0);
    assert_int_equal(tw_buf_put(&b, "", 1), 0);
    return (char *)b.p;
}

static void round_trip(const char *in, const char *expect)
{
    tw_val v, w;
    char err[256];
    int rc = parse(in, &v, err, sizeof err);
    if (rc != 0) fail_msg("parse %s: %s", in, err);
    char *out = write_compact(&v);
    assert_string_equal(out, expect);
    assert_int_equal(tw_json_parse(out, strlen(out), &arena, &w, NULL, err, sizeof err), 0);
    assert_true(tw_v_equal(&v, &w));
    free(out);
}

static void expect_error(const char *in, int code, const char *msg)
{
    tw_val v;
    char err[256];
    int rc = tw_json_parse(in, strlen(in), &arena, &v, NULL, err, sizeof err);
    if (rc != code) fail_msg("%s: got %d (%s), want %d", in, rc, err, code);
    if (strcmp(err, msg) != 0) fail_msg("%s: message \"%s\", want \"%s\"", in, err, msg);
}

/* ---- JSON ---- */

static void test_json_round_trips(void **state)
{
    round_trip("null", "null");
    round_trip(" true ", "true");
    round_trip("false", "false");
    round_trip("0", "0");
    round_trip("-0", "0");
    round_trip("18446744073709551615", "18446744073709551615");
    round_trip("-9223372036854775808", "-9223372036854775808");
    round_trip("-42", "-42");
    round_trip("\"\"", "\"\"");
    round_trip("[]", "[]");
    round_trip("{}", "{}");
    round_trip("[1, [2, [3]], {\"a\": {}}]", "[1,[2,[3]],{\"a\":{}}]");
    round_trip("{\"kind\":\"place\",\"slot\":\"bethlehem\",\"body\":{\"name_ar\":\"بيت لحم\",\"seeking\":true}}",
               "{\"kind\":\"place\",\"slot\":\"bethlehem\",\"body\":{\"name_ar\":\"بيت لحم\",\"seeking\":true}}");
    /* Escapes in, canonical escapes out; "/" needs none. */
    round_trip("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0001\\u001f\"",
               "\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\\u0001\\u001f\"");
    round_trip("\"\\u00e9\\u0628\"", "\"é\u0628\"");
    /* A surrogate pair becomes one 4-byte UTF-8 character. */
    round_trip("\"\\ud83d\\ude00\"", "\"\xF0\x9F\x98\x80\"");
    round_trip("\"\\u0000\"", "\"\\u0000\"");
}

static void test_json_types(void **state)
{
    tw_val v;
    char err[256];
    assert_int_equal(parse("[5, -5, \"x\", true, null]", &v, err, sizeof err), 0);
    assert_int_equal(v.type, TW_ARR);
    assert_int_equal(v.len, 5);
    assert_int_equal(v.v.arr[0].type, TW_UINT);
    assert_int_equal(v.v.arr[0].v.u, 5);
    assert_int_equal(v.v.arr[1].type, TW_INT);
    assert_int_equal(v.v.arr[1].v.i, -5);
    assert_int_equal(v.v.arr[2].type, TW_STR);
    assert_int_equal(v.v.arr[3].type, TW_BOOL);
    assert_int_equal(v.v.arr[4].type, TW_NIL);
    /* Object keys keep their input order. */
    assert_int_equal(parse("{\"b\":1,\"a\":2}", &v, err, sizeof err), 0);
    assert_int_equal(v.type, TW_MAP);
    assert_true(tw_v_is_str(&v.v.map[0].k, "b"));
    assert_true(tw_v_is_str(&v.v.map[1].k, "a"));
    assert_int_equal(tw_v_get(&v, "a")->v.u, 2);
}

static void test_json_errors(void **state)
{
    expect_error("", TW_EINVAL, "1:1: empty input");
    expect_error("   \n  ", TW_EINVAL, "2:3: empty input");
    expect_error("[1,]", TW_EINVAL, "1:4: unexpected character ']', expected a value");
    expect_error("{\"a\":1,}", TW_EINVAL, "1:8: unexpected character '}', expected a string key");
    expect_error("{\"a\" 1}", TW_EINVAL, "1:6: unexpected character '1', expected ':'");
    expect_error("{1:2}", TW_EINVAL, "1:2: unexpected character '1', expected a string key");
    expect_error("[1 2]", TW_EINVAL, "1:4: unexpected character '2', expected ',' or ']'");
    expect_error("{\"a\":1 \"b\":2}", TW_EINVAL, "1:8: unexpected character '\"', expected ',' or '}'");
    expect_error("[1", TW_EINVAL, "1:3: unexpected end of input, expected ',' or ']'");
    expect_error("01", TW_EINVAL, "1:1: numbers may not have leading zeros");
    expect_error("-", TW_EINVAL, "1:2: a digit must follow '-'");
    expect_error("-a", TW_EINVAL, "1:2: a digit must follow '-'");
    expect_error("1.5", TW_EINVAL, "1:1: floating-point numbers are not supported (records hold integers only)");
    expect_error("[0, 1e3]", TW_EINVAL, "1:5: floating-point numbers are not supported (records hold integers only)");
    expect_error("18446744073709551616", TW_EINVAL, "1:1: integer out of range");
    expect_error("-9223372036854775809", TW_EINVAL, "1:1: integer out of range");
    expect_error("+1", TW_EINVAL, "1:1: unexpected character '+', expected a value");
    expect_error("tru", TW_EINVAL, "1:1: invalid literal (expected true)");
    expect_error("nul", TW_EINVAL, "1:1: invalid literal (expected null)");
    expect_error("True", TW_EINVAL, "1:1: unexpected character 'T', expected a value");
    expect_error("\"abc", TW_EINVAL, "1:1: unterminated string");
    expect_error("\"a\\", TW_EINVAL, "1:1: unterminated string");
    expect_error("\"a\nb\"", TW_EINVAL, "1:3: raw control character U+000A in a string (write it as \\u000A)");
    expect_error("\"\\x\"", TW_EINVAL, "1:2: invalid escape '\\x'");
    expect_error("\"\\u12\"", TW_EINVAL, "1:2: invalid \\u escape (four hex digits expected)");
    expect_error("\"\\ud800\"", TW_EINVAL, "1:2: invalid \\u escape: high surrogate \\uD800 not followed by a low surrogate");
    expect_error("\"\\ud800\\u0041\"", TW_EINVAL, "1:2: invalid \\u escape: high surrogate \\uD800 not followed by a low surrogate");
    expect_error("\"\\udc00\"", TW_EINVAL, "1:2: invalid \\u escape: lone low surrogate \\uDC00");
    expect_error("\"\xC3\x28\"", TW_EINVAL, "1:2: invalid UTF-8 byte 0xC3 in a string");
    expect_error("\"\xC0\xAF\"", TW_EINVAL, "1:2: invalid UTF-8 byte 0xC0 in a string");     /* overlong */
    expect_error("\"\xED\xA0\x80\"", TW_EINVAL, "1:2: invalid UTF-8 byte 0xED in a string"); /* surrogate */
    expect_error("\xFF", TW_EINVAL, "1:1: unexpected invalid UTF-8 byte 0xFF, expected a value");
    expect_error("{\"a\":1,\"b\":2,\"a\":3}", TW_EINVAL, "1:1: duplicate key \"a\" in object");
    expect_error("1 2", TW_EINVAL, "1:3: unexpected data after the JSON value");
    expect_error("[1] x", TW_EINVAL, "1:5: unexpected data after the JSON value");
    expect_error("// c\n1", TW_EINVAL, "1:1: unexpected character '/', expected a value");
    /* Line and column count lines and characters (Arabic is 2 bytes a letter). */
    expect_error("{\n  \"name\": \"بيت\",\n  \"n\": 1.0\n}", TW_EINVAL,
                 "3:8: floating-point numbers are not supported (records hold integers only)");
    expect_error("[\"بيت\", x]", TW_EINVAL, "1:9: unexpected character 'x', expected a value");
}

static void test_json_depth(void **state)
{
    char buf[64];
    tw_val v;
    char err[256];
    /* TW_CTL_DEPTH_MAX nested containers are accepted (an export wraps
     * bodies of TW_DEPTH_MAX levels), one more is not. */
    size_t d = TW_CTL_DEPTH_MAX;
    memset(buf, '[', d);
    memset(buf + d, ']', d);
    buf[2 * d] = '\0';
    assert_int_equal(parse(buf, &v, err, sizeof err), 0);
    memset(buf, '[', d + 1);
    memset(buf + d + 1, ']', d + 1);
    buf[2 * d + 2] = '\0';
    assert_int_equal(parse(buf, &v, err, sizeof err), TW_EDEPTH);
    assert_string_equal(err, "1:17: nesting deeper than 16 levels");
    /* A deep hostile input stops at the limit rather than the stack. */
    size_t n = 1000000;
    char *deep = malloc(n + 1);
    assert_non_null(deep);
    memset(deep, '[', n);
    deep[n] = '\0';
    assert_int_equal(parse(deep, &v, err, sizeof err), TW_EDEPTH);
    free(deep);
}

static void test_json_size_limit(void **state)
{
    tw_val v;
    char err[256];
    /* The length is checked before the input is read at all. */
    static const char small[] = "1";
    assert_int_equal(tw_json_parse(small, (size_t)TW_JSON_INPUT_MAX + 1, &arena, &v, NULL, err, sizeof err),
                     TW_ETOOBIG);
    assert_non_null(strstr(err, "input larger than"));
}

static void test_json_lines(void **state)
{
    const char *s = "\xEF\xBB\xBF[\n {\"a\": 1},\n\n {\"b\":\n 2}, {\"c\": 3}\n]\n";
    tw_val v;
    uint32_t *lines;
    char err[256];
    assert_int_equal(tw_json_parse(s, strlen(s), &arena, &v, &lines, err, sizeof err), 0);
    assert_int_equal(v.len, 3);
    assert_int_equal(lines[0], 2);
    assert_int_equal(lines[1], 4);
    assert_int_equal(lines[2], 5);
    assert_int_equal(tw_json_parse("\n\n{}", 4, &arena, &v, &lines, err, sizeof err), 0);
    assert_int_equal(lines[0], 3);
}

static void test_json_writer(void **state)
{
    tw_kv kv[4];
    tw_val m, arr[2], bad;
    static const uint8_t bin[] = { 0x00, 0xab, 0xff };
    arr[0] = tw_v_bin(bin, sizeof bin);
    arr[1] = tw_v_int(-7);
    kv[0] = (tw_kv){ tw_v_cstr("b\x01\"\\"), tw_v_str("x\xFFy", 3) };  /* invalid byte -> U+FFFD */
    kv[1] = (tw_kv){ tw_v_uint(5), tw_v_bool(true) };                 /* key that is not a string */
    bad.type = TW_ARR; bad.len = 2; bad.v.arr = arr;
    kv[2] = (tw_kv){ tw_v_cstr("list"), bad };
    kv[3] = (tw_kv){ tw_v_cstr("n"), tw_v_nil() };
    m.type = TW_MAP; m.len = 4; m.v.map = kv;
    char *out = write_compact(&m);
    assert_string_equal(out, "{\"b\\u0001\\\"\\\\\":\"x\xEF\xBF\xBDy\",\"5\":true,\"list\":[\"00abff\",-7],\"n\":null}");
    free(out);
    tw_buf b;
    tw_buf_init(&b);
    assert_int_equal(tw_json_write(&b, &m, TW_JSON_PRETTY), 0);
    assert_int_equal(tw_buf_put(&b, "", 1), 0);
    assert_string_equal((char *)b.p,
        "{\n  \"b\\u0001\\\"\\\\\": \"x\xEF\xBF\xBDy\",\n  \"5\": true,\n  \"list\": [\n    \"00abff\",\n    -7\n  ],\n  \"n\": null\n}");
    tw_buf_free(&b);
}

/* ---- CSV ---- */

static void test_csv_read(void **state)
{
    const char *s = "\xEF\xBB\xBF" "kind,slot,name\r\n"
                    "group,a,\"Town, Twinning \"\"Association\"\"\"\r\n"
                    "\n"
                    "group,b,\"two\nlines\"\n"
                    "group,c,\n"
                    "group,d,last";
    tw_csv c;
    tw_csv_row r;
    bool got;
    char err[256];
    tw_csv_init(&c, s, strlen(s));
    tw_csv_row_init(&r);
    assert_int_equal(tw_csv_read(&c, &r, &got, err, sizeof err), 0);
    assert_true(got);
    assert_int_equal(r.line, 1);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.cell[0], "kind");
    assert_string_equal(r.cell[2], "name");
    assert_int_equal(tw_csv_read(&c, &r, &got, err, sizeof err), 0);
    assert_int_equal(r.line, 2);
    assert_string_equal(r.cell[2], "Town, Twinning \"Association\"");
    assert_int_equal(r.len[2], strlen("Town, Twinning \"Association\""));
    assert_int_equal(tw_csv_read(&c, &r, &got, err, sizeof err), 0);
    assert_int_equal(r.line, 4);     /* the empty line 3 is skipped */
    assert_string_equal(r.cell[2], "two\nlines");
    assert_int_equal(tw_csv_read(&c, &r, &got, err, sizeof err), 0);
    assert_int_equal(r.line, 6);     /* the quoted cell spanned lines 4 and 5 */
    assert_int_equal(r.n, 3);
    assert_string_equal(r.cell[2], "");
    assert_int_equal(tw_csv_read(&c, &r, &got, err, sizeof err), 0);
    assert_int_equal(r.line, 7);
    assert_string_equal(r.cell[2], "last");
    assert_int_equal(tw_csv_read(&c, &r, &got, err, sizeof err), 0);
    assert_false(got);
    tw_csv_row_free(&r);
}

static void csv_error(const char *s, const char *msg)
{
    tw_csv c;
    tw_csv_row r;
    bool got = true;
    char err[256];
    int rc = 0;
    tw_csv_init(&c, s, strlen(s));
    tw_csv_row_init(&r);
    for (int i = 0; i < 100 && got && rc == 0; i++) rc = tw_csv_read(&c, &r, &got, err, sizeof err);
    tw_csv_row_free(&r);
    assert_int_equal(rc, TW_EINVAL);
    assert_string_equal(err, msg);
}

static void test_csv_errors(void **state)
{
    csv_error("a,b\nc,\"d\ne\n", "2:3: quoted field not closed before the end of the file");
    csv_error("a,b\nc,d\"e\n", "2:4: quote inside an unquoted field (quote the whole field and double the quote)");
    csv_error("a,\"b\"c\n", "1:6: a closing quote must be followed by a comma or the end of the line");
    csv_error("a,b\rc\n", "1:4: carriage return not followed by a line feed");
    csv_error("a,\xC3\x28\n", "1:3: invalid UTF-8 in field");
}

static void test_csv_write(void **state)
{
    tw_buf b;
    tw_buf_init(&b);
    static const char *const cells[] = {
        "plain", "with,comma", "say \"hi\"", "two\nlines", " padded", "", "بيت لحم",
    };
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        if (i) assert_int_equal(tw_csv_sep(&b), 0);
        assert_int_equal(tw_csv_cell(&b, cells[i], strlen(cells[i]), 0), 0);
    }
    assert_int_equal(tw_csv_eol(&b), 0);
    assert_int_equal(tw_buf_put(&b, "", 1), 0);
    assert_string_equal((char *)b.p,
        "plain,\"with,comma\",\"say \"\"hi\"\"\",\"two\nlines\",\" padded\",,بيت لحم\r\n");
    /* What is written reads back the same. */
    tw_csv c;
    tw_csv_row r;
    bool got;
    char err[256];
    tw_csv_init(&c, (char *)b.p, b.len - 1);
    tw_csv_row_init(&r);
    assert_int_equal(tw_csv_read(&c, &r, &got, err, sizeof err), 0);
    assert_int_equal(r.n, sizeof cells / sizeof cells[0]);
    for (size_t i = 0; i < r.n; i++) assert_string_equal(r.cell[i], cells[i]);
    tw_csv_row_free(&r);
    tw_buf_free(&b);
}

static void test_csv_guard(void **state)
{
    static const struct { const char *in, *out; } cases[] = {
        { "=SUM(A1)", "'=SUM(A1)" }, { "+44", "'+44" }, { "-1", "'-1" }, { "@x", "'@x" },
        { "'=x", "''=x" }, { "'Anata", "'Anata" }, { "a=b", "a=b" }, { "'", "'" }, { "", "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tw_buf b;
        tw_buf_init(&b);
        assert_int_equal(tw_csv_cell(&b, cases[i].in, strlen(cases[i].in), TW_CSV_GUARD), 0);
        assert_int_equal(tw_buf_put(&b, "", 1), 0);
        assert_string_equal((char *)b.p, cases[i].out);
        /* Unguarding gives back the original value exactly. */
        size_t n = b.len - 1;
        const char *u = tw_csv_unguard((char *)b.p, &n);
        assert_int_equal(n, strlen(cases[i].in));
        assert_memory_equal(u, cases[i].in, n);
        tw_buf_free(&b);
    }
    /* A guarded cell that needs quotes keeps the guard inside them. */
    tw_buf b;
    tw_buf_init(&b);
    assert_int_equal(tw_csv_cell(&b, "=1,2", 4, TW_CSV_GUARD), 0);
    assert_int_equal(tw_buf_put(&b, "", 1), 0);
    assert_string_equal((char *)b.p, "\"'=1,2\"");
    tw_buf_free(&b);
}

/* ---- display width ---- */

static size_t width_of(const char *s) { return tw_width_str(s, strlen(s)); }

static void test_width(void **state)
{
    assert_int_equal(width_of("Bethlehem"), 9);
    /* Arabic: harakat (fatha, sukun, shadda, kasra) take no column. */
    assert_int_equal(width_of("بيت لحم"), 7);
    assert_int_equal(width_of("بَيْت لَحْم"), 7);
    assert_int_equal(width_of("مُخَيَّم عايدة"), 10);
    assert_int_equal(width_of("ـ"), 1);                 /* tatweel is a letter's width */
    /* CJK and fullwidth forms: two columns each. */
    assert_int_equal(width_of("日本語"), 6);
    assert_int_equal(width_of("ＡＢ"), 4);
    assert_int_equal(width_of("한국"), 4);
    assert_int_equal(width_of("\xF0\x9F\x98\x80"), 2);  /* emoji */
    /* Combining marks: e + acute, decomposed. */
    assert_int_equal(width_of("e\xCC\x81"), 1);
    assert_int_equal(width_of("Ça\xCC\x80 va"), 5);
    assert_int_equal(width_of("a\xE2\x80\x8B" "b"), 2);  /* zero width space */
    assert_int_equal(tw_width_cp(0x1B), -1);
    assert_int_equal(tw_width_cp(0x202E), -1);
    assert_int_equal(tw_width_cp(0x85), -1);
    assert_int_equal(tw_width_cp(0x064E), 0);
    assert_int_equal(tw_width_cp(0x4E00), 2);
    assert_int_equal(tw_width_cp('a'), 1);
}

static void test_width_escape(void **state)
{
    tw_buf b;
    tw_buf_init(&b);
    const char in[] = "a\nb\tc\x1B[31m\xC2\x85\xE2\x80\xAEz\xFF";
    assert_int_equal(tw_width_escape(&b, in, sizeof in - 1), 0);
    assert_int_equal(tw_buf_put(&b, "", 1), 0);
    assert_string_equal((char *)b.p, "a\\nb\\tc\\x1B[31m\\u0085\\u202Ez\\xFF");
    assert_int_equal(width_of((char *)b.p), strlen((char *)b.p));
    tw_buf_free(&b);
}

static void test_width_fit_and_rtl(void **state)
{
    size_t w;
    const char *s = "日本語";
    assert_int_equal(tw_width_fit(s, strlen(s), 5, &w), 6);     /* two characters */
    assert_int_equal(w, 4);
    /* Marks after the last whole letter stay with it. */
    const char *ar = "بَيْت";
    size_t k = tw_width_fit(ar, strlen(ar), 2, &w);
    assert_int_equal(w, 2);
    assert_int_equal(k, strlen("بَيْ"));
    assert_true(tw_width_is_rtl(ar, strlen(ar)));
    assert_true(tw_width_is_rtl("x שלום", strlen("x שלום")));
    assert_false(tw_width_is_rtl("Nablus 12", 9));
    assert_false(tw_width_is_rtl("日本語", strlen("日本語")));
}

/* ---- tables ---- */

static char *render(const tw_table *t, bool tty, unsigned cols)
{
    tw_buf b;
    tw_buf_init(&b);
    assert_int_equal(tw_table_render(t, tty, cols, &b), 0);
    assert_int_equal(tw_buf_put(&b, "", 1), 0);
    return (char *)b.p;
}

static void mixed_table(tw_table *t)
{
    static const char *const heads[] = { "NAME", "PLACE", "N" };
    assert_int_equal(tw_table_init(t, 3, heads), 0);
    tw_table_align(t, 2, TW_COL_RIGHT);
    assert_int_equal(tw_table_addz(t, "Bethlehem Link"), 0);
    assert_int_equal(tw_table_addz(t, "بَيْت لَحْم"), 0);
    assert_int_equal(tw_table_addz(t, "12"), 0);
    assert_int_equal(tw_table_addz(t, "Oxford"), 0);
    assert_int_equal(tw_table_addz(t, "نابلس"), 0);
    assert_int_equal(tw_table_addz(t, "3"), 0);
    assert_int_equal(tw_table_rows(t), 2);
}

static void test_table_piped(void **state)
{
    tw_table t;
    mixed_table(&t);
    /* Piped: no isolates and no truncation, whatever the width. */
    char *out = render(&t, false, 20);
    assert_string_equal(out,
        "NAME            PLACE     N\n"
        "Bethlehem Link  بَيْت لَحْم  12\n"
        "Oxford          نابلس     3\n");
    free(out);
    tw_table_free(&t);
}

static void test_table_terminal(void **state)
{
    tw_table t;
    mixed_table(&t);
    char *out = render(&t, true, 100);
    assert_string_equal(out,
        "NAME            PLACE     N\n"
        "Bethlehem Link  \u2068بَيْت لَحْم\u2069  12\n"
        "Oxford          \u2068نابلس\u2069     3\n");
    free(out);
    /* 20 columns: the widest column is cut with an ellipsis. */
    out = render(&t, true, 20);
    assert_string_equal(out,
        "NAME     PLACE     N\n"
        "Bethle\u2026  \u2068بَيْت لَحْم\u2069  12\n"
        "Oxford   \u2068نابلس\u2069     3\n");
    free(out);
    tw_table_free(&t);
}

static void test_table_cells(void **state)
{
    tw_table t;
    assert_int_equal(tw_table_init(&t, 2, NULL), 0);
    tw_val list[2] = { tw_v_cstr("a"), tw_v_cstr("b") };
    tw_val arr = { .type = TW_ARR, .len = 2, .v.arr = list };
    assert_int_equal(tw_table_addz(&t, "k\x1B"), 0);
    assert_int_equal(tw_table_addv(&t, &arr), 0);
    assert_int_equal(tw_table_addz(&t, "日本"), 0);
    tw_val yes = tw_v_bool(true);
    assert_int_equal(tw_table_addv(&t, &yes), 0);
    assert_int_equal(tw_table_addz(&t, "x"), 0);
    assert_int_equal(tw_table_addz(&t, ""), 0);        /* no trailing blanks */
    char *out = render(&t, false, 0);
    assert_string_equal(out, "k\\x1B  a; b\n日本   yes\nx\n");
    free(out);
    tw_table_free(&t);
}

/* Display width of each line of out, the widest. */
static size_t widest_line(const char *out)
{
    size_t best = 0;
    for (const char *l = out; *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        size_t w = tw_width_str(l, n);
        if (w > best) best = w;
        l += n + (nl ? 1 : 0);
    }
    return best;
}

/* Record tables fit their width piped too (TW_FIT_ALWAYS): Arabic with
 * harakat, CJK and the ellipsis are measured in display cells, a cut never
 * splits a letter from its marks, and columns that must not be cut stay
 * whole; TW_FIT_NEVER (--wide) leaves every cell whole. */
static void test_table_fit_piped(void **state)
{
    tw_table t;
    static const char *const heads[] = { "GROUP", "PLACE", "STATUS" };
    assert_int_equal(tw_table_init(&t, 3, heads), 0);
    tw_table_align(&t, 2, TW_COL_NOCUT);
    assert_int_equal(tw_table_addz(&t, "Walsall Kobar Friendship Association"), 0);
    assert_int_equal(tw_table_addz(&t, "Kobar كَوْبَر قرية في محافظة رام الله"), 0);
    assert_int_equal(tw_table_addz(&t, "active"), 0);
    assert_int_equal(tw_table_addz(&t, "東京日本友好協会ロンドン支部"), 0);
    assert_int_equal(tw_table_addz(&t, "مُخَيَّم عايدة"), 0);
    assert_int_equal(tw_table_addz(&t, "exploring"), 0);
    /* The default: piped tables are not cut. */
    char *out = render(&t, false, 40);
    assert_true(widest_line(out) > 40);
    assert_null(strstr(out, "\u2026"));
    free(out);
    t.fit = TW_FIT_ALWAYS;
    out = render(&t, false, 40);
    assert_true(widest_line(out) <= 40);
    assert_string_equal(out,
        "GROUP          PLACE           STATUS\n"
        "Walsall Koba\u2026  Kobar كَوْبَر قر\u2026  active\n"
        "東京日本友好\u2026  مُخَيَّم عايدة      exploring\n");
    free(out);
    /* Narrower than the columns allow: cut down to TW_CLI_CELL_MIN, no further. */
    out = render(&t, false, 10);
    assert_int_equal(widest_line(out), TW_CLI_CELL_MIN + 2 + TW_CLI_CELL_MIN + 2 + strlen("exploring"));
    free(out);
    t.fit = TW_FIT_NEVER;
    out = render(&t, true, 40);
    assert_non_null(strstr(out, "Walsall Kobar Friendship Association"));
    assert_non_null(strstr(out, "東京日本友好協会ロンドン支部"));
    assert_null(strstr(out, "\u2026"));
    free(out);
    tw_table_free(&t);
}

/* ---- import: whose records a file holds ---- */

/* tw_cli_items_own keeps this node's records and those without an author;
 * other authors' (and, without an author, "mine": false) are counted, by
 * records and by distinct authors, unless adopt; a bad author is an error
 * of its line. */
static void test_items_own(void **state)
{
    uint8_t own[32], other1[32], other2[32];
    char kt_own[TW_KEYTEXT_LEN + 1], kt1[TW_KEYTEXT_LEN + 1], kt2[TW_KEYTEXT_LEN + 1];
    memset(own, 1, 32);
    memset(other1, 2, 32);
    memset(other2, 3, 32);
    tw_keytext_encode(kt_own, TW_KEYTEXT_PREFIX, own);
    tw_keytext_encode(kt1, TW_KEYTEXT_PREFIX, other1);
    tw_keytext_encode(kt2, TW_KEYTEXT_PREFIX, other2);
    for (int adopt = 0; adopt < 2; adopt++) {
        tw_items it = { 0 };
        const char *authors[] = { kt_own, kt1, NULL, kt2, kt1, NULL };
        bool not_mine[] = { false, false, false, false, true, true };
        for (uint32_t i = 0; i < 6; i++) {
            tw_item x = { .kind = "group", .kind_len = 5, .slot = "s", .slot_len = 1, .line = i + 1,
                          .author = authors[i], .author_len = authors[i] ? strlen(authors[i]) : 0,
                          .not_mine = not_mine[i] };
            tw_item *nv = realloc(it.v, (it.n + 1) * sizeof *nv);
            assert_non_null(nv);
            it.v = nv;
            it.v[it.n++] = x;
        }
        tw_errs errs = { .file = "f.json", .n = 0 };
        assert_int_equal(tw_cli_items_own(&it, own, adopt, &errs), 0);
        assert_int_equal(errs.n, 0);
        if (adopt) {
            assert_int_equal(it.n, 6);
            assert_int_equal(it.skipped, 0);
        } else {
            /* Kept: this node's (line 1) and the author-less one (line 3). */
            assert_int_equal(it.n, 2);
            assert_int_equal(it.v[0].line, 1);
            assert_int_equal(it.v[1].line, 3);
            /* Skipped: lines 2 and 5 (other1), 4 (other2), 6 (no author, not mine). */
            assert_int_equal(it.skipped, 4);
            assert_int_equal(it.skipped_authors, 3);
        }
        tw_items_free(&it);
    }
    /* An author that is not a key: an error of its line, the record not kept. */
    tw_items it = { 0 };
    tw_item x = { .kind = "group", .kind_len = 5, .slot = "s", .slot_len = 1, .line = 7,
                  .author = "twk_nonsense", .author_len = 12 };
    it.v = malloc(sizeof *it.v);
    assert_non_null(it.v);
    it.v[0] = x;
    it.n = 1;
    tw_errs errs = { .file = "f.json", .n = 0 };
    assert_int_equal(tw_cli_items_own(&it, own, true, &errs), 0);
    assert_int_equal(errs.n, 1);
    assert_int_equal(it.n, 0);
    tw_items_free(&it);
}

/* ---- arguments ---- */

static int run_noop(tw_cli *cli, int argc, char **argv) { return 0; }
static const tw_cmd test_cmd = { "test", "a test command", "[--out FILE] ARG...", "", run_noop };

static void test_args(void **state)
{
    tw_cli cli;
    const char *out = NULL;
    bool flag = false;
    const tw_opt opts[] = { { "out", 'o', &out, NULL }, { "flag", 0, NULL, &flag }, { NULL, 0, NULL, NULL } };
    int npos;

    tw_cli_init(&cli, false, "80");
    assert_int_equal(cli.columns, 80);
    char *a1[] = { "test", "x", "--json", "-o", "f.json", "y", "--flag", "--data-dir=/d", "--", "--z", NULL };
    assert_int_equal(tw_cli_parse(&cli, &test_cmd, 10, a1, opts, 1, -1, &npos), TW_CLI_CONTINUE);
    assert_int_equal(npos, 3);
    assert_string_equal(a1[0], "x");
    assert_string_equal(a1[1], "y");
    assert_string_equal(a1[2], "--z");
    assert_true(cli.json);
    assert_true(flag);
    assert_string_equal(out, "f.json");
    assert_string_equal(cli.data_dir, "/d");

    tw_cli_init(&cli, false, NULL);
    assert_int_equal(cli.columns, TW_CLI_COLUMNS_DEFAULT);
    char *a2[] = { "test", "--out=o", "--socket", "/s", "p", NULL };
    assert_int_equal(tw_cli_parse(&cli, &test_cmd, 5, a2, opts, 0, 1, &npos), TW_CLI_CONTINUE);
    assert_string_equal(out, "o");
    assert_string_equal(cli.socket, "/s");

    /* Usage errors: exit status 2. */
    char *a3[] = { "test", "--bogus", NULL };
    assert_int_equal(tw_cli_parse(&cli, &test_cmd, 2, a3, opts, 0, -1, &npos), TW_EXIT_USAGE);
    char *a4[] = { "test", "--out", NULL };
    assert_int_equal(tw_cli_parse(&cli, &test_cmd, 2, a4, opts, 0, -1, &npos), TW_EXIT_USAGE);
    char *a5[] = { "test", NULL };
    assert_int_equal(tw_cli_parse(&cli, &test_cmd, 1, a5, opts, 1, -1, &npos), TW_EXIT_USAGE);
    char *a6[] = { "test", "a", "b", NULL };
    assert_int_equal(tw_cli_parse(&cli, &test_cmd, 3, a6, opts, 0, 1, &npos), TW_EXIT_USAGE);
    char *a7[] = { "test", "--flag=1", NULL };
    assert_int_equal(tw_cli_parse(&cli, &test_cmd, 2, a7, opts, 0, -1, &npos), TW_EXIT_USAGE);
    char *a8[] = { "test", "-xy", NULL };
    assert_int_equal(tw_cli_parse(&cli, &test_cmd, 2, a8, opts, 0, -1, &npos), TW_EXIT_USAGE);
    /* --help wins over missing arguments and exits 0. */
    char *a9[] = { "test", "--help", NULL };
    assert_int_equal(tw_cli_parse(&cli, &test_cmd, 2, a9, opts, 1, -1, &npos), TW_EXIT_OK);
    char *a10[] = { "test", "-h", NULL };
    assert_int_equal(tw_cli_parse(&cli, &test_cmd, 2, a10, opts, 1, -1, &npos), TW_EXIT_OK);
    /* "-" alone is an argument (stdin). */
    char *a11[] = { "test", "-", NULL };
    assert_int_equal(tw_cli_parse(&cli, &test_cmd, 2, a11, opts, 1, 1, &npos), TW_CLI_CONTINUE);
    assert_string_equal(a11[0], "-");
}

static void test_args_globals(void **state)
{
    tw_cli cli;
    int first;
    tw_cli_init(&cli, true, "5");   /* absurd widths are ignored */
    assert_int_equal(cli.columns, TW_CLI_COLUMNS_DEFAULT);
    char *a1[] = { "twin", "--json", "--socket", "/tmp/s", "list", "group", "--json", NULL };
    assert_int_equal(tw_cli_globals(&cli, 7, a1, &first), TW_CLI_CONTINUE);
    assert_int_equal(first, 4);
    assert_true(cli.json);
    assert_string_equal(cli.socket, "/tmp/s");
    char *a2[] = { "twin", "--help", NULL };
    assert_int_equal(tw_cli_globals(&cli, 2, a2, &first), TW_CLI_CONTINUE);
    assert_int_equal(first, -1);
    char *a3[] = { "twin", "--frobnicate", "status", NULL };
    assert_int_equal(tw_cli_globals(&cli, 3, a3, &first), TW_EXIT_USAGE);
    char *a4[] = { "twin", "--data-dir", NULL };
    assert_int_equal(tw_cli_globals(&cli, 2, a4, &first), TW_EXIT_USAGE);
}

static void test_socket_path(void **state)
{
    tw_cli cli;
    char p[TW_CLI_PATH_MAX];
    tw_cli_init(&cli, false, NULL);
    setenv("HOME", "/home/assoc", 1);
    unsetenv("XDG_DATA_HOME");
    unsetenv("TWIN_SOCKET");
    assert_int_equal(tw_cli_socket_path(&cli, p, sizeof p), 0);
    assert_string_equal(p, "/home/assoc/.local/share/twind/twind.sock");
    setenv("XDG_DATA_HOME", "relative/dir", 1);    /* ignored, per the XDG rules */
    assert_int_equal(tw_cli_socket_path(&cli, p, sizeof p), 0);
    assert_string_equal(p, "/home/assoc/.local/share/twind/twind.sock");
    setenv("XDG_DATA_HOME", "/xdg", 1);
    assert_int_equal(tw_cli_socket_path(&cli, p, sizeof p), 0);
    assert_string_equal(p, "/xdg/twind/twind.sock");
    setenv("TWIN_SOCKET", "/run/t.sock", 1);
    assert_int_equal(tw_cli_socket_path(&cli, p, sizeof p), 0);
    assert_string_equal(p, "/run/t.sock");
    cli.data_dir = "/srv/twind";
    assert_int_equal(tw_cli_socket_path(&cli, p, sizeof p), 0);
    assert_string_equal(p, "/srv/twind/twind.sock");
    cli.socket = "/x.sock";
    assert_int_equal(tw_cli_socket_path(&cli, p, sizeof p), 0);
    assert_string_equal(p, "/x.sock");
    assert_int_equal(tw_cli_socket_path(&cli, p, 4), TW_ETOOBIG);
    unsetenv("TWIN_SOCKET");
    unsetenv("XDG_DATA_HOME");
}

static void test_conn_missing_socket(void **state)
{
    tw_conn *c;
    char err[512];
    assert_int_equal(tw_conn_open(&c, "/nonexistent-twin-test/twind.sock", err, sizeof err), TW_ECLOSED);
    assert_null(c);
    assert_string_equal(err, "cannot reach twind at /nonexistent-twin-test/twind.sock: "
                             "No such file or directory (is twind running?)");
    char longp[300];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(tw_conn_open(&c, longp, err, sizeof err), TW_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_size_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_writer, setup, teardown),
        cmocka_unit_test(test_csv_read),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_csv_write),
        cmocka_unit_test(test_csv_guard),
        cmocka_unit_test(test_width),
        cmocka_unit_test(test_width_escape),
        cmocka_unit_test(test_width_fit_and_rtl),
        cmocka_unit_test(test_table_piped),
        cmocka_unit_test(test_table_terminal),
        cmocka_unit_test(test_table_cells),
        cmocka_unit_test(test_table_fit_piped),
        cmocka_unit_test(test_items_own),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_args_globals),
        cmocka_unit_test(test_socket_path),
        cmocka_unit_test(test_conn_missing_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
