/*
 * Search matching (include/twin/search.h; rules in proto/SCHEMA.md,
 * "Search matching").
 *
 * A hub coordinator types "khan younis" or "ramallah al bireh" and expects
 * "Khan Yunis" and "Ramallah and al-Bireh": the same names transliterated
 * from Arabic another way, with the article written or not, words in
 * another order, half typed.  So matching is by words, not by substring:
 * every word of the query must match a word of the record, whole, as a
 * prefix, or -- in name fields only, where transliterations live -- by a
 * variant key that forgets what transliterations disagree on (vowels,
 * doubled letters, q/k, a final h).  Free text (descriptions) is kept out
 * of variant matching: there "bit" and "but" would match every "Beit".
 *
 * Records are scored one at a time as the store is scanned, so the work
 * per record is a fold of each string and a comparison of each word with
 * the few query words; variant keys of a record's words are computed only
 * when a query word found nothing better in that word.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "twin/err.h"
#include "twin/schema.h"
#include "twin/search.h"

#define W TW_SEARCH_WORDS_MAX
#define VARIANT_MIN 3u          /* letters a word needs to have a variant key */

/* The level sum of the score has six bits: 16 words of level 3 at most. */
_Static_assert(TW_SEARCH_WORDS_MAX * 3 < 64, "level sum fits in its bits");

/* Levels of one query word against one record word, best last. */
enum { LV_NONE = 0, LV_VARIANT, LV_PREFIX, LV_WORD };

/* The fields that hold a record's names (group, place, vouch). */
static const char *const name_fields[] = { "name", "name_en", "name_ar", "other_names" };
static const size_t name_lens[] = { 4, 7, 7, 11 };

#define M TW_SEARCH_EDIT_WORD_MAX

typedef struct qword {
    const char *s;      /* normalised word */
    size_t n;
    const char *v;      /* its variant key, vn == 0 when it has none */
    size_t vn;
    uint32_t cp[M], vcp[M];   /* the word and its key in code points, for edit distances */
    size_t ncp, nvcp;         /* M + 1: too long to be compared */
    uint32_t mask, vmask;     /* letters of an ASCII word and key (letter_mask); 0 otherwise */
    char vfirst;              /* first byte of the key */
    unsigned bound;           /* edits allowed for a suggestion */
} qword;

/* A name of the record being scored that is close enough to suggest. */
typedef struct cand { const char *s; size_t n; unsigned missing, dist; } cand;

struct tw_search {
    qword w[W];
    size_t nw;
    bool fallback;      /* the text is only stop words: they are the words */
    bool variants;      /* some query word has a variant key */
    char *mem;          /* the words and their keys */
    char *pre, *fold, *var;   /* scratch for one field, cap bytes each */
    size_t cap;
    bool suggesting;    /* the record being scored offers its names */
    cand cand[TW_SEARCH_SUGGEST_MAX];
    size_t ncand;
    tw_search_suggestion sug[TW_SEARCH_SUGGEST_MAX];
    char *sugkey[TW_SEARCH_SUGGEST_MAX];   /* folded text, to keep names distinct */
    size_t nsug;
};

/* ------------------------------------------------------------ text */

/* An apostrophe-like character at s: ' ` ´ ʹ ʻ ʼ ʾ ʿ ‘ ’ ′.  Its length, or 0. */
static size_t apos_len(const unsigned char *s, size_t n)
{
    if (s[0] == '\'' || s[0] == '`') return 1;
    if (n >= 2 && s[0] == 0xC2 && s[1] == 0xB4) return 2;
    if (n >= 2 && s[0] == 0xCA && (s[1] == 0xB9 || s[1] == 0xBB || s[1] == 0xBC || s[1] == 0xBE || s[1] == 0xBF))
        return 2;
    if (n >= 3 && s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0x98 || s[2] == 0x99 || s[2] == 0xB2)) return 3;
    return 0;
}

static bool ascii_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool latin_article(const char *s, size_t n)
{
    /* al el an en ar er as es at et ad ed az ez, ash esh ath eth adh edh */
    if (n < 2 || n > 3) return false;
    char a = (char)(s[0] | 0x20), b = (char)(s[1] | 0x20);
    if (a != 'a' && a != 'e') return false;
    if (n == 2) return b == 'l' || b == 'n' || b == 'r' || b == 's' || b == 't' || b == 'd' || b == 'z';
    return (s[2] | 0x20) == 'h' && (b == 's' || b == 't' || b == 'd');
}

/*
 * Apostrophes inside a word join its parts ("Am'ari" -> "Amari",
 * "Ni'lin" -> "Nilin"), except after an article, which they separate
 * ("ad'Dhahiriya" -> "ad Dhahiriya"); elsewhere they are left for the fold
 * to turn into spaces.  The output is never longer than the input.
 */
