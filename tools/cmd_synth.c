/* liver-vlm synth: placeholder until implemented. */
#include "tools/commands.h"

lv_status lv_cmd_synth(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return lv_errorf(LV_ERR_USAGE, "synth: not implemented yet");
}
