/* Tests for src/exact.c: the adjoint hypergradient against finite differences of F on
   random problems. Tolerance held: max_j |grad_j - fd_j| <= 1e-6 * max(||grad||_inf, 1e-6). */
#include "test_util.h"

#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <string.h>

typedef struct case_spec {
  int states, actions, dim, contexts, branch;
  double gamma, leader_gamma, lambda, terminal_fraction;
} case_spec;

/* 24 problems: terminal states, x in r, P, mu and rbar (dense coefficients), several contexts,
   leader discount different from the follower's, temperatures from 1e-3 to 10. */
static const case_spec cases[] = {
    {6, 3, 4, 1, 3, 0.9, 0.9, 1.0, 0.0},     {6, 3, 4, 2, 3, 0.9, 0.8, 1.0, 0.2},
    {8, 2, 3, 3, 4, 0.5, 0.95, 0.5, 0.25},   {10, 4, 5, 2, 3, 0.99, 0.9, 0.1, 0.1},
    {12, 3, 2, 1, 5, 0.95, 0.5, 10.0, 0.1},  {5, 2, 6, 2, 2, 0.0, 0.9, 1.0, 0.0},
    {7, 3, 3, 2, 3, 0.9, 0.0, 1.0, 0.3},     {9, 3, 4, 4, 3, 0.8, 0.7, 0.01, 0.1},
    {15, 4, 3, 2, 4, 0.9, 0.99, 0.05, 0.15}, {20, 3, 5, 3, 3, 0.9, 0.9, 2.0, 0.1},
    {6, 5, 3, 1, 6, 0.7, 0.6, 0.001, 0.0},   {6, 2, 3, 2, 2, 0.9, 0.95, 0.001, 0.3},
    {11, 3, 4, 2, 3, 0.6, 0.9, 5.0, 0.2},    {4, 3, 2, 2, 4, 0.9, 0.9, 0.3, 0.25},
    {13, 2, 3, 3, 3, 0.95, 0.8, 0.2, 0.1},   {8, 4, 6, 2, 2, 0.85, 0.85, 0.02, 0.0},
    {10, 3, 3, 1, 4, 0.99, 0.99, 1.0, 0.2},  {7, 2, 5, 5, 3, 0.9, 0.5, 0.005, 0.1},
    {16, 3, 3, 2, 3, 0.9, 0.95, 10.0, 0.3},  {5, 4, 4, 3, 5, 0.75, 0.9, 0.4, 0.2},
    {9, 3, 2, 2, 3, 0.9, 0.1, 0.003, 0.1},   {12, 2, 4, 2, 3, 0.3, 0.9, 0.7, 0.0},
    {6, 3, 3, 2, 3, 0.99, 0.9, 0.05, 0.2},   {20, 4, 4, 3, 4, 0.9, 0.9, 0.1, 0.05},
};

static cbrl_problem *make(const case_spec *c, uint64_t seed) {
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = c->states;
  o.n_actions = c->actions;
  o.dim = c->dim;
  o.n_contexts = c->contexts;
  o.branch = c->branch;
  o.gamma = c->gamma;
  o.leader_gamma = c->leader_gamma;
  o.lambda = c->lambda;
  o.terminal_fraction = c->terminal_fraction;
  o.coef_nonzeros = 0; /* dense: every coordinate enters every quantity */
  o.seed = seed;
  cbrl_problem *p;
  assert_ok(cbrl_random_problem_create(&p, &o));
  return p;
}

static void gradient_matches_finite_differences_on_random_problems(void **state) {
  int n = (int)(sizeof cases / sizeof cases[0]);
  double worst = 0.0;
  for (int i = 0; i < n; i++) {
    cbrl_problem *p = make(&cases[i], 100 + i);
    cbrl_exact *e = test_exact_tight(p);
    double x[8], g[8], F;
    cbrl_rng rng;
    cbrl_rng_seed(&rng, 7, (uint64_t)i);
    for (int j = 0; j < p->dim; j++) x[j] = 0.5 * cbrl_rng_normal(&rng);
    int status = cbrl_exact_evaluate(e, x, &F, NULL, g);
    if (status) fail_msg("case %d: %s", i, cbrl_strerror(status));
    /* The step must resolve the policy's 1/lambda curvature. */
    double h = 0.02 * fmin(p->lambda, 0.05);
    double gmax, rel = test_fd_relative_error(e, x, g, p->dim, h, &gmax);
    worst = fmax(worst, rel);
    if (rel > 1e-6) fail_msg("case %d (lambda %g): relative error %.3g", i, p->lambda, rel);
    cbrl_exact_free(e);
    cbrl_problem_free(p);
  }
  print_message("worst relative gradient error over %d problems: %.3g\n", n, worst);
}

