/*
 * Associations and their keys (include/twin/ident.h, proto/PROTOCOL.md
 * "Associations and their keys").
 *
 * Records are appended to one array as they are put, each with a sequence
 * number; a compute sorts them by (kind, author, slot, sequence) and keeps
 * the last of each slot, so a put costs O(1) and a load of the whole store
 * O(n log n).  Everything else is a function of the surviving records,
 * walked in sorted order, so the result cannot depend on the order of
 * arrival: the unit test feeds every permutation of small cases.
 *
 * A compute works in fresh arrays and swaps them in only at the end, so a
 * failed allocation leaves the previous answers in force.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "twin/err.h"
#include "twin/ident.h"
#include "twin/keytext.h"

#define KLEN TW_IDENT_KEY_LEN

enum { K_VOUCH = 0, K_DEVICE, K_SUCCESSION, K_RECOVERY, K_KEYPLAN };

typedef struct irec {
    uint8_t kind;
    bool dead, revoked;
    uint8_t author[KLEN];
    uint8_t skey[KLEN];          /* the slot: a key, or a commitment */
    uint8_t next[KLEN];          /* succession, recovery */
    uint64_t from, ts, seq;      /* from: recovery; device (0: none given) */
    uint8_t id[TW_ID_LEN];
    char *label;
    size_t label_len;
} irec;

/* A key's links, while computing. */
typedef struct link {
    uint8_t key[KLEN];
    uint8_t succ[KLEN];
    bool has_succ, has_pred, lost;
    uint8_t pred[KLEN];
    uint64_t cutoff, since;
} link;

struct tw_ident {
    uint8_t (*roots)[KLEN];
    size_t nroots;
    irec *r;
    size_t n, cap;
    uint64_t seq;
    bool sorted;                 /* r is compacted and sorted */
    tw_ident_key *res;           /* sorted by key */
    tw_ident_key *byid;          /* the same, by identity in limit_cmp order */
    size_t nres;
    char *labels;                /* label bytes of res */
    uint8_t (*changed)[KLEN];
    size_t nchanged;
};

static int kcmp(const void *a, const void *b) { return memcmp(a, b, KLEN); }

static int rec_cmp(const void *x, const void *y)
{
    const irec *a = x, *b = y;
    if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
    int c = memcmp(a->author, b->author, KLEN);
    if (c) return c;
    if ((c = memcmp(a->skey, b->skey, KLEN))) return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static bool same_slot(const irec *a, const irec *b)
{
    return a->kind == b->kind && !memcmp(a->author, b->author, KLEN) && !memcmp(a->skey, b->skey, KLEN);
}

void tw_ident_commit_of(uint8_t out[32], const uint8_t key[KLEN])
{
    crypto_generichash(out, 32, key, KLEN, NULL, 0);
}

int tw_ident_new(tw_ident **out, const uint8_t (*roots)[KLEN], size_t nroots)
{
    *out = NULL;
    if (nroots > TW_CONF_ROOTS_MAX) return TW_ETOOBIG;
    tw_ident *t = calloc(1, sizeof *t);
    if (!t) return TW_ENOMEM;
    if (nroots && !(t->roots = malloc(nroots * KLEN))) {
        free(t);
        return TW_ENOMEM;
    }
    if (nroots) memcpy(t->roots, roots, nroots * KLEN);
    t->nroots = nroots;
    if (nroots) qsort(t->roots, nroots, KLEN, kcmp);
    t->sorted = true;
    *out = t;
    return 0;
}

void tw_ident_free(tw_ident *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) free(t->r[i].label);
    free(t->r);
    free(t->roots);
    free(t->res);
    free(t->byid);
    free(t->labels);
    free(t->changed);
    free(t);
}

static int kind_of(const char *kind, size_t len)
{
    /* Asked of every record stored (tw_admit_stored): the length picks the
     * one name to compare, where strlen and memcmp of all five took 1 % of
     * the loop thread's time at ingest. */
    static const char *const names[] = { "vouch", "device", "succession", "recovery", "keyplan" };
    int i = len == 5 ? 0 : len == 6 ? 1 : len == 10 ? 2 : len == 8 ? 3 : len == 7 ? 4 : -1;
    return i >= 0 && memcmp(names[i], kind, len) == 0 ? i : -1;
}

