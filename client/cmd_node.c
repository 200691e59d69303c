/*
 * twin status, digest and stats: what the node knows about itself.
 *
 * Answers are printed generically where the daemon may add to them: status
 * prints the keys it knows and ignores others, and stats prints every table
 * it is given (a map of name -> map of key -> count): those it knows titled
 * in words, the others under their keys, so a newer daemon's statistics
 * show up without a new client.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csv.h"
#include "twin/err.h"
#include "twin/limits.h"

static void human_bytes(char *out, size_t n, uint64_t v)
{
    static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double d = (double)v;
    size_t u = 0;
    while (d >= 1024.0 && u + 1 < sizeof unit / sizeof unit[0]) { d /= 1024.0; u++; }
    if (u == 0) snprintf(out, n, "%" PRIu64 " B", v);
    else snprintf(out, n, "%.1f %s", d, unit[u]);
}

static void human_duration(char *out, size_t n, uint64_t ms)
{
    uint64_t s = ms / 1000, d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
    if (d) snprintf(out, n, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m", d, h, m);
    else if (h) snprintf(out, n, "%" PRIu64 "h %" PRIu64 "m", h, m);
    else snprintf(out, n, "%" PRIu64 "m %" PRIu64 "s", m, s % 60);
}

static int cmp_kv_key(const void *x, const void *y)
{
    const tw_kv *a = *(const tw_kv *const *)x, *b = *(const tw_kv *const *)y;
    tw_buf ka, kb;
    int c;
    /* Keys are strings in practice; others compare by their text. */
    tw_buf_init(&ka);
    tw_buf_init(&kb);
    tw_out_text(&ka, &a->k);
    tw_out_text(&kb, &b->k);
    size_t n = ka.len < kb.len ? ka.len : kb.len;
    c = n ? memcmp(ka.p, kb.p, n) : 0;
    if (c == 0) c = (ka.len > kb.len) - (ka.len < kb.len);
    tw_buf_free(&ka);
    tw_buf_free(&kb);
    return c;
}

/* Pointers to the pairs of a map, sorted by key; NULL for an empty map. */
static const tw_kv **sorted_pairs(const tw_val *m)
{
    if (!m || m->type != TW_MAP || m->len == 0) return NULL;
    const tw_kv **p = malloc(m->len * sizeof *p);
    if (!p) return NULL;
    for (uint32_t i = 0; i < m->len; i++) p[i] = &m->v.map[i];
    qsort(p, m->len, sizeof *p, cmp_kv_key);
    return p;
}

/* A row's own words in a stats table (rows of a table that are not codes). */
typedef struct row_word { const char *key, *word; } row_word;

/* Record kinds whose name is not the word for them (the web interface's). */
static const row_word kind_rows[] = {
    { "peer", "peer address" }, { "keyplan", "next-key commitment" }, { "recovery", "key recovery" },
    { "succession", "key succession" }, { NULL, NULL },
};

/* A count table; keys of the report tables that count codes (table, not
 * NULL) are shown with their names, and with rows (NULL-ended) their
 * words; in_order: the rows of rows first, in their order, the others
 * after (else every row sorted by key). */
