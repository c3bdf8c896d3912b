/* The distributed layer under a real `mpirun -np N` (tests/cli_mpi.sh runs it; it is not a
 * plain ctest test, which would run without mpirun): exact collective results on every rank,
 * mismatches refused on every rank without a hang, and data-parallel training steps of a
 * tiny Liver-VLM that leave every rank with bit-identical weights equal to a single-process
 * reference that accumulates the same per-rank micro-batches. `--compare A B` (no mpirun)
 * measures how far two checkpoints differ, for the --sync-bn check of cli_mpi.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_info.h"
#include "core/rng.h"
#include "encoders/liver_vlm.h"
#include "harness.h"
#include "train/dist.h"
#include "train/optim.h"

enum { P = 3, C = 5, S = 32, PER_RANK = 4, STEPS = 3 };

static void collectives(lv_dist *d) {
    const int W = d->world, r = d->rank;
    /* Small integers and quarters: sums and the mean are exact, so equality is the test. */
    enum { N = 1000 };
    float *f = malloc(sizeof(float) * N);
    for (int pass = 0; pass < 2; pass++) {
        /* pass 1: 300-element MPI calls, so the chunk loop runs 4 times with a short tail */
        if (pass == 1) setenv("LIVER_VLM_MPI_CHUNK", "300", 1);
        for (int i = 0; i < N; i++) f[i] = (float)(r * 1000) + 0.25f * (float)i;
        lv_status s = lv_dist_allreduce_mean(d, f, N);
        int exact = s == LV_OK;
        for (int i = 0; i < N; i++) exact &= f[i] == (float)(500 * (W - 1)) + 0.25f * (float)i;
        if (exact) lv_test_pass("rank %d: allreduce_mean exact (%s)", r, pass ? "300-element chunks" : "one call");
        else lv_test_fail("rank %d: allreduce_mean (%s) wrong: f[1]=%g want %g (%s)", r, pass ? "chunks" : "one call",
                          (double)f[1], 500.0 * (W - 1) + 0.25, s ? lv_error_message() : "ok");
    }
    free(f);

    double g[2] = {r + 0.5, 1.0};
    lv_test_true(lv_dist_allreduce_sum_double(d, g, 2) == LV_OK && g[0] == W * W / 2.0 && g[1] == W,
                 "allreduce_sum_double gives the exact sums");
    int k[3] = {r == W - 1, r, -r};
    lv_test_true(lv_dist_allreduce_max_int(d, k, 3) == LV_OK && k[0] == 1 && k[1] == W - 1 && k[2] == 0,
                 "allreduce_max_int: a flag raised on the last rank reaches every rank");

    enum { NB = 1001 };
    unsigned char b[NB];
    for (int i = 0; i < NB; i++) b[i] = r == 0 ? (unsigned char)((i * 7 + 3) & 255) : 0;
    int same = lv_dist_bcast(d, b, NB) == LV_OK;
    for (int i = 0; i < NB; i++) same &= b[i] == (unsigned char)((i * 7 + 3) & 255);
    lv_test_true(same, "bcast: rank 0's bytes everywhere (chunked)");
    lv_status s = lv_dist_bcast(d, b, r == W - 1 ? NB - 1 : NB);
    lv_test_true(s == LV_ERR_RUNTIME && strstr(lv_error_message(), "rank 0 sends 1001 bytes"),
                 "bcast with a size mismatch fails on every rank (no hang)");

    /* Rank q sends 700q + 5 bytes of value q + 1: several chunks from the others. */
    size_t mine = (size_t)(700 * r + 5), total = 0;
    unsigned char *snd = malloc(mine);
    memset(snd, r + 1, mine);
    void *out = NULL;
    size_t nout = 0, *counts = calloc((size_t)W, sizeof *counts);
    s = lv_dist_gather(d, snd, mine, &out, &nout, counts);
    if (r == 0) {
        int ok = s == LV_OK && out != NULL;
        const unsigned char *o = out;
        for (int q = 0; q < W && ok; q++) {
            size_t len = (size_t)(700 * q + 5);
            ok &= counts[q] == len;
            for (size_t i = 0; i < len && ok; i++) ok &= o[total + i] == q + 1;
            total += len;
        }
        lv_test_true(ok && nout == total, "gather: rank 0 holds every rank's bytes in rank order");
    } else {
        lv_test_true(s == LV_OK && out == NULL && nout == 0, "gather: other ranks get nothing back");
    }
    free(out);
    s = lv_dist_gather(d, snd, r == 0 ? 0 : mine, &out, &nout, NULL);
    lv_test_true(s == LV_OK && (r != 0 || nout == total - 5), "gather with an empty share on rank 0");
    free(out);
    free(snd);
    free(counts);

    float w[4] = {1, 2, 3, 4};
    lv_test_true(lv_dist_check_same(d, w, sizeof w, "w") == LV_OK, "check_same: identical buffers pass");
    if (r == W - 1) w[2] = nextafterf(3.0f, 4.0f);
    s = lv_dist_check_same(d, w, sizeof w, "w");
    char want[64];
    snprintf(want, sizeof want, "rank %d does not match rank 0", W - 1);
    lv_test_true(s == LV_ERR_RUNTIME && strstr(lv_error_message(), want),
                 "check_same: one ulp on the last rank is caught on every rank");
    unsetenv("LIVER_VLM_MPI_CHUNK");
}

