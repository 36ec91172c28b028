/* Internal to libcbrl_run: the drawing helpers the generic figures and the environments'
   figures share. */
#ifndef CBRL_RUN_PLOT_INTERNAL_H
#define CBRL_RUN_PLOT_INTERNAL_H

#include <stddef.h>

/* Starts a PLplot page: white background, black axes, the line palette in cmap0 2..9. */
void cbrl__plot_begin(const char *device, const char *path, int width, int height, int panels);

/* Ends the page begun by cbrl__plot_begin: 0, or CBRL_EIO with "path: PLplot: why" in err if
   PLplot reported trouble (kept, never printed). */
int cbrl__plot_end(const char *path, char *err, size_t err_size);

/* Checks that path can be written, with "path: cannot write the figure: why" in err. */
int cbrl__plot_writable(const char *path, char *err, size_t err_size);

/* The axes of a figure for its title, "#gl = L<sep>#gb = B", leaving out a NAN one ("" if
   both are). */
void cbrl__plot_axes_title(double lambda, double beta, const char *sep, char *out, size_t size);

#endif /* CBRL_RUN_PLOT_INTERNAL_H */
