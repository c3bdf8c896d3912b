/* RUN/log.jsonl (one JSON object per line, flushed per line so a crash loses nothing
 * written) and the human view of the same numbers: a one-line progress bar redrawn in place
 * on a terminal, plain lines elsewhere. Only rank 0 opens one. Knows nothing of training. */
#ifndef LV_TRAIN_RUNLOG_H
#define LV_TRAIN_RUNLOG_H

#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

typedef struct lv_runlog {
    FILE *f;           /* log.jsonl, NULL when not writing (other ranks) */
    int bar;           /* redraw a progress line on stderr */
    int plain;         /* print plain lines on stderr */
    int log_every;
    int bar_open;      /* a progress line is on screen without its newline */
} lv_runlog;

typedef struct lv_step_record {
    int64_t step;            /* 1-based global step */
    int64_t epoch;           /* 1-based */
    int64_t epochs;          /* planned total */
    int64_t step_in_epoch;   /* 1-based */
    int64_t steps_per_epoch;
    double loss, lr, grad_norm, images_per_s, data_wait_s;
    int skipped;             /* non-finite: no update */
} lv_step_record;

typedef struct lv_epoch_record {
    int64_t epoch, epochs;
    double train_loss, val_loss, val_accuracy, val_macro_auc; /* NaN -> null */
    int best;                /* this epoch set a new best */
    double seconds;
    int64_t skipped;         /* steps skipped in this epoch */
} lv_epoch_record;

/* path NULL: no file. bar/plain select the stderr view (both 0: silent). */
lv_status lv_runlog_open(lv_runlog *r, const char *path, int bar, int plain, int log_every);
lv_status lv_runlog_step(lv_runlog *r, const lv_step_record *s);
lv_status lv_runlog_epoch(lv_runlog *r, const lv_epoch_record *e);
/* Any other event, e.g. {"type":"start",...}: `fields` is the inside of a JSON object
 * ("\"world\":1,..."); also said on stderr as `text` when given. */
lv_status lv_runlog_event(lv_runlog *r, const char *type, const char *fields, const char *text);
/* Ends a progress line so a following message starts on its own line. */
void lv_runlog_break(lv_runlog *r);
void lv_runlog_close(lv_runlog *r);

#endif
