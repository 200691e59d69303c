/*
 * twin publish, delete, list, show and search.
 *
 * Publish checks the record locally with the schema the daemon uses before
 * sending it, so a mistake is reported with the field's name and nothing
 * is signed.  List pages through the daemon's answers ("after" = the
 * previous page's "next") so that a large registry never needs one huge
 * control message.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csv.h"
#include "json.h"
#include "twin/err.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "twin/schema.h"
#include "twin/vec.h"

#define SUMMARY_FIELDS_MAX 4u

const char *tw_rec_str(const tw_val *rec, const char *key, size_t *len)
{
    const tw_val *v = tw_v_get(rec, key);
    if (!v || v->type != TW_STR) { *len = 0; return ""; }
    *len = v->len;
    return v->v.s;
}

uint64_t tw_rec_uint(const tw_val *rec, const char *key)
{
    const tw_val *v = tw_v_get(rec, key);
    return v && v->type == TW_UINT ? v->v.u : 0;
}

void tw_recs_free(tw_recs *r)
{
    free(r->v);
    memset(r, 0, sizeof *r);
}

static int recs_add(tw_recs *r, const tw_val *v)
{
    tw_val *nv = tw_vec_room(r->v, &r->cap, r->n, sizeof *nv, 256);
    if (!nv) return TW_ENOMEM;
    r->v = nv;
    r->v[r->n++] = *v;
    return 0;
}

int tw_cli_list_all(tw_cli *cli, tw_arena *a, const tw_list_q *q, tw_recs *out)
{
    tw_val after = tw_v_nil();
    for (unsigned page = 0; page < TW_CLI_PAGES_MAX; page++) {
        tw_kv kv[7];
        size_t n = 0;
        size_t want = TW_CLI_PAGE_SIZE;
        if (q->limit && q->limit - out->n < want) want = q->limit - out->n;
        if (q->kind) kv[n++] = (tw_kv){ tw_v_cstr("kind"), tw_v_cstr(q->kind) };
        if (q->where) kv[n++] = (tw_kv){ tw_v_cstr("where"), *q->where };
        if (q->author) kv[n++] = (tw_kv){ tw_v_cstr("author"), tw_v_cstr(q->author) };
        if (after.type == TW_BIN) kv[n++] = (tw_kv){ tw_v_cstr("after"), after };
        kv[n++] = (tw_kv){ tw_v_cstr("limit"), tw_v_uint(want) };
        if (q->tombstones) kv[n++] = (tw_kv){ tw_v_cstr("tombstones"), tw_v_bool(true) };
        if (!q->hide_superseded) kv[n++] = (tw_kv){ tw_v_cstr("all"), tw_v_bool(true) };
        tw_val args, res;
        int rc = tw_cli_map(a, &args, kv, n);
        if (rc != 0) return rc;
        if ((rc = tw_cli_call(cli, a, "list", &args, &res, NULL)) != 0) return rc;
        const tw_val *recs = tw_v_get(&res, "records");
        const tw_val *next = tw_v_get(&res, "next");
        if (!recs || recs->type != TW_ARR) {
            tw_cli_fail("bad list answer from twind: no \"records\"");
            return TW_EPROTO;
        }
        for (uint32_t i = 0; i < recs->len; i++) {
            if (q->limit && out->n >= q->limit) return 0;
            if ((rc = recs_add(out, &recs->v.arr[i])) != 0) return rc;
        }
        if (!next || next->type != TW_BIN || (q->limit && out->n >= q->limit)) return 0;
        /* A cursor that does not move would page forever. */
        if (recs->len == 0 && after.type == TW_BIN && tw_v_equal(&after, next)) {
            tw_cli_fail("bad list answer from twind: the page cursor does not advance");
            return TW_EPROTO;
        }
        after = *next;
    }
    tw_cli_fail("list: more than %u pages; giving up", TW_CLI_PAGES_MAX);
    return TW_ETOOBIG;
}

/* Sends the list request for the page after "after" (nil: the first). */
static int send_page(tw_cli *cli, tw_arena *a, const tw_list_q *q, const tw_val *after,
                     size_t want)
{
    tw_kv kv[7];
    size_t n = 0;
    tw_val args;
    tw_arena_reset(a);
    if (q->kind) kv[n++] = (tw_kv){ tw_v_cstr("kind"), tw_v_cstr(q->kind) };
    if (q->where) kv[n++] = (tw_kv){ tw_v_cstr("where"), *q->where };
    if (q->author) kv[n++] = (tw_kv){ tw_v_cstr("author"), tw_v_cstr(q->author) };
    if (after->type == TW_BIN) kv[n++] = (tw_kv){ tw_v_cstr("after"), *after };
    kv[n++] = (tw_kv){ tw_v_cstr("limit"), tw_v_uint(want) };
    if (q->tombstones) kv[n++] = (tw_kv){ tw_v_cstr("tombstones"), tw_v_bool(true) };
    /* Exports and other callers want every record; only twin list hides
     * superseded listings, as the daemon does by default. */
    if (!q->hide_superseded) kv[n++] = (tw_kv){ tw_v_cstr("all"), tw_v_bool(true) };
    int rc = tw_cli_map(a, &args, kv, n);
    if (rc != 0) {
        tw_cli_fail("out of memory");
        return rc;
    }
    return tw_cli_send(cli, a, "list", &args);
}

int tw_cli_list_pages(tw_cli *cli, const tw_list_q *q, tw_page_fn fn, void *ctx)
{
    /* One arena and one body, reused for every page: memory that is
     * already mapped costs a tenth of fresh pages, and a listing of the
     * whole registry would otherwise hold all of it at once. */
    tw_arena a, req;
    tw_buf body, prev;
    size_t got = 0;
    int rc;
    tw_arena_init(&a, 0);
    tw_arena_init(&req, 0);
    tw_buf_init(&body);
    tw_buf_init(&prev);
    tw_val after = tw_v_nil();
    size_t want = q->limit && q->limit < TW_CLI_PAGE_SIZE ? q->limit : TW_CLI_PAGE_SIZE;
    rc = send_page(cli, &req, q, &after, want);
    for (unsigned page = 0; rc == 0; page++) {
        if (page == TW_CLI_PAGES_MAX) {
            tw_cli_fail("list: more than %u pages; giving up", TW_CLI_PAGES_MAX);
            rc = TW_ETOOBIG;
            break;
        }
        tw_val res;
        tw_arena_reset(&a);
        if ((rc = tw_cli_recv(cli, &a, "list", &body, &res, NULL)) != 0) break;
        const tw_val *recs = tw_v_get(&res, "records");
        const tw_val *next = tw_v_get(&res, "next");
        if (!recs || recs->type != TW_ARR) {
            tw_cli_fail("bad list answer from twind: no \"records\"");
            rc = TW_EPROTO;
            break;
        }
        size_t n = recs->len;
        if (q->limit && q->limit - got < n) n = q->limit - got;
        got += n;
        bool more = next && next->type == TW_BIN && !(q->limit && got >= q->limit);
        /* A cursor that does not move would page forever. */
        if (more && page > 0 && recs->len == 0 && prev.len == next->len &&
            (next->len == 0 || memcmp(prev.p, next->v.s, next->len) == 0)) {
            tw_cli_fail("bad list answer from twind: the page cursor does not advance");
            rc = TW_EPROTO;
            break;
        }
        if (more) {
            tw_buf_reset(&prev);
            if ((rc = tw_buf_put(&prev, next->v.s, next->len)) != 0) break;
            want = q->limit && q->limit - got < TW_CLI_PAGE_SIZE ? q->limit - got : TW_CLI_PAGE_SIZE;
            if ((rc = send_page(cli, &req, q, next, want)) != 0) break;
        }
        if (n && (rc = fn(ctx, recs->v.arr, n)) != 0) {
            /* The connection must be left with no answer pending: a
             * caller may go on with another request. */
            if (more) {
                tw_val ignored;
                tw_arena_reset(&a);
                tw_cli_recv(cli, &a, "list", &body, &ignored, NULL);
            }
            break;
        }
        if (!more) break;
    }
    tw_buf_free(&prev);
    tw_buf_free(&body);
    tw_arena_free(&req);
    tw_arena_free(&a);
    return rc;
}

