"""core.predict.volume (windowing, slice-by-slice prediction) and core.analysis.brain (volume metrics)."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from core.analysis.brain import (
    evaluate_volumes,
    slice_table,
    summarize_volumes,
    tumour_volume_ml,
    volume_metrics,
)
from core.datasets import VolumeCase
from core.io.volume import volume_from_display
from core.models import create_model, get_spec
from core.predict import Segmenter, VolumeSegmentation, VolumeSegmenter, window_sequences, window_volume
from core.tasks import get_task
from core.weights import ModelCard

SPACING = (3.0, 0.5, 0.8)  # anisotropic (slice, row, col) mm


# ---------------------------------------------------------------- window_volume
def test_window_volume_exact_on_full_range():
    x = np.array([[[0.0, 51.0], [102.0, 255.0]], [[10.0, 20.0], [30.0, 40.0]]])
    out = window_volume(x, (0, 100))  # lo 0, hi 255: identity
    assert out.dtype == np.uint8 and out.shape == x.shape
    np.testing.assert_array_equal(out, x.astype(np.uint8))


def test_window_volume_default_percentiles_hand_values():
    x = np.arange(1000, dtype=np.float64).reshape(10, 10, 10)
    out = window_volume(x).ravel()
    # 0.5th percentile = 4.995, 99.5th = 994.005 (linear); scale 255 / 989.01.
    assert out[0] == 0 and out[4] == 0  # below the low percentile: clipped
    assert out[100] == 24  # 95.005 * 0.25783 = 24.50
    assert out[250] == 63  # 245.005 * 0.25783 = 63.17
    assert out[500] == 128  # 495.005 * 0.25783 = 127.63
    assert out[750] == 192  # 745.005 * 0.25783 = 192.09
    assert out[995] == 255 and out[999] == 255  # above the high percentile: clipped


def test_window_volume_scales_whole_volume_not_per_slice():
    rng = np.random.default_rng(0)
    dim = rng.uniform(0, 50, (8, 8))
    bright = rng.uniform(0, 250, (8, 8))
    bright[0, 0], dim[0, 0] = 250.0, 50.0
    out = window_volume(np.stack([dim, bright]), (0, 100))
    # one scale for the volume: lo 0 (or near), hi 250 -> the dim slice stays about 1/5 as bright
    assert out[1].max() == 255
    assert 45 <= out[0].max() <= 55
    # per-slice scaling would have stretched the dim slice to 255
    assert out[0].mean() < out[1].mean() / 3


def test_window_volume_constant_and_empty():
    np.testing.assert_array_equal(window_volume(np.full((3, 4, 5), 7.5)), np.zeros((3, 4, 5), np.uint8))
    assert window_volume(np.full((2, 2, 2), 7, np.uint16)).dtype == np.uint8
    empty = window_volume(np.zeros((0, 4, 4)))
    assert empty.shape == (0, 4, 4) and empty.dtype == np.uint8


def test_window_volume_falls_back_to_min_max_when_percentiles_collapse():
    x = np.zeros((1, 20, 20))
    x[0, 0, 0] = 100.0  # 0.25% of voxels: both percentiles are 0
    out = window_volume(x)
    assert out[0, 0, 0] == 255 and out.sum() == 255


def test_window_volume_nan_is_treated_as_zero():
    x = np.array([[[np.nan, 0.0, 255.0], [127.0, np.nan, 255.0]]])
    out = window_volume(x, (0, 100))
    np.testing.assert_array_equal(out, [[[0, 0, 255], [127, 0, 255]]])
    all_nan = window_volume(np.full((2, 3, 3), np.nan))
    np.testing.assert_array_equal(all_nan, np.zeros((2, 3, 3), np.uint8))


# ---------------------------------------------------------------- VolumeSegmenter
@pytest.fixture(scope="module")
def segmenter():
    # The training job shares the 2 cores: one thread is far faster than two fighting.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    t = get_task("brain_tumor")
    torch.manual_seed(0)
    cfg = {**get_spec("unet_mobilenet").defaults}
    model = create_model("unet_mobilenet", **cfg)
    card = ModelCard(task=t.name, arch="unet_mobilenet", arch_config=cfg, labels=list(t.labels),
                     input={**t.input, "size": [64, 64]}, postprocess=t.postprocess)
    yield Segmenter(model, card)
    torch.set_num_threads(threads)


def _volume(z: int = 5, h: int = 40, w: int = 56, blank: tuple[int, ...] = ()) -> np.ndarray:
    vol = np.random.default_rng(1).uniform(10, 1000, (z, h, w)).astype(np.float32)
    for k in blank:
        vol[k] = 0
    return vol


def test_predict_shapes_non_square(segmenter):
    vol = _volume(3, 40, 56)
    res = VolumeSegmenter(segmenter, batch=2).predict(vol)
    assert isinstance(res, VolumeSegmentation)
    assert res.prob.shape == res.mask.shape == (3, 40, 56)
    assert res.prob.dtype == np.float32 and res.mask.dtype == np.bool_
    assert res.slices_run == 3
    assert res.threshold == pytest.approx(0.5)
    assert np.all((res.prob > 0) & (res.prob < 1))  # every slice went through the network


def test_predict_matches_per_slice_segmenter_on_windowed_volume(segmenter):
    vol = _volume(3, 40, 56)
    res = VolumeSegmenter(segmenter, batch=2).predict(vol, threshold=0.52)
    windowed = window_sequences(vol, segmenter.card.input["window"])  # the card's window
    for z in range(3):
        single = segmenter.predict(windowed[z], threshold=0.52)
        np.testing.assert_allclose(res.prob[z], single.prob, atol=1e-4)
    assert res.threshold == pytest.approx(0.52)
    np.testing.assert_array_equal(res.mask[0], segmenter.predict(windowed[0], threshold=0.52).mask)


def test_predict_2d_input_is_one_slice(segmenter):
    res = VolumeSegmenter(segmenter).predict(_volume(1, 40, 56)[0])
    assert res.prob.shape == res.mask.shape == (1, 40, 56)
    assert res.slices_run == 1


def test_blank_slices_are_skipped_and_empty(segmenter):
    vol = _volume(5, 32, 32, blank=(0, 3))
    res = VolumeSegmenter(segmenter, batch=8).predict(vol)
    assert res.slices_run == 3
    for z in (0, 3):
        assert not res.prob[z].any() and not res.mask[z].any()
    for z in (1, 2, 4):
        assert res.prob[z].min() > 0


def test_all_blank_volume_runs_nothing(segmenter):
    calls: list[tuple[int, int]] = []
    res = VolumeSegmenter(segmenter).predict(np.zeros((3, 16, 16)),
                                             progress=lambda d, t: calls.append((d, t)))
    assert res.slices_run == 0 and not res.mask.any() and not res.prob.any()
    assert calls == []


def test_progress_counts_increase_to_total(segmenter):
    calls: list[tuple[int, int]] = []
    vol = _volume(6, 24, 24, blank=(5,))  # 5 slices to run in batches of 2
    VolumeSegmenter(segmenter, batch=2).predict(vol, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(2, 5), (4, 5), (5, 5)]


@pytest.mark.parametrize("shape", [(2, 3, 16, 16), (0, 16, 16), (16,)])
def test_bad_shapes_raise_value_error(segmenter, shape):
    with pytest.raises(ValueError, match="ZxHxW"):
        VolumeSegmenter(segmenter).predict(np.ones(shape, np.float32))


def test_predict_leaves_shared_model_unchanged(segmenter):
    model = segmenter.model
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    grads = [p.requires_grad for p in model.parameters()]
    card_post = dict(segmenter.card.postprocess)
    VolumeSegmenter(segmenter, batch=3).predict(_volume(4, 24, 24), overrides={"min_area_px": 0})
    after = model.state_dict()
    assert before.keys() == after.keys()
    for k, v in before.items():
        assert torch.equal(v, after[k]), k  # BatchNorm running stats too
    assert [m.training for m in model.modules()] == modes
    assert not model.training
    assert [p.requires_grad for p in model.parameters()] == grads
    assert all(p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    assert segmenter.card.postprocess == card_post


# ---------------------------------------------------------------- measurements
def test_tumour_volume_ml():
    mask = np.zeros((3, 4, 5), bool)
    mask.flat[:10] = True
    assert tumour_volume_ml(mask, (2.0, 0.5, 0.5)) == pytest.approx(0.005)  # 10 * 0.5 mm^3
    assert tumour_volume_ml(mask.astype(np.uint8) * 255, (2.0, 0.5, 0.5)) == pytest.approx(0.005)
    assert tumour_volume_ml(np.zeros((2, 2, 2)), (1, 1, 1)) == 0.0
    assert tumour_volume_ml(mask, None) is None


def _single(shape, idx):
    m = np.zeros(shape, bool)
    m[idx] = True
    return m


def test_volume_metrics_offset_along_slices():
    pred, truth = _single((5, 6, 6), (1, 2, 2)), _single((5, 6, 6), (3, 2, 2))
    out = volume_metrics(pred, truth, SPACING)
    assert out["dice"] == 0.0 and out["iou"] == 0.0
    assert out["hd95_mm"] == pytest.approx(6.0)  # 2 slices * 3 mm
    assert out["volume_pred_ml"] == pytest.approx(0.0012)  # 3 * 0.5 * 0.8 mm^3
    assert out["volume_true_ml"] == pytest.approx(0.0012)
    assert out["volume_diff_ml"] == pytest.approx(0.0)


def test_volume_metrics_offset_along_rows_and_diagonal():
    pred = _single((5, 6, 6), (1, 2, 2))
    assert volume_metrics(pred, _single((5, 6, 6), (1, 5, 2)), SPACING)["hd95_mm"] == pytest.approx(1.5)
    assert volume_metrics(pred, _single((5, 6, 6), (1, 2, 5)), SPACING)["hd95_mm"] == pytest.approx(2.4)
    diag = volume_metrics(pred, _single((5, 6, 6), (2, 4, 2)), SPACING)["hd95_mm"]
    assert diag == pytest.approx(math.sqrt(3.0**2 + 1.0**2))


def test_volume_metrics_overlap_and_volume_difference():
    truth = np.zeros((3, 4, 4), bool)
    truth[1, 1, 1:3] = True  # 2 voxels
    pred = _single((3, 4, 4), (1, 1, 1))
    out = volume_metrics(pred, truth, SPACING)
    assert out["dice"] == pytest.approx(2 / 3) and out["iou"] == pytest.approx(0.5)
    # pred -> truth: 0; truth -> pred: {0, 0.8} -> 95th percentile 0.76
    assert out["hd95_mm"] == pytest.approx(0.76)
    assert out["volume_diff_ml"] == pytest.approx(-0.0012)


def test_volume_metrics_empty_cases():
    empty = np.zeros((3, 4, 4), bool)
    both = volume_metrics(empty, empty, SPACING)
    assert both["dice"] == 1.0 and both["iou"] == 1.0 and both["hd95_mm"] == 0.0
    assert both["volume_pred_ml"] == 0.0
    one = volume_metrics(_single((3, 4, 4), (0, 0, 0)), empty, SPACING)
    assert one["dice"] == 0.0 and math.isinf(one["hd95_mm"])
    assert one["volume_diff_ml"] == pytest.approx(0.0012)


def test_volume_metrics_without_spacing_uses_voxels():
    out = volume_metrics(_single((5, 6, 6), (1, 2, 2)), _single((5, 6, 6), (3, 2, 2)), None)
    assert out["hd95_vox"] == pytest.approx(2.0)
    assert set(out) == {"dice", "iou", "hd95_vox"}


# ---------------------------------------------------------------- slice_table
@pytest.fixture
def table_masks():
    pred, truth = np.zeros((2, 3, 4), bool), np.zeros((2, 3, 4), bool)
    pred[0, 1, 1] = pred[0, 1, 2] = pred[1, 2, 3] = True
    truth[0, 1, 1] = True
    return pred, truth


def _check(row, **expected):
    for key, value in expected.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(row[key]), key
        else:
            assert row[key] == pytest.approx(value), key


def test_slice_table_axial(table_masks):
    rows = slice_table(*table_masks, SPACING, axis=0)  # in-plane (0.5, 0.8): 0.4 mm^2 per pixel
    assert [r["slice"] for r in rows] == [0, 1]
    _check(rows[0], area_pred_mm2=0.8, area_true_mm2=0.4, dice=2 / 3, iou=0.5, hd95_mm=0.76)
    _check(rows[1], area_pred_mm2=0.4, area_true_mm2=0.0, dice=0.0, iou=0.0, hd95_mm=math.inf)


def test_slice_table_coronal(table_masks):
    rows = slice_table(*table_masks, SPACING, axis=1)  # in-plane (3.0, 0.8): 2.4 mm^2
    assert len(rows) == 3
    _check(rows[0], area_pred_mm2=0.0, area_true_mm2=0.0, dice=math.nan, iou=math.nan, hd95_mm=math.nan)
    _check(rows[1], area_pred_mm2=4.8, area_true_mm2=2.4, dice=2 / 3, hd95_mm=0.76)
    _check(rows[2], area_pred_mm2=2.4, area_true_mm2=0.0, dice=0.0, hd95_mm=math.inf)


def test_slice_table_sagittal(table_masks):
    rows = slice_table(*table_masks, SPACING, axis=2)  # in-plane (3.0, 0.5): 1.5 mm^2
    assert len(rows) == 4
    _check(rows[0], area_pred_mm2=0.0, dice=math.nan, hd95_mm=math.nan)
    _check(rows[1], area_pred_mm2=1.5, area_true_mm2=1.5, dice=1.0, iou=1.0, hd95_mm=0.0)
    _check(rows[3], area_pred_mm2=1.5, area_true_mm2=0.0, dice=0.0, hd95_mm=math.inf)


def test_slice_table_in_plane_distance_uses_that_axis_spacing():
    pred, truth = _single((3, 4, 4), (0, 1, 1)), _single((3, 4, 4), (2, 1, 1))
    rows = slice_table(pred, truth, SPACING, axis=1)  # in the coronal plane the offset is 2 slices
    assert rows[1]["hd95_mm"] == pytest.approx(6.0)
    rows = slice_table(pred, truth, SPACING, axis=2)
    assert rows[1]["hd95_mm"] == pytest.approx(6.0)


def test_slice_table_without_spacing_or_truth(table_masks):
    pred, truth = table_masks
    rows = slice_table(pred, truth, None, axis=0)
    assert set(rows[0]) == {"slice", "area_pred_px", "area_true_px", "dice", "iou", "hd95_px"}
    _check(rows[0], area_pred_px=2.0, area_true_px=1.0, hd95_px=0.95)
    assert {type(rows[0]["area_pred_px"]), type(rows[0]["area_true_px"])} == {int}  # CSV: "2", not "2.0"
    only = slice_table(pred, None, SPACING, axis=0)
    assert only == [{"slice": 0, "area_pred_mm2": pytest.approx(0.8)},
                    {"slice": 1, "area_pred_mm2": pytest.approx(0.4)}]


# ---------------------------------------------------------------- evaluate / summarize
class ThresholdSegmenter:
    """Stands in for VolumeSegmenter: the tumour is every voxel brighter than 100."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, ...]] = []

    def predict(self, voxels: np.ndarray) -> SimpleNamespace:
        self.seen.append(voxels.shape)
        return SimpleNamespace(mask=voxels > 100)


