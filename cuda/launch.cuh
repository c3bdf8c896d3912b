/* One spelling for every kernel launch, so the same cuda/ sources build for a real card
 * (nvcc: the triple-chevron launch) and for the CPU device emulator (emu/: a queued launch
 * whose arguments are checked). The kernel comes last because template arguments carry
 * commas the preprocessor would split:
 *     LV_LAUNCH(grid, block, shared_bytes, stream, kernel<4, unsigned>)(args...);
 * LV_DYNAMIC_SHARED(T, name) declares the launch's dynamic shared memory as T name[]. */
#ifndef LV_CUDA_LAUNCH_CUH
#define LV_CUDA_LAUNCH_CUH

#ifdef LV_CUDA_EMU
/* emu/include/cuda_runtime.h defines both. */
#else
#define LV_LAUNCH(grid, block, shmem, stream, ...) __VA_ARGS__<<<grid, block, shmem, stream>>>
#define LV_DYNAMIC_SHARED(T, name) extern __shared__ T name[]
#endif

#endif
