/* The text side of the WordPiece tokenizer: HF BertTokenizer's special-token split, its
 * BasicTokenizer (clean, CJK spacing, NFC, lower-case, accent strip, punctuation split) and
 * the greedy longest-match WordPiece, written against utf8proc. Each rule below cites the
 * HF behaviour it reproduces; it must not diverge from HF to be "nicer". */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "encoders/wordpiece_impl.h"

/* Per-call work buffers: grown as needed, reused across the texts of a batch, so there is
 * no allocation per word or token (and the tokenizer itself stays read-only). */
typedef struct scratch {
    int32_t *cp, *tmp; /* UTF-32 text, and a second buffer for utf8proc's output */
    size_t cap_cp, cap_tmp;
    uint8_t *u8; /* UTF-8 bytes for utf8proc / the hash lookups */
    size_t cap_u8;
    size_t *boff; /* byte offset of each character of the current piece */
    size_t cap_boff;
} scratch;

typedef struct emitter {
    int32_t *ids;
    size_t cap, count;
} emitter;

static void emit(emitter *e, int32_t id) {
    if (e->count < e->cap) e->ids[e->count] = id;
    e->count++;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}
#define GROW(buf, cap, need) grow((void **)&(buf), &(cap), (need), sizeof *(buf))

static void scratch_free(scratch *s) {
    free(s->cp);
    free(s->tmp);
    free(s->u8);
    free(s->boff);
}

/* HF _is_chinese_char: the CJK Unified Ideographs blocks BERT spaces out, no more. */
static int is_cjk(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* HF _is_punctuation: every non-alphanumeric printable ASCII character ("$", "^", "`" are
 * symbols to Unicode, punctuation to BERT) plus Unicode categories P*. */
static int is_punct(int32_t c) {
    if (c < 0x80)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* Python's str.isspace(), used by HF's whitespace_tokenize (str.split()). */
static int py_isspace(int32_t c) {
    if (c < 0x80) return (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x20);
    if (c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
        c == 0x202F || c == 0x205F || c == 0x3000)
        return 1;
    return 0;
}

/* Python's per-character str.lower() (HF lowers the text one character at a time around
 * the special tokens, so Greek final sigma never applies). Full mapping: U+0130 is the one
 * character whose lower-case is two (i + combining dot above). */
static int lower_char(int32_t c, int32_t *out) {
    if (c < 0x80) {
        out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        return 1;
    }
    if (c == 0x130) {
        out[0] = 'i';
        out[1] = 0x307;
        return 2;
    }
    out[0] = utf8proc_tolower(c);
    return 1;
}

/* UTF-8 -> UTF-32; an invalid byte becomes U+FFFD (HF never sees such bytes: Python would
 * have refused to decode them; dropping them as cleaning drops U+FFFD is the kind reading). */
static int32_t next_cp(const char *s, size_t len, size_t *i) {
    utf8proc_int32_t c;
    utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + *i, (utf8proc_ssize_t)(len - *i), &c);
    if (n <= 0) {
        *i += 1;
        return 0xFFFD;
    }
    *i += (size_t)n;
    return c;
}

/* Encodes cp[0..n) as UTF-8 into s->u8 (NUL-terminated); returns the byte count or -1. */
static long to_utf8(scratch *s, const int32_t *cp, size_t n) {
    if (!GROW(s->u8, s->cap_u8, 4 * n + 1)) return -1;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) at += (size_t)utf8proc_encode_char(cp[i], s->u8 + at);
    s->u8[at] = 0;
    return (long)at;
}

