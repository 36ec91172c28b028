/* The Python package's C shim (python/cbrl/_shim.c, built as libcbrl_py): a flat ABI over
   libcbrl and libcbrl_run. Every argument is a number, a string, a pointer to numbers or an
   opaque handle, so the Python side mirrors no struct: cffi reads the declarations between the
   CDEF markers from this very file (python/cbrl/_ffi.py), and no layout can drift from the
   headers. A handle's type is the library's own (cbrl_problem, cbrl_exact, ...), opaque here. */
#ifndef CBRL_PY_SHIM_H
#define CBRL_PY_SHIM_H

#include <stddef.h>
#include <stdint.h>

/* CDEF-BEGIN */
typedef struct cbrl_problem cbrl_problem;
typedef struct cbrl_mdp cbrl_mdp;
typedef struct cbrl_exact cbrl_exact;
typedef struct cbrl_follower cbrl_follower;
typedef struct cbrl_simulator cbrl_simulator;
typedef struct cbrl_leader cbrl_leader;
typedef struct cbrl_leader_opts cbrl_leader_opts;
typedef struct cbrl_config cbrl_config;
typedef struct cbrl_rng cbrl_rng;
typedef struct cbrl_contract_opts cbrl_contract_opts;
typedef struct cbrl_optimal_tax_opts cbrl_optimal_tax_opts;

/* The shim's ABI version: bumped whenever a declaration below changes. */
int cbrl_py_abi_version(void);

/* The library's version string ("0.1.0"). */
const char *cbrl_py_version(void);

/* cbrl_strerror of a code. */
const char *cbrl_py_strerror(int code);
/* cbrl_err_name of a code ("CBRL_EINVAL"). */
const char *cbrl_py_err_name(int code);

/* ---- problems ---- */

/* The registry's environment names, comma-separated. */
const char *cbrl_py_env_names(void);

/* 1 if environment env reads config field `field`, 0 if not, -1 for an unknown env. */
int cbrl_py_env_takes(const char *env, const char *field);

/* The id of a simulator name, or -1. */
int cbrl_py_simulator_id(const char *name);

/* Builds environment env's problem through the registry (simulator is an id); a NaN beta or a
   negative number leaves that option at the registry's default, a NULL preferences (a
   cbrl-preferences-1 file for rlhf and rlhf-dpo) the generated pairs. */
int cbrl_py_env_problem(const char *env, const char *problem, const char *preferences, double beta, int simulator,
                        long tax_bins, long states, long actions, long dim, long contexts, long branch,
                        long problem_seed, cbrl_problem **out, char *err, size_t err_size);

/* 1 if env has a leader start of its own (tax design: every rate 0.3), 0 if not, -1 if unknown. */
int cbrl_py_env_has_default_x(const char *env);

/* Writes env's default leader start for p into x (p's dim values). */
int cbrl_py_env_default_x(const char *env, const cbrl_problem *p, double *x);

/* Loads a cbrl-tabular-1 problem file. */
int cbrl_py_tabular_load(const char *path, cbrl_problem **out, char *err, size_t err_size);

/* Loads a problem file and how its contexts were made (docs/PROBLEM_FILES.md, theta): ints (4)
   get sampled (0: listed contexts, 1: a theta section), the rule (0 quadrature, 1 sample), the
   templates and the nodes per template; theta and weights (room for max_nodes each) the values
   of theta and their weights when sampled. */
int cbrl_py_tabular_load_info(const char *path, cbrl_problem **out, int *ints, double *theta, double *weights,
                              int max_nodes, char *err, size_t err_size);

/* The standard error of F over a problem whose n_templates x n_nodes contexts are templates at
   common draws (cbrl_contexts_grouped_standard_error of f per context, with p's weights). */
double cbrl_py_grouped_standard_error(const cbrl_problem *p, const double *f, int n_templates, int n_nodes);

/* ---- contexts from a distribution (cbrl/contexts.h) ---- */

