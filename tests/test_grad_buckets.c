/* Gradient buckets and the backward's readiness reports, the two halves of the NCCL path's
 * communication/computation overlap (the NCCL launch itself needs GPUs: tests/cli_train.sh
 * runs it when one is present).
 * - lv_grad_buckets_build on hand-made plans: every trainable float in exactly one bucket,
 *   none across a frozen gap or over the cap, the overlapped part top-down first, the rest
 *   in offset order after it, due() only ever releasing overlapped buckets.
 * - lv_resnet18_backward on the CPU backend with a lv_grad_ready hook: reports after the
 *   projection, each block and the stem with strictly falling lo ending at 0; the range a
 *   report declares final is never written again in that backward (its bytes at report time
 *   equal the final ones); and with the real optimizer plan, the buckets due at each report
 *   only cover final ranges, most of them before the backward ends. LV_TEST_SANITIZE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoders/resnet18.h"
#include "harness.h"
#include "train/grad_buckets.h"
#include "train/optim.h"

static void test_plans(void) {
    /* part 0: [0,10) decay, [10,12) no decay, [12,30), frozen [30,40), [40,45); part 1: [0,5) */
    lv_optim_run r0[] = {{0, 10, 1}, {10, 2, 0}, {12, 18, 1}, {40, 5, 1}}, r1[] = {{0, 5, 1}};
    lv_optim_plan p0 = {r0, 4}, p1 = {r1, 1};
    const lv_optim_plan *plans[] = {&p0, &p1};
    lv_grad_buckets g;
    if (!lv_test_true(lv_grad_buckets_build(&g, plans, 2, 0, 8) == LV_OK, "build (cap 8)")) return;
    int seen0[45] = {0}, seen1[5] = {0}, ok = 1, order = 1, cap = 1;
    size_t prev = (size_t)-1;
    int phase = 0; /* 0: overlapped buckets, 1: the others */
    for (int i = 0; i < g.count; i++) {
        const lv_grad_bucket *b = &g.b[i];
        cap &= b->n >= 1 && b->n <= 8;
        if (b->part == 0) {
            order &= phase == 0 && b->in_backward && b->offset < prev && b->ready_at == b->offset;
            prev = b->offset;
            for (size_t k = b->offset; k < b->offset + b->n; k++) seen0[k]++;
        } else {
            phase = 1;
            order &= !b->in_backward;
            for (size_t k = b->offset; k < b->offset + b->n; k++) seen1[k]++;
        }
    }
    for (int k = 0; k < 45; k++) ok &= seen0[k] == ((k >= 30 && k < 40) ? 0 : 1);
    for (int k = 0; k < 5; k++) ok &= seen1[k] == 1;
    lv_test_true(ok, "every trainable float in exactly one bucket, the frozen gap in none");
    lv_test_true(cap, "buckets hold 1..cap floats");
    lv_test_true(order, "overlapped part first, top-down, due at its own offset; the other part after");
    printf("buckets:");
    for (int i = 0; i < g.count; i++) printf(" %d:[%zu,+%zu)", g.b[i].part, g.b[i].offset, g.b[i].n);
    printf("\n");
    /* part 0's runs merge into the spans [0,30) and [40,45), cut from the top: [40,45)
     * [22,30) [14,22) [6,14) [0,6); then part 1's [0,5). */
    lv_test_true(g.count == 6 && g.b[0].offset == 40 && g.b[1].offset == 22 && g.b[4].offset == 0 &&
                     g.b[4].n == 6 && g.b[5].part == 1,
                 "runs split only by the decay flag merge; cuts fall from the top of each span");
    lv_test_true(lv_grad_buckets_due(&g, 50) == 0, "nothing due before the first report");
    lv_test_true(lv_grad_buckets_due(&g, 40) == 1, "lo = 40: the top bucket is due");
    lv_test_true(lv_grad_buckets_due(&g, 15) == 2, "lo = 15: the buckets starting at 40 and 22");
    g.next = 2;
    lv_test_true(lv_grad_buckets_due(&g, 15) == 2, "already launched buckets are not due again");
    lv_test_true(lv_grad_buckets_due(&g, 0) == 5, "lo = 0: every overlapped bucket, never the other part's");
    lv_grad_buckets_free(&g);
    lv_test_true(lv_grad_buckets_build(&g, plans, 2, 0, 0) == LV_ERR_USAGE, "cap 0 is refused");
}

