/* Evaluation report pieces: ROC curves (one per class, one-vs-rest) and the confusion
 * matrix as standalone SVG, a short report.md, and an atomic text-file writer. Pure text
 * generation from probabilities and lv_metrics: no model, no data files, no plotting
 * library. */
#ifndef LV_REPORT_H
#define LV_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "train/calibration.h"
#include "train/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One ROC polyline per class with its AUC in the legend, the chance diagonal dashed.
 * probs [n,c], labels [n]. Points are the curve's corners at each distinct score (ties make
 * one diagonal step, as the tie-aware AUC counts them), thinned to what the plot can show.
 * A class without positives or negatives is listed as "n/a". malloc'd; NULL on OOM. */
char *lv_report_roc_svg(const float *probs, const int32_t *labels, int64_t n, int c, const char *const *classes,
                        const lv_metrics *m);

/* The confusion matrix (rows = true class, columns = predicted), cells shaded by the row
 * fraction and labelled with the count. malloc'd; NULL on OOM. */
char *lv_report_confusion_svg(const lv_metrics *m, const char *const *classes);

typedef struct lv_report_info {
    const char *data_path, *ckpt_path;
    const char *split;   /* "all", "train", "val" or "test" */
    const char *device;  /* backend name */
    const char *head;    /* "vlm" or "linear" */
    int input_size;
    double seconds;      /* prediction wall time */
    /* eval --calibrate: the fit and where it came from (calib NULL: no calibration section). */
    const lv_calibration *calib;
    const char *calib_path;
} lv_report_info;

/* Reliability diagram of a calibration: two panels (before: T = 1, after: the fitted T),
 * accuracy per confidence bin as bars, each bin's mean confidence as a tick, the diagonal
 * of perfect calibration, the bin counts and the ECE. malloc'd; NULL on OOM. */
char *lv_report_reliability_svg(const lv_calibration *cal);

/* report.md: data, checkpoint, headline metrics, per-class table, confusion table, links to
 * confusion.svg and roc.svg and the other files; with r->calib a calibration section
 * linking reliability.svg. malloc'd; NULL on OOM. */
char *lv_report_markdown(const lv_report_info *r, const lv_metrics *m, const char *const *classes);

/* Writes len bytes to path through path's temp sibling, fsync and rename, so a reader never
 * sees a half-written file. LV_ERR_INPUT naming the path on failure. */
lv_status lv_write_file_atomic(const char *path, const char *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
