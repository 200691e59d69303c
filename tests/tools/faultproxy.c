/*
 * faultproxy: a TCP proxy for tests that behaves like the slow, intermittent
 * links twind has to live with.  The kernels the tests run on have no netem,
 * so delay, bandwidth caps, cuts and partitions are made here, in user space,
 * between a client and one target.
 *
 * Each accepted connection gets a dialled connection to the target and two
 * directions (up: client -> target, down: target -> client).  Bytes read from
 * one side become chunks stamped with a due time (now + latency) and sit in
 * that direction's queue; a pump hands them to the other side in order, no
 * earlier than their due time and no faster than the direction's token bucket
 * allows.  A direction whose queue plus writes in flight passes FP_HIGH_WATER
 * stops reading its source, so memory stays bounded whatever the peers do.
 *
 * Handles follow the libuv close discipline: a connection is never freed in
 * one of its own callbacks; closing it closes its five handles, pending write,
 * connect and shutdown requests come back cancelled, and the last close
 * callback frees it.  On SIGTERM the loop runs dry and uv_loop_close() must
 * return 0, so a leaked handle shows up as a non-zero exit.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <uv.h>

#define FP_READ_CHUNK        (64u * 1024u)   /* bytes of one read buffer */
#define FP_HIGH_WATER        (1024u * 1024u) /* stop reading a source beyond this */
#define FP_LOW_WATER         (256u * 1024u)  /* resume reading at or below this */
#define FP_MAX_CONNS         256u            /* proxied connections at once */
#define FP_BACKLOG           128
#define FP_STATS_INTERVAL_MS 500u
#define FP_BURST_DIVISOR     20u             /* a bucket holds 1/20 s of traffic */
#define FP_MAX_LATENCY_MS    600000ull
#define FP_MAX_RATE          (1ull << 30)    /* bytes per second */
#define FP_MAX_CUT_AFTER_KIB (1ull << 30)
#define FP_MAX_CUT_EVERY_S   86400.0
#define FP_PATH_EXTRA        32u             /* room for ".tmp.<pid>" */

/* The "field" profile: a rural partner office on a shared mobile uplink. */
#define FP_FIELD_RATE        8000ull         /* 64 kbit/s each way */
#define FP_FIELD_LATENCY_MS  600ull
#define FP_FIELD_CUT_EVERY_MS 30000ull

#define FP_UNSET             UINT64_MAX

enum { UP = 0, DOWN = 1, NDIRS = 2 };

static const char *const dir_name[NDIRS] = { "up", "down" };

struct conn;

/* One buffer of bytes in flight through the proxy.  It is first queued, then
 * becomes the buffer of a uv_write and is freed in the write callback. */
struct chunk {
    struct chunk *next;
    uv_write_t req;
    uint64_t due;      /* loop time (ms) before which it may not be sent */
    size_t len;        /* bytes in data */
    size_t off;        /* bytes of data already handed to a write */
    size_t sending;    /* bytes this chunk carries in its write */
    char data[];
};

struct direction {
    struct conn *c;
    int id;
    uv_tcp_t *src;
    uv_tcp_t *dst;
    uv_timer_t timer;          /* wakes the pump for latency or tokens */
    struct chunk *head;
    struct chunk *tail;
    size_t buffered;           /* queued bytes plus bytes in writes */
    unsigned inflight;         /* writes not yet called back */
    double tokens;
    uint64_t refill_at;
    bool reading;
    bool eof;                  /* the source sent FIN */
    bool shut_started;
    bool shut_done;
    uv_shutdown_t shut_req;
};

enum conn_state { CS_CONNECTING, CS_OPEN, CS_CLOSING };

static const char *const state_name[] = { "connecting", "open", "closing" };

/* Bits of conn.inited, so that a half-built connection closes only what it
 * initialised. */
enum {
    H_CLIENT = 1u << 0,
    H_TARGET = 1u << 1,
    H_LIFE = 1u << 2,
    H_TIMER_UP = 1u << 3,
    H_TIMER_DOWN = 1u << 4,
};

struct proxy;

struct conn {
    struct proxy *px;
    struct conn *prev;
    struct conn *next;
    uint64_t id;
    enum conn_state state;
    unsigned inited;
    unsigned open_handles;
    uv_tcp_t client;
    uv_tcp_t target;
    uv_timer_t life;
    uv_connect_t connect_req;
    struct direction dir[NDIRS];
    bool budget_limited;
    uint64_t budget;           /* bytes that may still pass before cut-after */
};

