/*
 * Tests of proto/noise.c.  Every vector in
 * tests/vectors/noise-25519-chachapoly-blake2b.json (or the file named by
 * TW_VECTORS) becomes one test case that runs both sides and compares every
 * message byte for byte; the remaining cases attack the state machine.
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
#include "twin/noise.h"

#define VECTORS_DEFAULT "tests/vectors/noise-25519-chachapoly-blake2b.json"
#define VECTORS_FILE_MAX (4u << 20)   /* a vector file larger than this is not ours */
#define JSON_DEPTH_MAX   16
#define VEC_HEX_MAX      4096u        /* bytes of one decoded hex field */
#define VEC_TEST_MAX     256u         /* vectors run from one file */

static const char XXPSK0[] = "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b";
static const char PROLOGUE[] = "twin/1";

/* ---- a minimal JSON reader, enough for the vector file ---- */

enum { J_NULL, J_OBJ, J_ARR, J_STR, J_LIT };

struct jv {
    int         type;
    char       *s;          /* J_STR: decoded text; J_LIT: the literal */
    size_t      count;      /* J_OBJ, J_ARR */
    char      **keys;       /* J_OBJ */
    struct jv  *items;
};

struct jp {
    const char *p, *end;
};

static void skip_ws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static char *parse_str(struct jp *j)
{
    const char *start;
    char *out;
    size_t n = 0;

    if (j->p >= j->end || *j->p != '"') return NULL;
    start = ++j->p;
    while (j->p < j->end && *j->p != '"') {
        if (*j->p == '\\') j->p++;
        j->p++;
    }
    if (j->p >= j->end) return NULL;
    out = malloc((size_t)(j->p - start) + 1);
    if (!out) return NULL;
    /* Escapes other than \" and \\ do not occur in hex fields; they are
     * kept as their second character, which is enough for names. */
    for (const char *q = start; q < j->p; q++) {
        if (*q == '\\') q++;
        out[n++] = *q;
    }
    out[n] = '\0';
    j->p++;
    return out;
}

static int parse_value(struct jp *j, struct jv *v, int depth)
{
    memset(v, 0, sizeof *v);
    skip_ws(j);
    if (j->p >= j->end || depth > JSON_DEPTH_MAX) return -1;
    if (*j->p == '"') {
        v->type = J_STR;
        v->s = parse_str(j);
        return v->s ? 0 : -1;
    }
    if (*j->p == '{' || *j->p == '[') {
        int obj = *j->p == '{';
        char close = obj ? '}' : ']';

        v->type = obj ? J_OBJ : J_ARR;
        j->p++;
        skip_ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return 0;
        }
        for (;;) {
            struct jv *items = realloc(v->items, (v->count + 1) * sizeof *items);
            char **keys = obj ? realloc(v->keys, (v->count + 1) * sizeof *keys) : NULL;

            if (!items || (obj && !keys)) return -1;
            v->items = items;
            if (obj) {
                v->keys = keys;
                skip_ws(j);
                if (!(keys[v->count] = parse_str(j))) return -1;
                skip_ws(j);
                if (j->p >= j->end || *j->p != ':') return -1;
                j->p++;
            }
            if (parse_value(j, &items[v->count], depth + 1)) return -1;
            v->count++;
            skip_ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == close) {
                j->p++;
                return 0;
            }
            return -1;
        }
    }
    {
        const char *start = j->p;

        while (j->p < j->end && !strchr(",]} \n\r\t", *j->p)) j->p++;
        if (j->p == start) return -1;
        v->type = J_LIT;
        v->s = strndup(start, (size_t)(j->p - start));
        return v->s ? 0 : -1;
    }
}

static const struct jv *jget(const struct jv *obj, const char *key)
{
    size_t i;

    if (!obj || obj->type != J_OBJ) return NULL;
    for (i = 0; i < obj->count; i++) {
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    }
    return NULL;
}

/* Decodes a hex string field into out; returns its length. */
static size_t hexfield(const struct jv *v, uint8_t *out, size_t cap)
{
    size_t len = 0;

    assert_non_null(v);
    assert_int_equal(v->type, J_STR);
    assert_int_equal(sodium_hex2bin(out, cap, v->s, strlen(v->s), NULL, &len, NULL), 0);
    return len;
}

static struct jv g_root;

