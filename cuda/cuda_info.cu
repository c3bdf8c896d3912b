/* `liver-vlm info` facts from the CUDA side: each library's version as built against and
 * as loaded (a mismatch explains many field failures), the driver, and every device.
 * Prints only; must work, and never fail, on a machine without a driver or a GPU. */
#include <stdio.h>

#include "cuda/cuda_check.h"
#include "cuda/cuda_info.h"

#define LABEL "%-11s"

/* CUDART_VERSION and cudaRuntime/DriverGetVersion encode 1000 * major + 10 * minor. */
static void print_cuda_version(FILE *out, const char *what, int loaded, int built) {
    fprintf(out, LABEL "%s %d.%d", "cuda:", what, loaded / 1000, (loaded % 1000) / 10);
    if (built > 0) fprintf(out, " (built %d.%d)", built / 1000, (built % 1000) / 10);
    fputc('\n', out);
}

static void print_devices(FILE *out) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        (void)cudaGetLastError();
        fprintf(out, LABEL "no devices (cudaGetDeviceCount: %s)\n", "cuda:",
                e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return;
    }
    for (int i = 0; i < n; i++) {
        char label[16];
        snprintf(label, sizeof label, "gpu %d:", i);
        cudaDeviceProp p;
        e = cudaGetDeviceProperties(&p, i);
        if (e != cudaSuccess) {
            (void)cudaGetLastError();
            fprintf(out, LABEL "unreadable (cudaGetDeviceProperties: %s)\n", label,
                    cudaGetErrorString(e));
            continue;
        }
        fprintf(out, LABEL "%s, compute %d.%d, %.1f GiB, %d SMs\n", label, p.name, p.major, p.minor,
                (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), p.multiProcessorCount);
    }
}

extern "C" void lv_cuda_print_info(FILE *out) {
    int rt = 0, drv = 0;
    if (cudaRuntimeGetVersion(&rt) != cudaSuccess) rt = 0;
    print_cuda_version(out, "runtime", rt, CUDART_VERSION);
    /* Without a driver the call succeeds and reports 0. */
    if (cudaDriverGetVersion(&drv) != cudaSuccess || drv == 0) {
        (void)cudaGetLastError();
        fprintf(out, LABEL "no driver\n", "cuda:");
    } else {
        print_cuda_version(out, "driver", drv, 0);
    }

    int bmaj = -1, bmin = -1, bpat = -1;
    (void)cublasGetProperty(MAJOR_VERSION, &bmaj);
    (void)cublasGetProperty(MINOR_VERSION, &bmin);
    (void)cublasGetProperty(PATCH_LEVEL, &bpat);
    fprintf(out, LABEL "%d.%d.%d (built %d.%d.%d)\n", "cublas:", bmaj, bmin, bpat, CUBLAS_VER_MAJOR,
            CUBLAS_VER_MINOR, CUBLAS_VER_PATCH);

    /* cuDNN 9 and NCCL 2 (since 2.9) both encode 10000 * major + 100 * minor + patch. */
    size_t dnn = cudnnGetVersion();
    fprintf(out, LABEL "%zu.%zu.%zu (built %d.%d.%d)\n", "cudnn:", dnn / 10000, (dnn % 10000) / 100,
            dnn % 100, CUDNN_MAJOR, CUDNN_MINOR, CUDNN_PATCHLEVEL);

    int nccl = 0;
    if (ncclGetVersion(&nccl) == ncclSuccess)
        fprintf(out, LABEL "%d.%d.%d (built %d.%d.%d)\n", "nccl:", nccl / 10000, (nccl % 10000) / 100,
                nccl % 100, NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH);
    else
        fprintf(out, LABEL "unknown (built %d.%d.%d)\n", "nccl:", NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH);

    print_devices(out);
}
