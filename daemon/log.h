/*
 * Logging to stderr (the journal under systemd): one line per event,
 * "LEVEL module: message".  Timestamps are added unless stderr is the
 * journal (JOURNAL_STREAM set), which stamps lines itself.
 *
 * Lines that a peer or a local client can repeat at will (a refused
 * connection, a malformed request, an entry not stored) go through
 * tw_log_limited() with a key naming the kind of line (its call site, e.g.
 * "net.refused"): at most TW_LOG_BURST lines per key are written in each
 * window of TW_LOG_WINDOW_MS; the rest are counted, and when the window
 * closes one line says how many were dropped and what the last one said:
 *
 *   info ctl: ctl.malformed: 995 similar lines dropped in 10 s (last: ...)
 *
 * Keys are compared as strings (at most TW_LOG_KEY_MAX - 1 bytes are
 * kept); TW_LOG_KEYS_MAX keys are tracked, and a new key evicts the least
 * recently used one, writing its summary first.  A key must name a call
 * site, never text from a peer, or the keys themselves become the flood.
 */
#ifndef TWIND_LOG_H
#define TWIND_LOG_H

#include <stdint.h>

enum { TW_LOG_ERROR = 0, TW_LOG_WARN, TW_LOG_INFO, TW_LOG_DEBUG };

void tw_log_set_level(int level);
int  tw_log_level(void);
int  tw_log_parse_level(const char *s);   /* -1 if unknown */
void tw_log(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A line of a kind that may repeat: rate-limited per key as above.  Lines
 * above the current level are neither written nor counted.  A NULL key
 * writes the line as tw_log() does, for a call site that limits only some
 * of its lines. */
void tw_log_limited(int level, const char *module, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Writes the summaries of windows that have closed (all of them with
 * force, at exit).  twind calls it every second, so that a summary comes
 * even when the flood has stopped. */
void tw_log_flush(int force);
/* The clock of the rate limiter, in ms (monotonic by default); tests fix it. */
void tw_log_set_clock(uint64_t (*now_ms)(void));

#define tw_err(m, ...)   tw_log(TW_LOG_ERROR, m, __VA_ARGS__)
#define tw_warn(m, ...)  tw_log(TW_LOG_WARN, m, __VA_ARGS__)
#define tw_info(m, ...)  tw_log(TW_LOG_INFO, m, __VA_ARGS__)
#define tw_debug(m, ...) do { if (tw_log_level() >= TW_LOG_DEBUG) tw_log(TW_LOG_DEBUG, m, __VA_ARGS__); } while (0)

#endif
