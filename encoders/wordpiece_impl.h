/* Internals shared by the WordPiece files: the vocabulary's hash table (wordpiece.c) and the
 * text pipeline (wordpiece_basic.c). Not for use outside encoders/wordpiece*.c. */
#ifndef LV_WORDPIECE_IMPL_H
#define LV_WORDPIECE_IMPL_H

#include "encoders/wordpiece.h"

struct lv_wordpiece {
    lv_wordpiece_options opt;
    size_t n;             /* tokens */
    char *arena;          /* every token, NUL-terminated, in id order */
    uint32_t *off, *len;  /* [n] byte offset into arena, byte length */
    int32_t *slots;       /* open-addressing table of ids, -1 = empty; size mask+1 */
    size_t mask;
    size_t max_len;       /* longest token in bytes: bounds the greedy search */
    lv_wordpiece_specials sp;
    int strip;            /* resolved strip_accents */
};

/* Id of ("##" if cont) + s[0..len), or -1. No allocation: the prefix is hashed in place. */
int32_t lv_wp_lookup(const lv_wordpiece *wp, int cont, const char *s, size_t len);

#endif
