"""The shipped face-region U-Net: its card's figures reproduce on the bundled portraits."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.face.landmarks import detect_landmarks, oriented_rgb
from core.face.region_net import RegionSegmenter, mean_region_iou, region_iou
from core.face.regions import LABEL_NAMES, REGION_NAMES, region_label_mask

ROOT = Path(__file__).resolve().parents[3]
FOLDER = ROOT / "weights" / "face_regions" / "unet"
SAMPLES = ROOT / "data_samples" / "face"
pytestmark = pytest.mark.skipif(not (FOLDER / "model.json").is_file(), reason="no shipped face-region U-Net")


@pytest.fixture(scope="module")
def seg() -> RegionSegmenter:
    return RegionSegmenter.from_folder(FOLDER)  # sha256 checked against the card


def _photo_iou(seg: RegionSegmenter, name: str) -> dict[str, float]:
    rgb = oriented_rgb(SAMPLES / name)
    lm = detect_landmarks(rgb)
    return region_iou(seg.predict(rgb, lm).labels, region_label_mask(lm), LABEL_NAMES)


def test_card_states_what_it_was_trained_on_and_how_it_scores(seg: RegionSegmenter) -> None:
    card = seg.card
    assert card.task == "face_regions" and card.synthetic and card.weights["bytes"] < 10_000_000
    assert "ONE public-domain portrait" in card.training["data"]
    assert "astronaut" in card.training["held_out_identity"]
    held, train = card.metrics["held_out"], card.metrics["training_identity"]
    assert set(held["iou"]) == set(REGION_NAMES) and "NOT used" in held["identity"]
    assert held["mean_iou"] == pytest.approx(np.mean(list(held["iou"].values())), abs=1e-3)
    assert held["mean_iou"] < train["mean_iou"]  # one training identity: the gap is the honest finding
    assert card.metrics["seed_system_claim"]["iou"] == 0.89


def test_bundled_held_out_portrait_reproduces_the_card(seg: RegionSegmenter) -> None:
    """The bundled astronaut is a JPEG of the card's held-out photo: same figure within 0.03."""
    iou = _photo_iou(seg, "skimage_astronaut.jpg")
    held = seg.card.metrics["held_out"]["original_photo_mean_iou"]
    assert mean_region_iou(iou) == pytest.approx(held, abs=0.03)


def test_bundled_training_portrait_reproduces_the_card(seg: RegionSegmenter) -> None:
    iou = _photo_iou(seg, "grace_hopper.jpg")
    train = seg.card.metrics["training_identity"]["original_photo_mean_iou"]
    assert mean_region_iou(iou) == pytest.approx(train, abs=0.01) and mean_region_iou(iou) > 0.85