/* n values and weights of a rule for N(0, 1) (normal 1) or U(0, 1) (normal 0): quadrature nodes
   (sample 0) or n draws seeded (seed, stream 0) (sample 1), as a problem file's theta draws them. */
int cbrl_py_contexts_rule(int normal, int sample, int n, uint64_t seed, double *values, double *weights);

/* cbrl_contexts_standard_error. */
double cbrl_py_contexts_standard_error(const double *f, int n);

/* ---- bounds and objectives of a problem ---- */

/* 1 if p has box bounds (then written into lower and upper, dim each; infinite where open). */
int cbrl_py_bounds_get(const cbrl_problem *p, double *lower, double *upper);
/* Sets p's bounds (cbrl_problem_set_bounds; both NULL removes them); *bad the first bad index. */
int cbrl_py_bounds_set(cbrl_problem *p, const double *lower, const double *upper, int *bad);
/* Clamps x into p's box (cbrl_bounds_project). */
void cbrl_py_bounds_project(const cbrl_problem *p, double *x);
/* The first index of x outside p's box, or -1. */
int cbrl_py_bounds_violation(const cbrl_problem *p, const double *x);

/* p's objective: its name ("leader-reward" for the default) and kind (CBRL_OBJECTIVE_*, -1 default). */
const char *cbrl_py_objective_name(const cbrl_problem *p, int *kind);
/* cbrl_objective_supports: 0, or CBRL_ENOTSUP with why. */
int cbrl_py_objective_supports(const cbrl_problem *p, const char *algorithm, char *why, size_t size);
/* Sets p's objective (replacing any): kind 0 leader-reward; 1 cross-entropy to target (S x A, or
   K x S x A when per_context) with state weights table2 (S, or NULL); 3 welfare with output
   table (K x S x A) and kappa. */
int cbrl_py_objective_set(cbrl_problem *p, int kind, const double *table, int per_context, const double *table2,
                          double kappa);
/* Sets the Bradley-Terry preferences objective: n pairs, pair k in context ctx[k] with weight w[k],
   its preferred steps states/actions[off[2k] .. off[2k+1]) and rejected [off[2k+1] .. off[2k+2]);
   an impossible sequence gives CBRL_EINVAL with bad (2): the pair and the step. */
int cbrl_py_objective_preferences(cbrl_problem *p, int n, const int32_t *ctx, const double *w, const int64_t *off,
                                  const int32_t *states, const int32_t *actions, double beta, int *bad);

/* ---- the contract and optimal-tax environments' options (docs/ENVIRONMENTS.md 5, 6) ---- */

/* Options with the environment's defaults; free with cbrl_py_env_opts_free. */
cbrl_contract_opts *cbrl_py_contract_opts_new(void);
cbrl_optimal_tax_opts *cbrl_py_optimal_tax_opts_new(void);
/* Frees either kind (NULL allowed). */
void cbrl_py_env_opts_free(void *o);
/* The option names, comma-separated ("name" scalars, "name[]" vectors, "name[][]" matrices). */
const char *cbrl_py_contract_opts_keys(void);
const char *cbrl_py_optimal_tax_opts_keys(void);
/* Sets entry (i, j) of an option by name (i, j ignored for scalars, j for vectors); CBRL_EINVAL
   with a message for an unknown name or an index beyond the option's capacity. */
int cbrl_py_contract_opts_set(cbrl_contract_opts *o, const char *key, int i, int j, double value, char *err,
                              size_t err_size);
int cbrl_py_optimal_tax_opts_set(cbrl_optimal_tax_opts *o, const char *key, int i, int j, double value, char *err,
                                 size_t err_size);
/* Reads an option back. */
int cbrl_py_contract_opts_get(const cbrl_contract_opts *o, const char *key, int i, int j, double *value);
int cbrl_py_optimal_tax_opts_get(const cbrl_optimal_tax_opts *o, const char *key, int i, int j, double *value);
/* Creates the environment's problem (cbrl_contract_create, cbrl_optimal_tax_create). */
int cbrl_py_contract_create(const cbrl_contract_opts *o, cbrl_problem **out);
int cbrl_py_optimal_tax_create(const cbrl_optimal_tax_opts *o, cbrl_problem **out);
/* The exact references: the hard agent's optimal contract by the LP (payments n_outcomes, the
   effort, the value), the soft agent's closed-form value of payments, and the Saez rates. */
