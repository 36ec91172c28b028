/* Tests for env/tax_economy.c, env/tax_grid.c and env/tax_report.c (docs/ENVIRONMENTS.md 2
   design): bin masses, the truncated normal's score against finite differences, the reduction over spending splits against brute force over 1,250 joint
   actions, the exact hypergradient (income tax and VAT) against finite differences, HPGD's
   unbiased estimate against it, and a short HPGD run raising welfare. */
#include "test_util.h"

#include <string.h>

static cbrl_problem *economy(int bins) {
  cbrl_tax_opts o;
  cbrl_tax_opts_default(&o);
  o.n_bins = bins;
  cbrl_problem *p;
  assert_ok(cbrl_tax_create(&p, &o));
  return p;
}

static void bins_are_distributions_and_rates_start_at_point_three(void **state) {
  cbrl_problem *p = economy(50);
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 1));
  double x[4], tau[4];
  cbrl_tax_x_for_rate(0.3, x);
  cbrl_tax_rates(x, tau);
  for (int j = 0; j < 4; j++) assert_close(tau[j], 0.3, 1e-14, 0);
  assert_ok(cbrl_mdp_evaluate(&m, p, 1, x));
  double total_mu = 0.0;
  for (int s = 0; s < 50; s++) {
    total_mu += m.mu[s];
    for (int a = 0; a < CBRL_TAX_ACTIONS; a++) {
      double sum = 0.0;
      for (int64_t k = m.row[s * CBRL_TAX_ACTIONS + a]; k < m.row[s * CBRL_TAX_ACTIONS + a + 1]; k++) {
        assert_true(m.prob[k] >= 0.0);
        sum += m.prob[k];
      }
      assert_close(sum, 1.0, 0, 1e-12);
    }
  }
  assert_close(total_mu, 1.0, 0, 1e-12);
  double h, C;
  cbrl_tax_action(129, &h, &C);
  assert_close(h, 0.89 * 9, 1e-14, 0);
  assert_close(C, 15.0, 1e-14, 0);
  cbrl_mdp_close(&m);
  cbrl_problem_free(p);
}

/* phi(x) = sum_k W_k log P_k: its x-gradient is the vjp with a log_p cotangent. */
static void transition_scores_match_finite_differences(void **state) {
  cbrl_problem *p = economy(40);
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 0));
  double x[4] = {-0.7, 0.2, -1.1, 0.4}, g[4] = {0};
  assert_ok(cbrl_mdp_evaluate(&m, p, 0, x));
  double *w = malloc(sizeof(double) * (size_t)m.n_transitions);
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 5, 0);
  for (int64_t k = 0; k < m.n_transitions; k++) w[k] = m.prob[k] > 1e-9 ? cbrl_rng_normal(&rng) : 0.0;
  cbrl_cotangent ct = {NULL, NULL, w, NULL};
  assert_ok(cbrl_mdp_vjp(&m, p, 0, x, &ct, g));
  double v[2];
  for (int sgn = 0; sgn < 2; sgn++) {
    double y[4] = {x[0] + (sgn ? -1e-5 : 1e-5), x[1], x[2], x[3]};
    assert_ok(cbrl_mdp_evaluate(&m, p, 0, y));
    v[sgn] = 0.0;
    for (int64_t k = 0; k < m.n_transitions; k++)
      if (w[k] != 0.0) v[sgn] += w[k] * log(m.prob[k]);
  }
  assert_close(g[0], (v[0] - v[1]) / 2e-5, 1e-6, 1e-8);
  assert_close(g[1], 0.0, 0, 0); /* VAT does not move assets */
  free(w);
  cbrl_mdp_close(&m);
  cbrl_problem_free(p);
}

/* The bin of assets s on the 50-bin grid of width 4; the last bin holds s = 100. */
static int bin_of(double s) {
  int i = (int)floor((s + 100.0) / 4.0);
  return i < 0 ? 0 : i > 49 ? 49 : i;
}

