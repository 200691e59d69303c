/*
 * Unit tests of daemon/report.c over hand-made records: merging of the two
 * sides' statements, confirmation, place identity across spellings,
 * duplication, dormancy by status and by age, ended links by year,
 * unresolved references, suggested matches, and the counts-only answer;
 * precedence of a committee's own place record over a hub's listing of it,
 * and the link and place states list and show read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "twin/err.h"
#include "twin/keytext.h"
#include "json.h"
#include "report.h"

#define DAY 86400000ull
#define T0 (1700000000000ull)

static uint8_t KA[TW_KEY_LEN], KB[TW_KEY_LEN], KC[TW_KEY_LEN], KD[TW_KEY_LEN];
static char TA[TW_KEYTEXT_LEN + 1], TB[TW_KEYTEXT_LEN + 1], TC[TW_KEYTEXT_LEN + 1], TD[TW_KEYTEXT_LEN + 1];

typedef struct fx { tw_arena a; tw_report *r; tw_buf out; tw_val res; int nid; } fx;

/* Adds a record: fields as "name=value" ("true"/"false" are bools; a value
 * "a;b" of other_names is a list). */
static const uint8_t *add(fx *f, const uint8_t *author, const char *kind, const char *slot, uint64_t ts, ...)
{
    static uint8_t last_id[TW_ID_LEN];
    const char *kv[16];
    size_t n = 0;
    va_list ap;
    va_start(ap, ts);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;) kv[n++] = s;
    va_end(ap);
    tw_entry en;
    memset(&en, 0, sizeof en);
    en.author = author;
    en.kind = kind; en.kind_len = (uint32_t)strlen(kind);
    en.slot = slot; en.slot_len = (uint32_t)strlen(slot);
    en.ts = ts;
    en.id[0] = (uint8_t)++f->nid;
    assert_int_equal(tw_v_map(&f->a, &en.body, (uint32_t)n), 0);
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(kv[i], '=');
        en.body.v.map[i].k = tw_v_str(kv[i], (size_t)(eq - kv[i]));
        const char *v = eq + 1;
        if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) en.body.v.map[i].v = tw_v_bool(v[0] == 't');
        else if (strncmp(kv[i], "other_names=", 12) == 0) {
            tw_val *l = &en.body.v.map[i].v;
            assert_int_equal(tw_v_arr(&f->a, l, 2), 0);
            const char *semi = strchr(v, ';');
            l->v.arr[0] = tw_v_str(v, (size_t)(semi - v));
            l->v.arr[1] = tw_v_cstr(semi + 1);
        } else en.body.v.map[i].v = tw_v_cstr(v);
    }
    assert_int_equal(tw_report_add(f->r, &en), 0);
    memcpy(last_id, en.id, TW_ID_LEN);
    return last_id;
}

static void start(fx *f, uint64_t now, uint32_t months)
{
    memset(f, 0, sizeof *f);
    tw_arena_init(&f->a, 0);
    tw_buf_init(&f->out);
    tw_report_opts o = { .now_ms = now, .dormant_months = months };
    assert_int_equal(tw_report_new(&f->r, &o), 0);
}

static void decode(fx *f)
{
    assert_int_equal(tw_mp_decode(f->out.p, f->out.len, &f->a, 0, &f->res, NULL, NULL), 0);
}

static void stats(fx *f)
{
    assert_int_equal(tw_report_finish(f->r), 0);
    assert_int_equal(tw_report_stats(f->r, NULL, 0, 0, &f->out), 0);
    decode(f);
}

static void gaps(fx *f, bool counts_only)
{
    assert_int_equal(tw_report_finish(f->r), 0);
    assert_int_equal(tw_report_gaps(f->r, counts_only, &f->out), 0);
    decode(f);
}

static void done(fx *f)
{
    tw_report_free(f->r);
    tw_buf_free(&f->out);
    tw_arena_free(&f->a);
}

static uint64_t cnt(const fx *f, const char *table, const char *key)
{
    const tw_val *v = tw_v_get(tw_v_get(&f->res, table), key);
    return v && v->type == TW_UINT ? v->v.u : 0;
}

static char *ref(char *buf, const char *kt, const char *slot)
{
    sprintf(buf, "%s/%s", kt, slot);
    return buf;
}

static int setup(void **state)
{
    memset(KA, 0x11, sizeof KA);
    memset(KB, 0x22, sizeof KB);
    memset(KC, 0x33, sizeof KC);
    memset(KD, 0x44, sizeof KD);
    tw_keytext_encode(TA, TW_KEYTEXT_PREFIX, KA);
    tw_keytext_encode(TB, TW_KEYTEXT_PREFIX, KB);
    tw_keytext_encode(TC, TW_KEYTEXT_PREFIX, KC);
    tw_keytext_encode(TD, TW_KEYTEXT_PREFIX, KD);
    return 0;
}

/* The association (A) states a link to the committee's (B) place and B
 * states it back: one link, confirmed.  A second link by A alone is
 * one-sided.  Active links are counted by the group's and place's fields. */
static void test_confirmed_and_merge(void **state)
{
    fx f;
    char r1[128], r2[128];
    start(&f, T0, 12);
    add(&f, KA, "group", "camden", T0, "name=Camden Link", "group_kind=friendship_group", "nation=england",
        "region=E12000007", "seeking_partner=true", NULL);
    add(&f, KA, "group", "leeds", T0, "name=Leeds Link", "group_kind=school", "nation=england", NULL);
    add(&f, KB, "place", "abu-dis", T0, "name_en=Abu Dis", "place_kind=town", "country=PS",
        "subdivision=PS-JEM", "area=west_bank", NULL);
    char pf[160], gf[160], pf2[160];
    snprintf(pf, sizeof pf, "place=%s", ref(r1, TB, "abu-dis"));
    snprintf(gf, sizeof gf, "group=%s", ref(r2, TA, "camden"));
    snprintf(pf2, sizeof pf2, "place=%s", r1);
    add(&f, KA, "link", "l1", T0, "group=camden", pf, "formality=friendship_link", "status=active", "since=1998", NULL);
    add(&f, KB, "link", "b1", T0 + 1, gf, "place=abu-dis", "formality=friendship_link", "status=active", "since=1998", NULL);
    add(&f, KA, "link", "l2", T0, "group=leeds", pf2, "formality=exploring", "status=exploring", NULL);
    stats(&f);
    assert_int_equal(cnt(&f, "totals", "links"), 2);
    assert_int_equal(cnt(&f, "totals", "link_statements"), 3);
    assert_int_equal(cnt(&f, "links_by_confirmation", "confirmed"), 1);
    assert_int_equal(cnt(&f, "links_by_confirmation", "unconfirmed"), 1);
    assert_int_equal(cnt(&f, "active_links_by_governorate", "PS-JEM"), 1);
    assert_int_equal(cnt(&f, "active_links_by_region", "E12000007"), 1);
    assert_int_equal(cnt(&f, "active_links_by_group_kind", "friendship_group"), 1);
    assert_int_equal(cnt(&f, "active_links_by_place_kind", "town"), 1);
    assert_int_equal(cnt(&f, "links_started_by_year", "1998"), 1);
    assert_int_equal(cnt(&f, "groups_by_region", "(none)"), 1);
    assert_int_equal(cnt(&f, "seeking", "groups"), 1);
    done(&f);
}

/* Two spellings of one town in one governorate are one place; two groups
 * active on it (each through another record) make it duplicated. */
static void test_identity_and_duplication(void **state)
{
    fx f;
    start(&f, T0, 12);
    add(&f, KB, "place", "beit-sahour", T0, "name_en=Beit Sahour", "place_kind=town", "country=PS", "subdivision=PS-BTH", NULL);
    add(&f, KA, "place", "bayt-sahur", T0, "name_en=Bayt Sāḥūr", "other_names=BEIT-SAHOUR;Beit Sahur",
        "place_kind=town", "country=PS", "subdivision=PS-BTH", NULL);
    /* Same name, another governorate: another place. */
    add(&f, KA, "place", "beit-sahour-heb", T0, "name_en=Beit Sahour", "place_kind=village", "country=PS", "subdivision=PS-HBN", NULL);
    add(&f, KA, "group", "g1", T0, "name=One", "group_kind=church", "nation=wales", NULL);
    add(&f, KA, "group", "g2", T0, "name=Two", "group_kind=church", "nation=scotland", NULL);
    char pf[160];
    snprintf(pf, sizeof pf, "place=%s/beit-sahour", TB);
    add(&f, KA, "link", "l1", T0, "group=g1", pf, "formality=formal_twinning", "status=active", NULL);
    add(&f, KA, "link", "l2", T0, "group=g2", "place=bayt-sahur", "formality=exploring", "status=exploring", NULL);
    gaps(&f, false);
    assert_int_equal(cnt(&f, "counts", "place_identities"), 2);
    assert_int_equal(cnt(&f, "counts", "places_listed_twice"), 1);
    assert_int_equal(cnt(&f, "counts", "duplicated_places"), 1);
    assert_int_equal(cnt(&f, "counts", "unpartnered_places"), 1);
    assert_int_equal(cnt(&f, "unpartnered_by_governorate", "PS-HBN"), 1);
    assert_int_equal(cnt(&f, "duplicated_by_governorate", "PS-BTH"), 1);
    const tw_val *d = tw_v_get(&f.res, "duplicated");
    assert_int_equal(d->len, 1);
    assert_int_equal(tw_v_get(&d->v.arr[0], "groups")->len, 2);
    const tw_val *t = tw_v_get(&f.res, "listed_twice");
    assert_int_equal(tw_v_get(&t->v.arr[0], "records")->len, 2);
    done(&f);
}

/* Dormant by status, and by age against the report's time; ended links by
 * the year they ended; a tombstone is not counted. */
