/*
 * Ingest benchmark: verify + store of pre-signed entries through the same
 * pipeline twind uses for entries from peers (daemon/ingest.c), beside the
 * bare one-core Ed25519 verify rate measured in the same run.
 *
 *   bench_ingest DATA_DIR [COUNT]
 *
 * Leaves DATA_DIR as a twind data directory holding COUNT records (groups,
 * places and links of 1000 authors), and writes DATA_DIR/entries.bin (each
 * envelope preceded by a 4-byte big-endian length) for other benchmarks.
 * Prints figures; asserts nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include <uv.h>

#include "twin/entry.h"
#include "twin/err.h"
#include "twin/keytext.h"
#include "admit.h"
#include "config.h"
#include "ingest.h"
#include "log.h"
#include "node.h"
#include "store.h"

#define AUTHORS 1000u
#define JOB 1000u

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const gov[] = { "PS-JEN", "PS-TBS", "PS-TKM", "PS-NBS", "PS-QQA", "PS-SLT", "PS-RBH", "PS-JRH",
                                   "PS-JEM", "PS-BTH", "PS-HBN", "PS-NGZ", "PS-GZA", "PS-DEB", "PS-KYS", "PS-RFH" };
static const char *const region[] = { "E12000001", "E12000002", "E12000003", "E12000004", "E12000005", "E12000006",
                                      "E12000007", "E12000008", "E12000009" };
static const char *const pkind[] = { "city", "town", "village", "refugee_camp", "bedouin_community", "neighbourhood" };
static const char *const gkind[] = { "twinning_association", "friendship_group", "student_union", "church", "school",
                                     "university", "council", "health_link" };
static const char *const status[] = { "exploring", "active", "dormant", "ended" };
static const char *const formality[] = { "formal_twinning", "friendship_link", "institutional_link", "exploring" };

/* CPU time of the process (every thread) and of the calling thread: on a
 * machine shared with other work, wall-clock rates vary with the load, CPU
 * time per entry much less. */
static double cpu_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes the process passed to write calls (/proc/self/io wchar): LMDB
 * writes each page a commit dirtied, so this is the pages per entry. */
