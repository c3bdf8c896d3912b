/* cuda/cuda_comm.h on one GPU: a 1-rank NCCL communicator's all-reduce mean and broadcast
 * leave buffers bit-identical (also in buckets and at odd sizes), the watchdog reports
 * finished work as done and leaves no stray CUDA error, an aborted communicator refuses
 * further work, and a communicator whose second rank never comes gives up at its deadline
 * (in a child process, so a hang is caught, not waited on). Without a device (or in a build
 * without CUDA, where the stub must refuse cleanly) only the refusals run, then SKIP (77). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cuda/cuda_comm.h"
#include "harness.h"
#include "twin.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int has(const char *text, const char *part) { return text && strstr(text, part) != NULL; }

/* What every build must refuse, device or not. */
static void check_refusals(lv_backend *cpu) {
    char ver[96];
    printf("  NCCL: %s\n", lv_cuda_comm_version(ver, sizeof ver));
    lv_test_true(ver[0] != '\0', "a version string is always given");
    unsigned char small[8];
    lv_test_true(lv_cuda_comm_unique_id(small, sizeof small) == LV_ERR_USAGE, "a short id buffer is refused");
    unsigned char id[LV_CUDA_COMM_ID_BYTES];
    memset(id, 0, sizeof id);
    lv_cuda_comm *c = (lv_cuda_comm *)1;
    lv_status s = lv_cuda_comm_create(&c, cpu, id, 0, 1, 10.0);
    lv_test_true(s == LV_ERR_USAGE && c == NULL, "a communicator on the CPU backend is a usage error");
    lv_test_true(has(lv_error_message(), "--comm nccl"), "the refusal names --comm nccl");
    printf("  refusal: %s\n", lv_error_message());
    lv_cuda_device_desc d;
    lv_test_true(lv_cuda_device_describe(cpu, &d) == LV_ERR_USAGE, "describing a CPU backend is refused");
    if (!lv_cuda_comm_available()) {
        lv_test_true(has(ver, "built without CUDA"), "the stub's version says built without CUDA");
        lv_test_true(lv_cuda_comm_unique_id(id, sizeof id) == LV_ERR_USAGE &&
                         has(lv_error_message(), "built without CUDA"),
                     "the stub refuses a unique id, saying why");
        int done = 1;
        lv_test_true(lv_cuda_comm_check(NULL, &done) == LV_ERR_USAGE && done == 0, "the stub's check refuses");
    } else {
        lv_test_true(has(ver, "built with"), "the version names the NCCL built against");
    }
    lv_cuda_comm_destroy(NULL);
    lv_cuda_comm_abort(NULL);
}

/* Child process: world 2, only rank 0 joins; creation must fail at the 2 s deadline. */
static int init_deadline_child(void) {
    if (lv_cuda_device_count() == 0) return 77;
    lv_backend *be = NULL;
    if (lv_cuda_backend_create(&be, 0) != LV_OK) {
        printf("  child: %s\n", lv_error_message());
        return 3;
    }
    unsigned char id[LV_CUDA_COMM_ID_BYTES];
    if (lv_cuda_comm_unique_id(id, sizeof id) != LV_OK) {
        printf("  child: %s\n", lv_error_message());
        lv_backend_destroy(be);
        return 3;
    }
    lv_cuda_comm *c = NULL;
    double t0 = now_s();
    lv_status s = lv_cuda_comm_create(&c, be, id, 0, 2, 2.0);
    double dt = now_s() - t0;
    const char *m = lv_error_message();
    int ok = s == LV_ERR_RUNTIME && c == NULL && has(m, "rank 0 of 2") && has(m, "--comm-timeout") && dt >= 2.0 &&
             dt < 30.0;
    printf("  child: creation gave up after %.2f s: %s\n", dt, s == LV_OK ? "(no error)" : m);
    lv_cuda_comm_destroy(c);
    ok = ok && be->sync(be) == LV_OK;
    lv_backend_destroy(be);
    return ok ? 0 : 1;
}

/* Starts the child before this process touches CUDA (a forked child cannot use a context
 * its parent created); returns its pid, or -1. */
