/*
 * propgen: entries for the real-daemon tests of "one rule, every door"
 * (tests/integration/t_prop.sh and t_hostile_member.sh).
 *
 *   propgen key --seed HEX64
 *       prints the node key (twk_...) of the identity made from the seed.
 *   propgen cases --seed HEX64 --netkey-file F --cases N [--rng R] --dir D
 *                 [--publish SOCKET]
 *       makes N random records (tests/tools/propcase.h: valid ones, faulty
 *       ones, unknown kinds to the depth limit, tombstones; no fault in the
 *       kind or slot syntax, which a peer is banned for), signed by the
 *       seed's key for the network: D/all.bundle holds every entry,
 *       D/part-NNN.bundle 100 each.  With --publish, each record (but
 *       tombstones) is also published through the control socket SOCKET.
 *       D/cases.tsv has a line per case:
 *         i  intent  id  part  offset  publish  reason
 *       (intent ok|bad|unknown|tombstone; publish ok|refused|-).
 *   propgen hostile --seed HEX64 --netkey-file F --out FILE
 *                   --addrs A,B,... [--versions V] [--slots K] [--at MS]
 *       what a member holding a valid key can send to hurt every node:
 *       K peer records in slots other than "self", V versions of its own
 *       peer record (each but the last naming eight new names under
 *       .invalid, the last the addresses A,B,...), a record of an unknown
 *       kind nested to the depth limit, and a valid group record.
 *   propgen authors --seed HEX64 --netkey-file F --out FILE --cases N
 *       N peer records, each of its own author (keys derived from the seed
 *       and the index), each naming one address under .invalid: what many
 *       members could send to fill a node's learnt-address table.
 * Exit status 0, 1 on a local error, 2 on a usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/keytext.h"
#include "bundle.h"
#include "cli.h"
#include "propcase.h"

#define PART_CASES 100u

static int usage(void)
{
    fputs("usage: propgen key --seed HEX64\n"
          "       propgen authors --seed HEX64 --netkey-file F --out FILE --cases N\n"
          "       propgen cases --seed HEX64 --netkey-file F --cases N [--rng R] --dir D [--publish SOCKET]\n"
          "       propgen hostile --seed HEX64 --netkey-file F --out FILE --addrs A,B [--versions V] [--slots K] [--at MS]\n",
          stderr);
    return 2;
}

static int read_netid(const char *path, uint8_t netid[TW_NETID_LEN])
{
    FILE *f = fopen(path, "r");
    char line[256];
    uint8_t key[TW_NETKEY_LEN];
    int rc = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        line[n] = 0;
        if (line[0] == '#' || !line[0]) continue;
        if (tw_keytext_decode(key, TW_NETTEXT_PREFIX, line, n) == 0) { tw_netid_derive(netid, key); rc = 0; }
        break;
    }
    fclose(f);
    return rc;
}

static int write_file(const char *path, const tw_buf *b)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int rc = fwrite(b->p, 1, b->len, f) == b->len ? 0 : -1;
    return fclose(f) || rc ? -1 : 0;
}

static const char *intent_name(int i)
{
    return i == PC_OK ? "ok" : i == PC_BAD ? "bad" : i == PC_UNKNOWN_KIND ? "unknown" : "tombstone";
}

static int run_cases(const uint8_t sk[64], const uint8_t netid[32], unsigned n, uint64_t rng, const char *dir,
                     const char *sock)
{
    char path[4096], err[512];
    tw_arena a;
    tw_buf all, part, env, body;
    tw_conn *conn = NULL;
    tw_arena_init(&a, 0);
    tw_buf_init(&all);
    tw_buf_init(&part);
    tw_buf_init(&env);
    tw_buf_init(&body);
    if (sock && tw_conn_open(&conn, sock, err, sizeof err)) { fprintf(stderr, "propgen: %s\n", err); return 1; }
    snprintf(path, sizeof path, "%s/cases.tsv", dir);
    FILE *tsv = fopen(path, "w");
    if (!tsv) { perror(path); return 1; }
    uint64_t ts0 = (uint64_t)time(NULL) * 1000u - 3600000u;
    tw_bundle_begin(&all, netid, ts0);
    for (unsigned i = 0; i < n; i++) {
        pcase c;
        pc_gen(&a, &rng, i, 40, false, &c);
        if (pc_sign(&env, sk, netid, &c, ts0 + i)) { fprintf(stderr, "propgen: case %u cannot be signed\n", i); return 1; }
        if (i % PART_CASES == 0) { tw_buf_reset(&part); tw_bundle_begin(&part, netid, ts0); }
        size_t off = part.len;
        tw_bundle_add(&part, env.p, env.len);
        tw_bundle_add(&all, env.p, env.len);
        if (i % PART_CASES == PART_CASES - 1 || i == n - 1) {
            tw_bundle_end(&part, i % PART_CASES + 1);
            snprintf(path, sizeof path, "%s/part-%03u.bundle", dir, i / PART_CASES);
            if (write_file(path, &part)) { perror(path); return 1; }
        }
        uint8_t id[32];
        char hex[65];
        crypto_generichash(id, sizeof id, env.p, env.len, NULL, 0);
        tw_hex_encode(hex, id, sizeof id);
        const char *pub = "-";
        char why[TW_REASON_MAX] = "";
        if (conn && c.intent != PC_TOMBSTONE) {
            tw_kv kv[3] = { { tw_v_cstr("body"), c.body }, { tw_v_cstr("kind"), tw_v_cstr(c.kind) },
                            { tw_v_cstr("slot"), tw_v_cstr(c.slot) } };
            tw_val args = { .type = TW_MAP, .len = 3, .v.map = kv }, resp;
            tw_arena ra;
            tw_arena_init(&ra, 0);
            /* A tombstone the rules refuse (of a kind that cannot be
             * deleted) goes to the door a deletion takes. */
            const char *op = c.body.type == TW_NIL ? "delete" : "publish";
            if (c.body.type == TW_NIL) { args.len = 2; args.v.map = kv + 1; }
            int rc = tw_conn_send(conn, &ra, op, &args, err, sizeof err);
            if (rc == 0) rc = tw_conn_recv(conn, &ra, op, &body, &resp, err, sizeof err);
            pub = rc ? "refused" : "ok";
            if (rc) snprintf(why, sizeof why, "%.255s", err);
            tw_arena_free(&ra);
            if (rc && (rc == TW_EIO || rc == TW_ECLOSED)) { fprintf(stderr, "propgen: control socket: %s\n", err); return 1; }
        }
        for (char *q = why; *q; q++) if (*q == '\t' || *q == '\n') *q = ' ';
        fprintf(tsv, "%u\t%s\t%s\t%u\t%zu\t%s\t%s\n", i, intent_name(c.intent), hex, i / PART_CASES, off, pub, why);
        tw_arena_reset(&a);
    }
    tw_bundle_end(&all, n);
    snprintf(path, sizeof path, "%s/all.bundle", dir);
    int rc = write_file(path, &all) ? 1 : 0;
    if (fclose(tsv)) rc = 1;
    if (conn) tw_conn_close(conn);
    tw_buf_free(&all);
    tw_buf_free(&part);
    tw_buf_free(&env);
    tw_buf_free(&body);
    tw_arena_free(&a);
    return rc;
}