static size_t join_apostrophes(char *out, const char *in, size_t n)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0, i = 0;
    while (i < n) {
        size_t al = apos_len(s + i, n - i);
        if (al && o > 0 && (ascii_alnum((unsigned char)out[o - 1]) || (unsigned char)out[o - 1] >= 0x80) &&
            i + al < n && (ascii_alnum(s[i + al]) || (s[i + al] >= 0xC3 && s[i + al] <= 0xDB) || s[i + al] == 0xE1)) {
            size_t b = o;
            while (b > 0 && ascii_alnum((unsigned char)out[b - 1])) b--;
            bool art = (b == 0 || !((unsigned char)out[b - 1] >= 0x80)) && latin_article(out + b, o - b);
            if (art) out[o++] = ' ';
            i += al;
            continue;
        }
        out[o++] = in[i++];
    }
    return o;
}

static size_t cp_count(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static bool all_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return false;
    return true;
}

#define AR_AL  "\xd8\xa7\xd9\x84"          /* ال */
#define AR_WA  "\xd9\x88"                  /* و */

/*
 * Normalises one folded word in place (*s, *n may move past an Arabic
 * article; *ascii says whether it is all ASCII); returns true for a stop word: a Latin article, "and", the
 * Arabic article or "و" standing alone.
 */
static bool normalize_word(const char **s, size_t *n, bool *ascii)
{
    *ascii = all_ascii(*s, *n);
    if (*ascii) return latin_article(*s, *n) || (*n == 3 && memcmp(*s, "and", 3) == 0);
    if ((*n == 2 && memcmp(*s, AR_WA, 2) == 0) || (*n == 4 && memcmp(*s, AR_AL, 4) == 0)) return true;
    /* The article joined to the word, with "and" before it or not; a word
     * of two letters after "ال" keeps it (الله). */
    if (*n > 6 && memcmp(*s, AR_WA AR_AL, 6) == 0 && cp_count(*s + 6, *n - 6) >= 3) { *s += 6; *n -= 6; }
    else if (*n > 4 && memcmp(*s, AR_AL, 4) == 0 && cp_count(*s + 4, *n - 4) >= 3) { *s += 4; *n -= 4; }
    return false;
}

/*
 * join_apostrophes and tw_text_fold in one pass, for text that is all
 * ASCII (most fields: codes, enumerations, English names), with the same
 * result: letters lowercased, digits kept, anything else a single space
 * between words.  False, with nothing decided, when the text is not ASCII.
 */
static bool fold_ascii(char *out, const char *in, size_t n, size_t *len)
{
    size_t o = 0;
    bool space = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 0x80) return false;
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (space) { out[o++] = ' '; space = false; }
            out[o++] = (char)c;
        } else if ((c == '\'' || c == '`') && o > 0 && !space && i + 1 < n && ascii_alnum((unsigned char)in[i + 1])) {
            size_t b = o;
            while (b > 0 && out[b - 1] != ' ') b--;
            space = latin_article(out + b, o - b);
        } else {
            space = o > 0;
        }
    }
    out[o] = 0;
    *len = o;
    return true;
}

/* Folds a field into q->fold (apostrophes joined first); its length. */
static int prep(tw_search *q, const char *s, size_t n, size_t *len)
{
    if (n + 1 > q->cap) {
        size_t cap = n + 1 < 1024 ? 1024 : n + 1;
        char *p = malloc(3 * cap);
        if (!p) return TW_ENOMEM;
        free(q->pre);
        q->pre = p;
        q->fold = p + cap;
        q->var = p + 2 * cap;
        q->cap = cap;
    }
    if (fold_ascii(q->fold, s, n, len)) return 0;
    size_t pl = join_apostrophes(q->pre, s, n);
    *len = tw_text_fold(q->fold, q->pre, pl);
    return 0;
}

/* The next word of folded text from *p; false at the end. */
static bool next_word(const char **p, const char *end, const char **w, size_t *wn)
{
    const char *s = *p;
    while (s < end && *s == ' ') s++;
    if (s == end) { *p = s; return false; }
    const char *e = s;
    while (e < end && *e != ' ') e++;
    *w = s;
    *wn = (size_t)(e - s);
    *p = e;
    return true;
}

size_t tw_search_normalize(const char *text, size_t len, char *out)
{
    /* Apostrophes joined, then folded: neither grows the text. */
    size_t pl = join_apostrophes(out, text, len);
    char *tmp = malloc(pl + 1);
    if (!tmp) { out[0] = 0; return 0; }
    size_t fl = tw_text_fold(tmp, out, pl);
    const char *p = tmp, *end = tmp + fl, *w;
    size_t wn, o = 0;
    bool ascii;
    while (next_word(&p, end, &w, &wn)) {
        if (normalize_word(&w, &wn, &ascii)) continue;
        if (o) out[o++] = ' ';
        memcpy(out + o, w, wn);
        o += wn;
    }
    out[o] = 0;
    free(tmp);
    return o;
}

