"""The statistics the report scripts share: a mean and its standard error over seeds."""
import math


def mean_se(values, single=float("nan"), drop_missing=False):
    """Mean and standard error (sample s.d. / sqrt(n)) of values; the error is `single` when there
    is one value; with drop_missing, None and NaN values are left out first (NaN, NaN if none is left)."""
    v = [x for x in values if x is not None and not math.isnan(x)] if drop_missing else list(values)
    n = len(v)
    if n == 0:
        return float("nan"), float("nan")
    m = sum(v) / n
    if n < 2:
        return m, single
    return m, math.sqrt(sum((x - m) ** 2 for x in v) / (n - 1) / n)