bool tw_ident_kind(const char *kind, size_t kind_len) { return kind_of(kind, kind_len) >= 0; }

size_t tw_ident_records(const tw_ident *t)
{
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++) k += !t->r[i].dead;
    return k;
}

/* Sorts, keeps the last put of each slot, drops removals. */
static void compact(tw_ident *t)
{
    if (t->sorted) return;
    if (t->n) qsort(t->r, t->n, sizeof *t->r, rec_cmp);
    size_t w = 0;
    for (size_t i = 0; i < t->n; i++) {
        bool last = i + 1 == t->n || !same_slot(&t->r[i], &t->r[i + 1]);
        if (!last || t->r[i].dead) {
            free(t->r[i].label);
            continue;
        }
        t->r[w++] = t->r[i];
    }
    t->n = w;
    t->sorted = true;
}

static bool hex_decode32(uint8_t out[32], const char *s, size_t n)
{
    if (n != 64) return false;
    for (size_t i = 0; i < 32; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = s[2 * i + j];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= c - '0';
            else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
            else return false;
        }
        out[i] = (uint8_t)v;
    }
    return true;
}

static bool key_field(const tw_val *body, const char *name, uint8_t out[KLEN])
{
    const tw_val *v = tw_v_get(body, name);
    return v && v->type == TW_STR && tw_keytext_decode(out, TW_KEYTEXT_PREFIX, v->v.s, v->len) == 0;
}

int tw_ident_put(tw_ident *t, const tw_entry *e)
{
    int kind = kind_of(e->kind, e->kind_len);
    if (kind < 0) return 0;
    irec r = { .kind = (uint8_t)kind, .ts = e->ts };
    memcpy(r.author, e->author, KLEN);
    memcpy(r.id, e->id, TW_ID_LEN);
    bool ok = kind == K_KEYPLAN ? hex_decode32(r.skey, e->slot, e->slot_len)
                                : tw_keytext_decode(r.skey, TW_KEYTEXT_PREFIX, e->slot, e->slot_len) == 0;
    if (!ok) return TW_EINVAL;
    if (e->body.type != TW_MAP) {
        r.dead = true;
    } else {
        const tw_val *rev = tw_v_get(&e->body, "revoked"), *from = tw_v_get(&e->body, "from"),
                     *label = tw_v_get(&e->body, "label");
        r.revoked = rev && rev->type == TW_BOOL && rev->v.b;
        if (from && from->type == TW_UINT) r.from = from->v.u;
        if ((kind == K_SUCCESSION || kind == K_RECOVERY) && !key_field(&e->body, "next", r.next)) return TW_EINVAL;
        if (kind == K_RECOVERY && !(from && from->type == TW_UINT)) return TW_EINVAL;
        if (kind == K_DEVICE && label && label->type == TW_STR) {
            if (label->len > TW_STR_MAX) return TW_ETOOBIG;
            if (label->len && !(r.label = malloc(label->len))) return TW_ENOMEM;
            if (label->len) memcpy(r.label, label->v.s, label->len);
            r.label_len = label->len;
        }
    }
    if (t->n >= TW_IDENT_RECORDS_MAX) {
        compact(t);
        bool held = false;
        for (size_t i = 0; i < t->n && !held; i++) held = same_slot(&t->r[i], &r);
        if (t->n >= TW_IDENT_RECORDS_MAX && !held && !r.dead) {
            free(r.label);
            return TW_ETOOBIG;
        }
    }
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        irec *p = realloc(t->r, nc * sizeof *p);
        if (!p) {
            free(r.label);
            return TW_ENOMEM;
        }
        t->r = p;
        t->cap = nc;
    }
    r.seq = ++t->seq;
    t->r[t->n++] = r;
    t->sorted = false;
    return 0;
}

/* ------------------------------------------------------------- compute */

