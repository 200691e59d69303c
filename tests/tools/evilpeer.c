/*
 * evilpeer: a hostile peer for integration tests.  It connects to a twind
 * node, performs a real Noise handshake through the project's own session
 * code (proto/session.c) with a given network key and identity seed, and
 * then misbehaves in one chosen way, reporting what the node did in return.
 *
 *   evilpeer --connect HOST:PORT (--netkey TWN | --netkey-file FILE)
 *            [--seed HEX64] [--bind IP] [--other-netkey TWN] [--wait S]
 *            --mode MODE [--count N] [--hold S] [--reopen-ms MS] [--versions MIN:MAX]
 *            [--addrs K] [--answer none|empty] [--via HOST:PORT]
 *            [--file BUNDLE] [--accept]
 *
 * With --accept it is the node that dials: evilpeer listens at the
 * --connect address, takes one connection within --hold seconds and
 * answers the handshake as the responder (the refer modes).
 *
 * Mode push-bundle pushes every entry of BUNDLE (made by tests/tools/propgen,
 * signed by whoever the test chose: a member with a valid key, say) as live
 * pushes, several per ENTRIES message, reading the node between messages;
 * it prints "pushed N" and reports as the other modes do.  Mode flood-bundle
 * pushes them one per ENTRIES message without pausing (the node's backpressure,
 * TW_INGEST_JOBS_MAX).
 *
 * The real session code is used on purpose: a hostile peer that gets the
 * handshake right is the one that reaches the sync engine and the ingest
 * pipeline, which is where the checks under test live.  Everything after
 * the handshake is built by hand so that it can be wrong.
 *
 * Output is one "key value" line per fact, for the test script to grep:
 *   handshake ok | handshake failed: REASON | handshake none
 *   bytes_received N      (bytes the node sent, all connections)
 *   closed_by_node yes|no (the node closed within --wait seconds)
 *   node_error TEXT       (the node's ERROR message, decrypted)
 *   entry_id HEX, slot S  (push modes: the entry sent, kind place)
 *   idle, hold: opened, refused, closed_fast, closed_late, open_at_end, connects,
 *         last_close_s
 *   offer: offered N, wants_received N, answered_empty N, held_s S
 *   withhold: offered N, pushed_via N, wants_received N, held_s S
 *   replay: replays N, answered N, answer_bytes N, silent_closes N, no_close N
 *   tree: tree_sent N;  ihave: announced N, wants_received N, wanted_ids N
 * Exit status 0 when the scenario ran (whatever the node did), 1 on a local
 * error, 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include <zstd.h>

#include "twin/entry.h"
#include "twin/err.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "twin/mp.h"
#include "twin/session.h"
#include "twin/wire.h"
#include "bundle.h"
#include "twin/vec.h"

#define EP_IDLE_MAX       4096u     /* connections the idle mode holds at most */
#define EP_FAST_CLOSE_MS  2000u     /* a close this soon after the connection opened is "fast" */
#define EP_WAIT_DEFAULT_S 5u        /* seconds to wait for the node's reaction */
#define EP_HOLD_DEFAULT_S 15u
#define EP_TEXT_MAX       400u
#define EP_SETTLE_MS      100u      /* pause between the handshake and the offence */

typedef struct opts {
    const char *connect, *bind, *mode, *netkey_text, *netkey_file, *seed_hex, *other_netkey;
    const char *as_key, *slot;   /* forge: the author named, and the slot taken */
    const char *file;            /* push-bundle: the bundle whose entries are pushed */
    const char *via;             /* withhold: the honest node that gets the entries */
    unsigned count, hold_s, wait_s, reopen_ms, addrs;
    bool accept;                 /* listen at --connect and answer the node's dial */
    bool answer_empty;           /* offer: answer WANTs with empty final ENTRIES */
    uint32_t vmin, vmax;
    uint64_t features;        /* hello features: zstd, except in mode znofeat */
} opts;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void usage(FILE *f)
{
    fputs("usage: evilpeer --connect HOST:PORT (--netkey TWN | --netkey-file FILE) --mode MODE\n"
          "                [--seed HEX64] [--bind IP] [--other-netkey TWN] [--wait S]\n"
          "                [--count N] [--hold S] [--reopen-ms MS] [--versions MIN:MAX]\n"
          "                [--addrs K] [--answer none|empty] [--via HOST:PORT]\n"
          "\n"
          "Modes (all but idle perform the handshake first, as identity --seed):\n"
          "  hello        nothing more; reports whether the node keeps the connection\n"
          "  wrongkey     send handshake message 1 only (give a wrong --netkey, or\n"
          "               --netkey random)\n"
          "  hs-oversize  a frame header of 65535 bytes before the handshake\n"
          "  garbage      a frame of 200 random bytes (fails authentication)\n"
          "  empty        a frame header of length 0\n"
          "  oversize     an OFFER of 1025 ids (over the 1024 of the protocol)\n"
          "  good         push a valid place entry (a control)\n"
          "  push-bundle  push every entry of --file BUNDLE, up to 256 per ENTRIES\n"
          "               message, reading the node 20 ms between messages\n"
          "  flood-bundle push them one per ENTRIES message, without pausing\n"
          "  badsig       push an entry with one bit of its signature flipped\n"
          "  noncanon     push a correctly signed entry whose payload is not canonical\n"
          "  foreign      push an entry signed for another network (--other-netkey)\n"
          "  forge        push a place entry naming --as KEY as its author (signed with\n"
          "               this peer's own secret key), in slot --slot S if given\n"
          "  zbad         a COMPRESSED message whose zstd frame has damaged data\n"
          "  znofeat      a COMPRESSED message without offering the zstd feature\n"
          "  zbomb        a COMPRESSED frame declaring 200000 bytes (over one message)\n"
          "  znested      a COMPRESSED message inside a COMPRESSED message\n"
          "  negbig       NEG_PART pieces of a NEG_REQ of more than TW_NEG_MSG_MAX bytes\n"
          "               (offering the negpart feature)\n"
          "  negnofeat    a NEG_PART without offering the negpart feature\n"
          "  idle         open --count TCP connections (from --bind) and send nothing,\n"
          "               for --hold seconds; --reopen-ms reopens closed ones\n"
          "  hold         idle, from --addrs K source addresses counted up from --bind\n"
          "               (127.0.1.1, 127.0.1.2, ...), --count connections in all\n"
          "  offer        offer --count random ids (OFFERs of 1024) and never send them;\n"
          "               --answer empty answers each WANT with an empty final ENTRIES\n"
          "  withhold     offer --count real entries, never answer the WANTs (PINGs are\n"
          "               answered), and push the same entries to --via HOST:PORT;\n"
          "               stays until the node closes or --hold seconds pass\n"
          "  replay       record one handshake message 1, then send it again on --count\n"
          "               new connections; counts the answers\n"
          "  tree         send --count PRUNE and GRAFT messages in turn, as fast as it can\n"
          "               (the push tree, offered in its hello)\n"
          "  tree-nofeat  one PRUNE without offering the push tree in its hello\n"
          "  ihave        announce --count random ids (IHAVEs of 1024) and never send\n"
          "               them; counts the ids the node asks for\n"
          "Refer modes (with --accept: the node dials this peer, which refuses it as\n"
          "full with ERROR TW_EBUSY after a REFER of peer records of fresh keys):\n"
          "  refer-good     one peer record naming --via HOST:PORT (a control)\n"
          "  refer-many     TW_REFER_MAX + 1 peer records (127.0.0.1:1, :2, ...)\n"
          "  refer-outside  peer records the node must not use: addresses of classes\n"
          "                 it never dials (10.0.0.1, 169.254.169.254, 0.0.0.0,\n"
          "                 224.0.0.1), 9 addresses, a place record, slot \"other\"\n"
          "  refer-forged   a peer record whose signature does not verify\n"
          "  refer-selfvouch  a fresh key's vouch for another, and that one's peer\n"
          "                 record (127.0.0.1:22)\n"
          "--wait S: seconds to wait for the node's reaction (default 5).\n"
          "--versions MIN:MAX: protocol versions offered in the handshake (default: this build's).\n", f);
}

