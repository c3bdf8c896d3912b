/* The settings table of `liver-vlm train` and everything driven by it: defaults, JSON in
 * and out, CLI flags, layering and the --resume rules (see config.h). Adding a setting is
 * one struct field, one table row and one default. No file other than config files is read
 * here and nothing is trained. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/safetensors_utf8.h"

typedef enum key_type { T_INT, T_I64, T_U64, T_NUM, T_BOOL, T_PATH, T_CHOICE } key_type;

typedef struct key_desc {
    const char *key;
    key_type type;
    size_t off;
    double lo, hi;                /* numbers: inclusive range */
    const char *const *choices;   /* T_CHOICE: NULL-terminated, stored as the index */
    const char *meta;             /* value placeholder in --help */
    const char *help;
    int resumable;                /* may differ from the run's config.json on --resume */
} key_desc;

static const char *const device_names[] = {"auto", "cpu", "cuda", NULL};
static const char *const precision_names[] = {"auto", "fp32", "tf32", NULL}; /* LV_TRAIN_PRECISION_* */
static const char *const comm_names[] = {"auto", "nccl", "mpi", NULL};        /* LV_TRAIN_COMM_* */
static const char *const device_data_names[] = {"auto", "on", "off", NULL};   /* LV_TRAIN_DEVICE_DATA_* */
static const char *const optimizer_names[] = {"adamw", "sgd", NULL}; /* lv_optimizer_kind order */
static const char *const head_names[] = {"vlm", "linear", NULL};     /* lv_head_kind order */
static const char *const objective_names[] = {"classify", "phase-shuffle", "clip", NULL}; /* LV_TRAIN_OBJECTIVE_* */

