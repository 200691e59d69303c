/*
 * The node's local web interface (proto/PROTOCOL.md, "Web interface"):
 * libmicrohttpd driven from the libuv loop, serving the compiled-in pages
 * (daemon/www/) and POST /api/OP over the same operations as the control
 * socket (daemon/ops.c).  Only the operator gets in: a one-time login token
 * from the control socket (op ui_login, `twin ui`) becomes a session cookie;
 * Host, Origin and a per-session CSRF token are checked on every request.
 */
#ifndef TWIND_HTTP_H
#define TWIND_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "node.h"

typedef struct tw_http tw_http;

/*
 * Starts the interface at cfg.http unless it is off.  A non-loopback
 * address without http_allow_remote is refused (TW_EPERM, err says why):
 * twind does not start.  An address that cannot be bound (port taken) is
 * only logged as a warning: twind runs without the interface and says so in
 * status (tw_http_state).  Returns 0 in both of those cases.
 */
int  tw_http_start(tw_node *n, char *err, size_t errlen);
/* Closes the server; its handles are freed by their close callbacks. */
void tw_http_stop(tw_node *n);

/* In words for status: "http://127.0.0.1:8427/", "off", or
 * "not serving: 127.0.0.1:8427: address already in use". */
void tw_http_state(const tw_node *n, char *out, size_t cap);

/*
 * Makes a one-time login token valid ttl_s seconds (1..TW_HTTP_TOKEN_TTL_S)
 * and writes the login URL, http://HOST:PORT/login#TOKEN, into url.  At
 * most TW_HTTP_TOKENS_MAX are outstanding; a new one drops the oldest.
 * TW_ESTATE with err filled in when the interface is off or not serving.
 */
int tw_http_login_token(tw_node *n, unsigned ttl_s, char *url, size_t urlcap, char *err, size_t errlen);

/* Whether a request's Host header names the server configured at addr
 * (proto/PROTOCOL.md "Web interface", who gets in, rule 3). */
bool tw_http_host_allowed(const char *addr, const char *host);

#endif
