#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "twin/err.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "twin/addr.h"
#include "config.h"
#include "log.h"

void tw_config_defaults(tw_config *c)
{
    memset(c, 0, sizeof *c);
    c->log_level = TW_LOG_INFO;
    c->map_ceiling = TW_MAP_SIZE_CEILING_DEFAULT;
    c->vouch_depth = 3;
    c->outbound_target = 4;
    c->inbound_max = TW_INBOUND_MAX;
    c->sync_interval_s = 60;
    c->neg_frame_limit = TW_NEG_FRAME_LIMIT_DEFAULT;
    c->neg_parts = 1;
    c->report_slice = TW_REPORT_SLICE_RECORDS;
    snprintf(c->http, sizeof c->http, "127.0.0.1:%u", TW_HTTP_PORT_DEFAULT);
}

int tw_config_default_data_dir(char *out, size_t cap)
{
    const char *x = getenv("XDG_DATA_HOME"), *h = getenv("HOME");
    int n;
    if (x && x[0] == '/') n = snprintf(out, cap, "%s/twind", x);
    else if (h && h[0]) n = snprintf(out, cap, "%s/.local/share/twind", h);
    else return TW_EINVAL;
    return n < 0 || (size_t)n >= cap ? TW_ETOOBIG : 0;
}

int tw_addr_valid(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || strlen(s) >= TW_ADDR_MAX) return 0;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || colon[1] == 0 || port < 1 || port > 65535) return 0;
    size_t hl = (size_t)(colon - s);
    if (s[0] == '[') {
        if (s[hl - 1] != ']' || hl < 4) return 0;
        for (size_t i = 1; i + 1 < hl; i++)
            if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.') return 0;
        return 1;
    }
    for (size_t i = 0; i < hl; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && ch != '.' && ch != '-') return 0;
    }
    return 1;
}

int tw_addr_is_ip_port(const char *s)
{
    char host[TW_ADDR_MAX];
    unsigned char sa[sizeof(struct in6_addr)];
    const char *colon = strrchr(s, ':');
    size_t hl = colon ? (size_t)(colon - s) : 0;
    if (!colon || hl >= sizeof host) return 0;
    if (s[0] == '[') {
        if (hl < 2 || s[hl - 1] != ']') return 0;
        memcpy(host, s + 1, hl - 2);
        host[hl - 2] = 0;
        return inet_pton(AF_INET6, host, sa) == 1;
    }
    memcpy(host, s, hl);
    host[hl] = 0;
    return inet_pton(AF_INET, host, sa) == 1;
}

static int parse_uint(const char *v, uint64_t max, uint64_t *out, int allow_suffix)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)v[0])) return TW_EINVAL;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno) return TW_EINVAL;
    uint64_t mul = 1;
    if (allow_suffix && *end) {
        switch (toupper((unsigned char)*end)) {
        case 'K': mul = 1ull << 10; break;
        case 'M': mul = 1ull << 20; break;
        case 'G': mul = 1ull << 30; break;
        case 'T': mul = 1ull << 40; break;
        default: return TW_EINVAL;
        }
        end++;
        if (*end == 'B' || *end == 'b') end++;
        if (*end == 'i' && end[1] == 'B') end += 2;
    }
    if (*end) return TW_EINVAL;
    if (x > max / mul) return TW_EINVAL;
    *out = x * mul;
    return 0;
}

static int parse_bool(const char *v)
{
    static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) return 1;
        if (strcasecmp(v, no[i]) == 0) return 0;
    }
    return -1;
}

#define ERR(...) do { snprintf(err, errlen, __VA_ARGS__); return TW_EINVAL; } while (0)

