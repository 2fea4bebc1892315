"""The shipped face parser: its card says what real data trained and validated it, it parses the
bundled portraits where their landmarks say the features are, and (with the shared FASSEG data)
its held-out figures reproduce."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.datasets.fasseg import CLASSES, FACE_CLASSES, read_fasseg
from core.face.landmarks import FaceLandmarks, detect_landmarks, oriented_rgb
from core.face.parsing_eval import landmark_regions_as_fasseg, score_parser, summarise_scores
from core.face.region_net import FaceParser, parser_box, region_iou
from core.face.regions import region_label_mask
from core.tasks import get_task

ROOT = Path(__file__).resolve().parents[3]
FOLDER = get_task("face_regions").weights_dir("unet")
FASSEG = ROOT.parent / "shared" / "data" / "fasseg"


@pytest.fixture(scope="module")
def parser() -> FaceParser:
    return FaceParser.from_folder(FOLDER)


def test_card_states_real_training_and_held_out_validation(parser: FaceParser) -> None:
    card = parser.card
    assert card.labels == list(CLASSES) and not card.synthetic and "FASSEG" in card.training["data"]
    assert (FOLDER / "model.safetensors").stat().st_size < 10_000_000
    assert card.training["n_train_persons"] >= 15 and card.training["held_out"]
    val = card.metrics["validation_real"]
    lo, hi = val["mean_iou_face_ci95"]
    assert val["n_images"] >= 20 and lo <= val["mean_iou_face"] <= hi
    assert set(val["iou"]) == set(CLASSES) and "resampling whole persons" in val["ci_method"]
    base = card.metrics["landmark_regions_same_photos"]
    assert base["n_images"] + base["photos_without_a_face"] == val["n_images"]
    json.dumps(card.metrics)  # plain JSON, no NaN objects


@pytest.mark.parametrize("name", ["grace_hopper.jpg", "skimage_astronaut.jpg"])
def test_bundled_portraits_are_parsed_where_their_landmarks_put_the_features(parser: FaceParser,
                                                                             name: str) -> None:
    rgb = oriented_rgb(ROOT / "data_samples" / "face" / name)
    lm: FaceLandmarks = detect_landmarks(rgb)
    labels = parser.predict(rgb, parser_box(lm)).labels
    assert labels.shape == rgb.shape[:2]
    ious = region_iou(labels, landmark_regions_as_fasseg(region_label_mask(lm)), CLASSES)
    for cls in ("nose", "mouth", "eyes"):
        assert ious[cls] > 0.3, (cls, ious)
    x0, y0, x1, y1 = parser_box(lm)  # framed as the square around the box (the longer side)
    half, cx, cy = max(x1 - x0, y1 - y0) / 2 + 1, (x0 + x1) / 2, (y0 + y1) / 2
    outside = np.ones(labels.shape, bool)
    top, left = max(0, int(cy - half)), max(0, int(cx - half))
    outside[top:max(0, int(cy + half)), left:max(0, int(cx + half))] = False
    assert not labels[outside].any()  # nothing labelled outside the framed square


@pytest.mark.skipif(not FASSEG.is_dir(), reason="the shared FASSEG data is not on this machine")
def test_held_out_figures_reproduce(parser: FaceParser) -> None:
    held = set(parser.card.training["held_out"])
    cases = [c for c in read_fasseg(FASSEG) if c.group in held]
    summary = summarise_scores(score_parser(parser, cases))
    val = parser.card.metrics["validation_real"]
    assert summary["n_images"] == val["n_images"]
    assert summary["mean_iou_face"] == pytest.approx(val["mean_iou_face"], abs=2e-3)
    assert set(FACE_CLASSES) <= set(summary["iou"])
