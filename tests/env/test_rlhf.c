/* Tests for env/rlhf.c (docs/ENVIRONMENTS.md 7): the KL-regularised follower (pi_ref at zero
   reward, the closed form of a two-token tree, the sequence-level form pi_ref exp(R / lambda) / Z),
   the DPO identity (the follower's implied preference is the Bradley-Terry model of its reward),
   the exact gradient of both objectives against finite differences in every prompt, the
   unbiased HPGD estimate of the KL-score objective against the exact gradient within 4 standard
   errors, the reward Jacobians AMD uses against finite differences, which estimator takes which objective, and pairs naming impossible sequences. */
#include "test_util.h"

#include <string.h>

static cbrl_problem *make(int vocab, int length, int prompts, cbrl_rlhf_objective objective) {
  cbrl_rlhf_opts o;
  cbrl_rlhf_opts_default(&o);
  o.vocab = vocab, o.length = length, o.n_prompts = prompts, o.objective = objective;
  cbrl_problem *p = NULL;
  char err[200];
  int rc = cbrl_rlhf_create(&p, &o, err, sizeof err);
  if (rc) fail_msg("create: %s (%s)", cbrl_strerror(rc), err);
  return p;
}

/* The follower's log-probability of the sequence code y (tokens base V, first most significant). */
static double log_pi_of(const cbrl_problem *p, const double *log_pi, const int *y, int L) {
  double s = 0.0;
  for (int t = 0; t < L; t++) s += log_pi[(size_t)cbrl_rlhf_state(p, y, t) * p->n_actions + y[t]];
  return s;
}

static void decode(int code, int V, int L, int *y) {
  for (int t = L - 1; t >= 0; t--) y[t] = code % V, code /= V;
}

