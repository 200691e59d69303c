/* The address classifier behind "learnt addresses": which addresses a
 * node may dial when another node's peer record names them.  Link-local,
 * private and multicast addresses are tested here only: no test makes a
 * node dial anything outside 127.0.0.0/8 and ::1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "twin/addr.h"

static tw_addr_class cl(const char *a) { return tw_addr_classify(a, strlen(a)); }

static void test_ipv4(void **state)
{
    (void)state;
    assert_int_equal(cl("192.0.2.10:7700"), TW_ADDR_PUBLIC);
    assert_int_equal(cl("8.8.8.8:53"), TW_ADDR_PUBLIC);
    assert_int_equal(cl("0.0.0.0:7700"), TW_ADDR_UNSPECIFIED);
    assert_int_equal(cl("0.1.2.3:7700"), TW_ADDR_UNSPECIFIED);
    assert_int_equal(cl("127.0.0.1:22"), TW_ADDR_LOOPBACK);
    assert_int_equal(cl("127.255.255.254:80"), TW_ADDR_LOOPBACK);
    assert_int_equal(cl("126.255.255.255:80"), TW_ADDR_PUBLIC);
    assert_int_equal(cl("128.0.0.0:80"), TW_ADDR_PUBLIC);
    assert_int_equal(cl("169.254.169.254:80"), TW_ADDR_LINKLOCAL);   /* cloud metadata */
    assert_int_equal(cl("169.254.0.0:80"), TW_ADDR_LINKLOCAL);
    assert_int_equal(cl("169.253.255.255:80"), TW_ADDR_PUBLIC);
    assert_int_equal(cl("169.255.0.0:80"), TW_ADDR_PUBLIC);
    assert_int_equal(cl("10.0.0.1:7700"), TW_ADDR_PRIVATE);
    assert_int_equal(cl("10.255.255.255:7700"), TW_ADDR_PRIVATE);
    assert_int_equal(cl("11.0.0.0:7700"), TW_ADDR_PUBLIC);
    assert_int_equal(cl("172.16.0.0:7700"), TW_ADDR_PRIVATE);
    assert_int_equal(cl("172.31.255.255:7700"), TW_ADDR_PRIVATE);
    assert_int_equal(cl("172.15.255.255:7700"), TW_ADDR_PUBLIC);
    assert_int_equal(cl("172.32.0.0:7700"), TW_ADDR_PUBLIC);
    assert_int_equal(cl("192.168.1.1:7700"), TW_ADDR_PRIVATE);
    assert_int_equal(cl("192.169.0.1:7700"), TW_ADDR_PUBLIC);
    assert_int_equal(cl("100.64.0.1:7700"), TW_ADDR_PRIVATE);        /* carrier-grade NAT */
    assert_int_equal(cl("100.127.255.255:7700"), TW_ADDR_PRIVATE);
    assert_int_equal(cl("100.128.0.0:7700"), TW_ADDR_PUBLIC);
    assert_int_equal(cl("224.0.0.1:7700"), TW_ADDR_MULTICAST);
    assert_int_equal(cl("239.255.255.250:1900"), TW_ADDR_MULTICAST);
    assert_int_equal(cl("223.255.255.255:7700"), TW_ADDR_PUBLIC);
    assert_int_equal(cl("240.0.0.1:7700"), TW_ADDR_RESERVED);
    assert_int_equal(cl("255.255.255.255:7700"), TW_ADDR_RESERVED);
}

