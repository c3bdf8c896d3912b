/* liver-vlm pack: placeholder until implemented. */
#include "tools/commands.h"

lv_status lv_cmd_pack(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return lv_errorf(LV_ERR_USAGE, "pack: not implemented yet");
}
