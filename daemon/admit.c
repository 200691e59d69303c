/* Admission in the daemon (daemon/admit.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/ident.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "twin/negentropy.h"
#include "twin/schema.h"
#include "twin/trust.h"
#include "twin/vec.h"
#include "admit.h"
#include "log.h"
#include "net.h"
#include "node.h"

#define ERR(code, ...) do { snprintf(err, errlen, __VA_ARGS__); return (code); } while (0)

typedef struct tw_admit {
    uint8_t roots[TW_CONF_ROOTS_MAX][TW_KEY_LEN];
    size_t nroots;
    tw_trust *t;                 /* NULL on an open network */
    tw_ident *id;                /* associations and their keys; on every network */
    tw_ident *old_id;            /* the one before, while changes are applied */
    bool old_cuts;               /* old_id had cut-offs (some records hidden by them) */
    bool dirty;                  /* vouches changed since the last settle */
    bool hiding;                 /* some stored records are hidden */
    /* The admitted keys as of the last settle, sorted, to tell what a
     * settle changed; snap_open: the network was open then. */
    uint8_t (*snap)[TW_KEY_LEN];
    size_t nsnap;
    bool snap_open;
    uint64_t gen;                /* admission changes, for tw_admit_generation */
} tw_admit;

static const char *why_text(int why)
{
    switch (why) {
    case TW_TRUST_UNVOUCHED: return "author not admitted: no admitted member vouches for it";
    case TW_TRUST_REVOKED:   return "author not admitted: its vouchers revoked it";
    case TW_TRUST_TOO_DEEP:  return "author not admitted: vouched for beyond the configured vouch depth";
    case TW_TRUST_BANNED:    return "author not admitted: revoked by a root";
    default:                 return "author not admitted";
    }
}

/* ------------------------------------------------------------- records */

static bool is_vouch(const tw_entry *e) { return e->kind_len == 5 && memcmp(e->kind, "vouch", 5) == 0; }

/* Applies one current vouch record (or its tombstone) to t, as a vouch by
 * author: the identity of the key that signed it (proto/PROTOCOL.md
 * "Associations and their keys": vouches are the association's). */
/* Whether a vouch record (a map) revokes the key it names. */
static bool vouch_revokes(const tw_entry *e)
{
    const tw_val *rev = tw_v_get(&e->body, "revoked");
    return rev && rev->type == TW_BOOL && rev->v.b;
}

static int apply_vouch(tw_trust *t, const uint8_t author[TW_KEY_LEN], const tw_entry *e)
{
    uint8_t key[TW_KEY_LEN];
    if (tw_keytext_decode(key, TW_KEYTEXT_PREFIX, e->slot, e->slot_len)) return TW_EINVAL;
    if (e->body.type != TW_MAP) {
        int rc = tw_trust_del_vouch(t, author, key);
        return rc == TW_ENOTFOUND ? 0 : rc;
    }
    /* Every stored vouch passed the record rule on its way in; checked
     * again with the same function, not a second copy of its vouch part. */
    if (tw_schema_check_record(e->kind, e->kind_len, e->slot, e->slot_len, &e->body, TW_RULES_RECEIPT, NULL, 0))
        return TW_ESCHEMA;
    const tw_val *name = tw_v_get(&e->body, "name"), *role = tw_v_get(&e->body, "role");
    int r = role && role->type == TW_STR && role->len == 3 && memcmp(role->v.s, "hub", 3) == 0 ? TW_TRUST_HUB
                                                                                           : TW_TRUST_MEMBER;
    bool revoked = vouch_revokes(e);
    return tw_trust_put_vouch(t, author, key, name && name->type == TW_STR ? name->v.s : NULL,
                              name && name->type == TW_STR ? name->len : 0, r, revoked, e->ts);
}

/* Vouch records of the store, kept to be fed in timestamp order: two keys
 * of one association may each hold a record for the same key, and the
 * newer one must be the one that counts. */
typedef struct vload {
    tw_ident *id;
    tw_arena a;
    struct vl { uint8_t author[TW_KEY_LEN]; uint64_t ts; uint8_t id[TW_ID_LEN]; tw_entry e; } *v;
    size_t n, cap;
} vload;

static int load_vouch(void *ctx, const uint8_t *key, size_t klen, const tw_entry *e)
{
    vload *l = ctx;
    if (tw_ident_check(l->id, e->author, e->ts, NULL)) return 0;     /* by a key cut off then */
    struct vl *p = tw_vec_room(l->v, &l->cap, l->n, sizeof *p, 64);
    if (!p) return TW_ENOMEM;
    l->v = p;
    struct vl *x = &l->v[l->n];
    tw_ident_key ik;
    tw_ident_lookup(l->id, e->author, &ik);
    memcpy(x->author, ik.identity, TW_KEY_LEN);
    x->ts = e->ts;
    memcpy(x->id, e->id, TW_ID_LEN);
    /* A copy that outlives the scan's arena. */
    uint8_t *env = tw_arena_alloc(&l->a, e->env_len);
    if (!env) return TW_ENOMEM;
    memcpy(env, e->env, e->env_len);
    if (tw_entry_parse_known(env, e->env_len, e->id, &l->a, &x->e)) return 0;
    l->n++;
    return 0;
}

static int vl_cmp(const void *x, const void *y)
{
    const struct vl *a = x, *b = y;
    return tw_entry_cmp_version(a->ts, a->id, b->ts, b->id);
}

static int load_ident(void *ctx, const uint8_t *key, size_t klen, const tw_entry *e)
{
    int rc = tw_ident_put(ctx, e);
    if (rc == TW_ENOMEM) return rc;
    if (rc) tw_warn("admit", "a stored %.*s record is not counted: %s", (int)e->kind_len, e->kind, tw_strerror(rc));
    return 0;
}

