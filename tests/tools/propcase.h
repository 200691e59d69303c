/*
 * Random records for the "one rule, every door" property test
 * (tests/unit/test_prop.c in process, tests/tools/propgen.c for real
 * daemons).  Header-only: both include it.
 *
 * pc_gen() makes one case: a record (kind, slot, body) that the rules of
 * proto/SCHEMA.md accept by construction (intent PC_OK: every kind, every
 * optional field now and then, maximal lengths, Arabic and bidi text,
 * unknown kinds nested to the depth limit, tombstones), or the same with one
 * fault injected that the rules must refuse (intent PC_BAD, with the fault
 * named).  The generator knows the rules from the specification, not from
 * the validator, so a door that accepts a faulty record or refuses a good
 * one is caught, and so is a disagreement between doors.
 */
#ifndef TW_PROPCASE_H
#define TW_PROPCASE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "twin/entry.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "twin/mp.h"
#include "twin/schema.h"

enum { PC_OK, PC_BAD, PC_UNKNOWN_KIND, PC_TOMBSTONE };

typedef struct pcase {
    char kind[TW_KIND_MAX + 1];
    char slot[TW_SLOT_MAX + 1];
    tw_val body;                 /* a map; nil for a tombstone */
    int intent;
    bool names_fault;            /* the fault is in the kind or slot syntax (an envelope the reader refuses) */
    char fault[96];              /* what was broken, for PC_BAD */
} pcase;

