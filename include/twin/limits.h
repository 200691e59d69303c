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
#define TW_REASON_MAX             256u     /* bytes of a refusal reason kept for one entry */
#define TW_REFUSAL_LOG_MAX        16u      /* log lines (distinct author and reason) per received batch */

/* ---- transport (wire) ---- */
#define TW_FRAME_MAX              65535u   /* bytes of one Noise message incl. tag */
#define TW_HANDSHAKE_TIMEOUT_MS   10000u
#define TW_IDLE_TIMEOUT_MS        120000u
#define TW_UNAUTH_CONN_MAX        64u      /* unauthenticated connections in all */
#define TW_UNAUTH_PER_ADDR_MAX    8u       /* unauthenticated connections per address */
#define TW_UNAUTH_RESERVED        16u      /* of TW_UNAUTH_CONN_MAX, kept for addresses that authenticated before */
#define TW_HANDSHAKE_BUSY_MS      4000u    /* a stranger's handshake deadline while half the unauthenticated slots are taken */
#define TW_AUTH_ADDRS_MAX         256u     /* addresses remembered as having authenticated (the oldest gives way) */
#define TW_PEER_WRITE_QUEUE_MAX   (4u << 20) /* stop reading from a peer beyond this */
#define TW_NEG_FRAME_LIMIT_DEFAULT 60000u  /* negentropy message size limit, configurable */

/* ---- control socket ---- */
#define TW_CTL_VERSION            1u
#define TW_CTL_MSG_MAX            (16u << 20) /* bytes of one control message */
#define TW_CTL_DEPTH_MAX          (2u * TW_DEPTH_MAX) /* nesting of a control message: a body at TW_DEPTH_MAX inside its wrapping */
#define TW_CTL_CONN_PER_UID_MAX   16u
#define TW_IMPORT_MAX_RECORDS     100000u  /* records in one import request */
#define TW_CTL_WRITE_QUEUE_MAX    (1u << 20) /* queued reply bytes of one connection before twind stops reading its requests */
#define TW_CTL_BATCH              8u       /* requests of one connection answered per loop turn before others get theirs */
#define TW_CTL_IDLE_EVICT_MS      2000u    /* at the per-uid cap, a connection idle this long is closed to let a new one in */

/* ---- logging (twind; daemon/log.c) ---- */
#define TW_LOG_LINE_MAX           1024u    /* bytes of one log message; longer ones are cut */
#define TW_LOG_BURST              5u       /* lines of one rate-limited kind written per window */
#define TW_LOG_WINDOW_MS          10000u   /* rate-limit window; its dropped lines are summed up when it closes */
#define TW_LOG_KEYS_MAX           64u      /* rate-limited kinds tracked at once (the least recently used gives way) */
#define TW_LOG_KEY_MAX            32u      /* bytes of a rate-limit key */

/* ---- web interface (twind, daemon/http.c) ---- */
#define TW_HTTP_PORT_DEFAULT      8427u    /* http = 127.0.0.1:8427 unless the config says otherwise */
#define TW_HTTP_BODY_MAX          (4u << 20) /* bytes of a JSON request body */
#define TW_HTTP_UPLOAD_MAX        TW_BUNDLE_MAX /* bytes of a bundle uploaded to /api/bundle_import */
#define TW_HTTP_TOKENS_MAX        4u       /* login tokens outstanding; a new one drops the oldest */
#define TW_HTTP_TOKEN_TTL_S       300u     /* a login token's life (and the longest ui_login grants) */
#define TW_HTTP_SESSIONS_MAX      8u       /* web sessions at once; a new one drops the least recently used */
#define TW_HTTP_SESSION_IDLE_MS   (12u * 3600u * 1000u) /* a session unused this long ends */
#define TW_HTTP_LOGINS_PER_MIN    10u      /* login attempts, right or wrong, in any 60 s */
#define TW_HTTP_CONN_MAX          64u      /* HTTP connections at once */
#define TW_HTTP_CONN_TIMEOUT_S    60u      /* an idle HTTP connection is closed after this */
#define TW_HTTP_CONN_MEMORY       (64u << 10) /* bytes of request line and headers per connection */

