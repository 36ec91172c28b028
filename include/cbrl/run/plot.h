/* Figures of a stored sweep, drawn with PLplot's cairo drivers (PNG and SVG); which figures
   an environment adds comes from the environment registry. Part of libcbrl_run. */
#ifndef CBRL_RUN_PLOT_H
#define CBRL_RUN_PLOT_H

#include "cbrl/export.h"

#include <stddef.h>

#define CBRL_PLOT_PNG 0x1
#define CBRL_PLOT_SVG 0x2

typedef struct cbrl_plot_opts {
  const char *dir;     /* the sweep: DIR/results.sqlite; several DIRs separated by newlines are pooled */
  const char *out_dir; /* where figures go */
  int formats;         /* CBRL_PLOT_PNG | CBRL_PLOT_SVG */
  int smooth;          /* moving-average window in outer iterations (1: none) */
  const char *only;    /* comma-separated algorithms to draw; NULL: all */
} cbrl_plot_opts;

/* Writes learning curves per (lambda, beta) and the environment's own figures (tax design: its
   rates and economy; Four-Rooms: penalty maps with a text dump of every panel) into the
   existing directory o->out_dir; file names and titles carry only the axes the sweep has. Returns 0 with the number of figures in *n_figures (may be
   NULL), or a cbrl error with "what: why" in err (CBRL_EIO: a figure cannot be written). */
CBRL_API int cbrl_plot_sweep(const cbrl_plot_opts *o, int *n_figures, char *err, size_t err_size);

#endif /* CBRL_RUN_PLOT_H */
