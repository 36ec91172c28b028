/* Internal: shared pieces of the cbrl command-line tool. */
#ifndef CBRL_CLI_H
#define CBRL_CLI_H

#include <stdio.h>

#include "cbrl/model.h"
#include "cbrl/run/sweep.h"

#define CLI_EXIT_USAGE 2
#define CLI_EXIT_FAILURE 1

/* Prints "cbrl CMD: message" on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parsers that print their own one-line error and return nonzero on bad input. */
int cli_parse_double(const char *cmd, const char *flag, const char *text, double *out);
int cli_parse_int(const char *cmd, const char *flag, const char *text, long lo, long hi, long *out);
/* Parses "v1,v2,..." into a newly allocated array; *n gets its length. */
int cli_parse_list(const char *cmd, const char *flag, const char *text, double **out, int *n);

/* Prints a JSON array of doubles with %.17g. */
void cli_json_array(FILE *f, const double *v, int n);

/* ---- cbrl run's progress and signals (cli_progress.c) ---- */

/* Installs SIGINT and SIGTERM handlers that set, and returns, the sweep's stop flag. */
const volatile int *cli_catch_signals(void);
/* The signal the handlers caught (0: none). */
int cli_caught_signal(void);

typedef struct cli_progress {
  long iterations_per_run;
  int tty;
  double interval; /* seconds between two drawings: 0.2 on a terminal, else 5 (CBRL_PROGRESS_SECONDS) */
  double last;     /* when the progress was last drawn */
  int drawn;       /* a bar is on the terminal's last line */
} cli_progress;

/* Starts drawing progress on stderr: a bar on a terminal, else a line every 5 seconds (the
   environment variable CBRL_PROGRESS_SECONDS sets another interval, for tests). */
void cli_progress_init(cli_progress *p, long iterations_per_run);
/* cbrl_sweep_opts.on_progress: draws p (a cli_progress) when it is due. */
void cli_progress_draw(void *p, const cbrl_sweep_progress *s);
/* cbrl_sweep_opts.on_log: prints "cbrl run: LINE" on stderr. */
void cli_progress_log(void *p, const char *line);

/* Subcommands. */
int cli_hypergrad(int argc, char **argv);
int cli_demo(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_export(int argc, char **argv);
int cli_table(int argc, char **argv);
int cli_plot(int argc, char **argv);

#endif /* CBRL_CLI_H */
