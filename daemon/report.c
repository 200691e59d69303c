/*
 * Hub reports (daemon/report.h).  One pass over the records of each kind
 * keeps a compact copy of the fields the reports use; tw_report_finish()
 * then joins links to groups and places through hash maps keyed by
 * (author, slot), so the whole computation is linear in the number of
 * records.  Counted values are interned: enumeration values point at the
 * schema's own strings and codes at the code lists', so a count table
 * compares pointers, never text.
 *
 * Everything tw_report_finish() computes is computed from the kept copies
 * alone, and forgotten before it runs, so that a finished report can be
 * updated: records removed (marked dead, then compacted away) and added,
 * then finished again, at the cost of a finish, not of reading and parsing
 * every record.  Nothing a report answers depends on the order the records
 * were given in (lists are sorted by a total order before they are cut),
 * which is what lets an update append where a scan would have put a record
 * elsewhere -- save for two keys of one association writing one group or
 * place slot,
 * where the first given is kept: such a report is made again, never
 * updated (slot_claim).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "twin/schema.h"
#include "twin/vec.h"
#include "report.h"

static const char NONE[] = "(none)";        /* the field is absent */
static const char UNKNOWN[] = "(unknown)";  /* the record referred to is not known */
static const char OTHER[] = "(other)";      /* a value outside the lists */

#define YEAR_MIN 1900u
#define YEAR_MAX 2200u
#define CT_SLOTS 1024u  /* slots of a count table, twice the distinct keys it can hold: more than
                           the 249 countries plus "(none)", "(other)" and "(unknown)" */

/* ------------------------------------------------------ packed strings */

/*
 * The strings and map keys a report copies (slots, names, references:
 * millions of a few tens of bytes at a million records) are packed one
 * after another, without the 16-byte rounding of tw_arena_alloc, which cost
 * 8 bytes a string on average.  Nothing reads them but as bytes.
 */
#define SPOOL_CHUNK 65536u
typedef struct spool { tw_arena a; uint8_t *cur; size_t left; } spool;

static void sp_init(spool *p) { tw_arena_init(&p->a, 0); p->cur = NULL; p->left = 0; }
static void sp_free(spool *p) { tw_arena_free(&p->a); p->cur = NULL; p->left = 0; }

static uint8_t *sp_alloc(spool *p, size_t n)
{
    if (n > p->left) {
        if (n > SPOOL_CHUNK / 16) return tw_arena_alloc(&p->a, n);     /* a piece of its own */
        uint8_t *c = tw_arena_alloc(&p->a, SPOOL_CHUNK);
        if (!c) return NULL;
        p->cur = c;
        p->left = SPOOL_CHUNK;
    }
    uint8_t *r = p->cur;
    p->cur += n;
    p->left -= n;
    return r;
}