typedef struct cx {
    tw_ident *t;
    const irec *vouch, *device, *succ, *rec, *plan;   /* ranges of t->r */
    size_t nvouch, ndevice, nsucc, nrec, nplan;
    uint8_t (*vouched)[KLEN];    /* keys named by a vouch, sorted, unique */
    size_t nvouched;
    link *links;                 /* sorted by key */
    size_t nlinks, caplinks;
} cx;

static bool is_root(const tw_ident *t, const uint8_t k[KLEN])
{
    return t->nroots && bsearch(k, t->roots, t->nroots, KLEN, kcmp) != NULL;
}

/* A key another identity cannot claim: a root, or a key a vouch names. */
static bool fresh(const cx *c, const uint8_t k[KLEN])
{
    return !is_root(c->t, k) && !(c->nvouched && bsearch(k, c->vouched, c->nvouched, KLEN, kcmp));
}

static int ver_cmp(uint64_t ta, const uint8_t *ia, uint64_t tb, const uint8_t *ib)
{
    if (ta != tb) return ta < tb ? -1 : 1;
    return memcmp(ia, ib, TW_ID_LEN);
}

/* The records of kind range r[0..n) by one author start at *i. */
static size_t author_run(const irec *r, size_t n, size_t i)
{
    size_t j = i;
    while (j < n && !memcmp(r[j].author, r[i].author, KLEN)) j++;
    return j;
}

/* Commitments of key a: 0, 1 (in commit) or 2 (more than one). */
static int commitment(const irec *plan, size_t nplan, const uint8_t a[KLEN], uint8_t commit[32])
{
    size_t lo = 0, hi = nplan;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (memcmp(plan[m].author, a, KLEN) < 0) lo = m + 1;
        else hi = m;
    }
    int k = 0;
    for (size_t i = lo; i < nplan && !memcmp(plan[i].author, a, KLEN); i++) {
        if (k == 0 && commit) memcpy(commit, plan[i].skey, 32);
        k++;
    }
    return k > 1 ? 2 : k;
}

/* The valid rotation of the author of succ[i..j): the earliest (ts, id)
 * to a fresh key other than itself that matches its commitment, if any. */
static const irec *rotation(const cx *c, size_t i, size_t j)
{
    uint8_t commit[32];
    int k = commitment(c->plan, c->nplan, c->succ[i].author, commit);
    if (k == 2) return NULL;
    const irec *best = NULL;
    for (size_t x = i; x < j; x++) {
        const irec *r = &c->succ[x];
        if (!memcmp(r->next, r->author, KLEN) || !fresh(c, r->next)) continue;
        if (k == 1) {
            uint8_t h[32];
            tw_ident_commit_of(h, r->next);
            if (memcmp(h, commit, 32)) continue;
        }
        if (!best || ver_cmp(r->ts, r->id, best->ts, best->id) < 0) best = r;
    }
    return best;
}

static link *find_link(const cx *c, const uint8_t k[KLEN])
{
    return c->nlinks ? bsearch(k, c->links, c->nlinks, sizeof *c->links, kcmp) : NULL;
}

static int add_link(cx *c, const uint8_t k[KLEN])
{
    if (c->nlinks == c->caplinks) {
        size_t nc = c->caplinks ? c->caplinks * 2 : 32;
        link *p = realloc(c->links, nc * sizeof *p);
        if (!p) return TW_ENOMEM;
        c->links = p;
        c->caplinks = nc;
    }
    link *l = &c->links[c->nlinks++];
    memset(l, 0, sizeof *l);
    memcpy(l->key, k, KLEN);
    l->cutoff = TW_IDENT_NEVER;
    return 0;
}

static int link_cmp(const void *x, const void *y) { return memcmp(x, y, KLEN); }

/* Sort and merge duplicate keys (first occurrence kept). */
static void sort_links(cx *c)
{
    if (c->nlinks) qsort(c->links, c->nlinks, sizeof *c->links, link_cmp);
    size_t w = 0;
    for (size_t i = 0; i < c->nlinks; i++)
        if (!w || memcmp(c->links[w - 1].key, c->links[i].key, KLEN)) c->links[w++] = c->links[i];
    c->nlinks = w;
}

