/* log.jsonl writer and progress display (see runlog.h). JSON has no NaN or Inf, so a
 * non-finite number is written as null; every line is flushed so `tail -f` and a crash both
 * see whole lines. */
#include "runlog.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "core/log.h"

lv_status lv_runlog_open(lv_runlog *r, const char *path, int bar, int plain, int log_every) {
    memset(r, 0, sizeof *r);
    r->bar = bar;
    r->plain = plain && !bar;
    r->log_every = log_every > 0 ? log_every : 1;
    if (path) {
        r->f = fopen(path, "a");
        LV_CHECK(r->f, LV_ERR_INPUT, "%s: cannot open for appending: %s", path, strerror(errno));
    }
    return LV_OK;
}

/* A short human-readable number ("nan" stays "nan"). */
static const char *txt(char *buf, size_t cap, double x) {
    snprintf(buf, cap, "%.4g", x);
    return buf;
}

/* A JSON number, or null when not finite. */
static const char *num(char *buf, size_t cap, double x) {
    if (!isfinite(x)) return "null";
    snprintf(buf, cap, "%.9g", x);
    return buf;
}

static lv_status put_line(lv_runlog *r, const char *line) {
    if (!r->f) return LV_OK;
    LV_CHECK(fputs(line, r->f) >= 0 && fputc('\n', r->f) != EOF && fflush(r->f) == 0, LV_ERR_RUNTIME,
             "log.jsonl: write failed: %s", strerror(errno));
    return LV_OK;
}

void lv_runlog_break(lv_runlog *r) {
    if (r->bar_open) {
        fputc('\n', stderr);
        r->bar_open = 0;
    }
}

static void draw_bar(lv_runlog *r, const lv_step_record *s) {
    enum { W = 24 };
    char bar[W + 1];
    int filled = s->steps_per_epoch > 0 ? (int)(W * s->step_in_epoch / s->steps_per_epoch) : W;
    for (int i = 0; i < W; i++) bar[i] = i < filled ? '#' : '.';
    bar[W] = '\0';
    char l[32];
    fprintf(stderr, "\r\033[Kepoch %" PRId64 "/%" PRId64 " [%s] %" PRId64 "/%" PRId64 " loss %s lr %.2e %.1f img/s%s",
            s->epoch, s->epochs, bar, s->step_in_epoch, s->steps_per_epoch, txt(l, sizeof l, s->loss), s->lr,
            s->images_per_s, s->skipped ? " (skipped: non-finite)" : "");
    fflush(stderr);
    r->bar_open = 1;
}

lv_status lv_runlog_step(lv_runlog *r, const lv_step_record *s) {
    char line[512], a[32], b[32], c[32], d[32], e[32];
    snprintf(line, sizeof line,
             "{\"type\":\"step\",\"step\":%" PRId64 ",\"epoch\":%" PRId64 ",\"loss\":%s,\"lr\":%s,\"grad_norm\":%s,"
             "\"images_per_s\":%s,\"data_wait_s\":%s%s}",
             s->step, s->epoch, num(a, sizeof a, s->loss), num(b, sizeof b, s->lr), num(c, sizeof c, s->grad_norm),
             num(d, sizeof d, s->images_per_s), num(e, sizeof e, s->data_wait_s), s->skipped ? ",\"skipped\":true" : "");
    LV_TRY(put_line(r, line));
    if (r->bar) draw_bar(r, s);
    else if (r->plain && (s->step % r->log_every == 0 || s->skipped))
        LV_INFO("epoch %" PRId64 "/%" PRId64 " step %" PRId64 "/%" PRId64 " loss %s lr %.3e grad_norm %s %.1f img/s "
                "data wait %.3f s%s",
                s->epoch, s->epochs, s->step_in_epoch, s->steps_per_epoch, txt(a, sizeof a, s->loss), s->lr,
                txt(c, sizeof c, s->grad_norm), s->images_per_s, s->data_wait_s,
                s->skipped ? " (skipped: non-finite loss or gradient)" : "");
    return LV_OK;
}

lv_status lv_runlog_epoch(lv_runlog *r, const lv_epoch_record *e) {
    char line[512], a[32], b[32], c[32], d[32], t[32];
    snprintf(line, sizeof line,
             "{\"type\":\"epoch\",\"epoch\":%" PRId64 ",\"train_loss\":%s,\"val_loss\":%s,\"val_accuracy\":%s,"
             "\"val_macro_auc\":%s,\"best\":%s,\"seconds\":%s,\"skipped_steps\":%" PRId64 "}",
             e->epoch, num(a, sizeof a, e->train_loss), num(b, sizeof b, e->val_loss), num(c, sizeof c, e->val_accuracy),
             num(d, sizeof d, e->val_macro_auc), e->best ? "true" : "false", num(t, sizeof t, e->seconds), e->skipped);
    LV_TRY(put_line(r, line));
    if (r->bar || r->plain) {
        lv_runlog_break(r);
        LV_INFO("epoch %" PRId64 "/%" PRId64 ": train loss %s, val loss %s, accuracy %s, macro-AUC %s%s (%.1f s)",
                e->epoch, e->epochs, txt(a, sizeof a, e->train_loss), txt(b, sizeof b, e->val_loss),
                txt(c, sizeof c, e->val_accuracy), txt(d, sizeof d, e->val_macro_auc), e->best ? " (best)" : "",
                e->seconds);
    }
    return LV_OK;
}

lv_status lv_runlog_event(lv_runlog *r, const char *type, const char *fields, const char *text) {
    char line[2048];
    snprintf(line, sizeof line, "{\"type\":\"%s\"%s%s}", type, fields && fields[0] ? "," : "", fields ? fields : "");
    LV_TRY(put_line(r, line));
    if (text && (r->bar || r->plain)) {
        lv_runlog_break(r);
        LV_INFO("%s", text);
    }
    return LV_OK;
}

void lv_runlog_close(lv_runlog *r) {
    lv_runlog_break(r);
    if (r->f) fclose(r->f);
    r->f = NULL;
}
