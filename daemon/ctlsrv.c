/*
 * Control socket server (daemon/ctlsrv.h).
 *
 * Connections are freed only in their close callback, never inside a read
 * or write callback; write buffers live until their write callback.
 *
 * One client must not starve the others or the daemon's memory:
 *  - a connection whose queued replies pass TW_CTL_WRITE_QUEUE_MAX bytes
 *    (its client does not read them) is not read from, and its pending
 *    requests wait, until its client has read enough of them;
 *  - at most TW_CTL_BATCH requests of one connection are answered in one
 *    loop turn; the rest wait in its input buffer (reading stops meanwhile)
 *    and an idle handle answers the next batch after the loop has polled,
 *    so that other clients are answered in between;
 *  - at the per-uid cap, a new connection closes the uid's connection that
 *    has been idle longest (nothing read from it and none of its replies
 *    written for TW_CTL_IDLE_EVICT_MS) instead of being refused.
 * So one connection holds at most TW_CTL_WRITE_QUEUE_MAX bytes of replies
 * plus one reply, and one request plus one read of 64 KiB.
 *
 * A request that needs the report while it is being made in the background
 * (stats, gaps, report; list, show and search of records it marks) is held
 * (tw_ops_dispatch_held(): at most TW_REPORT_WAITERS_MAX in the daemon, the
 * next is told to retry) instead of finishing the build on the loop: its
 * bytes are kept in the connection (held), the connection's later requests
 * wait behind it so that replies keep their order, and when the build ends
 * (report_ended) the idle handle asks again, or answers with the build's
 * failure.  A held connection is still read from (a whole later request
 * stops that, as ever), so a client that closes meanwhile is seen: its
 * request is dropped (logged, counted in status "report_waits") and its
 * slot is free at once; one that only shut its writing side gets its
 * answer, then the connection closes.  One whose later request stopped the
 * reading is seen gone when the build ends (peer_gone) and dropped then,
 * nothing written to it.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "twin/ctl.h"
#include "twin/err.h"
#include "twin/limits.h"
#include "ctlsrv.h"
#include "log.h"
#include "ops.h"

typedef struct conn conn;
struct tw_ctlsrv {
    tw_node *node;
    uv_pipe_t listener;
    char path[TW_PATH_MAX + 32];
    conn *conns;
    uv_idle_t idle;                  /* answers the next batch of waiting requests */
    bool idle_active;
    unsigned open_handles;
    void (*done)(tw_node *);
    bool stopping;
};

struct conn {
    uv_pipe_t pipe;
    tw_ctlsrv *srv;
    conn *next, **pprev;
    uid_t uid;
    tw_buf in;
    bool closing, close_after_write;
    bool leaving;                    /* refused or evicted: closed once its error is written */
    bool reading;                    /* uv_read_start in force */
    bool ready;                      /* complete requests wait for the idle handle */
    bool paused;                     /* its replies have filled its queue at least once */
    bool held;                       /* hold: a request waits for the report being made */
    bool held_ended;                 /* the build has ended: ask again (held_rc 0) or fail */
    int held_rc;
    tw_buf hold;                     /* the held request's message */
    uint64_t held_since;             /* mono_ms */
    unsigned writes;
    size_t wbytes;                   /* bytes of queued replies not yet written */
    uint64_t last_active;            /* last byte read, request answered or reply written (mono_ms) */
};

typedef struct wreq { uv_write_t req; conn *c; tw_buf buf; } wreq;

static void update(conn *c);

/* The loop's monotonic clock, brought up to date (a long operation may have
 * run since the loop last read it): the wall clock may jump. */
static uint64_t mono_ms(tw_ctlsrv *s)
{
    uv_update_time(s->node->loop);
    return uv_now(s->node->loop);
}

static void handle_closed(tw_ctlsrv *s)
{
    if (--s->open_handles == 0 && s->stopping && s->done) {
        tw_node *n = s->node;
        void (*done)(tw_node *) = s->done;
        n->ctl = NULL;
        free(s);
        done(n);
    }
}

static void conn_closed(uv_handle_t *h)
{
    conn *c = h->data;
    tw_ctlsrv *s = c->srv;
    tw_buf_free(&c->in);
    tw_buf_free(&c->hold);
    free(c);
    handle_closed(s);
}

