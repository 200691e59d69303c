/*
 * Search matching (proto/search.c) over a small messy registry of real
 * place and association names (tests/vectors/search-registry.json, also
 * imported by tests/integration/t_search.sh): a table of queries and the
 * record each must find first -- transliterations of Arabic names, accents,
 * word order, Arabic with and without the article and vowel marks -- and
 * queries that must find nothing; the ranking of a word that many names
 * share; the normalisation and variant rules one by one; "did you mean";
 * every limit at its edge; hostile input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "twin/search.h"
#include "json.h"

/* ------------------------------------------------------------ fixture */

typedef struct recd { const char *kind, *slot; const tw_val *body; } recd;

static tw_arena A;
static char *registry_text;
static recd R[64];
static size_t NR;

/* The repository root, from this file's path as the compiler saw it. */
static void repo_path(char *out, size_t cap, const char *rel)
{
    const char *me = __FILE__, *tail = "tests/unit/test_search.c";
    size_t ml = strlen(me), tl = strlen(tail);
    size_t pl = ml >= tl && !strcmp(me + ml - tl, tail) ? ml - tl : 0;
    snprintf(out, cap, "%.*s%s", (int)pl, me, rel);
}

static int load(void **state)
{
    char path[512], err[128];
    repo_path(path, sizeof path, "tests/vectors/search-registry.json");
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); return -1; }
    registry_text = malloc(1 << 20);
    size_t n = fread(registry_text, 1, (1 << 20) - 1, f);
    fclose(f);
    tw_arena_init(&A, 0);
    tw_val v;
    if (tw_json_parse(registry_text, n, &A, &v, NULL, err, sizeof err) != 0 || v.type != TW_ARR || v.len > 64) {
        fprintf(stderr, "%s: %s\n", path, err);
        return -1;
    }
    for (uint32_t i = 0; i < v.len; i++) {
        const tw_val *k = tw_v_get(&v.v.arr[i], "kind"), *s = tw_v_get(&v.v.arr[i], "slot");
        R[NR].kind = tw_arena_strndup(&A, k->v.s, k->len);
        R[NR].slot = tw_arena_strndup(&A, s->v.s, s->len);
        R[NR].body = tw_v_get(&v.v.arr[i], "body");
        NR++;
    }
    return 0;
}

static int unload(void **state)
{
    tw_arena_free(&A);
    free(registry_text);
    return 0;
}

/* Runs a query over the fixture as op_search does: scored in order, best
 * score first, ties in registry order.  Returns the number of matches;
 * order[] gets their indexes, scores[] their scores. */
typedef struct hit { uint32_t score; size_t i; } hit;