/* The identity table from the store's device, succession, recovery,
 * keyplan and vouch records. */
static int build_ident(tw_node *n, tw_ident **out)
{
    tw_admit *a = n->admit;
    static const char *const kinds[] = { "vouch", "device", "succession", "recovery", "keyplan" };
    tw_ident *id;
    int rc = tw_ident_new(&id, (const uint8_t (*)[TW_KEY_LEN])a->roots, a->nroots);
    if (rc) return rc;
    for (size_t k = 0; k < 5 && rc == 0; k++)
        rc = tw_store_scan_entries(n->store, kinds[k], strlen(kinds[k]), NULL, 0, load_ident, id);
    if (rc || (rc = tw_ident_compute(id))) {
        tw_ident_free(id);
        return rc;
    }
    *out = id;
    return 0;
}

/* A trust table from the roots and the vouch records in the store, each
 * counted as its signer's association's, under the identity table id. */
static int build(tw_node *n, tw_ident *id, tw_trust **out)
{
    tw_admit *a = n->admit;
    uint8_t hk[TW_TRUST_HASH_KEY_LEN];
    *out = NULL;
    if (!a->nroots) return 0;
    randombytes_buf(hk, sizeof hk);
    tw_trust *t;
    int rc = tw_trust_new(&t, (const uint8_t (*)[TW_KEY_LEN])a->roots, a->nroots, n->cfg.vouch_depth, hk);
    if (rc) return rc;
    vload l = { .id = id };
    tw_arena_init(&l.a, 0);
    rc = tw_store_scan_entries(n->store, "vouch", 5, NULL, 0, load_vouch, &l);
    if (rc == 0) {
        if (l.n) qsort(l.v, l.n, sizeof *l.v, vl_cmp);
        for (size_t i = 0; i < l.n && rc == 0; i++) {
            int r = apply_vouch(t, l.v[i].author, &l.v[i].e);
            if (r == TW_ENOMEM) rc = r;
            else if (r) tw_warn("admit", "a stored vouch record is not counted: %s", tw_strerror(r));
        }
    }
    free(l.v);
    tw_arena_free(&l.a);
    if (rc || (rc = tw_trust_compute(t))) {
        tw_trust_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ------------------------------------------------------------- visibility */

static int cmp_key(const void *x, const void *y) { return memcmp(x, y, TW_KEY_LEN); }

bool tw_admit_is_open(const tw_node *n) { return !n->admit || !n->admit->t; }

/* The association a key writes for (the key itself for a key no record
 * names: every single-node association). */
static void identity(const tw_admit *a, const uint8_t key[TW_KEY_LEN], uint8_t out[TW_KEY_LEN])
{
    tw_ident_key k;
    if (!a || !a->id) {
        memcpy(out, key, TW_KEY_LEN);
        return;
    }
    tw_ident_lookup(a->id, key, &k);
    memcpy(out, k.identity, TW_KEY_LEN);
}

void tw_admit_identity(const tw_node *n, const uint8_t key[TW_KEY_LEN], uint8_t out[TW_KEY_LEN])
{
    identity(n->admit, key, out);
}

bool tw_node_visible(const tw_node *n, const uint8_t author[TW_KEY_LEN])
{
    if (tw_admit_is_open(n)) return true;
    uint8_t who[TW_KEY_LEN];
    identity(n->admit, author, who);
    return tw_trust_admitted(n->admit->t, who);
}

int tw_admit_check_entry(const tw_node *n, const uint8_t author[TW_KEY_LEN], uint64_t ts, const char **why)
{
    if (!n->admit || !n->admit->id) return 0;
    return tw_ident_check(n->admit->id, author, ts, why);
}

bool tw_node_visible_at(const tw_node *n, const uint8_t author[TW_KEY_LEN], uint64_t ts)
{
    return tw_admit_check_entry(n, author, ts, NULL) == 0 && tw_node_visible(n, author);
}

size_t tw_admit_identity_keys(const tw_node *n, const uint8_t key[TW_KEY_LEN], uint8_t (*out)[TW_KEY_LEN], size_t cap)
{
    uint8_t who[TW_KEY_LEN];
    identity(n->admit, key, who);
    if (!cap) return 0;
    memcpy(out[0], who, TW_KEY_LEN);
    size_t k = 1;
    if (!n->admit || !n->admit->id) return k;
    tw_ident_key ks[64];
    size_t m = tw_ident_keys(n->admit->id, who, ks, 64);
    for (size_t i = 0; i < m && i < 64 && k < cap; i++) memcpy(out[k++], ks[i].key, TW_KEY_LEN);
    return k;
}

bool tw_node_shown(tw_node *n, const tw_entry *e)
{
    if (!tw_node_visible_at(n, e->author, e->ts)) return false;
    if (!n->admit || !n->admit->id) return true;
    tw_ident_key me;
    tw_ident_lookup(n->admit->id, e->author, &me);
    if (me.role == TW_IDENT_SELF) return true;
    /* One slot per association: another of its keys may hold a newer
     * version of this (kind, slot).  Versions cut off do not count. */
    uint8_t keys[TW_IDENT_KEYS_SHOWN][TW_KEY_LEN];
    size_t k = tw_admit_identity_keys(n, e->author, keys, TW_IDENT_KEYS_SHOWN);
    for (size_t i = 0; i < k; i++) {
        if (!memcmp(keys[i], e->author, TW_KEY_LEN)) continue;
        uint8_t id[TW_ID_LEN];
        uint64_t ts;
        if (tw_store_slot(n->store, e->kind, e->kind_len, keys[i], e->slot, e->slot_len, id, &ts)) continue;
        if (tw_ident_check(n->admit->id, keys[i], ts, NULL)) continue;
        if (tw_entry_cmp_version(ts, id, e->ts, e->id) > 0) return false;
    }
    return true;
}

int tw_node_author_shown(tw_node *n, const uint8_t author[TW_KEY_LEN])
{
    if (!tw_node_visible(n, author)) return 0;
    if (!n->admit || !n->admit->id) return 1;
    tw_ident_key me;
    tw_ident_lookup(n->admit->id, author, &me);
    /* A key no record names is its own association, never cut off: its
     * entries are shown when it is visible, whatever their time. */
    return me.role == TW_IDENT_SELF && me.cutoff == TW_IDENT_NEVER ? 1 : -1;
}

int tw_admit_describe(const tw_node *n, const uint8_t key[TW_KEY_LEN], char *buf, size_t cap)
{
    tw_ident_key k;
    char fpr[TW_FPR_CHARS + 1], afpr[TW_FPR_CHARS + 1], name[TW_STR_MAX + 1] = "";
    unsigned depth;
    int role;
    tw_key_fingerprint(fpr, key);
    if (!n->admit || !n->admit->id) return snprintf(buf, cap, "%s", fpr) < 0 ? TW_EINVAL : 0;
    tw_ident_lookup(n->admit->id, key, &k);
    tw_key_fingerprint(afpr, k.identity);
    if (!tw_admit_member(n, k.identity, name, sizeof name, &depth, &role) || !name[0]) snprintf(name, sizeof name, "%s", afpr);
    if (k.role == TW_IDENT_DEVICE)
        snprintf(buf, cap, "device %.*s of %s", (int)k.label_len, k.label, name);
    else if (k.role == TW_IDENT_SUCCESSOR || (k.role == TW_IDENT_FIRST && !k.current))
        snprintf(buf, cap, "%s key of %s", k.current ? "current" : "former", name);
    else
        snprintf(buf, cap, "%s", name);
    return 0;
}

bool tw_admit_visible_cb(void *node, const uint8_t author[TW_KEY_LEN], uint64_t ts)
{
    return tw_node_visible_at(node, author, ts);
}

static bool snap_visible(const tw_admit *a, const uint8_t key[TW_KEY_LEN])
{
    return a->snap_open || bsearch(key, a->snap, a->nsnap, TW_KEY_LEN, cmp_key) != NULL;
}

/* Whether an entry was visible before the change being applied: its
 * association admitted in the snapshot, its key not cut off by then. */
static bool was_visible(const tw_admit *a, const uint8_t author[TW_KEY_LEN], uint64_t ts)
{
    const tw_ident *id = a->old_id ? a->old_id : a->id;
    tw_ident_key k;
    if (!id) return snap_visible(a, author);
    if (tw_ident_check(id, author, ts, NULL)) return false;
    tw_ident_lookup(id, author, &k);
    return snap_visible(a, k.identity);
}

int tw_admit_why(const tw_node *n, const uint8_t key[TW_KEY_LEN])
{
    if (tw_admit_is_open(n)) return TW_TRUST_OK;
    uint8_t who[TW_KEY_LEN];
    identity(n->admit, key, who);
    return tw_trust_why(n->admit->t, who);
}

bool tw_admit_refused_peer(const tw_node *n, const uint8_t key[TW_KEY_LEN], const char **why)
{
    int w = tw_admit_why(n, key);
    if (w != TW_TRUST_REVOKED && w != TW_TRUST_BANNED) return false;
    *why = w == TW_TRUST_BANNED ? "key revoked by a root" : "key revoked by its vouchers";
    return true;
}

bool tw_admit_hiding(const tw_node *n) { return n->admit && n->admit->hiding; }

unsigned tw_admit_max_depth(const tw_node *n) { return n->cfg.vouch_depth; }

bool tw_admit_voucher(const tw_node *n, const uint8_t key[TW_KEY_LEN], uint8_t voucher[TW_KEY_LEN])
{
    tw_trust_member m;
    uint8_t who[TW_KEY_LEN];
    identity(n->admit, key, who);
    if (tw_admit_is_open(n) || memcmp(who, key, TW_KEY_LEN) != 0 || tw_trust_lookup(n->admit->t, who, &m) ||
        m.role == TW_TRUST_ROOT)
        return false;
    memcpy(voucher, m.voucher, TW_KEY_LEN);
    return true;
}

bool tw_admit_vouch_admits(const tw_node *n, const tw_entry *e, uint8_t subject[TW_KEY_LEN])
{
    char name[8];
    unsigned depth = 0;
    int role;
    const char *why;
    return e->body.type == TW_MAP && !vouch_revokes(e) && tw_node_visible_at(n, e->author, e->ts) &&
           tw_admit_member(n, e->author, name, sizeof name, &depth, &role) && depth + 1 <= tw_admit_max_depth(n) &&
           tw_keytext_decode(subject, TW_KEYTEXT_PREFIX, e->slot, e->slot_len) == 0 &&
           !tw_admit_refused_peer(n, subject, &why);
}

uint64_t tw_admit_generation(const tw_node *n) { return n->admit ? n->admit->gen : 0; }

bool tw_admit_member(const tw_node *n, const uint8_t key[TW_KEY_LEN], char *name, size_t cap,
                     unsigned *depth, int *role)
{
    tw_trust_member m;
    uint8_t who[TW_KEY_LEN];
    identity(n->admit, key, who);
    if (tw_admit_is_open(n) || tw_trust_lookup(n->admit->t, who, &m)) return false;
    snprintf(name, cap, "%.*s", (int)m.name_len, m.name ? m.name : "");
    *depth = m.depth;
    *role = m.role;
    return true;
}

/* The snapshot: the admitted set in force now. */
static int take_snapshot(tw_admit *a)
{
    free(a->snap);
    a->snap = NULL;
    a->nsnap = 0;
    a->snap_open = a->t == NULL;
    if (!a->t) return 0;
    size_t k = tw_trust_count(a->t);
    if (!(a->snap = malloc((k ? k : 1) * TW_KEY_LEN))) return TW_ENOMEM;
    for (size_t i = 0; i < k; i++) {
        tw_trust_member m;
        if (tw_trust_get(a->t, i, &m)) break;
        memcpy(a->snap[a->nsnap++], m.key, TW_KEY_LEN);
    }
    qsort(a->snap, a->nsnap, TW_KEY_LEN, cmp_key);
    return 0;
}

/* ------------------------------------------------------------- changes */

typedef struct changes {
    tw_node *n;
    tw_neg_item *gone, *added;
    size_t ngone, nadded, cgone, cadded;
    size_t hidden;
    /* Per author, for the log: the last author seen and its counts. */
    uint8_t author[TW_KEY_LEN];
    size_t author_gone, author_added;
    bool have_author;
    int rc;
} changes;

static int push_item(tw_neg_item **v, size_t *n, size_t *cap, uint64_t ts, const uint8_t id[TW_ID_LEN])
{
    tw_neg_item *p = tw_vec_room(*v, cap, *n, sizeof *p, 256);
    if (!p) return TW_ENOMEM;
    *v = p;
    (*v)[*n].ts = ts;
    memcpy((*v)[*n].id, id, TW_ID_LEN);
    (*n)++;
    return 0;
}

static void log_author(changes *c)
{
    if (!c->have_author || (!c->author_gone && !c->author_added)) return;
    char fpr[TW_FPR_CHARS + 1], name[TW_STR_MAX + 1] = "";
    unsigned depth;
    int role;
    tw_key_fingerprint(fpr, c->author);
    if (c->author_added) {
        tw_admit_member(c->n, c->author, name, sizeof name, &depth, &role);
        tw_info("admit", "%s (%s) is admitted: its %zu records are part of the registry again", fpr, name,
                c->author_added);
    } else {
        tw_warn("admit", "%s lost admission (%s): its %zu records are hidden, no longer served or counted",
                fpr, why_text(tw_admit_why(c->n, c->author)), c->author_gone);
    }
}

static int change_slot(void *vctx, const char *kind, size_t kind_len, const uint8_t author[TW_KEY_LEN],
                       const char *slot, size_t slot_len, const uint8_t id[TW_ID_LEN], uint64_t ts,
                       bool tombstone)
{
    changes *c = vctx;
    tw_admit *a = c->n->admit;
    bool was = was_visible(a, author, ts), now = tw_node_visible_at(c->n, author, ts);
    if (!now) c->hidden++;
    if (was == now) return 0;
    if (!c->have_author || memcmp(c->author, author, TW_KEY_LEN) != 0) {
        /* Rows come kind by kind, so one author may be logged once per kind. */
        log_author(c);
        memcpy(c->author, author, TW_KEY_LEN);
        c->author_gone = c->author_added = 0;
        c->have_author = true;
    }
    int rc = now ? push_item(&c->added, &c->nadded, &c->cadded, ts, id)
                 : push_item(&c->gone, &c->ngone, &c->cgone, ts, id);
    if (now) c->author_added++;
    else c->author_gone++;
    return rc;
}

/* The slots of every key of an association. */
static int scan_identity(tw_node *n, const uint8_t who[TW_KEY_LEN], changes *c)
{
    uint8_t keys[TW_IDENT_KEYS_SHOWN][TW_KEY_LEN];
    size_t k = tw_admit_identity_keys(n, who, keys, TW_IDENT_KEYS_SHOWN);
    int rc = 0;
    for (size_t i = 0; i < k && rc == 0; i++) rc = tw_store_scan_slots(n->store, keys[i], change_slot, c);
    return rc;
}

/* Hands the records whose visibility changed since the snapshot to the
 * network layer.  Only the keys that gained or lost admission are looked
 * at (a range of the slot table each), unless the network went from open
 * to rooted or back, where every record is. */
static void apply_changes(tw_node *n)
{
    tw_admit *a = n->admit;
    a->gen++;
    changes c = { .n = n };
    bool gained = false;
    int rc = 0;
    bool ident_changed = a->old_id && !tw_ident_same(a->old_id, a->id);
    if (ident_changed) {
        /* Which keys belong to whom, or from when a key is cut off, has
         * changed: every record is looked at (rare: a device added or
         * revoked, a succession).  A key may now count, so peers are asked
         * again for what was refused. */
        rc = tw_store_scan_slots(n->store, NULL, change_slot, &c);
        a->hiding = c.hidden > 0;
        gained = true;
    } else if (a->snap_open != (a->t == NULL)) {
        rc = tw_store_scan_slots(n->store, NULL, change_slot, &c);
        a->hiding = c.hidden > 0;
        gained = a->t == NULL;
    } else if (a->t) {
        for (size_t i = 0; i < a->nsnap && rc == 0; i++)
            if (!tw_trust_admitted(a->t, a->snap[i])) rc = scan_identity(n, a->snap[i], &c);
        for (size_t i = 0, k = tw_trust_count(a->t); i < k && rc == 0; i++) {
            tw_trust_member m;
            if (tw_trust_get(a->t, i, &m) || snap_visible(a, m.key)) continue;
            gained = true;
            rc = scan_identity(n, m.key, &c);
        }
        /* Hidden records may remain after a gain: the flag stays set
         * (it only makes serving check authors) until a full scan. */
        a->hiding |= c.ngone > 0;
    }
    log_author(&c);
    if (rc) tw_err("admit", "cannot read the store to apply an admission change: %s", tw_strerror(rc));
    tw_net_admission_changed(n, c.gone, c.ngone, c.added, c.nadded, gained);
    free(c.gone);
    free(c.added);
    if (take_snapshot(a)) tw_err("admit", "out of memory for the admitted set");
}

void tw_admit_stored(tw_node *n, const tw_entry *e)
{
    tw_admit *a = n->admit;
    if (!a) return;
    if (tw_ident_kind(e->kind, e->kind_len) && !is_vouch(e)) {
        a->dirty = true;                /* settled from the store */
        return;
    }
    if (!a->t || !is_vouch(e)) return;
    uint8_t who[TW_KEY_LEN];
    identity(a, e->author, who);
    int rc = apply_vouch(a->t, who, e);
    if (rc) tw_warn("admit", "a vouch record is not counted: %s", tw_strerror(rc));
    a->dirty = true;
}

void tw_admit_settle(tw_node *n)
{
    tw_admit *a = n->admit;
    if (!a || !a->dirty) return;
    a->dirty = false;
    tw_trust *t;
    tw_ident *id;
    int rc = build_ident(n, &id);
    if (rc == 0 && (rc = build(n, id, &t))) tw_ident_free(id);
    if (rc) {
        /* The incremental table stays in force; the next settle retries. */
        tw_err("admit", "cannot recompute admission from the store: %s", tw_strerror(rc));
        if (a->t) tw_trust_compute(a->t);
        a->dirty = true;
        a->gen++;                       /* the incremental table may admit others now */
        return;
    }
    tw_trust_free(a->t);
    a->t = t;
    a->old_id = a->id;
    a->id = id;
    apply_changes(n);
    tw_ident_free(a->old_id);
    a->old_id = NULL;
}

/* ------------------------------------------------------------- receipt */

typedef struct vref { tw_entry *e; size_t i; } vref;

static int vref_cmp(const void *x, const void *y)
{
    const tw_entry *a = ((const vref *)x)->e, *b = ((const vref *)y)->e;
    int c = memcmp(a->author, b->author, TW_KEY_LEN);
    if (c) return c;
    if (a->slot_len != b->slot_len) return a->slot_len < b->slot_len ? -1 : 1;
    if ((c = memcmp(a->slot, b->slot, a->slot_len))) return c;
    return -tw_entry_cmp_version(a->ts, a->id, b->ts, b->id);    /* newest first */
}

/* The one stateful rule of associations and their keys, on receipt: an
 * entry by a key cut off at or before its time is refused, logged once per
 * author in a batch. */
static void filter_cutoffs(tw_node *n, tw_entry *const *ents, int *rcs, const char **whys, size_t cnt)
{
    const uint8_t *last = NULL;
    const char *lastwhy = NULL;
    size_t run = 0;
    for (size_t i = 0; i <= cnt; i++) {
        const char *why = NULL;
        bool refuse = i < cnt && rcs[i] == 0 && tw_admit_check_entry(n, ents[i]->author, ents[i]->ts, &why) != 0;
        if (last && (i == cnt || !refuse || memcmp(last, ents[i]->author, TW_KEY_LEN) != 0)) {
            char fpr[TW_FPR_CHARS + 1];
            tw_key_fingerprint(fpr, last);
            tw_info("admit", "refused %zu entr%s by %s: %s", run, run == 1 ? "y" : "ies", fpr, lastwhy);
            last = NULL;
            run = 0;
        }
        if (!refuse) continue;
        rcs[i] = TW_EREFUSED;
        whys[i] = why;
        tw_net_note_refused(n, ents[i]->id);
        if (!last) {
            last = ents[i]->author;
            lastwhy = why;
        }
        run++;
    }
}

static void filter_inner(tw_node *n, tw_entry *const *ents, int *rcs, const char **whys, size_t cnt);

static int ver_cmp_ent(const void *x, const void *y)
{
    const tw_entry *a = *(tw_entry *const *)x, *b = *(tw_entry *const *)y;
    return tw_entry_cmp_version(a->ts, a->id, b->ts, b->id);
}

/* A batch that brings device, succession, recovery or keyplan records is
 * judged under the identity table those records make together with the
 * store's, as a batch's vouches count for the rest of it: a bundle that
 * holds a succession and the new key's first entries must not refuse the
 * latter (a bundle is not fetched again).  The table is provisional; the
 * settle after the commit rebuilds it from what was stored. */
void tw_admit_filter(tw_node *n, tw_entry *const *ents, int *rcs, const char **whys, size_t cnt)
{
    tw_admit *a = n->admit;
    if (!a) return;
    size_t k = 0;
    for (size_t i = 0; i < cnt; i++)
        k += rcs[i] == 0 && tw_ident_kind(ents[i]->kind, ents[i]->kind_len) && !is_vouch(ents[i]);
    tw_ident *tmp = NULL, *saved = a->id;
    tw_entry **v = k ? malloc(k * sizeof *v) : NULL;
    if (v && build_ident(n, &tmp) == 0) {
        size_t m = 0;
        for (size_t i = 0; i < cnt; i++)
            if (rcs[i] == 0 && tw_ident_kind(ents[i]->kind, ents[i]->kind_len) && !is_vouch(ents[i])) v[m++] = ents[i];
        qsort(v, m, sizeof *v, ver_cmp_ent);
        for (size_t i = 0; i < m; i++) {
            uint8_t id[TW_ID_LEN];
            uint64_t ts;
            if (tw_store_slot(n->store, v[i]->kind, v[i]->kind_len, v[i]->author, v[i]->slot, v[i]->slot_len, id,
                              &ts) == 0 && tw_entry_cmp_version(v[i]->ts, v[i]->id, ts, id) <= 0)
                continue;      /* stale: the store holds a newer one */
            tw_ident_put(tmp, v[i]);
        }
        if (tw_ident_compute(tmp) == 0) {
            a->id = tmp;
            a->dirty = true;
        }
    }
    free(v);
    filter_inner(n, ents, rcs, whys, cnt);
    a->id = saved;
    tw_ident_free(tmp);
}

static void filter_inner(tw_node *n, tw_entry *const *ents, int *rcs, const char **whys, size_t cnt)
{
    tw_admit *a = n->admit;
    filter_cutoffs(n, ents, rcs, whys, cnt);
    if (!a->t) return;
    /* The batch's vouches that would be current once stored: the newest
     * of each (author, slot) in the batch, if newer than the store's. */
    size_t nv = 0;
    for (size_t i = 0; i < cnt; i++) nv += rcs[i] == 0 && is_vouch(ents[i]);
    vref *v = nv ? calloc(nv, sizeof *v) : NULL;
    bool *done = nv ? calloc(nv, sizeof *done) : NULL;
    if (nv && (!v || !done)) {
        /* Without memory for the fixpoint, vouches count from the next
         * batch on; entries they would admit now are refused and fetched
         * again by the next reconciliation. */
        nv = 0;
    }
    size_t k = 0;
    for (size_t i = 0; i < cnt && nv; i++)
        if (rcs[i] == 0 && is_vouch(ents[i])) v[k++] = (vref){ ents[i], i };
    if (nv) qsort(v, nv, sizeof *v, vref_cmp);
    for (size_t i = 0; i < nv; i++) {
        const tw_entry *e = v[i].e;
        if (i > 0 && vref_cmp(&v[i - 1], &v[i]) != 0 && memcmp(v[i - 1].e->author, e->author, TW_KEY_LEN) == 0 &&
            v[i - 1].e->slot_len == e->slot_len && memcmp(v[i - 1].e->slot, e->slot, e->slot_len) == 0) {
            done[i] = true;          /* an older version of the same slot */
            continue;
        }
        uint8_t id[TW_ID_LEN];
        uint64_t ts;
        if (tw_store_slot(n->store, e->kind, e->kind_len, e->author, e->slot, e->slot_len, id, &ts) == 0 &&
            tw_entry_cmp_version(e->ts, e->id, ts, id) <= 0)
            done[i] = true;          /* stale: the store holds a newer one */
    }
    /* Vouches by admitted authors count, which may admit the authors of
     * others: repeat until nothing changes (at most one round per level
     * of depth, plus one). */
    for (unsigned round = 0; round <= TW_TRUST_DEPTH_MAX + 1; round++) {
        bool changed = false;
        for (size_t i = 0; i < nv; i++) {
            uint8_t who[TW_KEY_LEN];
            identity(a, v[i].e->author, who);
            if (done[i] || !tw_trust_admitted(a->t, who) || tw_ident_check(a->id, v[i].e->author, v[i].e->ts, NULL))
                continue;
            done[i] = true;
            if (apply_vouch(a->t, who, v[i].e) == 0) changed = true;
        }
        if (!changed) break;
        a->dirty = true;
        if (tw_trust_compute(a->t)) break;
    }
    free(v);
    free(done);
    /* Everything else: admitted authors only.  One log line per author. */
    const uint8_t *last = NULL;
    size_t run = 0;
    for (size_t i = 0; i <= cnt; i++) {
        uint8_t who[TW_KEY_LEN], lastwho[TW_KEY_LEN];
        if (i < cnt) identity(a, ents[i]->author, who);
        bool refuse = i < cnt && rcs[i] == 0 && !tw_trust_admitted(a->t, who);
        if (last && (i == cnt || !refuse || memcmp(last, ents[i]->author, TW_KEY_LEN) != 0)) {
            char fpr[TW_FPR_CHARS + 1];
            tw_key_fingerprint(fpr, last);
            identity(a, last, lastwho);
            tw_info("admit", "refused %zu entr%s by %s: %s", run, run == 1 ? "y" : "ies", fpr,
                    why_text(tw_trust_why(a->t, lastwho)));
            last = NULL;
            run = 0;
        }
        if (!refuse) continue;
        rcs[i] = TW_EREFUSED;
        whys[i] = why_text(tw_trust_why(a->t, who));
        tw_net_note_refused(n, ents[i]->id);
        if (!last) last = ents[i]->author;
        run++;
    }
}

/* ------------------------------------------------------------- roots */

static int load_roots_file(tw_node *n, char *err, size_t errlen)
{
    tw_admit *a = n->admit;
    char path[TW_PATH_MAX + 32], line[256];
    snprintf(path, sizeof path, "%s/%s", n->cfg.data_dir, TW_ROOTS_FILE);
    /* Never through a symbolic link: the data directory's files are this
     * node's own (issue of a link placed there by someone else). */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!f) {
        if (fd < 0 && errno == ENOENT) return 0;
        if (fd < 0 && errno == ELOOP) ERR(TW_EPERM, "%s is a symbolic link; twind reads only a regular file there", path);
        if (fd >= 0) close(fd);
        ERR(TW_EIO, "cannot read %s: %s", path, strerror(errno));
    }
    unsigned lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t l = strcspn(line, "\r\n");
        line[l] = 0;
        while (l && (line[l - 1] == ' ' || line[l - 1] == '\t')) line[--l] = 0;
        if (!l || line[0] == '#') continue;
        if (a->nroots >= TW_CONF_ROOTS_MAX) {
            snprintf(err, errlen, "%s:%u: more than %u root keys", path, lineno, TW_CONF_ROOTS_MAX);
            rc = TW_ETOOBIG;
            break;
        }
        if (tw_keytext_decode(a->roots[a->nroots], TW_KEYTEXT_PREFIX, line, l)) {
            snprintf(err, errlen, "%s:%u: \"%s\" is not a valid node key (twk_...)", path, lineno, line);
            rc = TW_EINVAL;
            break;
        }
        a->nroots++;
    }
    fclose(f);
    return rc;
}

