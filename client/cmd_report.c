/*
 * twin gaps and twin report: the hub reports (ops "gaps" and "report" of
 * proto/PROTOCOL.md).  twind computes every figure; this file only shows
 * them: tables for people, JSON and CSV for programs, and one
 * self-contained HTML page (inline CSS and SVG, no external asset) that a
 * hub can mail or print.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csv.h"
#include "twin/limits.h"
#include "twin/err.h"
#include "twin/keytext.h"
#include "twin/schema.h"

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

void tw_cli_code_label(const char *table, size_t tl, const char *key, size_t kl, char *out, size_t cap)
{
    const tw_code *c = code_table(table, tl) ? tw_code_lookup(key, kl) : NULL;
    if (c) snprintf(out, cap, "%s %s", c->code, c->name);
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

static int print_counts(tw_cli *cli, const char *title, const tw_val *m)
{
    const char *heads[2] = { code_table(title, strlen(title)) ? "CODE NAME" : "KEY", "COUNT" };
    size_t n;
    kc *p = table_pairs(m, &n);
    tw_table t;
    int rc = tw_table_init(&t, 2, heads);
    printf("%s\n", title);
    if (rc == 0 && n == 0) { free(p); tw_table_free(&t); printf("  (none)\n"); return 0; }
    tw_table_align(&t, 1, TW_COL_RIGHT | TW_COL_NOCUT);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char num[32];
        char label[256];
        snprintf(num, sizeof num, "%" PRIu64, p[i].n);
        tw_cli_code_label(title, strlen(title), p[i].k, p[i].kl, label, sizeof label);
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
    } else if (v->type == TW_STR && (!strcmp(field, "subdivision") || !strcmp(field, "country"))) {
        char label[256];
        tw_cli_code_label("_by_country", 11, v->v.s, v->len, label, sizeof label);
        tw_buf_put(b, label, strlen(label));
    } else {
        tw_out_text(b, v);
    }
}

/* A list of maps as a table of the given fields. */
static int print_list(tw_cli *cli, const char *title, const tw_val *l, const char *const *fields,
                      const char *const *heads, size_t nf, const names *nm)
{
    tw_table t;
    tw_buf c;
    printf("%s\n", title);
    if (!l || l->type != TW_ARR || !l->len) { printf("  (none)\n"); return 0; }
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
        rc = print_counts(cli, "counts", tw_v_get(&res, "counts"));
        static const char *const tabs[] = { "unpartnered_by_governorate", "unpartnered_by_kind", "duplicated_by_governorate" };
        for (size_t i = 0; i < 3 && rc == 0; i++) { putchar('\n'); rc = print_counts(cli, tabs[i], tw_v_get(&res, tabs[i])); }
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
            rc = print_list(cli, "places with no active partner", tw_v_get(&res, "unpartnered"), pf, ph, 4, &nm);
            if (rc == 0) { putchar('\n'); rc = print_list(cli, "places with two or more groups active or exploring", tw_v_get(&res, "duplicated"), df, dh, 4, &nm); }
            if (rc == 0) { putchar('\n'); rc = print_list(cli, "places listed more than once", tw_v_get(&res, "listed_twice"), tf, th, 3, &nm); }
            if (rc == 0) { putchar('\n'); rc = print_list(cli, "groups listed more than once", gl, gf, gh, 3, &nm); }
            if (rc == 0) print_commands(gl);
            if (rc == 0) { putchar('\n'); rc = print_list(cli, "links whose group or place is not found (references to fix)", tw_v_get(&res, "dangling"), lf, lh, 4, &nm); }
            if (rc == 0) { putchar('\n'); rc = print_list(cli, "seeking groups and suggested places", tw_v_get(&res, "suggestions"), sf, sh, 3, &nm); }
        }
    }
    if (rc == 0) exit = TW_EXIT_OK;
out:
    tw_arena_free(&a);
    return exit;
}

