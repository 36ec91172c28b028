"""Figures with matplotlib, matching `cbrl plot`'s (docs/CONFIG.md, Tables and figures): learning
curves of the best setting per algorithm (mean +- s.e. over seeds), Four-Rooms penalty maps
and the tax-design rates. Each function draws into an Axes (new when ax is None) and returns it."""
import numpy as np

from . import _ffi
from ._ffi import lib, ptr

_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
_TAX_RATES = (("income_tax", "income"), ("vat1", "VAT 1"), ("vat2", "VAT 2"), ("vat3", "VAT 3"))


def _cols(table):
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        return {c: table[c].to_numpy() for c in table.columns}
    return table


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(7, 4.5))
    return ax


def _same(a, b):
    return a == b or (np.isnan(a) and np.isnan(b))


def column(algorithm, simulator):
    """A run's column name: the algorithm, with " (paper-code sim)" for that simulator."""
    return algorithm + (" (paper-code sim)" if simulator == "paper-code" else "")


def best_settings(results, lam=None, beta=None, metric="window_F", min_seeds=1):
    """The best setting (learning rate, c) of each column at (lambda, beta), by the mean over
    seeds of the final-window F, as `cbrl table` and `cbrl plot` choose it: a dict column ->
    (run ids, learning_rate, zero_order_c, mean)."""
    runs = _cols(results.runs)
    ok = runs["status"] == "done"
    cols = [column(a, s) for a, s in zip(runs["algorithm"], runs["simulator"])]
    lams = np.asarray(runs["lambda"], float)
    betas = np.asarray(runs["beta"], float)
    lam = lams[ok][0] if lam is None and ok.any() else lam
    beta = betas[ok][0] if beta is None and ok.any() else beta
    out = {}
    for c in dict.fromkeys(np.array(cols)[ok]):
        settings = {}
        for i in np.nonzero(ok)[0]:
            if cols[i] != c or not _same(lams[i], lam) or not _same(betas[i], beta):
                continue
            zc = float(runs["zero_order_c"][i])
            key = (float(runs["learning_rate"][i]), None if np.isnan(zc) else zc)  # NaN keys never match
            settings.setdefault(key, []).append(i)
        best = None
        for key, idx in settings.items():
            if len(idx) < min_seeds:
                continue
            mean = float(np.mean(np.asarray(runs[metric], float)[idx]))
            if best is None or mean > best[3]:
                best = ([int(runs["id"][i]) for i in idx], key[0], key[1], mean)
        if best:
            out[c] = best
    return out


def _title_axes(lam, beta):
    parts = []
    if lam is not None and not np.isnan(lam):
        parts.append("\u03bb = %g" % lam)
    if beta is not None and not np.isnan(beta):
        parts.append("\u03b2 = %g" % beta)
    return ", ".join(parts)


def _series(metrics, ids, name, extra=None):
    """The runs' values of one metric on their common iterations: (iterations, values runs x t)."""
    if extra is not None:
        run_id, it, nm, val = (np.asarray(extra[k]) for k in ("run_id", "iteration", "name", "value"))
        sel = nm == name
        run_id, it, val = run_id[sel], it[sel], val[sel].astype(float)
    else:
        run_id, it, val = (np.asarray(metrics[k]) for k in ("run_id", "iteration", name))
        val = val.astype(float)
    per = []
    for i in ids:
        m = (run_id == i) & np.isfinite(val)
        per.append(dict(zip(it[m].tolist(), val[m].tolist())))
    common = sorted(set.intersection(*(set(p) for p in per))) if per else []
    return np.array(common), np.array([[p[t] for t in common] for p in per])


def _smooth(y, w):
    if w <= 1 or y.shape[-1] < w:
        return y
    k = np.ones(w) / w
    return np.array([np.convolve(row, k, mode="valid") for row in y])


