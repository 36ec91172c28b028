/* Tax design: how the exact F and its gradient move with the asset grid (issue 4's resolution
   study). Prints Markdown. Usage: tax_resolution */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "cbrl/cbrl.h"

int main(void) {
  const double lambdas[3] = {0.1, 0.2, 0.3};
  printf("| lambda | bins | F at rates 0.3 | relative change from half the bins | |grad F| | time (s) |\n|---|---|---|---|---|---|\n");
  for (int l = 0; l < 3; l++) {
    double prev = NAN;
    for (int bins = 25; bins <= 400; bins *= 2) {
      cbrl_tax_opts o;
      cbrl_tax_opts_default(&o);
      o.n_bins = bins;
      o.lambda = lambdas[l];
      cbrl_problem *p;
      cbrl_exact *e;
      if (cbrl_tax_create(&p, &o) || cbrl_exact_create(&e, p)) return 1;
      double x[4], g[4], F;
      cbrl_tax_x_for_rate(0.3, x);
      clock_t t0 = clock();
      int err = cbrl_exact_evaluate(e, x, &F, NULL, g);
      double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
      if (err) fprintf(stderr, "bins %d: %s\n", bins, cbrl_strerror(err));
      double norm = sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2] + g[3] * g[3]);
      if (isnan(prev))
        printf("| %g | %d | %.6f | – | %.4f | %.2f |\n", lambdas[l], bins, F, norm, secs);
      else
        printf("| %g | %d | %.6f | %.2e | %.4f | %.2f |\n", lambdas[l], bins, F, fabs(F - prev) / fabs(F), norm, secs);
      fflush(stdout);
      prev = F;
      cbrl_exact_free(e);
      cbrl_problem_free(p);
    }
  }
  return 0;
}