static int hit_cmp(const void *a, const void *b)
{
    const hit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static size_t run(const char *text, hit *out, tw_search **keep)
{
    tw_search *q;
    assert_int_equal(tw_search_new(&q, text, strlen(text)), 0);
    size_t n = 0;
    for (size_t i = 0; i < NR; i++) {
        uint32_t s;
        assert_int_equal(tw_search_score(q, R[i].body, R[i].kind, strlen(R[i].kind), R[i].slot,
                                         strlen(R[i].slot), n == 0, &s), 0);
        if (s) out[n++] = (hit){ s, i };
    }
    qsort(out, n, sizeof *out, hit_cmp);
    if (keep) *keep = q;
    else tw_search_free(q);
    return n;
}

static const char *slot_at(const hit *h) { return R[h->i].slot; }

static void show(const char *text, const hit *h, size_t n)
{
    fprintf(stderr, "  query \"%s\" found %zu:", text, n);
    for (size_t i = 0; i < n && i < 8; i++)
        fprintf(stderr, " %s/%s(%s)", R[h[i].i].kind, R[h[i].i].slot, tw_search_match_name(tw_search_score_match(h[i].score)));
    fprintf(stderr, "\n");
}

/* ------------------------------------------------------------ the tables */

static const struct { const char *query, *first, *match; } FIRST[] = {
    /* the examples */
    { "ramallah al bireh", "ramallah-bireh", "exact_name" },
    { "Ramallah & al-Bireh", "ramallah-bireh", "exact_name" },
    { "ramallah el-bireh", "ramallah-bireh", "exact_name" },
    { "khan yunis", "khan-yunis", "exact_name" },
    { "beit sahour", "beit-sahour", "exact_name" },
    { "al amari", "al-amari", "words" },
    { "amari", "al-amari", "words" },
    { "el am'ari", "al-amari", "words" },
    /* Arabic: with and without the article, vowel marks and hamza */
    { "بيت ساحور", "beit-sahour", "exact_name" },
    { "بَيْتُ سَاحُور", "beit-sahour", "exact_name" },
    { "خان يونس", "khan-yunis", "exact_name" },
    { "مخيم الأمعري", "al-amari", "exact_name" },
    { "مخيم الامعري", "al-amari", "exact_name" },
    { "الامعري", "al-amari", "words" },
    { "امعري", "al-amari", "words" },
    { "البيرة", "al-bireh", "exact_name" },
    { "بيرة", "al-bireh", "exact_name" },
    { "رام الله والبيرة", "ramallah-bireh", "exact_name" },
    { "رام الله", "ramallah", "exact_name" },
    { "الخليل", "hebron", "exact_name" },
    { "ابو ديس", "abu-dis", "exact_name" },
    /* Latin transliterations, accents, case, punctuation */
    { "Bayt Sahur", "bayt-sahur", "exact_name" },
    { "bayt sāḥūr", "bayt-sahur", "exact_name" },
    { "BÉIT SAHOUR", "beit-sahour", "exact_name" },
    { "el bireh", "al-bireh", "exact_name" },
    { "al bira", "al-bireh", "exact_name" },
    { "al-khalil", "hebron", "exact_name" },
    { "abu dees", "abu-dis", "exact_name" },
    { "ni'lin", "nilin", "exact_name" },
    { "nilin", "nilin", "exact_name" },
    { "dhahiriya", "ad-dhahiriya", "exact_name" },
    { "ad-dhahiriya", "ad-dhahiriya", "exact_name" },
    { "ed dhahiriyah", "ad-dhahiriya", "variant" },
    { "kalkilia", "qalqilya", "variant" },
    { "qalqiliya", "qalqilya", "variant" },
    { "jabaliya", "jabalia", "variant" },
    { "jabalya camp", "jabalia", "variant" },
    { "dair al balah", "deir-al-balah", "variant" },
    { "deir el-balah", "deir-al-balah", "exact_name" },
    { "beit hanun", "beit-hanoun", "variant" },
    { "janin", "jenin", "variant" },
    { "nablous", "nablus", "variant" },
    { "ramalla", "ramallah", "prefix" },
    { "ramala", "ramallah", "variant" },
    { "beituniya", "beitunia", "exact_name" },
    /* word order, prefixes */
    { "sahour beit", "beit-sahour", "words" },
    { "bireh ramallah", "ramallah-bireh", "words" },
    { "khan yun", "khan-yunis", "prefix" },
    { "beit saho", "beit-sahour", "prefix" },
    { "qalq", "qalqilya", "prefix" },
    /* a whole word ranks above a variant: the group's "Younis" before the
     * place's "Yunis" (the place is second, below) */
    { "khan younis", "sheffield-khan-younis", "words" },
    /* names rank above other fields, at the same level */
    { "ramallah", "ramallah", "exact_name" },
    { "olive harvest", "ashford-beit-sahour", "words" },
    { "camden", "camden-abu-dis", "words" },
    { "jabalia", "jabalia", "words" },
};

static const char *const NOTHING[] = {
    "xylophone", "helicopter quartz", "zzqv", "ramallah nablus", "beit xylophone", "jenin 1984",
    "رفحة بيت", "lorem ipsum", "qwerty",
};

static void test_first(void **state)
{
    hit h[64];
    for (size_t t = 0; t < sizeof FIRST / sizeof FIRST[0]; t++) {
        size_t n = run(FIRST[t].query, h, NULL);
        if (n == 0 || strcmp(slot_at(&h[0]), FIRST[t].first) != 0 ||
            strcmp(tw_search_match_name(tw_search_score_match(h[0].score)), FIRST[t].match) != 0) {
            show(FIRST[t].query, h, n);
            fail_msg("\"%s\": expected %s first (%s)", FIRST[t].query, FIRST[t].first, FIRST[t].match);
        }
    }
}

static void test_nothing(void **state)
{
    hit h[64];
    for (size_t t = 0; t < sizeof NOTHING / sizeof NOTHING[0]; t++) {
        size_t n = run(NOTHING[t], h, NULL);
        if (n) { show(NOTHING[t], h, n); fail_msg("\"%s\" must find nothing", NOTHING[t]); }
    }
}

static bool found(const hit *h, size_t n, const char *slot)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(slot_at(&h[i]), slot)) return true;
    return false;
}

