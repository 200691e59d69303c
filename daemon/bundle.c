/* Offline bundles (daemon/bundle.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "bundle.h"
#include "ingest.h"
#include "log.h"

/* Every envelope is a msgpack array of three: a record whose length field
 * is damaged is unlikely to point at this byte. */
#define ENV_FIRST_BYTE 0x93u

/* ---------------------------------------------------------------- codec */

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

int tw_bundle_begin(tw_buf *b, const uint8_t netid[TW_NETID_LEN], uint64_t created_ms)
{
    uint8_t h[TW_BUNDLE_HEADER_LEN];
    memcpy(h, TW_BUNDLE_MAGIC, TW_BUNDLE_MAGIC_LEN);
    h[TW_BUNDLE_MAGIC_LEN] = TW_BUNDLE_VERSION;
    h[TW_BUNDLE_MAGIC_LEN + 1] = 0;
    memcpy(h + TW_BUNDLE_MAGIC_LEN + 2, netid, TW_NETID_LEN);
    put_be(h + TW_BUNDLE_MAGIC_LEN + 2 + TW_NETID_LEN, created_ms, 8);
    return tw_buf_put(b, h, sizeof h);
}

int tw_bundle_add(tw_buf *b, const uint8_t *env, size_t len)
{
    uint8_t l[4];
    if (len == 0 || len > TW_ENVELOPE_MAX) return TW_ETOOBIG;
    put_be(l, len, 4);
    int rc = tw_buf_put(b, l, 4);
    return rc ? rc : tw_buf_put(b, env, len);
}

int tw_bundle_end(tw_buf *b, uint64_t count)
{
    uint8_t t[12];
    put_be(t, 0, 4);
    put_be(t + 4, count, 8);
    int rc = tw_buf_put(b, t, sizeof t);
    if (rc || (rc = tw_buf_reserve(b, TW_BUNDLE_SUM_LEN))) return rc;
    crypto_generichash(b->p + b->len, TW_BUNDLE_SUM_LEN, b->p, b->len, NULL, 0);
    b->len += TW_BUNDLE_SUM_LEN;
    return 0;
}

const char *tw_bundle_trailer_name(tw_bundle_trailer t)
{
    switch (t) {
    case TW_BUNDLE_TRAILER_OK: return "ok";
    case TW_BUNDLE_TRAILER_MISSING: return "missing";
    case TW_BUNDLE_TRAILER_BADSUM: return "checksum mismatch";
    case TW_BUNDLE_TRAILER_BADCOUNT: return "count mismatch";
    }
    return "?";
}

/*
 * A whole record framed at q: a sane length, and exactly that many bytes
 * holding a msgpack array of three (version, payload bytes, 64-byte
 * signature).  Whether the entry inside is valid is ingest's question: a
 * well-framed record whose entry is refused must neither hide the records
 * beside it nor be skipped without its reason.  Damage that happens to
 * frame this well by chance is vanishingly rare.
 */
static bool record_ok(const uint8_t *buf, size_t len, size_t q, tw_arena *a)
{
    if (len - q < 5) return false;
    uint64_t l = get_be(buf + q, 4);
    if (l == 0 || l > TW_ENVELOPE_MAX || l > len - q - 4 || buf[q + 4] != ENV_FIRST_BYTE) return false;
    tw_val top;
    tw_arena_reset(a);
    if (tw_mp_decode(buf + q + 4, (size_t)l, a, 0, &top, NULL, NULL) != 0) return false;
    return top.type == TW_ARR && top.len == 3 && top.v.arr[1].type == TW_BIN &&
           top.v.arr[2].type == TW_BIN && top.v.arr[2].len == TW_SIG_LEN;
}

/* The trailer, ending the bundle exactly, at q. */
static bool trailer_at_end(const uint8_t *buf, size_t len, size_t q)
{
    return len - q == TW_BUNDLE_TRAILER_LEN && get_be(buf + q, 4) == 0;
}

/* Whether a whole record is framed somewhere in [from, to). */
static bool record_within(const uint8_t *buf, size_t len, size_t from, size_t to, tw_arena *a)
{
    for (size_t q = from; q < to && q < len; q++)
        if (record_ok(buf, len, q, a)) return true;
    return false;
}

/* Where reading may go on after the record ending at q: the end, the
 * trailer, or another record. */
static bool boundary_ok(const uint8_t *buf, size_t len, size_t q, tw_arena *a)
{
    if (q == len) return true;
    if (len - q >= 4 && get_be(buf + q, 4) == 0) return len - q >= TW_BUNDLE_TRAILER_LEN;
    return record_ok(buf, len, q, a);
}