#define OFF(f) offsetof(lv_train_config, f)
static const key_desc keys[] = {
    {"data", T_PATH, OFF(data), 0, 0, NULL, "F.h5", "training data file (required)", 0},
    {"out", T_PATH, OFF(out), 0, 0, NULL, "RUN/", "run directory to write (required)", 0},
    {"val", T_PATH, OFF(val), 0, 0, NULL, "V.h5", "validation data file (default: a patient-level split of --data)", 0},
    {"device", T_CHOICE, OFF(device), 0, 0, device_names, "D", "auto (CUDA when present), cpu or cuda", 1},
    {"precision", T_CHOICE, OFF(precision), 0, 0, precision_names, "P",
     "fp32, or tf32 tensor-core GEMMs/convolutions on CUDA (the CPU computes fp32 either way); auto: the "
     "device's default", 0},
    {"device_data", T_CHOICE, OFF(device_data), 0, 0, device_data_names, "M",
     "gather, augment and normalise batches on the device from data uploaded once: on, off (host loader), auto "
     "(on with CUDA when the raw data take <= half the free device memory)", 1},
    {"epochs", T_INT, OFF(epochs), 1, 1000000, NULL, "N", "epochs (on --resume: the new total)", 1},
    {"batch", T_INT, OFF(batch), 1, 65536, NULL, "N", "batch size per process", 0},
    {"sync_bn", T_BOOL, OFF(sync_bn), 0, 0, NULL, NULL,
     "synchronized BatchNorm: statistics over every process's batch (mpirun; no-op for one process)", 0},
    {"comm", T_CHOICE, OFF(comm), 0, 0, comm_names, "C",
     "gradient all-reduce: nccl (GPU to GPU), mpi (through host memory; ranks may share a GPU), auto (nccl "
     "when every rank has its own GPU and there are several ranks)", 1},
    {"comm_timeout", T_NUM, OFF(comm_timeout), 1e-3, 1e6, NULL, "SECONDS",
     "NCCL watchdog: a collective unfinished after this long aborts the run on every rank", 1},
    {"lr", T_NUM, OFF(lr), 0, 1e9, NULL, "X", "peak learning rate", 0},
    {"min_lr", T_NUM, OFF(min_lr), 0, 1e9, NULL, "X", "floor of the cosine schedule", 0},
    {"weight_decay", T_NUM, OFF(weight_decay), 0, 10, NULL, "X", "decoupled weight decay (not on BN, biases, logit scale)", 0},
    {"optimizer", T_CHOICE, OFF(optimizer), 0, 0, optimizer_names, "O", "adamw or sgd", 0},
    {"momentum", T_NUM, OFF(momentum), 0, 1, NULL, "X", "SGD momentum", 0},
    {"warmup_epochs", T_NUM, OFF(warmup_epochs), 0, 1e6, NULL, "X", "linear warmup length in epochs", 0},
    {"warmup_steps", T_I64, OFF(warmup_steps), 0, 1e12, NULL, "N", "linear warmup length in steps", 0},
    {"clip_norm", T_NUM, OFF(clip_norm), 0, 1e9, NULL, "X", "clip the global gradient 2-norm to X; 0 = off", 0},
    {"seed", T_U64, OFF(seed), 0, LV_TRAIN_SEED_MAX, NULL, "N", "seed of init, split, shuffle and augmentation", 0},
    {"objective", T_CHOICE, OFF(objective), 0, 0, objective_names, "O",
     "classify (lesion classes), phase-shuffle (self-supervised: predict the permutation of the phases; "
     "pretrains an image encoder for --init-image) or clip (image-report contrastive; needs /reports)", 0},
    {"head", T_CHOICE, OFF(head), 0, 0, head_names, "H", "vlm (prompts, cosine) or linear (CNN baseline)", 0},
    {"dim", T_INT, OFF(dim), 1, 4096, NULL, "D", "joint embedding dimension", 0},
    {"train_text", T_BOOL, OFF(train_text), 0, 0, NULL, NULL, "train the text encoder too (default: projection only)", 0},
    {"text_model", T_PATH, OFF(text_model), 0, 0, NULL, "DIR", "HF BERT folder (default: small random encoder)", 0},
    {"prompts", T_PATH, OFF(prompts), 0, 0, NULL, "FILE", "class prompts, CLASS<TAB>prompt lines (default: built in)", 0},
    {"init_image", T_PATH, OFF(init_image), 0, 0, NULL, "F", "torchvision resnet18 weights (.safetensors)", 0},
    {"size", T_INT, OFF(size), 0, 4096, NULL, "S", "input ROI side; 0 = the data's height (crop when smaller)", 0},
    {"augment", T_BOOL, OFF(augment), 0, 0, NULL, NULL, "training augmentation (--no-augment: off)", 0},
    {"balanced", T_BOOL, OFF(balanced), 0, 0, NULL, NULL, "class-balanced sampling", 0},
    {"val_fraction", T_NUM, OFF(val_fraction), 0, 0.9, NULL, "X", "patient fraction held out when there is no --val", 0},
    {"shots", T_INT, OFF(shots), 0, 1000000, NULL, "K", "few-shot: K lesions per class from the training part; 0 = all", 0},
    {"threads", T_INT, OFF(threads), 0, 1024, NULL, "N", "CPU threads; 0 = every core", 1},
    {"log_every", T_INT, OFF(log_every), 1, 1e9, NULL, "N", "plain progress line every N steps (off a terminal)", 0},
};
#undef OFF
enum { NKEYS = (int)(sizeof keys / sizeof keys[0]) };

void lv_train_config_default(lv_train_config *c) {
    memset(c, 0, sizeof *c);
    c->device = LV_TRAIN_DEVICE_AUTO;
    c->epochs = 10;
    c->batch = 32;
    c->comm_timeout = 600;
    c->lr = 1e-3;
    c->weight_decay = 0.01;
    c->optimizer = 0; /* adamw */
    c->momentum = 0.9;
    c->clip_norm = 1.0;
    c->seed = 1;
    c->head = 0; /* vlm */
    c->dim = 128;
    c->augment = 1;
    c->val_fraction = 0.2;
    c->log_every = 10;
}

