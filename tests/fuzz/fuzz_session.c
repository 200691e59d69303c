/*
 * Fuzz target for the transport session (proto/session.c).
 *
 * Byte 0 of the input chooses the victim and the delivery: bit 0 clear is
 * a responder, set is an initiator that has already sent message 1; bits
 * 1-3 pick a chunk size (0 = everything at once, else 2^(n-1) bytes).  The
 * rest is what the attacker sends over TCP.  Between chunks the timers run,
 * and once the session is established the clock moves on.
 *
 * Invariants checked: nothing aborts; a responder that did no X25519
 * operation has written nothing; events come in order (ESTABLISHED at most
 * once and first, MESSAGE only after it and never PING/PONG/ERROR, CLOSED at
 * most once and last); a closed session refuses input.
 *
 * Keys, ephemeral keys and clocks are fixed so that seeds holding a genuine
 * transcript reach the transport state.  Building this file with
 * -DFUZZ_SESSION_GEN gives a program that writes those seeds:
 *   cc -DFUZZ_SESSION_GEN ... tests/fuzz/fuzz_session.c proto/... -o gen && ./gen tests/fuzz/corpus/session
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "twin/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW          1700000000000ull
#define FUZZ_STEP_MS      10u       /* the clock advances this much per chunk */
#define FUZZ_CHUNKS_MAX   100000u   /* chunks fed from one input */
#define FUZZ_EVENTS_MAX   100000u   /* events drained from one input */

static const uint8_t FUZZ_NETKEY[32] = {
    0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e,
    0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e };
#define FUZZ_I_SEED  0x49u   /* initiator identity seed byte */
#define FUZZ_I_E     0x65u   /* initiator ephemeral */
#define FUZZ_R_SEED  0x52u   /* responder identity seed byte */
#define FUZZ_R_E     0x72u   /* responder ephemeral */

