/*
 * twin export and twin import, and the record-file reading that publish
 * --file shares.
 *
 * Import is all or nothing from the user's point of view: every row is
 * checked here first, against the same schema the daemon uses, and nothing
 * is sent while any row is bad, so a spreadsheet with three typos gives
 * three "FILE:LINE: field: reason" lines instead of a half-applied import.
 * The daemon applies one import request atomically; only a file too large
 * for one control message is split, and then we say so, because the parts
 * are applied one by one.
 *
 * Records of other authors are skipped on import (their "author" is not
 * this node, or, without one, their "mine" is false): importing them would
 * republish them under this node's key, which would duplicate them in the
 * registry -- and "mine" alone is no guide, since in another node's export
 * that node's own records say "mine": true.  --adopt takes them all, for a
 * hub that means to publish them as its own listings.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "csv.h"
#include "json.h"
#include "twin/err.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "twin/schema.h"
#include "twin/vec.h"

/* Envelope of an import request around its records; generous. */
#define IMPORT_OVERHEAD 256u

void tw_errs_add(tw_errs *e, uint32_t line, const char *fmt, ...)
{
    e->n++;
    if (e->n > TW_CLI_ERRORS_SHOWN) return;
    va_list ap;
    if (line) fprintf(stderr, "%s:%" PRIu32 ": ", e->file, line);
    else fprintf(stderr, "%s: ", e->file);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int tw_errs_end(tw_errs *e)
{
    if (e->n == 0) return TW_EXIT_OK;
    if (e->n > TW_CLI_ERRORS_SHOWN)
        fprintf(stderr, "%s: ... and %zu more errors\n", e->file, e->n - TW_CLI_ERRORS_SHOWN);
    fprintf(stderr, "twin: %s: %zu error%s; nothing was sent\n", e->file, e->n,
            e->n == 1 ? "" : "s");
    return TW_EXIT_ERR;
}

void tw_items_free(tw_items *it)
{
    free(it->v);
    memset(it, 0, sizeof *it);
}

static int items_push(tw_items *it, const tw_item *item)
{
    tw_item *nv = tw_vec_room(it->v, &it->cap, it->n, sizeof *nv, 64);
    if (!nv) return TW_ENOMEM;
    it->v = nv;
    it->v[it->n++] = *item;
    return 0;
}

static bool is_meta_key(const char *k, size_t n)
{
    static const char *const meta[] = {
        "author", "fingerprint", "ts", "id", "mine", "envelope", "verified", "updated",
        "confirmed", "superseded_by", "group_name", "place_name", "place_name_ar", "superseded_by_name", NULL
    };
    for (size_t i = 0; meta[i]; i++)
        if (strlen(meta[i]) == n && memcmp(meta[i], k, n) == 0) return true;
    return false;
}

static int item_from_json(const tw_val *o, uint32_t line, tw_items *out, tw_errs *errs)
{
    tw_item it = { .line = line };
    bool have_body = false, skip = false;
    if (o->type != TW_MAP) {
        tw_errs_add(errs, line, "a record must be an object {\"kind\", \"slot\", \"body\"}");
        return 0;
    }
    for (uint32_t i = 0; i < o->len; i++) {
        const tw_val *k = &o->v.map[i].k, *v = &o->v.map[i].v;
        if (tw_v_is_str(k, "kind") || tw_v_is_str(k, "slot")) {
            if (v->type != TW_STR) {
                tw_errs_add(errs, line, "%.*s: must be a string", (int)k->len, k->v.s);
                return 0;
            }
            if (k->v.s[0] == 'k') { it.kind = v->v.s; it.kind_len = v->len; }
            else { it.slot = v->v.s; it.slot_len = v->len; }
        } else if (tw_v_is_str(k, "body")) {
            if (v->type == TW_NIL) {
                tw_errs_add(errs, line, "body: a deletion cannot be imported (use twin delete)");
                return 0;
            }
            it.body = *v;
            have_body = true;
        } else if (tw_v_is_str(k, "mine")) {
            skip = v->type == TW_BOOL && !v->v.b;
        } else if (tw_v_is_str(k, "author")) {
            if (v->type != TW_STR) {
                tw_errs_add(errs, line, "author: must be a string (a key, twk_...)");
                return 0;
            }
            it.author = v->v.s;
            it.author_len = v->len;
        } else if (!is_meta_key(k->v.s, k->len)) {
            tw_errs_add(errs, line, "unknown key \"%.*s\" (a record has kind, slot and body)",
                        (int)(k->len > 64 ? 64 : k->len), k->v.s);
            return 0;
        }
    }
    if (!it.kind) { tw_errs_add(errs, line, "kind: missing"); return 0; }
    if (!it.slot) { tw_errs_add(errs, line, "slot: missing"); return 0; }
    if (!have_body) { tw_errs_add(errs, line, "body: missing"); return 0; }
    it.not_mine = skip;
    return items_push(out, &it);
}

int tw_cli_items_json(const char *text, size_t len, tw_arena *a, tw_items *out, tw_errs *errs)
{
    char err[256];
    tw_val top;
    uint32_t *lines = NULL;
    int rc = tw_json_parse(text, len, a, &top, &lines, err, sizeof err);
    if (rc != 0) {
        if (rc == TW_ENOMEM) return rc;
        errs->n++;
        fprintf(stderr, "%s:%s\n", errs->file, err);
        return 0;
    }
    if (top.type != TW_ARR) return item_from_json(&top, lines ? lines[0] : 1, out, errs);
    for (uint32_t i = 0; i < top.len; i++)
        if ((rc = item_from_json(&top.v.arr[i], lines[i], out, errs)) != 0) return rc;
    return 0;
}

int tw_cli_item_check(const tw_item *it, char *err, size_t errlen)
{
    if (!tw_schema_kind(it->kind, it->kind_len)) {
        snprintf(err, errlen, "kind: \"%.*s\" is not a kind this version can publish",
                 (int)(it->kind_len > 64 ? 64 : it->kind_len), it->kind);
        return TW_ESCHEMA;
    }
    int rc = tw_schema_check_slot(it->kind, it->kind_len, it->slot, it->slot_len, err, errlen);
    if (rc != 0) return rc;
    if (it->body.type != TW_MAP) {
        snprintf(err, errlen, "body: must be an object of fields");
        return TW_ESCHEMA;
    }
    return tw_schema_validate(it->kind, it->kind_len, &it->body, err, errlen);
}

/* ---- CSV ---- */

typedef struct colset { const char **name; size_t *len; size_t n, cap; } colset;

static int colset_add(colset *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->len[i] == len && memcmp(c->name[i], name, len) == 0) return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        const char **nn = realloc(c->name, cap * sizeof *nn);
        if (!nn) return TW_ENOMEM;
        c->name = nn;
        size_t *nl = realloc(c->len, cap * sizeof *nl);
        if (!nl) return TW_ENOMEM;
        c->len = nl;
        c->cap = cap;
    }
    c->name[c->n] = name;
    c->len[c->n] = len;
    c->n++;
    return 0;
}

