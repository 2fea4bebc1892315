"""core.face.region_net: region IoU on hand label maps, the predictor's geometry, mirroring."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.face.landmarks import FaceLandmarks
from core.face.region_net import (
    RegionSegmenter,
    align_spec,
    mean_region_iou,
    mirror_permutation,
    normalise_rgb,
    region_iou,
)
from core.face.regions import LABEL_NAMES, align_face, region_label_mask
from core.models import create_model
from core.weights import WeightsError, save_model
from train.face_augment import mirror
from train.face_regions import region_card

NAMES = ("background", "a", "b", "c")


# ---------------------------------------------------------------- IoU
def test_region_iou_on_hand_label_maps() -> None:
    true = np.array([[0, 1, 1, 2],
                     [0, 1, 1, 2]], np.uint8)
    pred = np.array([[0, 1, 2, 2],
                     [1, 1, 1, 0]], np.uint8)
    iou = region_iou(pred, true, NAMES)
    assert iou["background"] == pytest.approx(1 / 3)  # inter 1, union 2 + 2 - 1
    assert iou["a"] == pytest.approx(3 / 5)           # inter 3, union 4 + 4 - 3
    assert iou["b"] == pytest.approx(1 / 3)           # inter 1, union 2 + 2 - 1
    assert math.isnan(iou["c"])                       # absent from both: nothing to score
    assert mean_region_iou(iou) == pytest.approx((3 / 5 + 1 / 3) / 2)  # background and NaN left out


def test_region_iou_absent_in_one_map_is_zero_and_identical_maps_score_one() -> None:
    true = np.array([[0, 3], [3, 3]], np.uint8)
    assert region_iou(np.zeros_like(true), true, NAMES)["c"] == 0.0
    same = region_iou(true, true, NAMES)
    assert same["c"] == same["background"] == 1.0 and math.isnan(same["a"])
    assert mean_region_iou(same) == 1.0
    assert math.isnan(mean_region_iou({"background": 1.0, "a": math.nan}))


def test_region_iou_refuses_bad_inputs() -> None:
    with pytest.raises(ValueError, match="shape"):
        region_iou(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8), NAMES)
    with pytest.raises(ValueError, match="below 4"):
        region_iou(np.full((2, 2), 4, np.uint8), np.zeros((2, 2), np.uint8), NAMES)


def test_mirror_permutation_swaps_right_and_left() -> None:
    perm = mirror_permutation(LABEL_NAMES)
    swapped = [LABEL_NAMES[k] for k in perm]
    assert swapped[LABEL_NAMES.index("right_eye")] == "left_eye"
    assert swapped[LABEL_NAMES.index("left_cheek")] == "right_cheek"
    assert swapped[LABEL_NAMES.index("nose")] == "nose" and sorted(perm) == list(range(len(LABEL_NAMES)))


def test_card_input_helpers() -> None:
    spec = region_card(size=64).input
    assert align_spec(spec) == {"size": 64, "eye_distance": 0.28, "eye_y": 0.4}
    x = normalise_rgb(np.full((64, 64, 3), 255, np.uint8), spec)
    assert x.shape == (3, 64, 64) and x.dtype == np.float32
    assert x[:, 0, 0] == pytest.approx((1 - np.array(spec["mean"])) / np.array(spec["std"]))
    with pytest.raises(WeightsError, match="square"):
        align_spec({**spec, "size": [64, 96]})


# ---------------------------------------------------------------- predictor
class _Oracle(nn.Module):
    """Returns fixed logits: one-hot of a label map in the aligned frame, whatever the input."""

    def __init__(self, labels: np.ndarray, k: int) -> None:
        super().__init__()
        onehot = np.eye(k, dtype=np.float32)[labels].transpose(2, 0, 1) * 10
        self.register_buffer("logits", torch.from_numpy(onehot)[None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(x), -1, -1, -1)


def test_saved_tiny_model_round_trip(tmp_path: Path, rgb: np.ndarray, lm: FaceLandmarks) -> None:
    card = region_card(size=64, widths=[4, 8, 16])
    torch.manual_seed(0)
    save_model(create_model("unet", **card.arch_config), card, tmp_path)
    seg = RegionSegmenter.from_folder(tmp_path)
    assert not seg.model.training and seg.size == 64 and seg.names == LABEL_NAMES
    pred = seg.predict(rgb, lm, return_probs=True)
    assert pred.labels.shape == rgb.shape[:2] and pred.labels.dtype == np.uint8
    assert pred.labels.max() < len(LABEL_NAMES)
    assert pred.probs.shape == (len(LABEL_NAMES), *rgb.shape[:2])
    assert np.allclose(pred.probs.sum(axis=0), 1, atol=1e-3)
    # Outside the aligned square around the face everything is background.
    x0, y0, x1, y1 = lm.bbox
    w = x1 - x0
    assert not pred.labels[: max(0, int(y0 - 0.8 * w))].any()
    assert not pred.labels[:, : max(0, int(x0 - w))].any()
    assert (pred.labels[int(y0):int(y1), int(x0):int(x1)] > 0).mean() > 0.5


def test_inverse_warp_puts_aligned_labels_back_on_the_face(rgb: np.ndarray, lm: FaceLandmarks) -> None:
    card = region_card(size=128, widths=[4, 8, 16], mirror_tta=False)
    aligned = align_face(rgb, lm, **align_spec(card.input))
    seg = RegionSegmenter(_Oracle(region_label_mask(aligned.landmarks), len(LABEL_NAMES)), card)
    truth = region_label_mask(lm)
    pred = seg.predict(rgb, lm)
    iou = region_iou(pred.labels, truth, LABEL_NAMES)
    assert mean_region_iou(iou) > 0.85 and min(iou[n] for n in LABEL_NAMES[1:]) > 0.6, iou
    half = (rgb.shape[0] // 2, rgb.shape[1] // 2)
    small = seg.predict(rgb, lm, shape=half)
    assert small.labels.shape == half
    assert mean_region_iou(region_iou(small.labels, region_label_mask(lm, half), LABEL_NAMES)) > 0.8


def test_mirror_tta_averages_the_mirrored_prediction(rgb: np.ndarray, lm: FaceLandmarks) -> None:
    card = region_card(size=64, widths=[4, 8, 16], mirror_tta=False)
    torch.manual_seed(1)
    model = create_model("unet", **card.arch_config)
    plain = RegionSegmenter(model, card)
    tta = RegionSegmenter(model, region_card(size=64, widths=[4, 8, 16], mirror_tta=True))
    probs, _ = tta.aligned_probs(rgb, lm)
    aligned = align_face(rgb, lm, **align_spec(card.input))
    x = torch.from_numpy(normalise_rgb(aligned.image, card.input))[None]
    with torch.inference_mode():
        p = torch.softmax(model(x), 1)[0]
        q = torch.softmax(model(x.flip(-1)), 1)[0].flip(-1)[mirror_permutation(LABEL_NAMES)]
    assert np.allclose(probs, ((p + q) / 2).numpy(), atol=1e-5)
    assert np.allclose(plain.aligned_probs(rgb, lm)[0], p.numpy(), atol=1e-5)


def test_mirror_augmentation_swaps_right_and_left_labels(rgb: np.ndarray, lm: FaceLandmarks) -> None:
    flipped, pts = mirror(rgb, lm.points)
    assert flipped.shape == rgb.shape and np.array_equal(flipped[:, 0], rgb[:, -1])
    labels = region_label_mask(FaceLandmarks(pts, lm.image_shape))
    expected = np.asarray(mirror_permutation(LABEL_NAMES), np.uint8)[region_label_mask(lm)[:, ::-1]]
    iou = region_iou(labels, expected, LABEL_NAMES)
    assert min(iou[n] for n in LABEL_NAMES) > 0.9, iou
    right_eye_x = pts[list(range(468, 473)), 0].mean()  # the new subject's right iris ...
    assert right_eye_x < pts[list(range(473, 478)), 0].mean()  # ... is on the image's left again