/* ------------------------------------------------------------ variants */

static bool vowel(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

/* The first byte of the variant key of an ASCII word of at least 2
 * letters (tw_search_variant's rules): a cheap test before the whole key. */
static char variant_first(const char *w, size_t n)
{
    char c = w[0];
    if (c == 'q') return 'k';
    if (vowel(c) || (c == 'y' && !(n > 1 && vowel(w[1])))) return 'a';
    return c;
}

/* The set of letters and digits of an ASCII word, one bit each (digits
 * share six bits).  A letter of one word missing from the other costs an
 * edit at least, so the larger of the two differences is a lower bound of
 * the edit distance: most words are ruled out without one. */
static uint32_t letter_mask(const char *w, size_t n)
{
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w[i];
        if (c >= 'a' && c <= 'z') m |= 1u << (c - 'a');
        else if (c >= '0' && c <= '9') m |= 1u << (26 + (c - '0') % 6);
        else return 0;
    }
    return m;
}

static unsigned mask_bound(uint32_t a, uint32_t b)
{
    unsigned x = (unsigned)__builtin_popcount(a & ~b), y = (unsigned)__builtin_popcount(b & ~a);
    return x > y ? x : y;
}

/*
 * Latin words: a final h after a vowel goes (Bireh/Bira), q becomes k
 * (Qalqilya/Kalkilya), every run of vowels becomes one "a" (Sahour/Sahur,
 * Beit/Bayt, Younis/Yunis/Yunes, Jenin/Janin) -- y counts as a vowel
 * except at the start of a word before a vowel (Yatta) -- and doubled
 * consonants become one (Ramallah/Ramala, Shatti/Shati).  Arabic words:
 * hamza on a seat becomes the seat (ئ -> ي, ؤ -> و) and a lone hamza goes.
 */
size_t tw_search_variant(const char *w, size_t n, char *out)
{
    size_t o = 0;
    if (!all_ascii(w, n)) {
        const unsigned char *s = (const unsigned char *)w;
        for (size_t i = 0; i < n; i++) {
            if (i + 1 < n && s[i] == 0xD8 && s[i + 1] == 0xA6) { out[o++] = (char)0xD9; out[o++] = (char)0x8A; i++; }
            else if (i + 1 < n && s[i] == 0xD8 && s[i + 1] == 0xA4) { out[o++] = (char)0xD9; out[o++] = (char)0x88; i++; }
            else if (i + 1 < n && s[i] == 0xD8 && s[i + 1] == 0xA1) i++;
            else out[o++] = w[i];
        }
        out[o] = 0;
        return cp_count(out, o) >= VARIANT_MIN ? o : 0;
    }
    if (n < VARIANT_MIN) return 0;
    for (size_t i = 0; i < n; i++)
        if (w[i] >= '0' && w[i] <= '9') return 0;
    size_t end = n;
    if (w[end - 1] == 'h' && vowel(w[end - 2])) end--;
    bool consonant = false;
    for (size_t i = 0; i < end; i++) {
        char c = w[i] == 'q' ? 'k' : w[i];
        bool v = vowel(c) || (c == 'y' && !(i == 0 && i + 1 < end && vowel(w[i + 1])));
        if (v) {
            if (o == 0 || out[o - 1] != 'a') out[o++] = 'a';
        } else if (o == 0 || out[o - 1] != c) {
            out[o++] = c;
            consonant = true;
        }
    }
    out[o] = 0;
    return consonant ? o : 0;
}

/* ------------------------------------------------------------ edit distance */

/* Decodes UTF-8 into code points (an invalid byte counts as one); the
 * count, or max + 1 when there are more. */
static size_t decode(const char *s, size_t n, uint32_t *out, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (k == max) return max + 1;
        uint32_t c = u[i];
        size_t l = 1;
        if (c >= 0xC0 && c < 0xE0 && i + 1 < n) { c = (c & 0x1F) << 6 | (u[i + 1] & 0x3F); l = 2; }
        else if (c >= 0xE0 && c < 0xF0 && i + 2 < n) { c = (c & 0x0F) << 12 | (u[i + 1] & 0x3Fu) << 6 | (u[i + 2] & 0x3F); l = 3; }
        else if (c >= 0xF0 && i + 3 < n) {
            c = (c & 0x07) << 18 | (u[i + 1] & 0x3Fu) << 12 | (u[i + 2] & 0x3Fu) << 6 | (u[i + 3] & 0x3F);
            l = 4;
        }
        out[k++] = c;
        i += l;
    }
    return k;
}

/* Levenshtein distance of two words of at most M code points, or
 * bound + 1 as soon as it must be more than bound. */