/* ---- table cells of records ---- */

static int add_by(tw_table *t, const tw_val *r)
{
    const tw_val *mine = tw_v_get(r, "mine");
    if (mine && mine->type == TW_BOOL && mine->v.b) return tw_table_addz(t, "this node");
    size_t n;
    const char *f = tw_rec_str(r, "fingerprint", &n);
    return tw_table_add(t, f, n);
}

/* "KEYTEXT/SLOT" as "FINGERPRINT/SLOT", the form tables show keys in;
 * anything else (a SLOT of the record's own author) as it is. */
static int put_ref_short(tw_buf *b, const char *ref, size_t n)
{
    const char *slash = memchr(ref, '/', n);
    size_t prefix = strlen(TW_KEYTEXT_PREFIX);
    if (!slash || (size_t)(slash - ref) != TW_KEYTEXT_LEN || n < prefix + TW_FPR_CHARS) return tw_buf_put(b, ref, n);
    int rc = tw_buf_put(b, ref + prefix, TW_FPR_CHARS);
    return rc ? rc : tw_buf_put(b, slash, n - (size_t)(slash - ref));
}

/* Rows of a listing mostly share their minute, so the last text is kept. */
typedef struct time_text { bool set; uint64_t minute; char s[40]; } time_text;

static int add_time(tw_table *t, const tw_val *r, time_text *tt)
{
    uint64_t ms = tw_rec_uint(r, "ts");
    if (!tt->set || ms / 60000u != tt->minute) {
        tw_out_time(tt->s, sizeof tt->s, ms);
        tt->minute = ms / 60000u;
        tt->set = true;
    }
    return tw_table_addz(t, tt->s);
}

/* The day only ("2024-05-01"), for tables that must fit a width. */
static int add_day(tw_table *t, const tw_val *r, time_text *tt)
{
    int rc = add_time(t, r, tt);
    if (rc == 0) {
        tw_cell *c = &t->cell[t->ncells - 1];
        const char *sp = memchr(t->text.p + c->off, ' ', c->len);
        if (sp) {
            c->len = (uint32_t)(sp - (const char *)(t->text.p + c->off));
            c->width = c->len;
        }
    }
    return rc;
}

/*
 * The columns of a kind's table.  Tables show names where records hold
 * references and codes: a link's group and place by the names twind adds
 * to the record ("group_name", "place_name", "place_name_ar"; the short
 * reference FINGERPRINT/SLOT when the record referred to is not known), a
 * place by its English and Arabic names, a code with its name from the
 * code lists.  --wide adds the full references.
 */
enum { CELL_FIELD, CELL_PLACE_NAME, CELL_CODE, CELL_REF_NAME, CELL_REF_FULL };
/* nocut: an enumeration, shown whole (a cut one reads as another); the
 * names and codes take the cut instead. */
typedef struct col_spec { const char *field, *head; unsigned how; bool wide_only, nocut; } col_spec;

static const col_spec group_cols[] = {
    { "name", "NAME", CELL_FIELD, false, false }, { "group_kind", "KIND", CELL_FIELD, false, true },
    { "region", "REGION", CELL_CODE, false, false }, { "seeking_partner", "SEEKING", CELL_FIELD, true, true },
};
static const col_spec place_cols[] = {
    { "name_en", "NAME", CELL_PLACE_NAME, false, false }, { "place_kind", "KIND", CELL_FIELD, false, true },
    { "subdivision", "SUBDIVISION", CELL_CODE, false, false }, { "seeking_partner", "SEEKING", CELL_FIELD, true, true },
};
static const col_spec link_cols[] = {
    { "group", "GROUP", CELL_REF_NAME, false, false }, { "place", "PLACE", CELL_REF_NAME, false, false },
    { "formality", "FORMALITY", CELL_FIELD, false, true }, { "status", "STATUS", CELL_FIELD, false, true },
    { "since", "SINCE", CELL_FIELD, true, true },
    { "group", "GROUP REF", CELL_REF_FULL, true, true }, { "place", "PLACE REF", CELL_REF_FULL, true, true },
};

/* "E12000007 London", "PS-RBH Ramallah and al-Bireh": a code with its name
 * when it is in a code list; other codes as they are. */
static int put_code(tw_buf *b, const char *s, size_t n)
{
    size_t ng, nr;
    const tw_code *govs = tw_codes_governorates(&ng), *regions = tw_codes_uk_regions(&nr);
    const tw_code *c = tw_code_find(govs, ng, s, n);
    if (!c) c = tw_code_find(regions, nr, s, n);
    int rc = tw_buf_put(b, s, n);
    if (rc == 0 && c && c->name) rc = tw_buf_put(b, " ", 1) || tw_buf_put(b, c->name, strlen(c->name));
    return rc;
}

/* "Abu Dis أبو ديس": the English name, then the Arabic one. */
static int put_place_name(tw_buf *b, const char *en, size_t enl, const char *ar, size_t arl)
{
    int rc = tw_buf_put(b, en, enl);
    if (rc == 0 && arl) rc = (enl ? tw_buf_put(b, " ", 1) : 0) || tw_buf_put(b, ar, arl);
    return rc;
}

/* The name of a link's group or place, else its short reference. */
static int put_ref_name(tw_buf *b, const tw_val *r, const tw_val *body, const char *field)
{
    size_t n, an, rl;
    bool place = strcmp(field, "place") == 0;
    const char *name = tw_rec_str(r, place ? "place_name" : "group_name", &n);
    const char *ar = place ? tw_rec_str(r, "place_name_ar", &an) : "";
    if (!place) an = 0;
    if (n || an) return put_place_name(b, name, n, ar, an);
    const char *ref = tw_rec_str(body, field, &rl);
    return put_ref_short(b, ref, rl);
}

