/*
 * Logging to stderr (the journal under systemd): one line per event,
 * "LEVEL module: message".  Timestamps are added unless stderr is the
 * journal (JOURNAL_STREAM set), which stamps lines itself.
 */
#ifndef TWIND_LOG_H
#define TWIND_LOG_H

enum { TW_LOG_ERROR = 0, TW_LOG_WARN, TW_LOG_INFO, TW_LOG_DEBUG };

void tw_log_set_level(int level);
int  tw_log_level(void);
int  tw_log_parse_level(const char *s);   /* -1 if unknown */
void tw_log(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define tw_err(m, ...)   tw_log(TW_LOG_ERROR, m, __VA_ARGS__)
#define tw_warn(m, ...)  tw_log(TW_LOG_WARN, m, __VA_ARGS__)
#define tw_info(m, ...)  tw_log(TW_LOG_INFO, m, __VA_ARGS__)
#define tw_debug(m, ...) do { if (tw_log_level() >= TW_LOG_DEBUG) tw_log(TW_LOG_DEBUG, m, __VA_ARGS__); } while (0)

#endif
