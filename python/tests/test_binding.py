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