int cbrl_py_contract_optimum_lp(const cbrl_contract_opts *o, double *payments, int *effort, double *value);
double cbrl_py_contract_value_closed_form(const cbrl_contract_opts *o, const double *payments);
int cbrl_py_optimal_tax_saez(const cbrl_optimal_tax_opts *o, double *rates);

/* Builds an affine problem from entry lists (docs/ENVIRONMENTS.md 3); coefficient arrays are
   n x dim, row-major. The error names the list and the entry that was refused. */
int cbrl_py_affine(int n_states, int n_actions, int dim, int n_contexts, double gamma, double leader_gamma,
                   double lambda, const double *context_weight, const unsigned char *terminal,
                   int64_t n_init, const int32_t *init_ctx, const int32_t *init_s, const double *init_logit,
                   const double *init_coef,
                   int64_t n_trans, const int32_t *tr_ctx, const int32_t *tr_s, const int32_t *tr_a,
                   const int32_t *tr_next, const double *tr_logit, const double *tr_coef,
                   int64_t n_rew, const int32_t *rw_ctx, const int32_t *rw_s, const int32_t *rw_a,
                   const double *rw_value, const double *rw_coef,
                   int64_t n_lrew, const int32_t *lr_ctx, const int32_t *lr_s, const int32_t *lr_a,
                   const double *lr_value, const double *lr_coef,
                   cbrl_problem **out, char *err, size_t err_size);

/* A problem written by the caller: fills prob (n_transitions), r and rbar (S x A) and mu (S)
   of a context at x; returns 0 or a negative cbrl code. */
typedef int (*cbrl_py_evaluate_fn)(void *user, int context, const double *x, double *prob, double *r,
                                   double *rbar, double *mu);
/* Adds the vjp of the cotangent (every pointer valid, zeros where the caller had none) to grad. */
typedef int (*cbrl_py_vjp_fn)(void *user, int context, const double *x, const double *ct_r,
                              const double *ct_rbar, const double *ct_log_p, const double *ct_log_mu,
                              double *grad);

/* Wraps inner (taking ownership; freed on failure too) as the problem in x (dim) whose mechanism
   is inner's at y = T(x) (cbrl_transformed_create): n transforms, transform i of kind kind[i]
   (CBRL_TRANSFORM_*) reading n_inputs[i] entries of inputs (concatenated) with scale, low, high.
   A bad transform gives CBRL_EINVAL with "transforms[i]: why" in err. */
int cbrl_py_transformed(cbrl_problem *inner, int dim, int n, const int32_t *kind, const int32_t *n_inputs,
                        const int32_t *inputs, const double *scale, const double *low, const double *high,
                        cbrl_problem **out, char *err, size_t err_size);
/* The id of a transform kind's name (cbrl_transform_parse), or -1. */
int cbrl_py_transform_kind(const char *name);
/* y = T(x) of a transformed problem (cbrl_transformed_parameters). */
int cbrl_py_transformed_parameters(const cbrl_problem *p, const double *x, double *y);

/* Creates a problem whose evaluate and vjp are the callbacks; the transition pattern is given
   once: row is n_contexts x (S A + 1) offsets, next the contexts' entries one after another. */
int cbrl_py_callback_problem(int n_states, int n_actions, int dim, int n_contexts, double gamma,
                             double leader_gamma, double lambda, const double *context_weight,
                             const unsigned char *terminal, const int64_t *row, const int32_t *next,
                             cbrl_py_evaluate_fn evaluate, cbrl_py_vjp_fn vjp, void *user, cbrl_problem **out,
                             char *err, size_t err_size);

/* Frees a problem (NULL allowed). */
void cbrl_py_problem_free(cbrl_problem *p);