static void conn_close(conn *c)
{
    if (c->closing) return;
    c->closing = true;
    if (c->held) {
        /* Its request is given up: no reply is owed to a closed connection,
         * and its slot is free for another at once (counted as dropped
         * unless twind is stopping). */
        c->held = false;
        if (c->srv->stopping) tw_ops_held_done();
        else tw_ops_held_dropped();
    }
    if (c->wbytes && !c->srv->stopping)
        tw_log_limited(TW_LOG_INFO, "ctl", "ctl.unread", "uid %u: connection closed with %zu bytes of replies unread%s",
                       (unsigned)c->uid, c->wbytes, c->paused ? " (its requests had been waiting for it to read)" : "");
    if (c->next) c->next->pprev = c->pprev;
    *c->pprev = c->next;
    uv_close((uv_handle_t *)&c->pipe, conn_closed);
}

static unsigned conns_of(tw_ctlsrv *s, uid_t uid)
{
    unsigned k = 0;
    /* Connections on their way out (refused, evicted) do not count; a
     * half-closed one, whose replies still go out, does. */
    for (conn *c = s->conns; c; c = c->next) if (c->uid == uid && !c->leaving) k++;
    return k;
}

static void write_done(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    conn *c = w->c;
    /* A failed write closes c with this reply still counted as unread. */
    if (status < 0) conn_close(c);
    c->wbytes -= w->buf.len;
    tw_buf_free(&w->buf);
    free(w);
    c->writes--;
    if (status < 0 || (c->close_after_write && c->writes == 0)) { conn_close(c); return; }
    c->last_active = mono_ms(c->srv);
    update(c);
}

/* Queues the framed message in w (taking it); a failed write closes c. */
static void write_frame(conn *c, wreq *w)
{
    w->c = c;
    uv_buf_t b = uv_buf_init((char *)w->buf.p, (unsigned)w->buf.len);
    if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, write_done) < 0) {
        tw_buf_free(&w->buf);
        free(w);
        conn_close(c);
        return;
    }
    c->writes++;
    c->wbytes += w->buf.len;
}

static void send_msg(conn *c, const tw_val *msg)
{
    wreq *w = calloc(1, sizeof *w);
    if (!w) { conn_close(c); return; }
    tw_buf_init(&w->buf);
    if (tw_ctl_frame(&w->buf, msg)) { tw_buf_free(&w->buf); free(w); conn_close(c); return; }
    write_frame(c, w);
}

static void send_error(conn *c, int code, const char *msg, int64_t index)
{
    tw_arena a;
    tw_val m;
    tw_arena_init(&a, 0);
    if (tw_ctl_error(&a, &m, code, msg) == 0) {
        if (index >= 0) {
            /* Append "index" to the error map. */
            tw_kv *kv = tw_arena_alloc(&a, (m.len + 1) * sizeof *kv);
            if (kv) {
                memcpy(kv, m.v.map, m.len * sizeof *kv);
                kv[m.len].k = tw_v_cstr("index");
                kv[m.len].v = tw_v_int(index);
                m.v.map = kv;
                m.len++;
            }
        }
        send_msg(c, &m);
    }
    tw_arena_free(&a);
}

/* Sends {"v":1,"ok":true,"result": <raw msgpack bytes>}. */
static void send_ok_raw(conn *c, const tw_buf *result)
{
    wreq *w = calloc(1, sizeof *w);
    if (!w) { conn_close(c); return; }
    tw_buf_init(&w->buf);
    uint8_t hdr[4] = { 0 };
    int rc = tw_buf_put(&w->buf, hdr, 4);
    if (!rc) rc = tw_mpw_map(&w->buf, 3);
    if (!rc) rc = tw_mpw_cstr(&w->buf, "v");
    if (!rc) rc = tw_mpw_uint(&w->buf, TW_CTL_VERSION);
    if (!rc) rc = tw_mpw_cstr(&w->buf, "ok");
    if (!rc) rc = tw_mpw_bool(&w->buf, true);
    if (!rc) rc = tw_mpw_cstr(&w->buf, "result");
    if (!rc) rc = tw_buf_put(&w->buf, result->p, result->len);
    size_t n = w->buf.len - 4;
    if (rc || n > TW_CTL_MSG_MAX) {
        tw_buf_free(&w->buf);
        free(w);
        send_error(c, rc ? rc : TW_ETOOBIG, rc ? tw_strerror(rc) : "response larger than the control message limit; ask for fewer records (limit)", -1);
        return;
    }
    w->buf.p[0] = (uint8_t)(n >> 24);
    w->buf.p[1] = (uint8_t)(n >> 16);
    w->buf.p[2] = (uint8_t)(n >> 8);
    w->buf.p[3] = (uint8_t)n;
    write_frame(c, w);
}