static char **path_field(lv_train_config *c, int k) { return (char **)((char *)c + keys[k].off); }
static const char *path_value(const lv_train_config *c, int k) {
    return *(char *const *)((const char *)c + keys[k].off);
}

void lv_train_config_free(lv_train_config *c) {
    for (int k = 0; k < NKEYS; k++)
        if (keys[k].type == T_PATH) free(*path_field(c, k));
    memset(c, 0, sizeof *c);
}

static lv_status set_path(lv_train_config *c, int k, const char *v) {
    char *dup = NULL;
    if (v) {
        dup = strdup(v);
        LV_CHECK_ALLOC(dup);
    }
    free(*path_field(c, k));
    *path_field(c, k) = dup;
    return LV_OK;
}

lv_status lv_train_config_copy(lv_train_config *dst, const lv_train_config *src) {
    *dst = *src;
    for (int k = 0; k < NKEYS; k++)
        if (keys[k].type == T_PATH) *path_field(dst, k) = NULL;
    for (int k = 0; k < NKEYS; k++)
        if (keys[k].type == T_PATH) LV_TRY(set_path(dst, k, path_value(src, k)));
    return LV_OK;
}

int lv_train_config_key_count(void) { return NKEYS; }
const char *lv_train_config_key_name(int k) { return k >= 0 && k < NKEYS ? keys[k].key : NULL; }
int lv_train_config_key_index(const char *key) {
    for (int k = 0; k < NKEYS; k++)
        if (!strcmp(keys[k].key, key)) return k;
    return -1;
}
const char *lv_train_device_name(int device) {
    return device >= 0 && device <= LV_TRAIN_DEVICE_CUDA ? device_names[device] : "?";
}
const char *lv_train_precision_name(int precision) {
    return precision >= 0 && precision <= LV_TRAIN_PRECISION_TF32 ? precision_names[precision] : "?";
}
const char *lv_train_comm_name(int comm) {
    return comm >= 0 && comm <= LV_TRAIN_COMM_MPI ? comm_names[comm] : "?";
}

/* The flag of key k ("--min-lr") in a static buffer per call site's lifetime. */
static const char *flag_of(int k, char *buf, size_t cap) {
    snprintf(buf, cap, "--%s", keys[k].key);
    for (char *p = buf + 2; *p; p++)
        if (*p == '_') *p = '-';
    return buf;
}

/* ---- typed access -------------------------------------------------------------------- */

static void *field(lv_train_config *c, int k) { return (char *)c + keys[k].off; }
static const void *cfield(const lv_train_config *c, int k) { return (const char *)c + keys[k].off; }

static double num_value(const lv_train_config *c, int k) {
    const void *f = cfield(c, k);
    switch (keys[k].type) {
    case T_INT: case T_BOOL: case T_CHOICE: return *(const int *)f;
    case T_I64: return (double)*(const int64_t *)f;
    case T_U64: return (double)*(const uint64_t *)f;
    case T_NUM: return *(const double *)f;
    default: return 0;
    }
}

static void format_value(const lv_train_config *c, int k, char *buf, size_t cap) {
    const void *f = cfield(c, k);
    switch (keys[k].type) {
    case T_PATH: snprintf(buf, cap, "%s", path_value(c, k) ? path_value(c, k) : "(none)"); break;
    case T_CHOICE: snprintf(buf, cap, "%s", keys[k].choices[*(const int *)f]); break;
    case T_BOOL: snprintf(buf, cap, "%s", *(const int *)f ? "on" : "off"); break;
    case T_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)f); break;
    case T_I64: snprintf(buf, cap, "%lld", (long long)*(const int64_t *)f); break;
    case T_INT: snprintf(buf, cap, "%d", *(const int *)f); break;
    case T_NUM: snprintf(buf, cap, "%g", *(const double *)f); break;
    }
}

