"""The leader loop (docs/MODEL.md 4): gradient ascent on F with any algorithm and optimiser
setting of cbrl_leader_opts, one context per iteration."""
import numpy as np

from . import _ffi
from ._ffi import ffi, lib, ptr
from .estimate import Simulator
from .exact import Exact
from .follower import FollowerContext, Trajectories, _policy_answer
from .problem import call

_NAMED = set(_ffi.string(lib.cbrl_py_leader_opts_name_keys()).split(","))
_NUMERIC = set(_ffi.string(lib.cbrl_py_leader_opts_keys()).split(","))
METRICS = _ffi.string(lib.cbrl_py_leader_metric_names()).split(",")
_INT_METRICS = {"iteration", "context", "env_steps", "follower_iterations", "follower_products", "follower_samples",
                "level", "clipped"}


def leader_options():
    """The option names Leader takes: the numeric ones and the named ones (values by name)."""
    return sorted(_NUMERIC), sorted(_NAMED)


class Leader:
    """A leader (cbrl_leader) on a problem. ``algorithm`` is hpgd-batch (the paper's), hpgd,
    zero-order, amd, exact or hpgd-rtq; the other options are cbrl_leader_opts' fields by name
    (leader_options(): learning_rate, max_grad_norm, optimizer='adam', clip='per-context',
    hpgd_steps, seed, ...), defaults the paper's; ``clip_groups`` (a list of sizes covering x)
    clips each group of consecutive coordinates on its own, [1, 3] on tax design as the paper's
    code clipped the income tax and the VAT. ``follower`` (a cbrl.Follower, Python ones
    included) answers hpgd and hpgd-batch; ``simulator`` is a simulator name; ``x0`` the start
    (default: the environment's own where it has one, as `cbrl run` starts, tax design at
    every rate 0.3; else N(0, init_std^2) from the seed)."""

    def __init__(self, problem, algorithm="hpgd-batch", x0=None, follower=None, simulator=None, **options):
        self.problem = problem
        opts = ffi.new("cbrl_leader_opts **")
        call(lib.cbrl_py_leader_opts_new(opts))
        self._opts = ffi.gc(opts[0], lib.cbrl_py_leader_opts_free)
        err = _ffi.err_buffer()
        if algorithm == "rtq":
            algorithm = "hpgd-rtq"
        call(lib.cbrl_py_leader_opts_set_name(self._opts, b"algorithm", str(algorithm).encode(), err,
                                              _ffi.ERR_SIZE), err)
        for key, value in options.items():
            if key == "clip_groups":
                sizes = [int(v) for v in value]
                if len(sizes) > 8 or min(sizes, default=1) < 1 or sum(sizes) != problem.dim:
                    raise ValueError("clip_groups: %r: expected at most 8 sizes of at least 1 adding up to the "
                                     "problem's dimension %d" % (list(value), problem.dim))
                call(lib.cbrl_py_leader_opts_set_clip_groups(self._opts, ffi.new("int[]", sizes), len(sizes)))
            elif key in _NAMED:
                call(lib.cbrl_py_leader_opts_set_name(self._opts, key.encode(), str(value).encode(), err,
                                                      _ffi.ERR_SIZE), err)
            elif key in ("seed", "stream") and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                if not 0 <= int(value) < 2**64:
                    raise ValueError("%s: must lie in [0, 2^64), got %r" % (key, value))
                call(lib.cbrl_py_leader_opts_set_u64(self._opts, key.encode(), int(value)))  # all 64 bits
            elif key in _NUMERIC:
                if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                    raise TypeError("%s: expected a number, got %r" % (key, value))
                call(lib.cbrl_py_leader_opts_set(self._opts, key.encode(), float(value), err, _ffi.ERR_SIZE), err)
            else:
                raise TypeError("%s: not a leader option (numeric: %s; named: %s)"
                                % (key, ", ".join(sorted(_NUMERIC)), ", ".join(sorted(_NAMED))))
        self.follower = follower
        self.simulator = Simulator(problem, simulator) if isinstance(simulator, str) else simulator
        self._cancel = ffi.new("int *")
        lib.cbrl_py_leader_opts_set_objects(self._opts, follower._h if follower is not None else ffi.NULL,
                                            self.simulator._h if self.simulator is not None else ffi.NULL,
                                            self._cancel)
        x0p = ffi.NULL
        if x0 is None and lib.cbrl_py_env_has_default_x(problem.env_name.encode()) == 1:
            x0 = problem.default_x()  # where `cbrl run` starts it (tax design: every rate 0.3)
        if x0 is not None:
            x0 = problem.check_x(x0, "x0")
            j = problem.bounds_violation(x0)
            if j is not None:
                lo, hi = problem.bounds
                raise ValueError("x0[%d]: %g is outside the problem's bounds [%g, %g]" % (j, x0[j], lo[j], hi[j]))
            x0p = ptr(x0)
        ok, why = problem.supports(algorithm)
        if not ok:
            raise _ffi.CbrlError("leader: %s" % why, -8, "CBRL_ENOTSUP")
        out = ffi.new("cbrl_leader **")
        rc = lib.cbrl_py_leader_create(problem._h, self._opts, x0p, out)
        if rc == -8 and algorithm == "amd":  # CBRL_ENOTSUP
            raise _ffi.CbrlError("leader: amd: this problem's P or mu depends on x, which AMD does not model", rc,
                                 "CBRL_ENOTSUP")
        call(rc, what="leader")
        self._h = out[0]
        # The leader points into its problem, follower, simulator and cancellation flag.
        self._token = _ffi.own(out[0], lib.cbrl_py_leader_free, problem._token,
                               follower._token if follower is not None else None,
                               self.simulator._token if self.simulator is not None else None, self._cancel)
        problem._workspaces.add(self)
        self._metrics = np.empty(lib.cbrl_py_leader_metric_count())
        self._err = _ffi.err_buffer()
        self._query = {"t": ffi.new("int64_t *"), "ints": ffi.new("int[2]"), "x": ffi.new("double **"),
                       "mdp": ffi.new("cbrl_mdp **"), "rng": ffi.new("cbrl_rng **")}
        self._request = (int(self.option("hpgd_steps")), int(self.option("hpgd_streams")),
                         int(self.option("hpgd_max_steps")))

    def option(self, key):
        """A numeric option's value as the leader uses it."""
        v = ffi.new("double *")
        if lib.cbrl_py_leader_opts_get(self._opts, key.encode(), v):
            raise KeyError(key)
        return v[0]

    @property
    def x(self):
        """The current leader parameters (a copy)."""
        return np.frombuffer(ffi.buffer(lib.cbrl_py_leader_x(self._h), self.problem.dim * 8), np.float64).copy()

    @property
    def exact(self):
        """The leader's exact workspace (its MDPs and last best responses), borrowed."""
        return Exact._borrow(self.problem, lib.cbrl_py_leader_exact(self._h), self)

    def step(self, metrics=True):
        """One outer iteration: sample a context, estimate, clip, step. Returns the iteration's
        metrics as a dict (exact F and f at x_t when metrics is true, else NaN). A follower
        written in Python is asked through cbrl's ask/tell split, so it may answer with a
        policy table or with Trajectories."""
        if self.follower is not None and self.follower._python is not None:
            self._ask_tell(metrics)
        else:
            call(lib.cbrl_py_leader_step(self._h, 1 if metrics else 0, ptr(self._metrics)), what="leader step")
        return {k: (int(v) if k in _INT_METRICS else float(v)) for k, v in zip(METRICS, self._metrics)}

    def _ask_tell(self, metrics):
        p, f = self.problem, self.follower
        q = self._query
        call(lib.cbrl_py_leader_ask(self._h, q["t"], q["ints"], q["x"], q["mdp"], q["rng"]), what="leader ask")
        k, wants = int(q["ints"][0]), int(q["ints"][1])
        err = self._err
        m = 1 if metrics else 0
        if not wants:
            rc = lib.cbrl_py_leader_tell_policy(self._h, p.n_states, p.n_actions, ffi.NULL, ffi.NULL, 0, m,
                                                ptr(self._metrics), err, _ffi.ERR_SIZE)
            call(rc, err, what="leader tell")
            return
        xs = np.frombuffer(ffi.buffer(q["x"][0], p.dim * 8), np.float64).copy()
        ctx = FollowerContext(p, k, xs, q["mdp"][0], q["rng"][0], self._request)
        what = "follower %s: returned" % f.name
        try:
            try:
                res = f._python(xs, k, ctx)
            finally:
                ctx._close()
            if not isinstance(res, Trajectories):
                pi, log_pi = _policy_answer(res, p.n_states, p.n_actions, what)
        except BaseException:
            lib.cbrl_py_leader_abandon(self._h)
            raise
        if isinstance(res, Trajectories):
            i32 = lambda a: ptr(a, "int32_t *")
            rc = lib.cbrl_py_leader_tell_batch(self._h, len(res), i32(res.s), i32(res.a), i32(res.next),
                                               ptr(res.r) if res.r is not None else ffi.NULL,
                                               ptr(res.log_pi) if res.log_pi is not None else ffi.NULL,
                                               ptr(res.flags, "uint32_t *"), res.samples, m, ptr(self._metrics),
                                               err, _ffi.ERR_SIZE)
            label = "trajectories"
        else:
            rc = lib.cbrl_py_leader_tell_policy(self._h, p.n_states, p.n_actions, ptr(pi), ptr(log_pi),
                                                int(ctx.samples), m,
                                                ptr(self._metrics), err, _ffi.ERR_SIZE)
            label = None
        if rc in (-1, -3, -7) and err[0] != b"\0":  # EINVAL, EPARSE, ERANGE: the answer was refused, and why
            msg = _ffi.string(err)
            raise ValueError("%s %s" % (what, msg if label is None else "%s: %s" % (label, msg)))
        call(rc, err, what="leader tell (%s)" % (label or "policy"))

    def time_steps_in_c(self, n, metrics=False, cpu=False):
        """Runs n iterations in a C loop and returns each one's seconds, wall or (cpu) this
        thread's CPU time (a benchmark's reference for the Python-driven loop)."""
        t = np.empty(int(n))
        call(lib.cbrl_py_leader_time_steps(self._h, int(n), 1 if metrics else 0, 1 if cpu else 0, ptr(t)),
             what="leader step")
        return t

    def run(self, iterations, metrics_every=1, progress=None):
        """`iterations` steps; returns a dict of arrays of the metrics of every step (exact F
        computed every metrics_every-th step and at the last). progress(t, row) is called after
        each step."""
        rows = []
        for t in range(1, int(iterations) + 1):
            with_m = metrics_every > 0 and (t % metrics_every == 0 or t == 1 or t == iterations)
            row = self.step(with_m)
            rows.append(row)
            if progress is not None:
                progress(t, row)
        return {k: np.array([r[k] for r in rows]) for k in METRICS}