struct dir_conf {
    uint64_t latency_ms;
    uint64_t rate;             /* bytes per second, 0 = unlimited */
};

struct config {
    struct sockaddr_storage listen_addr;
    struct sockaddr_storage target_addr;
    const char *listen_text;
    const char *target_text;
    struct dir_conf d[NDIRS];
    uint64_t cut_after_bytes;  /* 0 = never */
    uint64_t cut_every_ms;     /* 0 = never */
    const char *port_file;
    const char *stats_file;
    bool verbose;
};

struct stats {
    uint64_t bytes[NDIRS];
    uint64_t connections;
    uint64_t refused;
    uint64_t cuts;
};

struct proxy {
    uv_loop_t *loop;
    struct config cfg;
    struct stats st;
    uv_tcp_t listener;
    uv_timer_t stats_timer;
    uv_signal_t sig_usr1, sig_usr2, sig_term, sig_int;
    struct conn *conns;
    size_t nconns;
    uint64_t next_id;
    bool partitioned;
    bool stopping;
    bool stats_error_logged;
};

static void conn_close(struct conn *c, const char *why, bool is_cut);
static void dir_pump(struct direction *d);

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("faultproxy: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

#define VLOG(px, ...) do { if ((px)->cfg.verbose) logf_(__VA_ARGS__); } while (0)

/* ---- files ---- */

/* Readers poll these files while the proxy runs, so each is written to a
 * temporary name and renamed over the old one: a reader sees all or nothing. */
static int write_atomic(const char *path, const char *text)
{
    size_t n = strlen(path) + FP_PATH_EXTRA;
    char *tmp = malloc(n);
    if (!tmp)
        return -ENOMEM;
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        int e = -errno;
        free(tmp);
        return e;
    }
    size_t len = strlen(text);
    bool ok = fwrite(text, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno ? -errno : -EIO;
        unlink(tmp);
        free(tmp);
        return e;
    }
    free(tmp);
    return 0;
}

static void stats_write(struct proxy *px)
{
    if (!px->cfg.stats_file)
        return;
    char text[512];
    snprintf(text, sizeof text,
             "bytes_up %llu\nbytes_down %llu\nconnections %llu\nrefused %llu\n"
             "cuts %llu\nactive %zu\npartitioned %d\n",
             (unsigned long long)px->st.bytes[UP],
             (unsigned long long)px->st.bytes[DOWN],
             (unsigned long long)px->st.connections,
             (unsigned long long)px->st.refused,
             (unsigned long long)px->st.cuts, px->nconns, px->partitioned ? 1 : 0);
    int r = write_atomic(px->cfg.stats_file, text);
    if (r && !px->stats_error_logged) {
        logf_("cannot write stats file %s: %s", px->cfg.stats_file, strerror(-r));
        px->stats_error_logged = true;
    }
}

/* ---- connections ---- */

static void conn_enter_state(struct conn *c, enum conn_state s, const char *why)
{
    VLOG(c->px, "conn %llu: %s -> %s (%s)", (unsigned long long)c->id,
         state_name[c->state], state_name[s], why);
    c->state = s;
}

static struct conn *conn_of(uv_handle_t *h)
{
    return h->data;
}

static void free_queue(struct direction *d)
{
    struct chunk *k = d->head;
    while (k) {
        struct chunk *next = k->next;
        free(k);
        k = next;
    }
    d->head = d->tail = NULL;
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct conn *c = conn_of(h);
    if (--c->open_handles > 0)
        return;
    for (int i = 0; i < NDIRS; i++)
        free_queue(&c->dir[i]);
    free(c);
}

static void close_if(struct conn *c, unsigned bit, uv_handle_t *h)
{
    if (c->inited & bit)
        uv_close(h, on_conn_handle_closed);
}

static void conn_unlink(struct conn *c)
{
    struct proxy *px = c->px;
    if (c->prev)
        c->prev->next = c->next;
    else
        px->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    px->nconns--;
}

/* Closes the connection from anywhere, including its own callbacks: memory is
 * released only once every handle has come back through its close callback. */
