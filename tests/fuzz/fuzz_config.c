/*
 * Fuzz target: twind's config file parser (daemon/config.c).  Any bytes
 * give either settings within their documented ranges or an error naming
 * the line; never a crash or an overflow of the fixed-size fields.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    FILE *f = fmemopen((void *)data, size, "r");
    if (!f) return 0;
    tw_config c;
    char err[1024];
    tw_config_defaults(&c);
    int rc = tw_config_parse(&c, f, "fuzz.conf", err, sizeof err);
    fclose(f);
    if (rc == 0) {
        if (c.npeers > TW_CONF_PEERS_MAX || c.nroots > TW_CONF_ROOTS_MAX || c.log_level < 0 ||
            c.log_level > TW_LOG_DEBUG || memchr(c.data_dir, 0, sizeof c.data_dir) == NULL ||
            memchr(c.listen, 0, sizeof c.listen) == NULL)
            abort();
        for (unsigned i = 0; i < c.npeers; i++)
            if (!tw_addr_valid(c.peers[i])) abort();
    } else if (strncmp(err, "fuzz.conf:", 10) != 0) {
        abort();                       /* every refusal names the file and line */
    }
    return 0;
}
