"""Wilson intervals at the edges: the interval always contains the accuracy and stays inside [0, 1]."""

from __future__ import annotations

import pytest

from promptclimb.results.stats import wilson_interval


@pytest.mark.parametrize("n", range(1, 200))
def test_wilson_interval_contains_0_and_100_percent_exactly(n: int) -> None:
    # Error bars are accuracy - low and high - accuracy: a bound past 0% or 100% by rounding crashed `report`.
    assert wilson_interval(0.0, n)[0] == 0.0
    assert wilson_interval(1.0, n)[1] == 1.0
    low, high = wilson_interval(0.37, n)
    assert 0.0 <= low <= 0.37 <= high <= 1.0
