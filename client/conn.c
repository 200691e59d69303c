/*
 * The control client: one Unix stream connection to twind, one request
 * and its response at a time.
 *
 * A response is read in full before it is decoded: first the 4-byte header,
 * whose length tw_ctl_frame_len() bounds by TW_CTL_MSG_MAX, then exactly
 * that many bytes.  Decoded strings point into the body, so every body is
 * kept until the connection is closed, unless the caller gives a buffer of
 * its own to reuse (list pages that are printed as they come).
 *
 * Sending and receiving are separate calls so that a caller can ask for the
 * next list page before working on the one it holds: twind then reads the
 * store while twin formats, on another core.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "twin/ctl.h"
#include "twin/err.h"
#include "twin/limits.h"

struct body { struct body *next; uint8_t data[]; };

struct tw_conn {
    int fd;
    struct body *bodies;
    char path[TW_CLI_PATH_MAX];
};

int tw_conn_open(tw_conn **out, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    *out = NULL;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "socket path too long (over %zu bytes): %s",
                 sizeof sa.sun_path - 1, path);
        return TW_ETOOBIG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /* A daemon that goes away mid-request must give an error, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return TW_EIO;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        snprintf(err, errlen, "cannot reach twind at %s: %s%s", path, strerror(e),
                 (e == ENOENT || e == ECONNREFUSED) ? " (is twind running?)" : "");
        return TW_ECLOSED;
    }
    tw_conn *c = calloc(1, sizeof *c);
    if (!c) { close(fd); snprintf(err, errlen, "out of memory"); return TW_ENOMEM; }
    c->fd = fd;
    snprintf(c->path, sizeof c->path, "%s", path);
    *out = c;
    return 0;
}

void tw_conn_close(tw_conn *c)
{
    if (!c) return;
    if (c->fd >= 0) close(c->fd);
    while (c->bodies) {
        struct body *b = c->bodies;
        c->bodies = b->next;
        free(b);
    }
    free(c);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits for fd to be ready, within the deadline of the whole round trip. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline) return TW_ETIMEOUT;
        struct pollfd p = { .fd = fd, .events = events };
        uint64_t left = deadline - now;
        int r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0) return 0;
        if (r < 0 && errno != EINTR) return TW_EIO;
    }
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t deadline)
{
    while (n > 0) {
        int rc = wait_fd(fd, POLLOUT, deadline);
        if (rc != 0) return rc;
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return errno == EPIPE || errno == ECONNRESET ? TW_ECLOSED : TW_EIO;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int read_all(int fd, uint8_t *p, size_t n, uint64_t deadline)
{
    while (n > 0) {
        int rc = wait_fd(fd, POLLIN, deadline);
        if (rc != 0) return rc;
        ssize_t k = recv(fd, p, n, 0);
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return errno == ECONNRESET ? TW_ECLOSED : TW_EIO;
        }
        if (k == 0) return TW_ECLOSED;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int io_error(tw_conn *c, int rc, char *err, size_t errlen)
{
    if (rc == TW_ETIMEOUT)
        snprintf(err, errlen, "no answer from twind at %s within %u s", c->path,
                 TW_CLI_TIMEOUT_MS / 1000);
    else if (rc == TW_ECLOSED)
        snprintf(err, errlen, "twind at %s closed the connection", c->path);
    else
        snprintf(err, errlen, "error talking to twind at %s: %s", c->path, tw_strerror(rc));
    return rc;
}

int tw_conn_send(tw_conn *c, tw_arena *a, const char *op, const tw_val *args,
                 char *err, size_t errlen)
{
    tw_val req, empty;
    tw_buf out;
    uint64_t deadline = now_ms() + TW_CLI_TIMEOUT_MS;
    int rc;

    if (!args) {
        if ((rc = tw_v_map(a, &empty, 0)) != 0) goto oom;
        args = &empty;
    }
    tw_buf_init(&out);
    if ((rc = tw_ctl_request(a, &req, op, args)) != 0 || (rc = tw_ctl_frame(&out, &req)) != 0) {
        tw_buf_free(&out);
        if (rc == TW_ETOOBIG)
            snprintf(err, errlen, "%s request larger than the control message limit (%u bytes)",
                     op, TW_CTL_MSG_MAX);
        else
            snprintf(err, errlen, "cannot encode %s request: %s", op, tw_strerror(rc));
        return rc;
    }
    if (out.len - TW_CTL_HDR_LEN > TW_CTL_MSG_MAX) {
        tw_buf_free(&out);
        snprintf(err, errlen, "%s request larger than the control message limit (%u bytes)",
                 op, TW_CTL_MSG_MAX);
        return TW_ETOOBIG;
    }
    rc = write_all(c->fd, out.p, out.len, deadline);
    tw_buf_free(&out);
    if (rc == TW_ECLOSED) {
        /* twind refuses a connection (another user, too many connections)
         * with one error response and closes it; a request larger than the
         * socket buffer then fails to write.  Its reason is still there to
         * read: say that, not just "closed". */
        tw_val resp;
        int r = tw_conn_recv(c, a, op, NULL, &resp, err, errlen);
        if (r != 0 && r != TW_ECLOSED && r != TW_EIO && r != TW_ETIMEOUT && tw_v_get(&resp, "error")) return r;
    }
    return rc != 0 ? io_error(c, rc, err, errlen) : 0;