static void evaluate_is_the_weighted_sum_of_contexts(void **state) {
  cbrl_problem *p = make(&cases[2], 1);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[3] = {0.1, 0.2, -0.3}, F, f[3], g[3], fk, gk[3], sum = 0.0, gsum[3] = {0};
  assert_ok(cbrl_exact_evaluate(e, x, &F, f, g));
  for (int k = 0; k < p->n_contexts; k++) {
    assert_ok(cbrl_exact_context(e, k, x, &fk, gk));
    assert_close(fk, f[k], 1e-12, 1e-14);
    sum += p->context_weight[k] * fk;
    for (int j = 0; j < 3; j++) gsum[j] += p->context_weight[k] * gk[j];
  }
  assert_close(sum, F, 1e-12, 1e-14);
  for (int j = 0; j < 3; j++) assert_close(gsum[j], g[j], 1e-10, 1e-12);
  /* Objective only: same F, no gradient work. */
  double F2;
  assert_ok(cbrl_exact_evaluate(e, x, &F2, NULL, NULL));
  assert_close(F2, F, 1e-12, 1e-14);
  assert_int_equal(cbrl_exact_context(e, 5, x, &fk, NULL), CBRL_EINVAL);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* set_x, respond and value in steps give bit for bit what cbrl_exact_context gives from the same
   warm start, and value refuses to run without a best response at the current x. */
static void the_steps_are_the_context_call(void **state) {
  cbrl_problem *p = make(&cases[2], 1);
  cbrl_exact *a, *b;
  assert_ok(cbrl_exact_create(&a, p));
  assert_ok(cbrl_exact_create(&b, p));
  double x[3] = {0.1, 0.2, -0.3}, fa, fb, ga[3], gb[3];
  for (int t = 0; t < 3; t++) {
    x[0] += 0.05;
    assert_ok(cbrl_exact_context(a, 1, x, &fa, ga));
    assert_ok(cbrl_exact_set_x(b, 1, x));
    assert_int_equal(cbrl_exact_value(b, 1, &fb, gb), CBRL_EINVAL);
    assert_ok(cbrl_exact_respond(b, 1));
    x[1] += 1.0; /* value uses the x of set_x, not the caller's array */
    assert_ok(cbrl_exact_value(b, 1, &fb, gb));
    x[1] -= 1.0;
    assert_memory_equal(&fa, &fb, sizeof fa);
    assert_memory_equal(ga, gb, sizeof ga);
  }
  assert_int_equal(cbrl_exact_respond(b, 0), CBRL_EINVAL); /* context 0 has no x yet */
  cbrl_exact_free(a);
  cbrl_exact_free(b);
  cbrl_problem_free(p);
}

static void accessors_expose_consistent_tables(void **state) {
  case_spec c = cases[0]; /* no terminal states */
  cbrl_problem *p = make(&c, 3);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[4] = {0}, f, g[4];
  assert_ok(cbrl_exact_context(e, 0, x, &f, g));
  const cbrl_mdp *m = cbrl_exact_mdp(e, 0);
  const double *vbar = cbrl_exact_leader_value(e, 0), *d = cbrl_exact_occupancy(e, 0);
  const cbrl_soft_solver *w = cbrl_exact_follower(e, 0);
  double muv = 0.0, total = 0.0;
  for (int s = 0; s < m->n_states; s++) muv += m->mu[s] * vbar[s], total += d[s];
  assert_close(muv, f, 1e-12, 1e-14);
  assert_close(total, 1.0 / (1.0 - p->leader_gamma), 1e-10, 0);
  assert_true(w->priv.warm);
  /* Statistics cover the whole gradient: best response plus Vbar, d and adjoint solves. */
  const cbrl_soft_stats *st = cbrl_exact_stats(e, 0);
  assert_true(st->converged);
  assert_true(st->linear_solves >= 3);
  assert_true(st->linear_iterations >= st->linear_solves);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void reset_forgets_warm_starts(void **state) {
  cbrl_problem *p = make(&cases[3], 4);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[5] = {0.1, 0.2, 0.3, 0.4, 0.5}, F1, F2, F3;
  assert_ok(cbrl_exact_evaluate(e, x, &F1, NULL, NULL));
  int cold = cbrl_exact_stats(e, 0)->iterations;
  assert_ok(cbrl_exact_evaluate(e, x, &F2, NULL, NULL));
  assert_int_equal(cbrl_exact_stats(e, 0)->iterations, 0); /* warm at the same x: no Newton step */
  cbrl_exact_reset(e);
  assert_ok(cbrl_exact_evaluate(e, x, &F3, NULL, NULL));
  assert_int_equal(cbrl_exact_stats(e, 0)->iterations, cold);
  assert_close(F1, F2, 1e-12, 1e-14);
  assert_close(F1, F3, 1e-12, 1e-14);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* Issue 7's numerical range: every combination gives finite F and gradient, or a reported
   non-convergence; where the problem is well-conditioned the gradient still matches finite
   differences. */
static void numerical_range_is_finite_or_reported(void **state) {
  const double lambdas[4] = {1e-4, 1e-2, 1.0, 100.0}, gammas[3] = {0.0, 0.5, 0.999}, scales[2] = {1.0, 1e6};
  int fd_checked = 0;
  for (int l = 0; l < 4; l++)
    for (int g = 0; g < 3; g++)
      for (int sc = 0; sc < 2; sc++) {
        cbrl_random_opts o;
        cbrl_random_opts_default(&o);
        o.n_states = 15;
        o.dim = 3;
        o.coef_nonzeros = 0;
        o.terminal_fraction = 0.1;
        o.lambda = lambdas[l];
        o.gamma = o.leader_gamma = gammas[g];
        o.reward_scale = scales[sc];
        o.seed = (uint64_t)(l * 10 + g * 2 + sc);
        cbrl_problem *p;
        assert_ok(cbrl_random_problem_create(&p, &o));
        cbrl_exact *e;
        assert_ok(cbrl_exact_create(&e, p));
        double x[3] = {0.2, -0.1, 0.3}, grad[3], F;
        int err = cbrl_exact_evaluate(e, x, &F, NULL, grad);
        if (err != 0 && err != CBRL_ENOCONV)
          fail_msg("lambda %g gamma %g scale %g: %s", lambdas[l], gammas[g], scales[sc], cbrl_strerror(err));
        if (err == CBRL_ENOCONV) assert_false(cbrl_exact_stats(e, 0)->converged && cbrl_exact_stats(e, 1)->converged);
        assert_true(isfinite(F));
        for (int j = 0; j < 3; j++) assert_true(isfinite(grad[j]));
        /* Well-conditioned: rewards of order 1, lambda not far below them, moderate horizon. */
        if (!err && sc == 0 && lambdas[l] >= 1e-2 && gammas[g] <= 0.5) {
          double h = 0.02 * fmin(lambdas[l], 0.05), gmax = 0.0;
          for (int j = 0; j < 3; j++) gmax = fmax(gmax, fabs(grad[j]));
          for (int j = 0; j < 3; j++) assert_close(grad[j], test_fd(e, x, 3, j, h), 0, 1e-6 * fmax(gmax, 1e-6));
          fd_checked++;
        }
        cbrl_exact_free(e);
        cbrl_problem_free(p);
      }
  assert_int_equal(fd_checked, 6);
}

static void invalid_problem_is_refused(void **state) {
  cbrl_problem *p = make(&cases[0], 1);
  p->gamma = 1.0;
  cbrl_exact *e = NULL;
  assert_int_equal(cbrl_exact_create(&e, p), CBRL_ERANGE);
  assert_null(e);
  cbrl_exact_free(NULL);
  cbrl_problem_free(p);
}

/* Issue 13 class 13: the cancellation flag. */
static volatile int cancel_flag;
static void on_alarm(int sig) {
  (void)sig;
  cancel_flag = 1;
}

static void a_set_flag_cancels_and_a_cleared_one_resumes(void **state) {
  (void)state;
  cbrl_problem *p = make(&cases[1], 3);
  cbrl_exact *e, *fresh;
  assert_ok(cbrl_exact_create(&e, p));
  assert_ok(cbrl_exact_create(&fresh, p));
  double x[8] = {0.1, -0.2, 0.3}, g[8], g0[8], F, F0;
  cbrl_exact_set_cancel(e, &cancel_flag);
  cancel_flag = 1;
  assert_int_equal(cbrl_exact_evaluate(e, x, &F, NULL, g), CBRL_ECANCELED);
  assert_int_equal(cbrl_exact_context(e, 0, x, &F, NULL), CBRL_ECANCELED);
  assert_string_equal(cbrl_err_name(CBRL_ECANCELED), "CBRL_ECANCELED");
  assert_non_null(strstr(cbrl_strerror(CBRL_ECANCELED), "cancel"));
  /* Cleared, the same workspace gives what a fresh one gives. */
  cancel_flag = 0;
  assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, g));
  assert_ok(cbrl_exact_evaluate(fresh, x, &F0, NULL, g0));
  assert_close(F, F0, 1e-9, 1e-12);
  for (int j = 0; j < p->dim; j++) assert_close(g[j], g0[j], 1e-7, 1e-10);
  /* set_opts keeps no flag of its own: set_cancel after it. */
  cbrl_exact_set_cancel(e, NULL);
  cancel_flag = 1;
  assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, g));
  cancel_flag = 0;
  cbrl_exact_free(e);
  cbrl_exact_free(fresh);
  cbrl_problem_free(p);
}

