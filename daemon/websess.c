/*
 * Login tokens, sessions and login rate of the web interface (websess.h).
 * Fixed tables, no allocation after tw_websess_new: a flood of logins
 * cannot grow memory, it only replaces the oldest token or session.
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "websess.h"

#define SECRET_LEN (TW_WEBSESS_HEX / 2u)

typedef struct token { uint8_t v[SECRET_LEN]; uint64_t made_ms, expires_ms; bool live; } token;
typedef struct session {
    uint8_t id[SECRET_LEN];
    char csrf[TW_WEBSESS_HEX + 1];
    uint64_t last_ms;
    bool live;
} session;

struct tw_websess {
    token tokens[TW_HTTP_TOKENS_MAX];
    session sessions[TW_HTTP_SESSIONS_MAX];
    uint64_t logins[TW_HTTP_LOGINS_PER_MIN];   /* times of the last attempts, a ring */
    bool login_used[TW_HTTP_LOGINS_PER_MIN];
    unsigned login_next;
};

tw_websess *tw_websess_new(void) { return calloc(1, sizeof(tw_websess)); }

void tw_websess_free(tw_websess *w)
{
    if (!w) return;
    sodium_memzero(w, sizeof *w);
    free(w);
}

static bool from_hex(uint8_t out[SECRET_LEN], const char *s, size_t len)
{
    size_t n = 0;
    return len == TW_WEBSESS_HEX && sodium_hex2bin(out, SECRET_LEN, s, len, NULL, &n, NULL) == 0 && n == SECRET_LEN;
}

int tw_websess_token(tw_websess *w, uint64_t now_ms, unsigned ttl_s, char *hex, unsigned *events)
{
    *events = 0;
    if (ttl_s < 1 || ttl_s > TW_HTTP_TOKEN_TTL_S) return TW_EINVAL;
    token *t = NULL;
    for (unsigned i = 0; i < TW_HTTP_TOKENS_MAX; i++) {
        token *u = &w->tokens[i];
        if (u->live && u->expires_ms <= now_ms) u->live = false;
        if (!t || (t->live && (!u->live || u->made_ms < t->made_ms))) t = u;
    }
    if (t->live) *events |= TW_WS_DROPPED_TOKEN;
    randombytes_buf(t->v, SECRET_LEN);
    t->made_ms = now_ms;
    t->expires_ms = now_ms + ttl_s * 1000ull;
    t->live = true;
    sodium_bin2hex(hex, TW_WEBSESS_HEX + 1, t->v, SECRET_LEN);
    return 0;
}

/* TW_HTTP_LOGINS_PER_MIN attempts in any 60 s: the oldest of the last ones
 * must be a minute old. */
static bool login_allowed(tw_websess *w, uint64_t now_ms)
{
    unsigned k = w->login_next;
    if (w->login_used[k] && now_ms - w->logins[k] < 60000) return false;
    w->logins[k] = now_ms;
    w->login_used[k] = true;
    w->login_next = (k + 1) % TW_HTTP_LOGINS_PER_MIN;
    return true;
}

int tw_websess_login(tw_websess *w, uint64_t now_ms, const char *text, size_t len, char *id_hex,
                     char *csrf_hex, unsigned *events)
{
    *events = 0;
    if (!login_allowed(w, now_ms)) return TW_EBUSY;
    uint8_t t[SECRET_LEN];
    if (!text || !from_hex(t, text, len)) return TW_EINVAL;
    token *found = NULL;
    for (unsigned i = 0; i < TW_HTTP_TOKENS_MAX; i++)
        if (w->tokens[i].live && sodium_memcmp(w->tokens[i].v, t, SECRET_LEN) == 0) found = &w->tokens[i];
    sodium_memzero(t, sizeof t);
    if (!found) return TW_ENOTFOUND;
    found->live = false;
    sodium_memzero(found->v, SECRET_LEN);
    if (found->expires_ms <= now_ms) return TW_ESTALE;
    session *s = NULL;
    for (unsigned i = 0; i < TW_HTTP_SESSIONS_MAX; i++) {
        session *u = &w->sessions[i];
        if (u->live && now_ms - u->last_ms >= TW_HTTP_SESSION_IDLE_MS) { u->live = false; *events |= TW_WS_IDLE_SESSION; }
        if (!s || (s->live && (!u->live || u->last_ms < s->last_ms))) s = u;
    }
    if (s->live) *events |= TW_WS_DROPPED_SESSION;
    uint8_t c[SECRET_LEN];
    randombytes_buf(s->id, SECRET_LEN);
    randombytes_buf(c, SECRET_LEN);
    sodium_bin2hex(s->csrf, sizeof s->csrf, c, SECRET_LEN);
    sodium_memzero(c, sizeof c);
    s->last_ms = now_ms;
    s->live = true;
    sodium_bin2hex(id_hex, TW_WEBSESS_HEX + 1, s->id, SECRET_LEN);
    memcpy(csrf_hex, s->csrf, TW_WEBSESS_HEX + 1);
    return 0;
}

int tw_websess_find(tw_websess *w, uint64_t now_ms, const char *cookie, size_t len, const char **csrf,
                    unsigned *events)
{
    uint8_t id[SECRET_LEN];
    int found = -1;
    *events = 0;
    *csrf = NULL;
    bool valid = cookie && from_hex(id, cookie, len);
    for (unsigned i = 0; i < TW_HTTP_SESSIONS_MAX; i++) {
        session *s = &w->sessions[i];
        if (s->live && now_ms - s->last_ms >= TW_HTTP_SESSION_IDLE_MS) { s->live = false; *events |= TW_WS_IDLE_SESSION; }
        if (valid && s->live && sodium_memcmp(s->id, id, SECRET_LEN) == 0) found = (int)i;
    }
    sodium_memzero(id, sizeof id);
    if (found < 0) return -1;
    w->sessions[found].last_ms = now_ms;
    *csrf = w->sessions[found].csrf;
    return found;
}

bool tw_websess_csrf_ok(const tw_websess *w, int slot, const char *text, size_t len)
{
    if (slot < 0 || slot >= (int)TW_HTTP_SESSIONS_MAX || !w->sessions[slot].live || !text || len != TW_WEBSESS_HEX)
        return false;
    return sodium_memcmp(w->sessions[slot].csrf, text, TW_WEBSESS_HEX) == 0;
}

void tw_websess_end(tw_websess *w, int slot)
{
    if (slot < 0 || slot >= (int)TW_HTTP_SESSIONS_MAX) return;
    sodium_memzero(&w->sessions[slot], sizeof w->sessions[slot]);
}

unsigned tw_websess_count(tw_websess *w, uint64_t now_ms)
{
    unsigned k = 0;
    for (unsigned i = 0; i < TW_HTTP_SESSIONS_MAX; i++)
        if (w->sessions[i].live && now_ms - w->sessions[i].last_ms < TW_HTTP_SESSION_IDLE_MS) k++;
    return k;
}
