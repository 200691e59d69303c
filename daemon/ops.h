/*
 * Control operations: one handler per op of the control protocol
 * (proto/PROTOCOL.md, "Control socket").  A handler writes its result as
 * one msgpack value into `out`, or fails with a code and a message.
 */
#ifndef TWIND_OPS_H
#define TWIND_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "twin/limits.h"
#include "twin/mp.h"
#include "node.h"


typedef struct tw_op_err {
    char msg[512];
    int64_t index;          /* >= 0: the refused record of an import */
} tw_op_err;

/* A string argument of a request: *s NULL (and 0) when absent and not
 * required; TW_EINVAL with e filled in when required and absent, or not a
 * string.  *s is not NUL-terminated. */
int tw_op_arg_str(const tw_val *args, const char *name, bool required, const char **s,
                  size_t *len, tw_op_err *e);

/* Runs op; on failure returns a TW_E* code with e filled in.  An op that
 * needs the report while it is being made in the background finishes the
 * build here (at a million records, a second or more of the loop). */
int tw_ops_dispatch(tw_node *n, const char *op, size_t oplen, const tw_val *args,
                    tw_buf *out, tw_op_err *e);
/* The same for a door that can hold a request (the control socket, the web
 * interface): an op that needs the report being made returns 0 with *held
 * set and nothing written, and the door asks again once it is told the
 * build has ended (tw_ops_on_report_ended), calling tw_ops_held_done() when
 * it asks again or drops the request (its client gone).  At most
 * TW_REPORT_WAITERS_MAX requests are held; the next gets TW_EBUSY ("retry
 * in a moment"). */
int tw_ops_dispatch_held(tw_node *n, const char *op, size_t oplen, const tw_val *args,
                         tw_buf *out, tw_op_err *e, bool *held);
void tw_ops_held_done(void);
/* As tw_ops_held_done, for a request dropped because its client left while
 * it waited: its slot is free at once, and it is counted (status
 * "report_waits"). */
void tw_ops_held_dropped(void);
unsigned tw_ops_held(void);
/* fn(n, rc) is called when the build ends while requests are held: rc 0,
 * ask again (the report is ready, or a request would make it itself); else
 * the build failed with rc.  Called from within the loop, possibly inside
 * another request's dispatch: it should only mark what it holds and answer
 * it in a later turn.  Two doors at most; tw_ops_stop() forgets them. */
void tw_ops_on_report_ended(void (*fn)(tw_node *n, int rc));

/* Operations "invite" and "join" (daemon/ops_invite.c), dispatched by ops.c. */
int tw_ops_invite(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e);
int tw_ops_join(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e);

/* Associations and their keys (daemon/ops_ident.c), dispatched by ops.c. */
int tw_ops_device_add(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e);
int tw_ops_device_join(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e);
int tw_ops_device_accept(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e);
int tw_ops_device_list(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e);
int tw_ops_device_revoke(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e);
int tw_ops_key_plan(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e);
int tw_ops_key_rotate(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e);
int tw_ops_key_recover(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e);

/* The web interface's way to plan and rotate (daemon/ops_identweb.c). */
int tw_ops_key_plan_sealed(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e);
int tw_ops_key_rotate_sealed(tw_node *n, const tw_val *args, tw_buf *out, tw_op_err *e);

/* Frees what the ops keep between requests (at exit, and after a while
 * without requests), and drops a report being made in the background. */
void tw_ops_free_cache(void);
/* Once the node serves: makes the report of stats, gaps and report in the
 * background, a slice per turn of the loop (ops.c, "background build"), as
 * again after a change the kept report cannot be updated with.
 * tw_ops_stop() drops it and closes the timer (when the node stops). */
void tw_ops_start(tw_node *n);
void tw_ops_stop(tw_node *n);
/* Whether that report is being made (or about to be); records: how many
 * records the build has read so far. */
bool tw_ops_report_building(uint64_t *records);
/* Reports made from every record, and kept reports updated, since the start. */
void tw_ops_report_counts(uint64_t *made, uint64_t *updated);
/* Tells the ops an entry was stored (called for each stored entry, with
 * the version it replaced, right after the commit that stored it): the kept report of stats, gaps and
 * report is then updated with the slots that changed rather than made
 * again from every record. */
struct tw_put;
void tw_ops_stored(tw_node *n, const struct tw_put *put);

#endif