/* ------------------------------------------------------------- sockets */

static int split_addr(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host) return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)atoi(colon + 1));
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* Connects to `to` from `from` (NULL: any), plus `step` to its address
 * (hold mode: many source addresses). */
static int open_sock_to(const char *to, const char *from, unsigned step, bool nonblock)
{
    struct sockaddr_in dst, src;
    if (split_addr(to, &dst)) return -1;
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -1;
    if (from) {
        memset(&src, 0, sizeof src);
        src.sin_family = AF_INET;
        if (inet_pton(AF_INET, from, &src.sin_addr) != 1) { close(fd); return -1; }
        src.sin_addr.s_addr = htonl(ntohl(src.sin_addr.s_addr) + step);
        if (bind(fd, (struct sockaddr *)&src, sizeof src)) { close(fd); return -1; }
    }
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    if (!nonblock) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

static int open_sock(const opts *o, bool nonblock)
{
    return open_sock_to(o->connect, o->bind, 0, nonblock);
}

/* --accept: listens at --connect and takes the first connection that
 * arrives within --hold seconds. */
static int accept_one(const opts *o)
{
    struct sockaddr_in at;
    if (split_addr(o->connect, &at)) return -1;
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (ls < 0) return -1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, (struct sockaddr *)&at, sizeof at) || listen(ls, 4)) { close(ls); return -1; }
    printf("listening %s\n", o->connect);
    fflush(stdout);
    struct pollfd pfd = { .fd = ls, .events = POLLIN };
    int fd = -1;
    if (poll(&pfd, 1, (int)(o->hold_s * 1000u)) == 1) fd = accept(ls, NULL, NULL);
    close(ls);
    if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    else fprintf(stderr, "evilpeer: no connection to %s within %u s\n", o->connect, o->hold_s);
    return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ------------------------------------------------------------- session */

typedef struct peer {
    int fd;
    tw_sess *sess;
    bool established, closed, eof;
    bool answer_empty;        /* answer WANTs with empty final ENTRIES */
    uint64_t bytes_in, wants, answered, want_ids;
    char reason[EP_TEXT_MAX];
} peer;

static int send_msg(peer *p, const tw_buf *m);

static int flush_sess(peer *p)
{
    size_t n;
    const uint8_t *out = tw_sess_output(p->sess, &n);
    if (n && write_all(p->fd, out, n)) return -1;
    tw_sess_consume_output(p->sess, n);
    return 0;
}

static void drain_events(peer *p)
{
    tw_sess_event ev;
    while (tw_sess_next_event(p->sess, &ev) == 0 && ev.type != TW_SEV_NONE) {
        if (ev.type == TW_SEV_ESTABLISHED) p->established = true;
        if (ev.type == TW_SEV_CLOSED) {
            p->closed = true;
            snprintf(p->reason, sizeof p->reason, "%s", ev.reason);
        }
        /* Transport messages from the node (its reconciliation) are read
         * and dropped: this peer answers none, or WANTs with nothing. */
        if (ev.type == TW_SEV_MESSAGE) {
            tw_wire_msg m;
            if (tw_wire_decode(ev.msg, ev.msg_len, &m, NULL) == 0 && m.type == TW_WIRE_WANT) {
                p->wants++;
                p->want_ids += m.list.count;
                if (p->answer_empty) {
                    tw_buf b;
                    tw_buf_init(&b);
                    if (tw_wire_entries(&b, m.wseq, true, NULL, NULL, 0) == 0 && send_msg(p, &b) == 0) p->answered++;
                    tw_buf_free(&b);
                }
            }
        }
    }
}

/* Reads what the node sends until `until` returns true, the node closes,
 * or ms pass.  Everything read goes through the session, so an ERROR from
 * the node is decrypted and its text kept. */
