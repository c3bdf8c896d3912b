/* The trainer on an in-memory phantom (5 classes x 8, 32x32, batch 8): the loss falls over
 * a few epochs with both heads; 2 epochs straight and 1 epoch + --resume give bit-identical
 * weights; non-finite batches are skipped (BN statistics kept usable) and 5 in a row stop
 * the run with a message, leaving a loadable last checkpoint; config files reject unknown
 * keys and wrong types by name; the command line overrides the file; --resume refuses
 * changed settings except --epochs/--device/--threads. LV_TEST_SANITIZE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/safetensors.h"
#include "data/phantom.h"
#include "harness.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/trainer.h"

static char tmpdir[256];

static void set_str(char **dst, const char *v) {
    free(*dst);
    *dst = v ? strdup(v) : NULL;
}

static void base_config(lv_train_config *c, const char *out, int epochs) {
    lv_train_config_default(c);
    set_str(&c->data, "phantom");
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, out);
    set_str(&c->out, p);
    c->epochs = epochs;
    c->batch = 8;
    c->lr = 3e-3;
    c->dim = 32;
    c->threads = 2;
}

static lv_train_env quiet_env(void) {
    lv_train_env e;
    lv_train_env_default(&e);
    e.quiet = 1;
    return e;
}

static int file_exists(const char *dir, const char *name) {
    char p[600];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0;
}

static void test_loss_falls(const lv_dataset *ds, int head, const char *out) {
    lv_train_config c;
    base_config(&c, out, 3);
    c.head = head;
    if (head) c.lr = 1e-3; /* the 512x5 linear head on raw features diverges at 3e-3 */
    lv_train_env e = quiet_env();
    lv_train_result r;
    lv_status s = lv_train_run(&c, ds, NULL, &e, &r);
    const char *name = head ? "linear" : "vlm";
    if (!lv_test_true(s == LV_OK, head ? "linear head trains 3 epochs" : "VLM head trains 3 epochs")) {
        lv_test_fail("%s", lv_error_message());
    } else {
        printf("%s head: train loss %.4f %.4f %.4f, val macro-AUC %.3f %.3f %.3f (%lld train, %lld val)\n", name,
               r.train_loss[0], r.train_loss[1], r.train_loss[2], r.val_auc[0], r.val_auc[1], r.val_auc[2],
               (long long)r.n_train, (long long)r.n_val);
        lv_test_true(r.train_loss[2] < r.train_loss[0], "training loss falls from epoch 1 to epoch 3");
        lv_test_true(r.n_val > 0 && r.n_train > 0, "patient-level split gives both parts");
        static const char *const files[] = {"model.safetensors", "best.safetensors", "state.safetensors",
                                            "config.json", "log.jsonl"};
        int all = 1;
        for (int i = 0; i < 5; i++) all &= file_exists(c.out, files[i]);
        lv_test_true(all, "run directory holds model, best, state, config.json and log.jsonl");
    }
    lv_train_config_free(&c);
}

static void test_resume(const lv_dataset *ds, int64_t *steps_per_epoch) {
    lv_train_config a, b;
    base_config(&a, "straight", 2);
    base_config(&b, "resumed", 2);
    lv_train_env e = quiet_env();
    lv_train_result ra, rb;
    lv_status s = lv_train_run(&a, ds, NULL, &e, &ra);
    if (!lv_test_true(s == LV_OK, "2 epochs straight")) lv_test_fail("%s", lv_error_message());
    *steps_per_epoch = ra.steps / 2;
    e.stop_after = 1;
    s = lv_train_run(&b, ds, NULL, &e, &rb);
    if (!lv_test_true(s == LV_OK && rb.epochs == 1, "stop after epoch 1")) lv_test_fail("%s", lv_error_message());
    lv_test_true(lv_train_dir_has_run(b.out), "an interrupted run is a run");
    /* A new run into it must refuse; --force would replace it. */
    lv_train_env fresh = quiet_env();
    s = lv_train_run(&b, ds, NULL, &fresh, &rb);
    lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "--resume"),
                 "a new run into a directory holding a run refuses and suggests --resume");
    e.stop_after = 0;
    e.resume = 1;
    s = lv_train_run(&b, ds, NULL, &e, &rb);
    if (!lv_test_true(s == LV_OK && rb.epochs == 2 && rb.epochs_run == 1, "resume runs epoch 2"))
        lv_test_fail("%s", lv_error_message());
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/model.safetensors", a.out);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b.out);
    lv_test_true(lv_test_same_tensors(pa, pb), "2 epochs straight == 1 epoch + resume: bit-identical weights");
    lv_test_true(ra.steps == rb.steps && ra.best_epoch == rb.best_epoch &&
                     (ra.best_auc == rb.best_auc || (isnan(ra.best_auc) && isnan(rb.best_auc))),
                 "same step count and best epoch/AUC after resume");
    /* Resuming a finished run does nothing and changes nothing. */
    s = lv_train_run(&b, ds, NULL, &e, &rb);
    lv_test_true(s == LV_OK && rb.epochs_run == 0 && lv_test_same_tensors(pa, pb), "resuming a finished run is a no-op");
    lv_train_config_free(&a);
    lv_train_config_free(&b);
}

