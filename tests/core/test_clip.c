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

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(problem_matches_its_closed_form),
      cmocka_unit_test(per_context_clip_settles_at_the_clipped_fixed_point),
      cmocka_unit_test(unclipped_leader_reaches_the_optimum),
      cmocka_unit_test(average_and_growing_clips_reach_the_optimum),
      cmocka_unit_test(the_clip_reports_when_it_binds),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