/* Temporary file, fsync, rename. */
int tw_admit_write_roots(tw_node *n, const uint8_t (*roots)[TW_KEY_LEN], size_t nroots,
                         const char *suffix, char *err, size_t errlen)
{
    char path[TW_PATH_MAX + 48], tmp[TW_PATH_MAX + 56];
    snprintf(path, sizeof path, "%s/%s%s", n->cfg.data_dir, TW_ROOTS_FILE, suffix);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* A fresh file (O_EXCL after removing a stale one), never a link's
     * target, then renamed over the old name. */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0) close(fd);
        ERR(TW_EIO, "cannot create %s: %s", tmp, strerror(errno));
    }
    fprintf(f, "# Root keys of this node's network, one per line (written by twin invite or twin join).\n"
               "# Root keys in the config file (root = ...) take precedence over this file.\n");
    for (size_t i = 0; i < nroots; i++) {
        char t[TW_KEYTEXT_LEN + 1];
        tw_keytext_encode(t, TW_KEYTEXT_PREFIX, roots[i]);
        fprintf(f, "%s\n", t);
    }
    bool bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        ERR(TW_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

size_t tw_node_roots(const tw_node *n, const uint8_t (**roots)[TW_KEY_LEN])
{
    *roots = (const uint8_t (*)[TW_KEY_LEN])n->admit->roots;
    return n->admit->nroots;
}

int tw_admit_set_roots(tw_node *n, const uint8_t (*roots)[TW_KEY_LEN], size_t nroots)
{
    tw_admit *a = n->admit;
    if (nroots > TW_CONF_ROOTS_MAX) return TW_ETOOBIG;
    memcpy(a->roots, roots, nroots * TW_KEY_LEN);
    a->nroots = nroots;
    tw_trust *t;
    tw_ident *id;
    int rc = build_ident(n, &id);
    if (rc) return rc;
    if ((rc = build(n, id, &t))) {
        tw_ident_free(id);
        return rc;
    }
    tw_trust_free(a->t);
    a->t = t;
    a->old_id = a->id;
    a->id = id;
    a->dirty = false;
    apply_changes(n);
    tw_ident_free(a->old_id);
    a->old_id = NULL;
    return 0;
}

int tw_node_make_root(tw_node *n, char *err, size_t errlen)
{
    tw_admit *a = n->admit;
    if (a->nroots) return 0;
    int rc = tw_admit_write_roots(n, (const uint8_t (*)[TW_KEY_LEN])&n->pk, 1, "", err, errlen);
    if (rc) return rc;
    if ((rc = tw_admit_set_roots(n, (const uint8_t (*)[TW_KEY_LEN])&n->pk, 1)))
        ERR(rc, "cannot compute admission: %s", tw_strerror(rc));
    tw_info("admit", "this node is now the root of its network: only keys it vouches for, and keys they "
                     "vouch for, may write");
    return 0;
}

/* ------------------------------------------------------------- open/close */

int tw_admit_open(tw_node *n, char *err, size_t errlen)
{
    tw_admit *a = calloc(1, sizeof *a);
    if (!a) ERR(TW_ENOMEM, "out of memory");
    n->admit = a;
    int rc;
    if (n->cfg.nroots) {
        memcpy(a->roots, n->cfg.roots, n->cfg.nroots * TW_KEY_LEN);
        a->nroots = n->cfg.nroots;
    } else if ((rc = load_roots_file(n, err, errlen))) {
        return rc;
    }
    if ((rc = build_ident(n, &a->id)) || (rc = build(n, a->id, &a->t)))
        ERR(rc, "cannot compute admission from the store: %s", tw_strerror(rc));
    /* Which stored records are hidden now (the snapshot is the set in
     * force, so nothing is a change).  On an open network only keys cut
     * off by their association hide anything. */
    changes c = { .n = n };
    if ((rc = take_snapshot(a))) ERR(rc, "out of memory");
    if (a->t || tw_ident_records(a->id)) rc = tw_store_scan_slots(n->store, NULL, change_slot, &c);
    free(c.gone);
    free(c.added);
    if (rc) ERR(rc, "cannot read the store: %s", tw_strerror(rc));
    a->hiding = c.hidden > 0;
    if (!a->t) {
        tw_info("admit", "no root keys: this is an open network where every holder of the network key may "
                         "write (`twin invite` makes this node the root; `twin join` joins a network)");
        return 0;
    }
    tw_info("admit", "%zu root key%s, %zu admitted keys, vouch depth %u%s", a->nroots, a->nroots == 1 ? "" : "s",
            tw_trust_count(a->t), n->cfg.vouch_depth, a->hiding ? "; some stored records are hidden" : "");
    return 0;
}

void tw_admit_close(tw_node *n)
{
    tw_admit *a = n->admit;
    if (!a) return;
    tw_trust_free(a->t);
    tw_ident_free(a->id);
    free(a->snap);
    free(a);
    n->admit = NULL;
}

/* ------------------------------------------------------------- encoding */

static const char *role_name(int role)
{
    return role == TW_TRUST_ROOT ? "root" : role == TW_TRUST_HUB ? "hub" : "member";
}

/* "keys": the association's other keys (successors and devices), for
 * members: [{current, key, role, label, revoked}]. */
static int encode_keys(const tw_admit *a, const uint8_t who[TW_KEY_LEN], tw_buf *out)
{
    static tw_ident_key ks[TW_IDENT_KEYS_SHOWN];
    size_t k = a->id ? tw_ident_keys(a->id, who, ks, TW_IDENT_KEYS_SHOWN) : 0;
    if (k > TW_IDENT_KEYS_SHOWN) k = TW_IDENT_KEYS_SHOWN;
    int rc;
    if ((rc = tw_mpw_cstr(out, "keys")) || (rc = tw_mpw_arr(out, (uint32_t)k))) return rc;
    for (size_t i = 0; i < k; i++) {
        char kt[TW_KEYTEXT_LEN + 1];
        tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, ks[i].key);
        if ((rc = tw_mpw_map(out, 5)) || (rc = tw_mpw_cstr(out, "current")) || (rc = tw_mpw_bool(out, ks[i].current)) ||
            (rc = tw_mpw_cstr(out, "key")) || (rc = tw_mpw_cstr(out, kt)) ||
            (rc = tw_mpw_cstr(out, "label")) || (rc = tw_mpw_str(out, ks[i].label, ks[i].label_len)) ||
            (rc = tw_mpw_cstr(out, "revoked")) || (rc = tw_mpw_bool(out, ks[i].revoked)) ||
            (rc = tw_mpw_cstr(out, "role")) ||
            (rc = tw_mpw_cstr(out, ks[i].role == TW_IDENT_DEVICE ? "device" : "successor")))
            return rc;
    }
    return 0;
}

