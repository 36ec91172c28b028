/* Exact hypergradient (docs/MODEL.md 3), in adjoint mode. With u(s,a) = d(s) pi(a|s) and
   w(s,a) = u(s,a) Abar(s,a) / lam, the response term sum_{s,a} w gA equals sum_{s,a} z c,
   where z = w + gamma pi (P^T z) is the adjoint of G's fixed point and
   c = grad r + gamma grad log P V*. Writing z = w + gamma pi m, m solves the state-level
   system (I - gamma P_pi)^T m = P^T w. So the gradient costs three scalar linear solves
   (Vbar, d, m) after the best response, and one vjp of the mechanism, whatever d is. */
#include "cbrl/exact.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "cbrl/objective.h"

typedef struct exact_context {
  cbrl_mdp mdp;
  cbrl_soft_solver follower;
  double *vbar;      /* n_states: leader value */
  double *qbar;      /* n_states x n_actions: leader Q, then the r-cotangent z */
  double *occupancy; /* n_states */
  double *adjoint;   /* n_states: m */
  double *b;         /* n_states scratch */
  double *w_rbar;    /* n_states x n_actions */
  double *w_log_p;   /* n_transitions */
  double *w_log_mu;  /* n_states */
  double *ct_r;      /* n_states x n_actions: a general objective's r-cotangent (else NULL) */
  void *objective_scratch; /* the objective's scratch_size bytes (else NULL) */
  cbrl_soft_stats stats; /* best response, plus the products of every later solve */
  double *x;             /* dim: the x of the last set_x */
  int have_x;
  int solved;            /* 1 once the best response at that x is computed */
  int respond_status;    /* its status, for value to combine */
} exact_context;

struct cbrl_exact {
  const cbrl_problem *problem;
  exact_context *ctx;
  double *grad_context; /* dim scratch */
};

static void context_close(exact_context *c) {
  cbrl_mdp_close(&c->mdp);
  cbrl_soft_solver_close(&c->follower);
  free(c->vbar);
  free(c->qbar);
  free(c->occupancy);
  free(c->adjoint);
  free(c->b);
  free(c->w_rbar);
  free(c->w_log_p);
  free(c->w_log_mu);
  free(c->ct_r);
  free(c->objective_scratch);
  free(c->x);
}

void cbrl_exact_free(cbrl_exact *e) {
  if (!e) return;
  for (int k = 0; k < e->problem->n_contexts && e->ctx; k++) context_close(&e->ctx[k]);
  free(e->ctx);
  free(e->grad_context);
  free(e);
}

int cbrl_exact_create(cbrl_exact **out, const cbrl_problem *p) {
  if (!out) return CBRL_EINVAL;
  int err = cbrl_problem_validate(p);
  if (err) return err;
  cbrl_exact *e = calloc(1, sizeof *e);
  if (!e) return CBRL_ENOMEM;
  e->problem = p;
  e->ctx = calloc((size_t)p->n_contexts, sizeof *e->ctx);
  e->grad_context = calloc((size_t)p->dim, sizeof(double));
  if (!e->ctx || !e->grad_context) {
    cbrl_exact_free(e);
    return CBRL_ENOMEM;
  }
  size_t S = (size_t)p->n_states, SA = S * p->n_actions;
  for (int k = 0; k < p->n_contexts; k++) {
    exact_context *c = &e->ctx[k];
    if ((err = cbrl_mdp_init(&c->mdp, p, k))) goto fail;
    if ((err = cbrl_soft_solver_init(&c->follower, p->n_states, p->n_actions))) goto fail;
    size_t nnz = c->mdp.n_transitions ? (size_t)c->mdp.n_transitions : 1;
    c->vbar = calloc(S, sizeof(double));
    c->qbar = calloc(SA, sizeof(double));
    c->occupancy = calloc(S, sizeof(double));
    c->adjoint = calloc(S, sizeof(double));
    c->b = calloc(S, sizeof(double));
    c->w_rbar = calloc(SA, sizeof(double));
    c->w_log_p = calloc(nnz, sizeof(double));
    c->w_log_mu = calloc(S, sizeof(double));
    c->x = calloc((size_t)p->dim, sizeof(double));
    if (!c->x || !c->vbar || !c->qbar || !c->occupancy || !c->adjoint || !c->b || !c->w_rbar || !c->w_log_p ||
        !c->w_log_mu) {
      err = CBRL_ENOMEM;
      goto fail;
    }
    if (p->objective) {
      c->ct_r = calloc(SA, sizeof(double));
      c->objective_scratch = calloc(p->objective->scratch_size ? p->objective->scratch_size : 1, 1);
      if (!c->ct_r || !c->objective_scratch) {
        err = CBRL_ENOMEM;
        goto fail;
      }
    }
  }
  *out = e;
  return 0;
fail:
  cbrl_exact_free(e);
  return err;
}