static unsigned lev(const uint32_t *a, size_t la, const uint32_t *b, size_t lb, unsigned bound)
{
    if ((la > lb ? la - lb : lb - la) > bound) return bound + 1;
    unsigned row[2][M + 1];
    unsigned *prev = row[0], *cur = row[1];
    for (size_t j = 0; j <= lb; j++) prev[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (unsigned)i;
        unsigned lo = cur[0];
        for (size_t j = 1; j <= lb; j++) {
            unsigned d = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < d) d = prev[j] + 1;
            if (cur[j - 1] + 1 < d) d = cur[j - 1] + 1;
            cur[j] = d;
            if (d < lo) lo = d;
        }
        if (lo > bound) return bound + 1;   /* every path through this row is too long */
        unsigned *t = prev; prev = cur; cur = t;
    }
    return prev[lb] > bound ? bound + 1 : prev[lb];
}

unsigned tw_search_edit_distance(const char *a, size_t an, const char *b, size_t bn, unsigned bound)
{
    uint32_t A[M], B[M];
    size_t la = decode(a, an, A, M), lb = decode(b, bn, B, M);
    if (la > M || lb > M) return bound + 1;
    return lev(A, la, B, lb, bound);
}

unsigned tw_search_edit_bound(size_t n)
{
    return n <= 3 ? 0 : n <= 5 ? 1 : n <= 9 ? 2 : 3;
}

/* ------------------------------------------------------------ the query */

int tw_search_new(tw_search **out, const char *text, size_t len)
{
    *out = NULL;
    if (len > TW_STR_MAX) return TW_ETOOBIG;
    tw_search *q = calloc(1, sizeof *q);
    if (!q) return TW_ENOMEM;
    size_t fl;
    int rc = prep(q, text, len, &fl);
    if (rc == 0 && !(q->mem = malloc(2 * (fl + 1)))) rc = TW_ENOMEM;
    if (rc) { tw_search_free(q); return rc; }
    /* Stop words count only when there is nothing else. */
    size_t words = 0, stops = 0;
    const char *p = q->fold, *end = q->fold + fl, *w;
    size_t wn;
    bool ascii;
    while (next_word(&p, end, &w, &wn)) {
        if (normalize_word(&w, &wn, &ascii)) stops++;
        else words++;
    }
    if (words + stops == 0) { tw_search_free(q); return TW_EINVAL; }
    q->fallback = words == 0;
    if ((q->fallback ? stops : words) > W) { tw_search_free(q); return TW_ETOOBIG; }
    char *m = q->mem;
    p = q->fold;
    while (next_word(&p, end, &w, &wn)) {
        if (normalize_word(&w, &wn, &ascii) && !q->fallback) continue;
        qword *x = &q->w[q->nw++];
        memcpy(m, w, wn);
        m[wn] = 0;
        x->s = m;
        x->n = wn;
        m += wn + 1;
        x->vn = tw_search_variant(w, wn, m);
        x->v = m;
        m += x->vn + 1;
        x->ncp = decode(x->s, x->n, x->cp, M);
        x->nvcp = x->vn ? decode(x->v, x->vn, x->vcp, M) : 0;
        x->bound = tw_search_edit_bound(x->ncp);
        x->mask = letter_mask(x->s, x->n);
        x->vmask = x->vn ? letter_mask(x->v, x->vn) : 0;
        x->vfirst = x->vn ? x->v[0] : 0;
        q->variants |= x->vn != 0;
    }
    *out = q;
    return 0;
}

void tw_search_free(tw_search *q)
{
    if (!q) return;
    for (size_t i = 0; i < q->nsug; i++) {
        free(q->sug[i].text);
        free(q->sugkey[i]);
    }
    free(q->pre);
    free(q->mem);
    free(q);
}

/* ------------------------------------------------------------ suggestions */

/*
 * Brings each query word's closest distance so far (sb[i]; bound + 1:
 * none close enough) down with one word of a name.  Lengths are compared
 * before anything is decoded: most words are too long or too short.
 */
static void suggest_word(tw_search *q, const char *w, size_t wn, unsigned *sb, size_t *vn, bool *vdone)
{
    uint32_t cp[M], vcp[M];
    size_t nc = M + 2, nv = M + 2;          /* M + 2: not decoded yet */
    size_t wc = cp_count(w, wn);
    bool number = w[0] >= '0' && w[0] <= '9';
    uint32_t wm = letter_mask(w, wn), vm = 0;
    bool vmdone = false;
    for (size_t i = 0; i < q->nw; i++) {
        const qword *x = &q->w[i];
        /* A number is no misspelling of a name, nor a name of a number. */
        if (sb[i] == 0 || x->ncp > M || number != (x->s[0] >= '0' && x->s[0] <= '9')) continue;
        unsigned b = sb[i] - 1, d = b + 1;  /* only a closer word helps */
        if (wc <= M && (wc > x->ncp ? wc - x->ncp : x->ncp - wc) <= b &&
            !(wm && x->mask && mask_bound(wm, x->mask) > b)) {
            if (nc == M + 2) nc = decode(w, wn, cp, M);
            d = lev(x->cp, x->ncp, cp, nc, b);
        }
        if (d > 0 && x->nvcp && x->nvcp <= M) {
            if (!*vdone) { *vn = tw_search_variant(w, wn, q->var); *vdone = true; }
            unsigned bb = d <= b ? d - 1 : b;
            size_t vc = *vn ? cp_count(q->var, *vn) : 0;
            if (vc && !vmdone) { vm = letter_mask(q->var, *vn); vmdone = true; }
            if (vc && vc <= M && (vc > x->nvcp ? vc - x->nvcp : x->nvcp - vc) <= bb &&
                !(vm && x->vmask && mask_bound(vm, x->vmask) > bb)) {
                if (nv == M + 2) nv = decode(q->var, *vn, vcp, M);
                unsigned dv = lev(x->vcp, x->nvcp, vcp, nv, bb);
                if (dv < d) d = dv;
            }
        }
        if (d < sb[i]) sb[i] = d;
    }
}

