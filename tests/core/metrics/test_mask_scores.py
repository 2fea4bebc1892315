"""core.metrics.mask_scores: the one set of overlap columns, checked by hand and against the parts."""
from __future__ import annotations

import math

import numpy as np

from core import metrics


def test_hand_computed_case() -> None:
    pred = np.zeros((6, 6), bool)
    truth = np.zeros((6, 6), bool)
    pred[1:3, 1:4] = True  # 6 px
    truth[1:4, 1:3] = True  # 6 px, 4 shared
    s = metrics.mask_scores(pred, truth)
    assert (s["tp_px"], s["fp_px"], s["fn_px"]) == (4, 2, 2)
    assert s["dice"] == 8 / 12 and s["iou"] == 4 / 8 and s["precision"] == s["recall"] == 4 / 6
    assert s["true_present"] and s["pred_present"] and math.isnan(s["hd95_mm"])
    assert list(s) == ["dice", "iou", "precision", "recall", "hd95_mm", "true_present", "pred_present",
                       "tp_px", "fp_px", "fn_px"]  # the case rows' column order


def test_both_empty_scores_one_and_spacing_gives_hd95() -> None:
    empty = np.zeros((5, 5), bool)
    s = metrics.mask_scores(empty, empty)
    assert s["dice"] == s["iou"] == 1.0 and not s["true_present"] and not s["pred_present"]
    a = np.zeros((9, 9), bool)
    a[2:5, 2:5] = True
    b = np.roll(a, 2, axis=1)
    assert metrics.mask_scores(a, b, 0.5)["hd95_mm"] == metrics.hd95_mm(a, b, 0.5) == 1.0
