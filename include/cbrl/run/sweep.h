/* Internal: executing one run of a sweep, and a whole sweep over threads. */
#ifndef CBRL_RUN_SWEEP_H
#define CBRL_RUN_SWEEP_H

#include "cbrl/export.h"

#include <signal.h>

#include "cbrl/run/config.h"
#include "cbrl/run/store.h"

/* Runs one grid point to completion (or failure) into res, which it allocates; stops early,
   marking res->interrupted, once *stop becomes nonzero (stop may be NULL). */
CBRL_API int cbrl_run_one(const cbrl_config *c, const cbrl_run_spec *r, cbrl_run_result *res, volatile int *stop);
CBRL_API void cbrl_run_result_free(cbrl_run_result *res);

typedef struct cbrl_sweep_opts {
  const char *out_dir;
  int threads;  /* 0: all cores */
  int resume;
  int quiet;
  int plot;                /* draw the figures when the sweep ends */
  const char *config_text; /* canonical config */
} cbrl_sweep_opts;

/* The bookkeeping of a sweep: its store, what is left to run, progress. */
typedef struct cbrl_sweep {
  const cbrl_config *c;
  const cbrl_sweep_opts *o;
  cbrl_run_spec *runs;
  int n_runs;
  int *todo, n_todo;
  int n_done, n_failed, write_error, tty;
  int64_t iterations_done;
  double t0, last_print, best_F;
  cbrl_store store;
  struct sigaction old_int, old_term;
  volatile int *stop; /* set by SIGINT/SIGTERM or a write error */
  char *err;
  size_t err_size;
} cbrl_sweep;

/* Prepares the output directory and store, finds the unfinished runs, installs the signal
   handlers. */
CBRL_API int cbrl_sweep_open(cbrl_sweep *w, const cbrl_config *c, const cbrl_sweep_opts *o, char *err, size_t err_size);
/* Stores one finished (or interrupted) run and reports progress; callers serialise calls. */
CBRL_API void cbrl_sweep_record(cbrl_sweep *w, int index, const cbrl_run_result *res);
/* Restores the handlers, draws the plots if asked, closes the store; returns the outcome. */
CBRL_API int cbrl_sweep_close(cbrl_sweep *w, int *signal_out);
/* The flag SIGINT and SIGTERM set in this process. */
CBRL_API volatile int *cbrl_sweep_stop_flag(void);
/* Installs the handlers that set it (for processes that do not open the sweep). */
CBRL_API void cbrl_sweep_catch_signals(void);

/* MPI (builds with CBRL_MPI): rank 0 owns the store and hands runs out on request; the other
   ranks run them, with --threads threads each, and send every result back to rank 0. */
CBRL_API int cbrl_mpi_init(int *argc, char ***argv, int *rank, int *size);
CBRL_API void cbrl_mpi_finalize(void);
CBRL_API int cbrl_sweep_run_mpi(const cbrl_config *c, const cbrl_sweep_opts *o, int rank, int size, int *signal_out,
                       char *err, size_t err_size);

/* Runs every unfinished run of the grid, committing each as it ends. On SIGINT or SIGTERM it
   stops, stores the runs in flight as interrupted, and returns CBRL_EINTERRUPTED-style 1 with
   *signal_out set to the signal number. */
CBRL_API int cbrl_sweep_run(const cbrl_config *c, const cbrl_sweep_opts *o, int *signal_out, char *err, size_t err_size);

#endif /* CBRL_RUN_SWEEP_H */
