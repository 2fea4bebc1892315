"""core.face.region_net: region IoU on hand label maps, the face parser's framing geometry and
its inverse, mirror TTA, and the FASSEG framing box from landmarks."""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from core.datasets.fasseg import CLASSES
from core.face.landmarks import FaceLandmarks
from core.face.region_net import (
    FASSEG_FRAMING,
    FaceParser,
    align_spec,
    face_frame,
    frame_matrix,
    mean_region_iou,
    mirror_permutation,
    normalise_rgb,
    parser_box,
    region_iou,
)
from core.face.regions import LABEL_NAMES, region_label_mask
from core.models import create_model
from core.weights import WeightsError, save_model
from train.face_augment import mirror
from train.face_regions import parser_card

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
    spec = {"size": [64, 64], "resize": "align_face", "align": {"eye_distance": 0.28, "eye_y": 0.4},
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    assert align_spec(spec) == {"size": 64, "eye_distance": 0.28, "eye_y": 0.4}
    x = normalise_rgb(np.full((64, 64, 3), 255, np.uint8), spec)
    assert x.shape == (3, 64, 64) and x.dtype == np.float32
    assert x[:, 0, 0] == pytest.approx((1 - np.array(spec["mean"])) / np.array(spec["std"]))
    with pytest.raises(WeightsError, match="square"):
        align_spec({**spec, "size": [64, 96]})


# ---------------------------------------------------------------- framing
def test_frame_matrix_letterboxes_the_box_centred() -> None:
    m = frame_matrix((10, 20, 50, 100), 64)  # 40 wide, 80 tall: height fills the input
    corners = np.array([[10, 20, 1], [50, 100, 1]], np.float64) @ m.T
    assert np.allclose(corners, [[16, 0], [48, 64]])
    with pytest.raises(ValueError, match="empty"):
        frame_matrix((5, 5, 5, 9), 64)


def test_face_frame_pads_black_and_shrinks_large_photos_without_aliasing() -> None:
    image = np.full((40, 20, 3), 200, np.uint8)
    out = face_frame(image, frame_matrix((0, 0, 20, 40), 32), 32)
    assert out.shape == (32, 32, 3) and out[:, 12:20].min() == 200 and out[:, :6].max() == 0
    stripes = np.zeros((800, 800, 3), np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: a plain bilinear warp to 64 px would alias them
    small = face_frame(stripes, frame_matrix((0, 0, 800, 800), 64), 64)
    assert abs(float(small[8:-8, 8:-8].mean()) - 127.5) < 10 and small[8:-8, 8:-8].std() < 12


def test_parser_box_frames_the_face_as_fasseg_does(lm: FaceLandmarks) -> None:
    x0, y0, x1, y1 = parser_box(lm)
    bx0, by0, bx1, by1 = lm.bbox
    assert x0 < bx0 and x1 > bx1 and y0 < by0 and y1 > by1 - 0.1 * (by1 - by0)
    assert (x1 - x0) == pytest.approx(FASSEG_FRAMING["width"] * (bx1 - bx0), rel=1e-6)
    assert (y1 - y0) == pytest.approx(FASSEG_FRAMING["height"] * (by1 - by0), rel=1e-6)
    assert (y0 + y1) / 2 < (by0 + by1) / 2  # hair above the face: the frame is raised


# ---------------------------------------------------------------- predictor
class _Oracle(nn.Module):
    """Returns fixed logits: one-hot of a label map in the network's frame, whatever the input."""

    def __init__(self, labels: np.ndarray, k: int) -> None:
        super().__init__()
        onehot = np.eye(k, dtype=np.float32)[labels].transpose(2, 0, 1) * 10
        self.register_buffer("logits", torch.from_numpy(onehot)[None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(x), -1, -1, -1)


def _blob_labels(h: int, w: int) -> np.ndarray:
    labels = np.zeros((h, w), np.uint8)
    labels[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 2  # skin
    labels[h // 3: h // 3 + 6, w // 3: w // 3 + 10] = 3  # an eye
    return labels


def test_saved_tiny_model_round_trip(tmp_path: Path, rgb: np.ndarray) -> None:
    card = parser_card(size=64, widths=[4, 8, 16])
    torch.manual_seed(0)
    save_model(create_model("unet", **card.arch_config), card, tmp_path)
    parser = FaceParser.from_folder(tmp_path)
    assert not parser.model.training and parser.size == 64 and parser.names == CLASSES
    pred = parser.predict(rgb, return_probs=True)
    assert pred.labels.shape == rgb.shape[:2] and pred.labels.dtype == np.uint8
    assert pred.labels.max() < len(CLASSES)
    assert pred.probs.shape == (len(CLASSES), *rgb.shape[:2])
    assert np.allclose(pred.probs.sum(axis=0), 1, atol=1e-3)
    with pytest.raises(ValueError, match="RGB"):
        parser.predict(rgb[..., 0])


def test_a_card_that_is_not_a_face_parser_is_refused() -> None:
    card = parser_card(size=64, widths=[4, 8, 16])
    model = create_model("unet", **card.arch_config)
    with pytest.raises(WeightsError, match="face_box"):
        FaceParser(model, replace(card, input={**card.input, "resize": "align_face"}))
    with pytest.raises(WeightsError, match="background"):
        FaceParser(model, replace(card, labels=["skin", *card.labels[1:]]))


def test_inverse_warp_puts_the_labels_back_on_the_photo_and_on_a_box() -> None:
    h, w, s = 120, 80, 64
    truth = _blob_labels(h, w)
    image = np.zeros((h, w, 3), np.uint8)
    framed = face_frame(truth, frame_matrix((0, 0, w, h), s), s, interpolation=cv2.INTER_NEAREST)
    parser = FaceParser(_Oracle(framed, len(CLASSES)), parser_card(size=s, mirror_tta=False))
    pred = parser.predict(image)
    iou = region_iou(pred.labels, truth, CLASSES)
    assert iou["skin"] > 0.9 and iou["eyes"] > 0.6, iou
    half = parser.predict(image, shape=(h // 2, w // 2))
    assert half.labels.shape == (h // 2, w // 2)
    assert region_iou(half.labels, truth[::2, ::2], CLASSES)["skin"] > 0.85
    # The same labels framed from a box: outside the box everything is background.
    box = (10, 20, 70, 100)
    framed = face_frame(truth, frame_matrix(box, s), s, interpolation=cv2.INTER_NEAREST)
    boxed = FaceParser(_Oracle(framed, len(CLASSES)), parser_card(size=s, mirror_tta=False))
    pred = boxed.predict(image, box)
    inside = np.zeros((h, w), bool)
    inside[20:100, 10:70] = True
    assert not pred.labels[~inside].any()
    assert region_iou(pred.labels, np.where(inside, truth, 0), CLASSES)["skin"] > 0.9


def test_mirror_tta_averages_the_mirrored_prediction(rgb: np.ndarray) -> None:
    card = parser_card(size=64, widths=[4, 8, 16], mirror_tta=False)
    torch.manual_seed(1)
    model = create_model("unet", **card.arch_config)
    plain = FaceParser(model, card)
    tta = FaceParser(model, parser_card(size=64, widths=[4, 8, 16], mirror_tta=True))
    matrix = frame_matrix((0, 0, rgb.shape[1], rgb.shape[0]), 64)
    probs = tta.network_probs(rgb, matrix)
    x = torch.from_numpy(normalise_rgb(face_frame(rgb, matrix, 64), card.input))[None]
    with torch.inference_mode():
        p = torch.softmax(model(x), 1)[0]
        q = torch.softmax(model(x.flip(-1)), 1)[0].flip(-1)
    assert np.allclose(probs, ((p + q) / 2).numpy(), atol=1e-5)
    assert np.allclose(plain.network_probs(rgb, matrix), p.numpy(), atol=1e-5)


def test_mirror_augmentation_swaps_right_and_left_labels(rgb: np.ndarray, lm: FaceLandmarks) -> None:
    flipped, pts = mirror(rgb, lm.points)
    assert flipped.shape == rgb.shape and np.array_equal(flipped[:, 0], rgb[:, -1])
    labels = region_label_mask(FaceLandmarks(pts, lm.image_shape))
    expected = np.asarray(mirror_permutation(LABEL_NAMES), np.uint8)[region_label_mask(lm)[:, ::-1]]
    iou = region_iou(labels, expected, LABEL_NAMES)
    assert min(iou[n] for n in LABEL_NAMES) > 0.9, iou
    right_eye_x = pts[list(range(468, 473)), 0].mean()  # the new subject's right iris ...
    assert right_eye_x < pts[list(range(473, 478)), 0].mean()  # ... is on the image's left again
