/*
 * Fuzz target for control-socket framing: the first 4 bytes go to
 * tw_ctl_frame_len, the rest to tw_ctl_decode.  A decoded message must frame
 * again and decode to an equal message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twin/ctl.h"
#include "twin/err.h"
#include "twin/limits.h"
#include "twin/mp.h"

#define FUZZ_ARENA_CAP (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < TW_CTL_HDR_LEN) return 0;
    uint32_t n = 0;
    int rc = tw_ctl_frame_len(data, &n);
    if (rc == 0 && (n == 0 || n > TW_CTL_MSG_MAX)) abort();
    if (rc != 0 && rc != TW_EINVAL && rc != TW_ETOOBIG) abort();

    tw_arena a;
    tw_val msg;
    const char *why = NULL;
    tw_arena_init(&a, FUZZ_ARENA_CAP);
    rc = tw_ctl_decode(data + TW_CTL_HDR_LEN, size - TW_CTL_HDR_LEN, &a, &msg, &why);
    if (rc == 0) {
        if (msg.type != TW_MAP) abort();
        const tw_val *v = tw_v_get(&msg, "v");
        if (!v || v->type != TW_UINT || v->v.u != TW_CTL_VERSION) abort();
        (void)tw_v_get(&msg, "op");
        (void)tw_v_get(&msg, "args");
        tw_buf b;
        tw_buf_init(&b);
        int fr = tw_ctl_frame(&b, &msg);
        if (fr == 0) {
            uint32_t m = 0;
            if (tw_ctl_frame_len(b.p, &m) != 0 || m != b.len - TW_CTL_HDR_LEN) abort();
            tw_arena a2;
            tw_val back;
            tw_arena_init(&a2, FUZZ_ARENA_CAP * 2);
            int rc2 = tw_ctl_decode(b.p + TW_CTL_HDR_LEN, m, &a2, &back, NULL);
            if (rc2 != 0 && rc2 != TW_ETOOBIG) abort();
            if (rc2 == 0 && !tw_v_equal(&msg, &back)) abort();
            tw_arena_free(&a2);
        } else if (fr != TW_EINVAL) {
            abort();   /* only keys that collapse to one spelling may fail */
        } else {
            /* the buffer is left as it was */
            if (b.len != 0) abort();
        }
        tw_buf_free(&b);
    } else if (!why) {
        abort();
    }
    tw_arena_free(&a);
    return 0;
}
