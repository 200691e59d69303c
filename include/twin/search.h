/*
 * Search matching: what `twin search` finds and in which order.  Pure code
 * (no I/O): a query is prepared once from the text a user typed, then
 * scores record bodies one at a time; records that do not match may offer
 * their names, of which the query keeps the closest few as "did you mean"
 * suggestions.  The rules are specified in proto/SCHEMA.md ("Search
 * matching"); tests/unit/test_search.c holds them to a table of real names.
 *
 * Text is folded with tw_text_fold (case, accents, Arabic diacritics and
 * letter forms), split into words, and each word normalised: apostrophes
 * inside a word are removed ("Am'ari" -> "amari"), the Latin and Arabic
 * forms of the article and the word "and" are left out ("al-Bireh",
 * "el Bireh" and "البيرة" give "bireh" / "بيره").  Words then match whole,
 * as a prefix, or as a transliteration variant (name fields only).
 */
#ifndef TWIN_SEARCH_H
#define TWIN_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twin/limits.h"
#include "twin/mp.h"

typedef struct tw_search tw_search;

/* How a record matched, best first in rank order; a record's score orders
 * by this first. */
typedef enum {
    TW_MATCH_NONE = 0,
    TW_MATCH_VARIANT,       /* some word matched only as a transliteration variant */
    TW_MATCH_PREFIX,        /* every word matched, some only as a prefix of a word */
    TW_MATCH_WORDS,         /* every word matched a whole word */
    TW_MATCH_EXACT_NAME,    /* a name field is exactly the query's words */
} tw_search_match;

typedef struct tw_search_suggestion {
    char *text;                        /* the name as stored, NUL-terminated */
    char kind[TW_KIND_MAX + 1];        /* the record it is the name of */
    char slot[TW_SLOT_MAX + 1];
    unsigned missing;                  /* query words with no close word in the name */
    unsigned distance;                 /* edits over the query words that have one */
} tw_search_suggestion;

/*
 * Prepares a query.  TW_ETOOBIG when len > TW_STR_MAX or the text has more
 * than TW_SEARCH_WORDS_MAX words; TW_EINVAL when it folds to no word at
 * all; TW_ENOMEM.
 */
int  tw_search_new(tw_search **out, const char *text, size_t len);
void tw_search_free(tw_search *q);

/*
 * Scores a record: its body (a map; anything else never matches), kind and
 * slot key.  *score is 0 when the record does not match, else higher ranks
 * first (only the order of scores is meaningful).  With suggest, a record
 * that does not match offers its names to the "did you mean" list: each
 * name field is compared word by word with the query (edit distance,
 * bounded by word length) and the TW_SEARCH_SUGGEST_MAX closest distinct
 * names over all records offered are kept.  0 or TW_ENOMEM.
 */
int tw_search_score(tw_search *q, const tw_val *body, const char *kind, size_t kind_len,
                    const char *slot, size_t slot_len, bool suggest, uint32_t *score);
tw_search_match tw_search_score_match(uint32_t score);
const char *tw_search_match_name(tw_search_match m);   /* "exact_name", "words", "prefix", "variant" */

size_t tw_search_suggestion_count(const tw_search *q);
const tw_search_suggestion *tw_search_suggestion_at(const tw_search *q, size_t i);   /* closest first */

/* ---- the rules, exposed for tests and tools ---- */

/* The normalised words of a text, separated by one space (stop words --
 * articles and "and" -- left out).  out needs len + 1 bytes.  Returns the
 * length written. */
size_t tw_search_normalize(const char *text, size_t len, char *out);
/* The transliteration-variant key of one normalised word; out needs
 * n + 1 bytes.  Returns its length (a word without a variant key -- digits,
 * or fewer than 3 letters -- gives 0). */
size_t tw_search_variant(const char *word, size_t n, char *out);
/* Levenshtein distance between two UTF-8 words in code points, or
 * bound + 1 when it is larger than bound (or a word is longer than
 * TW_SEARCH_EDIT_WORD_MAX code points). */
unsigned tw_search_edit_distance(const char *a, size_t an, const char *b, size_t bn, unsigned bound);
/* The edit distance a query word of n code points may be from a name's
 * word and still suggest it: 0, 1, 2 or 3. */
unsigned tw_search_edit_bound(size_t n);

/* ---- for a word index (daemon/wordidx.c) ---- */

/* Calls fn with every word of a record that tw_search_score reads -- each
 * string of its body, with name fields flagged, and its slot -- folded and
 * normalised as it reads them, stop words included, in order (repeats
 * included).  A body that is not a map has none.  0, TW_ENOMEM or fn's
 * non-zero value. */
/* field_words: the words of the field the scorer counts (stop words left
 * out), at least 1. */
typedef int (*tw_search_word_fn)(void *ctx, const char *w, size_t n, bool name, size_t field_words);
int tw_search_record_words(const tw_val *body, const char *slot, size_t slot_len, tw_search_word_fn fn, void *ctx);
/* The query's words (stop words only when it has nothing else), each with
 * its variant key (NULL and 0 when it has none): a record matches only if
 * each is a prefix of one of its words, or equals the variant key of a word
 * of its name fields. */
size_t tw_search_word_count(const tw_search *q);
void tw_search_word_at(const tw_search *q, size_t i, const char **w, size_t *n, const char **v, size_t *vn);
/* Whether a word (variant: the variant key of a name's word) is within a
 * query word's edit bound: a record offers a suggestion only if one of its
 * names has such a word. */
bool tw_search_near(const tw_search *q, const char *w, size_t n, bool variant);
/* Whether a normalised word is one the scorer skips in a query that has
 * other words (an article, "and"): a record holding a query word only as
 * such a word does not match by it. */
bool tw_search_stop_word(const char *w, size_t n);
/* The variant keys a stop word can have ("and", "ash", "ath", "adh"): a
 * record holding such a key may hold it only from a stop word. */
bool tw_search_stop_variant(const char *v, size_t n);
/*
 * An upper bound of a record's score from what a word index can say of it:
 * for each query word i, the best level it can reach in any field, any[i],
 * and in a name field, name[i] (0 none, 1 variant, 2 prefix, 3 whole
 * word; a level the index cannot tell apart is the higher), and the fewest
 * words (as tw_search_word_fn counts them) a field holding every query
 * word can have: name_words when that field is a name field, field_words
 * otherwise (0: unknown).  No record
 * with these levels scores above it; 0 when some word is not there.
 */
uint32_t tw_search_bound(const tw_search *q, const uint8_t *any, const uint8_t *name, size_t name_words,
                         size_t field_words);
/* Forgets the suggestions kept so far. */
void tw_search_suggestions_clear(tw_search *q);

#endif
