/* Internal to libcbrl_run: the loader of cbrl-preferences-1 files, preference pairs over token
   sequences for the RLHF environment (docs/ENVIRONMENTS.md 7). */
#ifndef CBRL_RUN_PREFERENCE_FILE_H
#define CBRL_RUN_PREFERENCE_FILE_H

#include <stddef.h>

#include "cbrl/env/rlhf.h"

/* A loaded file: the sequences' shape and the pairs, whose tokens point into `tokens`. */
typedef struct cbrl__preference_file {
  int vocab, length, prompts;
  int n_pairs;
  cbrl_rlhf_pair *pairs; /* n_pairs */
  int *tokens;           /* 2 n_pairs x length */
} cbrl__preference_file;

/* Loads path; every sequence is checked against the file's vocab, length and prompts, so a pair
   naming an impossible sequence is refused with "file:line: field: what is wrong" in err.
   Returns 0, CBRL_EPARSE or CBRL_ENOMEM; on failure nothing needs closing. */
int cbrl__preference_file_load(const char *path, cbrl__preference_file *out, char *err, size_t err_size);

/* Frees what a load made; a zeroed struct is allowed. */
void cbrl__preference_file_close(cbrl__preference_file *f);

#endif /* CBRL_RUN_PREFERENCE_FILE_H */
