/* Parameter layout and flat buffers (see params.h). Knows nothing of any model. */
#include "params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lv_layout_init(lv_param_layout *l) { memset(l, 0, sizeof *l); }

void lv_layout_free(lv_param_layout *l) {
    free(l->specs);
    memset(l, 0, sizeof *l);
}

lv_status lv_layout_add(lv_param_layout *l, const char *name, int ndim, const int64_t *shape,
                        int flags, size_t *offset_out) {
    LV_CHECK(name && strlen(name) < LV_PARAM_NAME_MAX, LV_ERR_RUNTIME,
             "parameter name too long (max %d): %.40s...", LV_PARAM_NAME_MAX - 1, name ? name : "");
    LV_CHECK(ndim >= 0 && ndim <= LV_PARAM_MAX_DIMS, LV_ERR_RUNTIME,
             "parameter %s: rank %d outside [0,%d]", name, ndim, LV_PARAM_MAX_DIMS);
    LV_CHECK(lv_layout_find(l, name) == NULL, LV_ERR_RUNTIME, "parameter %s added twice", name);
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        LV_CHECK(shape[d] > 0, LV_ERR_RUNTIME, "parameter %s: dimension %d is %lld, expected > 0",
                 name, d, (long long)shape[d]);
        LV_CHECK(numel <= SIZE_MAX / (size_t)shape[d], LV_ERR_RUNTIME, "parameter %s: size overflows", name);
        numel *= (size_t)shape[d];
    }
    LV_CHECK(l->total <= SIZE_MAX / sizeof(float) - numel, LV_ERR_RUNTIME, "parameter layout overflows");
    if (l->count == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        lv_param_spec *s = realloc(l->specs, (size_t)cap * sizeof *s);
        LV_CHECK_ALLOC(s);
        l->specs = s;
        l->cap = cap;
    }
    lv_param_spec *p = &l->specs[l->count++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    for (int d = 0; d < ndim; d++) p->shape[d] = shape[d];
    p->offset = l->total;
    p->numel = numel;
    p->flags = flags;
    l->total += numel;
    if (offset_out) *offset_out = p->offset;
    return LV_OK;
}

const lv_param_spec *lv_layout_find(const lv_param_layout *l, const char *name) {
    for (int i = 0; i < l->count; i++)
        if (strcmp(l->specs[i].name, name) == 0) return &l->specs[i];
    return NULL;
}

lv_status lv_param_buffers_alloc(lv_param_buffers *b, lv_backend *be, size_t n, int want) {
    memset(b, 0, sizeof *b);
    b->be = be;
    b->n = n;
    size_t bytes = (n ? n : 1) * sizeof(float);
    float **slots[4] = {&b->params, &b->grads, &b->m, &b->v};
    int wanted[4] = {1, want & LV_WANT_GRADS, want & LV_WANT_M, want & LV_WANT_V};
    static const char *what[4] = {"parameters", "gradients", "first moments", "second moments"};
    for (int i = 0; i < 4; i++) {
        if (!wanted[i]) continue;
        *slots[i] = be->alloc(be, bytes);
        if (!*slots[i]) {
            lv_param_buffers_free(b);
            return lv_errorf(LV_ERR_RUNTIME, "%s backend: cannot allocate %zu bytes for %s",
                             be->name, bytes, what[i]);
        }
    }
    return LV_OK;
}

void lv_param_buffers_free(lv_param_buffers *b) {
    if (!b->be) return;
    float *bufs[4] = {b->params, b->grads, b->m, b->v};
    for (int i = 0; i < 4; i++)
        if (bufs[i]) b->be->free(b->be, bufs[i]);
    memset(b, 0, sizeof *b);
}

void lv_param_buffers_zero_grads(lv_param_buffers *b) {
    if (b->grads) b->be->memset0(b->be, b->grads, b->n * sizeof(float));
}

static void full_name(char *out, size_t cap, const char *prefix, const char *name) {
    snprintf(out, cap, "%s%s", prefix ? prefix : "", name);
}

lv_status lv_layout_to_writer(const lv_param_layout *l, const float *host, const char *prefix,
                              lv_st_writer *w) {
    for (int i = 0; i < l->count; i++) {
        const lv_param_spec *p = &l->specs[i];
        char name[2 * LV_PARAM_NAME_MAX];
        full_name(name, sizeof name, prefix, p->name);
        LV_TRY(lv_st_writer_add(w, name, LV_DT_F32, p->ndim, p->shape, host + p->offset));
    }
    return LV_OK;
}

lv_status lv_layout_from_file(const lv_param_layout *l, float *host, const char *prefix,
                              const lv_st_file *f) {
    for (int i = 0; i < l->count; i++) {
        const lv_param_spec *p = &l->specs[i];
        char name[2 * LV_PARAM_NAME_MAX];
        full_name(name, sizeof name, prefix, p->name);
        if (!lv_st_find(f, name))
            return lv_errorf(LV_ERR_INPUT, "%s: tensor '%s' is missing", lv_st_path(f), name);
        LV_TRY(lv_st_read_f32(f, name, host + p->offset, p->ndim, p->shape));
    }
    return LV_OK;
}
