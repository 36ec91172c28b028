"""The contract and optimal-tax environments with their options (docs/ENVIRONMENTS.md 5, 6), and
their exact references: the optimal contract by the linear program, the soft agent's value in
closed form, and the Saez formula's tax schedule."""
import math

import numpy as np

from . import _ffi
from ._ffi import check, ffi, lib, ptr

_KINDS = {"contract": ("cbrl_py_contract_opts_new", "cbrl_py_contract_opts_keys", "cbrl_py_contract_opts_set",
                       "cbrl_py_contract_opts_get", "cbrl_py_contract_create"),
          "optimal-tax": ("cbrl_py_optimal_tax_opts_new", "cbrl_py_optimal_tax_opts_keys",
                          "cbrl_py_optimal_tax_opts_set", "cbrl_py_optimal_tax_opts_get", "cbrl_py_optimal_tax_create")}
# Options whose length sets a count when the count is not given.
_COUNTS = {"contract": {"effort_cost": "n_types", "outcome_value": "n_outcomes"},
           "optimal-tax": {"skill": "n_types", "threshold": "n_brackets"}}


def env_options(name):
    """The option names of environment ``name`` ("contract" or "optimal-tax") and their shapes:
    a dict name -> 0 (a number), 1 (a vector) or 2 (a matrix)."""
    keys = _ffi.string(getattr(lib, _KINDS[name][1])()).split(",")
    return {k.rstrip("[]"): k.count("[]") for k in keys}


class _Options:
    """The C options of an environment, set by name (opaque to Python)."""

    def __init__(self, name):
        self.name = name
        new, _, self._set, self._get, self._create = _KINDS[name]
        self._h = getattr(lib, new)()
        if self._h == ffi.NULL:
            raise MemoryError("%s: out of memory" % name)
        self._token = _ffi.own(self._h, lib.cbrl_py_env_opts_free)

    def get(self, key, i=0, j=0):
        v = ffi.new("double *")
        if getattr(lib, self._get)(self._h, key.encode(), i, j, v):
            raise KeyError(key)
        return v[0]

    def set(self, key, value, i=0, j=0):
        err = _ffi.err_buffer()
        check(getattr(lib, self._set)(self._h, key.encode(), i, j, float(value), err, _ffi.ERR_SIZE), err, self.name)


def _create(cls, name, lam, options):
    shapes = env_options(name)
    opts = _Options(name)
    given = dict(options)
    if lam is not None:
        given["lambda"] = lam
    # Counts implied by the arrays given (n_types from effort_cost's rows, ...), unless given.
    for key, count in _COUNTS[name].items():
        if key in given and count not in given and not (name == "contract" and key == "effort_cost"
                                                           and float(given.get("type_sigma", 0)) > 0):
            a = np.asarray(given[key], np.float64)
            given[count] = a.shape[0] if a.ndim >= 1 else 1
    # Types whose count the arrays changed: equal shares unless given, and (optimal tax) the
    # default's inverse-skill welfare weights.
    if "n_types" in given and "n_types" not in options and "type_weight" not in given:
        given["type_weight"] = np.full(int(given["n_types"]), 1.0 / int(given["n_types"]))
    if name == "optimal-tax" and "skill" in given and "welfare_weight" not in given:
        given["welfare_weight"] = 1.0 / np.asarray(given["skill"], np.float64)
    if name == "contract" and "outcome_prob" in given and "n_efforts" not in given:
        a = np.asarray(given["outcome_prob"], np.float64)
        given["n_efforts"] = a.shape[0]
        given.setdefault("n_outcomes", a.shape[1])
    for key, value in given.items():
        if key not in shapes:
            raise TypeError("%s: not an option of env %s (options: %s)" % (key, name, ", ".join(shapes)))
        if key == "type_rule":
            if value not in ("quadrature", "sample"):
                raise ValueError("type_rule: 'quadrature' or 'sample', got %r" % (value,))
            opts.set(key, value == "sample")
            continue
        a = np.asarray(value, np.float64)
        if a.ndim != shapes[key]:
            raise ValueError("%s: expected %s, got shape %s" % (key, ("a number", "a vector", "a matrix")[shapes[key]],
                                                                  a.shape))
        if not np.all(np.isfinite(a)):
            raise ValueError("%s: must be finite" % key)
        for idx in np.ndindex(a.shape):
            opts.set(key, a[idx], *(tuple(int(i) for i in idx) + (0, 0))[:2])
    out = ffi.new("cbrl_problem **")
    rc = getattr(lib, opts._create)(opts._h, out)
    if rc:
        _ffi.check(rc, None, "%s: these options do not make a valid problem (docs/ENVIRONMENTS.md %s)"
                   % (name, "5" if name == "contract" else "6"))
    p = cls(out[0], env=name)
    p.options = dict(options)
    p.env_options = opts
    return p


def _opts_of(problem, name):
    opts = getattr(problem, "env_options", None)
    if problem.env_name != name:
        raise ValueError("%s: the problem is env %s" % (name, problem.env_name))
    if opts is None:  # built through the registry: the defaults
        opts = _Options(name)
        if not math.isclose(problem.lam, opts.get("lambda")):
            opts.set("lambda", problem.lam)
        problem.env_options = opts
    return opts


def contract_lp(problem):
    """The exact reference of a one-stage, one-type contract problem (docs/ENVIRONMENTS.md 5):
    the hard-agent optimal contract by the linear program, as (payments, effort, value)."""
    opts = _opts_of(problem, "contract")
    n = int(opts.get("n_outcomes"))
    w = np.empty(n)
    effort, value = ffi.new("int *"), ffi.new("double *")
    check(lib.cbrl_py_contract_optimum_lp(opts._h, ptr(w), effort, value), None, "contract_lp")
    return w, int(effort[0]), value[0]


def contract_value(problem, payments):
    """The soft agent's principal value of one-stage, one-type payments in closed form: an
    independent check of F (docs/ENVIRONMENTS.md 5)."""
    opts = _opts_of(problem, "contract")
    w = _ffi.as_array(payments, "payments", (int(opts.get("n_outcomes")),))
    return lib.cbrl_py_contract_value_closed_form(opts._h, ptr(w))


def saez_rates(problem):
    """The Saez formula's bracket rates for the optimal-tax problem (docs/ENVIRONMENTS.md 6)."""
    opts = _opts_of(problem, "optimal-tax")
    t = np.empty(int(opts.get("n_brackets")))
    check(lib.cbrl_py_optimal_tax_saez(opts._h, ptr(t)), None, "saez_rates")
    return t