static char *sp_strndup(spool *p, const char *s, size_t n)
{
    char *d = (char *)sp_alloc(p, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* ------------------------------------------------------------ hash map */

/* 16 bytes a bucket (the maps of a report of a million records have 3
 * million buckets): 32 bits of the hash, and the key as its length (16
 * bits) then its bytes, in a spool. */
typedef struct hent { uint32_t h, val; const uint8_t *k; } hent;
typedef struct hmap { hent *e; size_t cap, n; } hmap;

static bool hent_is(const hent *e, uint32_t h, const void *k, size_t kl)
{
    uint16_t l;
    if (e->h != h) return false;
    memcpy(&l, e->k, sizeof l);
    return l == kl && memcmp(e->k + sizeof l, k, kl) == 0;
}

/*
 * Keys (authors, slot keys, folded names) come from other nodes' records, so
 * the hash is keyed with a secret drawn once per process (SipHash-2-4,
 * libsodium's crypto_shorthash): a member cannot craft slot keys that all
 * fall in one bucket and turn every report into a quadratic scan.
 */
static uint8_t hash_key[crypto_shorthash_KEYBYTES];
static bool hash_key_set;

static uint64_t hash(const void *p, size_t n)
{
    uint8_t out[crypto_shorthash_BYTES];
    uint64_t h;
    crypto_shorthash(out, p, n, hash_key);
    memcpy(&h, out, sizeof h);
    return h | 1;   /* 0 marks an empty bucket */
}

static uint32_t hash32(const void *p, size_t n) { return (uint32_t)hash(p, n); }   /* odd: never 0 */

/* An open-addressed table of *cap buckets of esz bytes, each beginning with
 * its 32-bit hash (0: empty), rehashed into twice as many (1024 at first);
 * the old table freed.  NULL when out of memory (the old one kept). */
static void *oa_grow(void *old, size_t *cap, size_t esz)
{
    size_t nc = *cap ? 2 * *cap : 1024;
    uint8_t *e = calloc(nc, esz);
    if (!e) return NULL;
    for (size_t i = 0; i < *cap; i++) {
        const uint8_t *b = (const uint8_t *)old + i * esz;
        uint32_t h, x;
        memcpy(&h, b, sizeof h);
        if (!h) continue;
        size_t j = h & (nc - 1);
        for (; memcpy(&x, e + j * esz, sizeof x), x; j = (j + 1) & (nc - 1)) {}
        memcpy(e + j * esz, b, esz);
    }
    free(old);
    *cap = nc;
    return e;
}

_Static_assert(offsetof(hent, h) == 0 && sizeof ((hent *)0)->h == 4, "oa_grow reads a bucket's hash first");

static int hm_grow(hmap *m)
{
    hent *e = oa_grow(m->e, &m->cap, sizeof *e);
    if (!e) return TW_ENOMEM;
    m->e = e;
    return 0;
}

static hent *hm_find(const hmap *m, const void *k, size_t kl)
{
    if (!m->cap) return NULL;
    uint32_t h = hash32(k, kl);
    for (size_t j = h & (m->cap - 1); m->e[j].h; j = (j + 1) & (m->cap - 1))
        if (hent_is(&m->e[j], h, k, kl)) return &m->e[j];
    return NULL;
}

/* Index of key, or -1. */
static int64_t hm_get(const hmap *m, const void *k, size_t kl)
{
    const hent *e = hm_find(m, k, kl);
    if (!e) return -1;
    return e->val;
}

/* Inserts key -> val unless present; *found gets the value kept.  The key
 * bytes are copied into the spool. */
static int hm_put(hmap *m, spool *a, const void *k, size_t kl, uint32_t val, uint32_t *found)
{
    int rc;
    if (kl > UINT16_MAX) return TW_ETOOBIG;
    if (2 * (m->n + 1) > m->cap && (rc = hm_grow(m))) return rc;
    uint32_t h = hash32(k, kl);
    size_t j = h & (m->cap - 1);
    for (; m->e[j].h; j = (j + 1) & (m->cap - 1))
        if (hent_is(&m->e[j], h, k, kl)) {
            *found = m->e[j].val;
            return 0;
        }
    uint16_t l = (uint16_t)kl;
    uint8_t *copy = sp_alloc(a, sizeof l + kl);
    if (!copy) return TW_ENOMEM;
    memcpy(copy, &l, sizeof l);
    memcpy(copy + sizeof l, k, kl);
    m->e[j] = (hent){ h, val, copy };
    m->n++;
    *found = val;
    return 0;
}

/* -------------------------------------------------------------- records */

typedef struct rauthor {
    uint8_t key[TW_KEY_LEN];
    char text[TW_KEYTEXT_LEN + 1];
    uint32_t nplaces, place;    /* place records by this key, and the first of them */
    uint32_t ngroups, group;    /* group records by this key, and the first of them */
    uint32_t rank;              /* its place among the authors by text (author_ranks) */
    bool named;                 /* some place record names this key as its committee */
    bool gnamed;                /* some group record names this key as its own_key */
} rauthor;

/* How a group's region is known (stats "groups_region_source"). */
enum { REGION_GIVEN, REGION_INFERRED, REGION_NONE };

/* Group records form identities as places do, but only through own_key: a
 * hub's listing naming the group's own key is one group with the group's
 * own record (see group_precedence()). */
typedef struct rgroup {
    uint32_t author, parent, rep;
    int32_t own_key;            /* author index of the own_key, -1 none */
    const char *slot, *name;    /* name: NULL when absent (folded where compared: gname_fold) */
    const char *kind, *nation, *region;
    uint64_t kfp;               /* the first bytes of the key that wrote it (see kfp()) */
    uint8_t region_source;
    uint8_t slot_len;
    bool seeking;
    bool dead;                  /* removed by an update, until tw_report_finish() compacts */
    bool own;                   /* the group's own record */
    /* identity root only: */
    bool has_own, any_seeking;
} rgroup;

typedef struct rplace {
    uint32_t author, parent, rep, nrec;
    uint32_t nprec;             /* root: records that take precedence (own ones if any) */
    int64_t committee;          /* author index of the committee key, -1 none */
    const char *slot, *name_en, *name_ar;
    const char *sub, *kind, *area, *country;
    uint32_t folds, folds_len;  /* its folded names in r->folds, each NUL-terminated */
    uint32_t nid_off, nid_n;    /* the ids of its (scope, folded name) keys in r->nids */
    uint64_t kfp;
    bool seeking, any_seeking, dead;
    uint8_t slot_len;
    bool own;                   /* the committee's own record (see tw_report_finish) */
    /* identity root only: */
    bool has_own;               /* the identity holds a committee's own record */
    bool active, taken;         /* has an active link; an active or exploring one */
    uint32_t ngroups;           /* distinct groups with an active or exploring link */
} rplace;

/* (Ordered for size: 128 bytes, 300 000 of them at a million records.) */
typedef struct rlink {
    uint64_t ts;
    uint64_t gfp, pfp;          /* hashes of the (association, slot) gref and pref name, 0 none */
    uint8_t id[TW_ID_LEN];
    const char *slot;
    const char *gref, *pref;
    const char *formality, *status;
    uint32_t gref_len, pref_len;
    uint32_t author;
    uint32_t unit;              /* the link it is a statement of */
    int32_t g, p;               /* resolved record indexes, -1 when unresolved (< TW_REPORT_RECORDS_MAX) */
    uint16_t since, ended;
    bool dead;
    bool need;                  /* g and p to be resolved (again) at the next finish */
} rlink;

/* A link: the statements of both sides about one (group identity, place
 * identity), or a statement whose group or place is not known, on its own.
 * Confirmation needs two authors, one per side: ga and pa are the first
 * author seen stating each side, gmulti and pmulti whether another author
 * stated it too (then some pair of authors differs whatever pa is). */
typedef struct runit {
    int64_t g, ident;           /* identity roots, -1 unknown */
    uint32_t gov;               /* governing statement: newest (ts, id) */
    uint32_t ga, pa;            /* author indexes, NIL32 none */
    bool gmulti, pmulti;
} runit;

/* What list and show need once the report is finished: the state of
 * every link statement by entry id, and the place records whose identity
 * has the committee's own record, by (author, slot). */
typedef struct rstate { uint8_t id[TW_ID_LEN]; bool confirmed; uint32_t unit; } rstate;
typedef struct rsuper { uint8_t author[TW_KEY_LEN]; bool group; const char *slot, *by; } rsuper;

#define VEC(T) struct { T *v; size_t n, cap; }
typedef VEC(rauthor) vauthor;
typedef VEC(rgroup) vgroup;
typedef VEC(rplace) vplace;
typedef VEC(rlink) vlink;
typedef VEC(runit) vunit;

/*
 * The arrays of a report double while it is made (few copies), and are cut
 * to their length plus a sixteenth when it is first finished (trim_vecs):
 * the slack of doubling was 70 MiB of the 380 a report of a million records
 * held, kept for as long as the report.  A finished report grows by an
 * eighth at a time (gentle: an update adds a few records), so that the
 * first update after the trim does not double them again.
 */
static int vgrow(void **v, size_t *cap, size_t n, size_t sz, bool gentle)
{
    if (n < *cap) return 0;
    if (!gentle || *cap < 4096) {
        void *p = tw_vec_room(*v, cap, n, sz, 256);
        if (!p) return TW_ENOMEM;
        *v = p;
        return 0;
    }
    size_t c = *cap + *cap / 8;
    if (c > SIZE_MAX / sz) return TW_ENOMEM;
    void *p = realloc(*v, c * sz);
    if (!p) return TW_ENOMEM;
    *v = p;
    *cap = c;
    return 0;
}
#define VPUSH(vec) vgrow((void **)&(vec).v, &(vec).cap, (vec).n, sizeof *(vec).v, r->made)

/* Cuts an array to n plus a sixteenth when more than an eighth is unused. */
static void vtrim(void **v, size_t *cap, size_t n, size_t sz)
{
    if (*cap - n <= n / 8 || *cap < 4096) return;
    size_t c = n + n / 16 + 1;
    void *p = realloc(*v, c * sz);
    if (!p) return;             /* kept as it was */
    *v = p;
    *cap = c;
}
#define VTRIM(vec) vtrim((void **)&(vec).v, &(vec).cap, (vec).n, sizeof *(vec).v)

/* The group and place records by (author, slot): a bucket holds 32 bits of
 * the hash and the record's index, and the key is read from the record
 * itself, not copied (8 bytes a bucket instead of 16, and no copy of the
 * key: 30 MiB less at a million records). */
typedef struct rbucket { uint32_t h, idx; } rbucket;
typedef struct rmap { rbucket *e; size_t cap, n; } rmap;

struct tw_report {
    tw_report_opts o;
    spool a;                    /* the strings and keys of the records */
    vauthor authors;
    vgroup groups;
    vplace places;
    vlink links;
    vunit units;
    hmap hauthor, hname, hunit;
    rmap hgroup, hplace;        /* group and place records by (author, slot) */
    hmap pnamed, gnamed;        /* (identity, key named as committee / own_key by one of its records) */
    hmap hlad;                  /* normalised local authority name -> index in the LAD list */
    hmap hlatext;               /* local_authority as written -> LAD index + 1, 0 none: groups
                                   of one area write it alike, so most look-ups end here */
    tw_buf folds;               /* the folded names of every place, back to back */
    uint32_t *nids;             /* name ids (values of hname) of the places, back to back */
    size_t nnids, nidcap;
    uint32_t nnames;            /* name ids given */
    uint64_t *added;            /* an update: hashes of the (association, slot) of the group and
                                   place records it added, sorted by the finish */
    size_t nadded, addcap;
    spool fa;                   /* the keys of the maps tw_report_finish() makes, made again by each */
    uint64_t records;
    uint64_t removed;           /* records removed by updates since the report was made */
    bool finished, compact;
    bool made;                  /* finished once: its arrays trimmed, and grown gently (vgrow) */
    bool updating;              /* between tw_report_reopen() and tw_report_finish() */
    bool dups;                  /* two keys of one association wrote one group or place slot:
                                   no updates */
    char fold[4 * TW_STR_MAX + 1];
    /* Kept by tw_report_compact(): */
    rstate *states;             /* in link order */
    size_t nstates;
    uint32_t *stidx;            /* open addressing on the id: index + 1 in states, 0 empty */
    size_t stcap;
    rsuper *supers;             /* sorted by (author, slot) */
    size_t nsupers;
    tw_arena keep;              /* the strings of supers */
};

int tw_report_new(tw_report **out, const tw_report_opts *o)
{
    /* Reports are built on the loop thread only. */
    if (!hash_key_set) {
        crypto_shorthash_keygen(hash_key);
        hash_key_set = true;
    }
    tw_report *r = calloc(1, sizeof *r);
    if (!r) return TW_ENOMEM;
    r->o = *o;
    sp_init(&r->a);
    sp_init(&r->fa);
    tw_arena_init(&r->keep, 0);
    tw_buf_init(&r->folds);
    *out = r;
    return 0;
}

void tw_report_set_opts(tw_report *r, const tw_report_opts *o) { r->o = *o; }

/* Everything but what tw_report_link_state() and
 * tw_report_place_superseded() read. */
static void free_work(tw_report *r)
{
    free(r->authors.v); free(r->groups.v); free(r->places.v); free(r->links.v); free(r->units.v);
    free(r->hauthor.e); free(r->hgroup.e); free(r->hplace.e); free(r->hname.e); free(r->hunit.e);
    free(r->nids);
    free(r->added);
    r->added = NULL;
    r->nadded = r->addcap = 0;
    r->nids = NULL;
    r->nnids = r->nidcap = 0;
    sp_free(&r->fa);
    free(r->pnamed.e); free(r->gnamed.e); free(r->hlad.e); free(r->hlatext.e);
    memset(&r->pnamed, 0, sizeof r->pnamed); memset(&r->gnamed, 0, sizeof r->gnamed);
    memset(&r->hlad, 0, sizeof r->hlad); memset(&r->hlatext, 0, sizeof r->hlatext);
    memset(&r->authors, 0, sizeof r->authors); memset(&r->groups, 0, sizeof r->groups);
    memset(&r->places, 0, sizeof r->places); memset(&r->links, 0, sizeof r->links);
    memset(&r->units, 0, sizeof r->units);
    memset(&r->hauthor, 0, sizeof r->hauthor); memset(&r->hgroup, 0, sizeof r->hgroup);
    memset(&r->hplace, 0, sizeof r->hplace); memset(&r->hname, 0, sizeof r->hname);
    memset(&r->hunit, 0, sizeof r->hunit);
    tw_buf_free(&r->folds);
    sp_free(&r->a);
}

void tw_report_free(tw_report *r)
{
    if (!r) return;
    free_work(r);
    free(r->states);
    free(r->stidx);
    free(r->supers);
    tw_arena_free(&r->keep);
    free(r);
}

size_t tw_report_mem(const tw_report *r, char *out, size_t cap)
{
#define VB(x) ((x).cap * sizeof *(x).v)
#define HB(m) ((m).cap * sizeof *(m).e)
    size_t vec = VB(r->authors) + VB(r->groups) + VB(r->places) + VB(r->links) + VB(r->units);
    size_t maps = HB(r->hauthor) + HB(r->hgroup) + HB(r->hplace) + HB(r->hname) + HB(r->hunit) + HB(r->pnamed) +
                  HB(r->gnamed) + HB(r->hlad) + HB(r->hlatext);
    size_t other = r->folds.cap + r->nidcap * sizeof *r->nids + r->addcap * sizeof *r->added +
                   r->nstates * sizeof *r->states + r->stcap * sizeof *r->stidx + r->nsupers * sizeof *r->supers +
                   r->keep.total;
    size_t total = vec + maps + other + r->a.a.total + r->fa.a.total;
    if (out && cap)
        snprintf(out, cap, "%.1f MiB: records %.1f (links %zu x %zu B of %zu, places %zu x %zu B, groups %zu x %zu B, "
                 "units %zu x %zu B), maps %.1f (hunit %zu, hname %zu slots of %zu B, hplace %zu, hgroup %zu of %zu B), "
                 "strings %.1f, finish %.1f, other %.1f (folds %zu of %zu, states %zu, stidx %zu)",
                 total / 1048576.0, vec / 1048576.0, r->links.n, sizeof *r->links.v, r->links.cap, r->places.n,
                 sizeof *r->places.v, r->groups.n, sizeof *r->groups.v, r->units.n, sizeof *r->units.v,
                 maps / 1048576.0, r->hunit.cap, r->hname.cap, sizeof(hent), r->hplace.cap, r->hgroup.cap, sizeof(rbucket),
                 r->a.a.total / 1048576.0, r->fa.a.total / 1048576.0, other / 1048576.0, r->folds.len, r->folds.cap,
                 r->nstates,
                 r->stcap);
    return total;
#undef VB
#undef HB
}

static int author_index(tw_report *r, const uint8_t keyin[TW_KEY_LEN], uint32_t *idx)
{
    int rc;
    uint8_t key[TW_KEY_LEN];
    /* Identity, not key: the keys of one association are one author. */
    if (r->o.identity) r->o.identity(r->o.identity_ctx, keyin, key);
    else memcpy(key, keyin, TW_KEY_LEN);
    if ((rc = hm_put(&r->hauthor, &r->a, key, TW_KEY_LEN, (uint32_t)r->authors.n, idx))) return rc;
    if (*idx == r->authors.n) {
        if ((rc = VPUSH(r->authors))) return rc;
        rauthor *au = &r->authors.v[r->authors.n++];
        memcpy(au->key, key, TW_KEY_LEN);
        tw_keytext_encode(au->text, TW_KEYTEXT_PREFIX, key);
        au->nplaces = au->place = au->ngroups = au->group = 0;
        au->named = au->gnamed = false;
    }
    return 0;
}

/* (author index, slot) as a hash key. */
static size_t slot_key(uint8_t *buf, uint32_t author, const char *slot, size_t len)
{
    memcpy(buf, &author, 4);
    memcpy(buf + 4, slot, len);
    return 4 + len;
}

static const char *str_copy(tw_report *r, const tw_val *b, const char *field)
{
    const tw_val *v = tw_v_get(b, field);
    if (!v || v->type != TW_STR) return NULL;
    return sp_strndup(&r->a, v->v.s, v->len);
}

/* The schema's own string for an enumeration value: NONE when absent. */
static const char *enum_val(const char *kind, const char *field, const tw_val *b)
{
    const tw_val *v = tw_v_get(b, field);
    if (!v || v->type != TW_STR) return NONE;
    const tw_field *f = tw_schema_field(tw_schema_kind(kind, strlen(kind)), field, strlen(field));
    for (const char *const *e = f ? f->values : NULL; e && *e; e++)
        if (strlen(*e) == v->len && memcmp(*e, v->v.s, v->len) == 0) return *e;
    return OTHER;
}

static const char *code_val(const tw_code *list, size_t n, const tw_val *b, const char *field)
{
    const tw_val *v = tw_v_get(b, field);
    if (!v || v->type != TW_STR) return NONE;
    const tw_code *c = tw_code_find(list, n, v->v.s, v->len);
    return c ? c->code : OTHER;
}

static bool bool_val(const tw_val *b, const char *field)
{
    const tw_val *v = tw_v_get(b, field);
    return v && v->type == TW_BOOL && v->v.b;
}

static uint16_t year_val(const tw_val *b, const char *field)
{
    const tw_val *v = tw_v_get(b, field);
    if (!v || v->type != TW_STR || v->len < 4) return 0;
    unsigned y = 0;
    for (int i = 0; i < 4; i++) {
        if (v->v.s[i] < '0' || v->v.s[i] > '9') return 0;
        y = 10 * y + (unsigned)(v->v.s[i] - '0');
    }
    return y >= YEAR_MIN && y <= YEAR_MAX ? (uint16_t)y : 0;
}

static uint32_t find_root(rplace *p, uint32_t i)
{
    uint32_t root = i;
    while (p[root].parent != root) root = p[root].parent;
    while (p[i].parent != root) { uint32_t nx = p[i].parent; p[i].parent = root; i = nx; }
    return root;
}

/* Joins two identities; the smaller index stays the root, so that the
 * root of an identity is its first record whatever the order of joins. */
static void unite(rplace *p, uint32_t x, uint32_t y)
{
    uint32_t a = find_root(p, x), b = find_root(p, y);
    if (a != b) p[a > b ? a : b].parent = a < b ? a : b;
}

/* A place name joins the place to any other place of the same
 * subdivision (or, without one, the same country) with the same folded
 * name: one community listed twice under different spellings.  Here the
 * (scope, folded name) key gets an id, kept with the place (r->nids); the
 * places that share an id are joined by tw_report_finish() (name_unions),
 * so that an update that removes a place unjoins what it joined.  The
 * folded name is also kept (r->folds) for matching a hub's listing with its
 * committee's records at the end. */
static int add_name(tw_report *r, const char *scope, const char *s, size_t n)
{
    if (n > TW_STR_MAX) return 0;
    size_t fl = tw_text_fold(r->fold, s, n);
    if (fl == 0) return 0;
    int rc;
    /* Grown as the arrays are (vgrow), and trimmed with them. */
    while (r->folds.cap - r->folds.len < fl + 1)
        if ((rc = vgrow((void **)&r->folds.p, &r->folds.cap, r->folds.cap, 1, r->made))) return rc;
    memcpy(r->folds.p + r->folds.len, r->fold, fl + 1);
    r->folds.len += fl + 1;
    size_t sl = strlen(scope);
    uint8_t key[16 + 1 + sizeof r->fold];
    if (sl > 16) sl = 16;
    memcpy(key, scope, sl);
    key[sl] = 0x1f;
    memcpy(key + sl + 1, r->fold, fl);
    uint32_t found;
    if ((rc = hm_put(&r->hname, &r->a, key, sl + 1 + fl, r->nnames, &found))) return rc;
    if (found == r->nnames) r->nnames++;
    if ((rc = vgrow((void **)&r->nids, &r->nidcap, r->nnids, sizeof *r->nids, r->made))) return rc;
    r->nids[r->nnids++] = found;
    return 0;
}

/*
 * Local authorities are written many ways: "Camden", "London Borough of
 * Camden", "Camden Council", "Bristol, City of", "City of Bristol",
 * "Brighton & Hove", or the ONS code.  A name is folded (tw_text_fold) with
 * the word "and" dropped, so "&" and "and" agree; la_norm() writes that
 * form into out (4 * n + 1 bytes) and returns its length.
 */
static size_t la_norm(char *out, const char *s, size_t n)
{
    size_t fl = tw_text_fold(out, s, n), o = 0;
    for (size_t i = 0; i < fl;) {
        size_t j = i;
        while (j < fl && out[j] != ' ') j++;
        if (!(j - i == 3 && memcmp(out + i, "and", 3) == 0)) {
            if (o) out[o++] = ' ';
            memmove(out + o, out + i, j - i);
            o += j - i;
        }
        i = j + 1;
    }
    out[o] = 0;
    return o;
}

static const char *const la_prefixes[] = {
    "london borough of ", "royal borough of ", "metropolitan borough of ", "county borough of ",
    "borough of ", "city of ", "county of ", "district of ", "the ",
};
static const char *const la_suffixes[] = {
    " metropolitan borough council", " county borough council", " borough council", " district council",
    " city council", " county council", " council", " borough", " district", " city of", " county of",
};

/* The name as it is, then without one and then two of the usual prefixes
 * and suffixes; depth bounds the search. */
static int64_t la_try(const hmap *m, const char *s, size_t n, int depth)
{
    int64_t v = hm_get(m, s, n);
    if (v >= 0 || depth == 0) return v;
    for (size_t i = 0; i < sizeof la_prefixes / sizeof la_prefixes[0]; i++) {
        size_t pl = strlen(la_prefixes[i]);
        if (n > pl && memcmp(s, la_prefixes[i], pl) == 0 && (v = la_try(m, s + pl, n - pl, depth - 1)) >= 0) return v;
    }
    for (size_t i = 0; i < sizeof la_suffixes / sizeof la_suffixes[0]; i++) {
        size_t sl = strlen(la_suffixes[i]);
        if (n > sl && memcmp(s + n - sl, la_suffixes[i], sl) == 0 && (v = la_try(m, s, n - sl, depth - 1)) >= 0) return v;
    }
    return -1;
}

/* The local authority district a group's local_authority names, by ONS
 * code or by name; NULL when none is recognised. */
static int la_find(tw_report *r, const tw_val *v, const tw_code **out)
{
    size_t n;
    const tw_code *lads = tw_codes_local_authorities(&n);
    int rc;
    uint32_t found;
    *out = NULL;
    if (!v || v->type != TW_STR || v->len > TW_STR_MAX) return 0;
    int64_t known = hm_get(&r->hlatext, v->v.s, v->len);
    if (known >= 0) {
        *out = known ? &lads[known - 1] : NULL;
        return 0;
    }
    if ((*out = tw_code_find_sorted(lads, n, v->v.s, v->len))) goto remember;
    if (!r->hlad.n) {
        /* The index of names, built at the first name looked up.  "Bristol,
         * City of" is also "Bristol" (and so "City of Bristol"), "County
         * Durham" and "City of Edinburgh" also "Durham" and "Edinburgh". */
        for (uint32_t i = 0; i < n; i++) {
            size_t l = la_norm(r->fold, lads[i].name, strlen(lads[i].name));
            if ((rc = hm_put(&r->hlad, &r->a, r->fold, l, i, &found))) return rc;
            static const char *const leading[] = { "county ", "city of " };
            for (size_t s = 0; s < 2; s++) {
                size_t sl = strlen(leading[s]);
                if (l > sl && memcmp(r->fold, leading[s], sl) == 0 &&
                    (rc = hm_put(&r->hlad, &r->a, r->fold + sl, l - sl, i, &found)))
                    return rc;
            }
            static const char *const inverted[] = { " city of", " county of" };
            for (size_t s = 0; s < 2; s++) {
                size_t sl = strlen(inverted[s]);
                if (l > sl && memcmp(r->fold + l - sl, inverted[s], sl) == 0 &&
                    (rc = hm_put(&r->hlad, &r->a, r->fold, l - sl, i, &found)))
                    return rc;
            }
        }
    }
    size_t l = la_norm(r->fold, v->v.s, v->len);
    int64_t i = la_try(&r->hlad, r->fold, l, 2);
    if (i >= 0) *out = &lads[i];
remember:
    return hm_put(&r->hlatext, &r->a, v->v.s, v->len, *out ? (uint32_t)(*out - lads) + 1 : 0, &found);
}

/* A group's region: its region field, else the region of its local
 * authority if that lies in the group's nation, else for Wales, Scotland
 * and Northern Ireland the nation itself (their region code is the
 * nation's).  Interned as the UK region list's own code. */
static int group_region(tw_report *r, const tw_val *b, rgroup *g)
{
    size_t nr;
    const tw_code *regions = tw_codes_uk_regions(&nr), *la, *reg = NULL;
    g->region = code_val(regions, nr, b, "region");
    g->region_source = REGION_GIVEN;
    if (g->region != NONE) return 0;
    int rc = la_find(r, tw_v_get(b, "local_authority"), &la);
    if (rc) return rc;
    if (la) {
        reg = tw_code_find(regions, nr, la->group, strlen(la->group));
        if (reg && strcmp(reg->group, g->nation) != 0) reg = NULL;
    }
    if (!reg && strcmp(g->nation, "england") != 0)
        for (size_t i = 0; i < nr && !reg; i++)
            if (strcmp(regions[i].group, g->nation) == 0) reg = &regions[i];
    g->region = reg ? reg->code : NONE;
    g->region_source = reg ? REGION_INFERRED : REGION_NONE;
    return 0;
}

/* The first eight bytes of the key that wrote a record: records are
 * keyed by (association, slot), and an update removes the record of
 * (association, slot) only if this key wrote it (two keys of one
 * association that agree on 64 bits are not made by chance). */
static uint64_t kfp(const uint8_t key[TW_KEY_LEN])
{
    uint64_t v;
    memcpy(&v, key, sizeof v);
    return v;
}

enum { K_GROUP, K_PLACE };

static bool *rec_dead(tw_report *r, int kind, uint32_t i, uint64_t **fp)
{
    if (kind == K_GROUP) { *fp = &r->groups.v[i].kfp; return &r->groups.v[i].dead; }
    *fp = &r->places.v[i].kfp;
    return &r->places.v[i].dead;
}

/* Whether record i of kind is (author, slot). */
static bool rec_is(const tw_report *r, int kind, uint32_t i, uint32_t author, const char *slot, size_t len)
{
    if (kind == K_GROUP) {
        const rgroup *g = &r->groups.v[i];
        return g->author == author && g->slot_len == len && memcmp(g->slot, slot, len) == 0;
    }
    const rplace *p = &r->places.v[i];
    return p->author == author && p->slot_len == len && memcmp(p->slot, slot, len) == 0;
}

static rmap *rec_map(tw_report *r, int kind) { return kind == K_GROUP ? &r->hgroup : &r->hplace; }

static uint32_t rec_hash(uint32_t author, const char *slot, size_t len)
{
    uint8_t k[4 + TW_SLOT_MAX];
    return hash32(k, slot_key(k, author, slot, len));
}

_Static_assert(offsetof(rbucket, h) == 0 && sizeof ((rbucket *)0)->h == 4, "oa_grow reads a bucket's hash first");

static int rm_grow(rmap *m)
{
    rbucket *e = oa_grow(m->e, &m->cap, sizeof *e);
    if (!e) return TW_ENOMEM;
    m->e = e;
    return 0;
}

/* The bucket of (author, slot), or NULL. */
static rbucket *rm_find(tw_report *r, int kind, uint32_t author, const char *slot, size_t len)
{
    rmap *m = rec_map(r, kind);
    if (!m->cap) return NULL;
    uint32_t h = rec_hash(author, slot, len);
    for (size_t j = h & (m->cap - 1); m->e[j].h; j = (j + 1) & (m->cap - 1))
        if (m->e[j].h == h && rec_is(r, kind, m->e[j].idx, author, slot, len)) return &m->e[j];
    return NULL;
}

/* Inserts (author, slot) -> idx, the record about to be added as idx,
 * unless present; *found gets the index kept. */
static int rm_put(tw_report *r, int kind, uint32_t author, const char *slot, size_t len, uint32_t idx,
                  uint32_t *found)
{
    rmap *m = rec_map(r, kind);
    int rc;
    if (2 * (m->n + 1) > m->cap && (rc = rm_grow(m))) return rc;
    uint32_t h = rec_hash(author, slot, len);
    size_t j = h & (m->cap - 1);
    for (; m->e[j].h; j = (j + 1) & (m->cap - 1))
        if (m->e[j].h == h && rec_is(r, kind, m->e[j].idx, author, slot, len)) {
            *found = m->e[j].idx;
            return 0;
        }
    m->e[j] = (rbucket){ h, idx };
    m->n++;
    *found = idx;
    return 0;
}

/*
 * Claims (author, slot) in the map m for the group or place record about
 * to be added as idx (link statements are all kept, and found by id).
 * *skip: 1 when the record is not to be added.  In a report being
 * made, a slot already claimed is a second key of one association writing
 * the same slot: the first record is kept, and the report is marked so
 * that it is never updated, only made again.  In an update, a claim by a removed record passes to the new one;
 * one by a live record of the same key is the same change given twice
 * (skipped); one by another key's record is TW_ESTATE: the report must be
 * made again.
 */
static int slot_claim(tw_report *r, int kind, uint32_t author, const tw_entry *en, uint32_t idx, int *skip)
{
    uint32_t found;
    int rc = rm_put(r, kind, author, en->slot, en->slot_len, idx, &found);
    *skip = 0;
    if (rc || found == idx) return rc;
    uint64_t *fp;
    bool *dead = rec_dead(r, kind, found, &fp);
    if (!r->updating) {
        r->dups = true;
        *skip = 1;
        return 0;
    }
    if (*dead) {
        rm_find(r, kind, author, en->slot, en->slot_len)->idx = idx;
        return 0;
    }
    if (*fp != kfp(en->author)) return TW_ESTATE;
    *skip = 1;
    r->records--;
    return 0;
}

/* The hash of (association key, slot) that tells an update which links
 * a group or place record it adds may resolve. */
static uint64_t target_fp(const uint8_t key[TW_KEY_LEN], const char *slot, size_t len)
{
    uint8_t b[TW_KEY_LEN + TW_SLOT_MAX];
    memcpy(b, key, TW_KEY_LEN);
    memcpy(b + TW_KEY_LEN, slot, len);
    return hash(b, TW_KEY_LEN + len);
}

/* An update notes the group and place records it adds (see resolve). */
static int note_added(tw_report *r, uint32_t author, const tw_entry *en)
{
    if (!r->updating) return 0;
    int rc = vgrow((void **)&r->added, &r->addcap, r->nadded, sizeof *r->added, r->made);
    if (rc) return rc;
    r->added[r->nadded++] = target_fp(r->authors.v[author].key, en->slot, en->slot_len);
    return 0;
}

static int add_group(tw_report *r, const tw_entry *en, uint32_t author)
{
    int rc, skip;
    if ((rc = VPUSH(r->groups))) return rc;
    uint32_t idx = (uint32_t)r->groups.n;
    /* The record is written before it is claimed: the map reads its key from it. */
    r->groups.v[idx] = (rgroup){ .author = author, .slot = sp_strndup(&r->a, en->slot, en->slot_len),
                                 .slot_len = (uint8_t)en->slot_len };
    if (!r->groups.v[idx].slot) return TW_ENOMEM;
    if ((rc = slot_claim(r, K_GROUP, author, en, idx, &skip)) || skip) return rc;
    if ((rc = note_added(r, author, en))) return rc;
    const tw_val *b = &en->body;
    rgroup *g = &r->groups.v[r->groups.n++];
    *g = (rgroup){
        .author = author, .parent = idx, .rep = idx, .own_key = -1, .kfp = kfp(en->author),
        .slot = g->slot, .slot_len = g->slot_len,
        .name = str_copy(r, b, "name"), .kind = enum_val("group", "group_kind", b),
        .nation = enum_val("group", "nation", b), .seeking = bool_val(b, "seeking_partner"),
    };
    if (!g->slot) return TW_ENOMEM;
    if ((rc = group_region(r, b, g))) return rc;
    const tw_val *ok = tw_v_get(b, "own_key");
    uint8_t key[TW_KEY_LEN];
    if (ok && ok->type == TW_STR && tw_keytext_decode(key, TW_KEYTEXT_PREFIX, ok->v.s, ok->len) == 0) {
        uint32_t ki;
        if ((rc = author_index(r, key, &ki))) return rc;
        r->groups.v[idx].own_key = (int32_t)ki;
    }
    return 0;
}

static int add_place(tw_report *r, const tw_entry *en, uint32_t author)
{
    int rc, skip;
    if ((rc = VPUSH(r->places))) return rc;
    uint32_t idx = (uint32_t)r->places.n;
    r->places.v[idx] = (rplace){ .author = author, .slot = sp_strndup(&r->a, en->slot, en->slot_len),
                                 .slot_len = (uint8_t)en->slot_len };
    if (!r->places.v[idx].slot) return TW_ENOMEM;
    if ((rc = slot_claim(r, K_PLACE, author, en, idx, &skip)) || skip) return rc;
    if ((rc = note_added(r, author, en))) return rc;
    if (r->folds.len > UINT32_MAX) return TW_ETOOBIG;
    const tw_val *b = &en->body;
    size_t ng;
    const tw_code *govs = tw_codes_governorates(&ng);
    rplace *p = &r->places.v[r->places.n++];
    size_t nc;
    const tw_code *countries = tw_codes_countries(&nc);
    const tw_val *cov = tw_v_get(b, "country");
    const tw_code *cc = cov && cov->type == TW_STR ? tw_code_find_sorted(countries, nc, cov->v.s, cov->len) : NULL;
    *p = (rplace){
        .author = author, .parent = idx, .rep = idx, .committee = -1, .kfp = kfp(en->author),
        .slot = p->slot, .slot_len = p->slot_len, .name_en = str_copy(r, b, "name_en"),
        .name_ar = str_copy(r, b, "name_ar"), .country = cc ? cc->code : cov && cov->type == TW_STR ? OTHER : NONE,
        .sub = code_val(govs, ng, b, "subdivision"), .kind = enum_val("place", "place_kind", b),
        .area = enum_val("place", "area", b), .seeking = bool_val(b, "seeking_partner"),
        .folds = (uint32_t)r->folds.len, .nid_off = (uint32_t)r->nnids,
    };
    if (!p->slot) return TW_ENOMEM;
    if (r->nnids > UINT32_MAX / 2) return TW_ETOOBIG;
    const tw_val *c = tw_v_get(b, "committee");
    uint8_t ck[TW_KEY_LEN];
    if (c && c->type == TW_STR && tw_keytext_decode(ck, TW_KEYTEXT_PREFIX, c->v.s, c->len) == 0) {
        uint32_t ci;
        if ((rc = author_index(r, ck, &ci))) return rc;
        r->places.v[idx].committee = ci;
    }
    /* The scope of a name: the subdivision as given (any ISO 3166-2 code),
     * else the country. */
    const tw_val *sv = tw_v_get(b, "subdivision"), *cv = tw_v_get(b, "country");
    char scope[17] = "";
    const tw_val *sc = sv && sv->type == TW_STR ? sv : cv;
    if (sc && sc->type == TW_STR) snprintf(scope, sizeof scope, "%.*s", (int)sc->len, sc->v.s);
    const char *names[] = { "name_en", "name_ar" };
    for (int i = 0; i < 2; i++) {
        const tw_val *v = tw_v_get(b, names[i]);
        if (v && v->type == TW_STR && (rc = add_name(r, scope, v->v.s, v->len))) return rc;
    }
    const tw_val *on = tw_v_get(b, "other_names");
    for (uint32_t i = 0; on && on->type == TW_ARR && i < on->len; i++)
        if (on->v.arr[i].type == TW_STR && (rc = add_name(r, scope, on->v.arr[i].v.s, on->v.arr[i].len))) return rc;
    if (r->folds.len - r->places.v[idx].folds > UINT32_MAX) return TW_ETOOBIG;
    r->places.v[idx].folds_len = (uint32_t)(r->folds.len - r->places.v[idx].folds);
    r->places.v[idx].nid_n = (uint32_t)(r->nnids - r->places.v[idx].nid_off);
    return 0;
}

static int add_link(tw_report *r, const tw_entry *en, uint32_t author)
{
    int rc;
    if ((rc = VPUSH(r->links))) return rc;
    const tw_val *b = &en->body, *gv = tw_v_get(b, "group"), *pv = tw_v_get(b, "place");
    rlink *l = &r->links.v[r->links.n];
    *l = (rlink){
        .author = author, .ts = en->ts, .need = true, .formality = enum_val("link", "formality", b),
        .status = enum_val("link", "status", b), .since = year_val(b, "since"), .g = -1, .p = -1,
    };
    memcpy(l->id, en->id, TW_ID_LEN);
    if (!(l->slot = sp_strndup(&r->a, en->slot, en->slot_len))) return TW_ENOMEM;
    if (l->status == NONE || strcmp(l->status, "ended") == 0) l->ended = year_val(b, "ended");
    if (gv && gv->type == TW_STR) {
        if (!(l->gref = sp_strndup(&r->a, gv->v.s, gv->len))) return TW_ENOMEM;
        l->gref_len = gv->len;
    }
    if (pv && pv->type == TW_STR) {
        if (!(l->pref = sp_strndup(&r->a, pv->v.s, pv->len))) return TW_ENOMEM;
        l->pref_len = pv->len;
    }
    r->links.n++;
    return 0;
}

int tw_report_add(tw_report *r, const tw_entry *en)
{
    if (r->finished) return TW_ESTATE;
    if (en->body.type != TW_MAP) return 0;
    bool g = en->kind_len == 5 && memcmp(en->kind, "group", 5) == 0;
    bool p = en->kind_len == 5 && memcmp(en->kind, "place", 5) == 0;
    bool l = en->kind_len == 4 && memcmp(en->kind, "link", 4) == 0;
    if (!g && !p && !l) return 0;
    if (en->slot_len > TW_SLOT_MAX) return TW_EINVAL;
    if (++r->records > TW_REPORT_RECORDS_MAX) return TW_ETOOBIG;
    uint32_t author;
    int rc = author_index(r, en->author, &author);
    if (rc) return rc;
    return g ? add_group(r, en, author) : p ? add_place(r, en, author) : add_link(r, en, author);
}

int tw_report_reopen(tw_report *r)
{
    if (!r->finished || r->compact || r->dups || r->updating) return TW_ESTATE;
    /* Each update leaves the strings and keys of the records it removes in
     * the arenas: past as many removals as records, make the report again. */
    if (r->removed > r->records) return TW_ETOOBIG;
    r->finished = false;
    r->updating = true;
    return 0;
}

int tw_report_remove(tw_report *r, const char *kind, size_t kind_len, const uint8_t author[TW_KEY_LEN],
                     const char *slot, size_t slot_len)
{
    if (!r->updating) return TW_ESTATE;
    int k = kind_len == 5 && memcmp(kind, "group", 5) == 0 ? K_GROUP :
            kind_len == 5 && memcmp(kind, "place", 5) == 0 ? K_PLACE : -1;
    if (k < 0 || slot_len > TW_SLOT_MAX) return 0;
    uint8_t key[TW_KEY_LEN];
    if (r->o.identity) r->o.identity(r->o.identity_ctx, author, key);
    else memcpy(key, author, TW_KEY_LEN);
    int64_t a = hm_get(&r->hauthor, key, TW_KEY_LEN);
    if (a < 0) return 0;
    const rbucket *b = rm_find(r, k, (uint32_t)a, slot, slot_len);
    if (!b) return 0;
    int64_t i = b->idx;
    uint64_t *fp;
    bool *dead = rec_dead(r, k, (uint32_t)i, &fp);
    /* Another key's record of the slot: this key's version was not in the
     * report (an addition of it will ask for the report to be made again). */
    if (*dead || *fp != kfp(author)) return 0;
    *dead = true;
    r->records--;
    r->removed++;
    return 0;
}

static const rstate *link_state(const tw_report *r, const uint8_t id[TW_ID_LEN]);

int tw_report_remove_link(tw_report *r, const uint8_t id[TW_ID_LEN])
{
    if (!r->updating) return TW_ESTATE;
    /* The states are in link order as of the last finish, and an update
     * only appends links until it finishes. */
    const rstate *st = link_state(r, id);
    if (!st) return 0;
    size_t i = (size_t)(st - r->states);
    if (i >= r->links.n) return 0;
    rlink *l = &r->links.v[i];
    if (l->dead || memcmp(l->id, id, TW_ID_LEN) != 0) return 0;
    l->dead = true;
    r->records--;
    r->removed++;
    return 0;
}

/* ------------------------------------------------------------- joining */

/* "SLOT" (an own record of the link's author) or "KEY/SLOT"; *fp gets the
 * target_fp() of what it names (0 when it names nothing). */
static int64_t resolve(tw_report *r, int kind, uint32_t link_author, const char *ref, size_t len, uint64_t *fp)
{
    const char *slash = memchr(ref, '/', len);
    uint32_t author = link_author;
    *fp = 0;
    if (slash) {
        uint8_t key[TW_KEY_LEN];
        if (tw_keytext_decode(key, TW_KEYTEXT_PREFIX, ref, (size_t)(slash - ref))) return -1;
        if (r->o.identity) r->o.identity(r->o.identity_ctx, key, key);
        len -= (size_t)(slash + 1 - ref);
        ref = slash + 1;
        if (len > TW_SLOT_MAX) return -1;
        *fp = target_fp(key, ref, len);
        int64_t a = hm_get(&r->hauthor, key, TW_KEY_LEN);
        if (a < 0) return -1;
        author = (uint32_t)a;
    } else {
        if (len > TW_SLOT_MAX) return -1;
        *fp = target_fp(r->authors.v[author].key, ref, len);
    }
    const rbucket *b = rm_find(r, kind, author, ref, len);
    return b ? (int64_t)b->idx : -1;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

static bool was_added(const tw_report *r, uint64_t fp)
{
    return fp && r->nadded && bsearch(&fp, r->added, r->nadded, sizeof fp, cmp_u64);
}

/* Orders records as their reference texts "KEYTEXT/SLOT" order bytewise. */
static int ref_cmp(const tw_report *r, uint32_t a1, const char *s1, uint32_t a2, const char *s2)
{
    /* Authors by rank: the order of their texts, without comparing them
     * (a sort of many links by reference compared key texts most). */
    uint32_t k1 = r->authors.v[a1].rank, k2 = r->authors.v[a2].rank;
    int c = (k1 > k2) - (k1 < k2);
    return c ? c : strcmp(s1, s2);
}

static _Thread_local const tw_report *rank_r;

static int cmp_author_text(const void *x, const void *y)
{
    return strcmp(rank_r->authors.v[*(const uint32_t *)x].text, rank_r->authors.v[*(const uint32_t *)y].text);
}

/* Each author's rank among the authors by text (distinct keys have
 * distinct texts, so ranks order references as their texts do). */
static int author_ranks(tw_report *r)
{
    uint32_t *o = malloc((r->authors.n + 1) * sizeof *o);
    if (!o) return TW_ENOMEM;
    for (uint32_t i = 0; i < r->authors.n; i++) o[i] = i;
    rank_r = r;
    qsort(o, r->authors.n, sizeof *o, cmp_author_text);
    for (uint32_t i = 0; i < r->authors.n; i++) r->authors.v[o[i]].rank = i;
    free(o);
    return 0;
}

static bool newer(const rlink *a, const rlink *b)
{
    return tw_entry_cmp_version(a->ts, a->id, b->ts, b->id) > 0;
}

#define NIL32 0xFFFFFFFFu
#define AMBIG 0xFFFFFFFEu       /* a folded name shared by two identities of one key */

/* (a, the bytes of s) as a hash key: an author and a folded name, or an
 * identity and an author. */
static size_t pair_key(uint8_t *buf, uint32_t a, const void *s, size_t len)
{
    memcpy(buf, &a, 4);
    memcpy(buf + 4, s, len);
    return 4 + len;
}

/*
 * Precedence (proto/PROTOCOL.md, "Reports: the rules").  A record naming
 * a committee K other than its author is a listing of K's place: it joins
 * the identity of K's only place record, or, when K has several, of K's
 * records that share a folded name with it (in any subdivision) if they
 * are all one identity.  Targets are found on the identities of the name
 * rule alone and joined afterwards, so the result does not depend on the
 * order of the records.  Then a record is the committee's own when its
 * author is a key that a record of its identity names as committee (its
 * own committee field included).
 */
static int precedence(tw_report *r)
{
    rplace *pl = r->places.v;
    rauthor *au = r->authors.v;
    hmap cname = { 0 }, *named = &r->pnamed;
    uint32_t *tgt = NULL;
    uint8_t k[4 + sizeof r->fold];
    uint32_t found;
    int rc = 0;
    bool listings = false;
    for (uint32_t i = 0; i < r->places.n; i++)
        if (pl[i].committee >= 0 && pl[i].committee != pl[i].author) {
            au[pl[i].committee].named = true;
            listings = true;
        }
    if (listings) {
        for (uint32_t i = 0; i < r->places.n; i++) {
            const rauthor *a = &au[pl[i].author];
            if (!a->named || a->nplaces < 2) continue;
            for (uint32_t off = 0; off < pl[i].folds_len;) {
                const char *f = (const char *)r->folds.p + pl[i].folds + off;
                size_t fl = strlen(f);
                off += (uint32_t)fl + 1;
                size_t kl = pair_key(k, pl[i].author, f, fl);
                if ((rc = hm_put(&cname, &r->fa, k, kl, i, &found))) goto done;
                if (found != i && found != AMBIG && find_root(pl, found) != find_root(pl, i))
                    hm_find(&cname, k, kl)->val = AMBIG;
            }
        }
        if (!(tgt = malloc(r->places.n * sizeof *tgt))) { rc = TW_ENOMEM; goto done; }
        for (uint32_t i = 0; i < r->places.n; i++) {
            tgt[i] = NIL32;
            if (pl[i].committee < 0 || pl[i].committee == pl[i].author) continue;
            const rauthor *c = &au[pl[i].committee];
            if (c->nplaces == 1) { tgt[i] = c->place; continue; }
            uint32_t cand = NIL32;
            for (uint32_t off = 0; c->nplaces > 1 && off < pl[i].folds_len;) {
                const char *f = (const char *)r->folds.p + pl[i].folds + off;
                size_t fl = strlen(f);
                off += (uint32_t)fl + 1;
                int64_t v = hm_get(&cname, k, pair_key(k, (uint32_t)pl[i].committee, f, fl));
                if (v < 0) continue;
                if (v == AMBIG || (cand != NIL32 && find_root(pl, cand) != find_root(pl, (uint32_t)v))) {
                    cand = NIL32;
                    break;
                }
                cand = (uint32_t)v;
            }
            tgt[i] = cand;
        }
        for (uint32_t i = 0; i < r->places.n; i++)
            if (tgt[i] != NIL32) unite(pl, i, tgt[i]);
    }
    /* (identity, key named as committee by one of its records) */
    for (uint32_t i = 0; i < r->places.n; i++) {
        if (pl[i].committee < 0) continue;
        uint32_t c = (uint32_t)pl[i].committee;
        if ((rc = hm_put(named, &r->fa, k, pair_key(k, find_root(pl, i), &c, 4), 0, &found))) goto done;
    }
    for (uint32_t i = 0; i < r->places.n; i++)
        pl[i].own = pl[i].committee == (int64_t)pl[i].author ||
                    hm_get(named, k, pair_key(k, find_root(pl, i), &pl[i].author, 4)) >= 0;
done:
    free(cname.e);
    free(tgt);
    return rc;
}

/* A group's folded name into out (4 * TW_STR_MAX + 1 bytes): folded only
 * where names are compared (own_key targets, look-alike groups), so that
 * stats do not pay for it.  Returns its length, 0 without a name. */
static size_t gname_fold(char *out, const rgroup *g)
{
    size_t n = g->name ? strlen(g->name) : 0;
    if (n > TW_STR_MAX) n = 0;
    out[0] = 0;
    return n ? tw_text_fold(out, g->name, n) : 0;
}

static uint32_t g_root(rgroup *g, uint32_t i)
{
    uint32_t root = i;
    while (g[root].parent != root) root = g[root].parent;
    while (g[i].parent != root) { uint32_t nx = g[i].parent; g[i].parent = root; i = nx; }
    return root;
}

static void g_unite(rgroup *g, uint32_t x, uint32_t y)
{
    uint32_t a = g_root(g, x), b = g_root(g, y);
    if (a != b) g[a > b ? a : b].parent = a < b ? a : b;
}

/*
 * Group precedence (proto/PROTOCOL.md, "Reports: the rules"), as for
 * places but without a name rule: a group record whose own_key names a key
 * K other than its author is a listing of K's group, one group with K's
 * only group record, or when K has several, with the one of them whose
 * folded name is the listing's (if exactly one is).  A record is the
 * group's own when its author is a key that a record of its identity
 * names as own_key (its own own_key included).
 */
static int group_precedence(tw_report *r)
{
    rgroup *gr = r->groups.v;
    rauthor *au = r->authors.v;
    hmap kname = { 0 };
    uint8_t k[4 + sizeof r->fold];
    uint32_t found;
    int rc = 0;
    for (uint32_t i = 0; i < r->groups.n; i++)
        if (gr[i].own_key >= 0 && (uint32_t)gr[i].own_key != gr[i].author) au[gr[i].own_key].gnamed = true;
    /* (K, folded name) -> K's group record, AMBIG when K has two of that name. */
    for (uint32_t i = 0; i < r->groups.n; i++) {
        if (!au[gr[i].author].gnamed || au[gr[i].author].ngroups < 2) continue;
        size_t kl = pair_key(k, gr[i].author, r->fold, gname_fold(r->fold, &gr[i]));
        if ((rc = hm_put(&kname, &r->fa, k, kl, i, &found))) goto done;
        if (found != i) hm_find(&kname, k, kl)->val = AMBIG;
    }
    for (uint32_t i = 0; i < r->groups.n; i++) {
        if (gr[i].own_key < 0 || (uint32_t)gr[i].own_key == gr[i].author) continue;
        const rauthor *o = &au[gr[i].own_key];
        int64_t t = -1;
        if (o->ngroups == 1) t = o->group;
        else if (o->ngroups > 1)
            t = hm_get(&kname, k, pair_key(k, (uint32_t)gr[i].own_key, r->fold, gname_fold(r->fold, &gr[i])));
        if (t >= 0 && t != AMBIG) g_unite(gr, i, (uint32_t)t);
    }
    for (uint32_t i = 0; i < r->groups.n; i++) {
        if (gr[i].own_key < 0) continue;
        uint32_t o = (uint32_t)gr[i].own_key;
        if ((rc = hm_put(&r->gnamed, &r->fa, k, pair_key(k, g_root(gr, i), &o, 4), 0, &found))) goto done;
    }
    for (uint32_t i = 0; i < r->groups.n; i++)
        gr[i].own = gr[i].own_key == (int64_t)gr[i].author ||
                    hm_get(&r->gnamed, k, pair_key(k, g_root(gr, i), &gr[i].author, 4)) >= 0;
done:
    free(kname.e);
    return rc;
}

/* Confirmed: each side stated, by two different authors. */
static bool unit_confirmed(const runit *un)
{
    return un->ga != NIL32 && un->pa != NIL32 && (un->ga != un->pa || un->gmulti || un->pmulti);
}

static void side_add(uint32_t *first, bool *multi, uint32_t author)
{
    if (*first == NIL32) *first = author;
    else if (*first != author) *multi = true;
}

/* Entry ids are BLAKE2b digests: their first bytes are as good as a hash. */
static size_t id_slot(const uint8_t id[TW_ID_LEN], size_t cap)
{
    uint64_t h;
    memcpy(&h, id, sizeof h);
    return (size_t)h & (cap - 1);
}

static int cmp_super(const void *x, const void *y)
{
    const rsuper *a = x, *b = y;
    int c = memcmp(a->author, b->author, TW_KEY_LEN);
    if (!c) c = (a->group > b->group) - (a->group < b->group);
    return c ? c : strcmp(a->slot, b->slot);
}

static char *keep_str(tw_report *r, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = tw_arena_alloc(&r->keep, n);
    if (p) memcpy(p, s, n);
    return p;
}

static int add_super(tw_report *r, bool group, uint32_t author, const char *slot, uint32_t by_author,
                     const char *by_slot)
{
    char by[TW_KEYTEXT_LEN + 1 + TW_SLOT_MAX + 1];
    snprintf(by, sizeof by, "%s/%s", r->authors.v[by_author].text, by_slot);
    rsuper *su = &r->supers[r->nsupers++];
    memcpy(su->author, r->authors.v[author].key, TW_KEY_LEN);
    su->group = group;
    if (!(su->slot = keep_str(r, slot)) || !(su->by = keep_str(r, by))) return TW_ENOMEM;
    return 0;
}

/* The tables list and show read (tw_report_link_state(),
 * tw_report_place_superseded()). */
static int build_lookups(tw_report *r)
{
    const rplace *pl = r->places.v;
    if (r->links.n) {
        size_t cap = 16;
        while (cap < 2 * r->links.n) cap *= 2;
        if (!(r->states = malloc(r->links.n * sizeof *r->states)) || !(r->stidx = calloc(cap, sizeof *r->stidx)))
            return TW_ENOMEM;
        r->stcap = cap;
    }
    for (size_t i = 0; i < r->links.n; i++) {
        memcpy(r->states[i].id, r->links.v[i].id, TW_ID_LEN);
        r->states[i].confirmed = unit_confirmed(&r->units.v[r->links.v[i].unit]);
        r->states[i].unit = r->links.v[i].unit;
        size_t j = id_slot(r->states[i].id, r->stcap);
        while (r->stidx[j]) j = (j + 1) & (r->stcap - 1);
        r->stidx[j] = (uint32_t)i + 1;
    }
    r->nstates = r->links.n;
    const rgroup *gr = r->groups.v;
    size_t n = 0;
    int rc;
    for (uint32_t i = 0; i < r->places.n; i++) n += pl[pl[i].parent].has_own && !pl[i].own;
    for (uint32_t i = 0; i < r->groups.n; i++) n += gr[gr[i].parent].has_own && !gr[i].own;
    if (n && !(r->supers = malloc(n * sizeof *r->supers))) return TW_ENOMEM;
    for (uint32_t i = 0; i < r->places.n; i++) {
        const rplace *root = &pl[pl[i].parent];
        if (!root->has_own || pl[i].own) continue;
        const rplace *rep = &pl[root->rep];
        if ((rc = add_super(r, false, pl[i].author, pl[i].slot, rep->author, rep->slot))) return rc;
    }
    for (uint32_t i = 0; i < r->groups.n; i++) {
        const rgroup *root = &gr[gr[i].parent];
        if (!root->has_own || gr[i].own) continue;
        const rgroup *rep = &gr[root->rep];
        if ((rc = add_super(r, true, gr[i].author, gr[i].slot, rep->author, rep->slot))) return rc;
    }
    if (r->nsupers) qsort(r->supers, r->nsupers, sizeof *r->supers, cmp_super);
    return 0;
}

/* The map m made again without the records remap drops (NIL32), its
 * values renumbered: the stored hashes are reused, no key is hashed. */
static int rm_remap(rmap *m, const uint32_t *remap)
{
    if (!m->cap) return 0;
    rbucket *e = calloc(m->cap, sizeof *e);
    if (!e) return TW_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->e[i].h || remap[m->e[i].idx] == NIL32) continue;
        size_t j = m->e[i].h & (m->cap - 1);
        while (e[j].h) j = (j + 1) & (m->cap - 1);
        e[j] = m->e[i];
        e[j].idx = remap[m->e[i].idx];
        n++;
    }
    free(m->e);
    m->e = e;
    m->n = n;
    return 0;
}

/* Drops the records an update removed from vec, keeping the order of the
 * others, and renumbers the map that leads to them; *remapp (to free) gets
 * old index -> new, NIL32 for the removed, or NULL when none was. */
#define COMPACT(vec, map, remapp)                                                       \
    do {                                                                                \
        size_t ndead_ = 0;                                                              \
        *(remapp) = NULL;                                                               \
        for (size_t i = 0; i < (vec).n; i++) ndead_ += (vec).v[i].dead;                 \
        if (!ndead_) break;                                                             \
        uint32_t *remap = malloc(((vec).n + 1) * sizeof *remap), kept = 0;              \
        if (!remap) return TW_ENOMEM;                                                   \
        for (size_t i = 0; i < (vec).n; i++) {                                          \
            remap[i] = (vec).v[i].dead ? NIL32 : kept;                                  \
            if (!(vec).v[i].dead) (vec).v[kept++] = (vec).v[i];                         \
        }                                                                               \
        *(remapp) = remap;                                                              \
        int rc_ = (map) ? rm_remap((map), remap) : 0;                                   \
        if (rc_) return rc_;                                                            \
        (vec).n = kept;                                                                 \
    } while (0)

static int compact_vecs(tw_report *r, uint32_t **gm, uint32_t **pm, uint32_t **lm)
{
    COMPACT(r->groups, &r->hgroup, gm);
    COMPACT(r->places, &r->hplace, pm);
    COMPACT(r->links, (rmap *)NULL, lm);
    return 0;
}

/* Compacts, and keeps each link's resolved group and place where they
 * stay (a link whose record was removed is resolved again if an update
 * added a record of that slot, else it is left unresolved). */
static int compact_removed(tw_report *r)
{
    uint32_t *gm = NULL, *pm = NULL, *lm = NULL;
    int rc = compact_vecs(r, &gm, &pm, &lm);
    for (size_t i = 0; rc == 0 && i < r->links.n; i++) {
        rlink *l = &r->links.v[i];
        if (gm && l->g >= 0) l->g = gm[l->g] == NIL32 ? -1 : (int32_t)gm[l->g];
        if (pm && l->p >= 0) l->p = pm[l->p] == NIL32 ? -1 : (int32_t)pm[l->p];
    }
    free(gm); free(pm); free(lm);
    return rc;
}

/* What tw_report_finish() computes, forgotten, so that it can run again
 * over the records an update left. */
static void reset_finish(tw_report *r)
{
    for (uint32_t i = 0; i < r->places.n; i++) {
        rplace *p = &r->places.v[i];
        p->parent = p->rep = i;
        p->nrec = p->nprec = p->ngroups = 0;
        p->own = p->has_own = p->any_seeking = p->active = p->taken = false;
    }
    for (uint32_t i = 0; i < r->groups.n; i++) {
        rgroup *g = &r->groups.v[i];
        g->parent = g->rep = i;
        g->own = g->has_own = g->any_seeking = false;
    }
    for (size_t i = 0; i < r->links.n; i++) r->links.v[i].unit = 0;
    r->units.n = 0;
    free(r->hunit.e); free(r->pnamed.e); free(r->gnamed.e);
    memset(&r->hunit, 0, sizeof r->hunit);
    memset(&r->pnamed, 0, sizeof r->pnamed);
    memset(&r->gnamed, 0, sizeof r->gnamed);
    sp_free(&r->fa);
    sp_init(&r->fa);
    free(r->states); free(r->stidx); free(r->supers);
    r->states = NULL; r->stidx = NULL; r->supers = NULL;
    r->nstates = r->stcap = r->nsupers = 0;
    tw_arena_free(&r->keep);
    tw_arena_init(&r->keep, 0);
}

/* Each author's place and group records (the count, and the first), and
 * whether some record names it: from the records alone. */
static void author_counts(tw_report *r)
{
    for (size_t i = 0; i < r->authors.n; i++) {
        rauthor *au = &r->authors.v[i];
        au->nplaces = au->place = au->ngroups = au->group = 0;
        au->named = au->gnamed = false;
    }
    for (uint32_t i = 0; i < r->places.n; i++) {
        rauthor *au = &r->authors.v[r->places.v[i].author];
        if (au->nplaces++ == 0) au->place = i;
    }
    for (uint32_t i = 0; i < r->groups.n; i++) {
        rauthor *au = &r->authors.v[r->groups.v[i].author];
        if (au->ngroups++ == 0) au->group = i;
    }
}

/* Places that share a (scope, folded name) are one identity (add_name). */
static int name_unions(tw_report *r)
{
    if (!r->nnames) return 0;
    uint32_t *first = malloc(r->nnames * sizeof *first);
    if (!first) return TW_ENOMEM;
    memset(first, 0xff, r->nnames * sizeof *first);
    rplace *pl = r->places.v;
    for (uint32_t i = 0; i < r->places.n; i++)
        for (uint32_t k = 0; k < pl[i].nid_n; k++) {
            uint32_t id = r->nids[pl[i].nid_off + k];
            if (first[id] == NIL32) first[id] = i;
            else unite(pl, first[id], i);
        }
    free(first);
    return 0;
}

int tw_report_finish(tw_report *r)
{
    int rc;
    if (r->finished) return TW_ESTATE;
    r->finished = true;
    if (r->updating) {
        r->updating = false;
        if ((rc = compact_removed(r))) return rc;
        if (r->nadded) qsort(r->added, r->nadded, sizeof *r->added, cmp_u64);
    }
    reset_finish(r);
    author_counts(r);
    if ((rc = author_ranks(r)) || (rc = name_unions(r))) return rc;
    rplace *pl = r->places.v;
    rgroup *gr = r->groups.v;
    if ((rc = precedence(r)) || (rc = group_precedence(r))) return rc;
    /* Identities: the representative of each is its committee's own record
     * if it has one, else any record; of those, the one whose reference
     * text sorts first.  Roots are the smallest index of their identity, so
     * each root is met before the other records of its identity. */
    for (uint32_t i = 0; i < r->places.n; i++) {
        uint32_t root = find_root(pl, i);
        pl[root].nrec++;
        const rplace *rep = &pl[pl[root].rep];
        if (pl[i].own && !pl[root].has_own) {
            pl[root].has_own = true;
            pl[root].rep = i;
        } else if (pl[i].own == pl[root].has_own && ref_cmp(r, pl[i].author, pl[i].slot, rep->author, rep->slot) < 0) {
            pl[root].rep = i;
        }
    }
    /* Whether it seeks a partner is said by the records that take
     * precedence: the committee's own when there are any. */
    for (uint32_t i = 0; i < r->places.n; i++) {
        uint32_t root = pl[i].parent;
        if (!pl[root].has_own || pl[i].own) {
            pl[root].any_seeking |= pl[i].seeking;
            pl[root].nprec++;
        }
    }
    /* Group identities likewise: the representative is the group's own
     * record if there is one, else any; the first by reference. */
    for (uint32_t i = 0; i < r->groups.n; i++) {
        uint32_t root = g_root(gr, i);
        const rgroup *rep = &gr[gr[root].rep];
        if (root == i && !gr[i].own) continue;      /* its own representative so far */
        if (gr[i].own && !gr[root].has_own) {
            gr[root].has_own = true;
            gr[root].rep = i;
        } else if (gr[i].own == gr[root].has_own && ref_cmp(r, gr[i].author, gr[i].slot, rep->author, rep->slot) < 0) {
            gr[root].rep = i;
        }
    }
    for (uint32_t i = 0; i < r->groups.n; i++) {
        uint32_t root = gr[i].parent;
        if (!gr[root].has_own || gr[i].own) gr[root].any_seeking |= gr[i].seeking;
    }
    for (size_t i = 0; i < r->links.n; i++) {
        rlink *l = &r->links.v[i];
        /* Resolved once; again after an update only if it added a record
         * of a slot the link names and does not reach (see resolve). */
        if (!l->need && ((l->g < 0 && was_added(r, l->gfp)) || (l->p < 0 && was_added(r, l->pfp))))
            l->need = true;
        if (l->need) {
            l->g = l->gref ? (int32_t)resolve(r, K_GROUP, l->author, l->gref, l->gref_len, &l->gfp) : -1;
            l->p = l->pref ? (int32_t)resolve(r, K_PLACE, l->author, l->pref, l->pref_len, &l->pfp) : -1;
            l->need = false;
        }
        int64_t ident = l->p >= 0 ? (int64_t)pl[l->p].parent : -1;
        int64_t gid = l->g >= 0 ? (int64_t)gr[l->g].parent : -1;
        uint32_t u = (uint32_t)r->units.n;
        if (gid >= 0 && ident >= 0) {
            uint8_t k[8];
            uint32_t g32 = (uint32_t)gid, i32 = (uint32_t)ident;
            memcpy(k, &g32, 4);
            memcpy(k + 4, &i32, 4);
            if ((rc = hm_put(&r->hunit, &r->fa, k, 8, u, &u))) return rc;
        }
        if (u == r->units.n) {
            if ((rc = VPUSH(r->units))) return rc;
            r->units.v[r->units.n++] = (runit){ .g = gid, .ident = ident, .gov = (uint32_t)i, .ga = NIL32, .pa = NIL32 };
        }
        l->unit = u;
        runit *un = &r->units.v[u];
        if (newer(l, &r->links.v[un->gov])) un->gov = (uint32_t)i;
        /* Each side is stated by a key its identity names (own_key of the
         * group, committee of the place) or by the author of the record
         * referred to -- unless that record is a listing superseded by the
         * own record, whose author no longer speaks for it. */
        uint8_t k[8];
        bool gs = false, ps = false;
        if (l->g >= 0) {
            const rgroup *g = &gr[l->g];
            bool superseded = gr[g->parent].has_own && !g->own;
            gs = (g->author == l->author && !superseded) ||
                 hm_get(&r->gnamed, k, pair_key(k, g->parent, &l->author, 4)) >= 0;
        }
        if (l->p >= 0) {
            const rplace *p = &pl[l->p];
            bool superseded = pl[p->parent].has_own && !p->own;
            ps = (p->author == l->author && !superseded) ||
                 hm_get(&r->pnamed, k, pair_key(k, p->parent, &l->author, 4)) >= 0;
        }
        if (gs) side_add(&un->ga, &un->gmulti, l->author);
        if (ps) side_add(&un->pa, &un->pmulti, l->author);
    }
    for (size_t i = 0; i < r->units.n; i++) {
        const runit *un = &r->units.v[i];
        const char *st = r->links.v[un->gov].status;
        if (un->ident < 0) continue;
        rplace *root = &pl[un->ident];
        bool act = strcmp(st, "active") == 0, expl = strcmp(st, "exploring") == 0;
        root->active |= act;
        root->taken |= act || expl;
        if ((act || expl) && un->g >= 0) root->ngroups++;
    }
    rc = build_lookups(r);
    r->nadded = 0;
    if (rc == 0 && !r->made) {
        VTRIM(r->authors);
        VTRIM(r->groups);
        VTRIM(r->places);
        VTRIM(r->links);
        VTRIM(r->units);
        vtrim((void **)&r->nids, &r->nidcap, r->nnids, sizeof *r->nids);
        vtrim((void **)&r->folds.p, &r->folds.cap, r->folds.len, 1);
        r->made = true;
    }
    return rc;
}

static const rstate *link_state(const tw_report *r, const uint8_t id[TW_ID_LEN])
{
    for (size_t j = r->stcap ? id_slot(id, r->stcap) : 0; r->stcap && r->stidx[j]; j = (j + 1) & (r->stcap - 1)) {
        const rstate *s = &r->states[r->stidx[j] - 1];
        if (memcmp(s->id, id, TW_ID_LEN) == 0) return s;
    }
    return NULL;
}

int tw_report_link_state(const tw_report *r, const uint8_t id[TW_ID_LEN], bool *confirmed)
{
    if (!r->finished) return TW_ESTATE;
    const rstate *s = link_state(r, id);
    if (!s) return TW_ENOTFOUND;
    *confirmed = s->confirmed;
    return 0;
}

int tw_report_link_unit(const tw_report *r, const uint8_t id[TW_ID_LEN], uint32_t *unit)
{
    if (!r->finished) return TW_ESTATE;
    const rstate *s = link_state(r, id);
    if (!s) return TW_ENOTFOUND;
    *unit = s->unit;
    return 0;
}

int tw_report_place_superseded(const tw_report *r, const uint8_t author[TW_KEY_LEN], const char *slot,
                               size_t slot_len, char *by, size_t cap)
{
    return tw_report_superseded(r, false, author, slot, slot_len, by, cap);
}

int tw_report_superseded(const tw_report *r, bool group, const uint8_t author[TW_KEY_LEN], const char *slot,
                         size_t slot_len, char *by, size_t cap)
{
    if (!r->finished) return TW_ESTATE;
    char sl[TW_SLOT_MAX + 1];
    if (slot_len > TW_SLOT_MAX || memchr(slot, 0, slot_len)) return TW_ENOTFOUND;
    memcpy(sl, slot, slot_len);
    sl[slot_len] = 0;
    rsuper key = { .slot = sl, .group = group };
    memcpy(key.author, author, TW_KEY_LEN);
    const rsuper *s = r->nsupers ? bsearch(&key, r->supers, r->nsupers, sizeof *s, cmp_super) : NULL;
    if (!s) return TW_ENOTFOUND;
    size_t n = strlen(s->by);
    if (n + 1 > cap) return TW_ETOOBIG;
    memcpy(by, s->by, n + 1);
    return 0;
}

int tw_report_compact(tw_report *r)
{
    if (!r->finished) return TW_ESTATE;
    free_work(r);
    r->compact = true;
    return 0;
}

/* ----------------------------------------------------------- encoding */

/* A count table over interned values: open addressing on the pointer,
 * at most half full (values beyond CT_SLOTS / 2 distinct ones, which the
 * code lists cannot produce, are not counted). */
typedef struct ctab { const char *k[CT_SLOTS]; uint64_t n[CT_SLOTS]; uint32_t len; } ctab;

static void ct_add(ctab *t, const char *k)
{
    size_t h = (size_t)(((uint64_t)(uintptr_t)k * 0x9E3779B97F4A7C15ull) >> 40) & (CT_SLOTS - 1);
    while (t->k[h] && t->k[h] != k) h = (h + 1) & (CT_SLOTS - 1);
    if (!t->k[h]) {
        if (t->len >= CT_SLOTS / 2) return;
        t->k[h] = k;
        t->len++;
    }
    t->n[h]++;
}

static _Thread_local const ctab *sort_t;

static int cmp_slot(const void *a, const void *b)
{
    return strcmp(sort_t->k[*(const uint32_t *)a], sort_t->k[*(const uint32_t *)b]);
}

static int put_ctab(tw_buf *b, const char *name, const ctab *t)
{
    uint32_t slots[CT_SLOTS / 2], n = 0;
    int rc;
    for (uint32_t i = 0; i < CT_SLOTS; i++)
        if (t->k[i]) slots[n++] = i;
    sort_t = t;
    qsort(slots, n, sizeof *slots, cmp_slot);
    if ((rc = tw_mpw_cstr(b, name)) || (rc = tw_mpw_map(b, n))) return rc;
    for (uint32_t i = 0; i < n; i++)
        if ((rc = tw_mpw_cstr(b, t->k[slots[i]])) || (rc = tw_mpw_uint(b, t->n[slots[i]]))) return rc;
    return 0;
}

static int put_years(tw_buf *b, const char *name, const uint64_t *y)
{
    uint32_t n = 0;
    int rc;
    for (unsigned i = 0; i <= YEAR_MAX - YEAR_MIN; i++) n += y[i] != 0;
    if ((rc = tw_mpw_cstr(b, name)) || (rc = tw_mpw_map(b, n))) return rc;
    for (unsigned i = 0; i <= YEAR_MAX - YEAR_MIN; i++) {
        char k[8];
        if (!y[i]) continue;
        snprintf(k, sizeof k, "%u", i + YEAR_MIN);
        if ((rc = tw_mpw_cstr(b, k)) || (rc = tw_mpw_uint(b, y[i]))) return rc;
    }
    return 0;
}

/* A table of named counts whose names are given sorted. */
static int put_named(tw_buf *b, const char *name, uint32_t n, const char *const *keys, const uint64_t *v)
{
    int rc;
    if ((rc = tw_mpw_cstr(b, name)) || (rc = tw_mpw_map(b, n))) return rc;
    for (uint32_t i = 0; i < n; i++)
        if ((rc = tw_mpw_cstr(b, keys[i])) || (rc = tw_mpw_uint(b, v[i]))) return rc;
    return 0;
}

/* The UTC year of a time in ms since the epoch, within [YEAR_MIN, YEAR_MAX]. */
static unsigned year_of_ms(uint64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    unsigned y = gmtime_r(&s, &tm) ? (unsigned)tm.tm_year + 1900u : YEAR_MAX;
    return y < YEAR_MIN ? YEAR_MIN : y > YEAR_MAX ? YEAR_MAX : y;
}

/* "active_links_by_year" and "active_links_undated" (see "Reports: the
 * rules", Trend): a link other than one being explored is active in year Y
 * when since <= Y <= its end (the "ended" year, else the report's year).
 * Spans are added as differences, so the cost is one pass over the links
 * plus one over the years. */
static int put_trend(tw_buf *out, const tw_report *r)
{
    unsigned top = year_of_ms(r->o.now_ms), first = YEAR_MAX + 1;
    int64_t *d = calloc(YEAR_MAX - YEAR_MIN + 2, sizeof *d);
    uint64_t no_since = 0, no_end = 0, before = 0;
    int rc;
    if (!d) return TW_ENOMEM;
    for (size_t i = 0; i < r->units.n; i++) {
        const rlink *l = &r->links.v[r->units.v[i].gov];
        if (strcmp(l->status, "exploring") == 0) continue;
        if (!l->since) { no_since++; continue; }
        unsigned end = l->ended ? l->ended : strcmp(l->status, "ended") == 0 ? 0 : top;
        if (!end) { no_end++; continue; }
        if (l->ended && l->ended < l->since) { before++; continue; }
        if (l->since > top) continue;           /* starts after the report's time */
        if (end > top) end = top;
        d[l->since - YEAR_MIN]++;
        d[end - YEAR_MIN + 1]--;
        if (l->since < first) first = l->since;
    }
    uint32_t n = first <= top ? top - first + 1 : 0;
    if (!(rc = tw_mpw_cstr(out, "active_links_by_year")) && !(rc = tw_mpw_map(out, n))) {
        int64_t run = 0;
        for (unsigned y = YEAR_MIN; y <= top && !rc; y++) {
            char k[8];
            run += d[y - YEAR_MIN];
            if (y < first) continue;
            snprintf(k, sizeof k, "%u", y);
            if (!(rc = tw_mpw_cstr(out, k))) rc = tw_mpw_uint(out, (uint64_t)run);
        }
    }
    free(d);
    static const char *const uk[] = { "ended_before_since", "no_end", "no_since" };
    uint64_t uv[] = { before, no_end, no_since };
    return rc ? rc : put_named(out, "active_links_undated", 3, uk, uv);
}

enum {
    S_ACT_AREA, S_ACT_COUNTRY, S_ACT_FORM, S_ACT_GOV, S_ACT_GKIND, S_ACT_NATION, S_ACT_PKIND, S_ACT_REGION,
    S_GKIND, S_GNATION, S_GREGION, S_LFORM, S_LSTATUS, S_PAREA, S_PCOUNTRY, S_PKIND, S_PSUB, S_NTAB
};
static const char *const stat_names[S_NTAB] = {
    "active_links_by_area", "active_links_by_country", "active_links_by_formality",
    "active_links_by_governorate", "active_links_by_group_kind", "active_links_by_nation",
    "active_links_by_place_kind", "active_links_by_region", "groups_by_kind", "groups_by_nation",
    "groups_by_region", "links_by_formality", "links_by_status", "places_by_area", "places_by_country",
    "places_by_kind", "places_by_subdivision",
};

int tw_report_stats(const tw_report *r, const uint8_t *extra, size_t extra_len,
                    uint32_t extra_n, tw_buf *out)
{
    if (!r->finished || r->compact) return TW_ESTATE;
    ctab *t = calloc(S_NTAB, sizeof *t);
    uint64_t *started = calloc(2 * (YEAR_MAX - YEAR_MIN + 1), sizeof *started);
    uint64_t *ended = started ? started + (YEAR_MAX - YEAR_MIN + 1) : NULL;
    uint64_t confirmed = 0, dormant_status = 0, dormant_old = 0;
    int rc = TW_ENOMEM;
    if (!t || !started) goto done;
    /* Groups are counted once per identity, by its representative. */
    uint64_t gseek = 0, pseek = 0, idents = 0, gidents = 0, rsrc[3] = { 0 };
    for (size_t i = 0; i < r->groups.n; i++) {
        const rgroup *root = &r->groups.v[i], *g = &r->groups.v[root->rep];
        if (root->parent != i) continue;
        ct_add(&t[S_GKIND], g->kind);
        ct_add(&t[S_GNATION], g->nation);
        ct_add(&t[S_GREGION], g->region);
        rsrc[g->region_source]++;
        gseek += root->any_seeking;
        gidents++;
    }
    /* Places are counted once per identity, by its representative: a
     * place listed by a hub and by its committee is one place. */
    for (size_t i = 0; i < r->places.n; i++) {
        const rplace *root = &r->places.v[i], *p = &r->places.v[root->rep];
        if (root->parent != i) continue;
        ct_add(&t[S_PAREA], p->area);
        ct_add(&t[S_PCOUNTRY], p->country);
        ct_add(&t[S_PKIND], p->kind);
        ct_add(&t[S_PSUB], p->sub);
        pseek += root->any_seeking;
        idents++;
    }
    uint64_t cutoff = (uint64_t)r->o.dormant_months * TW_REPORT_MONTH_MS;
    cutoff = r->o.now_ms > cutoff ? r->o.now_ms - cutoff : 0;
    for (size_t i = 0; i < r->units.n; i++) {
        const runit *un = &r->units.v[i];
        const rlink *l = &r->links.v[un->gov];
        ct_add(&t[S_LSTATUS], l->status);
        ct_add(&t[S_LFORM], l->formality);
        confirmed += unit_confirmed(un);
        if (l->since) started[l->since - YEAR_MIN]++;
        if (l->ended) ended[l->ended - YEAR_MIN]++;
        bool act = strcmp(l->status, "active") == 0;
        if (strcmp(l->status, "dormant") == 0) dormant_status++;
        else if ((act || strcmp(l->status, "exploring") == 0) && l->ts < cutoff) dormant_old++;
        if (!act) continue;
        const rgroup *g = un->g >= 0 ? &r->groups.v[r->groups.v[un->g].rep] : NULL;
        const rplace *p = un->ident >= 0 ? &r->places.v[r->places.v[un->ident].rep] : NULL;
        ct_add(&t[S_ACT_FORM], l->formality);
        ct_add(&t[S_ACT_GKIND], g ? g->kind : UNKNOWN);
        ct_add(&t[S_ACT_NATION], g ? g->nation : UNKNOWN);
        ct_add(&t[S_ACT_REGION], g ? g->region : UNKNOWN);
        ct_add(&t[S_ACT_AREA], p ? p->area : UNKNOWN);
        ct_add(&t[S_ACT_COUNTRY], p ? p->country : UNKNOWN);
        ct_add(&t[S_ACT_GOV], p ? p->sub : UNKNOWN);
        ct_add(&t[S_ACT_PKIND], p ? p->kind : UNKNOWN);
    }
    /* Tables in key order, then the extra pairs (order matters only to
     * byte-for-byte comparisons, which use the same extra). */
    if ((rc = tw_mpw_map(out, S_NTAB + 9 + extra_n))) goto done;
    if (extra_n && (rc = tw_buf_put(out, extra, extra_len))) goto done;
    for (int i = 0; i < S_ACT_REGION + 1 && !rc; i++) rc = put_ctab(out, stat_names[i], &t[i]);
    if (rc || (rc = put_trend(out, r))) goto done;
    static const char *const dk[] = { "no_update", "status_dormant", "total" };
    uint64_t dv[] = { dormant_old, dormant_status, dormant_old + dormant_status };
    if (rc || (rc = put_named(out, "dormant_links", 3, dk, dv))) goto done;
    for (int i = S_GKIND; i <= S_GREGION && !rc; i++) rc = put_ctab(out, stat_names[i], &t[i]);
    static const char *const rk[] = { "given", "inferred", "none" };
    if (rc || (rc = put_named(out, "groups_region_source", 3, rk, rsrc))) goto done;
    static const char *const ck[] = { "confirmed", "unconfirmed" };
    uint64_t cv[] = { confirmed, r->units.n - confirmed };
    if (rc || (rc = put_named(out, "links_by_confirmation", 2, ck, cv))) goto done;
    for (int i = S_LFORM; i <= S_LSTATUS && !rc; i++) rc = put_ctab(out, stat_names[i], &t[i]);
    if (rc || (rc = put_years(out, "links_ended_by_year", ended)) ||
        (rc = put_years(out, "links_started_by_year", started)))
        goto done;
    for (int i = S_PAREA; i <= S_PSUB && !rc; i++) rc = put_ctab(out, stat_names[i], &t[i]);
    /* "seeking" names only the kinds that have a seeker, as it always has. */
    const char *sk[2];
    uint64_t sv[2];
    uint32_t ns = 0;
    if (gseek) { sk[ns] = "groups"; sv[ns++] = gseek; }
    if (pseek) { sk[ns] = "places"; sv[ns++] = pseek; }
    if (rc || (rc = put_named(out, "seeking", ns, sk, sv))) goto done;
    static const char *const tk[] = { "group_identities", "groups", "link_statements", "links",
                                      "place_identities", "places" };
    uint64_t tv[] = { gidents, r->groups.n, r->links.n, r->units.n, idents, r->places.n };
    rc = put_named(out, "totals", 6, tk, tv);
done:
    free(t);
    free(started);
    return rc;
}

/* ---------------------------------------------------------------- gaps */

static _Thread_local const tw_report *sort_r;

static int cmp_place_ref(const void *x, const void *y)
{
    const rplace *a = &sort_r->places.v[*(const uint32_t *)x], *b = &sort_r->places.v[*(const uint32_t *)y];
    return ref_cmp(sort_r, a->author, a->slot, b->author, b->slot);
}

/* Identities by the reference of their representative. */
static int cmp_ident_ref(const void *x, const void *y)
{
    const rplace *a = &sort_r->places.v[sort_r->places.v[*(const uint32_t *)x].rep];
    const rplace *b = &sort_r->places.v[sort_r->places.v[*(const uint32_t *)y].rep];
    return ref_cmp(sort_r, a->author, a->slot, b->author, b->slot);
}

static const char *nz(const char *s) { return s ? s : ""; }

/* Candidates for matches: seeking places first, then by subdivision, English
 * name and reference. */
static int cmp_candidate(const void *x, const void *y)
{
    const rplace *ra = &sort_r->places.v[*(const uint32_t *)x], *rb = &sort_r->places.v[*(const uint32_t *)y];
    const rplace *a = &sort_r->places.v[ra->rep], *b = &sort_r->places.v[rb->rep];
    if (ra->any_seeking != rb->any_seeking) return ra->any_seeking ? -1 : 1;
    int c = strcmp(a->sub, b->sub);
    if (!c) c = strcmp(nz(a->name_en), nz(b->name_en));
    return c ? c : ref_cmp(sort_r, a->author, a->slot, b->author, b->slot);
}

/* Group identities by the reference of their representative. */
static const rgroup *grep_of(const tw_report *r, uint32_t root)
{
    return &r->groups.v[r->groups.v[root].rep];
}

static int cmp_group_ref(const void *x, const void *y)
{
    const rgroup *a = grep_of(sort_r, *(const uint32_t *)x), *b = grep_of(sort_r, *(const uint32_t *)y);
    return ref_cmp(sort_r, a->author, a->slot, b->author, b->slot);
}

static int cmp_link_ref(const void *x, const void *y)
{
    const rlink *a = &sort_r->links.v[*(const uint32_t *)x], *b = &sort_r->links.v[*(const uint32_t *)y];
    return ref_cmp(sort_r, a->author, a->slot, b->author, b->slot);
}

static int put_ref(tw_buf *b, const tw_report *r, const char *key, uint32_t author, const char *slot)
{
    char ref[TW_KEYTEXT_LEN + 1 + TW_SLOT_MAX + 1];
    int n = snprintf(ref, sizeof ref, "%s/%s", r->authors.v[author].text, slot);
    int rc = tw_mpw_cstr(b, key);
    return rc ? rc : tw_mpw_str(b, ref, (size_t)n);
}

static int put_kstr(tw_buf *b, const char *k, const char *v)
{
    int rc = tw_mpw_cstr(b, k);
    return rc ? rc : tw_mpw_cstr(b, v ? v : "");
}

/* {"country","name_ar","name_en","place","place_kind","subdivision"[,extra...]}
 * of an identity's representative ("name_ar" only when it has one). */
static int put_place(tw_buf *b, const tw_report *r, uint32_t root, uint32_t extra)
{
    const rplace *p = &r->places.v[r->places.v[root].rep];
    int rc;
    if ((rc = tw_mpw_map(b, 5 + (p->name_ar != NULL) + extra)) || (rc = put_kstr(b, "country", p->country)) ||
        (p->name_ar && (rc = put_kstr(b, "name_ar", p->name_ar))) || (rc = put_kstr(b, "name_en", p->name_en)) ||
        (rc = put_ref(b, r, "place", p->author, p->slot)) || (rc = put_kstr(b, "place_kind", p->kind)) ||
        (rc = put_kstr(b, "subdivision", p->sub)))
        return rc;
    return 0;
}

static uint32_t capped(size_t n) { return n > TW_REPORT_LIST_MAX ? TW_REPORT_LIST_MAX : (uint32_t)n; }

static int put_refstr(tw_buf *b, const tw_report *r, uint32_t author, const char *slot)
{
    char ref[TW_KEYTEXT_LEN + 1 + TW_SLOT_MAX + 1];
    int n = snprintf(ref, sizeof ref, "%s/%s", r->authors.v[author].text, slot);
    return tw_mpw_str(b, ref, (size_t)n);
}

/* Working lists of one gaps computation; each list holds identity roots
 * (places) or group indexes, sorted. */
typedef struct gaps {
    const tw_report *r;
    uint32_t *unp, *dup, *twice, *cand, *seekg, *seekp;
    size_t nunp, ndup, ntwice, ncand, nseekg, nseekp;
    uint32_t *dangling;                 /* link statements with a group or place not known */
    size_t ndangling;
    /* Group identities that look alike (same folded name and nation):
     * gclus holds the first identity of each such cluster, sorted;
     * gnext chains the identities of a cluster (roots, by reference). */
    uint32_t *gclus, *gnext, *gcount;
    size_t ngclus;
    /* Chains, so that lists need no search of all records: */
    uint32_t *rec_next, *rec_head;      /* place records by identity */
    uint32_t *unit_next, *unit_head;    /* links by identity */
    uint32_t *sug_start, *sug_groups;   /* seeking groups by candidate position */
    uint32_t *cand_pos;                 /* identity root -> position in cand[] */
    uint32_t *scratch;                  /* the groups or records of one place, to sort */
    ctab t[3];                          /* unpartnered by governorate, by kind; duplicated by governorate */
} gaps;

static int gaps_duplicated(gaps *q, tw_buf *out)
{
    const tw_report *r = q->r;
    int rc;
    if ((rc = tw_mpw_cstr(out, "duplicated")) || (rc = tw_mpw_arr(out, capped(q->ndup)))) return rc;
    for (size_t i = 0; i < capped(q->ndup); i++) {
        uint32_t root = q->dup[i], *gs = q->scratch;
        size_t ng = 0;
        if ((rc = put_place(out, r, root, 1)) || (rc = tw_mpw_cstr(out, "groups"))) return rc;
        /* All of them sorted, then the first: the same whatever the order
         * of the records. */
        for (uint32_t u = q->unit_head[root]; u != NIL32; u = q->unit_next[u]) {
            const runit *un = &r->units.v[u];
            const char *st = r->links.v[un->gov].status;
            if (un->g >= 0 && (strcmp(st, "active") == 0 || strcmp(st, "exploring") == 0)) gs[ng++] = (uint32_t)un->g;
        }
        qsort(gs, ng, sizeof *gs, cmp_group_ref);
        if (ng > TW_REPORT_LIST_MAX) ng = TW_REPORT_LIST_MAX;
        if ((rc = tw_mpw_arr(out, (uint32_t)ng))) return rc;
        for (size_t j = 0; j < ng; j++) {
            const rgroup *g = grep_of(r, gs[j]);
            if ((rc = tw_mpw_map(out, 2)) || (rc = put_ref(out, r, "group", g->author, g->slot)) ||
                (rc = put_kstr(out, "name", g->name)))
                return rc;
        }
    }
    return 0;
}

static int gaps_twice(gaps *q, tw_buf *out)
{
    const tw_report *r = q->r;
    const rplace *pl = r->places.v;
    int rc;
    if ((rc = tw_mpw_cstr(out, "listed_twice")) || (rc = tw_mpw_arr(out, capped(q->ntwice)))) return rc;
    for (size_t i = 0; i < capped(q->ntwice); i++) {
        uint32_t root = q->twice[i], *recs = q->scratch;
        size_t n = 0;
        /* Only the records that take precedence: a superseded listing is
         * not the place listed again.  All sorted, then the first. */
        for (uint32_t j = q->rec_head[root]; j != NIL32; j = q->rec_next[j])
            if (!pl[root].has_own || pl[j].own) recs[n++] = j;
        qsort(recs, n, sizeof *recs, cmp_place_ref);
        if (n > TW_REPORT_LIST_MAX) n = TW_REPORT_LIST_MAX;
        if ((rc = put_place(out, r, root, 1)) || (rc = tw_mpw_cstr(out, "records")) ||
            (rc = tw_mpw_arr(out, (uint32_t)n)))
            return rc;
        for (size_t j = 0; j < n; j++)
            if ((rc = put_refstr(out, r, pl[recs[j]].author, pl[recs[j]].slot))) return rc;
    }
    return 0;
}

/* Matches: the i-th seeking group gets the candidates at positions 3i,
 * 3i+1 and 3i+2 (modulo their number), so that suggestions spread over the
 * places with no partner rather than steer every group to the same one. */
static size_t suggest_pos(const gaps *q, size_t g, size_t j)
{
    return (TW_REPORT_SUGGEST * g + j) % q->ncand;
}

static size_t nsuggest(const gaps *q)
{
    return q->ncand < TW_REPORT_SUGGEST ? q->ncand : TW_REPORT_SUGGEST;
}

static int gaps_seeking_places(gaps *q, tw_buf *out)
{
    const tw_report *r = q->r;
    int rc;
    if ((rc = tw_mpw_cstr(out, "seeking_places")) || (rc = tw_mpw_arr(out, capped(q->nseekp)))) return rc;
    for (size_t i = 0; i < capped(q->nseekp); i++) {
        uint32_t root = q->seekp[i];
        if ((rc = put_place(out, r, root, 1)) || (rc = tw_mpw_cstr(out, "suggested_groups"))) return rc;
        size_t lo = 0, hi = 0;
        if (!r->places.v[root].taken) {
            lo = q->sug_start[q->cand_pos[root]];
            hi = q->sug_start[q->cand_pos[root] + 1];
        }
        if (hi - lo > TW_REPORT_LIST_MAX) hi = lo + TW_REPORT_LIST_MAX;
        if ((rc = tw_mpw_arr(out, (uint32_t)(hi - lo)))) return rc;
        for (size_t k = lo; k < hi; k++) {
            const rgroup *g = grep_of(r, q->sug_groups[k]);
            if ((rc = put_refstr(out, r, g->author, g->slot))) return rc;
        }
    }
    return 0;
}

static int gaps_suggestions(gaps *q, tw_buf *out)
{
    const tw_report *r = q->r;
    const rplace *pl = r->places.v;
    int rc;
    if ((rc = tw_mpw_cstr(out, "suggestions")) || (rc = tw_mpw_arr(out, capped(q->nseekg)))) return rc;
    for (size_t g = 0; g < capped(q->nseekg); g++) {
        const rgroup *gr = grep_of(r, q->seekg[g]);
        size_t ns = nsuggest(q);
        if ((rc = tw_mpw_map(out, 3)) || (rc = put_ref(out, r, "group", gr->author, gr->slot)) ||
            (rc = put_kstr(out, "name", gr->name)) || (rc = tw_mpw_cstr(out, "places")) ||
            (rc = tw_mpw_arr(out, (uint32_t)ns)))
            return rc;
        for (size_t j = 0; j < ns; j++) {
            const rplace *p = &pl[pl[q->cand[suggest_pos(q, g, j)]].rep];
            if ((rc = put_refstr(out, r, p->author, p->slot))) return rc;
        }
    }
    return 0;
}

static int gaps_unpartnered(gaps *q, tw_buf *out)
{
    int rc;
    if ((rc = tw_mpw_cstr(out, "unpartnered")) || (rc = tw_mpw_arr(out, capped(q->nunp)))) return rc;
    for (size_t i = 0; i < capped(q->nunp); i++)
        if ((rc = put_place(out, q->r, q->unp[i], 1)) || (rc = tw_mpw_cstr(out, "seeking")) ||
            (rc = tw_mpw_bool(out, q->r->places.v[q->unp[i]].any_seeking)))
            return rc;
    return 0;
}

/* "dangling": link statements whose group or place reference is absent or
 * resolves to no record, {group, link, missing, place}, by reference. */
static int gaps_dangling(gaps *q, tw_buf *out)
{
    const tw_report *r = q->r;
    int rc;
    if ((rc = tw_mpw_cstr(out, "dangling")) || (rc = tw_mpw_arr(out, capped(q->ndangling)))) return rc;
    for (size_t i = 0; i < capped(q->ndangling); i++) {
        const rlink *l = &r->links.v[q->dangling[i]];
        const char *missing = l->g < 0 && l->p < 0 ? "group and place" : l->g < 0 ? "group" : "place";
        if ((rc = tw_mpw_map(out, 4)) || (rc = tw_mpw_cstr(out, "group")) ||
            (rc = tw_mpw_str(out, l->gref ? l->gref : "", l->gref ? l->gref_len : 0)) ||
            (rc = put_ref(out, r, "link", l->author, l->slot)) || (rc = put_kstr(out, "missing", missing)) ||
            (rc = tw_mpw_cstr(out, "place")) || (rc = tw_mpw_str(out, l->pref ? l->pref : "", l->pref ? l->pref_len : 0)))
            return rc;
    }
    return 0;
}

/* Group identities that look like one group: the same folded name in the
 * same nation.  Identities are hashed in index order; only the members of
 * the clusters found are then sorted, so the cost is linear in the groups
 * plus the clusters' sorting.  Each cluster is chained (gnext) from its
 * first identity by reference, gcount[first] its size; gclus lists the
 * clusters by their first identity's reference. */
static int group_clusters(gaps *q)
{
    const tw_report *r = q->r;
    hmap m = { 0 };
    spool a;
    uint32_t *last = malloc((r->groups.n + 1) * sizeof *last), *mem = NULL;
    int rc = 0;
    sp_init(&a);
    if (!last) { rc = TW_ENOMEM; goto done; }
    size_t nmem = 0;
    for (uint32_t i = 0; i < r->groups.n; i++) {
        uint32_t found;
        if (r->groups.v[i].parent != i) continue;
        const rgroup *g = grep_of(r, i);
        uint8_t k[sizeof(void *) + 4 * TW_STR_MAX + 1];
        size_t fl = gname_fold((char *)k + sizeof(void *), g);
        q->gnext[i] = NIL32;
        q->gcount[i] = 1;
        last[i] = i;
        if (!fl) continue;
        memcpy(k, &g->nation, sizeof(void *));
        if ((rc = hm_put(&m, &a, k, sizeof(void *) + fl, i, &found))) goto done;
        if (found == i) continue;
        q->gnext[last[found]] = i;
        last[found] = i;
        if (++q->gcount[found] == 2) { q->gclus[q->ngclus++] = found; nmem++; }
        nmem++;
    }
    /* Each cluster's members by reference, rechained from the first. */
    if (q->ngclus && !(mem = malloc(nmem * sizeof *mem))) { rc = TW_ENOMEM; goto done; }
    sort_r = r;
    for (size_t c = 0; c < q->ngclus; c++) {
        uint32_t head = q->gclus[c], n = 0;
        for (uint32_t i = head; i != NIL32; i = q->gnext[i]) mem[n++] = i;
        qsort(mem, n, sizeof *mem, cmp_group_ref);
        for (uint32_t j = 0; j < n; j++) q->gnext[mem[j]] = j + 1 < n ? mem[j + 1] : NIL32;
        q->gcount[mem[0]] = n;
        q->gclus[c] = mem[0];
    }
    qsort(q->gclus, q->ngclus, sizeof *q->gclus, cmp_group_ref);
done:
    free(m.e);
    sp_free(&a);
    free(last);
    free(mem);
    return rc;
}

/* "groups_listed_twice": {commands, name, nation, records}.  The identity
 * most likely to be the group's own is the one whose author has the fewest
 * group records (a group's node publishes one; a hub many), the first by
 * reference among equals; every other identity is a listing to link to it
 * (twin publish group SLOT ... own_key=KEY, run by the listing's author),
 * or, written by the same author, a copy to delete. */
static int gaps_groups_twice(gaps *q, tw_buf *out)
{
    const tw_report *r = q->r;
    int rc;
    if ((rc = tw_mpw_cstr(out, "groups_listed_twice")) || (rc = tw_mpw_arr(out, capped(q->ngclus)))) return rc;
    for (size_t c = 0; c < capped(q->ngclus); c++) {
        uint32_t first = q->gclus[c], own = first;
        uint32_t n = q->gcount[first] > TW_REPORT_LIST_MAX ? TW_REPORT_LIST_MAX : q->gcount[first];
        for (uint32_t i = first, k = 0; i != NIL32 && k < n; i = q->gnext[i], k++)
            if (r->authors.v[grep_of(r, i)->author].ngroups < r->authors.v[grep_of(r, own)->author].ngroups) own = i;
        const rgroup *o = grep_of(r, own);
        if ((rc = tw_mpw_map(out, 4)) || (rc = tw_mpw_cstr(out, "commands")) || (rc = tw_mpw_arr(out, n - 1)))
            return rc;
        for (uint32_t i = first, k = 0; i != NIL32 && k < n; i = q->gnext[i], k++) {
            if (i == own) continue;
            const rgroup *g = grep_of(r, i);
            char cmd[64 + TW_SLOT_MAX + TW_KEYTEXT_LEN];
            if (g->author == o->author) snprintf(cmd, sizeof cmd, "twin delete group %s", g->slot);
            else snprintf(cmd, sizeof cmd, "twin publish group %s ... own_key=%s", g->slot, r->authors.v[o->author].text);
            if ((rc = tw_mpw_map(out, 2)) || (rc = put_kstr(out, "by", r->authors.v[g->author].text)) ||
                (rc = put_kstr(out, "command", cmd)))
                return rc;
        }
        if ((rc = put_kstr(out, "name", o->name)) || (rc = put_kstr(out, "nation", o->nation)) ||
            (rc = tw_mpw_cstr(out, "records")) || (rc = tw_mpw_arr(out, n)))
            return rc;
        for (uint32_t i = first, k = 0; i != NIL32 && k < n; i = q->gnext[i], k++)
            if ((rc = put_refstr(out, r, grep_of(r, i)->author, grep_of(r, i)->slot))) return rc;
    }
    return 0;
}

/*
 * The first k of a[0, n) in cmp's order, sorted, at a[0, k); the rest in
 * any order.  A list of gaps shows at most TW_REPORT_LIST_MAX rows of a
 * list that can hold most records (dangling links, places without a
 * partner): selecting them (quickselect, pivots drawn with the secret hash
 * key so that no record set makes it quadratic) and sorting those alone
 * gives the rows a full sort would, at linear cost.
 */
static void sort_first(uint32_t *a, size_t n, size_t k, int (*cmp)(const void *, const void *))
{
    if (k < n) {
        uint64_t st;
        memcpy(&st, hash_key, sizeof st);
        st ^= n * 0x9E3779B97F4A7C15ull;
        size_t lo = 0, hi = n;
        while (hi - lo > 1) {
            st ^= st << 13; st ^= st >> 7; st ^= st << 17;
            uint32_t pv = a[lo + (size_t)(st % (hi - lo))];
            /* [lo, lt) before the pivot, [lt, i) the pivot, [gt, hi) after it. */
            size_t lt = lo, i = lo, gt = hi;
            while (i < gt) {
                int c = cmp(&a[i], &pv);
                uint32_t t;
                if (c < 0) { t = a[lt]; a[lt++] = a[i]; a[i++] = t; }
                else if (c > 0) { t = a[--gt]; a[gt] = a[i]; a[i] = t; }
                else i++;
            }
            if (k <= lt) hi = lt;
            else if (k <= gt) break;
            else lo = gt;
        }
        n = k;
    }
    qsort(a, n, sizeof *a, cmp);
}

static int gaps_prepare(gaps *q)
{
    const tw_report *r = q->r;
    const rplace *pl = r->places.v;
    size_t np = r->places.n + 1, nu = r->units.n + 1;
    uint32_t **arrs[] = { &q->unp, &q->dup, &q->twice, &q->cand, &q->seekp, &q->rec_next, &q->rec_head,
                          &q->unit_head, &q->sug_start, &q->cand_pos };
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++)
        if (!(*arrs[i] = malloc(np * sizeof **arrs[i]))) return TW_ENOMEM;
    if (!(q->seekg = malloc((r->groups.n + 1) * sizeof *q->seekg)) ||
        !(q->gclus = malloc((r->groups.n + 1) * sizeof *q->gclus)) ||
        !(q->gnext = malloc((r->groups.n + 1) * sizeof *q->gnext)) ||
        !(q->gcount = malloc((r->groups.n + 1) * sizeof *q->gcount)) ||
        !(q->dangling = malloc((r->links.n + 1) * sizeof *q->dangling)) ||
        !(q->unit_next = malloc(nu * sizeof *q->unit_next)) ||
        !(q->scratch = malloc((nu > np ? nu : np) * sizeof *q->scratch)) ||
        !(q->sug_groups = malloc((TW_REPORT_SUGGEST * r->groups.n + 1) * sizeof *q->sug_groups)))
        return TW_ENOMEM;
    for (uint32_t i = 0; i < r->places.n; i++) q->rec_head[i] = q->unit_head[i] = NIL32;
    for (uint32_t i = (uint32_t)r->places.n; i-- > 0;) {
        uint32_t root = find_root((rplace *)pl, i);
        q->rec_next[i] = q->rec_head[root];
        q->rec_head[root] = i;
    }
    for (uint32_t u = (uint32_t)r->units.n; u-- > 0;) {
        int64_t id = r->units.v[u].ident;
        if (id < 0) continue;
        q->unit_next[u] = q->unit_head[id];
        q->unit_head[id] = u;
    }
    for (uint32_t i = 0; i < r->places.n; i++) {
        if (pl[i].parent != i) continue;
        const rplace *rep = &pl[pl[i].rep];
        if (!pl[i].active) {
            q->unp[q->nunp++] = i;
            ct_add(&q->t[0], rep->sub);
            ct_add(&q->t[1], rep->kind);
        }
        if (!pl[i].taken) q->cand[q->ncand++] = i;
        if (pl[i].ngroups >= 2) { q->dup[q->ndup++] = i; ct_add(&q->t[2], rep->sub); }
        if (pl[i].nprec >= 2) q->twice[q->ntwice++] = i;
        if (pl[i].any_seeking) q->seekp[q->nseekp++] = i;
    }
    for (uint32_t i = 0; i < r->groups.n; i++)
        if (r->groups.v[i].parent == i && r->groups.v[i].any_seeking) q->seekg[q->nseekg++] = i;
    for (uint32_t i = 0; i < r->links.n; i++)
        if (r->links.v[i].g < 0 || r->links.v[i].p < 0) q->dangling[q->ndangling++] = i;
    sort_r = r;
    /* Lists shown only up to TW_REPORT_LIST_MAX rows need only their first
     * rows in order; candidates and seeking groups are all used (the
     * suggestions), so sorted in full. */
    sort_first(q->unp, q->nunp, TW_REPORT_LIST_MAX, cmp_candidate);
    sort_first(q->dup, q->ndup, TW_REPORT_LIST_MAX, cmp_ident_ref);
    sort_first(q->twice, q->ntwice, TW_REPORT_LIST_MAX, cmp_ident_ref);
    qsort(q->cand, q->ncand, sizeof *q->cand, cmp_candidate);
    qsort(q->seekg, q->nseekg, sizeof *q->seekg, cmp_group_ref);
    sort_first(q->seekp, q->nseekp, TW_REPORT_LIST_MAX, cmp_ident_ref);
    sort_first(q->dangling, q->ndangling, TW_REPORT_LIST_MAX, cmp_link_ref);
    int rc = group_clusters(q);
    if (rc) return rc;
    for (size_t k = 0; k < q->ncand; k++) q->cand_pos[q->cand[k]] = (uint32_t)k;
    /* Seeking groups by the candidate position they are given, in group
     * order: a counting sort. */
    memset(q->sug_start, 0, np * sizeof *q->sug_start);
    for (size_t g = 0; q->ncand && g < q->nseekg; g++)
        for (size_t j = 0; j < nsuggest(q); j++) q->sug_start[suggest_pos(q, g, j) + 1]++;
    for (size_t k = 0; k < q->ncand; k++) q->sug_start[k + 1] += q->sug_start[k];
    for (size_t g = 0; q->ncand && g < q->nseekg; g++)
        for (size_t j = 0; j < nsuggest(q); j++) {
            size_t k = suggest_pos(q, g, j);
            /* sug_start[k] counts up while filling; restored below. */
            q->sug_groups[q->sug_start[k]++] = q->seekg[g];
        }
    for (size_t k = q->ncand; k > 0; k--) q->sug_start[k] = q->sug_start[k - 1];
    q->sug_start[0] = 0;
    return 0;
}