/* The global batch of step `step`: PER_RANK * world images, class in the brightness. */
static void make_batch(float *x, int *y, int n, int step) {
    const size_t img = (size_t)P * S * S;
    for (int i = 0; i < n; i++) {
        y[i] = (i * 3 + step) % C;
        for (size_t k = 0; k < img; k++)
            x[i * img + k] = 0.4f * (float)y[i] + 0.5f * lv_rng_normal(21, (uint64_t)step, i * img + k);
    }
}

static lv_status build(lv_vlm *m, lv_backend *be, uint64_t seed) {
    const char *classes[C] = {"CYST", "FNH", "HCC", "HEM", "METS"};
    lv_wordpiece *tok = NULL;
    LV_TRY(lv_wordpiece_builtin(&tok));
    lv_vlm_config cfg;
    lv_vlm_config_default(&cfg, P, C, (int)lv_wordpiece_vocab_size(tok));
    lv_wordpiece_free(tok);
    cfg.head = LV_HEAD_LINEAR;
    LV_TRY(lv_vlm_create(m, be, &cfg, classes, NULL, NULL, 1, seed));
    return lv_vlm_prepare(m, PER_RANK, S);
}

/* Every rank ends with rank 0's weights and gathers them for a byte-wise comparison too. */
static int gathered_identical(lv_dist *d, const float *buf, size_t n) {
    void *all = NULL;
    size_t bytes = 0;
    int ok = lv_dist_gather(d, buf, n * sizeof(float), &all, &bytes, NULL) == LV_OK;
    if (d->rank == 0) {
        ok &= bytes == (size_t)d->world * n * sizeof(float);
        for (int q = 1; q < d->world && ok; q++)
            ok &= memcmp((const char *)all + (size_t)q * n * sizeof(float), buf, n * sizeof(float)) == 0;
    }
    free(all);
    int bad = !ok;
    lv_dist_allreduce_max_int(d, &bad, 1);
    return !bad;
}