def _case(name: str, bright: list[tuple[int, int, int]], tumour: list[tuple[int, int, int]] | None
          ) -> VolumeCase:
    image = np.full((3, 4, 4), 10.0, np.float32)
    for idx in bright:
        image[idx] = 200.0
    label = None
    if tumour is not None:
        label = np.zeros((3, 4, 4), np.uint8)
        for value, idx in zip((4, 2, 1), tumour):
            label[idx] = value
    return VolumeCase(name, volume_from_display(image, (2.0, 1.0, 1.0)), label)


@pytest.fixture
def cases():
    return [_case("sick", [(1, 1, 1)], [(1, 1, 1), (1, 1, 2)]),  # 1 of 2 tumour voxels found
            _case("healthy_fp", [(0, 0, 0)], []),  # 1 false-positive voxel = 0.002 mL
            _case("unlabelled", [(0, 0, 0)], None),
            _case("healthy_clean", [], [])]


def test_evaluate_volumes_rows(cases):
    calls: list[int] = []
    stub = ThresholdSegmenter()
    rows = evaluate_volumes(stub, cases, progress=calls.append)
    assert [r["name"] for r in rows] == ["sick", "healthy_fp", "healthy_clean"]
    assert len(stub.seen) == 3  # the unlabelled case is not predicted
    assert calls == [1, 2, 3, 4]  # every case counts, unlabelled ones too: progress reaches the total
    sick, fp, clean = rows
    assert sick["slices"] == 3 and sick["true_present"] is True
    assert sick["dice"] == pytest.approx(2 / 3) and sick["iou"] == pytest.approx(0.5)
    assert sick["hd95_mm"] == pytest.approx(0.95)  # {0, 1 mm} -> 95th percentile
    assert sick["volume_pred_ml"] == pytest.approx(0.002) and sick["volume_true_ml"] == pytest.approx(0.004)
    assert sick["seconds"] >= 0
    assert fp["true_present"] is False and fp["dice"] == 0.0 and math.isinf(fp["hd95_mm"])
    assert fp["volume_pred_ml"] == pytest.approx(0.002)
    assert clean["dice"] == 1.0 and clean["volume_pred_ml"] == 0.0