static int add_entry(tw_buf *b, tw_buf *env, const uint8_t sk[64], const uint8_t netid[32], pcase *c, uint64_t ts)
{
    if (pc_sign(env, sk, netid, c, ts)) return -1;
    return tw_bundle_add(b, env->p, env->len);
}

static tw_val addr_list(tw_arena *a, char **addrs, unsigned n)
{
    tw_val v;
    tw_v_arr(a, &v, n);
    for (unsigned i = 0; i < n; i++) v.v.arr[i] = tw_v_cstr(addrs[i]);
    return v;
}

/* --at MS: the time the hostile entries are dated (default ten minutes ago). */
static uint64_t at_ms;

static int run_hostile(const uint8_t sk[64], const uint8_t netid[32], const char *out, char *addrs_arg,
                       unsigned versions, unsigned slots)
{
    tw_arena a;
    tw_buf b, env;
    tw_arena_init(&a, 0);
    tw_buf_init(&b);
    tw_buf_init(&env);
    uint64_t ts = at_ms ? at_ms : (uint64_t)time(NULL) * 1000u - 600000u, count = 0, rng = 42;
    tw_bundle_begin(&b, netid, ts);
    char *addrs[TW_PEER_ADDRS_MAX];
    unsigned na = 0;
    for (char *t = strtok(addrs_arg, ","); t && na < TW_PEER_ADDRS_MAX; t = strtok(NULL, ",")) addrs[na++] = t;
    pcase c;
    memset(&c, 0, sizeof c);
    /* Peer records in slots other than "self", each with 8 names. */
    for (unsigned k = 0; k < slots; k++) {
        char *names[TW_PEER_ADDRS_MAX];
        for (unsigned j = 0; j < TW_PEER_ADDRS_MAX; j++) {
            names[j] = tw_arena_alloc(&a, 64);
            snprintf(names[j], 64, "slot%u-%u.invalid:%u", k, j, 7000 + j);
        }
        snprintf(c.kind, sizeof c.kind, "peer");
        snprintf(c.slot, sizeof c.slot, "home-%u", k);
        pc_map m = { .n = 0 };
        pc_put(&m, "addresses", addr_list(&a, names, TW_PEER_ADDRS_MAX));
        c.body = pc_finish(&a, &m);
        if (add_entry(&b, &env, sk, netid, &c, ts + count++)) return 1;
    }
    /* Its own peer record, version after version: the newest is the one
     * every node keeps. */
    for (unsigned v = 0; v < versions; v++) {
        char *names[TW_PEER_ADDRS_MAX];
        unsigned nn = TW_PEER_ADDRS_MAX;
        if (v == versions - 1) { memcpy(names, addrs, na * sizeof *names); nn = na; }
        else
            for (unsigned j = 0; j < nn; j++) {
                names[j] = tw_arena_alloc(&a, 64);
                snprintf(names[j], 64, "v%u-%u.invalid:%u", v, j, 7000 + j);
            }
        snprintf(c.kind, sizeof c.kind, "peer");
        snprintf(c.slot, sizeof c.slot, "self");
        pc_map m = { .n = 0 };
        pc_put(&m, "addresses", addr_list(&a, names, nn));
        c.body = pc_finish(&a, &m);
        if (add_entry(&b, &env, sk, netid, &c, ts + count++)) return 1;
    }
    /* The depth bomb: an unknown kind nested as deep as an entry may be. */
    snprintf(c.kind, sizeof c.kind, "event");
    snprintf(c.slot, sizeof c.slot, "depth-bomb");
    tw_val body;
    tw_v_map(&a, &body, 2);
    body.v.map[0].k = tw_v_cstr("title");
    body.v.map[0].v = tw_v_cstr("Olive harvest \xd9\x82\xd8\xb7\xd9\x81 \xd8\xa7\xd9\x84\xd8\xb2\xd9\x8a\xd8\xaa\xd9\x88\xd9\x86");
    body.v.map[1].k = tw_v_cstr("data");
    body.v.map[1].v = pc_nest(&a, &rng, TW_DEPTH_MAX - 2);
    c.body = body;
    if (add_entry(&b, &env, sk, netid, &c, ts + count++)) return 1;
    /* And an honest-looking group record. */
    snprintf(c.kind, sizeof c.kind, "group");
    snprintf(c.slot, sizeof c.slot, "main");
    pc_map m = { .n = 0 };
    pc_put(&m, "name", tw_v_cstr("Harrow Twinning Circle"));
    pc_put(&m, "group_kind", tw_v_cstr("friendship_group"));
    pc_put(&m, "nation", tw_v_cstr("england"));
    c.body = pc_finish(&a, &m);
    if (add_entry(&b, &env, sk, netid, &c, ts + count++)) return 1;
    tw_bundle_end(&b, count);
    int rc = write_file(out, &b) ? 1 : 0;
    printf("entries %llu\n", (unsigned long long)count);
    tw_buf_free(&b);
    tw_buf_free(&env);
    tw_arena_free(&a);
    return rc;
}