int tw_bundle_parse(const uint8_t *buf, size_t len, tw_bundle_fn fn, void *ctx,
                    tw_bundle_report *rep)
{
    memset(rep, 0, sizeof *rep);
    rep->trailer = TW_BUNDLE_TRAILER_MISSING;
    if (len < TW_BUNDLE_MAGIC_LEN || memcmp(buf, TW_BUNDLE_MAGIC, TW_BUNDLE_MAGIC_LEN) != 0) return TW_EINVAL;
    if (len < TW_BUNDLE_HEADER_LEN) return TW_ETRUNC;
    if (buf[TW_BUNDLE_MAGIC_LEN] != TW_BUNDLE_VERSION) return TW_EVERSION;
    memcpy(rep->netid, buf + TW_BUNDLE_MAGIC_LEN + 2, TW_NETID_LEN);
    rep->created_ms = get_be(buf + TW_BUNDLE_MAGIC_LEN + 2 + TW_NETID_LEN, 8);

    tw_arena a;
    tw_arena_init(&a, 0);
    size_t p = TW_BUNDLE_HEADER_LEN;
    int stop = 0;
    while (p < len && !stop) {
        size_t rem = len - p;
        if (rem < 4) { rep->truncated = true; rep->skipped_bytes += rem; rep->skipped_regions++; break; }
        uint64_t l = get_be(buf + p, 4);
        /* A zero length is the trailer -- unless records follow it: then
         * it is a record's length zeroed by damage, and reading goes on at
         * the next record instead of ending there. */
        if (l == 0 && !(rem > TW_BUNDLE_TRAILER_LEN && record_within(buf, len, p + 1, len, &a))) {
            if (rem < TW_BUNDLE_TRAILER_LEN) { rep->truncated = true; rep->skipped_bytes += rem; rep->skipped_regions++; break; }
            uint8_t sum[TW_BUNDLE_SUM_LEN];
            crypto_generichash(sum, sizeof sum, buf, p + 12, NULL, 0);
            rep->declared = get_be(buf + p + 4, 8);
            if (sodium_memcmp(sum, buf + p + 12, TW_BUNDLE_SUM_LEN) != 0) rep->trailer = TW_BUNDLE_TRAILER_BADSUM;
            else if (rep->declared != rep->records) rep->trailer = TW_BUNDLE_TRAILER_BADCOUNT;
            else rep->trailer = TW_BUNDLE_TRAILER_OK;
            if (rem > TW_BUNDLE_TRAILER_LEN) {
                /* Bytes after the trailer were not written by an exporter. */
                rep->skipped_bytes += rem - TW_BUNDLE_TRAILER_LEN;
                rep->skipped_regions++;
                if (rep->trailer == TW_BUNDLE_TRAILER_OK) rep->trailer = TW_BUNDLE_TRAILER_BADCOUNT;
            }
            break;
        }
        if (l != 0 && l <= TW_ENVELOPE_MAX && l <= rem - 4) {
            tw_entry e;
            const char *why = NULL;
            tw_arena_reset(&a);
            if (tw_entry_parse(buf + p + 4, (size_t)l, &a, &e, &why) == 0) {
                rep->records++;
                stop = fn ? fn(ctx, p, buf + p + 4, (size_t)l, NULL) : 0;
                p += 4 + (size_t)l;
                continue;
            }
            /* The envelope is refused or damaged but its length may be
             * right: trust it if it is well framed (record_ok: then its own
             * reason is reported), or if what follows it is where a record
             * can begin and no whole record lies inside it (damage to a
             * length can land it on a later record's start, when records
             * are of one size: it would swallow the records between). */
            if (record_ok(buf, len, p, &a) ||
                (boundary_ok(buf, len, p + 4 + (size_t)l, &a) && !record_within(buf, len, p + 5, p + 4 + (size_t)l, &a))) {
                rep->records++;
                rep->damaged++;
                stop = fn ? fn(ctx, p, buf + p + 4, (size_t)l, why ? why : "envelope does not parse") : 0;
                p += 4 + (size_t)l;
                continue;
            }
        }
        /* Damaged framing, or a record that runs past the end (a cut, or a
         * length made larger by damage): skip to the next place a record
         * or the final trailer can be read, if there is one. */
        size_t q = p + 1;
        while (q < len && !record_ok(buf, len, q, &a) && !trailer_at_end(buf, len, q)) q++;
        rep->skipped_bytes += q - p;
        rep->skipped_regions++;
        p = q;
    }
    /* Whatever the damage, a bundle without its trailer was cut short. */
    if (rep->trailer == TW_BUNDLE_TRAILER_MISSING && !stop) rep->truncated = true;
    tw_arena_free(&a);
    return stop;
}