/* The identity of k: its predecessors followed back to the first key.  A
 * cycle (possible only among keys no vouch names, on an open network)
 * gives the smallest key on it. */
static void identity_of(const cx *c, const uint8_t k[KLEN], uint8_t out[KLEN])
{
    const uint8_t *cur = k, *min = k;
    for (size_t steps = 0; steps <= c->nlinks; steps++) {
        const link *l = find_link(c, cur);
        if (!l || !l->has_pred) {
            memcpy(out, cur, KLEN);
            return;
        }
        cur = l->pred;
        if (memcmp(cur, min, KLEN) < 0) min = cur;
    }
    memcpy(out, min, KLEN);
}

typedef struct edge {
    uint8_t next[KLEN], from[KLEN];
    uint64_t cutoff;
} edge;

static int edge_cmp(const void *x, const void *y)
{
    const edge *a = x, *b = y;
    int c = memcmp(a->next, b->next, KLEN);
    if (c) return c;
    if (a->cutoff != b->cutoff) return a->cutoff < b->cutoff ? -1 : 1;
    return memcmp(a->from, b->from, KLEN);
}

/* Builds c->links from the rotations and, when use_rec, the recoveries
 * authorised under the identities of the previous pass (prev, may be NULL
 * on the first). */
static int build_links(cx *c, bool use_rec, const cx *prev)
{
    c->nlinks = 0;
    for (size_t i = 0; i < c->nsucc;) {
        size_t j = author_run(c->succ, c->nsucc, i);
        const irec *rot = rotation(c, i, j);
        if (rot) {
            int rc;
            if ((rc = add_link(c, rot->author))) return rc;
            link *l = &c->links[c->nlinks - 1];
            l->has_succ = true;
            memcpy(l->succ, rot->next, KLEN);
            l->cutoff = rot->ts + 1;        /* the rotation is the old key's last entry */
            l->since = rot->ts;
        }
        i = j;
    }
    sort_links(c);
    if (use_rec) {
        /* Recoveries, sorted by (lost key, from, ts, id) below. */
        for (size_t i = 0; i < c->nrec; i++) {
            const irec *r = &c->rec[i];
            if (!memcmp(r->next, r->skey, KLEN) || !fresh(c, r->next)) continue;
            bool ok = is_root(c->t, r->author);
            if (!ok) {
                uint8_t lost_id[KLEN], signer_id[KLEN];
                identity_of(prev, r->skey, lost_id);
                identity_of(prev, r->author, signer_id);
                for (size_t v = 0; v < c->nvouch && !ok; v++) {
                    const irec *vr = &c->vouch[v];
                    if (vr->revoked || memcmp(vr->skey, lost_id, KLEN)) continue;
                    uint8_t vid[KLEN];
                    identity_of(prev, vr->author, vid);
                    ok = !memcmp(vid, signer_id, KLEN) && memcmp(vid, lost_id, KLEN) != 0;
                }
            }
            if (!ok) continue;
            /* A recovery outranks every rotation by the lost key: a thief
             * may date its rotation before `from`, so no date can make a
             * rotation win.  Of several recoveries the earliest from counts. */
            link *l = find_link(c, r->skey);
            if (l && l->lost) continue;
            if (!l) {
                int rc;
                if ((rc = add_link(c, r->skey))) return rc;
                sort_links(c);
                l = find_link(c, r->skey);
            }
            l->has_succ = true;
            l->lost = true;
            memcpy(l->succ, r->next, KLEN);
            l->cutoff = r->from;
            l->since = r->ts;
        }
    }
    /* Predecessors: each key succeeds one key at most, the one that handed
     * over first. */
    size_t ne = 0;
    for (size_t i = 0; i < c->nlinks; i++) ne += c->links[i].has_succ;
    edge *e = ne ? malloc(ne * sizeof *e) : NULL;
    if (ne && !e) return TW_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < c->nlinks; i++) {
        if (!c->links[i].has_succ) continue;
        memcpy(e[k].next, c->links[i].succ, KLEN);
        memcpy(e[k].from, c->links[i].key, KLEN);
        e[k++].cutoff = c->links[i].cutoff;
    }
    if (ne) qsort(e, ne, sizeof *e, edge_cmp);
    size_t base = c->nlinks;
    for (size_t i = 0; i < ne; i++) {
        if (i && !memcmp(e[i].next, e[i - 1].next, KLEN)) {
            link *l = find_link(c, e[i].from);      /* another key took it first */
            if (l) l->has_succ = false;
            continue;
        }
        int rc;
        if ((rc = add_link(c, e[i].next))) {
            free(e);
            return rc;
        }
        link *l = &c->links[c->nlinks - 1];
        l->has_pred = true;
        memcpy(l->pred, e[i].from, KLEN);
    }
    free(e);
    /* Merge the predecessor entries into the links (a key may have both). */
    if (c->nlinks > base) {
        qsort(c->links, c->nlinks, sizeof *c->links, link_cmp);
        size_t w = 0;
        for (size_t i = 0; i < c->nlinks; i++) {
            if (w && !memcmp(c->links[w - 1].key, c->links[i].key, KLEN)) {
                link *a = &c->links[w - 1], *b = &c->links[i];
                if (b->has_pred) {
                    a->has_pred = true;
                    memcpy(a->pred, b->pred, KLEN);
                }
                if (b->has_succ && !a->has_succ) {
                    a->has_succ = true;
                    memcpy(a->succ, b->succ, KLEN);
                    a->cutoff = b->cutoff;
                    a->since = b->since;
                    a->lost = b->lost;
                }
                continue;
            }
            c->links[w++] = c->links[i];
        }
        c->nlinks = w;
    }
    return 0;
}