oom:
    snprintf(err, errlen, "out of memory");
    return TW_ENOMEM;
}

int tw_conn_recv(tw_conn *c, tw_arena *a, const char *op, tw_buf *body, tw_val *resp,
                 char *err, size_t errlen)
{
    const char *why = NULL;
    uint8_t hdr[TW_CTL_HDR_LEN];
    uint32_t len;
    uint8_t *data;
    uint64_t deadline = now_ms() + TW_CLI_TIMEOUT_MS;
    int rc;

    *resp = tw_v_nil();
    if ((rc = read_all(c->fd, hdr, sizeof hdr, deadline)) != 0) goto io;
    if ((rc = tw_ctl_frame_len(hdr, &len)) != 0) {
        snprintf(err, errlen, "bad response from twind: %s", rc == TW_ETOOBIG
                 ? "message over the size limit" : "empty message");
        return TW_EPROTO;
    }
    if (body) {
        tw_buf_reset(body);
        if (tw_buf_reserve(body, len) != 0) goto oom;
        data = body->p;
        body->len = len;
    } else {
        struct body *b = malloc(sizeof *b + len);
        if (!b) goto oom;
        b->next = c->bodies;
        c->bodies = b;
        data = b->data;
    }
    if ((rc = read_all(c->fd, data, len, deadline)) != 0) goto io;
    if ((rc = tw_ctl_decode(data, len, a, resp, &why)) != 0) {
        *resp = tw_v_nil();
        if (rc == TW_EVERSION)
            snprintf(err, errlen, "twind speaks another control protocol version (this twin speaks %u)",
                     TW_CTL_VERSION);
        else
            snprintf(err, errlen, "bad response from twind: %s", why ? why : tw_strerror(rc));
        return rc == TW_EVERSION ? rc : TW_EPROTO;
    }
    const tw_val *ok = tw_v_get(resp, "ok");
    if (ok && ok->type == TW_BOOL && ok->v.b) return 0;
    if (!ok || ok->type != TW_BOOL) {
        snprintf(err, errlen, "bad response from twind: no \"ok\"");
        return TW_EPROTO;
    }
    const tw_val *code = tw_v_get(resp, "code");
    const tw_val *msg = tw_v_get(resp, "error");
    if (msg && msg->type == TW_STR)
        snprintf(err, errlen, "%.*s", (int)(msg->len > 4000 ? 4000 : msg->len), msg->v.s);
    else
        snprintf(err, errlen, "%s failed", op);
    if (code && code->type == TW_INT && code->v.i < 0 && code->v.i >= -1000)
        return (int)code->v.i;
    return TW_EPROTO;
io:
    return io_error(c, rc, err, errlen);
oom:
    snprintf(err, errlen, "out of memory");
    return TW_ENOMEM;
}