/* ------------------------------------------------------------- sessions */

typedef struct problem { uint64_t offset; char why[TW_REASON_MAX]; } problem;

typedef struct session {
    bool used, import;
    uint64_t token, touched;
    tw_buf data;                 /* export: the bundle; import: bytes received */
    size_t sent;                 /* export: bytes handed out */
    uint64_t count;              /* export: entries */
    /* import */
    tw_node *node;
    bool submitted, done, failed;
    tw_bundle_report rep;
    int parse_rc;
    uint64_t *offsets;           /* per entry submitted: its offset in the bundle */
    size_t nsub;
    tw_ingest *ing;
    tw_ingest_counts counts;
    uint64_t damaged_refused;
    problem problems[TW_BUNDLE_PROBLEMS_MAX];
    size_t nproblems, more_problems;
} session;

static session sessions[TW_BUNDLE_SESSIONS_MAX];

static void session_free(session *s)
{
    /* An import whose entries are still being verified keeps its session
     * until the pipeline reports; ingest_done frees what is left. */
    tw_buf_free(&s->data);
    free(s->offsets);
    memset(s, 0, sizeof *s);
}

static session *session_find(const tw_val *args, const char *name, bool import)
{
    const tw_val *t = tw_v_get(args, name);
    if (!t || t->type != TW_UINT) return NULL;
    for (size_t i = 0; i < TW_BUNDLE_SESSIONS_MAX; i++)
        if (sessions[i].used && sessions[i].import == import && sessions[i].token == t->v.u) {
            sessions[i].touched = tw_now_ms();
            return &sessions[i];
        }
    return NULL;
}

static session *session_new(bool import)
{
    session *s = NULL;
    for (size_t i = 0; i < TW_BUNDLE_SESSIONS_MAX; i++) {
        session *c = &sessions[i];
        if (!c->used) { s = c; break; }
        /* An import being verified cannot give way. */
        if (c->import && c->submitted && !c->done) continue;
        if (!s || c->touched < s->touched) s = c;
    }
    if (!s) return NULL;
    if (s->used) {
        tw_warn("bundle", "an unfinished bundle %s was dropped to make room for a new one", s->import ? "import" : "export");
        session_free(s);
    }
    s->used = true;
    s->import = import;
    s->touched = tw_now_ms();
    /* Tokens are kept below 2^53 so that JSON clients carry them exactly. */
    s->token = (randombytes_random() | ((uint64_t)(randombytes_random() & 0x1fffffu) << 32)) + 1;
    tw_buf_init(&s->data);
    return s;
}



/* --------------------------------------------------------------- export */

typedef struct export_ctx {
    tw_node *n;
    tw_buf *b;
    uint64_t since, count;
    bool author_set;
    uint8_t author[TW_KEY_LEN];
    int err;
} export_ctx;

static int export_fn(void *vctx, const uint8_t *key, size_t klen, const tw_entry *e)
{
    export_ctx *x = vctx;
    if (e->ts < x->since) return 0;
    if (!tw_node_visible_at(x->n, e->author, e->ts)) return 0;     /* hidden records travel nowhere */
    if (x->author_set && memcmp(e->author, x->author, TW_KEY_LEN) != 0) return 0;
    if (x->b->len + 4 + e->env_len + TW_BUNDLE_TRAILER_LEN > TW_BUNDLE_MAX) { x->err = TW_ETOOBIG; return 1; }
    if ((x->err = tw_bundle_add(x->b, e->env, e->env_len))) return 1;
    x->count++;
    return 0;
}

static int export_slice(session *s, tw_buf *out)
{
    size_t n = s->data.len - s->sent;
    if (n > TW_BUNDLE_SLICE_MAX) n = TW_BUNDLE_SLICE_MAX;
    bool done = s->sent + n == s->data.len;
    int rc;
    if ((rc = tw_mpw_map(out, 6)) || (rc = tw_mpw_kv_uint(out, "export", s->token)) ||
        (rc = tw_mpw_kv_uint(out, "size", s->data.len)) || (rc = tw_mpw_kv_uint(out, "entries", s->count)) ||
        (rc = tw_mpw_kv_uint(out, "offset", s->sent)) ||
        (rc = tw_mpw_cstr(out, "data")) || (rc = tw_mpw_bin(out, s->data.p + s->sent, n)) ||
        (rc = tw_mpw_cstr(out, "done")) || (rc = tw_mpw_bool(out, done)))
        return rc;
    s->sent += n;
    if (done) session_free(s);
    return 0;
}