typedef struct nan_hook {
    int64_t from, to; /* poison steps [from, to) */
} nan_hook;

static void poison(void *ctx, int64_t step, float *images, int n, size_t per) {
    const nan_hook *h = ctx;
    (void)n;
    (void)per;
    if (step >= h->from && step < h->to) images[0] = NAN;
}

static void test_nonfinite(const lv_dataset *ds, int64_t spe) {
    /* One poisoned batch: skipped, the run goes on, the checkpoint is finite (BN restored). */
    lv_train_config c;
    base_config(&c, "one_nan", 1);
    lv_train_env e = quiet_env();
    nan_hook h = {1, 2};
    e.batch_hook = poison;
    e.hook_ctx = &h;
    lv_train_result r;
    lv_status s = lv_train_run(&c, ds, NULL, &e, &r);
    if (!lv_test_true(s == LV_OK && r.skipped == 1, "one non-finite batch is skipped and counted"))
        lv_test_fail("status %d skipped %lld: %s", (int)s, (long long)r.skipped, lv_error_message());
    lv_test_true(isfinite(r.train_loss[0]), "epoch loss stays finite");
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", c.out);
    lv_backend *be = lv_test_cpu_backend();
    lv_vlm m;
    lv_ckpt_info info;
    s = lv_ckpt_load(p, be, 0, &m, &info);
    if (lv_test_true(s == LV_OK, "checkpoint after a skipped step loads (finite BN statistics)")) {
        lv_vlm_free(&m);
        lv_ckpt_info_free(&info);
    } else {
        lv_test_fail("%s", lv_error_message());
    }
    lv_train_config_free(&c);

    /* From the first step of epoch 2 on, every batch is poisoned: abort after 5. */
    base_config(&c, "all_nan", 3);
    h.from = spe;
    h.to = 1 << 30;
    s = lv_train_run(&c, ds, NULL, &e, &r);
    const char *msg = lv_error_message();
    lv_test_true(s == LV_ERR_RUNTIME && strstr(msg, "5 steps in a row") && strstr(msg, "model.safetensors (epoch ") &&
                     strstr(msg, "is the last good checkpoint"),
                 "5 non-finite steps in a row stop the run naming the last good checkpoint");
    printf("abort message: %s\n", msg);
    snprintf(p, sizeof p, "%s/model.safetensors", c.out);
    s = lv_ckpt_load(p, be, 0, &m, &info);
    if (lv_test_true(s == LV_OK, "the last model.safetensors stays loadable after the abort")) {
        lv_vlm_free(&m);
        lv_ckpt_info_free(&info);
    }
    char log[600], line[1024];
    snprintf(log, sizeof log, "%s/log.jsonl", c.out);
    FILE *f = fopen(log, "r");
    int skipped_lines = 0, abort_line = 0;
    while (f && fgets(line, sizeof line, f)) {
        skipped_lines += strstr(line, "\"skipped\":true") != NULL;
        abort_line += strstr(line, "\"type\":\"abort\"") != NULL;
    }
    if (f) fclose(f);
    lv_test_true(skipped_lines == 5 && abort_line == 1, "log.jsonl records the 5 skipped steps and the abort");
    lv_backend_destroy(be);
    lv_train_config_free(&c);
}

/* A "streaming" reader over an in-memory set (the source), for the streamed-data error. */
static lv_status copy_reader(const lv_dataset *ds, int64_t index, void *dst) {
    const lv_dataset *src = ds->source;
    size_t bytes = lv_dataset_sample_bytes(src);
    memcpy(dst, (const char *)src->images + (size_t)index * bytes, bytes);
    return LV_OK;
}

/* The log's start line records which batch path ran. */
static int log_says(const char *dir, const char *needle) {
    char p[600], line[4096];
    snprintf(p, sizeof p, "%s/log.jsonl", dir);
    FILE *f = fopen(p, "r");
    int found = 0;
    while (f && fgets(line, sizeof line, f)) found |= strstr(line, needle) != NULL;
    if (f) fclose(f);
    return found;
}

/* --device-data on (the CPU backend renders from its own copy of the data, as CUDA would)
 * gives the host loader's weights bit for bit: training and validation batches alike. */
