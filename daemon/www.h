/*
 * The web interface's files (daemon/www/), compiled in by
 * contrib/www2c.py into $(B)/gen/www.c: no file is read at run time.
 */
#ifndef TWIND_WWW_H
#define TWIND_WWW_H

#include <stddef.h>

typedef struct tw_www_file {
    const char *path;           /* "/app.js", "/i18n/ar.json", "/index.html" */
    const char *type;           /* Content-Type */
    const char *etag;           /* quoted: the first 16 hex digits of its SHA-256 */
    const unsigned char *data;
    size_t len;
} tw_www_file;

extern const tw_www_file tw_www_files[];
extern const size_t tw_www_nfiles;
extern const size_t tw_www_total;  /* bytes of every file together */

#endif