/* Stores a number already checked to be in range (and integral for integer types). */
static void store_num(lv_train_config *c, int k, double v, uint64_t u) {
    void *f = field(c, k);
    switch (keys[k].type) {
    case T_INT: case T_BOOL: case T_CHOICE: *(int *)f = (int)v; break;
    case T_I64: *(int64_t *)f = (int64_t)v; break;
    case T_U64: *(uint64_t *)f = u; break;
    case T_NUM: *(double *)f = v; break;
    default: break;
    }
}

static int is_integer_type(key_type t) { return t == T_INT || t == T_I64 || t == T_U64; }

static int choice_index(int k, const char *v) {
    for (int i = 0; keys[k].choices[i]; i++)
        if (!strcmp(keys[k].choices[i], v)) return i;
    return -1;
}

static void choice_list(int k, char *buf, size_t cap) {
    buf[0] = '\0';
    for (int i = 0; keys[k].choices[i]; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s", i ? "|" : "", keys[k].choices[i]);
    }
}

/* ---- JSON ---------------------------------------------------------------------------- */

static const char *json_type_name(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "an invalid value";
}

static lv_status json_value(lv_train_config *c, int k, const cJSON *v, const char *where) {
    const key_desc *d = &keys[k];
    char list[128];
    switch (d->type) {
    case T_PATH:
        if (cJSON_IsNull(v)) return set_path(c, k, NULL);
        LV_CHECK(cJSON_IsString(v) && v->valuestring[0], LV_ERR_INPUT,
                 "%s: key '%s': expected a non-empty string (a path) or null, found %s", where, d->key,
                 cJSON_IsString(v) ? "an empty string" : json_type_name(v));
        return set_path(c, k, v->valuestring);
    case T_BOOL:
        LV_CHECK(cJSON_IsBool(v), LV_ERR_INPUT, "%s: key '%s': expected true or false, found %s", where, d->key,
                 json_type_name(v));
        store_num(c, k, cJSON_IsTrue(v) ? 1 : 0, 0);
        return LV_OK;
    case T_CHOICE: {
        choice_list(k, list, sizeof list);
        LV_CHECK(cJSON_IsString(v), LV_ERR_INPUT, "%s: key '%s': expected one of the strings %s, found %s", where,
                 d->key, list, json_type_name(v));
        int i = choice_index(k, v->valuestring);
        LV_CHECK(i >= 0, LV_ERR_INPUT, "%s: key '%s': expected %s, found '%s'", where, d->key, list, v->valuestring);
        store_num(c, k, i, 0);
        return LV_OK;
    }
    default: {
        const char *want = is_integer_type(d->type) ? "an integer" : "a number";
        LV_CHECK(cJSON_IsNumber(v), LV_ERR_INPUT, "%s: key '%s': expected %s in %g..%g, found %s", where, d->key,
                 want, d->lo, d->hi, json_type_name(v));
        double x = v->valuedouble;
        LV_CHECK(isfinite(x) && (!is_integer_type(d->type) || x == floor(x)) && x >= d->lo && x <= d->hi,
                 LV_ERR_INPUT, "%s: key '%s': expected %s in %g..%g, found %.17g", where, d->key, want, d->lo,
                 d->hi, x);
        store_num(c, k, x, (uint64_t)x);
        return LV_OK;
    }
    }
}

lv_status lv_train_config_parse_json(lv_train_config *c, const char *json, const char *where,
                                     lv_train_keyset *set) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        int line = 1;
        for (const char *p = json; at && p < at && *p; p++) line += *p == '\n';
        return lv_errorf(LV_ERR_INPUT, "%s: not valid JSON (near line %d)", where, line);
    }
    lv_status s = LV_OK;
    if (!cJSON_IsObject(root))
        s = lv_errorf(LV_ERR_INPUT, "%s: expected a JSON object of settings, found %s", where, json_type_name(root));
    lv_train_keyset seen = 0;
    for (const cJSON *it = s == LV_OK ? root->child : NULL; it && s == LV_OK; it = it->next) {
        int k = lv_train_config_key_index(it->string);
        if (k < 0) {
            s = lv_errorf(LV_ERR_INPUT, "%s: unknown key '%s' (the keys are the option names with '_' for '-'; "
                                        "see liver-vlm train --help)", where, it->string);
            break;
        }
        if (seen & ((lv_train_keyset)1 << k)) {
            s = lv_errorf(LV_ERR_INPUT, "%s: key '%s' appears twice", where, it->string);
            break;
        }
        seen |= (lv_train_keyset)1 << k;
        s = json_value(c, k, it, where);
    }
    cJSON_Delete(root);
    if (s == LV_OK && set) *set |= seen;
    return s;
}

