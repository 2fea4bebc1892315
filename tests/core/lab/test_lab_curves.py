"""One-vs-rest ROC and precision-recall curves, checked on hand-computed cases."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core.lab.curves import pr_curves, roc_curves

# Class 1 scores 0.1, 0.4, 0.35, 0.8 for truths 0, 0, 1, 1: the textbook case, AUC 0.75, AP 5/6.
Y = [0, 0, 1, 1]
PROBS = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])


def test_roc_points_and_auc_by_hand() -> None:
    neg, pos = roc_curves(Y, PROBS, ["a", "b"])
    assert pos.label == "b" and (pos.n_pos, pos.n_neg) == (2, 2)
    assert pos.x == (0.0, 0.0, 0.5, 0.5, 1.0) and pos.y == (0.0, 0.5, 0.5, 1.0, 1.0)
    assert pos.thresholds == (0.8, 0.4, 0.35, 0.1)
    assert pos.area == pytest.approx(0.75)
    assert neg.area == pytest.approx(0.75)  # two classes: the same ranking read the other way


def test_average_precision_by_hand() -> None:
    _, pos = pr_curves(Y, PROBS, ["a", "b"])
    assert pos.x == (0.0, 0.5, 0.5, 1.0, 1.0)  # recall
    assert pos.y == pytest.approx((1.0, 1.0, 0.5, 2 / 3, 0.5))  # precision
    assert pos.area == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)


def test_ties_make_one_step_and_a_class_without_cases_has_no_area() -> None:
    probs = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])
    a, _, c = roc_curves([0, 1], probs, ["a", "b", "c"])
    assert a.x == (0.0, 1.0) and a.y == (0.0, 1.0) and a.area == pytest.approx(0.5)
    assert c.n_pos == 0 and math.isnan(c.area)
    assert math.isnan(pr_curves([0, 1], probs, ["a", "b", "c"])[2].area)


def test_perfect_ranking_and_bad_shapes() -> None:
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    assert [c.area for c in roc_curves([0, 0, 1], probs, ["a", "b"])] == [1.0, 1.0]
    assert [c.area for c in pr_curves([0, 0, 1], probs, ["a", "b"])] == [1.0, 1.0]
    with pytest.raises(ValueError, match="N x C"):
        roc_curves([0, 1], probs, ["a", "b"])
    with pytest.raises(ValueError, match="class indices"):
        pr_curves([0, 0, 2], probs, ["a", "b"])
