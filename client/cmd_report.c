/*
 * twin gaps and twin report: the hub reports (ops "gaps" and "report" of
 * proto/PROTOCOL.md).  twind computes every figure; this file only shows
 * them: tables for people, JSON and CSV for programs, and one
 * self-contained HTML page (inline CSS and SVG, no external asset) that a
 * hub can mail or print.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "csv.h"
#include "twin/limits.h"
#include "twin/err.h"
#include "twin/keytext.h"
#include "twin/schema.h"
#include "json.h"
#include "www.h"

/* (the limits are in include/twin/limits.h) */

/* ------------------------------------------------------------ arguments */

typedef struct rep_args { const char *months, *at; } rep_args;

/* Builds the op arguments from the options; 0, or an exit status. */
static int op_args(const tw_cmd *cmd, tw_arena *a, const rep_args *ra, const char *flag, tw_val *out)
{
    tw_kv kv[3];
    size_t n = 0;
    const char *names[2] = { "dormant_months", "at_ms" };
    const char *vals[2] = { ra->months, ra->at };
    for (int i = 0; i < 2; i++) {
        if (!vals[i]) continue;
        char *end;
        unsigned long long v = strtoull(vals[i], &end, 10);
        if (!*vals[i] || *end || vals[i][0] == '-')
            return tw_cli_usage(cmd, "--%s needs a number", i ? "at" : "dormant-months");
        kv[n].k = tw_v_cstr(names[i]);
        kv[n++].v = tw_v_uint(v);
    }
    if (flag) {
        kv[n].k = tw_v_cstr(flag);
        kv[n++].v = tw_v_bool(true);
    }
    return tw_cli_map(a, out, kv, n) ? TW_EXIT_ERR : 0;
}

/* ------------------------------------------------------------ names */

/* Count tables whose keys are codes of a code list. */
static bool code_table(const char *t, size_t n)
{
    static const char *const ends[] = { "_by_governorate", "_by_subdivision", "_by_region", "_by_country" };
    for (size_t i = 0; t && i < sizeof ends / sizeof ends[0]; i++) {
        size_t l = strlen(ends[i]);
        if (n >= l && memcmp(t + n - l, ends[i], l) == 0) return true;
    }
    return false;
}

static const tw_www_file *www_file(const char *path);

/* The web interface's English strings (its translation file, compiled into
 * twin), read once: twin names codes as the pages do. */
static const tw_val *en_strings(void)
{
    static tw_arena a;
    static tw_val v;
    static int state;             /* 0 not read yet, 1 read, -1 absent */
    if (state == 0) {
        const tw_www_file *f = www_file("/i18n/en.json");
        tw_arena_init(&a, 0);
        state = f && tw_json_parse((const char *)f->data, f->len, &a, &v, NULL, NULL, 0) == 0 && v.type == TW_MAP ? 1 : -1;
    }
    return state == 1 ? &v : NULL;
}

/* The string named prefix + key in en_strings, or NULL. */
static const tw_val *en_string(const char *prefix, const char *key, size_t kl)
{
    char name[96];
    const tw_val *m = en_strings();
    if (!m || strlen(prefix) + kl >= sizeof name) return NULL;
    snprintf(name, sizeof name, "%s%.*s", prefix, (int)kl, key);
    const tw_val *v = tw_v_get(m, name);
    return v && v->type == TW_STR ? v : NULL;
}

void tw_cli_code_label(const char *table, size_t tl, const char *key, size_t kl, char *out, size_t cap)
{
    const tw_code *c = code_table(table, tl) ? tw_code_lookup(key, kl) : NULL;
    if (c) { snprintf(out, cap, "%s %s", c->code, c->name); return; }
    /* The placeholders of the count tables, in the pages' words. */
    static const struct { const char *key, *name; } ph[] = {
        { "(none)", "report.none" }, { "(unknown)", "report.unknown" }, { "(other)", "report.other" },
    };
    for (size_t i = 0; i < sizeof ph / sizeof ph[0]; i++) {
        const tw_val *w = strlen(ph[i].key) == kl && memcmp(ph[i].key, key, kl) == 0 ? en_string(ph[i].name, "", 0) : NULL;
        if (w) { snprintf(out, cap, "(%.*s)", (int)w->len, w->v.s); return; }
    }
    const tw_val *w = en_string("enum.", key, kl);
    if (w) snprintf(out, cap, "%.*s", (int)w->len, w->v.s);
    else snprintf(out, cap, "%.*s", (int)kl, key);
}

/* "KEYTEXT/SLOT" as "FINGERPRINT/SLOT" (the first 10 characters after
 * twk_), which people can read and match with twin status; other text as
 * it is. */