/* Answers one request, or holds it (c->held, its bytes in c->hold) when it
 * waits for the report being made. */
static void handle_request(conn *c, const uint8_t *body, size_t len)
{
    tw_arena a;
    tw_val msg;
    const char *why = NULL;
    /* Decoded nodes cost more than their bytes; bound them by a multiple
     * of the message size. */
    tw_arena_init(&a, 64 * len + 65536);
    int rc = tw_ctl_decode(body, len, &a, &msg, &why);
    if (rc) {
        char m[256];
        snprintf(m, sizeof m, "malformed control message: %s", why ? why : tw_strerror(rc));
        tw_log_limited(TW_LOG_WARN, "ctl", "ctl.malformed", "uid %u: %s", (unsigned)c->uid, m);
        send_error(c, rc, m, -1);
        tw_arena_free(&a);
        return;
    }
    const tw_val *op = tw_v_get(&msg, "op"), *args = tw_v_get(&msg, "args");
    if (!op || op->type != TW_STR || (args && args->type != TW_MAP && args->type != TW_NIL)) {
        tw_log_limited(TW_LOG_WARN, "ctl", "ctl.request", "uid %u: request without an op or with args that are not a map",
                       (unsigned)c->uid);
        send_error(c, TW_EPROTO, "request needs \"op\" (string) and \"args\" (map)", -1);
        tw_arena_free(&a);
        return;
    }
    tw_val empty = { .type = TW_MAP };
    tw_buf out;
    tw_op_err e;
    bool held = false;
    tw_buf_init(&out);
    rc = tw_ops_dispatch_held(c->srv->node, op->v.s, op->len, args && args->type == TW_MAP ? args : &empty, &out, &e,
                              &held);
    if (held) {
        tw_buf_reset(&c->hold);
        if (tw_buf_put(&c->hold, body, len)) {
            tw_ops_held_done();
            send_error(c, TW_ENOMEM, "out of memory", -1);
        } else {
            c->held = true;
            c->held_ended = false;
            c->held_since = mono_ms(c->srv);
            tw_debug("ctl", "uid %u: %.*s waits for the report being made (%u requests wait)", (unsigned)c->uid,
                     (int)(op->len > 32 ? 32 : op->len), op->v.s, tw_ops_held());
        }
    } else if (rc) {
        tw_log_limited(TW_LOG_INFO, "ctl", "ctl.refused", "%.*s refused: %s", (int)(op->len > 32 ? 32 : op->len), op->v.s,
                       e.msg);
        send_error(c, rc, e.msg, e.index);
    } else {
        send_ok_raw(c, &out);
    }
    tw_buf_free(&out);
    tw_arena_free(&a);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    if (tw_buf_reserve(&c->in, 65536)) { buf->base = NULL; buf->len = 0; return; }
    buf->base = (char *)c->in.p + c->in.len;
    buf->len = c->in.cap - c->in.len;
}

/* Whether the input buffer holds a whole request (or a header that must be
 * refused, which needs no more bytes either). */
static bool request_waits(const conn *c)
{
    uint32_t len;
    if (c->in.len < TW_CTL_HDR_LEN) return false;
    if (tw_ctl_frame_len(c->in.p, &len)) return true;
    return c->in.len - TW_CTL_HDR_LEN >= len;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void on_idle(uv_idle_t *h);

/* After EOF: whether the client closed its socket (POLLHUP: both ways shut),
 * not only its writing side. */
static bool peer_gone(conn *c)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0) return true;
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/* The report's build has ended (ops.c): every held request is asked again
 * by the idle handle, or told the build failed. */
static void report_ended(tw_node *n, int rc)
{
    tw_ctlsrv *s = n->ctl;            /* NULL once it is freed */
    if (!s || s->stopping) return;
    for (conn *c = s->conns; c; c = c->next)
        if (c->held && !c->held_ended) {
            c->held_ended = true;
            c->held_rc = rc;
            update(c);
        }
}

/* Reads from c only while it has no whole request waiting and its replies
 * are being read; puts it on the ready set when requests wait and its
 * queue has room. */
