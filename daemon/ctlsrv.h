/*
 * Control socket server: <data-dir>/twind.sock, mode 0600, callers checked
 * by uid (SO_PEERCRED), at most TW_CTL_CONN_PER_UID_MAX connections per uid,
 * messages bounded by TW_CTL_MSG_MAX.  A bad message gets an error response
 * and is logged; it never stops the daemon serving others.
 */
#ifndef TWIND_CTLSRV_H
#define TWIND_CTLSRV_H

#include "node.h"

int  tw_ctlsrv_start(tw_node *n, char *err, size_t errlen);
/* Closes the listener and every connection; done() runs when all handles
 * are closed. */
void tw_ctlsrv_stop(tw_node *n, void (*done)(tw_node *n));

#endif
