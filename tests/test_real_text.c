/* A published text model as users download it (LV_TEXT_MODEL_DIR = the folder `--text-model`
 * takes, e.g. all-MiniLM-L6-v2), loaded the way `train --text-model DIR` loads it, against
 * HF's token ids and sentence embeddings of the default prompts (tests/fixtures_real_text.py,
 * one tests/fixtures/real_text_<model>.safetensors per model, matched by the weights' hash).
 * No weights are committed: without LV_TEXT_MODEL_DIR, or for a model with no fixture, SKIP.
 * LV_TEST_SANITIZE */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encoders/liver_vlm_io.h"
#include "harness.h"

#define REL_TOL 1e-4 /* the bound; the float32 engine lands near 1e-6 */
#define MAX_CLASSES 64

/* FNV-1a 64 of a file, as fixtures_real_text.py computes it; 0 when it cannot be read. */
static int file_fnv(const char *path, uint64_t *h) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    static unsigned char buf[1 << 16];
    *h = 14695981039346656037ull;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < n; i++) *h = (*h ^ buf[i]) * 1099511628211ull;
    int ok = !ferror(f);
    fclose(f);
    return ok;
}

static int file_fnv_hex(const char *dir, const char *file, char hex[17]) {
    char path[4096];
    uint64_t h;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (!file_fnv(path, &h)) return 0;
    snprintf(hex, 17, "%016llx", (unsigned long long)h);
    return 1;
}

/* The committed fixture whose weights hash is `hex`, or NULL. */
static lv_st_file *find_fixture(const char *hex) {
    DIR *d = opendir(LV_FIXTURE_DIR);
    if (!d) return NULL;
    lv_st_file *found = NULL;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        const char *ext = ".safetensors";
        if (strncmp(e->d_name, "real_text_", 10) != 0 || n <= strlen(ext) + 10 ||
            strcmp(e->d_name + n - strlen(ext), ext) != 0)
            continue;
        char stem[256];
        snprintf(stem, sizeof stem, "%.*s", (int)(n - strlen(ext)), e->d_name);
        lv_st_file *f = lv_test_fixture_open(stem);
        const char *w = f ? lv_st_metadata(f, "weights_fnv1a64") : NULL;
        if (w && strcmp(w, hex) == 0) found = f;
        else if (f) lv_st_close(f);
    }
    closedir(d);
    return found;
}

/* Worst over rows of max|got-want| / max|want| within the row: each prompt on its own scale. */
static double row_rel_error(const float *got, const float *want, int rows, int cols) {
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        double err = 0, scale = 1e-30;
        for (int c = 0; c < cols; c++) {
            double d = (double)got[r * cols + c] - want[r * cols + c], w = want[r * cols + c];
            if (d < 0) d = -d;
            if (w < 0) w = -w;
            if (d > err) err = d;
            if (w > scale) scale = w;
        }
        if (err / scale > worst) worst = err / scale;
    }
    return worst;
}

/* Splits the fixture's comma-separated class list in place. */
static int split_classes(char *list, const char **out) {
    int n = 0;
    for (char *tok = strtok(list, ","); tok && n < MAX_CLASSES; tok = strtok(NULL, ",")) out[n++] = tok;
    return n;
}

static double seconds_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0->tv_nsec);
}

/* What trainer_build_model does for `--text-model DIR` (train/trainer_setup.c), through the
 * same lv_vlm_text_config_from_hf: tokenizer, config and pooling from the folder, then the
 * weights. D is set to H so an identity projection exposes the pooled features. */
static lv_status load_like_train(lv_vlm *m, lv_backend *be, const char *dir, const char *const *classes, int c,
                                 const lv_prompt_set *prompts) {
    memset(m, 0, sizeof *m); /* lv_vlm_free is safe on it whatever fails */
    lv_wordpiece *tok = NULL;
    LV_TRY(lv_wordpiece_load_dir(&tok, dir));
    lv_vlm_config vc;
    lv_vlm_config_default(&vc, 3, c, (int)lv_wordpiece_vocab_size(tok));
    /* D = H: load the config once to learn H, then the shared set-up with that D. */
    lv_status s = lv_bert_load_hf_config(&vc.text, dir);
    if (s == LV_OK) s = lv_vlm_text_config_from_hf(&vc, dir, vc.text.hidden);
    if (s != LV_OK) {
        lv_wordpiece_free(tok);
        return s;
    }
    vc.dim = vc.text.hidden;
    LV_TRY(lv_vlm_create(m, be, &vc, classes, tok, prompts, 0, 1)); /* m owns tok now */
    return lv_vlm_load_text_hf(m, dir);
}

