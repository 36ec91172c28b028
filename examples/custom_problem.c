/* A complete CB-RL problem written in C through the public API, optimised with HPGD.

   A platform (the leader) pays a bonus x[0] to drivers (followers) who wait at the airport
   instead of cruising downtown; it also pays x[1] to make the airport queue shorter, which
   changes how fast a waiting driver is served. The platform wants drivers at the airport on
   busy days (context 1) but pays for every bonus it hands out.

   States: 0 downtown, 1 airport queue, 2 serving a ride (terminal).
   Actions: 0 stay, 1 move.

   Build against an installed cbrl:
     cc custom_problem.c $(pkg-config --cflags --libs cbrl) -lm -o custom_problem
   or with CMake: find_package(cbrl) and target_link_libraries(... cbrl::cbrl). */
#include <cbrl/cbrl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { DOWNTOWN, AIRPORT, RIDE, N_STATES };
enum { STAY, MOVE, N_ACTIONS };

/* P(ride | airport, stay) = sigmoid(-1 + x[1] + busy): the queue-shortening payment acts on
   the dynamics, so HPGD needs grad log P, which the vjp below supplies. */
static double serve_probability(const double *x, int busy) { return 1.0 / (1.0 + exp(1.0 - x[1] - busy)); }

static int64_t n_transitions(const cbrl_problem *p, int context) { return 5; }

static int structure(const cbrl_problem *p, int context, cbrl_mdp *m) {
  /* (downtown, stay) -> downtown; (downtown, move) -> airport;
     (airport, stay) -> ride or airport; (airport, move) -> downtown; ride is terminal. */
  static const int64_t row[7] = {0, 1, 2, 4, 5, 5, 5};
  static const int32_t next[5] = {DOWNTOWN, AIRPORT, RIDE, AIRPORT, DOWNTOWN};
  for (int i = 0; i < 7; i++) m->row[i] = row[i];
  for (int k = 0; k < 5; k++) m->next[k] = next[k];
  m->terminal[RIDE] = 1;
  return 0;
}

static int evaluate(const cbrl_problem *p, int context, const double *x, cbrl_mdp *m, void *scratch) {
  double q = serve_probability(x, context);
  m->prob[0] = m->prob[1] = m->prob[4] = 1.0;
  m->prob[2] = q;
  m->prob[3] = 1.0 - q;
  for (int i = 0; i < N_STATES * N_ACTIONS; i++) m->r[i] = m->rbar[i] = 0.0;
  m->r[DOWNTOWN * N_ACTIONS + STAY] = 0.15;         /* cruising pays a little, every step */
  m->r[AIRPORT * N_ACTIONS + STAY] = x[0];          /* the waiting bonus */
  m->r[RIDE * N_ACTIONS + STAY] = m->r[RIDE * N_ACTIONS + MOVE] = 1.0;
  double value = context ? 2.0 : 0.5;               /* a served airport ride is worth more on busy days */
  m->rbar[AIRPORT * N_ACTIONS + STAY] = -x[0] * x[0] - 0.5 * x[1] * x[1]; /* cost of the payments */
  m->rbar[RIDE * N_ACTIONS + STAY] = m->rbar[RIDE * N_ACTIONS + MOVE] = value;
  m->mu[DOWNTOWN] = 1.0;
  return 0;
}

/* grad += sum of cotangent weights times the derivatives of r, rbar and log P. */
static int vjp(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m,
               const cbrl_cotangent *ct, double *grad, void *scratch) {
  int wait = AIRPORT * N_ACTIONS + STAY;
  if (ct->r) grad[0] += ct->r[wait];
  if (ct->rbar) grad[0] += ct->rbar[wait] * -2.0 * x[0], grad[1] += ct->rbar[wait] * -x[1];
  if (ct->log_p) {
    double q = serve_probability(x, context);
    /* d log q / d x1 = 1 - q;  d log (1 - q) / d x1 = -q. */
    grad[1] += ct->log_p[2] * (1.0 - q) + ct->log_p[3] * -q;
  }
  return 0;
}

static const cbrl_problem_ops ops = {n_transitions, structure, evaluate, vjp, NULL, NULL, NULL, NULL};

int main(void) {
  if (cbrl_version() != CBRL_VERSION_HEX) {
    fprintf(stderr, "header %s but library %s\n", CBRL_VERSION_STRING, cbrl_version_string());
    return 1;
  }
  cbrl_problem *p;
  int err = cbrl_problem_create(&p, &ops, NULL, N_STATES, N_ACTIONS, 2, 2);
  if (err) return fprintf(stderr, "%s\n", cbrl_strerror(err)), 1;
  p->gamma = p->leader_gamma = 0.9;
  p->lambda = 0.2;
  p->context_weight[0] = 0.7, p->context_weight[1] = 0.3; /* 30 % of days are busy */

  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  o.algorithm = CBRL_ALG_HPGD_BATCH;
  o.learning_rate = 0.05;
  o.hpgd.steps = 2000;
  o.hpgd.streams = 4;
  o.hpgd.max_steps = 100;
  cbrl_leader *L;
  double x0[2] = {0.0, 0.0};
  if ((err = cbrl_leader_create(&L, p, &o, x0))) return fprintf(stderr, "%s\n", cbrl_strerror(err)), 1;
  for (int t = 1; t <= 2000 && !err; t++) {
    cbrl_leader_metrics m;
    err = cbrl_leader_step(L, t == 1 || t % 500 == 0, &m);
    if (!err && (t == 1 || t % 500 == 0))
      printf("iteration %4d  F = %.4f  bonus x0 = %+.3f  queue payment x1 = %+.3f\n", t, m.F, cbrl_leader_x(L)[0],
             cbrl_leader_x(L)[1]);
  }
  if (err) fprintf(stderr, "%s\n", cbrl_strerror(err));
  cbrl_leader_free(L);
  cbrl_problem_free(p);
  return err ? 1 : 0;
}