/* One draw of the simulator's next state from assets s under action a. */
static cbrl_sim_state next_of(const cbrl_simulator *c, double s, int a, cbrl_rng *rng) {
  int64_t entry;
  cbrl_sim_state to = c->ops->next(c, (cbrl_sim_state){bin_of(s), s}, a, rng, &entry);
  assert_int_equal(entry, -1);
  return to;
}

/* The continuous simulator from a bin centre lands in each bin with the tabular model's
   probability, also where the mean is clipped at -100; its score has mean zero (the truncation's normaliser included: the mean sits
   3 sd from the edge); and E[bin(s') score] is the derivative of the model's expected next bin
   in w_I, by finite differences. Each within 4 standard errors of 200,000 draws. */
static void continuous_simulator_agrees_with_the_bin_model(void **state) {
  cbrl_problem *p = economy(50);
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 0));
  double x[4] = {-0.7, 0.2, -1.1, 0.4};
  assert_ok(cbrl_mdp_evaluate(&m, p, 0, x));
  cbrl_simulator *c;
  assert_ok(cbrl_tax_continuous_create(&c, p));
  assert_ok(cbrl_simulator_prepare(c, 0, x, &m));
  int i = 48, a = 9 * CBRL_TAX_TOTALS; /* assets 94, full hours, no spending: mean about 96.7 */
  double s = -100.0 + (i + 0.5) * 4.0;
  assert_int_equal(bin_of(s), i);
  assert_int_equal(bin_of(100.0), 49);
  size_t sa = (size_t)i * CBRL_TAX_ACTIONS + a;
  int64_t lo = m.row[sa], hi = m.row[sa + 1];
  enum { N = 200000 };
  double count[50] = {0}, score_sum = 0.0, score_sq = 0.0, id_sum = 0.0, id_sq = 0.0;
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 11, 0);
  for (int n = 0; n < N; n++) {
    cbrl_sim_state to = next_of(c, s, a, &rng);
    double y = to.y, g[4] = {0};
    assert_true(y >= -100.0 && y <= 100.0);
    int j = to.s;
    assert_int_equal(j, bin_of(y)); /* the simulator's grid: the bin of y, the last one holding 100 */
    count[j] += 1.0;
    c->ops->score(c, (cbrl_sim_state){i, s}, a, to, 1.0, g);
    assert_true(g[1] == 0.0 && g[2] == 0.0 && g[3] == 0.0);
    score_sum += g[0], score_sq += g[0] * g[0];
    id_sum += (j - i) * g[0], id_sq += (j - i) * g[0] * (j - i) * g[0]; /* E[score] = 0: centring only cuts variance */
  }
  for (int64_t k = lo; k < hi; k++) {
    double pk = m.prob[k], se = sqrt(pk * (1.0 - pk) / N);
    assert_close(count[m.next[k]] / N, pk, 0, 4.0 * se + 1e-12);
  }
  /* A row whose mean is clipped at -100 with no hours worked (assets -98, spending 15). */
  int i2 = 0, a2 = 12;
  double s2 = -100.0 + (i2 + 0.5) * 4.0, count2[50] = {0};
  for (int n = 0; n < N; n++) count2[next_of(c, s2, a2, &rng).s] += 1.0;
  size_t sa2 = (size_t)i2 * CBRL_TAX_ACTIONS + a2;
  for (int64_t k = m.row[sa2]; k < m.row[sa2 + 1]; k++) {
    double pk = m.prob[k], se = sqrt(pk * (1.0 - pk) / N);
    assert_close(count2[m.next[k]] / N, pk, 0, 4.0 * se + 1e-12);
  }
  double mean = score_sum / N, se = sqrt((score_sq / N - mean * mean) / N);
  assert_true(fabs(mean) < 4.0 * se);
  double v[2];
  for (int sgn = 0; sgn < 2; sgn++) {
    double y[4] = {x[0] + (sgn ? -1e-5 : 1e-5), x[1], x[2], x[3]};
    assert_ok(cbrl_mdp_evaluate(&m, p, 0, y));
    v[sgn] = 0.0;
    for (int64_t k = lo; k < hi; k++) v[sgn] += m.next[k] * m.prob[k];
  }
  double fd = (v[0] - v[1]) / 2e-5, id = id_sum / N, id_se = sqrt((id_sq / N - id * id) / N);
  print_message("d E[next bin] / d w_I: score identity %.4f +- %.4f, finite differences %.4f\n", id, id_se, fd);
  assert_true(fabs(fd) > 10.0 * id_se); /* the check has power: the derivative is not ~0 */
  assert_close(id, fd, 0, 4.0 * id_se);
  cbrl_simulator_free(c);
  cbrl_mdp_close(&m);
  cbrl_problem_free(p);
}

