/* liver-vlm cv: the sweep's own options (--folds, --head, --shots, --seeds, ...) and every
 * training setting of `liver-vlm train` (flags and --config, passed to each run), the data
 * file opened here, then the sweep (train/cv.c). Parses and reports only. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "data/h5_dataset.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "train/config.h"
#include "train/cv.h"

static void cv_usage(FILE *f) {
    fprintf(f,
            "usage: liver-vlm cv --data F.h5 --out DIR [--folds K] [--head vlm,linear] [--shots 5,10,20,all]\n"
            "                    [--seeds 1,2,3] [training settings...]\n"
            "\n"
            "Patient-level K-fold cross-validation and k-shot runs over seeds, both heads side by side.\n"
            "Each run (head, shots, seed, fold) trains on the other K-1 folds' patients - all their\n"
            "lesions, or k labelled lesions per class drawn with the run's seed (the 5-shot set lies\n"
            "inside the 10-shot set) - for --epochs, with no validation split, and tests its final\n"
            "model on the held-out fold. Writes DIR/runs/<head>_<shots>_s<seed>_f<fold>/ (the training\n"
            "run, predictions.csv, metrics.json), DIR/table.md and DIR/table.csv (mean and sample std\n"
            "over folds x seeds per head and shots), DIR/cv.json (every run) and DIR/cv_config.json.\n"
            "Running the same command again skips finished runs and redoes or resumes unfinished\n"
            "ones. One process: not for mpirun (use --device cuda for a GPU). See docs/experiments.md.\n"
            "\n"
            "Sweep:\n"
            "  --data F.h5          data file (required)\n"
            "  --out DIR            sweep directory (required)\n"
            "  --folds K            folds, 2..number of patients                       [5]\n"
            "  --fold-seed N        seed that deals patients to folds (fixed over --seeds) [1]\n"
            "  --head LIST          vlm, linear or both, comma-separated             [vlm,linear]\n"
            "  --shots LIST         labelled lesions per class, or all               [5,10,20,all]\n"
            "  --seeds LIST         training seeds (init, order, augmentation, shots)  [1,2,3]\n"
            "  --force              run into a DIR that holds a different sweep (runs whose\n"
            "                       settings changed are redone, the others reused)\n"
            "  --verbose            the trainer's progress lines for every run\n"
            "  --help               this text\n"
            "\n"
            "Training settings (as liver-vlm train; --config C.json too; the same for every run;\n"
            "--seed, --head, --shots, --val, --val-fraction, --resume and --stop-after are the\n"
            "sweep's to set and are refused):\n");
    lv_train_config_print_help(f);
}

/* mpirun/srun/torchrun would start the whole sweep once per process, each writing DIR. */
static lv_status refuse_multiprocess(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "WORLD_SIZE", "SLURM_NTASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (!v || (i == 3 && !getenv("SLURM_STEP_ID"))) continue;
        long n = strtol(v, NULL, 10);
        if (n > 1)
            return lv_errorf(LV_ERR_USAGE, "cv runs its sweep in one process, but %s=%s says this is one of %ld "
                                           "processes; run it without mpirun/srun/torchrun (--device cuda uses one "
                                           "GPU)", vars[i], v, n);
    }
    return LV_OK;
}

typedef struct cv_cli {
    const char *out;
    int force, verbose, help;
    char **rest; /* argv for the training-settings parser (rest[0] = "cv") */
    int n_rest;
} cv_cli;

static const char *const forbidden[][2] = {
    {"--seed", "each run takes its seed from --seeds"},
    {"--val", "cv tests every run on its held-out fold and uses no validation data"},
    {"--val-fraction", "cv trains on all of the training folds and tests the final model (no validation split)"},
    {"--resume", "run the same cv command again to continue an interrupted sweep"},
    {"--stop-after", "run the same cv command again to continue an interrupted sweep"},
};

static lv_status parse_cv(int argc, char **argv, lv_cv_sweep *s, cv_cli *c) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            c->help = 1;
            return LV_OK;
        }
        if (!strcmp(a, "--force") || !strcmp(a, "--verbose")) {
            *(a[2] == 'f' ? &c->force : &c->verbose) = 1;
            continue;
        }
        for (size_t k = 0; k < sizeof forbidden / sizeof forbidden[0]; k++)
            LV_CHECK(strcmp(a, forbidden[k][0]), LV_ERR_USAGE, "%s is not a cv option: %s (see liver-vlm cv --help)",
                     a, forbidden[k][1]);
        if (!strcmp(a, "--out")) {
            LV_CHECK(v && v[0], LV_ERR_USAGE, "--out needs a value (see liver-vlm cv --help)");
            c->out = v;
        } else if (!strcmp(a, "--folds")) {
            LV_TRY(lv_arg_int(a, v, 2, 1000000, &s->folds));
        } else if (!strcmp(a, "--fold-seed")) {
            LV_CHECK(v, LV_ERR_USAGE, "--fold-seed needs a value (see liver-vlm cv --help)");
            char *end = NULL;
            unsigned long long u = strtoull(v, &end, 10);
            LV_CHECK(end != v && *end == '\0' && v[0] != '-' && (double)u <= LV_TRAIN_SEED_MAX, LV_ERR_USAGE,
                     "--fold-seed: expected an integer in 0..%.0f, got '%s'", LV_TRAIN_SEED_MAX, v);
            s->fold_seed = u;
        } else if (!strcmp(a, "--head")) {
            LV_TRY(lv_cv_parse_heads(s, a, v));
        } else if (!strcmp(a, "--shots")) {
            LV_TRY(lv_cv_parse_shots(s, a, v));
        } else if (!strcmp(a, "--seeds")) {
            LV_TRY(lv_cv_parse_seeds(s, a, v));
        } else {
            /* A training setting: it and its value (if any) go to the train parser, which
             * names unknown flags and bad values itself. */
            c->rest[c->n_rest++] = argv[i];
            continue;
        }
        i++;
    }
    return LV_OK;
}

