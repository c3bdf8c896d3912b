/* Prompt sets: the built-in set covers the five classes, TSV round trip, and each way a
 * prompt file can be wrong gets a message naming the file and line or class. LV_TEST_SANITIZE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "encoders/prompts.h"
#include "harness.h"

static const char *classes[5] = {"CYST", "FNH", "HCC", "HEM", "METS"};

int main(void) {
    lv_prompt_set p, q;
    lv_test_true(lv_prompts_default(&p) == LV_OK && p.count >= 15, "default set loads");
    lv_test_true(lv_prompts_check(&p, classes, 5, "default") == LV_OK, "default set covers the five classes");
    char *tsv = lv_prompts_to_tsv(&p);
    lv_test_true(tsv && lv_prompts_parse(&q, tsv, "metadata") == LV_OK && q.count == p.count &&
                     strcmp(q.texts[5], p.texts[5]) == 0 && strcmp(q.class_names[9], p.class_names[9]) == 0,
                 "TSV round trip");
    free(tsv);
    lv_prompts_free(&q);
    const char *four[4] = {"CYST", "FNH", "HCC", "HEM"};
    lv_test_true(lv_prompts_check(&p, four, 4, "default") == LV_ERR_INPUT && strstr(lv_error_message(), "METS"),
                 "a prompt for a class the data lacks is named");
    const char *six[6] = {"CYST", "FNH", "HCC", "HEM", "METS", "ABSCESS"};
    lv_test_true(lv_prompts_check(&p, six, 6, "default") == LV_ERR_INPUT && strstr(lv_error_message(), "ABSCESS"),
                 "a class without prompts is named");
    lv_prompts_free(&p);

    lv_test_true(lv_prompts_parse(&p, "# comment\n\nCYST\tfluid lesion\r\nHCC\twashout\n", "x.tsv") == LV_OK &&
                     p.count == 2 && strcmp(p.texts[0], "fluid lesion") == 0,
                 "comments, blank lines and CRLF handled");
    lv_prompts_free(&p);
    lv_test_true(lv_prompts_parse(&p, "CYST\tok\nno tab here\n", "x.tsv") == LV_ERR_INPUT &&
                     strstr(lv_error_message(), "x.tsv:2"),
                 "line without a tab named by line number");
    lv_test_true(lv_prompts_parse(&p, "# only comments\n", "x.tsv") == LV_ERR_INPUT, "empty set rejected");
    lv_test_true(lv_prompts_load(&p, "/nonexistent/prompts.tsv") == LV_ERR_INPUT &&
                     strstr(lv_error_message(), "/nonexistent/prompts.tsv"),
                 "missing file named");
    char path[] = "/tmp/lv_prompts_XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        FILE *f = fdopen(fd, "w");
        fputs("FNH\tcentral scar\nFNH\tbright arterial\n", f);
        fclose(f);
        lv_test_true(lv_prompts_load(&p, path) == LV_OK && p.count == 2, "file loads");
        lv_prompts_free(&p);
        unlink(path);
    }
    return lv_test_summary();
}
