/* The CB-RL model (docs/MODEL.md 1): a leader parameter x, contexts, and
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
  int rows_contiguous;     /* 1 when the problem declares CBRL_ROWS_CONTIGUOUS and cbrl_mdp_init
                              found every row a run of consecutive states (it then fills
                              row_first); 0 otherwise. An MDP built by hand leaves it 0 */
  int32_t *row_first;      /* n_states x n_actions when rows_contiguous, else NULL: each row's
                              first state next[row[sa]] (0 for an empty row), so that the
                              contiguous paths read 100 KB instead of touching next per row */
  unsigned char *shifted;  /* n_states x n_actions or NULL (CBRL_ROWS_SHIFTED): 1 where the
                              problem's evaluate found row (s, a) to be row (s - 1, a) moved up one
                              state: the same length and bitwise the same probabilities */
  unsigned long shifted_version; /* the version and prob array shifted describes (set by */
  const double *shifted_prob;    /* cbrl_mdp_evaluate); any other, and it is ignored */
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
  /* Optional, for the critic estimator (docs/MODEL.md 4.1c): features of (s, a) in which the
     leader's Qbar is linear, as cbrl_problem.n_features long vectors with at most
     cbrl_problem.feature_nnz non-zeros: writes their indices and values and returns the count,
     and in *known the part of Qbar the problem knows exactly (0 if none), so that
     Qbar(s,a) ~ known + sum_k value_k theta_index_k. m is the context's MDP at x. */
  int (*features)(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m, int s, int a,
                  int *index, double *value, double *known);
  /* Optional, for estimators that need one transition's score (the paper-code variant,
     docs/MODEL.md 4.1d): writes grad log P of stored entry k of row (s, a) into score (dim). */
  int (*log_p_score)(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m, int s, int a,
                     int64_t k, double *score);
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
/* Not a dependence: every row (s, a) is a run of consecutive states in increasing order,
   next[row[sa] + i] = next[row[sa]] + i (the tax grid's rows). cbrl_mdp_init verifies it and sets
   cbrl_mdp.rows_contiguous; backups and Markov-matrix builds over such an MDP then read each row
   as a dense slice (vector products, no index loads) with the same bits as the general loops. */
#define CBRL_ROWS_CONTIGUOUS 0x200u
/* Not a dependence: with CBRL_ROWS_CONTIGUOUS, the problem's evaluate also writes
   cbrl_mdp.shifted (every entry, 0 or 1), which cbrl_mdp_init allocates. Backups then take the
   sums of a run of shifted rows as a correlation with the run's first row, with the same bits,
   without streaming the copies. */
#define CBRL_ROWS_SHIFTED 0x400u

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
  int n_features;         /* length of ops->features' vectors (0: no features) */
  int feature_nnz;        /* at most this many of them non-zero per (s, a) */
  /* The leader's objective and x's box (docs/MODEL.md 3.1, 1.1): NULL means the discounted
     leader reward and an unbounded x. Owned by the problem (cbrl/objective.h, cbrl/bounds.h). */
  struct cbrl_objective *objective;
  double *x_lower; /* dim, entries may be -INFINITY; NULL: no bounds */
  double *x_upper; /* dim, entries may be +INFINITY; set with x_lower */
};

/* Allocates a problem with uniform context weights; the caller then sets discounts and temperature. */
CBRL_API int cbrl_problem_create(cbrl_problem **out, const cbrl_problem_ops *ops, void *impl,
                                 int n_states, int n_actions, int dim, int n_contexts);

/* Frees a problem and its implementation; NULL is allowed. */
CBRL_API void cbrl_problem_free(cbrl_problem *p);

/* Draws a context with probability context_weight (one uniform from rng; none when there is
   only one context): the draw every leader iteration and every sampled estimate makes. */
CBRL_API int cbrl_problem_draw_context(const cbrl_problem *p, cbrl_rng *rng);

