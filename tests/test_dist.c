/* The distributed layer in one process, no mpirun: a plain run is world 1 and every
 * collective is the identity; RANK/WORLD_SIZE and srun variables are read and checked
 * (bad values are LV_ERR_INPUT naming the variable; world > 1 without MPI is refused).
 * LV_TEST_SANITIZE: it parses untrusted environment strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_info.h"
#include "harness.h"
#include "train/dist.h"

static const char *launch_vars[] = {
    "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS",
    "SLURM_LOCALID", "SLURM_STEP_ID", "SLURM_STEP_NUM_NODES", "SLURM_NNODES",
    "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMI_SIZE", "PMI_RANK", "PMIX_RANK", "PMIX_SIZE",
};

/* ctest may itself run inside a job: start every case from a clean environment. */
static void clear_env(void) {
    for (size_t i = 0; i < sizeof launch_vars / sizeof launch_vars[0]; i++) unsetenv(launch_vars[i]);
}

/* Sets "NAME=value" pairs (NULL-terminated) on a clean environment and runs init. */
static lv_status init_with(lv_dist *d, const char *const *kv) {
    clear_env();
    for (int i = 0; kv && kv[i]; i += 2) setenv(kv[i], kv[i + 1], 1);
    lv_error_clear();
    return lv_dist_init(d, NULL, NULL);
}

/* The call fails with `code` and its message names `needle`. */
static void expect_error(const char *what, const char *const *kv, lv_status code, const char *needle) {
    lv_dist d;
    lv_status s = init_with(&d, kv);
    if (s == code && strstr(lv_error_message(), needle)) {
        lv_test_pass("%s -> %s", what, lv_error_message());
    } else {
        lv_test_fail("%s: status %d (want %d), message '%s' (want it to name '%s')", what, (int)s,
                     (int)code, s == LV_OK ? "" : lv_error_message(), needle);
    }
    if (s == LV_OK) lv_dist_finalize(&d);
}

static void single_process(void) {
    lv_dist d;
    lv_status s = init_with(&d, NULL);
    if (!lv_test_true(s == LV_OK, "plain run initialises without mpirun")) {
        lv_test_fail("%s", lv_error_message());
        return;
    }
    lv_test_true(d.rank == 0 && d.world == 1 && d.local_rank == 0 && d.hosts == 1, "plain run: rank 0 of 1");
    lv_test_true(strcmp(d.launcher, "single") == 0 && d.comm == LV_DIST_COMM_NONE, "plain run: launcher single");
    char line[160];
    lv_dist_describe(&d, line, sizeof line);
    lv_test_true(strstr(line, "world 1") && strstr(line, "single"), "describe names world and launcher");

    float f[5] = {1.5f, -2.0f, 0.0f, 3.25f, 1e30f}, f0[5];
    memcpy(f0, f, sizeof f);
    lv_test_true(lv_dist_allreduce_mean(&d, f, 5) == LV_OK && memcmp(f, f0, sizeof f) == 0,
                 "world 1: allreduce_mean is the identity");
    double g[2] = {0.1, 7.0};
    lv_test_true(lv_dist_allreduce_sum_double(&d, g, 2) == LV_OK && g[0] == 0.1 && g[1] == 7.0,
                 "world 1: allreduce_sum_double is the identity");
    int k[3] = {0, 1, -4};
    lv_test_true(lv_dist_allreduce_max_int(&d, k, 3) == LV_OK && k[0] == 0 && k[1] == 1 && k[2] == -4,
                 "world 1: allreduce_max_int is the identity");
    lv_test_true(lv_dist_allreduce_mean(&d, NULL, 0) == LV_OK, "empty all-reduce");
    char b[4] = "abc";
    lv_test_true(lv_dist_bcast(&d, b, sizeof b) == LV_OK && strcmp(b, "abc") == 0, "world 1: bcast keeps the bytes");

    void *out = NULL;
    size_t nout = 0, counts[1] = {99};
    s = lv_dist_gather(&d, "hello", 5, &out, &nout, counts);
    lv_test_true(s == LV_OK && nout == 5 && out && memcmp(out, "hello", 5) == 0 && counts[0] == 5,
                 "world 1: gather returns a copy of rank 0's bytes");
    free(out);
    s = lv_dist_gather(&d, NULL, 0, &out, &nout, NULL);
    lv_test_true(s == LV_OK && out == NULL && nout == 0, "world 1: empty gather gives NULL");

    lv_test_true(lv_dist_check_same(&d, f, sizeof f, "weights") == LV_OK, "world 1: check_same passes");
    lv_test_true(lv_dist_barrier(&d) == LV_OK, "world 1: barrier");
    lv_dist_finalize(&d);
    s = lv_dist_barrier(&d);
    lv_test_true(s == LV_ERR_RUNTIME && strstr(lv_error_message(), "lv_dist_init"),
                 "a collective after finalize is an error, not a crash");
}

