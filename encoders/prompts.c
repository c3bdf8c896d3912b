/* Prompt sets: the built-in enriched prompts, a TSV reader/writer and validation against a
 * data file's classes. The prompts describe multi-phase CT appearance (docs/phantom.md):
 * what a radiologist reads across NC/ART/PV/delayed phases, in the words a text encoder has
 * seen. */
#include "prompts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const default_prompts[][2] = {
    {"CYST", "a simple hepatic cyst: a well-defined round hypodense lesion of fluid attenuation"},
    {"CYST", "a liver cyst with sharp margins and no enhancement in the arterial, portal venous or delayed phase"},
    {"CYST", "a homogeneous water-density lesion below 20 HU with an imperceptible wall"},
    {"CYST", "a non-enhancing fluid-filled hepatic lesion"},
    {"FNH", "focal nodular hyperplasia: intense homogeneous arterial hyperenhancement"},
    {"FNH", "a lesion isoattenuating to liver on the portal venous and delayed phases"},
    {"FNH", "a hypervascular liver lesion with a central scar that is hypodense in the arterial phase"},
    {"FNH", "a benign lobulated lesion, nearly invisible before contrast, bright in the arterial phase"},
    {"HCC", "hepatocellular carcinoma: arterial phase hyperenhancement with washout"},
    {"HCC", "a lesion hypoattenuating to liver on the portal venous and delayed phases after arterial enhancement"},
    {"HCC", "a liver tumour with an enhancing capsule on the portal venous and delayed phases"},
    {"HCC", "a heterogeneous hypervascular mass with washout and a capsule"},
    {"HEM", "a hepatic hemangioma: peripheral nodular discontinuous enhancement in the arterial phase"},
    {"HEM", "a lesion whose enhancement matches the blood pool and fills in centripetally"},
    {"HEM", "a lesion with progressive centripetal fill-in and persistent enhancement on delayed images"},
    {"HEM", "a small flash-filling hemangioma, uniformly bright in the arterial phase and persistent"},
    {"METS", "a liver metastasis: a hypoattenuating lesion with rim enhancement in the portal venous phase"},
    {"METS", "a hypodense lesion with a peripheral enhancing ring and a darker centre"},
    {"METS", "multiple hypoenhancing hepatic lesions of metastatic disease"},
    {"METS", "a hypervascular metastasis with arterial rim enhancement and washout"},
};

void lv_prompts_free(lv_prompt_set *p) {
    for (int i = 0; i < p->count; i++) {
        if (p->class_names) free(p->class_names[i]);
        if (p->texts) free(p->texts[i]);
    }
    free(p->class_names);
    free(p->texts);
    memset(p, 0, sizeof *p);
}

static lv_status push(lv_prompt_set *p, const char *cls, size_t cls_len, const char *text, size_t text_len) {
    char **cn = realloc(p->class_names, (size_t)(p->count + 1) * sizeof *cn);
    if (cn) p->class_names = cn;
    char **tx = realloc(p->texts, (size_t)(p->count + 1) * sizeof *tx);
    if (tx) p->texts = tx;
    LV_CHECK_ALLOC(cn);
    LV_CHECK_ALLOC(tx);
    p->class_names[p->count] = strndup(cls, cls_len);
    p->texts[p->count] = strndup(text, text_len);
    if (!p->class_names[p->count] || !p->texts[p->count]) {
        free(p->class_names[p->count]);
        free(p->texts[p->count]);
        return lv_errorf(LV_ERR_RUNTIME, "prompts: out of memory");
    }
    p->count++;
    return LV_OK;
}

lv_status lv_prompts_default(lv_prompt_set *p) {
    memset(p, 0, sizeof *p);
    size_t n = sizeof default_prompts / sizeof default_prompts[0];
    for (size_t i = 0; i < n; i++) {
        lv_status s = push(p, default_prompts[i][0], strlen(default_prompts[i][0]), default_prompts[i][1],
                           strlen(default_prompts[i][1]));
        if (s != LV_OK) {
            lv_prompts_free(p);
            return s;
        }
    }
    return LV_OK;
}

lv_status lv_prompts_parse(lv_prompt_set *p, const char *text, const char *source) {
    memset(p, 0, sizeof *p);
    int line = 0;
    for (const char *at = text; *at;) {
        const char *end = strchr(at, '\n');
        size_t len = end ? (size_t)(end - at) : strlen(at);
        line++;
        if (len && at[len - 1] == '\r') len--;
        const char *s = at;
        while (len && (*s == ' ' || *s == '\t')) s++, len--;
        if (len && *s != '#') {
            const char *tab = memchr(s, '\t', len);
            if (!tab || tab == s || (size_t)(tab - s) + 1 >= len) {
                lv_prompts_free(p);
                return lv_errorf(LV_ERR_INPUT, "%s:%d: expected CLASS<TAB>prompt text, found '%.*s'",
                                 source, line, (int)(len > 60 ? 60 : len), s);
            }
            lv_status st = push(p, s, (size_t)(tab - s), tab + 1, len - (size_t)(tab - s) - 1);
            if (st != LV_OK) {
                lv_prompts_free(p);
                return st;
            }
        }
        if (!end) break;
        at = end + 1;
    }
    LV_CHECK(p->count > 0, LV_ERR_INPUT, "%s: no prompts (expected CLASS<TAB>prompt lines)", source);
    return LV_OK;
}

lv_status lv_prompts_load(lv_prompt_set *p, const char *path) {
    memset(p, 0, sizeof *p);
    FILE *f = fopen(path, "rb");
    if (!f) return lv_errorf(LV_ERR_INPUT, "%s: cannot open prompt file: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            if (cap > ((size_t)64 << 20)) {
                free(buf);
                fclose(f);
                return lv_errorf(LV_ERR_INPUT, "%s: prompt file larger than 64 MiB", path);
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return lv_errorf(LV_ERR_RUNTIME, "%s: out of memory", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return lv_errorf(LV_ERR_INPUT, "%s: read error", path);
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        free(buf);
        return lv_errorf(LV_ERR_INPUT, "%s: contains a NUL byte: not a text file", path);
    }
    lv_status s = lv_prompts_parse(p, buf, path);
    free(buf);
    return s;
}

lv_status lv_prompts_check(const lv_prompt_set *p, const char *const *classes, int c, const char *source) {
    for (int i = 0; i < p->count; i++) {
        int found = 0;
        for (int j = 0; j < c && !found; j++) found = strcmp(p->class_names[i], classes[j]) == 0;
        LV_CHECK(found, LV_ERR_INPUT, "%s: prompt %d names class '%s', which the data does not have",
                 source, i + 1, p->class_names[i]);
    }
    for (int j = 0; j < c; j++) {
        int found = 0;
        for (int i = 0; i < p->count && !found; i++) found = strcmp(p->class_names[i], classes[j]) == 0;
        LV_CHECK(found, LV_ERR_INPUT, "%s: class '%s' has no prompt (add a line '%s<TAB>...')", source,
                 classes[j], classes[j]);
    }
    return LV_OK;
}

char *lv_prompts_to_tsv(const lv_prompt_set *p) {
    size_t len = 1;
    for (int i = 0; i < p->count; i++) len += strlen(p->class_names[i]) + strlen(p->texts[i]) + 2;
    char *s = malloc(len), *at = s;
    if (!s) return NULL;
    for (int i = 0; i < p->count; i++) at += sprintf(at, "%s\t%s\n", p->class_names[i], p->texts[i]);
    *at = '\0';
    return s;
}