/* Brute force: soft value iteration over the 1,250 joint actions, and the leader's value under
   the joint policy with the per-split welfare, against the reduced model's exact F. */
static void reduction_equals_brute_force_over_joint_actions(void **state) {
  const int S = test_quick() ? 10 : 30; /* the sanitizer build runs the small grid */
  cbrl_problem *p = economy(S);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[4] = {-0.4, 0.3, -0.8, 0.1}, tau[4], f[2];
  cbrl_tax_rates(x, tau);
  assert_ok(cbrl_exact_evaluate(e, x, NULL, f, NULL));
  double lam = p->lambda, gam = p->gamma;
  for (int k = 0; k < 2; k++) {
    const double alpha[2][3] = {{0.6, 0.3, 0.1}, {0.1, 0.7, 0.2}};
    const cbrl_mdp *m = cbrl_exact_mdp(e, k);
    int A = CBRL_TAX_ACTIONS;
    double V[30] = {0}, Vb[30] = {0};
    static double Q[30][1250], pi[30][1250];
    for (int it = 0; it < 400; it++) { /* 0.9^400 < 1e-18 */
      for (int s = 0; s < S; s++) {
        double mx = -INFINITY;
        for (int j = 0; j < 1250; j++) {
          int hi = j / 125, k1 = (j / 25) % 5, k2 = (j / 5) % 5, k3 = j % 5, a = hi * 13 + k1 + k2 + k3;
          double h = 0.89 * hi, c[3] = {1.25 * k1, 1.25 * k2, 1.25 * k3}, U = 1.0;
          for (int g = 0; g < 3; g++) U *= c[g] > 0 ? pow(c[g] / (1 + tau[1 + g]), alpha[k][g]) : 0.0;
          double cs = -100 + (s + 0.5) * 200.0 / S, q = (cs > 0 ? log(cs / 20 + 1) : cs) - 0.1 * h * h + U;
          for (int64_t t = m->row[s * A + a]; t < m->row[s * A + a + 1]; t++) q += gam * m->prob[t] * V[m->next[t]];
          Q[s][j] = q;
          mx = fmax(mx, q);
        }
        double z = 0.0;
        for (int j = 0; j < 1250; j++) z += exp((Q[s][j] - mx) / lam);
        V[s] = mx + lam * log(z);
      }
    }
    for (int s = 0; s < S; s++)
      for (int j = 0; j < 1250; j++) pi[s][j] = exp((Q[s][j] - V[s]) / lam);
    for (int it = 0; it < 400; it++) {
      double nv[30];
      for (int s = 0; s < S; s++) {
        double cs = -100 + (s + 0.5) * 200.0 / S, v = 0.0;
        for (int j = 0; j < 1250; j++) {
          int hi = j / 125, k1 = (j / 25) % 5, k2 = (j / 5) % 5, k3 = j % 5, a = hi * 13 + k1 + k2 + k3;
          double h = 0.89 * hi, c[3] = {1.25 * k1, 1.25 * k2, 1.25 * k3}, goods = 0, rev = tau[0] * h;
          for (int g = 0; g < 3; g++) goods += c[g] / (1 + tau[1 + g]), rev += tau[1 + g] * c[g] / (1 + tau[1 + g]);
          double q = (cs <= 0 ? cs : 0.0) + goods + 5 * log(1 + rev);
          for (int64_t t = m->row[s * A + a]; t < m->row[s * A + a + 1]; t++) q += gam * m->prob[t] * Vb[m->next[t]];
          v += pi[s][j] * q;
        }
        nv[s] = v;
      }
      memcpy(Vb, nv, sizeof nv);
    }
    const cbrl_soft_solver *w = cbrl_exact_follower(e, k);
    for (int s = 0; s < S; s++) assert_close(w->v[s], V[s], 1e-9, 1e-9);
    double F_brute = 0.0;
    for (int s = 0; s < S; s++) F_brute += m->mu[s] * Vb[s];
    assert_close(f[k], F_brute, 1e-9, 1e-9);
  }
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void hypergradient_matches_finite_differences(void **state) {
  cbrl_problem *p = economy(test_quick() ? 15 : 40);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  cbrl_soft_opts so;
  cbrl_soft_opts_default(&so);
  so.tol = 1e-12; /* F ~ 30 and Q ~ 300: tighter would sit on the rounding floor */
  cbrl_exact_set_opts(e, &so);
  double x[4] = {-1.2, -0.5, 0.3, -2.0}, g[4], F;
  assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, g));
  for (int j = 0; j < 4; j++) assert_close(g[j], test_fd(e, x, 4, j, 2e-3), 1e-6, 1e-7);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void unbiased_hpgd_matches_exact_within_4_standard_errors(void **state) {
  cbrl_problem *p = economy(20);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[4], g[4], s1[4] = {0}, s2[4] = {0};
  cbrl_tax_x_for_rate(0.3, x);
  assert_ok(cbrl_exact_context(e, 1, x, NULL, g));
  const cbrl_mdp *m = cbrl_exact_mdp(e, 1);
  cbrl_policy pol = test_exact_policy(e, 1);
  cbrl_hpgd *h;
  assert_ok(cbrl_hpgd_create(&h, p, 10));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 3, 0);
  int B = test_quick() ? 5000 : 40000;
  for (int b = 0; b < B; b++) {
    double gs[4];
    cbrl_hpgd_opts one = {.kind = CBRL_HPGD_UNBIASED, .samples = 1};
    assert_ok(cbrl_hpgd_estimate(h, 1, x, m, NULL, &pol, &one, &rng, gs, NULL));
    for (int j = 0; j < 4; j++) s1[j] += gs[j], s2[j] += gs[j] * gs[j];
  }
  for (int j = 0; j < 4; j++) {
    double mean = s1[j] / B, se = sqrt((s2[j] / B - mean * mean) / B);
    if (fabs(mean - g[j]) > 4 * se) fail_msg("coordinate %d: mean %.5f exact %.5f se %.5f", j, mean, g[j], se);
  }
  cbrl_hpgd_free(h);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void a_short_hpgd_run_raises_welfare(void **state) {
  cbrl_problem *p = economy(test_quick() ? 20 : 40);
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  o.learning_rate = 0.01;
  o.hpgd.steps = 2000;
  o.hpgd.streams = 10;
  double x0[4];
  cbrl_tax_x_for_rate(0.3, x0);
  cbrl_leader *L;
  assert_ok(cbrl_leader_create(&L, p, &o, x0));
  cbrl_leader_metrics m;
  double F0 = 0, F1 = 0;
  int T = test_quick() ? 20 : 60;
  for (int t = 1; t <= T; t++) {
    assert_ok(cbrl_leader_step(L, t == 1 || t == T, &m));
    if (t == 1) F0 = m.F;
  }
  F1 = m.F;
  print_message("welfare %.4f -> %.4f in %d HPGD iterations\n", F0, F1, T);
  assert_true(F1 > F0);
  cbrl_leader_free(L);
  cbrl_problem_free(p);
}