static size_t rank_of(const hit *h, size_t n, const char *kind, const char *slot)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(slot_at(&h[i]), slot) && !strcmp(R[h[i].i].kind, kind)) return i;
    fail_msg("%s/%s not found", kind, slot);
    return 0;
}

/* The misses: "ramallah" does not find Rafah (nor does anything
 * else of Ramallah's); Khan Yunis comes right after the group whose name
 * has "Younis" whole; both spellings of Beit Sahour come first for a third. */
static void test_not_others(void **state)
{
    hit h[64];
    size_t n = run("ramallah", h, NULL);
    assert_true(n >= 3);
    assert_false(found(h, n, "rafah"));
    assert_false(found(h, n, "al-bireh"));
    n = run("rafah", h, NULL);
    assert_int_equal(n, 1);
    assert_string_equal(slot_at(&h[0]), "rafah");
    n = run("khan younis", h, NULL);
    assert_true(n >= 3);
    assert_string_equal(slot_at(&h[1]), "khan-yunis");
    assert_string_equal(slot_at(&h[2]), "khan-yunis-camp");
    n = run("beit sahur", h, NULL);
    assert_true(n >= 3);
    assert_true((!strcmp(slot_at(&h[0]), "beit-sahour") && !strcmp(slot_at(&h[1]), "bayt-sahur")) ||
                (!strcmp(slot_at(&h[0]), "bayt-sahur") && !strcmp(slot_at(&h[1]), "beit-sahour")));
    /* Variants stay out of free text: "bat" matches Beit in names only. */
    n = run("olive harvest beyt", h, NULL);
    assert_int_equal(n, 0);
}

/* "beit" alone: every Beit place (whole word, one other word) first, then
 * the group whose name has Beit among more words, then the link that
 * mentions it in its description (not a name), then Beitunia (a prefix),
 * then Bayt Sahur (a variant); nothing else. */
static void test_beit_ranked(void **state)
{
    hit h[64];
    size_t n = run("beit", h, NULL);
    static const char *const places[] = { "beit-sahour", "beit-jala", "beit-ummar", "beit-hanoun" };
    for (size_t i = 0; i < 4; i++) assert_true(rank_of(h, n, "place", places[i]) < 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(tw_search_match_name(tw_search_score_match(h[i].score)), "words");
    assert_int_equal(rank_of(h, n, "group", "ashford-beit-sahour"), 4);
    assert_int_equal(rank_of(h, n, "link", "ashford-beit-sahour"), 5);
    assert_int_equal(rank_of(h, n, "place", "beitunia"), 6);
    assert_int_equal(rank_of(h, n, "place", "bayt-sahur"), 7);
    assert_string_equal(tw_search_match_name(tw_search_score_match(h[6].score)), "prefix");
    assert_string_equal(tw_search_match_name(tw_search_score_match(h[7].score)), "variant");
    assert_int_equal(n, 8);
    /* And in Arabic: the four Beit places and Bethlehem (بيت لحم), not Beitunia
     * (بيتونيا is a prefix match, after them). */
    n = run("بيت", h, NULL);
    assert_int_equal(n, 6);
    assert_int_equal(rank_of(h, n, "place", "beitunia"), 5);
}

/* ------------------------------------------------------------ the rules */

static void test_normalize(void **state)
{
    static const char *const T[][2] = {
        { "Ramallah and al-Bireh", "ramallah bireh" },
        { "Ramallah & El Bireh", "ramallah bireh" },
        { "Al-Am'ari camp", "amari camp" },
        { "Al-Am\xca\xbf" "ari", "amari" },            /* ʿ (U+02BF) */
        { "al\xe2\x80\x99" "Amari", "amari" },        /* ’ after the article separates it */
        { "ad'Dhahiriya", "dhahiriya" },
        { "Ash-Shati camp", "shati camp" },
        { "Deir al-Balah", "deir balah" },
        { "Ni'lin", "nilin" },
        { "'Ein Arik'", "ein arik" },
        { "Stand and deliver", "stand deliver" },
        { "مخيم الأمعري", "مخيم امعري" },
        { "رام الله والبيرة", "رام الله بيره" },     /* الله keeps its article: two letters after it */
        { "و البيرة", "بيره" },
        { "الرام", "رام" },
        { "الجيب", "جيب" },
        { "ال", "" },
        { "  --  ", "" },
    };
    char out[256];
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        tw_search_normalize(T[i][0], strlen(T[i][0]), out);
        if (strcmp(out, T[i][1]) != 0) fail_msg("normalize \"%s\": \"%s\", expected \"%s\"", T[i][0], out, T[i][1]);
    }
}