static void test_dormant_and_ended(void **state)
{
    for (int pass = 0; pass < 2; pass++) {
        fx f;
        uint32_t months = pass ? 24 : 12;
        start(&f, T0 + 13 * 30 * DAY, months);
        add(&f, KA, "group", "g", T0, "name=G", "group_kind=council", "nation=england", NULL);
        add(&f, KA, "place", "p", T0, "name_en=P", "place_kind=village", "country=PS", NULL);
        add(&f, KA, "place", "q", T0, "name_en=Q", "place_kind=village", "country=PS", NULL);
        add(&f, KA, "place", "s", T0, "name_en=S", "place_kind=village", "country=PS", NULL);
        add(&f, KA, "link", "old", T0, "group=g", "place=p", "formality=friendship_link", "status=active", NULL);
        add(&f, KA, "link", "d", T0 + 13 * 30 * DAY, "group=g", "place=q", "formality=friendship_link", "status=dormant", NULL);
        add(&f, KA, "link", "e", T0, "group=g", "place=s", "formality=friendship_link", "status=ended",
            "since=2001", "ended=2009-05", NULL);
        tw_entry tomb;
        memset(&tomb, 0, sizeof tomb);
        tomb.author = KA; tomb.kind = "link"; tomb.kind_len = 4; tomb.slot = "gone"; tomb.slot_len = 4;
        tomb.body = tw_v_nil();
        assert_int_equal(tw_report_add(f.r, &tomb), 0);
        stats(&f);
        assert_int_equal(cnt(&f, "dormant_links", "status_dormant"), 1);
        assert_int_equal(cnt(&f, "dormant_links", "no_update"), pass ? 0 : 1);
        assert_int_equal(cnt(&f, "links_ended_by_year", "2009"), 1);
        assert_int_equal(cnt(&f, "links_started_by_year", "2001"), 1);
        assert_int_equal(cnt(&f, "totals", "link_statements"), 3);
        done(&f);
    }
}

/* References to records nobody holds leave a link of its own, counted
 * under (unknown); a link with party_key only is one too. */
static void test_unresolved(void **state)
{
    fx f;
    start(&f, T0, 12);
    add(&f, KA, "group", "g", T0, "name=G", "group_kind=council", "nation=england", NULL);
    add(&f, KA, "link", "l1", T0, "group=g", "place=nowhere", "formality=friendship_link", "status=active", NULL);
    add(&f, KA, "link", "l2", T0, "group=g", "place=twk_bad/x", "formality=friendship_link", "status=active", NULL);
    char pk[80];
    snprintf(pk, sizeof pk, "party_key=%s", TB);
    add(&f, KA, "link", "l3", T0, pk, "formality=exploring", "status=active", NULL);
    stats(&f);
    assert_int_equal(cnt(&f, "totals", "links"), 3);
    assert_int_equal(cnt(&f, "active_links_by_governorate", "(unknown)"), 3);
    assert_int_equal(cnt(&f, "active_links_by_group_kind", "council"), 2);
    assert_int_equal(cnt(&f, "active_links_by_group_kind", "(unknown)"), 1);
    assert_int_equal(cnt(&f, "links_by_confirmation", "unconfirmed"), 3);
    done(&f);
}

/* Suggestions: seeking places first, spread over groups 3 apart; counts
 * only drops every list. */
static void test_suggestions(void **state)
{
    fx f;
    start(&f, T0, 12);
    add(&f, KA, "group", "a", T0, "name=A", "group_kind=council", "nation=england", "seeking_partner=true", NULL);
    add(&f, KA, "group", "b", T0, "name=B", "group_kind=council", "nation=england", "seeking_partner=true", NULL);
    add(&f, KA, "group", "c", T0, "name=C", "group_kind=council", "nation=england", NULL);
    add(&f, KA, "place", "p1", T0, "name_en=Zeta", "place_kind=village", "country=PS", "subdivision=PS-GZA", NULL);
    add(&f, KA, "place", "p2", T0, "name_en=Alpha", "place_kind=village", "country=PS", "subdivision=PS-GZA", NULL);
    add(&f, KA, "place", "p3", T0, "name_en=Seeker", "place_kind=refugee_camp", "country=PS", "subdivision=PS-RFH", "seeking_partner=true", NULL);
    add(&f, KA, "place", "p4", T0, "name_en=Taken", "place_kind=town", "country=PS", "subdivision=PS-BTH", NULL);
    add(&f, KA, "place", "p5", T0, "name_en=Beta", "place_kind=town", "country=PS", "subdivision=PS-BTH", NULL);
    add(&f, KA, "link", "l", T0, "group=c", "place=p4", "formality=exploring", "status=exploring", NULL);
    gaps(&f, false);
    /* Candidates: p3 (seeking), p5 (PS-BTH Beta), p2 (PS-GZA Alpha), p1 (PS-GZA Zeta). */
    const tw_val *s = tw_v_get(&f.res, "suggestions");
    assert_int_equal(s->len, 2);
    char r[128];
    const tw_val *pa = tw_v_get(&s->v.arr[0], "places"), *pb = tw_v_get(&s->v.arr[1], "places");
    assert_true(tw_v_is_str(&pa->v.arr[0], ref(r, TA, "p3")));
    assert_true(tw_v_is_str(&pa->v.arr[1], ref(r, TA, "p5")));
    assert_true(tw_v_is_str(&pa->v.arr[2], ref(r, TA, "p2")));
    assert_true(tw_v_is_str(&pb->v.arr[0], ref(r, TA, "p1")));
    assert_true(tw_v_is_str(&pb->v.arr[1], ref(r, TA, "p3")));
    const tw_val *sp = tw_v_get(&f.res, "seeking_places");
    assert_int_equal(tw_v_get(&sp->v.arr[0], "suggested_groups")->len, 2);
    assert_int_equal(cnt(&f, "counts", "unpartnered_places"), 5);
    done(&f);

    start(&f, T0, 12);
    add(&f, KA, "group", "a", T0, "name=A", "group_kind=council", "nation=england", "seeking_partner=true", NULL);
    gaps(&f, true);
    assert_null(tw_v_get(&f.res, "suggestions"));
    assert_null(tw_v_get(&f.res, "unpartnered"));
    assert_int_equal(cnt(&f, "counts", "seeking_groups"), 1);
    assert_int_equal(f.res.len, 4);
    done(&f);
}

/* The same entries give the same bytes, and finish runs once. */
static void test_deterministic(void **state)
{
    tw_buf first;
    tw_buf_init(&first);
    for (int i = 0; i < 2; i++) {
        fx f;
        start(&f, T0, 12);
        add(&f, KA, "group", "g", T0, "name=G", "group_kind=council", "nation=england", "seeking_partner=true", NULL);
        add(&f, KB, "place", "p", T0, "name_en=P", "place_kind=village", "country=PS", "seeking_partner=true", NULL);
        assert_int_equal(tw_report_finish(f.r), 0);
        assert_int_equal(tw_report_finish(f.r), TW_ESTATE);
        assert_int_equal(tw_report_gaps(f.r, false, &f.out), 0);
        assert_int_equal(tw_report_stats(f.r, NULL, 0, 0, &f.out), 0);
        if (i == 0) tw_buf_put(&first, f.out.p, f.out.len);
        else { assert_int_equal(first.len, f.out.len); assert_memory_equal(first.p, f.out.p, first.len); }
        done(&f);
    }
    tw_buf_free(&first);
}

static bool link_confirmed(const fx *f, const uint8_t id[TW_ID_LEN])
{
    bool c = false;
    assert_int_equal(tw_report_link_state(f->r, id, &c), 0);
    return c;
}

/*
 * A hub (A) lists Battir naming the committee C, which has one place record
 * of its own under another spelling and governorate: they are one place,
 * shown and counted by the committee's record; the hub's listing is
 * superseded by it, and so is its "seeking".  Group B's link to the
 * committee's record, stated back by C, is confirmed; B's other link, to the
 * hub's listing, is backed only by the hub, which no longer speaks for the
 * place: unconfirmed.
 */
