/*
 * What `search` answers, modelled from the records it visits, for the
 * checks that compare the search word index with a scan of every record
 * (tests/unit/test_wordidx.c in process, tests/tools/search_check.c on a
 * stopped node's store).  Header-only: both include it, so that the two
 * checks cannot drift apart in what they call the same answer.
 *
 * sp_tail() writes the end of an answer: its total, and the "did you mean"
 * names when nothing matched (as op_search answers).  An sp_page keeps a
 * page of `limit` best matches as search does (daemon/ops.c): by score,
 * then scan order -- the index's place when it reads a page best bound
 * first (tk.active), else the count of matches seen -- then id; and it
 * tells the index its k-th (tk) so that the index may stop early.
 */
#ifndef TW_SEARCHPAGE_H
#define TW_SEARCHPAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "twin/entry.h"
#include "twin/search.h"
#include "wordidx.h"

#define SP_PAGE_MAX 20

typedef struct sp_hit { uint32_t score, seq; uint8_t id[TW_ID_LEN]; char line[96]; } sp_hit;
typedef struct sp_page {
    tw_search *q;
    sp_hit h[SP_PAGE_MAX];
    size_t n, limit;             /* limit at most SP_PAGE_MAX */
    uint32_t seq;
    uint64_t total;
    tw_wordidx_topk tk;
} sp_page;

static inline void sp_tail(tw_search *q, uint64_t total, tw_buf *out)
{
    char line[512];
    int n = snprintf(line, sizeof line, "total %llu\n", (unsigned long long)total);
    tw_buf_put(out, line, (size_t)n);
    for (size_t i = 0; total == 0 && i < tw_search_suggestion_count(q); i++) {
        const tw_search_suggestion *g = tw_search_suggestion_at(q, i);
        n = snprintf(line, sizeof line, "did you mean %s (%s %s) %u %u\n", g->text, g->kind, g->slot, g->missing,
                     g->distance);
        tw_buf_put(out, line, (size_t)n);
    }
}

static inline bool sp_hit_below(const sp_hit *a, const sp_hit *b)
{
    if (a->score != b->score) return a->score < b->score;
    if (a->seq != b->seq) return a->seq > b->seq;
    return memcmp(a->id, b->id, TW_ID_LEN) > 0;     /* one kind and time: by id */
}

/* Scores e (a record whose body is a map) and keeps it if it is among the
 * best; returns tw_search_score's error. */
static inline int sp_page_add(sp_page *p, const tw_entry *e)
{
    uint32_t score;
    int rc = tw_search_score(p->q, &e->body, e->kind, e->kind_len, e->slot, e->slot_len, p->total == 0, &score);
    if (rc || !score) return rc;
    p->total++;
    sp_hit x = { .score = score, .seq = p->tk.active ? p->tk.pos : p->seq++ };
    memcpy(x.id, e->id, TW_ID_LEN);
    snprintf(x.line, sizeof x.line, "%.*s %.*s %u\n", (int)e->kind_len, e->kind, (int)e->slot_len, e->slot, score);
    /* Sorted, best first: the worst kept is last. */
    size_t at = p->n;
    while (at > 0 && sp_hit_below(&p->h[at - 1], &x)) at--;
    if (at < p->limit) {
        size_t end = p->n < p->limit ? p->n : p->limit - 1;
        memmove(&p->h[at + 1], &p->h[at], (end - at) * sizeof x);
        p->h[at] = x;
        if (p->n < p->limit) p->n++;
    }
    if (p->limit && p->n == p->limit) {
        p->tk.full = true;
        p->tk.kth_score = p->h[p->n - 1].score;
        p->tk.kth_pos = p->h[p->n - 1].seq;
        const uint8_t *kid = p->h[p->n - 1].id;
        p->tk.kth_idpfx = (uint32_t)kid[0] << 24 | (uint32_t)kid[1] << 16 | (uint32_t)kid[2] << 8 | kid[3];
    }
    return 0;
}

/* Before the read: a page of 0 asks only for the total. */
static inline void sp_page_start(sp_page *p)
{
    if (p->limit == 0) { p->tk.full = true; p->tk.kth_score = UINT32_MAX; }
}

/* After the read: the page's records, its total (with what the index
 * counted without reading) and suggestions, as text. */
static inline void sp_page_text(sp_page *p, tw_buf *out)
{
    p->total += p->tk.unread;
    for (size_t i = 0; i < p->n; i++) tw_buf_put(out, p->h[i].line, strlen(p->h[i].line));
    sp_tail(p->q, p->total, out);
}

#endif