static int load_vectors(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;
    struct jp j;
    int rc;

    if (!f) return -1;
    buf = malloc(VECTORS_FILE_MAX);
    if (!buf) {
        fclose(f);
        return -1;
    }
    n = fread(buf, 1, VECTORS_FILE_MAX, f);
    fclose(f);
    j.p = buf;
    j.end = buf + n;
    rc = n < VECTORS_FILE_MAX ? parse_value(&j, &g_root, 0) : -1;
    free(buf);
    return rc;
}

/* ---- running one vector ---- */

struct side {
    uint8_t prologue[VEC_HEX_MAX], e[32], s[32], rs[32], psks[TW_NOISE_PSK_MAX * 32];
    size_t prologue_len, npsk;
    int has_s, has_rs;
    struct tw_noise_params p;
};

static void load_side(const struct jv *v, const char *who, struct side *sd, const char *proto,
                      int initiator)
{
    char key[64];
    const struct jv *f;

    memset(sd, 0, sizeof *sd);
    snprintf(key, sizeof key, "%s_prologue", who);
    sd->prologue_len = hexfield(jget(v, key), sd->prologue, sizeof sd->prologue);
    snprintf(key, sizeof key, "%s_ephemeral", who);
    assert_int_equal(hexfield(jget(v, key), sd->e, 32), 32);
    snprintf(key, sizeof key, "%s_static", who);
    if ((f = jget(v, key)) != NULL) {
        assert_int_equal(hexfield(f, sd->s, 32), 32);
        sd->has_s = 1;
    }
    snprintf(key, sizeof key, "%s_remote_static", who);
    if ((f = jget(v, key)) != NULL) {
        assert_int_equal(hexfield(f, sd->rs, 32), 32);
        sd->has_rs = 1;
    }
    snprintf(key, sizeof key, "%s_psks", who);
    if ((f = jget(v, key)) != NULL) {
        assert_int_equal(f->type, J_ARR);
        assert_true(f->count <= TW_NOISE_PSK_MAX);
        for (size_t i = 0; i < f->count; i++)
            assert_int_equal(hexfield(&f->items[i], sd->psks + 32 * i, 32), 32);
        sd->npsk = f->count;
    }
    sd->p.protocol = proto;
    sd->p.initiator = initiator;
    sd->p.prologue = sd->prologue;
    sd->p.prologue_len = sd->prologue_len;
    sd->p.s_priv = sd->has_s ? sd->s : NULL;
    sd->p.rs_pub = sd->has_rs ? sd->rs : NULL;
    sd->p.psks = sd->npsk ? sd->psks : NULL;
    sd->p.psk_count = sd->npsk;
    sd->p.e_priv = sd->e;
}

static uint8_t g_out[TW_FRAME_MAX], g_back[TW_FRAME_MAX];

