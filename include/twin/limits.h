/*
 * Every limit twind and twin enforce, in one place.  Each one is documented in
 * proto/PROTOCOL.md or proto/SCHEMA.md and tested at its edge.  Changing a
 * value here changes the protocol for peers too where noted "wire".
 */
#ifndef TWIN_LIMITS_H
#define TWIN_LIMITS_H

/* ---- entries and records (wire) ---- */
#define TW_ENTRY_VERSION          1u       /* envelope version we write and accept */
#define TW_PAYLOAD_MAX            16384u   /* bytes of an entry payload */
#define TW_ENVELOPE_MAX           (TW_PAYLOAD_MAX + 96u) /* payload + signature + framing */
#define TW_STR_MAX                1024u    /* bytes of any string field */
#define TW_DESC_MAX               4096u    /* bytes of a description / activities field */
#define TW_DEPTH_MAX              8u       /* nesting depth of any msgpack value */
#define TW_KIND_MAX               32u      /* bytes of a kind name */
#define TW_SLOT_MAX               200u     /* bytes of a slot key */
#define TW_LIST_MAX               64u      /* elements of an array field in a record */
#define TW_FUTURE_SKEW_MS         600000u  /* entries further ahead than this are refused for now */

/* ---- transport (wire) ---- */
#define TW_FRAME_MAX              65535u   /* bytes of one Noise message incl. tag */
#define TW_HANDSHAKE_TIMEOUT_MS   10000u
#define TW_IDLE_TIMEOUT_MS        120000u
#define TW_UNAUTH_CONN_MAX        64u      /* unauthenticated connections in all */
#define TW_UNAUTH_PER_ADDR_MAX    8u       /* unauthenticated connections per address */
#define TW_PEER_WRITE_QUEUE_MAX   (4u << 20) /* stop reading from a peer beyond this */
#define TW_NEG_FRAME_LIMIT_DEFAULT 60000u  /* negentropy message size limit, configurable */

/* ---- control socket ---- */
#define TW_CTL_VERSION            1u
#define TW_CTL_MSG_MAX            (16u << 20) /* bytes of one control message */
#define TW_CTL_CONN_PER_UID_MAX   16u
#define TW_IMPORT_MAX_RECORDS     100000u  /* records in one import request */

/* ---- storage ---- */
#define TW_MAP_SIZE_INITIAL       (64ull << 20)  /* LMDB map size at first open */
#define TW_MAP_SIZE_CEILING_DEFAULT (8ull << 30) /* map growth stops here; configurable */
#define TW_COMMIT_BATCH_MAX       4096u    /* entries in one write transaction */

#endif