void cbrl_exact_reset(cbrl_exact *e) {
  for (int k = 0; k < e->problem->n_contexts; k++) {
    exact_context *c = &e->ctx[k];
    size_t S = (size_t)e->problem->n_states;
    cbrl_soft_solver_reset(&c->follower);
    memset(c->vbar, 0, S * sizeof(double));
    memset(c->occupancy, 0, S * sizeof(double));
    memset(c->adjoint, 0, S * sizeof(double));
    if (c->objective_scratch) memset(c->objective_scratch, 0, e->problem->objective->scratch_size);
  }
}

void cbrl_exact_set_opts(cbrl_exact *e, const cbrl_soft_opts *o) {
  for (int k = 0; k < e->problem->n_contexts; k++) e->ctx[k].follower.opts = *o;
}

void cbrl_exact_set_cancel(cbrl_exact *e, const volatile int *cancel) {
  for (int k = 0; k < e->problem->n_contexts; k++) e->ctx[k].follower.opts.cancel = cancel;
}

/* Keeps the worst code: a non-finite value beats a cancellation, which beats non-convergence. */
static int worse(int a, int b) {
  if (a == CBRL_ENONFINITE || b == CBRL_ENONFINITE) return CBRL_ENONFINITE;
  if (a == CBRL_ECANCELED || b == CBRL_ECANCELED) return CBRL_ECANCELED;
  return a ? a : b;
}

static void add_stats(exact_context *c, const cbrl_soft_solver *w) {
  c->stats.linear_iterations += w->stats.linear_iterations;
  c->stats.linear_solves += w->stats.linear_solves;
  c->stats.nonfinite |= w->stats.nonfinite;
  c->stats.converged &= w->stats.converged;
}

int cbrl_exact_context(cbrl_exact *e, int context, const double *x, double *f, double *grad) {
  int err = cbrl_exact_set_x(e, context, x);
  if (err) return err;
  int status = cbrl_exact_respond(e, context);
  if (status && status != CBRL_ENOCONV) return status;
  return cbrl_exact_value(e, context, f, grad);
}

int cbrl_exact_set_x(cbrl_exact *e, int context, const double *x) {
  if (!e || !x || context < 0 || context >= e->problem->n_contexts) return CBRL_EINVAL;
  exact_context *c = &e->ctx[context];
  c->solved = 0;
  c->have_x = 0;
  memcpy(c->x, x, sizeof(double) * (size_t)e->problem->dim);
  int err = cbrl_mdp_evaluate(&c->mdp, e->problem, context, x);
  c->have_x = !err;
  return err;
}

int cbrl_exact_respond(cbrl_exact *e, int context) {
  if (!e || context < 0 || context >= e->problem->n_contexts || !e->ctx[context].have_x) return CBRL_EINVAL;
  const cbrl_problem *p = e->problem;
  exact_context *c = &e->ctx[context];
  int status = cbrl_soft_solver_solve(&c->follower, &c->mdp, p->gamma, p->lambda);
  c->stats = c->follower.stats;
  c->solved = status == 0 || status == CBRL_ENOCONV;
  c->respond_status = status;
  return status;
}

/* Solves the adjoint system of docs/MODEL.md 3: b = P^T h over non-terminal rows, then
   (I - gam P_pi)^T adjoint = b; counts the solver's work; returns the worse of status and the
   solve's code. */
