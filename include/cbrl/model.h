/* The CB-RL model (docs/MODEL.md, The CB-RL model): a leader parameter x, contexts, and
   per-context follower MDPs. */
#ifndef CBRL_MODEL_H
#define CBRL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "cbrl/export.h"
#include "cbrl/rng.h"

/* ---- The follower MDP of one context at one x ---------------------------- */

/* A tabular MDP M(x, xi): sparse transitions stored CSR-like by (s, a).
   Terminal states pay r(s, a) and have no continuation: their rows are ignored. */
typedef struct cbrl_mdp {
  int n_states;
  int n_actions;
  int64_t n_transitions;  /* stored (s, a, s') entries */
  unsigned char *terminal; /* n_states: 1 if terminal */
  int64_t *row;            /* n_states*n_actions + 1: entries of (s,a) are row[s*A+a] .. row[s*A+a+1]-1 */
  int32_t *next;           /* n_transitions: s' of each entry */
  double *prob;            /* n_transitions: P(s'|s,a) of each entry */
  double *r;               /* n_states x n_actions: follower reward */
  double *rbar;            /* n_states x n_actions: leader reward */
  double *mu;              /* n_states: initial distribution */
  unsigned long version;   /* bumped by cbrl_mdp_evaluate; bump it after editing prob by hand */
  void *scratch;           /* cbrl_problem.scratch_size bytes (NULL if 0), owned by m: the scratch
                              its problem's evaluate, vjp and reward_jacobian work in, so that no
                              call allocates; hence one MDP serves one thread at a time */
} cbrl_mdp;

/* Weights on the mechanism quantities whose x-derivatives are wanted: a problem's
   vjp adds  sum r_w*grad r + sum rbar_w*grad rbar + sum log_p_w*grad log P + sum log_mu_w*grad log mu.
   Any pointer may be NULL, meaning all zeros. */
typedef struct cbrl_cotangent {
  const double *r;      /* n_states x n_actions */
  const double *rbar;   /* n_states x n_actions */
  const double *log_p;  /* n_transitions, aligned with cbrl_mdp.next */
  const double *log_mu; /* n_states */
} cbrl_cotangent;

/* ---- Problems: how x and a context make an MDP --------------------------- */

typedef struct cbrl_problem cbrl_problem;

/* What a problem implements. Environments and users' own problems fill one of these.
   evaluate, vjp and reward_jacobian get `scratch`, cbrl_problem.scratch_size bytes aligned for
   double that the caller owns (the MDP's, through cbrl_mdp_evaluate, cbrl_mdp_vjp and
   cbrl_mdp_reward_jacobian); its contents are undefined on entry and need not survive the call. */
typedef struct cbrl_problem_ops {
  /* Number of stored transitions of a context (fixed for all x). */
  int64_t (*n_transitions)(const cbrl_problem *p, int context);
  /* Fills the x-independent part of m: terminal flags and the CSR pattern (row, next),
     and any values that do not depend on x. */
  int (*structure)(const cbrl_problem *p, int context, cbrl_mdp *m);
  /* Fills the x-dependent values of m: prob, r, rbar, mu. */
  int (*evaluate)(const cbrl_problem *p, int context, const double *x, cbrl_mdp *m, void *scratch);
  /* Adds the vector-Jacobian product of the cotangent (see cbrl_cotangent) to grad (dim). */
  int (*vjp)(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m,
             const cbrl_cotangent *ct, double *grad, void *scratch);
  /* Frees impl; may be NULL. */
  void (*destroy)(cbrl_problem *p);
  /* Optional, for forward-mode methods (AMD): writes the dense Jacobians grad r and grad rbar,
     each n_states x n_actions x dim with dim fastest; either pointer may be NULL. */
  int (*reward_jacobian)(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m,
                         double *jac_r, double *jac_rbar, void *scratch);
} cbrl_problem_ops;

/* Which mechanism quantities depend on x, so estimators can skip what is zero. */
#define CBRL_DEPENDS_R 0x1u
#define CBRL_DEPENDS_RBAR 0x2u
#define CBRL_DEPENDS_P 0x4u
#define CBRL_DEPENDS_MU 0x8u
#define CBRL_DEPENDS_ALL 0xFu
/* Not a dependence: the problem's evaluate checks its own transition rows (finite, non-negative,
   each summing to 1, else it fails), so cbrl_mdp_evaluate skips that pass over every entry. */
#define CBRL_ROWS_CHECKED 0x100u

/* A CB-RL problem: read-only once built. */
struct cbrl_problem {
  const cbrl_problem_ops *ops;
  void *impl;             /* the implementation's own data */
  int n_states;
  int n_actions;
  int dim;                /* d, the leader dimension */
  int n_contexts;
  double gamma;           /* follower discount */
  double leader_gamma;    /* leader discount */
  double lambda;          /* follower entropy temperature */
  double *context_weight; /* n_contexts, sums to 1 */
  unsigned flags;         /* CBRL_DEPENDS_*; cbrl_problem_create sets DEPENDS_ALL */
  char name[32];
  size_t scratch_size;    /* bytes of scratch the ops need per call, the same for every context;
                             0 (cbrl_problem_create's default) when they need none */
};

/* Allocates a problem with uniform context weights; the caller then sets discounts and temperature. */
CBRL_API int cbrl_problem_create(cbrl_problem **out, const cbrl_problem_ops *ops, void *impl,
                                 int n_states, int n_actions, int dim, int n_contexts);

/* Frees a problem and its implementation; NULL is allowed. */
CBRL_API void cbrl_problem_free(cbrl_problem *p);

/* Draws a context with probability context_weight (one uniform from rng; none when there is
   only one context): the draw every leader iteration and every sampled estimate makes. */
CBRL_API int cbrl_problem_draw_context(const cbrl_problem *p, cbrl_rng *rng);

/* Checks that sizes, discounts, temperature and context weights are valid. */
CBRL_API int cbrl_problem_validate(const cbrl_problem *p);

/* ---- MDP storage ---------------------------------------------------------- */

/* Allocates m for context `context` of p and fills its x-independent structure. */
CBRL_API int cbrl_mdp_init(cbrl_mdp *m, const cbrl_problem *p, int context);

/* Fills the x-dependent values of m and checks they are finite and normalised. */
CBRL_API int cbrl_mdp_evaluate(cbrl_mdp *m, const cbrl_problem *p, int context, const double *x);

/* Adds the problem's vector-Jacobian product of ct at x to grad (dim), in m's scratch; m is
   context `context` of p, evaluated at x. */
CBRL_API int cbrl_mdp_vjp(const cbrl_mdp *m, const cbrl_problem *p, int context, const double *x,
                          const cbrl_cotangent *ct, double *grad);

/* Writes the problem's dense reward Jacobians at x (see cbrl_problem_ops.reward_jacobian), in m's
   scratch; CBRL_ENOTSUP if the problem has none. */
CBRL_API int cbrl_mdp_reward_jacobian(const cbrl_mdp *m, const cbrl_problem *p, int context,
                                      const double *x, double *jac_r, double *jac_rbar);

/* Releases the storage of m. */
CBRL_API void cbrl_mdp_close(cbrl_mdp *m);

/* One Bellman backup q(s,a) = reward(s,a) + gamma sum_s' P(s'|s,a) v(s'); terminal rows get reward. */
CBRL_API void cbrl_mdp_backup(const cbrl_mdp *m, double gamma, const double *reward, const double *v,
                              double *q);

#endif /* CBRL_MODEL_H */
