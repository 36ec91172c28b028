/* Internal to libcbrl_run: the bookkeeping a sweep shares between its threaded loop
   (run/sweep.c) and its MPI coordinator (run/mpi_sweep.c). */
#ifndef CBRL_RUN_SWEEP_INTERNAL_H
#define CBRL_RUN_SWEEP_INTERNAL_H

#include <omp.h>

#include "cbrl/run/sweep.h"

/* The bookkeeping of a sweep: its store, what is left to run, progress. */
typedef struct cbrl__sweep {
  const cbrl_config *c;
  const cbrl_sweep_opts *o;
  cbrl_run_spec *runs;
  int n_runs;
  int *todo, n_todo;
  int write_error; /* 0, or the code of the first failed store write */
  volatile int halt; /* a write error: start nothing new, end runs in flight */
  double t0;
  cbrl_sweep_progress progress;
  /* Live progress: per run of the grid, iterations done and wall seconds so far in this
     attempt, and its state (0 waiting, 1 in flight, 2 finished now, 3 finished before);
     per (algorithm, simulator) class, the measured seconds and iterations of finished runs. */
  int64_t *run_iterations;
  double *run_seconds;
  unsigned char *run_state;
  double class_seconds[CBRL_ALG_COUNT_ * CBRL_SIMULATORS_MAX];
  double class_iterations[CBRL_ALG_COUNT_ * CBRL_SIMULATORS_MAX];
  int64_t live_iterations; /* added to atomically by the workers */
  double last_report;      /* when on_progress was last called */
  int workers;
  omp_lock_t report_lock; /* serialises the callbacks between record and the workers' ticks */
  int lock_ready;
  int tb_errors; /* runs whose TensorBoard events could not be written */
  char tb_error[1200];
  cbrl_store store;
  int lock_fd; /* DIR/.cbrl.lock, flock'ed for the sweep: one writer per store; -1: none */
  char *err;
  size_t err_size;
} cbrl__sweep;

/* Prepares the output directory and store and finds the unfinished runs. */
int cbrl__sweep_open(cbrl__sweep *w, const cbrl_config *c, const cbrl_sweep_opts *o, char *err,
                     size_t err_size);

/* Whether the sweep should start no new run (the caller's stop flag or a write error). */
int cbrl__sweep_halted(const cbrl__sweep *w);

/* Runs grid point index as a sweep's worker does: stops on the caller's flag or a write error. */
int cbrl__sweep_run_one(cbrl__sweep *w, int index, cbrl_run_result *res);

/* Stores one finished (or interrupted) run and reports progress; callers serialise calls. */
void cbrl__sweep_record(cbrl__sweep *w, int index, const cbrl_run_result *res);

/* Draws the plots if asked, closes the store, and copies the final progress into out (may be
   NULL). Returns 0 when every run it ran was stored (stopped or not), else a cbrl error. */
int cbrl__sweep_close(cbrl__sweep *w, cbrl_sweep_progress *out);

#endif /* CBRL_RUN_SWEEP_INTERNAL_H */
