/* The search word index (daemon/wordidx.c): after a random sequence of
 * puts, supersessions, tombstones and removals of messy names (Arabic,
 * transliterations, duplicates, records sharing a kind and timestamp), the
 * index kept up to date equals one built from scratch, survives a restart,
 * and a search through it finds exactly what a scan of every record finds,
 * in the same order, with the same "did you mean" suggestions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <lmdb.h>
#include <sodium.h>

#include "twin/entry.h"
#include "twin/err.h"
#include "twin/limits.h"
#include "twin/search.h"
#include "log.h"
#include "store.h"
#include "wordidx.h"
#include "../tools/searchpage.h"

static uint8_t netid[32];
static uint8_t sks[3][64];
#define TMPDIR_PREFIX "twwords"
#include "tmpdir.h"

/* Names as associations type them: one place spelt many ways. */
static const char *const names[] = {
    "Khan Yunis", "Khan Younis", "Khan Younes", "\xd8\xae\xd8\xa7\xd9\x86 \xd9\x8a\xd9\x88\xd9\x86\xd8\xb3",
    "Ramallah and al-Bireh", "Ramallah", "Ram Allah", "Al-Bireh", "el Bira",
    "\xd8\xa7\xd9\x84\xd8\xa8\xd9\x8a\xd8\xb1\xd8\xa9", "Beit Sahour", "Bayt S\xc4\x81\xe1\xb8\xa5\xc5\xabr",
    "beit-sahour", "\xd8\xa8\xd9\x8a\xd8\xaa \xd8\xb3\xd8\xa7\xd8\xad\xd9\x88\xd8\xb1", "Qalqilya", "Kalkilya",
    "Qalqiliya", "Am'ari camp", "Al-Am'ari", "Nablus", "N\xc4\x81\x62lus", "\xd9\x86\xd8\xa7\xd8\xa8\xd9\x84\xd8\xb3",
    "Jenin", "Janin", "Hebron", "Al-Khalil", "\xd8\xa7\xd9\x84\xd8\xae\xd9\x84\xd9\x8a\xd9\x84", "Yatta",
    "Ad-Dhahiriya", "ad'Dhahiriya", "Shati camp", "Al-Shatti", "Deir al-Balah", "Dayr al Balah", "Bethlehem",
    "Bayt Lahm", "Camden", "Oxford", "Norwich", "London Borough of Camden", "Ni'lin", "Nilin", "Tulkarm",
    "Tulkarem", "Jericho", "Ariha", "Gaza City", "Rafah", "and", "al", "Al Al", "2012", "Ward 7",
    /* Longer than the index keys words by (TW_WORDIDX_WORD_MAX): */
    "Kafr Thulth Association for Olive Growers Cooperative", "Kafrthulthassociationforolivegrowerscooperativeandwomenscentrexx",
    "Kafrthulthassociationforolivegrowerscooperativeandwomenscentreyyzz",
};
#define NNAMES (sizeof names / sizeof names[0])
static const char *const words[] = { "school", "exchange", "olive", "harvest", "choir", "football", "clinic",
                                     "Sahour", "Younis", "twinning", "friendship", "visits", "al", "and" };
#define NWORDS (sizeof words / sizeof words[0])

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (uint32_t)(rnd_state >> 11);
}

/* A record's body: names in name fields (and an array of other names),
 * free text, a nested map; or a tombstone. */
static void sign(tw_buf *env, const uint8_t *sk, const char *kind, const char *slot, uint64_t ts, bool tomb)
{
    char desc[256] = "";
    size_t dl = 0;
    for (unsigned i = 0, n = rnd() % 6; i < n; i++)
        dl += (size_t)snprintf(desc + dl, sizeof desc - dl, "%s%s", i ? " " : "", words[rnd() % NWORDS]);
    tw_val others[2] = { tw_v_cstr(names[rnd() % NNAMES]), tw_v_cstr(names[rnd() % NNAMES]) };
    tw_kv inner[1] = { { tw_v_cstr("name"), tw_v_cstr(names[rnd() % NNAMES]) } };
    tw_kv kv[5];
    unsigned nk = 0;
    if (strcmp(kind, "place") == 0) {
        kv[nk++] = (tw_kv){ tw_v_cstr("name_en"), tw_v_cstr(names[rnd() % NNAMES]) };
        kv[nk++] = (tw_kv){ tw_v_cstr("name_ar"), tw_v_cstr(names[rnd() % NNAMES]) };
        kv[nk++] = (tw_kv){ tw_v_cstr("other_names"), (tw_val){ .type = TW_ARR, .len = 2, .v.arr = others } };
    } else {
        kv[nk++] = (tw_kv){ tw_v_cstr("name"), tw_v_cstr(names[rnd() % NNAMES]) };
        kv[nk++] = (tw_kv){ tw_v_cstr("contact"), (tw_val){ .type = TW_MAP, .len = 1, .v.map = inner } };
    }
    kv[nk++] = (tw_kv){ tw_v_cstr("description"), tw_v_cstr(desc) };
    tw_val body = tomb ? tw_v_nil() : (tw_val){ .type = TW_MAP, .len = nk, .v.map = kv };
    assert_int_equal(tw_entry_sign(env, sk, netid, kind, strlen(kind), slot, strlen(slot), ts, &body), 0);
}

static void put(tw_store *s, const tw_buf *env)
{
    tw_arena a;
    tw_entry e;
    tw_put p = { 0 };
    tw_arena_init(&a, 0);
    assert_int_equal(tw_entry_parse(env->p, env->len, &a, &e, NULL), 0);
    p.e = &e;
    assert_int_equal(tw_store_put_batch(s, &p, 1), 0);
    tw_arena_free(&a);
}

static tw_store *open_store(void)
{
    tw_store *s = NULL;
    char err[256];
    assert_int_equal(tw_store_open(&s, dir, 0, netid, err, sizeof err), 0);
    return s;
}

/* Closes s and removes its files, for the next case to begin empty. */
static void drop_store(tw_store *s)
{
    tw_store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s/store", dir);
    assert_int_equal(system(cmd), 0);
}

/* Random writes: new records, newer versions, tombstones, removals, and
 * records of two authors with the same kind and timestamp. */
