/* --objective phase-shuffle. White-box (train/trainer_impl.h): the P! permutations in
 * lexicographic order named by the phase order they produce, every output channel the named
 * input phase, labels = permutation ids, draws uniform-ish and reproducible (training by
 * augmentation key, validation by index), P < 2 and P! > LV_MAX_CLASSES refused by name.
 * Through lv_train_run on a phantom: the pretext task learns (validation accuracy and
 * macro-AUC well above chance), 1 epoch + resume == 2 epochs bit for bit, and a classification
 * run starts from its image encoder via --init-image (conv weights carried over exactly), and
 * --device-data on and the staged (pinned) path give the host path's weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/safetensors.h"
#include "data/phantom.h"
#include "harness.h"
#include "train/config.h"
#include "train/trainer.h"
#include "train/trainer_impl.h"

static char tmpdir[256];

static void set_str(char **dst, const char *v) {
    free(*dst);
    *dst = v ? strdup(v) : NULL;
}

/* A trainer with just what objective_shuffle.c reads. */
static void fake_trainer(trainer *t, lv_train_config *c, lv_dataset *ds, int p) {
    static const char *const names[] = {"NC", "ART", "PV", "DL", "X5"};
    memset(t, 0, sizeof *t);
    lv_train_config_default(c);
    c->objective = LV_TRAIN_OBJECTIVE_PHASE_SHUFFLE;
    c->batch = 4;
    c->seed = 11;
    lv_dataset_init(ds);
    ds->path = strdup("fake.h5");
    ds->p = p;
    ds->c = 2;
    for (int i = 0; i < p; i++) ds->phases[i] = strdup(names[i]);
    t->cfg = c;
    t->ds = ds;
    t->be = lv_test_cpu_backend();
}

static int phase_of(const lv_dataset *ds, const char *name) {
    for (int i = 0; i < ds->p; i++)
        if (!strcmp(ds->phases[i], name)) return i;
    return -1;
}

