/* Shortest round-trip decimals: %.17g always reads back exactly (IEEE 754 binary64 needs 17
   significant digits), but most doubles a user typed need fewer, and 0.003 printed with 17
   digits is 0.0030000000000000001. Of %.15g, %.16g and %.17g, the shortest text that reads
   back is what a reader expects to see. */
#include "cbrl/run/number.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cbrl_format_double(char *buf, size_t size, double v) {
  if (isnan(v)) return snprintf(buf, size, "nan");
  if (isinf(v)) return snprintf(buf, size, v > 0 ? "inf" : "-inf");
  /* The shortest text, not the fewest digits: 4108502414750200 (%.16g) is shorter than
     4.1085024147502e+15 (%.15g), and both read back. */
  char best[CBRL_NUMBER_MAX], tmp[CBRL_NUMBER_MAX];
  snprintf(best, sizeof best, "%.17g", v);
  for (int digits = 15; digits < 17; digits++) {
    snprintf(tmp, sizeof tmp, "%.*g", digits, v);
    if (strlen(tmp) < strlen(best) && strtod(tmp, NULL) == v) memcpy(best, tmp, sizeof tmp);
  }
  return snprintf(buf, size, "%s", best);
}
