/*
 * mkvectors: writes tests/vectors/entries.json, the reference entries that
 * tests/unit/test_entry.c checks byte for byte and proto/PROTOCOL.md's
 * worked example shows.  Every body is a valid record of its kind
 * (test_entry.c validates them too): a spec's example must be a record
 * twind accepts.  Run: build/tools/mkvectors > tests/vectors/entries.json
 */
#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "twin/entry.h"
#include "twin/keytext.h"
#include "twin/mp.h"
#include "twin/schema.h"

static void hex(const char *name, const uint8_t *p, size_t n, int last)
{
    printf("      \"%s\": \"", name);
    for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
    printf("\"%s\n", last ? "" : ",");
}

static int vector(const char *name, const char *kind, const char *slot, uint64_t ts, const tw_val *body, int last)
{
    uint8_t seed[32], pk[32], sk[64], netkey[32], netid[32], id[32];
    char kt[TW_KEYTEXT_LEN + 1], err[256];
    memset(seed, 1, sizeof seed);
    memset(netkey, 2, sizeof netkey);
    crypto_sign_seed_keypair(pk, sk, seed);
    tw_netid_derive(netid, netkey);
    tw_keytext_encode(kt, TW_KEYTEXT_PREFIX, pk);
    if (tw_schema_check_record(kind, strlen(kind), slot, strlen(slot), body, 0, err, sizeof err)) {
        fprintf(stderr, "mkvectors: %s is not a valid record: %s\n", name, err);
        return 1;
    }
    tw_buf b, env;
    tw_buf_init(&b);
    tw_buf_init(&env);
    tw_arena a;
    tw_arena_init(&a, 0);
    tw_entry e;
    if (tw_mp_encode(&b, body) || tw_entry_sign(&env, sk, netid, kind, strlen(kind), slot, strlen(slot), ts, body) ||
        tw_entry_parse(env.p, env.len, &a, &e, NULL))
        return 1;
    crypto_generichash(id, sizeof id, env.p, env.len, NULL, 0);
    printf("    {\n      \"name\": \"%s\",\n", name);
    hex("seed", seed, 32, 0);
    hex("public_key", pk, 32, 0);
    printf("      \"public_key_text\": \"%s\",\n", kt);
    hex("network_key", netkey, 32, 0);
    hex("network_id", netid, 32, 0);
    printf("      \"kind\": \"%s\",\n      \"slot\": \"%s\",\n      \"ts\": %llu,\n", kind, slot, (unsigned long long)ts);
    hex("body", b.p, b.len, 0);
    hex("payload", e.payload, e.payload_len, 0);
    hex("signature", e.sig, 64, 0);
    hex("envelope", env.p, env.len, 0);
    hex("id", id, 32, 1);
    printf("    }%s\n", last ? "" : ",");
    tw_buf_free(&b);
    tw_buf_free(&env);
    tw_arena_free(&a);
    return 0;
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    tw_kv g[3] = {
        { tw_v_cstr("name"), tw_v_cstr("Exampleton Twinning Association") },
        { tw_v_cstr("group_kind"), tw_v_cstr("twinning_association") },
        { tw_v_cstr("nation"), tw_v_cstr("england") },
    };
    tw_val group = { .type = TW_MAP, .len = 3, .v.map = g }, nil = tw_v_nil();
    tw_val others[2] = { tw_v_cstr("Bayt Lahm"), tw_v_cstr("Beit Lahem") };
    tw_kv p[7] = {
        { tw_v_cstr("name_en"), tw_v_cstr("Bethlehem") },
        { tw_v_cstr("name_ar"), tw_v_cstr("\xd8\xa8\xd9\x8a\xd8\xaa \xd9\x84\xd8\xad\xd9\x85") },
        { tw_v_cstr("other_names"), { .type = TW_ARR, .len = 2, .v.arr = others } },
        { tw_v_cstr("place_kind"), tw_v_cstr("city") },
        { tw_v_cstr("country"), tw_v_cstr("PS") },
        { tw_v_cstr("subdivision"), tw_v_cstr("PS-BTH") },
        { tw_v_cstr("area"), tw_v_cstr("west_bank") },
    };
    tw_val place = { .type = TW_MAP, .len = 7, .v.map = p };
    printf("{\n  \"description\": \"Reference entries for tests/unit/test_entry.c, checked byte for byte, written by "
           "tests/tools/mkvectors.c. Made with libsodium crypto_sign_seed_keypair(seed) where seed is 32 bytes of 0x01, a "
           "network key of 32 bytes of 0x02, network_id = tw_netid_derive(network_key) = BLAKE2b-256 keyed with the network "
           "key over the ASCII bytes 'twin-network-id-v1', and tw_entry_sign(secret key, network_id, kind, slot, ts, body). "
           "body is the canonical msgpack of the body map (c0 = nil, a tombstone); every body is a valid record of its kind. "
           "Ed25519 is deterministic, so signing again gives the same bytes. id = BLAKE2b-256(envelope). All binary values "
           "are lowercase hex.\",\n  \"vectors\": [\n");
    if (vector("group", "group", "main", 1700000000000ull, &group, 0) ||
        vector("group-tombstone", "group", "main", 1700000000001ull, &nil, 0) ||
        vector("place", "place", "bethlehem", 1700000123456ull, &place, 1))
        return 1;
    printf("  ]\n}\n");
    return 0;
}
