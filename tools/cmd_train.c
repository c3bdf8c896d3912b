/* liver-vlm train: settings from flags, --config and (on --resume) the run's config.json
 * (train/config.c), the data files opened here, then the trainer (train/trainer.c). Parses
 * and reports only; the loop, the checkpoints and the logs live in train/. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "data/h5_dataset.h"
#include "tools/commands.h"
#include "train/dist.h"
#include "train/config.h"
#include "train/trainer.h"

static void train_usage(FILE *f) {
    fprintf(f,
            "usage: liver-vlm train --data F.h5 --out RUN/ [options]\n"
            "       liver-vlm train --resume RUN/ [--epochs N] [--device D] [--threads N] ...\n"
            "\n"
            "Trains Liver-VLM (ResNet-18 image encoder, class prompts through a BERT text encoder,\n"
            "cosine head) or the linear-head CNN baseline. Writes RUN/model.safetensors (every\n"
            "epoch), RUN/best.safetensors (best validation macro-AUC), RUN/config.json (every\n"
            "setting), RUN/state.safetensors (for --resume) and RUN/log.jsonl. See docs/training.md.\n"
            "\n"
            "Settings (a --config file uses the same names with '_' for '-'; flags override it):\n");
    lv_train_config_print_help(f);
    fprintf(f,
            "\n"
            "Actions:\n"
            "  --config C.json                settings file (JSON object; unknown keys are errors)\n"
            "  --resume RUN/                  continue RUN exactly; only --epochs (extends the run),\n"
            "                                 --device, --device-data, --threads, --comm and\n"
            "                                 --comm-timeout may change\n"
            "  --force                        replace a run already in --out\n"
            "  --stop-after N                 leave once N epochs are done, as if interrupted\n"
            "                                 (time-limited jobs; --resume continues)\n"
            "  --help                         this text\n");
}

static lv_status open_data(lv_dataset *ds, const char *path, const char *flag) {
    lv_dataset_init(ds);
    if (!lv_h5_available())
        return lv_errorf(LV_ERR_INPUT, "%s %s: this liver-vlm was built without HDF5 and cannot read data files",
                         flag, path);
    return lv_h5_read(ds, path, NULL);
}

/* The run directory, or the nearest folder above it that exists, must be writable by us: an
 * unwritable --out would otherwise fail at the first checkpoint, an epoch later. */
static lv_status out_writable(const char *out) {
    char p[PATH_MAX];
    LV_CHECK(strlen(out) < sizeof p, LV_ERR_USAGE, "--out %s: path too long", out);
    snprintf(p, sizeof p, "%s", out);
    struct stat sb;
    while (stat(p, &sb) != 0) {
        char *slash = strrchr(p, '/');
        if (!slash) {
            snprintf(p, sizeof p, ".");
        } else if (slash == p) {
            p[1] = '\0';
        } else {
            *slash = '\0';
            continue;
        }
        break;
    }
    if (stat(p, &sb) == 0 && !S_ISDIR(sb.st_mode))
        return lv_errorf(LV_ERR_USAGE, "--out %s: %s is not a directory", out, p);
    if (access(p, W_OK | X_OK) != 0)
        return lv_errorf(LV_ERR_USAGE, "--out %s: cannot write in %s: %s", out, p, strerror(errno));
    return LV_OK;
}

lv_status lv_cmd_train(int argc, char **argv) {
    lv_train_config c;
    lv_train_cli cli;
    lv_status s = lv_train_config_resolve(&c, &cli, argc, argv);
    if (s == LV_OK && cli.help) {
        train_usage(stdout);
        lv_train_config_free(&c);
        return LV_OK;
    }
    if (s != LV_OK) {
        lv_train_config_free(&c);
        return s;
    }
    /* Refuse before joining a job or loading data; the trainer checks again. */
    if ((s = out_writable(c.out)) != LV_OK) {
        lv_train_config_free(&c);
        return s;
    }
    if (!cli.resume_dir && !cli.force && lv_train_dir_has_run(c.out)) {
        s = lv_errorf(LV_ERR_INPUT, "%s already holds a training run; use --resume %s to continue it or --force to "
                                    "replace it", c.out, c.out);
        lv_train_config_free(&c);
        return s;
    }
    lv_dist d;
    memset(&d, 0, sizeof d);
    s = lv_dist_init(&d, &argc, &argv);
    if (s != LV_OK) {
        lv_train_config_free(&c);
        return s;
    }
    lv_dataset ds, vds;
    lv_dataset_init(&vds);
    s = open_data(&ds, c.data, "--data");
    if (s == LV_OK && c.val) s = open_data(&vds, c.val, "--val");
    lv_train_result r;
    memset(&r, 0, sizeof r);
    if (s == LV_OK) {
        lv_train_env env;
        lv_train_env_default(&env);
        env.rank = d.rank;
        env.world = d.world;
        env.dist = &d;
        env.resume = cli.resume_dir != NULL;
        env.force = cli.force;
        env.stop_after = cli.stop_after;
        s = lv_train_run(&c, &ds, c.val ? &vds : NULL, &env, &r);
    }
    if (s != LV_OK && d.world > 1) {
        /* The other ranks may wait in a collective: say why, then end the whole job. */
        fprintf(stderr, "liver-vlm train (rank %d of %d): %s\n", d.rank, d.world, lv_error_message());
        lv_dist_abort(&d, lv_status_exit_code(s));
    }
    if (s == LV_OK && d.rank == 0) {
        char auc[32];
        if (isnan(r.best_auc)) snprintf(auc, sizeof auc, "n/a");
        else snprintf(auc, sizeof auc, "%.4f", r.best_auc);
        printf("%s: %" PRId64 " of %d epochs, %" PRId64 " steps (%" PRId64 " skipped), best validation %s %s "
               "at epoch %" PRId64 "\n",
               c.out, r.epochs, c.epochs, r.steps, r.skipped,
               c.objective == LV_TRAIN_OBJECTIVE_CLIP ? "image->report retrieval accuracy" : "macro-AUC", auc,
               r.best_epoch);
    }
    lv_dataset_free(&ds);
    lv_dataset_free(&vds);
    lv_train_config_free(&c);
    lv_dist_finalize(&d);
    return s;
}
