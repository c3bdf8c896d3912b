/* Evaluation report pieces (report.h): SVG ROC curves and confusion matrix, report.md,
 * atomic file writes. Generates text only; the numbers come from lv_metrics (the AUCs in
 * the legend are the metrics.json ones, never recomputed here). */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A growing string; `oom` sticks once an allocation fails so callers check once. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = (b->cap ? 2 * b->cap : 4096) + (size_t)n;
        char *p = realloc(b->s, ncap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = ncap;
    }
}

static char *sb_finish(sbuf *b) {
    if (b->oom || !b->s) {
        free(b->s);
        return NULL;
    }
    return b->s;
}

/* Text escaped for XML character data and attribute values. */
static void sb_xml(sbuf *b, const char *t) {
    for (; *t; t++) {
        switch (*t) {
        case '&': sb_printf(b, "&amp;"); break;
        case '<': sb_printf(b, "&lt;"); break;
        case '>': sb_printf(b, "&gt;"); break;
        case '"': sb_printf(b, "&quot;"); break;
        default: sb_printf(b, "%c", *t);
        }
    }
}

/* Text escaped for a Markdown table cell. */
static void sb_md(sbuf *b, const char *t) {
    for (; *t; t++) {
        if (*t == '|' || *t == '\\' || *t == '*' || *t == '_' || *t == '`') sb_printf(b, "\\");
        sb_printf(b, "%c", *t == '\n' ? ' ' : *t);
    }
}

/* Tableau-10: distinguishable, colour-blind-friendlier than primaries. */
static const char *const palette[10] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                        "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

typedef struct scored {
    float s;
    int pos;
} scored;

static int by_score_desc(const void *a, const void *b) {
    float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return x < y ? 1 : x > y ? -1 : 0;
}

enum { PLOT_X = 60, PLOT_Y = 20, PLOT_W = 400, PLOT_H = 400, LEGEND_X = 480 };

/* Appends class j's curve as an SVG polyline; returns 0 when the class has no positives or
 * no negatives (no curve). */
static int roc_polyline(sbuf *b, const float *probs, const int32_t *labels, int64_t n, int c, int j, scored *tmp) {
    int64_t np = 0;
    for (int64_t i = 0; i < n; i++) {
        tmp[i].s = probs[(size_t)i * (size_t)c + (size_t)j];
        tmp[i].pos = labels[i] == j;
        np += tmp[i].pos;
    }
    int64_t nn = n - np;
    if (np == 0 || nn == 0) return 0;
    qsort(tmp, (size_t)n, sizeof *tmp, by_score_desc);
    sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%d,%d", palette[j % 10], PLOT_X,
              PLOT_Y + PLOT_H);
    int64_t tp = 0, fp = 0;
    double lx = 0, ly = 0; /* last emitted point, plot units */
    for (int64_t i = 0; i < n;) {
        int64_t k = i;
        for (; k < n && tmp[k].s == tmp[i].s; k++) tp += tmp[k].pos, fp += !tmp[k].pos;
        i = k;
        double x = (double)fp / (double)nn * PLOT_W, y = (double)tp / (double)np * PLOT_H;
        /* Thin to half-pixel moves: 100k samples would otherwise make a 100k-point path. */
        if (i < n && fabs(x - lx) < 0.5 && fabs(y - ly) < 0.5) continue;
        sb_printf(b, " %.1f,%.1f", PLOT_X + x, PLOT_Y + PLOT_H - y);
        lx = x, ly = y;
    }
    sb_printf(b, "\"/>\n");
    return 1;
}