static int res_cmp(const void *x, const void *y) { return memcmp(x, y, KLEN); }

/* By identity, its own key first, chain keys, devices in use, revoked
 * devices, then since and key: the order in which keys count against
 * TW_IDENT_KEYS_SHOWN, and in which views compare them. */
static int limit_cmp(const void *x, const void *y)
{
    const tw_ident_key *a = x, *b = y;
    int c = memcmp(a->identity, b->identity, KLEN);
    if (c) return c;
    bool sa = !memcmp(a->key, a->identity, KLEN), sb = !memcmp(b->key, b->identity, KLEN);
    if (sa != sb) return sa ? -1 : 1;
    bool da = a->role == TW_IDENT_DEVICE, db = b->role == TW_IDENT_DEVICE;
    if (da != db) return da ? 1 : -1;
    if (a->revoked != b->revoked) return a->revoked ? 1 : -1;
    if (a->since != b->since) return a->since < b->since ? -1 : 1;
    return memcmp(a->key, b->key, KLEN);
}

static int rec_by_slot(const void *x, const void *y)
{
    const irec *a = x, *b = y;
    int c = memcmp(a->skey, b->skey, KLEN);
    if (c) return c;
    if (a->from != b->from) return a->from < b->from ? -1 : 1;
    return ver_cmp(a->ts, a->id, b->ts, b->id);
}

static int dev_cmp(const void *x, const void *y)
{
    const irec *a = x, *b = y;
    int c = memcmp(a->skey, b->skey, KLEN);
    return c ? c : ver_cmp(a->ts, a->id, b->ts, b->id);
}

/* A device key cannot certify devices.  A key counts as one here when a
 * device record names it, no vouch or root makes it an identity of its own
 * and no succession links it (so naming an admitted key as one's device
 * does not silence it). */
static bool device_author(const cx *c, const irec *devs, const uint8_t a[KLEN])
{
    if (!fresh(c, a) || find_link(c, a)) return false;
    size_t lo = 0, hi = c->ndevice;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (memcmp(devs[m].skey, a, KLEN) < 0) lo = m + 1;
        else hi = m;
    }
    return lo < c->ndevice && !memcmp(devs[lo].skey, a, KLEN);
}

static const tw_ident_key *find_res(const tw_ident *t, const uint8_t k[KLEN])
{
    return t->nres ? bsearch(k, t->res, t->nres, sizeof *t->res, res_cmp) : NULL;
}

