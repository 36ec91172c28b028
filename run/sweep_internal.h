/* Internal to libcbrl_run: the bookkeeping a sweep shares between its threaded loop
   (run/sweep.c) and its MPI coordinator (run/mpi_sweep.c). */
#ifndef CBRL_RUN_SWEEP_INTERNAL_H
#define CBRL_RUN_SWEEP_INTERNAL_H

#include "cbrl/run/sweep.h"

/* The bookkeeping of a sweep: its store, what is left to run, progress. */
typedef struct cbrl__sweep {
  const cbrl_config *c;
  const cbrl_sweep_opts *o;
  cbrl_run_spec *runs;
  int n_runs;
  int *todo, n_todo;
  int write_error;
  volatile int halt; /* a write error: start nothing new, end runs in flight */
  double t0;
  cbrl_sweep_progress progress;
  cbrl_store store;
  char *err;
  size_t err_size;
} cbrl__sweep;

/* Prepares the output directory and store and finds the unfinished runs. */
int cbrl__sweep_open(cbrl__sweep *w, const cbrl_config *c, const cbrl_sweep_opts *o, char *err,
                     size_t err_size);

/* Whether the sweep should start no new run (the caller's stop flag or a write error). */
int cbrl__sweep_halted(const cbrl__sweep *w);

/* Runs grid point index as a sweep's worker does: stops on the caller's flag or a write error. */
int cbrl__sweep_run_one(const cbrl__sweep *w, int index, cbrl_run_result *res);

/* Stores one finished (or interrupted) run and reports progress; callers serialise calls. */
void cbrl__sweep_record(cbrl__sweep *w, int index, const cbrl_run_result *res);

/* Draws the plots if asked, closes the store, and copies the final progress into out (may be
   NULL). Returns 0 when every run it ran was stored (stopped or not), else a cbrl error. */
int cbrl__sweep_close(cbrl__sweep *w, cbrl_sweep_progress *out);

#endif /* CBRL_RUN_SWEEP_INTERNAL_H */
