/* The subcommand table's entry type and every subcommand's entry point (tools/cmd_*.c). */
#ifndef LV_COMMANDS_H
#define LV_COMMANDS_H

#include "core/status.h"

typedef struct lv_command {
    const char *name;
    const char *help;
    lv_status (*run)(int argc, char **argv); /* argv[0] is the command name */
} lv_command;

lv_status lv_cmd_info(int argc, char **argv);
lv_status lv_cmd_bench(int argc, char **argv);
lv_status lv_cmd_synth(int argc, char **argv);
lv_status lv_cmd_inspect(int argc, char **argv);
lv_status lv_cmd_pack(int argc, char **argv);
lv_status lv_cmd_train(int argc, char **argv);
lv_status lv_cmd_eval(int argc, char **argv);
lv_status lv_cmd_explain(int argc, char **argv);
lv_status lv_cmd_cv(int argc, char **argv);

#endif
