/* embedding: CPU twin of cuda/embedding.cu. out [n,c] = table[ids[i]] for table [vocab,c];
 * the backward scatter-adds, so a token id repeated in the batch accumulates every row.
 * Ids are trusted to be < vocab (the op is not told vocab); negative ids are reported. */
#include <string.h>

#include "cpu_ops.h"

/* Negative ids can only come from a caller bug; report it as a sticky backend error rather
 * than reading before the table. Returns the first bad position or -1. */
static int first_negative(const int *ids, int n) {
    for (int i = 0; i < n; i++)
        if (ids[i] < 0) return i;
    return -1;
}

void lv_cpu_embedding_forward(lv_backend *be, float *out, const int *ids, const float *table,
                              int n, int c) {
    int bad = first_negative(ids, n);
    if (bad >= 0) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "embedding_forward: id %d at position %d is negative",
                        ids[bad], bad);
        return;
    }
#pragma omp parallel for schedule(static) if ((long)n * c >= (1L << 16))
    for (int i = 0; i < n; i++)
        memcpy(out + (size_t)i * c, table + (size_t)ids[i] * c, (size_t)c * sizeof *out);
}

void lv_cpu_embedding_backward(lv_backend *be, float *dtable, const float *dout, const int *ids,
                               int n, int c) {
    if (!dtable) return;
    int bad = first_negative(ids, n);
    if (bad >= 0) {
        lv_backend_fail(be, LV_ERR_RUNTIME, "embedding_backward: id %d at position %d is negative",
                        ids[bad], bad);
        return;
    }
    /* Rows are walked in order on one thread: repeated ids hit the same table row, and a
     * fixed order keeps the sum bit-reproducible. A batch of tokens is small next to the
     * rest of a step, so this is not worth a parallel segmented reduction. */
    for (int i = 0; i < n; i++) {
        float *dst = dtable + (size_t)ids[i] * c;
        const float *src = dout + (size_t)i * c;
        for (int j = 0; j < c; j++) dst[j] += src[j];
    }
}
