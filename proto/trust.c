/*
 * Admission (include/twin/trust.h, proto/PROTOCOL.md "Trust and admission").
 *
 * Keys and vouch records live in two arrays addressed by index, so that a
 * record can name its author and its key by a 32-bit index and the arrays
 * can grow without invalidating anything.  Two open-addressing tables with
 * linear probing and backward-shift deletion find a key by its bytes and a
 * record by its (author, key) pair.  The key table is hashed with SipHash
 * under the caller's random key: vouched keys are chosen by their vouchers,
 * and an unkeyed hash would let one of them grind keys onto one probe chain.
 * Each author's records are on a doubly linked list, which is all the
 * breadth-first walk needs.
 *
 * A compute works in scratch arrays and builds the new member and diff
 * lists before it touches anything published, so a failed allocation
 * leaves the previous answers standing.  A key node whose last record went
 * away is freed at once unless it was admitted: then it stays, unreferenced,
 * until the next compute has reported it as lost.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "twin/err.h"
#include "twin/trust.h"

#define KLEN TW_TRUST_KEY_LEN
#define TAB_MIN 64u
#define DEPTH_NONE 0xFFu

typedef struct tkey {
    uint8_t k[KLEN];
    uint32_t refs;      /* records naming it, as author or key, plus one for a root */
    uint32_t out;       /* first record by this key (index + 1); next free node when dead */
    uint32_t nout;      /* records by this key */
    uint32_t member;    /* index + 1 in the members of the last compute */
    uint8_t why;        /* of the last compute */
    bool live, root, admitted;
} tkey;

typedef struct tvouch {
    uint32_t author, key;   /* key indexes */
    uint32_t next, prev;    /* the author's list (index + 1); next free record when dead */
    char *name;
    uint32_t name_len;
    uint64_t ts;
    uint8_t role;
    bool revoked, live;
} tvouch;

typedef struct htab {
    uint32_t *s;        /* element index + 1, 0 for an empty slot */
    uint32_t cap;       /* a power of two, or 0 */
    uint32_t n;
} htab;

typedef struct mrec {
    tw_trust_member m;
    uint32_t kidx;
} mrec;

typedef struct drec {
    uint8_t key[KLEN];
    bool gained;
} drec;

struct tw_trust {
    unsigned max_depth;
    uint8_t hash_key[TW_TRUST_HASH_KEY_LEN];

    tkey *keys;
    uint32_t keys_len, keys_cap, keys_free;   /* keys_free: index + 1 */
    uint32_t keys_ref;                        /* nodes with refs > 0 */
    htab ktab;

    tvouch *v;
    uint32_t v_len, v_cap, v_free;
    uint32_t nvouch;
    htab vtab;

    /* Results of the last compute. */
    mrec *members;
    size_t nmembers;
    char *names;
    drec *diff;
    size_t ndiff;
};

typedef uint64_t (*elem_hash_fn)(const tw_trust *t, uint32_t elem);

/* ---- hashing ---- */

static uint64_t hash_key_bytes(const tw_trust *t, const uint8_t k[KLEN])
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t x;
    crypto_shorthash(h, k, KLEN, t->hash_key);
    memcpy(&x, h, sizeof x);
    return x;
}