static int count_table(tw_cli *cli, const tw_val *m, const char *head, const char *table, const row_word *rows,
                       bool in_order)
{
    const char *heads[2] = { head, "COUNT" };
    tw_table t;
    int rc = tw_table_init(&t, 2, heads);
    if (rc != 0) return rc;
    tw_table_align(&t, 1, TW_COL_RIGHT | TW_COL_NOCUT);
    const tw_kv **p = sorted_pairs(m);
    /* Rows with words of their own come first, in the words' order. */
    size_t front = 0;
    for (size_t r = 0; p && in_order && rows && rows[r].key; r++)
        for (uint32_t i = front; i < m->len; i++)
            if (p[i]->k.type == TW_STR && strlen(rows[r].key) == p[i]->k.len &&
                memcmp(rows[r].key, p[i]->k.v.s, p[i]->k.len) == 0) {
                const tw_kv *x = p[i];
                memmove(&p[front + 1], &p[front], (i - front) * sizeof *p);
                p[front++] = x;
                break;
            }
    for (uint32_t i = 0; p && i < m->len && rc == 0; i++) {
        char label[256];
        const char *word = NULL;
        for (size_t r = 0; rows && rows[r].key && p[i]->k.type == TW_STR && !word; r++)
            if (strlen(rows[r].key) == p[i]->k.len && memcmp(rows[r].key, p[i]->k.v.s, p[i]->k.len) == 0) word = rows[r].word;
        if (word) {
            rc |= tw_table_addz(&t, word);
        } else if (table && p[i]->k.type == TW_STR) {
            tw_cli_code_label(table, strlen(table), p[i]->k.v.s, p[i]->k.len, label, sizeof label);
            rc |= tw_table_addz(&t, label);
        } else {
            rc |= tw_table_addv(&t, &p[i]->k);
        }
        rc |= tw_table_addv(&t, &p[i]->v);
    }
    free(p);
    if (rc == 0) rc = tw_table_print(&t, cli);
    tw_table_free(&t);
    return rc;
}