/* Orders suggestions: fewer missing words, fewer edits, shorter name. */
static bool sug_before(unsigned m1, unsigned d1, size_t l1, unsigned m2, unsigned d2, size_t l2)
{
    if (m1 != m2) return m1 < m2;
    if (d1 != d2) return d1 < d2;
    return l1 < l2;
}

/* Keeps a name of the record being scored as a candidate, if close enough:
 * at least half the query's words (and one at least) have a close word in
 * it.  A record offers its TW_SEARCH_SUGGEST_MAX best names at most. */
static void cand_add(tw_search *q, const char *s, size_t n, const unsigned *sb)
{
    unsigned missing = 0, dist = 0;
    for (size_t i = 0; i < q->nw; i++) {
        if (sb[i] > q->w[i].bound) missing++;
        else dist += sb[i];
    }
    if (missing == q->nw || 2 * missing > q->nw) return;
    size_t at = q->ncand;
    if (at == TW_SEARCH_SUGGEST_MAX) {
        at = 0;
        for (size_t i = 1; i < q->ncand; i++)
            if (sug_before(q->cand[at].missing, q->cand[at].dist, q->cand[at].n,
                           q->cand[i].missing, q->cand[i].dist, q->cand[i].n))
                at = i;                     /* the worst */
        if (!sug_before(missing, dist, n, q->cand[at].missing, q->cand[at].dist, q->cand[at].n)) return;
    } else {
        q->ncand++;
    }
    q->cand[at] = (cand){ .s = s, .n = n, .missing = missing, .dist = dist };
}

static void sug_drop(tw_search *q, size_t i)
{
    free(q->sug[i].text);
    free(q->sugkey[i]);
    memmove(&q->sug[i], &q->sug[i + 1], (q->nsug - i - 1) * sizeof q->sug[0]);
    memmove(&q->sugkey[i], &q->sugkey[i + 1], (q->nsug - i - 1) * sizeof q->sugkey[0]);
    q->nsug--;
}

static bool sug_ahead(unsigned missing, unsigned dist, size_t n, const tw_search_suggestion *g)
{
    return sug_before(missing, dist, n, g->missing, g->distance, strlen(g->text));
}

/* Enters a candidate in the kept list: closest first, one entry per name
 * (folded), however many records bear it. */
static int sug_insert(tw_search *q, const cand *c, const char *kind, size_t kl, const char *slot, size_t sl)
{
    const size_t K = TW_SEARCH_SUGGEST_MAX;
    if (q->nsug == K && !sug_ahead(c->missing, c->dist, c->n, &q->sug[K - 1])) return 0;
    size_t fl;
    int rc = prep(q, c->s, c->n, &fl);
    if (rc) return rc;
    for (size_t i = 0; i < q->nsug; i++) {
        if (strlen(q->sugkey[i]) != fl || memcmp(q->sugkey[i], q->fold, fl) != 0) continue;
        if (!sug_ahead(c->missing, c->dist, c->n, &q->sug[i])) return 0;
        sug_drop(q, i);
        break;
    }
    char *text = malloc(c->n + 1), *key = malloc(fl + 1);
    if (!text || !key) { free(text); free(key); return TW_ENOMEM; }
    memcpy(text, c->s, c->n);
    text[c->n] = 0;
    memcpy(key, q->fold, fl);
    key[fl] = 0;
    if (q->nsug == K) sug_drop(q, K - 1);
    size_t at = q->nsug;
    while (at > 0 && sug_ahead(c->missing, c->dist, c->n, &q->sug[at - 1])) at--;
    memmove(&q->sug[at + 1], &q->sug[at], (q->nsug - at) * sizeof q->sug[0]);
    memmove(&q->sugkey[at + 1], &q->sugkey[at], (q->nsug - at) * sizeof q->sugkey[0]);
    tw_search_suggestion *g = &q->sug[at];
    memset(g, 0, sizeof *g);
    g->text = text;
    g->missing = c->missing;
    g->distance = c->dist;
    memcpy(g->kind, kind, kl > TW_KIND_MAX ? TW_KIND_MAX : kl);
    memcpy(g->slot, slot, sl > TW_SLOT_MAX ? TW_SLOT_MAX : sl);
    q->sugkey[at] = key;
    q->nsug++;
    return 0;
}

