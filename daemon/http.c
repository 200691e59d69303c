/*
 * The local web interface (daemon/http.h; proto/PROTOCOL.md "Web interface").
 *
 * HTTP is libmicrohttpd's, not ours: a hand-written parser is where request
 * smuggling and overflows live, and MHD is small, packaged by Debian and
 * built for embedding.  It runs with its own epoll set and no threads of its
 * own (MHD_USE_EPOLL without MHD_USE_INTERNAL_POLLING_THREAD): a uv_poll_t
 * watches the epoll descriptor and a uv_timer_t follows MHD_get_timeout, and
 * both call MHD_run.  So every request is handled on the loop thread, where
 * it calls tw_ops_dispatch() exactly as the control socket does: one
 * operations layer, two doors.
 *
 * Who gets in: a login token made over the control socket (op ui_login) is
 * exchanged once for a session cookie; every /api request needs the cookie
 * and every POST the session's CSRF token in X-CSRF-Token; Host must name
 * this server (against DNS rebinding) and Origin, when sent, must be this
 * origin.  No token, cookie or request body is ever logged, and the refusals
 * any local program or web page can repeat at will go through the rate
 * limiter (tw_log_limited), a key per kind.
 *
 * A request that needs the hub report while twind makes it in the
 * background (after the start, or a change the kept report cannot follow:
 * about 2 s at a million records) is held: its connection suspended
 * (MHD_suspend_connection) until the build ends, then asked again and
 * answered.  So the Report or Registry page simply takes a moment longer to
 * load, the figures whole, where an answer "being made, refresh in a moment"
 * would leave a committee volunteer to guess when, and to find the page
 * blank or an error if they refreshed too soon.  Held requests count
 * against TW_REPORT_WAITERS_MAX with the control socket's; past it the
 * request gets busy, retry.  MHD does not look at a suspended connection's
 * socket, so the loop watches it (watch_start): a client that leaves while
 * its request is held has it dropped at once (logged, counted in status
 * "report_waits", its slot free for another) and its connection closed
 * with nothing written.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "twin/mp.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "ops.h"
#include "websess.h"
#include "www.h"

struct tw_http {
    tw_node *node;
    struct MHD_Daemon *d;
    uv_poll_t poll;
    uv_timer_t timer;
    unsigned open_handles;
    char addr[TW_ADDR_MAX];          /* as configured, e.g. 127.0.0.1:8427 */
    unsigned port;
    bool wildcard;                   /* 0.0.0.0 or [::]: any IP literal may be the Host */
    bool full;                       /* at TW_HTTP_CONN_MAX connections */
    char why[TW_ADDR_MAX + 128];     /* not serving: why */
    tw_websess *ws;                  /* tokens and sessions (daemon/websess.c) */
    struct req *held;                /* requests suspended until the report is made */
};

/* Operations the web door does not offer: ui_login would let a session make
 * more sessions; key_export seals the node's secret key, which leaves the
 * machine through twin only; the bundle operations have endpoints of their
 * own (binary bodies, not JSON).  key_plan commits to a key the caller
 * names and key_rotate moves to a key the caller brings (or one made here
 * and never backed up): through a web session either would let its holder
 * move the association to a key of their own.  The web plans with
 * key_plan_sealed (twind makes the key; the page learns only where its file
 * went) and rotates with key_rotate_sealed (only to that planned key). */
static const char *const denied_ops[] = { "ui_login", "key_export", "bundle_export", "bundle_import",
                                          "key_plan", "key_rotate" };

enum route { R_NONE, R_OP, R_LOGIN, R_UPLOAD };

typedef struct req {
    enum route route;
    bool answered;
    bool held;                       /* suspended: waits for the report being made (tw_http.held) */
    bool resumed;                    /* the build has ended: ask again (held_rc 0) or fail */
    bool gone;                       /* its client left while it was held: closed, nothing written */
    int held_rc;
    uint64_t held_since;             /* tw_now_ms() */
    uv_poll_t *watch;                /* while held: its socket, for the client leaving */
    tw_http *h;
    struct MHD_Connection *conn;
    struct req *hnext, **hpprev;
    char op[TW_KIND_MAX + 1];
    tw_buf body;
    size_t total;
    int fail;                        /* upload: the op's refusal, or too big */
    char fail_msg[512];
    uint64_t import;
    bool have_import;
} req;

static const char csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/* --------------------------------------------------------------- responses */

static enum MHD_Result send_resp(struct MHD_Connection *c, unsigned status, const char *type, void *data,
                                 size_t len, enum MHD_ResponseMemoryMode mode, bool api, const char *etag,
                                 const char *cookie)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data, mode);
    if (!r) { if (mode == MHD_RESPMEM_MUST_FREE) free(data); return MHD_NO; }
    MHD_add_response_header(r, "Content-Security-Policy", csp);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
    if (type) MHD_add_response_header(r, "Content-Type", type);
    if (api) MHD_add_response_header(r, "Cache-Control", "no-store");
    else if (etag) { MHD_add_response_header(r, "ETag", etag); MHD_add_response_header(r, "Cache-Control", "no-cache"); }
    if (cookie) MHD_add_response_header(r, "Set-Cookie", cookie);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* Sends buf (taken) as the JSON body. */