static void test_device_data(const lv_dataset *ds) {
    lv_train_config a, b;
    base_config(&a, "dd_off", 1);
    base_config(&b, "dd_on", 1);
    a.device_data = LV_TRAIN_DEVICE_DATA_OFF;
    b.device_data = LV_TRAIN_DEVICE_DATA_ON;
    lv_train_env e = quiet_env();
    lv_train_result ra, rb;
    lv_status s = lv_train_run(&a, ds, NULL, &e, &ra);
    if (!lv_test_true(s == LV_OK, "1 epoch with --device-data off")) lv_test_fail("%s", lv_error_message());
    s = lv_train_run(&b, ds, NULL, &e, &rb);
    if (!lv_test_true(s == LV_OK, "1 epoch with --device-data on (CPU backend)")) lv_test_fail("%s", lv_error_message());
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/model.safetensors", a.out);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b.out);
    lv_test_true(lv_test_same_tensors(pa, pb), "--device-data on == off: bit-identical weights after 1 epoch");
    lv_test_true(ra.train_loss[0] == rb.train_loss[0] && ra.steps == rb.steps &&
                     (ra.val_auc[0] == rb.val_auc[0] || (isnan(ra.val_auc[0]) && isnan(rb.val_auc[0]))),
                 "--device-data on == off: same training loss and validation AUC");
    lv_test_true(log_says(b.out, "\"device_data\":true") && log_says(a.out, "\"device_data\":false"),
                 "the start line of log.jsonl records the batch path");
    /* A poisoned batch reaches the model on the device path too (the hook sees device data). */
    lv_train_config c;
    base_config(&c, "dd_nan", 1);
    c.device_data = LV_TRAIN_DEVICE_DATA_ON;
    lv_train_env he = quiet_env();
    nan_hook h = {1, 2};
    he.batch_hook = poison;
    he.hook_ctx = &h;
    lv_train_result rc;
    s = lv_train_run(&c, ds, NULL, &he, &rc);
    lv_test_true(s == LV_OK && rc.skipped == 1, "--device-data on: the batch hook poisons the rendered batch");
    /* auto on the CPU backend keeps the host loader. */
    lv_train_config d;
    base_config(&d, "dd_auto", 1);
    s = lv_train_run(&d, ds, NULL, &e, &rc);
    lv_test_true(s == LV_OK && log_says(d.out, "\"device_data\":false"), "--device-data auto on the CPU: host loader");
    /* on with a streamed data set: a clear error. */
    lv_dataset streamed = *ds;
    streamed.images = NULL;
    streamed.read_sample = copy_reader;
    streamed.source = (void *)ds;
    streamed.source_free = NULL;
    lv_train_config f;
    base_config(&f, "dd_streamed", 1);
    f.device_data = LV_TRAIN_DEVICE_DATA_ON;
    s = lv_train_run(&f, &streamed, NULL, &e, &rc);
    lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "--device-data on") &&
                     strstr(lv_error_message(), "streamed"),
                 "--device-data on with streamed data: an input error saying why");
    printf("streamed: %s\n", lv_error_message());
    lv_train_config_free(&a);
    lv_train_config_free(&b);
    lv_train_config_free(&c);
    lv_train_config_free(&d);
    lv_train_config_free(&f);
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    fputs(text, f);
    fclose(f);
    return 1;
}

