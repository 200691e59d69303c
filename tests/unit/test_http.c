/* The web interface's Host rule (daemon/http.c, tw_http_host_allowed):
 * what a browser may name in Host for a given http setting.  Wildcard
 * addresses are tested here only: no test listens beyond 127.0.0.0/8. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "http.h"

static void test_loopback(void **state)
{
    (void)state;
    const char *a = "127.0.0.1:8427";
    assert_true(tw_http_host_allowed(a, "127.0.0.1:8427"));
    assert_true(tw_http_host_allowed(a, "localhost:8427"));
    assert_true(tw_http_host_allowed(a, "LOCALHOST:8427"));
    assert_true(tw_http_host_allowed(a, "[::1]:8427"));
    assert_false(tw_http_host_allowed(a, "127.0.0.1:8428"));     /* another port */
    assert_false(tw_http_host_allowed(a, "127.0.0.1"));          /* no port */
    assert_false(tw_http_host_allowed(a, "127.0.0.1:"));
    assert_false(tw_http_host_allowed(a, "127.0.0.1:+8427"));
    assert_false(tw_http_host_allowed(a, "127.0.0.1:8427x"));
    assert_false(tw_http_host_allowed(a, "evil.example:8427"));  /* DNS rebinding */
    assert_false(tw_http_host_allowed(a, "localhost.evil.example:8427"));
    assert_false(tw_http_host_allowed(a, "192.0.2.1:8427"));     /* an IP, but not this server's */
    assert_false(tw_http_host_allowed(a, ""));
    assert_false(tw_http_host_allowed(a, NULL));
    char longh[400];
    memset(longh, 'a', sizeof longh - 1);
    longh[sizeof longh - 1] = 0;
    assert_false(tw_http_host_allowed(a, longh));
}

static void test_other_loopback(void **state)
{
    (void)state;
    const char *a = "127.0.0.2:9000";
    assert_true(tw_http_host_allowed(a, "127.0.0.2:9000"));
    assert_true(tw_http_host_allowed(a, "localhost:9000"));
    assert_false(tw_http_host_allowed(a, "127.0.0.3:9000"));
    assert_true(tw_http_host_allowed("[::1]:8427", "[::1]:8427"));
    assert_true(tw_http_host_allowed("[::1]:8427", "127.0.0.1:8427"));
}

static void test_wildcard(void **state)
{
    (void)state;
    /* Any IP literal with the port: a rebinding attack needs a name. */
    assert_true(tw_http_host_allowed("0.0.0.0:8427", "192.0.2.1:8427"));
    assert_true(tw_http_host_allowed("0.0.0.0:8427", "[2001:db8::1]:8427"));
    assert_true(tw_http_host_allowed("[::]:8427", "198.51.100.7:8427"));
    assert_true(tw_http_host_allowed("[0:0::0]:8427", "198.51.100.7:8427"));
    assert_false(tw_http_host_allowed("0.0.0.0:8427", "node.example.org:8427"));
    assert_false(tw_http_host_allowed("0.0.0.0:8427", "192.0.2.1:80"));
    assert_false(tw_http_host_allowed("0.0.0.0:8427", "192.0.2.1"));
    /* A specific public address: only itself (and loopback names). */
    assert_true(tw_http_host_allowed("192.0.2.1:8427", "192.0.2.1:8427"));
    assert_false(tw_http_host_allowed("192.0.2.1:8427", "192.0.2.2:8427"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_other_loopback),
        cmocka_unit_test(test_wildcard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