/* Canonical decomposition (with canonical reordering) of s->cp[0..n) into s->tmp. */
static long decompose(scratch *s, size_t n) {
    long nb = to_utf8(s, s->cp, n);
    if (nb < 0) return -1;
    size_t want = n * 4 + 16;
    for (;;) {
        if (!GROW(s->tmp, s->cap_tmp, want)) return -1;
        utf8proc_ssize_t r = utf8proc_decompose(s->u8, nb, s->tmp, (utf8proc_ssize_t)s->cap_tmp,
                                                UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
        if (r < 0) return -1;
        if ((size_t)r <= s->cap_tmp) return (long)r;
        want = (size_t)r;
    }
}

/* Greedy longest-match-first over one piece cp[0..n): HF WordpieceTokenizer.tokenize. */
static int wordpiece(const lv_wordpiece *wp, scratch *s, const int32_t *cp, size_t n, emitter *e) {
    if (n == 0) return 1;
    if (n > (size_t)wp->opt.max_input_chars_per_word) { /* counted in characters, as HF */
        emit(e, wp->sp.unk);
        return 1;
    }
    if (!GROW(s->boff, s->cap_boff, n + 1) || !GROW(s->u8, s->cap_u8, 4 * n + 1)) return 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        s->boff[i] = at;
        at += (size_t)utf8proc_encode_char(cp[i], s->u8 + at);
    }
    s->boff[n] = at;
    const char *u8 = (const char *)s->u8;
    size_t first = e->count, start = 0;
    while (start < n) {
        size_t end = n;
        int32_t id = -1;
        for (; end > start; end--) {
            size_t bl = s->boff[end] - s->boff[start] + (start > 0 ? 2 : 0);
            if (bl > wp->max_len) continue; /* longer than any token: skip the hashing */
            id = lv_wp_lookup(wp, start > 0, u8 + s->boff[start], s->boff[end] - s->boff[start]);
            if (id >= 0) break;
        }
        if (id < 0) { /* one unmatched piece makes the whole word [UNK] */
            e->count = first;
            emit(e, wp->sp.unk);
            return 1;
        }
        emit(e, id);
        start = end;
    }
    return 1;
}