static void variant_of(const char *w, char *out)
{
    char n[128];
    tw_search_normalize(w, strlen(w), n);
    tw_search_variant(n, strlen(n), out);
}

static void test_variants(void **state)
{
    static const char *const SAME[][2] = {
        { "sahour", "sahur" }, { "younis", "yunis" }, { "yunes", "younes" }, { "beit", "bayt" }, { "bait", "beyt" },
        { "deir", "dair" }, { "dayr", "der" }, { "abu", "abou" }, { "dees", "dis" }, { "ramallah", "ramala" },
        { "shatti", "shati" }, { "bireh", "bira" }, { "qalqilya", "kalkilia" }, { "jabalia", "jabaliya" },
        { "jabalya", "jabalia" }, { "jenin", "janin" }, { "hanoun", "hanun" }, { "kafr", "kufr" },
        { "ein", "ayn" }, { "tel", "tall" }, { "ساحور", "ساحور" }, { "رئيس", "رييس" }, { "مؤتمر", "موتمر" },
    };
    static const char *const DIFFERENT[][2] = {
        { "ramallah", "rafah" }, { "ramallah", "ramla" }, { "khan", "han" }, { "beit", "bethlehem" },
        { "jenin", "jericho" }, { "nablus", "nabi" }, { "yatta", "atta" }, { "sahour", "sakhur" },
    };
    char a[128], b[128];
    for (size_t i = 0; i < sizeof SAME / sizeof SAME[0]; i++) {
        variant_of(SAME[i][0], a);
        variant_of(SAME[i][1], b);
        if (!a[0] || strcmp(a, b) != 0) fail_msg("%s (%s) and %s (%s) should share a key", SAME[i][0], a, SAME[i][1], b);
    }
    for (size_t i = 0; i < sizeof DIFFERENT / sizeof DIFFERENT[0]; i++) {
        variant_of(DIFFERENT[i][0], a);
        variant_of(DIFFERENT[i][1], b);
        if (!strcmp(a, b)) fail_msg("%s and %s should not share a key (%s)", DIFFERENT[i][0], DIFFERENT[i][1], a);
    }
    /* No key for short words, numbers, or words without a consonant. */
    assert_int_equal(tw_search_variant("ab", 2, a), 0);
    assert_int_equal(tw_search_variant("abc", 3, a), 3);
    assert_int_equal(tw_search_variant("1984", 4, a), 0);
    assert_int_equal(tw_search_variant("aia", 3, a), 0);
    assert_int_equal(tw_search_variant("\xd8\xa8\xd9\x8a", 4, a), 0);   /* بي: two letters */
}

/* ------------------------------------------------------------ did you mean */

static void test_suggestions(void **state)
{
    static const struct { const char *query, *first; } T[] = {
        { "bethelem", "Bethlehem" }, { "jenim", "Jenin" }, { "tulkarem", "Tulkarm" }, { "hebrom", "Hebron" },
        { "nablsu", "Nablus" }, { "deheisheh", "Dheisheh camp" }, { "ساحوز", "بيت ساحور" }, { "xylophone camden", "Camden Abu Dis Friendship Association" },
    };
    hit h[64];
    for (size_t t = 0; t < sizeof T / sizeof T[0]; t++) {
        tw_search *q;
        size_t n = run(T[t].query, h, &q);
        if (n) show(T[t].query, h, n);
        assert_int_equal(n, 0);
        const tw_search_suggestion *g = tw_search_suggestion_at(q, 0);
        if (!g || strcmp(g->text, T[t].first) != 0)
            fail_msg("\"%s\": expected \"%s\" suggested first, got \"%s\"", T[t].query, T[t].first, g ? g->text : "(none)");
        tw_search_free(q);
    }
    /* Nothing close: no suggestion. */
    tw_search *q;
    assert_int_equal(run("xylophone", h, &q), 0);
    assert_int_equal(tw_search_suggestion_count(q), 0);
    tw_search_free(q);
    /* "hebron" itself suggests from the kind and slot of the record. */
    assert_int_equal(run("hebrn", h, &q), 0);
    const tw_search_suggestion *g = tw_search_suggestion_at(q, 0);
    assert_non_null(g);
    assert_string_equal(g->kind, "place");
    assert_string_equal(g->slot, "hebron");
    assert_int_equal(g->distance, 1);
    assert_int_equal(g->missing, 0);
    tw_search_free(q);
}