static int put_cell(tw_buf *b, const tw_val *r, const tw_val *body, const col_spec *c)
{
    const tw_val *v = tw_v_get(body, c->field);
    size_t n, an;
    switch (c->how) {
    case CELL_PLACE_NAME: {
        const char *en = tw_rec_str(body, "name_en", &n), *ar = tw_rec_str(body, "name_ar", &an);
        return put_place_name(b, en, n, ar, an);
    }
    case CELL_CODE:
        /* A place without a subdivision is placed by its country, a group
         * without a region by its nation. */
        if ((!v || v->type != TW_STR) && strcmp(c->field, "subdivision") == 0) v = tw_v_get(body, "country");
        if ((!v || v->type != TW_STR) && strcmp(c->field, "region") == 0) v = tw_v_get(body, "nation");
        return v && v->type == TW_STR ? put_code(b, v->v.s, v->len) : 0;
    case CELL_REF_NAME:
        return v && v->type == TW_STR ? put_ref_name(b, r, body, c->field) : 0;
    case CELL_REF_FULL: {
        /* SLOT is a record of the link's author: spelt out as KEY/SLOT. */
        if (!v || v->type != TW_STR) return 0;
        const char *au = tw_rec_str(r, "author", &n);
        if (!memchr(v->v.s, '/', v->len) && n && (tw_buf_put(b, au, n) || tw_buf_put(b, "/", 1))) return TW_ENOMEM;
        return tw_buf_put(b, v->v.s, v->len);
    }
    default:
        return v ? tw_out_text(b, v) : 0;
    }
}

/* A one-line summary for tables of mixed kinds: a link's group and place,
 * a place's names, else "name" or the first string. */
static int put_summary(tw_buf *b, const tw_val *r, const tw_val *body)
{
    size_t kl, n, an;
    const char *k = tw_rec_str(r, "kind", &kl);
    const tw_val *v;
    if (kl == 4 && memcmp(k, "link", 4) == 0) {
        int rc = 0;
        const tw_val *g = tw_v_get(body, "group"), *p = tw_v_get(body, "place");
        if (g && g->type == TW_STR) rc = put_ref_name(b, r, body, "group");
        if (rc == 0 && p && p->type == TW_STR)
            rc = (g && g->type == TW_STR ? tw_buf_put(b, " \xE2\x80\x94 ", 5) : 0) || put_ref_name(b, r, body, "place");
        if (b->len) return rc;
    }
    if (kl == 5 && memcmp(k, "place", 5) == 0) {
        const char *en = tw_rec_str(body, "name_en", &n), *ar = tw_rec_str(body, "name_ar", &an);
        if (n || an) return put_place_name(b, en, n, ar, an);
    }
    v = tw_v_get(body, "name");
    if (!v || v->type != TW_STR) v = NULL;
    for (uint32_t i = 0; !v && body && body->type == TW_MAP && i < body->len; i++)
        if (body->v.map[i].v.type == TW_STR) v = &body->v.map[i].v;
    return v ? tw_buf_put(b, v->v.s, v->len) : 0;
}

/* The superseding record: its short reference and name, or (wide) its
 * full reference. */
static int put_superseded(tw_buf *b, const tw_val *r, bool wide)
{
    size_t bl, nl;
    const char *by = tw_rec_str(r, "superseded_by", &bl);
    const char *name = tw_rec_str(r, "superseded_by_name", &nl);
    if (!bl) return 0;
    if (wide) return tw_buf_put(b, by, bl);
    if (!nl) return put_ref_short(b, by, bl);
    /* The reference first: a cut leaves it whole. */
    int rc = put_ref_short(b, by, bl) || tw_buf_put(b, " (", 2) || tw_buf_put(b, name, nl) || tw_buf_put(b, ")", 1);
    return rc ? TW_ENOMEM : 0;
}

/*
 * A table of records: per-field columns when they all share a known kind,
 * else KIND SLOT SUMMARY.  Records come a page at a time and are forgotten,
 * so which layout applies is known only at the end: the table holds the
 * cells of both (KIND, SLOT, columns..., SUMMARY, CONFIRMED, SUPERSEDED BY,
 * BY, UPDATED) and hides the columns of the other when it is printed.  The
 * cells of a layout that can no longer apply are left empty.  CONFIRMED
 * (links) and SUPERSEDED BY (a hub's listing of a place whose committee has
 * its own record) are shown when a record has them.  Unless wide, the table
 * fits the terminal's width ($COLUMNS, else TW_CLI_COLUMNS_DEFAULT), piped
 * or not: long cells are cut with an ellipsis, measured in display cells.
 */
#define COLS_MAX 8u
typedef struct rec_table {
    tw_cli *cli;
    bool one_kind;          /* the daemon was asked for one kind */
    bool wide;              /* --wide: whole cells, full references */
    bool started, mixed;
    char kind[TW_KIND_MAX + 1];
    size_t kind_len;
    col_spec cols[COLS_MAX];
    size_t nf;
    char upper[COLS_MAX][64];
    bool any_confirmed, any_superseded;
    tw_table t;
    tw_buf cell;
    time_text tt;
} rec_table;

/* The columns of a kind: its own list, else the schema's first short,
 * typed fields. */
static size_t kind_cols(rec_table *rt, const tw_kind_schema *ks)
{
    const col_spec *spec = NULL;
    size_t ns = 0, n = 0;
    if (strcmp(rt->kind, "group") == 0) { spec = group_cols; ns = sizeof group_cols / sizeof *group_cols; }
    else if (strcmp(rt->kind, "place") == 0) { spec = place_cols; ns = sizeof place_cols / sizeof *place_cols; }
    else if (strcmp(rt->kind, "link") == 0) { spec = link_cols; ns = sizeof link_cols / sizeof *link_cols; }
    for (size_t i = 0; i < ns && n < COLS_MAX; i++)
        if (!spec[i].wide_only || rt->wide) rt->cols[n++] = spec[i];
    for (size_t i = 0; !spec && ks && i < ks->nfields && n < SUMMARY_FIELDS_MAX; i++) {
        switch (ks->fields[i].type) {
        case TW_FT_STR: case TW_FT_ENUM: case TW_FT_CODE: case TW_FT_DATE:
        case TW_FT_BOOL: case TW_FT_UINT: {
            size_t j = 0;
            const char *f = ks->fields[i].name;
            for (; f[j] && j < sizeof rt->upper[n] - 1; j++)
                rt->upper[n][j] = (char)(f[j] >= 'a' && f[j] <= 'z' ? f[j] - 32 : f[j]);
            rt->upper[n][j] = '\0';
            rt->cols[n] = (col_spec){ f, rt->upper[n], ks->fields[i].type == TW_FT_CODE ? CELL_CODE : CELL_FIELD, false, false };
            n++;
            break;
        }
        default:
            break;
        }
    }
    return n;
}

static int rec_table_start(rec_table *rt, const tw_val *first)
{
    size_t kl;
    const char *k = tw_rec_str(first, "kind", &kl);
    const char *heads[COLS_MAX + 7];
    size_t nh = 0;
    if (kl > TW_KIND_MAX) kl = TW_KIND_MAX;   /* no schema kind is that long */
    memcpy(rt->kind, k, kl);
    rt->kind[kl] = '\0';
    rt->kind_len = kl;
    const tw_kind_schema *ks = tw_schema_kind(k, kl);
    rt->nf = kind_cols(rt, ks);
    heads[nh++] = "KIND";
    heads[nh++] = "SLOT";
    for (size_t i = 0; i < rt->nf; i++) heads[nh++] = rt->cols[i].head;
    heads[nh++] = "SUMMARY";
    heads[nh++] = "CONFIRMED";
    heads[nh++] = "SUPERSEDED BY";
    heads[nh++] = "BY";
    heads[nh++] = "UPDATED";
    tw_buf_init(&rt->cell);
    int rc = tw_table_init(&rt->t, nh, heads);
    /* A slot is what twin show takes: never cut. */
    tw_table_align(&rt->t, 1, TW_COL_NOCUT);
    tw_table_align(&rt->t, nh - 2, TW_COL_NOCUT);
    tw_table_align(&rt->t, nh - 1, TW_COL_NOCUT);
    for (size_t i = 0; i < rt->nf; i++)
        if (rt->cols[i].nocut) tw_table_align(&rt->t, 2 + i, TW_COL_NOCUT);
    rt->t.fit = rt->wide ? TW_FIT_NEVER : TW_FIT_ALWAYS;
    rt->mixed = ks == NULL;
    rt->started = true;
    return rc;
}