static void run_vector(void **state)
{
    const struct jv *v = *state;
    const struct jv *msgs = jget(v, "messages"), *hhf = jget(v, "handshake_hash");
    const char *proto = jget(v, "protocol_name")->s;
    struct side *si = calloc(1, sizeof *si), *sr = calloc(1, sizeof *sr);
    tw_noise_hs *hi = NULL, *hr = NULL;
    tw_noise_cs *itx = NULL, *irx = NULL, *rtx = NULL, *rrx = NULL;
    uint8_t *payload = malloc(VEC_HEX_MAX), *ct = malloc(VEC_HEX_MAX);
    size_t i, hs_msgs = 0;

    assert_non_null(si);
    assert_non_null(sr);
    assert_non_null(payload);
    assert_non_null(ct);
    load_side(v, "init", si, proto, 1);
    load_side(v, "resp", sr, proto, 0);
    assert_int_equal(tw_noise_hs_new(&hi, &si->p), 0);
    assert_int_equal(tw_noise_hs_new(&hr, &sr->p), 0);
    assert_non_null(msgs);
    assert_int_equal(msgs->type, J_ARR);

    for (i = 0; i < msgs->count; i++) {
        size_t plen = hexfield(jget(&msgs->items[i], "payload"), payload, VEC_HEX_MAX);
        size_t clen = hexfield(jget(&msgs->items[i], "ciphertext"), ct, VEC_HEX_MAX);
        int from_init = (i % 2) == 0;
        size_t outlen = 0, backlen = 0;

        if (!tw_noise_hs_complete(hi)) {
            tw_noise_hs *w = from_init ? hi : hr, *r = from_init ? hr : hi;

            assert_true(tw_noise_hs_my_turn(w));
            assert_false(tw_noise_hs_my_turn(r));
            assert_int_equal(tw_noise_hs_write(w, payload, plen, g_out, sizeof g_out, &outlen), 0);
            assert_int_equal(outlen, clen);
            assert_memory_equal(g_out, ct, clen);
            assert_int_equal(tw_noise_hs_read(r, g_out, outlen, g_back, sizeof g_back, &backlen), 0);
            assert_int_equal(backlen, plen);
            if (plen) assert_memory_equal(g_back, payload, plen);
            hs_msgs++;
            if (tw_noise_hs_complete(hi)) {
                uint8_t h1[TW_NOISE_HASHLEN], h2[TW_NOISE_HASHLEN], want[TW_NOISE_HASHLEN];

                assert_true(tw_noise_hs_complete(hr));
                assert_int_equal(tw_noise_hs_handshake_hash(hi, h1), 0);
                assert_int_equal(tw_noise_hs_handshake_hash(hr, h2), 0);
                assert_memory_equal(h1, h2, sizeof h1);
                if (hhf) {
                    assert_int_equal(hexfield(hhf, want, sizeof want), TW_NOISE_HASHLEN);
                    assert_memory_equal(h1, want, sizeof want);
                }
                assert_int_equal(tw_noise_hs_split(hi, &itx, &irx), 0);
                assert_int_equal(tw_noise_hs_split(hr, &rtx, &rrx), 0);
            }
        } else {
            tw_noise_cs *tx = from_init ? itx : rtx, *rx = from_init ? rrx : irx;

            assert_int_equal(tw_noise_cs_encrypt(tx, payload, plen, g_out, sizeof g_out, &outlen), 0);
            assert_int_equal(outlen, clen);
            assert_memory_equal(g_out, ct, clen);
            assert_int_equal(tw_noise_cs_decrypt(rx, g_out, outlen, g_back, sizeof g_back, &backlen), 0);
            assert_int_equal(backlen, plen);
            if (plen) assert_memory_equal(g_back, payload, plen);
        }
    }
    /* Each vector must finish its handshake and go on to transport. */
    assert_true(tw_noise_hs_complete(hi));
    assert_true(hs_msgs < msgs->count);
    print_message("%s: %zu handshake + %zu transport messages%s\n", proto, hs_msgs,
                  msgs->count - hs_msgs, hhf ? ", handshake hash checked" : "");

    tw_noise_cs_free(itx);
    tw_noise_cs_free(irx);
    tw_noise_cs_free(rtx);
    tw_noise_cs_free(rrx);
    tw_noise_hs_free(hi);
    tw_noise_hs_free(hr);
    free(si);
    free(sr);
    free(payload);
    free(ct);
}

static void vectors_missing(void **state)
{
    fail_msg("cannot read or parse the Noise vector file");
}

/* ---- fixed keys for the attack tests ---- */

static uint8_t K_IS[32], K_RS[32], K_IE[32], K_RE[32], K_PSK[32], K_PSK2[32], K_RS_PUB[32];

static int init_keys(void **state)
{
    memset(K_IS, 0x11, 32);
    memset(K_RS, 0x22, 32);
    memset(K_IE, 0x33, 32);
    memset(K_RE, 0x44, 32);
    memset(K_PSK, 0x55, 32);
    memset(K_PSK2, 0x56, 32);
    return crypto_scalarmult_base(K_RS_PUB, K_RS);
}

static tw_noise_hs *mk(const char *proto, int initiator, const uint8_t *psk)
{
    struct tw_noise_params p;
    tw_noise_hs *hs = NULL;

    memset(&p, 0, sizeof p);
    p.protocol = proto;
    p.initiator = initiator;
    p.prologue = (const uint8_t *)PROLOGUE;
    p.prologue_len = sizeof PROLOGUE - 1;
    p.s_priv = initiator ? K_IS : K_RS;
    p.rs_pub = K_RS_PUB;
    p.psks = psk;
    p.psk_count = psk ? 1 : 0;
    p.e_priv = initiator ? K_IE : K_RE;
    assert_int_equal(tw_noise_hs_new(&hs, &p), 0);
    return hs;
}

/* Passes count handshake messages from whichever side's turn it is. */
static void exchange(tw_noise_hs *i, tw_noise_hs *r, unsigned count)
{
    static const uint8_t hello[] = "hello";
    size_t n, pl;

    for (unsigned k = 0; k < count; k++) {
        tw_noise_hs *w = tw_noise_hs_my_turn(i) ? i : r, *rd = w == i ? r : i;

        assert_int_equal(tw_noise_hs_write(w, hello, 5, g_out, sizeof g_out, &n), 0);
        assert_int_equal(tw_noise_hs_read(rd, g_out, n, g_back, sizeof g_back, &pl), 0);
        assert_int_equal(pl, 5);
    }
}

