/* Growing arrays (include/twin/vec.h). */
#include <stdint.h>
#include <stdlib.h>

#include "twin/vec.h"

void *tw_vec_room(void *v, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n < *cap) return v;
    size_t c = *cap ? *cap : (first ? first : 1);
    if (*cap) {
        if (c > SIZE_MAX / 2) return NULL;
        c *= 2;
    }
    if (elem && c > SIZE_MAX / elem) return NULL;
    void *p = realloc(v, c * elem);
    if (!p) return NULL;
    *cap = c;
    return p;
}