static void pump(peer *p, unsigned ms, bool (*until)(const peer *))
{
    uint64_t end = mono_ms() + ms;
    uint8_t buf[65536];
    while (!p->eof && !(until && until(p))) {
        uint64_t now = mono_ms();
        if (now >= end) break;
        struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
        int r = poll(&pfd, 1, (int)(end - now));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        ssize_t n = read(p->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { p->eof = true; break; }
        p->bytes_in += (uint64_t)n;
        if (!p->closed) {
            tw_sess_input(p->sess, buf, (size_t)n, wall_ms());
            drain_events(p);
            if (!p->closed) flush_sess(p);
        }
    }
}

static bool is_established(const peer *p) { return p->established || p->closed; }

static int handshake(peer *p, const opts *o, const uint8_t sk[64], const uint8_t netkey[32], bool complete)
{
    uint8_t e[32];
    randombytes_buf(e, sizeof e);
    tw_sess_cfg cfg = {
        .initiator = !o->accept, .ed_sk = sk, .netkey = netkey, .e_rand = e, .now_ms = wall_ms(),
        .software = "evilpeer 0.1.0", .features = o->features,
        .version_min = o->vmin, .version_max = o->vmax,
    };
    int rc = tw_sess_new(&p->sess, &cfg);
    sodium_memzero(e, sizeof e);
    if (rc) return rc;
    if ((p->fd = o->accept ? accept_one(o) : open_sock(o, false)) < 0) return TW_EIO;
    if (flush_sess(p)) return TW_EIO;
    if (!complete) return 0;
    pump(p, 10000, is_established);
    /* A pause, so that the node handles the end of the handshake on its
     * own, as it does with any real peer, before the misbehaviour arrives. */
    if (p->established && !p->closed) pump(p, EP_SETTLE_MS, NULL);
    return 0;
}

/* Sends one transport message through the established session. */
static int send_msg(peer *p, const tw_buf *m)
{
    int rc = tw_sess_send(p->sess, m->p, m->len, wall_ms());
    if (rc) return rc;
    return flush_sess(p) ? TW_EIO : 0;
}

/* ------------------------------------------------------------- entries */

static void place_body(tw_kv kv[3], tw_val *body, const char *name)
{
    kv[0] = (tw_kv){ tw_v_cstr("country"), tw_v_cstr("PS") };
    kv[1] = (tw_kv){ tw_v_cstr("name_en"), tw_v_cstr(name) };
    kv[2] = (tw_kv){ tw_v_cstr("place_kind"), tw_v_cstr("village") };
    *body = (tw_val){ .type = TW_MAP, .len = 3, .v.map = kv };
}

/* The canonical payload tw_entry_sign would make, with only the kind
 * string rewritten from its fixstr form to a str8 form (a longer length
 * than needed), then signed correctly: only canonicity is wrong, so the
 * node must refuse it for that reason alone. */
static int noncanonical_entry(tw_buf *env, const uint8_t sk[64], const uint8_t netid[32], const char *slot,
                              uint64_t ts)
{
    tw_kv kv[3];
    tw_val body;
    tw_buf pl, fixed;
    int rc;
    place_body(kv, &body, "Non-canonical Village");
    tw_kv pkv[6] = {
        { tw_v_cstr("author"), tw_v_bin(sk + 32, TW_KEY_LEN) }, { tw_v_cstr("body"), body },
        { tw_v_cstr("kind"), tw_v_cstr("place") }, { tw_v_cstr("net"), tw_v_bin(netid, TW_NETID_LEN) },
        { tw_v_cstr("slot"), tw_v_cstr(slot) }, { tw_v_cstr("ts"), tw_v_uint(ts) },
    };
    tw_val map = { .type = TW_MAP, .len = 6, .v.map = pkv };
    static const uint8_t fix[] = { 0xa4, 'k', 'i', 'n', 'd', 0xa5, 'p', 'l', 'a', 'c', 'e' };
    tw_buf_init(&pl);
    tw_buf_init(&fixed);
    if ((rc = tw_mp_encode(&pl, &map))) goto done;
    uint8_t *at = memmem(pl.p, pl.len, fix, sizeof fix);
    if (!at) { rc = TW_EINTERNAL; goto done; }
    size_t pre = (size_t)(at - pl.p) + 5;
    static const uint8_t str8[] = { 0xd9, 5 };
    if ((rc = tw_buf_put(&fixed, pl.p, pre)) || (rc = tw_buf_put(&fixed, str8, sizeof str8)) ||
        (rc = tw_buf_put(&fixed, pl.p + pre + 1, pl.len - pre - 1)))
        goto done;
    uint8_t msg[TW_ENTRY_CONTEXT_LEN + TW_PAYLOAD_MAX], sig[TW_SIG_LEN];
    if (fixed.len > TW_PAYLOAD_MAX) { rc = TW_ETOOBIG; goto done; }
    memcpy(msg, TW_ENTRY_CONTEXT, TW_ENTRY_CONTEXT_LEN);
    memcpy(msg + TW_ENTRY_CONTEXT_LEN, fixed.p, fixed.len);
    crypto_sign_detached(sig, NULL, msg, TW_ENTRY_CONTEXT_LEN + fixed.len, sk);
    tw_buf_reset(env);
    if ((rc = tw_mpw_arr(env, 3)) || (rc = tw_mpw_uint(env, TW_ENTRY_VERSION)) ||
        (rc = tw_mpw_bin(env, fixed.p, fixed.len)) || (rc = tw_mpw_bin(env, sig, TW_SIG_LEN)))
        goto done;
done:
    tw_buf_free(&pl);
    tw_buf_free(&fixed);
    return rc;
}

static int make_entry(tw_buf *env, const char *mode, const uint8_t sk[64], const uint8_t netkey[32],
                      const opts *o, char *slot, size_t slotcap)
{
    const char *other_netkey = o->other_netkey;
    uint8_t forged[64];
    uint8_t netid[32], other[32];
    tw_kv kv[3];
    tw_val body;
    char name[64];
    uint64_t ts = wall_ms();
    int rc;
    tw_netid_derive(netid, netkey);
    snprintf(slot, slotcap, "evil-%s-%llu", mode, (unsigned long long)ts);
    snprintf(name, sizeof name, "Evil Village %s", mode);
    place_body(kv, &body, name);
    if (strcmp(mode, "noncanon") == 0) return noncanonical_entry(env, sk, netid, slot, ts);
    if (strcmp(mode, "foreign") == 0) {
        if (other_netkey) {
            if (tw_keytext_decode(other, TW_NETTEXT_PREFIX, other_netkey, strlen(other_netkey))) return TW_EINVAL;
        } else {
            randombytes_buf(other, sizeof other);
        }
        tw_netid_derive(netid, other);
    }
    if (strcmp(mode, "forge") == 0) {
        /* Ed25519 secret keys carry their public key in the second half,
         * which the signer writes as the author: put the victim's there.
         * The signature is then made with this peer's own secret scalar
         * and cannot verify under the victim's key. */
        memcpy(forged, sk, 32);
        if (!o->as_key || tw_keytext_decode(forged + 32, TW_KEYTEXT_PREFIX, o->as_key, strlen(o->as_key))) return TW_EINVAL;
        sk = forged;
        if (o->slot) snprintf(slot, slotcap, "%s", o->slot);
    }
    if ((rc = tw_entry_sign(env, sk, netid, "place", 5, slot, strlen(slot), ts, &body))) return rc;
    /* The signature is the last 64 bytes of the envelope. */
    if (strcmp(mode, "badsig") == 0) env->p[env->len - 1] ^= 0x01;
    return 0;
}

/* ------------------------------------------------------------- refer */

/* A peer record (or, with kind "place", a place record) signed by a
 * fresh key, appended to all; its offset and length noted. */
static int refer_record(tw_buf *all, size_t *off, size_t *len, const uint8_t netid[32], const char *kind,
                        const char *slot, const char *const *addrs, size_t naddrs)
{
    uint8_t pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    tw_val items[16];
    tw_kv kv[3];
    tw_val body;
    if (naddrs > 16) return TW_EINVAL;
    if (strcmp(kind, "place") == 0) {
        place_body(kv, &body, "Refer Village");
    } else {
        for (size_t i = 0; i < naddrs; i++) items[i] = tw_v_cstr(addrs[i]);
        kv[0] = (tw_kv){ tw_v_cstr("addresses"), (tw_val){ .type = TW_ARR, .len = (uint32_t)naddrs, .v.arr = items } };
        body = (tw_val){ .type = TW_MAP, .len = 1, .v.map = kv };
    }
    tw_buf env;
    tw_buf_init(&env);
    int rc = tw_entry_sign(&env, sk, netid, kind, strlen(kind), slot, strlen(slot), wall_ms(), &body);
    sodium_memzero(sk, sizeof sk);
    if (!rc) { *off = all->len; *len = env.len; rc = tw_buf_put(all, env.p, env.len); }
    tw_buf_free(&env);
    return rc;
}

/* Sends the REFER of the mode, written by hand (the encoder refuses more
 * than TW_REFER_MAX records), then refuses the node as full. */
static int run_refer(peer *p, const opts *o, const uint8_t netkey[32])
{
    uint8_t netid[32];
    tw_netid_derive(netid, netkey);
    tw_buf all, b;
    tw_buf_init(&all);
    tw_buf_init(&b);
    size_t off[TW_REFER_MAX + 1], len[TW_REFER_MAX + 1], n = 0;
    int rc = 0;
    const char *m = o->mode + 6;
    if (strcmp(m, "good") == 0) {
        const char *a[1] = { o->via ? o->via : "127.0.0.1:9" };
        rc = refer_record(&all, &off[n], &len[n], netid, "peer", "self", a, 1);
        n++;
    } else if (strcmp(m, "many") == 0) {
        char addr[TW_REFER_MAX + 1][32];
        for (; !rc && n <= TW_REFER_MAX; n++) {
            snprintf(addr[n], sizeof addr[n], "127.0.0.1:%zu", n + 1);
            const char *a[1] = { addr[n] };
            rc = refer_record(&all, &off[n], &len[n], netid, "peer", "self", a, 1);
        }
    } else if (strcmp(m, "outside") == 0) {
        static const char *const outside[] = { "10.0.0.1:7700", "169.254.169.254:80", "0.0.0.0:7700", "224.0.0.1:7700" };
        static const char *const nine[] = { "127.0.0.1:11", "127.0.0.1:12", "127.0.0.1:13", "127.0.0.1:14", "127.0.0.1:15",
                                            "127.0.0.1:16", "127.0.0.1:17", "127.0.0.1:18", "127.0.0.1:19" };
        static const char *const one[] = { "127.0.0.1:20" };
        rc = refer_record(&all, &off[n], &len[n], netid, "peer", "self", (const char *const *)outside, 4);
        n++;
        if (!rc) rc = refer_record(&all, &off[n], &len[n], netid, "peer", "self", (const char *const *)nine, 9);
        n++;
        if (!rc) rc = refer_record(&all, &off[n], &len[n], netid, "place", "refer-village", NULL, 0);
        n++;
        if (!rc) rc = refer_record(&all, &off[n], &len[n], netid, "peer", "other", (const char *const *)one, 1);
        n++;
    } else if (strcmp(m, "selfvouch") == 0) {
        /* A fresh key vouches for another, whose peer record names
         * 127.0.0.1:22: a voucher the node does not admit admits nobody. */
        uint8_t vpk[32], vsk[64], apk[32], ask[64];
        char kt[TW_KEYTEXT_LEN + 1];
        crypto_sign_keypair(vpk, vsk);
        crypto_sign_keypair(apk, ask);
        tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, apk);
        tw_kv kv[2] = { { tw_v_cstr("key"), tw_v_cstr(kt) }, { tw_v_cstr("name"), tw_v_cstr("Refer Sock Puppet Association") } };
        tw_val body = { .type = TW_MAP, .len = 2, .v.map = kv };
        tw_buf env;
        tw_buf_init(&env);
        rc = tw_entry_sign(&env, vsk, netid, "vouch", 5, kt, strlen(kt), wall_ms(), &body);
        if (!rc) { off[n] = all.len; len[n] = env.len; rc = tw_buf_put(&all, env.p, env.len); n++; }
        tw_val item = tw_v_cstr("127.0.0.1:22");
        tw_kv pkv[1] = { { tw_v_cstr("addresses"), (tw_val){ .type = TW_ARR, .len = 1, .v.arr = &item } } };
        tw_val pbody = { .type = TW_MAP, .len = 1, .v.map = pkv };
        if (!rc) rc = tw_entry_sign(&env, ask, netid, "peer", 4, "self", 4, wall_ms(), &pbody);
        if (!rc) { off[n] = all.len; len[n] = env.len; rc = tw_buf_put(&all, env.p, env.len); n++; }
        tw_buf_free(&env);
        sodium_memzero(vsk, sizeof vsk);
        sodium_memzero(ask, sizeof ask);
    } else if (strcmp(m, "forged") == 0) {
        const char *a[1] = { "127.0.0.1:21" };
        rc = refer_record(&all, &off[n], &len[n], netid, "peer", "self", a, 1);
        if (!rc) all.p[off[n] + len[n] - 1] ^= 0x01;   /* the signature ends the envelope */
        n++;
    } else {
        rc = 2;
    }
    if (!rc) rc = tw_mpw_arr(&b, 2);
    if (!rc) rc = tw_mpw_uint(&b, TW_WIRE_REFER);
    if (!rc) rc = tw_mpw_arr(&b, (uint32_t)n);
    for (size_t i = 0; !rc && i < n; i++) rc = tw_mpw_bin(&b, all.p + off[i], len[i]);
    if (!rc) rc = send_msg(p, &b);
    if (!rc) {
        printf("referred %zu\n", n);
        tw_sess_close(p->sess, TW_EBUSY, "too many inbound connections");
        rc = flush_sess(p) ? TW_EIO : 0;
    }
    tw_buf_free(&all);
    tw_buf_free(&b);
    return rc;
}