/* TW_SEARCH_SUGGEST_MAX names at most, closest first, each name once however
 * many records (or fields) bear it. */
static void test_suggest_max(void **state)
{
    static const char *const names[] = { "Tarqumiya", "Tarqumia", "Taqumiya", "Tarkumiyah", "TARQUMIYA",
                                         "Tarqumiya Camp", "Tarumiya", "Tarqumiyya", "Targumiya" };
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_search *q;
    assert_int_equal(tw_search_new(&q, "tarkumiza", 9), 0);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tw_val body;
        assert_int_equal(tw_v_map(&a, &body, 2), 0);
        body.v.map[0].k = tw_v_cstr("name_en");
        body.v.map[0].v = tw_v_cstr(names[i]);
        body.v.map[1].k = tw_v_cstr("description");
        body.v.map[1].v = tw_v_cstr("A town in Hebron governorate");
        uint32_t s;
        assert_int_equal(tw_search_score(q, &body, "place", 5, "t", 1, true, &s), 0);
        assert_int_equal(s, 0);
    }
    assert_int_equal(tw_search_suggestion_count(q), TW_SEARCH_SUGGEST_MAX);
    unsigned last = 0;
    for (size_t i = 0; i < TW_SEARCH_SUGGEST_MAX; i++) {
        const tw_search_suggestion *g = tw_search_suggestion_at(q, i);
        assert_true(g->distance >= last);
        last = g->distance;
        for (size_t j = 0; j < i; j++)
            assert_true(strcasecmp(g->text, tw_search_suggestion_at(q, j)->text) != 0);
    }
    assert_null(tw_search_suggestion_at(q, TW_SEARCH_SUGGEST_MAX));
    tw_search_free(q);
    tw_arena_free(&a);
}

static void test_edit_distance(void **state)
{
    assert_int_equal(tw_search_edit_distance("jenin", 5, "jenim", 5, 1), 1);
    assert_int_equal(tw_search_edit_distance("kitten", 6, "sitting", 7, 3), 3);
    assert_int_equal(tw_search_edit_distance("kitten", 6, "sitting", 7, 2), 3);        /* beyond the bound */
    assert_int_equal(tw_search_edit_distance("", 0, "abc", 3, 3), 3);
    assert_int_equal(tw_search_edit_distance("ساحور", 10, "ساحوز", 10, 1), 1);        /* code points, not bytes */
    /* The bound by length, at each step. */
    assert_int_equal(tw_search_edit_bound(3), 0);
    assert_int_equal(tw_search_edit_bound(4), 1);
    assert_int_equal(tw_search_edit_bound(5), 1);
    assert_int_equal(tw_search_edit_bound(6), 2);
    assert_int_equal(tw_search_edit_bound(9), 2);
    assert_int_equal(tw_search_edit_bound(10), 3);
    /* TW_SEARCH_EDIT_WORD_MAX code points are compared, one more is not. */
    char a[TW_SEARCH_EDIT_WORD_MAX + 2], b[TW_SEARCH_EDIT_WORD_MAX + 2];
    memset(a, 'a', sizeof a);
    memset(b, 'a', sizeof b);
    b[0] = 'b';
    assert_int_equal(tw_search_edit_distance(a, TW_SEARCH_EDIT_WORD_MAX, b, TW_SEARCH_EDIT_WORD_MAX, 3), 1);
    assert_int_equal(tw_search_edit_distance(a, TW_SEARCH_EDIT_WORD_MAX + 1, b, TW_SEARCH_EDIT_WORD_MAX + 1, 3), 4);
}

