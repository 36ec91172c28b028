/* cbrl: contextual bilevel reinforcement learning. Include this for the whole core API. */
#ifndef CBRL_CBRL_H
#define CBRL_CBRL_H

#include "cbrl/affine.h"
#include "cbrl/environments.h"
#include "cbrl/errors.h"
#include "cbrl/estimators.h"
#include "cbrl/follower.h"
#include "cbrl/hypergradient.h"
#include "cbrl/leader.h"
#include "cbrl/model.h"
#include "cbrl/rng.h"
#include "cbrl/simulate.h"
#include "cbrl/solver.h"
#include "cbrl/version.h"

#endif /* CBRL_CBRL_H */
