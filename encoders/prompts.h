/* Class prompts: the text side of Liver-VLM's head. Each class has several enriched prompts
 * written from its imaging features; the class embedding is the normalised mean of its
 * prompts' normalised text embeddings. The default set ships compiled in; --prompts FILE
 * replaces it (one `CLASS<TAB>prompt` per line). */
#ifndef LV_PROMPTS_H
#define LV_PROMPTS_H

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lv_prompt_set {
    int count;
    char **class_names; /* [count] class of each prompt */
    char **texts;       /* [count] */
} lv_prompt_set;

/* The built-in set for CYST, FNH, HCC, HEM, METS. */
lv_status lv_prompts_default(lv_prompt_set *p);
/* Reads `CLASS<TAB>prompt` lines (UTF-8; '#' comments and blank lines skipped). Errors name
 * the file and line. */
lv_status lv_prompts_load(lv_prompt_set *p, const char *path);
/* Checks that every class in classes[0..c) has at least one prompt and every prompt names
 * one of them; the message lists what is missing. */
lv_status lv_prompts_check(const lv_prompt_set *p, const char *const *classes, int c, const char *source);
void lv_prompts_free(lv_prompt_set *p);
/* Prompt set as TSV text (for the checkpoint metadata); malloc'd. */
char *lv_prompts_to_tsv(const lv_prompt_set *p);
/* Parses TSV text (as written by lv_prompts_to_tsv); `source` names it in errors. */
lv_status lv_prompts_parse(lv_prompt_set *p, const char *text, const char *source);

#ifdef __cplusplus
}
#endif
#endif