/* Writes n_states, n_actions, dim, n_contexts, flags into ints (5) and gamma, leader_gamma,
   lambda into doubles (3); returns the name. */
const char *cbrl_py_problem_info(const cbrl_problem *p, int *ints, double *doubles);

/* Writes the context weights (n_contexts). */
void cbrl_py_problem_weights(const cbrl_problem *p, double *w);

/* Sets the follower temperature; CBRL_EINVAL unless positive and finite. */
int cbrl_py_problem_set_lambda(cbrl_problem *p, double lambda);

/* cbrl_problem_validate. */
int cbrl_py_problem_validate(const cbrl_problem *p);

/* ---- MDPs ---- */

/* Allocates the MDP of a context and evaluates it at x. */
int cbrl_py_mdp_new(const cbrl_problem *p, int context, const double *x, cbrl_mdp **out);

/* Frees an MDP from cbrl_py_mdp_new (NULL allowed). */
void cbrl_py_mdp_free(cbrl_mdp *m);

/* Writes n_states, n_actions into ints (2) and returns n_transitions; the pointers get the
   MDP's own arrays (terminal S, row S A + 1, next and prob n_transitions, r and rbar S x A, mu S). */
int64_t cbrl_py_mdp_arrays(const cbrl_mdp *m, int *ints, const unsigned char **terminal, const int64_t **row,
                           const int32_t **next, const double **prob, const double **r, const double **rbar,
                           const double **mu);

/* Writes the transition probabilities of simulator `simulator` (an id) of environment env for
   context k at x, aligned with m's entries (m: that context at x), into prob; CBRL_ENOTSUP if
   the simulator has no tabular kernel. */
int cbrl_py_simulator_kernel(const char *env, int simulator, const cbrl_problem *p, int context, const double *x,
                             const cbrl_mdp *m, double *prob);

/* ---- exact quantities ---- */

/* An exact workspace of p (cbrl_exact_create), its solver tolerance tol when positive. */
int cbrl_py_exact_create(const cbrl_problem *p, double tol, cbrl_exact **out);
/* Frees it (NULL allowed). */
void cbrl_py_exact_free(cbrl_exact *e);
/* F, f per context (may be NULL) and grad F (may be NULL) at x (cbrl_exact_evaluate). */
int cbrl_py_exact_evaluate(cbrl_exact *e, const double *x, double *F, double *f_context, double *grad);
/* f of one context and its gradient (may be NULL). */
int cbrl_py_exact_context(cbrl_exact *e, int context, const double *x, double *f, double *grad);
/* The context's last best response (S x A, S, S x A, S x A), leader value Vbar (S), occupancy
   (S, of the last gradient call; NULL if none) and MDP; all owned by e, valid until its next call. */
void cbrl_py_exact_arrays(const cbrl_exact *e, int context, const double **q, const double **v, const double **pi,
                          const double **log_pi, const double **leader_value, const double **occupancy,
                          const cbrl_mdp **mdp);
/* Newton iterations, linear iterations, converged into ints (3) and the residual into *residual. */
void cbrl_py_exact_stats(const cbrl_exact *e, int context, int64_t *ints, double *residual);

/* ---- followers ---- */

/* A follower written by the caller: writes its policy pi and log pi (S x A each) for the MDP m of
   a context at x; rng is the leader's stream (cbrl_py_rng_*). Returns 0 or a negative code.
   Trajectory-batch answers go through ask/tell (cbrl_py_leader_tell_batch) instead. */
typedef int (*cbrl_py_respond_fn)(void *user, int context, const double *x, const cbrl_mdp *m, cbrl_rng *rng,
                                  double *pi, double *log_pi);

/* Wraps a respond callback as a follower of p. Each answer is checked (finite, rows summing to
   1 within 1e-9, log pi finite); a bad one fails with CBRL_EINVAL. */
int cbrl_py_follower_callback(const cbrl_problem *p, cbrl_py_respond_fn respond, void *user, const char *name,
                              cbrl_follower **out);