static void conn_close(struct conn *c, const char *why, bool is_cut)
{
    if (c->state == CS_CLOSING)
        return;
    if (is_cut)
        c->px->st.cuts++;
    conn_enter_state(c, CS_CLOSING, why);
    conn_unlink(c);
    if (c->open_handles == 0) {
        free(c);
        return;
    }
    close_if(c, H_CLIENT, (uv_handle_t *)&c->client);
    close_if(c, H_TARGET, (uv_handle_t *)&c->target);
    close_if(c, H_LIFE, (uv_handle_t *)&c->life);
    close_if(c, H_TIMER_UP, (uv_handle_t *)&c->dir[UP].timer);
    close_if(c, H_TIMER_DOWN, (uv_handle_t *)&c->dir[DOWN].timer);
}

static void dir_refill(struct direction *d, uint64_t now, uint64_t rate)
{
    double burst = (double)(rate / FP_BURST_DIVISOR > 0 ? rate / FP_BURST_DIVISOR : 1);
    if (now > d->refill_at) {
        d->tokens += (double)(now - d->refill_at) * (double)rate / 1000.0;
        if (d->tokens > burst)
            d->tokens = burst;
    }
    d->refill_at = now;
}

static void maybe_resume_reading(struct direction *d);

static void on_write(uv_write_t *req, int status)
{
    struct chunk *k = (struct chunk *)((char *)req - offsetof(struct chunk, req));
    struct direction *d = req->data;
    struct conn *c = d->c;
    size_t n = k->sending;
    free(k);
    d->inflight--;
    d->buffered -= n;
    if (c->state == CS_CLOSING)
        return;
    if (status < 0) {
        conn_close(c, uv_strerror(status), false);
        return;
    }
    c->px->st.bytes[d->id] += n;
    if (c->budget_limited && c->budget == 0 &&
        c->dir[UP].inflight == 0 && c->dir[DOWN].inflight == 0) {
        conn_close(c, "cut-after", true);
        return;
    }
    maybe_resume_reading(d);
    dir_pump(d);
}

static int dir_send(struct direction *d, struct chunk *k, size_t n)
{
    struct chunk *w;
    uv_buf_t buf;
    if (n == k->len - k->off) {
        d->head = k->next;
        if (!d->head)
            d->tail = NULL;
        w = k;
        buf = uv_buf_init(k->data + k->off, (unsigned)n);
    } else {
        /* The rest of k waits for more tokens; the slice travels on its own. */
        w = malloc(sizeof *w + n);
        if (!w)
            return UV_ENOMEM;
        memcpy(w->data, k->data + k->off, n);
        w->len = n;
        w->off = 0;
        k->off += n;
        buf = uv_buf_init(w->data, (unsigned)n);
    }
    w->next = NULL;
    w->sending = n;
    w->req.data = d;
    int r = uv_write(&w->req, (uv_stream_t *)d->dst, &buf, 1, on_write);
    if (r) {
        d->buffered -= n;
        free(w);
        return r;
    }
    d->inflight++;
    return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct direction *d = req->data;
    struct conn *c = d->c;
    if (c->state == CS_CLOSING)
        return;
    if (status < 0) {
        conn_close(c, uv_strerror(status), false);
        return;
    }
    d->shut_done = true;
    if (c->dir[UP].shut_done && c->dir[DOWN].shut_done)
        conn_close(c, "both sides finished", false);
}

static void on_dir_timer(uv_timer_t *t)
{
    struct conn *c = conn_of((uv_handle_t *)t);
    dir_pump(t == &c->dir[UP].timer ? &c->dir[UP] : &c->dir[DOWN]);
}

/* Hands due bytes to the destination in order, as far as latency, tokens and
 * the cut-after budget allow, and arms the timer for the next moment anything
 * can move. */