static void test_precedence_one_record(void **state)
{
    fx f;
    char cf[96], pc[160], pa[160], g1[160], g2[160], by[TW_KEYTEXT_LEN + 1 + TW_SLOT_MAX + 1], want[160];
    uint8_t l1[TW_ID_LEN], b1[TW_ID_LEN], l2[TW_ID_LEN], h2[TW_ID_LEN], none[TW_ID_LEN] = { 0xee };
    start(&f, T0, 12);
    snprintf(cf, sizeof cf, "committee=%s", TC);
    add(&f, KA, "place", "battir", T0, "name_en=Battir", "place_kind=village", "country=PS", "subdivision=PS-BTH",
        "area=west_bank", "seeking_partner=true", cf, NULL);
    add(&f, KC, "place", "bittir", T0, "name_en=Bittir", "place_kind=town", "country=PS", "subdivision=PS-JEM", NULL);
    add(&f, KB, "group", "g1", T0, "name=One", "group_kind=church", "nation=wales", NULL);
    add(&f, KB, "group", "g2", T0, "name=Two", "group_kind=school", "nation=wales", NULL);
    snprintf(pc, sizeof pc, "place=%s/bittir", TC);
    snprintf(pa, sizeof pa, "place=%s/battir", TA);
    snprintf(g1, sizeof g1, "group=%s/g1", TB);
    snprintf(g2, sizeof g2, "group=%s/g2", TB);
    memcpy(l1, add(&f, KB, "link", "l1", T0, "group=g1", pc, "formality=formal_twinning", "status=active", NULL), TW_ID_LEN);
    memcpy(b1, add(&f, KC, "link", "b1", T0, g1, "place=bittir", "formality=formal_twinning", "status=active", NULL), TW_ID_LEN);
    memcpy(l2, add(&f, KB, "link", "l2", T0, "group=g2", pa, "formality=exploring", "status=exploring", NULL), TW_ID_LEN);
    memcpy(h2, add(&f, KA, "link", "h2", T0, g2, "place=battir", "formality=exploring", "status=exploring", NULL), TW_ID_LEN);
    stats(&f);
    assert_int_equal(cnt(&f, "totals", "places"), 2);
    assert_int_equal(cnt(&f, "totals", "place_identities"), 1);
    assert_int_equal(cnt(&f, "places_by_subdivision", "PS-JEM"), 1);
    assert_int_equal(cnt(&f, "places_by_subdivision", "PS-BTH"), 0);
    assert_int_equal(cnt(&f, "places_by_kind", "town"), 1);
    assert_int_equal(cnt(&f, "places_by_kind", "village"), 0);
    assert_int_equal(cnt(&f, "places_by_area", "(none)"), 1);
    assert_int_equal(cnt(&f, "seeking", "places"), 0);
    assert_int_equal(cnt(&f, "totals", "links"), 2);
    assert_int_equal(cnt(&f, "links_by_confirmation", "confirmed"), 1);
    assert_int_equal(cnt(&f, "links_by_confirmation", "unconfirmed"), 1);
    assert_int_equal(cnt(&f, "active_links_by_governorate", "PS-JEM"), 1);
    assert_true(link_confirmed(&f, l1));
    assert_true(link_confirmed(&f, b1));
    assert_false(link_confirmed(&f, l2));
    assert_false(link_confirmed(&f, h2));
    bool c;
    assert_int_equal(tw_report_link_state(f.r, none, &c), TW_ENOTFOUND);
    /* The statements of one link share its unit (list's pair_of): B's and
     * C's of g1-Bittir; B's and the hub's of g2 and the one place. */
    uint32_t u1, u2, u3, u4;
    assert_int_equal(tw_report_link_unit(f.r, l1, &u1), 0);
    assert_int_equal(tw_report_link_unit(f.r, b1, &u2), 0);
    assert_int_equal(tw_report_link_unit(f.r, l2, &u3), 0);
    assert_int_equal(tw_report_link_unit(f.r, h2, &u4), 0);
    assert_int_equal(u1, u2);
    assert_int_equal(u3, u4);
    assert_int_not_equal(u1, u3);
    assert_int_equal(tw_report_link_unit(f.r, none, &u1), TW_ENOTFOUND);
    assert_int_equal(tw_report_place_superseded(f.r, KA, "battir", 6, by, sizeof by), 0);
    assert_string_equal(by, ref(want, TC, "bittir"));
    assert_int_equal(tw_report_place_superseded(f.r, KA, "battir", 6, by, 10), TW_ETOOBIG);
    assert_int_equal(tw_report_place_superseded(f.r, KC, "bittir", 6, by, sizeof by), TW_ENOTFOUND);
    assert_int_equal(tw_report_place_superseded(f.r, KA, "batti", 5, by, sizeof by), TW_ENOTFOUND);
    /* What list keeps across pages answers the same; the reports go. */
    assert_int_equal(tw_report_compact(f.r), 0);
    assert_true(link_confirmed(&f, b1));
    assert_false(link_confirmed(&f, l2));
    assert_int_equal(tw_report_link_unit(f.r, b1, &u2), 0);
    assert_int_equal(tw_report_link_unit(f.r, l1, &u1), 0);
    assert_int_equal(u1, u2);
    assert_int_equal(tw_report_place_superseded(f.r, KA, "battir", 6, by, sizeof by), 0);
    assert_string_equal(by, want);
    tw_buf_reset(&f.out);
    assert_int_equal(tw_report_stats(f.r, NULL, 0, 0, &f.out), TW_ESTATE);
    assert_int_equal(tw_report_gaps(f.r, true, &f.out), TW_ESTATE);
    done(&f);

    /* Before the committee publishes, the hub's listing stands for the
     * place, and the hub's statement is the place's side. */
    start(&f, T0, 12);
    add(&f, KA, "place", "battir", T0, "name_en=Battir", "place_kind=village", "country=PS", "subdivision=PS-BTH", cf, NULL);
    add(&f, KB, "group", "g2", T0, "name=Two", "group_kind=school", "nation=wales", NULL);
    memcpy(l2, add(&f, KB, "link", "l2", T0, "group=g2", pa, "formality=exploring", "status=exploring", NULL), TW_ID_LEN);
    add(&f, KA, "link", "h2", T0, g2, "place=battir", "formality=exploring", "status=exploring", NULL);
    stats(&f);
    assert_int_equal(cnt(&f, "places_by_subdivision", "PS-BTH"), 1);
    assert_int_equal(cnt(&f, "links_by_confirmation", "confirmed"), 1);
    assert_true(link_confirmed(&f, l2));
    assert_int_equal(tw_report_place_superseded(f.r, KA, "battir", 6, by, sizeof by), TW_ENOTFOUND);
    done(&f);
}

/*
 * The committee C has several place records; hubs list some of its places
 * naming C.  Added in the order given, or reversed.
 */
static void several_places(fx *f, bool reverse)
{
    char cf[96];
    snprintf(cf, sizeof cf, "committee=%s", TC);
    static const struct { char k; const char *slot, *name, *other, *sub; bool listing; } p[] = {
        { 'C', "battir", "Battir", NULL, "PS-BTH", false },
        { 'C', "wadi-fukin", "Wadi Fukin", NULL, "PS-BTH", false },
        { 'C', "jaba-bth", "Jaba", NULL, "PS-BTH", false },
        { 'C', "jaba-jen", "Jaba", NULL, "PS-JEN", false },
        /* Another spelling in the wrong governorate, one name in common. */
        { 'A', "fukeen", "Wadi Fukeen", "Wadi Fukin;Wadi Fuqin", "PS-HBN", true },
        /* No name in common with any of the committee's records. */
        { 'A', "nahalin", "Nahalin", NULL, "PS-BTH", true },
        /* Two of the committee's places bear this name: no precedence. */
        { 'A', "jaba-qqa", "Jaba", NULL, "PS-QQA", true },
        /* Same name and governorate as the committee's record: one place by
         * the name rule, where the committee's record takes precedence. */
        { 'B', "battir-b", "Battir", NULL, "PS-BTH", true },
    };
    size_t n = sizeof p / sizeof p[0];
    for (size_t j = 0; j < n; j++) {
        size_t i = reverse ? n - 1 - j : j;
        const uint8_t *k = p[i].k == 'A' ? KA : p[i].k == 'B' ? KB : KC;
        char name[64], sub[32], other[96];
        snprintf(name, sizeof name, "name_en=%s", p[i].name);
        snprintf(sub, sizeof sub, "subdivision=%s", p[i].sub);
        const char *extra = p[i].listing ? cf : "seeking_partner=false";
        if (p[i].other) {
            snprintf(other, sizeof other, "other_names=%s", p[i].other);
            add(f, k, "place", p[i].slot, T0, name, "place_kind=village", "country=PS", sub, extra, other, NULL);
        } else {
            add(f, k, "place", p[i].slot, T0, name, "place_kind=village", "country=PS", sub, extra, NULL);
        }
    }
}

static void check_superseded(const fx *f, const uint8_t *k, const char *slot, const char *by_slot)
{
    char by[TW_KEYTEXT_LEN + 1 + TW_SLOT_MAX + 1], want[160];
    int rc = tw_report_place_superseded(f->r, k, slot, strlen(slot), by, sizeof by);
    if (!by_slot) {
        assert_int_equal(rc, TW_ENOTFOUND);
        return;
    }
    assert_int_equal(rc, 0);
    assert_string_equal(by, ref(want, TC, by_slot));
}

/* A listing naming a committee with several records is its place when it
 * shares a name with exactly one of them (in any governorate); a name two
 * of them bear, or none, leaves the name rule alone to decide.  The order
 * of the records changes nothing. */
static void test_precedence_several_records(void **state)
{
    tw_buf first;
    tw_buf_init(&first);
    for (int reverse = 0; reverse < 2; reverse++) {
        fx f;
        start(&f, T0, 12);
        several_places(&f, reverse);
        stats(&f);
        assert_int_equal(cnt(&f, "totals", "places"), 8);
        assert_int_equal(cnt(&f, "totals", "place_identities"), 6);
        assert_int_equal(cnt(&f, "places_by_subdivision", "PS-BTH"), 4);
        assert_int_equal(cnt(&f, "places_by_subdivision", "PS-JEN"), 1);
        assert_int_equal(cnt(&f, "places_by_subdivision", "PS-QQA"), 1);
        assert_int_equal(cnt(&f, "places_by_subdivision", "PS-HBN"), 0);
        check_superseded(&f, KA, "fukeen", "wadi-fukin");
        check_superseded(&f, KB, "battir-b", "battir");
        check_superseded(&f, KA, "nahalin", NULL);
        check_superseded(&f, KA, "jaba-qqa", NULL);
        check_superseded(&f, KC, "battir", NULL);
        check_superseded(&f, KC, "jaba-jen", NULL);
        tw_buf_reset(&f.out);
        assert_int_equal(tw_report_gaps(f.r, false, &f.out), 0);
        if (!reverse) {
            assert_int_equal(tw_buf_put(&first, f.out.p, f.out.len), 0);
            tw_arena_reset(&f.a);
            decode(&f);
            /* A superseded listing is not the place listed twice. */
            assert_int_equal(cnt(&f, "counts", "places_listed_twice"), 0);
            assert_int_equal(tw_v_get(&f.res, "listed_twice")->len, 0);
            assert_int_equal(cnt(&f, "counts", "unpartnered_places"), 6);
            /* Identities are shown by the committee's record. */
            char want[160], hub[160], hub2[160];
            const tw_val *t = tw_v_get(&f.res, "unpartnered");
            bool battir = false, fukin = false;
            ref(hub, TB, "battir-b");
            ref(hub2, TA, "fukeen");
            for (uint32_t i = 0; i < t->len; i++) {
                const tw_val *p = tw_v_get(&t->v.arr[i], "place");
                battir |= tw_v_is_str(p, ref(want, TC, "battir"));
                fukin |= tw_v_is_str(p, ref(want, TC, "wadi-fukin"));
                assert_false(tw_v_is_str(p, hub) || tw_v_is_str(p, hub2));
            }
            assert_true(battir && fukin);
        } else {
            assert_int_equal(first.len, f.out.len);
            assert_memory_equal(first.p, f.out.p, first.len);
        }
        done(&f);
    }
    tw_buf_free(&first);
}

/*
 * Confirmation needs two authors, one per side.  A hub (A) that lists both
 * the group and the place and states the link -- once, then twice more --
 * never confirms it.  The committee the place listing names (C) stating it
 * too confirms it (A speaks for the group, C for the place).  A link the
 * hub states from its group to a committee's own place, stated back by the
 * committee, is confirmed; the same with the hub stating both records'
 * sides in two statements is not.
 */