static void test_xxpsk0_roundtrip(void **state)
{
    tw_noise_hs *i = mk(XXPSK0, 1, K_PSK), *r = mk(XXPSK0, 0, K_PSK);
    uint8_t rs[32], ipub[32];

    exchange(i, r, 3);
    assert_true(tw_noise_hs_complete(i));
    assert_true(tw_noise_hs_complete(r));
    assert_int_equal(tw_noise_hs_remote_static(i, rs), 0);
    assert_memory_equal(rs, K_RS_PUB, 32);
    assert_int_equal(crypto_scalarmult_base(ipub, K_IS), 0);
    assert_int_equal(tw_noise_hs_remote_static(r, rs), 0);
    assert_memory_equal(rs, ipub, 32);
    /* Each side: its e and s public keys, then ee, es and se. */
    assert_int_equal(tw_noise_hs_dh_count(i), 5);
    assert_int_equal(tw_noise_hs_dh_count(r), 5);
    tw_noise_hs_free(i);
    tw_noise_hs_free(r);
}

static void test_flipped_bits_abort(void **state)
{
    unsigned total = 0;

    for (unsigned m = 0; m < 3; m++) {
        size_t len;

        {
            /* Learn the length of message m once. */
            tw_noise_hs *i = mk(XXPSK0, 1, K_PSK), *r = mk(XXPSK0, 0, K_PSK);
            tw_noise_hs *w;

            exchange(i, r, m);
            w = tw_noise_hs_my_turn(i) ? i : r;
            assert_int_equal(tw_noise_hs_write(w, (const uint8_t *)"hello", 5, g_out,
                                               sizeof g_out, &len), 0);
            tw_noise_hs_free(i);
            tw_noise_hs_free(r);
        }
        for (size_t byte = 0; byte < len; byte++) {
            for (unsigned bit = 0; bit < 8; bit++) {
                tw_noise_hs *i = mk(XXPSK0, 1, K_PSK), *r = mk(XXPSK0, 0, K_PSK), *w, *rd;
                size_t n, pl;

                exchange(i, r, m);
                w = tw_noise_hs_my_turn(i) ? i : r;
                rd = w == i ? r : i;
                assert_int_equal(tw_noise_hs_write(w, (const uint8_t *)"hello", 5, g_out,
                                                   sizeof g_out, &n), 0);
                g_out[byte] ^= (uint8_t)(1u << bit);
                assert_int_equal(tw_noise_hs_read(rd, g_out, n, g_back, sizeof g_back, &pl),
                                 TW_EDECRYPT);
                assert_true(tw_noise_hs_failed(rd));
                assert_false(tw_noise_hs_my_turn(rd));
                assert_int_equal(tw_noise_hs_write(rd, NULL, 0, g_out, sizeof g_out, &n), TW_ESTATE);
                assert_int_equal(tw_noise_hs_read(rd, g_out, n, g_back, sizeof g_back, &pl), TW_ESTATE);
                tw_noise_hs_free(i);
                tw_noise_hs_free(r);
                total++;
            }
        }
    }
    print_message("%u single-bit flips rejected\n", total);
}

static void test_wrong_psk_no_dh(void **state)
{
    tw_noise_hs *i = mk(XXPSK0, 1, K_PSK2), *r = mk(XXPSK0, 0, K_PSK);
    size_t n, pl;

    assert_int_equal(tw_noise_hs_write(i, NULL, 0, g_out, sizeof g_out, &n), 0);
    assert_int_equal(tw_noise_hs_read(r, g_out, n, g_back, sizeof g_back, &pl), TW_EDECRYPT);
    assert_int_equal(tw_noise_hs_dh_count(r), 0);
    assert_true(tw_noise_hs_failed(r));
    assert_int_equal(tw_noise_hs_write(r, NULL, 0, g_out, sizeof g_out, &n), TW_ESTATE);
    assert_int_equal(tw_noise_hs_dh_count(r), 0);
    tw_noise_hs_free(i);
    tw_noise_hs_free(r);

    /* With the right key the responder still has done no DH after message 1. */
    i = mk(XXPSK0, 1, K_PSK);
    r = mk(XXPSK0, 0, K_PSK);
    assert_int_equal(tw_noise_hs_write(i, NULL, 0, g_out, sizeof g_out, &n), 0);
    assert_int_equal(tw_noise_hs_read(r, g_out, n, g_back, sizeof g_back, &pl), 0);
    assert_int_equal(tw_noise_hs_dh_count(r), 0);
    tw_noise_hs_free(i);
    tw_noise_hs_free(r);
}