static enum MHD_Result send_json_buf(struct MHD_Connection *c, unsigned status, tw_buf *b, const char *cookie)
{
    void *p = b->p;
    size_t n = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return send_resp(c, status, "application/json; charset=utf-8", p, n, MHD_RESPMEM_MUST_FREE, true, NULL, cookie);
}

/* {"ok":false,"error":msg,"code":code[,"index":index]} */
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, int code, const char *msg, int64_t index)
{
    tw_arena a;
    tw_val m;
    tw_buf b;
    tw_arena_init(&a, 0);
    tw_buf_init(&b);
    if (tw_v_map(&a, &m, index >= 0 ? 4 : 3) == 0) {
        m.v.map[0].k = tw_v_cstr("ok");
        m.v.map[0].v = tw_v_bool(false);
        m.v.map[1].k = tw_v_cstr("error");
        m.v.map[1].v = tw_v_cstr(msg);
        m.v.map[2].k = tw_v_cstr("code");
        m.v.map[2].v = tw_v_int(code);
        if (index >= 0) { m.v.map[3].k = tw_v_cstr("index"); m.v.map[3].v = tw_v_int(index); }
        if (tw_json_write(&b, &m, 0) != 0) b.len = 0;
    }
    tw_arena_free(&a);
    if (b.len == 0) { tw_buf_free(&b); return send_resp(c, 500, NULL, (void *)"", 0, MHD_RESPMEM_PERSISTENT, true, NULL, NULL); }
    return send_json_buf(c, status, &b, NULL);
}

/* {"ok":true,"result": the msgpack value in res} */
static enum MHD_Result send_result(struct MHD_Connection *c, const tw_buf *res, const char *cookie)
{
    tw_arena a;
    tw_val v;
    tw_buf b;
    const char *why = NULL;
    tw_arena_init(&a, 64 * res->len + 65536);
    tw_buf_init(&b);
    int rc = tw_mp_decode(res->p, res->len, &a, TW_MP_CTL_DEPTH, &v, NULL, &why);
    if (!rc) rc = tw_buf_put(&b, "{\"ok\":true,\"result\":", 20);
    if (!rc) rc = tw_json_write(&b, &v, 0);
    if (!rc) rc = tw_buf_put(&b, "}", 1);
    tw_arena_free(&a);
    if (rc) {
        tw_buf_free(&b);
        tw_err("http", "cannot write a result as JSON: %s", why ? why : tw_strerror(rc));
        return send_error(c, 500, rc, tw_strerror(rc), -1);
    }
    return send_json_buf(c, 200, &b, cookie);
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    return send_resp(c, status, "text/plain; charset=utf-8", (void *)text, strlen(text), MHD_RESPMEM_PERSISTENT,
                     true, NULL, NULL);
}

static const tw_www_file *www_find(const char *path)
{
    for (size_t i = 0; i < tw_www_nfiles; i++)
        if (strcmp(tw_www_files[i].path, path) == 0) return &tw_www_files[i];
    return NULL;
}

static enum MHD_Result send_file(struct MHD_Connection *c, const tw_www_file *f)
{
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    if (inm && strcmp(inm, f->etag) == 0)
        return send_resp(c, 304, NULL, (void *)"", 0, MHD_RESPMEM_PERSISTENT, false, f->etag, NULL);
    return send_resp(c, 200, f->type, (void *)f->data, f->len, MHD_RESPMEM_PERSISTENT, false, f->etag, NULL);
}

/* ----------------------------------------------------------------- checks */

/* Whether IP:PORT is 0.0.0.0 or [::] (however written). */
static bool addr_is_wildcard(const char *addr)
{
    char ip[TW_ADDR_MAX];
    unsigned char b[sizeof(struct in6_addr)], zero[sizeof b] = { 0 };
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof ip) return false;
    if (addr[0] == '[') {
        if (colon - addr < 2) return false;
        snprintf(ip, sizeof ip, "%.*s", (int)(colon - addr - 2), addr + 1);
        return inet_pton(AF_INET6, ip, b) == 1 && memcmp(b, zero, 16) == 0;
    }
    snprintf(ip, sizeof ip, "%.*s", (int)(colon - addr), addr);
    return inet_pton(AF_INET, ip, b) == 1 && memcmp(b, zero, 4) == 0;
}

/* Host must name this server: the configured IP:PORT, or a loopback name
 * with its port; with a wildcard address, any IP literal with its port.  A
 * name other than localhost is refused: a rebinding attack needs one. */
bool tw_http_host_allowed(const char *addr, const char *host)
{
    if (!host || !addr || strlen(host) >= TW_ADDR_MAX) return false;
    if (strcasecmp(host, addr) == 0) return true;
    const char *colon = strrchr(host, ':'), *acolon = strrchr(addr, ':');
    if (!colon || !acolon) return false;
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || colon[1] == 0 || colon[1] == '+' || colon[1] == '-' || port != strtoul(acolon + 1, NULL, 10)) return false;
    size_t hl = (size_t)(colon - host);
    if ((hl == 9 && strncasecmp(host, "localhost", 9) == 0) || (hl == 9 && strncmp(host, "127.0.0.1", 9) == 0) ||
        (hl == 5 && strncmp(host, "[::1]", 5) == 0))
        return true;
    return addr_is_wildcard(addr) && tw_addr_is_ip_port(host);
}

