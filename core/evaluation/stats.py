"""Aggregates with bootstrap intervals, paired model comparisons and worst-first ordering of rows.

The statistics themselves (:func:`core.metrics.summarize`, :func:`core.metrics.bootstrap_ci`) are
metric summaries and live in :mod:`core.metrics.summary`; this module applies them to rows.

Rows are the per-case dicts of :func:`core.evaluation.case_row` (or the engine's classification
rows). NaN handling is explicit everywhere: NaN means "could not be computed" (no pixel size, no
ellipse) and is left out of every statistic and counted (``n_nan``); an infinite value (HD95
when exactly one mask is empty) is left out of means and intervals and counted (``n_inf``),
the convention of :func:`core.metrics.summarize`, so the lab and ``train.evaluate`` agree.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.metrics.summary import CONFIDENCE, N_RESAMPLES, bootstrap_ci, summarize

LOWER_IS_BETTER = frozenset({"hd95_mm", "hc_abs_diff_mm", "fp_px", "fn_px"})
FLIP_THRESHOLDS = {"dice": 0.5, "iou": 0.5, "f1": 0.5}
# Metrics computed from other columns of a row; None when the row lacks them.
DERIVED: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "presence_correct": lambda r: (r["pred_present"] == r["true_present"]
                                   if "pred_present" in r and "true_present" in r else None),
}
AGGREGATE_COLUMNS = ("metric", "n", "n_nan", "n_inf", "mean", "sd", "median", "ci_low", "ci_high")


def metric_values(rows: Sequence[Mapping[str, Any]], metric: str) -> np.ndarray:
    """One float64 per row: the metric (bools as 0/1); NaN where a row lacks it or holds None."""
    get = DERIVED.get(metric, lambda r: r.get(metric))
    out = np.full(len(rows), np.nan)
    for i, row in enumerate(rows):
        value = get(row)
        if value is not None and not isinstance(value, str):
            out[i] = float(value)
    return out


def numeric_metrics(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Columns holding floats or bools (shares), in first-seen order; ints (pixel counts, class
    indices) and strings are left out: name them explicitly to aggregate them."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update({k: None for k, v in row.items() if isinstance(v, (float, bool, np.floating, np.bool_))})
    return list(keys)


def aggregate(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] | None = None, *,
              n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE, seed: int = 0
              ) -> dict[str, list]:
    """Mean, SD, median and bootstrap CI of the mean of each metric over one model's rows.

    Args:
        rows: per-case rows.
        metrics: columns to aggregate; default :func:`numeric_metrics`.
        n_resamples, confidence, seed: of :func:`bootstrap_ci`.

    Returns:
        Column-oriented table (``pandas.DataFrame(result)`` shows it), columns
        :data:`AGGREGATE_COLUMNS`, one entry per metric; statistics over the finite values.
    """
    table: dict[str, list] = {c: [] for c in AGGREGATE_COLUMNS}
    for metric in numeric_metrics(rows) if metrics is None else metrics:
        values = metric_values(rows, metric)
        s = summarize(values)
        lo, hi = bootstrap_ci(values, n_resamples=n_resamples, confidence=confidence, seed=seed)
        for key, value in (("metric", metric), ("n", s["n"]), ("n_nan", s["n_nan"]), ("n_inf", s["n_inf"]),
                           ("mean", s["mean"]), ("sd", s["sd"]), ("median", s["median"]),
                           ("ci_low", lo), ("ci_high", hi)):
            table[key].append(value)
    return table


def is_higher_better(metric: str) -> bool:
    """False for errors and distances (:data:`LOWER_IS_BETTER`), True otherwise."""
    return metric not in LOWER_IS_BETTER


@dataclass(frozen=True)
class PairedComparison:
    """Model B against model A, case by case, on one metric (differences are ``b - a``).

    Attributes:
        metric: the compared column; higher_is_better: its direction.
        n_pairs: cases in both row sets; n_valid: pairs with a finite value on both sides.
        mean_a, mean_b, mean_diff, ci_low, ci_high: over the valid pairs (bootstrap of the
            per-case differences, so the pairing is kept).
        n_b_better, n_a_better, n_ties: valid pairs by sign of the difference and direction.
        rule: the pass rule behind ``flips`` (``"dice >= 0.5"``), or None (no flips computed).
        diffs: ``{"name", "a", "b", "diff"}`` per pair (diff NaN when not valid).
        flips: ``{"name", "a", "b", "passes"}`` for pairs passing the rule in only one model
            (``passes`` is ``"a"`` or ``"b"``); pairs with NaN on a side are not judged.
        excluded: names of pairs left out of the difference (NaN or infinite on a side).
        unpaired: names in only one of the row sets.
    """

    metric: str
    higher_is_better: bool
    n_pairs: int
    n_valid: int
    mean_a: float
    mean_b: float
    mean_diff: float
    ci_low: float
    ci_high: float
    n_b_better: int
    n_a_better: int
    n_ties: int
    rule: str | None
    diffs: tuple[dict[str, Any], ...]
    flips: tuple[dict[str, Any], ...]
    excluded: tuple[str, ...]
    unpaired: tuple[str, ...]


def _by_name(rows: Sequence[Mapping[str, Any]], which: str) -> dict[str, Mapping[str, Any]]:
    out = {str(r["name"]): r for r in rows}
    if len(out) != len(rows):
        raise ValueError(f"rows_{which} has repeated case names; cases must be unique to be paired")
    return out


def _is_boolean(rows: Sequence[Mapping[str, Any]], metric: str) -> bool:
    """A right/wrong column: derived, or holding bools."""
    return metric in DERIVED or any(isinstance(r.get(metric), (bool, np.bool_)) for r in rows)


def _pass_rule(metric: str, boolean: bool, threshold: float | None, higher: bool
               ) -> tuple[str | None, Callable[[float], bool] | None]:
    if threshold is None and metric in FLIP_THRESHOLDS:
        threshold = FLIP_THRESHOLDS[metric]
    if threshold is not None:
        thr = float(threshold)
        return (f"{metric} >= {thr:g}", lambda v: v >= thr) if higher else \
               (f"{metric} <= {thr:g}", lambda v: v <= thr)
    if boolean:
        return (f"{metric} true", lambda v: v == 1.0) if higher else (f"{metric} false", lambda v: v == 0.0)
    return None, None


def paired_comparison(rows_a: Sequence[Mapping[str, Any]], rows_b: Sequence[Mapping[str, Any]], metric: str,
                      *, threshold: float | None = None, higher_is_better: bool | None = None,
                      n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE, seed: int = 0
                      ) -> PairedComparison:
    """Per-case differences of two models on the same cases, and the cases that flip.

    A case flips when it passes a rule in one model and fails it in the other: ``threshold``
    (default 0.5 for Dice, IoU and F1; ``<=`` for lower-is-better metrics), or for right/wrong
    columns (``correct``, ``presence_correct``: is the presence call right) being right.
    Cases are paired by ``name``; the order is that of ``rows_a``.
    """
    a_rows, b_rows = _by_name(rows_a, "a"), _by_name(rows_b, "b")
    names = [n for n in a_rows if n in b_rows]
    unpaired = tuple([n for n in a_rows if n not in b_rows] + [n for n in b_rows if n not in a_rows])
    higher = is_higher_better(metric) if higher_is_better is None else bool(higher_is_better)
    a = metric_values([a_rows[n] for n in names], metric)
    b = metric_values([b_rows[n] for n in names], metric)
    valid = np.isfinite(a) & np.isfinite(b)
    d = np.where(valid, b - a, np.nan)
    lo, hi = bootstrap_ci(d[valid], n_resamples=n_resamples, confidence=confidence, seed=seed)
    better = d[valid] if higher else -d[valid]
    rule, passes = _pass_rule(metric, _is_boolean([*rows_a, *rows_b], metric), threshold, higher)
    flips = []
    if passes is not None:
        for n, va, vb in zip(names, a, b):
            if not (math.isnan(va) or math.isnan(vb)) and passes(va) != passes(vb):
                flips.append({"name": n, "a": float(va), "b": float(vb),
                              "passes": "a" if passes(va) else "b"})

    def mean(x: np.ndarray) -> float:
        return float(x.mean()) if x.size else math.nan

    return PairedComparison(
        metric=metric, higher_is_better=higher, n_pairs=len(names), n_valid=int(valid.sum()),
        mean_a=mean(a[valid]), mean_b=mean(b[valid]), mean_diff=mean(d[valid]), ci_low=lo, ci_high=hi,
        n_b_better=int((better > 0).sum()), n_a_better=int((better < 0).sum()),
        n_ties=int((better == 0).sum()), rule=rule,
        diffs=tuple({"name": n, "a": float(va), "b": float(vb), "diff": float(vd)}
                    for n, va, vb, vd in zip(names, a, b, d)),
        flips=tuple(flips), excluded=tuple(n for n, ok in zip(names, valid) if not ok), unpaired=unpaired)


def worst_first(rows: Sequence[Mapping[str, Any]], metric: str, *, higher_is_better: bool | None = None,
                nan: str = "first") -> list[Mapping[str, Any]]:
    """The rows ordered worst first on ``metric`` (stable: ties keep their order).

    Args:
        higher_is_better: direction; default :func:`is_higher_better`. An infinite HD95 sorts as
            the worst distance.
        nan: ``"first"`` (default: a value that could not be computed, such as a failed ellipse
            fit, is worth a look first) or ``"last"``; rows lacking the metric count as NaN.
    """
    if nan not in ("first", "last"):
        raise ValueError(f"nan must be 'first' or 'last', got {nan!r}")
    higher = is_higher_better(metric) if higher_is_better is None else bool(higher_is_better)
    values = metric_values(rows, metric)
    is_nan = np.isnan(values)
    key = np.where(is_nan, 0.0, values if higher else -values)  # ascending key = worst first
    order = np.lexsort((np.arange(len(rows)), key, ~is_nan if nan == "first" else is_nan))
    return [rows[i] for i in order]
