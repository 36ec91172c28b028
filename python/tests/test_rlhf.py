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


def test_rlhf_takes_a_preference_file(tmp_path):
    """preferences= reads a cbrl-preferences-1 file (vocabulary 3, length 3, 2 prompts: a
    smaller MDP than the generated data's), and an impossible sequence is refused with its place."""
    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    p = cbrl.Problem.env("rlhf", preferences=root / "examples" / "rlhf" / "pairs.yaml")
    assert p.mdp(np.zeros(p.dim)).n_states == 1 + 3 + 9 + 1  # prefixes shorter than 3, and done
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: cbrl-preferences-1\nvocab: 3\nlength: 3\nprompts: 1\npairs:\n"
                   "  - {prompt: 0, preferred: [2, 1, 2], rejected: [0, 7, 1]}\n")
    with pytest.raises(cbrl.CbrlError, match=r"bad.yaml:6: .*token 7"):
        cbrl.Problem.env("rlhf", preferences=bad)
