/* Philox4x32-10 against the Random123 known-answer vectors, and the promise that a number
 * depends only on (seed, stream, index), whatever order or path draws it. LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/rng.h"
#include "harness.h"

static void kat(const char *what, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                uint32_t k1, uint32_t e0, uint32_t e1, uint32_t e2, uint32_t e3) {
    uint32_t ctr[4] = {c0, c1, c2, c3}, key[2] = {k0, k1}, out[4];
    lv_philox4x32_10(ctr, key, out);
    if (out[0] == e0 && out[1] == e1 && out[2] == e2 && out[3] == e3)
        lv_test_pass("philox KAT %s", what);
    else
        lv_test_fail("philox KAT %s: got %08x %08x %08x %08x", what, out[0], out[1], out[2], out[3]);
}

int main(void) {
    /* Random123 kat_vectors, philox4x32 10 rounds. */
    kat("zeros", 0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
    kat("ones", 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
        0x41c83b0e, 0xa20bc7c6, 0x6d5451fd);
    kat("pi", 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
        0x94fdcceb, 0x5001e420, 0x24126ea1);

    /* Same (seed, stream, index) on every path: scalar draw, block draw, reverse order. */
    enum { N = 4096 };
    uint32_t *fwd = malloc(N * sizeof *fwd), *blk = malloc(N * sizeof *blk);
    for (uint64_t i = 0; i < N; i++) fwd[i] = lv_rng_u32(42, 7, i);
    for (uint64_t b = N / 4; b-- > 0;) lv_rng_block(42, 7, b, blk + 4 * b);
    int same = 1;
    for (int i = 0; i < N; i++) same &= fwd[N - 1 - i] == lv_rng_u32(42, 7, (uint64_t)(N - 1 - i)) && fwd[i] == blk[i];
    lv_test_true(same, "u32 identical by index, by block and in reverse order");

    /* Streams and seeds are independent: no equal words in the first N. */
    int collide = 0;
    for (uint64_t i = 0; i < N; i++) collide += lv_rng_u32(42, 8, i) == fwd[i] || lv_rng_u32(43, 7, i) == fwd[i];
    lv_test_true(collide <= 1, "different stream or seed gives different words");

    /* Uniform in [0,1) with the right mean; normal with mean 0 and variance 1. */
    double su = 0, sn = 0, sn2 = 0;
    float umin = 1, umax = 0;
    enum { M = 200000 };
    for (uint64_t i = 0; i < M; i++) {
        float u = lv_rng_uniform(1, 0, i);
        umin = fminf(umin, u);
        umax = fmaxf(umax, u);
        su += u;
        float z = lv_rng_normal(1, 1, i);
        sn += z;
        sn2 += (double)z * z;
    }
    lv_test_true(umin >= 0.0f && umax < 1.0f, "uniform stays in [0,1)");
    lv_test_true(fabs(su / M - 0.5) < 0.005, "uniform mean ~ 0.5");
    lv_test_true(fabs(sn / M) < 0.01 && fabs(sn2 / M - 1.0) < 0.02, "normal mean ~ 0, variance ~ 1");
    free(fwd);
    free(blk);
    return lv_test_summary();
}
