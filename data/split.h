/* Patient-level data splits: train/val/test parts, k-fold assignment and few-shot subsets,
 * each stratified by class and a pure function of (dataset ids, labels, seed) drawn from
 * core/rng.h. Never puts one patient in two parts; touches no pixels and no files. */
#ifndef LV_SPLIT_H
#define LV_SPLIT_H

#include <stdint.h>

#include "data/dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LV_SPLIT_STREAM_TAG 0x4C565350u   /* "LVSP": train/val/test shuffle */
#define LV_KFOLD_STREAM_TAG 0x4C564B46u   /* "LVKF": k-fold shuffle */
#define LV_FEWSHOT_STREAM_TAG 0x4C564653u /* "LVFS": few-shot draw order */

enum { LV_PART_TRAIN = 0, LV_PART_VAL = 1, LV_PART_TEST = 2 };

/* part[i] in {0 train, 1 val, 2 test} for every sample i of ds.
 * When ds->split exists (the file's /split) it is copied and the fractions are ignored.
 * Otherwise whole groups are assigned: a group is a patient (ds->patients), else a lesion
 * (ds->lesions), else a single sample. Groups are stratified by class (a group's class is
 * the majority label of its samples, ties to the lower class index) so every class gets
 * about val_frac / test_frac of its groups; a part whose fraction is > 0 gets at least one
 * group when there are enough groups. Errors: LV_ERR_USAGE for fractions < 0 or
 * val_frac + test_frac >= 1; LV_ERR_INPUT for a /split value outside 0..2. */
lv_status lv_split_assign(const lv_dataset *ds, double val_frac, double test_frac, uint64_t seed,
                          int32_t *part);

/* fold[i] in [0,k): whole groups (as above) dealt to folds class by class in a seeded order,
 * so folds are patient-disjoint, about equal in size and in class mix. Errors: LV_ERR_USAGE
 * when k < 2 or k exceeds the number of groups. */
lv_status lv_kfold_assign(const lv_dataset *ds, int k, uint64_t seed, int32_t *fold);

/* k labelled units per class from the samples pool[0..n_pool) (NULL: every sample). A unit
 * is a lesion (ds->lesions, keyed by patient and lesion id), else a patient, else a sample;
 * all of a chosen unit's samples in the pool are returned (*out, malloc'd, ascending, count
 * *n_out). Units are taken in a seeded order per class that does not depend on k, so with
 * one seed the k=5 selection is a subset of the k=10 one. Errors: LV_ERR_USAGE for k < 1,
 * LV_ERR_INPUT naming the class when it has fewer than k units, or a pool index outside
 * [0,n). */
lv_status lv_fewshot_select(const lv_dataset *ds, const int64_t *pool, int64_t n_pool, int k, uint64_t seed,
                            int64_t **out, int64_t *n_out);

/* The sample indices i with part[i] == which (ascending), malloc'd into *idx (NULL when
 * *count is 0). Works for parts and folds alike. */
lv_status lv_split_indices(const int32_t *part, int64_t n, int32_t which, int64_t **idx, int64_t *count);

/* The complement: indices with part[i] != which (e.g. the training folds of fold `which`). */
lv_status lv_split_indices_except(const int32_t *part, int64_t n, int32_t which, int64_t **idx,
                                  int64_t *count);

#ifdef __cplusplus
}
#endif
#endif