static void fill(tw_store *s, unsigned ops)
{
    static const char *const kinds[] = { "place", "group", "link" };
    uint8_t (*ids)[TW_ID_LEN] = calloc(ops, TW_ID_LEN);
    size_t nids = 0;
    tw_buf env;
    tw_buf_init(&env);
    uint64_t ts = 1700000000000ull;
    for (unsigned i = 0; i < ops; i++) {
        unsigned op = rnd() % 10, a = rnd() % 3;
        char slot[32];
        const char *kind = kinds[rnd() % 3];
        snprintf(slot, sizeof slot, "%s-%u", kind, rnd() % (ops / 4 + 1));
        ts += rnd() % 3 ? 1 + rnd() % 1000 : 0;            /* often the same timestamp */
        if (op < 7) {
            sign(&env, sks[a], kind, slot, ts, false);       /* new, or a newer version */
        } else if (op < 9) {
            sign(&env, sks[a], kind, slot, ts, true);        /* tombstone */
        } else if (nids) {
            size_t k = rnd() % nids;
            assert_int_equal(tw_store_remove(s, (const uint8_t (*)[TW_ID_LEN])&ids[k], 1), 0);
            memmove(&ids[k], &ids[k + 1], (nids - k - 1) * TW_ID_LEN);
            nids--;
            continue;
        } else {
            continue;
        }
        put(s, &env);
        /* Same kind and time, another author, another slot: the pair's count. */
        if (rnd() % 8 == 0) {
            snprintf(slot, sizeof slot, "twin-%u", i);
            tw_buf e2;
            tw_buf_init(&e2);
            sign(&e2, sks[(a + 1) % 3], kind, slot, ts, false);
            put(s, &e2);
            tw_buf_free(&e2);
        }
        tw_arena ar;
        tw_entry e;
        tw_arena_init(&ar, 0);
        assert_int_equal(tw_entry_parse(env.p, env.len, &ar, &e, NULL), 0);
        memcpy(ids[nids++], e.id, TW_ID_LEN);
        tw_arena_free(&ar);
    }
    tw_buf_free(&env);
    free(ids);
}

/* The index as text, one pair a line. */
static int dump_fn(void *ctx, const uint8_t *key, size_t kn, const char *kind, size_t kl, uint64_t ts, uint32_t count)
{
    tw_buf *b = ctx;
    char line[256];
    int n = snprintf(line, sizeof line, "%.*s|%.*s|%llu|%u\n", (int)kn, (const char *)key, (int)kl, kind,
                     (unsigned long long)ts, count);
    return tw_buf_put(b, line, (size_t)n);
}

static int line_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted: the order of kinds inside the index is the order they came in. */
static void dump(tw_store *s, tw_buf *out)
{
    tw_buf raw;
    tw_buf_init(&raw);
    assert_int_equal(tw_wordidx_walk(s, dump_fn, &raw), 0);
    assert_int_equal(tw_buf_put(&raw, "", 1), 0);
    size_t n = 0;
    for (size_t i = 0; i < raw.len; i++) n += raw.p[i] == '\n';
    char **lines = calloc(n + 1, sizeof *lines);
    char *save = NULL, *l = strtok_r((char *)raw.p, "\n", &save);
    size_t k = 0;
    for (; l && k < n; l = strtok_r(NULL, "\n", &save)) lines[k++] = l;
    qsort(lines, k, sizeof *lines, line_cmp);
    tw_buf_reset(out);
    for (size_t i = 0; i < k; i++) {
        tw_buf_put(out, lines[i], strlen(lines[i]));
        tw_buf_put(out, "\n", 1);
    }
    free(lines);
    tw_buf_free(&raw);
}

static void maintained_equals_rebuilt(void **state)
{
    (void)state;
    tw_store *s = open_store();
    assert_true(tw_wordidx_ready(tw_store_wordidx(s)));
    fill(s, 1500);
    tw_buf kept, built;
    tw_buf_init(&kept);
    tw_buf_init(&built);
    dump(s, &kept);
    assert_true(kept.len > 10000);
    assert_int_equal(tw_wordidx_rebuild(s), 0);
    assert_true(tw_wordidx_ready(tw_store_wordidx(s)));
    dump(s, &built);
    assert_int_equal(kept.len, built.len);
    assert_memory_equal(kept.p, built.p, kept.len);
    /* Kept across a restart, not built again. */
    tw_store_close(s);
    s = open_store();
    assert_true(tw_wordidx_ready(tw_store_wordidx(s)));
    dump(s, &built);
    assert_int_equal(kept.len, built.len);
    assert_memory_equal(kept.p, built.p, kept.len);
    tw_store_close(s);
    tw_buf_free(&kept);
    tw_buf_free(&built);
}

/* What search sees: every match in visiting order with its score, the total,
 * and the suggestions. */
typedef struct seen { tw_search *q; tw_buf out; uint64_t total; } seen;

static int seen_fn(void *ctx, const uint8_t *key, size_t klen, const tw_entry *e)
{
    (void)key; (void)klen;
    seen *s = ctx;
    uint32_t score;
    if (e->body.type != TW_MAP) return 0;
    assert_int_equal(tw_search_score(s->q, &e->body, e->kind, e->kind_len, e->slot, e->slot_len, s->total == 0, &score), 0);
    if (!score) return 0;
    s->total++;
    char line[128];
    int n = snprintf(line, sizeof line, "%02x%02x%02x%02x %u\n", e->id[0], e->id[1], e->id[2], e->id[3], score);
    return tw_buf_put(&s->out, line, (size_t)n);
}

/* As op_search answers: suggestions only when nothing matched. */
static void finish(seen *s) { sp_tail(s->q, s->total, &s->out); }

