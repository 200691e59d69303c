/*
 * Transport messages of the peer protocol (proto/PROTOCOL.md, "Transport
 * messages"): after the handshake every Noise transport plaintext is one
 * msgpack array [type, ...] of one of these types.
 *
 *   1 NEG_REQ   [1, sid uint, msg bin]
 *   2 NEG_RESP  [2, sid uint, msg bin]
 *   3 OFFER     [3, [id bin32, ...]]                  1..TW_IDS_PER_MSG ids
 *   4 WANT      [4, wseq uint>=1, [id bin32, ...]]    1..TW_IDS_PER_MSG ids
 *   5 ENTRIES   [5, wseq uint, final bool, [envelope bin, ...]]
 *   6 PING      [6, nonce uint]
 *   7 PONG      [7, nonce uint]
 *   8 ERROR     [8, code int, text str]               text <= TW_WIRE_ERROR_TEXT_MAX
 *  10 NEG_PART  [10, kind uint (1|2), sid uint, part bin]  a piece of a NEG_REQ
 *               (kind 1) or NEG_RESP (kind 2) message too large for one
 *               transport message; the NEG_REQ/NEG_RESP itself carries the
 *               last piece (only with TW_WIRE_FEAT_NEGPART on both sides)
 *  11 IHAVE     [11, [id bin32, ...]]                 1..TW_IDS_PER_MSG ids (push tree)
 *  12 PRUNE     [12]                                  (push tree)
 *  13 GRAFT     [13]                                  (push tree)
 *  14 REFER     [14, [envelope bin, ...]]             1..TW_REFER_MAX signed `peer` records of
 *               the sender's peers, sent just before an ERROR refusing the
 *               connection as full (only to a peer whose hello carries
 *               TW_WIRE_FEAT_REFER)
 *  15 ROOM      [15, room bool]                       whether the sender has room for one more
 *               inbound connection: sent at establishment and when that
 *               changes (only between peers whose hellos both carry
 *               TW_WIRE_FEAT_REFER), so that a full node refers dialers to
 *               peers with room
 *
 * (9, COMPRESSED, is unwrapped by the daemon before decoding.)  IHAVE,
 * PRUNE and GRAFT go only between peers whose hellos both carry
 * TW_WIRE_FEAT_PUSHTREE; the decoder knows them whatever the features.
 *
 * The decoder is strict: the message must be exactly one array with the
 * element count of its type, every field of its type, ids exactly 32 bytes,
 * envelopes 1..TW_ENVELOPE_MAX bytes, no trailing bytes.  Any msgpack form of
 * a type is accepted (a uint may come as fixint or uint64), since shortness
 * carries no meaning here as it does for signed payloads.  Nothing is
 * allocated: the decoded struct points into the input, and id and envelope
 * lists are walked with tw_wire_list_next() after having been checked whole.
 */
#ifndef TWIN_WIRE_H
#define TWIN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twin/limits.h"
#include "twin/mp.h"

#define TW_WIRE_ERROR_TEXT_MAX 256u   /* bytes of an ERROR text (wire) */

#define TW_WIRE_ID_LEN 32u
/* Most bytes of an ENTRIES message besides its envelopes' bin items:
 * array header, type, wseq as uint64, bool, array32 header. */
#define TW_WIRE_ENTRIES_HEAD_MAX 17u
/* Most bytes of a NEG message besides the negentropy bytes: array header,
 * type, sid as uint64, bin32 header.  A negentropy frame limit of at most
 * TW_SESS_MSG_MAX - TW_WIRE_NEG_HEAD_MAX keeps every NEG message in one
 * transport message. */
#define TW_WIRE_NEG_HEAD_MAX 16u
/* Most bytes of a COMPRESSED message besides its frame: array header,
 * type, bin32 header. */
#define TW_WIRE_COMPRESSED_HEAD_MAX 7u
/* Most bytes of a NEG_PART message besides its piece: array header, type,
 * kind, sid as uint64, bin32 header. */
#define TW_WIRE_NEG_PART_HEAD_MAX 17u
/* Bytes an envelope of n bytes adds to an ENTRIES message (bin header + n). */
#define TW_WIRE_BIN_SIZE(n) ((size_t)(n) + ((n) < 256u ? 2u : (n) < 65536u ? 3u : 5u))

typedef enum {
    TW_WIRE_NEG_REQ = 1,
    TW_WIRE_NEG_RESP = 2,
    TW_WIRE_OFFER = 3,
    TW_WIRE_WANT = 4,
    TW_WIRE_ENTRIES = 5,
    TW_WIRE_PING = 6,
    TW_WIRE_PONG = 7,
    TW_WIRE_ERROR = 8,
    TW_WIRE_COMPRESSED = 9,    /* [9, zstd frame (bin)]: one message of another type, compressed;
                                  only between peers whose hellos both have TW_WIRE_FEAT_ZSTD */
    TW_WIRE_NEG_PART = 10,     /* [10, kind, sid, part (bin)]: a piece of a negentropy message;
                                  only between peers whose hellos both have TW_WIRE_FEAT_NEGPART */
    TW_WIRE_IHAVE = 11,        /* [11, [id, ...]]: these entries are newly stored here (lazy push) */
    TW_WIRE_PRUNE = 12,        /* [12]: send me ids, not entries, on this link */
    TW_WIRE_GRAFT = 13,        /* [13]: send me entries again on this link */
    TW_WIRE_REFER = 14,        /* [14, [envelope, ...]]: full; the peer records of some of my peers */
    TW_WIRE_ROOM = 15,         /* [15, bool]: I have (or no longer have) room for an inbound connection */
} tw_wire_type;

