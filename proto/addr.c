/* Address classes (include/twin/addr.h). */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "twin/addr.h"
#include "twin/limits.h"

#define ADDR_TEXT_MAX 262u    /* as TW_ADDR_MAX: "[v6]:port" or "name:port" */

static tw_addr_class v4(const uint8_t *a)
{
    if (a[0] == 0) return TW_ADDR_UNSPECIFIED;
    if (a[0] == 127) return TW_ADDR_LOOPBACK;
    if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
        (a[0] == 100 && (a[1] & 0xc0) == 64))
        return TW_ADDR_PRIVATE;
    if (a[0] == 169 && a[1] == 254) return TW_ADDR_LINKLOCAL;
    if ((a[0] & 0xf0) == 224) return TW_ADDR_MULTICAST;
    if ((a[0] & 0xf0) == 240) return TW_ADDR_RESERVED;   /* includes 255.255.255.255 */
    return TW_ADDR_PUBLIC;
}

tw_addr_class tw_addr_classify_ip(int family, const uint8_t *ip)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    static const uint8_t zero[16] = { 0 };
    if (family == 4) return v4(ip);
    if (family != 6) return TW_ADDR_INVALID;
    if (memcmp(ip, mapped, 12) == 0) return v4(ip + 12);
    if (memcmp(ip, zero, 16) == 0) return TW_ADDR_UNSPECIFIED;
    if (memcmp(ip, zero, 15) == 0 && ip[15] == 1) return TW_ADDR_LOOPBACK;
    /* IPv4-compatible ::a.b.c.d (deprecated): as the IPv4 address. */
    if (memcmp(ip, zero, 12) == 0) return v4(ip + 12);
    if (ip[0] == 0xff) return TW_ADDR_MULTICAST;
    if (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80) return TW_ADDR_LINKLOCAL;
    if (ip[0] == 0xfe && (ip[1] & 0xc0) == 0xc0) return TW_ADDR_PRIVATE;   /* site-local */
    if ((ip[0] & 0xfe) == 0xfc) return TW_ADDR_PRIVATE;                    /* unique local */
    if ((ip[0] & 0xe0) != 0x20) return TW_ADDR_RESERVED;                   /* not global unicast 2000::/3 */
    return TW_ADDR_PUBLIC;
}

tw_addr_class tw_addr_classify(const char *addr, size_t len)
{
    char host[ADDR_TEXT_MAX];
    const char *h = addr;
    size_t hl = len;
    if (len == 0 || len >= sizeof host) return TW_ADDR_INVALID;
    if (addr[0] == '[') {
        const char *close = memchr(addr, ']', len);
        if (!close) return TW_ADDR_INVALID;
        h = addr + 1;
        hl = (size_t)(close - addr) - 1;
    } else {
        /* HOST:PORT has one colon; a bare IPv6 literal has several. */
        const char *colon = memchr(addr, ':', len), *last = addr + len;
        while (last > addr && last[-1] != ':') last--;
        if (colon && last - 1 == colon) hl = (size_t)(colon - addr);
    }
    if (hl == 0 || hl >= sizeof host) return TW_ADDR_INVALID;
    memcpy(host, h, hl);
    host[hl] = 0;
    uint8_t ip[16];
    if (inet_pton(AF_INET6, host, ip) == 1) return tw_addr_classify_ip(6, ip);
    if (inet_pton(AF_INET, host, ip) == 1) return tw_addr_classify_ip(4, ip);
    /* Forms inet_pton does not take but resolvers do ("127.1", "0x7f.1",
     * "2130706433", "0"): a name made of digits, dots and hex prefixes is
     * not a DNS name a node would publish; refuse it rather than guess. */
    bool numeric = true;
    for (size_t i = 0; i < hl && numeric; i++)
        numeric = (host[i] >= '0' && host[i] <= '9') || host[i] == '.' || host[i] == 'x' || host[i] == 'X' ||
                  (host[i] >= 'a' && host[i] <= 'f') || (host[i] >= 'A' && host[i] <= 'F');
    if (numeric && hl && ((host[0] >= '0' && host[0] <= '9'))) return TW_ADDR_RESERVED;
    /* localhost and its subdomains resolve to loopback by convention. */
    if (strcasecmp(host, "localhost") == 0 || (hl > 10 && strcasecmp(host + hl - 10, ".localhost") == 0) ||
        strcasecmp(host, "localhost.") == 0)
        return TW_ADDR_LOOPBACK;
    return TW_ADDR_NAME;
}

bool tw_addr_allowed(tw_addr_class c, unsigned allow)
{
    switch (c) {
    case TW_ADDR_PUBLIC: case TW_ADDR_NAME: return true;
    case TW_ADDR_PRIVATE: return allow & TW_ADDR_ALLOW_PRIVATE;
    case TW_ADDR_LOOPBACK: return allow & TW_ADDR_ALLOW_LOOPBACK;
    default: return false;
    }
}

const char *tw_addr_class_name(tw_addr_class c)
{
    switch (c) {
    case TW_ADDR_PUBLIC: return "public";
    case TW_ADDR_NAME: return "a name";
    case TW_ADDR_PRIVATE: return "private";
    case TW_ADDR_LOOPBACK: return "loopback";
    case TW_ADDR_UNSPECIFIED: return "unspecified";
    case TW_ADDR_LINKLOCAL: return "link-local";
    case TW_ADDR_MULTICAST: return "multicast";
    case TW_ADDR_RESERVED: return "reserved";
    case TW_ADDR_INVALID: return "invalid";
    }
    return "?";
}
