/*
 * Tests of proto/session.c.  Two sessions are wired in memory: the output
 * of one is fed to the other in chunks of varying sizes (one byte at a
 * time, odd sizes, whole), with each side on its own fake clock.  Attacks
 * are made by altering the bytes in flight.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "twin/mp.h"
#include "twin/noise.h"
#include "twin/session.h"

#define EV_MAX        64u        /* events one side records in a test */
#define PUMP_ROUNDS   16u        /* exchanges before a conversation must be quiet */
#define T0            1700000000000ull   /* a plausible wall clock, ms */
#define SKEW_MS       900000ull  /* 15 minutes between the two fake clocks */

static const uint8_t NETKEY[32] = { 0x6e, 0x65, 0x74, 0x77, 0x6f, 0x72, 0x6b, 1, 2, 3, 4, 5, 6, 7, 8, 9,
                                    10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25 };

typedef struct {
    tw_sess *s;
    uint64_t now;
    uint8_t sk[64], pk[32];
    tw_sess_event ev[EV_MAX];
    uint8_t *msg[EV_MAX];      /* copies of MESSAGE plaintexts */
    size_t nev;
} side;

typedef struct {
    bool initiator;
    uint8_t seed;              /* identity seed byte */
    uint8_t pk_seed;           /* if not 0: the public half comes from this seed instead */
    const uint8_t *netkey;
    uint32_t vmin, vmax;
    uint64_t now;
    const char *sw;
    uint64_t feat;
    tw_sess_replay *replay;
    uint8_t e_seed;            /* if not 0: the ephemeral key's byte, else seed ^ 0x5a */
} side_opts;

static void side_init(side *x, const side_opts *o)
{
    uint8_t seed[32], pk2[32], sk2[64];
    uint8_t e[32];
    tw_sess_cfg c;

    memset(x, 0, sizeof *x);
    memset(seed, o->seed, sizeof seed);
    assert_int_equal(crypto_sign_seed_keypair(x->pk, x->sk, seed), 0);
    if (o->pk_seed) {
        /* A secret key whose public half belongs to another identity: the
         * hello then names a key that the handshake key does not match. */
        memset(seed, o->pk_seed, sizeof seed);
        assert_int_equal(crypto_sign_seed_keypair(pk2, sk2, seed), 0);
        memcpy(x->sk + 32, pk2, 32);
        memcpy(x->pk, pk2, 32);
    }
    memset(e, o->e_seed ? o->e_seed : o->seed ^ 0x5a, sizeof e);
    memset(&c, 0, sizeof c);
    c.initiator = o->initiator;
    c.ed_sk = x->sk;
    c.netkey = o->netkey ? o->netkey : NETKEY;
    c.e_rand = e;
    c.now_ms = o->now ? o->now : T0;
    c.software = o->sw ? o->sw : (o->initiator ? "twind 0.1.0 (dialer)" : "twind 0.1.0");
    c.features = o->feat;
    c.version_min = o->vmin ? o->vmin : TW_PROTO_VERSION_MIN;
    c.version_max = o->vmax ? o->vmax : TW_PROTO_VERSION_MAX;
    c.replay = o->replay;
    x->now = c.now_ms;
    assert_int_equal(tw_sess_new(&x->s, &c), 0);
}

static void side_free(side *x)
{
    tw_sess_free(x->s);
    for (size_t i = 0; i < x->nev; i++) free(x->msg[i]);
    memset(x, 0, sizeof *x);
}

static void drain(side *x)
{
    tw_sess_event ev;
    for (unsigned k = 0; k < EV_MAX * 2; k++) {
        assert_int_equal(tw_sess_next_event(x->s, &ev), 0);
        if (ev.type == TW_SEV_NONE) return;
        assert_true(x->nev < EV_MAX);
        x->ev[x->nev] = ev;
        x->msg[x->nev] = NULL;
        if (ev.type == TW_SEV_MESSAGE) {
            x->msg[x->nev] = malloc(ev.msg_len);
            assert_non_null(x->msg[x->nev]);
            memcpy(x->msg[x->nev], ev.msg, ev.msg_len);
        }
        x->nev++;
    }
    fail_msg("too many events");
}

static size_t count_ev(const side *x, tw_sev_type t)
{
    size_t n = 0;
    for (size_t i = 0; i < x->nev; i++) n += x->ev[i].type == t;
    return n;
}

static const tw_sess_event *find_ev(const side *x, tw_sev_type t)
{
    for (size_t i = 0; i < x->nev; i++)
        if (x->ev[i].type == t) return &x->ev[i];
    return NULL;
}

static size_t out_len(const side *x)
{
    size_t n = 0;
    (void)tw_sess_output(x->s, &n);
    return n;
}

/* Takes all pending output of x (the caller frees it). */
static uint8_t *take_output(side *x, size_t *n)
{
    const uint8_t *p = tw_sess_output(x->s, n);
    uint8_t *copy = malloc(*n ? *n : 1);
    assert_non_null(copy);
    if (*n) memcpy(copy, p, *n);
    tw_sess_consume_output(x->s, *n);
    return copy;
}

/* Feeds bytes to x in chunks whose sizes cycle through `chunks` (0 ends the
 * list; NULL means all at once), draining events after each chunk. */
static void feed(side *x, const uint8_t *p, size_t n, const size_t *chunks)
{
    size_t off = 0;
    unsigned ci = 0;
    while (off < n) {
        size_t c = chunks ? chunks[ci] : n;
        if (chunks && chunks[++ci] == 0) ci = 0;
        if (c > n - off) c = n - off;
        int rc = tw_sess_input(x->s, p + off, c, x->now);
        drain(x);
        if (rc == TW_ECLOSED) { assert_true(tw_sess_closed(x->s)); return; }
        assert_int_equal(rc, 0);
        off += c;
    }
}

/* Moves everything from a to b; returns the bytes moved. */
static size_t pump(side *a, side *b, const size_t *chunks)
{
    size_t n = 0;
    uint8_t *p = take_output(a, &n);
    if (n && !tw_sess_closed(b->s)) feed(b, p, n, chunks);
    free(p);
    return n;
}