static void test_ipv6(void **state)
{
    (void)state;
    assert_int_equal(cl("[2001:db8::1]:7700"), TW_ADDR_PUBLIC);
    assert_int_equal(cl("[2a00:1450::1]:443"), TW_ADDR_PUBLIC);
    assert_int_equal(cl("[::]:7700"), TW_ADDR_UNSPECIFIED);
    assert_int_equal(cl("[::1]:7700"), TW_ADDR_LOOPBACK);
    assert_int_equal(cl("[fe80::1]:7700"), TW_ADDR_LINKLOCAL);
    assert_int_equal(cl("[febf:ffff::1]:7700"), TW_ADDR_LINKLOCAL);
    assert_int_equal(cl("[fec0::1]:7700"), TW_ADDR_PRIVATE);
    assert_int_equal(cl("[fc00::1]:7700"), TW_ADDR_PRIVATE);
    assert_int_equal(cl("[fdff:ffff::1]:7700"), TW_ADDR_PRIVATE);
    assert_int_equal(cl("[ff02::1]:7700"), TW_ADDR_MULTICAST);
    /* IPv4-mapped and -compatible: classified as the IPv4 address. */
    assert_int_equal(cl("[::ffff:127.0.0.1]:22"), TW_ADDR_LOOPBACK);
    assert_int_equal(cl("[::ffff:169.254.169.254]:80"), TW_ADDR_LINKLOCAL);
    assert_int_equal(cl("[::ffff:0.0.0.0]:80"), TW_ADDR_UNSPECIFIED);
    assert_int_equal(cl("[::ffff:192.0.2.1]:80"), TW_ADDR_PUBLIC);
    assert_int_equal(cl("[::127.0.0.1]:80"), TW_ADDR_LOOPBACK);
    assert_int_equal(cl("[4000::1]:80"), TW_ADDR_RESERVED);
    /* A bare literal, as a resolver result would print it. */
    assert_int_equal(cl("::1"), TW_ADDR_LOOPBACK);
}

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(cl("hub.example.org:7700"), TW_ADDR_NAME);
    assert_int_equal(cl("node.invalid:7700"), TW_ADDR_NAME);
    assert_int_equal(cl("localhost:7700"), TW_ADDR_LOOPBACK);
    assert_int_equal(cl("LOCALHOST:7700"), TW_ADDR_LOOPBACK);
    assert_int_equal(cl("a.localhost:7700"), TW_ADDR_LOOPBACK);
    /* Numeric forms a resolver reads as addresses, not names. */
    assert_int_equal(cl("127.1:22"), TW_ADDR_RESERVED);
    assert_int_equal(cl("2130706433:22"), TW_ADDR_RESERVED);
    assert_int_equal(cl("0x7f.1:22"), TW_ADDR_RESERVED);
    assert_int_equal(cl("0:22"), TW_ADDR_RESERVED);
    assert_int_equal(cl("1e100.net:443"), TW_ADDR_NAME);
    assert_int_equal(cl(":7700"), TW_ADDR_INVALID);
    assert_int_equal(cl("[::1:7700"), TW_ADDR_INVALID);
    assert_int_equal(cl(""), TW_ADDR_INVALID);
}

static void test_policy(void **state)
{
    (void)state;
    const unsigned none = 0, priv = TW_ADDR_ALLOW_PRIVATE, loop = TW_ADDR_ALLOW_LOOPBACK, both = priv | loop;
    for (unsigned a = 0; a <= both; a++) {
        assert_true(tw_addr_allowed(TW_ADDR_PUBLIC, a));
        assert_true(tw_addr_allowed(TW_ADDR_NAME, a));
        assert_false(tw_addr_allowed(TW_ADDR_UNSPECIFIED, a));
        assert_false(tw_addr_allowed(TW_ADDR_LINKLOCAL, a));
        assert_false(tw_addr_allowed(TW_ADDR_MULTICAST, a));
        assert_false(tw_addr_allowed(TW_ADDR_RESERVED, a));
        assert_false(tw_addr_allowed(TW_ADDR_INVALID, a));
    }
    assert_false(tw_addr_allowed(TW_ADDR_PRIVATE, none));
    assert_true(tw_addr_allowed(TW_ADDR_PRIVATE, priv));
    assert_false(tw_addr_allowed(TW_ADDR_PRIVATE, loop));
    assert_false(tw_addr_allowed(TW_ADDR_LOOPBACK, none));
    assert_false(tw_addr_allowed(TW_ADDR_LOOPBACK, priv));
    assert_true(tw_addr_allowed(TW_ADDR_LOOPBACK, loop));
    assert_true(tw_addr_allowed(TW_ADDR_LOOPBACK, both));
    /* Binary addresses, as the resolver gives them. */
    const uint8_t v4[4] = { 169, 254, 169, 254 }, v6[16] = { [15] = 1 };
    assert_int_equal(tw_addr_classify_ip(4, v4), TW_ADDR_LINKLOCAL);
    assert_int_equal(tw_addr_classify_ip(6, v6), TW_ADDR_LOOPBACK);
    assert_int_equal(tw_addr_classify_ip(5, v4), TW_ADDR_INVALID);
    assert_string_equal(tw_addr_class_name(TW_ADDR_LINKLOCAL), "link-local");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
