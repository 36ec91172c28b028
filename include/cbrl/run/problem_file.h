/* Tabular problem files, format cbrl-tabular-1 (docs/PROBLEM_FILES.md). Part of libcbrl_run (libyaml). */
#ifndef CBRL_RUN_PROBLEM_FILE_H
#define CBRL_RUN_PROBLEM_FILE_H

#include "cbrl/export.h"

#include <stddef.h>

#include "cbrl/model.h"

/* Loads a problem file. On failure returns CBRL_EPARSE (or CBRL_ENOMEM) and, when err is
   non-NULL, writes "file:line: field: what is wrong" into it. */
CBRL_API int cbrl_tabular_load(cbrl_problem **out, const char *path, char *err, size_t err_size);

#endif /* CBRL_RUN_PROBLEM_FILE_H */
