/*
 * Growing arrays: the one place that doubles a capacity, so that every
 * pushed-to array in the project grows the same way and checks the size
 * arithmetic for overflow.  Pure code.
 */
#ifndef TWIN_VEC_H
#define TWIN_VEC_H

#include <stddef.h>

/* Room for element n of the array v of *cap elements of elem bytes: v
 * itself while n < *cap; else v reallocated to twice *cap (first when
 * *cap is 0) and *cap updated.  NULL when that fails or would overflow,
 * with v and *cap unchanged (v still owned by the caller). */
void *tw_vec_room(void *v, size_t *cap, size_t n, size_t elem, size_t first);

#endif
