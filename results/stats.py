"""Small statistics for reporting accuracies honestly: Wilson intervals, mean and spread over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson_interval(accuracy: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (accuracy = correct / n), as fractions in [0, 1].

    Unlike the normal approximation it stays inside [0, 1] and is sensible at 0%, 100% and small n.
    With n = 0 nothing is known: (0, 1).
    """
    if n <= 0:
        return 0.0, 1.0
    p = min(max(accuracy, 0.0), 1.0)
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # Rounding can put a bound a hair past the accuracy itself (5.6e-17 above 0% at n = 3), and plots
    # draw error bars as accuracy - low: the interval always contains the accuracy, inside [0, 1].
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1, as over seeds in the paper's tables; 0 for one value)."""
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)
