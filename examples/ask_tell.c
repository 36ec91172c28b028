/* Driving the leader from a loop of one's own (cbrl/leader.h, docs/ARCHITECTURE.md): each
   iteration the leader says which context and x it wants answered, the caller's follower
   answers with a batch of its own trajectories, and the leader steps. Here the "agent" is a
   softmax policy of its own that simply acts in the MDP it is shown; any agent fits, as long
   as it reports state, action, next state and the Gymnasium end flags of its steps.

   Build against an installed cbrl: cc ask_tell.c $(pkg-config --cflags --libs cbrl) -lm */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cbrl/cbrl.h>

/* The agent: acts uniformly at random for 10,000 steps in the MDP m, in episodes of at most 200
   steps, and writes what it saw into b. */
static void agent_rollout(const cbrl_mdp *m, cbrl_rng *rng, cbrl_batch *b) {
  int32_t s = cbrl_sim_initial(m, rng), t = 0;
  b->n_steps = 0;
  for (int64_t i = 0; i < 10000; i++) {
    int32_t a = (int32_t)cbrl_rng_below(rng, (uint64_t)m->n_actions);
    int32_t next = cbrl_sim_next(m, s, a, rng, NULL);
    unsigned flags = next < 0 ? CBRL_STEP_TERMINATED : ++t >= 200 ? CBRL_STEP_TRUNCATED : 0;
    b->steps[b->n_steps++] = (cbrl_step){.s = s, .a = a, .next = next, .r = NAN, .log_pi = -log(m->n_actions),
                                         .flags = flags};
    if (flags) s = cbrl_sim_initial(m, rng), t = 0;
    else s = next;
  }
}

int main(void) {
  cbrl_four_rooms_opts fo;
  cbrl_four_rooms_opts_default(&fo);
  fo.beta = 3.0;
  cbrl_problem *p;
  if (cbrl_four_rooms_create(&p, &fo)) return 1;
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  o.learning_rate = 0.5;
  cbrl_leader *L;
  cbrl_batch batch;
  cbrl_rng agent_rng;
  cbrl_rng_seed(&agent_rng, 1, 0);
  if (cbrl_leader_create(&L, p, &o, NULL) || cbrl_batch_init(&batch, 10000)) return 1;
  for (int t = 1; t <= 20; t++) {
    cbrl_leader_query q;
    if (cbrl_leader_ask(L, &q)) return 1;
    agent_rollout(q.mdp, &agent_rng, &batch); /* the follower acts by itself */
    cbrl_leader_answer a = {.batch = &batch, .stats = {.samples = batch.n_steps}};
    cbrl_leader_metrics met;
    int err = cbrl_leader_tell(L, &a, t % 5 == 0, &met);
    if (err) {
      fprintf(stderr, "iteration %d: %s: %s\n", t, cbrl_strerror(err), cbrl_leader_error(L));
      return 1;
    }
    if (t % 5 == 0) printf("iteration %d: context %d, F %.4f, |g| %.3f\n", t, met.context, met.F, met.grad_norm);
  }
  cbrl_batch_close(&batch);
  cbrl_leader_free(L);
  cbrl_problem_free(p);
  return 0;
}