static void short_ref(tw_buf *b, const char *s, size_t n)
{
    const char *sl = memchr(s, '/', n);
    if (sl && (size_t)(sl - s) == TW_KEYTEXT_LEN && memcmp(s, TW_KEYTEXT_PREFIX, 4) == 0) {
        tw_buf_put(b, s + 4, 10);
        tw_buf_put(b, sl, n - (size_t)(sl - s));
    } else {
        tw_buf_put(b, s, n);
    }
}

/* ------------------------------------------------------------ text */

static const char *vstr(const tw_val *m, const char *k)
{
    const tw_val *v = tw_v_get(m, k);
    static char buf[1100];
    if (!v || v->type != TW_STR) return "";
    snprintf(buf, sizeof buf, "%.*s", (int)v->len, v->v.s);
    return buf;
}

/* Sorted (key, count) pairs of a count table. */
typedef struct kc { const char *k; uint32_t kl; uint64_t n; } kc;

static int cmp_kc(const void *x, const void *y)
{
    const kc *a = x, *b = y;
    uint32_t n = a->kl < b->kl ? a->kl : b->kl;
    int c = memcmp(a->k, b->k, n);
    return c ? c : (a->kl > b->kl) - (a->kl < b->kl);
}

static kc *table_pairs(const tw_val *m, size_t *n)
{
    *n = 0;
    if (!m || m->type != TW_MAP || !m->len) return NULL;
    kc *p = calloc(m->len, sizeof *p);
    if (!p) return NULL;
    for (uint32_t i = 0; i < m->len; i++) {
        const tw_kv *e = &m->v.map[i];
        if (e->k.type != TW_STR || e->v.type != TW_UINT) continue;
        p[*n] = (kc){ e->k.v.s, e->k.len, e->v.v.u };
        (*n)++;
    }
    qsort(p, *n, sizeof *p, cmp_kc);
    return p;
}

/* The words of a row key of a count table (NULL-ended pairs). */
typedef struct row_word { const char *key, *word; } row_word;

/* A count table under title: head names its rows; table (its key in the
 * answer) says whether they are codes; rows, if not NULL, give rows words
 * of their own and their order (first). */
static int print_counts(tw_cli *cli, const char *title, const char *table, const char *head, const row_word *rows,
                        const tw_val *m)
{
    const char *heads[2] = { head, "COUNT" };
    size_t n;
    kc *p = table_pairs(m, &n);
    tw_table t;
    int rc = tw_table_init(&t, 2, heads);
    printf("%s\n", title);
    if (rc == 0 && n == 0) { free(p); tw_table_free(&t); printf("  (none)\n"); return 0; }
    tw_table_align(&t, 1, TW_COL_RIGHT | TW_COL_NOCUT);
    size_t front = 0;
    for (size_t r = 0; rows && rows[r].key; r++)
        for (size_t i = front; i < n; i++)
            if (strlen(rows[r].key) == p[i].kl && memcmp(rows[r].key, p[i].k, p[i].kl) == 0) {
                kc x = p[i];
                memmove(&p[front + 1], &p[front], (i - front) * sizeof *p);
                p[front++] = x;
                break;
            }
    for (size_t i = 0; i < n && rc == 0; i++) {
        char num[32];
        char label[256];
        snprintf(num, sizeof num, "%" PRIu64, p[i].n);
        const char *word = NULL;
        for (size_t r = 0; rows && rows[r].key && !word; r++)
            if (strlen(rows[r].key) == p[i].kl && memcmp(rows[r].key, p[i].k, p[i].kl) == 0) word = rows[r].word;
        if (word) snprintf(label, sizeof label, "%s", word);
        else tw_cli_code_label(table, strlen(table), p[i].k, p[i].kl, label, sizeof label);
        rc = tw_table_addz(&t, label) || tw_table_addz(&t, num);
    }
    if (rc == 0) rc = tw_table_print(&t, cli);
    tw_table_free(&t);
    free(p);
    return rc;
}

/* Reference -> English name of the places an answer lists, so that the
 * suggestions (which carry references only) can show names. */
typedef struct names { const tw_val *lists[4]; } names;

static const tw_val *place_name(const names *nm, const char *ref, size_t n)
{
    for (int k = 0; nm && k < 4; k++) {
        const tw_val *l = nm->lists[k];
        for (uint32_t i = 0; l && l->type == TW_ARR && i < l->len; i++) {
            const tw_val *p = tw_v_get(&l->v.arr[i], "place");
            if (p && p->type == TW_STR && p->len == n && memcmp(p->v.s, ref, n) == 0)
                return tw_v_get(&l->v.arr[i], "name_en");
        }
    }
    return NULL;
}

/* One cell of a gaps list, for people: references shortened to
 * fingerprints (or, for suggested places, the place's name), codes with
 * their names, lists of group maps as their names, lists joined by ", ". */