static int cmd_status(tw_cli *cli, int argc, char **argv)
{
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_status, argc, argv, NULL, 0, 0, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val res;
    int exit = TW_EXIT_ERR;
    if (tw_cli_call(cli, &a, "status", NULL, &res, NULL) != 0) goto out;
    if (cli->json) {
        if (tw_out_json(&res) == 0) exit = TW_EXIT_OK;
        goto out;
    }
    static const struct { const char *key, *label; } plain[] = {
        { "version", "version" }, { "node", "node" }, { "fingerprint", "fingerprint" },
        { "network", "network" }, { "data_dir", "data dir" }, { "admission", "admission" },
        { "members", "members" }, { "entries", "entries" }, { "tombstones", "tombstones" },
        { "http", "http" },
    };
    tw_table t;
    if ((rc = tw_table_init(&t, 2, NULL)) != 0) goto out;
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        const tw_val *v = tw_v_get(&res, plain[i].key);
        if (!v) continue;
        rc |= tw_table_addz(&t, plain[i].label);
        rc |= tw_table_addv(&t, v);
    }
    const tw_val *hid = tw_v_get(&res, "hidden");
    if (hid && hid->type == TW_UINT && hid->v.u) {
        char line[96];
        snprintf(line, sizeof line, "%" PRIu64 " (records of authors who are not admitted)", hid->v.u);
        rc |= tw_table_addz(&t, "hidden");
        rc |= tw_table_addz(&t, line);
    }
    const tw_val *ref = tw_v_get(&res, "refused_from_peers");
    if (ref && ref->type == TW_UINT && ref->v.u) {
        char line[TW_REASON_MAX + 64];
        size_t wl;
        const char *why = tw_rec_str(&res, "last_refusal", &wl);
        snprintf(line, sizeof line, "%" PRIu64 " entries from peers since start (last: %.*s)", ref->v.u, (int)wl, why);
        rc |= tw_table_addz(&t, "refused");
        rc |= tw_table_addz(&t, line);
    }
    const tw_val *up = tw_v_get(&res, "uptime_ms");
    if (up && up->type == TW_UINT) {
        char d[64];
        human_duration(d, sizeof d, up->v.u);
        rc |= tw_table_addz(&t, "uptime");
        rc |= tw_table_addz(&t, d);
    }
    const tw_val *used = tw_v_get(&res, "map_used"), *ceil = tw_v_get(&res, "map_ceiling");
    const tw_val *dfree = tw_v_get(&res, "disk_free");
    if (used && used->type == TW_UINT) {
        char u[32], c[32] = "", f[32] = "", line[192];
        human_bytes(u, sizeof u, used->v.u);
        if (ceil && ceil->type == TW_UINT) human_bytes(c, sizeof c, ceil->v.u);
        if (dfree && dfree->type == TW_UINT) human_bytes(f, sizeof f, dfree->v.u);
        /* Not "used of" the map's current size: LMDB grows it by itself,
         * and "500 MiB used of 500 MiB" reads as a full store.  What can
         * fill is the ceiling, and the disk. */
        snprintf(line, sizeof line, "%s used%s%s%s%s%s%s", u, *c ? ", may grow to " : "", c,
                 *c ? " (map_ceiling)" : "", *f ? "; " : "", f, *f ? " free on the disk" : "");
        rc |= tw_table_addz(&t, "storage");
        rc |= tw_table_addz(&t, line);
    }
    /* Present while writes are refused for room: since when, the last
     * refusal, and the daemon's own words for it. */
    const tw_val *full = tw_v_get(&res, "storage_full");
    if (full && full->type == TW_MAP) {
        char since[40], last[40], line[768];
        size_t ml = 0;
        const char *msg = tw_rec_str(full, "message", &ml);
        static const char pre[] = "storage full: ";   /* said by the label already */
        if (msg && ml >= sizeof pre - 1 && memcmp(msg, pre, sizeof pre - 1) == 0) { msg += sizeof pre - 1; ml -= sizeof pre - 1; }
        tw_out_time(since, sizeof since, tw_rec_uint(full, "since_ms"));
        tw_out_time(last, sizeof last, tw_rec_uint(full, "last_ms"));
        uint64_t k = tw_rec_uint(full, "refused");
        snprintf(line, sizeof line, "WARNING: full since %s UTC (last refused write %s UTC, %" PRIu64 " refused): %.*s",
                 since, last, k, msg ? (int)(ml < 512 ? ml : 512) : 0, msg ? msg : "");
        rc |= tw_table_addz(&t, "storage");
        rc |= tw_table_addz(&t, line);
    }
    /* Present while searches cannot use the word index. */
    const tw_val *sidx = tw_v_get(&res, "search_index");
    if (sidx && sidx->type == TW_MAP) {
        size_t sl = 0;
        const char *st = tw_rec_str(sidx, "state", &sl);
        char line[256];
        uint64_t built = tw_rec_uint(sidx, "built");
        if (st && sl == 10 && memcmp(st, "rebuilding", 10) == 0 && built)
            snprintf(line, sizeof line, "index being built again after a bulk write (%" PRIu64 " of %" PRIu64
                     " records); searches read every record meanwhile: slower, same answers",
                     built, tw_rec_uint(sidx, "records"));
        else if (st && sl == 10 && memcmp(st, "rebuilding", 10) == 0)
            snprintf(line, sizeof line, "index set aside by a bulk write, built again once writes pause; searches "
                     "read every record meanwhile: slower, same answers");
        else
            snprintf(line, sizeof line, "index off (see twind's log; built again at the next start); searches read "
                     "every record: slower, same answers");
        rc |= tw_table_addz(&t, "search");
        rc |= tw_table_addz(&t, line);
    }
    const tw_val *clock = tw_v_get(&res, "clock");
    if (clock && clock->type == TW_MAP) {
        const tw_val *np = tw_v_get(clock, "peers"), *med = tw_v_get(clock, "median_offset_ms"),
                     *sk = tw_v_get(clock, "skewed");
        int64_t m = med ? (med->type == TW_INT ? med->v.i : med->type == TW_UINT ? (int64_t)med->v.u : 0) : 0;
        uint64_t k = np && np->type == TW_UINT ? np->v.u : 0;
        char line[200];
        if (sk && sk->type == TW_BOOL && sk->v.b)
            snprintf(line, sizeof line, "WARNING: %+.0f s off the median of %" PRIu64 " peer%s; set the clock right",
                     -(double)m / 1000.0, k, k == 1 ? "" : "s");
        else if (k)
            snprintf(line, sizeof line, "ok (%+.1f s from the median of %" PRIu64 " peer%s)", -(double)m / 1000.0, k, k == 1 ? "" : "s");
        else
            snprintf(line, sizeof line, "no peers to compare with");
        rc |= tw_table_addz(&t, "clock");
        rc |= tw_table_addz(&t, line);
    }
    if (rc == 0) rc = tw_table_print(&t, cli);
    tw_table_free(&t);
    const tw_val *peers = tw_v_get(&res, "peers");
    if (rc == 0 && peers && peers->type == TW_ARR && peers->len) {
        static const char *const heads[] = { "PEER", "ADDRESS", "TO RECEIVE", "TO SEND", "STATE" };
        tw_table pt;
        putchar('\n');
        if ((rc = tw_table_init(&pt, 5, heads)) != 0) goto out;
        tw_table_align(&pt, 2, TW_COL_RIGHT | TW_COL_NOCUT);
        tw_table_align(&pt, 3, TW_COL_RIGHT | TW_COL_NOCUT);
        for (uint32_t i = 0; i < peers->len; i++) {
            const tw_val *p = &peers->v.arr[i], *sy = tw_v_get(p, "syncing");
            size_t l;
            char num[32];
            const char *s = tw_rec_str(p, "fingerprint", &l);
            rc |= tw_table_add(&pt, s, l);
            s = tw_rec_str(p, "address", &l);
            rc |= tw_table_add(&pt, s, l);
            snprintf(num, sizeof num, "%" PRIu64, tw_rec_uint(p, "to_receive"));
            rc |= tw_table_addz(&pt, num);
            snprintf(num, sizeof num, "%" PRIu64, tw_rec_uint(p, "to_send"));
            rc |= tw_table_addz(&pt, num);
            rc |= tw_table_addz(&pt, sy && sy->type == TW_BOOL && sy->v.b ? "syncing" : "idle");
        }
        if (rc == 0) rc = tw_table_print(&pt, cli);
        tw_table_free(&pt);
    }
    const tw_val *kinds = tw_v_get(&res, "kinds");
    if (rc == 0 && kinds && kinds->type == TW_MAP && kinds->len) {
        putchar('\n');
        rc = count_table(cli, kinds, "KIND", NULL, kind_rows, false);
    }
    if (rc == 0) exit = TW_EXIT_OK;
