/* Stands in for the CUDA backend in builds without nvcc: same symbols, honest answers. */
#include "core/backend.h"
#include "cuda/cuda_comm.h"
#include "cuda/cuda_data.h"
#include "cuda/cuda_info.h"

#include <stdio.h>
#include <string.h>

lv_status lv_cuda_backend_create(lv_backend **out, int device_index) {
    (void)device_index;
    *out = NULL;
    return lv_errorf(LV_ERR_INPUT, "--device cuda: this liver-vlm was built without CUDA "
                                   "(rebuild with nvcc on PATH or -DLV_CUDA=ON)");
}

int lv_cuda_device_count(void) { return 0; }

void lv_cuda_print_info(FILE *out) { fprintf(out, "cuda:      not built (no nvcc at configure time)\n"); }

/* NCCL (cuda_comm.h): every entry point refuses the same way; nothing is ever created. */
#define LV_NO_NCCL "--comm nccl: this liver-vlm was built without CUDA, so without NCCL (use --comm mpi)"

int lv_cuda_comm_available(void) { return 0; }

const char *lv_cuda_comm_version(char *buf, size_t cap) {
    snprintf(buf, cap, "none (built without CUDA)");
    return buf;
}

lv_status lv_cuda_device_describe(lv_backend *be, lv_cuda_device_desc *d) {
    (void)be;
    memset(d, 0, sizeof *d);
    return lv_errorf(LV_ERR_USAGE, "device description: this liver-vlm was built without CUDA");
}

lv_status lv_cuda_comm_unique_id(void *id, size_t cap) {
    (void)id;
    (void)cap;
    return lv_errorf(LV_ERR_USAGE, "%s", LV_NO_NCCL);
}

lv_status lv_cuda_comm_create(lv_cuda_comm **out, lv_backend *be, const void *id, int rank, int world,
                              double timeout_s) {
    (void)be;
    (void)id;
    (void)rank;
    (void)world;
    (void)timeout_s;
    *out = NULL;
    return lv_errorf(LV_ERR_USAGE, "%s", LV_NO_NCCL);
}

lv_status lv_cuda_comm_allreduce_mean(lv_cuda_comm *c, float *dev, size_t n, const char *what) {
    (void)c;
    (void)dev;
    (void)n;
    (void)what;
    return lv_errorf(LV_ERR_USAGE, "%s", LV_NO_NCCL);
}

lv_status lv_cuda_comm_bcast(lv_cuda_comm *c, void *dev, size_t bytes, const char *what) {
    (void)c;
    (void)dev;
    (void)bytes;
    (void)what;
    return lv_errorf(LV_ERR_USAGE, "%s", LV_NO_NCCL);
}

lv_status lv_cuda_comm_wait(lv_cuda_comm *c) {
    (void)c;
    return lv_errorf(LV_ERR_USAGE, "%s", LV_NO_NCCL);
}

lv_status lv_cuda_comm_check(lv_cuda_comm *c, int *done) {
    (void)c;
    if (done) *done = 0;
    return lv_errorf(LV_ERR_USAGE, "%s", LV_NO_NCCL);
}

lv_status lv_cuda_comm_synchronize(lv_cuda_comm *c) {
    (void)c;
    return lv_errorf(LV_ERR_USAGE, "%s", LV_NO_NCCL);
}

void lv_cuda_comm_destroy(lv_cuda_comm *c) { (void)c; }

void lv_cuda_comm_abort(lv_cuda_comm *c) { (void)c; }

/* On-device data (cuda_data.h): never reached without a CUDA backend, but honest if called. */
lv_status lv_cuda_augment_render(lv_backend *be, const lv_cuda_raw *raw, const int64_t *indices, const int64_t *keys,
                                 int n, const lv_preproc_plan *plan, const lv_augment_opts *aug, int s, uint64_t seed,
                                 uint64_t epoch, float *x, int32_t *y) {
    (void)be, (void)raw, (void)indices, (void)keys, (void)n, (void)plan, (void)aug, (void)s, (void)seed, (void)epoch;
    (void)x, (void)y;
    return lv_errorf(LV_ERR_RUNTIME, "CUDA augment: this liver-vlm was built without CUDA");
}

lv_status lv_cuda_mem_info(lv_backend *be, size_t *free_bytes, size_t *total_bytes) {
    (void)be;
    if (free_bytes) *free_bytes = 0;
    if (total_bytes) *total_bytes = 0;
    return lv_errorf(LV_ERR_RUNTIME, "device memory query: this liver-vlm was built without CUDA");
}
