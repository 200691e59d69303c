/*
 * The push tree (include/twin/plumtree.h).
 *
 * A link is eager or lazy on both sides at once, as far as each side
 * knows: whoever changes it tells the other (PRUNE, GRAFT), so that the
 * eager links form one tree shared by every origin.  Messages that cross
 * (a PRUNE one way while a GRAFT goes the other) can leave the two sides
 * disagreeing for a while; that costs a duplicate (which prunes again) or
 * a repair by announcement (which grafts again), never an entry.
 *
 * The table of missing ids is an open-addressing hash table with linear
 * probing and backward-shift deletion, at most half full, keyed by the
 * caller's random bytes: ids come from peers, who could otherwise choose
 * ids that all land in one run.
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/plumtree.h"

/* ------------------------------------------------------------- links */

void tw_plum_link_init(tw_plum_link *l, bool capable)
{
    memset(l, 0, sizeof *l);
    l->capable = capable;
    l->eager = true;
}

static void window(tw_plum_link *l, uint64_t now)
{
    if (now < l->window_start || now - l->window_start >= TW_PUSH_CTRL_WINDOW_MS) {
        l->window_start = now;
        l->ctrl_sent = l->ctrl_recv = 0;
    }
}

tw_plum_route tw_plum_link_route(tw_plum_link *l)
{
    if (!l->capable || l->eager) {
        l->pushes_sent++;
        return TW_PLUM_PUSH;
    }
    l->ihave_sent++;
    return TW_PLUM_ANNOUNCE;
}

bool tw_plum_link_duplicate(tw_plum_link *l, uint64_t now)
{
    l->dups_recv++;
    if (!l->capable) return false;
    /* Lazy here already: pushes sent before our PRUNE arrived are still
     * coming.  One that comes TW_PUSH_GRAFT_WAIT_MS after it means the
     * peer holds the link eager (our PRUNE crossed its GRAFT): prune
     * again, or it would push in full for good. */
    if (!l->eager && now - l->pruned_at < TW_PUSH_GRAFT_WAIT_MS) return false;
    window(l, now);
    if (l->ctrl_sent >= TW_PUSH_CTRL_MAX) return false;
    l->ctrl_sent++;
    l->eager = false;
    l->pruned_at = now;
    l->prunes_sent++;
    return true;
}

bool tw_plum_link_graft(tw_plum_link *l, uint64_t now)
{
    /* Eager here does not stop a GRAFT: the peer announced the entry, so
     * it holds the link lazy (its PRUNE crossed ours, or our GRAFT was
     * lost with a budget spent). */
    if (!l->capable) return false;
    window(l, now);
    if (l->ctrl_sent >= TW_PUSH_CTRL_MAX) return false;
    l->ctrl_sent++;
    l->eager = true;
    l->grafts_sent++;
    return true;
}

int tw_plum_link_on_ctrl(tw_plum_link *l, bool graft, uint64_t now, const char **why)
{
    if (!l->capable) {
        *why = graft ? "GRAFT without the push-tree feature" : "PRUNE without the push-tree feature";
        return TW_EPROTO;
    }
    window(l, now);
    if (++l->ctrl_recv > 2 * TW_PUSH_CTRL_MAX) {
        *why = "more than 64 PRUNE and GRAFT messages in 10 s (TW_PUSH_CTRL_MAX)";
        return TW_EPROTO;
    }
    if (graft) l->grafts_recv++;
    else l->prunes_recv++;
    /* A PRUNE from the peer counts as ours for the rule above: pushes it
     * sent before it may still come. */
    if (!graft && l->eager) l->pruned_at = now;
    l->eager = graft;
    return 0;
}

int tw_plum_link_on_ihave(tw_plum_link *l, size_t n, const char **why)
{
    if (!l->capable) {
        *why = "IHAVE without the push-tree feature";
        return TW_EPROTO;
    }
    l->ihave_recv += n;
    return 0;
}

/* ------------------------------------------------------ missing table */

typedef struct rec {
    bool used;
    uint8_t n, next;            /* announcers kept, and the next one to ask */
    uint8_t id[TW_PLUM_ID_LEN];
    uint64_t due;
    uint64_t peers[TW_PUSH_ANNOUNCERS_MAX];
} rec;

struct tw_plum_missing {
    rec *slot;
    size_t cap, n, max, cursor;
    uint8_t key[crypto_shorthash_KEYBYTES];
};

static size_t home(const tw_plum_missing *m, const uint8_t *id)
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v;
    crypto_shorthash(h, id, TW_PLUM_ID_LEN, m->key);
    memcpy(&v, h, sizeof v);
    return (size_t)(v & (m->cap - 1));
}

/* The slot holding id, or the empty slot where it would go. */
static size_t probe(const tw_plum_missing *m, const uint8_t *id)
{
    size_t i = home(m, id);
    while (m->slot[i].used && memcmp(m->slot[i].id, id, TW_PLUM_ID_LEN) != 0) i = (i + 1) & (m->cap - 1);
    return i;
}