/* Adds the text put_* wrote into rt->cell as a cell. */
static int add_cell(rec_table *rt, int put_rc)
{
    int rc = put_rc ? TW_ENOMEM : tw_table_add(&rt->t, (const char *)rt->cell.p, rt->cell.len);
    tw_buf_reset(&rt->cell);
    return rc;
}

static int rec_table_add(void *ctx, const tw_val *recs, size_t n)
{
    rec_table *rt = ctx;
    tw_table *t = &rt->t;
    int rc = 0;
    if (n && !rt->started && (rc = rec_table_start(rt, &recs[0])) != 0) return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const tw_val *r = &recs[i];
        const tw_val *body = tw_v_get(r, "body");
        bool dead = !body || body->type != TW_MAP;
        size_t sl = 0, kl = 0;
        const char *slot = tw_rec_str(r, "slot", &sl);
        const char *k = tw_rec_str(r, "kind", &kl);
        if (!rt->mixed && (kl != rt->kind_len || memcmp(k, rt->kind, kl) != 0)) rt->mixed = true;
        rc |= tw_table_add(t, k, kl);
        rc |= tw_table_add(t, slot, sl);
        for (size_t j = 0; j < rt->nf; j++)
            rc |= rt->mixed ? tw_table_add(t, "", 0)
                  : dead ? tw_table_addz(t, j == 0 ? "(deleted)" : "")
                         : add_cell(rt, put_cell(&rt->cell, r, body, &rt->cols[j]));
        /* Asked for one kind, the records cannot be mixed unless twind
         * misbehaves: their summaries would never be shown. */
        if (rt->one_kind && !rt->mixed) rc |= tw_table_add(t, "", 0);
        else rc |= dead ? tw_table_addz(t, "(deleted)") : add_cell(rt, put_summary(&rt->cell, r, body));
        const tw_val *conf = tw_v_get(r, "confirmed");
        bool has_conf = conf && conf->type == TW_BOOL;
        rt->any_confirmed |= has_conf;
        rc |= tw_table_addz(t, !has_conf ? "" : conf->v.b ? "confirmed" : "unconfirmed");
        size_t bl;
        tw_rec_str(r, "superseded_by", &bl);
        rt->any_superseded |= bl > 0;
        rc |= add_cell(rt, put_superseded(&rt->cell, r, rt->wide));
        rc |= add_by(t, r);
        rc |= rt->wide ? add_time(t, r, &rt->tt) : add_day(t, r, &rt->tt);
    }
    return rc ? TW_ENOMEM : 0;
}

static int rec_table_print(rec_table *rt)
{
    if (!rt->started) {
        if (!rt->cli->json) fprintf(stderr, "twin: no records\n");
        return 0;
    }
    tw_table *t = &rt->t;
    if (rt->mixed) {
        for (size_t j = 0; j < rt->nf; j++) tw_table_align(t, 2 + j, TW_COL_HIDE);
    } else {
        tw_table_align(t, 0, TW_COL_HIDE);
        tw_table_align(t, 2 + rt->nf, TW_COL_HIDE);
    }
    if (!rt->any_confirmed) tw_table_align(t, 3 + rt->nf, TW_COL_HIDE);
    if (!rt->any_superseded) tw_table_align(t, 4 + rt->nf, TW_COL_HIDE);
    /* In a table of one kind the columns of names need the room more than
     * the date, which waits for --wide (and twin show). */
    if (!rt->mixed && !rt->wide && rt->nf) tw_table_align(t, 6 + rt->nf, TW_COL_HIDE);
    return tw_table_print(t, rt->cli) != 0 ? TW_EIO : 0;
}

static void rec_table_free(rec_table *rt)
{
    if (rt->started) {
        tw_table_free(&rt->t);
        tw_buf_free(&rt->cell);
    }
}

static int print_records(tw_cli *cli, const tw_val *recs, size_t n, bool wide)
{
    rec_table rt = { .cli = cli, .wide = wide };
    int rc = rec_table_add(&rt, recs, n);
    if (rc == 0) rc = rec_table_print(&rt);
    rec_table_free(&rt);
    return rc;
}

/* A JSON array written a page at a time, as tw_json_write() would write it whole. */
typedef struct json_pages { FILE *f; tw_buf b; size_t n; } json_pages;

static int json_pages_add(void *ctx, const tw_val *recs, size_t n)
{
    json_pages *j = ctx;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++, j->n++) {
        if ((rc = tw_buf_put(&j->b, j->n ? ",\n  " : "[\n  ", 4)) != 0) break;
        if ((rc = tw_json_write_at(&j->b, &recs[i], TW_JSON_PRETTY, 1)) != 0) break;
        rc = tw_out_chunk(j->f, &j->b, false);
    }
    return rc;
}

static int json_pages_end(json_pages *j)
{
    int rc = j->n ? tw_buf_put(&j->b, "\n]\n", 3) : tw_buf_put(&j->b, "[]\n", 3);
    if (rc == 0) rc = tw_out_chunk(j->f, &j->b, true);
    tw_buf_free(&j->b);
    return rc;
}

int tw_cli_list_json(tw_cli *cli, const tw_list_q *q, FILE *f, size_t *count)
{
    json_pages j = { .f = f, .n = 0 };
    tw_buf_init(&j.b);
    int rc = tw_cli_list_pages(cli, q, json_pages_add, &j);
    if (rc == 0) rc = json_pages_end(&j);
    else tw_buf_free(&j.b);
    if (count) *count = j.n;
    return rc;
}

static int print_json_records(const tw_val *recs, size_t n)
{
    tw_val arr = { .type = TW_ARR, .len = (uint32_t)n, .v.arr = (tw_val *)recs };
    return tw_out_json(&arr);
}

/* ---- publish ---- */

/* The "notes" or "warnings" of a publish answer, one "LABEL: text" line each
 * on stderr (escaped: they quote references from the registry). */
static void print_lines(const tw_val *res, const char *key, const char *label)
{
    const tw_val *a = tw_v_get(res, key);
    tw_buf b;
    tw_buf_init(&b);
    for (uint32_t i = 0; a && a->type == TW_ARR && i < a->len; i++) {
        const tw_val *v = &a->v.arr[i];
        if (v->type != TW_STR) continue;
        tw_buf_reset(&b);
        if (tw_width_escape(&b, v->v.s, v->len) == 0)
            fprintf(stderr, "%s: %.*s\n", label, (int)b.len, (const char *)b.p);
    }
    tw_buf_free(&b);
}

