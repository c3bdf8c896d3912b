/* CPU backend internals shared by the CPU op files: scratch memory and thread count.
 * Not for encoders (they see only core/backend.h). */
#ifndef LV_CPU_BACKEND_H
#define LV_CPU_BACKEND_H

#include <stddef.h>

#include "../backend.h"

/* Scratch buffer `slot` (0..LV_CPU_SCRATCH_SLOTS-1) of at least `floats` floats, owned by the
 * backend and reused across calls (im2col columns, attention temporaries). Contents are
 * undefined on return. Returns NULL (and records a backend error) when memory runs out. */
#define LV_CPU_SCRATCH_SLOTS 4
float *lv_cpu_scratch(lv_backend *be, int slot, size_t floats);

#endif
