/* liver-vlm inspect: placeholder until implemented. */
#include "tools/commands.h"

lv_status lv_cmd_inspect(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return lv_errorf(LV_ERR_USAGE, "inspect: not implemented yet");
}