static const uint8_t SMALL_ORDER[][32] = {
    { 0 },
    { 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
      0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 },
};

static void test_weak_remote_e(void **state)
{
    for (size_t k = 0; k < sizeof SMALL_ORDER / sizeof SMALL_ORDER[0]; k++) {
        /* The initiator meets the weak key in message 2, at the ee token,
         * before anything is decrypted. */
        const char *protos[] = { XXPSK0, "Noise_XX_25519_ChaChaPoly_BLAKE2b" };

        for (size_t pi = 0; pi < 2; pi++) {
            tw_noise_hs *i = mk(protos[pi], 1, pi == 0 ? K_PSK : NULL);
            uint8_t msg[200];
            size_t n, pl;

            assert_int_equal(tw_noise_hs_write(i, NULL, 0, g_out, sizeof g_out, &n), 0);
            memset(msg, 0xa5, sizeof msg);
            memcpy(msg, SMALL_ORDER[k], 32);
            assert_int_equal(tw_noise_hs_read(i, msg, sizeof msg, g_back, sizeof g_back, &pl),
                             TW_EKEY);
            assert_true(tw_noise_hs_failed(i));
            tw_noise_hs_free(i);
        }
        {
            /* An NN responder reads an unauthenticated e and meets it when
             * it writes message 2. */
            tw_noise_hs *r = mk("Noise_NN_25519_ChaChaPoly_BLAKE2b", 0, NULL);
            size_t n, pl;

            assert_int_equal(tw_noise_hs_read(r, SMALL_ORDER[k], 32, g_back, sizeof g_back, &pl), 0);
            assert_int_equal(tw_noise_hs_write(r, NULL, 0, g_out, sizeof g_out, &n), TW_EKEY);
            assert_true(tw_noise_hs_failed(r));
            assert_int_equal(n, 0);
            tw_noise_hs_free(r);
        }
    }
}

static void test_out_of_turn(void **state)
{
    tw_noise_hs *i = mk(XXPSK0, 1, K_PSK), *r = mk(XXPSK0, 0, K_PSK);
    tw_noise_cs *tx, *rx;
    uint8_t h[TW_NOISE_HASHLEN], rs[32];
    size_t n, pl;

    assert_int_equal(tw_noise_hs_read(i, g_out, 100, g_back, sizeof g_back, &pl), TW_ESTATE);
    assert_int_equal(tw_noise_hs_write(r, NULL, 0, g_out, sizeof g_out, &n), TW_ESTATE);
    assert_int_equal(tw_noise_hs_split(i, &tx, &rx), TW_ESTATE);
    assert_int_equal(tw_noise_hs_handshake_hash(i, h), TW_ESTATE);
    assert_int_equal(tw_noise_hs_remote_static(i, rs), TW_ESTATE);
    /* A caller's mistake does not spoil the handshake. */
    assert_false(tw_noise_hs_failed(i));
    assert_false(tw_noise_hs_failed(r));
    exchange(i, r, 1);
    assert_int_equal(tw_noise_hs_write(i, NULL, 0, g_out, sizeof g_out, &n), TW_ESTATE);
    exchange(i, r, 2);
    assert_int_equal(tw_noise_hs_write(i, NULL, 0, g_out, sizeof g_out, &n), TW_ESTATE);
    assert_int_equal(tw_noise_hs_read(r, g_out, 64, g_back, sizeof g_back, &pl), TW_ESTATE);
    assert_int_equal(tw_noise_hs_split(i, &tx, &rx), 0);
    assert_int_equal(tw_noise_hs_split(i, &tx, &rx), TW_ESTATE);
    tw_noise_cs_free(tx);
    tw_noise_cs_free(rx);
    tw_noise_hs_free(i);
    tw_noise_hs_free(r);
}

