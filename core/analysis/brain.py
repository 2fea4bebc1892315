"""Brain tumour volumes: tumour volume in mL, per-volume and per-slice scores, set summaries.

The masks come from the slice-by-slice volume predictor (:class:`core.predict.VolumeSegmenter`,
``task brain_tumor``), on the grid of the volume in display orientation (:mod:`core.io.volume`).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from core import metrics
from core.predict import VolumeSegmenter


# ---------------------------------------------------------------- measurements
def tumour_volume_ml(mask: np.ndarray, spacing_mm: Sequence[float] | None) -> float | None:
    """Volume of a ZxHxW mask in millilitres (1 mL = 1000 mm^3); None when the spacing is unknown."""
    if spacing_mm is None:
        return None
    return float(np.count_nonzero(mask)) * float(np.prod(spacing_mm)) / 1000.0


def volume_metrics(pred: np.ndarray, truth: np.ndarray,
                   spacing_mm: Sequence[float] | None) -> dict[str, float]:
    """Dice, IoU, HD95 and volumes of a predicted vs a true ZxHxW mask.

    HD95 is in mm with the voxel spacing (slice, row, col); without a spacing it is in voxels and
    the key is ``hd95_vox``. A one-slice volume is scored in 2-D (its contour, in-plane spacing):
    in 3-D every voxel of a one-voxel-thick mask would count as surface. Dice and IoU are 1 when
    both masks are empty.
    """
    out = {"dice": metrics.dice(pred, truth), "iou": metrics.iou(pred, truth)}
    flat = pred.shape[0] == 1
    p, t = (pred[0], truth[0]) if flat else (pred, truth)
    if spacing_mm is None:
        out["hd95_vox"] = metrics.hd95_mm(p, t, 1.0)
        return out
    out["hd95_mm"] = metrics.hd95_mm(p, t, tuple(spacing_mm[1:]) if flat else tuple(spacing_mm))
    out["volume_pred_ml"] = tumour_volume_ml(pred, spacing_mm)
    out["volume_true_ml"] = tumour_volume_ml(truth, spacing_mm)
    out["volume_diff_ml"] = out["volume_pred_ml"] - out["volume_true_ml"]
    return out


def slice_table(pred: np.ndarray, truth: np.ndarray | None, spacing_mm: Sequence[float] | None,
                axis: int = 0) -> list[dict[str, Any]]:
    """One row per slice along ``axis``: tumour area (mm^2, or px without spacing) and, with a
    ground truth, Dice, IoU and HD95 (mm) of that slice. Slices where both masks are empty get
    NaN scores rather than a flattering 1."""
    sp = None if spacing_mm is None else [float(s) for s in spacing_mm]
    in_plane = None if sp is None else [s for a, s in enumerate(sp) if a != axis]
    unit = "px" if sp is None else "mm2"

    def area(m: np.ndarray) -> int | float:  # a pixel count stays a whole number
        n = int(np.count_nonzero(m))
        return n if in_plane is None else n * in_plane[0] * in_plane[1]

    rows = []
    for k in range(pred.shape[axis]):
        p = np.take(pred, k, axis=axis)
        row: dict[str, Any] = {"slice": k, f"area_pred_{unit}": area(p)}
        if truth is not None:
            t = np.take(truth, k, axis=axis)
            row[f"area_true_{unit}"] = area(t)
            both_empty = not p.any() and not t.any()
            row["dice"] = math.nan if both_empty else metrics.dice(p, t)
            row["iou"] = math.nan if both_empty else metrics.iou(p, t)
            hd_key = "hd95_px" if in_plane is None else "hd95_mm"
            row[hd_key] = math.nan if both_empty else metrics.hd95_mm(p, t, in_plane or 1.0)
        rows.append(row)
    return rows


def evaluate_volumes(vseg: VolumeSegmenter, cases: Iterable[Any],
                     progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """One row per labelled volume: Dice, IoU, HD95 (mm), tumour volumes (mL) and seconds.

    Args:
        vseg: the volume predictor.
        cases: :class:`core.datasets.VolumeCase` objects (unlabelled ones are skipped).
        progress: called with the number of volumes done so far.
    """
    rows = []
    for i, case in enumerate(cases):
        if case.label is None:
            if progress:
                progress(i + 1)
            continue
        t0 = time.perf_counter()
        seg = vseg.predict(case.volume.voxels)
        seconds = time.perf_counter() - t0
        truth = case.label > 0
        row = {"name": case.name, "slices": int(truth.shape[0]), "true_present": bool(truth.any()),
               **volume_metrics(seg.mask, truth, case.volume.spacing_mm), "seconds": seconds}
        rows.append(row)
        if progress:
            progress(i + 1)
    return rows


def summarize_volumes(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Set figures from :func:`evaluate_volumes` rows.

    Dice, IoU, HD95 and the volume error are summarised over the volumes that hold a tumour (a
    healthy volume has no tumour to overlap: its Dice would be 1 or 0 and say little); healthy
    volumes are summarised by how often any tumour was predicted and how much (false positive mL).
    """
    sick = [r for r in rows if r["true_present"]]
    healthy = [r for r in rows if not r["true_present"]]
    stats = {k: metrics.summarize([r[k] for r in sick if k in r])
             for k in ("dice", "iou", "hd95_mm", "hd95_vox", "volume_true_ml", "volume_pred_ml", "seconds")
             if any(k in r for r in sick)}
    if sick and "volume_diff_ml" in sick[0]:
        stats["abs_volume_diff_ml"] = metrics.summarize([abs(r["volume_diff_ml"]) for r in sick])
    out: dict[str, Any] = {"n_tumour": len(sick), "n_healthy": len(healthy), "metrics": stats}
    if healthy:
        out["healthy_clean_share"] = float(np.mean([r["dice"] == 1.0 for r in healthy]))
        if "volume_pred_ml" in healthy[0]:
            out["healthy_false_ml_mean"] = float(np.mean([r["volume_pred_ml"] for r in healthy]))
    return out