lv_status lv_train_config_load_file(lv_train_config *c, const char *path, lv_train_keyset *set) {
    FILE *f = fopen(path, "rb");
    if (!f) return lv_errorf(LV_ERR_INPUT, "%s: cannot open config file: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    lv_status s = LV_OK;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > ((size_t)16 << 20)) {
                s = lv_errorf(LV_ERR_INPUT, "%s: config file larger than 16 MiB", path);
                break;
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                s = lv_errorf(LV_ERR_RUNTIME, "%s: out of memory", path);
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got < 4096) {
            if (ferror(f)) s = lv_errorf(LV_ERR_INPUT, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (s == LV_OK) {
        buf[len] = '\0';
        if (strlen(buf) != len) s = lv_errorf(LV_ERR_INPUT, "%s: config file contains a NUL byte", path);
    }
    if (s == LV_OK) s = lv_train_config_parse_json(c, buf, path, set);
    free(buf);
    return s;
}

/* The shortest "%.Ng" that reads back as exactly x: cJSON's own printer accepts a 1-ulp
 * difference, and a resumed run compares settings exactly. */
static const char *shortest_number(double x, char *buf, size_t cap) {
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, cap, "%.*g", digits, x);
        if (strtod(buf, NULL) == x) break;
    }
    return buf;
}

char *lv_train_config_to_json(const lv_train_config *c) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = 1;
    for (int k = 0; k < NKEYS && ok; k++) {
        const key_desc *d = &keys[k];
        const void *f = cfield(c, k);
        cJSON *v = NULL;
        switch (d->type) {
        case T_PATH: v = path_value(c, k) ? cJSON_CreateString(path_value(c, k)) : cJSON_CreateNull(); break;
        case T_CHOICE: v = cJSON_CreateString(d->choices[*(const int *)f]); break;
        case T_BOOL: v = cJSON_CreateBool(*(const int *)f); break;
        default: {
            char buf[40];
            v = cJSON_CreateRaw(shortest_number(num_value(c, k), buf, sizeof buf));
            break;
        }
        }
        ok = v && cJSON_AddItemToObject(o, d->key, v);
    }
    char *text = ok ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    return text;
}

/* ---- command line -------------------------------------------------------------------- */

static lv_status cli_value(lv_train_config *c, int k, const char *flag, const char *v) {
    const key_desc *d = &keys[k];
    char list[128];
    if (!v) return lv_errorf(LV_ERR_USAGE, "%s needs a value (see liver-vlm train --help)", flag);
    switch (d->type) {
    case T_PATH:
        LV_CHECK(v[0], LV_ERR_USAGE, "%s: expected a path, got an empty string", flag);
        return set_path(c, k, v);
    case T_CHOICE: {
        choice_list(k, list, sizeof list);
        int i = choice_index(k, v);
        LV_CHECK(i >= 0, LV_ERR_USAGE, "%s: expected %s, got '%s'", flag, list, v);
        store_num(c, k, i, 0);
        return LV_OK;
    }
    case T_U64: {
        char *end = NULL;
        errno = 0;
        unsigned long long u = strtoull(v, &end, 10);
        LV_CHECK(!errno && end != v && *end == '\0' && v[0] != '-' && v[0] != '+' && (double)u <= d->hi,
                 LV_ERR_USAGE, "%s: expected an integer in 0..%.0f, got '%s'", flag, d->hi, v);
        store_num(c, k, (double)u, (uint64_t)u);
        return LV_OK;
    }
    default: {
        char *end = NULL;
        errno = 0;
        double x;
        if (is_integer_type(d->type)) {
            long long i = strtoll(v, &end, 10);
            x = (double)i;
        } else {
            x = strtod(v, &end);
        }
        const char *want = is_integer_type(d->type) ? "an integer" : "a number";
        LV_CHECK(!errno && end != v && *end == '\0' && isfinite(x) && x >= d->lo && x <= d->hi, LV_ERR_USAGE,
                 "%s: expected %s in %g..%g, got '%s'", flag, want, d->lo, d->hi, v);
        store_num(c, k, x, 0);
        return LV_OK;
    }
    }
}