static pid_t start_child(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int code = init_deadline_child();
        fflush(stdout);
        _exit(code);
    }
    return pid;
}

static void finish_child(pid_t pid) {
    if (pid < 0) {
        lv_test_fail("fork failed: the deadline check did not run");
        return;
    }
    int status = 0;
    double t0 = now_s();
    pid_t got = 0;
    while ((got = waitpid(pid, &status, WNOHANG)) == 0 && now_s() - t0 < 30.0) {
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
    }
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        lv_test_fail("a communicator missing a rank hung past its deadline (killed after 30 s)");
        return;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (code == 77) return; /* no device in the child either */
    lv_test_true(code == 0, "a communicator whose second rank never joins fails at its deadline, naming the rank");
}

/* In-place all-reduce of a copy of `want` in buckets of `bucket` floats; the buffer must come
 * back bit-identical (the mean over one rank). */
static void check_allreduce(lv_backend *dev, lv_cuda_comm *c, size_t n, size_t bucket, const char *what) {
    float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
    if (!want || !got) {
        lv_test_fail("%s: out of memory", what);
        free(want);
        free(got);
        return;
    }
    lv_test_fill_uniform(want, n, 77 + n, -3.0f, 3.0f);
    float *d = lv_twin_up(dev, want, n);
    lv_status s = LV_OK;
    for (size_t off = 0; off < n && s == LV_OK; off += bucket)
        s = lv_cuda_comm_allreduce_mean(c, d + off, n - off < bucket ? n - off : bucket, what);
    if (s == LV_OK) s = lv_cuda_comm_wait(c);
    if (s == LV_OK) s = lv_cuda_comm_synchronize(c);
    if (s != LV_OK) lv_test_fail("%s: %s", what, lv_error_message());
    memset(got, 0xff, n * sizeof *got);
    dev->copy_d2h(dev, got, d, n * sizeof *got);
    if (lv_twin_sync(dev, what) == 0) {
        lv_test_close(what, got, want, n, 0.0);
        lv_test_true(memcmp(got, want, n * sizeof *got) == 0, what);
    }
    dev->free(dev, d);
    free(want);
    free(got);
}

static void check_bcast(lv_backend *dev, lv_cuda_comm *c, size_t bytes) {
    unsigned char *want = malloc(bytes), *got = malloc(bytes);
    if (!want || !got) {
        lv_test_fail("bcast: out of memory");
        free(want);
        free(got);
        return;
    }
    for (size_t i = 0; i < bytes; i++) want[i] = (unsigned char)(i * 131u + 7u);
    void *d = dev->alloc(dev, bytes);
    dev->copy_h2d(dev, d, want, bytes);
    lv_status s = lv_cuda_comm_bcast(c, d, bytes, "test broadcast");
    if (s == LV_OK) s = lv_cuda_comm_wait(c);
    if (s == LV_OK) s = lv_cuda_comm_synchronize(c);
    if (s != LV_OK) lv_test_fail("bcast: %s", lv_error_message());
    dev->copy_d2h(dev, got, d, bytes);
    if (lv_twin_sync(dev, "bcast") == 0)
        lv_test_true(memcmp(got, want, bytes) == 0, "a 1-rank broadcast of an odd byte count leaves it unchanged");
    dev->free(dev, d);
    free(want);
    free(got);
}