/* Feature bits of the hello ("feat"). */
#define TW_WIRE_FEAT_ZSTD 1u   /* understands COMPRESSED messages */
#define TW_WIRE_FEAT_NEGPART 2u /* understands NEG_PART: negentropy messages up to TW_NEG_MSG_MAX */
#define TW_WIRE_FEAT_PUSHTREE 4u /* speaks the push tree: IHAVE, PRUNE, GRAFT */
#define TW_WIRE_FEAT_REFER 8u  /* takes REFER before a refusal as full, and ROOM */

/* A checked list of bin items inside a message, consumed by
 * tw_wire_list_next(); copy it to walk it twice. */
typedef struct tw_wire_list {
    const uint8_t *p;     /* next item's encoding */
    const uint8_t *end;
    uint32_t count;       /* items in the whole list */
} tw_wire_list;

typedef struct tw_wire_msg {
    tw_wire_type type;
    uint64_t sid;                     /* NEG_REQ, NEG_RESP, NEG_PART */
    tw_wire_type kind;                /* NEG_PART: TW_WIRE_NEG_REQ or TW_WIRE_NEG_RESP */
    uint64_t wseq;                    /* WANT (>= 1), ENTRIES (0 = live push) */
    uint64_t nonce;                   /* PING, PONG */
    int64_t code;                     /* ERROR */
    bool final;                       /* ENTRIES (always true with wseq 0); ROOM: room */
    const uint8_t *data; size_t data_len; /* NEG_REQ/RESP: negentropy message (or its last piece);
                                             NEG_PART: a piece; ERROR: UTF-8 text */
    tw_wire_list list;                /* OFFER, WANT, IHAVE: ids; ENTRIES, REFER: envelopes */
} tw_wire_msg;

/* Decodes one transport plaintext.  Errors: TW_ETOOBIG (message over
 * TW_SESS_MSG_MAX, too many ids, envelope or text too long), TW_ETRUNC,
 * TW_ETYPE (a field of the wrong type), TW_EUTF8, TW_EPROTO (unknown type,
 * wrong element count, trailing bytes, a value out of range); *why (may be
 * NULL) gets a static reason. */
int tw_wire_decode(const uint8_t *buf, size_t len, tw_wire_msg *m, const char **why);
/* Next item of a decoded list; false at its end. */
bool tw_wire_list_next(tw_wire_list *l, const uint8_t **p, size_t *len);

/* Encoders append one message to b (which they do not reset).  Each
 * refuses, leaving b as it was, what the decoder would refuse: TW_EINVAL
 * for a bad value (wseq 0 in WANT, no ids, a push that is not final),
 * TW_ETOOBIG past a limit or when the message would exceed
 * TW_SESS_MSG_MAX.  ids are n * 32 contiguous bytes. */
int tw_wire_neg(tw_buf *b, tw_wire_type type, uint64_t sid, const uint8_t *msg, size_t len);
/* kind is TW_WIRE_NEG_REQ or TW_WIRE_NEG_RESP; the piece is 1 or more bytes. */
int tw_wire_neg_part(tw_buf *b, tw_wire_type kind, uint64_t sid, const uint8_t *part, size_t len);
int tw_wire_offer(tw_buf *b, const uint8_t *ids, size_t n);
int tw_wire_want(tw_buf *b, uint64_t wseq, const uint8_t *ids, size_t n);
int tw_wire_entries(tw_buf *b, uint64_t wseq, bool final, const uint8_t *const *envs,
                    const size_t *lens, size_t n);
int tw_wire_ihave(tw_buf *b, const uint8_t *ids, size_t n);
/* REFER: 1..TW_REFER_MAX envelopes. */
int tw_wire_refer(tw_buf *b, const uint8_t *const *envs, const size_t *lens, size_t n);
int tw_wire_room(tw_buf *b, bool room);
/* PRUNE (graft false) or GRAFT. */
int tw_wire_tree(tw_buf *b, bool graft);
int tw_wire_ping(tw_buf *b, uint64_t nonce);
int tw_wire_pong(tw_buf *b, uint64_t nonce);
/* A text over TW_WIRE_ERROR_TEXT_MAX is cut at a character boundary
 * rather than refused: the reason is worth sending in part.  TW_EUTF8 if
 * text is not UTF-8. */
int tw_wire_error(tw_buf *b, int64_t code, const char *text, size_t len);

/* The head of a COMPRESSED message ([9, frame]: its array, type and the
 * frame's bin head) for a frame of zn bytes, written right before frame
 * (which must have TW_WIRE_COMPRESSED_HEAD_MAX bytes of room before it),
 * so that the message is the head and the frame, with no copy.  Returns
 * the head's length, 0 if zn is more than a bin can hold. */
size_t tw_wire_compressed_head(uint8_t *frame, size_t zn);

const char *tw_wire_type_name(int type);

#endif
