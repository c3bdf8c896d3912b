/* Patient-level splits, k-fold and few-shot subsets (data/split.h). Groups are ordered per
 * class by a Philox key of their identity, so results depend only on ids, labels and seed;
 * nothing here reads pixels, files or the clock. */
#include "data/split.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

/* The grouping every function shares: sample -> dense group, and per group its class and a
 * stable identity (what the random order is keyed on). */
typedef struct groups {
    int64_t n;          /* groups */
    int32_t *of;        /* [ds->n] group of each sample */
    int32_t *cls;       /* [n] majority label */
    uint64_t *ident;    /* [n] identity for the random key */
} groups;

static void groups_free(groups *g) {
    free(g->of);
    free(g->cls);
    free(g->ident);
    memset(g, 0, sizeof *g);
}

typedef struct keyed {
    uint64_t key, ident;
    int64_t at;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    if (x->ident != y->ident) return x->ident < y->ident ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

static uint64_t rng_key(uint64_t seed, uint32_t tag, uint64_t ident) {
    uint32_t w[4];
    lv_rng_block(seed, (uint64_t)tag << 32, ident, w);
    return (uint64_t)w[0] << 32 | w[1];
}

static lv_status check_labels(const lv_dataset *ds, const int64_t *pool, int64_t n_pool) {
    const char *src = ds->path ? ds->path : "dataset";
    LV_CHECK(ds->n >= 1 && ds->labels, LV_ERR_INPUT, "%s: no samples to split", src);
    for (int64_t q = 0; q < n_pool; q++) {
        int64_t i = pool ? pool[q] : q;
        LV_CHECK(i >= 0 && i < ds->n, LV_ERR_INPUT, "%s: sample index %" PRId64 " outside [0,%" PRId64 ")", src, i,
                 ds->n);
        LV_CHECK(ds->labels[i] >= 0 && ds->labels[i] < ds->c, LV_ERR_INPUT,
                 "%s: labels[%" PRId64 "] = %d outside [0,%d)", src, i, ds->labels[i], ds->c);
        LV_CHECK(!ds->patients || (ds->patients[i] >= 0 && ds->patients[i] < ds->n_patients), LV_ERR_INPUT,
                 "%s: patients[%" PRId64 "] = %d outside [0,%d)", src, i, ds->patients[i], ds->n_patients);
    }
    return LV_OK;
}

/* Dense ids for the samples of pool by sorting their 64-bit identities (ascending), so the
 * numbering and identities are stable whatever order the pool lists the samples in. */
static lv_status dense_by_ident(const uint64_t *ident_of_sample, const int64_t *pool, int64_t n_pool,
                                int64_t n_total, groups *g) {
    keyed *k = malloc((size_t)n_pool * sizeof *k);
    g->of = malloc((size_t)n_total * sizeof *g->of);
    g->ident = malloc((size_t)n_pool * sizeof *g->ident);
    if (!k || !g->of || !g->ident) {
        free(k);
        return lv_errorf(LV_ERR_RUNTIME, "split: out of memory for %" PRId64 " samples", n_pool);
    }
    for (int64_t q = 0; q < n_pool; q++) {
        int64_t i = pool ? pool[q] : q;
        k[q] = (keyed){.key = ident_of_sample[i], .ident = 0, .at = i};
    }
    qsort(k, (size_t)n_pool, sizeof *k, cmp_keyed);
    g->n = 0;
    for (int64_t q = 0; q < n_pool; q++) {
        if (q == 0 || k[q].key != k[q - 1].key) g->ident[g->n++] = k[q].key;
        g->of[k[q].at] = (int32_t)(g->n - 1);
    }
    free(k);
    return LV_OK;
}

/* unit: 0 split grouping (patient, else lesion, else sample); 1 few-shot unit (lesion within
 * patient, else patient, else sample). */
static lv_status build_groups(const lv_dataset *ds, const int64_t *pool, int64_t n_pool, int unit, groups *g) {
    memset(g, 0, sizeof *g);
    LV_TRY(check_labels(ds, pool, n_pool));
    uint64_t *id = malloc((size_t)ds->n * sizeof *id);
    LV_CHECK_ALLOC(id);
    for (int64_t i = 0; i < ds->n; i++) {
        uint64_t pat = ds->patients ? (uint64_t)(uint32_t)ds->patients[i] : 0;
        uint64_t les = ds->lesions ? (uint64_t)(uint32_t)ds->lesions[i] : 0;
        if (unit == 1 && ds->lesions) id[i] = pat << 32 | les;
        else if (ds->patients) id[i] = pat;
        else if (ds->lesions) id[i] = les;
        else id[i] = (uint64_t)i;
    }
    lv_status st = dense_by_ident(id, pool, n_pool, ds->n, g);
    free(id);
    if (st != LV_OK) {
        groups_free(g);
        return st;
    }
    /* Majority label per group: tally per (group, class) would be n x C, so walk the samples
     * in group order instead. */
    int64_t *start = calloc((size_t)g->n + 1, sizeof *start), *order = malloc((size_t)n_pool * sizeof *order);
    int64_t *tally = calloc((size_t)ds->c, sizeof *tally);
    g->cls = malloc((size_t)g->n * sizeof *g->cls);
    if (!start || !order || !tally || !g->cls) {
        free(start);
        free(order);
        free(tally);
        groups_free(g);
        return lv_errorf(LV_ERR_RUNTIME, "split: out of memory");
    }
    for (int64_t q = 0; q < n_pool; q++) start[g->of[pool ? pool[q] : q] + 1]++;
    for (int64_t j = 0; j < g->n; j++) start[j + 1] += start[j];
    for (int64_t q = 0; q < n_pool; q++) {
        int64_t i = pool ? pool[q] : q;
        order[start[g->of[i]]++] = i;
    }
    for (int64_t j = g->n; j > 0; j--) start[j] = start[j - 1];
    start[0] = 0;
    for (int64_t j = 0; j < g->n; j++) {
        int best = 0;
        for (int64_t q = start[j]; q < start[j + 1]; q++) tally[ds->labels[order[q]]]++;
        for (int c = 1; c < ds->c; c++)
            if (tally[c] > tally[best]) best = c;
        g->cls[j] = best;
        for (int64_t q = start[j]; q < start[j + 1]; q++) tally[ds->labels[order[q]]] = 0;
    }
    free(start);
    free(order);
    free(tally);
    return LV_OK;
}

/* Groups sorted by (class, random key): *sorted[cstart[c]..cstart[c+1]) are class c's groups in
 * their seeded order. */
static lv_status order_by_class(const groups *g, int nc, uint64_t seed, uint32_t tag, int64_t **sorted,
                                int64_t **cstart) {
    keyed *k = malloc((size_t)g->n * sizeof *k);
    *sorted = malloc((size_t)g->n * sizeof **sorted);
    *cstart = calloc((size_t)nc + 1, sizeof **cstart);
    if (!k || !*sorted || !*cstart) {
        free(k);
        return lv_errorf(LV_ERR_RUNTIME, "split: out of memory for %" PRId64 " groups", g->n);
    }
    for (int64_t j = 0; j < g->n; j++) {
        k[j] = (keyed){.key = rng_key(seed, tag, g->ident[j]), .ident = g->ident[j], .at = j};
        (*cstart)[g->cls[j] + 1]++;
    }
    for (int c = 0; c < nc; c++) (*cstart)[c + 1] += (*cstart)[c];
    qsort(k, (size_t)g->n, sizeof *k, cmp_keyed);
    int64_t *fill = malloc((size_t)nc * sizeof *fill);
    if (!fill) {
        free(k);
        return lv_errorf(LV_ERR_RUNTIME, "split: out of memory");
    }
    memcpy(fill, *cstart, (size_t)nc * sizeof *fill);
    for (int64_t j = 0; j < g->n; j++) (*sorted)[fill[g->cls[k[j].at]]++] = k[j].at;
    free(fill);
    free(k);
    return LV_OK;
}

/* Moves one group of part `from` (taken from the class with the most such groups, last in
 * its seeded order) into part `to`. Returns 0 when `from` is empty. */
static int move_one(int32_t *gpart, const int64_t *sorted, const int64_t *cstart, int nc, int32_t from,
                    int32_t to) {
    int best = -1;
    int64_t best_count = 0;
    for (int c = 0; c < nc; c++) {
        int64_t cnt = 0;
        for (int64_t q = cstart[c]; q < cstart[c + 1]; q++) cnt += gpart[sorted[q]] == from;
        if (cnt > best_count) best = c, best_count = cnt;
    }
    if (best < 0) return 0;
    for (int64_t q = cstart[best + 1] - 1; q >= cstart[best]; q--)
        if (gpart[sorted[q]] == from) {
            gpart[sorted[q]] = to;
            return 1;
        }
    return 0;
}

static lv_status copy_file_split(const lv_dataset *ds, int32_t *part) {
    for (int64_t i = 0; i < ds->n; i++) {
        LV_CHECK(ds->split[i] >= 0 && ds->split[i] <= 2, LV_ERR_INPUT,
                 "%s: /split[%" PRId64 "] = %d (expected 0 train, 1 val or 2 test)", ds->path ? ds->path : "dataset",
                 i, ds->split[i]);
        part[i] = ds->split[i];
    }
    return LV_OK;
}

lv_status lv_split_assign(const lv_dataset *ds, double val_frac, double test_frac, uint64_t seed, int32_t *part) {
    LV_CHECK(val_frac >= 0.0 && test_frac >= 0.0 && val_frac + test_frac < 1.0, LV_ERR_USAGE,
             "split fractions: expected val >= 0, test >= 0 and val + test < 1, got val %g, test %g", val_frac,
             test_frac);
    if (ds->split) return copy_file_split(ds, part);
    groups g;
    LV_TRY(build_groups(ds, NULL, ds->n, 0, &g));
    int64_t *sorted = NULL, *cstart = NULL;
    int32_t *gpart = malloc((size_t)g.n * sizeof *gpart);
    lv_status st = gpart ? order_by_class(&g, ds->c, seed, LV_SPLIT_STREAM_TAG, &sorted, &cstart)
                         : lv_errorf(LV_ERR_RUNTIME, "split: out of memory");
    if (st == LV_OK) {
        /* Cumulative rounding over classes: each class gets round(frac * its groups) up to
         * the carry, so the totals also match round(frac * all groups) instead of drifting
         * up by half a group per small class. */
        int64_t cum = 0, done_v = 0, done_t = 0;
        for (int c = 0; c < ds->c; c++) {
            int64_t gc = cstart[c + 1] - cstart[c];
            cum += gc;
            int64_t nt = (int64_t)(test_frac * (double)cum + 0.5) - done_t;
            int64_t nv = (int64_t)(val_frac * (double)cum + 0.5) - done_v;
            if (nt < 0) nt = 0;
            if (nv < 0) nv = 0;
            if (nt > gc) nt = gc;
            if (nv > gc - nt) nv = gc - nt;
            for (int64_t q = 0; q < gc; q++)
                gpart[sorted[cstart[c] + q]] = q < nt ? LV_PART_TEST : q < nt + nv ? LV_PART_VAL : LV_PART_TRAIN;
            done_t += nt;
            done_v += nv;
        }
        /* Every part asked for gets a group, train first, as long as groups remain. */
        int64_t have[3] = {0, 0, 0};
        for (int64_t j = 0; j < g.n; j++) have[gpart[j]]++;
        if (have[LV_PART_TRAIN] == 0) {
            int32_t from = have[LV_PART_VAL] >= have[LV_PART_TEST] ? LV_PART_VAL : LV_PART_TEST;
            if (have[from] > 1 && move_one(gpart, sorted, cstart, ds->c, from, LV_PART_TRAIN))
                have[from]--, have[LV_PART_TRAIN]++;
        }
        const double want[3] = {1.0 - val_frac - test_frac, val_frac, test_frac};
        for (int32_t p = LV_PART_VAL; p <= LV_PART_TEST; p++) {
            if (want[p] <= 0.0 || have[p] > 0) continue;
            for (int32_t from = LV_PART_TRAIN; from <= LV_PART_TEST; from++) {
                if (from == p || have[from] < 2) continue;
                if (move_one(gpart, sorted, cstart, ds->c, from, p)) {
                    have[from]--, have[p]++;
                    break;
                }
            }
        }
        for (int64_t i = 0; i < ds->n; i++) part[i] = gpart[g.of[i]];
    }
    free(gpart);
    free(sorted);
    free(cstart);
    groups_free(&g);
    return st;
}

lv_status lv_kfold_assign(const lv_dataset *ds, int k, uint64_t seed, int32_t *fold) {
    LV_CHECK(k >= 2, LV_ERR_USAGE, "k-fold: expected k >= 2, got %d", k);
    groups g;
    LV_TRY(build_groups(ds, NULL, ds->n, 0, &g));
    if ((int64_t)k > g.n) {
        int64_t ng = g.n;
        groups_free(&g);
        return lv_errorf(LV_ERR_USAGE, "k-fold: k = %d exceeds the %" PRId64 " %s of %s", k, ng,
                         ds->patients ? "patients" : ds->lesions ? "lesions" : "samples",
                         ds->path ? ds->path : "the dataset");
    }
    int64_t *sorted = NULL, *cstart = NULL;
    int32_t *gfold = malloc((size_t)g.n * sizeof *gfold);
    lv_status st = gfold ? order_by_class(&g, ds->c, seed, LV_KFOLD_STREAM_TAG, &sorted, &cstart)
                         : lv_errorf(LV_ERR_RUNTIME, "k-fold: out of memory");
    if (st == LV_OK) {
        /* Dealing continues across classes so the folds' totals differ by at most one group. */
        for (int64_t q = 0; q < g.n; q++) gfold[sorted[q]] = (int32_t)(q % k);
        for (int64_t i = 0; i < ds->n; i++) fold[i] = gfold[g.of[i]];
    }
    free(gfold);
    free(sorted);
    free(cstart);
    groups_free(&g);
    return st;
}

lv_status lv_fewshot_select(const lv_dataset *ds, const int64_t *pool, int64_t n_pool, int k, uint64_t seed,
                            int64_t **out, int64_t *n_out) {
    *out = NULL;
    *n_out = 0;
    LV_CHECK(k >= 1, LV_ERR_USAGE, "few-shot: expected k >= 1 per class, got %d", k);
    if (!pool) n_pool = ds->n;
    LV_CHECK(n_pool >= 1, LV_ERR_INPUT, "few-shot: the pool of samples is empty");
    groups g;
    LV_TRY(build_groups(ds, pool, n_pool, 1, &g));
    const char *unit = ds->lesions ? "lesions" : ds->patients ? "patients" : "samples";
    int64_t *sorted = NULL, *cstart = NULL;
    lv_status st = order_by_class(&g, ds->c, seed, LV_FEWSHOT_STREAM_TAG, &sorted, &cstart);
    for (int c = 0; st == LV_OK && c < ds->c; c++)
        if (cstart[c + 1] - cstart[c] < k)
            st = lv_errorf(LV_ERR_INPUT, "few-shot: class '%s' has %" PRId64 " %s in the pool, fewer than k = %d",
                           ds->classes[c] ? ds->classes[c] : "?", cstart[c + 1] - cstart[c], unit, k);
    uint8_t *take = st == LV_OK ? calloc((size_t)g.n, 1) : NULL;
    if (st == LV_OK && !take) st = lv_errorf(LV_ERR_RUNTIME, "few-shot: out of memory");
    if (st == LV_OK) {
        for (int c = 0; c < ds->c; c++)
            for (int64_t q = cstart[c]; q < cstart[c] + k; q++) take[sorted[q]] = 1;
        /* Ascending and free of duplicates even when the pool repeats an index. */
        uint8_t *seen = calloc((size_t)ds->n, 1);
        int64_t *idx = malloc((size_t)n_pool * sizeof *idx);
        if (!seen || !idx) {
            free(seen);
            free(idx);
            st = lv_errorf(LV_ERR_RUNTIME, "few-shot: out of memory");
        } else {
            for (int64_t q = 0; q < n_pool; q++) {
                int64_t i = pool ? pool[q] : q;
                if (take[g.of[i]]) seen[i] = 1;
            }
            int64_t m = 0;
            for (int64_t i = 0; i < ds->n; i++)
                if (seen[i]) idx[m++] = i;
            free(seen);
            *out = idx;
            *n_out = m;
        }
    }
    free(take);
    free(sorted);
    free(cstart);
    groups_free(&g);
    return st;
}

static lv_status indices_where(const int32_t *part, int64_t n, int32_t which, int want_equal, int64_t **idx,
                               int64_t *count) {
    *idx = NULL;
    *count = 0;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) m += (part[i] == which) == want_equal;
    if (m == 0) return LV_OK;
    int64_t *v = malloc((size_t)m * sizeof *v);
    LV_CHECK_ALLOC(v);
    m = 0;
    for (int64_t i = 0; i < n; i++)
        if ((part[i] == which) == want_equal) v[m++] = i;
    *idx = v;
    *count = m;
    return LV_OK;
}

lv_status lv_split_indices(const int32_t *part, int64_t n, int32_t which, int64_t **idx, int64_t *count) {
    return indices_where(part, n, which, 1, idx, count);
}

lv_status lv_split_indices_except(const int32_t *part, int64_t n, int32_t which, int64_t **idx, int64_t *count) {
    return indices_where(part, n, which, 0, idx, count);
}