static void converse(side *a, side *b, const size_t *chunks)
{
    for (unsigned r = 0; r < PUMP_ROUNDS; r++) {
        size_t n = pump(a, b, chunks) + pump(b, a, chunks);
        if (n == 0) return;
    }
    fail_msg("conversation did not settle");
}

static void pair(side *i, side *r, const side_opts *oi, const side_opts *orr)
{
    side_opts di = { .initiator = true, .seed = 0x11 }, dr = { .initiator = false, .seed = 0x22 };
    side_init(i, oi ? oi : &di);
    side_init(r, orr ? orr : &dr);
}

static void established_pair(side *i, side *r, const size_t *chunks)
{
    pair(i, r, NULL, NULL);
    converse(i, r, chunks);
    assert_true(tw_sess_established(i->s));
    assert_true(tw_sess_established(r->s));
}

/* A msgpack message [9, bin] of exactly total bytes (total >= 8). */
static uint8_t *make_msg(size_t total, uint8_t fill)
{
    uint8_t *m = malloc(total);
    size_t d = total - 7;
    assert_non_null(m);
    m[0] = 0x92; m[1] = 0x09; m[2] = 0xc6;
    m[3] = (uint8_t)(d >> 24); m[4] = (uint8_t)(d >> 16); m[5] = (uint8_t)(d >> 8); m[6] = (uint8_t)d;
    memset(m + 7, fill, d);
    return m;
}

static const size_t ONE[] = { 1, 0 };
static const size_t ODD[] = { 7, 1, 13, 250, 3, 4093, 2, 0 };

/* ------------------------------------------------------------ tests */

static void check_exchange(const size_t *chunks)
{
    side i, r;
    established_pair(&i, &r, chunks);
    /* ESTABLISHED comes first and only once on each side. */
    assert_int_equal(i.nev, 1);
    assert_int_equal(r.nev, 1);

    static const uint8_t m1[] = { 0x93, 0x01, 0x05, 0xc4, 0x02, 0xab, 0xcd };  /* [1, 5, bin] */
    static const uint8_t m2[] = { 0x92, 0x03, 0x90 };                          /* [3, []] */
    assert_int_equal(tw_sess_send(i.s, m1, sizeof m1, i.now), 0);
    assert_int_equal(tw_sess_send(i.s, m2, sizeof m2, i.now), 0);
    assert_int_equal(tw_sess_send(r.s, m2, sizeof m2, r.now), 0);
    converse(&i, &r, chunks);
    assert_int_equal(count_ev(&r, TW_SEV_MESSAGE), 2);
    assert_int_equal(r.ev[1].msg_len, sizeof m1);
    assert_memory_equal(r.msg[1], m1, sizeof m1);
    assert_int_equal(r.ev[2].msg_len, sizeof m2);
    assert_memory_equal(r.msg[2], m2, sizeof m2);
    assert_int_equal(count_ev(&i, TW_SEV_MESSAGE), 1);
    assert_memory_equal(i.msg[1], m2, sizeof m2);

    /* Several frames delivered in one input give as many events, each
     * plaintext intact while the others are handed out. */
    for (unsigned k = 0; k < 5; k++) {
        uint8_t *m = make_msg(100 + k, (uint8_t)k);
        assert_int_equal(tw_sess_send(r.s, m, 100 + k, r.now), 0);
        free(m);
    }
    pump(&r, &i, NULL);
    assert_int_equal(count_ev(&i, TW_SEV_MESSAGE), 6);
    for (unsigned k = 0; k < 5; k++) {
        uint8_t *m = make_msg(100 + k, (uint8_t)k);
        assert_int_equal(i.ev[2 + k].msg_len, 100 + k);
        assert_memory_equal(i.msg[2 + k], m, 100 + k);
        free(m);
    }
    assert_int_equal(tw_sess_bytes_out(i.s), tw_sess_bytes_in(r.s));
    assert_int_equal(tw_sess_bytes_out(r.s), tw_sess_bytes_in(i.s));
    assert_false(tw_sess_closed(i.s) || tw_sess_closed(r.s));
    side_free(&i);
    side_free(&r);
}

static void test_exchange_whole(void **st) { (void)st; check_exchange(NULL); }
static void test_exchange_bytewise(void **st) { (void)st; check_exchange(ONE); }
static void test_exchange_odd_chunks(void **st) { (void)st; check_exchange(ODD); }

static void test_established_fields(void **st)
{
    (void)st;
    side i, r;
    side_opts oi = { .initiator = true, .seed = 0x31, .now = T0 + SKEW_MS, .sw = "twind 0.1.0 \x01test", .feat = 5 };
    side_opts orr = { .initiator = false, .seed = 0x32, .now = T0, .sw = "twind 0.2.0 \xe2\x80\xae\xd8\xb9",
                      .feat = 0x8000000000000001ull };
    pair(&i, &r, &oi, &orr);
    /* A little time passes on each side before the messages arrive. */
    i.now += 40;
    r.now += 20;
    converse(&i, &r, ODD);
    const tw_sess_event *ei = find_ev(&i, TW_SEV_ESTABLISHED), *er = find_ev(&r, TW_SEV_ESTABLISHED);
    assert_non_null(ei);
    assert_non_null(er);
    assert_memory_equal(ei->remote_key, r.pk, 32);
    assert_memory_equal(er->remote_key, i.pk, 32);
    assert_int_equal(ei->version, TW_PROTO_VERSION_MAX);
    assert_int_equal(er->version, TW_PROTO_VERSION_MAX);
    assert_string_equal(ei->remote_sw, "twind 0.2.0 ?\xd8\xb9");   /* bidi override replaced, Arabic kept */
    assert_string_equal(er->remote_sw, "twind 0.1.0 ?test");   /* control character replaced */
    assert_int_equal(ei->remote_features, 0x8000000000000001ull);
    assert_int_equal(er->remote_features, 5);
    /* The initiator's clock is 15 minutes ahead, less the fake delays. */
    assert_true(er->clock_offset_ms == (int64_t)SKEW_MS + 20);
    assert_true(ei->clock_offset_ms == -(int64_t)SKEW_MS - 20);
    side_free(&i);
    side_free(&r);
}

