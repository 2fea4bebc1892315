"""How well a fetal head model measures HC on a labelled set: the figures its card and README report.

Computed from scored case rows (``per_case.csv`` of ``train.evaluate --task fetal_head``, or the
model lab's rows): every frame with a reference HC counts, and a frame where no head was measured
counts as a full miss (its absolute error is the reference HC itself), as the HC18 challenge does.
Means come with a 95% percentile-bootstrap interval; head-size bands follow the reference HC.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.metrics.summary import bootstrap_ci

BANDS = (("< 100 mm", 0.0, 100.0), ("100-200 mm", 100.0, 200.0), ("> 200 mm", 200.0, math.inf))


def _num(row: Mapping[str, Any], key: str) -> float:
    try:
        value = float(row.get(key, math.nan))
    except (TypeError, ValueError):
        return math.nan
    return value


def _mean_ci(values: np.ndarray) -> dict[str, Any]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return {"mean": None, "ci95": None, "n": 0}
    lo, hi = bootstrap_ci(finite)
    return {"mean": round(float(finite.mean()), 4), "ci95": [round(lo, 4), round(hi, 4)],
            "n": int(finite.size)}


def _block(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    ref = np.array([_num(r, "hc_ref_mm") for r in rows])
    pred = np.array([_num(r, "hc_pred_mm") for r in rows])
    missed = ~np.isfinite(pred)
    err = np.where(missed, ref, np.abs(pred - ref))
    signed = pred - ref
    return {
        "n": len(rows),
        "missed": int(missed.sum()),
        "hc_abs_error_mm": _mean_ci(err),
        "hc_signed_error_mm": _mean_ci(signed),
        "dice": _mean_ci(np.array([_num(r, "dice") for r in rows])),
        "hd95_mm": _mean_ci(np.array([_num(r, "hd95_mm") for r in rows])),
    }


def hc_report(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """HC error over every frame with a reference, by head-size band, and how the spread tracks it.

    Args:
        rows: scored case rows with ``hc_ref_mm`` and ``hc_pred_mm`` (NaN or empty: not measured),
            ``dice`` and ``hd95_mm``, and where the model has test-time views ``hc_spread_mm`` and
            ``uncertain``.

    Returns:
        ``{"all": block, "bands": {band: block}, "spread": {...}}`` where a block holds ``n``,
        ``missed`` and mean / 95% CI / n of the absolute and signed HC error (mm), Dice and HD95 (mm);
        ``spread`` gives the Spearman rank correlation between the views' HC spread and the
        absolute HC error on the measured frames, and the error of frames called uncertain vs the rest.
    """
    rows = [r for r in rows if math.isfinite(_num(r, "hc_ref_mm"))]
    out: dict[str, Any] = {"all": _block(rows), "bands": {}}
    for name, lo, hi in BANDS:
        out["bands"][name] = _block([r for r in rows if lo <= _num(r, "hc_ref_mm") < hi])
    measured = [r for r in rows if math.isfinite(_num(r, "hc_pred_mm"))]
    spread = np.array([_num(r, "hc_spread_mm") for r in measured])
    err = np.array([abs(_num(r, "hc_pred_mm") - _num(r, "hc_ref_mm")) for r in measured])
    ok = np.isfinite(spread)
    if ok.sum() >= 3 and np.ptp(spread[ok]) > 0:
        from scipy.stats import spearmanr  # scipy.stats takes 0.4-0.7 s to import: only when scoring

        rho, p = spearmanr(spread[ok], err[ok])
        flagged = np.array([str(r.get("uncertain", "")).lower() in ("true", "1") for r in measured])
        out["spread"] = {
            "n": int(ok.sum()),
            "spearman_rho": round(float(rho), 3),
            "p_value": float(p),
            "spread_mean_mm": round(float(spread[ok].mean()), 3),
            "uncertain_n": int(flagged.sum()),
            "uncertain_abs_error_mm": _mean_ci(err[flagged])["mean"],
            "others_abs_error_mm": _mean_ci(err[~flagged])["mean"],
        }
    return out


def format_block(block: Mapping[str, Any]) -> str:
    """One line for people: ``HC |error| 2.1 mm (95% CI 1.7-2.6), Dice 0.972, HD95 1.9 mm, n=68``."""
    e, d, h = block["hc_abs_error_mm"], block["dice"], block["hd95_mm"]
    if not e["n"]:
        return f"n={block['n']}: no frame"
    words = f"HC |error| {e['mean']:.2f} mm (95% CI {e['ci95'][0]:.2f}-{e['ci95'][1]:.2f})"
    if d["n"]:
        words += f", Dice {d['mean']:.3f}"
    if h["n"]:
        words += f", HD95 {h['mean']:.2f} mm"
    words += f", n={block['n']}"
    if block["missed"]:
        words += f" ({block['missed']} without a measured head, counted as full misses)"
    return words