static void test_confirmation_two_authors(void **state)
{
    fx f;
    char cf[96], gref[160], pref[160];
    uint8_t l1[TW_ID_LEN], l2[TW_ID_LEN], l3[TW_ID_LEN], c1[TW_ID_LEN];
    snprintf(cf, sizeof cf, "committee=%s", TC);
    for (int withc = 0; withc < 2; withc++) {
        start(&f, T0, 12);
        add(&f, KA, "group", "walsall", T0, "name=Walsall Kobar Link", "group_kind=friendship_group",
            "nation=england", NULL);
        add(&f, KA, "place", "kobar", T0, "name_en=Kobar", "place_kind=village", "country=PS",
            "subdivision=PS-RBH", cf, NULL);
        memcpy(l1, add(&f, KA, "link", "l1", T0, "group=walsall", "place=kobar", "formality=friendship_link",
                       "status=active", NULL), TW_ID_LEN);
        memcpy(l2, add(&f, KA, "link", "l2", T0 + 1, "group=walsall", "place=kobar", "formality=friendship_link",
                       "status=active", NULL), TW_ID_LEN);
        memcpy(l3, add(&f, KA, "link", "l3", T0 + 2, "group=walsall", "place=kobar", "formality=friendship_link",
                       "status=active", NULL), TW_ID_LEN);
        if (withc) {
            snprintf(gref, sizeof gref, "group=%s/walsall", TA);
            snprintf(pref, sizeof pref, "place=%s/kobar", TA);
            memcpy(c1, add(&f, KC, "link", "c1", T0, gref, pref, "formality=friendship_link", "status=active", NULL),
                   TW_ID_LEN);
        }
        stats(&f);
        assert_int_equal(cnt(&f, "totals", "links"), 1);
        assert_int_equal(cnt(&f, "links_by_confirmation", "confirmed"), withc);
        assert_int_equal(cnt(&f, "links_by_confirmation", "unconfirmed"), 1 - withc);
        assert_int_equal(link_confirmed(&f, l1), withc);
        assert_int_equal(link_confirmed(&f, l3), withc);
        if (withc) assert_true(link_confirmed(&f, c1));
        done(&f);
    }
    /* The place is the committee's own record (B); the hub's group. */
    for (int by_b = 0; by_b < 2; by_b++) {
        start(&f, T0, 12);
        add(&f, KA, "group", "walsall", T0, "name=Walsall Kobar Link", "group_kind=friendship_group",
            "nation=england", NULL);
        add(&f, KB, "place", "kobar", T0, "name_en=Kobar", "place_kind=village", "country=PS", NULL);
        snprintf(pref, sizeof pref, "place=%s/kobar", TB);
        snprintf(gref, sizeof gref, "group=%s/walsall", TA);
        memcpy(l1, add(&f, KA, "link", "l1", T0, "group=walsall", pref, "formality=friendship_link",
                       "status=active", NULL), TW_ID_LEN);
        /* Stated back by the committee, or by the hub again (not the place's side). */
        if (by_b) add(&f, KB, "link", "b1", T0, gref, "place=kobar", "formality=friendship_link", "status=active", NULL);
        else add(&f, KA, "link", "l2", T0, "group=walsall", pref, "formality=friendship_link", "status=active", NULL);
        stats(&f);
        assert_int_equal(cnt(&f, "totals", "links"), 1);
        assert_int_equal(cnt(&f, "links_by_confirmation", "confirmed"), by_b);
        assert_int_equal(link_confirmed(&f, l1), by_b);
        done(&f);
    }
}

static void check_group_superseded(const fx *f, const uint8_t *k, const char *slot, const char *by_text,
                                   const char *by_slot)
{
    char by[TW_KEYTEXT_LEN + 1 + TW_SLOT_MAX + 1], want[160];
    int rc = tw_report_superseded(f->r, true, k, slot, strlen(slot), by, sizeof by);
    if (!by_slot) {
        assert_int_equal(rc, TW_ENOTFOUND);
        return;
    }
    assert_int_equal(rc, 0);
    assert_string_equal(by, ref(want, by_text, by_slot));
    /* A place of the same author and slot is not the group. */
    assert_int_equal(tw_report_superseded(f->r, false, k, slot, strlen(slot), by, sizeof by), TW_ENOTFOUND);
}

/*
 * Group precedence.  A hub (A) lists Walsall's group naming its own key B;
 * B's own group record (another name) supersedes the listing: one group,
 * counted once by B's record, and Kobar (C's place) sought by one group
 * though both records link to it.  B's statement and C's confirm the link.
 * A also lists "Leeds Link" with no own_key, and D publishes "LEEDS link"
 * in the same nation: listed more than once, with the command that links
 * A's listing to D; a group of the same name in Scotland is another group.
 * Removing B's record makes the listing stand again (two records, one
 * identity each way the test reads them).
 */
static void test_group_precedence(void **state)
{
    fx f;
    char ok[96], gb[160], pc[160], ga[160], want[200];
    snprintf(ok, sizeof ok, "own_key=%s", TB);
    snprintf(pc, sizeof pc, "place=%s/kobar", TC);
    for (int with_own = 0; with_own < 2; with_own++) {
        start(&f, T0, 12);
        add(&f, KC, "place", "kobar", T0, "name_en=Kobar", "place_kind=village", "country=PS", "subdivision=PS-RBH", NULL);
        add(&f, KA, "group", "walsall", T0, "name=Walsall Kobar Link", "group_kind=friendship_group",
            "nation=england", "seeking_partner=true", ok, NULL);
        add(&f, KA, "group", "leeds", T0, "name=Leeds Link", "group_kind=school", "nation=england", NULL);
        add(&f, KA, "group", "glasgow", T0, "name=Leeds Link", "group_kind=school", "nation=scotland", NULL);
        add(&f, KD, "group", "main", T0, "name=LEEDS link", "group_kind=school", "nation=england", NULL);
        add(&f, KA, "link", "walsall-kobar", T0, "group=walsall", pc, "formality=friendship_link", "status=active", NULL);
        if (with_own) {
            add(&f, KB, "group", "ours", T0, "name=Walsall Friends of Kobar", "group_kind=twinning_association",
                "nation=england", "region=E12000005", NULL);
            add(&f, KB, "link", "kobar", T0, "group=ours", pc, "formality=friendship_link", "status=active", NULL);
            snprintf(gb, sizeof gb, "group=%s/ours", TB);
            add(&f, KC, "link", "back", T0, gb, "place=kobar", "formality=friendship_link", "status=active", NULL);
        }
        stats(&f);
        assert_int_equal(cnt(&f, "totals", "groups"), 4 + with_own);
        assert_int_equal(cnt(&f, "totals", "group_identities"), 4);
        assert_int_equal(cnt(&f, "totals", "links"), 1);
        assert_int_equal(cnt(&f, "links_by_confirmation", "confirmed"), with_own);
        /* Counted by the own record when there is one, else by the listing. */
        assert_int_equal(cnt(&f, "groups_by_kind", "twinning_association"), with_own);
        assert_int_equal(cnt(&f, "groups_by_kind", "friendship_group"), 1 - with_own);
        assert_int_equal(cnt(&f, "active_links_by_region", "E12000005"), with_own);
        /* The listing's "seeking" no longer speaks for the group. */
        assert_int_equal(cnt(&f, "seeking", "groups"), 1 - with_own);
        check_group_superseded(&f, KA, "walsall", TB, with_own ? "ours" : NULL);
        check_group_superseded(&f, KB, "ours", NULL, NULL);
        tw_buf_reset(&f.out);
        assert_int_equal(tw_report_gaps(f.r, false, &f.out), 0);
        tw_arena_reset(&f.a);
        decode(&f);
        assert_int_equal(cnt(&f, "counts", "duplicated_places"), 0);
        assert_int_equal(cnt(&f, "counts", "group_identities"), 4);
        assert_int_equal(cnt(&f, "counts", "groups_listed_twice"), 1);
        const tw_val *t = tw_v_get(&f.res, "groups_listed_twice");
        assert_int_equal(t->len, 1);
        const tw_val *recs = tw_v_get(&t->v.arr[0], "records"), *cmds = tw_v_get(&t->v.arr[0], "commands");
        assert_int_equal(recs->len, 2);
        assert_true(tw_v_is_str(&recs->v.arr[0], ref(ga, TA, "leeds")));
        assert_true(tw_v_is_str(&recs->v.arr[1], ref(ga, TD, "main")));
        assert_true(tw_v_is_str(tw_v_get(&t->v.arr[0], "nation"), "england"));
        assert_int_equal(cmds->len, 1);
        snprintf(want, sizeof want, "twin publish group leeds ... own_key=%s", TD);
        assert_true(tw_v_is_str(tw_v_get(&cmds->v.arr[0], "command"), want));
        assert_true(tw_v_is_str(tw_v_get(&cmds->v.arr[0], "by"), TA));
        done(&f);
    }
    /* With the own_key named, A's listing and D's record are one group. */
    start(&f, T0, 12);
    snprintf(ok, sizeof ok, "own_key=%s", TD);
    add(&f, KA, "group", "leeds", T0, "name=Leeds Link", "group_kind=school", "nation=england", ok, NULL);
    add(&f, KD, "group", "main", T0, "name=LEEDS link", "group_kind=school", "nation=england", NULL);
    gaps(&f, false);
    assert_int_equal(cnt(&f, "counts", "groups_listed_twice"), 0);
    assert_int_equal(cnt(&f, "counts", "group_identities"), 1);
    check_group_superseded(&f, KA, "leeds", TD, "main");
    done(&f);
}

/* Dangling references: a link whose group or place reference is absent or
 * names no record is listed in gaps for the hub to fix, with what is
 * missing; a link whose references resolve is not. */