static void dir_pump(struct direction *d)
{
    struct conn *c = d->c;
    if (c->state != CS_OPEN)
        return;
    uint64_t rate = c->px->cfg.d[d->id].rate;
    uint64_t now = uv_now(c->px->loop);
    while (d->head) {
        struct chunk *k = d->head;
        if (k->due > now) {
            uv_timer_start(&d->timer, on_dir_timer, k->due - now, 0);
            return;
        }
        size_t n = k->len - k->off;
        if (c->budget_limited) {
            if (c->budget == 0)
                return;
            if (n > c->budget)
                n = (size_t)c->budget;
        }
        if (rate) {
            uint64_t burst = rate / FP_BURST_DIVISOR > 0 ? rate / FP_BURST_DIVISOR : 1;
            size_t want = n < burst ? n : (size_t)burst;
            dir_refill(d, now, rate);
            if (d->tokens < (double)want) {
                double wait = ceil(((double)want - d->tokens) * 1000.0 / (double)rate);
                uv_timer_start(&d->timer, on_dir_timer, wait < 1.0 ? 1 : (uint64_t)wait, 0);
                return;
            }
            if ((double)n > d->tokens)
                n = (size_t)d->tokens;
            d->tokens -= (double)n;
        }
        int r = dir_send(d, k, n);
        if (r) {
            conn_close(c, uv_strerror(r), false);
            return;
        }
        if (c->budget_limited)
            c->budget -= n;
    }
    if (d->eof && !d->shut_started) {
        d->shut_started = true;
        d->shut_req.data = d;
        int r = uv_shutdown(&d->shut_req, (uv_stream_t *)d->dst, on_shutdown);
        if (r)
            conn_close(c, uv_strerror(r), false);
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct chunk *k = malloc(sizeof *k + FP_READ_CHUNK);
    buf->base = k ? k->data : NULL;
    buf->len = k ? FP_READ_CHUNK : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = conn_of((uv_handle_t *)s);
    struct direction *d = (uv_tcp_t *)s == &c->client ? &c->dir[UP] : &c->dir[DOWN];
    struct chunk *k = buf->base ? (struct chunk *)(buf->base - offsetof(struct chunk, data)) : NULL;
    if (nread <= 0) {
        free(k);
        if (nread == 0 || c->state != CS_OPEN)
            return;
        if (nread == UV_EOF) {
            d->eof = true;
            d->reading = false;
            uv_read_stop(s);
            dir_pump(d);
            return;
        }
        conn_close(c, uv_strerror((int)nread), false);
        return;
    }
    if (c->state != CS_OPEN) {
        free(k);
        return;
    }
    /* A small read would otherwise pin a whole read buffer for as long as the
     * latency holds it, and the high-water mark counts bytes, not buffers. */
    if ((size_t)nread < FP_READ_CHUNK / 2) {
        struct chunk *smaller = realloc(k, sizeof *k + (size_t)nread);
        if (smaller)
            k = smaller;
    }
    k->next = NULL;
    k->len = (size_t)nread;
    k->off = 0;
    k->sending = 0;
    k->due = uv_now(c->px->loop) + c->px->cfg.d[d->id].latency_ms;
    if (d->tail)
        d->tail->next = k;
    else
        d->head = k;
    d->tail = k;
    d->buffered += (size_t)nread;
    if (d->buffered >= FP_HIGH_WATER && d->reading) {
        uv_read_stop(s);
        d->reading = false;
        VLOG(c->px, "conn %llu: %s paused at %zu bytes buffered",
             (unsigned long long)c->id, dir_name[d->id], d->buffered);
    }
    dir_pump(d);
}

static void maybe_resume_reading(struct direction *d)
{
    struct conn *c = d->c;
    if (d->reading || d->eof || c->state != CS_OPEN || d->buffered > FP_LOW_WATER)
        return;
    int r = uv_read_start((uv_stream_t *)d->src, on_alloc, on_read);
    if (r) {
        conn_close(c, uv_strerror(r), false);
        return;
    }
    d->reading = true;
}

static void on_life_timer(uv_timer_t *t)
{
    conn_close(conn_of((uv_handle_t *)t), "cut-every", true);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (c->state == CS_CLOSING)
        return;
    if (status < 0) {
        logf_("conn %llu: cannot reach target %s: %s", (unsigned long long)c->id,
              c->px->cfg.target_text, uv_strerror(status));
        conn_close(c, "target unreachable", false);
        return;
    }
    conn_enter_state(c, CS_OPEN, "target connected");
    /* Nagle would add its own delays on top of the ones asked for. */
    uv_tcp_nodelay(&c->client, 1);
    uv_tcp_nodelay(&c->target, 1);
    uint64_t now = uv_now(c->px->loop);
    for (int i = 0; i < NDIRS; i++) {
        struct direction *d = &c->dir[i];
        d->refill_at = now;
        maybe_resume_reading(d);
        if (c->state != CS_OPEN)
            return;
    }
}

static void on_refused_closed(uv_handle_t *h)
{
    free(h);
}

/* Accepts and at once closes a connection we do not want, so that the peer
 * sees a cut rather than a stalled listen queue. */
static void refuse(struct proxy *px, uv_stream_t *server)
{
    px->st.refused++;
    uv_tcp_t *t = malloc(sizeof *t);
    if (!t) {
        logf_("out of memory refusing a connection");
        return;
    }
    uv_tcp_init(px->loop, t);
    /* A reset, not a FIN, is what a partitioned link looks like to a peer. */
    if (uv_accept(server, (uv_stream_t *)t) != 0 || uv_tcp_close_reset(t, on_refused_closed) != 0)
        uv_close((uv_handle_t *)t, on_refused_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct proxy *px = server->data;
    if (status < 0) {
        logf_("accept: %s", uv_strerror(status));
        return;
    }
    px->st.connections++;
    if (px->partitioned || px->nconns >= FP_MAX_CONNS) {
        VLOG(px, "refusing a connection (%s)", px->partitioned ? "partitioned" : "too many");
        refuse(px, server);
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        refuse(px, server);
        return;
    }
    c->px = px;
    c->id = ++px->next_id;
    c->state = CS_CONNECTING;
    c->next = px->conns;
    if (px->conns)
        px->conns->prev = c;
    px->conns = c;
    px->nconns++;

    struct { uv_handle_t *h; unsigned bit; int r; } inits[] = {
        { (uv_handle_t *)&c->client, H_CLIENT, uv_tcp_init(px->loop, &c->client) },
        { (uv_handle_t *)&c->target, H_TARGET, uv_tcp_init(px->loop, &c->target) },
        { (uv_handle_t *)&c->life, H_LIFE, uv_timer_init(px->loop, &c->life) },
        { (uv_handle_t *)&c->dir[UP].timer, H_TIMER_UP, uv_timer_init(px->loop, &c->dir[UP].timer) },
        { (uv_handle_t *)&c->dir[DOWN].timer, H_TIMER_DOWN, uv_timer_init(px->loop, &c->dir[DOWN].timer) },
    };
    int err = 0;
    for (size_t i = 0; i < sizeof inits / sizeof inits[0]; i++) {
        if (inits[i].r == 0) {
            inits[i].h->data = c;
            c->inited |= inits[i].bit;
            c->open_handles++;
        } else if (!err) {
            err = inits[i].r;
        }
    }
    if (!(c->inited & H_CLIENT)) {
        /* Nothing to accept into: accept elsewhere so the listener keeps going. */
        conn_close(c, uv_strerror(err), false);
        refuse(px, server);
        return;
    }
    int r = uv_accept(server, (uv_stream_t *)&c->client);
    if (r || err) {
        conn_close(c, uv_strerror(r ? r : err), false);
        return;
    }
    for (int i = 0; i < NDIRS; i++) {
        struct direction *d = &c->dir[i];
        d->c = c;
        d->id = i;
        d->src = i == UP ? &c->client : &c->target;
        d->dst = i == UP ? &c->target : &c->client;
        uint64_t rate = px->cfg.d[i].rate;
        d->tokens = rate ? (double)(rate / FP_BURST_DIVISOR > 0 ? rate / FP_BURST_DIVISOR : 1) : 0.0;
    }
    if (px->cfg.cut_after_bytes) {
        c->budget_limited = true;
        c->budget = px->cfg.cut_after_bytes;
    }
    if (px->cfg.cut_every_ms)
        uv_timer_start(&c->life, on_life_timer, px->cfg.cut_every_ms, 0);
    c->connect_req.data = c;
    r = uv_tcp_connect(&c->connect_req, &c->target,
                       (const struct sockaddr *)&px->cfg.target_addr, on_connect);
    if (r) {
        logf_("connect to %s: %s", px->cfg.target_text, uv_strerror(r));
        conn_close(c, "connect failed", false);
        return;
    }
    VLOG(px, "conn %llu: accepted", (unsigned long long)c->id);
}

/* ---- proxy-wide events ---- */

static void close_all(struct proxy *px, const char *why, bool is_cut)
{
    size_t guard = px->nconns + 1;
    while (px->conns && guard-- > 0)
        conn_close(px->conns, why, is_cut);
}

static void on_stats_timer(uv_timer_t *t)
{
    stats_write(t->data);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct proxy *px = s->data;
    if (px->stopping)
        return;
    switch (signum) {
    case SIGUSR1:
        logf_("partition: closing %zu connection(s), refusing new ones", px->nconns);
        px->partitioned = true;
        close_all(px, "partition", true);
        stats_write(px);
        break;
    case SIGUSR2:
        logf_("partition healed");
        px->partitioned = false;
        stats_write(px);
        break;
    default:
        logf_("%s: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
        px->stopping = true;
        close_all(px, "shutdown", false);
        uv_close((uv_handle_t *)&px->listener, NULL);
        uv_close((uv_handle_t *)&px->stats_timer, NULL);
        uv_close((uv_handle_t *)&px->sig_usr1, NULL);
        uv_close((uv_handle_t *)&px->sig_usr2, NULL);
        uv_close((uv_handle_t *)&px->sig_term, NULL);
        uv_close((uv_handle_t *)&px->sig_int, NULL);
        break;
    }
}

/* ---- command line ---- */

static void usage(FILE *out)
{
    fputs(
"usage: faultproxy --listen 127.0.0.1:PORT --target HOST:PORT [options]\n"
"\n"
"A TCP proxy for tests that injects the faults of a slow, intermittent link.\n"
"It listens on a loopback address only and forwards each connection to TARGET.\n"
"\n"
"  --listen ADDR:PORT     loopback address to listen on (127.0.0.0/8 or [::1]);\n"
"                         port 0 picks a free port\n"
"  --target ADDR:PORT     numeric address of the server to forward to\n"
"  --latency MS           delay every chunk by MS milliseconds, each direction\n"
"  --latency-up MS        ... client -> target only\n"
"  --latency-down MS      ... target -> client only\n"
"  --rate BYTES_PER_SEC   bandwidth cap per direction per connection (0 = none)\n"
"  --rate-up B, --rate-down B   ... one direction only\n"
"  --cut-after KIB        close a connection once KIB KiB have passed on it in\n"
"                         total (both directions)\n"
"  --cut-every SECONDS    close each connection after it has lived SECONDS\n"
"                         (decimals allowed, 0 = never)\n"
"  --profile field        64 kbit/s (8000 B/s) each way, 600 ms latency, cut every\n"
"                         30 s; the other flags override its values\n"
"  --port-file FILE       write the bound port to FILE (atomically)\n"
"  --stats FILE           write counters to FILE every 500 ms and on exit\n"
"  -v, --verbose          log every connection event to stderr\n"
"  -h, --help             show this help\n"
"\n"
"Signals: SIGUSR1 partitions (closes every connection and refuses new ones),\n"
"SIGUSR2 heals, SIGTERM or SIGINT closes everything, writes stats, exits 0.\n"
"Stats lines: bytes_up, bytes_down (bytes delivered), connections (accepted,\n"
"refused included), refused, cuts (cut-after, cut-every and partition closes),\n"
"active, partitioned.\n"
"Exit status: 0 after a signal, 1 on a runtime error, 2 on a usage error.\n", out);
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_seconds_ms(const char *s, uint64_t *out_ms)
{
    if (!s || ((*s < '0' || *s > '9') && *s != '.'))
        return -EINVAL;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < 0 || v > FP_MAX_CUT_EVERY_S)
        return -EINVAL;
    *out_ms = (uint64_t)llround(v * 1000.0);
    if (v > 0 && *out_ms == 0)
        *out_ms = 1;
    return 0;
}

/* Numeric addresses only: a test tool must not wait on a resolver. */
static int parse_hostport(const char *s, struct sockaddr_storage *out, bool allow_port0)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return -EINVAL;
    uint64_t port;
    if (parse_u64(colon + 1, 65535, &port) || (port == 0 && !allow_port0))
        return -EINVAL;
    char host[INET6_ADDRSTRLEN + 2];
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof host)
        return -EINVAL;
    memcpy(host, s, hl);
    host[hl] = '\0';
    memset(out, 0, sizeof *out);
    if (host[0] == '[') {
        if (hl < 3 || host[hl - 1] != ']')
            return -EINVAL;
        host[hl - 1] = '\0';
        return uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)out) ? -EINVAL : 0;
    }
    return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) ? -EINVAL : 0;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    return false;
}

