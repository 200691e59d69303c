/* Login tokens, sessions and login rate of the web interface
 * (daemon/websess.c) at every limit's edge, with the time fixed by the
 * test: TW_HTTP_TOKEN_TTL_S, TW_HTTP_TOKENS_MAX, TW_HTTP_SESSIONS_MAX,
 * TW_HTTP_SESSION_IDLE_MS, TW_HTTP_LOGINS_PER_MIN. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/limits.h"
#include "websess.h"

#define T0 1800000000000ull   /* a fixed "now", ms */

typedef struct sess { char id[TW_WEBSESS_HEX + 1], csrf[TW_WEBSESS_HEX + 1]; } sess;

static int setup(void **state)
{
    assert_true(sodium_init() >= 0);
    *state = tw_websess_new();
    return *state ? 0 : -1;
}
static int teardown(void **state) { tw_websess_free(*state); return 0; }

static void token(tw_websess *w, uint64_t now, unsigned ttl, char *hex)
{
    unsigned ev;
    assert_int_equal(tw_websess_token(w, now, ttl, hex, &ev), 0);
    assert_int_equal(strlen(hex), TW_WEBSESS_HEX);
}

static int login(tw_websess *w, uint64_t now, const char *tok, sess *s)
{
    unsigned ev;
    return tw_websess_login(w, now, tok, strlen(tok), s->id, s->csrf, &ev);
}

static int find(tw_websess *w, uint64_t now, const sess *s)
{
    const char *csrf;
    unsigned ev;
    int slot = tw_websess_find(w, now, s->id, strlen(s->id), &csrf, &ev);
    if (slot >= 0) assert_string_equal(csrf, s->csrf);
    return slot;
}

static void test_token_ttl_edge(void **state)
{
    tw_websess *w = *state;
    char t1[TW_WEBSESS_HEX + 1], t2[TW_WEBSESS_HEX + 1];
    unsigned ev;
    sess s;
    assert_int_equal(tw_websess_token(w, T0, 0, t1, &ev), TW_EINVAL);
    assert_int_equal(tw_websess_token(w, T0, TW_HTTP_TOKEN_TTL_S + 1, t1, &ev), TW_EINVAL);
    token(w, T0, TW_HTTP_TOKEN_TTL_S, t1);
    token(w, T0, TW_HTTP_TOKEN_TTL_S, t2);
    /* The last millisecond of its life works; its end does not. */
    assert_int_equal(login(w, T0 + TW_HTTP_TOKEN_TTL_S * 1000ull - 1, t1, &s), 0);
    assert_int_equal(login(w, T0 + TW_HTTP_TOKEN_TTL_S * 1000ull, t2, &s), TW_ESTALE);
    /* Spent, or expired: gone either way. */
    assert_int_equal(login(w, T0 + 1, t1, &s), TW_ENOTFOUND);
    assert_int_equal(login(w, T0 + 1, t2, &s), TW_ENOTFOUND);
}

static void test_token_text(void **state)
{
    tw_websess *w = *state;
    char t[TW_WEBSESS_HEX + 1], bad[TW_WEBSESS_HEX + 1];
    sess s;
    token(w, T0, 60, t);
    assert_int_equal(login(w, T0, "", &s), TW_EINVAL);
    assert_int_equal(login(w, T0, "zz", &s), TW_EINVAL);
    memcpy(bad, t, sizeof bad);
    bad[TW_WEBSESS_HEX - 1] = 0;                       /* one digit short */
    assert_int_equal(login(w, T0, bad, &s), TW_EINVAL);
    memcpy(bad, t, sizeof bad);
    bad[0] = bad[0] == '0' ? '1' : '0';                /* one digit wrong */
    assert_int_equal(login(w, T0, bad, &s), TW_ENOTFOUND);
    assert_int_equal(login(w, T0, t, &s), 0);          /* still good after the misses */
}

static void test_tokens_max(void **state)
{
    tw_websess *w = *state;
    char t[TW_HTTP_TOKENS_MAX + 1][TW_WEBSESS_HEX + 1];
    unsigned ev;
    sess s;
    for (unsigned i = 0; i < TW_HTTP_TOKENS_MAX; i++) {
        assert_int_equal(tw_websess_token(w, T0 + i, 60, t[i], &ev), 0);
        assert_int_equal(ev & TW_WS_DROPPED_TOKEN, 0);
    }
    assert_int_equal(tw_websess_token(w, T0 + 10, 60, t[TW_HTTP_TOKENS_MAX], &ev), 0);
    assert_true(ev & TW_WS_DROPPED_TOKEN);
    assert_int_equal(login(w, T0 + 20, t[0], &s), TW_ENOTFOUND);    /* the oldest gave way */
    for (unsigned i = 1; i <= TW_HTTP_TOKENS_MAX; i++) assert_int_equal(login(w, T0 + 20 + i, t[i], &s), 0);
}