static bool host_ok(const tw_http *h, const char *host) { return tw_http_host_allowed(h->addr, host); }

/* Origin, when the browser sends one, must be this origin. */
static bool origin_ok(const char *origin, const char *host)
{
    if (!origin) return true;
    return strncmp(origin, "http://", 7) == 0 && strcasecmp(origin + 7, host) == 0;
}

/* A header value safe to log: printable ASCII, at most 80 bytes. */
static void printable(char *out, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s && *s && i + 1 < cap && i < 80; s++) out[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    out[i] = 0;
}

static void log_events(tw_http *h, unsigned ev)
{
    if (ev & TW_WS_IDLE_SESSION) tw_info("http", "a web session ended: unused for 12 hours");
    if (ev & TW_WS_DROPPED_SESSION)
        tw_info("http", "%u web sessions open: the least recently used one ends", TW_HTTP_SESSIONS_MAX);
    if (ev & TW_WS_DROPPED_TOKEN) tw_info("http", "%u login tokens outstanding: the oldest is dropped", TW_HTTP_TOKENS_MAX);
}

/* The request's session (its slot), or -1; *csrf gets its CSRF token. */
static int find_session(tw_http *h, struct MHD_Connection *c, const char **csrf)
{
    const char *v = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "twsess");
    unsigned ev;
    int slot = tw_websess_find(h->ws, tw_now_ms(), v, v ? strlen(v) : 0, csrf, &ev);
    log_events(h, ev);
    return slot;
}

/* ------------------------------------------------------------------ login */

int tw_http_login_token(tw_node *n, unsigned ttl_s, char *url, size_t urlcap, char *err, size_t errlen)
{
    tw_http *h = n->http;
    if (!h) { snprintf(err, errlen, "the web interface is off (http = off in the config, or --http off)"); return TW_ESTATE; }
    if (!h->d) { snprintf(err, errlen, "the web interface is not running: %s", h->why); return TW_ESTATE; }
    if (ttl_s < 1 || ttl_s > TW_HTTP_TOKEN_TTL_S) {
        snprintf(err, errlen, "argument \"ttl_s\" must be a number of seconds from 1 to %u", TW_HTTP_TOKEN_TTL_S);
        return TW_EINVAL;
    }
    char hex[TW_WEBSESS_HEX + 1];
    unsigned ev;
    int rc = tw_websess_token(h->ws, tw_now_ms(), ttl_s, hex, &ev);
    if (rc) { snprintf(err, errlen, "cannot make a login token: %s", tw_strerror(rc)); return rc; }
    log_events(h, ev);
    /* The token travels in the fragment, which a browser sends to no
     * server and puts in no Referer; login.js posts it. */
    const char *host = h->addr;
    char loop[64];
    if (h->wildcard) { snprintf(loop, sizeof loop, "127.0.0.1:%u", h->port); host = loop; }
    int k = snprintf(url, urlcap, "http://%s/login#%s", host, hex);
    sodium_memzero(hex, sizeof hex);
    tw_info("http", "login token made, valid %u s", ttl_s);
    return k < 0 || (size_t)k >= urlcap ? TW_ETOOBIG : 0;
}

static enum MHD_Result do_login(tw_http *h, struct MHD_Connection *c, req *r)
{
    tw_arena a;
    tw_val v;
    char jerr[160], id[TW_WEBSESS_HEX + 1], csrf[TW_WEBSESS_HEX + 1];
    tw_arena_init(&a, 65536);
    const tw_val *tv = NULL;
    if (tw_json_parse((const char *)r->body.p, r->body.len, &a, &v, NULL, jerr, sizeof jerr) == 0 && v.type == TW_MAP)
        tv = tw_v_get(&v, "token");
    unsigned ev;
    int rc = tw_websess_login(h->ws, tw_now_ms(), tv && tv->type == TW_STR ? tv->v.s : NULL, tv ? tv->len : 0,
                              id, csrf, &ev);
    tw_arena_free(&a);
    log_events(h, ev);
    if (rc == TW_EBUSY) {
        tw_log_limited(TW_LOG_WARN, "http", "http.login_rate", "web login refused: more than %u attempts in a minute", TW_HTTP_LOGINS_PER_MIN);
        return send_error(c, 429, TW_EBUSY, "too many login attempts: wait a minute", -1);
    }
    if (rc) {
        tw_log_limited(TW_LOG_WARN, "http", "http.login", "web login refused: %s", rc == TW_EINVAL ? "no token in the request"
                                                : rc == TW_ESTALE ? "token expired" : "unknown or used token");
        return send_error(c, 403, TW_EPERM, rc == TW_ESTALE ? "this login address has expired: run twin ui again"
                                                   : "this login address is not valid (each works once): run twin ui again", -1);
    }
    tw_info("http", "web login: a new session (%u open)", tw_websess_count(h->ws, tw_now_ms()));
    char cookie[160];
    snprintf(cookie, sizeof cookie, "twsess=%s; HttpOnly; SameSite=Strict; Path=/", id);
    sodium_memzero(id, sizeof id);
    tw_buf b;
    tw_buf_init(&b);
    rc = tw_mpw_map(&b, 1);
    if (!rc) rc = tw_mpw_kv_cstr(&b, "csrf", csrf);
    enum MHD_Result res = rc ? send_error(c, 500, rc, tw_strerror(rc), -1) : send_result(c, &b, cookie);
    sodium_memzero(cookie, sizeof cookie);
    sodium_memzero(csrf, sizeof csrf);
    tw_buf_free(&b);
    return res;
}