/* Pair indexes are ours, not chosen by a peer, so a plain mixer is enough. */
static uint64_t hash_pair(uint32_t a, uint32_t b)
{
    uint64_t x = ((uint64_t)a << 32) | b;
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t key_elem_hash(const tw_trust *t, uint32_t e)
{
    return hash_key_bytes(t, t->keys[e].k);
}

static uint64_t vouch_elem_hash(const tw_trust *t, uint32_t e)
{
    return hash_pair(t->v[e].author, t->v[e].key);
}

/* ---- open addressing ---- */

static void ht_put(htab *h, uint64_t hash, uint32_t elem)
{
    uint32_t mask = h->cap - 1;
    uint32_t i = (uint32_t)hash & mask;
    while (h->s[i] != 0) i = (i + 1) & mask;
    h->s[i] = elem + 1;
    h->n++;
}

/* Room for need elements at a load of at most one half. */
static int ht_reserve(const tw_trust *t, htab *h, uint32_t need, elem_hash_fn fn)
{
    if ((uint64_t)need * 2 <= h->cap) return 0;
    uint32_t cap = h->cap ? h->cap : TAB_MIN;
    while ((uint64_t)need * 2 > cap) cap *= 2;
    uint32_t *s = calloc(cap, sizeof *s);
    if (!s) return TW_ENOMEM;
    htab nh = { s, cap, 0 };
    for (uint32_t i = 0; i < h->cap; i++)
        if (h->s[i]) ht_put(&nh, fn(t, h->s[i] - 1), h->s[i] - 1);
    free(h->s);
    *h = nh;
    return 0;
}

static uint32_t find_key(const tw_trust *t, const uint8_t k[KLEN])
{
    const htab *h = &t->ktab;
    if (h->n == 0) return 0;
    uint32_t mask = h->cap - 1;
    for (uint32_t i = (uint32_t)hash_key_bytes(t, k) & mask; h->s[i]; i = (i + 1) & mask)
        if (memcmp(t->keys[h->s[i] - 1].k, k, KLEN) == 0) return h->s[i];
    return 0;
}

static uint32_t find_vouch(const tw_trust *t, uint32_t a, uint32_t k)
{
    const htab *h = &t->vtab;
    if (h->n == 0) return 0;
    uint32_t mask = h->cap - 1;
    for (uint32_t i = (uint32_t)hash_pair(a, k) & mask; h->s[i]; i = (i + 1) & mask) {
        const tvouch *v = &t->v[h->s[i] - 1];
        if (v->author == a && v->key == k) return h->s[i];
    }
    return 0;
}

/* Backward-shift deletion: the elements after the hole that would not be
 * found past it move into it, so no tombstones pile up. */
static void ht_del(const tw_trust *t, htab *h, uint64_t hash, uint32_t elem, elem_hash_fn fn)
{
    uint32_t mask = h->cap - 1;
    uint32_t i = (uint32_t)hash & mask;
    while (h->s[i] != elem + 1) i = (i + 1) & mask;
    for (uint32_t j = (i + 1) & mask; h->s[j]; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)fn(t, h->s[j] - 1) & mask;
        bool move = i <= j ? (home <= i || home > j) : (home <= i && home > j);
        if (move) {
            h->s[i] = h->s[j];
            i = j;
        }
    }
    h->s[i] = 0;
    h->n--;
}

/* ---- key nodes ---- */

/* Room for extra more key nodes without a failure later on. */
static int keys_reserve(tw_trust *t, uint32_t extra)
{
    uint32_t fromfree = 0;
    for (uint32_t f = t->keys_free; f && fromfree < extra; f = t->keys[f - 1].out) fromfree++;
    uint32_t need = t->keys_len + (extra - fromfree);
    if (need > t->keys_cap) {
        uint32_t cap = t->keys_cap ? t->keys_cap : 16u;
        while (cap < need) cap *= 2;
        tkey *k = realloc(t->keys, (size_t)cap * sizeof *k);
        if (!k) return TW_ENOMEM;
        t->keys = k;
        t->keys_cap = cap;
    }
    return ht_reserve(t, &t->ktab, t->ktab.n + extra, key_elem_hash);
}

/* The caller has reserved room. */
static uint32_t key_add(tw_trust *t, const uint8_t k[KLEN])
{
    uint32_t i;
    if (t->keys_free) {
        i = t->keys_free - 1;
        t->keys_free = t->keys[i].out;
    } else {
        i = t->keys_len++;
    }
    tkey *n = &t->keys[i];
    memset(n, 0, sizeof *n);
    memcpy(n->k, k, KLEN);
    n->live = true;
    n->why = TW_TRUST_UNVOUCHED;
    ht_put(&t->ktab, hash_key_bytes(t, k), i);
    return i;
}

