/* Thread-local error message storage behind lv_status; no I/O here, the CLI prints. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char lv_msg[2048];

lv_status lv_errorf(lv_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lv_msg, sizeof lv_msg, fmt, ap);
    va_end(ap);
    return code;
}

lv_status lv_error_wrap(lv_status code, const char *fmt, ...) {
    char old[sizeof lv_msg];
    memcpy(old, lv_msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(lv_msg, sizeof lv_msg, fmt, ap);
    va_end(ap);
    /* Append ": old" by hand; snprintf would (rightly) warn that it may truncate. */
    size_t used = n < 0 ? 0 : (size_t)n;
    if (used + 2 < sizeof lv_msg) {
        memcpy(lv_msg + used, ": ", 2);
        used += 2;
        size_t room = sizeof lv_msg - used - 1, len = strnlen(old, sizeof old);
        if (len > room) len = room;
        memcpy(lv_msg + used, old, len);
        lv_msg[used + len] = '\0';
    }
    return code;
}

const char *lv_error_message(void) { return lv_msg[0] ? lv_msg : "unknown error"; }

void lv_error_clear(void) { lv_msg[0] = '\0'; }

int lv_status_exit_code(lv_status s) {
    switch (s) {
    case LV_OK: return 0;
    case LV_ERR_USAGE: return 2;
    default: return 1;
    }
}

lv_status lv_check_fail(lv_status code, const char *lib, const char *call, const char *detail,
                        const char *func, const char *file, int line) {
    return lv_errorf(code, "%s error: %s (%s) in %s at %s:%d", lib, detail ? detail : "failed",
                     call, func, file, line);
}