/* -------------------------------------------------------------- operations */

static bool op_denied(const char *op)
{
    for (size_t i = 0; i < sizeof denied_ops / sizeof denied_ops[0]; i++)
        if (strcmp(op, denied_ops[i]) == 0) return true;
    return false;
}

static unsigned status_of(int code)
{
    switch (code) {
    case TW_ENOMEM: case TW_EIO: case TW_EINTERNAL: return 500;
    case TW_ENOTFOUND: return 404;
    case TW_ETOOBIG: return 413;
    default: return 400;
    }
}

/* A passphrase (key_plan_sealed, key_rotate_sealed) is wiped from the
 * copies twind holds, the request body and its parsed string, once the op
 * is done, rather than left in freed memory. */
static void wipe_secrets(req *r, const tw_val *args)
{
    const tw_val *p = tw_v_get(args, "passphrase");
    if (!p) return;
    if (p->type == TW_STR && p->len) sodium_memzero((void *)p->v.s, p->len);
    if (r->body.len) sodium_memzero(r->body.p, r->body.len);
}

static void watch_start(tw_http *h, req *r);

static enum MHD_Result do_op(tw_http *h, struct MHD_Connection *c, req *r)
{
    tw_arena a;
    tw_val args = { .type = TW_MAP };
    char jerr[200];
    tw_arena_init(&a, 64 * r->body.len + 65536);
    if (r->body.len) {
        int rc = tw_json_parse((const char *)r->body.p, r->body.len, &a, &args, NULL, jerr, sizeof jerr);
        if (rc || args.type != TW_MAP) {
            char m[300];
            snprintf(m, sizeof m, "malformed request: %s", rc ? jerr : "the body must be a JSON object of arguments");
            tw_warn("http", "%s: %s", r->op, m);
            tw_arena_free(&a);
            return send_error(c, 400, rc ? rc : TW_ETYPE, m, -1);
        }
    }
    tw_buf out;
    tw_op_err e;
    bool held = false;
    tw_buf_init(&out);
    int rc = tw_ops_dispatch_held(h->node, r->op, strlen(r->op), &args, &out, &e, &held);
    if (held) {
        /* The body stays: it is parsed again when the build has ended. */
        tw_arena_free(&a);
        tw_buf_free(&out);
        r->held = true;
        r->conn = c;
        r->hnext = h->held;
        if (h->held) h->held->hpprev = &r->hnext;
        h->held = r;
        r->hpprev = &h->held;
        r->h = h;
        r->held_since = tw_now_ms();
        MHD_suspend_connection(c);
        watch_start(h, r);
        tw_debug("http", "%s waits for the report being made (%u requests wait)", r->op, tw_ops_held());
        return MHD_YES;
    }
    wipe_secrets(r, &args);
    tw_arena_free(&a);
    enum MHD_Result res;
    if (rc) {
        tw_info("http", "%s refused: %s", r->op, e.msg);
        res = send_error(c, status_of(rc), rc, e.msg, e.index);
    } else {
        res = send_result(c, &out, NULL);
    }
    tw_buf_free(&out);
    return res;
}

/* Calls op with args and decodes its result into *v (arena a). */
static int call_op(tw_http *h, const char *op, const tw_val *args, tw_arena *a, tw_buf *out, tw_val *v, tw_op_err *e)
{
    out->len = 0;
    int rc = tw_ops_dispatch(h->node, op, strlen(op), args, out, e);
    if (rc) return rc;
    rc = tw_mp_decode(out->p, out->len, a, TW_MP_CTL_DEPTH, v, NULL, NULL);
    if (rc) snprintf(e->msg, sizeof e->msg, "%s: unreadable result", op);
    return rc;
}