static void training(lv_dist *d) {
    const int W = d->world, r = d->rank, B = PER_RANK * W;
    const size_t img = (size_t)P * S * S;
    lv_backend *be = NULL;
    /* One thread everywhere: the reference and the ranks run the very same arithmetic. */
    if (lv_cpu_backend_create(&be, 1) != LV_OK) {
        lv_test_fail("cpu backend: %s", lv_error_message());
        return;
    }
    lv_vlm m, ref;
    /* A different seed per rank: the broadcast must make the starting points identical. */
    int built = build(&m, be, 11 + (uint64_t)r) == LV_OK;
    if (r == 0) built &= build(&ref, be, 11) == LV_OK;
    if (!lv_test_true(built, "models build")) lv_test_fail("%s", lv_error_message());
    int bad = !built;
    lv_dist_allreduce_max_int(d, &bad, 1);
    if (bad) return;

    const size_t nv = m.vbuf.n, nh = m.hbuf.n, ns = m.visual.state.total;
    lv_status s = lv_dist_check_same(d, m.vbuf.params, nv * sizeof(float), "visual weights");
    lv_test_true(s == LV_ERR_RUNTIME, "weights initialised from different seeds are caught");
    int ok = lv_dist_bcast(d, m.vbuf.params, nv * sizeof(float)) == LV_OK;
    ok &= lv_dist_bcast(d, m.hbuf.params, nh * sizeof(float)) == LV_OK;
    ok &= lv_dist_bcast(d, m.vstate, ns * sizeof(float)) == LV_OK;
    ok &= lv_dist_check_same(d, m.vbuf.params, nv * sizeof(float), "visual weights") == LV_OK;
    lv_test_true(ok, "after the initial broadcast every rank holds rank 0's weights");
    if (r == 0)
        lv_test_true(memcmp(m.vbuf.params, ref.vbuf.params, nv * sizeof(float)) == 0 &&
                         memcmp(m.hbuf.params, ref.hbuf.params, nh * sizeof(float)) == 0,
                     "rank 0's weights equal the reference's");

    lv_optim_config oc;
    lv_optim_config_default(&oc);
    /* SGD keeps the update linear in the gradient, so the reference comparison measures the
     * gradient path and not Adam's amplification of near-zero gradients. */
    oc.kind = LV_OPT_SGD;
    oc.lr = 0.01f;
    oc.momentum = 0.9f;
    lv_optim_plan pv, ph;
    lv_optim_plan_build(&pv, &m.visual.params);
    lv_optim_plan_build(&ph, &m.head);
    float *x = malloc(sizeof(float) * (size_t)B * img);
    int *y = malloc(sizeof(int) * (size_t)B);
    double worst_grad = 0, worst_w = 0;
    for (int step = 0; step < STEPS; step++) {
        make_batch(x, y, B, step);
        if (r == 0) {
            /* The reference restarts from the distributed state every step: with batches of
             * 4 the BN statistics of layer4 (1x1 maps) come from 4 numbers, so rounding-level
             * differences would grow from step to step and hide what one step does. */
            memcpy(ref.vbuf.params, m.vbuf.params, sizeof(float) * nv);
            memcpy(ref.vbuf.m, m.vbuf.m, sizeof(float) * nv);
            memcpy(ref.hbuf.params, m.hbuf.params, sizeof(float) * nh);
            memcpy(ref.hbuf.m, m.hbuf.m, sizeof(float) * nh);
        }
        lv_vlm_zero_grads(&m);
        lv_vlm_train_step(&m, x + (size_t)r * PER_RANK * img, y + r * PER_RANK, PER_RANK);
        float l = 0;
        be->copy_d2h(be, &l, m.loss, sizeof l);
        ok = be->sync(be) == LV_OK;
        /* What the trainer does: one skip flag and the loss sum, then the gradient mean. */
        int skip = !isfinite(l) || !ok;
        double loss = l;
        ok &= lv_dist_allreduce_max_int(d, &skip, 1) == LV_OK && !skip;
        ok &= lv_dist_allreduce_sum_double(d, &loss, 1) == LV_OK;
        ok &= lv_dist_allreduce_mean(d, m.vbuf.grads, nv) == LV_OK;
        ok &= lv_dist_allreduce_mean(d, m.hbuf.grads, nh) == LV_OK;
        lv_optim_step(be, &pv, &m.vbuf, &oc, step, oc.lr);
        lv_optim_step(be, &ph, &m.hbuf, &oc, step, oc.lr);
        ok &= be->sync(be) == LV_OK;
        if (!lv_test_true(ok, "distributed step runs")) lv_test_fail("%s", lv_error_message());

        int same = lv_dist_check_same(d, m.vbuf.params, nv * sizeof(float), "visual weights") == LV_OK;
        same &= lv_dist_check_same(d, m.hbuf.params, nh * sizeof(float), "head weights") == LV_OK;
        same &= gathered_identical(d, m.vbuf.params, nv) && gathered_identical(d, m.hbuf.params, nh);
        if (same) lv_test_pass("step %d: all %d ranks hold bit-identical weights", step, W);
        else lv_test_fail("step %d: weights differ between ranks: %s", step, lv_error_message());

        if (r == 0) {
            /* The reference: one process, the same W micro-batches accumulated, divided by W. */
            lv_vlm_zero_grads(&ref);
            double rl = 0;
            for (int q = 0; q < W; q++) {
                lv_vlm_train_step(&ref, x + (size_t)q * PER_RANK * img, y + q * PER_RANK, PER_RANK);
                float lq = 0;
                be->copy_d2h(be, &lq, ref.loss, sizeof lq);
                rl += lq;
            }
            for (size_t i = 0; i < nv; i++) ref.vbuf.grads[i] /= (float)W;
            for (size_t i = 0; i < nh; i++) ref.hbuf.grads[i] /= (float)W;
            double e = lv_test_close("averaged visual gradient vs single process", m.vbuf.grads, ref.vbuf.grads, nv, 1e-5);
            e = fmax(e, lv_test_close("averaged head gradient vs single process", m.hbuf.grads, ref.hbuf.grads, nh, 1e-5));
            worst_grad = fmax(worst_grad, e);
            lv_test_true(fabs(loss / W - rl / W) <= 1e-6 * fabs(rl / W), "mean loss over ranks equals the reference's");
            lv_optim_step(be, &pv, &ref.vbuf, &oc, step, oc.lr);
            lv_optim_step(be, &ph, &ref.hbuf, &oc, step, oc.lr);
            worst_w = fmax(worst_w, lv_test_close("weights after the step vs single process", m.vbuf.params,
                                                  ref.vbuf.params, nv, 1e-5));
            printf("step %d: mean loss %.6f, max rel. gradient error %.2e, weight error %.2e\n", step,
                   loss / W, e, worst_w);
        }
    }
    /* BN running statistics follow each rank's own shard; broadcasting rank 0's (PyTorch
     * DDP's broadcast_buffers) makes the full checkpoint state identical too. */
    s = lv_dist_check_same(d, m.vstate, ns * sizeof(float), "BN running statistics");
    if (W > 1) lv_test_true(s == LV_ERR_RUNTIME, "BN running statistics differ before their broadcast");
    ok = lv_dist_bcast(d, m.vstate, ns * sizeof(float)) == LV_OK;
    ok &= lv_dist_check_same(d, m.vstate, ns * sizeof(float), "BN running statistics") == LV_OK;
    lv_test_true(ok, "BN running statistics identical after the broadcast");
    if (r == 0) printf("worst over %d steps: gradient %.2e, weights %.2e (relative to max)\n", STEPS, worst_grad, worst_w);

    free(x);
    free(y);
    lv_optim_plan_free(&pv);
    lv_optim_plan_free(&ph);
    lv_vlm_free(&m);
    if (r == 0) lv_vlm_free(&ref);
    lv_backend_destroy(be);
}