static void cell_text(tw_buf *b, const char *field, const tw_val *v, const names *nm)
{
    if (!v) return;
    bool ref = !strcmp(field, "place") || !strcmp(field, "group") || !strcmp(field, "link") ||
               !strcmp(field, "records") || !strcmp(field, "places") || !strcmp(field, "suggested_groups");
    if (v->type == TW_ARR) {
        for (uint32_t j = 0; j < v->len; j++) {
            const tw_val *x = &v->v.arr[j];
            if (j) tw_buf_put(b, ", ", 2);
            if (x->type == TW_MAP) x = tw_v_get(x, "name");
            const tw_val *name = x && x->type == TW_STR && !strcmp(field, "places") ? place_name(nm, x->v.s, x->len) : NULL;
            if (name && name->type == TW_STR) tw_buf_put(b, name->v.s, name->len);
            else if (x && x->type == TW_STR && ref) short_ref(b, x->v.s, x->len);
            else if (x) tw_out_text(b, x);
        }
    } else if (v->type == TW_STR && ref) {
        short_ref(b, v->v.s, v->len);
    } else if (v->type == TW_STR && (!strcmp(field, "subdivision") || !strcmp(field, "country") ||
                                     !strcmp(field, "place_kind") || !strcmp(field, "nation"))) {
        char label[256];
        tw_cli_code_label(field[0] == 's' || field[0] == 'c' ? "_by_country" : "", field[0] == 's' || field[0] == 'c' ? 11 : 0,
                          v->v.s, v->len, label, sizeof label);
        tw_buf_put(b, label, strlen(label));
    } else {
        tw_out_text(b, v);
    }
}

/* A list of maps as a table of the given fields; total: how many there are
 * (the counts), of which the list holds at most TW_REPORT_LIST_MAX. */
static int print_list(tw_cli *cli, const char *title, const tw_val *l, const char *const *fields,
                      const char *const *heads, size_t nf, const names *nm, uint64_t total)
{
    tw_table t;
    tw_buf c;
    uint32_t shown = l && l->type == TW_ARR ? l->len : 0;
    if (total > shown)
        printf("%s: %" PRIu64 ", the first %" PRIu32 " listed\n", title, total, shown);
    else
        printf("%s\n", title);
    if (!shown) { printf("  (none)\n"); return 0; }
    int rc = tw_table_init(&t, nf, heads);
    tw_buf_init(&c);
    for (uint32_t i = 0; i < l->len && rc == 0; i++)
        for (size_t f = 0; f < nf && rc == 0; f++) {
            const tw_val *v = tw_v_get(&l->v.arr[i], fields[f]);
            /* A place outside a subdivision is placed by its country. */
            if (!strcmp(fields[f], "subdivision") && (!v || tw_v_is_str(v, "(none)") || tw_v_is_str(v, "(other)")) &&
                tw_v_get(&l->v.arr[i], "country"))
                v = tw_v_get(&l->v.arr[i], "country");
            tw_buf_reset(&c);
            cell_text(&c, fields[f], v, nm);
            rc = tw_table_add(&t, c.len ? (const char *)c.p : "-", c.len ? c.len : 1);
        }
    if (rc == 0) rc = tw_table_print(&t, cli);
    if (rc == 0 && total > shown)
        printf("  ... and %" PRIu64 " more, not listed (a list holds at most %u; the count is complete)\n",
               total - shown, TW_REPORT_LIST_MAX);
    tw_table_free(&t);
    tw_buf_free(&c);
    return rc;
}

/* The commands that link look-alike groups, each under the node that must
 * run it, the key on a line of its own so that lines stay short. */
static void print_commands(const tw_val *l)
{
    bool any = false;
    for (uint32_t i = 0; l && l->type == TW_ARR && i < l->len; i++) {
        const tw_val *cm = tw_v_get(&l->v.arr[i], "commands");
        for (uint32_t j = 0; cm && cm->type == TW_ARR && j < cm->len; j++) {
            size_t bl, cl;
            const char *by = tw_rec_str(&cm->v.arr[j], "by", &bl), *cmd = tw_rec_str(&cm->v.arr[j], "command", &cl);
            const char *ok = cmd ? memmem(cmd, cl, " own_key=", 9) : NULL;
            if (!any) printf("to make them one group, on the node named (the listing's author):\n");
            any = true;
            printf("  on %.10s (%s):\n", by && bl > 14 ? by + 4 : "?", vstr(&l->v.arr[i], "name"));
            if (ok) printf("    %.*s \\\n      %.*s\n", (int)(ok - cmd), cmd, (int)(cl - (size_t)(ok + 1 - cmd)), ok + 1);
            else printf("    %.*s\n", (int)cl, cmd ? cmd : "");
        }
    }
}

/* ----------------------------------------------------------------- CSV */

