/* liver-vlm bench: placeholder until the ops benchmark lands. */
#include "tools/commands.h"

lv_status lv_cmd_bench(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return lv_errorf(LV_ERR_USAGE, "bench: not implemented yet");
}
