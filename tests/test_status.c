/* Errors as values: codes map to exit codes, messages carry context, long messages are cut
 * safely, and log level names parse. LV_TEST_SANITIZE */
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "harness.h"

static lv_status inner(void) { return lv_errorf(LV_ERR_INPUT, "field 'labels': expected int, found float"); }
static lv_status outer(void) {
    LV_TRY(inner());
    return LV_OK;
}

int main(void) {
    lv_status s = outer();
    lv_test_true(s == LV_ERR_INPUT, "LV_TRY propagates the status unchanged");
    lv_error_wrap(s, "data.h5");
    lv_test_true(strcmp(lv_error_message(), "data.h5: field 'labels': expected int, found float") == 0,
                 "lv_error_wrap prefixes context");
    lv_test_true(lv_status_exit_code(LV_OK) == 0 && lv_status_exit_code(LV_ERR_INPUT) == 1 &&
                     lv_status_exit_code(LV_ERR_USAGE) == 2 && lv_status_exit_code(LV_ERR_RUNTIME) == 1,
                 "exit codes 0/1/2/1");
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    lv_errorf(LV_ERR_INPUT, "%s", big);
    lv_error_wrap(LV_ERR_INPUT, "%s", big);
    lv_test_true(strlen(lv_error_message()) < 2048, "overlong messages are truncated, not overflowed");
    lv_check_fail(LV_ERR_RUNTIME, "CUDA", "cudaMalloc(&p, n)", "out of memory", "f", "x.c", 12);
    lv_test_true(strstr(lv_error_message(), "cudaMalloc(&p, n)") && strstr(lv_error_message(), "x.c:12"),
                 "check failure records call text, file and line");
    lv_test_true(lv_log_level_parse("debug") == LV_LOG_DEBUG && lv_log_level_parse("loud") == -1,
                 "log level names parse");
    return lv_test_summary();
}