out:
    tw_arena_free(&a);
    return exit;
}

static int cmd_digest(tw_cli *cli, int argc, char **argv)
{
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_digest, argc, argv, NULL, 0, 0, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val res;
    int exit = TW_EXIT_ERR;
    if (tw_cli_call(cli, &a, "digest", NULL, &res, NULL) != 0) goto out;
    if (cli->json) rc = tw_out_json(&res);
    else {
        size_t dl;
        const char *d = tw_rec_str(&res, "digest", &dl);
        rc = printf("digest   %.*s\nentries  %" PRIu64 "\n", (int)dl, d, tw_rec_uint(&res, "entries")) < 0;
    }
    if (rc == 0) exit = TW_EXIT_OK;
out:
    tw_arena_free(&a);
    return exit;
}

static int stats_csv(const tw_val *res)
{
    tw_buf b, cell;
    int rc = 0;
    tw_buf_init(&b);
    tw_buf_init(&cell);
    rc |= tw_csv_cell(&b, "table", 5, TW_CSV_GUARD);
    rc |= tw_csv_sep(&b);
    rc |= tw_csv_cell(&b, "key", 3, TW_CSV_GUARD);
    rc |= tw_csv_sep(&b);
    rc |= tw_csv_cell(&b, "count", 5, TW_CSV_GUARD);
    rc |= tw_csv_eol(&b);
    const tw_kv **tables = sorted_pairs(res);
    for (uint32_t i = 0; tables && i < res->len && rc == 0; i++) {
        const tw_val *m = &tables[i]->v;
        tw_buf_reset(&cell);
        rc |= tw_out_text(&cell, &tables[i]->k);
        if (m->type != TW_MAP) {
            rc |= tw_csv_cell(&b, (const char *)cell.p, cell.len, TW_CSV_GUARD);
            rc |= tw_csv_sep(&b);
            rc |= tw_csv_sep(&b);
            tw_buf_reset(&cell);
            rc |= tw_out_text(&cell, m);
            rc |= tw_csv_cell(&b, (const char *)cell.p, cell.len, TW_CSV_GUARD);
            rc |= tw_csv_eol(&b);
            continue;
        }
        const tw_kv **rows = sorted_pairs(m);
        size_t nl = cell.len;
        for (uint32_t j = 0; rows && j < m->len && rc == 0; j++) {
            tw_buf_reset(&cell);
            rc |= tw_out_text(&cell, &tables[i]->k);
            rc |= tw_csv_cell(&b, (const char *)cell.p, nl, TW_CSV_GUARD);
            rc |= tw_csv_sep(&b);
            tw_buf_reset(&cell);
            rc |= tw_out_text(&cell, &rows[j]->k);
            rc |= tw_csv_cell(&b, (const char *)cell.p, cell.len, TW_CSV_GUARD);
            rc |= tw_csv_sep(&b);
            tw_buf_reset(&cell);
            rc |= tw_out_text(&cell, &rows[j]->v);
            rc |= tw_csv_cell(&b, (const char *)cell.p, cell.len, TW_CSV_GUARD);
            rc |= tw_csv_eol(&b);
        }
        free(rows);
    }
    free(tables);
    if (rc == 0) rc = tw_out_write(&b);
    tw_buf_free(&b);
    tw_buf_free(&cell);
    return rc ? TW_EIO : 0;
}