/* ------------------------------------------------------------- push-bundle */

static void pump_ready(peer *p);

typedef struct envs_ctx { tw_buf all; size_t *offs, *lens, n, cap; } envs_ctx;

static int collect_env(void *ctx, uint64_t offset, const uint8_t *env, size_t len, const char *why)
{
    envs_ctx *x = ctx;
    (void)offset;
    (void)why;    /* a refused envelope is pushed too: the node is to refuse it */
    size_t *o = tw_vec_room(x->offs, &x->cap, x->n, sizeof *o, 256), *l;
    if (!o) return 1;
    x->offs = o;
    size_t cap2 = x->cap;
    l = realloc(x->lens, cap2 * sizeof *l);
    if (!l) return 1;
    x->lens = l;
    x->offs[x->n] = x->all.len;
    x->lens[x->n++] = len;
    return tw_buf_put(&x->all, env, len) ? 1 : 0;
}

/* per_msg: envelopes per ENTRIES message at most (and as many as fit);
 * flood: no pause between messages (what the node sent is read only when
 * it is there), so that the node gets them faster than it verifies. */
static int push_bundle(peer *p, const opts *o, size_t per_msg, bool flood)
{
    FILE *f = o->file ? fopen(o->file, "rb") : NULL;
    if (!f) { fprintf(stderr, "evilpeer: push-bundle needs a readable --file\n"); return 2; }
    tw_buf raw;
    tw_buf_init(&raw);
    uint8_t chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) tw_buf_put(&raw, chunk, r);
    fclose(f);
    envs_ctx x = { .n = 0 };
    tw_buf_init(&x.all);
    tw_bundle_report rep;
    int rc = tw_bundle_parse(raw.p, raw.len, collect_env, &x, &rep) ? TW_ENOMEM : 0;
    size_t sent = 0;
    for (size_t i = 0; rc == 0 && i < x.n && !p->eof;) {
        /* As many envelopes as fit in one transport message. */
        const uint8_t *ep[256];
        size_t el[256], k = 0, bytes = TW_WIRE_ENTRIES_HEAD_MAX;
        while (i + k < x.n && k < per_msg && bytes + TW_WIRE_BIN_SIZE(x.lens[i + k]) <= TW_SESS_MSG_MAX) {
            ep[k] = x.all.p + x.offs[i + k];
            el[k] = x.lens[i + k];
            bytes += TW_WIRE_BIN_SIZE(x.lens[i + k]);
            k++;
        }
        tw_buf msg;
        tw_buf_init(&msg);
        rc = tw_wire_entries(&msg, 0, true, ep, el, k);
        if (!rc) rc = send_msg(p, &msg);
        tw_buf_free(&msg);
        i += k;
        sent += k;
        if (flood) pump_ready(p);
        else pump(p, 20, NULL);
    }
    printf("pushed %zu\n", sent);
    tw_buf_free(&raw);
    tw_buf_free(&x.all);
    free(x.offs);
    free(x.lens);
    return rc;
}

