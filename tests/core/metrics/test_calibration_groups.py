"""core.metrics: cluster bootstrap intervals and the calibration of a presence probability."""
from __future__ import annotations

import numpy as np
import pytest


def test_group_bootstrap_resamples_whole_groups() -> None:
    from core.metrics import group_bootstrap_ci

    # Two subjects, one perfect, one failed: frame-level resampling of 100 frames would give a narrow
    # interval around 0.5; resampling subjects spans both extremes.
    values = [1.0] * 50 + [0.0] * 50
    groups = ["a"] * 50 + ["b"] * 50
    lo, hi = group_bootstrap_ci(values, groups)
    assert lo == 0.0 and hi == 1.0
    assert group_bootstrap_ci([0.2, 0.4], ["a", "a"]) == (pytest.approx(0.3), pytest.approx(0.3))
    assert all(np.isnan(group_bootstrap_ci([np.nan], ["a"])))
    with pytest.raises(ValueError, match="groups"):
        group_bootstrap_ci([1.0, 2.0], ["a"])


def test_binary_calibration_bins_the_probability_itself() -> None:
    from core.metrics import binary_calibration

    ece, bins = binary_calibration([True, False, True, False], [0.95, 0.05, 0.95, 0.05])
    assert ece == pytest.approx(0.05)
    assert bins["count"][0] == 2 and bins["count"][-1] == 2 and sum(bins["count"]) == 4
    assert bins["accuracy"][-1] == 1.0 and bins["confidence"][0] == pytest.approx(0.05)
    # Always 0.9 sure, right half the time: far from the diagonal.
    ece, _ = binary_calibration([True, False] * 10, [0.9] * 20)
    assert ece == pytest.approx(0.4)
    with pytest.raises(ValueError):
        binary_calibration([True], [0.5, 0.5])