static void update(conn *c)
{
    if (c->closing) return;
    bool room = c->wbytes <= TW_CTL_WRITE_QUEUE_MAX;
    bool waits = !c->close_after_write && request_waits(c);
    bool want_read = !c->close_after_write && room && !waits;
    if (c->held) {
        /* Read on (to see its client go) until a later request is whole;
         * nothing is answered until the held one is. */
        want_read = !c->close_after_write && !waits;
        waits = c->held_ended;
    }
    if (want_read && !c->reading) {
        c->reading = uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) == 0;
    } else if (!want_read && c->reading) {
        uv_read_stop((uv_stream_t *)&c->pipe);
        c->reading = false;
    }
    if (!room && !c->paused) {
        /* Normal for a while (twin asks for the next list page before it
         * reads the last); only a close with replies unread is news. */
        c->paused = true;
        tw_debug("ctl", "uid %u: %zu bytes of replies queued; its requests wait until it reads them", (unsigned)c->uid,
                 c->wbytes);
    }
    c->ready = waits && room;
    tw_ctlsrv *s = c->srv;
    if (c->ready && !s->idle_active && !s->stopping) {
        uv_idle_start(&s->idle, on_idle);
        s->idle_active = true;
    }
}

/* Answers up to TW_CTL_BATCH whole requests of c, fewer if its replies
 * fill its queue, then decides whether to read on (update). */
static void pump(conn *c)
{
    size_t off = 0;
    unsigned done = 0;
    if (c->held) {
        if (!c->held_ended) { update(c); return; }
        if (!c->reading && peer_gone(c)) {
            /* Not read since a later request came whole behind the held
             * one, so its close was not seen: nothing is written to it. */
            tw_log_limited(TW_LOG_INFO, "ctl", "ctl.gone", "uid %u closed its connection while its request waited "
                           "%llu ms for the report; dropped", (unsigned)c->uid,
                           (unsigned long long)(mono_ms(c->srv) - c->held_since));
            conn_close(c);
            return;
        }
        /* The build has ended: ask again (it may be held again, by a new
         * build), or say why there is no report. */
        tw_buf body = c->hold;
        tw_buf_init(&c->hold);
        c->held = false;
        tw_ops_held_done();
        tw_debug("ctl", "uid %u: a request answered after waiting %llu ms for the report", (unsigned)c->uid,
                 (unsigned long long)(mono_ms(c->srv) - c->held_since));
        if (c->held_rc) {
            char m[200];
            snprintf(m, sizeof m, "cannot compute the report: %s", tw_strerror(c->held_rc));
            send_error(c, c->held_rc, m, -1);
        } else {
            bool half = c->close_after_write;
            c->close_after_write = false;       /* a half-closed client still gets its answer */
            handle_request(c, body.p, body.len);
            c->close_after_write = half;
        }
        tw_buf_free(&body);
        done++;
        if (c->close_after_write && c->writes == 0 && !c->held) { conn_close(c); return; }
    }
    while (!c->closing && !c->close_after_write && !c->held && c->in.len - off >= TW_CTL_HDR_LEN &&
           done < TW_CTL_BATCH && c->wbytes <= TW_CTL_WRITE_QUEUE_MAX) {
        uint32_t len;
        int rc = tw_ctl_frame_len(c->in.p + off, &len);
        if (rc) {
            /* The stream cannot be resynchronised after a bad length. */
            char m[160];
            snprintf(m, sizeof m, rc == TW_ETOOBIG ? "control message larger than %u bytes" : "control message of length 0",
                     TW_CTL_MSG_MAX);
            tw_log_limited(TW_LOG_WARN, "ctl", "ctl.length", "uid %u: %s; closing the connection", (unsigned)c->uid, m);
            send_error(c, rc, m, -1);
            c->close_after_write = true;
            break;
        }
        if (c->in.len - off - TW_CTL_HDR_LEN < len) {
            if (tw_buf_reserve(&c->in, TW_CTL_HDR_LEN + len - (c->in.len - off))) { conn_close(c); return; }
            break;
        }
        handle_request(c, c->in.p + off + TW_CTL_HDR_LEN, len);
        off += TW_CTL_HDR_LEN + len;
        done++;
    }
    if (off && !c->closing) {
        memmove(c->in.p, c->in.p + off, c->in.len - off);
        c->in.len -= off;
    }
    if (done) c->last_active = mono_ms(c->srv);
    if (done == TW_CTL_BATCH && !c->closing && !c->held && request_waits(c))
        tw_log_limited(TW_LOG_DEBUG, "ctl", "ctl.batch", "uid %u: %u requests answered in this turn; its next ones "
                       "wait for the other clients", (unsigned)c->uid, done);
    update(c);
}