static void report_agrees_with_independent_computations(void **state) {
  cbrl_problem *p = economy(30);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[4], F, g[4];
  cbrl_tax_x_for_rate(0.3, x);
  cbrl_tax_report r;
  assert_ok(cbrl_tax_report_compute(p, e, x, &r));
  for (int j = 0; j < 4; j++) assert_close(r.rates[j], 0.3, 1e-14, 0);
  assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, g));
  assert_close(r.welfare, F, 1e-10, 0);
  assert_close(r.value_spread, fabs(r.household_value[0] - r.household_value[1]), 1e-12, 0);
  assert_true(r.revenue_mean > 0.0);
  /* Assets by duality: (1 - gamma_L) sum_s d(s) s with d the leader-discounted occupancy. */
  for (int k = 0; k < 2; k++) {
    assert_ok(cbrl_exact_context(e, k, x, NULL, g)); /* the gradient call computes d */
    const double *d = cbrl_exact_occupancy(e, k);
    double assets = 0.0;
    for (int s = 0; s < 30; s++) assets += (1.0 - p->leader_gamma) * d[s] * (-100.0 + (s + 0.5) * 200.0 / 30);
    assert_close(r.assets[k], assets, 1e-8, 1e-8);
    double J = 0.0;
    for (int s = 0; s < 30; s++) J += cbrl_exact_mdp(e, k)->mu[s] * cbrl_exact_follower(e, k)->v[s];
    assert_close(r.household_value[k], J, 1e-10, 1e-12);
  }
  /* No taxes, no revenue. */
  double none[4] = {-40, -40, -40, -40};
  assert_ok(cbrl_tax_report_compute(p, e, none, &r));
  assert_close(r.revenue_mean, 0.0, 0, 1e-12);
  assert_int_equal(cbrl_tax_report_compute(NULL, e, x, &r), CBRL_EINVAL);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* The contiguous-row paths (CBRL_ROWS_CONTIGUOUS: backups that read rows as dense slices, the
   Markov-matrix build without its per-entry check; CBRL_ROWS_SHIFTED: runs of shifted rows summed
   as a correlation with their first row) against the general ones, which an MDP with
   rows_contiguous = 0 and a problem without the flag take: backups, the follower's values and
   policy, and the exact F and hypergradient are the same bits (the issue allows 1e-12 relative;
   the paths keep every sum's order, so they are exact). The 100-bin grid's rows (about 45
   entries) cover the four-row blocks and their tails. A random problem declaring the flag is not
   marked: its rows are not runs. */
static void contiguous_rows_agree_with_the_general_path(void **state) {
  cbrl_problem *p = economy(100);
  assert_true(p->flags & CBRL_ROWS_CONTIGUOUS);
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 1));
  assert_int_equal(m.rows_contiguous, 1);
  double x[4] = {-0.7, 0.2, -1.1, 0.4};
  assert_ok(cbrl_mdp_evaluate(&m, p, 1, x));
  cbrl_mdp general = m; /* the same arrays, the general path */
  general.rows_contiguous = 0;
  int S = m.n_states, A = m.n_actions;
  /* The rows evaluate marks shifted (CBRL_ROWS_SHIFTED) are the previous state's row of the same
     action moved up a bin, bit for bit; most interior rows are. */
  assert_non_null(m.shifted);
  int n_shifted = 0;
  for (int s = 1; s < S; s++)
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      if (!m.shifted[sa]) continue;
      n_shifted++;
      int64_t lo = m.row[sa], n = m.row[sa + 1] - lo, lp = m.row[sa - A];
      assert_int_equal(n, m.row[sa - A + 1] - lp);
      assert_int_equal(m.next[lo], m.next[lp] + 1);
      assert_memory_equal(m.prob + lo, m.prob + lp, sizeof(double) * (size_t)n);
    }
  assert_true(n_shifted > S * A / 4);
  size_t sa_n = (size_t)S * A;
  double *v = malloc(sizeof(double) * S), *q1 = malloc(sizeof(double) * sa_n), *q0 = malloc(sizeof(double) * sa_n);
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 3, 0);
  for (int s = 0; s < S; s++) v[s] = 50.0 * cbrl_rng_normal(&rng);
  cbrl_mdp_backup(&m, 0.9, m.r, v, q1);
  cbrl_mdp_backup(&general, 0.9, m.r, v, q0);
  assert_memory_equal(q1, q0, sizeof(double) * sa_n);
  /* A view with other probabilities ignores the marks: with its first shifted row changed, only
     that row's backup moves. */
  double *other = malloc(sizeof(double) * (size_t)m.n_transitions);
  memcpy(other, m.prob, sizeof(double) * (size_t)m.n_transitions);
  size_t first = 0;
  while (!m.shifted[first]) first++;
  other[m.row[first]] += 0.25;
  cbrl_mdp view = m;
  view.prob = other;
  cbrl_mdp_backup(&view, 0.9, m.r, v, q1);
  for (size_t i = 0; i < sa_n; i++)
    if (i == first) assert_true(q1[i] != q0[i]);
    else assert_true(q1[i] == q0[i]);
  free(other);
  /* The follower's soft best response on both paths. */
  cbrl_soft_solver w1, w0;
  assert_ok(cbrl_soft_solver_init(&w1, S, A));
  assert_ok(cbrl_soft_solver_init(&w0, S, A));
  assert_ok(cbrl_soft_solver_solve(&w1, &m, p->gamma, p->lambda));
  assert_ok(cbrl_soft_solver_solve(&w0, &general, p->gamma, p->lambda));
  assert_int_equal(w1.stats.iterations, w0.stats.iterations);
  assert_memory_equal(w1.v, w0.v, sizeof(double) * S);
  assert_memory_equal(w1.pi, w0.pi, sizeof(double) * sa_n);
  cbrl_soft_solver_close(&w1);
  cbrl_soft_solver_close(&w0);
  /* F and its gradient, from MDPs made with and without the flag. */
  double F[2], g[2][4] = {{0}};
  for (int path = 0; path < 2; path++) {
    if (path) p->flags &= ~(unsigned)CBRL_ROWS_CONTIGUOUS;
    cbrl_exact *e;
    assert_ok(cbrl_exact_create(&e, p));
    assert_ok(cbrl_exact_evaluate(e, x, &F[path], NULL, g[path]));
    assert_int_equal(cbrl_exact_mdp(e, 0)->rows_contiguous, !path);
    cbrl_exact_free(e);
  }
  p->flags |= CBRL_ROWS_CONTIGUOUS;
  assert_memory_equal(&F[0], &F[1], sizeof F[0]);
  assert_true(fabs(g[0][0]) > 0.1);
  assert_memory_equal(g[0], g[1], sizeof g[0]);
  free(v);
  free(q1);
  free(q0);
  cbrl_mdp_close(&m);
  cbrl_problem_free(p);
  cbrl_random_opts ro;
  cbrl_random_opts_default(&ro);
  cbrl_problem *r;
  assert_ok(cbrl_random_problem_create(&r, &ro));
  r->flags |= CBRL_ROWS_CONTIGUOUS;
  assert_ok(cbrl_mdp_init(&m, r, 0));
  assert_int_equal(m.rows_contiguous, 0);
  cbrl_mdp_close(&m);
  cbrl_problem_free(r);
}