static void test_sizes(void **state)
{
    static uint8_t big[TW_FRAME_MAX + 1];
    tw_noise_hs *i = mk(XXPSK0, 1, K_PSK), *r = mk(XXPSK0, 0, K_PSK);
    size_t n, pl;

    /* Message 1 of XXpsk0 is e (32) + payload + tag (16). */
    assert_int_equal(tw_noise_hs_write(i, big, TW_FRAME_MAX - 47, g_out, sizeof g_out, &n), TW_ETOOBIG);
    assert_int_equal(tw_noise_hs_write(i, big, 10, g_out, 57, &n), TW_ETOOBIG);
    assert_false(tw_noise_hs_failed(i));
    assert_int_equal(tw_noise_hs_write(i, big, TW_FRAME_MAX - 48, g_out, sizeof g_out, &n), 0);
    assert_int_equal(n, TW_FRAME_MAX);
    /* A payload buffer that is too small leaves the state as it was. */
    assert_int_equal(tw_noise_hs_read(r, g_out, n, g_back, 100, &pl), TW_ETOOBIG);
    assert_false(tw_noise_hs_failed(r));
    assert_int_equal(tw_noise_hs_read(r, g_out, n, g_back, sizeof g_back, &pl), 0);
    assert_int_equal(pl, TW_FRAME_MAX - 48);
    tw_noise_hs_free(i);
    tw_noise_hs_free(r);

    r = mk(XXPSK0, 0, K_PSK);
    assert_int_equal(tw_noise_hs_read(r, big, sizeof big, g_back, sizeof g_back, &pl), TW_ETOOBIG);
    assert_true(tw_noise_hs_failed(r));
    tw_noise_hs_free(r);
    r = mk(XXPSK0, 0, K_PSK);
    assert_int_equal(tw_noise_hs_read(r, big, 47, g_back, sizeof g_back, &pl), TW_ETRUNC);
    assert_true(tw_noise_hs_failed(r));
    assert_int_equal(tw_noise_hs_dh_count(r), 0);
    tw_noise_hs_free(r);
}

static void pair(tw_noise_cs **itx, tw_noise_cs **irx, tw_noise_cs **rtx, tw_noise_cs **rrx)
{
    tw_noise_hs *i = mk(XXPSK0, 1, K_PSK), *r = mk(XXPSK0, 0, K_PSK);

    exchange(i, r, 3);
    assert_int_equal(tw_noise_hs_split(i, itx, irx), 0);
    assert_int_equal(tw_noise_hs_split(r, rtx, rrx), 0);
    tw_noise_hs_free(i);
    tw_noise_hs_free(r);
}

static void test_transport(void **state)
{
    static uint8_t pt[TW_FRAME_MAX + 1], c1[TW_FRAME_MAX], c2[TW_FRAME_MAX];
    tw_noise_cs *itx, *irx, *rtx, *rrx;
    size_t n1, n2, pl;

    pair(&itx, &irx, &rtx, &rrx);
    memset(pt, 'x', sizeof pt);
    assert_int_equal(tw_noise_cs_nonce(itx), 0);
    assert_int_equal(tw_noise_cs_encrypt(itx, pt, 20, c1, sizeof c1, &n1), 0);
    assert_int_equal(tw_noise_cs_nonce(itx), 1);
    assert_int_equal(tw_noise_cs_encrypt(itx, pt, 20, c2, sizeof c2, &n2), 0);
    assert_int_equal(tw_noise_cs_nonce(itx), 2);
    assert_int_equal(n1, 36);
    assert_memory_not_equal(c1, c2, n1);

    /* Each direction has its own key: the sender cannot read itself. */
    assert_int_equal(tw_noise_cs_decrypt(rrx, c1, n1, g_back, sizeof g_back, &pl), 0);
    assert_int_equal(pl, 20);
    assert_int_equal(tw_noise_cs_nonce(rrx), 1);
    /* A replay of message 0 fails, and the state is then dead. */
    assert_int_equal(tw_noise_cs_decrypt(rrx, c1, n1, g_back, sizeof g_back, &pl), TW_EDECRYPT);
    assert_int_equal(tw_noise_cs_decrypt(rrx, c2, n2, g_back, sizeof g_back, &pl), TW_ESTATE);

    /* Largest frame, and one byte more. */
    assert_int_equal(tw_noise_cs_encrypt(rtx, pt, TW_NOISE_PLAINTEXT_MAX + 1, c1, sizeof c1, &n1),
                     TW_ETOOBIG);
    assert_int_equal(tw_noise_cs_encrypt(rtx, pt, 20, c1, 35, &n1), TW_ETOOBIG);
    assert_int_equal(tw_noise_cs_nonce(rtx), 0);
    assert_int_equal(tw_noise_cs_encrypt(rtx, pt, TW_NOISE_PLAINTEXT_MAX, c1, sizeof c1, &n1), 0);
    assert_int_equal(n1, TW_FRAME_MAX);
    assert_int_equal(tw_noise_cs_decrypt(irx, c1, n1, g_back, sizeof g_back, &pl), 0);
    assert_int_equal(pl, TW_NOISE_PLAINTEXT_MAX);
    assert_int_equal(tw_noise_cs_decrypt(irx, pt, TW_FRAME_MAX + 1, g_back, sizeof g_back, &pl),
                     TW_ETOOBIG);
    assert_int_equal(tw_noise_cs_decrypt(irx, pt, 15, g_back, sizeof g_back, &pl), TW_ETRUNC);

    /* The nonce only moves forward, and 2^64-1 is never used. */
    assert_int_equal(tw_noise_cs_set_nonce(rtx, 0), TW_EINVAL);
    assert_int_equal(tw_noise_cs_set_nonce(rtx, UINT64_MAX - 1), 0);
    assert_int_equal(tw_noise_cs_encrypt(rtx, pt, 1, c1, sizeof c1, &n1), 0);
    assert_int_equal(tw_noise_cs_nonce(rtx), UINT64_MAX);
    assert_int_equal(tw_noise_cs_encrypt(rtx, pt, 1, c1, sizeof c1, &n1), TW_ETOOBIG);
    assert_int_equal(tw_noise_cs_set_nonce(irx, UINT64_MAX - 1), 0);
    assert_int_equal(tw_noise_cs_decrypt(irx, c1, 17, g_back, sizeof g_back, &pl), 0);
    assert_int_equal(tw_noise_cs_decrypt(irx, c1, 17, g_back, sizeof g_back, &pl), TW_ETOOBIG);

    tw_noise_cs_free(itx);
    tw_noise_cs_free(irx);
    tw_noise_cs_free(rtx);
    tw_noise_cs_free(rrx);
    tw_noise_cs_free(NULL);
}