lv_status lv_train_config_parse_args(lv_train_config *c, lv_train_keyset *set, lv_train_cli *cli,
                                     int argc, char **argv) {
    char name[64];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli->help = 1;
            return LV_OK;
        }
        if (!strcmp(a, "--force")) {
            cli->force = 1;
            continue;
        }
        if (!strcmp(a, "--config") || !strcmp(a, "--resume")) {
            LV_CHECK(v && v[0], LV_ERR_USAGE, "%s needs a value (see liver-vlm train --help)", a);
            if (a[2] == 'c') cli->config_path = v;
            else cli->resume_dir = v;
            i++;
            continue;
        }
        if (!strcmp(a, "--stop-after")) {
            char *end = NULL;
            long n = v ? strtol(v, &end, 10) : -1;
            LV_CHECK(v && end != v && *end == '\0' && n >= 1 && n <= 1000000, LV_ERR_USAGE,
                     "--stop-after: expected a number of epochs in 1..1000000, got '%s'", v ? v : "(nothing)");
            cli->stop_after = (int)n;
            i++;
            continue;
        }
        LV_CHECK(strncmp(a, "--", 2) == 0 && strlen(a) < sizeof name, LV_ERR_USAGE,
                 "unexpected argument '%s' (see liver-vlm train --help)", a);
        int negated = strncmp(a, "--no-", 5) == 0;
        snprintf(name, sizeof name, "%s", a + (negated ? 5 : 2));
        for (char *p = name; *p; p++)
            if (*p == '-') *p = '_';
            else if (*p == '_') *p = '#'; /* flags use '-', never '_' */
        int k = lv_train_config_key_index(name);
        LV_CHECK(k >= 0 && (!negated || keys[k].type == T_BOOL), LV_ERR_USAGE,
                 "unknown option '%s' (see liver-vlm train --help)", a);
        if (keys[k].type == T_BOOL) {
            store_num(c, k, negated ? 0 : 1, 0);
        } else {
            LV_TRY(cli_value(c, k, a, v));
            i++;
        }
        *set |= (lv_train_keyset)1 << k;
    }
    return LV_OK;
}

lv_status lv_train_config_overlay(lv_train_config *dst, const lv_train_config *src, lv_train_keyset set) {
    for (int k = 0; k < NKEYS; k++) {
        if (!(set & ((lv_train_keyset)1 << k))) continue;
        if (keys[k].type == T_PATH) LV_TRY(set_path(dst, k, path_value(src, k)));
        else if (keys[k].type == T_U64) *(uint64_t *)field(dst, k) = *(const uint64_t *)cfield(src, k);
        else if (keys[k].type == T_I64) *(int64_t *)field(dst, k) = *(const int64_t *)cfield(src, k);
        else if (keys[k].type == T_NUM) *(double *)field(dst, k) = *(const double *)cfield(src, k);
        else *(int *)field(dst, k) = *(const int *)cfield(src, k);
    }
    return LV_OK;
}

/* Paths name the same file: equal resolved paths, or equal text when one does not resolve. */
static int same_path(const char *a, const char *b) {
    if (!a || !b) return a == b;
    char ra[PATH_MAX], rb[PATH_MAX];
    if (realpath(a, ra) && realpath(b, rb)) return strcmp(ra, rb) == 0;
    return strcmp(a, b) == 0;
}

