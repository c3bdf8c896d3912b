/* Wall time for measurements and progress lines: the monotonic clock in seconds (never
 * jumps with the system time). One definition for the trainer, eval, cv and the benchmarks. */
#ifndef LV_CLOCK_H
#define LV_CLOCK_H

#include <time.h>

static inline double lv_now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif
