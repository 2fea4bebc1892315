"""Hand-computed checks of core.metrics (overlap scores, empty rules, HD95 in mm, summaries)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core import metrics

# pred (0/255, like a saved PNG mask)    truth (bool)
#   X X . .                                . X X .
#   X X . .                                . X X .
#   . . . .                                . X X .
#   . . . .                                . . . .
# TP = (0,1) (1,1)                      -> 2
# FP = (0,0) (1,0)                      -> 2
# FN = (0,2) (1,2) (2,1) (2,2)          -> 4
# TN = 16 - 8                           -> 8
PRED = np.array(
    [[255, 255, 0, 0], [255, 255, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
    dtype=np.uint8,
)
TRUTH = np.array(
    [[0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]],
    dtype=bool,
)


def test_confusion_counts_by_hand():
    assert metrics.confusion_counts(PRED, TRUTH) == {"tp": 2, "fp": 2, "fn": 4, "tn": 8}


def test_overlap_scores_by_hand():
    # dice = 2*2 / (2*2 + 2 + 4) = 4/10
    assert metrics.dice(PRED, TRUTH) == pytest.approx(0.4)
    # iou = 2 / (2 + 2 + 4) = 2/8
    assert metrics.iou(PRED, TRUTH) == pytest.approx(0.25)
    # precision = 2 / (2 + 2)
    assert metrics.precision(PRED, TRUTH) == pytest.approx(0.5)
    # recall = 2 / (2 + 4)
    assert metrics.recall(PRED, TRUTH) == pytest.approx(1 / 3)
    assert metrics.f1(PRED, TRUTH) == metrics.dice(PRED, TRUTH)


def test_scores_accept_bool_01_and_0255_alike():
    as01 = (PRED > 0).astype(np.int64)
    assert metrics.dice(as01, TRUTH.astype(np.uint8) * 255) == pytest.approx(0.4)
    assert metrics.iou(PRED > 0, TRUTH) == pytest.approx(0.25)


def test_scores_are_not_symmetric_where_they_should_not_be():
    # swapping pred and truth swaps precision and recall: 2/6 and 2/4
    assert metrics.precision(TRUTH, PRED) == pytest.approx(1 / 3)
    assert metrics.recall(TRUTH, PRED) == pytest.approx(0.5)


def test_both_empty_uses_the_empty_value():
    z = np.zeros((5, 5), bool)
    for fn in (metrics.dice, metrics.iou, metrics.precision, metrics.recall, metrics.f1):
        assert fn(z, z) == 1.0
        assert fn(z, z, empty=0.0) == 0.0
        assert math.isnan(fn(z, z, empty=float("nan")))


def test_one_empty_scores_zero():
    z = np.zeros((4, 4), bool)
    for fn in (metrics.dice, metrics.iou, metrics.precision, metrics.recall):
        assert fn(z, TRUTH) == 0.0, fn.__name__  # nothing predicted, nerve present
        assert fn(PRED, z) == 0.0, fn.__name__  # something predicted, nothing there


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(4, 4\).*\(4, 5\)"):
        metrics.dice(PRED, np.zeros((4, 5)))
    for fn in (metrics.iou, metrics.error_map, metrics.hd95_mm, metrics.confusion_counts):
        with pytest.raises(ValueError, match="same shape"):
            fn(PRED, np.zeros((5, 4)))


def test_error_map_codes():
    # codes: 0 TN, 1 TP, 2 FP, 3 FN, laid out from the hand table above
    expected = np.array(
        [[2, 1, 3, 0], [2, 1, 3, 0], [0, 3, 3, 0], [0, 0, 0, 0]],
        dtype=np.uint8,
    )
    out = metrics.error_map(PRED, TRUTH)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


# ---------------------------------------------------------------- HD95


def _square(shape: tuple[int, ...], start: tuple[int, ...], size: int = 3) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[tuple(slice(s, s + size) for s in start)] = True
    return m


def test_hd95_identical_masks_is_zero():
    a = _square((10, 10), (2, 2), 4)
    assert metrics.hd95_mm(a, a) == 0.0


def test_hd95_squares_shifted_along_columns():
    # 3x3 squares, B = A shifted 4 columns right. Surface of a 3x3 square = its 8 ring pixels.
    # From A's ring to B's ring (nearest point is B's left column, same row):
    #   A left column (3 px) -> 4, A middle column (top+bottom, 2 px) -> 3, right column (3) -> 2
    # sorted [2 2 2 3 3 4 4 4]; 95th pct at index 0.95*7 = 6.65 -> 4. Same from B to A.
    a = _square((9, 12), (3, 2))
    b = _square((9, 12), (3, 6))
    assert metrics.hd95_mm(a, b) == pytest.approx(4.0)
    assert metrics.hd95_mm(a, b, 0.3) == pytest.approx(1.2)
    # spacing is (row_mm, col_mm): the 4-column shift is 4 * 0.5 mm
    assert metrics.hd95_mm(a, b, (2.0, 0.5)) == pytest.approx(2.0)


def test_hd95_squares_shifted_along_rows_anisotropic():
    # same geometry transposed: a 4-row shift at 2.0 mm per row -> 8.0 mm
    a = _square((12, 9), (2, 3))
    b = _square((12, 9), (6, 3))
    assert metrics.hd95_mm(a, b, (2.0, 0.5)) == pytest.approx(8.0)
    assert metrics.hd95_mm(b, a, (0.5, 2.0)) == pytest.approx(2.0)


def test_hd95_diagonal_offset_anisotropic():
    # single pixels are their own surface: offset (3 rows, 4 cols)
    a = np.zeros((8, 8), bool)
    b = np.zeros((8, 8), bool)
    a[1, 1] = True
    b[4, 5] = True
    assert metrics.hd95_mm(a, b) == pytest.approx(5.0)
    # sqrt((3*2.0)**2 + (4*0.5)**2) = sqrt(36 + 4)
    assert metrics.hd95_mm(a, b, (2.0, 0.5)) == pytest.approx(math.sqrt(40.0))


def test_hd95_is_a_percentile_not_the_maximum():
    # truth: 3x3 square rows 2-4, cols 2-4; pred: the same square plus one stray pixel at (3, 9),
    # 5 columns from the truth's surface pixel (3, 4). Pred surface = 8 ring pixels (distance 0)
    # + the stray pixel (5). 95th pct of [0]*8 + [5]: index 0.95*8 = 7.6 -> 0 + 0.6*5 = 3.0.
    # Truth -> pred distances are all 0. The plain Hausdorff distance would be 5.
    truth = _square((8, 12), (2, 2))
    pred = truth.copy()
    pred[3, 9] = True
    assert metrics.hd95_mm(pred, truth) == pytest.approx(3.0)
    assert metrics.hd95_mm(truth, pred) == pytest.approx(3.0)  # symmetric
    assert metrics.hd95_mm(pred, truth, (2.0, 0.5)) == pytest.approx(0.6 * 2.5)
    assert metrics.hd95_mm(pred, truth, (0.5, 2.0)) == pytest.approx(0.6 * 10.0)


def test_hd95_3d_cubes():
    # 3x3x3 cubes, B = A shifted 4 slices. Surface (6-connected erosion) = 26 voxels per cube.
    # A -> B's bottom face: A's bottom layer 9 vox -> 4, middle ring 8 vox -> 3, top layer 9 -> 2.
    # sorted [2]*9 + [3]*8 + [4]*9; 95th pct at index 0.95*25 = 23.75 -> 4 slices.
    a = _square((10, 6, 6), (1, 1, 1))
    b = _square((10, 6, 6), (5, 1, 1))
    assert metrics.hd95_mm(a, b) == pytest.approx(4.0)
    assert metrics.hd95_mm(a, b, (3.0, 1.0, 1.0)) == pytest.approx(12.0)
    assert metrics.hd95_mm(a, b, (1.0, 3.0, 3.0)) == pytest.approx(4.0)


def test_hd95_empty_rules():
    z = np.zeros((6, 6), bool)
    a = _square((6, 6), (1, 1))
    assert metrics.hd95_mm(z, z) == 0.0
    assert metrics.hd95_mm(a, z) == math.inf
    assert metrics.hd95_mm(z, a) == math.inf


def test_hd95_bad_spacing():
    a = _square((6, 6), (1, 1))
    with pytest.raises(ValueError, match="3 values"):
        metrics.hd95_mm(a, a, (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="positive"):
        metrics.hd95_mm(a, a, (1.0, 0.0))


def _brute_hd95(a: np.ndarray, b: np.ndarray, spacing: tuple[float, float]) -> float:
    """Reference: 4-neighbour surface by hand and all-pairs distances."""

    def surface(m: np.ndarray) -> np.ndarray:
        p = np.pad(m, 1)
        inner = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
        return np.argwhere(m & ~inner) * np.asarray(spacing)

    pa, pb = surface(a), surface(b)
    d = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1))
    return max(np.percentile(d.min(1), 95), np.percentile(d.min(0), 95))


@pytest.mark.parametrize("seed", range(5))
def test_hd95_matches_brute_force_on_random_blobs(seed):
    rng = np.random.default_rng(seed)
    a = rng.random((14, 11)) > 0.6
    b = rng.random((14, 11)) > 0.6
    spacing = (0.7, 1.9)
    assert metrics.hd95_mm(a, b, spacing) == pytest.approx(_brute_hd95(a, b, spacing))


# ---------------------------------------------------------------- HC and summaries


def test_abs_hc_diff_mm():
    assert metrics.abs_hc_diff_mm(180.0, 175.5) == pytest.approx(4.5)
    assert metrics.abs_hc_diff_mm(175.5, 180.0) == pytest.approx(4.5)
    with pytest.raises(ValueError, match="hc_pred_mm"):
        metrics.abs_hc_diff_mm(float("nan"), 180.0)


def test_summarize_by_hand():
    s = metrics.summarize([1.0, 2.0, 3.0, 4.0, float("nan"), float("inf")])
    # finite values 1..4: mean 2.5; sd = sqrt((2.25 + 0.25 + 0.25 + 2.25) / 3) = sqrt(5/3)
    assert s["mean"] == pytest.approx(2.5)
    assert s["sd"] == pytest.approx(math.sqrt(5 / 3))
    assert s["median"] == pytest.approx(2.5)
    assert (s["min"], s["max"]) == (1.0, 4.0)
    assert (s["n"], s["n_inf"], s["n_nan"]) == (4, 1, 1)


def test_summarize_single_and_empty():
    one = metrics.summarize([0.8])
    assert (one["mean"], one["sd"], one["median"], one["n"]) == (0.8, 0.0, 0.8, 1)
    none = metrics.summarize([float("inf"), float("nan")])
    assert none["n"] == 0 and none["n_inf"] == 1
    assert math.isnan(none["mean"]) and math.isnan(none["sd"])


# ---------------------------------------------------------------- set-level (nerve competition)

def test_mean_dice_uses_the_empty_rule_and_the_all_empty_baseline():
    from core.metrics import all_empty_baseline, mean_dice

    empty = np.zeros((4, 4), bool)
    blob = np.zeros((4, 4), bool)
    blob[1:3, 1:3] = True  # 4 pixels
    half = np.zeros((4, 4), bool)
    half[1:3, 1] = True  # 2 of the 4
    truths = [empty, blob, blob, empty]
    preds = [empty, blob, half, blob]
    # per image: 1 (both empty), 1, 2*2/(2+4) = 2/3, 0 (false positive) -> mean 2/3 / ... = 0.6667
    assert mean_dice(preds, truths) == pytest.approx((1 + 1 + 2 / 3 + 0) / 4)
    assert all_empty_baseline(truths) == 0.5
    assert mean_dice([empty] * 4, truths) == 0.5  # predicting nothing scores the baseline
    with pytest.raises(ValueError, match="equally many"):
        mean_dice(preds, truths[:2])


def test_presence_confusion_counts():
    from core.metrics import presence_confusion

    res = presence_confusion([True, True, False, False, True], [True, False, True, False, True])
    assert (res["tp"], res["fp"], res["fn"], res["tn"]) == (2, 1, 1, 1)
    assert res["accuracy"] == pytest.approx(3 / 5)
    with pytest.raises(ValueError):
        presence_confusion([True], [True, False])