size_t tw_search_suggestion_count(const tw_search *q) { return q->nsug; }

const tw_search_suggestion *tw_search_suggestion_at(const tw_search *q, size_t i)
{
    return i < q->nsug ? &q->sug[i] : NULL;
}

/* ------------------------------------------------------------ scoring */

/* What a record's fields said so far. */
typedef struct rec {
    uint8_t any[W], name[W];   /* best level of each query word, in any field / in name fields */
    bool exact;                /* a name field is exactly the query's words */
    bool one, one_name, order; /* best field holding every query word: found, a name, in order */
    size_t extra;              /* its words beyond the query's */
} rec;

static bool is_name_field(const tw_val *k)
{
    if (k->type != TW_STR || k->len < 4 || k->v.s[0] != (k->len == 11 ? 'o' : 'n')) return false;
    for (size_t i = 0; i < sizeof name_fields / sizeof name_fields[0]; i++)
        if (name_lens[i] == k->len && memcmp(name_fields[i], k->v.s, k->len) == 0) return true;
    return false;
}

static bool has_prefix(const char *w, size_t wn, const char *p, size_t pn)
{
    if (wn < pn) return false;
    for (size_t i = 0; i < pn; i++)
        if (w[i] != p[i]) return false;
    return true;
}

/*
 * Whether some query word occurs in folded text, anywhere: a word of the
 * text can begin with a query word (a whole or prefix match) only then --
 * its normalised form is the folded word or its end (an Arabic article
 * cut off), and apostrophes are joined before folding.  A field without
 * one, where no variant can match and no name is being offered as a
 * suggestion, changes nothing in the record's score: no level, no field
 * holding every word, no exact name.  Most fields of most records read
 * for a query are such fields (codes, enumerations, descriptions).
 */
static bool has_any_word(const tw_search *q, const char *f, size_t fl)
{
    for (size_t i = 0; i < q->nw; i++)
        if (memmem(f, fl, q->w[i].s, q->w[i].n)) return true;
    return false;
}

static int score_field(tw_search *q, const char *s, size_t n, bool name, rec *r)
{
    size_t fl;
    int rc = prep(q, s, n, &fl);
    if (rc) return rc;
    bool sug = name && q->suggesting;
    if (!sug && !(name && q->variants) && !has_any_word(q, q->fold, fl)) return 0;
    uint8_t lv[W];
    size_t pos[W];                       /* read only where lv is set */
    unsigned sb[W];
    memset(lv, 0, q->nw);
    for (size_t i = 0; sug && i < q->nw; i++) sb[i] = q->w[i].bound + 1;
    size_t fw = 0;
    bool seq = name;
    const char *p = q->fold, *end = q->fold + fl, *w;
    size_t wn;
    bool ascii;
    while (next_word(&p, end, &w, &wn)) {
        if (normalize_word(&w, &wn, &ascii) && !q->fallback) continue;
        size_t vn = 0;
        bool vdone = false;
        for (size_t i = 0; i < q->nw; i++) {
            const qword *x = &q->w[i];
            uint8_t l = LV_NONE;
            if (has_prefix(w, wn, x->s, x->n)) l = wn == x->n ? LV_WORD : LV_PREFIX;
            else if (name && x->vn && lv[i] == LV_NONE &&
                     (!ascii || variant_first(w, wn) == x->vfirst)) {
                if (!vdone) { vn = tw_search_variant(w, wn, q->var); vdone = true; }
                if (vn == x->vn && memcmp(q->var, x->v, vn) == 0) l = LV_VARIANT;
            }
            if (l > lv[i]) { lv[i] = l; pos[i] = fw; }
        }
        if (sug) suggest_word(q, w, wn, sb, &vn, &vdone);
        if (seq) seq = fw < q->nw && wn == q->w[fw].n && memcmp(w, q->w[fw].s, wn) == 0;
        fw++;
    }
    bool all = true, order = true;
    for (size_t i = 0; i < q->nw; i++) {
        if (lv[i] > r->any[i]) r->any[i] = lv[i];
        if (name && lv[i] > r->name[i]) r->name[i] = lv[i];
        all &= lv[i] != LV_NONE;
        if (i && pos[i] < pos[i - 1]) order = false;
    }
    if (seq && fw == q->nw) r->exact = true;
    if (all) {
        size_t extra = fw > q->nw ? fw - q->nw : 0;
        /* The best such field: a name, then fewest other words, then in order. */
        if (!r->one || (name && !r->one_name) ||
            (name == r->one_name && (extra < r->extra || (extra == r->extra && order && !r->order)))) {
            r->one = true;
            r->one_name = name;
            r->extra = extra;
            r->order = order;
        }
    }
    if (sug) cand_add(q, s, n, sb);
    return 0;
}

