/* Internal to src/amd.c, included once per vector width: the AMD table updates with AMD_VEC a
   vector of AMD_W doubles, AMD_TARGET the function attribute and AMD_NAME(f) the instance's
   name. Each width is native to its target (AVX-512: 8, AVX2: 4, SSE2: 2), so the compiler
   keeps the 8 vector accumulators in registers (a 64-byte vector on AVX2 went through the
   stack: twice the instructions), and all of them run element-wise IEEE operations in the
   same order: every width gives the same bits. */
#define AMD_LOAD(p) (*(const AMD_VEC *)(p))
#define AMD_STORE(p, v) (*(AMD_VEC *)(p) = (v))

/* Coordinates [j0, j0 + AMD_W NB) of state s's grad V_LL and Vtil: sum_b pi_b times its rows, in
   action order from 0. */
#define AMD_VALUES(NB)                                                                           \
  do {                                                                                           \
    AMD_VEC g_[NB], v_[NB];                                                                       \
    for (int i_ = 0; i_ < NB; i_++) g_[i_] = v_[i_] = (AMD_VEC){0};                               \
    for (int b = 0; b < A; b++) {                                                                \
      size_t o_ = ((size_t)s * A + b) * d + j0;                                                  \
      double w = pi[b];                                                                          \
      for (int i_ = 0; i_ < NB; i_++) {                                                          \
        g_[i_] += w * AMD_LOAD(c->gq_ll + o_ + AMD_W * i_);                                          \
        v_[i_] += w * AMD_LOAD(c->qtil + o_ + AMD_W * i_);                                           \
      }                                                                                          \
    }                                                                                            \
    for (int i_ = 0; i_ < NB; i_++) {                                                            \
      AMD_STORE(gv + j0 + AMD_W * i_, g_[i_]);                                                       \
      AMD_STORE(vt + j0 + AMD_W * i_, v_[i_]);                                                       \
    }                                                                                            \
    j0 += AMD_W * NB;                                                                                \
  } while (0)

/* Values of state s from its rows of the tables (docs/MODEL.md 4.3, step 2): pi, V_LL, V_UL,
   grad V_LL and Vtil, written to the given state-indexed arrays. */
static AMD_TARGET void AMD_NAME(state_values)(const cbrl_amd *a, const amd_context *c, int s, double *v_ll,
                                                     double *v_ul, double *gv_ll, double *vtil) {
  const cbrl_problem *p = a->problem;
  int A = p->n_actions, d = p->dim;
  double lam = p->lambda, *pi = a->pi + (size_t)s * A;
  /* V_LL = sum pi Q_LL + lam H(pi) = lam logsumexp(Q_LL / lam). */
  v_ll[s] = cbrl_softmax_row(c->q_ll + (size_t)s * A, A, lam, pi);
  double vul = 0.0;
  for (int b = 0; b < A; b++) vul += pi[b] * c->q_ul[(size_t)s * A + b];
  v_ul[s] = vul;
  double *restrict gv = gv_ll + (size_t)s * d, *restrict vt = vtil + (size_t)s * d;
  int j0 = 0;
  while (j0 + AMD_W * 4 <= d) AMD_VALUES(4);
  while (j0 + AMD_W <= d) AMD_VALUES(1);
  for (; j0 < d; j0++) {
    double g = 0.0, v = 0.0;
    for (int b = 0; b < A; b++) {
      size_t o = ((size_t)s * A + b) * d + j0;
      g += pi[b] * c->gq_ll[o];
      v += pi[b] * c->qtil[o];
    }
    gv[j0] = g;
    vt[j0] = v;
  }
}

/* Coordinates [j0, j0 + AMD_W NB) of a state-action's new grad Q_LL and Qtil rows: grad r, and
   grad rbar + grad A_LL A_UL / lam, plus (gamma p) times each successor's row in CSR order. */