/* ------------------------------------------------------------- idle flood */

typedef struct idle_conn { int fd; bool open; uint64_t since, reopen_at; } idle_conn;

static int run_idle(const opts *o)
{
    struct rlimit rl;
    unsigned n = o->count;
    if (n > EP_IDLE_MAX) n = EP_IDLE_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 64) {
        rl.rlim_cur = rl.rlim_max < n + 64 ? rl.rlim_max : n + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    idle_conn *c = calloc(n, sizeof *c);
    struct pollfd *pf = calloc(n, sizeof *pf);
    if (!c || !pf) return 1;
    uint64_t t0 = mono_ms(), end = t0 + (uint64_t)o->hold_s * 1000u, last_close = 0;
    unsigned long opened = 0, refused = 0, fast = 0, late = 0, connects = 0;
    unsigned naddr = o->addrs ? o->addrs : 1;
    for (unsigned i = 0; i < n; i++) {
        c[i].fd = open_sock_to(o->connect, o->bind, i % naddr, true);
        c[i].since = mono_ms();
        connects++;
        if (c[i].fd < 0) { refused++; c[i].reopen_at = o->reopen_ms ? c[i].since + o->reopen_ms : UINT64_MAX; }
    }
    for (;;) {
        uint64_t now = mono_ms();
        if (now >= end) break;
        for (unsigned i = 0; i < n; i++) {
            if (c[i].fd < 0 && c[i].reopen_at <= now) {
                c[i].fd = open_sock_to(o->connect, o->bind, i % naddr, true);
                c[i].since = now;
                c[i].open = false;
                connects++;
                if (c[i].fd < 0) { refused++; c[i].reopen_at = now + o->reopen_ms; }
            }
            pf[i].fd = c[i].fd;
            pf[i].events = c[i].fd < 0 ? 0 : c[i].open ? POLLIN : (POLLIN | POLLOUT);
            pf[i].revents = 0;
        }
        int r = poll(pf, n, 50);
        if (r < 0 && errno != EINTR) break;
        now = mono_ms();
        for (unsigned i = 0; r > 0 && i < n; i++) {
            if (c[i].fd < 0 || !pf[i].revents) continue;
            bool gone = false;
            if (!c[i].open && (pf[i].revents & POLLOUT) && !(pf[i].revents & (POLLERR | POLLHUP))) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c[i].fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err) { refused++; gone = true; }
                else { c[i].open = true; c[i].since = now; opened++; }
            }
            if (!gone && (pf[i].revents & (POLLIN | POLLERR | POLLHUP))) {
                uint8_t b[256];
                ssize_t k = read(c[i].fd, b, sizeof b);
                if (k <= 0 && !(k < 0 && (errno == EAGAIN || errno == EINTR))) {
                    if (!c[i].open) refused++;
                    else if (now - c[i].since < EP_FAST_CLOSE_MS) fast++;
                    else late++;
                    gone = true;
                    last_close = now;
                }
            }
            if (gone) {
                close(c[i].fd);
                c[i].fd = -1;
                c[i].open = false;
                c[i].reopen_at = o->reopen_ms ? now + o->reopen_ms : UINT64_MAX;
            }
        }
    }
    unsigned long still = 0;
    for (unsigned i = 0; i < n; i++) {
        if (c[i].fd >= 0 && c[i].open) still++;
        if (c[i].fd >= 0) close(c[i].fd);
    }
    printf("opened %lu\nrefused %lu\nclosed_fast %lu\nclosed_late %lu\nopen_at_end %lu\nconnects %lu\n"
           "last_close_s %.1f\n", opened, refused, fast, late, still, connects,
           last_close ? (double)(last_close - t0) / 1000.0 : 0.0);
    free(c);
    free(pf);
    return 0;
}

/* ------------------------------------------------------------- offer, withhold, replay */

/* Reads whatever the node has sent already, without waiting. */
static void pump_ready(peer *p)
{
    struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
    while (!p->eof && poll(&pfd, 1, 0) > 0) pump(p, 1, NULL);
}

static int offer_ids(peer *p, const uint8_t *ids, size_t n)
{
    tw_buf b;
    int rc = 0;
    tw_buf_init(&b);
    for (size_t off = 0; off < n && rc == 0 && !p->eof && !p->closed; off += TW_IDS_PER_MSG) {
        size_t k = n - off < TW_IDS_PER_MSG ? n - off : TW_IDS_PER_MSG;
        tw_buf_reset(&b);
        if ((rc = tw_wire_offer(&b, ids + off * 32, k)) == 0) rc = send_msg(p, &b);
        pump_ready(p);
    }
    tw_buf_free(&b);
    return rc;
}

/* Offers random ids the node lacks, --count of them, and never sends one. */
static void run_offer(peer *p, const opts *o)
{
    uint8_t ids[TW_IDS_PER_MSG * 32];
    uint64_t sent = 0, t0 = mono_ms();
    p->answer_empty = o->answer_empty;
    while (sent < o->count && !p->eof && !p->closed) {
        size_t k = o->count - sent < TW_IDS_PER_MSG ? o->count - sent : TW_IDS_PER_MSG;
        randombytes_buf(ids, k * 32);
        if (offer_ids(p, ids, k)) break;
        sent += k;
    }
    pump(p, o->wait_s * 1000u, NULL);
    printf("offered %llu\nwants_received %llu\nanswered_empty %llu\nheld_s %.1f\n", (unsigned long long)sent,
           (unsigned long long)p->wants, (unsigned long long)p->answered, (double)(mono_ms() - t0) / 1000.0);
}

/* Offers --count real entries (signed by this peer) and keeps them, while
 * answering PINGs; pushes the same entries to the honest node --via, so
 * that the node under test gets them from there. */