int tw_admit_encode_members(tw_node *n, tw_buf *out)
{
    tw_admit *a = n->admit;
    size_t k = a->t ? tw_trust_count(a->t) : 0;
    int rc;
    if ((rc = tw_mpw_map(out, 4)) || (rc = tw_mpw_cstr(out, "max_depth")) ||
        (rc = tw_mpw_uint(out, n->cfg.vouch_depth)) || (rc = tw_mpw_cstr(out, "members")) ||
        (rc = tw_mpw_arr(out, (uint32_t)k)))
        return rc;
    for (size_t i = 0; i < k; i++) {
        tw_trust_member m;
        char key[TW_KEYTEXT_LEN + 1], voucher[TW_KEYTEXT_LEN + 1] = "";
        if ((rc = tw_trust_get(a->t, i, &m))) return rc;
        tw_keytext_encode(key, TW_KEYTEXT_PREFIX, m.key);
        if (m.role != TW_TRUST_ROOT) tw_keytext_encode(voucher, TW_KEYTEXT_PREFIX, m.voucher);
        tw_trust_member vm;
        bool vname = m.role != TW_TRUST_ROOT && tw_trust_lookup(a->t, m.voucher, &vm) == 0;
        if ((rc = tw_mpw_map(out, 8)) || (rc = tw_mpw_cstr(out, "depth")) || (rc = tw_mpw_uint(out, m.depth)) ||
            (rc = tw_mpw_cstr(out, "key")) || (rc = tw_mpw_cstr(out, key)) || (rc = encode_keys(a, m.key, out)) ||
            (rc = tw_mpw_cstr(out, "name")) || (rc = tw_mpw_str(out, m.name ? m.name : "", m.name_len)) ||
            (rc = tw_mpw_cstr(out, "role")) || (rc = tw_mpw_cstr(out, role_name(m.role))) ||
            (rc = tw_mpw_cstr(out, "since")) || (rc = tw_mpw_uint(out, m.since)) ||
            (rc = tw_mpw_cstr(out, "voucher")) || (rc = tw_mpw_cstr(out, voucher)) ||
            (rc = tw_mpw_cstr(out, "voucher_name")) ||
            (rc = tw_mpw_str(out, vname && vm.name ? vm.name : "", vname ? vm.name_len : 0)))
            return rc;
    }
    if ((rc = tw_mpw_cstr(out, "open")) || (rc = tw_mpw_bool(out, a->t == NULL))) return rc;
    if ((rc = tw_mpw_cstr(out, "roots")) || (rc = tw_mpw_arr(out, (uint32_t)a->nroots))) return rc;
    for (size_t i = 0; i < a->nroots; i++) {
        char key[TW_KEYTEXT_LEN + 1];
        tw_keytext_encode(key, TW_KEYTEXT_PREFIX, a->roots[i]);
        if ((rc = tw_mpw_cstr(out, key))) return rc;
    }
    return 0;
}

