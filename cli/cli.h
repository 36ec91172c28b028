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

/* Checks a path argument whole (empty, longer than CBRL_PATH_MAX, control characters): prints
   the located error and returns CLI_EXIT_USAGE, else 0. */
int cli_check_path(const char *cmd, const char *what, const char *path);

/* Parsers that print their own one-line error and return nonzero on bad input. */
int cli_parse_double(const char *cmd, const char *flag, const char *text, double *out);
int cli_parse_int(const char *cmd, const char *flag, const char *text, long lo, long hi, long *out);
/* Parses "v1,v2,..." into a newly allocated array; *n gets its length. */
int cli_parse_list(const char *cmd, const char *flag, const char *text, double **out, int *n);

/* ---- the argument parser every command uses (cli_args.c) ---- */

/* One long option: --name, with a value ("--name V" or "--name=V") when has_value; an
   optional one-letter short form without a value (-h). */
typedef struct cli_opt {
  const char *name;
  int has_value;
  int id; /* returned by cli_args_next; positive */
  char short_name;
} cli_opt;

#define CLI_ARGS_END 0
#define CLI_ARGS_POSITIONAL (-1)
#define CLI_ARGS_ERROR (-2)

typedef struct cli_args {
  const char *cmd;
  int argc, i, no_more;
  char **argv;
  const cli_opt *opts; /* ends with a zero entry */
  const char *value;   /* the option's value, or the positional argument */
  const char *flag;    /* the option's name, for messages */
} cli_args;

/* Starts parsing argv[1..argc-1] of command cmd against opts. */
void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv, const cli_opt *opts);
/* The next option's id (its value in a->value), CLI_ARGS_POSITIONAL (the argument in a->value),
   CLI_ARGS_END, or CLI_ARGS_ERROR after printing "cbrl CMD: what is wrong" (an unknown flag
   names the closest known one). */
int cli_args_next(cli_args *a);
/* Prints "cbrl CMD: --FLAG: unknown WHAT 'VALUE' (did you mean 'NAME'? LIST)"; returns
   CLI_EXIT_USAGE. */
int cli_unknown_value(const char *cmd, const char *flag, const char *what, const char *value,
                      const char *const *names, int n_names, const char *list);

/* Prints a JSON number: the shortest decimal that reads back exactly; null if not finite. */
void cli_json_number(FILE *f, double v);
/* Prints a JSON array of doubles, each the shortest decimal that reads back exactly. */
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