/* Lists are written ";"-separated, the form tw_schema_coerce() reads back. */
static int csv_value(tw_buf *b, const tw_val *v)
{
    if (v->type != TW_ARR) return tw_out_text(b, v);
    for (uint32_t i = 0; i < v->len; i++) {
        if (i && tw_buf_put(b, ";", 1) != 0) return TW_ENOMEM;
        int rc = tw_out_text(b, &v->v.arr[i]);
        if (rc != 0) return rc;
    }
    return 0;
}

static const tw_val *map_get_n(const tw_val *m, const char *k, size_t n)
{
    if (!m || m->type != TW_MAP) return NULL;
    for (uint32_t i = 0; i < m->len; i++) {
        const tw_val *key = &m->v.map[i].k;
        if (key->type == TW_STR && key->len == n && memcmp(key->v.s, k, n) == 0)
            return &m->v.map[i].v;
    }
    return NULL;
}

static const char *const head_meta[] = { "author", "updated", "mine" };

static int csv_head(tw_buf *b, const colset *cols, unsigned flags)
{
    int rc = tw_csv_cell(b, "kind", 4, flags);
    rc = rc ? rc : tw_csv_sep(b);
    rc = rc ? rc : tw_csv_cell(b, "slot", 4, flags);
    for (size_t c = 0; c < cols->n && rc == 0; c++) {
        rc = tw_csv_sep(b);
        if (rc == 0) rc = tw_csv_cell(b, cols->name[c], cols->len[c], flags);
    }
    for (size_t m = 0; m < 3 && rc == 0; m++) {
        rc = tw_csv_sep(b);
        if (rc == 0) rc = tw_csv_cell(b, head_meta[m], strlen(head_meta[m]), flags);
    }
    return rc ? rc : tw_csv_eol(b);
}

static int csv_row(tw_buf *b, tw_buf *cell, const colset *cols, const tw_val *r, unsigned flags)
{
    const tw_val *body = tw_v_get(r, "body");
    const tw_val *mine = tw_v_get(r, "mine");
    size_t kl, sl, al;
    const char *k = tw_rec_str(r, "kind", &kl);
    const char *s = tw_rec_str(r, "slot", &sl);
    const char *au = tw_rec_str(r, "author", &al);
    char when[40];
    time_t t = (time_t)(tw_rec_uint(r, "ts") / 1000u);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        when[0] = '\0';
    int rc = tw_csv_cell(b, k, kl, flags);
    rc = rc ? rc : tw_csv_sep(b);
    rc = rc ? rc : tw_csv_cell(b, s, sl, flags);
    for (size_t c = 0; c < cols->n && rc == 0; c++) {
        const tw_val *v = map_get_n(body, cols->name[c], cols->len[c]);
        tw_buf_reset(cell);
        rc = tw_csv_sep(b);
        if (rc == 0 && v) rc = csv_value(cell, v);
        if (rc == 0) rc = tw_csv_cell(b, (const char *)cell->p, cell->len, flags);
    }
    rc = rc ? rc : tw_csv_sep(b);
    rc = rc ? rc : tw_csv_cell(b, au, al, flags);
    rc = rc ? rc : tw_csv_sep(b);
    rc = rc ? rc : tw_csv_cell(b, when, strlen(when), flags);
    rc = rc ? rc : tw_csv_sep(b);
    if (rc == 0 && mine && mine->type == TW_BOOL)
        rc = tw_csv_cell(b, mine->v.b ? "yes" : "no", mine->v.b ? 3 : 2, flags);
    return rc ? rc : tw_csv_eol(b);
}