static void gaps_free(gaps *q)
{
    free(q->unp); free(q->dup); free(q->twice); free(q->cand); free(q->seekg); free(q->seekp);
    free(q->rec_next); free(q->rec_head); free(q->unit_next); free(q->unit_head);
    free(q->sug_start); free(q->sug_groups); free(q->cand_pos);
    free(q->gclus); free(q->gnext); free(q->gcount); free(q->dangling); free(q->scratch);
}

int tw_report_gaps(const tw_report *r, bool counts_only, tw_buf *out)
{
    if (!r->finished || r->compact) return TW_ESTATE;
    gaps q;
    memset(&q, 0, sizeof q);
    q.r = r;
    int rc = gaps_prepare(&q);
    if (rc) goto done;
    size_t idents = 0, gidents = 0;
    for (uint32_t i = 0; i < r->places.n; i++) idents += r->places.v[i].parent == i;
    for (uint32_t i = 0; i < r->groups.n; i++) gidents += r->groups.v[i].parent == i;
    static const char *const ck[] = { "dangling_links", "duplicated_places", "group_identities",
                                      "groups_listed_twice", "place_identities", "places_listed_twice",
                                      "seeking_groups", "seeking_places", "unpartnered_places" };
    uint64_t cv[] = { q.ndangling, q.ndup, gidents, q.ngclus, idents, q.ntwice, q.nseekg, q.nseekp, q.nunp };
    /* Keys in sorted order. */
    if ((rc = tw_mpw_map(out, counts_only ? 4 : 11)) || (rc = put_named(out, "counts", 9, ck, cv)) ||
        (!counts_only && ((rc = gaps_dangling(&q, out)) || (rc = gaps_duplicated(&q, out)))) ||
        (rc = put_ctab(out, "duplicated_by_governorate", &q.t[2])) ||
        (!counts_only && ((rc = gaps_groups_twice(&q, out)) || (rc = gaps_twice(&q, out)) ||
                          (rc = gaps_seeking_places(&q, out)) ||
                          (rc = gaps_suggestions(&q, out)) || (rc = gaps_unpartnered(&q, out)))) ||
        (rc = put_ctab(out, "unpartnered_by_governorate", &q.t[0])) ||
        (rc = put_ctab(out, "unpartnered_by_kind", &q.t[1])))
        goto done;
done:
    gaps_free(&q);
    return rc;
}

