/* Fixed-order warp and block reductions shared by the kernels in cuda/<op>.cu. Each tree's
 * shape depends on blockDim alone, so an input gives the same bits on every run; do not
 * reorder them (bit-reproducibility and the twin tests rely on it). Device code only.
 * All of them: blockDim.x a multiple of 32, and every lane of a calling warp calls. */
#ifndef LV_CUDA_REDUCE_CUH
#define LV_CUDA_REDUCE_CUH

#define LV_WARP_MASK 0xffffffffu

/* Butterfly sum: every lane ends with the same total (a + b == b + a exactly). */
static __device__ __forceinline__ double lv_warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(LV_WARP_MASK, v, o);
    return v;
}

/* Butterfly maximum with fmax (a NaN lane is passed over, as fmax does). */
static __device__ __forceinline__ double lv_warp_max(double v) {
    for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(LV_WARP_MASK, v, o));
    return v;
}

/* Butterfly maximum of floats by `u > v ? u : v` (the softmax twins' comparison). */
static __device__ __forceinline__ float lv_warp_max_f(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        float u = __shfl_xor_sync(LV_WARP_MASK, v, o);
        v = u > v ? u : v;
    }
    return v;
}

/* Sum over the block, the same value in every thread: butterflies per warp, then every
 * thread adds the warp totals in warp order. All threads call it; red[] holds one double per
 * warp (32 cover 1024 threads). */
static __device__ __forceinline__ double lv_block_sum(double v, double *red) {
    v = lv_warp_sum(v);
    __syncthreads(); /* red[] may still be read by the previous call */
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    double t = 0.0;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) t += red[w];
    return t;
}

/* Tree sum by shuffling down: the total is valid in lane 0 only. */
static __device__ __forceinline__ double lv_warp_sum_down(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(LV_WARP_MASK, v, o);
    return v;
}

/* One block's 32-double reduction scratch, for template kernels. A __shared__ array declared
 * in a function template would lose its section attribute under GCC (a known GCC bug), and
 * the CPU device emulator finds shared memory by that section; a plain function keeps it. */
static __device__ __forceinline__ double *lv_block_scratch(void) {
    __shared__ double scratch[32];
    return scratch;
}

/* Sum over the block, valid in thread 0 only: a down tree per warp, then warp 0's down tree
 * over the warp sums. All threads call it; sh holds 32 doubles and may be reused at once. */
static __device__ __forceinline__ double lv_block_sum0(double v, double *sh) {
    v = lv_warp_sum_down(v);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = threadIdx.x < (blockDim.x >> 5) ? sh[threadIdx.x] : 0.0;
    if (warp == 0) v = lv_warp_sum_down(v);
    __syncthreads(); /* sh may be reused by the next call */
    return v;
}

#endif
