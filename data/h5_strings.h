/* HDF5 strings <-> C strings for the reader and writer: fixed- and variable-length, ASCII or
 * UTF-8, as attributes or datasets; and readable names of HDF5 types for messages. Only
 * data/h5_*.c include this. */
#ifndef LV_H5_STRINGS_H
#define LV_H5_STRINGS_H

#include <stdint.h>

#include "data/h5_check.h"

/* "int16", "uint8", "float64", "variable-length string", "compound", ... */
void lv_h5_type_name(hid_t type, char *buf, size_t size);

/* Reads root (or `loc`) attribute `attr`, a string or 1-D list of strings, into a malloc'd
 * array of *n malloc'd strings (fixed-length padding stripped). When the attribute is absent:
 * LV_ERR_INPUT if required, else LV_OK with *out = NULL, *n = 0. Messages name path and attr. */
lv_status lv_h5_read_string_attr(const char *path, hid_t loc, const char *attr, int required,
                                 char ***out, int64_t *n);
/* The same for an open dataset `d` called `name`. */
lv_status lv_h5_read_string_dataset(const char *path, hid_t d, const char *name, char ***out,
                                    int64_t *n);
void lv_h5_free_strings(char **v, int64_t n);

/* Writes n strings as variable-length UTF-8 (what h5py writes for str): an attribute when
 * as_attr, else a dataset; scalar (n must be 1) or 1-D. NULL entries are written as "". */
lv_status lv_h5_write_strings(hid_t loc, const char *name, const char *const *v, int64_t n,
                              int as_attr, int scalar);

#endif