int tw_cli_records_csv(tw_buf *b, const char *kind, const tw_val *recs, size_t n,
                       unsigned flags)
{
    colset cols = { 0 };
    tw_buf cell;
    int rc = 0;
    tw_buf_init(&cell);
    /* Schema fields first, in schema order, so the columns of a kind are
     * the same in every export; then any field the schema does not know. */
    const tw_kind_schema *given = kind ? tw_schema_kind(kind, strlen(kind)) : NULL;
    for (size_t f = 0; given && f < given->nfields && rc == 0; f++)
        rc = colset_add(&cols, given->fields[f].name, strlen(given->fields[f].name));
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t kl;
        const char *k = tw_rec_str(&recs[i], "kind", &kl);
        const tw_kind_schema *ks = tw_schema_kind(k, kl);
        for (size_t f = 0; ks && f < ks->nfields && rc == 0; f++)
            rc = colset_add(&cols, ks->fields[f].name, strlen(ks->fields[f].name));
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const tw_val *body = tw_v_get(&recs[i], "body");
        for (uint32_t j = 0; body && body->type == TW_MAP && j < body->len && rc == 0; j++)
            if (body->v.map[j].k.type == TW_STR)
                rc = colset_add(&cols, body->v.map[j].k.v.s, body->v.map[j].k.len);
    }
    if (rc == 0) rc = csv_head(b, &cols, flags);
    for (size_t i = 0; i < n && rc == 0; i++) rc = csv_row(b, &cell, &cols, &recs[i], flags);
    free(cols.name);
    free(cols.len);
    tw_buf_free(&cell);
    return rc;
}

/* CSV of one known kind, made a page at a time: its columns are the
 * schema's fields, unless a record holds a field the schema does not know
 * (written by a newer version), which would add a column to every line. */
typedef struct csv_pages {
    const char *kind;
    size_t kind_len;
    colset cols;
    tw_buf *out, cell;
    size_t n;
    unsigned flags;
} csv_pages;
#define CSV_PAGES_REDO 1    /* a record needs a column the schema lacks */

static int csv_pages_add(void *ctx, const tw_val *recs, size_t n)
{
    csv_pages *cp = ctx;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++, cp->n++) {
        size_t kl;
        const char *k = tw_rec_str(&recs[i], "kind", &kl);
        const tw_val *body = tw_v_get(&recs[i], "body");
        if (kl != cp->kind_len || memcmp(k, cp->kind, kl) != 0) return CSV_PAGES_REDO;
        for (uint32_t j = 0; body && body->type == TW_MAP && j < body->len; j++) {
            const tw_val *key = &body->v.map[j].k;
            if (key->type == TW_STR) {
                bool known = false;
                for (size_t c = 0; c < cp->cols.n && !known; c++)
                    known = cp->cols.len[c] == key->len &&
                            memcmp(cp->cols.name[c], key->v.s, key->len) == 0;
                if (!known) return CSV_PAGES_REDO;
            }
        }
        rc = csv_row(cp->out, &cp->cell, &cp->cols, &recs[i], cp->flags);
    }
    return rc;
}

int tw_cli_list_csv(tw_cli *cli, const tw_list_q *q, unsigned flags, tw_buf *out, size_t *count)
{
    const tw_kind_schema *ks = q->kind ? tw_schema_kind(q->kind, strlen(q->kind)) : NULL;
    int rc = 0;
    *count = 0;
    if (ks) {
        csv_pages cp = { .kind = q->kind, .kind_len = strlen(q->kind), .out = out, .flags = flags };
        tw_buf_init(&cp.cell);
        for (size_t f = 0; f < ks->nfields && rc == 0; f++)
            rc = colset_add(&cp.cols, ks->fields[f].name, strlen(ks->fields[f].name));
        if (rc == 0) rc = csv_head(out, &cp.cols, flags);
        if (rc == 0) rc = tw_cli_list_pages(cli, q, csv_pages_add, &cp);
        free(cp.cols.name);
        free(cp.cols.len);
        tw_buf_free(&cp.cell);
        *count = cp.n;
        if (rc != CSV_PAGES_REDO) return rc;
        tw_buf_reset(out);
    }
    /* Every record first, to know every column. */
    tw_arena a;
    tw_recs recs = { 0 };
    tw_arena_init(&a, 0);
    if ((rc = tw_cli_list_all(cli, &a, q, &recs)) == 0) {
        rc = tw_cli_records_csv(out, q->kind, recs.v, recs.n, flags);
        *count = recs.n;
    }
    tw_recs_free(&recs);
    tw_arena_free(&a);
    return rc;
}