/* Checks a policy answer (S x A each): pi in [0, 1] with rows summing to 1 within 1e-9, log pi
   not NaN and finite where pi > 0; CBRL_EINVAL with "row s ..." in err otherwise. */
int cbrl_py_policy_check(const double *pi, const double *log_pi, int n_states, int n_actions, char *err,
                         size_t err_size);

/* The built-in followers by name: exact, soft-q (iterations), online (iterations = steps,
   max_steps). */
int cbrl_py_follower_builtin(const cbrl_problem *p, const char *kind, int64_t iterations, int max_steps,
                             cbrl_follower **out);

/* Frees a follower (NULL allowed). */
void cbrl_py_follower_free(cbrl_follower *f);

/* Asks f for its response at x in context k (m: that context at x), with a stream seeded
   (seed, stream); writes pi and log pi (S x A). */
int cbrl_py_follower_respond(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m, uint64_t seed,
                             uint64_t stream, double *pi, double *log_pi);

/* Seeds the online follower's own stream of actions (seed, CBRL_ONLINE_STREAM), as a sweep
   seeds it from the run's seed; CBRL_EINVAL for another follower. */
int cbrl_py_follower_online_seed(cbrl_follower *f, uint64_t seed);
/* CBRL_ONLINE_STREAM. */
uint64_t cbrl_py_online_stream(void);

/* A stream of its own for a Python follower, seeded (seed, stream); free with cbrl_py_rng_free. */
cbrl_rng *cbrl_py_rng_new(uint64_t seed, uint64_t stream);
/* Frees such a stream. */
void cbrl_py_rng_free(cbrl_rng *rng);
/* cbrl_soft_value of one row of n values (docs/MODEL.md 2). */
double cbrl_py_soft_value(const double *q, int n, double lambda);
/* cbrl_soft_policy_row of one row: writes pi and log pi, returns the soft value. */
double cbrl_py_soft_policy_row(const double *q, int n, double lambda, double *pi, double *log_pi);

/* 64 random bits from a stream handed to a callback (cbrl_rng_next). */
uint64_t cbrl_py_rng_next(cbrl_rng *rng);
/* A uniform [0, 1) draw from it (cbrl_rng_uniform). */
double cbrl_py_rng_uniform(cbrl_rng *rng);
/* n standard normals from a fresh stream (seed, stream), as cbrl_rng_normal draws them. */
void cbrl_py_rng_normals(uint64_t seed, uint64_t stream, int n, double *out);

/* ---- simulators ---- */

/* Creates simulator `name` of environment env for p; *out is NULL for "consistent". */
int cbrl_py_simulator_create(const char *env, const char *name, const cbrl_problem *p, cbrl_simulator **out,
                             char *err, size_t err_size);
/* Frees a simulator (NULL allowed). */
void cbrl_py_simulator_free(cbrl_simulator *s);

/* ---- estimators ---- */

/* The estimate `cbrl hypergrad --estimator` computes (hpgd, hpgd-batch, zero-order, amd,
   hpgd-rtq), averaged over `samples` draws of the context from the stream (seed, 1) after an
   exact evaluation at x in e: grad and se (dim; se NaN where not estimable) and, in counts (2),
   the environment steps and follower samples. follower (may be NULL: the exact best response)
   answers hpgd and hpgd-batch; simulator (may be NULL) gives their trajectories. */
int cbrl_py_estimate(const cbrl_problem *p, cbrl_exact *e, const double *x, const char *estimator, long samples,
                     long seed, long steps, double zo_u, long amd_updates, long levels, cbrl_follower *follower,
                     cbrl_simulator *simulator, const volatile int *cancel, double *grad, double *se,
                     int64_t *counts, char *err, size_t err_size);

/* ---- the leader ---- */