/* ---------------------------------------------------------- governorates */

/* Governorate index of a place identity (by its representative), or ng. */
static size_t gov_index(const tw_report *r, uint32_t root, const tw_code *govs, size_t ng)
{
    const char *sub = r->places.v[r->places.v[root].rep].sub;
    for (size_t i = 0; i < ng; i++)
        if (govs[i].code == sub) return i;
    return ng;
}

/* Places by governorate (code list order), then English name, then reference. */
static int cmp_gov_place(const void *x, const void *y)
{
    size_t ng;
    const tw_code *g = tw_codes_governorates(&ng);
    uint32_t ra = *(const uint32_t *)x, rb = *(const uint32_t *)y;
    size_t ga = gov_index(sort_r, ra, g, ng), gb = gov_index(sort_r, rb, g, ng);
    if (ga != gb) return ga < gb ? -1 : 1;
    const rplace *a = &sort_r->places.v[sort_r->places.v[ra].rep], *b = &sort_r->places.v[sort_r->places.v[rb].rep];
    int c = strcmp(nz(a->name_en), nz(b->name_en));
    return c ? c : ref_cmp(sort_r, a->author, a->slot, b->author, b->slot);
}

/* A place's links by the name of their group, then its reference. */
static int cmp_unit_group(const void *x, const void *y)
{
    const runit *ua = &sort_r->units.v[*(const uint32_t *)x], *ub = &sort_r->units.v[*(const uint32_t *)y];
    const rgroup *a = grep_of(sort_r, (uint32_t)ua->g), *b = grep_of(sort_r, (uint32_t)ub->g);
    int c = strcmp(nz(a->name), nz(b->name));
    return c ? c : ref_cmp(sort_r, a->author, a->slot, b->author, b->slot);
}

