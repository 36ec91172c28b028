/* Exact leader objective F(x) and its hypergradient (docs/MODEL.md 3),
   computed in adjoint mode. */
#ifndef CBRL_EXACT_H
#define CBRL_EXACT_H

#include "cbrl/export.h"
#include "cbrl/model.h"
#include "cbrl/soft_solver.h"

/* Workspace for exact evaluation: one MDP, follower solver and leader tables per context,
   all warm-started across calls. */
typedef struct cbrl_exact cbrl_exact;

/* Creates the workspace for a problem; p must outlive it. */
CBRL_API int cbrl_exact_create(cbrl_exact **out, const cbrl_problem *p);

/* Frees the workspace; NULL is allowed. */
CBRL_API void cbrl_exact_free(cbrl_exact *e);

/* Forgets every warm start, so the next call computes from scratch. */
CBRL_API void cbrl_exact_reset(cbrl_exact *e);

/* Sets the follower solver options of every context. */
CBRL_API void cbrl_exact_set_opts(cbrl_exact *e, const cbrl_soft_opts *o);

/* Sets every context's cancellation flag (cbrl_soft_opts.cancel; NULL: never canceled): once
   *cancel is nonzero, calls on e return CBRL_ECANCELED at the next Newton step or Krylov restart. */
CBRL_API void cbrl_exact_set_cancel(cbrl_exact *e, const volatile int *cancel);

/* Computes f(x, pi*_{x,xi}, xi) of one context and, if grad (dim) is non-NULL, its gradient:
   cbrl_exact_set_x, cbrl_exact_respond and cbrl_exact_value in one call. */
CBRL_API int cbrl_exact_context(cbrl_exact *e, int context, const double *x, double *f, double *grad);

/* ---- The same in steps, for callers that act between them (the leader's follower) ---- */

/* Evaluates the MDP of a context at x (cbrl_exact_mdp returns it), for the two calls below. */
CBRL_API int cbrl_exact_set_x(cbrl_exact *e, int context, const double *x);

/* Computes the best response of a context at the x of its last cbrl_exact_set_x, warm-started;
   cbrl_exact_follower then holds it. Returns 0, CBRL_ENOCONV or an error. */
CBRL_API int cbrl_exact_respond(cbrl_exact *e, int context);

/* Computes f and, if grad (dim) is non-NULL, its gradient from the context's last best response,
   without solving again; CBRL_EINVAL if there is none since the last cbrl_exact_set_x. f is the
   problem's objective (docs/MODEL.md 3.1), the discounted leader reward by default. */
CBRL_API int cbrl_exact_value(cbrl_exact *e, int context, double *f, double *grad);

/* Computes F(x) = sum_xi q_xi f; f_context (n_contexts) and grad (dim) may be NULL. */
CBRL_API int cbrl_exact_evaluate(cbrl_exact *e, const double *x, double *F, double *f_context,
                                 double *grad);

/* Returns the follower of a context as left by the last call (policy, Q*, V*, statistics). */
CBRL_API const cbrl_soft_solver *cbrl_exact_follower(const cbrl_exact *e, int context);

/* Returns the statistics of a context's last call: the best response's Newton steps and
   residual, with the matrix-vector products and solves of every linear solve added. */
CBRL_API const cbrl_soft_stats *cbrl_exact_stats(const cbrl_exact *e, int context);

/* Returns the MDP of a context at the x of the last call. */
CBRL_API const cbrl_mdp *cbrl_exact_mdp(const cbrl_exact *e, int context);

/* Returns the leader's value Vbar (n_states) of a context at the x of the last call (for the
   default objective only, as is cbrl_exact_occupancy). */
CBRL_API const double *cbrl_exact_leader_value(const cbrl_exact *e, int context);

/* Returns the leader-discounted occupancy d (n_states) of the last gradient call. */
CBRL_API const double *cbrl_exact_occupancy(const cbrl_exact *e, int context);

#endif /* CBRL_EXACT_H */