static void from_environment(void) {
    lv_dist d;
    const char *torch[] = {"RANK", "0", "WORLD_SIZE", "1", "LOCAL_RANK", "0", NULL};
    lv_status s = init_with(&d, torch);
    lv_test_true(s == LV_OK && d.world == 1 && d.rank == 0 && strcmp(d.launcher, "env") == 0 &&
                     strcmp(d.source, "RANK/WORLD_SIZE") == 0,
                 "RANK=0 WORLD_SIZE=1: launcher env, world 1");
    if (s == LV_OK) {
        float x[2] = {4.0f, 5.0f};
        lv_test_true(lv_dist_allreduce_mean(&d, x, 2) == LV_OK && x[0] == 4.0f && x[1] == 5.0f,
                     "env world 1: allreduce is the identity");
        lv_dist_finalize(&d);
    } else {
        lv_test_fail("%s", lv_error_message());
    }

    const char *slurm[] = {"SLURM_STEP_ID", "0", "SLURM_PROCID", "0", "SLURM_NTASKS", "1", "SLURM_LOCALID", "0", NULL};
    s = init_with(&d, slurm);
    lv_test_true(s == LV_OK && d.world == 1 && strcmp(d.source, "SLURM") == 0, "srun step with 1 task: launcher env (SLURM)");
    if (s == LV_OK) lv_dist_finalize(&d);

    /* A batch script holds SLURM_PROCID/SLURM_NTASKS for tasks it does not run itself. */
    const char *batch[] = {"SLURM_PROCID", "0", "SLURM_NTASKS", "4", NULL};
    s = init_with(&d, batch);
    lv_test_true(s == LV_OK && d.world == 1 && strcmp(d.launcher, "single") == 0,
                 "SLURM variables outside a job step are ignored (batch script)");
    if (s == LV_OK) lv_dist_finalize(&d);

    /* torchrun inside srun: the innermost launcher (RANK/WORLD_SIZE) wins. */
    const char *both[] = {"SLURM_STEP_ID", "0", "SLURM_PROCID", "0", "SLURM_NTASKS", "7",
                          "RANK", "0", "WORLD_SIZE", "1", NULL};
    s = init_with(&d, both);
    lv_test_true(s == LV_OK && d.world == 1 && strcmp(d.source, "RANK/WORLD_SIZE") == 0,
                 "RANK/WORLD_SIZE take precedence over SLURM");
    if (s == LV_OK) lv_dist_finalize(&d);
}