static void test_permutations(void) {
    trainer t;
    lv_train_config c;
    lv_dataset ds;
    fake_trainer(&t, &c, &ds, 3);
    lv_status s = trainer_classes_setup(&t);
    if (!lv_test_true(s == LV_OK && t.nclass == 6, "3 phases: 6 permutations are the classes")) {
        lv_test_fail("%s", lv_error_message());
        trainer_shuffle_free(&t);
        lv_backend_destroy(t.be);
        lv_dataset_free(&ds);
        lv_train_config_free(&c);
        return;
    }
    static const char *const want[] = {"NC_ART_PV", "NC_PV_ART", "ART_NC_PV", "ART_PV_NC", "PV_NC_ART", "PV_ART_NC"};
    int names_ok = 1;
    for (int k = 0; k < 6; k++) names_ok &= !strcmp(t.class_names[k], want[k]);
    lv_test_true(names_ok, "lexicographic order, identity first, named by the phase order produced");

    /* Input channel j of sample i holds 100*i + j (+ a pixel ramp), so every output plane says
     * where it came from. */
    enum { N = 4, P = 3, S = 4 };
    float img[N * P * S * S];
    int32_t labels[N] = {0, 1, 0, 1};
    int64_t idx[N] = {3, 7, 9, 12}, keys[N] = {1001, 1002, 1003, 1004};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < P; j++)
            for (int q = 0; q < S * S; q++) img[((i * P) + j) * S * S + q] = (float)(100 * i + j) + 0.001f * (float)q;
    const float *x = img;
    const int *y = (const int *)labels;
    const int32_t *hl = labels;
    s = trainer_shuffle_apply(&t, 1, N, S, keys, idx, &x, &y, &hl);
    int planes_ok = s == LV_OK, labels_ok = s == LV_OK;
    for (int i = 0; planes_ok && i < N; i++) {
        int k = trainer_shuffle_draw(&t, keys, idx, i, 1);
        labels_ok &= hl[i] == k && y[i] == k;
        char name[64];
        snprintf(name, sizeof name, "%s", t.class_names[k]);
        char *save = NULL, *tok = strtok_r(name, "_", &save);
        for (int c2 = 0; c2 < P && tok; c2++, tok = strtok_r(NULL, "_", &save)) {
            int src = phase_of(&ds, tok);
            for (int q = 0; q < S * S; q++)
                planes_ok &= x[((i * P) + c2) * S * S + q] == img[((i * P) + src) * S * S + q];
        }
    }
    lv_test_true(planes_ok, "output channel c of each sample is the input phase its class name lists at c");
    lv_test_true(labels_ok, "labels (host, for validation, and model input) are the drawn permutation ids");

    /* Draws: all 6 appear about equally often over 6000 keys; validation draws follow the index. */
    int64_t many_idx[1], many_key[1];
    int count[6] = {0}, stable = 1;
    for (int64_t k = 0; k < 6000; k++) {
        many_key[0] = k;
        many_idx[0] = k;
        count[trainer_shuffle_draw(&t, many_key, many_idx, 0, 1)]++;
        int v = trainer_shuffle_draw(&t, many_key, many_idx, 0, 0);
        many_key[0] = k + 12345; /* a new augmentation key must not move a validation draw */
        stable &= trainer_shuffle_draw(&t, many_key, many_idx, 0, 0) == v;
    }
    int uniform = 1;
    for (int k = 0; k < 6; k++) uniform &= count[k] > 850 && count[k] < 1150;
    printf("draw counts over 6000 keys: %d %d %d %d %d %d\n", count[0], count[1], count[2], count[3], count[4],
           count[5]);
    lv_test_true(uniform, "every permutation drawn 1000 +- 150 times in 6000");
    lv_test_true(stable, "a validation sample's permutation depends on its index only");
    trainer_shuffle_free(&t);
    lv_backend_destroy(t.be);
    lv_dataset_free(&ds);
    lv_train_config_free(&c);

    fake_trainer(&t, &c, &ds, 1);
    s = trainer_classes_setup(&t);
    lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "fake.h5") &&
                     strstr(lv_error_message(), "at least 2 phases"),
                 "one phase: refused naming the file");
    lv_backend_destroy(t.be);
    lv_dataset_free(&ds);
    lv_train_config_free(&c);
    fake_trainer(&t, &c, &ds, 5);
    s = trainer_classes_setup(&t);
    lv_test_true(s == LV_ERR_INPUT && strstr(lv_error_message(), "120 permutations"),
                 "five phases (120 permutations): refused with the count");
    trainer_shuffle_free(&t);
    lv_backend_destroy(t.be);
    lv_dataset_free(&ds);
    lv_train_config_free(&c);
}

static void base_config(lv_train_config *c, const char *out, int epochs) {
    lv_train_config_default(c);
    set_str(&c->data, "phantom");
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, out);
    set_str(&c->out, p);
    c->objective = LV_TRAIN_OBJECTIVE_PHASE_SHUFFLE;
    c->epochs = epochs;
    c->batch = 16;
    c->lr = 3e-3;
    c->threads = 2;
}