static void test_version_negotiation(void **st)
{
    (void)st;
    side i, r;
    side_opts oi = { .initiator = true, .seed = 0x11, .vmin = 1, .vmax = 3 };
    side_opts orr = { .initiator = false, .seed = 0x22, .vmin = 1, .vmax = 2 };
    pair(&i, &r, &oi, &orr);
    converse(&i, &r, NULL);
    assert_int_equal(find_ev(&i, TW_SEV_ESTABLISHED)->version, 2);
    assert_int_equal(find_ev(&r, TW_SEV_ESTABLISHED)->version, 2);
    side_free(&i);
    side_free(&r);
}

static void test_version_mismatch(void **st)
{
    (void)st;
    side i, r;
    side_opts oi = { .initiator = true, .seed = 0x11, .vmin = 2, .vmax = 3 };
    side_opts orr = { .initiator = false, .seed = 0x22, .vmin = 1, .vmax = 1 };
    pair(&i, &r, &oi, &orr);
    pump(&i, &r, ONE);
    const tw_sess_event *er = find_ev(&r, TW_SEV_CLOSED);
    assert_non_null(er);
    assert_int_equal(er->code, TW_EVERSION);
    assert_false(er->by_peer);
    assert_non_null(strstr(er->reason, "1..1"));
    assert_non_null(strstr(er->reason, "2..3"));
    assert_true(out_len(&r) > 0);          /* the refusal, in message 2 */
    pump(&r, &i, ODD);
    const tw_sess_event *ei = find_ev(&i, TW_SEV_CLOSED);
    assert_non_null(ei);
    assert_int_equal(ei->code, TW_EVERSION);
    assert_non_null(strstr(ei->reason, "1..1"));
    assert_non_null(strstr(ei->reason, "2..3"));
    assert_int_equal(out_len(&i), 0);      /* no message 3 */
    assert_int_equal(count_ev(&i, TW_SEV_ESTABLISHED), 0);
    side_free(&i);
    side_free(&r);
}

static void test_wrong_network_key(void **st)
{
    (void)st;
    side i, r;
    uint8_t other[32];
    memcpy(other, NETKEY, 32);
    other[31] ^= 1;
    side_opts oi = { .initiator = true, .seed = 0x11, .netkey = other };
    side_opts orr = { .initiator = false, .seed = 0x22 };
    pair(&i, &r, &oi, &orr);
    pump(&i, &r, ODD);
    assert_true(tw_sess_closed(r.s));
    assert_int_equal(out_len(&r), 0);
    assert_int_equal(tw_sess_bytes_out(r.s), 0);
    assert_int_equal(tw_sess_dh_count(r.s), 0);
    const tw_sess_event *er = find_ev(&r, TW_SEV_CLOSED);
    assert_non_null(er);
    assert_int_equal(er->code, TW_EDECRYPT);
    assert_non_null(strstr(er->reason, "wrong network key"));
    assert_int_equal(r.nev, 1);
    /* Nothing more is accepted. */
    assert_int_equal(tw_sess_input(r.s, (const uint8_t *)"\0\1x", 3, r.now), TW_ECLOSED);
    assert_int_equal(tw_sess_close(r.s, TW_EPROTO, "again"), TW_ECLOSED);
    drain(&r);
    assert_int_equal(r.nev, 1);
    side_free(&i);
    side_free(&r);
}

/* Flips one bit of the n-th frame from `from` (the last byte of its body)
 * before it reaches `to`. */