static void fuzz_keys(uint8_t sk[64], uint8_t seed_byte)
{
    uint8_t seed[32], pk[32];
    memset(seed, seed_byte, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
}

static tw_sess *fuzz_session(bool initiator, uint64_t now)
{
    uint8_t sk[64], e[32];
    tw_sess_cfg c;
    tw_sess *s = NULL;

    fuzz_keys(sk, initiator ? FUZZ_I_SEED : FUZZ_R_SEED);
    memset(e, initiator ? FUZZ_I_E : FUZZ_R_E, sizeof e);
    memset(&c, 0, sizeof c);
    c.initiator = initiator;
    c.ed_sk = sk;
    c.netkey = FUZZ_NETKEY;
    c.e_rand = e;
    c.now_ms = now;
    c.software = initiator ? "twind fuzz initiator" : "twind fuzz responder";
    c.version_min = TW_PROTO_VERSION_MIN;
    c.version_max = TW_PROTO_VERSION_MAX;
    if (tw_sess_new(&s, &c) != 0) return NULL;
    return s;
}

typedef struct { bool established, closed; } seen;

static void check_events(tw_sess *s, seen *st)
{
    tw_sess_event ev;
    for (unsigned k = 0; k < FUZZ_EVENTS_MAX; k++) {
        if (tw_sess_next_event(s, &ev) != 0) abort();
        switch (ev.type) {
        case TW_SEV_NONE:
            return;
        case TW_SEV_ESTABLISHED:
            if (st->established || st->closed) abort();
            if (ev.version < TW_PROTO_VERSION_MIN || ev.version > TW_PROTO_VERSION_MAX) abort();
            if (strlen(ev.remote_sw) > TW_HELLO_SW_MAX) abort();
            st->established = true;
            break;
        case TW_SEV_MESSAGE:
            if (!st->established || st->closed || !ev.msg || ev.msg_len == 0 ||
                ev.msg_len > TW_SESS_MSG_MAX)
                abort();
            if ((ev.msg[0] & 0xf0) != 0x90 && ev.msg[0] != 0xdc && ev.msg[0] != 0xdd) abort();
            /* Touch every byte so a sanitizer sees a bad pointer. */
            { volatile uint8_t x = 0; for (size_t i = 0; i < ev.msg_len; i++) x ^= ev.msg[i]; (void)x; }
            break;
        case TW_SEV_CLOSED:
            if (st->closed || ev.code >= 0 || strlen(ev.reason) >= sizeof ev.reason) abort();
            st->closed = true;
            break;
        default:
            abort();
        }
    }
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    bool initiator;
    size_t chunk, off = 0, n = 0;
    uint64_t now = FUZZ_NOW;
    seen st = { false, false };
    tw_sess *s;

    if (!ready) {
        if (sodium_init() < 0) return 0;
        ready = 1;
    }
    if (size < 1) return 0;
    initiator = data[0] & 1;
    chunk = (data[0] >> 1) & 7;
    chunk = chunk ? (size_t)1 << (chunk - 1) : size;
    data++;
    size--;

    s = fuzz_session(initiator, now);
    if (!s) abort();
    if (initiator) {
        (void)tw_sess_output(s, &n);
        tw_sess_consume_output(s, n);
    }
    for (unsigned k = 0; k < FUZZ_CHUNKS_MAX && off < size; k++) {
        size_t c = size - off < chunk ? size - off : chunk;
        bool was_closed = tw_sess_closed(s);
        int rc = tw_sess_input(s, data + off, c, now);
        if (was_closed && rc != TW_ECLOSED) abort();
        if (rc != 0 && rc != TW_ECLOSED) abort();
        if ((rc == TW_ECLOSED) != tw_sess_closed(s)) abort();
        off += c;
        check_events(s, &st);
        if (!initiator && tw_sess_dh_count(s) == 0) {
            (void)tw_sess_output(s, &n);
            if (n != 0) abort();
        }
        if (tw_sess_established(s)) {
            static const uint8_t m[] = { 0x92, 0x01, 0xc4, 0x00 };
            if (tw_sess_send(s, m, sizeof m, now) != 0) abort();
        }
        /* The peer's bytes are written, a little at a time. */
        (void)tw_sess_output(s, &n);
        tw_sess_consume_output(s, n / 2 + 1);
        /* The clock stands still during the handshake: the hello carries
         * it, so a seed's recorded messages 2 and 3 only match at FUZZ_NOW. */
        if (tw_sess_established(s)) now += FUZZ_STEP_MS;
        (void)tw_sess_tick(s, now);
        check_events(s, &st);
        if (tw_sess_bytes_in(s) > off) abort();
    }
    /* Long silence: the timers end every session. */
    (void)tw_sess_tick(s, now + TW_PING_INTERVAL_MS);
    (void)tw_sess_tick(s, now + TW_IDLE_TIMEOUT_MS + TW_HANDSHAKE_TIMEOUT_MS);
    check_events(s, &st);
    if (!tw_sess_closed(s) || !st.closed) abort();
    tw_sess_free(s);
    return 0;
}

#ifdef FUZZ_SESSION_GEN
/* Writes seed transcripts: each side's genuine bytes as the other would
 * receive them, with transport messages, a PING, a PONG and an ERROR. */
#include <stdio.h>

static uint8_t gen_buf[2][1 << 20];
static size_t gen_len[2];

static void gen_move(tw_sess *from, int idx, tw_sess *to, uint64_t now)
{
    size_t n = 0;
    const uint8_t *p = tw_sess_output(from, &n);
    if (n == 0) return;
    memcpy(gen_buf[idx] + gen_len[idx], p, n);
    gen_len[idx] += n;
    if (to) {
        tw_sess_event ev;
        (void)tw_sess_input(to, p, n, now);
        while (tw_sess_next_event(to, &ev) == 0 && ev.type != TW_SEV_NONE) {}
    }
    tw_sess_consume_output(from, n);
}

static void gen_write(const char *dir, const char *name, uint8_t mode, const uint8_t *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    fputc(mode, f);
    fwrite(p, 1, n, f);
    fclose(f);
}

int main(int argc, char **argv)
{
    static const uint8_t msg[] = { 0x93, 0x01, 0x07, 0xc4, 0x03, 'n', 'e', 'g' };
    static const uint8_t ping[] = { 0x92, 0x06, 0x2a };
    static const uint8_t pong[] = { 0x92, 0x07, 0x2a };
    uint64_t now = FUZZ_NOW;

    if (argc != 2 || sodium_init() < 0) return 2;
    tw_sess *i = fuzz_session(true, now), *r = fuzz_session(false, now);
    gen_move(i, 0, r, now);                 /* message 1 */
    gen_move(r, 1, i, now);                 /* message 2 */
    gen_move(i, 0, r, now);                 /* message 3 */
    size_t hs0 = gen_len[0], hs1 = gen_len[1];
    tw_sess_send(i, msg, sizeof msg, now);
    tw_sess_send(i, ping, sizeof ping, now);
    tw_sess_send(i, pong, sizeof pong, now);
    tw_sess_send(r, msg, sizeof msg, now);
    tw_sess_send(r, ping, sizeof ping, now);
    gen_move(i, 0, NULL, now);
    gen_move(r, 1, NULL, now);
    tw_sess_close(i, TW_EREFUSED, "fuzz seed closing");
    tw_sess_close(r, TW_EREFUSED, "fuzz seed closing");
    gen_move(i, 0, NULL, now);
    gen_move(r, 1, NULL, now);

    gen_write(argv[1], "resp-msg1", 0x00, gen_buf[0], 53);
    gen_write(argv[1], "resp-handshake", 0x00, gen_buf[0], hs0);
    gen_write(argv[1], "resp-transcript", 0x00, gen_buf[0], gen_len[0]);
    gen_write(argv[1], "resp-transcript-bytewise", 0x02, gen_buf[0], gen_len[0]);
    gen_write(argv[1], "resp-transcript-chunk16", 0x0a, gen_buf[0], gen_len[0]);
    gen_write(argv[1], "init-msg2", 0x01, gen_buf[1], hs1);
    gen_write(argv[1], "init-transcript", 0x01, gen_buf[1], gen_len[1]);
    gen_write(argv[1], "init-transcript-chunk4", 0x07, gen_buf[1], gen_len[1]);
    /* A frame longer than the pre-auth limit, and plain garbage. */
    gen_write(argv[1], "resp-oversized", 0x00, (const uint8_t *)"\x04\x01xxxx", 6);
    gen_write(argv[1], "resp-garbage", 0x00, (const uint8_t *)"\x00\x10garbage-garbage!", 18);
    tw_sess_free(i);
    tw_sess_free(r);
    return 0;
}
#endif
