/*
 * Address classes (proto/PROTOCOL.md, "Learnt addresses").  A node dials
 * the addresses other nodes publish in their peer records; a member could
 * publish 127.0.0.1:22, 169.254.169.254:80 (a cloud metadata service) or
 * 0.0.0.0 and make every node of the network connect there.  Learnt
 * addresses are therefore classified, before they are kept and again once
 * a name is resolved, and only the classes the node allows are dialled.
 * Pure: no I/O, no resolution.
 */
#ifndef TWIN_ADDR_H
#define TWIN_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TW_ADDR_PUBLIC = 0,     /* a global unicast address */
    TW_ADDR_NAME,           /* a DNS name: classified once resolved */
    TW_ADDR_PRIVATE,        /* 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, fec0::/10 */
    TW_ADDR_LOOPBACK,       /* 127/8, ::1, the name "localhost" */
    TW_ADDR_UNSPECIFIED,    /* 0.0.0.0/8, :: */
    TW_ADDR_LINKLOCAL,      /* 169.254/16, fe80::/10 */
    TW_ADDR_MULTICAST,      /* 224/4, ff00::/8 */
    TW_ADDR_RESERVED,       /* 240/4 and broadcast, anything else not routable */
    TW_ADDR_INVALID,        /* not HOST:PORT or a bad literal */
} tw_addr_class;

/* Classes learnt addresses may be in, besides TW_ADDR_PUBLIC and TW_ADDR_NAME. */
#define TW_ADDR_ALLOW_PRIVATE  1u
#define TW_ADDR_ALLOW_LOOPBACK 2u

/* The class of the host part of HOST:PORT or [IPV6]:PORT (or a bare host). */
tw_addr_class tw_addr_classify(const char *addr, size_t len);
/* The class of a binary address: family 4 (4 bytes) or 6 (16 bytes);
 * IPv4-mapped IPv6 addresses are classified as their IPv4 address. */
tw_addr_class tw_addr_classify_ip(int family, const uint8_t *ip);
/* Whether a learnt address of class c may be dialled under allow. */
bool tw_addr_allowed(tw_addr_class c, unsigned allow);
const char *tw_addr_class_name(tw_addr_class c);

#endif
