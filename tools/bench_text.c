/* liver-vlm bench text: the BERT text encoder alone, as it runs when it trains (image-report
 * pretraining, --train-text): forward, backward from a fixed gradient of the projected
 * output, AdamW over every tensor; or the forward alone. Fixed-length sequences of random
 * token ids (no padding), so bench/torch_text.py can run the very same shapes. Presets cover
 * the built-in small encoder and the published sizes users load (MiniLM-L6, BERT-base). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/params.h"
#include "core/rng.h"
#include "encoders/bert.h"
#include "tools/args.h"
#include "tools/bench.h"
#include "train/optim.h"

#define TEXT_TARGET_S 6.0 /* auto step count: about this much measuring */
#define TEXT_MAX_STEPS 10000

typedef struct text_opts {
    int train;
    const char *device, *precision, *preset;
    int batch, seq, dim, steps, warmup, json;
} text_opts;

static lv_status preset_config(lv_bert_config *c, const char *name, int dim) {
    memset(c, 0, sizeof *c);
    if (!strcmp(name, "small")) {
        lv_bert_config_small(c, 30522, dim);
    } else {
        int minilm = !strcmp(name, "minilm");
        LV_CHECK(minilm || !strcmp(name, "base"), LV_ERR_USAGE, "--preset: expected small, minilm or base, got '%s'",
                 name);
        c->vocab = 30522;
        c->hidden = minilm ? 384 : 768;
        c->layers = minilm ? 6 : 12;
        c->heads = 12;
        c->intermediate = minilm ? 1536 : 3072;
        c->max_position = 512;
        c->type_vocab = 2;
        c->ln_eps = 1e-12f;
        c->init_range = 0.02f;
    }
    /* CLS pooling everywhere: the pooled row is what the projection sees either way, and the
     * PyTorch baseline does the same. */
    c->pooling = LV_BERT_POOL_CLS;
    c->dim = dim;
    return lv_bert_config_check(c);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: liver-vlm bench text [--train|--eval] [--preset small|minilm|base] [--device D]\n"
            "                            [--precision fp32|tf32] [--batch N] [--seq L] [--dim D]\n"
            "                            [--steps N] [--warmup N] [--json]\n"
            "\n"
            "The BERT text encoder alone. --train (default): zero gradients, forward, backward from a\n"
            "fixed gradient of the projected output, AdamW over every tensor, sync; --eval: forward\n"
            "and sync. Random token ids, every sequence exactly L tokens (no padding), CLS pooling.\n"
            "Presets: small (the built-in encoder: 2 layers, H 128), minilm (all-MiniLM-L6-v2's\n"
            "shape: 6 layers, H 384, 12 heads, FFN 1536), base (bert-base: 12 layers, H 768, FFN\n"
            "3072); random weights. bench/torch_text.py runs the same in PyTorch.\n"
            "\n"
            "  --preset P   small, minilm or base                     [minilm]\n"
            "  --device D   auto, cpu or cuda                         [auto]\n"
            "  --precision  fp32 or tf32                              [backend's]\n"
            "  --batch N    sequences per step, 1..4096               [64]\n"
            "  --seq L      tokens per sequence, 2..512               [32]\n"
            "  --dim D      projection output, 1..4096                [128]\n"
            "  --steps N    timed steps; 0 = about %.0f s              [0]\n"
            "  --warmup N   untimed steps first, 0..100               [2]\n"
            "  --json       one JSON object\n",
            TEXT_TARGET_S);
}

static lv_status parse(int argc, char **argv, text_opts *o, int *help) {
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            return LV_OK;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--train")) {
            o->train = 1;
        } else if (!strcmp(a, "--eval")) {
            o->train = 0;
        } else if (!strcmp(a, "--preset") || !strcmp(a, "--device") || !strcmp(a, "--precision")) {
            LV_CHECK(v, LV_ERR_USAGE, "%s needs a value (see liver-vlm bench text --help)", a);
            if (!strcmp(a, "--preset")) o->preset = v;
            else if (!strcmp(a, "--device")) o->device = v;
            else {
                LV_CHECK(!strcmp(v, "fp32") || !strcmp(v, "tf32"), LV_ERR_USAGE,
                         "--precision: expected fp32 or tf32, got '%s'", v);
                o->precision = v;
            }
            i++;
        } else if (!strcmp(a, "--batch")) {
            LV_TRY(lv_arg_int(a, v, 1, 4096, &o->batch));
            i++;
        } else if (!strcmp(a, "--seq")) {
            LV_TRY(lv_arg_int(a, v, 2, 512, &o->seq));
            i++;
        } else if (!strcmp(a, "--dim")) {
            LV_TRY(lv_arg_int(a, v, 1, 4096, &o->dim));
            i++;
        } else if (!strcmp(a, "--steps")) {
            LV_TRY(lv_arg_int(a, v, 0, TEXT_MAX_STEPS, &o->steps));
            i++;
        } else if (!strcmp(a, "--warmup")) {
            LV_TRY(lv_arg_int(a, v, 0, 100, &o->warmup));
            i++;
        } else {
            return lv_errorf(LV_ERR_USAGE, "bench text: unknown option '%s' (see liver-vlm bench text --help)", a);
        }
    }
    return LV_OK;
}