static void test_ed25519_identity(void **state)
{
    uint8_t seed[32], ipk[32], isk[64], rpk[32], rsk[64];
    uint8_t ix[32], ixp[32], rx_[32], rxp[32], chk[32], rs[32], h1[64], h2[64];
    struct tw_noise_params p;
    tw_noise_hs *i = NULL, *r = NULL;

    memset(seed, 0x61, sizeof seed);
    crypto_sign_seed_keypair(ipk, isk, seed);
    memset(seed, 0x62, sizeof seed);
    crypto_sign_seed_keypair(rpk, rsk, seed);
    assert_int_equal(tw_noise_keypair_from_ed25519(ix, ixp, isk, ipk), 0);
    assert_int_equal(tw_noise_keypair_from_ed25519(rx_, rxp, rsk, rpk), 0);
    assert_int_equal(crypto_scalarmult_base(chk, ix), 0);
    assert_memory_equal(chk, ixp, 32);

    memset(&p, 0, sizeof p);
    p.protocol = XXPSK0;
    p.prologue = (const uint8_t *)PROLOGUE;
    p.prologue_len = sizeof PROLOGUE - 1;
    p.psks = K_PSK;
    p.psk_count = 1;
    p.initiator = 1;
    p.s_priv = ix;
    p.e_priv = K_IE;
    assert_int_equal(tw_noise_hs_new(&i, &p), 0);
    p.initiator = 0;
    p.s_priv = rx_;
    p.e_priv = K_RE;
    assert_int_equal(tw_noise_hs_new(&r, &p), 0);
    exchange(i, r, 3);

    assert_int_equal(tw_noise_hs_remote_static(r, rs), 0);
    assert_int_equal(tw_noise_pub_from_ed25519(chk, ipk), 0);
    assert_memory_equal(rs, chk, 32);
    assert_int_equal(tw_noise_hs_remote_static(i, rs), 0);
    assert_int_equal(tw_noise_pub_from_ed25519(chk, rpk), 0);
    assert_memory_equal(rs, chk, 32);
    assert_int_equal(tw_noise_hs_handshake_hash(i, h1), 0);
    assert_int_equal(tw_noise_hs_handshake_hash(r, h2), 0);
    assert_memory_equal(h1, h2, 64);
    tw_noise_hs_free(i);
    tw_noise_hs_free(r);

    /* NN has no static key to report. */
    i = mk("Noise_NN_25519_ChaChaPoly_BLAKE2b", 1, NULL);
    r = mk("Noise_NN_25519_ChaChaPoly_BLAKE2b", 0, NULL);
    exchange(i, r, 2);
    assert_int_equal(tw_noise_hs_remote_static(i, rs), TW_ENOTFOUND);
    tw_noise_hs_free(i);
    tw_noise_hs_free(r);
}