int tw_ident_compute(tw_ident *t)
{
    compact(t);
    cx c = { .t = t }, c0 = { .t = t };
    irec *recs = NULL, *devs = NULL;
    tw_ident_key *res = NULL;
    char *labels = NULL;
    uint8_t (*chg)[KLEN] = NULL;
    int rc = TW_ENOMEM;
    /* Ranges per kind (sorted by kind first). */
    const irec **rng[5] = { &c.vouch, &c.device, &c.succ, &c.rec, &c.plan };
    size_t *cnt[5] = { &c.nvouch, &c.ndevice, &c.nsucc, &c.nrec, &c.nplan };
    for (size_t i = 0; i < t->n;) {
        size_t j = i;
        while (j < t->n && t->r[j].kind == t->r[i].kind) j++;
        *rng[t->r[i].kind] = &t->r[i];
        *cnt[t->r[i].kind] = j - i;
        i = j;
    }
    if (c.nvouch && !(c.vouched = malloc(c.nvouch * KLEN))) goto out;
    for (size_t i = 0; i < c.nvouch; i++) memcpy(c.vouched[i], c.vouch[i].skey, KLEN);
    if (c.nvouch) qsort(c.vouched, c.nvouch, KLEN, kcmp);
    for (size_t i = 0; i < c.nvouch; i++)
        if (!c.nvouched || memcmp(c.vouched[c.nvouched - 1], c.vouched[i], KLEN)) memcpy(c.vouched[c.nvouched++], c.vouched[i], KLEN);
    /* Recoveries by lost key, earliest from first; devices by device key. */
    if (c.nrec) {
        if (!(recs = malloc(c.nrec * sizeof *recs))) goto out;
        memcpy(recs, c.rec, c.nrec * sizeof *recs);
        qsort(recs, c.nrec, sizeof *recs, rec_by_slot);
        c.rec = recs;
    }
    if (c.ndevice) {
        if (!(devs = malloc(c.ndevice * sizeof *devs))) goto out;
        memcpy(devs, c.device, c.ndevice * sizeof *devs);
        qsort(devs, c.ndevice, sizeof *devs, dev_cmp);
    }
    /* Pass one: rotations only, to judge who may recover whom. */
    c0 = c;
    c0.links = NULL;
    c0.nlinks = c0.caplinks = 0;
    if ((rc = build_links(&c0, false, NULL))) goto out;
    if ((rc = build_links(&c, true, &c0))) goto out;
    rc = TW_ENOMEM;
    /* Results: every key in a chain, then devices. */
    size_t cap = c.nlinks + c.ndevice + 1, nres = 0, lbytes = 0;
    for (size_t i = 0; i < c.ndevice; i++) lbytes += devs[i].label_len;
    if (!(res = calloc(cap, sizeof *res)) || !(labels = malloc(lbytes + 1))) goto out;
    size_t lpos = 0;
    for (size_t i = 0; i < c.nlinks; i++) {
        const link *l = &c.links[i];
        tw_ident_key *k = &res[nres++];
        memcpy(k->key, l->key, KLEN);
        identity_of(&c, l->key, k->identity);
        k->role = !memcmp(k->identity, l->key, KLEN) ? TW_IDENT_FIRST : TW_IDENT_SUCCESSOR;
        k->cutoff = l->has_succ ? l->cutoff : TW_IDENT_NEVER;
        k->revoked = l->has_succ && l->lost;
        k->current = !l->has_succ;
        k->label = "";
        if (l->has_pred) {
            const link *p = find_link(&c, l->pred);
            k->since = p ? p->since : 0;
        }
    }
    size_t nchain = nres;
    for (size_t i = 0; i < c.ndevice;) {
        size_t j = i;
        while (j < c.ndevice && !memcmp(devs[j].skey, devs[i].skey, KLEN)) j++;
        const uint8_t *d = devs[i].skey;
        if (!fresh(&c, d) || find_link(&c, d)) {
            i = j;
            continue;
        }
        /* Valid certifications: by a key of an identity, current at the
         * record's time.  devs[i..j) are in version order. */
        const irec *first = NULL, *newest = NULL;
        uint8_t who[KLEN];
        for (size_t x = i; x < j; x++) {
            const irec *r = &devs[x];
            if (!memcmp(r->author, d, KLEN) || device_author(&c, devs, r->author)) continue;
            const link *al = find_link(&c, r->author);
            if (al && al->has_succ && r->ts >= al->cutoff) continue;
            uint8_t aid[KLEN];
            identity_of(&c, r->author, aid);
            if (!first) {
                first = r;
                memcpy(who, aid, KLEN);
            }
            if (!memcmp(aid, who, KLEN)) newest = r;
        }
        i = j;
        if (!first) continue;
        tw_ident_key *k = &res[nres++];
        memcpy(k->key, d, KLEN);
        memcpy(k->identity, who, KLEN);
        k->role = TW_IDENT_DEVICE;
        k->revoked = newest->revoked;
        k->cutoff = newest->revoked ? (newest->from ? newest->from : newest->ts) : TW_IDENT_NEVER;
        k->since = first->ts;
        k->label = labels + lpos;
        if (newest->label_len) memcpy(labels + lpos, newest->label, newest->label_len);
        k->label_len = newest->label_len;
        lpos += newest->label_len;
    }
    /* A first key with a device but no succession is listed too. */
    for (size_t i = nchain; i < nres; i++) {
        bool have = false;
        for (size_t x = 0; x < nres && !have; x++) have = !memcmp(res[x].key, res[i].identity, KLEN);
        if (have) continue;
        if (nres == cap) {
            tw_ident_key *p = realloc(res, (cap *= 2) * sizeof *p);
            if (!p) goto out;
            res = p;
        }
        tw_ident_key *k = &res[nres++];
        memset(k, 0, sizeof *k);
        memcpy(k->key, res[i].identity, KLEN);
        memcpy(k->identity, res[i].identity, KLEN);
        k->role = TW_IDENT_FIRST;
        k->cutoff = TW_IDENT_NEVER;
        k->current = true;
        k->label = "";
    }
    /* At most TW_IDENT_KEYS_SHOWN - 1 devices in use per identity (views
     * compare that many keys): one beyond, by (since, key), is not
     * certified.  Revoked devices do not count and are never dropped (they
     * hold history; a revocation replaces the certifying record, so its
     * since would move); nor are chain keys. */
    qsort(res, nres, sizeof *res, limit_cmp);
    {
        size_t w = 0, run = 0;
        for (size_t i = 0; i < nres; i++) {
            if (i == 0 || memcmp(res[i].identity, res[i - 1].identity, KLEN)) run = 0;
            if (res[i].role == TW_IDENT_DEVICE && !res[i].revoked && ++run >= TW_IDENT_KEYS_SHOWN) continue;
            res[w++] = res[i];
        }
        nres = w;
    }
    qsort(res, nres, sizeof *res, res_cmp);
    /* Changes against the previous results. */
    size_t nch = 0;
    if (!(chg = malloc((nres + t->nres + 1) * KLEN))) goto out;
    for (size_t a = 0, b = 0; a < nres || b < t->nres;) {
        int d = a == nres ? 1 : b == t->nres ? -1 : memcmp(res[a].key, t->res[b].key, KLEN);
        if (d < 0) memcpy(chg[nch++], res[a++].key, KLEN);
        else if (d > 0) memcpy(chg[nch++], t->res[b++].key, KLEN);
        else {
            if (memcmp(res[a].identity, t->res[b].identity, KLEN) || res[a].cutoff != t->res[b].cutoff)
                memcpy(chg[nch++], res[a].key, KLEN);
            a++;
            b++;
        }
    }
    tw_ident_key *byid = nres ? malloc(nres * sizeof *byid) : NULL;
    if (nres && !byid) goto out;
    if (nres) memcpy(byid, res, nres * sizeof *byid);
    if (nres) qsort(byid, nres, sizeof *byid, limit_cmp);
    free(t->res);
    free(t->byid);
    free(t->labels);
    free(t->changed);
    t->byid = byid;
    t->res = res;
    t->nres = nres;
    t->labels = labels;
    t->changed = chg;
    t->nchanged = nch;
    res = NULL;
    labels = NULL;
    chg = NULL;
    rc = 0;
out:
    free(c.vouched);
    free(c.links);
    free(c0.links);
    free(recs);
    free(devs);
    free(res);
    free(labels);
    free(chg);
    return rc;
}