/* ---- storage ---- */
#define TW_MAP_SIZE_INITIAL       (64ull << 20)  /* LMDB map size at first open */
#define TW_MAP_SIZE_CEILING_DEFAULT (8ull << 30) /* map growth stops here; configurable */
#define TW_COMMIT_BATCH_MAX       16384u   /* entries in one write transaction */
#define TW_COMMIT_BATCH_MIN       1u       /* smallest batch tried when a larger one is refused for room */
#define TW_STORE_RELEASE_MIN      1024u    /* a batch of at least this many entries is followed by a one-page write, so the next batch reuses the pages it freed */
#define TW_STORE_REOPEN_MIN       1024u    /* a batch of at least this many entries has the store opened again once writes pause (TW_TRIM_IDLE_MS), giving back the pages LMDB keeps */
#define TW_STORE_UPGRADE_BATCH    10000u   /* entries (or slots) converted per transaction of a store upgrade */
#define TW_STORE_DICT_SAMPLES     2000u    /* envelopes the compression dictionary is trained on; trained once a store holds this many */
#define TW_STORE_DICT_SAMPLE_BYTES (4u << 20) /* bytes of those envelopes at most */
#define TW_STORE_DICT_BYTES       8192u    /* bytes of the compression dictionary */

/* ---- transport and peer protocol (wire) ---- */
#define TW_HANDSHAKE_MSG_MAX   1024u    /* bytes of a frame before the handshake completes */
#define TW_PING_INTERVAL_MS    30000u   /* PING after this long without sending anything */
#define TW_PROTO_VERSION_MIN   2u       /* protocol versions this build speaks */
#define TW_PROTO_VERSION_MAX   2u       /* (versions are negotiated in the hello; 2: message 1 is dated) */
#define TW_HS_WINDOW_MS        3600000u /* handshake message 1 dated further from the responder's clock gets no answer */
#define TW_HS_REPLAY_MAX       4096u    /* message-1 ephemeral keys remembered against replay */
#define TW_HELLO_SW_MAX        64u      /* bytes of the hello's "sw" string */
#define TW_ERROR_TEXT_MAX      256u     /* bytes of the text of an ERROR message */
#define TW_SESS_MSG_MAX        (TW_FRAME_MAX - 16u) /* plaintext of one transport message */
#define TW_IDS_PER_MSG         1024u  /* ids in one OFFER or WANT (wire) */
#define TW_WANT_WINDOW         4u     /* WANTs outstanding per connection (wire) */
#define TW_ZSTD_MIN_BYTES      1024u    /* ENTRIES messages shorter than this are sent as they are */
#define TW_ZSTD_LEVEL          (-1)     /* zstd level of compressed ENTRIES messages: about half the sender's CPU of
                                           level 3 for 1.2 % more bytes (proto/PROTOCOL.md, COMPRESSED) */
#define TW_WANT_IDS_FIRST      32u    /* ids in the first WANTs of a connection; doubles per answer */

/* ---- reconciliation ---- */
#define TW_NEG_FRAME_LIMIT_MIN 4096u  /* smallest non-zero frame limit accepted */
#define TW_NEG_FRAME_SLACK     200u   /* room kept under the limit for the closing range */
#define TW_NEG_MSG_MAX         (4u << 20) /* bytes of a negentropy message sent in NEG_PART pieces, and the frame limit
                                             of reconciliation, between peers that both offer TW_WIRE_FEAT_NEGPART (wire) */
#define TW_NEG_CUT_MS          3600000u /* after a link broke while a message in pieces arrived: no NEG_PART offered to that peer this long */
#define TW_NEG_CUT_PEERS_MAX   64u    /* peers (by key; inbound, by address) remembered so; the oldest gives way */
#define TW_NEG_BUCKETS         16u    /* ranges the first message is split into (as the reference), and the fewest
                                         a mismatched range is split into (more when mismatches are many) */
#define TW_NEG_IDS_MAX         (1u << 21) /* have (or need) ids one session may report in all */
#define TW_SYNC_QUEUE_MAX      65536u /* ids queued or asked for on one connection; more are dropped */
#define TW_SYNC_ROUND_QUEUE_MAX (TW_SYNC_QUEUE_MAX / 2) /* ids queued, asked for or being stored above which our
                                         reconciliation's next message waits (and ids it found beyond TW_SYNC_QUEUE_MAX) */
#define TW_SYNC_OFFER_MAX      TW_NEG_IDS_MAX /* ids a peer may offer per reconciliation it runs (wire) */
#define TW_SYNC_UNSENT_MAX     4096u  /* ids offered, asked for and not sent, beyond which a peer that sent fewer is banned */
#define TW_WANT_STALL_MS       30000u /* a WANT with no answer for this long closes the connection (withheld) */

