/* Backend selection (--device auto|cpu|cuda) and the sticky error shared by all backends. */
#include "backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lv_status lv_backend_create_rank(lv_backend **out, const char *device, int local_rank) {
    *out = NULL;
    int gpus = lv_cuda_device_count();
    int index = gpus > 0 && local_rank > 0 ? local_rank % gpus : 0;
    if (!device || strcmp(device, "auto") == 0) {
        if (gpus > 0) return lv_cuda_backend_create(out, index);
        return lv_cpu_backend_create(out, 0);
    }
    if (strcmp(device, "cpu") == 0) return lv_cpu_backend_create(out, 0);
    if (strcmp(device, "cuda") == 0) return lv_cuda_backend_create(out, index);
    return lv_errorf(LV_ERR_USAGE, "--device: expected auto, cpu or cuda, got '%s'", device);
}

lv_status lv_backend_create(lv_backend **out, const char *device) {
    return lv_backend_create_rank(out, device, 0);
}

void lv_backend_destroy(lv_backend *be) {
    if (be) be->destroy(be);
}

lv_status lv_backend_set_precision(lv_backend *be, const char *precision) {
    if (precision && strcmp(precision, "fp32") == 0) {
        be->tf32 = 0;
        return LV_OK;
    }
    if (precision && strcmp(precision, "tf32") == 0) {
        be->tf32 = be->kind == LV_DEVICE_CUDA;
        return LV_OK;
    }
    return lv_errorf(LV_ERR_USAGE, "--precision: expected fp32 or tf32, got '%s'",
                     precision ? precision : "(none)");
}

int lv_backend_can_stage(const lv_backend *be) {
    return be->host_alloc && be->host_free && be->copy_h2d_async && be->event_create && be->event_destroy &&
           be->event_record && be->event_wait;
}

void lv_backend_fail(lv_backend *be, lv_status code, const char *fmt, ...) {
    if (be->error != LV_OK) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(be->error_msg, sizeof be->error_msg, fmt, ap);
    va_end(ap);
    be->error = code;
}

lv_status lv_backend_take_error(lv_backend *be) {
    lv_status s = be->error;
    if (s == LV_OK) return LV_OK;
    be->error = LV_OK;
    return lv_errorf(s, "%s backend: %s", be->name, be->error_msg);
}

void lv_op_missing(lv_backend *be, const char *op) {
    lv_backend_fail(be, LV_ERR_RUNTIME, "op %s is not implemented on this backend", op);
}
