/* Stands in for the CUDA backend in builds without nvcc: same symbols, honest answers. */
#include "core/backend.h"
#include "cuda/cuda_info.h"

#include <stdio.h>

lv_status lv_cuda_backend_create(lv_backend **out, int device_index) {
    (void)device_index;
    *out = NULL;
    return lv_errorf(LV_ERR_INPUT, "--device cuda: this liver-vlm was built without CUDA "
                                   "(rebuild with nvcc on PATH or -DLV_CUDA=ON)");
}

int lv_cuda_device_count(void) { return 0; }

void lv_cuda_print_info(FILE *out) { fprintf(out, "cuda:      not built (no nvcc at configure time)\n"); }
