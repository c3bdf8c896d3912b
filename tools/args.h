/* Option-value parsing shared by the subcommands: one wording for every usage error
 * ("--size needs a value", "--size: expected an integer in 16..1024, got 'x'"), exit 2. */
#ifndef LV_ARGS_H
#define LV_ARGS_H

#include "core/status.h"

/* val is the word after the option (NULL when the option was last). */
lv_status lv_arg_int(const char *opt, const char *val, long lo, long hi, int *out);
lv_status lv_arg_num(const char *opt, const char *val, double lo, double hi, double *out);
/* A value is there: "--out needs a value (see liver-vlm <cmd> --help)" otherwise. */
lv_status lv_arg_need(const char *cmd, const char *opt, const char *val);

#endif
