/* Growing arrays: room while below the capacity, the first capacity, then
 * doubling, and a refusal without harm when the size would overflow. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "twin/vec.h"

static void test_growth(void **state)
{
    int *v = NULL;
    size_t cap = 0;
    for (size_t n = 0; n < 1000; n++) {
        int *p = tw_vec_room(v, &cap, n, sizeof *p, 4);
        assert_non_null(p);
        v = p;
        v[n] = (int)n;
        assert_true(cap > n);
        if (n < 4) assert_int_equal(cap, 4);
    }
    assert_int_equal(cap, 1024);            /* 4, 8, ..., 1024 */
    for (size_t n = 0; n < 1000; n++) assert_int_equal(v[n], (int)n);
    /* Below the capacity: the same array, nothing changed. */
    size_t before = cap;
    assert_ptr_equal(tw_vec_room(v, &cap, 10, sizeof *v, 4), v);
    assert_int_equal(cap, before);
    free(v);
}

static void test_overflow(void **state)
{
    int *v = malloc(4 * sizeof *v);
    assert_non_null(v);
    size_t cap = SIZE_MAX / 2 + 1;
    assert_null(tw_vec_room(v, &cap, cap, sizeof *v, 4));
    assert_int_equal(cap, SIZE_MAX / 2 + 1);  /* unchanged, v still the caller's */
    /* Doubling fits a size_t, but times the element size does not. */
    cap = SIZE_MAX / 4;
    assert_null(tw_vec_room(v, &cap, cap, sizeof *v, 4));
    assert_int_equal(cap, SIZE_MAX / 4);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