/* At x = 0 the follower's reward is lambda log pi_ref, and its soft best response is pi_ref. */
static void follower_is_the_reference_at_zero_reward(void **state) {
  (void)state;
  cbrl_problem *p = make(4, 4, 3, CBRL_RLHF_KL_SCORE);
  assert_int_equal(p->n_states, 1 + 4 + 16 + 64 + 1);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[5] = {0};
  for (int c = 0; c < 3; c++) {
    double f;
    assert_ok(cbrl_exact_context(e, c, x, &f, NULL));
    const cbrl_mdp *m = cbrl_exact_mdp(e, c);
    const cbrl_soft_solver *w = cbrl_exact_follower(e, c);
    double sum_row = 0.0;
    for (int s = 0; s < p->n_states - 1; s++)
      for (int a = 0; a < 4; a++) {
        size_t sa = (size_t)s * 4 + a;
        assert_close(w->log_pi[sa], m->r[sa] / p->lambda, 1e-9, 1e-9);
        if (s == 0) sum_row += exp(m->r[sa] / p->lambda);
      }
    assert_close(sum_row, 1.0, 1e-12, 0); /* the reward is a log-probability */
  }
  cbrl_rlhf_fit fit;
  assert_ok(cbrl_rlhf_fit_compute(p, e, x, &fit));
  assert_close(fit.kl, 0.0, 0, 1e-9);
  assert_close(fit.heldout_loglik, log(0.5), 1e-9, 0); /* every margin is 0 */
  assert_close(fit.heldout_accuracy, 0.5, 1e-12, 0);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* V = 2, L = 2 by hand: V1(a0) = lambda log sum_a1 pi_ref(a1|a0) exp(x . phi(a0 a1) / (gamma lambda)),
   pi(a0) proportional to pi_ref(a0) exp(gamma V1(a0) / lambda), pi(a1|a0) proportional to
   pi_ref(a1|a0) exp(x . phi / (gamma lambda)); as gamma -> 1 the sequence policy is
   pi_ref(y) exp(x . phi(y) / lambda) / Z, within about (1 - gamma) L max|R| / lambda. */
static void two_token_tree_has_its_closed_form(void **state) {
  (void)state;
  cbrl_problem *p = make(2, 2, 2, CBRL_RLHF_KL_SCORE);
  assert_int_equal(p->n_states, 4);
  cbrl_exact *e = test_exact_tight(p);
  double x[3] = {1.3, -0.7, 2.1}, lam = p->lambda, gam = p->gamma;
  for (int c = 0; c < 2; c++) {
    double f, zero[3] = {0};
    /* pi_ref from the reward at x = 0, then the policy at x. */
    assert_ok(cbrl_exact_context(e, c, zero, &f, NULL));
    double log_ref[3][2];
    for (int s = 0; s < 3; s++)
      for (int a = 0; a < 2; a++) log_ref[s][a] = cbrl_exact_mdp(e, c)->r[s * 2 + a] / lam;
    assert_ok(cbrl_exact_context(e, c, x, &f, NULL));
    const double *log_pi = cbrl_exact_follower(e, c)->log_pi;
    double R[4], v1[2], hand[4], seq[4], z = 0.0;
    for (int y = 0; y < 4; y++) {
      int tok[2] = {y / 2, y % 2};
      double phi[3];
      assert_ok(cbrl_rlhf_features(p, c, tok, phi));
      R[y] = x[0] * phi[0] + x[1] * phi[1] + x[2] * phi[2];
    }
    for (int a0 = 0; a0 < 2; a0++)
      v1[a0] = lam * log(exp(log_ref[1 + a0][0] + R[2 * a0] / (gam * lam)) +
                         exp(log_ref[1 + a0][1] + R[2 * a0 + 1] / (gam * lam)));
    double z0 = exp(log_ref[0][0] + gam * v1[0] / lam) + exp(log_ref[0][1] + gam * v1[1] / lam);
    for (int y = 0; y < 4; y++) {
      int a0 = y / 2, a1 = y % 2;
      hand[y] = exp(log_ref[0][a0] + gam * v1[a0] / lam) / z0 *
                exp(log_ref[1 + a0][a1] + R[y] / (gam * lam) - v1[a0] / lam);
      seq[y] = exp(log_ref[0][a0] + log_ref[1 + a0][a1] + R[y] / lam);
      z += seq[y];
    }
    for (int y = 0; y < 4; y++) {
      int tok[2] = {y / 2, y % 2};
      double got = exp(log_pi_of(p, log_pi, tok, 2));
      assert_close(got, hand[y], 1e-9, 1e-12);
      assert_close(got, seq[y] / z, 1e-3, 0); /* (1 - gamma) L max|R| / lambda ~ 2e-4 */
    }
  }
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* With beta = lambda the follower's implied reward lambda log pi / pi_ref is x . phi up to a
   constant, so the DPO objective is the Bradley-Terry log-likelihood of x itself, a function of
   the features alone; its exact optimum is the Bradley-Terry fit. */
static void dpo_objective_is_the_bradley_terry_likelihood(void **state) {
  (void)state;
  enum { V = 3, L = 3, P = 2 };
  cbrl_rlhf_opts o;
  cbrl_rlhf_opts_default(&o);
  o.vocab = V, o.length = L, o.n_prompts = P, o.objective = CBRL_RLHF_PREFERENCES;
  /* Pairs of our own, not separable by the features: each sequence preferred to two others
     (a third of the pairs held out), in both prompts. */
  int tokens[2][27][L];
  cbrl_rlhf_pair pairs[2 * 2 * 27];
  int n = 0;
  for (int c = 0; c < P; c++)
    for (int k = 0; k < 27; k++) decode(k, V, L, tokens[c][k]);
  for (int c = 0; c < P; c++)
    for (int k = 0; k < 2 * 27; k++) {
      int other = k < 27 ? (k * 7 + 5) % 27 : (k * 11 + 2) % 27;
      if (other == k % 27) continue;
      cbrl_rlhf_pair q = {c, L, tokens[c][k % 27], tokens[c][other], k % 3 == 0};
      pairs[n++] = q;
    }
  o.pairs = pairs, o.n_pairs = n;
  cbrl_problem *p;
  assert_ok(cbrl_rlhf_create(&p, &o, NULL, 0));
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[4] = {0.8, -1.1, 0.5, 1.7}, F;
  assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, NULL));
  /* The same from the features: mean over each prompt's training pairs, prompts weighted. */
  double bt = 0.0;
  for (int c = 0; c < P; c++) {
    double sum = 0.0;
    int count = 0;
    for (int k = 0; k < n; k++) {
      if (pairs[k].prompt != c || pairs[k].heldout) continue;
      double pw[4], pl[4], m = 0.0;
      assert_ok(cbrl_rlhf_features(p, c, pairs[k].preferred, pw));
      assert_ok(cbrl_rlhf_features(p, c, pairs[k].rejected, pl));
      for (int j = 0; j < 4; j++) m += x[j] * (pw[j] - pl[j]);
      sum += -log1p(exp(-m));
      count++;
    }
    bt += sum / count / P;
  }
  assert_close(F, bt, 1e-3, 0);
  /* The held-out log-likelihood in the fit is the same identity on the other pairs. */
  cbrl_rlhf_fit fit;
  assert_ok(cbrl_rlhf_fit_compute(p, e, x, &fit));
  assert_close(fit.train_loglik, F, 1e-12, 0);
  double xs[4], Fs, g[4];
  assert_ok(cbrl_rlhf_optimum(p, xs, &Fs));
  assert_ok(cbrl_exact_evaluate(e, xs, &F, NULL, g));
  for (int j = 0; j < 4; j++) assert_close(g[j], 0.0, 0, 1e-7);
  assert_true(Fs >= bt - 1e-9); /* the optimum beats the x above */
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void gradient_matches_finite_differences(void **state) {
  (void)state;
  for (int obj = 0; obj < 2; obj++) {
    cbrl_problem *p = make(3, 4, 3, (cbrl_rlhf_objective)obj);
    int d = p->dim;
    assert_int_equal(d, 4);
    cbrl_exact *e = test_exact_tight(p);
    double x[4] = {0.9, -1.4, 0.6, 1.1}, g[4], F, f[3];
    assert_ok(cbrl_exact_evaluate(e, x, &F, f, g));
    /* Every prompt's own gradient against the five-point difference of its f, then their sum. */
    for (int c = 0; c < 3; c++) {
      double gc[4], fc, v[4], xp[4], h = 1e-3, cmax = 0.0, cerr = 0.0;
      static const int step[4] = {1, -1, 2, -2};
      assert_ok(cbrl_exact_context(e, c, x, &fc, gc));
      assert_close(fc, f[c], 1e-12, 1e-14);
      for (int j = 0; j < d; j++) {
        for (int q = 0; q < 4; q++) {
          memcpy(xp, x, sizeof xp);
          xp[j] = x[j] + step[q] * h;
          assert_ok(cbrl_exact_context(e, c, xp, &v[q], NULL));
        }
        cmax = fmax(cmax, fabs(gc[j]));
        cerr = fmax(cerr, fabs(gc[j] - (8.0 * (v[0] - v[1]) - (v[2] - v[3])) / (12.0 * h)));
      }
      if (cerr > 1e-6 * cmax + 1e-9) fail_msg("objective %d prompt %d: error %.3g of %.3g", obj, c, cerr, cmax);
    }
    double gmax, rel = test_fd_relative_error(e, x, g, d, 1e-3, &gmax);
    assert_true(gmax > 1e-3);
    if (rel > 1e-6) fail_msg("objective %d: relative error %.3g", obj, rel);
    cbrl_exact_free(e);
    cbrl_problem_free(p);
  }
}

/* The dense Jacobians AMD uses are those of the vjp: against finite differences of r and rbar. */
static void reward_jacobian_matches_finite_differences(void **state) {
  (void)state;
  cbrl_problem *p = make(3, 3, 2, CBRL_RLHF_KL_SCORE);
  int S = p->n_states, A = p->n_actions, d = p->dim;
  size_t n = (size_t)S * A;
  cbrl_mdp m, mp, mm;
  assert_ok(cbrl_mdp_init(&m, p, 1));
  assert_ok(cbrl_mdp_init(&mp, p, 1));
  assert_ok(cbrl_mdp_init(&mm, p, 1));
  double x[4] = {0.3, -0.8, 1.2, 0.4}, xp[4], h = 1e-5;
  double *jr = malloc(sizeof(double) * n * d), *jb = malloc(sizeof(double) * n * d);
  assert_ok(cbrl_mdp_evaluate(&m, p, 1, x));
  assert_ok(cbrl_mdp_reward_jacobian(&m, p, 1, x, jr, jb));
  double err = 0.0, jmax = 0.0;
  for (int j = 0; j < d; j++) {
    memcpy(xp, x, sizeof xp);
    xp[j] = x[j] + h;
    assert_ok(cbrl_mdp_evaluate(&mp, p, 1, xp));
    xp[j] = x[j] - h;
    assert_ok(cbrl_mdp_evaluate(&mm, p, 1, xp));
    for (size_t sa = 0; sa < n; sa++) {
      double fr = (mp.r[sa] - mm.r[sa]) / (2 * h), fb = (mp.rbar[sa] - mm.rbar[sa]) / (2 * h);
      err = fmax(err, fmax(fabs(fr - jr[sa * d + j]), fabs(fb - jb[sa * d + j])));
      jmax = fmax(jmax, fmax(fabs(jr[sa * d + j]), fabs(jb[sa * d + j])));
    }
  }
  assert_true(jmax > 0.1);
  if (err > 1e-7 * jmax) fail_msg("Jacobian error %.3g of %.3g", err, jmax);
  free(jr);
  free(jb);
  cbrl_mdp_close(&m);
  cbrl_mdp_close(&mp);
  cbrl_mdp_close(&mm);
  cbrl_problem_free(p);
}

/* The KL-score objective is E_pi[s(y)] - lambda KL(pi || pi_ref): its value against that sum
   computed from the follower's sequence distribution. */
static void kl_score_objective_is_score_minus_kl(void **state) {
  (void)state;
  cbrl_problem *p = make(3, 3, 2, CBRL_RLHF_KL_SCORE);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[4] = {1.0, -0.5, 0.7, -1.2}, F, f[2], zero[4] = {0};
  assert_ok(cbrl_exact_evaluate(e, x, &F, f, NULL));
  for (int c = 0; c < 2; c++) {
    /* Score from the leader reward at x = 0 (where KL = 0 and V(root) = 0, so rbar = s / gamma_L^2). */
    double fz;
    assert_ok(cbrl_exact_context(e, c, zero, &fz, NULL));
    double score[27], log_ref[27];
    const cbrl_mdp *m0 = cbrl_exact_mdp(e, c);
    double lead = pow(p->leader_gamma, 2.0);
    for (int y = 0; y < 27; y++) {
      int tok[3];
      decode(y, 3, 3, tok);
      int s = cbrl_rlhf_state(p, tok, 2);
      score[y] = m0->rbar[s * 3 + tok[2]] * lead;
      log_ref[y] = log_pi_of(p, cbrl_exact_follower(e, c)->log_pi, tok, 3);
    }
    assert_ok(cbrl_exact_context(e, c, x, &fz, NULL));
    const double *log_pi = cbrl_exact_follower(e, c)->log_pi;
    double expect = 0.0, total = 0.0;
    for (int y = 0; y < 27; y++) {
      int tok[3];
      decode(y, 3, 3, tok);
      double lp = log_pi_of(p, log_pi, tok, 3), q = exp(lp);
      expect += q * (score[y] - p->lambda * (lp - log_ref[y]));
      total += q;
    }
    assert_close(total, 1.0, 1e-9, 0);
    assert_close(f[c], expect, 1e-4, 1e-6); /* the KL terms are discounted by gamma^t */
  }
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* One unbiased HPGD estimate's mean over many samples against the exact gradient of the
   KL-score objective, in two prompts: within 4 standard errors per coordinate. */
static void hpgd_estimate_matches_the_exact_gradient(void **state) {
  (void)state;
  cbrl_problem *p = make(3, 3, 2, CBRL_RLHF_KL_SCORE);
  int d = p->dim;
  char why[200];
  assert_ok(cbrl_objective_supports(p, "hpgd", why, sizeof why));
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  cbrl_hpgd *h;
  assert_ok(cbrl_hpgd_create(&h, p, 1000));
  double x[4] = {0.8, -0.6, 0.4, 1.0};
  int B = test_quick() ? 20000 : 100000;
  for (int c = 0; c < 2; c++) {
    double g[4], F;
    assert_ok(cbrl_exact_context(e, c, x, &F, g));
    const cbrl_soft_solver *w = cbrl_exact_follower(e, c);
    const cbrl_mdp *m = cbrl_exact_mdp(e, c);
    cbrl_policy pol = {m->n_states, m->n_actions, w->pi, w->log_pi};
    cbrl_rng rng;
    cbrl_rng_seed(&rng, 3, (uint64_t)c);
    double s1[4] = {0}, s2[4] = {0}, gs[4], gmax = 0.0;
    cbrl_hpgd_opts ho = {.kind = CBRL_HPGD_UNBIASED, .samples = 1};
    for (int b = 0; b < B; b++) {
      assert_ok(cbrl_hpgd_estimate(h, c, x, m, NULL, &pol, &ho, &rng, gs, NULL));
      for (int j = 0; j < d; j++) s1[j] += gs[j], s2[j] += gs[j] * gs[j];
    }
    for (int j = 0; j < d; j++) {
      double mean = s1[j] / B, se = sqrt(fmax(s2[j] / B - mean * mean, 0.0) / B);
      gmax = fmax(gmax, fabs(g[j]));
      if (fabs(mean - g[j]) > 4.0 * se + 1e-12)
        fail_msg("prompt %d coordinate %d: HPGD %.5f +- %.5f, exact %.5f", c, j, mean, se, g[j]);
    }
    assert_true(gmax > 1e-2); /* a gradient worth estimating */
  }
  cbrl_hpgd_free(h);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* HPGD needs a leader reward along the follower's trajectories: the DPO form is a function of
   pi (docs/MODEL.md 3.1), so only exact and zero-order take it. */
static void estimators_take_the_objectives_they_can(void **state) {
  (void)state;
  cbrl_problem *kl = make(3, 3, 1, CBRL_RLHF_KL_SCORE), *dpo = make(3, 3, 1, CBRL_RLHF_PREFERENCES);
  char why[200];
  static const char *const all[] = {"exact", "zero-order", "hpgd", "hpgd-batch", "amd"};
  for (int i = 0; i < 5; i++) assert_ok(cbrl_objective_supports(kl, all[i], why, sizeof why));
  assert_ok(cbrl_objective_supports(dpo, "exact", why, sizeof why));
  assert_ok(cbrl_objective_supports(dpo, "zero-order", why, sizeof why));
  assert_int_equal(cbrl_objective_supports(dpo, "hpgd", why, sizeof why), CBRL_ENOTSUP);
  assert_int_equal(cbrl_objective_supports(dpo, "hpgd-batch", why, sizeof why), CBRL_ENOTSUP);
  cbrl_problem_free(kl);
  cbrl_problem_free(dpo);
}

/* The default data: the exact optimum of the DPO form points near the hidden weights, and the
   follower at theta* predicts the held-out pairs better than chance. */
static void default_data_carry_the_hidden_reward(void **state) {
  (void)state;
  cbrl_problem *p = make(4, 4, 3, CBRL_RLHF_PREFERENCES);
  double theta[5], xs[5], Fs;
  assert_ok(cbrl_rlhf_true_weights(p, theta));
  double norm = 0.0;
  for (int j = 0; j < 5; j++) norm += theta[j] * theta[j];
  assert_close(sqrt(norm), 3.0, 1e-12, 0);
  assert_ok(cbrl_rlhf_optimum(p, xs, &Fs));
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  cbrl_rlhf_fit at_opt, at_truth;
  assert_ok(cbrl_rlhf_fit_compute(p, e, xs, &at_opt));
  assert_ok(cbrl_rlhf_fit_compute(p, e, theta, &at_truth));
  assert_true(at_opt.cosine > 0.8);
  assert_true(at_truth.heldout_accuracy > 0.6);
  assert_true(at_truth.heldout_loglik > log(0.5));
  assert_close(at_opt.train_loglik, Fs, 1e-12, 0);
  assert_true(at_opt.train_loglik >= at_truth.train_loglik); /* the fit beats the truth in-sample */
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* Pairs naming impossible sequences are refused, naming the pair and the field. */
static void impossible_sequences_are_refused(void **state) {
  (void)state;
  cbrl_rlhf_opts o;
  cbrl_rlhf_opts_default(&o);
  int good[4] = {0, 1, 2, 3}, bad_token[4] = {0, 1, 7, 3}, negative[4] = {0, -1, 0, 0};
  cbrl_rlhf_pair pairs[2] = {{0, 4, good, good, 0}, {1, 4, good, bad_token, 1}};
  o.pairs = pairs, o.n_pairs = 2;
  cbrl_problem *p = (cbrl_problem *)&o; /* must come back NULL */
  char err[200];
  assert_int_equal(cbrl_rlhf_create(&p, &o, err, sizeof err), CBRL_EINVAL);
  assert_null(p);
  assert_string_equal(err, "pairs[1]: rejected[2]: token 7 is outside the vocabulary 0..3");
  pairs[1].rejected = negative;
  assert_int_equal(cbrl_rlhf_create(&p, &o, err, sizeof err), CBRL_EINVAL);
  assert_string_equal(err, "pairs[1]: rejected[1]: token -1 is outside the vocabulary 0..3");
  pairs[1].rejected = good;
  pairs[1].length = 3;
  assert_int_equal(cbrl_rlhf_create(&p, &o, err, sizeof err), CBRL_EINVAL);
  assert_string_equal(err, "pairs[1]: length: 3 tokens, but every sequence has 4");
  pairs[1].length = 4;
  pairs[0].prompt = 3;
  assert_int_equal(cbrl_rlhf_create(&p, &o, err, sizeof err), CBRL_EINVAL);
  assert_string_equal(err, "pairs[0]: prompt: 3 is out of range 0..2");
  pairs[0].prompt = 2;
  pairs[0].preferred = NULL;
  assert_int_equal(cbrl_rlhf_create(&p, &o, err, sizeof err), CBRL_EINVAL);
  assert_string_equal(err, "pairs[0]: preferred: missing");
  pairs[0].preferred = good;
  assert_ok(cbrl_rlhf_create(&p, &o, err, sizeof err));
  cbrl_problem_free(p);
  /* Invalid options. */
  cbrl_rlhf_opts_default(&o);
  o.vocab = 1;
  assert_int_equal(cbrl_rlhf_create(&p, &o, err, sizeof err), CBRL_EINVAL);
  cbrl_rlhf_opts_default(&o);
  o.gamma = 1.0;
  assert_int_equal(cbrl_rlhf_create(&p, &o, err, sizeof err), CBRL_EINVAL);
  cbrl_rlhf_opts_default(&o);
  o.vocab = 8, o.length = 8; /* 2.4 million states */
  assert_int_equal(cbrl_rlhf_create(&p, &o, err, sizeof err), CBRL_EINVAL);
  assert_null(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(follower_is_the_reference_at_zero_reward),
      cmocka_unit_test(two_token_tree_has_its_closed_form),
      cmocka_unit_test(dpo_objective_is_the_bradley_terry_likelihood),
      cmocka_unit_test(gradient_matches_finite_differences),
      cmocka_unit_test(reward_jacobian_matches_finite_differences),
      cmocka_unit_test(kl_score_objective_is_score_minus_kl),
      cmocka_unit_test(hpgd_estimate_matches_the_exact_gradient),
      cmocka_unit_test(estimators_take_the_objectives_they_can),
      cmocka_unit_test(default_data_carry_the_hidden_reward),
      cmocka_unit_test(impossible_sequences_are_refused),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