static void on_idle(uv_idle_t *h)
{
    tw_ctlsrv *s = h->data;
    bool more = false;
    for (conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->ready) pump(c);
        /* pump may close c, which unlinks it: only its flag is read here
         * when it is still linked (closing connections are never ready). */
        if (!c->closing && c->ready) more = true;
    }
    if (!more && s->idle_active) {
        uv_idle_stop(&s->idle);
        s->idle_active = false;
    }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = st->data;
    if (nread == 0) return;                      /* EAGAIN, not EOF */
    if (nread < 0) {
        if (nread != UV_EOF && c->in.len) tw_debug("ctl", "read error: %s", uv_strerror((int)nread));
        if (c->in.len)
            tw_log_limited(TW_LOG_INFO, "ctl", "ctl.unfinished", "uid %u closed with %zu bytes of an unfinished message",
                           (unsigned)c->uid, c->in.len);
        if (nread == UV_EOF && c->held && !peer_gone(c)) {
            /* A half-close: the held request is still answered, then the
             * connection closes. */
            c->close_after_write = true;
            uv_read_stop(st);
            c->reading = false;
            return;
        }
        if (c->held)
            tw_log_limited(TW_LOG_INFO, "ctl", "ctl.gone", "uid %u closed its connection while its request waited "
                           "%llu ms for the report; dropped", (unsigned)c->uid,
                           (unsigned long long)(mono_ms(c->srv) - c->held_since));
        if (nread == UV_EOF && c->writes && !c->held) {
            /* A half-close: the replies already queued still go out. */
            c->close_after_write = true;
            uv_read_stop(st);
            c->reading = false;
            return;
        }
        conn_close(c);
        return;
    }
    c->in.len += (size_t)nread;
    c->last_active = mono_ms(c->srv);
    pump(c);
}

/* At the cap of c's uid: closes the uid's connection idle longest, if it
 * has been idle for TW_CTL_IDLE_EVICT_MS.  True if one was closed. */
static bool evict_idle(tw_ctlsrv *s, conn *c)
{
    uint64_t now = mono_ms(s);
    conn *old = NULL;
    for (conn *o = s->conns; o; o = o->next)
        if (o != c && o->uid == c->uid && !o->ready && !o->held && !o->leaving &&
            (!old || o->last_active < old->last_active)) old = o;
    if (!old || now - old->last_active < TW_CTL_IDLE_EVICT_MS) return false;
    tw_log_limited(TW_LOG_INFO, "ctl", "ctl.evicted", "uid %u is at its %u control connections: closed the one idle "
                   "for %llu ms%s to let a new one in", (unsigned)c->uid, TW_CTL_CONN_PER_UID_MAX,
                   (unsigned long long)(now - old->last_active), old->wbytes ? " with unread replies" : "");
    if (old->wbytes) {
        conn_close(old);
    } else {
        /* Its client may still be there: tell it why. */
        send_error(old, TW_EBUSY, "connection closed by twind: it was idle while this user had the most control "
                   "connections open at once; connect again", -1);
        old->close_after_write = old->leaving = true;
        update(old);
    }
    return true;
}

