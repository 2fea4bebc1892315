"""Brain tumour scores of slice-stacked patients (LGG kaggle_3m): one row per slice, one per patient.

A patient's slices are segmented as one volume (:class:`core.predict.VolumeSegmenter`: the volume
windowed once, 3-D specks dropped), then scored slice by slice; the patient's Dice comes from the
tp/fp/fn pixels SUMMED over its slices (the per-patient volume Dice of Buda et al. 2019), not from
the mean of slice Dice values. The files carry no spacing, so sizes are in pixels and voxels.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from core import metrics
from core.datasets import FLAIR, SEQUENCES, VolumeCase
from core.predict import VolumeSegmenter

log = logging.getLogger(__name__)

def model_input(case: VolumeCase, channels: int) -> np.ndarray:
    """What a slice model of ``channels`` inputs reads of a patient: ZxHxW FLAIR for one channel,
    ZxHxWx3 (pre-contrast, FLAIR, post-contrast) for three.

    Raises:
        ValueError: another channel count, or a case without its three sequences.
    """
    sequences = case.meta.get("sequences") or {}
    if channels == 1:
        return sequences[SEQUENCES[FLAIR]].voxels if sequences else case.volume.voxels
    if channels != len(SEQUENCES) or set(sequences) != set(SEQUENCES):
        raise ValueError(f"{case.name}: a {channels}-channel model needs the sequences "
                         f"{', '.join(SEQUENCES)} of a kaggle_3m patient; the case holds "
                         f"{', '.join(sequences) or 'one volume'}")
    return np.stack([sequences[s].voxels.astype(np.uint8) for s in SEQUENCES], axis=-1)


def pooled_scores(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Dice and IoU from summed pixel counts (both 1 when truth and prediction are empty)."""
    union = tp + fp + fn
    return {"dice": 2 * tp / (2 * tp + fp + fn) if union else 1.0, "iou": tp / union if union else 1.0}


def slice_rows(case: VolumeCase, pred: np.ndarray) -> list[dict[str, Any]]:
    """One row per slice of a labelled patient: pixel counts, Dice, IoU, HD95 in pixels."""
    truth = case.label > 0
    files = case.meta.get("files") or [f"{case.name}_z{z:03d}" for z in range(len(truth))]
    numbers = case.meta.get("slices") or range(len(truth))
    rows = []
    for z, (name, number) in enumerate(zip(files, numbers)):
        scores = metrics.mask_scores(pred[z], truth[z])
        scores.pop("hd95_mm")  # no pixel size in the files: HD95 in pixels instead
        both_empty = not scores["true_present"] and not scores["pred_present"]
        rows.append({"name": name, "group": case.name, "slice": int(number), **scores,
                     "hd95_px": math.nan if both_empty else metrics.hd95_mm(pred[z], truth[z], 1.0),
                     "area_true_px": int(truth[z].sum()), "area_pred_px": int(pred[z].sum())})
    return rows


def patient_row(name: str, rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """A patient's row from its slice rows: Dice and IoU of the summed tp/fp/fn, volumes in voxels."""
    tp, fp, fn = (int(sum(r[k] for r in rows)) for k in ("tp_px", "fp_px", "fn_px"))
    return {"name": name, "slices": len(rows), "tumour_slices": sum(r["true_present"] for r in rows),
            "true_present": tp + fn > 0, "pred_present": tp + fp > 0,
            "tp_px": tp, "fp_px": fp, "fn_px": fn, **pooled_scores(tp, fp, fn),
            "volume_true_vox": tp + fn, "volume_pred_vox": tp + fp, "seconds": seconds}


def evaluate_patients(vseg: VolumeSegmenter, cases: Iterable[VolumeCase],
                      progress: Callable[[int], None] | None = None
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per-slice and per-patient rows of every labelled patient (unlabelled ones are skipped).

    Args:
        vseg: the volume predictor; its card's ``arch_config["in_channels"]`` picks FLAIR alone
            (1) or all three sequences (3), see :func:`model_input`.
        cases: patients as volumes (:func:`core.datasets.read_kaggle_3m_volumes`).
        progress: called with the number of patients done so far.
    """
    slices: list[dict[str, Any]] = []
    patients: list[dict[str, Any]] = []
    for i, case in enumerate(cases):
        if case.label is None:
            log.warning("%s: not scored, a slice has no _mask.tif (the lab lists its slices)", case.name)
        else:
            t0 = time.perf_counter()
            seg = vseg.predict(model_input(case, vseg.card.sequences))
            rows = slice_rows(case, seg.mask)
            slices += rows
            patients.append(patient_row(case.name, rows, time.perf_counter() - t0))
        if progress:
            progress(i + 1)
    return slices, patients


def summarize_patients(slices: list[dict[str, Any]], patients: list[dict[str, Any]], *,
                       seed: int = 0) -> dict[str, Any]:
    """Set figures: mean per-patient Dice (patients with a tumour) with its 95% bootstrap interval,
    the share of tumour-free slices with any false positive, pooled and per-slice figures."""
    sick = [r for r in patients if r["true_present"]]
    dice = [r["dice"] for r in sick]
    free = [r for r in slices if not r["true_present"]]
    tumour = [r for r in slices if r["true_present"]]
    stats = {k: metrics.summarize([r[k] for r in sick])
             for k in ("dice", "iou", "volume_true_vox", "volume_pred_vox", "seconds")}
    pooled = pooled_scores(*(int(sum(r[k] for r in slices)) for k in ("tp_px", "fp_px", "fn_px")))
    return {
        "n_patients": len(patients), "n_slices": len(slices),
        "n_tumour": len(sick), "n_healthy": len(patients) - len(sick),
        "dice_per_patient_mean": stats["dice"]["mean"] if dice else math.nan,
        "dice_per_patient_median": stats["dice"]["median"] if dice else math.nan,
        "dice_per_patient_ci95": list(metrics.bootstrap_ci(dice, seed=seed)),
        "n_tumour_free_slices": len(free),
        "tumour_free_slices_fp_share": (float(np.mean([r["pred_present"] for r in free])) if free
                                        else math.nan),
        "tumour_slices_dice_mean": float(np.mean([r["dice"] for r in tumour])) if tumour else math.nan,
        "pooled_dice": pooled["dice"],
        "volume_ratio_pred_true": (sum(r["volume_pred_vox"] for r in sick) /
                                   max(1, sum(r["volume_true_vox"] for r in sick))),
        "metrics": stats,
    }