enum {
    OPT_LISTEN = 256, OPT_TARGET, OPT_LATENCY, OPT_LATENCY_UP, OPT_LATENCY_DOWN,
    OPT_RATE, OPT_RATE_UP, OPT_RATE_DOWN, OPT_CUT_AFTER, OPT_CUT_EVERY,
    OPT_PROFILE, OPT_PORT_FILE, OPT_STATS,
};

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("faultproxy: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'faultproxy --help'.\n", stderr);
    va_end(ap);
    return 2;
}

/* Returns 0 to run, 1 when --help was shown, 2 on a usage error.  Values
 * left at FP_UNSET by the flags are filled from the profile, then zero, so a
 * flag wins over the profile whatever their order. */
static int parse_args(int argc, char **argv, struct config *cfg)
{
    static const struct option opts[] = {
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "target", required_argument, NULL, OPT_TARGET },
        { "latency", required_argument, NULL, OPT_LATENCY },
        { "latency-up", required_argument, NULL, OPT_LATENCY_UP },
        { "latency-down", required_argument, NULL, OPT_LATENCY_DOWN },
        { "rate", required_argument, NULL, OPT_RATE },
        { "rate-up", required_argument, NULL, OPT_RATE_UP },
        { "rate-down", required_argument, NULL, OPT_RATE_DOWN },
        { "cut-after", required_argument, NULL, OPT_CUT_AFTER },
        { "cut-every", required_argument, NULL, OPT_CUT_EVERY },
        { "profile", required_argument, NULL, OPT_PROFILE },
        { "port-file", required_argument, NULL, OPT_PORT_FILE },
        { "stats", required_argument, NULL, OPT_STATS },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    uint64_t lat[NDIRS] = { FP_UNSET, FP_UNSET }, rate[NDIRS] = { FP_UNSET, FP_UNSET };
    uint64_t cut_every = FP_UNSET, cut_after_kib = 0, v;
    bool field = false;
    int o;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":vh", opts, NULL)) != -1) {
        switch (o) {
        case OPT_LISTEN:
            cfg->listen_text = optarg;
            if (parse_hostport(optarg, &cfg->listen_addr, true))
                return bad_usage("bad --listen address '%s' (want numeric ADDR:PORT)", optarg);
            if (!is_loopback(&cfg->listen_addr))
                return bad_usage("refusing to listen on '%s': only 127.0.0.0/8 or [::1] allowed", optarg);
            break;
        case OPT_TARGET:
            cfg->target_text = optarg;
            if (parse_hostport(optarg, &cfg->target_addr, false))
                return bad_usage("bad --target address '%s' (want numeric ADDR:PORT, port > 0)", optarg);
            break;
        case OPT_LATENCY:
        case OPT_LATENCY_UP:
        case OPT_LATENCY_DOWN:
            if (parse_u64(optarg, FP_MAX_LATENCY_MS, &v))
                return bad_usage("bad latency '%s' (milliseconds, at most 600000)", optarg);
            if (o != OPT_LATENCY_DOWN)
                lat[UP] = v;
            if (o != OPT_LATENCY_UP)
                lat[DOWN] = v;
            break;
        case OPT_RATE:
        case OPT_RATE_UP:
        case OPT_RATE_DOWN:
            if (parse_u64(optarg, FP_MAX_RATE, &v))
                return bad_usage("bad rate '%s' (bytes per second, 0 = unlimited)", optarg);
            if (o != OPT_RATE_DOWN)
                rate[UP] = v;
            if (o != OPT_RATE_UP)
                rate[DOWN] = v;
            break;
        case OPT_CUT_AFTER:
            if (parse_u64(optarg, FP_MAX_CUT_AFTER_KIB, &cut_after_kib))
                return bad_usage("bad --cut-after '%s' (KiB, 0 = never)", optarg);
            break;
        case OPT_CUT_EVERY:
            if (parse_seconds_ms(optarg, &cut_every))
                return bad_usage("bad --cut-every '%s' (seconds, at most 86400)", optarg);
            break;
        case OPT_PROFILE:
            if (strcmp(optarg, "field") != 0)
                return bad_usage("unknown profile '%s' (known: field)", optarg);
            field = true;
            break;
        case OPT_PORT_FILE:
            cfg->port_file = optarg;
            break;
        case OPT_STATS:
            cfg->stats_file = optarg;
            break;
        case 'v':
            cfg->verbose = true;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case ':':
            return bad_usage("option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt > 0 && optopt < 256)
                return bad_usage("unknown option '-%c'", optopt);
            return bad_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return bad_usage("unexpected argument '%s'", argv[optind]);
    if (!cfg->listen_text)
        return bad_usage("--listen is required");
    if (!cfg->target_text)
        return bad_usage("--target is required");
    for (int i = 0; i < NDIRS; i++) {
        cfg->d[i].latency_ms = lat[i] != FP_UNSET ? lat[i] : field ? FP_FIELD_LATENCY_MS : 0;
        cfg->d[i].rate = rate[i] != FP_UNSET ? rate[i] : field ? FP_FIELD_RATE : 0;
    }
    cfg->cut_every_ms = cut_every != FP_UNSET ? cut_every : field ? FP_FIELD_CUT_EVERY_MS : 0;
    cfg->cut_after_bytes = cut_after_kib * 1024u;
    return 0;
}

/* ---- main ---- */

static int start(struct proxy *px)
{
    int r;
    if ((r = uv_tcp_init(px->loop, &px->listener)))
        return r;
    px->listener.data = px;
    if ((r = uv_tcp_bind(&px->listener, (const struct sockaddr *)&px->cfg.listen_addr, 0)) ||
        (r = uv_listen((uv_stream_t *)&px->listener, FP_BACKLOG, on_connection))) {
        logf_("cannot listen on %s: %s", px->cfg.listen_text, uv_strerror(r));
        return r;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    if ((r = uv_tcp_getsockname(&px->listener, (struct sockaddr *)&bound, &blen)))
        return r;
    int port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                                : ((struct sockaddr_in6 *)&bound)->sin6_port);
    if (px->cfg.port_file) {
        char text[16];
        snprintf(text, sizeof text, "%d\n", port);
        if ((r = write_atomic(px->cfg.port_file, text))) {
            logf_("cannot write port file %s: %s", px->cfg.port_file, strerror(-r));
            return r;
        }
    }
    uv_signal_t *sigs[] = { &px->sig_usr1, &px->sig_usr2, &px->sig_term, &px->sig_int };
    int nums[] = { SIGUSR1, SIGUSR2, SIGTERM, SIGINT };
    for (int i = 0; i < 4; i++) {
        if ((r = uv_signal_init(px->loop, sigs[i])))
            return r;
        sigs[i]->data = px;
        if ((r = uv_signal_start(sigs[i], on_signal, nums[i])))
            return r;
    }
    if ((r = uv_timer_init(px->loop, &px->stats_timer)))
        return r;
    px->stats_timer.data = px;
    if (px->cfg.stats_file)
        uv_timer_start(&px->stats_timer, on_stats_timer, FP_STATS_INTERVAL_MS, FP_STATS_INTERVAL_MS);
    stats_write(px);
    const struct config *c = &px->cfg;
    logf_("port %d -> %s; latency %llu/%llu ms, rate %llu/%llu B/s (up/down), "
          "cut-after %llu B, cut-every %llu ms", port, c->target_text,
          (unsigned long long)c->d[UP].latency_ms, (unsigned long long)c->d[DOWN].latency_ms,
          (unsigned long long)c->d[UP].rate, (unsigned long long)c->d[DOWN].rate,
          (unsigned long long)c->cut_after_bytes, (unsigned long long)c->cut_every_ms);
    return 0;
}

int main(int argc, char **argv)
{
    static struct proxy px;
    int r = parse_args(argc, argv, &px.cfg);
    if (r)
        return r == 1 ? 0 : 2;
    /* A peer that goes away mid-write must give EPIPE, not kill the proxy. */
    signal(SIGPIPE, SIG_IGN);
    px.loop = uv_default_loop();
    if (start(&px)) {
        /* Partly started handles are not worth unwinding in a dying test tool. */
        return 1;
    }
    uv_run(px.loop, UV_RUN_DEFAULT);
    stats_write(&px);
    r = uv_loop_close(px.loop);
    if (r) {
        logf_("uv_loop_close: %s (a handle was left open)", uv_strerror(r));
        return 1;
    }
    return 0;
}
