#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/run/number.h"
#include "cbrl/run/outfile.h"
#include "cli.h"

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char msg[2048]; /* one line, whatever the arguments it quotes hold (issue 13, found by fuzz_argv) */
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (char *c = msg; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = ' ';
  fprintf(stderr, "cbrl%s%s: %s\n", cmd ? " " : "", cmd ? cmd : "", msg);
  return CLI_EXIT_USAGE;
}

int cli_check_path(const char *cmd, const char *what, const char *path) {
  char err[256];
  if (!cbrl_path_check(what, path, err, sizeof err)) return 0;
  return cli_usage_error(cmd, "%s", err);
}

static int parse_number(const char *text, double *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  while (*end == ' ') end++;
  if (end == text || *end || (errno == ERANGE && fabs(v) > 1.0) || !isfinite(v)) return -1; /* underflow is fine */
  *out = v;
  return 0;
}

int cli_parse_double(const char *cmd, const char *flag, const char *text, double *out) {
  if (parse_number(text, out)) {
    cli_usage_error(cmd, "%s: '%s' is not a finite number", flag, text);
    return -1;
  }
  return 0;
}

int cli_parse_int(const char *cmd, const char *flag, const char *text, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (end == text || *end || errno == ERANGE) {
    cli_usage_error(cmd, "%s: '%s' is not an integer", flag, text);
    return -1;
  }
  if (v < lo || v > hi) {
    cli_usage_error(cmd, "%s: %ld is out of range [%ld, %ld]", flag, v, lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

int cli_parse_list(const char *cmd, const char *flag, const char *text, double **out, int *n) {
  int count = 1;
  for (const char *c = text; *c; c++) count += *c == ',';
  double *v = malloc(sizeof(double) * (size_t)count);
  char *copy = strdup(text);
  if (!v || !copy) {
    free(v);
    free(copy);
    cli_usage_error(cmd, "out of memory");
    return -1;
  }
  int i = 0;
  char *tok = copy;
  for (;;) {
    char *comma = strchr(tok, ',');
    if (comma) *comma = 0;
    if (parse_number(tok, &v[i])) {
      cli_usage_error(cmd, "%s: entry %d ('%s') is not a finite number", flag, i + 1, tok);
      free(v);
      free(copy);
      return -1;
    }
    i++;
    if (!comma) break;
    tok = comma + 1;
  }
  free(copy);
  *out = v;
  *n = i;
  return 0;
}

void cli_json_number(FILE *f, double v) {
  char num[CBRL_NUMBER_MAX];
  if (!isfinite(v)) {
    fputs("null", f);
    return;
  }
  cbrl_format_double(num, sizeof num, v);
  fputs(num, f);
}

void cli_json_array(FILE *f, const double *v, int n) {
  fputc('[', f);
  for (int i = 0; i < n; i++) {
    if (i) fputs(", ", f);
    cli_json_number(f, v[i]);
  }
  fputc(']', f);
}