static void test_config(void) {
    lv_train_config c;
    lv_train_keyset set = 0;
    lv_train_config_default(&c);
    lv_status s = lv_train_config_parse_json(&c, "{\"epochs\": 3, \"lrr\": 0.1}", "c.json", &set);
    lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "c.json") && strstr(lv_error_message(), "'lrr'"),
                 "unknown config key is an input error naming file and key");
    s = lv_train_config_parse_json(&c, "{\"epochs\": \"ten\"}", "c.json", &set);
    lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "'epochs'") && strstr(lv_error_message(), "string"),
                 "wrong type names the key and what was found");
    s = lv_train_config_parse_json(&c, "{\"epochs\": 2.5}", "c.json", &set);
    lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "integer"), "fractional epochs rejected");
    s = lv_train_config_parse_json(&c, "{\"head\": \"cnn\"}", "c.json", &set);
    lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "vlm|linear"), "bad choice lists the choices");
    s = lv_train_config_parse_json(&c, "[1]", "c.json", &set);
    lv_test_true(s == LV_ERR_INPUT, "a non-object config is rejected");
    s = lv_train_config_parse_json(&c, "{\"epochs\": 1,", "c.json", &set);
    lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "not valid JSON"), "broken JSON rejected");

    /* Round trip: every setting written is read back the same. */
    c.lr = 0.1 + 0.2;
    c.seed = 123456789012345ull;
    c.head = 1;
    c.augment = 0;
    set_str(&c.data, "/x/y.h5");
    char *js = lv_train_config_to_json(&c);
    lv_train_config d;
    lv_train_config_default(&d);
    set = 0;
    s = lv_train_config_parse_json(&d, js, "round trip", &set);
    lv_test_true(s == LV_OK && d.lr == c.lr && d.seed == c.seed && d.head == 1 && d.augment == 0 &&
                     !strcmp(d.data, "/x/y.h5") && set == ((lv_train_keyset)1 << lv_train_config_key_count()) - 1,
                 "config.json round-trips every key");
    free(js);
    lv_train_config_free(&d);
    lv_train_config_free(&c);

    /* Precedence: defaults < --config < flags. */
    char cfgp[512], run[512];
    snprintf(cfgp, sizeof cfgp, "%s/c.json", tmpdir);
    write_file(cfgp, "{\"lr\": 0.01, \"batch\": 16, \"head\": \"linear\"}");
    char *argv1[] = {"train", "--config", cfgp, "--lr", "0.05", "--data", "d.h5", "--out", "o", "--no-augment", NULL};
    lv_train_cli cli;
    s = lv_train_config_resolve(&c, &cli, 10, argv1);
    lv_test_true(s == LV_OK && c.lr == 0.05 && c.batch == 16 && c.head == 1 && c.augment == 0 && c.epochs == 10,
                 "flags override the config file, the file overrides defaults");
    lv_train_config_free(&c);
    char *argv2[] = {"train", "--data", "d.h5", "--out", "o", "--batch", "x", NULL};
    s = lv_train_config_resolve(&c, &cli, 7, argv2);
    lv_test_true(s == LV_ERR_USAGE && strstr(lv_error_message(), "--batch"), "bad number is a usage error naming it");
    lv_train_config_free(&c);
    char *argv3[] = {"train", "--data", "d.h5", "--out", "o", "--min_lr", "0", NULL};
    s = lv_train_config_resolve(&c, &cli, 7, argv3);
    lv_test_true(s == LV_ERR_USAGE && strstr(lv_error_message(), "'--min_lr'"), "unknown flag named");
    lv_train_config_free(&c);
    char *argv4[] = {"train", "--out", "o", NULL};
    s = lv_train_config_resolve(&c, &cli, 3, argv4);
    lv_test_true(s == LV_ERR_USAGE && strstr(lv_error_message(), "--data is required"), "--data is required");
    lv_train_config_free(&c);

    /* --resume: the run's config is the base; only epochs/device/threads may change. */
    snprintf(run, sizeof run, "%s/run_cfg", tmpdir);
    mkdir(run, 0777);
    lv_train_config_default(&c);
    set_str(&c.data, "d.h5");
    set_str(&c.out, run);
    c.lr = 0.02;
    js = lv_train_config_to_json(&c);
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", run);
    write_file(p, js);
    free(js);
    lv_train_config_free(&c);
    char *argv5[] = {"train", "--resume", run, "--epochs", "20", "--threads", "1", NULL};
    s = lv_train_config_resolve(&c, &cli, 7, argv5);
    lv_test_true(s == LV_OK && c.epochs == 20 && c.threads == 1 && c.lr == 0.02 && cli.resume_dir,
                 "--resume takes the run's settings and a new --epochs");
    lv_train_config_free(&c);
    char *argv6[] = {"train", "--resume", run, "--lr", "0.5", NULL};
    s = lv_train_config_resolve(&c, &cli, 5, argv6);
    lv_test_true(s == LV_ERR_USAGE && strstr(lv_error_message(), "--lr 0.5 differs"),
                 "--resume with a changed --lr is a usage error naming it");
    lv_train_config_free(&c);
    char *argv7[] = {"train", "--resume", run, "--lr", "0.02", NULL};
    s = lv_train_config_resolve(&c, &cli, 5, argv7);
    lv_test_true(s == LV_OK, "--resume accepts a restated unchanged setting");
    lv_train_config_free(&c);
}

int main(void) {
    lv_log_init(0, 1);
    lv_log_set_level(LV_LOG_WARN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lv_test_trainer_XXXXXX");
    if (!mkdtemp(tmpdir)) return lv_test_skip("cannot make a temporary directory");
    test_config();

    lv_phantom_opts po;
    lv_phantom_opts_default(&po);
    po.per_class = 8;
    po.size = 32;
    po.seed = 5;
    lv_dataset ds;
    lv_dataset_init(&ds);
    if (!lv_test_true(lv_phantom_generate(&ds, &po, NULL) == LV_OK, "phantom")) return lv_test_summary();
    test_loss_falls(&ds, 0, "vlm");
    test_loss_falls(&ds, 1, "linear");
    int64_t spe = 0;
    test_resume(&ds, &spe);
    if (spe > 0) test_nonfinite(&ds, spe);
    test_device_data(&ds);
    lv_dataset_free(&ds);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", tmpdir);
    return lv_test_summary();
}
