/* Executing one run of a sweep, and a whole sweep over threads or MPI ranks (docs/CONFIG.md).
   The library prints nothing and installs no signal handler: progress and log lines reach the
   caller through the callbacks of cbrl_sweep_opts, and a sweep stops when the caller's stop
   flag becomes nonzero (the CLI sets it from SIGINT and SIGTERM). Part of libcbrl_run. */
#ifndef CBRL_RUN_SWEEP_H
#define CBRL_RUN_SWEEP_H

#include "cbrl/export.h"

#include "cbrl/run/config.h"
#include "cbrl/run/store.h"

/* Runs one grid point to completion (or failure) into res, which it allocates; stops early,
   marking res->interrupted, once *stop becomes nonzero (stop may be NULL). Returns 0: the
   run's own failures are recorded in res. */
CBRL_API int cbrl_run_one(const cbrl_config *c, const cbrl_run_spec *r, cbrl_run_result *res,
                          const volatile int *stop);

/* Frees what cbrl_run_one allocated in res. */
CBRL_API void cbrl_run_result_free(cbrl_run_result *res);

/* Where a sweep stands: passed to on_progress after every stored run and, while runs are in
   flight, at most every progress_ms from a worker between two iterations (threaded sweeps; an
   MPI sweep reports at each stored run); returned at the end. */
typedef struct cbrl_sweep_progress {
  int n_runs;           /* in the grid */
  int n_done;           /* finished (done or failed), including those of earlier attempts */
  int n_failed;         /* failed in this attempt */
  int n_interrupted;    /* stopped by the stop flag and stored as interrupted */
  int stopped;          /* the stop flag ended the sweep: the rest resume with --resume */
  int64_t iterations;   /* run in this attempt, counted as they happen (runs in flight too) */
  double elapsed;       /* seconds since the sweep opened */
  double best_F;        /* best final-window F so far (-inf: none) */
  double rate;          /* iterations per second over this attempt */
  /* Seconds left: each unfinished run's remaining iterations at the wall seconds per iteration
     measured so far for its algorithm and simulator (the mean over measured classes for one not
     yet seen), over the workers; -1 until something is measured. */
  double eta;
  double fraction;      /* of the sweep's work done, by the same costs (runs done / runs before) */
  int n_running;        /* runs in flight */
} cbrl_sweep_progress;

typedef struct cbrl_sweep_opts {
  const char *out_dir;
  int threads;  /* 0: all cores */
  int resume;
  int plot;                /* draw the figures when the sweep ends */
  const char *config_text; /* canonical config */
  const volatile int *stop; /* the caller's stop flag, read between iterations and inside one
                               (cbrl_leader_opts.cancel); NULL: none */
  /* Callbacks, each may be NULL; calls are serialised. */
  void (*on_progress)(void *user, const cbrl_sweep_progress *p);
  void (*on_log)(void *user, const char *line); /* one line, no newline */
  void *user;
  int progress_ms; /* on_progress during runs at most this often; 0: every 200 ms, < 0: only per run */
  /* Threaded sweeps: a TensorBoard log directory each run writes its events to as it goes
     (the files `cbrl export --tensorboard` writes; a rerun replaces its run's); NULL: none. */
  const char *tensorboard;
} cbrl_sweep_opts;

/* Runs every unfinished run of the grid, committing each as it ends. Once *o->stop becomes
   nonzero it starts nothing new, stores the runs in flight as interrupted, and returns 0 with
   out->stopped set: an interrupted sweep is an outcome, not an error, so it needs no error
   code (the core's table has none, and this library adds none). */
CBRL_API int cbrl_sweep_run(const cbrl_config *c, const cbrl_sweep_opts *o, cbrl_sweep_progress *out, char *err,
                            size_t err_size);

/* ---- MPI (builds with CBRL_MPI) ------------------------------------------------------------ */

/* Starts MPI with the thread level the workers need; gives this process's rank and the size. */
CBRL_API int cbrl_mpi_init(int *argc, char ***argv, int *rank, int *size);

/* Ends MPI. */
CBRL_API void cbrl_mpi_finalize(void);

/* A sweep over MPI ranks: rank 0 owns the store and hands runs out on request; the other ranks
   run them, with o->threads threads each, and send every result back to rank 0. Every rank
   passes the same options; each reads its own stop flag. Outcome as cbrl_sweep_run. */
CBRL_API int cbrl_sweep_run_mpi(const cbrl_config *c, const cbrl_sweep_opts *o, int rank, int size,
                                cbrl_sweep_progress *out, char *err, size_t err_size);

#endif /* CBRL_RUN_SWEEP_H */