#define AMD_ROWS(NB)                                                                             \
  do {                                                                                           \
    AMD_VEC g_[NB], q_[NB];                                                                       \
    for (int i_ = 0; i_ < NB; i_++) {                                                            \
      int j_ = j0 + AMD_W * i_;                                                                      \
      q_[i_] = AMD_LOAD(jb + j_) + (AMD_LOAD(gq + j_) - AMD_LOAD(gv + j_)) * coef;               \
      g_[i_] = AMD_LOAD(jr + j_);                                                                \
    }                                                                                            \
    for (int64_t k = k0; k < k1; k++) {                                                          \
      double pk = m->prob[k], pg = gam * pk, pq = gamL * pk;                                     \
      size_t t_ = (size_t)m->next[k] * d + j0;                                                   \
      const double *gvt = a->gv_ll + t_, *vtt = a->vtil + t_;                                    \
      for (int i_ = 0; i_ < NB; i_++) {                                                          \
        g_[i_] += pg * AMD_LOAD(gvt + AMD_W * i_);                                                   \
        q_[i_] += pq * AMD_LOAD(vtt + AMD_W * i_);                                                   \
      }                                                                                          \
    }                                                                                            \
    for (int i_ = 0; i_ < NB; i_++) {                                                            \
      AMD_STORE(gq + j0 + AMD_W * i_, g_[i_]);                                                       \
      AMD_STORE(qt + j0 + AMD_W * i_, q_[i_]);                                                       \
    }                                                                                            \
    j0 += AMD_W * NB;                                                                                \
  } while (0)

/* One synchronous update of all four tables (docs/MODEL.md 4.3, step 3), reading the values of the
   old tables from a->v_* and writing those of the new tables to a->next_*. A state's new
   rows depend on its own old rows and its successors' old values only, so its new values
   can be formed while its rows are still in L1: one pass over the d-vector tables per update
   instead of two. A state-action's grad Q_LL and Qtil rows are accumulated over its successors
   in registers, 4 vectors at a time, instead of being reloaded and stored once per
   transition; each coordinate still adds its successors in CSR order with the same operations
   ((gamma p) v, added in turn), so the results are bitwise those of the transition-at-a-time
   loop. */
static AMD_TARGET void AMD_NAME(update)(cbrl_amd *a, amd_context *c, const cbrl_mdp *m) {
  const cbrl_problem *p = a->problem;
  int S = p->n_states, A = p->n_actions, d = p->dim;
  double lam = p->lambda, gam = p->gamma, gamL = p->leader_gamma;
  for (int s = 0; s < S; s++) {
    for (int b = 0; b < A; b++) {
      size_t sa = (size_t)s * A + b;
      double *restrict gq = c->gq_ll + sa * d, *restrict qt = c->qtil + sa * d;
      const double *gv = a->gv_ll + (size_t)s * d, *jr = a->jac_r + sa * d, *jb = a->jac_rbar + sa * d;
      double coef = (c->q_ul[sa] - a->v_ul[s]) / lam; /* A_UL / lam */
      int64_t k0 = m->terminal[s] ? 0 : m->row[sa], k1 = m->terminal[s] ? 0 : m->row[sa + 1];
      double ell = 0.0, eul = 0.0;
      for (int64_t k = k0; k < k1; k++) {
        double pk = m->prob[k];
        int32_t t = m->next[k];
        ell += pk * a->v_ll[t];
        eul += pk * a->v_ul[t];
      }
      int j0 = 0;
      while (j0 + AMD_W * 4 <= d) AMD_ROWS(4);
      while (j0 + AMD_W <= d) AMD_ROWS(1);
      for (; j0 < d; j0++) {
        double g = jr[j0], q = jb[j0] + (gq[j0] - gv[j0]) * coef;
        for (int64_t k = k0; k < k1; k++) {
          double pk = m->prob[k];
          size_t t = (size_t)m->next[k] * d + j0;
          g += gam * pk * a->gv_ll[t];
          q += gamL * pk * a->vtil[t];
        }
        gq[j0] = g;
        qt[j0] = q;
      }
      c->q_ll[sa] = m->r[sa] + gam * ell;
      c->q_ul[sa] = m->rbar[sa] + gamL * eul;
    }
    AMD_NAME(state_values)(a, c, s, a->next_v_ll, a->next_v_ul, a->next_gv_ll, a->next_vtil);
  }
  swap(&a->v_ll, &a->next_v_ll);
  swap(&a->v_ul, &a->next_v_ul);
  swap(&a->gv_ll, &a->next_gv_ll);
  swap(&a->vtil, &a->next_vtil);
}

#undef AMD_VALUES
#undef AMD_ROWS
#undef AMD_LOAD
#undef AMD_STORE