static int adjoint_solve(exact_context *c, cbrl_soft_solver *w, const cbrl_mdp *m, double gam, const double *h,
                         int status) {
  int S = m->n_states, A = m->n_actions;
  memset(c->b, 0, sizeof(double) * (size_t)S);
  for (int s = 0; s < S; s++) {
    if (m->terminal[s]) continue;
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++) c->b[m->next[k]] += m->prob[k] * h[sa];
    }
  }
  status = worse(status, cbrl_soft_solver_occupancy(w, m, gam, c->b, c->adjoint));
  add_stats(c, w);
  return status;
}

/* A general objective (docs/MODEL.md 3.1): grad f = df/dx + sum_{s,a} df/dpi pi gA / lam. The
   objective gives df/dlog pi = pi df/dpi =: h and its partials at fixed pi; the response term is
   the default's with w = (h - pi sum_b h(s,b)) / lam (centred, since gA is), turned into the
   r- and log P-cotangents z and gam z V* by the same adjoint solve. */
static int objective_value(cbrl_exact *e, int context, double *f, double *grad) {
  const cbrl_problem *p = e->problem;
  const cbrl_objective *obj = p->objective;
  exact_context *c = &e->ctx[context];
  cbrl_mdp *m = &c->mdp;
  cbrl_soft_solver *w = &c->follower;
  int S = p->n_states, A = p->n_actions;
  size_t SA = (size_t)S * A, nnz = (size_t)m->n_transitions;
  double lam = p->lambda, gam = p->gamma;
  int status = c->respond_status;
  if (!c->ct_r) return CBRL_EINVAL; /* the objective was set after this workspace was made */
  cbrl_objective_input in = {p, context, c->x, m, w, c->objective_scratch};
  cbrl_objective_output out = {0};
  if (grad) {
    memset(grad, 0, sizeof(double) * (size_t)p->dim);
    memset(c->qbar, 0, SA * sizeof(double));
    memset(c->ct_r, 0, SA * sizeof(double));
    memset(c->w_rbar, 0, SA * sizeof(double));
    memset(c->w_log_p, 0, (nnz ? nnz : 1) * sizeof(double));
    memset(c->w_log_mu, 0, (size_t)S * sizeof(double));
    out = (cbrl_objective_output){0.0, grad, c->qbar, c->ct_r, c->w_rbar, c->w_log_p, c->w_log_mu};
  }
  status = worse(status, obj->ops->evaluate(obj, &in, &out));
  add_stats(c, w);
  if (status && status != CBRL_ENOCONV) return status;
  if (!isfinite(out.f)) return CBRL_ENONFINITE;
  if (f) *f = out.f;
  if (!grad) return status;
  double *h = c->qbar;
  for (int s = 0; s < S; s++) {
    double sum = 0.0;
    for (int a = 0; a < A; a++) sum += h[(size_t)s * A + a];
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      h[sa] = (h[sa] - w->pi[sa] * sum) / lam;
    }
  }
  status = adjoint_solve(c, w, m, gam, h, status);
  if (status == CBRL_ENONFINITE || status == CBRL_ECANCELED) return status;
  for (int s = 0; s < S; s++)
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      double z = h[sa] + gam * w->pi[sa] * c->adjoint[s];
      c->ct_r[sa] += z;
      if (m->terminal[s]) continue;
      for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++) c->w_log_p[k] += m->prob[k] * gam * z * w->v[m->next[k]];
    }
  cbrl_cotangent ct = {c->ct_r, c->w_rbar, c->w_log_p, c->w_log_mu};
  int err = cbrl_mdp_vjp(m, p, context, c->x, &ct, grad);
  if (err) return err;
  for (int j = 0; j < p->dim; j++)
    if (!isfinite(grad[j])) return CBRL_ENONFINITE;
  return status;
}

