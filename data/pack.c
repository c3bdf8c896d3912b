/* liver-vlm pack (data/pack.h): manifest rows -> NIfTI phase volumes -> ROI slices in an
 * lv_dataset -> HDF5 through lv_h5_write. Cuts exactly the voxels asked for: no
 * resampling, reorientation or registration (docs/pack.md says so). */
#include "data/pack.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/log.h"
#include "data/h5_dataset.h"
#include "data/manifest.h"
#include "data/nifti_volume.h"

#define PATH_CAP 4096

void lv_pack_opts_default(lv_pack_opts *o) {
    memset(o, 0, sizeof *o);
    o->roi_size = 64;
    o->slices = 3;
    o->gzip_level = 4;
}

int lv_pack_available(void) { return lv_h5_available(); }

/* One loaded volume per phase column: consecutive rows of one patient usually name the same
 * files, and a CT volume is hundreds of MB, so it is read once and kept while rows reuse it. */
typedef struct phase_cache {
    char path[PATH_CAP];
    lv_volume vol;
} phase_cache;

static lv_status load_phase(phase_cache *pc, const char *path, lv_pack_stats *st) {
    if (pc->vol.hu && strcmp(pc->path, path) == 0) return LV_OK;
    lv_volume_free(&pc->vol);
    pc->path[0] = '\0';
    LV_TRY(lv_volume_read(&pc->vol, path));
    snprintf(pc->path, sizeof pc->path, "%s", path);
    st->volumes_read++;
    st->clamped += pc->vol.clamped;
    if (pc->vol.clamped)
        LV_WARN("pack: %s: %" PRId64 " voxels outside the int16 range were clamped", path, pc->vol.clamped);
    if (pc->vol.nonfinite)
        LV_WARN("pack: %s: %" PRId64 " NaN/Inf voxels stored as %d HU", path, pc->vol.nonfinite, LV_PACK_PAD_HU);
    return LV_OK;
}

static lv_status check_opts(const lv_pack_opts *o) {
    LV_CHECK(o->roi_size >= 1 && o->roi_size <= 4096, LV_ERR_USAGE, "pack: ROI size %d: expected 1..4096", o->roi_size);
    LV_CHECK(o->slices >= 1 && o->slices <= 256, LV_ERR_USAGE, "pack: slices %d: expected 1..256", o->slices);
    LV_CHECK(o->gzip_level >= 0 && o->gzip_level <= 9, LV_ERR_USAGE, "pack: gzip level %d: expected 0..9",
             o->gzip_level);
    LV_TRY(lv_manifest_check_list(o->phases, "phases"));
    LV_TRY(lv_manifest_check_list(o->classes, "classes"));
    return LV_OK;
}

/* Fills the ids, labels and reports of ds from the manifest (pixels come later). */
static lv_status fill_ids(lv_dataset *ds, const lv_manifest *m, int k) {
    const char **pids = malloc((size_t)ds->n * sizeof *pids);
    ds->lesions = malloc((size_t)ds->n * sizeof *ds->lesions);
    int has_report = m->n_rows > 0 && m->rows[0].report != NULL;
    if (has_report) ds->reports = calloc((size_t)ds->n, sizeof *ds->reports);
    if (!pids || !ds->lesions || (has_report && !ds->reports)) {
        free(pids);
        return lv_errorf(LV_ERR_RUNTIME, "pack: out of memory for %" PRId64 " samples", ds->n);
    }
    for (int64_t r = 0; r < m->n_rows; r++)
        for (int s = 0; s < k; s++) {
            int64_t i = r * k + s;
            pids[i] = m->rows[r].patient;
            ds->labels[i] = m->rows[r].label;
            ds->lesions[i] = m->rows[r].lesion;
            if (has_report && !(ds->reports[i] = strdup(m->rows[r].report))) {
                free(pids);
                return lv_errorf(LV_ERR_RUNTIME, "pack: out of memory");
            }
        }
    lv_status st = lv_dataset_set_patients_str(ds, pids);
    free(pids);
    return st;
}

/* Reads row r's phases, checks them against each other and the centre, and cuts its k
 * slices into samples r*k .. r*k+k-1. */