static void bad_options_are_refused(void **state) {
  cbrl_tax_opts o;
  cbrl_tax_opts_default(&o);
  o.weight[0] = 0.7;
  cbrl_problem *p = NULL;
  assert_int_equal(cbrl_tax_create(&p, &o), CBRL_EINVAL);
  cbrl_tax_opts_default(&o);
  o.alpha[1][2] = 0.0;
  assert_int_equal(cbrl_tax_create(&p, &o), CBRL_EINVAL);
  cbrl_tax_opts_default(&o);
  o.n_bins = 1;
  assert_int_equal(cbrl_tax_create(&p, &o), CBRL_EINVAL);
  assert_null(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bins_are_distributions_and_rates_start_at_point_three),
      cmocka_unit_test(transition_scores_match_finite_differences),
      cmocka_unit_test(continuous_simulator_agrees_with_the_bin_model),
      cmocka_unit_test(reduction_equals_brute_force_over_joint_actions),
      cmocka_unit_test(hypergradient_matches_finite_differences),
      cmocka_unit_test(unbiased_hpgd_matches_exact_within_4_standard_errors),
      cmocka_unit_test(a_short_hpgd_run_raises_welfare),
      cmocka_unit_test(report_agrees_with_independent_computations),
      cmocka_unit_test(contiguous_rows_agree_with_the_general_path),
      cmocka_unit_test(bad_options_are_refused),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