/* ------------------------------------------------------------- queries */

void tw_ident_lookup(const tw_ident *t, const uint8_t key[KLEN], tw_ident_key *out)
{
    const tw_ident_key *k = find_res(t, key);
    if (k) {
        *out = *k;
        return;
    }
    memset(out, 0, sizeof *out);
    memcpy(out->key, key, KLEN);
    memcpy(out->identity, key, KLEN);
    out->role = TW_IDENT_SELF;
    out->cutoff = TW_IDENT_NEVER;
    out->current = true;
    out->label = "";
}

int tw_ident_check(const tw_ident *t, const uint8_t author[KLEN], uint64_t ts, const char **why)
{
    const tw_ident_key *k = find_res(t, author);
    if (!k || ts < k->cutoff) return 0;
    if (why)
        *why = k->role == TW_IDENT_DEVICE ? "key revoked as a device of its association (entries dated from the revocation on)"
             : k->revoked ? "key lost: its association was recovered to a new key (entries dated from the recovery on)"
                          : "key succeeded by its association's next key (entries dated after the succession)";
    return TW_EREFUSED;
}

void tw_ident_current(const tw_ident *t, const uint8_t key[KLEN], uint8_t out[KLEN])
{
    tw_ident_key k;
    tw_ident_lookup(t, key, &k);
    /* The identity's chain: the one key of it with no successor. */
    for (size_t i = 0; i < t->nres; i++) {
        const tw_ident_key *r = &t->res[i];
        if (r->role != TW_IDENT_DEVICE && r->current && !memcmp(r->identity, k.identity, KLEN)) {
            memcpy(out, r->key, KLEN);
            return;
        }
    }
    memcpy(out, k.identity, KLEN);
}