/* A solve that takes seconds is canceled from a signal handler 50 ms in, as the CLI does. */
static void a_signal_cancels_a_long_solve_promptly(void **state) {
  (void)state;
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = 300000, o.n_actions = 4, o.dim = 2, o.n_contexts = 1, o.branch = 6;
  o.gamma = 0.999, o.leader_gamma = 0.999, o.lambda = 0.01, o.seed = 5;
  cbrl_problem *p;
  assert_ok(cbrl_random_problem_create(&p, &o));
  cbrl_exact *e = test_exact_tight(p);
  cbrl_exact_set_cancel(e, &cancel_flag);
  cancel_flag = 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  /* The MDP at x first: one pass over the problem, not a solve, and not canceled. */
  double x[2] = {0.1, 0.2};
  assert_ok(cbrl_exact_set_x(e, 0, x));
  struct itimerval it = {{0, 0}, {0, 50000}};
  /* The bound is on this thread's CPU time, not the wall clock: a loaded machine (or a
     sanitizer build sharing it, 3.4 s of wall time seen) stretches the wall time of the same work. */
  struct timespec t0, t1, c0, c1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
  setitimer(ITIMER_REAL, &it, NULL);
  int err = cbrl_exact_respond(e, 0);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double took = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  double cpu = (double)(c1.tv_sec - c0.tv_sec) + 1e-9 * (double)(c1.tv_nsec - c0.tv_nsec);
  if (err != CBRL_ECANCELED) fail_msg("err %s after %.3f s (the solve must outlast 50 ms)", cbrl_err_name(err), took);
  /* 0.05 s to the signal, then at most one Newton step's assembly of P_pi (7.2 million entries
     here, about 0.2 s alone) or one Krylov product. An uncanceled solve takes over 10 s of CPU. */
  if (cpu > 2.0) fail_msg("canceled only after %.3f s of CPU (%.3f s of wall time)", cpu, took);
  cancel_flag = 0;
  signal(SIGALRM, SIG_DFL);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(gradient_matches_finite_differences_on_random_problems),
      cmocka_unit_test(evaluate_is_the_weighted_sum_of_contexts),
      cmocka_unit_test(the_steps_are_the_context_call),
      cmocka_unit_test(accessors_expose_consistent_tables),
      cmocka_unit_test(reset_forgets_warm_starts),
      cmocka_unit_test(numerical_range_is_finite_or_reported),
      cmocka_unit_test(invalid_problem_is_refused),
      cmocka_unit_test(a_set_flag_cancels_and_a_cleared_one_resumes),
      cmocka_unit_test(a_signal_cancels_a_long_solve_promptly),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