/* The message of a coerce error, led by "kind.field: " unless it names the field already. */
static void field_error(tw_errs *errs, uint32_t line, const char *kind, const char *field,
                        const char *msg)
{
    size_t kl = strlen(kind), fl = strlen(field);
    bool named = (strncmp(msg, field, fl) == 0 && msg[fl] == ':') ||
                 (strncmp(msg, kind, kl) == 0 && msg[kl] == '.' &&
                  strncmp(msg + kl + 1, field, fl) == 0 && msg[kl + 1 + fl] == ':');
    if (named) tw_errs_add(errs, line, "%s", msg);
    else tw_errs_add(errs, line, "%s.%s: %s", kind, field, msg);
}

enum { COL_KIND, COL_SLOT, COL_FIELD, COL_META, COL_MINE, COL_AUTHOR };

static int items_csv(const char *text, size_t len, const char *kind_opt, tw_arena *a,
                     tw_items *out, tw_errs *errs)
{
    tw_csv c;
    tw_csv_row *r = malloc(sizeof *r);
    char err[512];
    bool got;
    int rc = 0;
    size_t ncols = 0;
    unsigned role[TW_CSV_COLS_MAX] = { 0 };
    char *head[TW_CSV_COLS_MAX] = { NULL };
    const char *kind = kind_opt;
    bool header_checked = false;
    if (!r) return TW_ENOMEM;
    tw_csv_init(&c, text, len);
    tw_csv_row_init(r);
    if ((rc = tw_csv_read(&c, r, &got, err, sizeof err)) != 0 || !got) {
        if (rc == TW_ENOMEM) goto out;
        errs->n++;
        fprintf(stderr, "%s:%s\n", errs->file, rc ? err : "1: empty file (a header row is needed)");
        rc = 0;
        goto out;
    }
    ncols = r->n;
    for (size_t i = 0; i < ncols; i++) {
        if (!(head[i] = tw_arena_strndup(a, r->cell[i], r->len[i]))) { rc = TW_ENOMEM; goto out; }
    }
    size_t first;
    if (strcmp(head[0], "kind") == 0 && ncols >= 2 && strcmp(head[1], "slot") == 0) {
        role[0] = COL_KIND;
        role[1] = COL_SLOT;
        first = 2;
    } else if (kind_opt && strcmp(head[0], "slot") == 0) {
        role[0] = COL_SLOT;
        first = 1;
    } else {
        tw_errs_add(errs, r->line, "the header row must begin with kind,slot "
                    "(or with slot when --kind is given)");
        goto out;
    }
    for (size_t i = first; i < ncols; i++) role[i] = COL_FIELD;

    for (;;) {
        if ((rc = tw_csv_read(&c, r, &got, err, sizeof err)) != 0) {
            if (rc == TW_ENOMEM) goto out;
            /* The reader cannot resynchronise after a broken quote. */
            errs->n++;
            fprintf(stderr, "%s:%s\n", errs->file, err);
            rc = 0;
            goto out;
        }
        if (!got) break;
        if (r->n != ncols) {
            tw_errs_add(errs, r->line, "%zu fields, but the header has %zu", r->n, ncols);
            continue;
        }
        if (!kind) {
            if (!(kind = tw_arena_strndup(a, r->cell[0], r->len[0]))) { rc = TW_ENOMEM; goto out; }
        }
        if (!header_checked) {
            /* Column names can be checked only once the kind is known. */
            header_checked = true;
            const tw_kind_schema *ks = tw_schema_kind(kind, strlen(kind));
            if (!ks) {
                tw_errs_add(errs, r->line, "kind: \"%s\" is not a kind this version can publish", kind);
                goto out;
            }
            bool bad = false;
            for (size_t i = first; i < ncols; i++) {
                for (size_t j = 0; j < i; j++)
                    if (strcmp(head[i], head[j]) == 0) {
                        tw_errs_add(errs, 1, "column \"%s\" appears twice", head[i]);
                        bad = true;
                    }
                if (tw_schema_field(ks, head[i], strlen(head[i]))) continue;
                if (strcmp(head[i], "mine") == 0) role[i] = COL_MINE;
                else if (strcmp(head[i], "author") == 0) role[i] = COL_AUTHOR;
                else if (is_meta_key(head[i], strlen(head[i]))) role[i] = COL_META;
                else {
                    tw_errs_add(errs, 1, "%s: unknown field \"%s\"", kind, head[i]);
                    bad = true;
                }
            }
            if (bad) goto out;
        }
        if (role[0] == COL_KIND && strcmp(r->cell[0], kind) != 0) {
            tw_errs_add(errs, r->line, "kind: \"%s\" differs from \"%s\" (one kind per file)",
                        r->cell[0], kind);
            continue;
        }
        tw_kv *kv = tw_arena_alloc(a, ncols * sizeof *kv);
        if (!kv) { rc = TW_ENOMEM; goto out; }
        size_t nkv = 0;
        bool skip = false, bad = false;
        tw_item it = { .kind = kind, .kind_len = strlen(kind), .line = r->line };
        for (size_t i = 0; i < ncols; i++) {
            size_t n = r->len[i];
            const char *v = tw_csv_unguard(r->cell[i], &n);
            char *copy;
            switch (role[i]) {
            case COL_KIND:
            case COL_META:
                break;
            case COL_MINE:
                skip = strcmp(v, "no") == 0 || strcmp(v, "false") == 0;
                break;
            case COL_AUTHOR:
                if (n == 0) break;
                if (!(copy = tw_arena_strndup(a, v, n))) { rc = TW_ENOMEM; goto out; }
                it.author = copy;
                it.author_len = n;
                break;
            case COL_SLOT:
                if (!(copy = tw_arena_strndup(a, v, n))) { rc = TW_ENOMEM; goto out; }
                it.slot = copy;
                it.slot_len = n;
                break;
            case COL_FIELD: {
                if (n == 0) break;      /* an empty cell leaves the field out */
                if (!(copy = tw_arena_strndup(a, v, n))) { rc = TW_ENOMEM; goto out; }
                tw_val val;
                if (tw_schema_coerce(a, kind, head[i], copy, &val, err, sizeof err) != 0) {
                    field_error(errs, r->line, kind, head[i], err);
                    bad = true;
                    break;
                }
                kv[nkv].k = tw_v_cstr(head[i]);
                kv[nkv].v = val;
                nkv++;
                break;
            }
            }
        }
        it.not_mine = skip;
        if (bad) continue;
        if ((rc = tw_cli_map(a, &it.body, kv, nkv)) != 0) goto out;
        if ((rc = items_push(out, &it)) != 0) goto out;
    }
out:
    tw_csv_row_free(r);
    free(r);
    return rc;
}