int cbrl_exact_value(cbrl_exact *e, int context, double *f, double *grad) {
  if (!e || context < 0 || context >= e->problem->n_contexts || !e->ctx[context].solved) return CBRL_EINVAL;
  if (e->problem->objective) return objective_value(e, context, f, grad);
  const cbrl_problem *p = e->problem;
  exact_context *c = &e->ctx[context];
  const double *x = c->x;
  cbrl_mdp *m = &c->mdp;
  cbrl_soft_solver *w = &c->follower;
  int S = p->n_states, A = p->n_actions;
  double lam = p->lambda, gam = p->gamma, gamL = p->leader_gamma;
  int err, status = c->respond_status;
  /* Leader value Vbar under pi*, with the leader's discount. */
  status = worse(status, cbrl_soft_solver_evaluate(w, m, gamL, m->rbar, c->vbar));
  add_stats(c, w);
  if (status == CBRL_ENONFINITE || status == CBRL_ECANCELED) return status;
  double value = 0.0;
  for (int s = 0; s < S; s++) value += m->mu[s] * c->vbar[s];
  if (f) *f = value;
  if (!grad) return status;

  memset(grad, 0, sizeof(double) * (size_t)p->dim);
  status = worse(status, cbrl_soft_solver_occupancy(w, m, gamL, m->mu, c->occupancy));
  add_stats(c, w);
  if (status == CBRL_ENONFINITE || status == CBRL_ECANCELED) return status;
  /* Abar = Qbar - Vbar; w = d pi Abar / lam, centred per state (sum_a pi Abar = 0 exactly
     only at the solver's tolerance). Store w in qbar. */
  cbrl_mdp_backup(m, gamL, m->rbar, c->vbar, c->qbar);
  for (int s = 0; s < S; s++) {
    double mean = 0.0;
    for (int a = 0; a < A; a++) mean += w->pi[s * A + a] * c->qbar[s * A + a];
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      double u = c->occupancy[s] * w->pi[sa];
      c->w_rbar[sa] = u;
      c->qbar[sa] = u * (c->qbar[sa] - mean) / lam;
    }
  }
  /* b = P^T w over non-terminal rows; then (I - gam P_pi)^T m = b. */
  status = adjoint_solve(c, w, m, gam, c->qbar, status);
  if (status == CBRL_ENONFINITE || status == CBRL_ECANCELED) return status;
  /* z = w + gam pi m (in qbar); cotangents of log P: P_k (gamL u Vbar(s') + gam z V*(s')). */
  for (int s = 0; s < S; s++) {
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      double z = c->qbar[sa] + gam * w->pi[sa] * c->adjoint[s];
      c->qbar[sa] = z;
      for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++) {
        int32_t t = m->next[k];
        c->w_log_p[k] =
            m->terminal[s] ? 0.0 : m->prob[k] * (gamL * c->w_rbar[sa] * c->vbar[t] + gam * z * w->v[t]);
      }
    }
    c->w_log_mu[s] = m->mu[s] * c->vbar[s];
  }
  cbrl_cotangent ct = {c->qbar, c->w_rbar, c->w_log_p, c->w_log_mu};
  err = cbrl_mdp_vjp(m, p, context, x, &ct, grad);
  if (err) return err;
  for (int j = 0; j < p->dim; j++)
    if (!isfinite(grad[j])) return CBRL_ENONFINITE;
  return status;
}

int cbrl_exact_evaluate(cbrl_exact *e, const double *x, double *F, double *f_context, double *grad) {
  if (!e || !x) return CBRL_EINVAL;
  const cbrl_problem *p = e->problem;
  double total = 0.0;
  double *g = grad ? e->grad_context : NULL;
  int status = 0;
  if (grad) memset(grad, 0, sizeof(double) * (size_t)p->dim);
  for (int k = 0; k < p->n_contexts; k++) {
    double f = 0.0;
    int err = cbrl_exact_context(e, k, x, &f, g);
    if (err && err != CBRL_ENOCONV) return err;
    status = worse(status, err);
    if (f_context) f_context[k] = f;
    total += p->context_weight[k] * f;
    if (g)
      for (int j = 0; j < p->dim; j++) grad[j] += p->context_weight[k] * g[j];
  }
  if (F) *F = total;
  return status;
}

const cbrl_soft_solver *cbrl_exact_follower(const cbrl_exact *e, int context) {
  return &e->ctx[context].follower;
}

const cbrl_mdp *cbrl_exact_mdp(const cbrl_exact *e, int context) { return &e->ctx[context].mdp; }

const double *cbrl_exact_leader_value(const cbrl_exact *e, int context) {
  return e->ctx[context].vbar;
}

const double *cbrl_exact_occupancy(const cbrl_exact *e, int context) {
  return e->ctx[context].occupancy;
}

const cbrl_soft_stats *cbrl_exact_stats(const cbrl_exact *e, int context) {
  return &e->ctx[context].stats;
}