static void index_finds_what_a_scan_finds(void **state)
{
    (void)state;
    tw_store *s = open_store();
    fill(s, 3000);
    static const char *const queries[] = {
        "khan younis", "khan", "kh", "yunis", "younes", "bireh", "el bireh", "ramallah al bireh",
        "\xd8\xa7\xd9\x84\xd8\xa8\xd9\x8a\xd8\xb1\xd8\xa9", "\xd8\xae\xd8\xa7\xd9\x86", "bayt sahur", "beit sahour",
        "qalq", "kalkilia", "qalqiliya", "amari", "am'ari", "dhahiriya", "shatti camp", "balah deir", "camden london",
        "nabls", "jenn", "hebrn", "xylophone", "al", "and", "al and", "2012", "7", "ward", "olive choir",
        "sahour school", "twin", "place", "group 1", "link", "camp", "tulkarim", "jeriko", "\xd9\x86\xd8\xa7\xd8\xa8",
        "kafrthulthassociationforolivegrowerscooperativeandwomenscentre", "kafrthulthassociationforolivegrowerscooperativeandwomenscentrexx",
        "kafrthulthassociationforolivegrowerscooperativeandwomenscentreyyzz", "kafrthulthassociationforolivegrowerscooperativeandwomenscentreyyzq",
    };
    unsigned used_count = 0, matched = 0, suggested = 0;
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        seen a = { 0 }, b = { 0 };
        tw_buf_init(&a.out);
        tw_buf_init(&b.out);
        assert_int_equal(tw_search_new(&a.q, queries[i], strlen(queries[i])), 0);
        assert_int_equal(tw_search_new(&b.q, queries[i], strlen(queries[i])), 0);
        assert_int_equal(tw_store_scan_entries(s, NULL, 0, NULL, 0, seen_fn, &a), 0);
        bool used = false;
        assert_int_equal(tw_wordidx_search(s, b.q, seen_fn, &b, &b.total, &used), 0);
        finish(&a);
        finish(&b);
        if (a.out.len != b.out.len || memcmp(a.out.p, b.out.p, a.out.len) != 0)
        {
            fprintf(stderr, "query \"%s\": a scan found\n%.*s\nthe index\n%.*s\n", queries[i], (int)a.out.len,
                    (const char *)a.out.p, (int)b.out.len, (const char *)b.out.p);
            fail_msg("query \"%s\": the index found something else than a scan", queries[i]);
        }
        used_count += used;
        matched += a.total > 0;
        suggested += a.total == 0 && tw_search_suggestion_count(a.q) > 0;
        tw_search_free(a.q);
        tw_search_free(b.q);
        tw_buf_free(&a.out);
        tw_buf_free(&b.out);
    }
    /* The comparison means something: most queries found records through
     * the index, some found none and suggested names. */
    assert_true(matched >= 30);
    assert_true(suggested >= 3);
    assert_true(used_count >= 30);
    tw_store_close(s);
}

/* A page of `limit` best matches, kept as search does (tests/tools/
 * searchpage.h), of the records listed as admission shows them. */
typedef struct page {
    sp_page sp;
    uint64_t reads;
    bool admission;              /* authors as a vouched network sees them (author_class) */
} page;

/*
 * With admission on: the records of the first key are all listed (an
 * admitted key of its own), those of the second none (not admitted, or
 * revoked: revoked says which), those of the third one by one (a key of an
 * association cut off at a time: its records of an odd time are not).
 */
static bool revoked;
static int author_class(void *ctx, const uint8_t author[TW_KEY_LEN])
{
    (void)ctx;
    for (int i = 0; i < 3; i++) {
        if (memcmp(author, sks[i] + 32, TW_KEY_LEN) != 0) continue;
        if (i == 0) return revoked ? 0 : 1;
        return i == 1 ? 0 : -1;
    }
    return 1;
}

static bool listed(const page *p, const tw_entry *e)
{
    if (!p->admission) return true;
    int c = author_class(NULL, e->author);
    return c > 0 || (c < 0 && e->ts % 2 == 0);
}

static int page_fn(void *ctx, const uint8_t *key, size_t klen, const tw_entry *e)
{
    (void)key; (void)klen;
    page *p = ctx;
    if (e->body.type != TW_MAP) return 0;
    p->reads++;
    if (!listed(p, e)) return 0;
    assert_int_equal(sp_page_add(&p->sp, e), 0);
    return 0;
}

/* The page as text (records, total, suggestions); *active: read best
 * bound first; *reads: records scored. */
static void page_text(tw_store *s, const char *text, size_t limit, bool index, bool admission, tw_buf *out, bool *active,
                      uint64_t *reads, uint64_t *total)
{
    page p = { .sp.limit = limit, .admission = admission };
    assert_int_equal(tw_search_new(&p.sp.q, text, strlen(text)), 0);
    if (admission) p.sp.tk.author_shown = author_class;
    sp_page_start(&p.sp);
    bool used = false;
    if (index) assert_int_equal(tw_wordidx_search_topk(s, p.sp.q, page_fn, &p, &p.sp.total, &p.sp.tk, &used), 0);
    else assert_int_equal(tw_store_scan_entries(s, NULL, 0, NULL, 0, page_fn, &p), 0);
    sp_page_text(&p.sp, out);
    *active = p.sp.tk.active;
    *reads = p.reads;
    *total = p.sp.total;
    tw_search_free(p.sp.q);
}

/* Messy records with a time each (newer versions, tombstones): no two
 * records share a kind and timestamp, but tombstones may. */
static void fill_distinct(tw_store *s, unsigned ops)
{
    static const char *const kinds[] = { "place", "group", "link" };
    tw_buf env;
    tw_buf_init(&env);
    uint64_t ts = 1700000000000ull;
    for (unsigned i = 0; i < ops; i++) {
        const char *kind = kinds[rnd() % 3];
        char slot[32];
        snprintf(slot, sizeof slot, "%s-%u", kind, rnd() % (ops / 4 + 1));
        ts += 1 + rnd() % 1000;
        sign(&env, sks[rnd() % 3], kind, slot, ts, rnd() % 10 == 0);
        put(s, &env);
        if (rnd() % 10 == 0) {                    /* a tombstone of the same kind and time: no words */
            snprintf(slot, sizeof slot, "gone-%u", i);
            sign(&env, sks[rnd() % 3], kind, slot, ts, true);
            put(s, &env);
        }
    }
    tw_buf_free(&env);
}

/*
 * A page read best bound first (only while a record can still enter it,
 * the rest counted from the index) equals the same page of a scan: ranks,
 * ties cut by the page (names repeat: many records score alike), totals,
 * suggestions, for pages of 0, 1, 3 and 20; bounds are loose (words in
 * descriptions and long names) and tight.  Where records share a kind and
 * time, no page is read so, and the answer is the same.
 */
