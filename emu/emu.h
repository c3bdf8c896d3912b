/* The device emulator's inside: device memory bookkeeping, the stream queues every twin
 * library (cuBLAS, cuDNN, NCCL) enqueues on, fatal reports, settings read from the
 * environment. Shared by the emulator sources only; cuda/ sees cuda_runtime.h and the library headers. */
#ifndef LV_EMU_EMU_H
#define LV_EMU_EMU_H

#include <stdint.h>
#include <string.h>

#include <functional>
#include <string>

#include "cuda_runtime.h"

namespace lv_emu {

/* ---- settings (LIVER_VLM_EMU_*) ---- */
enum schedule_kind { SCHED_FORWARD, SCHED_REVERSE, SCHED_RANDOM };
struct settings {
    schedule_kind schedule;
    unsigned long long seed;
    int sm_count;
    const char *coverage_file; /* NULL: no coverage lines */
};
const settings &config(void);
/* A reproducible draw for the random schedule (splitmix64 over the seed). */
unsigned long long next_random(void);

/* ---- reports ---- */
/* Prints "liver-vlm CUDA emulator: <what>" (with the running operation, if any) and aborts:
 * for faults a real device would turn into a sticky launch failure. */
[[noreturn]] void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same words on stderr without aborting: for API misuse the runtime answers with an error. */
void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runtime "last error": launch errors are kept here until cudaGetLastError reads them. */
cudaError_t set_last_error(cudaError_t e);

/* ---- device memory ---- */
enum mem_kind { MEM_HOST, MEM_DEVICE, MEM_PINNED };
/* Where [p, p + bytes) lives: MEM_DEVICE only when inside one live device allocation,
 * MEM_PINNED inside one pinned host allocation, else MEM_HOST. *bad is set when p is in
 * device memory but the range is not (past the end, freed, in a guard page). */
mem_kind classify(const void *p, size_t bytes, bool *bad);
/* Describes p for messages: "device allocation of 4096 bytes at 0x..+16". */
std::string describe(const void *p);
/* Every library twin checks its device operands with this: false (after complain) when
 * [p, p + bytes) is not inside live device memory. */
bool device_range_ok(const void *p, size_t bytes, const char *api, const char *operand);

/* ---- streams ---- */
/* Queues `op` on `stream` (NULL: the legacy default stream) with the implicit ordering of
 * the legacy stream; it runs when something waits for it, never earlier. `what` names it in
 * reports and coverage. */
void enqueue(cudaStream_t stream, const char *what, std::function<void()> op);
/* Runs everything queued on `stream` so far (and what it depends on). */
void drain(cudaStream_t stream);
void drain_all(void);
/* The operation running now ("kernel bn_apply<4, unsigned> launched at cuda/x.cu:12"), or NULL. */
const char *current_operation(void);

/* ---- kernels (exec.cc) ---- */
void run_kernel(const launch_info &info, void *args, void (*body)(void *));
/* Kernel coverage: one count per kernel name (template arguments dropped). */
void count_launch(const char *kernel);

/* Round to nearest even at TF32's 10 explicit mantissa bits, as the cuBLAS and cuDNN twins
 * feed tensor-core math; NaN and Inf pass. */
inline float to_tf32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u) return x;
    u += 0xfffu + ((u >> 13) & 1u);
    u &= 0xffffe000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

} // namespace lv_emu

#endif
