/* Option-value parsing (see args.h): whole-string strtol/strtod with range checks. */
#include "tools/args.h"

#include <errno.h>
#include <stdlib.h>

lv_status lv_arg_int(const char *opt, const char *val, long lo, long hi, int *out) {
    if (!val) return lv_errorf(LV_ERR_USAGE, "%s needs a value (see --help)", opt);
    char *end = NULL;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end != '\0' || v < lo || v > hi)
        return lv_errorf(LV_ERR_USAGE, "%s: expected an integer in %ld..%ld, got '%s'", opt, lo, hi, val);
    *out = (int)v;
    return LV_OK;
}

lv_status lv_arg_num(const char *opt, const char *val, double lo, double hi, double *out) {
    if (!val) return lv_errorf(LV_ERR_USAGE, "%s needs a value (see --help)", opt);
    char *end = NULL;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end != '\0' || !(v >= lo && v <= hi))
        return lv_errorf(LV_ERR_USAGE, "%s: expected a number in %g..%g, got '%s'", opt, lo, hi, val);
    *out = v;
    return LV_OK;
}

lv_status lv_arg_need(const char *cmd, const char *opt, const char *val) {
    if (!val) return lv_errorf(LV_ERR_USAGE, "%s needs a value (see liver-vlm %s --help)", opt, cmd);
    return LV_OK;
}