static int publish_one(tw_cli *cli, tw_arena *a, const tw_item *it, bool quiet_json)
{
    tw_kv kv[3] = {
        { tw_v_cstr("body"), it->body },
        { tw_v_cstr("kind"), tw_v_str(it->kind, it->kind_len) },
        { tw_v_cstr("slot"), tw_v_str(it->slot, it->slot_len) },
    };
    tw_val args, res;
    int rc = tw_cli_map(a, &args, kv, 3);
    if (rc != 0) return rc;
    if ((rc = tw_cli_call(cli, a, "publish", &args, &res, NULL)) != 0) return rc;
    if (cli->json) {
        /* The notes are in the JSON too; on stderr they reach a person. */
        print_lines(&res, "notes", "note");
        print_lines(&res, "warnings", "warning");
        return quiet_json ? 0 : tw_out_json(&res);
    }
    const tw_val *created = tw_v_get(&res, "created"), *same = tw_v_get(&res, "unchanged");
    size_t il;
    const char *id = tw_rec_str(&res, "id", &il);
    /* An identical body is not signed again; saying "updated" would suggest
     * a new version that peers will receive. */
    printf("%s %.*s/%.*s  id %.*s\n",
           same && same->type == TW_BOOL && same->v.b ? "unchanged"
           : created && created->type == TW_BOOL && created->v.b ? "created" : "updated",
           (int)it->kind_len, it->kind, (int)it->slot_len, it->slot,
           (int)(il > 16 ? 16 : il), id);
    size_t nl;
    const char *note = tw_rec_str(&res, "note", &nl);
    if (nl) fprintf(stderr, "note: %.*s\n", (int)nl, note);
    print_lines(&res, "notes", "note");
    print_lines(&res, "warnings", "warning");
    return 0;
}

static int publish_file(tw_cli *cli, const char *file)
{
    char *text, err[512];
    size_t len;
    if (tw_cli_read_file(file, TW_CLI_FILE_MAX, &text, &len, err, sizeof err) != 0)
        return tw_cli_fail("%s", err);
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_items items = { 0 };
    tw_errs errs = { .file = file, .n = 0 };
    int exit = TW_EXIT_ERR, rc = tw_cli_items_json(text, len, &a, &items, &errs);
    if (rc != 0) { tw_cli_fail("%s: %s", file, tw_strerror(rc)); goto out; }
    for (size_t i = 0; i < items.n; i++)
        if (tw_cli_item_check(&items.v[i], err, sizeof err) != 0)
            tw_errs_add(&errs, items.v[i].line, "%s", err);
    if (errs.n) { exit = tw_errs_end(&errs); goto out; }
    /* As import: the records of other authors are theirs to publish. */
    uint8_t own[32];
    if (tw_cli_own_key(cli, &a, own) != 0) goto out;
    if ((rc = tw_cli_items_own(&items, own, false, &errs)) != 0) { tw_cli_fail("%s: %s", file, tw_strerror(rc)); goto out; }
    if (errs.n) { exit = tw_errs_end(&errs); goto out; }
    tw_cli_say_skipped(file, &items);
    size_t done = 0;
    for (; done < items.n; done++)
        if (publish_one(cli, &a, &items.v[done], true) != 0) break;
    if (done < items.n) {
        tw_cli_fail("%s:%" PRIu32 ": not published; %zu of %zu records were published before it",
                    file, items.v[done].line, done, items.n);
        goto out;
    }
    if (cli->json) {
        tw_kv kv[1] = { { tw_v_cstr("published"), tw_v_uint(done) } };
        tw_val res;
        if (tw_cli_map(&a, &res, kv, 1) != 0 || tw_out_json(&res) != 0) goto out;
    }
    exit = TW_EXIT_OK;
out:
    tw_items_free(&items);
    tw_arena_free(&a);
    free(text);
    return exit;
}

static const char *known_kinds(char *buf, size_t len)
{
    size_t n, off = 0;
    const tw_kind_schema *k = tw_schema_kinds(&n);
    buf[0] = '\0';
    for (size_t i = 0; i < n && off < len; i++) {
        int w = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", k[i].kind);
        if (w < 0) break;
        off += (size_t)w;
    }
    return buf;
}

static int unknown_kind(const char *kind)
{
    char kinds[256];
    return tw_cli_fail("unknown kind \"%s\" (kinds: %s)", kind, known_kinds(kinds, sizeof kinds));
}

static const char *type_name(tw_ftype t)
{
    switch (t) {
    case TW_FT_STR: return "text";
    case TW_FT_TEXT: return "long text";
    case TW_FT_BOOL: return "yes/no";
    case TW_FT_UINT: return "number";
    case TW_FT_ENUM: return "one of";
    case TW_FT_CODE: return "code";
    case TW_FT_DATE: return "date";
    case TW_FT_STRLIST: return "list";
    case TW_FT_KEY: return "key";
    case TW_FT_URL: return "URL";
    case TW_FT_EMAIL: return "email";
    }
    return "?";
}

/* After the help text: the fields of every kind (or of one), from the schema. */
static int print_fields(const char *only)
{
    size_t nk;
    const tw_kind_schema *k = tw_schema_kinds(&nk);
    for (size_t i = 0; i < nk; i++) {
        if (only && strcmp(only, k[i].kind) != 0) continue;
        printf("\n%s: %s\n", k[i].kind, k[i].help ? k[i].help : "");
        for (size_t j = 0; j < k[i].nfields; j++) {
            const tw_field *f = &k[i].fields[j];
            printf("  %-16s %-9s %s%s", f->name, type_name(f->type),
                   f->required ? "(required) " : "", f->help ? f->help : "");
            for (size_t v = 0; f->type == TW_FT_ENUM && f->values && f->values[v]; v++)
                printf("%s%s", v ? ", " : ": ", f->values[v]);
            putchar('\n');
        }
    }
    return TW_EXIT_OK;
}