static void test_training(const lv_dataset *ds) {
    lv_train_config c;
    base_config(&c, "shuffle", 8);
    lv_train_env e;
    lv_train_env_default(&e);
    e.quiet = 1;
    lv_train_result r;
    lv_status s = lv_train_run(&c, ds, NULL, &e, &r);
    if (!lv_test_true(s == LV_OK, "phase-shuffle trains 8 epochs")) {
        lv_test_fail("%s", lv_error_message());
        lv_train_config_free(&c);
        return;
    }
    printf("phase-shuffle: train loss %.3f -> %.3f, best validation macro-AUC %.3f at epoch %lld (chance 0.5; "
           "%lld train, %lld val)\n",
           r.train_loss[0], r.train_loss[7], r.best_auc, (long long)r.best_epoch, (long long)r.n_train,
           (long long)r.n_val);
    lv_test_true(r.train_loss[7] < r.train_loss[0] && r.train_loss[7] < 0.9 * log(6.0),
                 "training loss falls below 0.9 ln 6 (chance)");
    lv_test_true(r.best_auc > 0.7, "validation macro-AUC of the pretext task above 0.7 (chance 0.5)");

    /* Classification from the pretrained encoder: lr 0 leaves every conv weight as loaded. */
    lv_train_config f;
    base_config(&f, "from_shuffle", 1);
    f.objective = LV_TRAIN_OBJECTIVE_CLASSIFY;
    f.lr = 0;
    f.weight_decay = 0;
    char src[600], dst[600];
    snprintf(src, sizeof src, "%s/model.safetensors", c.out);
    set_str(&f.init_image, src);
    s = lv_train_run(&f, ds, NULL, &e, &r);
    if (!lv_test_true(s == LV_OK, "classification run with --init-image from the phase-shuffle model"))
        lv_test_fail("%s", lv_error_message());
    snprintf(dst, sizeof dst, "%s/model.safetensors", f.out);
    lv_test_true(lv_test_same_tensor(src, dst, "visual.conv1.weight") && lv_test_same_tensor(src, dst, "visual.layer4.1.conv2.weight"),
                 "its image encoder starts from the pretrained weights (conv1, layer4.1.conv2 bit-identical)");
    lv_train_config_free(&f);
    lv_train_config_free(&c);

    /* Resume: the draws follow the augmentation keys, so 1 + 1 epochs == 2 epochs. */
    lv_train_config a, b;
    base_config(&a, "straight", 2);
    base_config(&b, "resumed", 2);
    s = lv_train_run(&a, ds, NULL, &e, &r);
    e.stop_after = 1;
    if (s == LV_OK) s = lv_train_run(&b, ds, NULL, &e, &r);
    e.stop_after = 0;
    e.resume = 1;
    if (s == LV_OK) s = lv_train_run(&b, ds, NULL, &e, &r);
    if (!lv_test_true(s == LV_OK, "2 epochs, and 1 epoch + resume")) lv_test_fail("%s", lv_error_message());
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/model.safetensors", a.out);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b.out);
    lv_test_true(lv_test_same_tensors(pa, pb), "phase-shuffle: 2 epochs straight == 1 epoch + resume, bit for bit");
    lv_train_config_free(&a);
    lv_train_config_free(&b);

    /* The permutation is applied after either batch path: device data gives the same run. */
    base_config(&a, "host_path", 1);
    base_config(&b, "device_path", 1);
    a.device_data = LV_TRAIN_DEVICE_DATA_OFF;
    b.device_data = LV_TRAIN_DEVICE_DATA_ON;
    e.resume = 0;
    s = lv_train_run(&a, ds, NULL, &e, &r);
    if (s == LV_OK) s = lv_train_run(&b, ds, NULL, &e, &r);
    if (!lv_test_true(s == LV_OK, "1 epoch with --device-data off and on")) lv_test_fail("%s", lv_error_message());
    snprintf(pa, sizeof pa, "%s/model.safetensors", a.out);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b.out);
    lv_test_true(lv_test_same_tensors(pa, pb), "phase-shuffle: --device-data on == off, bit for bit (CPU backend)");
    lv_train_config_free(&a);
    lv_train_config_free(&b);

    /* And after the staged (pinned, double-buffered) path, forced on the CPU backend. */
    base_config(&b, "staged_path", 1);
    b.device_data = LV_TRAIN_DEVICE_DATA_OFF;
    e.pinned = 1;
    s = lv_train_run(&b, ds, NULL, &e, &r);
    e.pinned = 0;
    if (!lv_test_true(s == LV_OK, "1 epoch through the staged batch path")) lv_test_fail("%s", lv_error_message());
    snprintf(pb, sizeof pb, "%s/model.safetensors", b.out);
    lv_test_true(lv_test_same_tensors(pa, pb), "phase-shuffle: staged path == host path, bit for bit (CPU backend)");
    lv_train_config_free(&b);
}

int main(void) {
    lv_log_init(0, 1);
    lv_log_set_level(LV_LOG_WARN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lv_test_shuffle_XXXXXX");
    if (!mkdtemp(tmpdir)) return lv_test_skip("cannot make a temporary directory");
    test_permutations();
    lv_phantom_opts po;
    lv_phantom_opts_default(&po);
    po.per_class = 40;
    po.size = 32;
    po.seed = 3;
    lv_dataset ds;
    lv_dataset_init(&ds);
    if (lv_test_true(lv_phantom_generate(&ds, &po, NULL) == LV_OK, "phantom")) test_training(&ds);
    lv_dataset_free(&ds);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", tmpdir);
    return lv_test_summary();
}
