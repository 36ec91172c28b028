/* Tests for src/clip.c, the leader's clipping (docs/MODEL.md 4): clipping each context's
   gradient stops the leader at the clipped fixed point, computed here independently of cbrl;
   clipping the context average, or a clip that grows, reaches the optimum. */
#include "test_util.h"

#include "clip_problem.h"

/* The closed forms of clip_problem.h are what cbrl computes for the problem. */
static void problem_matches_its_closed_form(void **state) {
  cbrl_problem *p = NULL;
  assert_ok(clip_problem_create(&p));
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  for (double x = -0.5; x <= 2.0; x += 0.25)
    for (int i = 0; i < CLIP_TYPES; i++) {
      double f, g;
      assert_ok(cbrl_exact_context(e, i, &x, &f, &g));
      assert_close(f, clip_f(x, i), 1e-9, 1e-12);
      assert_close(g, clip_grad(x, i), 1e-8, 1e-11);
    }
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* Runs the exact-gradient leader from x = 0 and returns the mean x over the last `window`. */
static double settle(const cbrl_leader_opts *o, int iterations, int window) {
  cbrl_problem *p = NULL;
  assert_ok(clip_problem_create(&p));
  cbrl_leader *L;
  double x0 = 0.0, sum = 0.0;
  assert_ok(cbrl_leader_create(&L, p, o, &x0));
  for (int t = 0; t < iterations; t++) {
    assert_ok(cbrl_leader_step(L, 0, NULL));
    if (t >= iterations - window) sum += cbrl_leader_x(L)[0];
  }
  cbrl_leader_free(L);
  cbrl_problem_free(p);
  return sum / window;
}

static void leader_opts(cbrl_leader_opts *o, double clip, cbrl_clip_mode mode) {
  cbrl_leader_opts_default(o);
  o->clip = mode;
  o->algorithm = CBRL_ALG_EXACT;
  o->learning_rate = 0.001;
  o->max_grad_norm = clip;
  o->seed = 7;
}

/* Per-context clipping at 1 (the paper's): the leader settles where sum_i q_i clip(f_i') = 0,
   not at the optimum, and keeps only part of the gain. */
static void per_context_clip_settles_at_the_clipped_fixed_point(void **state) {
  double x_clip = clip_fixed_point(1.0, 0.0, 2.0), x_opt = clip_fixed_point(0.0, 0.0, 2.0);
  double gain_clip = (clip_F(x_clip) - clip_F(0.0)) / (clip_F(x_opt) - clip_F(0.0));
  print_message("clipped fixed point %.4f (%.1f %% of the gain), optimum %.4f\n", x_clip,
                100 * gain_clip, x_opt);
  assert_true(x_opt - x_clip > 0.1);
  cbrl_leader_opts o;
  leader_opts(&o, 1.0, CBRL_CLIP_PER_CONTEXT);
  double x = settle(&o, 200000, 100000);
  print_message("per-context clip: the leader settles at %.4f\n", x);
  assert_close(x, x_clip, 0, 0.01);
}

/* Without clipping the same leader reaches the optimum. */
static void unclipped_leader_reaches_the_optimum(void **state) {
  double x_opt = clip_fixed_point(0.0, 0.0, 2.0);
  cbrl_leader_opts o;
  leader_opts(&o, 0.0, CBRL_CLIP_PER_CONTEXT);
  double x = settle(&o, 200000, 100000);
  print_message("no clip: the leader settles at %.4f (optimum %.4f)\n", x, x_opt);
  assert_close(x, x_opt, 0, 0.01);
}

/* Clipping the weighted average of every context's latest gradient (the default) keeps the
   clip and reaches the optimum; so does a clip that grows past the per-context gradients. */
static void average_and_growing_clips_reach_the_optimum(void **state) {
  double x_opt = clip_fixed_point(0.0, 0.0, 2.0);
  cbrl_leader_opts o;
  leader_opts(&o, 1.0, CBRL_CLIP_AVERAGE);
  cbrl_leader_opts d;
  cbrl_leader_opts_default(&d);
  assert_int_equal(d.clip, CBRL_CLIP_AVERAGE);
  double x = settle(&o, 200000, 100000);
  print_message("average clip: the leader settles at %.4f (optimum %.4f)\n", x, x_opt);
  assert_close(x, x_opt, 0, 0.01);
  leader_opts(&o, 1.0, CBRL_CLIP_GROWING);
  o.clip_growth = 1000;
  x = settle(&o, 200000, 100000);
  print_message("growing clip: the leader settles at %.4f\n", x);
  assert_close(x, x_opt, 0, 0.01);
}

/* The per-context clip is active through the final window at the clipped fixed point, the
   average's is not at the optimum: what the runner's warning keys on (a quarter or more). */
static void the_clip_reports_when_it_binds(void **state) {
  cbrl_problem *p = NULL;
  assert_ok(clip_problem_create(&p));
  for (int mode = CBRL_CLIP_AVERAGE; mode <= CBRL_CLIP_PER_CONTEXT; mode++) {
    cbrl_leader_opts o;
    leader_opts(&o, 1.0, (cbrl_clip_mode)mode);
    cbrl_leader *L;
    double x0 = mode == CBRL_CLIP_AVERAGE ? clip_fixed_point(0.0, 0.0, 2.0) : clip_fixed_point(1.0, 0.0, 2.0);
    assert_ok(cbrl_leader_create(&L, p, &o, &x0));
    int clipped = 0;
    for (int t = 0; t < 1000; t++) {
      cbrl_leader_metrics m;
      assert_ok(cbrl_leader_step(L, 0, &m));
      clipped += m.clipped;
    }
    print_message("%s: clip active on %d of 1000 iterations\n", cbrl_clip_mode_name(o.clip), clipped);
    if (mode == CBRL_CLIP_PER_CONTEXT) assert_true(clipped > 250); /* the runner warns above a quarter */
    else assert_true(clipped < 100);
    cbrl_leader_free(L);
  }
  cbrl_clip_mode m;
  assert_ok(cbrl_clip_mode_parse("growing", &m));
  assert_int_equal(m, CBRL_CLIP_GROWING);
  assert_int_equal(cbrl_clip_mode_parse("clip", &m), CBRL_EINVAL);
  cbrl_problem_free(p);
}

/* Three leader parameters, one decision: the leader's reward depends on x linearly and the
   follower's not at all, so grad F is a constant vector g, (3, 0.3, 0.4) / 2 here. */
static cbrl_problem *linear_problem(void) {
  cbrl_problem *p;
  assert_ok(cbrl_affine_create(&p, 2, 2, 3, 1));
  const double zero[3] = {0.0, 0.0, 0.0}, theta[3] = {3.0, 0.3, 0.4};
  assert_ok(cbrl_affine_set_terminal(p, 1));
  assert_ok(cbrl_affine_add_initial(p, 0, 0, 0.0, NULL));
  for (int a = 0; a < 2; a++) {
    assert_ok(cbrl_affine_add_transition(p, 0, 0, a, 1, 0.0, NULL));
    assert_ok(cbrl_affine_set_reward(p, 0, 0, a, 0.0, zero));
    assert_ok(cbrl_affine_set_leader_reward(p, 0, 0, a, 0.0, a ? zero : theta));
  }
  assert_ok(cbrl_affine_finalize(p, NULL, NULL, NULL));
  p->lambda = 0.2;
  return p;
}

/* One exact step from x = 0 with learning rate 1 under clip groups `sizes` (n of them; 0: x
   whole) checks each group of the step against its own clip to norm 1 (docs/MODEL.md 4). */
static void step_with_groups(cbrl_problem *p, int n, const int *sizes) {
  cbrl_leader_opts o;
  leader_opts(&o, 1.0, CBRL_CLIP_PER_CONTEXT);
  o.learning_rate = 1.0;
  o.n_clip_groups = n;
  for (int k = 0; k < n; k++) o.clip_group_size[k] = sizes[k];
  cbrl_exact *e;
  double x0[3] = {0.0, 0.0, 0.0}, f, g[3];
  assert_ok(cbrl_exact_create(&e, p));
  assert_ok(cbrl_exact_context(e, 0, x0, &f, g));
  cbrl_exact_free(e);
  cbrl_leader *L;
  cbrl_leader_metrics m;
  assert_ok(cbrl_leader_create(&L, p, &o, x0));
  assert_ok(cbrl_leader_step(L, 0, &m));
  const double *x = cbrl_leader_x(L);
  int whole[1] = {3}, j0 = 0, clipped = 0;
  if (!n) n = 1, sizes = whole;
  for (int k = 0; k < n; j0 += sizes[k], k++) {
    double norm = 0.0;
    for (int j = j0; j < j0 + sizes[k]; j++) norm += g[j] * g[j];
    norm = sqrt(norm);
    double scale = norm > 1.0 ? 1.0 / norm : 1.0;
    clipped |= norm > 1.0;
    for (int j = j0; j < j0 + sizes[k]; j++) assert_close(x[j], scale * g[j], 1e-12, 1e-14);
  }
  assert_int_equal(m.clipped, clipped);
  cbrl_leader_free(L);
}

/* Clip groups clip each group of coordinates alone, as the paper's tax code clipped the income
   tax and the VAT; sizes that do not cover x are refused. */
static void clip_groups_clip_each_group_alone(void **state) {
  cbrl_problem *p = linear_problem();
  const int one_two[2] = {1, 2}, two_one[2] = {2, 1}, ones[3] = {1, 1, 1}, short_[2] = {1, 1};
  step_with_groups(p, 0, NULL);
  step_with_groups(p, 2, one_two); /* (1, 0.15, 0.2): only the first group binds */
  step_with_groups(p, 2, two_one);
  step_with_groups(p, 3, ones);
  cbrl_leader_opts o;
  leader_opts(&o, 1.0, CBRL_CLIP_PER_CONTEXT);
  o.n_clip_groups = 2;
  for (int k = 0; k < 2; k++) o.clip_group_size[k] = short_[k];
  cbrl_leader *L = NULL;
  assert_int_equal(cbrl_leader_create(&L, p, &o, NULL), CBRL_EINVAL);
  assert_null(L);
  cbrl_problem_free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(problem_matches_its_closed_form),
      cmocka_unit_test(per_context_clip_settles_at_the_clipped_fixed_point),
      cmocka_unit_test(unclipped_leader_reaches_the_optimum),
      cmocka_unit_test(average_and_growing_clips_reach_the_optimum),
      cmocka_unit_test(the_clip_reports_when_it_binds),
      cmocka_unit_test(clip_groups_clip_each_group_alone),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