static void test_dangling(void **state)
{
    fx f;
    char pk[80], want[160];
    start(&f, T0, 12);
    add(&f, KA, "group", "g", T0, "name=G", "group_kind=council", "nation=england", NULL);
    add(&f, KA, "place", "p", T0, "name_en=P", "place_kind=village", "country=PS", NULL);
    add(&f, KA, "link", "ok", T0, "group=g", "place=p", "formality=friendship_link", "status=active", NULL);
    add(&f, KA, "link", "no-place", T0, "group=g", "place=nowhere", "formality=friendship_link", "status=active", NULL);
    snprintf(pk, sizeof pk, "party_key=%s", TA);
    add(&f, KB, "link", "key-only", T0, pk, "formality=friendship_link", "status=active", NULL);
    add(&f, KB, "link", "no-group", T0, "group=gone", "place=twk_bad/p", "formality=exploring", "status=exploring", NULL);
    gaps(&f, false);
    assert_int_equal(cnt(&f, "counts", "dangling_links"), 3);
    const tw_val *d = tw_v_get(&f.res, "dangling");
    assert_int_equal(d->len, 3);
    assert_true(tw_v_is_str(tw_v_get(&d->v.arr[0], "link"), ref(want, TA, "no-place")));
    assert_true(tw_v_is_str(tw_v_get(&d->v.arr[0], "missing"), "place"));
    assert_true(tw_v_is_str(tw_v_get(&d->v.arr[0], "place"), "nowhere"));
    assert_true(tw_v_is_str(tw_v_get(&d->v.arr[1], "link"), ref(want, TB, "key-only")));
    assert_true(tw_v_is_str(tw_v_get(&d->v.arr[1], "missing"), "group and place"));
    assert_true(tw_v_is_str(tw_v_get(&d->v.arr[1], "group"), ""));
    assert_true(tw_v_is_str(tw_v_get(&d->v.arr[2], "link"), ref(want, TB, "no-group")));
    assert_true(tw_v_is_str(tw_v_get(&d->v.arr[2], "missing"), "group and place"));
    done(&f);
    /* counts only: the count, no list. */
    start(&f, T0, 12);
    add(&f, KA, "link", "x", T0, "group=g", "formality=exploring", "status=exploring", NULL);
    gaps(&f, true);
    assert_int_equal(cnt(&f, "counts", "dangling_links"), 1);
    assert_null(tw_v_get(&f.res, "dangling"));
    done(&f);
}

/* A group without region gets its local authority's (by name in its usual
 * forms, or by ONS code) if that lies in its nation; Wales, Scotland and
 * Northern Ireland their nation's code; counted as inferred. */
static void test_region_inferred(void **state)
{
    static const struct { const char *nation, *la, *region; } cases[] = {
        { "england", "London Borough of Camden", "E12000007" },
        { "england", "camden council", "E12000007" },
        { "england", "E08000025", "E12000005" },                 /* Birmingham, by code */
        { "england", "City of Bristol", "E12000009" },           /* "Bristol, City of" */
        { "england", "Brighton & Hove City Council", "E12000008" },
        { "england", "Westmorland and Furness", "E12000002" },   /* April 2023 */
        { "england", "Stockton on Tees", "E12000001" },
        { "scotland", "Dundee City Council", "S92000003" },
        { "england", "Durham", "E12000001" },                    /* "County Durham" */
        { "wales", NULL, "W92000004" },                          /* the nation's own code */
        { "england", "Cardiff", "(none)" },                      /* not in England */
        { "england", "Nowhere Borough Council", "(none)" },
        { "england", NULL, "(none)" },
    };
    size_t n = sizeof cases / sizeof cases[0];
    fx f;
    start(&f, T0, 12);
    for (size_t i = 0; i < n; i++) {
        char slot[16], nat[40], la[80];
        snprintf(slot, sizeof slot, "g%zu", i);
        snprintf(nat, sizeof nat, "nation=%s", cases[i].nation);
        snprintf(la, sizeof la, "local_authority=%s", cases[i].la ? cases[i].la : "");
        add(&f, KA, "group", slot, T0, "name=G", "group_kind=council", nat, cases[i].la ? la : NULL, NULL);
    }
    add(&f, KA, "group", "given", T0, "name=G", "group_kind=council", "nation=england", "region=E12000004",
        "local_authority=Camden", NULL);
    stats(&f);
    assert_int_equal(cnt(&f, "groups_region_source", "given"), 1);
    assert_int_equal(cnt(&f, "groups_region_source", "inferred"), 10);
    assert_int_equal(cnt(&f, "groups_region_source", "none"), 3);
    assert_int_equal(cnt(&f, "groups_by_region", "E12000007"), 2);
    assert_int_equal(cnt(&f, "groups_by_region", "E12000004"), 1);  /* the field wins */
    for (size_t i = 0; i < n; i++)
        assert_true(cnt(&f, "groups_by_region", cases[i].region) >= 1);
    assert_int_equal(cnt(&f, "groups_by_region", "(none)"), 3);
    done(&f);
}

/* Places and active links by partner country; a code outside ISO 3166-1
 * counts as (other). */
static void test_partner_country(void **state)
{
    fx f;
    start(&f, T0, 12);
    add(&f, KA, "group", "g", T0, "name=G", "group_kind=council", "nation=england", NULL);
    add(&f, KA, "place", "ps1", T0, "name_en=A", "place_kind=village", "country=PS", NULL);
    add(&f, KA, "place", "ps2", T0, "name_en=B", "place_kind=village", "country=PS", NULL);
    add(&f, KA, "place", "fr", T0, "name_en=C", "place_kind=town", "country=FR", NULL);
    add(&f, KA, "place", "xk", T0, "name_en=D", "place_kind=town", "country=XK", NULL);
    add(&f, KA, "link", "l1", T0, "group=g", "place=ps1", "formality=friendship_link", "status=active", NULL);
    add(&f, KA, "link", "l2", T0, "group=g", "place=ps2", "formality=friendship_link", "status=ended", NULL);
    add(&f, KA, "link", "l3", T0, "group=g", "place=fr", "formality=formal_twinning", "status=active", NULL);
    add(&f, KA, "link", "l4", T0, "group=g", "place=xk", "formality=formal_twinning", "status=active", NULL);
    add(&f, KA, "link", "l5", T0, "group=g", "place=gone", "formality=formal_twinning", "status=active", NULL);
    stats(&f);
    assert_int_equal(cnt(&f, "places_by_country", "PS"), 2);
    assert_int_equal(cnt(&f, "places_by_country", "FR"), 1);
    assert_int_equal(cnt(&f, "places_by_country", "(other)"), 1);
    assert_int_equal(cnt(&f, "active_links_by_country", "PS"), 1);
    assert_int_equal(cnt(&f, "active_links_by_country", "FR"), 1);
    assert_int_equal(cnt(&f, "active_links_by_country", "(other)"), 1);
    assert_int_equal(cnt(&f, "active_links_by_country", "(unknown)"), 1);
    assert_int_equal(tw_v_get(&f.res, "active_links_by_country")->len, 4);
    done(&f);
}

/* A record naming its own author as committee is the committee's own: a
 * hub's listing of the same place (by name) is superseded by it, though it
 * names no committee. */
static void test_precedence_self_named(void **state)
{
    fx f;
    char cf[96];
    snprintf(cf, sizeof cf, "committee=%s", TC);
    start(&f, T0, 12);
    add(&f, KA, "place", "aida", T0, "name_en=Aida Camp", "place_kind=refugee_camp", "country=PS",
        "subdivision=PS-BTH", "seeking_partner=true", NULL);
    add(&f, KC, "place", "aida", T0, "name_en=Aida Camp", "place_kind=refugee_camp", "country=PS",
        "subdivision=PS-BTH", cf, NULL);
    stats(&f);
    assert_int_equal(cnt(&f, "totals", "place_identities"), 1);
    assert_int_equal(cnt(&f, "seeking", "places"), 0);
    check_superseded(&f, KA, "aida", "aida");
    check_superseded(&f, KC, "aida", NULL);
    done(&f);
}

/* Active links per year: since <= Y <= ended (or the report's year); a
 * link being explored is not counted, and links without since, ended
 * without a date, or ended before they started are counted apart. */
static void test_trend(void **state)
{
    fx f;
    start(&f, T0, 12);      /* T0 is in 2023 */
    add(&f, KA, "group", "g", T0, "name=G", "group_kind=council", "nation=england", NULL);
    static const char *const ps[] = { "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8" };
    char nm[16];
    for (int i = 0; i < 8; i++) {   /* names differ: places of one name in one country are one place */
        snprintf(nm, sizeof nm, "name_en=P%d", i);
        add(&f, KA, "place", ps[i], T0, nm, "place_kind=village", "country=PS", NULL);
    }
    add(&f, KA, "link", "a", T0, "group=g", "place=p1", "formality=friendship_link", "status=active", "since=2019", NULL);
    add(&f, KA, "link", "b", T0, "group=g", "place=p2", "formality=friendship_link", "status=ended",
        "since=2020-01", "ended=2021-06", NULL);
    add(&f, KA, "link", "c", T0, "group=g", "place=p3", "formality=friendship_link", "status=dormant", "since=2021-03", NULL);
    add(&f, KA, "link", "d", T0, "group=g", "place=p4", "formality=friendship_link", "status=active", NULL);
    add(&f, KA, "link", "e", T0, "group=g", "place=p5", "formality=friendship_link", "status=ended", "since=2018", NULL);
    add(&f, KA, "link", "x", T0, "group=g", "place=p6", "formality=friendship_link", "status=exploring", "since=2022", NULL);
    add(&f, KA, "link", "y", T0, "group=g", "place=p7", "formality=friendship_link", "status=ended",
        "since=2022", "ended=2020", NULL);
    add(&f, KA, "link", "z", T0, "group=g", "place=p8", "formality=friendship_link", "status=active", "since=2030", NULL);
    stats(&f);
    const tw_val *y = tw_v_get(&f.res, "active_links_by_year");
    assert_non_null(y);
    assert_int_equal(y->len, 5);                /* 2019 to 2023, the report's year */
    assert_int_equal(cnt(&f, "active_links_by_year", "2018"), 0);
    assert_int_equal(cnt(&f, "active_links_by_year", "2019"), 1);
    assert_int_equal(cnt(&f, "active_links_by_year", "2020"), 2);
    assert_int_equal(cnt(&f, "active_links_by_year", "2021"), 3);   /* b's last year */
    assert_int_equal(cnt(&f, "active_links_by_year", "2022"), 2);
    assert_int_equal(cnt(&f, "active_links_by_year", "2023"), 2);
    assert_null(tw_v_get(y, "2024"));
    assert_int_equal(cnt(&f, "active_links_undated", "no_since"), 1);
    assert_int_equal(cnt(&f, "active_links_undated", "no_end"), 1);
    assert_int_equal(cnt(&f, "active_links_undated", "ended_before_since"), 1);
    done(&f);
}

/* The published report's sections: each governorate in code list order
 * with its places by name and each place's partners by group name, with
 * the link's formality, status and confirmation; and the names of codes. */
