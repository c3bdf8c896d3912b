/* liver-vlm info: what this binary was built with and what it finds at run time (library
 * versions built against and loaded, threads, devices), so a bug report can carry it. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "build_info.h"
#include "core/backend.h"
#include "core/cpu/gemm.h"
#include "cuda/cuda_info.h"
#include "tools/commands.h"

#if LV_HAVE_HDF5
#include <hdf5.h>
#endif
#if LV_HAVE_MPI
#include <mpi.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

static void print_cpu(void) {
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *colon = strchr(line, ':');
                if (colon) {
                    snprintf(model, sizeof model, "%s", colon + 2);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        }
        fclose(f);
    }
    printf("cpu:       %s, %ld logical cores\n", model, sysconf(_SC_NPROCESSORS_ONLN));
}

lv_status lv_cmd_info(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: liver-vlm info\n\nPrints the version, build options, the libraries "
                   "built against and loaded, and the devices found.\n");
            return LV_OK;
        }
        return lv_errorf(LV_ERR_USAGE, "unknown option '%s' (see liver-vlm info --help)", argv[i]);
    }
    printf("liver-vlm: %s (%s build, %s%s)\n", LV_VERSION, LV_BUILD_TYPE, LV_C_COMPILER,
           strcmp(LV_SANITIZE_BUILD, "ON") == 0 ? ", ASan+UBSan" : "");
    printf("build:     cuda=%s mpi=%s hdf5=%s cuda-archs=%s\n", LV_HAVE_CUDA ? "on" : "off",
           LV_HAVE_MPI ? "on" : "off", LV_HAVE_HDF5 ? "on" : "off", LV_HAVE_CUDA ? LV_CUDA_ARCHS : "-");
    print_cpu();
#ifdef _OPENMP
    printf("openmp:    %d (max threads %d)\n", _OPENMP, omp_get_max_threads());
#endif
    printf("cpu gemm:  %s\n", lv_cpu_gemm_library());
#if LV_HAVE_HDF5
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    printf("hdf5:      %u.%u.%u (built %d.%d.%d)\n", maj, min, rel, H5_VERS_MAJOR, H5_VERS_MINOR,
           H5_VERS_RELEASE);
#else
    printf("hdf5:      not built (data files cannot be read; in-memory data only)\n");
#endif
#if LV_HAVE_MPI
    char mpiver[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(mpiver, &len);
    mpiver[strcspn(mpiver, "\n,")] = '\0';
    printf("mpi:       %s (MPI %d.%d)\n", mpiver, MPI_VERSION, MPI_SUBVERSION);
#else
    printf("mpi:       not built (ranks come from SLURM_*/RANK/WORLD_SIZE environment)\n");
#endif
    lv_cuda_print_info(stdout);
    int ndev = lv_cuda_device_count();
    printf("device:    --device auto selects %s\n", ndev > 0 ? "cuda:0" : "cpu");
    return LV_OK;
}
