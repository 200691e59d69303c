/*
 * Fuzz target: a Noise_XXpsk0 responder with fixed keys reads what an
 * attacker sends.  The input is a sequence of frames, each a 2-byte
 * big-endian length and that many bytes (a short last frame takes what is
 * left).  Frame 1 is handshake message 1; if it is accepted the responder
 * writes message 2, frame 2 is read as message 3, and once the handshake is
 * complete every further frame is decrypted as a transport message.
 *
 * The keys are fixed so that a seed holding a genuine transcript from the
 * matching initiator (FUZZ_HS_* below) reaches the deep states.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "twin/limits.h"
#include "twin/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_HS_FRAMES_MAX 64u   /* frames looked at in one input */

static const char FUZZ_HS_PROTOCOL[] = "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b";
static const char FUZZ_HS_PROLOGUE[] = "twin/1";
#define FUZZ_HS_PSK_BYTE    0x4eu   /* network key: 32 bytes of this */
#define FUZZ_HS_I_S_BYTE    0x49u   /* initiator static private key */
#define FUZZ_HS_I_E_BYTE    0x65u   /* initiator ephemeral private key */
#define FUZZ_HS_R_S_BYTE    0x52u   /* responder static private key */
#define FUZZ_HS_R_E_BYTE    0x72u   /* responder ephemeral private key */

static uint8_t out_buf[TW_FRAME_MAX], pl_buf[TW_FRAME_MAX];

static int next_frame(const uint8_t **p, size_t *left, const uint8_t **frame, size_t *flen)
{
    size_t n;

    if (*left < 2) return 0;
    n = ((size_t)(*p)[0] << 8) | (*p)[1];
    *p += 2;
    *left -= 2;
    if (n > *left) n = *left;
    *frame = *p;
    *flen = n;
    *p += n;
    *left -= n;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    uint8_t psk[32], s[32], e[32], h[TW_NOISE_HASHLEN], rs[TW_NOISE_DHLEN];
    struct tw_noise_params p;
    tw_noise_hs *hs = NULL;
    tw_noise_cs *tx = NULL, *rx = NULL;
    const uint8_t *frame;
    size_t flen, n;
    unsigned k;

    if (!ready) {
        if (sodium_init() < 0) return 0;
        ready = 1;
    }
    memset(psk, FUZZ_HS_PSK_BYTE, sizeof psk);
    memset(s, FUZZ_HS_R_S_BYTE, sizeof s);
    memset(e, FUZZ_HS_R_E_BYTE, sizeof e);
    memset(&p, 0, sizeof p);
    p.protocol = FUZZ_HS_PROTOCOL;
    p.initiator = 0;
    p.prologue = (const uint8_t *)FUZZ_HS_PROLOGUE;
    p.prologue_len = sizeof FUZZ_HS_PROLOGUE - 1;
    p.s_priv = s;
    p.psks = psk;
    p.psk_count = 1;
    p.e_priv = e;
    if (tw_noise_hs_new(&hs, &p) != 0) return 0;

    for (k = 0; k < FUZZ_HS_FRAMES_MAX && next_frame(&data, &size, &frame, &flen); k++) {
        if (!tw_noise_hs_complete(hs)) {
            if (tw_noise_hs_read(hs, frame, flen, pl_buf, sizeof pl_buf, &n) != 0) break;
            if (tw_noise_hs_my_turn(hs) &&
                tw_noise_hs_write(hs, (const uint8_t *)"hello", 5, out_buf, sizeof out_buf, &n) != 0)
                break;
            if (tw_noise_hs_complete(hs)) {
                if (tw_noise_hs_handshake_hash(hs, h) != 0 ||
                    tw_noise_hs_remote_static(hs, rs) != 0 ||
                    tw_noise_hs_split(hs, &tx, &rx) != 0)
                    break;
            }
        } else if (tw_noise_cs_decrypt(rx, frame, flen, pl_buf, sizeof pl_buf, &n) != 0) {
            break;
        }
    }
    tw_noise_cs_free(tx);
    tw_noise_cs_free(rx);
    tw_noise_hs_free(hs);
    return 0;
}
