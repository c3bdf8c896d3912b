/* WordPiece tokenizer against HF (tests/fixtures_wordpiece.py): every id of every corpus text
 * under six tokenizer_config settings, BertTokenizerFast in nfc=0 mode, padded encodings,
 * the built-in vocabulary; then vocabulary and tokenizer_config errors, and speed.
 * LV_TEST_SANITIZE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "encoders/wordpiece.h"
#include "harness.h"

#define VOCAB LV_FIXTURE_DIR "/wordpiece_vocab.txt"

typedef struct corpus {
    const char *bytes;
    int *off; /* [n+1] */
    size_t n;
} corpus;

static int corpus_load(lv_st_file *fx, corpus *c) {
    const lv_st_tensor *t = lv_st_find(fx, "corpus");
    size_t no = 0;
    c->off = lv_test_fixture_i32(fx, "corpus_off", &no);
    if (!lv_test_true(t && t->dtype == LV_DT_U8 && c->off && no >= 2, "fixture holds the corpus")) return 0;
    c->bytes = lv_st_data(fx, t);
    c->n = no - 1;
    return 1;
}

static void show_ids(const lv_wordpiece *wp, const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n && i < 24; i++) fprintf(stderr, " %d:%s", ids[i], lv_wordpiece_token(wp, ids[i]));
    fprintf(stderr, "%s\n", n > 24 ? " ..." : "");
}

/* Tokenizes every corpus text with wp and compares with ids_<name>/off_<name>. */
static void check_config(lv_st_file *fx, const corpus *c, const lv_wordpiece *wp, const char *name,
                         const int *skip) {
    char key[64];
    size_t nid = 0, noff = 0;
    snprintf(key, sizeof key, "ids_%s", name);
    int *want = lv_test_fixture_i32(fx, key, &nid);
    snprintf(key, sizeof key, "off_%s", name);
    int *off = lv_test_fixture_i32(fx, key, &noff);
    if (!want && nid == 0) want = malloc(sizeof *want); /* an all-empty corpus result is legal */
    if (!off || noff != c->n + 1) {
        lv_test_fail("%s: fixture offsets missing", name);
        free(want);
        free(off);
        return;
    }
    int32_t got[4096];
    size_t bad = 0, checked = 0;
    for (size_t t = 0; t < c->n; t++) {
        if (skip && skip[t]) continue;
        size_t cnt = 0, len = (size_t)(c->off[t + 1] - c->off[t]);
        lv_status s = lv_wordpiece_tokenize(wp, c->bytes + c->off[t], len, got, 4096, &cnt);
        size_t wn = (size_t)(off[t + 1] - off[t]);
        int ok = s == LV_OK && cnt == wn;
        for (size_t i = 0; ok && i < wn; i++) ok = got[i] == want[off[t] + (int)i];
        checked++;
        if (!ok && bad++ < 3) {
            fprintf(stderr, "%s: text %zu \"%.*s\"\n  want", name, t, (int)len, c->bytes + c->off[t]);
            show_ids(wp, want + off[t], wn);
            fprintf(stderr, "  got ");
            show_ids(wp, got, cnt < 4096 ? cnt : 4096);
        }
    }
    if (bad) lv_test_fail("%s: %zu of %zu texts differ from HF", name, bad, checked);
    else lv_test_pass("%s: all %zu texts token-for-token equal to HF", name, checked);
    free(want);
    free(off);
}

static lv_wordpiece *load_with(int lower, int strip, int cjk, int basic, int nfc) {
    lv_wordpiece_options o;
    lv_wordpiece_options_default(&o);
    o.do_lower_case = lower;
    o.strip_accents = strip;
    o.tokenize_chinese_chars = cjk;
    o.do_basic_tokenize = basic;
    o.nfc = nfc;
    lv_wordpiece *wp = NULL;
    if (lv_wordpiece_load(&wp, VOCAB, &o) != LV_OK) lv_test_fail("load %s: %s", VOCAB, lv_error_message());
    return wp;
}

