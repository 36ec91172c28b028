"""The RLHF environment through the registry (docs/ENVIRONMENTS.md 7): its seed option passes
through, and its exact values equal `cbrl hypergrad --json` to the last bit."""
import numpy as np
import pytest

import cbrl


def test_rlhf_equals_cli_and_takes_its_seed(cli):
    x = [0.5, -0.2, 0.3, 0.1, -0.4]
    for env in ("rlhf", "rlhf-dpo"):
        p = cbrl.Problem.env(env)
        assert p.mdp(np.zeros(5)).n_states == 86
        got = cbrl.hypergrad(p, x)
        want = cli("hypergrad", "--env", env, "--x", ",".join(map(str, x)), "--json")
        assert got.F == want["F"] and list(got.grad) == want["grad"]
        # The seed draws pi_ref, theta* and the pairs: another seed, another problem.
        other = cbrl.hypergrad(cbrl.Problem.env(env, seed=1), x)
        assert other.F != got.F
    with pytest.raises(TypeError):
        cbrl.Problem.env("rlhf", states=10)
