/* How close the soft-DQN follower comes to the exact best response on the tax economy
   (docs/results/tax_design.md, "The paper's follower"). For one lambda and one rate point it
   trains the follower (both household types, warm) in the continuous-assets simulator and, at
   each checkpoint of training steps, prints the leader's exact F of the learned policy and the
   households' own soft value J (both in the 200-bin model), against the exact best response's,
   and the time per training step (wall and CPU: on a shared machine the CPU time is the cost).

     cbrl_soft_dqn_measure LAMBDA INCOME_TAX VAT HEADS SEED STEPS...   (HEADS: joint or factorised)

   Environment overrides for exploration of the options: DQN_LR, DQN_BATCH, DQN_TARGET,
   DQN_EPS_STEPS, DQN_EPS_END, DQN_HIDDEN, DQN_BINS. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "cbrl/env/tax.h"
#include "cbrl/soft_dqn.h"

/* J(pi) = mu . V_pi (soft) and f(pi) = mu . Vbar_pi of a tabular policy in m. */
static void values_of(const cbrl_problem *p, const cbrl_mdp *m, const cbrl_policy *pol, cbrl_soft_solver *w,
                      double *J, double *f) {
  int S = p->n_states, A = p->n_actions;
  double *q = malloc(sizeof(double) * S * A), *rew = malloc(sizeof(double) * S * A), *v = calloc(S, sizeof(double));
  for (int k = 0; k < S * A; k++) q[k] = p->lambda * pol->log_pi[k];
  check(cbrl_soft_solver_set_q(w, q, p->lambda), "set_q");
  for (int k = 0; k < S * A; k++) rew[k] = m->r[k] - p->lambda * w->log_pi[k];
  check(cbrl_soft_solver_evaluate(w, m, p->gamma, rew, v), "evaluate");
  *J = 0;
  for (int s = 0; s < S; s++) *J += m->mu[s] * v[s];
  memset(v, 0, sizeof(double) * S);
  check(cbrl_soft_solver_evaluate(w, m, p->leader_gamma, m->rbar, v), "evaluate");
  *f = 0;
  for (int s = 0; s < S; s++) *f += m->mu[s] * v[s];
  free(q);
  free(rew);
  free(v);
}

