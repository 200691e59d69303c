/*
 * Logging (daemon/log.h): plain lines, and the per-key rate limiter.
 *
 * The limiter is a fixed window per key rather than a refilling bucket so
 * that its rule fits in one sentence of twind(8): at most TW_LOG_BURST
 * lines of a kind per TW_LOG_WINDOW_MS, then one summary.  Every write, the
 * limiter's state included, is under one mutex: the thread pool logs too.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>

#include "twin/limits.h"
#include "log.h"

static int level = TW_LOG_INFO;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const names[] = { "error", "warn", "info", "debug" };

typedef struct lkey {
    char key[TW_LOG_KEY_MAX];
    char module[16];
    int level;
    uint64_t window_start, last_use;
    unsigned written;                 /* lines written in this window */
    unsigned long long dropped;       /* lines dropped in this window */
    char last[200];                   /* the last line dropped */
} lkey;

static lkey keys[TW_LOG_KEYS_MAX];
static unsigned nkeys;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
static uint64_t (*clock_ms)(void) = mono_ms;

void tw_log_set_level(int l) { level = l; }
int tw_log_level(void) { return level; }
void tw_log_set_clock(uint64_t (*now_ms)(void)) { clock_ms = now_ms ? now_ms : mono_ms; }

int tw_log_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

/* Formats into msg, one line: peer-supplied text can reach a log line. */
static void format(char *msg, size_t cap, const char *fmt, va_list ap)
{
    vsnprintf(msg, cap, fmt, ap);
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20) *p = ' ';
}

/* Writes one line; the caller holds the lock. */
static void emit(int l, const char *module, const char *msg)
{
    if (getenv("JOURNAL_STREAM")) {
        fprintf(stderr, "<%d>%s %s: %s\n", l == 0 ? 3 : l == 1 ? 4 : l == 2 ? 6 : 7, names[l], module, msg);
    } else {
        struct timespec ts;
        struct tm tm;
        char when[32];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(stderr, "%s.%03ldZ %s %s: %s\n", when, ts.tv_nsec / 1000000, names[l], module, msg);
    }
}

/* Ends k's window: the summary if anything was dropped.  Lock held. */
static void close_window(lkey *k, uint64_t now)
{
    if (k->dropped) {
        char msg[TW_LOG_LINE_MAX];
        uint64_t span = now - k->window_start;
        unsigned s = (unsigned)((span + 999) / 1000);
        snprintf(msg, sizeof msg, "%s: %llu similar line%s dropped in %u s (last: %s)", k->key, k->dropped,
                 k->dropped == 1 ? "" : "s", s ? s : 1, k->last);
        emit(k->level, k->module, msg);
    }
    k->window_start = now;
    k->written = 0;
    k->dropped = 0;
}

static lkey *find_key(const char *key, uint64_t now)
{
    lkey *lru = NULL;
    for (unsigned i = 0; i < nkeys; i++) {
        if (strncmp(keys[i].key, key, sizeof keys[i].key - 1) == 0) return &keys[i];
        if (!lru || keys[i].last_use < lru->last_use) lru = &keys[i];
    }
    lkey *k;
    if (nkeys < TW_LOG_KEYS_MAX) {
        k = &keys[nkeys++];
    } else {
        close_window(lru, now);
        k = lru;
    }
    memset(k, 0, sizeof *k);
    snprintf(k->key, sizeof k->key, "%s", key);
    k->window_start = now;
    return k;
}

/* One line, limited under key (NULL: not limited). */
static void vlog(int l, const char *module, const char *key, const char *fmt, va_list ap)
{
    if (l > level) return;
    char msg[TW_LOG_LINE_MAX];
    format(msg, sizeof msg, fmt, ap);
    pthread_mutex_lock(&lock);
    if (!key) {
        emit(l, module, msg);
        pthread_mutex_unlock(&lock);
        return;
    }
    uint64_t now = clock_ms();
    lkey *k = find_key(key, now);
    if (now - k->window_start >= TW_LOG_WINDOW_MS) close_window(k, now);
    k->last_use = now;
    k->level = l;
    snprintf(k->module, sizeof k->module, "%s", module);
    if (k->written < TW_LOG_BURST) {
        k->written++;
        emit(l, module, msg);
    } else {
        k->dropped++;
        size_t n = strlen(msg);
        if (n >= sizeof k->last) {
            /* Cut at a character boundary: the line stays valid UTF-8. */
            n = sizeof k->last - 1;
            while (n && ((unsigned char)msg[n] & 0xC0) == 0x80) n--;
        }
        memcpy(k->last, msg, n);
        k->last[n] = 0;
    }
    pthread_mutex_unlock(&lock);
}

void tw_log(int l, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(l, module, NULL, fmt, ap);
    va_end(ap);
}

void tw_log_limited(int l, const char *module, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(l, module, key, fmt, ap);
    va_end(ap);
}

void tw_log_flush(int force)
{
    pthread_mutex_lock(&lock);
    uint64_t now = clock_ms();
    for (unsigned i = 0; i < nkeys; i++)
        if (keys[i].dropped && (force || now - keys[i].window_start >= TW_LOG_WINDOW_MS))
            close_window(&keys[i], now);
    pthread_mutex_unlock(&lock);
}