/* Settings: defaults < --config < flags, as `train` layers them; the keys each run sets
 * are taken out of a --config file with a warning (the same file may drive `train`). */
static lv_status resolve_train(lv_cv_sweep *s, cv_cli *c) {
    lv_train_config req, file;
    lv_train_config_default(&req);
    lv_train_config_default(&file);
    lv_train_keyset cli_set = 0, file_set = 0;
    lv_train_cli tcli;
    memset(&tcli, 0, sizeof tcli);
    lv_status st = lv_train_config_parse_args(&req, &cli_set, &tcli, c->n_rest, c->rest);
    if (st == LV_OK && tcli.config_path) st = lv_train_config_load_file(&file, tcli.config_path, &file_set);
    static const char *const per_run[] = {"out", "head", "seed", "shots", "val", "val_fraction"};
    for (size_t i = 0; st == LV_OK && i < sizeof per_run / sizeof per_run[0]; i++) {
        int k = lv_train_config_key_index(per_run[i]);
        lv_train_keyset bit = (lv_train_keyset)1 << k;
        if (file_set & bit) {
            LV_WARN("cv: %s: key '%s' is ignored (the sweep sets it for each run)", tcli.config_path, per_run[i]);
            file_set &= ~bit;
        }
    }
    if (st == LV_OK) st = lv_train_config_overlay(&s->train, &file, file_set);
    if (st == LV_OK) st = lv_train_config_overlay(&s->train, &req, cli_set);
    lv_train_config_free(&req);
    lv_train_config_free(&file);
    LV_TRY(st);
    LV_CHECK(s->train.data, LV_ERR_USAGE, "--data is required (see liver-vlm cv --help)");
    LV_CHECK(c->out, LV_ERR_USAGE, "--out is required (see liver-vlm cv --help)");
    /* The table scores lesion classes; pretrain with train --objective, then --init-image. */
    LV_CHECK(s->train.objective == LV_TRAIN_OBJECTIVE_CLASSIFY, LV_ERR_USAGE,
             "--objective %s is a pretraining objective; cv scores lesion classification: pretrain with "
             "liver-vlm train --objective ... and pass its model as --init-image",
             s->train.objective == LV_TRAIN_OBJECTIVE_PHASE_SHUFFLE ? "phase-shuffle" : "clip");
    char abs[PATH_MAX];
    const char *data = realpath(s->train.data, abs) ? abs : s->train.data;
    char *d = strdup(data), *o = strdup(c->out);
    free(s->train.data);
    free(s->train.out);
    s->train.data = d;
    s->train.out = o;
    LV_CHECK(d && o, LV_ERR_RUNTIME, "cv: out of memory");
    return lv_train_config_check(&s->train);
}

lv_status lv_cmd_cv(int argc, char **argv) {
    lv_cv_sweep s;
    lv_cv_sweep_default(&s);
    cv_cli c;
    memset(&c, 0, sizeof c);
    c.rest = calloc((size_t)argc + 1, sizeof *c.rest);
    if (!c.rest) {
        lv_cv_sweep_free(&s);
        return lv_errorf(LV_ERR_RUNTIME, "cv: out of memory");
    }
    c.rest[c.n_rest++] = argv[0];
    lv_status st = parse_cv(argc, argv, &s, &c);
    if (st == LV_OK && c.help) {
        cv_usage(stdout);
        free(c.rest);
        lv_cv_sweep_free(&s);
        return LV_OK;
    }
    if (st == LV_OK) st = resolve_train(&s, &c);
    if (st == LV_OK) st = refuse_multiprocess();
    lv_dataset ds;
    lv_dataset_init(&ds);
    if (st == LV_OK && !lv_h5_available())
        st = lv_errorf(LV_ERR_INPUT, "--data %s: this liver-vlm was built without HDF5 and cannot read data files",
                       s.train.data);
    if (st == LV_OK) st = lv_h5_read(&ds, s.train.data, NULL);
    lv_cv_result *res = NULL;
    if (st == LV_OK) {
        lv_cv_env env;
        lv_cv_env_default(&env);
        env.force = c.force;
        env.verbose = c.verbose;
        LV_INFO("cv: %s, %" PRId64 " samples, %d patients; %" PRId64 " runs (%d folds x %d shots x %d seeds x %d "
                "heads) into %s", s.train.data, ds.n, ds.n_patients, lv_cv_run_count(&s), s.folds, s.n_shots,
                s.n_seeds, s.n_heads, s.train.out);
        st = lv_cv_run(&s, &ds, &env, &res);
    }
    if (st == LV_OK) {
        int64_t reused = 0, n = lv_cv_run_count(&s);
        for (int64_t i = 0; i < n; i++) reused += res[i].reused;
        printf("cv: %" PRId64 " runs (%" PRId64 " run now, %" PRId64 " reused); table: %s/table.md\n", n, n - reused,
               reused, s.train.out);
    }
    free(res);
    lv_dataset_free(&ds);
    free(c.rest);
    lv_cv_sweep_free(&s);
    return st;
}
