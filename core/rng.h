/* Counter-based RNG: Philox4x32-10 (Salmon et al., SC'11, as in Random123 and cuRAND).
 * A number is a pure function of (seed, stream, index), so CPU loops, CUDA threads and a
 * resumed run all draw the same value for the same sample without sharing state.
 * Header-only and __host__ __device__ so cuda/ compiles the very same code. */
#ifndef LV_RNG_H
#define LV_RNG_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define LV_HD __host__ __device__ __forceinline__
#else
#define LV_HD static inline
#endif

#define LV_PHILOX_M0 0xD2511F53u
#define LV_PHILOX_M1 0xCD9E8D57u
#define LV_PHILOX_W0 0x9E3779B9u
#define LV_PHILOX_W1 0xBB67AE85u

/* out = Philox4x32-10(ctr, key). */
LV_HD void lv_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)LV_PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)LV_PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += LV_PHILOX_W0;
        k1 += LV_PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* Four 32-bit words for block `block` of stream `stream` under `seed`. Streams separate
 * independent uses (augmentation, init, dropout, shuffles) of one seed. */
LV_HD void lv_rng_block(uint64_t seed, uint64_t stream, uint64_t block, uint32_t out[4]) {
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream,
                       (uint32_t)(stream >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    lv_philox4x32_10(ctr, key, out);
}

/* The index-th 32-bit word of (seed, stream): lane index%4 of block index/4. */
LV_HD uint32_t lv_rng_u32(uint64_t seed, uint64_t stream, uint64_t index) {
    uint32_t out[4];
    lv_rng_block(seed, stream, index >> 2, out);
    return out[index & 3];
}

/* Uniform float in [0, 1) with 24 random bits (exactly representable, never 1.0f). */
LV_HD float lv_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    return (float)(lv_rng_u32(seed, stream, index) >> 8) * (1.0f / 16777216.0f);
}

/* Standard normal from block `index` (Box-Muller on its first two words; the uniform for the
 * log is shifted into (0,1] so log never sees 0). Device and host libm may differ in the
 * last ulp; tests compare with a tolerance, bit-equality is promised only for u32/uniform. */
LV_HD float lv_rng_normal(uint64_t seed, uint64_t stream, uint64_t index) {
    uint32_t out[4];
    lv_rng_block(seed, stream, index, out);
    float u1 = ((float)(out[0] >> 8) + 1.0f) * (1.0f / 16777216.0f);
    float u2 = (float)(out[1] >> 8) * (1.0f / 16777216.0f);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.283185307179586f * u2);
}

#endif
