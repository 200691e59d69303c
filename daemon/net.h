/*
 * Peer networking: the TCP listener and dialer, one connection object per
 * peer wrapping a transport session (proto/session.c) and a sync engine
 * (proto/sync.c), the known-peer table with backoff, and the shared
 * reconciliation item set kept in step with the store.
 */
#ifndef TWIND_NET_H
#define TWIND_NET_H

#include <stdbool.h>
#include <stddef.h>
#include "twin/mp.h"
#include "node.h"

#define TW_INBOUND_MAX         32u      /* established inbound connections */
#define TW_KNOWN_PEERS_MAX     256u     /* addresses in the known-peer table */
#define TW_BACKOFF_BASE_MS     1000u    /* first retry after a failure */
#define TW_RECONNECT_MS        200u     /* redial after an established link drops: 100..300 ms */
#define TW_BACKOFF_MAX_MS      300000u  /* retries at most this far apart */
#define TW_BAN_MS              600000u  /* a misbehaving peer's key is kept off this long */
#define TW_TICK_MS             250u     /* timers: session deadlines, dialing */
#define TW_BANS_MAX            64u      /* keys kept off at once (the oldest ban gives way) */
#define TW_RESUME_PEERS_MAX    64u      /* peers whose unfinished fetches are kept */
#define TW_RESUME_IDS_MAX      65536u   /* ids kept per peer to resume with */
#define TW_LISTEN_BACKLOG      128u
#define TW_RECHECK_CONNECTED_MS 10000u  /* a known address of a connected peer is looked at again after this */

int  tw_net_start(tw_node *n, char *err, size_t errlen);
/* Closes every connection and the listener; done runs once all handles are closed. */
void tw_net_stop(tw_node *n, void (*done)(tw_node *n));

/* Control operations. */
int  tw_net_encode_peers(tw_node *n, tw_buf *out);
int  tw_net_peer_add(tw_node *n, const char *addr, char *err, size_t errlen);
int  tw_net_peer_remove(tw_node *n, const char *addr, char *err, size_t errlen);
/* Starts a reconciliation with every connected peer; returns how many. */
unsigned tw_net_sync_now(tw_node *n);

#endif