def test_summarize_volumes_excludes_healthy_from_overlap_stats(cases):
    summary = summarize_volumes(evaluate_volumes(ThresholdSegmenter(), cases))
    assert summary["n_tumour"] == 1 and summary["n_healthy"] == 2
    stats = summary["metrics"]
    assert stats["dice"]["n"] == 1 and stats["dice"]["mean"] == pytest.approx(2 / 3)  # not (2/3+0+1)/3
    assert stats["hd95_mm"]["mean"] == pytest.approx(0.95) and stats["hd95_mm"]["n_inf"] == 0
    assert stats["abs_volume_diff_ml"]["mean"] == pytest.approx(0.002)
    assert "hd95_vox" not in stats and "seconds" in stats
    assert summary["healthy_clean_share"] == pytest.approx(0.5)
    assert summary["healthy_false_ml_mean"] == pytest.approx(0.001)


def test_summarize_volumes_without_healthy_or_spacing():
    rows = [{"name": "a", "true_present": True, "dice": 0.5, "iou": 1 / 3, "hd95_vox": 2.0, "seconds": 0.1},
            {"name": "b", "true_present": True, "dice": 0.7, "iou": 0.5, "hd95_vox": math.inf,
             "seconds": 0.3}]
    summary = summarize_volumes(rows)
    assert summary["n_tumour"] == 2 and summary["n_healthy"] == 0
    assert "healthy_clean_share" not in summary
    assert summary["metrics"]["dice"]["mean"] == pytest.approx(0.6)
    assert summary["metrics"]["hd95_vox"]["n"] == 1 and summary["metrics"]["hd95_vox"]["n_inf"] == 1
    assert "abs_volume_diff_ml" not in summary["metrics"] and "hd95_mm" not in summary["metrics"]
