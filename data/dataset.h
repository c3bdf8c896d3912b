/* The in-memory picture of a "liver-vlm-data/1" file (docs/data-format.md), shared by the
 * HDF5 reader/writer, the phantom, the packer, the splits and the loader. Knows nothing of
 * HDF5: a dataset can come from a file, the phantom, or a test, and the GPU build without
 * HDF5 headers still has it. */
#ifndef LV_DATASET_H
#define LV_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LV_MAX_PHASES 8
#define LV_MAX_CLASSES 64

typedef enum lv_pixel_type { LV_PIX_I16 = 0, LV_PIX_U8 = 1, LV_PIX_F32 = 2 } lv_pixel_type;

size_t lv_pixel_size(lv_pixel_type t);
const char *lv_pixel_name(lv_pixel_type t); /* "int16", "uint8", "float32" */

typedef struct lv_dataset lv_dataset;

/* Pulls one sample's pixels from wherever they live (a streaming HDF5 reader); set by the
 * source, NULL for in-memory data. Called from one thread at a time. */
typedef lv_status (*lv_sample_reader)(const lv_dataset *ds, int64_t index, void *dst);

struct lv_dataset {
    char *path;            /* source, for messages ("phantom" when generated) */
    int64_t n;             /* samples, >= 1 */
    int p, h, w;           /* phases, height, width */
    int c;                 /* classes */
    lv_pixel_type pixel;   /* dtype of /images */
    int hu;                /* 1: pixel values are Hounsfield units (int16 default) */
    void *images;          /* [n,p,h,w] of `pixel`, or NULL when streamed via read_sample */
    int32_t *labels;       /* [n] in [0,c) */
    int32_t *patients;     /* [n] dense patient index in [0,n_patients), or NULL */
    char **patient_ids;    /* [n_patients] the file's ids as text (int ids printed), or NULL */
    int n_patients;
    int32_t *lesions;      /* [n] or NULL */
    char **reports;        /* [n] UTF-8, or NULL */
    int32_t *split;        /* [n] 0 train, 1 val, 2 test from /split, or NULL */
    char *classes[LV_MAX_CLASSES]; /* [c] */
    char *phases[LV_MAX_PHASES];   /* [p] */
    lv_sample_reader read_sample;  /* non-NULL when images == NULL */
    void *source;                  /* the reader's private state */
    void (*source_free)(void *source);
};

void lv_dataset_init(lv_dataset *ds);
/* Frees everything the dataset owns (including its source) and re-initialises it. */
void lv_dataset_free(lv_dataset *ds);
/* Allocates images (zeroed) and labels for n samples and sets the shape; names must be set
 * with lv_dataset_set_names. Overflow-checked. */
lv_status lv_dataset_alloc(lv_dataset *ds, int64_t n, int p, int h, int w, lv_pixel_type pixel);
/* Copies class and phase names (C and P strings). */
lv_status lv_dataset_set_names(lv_dataset *ds, const char *const *classes, int c,
                               const char *const *phases, int p);
/* Sets the dense patient index from per-sample integer ids (ids kept as text). */
lv_status lv_dataset_set_patients_int(lv_dataset *ds, const int64_t *ids);
/* Sets the dense patient index from per-sample string ids. */
lv_status lv_dataset_set_patients_str(lv_dataset *ds, const char *const *ids);
/* Bytes of one sample's pixels (p*h*w*pixel size). */
size_t lv_dataset_sample_bytes(const lv_dataset *ds);
/* Copies sample `index`'s raw pixels ([p,h,w] of ds->pixel) into dst, from memory or the
 * streaming source. */
lv_status lv_dataset_read_raw(const lv_dataset *ds, int64_t index, void *dst);
/* Index of class `name`, or -1. */
int lv_dataset_class_index(const lv_dataset *ds, const char *name);

#ifdef __cplusplus
}
#endif
#endif
