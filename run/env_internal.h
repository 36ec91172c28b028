/* Internal to libcbrl_run: the entries of the environment registry, and the hooks its plots
   call. Only run/env_registry.c fills a cbrl_env; the generic layers read these fields. */
#ifndef CBRL_RUN_ENV_INTERNAL_H
#define CBRL_RUN_ENV_INTERNAL_H

#include <stdio.h>

#include "cbrl/run/env_registry.h"

/* An extra figure of curves, one per report value named in y (docs/CONFIG.md, Figures). */
typedef struct cbrl__env_curves {
  const char *prefix; /* file name: PREFIX_lambdaL_betaB.EXT */
  const char *axis;   /* y-axis label */
  const char *what;   /* title */
  int n_y;
  const char *y[CBRL_ENV_REPORT_MAX];      /* report names */
  const char *ylabel[CBRL_ENV_REPORT_MAX]; /* legend labels */
  unsigned lower;     /* bit i: y[i] goes on a second axis below (its scale differs) */
  const char *axis2;  /* that axis' label */
  double flag_above;  /* a dashed line there, legend entries ending above it marked (0: none) */
} cbrl__env_curves;

/* One panel of a policy map: a chosen run's final x. */
typedef struct cbrl__map_panel {
  const double *x; /* dim */
  int dim;
  const char *column; /* the algorithm column it stands for */
  int run_id;
  long seed;
  double window_F;
} cbrl__map_panel;

/* One policy-map figure of (lambda, beta): the panels, where to draw, the text dump. */
typedef struct cbrl__map_figure {
  const cbrl_env *env;
  double lambda, beta; /* NAN: not an axis of the sweep (left out of titles) */
  int n_panels;
  const cbrl__map_panel *panels;
  const char *device, *path; /* PLplot device and output file */
  FILE *dump;                /* the panels as text, or NULL */
  char *err;
  size_t err_size;
} cbrl__map_figure;

struct cbrl_env {
  const char *name;
  const char *title;         /* in figure titles */
  const char *const *fields; /* the cbrl_env_params fields it reads, NULL-terminated */
  int n_simulators;
  int simulators[CBRL_SIMULATORS_MAX];
  int (*create)(const cbrl_env_params *p, cbrl_problem **out, char *err, size_t err_size);
  void (*default_x)(const cbrl_problem *p, double *x); /* NULL: none of its own */
  int n_report;
  const char *const *report_names;
  /* The report: a workspace of its own per run. */
  int (*report_open)(const cbrl_problem *p, void **state);
  int (*report_compute)(const cbrl_problem *p, void *state, const double *x, double *values);
  void (*report_close)(void *state);
  /* Figures beside the generic curves. */
  int n_curves;
  const cbrl__env_curves *curves;
  const char *map_prefix; /* file name of the policy map, or NULL for none */
  const char *map_dump;   /* its text dump beside the figures */
  int (*map)(const cbrl__map_figure *f); /* 1: written, 0: nothing to draw, < 0: cbrl error */
};

/* The Four-Rooms penalty map (run/plot_four_rooms.c). */
int cbrl__four_rooms_map(const cbrl__map_figure *f);

#endif /* CBRL_RUN_ENV_INTERNAL_H */