static int csv_row(tw_buf *b, size_t n, ...)
{
    va_list ap;
    int rc = 0;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        const char *s = va_arg(ap, const char *);
        if (i) rc |= tw_csv_sep(b);
        rc |= tw_csv_cell(b, s, strlen(s), TW_CSV_GUARD);
    }
    va_end(ap);
    return rc | tw_csv_eol(b);
}

/* Rows table,key,count of every count table of m (maps of text -> number),
 * tables prefixed with prefix. */
static int csv_counts(tw_buf *b, const char *prefix, const tw_val *m)
{
    int rc = 0;
    size_t nt;
    if (!m || m->type != TW_MAP) return 0;
    kc *tabs = calloc(m->len + 1, sizeof *tabs);
    if (!tabs) return TW_ENOMEM;
    nt = 0;
    for (uint32_t i = 0; i < m->len; i++)
        if (m->v.map[i].k.type == TW_STR && m->v.map[i].v.type == TW_MAP)
            tabs[nt++] = (kc){ m->v.map[i].k.v.s, m->v.map[i].k.len, i };
    qsort(tabs, nt, sizeof *tabs, cmp_kc);
    for (size_t i = 0; i < nt && rc == 0; i++) {
        size_t n;
        kc *p = table_pairs(&m->v.map[tabs[i].n].v, &n);
        char name[256], key[1100], num[32];
        snprintf(name, sizeof name, "%s%.*s", prefix, (int)tabs[i].kl, tabs[i].k);
        for (size_t j = 0; j < n && rc == 0; j++) {
            snprintf(key, sizeof key, "%.*s", (int)p[j].kl, p[j].k);
            snprintf(num, sizeof num, "%" PRIu64, p[j].n);
            rc = csv_row(b, 3, name, key, num);
        }
        free(p);
    }
    free(tabs);
    return rc;
}

/* The lists of a gaps answer, one row per item:
 * list,ref,name,subdivision,place_kind,detail; then the look-alike groups
 * (ref: their first record; subdivision: the nation; detail: the records)
 * and the dangling references (ref: the link; name: what is not found;
 * detail: the references as written). */
static int csv_gap_lists(tw_buf *b, const tw_val *g)
{
    int rc = csv_row(b, 6, "list", "ref", "name", "subdivision", "place_kind", "detail");
    static const char *const lists[] = { "unpartnered", "duplicated", "listed_twice", "seeking_places", "suggestions" };
    static const char *const detail[] = { "seeking", "groups", "records", "suggested_groups", "places" };
    tw_buf d, s;
    tw_buf_init(&d);
    tw_buf_init(&s);
    for (size_t li = 0; li < 5 && rc == 0; li++) {
        const tw_val *l = tw_v_get(g, lists[li]);
        for (uint32_t i = 0; l && l->type == TW_ARR && i < l->len && rc == 0; i++) {
            const tw_val *it = &l->v.arr[i], *dv = tw_v_get(it, detail[li]);
            bool grp = li == 4;
            tw_buf_reset(&d);
            if (dv && dv->type == TW_ARR) {
                for (uint32_t j = 0; j < dv->len; j++) {
                    if (j) tw_buf_put(&d, "; ", 2);
                    const tw_val *x = &dv->v.arr[j];
                    if (x->type == TW_MAP) x = tw_v_get(x, "group");
                    if (x) tw_out_text(&d, x);
                }
            } else if (dv) {
                tw_out_text(&d, dv);
            }
            tw_buf_put(&d, "", 1);
            char ref[1100], name[1100], sub[64];
            snprintf(ref, sizeof ref, "%s", vstr(it, grp ? "group" : "place"));
            snprintf(name, sizeof name, "%s", vstr(it, grp ? "name" : "name_en"));
            snprintf(sub, sizeof sub, "%.60s", vstr(it, "subdivision"));
            rc = csv_row(b, 6, lists[li], ref, name, sub, vstr(it, "place_kind"), (const char *)d.p);
        }
    }
    const tw_val *gl = tw_v_get(g, "groups_listed_twice"), *dl = tw_v_get(g, "dangling");
    for (uint32_t i = 0; gl && gl->type == TW_ARR && i < gl->len && rc == 0; i++) {
        const tw_val *it = &gl->v.arr[i], *recs = tw_v_get(it, "records");
        char name[1100], nation[64], first[1100];
        tw_buf_reset(&d);
        for (uint32_t j = 0; recs && recs->type == TW_ARR && j < recs->len; j++) {
            if (j) tw_buf_put(&d, "; ", 2);
            tw_out_text(&d, &recs->v.arr[j]);
        }
        tw_buf_put(&d, "", 1);
        first[0] = 0;
        if (recs && recs->type == TW_ARR && recs->len && recs->v.arr[0].type == TW_STR)
            snprintf(first, sizeof first, "%.*s", (int)recs->v.arr[0].len, recs->v.arr[0].v.s);
        snprintf(name, sizeof name, "%s", vstr(it, "name"));
        snprintf(nation, sizeof nation, "%.60s", vstr(it, "nation"));
        rc = csv_row(b, 6, "groups_listed_twice", first, name, nation, "", (const char *)d.p);
    }
    for (uint32_t i = 0; dl && dl->type == TW_ARR && i < dl->len && rc == 0; i++) {
        const tw_val *it = &dl->v.arr[i];
        char link[1100], missing[64], gref[1100], row[2300];
        snprintf(link, sizeof link, "%s", vstr(it, "link"));
        snprintf(missing, sizeof missing, "%.60s", vstr(it, "missing"));
        snprintf(gref, sizeof gref, "%s", vstr(it, "group"));
        snprintf(row, sizeof row, "group=%s; place=%s", gref, vstr(it, "place"));
        rc = csv_row(b, 6, "dangling", link, missing, "", "", row);
    }
    tw_buf_free(&d);
    tw_buf_free(&s);
    return rc;
}