int tw_bundle_op_export(tw_node *n, const tw_val *args, tw_buf *out, char *err, size_t errlen)
{
    const tw_val *tok = tw_v_get(args, "export");
    if (tok && tok->type != TW_NIL) {
        session *s = session_find(args, "export", false);
        if (!s) { snprintf(err, errlen, "no such bundle export (finished, or dropped for a newer one)"); return TW_ENOTFOUND; }
        return export_slice(s, out);
    }
    export_ctx x = { .n = n, .since = 0 };
    const tw_val *since = tw_v_get(args, "since"), *author = tw_v_get(args, "author");
    if (since && since->type != TW_NIL) {
        if (since->type != TW_UINT) { snprintf(err, errlen, "argument \"since\" must be ms since the epoch"); return TW_EINVAL; }
        x.since = since->v.u;
    }
    if (author && author->type != TW_NIL) {
        if (author->type != TW_STR || tw_keytext_decode(x.author, TW_KEYTEXT_PREFIX, author->v.s, author->len)) {
            snprintf(err, errlen, "author: not a valid node key (twk_...)");
            return TW_EINVAL;
        }
        x.author_set = true;
    }
    session *s = session_new(false);
    if (!s) { snprintf(err, errlen, "too many bundle transfers in progress"); return TW_EBUSY; }
    x.b = &s->data;
    int rc = tw_bundle_begin(&s->data, n->netid, tw_now_ms());
    if (rc == 0) rc = tw_store_scan_entries(n->store, NULL, 0, NULL, 0, export_fn, &x);
    if (rc == 1 || rc == 0) rc = x.err;
    if (rc == 0) rc = tw_bundle_end(&s->data, x.count);
    if (rc) {
        session_free(s);
        if (rc == TW_ETOOBIG) snprintf(err, errlen, "the bundle would pass %u MiB; narrow it with since or author", TW_BUNDLE_MAX >> 20);
        else snprintf(err, errlen, "cannot build the bundle: %s", tw_strerror(rc));
        return rc;
    }
    s->count = x.count;
    tw_info("bundle", "export of %llu entries (%zu bytes) started", (unsigned long long)x.count, s->data.len);
    return export_slice(s, out);
}

/* --------------------------------------------------------------- import */

static void add_problem(session *s, uint64_t offset, const char *why)
{
    if (s->nproblems < TW_BUNDLE_PROBLEMS_MAX) {
        s->problems[s->nproblems].offset = offset;
        snprintf(s->problems[s->nproblems++].why, sizeof s->problems[0].why, "%s", why);
    } else {
        s->more_problems++;
    }
}

typedef struct collect_ctx {
    session *s;
    tw_buf envs;
    size_t *lens;
    size_t n, cap;
    int err;
} collect_ctx;

static int collect_fn(void *vctx, uint64_t offset, const uint8_t *env, size_t len, const char *why)
{
    collect_ctx *c = vctx;
    if (why) {
        c->s->damaged_refused++;
        add_problem(c->s, offset, why);
        return 0;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 256;
        size_t *l = realloc(c->lens, cap * sizeof *l);
        uint64_t *o = realloc(c->s->offsets, cap * sizeof *o);
        if (l) c->lens = l;
        if (o) c->s->offsets = o;
        if (!l || !o) { c->err = TW_ENOMEM; return 1; }
        c->cap = cap;
    }
    if ((c->err = tw_buf_put(&c->envs, env, len))) return 1;
    c->lens[c->n] = len;
    c->s->offsets[c->n++] = offset;
    return 0;
}

