/* The log rate limiter (daemon/log.c): N identical lines of one key give
 * TW_LOG_BURST lines and one "N - TW_LOG_BURST similar lines dropped"
 * summary when the window closes; other keys and plain lines pass; the
 * edges of the burst, the window and the key table; levels. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "twin/limits.h"
#include "log.h"

static uint64_t fake_now = 1000000;   /* only ever moves forward, across tests too */
static uint64_t fake_clock(void) { return fake_now; }

static FILE *cap;
static int saved_fd = -1;

/* Log lines go to stderr: point fd 2 at a fresh temporary file. */
static int setup(void **state)
{
    unsetenv("JOURNAL_STREAM");
    fflush(stderr);
    cap = tmpfile();
    if (!cap) return -1;
    if (saved_fd < 0) saved_fd = dup(2);
    dup2(fileno(cap), 2);
    tw_log_set_clock(fake_clock);
    tw_log_set_level(TW_LOG_INFO);
    return 0;
}

static int teardown(void **state)
{
    /* Forget every key's window between tests. */
    fake_now += 10 * (uint64_t)TW_LOG_WINDOW_MS;
    tw_log_flush(1);
    fflush(stderr);
    dup2(saved_fd, 2);
    fclose(cap);
    return 0;
}

/* Everything written since the last call. */
static char *captured(void)
{
    static char buf[1 << 20];
    static long done;
    fflush(stderr);
    fseek(cap, 0, SEEK_END);
    long size = ftell(cap);
    if (size < done) done = 0;
    fseek(cap, done, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, cap);
    buf[n] = 0;
    done = size;
    return buf;
}

static unsigned count(const char *hay, const char *needle)
{
    unsigned k = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) k++;
    return k;
}

static void test_identical_lines_summed(void **state)
{
    const unsigned n = 1000;
    captured();
    for (unsigned i = 0; i < n; i++)
        tw_log_limited(TW_LOG_INFO, "net", "t.refused", "127.0.0.1:%u: refused: too many connections", 40000 + i);
    char *out = captured();
    assert_int_equal(count(out, "refused: too many connections"), TW_LOG_BURST);
    assert_int_equal(count(out, "\n"), TW_LOG_BURST);
    assert_null(strstr(out, "dropped"));          /* the window is still open */
    fake_now += TW_LOG_WINDOW_MS - 1;
    tw_log_flush(0);
    assert_string_equal(captured(), "");          /* 1 ms before it closes */
    fake_now += 1;
    tw_log_flush(0);
    out = captured();
    char want[160];
    snprintf(want, sizeof want, "info net: t.refused: %u similar lines dropped in %u s (last: 127.0.0.1:%u: refused",
             n - TW_LOG_BURST, TW_LOG_WINDOW_MS / 1000, 40000 + n - 1);
    assert_non_null(strstr(out, want));
    assert_int_equal(count(out, "\n"), 1);
    tw_log_flush(0);
    assert_string_equal(captured(), "");          /* summed up once */
    /* A new window: the key writes again. */
    tw_log_limited(TW_LOG_INFO, "net", "t.refused", "again");
    assert_non_null(strstr(captured(), "info net: again"));
}

static void test_burst_edge(void **state)
{
    captured();
    for (unsigned i = 0; i < TW_LOG_BURST; i++) tw_log_limited(TW_LOG_WARN, "ctl", "t.edge", "line %u", i);
    fake_now += TW_LOG_WINDOW_MS;
    tw_log_flush(0);
    char *out = captured();
    assert_int_equal(count(out, "\n"), TW_LOG_BURST);   /* exactly the burst: nothing dropped, no summary */
    assert_null(strstr(out, "dropped"));
    for (unsigned i = 0; i <= TW_LOG_BURST; i++) tw_log_limited(TW_LOG_WARN, "ctl", "t.edge", "line %u", i);
    fake_now += TW_LOG_WINDOW_MS;
    tw_log_flush(0);
    out = captured();
    assert_int_equal(count(out, "\n"), TW_LOG_BURST + 1);
    assert_non_null(strstr(out, "warn ctl: t.edge: 1 similar line dropped in 10 s (last: line 5)"));
}