/* ---------------------------------------------------------------- gaps */

static int cmd_gaps(tw_cli *cli, int argc, char **argv)
{
    bool csv = false, counts = false;
    rep_args ra = { 0 };
    const tw_opt opts[] = {
        { "csv", 0, NULL, &csv }, { "counts", 0, NULL, &counts },
        { "dormant-months", 0, &ra.months, NULL }, { "at", 0, &ra.at, NULL }, { NULL, 0, NULL, NULL },
    };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_gaps, argc, argv, opts, 0, 0, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    if (csv && cli->json) return tw_cli_usage(&tw_cmd_gaps, "--csv and --json exclude each other");
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val args, res;
    int exit = TW_EXIT_ERR;
    if ((rc = op_args(&tw_cmd_gaps, &a, &ra, counts ? "counts_only" : NULL, &args))) { exit = rc; goto out; }
    if (tw_cli_call(cli, &a, "gaps", &args, &res, NULL) != 0) goto out;
    rc = 0;
    if (cli->json) rc = tw_out_json(&res);
    else if (csv) {
        tw_buf b;
        tw_buf_init(&b);
        rc = counts ? (csv_row(&b, 3, "table", "key", "count") || csv_counts(&b, "", &res)) : csv_gap_lists(&b, &res);
        if (rc == 0) rc = tw_out_write(&b);
        tw_buf_free(&b);
    } else {
        static const row_word count_rows[] = {
            { "place_identities", "places (a place listed twice counts once)" },
            { "unpartnered_places", "places with no active partner" },
            { "duplicated_places", "places with two or more groups active or exploring" },
            { "places_listed_twice", "places listed more than once" },
            { "seeking_places", "places seeking a partner" },
            { "group_identities", "groups (a group listed twice counts once)" },
            { "groups_listed_twice", "groups listed more than once" },
            { "seeking_groups", "groups seeking a partner" },
            { "dangling_links", "links whose group or place is not found" },
            { NULL, NULL },
        };
        const tw_val *cnt = tw_v_get(&res, "counts");
        rc = print_counts(cli, "summary", "counts", "WHAT", count_rows, cnt);
        static const struct { const char *key, *title, *head; } tabs[] = {
            { "unpartnered_by_governorate", "places with no active partner, by governorate", "GOVERNORATE" },
            { "unpartnered_by_kind", "places with no active partner, by kind", "KIND OF PLACE" },
            { "duplicated_by_governorate", "places with two or more groups, by governorate", "GOVERNORATE" },
        };
        for (size_t i = 0; i < 3 && rc == 0; i++) {
            putchar('\n');
            rc = print_counts(cli, tabs[i].title, tabs[i].key, tabs[i].head, NULL, tw_v_get(&res, tabs[i].key));
        }
        if (!counts && rc == 0) {
            static const char *const pf[] = { "name_en", "subdivision", "place_kind", "place" };
            static const char *const ph[] = { "NAME", "WHERE", "KIND", "PLACE" };
            static const char *const df[] = { "name_en", "subdivision", "groups", "place" };
            static const char *const dh[] = { "NAME", "WHERE", "GROUPS", "PLACE" };
            static const char *const tf[] = { "name_en", "subdivision", "records" };
            static const char *const th[] = { "NAME", "WHERE", "RECORDS" };
            static const char *const gf[] = { "name", "nation", "records" };
            static const char *const gh[] = { "NAME", "NATION", "RECORDS" };
            static const char *const lf[] = { "link", "missing", "group", "place" };
            static const char *const lh[] = { "LINK", "NOT FOUND", "GROUP", "PLACE" };
            static const char *const sf[] = { "name", "group", "places" };
            static const char *const sh[] = { "GROUP", "REF", "SUGGESTED PLACES" };
            names nm = { { tw_v_get(&res, "unpartnered"), tw_v_get(&res, "seeking_places"),
                           tw_v_get(&res, "duplicated"), tw_v_get(&res, "listed_twice") } };
            const tw_val *gl = tw_v_get(&res, "groups_listed_twice");
            putchar('\n');
            rc = print_list(cli, "places with no active partner", tw_v_get(&res, "unpartnered"), pf, ph, 4, &nm,
                            tw_rec_uint(cnt, "unpartnered_places"));
            if (rc == 0) { putchar('\n'); rc = print_list(cli, "places with two or more groups active or exploring", tw_v_get(&res, "duplicated"), df, dh, 4, &nm, tw_rec_uint(cnt, "duplicated_places")); }
            if (rc == 0) { putchar('\n'); rc = print_list(cli, "places listed more than once", tw_v_get(&res, "listed_twice"), tf, th, 3, &nm, tw_rec_uint(cnt, "places_listed_twice")); }
            if (rc == 0) { putchar('\n'); rc = print_list(cli, "groups listed more than once", gl, gf, gh, 3, &nm, tw_rec_uint(cnt, "groups_listed_twice")); }
            if (rc == 0) print_commands(gl);
            if (rc == 0) { putchar('\n'); rc = print_list(cli, "links whose group or place is not found (references to fix)", tw_v_get(&res, "dangling"), lf, lh, 4, &nm, tw_rec_uint(cnt, "dangling_links")); }
            if (rc == 0) { putchar('\n'); rc = print_list(cli, "seeking groups and suggested places", tw_v_get(&res, "suggestions"), sf, sh, 3, &nm, tw_rec_uint(cnt, "seeking_groups")); }
        }
    }
    if (rc == 0) exit = TW_EXIT_OK;
out:
    tw_arena_free(&a);
    return exit;
}