/* Leader options with cbrl_leader_opts_default's values; free with cbrl_py_leader_opts_free. */
int cbrl_py_leader_opts_new(cbrl_leader_opts **out);
/* Frees them. */
void cbrl_py_leader_opts_free(cbrl_leader_opts *o);
/* The numeric option names, comma-separated, and the named ones. */
const char *cbrl_py_leader_opts_keys(void);
const char *cbrl_py_leader_opts_name_keys(void);
/* Sets a numeric option by name; CBRL_EINVAL with a message for an unknown name. */
int cbrl_py_leader_opts_set(cbrl_leader_opts *o, const char *key, double value, char *err, size_t err_size);
/* Sets the 64-bit seed or stream exactly (a double holds only 53 bits). */
int cbrl_py_leader_opts_set_u64(cbrl_leader_opts *o, const char *key, uint64_t value);
/* Sets the clip groups' n sizes (docs/MODEL.md 4); n = 0 clips x whole. CBRL_EINVAL for more
   than 8 groups or a size below 1. */
int cbrl_py_leader_opts_set_clip_groups(cbrl_leader_opts *o, const int *sizes, int n);
/* Sets algorithm, optimizer, clip, hpgd_kind or rtq_schedule by value name. */
int cbrl_py_leader_opts_set_name(cbrl_leader_opts *o, const char *key, const char *value, char *err,
                                 size_t err_size);
/* Reads a numeric option back. */
int cbrl_py_leader_opts_get(const cbrl_leader_opts *o, const char *key, double *value);
/* The follower (NULL: exact), simulator (NULL: the model) and cancellation flag (NULL: none). */
void cbrl_py_leader_opts_set_objects(cbrl_leader_opts *o, cbrl_follower *f, cbrl_simulator *s,
                                     const volatile int *cancel);

/* A leader on p with options o (copied) from x0 (NULL: drawn), cbrl_leader_create. */
int cbrl_py_leader_create(const cbrl_problem *p, const cbrl_leader_opts *o, const double *x0, cbrl_leader **out);
/* Frees it (NULL allowed). */
void cbrl_py_leader_free(cbrl_leader *L);
/* The metric names of cbrl_py_leader_step, comma-separated, and their count. */
const char *cbrl_py_leader_metric_names(void);
int cbrl_py_leader_metric_count(void);
/* One outer iteration; metrics (cbrl_py_leader_metric_count values, NaN where not computed). */
int cbrl_py_leader_step(cbrl_leader *L, int with_metrics, double *metrics);
/* Runs n iterations in C, writing each one's seconds into seconds (n), of the wall clock or (cpu
   nonzero) of this thread's CPU clock: the C reference of python/bench_overhead.py. */
int cbrl_py_leader_time_steps(cbrl_leader *L, int n, int with_metrics, int cpu, double *seconds);
/* ---- ask/tell: the iteration split where the follower answers (cbrl_leader_ask, _tell) ---- */

/* Starts an iteration: writes t into *iteration, the context and whether the algorithm wants a
   follower's answer into ints (2), and the query's x, MDP and random stream (valid until the tell). */
int cbrl_py_leader_ask(cbrl_leader *L, int64_t *iteration, int *ints, const double **x, const cbrl_mdp **mdp,
                       cbrl_rng **rng);
/* Ends it with a policy table (pi and log pi, S x A; both NULL when no answer is wanted);
   samples is what the answer cost. metrics as cbrl_py_leader_step; a refused answer gives
   CBRL_EINVAL with the reason in err. */
int cbrl_py_leader_tell_policy(cbrl_leader *L, int n_states, int n_actions, const double *pi, const double *log_pi,
                               int64_t samples, int with_metrics, double *metrics, char *err, size_t err_size);
/* Ends it with a batch of the follower's own n steps: s, a, next (-1 after a terminal state),
   flags (CBRL_STEP_*), and r and log pi (each may be NULL: not reported). The leader checks and
   completes the batch (cbrl/trajectory.h); a defect gives "step i: field: what" in err. */
int cbrl_py_leader_tell_batch(cbrl_leader *L, int64_t n, const int32_t *s, const int32_t *a, const int32_t *next,
                              const double *r, const double *log_pi, const uint32_t *flags, int64_t samples,
                              int with_metrics, double *metrics, char *err, size_t err_size);