int tw_config_set(tw_config *c, const char *key, const char *v, char *err, size_t errlen)
{
    uint64_t x;
    if (strcmp(key, "data_dir") == 0) {
        if (!v[0] || strlen(v) >= sizeof c->data_dir - 64) ERR("data_dir: path empty or too long");
        strcpy(c->data_dir, v);
    } else if (strcmp(key, "log_level") == 0) {
        int l = tw_log_parse_level(v);
        if (l < 0) ERR("log_level: \"%s\" is not one of error, warn, info, debug", v);
        c->log_level = l;
    } else if (strcmp(key, "listen") == 0) {
        if (!tw_addr_valid(v)) ERR("listen: \"%s\" is not HOST:PORT", v);
        strcpy(c->listen, v);
    } else if (strcmp(key, "bind") == 0) {
        /* An IP literal, IPv6 with or without brackets: no port (each
         * connection takes a free one), no name. */
        char ip[sizeof c->bind];
        unsigned char sa[sizeof(struct in6_addr)];
        size_t l = strlen(v);
        if (l >= 2 && v[0] == '[' && v[l - 1] == ']') { v++; l -= 2; }
        if (l == 0 || l >= sizeof ip) ERR("bind: \"%s\" is not an IP address", v);
        memcpy(ip, v, l);
        ip[l] = 0;
        if (inet_pton(AF_INET, ip, sa) != 1 && inet_pton(AF_INET6, ip, sa) != 1)
            ERR("bind: \"%s\" is not an IP address (IPv4, or IPv6 with or without brackets; no port, no name)", ip);
        strcpy(c->bind, ip);
    } else if (strcmp(key, "peer") == 0) {
        if (!tw_addr_valid(v)) ERR("peer: \"%s\" is not HOST:PORT", v);
        if (c->npeers >= TW_CONF_PEERS_MAX) ERR("peer: more than %u peers", TW_CONF_PEERS_MAX);
        strcpy(c->peers[c->npeers++], v);
    } else if (strcmp(key, "network_key") == 0) {
        if (tw_keytext_decode(c->network_key, TW_NETTEXT_PREFIX, v, strlen(v)))
            ERR("network_key: not a valid network key (twn_...)");
        c->have_network_key = 1;
    } else if (strcmp(key, "root") == 0) {
        if (c->nroots >= TW_CONF_ROOTS_MAX) ERR("root: more than %u root keys", TW_CONF_ROOTS_MAX);
        if (tw_keytext_decode(c->roots[c->nroots], TW_KEYTEXT_PREFIX, v, strlen(v)))
            ERR("root: \"%s\" is not a valid node key (twk_...)", v);
        c->nroots++;
    } else if (strcmp(key, "map_ceiling") == 0) {
        if (parse_uint(v, UINT64_MAX, &x, 1) || x < TW_MAP_SIZE_INITIAL)
            ERR("map_ceiling: \"%s\" is not a size of at least 64M (e.g. 512M, 8G)", v);
        c->map_ceiling = x;
    } else if (strcmp(key, "vouch_depth") == 0) {
        if (parse_uint(v, TW_TRUST_DEPTH_MAX, &x, 0))
            ERR("vouch_depth: \"%s\" is not a number from 0 to %u", v, TW_TRUST_DEPTH_MAX);
        c->vouch_depth = (unsigned)x;
    } else if (strcmp(key, "outbound_target") == 0) {
        if (parse_uint(v, 64, &x, 0)) ERR("outbound_target: \"%s\" is not a number from 0 to 64", v);
        c->outbound_target = (unsigned)x;
    } else if (strcmp(key, "inbound_max") == 0) {
        if (parse_uint(v, TW_INBOUND_MAX, &x, 0) || x < 1)
            ERR("inbound_max: \"%s\" is not a number from 1 to %u", v, TW_INBOUND_MAX);
        c->inbound_max = (unsigned)x;
    } else if (strcmp(key, "sync_interval") == 0) {
        if (parse_uint(v, 86400, &x, 0) || x < 1) ERR("sync_interval: \"%s\" is not a number of seconds from 1 to 86400", v);
        c->sync_interval_s = (unsigned)x;
    } else if (strcmp(key, "report_slice") == 0) {
        if (parse_uint(v, TW_REPORT_SLICE_RECORDS, &x, 0) || x < 1)
            ERR("report_slice: \"%s\" is not a number of records from 1 to %u", v, TW_REPORT_SLICE_RECORDS);
        c->report_slice = (unsigned)x;
    } else if (strcmp(key, "learn_private") == 0 || strcmp(key, "learn_loopback") == 0) {
        int b = parse_bool(v);
        unsigned bit = key[6] == 'p' ? TW_ADDR_ALLOW_PRIVATE : TW_ADDR_ALLOW_LOOPBACK;
        if (b < 0) ERR("%s: \"%s\" is not yes or no", key, v);
        c->learn_allow = b ? c->learn_allow | bit : c->learn_allow & ~bit;
    } else if (strcmp(key, "neg_frame_limit") == 0) {
        if (parse_uint(v, TW_FRAME_MAX - 1024, &x, 0) || (x && x < 4096))
            ERR("neg_frame_limit: \"%s\" must be 0 (largest) or 4096 to %u", v, TW_FRAME_MAX - 1024);
        c->neg_frame_limit = (unsigned)x;
    } else if (strcmp(key, "neg_parts") == 0) {
        int b = parse_bool(v);
        if (b < 0) ERR("neg_parts: \"%s\" is not yes or no", v);
        c->neg_parts = b;
    } else if (strcmp(key, "http") == 0) {
        if (strcmp(v, "off") == 0) { c->http[0] = 0; return 0; }
        if (!tw_addr_valid(v) || !tw_addr_is_ip_port(v))
            ERR("http: \"%s\" is not IP:PORT (e.g. 127.0.0.1:%u) or off", v, TW_HTTP_PORT_DEFAULT);
        strcpy(c->http, v);
    } else if (strcmp(key, "http_allow_remote") == 0) {
        int b = parse_bool(v);
        if (b < 0) ERR("http_allow_remote: \"%s\" is not yes or no", v);
        c->http_allow_remote = b;
    } else {
        ERR("unknown setting \"%s\"", key);
    }
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

int tw_config_load(tw_config *c, const char *path, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { snprintf(err, errlen, "%s: %s", path, strerror(errno)); return TW_EIO; }
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return TW_EIO;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is a directory, not a config file", path);
        close(fd);
        return TW_EINVAL;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) { snprintf(err, errlen, "%s: %s", path, strerror(errno)); close(fd); return TW_EIO; }
    int rc = tw_config_parse(c, f, path, err, errlen);
    fclose(f);
    /* The network key admits nodes to the network: held in a file that
     * others can read, it is as exposed as a key file would be. */
    if (rc == 0 && c->have_network_key && (st.st_mode & 077)) {
        snprintf(err, errlen, "%s sets network_key and is accessible by other users (mode %03o); it holds a "
                 "secret key. Fix: chmod 600 %s (and consider the network key exposed if others could read it)",
                 path, (unsigned)(st.st_mode & 0777), path);
        rc = TW_EPERM;
    }
    return rc;
}