int tw_admit_encode_status(tw_node *n, tw_buf *out)
{
    tw_admit *a = n->admit;
    char text[TW_STR_MAX + 96];
    bool admitted = tw_node_visible(n, n->pk);
    tw_trust_member m;
    uint8_t me[TW_KEY_LEN];
    identity(a, n->pk, me);
    if (!a->t)
        snprintf(text, sizeof text, "open network (no root keys): every holder of the network key may write");
    else if (tw_trust_lookup(a->t, me, &m) == 0 && m.role == TW_TRUST_ROOT)
        snprintf(text, sizeof text, "admitted: root of the network");
    else if (admitted) {
        /* A device or successor key says whose it is. */
        tw_ident_key k;
        tw_ident_lookup(a->id, n->pk, &k);
        char what[TW_STR_MAX + 32] = "";
        if (k.role == TW_IDENT_DEVICE) snprintf(what, sizeof what, "device %.*s of ", (int)k.label_len, k.label);
        snprintf(text, sizeof text, "admitted as %s%.*s (%s, depth %u)", what, (int)m.name_len, m.name ? m.name : "",
                 role_name(m.role), m.depth);
    }
    else
        snprintf(text, sizeof text, "not admitted yet (%s): records of this node stay here until a member "
                 "vouches for it", why_text(tw_trust_why(a->t, me)) + strlen("author not admitted: "));
    int rc;
    if ((rc = tw_mpw_cstr(out, "admission")) || (rc = tw_mpw_cstr(out, text)) ||
        (rc = tw_mpw_cstr(out, "admitted")) || (rc = tw_mpw_bool(out, admitted)) ||
        (rc = tw_mpw_cstr(out, "members")) || (rc = tw_mpw_uint(out, a->t ? tw_trust_count(a->t) : 0)))
        return rc;
    return 0;
}

const struct tw_ident *tw_admit_ident(const tw_node *n) { return n->admit ? n->admit->id : NULL; }
