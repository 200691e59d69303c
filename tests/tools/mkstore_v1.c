/*
 * Makes a twind data directory whose store is of format 1, as twind wrote
 * it before format 2 (tests/tools/store_v1.h), for the upgrade test
 * (tests/integration/t_upgrade.sh):
 *
 *   mkstore_v1 DATA_DIR COUNT
 *
 * DATA_DIR gets its keys from tw_node_open (as twind makes them), then a
 * store of COUNT place and group records of 10 authors, with a later
 * version of every 10th record.  Prints "digest HEX" (the digest twin
 * digest gives for that store) and "entries N".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include <uv.h>

#include "twin/entry.h"
#include "config.h"
#include "log.h"
#include "node.h"
#include "store_v1.h"

int main(int argc, char **argv)
{
    if (argc != 3) { fprintf(stderr, "usage: mkstore_v1 DATA_DIR COUNT\n"); return 2; }
    size_t count = strtoul(argv[2], NULL, 10);
    if (sodium_init() < 0 || count == 0 || count > 10000000) return 2;
    tw_log_set_level(TW_LOG_WARN);
    tw_config cfg;
    char err[1024], path[4300];
    tw_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", argv[1]);
    uv_loop_t *loop = uv_default_loop();
    static tw_node node;
    if (tw_node_open(&node, loop, &cfg, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    uint8_t netid[TW_NETID_LEN];
    memcpy(netid, node.netid, TW_NETID_LEN);
    tw_node_close(&node);
    uv_loop_close(loop);
    /* The store tw_node_open made (format 2, empty) gives way. */
    snprintf(path, sizeof path, "%s/store/data.mdb", argv[1]);
    unlink(path);
    snprintf(path, sizeof path, "%s/store/lock.mdb", argv[1]);
    unlink(path);

    uint8_t sks[10][64], pk[32];
    for (int a = 0; a < 10; a++) crypto_sign_keypair(pk, sks[a]);
    size_t n = count + count / 10;
    tw_buf *envs = calloc(n, sizeof *envs);
    tw_entry *es = calloc(n, sizeof *es);
    tw_arena ar;
    tw_arena_init(&ar, 0);
    if (!envs || !es) return 1;
    for (size_t i = 0; i < n; i++) {
        size_t r = i < count ? i : (i - count) * 10;   /* later versions of every 10th */
        char slot[32], name[80];
        const char *kind = r % 2 ? "group" : "place";
        snprintf(slot, sizeof slot, "%s-%zu", kind, r);
        snprintf(name, sizeof name, "Upgrade test %s %zu, version %d", r % 2 ? "association" : "village", r, i < count ? 1 : 2);
        tw_kv kv[1] = { { tw_v_cstr(r % 2 ? "name" : "name_en"), tw_v_cstr(name) } };
        tw_val body = { .type = TW_MAP, .len = 1, .v.map = kv };
        tw_buf_init(&envs[i]);
        if (tw_entry_sign(&envs[i], sks[r % 10], netid, kind, strlen(kind), slot, strlen(slot), 1700000000000ull + i, &body) ||
            tw_entry_parse(envs[i].p, envs[i].len, &ar, &es[i], NULL)) {
            fprintf(stderr, "mkstore_v1: cannot sign entry %zu\n", i);
            return 1;
        }
    }
    uint8_t d[32];
    uint64_t c = 0;
    int rc = v1_write(argv[1], netid, es, n, d, &c);
    if (rc) { fprintf(stderr, "mkstore_v1: %s\n", mdb_strerror(rc)); return 1; }
    printf("digest ");
    for (int i = 0; i < 32; i++) printf("%02x", d[i]);
    printf("\nentries %llu\n", (unsigned long long)c);
    for (size_t i = 0; i < n; i++) tw_buf_free(&envs[i]);
    free(envs);
    free(es);
    tw_arena_free(&ar);
    return 0;
}
