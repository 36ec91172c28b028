"""cbrl: contextual bilevel reinforcement learning, from Python (docs/PYTHON.md).

Problems (built-in environments, files, numpy arrays, Python callbacks), exact quantities
as arrays, estimators with standard errors, the leader loop, followers written in Python, a
Gymnasium-style view of the follower's MDP, and sweeps with their stores and figures.
"""
from ._ffi import CbrlError, ffi, lib
from .problem import MDP, Cotangent, Problem, env_names
from .exact import Exact, Result, hypergrad
from .follower import (STEP_CUT, STEP_TERMINATED, STEP_TRUNCATED, Follower, FollowerContext, Trajectories,
                       trajectory_needs)
from .estimate import Simulator, estimate
from .leader import METRICS, Leader, leader_options
from .gym import FollowerEnv
from .sweep import load, run
from .envs import contract_lp, contract_value, env_options, saez_rates
from . import contexts

from . import _ffi as _f
__version__ = _f.string(_f.lib.cbrl_py_version())
del _f

__all__ = ["CbrlError", "Problem", "MDP", "Cotangent", "env_names", "Exact", "Result", "hypergrad", "Follower",
           "FollowerContext", "Trajectories", "trajectory_needs", "STEP_TERMINATED", "STEP_TRUNCATED", "STEP_CUT", "Simulator", "estimate", "Leader", "METRICS", "leader_options",
           "FollowerEnv", "run", "load", "contract_lp", "contract_value", "env_options", "saez_rates", "contexts"]