static void check_device(lv_backend *dev) {
    lv_cuda_device_desc d;
    if (lv_cuda_device_describe(dev, &d) != LV_OK) {
        lv_test_fail("describe: %s", lv_error_message());
        return;
    }
    printf("  device: GPU %d, %s (PCI %s)\n", d.index, d.name, d.pci);
    lv_test_true(d.name[0] && d.pci[0], "the device has a name and a PCI id");

    unsigned char id[LV_CUDA_COMM_ID_BYTES] = {0};
    lv_cuda_comm *c = NULL;
    lv_test_true(lv_cuda_comm_create(&c, dev, id, 0, 1, 0.0) == LV_ERR_USAGE && !c, "a timeout of 0 is refused");
    lv_test_true(lv_cuda_comm_create(&c, dev, id, 1, 1, 5.0) == LV_ERR_USAGE && !c, "rank 1 of 1 is refused");
    if (lv_cuda_comm_unique_id(id, sizeof id) != LV_OK || lv_cuda_comm_create(&c, dev, id, 0, 1, 30.0) != LV_OK) {
        lv_test_fail("1-rank communicator: %s", lv_error_message());
        return;
    }
    int done = 0;
    lv_test_true(lv_cuda_comm_check(c, &done) == LV_OK && done == 1, "the watchdog: nothing queued is done");

    check_allreduce(dev, c, 2, 2, "all-reduce mean of 2 floats is the identity");
    check_allreduce(dev, c, (1u << 20) + 3, (1u << 20) + 3, "all-reduce mean of 2^20+3 floats is the identity");
    check_allreduce(dev, c, (1u << 20) + 3, 65536 + 7, "bucketed all-reduce (17 buckets) is the identity");
    check_bcast(dev, c, 1001);

    /* Finished work is done, every time it is asked, and leaves no error for the backend. */
    float *d1 = lv_twin_up(dev, NULL, 4099);
    lv_status s = lv_cuda_comm_allreduce_mean(c, d1, 4099, "watchdog probe");
    if (s == LV_OK) s = lv_cuda_comm_wait(c);
    int polls = 0;
    done = 0;
    double t0 = now_s();
    while (s == LV_OK && !done && now_s() - t0 < 20.0) {
        s = lv_cuda_comm_check(c, &done);
        polls++;
    }
    lv_test_true(s == LV_OK && done, "the watchdog reports a finished all-reduce as done, no error");
    printf("  watchdog: done after %d polls, %.3f ms\n", polls, 1e3 * (now_s() - t0));
    lv_test_true(lv_cuda_comm_check(c, &done) == LV_OK && done, "and again on a second look");
    lv_test_true(lv_twin_sync(dev, "sync after the watchdog's polls") == 0,
                 "the backend's sync sees no stray 'not ready' error");
    lv_test_true(lv_cuda_comm_allreduce_mean(c, d1, 0, "empty") == LV_OK, "an empty all-reduce is a no-op");

    /* Aborted: every later call fails naming the abort, destroy still frees it. */
    lv_cuda_comm_abort(c);
    s = lv_cuda_comm_allreduce_mean(c, d1, 4099, "after abort");
    lv_test_true(s == LV_ERR_RUNTIME && has(lv_error_message(), "aborted"), "an aborted communicator refuses work");
    lv_test_true(lv_cuda_comm_check(c, &done) == LV_ERR_RUNTIME && !done, "and its watchdog reports the abort");
    lv_cuda_comm_destroy(c);
    dev->free(dev, d1);
    lv_test_true(lv_twin_sync(dev, "sync after destroy") == 0, "the backend is fine after the communicator is gone");
}

int main(void) {
    pid_t child = start_child(); /* before any CUDA call in this process */
    lv_backend *cpu = lv_test_cpu_backend();
    check_refusals(cpu);
    lv_backend_destroy(cpu);
    finish_child(child);

    const char *twin_cpu = getenv("LV_TEST_TWIN_CPU");
    if (!(twin_cpu && !strcmp(twin_cpu, "1")) && lv_cuda_device_count() == 0) {
        if (lv_test_summary() != 0) return 1;
        return lv_test_skip("no CUDA device (or a build without CUDA)");
    }
    lv_backend *dev = NULL;
    int rc = lv_twin_open(&cpu, &dev);
    if (rc != 0) return rc == LV_TEST_SKIP_CODE ? rc : lv_test_summary();
    if (dev->kind != LV_DEVICE_CUDA) {
        /* LV_TEST_TWIN_CPU=1: a CPU "device" must be refused like any CPU backend. */
        unsigned char id[LV_CUDA_COMM_ID_BYTES] = {0};
        lv_cuda_comm *c = NULL;
        lv_test_true(lv_cuda_comm_create(&c, dev, id, 0, 1, 5.0) == LV_ERR_USAGE && !c,
                     "the twin's CPU device is refused");
    } else {
        check_device(dev);
    }
    return lv_twin_close(cpu, dev);
}
