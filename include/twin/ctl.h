/*
 * Control protocol between twin and twind over the Unix socket
 * (proto/PROTOCOL.md, "Control socket").
 *
 * Each message is a 4-byte big-endian length followed by that many bytes of
 * msgpack (at most TW_CTL_MSG_MAX).  A request is a map
 *     {"v": TW_CTL_VERSION, "op": str, "args": map}
 * and its response, sent in order, is
 *     {"v": TW_CTL_VERSION, "ok": true,  "result": any}
 *  or {"v": TW_CTL_VERSION, "ok": false, "code": int, "error": str}
 * with optional extra keys in an error (e.g. "index" of a refused import record).
 */
#ifndef TWIN_CTL_H
#define TWIN_CTL_H

#include <stddef.h>
#include <stdint.h>
#include "twin/mp.h"

#define TW_CTL_HDR_LEN 4u
#define TW_CTL_SOCKET_NAME "twind.sock"

/* Length from a 4-byte header; TW_ETOOBIG above TW_CTL_MSG_MAX, TW_EINVAL for 0. */
int tw_ctl_frame_len(const uint8_t hdr[TW_CTL_HDR_LEN], uint32_t *len);
/* Appends header + encoding of msg to out. */
int tw_ctl_frame(tw_buf *out, const tw_val *msg);
/* Decodes one message body (without header): a map whose "v" is
 * TW_CTL_VERSION (TW_EVERSION otherwise). */
int tw_ctl_decode(const uint8_t *buf, size_t len, tw_arena *a, tw_val *msg,
                  const char **why);
/* Builders (values are not copied: keep them alive until framed). */
int tw_ctl_request(tw_arena *a, tw_val *msg, const char *op, const tw_val *args);
int tw_ctl_ok(tw_arena *a, tw_val *msg, const tw_val *result);
int tw_ctl_error(tw_arena *a, tw_val *msg, int code, const char *error);

#endif