static int score_value(tw_search *q, const tw_val *v, bool name, rec *r)
{
    int rc = 0;
    if (v->type == TW_STR) return score_field(q, v->v.s, v->len, name, r);
    if (v->type == TW_ARR)
        for (uint32_t i = 0; i < v->len && rc == 0; i++) rc = score_value(q, &v->v.arr[i], name, r);
    if (v->type == TW_MAP)
        for (uint32_t i = 0; i < v->len && rc == 0; i++) rc = score_value(q, &v->v.map[i].v, false, r);
    return rc;
}

/*
 * The score, most significant first: how the record matched (exact name,
 * whole words, prefixes, variants: the worst of its words); whether name
 * fields alone match that well; whether one field holds every word, and
 * whether that field is a name; the sum of the words' levels (3 whole, 2
 * prefix, 1 variant: at most 48, six bits); 255 minus that field's other
 * words; whether the words come in the query's order.
 */
static uint32_t score_of(const tw_search *q, const rec *r)
{
    uint8_t tier = LV_WORD;
    bool name_ok = true;
    uint32_t sum = 0;
    for (size_t i = 0; i < q->nw; i++) {
        if (r->any[i] < tier) tier = r->any[i];
        sum += r->any[i];
    }
    if (tier == LV_NONE) return 0;
    for (size_t i = 0; i < q->nw; i++)
        if (r->name[i] < tier) name_ok = false;
    uint32_t t = r->exact ? TW_MATCH_EXACT_NAME : tier;   /* the levels are the match kinds */
    size_t extra = r->extra > 255 ? 255 : r->extra;
    return t << 24 | (uint32_t)(name_ok || r->exact) << 23 | (uint32_t)r->one << 22 | (uint32_t)r->one_name << 21 |
           sum << 15 | (uint32_t)(255 - extra) << 7 | (uint32_t)r->order << 6;
}

int tw_search_score(tw_search *q, const tw_val *body, const char *kind, size_t kind_len,
                    const char *slot, size_t slot_len, bool suggest, uint32_t *score)
{
    *score = 0;
    if (!body || body->type != TW_MAP) return 0;
    rec r;
    memset(&r, 0, sizeof r);
    q->suggesting = suggest;
    q->ncand = 0;
    int rc = 0;
    for (uint32_t i = 0; i < body->len && rc == 0; i++)
        rc = score_value(q, &body->v.map[i].v, is_name_field(&body->v.map[i].k), &r);
    if (rc == 0 && slot_len) rc = score_field(q, slot, slot_len, false, &r);
    if (rc == 0) *score = score_of(q, &r);
    for (size_t i = 0; rc == 0 && *score == 0 && i < q->ncand; i++)
        rc = sug_insert(q, &q->cand[i], kind, kind_len, slot, slot_len);
    q->ncand = 0;
    return rc;
}

tw_search_match tw_search_score_match(uint32_t score)
{
    uint32_t t = score >> 24;
    return t > TW_MATCH_EXACT_NAME ? TW_MATCH_NONE : (tw_search_match)t;
}

const char *tw_search_match_name(tw_search_match m)
{
    switch (m) {
    case TW_MATCH_EXACT_NAME: return "exact_name";
    case TW_MATCH_WORDS: return "words";
    case TW_MATCH_PREFIX: return "prefix";
    case TW_MATCH_VARIANT: return "variant";
    default: return "none";
    }
}

/*
 * The bound follows score_of field by field: an exact name needs every
 * word whole in a name field of no more words than the query; the tier is the worst word's best level;
 * name fields match as well when each word's name level reaches the
 * tier; a field holding every word is assumed, a name one when each word
 * is in a name field; the level sum is the sum of the best levels; no
 * other words and the query's order are assumed.  Each part is at least
 * the record's when the parts before it are equal, so the whole is.
 */
uint32_t tw_search_bound(const tw_search *q, const uint8_t *any, const uint8_t *name, size_t name_words,
                         size_t field_words)
{
    uint8_t tier = LV_WORD, ntier = LV_WORD;
    uint32_t sum = 0;
    for (size_t i = 0; i < q->nw; i++) {
        uint8_t a = any[i] > LV_WORD ? LV_WORD : any[i], nm = name[i] > a ? a : name[i];
        if (a < tier) tier = a;
        if (nm < ntier) ntier = nm;
        sum += a;
    }
    if (tier == LV_NONE) return 0;
    /* A field holding every word has that many words at least (the scorer
     * counts stop words too when the query is only stop words: more,
     * never fewer).  When every word is in a name field, the bound has
     * the bit of a name field holding them all: a record whose best such
     * field is not a name is below it there, whatever its other words. */
    size_t fw = ntier > LV_NONE ? name_words : field_words;
    size_t extra = fw > q->nw ? fw - q->nw : 0;
    if (extra > 255) extra = 255;
    /* An exact name is a name field of the query's words alone. */
    bool exact = ntier == LV_WORD && name_words <= q->nw;
    uint32_t t = exact ? TW_MATCH_EXACT_NAME : tier;
    return t << 24 | (uint32_t)(exact || ntier >= tier) << 23 | 1u << 22 | (uint32_t)(ntier > LV_NONE) << 21 |
           sum << 15 | (uint32_t)(255 - extra) << 7 | 1u << 6;
}