/* GET /api/bundle_export[?since=MS][&author=KEY]: the whole bundle. */
static enum MHD_Result do_export(tw_http *h, struct MHD_Connection *c)
{
    const char *since = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
    const char *author = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "author");
    tw_arena a;
    tw_val args, v;
    tw_buf out, bundle;
    tw_op_err e;
    uint64_t id = 0;
    int rc = 0;
    tw_arena_init(&a, 0);
    tw_buf_init(&out);
    tw_buf_init(&bundle);
    if (since) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(since, &end, 10);
        if (errno || *end || !since[0] || since[0] == '-') {
            tw_arena_free(&a);
            return send_error(c, 400, TW_EINVAL, "since: not a number of milliseconds", -1);
        }
        (void)s;
    }
    for (unsigned slice = 0; slice <= TW_BUNDLE_MAX / TW_BUNDLE_SLICE_MAX + 1; slice++) {
        tw_arena_reset(&a);
        if ((rc = tw_v_map(&a, &args, slice == 0 ? (since != NULL) + (author != NULL) : 1))) break;
        uint32_t k = 0;
        if (slice == 0) {
            if (since) { args.v.map[k].k = tw_v_cstr("since"); args.v.map[k++].v = tw_v_uint(strtoull(since, NULL, 10)); }
            if (author) { args.v.map[k].k = tw_v_cstr("author"); args.v.map[k++].v = tw_v_cstr(author); }
        } else {
            args.v.map[0].k = tw_v_cstr("export");
            args.v.map[0].v = tw_v_uint(id);
        }
        if ((rc = call_op(h, "bundle_export", &args, &a, &out, &v, &e))) break;
        const tw_val *idv = tw_v_get(&v, "export"), *data = tw_v_get(&v, "data"), *done = tw_v_get(&v, "done");
        if (!idv || idv->type != TW_UINT || !data || data->type != TW_BIN || !done || done->type != TW_BOOL) {
            rc = TW_EINTERNAL;
            snprintf(e.msg, sizeof e.msg, "bundle_export: unexpected result");
            break;
        }
        id = idv->v.u;
        if ((rc = tw_buf_put(&bundle, data->v.s, data->len))) { snprintf(e.msg, sizeof e.msg, "out of memory"); break; }
        if (done->v.b) break;
    }
    tw_buf_free(&out);
    tw_arena_free(&a);
    if (rc) {
        tw_buf_free(&bundle);
        tw_info("http", "bundle_export refused: %s", e.msg);
        return send_error(c, status_of(rc), rc, e.msg, -1);
    }
    tw_info("http", "bundle exported: %zu bytes", bundle.len);
    struct MHD_Response *resp = MHD_create_response_from_buffer(bundle.len, bundle.p, MHD_RESPMEM_MUST_FREE);
    if (!resp) { tw_buf_free(&bundle); return MHD_NO; }
    MHD_add_response_header(resp, "Content-Security-Policy", csp);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    MHD_add_response_header(resp, "Content-Disposition", "attachment; filename=\"registry.twinbundle\"");
    enum MHD_Result res = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return res;
}

/* Hands the bytes held in r->body to bundle_import as one slice. */
static void upload_slice(tw_http *h, req *r, bool end)
{
    tw_arena a;
    tw_val args, v;
    tw_buf out;
    tw_op_err e;
    tw_arena_init(&a, 0);
    tw_buf_init(&out);
    int rc = tw_v_map(&a, &args, 2 + r->have_import);
    if (!rc) {
        args.v.map[0].k = tw_v_cstr("data");
        args.v.map[0].v = tw_v_bin(r->body.p, r->body.len);
        args.v.map[1].k = tw_v_cstr("end");
        args.v.map[1].v = tw_v_bool(end);
        if (r->have_import) { args.v.map[2].k = tw_v_cstr("import"); args.v.map[2].v = tw_v_uint(r->import); }
        rc = call_op(h, "bundle_import", &args, &a, &out, &v, &e);
    } else {
        snprintf(e.msg, sizeof e.msg, "out of memory");
    }
    if (!rc) {
        const tw_val *idv = tw_v_get(&v, "import");
        if (idv && idv->type == TW_UINT) { r->import = idv->v.u; r->have_import = true; }
    } else {
        r->fail = rc;
        snprintf(r->fail_msg, sizeof r->fail_msg, "%s", e.msg);
    }
    r->body.len = 0;
    tw_buf_free(&out);
    tw_arena_free(&a);
}

/* ----------------------------------------------------------------- routing */

