"""Summaries of per-case metric values: mean, SD, median, range and bootstrap intervals of the mean.

NaN means "could not be computed" and infinite values (HD95 when exactly one mask is empty) are
kept out of every statistic; both are counted, never silently dropped.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

N_RESAMPLES = 2000
CONFIDENCE = 0.95
_CHUNK = 2_000_000  # resampled values held at once: bounds memory on large sets


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Summary statistics of per-case metric values.

    NaN values are ignored (counted in ``n_nan``); infinite values (e.g. HD95 when one mask is
    empty) are kept out of every statistic and counted in ``n_inf``.

    Args:
        values: per-case values (any units).

    Returns:
        ``mean``, ``sd`` (ddof=1; 0.0 when one finite value), ``median``, ``min``, ``max``
        over the finite values; ``n`` (finite values used), ``n_inf``, ``n_nan``. With no
        finite value the statistics are NaN and ``n`` is 0.
    """
    arr = np.asarray(values, dtype=np.float64).ravel()
    nan = np.isnan(arr)
    inf = np.isinf(arr)
    finite = arr[~nan & ~inf]
    counts = {"n": int(finite.size), "n_inf": int(inf.sum()), "n_nan": int(nan.sum())}
    if finite.size == 0:
        stats = dict.fromkeys(("mean", "sd", "median", "min", "max"), math.nan)
        return {**stats, **counts}
    return {
        "mean": float(finite.mean()),
        "sd": float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
        "median": float(np.median(finite)),
        "min": float(finite.min()),
        "max": float(finite.max()),
        **counts,
    }


def bootstrap_ci(values: Sequence[float] | np.ndarray, *, n_resamples: int = N_RESAMPLES,
                 confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of the finite values.

    Resamples are drawn with replacement by a seeded ``numpy.random.default_rng``, vectorised in
    chunks. One finite value or a constant gives a zero-width interval; none gives (NaN, NaN).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    arr = np.asarray(values, dtype=np.float64).ravel()
    x = arr[np.isfinite(arr)]
    if x.size == 0:
        return math.nan, math.nan
    if np.ptp(x) == 0:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CHUNK // x.size)
    means = np.concatenate([x[rng.integers(0, x.size, size=(min(per_chunk, n_resamples - i), x.size))].mean(1)
                            for i in range(0, n_resamples, per_chunk)])
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def group_bootstrap_ci(values: Sequence[float] | np.ndarray, groups: Sequence[object], *,
                       n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE,
                       seed: int = 0) -> tuple[float, float]:
    """Cluster bootstrap interval of the mean of per-case values: whole groups (subjects, patients)
    are resampled with replacement, so frames of one subject, which are alike, count as one draw.

    Non-finite values are left out; a single group gives the zero-width interval of its mean; no
    finite value gives (NaN, NaN).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    arr = np.asarray(values, dtype=np.float64).ravel()
    keys = np.asarray([str(g) for g in groups])
    if keys.size != arr.size:
        raise ValueError(f"{arr.size} values but {keys.size} groups")
    ok = np.isfinite(arr)
    arr, keys = arr[ok], keys[ok]
    if arr.size == 0:
        return math.nan, math.nan
    names, idx = np.unique(keys, return_inverse=True)
    sums = np.bincount(idx, arr, len(names))
    counts = np.bincount(idx, minlength=len(names)).astype(np.float64)
    if len(names) == 1:
        return float(arr.mean()), float(arr.mean())
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), size=(n_resamples, len(names)))
    means = sums[draws].sum(1) / counts[draws].sum(1)
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def wilson_ci(rate: float, n: int, *, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a proportion ``rate`` observed over ``n`` independent units; it stays
    honest at 0 and 1 (0 of 30 gives 0.00-0.11, not a zero-width interval). For clustered cases
    (frames of a subject) pass the number of clusters as ``n``: a conservative interval."""
    if n < 1:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)