/* BasicTokenizer on one segment without special tokens, then WordPiece. */
static int basic(const lv_wordpiece *wp, scratch *s, const char *text, size_t len, emitter *e) {
    const lv_wordpiece_options *o = &wp->opt;
    if (!GROW(s->cp, s->cap_cp, 3 * len + 4)) return 0; /* CJK: 3 chars from >= 3 bytes; U+0130: 2 from 2 */
    size_t n = 0;
    int32_t maxc = 0;
    if (!o->do_basic_tokenize) {
        /* HF: str.split(), then WordPiece. No lower-casing even with do_lower_case: HF's
         * tokenize() asks the (absent) BasicTokenizer for it and so never lowers. */
        for (size_t i = 0; i < len;) s->cp[n++] = next_cp(text, len, &i);
        for (size_t i = 0; i < n;) {
            while (i < n && py_isspace(s->cp[i])) i++;
            size_t w = i;
            while (i < n && !py_isspace(s->cp[i])) i++;
            if (i > w && !wordpiece(wp, s, s->cp + w, i - w, e)) return 0;
        }
        return 1;
    }
    /* _clean_text + lower + _tokenize_chinese_chars in one pass: they act per character. */
    for (size_t i = 0; i < len;) {
        int32_t c = next_cp(text, len, &i);
        if (c == 0 || c == 0xFFFD) continue;
        if (c < 0x80) {
            if (c == '\t' || c == '\n' || c == '\r' || c == ' ') c = ' ';
            else if (c < 0x20 || c == 0x7F) continue;
            else if (o->do_lower_case && c >= 'A' && c <= 'Z') c += 32;
            s->cp[n++] = c;
            continue;
        }
        utf8proc_category_t k = utf8proc_category(c);
        /* _is_control: every C* category (Cc, Cf, Cs, Co and unassigned Cn) is dropped. */
        if (k == UTF8PROC_CATEGORY_CN || k >= UTF8PROC_CATEGORY_CC) continue;
        /* Zs become spaces; U+2028/U+2029 survive cleaning in HF but str.split() splits on
         * them, which is the same as a space here. */
        if (k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP) {
            s->cp[n++] = ' ';
            continue;
        }
        int32_t lc[2];
        int m = o->do_lower_case ? lower_char(c, lc) : (lc[0] = c, 1);
        for (int j = 0; j < m; j++) {
            if (lc[j] > maxc) maxc = lc[j];
            if (o->tokenize_chinese_chars && is_cjk(lc[j])) {
                s->cp[n++] = ' ';
                s->cp[n++] = lc[j];
                s->cp[n++] = ' ';
            } else {
                s->cp[n++] = lc[j];
            }
        }
    }
    /* NFC: no character below U+0300 composes with or decomposes to anything. */
    if (o->nfc && maxc >= 0x300) {
        long m = decompose(s, n);
        if (m < 0) return 0;
        utf8proc_ssize_t r = utf8proc_normalize_utf32(s->tmp, m, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (r < 0 || !GROW(s->cp, s->cap_cp, (size_t)r)) return 0;
        memcpy(s->cp, s->tmp, (size_t)r * sizeof *s->cp);
        n = (size_t)r;
    }
    /* _run_strip_accents: NFD, then drop Mn. HF does it per word; on the whole text it is the
     * same since a space is a starter. Below U+00C0 nothing decomposes. */
    if (wp->strip && maxc >= 0xC0) {
        long m = decompose(s, n);
        if (m < 0 || !GROW(s->cp, s->cap_cp, (size_t)m)) return 0;
        n = 0;
        for (long i = 0; i < m; i++)
            if (utf8proc_category(s->tmp[i]) != UTF8PROC_CATEGORY_MN) s->cp[n++] = s->tmp[i];
    }
    /* whitespace split, then _run_split_on_punc: each punctuation character is a piece. */
    size_t w = 0;
    for (size_t i = 0; i <= n; i++) {
        int32_t c = i < n ? s->cp[i] : ' ';
        if (c == ' ' || is_punct(c)) {
            if (i > w && !wordpiece(wp, s, s->cp + w, i - w, e)) return 0;
            if (c != ' ' && !wordpiece(wp, s, s->cp + i, 1, e)) return 0;
            w = i + 1;
        }
    }
    return 1;
}

/* HF splits the raw text on its special tokens (tokens_trie.split) before anything else: a
 * literal "[SEP]" is the [SEP] id, and each piece between them is tokenized on its own. */
static size_t special_at(const lv_wordpiece *wp, const char *text, size_t len, size_t i, int32_t *id) {
    const char *names[5] = {wp->opt.unk_token, wp->opt.sep_token, wp->opt.pad_token, wp->opt.cls_token,
                            wp->opt.mask_token};
    const int32_t ids[5] = {wp->sp.unk, wp->sp.sep, wp->sp.pad, wp->sp.cls, wp->sp.mask};
    size_t best = 0;
    for (int k = 0; k < 5; k++) {
        size_t l = strlen(names[k]);
        if (ids[k] >= 0 && l > best && l <= len - i && text[i] == names[k][0] && memcmp(text + i, names[k], l) == 0) {
            best = l;
            *id = ids[k];
        }
    }
    return best;
}

static lv_status tokenize(const lv_wordpiece *wp, scratch *s, const char *text, size_t len, emitter *e) {
    size_t seg = 0;
    for (size_t i = 0; i < len;) {
        int32_t id;
        size_t l = special_at(wp, text, len, i, &id);
        if (l == 0) {
            i++;
            continue;
        }
        if (i > seg && !basic(wp, s, text + seg, i - seg, e)) goto oom;
        emit(e, id);
        i += l;
        seg = i;
    }
    if (len > seg && !basic(wp, s, text + seg, len - seg, e)) goto oom;
    return LV_OK;
oom:
    return lv_errorf(LV_ERR_RUNTIME, "tokenizer: out of memory on a text of %zu bytes", len);
}

lv_status lv_wordpiece_tokenize(const lv_wordpiece *wp, const char *text, size_t len, int32_t *ids,
                                size_t cap, size_t *count) {
    scratch s = {0};
    emitter e = {ids, cap, 0};
    lv_status st = tokenize(wp, &s, text ? text : "", text ? len : 0, &e);
    scratch_free(&s);
    *count = e.count;
    return st;
}

lv_status lv_wordpiece_encode(const lv_wordpiece *wp, const char *const *texts, size_t n, int max_len,
                              int32_t *ids, int32_t *mask, int32_t *type_ids) {
    LV_CHECK(max_len >= 2, LV_ERR_USAGE, "tokenizer: max length %d leaves no room for [CLS] and [SEP]", max_len);
    scratch s = {0};
    lv_status st = LV_OK;
    size_t L = (size_t)max_len;
    for (size_t t = 0; t < n && st == LV_OK; t++) {
        int32_t *row = ids + t * L;
        emitter e = {row + 1, L - 2, 0}; /* HF truncation: keep the first max_len-2 tokens */
        const char *x = texts[t] ? texts[t] : "";
        st = tokenize(wp, &s, x, strlen(x), &e);
        size_t k = e.count < L - 2 ? e.count : L - 2;
        row[0] = wp->sp.cls;
        row[k + 1] = wp->sp.sep;
        for (size_t j = k + 2; j < L; j++) row[j] = wp->sp.pad;
        for (size_t j = 0; j < L; j++) {
            if (mask) mask[t * L + j] = j < k + 2;
            if (type_ids) type_ids[t * L + j] = 0;
        }
    }
    scratch_free(&s);
    return st;
}