static inline uint64_t pc_rand(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline unsigned pc_below(uint64_t *s, unsigned n) { return (unsigned)(pc_rand(s) % n); }
static inline bool pc_chance(uint64_t *s, unsigned pct) { return pc_below(s, 100) < pct; }

static const char *const pc_words[] = {
    "Abu Dis", "Camden", "Beit Sahour", "Ramallah and al-Bireh", "Khan Yunis", "Al-Am'ari camp",
    "Walsall", "Kobar", "Hounslow", "Nablus", "Tubas", "Café Olé", "Zürich Straße",
    "\xd8\xa3\xd8\xa8\xd9\x88 \xd8\xaf\xd9\x8a\xd8\xb3",                           /* أبو ديس */
    "\xd8\xa8\xd9\x8a\xd8\xaa \xd8\xb3\xd8\xa7\xd8\xad\xd9\x88\xd8\xb1",             /* بيت ساحور */
    "\xd8\xae\xd8\xa7\xd9\x86 \xd9\x8a\xd9\x88\xd9\x86\xd8\xb3",                     /* خان يونس */
    "\xd9\x85\xd9\x8e\xd8\xae\xd9\x8a\xd9\x91\xd9\x85 \xd8\xa7\xd9\x84\xd8\xa3\xd9\x85\xd8\xb9\xd8\xb1\xd9\x8a", /* مَخيّم الأمعري */
    "\xe2\x81\xa7\xd8\xb1\xd8\xa7\xd9\x85 \xd8\xa7\xd9\x84\xd9\x84\xd9\x87\xe2\x81\xa9 Ramallah", /* isolate */
    "Camden \xe2\x80\x8f\xd8\xa3\xd8\xa8\xd9\x88 \xd8\xaf\xd9\x8a\xd8\xb3\xe2\x80\x8e twinning", /* RLM, LRM */
    "\xe2\x80\xae reversed \xe2\x80\xac", "emoji \xf0\x9f\x8c\xbf olive", "tab\xc2\xa0nbsp",
    "Twin\xcc\x81ning", "Jenin \xe2\x80\x94 Newham",
};

/* A string of the arena: a few words, or exactly TW_STR_MAX (or max) bytes. */
static inline tw_val pc_str(tw_arena *a, uint64_t *s, size_t max)
{
    if (pc_chance(s, 8)) {
        char *p = tw_arena_alloc(a, max + 1);
        size_t n = max;
        /* Fill with a two-byte letter where it fits exactly, else ASCII. */
        size_t i = 0;
        if (pc_chance(s, 50)) for (; i + 2 <= n; i += 2) { p[i] = (char)0xd8; p[i + 1] = (char)0xa8; }
        for (; i < n; i++) p[i] = 'a';
        return tw_v_str(p, n);
    }
    char buf[512];
    size_t n = 0;
    unsigned k = 1 + pc_below(s, 3);
    for (unsigned i = 0; i < k; i++) {
        const char *w = pc_words[pc_below(s, sizeof pc_words / sizeof pc_words[0])];
        int m = snprintf(buf + n, sizeof buf - n, "%s%s", i ? " " : "", w);
        if (m > 0 && (size_t)m < sizeof buf - n) n += (size_t)m;
    }
    return tw_v_str(tw_arena_strndup(a, buf, n), n);
}

static inline tw_val pc_key(tw_arena *a, uint64_t *s)
{
    uint8_t k[TW_KEY_LEN];
    for (size_t i = 0; i < sizeof k; i += 8) {
        uint64_t r = pc_rand(s);
        memcpy(k + i, &r, 8);
    }
    char *t = tw_arena_alloc(a, TW_KEYTEXT_LEN + 1);
    tw_keytext_encode(t, TW_KEYTEXT_PREFIX, k);
    return tw_v_str(t, TW_KEYTEXT_LEN);
}

static inline tw_val pc_date(tw_arena *a, uint64_t *s, int year_min)
{
    char b[16];
    int y = year_min + (int)pc_below(s, 2024 - year_min + 1), m = 1 + (int)pc_below(s, 12), d = 1 + (int)pc_below(s, 28);
    unsigned f = pc_below(s, 3);
    int n = f == 0 ? snprintf(b, sizeof b, "%04d", y) : f == 1 ? snprintf(b, sizeof b, "%04d-%02d", y, m)
                                                              : snprintf(b, sizeof b, "%04d-%02d-%02d", y, m, d);
    return tw_v_str(tw_arena_strndup(a, b, (size_t)n), (size_t)n);
}

static inline const char *pc_pick(uint64_t *s, const char *const *v, size_t n) { return v[pc_below(s, (unsigned)n)]; }
#define PC_PICK(s, arr) pc_pick((s), (arr), sizeof(arr) / sizeof((arr)[0]))

typedef struct pc_map { tw_kv kv[24]; uint32_t n; } pc_map;
static inline void pc_put(pc_map *m, const char *k, tw_val v)
{
    m->kv[m->n].k = tw_v_cstr(k);
    m->kv[m->n].v = v;
    m->n++;
}
static inline tw_val pc_finish(tw_arena *a, pc_map *m)
{
    tw_val v;
    tw_v_map(a, &v, m->n);
    for (uint32_t i = 0; i < m->n; i++) v.v.map[i] = m->kv[i];
    return v;
}
static inline tw_val pc_list(tw_arena *a, uint64_t *s, unsigned n, bool addresses)
{
    tw_val v;
    tw_v_arr(a, &v, n);
    for (unsigned i = 0; i < n; i++) {
        char b[96];
        int l;
        /* Names under .invalid never resolve and loopback is not dialled
         * for a learnt address by default: a test node dials nothing. */
        if (addresses) l = pc_chance(s, 50) ? snprintf(b, sizeof b, "hub-%u.invalid:%u", i, 1000 + i)
                                            : snprintf(b, sizeof b, "127.0.0.%u:%u", 1 + i, 9);
        else l = snprintf(b, sizeof b, "activity %u %s", i, pc_chance(s, 30) ? "\xd8\xaa\xd8\xb9\xd9\x84\xd9\x8a\xd9\x85" : "exchange");
        v.v.arr[i] = tw_v_str(tw_arena_strndup(a, b, (size_t)l), (size_t)l);
    }
    return v;
}

/* UK regions with their nation, and governorates with their area. */
static const char *const pc_regions[][2] = {
    { "E12000007", "england" }, { "E12000001", "england" }, { "E12000009", "england" },
    { "W92000004", "wales" }, { "S92000003", "scotland" }, { "N92000002", "northern_ireland" },
};
static const char *const pc_govs[][2] = {
    { "PS-BTH", "west_bank" }, { "PS-RBH", "west_bank" }, { "PS-NBS", "west_bank" },
    { "PS-KYS", "gaza" }, { "PS-GZA", "gaza" }, { "PS-JEM", "west_bank" },
};
static const char *const pc_countries[] = { "PS", "GB", "FR", "DE", "JO", "LB", "IE", "NI" };

static inline tw_val pc_group(tw_arena *a, uint64_t *s, pc_map *m)
{
    static const char *const kinds[] = { "twinning_association", "friendship_group", "student_union", "church",
                                         "school", "university", "council", "health_link", "trade_union", "other" };
    unsigned r = pc_below(s, sizeof pc_regions / sizeof pc_regions[0]);
    pc_put(m, "name", pc_str(a, s, TW_STR_MAX));
    pc_put(m, "group_kind", tw_v_cstr(PC_PICK(s, kinds)));
    pc_put(m, "nation", tw_v_cstr(pc_regions[r][1]));
    if (pc_chance(s, 50)) pc_put(m, "region", tw_v_cstr(pc_regions[r][0]));
    if (pc_chance(s, 40)) pc_put(m, "local_authority", pc_str(a, s, TW_STR_MAX));
    if (pc_chance(s, 30)) pc_put(m, "formal_status", tw_v_cstr(pc_chance(s, 50) ? "council_pact" : "informal"));
    if (pc_chance(s, 30)) pc_put(m, "founded", pc_date(a, s, 1900));
    if (pc_chance(s, 30)) pc_put(m, "website", tw_v_cstr("https://camden-abudis.example.org/about?x=1#top"));
    if (pc_chance(s, 30)) pc_put(m, "email", tw_v_cstr("info@twinning.example.org"));
    if (pc_chance(s, 30)) pc_put(m, "seeking_partner", tw_v_bool(pc_chance(s, 50)));
    if (pc_chance(s, 20)) pc_put(m, "description", pc_str(a, s, pc_chance(s, 50) ? TW_DESC_MAX : TW_STR_MAX));
    return pc_finish(a, m);
}

static inline tw_val pc_place(tw_arena *a, uint64_t *s, pc_map *m)
{
    static const char *const kinds[] = { "city", "town", "village", "refugee_camp", "bedouin_community", "neighbourhood" };
    pc_put(m, "name_en", pc_str(a, s, TW_STR_MAX));
    pc_put(m, "place_kind", tw_v_cstr(PC_PICK(s, kinds)));
    bool ps = pc_chance(s, 70);
    pc_put(m, "country", tw_v_cstr(ps ? "PS" : pc_countries[1 + pc_below(s, 6)]));
    if (ps && pc_chance(s, 60)) {
        unsigned g = pc_below(s, sizeof pc_govs / sizeof pc_govs[0]);
        pc_put(m, "subdivision", tw_v_cstr(pc_govs[g][0]));
        if (pc_chance(s, 50)) {
            bool ej = !strcmp(pc_govs[g][0], "PS-JEM") && pc_chance(s, 50);
            pc_put(m, "area", tw_v_cstr(ej ? "east_jerusalem" : pc_govs[g][1]));
        }
    }
    if (pc_chance(s, 50)) pc_put(m, "name_ar", pc_str(a, s, TW_STR_MAX));
    if (pc_chance(s, 30)) pc_put(m, "other_names", pc_list(a, s, 1 + pc_below(s, pc_chance(s, 10) ? TW_LIST_MAX : 4), false));
    if (pc_chance(s, 30)) pc_put(m, "seeking_partner", tw_v_bool(pc_chance(s, 50)));
    if (pc_chance(s, 20)) pc_put(m, "website", tw_v_cstr("http://[2001:db8::1]:8080/abu-dis"));
    if (pc_chance(s, 20)) pc_put(m, "email", tw_v_cstr("council@abudis.example.ps"));
    if (pc_chance(s, 20)) pc_put(m, "description", pc_str(a, s, TW_DESC_MAX));
    if (pc_chance(s, 20)) pc_put(m, "committee", pc_key(a, s));
    return pc_finish(a, m);
}

static inline tw_val pc_link(tw_arena *a, uint64_t *s, pc_map *m)
{
    static const char *const forms[] = { "formal_twinning", "friendship_link", "institutional_link", "exploring" };
    static const char *const stats[] = { "exploring", "active", "dormant", "ended" };
    const char *st = PC_PICK(s, stats);
    unsigned which = pc_below(s, 4);
    char ref[TW_KEYTEXT_LEN + 40];
    if (which != 1) {
        tw_val k = pc_key(a, s);
        int l = pc_chance(s, 50) ? snprintf(ref, sizeof ref, "%.*s/uk-camden", (int)k.len, k.v.s) : snprintf(ref, sizeof ref, "camden");
        pc_put(m, "group", tw_v_str(tw_arena_strndup(a, ref, (size_t)l), (size_t)l));
    }
    if (which != 0) pc_put(m, "place", tw_v_cstr(pc_chance(s, 50) ? "abu-dis" : "ps.beit_sahour-2"));
    if (which == 3 || pc_chance(s, 20)) pc_put(m, "party_key", pc_key(a, s));
    pc_put(m, "formality", tw_v_cstr(PC_PICK(s, forms)));
    pc_put(m, "status", tw_v_cstr(st));
    if (pc_chance(s, 50)) pc_put(m, "since", tw_v_cstr("1984"));
    if (!strcmp(st, "ended") && pc_chance(s, 50)) pc_put(m, "ended", pc_date(a, s, 1985));
    if (pc_chance(s, 30)) pc_put(m, "activities", pc_list(a, s, 1 + pc_below(s, 6), false));
    if (pc_chance(s, 20)) pc_put(m, "description", pc_str(a, s, TW_STR_MAX));
    return pc_finish(a, m);
}

/* Nested maps and arrays, depth levels deep (1: a flat map). */
static inline tw_val pc_nest(tw_arena *a, uint64_t *s, unsigned depth)
{
    tw_val v;
    if (depth <= 1) {
        tw_v_map(a, &v, 2);
        v.v.map[0].k = tw_v_cstr("leaf");
        v.v.map[0].v = pc_str(a, s, 64);
        v.v.map[1].k = tw_v_cstr("n");
        v.v.map[1].v = tw_v_int(-(int64_t)pc_below(s, 1000));
        return v;
    }
    if (pc_chance(s, 50)) {
        tw_v_arr(a, &v, 2);
        v.v.arr[0] = pc_nest(a, s, depth - 1);
        v.v.arr[1] = tw_v_bool(true);
    } else {
        tw_v_map(a, &v, 2);
        v.v.map[0].k = tw_v_cstr("deeper");
        v.v.map[0].v = pc_nest(a, s, depth - 1);
        v.v.map[1].k = tw_v_cstr("z");
        v.v.map[1].v = tw_v_uint(pc_rand(s));
    }
    return v;
}

/* A body of a kind this version does not know: a map nested up to the
 * limit (TW_DEPTH_MAX - 1 levels: the payload map holds it). */
static inline tw_val pc_unknown(tw_arena *a, uint64_t *s)
{
    unsigned depth = pc_chance(s, 50) ? TW_DEPTH_MAX - 1 : 1 + pc_below(s, TW_DEPTH_MAX - 1);
    tw_val v;
    tw_v_map(a, &v, 2);
    v.v.map[0].k = tw_v_cstr("title");
    v.v.map[0].v = pc_str(a, s, 200);
    v.v.map[1].k = tw_v_cstr("data");
    v.v.map[1].v = depth > 1 ? pc_nest(a, s, depth - 1) : tw_v_uint(7);
    return v;
}

static inline void pc_slot(uint64_t *s, char *out, unsigned i)
{
    static const char *const stems[] = { "abu-dis", "camden", "ps.bth", "uk_walsall", "kobar-2", "x" };
    if (pc_chance(s, 3)) {
        /* The longest slot key. */
        memset(out, 'a', TW_SLOT_MAX);
        snprintf(out, 16, "s%u", i);
        out[strlen(out)] = 'a';
        out[TW_SLOT_MAX] = 0;
        return;
    }
    snprintf(out, TW_SLOT_MAX + 1, "%s-%u", PC_PICK(s, stems), i);
}

/* Finds field name in m; NULL if absent. */
static inline tw_kv *pc_field(tw_val *m, const char *name)
{
    for (uint32_t i = 0; m->type == TW_MAP && i < m->len; i++)
        if (m->v.map[i].k.len == strlen(name) && !memcmp(m->v.map[i].k.v.s, name, m->v.map[i].k.len)) return &m->v.map[i];
    return NULL;
}

/* Replaces or adds field name (the map is rebuilt in the arena). */
static inline void pc_set(tw_arena *a, tw_val *m, const char *name, tw_val v)
{
    tw_kv *f = pc_field(m, name);
    if (f) { f->v = v; return; }
    tw_val n;
    tw_v_map(a, &n, m->len + 1);
    for (uint32_t i = 0; i < m->len; i++) n.v.map[i] = m->v.map[i];
    n.v.map[m->len].k = tw_v_cstr(name);
    n.v.map[m->len].v = v;
    *m = n;
}

static inline void pc_drop(tw_val *m, const char *name)
{
    for (uint32_t i = 0; i < m->len; i++)
        if (m->v.map[i].k.len == strlen(name) && !memcmp(m->v.map[i].k.v.s, name, m->v.map[i].k.len)) {
            m->v.map[i] = m->v.map[m->len - 1];
            m->len--;
            return;
        }
}

#define PC_FAULT(...) snprintf(c->fault, sizeof c->fault, __VA_ARGS__)

/* Breaks a record of the kinds of associations and their keys (device,
 * succession, recovery, keyplan) in one way the record rule refuses. */
static inline void pc_break_ident(tw_arena *a, uint64_t *s, pcase *c)
{
    bool dev = !strcmp(c->kind, "device"), suc = !strcmp(c->kind, "succession"), rec = !strcmp(c->kind, "recovery");
    const char *named = suc ? "next" : dev || rec ? "key" : "commit";
    switch (pc_below(s, 5)) {
    case 0: pc_set(a, &c->body, "seeking", tw_v_bool(true)); PC_FAULT("unknown field seeking"); return;
    case 1: snprintf(c->slot, sizeof c->slot, "not-a-key"); PC_FAULT("%s slot not a key", c->kind); return;
    case 2:
        if (!dev && !suc && !rec) pc_set(a, &c->body, "commit", tw_v_cstr("00000000000000000000000000000000"
                                                                               "00000000000000000000000000000000"));
        else pc_set(a, &c->body, named, pc_key(a, s));
        PC_FAULT("%s.%s differs from the slot", c->kind, named);
        return;
    case 3:
        if (dev) { pc_drop(&c->body, "revoked"); pc_set(a, &c->body, "from", tw_v_uint(5)); PC_FAULT("device.from without revoked"); }
        else if (rec) { pc_set(a, &c->body, "next", tw_v_cstr(c->slot)); PC_FAULT("recovery.next is the lost key"); }
        else if (suc) { pc_set(a, &c->body, "next", tw_v_cstr("twk_not")); PC_FAULT("succession.next not a key"); }
        else {
            for (char *p = c->slot; *p; p++) if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
            pc_set(a, &c->body, "commit", tw_v_cstr(tw_arena_strndup(a, c->slot, strlen(c->slot))));
            PC_FAULT("keyplan commitment in upper case");
        }
        return;
    default:
        pc_drop(&c->body, dev ? "label" : suc ? "next" : rec ? "from" : "commit");
        PC_FAULT("%s required field missing", c->kind);
        return;
    }
}

/* Breaks c's record in one way the rules refuse. */
static inline void pc_break(tw_arena *a, uint64_t *s, pcase *c)
{
    static const char *const blanks[] = { "   ", "\xc2\xa0", "\xe3\x80\x80\xe3\x80\x80", "\xe2\x80\x8b\xe2\x80\x8f",
                                          "\xef\xbb\xbf \xe2\x81\xa6\xe2\x81\xa9" };
    const char *str_field = !strcmp(c->kind, "group") ? "name" : !strcmp(c->kind, "place") ? "name_en" :
                            !strcmp(c->kind, "vouch") ? "name" : "description";
    for (;;) {
        switch (pc_below(s, 17)) {
        case 0: pc_set(a, &c->body, "seeking", tw_v_bool(true)); PC_FAULT("unknown field seeking"); return;
        case 1:
            if (!strcmp(c->kind, "peer") || !strcmp(c->kind, "link")) continue;
            pc_drop(&c->body, str_field); PC_FAULT("required %s missing", str_field); return;
        case 2: pc_set(a, &c->body, str_field, tw_v_uint(3)); PC_FAULT("%s not a string", str_field); return;
        case 3: {
            char *p = tw_arena_alloc(a, TW_DESC_MAX + 2);
            size_t n = (!strcmp(str_field, "description") ? TW_DESC_MAX : TW_STR_MAX) + 1;
            memset(p, 'b', n);
            pc_set(a, &c->body, str_field, tw_v_str(p, n));
            PC_FAULT("%s one byte too long", str_field);
            return;
        }
        case 4: pc_set(a, &c->body, str_field, tw_v_cstr(PC_PICK(s, blanks))); PC_FAULT("%s blank", str_field); return;
        case 5: pc_set(a, &c->body, str_field, tw_v_cstr("bell\x07")); PC_FAULT("%s control character", str_field); return;
        case 6: {
            static const char *const bad[] = { "Bad-Slot", ".dot", "-dash", "a/b", "x@y", "UPPER" };
            if (!strcmp(c->kind, "vouch")) continue;
            snprintf(c->slot, sizeof c->slot, "%s", PC_PICK(s, bad));
            PC_FAULT("slot %.60s", c->slot);
            return;
        }
        case 7:
            if (strcmp(c->kind, "peer")) continue;
            snprintf(c->slot, sizeof c->slot, "home%u", pc_below(s, 100));
            PC_FAULT("peer in slot %.60s", c->slot);
            return;
        case 8:
            if (strcmp(c->kind, "vouch")) continue;
            if (pc_chance(s, 50)) { pc_set(a, &c->body, "key", pc_key(a, s)); PC_FAULT("vouch key differs from slot"); }
            else { snprintf(c->slot, sizeof c->slot, "not-a-key"); PC_FAULT("vouch slot not a key"); }
            return;
        case 9:
            if (!strcmp(c->kind, "group")) { pc_set(a, &c->body, "nation", tw_v_cstr("England")); PC_FAULT("nation England"); return; }
            if (!strcmp(c->kind, "place")) { pc_set(a, &c->body, "place_kind", tw_v_cstr("hamlet")); PC_FAULT("place_kind hamlet"); return; }
            if (!strcmp(c->kind, "link")) { pc_set(a, &c->body, "status", tw_v_cstr("paused")); PC_FAULT("status paused"); return; }
            continue;
        case 10:
            if (!strcmp(c->kind, "link")) {
                pc_set(a, &c->body, "status", tw_v_cstr("active"));
                pc_set(a, &c->body, "ended", tw_v_cstr("2001"));
                PC_FAULT("ended while active");
                return;
            }
            if (!strcmp(c->kind, "group")) { pc_set(a, &c->body, "founded", tw_v_cstr("2023-02-29")); PC_FAULT("no such day"); return; }
            continue;
        case 11:
            if (strcmp(c->kind, "link")) continue;
            pc_drop(&c->body, "group"); pc_drop(&c->body, "place"); pc_drop(&c->body, "party_key");
            PC_FAULT("link without group, place, party_key");
            return;
        case 12:
            if (!strcmp(c->kind, "group")) {
                pc_set(a, &c->body, "nation", tw_v_cstr("wales"));
                pc_set(a, &c->body, "region", tw_v_cstr("E12000007"));
                PC_FAULT("region outside its nation");
                return;
            }
            if (!strcmp(c->kind, "place")) {
                pc_set(a, &c->body, "country", tw_v_cstr("PS"));
                pc_set(a, &c->body, "subdivision", tw_v_cstr("PS-KYS"));
                pc_set(a, &c->body, "area", tw_v_cstr("west_bank"));
                PC_FAULT("area disagrees with governorate");
                return;
            }
            continue;
        case 13:
            if (!strcmp(c->kind, "peer")) { pc_set(a, &c->body, "addresses", pc_list(a, s, TW_PEER_ADDRS_MAX + 1, true)); PC_FAULT("9 addresses"); return; }
            if (!strcmp(c->kind, "place")) {
                tw_val l = pc_list(a, s, 2, false);
                l.v.arr[1] = l.v.arr[0];
                pc_set(a, &c->body, "other_names", l);
                PC_FAULT("repeated other name");
                return;
            }
            continue;
        case 14:
            if (strcmp(c->kind, "group")) continue;
            pc_set(a, &c->body, pc_chance(s, 50) ? "website" : "email",
                   tw_v_cstr(pc_chance(s, 50) ? "ftp://x.example" : "two@@example.org"));
            PC_FAULT("bad url or email");
            return;
        case 15: {
            if (strcmp(c->kind, "place")) continue;
            tw_val k = pc_key(a, s);
            char *t = tw_arena_strndup(a, k.v.s, k.len);
            t[k.len - 1] = t[k.len - 1] == 'a' ? 'b' : 'a';
            pc_set(a, &c->body, "committee", tw_v_str(t, k.len));
            PC_FAULT("committee key checksum");
            return;
        }
        case 16: {
            tw_val nested;
            tw_v_map(a, &nested, 1);
            nested.v.map[0].k = tw_v_cstr("x");
            nested.v.map[0].v = tw_v_uint(1);
            pc_set(a, &c->body, str_field, nested);
            PC_FAULT("%s is a map", str_field);
            return;
        }
        }
    }
}

/*
 * Case i.  bad_pct: share of faulty cases; names_faults: whether faults in
 * the kind or slot syntax itself may be drawn (a peer that sends one is
 * malformed and banned, so the peer door of the real-daemon test leaves
 * them out).
 */
static inline void pc_gen(tw_arena *a, uint64_t *s, unsigned i, unsigned bad_pct, bool names_faults, pcase *c)
{
    static const char *const kinds[] = { "group", "place", "link", "vouch", "peer", "group", "place", "link",
                                         "device", "succession", "recovery", "keyplan" };
    static const char *const unknown[] = { "event", "x_future_kind", "photo2" };
    pc_map m = { .n = 0 };
    memset(c, 0, sizeof *c);
    c->intent = PC_OK;
    unsigned r = pc_below(s, 100);
    if (r < 10) {
        snprintf(c->kind, sizeof c->kind, "%s", PC_PICK(s, unknown));
        snprintf(c->slot, sizeof c->slot, "u-%u", i);
        c->body = pc_unknown(a, s);
        c->intent = PC_UNKNOWN_KIND;
        return;
    }
    snprintf(c->kind, sizeof c->kind, "%s", PC_PICK(s, kinds));
    pc_slot(s, c->slot, i);
    if (!strcmp(c->kind, "group")) c->body = pc_group(a, s, &m);
    else if (!strcmp(c->kind, "place")) c->body = pc_place(a, s, &m);
    else if (!strcmp(c->kind, "link")) c->body = pc_link(a, s, &m);
    else if (!strcmp(c->kind, "vouch")) {
        tw_val k = pc_key(a, s);
        snprintf(c->slot, sizeof c->slot, "%.*s", (int)k.len, k.v.s);
        pc_put(&m, "key", k);
        pc_put(&m, "name", pc_str(a, s, TW_STR_MAX));
        if (pc_chance(s, 50)) pc_put(&m, "role", tw_v_cstr(pc_chance(s, 50) ? "member" : "hub"));
        if (pc_chance(s, 20)) pc_put(&m, "revoked", tw_v_bool(pc_chance(s, 50)));
        c->body = pc_finish(a, &m);
    } else if (!strcmp(c->kind, "peer")) {
        snprintf(c->slot, sizeof c->slot, "self");
        pc_put(&m, "addresses", pc_list(a, s, 1 + pc_below(s, TW_PEER_ADDRS_MAX), true));
        c->body = pc_finish(a, &m);
    } else if (!strcmp(c->kind, "keyplan")) {
        tw_val k = pc_key(a, s);
        uint8_t h[32];
        crypto_generichash(h, 32, (const uint8_t *)k.v.s, k.len, NULL, 0);
        char *hex = tw_arena_alloc(a, 65);
        for (int j = 0; j < 32; j++) snprintf(hex + 2 * j, 3, "%02x", h[j]);
        snprintf(c->slot, sizeof c->slot, "%s", hex);
        pc_put(&m, "commit", tw_v_str(hex, 64));
        c->body = pc_finish(a, &m);
    } else {
        /* device, succession, recovery: the slot is a key the body names. */
        tw_val k = pc_key(a, s);
        snprintf(c->slot, sizeof c->slot, "%.*s", (int)k.len, k.v.s);
        if (!strcmp(c->kind, "device")) {
            pc_put(&m, "key", k);
            pc_put(&m, "label", pc_str(a, s, TW_STR_MAX));
            if (pc_chance(s, 30)) {
                pc_put(&m, "revoked", tw_v_bool(true));
                if (pc_chance(s, 50)) pc_put(&m, "from", tw_v_uint(pc_below(s, 1000000)));
            }
        } else if (!strcmp(c->kind, "succession")) {
            pc_put(&m, "next", k);
        } else {
            pc_put(&m, "key", k);
            pc_put(&m, "next", pc_key(a, s));
            pc_put(&m, "from", tw_v_uint(pc_below(s, 1000000)));
        }
        c->body = pc_finish(a, &m);
    }
    bool ident = !strcmp(c->kind, "device") || !strcmp(c->kind, "succession") || !strcmp(c->kind, "recovery") ||
                 !strcmp(c->kind, "keyplan");
    if (r < 15 && ident) {
        /* These kinds cannot be deleted: a tombstone is a fault. */
        c->body = tw_v_nil();
        c->intent = PC_BAD;
        PC_FAULT("tombstone of %s", c->kind);
        return;
    }
    if (r < 15) { c->body = tw_v_nil(); c->intent = PC_TOMBSTONE; return; }
    /* A valid succession would move the signer to another key, and its
     * later entries would be refused by the state it makes, not by the
     * record rule: the doors see only broken ones. */
    if (ident && (pc_below(s, 100) < bad_pct || !strcmp(c->kind, "succession"))) {
        c->intent = PC_BAD;
        pc_break_ident(a, s, c);
        return;
    }
    if (ident) return;
    if (pc_below(s, 100) < bad_pct) {
        c->intent = PC_BAD;
        if (names_faults && pc_chance(s, 10)) {
            c->names_fault = true;
            if (pc_chance(s, 50)) { snprintf(c->kind, sizeof c->kind, "Place"); PC_FAULT("kind Place"); }
            else { snprintf(c->slot, sizeof c->slot, "has space"); PC_FAULT("slot with a space"); }
            return;
        }
        pc_break(a, s, c);
    }
}

/*
 * Signs c as tw_entry_sign() does, without its check of the kind and slot
 * syntax: a hostile member can sign anything, and the doors must refuse
 * it.  TW_ETOOBIG past the payload limit (then no door can be offered it).
 */
static inline int pc_sign(tw_buf *out, const uint8_t sk[TW_SECKEY_LEN], const uint8_t netid[TW_NETID_LEN],
                          const pcase *c, uint64_t ts)
{
    tw_buf pl;
    tw_buf_init(&pl);
    tw_kv kv[6] = {
        { tw_v_cstr("author"), tw_v_bin(sk + 32, TW_KEY_LEN) }, { tw_v_cstr("body"), c->body },
        { tw_v_cstr("kind"), tw_v_cstr(c->kind) },             { tw_v_cstr("net"), tw_v_bin(netid, TW_NETID_LEN) },
        { tw_v_cstr("slot"), tw_v_cstr(c->slot) },             { tw_v_cstr("ts"), tw_v_uint(ts) },
    };
    tw_val map = { .type = TW_MAP, .len = 6, .v.map = kv };
    int rc = tw_mp_encode(&pl, &map);
    if (rc == 0 && pl.len > TW_PAYLOAD_MAX) rc = TW_ETOOBIG;
    if (rc == 0) {
        uint8_t msg[TW_ENTRY_CONTEXT_LEN + TW_PAYLOAD_MAX], sig[TW_SIG_LEN];
        memcpy(msg, TW_ENTRY_CONTEXT, TW_ENTRY_CONTEXT_LEN);
        memcpy(msg + TW_ENTRY_CONTEXT_LEN, pl.p, pl.len);
        crypto_sign_detached(sig, NULL, msg, TW_ENTRY_CONTEXT_LEN + pl.len, sk);
        tw_buf_reset(out);
        if (!(rc = tw_mpw_arr(out, 3)) && !(rc = tw_mpw_uint(out, TW_ENTRY_VERSION)) &&
            !(rc = tw_mpw_bin(out, pl.p, pl.len)))
            rc = tw_mpw_bin(out, sig, TW_SIG_LEN);
    }
    tw_buf_free(&pl);
    return rc;
}

#endif