static void test_sessions_max_and_idle(void **state)
{
    tw_websess *w = *state;
    sess s[TW_HTTP_SESSIONS_MAX + 1];
    char t[TW_WEBSESS_HEX + 1];
    unsigned ev;
    /* Spread over minutes so that the login rate does not interfere. */
    uint64_t now = T0;
    for (unsigned i = 0; i < TW_HTTP_SESSIONS_MAX; i++, now += 60000) {
        token(w, now, 60, t);
        assert_int_equal(login(w, now, t, &s[i]), 0);
    }
    assert_int_equal(tw_websess_count(w, now), TW_HTTP_SESSIONS_MAX);
    for (unsigned i = 0; i < TW_HTTP_SESSIONS_MAX; i++) assert_true(find(w, now, &s[i]) >= 0);
    /* Every one was touched just now, the first first: it is the least
     * recently used and gives way to the ninth. */
    now += 60000;
    token(w, now, 60, t);
    assert_int_equal(tw_websess_login(w, now, t, strlen(t), s[TW_HTTP_SESSIONS_MAX].id,
                                      s[TW_HTTP_SESSIONS_MAX].csrf, &ev), 0);
    assert_true(ev & TW_WS_DROPPED_SESSION);
    assert_int_equal(find(w, now, &s[0]), -1);
    for (unsigned i = 1; i <= TW_HTTP_SESSIONS_MAX; i++) assert_true(find(w, now, &s[i]) >= 0);
    /* Idle: one millisecond short of TW_HTTP_SESSION_IDLE_MS it lives (and
     * is touched); at the limit it ends. */
    int slot = find(w, now + TW_HTTP_SESSION_IDLE_MS - 1, &s[1]);
    assert_true(slot >= 0);
    assert_true(tw_websess_csrf_ok(w, slot, s[1].csrf, TW_WEBSESS_HEX));
    const char *csrf;
    assert_int_equal(tw_websess_find(w, now + TW_HTTP_SESSION_IDLE_MS, s[2].id, TW_WEBSESS_HEX, &csrf, &ev), -1);
    assert_true(ev & TW_WS_IDLE_SESSION);
    assert_true(find(w, now + TW_HTTP_SESSION_IDLE_MS, &s[1]) >= 0);
    assert_int_equal(tw_websess_count(w, now + TW_HTTP_SESSION_IDLE_MS), 1);
}

static void test_csrf_and_end(void **state)
{
    tw_websess *w = *state;
    char t[TW_WEBSESS_HEX + 1], wrong[TW_WEBSESS_HEX + 1];
    sess s;
    token(w, T0, 60, t);
    assert_int_equal(login(w, T0, t, &s), 0);
    assert_string_not_equal(s.id, s.csrf);
    int slot = find(w, T0, &s);
    assert_true(slot >= 0);
    assert_true(tw_websess_csrf_ok(w, slot, s.csrf, TW_WEBSESS_HEX));
    assert_false(tw_websess_csrf_ok(w, slot, s.csrf, TW_WEBSESS_HEX - 1));
    assert_false(tw_websess_csrf_ok(w, slot, NULL, 0));
    memcpy(wrong, s.csrf, sizeof wrong);
    wrong[5] = wrong[5] == 'a' ? 'b' : 'a';
    assert_false(tw_websess_csrf_ok(w, slot, wrong, TW_WEBSESS_HEX));
    assert_false(tw_websess_csrf_ok(w, slot, s.id, TW_WEBSESS_HEX));    /* the cookie is not the CSRF token */
    tw_websess_end(w, slot);
    assert_int_equal(find(w, T0, &s), -1);
    assert_false(tw_websess_csrf_ok(w, slot, s.csrf, TW_WEBSESS_HEX));
}

static void test_login_rate_edge(void **state)
{
    tw_websess *w = *state;
    char t[TW_WEBSESS_HEX + 1];
    sess s;
    /* TW_HTTP_LOGINS_PER_MIN wrong attempts over the minute... */
    for (unsigned i = 0; i < TW_HTTP_LOGINS_PER_MIN; i++)
        assert_int_equal(login(w, T0 + i * 1000, "00", &s), TW_EINVAL);
    /* ...then a good token is refused for the rate, and kept. */
    token(w, T0 + 59000, 120, t);
    assert_int_equal(login(w, T0 + 59999, t, &s), TW_EBUSY);
    /* 60 s after the first attempt, one more is allowed. */
    assert_int_equal(login(w, T0 + 60000, t, &s), 0);
    assert_int_equal(login(w, T0 + 60001, "00", &s), TW_EBUSY);   /* the second attempt is not a minute old */
    assert_int_equal(login(w, T0 + 61000, "00", &s), TW_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token_ttl_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions_max_and_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csrf_and_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_rate_edge, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
