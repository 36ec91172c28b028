/* Contract design (docs/ENVIRONMENTS.md 5): a hidden-action principal-agent MDP over a
   multi-stage project. The agent's effort is hidden; the principal pays non-negative amounts on
   observable outcomes (x), agent types are contexts. */
#ifndef CBRL_ENV_CONTRACT_H
#define CBRL_ENV_CONTRACT_H

#include <stdint.h>

#include "cbrl/contexts.h"
#include "cbrl/export.h"
#include "cbrl/model.h"

#define CBRL_CONTRACT_MAX 16        /* efforts, outcomes and stages each */
#define CBRL_CONTRACT_TYPES_MAX 256 /* agent types */

typedef struct cbrl_contract_opts {
  int n_stages;   /* K: the project's stages */
  int n_efforts;  /* E >= 2: the agent's actions (effort levels) */
  int n_outcomes; /* O >= 2: observable outcomes of a stage */
  int n_types;    /* agent types, the contexts */
  double outcome_prob[CBRL_CONTRACT_MAX][CBRL_CONTRACT_MAX]; /* P(o | e), rows sum to 1 */
  double outcome_value[CBRL_CONTRACT_MAX];                  /* v(o): the principal's value */
  double effort_cost[CBRL_CONTRACT_TYPES_MAX][CBRL_CONTRACT_MAX]; /* c(type, e) */
  double outside_option[CBRL_CONTRACT_TYPES_MAX];                 /* u0(type), used if participation */
  double type_weight[CBRL_CONTRACT_TYPES_MAX];                    /* sums to 1 */
  int participation;       /* 1: the agent may first decline, taking u0 (an outside option) */
  int repeat;              /* 1: an outcome below the best repeats the stage; 0: every outcome
                              ends it */
  int per_type;            /* 1: separable types, a contract per type (dim = types x K x O) */
  double budget;           /* > 0: each payment at most budget; 0: no cap */
  double gamma, lambda;
  /* Continuous types (docs/MODEL.md 1.2): with type_sigma > 0 the n_types types are not listed
     but come from a log-normal cost: type t's costs are exp(type_sigma z_t) effort_cost[0][e]
     and its outside option outside_option[0], z_t the nodes and weights of type_rule
     (Gauss-Hermite quadrature, or n_types draws of N(0, 1) from type_seed, weights 1 / n). */
  double type_sigma;
  cbrl_context_rule type_rule;
  uint64_t type_seed;
} cbrl_contract_opts;

/* Fills o with the default: one stage, efforts {shirk, work, extra} costing (0, 0.4, 1.0),
   outcomes {fail, ok, success} worth (0, 1, 2) with P(o|e) = (0.6 0.3 0.1 | 0.2 0.4 0.4 |
   0.1 0.3 0.6), one type, no participation stage, no repeats, no budget, gamma 0.9,
   lambda 0.1 (docs/ENVIRONMENTS.md 5). */
CBRL_API void cbrl_contract_opts_default(cbrl_contract_opts *o);

/* Creates the contract problem: x are the payments w(type?, stage, outcome) >= 0 (bounds set,
   capped by the budget), r = E[w | e] - c(e), rbar = E[v - w | e]. CBRL_EINVAL for invalid
   options. */
CBRL_API int cbrl_contract_create(cbrl_problem **out, const cbrl_contract_opts *o);

/* The index in x of the payment of (type, stage, outcome); type is ignored unless per_type. */
CBRL_API int cbrl_contract_payment_index(const cbrl_contract_opts *o, int type, int stage, int outcome);

/* The exact reference of a one-stage, one-type contract (docs/ENVIRONMENTS.md 5): the optimal
   contract for a hard best-responding agent (the lambda -> 0 limit), by the linear program
   max_{e*} max_w E[v - w | e*] s.t. incentive compatibility for e*, participation (if any),
   0 <= w (<= budget), solved by enumerating its vertices. Writes the payments (n_outcomes) and
   the effort implemented; returns the principal's value in *value (discounted as in the MDP). */
CBRL_API int cbrl_contract_optimum_lp(const cbrl_contract_opts *o, double *payments, int *effort, double *value);

/* The principal's exact value of a one-stage, one-type contract w for the soft agent, in closed
   form (pi(e) proportional to exp((E[w|e] - c(e)) / lambda)): an independent check of cbrl's F. */
CBRL_API double cbrl_contract_value_closed_form(const cbrl_contract_opts *o, const double *payments);

#endif /* CBRL_ENV_CONTRACT_H */