typedef struct text_bench {
    lv_backend *be;
    lv_bert m;
    int built;
    lv_bert_acts acts;
    int have_acts;
    lv_param_buffers buf;
    lv_optim_plan plan;
    lv_optim_config oc;
    int *ids, *mask; /* device [B, L] */
    float *gout;     /* device [B, D]: the fixed output gradient */
    float *probe;    /* host copy of one output, to see the numbers stay finite */
} text_bench;

static lv_status setup(text_bench *t, const text_opts *o) {
    lv_backend *be = t->be;
    lv_bert_config cfg;
    LV_TRY(preset_config(&cfg, o->preset, o->dim));
    LV_CHECK(o->seq <= cfg.max_position, LV_ERR_USAGE, "--seq %d: the %s preset takes at most %d tokens", o->seq,
             o->preset, cfg.max_position);
    LV_TRY(lv_bert_build(&t->m, &cfg));
    t->built = 1;
    size_t n = t->m.params.total, tokens = (size_t)o->batch * (size_t)o->seq;
    LV_TRY(lv_param_buffers_alloc(&t->buf, be, n, o->train ? LV_WANT_GRADS | LV_WANT_M | LV_WANT_V : 0));
    float *host = malloc(n * sizeof *host);
    int *ids = malloc(tokens * sizeof *ids), *mask = malloc(tokens * sizeof *mask);
    float *g = malloc((size_t)o->batch * (size_t)o->dim * sizeof *g);
    lv_status s = host && ids && mask && g ? LV_OK : lv_errorf(LV_ERR_RUNTIME, "bench text: out of memory");
    if (s == LV_OK) {
        lv_bert_init_host(&t->m, host, 1);
        /* Ids clear of the special tokens (0..999 in BERT vocabularies), 101 = [CLS] first. */
        for (size_t k = 0; k < tokens; k++) {
            ids[k] = k % (size_t)o->seq ? 1000 + (int)(lv_rng_u32(3, 0, k) % (uint32_t)(cfg.vocab - 1000)) : 101;
            mask[k] = 1;
        }
        for (size_t k = 0; k < (size_t)o->batch * (size_t)o->dim; k++) g[k] = 0.01f * lv_rng_normal(4, 0, k);
        be->copy_h2d(be, t->buf.params, host, n * sizeof *host);
        t->ids = be->alloc(be, tokens * sizeof(int));
        t->mask = be->alloc(be, tokens * sizeof(int));
        t->gout = be->alloc(be, (size_t)o->batch * (size_t)o->dim * sizeof(float));
        if (!t->ids || !t->mask || !t->gout) s = lv_errorf(LV_ERR_RUNTIME, "%s backend: out of memory", be->name);
    }
    if (s == LV_OK) {
        be->copy_h2d(be, t->ids, ids, tokens * sizeof(int));
        be->copy_h2d(be, t->mask, mask, tokens * sizeof(int));
        be->copy_h2d(be, t->gout, g, (size_t)o->batch * (size_t)o->dim * sizeof(float));
        s = lv_bert_check_ids(&t->m, ids, tokens);
    }
    free(host);
    free(ids);
    free(mask);
    free(g);
    LV_TRY(s);
    LV_TRY(lv_bert_acts_alloc(&t->acts, &t->m, be, o->batch, o->seq, o->train));
    t->have_acts = 1;
    if (o->train) {
        lv_optim_config_default(&t->oc);
        LV_TRY(lv_optim_plan_build(&t->plan, &t->m.params));
    }
    return be->sync(be);
}

static void teardown(text_bench *t) {
    lv_backend *be = t->be;
    void *bufs[] = {t->ids, t->mask, t->gout};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->free(be, bufs[i]);
    lv_optim_plan_free(&t->plan);
    if (t->have_acts) lv_bert_acts_free(&t->acts);
    lv_param_buffers_free(&t->buf);
    if (t->built) lv_bert_free(&t->m);
}

static lv_status step(text_bench *t, const text_opts *o, int64_t k, float *probe) {
    lv_backend *be = t->be;
    if (o->train) lv_param_buffers_zero_grads(&t->buf);
    lv_bert_forward(&t->m, &t->acts, t->buf.params, t->ids, t->mask, o->batch);
    if (o->train) {
        lv_bert_backward(&t->m, &t->acts, t->buf.params, t->buf.grads, t->gout, NULL);
        lv_optim_step(be, &t->plan, &t->buf, &t->oc, k, t->oc.lr);
    }
    be->copy_d2h(be, probe, t->acts.out.x, sizeof *probe);
    return be->sync(be);
}

