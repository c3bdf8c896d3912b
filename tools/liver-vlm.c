/* liver-vlm: the one binary. Dispatches subcommands; each lives in tools/cmd_<name>.c and
 * returns an lv_status the exit code is derived from (0 ok, 1 bad input, 2 bad usage). */
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "tools/commands.h"

static const lv_command commands[] = {
    {"synth", "make phantom multi-phase lesion data: synth --out F.h5 [--per-class N] ...", lv_cmd_synth},
    {"pack", "NIfTI CT + CSV manifest -> data file: pack --manifest M.csv --out F.h5", lv_cmd_pack},
    {"inspect", "validate a data file and print its summary: inspect F.h5", lv_cmd_inspect},
    {"train", "train Liver-VLM or the CNN baseline: train --data F.h5 --out RUN/ [--resume RUN/] ...", lv_cmd_train},
    {"info", "build options, library versions, devices", lv_cmd_info},
    {"eval", "evaluate a checkpoint on a data file: eval --ckpt C.safetensors --data F.h5 --out DIR", lv_cmd_eval},
    {"explain", "Grad-CAM pictures: explain --ckpt C --data F.h5 --index I,J,... --out DIR", lv_cmd_explain},
    {"cv", "cross-validation and k-shot sweeps, both heads: cv --data F.h5 --folds K --out DIR ...", lv_cmd_cv},
    {"bench", "benchmarks: bench ops|data [--device ...] [--size S] [--batch N] [--json]", lv_cmd_bench},
};

static void usage(FILE *out) {
    fprintf(out, "usage: liver-vlm <command> [options]   (liver-vlm <command> --help)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            lv_status s = commands[i].run(argc - 1, argv + 1);
            if (s != LV_OK) fprintf(stderr, "liver-vlm %s: %s\n", argv[1], lv_error_message());
            return lv_status_exit_code(s);
        }
    }
    fprintf(stderr, "liver-vlm: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
