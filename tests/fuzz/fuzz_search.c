/*
 * libFuzzer target for search matching (proto/search.c), which takes the
 * text a user types and every string of every record.
 *
 * Input: the query, a NUL byte, then a record name.  Beyond "does not
 * crash", it checks properties: a record whose name is the query's own
 * text matches it as "exact_name"; the normalised text is never longer than
 * the input; no more than TW_SEARCH_SUGGEST_MAX suggestions are kept.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twin/err.h"
#include "twin/search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    size_t tl = nul ? (size_t)(nul - data) : size;
    const char *name = nul ? (const char *)nul + 1 : "";
    size_t nl = nul ? size - tl - 1 : 0;

    char *norm = malloc(size + 1);
    if (!norm) return 0;
    if (tw_search_normalize(text, size, norm) > size || strlen(norm) > size) abort();
    free(norm);

    tw_search *q;
    int rc = tw_search_new(&q, text, tl);
    if (rc == TW_ETOOBIG || rc == TW_EINVAL) return 0;
    if (rc) abort();
    tw_kv own[1] = { { tw_v_cstr("name_en"), tw_v_str(text, tl) } };
    tw_val body = { .type = TW_MAP, .len = 1, .v.map = own };
    uint32_t s;
    if (tw_search_score(q, &body, "place", 5, "x", 1, true, &s) != 0) abort();
    if (tw_search_score_match(s) != TW_MATCH_EXACT_NAME) abort();
    /* The other name, as a name, in a list and in free text. */
    tw_val item = tw_v_str(name, nl);
    tw_val list = { .type = TW_ARR, .len = 1, .v.arr = &item };
    tw_kv kv[3] = { { tw_v_cstr("name_en"), tw_v_str(name, nl) }, { tw_v_cstr("other_names"), list },
                    { tw_v_cstr("description"), tw_v_str(name, nl) } };
    tw_val other = { .type = TW_MAP, .len = 3, .v.map = kv };
    for (int i = 0; i < 8; i++)
        if (tw_search_score(q, &other, "place", 5, name, nl > TW_SLOT_MAX ? TW_SLOT_MAX : nl, true, &s) != 0) abort();
    if (tw_search_suggestion_count(q) > TW_SEARCH_SUGGEST_MAX) abort();
    tw_search_free(q);
    return 0;
}