/* Ends the iteration asked without a step (the follower failed). */
void cbrl_py_leader_abandon(cbrl_leader *L);
/* The CBRL_TRAJ_* fields (1: r, 2: log pi) a batch answer must carry on p, and the step flags
   CBRL_STEP_TERMINATED, _TRUNCATED, _CUT into flags (3). */
unsigned cbrl_py_trajectory_needs(const cbrl_problem *p, unsigned *flags);
/* Simulates n_streams streams of steps_per_stream steps of the policy (pi, log pi) in m from rng,
   episodes cut at max_steps (cbrl_sim_batch), writing what a follower reports (s, a, next, r,
   log pi, flags; n_streams x steps_per_stream each); returns the number of steps or a code. */
int64_t cbrl_py_simulate(const cbrl_mdp *m, const double *pi, const double *log_pi, int n_streams,
                         int64_t steps_per_stream, int max_steps, cbrl_rng *rng, int32_t *s, int32_t *a,
                         int32_t *next, double *r, double *log_pi_out, uint32_t *flags);

/* The current x (dim values, owned by L, valid until its next step). */
const double *cbrl_py_leader_x(const cbrl_leader *L);
/* The leader's exact workspace (owned by L). */
cbrl_exact *cbrl_py_leader_exact(cbrl_leader *L);

/* ---- configs and sweeps ---- */

/* A config with cbrl_config_default's values; free with cbrl_py_config_free. */
int cbrl_py_config_new(cbrl_config **out);
/* Frees it. */
void cbrl_py_config_free(cbrl_config *c);
/* Reads a config file over it (cbrl_config_load; errors "file:line: field: what"). */
int cbrl_py_config_load(cbrl_config *c, const char *path, char *err, size_t err_size);
/* Applies one "key=value" override, the value in YAML (cbrl_config_set). */
int cbrl_py_config_set(cbrl_config *c, const char *assignment, char *err, size_t err_size);
/* Validates the config and builds its first problem, as `cbrl run` does before writing. */
int cbrl_py_config_check(const cbrl_config *c, char *err, size_t err_size);
/* The canonical YAML; returns its length or -1. */
int cbrl_py_config_canonical(const cbrl_config *c, char *buf, size_t size);
/* The number of runs of the grid. */
int cbrl_py_config_n_runs(const cbrl_config *c);

/* Sweep progress: runs in the grid, done, failed, iterations, elapsed and remaining seconds
   (-1: unknown), best final-window F, fraction of the work done. */
typedef void (*cbrl_py_progress_fn)(void *user, int n_runs, int n_done, int n_failed, int64_t iterations,
                                    double elapsed, double eta, double best_F, double fraction);
typedef void (*cbrl_py_log_fn)(void *user, const char *line);

/* cbrl_sweep_run into out_dir; outcome gets n_runs, n_done, n_failed, n_interrupted, stopped (5). */
int cbrl_py_sweep(const cbrl_config *c, const char *out_dir, int threads, int resume, int plot,
                  cbrl_py_progress_fn progress, cbrl_py_log_fn log, void *user, int progress_ms,
                  const volatile int *stop, int *outcome, char *err, size_t err_size);

/* cbrl_plot_sweep: the CLI's figures of the store in dir into out_dir (formats 1 PNG, 2 SVG). */
int cbrl_py_plot(const char *dir, const char *out_dir, int formats, int smooth, const char *only, int *n_figures,
                 char *err, size_t err_size);

/* ---- Four-Rooms geometry, for figures ---- */

/* The 104 cell penalties of x (105 values). */
void cbrl_py_four_rooms_penalties(const double *x, double *penalty);
/* Row and column of each of the 104 cells (rows, cols), the start, target and goals (4). */
void cbrl_py_four_rooms_layout(int *rows, int *cols, int *special);
/* CDEF-END */

#endif /* CBRL_PY_SHIM_H */