static void flip_and_deliver(side *from, side *to, size_t bit)
{
    size_t n = 0;
    uint8_t *p = take_output(from, &n);
    assert_true(n > 2 + bit / 8);
    p[2 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
    feed(to, p, n, ODD);
    free(p);
}

static void test_flip_msg1(void **st)
{
    (void)st;
    side i, r;
    for (size_t bit = 0; bit < 60 * 8; bit += 37) {
        pair(&i, &r, NULL, NULL);
        flip_and_deliver(&i, &r, bit);
        assert_true(tw_sess_closed(r.s));
        assert_int_equal(out_len(&r), 0);
        assert_int_equal(tw_sess_dh_count(r.s), 0);
        assert_int_equal(find_ev(&r, TW_SEV_CLOSED)->code, TW_EDECRYPT);
        side_free(&i);
        side_free(&r);
    }
}

static void test_flip_msg2(void **st)
{
    (void)st;
    side i, r;
    pair(&i, &r, NULL, NULL);
    pump(&i, &r, NULL);
    flip_and_deliver(&r, &i, 40 * 8 + 3);   /* inside the encrypted static key */
    assert_true(tw_sess_closed(i.s));
    assert_int_equal(out_len(&i), 0);
    assert_int_equal(find_ev(&i, TW_SEV_CLOSED)->code, TW_EDECRYPT);
    assert_int_equal(count_ev(&i, TW_SEV_ESTABLISHED), 0);
    side_free(&i);
    side_free(&r);
}

static void test_flip_msg3(void **st)
{
    (void)st;
    side i, r;
    pair(&i, &r, NULL, NULL);
    pump(&i, &r, NULL);
    pump(&r, &i, NULL);
    assert_true(tw_sess_established(i.s));
    flip_and_deliver(&i, &r, 60 * 8);        /* in the encrypted hello */
    assert_true(tw_sess_closed(r.s));
    assert_int_equal(out_len(&r), 0);
    assert_int_equal(find_ev(&r, TW_SEV_CLOSED)->code, TW_EDECRYPT);
    assert_int_equal(count_ev(&r, TW_SEV_ESTABLISHED), 0);
    side_free(&i);
    side_free(&r);
}

static void test_flip_transport(void **st)
{
    (void)st;
    side i, r;
    established_pair(&i, &r, NULL);
    static const uint8_t m[] = { 0x92, 0x01, 0x02 };
    assert_int_equal(tw_sess_send(i.s, m, sizeof m, i.now), 0);
    flip_and_deliver(&i, &r, 8);
    assert_true(tw_sess_closed(r.s));
    const tw_sess_event *er = find_ev(&r, TW_SEV_CLOSED);
    assert_int_equal(er->code, TW_EDECRYPT);
    assert_non_null(strstr(er->reason, "authentication"));
    assert_int_equal(count_ev(&r, TW_SEV_MESSAGE), 0);
    /* The receiver still tells the sender why. */
    pump(&r, &i, NULL);
    const tw_sess_event *ei = find_ev(&i, TW_SEV_CLOSED);
    assert_non_null(ei);
    assert_true(ei->by_peer);
    assert_non_null(strstr(ei->reason, "authentication"));
    side_free(&i);
    side_free(&r);
}

static void check_weak_e(const uint8_t e[32])
{
    side i, r;
    size_t n = 0;
    pair(&i, &r, NULL, NULL);
    pump(&i, &r, NULL);
    uint8_t *p = take_output(&r, &n);
    assert_true(n > 2 + 32);
    memcpy(p + 2, e, 32);                     /* the responder's ephemeral key */
    feed(&i, p, n, NULL);
    free(p);
    assert_true(tw_sess_closed(i.s));
    assert_int_equal(find_ev(&i, TW_SEV_CLOSED)->code, TW_EKEY);
    assert_int_equal(out_len(&i), 0);
    side_free(&i);
    side_free(&r);
}

static void test_weak_ephemeral(void **st)
{
    (void)st;
    static const uint8_t zero[32];
    static const uint8_t one[32] = { 1 };
    /* A point of order 8 on Curve25519. */
    static const uint8_t order8[32] = {
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
        0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 };
    check_weak_e(zero);
    check_weak_e(one);
    check_weak_e(order8);
}

static void test_identity_mismatch_responder(void **st)
{
    (void)st;
    side i, r;
    side_opts oi = { .initiator = true, .seed = 0x11 };
    side_opts orr = { .initiator = false, .seed = 0x22, .pk_seed = 0x33 };
    pair(&i, &r, &oi, &orr);
    converse(&i, &r, ODD);
    const tw_sess_event *ei = find_ev(&i, TW_SEV_CLOSED);
    assert_non_null(ei);
    assert_int_equal(ei->code, TW_EKEY);
    assert_non_null(strstr(ei->reason, "does not match"));
    assert_int_equal(count_ev(&i, TW_SEV_ESTABLISHED), 0);
    /* The responder hears why and never reports the connection up. */
    assert_true(tw_sess_closed(r.s));
    const tw_sess_event *er = find_ev(&r, TW_SEV_CLOSED);
    assert_non_null(er);
    assert_true(er->by_peer);
    side_free(&i);
    side_free(&r);
}

static void test_identity_mismatch_initiator(void **st)
{
    (void)st;
    side i, r;
    side_opts oi = { .initiator = true, .seed = 0x11, .pk_seed = 0x33 };
    side_opts orr = { .initiator = false, .seed = 0x22 };
    pair(&i, &r, &oi, &orr);
    converse(&i, &r, ONE);
    const tw_sess_event *er = find_ev(&r, TW_SEV_CLOSED);
    assert_non_null(er);
    assert_int_equal(er->code, TW_EKEY);
    assert_non_null(strstr(er->reason, "does not match"));
    assert_int_equal(count_ev(&r, TW_SEV_ESTABLISHED), 0);
    const tw_sess_event *ei = find_ev(&i, TW_SEV_CLOSED);
    assert_non_null(ei);
    assert_true(ei->by_peer);
    assert_non_null(strstr(ei->reason, "does not match"));
    side_free(&i);
    side_free(&r);
}

static void test_handshake_timeout(void **st)
{
    (void)st;
    side i, r;
    pair(&i, &r, NULL, NULL);
    pump(&i, &r, NULL);
    assert_int_equal(tw_sess_tick(i.s, T0 + TW_HANDSHAKE_TIMEOUT_MS - 1), 0);
    assert_int_equal(tw_sess_tick(r.s, T0 + TW_HANDSHAKE_TIMEOUT_MS - 1), 0);
    drain(&i);
    drain(&r);
    assert_false(tw_sess_closed(i.s));
    assert_false(tw_sess_closed(r.s));
    assert_int_equal(tw_sess_tick(i.s, T0 + TW_HANDSHAKE_TIMEOUT_MS), TW_ECLOSED);
    drain(&i);
    assert_int_equal(find_ev(&i, TW_SEV_CLOSED)->code, TW_ETIMEOUT);
    assert_non_null(strstr(find_ev(&i, TW_SEV_CLOSED)->reason, "within 10 s"));
    /* Input arriving at the deadline is too late as well. */
    r.now = T0 + TW_HANDSHAKE_TIMEOUT_MS;
    assert_int_equal(tw_sess_input(r.s, (const uint8_t *)"\0", 1, r.now), TW_ECLOSED);
    drain(&r);
    assert_int_equal(find_ev(&r, TW_SEV_CLOSED)->code, TW_ETIMEOUT);
    assert_int_equal(tw_sess_bytes_in(r.s), 62);   /* message 1 only */
    side_free(&i);
    side_free(&r);

    /* A handshake finished one millisecond before the deadline stands. */
    pair(&i, &r, NULL, NULL);
    i.now = r.now = T0 + TW_HANDSHAKE_TIMEOUT_MS - 1;
    converse(&i, &r, NULL);
    assert_true(tw_sess_established(i.s) && tw_sess_established(r.s));
    assert_int_equal(tw_sess_tick(i.s, T0 + TW_HANDSHAKE_TIMEOUT_MS + 5000), 0);
    side_free(&i);
    side_free(&r);
}

static void test_idle_timeout(void **st)
{
    (void)st;
    side i, r;
    established_pair(&i, &r, NULL);
    uint64_t t = i.now;
    assert_int_equal(tw_sess_tick(i.s, t + TW_IDLE_TIMEOUT_MS - 1), 0);
    drain(&i);
    assert_false(tw_sess_closed(i.s));
    assert_int_equal(tw_sess_tick(i.s, t + TW_IDLE_TIMEOUT_MS), TW_ECLOSED);
    drain(&i);
    const tw_sess_event *ei = find_ev(&i, TW_SEV_CLOSED);
    assert_int_equal(ei->code, TW_ETIMEOUT);
    assert_string_equal(ei->reason, "idle for 120 s");
    assert_int_equal(tw_sess_tick(i.s, t + TW_IDLE_TIMEOUT_MS + 1), TW_ECLOSED);
    assert_int_equal(tw_sess_send(i.s, (const uint8_t *)"\x91\x01", 2, t), TW_ESTATE);
    side_free(&i);
    side_free(&r);
}

static void test_ping(void **st)
{
    (void)st;
    side i, r;
    established_pair(&i, &r, NULL);
    uint64_t t = i.now;
    assert_int_equal(tw_sess_tick(i.s, t + TW_PING_INTERVAL_MS - 1), 0);
    assert_int_equal(out_len(&i), 0);
    i.now = t + TW_PING_INTERVAL_MS;
    assert_int_equal(tw_sess_tick(i.s, i.now), 0);
    assert_true(out_len(&i) > 0);
    /* A second tick at the same moment sends nothing more. */
    size_t n1 = out_len(&i);
    assert_int_equal(tw_sess_tick(i.s, i.now), 0);
    assert_int_equal(out_len(&i), n1);
    r.now = i.now;
    pump(&i, &r, ONE);
    assert_int_equal(r.nev, 1);            /* PING is not an event */
    assert_true(out_len(&r) > 0);          /* the PONG */
    pump(&r, &i, ODD);
    assert_int_equal(i.nev, 1);            /* nor is PONG */
    /* The PONG counted as input: the idle deadline moved. */
    assert_int_equal(tw_sess_tick(i.s, i.now + TW_IDLE_TIMEOUT_MS - 1), 0);
    assert_false(tw_sess_closed(i.s));
    side_free(&i);
    side_free(&r);

    /* Sending anything resets the ping timer. */
    established_pair(&i, &r, NULL);
    t = i.now;
    assert_int_equal(tw_sess_send(i.s, (const uint8_t *)"\x91\x01", 2, t + 20000), 0);
    tw_sess_consume_output(i.s, out_len(&i));
    assert_int_equal(tw_sess_tick(i.s, t + TW_PING_INTERVAL_MS), 0);
    assert_int_equal(out_len(&i), 0);
    assert_int_equal(tw_sess_tick(i.s, t + 20000 + TW_PING_INTERVAL_MS), 0);
    assert_true(out_len(&i) > 0);
    side_free(&i);
    side_free(&r);
}

static void test_error_from_peer(void **st)
{
    (void)st;
    side i, r;
    established_pair(&i, &r, ODD);
    assert_int_equal(tw_sess_close(r.s, TW_EREFUSED, "not admitted to this network"), 0);
    drain(&r);
    const tw_sess_event *er = find_ev(&r, TW_SEV_CLOSED);
    assert_non_null(er);
    assert_false(er->by_peer);
    assert_int_equal(er->code, TW_EREFUSED);
    assert_string_equal(er->reason, "not admitted to this network");
    assert_true(out_len(&r) > 0);          /* the ERROR, still to be written */
    pump(&r, &i, ONE);
    const tw_sess_event *ei = find_ev(&i, TW_SEV_CLOSED);
    assert_non_null(ei);
    assert_true(ei->by_peer);
    /* A refusal by policy keeps its code (the dialer backs off)... */
    assert_int_equal(ei->code, TW_EREFUSED);
    assert_string_equal(ei->reason, "peer closed: not admitted to this network");
    assert_int_equal(out_len(&i), 0);      /* no ERROR in answer to an ERROR */
    side_free(&i);
    side_free(&r);

    /* ... and so does "full" (TW_EBUSY); any other code is TW_ECLOSED. */
    static const int sent[] = { TW_EBUSY, TW_ETIMEOUT, TW_EPROTO, TW_ECLOSED };
    static const int got[] = { TW_EBUSY, TW_ECLOSED, TW_ECLOSED, TW_ECLOSED };
    for (size_t k = 0; k < sizeof sent / sizeof sent[0]; k++) {
        established_pair(&i, &r, ODD);
        assert_int_equal(tw_sess_close(r.s, sent[k], "why"), 0);
        drain(&r);
        pump(&r, &i, ONE);
        ei = find_ev(&i, TW_SEV_CLOSED);
        assert_non_null(ei);
        assert_true(ei->by_peer);
        assert_int_equal(ei->code, got[k]);
        side_free(&i);
        side_free(&r);
    }

    /* Closing before the handshake sends nothing. */
    pair(&i, &r, NULL, NULL);
    pump(&i, &r, NULL);
    tw_sess_consume_output(r.s, out_len(&r));
    assert_int_equal(tw_sess_close(r.s, TW_EPROTO, "shutting down"), 0);
    assert_int_equal(out_len(&r), 0);
    side_free(&i);
    side_free(&r);
}

static void test_oversized_preauth(void **st)
{
    (void)st;
    side i, r;
    uint8_t *big = calloc(1, TW_HANDSHAKE_MSG_MAX + 3);
    assert_non_null(big);

    pair(&i, &r, NULL, NULL);
    big[0] = (TW_HANDSHAKE_MSG_MAX + 1) >> 8;
    big[1] = (TW_HANDSHAKE_MSG_MAX + 1) & 0xff;
    feed(&r, big, 2, NULL);                 /* the header alone is enough */
    assert_true(tw_sess_closed(r.s));
    assert_int_equal(find_ev(&r, TW_SEV_CLOSED)->code, TW_ETOOBIG);
    assert_int_equal(out_len(&r), 0);
    assert_int_equal(tw_sess_dh_count(r.s), 0);
    side_free(&i);
    side_free(&r);

    /* A frame at the limit is read (and fails as the garbage it is). */
    pair(&i, &r, NULL, NULL);
    big[0] = TW_HANDSHAKE_MSG_MAX >> 8;
    big[1] = TW_HANDSHAKE_MSG_MAX & 0xff;
    feed(&r, big, TW_HANDSHAKE_MSG_MAX + 2, ODD);
    assert_int_equal(find_ev(&r, TW_SEV_CLOSED)->code, TW_EDECRYPT);
    side_free(&i);
    side_free(&r);

    /* The initiator applies the same limit to message 2. */
    pair(&i, &r, NULL, NULL);
    big[0] = (TW_HANDSHAKE_MSG_MAX + 1) >> 8;
    big[1] = (TW_HANDSHAKE_MSG_MAX + 1) & 0xff;
    tw_sess_consume_output(i.s, out_len(&i));
    feed(&i, big, 2, NULL);
    assert_int_equal(find_ev(&i, TW_SEV_CLOSED)->code, TW_ETOOBIG);
    side_free(&i);
    side_free(&r);

    /* An empty frame is refused too. */
    pair(&i, &r, NULL, NULL);
    feed(&r, (const uint8_t *)"\0\0", 2, NULL);
    assert_int_equal(find_ev(&r, TW_SEV_CLOSED)->code, TW_EPROTO);
    assert_int_equal(out_len(&r), 0);
    side_free(&i);
    side_free(&r);
    free(big);
}

static void test_garbage_first(void **st)
{
    (void)st;
    side i, r;
    uint8_t g[300];
    for (unsigned k = 0; k < 32; k++) {
        pair(&i, &r, NULL, NULL);
        randombytes_buf(g, sizeof g);
        g[0] = 0;                           /* keep the length under the pre-auth limit */
        feed(&r, g, sizeof g, k % 2 ? ODD : NULL);
        assert_true(tw_sess_closed(r.s));
        assert_int_equal(out_len(&r), 0);
        assert_int_equal(tw_sess_dh_count(r.s), 0);
        side_free(&i);
        side_free(&r);
    }
    /* Plain text, as from a confused client. */
    pair(&i, &r, NULL, NULL);
    feed(&r, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, NULL);
    assert_true(tw_sess_closed(r.s));
    assert_int_equal(find_ev(&r, TW_SEV_CLOSED)->code, TW_ETOOBIG);
    assert_int_equal(out_len(&r), 0);
    side_free(&i);
    side_free(&r);
}

static void test_large_message(void **st)
{
    (void)st;
    side i, r;
    established_pair(&i, &r, NULL);
    uint8_t *m = make_msg(TW_SESS_MSG_MAX, 0xa5);
    uint8_t *over = make_msg(TW_SESS_MSG_MAX + 1, 0xa5);
    assert_int_equal(tw_sess_send(i.s, over, TW_SESS_MSG_MAX + 1, i.now), TW_ETOOBIG);
    assert_int_equal(out_len(&i), 0);
    assert_int_equal(tw_sess_send(i.s, m, TW_SESS_MSG_MAX, i.now), 0);
    assert_int_equal(out_len(&i), TW_FRAME_MAX + 2);
    assert_int_equal(tw_sess_send(r.s, m, TW_SESS_MSG_MAX, r.now), 0);
    assert_int_equal(tw_sess_send(r.s, m, TW_SESS_MSG_MAX, r.now), 0);
    pump(&i, &r, ODD);
    pump(&r, &i, NULL);
    assert_int_equal(count_ev(&r, TW_SEV_MESSAGE), 1);
    assert_int_equal(r.ev[1].msg_len, TW_SESS_MSG_MAX);
    assert_memory_equal(r.msg[1], m, TW_SESS_MSG_MAX);
    assert_int_equal(count_ev(&i, TW_SEV_MESSAGE), 2);
    assert_memory_equal(i.msg[2], m, TW_SESS_MSG_MAX);
    side_free(&i);
    side_free(&r);
    free(m);
    free(over);
}

static void test_partial_output(void **st)
{
    (void)st;
    side i, r;
    established_pair(&i, &r, NULL);
    uint8_t *m = make_msg(5000, 0x3c);
    for (unsigned k = 0; k < 4; k++) assert_int_equal(tw_sess_send(i.s, m, 5000, i.now), 0);
    /* The caller writes the output in pieces, as a slow socket would. */
    for (unsigned k = 0; k < 1000 && out_len(&i) > 0; k++) {
        size_t n = 0;
        const uint8_t *p = tw_sess_output(i.s, &n);
        size_t w = n < 777 ? n : 777;
        uint8_t tmp[777];
        memcpy(tmp, p, w);
        tw_sess_consume_output(i.s, w);
        feed(&r, tmp, w, NULL);
    }
    assert_int_equal(count_ev(&r, TW_SEV_MESSAGE), 4);
    for (unsigned k = 1; k <= 4; k++) assert_memory_equal(r.msg[k], m, 5000);
    free(m);
    side_free(&i);
    side_free(&r);
}

/* Sends raw plaintext from a to b and checks that b closes with EPROTO. */
static void check_malformed(const uint8_t *pt, size_t n)
{
    side i, r;
    established_pair(&i, &r, NULL);
    assert_int_equal(tw_sess_send(i.s, pt, n, i.now), 0);
    pump(&i, &r, NULL);
    const tw_sess_event *er = find_ev(&r, TW_SEV_CLOSED);
    assert_non_null(er);
    assert_int_equal(er->code, TW_EPROTO);
    assert_false(er->by_peer);
    assert_int_equal(count_ev(&r, TW_SEV_MESSAGE), 0);
    pump(&r, &i, NULL);
    assert_true(find_ev(&i, TW_SEV_CLOSED)->by_peer);
    side_free(&i);
    side_free(&r);
}

static void test_malformed_messages(void **st)
{
    (void)st;
    check_malformed((const uint8_t *)"\x01", 1);              /* not an array */
    check_malformed((const uint8_t *)"\x90", 1);              /* empty array */
    check_malformed((const uint8_t *)"\x91\xa1x", 3);         /* first element a string */
    check_malformed((const uint8_t *)"\x91\xff", 2);          /* negative type */
    check_malformed((const uint8_t *)"\x91\xcd\x01", 3);      /* truncated uint16 */
    check_malformed((const uint8_t *)"\xdc\x00", 2);          /* truncated array16 */
    check_malformed((const uint8_t *)"\x91\x06", 2);          /* PING without nonce */
    check_malformed((const uint8_t *)"\x92\x06\xa1x", 4);     /* PING with a string nonce */
    check_malformed((const uint8_t *)"\x93\x07\x01\x02", 4);  /* PONG too long */
    check_malformed((const uint8_t *)"\x93\x08\x01\x02", 4);  /* ERROR text not a string */
    check_malformed((const uint8_t *)"\x93\x08\x01\xa2x", 4); /* ERROR truncated */
    check_malformed((const uint8_t *)"\x92\x06\x01\x00", 4);  /* PING with trailing bytes */

    /* Other types pass with any valid prefix encoding. */
    side i, r;
    established_pair(&i, &r, NULL);
    static const uint8_t a16[] = { 0xdc, 0x00, 0x01, 0xcd, 0x01, 0x00 };   /* [256] */
    assert_int_equal(tw_sess_send(i.s, a16, sizeof a16, i.now), 0);
    pump(&i, &r, ONE);
    assert_int_equal(count_ev(&r, TW_SEV_MESSAGE), 1);
    assert_false(tw_sess_closed(r.s));
    side_free(&i);
    side_free(&r);
}

static void test_api_edges(void **st)
{
    (void)st;
    side i, r;
    tw_sess *s = NULL;
    tw_sess_cfg c;
    uint8_t sk[64] = { 0 }, e[32] = { 0 };
    char longsw[TW_HELLO_SW_MAX + 2];

    memset(&c, 0, sizeof c);
    c.ed_sk = sk; c.netkey = NETKEY; c.e_rand = e;
    c.version_min = 1; c.version_max = 1;
    c.software = "x";
    assert_int_equal(tw_sess_new(NULL, &c), TW_EINVAL);
    c.version_min = 0;
    assert_int_equal(tw_sess_new(&s, &c), TW_EINVAL);
    c.version_min = 2;
    assert_int_equal(tw_sess_new(&s, &c), TW_EINVAL);
    c.version_min = 1;
    memset(longsw, 'a', sizeof longsw - 1);
    longsw[sizeof longsw - 1] = '\0';
    c.software = longsw;
    assert_int_equal(tw_sess_new(&s, &c), TW_EINVAL);
    longsw[TW_HELLO_SW_MAX] = '\0';
    assert_int_equal(tw_sess_new(&s, &c), 0);
    tw_sess_free(s);
    c.software = "\xff";
    assert_int_equal(tw_sess_new(&s, &c), TW_EINVAL);
    c.software = NULL;
    c.netkey = NULL;
    assert_int_equal(tw_sess_new(&s, &c), TW_EINVAL);
    tw_sess_free(NULL);

    pair(&i, &r, NULL, NULL);
    assert_int_equal(tw_sess_send(i.s, (const uint8_t *)"\x91\x01", 2, i.now), TW_ESTATE);
    assert_int_equal(tw_sess_dh_count(i.s), 1);         /* its ephemeral key */
    assert_int_equal(tw_sess_dh_count(r.s), 0);
    converse(&i, &r, NULL);
    /* XX: initiator e, ee, es... five X25519 operations on each side. */
    assert_true(tw_sess_dh_count(i.s) >= 4 && tw_sess_dh_count(r.s) >= 4);
    assert_int_equal(tw_sess_send(i.s, NULL, 0, i.now), TW_EINVAL);
    side_free(&i);
    side_free(&r);
}

/* ------------------------------------------------------ replayed message 1 */

/* Message 1 of a fresh initiator (seed, ephemeral byte, clock), framed. */
static uint8_t *msg1_of(uint8_t e_seed, uint64_t now, size_t *n)
{
    side i;
    side_opts o = { .initiator = true, .seed = 0x11, .e_seed = e_seed, .now = now };
    side_init(&i, &o);
    uint8_t *p = take_output(&i, n);
    side_free(&i);
    return p;
}

/* Feeds a framed message 1 to a new responder on clock now; returns the
 * bytes it answered with (0: none) and its close code (0: still open). */
static size_t answer_to(const uint8_t *m, size_t n, uint64_t now, tw_sess_replay *rp, int *code)
{
    side r;
    side_opts o = { .initiator = false, .seed = 0x22, .now = now, .replay = rp };
    side_init(&r, &o);
    feed(&r, m, n, NULL);
    size_t out = out_len(&r);
    const tw_sess_event *c = find_ev(&r, TW_SEV_CLOSED);
    *code = c ? c->code : 0;
    if (c) assert_int_equal(tw_sess_dh_count(r.s), 0);
    side_free(&r);
    return out;
}

/* A recorded message 1 is answered once: the same bytes again, to any
 * responder sharing the cache, get nothing back and cost no key agreement. */
static void test_replay_msg1(void **st)
{
    (void)st;
    tw_sess_replay *rp;
    size_t n;
    int code;
    assert_int_equal(tw_sess_replay_new(&rp, 8), 0);
    uint8_t *m = msg1_of(0x41, T0, &n);
    assert_int_equal(n, 62);
    assert_true(answer_to(m, n, T0 + 5, rp, &code) > 0);
    assert_int_equal(code, 0);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(answer_to(m, n, T0 + 100 + k, rp, &code), 0);
        assert_int_equal(code, TW_EEXIST);
    }
    /* Without the shared cache only the date is checked: a node must pass it. */
    assert_true(answer_to(m, n, T0 + 5, NULL, &code) > 0);
    free(m);
    /* Another ephemeral key, the same moment: a new handshake, answered. */
    m = msg1_of(0x42, T0, &n);
    assert_true(answer_to(m, n, T0 + 5, rp, &code) > 0);
    free(m);
    assert_int_equal(tw_sess_replay_count(rp), 2);
    tw_sess_replay_free(rp);
}