static void on_connection(uv_stream_t *server, int status)
{
    tw_ctlsrv *s = server->data;
    if (status < 0) { tw_warn("ctl", "accept failed: %s", uv_strerror(status)); return; }
    conn *c = calloc(1, sizeof *c);
    if (!c) return;
    c->srv = s;
    c->last_active = mono_ms(c->srv);
    tw_buf_init(&c->in);
    tw_buf_init(&c->hold);
    uv_pipe_init(s->node->loop, &c->pipe, 0);
    c->pipe.data = c;
    s->open_handles++;
    c->next = s->conns;
    if (s->conns) s->conns->pprev = &c->next;
    s->conns = c;
    c->pprev = &s->conns;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) { conn_close(c); return; }
    uv_os_fd_t fd;
    struct ucred cred;
    socklen_t cl = sizeof cred;
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0) {
        tw_warn("ctl", "cannot read the credentials of a control connection; refused");
        conn_close(c);
        return;
    }
    c->uid = cred.uid;
    if (cred.uid != geteuid() && cred.uid != 0) {
        tw_log_limited(TW_LOG_WARN, "ctl", "ctl.uid", "control connection from uid %u refused: only uid %u may "
                       "control this node", (unsigned)cred.uid, (unsigned)geteuid());
        send_error(c, TW_EPERM, "permission denied: this node belongs to another user", -1);
        c->close_after_write = c->leaving = true;
        return;
    }
    if (conns_of(s, cred.uid) > TW_CTL_CONN_PER_UID_MAX && !evict_idle(s, c)) {
        tw_log_limited(TW_LOG_WARN, "ctl", "ctl.busy", "uid %u has more than %u control connections; refused",
                       (unsigned)cred.uid, TW_CTL_CONN_PER_UID_MAX);
        send_error(c, TW_EBUSY, "too many control connections", -1);
        c->close_after_write = c->leaving = true;
        return;
    }
    update(c);
}

static void listener_closed(uv_handle_t *h) { handle_closed(h->data); }

static void free_on_close(uv_handle_t *h) { free(h->data); }

int tw_ctlsrv_start(tw_node *n, char *err, size_t errlen)
{
    tw_ctlsrv *s = calloc(1, sizeof *s);
    if (!s) { snprintf(err, errlen, "out of memory"); return TW_ENOMEM; }
    s->node = n;
    snprintf(s->path, sizeof s->path, "%s/%s", n->cfg.data_dir, TW_CTL_SOCKET_NAME);
    if (strlen(s->path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        snprintf(err, errlen, "control socket path %s is too long for a Unix socket; use a shorter --data-dir", s->path);
        free(s);
        return TW_ETOOBIG;
    }
    /* We hold the data directory lock, so a socket left here is from a
     * dead twind and can go.  Anything else at that path (a file, a
     * symbolic link) is not ours to delete. */
    struct stat st;
    if (lstat(s->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket (%s); twind does not delete it: move it out of "
                     "the data directory and start twind again", s->path,
                     S_ISLNK(st.st_mode) ? "a symbolic link" : S_ISREG(st.st_mode) ? "a regular file" :
                     S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
            free(s);
            return TW_EEXIST;
        }
        if (unlink(s->path) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "cannot remove the stale socket %s: %s", s->path, strerror(errno));
            free(s);
            return TW_EIO;
        }
    } else if (errno != ENOENT) {
        snprintf(err, errlen, "cannot look at %s: %s", s->path, strerror(errno));
        free(s);
        return TW_EIO;
    }
    /* Bound here rather than by uv_pipe_bind: libuv would unlink whatever
     * stands at the path when the handle closes, and only a socket is ours
     * to remove (tw_ctlsrv_stop). */
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
    int rc = 0, fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) rc = uv_translate_sys_error(errno);
    if (rc == 0) {
        mode_t old = umask(077);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) rc = uv_translate_sys_error(errno);
        umask(old);
    }
    if (rc == 0 && chmod(s->path, 0600) != 0) rc = uv_translate_sys_error(errno);
    uv_pipe_init(n->loop, &s->listener, 0);
    s->listener.data = s;
    s->open_handles = 1;
    if (rc == 0 && (rc = uv_pipe_open(&s->listener, fd)) == 0) fd = -1;    /* the handle owns it now */
    if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, 16, on_connection);
    if (rc) {
        snprintf(err, errlen, "cannot listen on %s: %s", s->path, uv_strerror(rc));
        if (fd >= 0) close(fd);
        uv_close((uv_handle_t *)&s->listener, free_on_close);
        return TW_EIO;
    }
    uv_idle_init(n->loop, &s->idle);
    s->idle.data = s;
    s->open_handles++;
    n->ctl = s;
    tw_ops_on_report_ended(report_ended);
    return 0;
}

void tw_ctlsrv_stop(tw_node *n, void (*done)(tw_node *))
{
    tw_ctlsrv *s = n->ctl;
    if (!s) { done(n); return; }
    s->stopping = true;
    s->done = done;
    struct stat st;
    if (lstat(s->path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(s->path);   /* only a socket is ours to remove */
    while (s->conns) conn_close(s->conns);
    uv_close((uv_handle_t *)&s->idle, listener_closed);
    uv_close((uv_handle_t *)&s->listener, listener_closed);
}
