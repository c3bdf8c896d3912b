/* bert-base-uncased's real vocabulary (30522 tokens) through lv_wordpiece_load_dir, against
 * the ids HF gave (tests/fixtures_wordpiece.py --bert-dir). The vocabulary is never committed:
 * point LV_BERT_DIR at a folder holding vocab.txt + tokenizer_config.json (docs/tokenizer.md
 * says where to get one); without it this test is skipped. LV_TEST_SANITIZE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoders/wordpiece.h"
#include "harness.h"

/* FNV-1a 64 of a file, as the fixture script computes it: is this the vocabulary HF used? */
static int file_fnv(const char *path, uint64_t *h, size_t *bytes) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    *h = 14695981039346656037ull;
    *bytes = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        *h = (*h ^ (uint8_t)c) * 1099511628211ull;
        (*bytes)++;
    }
    fclose(f);
    return 1;
}

int main(void) {
    const char *dir = getenv("LV_BERT_DIR");
    if (!dir || !*dir) return lv_test_skip("LV_BERT_DIR not set (a bert-base-uncased vocab.txt folder)");
    char path[1024];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    uint64_t h;
    size_t bytes;
    if (!file_fnv(path, &h, &bytes)) return lv_test_skip("no vocab.txt under LV_BERT_DIR");
    lv_st_file *fx = lv_test_fixture_open("wordpiece_bert_uncased");
    if (!fx) return lv_test_summary();
    char hex[32];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    const char *want_h = lv_st_metadata(fx, "vocab_fnv1a64");
    if (!want_h || strcmp(want_h, hex) != 0) {
        lv_st_close(fx);
        return lv_test_skip("LV_BERT_DIR holds another vocabulary than the fixture's");
    }
    lv_wordpiece *wp = NULL;
    if (!lv_test_true(lv_wordpiece_load_dir(&wp, dir) == LV_OK, "bert-base-uncased folder loads")) {
        fprintf(stderr, "%s\n", lv_error_message());
        lv_st_close(fx);
        return lv_test_summary();
    }
    lv_wordpiece_specials sp = lv_wordpiece_special_ids(wp);
    lv_test_true(lv_wordpiece_vocab_size(wp) == 30522 && sp.pad == 0 && sp.unk == 100 && sp.cls == 101 &&
                     sp.sep == 102 && sp.mask == 103 && lv_wordpiece_get_options(wp)->do_lower_case == 1,
                 "30522 tokens, BERT's special ids, lower-casing from tokenizer_config.json");
    int all = 1;
    for (int32_t id = 0; id < (int32_t)lv_wordpiece_vocab_size(wp); id++)
        all &= lv_wordpiece_id(wp, lv_wordpiece_token(wp, id)) == id;
    lv_test_true(all, "every token hashes back to its id");

    const lv_st_tensor *ct = lv_st_find(fx, "corpus");
    size_t no = 0, nid = 0, noff = 0;
    int *coff = lv_test_fixture_i32(fx, "corpus_off", &no);
    int *want = lv_test_fixture_i32(fx, "ids_bert", &nid), *off = lv_test_fixture_i32(fx, "off_bert", &noff);
    if (lv_test_true(ct && coff && want && off && noff == no, "fixture")) {
        const char *bytes_ = lv_st_data(fx, ct);
        size_t bad = 0;
        int32_t got[4096];
        for (size_t t = 0; t + 1 < no; t++) {
            size_t cnt = 0;
            lv_wordpiece_tokenize(wp, bytes_ + coff[t], (size_t)(coff[t + 1] - coff[t]), got, 4096, &cnt);
            int ok = cnt == (size_t)(off[t + 1] - off[t]);
            for (size_t i = 0; ok && i < cnt; i++) ok = got[i] == want[off[t] + (int)i];
            if (!ok && bad++ < 3) fprintf(stderr, "text %zu differs\n", t);
        }
        if (bad) lv_test_fail("bert-base-uncased: %zu of %zu texts differ from HF", bad, no - 1);
        else lv_test_pass("bert-base-uncased: all %zu corpus texts equal to HF", no - 1);
    }
    free(coff);
    free(want);
    free(off);
    lv_wordpiece_free(wp);
    lv_st_close(fx);
    return lv_test_summary();
}