static lv_status run(const text_opts *o, text_bench *t, double *ms, int *steps_out, float *probe) {
    int64_t k = 0;
    double once = 0;
    int untimed = o->warmup > 0 ? o->warmup : o->steps <= 0;
    for (int i = 0; i < untimed; i++, k++) {
        double t0 = lv_now_s();
        LV_TRY(step(t, o, k, probe));
        once = lv_now_s() - t0;
    }
    int steps = o->steps;
    if (steps <= 0) {
        steps = once > 0 ? (int)(TEXT_TARGET_S / once) : 200;
        steps = steps < 5 ? 5 : steps > 200 ? 200 : steps;
    }
    double *times = malloc((size_t)steps * sizeof *times);
    LV_CHECK_ALLOC(times);
    lv_status s = LV_OK;
    for (int i = 0; i < steps && s == LV_OK; i++, k++) {
        double t0 = lv_now_s();
        s = step(t, o, k, probe);
        times[i] = lv_now_s() - t0;
    }
    if (s == LV_OK) {
        *ms = 1e3 * lv_bench_median(times, steps);
        *steps_out = steps;
        if (!isfinite(*probe)) s = lv_errorf(LV_ERR_RUNTIME, "bench text: the output became %g", (double)*probe);
    }
    free(times);
    return s;
}

static lv_status report(const text_opts *o, const text_bench *t, double ms, int steps) {
    double seq_s = o->batch / (ms * 1e-3);
    const lv_bert_config *c = &t->m.cfg;
    if (!o->json) {
        printf("bench text: %s preset (%d layers, H %d, %d heads, FFN %d, %zu parameters) on %s (%s, %d threads)\n",
               o->preset, c->layers, c->hidden, c->heads, c->intermediate, t->m.params.total, t->be->name,
               t->be->tf32 ? "tf32" : "fp32", t->be->threads);
        printf("  %s, batch %d x %d tokens: %d steps, median %.2f ms/step = %.1f sequences/s (%.0f tokens/s)\n",
               o->train ? "forward + backward + AdamW" : "forward", o->batch, o->seq, steps, ms, seq_s,
               seq_s * o->seq);
        return LV_OK;
    }
    cJSON *r = cJSON_CreateObject();
    LV_CHECK(r, LV_ERR_RUNTIME, "bench text: out of memory building JSON");
    cJSON_AddStringToObject(r, "benchmark", o->train ? "text_train" : "text_eval");
    cJSON_AddStringToObject(r, "preset", o->preset);
    cJSON_AddStringToObject(r, "device", t->be->name);
    cJSON_AddStringToObject(r, "precision", t->be->tf32 ? "tf32" : "fp32");
    cJSON_AddNumberToObject(r, "threads", t->be->threads);
    cJSON_AddNumberToObject(r, "batch", o->batch);
    cJSON_AddNumberToObject(r, "seq", o->seq);
    cJSON_AddNumberToObject(r, "layers", c->layers);
    cJSON_AddNumberToObject(r, "hidden", c->hidden);
    cJSON_AddNumberToObject(r, "params", (double)t->m.params.total);
    cJSON_AddNumberToObject(r, "steps", steps);
    cJSON_AddNumberToObject(r, "ms_per_step", ms);
    cJSON_AddNumberToObject(r, "sequences_per_s", seq_s);
    cJSON_AddNumberToObject(r, "tokens_per_s", seq_s * o->seq);
    char *txt = cJSON_Print(r);
    cJSON_Delete(r);
    LV_CHECK(txt, LV_ERR_RUNTIME, "bench text: out of memory printing JSON");
    printf("%s\n", txt);
    cJSON_free(txt);
    return LV_OK;
}

lv_status lv_bench_text(int argc, char **argv) {
    text_opts o = {1, "auto", NULL, "minilm", 64, 32, 128, 0, 2, 0};
    int help = 0;
    LV_TRY(parse(argc, argv, &o, &help));
    if (help) {
        usage(stdout);
        return LV_OK;
    }
    text_bench t;
    memset(&t, 0, sizeof t);
    LV_TRY(lv_backend_create(&t.be, o.device));
    lv_status s = o.precision ? lv_backend_set_precision(t.be, o.precision) : LV_OK;
    double ms = 0;
    int steps = 0;
    float probe = 0;
    if (s == LV_OK) s = setup(&t, &o);
    if (s == LV_OK) s = run(&o, &t, &ms, &steps, &probe);
    if (s == LV_OK) s = report(&o, &t, ms, steps);
    teardown(&t);
    lv_backend_destroy(t.be);
    return s == LV_OK ? LV_OK : lv_error_wrap(s, "bench text");
}