/* ------------------------------------------------------------ limits, bad input */

static void test_limits(void **state)
{
    tw_search *q;
    char text[TW_STR_MAX + 2];
    /* TW_STR_MAX bytes are accepted, one more is not. */
    memset(text, 'a', sizeof text);
    assert_int_equal(tw_search_new(&q, text, TW_STR_MAX), 0);
    tw_search_free(q);
    assert_int_equal(tw_search_new(&q, text, TW_STR_MAX + 1), TW_ETOOBIG);
    assert_null(q);
    /* TW_SEARCH_WORDS_MAX words, one more; articles and "and" do not count. */
    size_t o = 0;
    for (unsigned i = 0; i < TW_SEARCH_WORDS_MAX; i++) o += (size_t)sprintf(text + o, "w%u al and ", i);
    assert_int_equal(tw_search_new(&q, text, o), 0);
    tw_search_free(q);
    o += (size_t)sprintf(text + o, "last");
    assert_int_equal(tw_search_new(&q, text, o), TW_ETOOBIG);
    o = 0;
    for (unsigned i = 0; i <= TW_SEARCH_WORDS_MAX; i++) o += (size_t)sprintf(text + o, "al ");
    assert_int_equal(tw_search_new(&q, text, o), TW_ETOOBIG);       /* only articles: they are the words */
    /* Nothing to search. */
    assert_int_equal(tw_search_new(&q, "", 0), TW_EINVAL);
    assert_int_equal(tw_search_new(&q, " -'- ", 5), TW_EINVAL);
    assert_int_equal(tw_search_new(&q, "\xd9\x8e\xd9\x8f", 4), TW_EINVAL);   /* vowel marks alone */
    assert_int_equal(tw_search_new(&q, "\xff\xfe", 2), TW_EINVAL);          /* invalid UTF-8 alone */
}

/* A query of articles only searches for them; odd bytes are harmless. */
static void test_odd_input(void **state)
{
    hit h[64];
    size_t n = run("al", h, NULL);
    assert_true(n >= 1);
    assert_true(found(h, n, "deir-al-balah"));
    n = run("jen\xffin", h, NULL);          /* an invalid byte is dropped */
    assert_true(n >= 1);
    assert_string_equal(slot_at(&h[0]), "jenin");
    tw_search *q;
    assert_int_equal(tw_search_new(&q, "lab\0nablus", 10), 0);     /* NUL separates words */
    tw_val notmap = tw_v_cstr("Nablus");
    uint32_t s = 1;
    assert_int_equal(tw_search_score(q, &notmap, "place", 5, "x", 1, true, &s), 0);
    assert_int_equal(s, 0);
    assert_int_equal(tw_search_score(q, NULL, "place", 5, "x", 1, true, &s), 0);
    assert_int_equal(s, 0);
    /* A long field (more than any scratch buffer so far), nested lists and maps. */
    tw_arena a;
    tw_arena_init(&a, 0);
    char *big = tw_arena_alloc(&a, 20000);
    for (size_t i = 0; i < 19999; i++) big[i] = "nablus lab "[i % 11];
    tw_val body, inner;
    assert_int_equal(tw_v_map(&a, &body, 2), 0);
    assert_int_equal(tw_v_map(&a, &inner, 1), 0);
    inner.v.map[0].k = tw_v_cstr("x");
    inner.v.map[0].v = tw_v_str(big, 19999);
    body.v.map[0].k = tw_v_cstr("deep");
    body.v.map[0].v = inner;
    body.v.map[1].k = tw_v_cstr("n");
    body.v.map[1].v = tw_v_uint(7);
    assert_int_equal(tw_search_score(q, &body, "x", 1, "y", 1, true, &s), 0);
    assert_int_equal(tw_search_score_match(s), TW_MATCH_WORDS);
    tw_search_free(q);
    tw_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first),
        cmocka_unit_test(test_nothing),
        cmocka_unit_test(test_not_others),
        cmocka_unit_test(test_beit_ranked),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_variants),
        cmocka_unit_test(test_suggestions),
        cmocka_unit_test(test_suggest_max),
        cmocka_unit_test(test_edit_distance),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_odd_input),
    };
    return cmocka_run_group_tests(tests, load, unload);
}