static int same_value(const lv_train_config *a, const lv_train_config *b, int k) {
    switch (keys[k].type) {
    case T_PATH: return same_path(path_value(a, k), path_value(b, k));
    case T_U64: return *(const uint64_t *)cfield(a, k) == *(const uint64_t *)cfield(b, k);
    case T_I64: return *(const int64_t *)cfield(a, k) == *(const int64_t *)cfield(b, k);
    case T_NUM: return *(const double *)cfield(a, k) == *(const double *)cfield(b, k);
    default: return *(const int *)cfield(a, k) == *(const int *)cfield(b, k);
    }
}

/* Input paths become absolute so a resumed run finds them from any working directory. */
static lv_status absolute_paths(lv_train_config *c) {
    char r[2 * PATH_MAX + 2], cwd[PATH_MAX];
    for (int k = 0; k < NKEYS; k++) {
        if (keys[k].type != T_PATH || !path_value(c, k)) continue;
        const char *v = path_value(c, k);
        if (realpath(v, r)) {
            LV_TRY(set_path(c, k, r));
        } else if (v[0] != '/' && getcwd(cwd, sizeof cwd) && strlen(cwd) + strlen(v) + 2 <= PATH_MAX) {
            /* Not there yet (a new --out): anchor it to the working directory. */
            snprintf(r, sizeof r, "%s/%s", cwd, v);
            LV_TRY(set_path(c, k, r));
        }
    }
    return LV_OK;
}

lv_status lv_train_config_check(const lv_train_config *c) {
    LV_CHECK(c->data, LV_ERR_USAGE, "--data is required (see liver-vlm train --help)");
    LV_CHECK(c->out, LV_ERR_USAGE, "--out is required (see liver-vlm train --help)");
    LV_CHECK(!(c->warmup_epochs > 0 && c->warmup_steps > 0), LV_ERR_USAGE,
             "--warmup-epochs and --warmup-steps are both set (%g, %lld): give one", c->warmup_epochs,
             (long long)c->warmup_steps);
    LV_CHECK(c->min_lr <= c->lr, LV_ERR_USAGE, "--min-lr %g is above --lr %g", c->min_lr, c->lr);
    LV_CHECK(!(c->comm == LV_TRAIN_COMM_NCCL && c->device == LV_TRAIN_DEVICE_CPU), LV_ERR_USAGE,
             "--comm nccl needs GPUs but --device is cpu: use --comm mpi (or auto) on the CPU");
    LV_CHECK(c->objective != LV_TRAIN_OBJECTIVE_PHASE_SHUFFLE ||
                 (!c->text_model && !c->prompts && !c->train_text),
             LV_ERR_USAGE, "--objective phase-shuffle trains the image encoder alone: drop --text-model, --prompts "
             "and --train-text");
    LV_CHECK(c->objective != LV_TRAIN_OBJECTIVE_CLIP || c->head == 0 /* vlm */, LV_ERR_USAGE,
             "--objective clip contrasts image and report embeddings and needs the VLM head: drop --head linear");
    LV_CHECK(c->objective != LV_TRAIN_OBJECTIVE_CLIP || c->batch >= 2, LV_ERR_USAGE,
             "--objective clip needs --batch 2 or more (the other pairs of a batch are the negatives)");
    /* Every path is recorded in config.json and in each checkpoint's metadata, which
     * safetensors requires to be UTF-8: refused here, not at the first save an epoch later. */
    for (int k = 0; k < NKEYS; k++) {
        const char *v = keys[k].type == T_PATH ? path_value(c, k) : NULL;
        if (!v) continue;
        size_t n = strlen(v), ok = lv_st_utf8_prefix((const unsigned char *)v, n);
        char flag[64];
        LV_CHECK(ok == n, LV_ERR_USAGE,
                 "%s: the path is not valid UTF-8 (byte %zu of %zu); checkpoints record it in their UTF-8 "
                 "metadata, so rename the file or folder", flag_of(k, flag, sizeof flag), ok + 1, n);
    }
    return LV_OK;
}