static enum MHD_Result first_call(tw_http *h, struct MHD_Connection *c, const char *url, const char *method, req *r)
{
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    char shown[96];
    r->answered = true;
    if (!host_ok(h, host)) {
        printable(shown, sizeof shown, host ? host : "(none)");
        tw_log_limited(TW_LOG_WARN, "http", "http.host", "%s %s refused: Host %s is not this server (DNS rebinding?)", method, url, shown);
        return send_text(c, 403, "403 wrong Host header: open the address twin ui prints\n");
    }
    if (!origin_ok(origin, host)) {
        printable(shown, sizeof shown, origin);
        tw_log_limited(TW_LOG_WARN, "http", "http.origin", "%s %s refused: request from another origin (%s)", method, url, shown);
        return send_error(c, 403, TW_EPERM, "cross-origin request refused", -1);
    }
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0, post = strcmp(method, "POST") == 0;
    bool api = strncmp(url, "/api/", 5) == 0;
    if (api && post && strcmp(url, "/api/login") == 0) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > 4096) return send_error(c, 413, TW_ETOOBIG, "login request too large", -1);
        r->route = R_LOGIN;
        r->answered = false;
        return MHD_YES;
    }
    if (!api) {
        if (!get) return send_text(c, 405, "405 method not allowed\n");
        if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
            const char *unused;
            if (find_session(h, c, &unused) < 0) {
                /* The login page, which says to run twin ui when it finds no token. */
                const tw_www_file *f = www_find("/login.html");
                if (!f) return send_text(c, 401, "401 not logged in: open the address twin ui prints\n");
                return send_resp(c, 401, f->type, (void *)f->data, f->len, MHD_RESPMEM_PERSISTENT, true, NULL, NULL);
            }
            return send_file(c, www_find("/index.html"));
        }
        if (strcmp(url, "/login") == 0) return send_file(c, www_find("/login.html"));
        const tw_www_file *f = www_find(url);
        if (!f || strcmp(url, "/index.html") == 0) return send_text(c, 404, "404 not found\n");
        return send_file(c, f);
    }
    const char *csrf;
    int s = find_session(h, c, &csrf);
    if (s < 0) {
        tw_log_limited(TW_LOG_INFO, "http", "http.auth", "%s %s refused: not logged in", method, url);
        return send_error(c, 401, TW_EPERM, "not logged in: open the address twin ui prints", -1);
    }
    const char *op = url + 5;
    if (get) {
        if (strcmp(op, "session") == 0) {
            tw_buf b;
            tw_buf_init(&b);
            int rc = tw_mpw_map(&b, 1);
            if (!rc) rc = tw_mpw_kv_cstr(&b, "csrf", csrf);
            enum MHD_Result res = rc ? send_error(c, 500, rc, tw_strerror(rc), -1) : send_result(c, &b, NULL);
            tw_buf_free(&b);
            return res;
        }
        if (strcmp(op, "bundle_export") == 0) return do_export(h, c);
        return send_error(c, 405, TW_EINVAL, "API operations are POST requests", -1);
    }
    if (!post) return send_error(c, 405, TW_EINVAL, "method not allowed", -1);
    const char *tok = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
    if (!tw_websess_csrf_ok(h->ws, s, tok, tok ? strlen(tok) : 0)) {
        tw_log_limited(TW_LOG_WARN, "http", "http.csrf", "POST %s refused: %s CSRF token", url, tok ? "wrong" : "no");
        return send_error(c, 403, TW_EPERM, "missing or wrong X-CSRF-Token", -1);
    }
    size_t ol = strlen(op);
    if (ol == 0 || ol > TW_KIND_MAX || strspn(op, "abcdefghijklmnopqrstuvwxyz_") != ol)
        return send_error(c, 404, TW_EINVAL, "no such operation", -1);
    if (strcmp(op, "logout") == 0) {
        tw_websess_end(h->ws, s);
        tw_info("http", "web logout: a session ended");
        return send_resp(c, 200, "application/json; charset=utf-8", (void *)"{\"ok\":true,\"result\":null}", 25,
                         MHD_RESPMEM_PERSISTENT, true, NULL, "twsess=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    }
    memcpy(r->op, op, ol + 1);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
    if (strcmp(op, "bundle_import") == 0) {
        if (len > TW_HTTP_UPLOAD_MAX)
            return send_error(c, 413, TW_ETOOBIG, "bundle larger than the upload limit", -1);
        r->route = R_UPLOAD;
    } else {
        if (op_denied(op)) {
            tw_log_limited(TW_LOG_WARN, "http", "http.op", "POST %s refused: not offered over the web", url);
            return send_error(c, 403, TW_EPERM, "this operation is not offered over the web interface: use twin", -1);
        }
        if (len > TW_HTTP_BODY_MAX) return send_error(c, 413, TW_ETOOBIG, "request body larger than the limit", -1);
        r->route = R_OP;
    }
    r->answered = false;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    tw_http *h = cls;
    req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        tw_buf_init(&r->body);
        *con_cls = r;
        enum MHD_Result res = first_call(h, c, url, method, r);
        tw_debug("http", "%s %s", method, url);
        return res;
    }
    if (r->answered && r->resumed) {
        r->resumed = false;
        if (r->gone) return MHD_NO;      /* closes it: no answer to write */
        if (r->held_rc) {
            char m[200];
            snprintf(m, sizeof m, "cannot compute the report: %s", tw_strerror(r->held_rc));
            tw_info("http", "%s refused: %s", r->op, m);
            return send_error(c, status_of(r->held_rc), r->held_rc, m, -1);
        }
        return do_op(h, c, r);
    }
    if (r->answered) { *upload_size = 0; return MHD_YES; }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        r->total += n;
        if (r->fail) return MHD_YES;
        size_t max = r->route == R_UPLOAD ? TW_HTTP_UPLOAD_MAX : r->route == R_LOGIN ? 4096 : TW_HTTP_BODY_MAX;
        if (r->total > max) {
            r->fail = TW_ETOOBIG;
            snprintf(r->fail_msg, sizeof r->fail_msg, "request body larger than %zu bytes", max);
            tw_buf_free(&r->body);
            return MHD_YES;
        }
        if (tw_buf_put(&r->body, upload_data, n)) { r->fail = TW_ENOMEM; snprintf(r->fail_msg, sizeof r->fail_msg, "out of memory"); return MHD_YES; }
        if (r->route == R_UPLOAD && r->body.len >= TW_BUNDLE_SLICE_MAX) upload_slice(h, r, false);
        return MHD_YES;
    }
    r->answered = true;
    if (r->fail && r->route != R_UPLOAD) return send_error(c, r->fail == TW_ETOOBIG ? 413 : 500, r->fail, r->fail_msg, -1);
    switch (r->route) {
    case R_LOGIN: return do_login(h, c, r);
    case R_OP: return do_op(h, c, r);
    case R_UPLOAD:
        if (!r->fail) upload_slice(h, r, true);
        if (r->fail) {
            tw_info("http", "bundle_import refused: %s", r->fail_msg);
            return send_error(c, status_of(r->fail), r->fail, r->fail_msg, -1);
        }
        {
            tw_buf b;
            tw_buf_init(&b);
            int rc = tw_mpw_map(&b, 2);
            if (!rc) rc = tw_mpw_kv_uint(&b, "import", r->import);
            if (!rc) rc = tw_mpw_kv_uint(&b, "bytes", r->total);
            enum MHD_Result res = rc ? send_error(c, 500, rc, tw_strerror(rc), -1) : send_result(c, &b, NULL);
            tw_buf_free(&b);
            return res;
        }
    default: return send_text(c, 500, "500 internal error\n");
    }
}

