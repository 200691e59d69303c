/* The bounded id set behind "refused ids are not asked for again":
 * membership, the maximum at its edge (TW_REFUSED_IDS_MAX itself), growth
 * and clearing, the all-zero id. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/idset.h"
#include "twin/limits.h"

static void id_of(uint8_t id[32], uint32_t i)
{
    crypto_generichash(id, 32, (const uint8_t *)&i, sizeof i, NULL, 0);
}

static void test_basic(void **state)
{
    tw_idset *s;
    uint8_t a[32], b[32], zero[32] = { 0 };
    assert_int_equal(tw_idset_new(&s, 0), TW_EINVAL);
    assert_int_equal(tw_idset_new(&s, 3), 0);
    id_of(a, 1);
    id_of(b, 2);
    assert_false(tw_idset_has(s, a));
    assert_int_equal(tw_idset_add(s, a), 0);
    assert_int_equal(tw_idset_add(s, a), 0);        /* present: no second copy */
    assert_int_equal(tw_idset_count(s), 1);
    assert_true(tw_idset_has(s, a));
    assert_false(tw_idset_has(s, b));
    assert_false(tw_idset_has(s, zero));
    assert_int_equal(tw_idset_add(s, zero), 0);
    assert_true(tw_idset_has(s, zero));
    assert_int_equal(tw_idset_add(s, b), 0);
    assert_int_equal(tw_idset_count(s), 3);
    uint8_t c[32];
    id_of(c, 3);
    assert_int_equal(tw_idset_add(s, c), TW_ETOOBIG);   /* full at max = 3 */
    assert_false(tw_idset_has(s, c));
    assert_int_equal(tw_idset_add(s, a), 0);            /* a present id is still fine */
    tw_idset_clear(s);
    assert_int_equal(tw_idset_count(s), 0);
    assert_false(tw_idset_has(s, a));
    assert_false(tw_idset_has(s, zero));
    assert_int_equal(tw_idset_add(s, c), 0);
    tw_idset_free(s);
}

/* The daemon's limit, at its edge: TW_REFUSED_IDS_MAX ids are held, the
 * next is refused, every one held is found and none of the others. */
static void test_limit_edge(void **state)
{
    tw_idset *s;
    uint8_t id[32];
    assert_int_equal(tw_idset_new(&s, TW_REFUSED_IDS_MAX), 0);
    for (uint32_t i = 0; i < TW_REFUSED_IDS_MAX; i++) {
        id_of(id, i);
        assert_int_equal(tw_idset_add(s, id), 0);
    }
    assert_int_equal(tw_idset_count(s), TW_REFUSED_IDS_MAX);
    id_of(id, TW_REFUSED_IDS_MAX);
    assert_int_equal(tw_idset_add(s, id), TW_ETOOBIG);
    for (uint32_t i = 0; i < TW_REFUSED_IDS_MAX + 1000u; i++) {
        id_of(id, i);
        if (tw_idset_has(s, id) != (i < TW_REFUSED_IDS_MAX)) fail_msg("id %u misplaced", i);
    }
    tw_idset_free(s);
}

/* Ids sharing their first 8 bytes (the probe start) all land and are all
 * found: probing goes on past a full neighbourhood. */
static void test_collisions(void **state)
{
    tw_idset *s;
    uint8_t id[32];
    assert_int_equal(tw_idset_new(&s, 500), 0);
    for (uint32_t i = 0; i < 500; i++) {
        memset(id, 0x5a, 8);
        memcpy(id + 8, &i, sizeof i);
        memset(id + 12, 1, 20);
        assert_int_equal(tw_idset_add(s, id), 0);
    }
    for (uint32_t i = 0; i < 500; i++) {
        memset(id, 0x5a, 8);
        memcpy(id + 8, &i, sizeof i);
        memset(id + 12, 1, 20);
        assert_true(tw_idset_has(s, id));
    }
    tw_idset_free(s);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_limit_edge),
        cmocka_unit_test(test_collisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
