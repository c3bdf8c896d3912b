/* Build- and run-time facts about the CUDA side, for `liver-vlm info`. */
#ifndef LV_CUDA_INFO_H
#define LV_CUDA_INFO_H

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Prints CUDA runtime/driver, cuBLAS, cuDNN and NCCL versions (built against and loaded)
 * and the visible devices, one fact per line. */
void lv_cuda_print_info(FILE *out);

#ifdef __cplusplus
}
#endif
#endif