static void http_unref(tw_http *h);

static void watch_closed(uv_handle_t *hd)
{
    tw_http *h = hd->data;
    free(hd);
    http_unref(h);
}

/* Takes r off the held list, and stops watching its socket. */
static void unhold(req *r)
{
    if (!r->held) return;
    r->held = false;
    if (r->hnext) r->hnext->hpprev = r->hpprev;
    *r->hpprev = r->hnext;
    if (r->watch) {
        r->watch->data = r->h;
        uv_close((uv_handle_t *)r->watch, watch_closed);
        r->watch = NULL;
    }
}

static void run_mhd(tw_http *h);
static void on_timer(uv_timer_t *t);

/* The client of a held request closed its connection (or shut its writing
 * side: an HTTP client that wants its answer does not): the request is
 * dropped at once, its slot free for another, and its connection closed
 * without a byte written (on_request returns MHD_NO).  MHD itself does not
 * look at a suspended connection's socket, so the loop watches it. */
static void on_client_gone(uv_poll_t *p, int status, int events)
{
    req *r = p->data;
    tw_http *h = r->h;
    (void)status;
    (void)events;
    tw_log_limited(TW_LOG_INFO, "http", "http.gone", "%s: the client closed its connection while the request waited "
                   "%llu ms for the report; dropped", r->op, (unsigned long long)(tw_now_ms() - r->held_since));
    unhold(r);
    tw_ops_held_dropped();
    r->gone = true;
    r->resumed = true;
    MHD_resume_connection(r->conn);
    uv_timer_start(&h->timer, on_timer, 0, 0);
}

/* Watches a held request's socket for its client leaving (EPOLLRDHUP, or
 * an error).  Without a watch (out of memory) it is answered when the
 * build ends, as before. */
static void watch_start(tw_http *h, req *r)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    uv_poll_t *p = ci ? malloc(sizeof *p) : NULL;
    if (!p) return;
    if (uv_poll_init_socket(h->node->loop, p, ci->connect_fd) != 0) { free(p); return; }
    p->data = r;
    h->open_handles++;
    r->watch = p;
    if (uv_poll_start(p, UV_DISCONNECT, on_client_gone) != 0) {
        r->watch = NULL;
        p->data = h;
        uv_close((uv_handle_t *)p, watch_closed);
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    req *r = *con_cls;
    if (!r) return;
    if (r->held) tw_ops_held_done();
    unhold(r);
    tw_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char m[256];
    vsnprintf(m, sizeof m, fmt, ap);
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == '\r')) m[--n] = 0;
    tw_debug("http", "libmicrohttpd: %s", m);
}

/* ------------------------------------------------------------------ loop */

static void on_timer(uv_timer_t *t);

static void run_mhd(tw_http *h)
{
    MHD_UNSIGNED_LONG_LONG to;
    MHD_run(h->d);
    /* At TW_HTTP_CONN_MAX connections MHD takes its listening socket out
     * of its epoll set, and puts it back only in a later MHD_run: nothing
     * would call that once the connections have closed, so call it here. */
    const union MHD_DaemonInfo *ci = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    unsigned conns = ci ? ci->num_connections : 0;
    if (conns >= TW_HTTP_CONN_MAX) {
        if (!h->full) tw_warn("http", "%u web connections open: new ones wait", TW_HTTP_CONN_MAX);
        h->full = true;
    } else if (h->full) {
        h->full = false;
        MHD_run(h->d);
    }
    /* At least 1 ms: run_mhd runs from the timer's own callback, and
     * libuv before 1.45 runs a timer restarted there with 0 ms again in the
     * same pass, before polling the sockets MHD waits for. */
    if (MHD_get_timeout(h->d, &to) == MHD_YES) uv_timer_start(&h->timer, on_timer, to ? to : 1, 0);
    else uv_timer_stop(&h->timer);
}