/* The date window, at its edges, both ways. */
static void test_msg1_window(void **st)
{
    (void)st;
    size_t n;
    int code;
    uint8_t *m = msg1_of(0x43, T0, &n);
    assert_true(answer_to(m, n, T0 + TW_HS_WINDOW_MS, NULL, &code) > 0);
    assert_int_equal(answer_to(m, n, T0 + TW_HS_WINDOW_MS + 1, NULL, &code), 0);
    assert_int_equal(code, TW_ESTALE);
    assert_true(answer_to(m, n, T0 - TW_HS_WINDOW_MS, NULL, &code) > 0);
    assert_int_equal(answer_to(m, n, T0 - TW_HS_WINDOW_MS - 1, NULL, &code), 0);
    assert_int_equal(code, TW_EFUTURE);
    free(m);
}

/* A message 1 of protocol version 1 ([1, 1], no date) gets no answer at
 * all, not even the version refusal, since it may be a recording. */
static void test_msg1_undated(void **st)
{
    (void)st;
    uint8_t seed[32], sk[64], pk[32], x_priv[32], e[32], frame[2 + 128];
    struct tw_noise_params p;
    tw_noise_hs *hs;
    size_t len = 0;
    int code;
    memset(seed, 0x11, sizeof seed);
    memset(e, 0x77, sizeof e);
    crypto_sign_seed_keypair(pk, sk, seed);
    crypto_sign_ed25519_sk_to_curve25519(x_priv, sk);
    memset(&p, 0, sizeof p);
    p.protocol = "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b";
    p.initiator = true;
    p.prologue = (const uint8_t *)"twin-wire";
    p.prologue_len = 9;
    p.s_priv = x_priv;
    p.psks = NETKEY;
    p.psk_count = 1;
    p.e_priv = e;
    assert_int_equal(tw_noise_hs_new(&hs, &p), 0);
    static const uint8_t v1[] = { 0x92, 0x01, 0x01 };
    assert_int_equal(tw_noise_hs_write(hs, v1, sizeof v1, frame + 2, sizeof frame - 2, &len), 0);
    tw_noise_hs_free(hs);
    frame[0] = (uint8_t)(len >> 8);
    frame[1] = (uint8_t)len;
    assert_int_equal(answer_to(frame, len + 2, T0, NULL, &code), 0);
    assert_int_equal(code, TW_EVERSION);
}