/* Words for the tables of stats (proto/PROTOCOL.md "stats"), in the order
 * a coordinator reads them: what each counts, what its rows are, and the
 * words of rows that are not codes.  A table the daemon adds and this list
 * does not know is printed after them under its key, as before. */
static const row_word totals_rows[] = {
    { "groups", "group records" },
    { "group_identities", "groups (a group listed twice counts once)" },
    { "places", "place records" },
    { "place_identities", "places (a place listed twice counts once)" },
    { "links", "links (both sides' statements of one link count once)" },
    { "link_statements", "link records (statements)" },
    { NULL, NULL },
};
static const row_word confirmation_rows[] = {
    { "confirmed", "confirmed (stated by both sides)" }, { "unconfirmed", "unconfirmed (stated by one side)" },
    { NULL, NULL },
};
static const row_word undated_rows[] = {
    { "no_since", "no start year (since)" }, { "no_end", "ended, with no end year" },
    { "ended_before_since", "end year before the start year" }, { NULL, NULL },
};
static const row_word source_rows[] = {
    { "given", "given (region field)" }, { "inferred", "inferred (from local authority or nation)" },
    { "none", "not known" }, { NULL, NULL },
};
static const row_word group_rows[] = { { "(unknown)", "(group not found)" }, { NULL, NULL } };
static const row_word place_rows[] = { { "(unknown)", "(place not found)" }, { NULL, NULL } };
static const row_word seeking_rows[] = {
    { "groups", "groups seeking a partner" }, { "places", "places seeking a partner" }, { NULL, NULL },
};
static const struct stats_table {
    const char *key, *title, *note, *head;
    const row_word *rows;
} stats_tables[] = {
    { "totals", "totals", NULL, "WHAT", totals_rows },
    { "kinds", "records by kind", NULL, "KIND", kind_rows },
    { "links_by_status", "links by status", NULL, "STATUS", NULL },
    { "links_by_formality", "links by formality", NULL, "FORMALITY", NULL },
    { "links_by_confirmation", "links by confirmation", NULL, "CONFIRMATION", confirmation_rows },
    { "links_started_by_year", "links by the year they started (since)", NULL, "YEAR", NULL },
    { "links_ended_by_year", "links by the year they ended", NULL, "YEAR", NULL },
    { "active_links_by_formality", "active links by formality", NULL, "FORMALITY", NULL },
    { "active_links_by_group_kind", "active links by kind of group", NULL, "KIND OF GROUP", group_rows },
    { "active_links_by_nation", "active links by UK nation of the group", NULL, "NATION", group_rows },
    { "active_links_by_region", "active links by UK region of the group", NULL, "REGION", group_rows },
    { "active_links_by_area", "active links by area of the place", NULL, "AREA", place_rows },
    { "active_links_by_governorate", "active links by governorate of the place", NULL, "GOVERNORATE", place_rows },
    { "active_links_by_place_kind", "active links by kind of place", NULL, "KIND OF PLACE", place_rows },
    { "active_links_by_country", "active links by partner country", NULL, "COUNTRY", place_rows },
    { "active_links_by_year", "the trend: links active in each year",
      "(a link counts in every year from its start to its end, or to this year if it has\n"
      " not ended, dormant ones too; links still being explored are not counted)", "YEAR", NULL },
    { "active_links_undated", "links the trend leaves out", NULL, "WHY", undated_rows },
    { "dormant_links", "dormant links", NULL, "WHY", NULL },     /* rows: stats_text (the months) */
    { "groups_by_kind", "groups by kind (a group listed twice counts once)", NULL, "KIND OF GROUP", NULL },
    { "groups_by_nation", "groups by UK nation", NULL, "NATION", NULL },
    { "groups_by_region", "groups by UK region", NULL, "REGION", NULL },
    { "groups_region_source", "groups by how their region is known", NULL, "SOURCE", source_rows },
    { "places_by_kind", "places by kind (a place listed twice counts once)", NULL, "KIND OF PLACE", NULL },
    { "places_by_area", "places by area", NULL, "AREA", NULL },
    { "places_by_subdivision", "places by governorate or subdivision", NULL, "SUBDIVISION", NULL },
    { "places_by_country", "places by country", NULL, "COUNTRY", NULL },
    { "seeking", "seeking a partner", NULL, "WHO", seeking_rows },
};