static void bad_environment(void) {
    const char *w0[] = {"RANK", "0", "WORLD_SIZE", "0", NULL};
    expect_error("WORLD_SIZE=0", w0, LV_ERR_INPUT, "WORLD_SIZE");
    const char *rbig[] = {"RANK", "1", "WORLD_SIZE", "1", NULL};
    expect_error("RANK=1 WORLD_SIZE=1", rbig, LV_ERR_INPUT, "RANK=1");
    const char *rtext[] = {"RANK", "abc", "WORLD_SIZE", "1", NULL};
    expect_error("RANK=abc", rtext, LV_ERR_INPUT, "RANK='abc'");
    const char *rneg[] = {"RANK", "-1", "WORLD_SIZE", "2", NULL};
    expect_error("RANK=-1", rneg, LV_ERR_INPUT, "RANK='-1'");
    const char *wempty[] = {"RANK", "0", "WORLD_SIZE", "", NULL};
    expect_error("WORLD_SIZE empty", wempty, LV_ERR_INPUT, "WORLD_SIZE=''");
    const char *wover[] = {"RANK", "0", "WORLD_SIZE", "99999999999999", NULL};
    expect_error("WORLD_SIZE overflow", wover, LV_ERR_INPUT, "WORLD_SIZE");
    const char *ronly[] = {"RANK", "0", NULL};
    expect_error("RANK without WORLD_SIZE", ronly, LV_ERR_INPUT, "WORLD_SIZE is not");
    const char *wonly[] = {"WORLD_SIZE", "1", NULL};
    expect_error("WORLD_SIZE without RANK", wonly, LV_ERR_INPUT, "RANK is not");
    const char *lbad[] = {"RANK", "0", "WORLD_SIZE", "1", "LOCAL_RANK", "x1", NULL};
    expect_error("LOCAL_RANK=x1", lbad, LV_ERR_INPUT, "LOCAL_RANK");
    const char *lbig[] = {"RANK", "0", "WORLD_SIZE", "2", "LOCAL_RANK", "3", "LOCAL_WORLD_SIZE", "2", NULL};
    expect_error("LOCAL_RANK >= LOCAL_WORLD_SIZE", lbig, LV_ERR_INPUT, "LOCAL_RANK=3");
    const char *lw[] = {"RANK", "0", "WORLD_SIZE", "4", "LOCAL_WORLD_SIZE", "3", NULL};
    expect_error("LOCAL_WORLD_SIZE not a divisor", lw, LV_ERR_INPUT, "LOCAL_WORLD_SIZE=3");
    const char *sbig[] = {"SLURM_STEP_ID", "0", "SLURM_PROCID", "2", "SLURM_NTASKS", "2", NULL};
    expect_error("SLURM_PROCID >= SLURM_NTASKS", sbig, LV_ERR_INPUT, "SLURM_PROCID=2");
    const char *snot[] = {"SLURM_STEP_ID", "0", "SLURM_PROCID", "0", NULL};
    expect_error("SLURM_PROCID without SLURM_NTASKS", snot, LV_ERR_INPUT, "SLURM_NTASKS");
    /* A real 2-rank environment: without an MPI launcher the CPU all-reduce cannot run. */
    const char *two[] = {"RANK", "1", "WORLD_SIZE", "2", NULL};
    expect_error("RANK/WORLD_SIZE world 2 without mpirun", two, LV_ERR_USAGE, "needs MPI");
    const char *stwo[] = {"SLURM_STEP_ID", "3", "SLURM_PROCID", "0", "SLURM_NTASKS", "2", "SLURM_NNODES", "1", NULL};
    expect_error("srun world 2 without an MPI plugin", stwo, LV_ERR_USAGE, "mpirun -np 2");
    /* A build without MPI started by mpirun: said plainly (a real MPI build would call
     * MPI_Init here, which a faked launcher environment cannot serve). */
    if (!LV_HAVE_MPI) {
        const char *ompi[] = {"OMPI_COMM_WORLD_SIZE", "2", "OMPI_COMM_WORLD_RANK", "0", NULL};
        expect_error("mpirun -np 2 without an MPI build", ompi, LV_ERR_USAGE, "this build has no MPI");
    }
    clear_env();
}

static void hashing(void) {
    /* FNV-1a 64 of "a" is the published test vector; empty input is the offset basis. */
    lv_test_true(lv_dist_hash("", 0) == 0xcbf29ce484222325ull, "hash of nothing is the FNV offset basis");
    lv_test_true(lv_dist_hash("a", 1) == 0xaf63dc4c8601ec8cull, "hash('a') matches FNV-1a 64");
    float a[3] = {1, 2, 3}, b[3] = {1, 2, 3.0000002f};
    lv_test_true(lv_dist_hash(a, sizeof a) != lv_dist_hash(b, sizeof b), "one ulp changes the hash");
}

int main(void) {
    single_process();
    from_environment();
    bad_environment();
    hashing();
    return lv_test_summary();
}