def _band(ax, t, Y, colour, label, smooth, style="-"):
    Y = _smooth(Y, smooth)
    t = t[len(t) - Y.shape[1]:]
    mean = Y.mean(axis=0)
    se = Y.std(axis=0, ddof=1) / np.sqrt(Y.shape[0]) if Y.shape[0] > 1 else np.zeros_like(mean)
    ax.plot(t, mean, style, color=colour, label=label, lw=1.4)
    ax.fill_between(t, mean - se, mean + se, color=colour, alpha=0.2, lw=0)


def curves(results, lam=None, beta=None, metric="F", smooth=1, ax=None, env_title=None):
    """Learning curves: the exact F (or another metrics column) over outer iterations of each
    algorithm column's best setting at (lambda, beta), mean +- s.e. over its seeds."""
    ax = _axes(ax)
    runs = _cols(results.runs)
    metrics = _cols(results.metrics)
    best = best_settings(results, lam, beta)
    if lam is None and len(runs["lambda"]):
        lam = float(runs["lambda"][0])
    if beta is None and len(runs["beta"]):
        beta = float(runs["beta"][0])
    for n, (c, (ids, lr, zc, _)) in enumerate(best.items()):
        t, Y = _series(metrics, ids, metric)
        if not len(t):
            continue
        _band(ax, t, Y, _COLOURS[n % len(_COLOURS)], "%s (%s)" % (c, _setting(lr, zc, len(ids))), smooth)
    env = env_title or (runs["env"][0] if len(runs["env"]) else "")
    axes = _title_axes(lam, beta)
    ax.set_title("%s%s%s: F, mean \u00b1 s.e." % ({"four-rooms": "Four-Rooms"}.get(env, env), ", " if axes else "",
                                                 axes))
    ax.set_xlabel("outer iteration")
    ax.set_ylabel("F" if metric == "F" else metric)
    ax.legend(fontsize=8, loc="lower right")
    return ax


def _setting(lr, zc, n):
    c = "" if zc is None or np.isnan(zc) or zc == 0 else ", c %g" % zc
    return "lr %g%s, %d seed%s" % (lr, c, n, "" if n == 1 else "s")


def _env_curves(results, names, labels, what, ylabel, lam, smooth, ax):
    ax = _axes(ax)
    runs = _cols(results.runs)
    extra = _cols(results.extra_metrics)
    best = best_settings(results, lam, None)
    styles = ["-", ":", "--", "-."]
    for n, (c, (ids, lr, zc, _)) in enumerate(best.items()):
        for name, label, style in zip(names, labels, styles):
            t, Y = _series(None, ids, name, extra)
            if len(t):
                _band(ax, t, Y, _COLOURS[n % len(_COLOURS)], "%s: %s (%s)" % (c, label, _setting(lr, zc, len(ids))),
                      smooth, style)
    lam = float(runs["lambda"][0]) if lam is None and len(runs["lambda"]) else lam
    ax.set_title("tax-design, %s: %s, mean \u00b1 s.e." % (_title_axes(lam, None), what))
    ax.set_xlabel("outer iteration")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0.0, -0.15), frameon=False)
    return ax


def tax_rates(results, lam=None, smooth=1, ax=None):
    """The tax-design rates (income, VAT 1-3) over outer iterations of each column's best
    setting, mean +- s.e. over seeds, from the store's environment metrics (as
    tax_rates_*.png)."""
    names, labels = zip(*_TAX_RATES)
    return _env_curves(results, names, labels, "tax rates", "rate", lam, smooth, ax)


def households(results, lam=None, smooth=1, ax=None):
    """The households' mean value J, its spread across households and the revenue over outer
    iterations (as households_*.png, on one axis)."""
    return _env_curves(results, ("household_value", "household_spread", "revenue"),
                       ("J (mean)", "J spread", "revenue"), "households and revenue", "value", lam, smooth, ax)