static int run_authors(const uint8_t seed[32], const uint8_t netid[32], const char *out, unsigned count)
{
    tw_arena a;
    tw_buf b, env;
    tw_arena_init(&a, 0);
    tw_buf_init(&b);
    tw_buf_init(&env);
    uint64_t ts = (uint64_t)time(NULL) * 1000u - 600000u;
    tw_bundle_begin(&b, netid, ts);
    for (unsigned i = 0; i < count; i++) {
        uint8_t s2[32], pk[32], sk[64];
        crypto_generichash(s2, sizeof s2, (const uint8_t *)&i, sizeof i, seed, 32);
        crypto_sign_seed_keypair(pk, sk, s2);
        pcase c;
        memset(&c, 0, sizeof c);
        snprintf(c.kind, sizeof c.kind, "peer");
        snprintf(c.slot, sizeof c.slot, "self");
        char *name = tw_arena_alloc(&a, 64);
        snprintf(name, 64, "member-%u.invalid:7700", i);
        pc_map m = { .n = 0 };
        pc_put(&m, "addresses", addr_list(&a, &name, 1));
        c.body = pc_finish(&a, &m);
        if (add_entry(&b, &env, sk, netid, &c, ts + i)) return 1;
    }
    tw_bundle_end(&b, count);
    int rc = write_file(out, &b) ? 1 : 0;
    tw_buf_free(&b);
    tw_buf_free(&env);
    tw_arena_free(&a);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "seed", required_argument, NULL, 's' }, { "netkey-file", required_argument, NULL, 'k' },
        { "cases", required_argument, NULL, 'n' }, { "rng", required_argument, NULL, 'r' },
        { "dir", required_argument, NULL, 'd' }, { "publish", required_argument, NULL, 'p' },
        { "out", required_argument, NULL, 'o' }, { "addrs", required_argument, NULL, 'a' },
        { "versions", required_argument, NULL, 'v' }, { "slots", required_argument, NULL, 'S' },
        { "at", required_argument, NULL, 't' }, { NULL, 0, NULL, 0 },
    };
    const char *seed_hex = NULL, *netkey_file = NULL, *dir = NULL, *sock = NULL, *out = NULL;
    char *addrs = NULL;
    unsigned n = 100, versions = 1, slots = 0;
    uint64_t rng = 1;
    if (argc < 2) return usage();
    const char *mode = argv[1];
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 's': seed_hex = optarg; break;
        case 'k': netkey_file = optarg; break;
        case 'n': n = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'r': rng = strtoull(optarg, NULL, 10); break;
        case 'd': dir = optarg; break;
        case 'p': sock = optarg; break;
        case 'o': out = optarg; break;
        case 'a': addrs = optarg; break;
        case 'v': versions = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'S': slots = (unsigned)strtoul(optarg, NULL, 10); break;
        case 't': at_ms = strtoull(optarg, NULL, 10); break;
        default: return usage();
        }
    }
    if (sodium_init() < 0) return 1;
    uint8_t seed[32], pk[32], sk[64], netid[32];
    if (!seed_hex || tw_hex_decode(seed, sizeof seed, seed_hex, strlen(seed_hex))) return usage();
    crypto_sign_seed_keypair(pk, sk, seed);
    if (!strcmp(mode, "key")) {
        char kt[TW_KEYTEXT_LEN + 1];
        tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, pk);
        printf("%s\n", kt);
        return 0;
    }
    if (!netkey_file || read_netid(netkey_file, netid)) { fprintf(stderr, "propgen: a readable --netkey-file is needed\n"); return 2; }
    if (!strcmp(mode, "cases") && dir && n) return run_cases(sk, netid, n, rng, dir, sock);
    if (!strcmp(mode, "authors") && out && n) return run_authors(seed, netid, out, n);
    if (!strcmp(mode, "hostile") && out && addrs) return run_hostile(sk, netid, out, addrs, versions ? versions : 1, slots);
    return usage();
}