int tw_plum_missing_new(tw_plum_missing **out, size_t max, const uint8_t key[TW_PLUM_HASH_KEY_LEN])
{
    if (!out || max == 0 || max > ((size_t)1 << 24)) return TW_EINVAL;
    tw_plum_missing *m = calloc(1, sizeof *m);
    if (!m) return TW_ENOMEM;
    m->cap = 4;
    while (m->cap < 2 * max) m->cap *= 2;
    m->slot = calloc(m->cap, sizeof *m->slot);
    if (!m->slot) { free(m); return TW_ENOMEM; }
    m->max = max;
    memcpy(m->key, key, sizeof m->key);
    *out = m;
    return 0;
}

void tw_plum_missing_free(tw_plum_missing *m)
{
    if (!m) return;
    free(m->slot);
    free(m);
}

int tw_plum_missing_add(tw_plum_missing *m, const uint8_t id[TW_PLUM_ID_LEN], uint64_t peer, uint64_t now)
{
    size_t i = probe(m, id);
    rec *r = &m->slot[i];
    if (r->used) {
        for (unsigned k = 0; k < r->n; k++)
            if (r->peers[k] == peer) return 0;
        if (r->n < TW_PUSH_ANNOUNCERS_MAX) r->peers[r->n++] = peer;
        return 0;
    }
    if (m->n >= m->max) return TW_EFULL;
    memset(r, 0, sizeof *r);
    r->used = true;
    memcpy(r->id, id, TW_PLUM_ID_LEN);
    r->due = now + TW_PUSH_MISSING_MS;
    r->peers[0] = peer;
    r->n = 1;
    m->n++;
    return 0;
}

/* Empties slot i and moves up the records of its run that may take it. */
static void erase_at(tw_plum_missing *m, size_t i)
{
    size_t mask = m->cap - 1, j = i;
    m->slot[i].used = false;
    m->n--;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slot[j].used) return;
        size_t h = home(m, m->slot[j].id);
        /* Record j may move to the hole i unless its home lies cyclically
         * in (i, j]. */
        bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (stays) continue;
        m->slot[i] = m->slot[j];
        m->slot[j].used = false;
        i = j;
    }
}

bool tw_plum_missing_got(tw_plum_missing *m, const uint8_t id[TW_PLUM_ID_LEN])
{
    if (!m->n) return false;
    size_t i = probe(m, id);
    if (!m->slot[i].used) return false;
    erase_at(m, i);
    return true;
}

bool tw_plum_missing_due(tw_plum_missing *m, uint64_t now, uint8_t id[TW_PLUM_ID_LEN], uint64_t *peer)
{
    /* One sweep of the table per run of calls: the cursor stays where the
     * last call returned, and goes back to the start when a sweep ends. */
    while (m->n && m->cursor < m->cap) {
        rec *r = &m->slot[m->cursor];
        if (!r->used || r->due > now) { m->cursor++; continue; }
        if (r->next >= r->n) {            /* every announcer asked: give up */
            erase_at(m, m->cursor);       /* slot cursor may hold another record now */
            continue;
        }
        memcpy(id, r->id, TW_PLUM_ID_LEN);
        *peer = r->peers[r->next++];
        r->due = now + TW_PUSH_GRAFT_WAIT_MS;
        m->cursor++;
        return true;
    }
    m->cursor = 0;
    return false;
}

void tw_plum_missing_peer_gone(tw_plum_missing *m, uint64_t peer)
{
    for (size_t i = 0; i < m->cap && m->n; i++) {
        rec *r = &m->slot[i];
        if (!r->used) continue;
        for (unsigned k = 0; k < r->n; k++) {
            if (r->peers[k] != peer) continue;
            memmove(r->peers + k, r->peers + k + 1, (size_t)(r->n - k - 1) * sizeof r->peers[0]);
            r->n--;
            if (k < r->next) r->next--;
            break;
        }
        /* A record with no source left is forgotten when next due. */
    }
}

size_t tw_plum_missing_count(const tw_plum_missing *m) { return m->n; }

/* ---------------------------------------------------------- raced ids */

void tw_plum_recent_add(tw_plum_recent *r, const uint8_t id[TW_PLUM_ID_LEN])
{
    memcpy(r->id[r->next], id, TW_PLUM_ID_LEN);
    r->next = (r->next + 1) % TW_PUSH_RACED_MAX;
    if (r->n < TW_PUSH_RACED_MAX) r->n++;
}

bool tw_plum_recent_take(tw_plum_recent *r, const uint8_t id[TW_PLUM_ID_LEN])
{
    /* The n slots before next, newest first. */
    for (size_t k = 1; k <= r->n; k++) {
        size_t i = (r->next + TW_PUSH_RACED_MAX - k) % TW_PUSH_RACED_MAX;
        if (memcmp(r->id[i], id, TW_PLUM_ID_LEN) != 0) continue;
        /* The older ones move up one slot, in order: the oldest still
         * gives way first. */
        size_t oldest = (r->next + TW_PUSH_RACED_MAX - r->n) % TW_PUSH_RACED_MAX;
        for (size_t j = i; j != oldest;) {
            size_t prev = (j + TW_PUSH_RACED_MAX - 1) % TW_PUSH_RACED_MAX;
            memcpy(r->id[j], r->id[prev], TW_PLUM_ID_LEN);
            j = prev;
        }
        r->n--;
        return true;
    }
    return false;
}
