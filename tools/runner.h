/* Internal: executing one run of a sweep, and a whole sweep over threads. */
#ifndef CBRL_RUNNER_H
#define CBRL_RUNNER_H

#include "config.h"
#include "store.h"

/* Runs one grid point to completion (or failure) into res, which it allocates; stops early,
   marking res->interrupted, once *stop becomes nonzero (stop may be NULL). */
int cbrl_run_one(const cbrl_config *c, const cbrl_run_spec *r, cbrl_run_result *res, volatile int *stop);
void cbrl_run_result_free(cbrl_run_result *res);

typedef struct cbrl_sweep_opts {
  const char *out_dir;
  int threads;  /* 0: all cores */
  int resume;
  int quiet;
  int plot;                /* draw the figures when the sweep ends */
  const char *config_text; /* canonical config */
} cbrl_sweep_opts;

/* Runs every unfinished run of the grid, committing each as it ends. On SIGINT or SIGTERM it
   stops, stores the runs in flight as interrupted, and returns CBRL_EINTERRUPTED-style 1 with
   *signal_out set to the signal number. */
int cbrl_sweep_run(const cbrl_config *c, const cbrl_sweep_opts *o, int *signal_out, char *err, size_t err_size);

#endif /* CBRL_RUNNER_H */