/* {confirmed, formality, group, name, nation, region, since, status} of a
 * link of a place, its group by the identity's representative. */
static int put_partner(tw_buf *b, const tw_report *r, const runit *un)
{
    const rgroup *g = grep_of(r, (uint32_t)un->g);
    const rlink *l = &r->links.v[un->gov];
    int rc;
    if ((rc = tw_mpw_map(b, 8)) || (rc = tw_mpw_cstr(b, "confirmed")) || (rc = tw_mpw_bool(b, unit_confirmed(un))) ||
        (rc = put_kstr(b, "formality", l->formality)) || (rc = put_ref(b, r, "group", g->author, g->slot)) ||
        (rc = put_kstr(b, "name", g->name)) || (rc = put_kstr(b, "nation", g->nation)) ||
        (rc = put_kstr(b, "region", g->region)) || (rc = tw_mpw_cstr(b, "since")) || (rc = tw_mpw_uint(b, l->since)) ||
        (rc = put_kstr(b, "status", l->status)))
        return rc;
    return 0;
}

int tw_report_governorates(const tw_report *r, tw_buf *out)
{
    if (!r->finished || r->compact) return TW_ESTATE;
    size_t ng, np = r->places.n, nu = r->units.n, nroots = 0;
    const tw_code *govs = tw_codes_governorates(&ng);
    uint32_t *roots = malloc((np + 1) * sizeof *roots), *uhead = malloc((np + 1) * sizeof *uhead);
    uint32_t *unext = malloc((nu + 1) * sizeof *unext), *us = malloc((nu + 1) * sizeof *us);
    size_t *gstart = calloc(ng + 2, sizeof *gstart);
    int rc = TW_ENOMEM;
    if (!roots || !uhead || !unext || !us || !gstart) goto done;
    for (uint32_t i = 0; i < np; i++) uhead[i] = NIL32;
    for (uint32_t u = (uint32_t)nu; u-- > 0;) {
        const runit *un = &r->units.v[u];
        if (un->ident < 0 || un->g < 0) continue;    /* a link to no known group: in "dangling" */
        unext[u] = uhead[un->ident];
        uhead[un->ident] = u;
    }
    for (uint32_t i = 0; i < np; i++) {
        if (r->places.v[i].parent != i) continue;
        size_t gi = gov_index(r, i, govs, ng);
        if (gi == ng) continue;
        roots[nroots++] = i;
        gstart[gi + 1]++;
    }
    for (size_t i = 0; i < ng; i++) gstart[i + 1] += gstart[i];
    sort_r = r;
    qsort(roots, nroots, sizeof *roots, cmp_gov_place);
    if ((rc = tw_mpw_arr(out, (uint32_t)ng))) goto done;
    for (size_t gi = 0; gi < ng; gi++) {
        size_t n = gstart[gi + 1] - gstart[gi], shown = capped(n);
        if ((rc = tw_mpw_map(out, 5)) || (rc = put_kstr(out, "code", govs[gi].code)) ||
            (rc = put_kstr(out, "name_ar", govs[gi].name_ar)) || (rc = put_kstr(out, "name_en", govs[gi].name)) ||
            (rc = tw_mpw_cstr(out, "places")) || (rc = tw_mpw_arr(out, (uint32_t)shown)))
            goto done;
        for (size_t k = 0; k < shown; k++) {
            uint32_t root = roots[gstart[gi] + k];
            size_t nl = 0;
            for (uint32_t u = uhead[root]; u != NIL32; u = unext[u]) us[nl++] = u;
            qsort(us, nl, sizeof *us, cmp_unit_group);
            if ((rc = put_place(out, r, root, 2)) || (rc = tw_mpw_cstr(out, "partners")) ||
                (rc = tw_mpw_arr(out, capped(nl))))
                goto done;
            for (size_t j = 0; j < capped(nl); j++)
                if ((rc = put_partner(out, r, &r->units.v[us[j]]))) goto done;
            if ((rc = tw_mpw_cstr(out, "seeking")) || (rc = tw_mpw_bool(out, r->places.v[root].any_seeking))) goto done;
        }
        if ((rc = tw_mpw_cstr(out, "places_total")) || (rc = tw_mpw_uint(out, n))) goto done;
    }
done:
    free(roots);
    free(uhead);
    free(unext);
    free(us);
    free(gstart);
    return rc;
}

