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
#include "twin/limits.h"
#include "twin/mp.h"
#include "node.h"


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