static void test_governorates(void **state)
{
    fx f;
    char r1[128], r2[128];
    start(&f, T0, 12);
    ref(r1, TB, "bs");
    ref(r2, TA, "g1");
    char pl[160], gr[160];
    snprintf(pl, sizeof pl, "place=%s", r1);
    snprintf(gr, sizeof gr, "group=%s", r2);
    add(&f, KA, "group", "g1", T0, "name=Alpha Friends", "group_kind=friendship_group", "nation=england",
        "region=E12000007", NULL);
    add(&f, KA, "group", "g2", T0, "name=Beta Twinning", "group_kind=twinning_association", "nation=wales", NULL);
    add(&f, KB, "place", "bs", T0, "name_en=Beit Sahour", "name_ar=بيت ساحور", "place_kind=town", "country=PS",
        "subdivision=PS-BTH", NULL);
    add(&f, KA, "place", "kh", T0, "name_en=Al-Khader", "place_kind=village", "country=PS", "subdivision=PS-BTH", NULL);
    add(&f, KA, "place", "jn", T0, "name_en=Jenin", "place_kind=city", "country=PS", "subdivision=PS-JEN", NULL);
    add(&f, KA, "place", "fr", T0, "name_en=Ville", "place_kind=town", "country=FR", NULL);
    add(&f, KA, "link", "l1", T0, "group=g2", pl, "formality=friendship_link", "status=active", NULL);
    add(&f, KA, "link", "l2", T0, "group=g1", pl, "formality=formal_twinning", "status=exploring", "since=2021", NULL);
    add(&f, KB, "link", "l2", T0, gr, "place=bs", "formality=formal_twinning", "status=active", "since=2021", NULL);
    add(&f, KA, "link", "l3", T0, "group=nobody", "place=kh", "formality=formal_twinning", "status=active", NULL);
    assert_int_equal(tw_report_finish(f.r), 0);
    assert_int_equal(tw_report_governorates(f.r, &f.out), 0);
    decode(&f);
    assert_int_equal(f.res.type, TW_ARR);
    assert_int_equal(f.res.len, 16);
    assert_true(tw_v_is_str(tw_v_get(&f.res.v.arr[0], "code"), "PS-JEN"));
    const tw_val *bth = NULL;
    for (uint32_t i = 0; i < f.res.len; i++)
        if (tw_v_is_str(tw_v_get(&f.res.v.arr[i], "code"), "PS-BTH")) bth = &f.res.v.arr[i];
    assert_non_null(bth);
    assert_true(tw_v_is_str(tw_v_get(bth, "name_en"), "Bethlehem"));
    assert_int_equal(tw_v_get(bth, "places_total")->v.u, 2);
    const tw_val *places = tw_v_get(bth, "places");
    assert_int_equal(places->len, 2);
    assert_true(tw_v_is_str(tw_v_get(&places->v.arr[0], "name_en"), "Al-Khader"));
    assert_int_equal(tw_v_get(&places->v.arr[0], "partners")->len, 0);   /* its link's group is not known */
    const tw_val *bs = &places->v.arr[1];
    assert_true(tw_v_is_str(tw_v_get(bs, "name_ar"), "بيت ساحور"));
    const tw_val *pa = tw_v_get(bs, "partners");
    assert_int_equal(pa->len, 2);
    assert_true(tw_v_is_str(tw_v_get(&pa->v.arr[0], "name"), "Alpha Friends"));
    assert_true(tw_v_get(&pa->v.arr[0], "confirmed")->v.b);          /* KA for the group, KB for the place */
    assert_true(tw_v_is_str(tw_v_get(&pa->v.arr[0], "status"), "active"));  /* KB's statement is the newest */
    assert_true(tw_v_is_str(tw_v_get(&pa->v.arr[0], "formality"), "formal_twinning"));
    assert_true(tw_v_is_str(tw_v_get(&pa->v.arr[0], "region"), "E12000007"));
    assert_int_equal(tw_v_get(&pa->v.arr[0], "since")->v.u, 2021);
    assert_true(tw_v_is_str(tw_v_get(&pa->v.arr[1], "name"), "Beta Twinning"));
    assert_false(tw_v_get(&pa->v.arr[1], "confirmed")->v.b);
    uint64_t total = 0;
    for (uint32_t i = 0; i < f.res.len; i++) total += tw_v_get(&f.res.v.arr[i], "places_total")->v.u;
    assert_int_equal(total, 3);                                       /* the place in France is in none */
    tw_buf_reset(&f.out);
    assert_int_equal(tw_report_names(f.r, &f.out), 0);
    decode(&f);
    assert_true(tw_v_is_str(tw_v_get(tw_v_get(&f.res, "PS-BTH"), "en"), "Bethlehem"));
    assert_non_null(tw_v_get(tw_v_get(&f.res, "PS-BTH"), "ar"));
    assert_true(tw_v_is_str(tw_v_get(tw_v_get(&f.res, "FR"), "en"), "France"));
    assert_true(tw_v_is_str(tw_v_get(tw_v_get(&f.res, "E12000007"), "en"), "London"));
    assert_true(tw_v_is_str(tw_v_get(tw_v_get(&f.res, "W92000004"), "en"), "Wales"));
    assert_null(tw_v_get(&f.res, "DE"));                              /* no place there */
    assert_int_equal(f.res.len, 16 + 12 + 2);                         /* governorates, UK, PS and FR */
    done(&f);
}

/* TW_REPORT_LIST_MAX at its edge: a governorate with that many places lists
 * them all, one more and it lists that many with places_total one more; a
 * place's partners likewise. */
static void test_governorates_edge(void **state)
{
    for (int extra = 0; extra < 2; extra++) {
        fx f;
        char slot[32], name[48], grp[32];
        start(&f, T0, 12);
        for (unsigned i = 0; i < TW_REPORT_LIST_MAX + (unsigned)extra; i++) {
            snprintf(slot, sizeof slot, "p%u", i);
            snprintf(name, sizeof name, "name_en=Place %05u", i);
            add(&f, KA, "place", slot, T0, name, "place_kind=village", "country=PS", "subdivision=PS-NBS", NULL);
            snprintf(slot, sizeof slot, "g%u", i);
            snprintf(name, sizeof name, "name=Group %05u", i);
            add(&f, KA, "group", slot, T0, name, "group_kind=council", "nation=england", NULL);
            snprintf(slot, sizeof slot, "l%u", i);
            snprintf(grp, sizeof grp, "group=g%u", i);
            add(&f, KA, "link", slot, T0, grp, "place=p0", "formality=friendship_link", "status=active", NULL);
        }
        assert_int_equal(tw_report_finish(f.r), 0);
        assert_int_equal(tw_report_governorates(f.r, &f.out), 0);
        decode(&f);
        const tw_val *nbs = &f.res.v.arr[3];
        assert_true(tw_v_is_str(tw_v_get(nbs, "code"), "PS-NBS"));
        assert_int_equal(tw_v_get(nbs, "places_total")->v.u, TW_REPORT_LIST_MAX + (unsigned)extra);
        const tw_val *pl = tw_v_get(nbs, "places");
        assert_int_equal(pl->len, TW_REPORT_LIST_MAX);
        assert_true(tw_v_is_str(tw_v_get(&pl->v.arr[0], "name_en"), "Place 00000"));
        assert_int_equal(tw_v_get(&pl->v.arr[0], "partners")->len, TW_REPORT_LIST_MAX);
        assert_true(tw_v_is_str(tw_v_get(&tw_v_get(&pl->v.arr[0], "partners")->v.arr[0], "name"), "Group 00000"));
        done(&f);
    }
}

/* ------------------------------------------------- updates vs. rebuilds */

/*
 * A kept report updated after each batch of writes (tw_report_reopen,
 * tw_report_remove, tw_report_add, tw_report_finish: what daemon/ops.c does
 * with the slots written since the report was made) must answer what a
 * report made from scratch from the records as they now are answers, byte
 * for byte: stats, gaps (lists and counts), governorates, names and their
 * JSON, the CONFIRMED and SUPERSEDED BY marks, and which link statements are
 * one link.  The registry is a model kept here: a few keys writing a few
 * slots of each kind with fields drawn from small pools, so that names,
 * committees, own_keys and references collide and identities form and
 * break; steps put new records, supersede them, tombstone and delete them,
 * and change which keys are one association (identity records: as the ops
 * do, the kept report is then made again).  K5 is a second key of K0's
 * association throughout, so some slots are written by two keys of one
 * association (the report then refuses updates).  The scratch report is fed
 * the records in a shuffled order.  Bounded: SEEDS x STEPS steps.
 */
#define UPD_KEYS 6
#define UPD_SLOTS 6
#define UPD_SEEDS 4
#define UPD_STEPS 400

typedef struct mrec { bool used, live; uint32_t seed; uint64_t ts; uint8_t id[TW_ID_LEN]; } mrec;
typedef struct mchange { int key, kind, slot; bool has_old; uint8_t old[TW_ID_LEN]; } mchange;

static const char *const UKIND[3] = { "group", "place", "link" };
static uint8_t UK[UPD_KEYS][TW_KEY_LEN];
static char UT[UPD_KEYS][TW_KEYTEXT_LEN + 1];
static int upd_k4_assoc;            /* K4's association: 4 (its own) or 1 */

static uint64_t rnd_next(uint64_t *s)
{
    *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
    return *s;
}
static size_t rnd(uint64_t *s, size_t n) { return (size_t)(rnd_next(s) % n); }

static void upd_identity(void *ctx, const uint8_t key[32], uint8_t out[32])
{
    const uint8_t *k = key;
    if (memcmp(key, UK[5], TW_KEY_LEN) == 0) k = UK[0];
    else if (memcmp(key, UK[4], TW_KEY_LEN) == 0 && upd_k4_assoc == 1) k = UK[1];
    memmove(out, k, TW_KEY_LEN);
}