static void key_release(tw_trust *t, uint32_t i)
{
    tkey *n = &t->keys[i];
    ht_del(t, &t->ktab, hash_key_bytes(t, n->k), i, key_elem_hash);
    n->live = false;
    n->out = t->keys_free;
    t->keys_free = i + 1;
}

static void key_ref(tw_trust *t, uint32_t i)
{
    if (t->keys[i].refs++ == 0) t->keys_ref++;
}

static void key_unref(tw_trust *t, uint32_t i)
{
    tkey *n = &t->keys[i];
    if (--n->refs > 0) return;
    t->keys_ref--;
    /* An admitted key waits for the compute that reports its loss. */
    if (!n->admitted) key_release(t, i);
}

/* ---- lifetime ---- */

int tw_trust_new(tw_trust **out, const uint8_t (*roots)[KLEN], size_t nroots,
                 unsigned max_depth, const uint8_t hash_key[TW_TRUST_HASH_KEY_LEN])
{
    if (!out) return TW_EINVAL;
    *out = NULL;
    if (!hash_key || (nroots && !roots)) return TW_EINVAL;
    if (nroots > TW_CONF_ROOTS_MAX) return TW_ETOOBIG;
    if (max_depth > TW_TRUST_DEPTH_MAX) return TW_EINVAL;
    tw_trust *t = calloc(1, sizeof *t);
    if (!t) return TW_ENOMEM;
    t->max_depth = max_depth;
    memcpy(t->hash_key, hash_key, TW_TRUST_HASH_KEY_LEN);
    if (keys_reserve(t, (uint32_t)nroots) != 0) goto fail;
    for (size_t r = 0; r < nroots; r++) {
        if (find_key(t, roots[r])) continue;
        uint32_t i = key_add(t, roots[r]);
        t->keys[i].root = true;
        key_ref(t, i);
    }
    *out = t;
    return 0;
fail:
    tw_trust_free(t);
    return TW_ENOMEM;
}

void tw_trust_free(tw_trust *t)
{
    if (!t) return;
    for (uint32_t i = 0; i < t->v_len; i++)
        if (t->v[i].live) free(t->v[i].name);
    free(t->v);
    free(t->vtab.s);
    free(t->keys);
    free(t->ktab.s);
    free(t->members);
    free(t->names);
    free(t->diff);
    free(t);
}

/* ---- records ---- */

static char *copy_name(const char *name, size_t len)
{
    char *c = malloc(len ? len : 1);
    if (c && len) memcpy(c, name, len);
    return c;
}

