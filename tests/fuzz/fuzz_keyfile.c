/*
 * Fuzz target: the identity backup file decoder (proto/keyfile.c).  A file
 * from a lost USB stick is hostile input: decoding must never crash and
 * never accept parameters that would make the reader allocate more than
 * TW_KEYFILE_MEMLIMIT_MAX.  Opening is tried with a fixed key (no Argon2:
 * its cost is what the bounds exist for) and must fail unless the file was
 * sealed with that key.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sodium.h>

#include "twin/err.h"
#include "twin/keyfile.h"
#include "twin/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (sodium_init() < 0) abort();
        ready = 1;
    }
    tw_keyfile kf;
    if (tw_keyfile_decode(&kf, data, size) != 0) return 0;
    if (kf.opslimit < TW_KEYFILE_OPSLIMIT_MIN || kf.opslimit > TW_KEYFILE_OPSLIMIT_MAX ||
        kf.memlimit < TW_KEYFILE_MEMLIMIT_MIN || kf.memlimit > TW_KEYFILE_MEMLIMIT_MAX)
        abort();                      /* decode let out-of-bounds parameters through */
    static const uint8_t key[TW_KEYFILE_KEY_LEN] = { 1, 2, 3 };
    uint8_t seed[TW_KEYFILE_SEED_LEN];
    int rc = tw_keyfile_open(seed, &kf, key);
    if (rc != 0 && rc != TW_EDECRYPT && rc != TW_EKEY) abort();
    sodium_memzero(seed, sizeof seed);
    return 0;
}