/* ---- push tree (proto/plumtree.c; PROTOCOL.md "Push tree") ---- */
#define TW_PUSH_MISSING_MS     300u     /* an id announced (IHAVE) and not received this long after is asked for (GRAFT + WANT) */
#define TW_PUSH_GRAFT_WAIT_MS  1000u    /* then asked of the next peer that announced it, if still missing this long after; also how long pushes in flight are let be after a PRUNE */
#define TW_PUSH_MISSING_MAX    4096u    /* ids announced and not yet received, remembered; more are left to reconciliation */
#define TW_PUSH_ANNOUNCERS_MAX 4u       /* peers remembered per announced id */
#define TW_PUSH_RACED_MAX      64u      /* ids last stored from a first reconciliation, watched for the tree's own copy (got_connect_raced); the oldest gives way */
#define TW_PUSH_CTRL_MAX       32u      /* PRUNE and GRAFT a node sends on one link per window (wire: a peer sending more than twice that is refused) */
#define TW_PUSH_CTRL_WINDOW_MS 10000u   /* that window */

/* ---- records ---- */
#define TW_PEER_ADDRS_MAX      8u       /* addresses in one peer record */
#define TW_DATE_YEAR_MIN       1900     /* years a date field may name */
#define TW_DATE_YEAR_MAX       2200

/* ---- peer connections (twind) ---- */
#define TW_INBOUND_MAX         32u      /* established inbound connections: default and ceiling of inbound_max */
#define TW_INBOUND_EVICT_AGE_MS 30000u  /* at inbound_max, an inbound connection this old may give way to a new one */
#define TW_KNOWN_PEERS_MAX     256u     /* config, manual and invitation addresses in the known-peer table */
#define TW_LEARNT_PEERS_MAX    128u     /* learnt addresses, kept apart; the worst gives way to a new one */
#define TW_LEARNT_FAILS_MAX    8u       /* failed dials after which a learnt address that never answered is forgotten */
#define TW_REFER_MAX           8u       /* peer records in one REFER (a full node's refusal says where else to go) */
#define TW_ACCEPT_SYNC_DELAY_MS 2000u   /* the accepting side's first reconciliation, after establishment */
#define TW_PEER_SYNC_QUIET_MS  10000u   /* no reconciliation started by the timer until the peer sent no WANT or NEG_PART this long */
#define TW_BACKOFF_BASE_MS     1000u    /* first retry after a failure */
#define TW_FULL_PACE_BASE_MS   500u     /* after a refusal as full, the next learnt address waits this, doubling per refusal in a row */
#define TW_FULL_PACE_MAX_MS    16000u   /* ... up to this */
#define TW_RECONNECT_MS        200u     /* redial after an established link drops: 100..300 ms */
#define TW_BACKOFF_MAX_MS      300000u  /* retries at most this far apart */
#define TW_BAN_MS              600000u  /* a misbehaving peer's key is kept off this long */
#define TW_TICK_MS             250u     /* timers: session deadlines, dialing */
#define TW_BANS_MAX            64u      /* keys kept off at once (the oldest ban gives way) */
#define TW_RESUME_PEERS_MAX    64u      /* peers whose unfinished fetches are kept */
#define TW_RESUME_IDS_MAX      65536u   /* ids kept per peer to resume with */
#define TW_RESUME_IDS_TOTAL_MAX 262144u /* ids kept to resume with, all peers together (8 MiB) */
#define TW_LISTEN_BACKLOG      128u     /* listen backlog of the peer socket */
#define TW_INGEST_JOBS_MAX     256u     /* verification jobs waiting before peers are no longer read (enough that the
                                           verifiers still have work through a commit; PROTOCOL.md "Backpressure") */
#define TW_RECHECK_CONNECTED_MS 10000u  /* a known address of a connected peer is looked at again after this */

/* ---- control operations (twind) ---- */
#define TW_LIST_LIMIT_DEFAULT  1000u    /* list page size by default */
#define TW_LIST_LIMIT_MAX      10000u   /* largest list page asked for */
#define TW_SEARCH_LIMIT_DEFAULT 100u    /* search results by default */
#define TW_SEARCH_WORDS_MAX    16u      /* words in a search text */
#define TW_SEARCH_SUGGEST_MAX  5u       /* names suggested when a search finds nothing */
#define TW_SEARCH_EDIT_WORD_MAX 32u     /* code points of a word compared by edit distance for suggestions */
#define TW_SEARCH_INDEX_SHARE  90u      /* % of the records: a search whose candidates are more reads every record */
#define TW_WORDIDX_WORD_MAX    64u      /* bytes of a word the search index keys it by (a longer one: its first 64) */
#define TW_WORDIDX_BLOCK_MAX   4080u    /* bytes of one block of the search index's (word, record) pairs: a 4 KiB LMDB page less its header */
#define TW_WORDIDX_KINDS_MAX   250u     /* kinds of record the search index tells apart (more: search reads every record) */
#define TW_WORDIDX_BUILD_BATCH 10000u   /* records indexed per transaction when the index is built on open */
#define TW_WORDIDX_APPLY_SHARE 25u      /* percent of the search index's blocks one commit may change; more (a bulk sync) sets it aside to be built again */
#define TW_WORDIDX_APPLY_MIN   256u     /* ... but a commit may always change this many */
#define TW_WORDIDX_BUILD_STEP  2048u    /* records indexed per turn of the event loop when the index is built again in the background */
#define TW_WORDIDX_REBUILD_WAIT_MS 1000u /* that build starts, and goes on, once no record was stored for this long */
#define TW_LIST_PAGE_BYTES     (TW_CTL_MSG_MAX / 4u) /* a list page ends early rather than pass this */