static int cmp_author(const void *x, const void *y)
{
    return memcmp(*(const uint8_t *const *)x, *(const uint8_t *const *)y, 32);
}

int tw_cli_items_own(tw_items *it, const uint8_t own[32], bool adopt, tw_errs *errs)
{
    /* Other authors' keys, to count them; an item without an author that
     * says "mine": false counts as an author of its own kind (all zeros). */
    static const uint8_t unknown[32];
    uint8_t (*keys)[32] = malloc((it->n ? it->n : 1) * sizeof *keys);
    const uint8_t **order = malloc((it->n ? it->n : 1) * sizeof *order);
    size_t kept = 0, nk = 0;
    if (!keys || !order) { free(keys); free(order); return TW_ENOMEM; }
    for (size_t i = 0; i < it->n; i++) {
        tw_item *x = &it->v[i];
        bool other = false;
        if (x->author) {
            if (tw_keytext_decode(keys[nk], TW_KEYTEXT_PREFIX, x->author, x->author_len) != 0) {
                tw_errs_add(errs, x->line, "author: \"%.*s\" is not a key (twk_...); leave the author out to "
                            "publish the record as this node's", (int)(x->author_len > 80 ? 80 : x->author_len), x->author);
                continue;
            }
            other = memcmp(keys[nk], own, 32) != 0;
        } else if (x->not_mine) {
            memcpy(keys[nk], unknown, 32);
            other = true;
        }
        if (other && !adopt) {
            order[nk] = keys[nk];
            nk++;
            continue;
        }
        it->v[kept++] = *x;
    }
    qsort(order, nk, sizeof *order, cmp_author);
    it->skipped = nk;
    it->skipped_authors = 0;
    for (size_t i = 0; i < nk; i++) it->skipped_authors += i == 0 || memcmp(order[i], order[i - 1], 32) != 0;
    it->n = kept;
    free(keys);
    free(order);
    return 0;
}

int tw_cli_own_key(tw_cli *cli, tw_arena *a, uint8_t key[32])
{
    tw_val args, res;
    int rc = tw_cli_map(a, &args, NULL, 0);
    if (rc == 0) rc = tw_cli_call(cli, a, "status", &args, &res, NULL);
    if (rc != 0) return rc;
    size_t n;
    const char *kt = tw_rec_str(&res, "node", &n);
    if (tw_keytext_decode(key, TW_KEYTEXT_PREFIX, kt, n) != 0) {
        tw_cli_fail("bad status answer from twind: no node key");
        return TW_EPROTO;
    }
    return 0;
}

void tw_cli_say_skipped(const char *file, const tw_items *it)
{
    if (!it->skipped) return;
    fprintf(stderr, "twin: %s: %zu record%s of %zu other author%s skipped: they reach this node by sync or "
            "bundle; --adopt makes this node publish them as its own listings\n", file, it->skipped,
            it->skipped == 1 ? "" : "s", it->skipped_authors, it->skipped_authors == 1 ? "" : "s");
}