static void check_model(lv_st_file *fx, const char *dir) {
    const char *name = lv_st_metadata(fx, "model_name");
    printf("model %s (%s), pooling %s, Normalize %s\n", name ? name : "?", lv_st_metadata(fx, "source"),
           lv_st_metadata(fx, "pooling"), lv_st_metadata(fx, "normalize"));

    char vhex[17];
    const char *want_v = lv_st_metadata(fx, "vocab_fnv1a64");
    lv_test_true(file_fnv_hex(dir, "vocab.txt", vhex) && want_v && strcmp(want_v, vhex) == 0,
                 "vocab.txt is the one the fixture was made with");

    lv_prompt_set prompts;
    if (!lv_test_true(lv_prompts_default(&prompts) == LV_OK, "default prompts")) return;
    char *tsv = lv_prompts_to_tsv(&prompts);
    const char *want_tsv = lv_st_metadata(fx, "prompts_tsv");
    lv_test_true(tsv && want_tsv && strcmp(tsv, want_tsv) == 0,
                 "the fixture holds today's default prompts (else rerun tests/fixtures_real_text.py)");
    free(tsv);

    char class_list[1024];
    const char *cl = lv_st_metadata(fx, "classes");
    snprintf(class_list, sizeof class_list, "%s", cl ? cl : "");
    const char *classes[MAX_CLASSES];
    int c = split_classes(class_list, classes);

    lv_backend *be = lv_test_cpu_backend();
    lv_vlm m;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lv_status s = load_like_train(&m, be, dir, classes, c, &prompts);
    lv_prompts_free(&prompts);
    if (!lv_test_true(s == LV_OK, "the folder loads as --text-model loads it")) {
        fprintf(stderr, "%s\n", lv_error_message());
        lv_vlm_free(&m);
        lv_backend_destroy(be);
        return;
    }
    printf("loaded in %.2f s: H %d, %d layers, vocab %d, pooling %s, prompts at %d tokens\n", seconds_since(&t0),
           m.cfg.text.hidden, m.cfg.text.layers, m.cfg.text.vocab, lv_bert_pooling_name(m.cfg.text.pooling),
           m.cfg.text_max_len);
    const char *want_pool = lv_st_metadata(fx, "pooling"), *want_len = lv_st_metadata(fx, "max_len");
    lv_test_true(want_pool && strcmp(want_pool, lv_bert_pooling_name(m.cfg.text.pooling)) == 0,
                 "the pooling the engine read from the folder is the one HF's reference used");
    lv_test_true(want_len && atoi(want_len) == m.cfg.text_max_len, "prompt length as in the fixture");

    int np = m.prompts.count, L = m.cfg.text_max_len, H = m.cfg.text.hidden;
    size_t nt = (size_t)np * L, nids = 0, nmask = 0, npool = 0, nemb = 0, ncls = 0;
    int *want_ids = lv_test_fixture_i32(fx, "ids", &nids), *want_mask = lv_test_fixture_i32(fx, "mask", &nmask);
    float *want_pool_x = lv_test_fixture_f32(fx, "pooled", &npool);
    float *want_emb = lv_test_fixture_f32(fx, "embeddings", &nemb);
    float *want_cls = lv_test_fixture_f32(fx, "class_embeddings", &ncls);
    int *ids = malloc(nt * sizeof *ids), *mask = malloc(nt * sizeof *mask);
    float *eye = calloc((size_t)H * H, sizeof *eye), *pooled = malloc((size_t)np * H * sizeof *pooled);
    float *emb = malloc((size_t)np * H * sizeof *emb), *cls = malloc((size_t)c * H * sizeof *cls);
    if (lv_test_true(want_ids && want_mask && want_pool_x && want_emb && want_cls && nids == nt && nmask == nt &&
                         npool == (size_t)np * H && nemb == npool && ncls == (size_t)c * H,
                     "fixture shapes match the model") &&
        lv_test_true(ids && mask && eye && pooled && emb && cls, "memory")) {
        for (int i = 0; i < H; i++) eye[(size_t)i * H + i] = 1.0f;
        be->copy_h2d(be, m.tbuf.params + m.text.proj_w, eye, (size_t)H * H * sizeof *eye);
        lv_vlm_text_changed(&m);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        s = lv_vlm_class_embeddings(&m, cls);
        double enc_s = seconds_since(&t0);
        be->copy_d2h(be, ids, m.prompt_ids, nt * sizeof *ids);
        be->copy_d2h(be, mask, m.prompt_mask, nt * sizeof *mask);
        be->copy_d2h(be, pooled, m.tacts.pooled.x, (size_t)np * H * sizeof *pooled);
        be->copy_d2h(be, emb, m.U, (size_t)np * H * sizeof *emb);
        if (s == LV_OK) s = be->sync(be);
        if (lv_test_true(s == LV_OK, "class embeddings computed")) {
            printf("%d prompts encoded in %.2f s\n", np, enc_s);
            size_t bad = 0, first = 0;
            for (size_t i = 0; i < nt; i++)
                if (ids[i] != want_ids[i] || mask[i] != want_mask[i]) {
                    if (!bad) first = i;
                    bad++;
                }
            if (bad)
                lv_test_fail("token ids: %zu of %zu differ from HF's; first: prompt %zu position %zu, %d vs HF %d",
                             bad, nt, first / (size_t)L, first % (size_t)L, ids[first], want_ids[first]);
            else lv_test_pass("token ids and masks of all %d prompts equal HF's BertTokenizer", np);
            double e1 = lv_test_close("sentence embeddings (pooled)", pooled, want_pool_x, (size_t)np * H, REL_TOL);
            double e1r = row_rel_error(pooled, want_pool_x, np, H);
            double e2 = lv_test_close("normalised embeddings", emb, want_emb, (size_t)np * H, REL_TOL);
            double e3 = lv_test_close("class embeddings", cls, want_cls, (size_t)c * H, REL_TOL);
            lv_test_true(e1r <= REL_TOL, "pooled embeddings, every prompt on its own scale");
            printf("max relative error vs HF (float64): pooled %.2e (worst prompt %.2e), normalised %.2e, "
                   "class %.2e (tolerance %.0e)\n", e1, e1r, e2, e3, REL_TOL);
        } else {
            fprintf(stderr, "%s\n", lv_error_message());
        }
    }
    free(want_ids);
    free(want_mask);
    free(want_pool_x);
    free(want_emb);
    free(want_cls);
    free(ids);
    free(mask);
    free(eye);
    free(pooled);
    free(emb);
    free(cls);
    lv_vlm_free(&m);
    lv_backend_destroy(be);
}

int main(void) {
    const char *dir = getenv("LV_TEXT_MODEL_DIR");
    if (!dir || !*dir)
        return lv_test_skip("LV_TEXT_MODEL_DIR not set (a published model folder, e.g. all-MiniLM-L6-v2: "
                            "docs/text-encoder.md, \"Using a published model\")");
    char whex[17];
    if (!file_fnv_hex(dir, "model.safetensors", whex))
        return lv_test_skip("no readable model.safetensors under LV_TEXT_MODEL_DIR (a pytorch_model.bin "
                            "must be converted first: docs/text-encoder.md)");
    lv_st_file *fx = find_fixture(whex);
    if (!fx) {
        fprintf(stderr, "model.safetensors hashes to %s\n", whex);
        return lv_test_skip("no tests/fixtures/real_text_*.safetensors for this model (make one with "
                            "tests/fixtures_real_text.py DIR --name NAME)");
    }
    check_model(fx, dir);
    lv_st_close(fx);
    return lv_test_summary();
}
