/*
 * A set of 32-byte ids (entry ids: BLAKE2b hashes, so their first bytes are
 * already uniform) with a hard maximum, for remembering ids to skip.  Open
 * addressing with linear probing; the table grows by doubling and is freed
 * by tw_idset_clear, so an empty set holds no memory.  Pure code.
 */
#ifndef TWIN_IDSET_H
#define TWIN_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TW_IDSET_ID_LEN 32u

typedef struct tw_idset tw_idset;

/* max: ids held at most (at least 1). */
int  tw_idset_new(tw_idset **out, size_t max);
void tw_idset_free(tw_idset *s);
/* 0 when added or already present; TW_ETOOBIG when the set holds max ids
 * (nothing added); TW_ENOMEM. */
int  tw_idset_add(tw_idset *s, const uint8_t id[TW_IDSET_ID_LEN]);
bool tw_idset_has(const tw_idset *s, const uint8_t id[TW_IDSET_ID_LEN]);
size_t tw_idset_count(const tw_idset *s);
/* Empties the set and frees its table. */
void tw_idset_clear(tw_idset *s);

#endif
