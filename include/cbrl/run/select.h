/* Choosing what a table or a figure shows: runs grouped into settings, and the best setting
   of an algorithm column per (lambda, beta), as `cbrl table` and `cbrl plot` both report it
   (docs/CONFIG.md, Tables and figures). Part of libcbrl_run. */
#ifndef CBRL_RUN_SELECT_H
#define CBRL_RUN_SELECT_H

#include "cbrl/export.h"

#include <stddef.h>

/* A finished run as the selection sees it. */
typedef struct cbrl_run_summary {
  char column[48]; /* its algorithm, with " (paper-code sim)" for that simulator */
  double lambda, beta, learning_rate, zero_order_c; /* NAN where the store has none */
  double value[2]; /* the final-window means: [0] exact F, [1] the sampled context's value */
} cbrl_run_summary;

/* The best setting of one cell. */
typedef struct cbrl_best_setting {
  int n_runs;          /* its seeds */
  double mean, std_error; /* of the chosen value over its seeds */
  double learning_rate, zero_order_c;
} cbrl_best_setting;

/* Writes a run's column name: the algorithm, with " (paper-code sim)" for that simulator. */
CBRL_API void cbrl_run_column(const char *algorithm, const char *simulator, char *out, size_t size);

/* Among the runs of (column, lambda, beta) (NAN matches NAN), the setting (learning rate, c)
   with the best mean over its seeds of value[metric], considering settings of at least
   min_seeds runs; ties go to the first in the array. runs is an array of structs of `stride`
   bytes that begin with a cbrl_run_summary. Writes the indices of the setting's runs into ids
   (n entries at most; may be NULL) and returns their count, 0 if no setting qualifies. */
CBRL_API int cbrl_best_setting_find(const void *runs, int n, size_t stride, const char *column, double lambda,
                                    double beta, int metric, int min_seeds, int *ids, cbrl_best_setting *best);

#endif /* CBRL_RUN_SELECT_H */
