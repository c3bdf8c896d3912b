/* Levelled, rank-aware logging to stderr. In a multi-process run only rank 0 prints info and
 * debug lines unless asked (LIVER_VLM_LOG_ALL_RANKS=1); warnings and errors print from every
 * rank, prefixed with it, because a failing rank must be able to say so. */
#ifndef LV_LOG_H
#define LV_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lv_log_level { LV_LOG_ERROR = 0, LV_LOG_WARN, LV_LOG_INFO, LV_LOG_DEBUG } lv_log_level;

/* Reads LIVER_VLM_LOG (error|warn|info|debug, default info) and LIVER_VLM_LOG_ALL_RANKS. */
void lv_log_init(int rank, int world);
void lv_log_set_level(lv_log_level level);
lv_log_level lv_log_get_level(void);
/* Parses a level name; returns -1 when unknown. */
int lv_log_level_parse(const char *name);
void lv_log(lv_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#define LV_ERROR(...) lv_log(LV_LOG_ERROR, __VA_ARGS__)
#define LV_WARN(...) lv_log(LV_LOG_WARN, __VA_ARGS__)
#define LV_INFO(...) lv_log(LV_LOG_INFO, __VA_ARGS__)
#define LV_DEBUG(...) lv_log(LV_LOG_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