int tw_trust_put_vouch(tw_trust *t, const uint8_t author[KLEN], const uint8_t key[KLEN],
                       const char *name, size_t name_len, int role, bool revoked, uint64_t ts)
{
    if (!t || !author || !key || (name_len && !name)) return TW_EINVAL;
    if (role != TW_TRUST_MEMBER && role != TW_TRUST_HUB) return TW_EINVAL;
    if (name_len > TW_STR_MAX) return TW_ETOOBIG;

    uint32_t a = find_key(t, author), k = find_key(t, key);
    uint32_t vi = (a && k) ? find_vouch(t, a - 1, k - 1) : 0;
    if (vi) {
        tvouch *v = &t->v[vi - 1];
        char *c = copy_name(name, name_len);
        if (!c) return TW_ENOMEM;
        free(v->name);
        v->name = c;
        v->name_len = (uint32_t)name_len;
        v->role = (uint8_t)role;
        v->revoked = revoked;
        v->ts = ts;
        return 0;
    }

    if (t->nvouch >= TW_TRUST_VOUCHES_MAX) return TW_ETOOBIG;
    if (a && t->keys[a - 1].nout >= TW_TRUST_VOUCHES_PER_AUTHOR_MAX) return TW_ETOOBIG;
    bool self = memcmp(author, key, KLEN) == 0;
    /* A node found with no references is a lost key awaiting its compute:
     * using it again makes it count as a key once more. */
    uint32_t more = (!a || t->keys[a - 1].refs == 0) + (!self && (!k || t->keys[k - 1].refs == 0));
    if (t->keys_ref + more > TW_TRUST_KEYS_MAX) return TW_ETOOBIG;

    uint32_t nodes = !a + (!self && !k);
    if (keys_reserve(t, nodes) != 0) return TW_ENOMEM;
    if (ht_reserve(t, &t->vtab, t->vtab.n + 1, vouch_elem_hash) != 0) return TW_ENOMEM;
    if (!t->v_free && t->v_len == t->v_cap) {
        uint32_t cap = t->v_cap ? t->v_cap * 2 : 16u;
        tvouch *nv = realloc(t->v, (size_t)cap * sizeof *nv);
        if (!nv) return TW_ENOMEM;
        t->v = nv;
        t->v_cap = cap;
    }
    char *c = copy_name(name, name_len);
    if (!c) return TW_ENOMEM;

    if (!a) a = key_add(t, author) + 1;
    if (self) k = a;
    else if (!k) k = key_add(t, key) + 1;
    if (t->v_free) {
        vi = t->v_free;
        t->v_free = t->v[vi - 1].next;
    } else {
        vi = ++t->v_len;
    }
    tvouch *v = &t->v[vi - 1];
    tkey *an = &t->keys[a - 1];
    *v = (tvouch){ .author = a - 1, .key = k - 1, .next = an->out, .prev = 0, .name = c,
                   .name_len = (uint32_t)name_len, .ts = ts, .role = (uint8_t)role,
                   .revoked = revoked, .live = true };
    if (an->out) t->v[an->out - 1].prev = vi;
    an->out = vi;
    an->nout++;
    key_ref(t, a - 1);
    key_ref(t, k - 1);
    ht_put(&t->vtab, hash_pair(a - 1, k - 1), vi - 1);
    t->nvouch++;
    return 0;
}

int tw_trust_del_vouch(tw_trust *t, const uint8_t author[KLEN], const uint8_t key[KLEN])
{
    if (!t || !author || !key) return TW_EINVAL;
    uint32_t a = find_key(t, author), k = find_key(t, key);
    uint32_t vi = (a && k) ? find_vouch(t, a - 1, k - 1) : 0;
    if (!vi) return TW_ENOTFOUND;
    tvouch *v = &t->v[vi - 1];
    tkey *an = &t->keys[a - 1];
    ht_del(t, &t->vtab, hash_pair(a - 1, k - 1), vi - 1, vouch_elem_hash);
    if (v->prev) t->v[v->prev - 1].next = v->next;
    else an->out = v->next;
    if (v->next) t->v[v->next - 1].prev = v->prev;
    an->nout--;
    free(v->name);
    v->name = NULL;
    v->live = false;
    v->next = t->v_free;
    t->v_free = vi;
    t->nvouch--;
    key_unref(t, a - 1);
    key_unref(t, k - 1);
    return 0;
}

/* ---- compute ---- */

typedef struct scratch {
    uint32_t via;       /* admitting record, index + 1 */
    uint8_t depth;      /* DEPTH_NONE when not reached */
    uint8_t why;
    bool banned;
} scratch;

static int cmp_member(const void *x, const void *y)
{
    const mrec *a = x, *b = y;
    if (a->m.depth != b->m.depth) return a->m.depth < b->m.depth ? -1 : 1;
    return memcmp(a->m.key, b->m.key, KLEN);
}

static int cmp_diff(const void *x, const void *y)
{
    const drec *a = x, *b = y;
    return memcmp(a->key, b->key, KLEN);
}