static void ingest_done(void *ctx, const tw_ingest_counts *k, const int *rcs, const char *const *whys,
                        const uint8_t *const *authors, size_t n)
{
    session *s = ctx;
    s->counts = *k;
    /* Every refusal is listed in the result (up to TW_BUNDLE_PROBLEMS_MAX);
     * the log says each distinct reason once, with its count. */
    struct seen { const char *why; uint64_t n, first; } seen[8];
    size_t nseen = 0;
    uint64_t other = 0;
    for (size_t i = 0; i < n; i++) {
        if (rcs[i] == 0 || rcs[i] == TW_EEXIST || rcs[i] == TW_ESTALE) continue;
        add_problem(s, s->offsets[i], whys[i]);
        size_t j = 0;
        while (j < nseen && strcmp(seen[j].why, whys[i]) != 0) j++;
        if (j < nseen) seen[j].n++;
        else if (nseen < sizeof seen / sizeof seen[0]) seen[nseen++] = (struct seen){ whys[i], 1, s->offsets[i] };
        else other++;
    }
    (void)authors;
    for (size_t j = 0; j < nseen; j++)
        tw_info("bundle", "%llu %s of the bundle not stored (first at offset %llu): %s", (unsigned long long)seen[j].n,
                seen[j].n == 1 ? "entry" : "entries", (unsigned long long)seen[j].first, seen[j].why);
    if (other) tw_info("bundle", "%llu more entries of the bundle not stored for other reasons", (unsigned long long)other);
    tw_info("bundle", "import done: %llu new, %llu already known, %llu superseded, %llu refused, %llu unreadable",
            (unsigned long long)k->stored, (unsigned long long)k->known, (unsigned long long)k->stale,
            (unsigned long long)k->refused, (unsigned long long)s->damaged_refused);
    /* Freed once this job has been accounted for (ingest defers it). */
    tw_ingest_free(s->ing);
    s->ing = NULL;
    s->done = true;
}

/* Stored entries reach the rest of the node (reconciliation set, live push
 * to peers) as every other newly stored entry does. */
static void ingest_stored(void *ctx, void *job_ctx, const tw_entry *e, const tw_put *put)
{
    tw_node *n = ctx;
    if (n->on_stored) n->on_stored(n, NULL, e, put);
}

static int import_finish(tw_node *n, session *s, char *err, size_t errlen)
{
    collect_ctx c = { .s = s };
    tw_buf_init(&c.envs);
    int rc = tw_bundle_parse(s->data.p, s->data.len, collect_fn, &c, &s->rep);
    if (rc == TW_EINVAL || rc == TW_EVERSION || rc == TW_ETRUNC) {
        if (rc == TW_EVERSION) snprintf(err, errlen, "bundle version %u is not supported by this twind", s->data.p[TW_BUNDLE_MAGIC_LEN]);
        else snprintf(err, errlen, "%s", rc == TW_EINVAL ? "not a twin bundle" : "the bundle ends inside its header");
        goto fail;
    }
    if (rc || (rc = c.err)) { snprintf(err, errlen, "cannot read the bundle: %s", tw_strerror(rc)); goto fail; }
    if (sodium_memcmp(s->rep.netid, n->netid, TW_NETID_LEN) != 0)
        tw_warn("bundle", "the bundle was made for another network; its entries will be refused");
    if (s->rep.skipped_bytes || s->rep.truncated || s->rep.trailer != TW_BUNDLE_TRAILER_OK)
        tw_warn("bundle", "damaged bundle: %llu bytes skipped in %llu %s%s, trailer %s",
                (unsigned long long)s->rep.skipped_bytes, (unsigned long long)s->rep.skipped_regions,
                s->rep.skipped_regions == 1 ? "place" : "places",
                s->rep.truncated ? ", cut short" : "", tw_bundle_trailer_name(s->rep.trailer));
    tw_buf_free(&s->data);
    s->nsub = c.n;
    if (c.n == 0) {
        s->done = true;
    } else {
        if ((rc = tw_ingest_new(&s->ing, n, ingest_stored, n))) { snprintf(err, errlen, "out of memory"); goto fail; }
        if ((rc = tw_ingest_submit(s->ing, c.envs.p, c.lens, c.n, ingest_done, s))) {
            tw_ingest_free(s->ing);
            s->ing = NULL;
            snprintf(err, errlen, "cannot verify the entries: %s", tw_strerror(rc));
            goto fail;
        }
    }
    s->submitted = true;
    tw_buf_free(&c.envs);
    free(c.lens);
    return 0;
fail:
    tw_buf_free(&c.envs);
    free(c.lens);
    session_free(s);
    return rc;
}