static int cmd_publish(tw_cli *cli, int argc, char **argv)
{
    const char *file = NULL;
    const tw_opt opts[] = { { "file", 'f', &file, NULL }, { NULL, 0, NULL, NULL } };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_publish, argc, argv, opts, 0, -1, &npos);
    if (rc == TW_EXIT_OK) return print_fields(npos ? argv[0] : NULL);
    if (rc != TW_CLI_CONTINUE) return rc;
    if (file) {
        if (npos) return tw_cli_usage(&tw_cmd_publish, "--file takes no KIND SLOT FIELD=VALUE arguments");
        return publish_file(cli, file);
    }
    if (npos < 2) return tw_cli_usage(&tw_cmd_publish, "missing %s", npos ? "SLOT" : "KIND and SLOT");
    const char *kind = argv[0], *slot = argv[1];
    for (int i = 2; i < npos; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i])
            return tw_cli_usage(&tw_cmd_publish, "expected FIELD=VALUE, got \"%s\"", argv[i]);
    }
    const tw_kind_schema *ks = tw_schema_kind(kind, strlen(kind));
    if (!ks) return unknown_kind(kind);
    char err[512];
    if (tw_schema_check_slot(kind, strlen(kind), slot, strlen(slot), err, sizeof err) != 0)
        return tw_cli_fail("%s", err);
    tw_arena a;
    tw_arena_init(&a, 0);
    int exit = TW_EXIT_ERR;
    tw_kv *kv = tw_arena_alloc(&a, (size_t)(npos > 2 ? npos - 2 : 1) * sizeof *kv);
    size_t nkv = 0;
    if (!kv) { tw_cli_fail("out of memory"); goto out; }
    for (int i = 2; i < npos; i++) {
        char *eq = strchr(argv[i], '=');
        *eq = '\0';
        const char *field = argv[i], *value = eq + 1;
        for (size_t j = 0; j < nkv; j++)
            if (tw_v_is_str(&kv[j].k, field)) {
                tw_cli_fail("%s.%s: given twice (give a list as one \";\"-separated value)", kind, field);
                goto out;
            }
        if (!tw_schema_field(ks, field, strlen(field))) {
            tw_cli_fail("%s.%s: no such field (see twin publish --help)", kind, field);
            goto out;
        }
        if (*value == '\0') continue;     /* FIELD= leaves the field out */
        tw_val v;
        if (tw_schema_coerce(&a, kind, field, value, &v, err, sizeof err) != 0) {
            size_t kl = strlen(kind), fl = strlen(field);
            bool named = strncmp(err, field, fl) == 0 ||
                         (strncmp(err, kind, kl) == 0 && err[kl] == '.');
            if (named) tw_cli_fail("%s", err);
            else tw_cli_fail("%s.%s: %s", kind, field, err);
            goto out;
        }
        kv[nkv].k = tw_v_cstr(field);
        kv[nkv].v = v;
        nkv++;
    }
    tw_item it = { .kind = kind, .kind_len = strlen(kind), .slot = slot, .slot_len = strlen(slot) };
    if (tw_cli_map(&a, &it.body, kv, nkv) != 0) { tw_cli_fail("out of memory"); goto out; }
    if (tw_schema_validate(kind, strlen(kind), &it.body, err, sizeof err) != 0) {
        tw_cli_fail("%s", err);
        goto out;
    }
    if (publish_one(cli, &a, &it, false) == 0) exit = TW_EXIT_OK;
out:
    tw_arena_free(&a);
    return exit;
}

/* ---- delete ---- */

static int cmd_delete(tw_cli *cli, int argc, char **argv)
{
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_delete, argc, argv, NULL, 2, 2, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_kv kv[2] = { { tw_v_cstr("kind"), tw_v_cstr(argv[0]) }, { tw_v_cstr("slot"), tw_v_cstr(argv[1]) } };
    tw_val args, res;
    int exit = TW_EXIT_ERR;
    if (tw_cli_map(&a, &args, kv, 2) == 0 && tw_cli_call(cli, &a, "delete", &args, &res, NULL) == 0) {
        size_t il;
        const char *id = tw_rec_str(&res, "id", &il);
        if (cli->json) rc = tw_out_json(&res);
        else rc = printf("deleted %s/%s  id %.*s\n", argv[0], argv[1], (int)(il > 16 ? 16 : il), id) < 0;
        size_t nl;
        const char *note = tw_rec_str(&res, "note", &nl);
        if (!cli->json && nl) fprintf(stderr, "note: %.*s\n", (int)nl, note);
        if (rc == 0) exit = TW_EXIT_OK;
    }
    tw_arena_free(&a);
    return exit;
}

/* ---- list ---- */

static int cmd_list(tw_cli *cli, int argc, char **argv)
{
    const char *author = NULL, *limit_s = NULL;
    bool csv = false, tombstones = false, all = false, wide = false;
    const tw_opt opts[] = {
        { "csv", 0, NULL, &csv },
        { "wide", 'w', NULL, &wide },
        { "author", 'a', &author, NULL },
        { "limit", 'n', &limit_s, NULL },
        { "tombstones", 0, NULL, &tombstones },
        { "all", 0, NULL, &all },
        { NULL, 0, NULL, NULL },
    };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_list, argc, argv, opts, 0, -1, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    if (csv && cli->json) return tw_cli_usage(&tw_cmd_list, "--csv and --json exclude each other");
    tw_list_q q = { .author = author, .tombstones = tombstones, .hide_superseded = !all };
    int first = 0;
    if (npos > 0 && !strchr(argv[0], '=')) { q.kind = argv[0]; first = 1; }
    if (limit_s) {
        char *end;
        unsigned long long l = strtoull(limit_s, &end, 10);
        if (*limit_s < '0' || *limit_s > '9' || *end || l == 0)
            return tw_cli_usage(&tw_cmd_list, "--limit needs a positive number");
        q.limit = (size_t)l;
    }
    if (author) {
        uint8_t key[32];
        if (tw_keytext_decode(key, TW_KEYTEXT_PREFIX, author, strlen(author)) != 0)
            return tw_cli_fail("--author: \"%s\" is not a valid key (twk_...)", author);
    }
    const tw_kind_schema *ks = q.kind ? tw_schema_kind(q.kind, strlen(q.kind)) : NULL;
    tw_arena a;
    tw_arena_init(&a, 0);
    rec_table rt = { .cli = cli, .wide = wide };
    int exit = TW_EXIT_ERR;
    tw_val where;
    if (npos > first) {
        tw_kv *kv = tw_arena_alloc(&a, (size_t)(npos - first) * sizeof *kv);
        if (!kv) { tw_cli_fail("out of memory"); goto out; }
        for (int i = first; i < npos; i++) {
            char *eq = strchr(argv[i], '=');
            if (!eq || eq == argv[i]) {
                exit = tw_cli_usage(&tw_cmd_list, "expected FIELD=VALUE, got \"%s\"", argv[i]);
                goto out;
            }
            *eq = '\0';
            if (ks && !tw_schema_field(ks, argv[i], strlen(argv[i]))) {
                tw_cli_fail("%s.%s: no such field", q.kind, argv[i]);
                goto out;
            }
            kv[i - first] = (tw_kv){ tw_v_cstr(argv[i]), tw_v_cstr(eq + 1) };
        }
        if (tw_cli_map(&a, &where, kv, (size_t)(npos - first)) != 0) goto out;
        q.where = &where;
    }
    if (csv) {
        tw_buf b;
        size_t count;
        tw_buf_init(&b);
        rc = tw_cli_list_csv(cli, &q, TW_CSV_GUARD, &b, &count);
        if (rc == 0) rc = tw_out_write(&b);
        tw_buf_free(&b);
    } else if (cli->json) {
        rc = tw_cli_list_json(cli, &q, stdout, NULL);
    } else {
        rt.one_kind = q.kind != NULL;
        rc = tw_cli_list_pages(cli, &q, rec_table_add, &rt);
        if (rc == 0) rc = rec_table_print(&rt);
    }
    if (rc == 0) exit = TW_EXIT_OK;
out:
    rec_table_free(&rt);
    tw_arena_free(&a);
    return exit;
}

/* ---- show ---- */

