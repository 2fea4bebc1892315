"""Hand-computed checks of the classification metrics in core.metrics (confusion, balanced
accuracy, per-class precision/recall, top-k with ties, calibration, the JSON report)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from core import metrics

# Three classes, six cases:
#   y_true 0 0 0 1 1 2
#   y_pred 0 0 1 1 2 2
# confusion (rows = truth, cols = prediction):
#   [2 1 0]
#   [0 1 1]
#   [0 0 1]
# accuracy = (2 + 1 + 1) / 6 = 2/3
# recall    = 2/3, 1/2, 1/1      -> balanced accuracy = (2/3 + 1/2 + 1) / 3 = 13/18
# precision = 2/2, 1/2, 1/2      (column sums 2, 2, 2)
# f1        = 2*1*(2/3)/(5/3) = 0.8,  2*.5*.5/1 = 0.5,  2*.5*1/1.5 = 2/3
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 2, 2]


def test_confusion_matrix_three_classes_by_hand():
    cm = metrics.confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 1, 1], [0, 0, 1]])


def test_accuracy_and_balanced_accuracy_by_hand():
    assert metrics.accuracy(Y_TRUE, Y_PRED) == pytest.approx(2 / 3)
    assert metrics.balanced_accuracy(Y_TRUE, Y_PRED, 3) == pytest.approx(13 / 18)
    assert isinstance(metrics.accuracy(Y_TRUE, Y_PRED), float)


def test_per_class_precision_recall_by_hand():
    per = metrics.per_class_precision_recall(Y_TRUE, Y_PRED, 3)
    assert per["precision"] == pytest.approx([1.0, 0.5, 0.5])
    assert per["recall"] == pytest.approx([2 / 3, 0.5, 1.0])
    assert per["f1"] == pytest.approx([0.8, 0.5, 2 / 3])
    assert per["support"] == [3, 2, 1]
    assert all(type(v) is int for v in per["support"])


def test_balanced_accuracy_differs_from_accuracy_under_imbalance():
    # 8 cases of class 0, 2 of class 1, all predicted 0; class 2 never occurs.
    # accuracy = 8/10; recall(0) = 1, recall(1) = 0, class 2 absent -> balanced = (1 + 0) / 2
    y_true = [0] * 8 + [1] * 2
    y_pred = [0] * 10
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(0.8)
    assert metrics.balanced_accuracy(y_true, y_pred, 3) == pytest.approx(0.5)


def test_never_predicted_class_has_nan_precision():
    # same imbalanced set: class 1 is never predicted (precision 0/0), class 2 is neither
    # predicted nor present (precision and recall 0/0); F1 is NaN wherever either is NaN.
    per = metrics.per_class_precision_recall([0] * 8 + [1] * 2, [0] * 10, 3)
    assert per["precision"][0] == pytest.approx(0.8)  # 8 right of 10 predicted 0
    assert math.isnan(per["precision"][1]) and per["recall"][1] == 0.0 and math.isnan(per["f1"][1])
    assert math.isnan(per["precision"][2]) and math.isnan(per["recall"][2])
    assert per["support"] == [8, 2, 0]


def test_f1_is_zero_when_precision_and_recall_are_both_zero():
    # class 1: predicted once (wrongly) and present once (missed): p = 0/1, r = 0/1 -> f1 = 0
    per = metrics.per_class_precision_recall([0, 1], [1, 0], 2)
    assert per["precision"] == [0.0, 0.0] and per["recall"] == [0.0, 0.0] and per["f1"] == [0.0, 0.0]


# Top-k with ties (stable order on -probs: the lower class index wins a tie):
#   row  probs              true  order      top-1  top-2  top-3
#   a    .4   .4   .2       1     0 1 2      miss   hit    hit
#   b    .2   .4   .4       2     1 2 0      miss   hit    hit
#   c    1/3  1/3  1/3      0     0 1 2      hit    hit    hit
#   d    .1   .3   .6       0     2 1 0      miss   miss   hit
# top-1 = 1/4, top-2 = 3/4, top-3 = 1
TIE_PROBS = np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4], [1 / 3, 1 / 3, 1 / 3], [0.1, 0.3, 0.6]])
TIE_TRUE = [1, 2, 0, 0]


def test_top_k_with_ties_by_hand():
    assert metrics.top_k_accuracy(TIE_TRUE, TIE_PROBS, 1) == pytest.approx(0.25)
    assert metrics.top_k_accuracy(TIE_TRUE, TIE_PROBS, 2) == pytest.approx(0.75)
    assert metrics.top_k_accuracy(TIE_TRUE, TIE_PROBS, 3) == pytest.approx(1.0)


def test_top_k_larger_than_class_count_is_an_error():
    with pytest.raises(ValueError, match="k must be in 1..3"):
        metrics.top_k_accuracy(TIE_TRUE, TIE_PROBS, 4)
    with pytest.raises(ValueError):
        metrics.top_k_accuracy(TIE_TRUE, TIE_PROBS, 0)


def test_ece_is_zero_for_a_perfectly_calibrated_construction():
    # 5 bins. Four cases at confidence 0.75 (bin (0.6, 0.8]) with 3 correct -> accuracy 0.75;
    # two at 0.5 (bin (0.4, 0.6]) predicting class 0 (tie -> lower index), one true 0, one true 1
    # -> accuracy 0.5. Every bin's accuracy equals its confidence, so ECE = 0.
    probs = np.array([[0.75, 0.25]] * 4 + [[0.5, 0.5]] * 2)
    y_true = [0, 0, 0, 1, 0, 1]
    assert metrics.expected_calibration_error(y_true, probs, n_bins=5) == pytest.approx(0.0, abs=1e-12)


# Over-confident: four cases at confidence 0.9 with 2 correct (gap |0.5 - 0.9| = 0.4) and two at
# confidence 0.7 (predicting class 1) with 1 correct (gap |0.5 - 0.7| = 0.2), N = 6:
# ECE = 4/6 * 0.4 + 2/6 * 0.2 = 1.6/6 + 0.4/6 = 1/3
OVER_PROBS = np.array([[0.9, 0.1]] * 4 + [[0.3, 0.7]] * 2)
OVER_TRUE = [0, 0, 1, 1, 1, 0]


def test_ece_of_an_over_confident_construction_by_hand():
    assert metrics.expected_calibration_error(OVER_TRUE, OVER_PROBS, n_bins=5) == pytest.approx(1 / 3)


def test_reliability_bins_by_hand():
    rel = metrics.reliability_bins(OVER_TRUE, OVER_PROBS, n_bins=5)
    assert rel["lower"] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert rel["upper"] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert rel["count"] == [0, 0, 0, 2, 4]
    assert all(math.isnan(v) for v in rel["confidence"][:3] + rel["accuracy"][:3])
    assert rel["confidence"][3:] == pytest.approx([0.7, 0.9])
    assert rel["accuracy"][3:] == pytest.approx([0.5, 0.5])
    # ECE is the count-weighted mean gap of the same bins
    gaps = sum(c * abs(a - f) for c, a, f in zip(rel["count"], rel["accuracy"], rel["confidence"]) if c)
    assert gaps / 6 == pytest.approx(metrics.expected_calibration_error(OVER_TRUE, OVER_PROBS, n_bins=5))


def test_bins_are_closed_on_the_right():
    # with 2 bins (0, 0.5] and (0.5, 1]: confidence 0.5 goes low, confidence 1.0 goes high
    rel = metrics.reliability_bins([0, 0], np.array([[0.5, 0.5], [1.0, 0.0]]), n_bins=2)
    assert rel["count"] == [1, 1]
    assert rel["confidence"] == pytest.approx([0.5, 1.0])


def test_report_is_json_serialisable_and_complete():
    # Y_TRUE/Y_PRED from above as one-hot-ish probabilities (top class = Y_PRED)
    probs = np.full((6, 3), 0.1)
    probs[np.arange(6), Y_PRED] = 0.8
    labels = ["acne", "eczema", "healthy"]
    report = metrics.classification_report(Y_TRUE, probs, labels, ks=(1, 3, 5), gallery_size=40)
    text = json.dumps(report)
    back = json.loads(text)
    assert back["n_cases"] == 6 and back["n_classes"] == 3 and back["labels"] == labels
    assert back["accuracy"] == pytest.approx(2 / 3)
    assert back["balanced_accuracy"] == pytest.approx(13 / 18)
    assert back["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert back["per_class"]["eczema"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5,
                                                         "support": 2})
    # top-5 is left out: only 3 classes. top-3 of 3 classes is trivially 1.
    assert back["top_k"] == pytest.approx({"top_1": 2 / 3, "top_3": 1.0, "n_classes": 3, "gallery_size": 40})
    # all 6 cases have confidence 0.8 and 4 are right: ECE = |4/6 - 0.8| = 2/15
    assert back["ece"] == pytest.approx(2 / 15)
    assert sum(back["reliability"]["count"]) == 6


def test_report_json_survives_nan_values():
    # class 2 is never predicted: its precision is NaN, which json writes as NaN
    report = metrics.classification_report([0, 1], np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]]),
                                           ["a", "b", "c"], ks=(1,))
    assert math.isnan(json.loads(json.dumps(report))["per_class"]["c"]["precision"])
    assert report["top_k"] == {"top_1": 1.0, "n_classes": 3, "gallery_size": None}


def test_top_k_caption():
    top = {"top_1": 0.8, "top_3": 0.95, "n_classes": 4, "gallery_size": 40}
    expected = "top-1 0.80, top-3 0.95 over 4 classes (gallery of 40 photos)"
    assert metrics.top_k_caption({"top_k": top}) == expected
    assert metrics.top_k_caption({**top, "gallery_size": None}) == "top-1 0.80, top-3 0.95 over 4 classes"
    report = metrics.classification_report(TIE_TRUE, TIE_PROBS, ["x", "y", "z"], ks=(1, 3))
    assert metrics.top_k_caption(report) == "top-1 0.25, top-3 1.00 over 3 classes"


@pytest.mark.parametrize(
    ("y_true", "probs", "match"),
    [
        ([0, 1], np.array([0.5, 0.5]), "NxC"),  # 1-D probs
        ([0, 1], np.zeros((2, 0)), "NxC"),  # no classes
        ([0, 1, 0], np.array([[0.5, 0.5], [0.5, 0.5]]), "rows"),  # length mismatch
        ([0, 1], np.array([[0.5, np.nan], [0.5, 0.5]]), "NaN"),
        ([0, 1], np.array([[2.0, -1.0], [0.5, 0.5]]), "sum to 1"),  # negative
        ([0, 1], np.array([[3.0, 1.0], [0.5, 0.5]]), "sum to 1"),  # logits
        ([0, 2], np.array([[0.5, 0.5], [0.5, 0.5]]), "0..1"),  # class index out of range
        ([0, 0.5], np.array([[0.5, 0.5], [0.5, 0.5]]), "whole-number"),
        ([[0, 1]], np.array([[0.5, 0.5], [0.5, 0.5]]), "1-D"),
    ],
)
def test_bad_inputs_raise_value_error(y_true, probs, match):
    with pytest.raises(ValueError, match=match):
        metrics.top_k_accuracy(y_true, probs, 1)
    with pytest.raises(ValueError):
        metrics.expected_calibration_error(y_true, probs)


def test_bad_label_inputs_raise_value_error():
    with pytest.raises(ValueError, match="equally long"):
        metrics.confusion_matrix([0, 1], [0], 2)
    with pytest.raises(ValueError, match="non-empty"):
        metrics.accuracy([], [])
    with pytest.raises(ValueError, match="0..1"):
        metrics.confusion_matrix([0, 1], [0, 2], 2)
    with pytest.raises(ValueError, match="n_classes"):
        metrics.balanced_accuracy([0], [0], 0)
    with pytest.raises(ValueError, match="n_bins"):
        metrics.reliability_bins([0], np.array([[1.0, 0.0]]), n_bins=0)
    with pytest.raises(ValueError, match="labels"):
        metrics.classification_report([0], np.array([[1.0, 0.0]]), ["only one"])
    with pytest.raises(ValueError, match="labels"):
        metrics.classification_report([0], np.array([[1.0, 0.0]]), ["same", "same"])