/* The body of a record of kind drawn from seed. */
static void upd_body(tw_arena *a, int kind, uint32_t seed, tw_val *body)
{
    uint64_t s = seed * 2654435761ull + 1;
    static const char *const gnames[] = { "Twin A", "Twin B", "twin  a", "Twin C" };
    static const char *const gkinds[] = { "twinning_association", "council", "school", "bogus" };
    static const char *const nations[] = { "england", "wales", "scotland" };
    static const char *const las[] = { "Camden", "London Borough of Camden", "Bristol, City of", "Cardiff" };
    static const char *const pnames[] = { "Battir", "Bateer", "Beit Sahour", "Nablus", "Jenin" };
    static const char *const subs[] = { "PS-BTH", "PS-NBS", "PS-JEN", "PS-HBN" };
    static const char *const pkinds[] = { "village", "city", "camp" };
    static const char *const forms[] = { "friendship_link", "twinning", "bogus" };
    static const char *const sts[] = { "active", "exploring", "dormant", "ended" };
    const char *keys[12], *vals[12];
    uint32_t m = 0;
    char own[TW_KEYTEXT_LEN + 1], gref[TW_KEYTEXT_LEN + 8], pref[TW_KEYTEXT_LEN + 8], since[8], ended[8];
    if (kind == 0) {
        keys[m] = "name"; vals[m++] = gnames[rnd(&s, 4)];
        keys[m] = "group_kind"; vals[m++] = gkinds[rnd(&s, 4)];
        keys[m] = "nation"; vals[m++] = nations[rnd(&s, 3)];
        if (rnd(&s, 2)) { keys[m] = "local_authority"; vals[m++] = las[rnd(&s, 4)]; }
        keys[m] = "seeking_partner"; vals[m++] = rnd(&s, 2) ? "true" : "false";
        if (rnd(&s, 3) == 0) {
            snprintf(own, sizeof own, "%s", UT[rnd(&s, UPD_KEYS)]);
            keys[m] = "own_key"; vals[m++] = own;
        }
    } else if (kind == 1) {
        keys[m] = "name_en"; vals[m++] = pnames[rnd(&s, 5)];
        if (rnd(&s, 3) == 0) { keys[m] = "other_names"; vals[m++] = "Battir;Beit Sahur"; }
        keys[m] = "country"; vals[m++] = rnd(&s, 5) ? "PS" : "GB";
        if (rnd(&s, 4)) { keys[m] = "subdivision"; vals[m++] = subs[rnd(&s, 4)]; }
        keys[m] = "place_kind"; vals[m++] = pkinds[rnd(&s, 3)];
        keys[m] = "seeking_partner"; vals[m++] = rnd(&s, 2) ? "true" : "false";
        if (rnd(&s, 2) == 0) {
            snprintf(own, sizeof own, "%s", UT[rnd(&s, UPD_KEYS)]);
            keys[m] = "committee"; vals[m++] = own;
        }
    } else {
        size_t gk = rnd(&s, UPD_KEYS), pk = rnd(&s, UPD_KEYS);
        if (rnd(&s, 2)) snprintf(gref, sizeof gref, "g%zu", rnd(&s, UPD_SLOTS));
        else snprintf(gref, sizeof gref, "%s/g%zu", UT[gk], rnd(&s, UPD_SLOTS));
        if (rnd(&s, 2)) snprintf(pref, sizeof pref, "p%zu", rnd(&s, UPD_SLOTS));
        else snprintf(pref, sizeof pref, "%s/p%zu", UT[pk], rnd(&s, UPD_SLOTS));
        keys[m] = "group"; vals[m++] = gref;
        keys[m] = "place"; vals[m++] = pref;
        keys[m] = "formality"; vals[m++] = forms[rnd(&s, 3)];
        keys[m] = "status"; vals[m++] = sts[rnd(&s, 4)];
        if (rnd(&s, 4)) { snprintf(since, sizeof since, "%zu-01", 1995 + rnd(&s, 30)); keys[m] = "since"; vals[m++] = since; }
        if (rnd(&s, 3) == 0) { snprintf(ended, sizeof ended, "%zu-06", 2000 + rnd(&s, 30)); keys[m] = "ended"; vals[m++] = ended; }
    }
    assert_int_equal(tw_v_map(a, body, m), 0);
    for (uint32_t i = 0; i < m; i++) {
        body->v.map[i].k = tw_v_cstr(tw_arena_strndup(a, keys[i], strlen(keys[i])));
        const char *v = tw_arena_strndup(a, vals[i], strlen(vals[i]));
        if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) body->v.map[i].v = tw_v_bool(v[0] == 't');
        else if (strcmp(keys[i], "other_names") == 0) {
            tw_val *l = &body->v.map[i].v;
            assert_int_equal(tw_v_arr(a, l, 2), 0);
            const char *semi = strchr(v, ';');
            l->v.arr[0] = tw_v_str(v, (size_t)(semi - v));
            l->v.arr[1] = tw_v_cstr(semi + 1);
        } else body->v.map[i].v = tw_v_cstr(v);
    }
}

static mrec upd_model[UPD_KEYS][3][UPD_SLOTS];

static int upd_add(tw_report *r, tw_arena *a, int key, int kind, int slot)
{
    const mrec *m = &upd_model[key][kind][slot];
    char sl[8];
    snprintf(sl, sizeof sl, "%c%d", UKIND[kind][0], slot);
    tw_entry en;
    memset(&en, 0, sizeof en);
    en.author = UK[key];
    en.kind = UKIND[kind]; en.kind_len = (uint32_t)strlen(UKIND[kind]);
    en.slot = tw_arena_strndup(a, sl, strlen(sl)); en.slot_len = (uint32_t)strlen(sl);
    en.ts = m->ts;
    memcpy(en.id, m->id, TW_ID_LEN);
    if (m->live) upd_body(a, kind, m->seed, &en.body);
    else en.body = tw_v_nil();      /* a tombstone: the report skips it */
    return tw_report_add(r, &en);
}

static bool upd_sort;

static const mrec *upd_rec(int i) { return &upd_model[i / (3 * UPD_SLOTS)][i / UPD_SLOTS % 3][i % UPD_SLOTS]; }

static int upd_store_order(const void *x, const void *y)
{
    int a = *(const int *)x, b = *(const int *)y;
    int ka = a / UPD_SLOTS % 3, kb = b / UPD_SLOTS % 3;
    if (ka != kb) return ka - kb;
    return upd_rec(a)->ts < upd_rec(b)->ts ? -1 : upd_rec(a)->ts > upd_rec(b)->ts;
}

static tw_report *upd_scratch(uint64_t *s)
{
    tw_report_opts o = { .now_ms = T0 + 400 * DAY, .dormant_months = 6, .identity = upd_identity };
    tw_report *r;
    assert_int_equal(tw_report_new(&r, &o), 0);
    int order[UPD_KEYS * 3 * UPD_SLOTS], n = 0;
    for (int i = 0; i < UPD_KEYS * 3 * UPD_SLOTS; i++) order[n++] = i;
    /* When K0 and K5 (one association), or K1 and K4 while they are one,
     * both hold a live record of a slot,
     * the report keeps the first it is given: then the order of the store
     * (by kind, then time), and the kept report refuses updates. */
    bool dup = false;
    for (int kind = 0; kind < 3; kind++)
        for (int slot = 0; slot < UPD_SLOTS; slot++)
            dup |= (upd_model[0][kind][slot].live && upd_model[5][kind][slot].live) ||
                   (upd_k4_assoc == 1 && upd_model[1][kind][slot].live && upd_model[4][kind][slot].live);
    if (dup) {
        upd_sort = true;
        qsort(order, (size_t)n, sizeof *order, upd_store_order);
    } else {
        for (int i = n - 1; i > 0; i--) { int j = (int)rnd(s, (size_t)i + 1), t = order[i]; order[i] = order[j]; order[j] = t; }
    }
    tw_arena a;
    tw_arena_init(&a, 0);
    for (int i = 0; i < n; i++) {
        int key = order[i] / (3 * UPD_SLOTS), kind = order[i] / UPD_SLOTS % 3, slot = order[i] % UPD_SLOTS;
        if (upd_model[key][kind][slot].used) assert_int_equal(upd_add(r, &a, key, kind, slot), 0);
    }
    tw_arena_free(&a);
    assert_int_equal(tw_report_finish(r), 0);
    return r;
}

/* Every answer of r, msgpack then JSON, one after the other into out. */
static void upd_answers(const tw_report *r, tw_buf *out)
{
    tw_buf b;
    tw_buf_init(&b);
    assert_int_equal(tw_report_stats(r, NULL, 0, 0, &b), 0);
    assert_int_equal(tw_report_gaps(r, false, &b), 0);
    assert_int_equal(tw_report_gaps(r, true, &b), 0);
    assert_int_equal(tw_report_governorates(r, &b), 0);
    assert_int_equal(tw_report_names(r, &b), 0);
    tw_buf_put(out, b.p, b.len);
    /* The same as JSON, each answer decoded again. */
    tw_arena a;
    tw_arena_init(&a, 0);
    for (size_t off = 0; off < b.len;) {
        tw_val v;
        size_t used = 0;
        assert_int_equal(tw_mp_decode(b.p + off, b.len - off, &a, 0, &v, &used, NULL), 0);
        assert_true(used > 0);
        assert_int_equal(tw_json_write(out, &v, 0), 0);
        off += used;
    }
    tw_arena_free(&a);
    tw_buf_free(&b);
    /* The marks of every record, and which link statements are one link. */
    for (int key = 0; key < UPD_KEYS; key++)
        for (int kind = 0; kind < 3; kind++)
            for (int slot = 0; slot < UPD_SLOTS; slot++) {
                const mrec *m = &upd_model[key][kind][slot];
                char sl[8], by[TW_KEYTEXT_LEN + 2 + TW_SLOT_MAX];
                snprintf(sl, sizeof sl, "%c%d", UKIND[kind][0], slot);
                bool c = false;
                int rc = kind == 2 ? tw_report_link_state(r, m->id, &c)
                                   : tw_report_superseded(r, kind == 0, UK[key], sl, strlen(sl), by, sizeof by);
                char line[64 + sizeof by];
                int n = snprintf(line, sizeof line, "%d.%d.%d:%d:%d:%s\n", key, kind, slot, rc, c,
                                 kind != 2 && rc == 0 ? by : "");
                tw_buf_put(out, line, (size_t)n);
                if (kind != 2 || !m->used) continue;
                for (int k2 = 0; k2 < UPD_KEYS; k2++)
                    for (int s2 = 0; s2 < UPD_SLOTS; s2++) {
                        uint32_t u1, u2;
                        int r1 = tw_report_link_unit(r, m->id, &u1);
                        int r2 = tw_report_link_unit(r, upd_model[k2][2][s2].id, &u2);
                        char same = r1 == 0 && r2 == 0 ? (u1 == u2 ? '=' : '#') : '-';
                        tw_buf_put(out, &same, 1);
                    }
            }
}