static int show_one(tw_cli *cli, const tw_val *r)
{
    size_t kl, sl;
    const char *kind = tw_rec_str(r, "kind", &kl);
    const char *slot = tw_rec_str(r, "slot", &sl);
    const tw_val *body = tw_v_get(r, "body");
    const tw_kind_schema *ks = tw_schema_kind(kind, kl);
    static const char *const meta[] = { "author", "fingerprint", "id", "ts", "verified", "mine" };
    time_text tt = { .set = false };
    tw_table t;
    int rc = tw_table_init(&t, 2, NULL);
    if (rc != 0) return rc;
    printf("%.*s/%.*s%s\n", (int)kl, kind, (int)sl, slot,
           body && body->type == TW_MAP ? "" : "  (deleted)");
    for (size_t i = 0; i < sizeof meta / sizeof meta[0] && rc == 0; i++) {
        const tw_val *v = tw_v_get(r, meta[i]);
        if (!v) continue;
        rc |= tw_table_addz(&t, i == 3 ? "updated" : meta[i]);
        if (i == 3) rc |= add_time(&t, r, &tt);
        else rc |= tw_table_addv(&t, v);
    }
    const tw_val *conf = tw_v_get(r, "confirmed");
    if (conf && conf->type == TW_BOOL && rc == 0) {
        rc |= tw_table_addz(&t, "confirmation");
        rc |= tw_table_addz(&t, conf->v.b ? "confirmed (stated by both sides)" : "unconfirmed (stated by one side only)");
    }
    size_t bl;
    const char *by = tw_rec_str(r, "superseded_by", &bl);
    if (bl && rc == 0) {
        const char *own = kl == 5 && !memcmp(kind, "group", 5) ? " (the group's own entry)" : " (the committee's own entry)";
        size_t nl;
        const char *name = tw_rec_str(r, "superseded_by_name", &nl);
        tw_buf note;
        tw_buf_init(&note);
        rc |= tw_table_addz(&t, "superseded by");
        rc |= tw_buf_put(&note, by, bl) || tw_buf_put(&note, own, strlen(own));
        if (nl) rc |= tw_buf_put(&note, ", ", 2) || tw_buf_put(&note, name, nl);
        if (rc == 0) rc |= tw_table_add(&t, (const char *)note.p, note.len);
        tw_buf_free(&note);
    }
    /* Schema order reads better than the canonical (sorted) order.  Codes
     * get their names, a link's references the names of their records. */
    tw_buf cell;
    tw_buf_init(&cell);
    for (size_t i = 0; ks && body && i < ks->nfields && rc == 0; i++) {
        const char *f = ks->fields[i].name;
        const tw_val *v = tw_v_get(body, f);
        if (!v) continue;
        rc |= tw_table_addz(&t, f);
        bool ref = kl == 4 && memcmp(kind, "link", 4) == 0 && (strcmp(f, "group") == 0 || strcmp(f, "place") == 0);
        size_t nl = 0, al = 0;
        if (ref) {
            tw_rec_str(r, strcmp(f, "group") == 0 ? "group_name" : "place_name", &nl);
            if (strcmp(f, "place") == 0) tw_rec_str(r, "place_name_ar", &al);
        }
        tw_buf_reset(&cell);
        if (v->type == TW_STR && ks->fields[i].type == TW_FT_CODE) {
            rc |= put_code(&cell, v->v.s, v->len) || tw_table_add(&t, (const char *)cell.p, cell.len);
        } else if (v->type == TW_STR && ref && (nl || al)) {
            rc |= tw_buf_put(&cell, v->v.s, v->len) || tw_buf_put(&cell, " (", 2) ||
                  put_ref_name(&cell, r, body, f) || tw_buf_put(&cell, ")", 1) ||
                  tw_table_add(&t, (const char *)cell.p, cell.len);
        } else if (v->type == TW_STR && ref) {
            rc |= tw_buf_put(&cell, v->v.s, v->len) || tw_buf_put(&cell, " (not known here yet)", 21) ||
                  tw_table_add(&t, (const char *)cell.p, cell.len);
        } else {
            rc |= tw_table_addv(&t, v);
        }
    }
    tw_buf_free(&cell);
    for (uint32_t i = 0; body && body->type == TW_MAP && i < body->len && rc == 0; i++) {
        const tw_kv *kv = &body->v.map[i];
        if (ks && kv->k.type == TW_STR && tw_schema_field(ks, kv->k.v.s, kv->k.len)) continue;
        rc |= tw_table_addv(&t, &kv->k);
        rc |= tw_table_addv(&t, &kv->v);
    }
    /* Whole values: show is where long descriptions are read. */
    tw_buf b;
    tw_buf_init(&b);
    if (rc == 0) rc = tw_table_render(&t, cli->tty, 0, &b);
    if (rc == 0) {
        /* Indent under the title line. */
        size_t start = 0;
        for (size_t i = 0; i < b.len && rc == 0; i++) {
            if (b.p[i] != '\n') continue;
            if (printf("  %.*s\n", (int)(i - start), (const char *)b.p + start) < 0) rc = TW_EIO;
            start = i + 1;
        }
    }
    tw_buf_free(&b);
    tw_table_free(&t);
    return rc ? TW_EIO : 0;
}

static int cmd_show(tw_cli *cli, int argc, char **argv)
{
    const char *id = NULL;
    const tw_opt opts[] = { { "id", 0, &id, NULL }, { NULL, 0, NULL, NULL } };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_show, argc, argv, opts, 0, 2, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    if (id ? npos != 0 : npos != 2)
        return tw_cli_usage(&tw_cmd_show, id ? "--id takes no KIND SLOT" : "give KIND SLOT or --id HEX");
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_kv kv[2];
    size_t n = 0;
    if (id) kv[n++] = (tw_kv){ tw_v_cstr("id"), tw_v_cstr(id) };
    else {
        kv[n++] = (tw_kv){ tw_v_cstr("kind"), tw_v_cstr(argv[0]) };
        kv[n++] = (tw_kv){ tw_v_cstr("slot"), tw_v_cstr(argv[1]) };
    }
    tw_val args, res;
    int exit = TW_EXIT_ERR;
    if (tw_cli_map(&a, &args, kv, n) != 0 || tw_cli_call(cli, &a, "show", &args, &res, NULL) != 0)
        goto out;
    const tw_val *recs = tw_v_get(&res, "records");
    if (!recs || recs->type != TW_ARR) { tw_cli_fail("bad show answer from twind"); goto out; }
    if (cli->json) {
        if (print_json_records(recs->v.arr, recs->len) == 0) exit = TW_EXIT_OK;
        goto out;
    }
    if (recs->len == 0) {
        if (id) tw_cli_fail("no entry with id %s", id);
        else tw_cli_fail("no record %s/%s", argv[0], argv[1]);
        goto out;
    }
    rc = 0;
    for (uint32_t i = 0; i < recs->len && rc == 0; i++) {
        if (i) putchar('\n');
        rc = show_one(cli, &recs->v.arr[i]);
    }
    if (rc == 0) exit = TW_EXIT_OK;
out:
    tw_arena_free(&a);
    return exit;
}

/* ---- search ---- */

/* No record matches "TEXT". Did you mean: NAME, NAME?  (the suggestions
 * twind found among the registry's names, closest first) */
