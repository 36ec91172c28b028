/* libFuzzer target: the cbrl-tabular-1 problem-file loader must reject or accept any bytes
   without crashing, leaking or reading out of bounds; what it accepts must solve. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cbrl/cbrl.h"
#include "cbrl/run/problem_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/cbrl_fuzz_tabular_%d.yaml", (int)getpid());
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  fwrite(data, 1, size, f);
  fclose(f);
  char err[512];
  cbrl_problem *p = NULL;
  if (cbrl_tabular_load(&p, path, err, sizeof err) == 0) {
    /* Small accepted problems are solved too, so the loader's output is exercised. */
    if ((long)p->n_states * p->n_actions <= 4096 && p->dim <= 64) {
      cbrl_exact *e;
      if (cbrl_exact_create(&e, p) == 0) {
        double *x = calloc((size_t)p->dim, sizeof(double)), *g = calloc((size_t)p->dim, sizeof(double)), F;
        cbrl_exact_evaluate(e, x, &F, NULL, g);
        free(x);
        free(g);
        cbrl_exact_free(e);
      }
    }
    cbrl_problem_free(p);
  }
  return 0;
}