/* Reads one line into line (cap bytes, terminated, newline dropped): 1 for
 * a line, 0 at the end, or a negative code with err set.  *total counts the
 * bytes of the file. */
static int read_line(FILE *f, char *line, size_t cap, size_t *total, const char *path, unsigned lineno,
                     char *err, size_t errlen)
{
    size_t n = 0;
    int ch;
    bool any = false;
    while ((ch = getc(f)) != EOF) {
        any = true;
        if (++*total > TW_CONF_FILE_MAX) {
            snprintf(err, errlen, "%s:%u: file larger than %u bytes", path, lineno, TW_CONF_FILE_MAX);
            return TW_ETOOBIG;
        }
        if (ch == '\n') break;
        if (ch == 0) {
            snprintf(err, errlen, "%s:%u: NUL byte: this is not a text file", path, lineno);
            return TW_EINVAL;
        }
        if (n + 1 >= cap) {
            snprintf(err, errlen, "%s:%u: line longer than %u bytes", path, lineno, TW_CONF_LINE_MAX);
            return TW_EINVAL;
        }
        line[n++] = (char)ch;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s:%u: read error: %s", path, lineno, strerror(errno));
        return TW_EIO;
    }
    line[n] = 0;
    return any ? 1 : 0;
}

int tw_config_parse(tw_config *c, FILE *f, const char *path, char *err, size_t errlen)
{
    char line[TW_CONF_LINE_MAX + 1], e[512];
    unsigned lineno = 0;
    size_t total = 0;
    int rc = 0;
    for (;;) {
        lineno++;
        int r = read_line(f, line, sizeof line, &total, path, lineno, err, errlen);
        if (r <= 0) { rc = r; break; }
        char *s = line;
        /* A byte order mark, which some editors write, starts no setting. */
        if (lineno == 1 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3;
        s = trim(s);
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) { snprintf(err, errlen, "%s:%u: expected \"key = value\"", path, lineno); rc = TW_EINVAL; break; }
        *eq = 0;
        char *k = trim(s), *v = trim(eq + 1);
        if ((rc = tw_config_set(c, k, v, e, sizeof e))) {
            snprintf(err, errlen, "%s:%u: %s", path, lineno, e);
            break;
        }
    }
    return rc;
}