/* ---------------------------------------------------------------- HTML */

/* The page is drawn by the web interface's own renderer (daemon/www/
 * report.js and report.css, compiled into twin as into twind), so the file
 * and the interface's report page say the same thing in the same words;
 * the file holds the renderer, the translations of its language and the
 * report op's answer inline, and makes no request of any kind. */

static void html_esc(tw_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '<': tw_buf_put(b, "&lt;", 4); break;
        case '>': tw_buf_put(b, "&gt;", 4); break;
        case '&': tw_buf_put(b, "&amp;", 5); break;
        case '"': tw_buf_put(b, "&quot;", 6); break;
        default: tw_buf_put(b, s + i, 1);
        }
    }
}

static const tw_www_file *www_file(const char *path)
{
    for (size_t i = 0; i < tw_www_nfiles; i++)
        if (strcmp(tw_www_files[i].path, path) == 0) return &tw_www_files[i];
    return NULL;
}

/* JSON inside <script type="application/json">: '<' only occurs in its
 * strings, where \u003c means the same, so no "</script" or "<!--" can end
 * the element early. */
static void put_json_inline(tw_buf *b, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '<') tw_buf_put(b, "\\u003c", 6);
        else tw_buf_put(b, p + i, 1);
    }
}

/* A file of ours inside <script> or <style>: it must not hold the
 * element's end tag (checked, as the page would break silently). */
static int put_raw(tw_buf *b, const tw_www_file *f, const char *end)
{
    size_t el = strlen(end);
    for (size_t i = 0; i + el <= f->len; i++)
        if (strncasecmp((const char *)f->data + i, end, el) == 0) return TW_EINTERNAL;
    return tw_buf_put(b, f->data, f->len);
}

/* The text of a key of a translation file, HTML-escaped; the key itself
 * when the file lacks it. */
static void put_string(tw_buf *b, const tw_val *strings, const char *key)
{
    const tw_val *v = tw_v_get(strings, key);
    if (v && v->type == TW_STR) html_esc(b, v->v.s, v->len);
    else html_esc(b, key, strlen(key));
}

/* The file is made to be published, so it holds what the page shows and
 * nothing more: no reference to a record (a reference names its author's
 * key, and a committee's key is not for the public) and none of the gaps'
 * lists (the page shows their counts).  out is a copy of in (sharing its
 * strings) without map entries keyed by a reference field, and, at the top
 * of "gaps", without the lists. */
enum { PUB_TOP, PUB_GAPS, PUB_INNER };

