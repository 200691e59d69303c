/* A bounded set of ids (include/twin/idset.h). */
#include <stdlib.h>
#include <string.h>

#include "twin/err.h"
#include "twin/idset.h"

#define MIN_CAP 64u

struct tw_idset {
    uint8_t (*slot)[TW_IDSET_ID_LEN];   /* all-zero: empty */
    size_t cap, n, max;
    bool zero;                           /* the all-zero id, which cannot sit in a slot */
};

static const uint8_t zero_id[TW_IDSET_ID_LEN];

static size_t home(const uint8_t *id, size_t cap)
{
    uint64_t h;
    memcpy(&h, id, sizeof h);
    return (size_t)(h & (cap - 1));
}

/* The slot holding id, or the empty slot where it would go. */
static size_t probe(const tw_idset *s, const uint8_t *id)
{
    size_t i = home(id, s->cap);
    while (memcmp(s->slot[i], zero_id, TW_IDSET_ID_LEN) != 0 && memcmp(s->slot[i], id, TW_IDSET_ID_LEN) != 0)
        i = (i + 1) & (s->cap - 1);
    return i;
}

int tw_idset_new(tw_idset **out, size_t max)
{
    if (!out || max == 0) return TW_EINVAL;
    tw_idset *s = calloc(1, sizeof *s);
    if (!s) return TW_ENOMEM;
    s->max = max;
    *out = s;
    return 0;
}

void tw_idset_free(tw_idset *s)
{
    if (!s) return;
    free(s->slot);
    free(s);
}

static int grow(tw_idset *s)
{
    size_t cap = s->cap ? s->cap * 2 : MIN_CAP;
    uint8_t (*old)[TW_IDSET_ID_LEN] = s->slot;
    size_t ocap = s->cap;
    s->slot = calloc(cap, TW_IDSET_ID_LEN);
    if (!s->slot) { s->slot = old; return TW_ENOMEM; }
    s->cap = cap;
    for (size_t i = 0; i < ocap; i++)
        if (memcmp(old[i], zero_id, TW_IDSET_ID_LEN) != 0) memcpy(s->slot[probe(s, old[i])], old[i], TW_IDSET_ID_LEN);
    free(old);
    return 0;
}

int tw_idset_add(tw_idset *s, const uint8_t id[TW_IDSET_ID_LEN])
{
    if (tw_idset_has(s, id)) return 0;
    if (s->n + s->zero >= s->max) return TW_ETOOBIG;
    if (memcmp(id, zero_id, TW_IDSET_ID_LEN) == 0) {
        s->zero = true;
        return 0;
    }
    /* At most half full, so probes stay short and always end. */
    if (2 * (s->n + 1) > s->cap) {
        int rc = grow(s);
        if (rc) return rc;
    }
    memcpy(s->slot[probe(s, id)], id, TW_IDSET_ID_LEN);
    s->n++;
    return 0;
}

bool tw_idset_has(const tw_idset *s, const uint8_t id[TW_IDSET_ID_LEN])
{
    if (memcmp(id, zero_id, TW_IDSET_ID_LEN) == 0) return s->zero;
    if (!s->n) return false;
    return memcmp(s->slot[probe(s, id)], id, TW_IDSET_ID_LEN) == 0;
}

size_t tw_idset_count(const tw_idset *s) { return s->n + s->zero; }

void tw_idset_clear(tw_idset *s)
{
    free(s->slot);
    s->slot = NULL;
    s->cap = s->n = 0;
    s->zero = false;
}