size_t tw_ident_keys(const tw_ident *t, const uint8_t identity[KLEN], tw_ident_key *out, size_t cap)
{
    /* byid is ordered by identity, the identity's own key first, then in
     * the order views compare keys: one binary search and a run. */
    size_t lo = 0, hi = t->nres, n = 0;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (memcmp(t->byid[m].identity, identity, KLEN) < 0) lo = m + 1;
        else hi = m;
    }
    for (size_t i = lo; i < t->nres && !memcmp(t->byid[i].identity, identity, KLEN); i++) {
        if (!memcmp(t->byid[i].key, identity, KLEN)) continue;
        if (out && n < cap) out[n] = t->byid[i];
        n++;
    }
    return n;
}

int tw_ident_commitment(const tw_ident *t, const uint8_t key[KLEN], uint8_t commit[32])
{
    size_t i = 0;
    while (i < t->n && t->r[i].kind < K_KEYPLAN) i++;
    if (!t->sorted) {
        /* Not compacted since the last put: count directly. */
        int k = 0;
        for (size_t x = 0; x < t->n; x++) {
            const irec *r = &t->r[x];
            if (r->kind != K_KEYPLAN || r->dead || memcmp(r->author, key, KLEN)) continue;
            bool dup = false;
            for (size_t y = x + 1; y < t->n && !dup; y++) dup = same_slot(r, &t->r[y]);
            if (dup) continue;
            if (!k) memcpy(commit, r->skey, 32);
            k++;
        }
        return k > 1 ? 2 : k;
    }
    return commitment(&t->r[i], t->n - i, key, commit);
}

bool tw_ident_same(const tw_ident *a, const tw_ident *b)
{
    if (a->nres != b->nres) return false;
    for (size_t i = 0; i < a->nres; i++) {
        const tw_ident_key *x = &a->res[i], *y = &b->res[i];
        if (memcmp(x->key, y->key, KLEN) || memcmp(x->identity, y->identity, KLEN) || x->cutoff != y->cutoff ||
            x->role != y->role)
            return false;
    }
    return true;
}

size_t tw_ident_changed(const tw_ident *t, const uint8_t (**keys)[KLEN])
{
    *keys = (const uint8_t (*)[KLEN])t->changed;
    return t->nchanged;
}