char *lv_report_roc_svg(const float *probs, const int32_t *labels, int64_t n, int c, const char *const *classes,
                        const lv_metrics *m) {
    sbuf b = {0};
    int legend_h = 24 + 18 * c;
    int height = PLOT_Y + PLOT_H + 50 > legend_h ? PLOT_Y + PLOT_H + 50 : legend_h;
    sb_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
                  "font-size=\"12\">\n<title>ROC curves, one-vs-rest</title>\n"
                  "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
              LEGEND_X + 200, height);
    for (int t = 0; t <= 5; t++) {
        double v = t / 5.0;
        int gx = PLOT_X + (int)lround(v * PLOT_W), gy = PLOT_Y + PLOT_H - (int)lround(v * PLOT_H);
        sb_printf(&b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#e0e0e0\"/>\n", gx, PLOT_Y, gx, PLOT_Y + PLOT_H);
        sb_printf(&b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#e0e0e0\"/>\n", PLOT_X, gy, PLOT_X + PLOT_W, gy);
        sb_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%.1f</text>\n", gx, PLOT_Y + PLOT_H + 16, v);
        sb_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.1f</text>\n", PLOT_X - 6, gy + 4, v);
    }
    sb_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"black\"/>\n", PLOT_X, PLOT_Y,
              PLOT_W, PLOT_H);
    sb_printf(&b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\" stroke-dasharray=\"4 4\"/>\n", PLOT_X,
              PLOT_Y + PLOT_H, PLOT_X + PLOT_W, PLOT_Y);
    sb_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">false positive rate</text>\n", PLOT_X + PLOT_W / 2,
              PLOT_Y + PLOT_H + 36);
    sb_printf(&b, "<text transform=\"translate(16,%d) rotate(-90)\" text-anchor=\"middle\">true positive rate</text>\n",
              PLOT_Y + PLOT_H / 2);
    scored *tmp = malloc((size_t)(n > 0 ? n : 1) * sizeof *tmp);
    if (!tmp) b.oom = 1;
    for (int j = 0; j < c && tmp; j++) {
        int drawn = roc_polyline(&b, probs, labels, n, c, j, tmp);
        int ly = PLOT_Y + 14 + 18 * j;
        sb_printf(&b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"%s/>\n", LEGEND_X,
                  ly - 4, LEGEND_X + 20, ly - 4, palette[j % 10], drawn ? "" : " stroke-dasharray=\"2 3\"");
        sb_printf(&b, "<text x=\"%d\" y=\"%d\">", LEGEND_X + 26, ly);
        sb_xml(&b, classes[j]);
        if (drawn && !isnan(m->auc[j])) sb_printf(&b, " (AUC %.3f)</text>\n", m->auc[j]);
        else sb_printf(&b, " (AUC n/a)</text>\n");
    }
    if (!isnan(m->macro_auc))
        sb_printf(&b, "<text x=\"%d\" y=\"%d\">macro-AUC %.3f</text>\n", LEGEND_X, PLOT_Y + 24 + 18 * c, m->macro_auc);
    sb_printf(&b, "</svg>\n");
    free(tmp);
    return sb_finish(&b);
}

char *lv_report_confusion_svg(const lv_metrics *m, const char *const *classes) {
    sbuf b = {0};
    int c = m->c;
    int cell = c <= 10 ? 56 : 560 / c < 16 ? 16 : 560 / c;
    int left = 110, top = 70, w = left + cell * c + 20, h = top + cell * c + 40;
    sb_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
                  "font-size=\"12\">\n<title>Confusion matrix (rows = true class)</title>\n"
                  "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
              w, h);
    sb_printf(&b, "<text x=\"%d\" y=\"16\" text-anchor=\"middle\">predicted</text>\n", left + cell * c / 2);
    sb_printf(&b, "<text transform=\"translate(14,%d) rotate(-90)\" text-anchor=\"middle\">true</text>\n",
              top + cell * c / 2);
    for (int j = 0; j < c; j++) {
        sb_printf(&b, "<text transform=\"translate(%d,%d) rotate(-45)\">", left + cell * j + cell / 2, top - 6);
        sb_xml(&b, classes[j]);
        sb_printf(&b, "</text>\n<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 6, top + cell * j + cell / 2 + 4);
        sb_xml(&b, classes[j]);
        sb_printf(&b, "</text>\n");
    }
    for (int i = 0; i < c; i++) {
        int64_t row = 0;
        for (int j = 0; j < c; j++) row += m->confusion[(size_t)i * (size_t)c + (size_t)j];
        for (int j = 0; j < c; j++) {
            int64_t v = m->confusion[(size_t)i * (size_t)c + (size_t)j];
            double f = row ? (double)v / (double)row : 0.0;
            /* White to the palette's blue by the row fraction (recall on the diagonal). */
            int r = (int)lround(255 - f * (255 - 0x4e)), g = (int)lround(255 - f * (255 - 0x79)),
                bl = (int)lround(255 - f * (255 - 0xa7));
            int x = left + cell * j, y = top + cell * i;
            sb_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#%02x%02x%02x\" stroke=\"#ccc\"/>\n", x,
                      y, cell, cell, r, g, bl);
            if (cell >= 24)
                sb_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">%lld</text>\n", x + cell / 2,
                          y + cell / 2 + 4, f > 0.5 ? "white" : "black", (long long)v);
        }
    }
    sb_printf(&b, "</svg>\n");
    return sb_finish(&b);
}