static void test_update_equals_rebuild(void **state)
{
    int updates = 0, rebuilds = 0, refused = 0;
    for (int k = 0; k < UPD_KEYS; k++) {
        memset(UK[k], 0x51 + 0x11 * k, TW_KEY_LEN);
        UK[k][31] = (uint8_t)k;
        tw_keytext_encode(UT[k], TW_KEYTEXT_PREFIX, UK[k]);
    }
    for (uint64_t seed = 1; seed <= UPD_SEEDS; seed++) {
        uint64_t s = seed * 0x9E3779B97F4A7C15ull;
        memset(upd_model, 0, sizeof upd_model);
        upd_k4_assoc = 4;
        uint64_t clock = T0;
        tw_report *kept = upd_scratch(&s);
        mchange pend[64];
        size_t npend = 0;
        bool moved = false;         /* an identity record: the kept report is made again */
        tw_buf want, got;
        tw_buf_init(&want);
        tw_buf_init(&got);
        for (int step = 0; step < UPD_STEPS; step++) {
            int op = (int)rnd(&s, 20), key = (int)rnd(&s, UPD_KEYS), kind = (int)rnd(&s, 3);
            int slot = (int)rnd(&s, UPD_SLOTS);
            /* K4 and K5 write seldom, one slot, often a tombstone: two
             * keys of one association on one slot come and go. */
            if (key >= 4 && rnd(&s, 4)) key = (int)rnd(&s, 4);
            if (key >= 4) {
                slot = UPD_SLOTS - 1;
                if (op > 0 && rnd(&s, 2)) op = 12;
            } else if (slot == UPD_SLOTS - 1 && (key == 2 || key == 3 || rnd(&s, 4))) {
                slot = (int)rnd(&s, UPD_SLOTS - 1);
            }
            mrec *m = &upd_model[key][kind][slot];
            if (op == 0) {
                upd_k4_assoc = upd_k4_assoc == 4 ? 1 : 4;
                moved = true;
            } else {
                mchange *c = &pend[npend];
                *c = (mchange){ key, kind, slot, m->used, { 0 } };
                memcpy(c->old, m->id, TW_ID_LEN);
                if (op <= 11) {                 /* a new record, or a new version of one */
                    m->used = m->live = true;
                    m->seed = (uint32_t)rnd_next(&s);
                } else if (op <= 15) {          /* a tombstone */
                    if (!m->used) continue;
                    m->live = false;
                } else if (op <= 17) {          /* the slot gone from the store */
                    m->used = m->live = false;
                } else {                        /* a group or place slot noted twice */
                    if (!m->used || kind == 2) continue;
                    c->has_old = false;
                }
                if (op <= 15) {
                    m->ts = ++clock;
                    for (size_t i = 0; i < TW_ID_LEN; i++) m->id[i] = (uint8_t)rnd_next(&s);
                }
                npend++;
            }
            /* Queries come after one write or a few. */
            if (npend < sizeof pend / sizeof pend[0] && rnd(&s, 3)) continue;
            int why = moved ? 1 : tw_report_reopen(kept);
            bool ok = why == 0;
            tw_arena a;
            tw_arena_init(&a, 0);
            /* As the ops do: groups and places removed by slot, link
             * statements by the version replaced; each slot added once. */
            for (size_t i = 0; ok && i < npend; i++) {
                char sl[8];
                snprintf(sl, sizeof sl, "%c%d", UKIND[pend[i].kind][0], pend[i].slot);
                if (pend[i].kind == 2) ok = !pend[i].has_old || tw_report_remove_link(kept, pend[i].old) == 0;
                else ok = tw_report_remove(kept, UKIND[pend[i].kind], strlen(UKIND[pend[i].kind]), UK[pend[i].key],
                                           sl, strlen(sl)) == 0;
            }
            for (size_t i = 0; ok && i < npend; i++) {
                bool seen = false;
                for (size_t k = 0; k < i; k++)
                    seen |= pend[k].key == pend[i].key && pend[k].kind == pend[i].kind && pend[k].slot == pend[i].slot;
                if (!seen && upd_model[pend[i].key][pend[i].kind][pend[i].slot].used)
                    ok = upd_add(kept, &a, pend[i].key, pend[i].kind, pend[i].slot) == 0;
            }
            tw_arena_free(&a);
            if (ok) ok = tw_report_finish(kept) == 0;
            if (ok) updates++;
            else {
                if (!moved) refused++;
                rebuilds++;
                tw_report_free(kept);
                kept = upd_scratch(&s);
            }
            npend = 0;
            moved = false;
            tw_report *scratch = upd_scratch(&s);
            tw_buf_reset(&want);
            tw_buf_reset(&got);
            upd_answers(scratch, &want);
            upd_answers(kept, &got);
            tw_report_free(scratch);
            if (want.len != got.len || memcmp(want.p, got.p, want.len) != 0)
                fail_msg("seed %llu step %d: the updated report differs from one made from scratch",
                         (unsigned long long)seed, step);
        }
        tw_buf_free(&want);
        tw_buf_free(&got);
        tw_report_free(kept);
    }
    print_message("    %d updates, %d reports made again (%d of them refused an update)\n", updates, rebuilds, refused);
    /* Most queries are answered by an update, and the refusals happen. */
    assert_true(updates > rebuilds);
    assert_true(refused > 0);
}

/* Lists of gaps longer than TW_REPORT_LIST_MAX show their first rows in
 * order: 2500 dangling links by three keys and 1500 places without a
 * partner, given in two shuffled orders, give the same answer, and the
 * dangling rows are the 1000 smallest references, sorted. */
#define LONG_LINKS 2500
#define LONG_PLACES 1500
static void long_fill(fx *f, uint64_t seed)
{
    const uint8_t *keys[3] = { KA, KB, KC };
    uint32_t order[LONG_LINKS + LONG_PLACES];
    for (uint32_t i = 0; i < LONG_LINKS + LONG_PLACES; i++) order[i] = i;
    uint64_t s = seed;
    for (uint32_t i = LONG_LINKS + LONG_PLACES - 1; i > 0; i--) {
        uint32_t j = (uint32_t)rnd(&s, (size_t)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    static const char *const subs[] = { "subdivision=PS-BTH", "subdivision=PS-NBS", "subdivision=PS-JEN" };
    for (uint32_t k = 0; k < LONG_LINKS + LONG_PLACES; k++) {
        uint32_t i = order[k];
        char slot[16], name[48], pl[32];
        if (i < LONG_LINKS) {
            snprintf(slot, sizeof slot, "l%05u", (i * 7919u) % 100000u);
            snprintf(pl, sizeof pl, "place=nowhere%u", i);
            add(f, keys[i % 3], "link", slot, T0 + i, "group=nogroup", pl, "status=active", NULL);
        } else {
            snprintf(slot, sizeof slot, "p%05u", i);
            snprintf(name, sizeof name, "name_en=Long Village %u", (i * 31u) % 977u);
            add(f, keys[i % 3], "place", slot, T0 + i, name, "place_kind=village", "country=PS", subs[i % 3],
                (i % 4) ? "seeking_partner=false" : "seeking_partner=true", NULL);
        }
    }
}

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

static void test_gaps_long_lists(void **state)
{
    fx f1, f2;
    start(&f1, T0, 12);
    start(&f2, T0, 12);
    long_fill(&f1, 7);
    long_fill(&f2, 99);
    gaps(&f1, false);
    gaps(&f2, false);
    assert_int_equal(f1.out.len, f2.out.len);
    assert_memory_equal(f1.out.p, f2.out.p, f1.out.len);
    assert_int_equal(cnt(&f1, "counts", "dangling_links"), LONG_LINKS);
    assert_int_equal(cnt(&f1, "counts", "unpartnered_places"), LONG_PLACES);
    const tw_val *d = tw_v_get(&f1.res, "dangling"), *u = tw_v_get(&f1.res, "unpartnered");
    assert_int_equal(d->len, TW_REPORT_LIST_MAX);
    assert_int_equal(u->len, TW_REPORT_LIST_MAX);
    /* The expected rows: every reference, sorted, the first 1000. */
    static char refs[LONG_LINKS][TW_KEYTEXT_LEN + 16];
    static char *pr[LONG_LINKS];
    const char *texts[3] = { TA, TB, TC };
    for (uint32_t i = 0; i < LONG_LINKS; i++) {
        snprintf(refs[i], sizeof refs[i], "%s/l%05u", texts[i % 3], (i * 7919u) % 100000u);
        pr[i] = refs[i];
    }
    qsort(pr, LONG_LINKS, sizeof *pr, cmp_str);
    for (uint32_t i = 0; i < TW_REPORT_LIST_MAX; i++) {
        const tw_val *l = tw_v_get(&d->v.arr[i], "link");
        assert_non_null(l);
        assert_int_equal(l->len, strlen(pr[i]));
        assert_memory_equal(l->v.s, pr[i], l->len);
    }
    /* Unpartnered: seeking places first. */
    for (uint32_t i = 1; i < TW_REPORT_LIST_MAX; i++) {
        const tw_val *a = tw_v_get(&u->v.arr[i - 1], "seeking"), *b = tw_v_get(&u->v.arr[i], "seeking");
        assert_true(a->v.b || !b->v.b);
    }
    done(&f1);
    done(&f2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_confirmed_and_merge),
        cmocka_unit_test(test_identity_and_duplication),
        cmocka_unit_test(test_dormant_and_ended),
        cmocka_unit_test(test_unresolved),
        cmocka_unit_test(test_suggestions),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_precedence_one_record),
        cmocka_unit_test(test_precedence_several_records),
        cmocka_unit_test(test_precedence_self_named),
        cmocka_unit_test(test_confirmation_two_authors),
        cmocka_unit_test(test_group_precedence),
        cmocka_unit_test(test_dangling),
        cmocka_unit_test(test_region_inferred),
        cmocka_unit_test(test_partner_country),
        cmocka_unit_test(test_trend),
        cmocka_unit_test(test_governorates),
        cmocka_unit_test(test_governorates_edge),
        cmocka_unit_test(test_update_equals_rebuild),
        cmocka_unit_test(test_gaps_long_lists),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
