"""Model lab statistics on hand cases: aggregates, bootstrap intervals, paired comparisons, ordering."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core.evaluation.stats import (
    AGGREGATE_COLUMNS,
    aggregate,
    metric_values,
    numeric_metrics,
    paired_comparison,
    worst_first,
)
from core.metrics import bootstrap_ci


def _table(agg: dict[str, list]) -> dict[str, dict]:
    assert list(agg) == list(AGGREGATE_COLUMNS)
    return {m: {k: agg[k][i] for k in agg} for i, m in enumerate(agg["metric"])}


def test_constant_metric_has_a_zero_width_interval():
    lo, hi = bootstrap_ci([0.8] * 25)
    assert lo == hi == 0.8
    assert bootstrap_ci([0.3]) == (0.3, 0.3)


def test_interval_contains_the_mean_and_narrows_with_more_cases():
    rng = np.random.default_rng(1)
    small, large = rng.normal(0.7, 0.1, 20), rng.normal(0.7, 0.1, 500)
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert hi_l - lo_l < hi_s - lo_s
    # close to the normal-theory interval mean +- 1.96 SE for a large sample
    se = large.std(ddof=1) / math.sqrt(large.size)
    assert hi_l - lo_l == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_bootstrap_is_seeded_and_reproducible():
    x = [0.1, 0.5, 0.9, 0.4, 0.7, 0.2]
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3)
    assert bootstrap_ci(x, seed=3) != bootstrap_ci(x, seed=4)
    lo, hi = bootstrap_ci(x, n_resamples=5000, confidence=0.5)
    lo9, hi9 = bootstrap_ci(x, n_resamples=5000, confidence=0.99)
    assert lo9 < lo < hi < hi9


def test_bootstrap_ignores_nan_and_inf_and_refuses_bad_arguments():
    assert bootstrap_ci([math.nan, 0.5, math.inf, 0.5]) == (0.5, 0.5)
    assert all(math.isnan(v) for v in bootstrap_ci([math.nan, math.nan]))
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1.0, 2.0], confidence=1.5)


def test_aggregate_counts_nan_and_inf_explicitly():
    rows = [
        {"name": "a", "dice": 1.0, "hd95_mm": 2.0, "true_present": True, "tp_px": 10},
        {"name": "b", "dice": 0.5, "hd95_mm": math.inf, "true_present": True, "tp_px": 5},
        {"name": "c", "dice": 0.0, "hd95_mm": math.nan, "true_present": False, "tp_px": 0},
        {"name": "d", "dice": 0.5},  # lacks hd95: counted as NaN
    ]
    t = _table(aggregate(rows))
    assert set(t) == {"dice", "hd95_mm", "true_present"}  # ints need naming
    assert t["dice"]["mean"] == pytest.approx(0.5) and t["dice"]["median"] == pytest.approx(0.5)
    assert t["dice"]["sd"] == pytest.approx(np.std([1, 0.5, 0, 0.5], ddof=1))
    assert t["dice"]["ci_low"] <= 0.5 <= t["dice"]["ci_high"]
    assert (t["hd95_mm"]["n"], t["hd95_mm"]["n_inf"], t["hd95_mm"]["n_nan"]) == (1, 1, 2)
    assert t["hd95_mm"]["mean"] == 2.0 and t["hd95_mm"]["ci_low"] == t["hd95_mm"]["ci_high"] == 2.0
    assert t["true_present"]["mean"] == pytest.approx(2 / 3) and t["true_present"]["n_nan"] == 1
    assert _table(aggregate(rows, ["tp_px"]))["tp_px"]["mean"] == pytest.approx(5.0)


def test_numeric_metrics_and_values():
    rows = [{"name": "a", "group": "g", "x": 1.0, "ok": True, "n": 3}, {"name": "b", "y": 2.0}]
    assert numeric_metrics(rows) == ["x", "ok", "y"]
    assert np.array_equal(metric_values(rows, "ok"), [1.0, np.nan], equal_nan=True)
    assert np.array_equal(metric_values(rows, "presence_correct"), [np.nan, np.nan], equal_nan=True)


A = [{"name": "c1", "dice": 0.9}, {"name": "c2", "dice": 0.6}, {"name": "c3", "dice": 0.4},
     {"name": "c4", "dice": math.nan}, {"name": "only_a", "dice": 0.5}]
B = [{"name": "c1", "dice": 0.9}, {"name": "c2", "dice": 0.3}, {"name": "c3", "dice": 0.7},
     {"name": "c4", "dice": 0.8}, {"name": "only_b", "dice": 0.5}]


def test_paired_differences_and_flips_on_hand_rows():
    pc = paired_comparison(A, B, "dice")
    assert pc.n_pairs == 4 and pc.n_valid == 3
    assert pc.excluded == ("c4",) and set(pc.unpaired) == {"only_a", "only_b"}
    assert pc.mean_diff == pytest.approx((0.0 - 0.3 + 0.3) / 3)
    assert pc.mean_a == pytest.approx((0.9 + 0.6 + 0.4) / 3)
    assert pc.ci_low <= pc.mean_diff <= pc.ci_high
    assert (pc.n_b_better, pc.n_a_better, pc.n_ties) == (1, 1, 1)
    assert pc.rule == "dice >= 0.5"
    assert [(f["name"], f["passes"]) for f in pc.flips] == [("c2", "a"), ("c3", "b")]
    assert [d["name"] for d in pc.diffs] == ["c1", "c2", "c3", "c4"] and math.isnan(pc.diffs[3]["diff"])
    assert pc.diffs[1]["diff"] == pytest.approx(-0.3)


def test_paired_lower_is_better_and_custom_threshold():
    a = [{"name": "x", "hd95_mm": 3.0}, {"name": "y", "hd95_mm": math.inf}, {"name": "z", "hd95_mm": 9.0}]
    b = [{"name": "x", "hd95_mm": 6.0}, {"name": "y", "hd95_mm": 4.0}, {"name": "z", "hd95_mm": 8.0}]
    pc = paired_comparison(a, b, "hd95_mm", threshold=5.0)
    assert not pc.higher_is_better and pc.rule == "hd95_mm <= 5"
    assert pc.excluded == ("y",) and pc.n_valid == 2  # inf is out of the mean difference ...
    assert {f["name"]: f["passes"] for f in pc.flips} == {"x": "a", "y": "b"}  # ... but still fails the rule
    assert (pc.n_a_better, pc.n_b_better) == (1, 1)


def test_presence_and_correctness_flips():
    a = [{"name": "p", "pred_present": True, "true_present": True},
         {"name": "q", "pred_present": True, "true_present": False}]
    b = [{"name": "p", "pred_present": False, "true_present": True},
         {"name": "q", "pred_present": False, "true_present": False}]
    pc = paired_comparison(a, b, "presence_correct")
    assert [(f["name"], f["passes"]) for f in pc.flips] == [("p", "a"), ("q", "b")]
    assert pc.mean_diff == 0.0
    ca = [{"name": "i", "correct": True}, {"name": "j", "correct": True}]
    cb = [{"name": "i", "correct": False}, {"name": "j", "correct": True}]
    pc = paired_comparison(ca, cb, "correct")
    assert pc.rule == "correct true" and [f["name"] for f in pc.flips] == ["i"]
    assert paired_comparison(ca, cb, "confidence").rule is None  # no rule, no flips


def test_paired_comparison_refuses_repeated_names():
    with pytest.raises(ValueError, match="repeated case names"):
        paired_comparison([{"name": "a", "dice": 1.0}] * 2, B, "dice")


def test_worst_first_ordering():
    rows = [{"name": "a", "dice": 0.8, "hd95_mm": 2.0}, {"name": "b", "dice": math.nan, "hd95_mm": math.inf},
            {"name": "c", "dice": 0.1, "hd95_mm": 9.0}, {"name": "d", "dice": 0.8, "hd95_mm": math.nan},
            {"name": "e"}]
    names = [r["name"] for r in worst_first(rows, "dice")]
    assert names == ["b", "e", "c", "a", "d"]  # NaN first, then ascending, ties stable
    assert [r["name"] for r in worst_first(rows, "dice", nan="last")] == ["c", "a", "d", "b", "e"]
    assert [r["name"] for r in worst_first(rows, "hd95_mm", nan="last")] == ["b", "c", "a", "d", "e"]
    reverse = worst_first(rows, "dice", higher_is_better=False, nan="last")
    assert [r["name"] for r in reverse][:2] == ["a", "d"]
    with pytest.raises(ValueError, match="nan must be"):
        worst_first(rows, "dice", nan="middle")
