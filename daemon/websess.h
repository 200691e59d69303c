/*
 * Login tokens, sessions and the login rate of the web interface
 * (proto/PROTOCOL.md "Web interface", who gets in).  No I/O: the caller
 * passes the time, so tests can put every limit at its edge.  Secrets are
 * compared in constant time and never leave this module except as the hex
 * text handed to the one caller that must send it.
 */
#ifndef TWIND_WEBSESS_H
#define TWIND_WEBSESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TW_WEBSESS_HEX 64u          /* hex digits of a token, session id or CSRF token (32 bytes) */

typedef struct tw_websess tw_websess;

/* What happened besides the answer, for the caller's log. */
enum {
    TW_WS_DROPPED_TOKEN   = 1u,     /* a new token took the oldest one's place */
    TW_WS_DROPPED_SESSION = 2u,     /* a new session ended the least recently used */
    TW_WS_IDLE_SESSION    = 4u,     /* a session ended after TW_HTTP_SESSION_IDLE_MS unused */
};

tw_websess *tw_websess_new(void);
void tw_websess_free(tw_websess *w);      /* wipes every secret */

/* A token valid ttl_s seconds from now_ms (1..TW_HTTP_TOKEN_TTL_S, else
 * TW_EINVAL) in hex (TW_WEBSESS_HEX + 1 bytes). */
int tw_websess_token(tw_websess *w, uint64_t now_ms, unsigned ttl_s, char *hex, unsigned *events);

/*
 * Spends a token for a new session: 0 with its id (the cookie) and its CSRF
 * token in hex; TW_EBUSY when TW_HTTP_LOGINS_PER_MIN attempts were made in
 * the 60 s before now_ms (this one is not counted and the token is kept);
 * TW_EINVAL for text that is not a token, TW_ENOTFOUND for an unknown or
 * spent one, TW_ESTALE for an expired one.  Every attempt but a TW_EBUSY
 * counts.
 */
int tw_websess_login(tw_websess *w, uint64_t now_ms, const char *token, size_t len, char *id_hex,
                     char *csrf_hex, unsigned *events);

/* The session whose id is cookie (hex), touched at now_ms: its slot, with
 * its CSRF token in *csrf; -1 if none (unknown, ended or idle too long). */
int tw_websess_find(tw_websess *w, uint64_t now_ms, const char *cookie, size_t len, const char **csrf,
                    unsigned *events);
/* Whether text equals the session's CSRF token (constant time). */
bool tw_websess_csrf_ok(const tw_websess *w, int slot, const char *text, size_t len);
void tw_websess_end(tw_websess *w, int slot);
/* Sessions open at now_ms. */
unsigned tw_websess_count(tw_websess *w, uint64_t now_ms);

#endif