/* ---------------------------------------------------------------- HTML */

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

static void hput(tw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hput(tw_buf *b, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) tw_buf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* The name of a code in a table of codes (names only in the page; the
 * Arabic name too where the list has one and arabic is set), else the key. */
static void html_key(tw_buf *b, const char *table, const char *k, size_t kl, bool arabic)
{
    const tw_code *c = table && code_table(table, strlen(table)) ? tw_code_lookup(k, kl) : NULL;
    if (!c) { html_esc(b, k, kl); return; }
    html_esc(b, c->name, strlen(c->name));
    if (arabic && c->name_ar) {
        hput(b, " <span lang=\"ar\" dir=\"rtl\">");
        html_esc(b, c->name_ar, strlen(c->name_ar));
        hput(b, "</span>");
    }
}

/* A horizontal bar chart of a count table, as inline SVG; table names the
 * count table, for showing codes by their names. */
static void html_chart(tw_buf *b, const char *title, const char *table, const tw_val *m, bool by_count)
{
    size_t n;
    kc *p = table_pairs(m, &n);
    hput(b, "<section><h3>");
    html_esc(b, title, strlen(title));
    hput(b, "</h3>\n");
    if (!n) { hput(b, "<p class=\"none\">(none)</p></section>\n"); free(p); return; }
    if (by_count)
        for (size_t i = 1; i < n; i++)       /* insertion sort: largest first, stable */
            for (size_t j = i; j > 0 && p[j].n > p[j - 1].n; j--) { kc x = p[j]; p[j] = p[j - 1]; p[j - 1] = x; }
    uint64_t others = 0, max = 1;
    size_t shown = n > TW_CLI_CHART_BARS ? TW_CLI_CHART_BARS : n;
    for (size_t i = shown; i < n; i++) others += p[i].n;
    for (size_t i = 0; i < shown; i++) if (p[i].n > max) max = p[i].n;
    if (others > max) max = others;
    size_t rows = shown + (others ? 1 : 0), bh = 22, lw = 220, cw = 600;
    hput(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"%zu\" height=\"%zu\" viewBox=\"0 0 %zu %zu\">\n",
         lw + cw + 60, rows * bh + 4, lw + cw + 60, rows * bh + 4);
    for (size_t i = 0; i < rows; i++) {
        const char *k = i < shown ? p[i].k : "others";
        size_t kl = i < shown ? p[i].kl : 6;
        uint64_t v = i < shown ? p[i].n : others;
        double w = (double)cw * (double)v / (double)max;
        hput(b, "<text x=\"%zu\" y=\"%zu\" text-anchor=\"end\">", lw - 6, i * bh + 16);
        if (i < shown) html_key(b, table, k, kl, false);
        else html_esc(b, k, kl);
        hput(b, "</text><rect x=\"%zu\" y=\"%zu\" width=\"%.1f\" height=\"%zu\"/>"
             "<text x=\"%.1f\" y=\"%zu\">%" PRIu64 "</text>\n", lw, i * bh + 3, w, bh - 6, lw + w + 4, i * bh + 16, v);
    }
    hput(b, "</svg></section>\n");
    free(p);
}

static void html_table(tw_buf *b, const char *title, const char *table, const tw_val *m)
{
    size_t n;
    kc *p = table_pairs(m, &n);
    hput(b, "<table><caption>");
    html_esc(b, title, strlen(title));
    hput(b, "</caption>\n");
    for (size_t i = 0; i < n; i++) {
        hput(b, "<tr><td>");
        html_key(b, table, p[i].k, p[i].kl, true);
        hput(b, "</td><td class=\"n\">%" PRIu64 "</td></tr>\n", p[i].n);
    }
    if (!n) hput(b, "<tr><td class=\"none\">(none)</td><td></td></tr>\n");
    hput(b, "</table>\n");
    free(p);
}

/* One cell of a gaps list in the page: names, not codes or keys (a short
 * fingerprint where a record must be named); a place's Arabic name after
 * its English one. */
static void html_cell(tw_buf *b, const char *field, const tw_val *row, const names *nm)
{
    const tw_val *v = tw_v_get(row, field);
    tw_buf t;
    tw_buf_init(&t);
    if (!strcmp(field, "subdivision")) {
        if (!v || tw_v_is_str(v, "(none)") || tw_v_is_str(v, "(other)")) v = tw_v_get(row, "country");
        if (v && v->type == TW_STR) html_key(b, "_by_country", v->v.s, v->len, true);
    } else if (!strcmp(field, "name_en") || !strcmp(field, "name")) {
        const tw_val *ar = tw_v_get(row, "name_ar");
        if (v && v->type == TW_STR) html_esc(b, v->v.s, v->len);
        if (ar && ar->type == TW_STR) {
            hput(b, " <span lang=\"ar\" dir=\"rtl\">");
            html_esc(b, ar->v.s, ar->len);
            hput(b, "</span>");
        }
    } else {
        cell_text(&t, field, v, nm);
        html_esc(b, (const char *)t.p, t.len);
    }
    tw_buf_free(&t);
}

static void html_list(tw_buf *b, const char *title, const tw_val *l, const char *const *fields,
                      const char *const *heads, size_t nf, uint64_t total, const names *nm)
{
    hput(b, "<table class=\"list\"><caption>");
    html_esc(b, title, strlen(title));
    hput(b, " (%" PRIu64 ")</caption>\n<tr>", total);
    for (size_t f = 0; f < nf; f++) hput(b, "<th>%s</th>", heads[f]);
    hput(b, "</tr>\n");
    for (uint32_t i = 0; l && l->type == TW_ARR && i < l->len; i++) {
        hput(b, "<tr>");
        for (size_t f = 0; f < nf; f++) {
            hput(b, "<td dir=\"auto\">");
            html_cell(b, fields[f], &l->v.arr[i], nm);
            hput(b, "</td>");
        }
        hput(b, "</tr>\n");
    }
    if (l && l->type == TW_ARR && total > l->len) hput(b, "<tr><td colspan=\"%zu\">... and %" PRIu64 " more</td></tr>\n", nf, total - l->len);
    hput(b, "</table>\n");
}

static uint64_t count_of(const tw_val *m, const char *table, const char *key)
{
    const tw_val *v = tw_v_get(tw_v_get(m, table), key);
    return v && v->type == TW_UINT ? v->v.u : 0;
}

static int write_html(const char *path, const tw_val *res)
{
    const tw_val *st = tw_v_get(res, "stats"), *gp = tw_v_get(res, "gaps");
    tw_buf b;
    char when[64];
    const tw_val *at = tw_v_get(res, "at_ms");
    tw_out_time(when, sizeof when, at && at->type == TW_UINT ? at->v.u : 0);
    tw_buf_init(&b);
    hput(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
             "<title>Registry report</title>\n<style>\n"
             "body{font-family:sans-serif;margin:2em;color:#222;max-width:1100px}\n"
             "h1{font-size:1.6em}h2{border-bottom:2px solid #4a7;padding-bottom:.2em;margin-top:2em}\n"
             "svg rect{fill:#4a7}svg text{font-size:12px;fill:#222}\n"
             ".kpi{display:inline-block;margin:0 1.5em 1em 0;padding:.6em 1em;background:#eef6f0;border-radius:6px}\n"
             ".kpi b{display:block;font-size:1.6em}\n"
             "table{border-collapse:collapse;margin:0 1.5em 1.5em 0;display:inline-table;vertical-align:top}\n"
             "caption{font-weight:bold;text-align:left;padding:.3em 0}\n"
             "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}td.n{text-align:right}\n"
             ".none{color:#888}table.list{display:table;width:100%%}\n"
             "</style></head><body>\n<h1>Registry report</h1>\n<p>Computed by twind at %s UTC from the records this node holds.</p>\n", when);
    uint64_t idents = count_of(gp, "counts", "place_identities"), unp = count_of(gp, "counts", "unpartnered_places");
    struct { const char *label; uint64_t v; } kpi[] = {
        { "groups", count_of(st, "totals", "group_identities") },
        { "place identities", idents },
        { "links", count_of(st, "totals", "links") },
        { "active links", count_of(st, "links_by_status", "active") },
        { "confirmed links (stated by both sides)", count_of(st, "links_by_confirmation", "confirmed") },
        { "unconfirmed links (stated by one side)", count_of(st, "links_by_confirmation", "unconfirmed") },
        { "places with no active partner", unp },
        { "places with two or more groups", count_of(gp, "counts", "duplicated_places") },
        { "dormant links", count_of(st, "dormant_links", "total") },
        { "links whose group or place is not found", count_of(gp, "counts", "dangling_links") },
        { "groups listed more than once", count_of(gp, "counts", "groups_listed_twice") },
    };
    for (size_t i = 0; i < sizeof kpi / sizeof kpi[0]; i++)
        hput(&b, "<div class=\"kpi\"><b>%" PRIu64 "</b>%s</div>\n", kpi[i].v, kpi[i].label);
    hput(&b, "<h2>Coverage</h2>\n<p>%" PRIu64 " of %" PRIu64 " places (%.0f%%) have an active partner.</p>\n",
         idents - unp, idents, idents ? 100.0 * (double)(idents - unp) / (double)idents : 0.0);
    html_chart(&b, "Places with no active partner, by governorate", "unpartnered_by_governorate",
               tw_v_get(gp, "unpartnered_by_governorate"), false);
    html_chart(&b, "Places with no active partner, by kind", NULL, tw_v_get(gp, "unpartnered_by_kind"), true);
    hput(&b, "<h2>Links</h2>\n");
    html_chart(&b, "Active links by partner country", "active_links_by_country",
               tw_v_get(st, "active_links_by_country"), true);
    html_chart(&b, "Active links by governorate", "active_links_by_governorate",
               tw_v_get(st, "active_links_by_governorate"), false);
    html_chart(&b, "Active links by UK region", "active_links_by_region", tw_v_get(st, "active_links_by_region"), false);
    html_chart(&b, "Links started by year", NULL, tw_v_get(st, "links_started_by_year"), false);
    html_chart(&b, "Active links by group kind", NULL, tw_v_get(st, "active_links_by_group_kind"), true);
    hput(&b, "<h2>Tables</h2>\n");
    for (uint32_t i = 0; st && st->type == TW_MAP && i < st->len; i++) {
        const tw_kv *e = &st->v.map[i];
        char name[128], table[128];
        if (e->k.type != TW_STR || e->v.type != TW_MAP) continue;
        snprintf(table, sizeof table, "%.*s", (int)e->k.len, e->k.v.s);
        snprintf(name, sizeof name, "%s", table);
        for (char *c = name; *c; c++) if (*c == '_') *c = ' ';
        html_table(&b, name, table, &e->v);
    }
    static const char *const pf[] = { "name_en", "subdivision", "place_kind", "seeking" };
    static const char *const ph[] = { "Place", "Where", "Kind", "Seeking" };
    static const char *const df[] = { "name_en", "subdivision", "groups" };
    static const char *const dh[] = { "Place", "Where", "Groups active or exploring" };
    static const char *const tf[] = { "name_en", "subdivision", "records" };
    static const char *const th[] = { "Place", "Where", "Records" };
    static const char *const gf[] = { "name", "nation", "records" };
    static const char *const gh[] = { "Group", "Nation", "Records" };
    static const char *const lf[] = { "link", "missing", "group", "place" };
    static const char *const lh[] = { "Link", "Not found", "Group as written", "Place as written" };
    static const char *const sf[] = { "name", "places" };
    static const char *const sh[] = { "Seeking group", "Suggested places" };
    names nm = { { tw_v_get(gp, "unpartnered"), tw_v_get(gp, "seeking_places"), tw_v_get(gp, "duplicated"),
                   tw_v_get(gp, "listed_twice") } };
    hput(&b, "<h2>Gaps</h2>\n<p>Records are named by the first ten characters of their author's key "
             "(its fingerprint, as <code>twin status</code> shows it) and their slot.</p>\n");
    html_list(&b, "Places with two or more groups", tw_v_get(gp, "duplicated"), df, dh, 3,
              count_of(gp, "counts", "duplicated_places"), &nm);
    html_list(&b, "Places listed more than once", tw_v_get(gp, "listed_twice"), tf, th, 3,
              count_of(gp, "counts", "places_listed_twice"), &nm);
    html_list(&b, "Groups listed more than once", tw_v_get(gp, "groups_listed_twice"), gf, gh, 3,
              count_of(gp, "counts", "groups_listed_twice"), &nm);
    html_list(&b, "Links whose group or place is not found", tw_v_get(gp, "dangling"), lf, lh, 4,
              count_of(gp, "counts", "dangling_links"), &nm);
    html_list(&b, "Seeking groups and suggested places", tw_v_get(gp, "suggestions"), sf, sh, 2,
              count_of(gp, "counts", "seeking_groups"), &nm);
    html_list(&b, "Places with no active partner", tw_v_get(gp, "unpartnered"), pf, ph, 4, unp, &nm);
    hput(&b, "</body></html>\n");
    FILE *f = fopen(path, "w");
    int rc = 0;
    if (!f) rc = tw_cli_fail("cannot write %s", path);
    else {
        if (fwrite(b.p, 1, b.len, f) != b.len) rc = TW_EIO;
        if (fclose(f) != 0) rc = TW_EIO;
        if (rc) tw_cli_fail("cannot write %s", path);
    }
    tw_buf_free(&b);
    return rc;
}

/* -------------------------------------------------------------- report */

static int cmd_report(tw_cli *cli, int argc, char **argv)
{
    bool csv = false, agg = false;
    const char *html = NULL;
    rep_args ra = { 0 };
    const tw_opt opts[] = {
        { "csv", 0, NULL, &csv }, { "aggregate", 0, NULL, &agg }, { "html", 0, &html, NULL },
        { "dormant-months", 0, &ra.months, NULL }, { "at", 0, &ra.at, NULL }, { NULL, 0, NULL, NULL },
    };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_report, argc, argv, opts, 0, 0, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    if (csv + cli->json + (html != NULL) > 1) return tw_cli_usage(&tw_cmd_report, "choose one of --csv, --json and --html");
    if (html && agg) return tw_cli_usage(&tw_cmd_report, "--html shows the full report; --aggregate is for --json or --csv");
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_val args, res;
    int exit = TW_EXIT_ERR;
    if ((rc = op_args(&tw_cmd_report, &a, &ra, agg ? "aggregate" : NULL, &args))) { exit = rc; goto out; }
    if (tw_cli_call(cli, &a, "report", &args, &res, NULL) != 0) goto out;
    if (html) rc = write_html(html, &res);
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
    "[--json | --csv | --html FILE] [--aggregate] [--dormant-months N] [--at MS]",
    "Writes statistics and gaps together: JSON by default, or --csv rows\n"
    "table,key,count of every count table, or --html FILE, one self-contained\n"
    "page with tables and bar charts (no external assets).\n\n"
    "  --aggregate         counts only, for upward reporting: no names, references\n"
    "                      or contact fields of any kind\n"
    "  --html FILE         write the HTML page to FILE\n"
    "  --dormant-months N  active or exploring links not updated for N months\n"
    "                      count as dormant (default 12; a month is 30 days)\n"
    "  --at MS             compute as at this time (ms since the epoch)\n",
    cmd_report,
};
