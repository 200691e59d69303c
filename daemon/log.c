#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>

#include "log.h"

static int level = TW_LOG_INFO;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const names[] = { "error", "warn", "info", "debug" };

void tw_log_set_level(int l) { level = l; }
int tw_log_level(void) { return level; }

int tw_log_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

void tw_log(int l, const char *module, const char *fmt, ...)
{
    if (l > level) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Peer-supplied text can reach a log line; keep it on one line. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20) *p = ' ';
    pthread_mutex_lock(&lock);
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
    pthread_mutex_unlock(&lock);
}