static void page_equals_scan(void **state)
{
    (void)state;
    static const char *const queries[] = {
        "khan younis", "khan", "kh", "yunis", "younes", "bireh", "el bireh", "ramallah al bireh",
        "\xd8\xa7\xd9\x84\xd8\xa8\xd9\x8a\xd8\xb1\xd8\xa9", "bayt sahur", "beit sahour", "qalq", "kalkilia",
        "amari", "dhahiriya", "shatti camp", "camden london", "camden", "c", "b", "s", "school", "olive",
        "olive choir", "xylophone", "nabls", "al", "and", "2012", "7", "ward", "camp", "bethlehem", "b camp",
        "kafrthulthassociationforolivegrowerscooperativeandwomenscentre",
    };
    static const size_t limits[] = { 0, 1, 3, SP_PAGE_MAX };
    static const char *const modes[] = { "open", "vouched", "vouched, the first key revoked" };
    for (int shared = 0; shared < 2; shared++) {
        tw_store *s = open_store();
        if (shared) fill(s, 2000); else fill_distinct(s, 2000);
        /* Open, then with admission (a key listed, one not, one record by
         * record), then with the listed key revoked: the same store. */
        for (int mode = 0; mode < 3; mode++) {
            revoked = mode == 2;
            unsigned active = 0, fewer = 0, compared = 0;
            for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
                for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
                    tw_buf a, b;
                    tw_buf_init(&a);
                    tw_buf_init(&b);
                    bool aa, ba;
                    uint64_t ar, br, at, bt;
                    page_text(s, queries[i], limits[l], false, mode > 0, &a, &aa, &ar, &at);
                    page_text(s, queries[i], limits[l], true, mode > 0, &b, &ba, &br, &bt);
                    if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0) {
                        fprintf(stderr, "query \"%s\", page of %zu (%s): a scan found\n%.*s\nthe index\n%.*s\n", queries[i],
                                limits[l], modes[mode], (int)a.len, (const char *)a.p, (int)b.len, (const char *)b.p);
                        fail_msg("query \"%s\", page of %zu (%s): the index found something else", queries[i], limits[l],
                                 modes[mode]);
                    }
                    compared++;
                    active += ba;
                    fewer += ba && br < bt;
                    tw_buf_free(&a);
                    tw_buf_free(&b);
                }
            }
            fprintf(stderr, "pages (%s, %s): %u compared, %u read best bound first, %u of them reading fewer records than matched\n",
                    shared ? "records sharing a kind and time" : "a time each", modes[mode], compared, active, fewer);
            /* Most pages were read best bound first, and many read fewer
             * records than matched (records of one kind and time too), but
             * with the first key revoked, every record that can be listed
             * is one to read (the third key's, listed one by one). */
            assert_true(active >= compared / 2);
            if (mode < 2) assert_true(fewer >= 20);
        }
        revoked = false;
        drop_store(s);
    }
}

/*
 * An import: records of one kind and one time (as `import` gives them),
 * 150 named alike (equal scores), 150 with a longer name (lower scores),
 * of three authors, and others without the word.  A page of 1, 3 or 20
 * of "camden village" equals a scan's -- the cut falls among the 150 equal
 * ones, which rank by id -- open and vouched, reading about the page: the
 * index orders records of one kind and time by their ids' first bytes.
 */
static void import_ties(void **state)
{
    (void)state;
    tw_store *s = open_store();
    tw_buf env;
    tw_buf_init(&env);
    const uint64_t ts = 1700000000000ull;
    for (unsigned i = 0; i < 600; i++) {
        char slot[32], name[64];
        snprintf(slot, sizeof slot, "imp-%u", i);
        if (i < 150) snprintf(name, sizeof name, "Camden Village");
        else if (i < 300) snprintf(name, sizeof name, "Camden Village Hall %u", i);
        else snprintf(name, sizeof name, "Battir Olive Grove %u", i);
        tw_kv kv[1] = { { tw_v_cstr("name"), tw_v_cstr(name) } };
        tw_val body = { .type = TW_MAP, .len = 1, .v.map = kv };
        assert_int_equal(tw_entry_sign(&env, sks[i % 3], netid, "group", 5, slot, strlen(slot), ts, &body), 0);
        put(s, &env);
    }
    tw_buf_free(&env);
    static const size_t limits[] = { 1, 3, SP_PAGE_MAX };
    for (int mode = 0; mode < 2; mode++) {
        for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
            tw_buf a, b;
            tw_buf_init(&a);
            tw_buf_init(&b);
            bool aa, ba;
            uint64_t ar, br, at, bt;
            page_text(s, "camden village", limits[l], false, mode > 0, &a, &aa, &ar, &at);
            page_text(s, "camden village", limits[l], true, mode > 0, &b, &ba, &br, &bt);
            if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0)
                fail_msg("import, page of %zu (%s): a scan found\n%.*s\nthe index\n%.*s", limits[l],
                         mode ? "vouched" : "open", (int)a.len, (const char *)a.p, (int)b.len, (const char *)b.p);
            fprintf(stderr, "import, page of %zu (%s): %llu matches, %llu read\n", limits[l], mode ? "vouched" : "open",
                    (unsigned long long)bt, (unsigned long long)br);
            assert_true(ba);
            /* Open: the page and no more (the index orders the 150 alike
             * by the beginning of their ids).  Vouched: the second key's
             * 100 are hidden, neither read nor counted; the third key's
             * 100 (listed record by record, here all) are read; of the
             * first key's, about the page. */
            assert_int_equal(bt, mode ? 200 : 300);
            assert_true(br <= (mode ? 100 : 0) + limits[l] + 2);
            tw_buf_free(&a);
            tw_buf_free(&b);
        }
    }
    tw_store_close(s);
}

/* A named record: a group whose name is one of two words and a number. */
static void put_named(tw_store *s, const char *word, unsigned i)
{
    char slot[32], name[64];
    snprintf(slot, sizeof slot, "g-%u", i);
    snprintf(name, sizeof name, "%s %u", word, i);
    tw_kv kv[1] = { { tw_v_cstr("name"), tw_v_cstr(name) } };
    tw_val body = { .type = TW_MAP, .len = 1, .v.map = kv };
    tw_buf env;
    tw_buf_init(&env);
    assert_int_equal(tw_entry_sign(&env, sks[0], netid, "group", 5, slot, strlen(slot), 1700000000000ull + i, &body), 0);
    put(s, &env);
    tw_buf_free(&env);
}

/* Searches with the index and with a scan: the same answer; whether the
 * index was used. */
static bool search_both(tw_store *s, const char *text, uint64_t *total)
{
    seen a = { 0 }, b = { 0 };
    tw_buf_init(&a.out);
    tw_buf_init(&b.out);
    assert_int_equal(tw_search_new(&a.q, text, strlen(text)), 0);
    assert_int_equal(tw_search_new(&b.q, text, strlen(text)), 0);
    assert_int_equal(tw_store_scan_entries(s, NULL, 0, NULL, 0, seen_fn, &a), 0);
    bool used = false;
    assert_int_equal(tw_wordidx_search(s, b.q, seen_fn, &b, &b.total, &used), 0);
    finish(&a);
    finish(&b);
    assert_int_equal(a.out.len, b.out.len);
    assert_memory_equal(a.out.p, b.out.p, a.out.len);
    *total = a.total;
    tw_search_free(a.q);
    tw_search_free(b.q);
    tw_buf_free(&a.out);
    tw_buf_free(&b.out);
    return used;
}