bool tw_search_stop_word(const char *w, size_t n)
{
    const char *s = w;
    size_t m = n;
    bool ascii;
    return normalize_word(&s, &m, &ascii) || m != n;
}

bool tw_search_stop_variant(const char *v, size_t n)
{
    static const char *const keys[] = { "and", "ash", "ath", "adh" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (n == 3 && memcmp(v, keys[i], 3) == 0) return true;
    return false;
}

/* ------------------------------------------------------------ for an index */

/* Walks a value as score_value does, calling fn for each word of each
 * string as score_field reads it (stop words included: a query of stop
 * words only compares them). */
typedef struct words_ctx { tw_search *q; tw_search_word_fn fn; void *ctx; } words_ctx;

static int words_field(words_ctx *c, const char *s, size_t n, bool name)
{
    size_t fl;
    int rc = prep(c->q, s, n, &fl);
    if (rc) return rc;
    const char *p = c->q->fold, *end = c->q->fold + fl, *w;
    size_t wn, fw = 0;
    bool ascii;
    while (next_word(&p, end, &w, &wn))
        if (!normalize_word(&w, &wn, &ascii)) fw++;
    p = c->q->fold;
    while (next_word(&p, end, &w, &wn)) {
        normalize_word(&w, &wn, &ascii);
        if ((rc = c->fn(c->ctx, w, wn, name, fw ? fw : 1))) return rc;
    }
    return 0;
}

static int words_value(words_ctx *c, const tw_val *v, bool name)
{
    int rc = 0;
    if (v->type == TW_STR) return words_field(c, v->v.s, v->len, name);
    if (v->type == TW_ARR)
        for (uint32_t i = 0; i < v->len && rc == 0; i++) rc = words_value(c, &v->v.arr[i], name);
    if (v->type == TW_MAP)
        for (uint32_t i = 0; i < v->len && rc == 0; i++) rc = words_value(c, &v->v.map[i].v, false);
    return rc;
}

int tw_search_record_words(const tw_val *body, const char *slot, size_t slot_len, tw_search_word_fn fn, void *ctx)
{
    if (!body || body->type != TW_MAP) return 0;
    /* Only prep()'s scratch of a tw_search is used here: the rest (6.6 KiB
     * of query words and suggestions) is neither allocated nor cleared for
     * every record stored. */
    tw_search qs, *q = &qs;
    q->pre = q->fold = q->var = NULL;
    q->cap = 0;
    words_ctx c = { q, fn, ctx };
    int rc = 0;
    for (uint32_t i = 0; i < body->len && rc == 0; i++)
        rc = words_value(&c, &body->v.map[i].v, is_name_field(&body->v.map[i].k));
    if (rc == 0 && slot_len) rc = words_field(&c, slot, slot_len, false);
    free(q->pre);
    return rc;
}

size_t tw_search_word_count(const tw_search *q) { return q->nw; }

void tw_search_word_at(const tw_search *q, size_t i, const char **w, size_t *n, const char **v, size_t *vn)
{
    *w = q->w[i].s;
    *n = q->w[i].n;
    *v = q->w[i].vn ? q->w[i].v : NULL;
    *vn = q->w[i].vn;
}

bool tw_search_near(const tw_search *q, const char *w, size_t n, bool variant)
{
    uint32_t cp[M];
    size_t nc = M + 2, wc = cp_count(w, n);
    bool number = n && w[0] >= '0' && w[0] <= '9';
    if (wc > M || n == 0) return false;
    for (size_t i = 0; i < q->nw; i++) {
        const qword *x = &q->w[i];
        const uint32_t *xc = variant ? x->vcp : x->cp;
        size_t xn = variant ? x->nvcp : x->ncp;
        if (xn == 0 || xn > M || (!variant && number != (x->s[0] >= '0' && x->s[0] <= '9'))) continue;
        if ((wc > xn ? wc - xn : xn - wc) > x->bound) continue;
        if (nc == M + 2) nc = decode(w, n, cp, M);
        if (lev(xc, xn, cp, nc, x->bound) <= x->bound) return true;
    }
    return false;
}

void tw_search_suggestions_clear(tw_search *q)
{
    while (q->nsug) sug_drop(q, q->nsug - 1);
}