lv_status lv_train_config_resolve(lv_train_config *c, lv_train_cli *cli, int argc, char **argv) {
    lv_train_config req, file;
    lv_train_config_default(&req);
    lv_train_config_default(&file);
    lv_train_keyset cli_set = 0, file_set = 0;
    memset(cli, 0, sizeof *cli);
    lv_train_config_default(c);
    lv_status s = lv_train_config_parse_args(&req, &cli_set, cli, argc, argv);
    if (s == LV_OK && cli->help) goto done;
    if (s == LV_OK && cli->config_path) s = lv_train_config_load_file(&file, cli->config_path, &file_set);
    if (s == LV_OK && cli->resume_dir) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/config.json", cli->resume_dir);
        lv_train_keyset run_set = 0;
        s = lv_train_config_load_file(c, path, &run_set);
        if (s != LV_OK) s = lv_error_wrap(s, "--resume %s", cli->resume_dir);
        char flag[64], want[512], got[512];
        /* A key from --config or the command line may only restate the run's value. */
        for (int k = 0; s == LV_OK && k < NKEYS; k++) {
            lv_train_keyset bit = (lv_train_keyset)1 << k;
            const lv_train_config *src = (cli_set & bit) ? &req : (file_set & bit) ? &file : NULL;
            if (!src || keys[k].resumable) continue;
            if (!strcmp(keys[k].key, "out")) {
                if (!same_path(path_value(src, k), cli->resume_dir))
                    s = lv_errorf(LV_ERR_USAGE, "--out %s differs from --resume %s: a resumed run writes into its own "
                                                "directory", path_value(src, k), cli->resume_dir);
                continue;
            }
            if (same_value(c, src, k)) continue;
            format_value(src, k, got, sizeof got);
            format_value(c, k, want, sizeof want);
            s = lv_errorf(LV_ERR_USAGE,
                          "%s %s%s differs from the run being resumed (%s in %s); on --resume only --epochs, "
                          "--device, --device-data, --threads, --comm and --comm-timeout may change",
                          flag_of(k, flag, sizeof flag), got, (cli_set & bit) ? "" : " (from --config)", want, path);
        }
        if (s == LV_OK) s = lv_train_config_overlay(c, &file, file_set);
        if (s == LV_OK) s = lv_train_config_overlay(c, &req, cli_set);
        if (s == LV_OK) s = set_path(c, lv_train_config_key_index("out"), cli->resume_dir);
    } else if (s == LV_OK) {
        s = lv_train_config_overlay(c, &file, file_set);
        if (s == LV_OK) s = lv_train_config_overlay(c, &req, cli_set);
    }
    if (s == LV_OK) s = lv_train_config_check(c);
    if (s == LV_OK) s = absolute_paths(c);
done:
    lv_train_config_free(&req);
    lv_train_config_free(&file);
    return s;
}

void lv_train_config_print_help(FILE *f) {
    lv_train_config d;
    lv_train_config_default(&d);
    char flag[64], lhs[256], def[128], list[128];
    for (int k = 0; k < NKEYS; k++) {
        flag_of(k, flag, sizeof flag);
        if (keys[k].type == T_BOOL) snprintf(lhs, sizeof lhs, "%s, --no-%s", flag, flag + 2);
        else if (keys[k].type == T_CHOICE) {
            choice_list(k, list, sizeof list);
            snprintf(lhs, sizeof lhs, "%s %s", flag, list);
        } else snprintf(lhs, sizeof lhs, "%s %s", flag, keys[k].meta);
        format_value(&d, k, def, sizeof def);
        fprintf(f, "  %-30s %s [%s]\n", lhs, keys[k].help, def);
    }
    lv_train_config_free(&d);
}