static int published(tw_arena *a, const tw_val *in, tw_val *out, int where)
{
    static const char *const refs[] = { "place", "group", "link", "by", "command", "commands", "records",
                                        "suggested_groups" };
    int rc;
    if (in->type == TW_ARR) {
        if ((rc = tw_v_arr(a, out, in->len))) return rc;
        for (uint32_t i = 0; i < in->len; i++)
            if ((rc = published(a, &in->v.arr[i], &out->v.arr[i], PUB_INNER))) return rc;
        return 0;
    }
    if (in->type != TW_MAP) { *out = *in; return 0; }
    if ((rc = tw_v_map(a, out, in->len))) return rc;
    uint32_t n = 0;
    for (uint32_t i = 0; i < in->len; i++) {
        const tw_kv *e = &in->v.map[i];
        bool drop = where == PUB_GAPS && e->v.type == TW_ARR;
        for (size_t k = 0; !drop && e->k.type == TW_STR && k < sizeof refs / sizeof refs[0]; k++)
            drop = e->k.len == strlen(refs[k]) && memcmp(e->k.v.s, refs[k], e->k.len) == 0;
        if (drop) continue;
        out->v.map[n].k = e->k;
        int next = where == PUB_TOP && tw_v_is_str(&e->k, "gaps") ? PUB_GAPS : PUB_INNER;
        if ((rc = published(a, &e->v, &out->v.map[n].v, next))) return rc;
        n++;
    }
    out->len = n;
    return 0;
}

static int write_html(const char *path, const tw_val *res, const char *lang)
{
    char tpath[32];
    snprintf(tpath, sizeof tpath, "/i18n/%s.json", lang);
    const tw_www_file *js = www_file("/report.js"), *css = www_file("/report.css"), *tr = www_file(tpath);
    tw_arena a;
    tw_val strings;
    tw_buf b, j;
    int rc;
    tw_arena_init(&a, 0);
    tw_buf_init(&b);
    tw_buf_init(&j);
    if (!js || !css || !tr || tw_json_parse((const char *)tr->data, tr->len, &a, &strings, NULL, NULL, 0) != 0) {
        rc = tw_cli_fail("twin was built without its report page (daemon/www/report.js)");
        goto out;
    }
    bool ar = strcmp(lang, "ar") == 0;
    tw_buf_put(&b, "<!DOCTYPE html>\n<html lang=\"", 28);
    tw_buf_put(&b, lang, strlen(lang));
    tw_buf_put(&b, ar ? "\" dir=\"rtl\">\n" : "\" dir=\"ltr\">\n", 13);
    static const char head[] = "<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>";
    tw_buf_put(&b, head, sizeof head - 1);
    put_string(&b, &strings, "report.title");
    tw_buf_put(&b, "</title>\n<style>\n", 17);
    if ((rc = put_raw(&b, css, "</style"))) goto internal;
    static const char body[] = "</style>\n</head>\n<body class=\"report-file\">\n"
        "<main class=\"report\" id=\"report\"><noscript><p>";
    tw_buf_put(&b, body, sizeof body - 1);
    put_string(&b, &strings, "report.noscript");
    static const char data[] = "</p></noscript></main>\n<script type=\"application/json\" id=\"tw-report-data\">";
    tw_buf_put(&b, data, sizeof data - 1);
    tw_val pub;
    if ((rc = published(&a, res, &pub, PUB_TOP)) || (rc = tw_json_write(&j, &pub, 0))) goto internal;
    put_json_inline(&b, j.p, j.len);
    static const char str[] = "</script>\n<script type=\"application/json\" id=\"tw-report-strings\">";
    tw_buf_put(&b, str, sizeof str - 1);
    /* Only the strings report.js uses: its own block, the schema's values
     * in words, yes. */
    tw_val used;
    if ((rc = tw_v_map(&a, &used, strings.len))) goto internal;
    used.len = 0;
    for (uint32_t i = 0; i < strings.len; i++) {
        const tw_kv *e = &strings.v.map[i];
        if (e->k.type == TW_STR && ((e->k.len > 7 && memcmp(e->k.v.s, "report.", 7) == 0) ||
                                    (e->k.len > 5 && memcmp(e->k.v.s, "enum.", 5) == 0) || tw_v_is_str(&e->k, "yes")))
            used.v.map[used.len++] = *e;
    }
    tw_buf_reset(&j);
    if ((rc = tw_json_write(&j, &used, 0))) goto internal;
    put_json_inline(&b, j.p, j.len);
    tw_buf_put(&b, "</script>\n<script>\n", 19);
    if ((rc = put_raw(&b, js, "</script"))) goto internal;
    if ((rc = tw_buf_put(&b, "</script>\n</body>\n</html>\n", 26))) goto internal;
    FILE *f = fopen(path, "w");
    if (!f) { rc = tw_cli_fail("cannot write %s: %s", path, strerror(errno)); goto out; }
    if (fwrite(b.p, 1, b.len, f) != b.len) rc = TW_EIO;
    if (fclose(f) != 0) rc = TW_EIO;
    if (rc) tw_cli_fail("cannot write %s", path);
    goto out;
internal:
    rc = tw_cli_fail("cannot build the page: %s", tw_strerror(rc));
out:
    tw_buf_free(&b);
    tw_buf_free(&j);
    tw_arena_free(&a);
    return rc;
}

