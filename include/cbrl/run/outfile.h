/* Paths and output files of libcbrl_run (issue 13 classes 6 and 10): every path a user gives is
   checked whole against one stated limit, and every output file is written to a temporary file
   beside it, flushed to the disk and renamed into place only when complete, so a full disk or
   a failed write leaves the old file (or none), never an empty or partial one. */
#ifndef CBRL_RUN_OUTFILE_H
#define CBRL_RUN_OUTFILE_H

#include "cbrl/export.h"

#include <stddef.h>
#include <stdio.h>

/* The longest path, in bytes, that cbrl reads or writes: room is left below PATH_MAX for the
   names it appends (DIR/results.sqlite-wal, DIR/plots/curves_lambda..._beta....svg). */
#define CBRL_PATH_MAX 900

/* ---- paths ---------------------------------------------------------------------------- */

/* Checks a path the user gave for what (a flag or field name): not empty, at most CBRL_PATH_MAX
   bytes, no control characters; the error says which and states the limit. */
CBRL_API int cbrl_path_check(const char *what, const char *path, char *err, size_t err_size);

/* ---- output files --------------------------------------------------------------------- */

typedef struct cbrl_outfile {
  FILE *f;              /* write here */
  char path[1024];      /* the file it becomes */
  char tmp[1100];       /* PATH.tmp-XXXXXX beside it, until the commit */
} cbrl_outfile;

/* Opens a temporary file beside path for writing (mode "w" or "wb"); errors name path. */
CBRL_API int cbrl_outfile_open(cbrl_outfile *o, const char *path, const char *mode, char *err, size_t err_size);

/* Flushes, fsyncs and closes the temporary file and renames it to its path; on any failure
   removes it, leaves the path as it was, and says why (CBRL_EIO). */
CBRL_API int cbrl_outfile_commit(cbrl_outfile *o, char *err, size_t err_size);

/* Drops the temporary file (an unopened or committed one is allowed). */
CBRL_API void cbrl_outfile_abort(cbrl_outfile *o);

/* Writes len bytes to path through a temporary file and a rename (cbrl_outfile_open and
   _commit in one call). */
CBRL_API int cbrl_outfile_write(const char *path, const void *data, size_t len, char *err, size_t err_size);

/* Makes a temporary name beside path (PATH.tmp-XXXXXX, created empty with mode 0600 then
   0644) for a writer that opens files by name, such as PLplot; cbrl_file_commit renames it. */
CBRL_API int cbrl_file_temp(const char *path, char *tmp, size_t tmp_size, char *err, size_t err_size);

/* fsyncs tmp and renames it to path; removes tmp and says why on failure. */
CBRL_API int cbrl_file_commit(const char *tmp, const char *path, char *err, size_t err_size);

#endif /* CBRL_RUN_OUTFILE_H */