/* One reliability panel at (x0, y0), side `side`: bars = accuracy per bin, ticks = the
 * bin's mean confidence (a bar below its tick is overconfidence), counts above the bars. */
static void reliability_panel(sbuf *b, const lv_reliability *r, int x0, int y0, int side, const char *title) {
    double bw = (double)side / LV_CALIB_BINS;
    sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-weight=\"bold\">%s, ECE %.4f</text>\n",
              x0 + side / 2, y0 - 24, title, r->ece);
    for (int t = 0; t <= 5; t++) {
        double v = t / 5.0;
        int gx = x0 + (int)lround(v * side), gy = y0 + side - (int)lround(v * side);
        sb_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#e0e0e0\"/>\n", x0, gy, x0 + side, gy);
        sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%.1f</text>\n", gx, y0 + side + 16, v);
        sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.1f</text>\n", x0 - 6, gy + 4, v);
    }
    for (int k = 0; k < LV_CALIB_BINS; k++) {
        if (r->count[k] == 0) continue;
        double x = x0 + k * bw, top = y0 + side - r->acc[k] * side, tick = y0 + side - r->conf[k] * side;
        sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"white\"/>\n", x,
                  top, bw, r->acc[k] * side, palette[0]);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>\n", x + 1,
                  tick, x + bw - 1, tick, palette[2]);
        double label_y = (top < tick ? top : tick) - 4;
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"9\">%lld</text>\n", x + bw / 2,
                  label_y < y0 - 2 ? y0 - 2 : label_y, (long long)r->count[k]);
    }
    sb_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\" stroke-dasharray=\"4 4\"/>\n", x0,
              y0 + side, x0 + side, y0);
    sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"black\"/>\n", x0, y0, side,
              side);
    sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">confidence (top-1 probability)</text>\n",
              x0 + side / 2, y0 + side + 34);
    sb_printf(b, "<text transform=\"translate(%d,%d) rotate(-90)\" text-anchor=\"middle\">accuracy</text>\n", x0 - 40,
              y0 + side / 2);
}

char *lv_report_reliability_svg(const lv_calibration *cal) {
    sbuf b = {0};
    enum { SIDE = 300, LEFT = 60, GAP = 80, TOP = 50 };
    int width = LEFT + 2 * SIDE + GAP + 20, height = TOP + SIDE + 80;
    sb_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
                  "font-size=\"12\">\n<title>Reliability diagram, %d confidence bins, before and after temperature "
                  "scaling</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
              width, height, LV_CALIB_BINS);
    char title[64];
    reliability_panel(&b, &cal->before, LEFT, TOP, SIDE, "before (T = 1)");
    snprintf(title, sizeof title, "after (T = %.3f)", cal->temperature);
    reliability_panel(&b, &cal->after, LEFT + SIDE + GAP, TOP, SIDE, title);
    int ly = TOP + SIDE + 58;
    sb_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"10\" fill=\"%s\"/>\n", LEFT, ly - 9, palette[0]);
    sb_printf(&b, "<text x=\"%d\" y=\"%d\">accuracy in the bin (number above: samples)</text>\n", LEFT + 20, ly);
    sb_printf(&b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>\n", LEFT + 330,
              ly - 4, LEFT + 350, ly - 4, palette[2]);
    sb_printf(&b, "<text x=\"%d\" y=\"%d\">mean confidence in the bin; dashed: perfect calibration</text>\n",
              LEFT + 356, ly);
    sb_printf(&b, "</svg>\n");
    return sb_finish(&b);
}

static void md_num(sbuf *b, double v) {
    if (isnan(v)) sb_printf(b, " n/a |");
    else sb_printf(b, " %.3f |", v);
}