/* CPU seconds of this process (the machine may be shared: wall time then overstates the cost). */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double env_or(const char *name, double def) {
  const char *s = getenv(name);
  return s ? atof(s) : def;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: %s LAMBDA INCOME_TAX VAT joint|factorised SEED STEPS...\n", argv[0]);
    return 2;
  }
  double lambda = atof(argv[1]), income = atof(argv[2]), vat = atof(argv[3]);
  int factorised = !strcmp(argv[4], "factorised");
  uint64_t seed = strtoull(argv[5], NULL, 10);
  cbrl_tax_opts to;
  cbrl_tax_opts_default(&to);
  to.lambda = lambda;
  to.n_bins = (int)env_or("DQN_BINS", to.n_bins);
  cbrl_problem *p;
  check(cbrl_tax_create(&p, &to), "tax");
  double x[CBRL_TAX_DIM], xi[CBRL_TAX_DIM];
  cbrl_tax_x_for_rate(vat, x);
  cbrl_tax_x_for_rate(income, xi);
  x[0] = xi[0];
  cbrl_exact *e;
  check(cbrl_exact_create(&e, p), "exact");
  double F_star, f_star[CBRL_TAX_TYPES_MAX], J_star[CBRL_TAX_TYPES_MAX];
  check(cbrl_exact_evaluate(e, x, &F_star, f_star, NULL), "exact F");
  cbrl_mdp m[CBRL_TAX_TYPES_MAX];
  for (int k = 0; k < p->n_contexts; k++) {
    check(cbrl_mdp_init(&m[k], p, k), "mdp");
    check(cbrl_mdp_evaluate(&m[k], p, k, x), "mdp");
    const cbrl_soft_solver *w = cbrl_exact_follower(e, k);
    J_star[k] = 0;
    for (int s = 0; s < p->n_states; s++) J_star[k] += m[k].mu[s] * w->v[s];
  }
  cbrl_simulator *sim;
  check(cbrl_tax_continuous_create(&sim, p), "simulator");
  cbrl_soft_dqn_opts o;
  cbrl_soft_dqn_opts_default(&o);
  o.seed = seed;
  o.learning_rate = env_or("DQN_LR", o.learning_rate);
  o.batch_size = (int)env_or("DQN_BATCH", o.batch_size);
  o.target_interval = (int64_t)env_or("DQN_TARGET", (double)o.target_interval);
  o.epsilon_steps = (int64_t)env_or("DQN_EPS_STEPS", (double)o.epsilon_steps);
  o.epsilon_end = env_or("DQN_EPS_END", o.epsilon_end);
  o.hidden[0] = o.hidden[1] = (int)env_or("DQN_HIDDEN", 64);
  o.keep_buffer = 1; /* one x throughout: the chunks below are one training run */
  if (factorised) {
    o.heads = CBRL_SOFT_DQN_FACTORISED;
    o.n_head_sizes = 2;
    o.head_sizes[0] = CBRL_TAX_HOURS;
    o.head_sizes[1] = CBRL_TAX_TOTALS;
  }
  cbrl_follower *fl;
  check(cbrl_follower_soft_dqn_create(&fl, p, &o), "follower");
  cbrl_soft_solver w;
  check(cbrl_soft_solver_init(&w, p->n_states, p->n_actions), "solver");
  cbrl_rng rng;
  cbrl_rng_seed(&rng, seed, 1);
  double J_star_mean = 0;
  for (int k = 0; k < p->n_contexts; k++) J_star_mean += p->context_weight[k] * J_star[k];
  printf("# lambda %g income %g vat %g heads %s seed %llu lr %g batch %d: exact F %.4f J %.4f\n", lambda, income,
         vat, argv[4], (unsigned long long)seed, o.learning_rate, o.batch_size, F_star, J_star_mean);
  printf("steps\tF\tF_exact\tJ\tJ_exact\twall_us_per_step\tcpu_us_per_step\n");
  /* Training proceeds in responses of o.steps steps at the same x (buffer kept), so a checkpoint
     is one continuous run of that many steps per household type; the policy of a response is
     evaluated before the next response overwrites it. */
  int64_t done = 0;
  double train_time = 0, cpu_time = 0;
  for (int c = 6; c < argc; c++) {
    int64_t target = (int64_t)atof(argv[c]);
    double F = 0, J = 0;
    while (done < target) {
      int last = done + o.steps >= target;
      for (int k = 0; k < p->n_contexts; k++) {
        cbrl_policy pol;
        double t0 = now(), c0 = cpu_now();
        check(cbrl_follower_respond(fl, k, x, &m[k], sim, &rng, &pol), "respond");
        train_time += now() - t0;
        cpu_time += cpu_now() - c0;
        if (last) {
          double Jk, fk;
          values_of(p, &m[k], &pol, &w, &Jk, &fk);
          F += p->context_weight[k] * fk;
          J += p->context_weight[k] * Jk;
        }
      }
      done += o.steps;
    }
    printf("%lld\t%.4f\t%.4f\t%.4f\t%.4f\t%.1f\t%.1f\n", (long long)done, F, F_star, J, J_star_mean,
           1e6 * train_time / ((double)done * p->n_contexts), 1e6 * cpu_time / ((double)done * p->n_contexts));
    fflush(stdout);
  }
  cbrl_soft_solver_close(&w);
  cbrl_follower_free(fl);
  cbrl_simulator_free(sim);
  for (int k = 0; k < p->n_contexts; k++) cbrl_mdp_close(&m[k]);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
  return 0;
}