/* lv_wordpiece_encode over the NUL-free texts vs enc_ids_<name>/enc_mask_<name>. */
static void check_encode(lv_st_file *fx, const corpus *c, const lv_wordpiece *wp, const char *name) {
    size_t ne = 0, nw = 0, nm = 0;
    int *idx = lv_test_fixture_i32(fx, "enc_index", &ne);
    char key[64];
    snprintf(key, sizeof key, "enc_ids_%s", name);
    int *want = lv_test_fixture_i32(fx, key, &nw);
    snprintf(key, sizeof key, "enc_mask_%s", name);
    int *wmask = lv_test_fixture_i32(fx, key, &nm);
    int L = atoi(lv_st_metadata(fx, "enc_len") ? lv_st_metadata(fx, "enc_len") : "0");
    if (lv_test_true(idx && want && wmask && L >= 2 && nw == ne * (size_t)L && nm == nw, "encoding fixture")) {
        char **texts = calloc(ne, sizeof *texts);
        for (size_t i = 0; i < ne; i++) {
            size_t len = (size_t)(c->off[idx[i] + 1] - c->off[idx[i]]);
            texts[i] = malloc(len + 1);
            memcpy(texts[i], c->bytes + c->off[idx[i]], len);
            texts[i][len] = '\0';
        }
        int32_t *ids = malloc(nw * sizeof *ids), *mask = malloc(nw * sizeof *mask), *tt = malloc(nw * sizeof *tt);
        lv_status s = lv_wordpiece_encode(wp, (const char *const *)texts, ne, L, ids, mask, tt);
        size_t bad = 0;
        for (size_t i = 0; i < nw; i++) bad += ids[i] != want[i] || mask[i] != wmask[i] || tt[i] != 0;
        if (s != LV_OK || bad) lv_test_fail("%s encode (max_len %d): %zu of %zu entries differ", name, L, bad, nw);
        else lv_test_pass("%s encode: %zu texts x %d ids, masks and type ids equal to HF", name, ne, L);
        for (size_t i = 0; i < ne; i++) free(texts[i]);
        free(texts);
        free(ids);
        free(mask);
        free(tt);
    }
    free(idx);
    free(want);
    free(wmask);
}

static void check_builtin(lv_st_file *fx, const corpus *c) {
    lv_wordpiece *wp = NULL;
    if (!lv_test_true(lv_wordpiece_builtin(&wp) == LV_OK, "built-in vocabulary loads (no duplicates, specials present)")) {
        fprintf(stderr, "  %s\n", lv_error_message());
        return;
    }
    lv_wordpiece_specials sp = lv_wordpiece_special_ids(wp);
    lv_test_true(sp.pad == 0 && sp.unk == 1 && sp.cls == 2 && sp.sep == 3 && sp.mask == 4,
                 "built-in specials: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4");
    lv_test_true(lv_wordpiece_vocab_size(wp) == lv_vocab_builtin_count && lv_vocab_builtin_count >= 500,
                 "built-in vocabulary size");
    /* The fixture script parsed encoders/vocab_builtin.c: a stale fixture shows here. */
    size_t len;
    char *text = lv_wordpiece_vocab_text(wp, &len);
    const char *meta = lv_st_metadata(fx, "builtin_vocab");
    lv_test_true(text && meta && len == strlen(meta) + 1 && memcmp(text, meta, len - 1) == 0,
                 "fixture was made from the current built-in vocabulary");
    free(text);
    for (size_t i = 0; i < lv_vocab_builtin_count; i++) {
        const char *t = lv_vocab_builtin[i];
        int lower = 1;
        for (const char *p = t; *p; p++) lower &= !(*p >= 'A' && *p <= 'Z') || t[0] == '[';
        if (!lower) lv_test_fail("built-in token %zu \"%s\" is not lower-case", i, t);
    }
    check_config(fx, c, wp, "builtin", NULL);
    check_encode(fx, c, wp, "builtin");
    const char *words[] = {"enhancement", "arterial", "portal", "venous", "washout", "capsule", "hypodense",
                           "hyperenhancement", "hemangioma", "hepatocellular", "carcinoma", "hyperplasia",
                           "metastasis", "centripetal", "scar", "rim"};
    int all = 1;
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) all &= lv_wordpiece_id(wp, words[i]) >= 0;
    lv_test_true(all, "built-in vocabulary holds the radiology words");
    lv_wordpiece_free(wp);
}

static char *write_tmp(const char *dir, const char *name, const char *data, size_t len) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
    return path;
}

static void expect_error(lv_status s, lv_status code, const char *needle, const char *what) {
    if (s == code && strstr(lv_error_message(), needle)) lv_test_pass("%s: %s", what, lv_error_message());
    else lv_test_fail("%s: status %d, message \"%s\" (wanted %d and \"%s\")", what, s, lv_error_message(), code, needle);
}

