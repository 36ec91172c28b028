"""The binding itself: the shim's declarations are the ones cffi reads, every one resolves in
the library, and the flat tables (metric and option names) agree with the shim's counts."""
import re

import numpy as np
import pytest

import cbrl
from cbrl import _ffi


def test_abi_version_matches():
    assert cbrl.lib.cbrl_py_abi_version() == _ffi.ABI_VERSION
    assert re.fullmatch(r"\d+\.\d+\.\d+", cbrl.__version__)


def test_every_declaration_resolves():
    names = re.findall(r"\b(cbrl_py_[a-z_0-9]+)\s*\(", _ffi._cdef_text())
    assert len(names) > 60
    for n in names:
        if n.endswith("_fn"):
            continue
        assert callable(getattr(cbrl.lib, n)), n


def test_metric_names_match_count():
    assert len(cbrl.METRICS) == cbrl.lib.cbrl_py_leader_metric_count()
    assert cbrl.METRICS[:4] == ["iteration", "context", "f_context", "F"]


def test_every_numeric_leader_option_round_trips():
    p = cbrl.Problem.env("random", states=5, actions=2, dim=2, contexts=1, branch=2, seed=1)
    numeric, named = cbrl.leader_options()
    assert "learning_rate" in numeric and "algorithm" in named
    for key in numeric:
        L = cbrl.Leader(p, algorithm="exact", **{key: 3})
        assert L.option(key) == 3, key


def test_no_struct_is_mirrored():
    # The cdef declares only opaque structs: any struct body would be a mirrored layout.
    text = _ffi._cdef_text()
    assert not re.search(r"struct\s+\w+\s*\{", text)


def test_owners_are_freed_after_what_depends_on_them():
    """A problem is freed only after the workspaces built on it, even when Python collects them
    as one cycle (whose finalizers run in no fixed order): the bug valgrind found once."""
    import gc
    freed = []

    class Wrapper:  # as cbrl.Problem, cbrl.Exact and cbrl.Leader hold their tokens
        pass

    for _ in range(5):
        p, e, L = Wrapper(), Wrapper(), Wrapper()
        p._token = _ffi.own("problem", freed.append)
        e._token = _ffi.own("exact", freed.append, p._token)
        L._token = _ffi.own("leader", freed.append, p._token, e._token)
        cycle = [L, e, p]
        for w in cycle:
            w.cycle = cycle
        del p, e, L, cycle, w
        gc.collect()
        gc.collect()
    assert len(freed) == 15
    for i in range(0, 15, 3):
        assert freed[i:i + 3].index("problem") == 2 and freed[i:i + 3].index("exact") > freed[i:i + 3].index("leader")


def test_real_objects_in_a_cycle_are_collected():
    import gc
    for _ in range(3):
        p = cbrl.Problem.env("random", states=5, actions=2, dim=2, contexts=1, branch=2, seed=1)
        e = p.exact()
        e.evaluate(np.zeros(2))
        L = cbrl.Leader(p, algorithm="hpgd-batch", hpgd_steps=50, follower=cbrl.Follower.exact(p))
        L.step()
        box = [p, e, L, e.mdp(0).prob]
        box.append(box)
        del p, e, L, box
        gc.collect()