/* ---- storage ---- */
#define TW_TRIM_IDLE_MS 30000u   /* trim after scans, once no control request came for this long */
#define TW_MALLOC_MMAP_MIN (256u << 10) /* heap blocks at least this large are mapped on their own, given back when freed */
#define TW_MALLOC_TRIM_MIN (1u << 20) /* free heap at the top of a thread's arena beyond which a free gives it back to the system */
#define TW_VERIFY_CHUNK        256u     /* entries verified by one thread-pool job */

/* ---- configuration (twind) ---- */
#define TW_CONF_PEERS_MAX      64u      /* peer settings in the config */
#define TW_CONF_ROOTS_MAX      32u      /* root keys in the config */
#define TW_CONF_LINE_MAX       1024u    /* bytes of a config line */
#define TW_CONF_FILE_MAX       (1u << 20) /* bytes of the config file */

/* ---- twin (client) ---- */
#define TW_CLI_PAGE_SIZE        1000u       /* records asked for per list page */
#define TW_CLI_LIST_LIMIT_MAX   10000u      /* largest "limit" the list op accepts */
#define TW_CLI_PAGES_MAX        100000u     /* list pages followed before giving up */
#define TW_CLI_TIMEOUT_MS       300000u     /* one control round trip (imports are slow) */
#define TW_CLI_BUSY_WAIT_MS     3000u       /* a first request refused for "too many control connections" is sent again until this */
#define TW_CLI_BUSY_RETRY_MS    250u        /* ... this long apart */
#define TW_CLI_COLUMNS_DEFAULT  100u        /* terminal width when $COLUMNS is unset; list and search tables fit it piped too */
#define TW_CLI_CELL_MIN         6u          /* truncation never narrows a column below this */
#define TW_CLI_FILE_MAX         (128u << 20) /* bytes of a file given to import or publish */
#define TW_CLI_ERRORS_SHOWN     20u         /* bad import rows listed before a count */
#define TW_CLI_OUT_CHUNK        (256u << 10) /* bytes of output written at a time */
#define TW_JSON_INPUT_MAX (128u << 20)   /* bytes of one JSON document */
#define TW_JSON_WRITE_DEPTH 32u         /* nesting twin writes as JSON */
#define TW_CSV_COLS_MAX 256u    /* fields in one row */
#define TW_SYNC_WAIT_DEFAULT_S 300u   /* twin sync --wait gives up after this */
#define TW_SYNC_POLL_MS        200u     /* twin sync --wait asks for progress this often */

/* ---- offline bundles ---- */
#define TW_BUNDLE_MAX         (256u << 20) /* bytes of one bundle, in and out */
#define TW_BUNDLE_SLICE_MAX   (4u << 20)   /* bytes of a bundle in one control message */
#define TW_BUNDLE_SESSIONS_MAX 4u          /* exports or imports open at once (the oldest gives way) */
#define TW_BUNDLE_PROBLEMS_MAX 100u        /* problems listed in a report; the rest are counted */
#define TW_CLI_BUNDLE_SLICE   (4u << 20)    /* bytes sent per bundle_import request (the daemon's TW_BUNDLE_SLICE_MAX) */
#define TW_CLI_BUNDLE_MAX     (256u << 20)  /* bytes of a bundle file (the daemon's TW_BUNDLE_MAX) */
#define TW_CLI_BUNDLE_POLL_MS 100u        /* twin asks for an import result this often */
#define TW_CLI_BUNDLE_SLICES_MAX 4096u      /* export slices followed before giving up */