int tw_bundle_op_import(tw_node *n, const tw_val *args, tw_buf *out, char *err, size_t errlen)
{
    const tw_val *tok = tw_v_get(args, "import"), *data = tw_v_get(args, "data"), *end = tw_v_get(args, "end");
    session *s;
    int rc;
    if (data && data->type != TW_NIL && data->type != TW_BIN) { snprintf(err, errlen, "argument \"data\" must be bytes"); return TW_EINVAL; }
    if (data && data->type == TW_BIN && data->len > TW_BUNDLE_SLICE_MAX) { snprintf(err, errlen, "more than %u bytes of a bundle in one request", TW_BUNDLE_SLICE_MAX); return TW_ETOOBIG; }
    if (tok && tok->type != TW_NIL) {
        if (!(s = session_find(args, "import", true))) { snprintf(err, errlen, "no such bundle import (dropped for a newer one?)"); return TW_ENOTFOUND; }
        if (s->submitted) { snprintf(err, errlen, "this bundle import has already ended"); return TW_ESTATE; }
    } else if (!(s = session_new(true))) {
        snprintf(err, errlen, "too many bundle imports are being verified; try again shortly");
        return TW_EBUSY;
    }
    s->node = n;
    if (data && data->type == TW_BIN) {
        if (s->data.len + data->len > TW_BUNDLE_MAX) {
            session_free(s);
            snprintf(err, errlen, "the bundle is larger than %u MiB", TW_BUNDLE_MAX >> 20);
            return TW_ETOOBIG;
        }
        if ((rc = tw_buf_put(&s->data, data->v.s, data->len))) { session_free(s); snprintf(err, errlen, "out of memory"); return rc; }
    }
    uint64_t token = s->token;
    if (end && end->type == TW_BOOL && end->v.b && (rc = import_finish(n, s, err, errlen))) return rc;
    if ((rc = tw_mpw_map(out, 1)) || (rc = tw_mpw_kv_uint(out, "import", token))) return rc;
    return 0;
}

int tw_bundle_op_result(tw_node *n, const tw_val *args, tw_buf *out, char *err, size_t errlen)
{
    session *s = session_find(args, "import", true);
    int rc;
    if (!s) { snprintf(err, errlen, "no such bundle import"); return TW_ENOTFOUND; }
    if (!s->submitted) { snprintf(err, errlen, "the bundle import has not ended (send end=true)"); return TW_ESTATE; }
    if (!s->done) return (rc = tw_mpw_map(out, 1)) || (rc = tw_mpw_cstr(out, "done")) || (rc = tw_mpw_bool(out, false)) ? rc : 0;
    const tw_bundle_report *r = &s->rep;
    if ((rc = tw_mpw_map(out, 16)) || (rc = tw_mpw_cstr(out, "done")) || (rc = tw_mpw_bool(out, true)) ||
        (rc = tw_mpw_kv_uint(out, "entries", r->records)) || (rc = tw_mpw_kv_uint(out, "new", s->counts.stored)) ||
        (rc = tw_mpw_kv_uint(out, "known", s->counts.known)) || (rc = tw_mpw_kv_uint(out, "superseded", s->counts.stale)) ||
        (rc = tw_mpw_kv_uint(out, "refused", s->counts.refused + s->damaged_refused)) ||
        (rc = tw_mpw_kv_uint(out, "damaged", r->damaged)) ||
        (rc = tw_mpw_kv_uint(out, "skipped_bytes", r->skipped_bytes)) || (rc = tw_mpw_kv_uint(out, "skipped_regions", r->skipped_regions)) ||
        (rc = tw_mpw_cstr(out, "truncated")) || (rc = tw_mpw_bool(out, r->truncated)) ||
        (rc = tw_mpw_kv_cstr(out, "trailer", tw_bundle_trailer_name(r->trailer))) ||
        (rc = tw_mpw_kv_uint(out, "declared", r->declared)) || (rc = tw_mpw_kv_uint(out, "created_ms", r->created_ms)) ||
        (rc = tw_mpw_cstr(out, "same_network")) || (rc = tw_mpw_bool(out, sodium_memcmp(r->netid, n->netid, TW_NETID_LEN) == 0)) ||
        (rc = tw_mpw_cstr(out, "problems")) || (rc = tw_mpw_arr(out, (uint32_t)s->nproblems)))
        return rc;
    for (size_t i = 0; i < s->nproblems; i++)
        if ((rc = tw_mpw_map(out, 2)) || (rc = tw_mpw_kv_uint(out, "offset", s->problems[i].offset)) ||
            (rc = tw_mpw_kv_cstr(out, "reason", s->problems[i].why)))
            return rc;
    if ((rc = tw_mpw_kv_uint(out, "problems_more", s->more_problems))) return rc;
    session_free(s);
    return 0;
}