/* One table of stats: its title (and note), then its rows, or (none). */
static int stats_one(tw_cli *cli, const char *key, const tw_val *v, const struct stats_table *st, bool first,
                     const row_word *rows)
{
    if (!first) putchar('\n');
    printf("%s\n", st ? st->title : key);
    if (st && st->note) printf("%s\n", st->note);
    if (v->type == TW_MAP && v->len == 0) { printf("  (none)\n"); return 0; }
    /* Rows with words of their own are in the words' order, but kinds and
     * the placeholders of links to no record (sorted by key as the rest). */
    const row_word *rw = rows ? rows : st ? st->rows : NULL;
    bool in_order = rw && rw != kind_rows && rw != group_rows && rw != place_rows;
    if (v->type == TW_MAP) return count_table(cli, v, st ? st->head : "KEY", key, rw, in_order);
    tw_buf t;
    tw_buf_init(&t);
    int rc = tw_out_text(&t, v);
    if (rc == 0) printf("  %.*s\n", (int)t.len, (const char *)t.p);
    tw_buf_free(&t);
    return rc;
}

/* stats for people: the known tables in stats_tables' order, then any
 * other, sorted by key; months: the dormant months the answer used. */
static int stats_text(tw_cli *cli, const tw_val *res, unsigned long months)
{
    int rc = 0;
    bool first = true;
    char no_update[96];
    snprintf(no_update, sizeof no_update, "active or exploring, not updated for %lu months", months);
    const row_word dormant_rows[] = {
        { "status_dormant", "status dormant" }, { "no_update", no_update }, { "total", "total" }, { NULL, NULL },
    };
    size_t nst = sizeof stats_tables / sizeof stats_tables[0];
    for (size_t i = 0; i < nst && rc == 0; i++) {
        const tw_val *v = tw_v_get(res, stats_tables[i].key);
        if (!v) continue;
        rc = stats_one(cli, stats_tables[i].key, v, &stats_tables[i], first,
                       strcmp(stats_tables[i].key, "dormant_links") == 0 ? dormant_rows : NULL);
        first = false;
    }
    const tw_kv **tables = sorted_pairs(res);
    tw_buf name;
    tw_buf_init(&name);
    for (uint32_t i = 0; tables && i < res->len && rc == 0; i++) {
        if (tables[i]->k.type != TW_STR) continue;
        bool known = false;
        for (size_t j = 0; j < nst && !known; j++)
            known = strlen(stats_tables[j].key) == tables[i]->k.len &&
                    memcmp(stats_tables[j].key, tables[i]->k.v.s, tables[i]->k.len) == 0;
        if (known) continue;
        tw_buf_reset(&name);
        if ((rc = tw_buf_put(&name, tables[i]->k.v.s, tables[i]->k.len)) || (rc = tw_buf_put(&name, "", 1))) break;
        rc = stats_one(cli, (const char *)name.p, &tables[i]->v, NULL, first, NULL);
        first = false;
    }
    free(tables);
    tw_buf_free(&name);
    return rc;
}