static int run_withhold(peer *p, const opts *o, const uint8_t sk[64], const uint8_t netkey[32])
{
    size_t n = o->count;
    tw_buf *envs = calloc(n ? n : 1, sizeof *envs);
    uint8_t *ids = malloc((n ? n : 1) * 32), netid[32];
    tw_kv kv[3];
    tw_val body;
    char slot[64], name[64];
    uint64_t ts = wall_ms(), pushed = 0;
    int rc = 0;
    if (!envs || !ids) return TW_ENOMEM;
    tw_netid_derive(netid, netkey);
    for (size_t i = 0; i < n && rc == 0; i++) {
        tw_buf_init(&envs[i]);
        snprintf(slot, sizeof slot, "withheld-%llu-%zu", (unsigned long long)ts, i);
        snprintf(name, sizeof name, "Withheld Village %zu", i);
        place_body(kv, &body, name);
        if ((rc = tw_entry_sign(&envs[i], sk, netid, "place", 5, slot, strlen(slot), ts, &body)) == 0)
            crypto_generichash(ids + 32 * i, 32, envs[i].p, envs[i].len, NULL, 0);
    }
    uint64_t t0 = mono_ms();
    if (rc == 0) rc = offer_ids(p, ids, n);
    pump(p, 500, NULL);              /* the node asks for them */
    if (rc == 0 && o->via) {
        opts vo = *o;
        peer v = { .fd = -1 };
        vo.connect = o->via;
        vo.bind = NULL;
        if ((rc = handshake(&v, &vo, sk, netkey, true)) == 0 && v.established && !v.closed) {
            tw_buf msg;
            tw_buf_init(&msg);
            for (size_t first = 0, size = TW_WIRE_ENTRIES_HEAD_MAX; first < n && rc == 0;) {
                size_t i = first;
                const uint8_t *ptrs[256];
                size_t lens[256];
                for (size = TW_WIRE_ENTRIES_HEAD_MAX; i < n && i - first < 256 &&
                     size + TW_WIRE_BIN_SIZE(envs[i].len) <= TW_SESS_MSG_MAX; i++) {
                    ptrs[i - first] = envs[i].p;
                    lens[i - first] = envs[i].len;
                    size += TW_WIRE_BIN_SIZE(envs[i].len);
                }
                tw_buf_reset(&msg);
                if ((rc = tw_wire_entries(&msg, 0, true, ptrs, lens, i - first)) == 0 && (rc = send_msg(&v, &msg)) == 0)
                    pushed += i - first;
                first = i;
                pump_ready(&v);
            }
            tw_buf_free(&msg);
            pump(&v, 1000, NULL);
        }
        if (v.fd >= 0) close(v.fd);
        tw_sess_free(v.sess);
    }
    /* Held until the node gives up on it (PINGs are answered by pump). */
    pump(p, o->hold_s * 1000u, NULL);
    printf("offered %zu\npushed_via %llu\nwants_received %llu\nheld_s %.1f\n", n, (unsigned long long)pushed,
           (unsigned long long)p->wants, (double)(mono_ms() - t0) / 1000.0);
    for (size_t i = 0; i < n; i++) tw_buf_free(&envs[i]);
    free(envs);
    free(ids);
    return rc;
}

/* Records one message 1 (on a first connection, which the node answers),
 * then sends the same bytes on --count new connections, one after the
 * other, and counts what comes back on each within 1 s. */
static int run_replay(const opts *o, const uint8_t sk[64], const uint8_t netkey[32])
{
    int rc;
    uint8_t e[32];
    randombytes_buf(e, sizeof e);
    tw_sess_cfg cfg = {
        .initiator = true, .ed_sk = sk, .netkey = netkey, .e_rand = e, .now_ms = wall_ms(),
        .software = "evilpeer 0.1.0", .features = o->features, .version_min = o->vmin, .version_max = o->vmax,
    };
    tw_sess *s;
    if ((rc = tw_sess_new(&s, &cfg))) return rc;
    size_t mlen;
    const uint8_t *out = tw_sess_output(s, &mlen);
    uint8_t msg1[TW_FRAME_HDR_LEN + TW_HANDSHAKE_MSG_MAX];
    if (mlen > sizeof msg1) { tw_sess_free(s); return TW_ETOOBIG; }
    memcpy(msg1, out, mlen);
    tw_sess_free(s);
    unsigned long answered = 0, silent = 0, noclose = 0, first_bytes = 0;
    unsigned long long answer_bytes = 0;
    for (unsigned i = 0; i <= o->count; i++) {
        int fd = open_sock(o, false);
        if (fd < 0 || write_all(fd, msg1, mlen)) { if (fd >= 0) close(fd); noclose++; continue; }
        uint64_t end = mono_ms() + 1000;
        unsigned long got = 0;
        bool eof = false;
        while (!eof) {
            uint64_t now = mono_ms();
            if (now >= end || (i == 0 && got > 0)) break;
            struct pollfd pfd = { .fd = fd, .events = POLLIN };
            if (poll(&pfd, 1, (int)(end - now)) <= 0) break;
            uint8_t b[4096];
            ssize_t k = read(fd, b, sizeof b);
            if (k <= 0) eof = true;
            else got += (unsigned long)k;
        }
        close(fd);
        if (i == 0) { first_bytes = got; continue; }   /* the recording: answered, as any first message 1 */
        if (got) { answered++; answer_bytes += got; }
        else if (eof) silent++;
        else noclose++;
    }
    printf("first_answer_bytes %lu\nreplays %u\nanswered %lu\nanswer_bytes %llu\nsilent_closes %lu\nno_close %lu\n",
           first_bytes, o->count, answered, answer_bytes, silent, noclose);
    return 0;
}

/* ------------------------------------------------------------- main */

static int read_netkey_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    char line[256];
    int rc = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        line[n] = 0;
        if (line[0] == '#' || !line[0]) continue;
        snprintf(out, cap, "%s", line);
        rc = 0;
        break;
    }
    fclose(f);
    return rc;
}

