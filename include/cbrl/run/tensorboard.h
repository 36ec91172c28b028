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

/* Exports every run of the sweep in dir as its own TensorBoard run under logdir. */
CBRL_API int cbrl_tb_export(const char *dir, const char *logdir, char *err, size_t err_size);

#endif /* CBRL_RUN_TENSORBOARD_H */