def four_rooms_layout():
    """The Four-Rooms cells' (rows, cols) and the start, target and goal cells."""
    rows, cols, special = np.zeros(104, np.int32), np.zeros(104, np.int32), np.zeros(4, np.int32)
    lib.cbrl_py_four_rooms_layout(ptr(rows, "int *"), ptr(cols, "int *"), ptr(special, "int *"))
    return rows, cols, special


def greedy_path(mdp, pi, start, max_len=256):
    """The follower's most likely path from start, as `cbrl plot` traces it: argmax pi, then the
    most likely next state, until a terminal state, a self-loop or a revisit."""
    A = mdp.n_actions
    row, nxt, prob, term = mdp.row, mdp.next, mdp.prob, mdp.terminal
    path = [int(start)]
    s = int(start)
    while len(path) < max_len and not term[s]:
        a = int(np.argmax(pi[s]))
        lo, hi = row[s * A + a], row[s * A + a + 1]
        t = int(nxt[lo + int(np.argmax(prob[lo:hi]))])
        if t == s or t in path:
            break
        path.append(t)
        s = t
    return path


def penalty_map(x, ax=None, title=None, vmax=None, problem=None):
    """The Four-Rooms penalties p = -0.2 softmax(x) of leader parameters x (105 values) as a map
    of |p| x100 on the 13 x 13 grid (walls dark), with S, +1 (the leader's target), G1 and G2,
    as `cbrl plot` draws them; with problem (the Four-Rooms problem of the run), also the
    follower's most likely path to each goal at x (blue to G1, green to G2)."""
    import matplotlib.colors as mcolors
    x = _ffi.as_array(x, "x", (105,))
    pen = np.zeros(104)
    lib.cbrl_py_four_rooms_penalties(ptr(x), ptr(pen))
    rows, cols, special = four_rooms_layout()
    ax = _axes(ax)
    grid = np.full((13, 13), np.nan)
    grid[rows, cols] = np.abs(pen) * 100
    cmap = mcolors.LinearSegmentedColormap.from_list("cbrl_pen", ["white", "#8b0000"])
    cmap.set_bad("#3a3a3a")
    im = ax.imshow(grid, cmap=cmap, vmin=0, vmax=vmax or max(np.nanmax(grid), 1e-12), origin="upper")
    for cell, label in zip(special, ("S", "+1", "G1", "G2")):
        ax.text(cols[cell], rows[cell], label, ha="center", va="center", fontsize=11)
    if problem is not None:
        e = problem.exact()
        e.evaluate(x, grad=False)
        for k, colour in zip(range(problem.n_contexts), ("#1f77b4", "#2ca02c")):
            path = greedy_path(e.mdp(k), e.policy(k), special[0])
            off = 0.08 * (1 if k else -1)
            for a, b in zip(path[:-1], path[1:]):
                ax.annotate("", xy=(cols[b] + off, rows[b] + off), xytext=(cols[a] + off, rows[a] + off),
                            arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.5, shrinkA=0, shrinkB=0))
        ax.set_xlabel("paths: blue to G1, green to G2", fontsize=9, loc="left")
    ax.set_xticks([])
    ax.set_yticks([])
    cb = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cb.ax.set_title("|p| x100", fontsize=9)
    if title:
        ax.set_title(title)
    return ax


def sweep(directory, out_dir, formats=("png",), smooth=1, only=None):
    """The CLI's own figures (`cbrl plot DIR --out OUT`), drawn by libcbrl_run; returns the
    number of figures written."""
    import os
    os.makedirs(out_dir, exist_ok=True)
    f = (1 if "png" in formats else 0) | (2 if "svg" in formats else 0)
    n = _ffi.ffi.new("int *")
    err = _ffi.err_buffer()
    _ffi.check(lib.cbrl_py_plot(str(directory).encode(), str(out_dir).encode(), f, int(smooth),
                                only.encode() if only else _ffi.ffi.NULL, n, err, _ffi.ERR_SIZE), err)
    return n[0]
