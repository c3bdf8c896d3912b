/* liver-vlm info: placeholder. */
#include "tools/commands.h"

lv_status lv_cmd_info(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return LV_OK;
}