static void walk(const tw_trust *t, scratch *sc, uint32_t *queue)
{
    uint32_t head = 0, tail = 0;
    for (uint32_t i = 0; i < t->keys_len; i++) {
        const tkey *n = &t->keys[i];
        if (!n->live || !n->root) continue;
        sc[i].depth = 0;
        queue[tail++] = i;
        /* A root's revocation withdraws the key whoever else vouches for
         * it; roots themselves are only ever decided by the config. */
        for (uint32_t vi = n->out; vi; vi = t->v[vi - 1].next) {
            const tvouch *v = &t->v[vi - 1];
            if (v->revoked && !t->keys[v->key].root) sc[v->key].banned = true;
        }
    }
    /* The queue holds each depth in turn, so the first time a key is met
     * is at its shortest depth; later meetings at that same depth only
     * move the choice of voucher to a smaller key. */
    while (head < tail) {
        uint32_t u = queue[head++];
        unsigned d = sc[u].depth;
        if (d >= t->max_depth) continue;
        for (uint32_t vi = t->keys[u].out; vi; vi = t->v[vi - 1].next) {
            const tvouch *v = &t->v[vi - 1];
            uint32_t k = v->key;
            if (v->revoked || k == u || t->keys[k].root || sc[k].banned) continue;
            if (sc[k].depth == DEPTH_NONE) {
                sc[k].depth = (uint8_t)(d + 1);
                sc[k].via = vi;
                queue[tail++] = k;
            } else if (sc[k].depth == d + 1 &&
                       memcmp(t->keys[u].k, t->keys[t->v[sc[k].via - 1].author].k, KLEN) < 0) {
                sc[k].via = vi;
            }
        }
    }
    /* Reasons for the keys left out, from the records of admitted authors. */
    for (uint32_t vi = 0; vi < t->v_len; vi++) {
        const tvouch *v = &t->v[vi];
        if (!v->live || v->author == v->key) continue;
        if (sc[v->author].depth == DEPTH_NONE || sc[v->key].depth != DEPTH_NONE) continue;
        uint8_t why = sc[v->key].banned ? TW_TRUST_BANNED
                    : v->revoked ? TW_TRUST_REVOKED : TW_TRUST_TOO_DEEP;
        if (why > sc[v->key].why) sc[v->key].why = why;
    }
}

int tw_trust_compute(tw_trust *t)
{
    if (!t) return TW_EINVAL;
    uint32_t n = t->keys_len;
    scratch *sc = malloc((n ? n : 1) * sizeof *sc);
    uint32_t *queue = malloc((n ? n : 1) * sizeof *queue);
    mrec *members = NULL;
    drec *diff = NULL;
    char *names = NULL;
    if (!sc || !queue) goto nomem;
    for (uint32_t i = 0; i < n; i++)
        sc[i] = (scratch){ .via = 0, .depth = DEPTH_NONE, .why = TW_TRUST_UNVOUCHED };
    walk(t, sc, queue);

    size_t nm = 0, nd = 0, name_bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!t->keys[i].live) continue;
        bool now = sc[i].depth != DEPTH_NONE;
        if (now) {
            nm++;
            if (sc[i].via) name_bytes += t->v[sc[i].via - 1].name_len;
        }
        if (now != t->keys[i].admitted) nd++;
    }
    members = malloc((nm ? nm : 1) * sizeof *members);
    diff = malloc((nd ? nd : 1) * sizeof *diff);
    names = malloc(name_bytes ? name_bytes : 1);
    if (!members || !diff || !names) goto nomem;

    size_t im = 0, id = 0, off = 0;
    for (uint32_t i = 0; i < n; i++) {
        const tkey *kn = &t->keys[i];
        if (!kn->live) continue;
        bool now = sc[i].depth != DEPTH_NONE;
        if (now != kn->admitted) {
            memcpy(diff[id].key, kn->k, KLEN);
            diff[id++].gained = now;
        }
        if (!now) continue;
        mrec *m = &members[im++];
        memset(m, 0, sizeof *m);
        m->kidx = i;
        memcpy(m->m.key, kn->k, KLEN);
        m->m.depth = sc[i].depth;
        if (sc[i].via == 0) {
            m->m.role = TW_TRUST_ROOT;
            m->m.name = "";
        } else {
            const tvouch *v = &t->v[sc[i].via - 1];
            memcpy(m->m.voucher, t->keys[v->author].k, KLEN);
            if (v->name_len) memcpy(names + off, v->name, v->name_len);
            m->m.name = names + off;
            m->m.name_len = v->name_len;
            off += v->name_len;
            m->m.role = v->role;
            m->m.since = v->ts;
        }
    }
    qsort(members, nm, sizeof *members, cmp_member);
    qsort(diff, nd, sizeof *diff, cmp_diff);

    /* Nothing can fail from here on: publish. */
    for (uint32_t i = 0; i < n; i++) {
        tkey *kn = &t->keys[i];
        if (!kn->live) continue;
        kn->admitted = sc[i].depth != DEPTH_NONE;
        kn->why = kn->admitted ? TW_TRUST_OK : sc[i].why;
        kn->member = 0;
    }
    for (size_t i = 0; i < nm; i++) t->keys[members[i].kidx].member = (uint32_t)i + 1;
    free(t->members);
    free(t->diff);
    free(t->names);
    t->members = members;
    t->nmembers = nm;
    t->diff = diff;
    t->ndiff = nd;
    t->names = names;
    /* Lost keys that no record names any more have been reported. */
    for (uint32_t i = 0; i < n; i++)
        if (t->keys[i].live && t->keys[i].refs == 0) key_release(t, i);
    free(sc);
    free(queue);
    return 0;