/* Distinct keys and plain lines are not held back by a flooded key. */
static void test_distinct_pass(void **state)
{
    captured();
    for (unsigned i = 0; i < 100; i++) tw_log_limited(TW_LOG_INFO, "ctl", "t.flood", "flood %u", i);
    tw_log_limited(TW_LOG_INFO, "ctl", "t.other", "another kind");
    tw_log(TW_LOG_INFO, "main", "plain line");
    for (unsigned i = 0; i < 3 * TW_LOG_BURST; i++) tw_log_limited(TW_LOG_INFO, "ctl", NULL, "unkeyed %u", i);
    for (unsigned i = 0; i < TW_LOG_BURST; i++) tw_log_limited(TW_LOG_INFO, "ctl", "t.third", "third %u", i);
    char *out = captured();
    assert_non_null(strstr(out, "another kind"));
    assert_non_null(strstr(out, "plain line"));
    assert_int_equal(count(out, "third "), TW_LOG_BURST);
    assert_int_equal(count(out, "flood "), TW_LOG_BURST);
    assert_int_equal(count(out, "unkeyed "), 3 * TW_LOG_BURST);    /* no key: never limited */
    /* The next line of a key whose window closed sums that window up first. */
    fake_now += TW_LOG_WINDOW_MS;
    tw_log_limited(TW_LOG_INFO, "ctl", "t.flood", "flood again");
    out = captured();
    char *sum = strstr(out, "t.flood: 95 similar lines dropped"), *again = strstr(out, "flood again");
    assert_non_null(sum);
    assert_non_null(again);
    assert_true(sum < again);
}

/* Lines above the level are neither written nor counted. */
static void test_level(void **state)
{
    captured();
    for (unsigned i = 0; i < 50; i++) tw_log_limited(TW_LOG_DEBUG, "net", "t.debug", "debug %u", i);
    fake_now += TW_LOG_WINDOW_MS;
    tw_log_flush(1);
    assert_string_equal(captured(), "");
}

/* The key table at its edge: TW_LOG_KEYS_MAX keys are tracked; one more
 * evicts the least recently used, whose dropped lines are summed up then. */
static void test_key_table_edge(void **state)
{
    char key[TW_LOG_KEY_MAX];
    captured();
    for (unsigned k = 0; k < TW_LOG_KEYS_MAX; k++) {
        snprintf(key, sizeof key, "t.k%u", k);
        fake_now++;
        for (unsigned i = 0; i < TW_LOG_BURST + 2; i++) tw_log_limited(TW_LOG_INFO, "t", key, "%s line", key);
    }
    char *out = captured();
    assert_int_equal(count(out, "\n"), TW_LOG_KEYS_MAX * TW_LOG_BURST);
    assert_null(strstr(out, "dropped"));
    fake_now++;
    tw_log_limited(TW_LOG_INFO, "t", "t.new", "a new kind");
    out = captured();
    assert_non_null(strstr(out, "t.k0: 2 similar lines dropped"));   /* the least recently used */
    assert_non_null(strstr(out, "a new kind"));
    assert_int_equal(count(out, "\n"), 2);
    /* A key longer than the kept bytes is the same key as its prefix. */
    char longkey[2 * TW_LOG_KEY_MAX];
    memset(longkey, 'x', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = 0;
    for (unsigned i = 0; i < TW_LOG_BURST + 3; i++) tw_log_limited(TW_LOG_INFO, "t", longkey, "long %u", i);
    longkey[TW_LOG_KEY_MAX] = 'y';
    tw_log_limited(TW_LOG_INFO, "t", longkey, "long y");
    tw_log_flush(1);
    out = captured();
    assert_int_equal(count(out, "info t: long "), TW_LOG_BURST);
    assert_non_null(strstr(out, "4 similar lines dropped"));
    assert_non_null(strstr(out, "(last: long y)"));
}

/* A summary keeps a cut message valid UTF-8; control characters never
 * reach the log. */
static void test_text(void **state)
{
    char big[600];
    size_t n = 0;
    while (n + 2 < sizeof big) { big[n++] = (char)0xD8; big[n++] = (char)0xA3; }   /* U+0623 */
    big[n] = 0;
    captured();
    for (unsigned i = 0; i < TW_LOG_BURST; i++) tw_log_limited(TW_LOG_INFO, "t", "t.text", "a\nb\tc");
    tw_log_limited(TW_LOG_INFO, "t", "t.text", "x%s", big);
    tw_log_flush(1);
    char *out = captured();
    assert_int_equal(count(out, "a b c"), TW_LOG_BURST);
    char *last = strstr(out, "(last: x");
    assert_non_null(last);
    char *end = strstr(last, ")\n");
    assert_non_null(end);
    assert_int_equal((end - last - 8) % 2, 0);      /* whole two-byte characters only */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identical_lines_summed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_distinct_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_table_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