static void report(const peer *p, bool handshake_done)
{
    if (handshake_done) {
        if (p->established) printf("handshake ok\n");
        else if (p->closed) printf("handshake failed: %s\n", p->reason);
        else printf("handshake failed: no answer\n");
    } else {
        printf("handshake none\n");
    }
    printf("bytes_received %llu\n", (unsigned long long)p->bytes_in);
    printf("closed_by_node %s\n", p->eof ? "yes" : "no");
    if (p->closed && p->established) printf("node_error %s\n", p->reason);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "connect", required_argument, NULL, 'c' }, { "bind", required_argument, NULL, 'b' },
        { "mode", required_argument, NULL, 'm' }, { "netkey", required_argument, NULL, 'k' },
        { "netkey-file", required_argument, NULL, 'K' }, { "seed", required_argument, NULL, 's' },
        { "other-netkey", required_argument, NULL, 'o' }, { "count", required_argument, NULL, 'n' },
        { "hold", required_argument, NULL, 'H' }, { "wait", required_argument, NULL, 'w' },
        { "reopen-ms", required_argument, NULL, 'r' }, { "versions", required_argument, NULL, 'v' },
        { "as", required_argument, NULL, 'A' }, { "slot", required_argument, NULL, 'S' },
        { "file", required_argument, NULL, 'F' },
        { "addrs", required_argument, NULL, 'a' }, { "answer", required_argument, NULL, 'N' },
        { "via", required_argument, NULL, 'V' }, { "accept", no_argument, NULL, 'L' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    opts o = { .count = 1, .hold_s = EP_HOLD_DEFAULT_S, .wait_s = EP_WAIT_DEFAULT_S,
               .vmin = TW_PROTO_VERSION_MIN, .vmax = TW_PROTO_VERSION_MAX };
    int ch;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 'c': o.connect = optarg; break;
        case 'b': o.bind = optarg; break;
        case 'm': o.mode = optarg; break;
        case 'k': o.netkey_text = optarg; break;
        case 'K': o.netkey_file = optarg; break;
        case 's': o.seed_hex = optarg; break;
        case 'o': o.other_netkey = optarg; break;
        case 'A': o.as_key = optarg; break;
        case 'S': o.slot = optarg; break;
        case 'F': o.file = optarg; break;
        case 'a': o.addrs = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'N':
            if (strcmp(optarg, "empty") == 0) o.answer_empty = true;
            else if (strcmp(optarg, "none") != 0) { fprintf(stderr, "evilpeer: --answer wants none or empty\n"); return 2; }
            break;
        case 'V': o.via = optarg; break;
        case 'L': o.accept = true; break;
        case 'n': o.count = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'H': o.hold_s = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'w': o.wait_s = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'r': o.reopen_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'v':
            if (sscanf(optarg, "%u:%u", &o.vmin, &o.vmax) != 2 || o.vmin == 0 || o.vmin > o.vmax) {
                fprintf(stderr, "evilpeer: --versions wants MIN:MAX\n");
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!o.connect || !o.mode || optind < argc) { usage(stderr); return 2; }
    if (sodium_init() < 0) return 1;
    signal(SIGPIPE, SIG_IGN);   /* a node that closes first makes write() fail, not kill us */
    struct sockaddr_in probe;
    if (split_addr(o.connect, &probe)) { fprintf(stderr, "evilpeer: --connect wants IPv4:PORT\n"); return 2; }
    if (strcmp(o.mode, "idle") == 0 || strcmp(o.mode, "hold") == 0) return run_idle(&o);

    char nk_text[256];
    uint8_t netkey[32], sk[64], pk[32], seed[32];
    if (o.netkey_file) {
        if (read_netkey_file(o.netkey_file, nk_text, sizeof nk_text)) { fprintf(stderr, "evilpeer: cannot read %s\n", o.netkey_file); return 1; }
        o.netkey_text = nk_text;
    }
    if (o.netkey_text && strcmp(o.netkey_text, "random") == 0) {
        randombytes_buf(netkey, sizeof netkey);
    } else if (!o.netkey_text || tw_keytext_decode(netkey, TW_NETTEXT_PREFIX, o.netkey_text, strlen(o.netkey_text))) {
        fprintf(stderr, "evilpeer: a valid --netkey or --netkey-file is needed\n");
        return 2;
    }
    if (o.seed_hex) {
        if (tw_hex_decode(seed, sizeof seed, o.seed_hex, strlen(o.seed_hex))) { fprintf(stderr, "evilpeer: --seed wants 64 hex digits\n"); return 2; }
    } else {
        randombytes_buf(seed, sizeof seed);
    }
    crypto_sign_seed_keypair(pk, sk, seed);
    char kt[TW_KEYTEXT_LEN + 1], fpr[TW_FPR_CHARS + 1];
    tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, pk);
    tw_key_fingerprint(fpr, pk);
    printf("key %s\nfingerprint %s\n", kt, fpr);

    peer p = { .fd = -1 };
    unsigned wait_ms = o.wait_s * 1000u;
    const char *m = o.mode;
    o.features = strcmp(m, "znofeat") == 0 ? 0 : TW_WIRE_FEAT_ZSTD;
    if (strcmp(m, "negbig") == 0)
        o.features |= TW_WIRE_FEAT_NEGPART;
    if (strcmp(m, "tree") == 0 || strcmp(m, "ihave") == 0) o.features |= TW_WIRE_FEAT_PUSHTREE;
    if (strncmp(m, "refer-", 6) == 0) o.features |= TW_WIRE_FEAT_REFER;
    int rc = 0;
    if (strcmp(m, "hs-oversize") == 0) {
        static const uint8_t hdr[2] = { 0xff, 0xff };
        uint8_t junk[1024];
        if ((p.fd = open_sock(&o, false)) < 0) { perror("evilpeer: connect"); return 1; }
        randombytes_buf(junk, sizeof junk);
        if (write_all(p.fd, hdr, sizeof hdr) == 0) (void)write_all(p.fd, junk, sizeof junk);
        p.closed = true;   /* no session: whatever the node sends is only counted */
        pump(&p, wait_ms, NULL);
        report(&p, false);
    } else if (strcmp(m, "replay") == 0) {
        if ((rc = run_replay(&o, sk, netkey))) { fprintf(stderr, "evilpeer: %s\n", tw_strerror(rc)); return 1; }
    } else if (strcmp(m, "wrongkey") == 0) {
        if ((rc = handshake(&p, &o, sk, netkey, false))) { fprintf(stderr, "evilpeer: %s\n", tw_strerror(rc)); return 1; }
        pump(&p, wait_ms, NULL);
        report(&p, true);
    } else {
        if ((rc = handshake(&p, &o, sk, netkey, true))) { fprintf(stderr, "evilpeer: %s\n", tw_strerror(rc)); return 1; }
        if (!p.established || p.closed) {
            pump(&p, wait_ms, NULL);
            report(&p, true);
            goto out;
        }
        tw_buf b;
        tw_buf_init(&b);
        if (strcmp(m, "hello") == 0) {
            /* nothing: the node's reaction is the result */
        } else if (strcmp(m, "offer") == 0) {
            run_offer(&p, &o);
            report(&p, true);
            tw_buf_free(&b);
            goto out;
        } else if (strcmp(m, "withhold") == 0) {
            if ((rc = run_withhold(&p, &o, sk, netkey))) fprintf(stderr, "evilpeer: withhold: %s\n", tw_strerror(rc));
            report(&p, true);
            tw_buf_free(&b);
            goto out;
        } else if (strcmp(m, "garbage") == 0) {
            uint8_t f[202];
            f[0] = 0;
            f[1] = 200;
            randombytes_buf(f + 2, 200);
            (void)write_all(p.fd, f, sizeof f);
        } else if (strcmp(m, "zbad") == 0 || strcmp(m, "znofeat") == 0 || strcmp(m, "zbomb") == 0 ||
                   strcmp(m, "znested") == 0) {
            /* COMPRESSED [9, frame]: a frame that is not zstd; the same
             * without having offered the feature; a frame declaring more
             * than one message may hold; a COMPRESSED inside a COMPRESSED. */
            uint8_t *plain = calloc(1, 200000), *z = malloc(ZSTD_compressBound(200000));
            size_t zn = 0, pn = 0;
            if (!plain || !z) { rc = TW_ENOMEM; }
            else if (m[1] == 'b' && m[2] == 'a') { pn = 1000; randombytes_buf(plain, 1000); plain[0] = 0x94; plain[1] = TW_WIRE_ENTRIES; }
            else if (m[1] == 'n' && m[2] == 'o') { randombytes_buf(z, 300); zn = 300; }
            else if (m[1] == 'b') { pn = 200000; plain[0] = 0x94; plain[1] = TW_WIRE_ENTRIES; }
            else {
                tw_buf inner;
                tw_buf_init(&inner);
                tw_mpw_arr(&inner, 2);
                tw_mpw_uint(&inner, TW_WIRE_COMPRESSED);
                tw_mpw_bin(&inner, "x", 1);
                memcpy(plain, inner.p, inner.len);
                pn = inner.len;
                tw_buf_free(&inner);
            }
            if (!rc && pn) zn = ZSTD_compress(z, ZSTD_compressBound(200000), plain, pn, 3);
            /* zbad: a frame whose header is sound but whose first block has
             * the reserved block type (frame header: magic 4, descriptor 1,
             * content size 2 for 1000 bytes; then the 3-byte block header). */
            if (!rc && m[1] == 'b' && m[2] == 'a' && zn > 10) z[7] |= 0x06;
            if (!rc) {
                rc = tw_mpw_arr(&b, 2);
                if (!rc) rc = tw_mpw_uint(&b, TW_WIRE_COMPRESSED);
                if (!rc) rc = tw_mpw_bin(&b, z, zn);
                if (!rc) rc = send_msg(&p, &b);
            }
            free(plain);
            free(z);
        } else if (strcmp(m, "negbig") == 0 || strcmp(m, "negnofeat") == 0) {
            /* Pieces of the largest size until they pass TW_NEG_MSG_MAX
             * (65 of 65502 bytes), and nothing after: the node has read
             * all of it when it refuses, so its ERROR is not lost to a
             * reset.  negnofeat: one small piece. */
            size_t piece = TW_SESS_MSG_MAX - TW_WIRE_NEG_PART_HEAD_MAX;
            size_t n = m[3] == 'b' ? TW_NEG_MSG_MAX / piece + 1 : 1;
            uint8_t *z = calloc(1, piece);
            if (!z) rc = TW_ENOMEM;
            else z[0] = 0x61;
            for (size_t i = 0; !rc && i < n; i++) {
                tw_buf_reset(&b);
                rc = tw_wire_neg_part(&b, TW_WIRE_NEG_REQ, 1, z, m[3] == 'b' ? piece : 1);
                if (!rc) rc = send_msg(&p, &b);
            }
            free(z);
        } else if (strcmp(m, "tree") == 0 || strcmp(m, "tree-nofeat") == 0) {
            unsigned n = m[4] ? 1 : o.count, sent = 0;
            for (; sent < n && !rc && !p.eof && !p.closed; sent++) {
                tw_buf_reset(&b);
                if (!(rc = tw_wire_tree(&b, sent % 2))) rc = send_msg(&p, &b);
                pump_ready(&p);
            }
            printf("tree_sent %u\n", sent);
        } else if (strcmp(m, "ihave") == 0) {
            uint8_t ids[TW_IDS_PER_MSG * 32];
            uint64_t sent = 0;
            while (sent < o.count && !rc && !p.eof && !p.closed) {
                size_t k = o.count - sent < TW_IDS_PER_MSG ? o.count - sent : TW_IDS_PER_MSG;
                randombytes_buf(ids, k * 32);
                tw_buf_reset(&b);
                if (!(rc = tw_wire_ihave(&b, ids, k))) rc = send_msg(&p, &b);
                pump_ready(&p);
                sent += k;
            }
            pump(&p, wait_ms, NULL);
            printf("announced %llu\nwants_received %llu\nwanted_ids %llu\n", (unsigned long long)sent,
                   (unsigned long long)p.wants, (unsigned long long)p.want_ids);
            report(&p, true);
            tw_buf_free(&b);
            goto out;
        } else if (strcmp(m, "empty") == 0) {
            static const uint8_t f[2] = { 0, 0 };
            (void)write_all(p.fd, f, sizeof f);
        } else if (strcmp(m, "oversize") == 0) {
            /* [3, [id x 1025]] written by hand: the encoder refuses it. */
            uint8_t id[32];
            rc = tw_mpw_arr(&b, 2);
            if (!rc) rc = tw_mpw_uint(&b, TW_WIRE_OFFER);
            if (!rc) rc = tw_mpw_arr(&b, TW_IDS_PER_MSG + 1);
            for (unsigned i = 0; !rc && i < TW_IDS_PER_MSG + 1; i++) {
                randombytes_buf(id, sizeof id);
                rc = tw_mpw_bin(&b, id, sizeof id);
            }
            if (!rc) rc = send_msg(&p, &b);
        } else if (strcmp(m, "good") == 0 || strcmp(m, "badsig") == 0 || strcmp(m, "noncanon") == 0 ||
                   strcmp(m, "foreign") == 0 || strcmp(m, "forge") == 0) {
            tw_buf env, msg;
            tw_buf_init(&env);
            tw_buf_init(&msg);
            char slot[64];
            rc = make_entry(&env, m, sk, netkey, &o, slot, sizeof slot);
            if (!rc) {
                printf("slot %s\n", slot);
                uint8_t id[32];
                char hex[65];
                crypto_generichash(id, sizeof id, env.p, env.len, NULL, 0);
                tw_hex_encode(hex, id, sizeof id);
                printf("entry_id %s\n", hex);
                const uint8_t *ep = env.p;
                size_t el = env.len;
                rc = tw_wire_entries(&msg, 0, true, &ep, &el, 1);
            }
            if (!rc) rc = send_msg(&p, &msg);
            tw_buf_free(&env);
            tw_buf_free(&msg);
        } else if (strcmp(m, "push-bundle") == 0) {
            rc = push_bundle(&p, &o, 256, false);
        } else if (strcmp(m, "flood-bundle") == 0) {
            rc = push_bundle(&p, &o, 1, true);
        } else if (strncmp(m, "refer-", 6) == 0) {
            rc = run_refer(&p, &o, netkey);
        } else {
            fprintf(stderr, "evilpeer: unknown mode \"%s\"\n", m);
            usage(stderr);
            rc = 2;
        }
        tw_buf_free(&b);
        if (rc == 2) { close(p.fd); tw_sess_free(p.sess); return 2; }
        if (rc) fprintf(stderr, "evilpeer: sending failed: %s\n", tw_strerror(rc));
        pump(&p, wait_ms, NULL);
        report(&p, true);
    }
out:
    if (p.fd >= 0) close(p.fd);
    tw_sess_free(p.sess);
    sodium_memzero(sk, sizeof sk);
    return 0;
}
