"""The one t-interval every table uses: across seeds (summaries), of paired differences and of the
same widened by the test set's variance (comparisons)."""

from __future__ import annotations

import numpy as np
from scipy import stats


def t_interval(mean: float, standard_error: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """(low, high): mean -/+ the t quantile with n - 1 degrees of freedom times the standard error."""
    half_width = stats.t.ppf(0.5 + level / 2, df=n - 1) * standard_error
    return mean - half_width, mean + half_width


def confidence_interval(values, level: float = 0.95) -> tuple[float, float]:
    """(low, high) of the mean of values; (nan, nan) with fewer than 2 values."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return float("nan"), float("nan")
    return t_interval(values.mean(), values.std(ddof=1) / np.sqrt(n), n, level)