static void on_timer(uv_timer_t *t) { run_mhd(t->data); }

/* Resumes every held request, to be asked again (rc 0) or told the build
 * failed; MHD runs them in a later turn (the timer). */
static void resume_held(tw_http *h, int rc)
{
    while (h->held) {
        req *r = h->held;
        unhold(r);
        tw_ops_held_done();
        r->resumed = true;
        r->held_rc = rc;
        MHD_resume_connection(r->conn);
    }
}

/* The report's build has ended (ops.c). */
static void report_ended(tw_node *n, int rc)
{
    tw_http *h = n->http;
    if (!h || !h->d || !h->held) return;
    resume_held(h, rc);
    uv_timer_start(&h->timer, on_timer, 0, 0);
}

static void on_poll(uv_poll_t *p, int status, int events) { run_mhd(p->data); }

static void http_unref(tw_http *h)
{
    if (--h->open_handles == 0) {
        tw_websess_free(h->ws);
        sodium_memzero(h, sizeof *h);
        free(h);
    }
}

static void handle_closed(uv_handle_t *hd) { http_unref(hd->data); }

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a);
}

static bool is_wildcard(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

int tw_http_start(tw_node *n, char *err, size_t errlen)
{
    const char *addr = n->cfg.http;
    if (!addr[0]) { tw_info("http", "web interface off"); return 0; }
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    char host[TW_ADDR_MAX];
    const char *colon = strrchr(addr, ':');
    unsigned port = (unsigned)strtoul(colon + 1, NULL, 10);
    if (addr[0] == '[') snprintf(host, sizeof host, "%.*s", (int)(colon - addr - 2), addr + 1);
    else snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        sl = sizeof *s4;
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        sl = sizeof *s6;
    } else {
        snprintf(err, errlen, "http: \"%s\" is not IP:PORT", addr);
        return TW_EINVAL;
    }
    if (!is_loopback(&ss) && !n->cfg.http_allow_remote) {
        snprintf(err, errlen, "http = %s is not a loopback address: the web interface would be reachable from other "
                 "machines; set http_allow_remote = yes to mean it, or keep 127.0.0.1 and use an SSH tunnel "
                 "(ssh -L %u:127.0.0.1:%u HOST)", addr, TW_HTTP_PORT_DEFAULT, TW_HTTP_PORT_DEFAULT);
        return TW_EPERM;
    }
    tw_http *h = calloc(1, sizeof *h);
    if (!h) { snprintf(err, errlen, "out of memory"); return TW_ENOMEM; }
    h->node = n;
    if (!(h->ws = tw_websess_new())) { free(h); snprintf(err, errlen, "out of memory"); return TW_ENOMEM; }
    snprintf(h->addr, sizeof h->addr, "%s", addr);
    h->port = port;
    h->wildcard = is_wildcard(&ss);
    n->http = h;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
        bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 64) != 0) {
        snprintf(h->why, sizeof h->why, "%s: %s", addr, strerror(errno));
        if (fd >= 0) close(fd);
        tw_warn("http", "web interface not started: cannot listen on %s; twind runs without it", h->why);
        return 0;
    }
    h->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, on_request, h,
                            MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)TW_HTTP_CONN_MAX,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)TW_HTTP_CONN_TIMEOUT_S,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)TW_HTTP_CONN_MEMORY,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
                            MHD_OPTION_END);
    const union MHD_DaemonInfo *info = h->d ? MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info) {
        snprintf(h->why, sizeof h->why, "%s: libmicrohttpd could not start", addr);
        if (h->d) MHD_stop_daemon(h->d); else close(fd);
        h->d = NULL;
        tw_warn("http", "web interface not started: %s; twind runs without it", h->why);
        return 0;
    }
    uv_poll_init(n->loop, &h->poll, info->epoll_fd);
    uv_timer_init(n->loop, &h->timer);
    h->poll.data = h->timer.data = h;
    h->open_handles = 2;
    uv_poll_start(&h->poll, UV_READABLE, on_poll);
    tw_ops_on_report_ended(report_ended);
    run_mhd(h);
    tw_info("http", "web interface at http://%s/ (%zu bytes of pages)", addr, tw_www_total);
    return 0;
}

void tw_http_stop(tw_node *n)
{
    tw_http *h = n->http;
    if (!h) return;
    n->http = NULL;
    if (!h->d) { tw_websess_free(h->ws); free(h); return; }
    uv_close((uv_handle_t *)&h->poll, handle_closed);
    uv_close((uv_handle_t *)&h->timer, handle_closed);
    /* MHD must not be stopped with connections suspended: they are resumed,
     * then closed by MHD_stop_daemon (on_completed frees them). */
    resume_held(h, TW_ECLOSED);
    MHD_stop_daemon(h->d);
    h->d = NULL;
}

void tw_http_state(const tw_node *n, char *out, size_t cap)
{
    const tw_http *h = n->http;
    if (!h) snprintf(out, cap, "off");
    else if (!h->d) snprintf(out, cap, "not serving: %s", h->why);
    else snprintf(out, cap, "http://%s/", h->addr);
}