static void check_vocab_errors(const char *dir) {
    lv_wordpiece *wp = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/absent.txt", dir);
    expect_error(lv_wordpiece_load(&wp, path, NULL), LV_ERR_INPUT, "absent.txt", "missing vocabulary file");
    const char dup[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nliver\n##s\nliver\n";
    expect_error(lv_wordpiece_load(&wp, write_tmp(dir, "dup.txt", dup, sizeof dup - 1), NULL), LV_ERR_INPUT,
                 "line 7: token \"liver\" duplicates line 5", "duplicate token");
    const char nounk[] = "[PAD]\n[CLS]\n[SEP]\nliver\n";
    expect_error(lv_wordpiece_load(&wp, write_tmp(dir, "nounk.txt", nounk, sizeof nounk - 1), NULL), LV_ERR_INPUT,
                 "has no [UNK] token", "missing [UNK]");
    const char nopad[] = "[UNK]\n[CLS]\n[SEP]\n";
    expect_error(lv_wordpiece_load(&wp, write_tmp(dir, "nopad.txt", nopad, sizeof nopad - 1), NULL), LV_ERR_INPUT,
                 "has no [PAD] token", "missing [PAD]");
    expect_error(lv_wordpiece_load(&wp, write_tmp(dir, "empty.txt", "", 0), NULL), LV_ERR_INPUT, "is empty",
                 "empty vocabulary");
    const char badu8[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nli\xffver\n";
    expect_error(lv_wordpiece_load(&wp, write_tmp(dir, "badu8.txt", badu8, sizeof badu8 - 1), NULL), LV_ERR_INPUT,
                 "line 5 is not valid UTF-8", "invalid UTF-8 line");
    const char *toks[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a\nb"};
    expect_error(lv_wordpiece_from_tokens(&wp, toks, 5, NULL, "list"), LV_ERR_INPUT, "entry 4", "token with a newline");
    lv_test_true(wp == NULL, "failed loads leave no tokenizer");

    /* CRLF and a last line without newline; no [MASK] is fine (mask id -1). */
    const char crlf[] = "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nliver\r\n##s";
    if (lv_test_true(lv_wordpiece_load(&wp, write_tmp(dir, "crlf.txt", crlf, sizeof crlf - 1), NULL) == LV_OK,
                     "CRLF vocabulary loads")) {
        int32_t ids[8];
        size_t n = 0;
        lv_wordpiece_tokenize(wp, "Livers", 6, ids, 8, &n);
        lv_wordpiece_specials sp = lv_wordpiece_special_ids(wp);
        lv_test_true(lv_wordpiece_vocab_size(wp) == 6 && n == 2 && ids[0] == 4 && ids[1] == 5 && sp.mask == -1 &&
                         strcmp(lv_wordpiece_token(wp, 5), "##s") == 0 && lv_wordpiece_token(wp, 6) == NULL &&
                         lv_wordpiece_token(wp, -1) == NULL,
                     "CRLF tokens have no \\r; last line counts; ids and tokens map both ways");
        size_t len;
        char *text = lv_wordpiece_vocab_text(wp, &len);
        lv_wordpiece *again = NULL;
        lv_test_true(text && lv_wordpiece_from_text(&again, text, len, NULL, "round trip") == LV_OK &&
                         lv_wordpiece_vocab_size(again) == 6 && lv_wordpiece_id(again, "##s") == 5,
                     "vocab_text round-trips through from_text");
        lv_wordpiece_free(again);
        free(text);
        lv_wordpiece_free(wp);
    }
}

static void check_options(const char *dir) {
    lv_wordpiece_options o;
    lv_wordpiece_options_default(&o);
    const char *cfg = "{\"do_lower_case\": false, \"strip_accents\": true, \"tokenize_chinese_chars\": false, "
                      "\"model_max_length\": 512, \"unk_token\": {\"content\": \"[UNK]\", \"lstrip\": false}, "
                      "\"never_split\": null, \"tokenizer_class\": \"BertTokenizer\", \"added_tokens_decoder\": {}}";
    lv_test_true(lv_wordpiece_options_parse(&o, cfg, "cfg") == LV_OK && o.do_lower_case == 0 && o.strip_accents == 1 &&
                     o.tokenize_chinese_chars == 0 && o.model_max_length == 512 && strcmp(o.unk_token, "[UNK]") == 0,
                 "tokenizer_config.json keys parse (AddedToken objects, unknown keys ignored)");
    lv_test_true(lv_wordpiece_options_parse(&o, "{\"strip_accents\": null, \"model_max_length\": 1e30}", "cfg") ==
                         LV_OK && o.strip_accents == -1 && o.model_max_length == 0,
                 "strip_accents null follows lower-casing; model_max_length 1e30 means none");
    char *js = lv_wordpiece_options_to_json(&o);
    lv_wordpiece_options back;
    lv_wordpiece_options_default(&back);
    back.do_lower_case = 1;
    lv_test_true(js && lv_wordpiece_options_parse(&back, js, "json") == LV_OK && memcmp(&back, &o, sizeof o) == 0,
                 "options round-trip through to_json");
    free(js);
    lv_wordpiece_options keep = o;
    expect_error(lv_wordpiece_options_parse(&o, "{\"do_lower_case\": \"yes\"}", "cfg.json"), LV_ERR_INPUT,
                 "cfg.json: \"do_lower_case\" must be true or false", "wrong type for a flag");
    expect_error(lv_wordpiece_options_parse(&o, "{\"do_lower_case\": tru", "cfg.json"), LV_ERR_INPUT,
                 "not valid JSON", "truncated JSON");
    expect_error(lv_wordpiece_options_parse(&o, "[1]", "cfg.json"), LV_ERR_INPUT, "expected a JSON object",
                 "JSON that is not an object");
    expect_error(lv_wordpiece_options_parse(&o, "{\"model_max_length\": -3}", "cfg.json"), LV_ERR_INPUT,
                 "\"model_max_length\" must be an integer", "negative model_max_length");
    expect_error(lv_wordpiece_options_parse(&o, "{\"sep_token\": 5}", "cfg.json"), LV_ERR_INPUT, "\"sep_token\"",
                 "special token of the wrong type");
    lv_test_true(memcmp(&keep, &o, sizeof o) == 0, "a failed parse leaves the options untouched");
    expect_error(lv_wordpiece_options_load(&o, "/nonexistent/tokenizer_config.json"), LV_ERR_INPUT,
                 "/nonexistent/tokenizer_config.json", "missing config file");

    /* A folder as HF saves it: cased config changes the ids. */
    char sub[512];
    snprintf(sub, sizeof sub, "%s/hf", dir);
    if (!lv_test_true(mkdir(sub, 0700) == 0, "make HF folder")) return;
    const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nliver\nLiver\n<unk>\n";
    write_tmp(sub, "vocab.txt", vocab, sizeof vocab - 1);
    lv_wordpiece *wp = NULL;
    int32_t ids[4];
    size_t n = 0;
    if (lv_test_true(lv_wordpiece_load_dir(&wp, sub) == LV_OK, "folder without tokenizer_config.json loads")) {
        lv_wordpiece_tokenize(wp, "Liver", 5, ids, 4, &n);
        lv_test_true(n == 1 && ids[0] == 5, "defaults lower-case");
        lv_wordpiece_free(wp);
    }
    const char cased[] = "{\"do_lower_case\": false, \"unk_token\": \"<unk>\"}";
    write_tmp(sub, "tokenizer_config.json", cased, sizeof cased - 1);
    if (lv_test_true(lv_wordpiece_load_dir(&wp, sub) == LV_OK, "folder with tokenizer_config.json loads")) {
        lv_wordpiece_tokenize(wp, "Liver LIVER", 11, ids, 4, &n);
        lv_test_true(n == 2 && ids[0] == 6 && ids[1] == 7 && lv_wordpiece_special_ids(wp).unk == 7 &&
                         lv_wordpiece_get_options(wp)->do_lower_case == 0,
                     "cased config and a renamed unk_token take effect");
        lv_wordpiece_free(wp);
    }
    const char bad[] = "{\"do_lower_case\": 1}";
    write_tmp(sub, "tokenizer_config.json", bad, sizeof bad - 1);
    expect_error(lv_wordpiece_load_dir(&wp, sub), LV_ERR_INPUT, "tokenizer_config.json: \"do_lower_case\"",
                 "bad tokenizer_config.json in a folder");
}

static void check_api(const lv_wordpiece *wp) {
    int32_t a[64], b[64];
    size_t na = 0, nb = 0, n0 = 0;
    /* Invalid UTF-8 bytes read as U+FFFD, which cleaning drops. */
    lv_wordpiece_tokenize(wp, "li\xff\xc3ver \xe2\x82", 10, a, 64, &na);
    lv_wordpiece_tokenize(wp, "liver", 5, b, 64, &nb);
    lv_test_true(na == nb && memcmp(a, b, na * sizeof *a) == 0, "invalid UTF-8 bytes are dropped, never a crash");
    lv_test_true(lv_wordpiece_tokenize(wp, "the liver lesion", 16, NULL, 0, &n0) == LV_OK && n0 == 3,
                 "cap 0 counts without writing");
    lv_wordpiece_tokenize(wp, "the liver lesion", 16, a, 2, &na);
    lv_test_true(na == 3, "a short buffer still reports the full count");
    lv_test_true(lv_wordpiece_tokenize(wp, NULL, 0, a, 64, &na) == LV_OK && na == 0, "NULL text is empty");
    int32_t ids[4], mask[4];
    const char *one[] = {"liver"};
    expect_error(lv_wordpiece_encode(wp, one, 1, 1, ids, mask, NULL), LV_ERR_USAGE, "max length 1",
                 "max_len below 2");
    lv_wordpiece_specials sp = lv_wordpiece_special_ids(wp);
    lv_test_true(lv_wordpiece_encode(wp, one, 1, 2, ids, mask, NULL) == LV_OK && ids[0] == sp.cls &&
                     ids[1] == sp.sep && mask[0] == 1 && mask[1] == 1,
                 "max_len 2 keeps [CLS] [SEP] only");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void check_speed(const corpus *c, const lv_wordpiece *wp) {
    int32_t ids[4096];
    size_t cnt, tokens = 0;
    const int reps = 200;
    double t0 = now_s();
    for (int r = 0; r < reps; r++)
        for (size_t t = 0; t < c->n; t++) {
            lv_wordpiece_tokenize(wp, c->bytes + c->off[t], (size_t)(c->off[t + 1] - c->off[t]), ids, 4096, &cnt);
            tokens += cnt;
        }
    double us = (now_s() - t0) * 1e6 / (double)(reps * (int)c->n);
    double limit = 50.0;
#if defined(__SANITIZE_ADDRESS__)
    limit = 1000.0;
#endif
    printf("speed: %.2f us per corpus text (%zu texts, %.1f tokens each, incl. 100+ char words)\n", us, c->n,
           (double)tokens / (double)(reps * (int)c->n));
    if (us < limit) lv_test_pass("tokenizing takes %.2f us per text (limit %.0f)", us, limit);
    else lv_test_fail("tokenizing takes %.2f us per text (limit %.0f)", us, limit);
}

int main(void) {
    lv_st_file *fx = lv_test_fixture_open("wordpiece");
    corpus c = {0};
    if (!fx || !corpus_load(fx, &c)) return lv_test_summary();
    struct {
        const char *name;
        int lower, strip, cjk, basic;
    } cfgs[] = {{"lower", 1, -1, 1, 1}, {"cased", 0, -1, 1, 1},  {"lower_keep", 1, 0, 1, 1},
                {"cased_strip", 0, 1, 1, 1}, {"nocjk", 1, -1, 0, 1}, {"nobasic", 1, -1, 1, 0}};
    lv_wordpiece *lower = NULL;
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) {
        lv_wordpiece *wp = load_with(cfgs[i].lower, cfgs[i].strip, cfgs[i].cjk, cfgs[i].basic, 1);
        if (!wp) continue;
        check_config(fx, &c, wp, cfgs[i].name, NULL);
        if (i == 0) lower = wp;
        else lv_wordpiece_free(wp);
    }
    /* BertTokenizerFast: the same minus NFC (nfc=0), except unassigned code points. */
    int *skip = lv_test_fixture_i32(fx, "fast_skip", NULL);
    for (size_t i = 0; i < 4 && skip; i++) {
        lv_wordpiece *wp = load_with(cfgs[i].lower, cfgs[i].strip, cfgs[i].cjk, cfgs[i].basic, 0);
        char name[64];
        snprintf(name, sizeof name, "fast_%s", cfgs[i].name);
        if (wp) check_config(fx, &c, wp, name, skip);
        lv_wordpiece_free(wp);
    }
    free(skip);
    if (lower) {
        check_encode(fx, &c, lower, "lower");
        check_api(lower);
        check_speed(&c, lower);
        lv_wordpiece_free(lower);
    }
    check_builtin(fx, &c);
    char dir[] = "/tmp/lv_wordpiece_XXXXXX";
    if (lv_test_true(mkdtemp(dir) != NULL, "temporary folder")) {
        check_vocab_errors(dir);
        check_options(dir);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    free(c.off);
    lv_st_close(fx);
    return lv_test_summary();
}