int tw_conn_call(tw_conn *c, tw_arena *a, const char *op, const tw_val *args,
                 tw_val *resp, char *err, size_t errlen)
{
    *resp = tw_v_nil();
    int rc = tw_conn_send(c, a, op, args, err, errlen);
    return rc != 0 ? rc : tw_conn_recv(c, a, op, NULL, resp, err, errlen);
}

int tw_cli_connect(tw_cli *cli)
{
    char err[TW_CLI_PATH_MAX + 256];
    char path[TW_CLI_PATH_MAX];
    int rc;
    if (cli->conn) return 0;
    if ((rc = tw_cli_socket_path(cli, path, sizeof path)) != 0) {
        tw_cli_fail("cannot work out the socket path (give --socket or set $TWIN_SOCKET)");
        return rc;
    }
    if ((rc = tw_conn_open(&cli->conn, path, err, sizeof err)) != 0) {
        tw_cli_fail("%s", err);
        return rc;
    }
    return 0;
}

int tw_cli_send(tw_cli *cli, tw_arena *a, const char *op, const tw_val *args)
{
    char err[TW_CLI_PATH_MAX + 256];
    int rc;
    if ((rc = tw_cli_connect(cli)) != 0) return rc;
    if ((rc = tw_conn_send(cli->conn, a, op, args, err, sizeof err)) != 0) tw_cli_fail("%s", err);
    return rc;
}

/* The end of a call: the result, or the refusal printed and the daemon's
 * error response kept for the caller. */
static int answer(int rc, const tw_val *resp, const char *err, tw_val *result, tw_val *errresp)
{
    if (rc != 0) {
        if (errresp) *errresp = *resp;
        tw_cli_fail("%s", err);
        return rc;
    }
    const tw_val *r = tw_v_get(resp, "result");
    *result = r ? *r : tw_v_nil();
    return 0;
}

int tw_cli_recv(tw_cli *cli, tw_arena *a, const char *op, tw_buf *body, tw_val *result,
                tw_val *errresp)
{
    char err[TW_CLI_PATH_MAX + 256];
    tw_val resp;
    int rc;
    if (errresp) *errresp = tw_v_nil();
    if (!cli->conn) {
        tw_cli_fail("internal error: %s answer awaited with no connection", op);
        return TW_EINVAL;
    }
    rc = tw_conn_recv(cli->conn, a, op, body, &resp, err, sizeof err);
    return answer(rc, &resp, err, result, errresp);
}

/* The refusal twind gives a connection over its user's cap. */
static bool busy_refusal(int rc, const char *err)
{
    static const char busy[] = "too many control connections";
    return rc == TW_EBUSY && strncmp(err, busy, sizeof busy - 1) == 0;
}

int tw_cli_call(tw_cli *cli, tw_arena *a, const char *op, const tw_val *args,
                tw_val *result, tw_val *errresp)
{
    if (errresp) *errresp = tw_v_nil();
    if (cli->conn) {
        int rc = tw_cli_send(cli, a, op, args);
        return rc != 0 ? rc : tw_cli_recv(cli, a, op, NULL, result, errresp);
    }
    /* The first request on a new connection.  One refused because the
     * user's connections are all taken was never read by twind, so it is
     * sent again on a new connection for up to TW_CLI_BUSY_WAIT_MS: by
     * then an idle one has been closed to let this one in, or the reason
     * is printed. */
    uint64_t deadline = now_ms() + TW_CLI_BUSY_WAIT_MS;
    char err[TW_CLI_PATH_MAX + 256];
    tw_val resp = tw_v_nil();
    int rc;
    for (;;) {
        if ((rc = tw_cli_connect(cli)) != 0) return rc;
        rc = tw_conn_send(cli->conn, a, op, args, err, sizeof err);
        if (rc == 0) rc = tw_conn_recv(cli->conn, a, op, NULL, &resp, err, sizeof err);
        if (!busy_refusal(rc, err) || now_ms() + TW_CLI_BUSY_RETRY_MS >= deadline) break;
        tw_conn_close(cli->conn);
        cli->conn = NULL;
        usleep(TW_CLI_BUSY_RETRY_MS * 1000u);
    }
    return answer(rc, &resp, err, result, errresp);
}