static lv_status pack_row(lv_dataset *ds, const lv_manifest *m, int64_t r, const lv_pack_opts *o,
                          phase_cache *cache, lv_pack_stats *st) {
    const lv_manifest_row *row = &m->rows[r];
    char path[PATH_CAP];
    for (int p = 0; p < m->n_phases; p++) {
        LV_TRY(lv_manifest_path(m, r, p, path, sizeof path));
        lv_status s = load_phase(&cache[p], path, st);
        if (s != LV_OK) return lv_error_wrap(s, "%s row %" PRId64 ", column '%s'", m->csv.path, row->row, m->phases[p]);
        const lv_volume *a = &cache[0].vol, *b = &cache[p].vol;
        LV_CHECK(a->nx == b->nx && a->ny == b->ny && a->nz == b->nz, LV_ERR_INPUT,
                 "%s row %" PRId64 ", column '%s': %s is %" PRId64 "x%" PRId64 "x%" PRId64 " but column '%s' (%s) is %" PRId64
                 "x%" PRId64 "x%" PRId64 "; the phases must be co-registered onto one voxel grid",
                 m->csv.path, row->row, m->phases[p], cache[p].path, b->nx, b->ny, b->nz, m->phases[0], cache[0].path,
                 a->nx, a->ny, a->nz);
    }
    const lv_volume *v = &cache[0].vol;
    static const char *const axis[3] = {"x", "y", "z"};
    const int64_t c[3] = {row->x, row->y, row->z}, dims[3] = {v->nx, v->ny, v->nz};
    for (int d = 0; d < 3; d++)
        LV_CHECK(c[d] >= 0 && c[d] < dims[d], LV_ERR_INPUT,
                 "%s row %" PRId64 ", column '%s': centre (%" PRId64 ",%" PRId64 ",%" PRId64 ") is outside the volume %" PRId64
                 "x%" PRId64 "x%" PRId64 " (%s must be in 0..%" PRId64 "; voxel indices start at 0)",
                 m->csv.path, row->row, axis[d], c[0], c[1], c[2], dims[0], dims[1], dims[2], axis[d], dims[d] - 1);
    if (row->radius > 0.0 && 2.0 * row->radius > (double)o->roi_size)
        LV_WARN("pack: %s row %" PRId64 ": lesion diameter %.1f voxels exceeds the %d-voxel ROI (it is cut, not "
                "resampled)",
                m->csv.path, row->row, 2.0 * row->radius, o->roi_size);
    const int k = o->slices, S = o->roi_size;
    const size_t plane = (size_t)S * (size_t)S;
    int64_t padded_here = 0;
    for (int s = 0; s < k; s++) {
        int64_t z = row->z - (k - 1) / 2 + s, i = r * k + s, padded = 0;
        int16_t *dst = (int16_t *)ds->images + (size_t)i * (size_t)m->n_phases * plane;
        for (int p = 0; p < m->n_phases; p++)
            padded += lv_volume_cut(&cache[p].vol, row->x, row->y, z, S, LV_PACK_PAD_HU, dst + (size_t)p * plane);
        if (padded) st->padded_samples++, padded_here += padded;
    }
    if (padded_here)
        LV_WARN("pack: %s row %" PRId64 ": the ROI reaches outside the %" PRId64 "x%" PRId64 "x%" PRId64
                " volume; %" PRId64 " voxels padded with %d HU",
                m->csv.path, row->row, v->nx, v->ny, v->nz, padded_here / m->n_phases, LV_PACK_PAD_HU);
    return LV_OK;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

lv_status lv_pack_build(lv_dataset *ds, const char *manifest, const lv_pack_opts *o, lv_pack_stats *stats) {
    lv_pack_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    lv_dataset_init(ds);
    LV_TRY(check_opts(o));
    lv_manifest m;
    LV_TRY(lv_manifest_read(&m, manifest, o->phases, o->classes));
    const int k = o->slices;
    lv_status st = lv_dataset_alloc(ds, m.n_rows * k, m.n_phases, o->roi_size, o->roi_size, LV_PIX_I16);
    if (st == LV_OK)
        st = lv_dataset_set_names(ds, (const char *const *)m.classes, m.n_classes, (const char *const *)m.phases,
                                  m.n_phases);
    if (st == LV_OK && !(ds->path = strdup(manifest))) st = lv_errorf(LV_ERR_RUNTIME, "pack: out of memory");
    if (st == LV_OK) st = fill_ids(ds, &m, k);
    phase_cache *cache = st == LV_OK ? calloc((size_t)m.n_phases, sizeof *cache) : NULL;
    if (st == LV_OK && !cache) st = lv_errorf(LV_ERR_RUNTIME, "pack: out of memory");
    double t0 = now_s(), last = t0;
    for (int64_t r = 0; st == LV_OK && r < m.n_rows; r++) {
        st = pack_row(ds, &m, r, o, cache, stats);
        double t = now_s();
        if (st == LV_OK && (o->progress || t - last > 5.0)) {
            LV_INFO("pack: row %" PRId64 "/%" PRId64 " (manifest row %" PRId64 "): patient %s, lesion %d, %s, %d slices "
                    "(%.1f s)",
                    r + 1, m.n_rows, m.rows[r].row, m.rows[r].patient, m.rows[r].lesion, m.classes[m.rows[r].label], k,
                    t - t0);
            last = t;
        }
        stats->rows = r + 1;
    }
    for (int p = 0; cache && p < m.n_phases; p++) lv_volume_free(&cache[p].vol);
    free(cache);
    lv_manifest_free(&m);
    if (st != LV_OK) {
        lv_dataset_free(ds);
        stats->samples = 0;
        return st;
    }
    stats->samples = ds->n;
    return LV_OK;
}

lv_status lv_pack_manifest(const char *manifest, const char *out, const lv_pack_opts *o, lv_pack_stats *stats) {
    LV_TRY(check_opts(o));
    struct stat sb;
    LV_CHECK(o->force || stat(out, &sb) != 0, LV_ERR_INPUT, "%s exists; use --force to overwrite it", out);
    LV_CHECK(lv_h5_available(), LV_ERR_INPUT, "%s: this liver-vlm was built without HDF5 and cannot write data files",
             out);
    lv_dataset ds;
    LV_TRY(lv_pack_build(&ds, manifest, o, stats));
    lv_h5_write_opts wo = {.gzip_level = o->gzip_level};
    lv_status st = lv_h5_write(&ds, out, &wo);
    lv_dataset_free(&ds);
    return st;
}
