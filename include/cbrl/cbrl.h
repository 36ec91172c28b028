/* cbrl: contextual bilevel reinforcement learning. Include this for the whole of libcbrl: the
   core and the shipped environments (docs/ARCHITECTURE.md). */
#ifndef CBRL_CBRL_H
#define CBRL_CBRL_H

#include "cbrl/affine.h"
#include "cbrl/amd.h"
#include "cbrl/bounds.h"
#include "cbrl/contexts.h"
#include "cbrl/errors.h"
#include "cbrl/exact.h"
#include "cbrl/follower.h"
#include "cbrl/follower_types.h"
#include "cbrl/hpgd.h"
#include "cbrl/leader.h"
#include "cbrl/model.h"
#include "cbrl/objective.h"
#include "cbrl/rng.h"
#include "cbrl/rtq.h"
#include "cbrl/simulate.h"
#include "cbrl/soft_solver.h"
#include "cbrl/trajectory.h"
#include "cbrl/transform.h"
#include "cbrl/version.h"
#include "cbrl/zero_order.h"

#include "cbrl/env/contract.h"
#include "cbrl/env/four_rooms.h"
#include "cbrl/env/optimal_tax.h"
#include "cbrl/env/random_problem.h"
#include "cbrl/env/rlhf.h"
#include "cbrl/env/tax.h"

#endif /* CBRL_CBRL_H */
