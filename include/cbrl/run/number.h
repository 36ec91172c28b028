/* Numbers as text: the shortest decimal that reads back as the same double, for every file and
   stream the runner and the CLI write (canonical configs, CSV, JSON). Part of libcbrl_run. */
#ifndef CBRL_RUN_NUMBER_H
#define CBRL_RUN_NUMBER_H

#include "cbrl/export.h"

#include <stddef.h>

/* Room for any double cbrl_format_double writes, with its terminating zero. */
#define CBRL_NUMBER_MAX 32

/* Writes v into buf as the shortest text of %.15g, %.16g and %.17g that strtod reads back as v
   (0.003, not 0.0030000000000000001; "nan", "inf" and "-inf" for the non-finite); returns
   the length written, as snprintf does. */
CBRL_API int cbrl_format_double(char *buf, size_t size, double v);

#endif /* CBRL_RUN_NUMBER_H */
