/* Sub-benchmarks of `liver-vlm bench` that live outside tools/cmd_bench.c, one file each
 * (tools/bench_<name>.c). cmd_bench.c only dispatches to them. */
#ifndef LV_BENCH_H
#define LV_BENCH_H

#include "core/status.h"

/* `bench data`: the loader's samples/s on an in-memory dataset. argv[0] = "bench",
 * argv[1] = "data", options from argv[2]. */
lv_status lv_bench_data(int argc, char **argv);

/* `bench train` / `bench eval`: the whole model's training steps or evaluation forwards on
 * one in-memory batch (tools/bench_model.c). Same argv convention. */
lv_status lv_bench_train(int argc, char **argv);
lv_status lv_bench_eval(int argc, char **argv);

/* `bench text`: the BERT text encoder alone, training steps or forwards (tools/bench_text.c). */
lv_status lv_bench_text(int argc, char **argv);

/* The median of v[0..n) (n >= 1; sorts v in place): benchmarks report median step times,
 * which resist the other work a shared machine runs. */
double lv_bench_median(double *v, int n);

#endif