nomem:
    free(sc);
    free(queue);
    free(members);
    free(diff);
    free(names);
    return TW_ENOMEM;
}

/* ---- queries ---- */

bool tw_trust_admitted(const tw_trust *t, const uint8_t key[KLEN])
{
    uint32_t i = (t && key) ? find_key(t, key) : 0;
    return i && t->keys[i - 1].admitted;
}

bool tw_trust_is_root(const tw_trust *t, const uint8_t key[KLEN])
{
    uint32_t i = (t && key) ? find_key(t, key) : 0;
    return i && t->keys[i - 1].root;
}

int tw_trust_why(const tw_trust *t, const uint8_t key[KLEN])
{
    uint32_t i = (t && key) ? find_key(t, key) : 0;
    return i ? t->keys[i - 1].why : TW_TRUST_UNVOUCHED;
}

const char *tw_trust_why_str(int why)
{
    switch (why) {
    case TW_TRUST_OK:        return "admitted";
    case TW_TRUST_UNVOUCHED: return "no admitted key vouches for it";
    case TW_TRUST_REVOKED:   return "revoked by the keys that vouched for it";
    case TW_TRUST_TOO_DEEP:  return "vouched for beyond the configured vouch depth";
    case TW_TRUST_BANNED:    return "revoked by a root key";
    default:                 return "unknown reason";
    }
}

size_t tw_trust_count(const tw_trust *t)
{
    return t ? t->nmembers : 0;
}

int tw_trust_get(const tw_trust *t, size_t i, tw_trust_member *m)
{
    if (!t || !m) return TW_EINVAL;
    if (i >= t->nmembers) return TW_ENOTFOUND;
    *m = t->members[i].m;
    return 0;
}

int tw_trust_lookup(const tw_trust *t, const uint8_t key[KLEN], tw_trust_member *m)
{
    if (!t || !key || !m) return TW_EINVAL;
    uint32_t i = find_key(t, key);
    if (!i || !t->keys[i - 1].member) return TW_ENOTFOUND;
    *m = t->members[t->keys[i - 1].member - 1].m;
    return 0;
}

size_t tw_trust_diff_count(const tw_trust *t)
{
    return t ? t->ndiff : 0;
}

int tw_trust_diff(const tw_trust *t, size_t i, uint8_t key[KLEN], bool *gained)
{
    if (!t || !key || !gained) return TW_EINVAL;
    if (i >= t->ndiff) return TW_ENOTFOUND;
    memcpy(key, t->diff[i].key, KLEN);
    *gained = t->diff[i].gained;
    return 0;
}

size_t tw_trust_records(const tw_trust *t)
{
    return t ? t->nvouch : 0;
}