static unsigned long long wchar_bytes(void)
{
    unsigned long long v = 0;
    char line[128];
    FILE *f = fopen("/proc/self/io", "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "wchar: %llu", &v) == 1) break;
    fclose(f);
    return v;
}

static size_t done_jobs, total_jobs;
static tw_ingest_counts total;

/* Sampled every TICK_MS during the ingest: the CPU of the threads other
 * than the loop and the ingest's writer (the verifiers).  Once it stops
 * growing, verification is over and what is left is the writer committing
 * alone, one core idle. */
#define TICK_MS 50u
static uv_timer_t tick;
static tw_ingest *ing;
static double tick_t0, last_verify_s, last_workers_cpu;
static double end_s, end_all_cpu, end_loop_cpu, end_writer_cpu;   /* when the last job was done */
static unsigned long long end_wchar;

static void on_tick(uv_timer_t *t)
{
    double workers = cpu_s(CLOCK_PROCESS_CPUTIME_ID) - cpu_s(CLOCK_THREAD_CPUTIME_ID) - tw_ingest_writer_cpu(ing);
    /* A verifier that ran in the last tick used more than a millisecond. */
    if (workers - last_workers_cpu > 1e-3) last_verify_s = now_s() - tick_t0;
    last_workers_cpu = workers;
    if (done_jobs == total_jobs) uv_timer_stop(t);
}

static void job_done(void *ctx, const tw_ingest_counts *c, const int *rcs, const char *const *whys,
                     const uint8_t *const *authors, size_t n)
{
    (void)ctx;
    total.stored += c->stored;
    total.known += c->known;
    total.stale += c->stale;
    total.refused += c->refused;
    for (size_t i = 0; i < n && c->refused; i++)
        if (rcs[i] != 0 && rcs[i] != TW_EEXIST && rcs[i] != TW_ESTALE) { fprintf(stderr, "refused: %s\n", whys[i]); break; }
    if (++done_jobs == total_jobs) {
        end_s = now_s();
        end_all_cpu = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
        end_loop_cpu = cpu_s(CLOCK_THREAD_CPUTIME_ID);
        end_writer_cpu = tw_ingest_writer_cpu(ing);
        end_wchar = wchar_bytes();
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: bench_ingest DATA_DIR [COUNT]\n"); return 2; }
    size_t count = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
    tw_store_heap_setup();        /* as twind does */
    if (sodium_init() < 0 || count == 0) return 1;
    tw_log_set_level(TW_LOG_WARN);
    tw_config cfg;
    char err[1024];
    tw_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", argv[1]);
    /* BENCH_ROOT_SEED (64 hex digits): admission on.  The seed's key is the
     * root, and every author is vouched for by it before the timing starts,
     * so that the ingest below runs the admission check of every batch. */
    const char *rseed = getenv("BENCH_ROOT_SEED");
    uint8_t rpk[32], rsk[64], seed[32];
    if (rseed) {
        if (tw_hex_decode(seed, 32, rseed, strlen(rseed))) { fprintf(stderr, "BENCH_ROOT_SEED: 64 hex digits\n"); return 2; }
        crypto_sign_seed_keypair(rpk, rsk, seed);
        memcpy(cfg.roots[0], rpk, 32);
        cfg.nroots = 1;
    }
    uv_loop_t *loop = uv_default_loop();
    static tw_node node;
    if (tw_node_open(&node, loop, &cfg, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }

    /* Authors and their entries, signed before any timing starts. */
    uint8_t (*sks)[64] = malloc(AUTHORS * 64);
    for (unsigned a = 0; a < AUTHORS; a++) {
        uint8_t pk[32];
        crypto_sign_keypair(pk, sks[a]);
    }
    if (rseed) {
        tw_buf v;
        tw_buf_init(&v);
        uint64_t vts = tw_now_ms() - count - 2 * AUTHORS;
        for (unsigned a = 0; a < AUTHORS; a++) {
            char kt[TW_KEYTEXT_LEN + 1], name[48];
            tw_arena ar;
            tw_entry e;
            tw_put put = { 0 };
            tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, sks[a] + 32);
            snprintf(name, sizeof name, "Benchmark association %u", a);
            tw_kv kv[2] = { { tw_v_cstr("key"), tw_v_cstr(kt) }, { tw_v_cstr("name"), tw_v_cstr(name) } };
            tw_val body = { .type = TW_MAP, .len = 2, .v.map = kv };
            tw_arena_init(&ar, 0);
            if (tw_entry_sign(&v, rsk, node.netid, "vouch", 5, kt, strlen(kt), vts + a, &body) ||
                tw_entry_parse(v.p, v.len, &ar, &e, NULL)) { fprintf(stderr, "vouch sign failed\n"); return 1; }
            put.e = &e;
            if (tw_store_put_batch(node.store, &put, 1)) { fprintf(stderr, "vouch store failed\n"); return 1; }
            tw_admit_stored(&node, &e);
            tw_arena_free(&ar);
        }
        tw_admit_settle(&node);
        tw_buf_free(&v);
        char rt[TW_KEYTEXT_LEN + 1];
        tw_keytext_encode(rt, TW_KEYTEXT_PREFIX, rpk);
        printf("admission on: root %s, %u authors vouched for\n", rt, AUTHORS);
    }
    uint8_t *all = malloc(count * 700);
    size_t *lens = malloc(count * sizeof *lens), off = 0;
    tw_buf env;
    tw_buf_init(&env);
    uint64_t ts0 = tw_now_ms() - count;
    double t0 = now_s();
    for (size_t i = 0; i < count; i++) {
        char slot[64], name[96], ref[96];
        tw_kv kv[8];
        unsigned nk = 0;
        const char *kind;
        unsigned r = (unsigned)(i * 2654435761u);
        if (i % 10 < 3) {
            kind = "group";
            snprintf(slot, sizeof slot, "group-%zu", i);
            snprintf(name, sizeof name, "Benchmark Twinning Association number %zu", i);
            kv[nk++] = (tw_kv){ tw_v_cstr("name"), tw_v_cstr(name) };
            kv[nk++] = (tw_kv){ tw_v_cstr("group_kind"), tw_v_cstr(gkind[r % 8]) };
            kv[nk++] = (tw_kv){ tw_v_cstr("nation"), tw_v_cstr("england") };
            /* Half the groups give no region, so that the reports infer it
             * from the local authority: found, or not (the longer search). */
            if (r % 2) kv[nk++] = (tw_kv){ tw_v_cstr("region"), tw_v_cstr(region[r % 9]) };
            kv[nk++] = (tw_kv){ tw_v_cstr("local_authority"),
                                tw_v_cstr(i % 20 < 10 ? "Benchmark Borough Council" : "London Borough of Camden") };
            kv[nk++] = (tw_kv){ tw_v_cstr("seeking_partner"), tw_v_bool(r % 5 == 0) };
        } else if (i % 10 < 7) {
            kind = "place";
            snprintf(slot, sizeof slot, "place-%zu", i);
            snprintf(name, sizeof name, "Benchmark Village %zu", i);
            kv[nk++] = (tw_kv){ tw_v_cstr("name_en"), tw_v_cstr(name) };
            kv[nk++] = (tw_kv){ tw_v_cstr("name_ar"), tw_v_cstr("\xd9\x82\xd8\xb1\xd9\x8a\xd8\xa9") };
            kv[nk++] = (tw_kv){ tw_v_cstr("place_kind"), tw_v_cstr(pkind[r % 6]) };
            kv[nk++] = (tw_kv){ tw_v_cstr("country"), tw_v_cstr("PS") };
            kv[nk++] = (tw_kv){ tw_v_cstr("subdivision"), tw_v_cstr(gov[r % 16]) };
            kv[nk++] = (tw_kv){ tw_v_cstr("area"), tw_v_cstr(r % 16 >= 11 ? "gaza" : "west_bank") };
            kv[nk++] = (tw_kv){ tw_v_cstr("seeking_partner"), tw_v_bool(r % 3 == 0) };
        } else {
            kind = "link";
            snprintf(slot, sizeof slot, "link-%zu", i);
            snprintf(ref, sizeof ref, "place-%zu", i - 3);
            kv[nk++] = (tw_kv){ tw_v_cstr("group"), tw_v_cstr("group-0") };
            kv[nk++] = (tw_kv){ tw_v_cstr("place"), tw_v_cstr(ref) };
            kv[nk++] = (tw_kv){ tw_v_cstr("formality"), tw_v_cstr(formality[r % 4]) };
            kv[nk++] = (tw_kv){ tw_v_cstr("status"), tw_v_cstr(status[r % 3]) };
            kv[nk++] = (tw_kv){ tw_v_cstr("since"), tw_v_cstr("2012-05") };
            kv[nk++] = (tw_kv){ tw_v_cstr("description"), tw_v_cstr("School exchanges, olive harvest visits and a joint choir.") };
        }
        tw_val body = { .type = TW_MAP, .len = nk, .v.map = kv };
        int rc = tw_entry_sign(&env, sks[i % AUTHORS], node.netid, kind, strlen(kind), slot, strlen(slot), ts0 + i, &body);
        if (rc || env.len > 700) { fprintf(stderr, "sign failed: %s\n", tw_strerror(rc)); return 1; }
        memcpy(all + off, env.p, env.len);
        lens[i] = env.len;
        off += env.len;
    }
    double t_sign = now_s() - t0;
    printf("generated %zu entries (%.0f bytes on average) in %.2f s\n", count, (double)off / (double)count, t_sign);

    /* One core: parse + verify, the work a verifier thread does. */
    t0 = now_s();
    double c0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
    size_t ok = 0;
    off = 0;
    for (size_t i = 0; i < count; i++) {
        tw_arena a;
        tw_entry e;
        tw_arena_init(&a, 0);
        if (tw_entry_parse(all + off, lens[i], &a, &e, NULL) == 0 && tw_entry_verify(&e) == 0) ok++;
        tw_arena_free(&a);
        off += lens[i];
    }
    double t_verify = now_s() - t0;
    double c_verify = cpu_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    double verify_rate = (double)count / t_verify;
    printf("one-core parse+verify: %.0f entries/s (%zu ok)\n", verify_rate, ok);

    FILE *f;
    char path[4200];
    snprintf(path, sizeof path, "%s/entries.bin", argv[1]);
    if ((f = fopen(path, "wb"))) {
        off = 0;
        for (size_t i = 0; i < count; i++) {
            uint8_t h[4] = { (uint8_t)(lens[i] >> 24), (uint8_t)(lens[i] >> 16), (uint8_t)(lens[i] >> 8), (uint8_t)lens[i] };
            fwrite(h, 1, 4, f);
            fwrite(all + off, 1, lens[i], f);
            off += lens[i];
        }
        fclose(f);
    }

    tw_ingest_new(&ing, &node, NULL, NULL);
    uv_timer_init(loop, &tick);
    unsigned long long wchar0 = wchar_bytes();
    t0 = tick_t0 = now_s();
    double w0 = tw_ingest_writer_cpu(ing);
    last_workers_cpu = cpu_s(CLOCK_PROCESS_CPUTIME_ID) - cpu_s(CLOCK_THREAD_CPUTIME_ID) - w0;
    uv_timer_start(&tick, on_tick, TICK_MS, TICK_MS);
    double p0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
    c0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
    off = 0;
    for (size_t i = 0; i < count; i += JOB) {
        size_t n = count - i < JOB ? count - i : JOB, bytes = 0;
        for (size_t k = 0; k < n; k++) bytes += lens[i + k];
        tw_ingest_submit(ing, all + off, lens + i, n, job_done, NULL);
        off += bytes;
        total_jobs++;
    }
    uv_run(loop, UV_RUN_DEFAULT);
    double t_ingest = end_s - t0;
    double c_loop = end_loop_cpu - c0, c_all = end_all_cpu - p0, c_writer = end_writer_cpu - w0;
    double rate = (double)count / t_ingest;
    printf("ingest (verify on the thread pool, batched commits): %.0f entries/s, %.2f s for %zu\n", rate, t_ingest, count);
    printf("ratio to one-core verify: %.2f (target >= 1.4, issue 14)\n", rate / verify_rate);
    /* The writer thread's share is the commits, the loop's admission and
     * the callbacks; with the verify threads on other cores, the ingest
     * rate is bounded by cores / (all CPU per entry) and by 1 / (writer CPU
     * per entry). */
    printf("CPU per entry: one-core verify %.1f us; ingest %.1f us in all threads, of which %.1f us on the writer thread (commits) and %.1f us on the loop thread\n",
           c_verify / (double)count * 1e6, c_all / (double)count * 1e6, c_writer / (double)count * 1e6,
           c_loop / (double)count * 1e6);
    /* Load-independent-ish figures of how well the two stages overlap:
     * the cores the process kept busy, and the share of the time spent
     * after the last verification (the loop's backlog of commits). */
    /* What the ratio would be with every core busy with this process and
     * nothing else: CPU per entry varies much less with other work on the
     * machine than wall-clock rates do. */
    unsigned cores = uv_available_parallelism();
    printf("ratio with all %u cores busy (cores x one-core verify CPU / ingest CPU per entry): %.2f\n", cores,
           cores * c_verify / c_all);
    printf("overlap: %.2f cores busy on average; verification over %.2f s before the end (%.0f%% of the ingest committed with the verifiers idle)\n",
           c_all / t_ingest, t_ingest - last_verify_s, 100.0 * (t_ingest - last_verify_s) / t_ingest);
    printf("written by the commits: %.0f bytes per entry (%.2f pages of 4096)\n", (double)(end_wchar - wchar0) / (double)count,
           (double)(end_wchar - wchar0) / (double)count / 4096.0);
    printf("stored %llu, known %llu, stale %llu, refused %llu\n", (unsigned long long)total.stored,
           (unsigned long long)total.known, (unsigned long long)total.stale, (unsigned long long)total.refused);
    tw_ingest_free(ing);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    tw_node_close(&node);
    free(all);
    free(lens);
    free(sks);
    tw_buf_free(&env);
    return total.stored == count && done_jobs == total_jobs ? 0 : 1;
}
