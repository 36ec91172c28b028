/* Deprecated: moved to cbrl/run/problem_file.h (libcbrl_run); kept for one release. */
#include "cbrl/run/problem_file.h"
