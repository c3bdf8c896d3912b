/* WordPiece tokenizer, token for token identical to HF's BertTokenizer: text cleaning, CJK
 * spacing, lower-casing and accent stripping (per tokenizer_config.json), punctuation
 * splitting, greedy longest-match-first with "##", then [CLS] ... [SEP] + padding. It only
 * maps text to ids: embeddings and the model live in the BERT encoder, never here. */
#ifndef LV_WORDPIECE_H
#define LV_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LV_WP_TOKEN_MAX 64 /* bytes of a special-token name, NUL included */

/* The options an HF tokenizer_config.json carries for BertTokenizer (names as there). */
typedef struct lv_wordpiece_options {
    int do_lower_case;          /* 1: Python str.lower() on every character (HF default) */
    int strip_accents;          /* -1: follow do_lower_case (HF null), 0: never, 1: always */
    int tokenize_chinese_chars; /* 1: put spaces around CJK ideographs */
    int do_basic_tokenize;      /* 0: whitespace split + WordPiece only (HF then never lower-cases) */
    /* HF's Python BertTokenizer composes the cleaned text to NFC before splitting; the Rust
     * `tokenizers` BertNormalizer (BertTokenizerFast) does not. They differ only for text
     * that is not already NFC and keeps its accents (a cased vocabulary). 1 = Python's. */
    int nfc;
    int max_input_chars_per_word; /* longer words become [UNK] (100) */
    int64_t model_max_length;     /* from the config; 0 = not given */
    char unk_token[LV_WP_TOKEN_MAX], sep_token[LV_WP_TOKEN_MAX], pad_token[LV_WP_TOKEN_MAX],
        cls_token[LV_WP_TOKEN_MAX], mask_token[LV_WP_TOKEN_MAX];
} lv_wordpiece_options;

/* Ids of the special tokens; mask is -1 when the vocabulary has none. */
typedef struct lv_wordpiece_specials {
    int32_t pad, unk, cls, sep, mask;
} lv_wordpiece_specials;

typedef struct lv_wordpiece lv_wordpiece; /* immutable once made: share it across threads */

/* HF BertTokenizer defaults: lower-case, accents follow it, CJK spacing, NFC, 100, [UNK]... */
void lv_wordpiece_options_default(lv_wordpiece_options *o);
/* Overrides `o` with the keys a tokenizer_config.json sets (do_lower_case, strip_accents,
 * tokenize_chinese_chars, do_basic_tokenize, model_max_length, unk_token/sep_token/
 * pad_token/cls_token/mask_token as a string or {"content": ...}); other keys are ignored.
 * A wrong type names `what` and the key. */
lv_status lv_wordpiece_options_parse(lv_wordpiece_options *o, const char *json, const char *what);
/* Same from a file. */
lv_status lv_wordpiece_options_load(lv_wordpiece_options *o, const char *path);
/* The options as tokenizer_config.json text (for checkpoint metadata); malloc'd, NULL on OOM. */
char *lv_wordpiece_options_to_json(const lv_wordpiece_options *o);

/* A vocab.txt: one token per line (LF or CRLF), id = line number from 0. Errors name the
 * file and line: missing/unreadable file, invalid UTF-8, a duplicate token, a missing
 * [PAD]/[UNK]/[CLS]/[SEP] (as named in the options). `o` NULL = defaults. */
lv_status lv_wordpiece_load(lv_wordpiece **out, const char *vocab_path, const lv_wordpiece_options *o);
/* An HF tokenizer folder: DIR/vocab.txt, plus DIR/tokenizer_config.json when present. */
lv_status lv_wordpiece_load_dir(lv_wordpiece **out, const char *dir);
/* A vocab.txt held in memory (e.g. a checkpoint's metadata); `what` names it in errors. */
lv_status lv_wordpiece_from_text(lv_wordpiece **out, const char *text, size_t len,
                                 const lv_wordpiece_options *o, const char *what);
/* tokens[0..n), id = index. */
lv_status lv_wordpiece_from_tokens(lv_wordpiece **out, const char *const *tokens, size_t n,
                                   const lv_wordpiece_options *o, const char *what);
/* The built-in vocabulary of the small random text encoder, default (uncased) options. */
lv_status lv_wordpiece_builtin(lv_wordpiece **out);
void lv_wordpiece_free(lv_wordpiece *wp);

/* The built-in vocabulary itself (encoders/vocab_builtin.c). */
extern const char *const lv_vocab_builtin[];
extern const size_t lv_vocab_builtin_count;

size_t lv_wordpiece_vocab_size(const lv_wordpiece *wp);
const char *lv_wordpiece_token(const lv_wordpiece *wp, int32_t id); /* NULL when out of range */
int32_t lv_wordpiece_id(const lv_wordpiece *wp, const char *token); /* -1 when absent */
lv_wordpiece_specials lv_wordpiece_special_ids(const lv_wordpiece *wp);
const lv_wordpiece_options *lv_wordpiece_get_options(const lv_wordpiece *wp);
/* The vocabulary as vocab.txt text (LF after every token); malloc'd, *len set; NULL on OOM. */
char *lv_wordpiece_vocab_text(const lv_wordpiece *wp, size_t *len);

/* Tokenizes text[0..len) (UTF-8; an invalid byte counts as U+FFFD, which cleaning drops)
 * without [CLS]/[SEP]. Writes min(count, cap) ids and sets *count to the full count, so a
 * caller may size a buffer with cap 0 first. Literal special tokens in the text ("[SEP]")
 * map to their ids, as in HF. */
lv_status lv_wordpiece_tokenize(const lv_wordpiece *wp, const char *text, size_t len, int32_t *ids,
                                size_t cap, size_t *count);
/* HF tokenizer(texts, max_length=max_len, truncation=True, padding="max_length"):
 * [CLS] tokens [SEP], tokens cut to max_len-2, [PAD] after; ids/mask (and type_ids when
 * not NULL: all 0) are [n, max_len] row-major. NUL-terminated texts; max_len >= 2. */
lv_status lv_wordpiece_encode(const lv_wordpiece *wp, const char *const *texts, size_t n, int max_len,
                              int32_t *ids, int32_t *mask, int32_t *type_ids);

#ifdef __cplusplus
}
#endif
#endif
