/* Errors as values: every fallible function returns lv_status and leaves a message in a
 * thread-local buffer (like errno + strerror), so the CLI can print it and pick the exit
 * code. Library code never calls exit() or assert() on input. */
#ifndef LV_STATUS_H
#define LV_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lv_status {
    LV_OK = 0,
    LV_ERR_INPUT = 1,   /* bad file or data: CLI exit code 1 */
    LV_ERR_USAGE = 2,   /* bad command line: CLI exit code 2 */
    LV_ERR_RUNTIME = 3, /* device, library or system failure: CLI exit code 1 */
} lv_status;

/* Records a message (printf format) and returns `code`, so `return lv_errorf(...)` reads well. */
lv_status lv_errorf(lv_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Prefixes the current message with more context ("reading X: <old message>"). */
lv_status lv_error_wrap(lv_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
const char *lv_error_message(void);
void lv_error_clear(void);
/* CLI exit code for a status: 0, 1 (input/runtime) or 2 (usage). */
int lv_status_exit_code(lv_status s);

/* The one check family. LV_CHECK_* record the failing call's text, function, file and
 * line; the library-specific ones (CUDA, cuBLAS, cuDNN, NCCL, HDF5, MPI) are built on
 * lv_check_fail in their own layers so core never includes those headers. */
lv_status lv_check_fail(lv_status code, const char *lib, const char *call, const char *detail,
                        const char *func, const char *file, int line);

/* Propagate a failing status unchanged. */
#define LV_TRY(expr)                                                                              \
    do {                                                                                          \
        lv_status lv_try_s_ = (expr);                                                             \
        if (lv_try_s_ != LV_OK) return lv_try_s_;                                                 \
    } while (0)

/* A condition that must hold on input; message explains what was expected. */
#define LV_CHECK(cond, code, ...)                                                                 \
    do {                                                                                          \
        if (!(cond)) return lv_errorf((code), __VA_ARGS__);                                       \
    } while (0)

/* Allocation that reports what it was for; returns LV_ERR_RUNTIME from the caller. */
#define LV_CHECK_ALLOC(ptr)                                                                       \
    do {                                                                                          \
        if ((ptr) == NULL)                                                                        \
            return lv_check_fail(LV_ERR_RUNTIME, "libc", #ptr, "out of memory", __func__,        \
                                 __FILE__, __LINE__);                                             \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
