/* Internal: alias tables (Walker's method, built by Vose's pairing in exact integers) for
   branch-free categorical draws from one 64-bit random number, and the batch simulator's
   per-(s,a) tables of them (docs/MODEL.md 4.1). */
#ifndef CBRL_SAMPLER_H
#define CBRL_SAMPLER_H

#include <stdint.h>

/* One column of an alias table: outcome j is kept when the draw's fraction is below keep,
   else the outcome is alias (an index into the same table). */
typedef struct cbrl__alias_cell {
  uint64_t keep;
  int32_t alias;
  int32_t unused;
} cbrl__alias_cell;

/* Builds the alias table of weights w[0..n) (negative or NaN weights count as 0; all zero: outcome
   0 always), with `stack` scratch of 2 n ints. Outcome j then has probability m_j / N, where the
   integer masses m_j (N = n 2^B <= 2^62 in all) are w_j / sum(w) rounded, so a weight of 0 is never
   drawn and the rest are exact to about 2^-53 relative. */
void cbrl__alias_build(const double *w, int64_t n, cbrl__alias_cell *cell, int32_t *stack);

/* The probability the table gives outcome j (sums of keep / 2^64 over the columns; for tests). */
double cbrl__alias_probability(const cbrl__alias_cell *cell, int64_t n, int64_t j);

/* Draws an outcome of an n-column table from a uniform 64-bit r: its high part (r n / 2^64)
   picks the column, its low part the side, without a branch. */
static inline int64_t cbrl__alias_draw(const cbrl__alias_cell *cell, uint64_t n, uint64_t r) {
  unsigned __int128 prod = (unsigned __int128)r * n;
  uint64_t j = (uint64_t)(prod >> 64), frac = (uint64_t)prod;
  uint64_t other = (uint64_t)(int64_t)cell[j].alias;
  uint64_t take_alias = (uint64_t)0 - (uint64_t)(frac >= cell[j].keep);
  return (int64_t)(j ^ ((j ^ other) & take_alias));
}

/* The batch simulator's tables: per state-action the alias table of its kernel row, per state
   that of the policy's row, and that of the initial law. Rows are built when first visited in a
   batch (a stamp per row says in which batch), so a batch pays only for the rows it visits. */
/* How many kernels' full tables a batch keeps (the contexts of a small problem). */
#define CBRL__KEPT_KERNELS 4

typedef struct cbrl__sampler {
  int64_t n_transitions, n_sa, n_states; /* the sizes allocated */
  int max_row;                           /* the stack's room: half of it */
  uint32_t batch;                        /* this batch's stamp (0: never) */
  cbrl__alias_cell *kernel;              /* n_transitions */
  cbrl__alias_cell *policy;              /* n_sa */
  cbrl__alias_cell *initial;             /* n_states */
  uint32_t *kernel_stamp;                /* n_sa */
  uint32_t *policy_stamp;                /* n_states */
  int32_t *stack;                        /* 2 max_row */
  /* Full tables of the last few kernels of small models (a batch that builds every row):
     kept with copies of the kernel's row and prob arrays, so that a batch of a kernel seen
     before (Four-Rooms' goals' kernels do not depend on x) builds nothing. */
  struct cbrl__kernel_tables {
    int64_t n_sa, n_transitions; /* 0: empty */
    int64_t *row;                /* n_sa + 1 */
    double *prob;                /* n_transitions */
    cbrl__alias_cell *cell;      /* n_transitions */
  } kept[CBRL__KEPT_KERNELS];
  int next_kept; /* the slot the next new kernel takes */
} cbrl__sampler;

/* Makes room for a model of these sizes and starts a new batch (every row stale); returns
   CBRL_ENOMEM, keeping the old tables, on failure. */
int cbrl__sampler_begin(cbrl__sampler *smp, int64_t n_states, int64_t n_sa, int64_t n_transitions,
                        int64_t max_row);

/* Frees the tables. */
void cbrl__sampler_close(cbrl__sampler *smp);

#endif /* CBRL_SAMPLER_H */