static int print_no_match(const char *text, const tw_val *sugs)
{
    tw_buf b;
    tw_buf_init(&b);
    int rc = tw_buf_put(&b, "No record matches \"", 19);
    if (rc == 0) rc = tw_buf_put(&b, text, strlen(text));
    if (rc == 0) rc = tw_buf_put(&b, "\".", 2);
    for (uint32_t i = 0; sugs && i < sugs->len && rc == 0; i++) {
        size_t nl;
        const char *name = tw_rec_str(&sugs->v.arr[i], "name", &nl);
        rc = tw_buf_put(&b, i ? ", " : " Did you mean: ", i ? 2 : 15);
        if (rc == 0) rc = tw_buf_put(&b, name, nl);
    }
    if (rc == 0 && sugs && sugs->len) rc = tw_buf_put(&b, "?", 1);
    if (rc == 0) rc = tw_buf_put(&b, "\n", 1);
    if (rc == 0) rc = tw_out_write(&b);
    tw_buf_free(&b);
    return rc;
}

static int cmd_search(tw_cli *cli, int argc, char **argv)
{
    const char *limit_s = NULL;
    bool wide = false;
    const tw_opt opts[] = { { "limit", 'n', &limit_s, NULL }, { "wide", 'w', NULL, &wide }, { NULL, 0, NULL, NULL } };
    int npos;
    int rc = tw_cli_parse(cli, &tw_cmd_search, argc, argv, opts, 1, 1, &npos);
    if (rc != TW_CLI_CONTINUE) return rc;
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_kv kv[2];
    size_t n = 0;
    if (limit_s) {
        char *end;
        unsigned long long l = strtoull(limit_s, &end, 10);
        if (*limit_s < '0' || *limit_s > '9' || *end || l == 0 || l > TW_CLI_LIST_LIMIT_MAX) {
            tw_arena_free(&a);
            return tw_cli_usage(&tw_cmd_search, "--limit needs a number from 1 to %u", TW_CLI_LIST_LIMIT_MAX);
        }
        kv[n++] = (tw_kv){ tw_v_cstr("limit"), tw_v_uint(l) };
    }
    kv[n++] = (tw_kv){ tw_v_cstr("text"), tw_v_cstr(argv[0]) };
    tw_val args, res;
    int exit = TW_EXIT_ERR;
    if (tw_cli_map(&a, &args, kv, n) != 0 || tw_cli_call(cli, &a, "search", &args, &res, NULL) != 0)
        goto out;
    const tw_val *recs = tw_v_get(&res, "records"), *sugs = tw_v_get(&res, "suggestions");
    if (!recs || recs->type != TW_ARR || (sugs && sugs->type != TW_ARR)) {
        tw_cli_fail("bad search answer from twind");
        goto out;
    }
    if (cli->json) rc = tw_out_json(&res);
    else if (recs->len) rc = print_records(cli, recs->v.arr, recs->len, wide);
    else rc = print_no_match(argv[0], sugs);
    uint64_t total = tw_rec_uint(&res, "total");
    if (rc == 0 && !cli->json && total > recs->len)
        fprintf(stderr, "twin: the best %u of %" PRIu64 " matches; --limit N shows more\n", (unsigned)recs->len, total);
    if (rc == 0) exit = TW_EXIT_OK;
out:
    tw_arena_free(&a);
    return exit;
}

const tw_cmd tw_cmd_publish = {
    "publish", "publish (create or replace) one of this node's records",
    "KIND SLOT FIELD=VALUE... | --file FILE.json",
    "Publishes the record KIND/SLOT under this node's key.  The fields given\n"
    "replace the whole record: a field not given is removed.  Values are typed\n"
    "by the schema: yes/no (or true/false) for flags, decimal numbers, dates as\n"
    "YYYY, YYYY-MM or YYYY-MM-DD, and lists as one \";\"-separated value.\n"
    "FIELD= (empty) leaves a field out.  The record is checked locally first.\n\n"
    "A link with no place= published on a node with exactly one place record of\n"
    "its own (a committee's node) gets place= filled with it, unless its group=\n"
    "is this node's; twind says so.  A group= or place= naming a record this node\n"
    "does not know is kept (it may arrive later), with a warning: the link\n"
    "counts once it arrives.  Notes and warnings go to stderr.\n\n"
    "  -f, --file FILE  publish the records of a JSON file: an object\n"
    "                   {\"kind\", \"slot\", \"body\"} or an array of them\n\n"
    "`twin publish KIND --help` shows the fields of one kind; all are listed below.\n",
    cmd_publish,
};

const tw_cmd tw_cmd_delete = {
    "delete", "delete one of this node's records (publishes a tombstone)",
    "KIND SLOT",
    "The deletion spreads to every node and removes the record's content there.\n",
    cmd_delete,
};

const tw_cmd tw_cmd_list = {
    "list", "list current records, optionally of one kind and matching fields",
    "[KIND] [FIELD=VALUE...] [--author KEY] [--limit N] [--tombstones] [--all] [--wide] [--csv]",
    "FIELD=VALUE filters keep the records whose field equals the value.  Links\n"
    "show CONFIRMED: confirmed when both sides state the link (two different\n"
    "authors, one for each side), else unconfirmed.  A hub's listing of a place\n"
    "whose committee publishes its own record is superseded by that record and\n"
    "left out unless --all is given.\n\n"
    "Tables show names: a link's group and place by their names (a reference\n"
    "whose record is not known yet as FINGERPRINT/SLOT), a place by its English\n"
    "and Arabic names, codes with their names (E12000007 London).  They fit\n"
    "$COLUMNS (else 100) columns, long cells cut with an ellipsis, unless --wide.\n"
    "--json gives every record with its references and the names twind adds.\n\n"
    "  -a, --author KEY  only records published by this key (twk_...)\n"
    "  -n, --limit N     at most N records\n"
    "      --tombstones  include deletions\n"
    "      --all         include superseded place and group listings (SUPERSEDED BY)\n"
    "  -w, --wide        whole cells, with SEEKING, UPDATED, and a link's SINCE\n"
    "                    and full references (GROUP REF, PLACE REF)\n"
    "      --csv         CSV for spreadsheets (cells starting = + - @ get a leading ')\n",
    cmd_list,
};

const tw_cmd tw_cmd_show = {
    "show", "show records in full, with their metadata",
    "KIND SLOT | --id HEX",
    "KIND SLOT shows that slot of every author; --id shows one entry by its id.\n"
    "A link shows whether it is confirmed (stated by both sides); a hub's listing\n"
    "of a place shows the committee's own entry that supersedes it.\n"
    "With --json the signed envelope is included (hex).\n",
    cmd_show,
};

const tw_cmd tw_cmd_search = {
    "search", "find records by words of their names and text, best match first",
    "TEXT [--limit N] [--wide]",
    "Every word of TEXT must match a word of the record, in any order, whole or\n"
    "as its beginning (\"khan youn\").  Case, accents, punctuation, Arabic\n"
    "diacritics, the article (al-, el-, ad-, ash-, ... and \u0627\u0644) and \"and\" are\n"
    "ignored, and in names common transliteration variants match too (Sahour/\n"
    "Sahur, Beit/Bayt, Younis/Yunis, Qalqilya/Kalkilia).  Results come best\n"
    "first: a whole name, then whole words, then beginnings of words, then\n"
    "variants; names before other fields.  When nothing matches, similar\n"
    "names are suggested.  --json gives rank, score and match of each record,\n"
    "the number of matches (total) and the suggestions.\n\n"
    "  -n, --limit N  at most N results (default 100)\n"
    "  -w, --wide     whole cells (the table fits $COLUMNS, else 100, otherwise)\n"
    "Use -- before a TEXT that starts with a dash.\n",
    cmd_search,
};