/* ---- reports ---- */
#define TW_REPORT_DORMANT_MONTHS_DEFAULT 12u /* a link without an update this long is dormant */
#define TW_REPORT_DORMANT_MONTHS_MAX     1200u /* largest dormant_months accepted */
#define TW_REPORT_MONTH_MS               (30ull * 86400000ull) /* a month, for dormancy */
#define TW_REPORT_LIST_MAX               1000u  /* rows of each list in a gaps answer */
#define TW_REPORT_SUGGEST                3u     /* places suggested to each seeking group */
#define TW_REPORT_RECORDS_MAX            4000000u /* records of the three kinds in one report */
#define TW_REPORT_UPDATE_MAX             1024u  /* written slots a kept report is updated with; more: made again */
#define TW_REPORT_SLICE_RECORDS          4096u  /* records read per turn of the event loop by the background build */
#define TW_REPORT_BUILD_RETRY_MS         1000u  /* the background build starts again this long after a change it cannot follow */
#define TW_REPORT_WAITERS_MAX            8u     /* requests (control socket and web) held until the report being made is ready; the next: busy, retry */

/* ---- trust (admission) ---- */
#define TW_REFUSED_IDS_MAX     65536u   /* ids refused for their author's admission, not asked for again until admission changes */
#define TW_TRUST_DEPTH_MAX     16u      /* largest vouch_depth: vouches between a root and a member */
#define TW_TRUST_KEYS_MAX      32768u   /* keys the trust table knows: roots, voucher and vouched keys */
#define TW_TRUST_VOUCHES_MAX   65536u   /* vouch records kept, revocations included */
#define TW_TRUST_VOUCHES_PER_AUTHOR_MAX 4096u /* vouch records kept per author */
#define TW_IDENT_KEYS_SHOWN    64u      /* keys of one association (its first key, successors, devices) whose versions of a slot are compared */
#define TW_IDENT_RECORDS_MAX   65536u   /* device, succession, recovery, keyplan and vouch records the identity table holds */

/* ---- key backup (twin key export|import; include/twin/keyfile.h) ---- */
#define TW_KEYFILE_OPSLIMIT     3u           /* Argon2id passes export writes (libsodium's OPSLIMIT_MODERATE) */
#define TW_KEYFILE_MEMLIMIT     (256u << 20) /* Argon2id memory export writes (MEMLIMIT_MODERATE) */
#define TW_KEYFILE_OPSLIMIT_MIN 1u           /* fewest passes a key file may name (libsodium's minimum) */
#define TW_KEYFILE_OPSLIMIT_MAX 10u          /* most passes a key file may ask of its reader */
#define TW_KEYFILE_MEMLIMIT_MIN (8u << 10)   /* least memory a key file may name (libsodium's minimum) */
#define TW_KEYFILE_MEMLIMIT_MAX (1u << 30)   /* most memory a key file may make its reader allocate */
#define TW_KEYFILE_PASS_MIN     8u           /* bytes of a new passphrase */
#define TW_KEYFILE_PASS_MAX     1024u        /* bytes of any passphrase */

/* ---- invitations (twin invite|join; include/twin/invite.h) ---- */
#define TW_INVITE_TTL_DEFAULT_S 604800u      /* a code lasts 7 days unless --expires says otherwise */
#define TW_INVITE_TTL_MAX_S     7776000u     /* longest life of a code: 90 days */
#define TW_INVITE_CLOCK_SLACK_S 86400u       /* a code may claim to live this much longer (clocks differ) */
#define TW_INVITE_ADDR_MAX      255u         /* bytes of the address in a code (a one-byte length) */
#define TW_INVITE_TEXT_MAX      2276u        /* characters of the longest code: "twi_" + base32 of 1420 bytes */
#define TW_INVITE_INPUT_MAX     16384u       /* bytes of a code as given, whitespace and line breaks included */

/* ---- devices (twin device add|join|accept; daemon/ops_ident.c) ---- */
#define TW_DEVICE_CODE_PREFIX   "twd_"       /* a device code */
#define TW_DEVICE_ANSWER_PREFIX "twa_"       /* the new machine's answer to it */
#define TW_DEVICE_SECRET_LEN    16u          /* bytes of a device code's one-time secret */
#define TW_DEVICE_CODES_MAX     16u          /* device codes waiting for an answer on one node (kept in memory) */
#define TW_DEVICE_CODE_BIN_MAX  (1u + 8u + 32u + TW_DEVICE_SECRET_LEN + 2u + TW_INVITE_TEXT_MAX) /* version, expiry, association key, secret, invitation */
#define TW_DEVICE_CODE_TEXT_MAX (4u + (TW_DEVICE_CODE_BIN_MAX * 8u + 4u) / 5u) /* characters of the longest device code */

#endif
