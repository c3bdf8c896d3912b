/* HF folder import for the BERT encoder: config.json and model.safetensors, with the name
 * variants real checkpoints use ("bert." prefix, LayerNorm gamma/beta) mapped onto our
 * layout. Host memory only: the caller uploads. No tokenizer files here (vocab.txt is the
 * tokenizer's). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bert.h"

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* HF name -> our name in out; returns 0 when the tensor is not ours to load (heads, the
 * pooler, the position_ids buffer), 1 when it is, -1 when the name is too long. */
static int map_name(const char *name, char *out, size_t cap) {
    const char *base = starts_with(name, "bert.") ? name + 5 : name;
    if (strcmp(base, "embeddings.position_ids") == 0) return 0;
    if (!starts_with(base, "embeddings.") && !starts_with(base, "encoder.")) return 0;
    size_t n = strlen(base);
    if (n + 2 >= cap) return -1; /* room for "weight" replacing "gamma" */
    memcpy(out, base, n + 1);
    /* TF-era checkpoints (bert-base-uncased) name LayerNorm's affine gamma/beta; HF's loader
     * renames them the same way. */
    if (ends_with(out, ".gamma")) strcpy(out + n - 5, "weight");
    else if (ends_with(out, ".beta")) strcpy(out + n - 4, "bias");
    return 1;
}

lv_status lv_bert_load_hf_weights(const lv_bert *m, float *params, const lv_st_file *f) {
    const char *path = lv_st_path(f);
    const lv_param_layout *l = &m->params;
    int *from = malloc((size_t)l->count * sizeof *from); /* file index that filled each spec */
    LV_CHECK_ALLOC(from);
    for (int i = 0; i < l->count; i++) from[i] = -1;
    lv_status s = LV_OK;
    for (int i = 0; i < lv_st_count(f) && s == LV_OK; i++) {
        const lv_st_tensor *t = lv_st_at(f, i);
        char name[LV_PARAM_NAME_MAX];
        int r = map_name(t->name, name, sizeof name);
        if (r == 0) continue;
        const lv_param_spec *p = r > 0 ? lv_layout_find(l, name) : NULL;
        if (!p) {
            s = lv_errorf(LV_ERR_INPUT, "%s: unexpected tensor \"%s\": not part of a BertModel with "
                          "%d layers (does config.json match these weights?)", path, t->name, m->cfg.layers);
            break;
        }
        int k = (int)(p - l->specs);
        if (from[k] >= 0) {
            s = lv_errorf(LV_ERR_INPUT, "%s: tensor \"%s\" given twice (as \"%s\" and \"%s\")", path,
                          p->name, lv_st_at(f, from[k])->name, t->name);
            break;
        }
        from[k] = i;
        s = lv_st_read_f32(f, t->name, params + p->offset, p->ndim, p->shape);
    }
    for (int k = 0; k < l->count && s == LV_OK; k++) {
        if (from[k] >= 0 || strcmp(l->specs[k].name, "proj.weight") == 0) continue;
        int missing = 0;
        for (int j = k; j < l->count; j++)
            missing += from[j] < 0 && strcmp(l->specs[j].name, "proj.weight") != 0;
        s = lv_errorf(LV_ERR_INPUT, "%s: missing tensor \"%s\" (%d of the model's %d tensors missing; "
                      "accepted: HF BertModel names, optionally under \"bert.\")", path,
                      l->specs[k].name, missing, l->count - (m->cfg.dim > 0));
    }
    free(from);
    return s;
}

static lv_status join(char *out, size_t cap, const char *dir, const char *file) {
    int n = snprintf(out, cap, "%s/%s", dir, file);
    LV_CHECK(n > 0 && (size_t)n < cap, LV_ERR_INPUT, "path too long: %s/%s", dir, file);
    return LV_OK;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

lv_status lv_bert_load_hf_config(lv_bert_config *cfg, const char *dir) {
    char path[4096];
    LV_TRY(join(path, sizeof path, dir, "config.json"));
    LV_CHECK(exists(path), LV_ERR_INPUT, "%s: no config.json in the text model folder (%s)", dir, strerror(errno));
    return lv_bert_config_load(cfg, path);
}

lv_status lv_bert_load_hf_folder(const lv_bert *m, float *params, const char *dir) {
    char path[4096], bin[4096];
    LV_TRY(join(path, sizeof path, dir, "model.safetensors"));
    if (!exists(path)) {
        LV_TRY(join(bin, sizeof bin, dir, "pytorch_model.bin"));
        if (exists(bin))
            /* clone(): BertForPreTraining files tie cls.predictions.decoder to the word
             * embeddings, and save_file refuses tensors that share memory. */
            return lv_errorf(LV_ERR_INPUT, "%s: only pytorch_model.bin (a Python pickle, not read "
                             "here); convert it once in Python: safetensors.torch.save_file("
                             "{k: v.clone() for k, v in torch.load(\"pytorch_model.bin\", "
                             "map_location=\"cpu\").items()}, \"model.safetensors\")", dir);
        return lv_errorf(LV_ERR_INPUT, "%s: no model.safetensors in the text model folder", dir);
    }
    lv_st_file *f = NULL;
    LV_TRY(lv_st_open(&f, path));
    lv_status s = lv_bert_load_hf_weights(m, params, f);
    lv_st_close(f);
    return s;
}