static void test_bad_params(void **state)
{
    static const char *bad[] = {
        "Noise_XXpsk4_25519_ChaChaPoly_BLAKE2b",
        "Noise_XXpsk0+psk0_25519_ChaChaPoly_BLAKE2b",
        "Noise_XXpsk1+psk0_25519_ChaChaPoly_BLAKE2b",
        "Noise_NNpsk3_25519_ChaChaPoly_BLAKE2b",
        "Noise_XXpsk_25519_ChaChaPoly_BLAKE2b",
        "Noise_XXpsk0+_25519_ChaChaPoly_BLAKE2b",
        "Noise_IK_25519_ChaChaPoly_BLAKE2b",
        "Noise_XX_448_ChaChaPoly_BLAKE2b",
        "Noise_XX_25519_AESGCM_BLAKE2b",
        "Noise_XX_25519_ChaChaPoly_SHA256",
        "Noise_XX_25519_ChaChaPoly_BLAKE2bX",
        "Noise__25519_ChaChaPoly_BLAKE2b",
        "XX_25519_ChaChaPoly_BLAKE2b",
        "",
    };
    struct tw_noise_params p;
    tw_noise_hs *hs = NULL;
    uint8_t two[64];

    memset(two, 7, sizeof two);
    memset(&p, 0, sizeof p);
    p.s_priv = K_IS;
    p.e_priv = K_IE;
    p.initiator = 1;
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        p.protocol = bad[k];
        p.psks = two;
        p.psk_count = 1;
        assert_int_equal(tw_noise_hs_new(&hs, &p), TW_EINVAL);
        assert_null(hs);
    }
    /* The psk count must match the pattern. */
    p.protocol = XXPSK0;
    p.psk_count = 0;
    assert_int_equal(tw_noise_hs_new(&hs, &p), TW_EINVAL);
    p.psk_count = 2;
    assert_int_equal(tw_noise_hs_new(&hs, &p), TW_EINVAL);
    /* XX needs a static key; the NK initiator needs the responder's. */
    p.psk_count = 1;
    p.s_priv = NULL;
    assert_int_equal(tw_noise_hs_new(&hs, &p), TW_EINVAL);
    p.protocol = "Noise_NK_25519_ChaChaPoly_BLAKE2b";
    p.psk_count = 0;
    assert_int_equal(tw_noise_hs_new(&hs, &p), TW_EINVAL);
    p.rs_pub = K_RS_PUB;
    assert_int_equal(tw_noise_hs_new(&hs, &p), 0);
    tw_noise_hs_free(hs);
    /* No ephemeral key, no handshake: the module never makes its own. */
    p.e_priv = NULL;
    assert_int_equal(tw_noise_hs_new(&hs, &p), TW_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xxpsk0_roundtrip),
        cmocka_unit_test(test_flipped_bits_abort),
        cmocka_unit_test(test_wrong_psk_no_dh),
        cmocka_unit_test(test_weak_remote_e),
        cmocka_unit_test(test_out_of_turn),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_transport),
        cmocka_unit_test(test_ed25519_identity),
        cmocka_unit_test(test_bad_params),
    };
    static struct CMUnitTest vtests[VEC_TEST_MAX];
    static char vnames[VEC_TEST_MAX][128];
    const char *path = getenv("TW_VECTORS");
    const struct jv *list;
    size_t nv = 0;
    int failed;

    if (sodium_init() < 0) return 1;
    if (!path) path = VECTORS_DEFAULT;
    list = load_vectors(path) == 0 ? jget(&g_root, "vectors") : NULL;
    if (list && list->type == J_ARR && list->count > VEC_TEST_MAX) {
        fprintf(stderr, "%s: more than %u vectors; raise VEC_TEST_MAX\n", path, VEC_TEST_MAX);
        return 1;
    }
    if (list && list->type == J_ARR && list->count > 0) {
        for (nv = 0; nv < list->count && nv < VEC_TEST_MAX; nv++) {
            const struct jv *pn = jget(&list->items[nv], "protocol_name");

            snprintf(vnames[nv], sizeof vnames[nv], "vector %zu %s", nv,
                     pn && pn->type == J_STR ? pn->s : "?");
            vtests[nv].name = vnames[nv];
            vtests[nv].test_func = run_vector;
            vtests[nv].initial_state = (void *)&list->items[nv];
        }
    } else {
        vtests[0].name = "vectors_missing";
        vtests[0].test_func = vectors_missing;
        nv = 1;
    }
    failed = _cmocka_run_group_tests("noise_vectors", vtests, nv, NULL, NULL);
    failed += cmocka_run_group_tests(tests, init_keys, NULL);
    return failed != 0;
}