/* -------------------------------------------------------------- report */

static int cmd_report(tw_cli *cli, int argc, char **argv)
{
    bool csv = false, agg = false;
    const char *html = NULL, *lang = NULL;
    rep_args ra = { 0 };
    const tw_opt opts[] = {
        { "csv", 0, NULL, &csv }, { "aggregate", 0, NULL, &agg }, { "html", 0, &html, NULL },
        { "lang", 0, &lang, NULL }, { "dormant-months", 0, &ra.months, NULL }, { "at", 0, &ra.at, NULL },
        { NULL, 0, NULL, NULL },
    };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_report, argc, argv, opts, 0, 0, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    if (csv + cli->json + (html != NULL) > 1) return tw_cli_usage(&tw_cmd_report, "choose one of --csv, --json and --html");
    if (html && agg) return tw_cli_usage(&tw_cmd_report, "--html shows the full report; --aggregate is for --json or --csv");
    if (lang && !html) return tw_cli_usage(&tw_cmd_report, "--lang is the language of the --html page");
    if (lang && strcmp(lang, "en") != 0 && strcmp(lang, "ar") != 0)
        return tw_cli_usage(&tw_cmd_report, "--lang must be en or ar, not %s", lang);
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val args, res;
    int exit = TW_EXIT_ERR;
    if ((rc = op_args(&tw_cmd_report, &a, &ra, agg ? "aggregate" : NULL, &args))) { exit = rc; goto out; }
    if (tw_cli_call(cli, &a, "report", &args, &res, NULL) != 0) goto out;
    if (html) rc = write_html(html, &res, lang ? lang : "en");
    else if (csv) {
        tw_buf b;
        tw_buf_init(&b);
        rc = csv_row(&b, 3, "table", "key", "count") || csv_counts(&b, "stats.", tw_v_get(&res, "stats")) ||
             csv_counts(&b, "gaps.", tw_v_get(&res, "gaps"));
        if (rc == 0) rc = tw_out_write(&b);
        tw_buf_free(&b);
    } else {
        rc = tw_out_json(&res);     /* the report is an export: JSON unless asked otherwise */
    }
    if (rc == 0) exit = TW_EXIT_OK;
out:
    tw_arena_free(&a);
    return exit;
}

const tw_cmd tw_cmd_gaps = {
    "gaps", "coverage and duplication: places with no partner, places sought twice, matches",
    "[--csv [--counts]] [--counts] [--dormant-months N] [--at MS]",
    "Places with no active partner (by governorate and kind), places with two or\n"
    "more groups active or exploring, places and groups listed more than once\n"
    "(with the twin publish ... own_key= command that links a group listing to\n"
    "the group's own record), links whose group or place is not found, and the\n"
    "places suggested to each group seeking a partner.  Codes are shown with\n"
    "their names, records as FINGERPRINT/SLOT.\n\n"
    "  --counts            count tables only, no lists\n"
    "  --csv               the lists as rows list,ref,name,subdivision,place_kind,detail\n"
    "                      (groups_listed_twice: nation in subdivision; dangling: the\n"
    "                      link, what is not found, the references as written);\n"
    "                      with --counts, rows table,key,count\n"
    "  --dormant-months N  accepted for symmetry with twin report (default 12)\n"
    "  --at MS             compute as at this time (ms since the epoch)\n",
    cmd_gaps,
};

const tw_cmd tw_cmd_report = {
    "report", "the hub report: statistics and gaps as JSON, CSV or one HTML page",
    "[--json | --csv | --html FILE [--lang en|ar]] [--aggregate] [--dormant-months N] [--at MS]",
    "Writes statistics and gaps together: JSON by default, or --csv rows\n"
    "table,key,count of every count table, or --html FILE, the hub report to\n"
    "publish: one self-contained page (no external request; opened in a web\n"
    "browser, which draws it) with names not codes, tile maps of the\n"
    "governorates and of the UK, active links per year, partner countries, a\n"
    "section per governorate with its places and their partners, and an A4\n"
    "print layout; the same report as the web interface's Report page.\n\n"
    "  --aggregate         counts only, for upward reporting: no names, references\n"
    "                      or contact fields of any kind\n"
    "  --html FILE         write the HTML page to FILE\n"
    "  --lang en|ar        the page's language (default en; ar is right-to-left)\n"
    "  --dormant-months N  active or exploring links not updated for N months\n"
    "                      count as dormant (default 12; a month is 30 days)\n"
    "  --at MS             compute as at this time (ms since the epoch)\n",
    cmd_report,
};