static int cmp_item(const void *x, const void *y)
{
    const tw_item *a = *(const tw_item *const *)x, *b = *(const tw_item *const *)y;
    size_t n = a->kind_len < b->kind_len ? a->kind_len : b->kind_len;
    int c = memcmp(a->kind, b->kind, n);
    if (c == 0) c = (a->kind_len > b->kind_len) - (a->kind_len < b->kind_len);
    if (c != 0) return c;
    n = a->slot_len < b->slot_len ? a->slot_len : b->slot_len;
    c = memcmp(a->slot, b->slot, n);
    if (c == 0) c = (a->slot_len > b->slot_len) - (a->slot_len < b->slot_len);
    if (c != 0) return c;
    return (a->line > b->line) - (a->line < b->line);
}

/* Checks every item and reports slots given twice. */
static int check_items(const tw_items *items, tw_errs *errs)
{
    char err[512];
    for (size_t i = 0; i < items->n; i++) {
        const tw_item *it = &items->v[i];
        if (tw_cli_item_check(it, err, sizeof err) != 0)
            tw_errs_add(errs, it->line, "%s", err);
    }
    if (items->n < 2) return 0;
    const tw_item **idx = malloc(items->n * sizeof *idx);
    if (!idx) return TW_ENOMEM;
    for (size_t i = 0; i < items->n; i++) idx[i] = &items->v[i];
    qsort(idx, items->n, sizeof *idx, cmp_item);
    for (size_t i = 1; i < items->n; i++) {
        const tw_item *p = idx[i - 1], *q = idx[i];
        if (p->kind_len == q->kind_len && p->slot_len == q->slot_len &&
            memcmp(p->kind, q->kind, p->kind_len) == 0 && memcmp(p->slot, q->slot, p->slot_len) == 0)
            tw_errs_add(errs, q->line, "%.*s/%.*s: given already on line %" PRIu32,
                        (int)q->kind_len, q->kind, (int)q->slot_len, q->slot, p->line);
    }
    free(idx);
    return 0;
}

/* {"body", "kind", "slot"} of an item. */
static int item_value(tw_arena *a, const tw_item *it, tw_val *out)
{
    tw_kv kv[3] = {
        { tw_v_cstr("body"), it->body },
        { tw_v_cstr("kind"), tw_v_str(it->kind, it->kind_len) },
        { tw_v_cstr("slot"), tw_v_str(it->slot, it->slot_len) },
    };
    return tw_cli_map(a, out, kv, 3);
}