/* TW_SEARCH_INDEX_SHARE at its edge: a word in exactly that share of the
 * records is searched through the index, one record more reads every
 * record; both answer as a scan does. */
static void index_share_edge(void **state)
{
    (void)state;
    tw_store *s = open_store();
    unsigned n = 0, common = TW_SEARCH_INDEX_SHARE;
    for (; n < common; n++) put_named(s, "harvest", n);
    for (; n < 100; n++) put_named(s, "choir", n);
    uint64_t total;
    assert_true(search_both(s, "harvest", &total));
    assert_int_equal(total, common);
    assert_true(search_both(s, "choir", &total));
    assert_int_equal(total, 100 - common);
    /* One more: common + 1 of 101 is over the share (101 * share / 100 = common). */
    put_named(s, "harvest", n++);
    assert_false(search_both(s, "harvest", &total));
    assert_int_equal(total, common + 1);
    assert_true(search_both(s, "choir", &total));
    tw_store_close(s);
}

/* Opens the store's table "words" behind the store's back (the store
 * closed), in a transaction that reads only or writes; the caller ends the
 * transaction and closes env. */
static void words_open(MDB_env **env, MDB_txn **txn, MDB_dbi *dbi, bool rdonly)
{
    char path[128];
    snprintf(path, sizeof path, "%s/store", dir);
    assert_int_equal(mdb_env_create(env), 0);
    mdb_env_set_maxdbs(*env, 8);
    mdb_env_set_mapsize(*env, 1ull << 30);
    assert_int_equal(mdb_env_open(*env, path, rdonly ? MDB_RDONLY : 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(*env, NULL, rdonly ? MDB_RDONLY : 0, txn), 0);
    assert_int_equal(mdb_dbi_open(*txn, "words", 0, dbi), 0);
}

/* Changes the index behind the store's back, as another twind would have
 * left it: how = 0 no index at all, 1 an older version of it, 2 a build
 * that was killed before it indexed anything. */
static void tamper(int how)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    words_open(&env, &txn, &dbi, false);
    if (how == 0) {
        assert_int_equal(mdb_drop(txn, dbi, 1), 0);
    } else if (how == 1) {
        uint8_t old = 0;
        MDB_val k = { 2, "\0v" }, v = { 1, &old };
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    } else if (how == 3) {
        /* Damage every block of words. */
        MDB_cursor *cur;
        MDB_val k = { 1, "\x01" }, v;
        uint8_t junk[4] = { 0xff, 0xff, 0xff, 0xff };
        unsigned n = 0;
        assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
        int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        while (rc == 0) {
            uint8_t kb[128];        /* the key points into the page the put rewrites */
            assert_true(k.mv_size <= sizeof kb);
            memcpy(kb, k.mv_data, k.mv_size);
            k.mv_data = kb;
            v = (MDB_val){ sizeof junk, junk };
            assert_int_equal(mdb_cursor_put(cur, &k, &v, MDB_CURRENT), 0);
            n++;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        assert_true(n > 2);
        mdb_cursor_close(cur);
    } else {
        uint8_t ver = TW_WORDIDX_VERSION;
        assert_int_equal(mdb_drop(txn, dbi, 0), 0);
        MDB_val k = { 2, "\0v" }, v = { 1, &ver };
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
        k = (MDB_val){ 2, "\0p" };
        v = (MDB_val){ 0, "" };
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* The blocks of the table "words": how many, the largest, how many full;
 * its overflow pages; its rows of authors ('u'), and of them how many are
 * but the last and hold less than three quarters of a page. */
static void block_sizes_rows(size_t *n, size_t *largest, size_t *full, size_t *overflow, size_t *rows, size_t *thin)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    MDB_stat st;
    words_open(&env, &txn, &dbi, true);
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    *overflow = st.ms_overflow_pages;
    *n = *largest = *full = 0;
    MDB_val k = { 2, "\x00u" }, v;
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
    *rows = *thin = 0;
    size_t last = 0;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *kb = k.mv_data;
        if (kb[0] != 0) break;
        if (k.mv_size != 10 || kb[1] != 'u') continue;
        assert_true(v.mv_size <= TW_WORDIDX_BLOCK_MAX);      /* one overflow page at most */
        if (*rows && last < TW_WORDIDX_BLOCK_MAX * 3 / 4) (*thin)++;
        last = v.mv_size;
        (*rows)++;
    }
    k = (MDB_val){ 1, "\x01" };
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        (*n)++;
        if (v.mv_size > *largest) *largest = v.mv_size;
        /* A pair takes at most 4 + TW_WORDIDX_WORD_MAX + 25 bytes (its run's head, its varints, its run's length one more). */
        if (v.mv_size + 4 + TW_WORDIDX_WORD_MAX + 25 > TW_WORDIDX_BLOCK_MAX) (*full)++;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

static void block_sizes(size_t *n, size_t *largest, size_t *full, size_t *overflow)
{
    size_t rows, thin;
    block_sizes_rows(n, largest, full, overflow, &rows, &thin);
    *overflow -= rows < *overflow ? rows : *overflow;   /* a row of authors takes at most one page */
}

/* Blocks fill up to TW_WORDIDX_BLOCK_MAX and never pass it, kept up to
 * date one record at a time or built in batches: each is at most one
 * LMDB page (a 4 KiB overflow page, which a full block fills).  Written one
 * record a transaction, a block that grows past the limit leaves a full one
 * and a small one; built, all are full but the last. */
static void blocks_fill_to_the_limit(void **state)
{
    (void)state;
    tw_store *s = open_store();
    fill(s, 3000);
    tw_store_close(s);
    size_t n, largest, full, overflow;
    block_sizes(&n, &largest, &full, &overflow);
    assert_true(n >= 4);
    assert_true(largest <= TW_WORDIDX_BLOCK_MAX);
    assert_true(full >= 4);
    assert_true(overflow <= n);
    s = open_store();
    assert_int_equal(tw_wordidx_rebuild(s), 0);
    tw_store_close(s);
    block_sizes(&n, &largest, &full, &overflow);
    assert_true(n >= 4);
    assert_true(largest <= TW_WORDIDX_BLOCK_MAX);
    assert_true(full + 1 >= n);        /* built in order: all full but the last */
    assert_true(overflow <= n);
}

/* The rows of authors' numbers and ids' first bytes ('u') fill LMDB
 * overflow pages: every row but the last, of live records, holds more than
 * three quarters of a page (rows that shared leaf pages left them about
 * half empty: 15 MiB more at 1 000 000 records), and none takes more than
 * one page.  The same kept up to date one record a transaction, and
 * built. */
static void author_rows_fill_pages(void **state)
{
    (void)state;
    tw_store *s = open_store();
    tw_buf env;
    tw_buf_init(&env);
    uint64_t ts = 1700000000000ull;
    for (unsigned i = 0; i < 2100; i++) {
        char slot[32];
        snprintf(slot, sizeof slot, "place-%u", i);
        ts += 1 + rnd() % 1000;
        sign(&env, sks[rnd() % 3], "place", slot, ts, false);
        put(s, &env);
    }
    tw_buf_free(&env);
    tw_store_close(s);
    size_t n, largest, full, overflow, rows, thin;
    block_sizes_rows(&n, &largest, &full, &overflow, &rows, &thin);
    assert_true(rows >= 3);
    assert_int_equal(thin, 0);
    assert_true(overflow <= n + rows);
    s = open_store();
    assert_int_equal(tw_wordidx_rebuild(s), 0);
    tw_store_close(s);
    block_sizes_rows(&n, &largest, &full, &overflow, &rows, &thin);
    assert_true(rows >= 3);
    assert_int_equal(thin, 0);
    assert_true(overflow <= n + rows);
}

/* A build killed half way resumes where it stopped at the next start;
 * a write made meanwhile (the index not in use) makes it start afresh. */
static void killed_build_resumes(void **state)
{
    (void)state;
    tw_store *s = open_store();
    fill(s, 1200);
    tw_buf kept, built;
    tw_buf_init(&kept);
    tw_buf_init(&built);
    dump(s, &kept);
    for (int write = 0; write < 2; write++) {
        assert_int_equal(tw_wordidx_build_part(s, 100, 3), 0);
        assert_false(tw_wordidx_ready(tw_store_wordidx(s)));
        dump(s, &built);
        assert_true(built.len > 0 && built.len < kept.len);        /* half built */
        if (write) {
            fill(s, 50);
            dump(s, &kept);                     /* what the index must hold now: from a scan */
        }
        tw_store_close(s);
        s = open_store();
        assert_true(tw_wordidx_ready(tw_store_wordidx(s)));
        dump(s, &built);
        if (write) {
            /* The expected index: the one a fresh build makes. */
            assert_int_equal(tw_wordidx_rebuild(s), 0);
            dump(s, &kept);
        }
        assert_int_equal(kept.len, built.len);
        assert_memory_equal(kept.p, built.p, kept.len);
    }
    tw_store_close(s);
    tw_buf_free(&kept);
    tw_buf_free(&built);
}

/* A damaged index neither fails a search nor a write: searches read every
 * record (same answers), and the next start builds it afresh. */
static void damaged_index(void **state)
{
    (void)state;
    tw_store *s = open_store();
    fill(s, 600);
    tw_buf kept, built;
    tw_buf_init(&kept);
    tw_buf_init(&built);
    tw_store_close(s);
    tamper(3);
    s = open_store();
    assert_int_not_equal(tw_wordidx_walk(s, dump_fn, &kept), 0);   /* it is damaged */
    tw_buf_reset(&kept);
    for (int round = 0; round < 2; round++) {
        seen a = { 0 }, b = { 0 };
        tw_buf_init(&a.out);
        tw_buf_init(&b.out);
        assert_int_equal(tw_search_new(&a.q, "beit sahour", 11), 0);
        assert_int_equal(tw_search_new(&b.q, "beit sahour", 11), 0);
        assert_int_equal(tw_store_scan_entries(s, NULL, 0, NULL, 0, seen_fn, &a), 0);
        bool used = true;
        assert_int_equal(tw_wordidx_search(s, b.q, seen_fn, &b, &b.total, &used), 0);
        assert_true(a.total > 0);
        assert_int_equal(a.out.len, b.out.len);
        assert_memory_equal(a.out.p, b.out.p, a.out.len);
        if (used) fail_msg("round %d used the damaged index", round);
        tw_search_free(a.q);
        tw_search_free(b.q);
        tw_buf_free(&a.out);
        tw_buf_free(&b.out);
        /* Writes go on. */
        fill(s, 200);
    }
    assert_false(tw_wordidx_ready(tw_store_wordidx(s)));
    tw_store_close(s);
    s = open_store();
    assert_true(tw_wordidx_ready(tw_store_wordidx(s)));
    dump(s, &kept);
    assert_int_equal(tw_wordidx_rebuild(s), 0);
    dump(s, &built);
    assert_int_equal(kept.len, built.len);
    assert_memory_equal(kept.p, built.p, kept.len);
    tw_store_close(s);
    tw_buf_free(&kept);
    tw_buf_free(&built);
}

static void built_on_open(void **state)
{
    (void)state;
    tw_store *s = open_store();
    fill(s, 800);
    tw_buf kept, built;
    tw_buf_init(&kept);
    tw_buf_init(&built);
    dump(s, &kept);
    assert_true(kept.len > 1000);
    tw_store_close(s);
    for (int how = 0; how < 3; how++) {
        tamper(how);
        s = open_store();
        assert_true(tw_wordidx_ready(tw_store_wordidx(s)));
        dump(s, &built);
        assert_int_equal(kept.len, built.len);
        assert_memory_equal(kept.p, built.p, kept.len);
        tw_store_close(s);
    }
    tw_buf_free(&kept);
    tw_buf_free(&built);
}

/* ------------------------------------------------------------ bulk writes */

#define ONE_WORD_LEN 60

/* A word of ONE_WORD_LEN letters, its own for each i and in the order of
 * i (i in four letters, then letters of its hash: few shared with its
 * neighbours, so that a block holds some sixty of them). */
static void one_word(unsigned i, char *w)
{
    uint8_t h[32];
    crypto_generichash(h, sizeof h, (const uint8_t *)&i, sizeof i, NULL, 0);
    for (int j = 0, x = (int)i; j < 4; j++, x /= 26) w[3 - j] = (char)('a' + x % 26);
    for (int j = 4; j < ONE_WORD_LEN; j++) w[j] = (char)('a' + (h[j % 32] ^ (uint8_t)(j * 7)) % 26);
    w[ONE_WORD_LEN] = 0;
}

/* A group record whose only word is word (its slot and its note). */
static void sign_word(tw_buf *env, int author, const char *word, uint64_t ts)
{
    tw_kv kv[1] = { { tw_v_cstr("note"), tw_v_cstr(word) } };
    tw_val body = { .type = TW_MAP, .len = 1, .v.map = kv };
    assert_int_equal(tw_entry_sign(env, sks[author], netid, "group", 5, word, strlen(word), ts, &body), 0);
}

/* A group record of slot slot and note text. */
static void sign_note(tw_buf *env, int author, const char *slot, const char *text, uint64_t ts)
{
    tw_kv kv[1] = { { tw_v_cstr("note"), tw_v_cstr(text) } };
    tw_val body = { .type = TW_MAP, .len = 1, .v.map = kv };
    assert_int_equal(tw_entry_sign(env, sks[author], netid, "group", 5, slot, strlen(slot), ts, &body), 0);
}

/* Stores n envelopes in one transaction (one commit, as a sync's batch). */
static void put_many(tw_store *s, tw_buf *envs, size_t n)
{
    tw_arena a;
    tw_entry *e = calloc(n, sizeof *e);
    tw_put *p = calloc(n, sizeof *p);
    tw_arena_init(&a, 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(tw_entry_parse(envs[i].p, envs[i].len, &a, &e[i], NULL), 0);
        p[i].e = &e[i];
    }
    assert_int_equal(tw_store_put_batch(s, p, n), 0);
    for (size_t i = 0; i < n; i++) assert_int_equal(p[i].result, 0);
    tw_arena_free(&a);
    free(e);
    free(p);
}

#define BASE_TS 1700000000000ull

/* The first pair of each block of the index, read behind the store's back
 * (closed): its word and its record's timestamp; and the table's rows. */
static size_t block_heads(char (*words_out)[ONE_WORD_LEN + 1], uint64_t *ts, size_t max, size_t *rows)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    MDB_stat st;
    words_open(&env, &txn, &dbi, true);
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    *rows = st.ms_entries;
    size_t n = 0;
    MDB_val k = { 1, "\x01" }, v;
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && n < max; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *kb = k.mv_data;
        if (k.mv_size != ONE_WORD_LEN + 17) continue;     /* a block of fill()'s words: word 0x00 ref(8) seq(8) */
        memcpy(words_out[n], kb, ONE_WORD_LEN);
        words_out[n][ONE_WORD_LEN] = 0;
        uint64_t ref = 0;
        for (int i = 0; i < 8; i++) ref = ref << 8 | kb[ONE_WORD_LEN + 1 + i];
        ts[n++] = ref & ((1ull << 48) - 1);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return n;
}

/* One commit of records by author, each of the same word and time as the
 * first pair of one of the first `count` blocks, so that it changes exactly
 * that block: the commit changes `count` blocks.  The limit then. */
static size_t commit_touching(tw_store **s, int author, size_t count)
{
    static char w[2048][ONE_WORD_LEN + 1];
    static uint64_t ts[2048];
    size_t rows;
    tw_store_close(*s);
    size_t n = block_heads(w, ts, 2048, &rows);
    size_t share = rows * TW_WORDIDX_APPLY_SHARE / 100, limit = share > TW_WORDIDX_APPLY_MIN ? share : TW_WORDIDX_APPLY_MIN;
    assert_true(n >= count);
    *s = open_store();
    assert_true(tw_wordidx_ready(tw_store_wordidx(*s)));
    tw_buf *envs = calloc(count, sizeof *envs);
    for (size_t i = 0; i < count; i++) {
        tw_buf_init(&envs[i]);
        sign_word(&envs[i], author, w[i], ts[i]);
    }
    put_many(*s, envs, count);
    for (size_t i = 0; i < count; i++) tw_buf_free(&envs[i]);
    free(envs);
    return limit;
}

/* An index of some 280 blocks (thousands 17): 17000 records of one word
 * each, stored in time order 1000 a commit (each commit changes few
 * blocks: applied). */
static tw_store *one_word_store(unsigned thousands)
{
    tw_store *s = open_store();
    tw_buf envs[1000];
    for (int i = 0; i < 1000; i++) tw_buf_init(&envs[i]);
    for (unsigned b = 0; b < thousands; b++) {
        for (unsigned i = 0; i < 1000; i++) {
            char w[ONE_WORD_LEN + 1];
            one_word(b * 1000 + i, w);
            sign_word(&envs[i], 0, w, BASE_TS + 1000 * (b * 1000 + i));
        }
        put_many(s, envs, 1000);
        assert_true(tw_wordidx_ready(tw_store_wordidx(s)));
    }
    for (int i = 0; i < 1000; i++) tw_buf_free(&envs[i]);
    return s;
}

static void expect_same_as_rebuilt(tw_store *s)
{
    tw_buf kept, built;
    tw_buf_init(&kept);
    tw_buf_init(&built);
    dump(s, &kept);
    assert_int_equal(tw_wordidx_rebuild(s), 0);
    dump(s, &built);
    assert_true(kept.len > 0);
    assert_int_equal(kept.len, built.len);
    assert_memory_equal(kept.p, built.p, kept.len);
    tw_buf_free(&kept);
    tw_buf_free(&built);
}

/* TW_WORDIDX_APPLY_SHARE / _MIN at their edge: a commit whose changes fall
 * in exactly the limit's number of blocks is applied (the index stays in
 * use, as a build would make it); one block more sets the index aside in
 * that commit: search then reads every record (same answers) and the index
 * is wanted built again. */
static void bulk_commit_limit_edge(void **state)
{
    (void)state;
    tw_store *s = one_word_store(17);
    tw_wordidx_info in;
    size_t limit = commit_touching(&s, 1, 0);    /* the limit for this index */
    assert_int_equal(limit, TW_WORDIDX_APPLY_MIN);   /* under 4 * MIN rows: MIN binds */
    limit = commit_touching(&s, 1, limit);
    tw_wordidx_stats(tw_store_wordidx(s), &in);
    assert_int_equal(in.limit, limit);
    assert_int_equal(in.touched, limit);
    assert_true(in.ready);
    assert_false(in.rebuilding);
    assert_false(tw_wordidx_wants_build(tw_store_wordidx(s)));
    uint64_t total;
    char w[ONE_WORD_LEN + 1];
    one_word(5, w);
    assert_true(search_both(s, w, &total));
    assert_true(total >= 1);
    expect_same_as_rebuilt(s);
    /* One more block. */
    limit = commit_touching(&s, 2, limit + 1) ;
    tw_wordidx_stats(tw_store_wordidx(s), &in);
    assert_int_equal(in.limit, limit - 0);
    assert_int_equal(in.touched, in.limit + 1);
    assert_false(in.ready);
    assert_true(in.rebuilding);
    assert_true(tw_wordidx_wants_build(tw_store_wordidx(s)));
    assert_false(search_both(s, w, &total));     /* every record read: as a scan */
    assert_true(total >= 1);
    tw_store_close(s);
}

/* Set aside by a bulk commit, the index is built again in steps; writes
 * between the steps, to records the build has indexed and to records it
 * has not reached, removals and newer versions among them, leave it equal
 * to a fresh build; every search meanwhile answers as a scan does.  Closed
 * (as by kill -9) half way, the next start finishes the build. */
static void rebuilt_in_steps(void **state)
{
    (void)state;
    for (int kill = 0; kill < 2; kill++) {
        tw_store *s = one_word_store(17);
        fill(s, 300);                                  /* places, links, names; removals */
        commit_touching(&s, 1, TW_WORDIDX_APPLY_MIN + 1);
        tw_wordidx_info in;
        tw_wordidx_stats(tw_store_wordidx(s), &in);
        assert_true(in.rebuilding);
        assert_false(in.ready);
        size_t steps = 0;
        bool done = false;
        uint64_t total;
        while (!done) {
            assert_true(++steps < 100);
            assert_int_equal(tw_wordidx_build_step(s, 1500, &done), 0);
            tw_wordidx_stats(tw_store_wordidx(s), &in);
            if (done) break;
            assert_true(in.built == steps * 1500);
            /* Writes: a newer version of a record already indexed (and
             * one not reached yet), a record before the build's progress
             * and one after it, random writes with removals. */
            tw_buf e1, e2, e3;
            tw_buf_init(&e1);
            tw_buf_init(&e2);
            tw_buf_init(&e3);
            char w[ONE_WORD_LEN + 1];
            one_word((unsigned)(steps * 1500 - 700), w);
            sign_word(&e1, 0, w, BASE_TS + 1000 * (steps * 1500 - 700) + 1);   /* supersedes an indexed one */
            one_word((unsigned)(16000 - steps), w);
            sign_word(&e2, 0, w, BASE_TS + 1000 * (16000 - steps) + 1);        /* supersedes one ahead */
            snprintf(w, sizeof w, "h-%zu", steps);
            sign_note(&e3, 2, w, "harvest step", BASE_TS + 3);              /* early: indexed part */
            put(s, &e1);
            put(s, &e2);
            put(s, &e3);
            tw_buf_free(&e1);
            tw_buf_free(&e2);
            tw_buf_free(&e3);
            fill(s, 20);
            assert_false(search_both(s, "harvest", &total));      /* as a scan */
            assert_true(total >= steps);
            tw_wordidx_stats(tw_store_wordidx(s), &in);
            assert_true(in.rebuilding);                           /* small writes: the build goes on */
            if (kill && steps == 5) break;
        }
        if (kill) {
            assert_false(done);
            tw_store_close(s);
            s = open_store();                                     /* resumes the build, and ends it */
        }
        assert_true(tw_wordidx_ready(tw_store_wordidx(s)));
        assert_false(tw_wordidx_wants_build(tw_store_wordidx(s)));
        assert_true(search_both(s, "harvest", &total));
        assert_true(total >= 5);
        expect_same_as_rebuilt(s);
        drop_store(s);
    }
}

/* A bulk commit during the rebuild (changes in more blocks than the
 * limit, in the part already built) starts the build again; it ends equal
 * to a fresh build. */
static void bulk_commit_during_rebuild(void **state)
{
    (void)state;
    tw_store *s = one_word_store(31);
    commit_touching(&s, 1, TW_WORDIDX_APPLY_MIN + 1);
    bool done = false;
    tw_wordidx_info in;
    assert_int_equal(tw_wordidx_build_step(s, 30000, &done), 0);
    assert_false(done);
    tw_wordidx_stats(tw_store_wordidx(s), &in);
    assert_int_equal(in.rebuilds, 1);
    assert_int_equal(in.built, 30000);
    /* A commit of 300 records of the part built, 100 apart (a block holds
     * some sixty words): 300 blocks, over the limit. */
    tw_buf *envs = calloc(300, sizeof *envs);
    for (unsigned i = 0; i < 300; i++) {
        char w[ONE_WORD_LEN + 1];
        one_word(i * 100, w);
        tw_buf_init(&envs[i]);
        sign_word(&envs[i], 2, w, BASE_TS + 1000 * (i * 100));
    }
    put_many(s, envs, 300);
    for (unsigned i = 0; i < 300; i++) tw_buf_free(&envs[i]);
    free(envs);
    tw_wordidx_stats(tw_store_wordidx(s), &in);
    assert_true(in.rebuilding);
    assert_int_equal(in.touched, in.limit + 1);
    assert_int_equal(in.built, 0);             /* what it had built is out of date */
    size_t steps = 0;
    while (!done) {
        assert_true(++steps < 100);
        assert_int_equal(tw_wordidx_build_step(s, 2000, &done), 0);
    }
    tw_wordidx_stats(tw_store_wordidx(s), &in);
    assert_int_equal(in.rebuilds, 2);          /* begun afresh */
    assert_true(in.ready);
    uint64_t total;
    char w[ONE_WORD_LEN + 1];
    one_word(400, w);
    assert_true(search_both(s, w, &total));
    assert_int_equal(total, 2);
    expect_same_as_rebuilt(s);
    tw_store_close(s);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    tw_log_set_level(TW_LOG_ERROR);
    randombytes_buf(netid, sizeof netid);
    for (int i = 0; i < 3; i++) {
        uint8_t pk[32], seed[32];
        memset(seed, i + 1, sizeof seed);
        crypto_sign_seed_keypair(pk, sks[i], seed);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(maintained_equals_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(index_finds_what_a_scan_finds, setup, teardown),
        cmocka_unit_test_setup_teardown(page_equals_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(import_ties, setup, teardown),
        cmocka_unit_test_setup_teardown(index_share_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(built_on_open, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_index, setup, teardown),
        cmocka_unit_test_setup_teardown(killed_build_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(blocks_fill_to_the_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(author_rows_fill_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(bulk_commit_limit_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(rebuilt_in_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(bulk_commit_during_rebuild, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
