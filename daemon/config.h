/*
 * twind configuration: embedded defaults, then the config file, then
 * command-line flags (twind.conf(5) documents every key).
 */
#ifndef TWIND_CONFIG_H
#define TWIND_CONFIG_H

#include <stdint.h>
#include <stdio.h>
#include "twin/limits.h"
#include "twin/entry.h"

#define TW_PATH_MAX        4096u
#define TW_ADDR_MAX        262u    /* "[v6]:port" or "name:port" */

typedef struct tw_config {
    char data_dir[TW_PATH_MAX];
    int log_level;
    char listen[TW_ADDR_MAX];                      /* empty: accept no inbound */
    char bind[64];                                 /* source IP of outgoing connections; empty: the OS chooses */
    char peers[TW_CONF_PEERS_MAX][TW_ADDR_MAX];
    unsigned npeers;
    int have_network_key;
    uint8_t network_key[TW_NETKEY_LEN];
    uint8_t roots[TW_CONF_ROOTS_MAX][TW_KEY_LEN];
    unsigned nroots;
    uint64_t map_ceiling;
    unsigned vouch_depth;
    unsigned outbound_target;
    unsigned inbound_max;          /* established inbound connections, 1..TW_INBOUND_MAX */
    unsigned sync_interval_s;
    unsigned neg_frame_limit;
    int neg_parts;                 /* offer TW_WIRE_FEAT_NEGPART (negentropy messages over several frames) */
    unsigned learn_allow;          /* TW_ADDR_ALLOW_* bits: learnt private and loopback addresses */
    char http[TW_ADDR_MAX];        /* web interface IP:PORT; empty: http = off */
    int http_allow_remote;         /* a non-loopback http address is refused unless set */
    unsigned report_slice;         /* records per slice of the report's background build, 1..TW_REPORT_SLICE_RECORDS */
} tw_config;

void tw_config_defaults(tw_config *c);
/* Default data directory: $XDG_DATA_HOME/twind or ~/.local/share/twind. */
int  tw_config_default_data_dir(char *out, size_t cap);
/* Reads FILE; on error returns TW_EINVAL with "FILE:LINE: reason" in err. */
int  tw_config_load(tw_config *c, const char *path, char *err, size_t errlen);
/* The same from an open stream; path names it in messages. */
int  tw_config_parse(tw_config *c, FILE *f, const char *path, char *err, size_t errlen);
/* Applies one "key = value" setting (also used for command-line flags). */
int  tw_config_set(tw_config *c, const char *key, const char *value, char *err, size_t errlen);
/* "HOST:PORT" syntax check: host is an IPv4 address, [IPv6] or a DNS name. */
int  tw_addr_valid(const char *s);
/* The host of a valid "HOST:PORT" is an IPv4 or [IPv6] literal, not a name. */
int  tw_addr_is_ip_port(const char *s);

#endif