char *lv_report_markdown(const lv_report_info *r, const lv_metrics *m, const char *const *classes) {
    sbuf b = {0};
    char when[64] = "";
    time_t now = time(NULL);
    struct tm tmv;
    if (gmtime_r(&now, &tmv)) strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tmv);
    sb_printf(&b, "# liver-vlm evaluation\n\n");
    sb_printf(&b, "- data: `%s` (split: %s, %lld samples)\n", r->data_path, r->split, (long long)m->n);
    sb_printf(&b, "- checkpoint: `%s` (%s head, input %dx%d)\n", r->ckpt_path, r->head, r->input_size, r->input_size);
    sb_printf(&b, "- device: %s; prediction took %.1f s; written %s\n\n", r->device, r->seconds, when);
    sb_printf(&b, "| accuracy | balanced accuracy | macro-AUC |\n|---:|---:|---:|\n|");
    md_num(&b, m->accuracy);
    md_num(&b, m->balanced_accuracy);
    md_num(&b, m->macro_auc);
    sb_printf(&b, "\n\n## Per class (one-vs-rest AUC)\n\n| class | support | AUC | precision | recall | F1 |\n"
                  "|---|---:|---:|---:|---:|---:|\n");
    for (int j = 0; j < m->c; j++) {
        sb_printf(&b, "| ");
        sb_md(&b, classes[j]);
        sb_printf(&b, " | %lld |", (long long)m->support[j]);
        md_num(&b, m->auc[j]);
        md_num(&b, m->precision[j]);
        md_num(&b, m->recall[j]);
        md_num(&b, m->f1[j]);
        sb_printf(&b, "\n");
    }
    sb_printf(&b, "\n## Confusion matrix (rows = true class, columns = predicted)\n\n| true / predicted |");
    for (int j = 0; j < m->c; j++) {
        sb_printf(&b, " ");
        sb_md(&b, classes[j]);
        sb_printf(&b, " |");
    }
    sb_printf(&b, "\n|---|");
    for (int j = 0; j < m->c; j++) sb_printf(&b, "---:|");
    sb_printf(&b, "\n");
    for (int i = 0; i < m->c; i++) {
        sb_printf(&b, "| ");
        sb_md(&b, classes[i]);
        sb_printf(&b, " |");
        for (int j = 0; j < m->c; j++) sb_printf(&b, " %lld |", (long long)m->confusion[(size_t)i * (size_t)m->c + (size_t)j]);
        sb_printf(&b, "\n");
    }
    sb_printf(&b, "\n![confusion matrix](confusion.svg)\n\n## ROC curves\n\n![ROC curves](roc.svg)\n\n");
    if (r->calib) {
        const lv_calibration *c = r->calib;
        sb_printf(&b, "## Calibration (temperature scaling)\n\nTemperature T = %.4f, fitted on `%s` (%lld samples; "
                      "its NLL %.4f -> %.4f). On the evaluated data:\n\n| | NLL | ECE (%d bins) |\n|---|---:|---:|\n"
                      "| before (T = 1) | %.4f | %.4f |\n| after (T = %.4f) | %.4f | %.4f |\n\n"
                      "![reliability diagram](reliability.svg)\n\nCalibrated probabilities are softmax(log p / T) "
                      "of the `predictions.csv` probabilities p (which stay uncalibrated).\n\n",
                  c->temperature, r->calib_path ? r->calib_path : "?", (long long)c->fit_n, c->fit_nll_before,
                  c->fit_nll_after, LV_CALIB_BINS, c->before.nll, c->before.ece, c->temperature, c->after.nll,
                  c->after.ece);
    }
    sb_printf(&b, "Files: `predictions.csv` (one row per sample: index, patient, label, pred, p_<CLASS>...), "
                  "`metrics.json` (the numbers above), `roc.svg`, `confusion.svg`%s. Definitions: docs/eval.md.\n",
              r->calib ? ", `reliability.svg`" : "");
    return sb_finish(&b);
}

lv_status lv_write_file_atomic(const char *path, const char *data, size_t len) {
    char tmp[4200];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    LV_CHECK(n > 0 && (size_t)n < sizeof tmp, LV_ERR_INPUT, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    LV_CHECK(fd >= 0, LV_ERR_INPUT, "%s: cannot create: %s", tmp, strerror(errno));
    size_t at = 0;
    while (at < len) {
        ssize_t w = write(fd, data + at, len - at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return lv_errorf(LV_ERR_INPUT, "%s: write failed: %s", tmp, strerror(e));
        }
        at += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return lv_errorf(LV_ERR_INPUT, "%s: cannot flush: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return lv_errorf(LV_ERR_INPUT, "%s: cannot rename into place: %s", path, strerror(e));
    }
    return LV_OK;
}