/* --compare A B (a plain run, no MPI): for cli_mpi.sh's --sync-bn acceptance check, the worst
 * per-tensor relative difference max|a-b| / max|b| between two checkpoints, separately for BN
 * running statistics and for everything else, one line each:
 *   compare <weights|bn_stats> <worst> <tensor>
 * Exit 1 when a file does not open or the two hold different tensors. */
static int compare_checkpoints(const char *pa, const char *pb) {
    lv_st_file *a = NULL, *b = NULL;
    if (lv_st_open(&a, pa) != LV_OK || lv_st_open(&b, pb) != LV_OK) {
        fprintf(stderr, "compare: %s\n", lv_error_message());
        lv_st_close(a);
        return 1;
    }
    double worst[2] = {0, 0};
    const char *where[2] = {"(none)", "(none)"};
    int rc = lv_st_count(a) == lv_st_count(b) ? 0 : 1;
    if (rc) fprintf(stderr, "compare: %d tensors in %s, %d in %s\n", lv_st_count(a), pa, lv_st_count(b), pb);
    for (int i = 0; i < lv_st_count(a) && !rc; i++) {
        const lv_st_tensor *ta = lv_st_at(a, i), *tb = lv_st_find(b, ta->name);
        if (ta->dtype != LV_DT_F32) continue;
        if (!tb || tb->dtype != LV_DT_F32 || tb->end - tb->begin != ta->end - ta->begin) {
            fprintf(stderr, "compare: tensor %s differs in presence, type or size between %s and %s\n", ta->name,
                    pa, pb);
            rc = 1;
            break;
        }
        size_t n = (size_t)(ta->end - ta->begin) / sizeof(float);
        float *x = malloc((n ? n : 1) * sizeof *x), *y = malloc((n ? n : 1) * sizeof *y);
        memcpy(x, lv_st_data(a, ta), n * sizeof *x);
        memcpy(y, lv_st_data(b, tb), n * sizeof *y);
        double diff = 0, scale = 0;
        for (size_t k = 0; k < n; k++) {
            double dk = fabs((double)x[k] - (double)y[k]);
            diff = dk > diff || isnan(dk) ? dk : diff;
            scale = fabs((double)y[k]) > scale ? fabs((double)y[k]) : scale;
        }
        double rel = diff / (scale > 1e-30 ? scale : 1e-30);
        int g = strstr(ta->name, "running_") != NULL;
        if (rel > worst[g] || isnan(rel)) worst[g] = rel, where[g] = ta->name;
        free(x), free(y);
    }
    if (!rc) {
        printf("compare weights %.3e %s\n", worst[0], where[0]);
        printf("compare bn_stats %.3e %s\n", worst[1], where[1]);
    }
    lv_st_close(a);
    lv_st_close(b);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--compare") == 0) return compare_checkpoints(argv[2], argv[3]);
    if (!LV_HAVE_MPI) return lv_test_skip("built without MPI");
    lv_dist d;
    lv_status s = lv_dist_init(&d, &argc, &argv);
    if (s != LV_OK) {
        fprintf(stderr, "mpi_allreduce_check: %s\n", lv_error_message());
        lv_dist_abort(&d, 1);
        return 1;
    }
    if (d.world < 2) {
        fprintf(stderr, "mpi_allreduce_check: run me under mpirun -np 2 (world is %d)\n", d.world);
        lv_dist_finalize(&d);
        return 2;
    }
    if (argc > 1 && strcmp(argv[1], "--abort") == 0) {
        /* The last rank fails alone while the others wait in a barrier: the abort must end
         * the whole job (cli_mpi.sh checks that mpirun returns, non-zero, in time). */
        if (d.rank == d.world - 1) {
            fprintf(stderr, "rank %d: failing alone on purpose\n", d.rank);
            lv_dist_abort(&d, 3);
            return 3;
        }
        lv_status b = lv_dist_barrier(&d);
        fprintf(stderr, "rank %d: barrier returned %d (an abort should have ended the job)\n", d.rank, (int)b);
        lv_dist_finalize(&d);
        return 0;
    }
    collectives(&d);
    training(&d);
    int rc = lv_test_summary();
    /* One verdict for the job: any rank's failure fails every rank's exit code. */
    if (lv_dist_allreduce_max_int(&d, &rc, 1) != LV_OK) rc = 1;
    lv_dist_finalize(&d);
    return rc;
}
