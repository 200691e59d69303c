/*
 * The transport session of the peer protocol: framing, the
 * Noise_XXpsk0 handshake carrying the version ranges and the hellos, and
 * the encrypted transport with keepalive (PING/PONG) and ERROR, as described
 * in the wire design (framing, handshake, transport messages).
 *
 * It is a pure state machine: the caller feeds the bytes it read from TCP
 * and the clock, and takes back bytes to write and events.  It does no I/O,
 * draws no randomness (the ephemeral key comes in the configuration) and
 * never aborts on anything a peer sends.
 *
 * The clock is one value in milliseconds, used both for the timers and for
 * the "clock" field of the hello, so it must be wall-clock time since the
 * epoch.  A clock that goes backwards is treated as standing still.
 *
 * After a CLOSED event the output may still hold bytes (an ERROR to the
 * peer, or the refusal in handshake message 2): the caller writes them out
 * before closing the socket, if it can.
 */
#ifndef TWIN_SESSION_H
#define TWIN_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twin/limits.h"

#define TW_FRAME_HDR_LEN       2u       /* big-endian length before every frame */

/* The largest plaintext of one transport message (TW_FRAME_MAX minus the tag). */

typedef struct tw_sess tw_sess;

/*
 * Replay defence of the responder (PROTOCOL.md, "Replayed message 1"): the
 * ephemeral keys of the message 1s it answered, with their dates, at most
 * cap of them, shared by every responder session of a node.  A message 1
 * dated more than TW_HS_WINDOW_MS from the responder's clock, or at or
 * below the date of the oldest key forgotten, or repeating a remembered
 * key, gets no answer.
 */
typedef struct tw_sess_replay tw_sess_replay;
int  tw_sess_replay_new(tw_sess_replay **out, size_t cap);
void tw_sess_replay_free(tw_sess_replay *r);
/* 0 (and the key is remembered), or TW_EFUTURE / TW_ESTALE (out of the
 * window, or at or below the floor) / TW_EEXIST (a key seen before), with
 * *why saying which.  r may be NULL: only the window is checked. */
int  tw_sess_replay_check(tw_sess_replay *r, const uint8_t e[32], uint64_t ts, uint64_t now_ms, const char **why);
size_t tw_sess_replay_count(const tw_sess_replay *r);
uint64_t tw_sess_replay_floor(const tw_sess_replay *r);

typedef struct tw_sess_cfg {
    bool initiator;
    const uint8_t *ed_sk;        /* 64-byte Ed25519 secret key (libsodium layout, pk in the
                                    last 32); the session trusts it to be one key pair */
    const uint8_t *netkey;       /* 32-byte network key = PSK */
    const uint8_t *e_rand;       /* 32 random bytes for the ephemeral key (caller: randombytes_buf) */
    uint64_t now_ms;             /* clock at creation (connection start) */
    const char *software;        /* e.g. "twind 0.1.0"; <= TW_HELLO_SW_MAX bytes of UTF-8 */
    uint64_t features;
    uint32_t version_min, version_max;   /* normally TW_PROTO_VERSION_MIN/MAX; 1 <= min <= max */
    tw_sess_replay *replay;      /* responder: the node's replay cache (NULL: the date window only) */
} tw_sess_cfg;

typedef enum { TW_SEV_NONE = 0, TW_SEV_ESTABLISHED, TW_SEV_MESSAGE, TW_SEV_CLOSED } tw_sev_type;

typedef struct tw_sess_event {
    tw_sev_type type;
    /* ESTABLISHED: */
    uint8_t remote_key[32];      /* peer's Ed25519 public key, checked against the handshake key */
    uint32_t version;
    uint64_t remote_features;
    char remote_sw[TW_HELLO_SW_MAX + 1];   /* control and bidi-override characters
                                              replaced by '?' */
    int64_t clock_offset_ms;     /* peer's clock minus ours */
    /* MESSAGE: one transport plaintext, a msgpack value starting as an array
     * whose first element is a uint other than PING/PONG/ERROR (the session
     * handles those); only that prefix is checked, decoding the rest is the
     * caller's.  Valid until the next call on the session. */
    const uint8_t *msg;
    size_t msg_len;
    /* CLOSED: why (a TW_E* code; TW_ECLOSED when the peer sent ERROR) and a
     * human reason, control and bidi-override characters replaced by '?'. */
    int code;
    char reason[300];
    bool by_peer;                /* the peer sent ERROR */
} tw_sess_event;

/* TW_EINVAL for a missing key or a bad software string or version range;
 * TW_ENOMEM.  The initiator's message 1 is queued in the output. */
int  tw_sess_new(tw_sess **out, const tw_sess_cfg *cfg);
/* Zeroes all secrets and frees; NULL is accepted. */
void tw_sess_free(tw_sess *s);

/*
 * Feeds bytes read from TCP and consumes all of them: a partial frame is
 * buffered (one frame and its header at most).  Returns 0, or TW_ECLOSED
 * once the session is closed (by this call or before; a CLOSED event says
 * why).  Events produced are read with tw_sess_next_event(); the caller
 * drains them before feeding more, or the queued plaintexts accumulate.
 */
int  tw_sess_input(tw_sess *s, const uint8_t *data, size_t len, uint64_t now_ms);

/* Next event; TW_SEV_NONE (return 0) when there is none.  After CLOSED there
 * are no more. */
int  tw_sess_next_event(tw_sess *s, tw_sess_event *ev);

/* Bytes to write to TCP (framed).  The buffer is not bounded here: its
 * length is what the daemon compares with its write-queue cap. */
const uint8_t *tw_sess_output(const tw_sess *s, size_t *len);
void tw_sess_consume_output(tw_sess *s, size_t n);

/* Encrypts and frames one plaintext message (1..TW_SESS_MSG_MAX bytes).
 * TW_ESTATE before established or after close; TW_ETOOBIG if too large;
 * TW_EINVAL if empty. */
int  tw_sess_send(tw_sess *s, const uint8_t *msg, size_t len, uint64_t now_ms);

/* Timers: the handshake deadline (TW_HANDSHAKE_TIMEOUT_MS after creation),
 * the idle timeout (no complete frame for TW_IDLE_TIMEOUT_MS) and PING after
 * TW_PING_INTERVAL_MS with nothing sent.  Call at least every second.
 * Returns 0, or TW_ECLOSED once closed. */
int  tw_sess_tick(tw_sess *s, uint64_t now_ms);

/* Sends ERROR [8, code, text] (if established) and closes (a CLOSED event
 * with by_peer false follows).  TW_ECLOSED if already closed. */
int  tw_sess_close(tw_sess *s, int code, const char *text);

bool tw_sess_established(const tw_sess *s);   /* from ESTABLISHED until closed */
bool tw_sess_closed(const tw_sess *s);
unsigned tw_sess_dh_count(const tw_sess *s);   /* X25519 operations so far, for tests */
uint64_t tw_sess_bytes_in(const tw_sess *s);
uint64_t tw_sess_bytes_out(const tw_sess *s);

#endif
