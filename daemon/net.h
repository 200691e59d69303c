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
/* Median of the connected peers' clock offsets (peer minus ours) and their
 * number; returns 1 when the median is more than TW_FUTURE_SKEW_MS either
 * way, i.e. this node's clock is the one that is wrong. */
int  tw_net_clock(tw_node *n, int64_t *median_ms, unsigned *npeers);
/* Per established connection: entries still to receive and to send. */
int  tw_net_encode_progress(tw_node *n, tw_buf *out);
/* Starts a reconciliation with every connected peer; returns how many. */
unsigned tw_net_sync_now(tw_node *n);
/* An entry refused because its author is not admitted: not asked for
 * again until some key gains admission (at most TW_REFUSED_IDS_MAX). */
void tw_net_note_refused(tw_node *n, const uint8_t id[TW_ID_LEN]);
/* Closes every connection (the node moved to another network). */
void tw_net_drop_all(tw_node *n, const char *why);
/* Admission changed (daemon/admit.c): the records in gone leave the
 * reconciliation set, those in added join it; gained: some key was
 * admitted, so every peer is reconciled with to fetch what was refused
 * before, and peers in backoff are redialled.  Connections of keys that
 * are now refused are closed. */
struct tw_neg_item;
void tw_net_admission_changed(tw_node *n, const struct tw_neg_item *gone, size_t ngone,
                              const struct tw_neg_item *added, size_t nadded, bool gained);

/* As tw_net_peer_add, for the address an invitation code gave (shown with
 * source "invite"; saved like a manual one). */
int tw_net_peer_add_invite(tw_node *n, const char *addr, char *err, size_t errlen);
/* Entries received from peers and not stored since start, and the reason
 * of the last one ("" if none). */
void tw_net_refusals(tw_node *n, uint64_t *count, const char **last);
/* Backpressure on received entries (PROTOCOL.md "Backpressure"): whether
 * peers are not to be read, given whether they are not read now (full) and
 * the verification jobs waiting.  Reading stops at the job past
 * TW_INGEST_JOBS_MAX and starts again at half of it. */
bool tw_net_ingest_gate(bool full, size_t jobs);
/* `twin status`'s "verification" map: jobs waiting, the most at once,
 * times reading stopped, and whether peers are read. */
int  tw_net_encode_ingest(tw_node *n, tw_buf *out);

#endif
