/* TensorBoard scalar event files (TFRecord framing with masked CRC32C). Debian has no
   C library for CRC32C, and the Event protobuf subset needed is four fields, so both are
   written here rather than pulling in protobuf. Part of libcbrl_run; the writers write into the
   FILE or under the directory their caller gives. */
#ifndef CBRL_RUN_TENSORBOARD_H
#define CBRL_RUN_TENSORBOARD_H

#include "cbrl/export.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* CRC32C (Castagnoli) of n bytes. */
CBRL_API uint32_t cbrl_crc32c(const void *data, size_t n);

/* TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8. */
CBRL_API uint32_t cbrl_crc32c_masked(const void *data, size_t n);

/* Writes one TFRecord holding `data`. Returns 0 or -1 on a write error. */
CBRL_API int cbrl_tfrecord_write(FILE *f, const void *data, size_t n);

/* Appends an Event{wall_time, step, summary{value{tag, simple_value}}} to f. */
CBRL_API int cbrl_tb_scalar(FILE *f, double wall_time, int64_t step, const char *tag, float value);

/* Writes the file-version event that starts every event file. */
CBRL_API int cbrl_tb_header(FILE *f, double wall_time);

/* ---- hparams (TensorBoard's hparams plugin) -------------------------------------------- */

/* One hyperparameter of a run: a text value, or (text NULL) a number. */
typedef struct cbrl_tb_hparam {
  const char *name;
  const char *text;
  double number;
} cbrl_tb_hparam;

/* Appends the hparams plugin's session_start_info summary (the run's hyperparameters); with
   no experiment summary, TensorBoard infers the experiment from the runs' start infos. */
CBRL_API int cbrl_tb_hparams_start(FILE *f, double wall_time, const cbrl_tb_hparam *hparams, int n);

/* Appends the hparams plugin's session_end_info summary (status success or failure). */
CBRL_API int cbrl_tb_hparams_end(FILE *f, double wall_time, int success);

/* ---- a sweep run as a TensorBoard run ----------------------------------------------------- */

/* What names a sweep run and its hyperparameters. */
typedef struct cbrl_tb_run {
  int id;
  const char *env, *algorithm, *simulator;
  double lambda, beta, learning_rate, zero_order_c; /* zero_order_c NAN: not a zero-order run */
  long seed;
  int with_beta; /* the environment takes beta: name and hparams include it */
} cbrl_tb_run;

/* An open event file of one run. */
typedef struct cbrl_tb_writer {
  FILE *f;
  int failed;
  char path[1100];
} cbrl_tb_writer;

/* Creates logdir and its parents. */
CBRL_API int cbrl_tb_prepare(const char *logdir, char *err, size_t err_size);

/* Opens run r's one event file under logdir/runNNNN_..., creating the folders and replacing
   any event file cbrl wrote there before (so exporting twice gives the same files), and writes
   the file header and the run's hparams at wall_time. */
CBRL_API int cbrl_tb_run_open(cbrl_tb_writer *w, const char *logdir, const cbrl_tb_run *r, double wall_time,
                              char *err, size_t err_size);

/* Appends one stored iteration's scalars F, f_sampled_context and grad_norm (NAN: left out). */
CBRL_API int cbrl_tb_run_row(cbrl_tb_writer *w, double wall_time, int64_t step, double F, double f_context,
                             double grad_norm);

/* Writes the hparams end (success or not) and closes the file; errors name it. */
CBRL_API int cbrl_tb_run_close(cbrl_tb_writer *w, double wall_time, int success, char *err, size_t err_size);

/* Exports every finished run of the sweep in dir as its own TensorBoard run under logdir
   (created with its parents), each event at its row's wall time; returns the count. */
CBRL_API int cbrl_tb_export(const char *dir, const char *logdir, char *err, size_t err_size);

#endif /* CBRL_RUN_TENSORBOARD_H */
