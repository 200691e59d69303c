/*
 * libFuzzer target for twin's JSON reader (client/json.c), which reads
 * files handed to `twin import` and `twin publish --file`.
 *
 * Beyond "does not crash", it checks a property: whatever the reader
 * accepts, the writer writes (compact and pretty) as JSON that reads back
 * to an equal tree.
 */
#include <stdint.h>
#include <stdlib.h>

#include "json.h"
#include "twin/mp.h"

/* Bounds the memory a hostile input can make the parser use. */
#define FUZZ_ARENA_CAP (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const tw_val *v, unsigned flags)
{
    tw_buf b;
    tw_arena a2;
    tw_val w;
    char err[256];
    tw_buf_init(&b);
    tw_arena_init(&a2, FUZZ_ARENA_CAP);
    if (tw_json_write(&b, v, flags) != 0) abort();
    if (tw_json_parse((const char *)b.p, b.len, &a2, &w, NULL, err, sizeof err) != 0) abort();
    if (!tw_v_equal(v, &w)) abort();
    tw_arena_free(&a2);
    tw_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tw_arena a;
    tw_val v;
    uint32_t *lines;
    char err[256];
    tw_arena_init(&a, FUZZ_ARENA_CAP);
    if (tw_json_parse((const char *)data, size, &a, &v, &lines, err, sizeof err) == 0) {
        check_round_trip(&v, 0);
        check_round_trip(&v, TW_JSON_PRETTY);
    }
    tw_arena_free(&a);
    return 0;
}