/* FNV-1a over a float range's bytes. */
static uint64_t hash(const float *x, size_t n) {
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p = (const unsigned char *)x;
    for (size_t i = 0; i < n * sizeof *x; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

typedef struct recorder {
    const float *grads;
    size_t total;
    size_t lo[16], hi[16];
    uint64_t h[16];
    int calls, falling;
} recorder;

static void record(void *ctx, size_t lo) {
    recorder *r = ctx;
    size_t hi = r->calls ? r->lo[r->calls - 1] : r->total;
    if (r->calls == 16 || lo >= hi) {
        r->falling = 0;
        return;
    }
    r->lo[r->calls] = lo;
    r->hi[r->calls] = hi;
    r->h[r->calls] = hash(r->grads + lo, hi - lo);
    r->calls++;
}

static void test_backward(void) {
    const int P = 3, D = 8, B = 2, S = 32;
    lv_backend *be = lv_test_cpu_backend();
    lv_resnet18 m;
    if (!lv_test_true(lv_resnet18_build(&m, P, D) == LV_OK, "resnet18 builds")) {
        lv_backend_destroy(be);
        return;
    }
    float *params = calloc(m.params.total, sizeof *params), *grads = calloc(m.params.total, sizeof *grads);
    float *state = calloc(m.state.total, sizeof *state);
    float *x = malloc((size_t)B * P * S * S * sizeof *x), *demb = malloc((size_t)B * D * sizeof *demb);
    lv_resnet18_init_host(&m, params, state, 7);
    lv_test_fill_uniform(x, (size_t)B * P * S * S, 1, -1, 1);
    lv_test_fill_uniform(demb, (size_t)B * D, 2, -1, 1);
    lv_resnet18_acts a;
    if (!lv_test_true(lv_resnet18_acts_alloc(&a, &m, be, B, S) == LV_OK, "activations")) {
        lv_backend_destroy(be);
        return;
    }
    recorder r = {grads, m.params.total, {0}, {0}, {0}, 0, 1};
    lv_grad_ready hook = {record, &r};
    a.grad_ready = &hook;
    lv_resnet18_forward(&m, &a, params, state, x, 1);
    lv_resnet18_backward(&m, &a, params, grads, demb, NULL);
    lv_test_true(be->sync(be) == LV_OK, "forward/backward ran");
    lv_test_true(r.falling && r.calls == 10, "10 reports (projection, 8 blocks, stem), lo strictly falling");
    lv_test_true(r.calls > 0 && r.lo[0] == m.proj_w && r.lo[r.calls - 1] == 0,
                 "the first report is the projection, the last lo = 0");
    int final = 1;
    for (int i = 0; i < r.calls; i++) final &= hash(grads + r.lo[i], r.hi[i] - r.lo[i]) == r.h[i];
    lv_test_true(final, "a range reported final is never written again in the backward");

    /* The trainer's use: which buckets the reports release, with the real plan. */
    lv_optim_plan plan;
    if (lv_test_true(lv_optim_plan_build(&plan, &m.params) == LV_OK, "optimizer plan")) {
        const lv_optim_plan *plans[] = {&plan};
        lv_grad_buckets g;
        size_t cap = ((size_t)25 << 20) / sizeof(float);
        lv_test_true(lv_grad_buckets_build(&g, plans, 1, 0, cap) == LV_OK, "buckets of 25 MB");
        int safe = 1, before_end = 0;
        for (int i = 0; i < r.calls; i++) {
            int due = lv_grad_buckets_due(&g, r.lo[i]);
            for (int k = g.next; k < due; k++) safe &= g.b[k].offset >= r.lo[i];
            if (i < r.calls - 1) before_end += due - g.next;
            g.next = due;
        }
        printf("resnet18 (%zu floats): %d buckets, %d launched before the backward's last report\n", m.params.total,
               g.count, before_end);
        lv_test_true(safe, "each bucket is released only once all of its gradients are final");
        lv_test_true(g.next == g.count, "every bucket is released by the end of the backward");
        lv_test_true(before_end >= 1 && before_end < g.count, "some, not all, are released while the backward runs");
        lv_grad_buckets_free(&g);
        lv_optim_plan_free(&plan);
    }
    lv_resnet18_acts_free(&a);
    lv_resnet18_free(&m);
    lv_backend_destroy(be);
    free(params);
    free(grads);
    free(state);
    free(x);
    free(demb);
}

int main(void) {
    test_plans();
    test_backward();
    return lv_test_summary();
}
