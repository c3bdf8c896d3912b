/* Logging implementation; one line per call, written with a single fprintf so lines from
 * different threads or ranks sharing a terminal do not interleave mid-line. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lv_log_level lv_level = LV_LOG_INFO;
static int lv_rank, lv_world = 1, lv_all_ranks;

int lv_log_level_parse(const char *name) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, names[i]) == 0) return i;
    return -1;
}

void lv_log_init(int rank, int world) {
    lv_rank = rank;
    lv_world = world > 0 ? world : 1;
    int lvl = lv_log_level_parse(getenv("LIVER_VLM_LOG"));
    if (lvl >= 0) lv_level = (lv_log_level)lvl;
    const char *all = getenv("LIVER_VLM_LOG_ALL_RANKS");
    lv_all_ranks = all && strcmp(all, "0") != 0;
}

void lv_log_set_level(lv_log_level level) { lv_level = level; }
lv_log_level lv_log_get_level(void) { return lv_level; }

void lv_log(lv_log_level level, const char *fmt, ...) {
    if (level > lv_level) return;
    if (level >= LV_LOG_INFO && lv_rank != 0 && !lv_all_ranks) return;
    static const char *tags[] = {"error: ", "warning: ", "", "debug: "};
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (lv_world > 1) fprintf(stderr, "[rank %d/%d] %s%s\n", lv_rank, lv_world, tags[level], line);
    else fprintf(stderr, "%s%s\n", tags[level], line);
}