/* Checks that sizes, discounts, temperature and context weights are valid: a discount must
   lie in [0, cbrl_discount_max(n_states)], a usable tolerance being reachable at it. */
CBRL_API int cbrl_problem_validate(const cbrl_problem *p);

/* The coarsest relative accuracy (of max|Q| or max|V|) a follower solve or policy evaluation
   may end at; a discount at which double precision cannot reach it is refused. */
#define CBRL_USABLE_TOL 1e-6

/* The relative accuracy double precision allows a solve or evaluation at discount gamma over
   n_states states: 16 eps sqrt(n_states) / (1 - gamma) (rounding of a linear solve's residual,
   amplified by 1 / (1 - gamma)); +Inf for gamma >= 1. */
CBRL_API double cbrl_discount_floor(double gamma, int n_states);

/* The largest discount at which a solve over n_states states is accurate to CBRL_USABLE_TOL:
   1 - max(16 eps sqrt(n_states) / CBRL_USABLE_TOL, sqrt(eps / CBRL_USABLE_TOL)), the second
   for the measured error of about eps / (1 - gamma)^2; 1 - 1.49e-5 up to 1.7e7 states. */
CBRL_API double cbrl_discount_max(int n_states);

/* ---- Memory bounds ------------------------------------------------------------
   Sizes are estimated and compared with a limit before anything large is allocated, so that a
   problem too big for the machine fails with CBRL_ETOOBIG and a message naming both numbers
   instead of being killed by the kernel. Estimates are in bytes, as doubles (no overflow). */

/* The share of physical memory the default limit allows. */
#define CBRL_MEMORY_FRACTION 0.5

/* The default limit: CBRL_MEMORY_FRACTION of physical memory (sysconf), or 4 GiB if unknown. */
CBRL_API double cbrl_memory_limit_default(void);

/* The limit the library checks against: the value last given to cbrl_memory_limit_set, else
   the default. Process-wide, like an allocator hook; set it before creating objects. */
CBRL_API double cbrl_memory_limit(void);

/* Sets the limit in bytes (0 or less: back to the default). */
CBRL_API void cbrl_memory_limit_set(double bytes);

/* Writes bytes as "1.5 GiB" (or MiB, KiB, B) into buf. */
CBRL_API const char *cbrl_memory_format(double bytes, char *buf, size_t size);

/* Parses "1000", "512M", "2G", "1.5GiB", "64k" (powers of 1024) into bytes; 0 or CBRL_EPARSE. */
CBRL_API int cbrl_memory_parse(const char *text, double *bytes);

/* 0 if need bytes fit in cbrl_memory_limit(), else CBRL_ETOOBIG and "WHAT: need about X, above
   the memory limit of Y (--max-memory)" in err. */
CBRL_API int cbrl_memory_check(double need, const char *what, char *err, size_t size);

/* The shape of a problem, enough to estimate its memory before it is built. */
typedef struct cbrl_problem_shape {
  double n_states, n_actions, dim, n_contexts;
  double n_transitions; /* stored transitions per context (at least n_states x n_actions) */
} cbrl_problem_shape;

/* Bytes a tabular problem of this shape takes with what every command builds on it: its
   storage, one MDP, soft solver and exact workspace per context (docs/RELIABILITY.md). */
CBRL_API double cbrl_problem_memory_estimate(const cbrl_problem_shape *shape);

/* The shape of a built problem (its largest context's transitions). */
CBRL_API void cbrl_problem_shape_of(const cbrl_problem *p, cbrl_problem_shape *shape);

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

/* One Bellman backup q(s,a) = reward(s,a) + gamma sum_s' P(s'|s,a) v(s'); terminal rows get reward.
   Each row's sum is one serial chain in entry order (faster, with the same bits, when
   m->rows_contiguous: see CBRL_ROWS_CONTIGUOUS). */
CBRL_API void cbrl_mdp_backup(const cbrl_mdp *m, double gamma, const double *reward, const double *v,
                              double *q);

#endif /* CBRL_MODEL_H */
