/* Tabular problem files, format cbrl-tabular-1 (docs/PROBLEM_FILES.md). Part of libcbrl_run (libyaml). */
#ifndef CBRL_RUN_PROBLEM_FILE_H
#define CBRL_RUN_PROBLEM_FILE_H

#include "cbrl/export.h"

#include <stddef.h>

#include "cbrl/contexts.h"
#include "cbrl/model.h"

/* Loads a problem file. On failure returns CBRL_EPARSE (or CBRL_ENOMEM) and, when err is
   non-NULL, writes "file:line: field: what is wrong" into it. */
CBRL_API int cbrl_tabular_load(cbrl_problem **out, const char *path, char *err, size_t err_size);

/* How a problem file's contexts were made (docs/PROBLEM_FILES.md, Contexts from a distribution):
   listed, or n_templates listed templates each expanded over n_nodes values of theta, context
   k n_nodes + i being template k at theta[i]. */
typedef struct cbrl_tabular_info {
  int sampled;           /* 0: listed contexts (n_nodes 1); 1: a theta section */
  cbrl_context_rule rule;/* quadrature (exact F is the quadrature) or sample (a sample average) */
  int n_templates, n_nodes;
  double *theta;         /* n_nodes values of theta (NULL when not sampled) */
  double *node_weight;   /* n_nodes weights, summing to 1 */
} cbrl_tabular_info;

/* cbrl_tabular_load, also describing the contexts in *info (may be NULL); free its arrays with
   cbrl_tabular_info_free. */
CBRL_API int cbrl_tabular_load_info(cbrl_problem **out, cbrl_tabular_info *info, const char *path, char *err,
                                    size_t err_size);

/* Frees the arrays of an info from cbrl_tabular_load_info (and zeroes it); NULL is allowed. */
CBRL_API void cbrl_tabular_info_free(cbrl_tabular_info *info);

/* The standard error of F = sum_c q_c f_c (f per context, as cbrl_exact_evaluate writes it) as an
   estimate of the population value when the contexts are a fixed sample (docs/MODEL.md 1.2); 0
   for quadrature or listed contexts, whose F is exact. */
CBRL_API double cbrl_tabular_standard_error(const cbrl_problem *p, const cbrl_tabular_info *info, const double *f);

#endif /* CBRL_RUN_PROBLEM_FILE_H */