/* --------------------------------------------------------------- names */

static int put_code_name(tw_buf *b, const tw_code *c)
{
    int rc;
    if ((rc = tw_mpw_cstr(b, c->code)) || (rc = tw_mpw_map(b, 1 + (c->name_ar != NULL))) ||
        (c->name_ar && (rc = put_kstr(b, "ar", c->name_ar))) || (rc = put_kstr(b, "en", c->name)))
        return rc;
    return 0;
}

int tw_report_names(const tw_report *r, tw_buf *out)
{
    if (!r->finished || r->compact) return TW_ESTATE;
    size_t ng, nr, nc, n = 0;
    const tw_code *govs = tw_codes_governorates(&ng), *regs = tw_codes_uk_regions(&nr);
    const tw_code *ctry = tw_codes_countries(&nc);
    /* Countries: those of some place, found by their interned code. */
    bool *used = calloc(nc + 1, sizeof *used);
    if (!used) return TW_ENOMEM;
    for (size_t i = 0; i < r->places.n; i++) {
        const char *c = r->places.v[i].country;
        if (c != NONE && c != OTHER) {
            const tw_code *k = tw_code_find_sorted(ctry, nc, c, strlen(c));
            if (k && !used[k - ctry]) { used[k - ctry] = true; n++; }
        }
    }
    /* Keys sorted: country codes (two capitals) sort after region codes
     * (E12..., N92..., S92..., W92...) only partly, so all are gathered
     * and sorted. */
    const tw_code **all = malloc((ng + nr + n + 1) * sizeof *all);
    size_t na = 0;
    int rc = TW_ENOMEM;
    if (!all) goto done;
    for (size_t i = 0; i < ng; i++) all[na++] = &govs[i];
    for (size_t i = 0; i < nr; i++) all[na++] = &regs[i];
    for (size_t i = 0; i < nc; i++) if (used[i]) all[na++] = &ctry[i];
    for (size_t i = 1; i < na; i++)          /* insertion sort: a few hundred at most */
        for (size_t j = i; j > 0 && strcmp(all[j]->code, all[j - 1]->code) < 0; j--) {
            const tw_code *x = all[j]; all[j] = all[j - 1]; all[j - 1] = x;
        }
    if ((rc = tw_mpw_map(out, (uint32_t)na))) goto done;
    for (size_t i = 0; i < na && !rc; i++) rc = put_code_name(out, all[i]);
done:
    free(used);
    free(all);
    return rc;
}
