/* libFuzzer target: sweep configs and --set overrides must be rejected or accepted without
   crashing; accepted ones must expand and print canonically. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cbrl/run/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64], err[1024];
  cbrl_config c;
  cbrl_config_default(&c);
  if (size > 0 && data[0] == '=') {
    /* "=key=value": one --set override. */
    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    cbrl_config_set(&c, s, err, sizeof err);
    free(s);
  } else {
    snprintf(path, sizeof path, "/tmp/cbrl_fuzz_config_%d.yaml", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    if (cbrl_config_load(&c, path, err, sizeof err)) return 0;
  }
  if (cbrl_config_validate(&c, err, sizeof err)) return 0;
  char canonical[16384];
  cbrl_config_canonical(&c, canonical, sizeof canonical);
  cbrl_run_spec *runs;
  int n;
  if (cbrl_config_runs(&c, &runs, &n) == 0) free(runs);
  return 0;
}