static int cmd_stats(tw_cli *cli, int argc, char **argv)
{
    bool csv = false;
    const char *months = NULL;
    const tw_opt opts[] = { { "csv", 0, NULL, &csv }, { "dormant-months", 0, &months, NULL }, { NULL, 0, NULL, NULL } };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_stats, argc, argv, opts, 0, 0, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    if (csv && cli->json) return tw_cli_usage(&tw_cmd_stats, "--csv and --json exclude each other");
    unsigned long dm = 0;
    if (months) {
        char *end;
        dm = strtoul(months, &end, 10);
        if (!months[0] || *end || dm < 1 || dm > TW_REPORT_DORMANT_MONTHS_MAX)
            return tw_cli_usage(&tw_cmd_stats, "--dormant-months: \"%s\" is not a number of months from 1 to %u",
                                months, TW_REPORT_DORMANT_MONTHS_MAX);
    }
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val res, args, *argp = NULL;
    int exit = TW_EXIT_ERR;
    if (months) {
        tw_kv kv[1] = { { tw_v_cstr("dormant_months"), tw_v_uint(dm) } };
        if (tw_cli_map(&a, &args, kv, 1)) goto out;
        argp = &args;
    }
    if (tw_cli_call(cli, &a, "stats", argp, &res, NULL) != 0) goto out;
    rc = 0;
    if (cli->json) rc = tw_out_json(&res);
    else if (csv) rc = stats_csv(&res);
    else {
        if (res.type != TW_MAP) { tw_cli_fail("bad stats answer from twind"); goto out; }
        rc = stats_text(cli, &res, months ? dm : TW_REPORT_DORMANT_MONTHS_DEFAULT);
    }
    if (rc == 0) exit = TW_EXIT_OK;
out:
    tw_arena_free(&a);
    return exit;
}

const tw_cmd tw_cmd_status = {
    "status", "show the node: key, network, entry counts, storage, clock, sync progress",
    "",
    "Shows the node's key, network, entry counts and storage; whether its clock\n"
    "agrees with its peers' (a warning when it is more than 10 minutes off the\n"
    "median of their clocks); and per connected peer the entries still to\n"
    "receive and to send (offered and not yet sent: an upper bound); and where\n"
    "the web interface is served (http: its address, off, or why it is not).\n",
    cmd_status,
};

const tw_cmd tw_cmd_digest = {
    "digest", "print the digest of the whole registry (equal on converged nodes)",
    "",
    "Two nodes holding the same entries print the same digest.\n",
    cmd_digest,
};

const tw_cmd tw_cmd_stats = {
    "stats", "print registry statistics (kinds, links, groups, places, seeking)",
    "[--csv] [--dormant-months N]",
    "Prints each table of counts the node computes, titled in words, totals\n"
    "first; codes are shown with their names.  --json and --csv give the tables\n"
    "under their keys (proto/PROTOCOL.md, \"stats\").\n\n"
    "  --csv                 rows table,key,count for spreadsheets\n"
    "  --dormant-months N    an active or exploring link without an update for N\n"
    "                        months counts as dormant (default 12)\n",
    cmd_stats,
};