/* The cache at its bound: the oldest date gives way and becomes the floor,
 * so nothing forgotten can pass again. */
static void test_replay_cache_bound(void **st)
{
    (void)st;
    tw_sess_replay *rp;
    uint8_t e[6][32];
    const char *why;
    uint64_t now = T0;
    for (int k = 0; k < 6; k++) memset(e[k], k + 1, 32);
    assert_int_equal(tw_sess_replay_new(&rp, 4), 0);
    for (int k = 0; k < 4; k++) assert_int_equal(tw_sess_replay_check(rp, e[k], now + 10 * (k + 1), now, &why), 0);
    assert_int_equal(tw_sess_replay_count(rp), 4);
    assert_int_equal(tw_sess_replay_floor(rp), 0);
    /* A fifth: the one dated now+10 is forgotten, and the floor takes its date. */
    assert_int_equal(tw_sess_replay_check(rp, e[4], now + 50, now, &why), 0);
    assert_int_equal(tw_sess_replay_count(rp), 4);
    assert_int_equal(tw_sess_replay_floor(rp), now + 10);
    assert_int_equal(tw_sess_replay_check(rp, e[0], now + 10, now, &why), TW_ESTALE);   /* the forgotten one */
    assert_non_null(strstr(why, "older than"));
    assert_int_equal(tw_sess_replay_check(rp, e[1], now + 20, now, &why), TW_EEXIST);   /* still remembered */
    assert_int_equal(tw_sess_replay_check(rp, e[5], now + 10, now, &why), TW_ESTALE);   /* at the floor */
    /* Older than every remembered date but above the floor: accepted, and
     * remembered by the floor alone. */
    assert_int_equal(tw_sess_replay_check(rp, e[5], now + 11, now, &why), 0);
    assert_int_equal(tw_sess_replay_floor(rp), now + 11);
    assert_int_equal(tw_sess_replay_check(rp, e[5], now + 11, now, &why), TW_ESTALE);
    tw_sess_replay_free(rp);
    assert_int_equal(tw_sess_replay_new(&rp, 0), TW_EINVAL);
    assert_null(rp);
    tw_sess_replay_free(NULL);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exchange_whole),
        cmocka_unit_test(test_exchange_bytewise),
        cmocka_unit_test(test_exchange_odd_chunks),
        cmocka_unit_test(test_established_fields),
        cmocka_unit_test(test_version_negotiation),
        cmocka_unit_test(test_version_mismatch),
        cmocka_unit_test(test_wrong_network_key),
        cmocka_unit_test(test_flip_msg1),
        cmocka_unit_test(test_replay_msg1),
        cmocka_unit_test(test_msg1_window),
        cmocka_unit_test(test_msg1_undated),
        cmocka_unit_test(test_replay_cache_bound),
        cmocka_unit_test(test_flip_msg2),
        cmocka_unit_test(test_flip_msg3),
        cmocka_unit_test(test_flip_transport),
        cmocka_unit_test(test_weak_ephemeral),
        cmocka_unit_test(test_identity_mismatch_responder),
        cmocka_unit_test(test_identity_mismatch_initiator),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_ping),
        cmocka_unit_test(test_error_from_peer),
        cmocka_unit_test(test_oversized_preauth),
        cmocka_unit_test(test_garbage_first),
        cmocka_unit_test(test_large_message),
        cmocka_unit_test(test_partial_output),
        cmocka_unit_test(test_malformed_messages),
        cmocka_unit_test(test_api_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
