/* Gradient buckets (see grad_buckets.h). */
#include "train/grad_buckets.h"

#include <stdlib.h>
#include <string.h>

/* Trainable spans of a plan: runs that touch merged (runs split at every change of the
 * weight-decay flag, which the reduction does not care about). */
static int spans(const lv_optim_plan *p, size_t *off, size_t *n) {
    int k = 0;
    for (int r = 0; r < p->count; r++) {
        if (!p->runs[r].n) continue;
        if (k && off[k - 1] + n[k - 1] == p->runs[r].offset) {
            n[k - 1] += p->runs[r].n;
        } else {
            off[k] = p->runs[r].offset;
            n[k++] = p->runs[r].n;
        }
    }
    return k;
}

static lv_status push(lv_grad_buckets *g, int *cap_b, lv_grad_bucket b) {
    if (g->count == *cap_b) {
        int nc = *cap_b ? 2 * *cap_b : 16;
        lv_grad_bucket *nb = realloc(g->b, (size_t)nc * sizeof *nb);
        LV_CHECK_ALLOC(nb);
        g->b = nb;
        *cap_b = nc;
    }
    g->b[g->count++] = b;
    return LV_OK;
}

static lv_status add_part(lv_grad_buckets *g, int *cap_b, const lv_optim_plan *p, int part, int top_down, size_t cap) {
    size_t *off = malloc(((size_t)p->count + 1) * sizeof *off), *n = malloc(((size_t)p->count + 1) * sizeof *n);
    lv_status s = off && n ? LV_OK : lv_errorf(LV_ERR_RUNTIME, "gradient buckets: out of memory");
    int k = s == LV_OK ? spans(p, off, n) : 0;
    if (top_down) {
        /* Highest offsets first, each bucket due when the backward has passed its start. */
        for (int i = k - 1; s == LV_OK && i >= 0; i--)
            for (size_t end = off[i] + n[i]; s == LV_OK && end > off[i];) {
                size_t lo = end - off[i] > cap ? end - cap : off[i];
                s = push(g, cap_b, (lv_grad_bucket){part, lo, end - lo, lo, 1});
                end = lo;
            }
    } else {
        for (int i = 0; s == LV_OK && i < k; i++)
            for (size_t o = off[i]; s == LV_OK && o < off[i] + n[i]; o += cap) {
                size_t len = off[i] + n[i] - o < cap ? off[i] + n[i] - o : cap;
                s = push(g, cap_b, (lv_grad_bucket){part, o, len, 0, 0});
            }
    }
    free(off);
    free(n);
    return s;
}

lv_status lv_grad_buckets_build(lv_grad_buckets *g, const lv_optim_plan *const *plans, int nparts, int overlap,
                                size_t cap) {
    memset(g, 0, sizeof *g);
    LV_CHECK(cap >= 1 && nparts >= 0 && overlap < nparts, LV_ERR_USAGE,
             "gradient buckets: cap %zu, %d parts, overlapped part %d", cap, nparts, overlap);
    int cap_b = 0;
    lv_status s = overlap >= 0 ? add_part(g, &cap_b, plans[overlap], overlap, 1, cap) : LV_OK;
    for (int i = 0; s == LV_OK && i < nparts; i++)
        if (i != overlap) s = add_part(g, &cap_b, plans[i], i, 0, cap);
    if (s != LV_OK) lv_grad_buckets_free(g);
    return s;
}

int lv_grad_buckets_due(const lv_grad_buckets *g, size_t lo) {
    int i = g->next;
    while (i < g->count && g->b[i].in_backward && lo <= g->b[i].ready_at) i++;
    return i;
}

void lv_grad_buckets_free(lv_grad_buckets *g) {
    free(g->b);
    memset(g, 0, sizeof *g);
}