static const char *guess_format(const char *path, const char *text, size_t len)
{
    size_t pl = strlen(path);
    if (pl > 5 && strcmp(path + pl - 5, ".json") == 0) return "json";
    if (pl > 4 && strcmp(path + pl - 4, ".csv") == 0) return "csv";
    size_t i = (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n')) i++;
    return (i < len && (text[i] == '[' || text[i] == '{')) ? "json" : "csv";
}

static int send_import(tw_cli *cli, tw_arena *a, const char *file, const tw_items *items,
                       uint64_t *imported, uint64_t *unchanged)
{
    tw_buf scratch;
    size_t *size = malloc((items->n ? items->n : 1) * sizeof *size);
    tw_val *vals = tw_arena_alloc(a, (items->n ? items->n : 1) * sizeof *vals);
    int rc = 0;
    tw_buf_init(&scratch);
    if (!size || !vals) { free(size); return TW_ENOMEM; }
    for (size_t i = 0; i < items->n && rc == 0; i++) {
        rc = item_value(a, &items->v[i], &vals[i]);
        tw_buf_reset(&scratch);
        if (rc == 0) rc = tw_mp_encode(&scratch, &vals[i]);
        size[i] = scratch.len;
    }
    tw_buf_free(&scratch);
    if (rc != 0) { free(size); tw_cli_fail("%s: cannot encode records: %s", file, tw_strerror(rc)); return rc; }

    /* Parts: as many records as one control message and one request hold. */
    size_t parts = 0;
    for (size_t i = 0, bytes = 0, cnt = 0; i < items->n; i++) {
        if (cnt == 0 || bytes + size[i] > TW_CTL_MSG_MAX - IMPORT_OVERHEAD ||
            cnt == TW_IMPORT_MAX_RECORDS) {
            parts++;
            bytes = 0;
            cnt = 0;
        }
        bytes += size[i];
        cnt++;
    }
    if (parts > 1)
        fprintf(stderr, "twin: %s: %zu records do not fit in one control message; importing in "
                "%zu parts (each part is applied atomically, the whole file is not)\n",
                file, items->n, parts);
    if ((rc = tw_cli_connect(cli)) != 0) { free(size); return rc; }
    size_t start = 0, part = 0;
    while (start < items->n) {
        size_t end = start, bytes = 0;
        while (end < items->n && end - start < TW_IMPORT_MAX_RECORDS &&
               (end == start || bytes + size[end] <= TW_CTL_MSG_MAX - IMPORT_OVERHEAD))
            bytes += size[end++];
        part++;
        tw_val arr = { .type = TW_ARR, .len = (uint32_t)(end - start), .v.arr = vals + start };
        tw_val args, resp;
        tw_kv kv[1] = { { tw_v_cstr("records"), arr } };
        char err[4400];
        if ((rc = tw_cli_map(a, &args, kv, 1)) != 0) break;
        rc = tw_conn_call(cli->conn, a, "import", &args, &resp, err, sizeof err);
        if (rc != 0) {
            const tw_val *ix = tw_v_get(&resp, "index");
            if (ix && ix->type == TW_UINT && ix->v.u < end - start)
                tw_cli_fail("%s:%" PRIu32 ": %s", file, items->v[start + ix->v.u].line, err);
            else
                tw_cli_fail("%s: %s", file, err);
            if (part > 1)
                fprintf(stderr, "twin: %s: parts 1 to %zu of %zu were imported before this refusal; "
                        "part %zu and later were not\n", file, part - 1, parts, part);
            else
                fprintf(stderr, "twin: %s: nothing was imported\n", file);
            break;
        }
        const tw_val *res = tw_v_get(&resp, "result");
        *imported += tw_rec_uint(res, "imported");
        *unchanged += tw_rec_uint(res, "unchanged");
        start = end;
    }
    free(size);
    return rc;
}

static int cmd_import(tw_cli *cli, int argc, char **argv)
{
    const char *format = NULL, *kind = NULL;
    bool adopt = false;
    const tw_opt opts[] = {
        { "format", 0, &format, NULL },
        { "kind", 'k', &kind, NULL },
        { "adopt", 0, NULL, &adopt },
        { NULL, 0, NULL, NULL },
    };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_import, argc, argv, opts, 1, 1, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    if (format && strcmp(format, "json") != 0 && strcmp(format, "csv") != 0)
        return tw_cli_usage(&tw_cmd_import, "--format must be json or csv");
    const char *file = argv[0];
    char *text = NULL, err[512];
    size_t len;
    if (tw_cli_read_file(file, TW_CLI_FILE_MAX, &text, &len, err, sizeof err) != 0)
        return tw_cli_fail("%s", err);
    if (!format) format = guess_format(file, text, len);
    if (kind && strcmp(format, "csv") != 0) {
        free(text);
        return tw_cli_usage(&tw_cmd_import, "--kind is for CSV files");
    }
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_items items = { 0 };
    tw_errs errs = { .file = file, .n = 0 };
    int exit = TW_EXIT_ERR;
    rc = strcmp(format, "json") == 0 ? tw_cli_items_json(text, len, &a, &items, &errs)
                                     : items_csv(text, len, kind, &a, &items, &errs);
    if (rc == 0) rc = check_items(&items, &errs);
    if (rc != 0) { tw_cli_fail("%s: %s", file, tw_strerror(rc)); goto out; }
    if (errs.n) { exit = tw_errs_end(&errs); goto out; }
    uint8_t own[32];
    if (tw_cli_own_key(cli, &a, own) != 0) goto out;
    if ((rc = tw_cli_items_own(&items, own, adopt, &errs)) != 0) { tw_cli_fail("%s: %s", file, tw_strerror(rc)); goto out; }
    if (errs.n) { exit = tw_errs_end(&errs); goto out; }
    tw_cli_say_skipped(file, &items);
    if (items.n == 0) {
        fprintf(stderr, "twin: %s: no records to import\n", file);
        if (cli->json) {
            tw_kv kv[4] = {
                { tw_v_cstr("imported"), tw_v_uint(0) },
                { tw_v_cstr("skipped"), tw_v_uint(items.skipped) },
                { tw_v_cstr("skipped_authors"), tw_v_uint(items.skipped_authors) },
                { tw_v_cstr("unchanged"), tw_v_uint(0) },
            };
            tw_val res;
            if (tw_cli_map(&a, &res, kv, 4) != 0 || tw_out_json(&res) != 0) goto out;
        }
        exit = TW_EXIT_OK;
        goto out;
    }
    uint64_t imported = 0, unchanged = 0;
    if (send_import(cli, &a, file, &items, &imported, &unchanged) != 0) goto out;
    if (cli->json) {
        tw_kv kv[4] = {
            { tw_v_cstr("imported"), tw_v_uint(imported) },
            { tw_v_cstr("skipped"), tw_v_uint(items.skipped) },
            { tw_v_cstr("skipped_authors"), tw_v_uint(items.skipped_authors) },
            { tw_v_cstr("unchanged"), tw_v_uint(unchanged) },
        };
        tw_val res;
        if (tw_cli_map(&a, &res, kv, 4) != 0 || tw_out_json(&res) != 0) goto out;
    } else {
        printf("%s: %" PRIu64 " imported, %" PRIu64 " unchanged\n", file, imported, unchanged);
    }
    exit = TW_EXIT_OK;
out:
    tw_items_free(&items);
    tw_arena_free(&a);
    free(text);
    return exit;
}

static int cmd_export(tw_cli *cli, int argc, char **argv)
{
    const char *format = "json", *kind = NULL, *file = NULL;
    const tw_opt opts[] = {
        { "format", 0, &format, NULL },
        { "kind", 'k', &kind, NULL },
        { "output", 'o', &file, NULL },
        { NULL, 0, NULL, NULL },
    };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_export, argc, argv, opts, 0, 0, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    bool csv = strcmp(format, "csv") == 0;
    if (!csv && strcmp(format, "json") != 0)
        return tw_cli_usage(&tw_cmd_export, "--format must be json or csv");
    if (csv && !kind)
        return tw_cli_usage(&tw_cmd_export, "CSV holds one kind per file: give --kind");
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_buf b;
    tw_buf_init(&b);
    int exit = TW_EXIT_ERR;
    tw_list_q q = { .kind = kind };
    size_t count = 0;
    FILE *f = stdout;
    char tmp[TW_CLI_PATH_MAX];
    bool to_file = file && strcmp(file, "-") != 0;
    /* A temporary file renamed into place: an interrupted export never
     * leaves a truncated file under the name the user asked for. */
    if (to_file) {
        if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", file, (long)getpid()) >= sizeof tmp) {
            tw_cli_fail("%s: path too long", file);
            goto out;
        }
        if (!(f = fopen(tmp, "wb"))) { tw_cli_fail("%s: %s", tmp, strerror(errno)); goto out; }
    }
    if (csv) {
        rc = tw_cli_list_csv(cli, &q, TW_CSV_GUARD, &b, &count);
        if (rc == TW_ENOMEM) tw_cli_fail("cannot write the export: %s", tw_strerror(rc));
        else if (rc == 0 && (rc = tw_out_chunk(f, &b, true)) != 0)
            tw_cli_fail("write error: %s", strerror(errno));
    } else {
        /* Written a page at a time: JSON needs no look at later records. */
        rc = tw_cli_list_json(cli, &q, f, &count);
        if (rc == TW_EIO) tw_cli_fail("write error: %s", strerror(errno));
        else if (rc == TW_ENOMEM || rc == TW_EDEPTH) tw_cli_fail("cannot write the export: %s", tw_strerror(rc));
    }
    if (!to_file) {
        if (rc == 0) exit = TW_EXIT_OK;
        goto out;
    }
    bool ok = rc == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, file) != 0) {
        if (rc == 0) tw_cli_fail("%s: %s", file, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (cli->json) {
        tw_kv kv[2] = { { tw_v_cstr("exported"), tw_v_uint(count) }, { tw_v_cstr("file"), tw_v_cstr(file) } };
        tw_val res;
        if (tw_cli_map(&a, &res, kv, 2) != 0 || tw_out_json(&res) != 0) goto out;
    } else {
        fprintf(stderr, "twin: exported %zu records to %s\n", count, file);
    }
    exit = TW_EXIT_OK;
out:
    tw_buf_free(&b);
    tw_arena_free(&a);
    return exit;
}

const tw_cmd tw_cmd_export = {
    "export", "write the registry (or one kind) as JSON or CSV",
    "[--format json|csv] [--kind KIND] [-o FILE]",
    "Writes every current record (no deletions) known to the node, from all\n"
    "authors, with their metadata.\n\n"
    "  --format json|csv  json (default): an array of records\n"
    "                     {kind, slot, author, fingerprint, ts, id, body, mine};\n"
    "                     csv: one kind (--kind is required), header\n"
    "                     kind,slot,<fields>,author,updated,mine; lists are\n"
    "                     \";\"-separated; cells a spreadsheet would run as a formula\n"
    "                     (= + - @) get a leading ' (import removes it)\n"
    "  -k, --kind KIND    only this kind\n"
    "  -o, --output FILE  write to FILE (atomically) instead of stdout\n",
    cmd_export,
};

const tw_cmd tw_cmd_import = {
    "import", "publish many records from a JSON or CSV file, all or nothing",
    "[--format json|csv] [--kind KIND] [--adopt] FILE",
    "Every record is checked first; if any is bad, each problem is reported as\n"
    "FILE:LINE: field: reason and nothing is sent.  The records are then sent\n"
    "in one import request, which the daemon applies atomically (a file larger\n"
    "than one control message is sent in parts, and twin says so).  Records are\n"
    "published under this node's key.  Only records whose author is this node,\n"
    "or that have no author (a file made by hand), are imported: the records of\n"
    "other authors in an export (another node's, say) reach this node by sync\n"
    "or bundle under their own keys, and are skipped with a count, unless\n"
    "--adopt is given.\n\n"
    "JSON: an array of {\"kind\", \"slot\", \"body\"} objects, or twin export output.\n"
    "CSV:  one kind per file; header kind,slot,<fields...>, or slot,<fields...>\n"
    "      with --kind; empty cells leave a field out; lists are \";\"-separated.\n\n"
    "  --format json|csv  the file's format (default: from its name or content)\n"
    "  -k, --kind KIND    the kind of a CSV file without a kind column\n"
    "      --adopt        import the records of other authors too: this node\n"
    "                     publishes them as its own listings (a hub taking over\n"
    "                     a registry kept elsewhere)\n",
    cmd_import,
};
