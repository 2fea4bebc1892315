"""The modality check: its preprocessing and rule, and the shipped check on the bundled samples."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.datasets import read_hc18, read_kaggle_3m
from core.io.image import load_image, to_rgb_u8
from core.models import create_model
from core.models.modality import MODALITIES
from core.predict.modality import ModalityGate, gate_folder, prepare, volume_views
from core.weights import ModelCard

SAMPLES = Path(__file__).resolve().parents[3] / "data_samples"


def _gate(logits: list[float]) -> ModalityGate:
    """A gate whose network answers ``logits`` whatever it is shown."""
    model = create_model("modality_cnn")
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    with torch.no_grad():
        model.head.bias.copy_(torch.tensor(logits))
    card = ModelCard(task="modality", arch="modality_cnn", arch_config={}, labels=list(MODALITIES),
                     input={"size": [32, 32]}, postprocess={"refuse_below": 0.05})
    return ModalityGate(model, card)


def test_prepare_takes_any_image_to_a_grey_square() -> None:
    for image in (np.zeros((40, 70), np.uint8), np.full((50, 30, 3), 200, np.uint8),
                  np.arange(600, dtype=np.uint16).reshape(20, 30) * 50,
                  np.random.default_rng(1).random((16, 16), np.float32)):
        x = prepare(image, 24)
        assert x.shape == (3, 24, 24) and x.dtype == np.float32 and 0 <= x.min() <= x.max() <= 1
        assert np.array_equal(x[0], x[2])


IMAGE = np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8)


def test_the_gate_refuses_only_when_the_page_modality_is_improbable() -> None:
    sure_photo = _gate([0.0, 0.0, 6.0])  # p(other) ~ 0.995
    verdict = sure_photo.check(IMAGE, "ultrasound")
    assert verdict.refuse and verdict.likely == "other"
    assert "looks like a photograph" in verdict.message("x.png")
    assert "not an ultrasound frame" in verdict.message("x.png")
    assert not sure_photo.check(IMAGE, "other").refuse
    torn = _gate([1.0, 0.0, 1.5])  # unsure: passes
    assert not torn.check(IMAGE, "ultrasound").refuse
    with pytest.raises(ValueError, match="expected must be one of"):
        torn.check(np.zeros((8, 8)), "ct")


def test_a_card_with_other_labels_is_refused() -> None:
    card = ModelCard(task="modality", arch="modality_cnn", arch_config={}, labels=["a", "b", "c"],
                     input={"size": [32, 32]}, postprocess={"refuse_below": 0.05})
    with pytest.raises(ValueError, match="modality card"):
        ModalityGate(create_model("modality_cnn"), card)


def test_volume_views_are_middle_slices() -> None:
    vol = np.arange(50)[:, None, None] * np.ones((50, 4, 4))
    views = volume_views(vol)
    assert [int(v[0, 0]) for v in views] == [20, 24, 29]
    assert len(volume_views(np.ones((1, 4, 4)))) == 1


# ---------------------------------------------------------------- the shipped check
@pytest.fixture(scope="module")
def shipped() -> ModalityGate:
    return ModalityGate.from_folder(gate_folder())


def _grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def test_the_shipped_check_passes_each_page_its_own_samples(shipped: ModalityGate) -> None:
    frames = [c.image for c in read_hc18(SAMPLES / "fetal_head")]
    nerve = [load_image(p).pixels for p in sorted((SAMPLES / "nerve" / "train").glob("*[0-9].tif"))][:4]
    lgg = [c.image for c in read_kaggle_3m(SAMPLES / "brain_mri" / "kaggle_3m")
           if _grey(c.image).std() >= 5][::3]
    faces = [to_rgb_u8(load_image(p)) for p in sorted((SAMPLES / "face").glob("*.jpg"))]
    assert frames and nerve and lgg and faces
    for images, page in ((frames, "ultrasound"), (nerve, "ultrasound"), (lgg, "mri"), (faces, "other")):
        assert not any(shipped.check(im, page).refuse for im in images), page


def test_the_shipped_check_refuses_the_wrong_page(shipped: ModalityGate) -> None:
    face = to_rgb_u8(load_image(SAMPLES / "face" / "grace_hopper.jpg"))
    frame = next(c.image for c in read_hc18(SAMPLES / "fetal_head") if c.name == "404_HC.png")
    for image, page in ((_grey(face), "ultrasound"), (frame, "mri"), (face, "mri"), (frame, "other")):
        assert shipped.check(image, page).refuse, page


def test_a_blank_image_is_never_refused() -> None:
    verdict = _gate([0.0, 0.0, 6.0]).check([np.zeros((32, 32)), np.full((32, 32), 9.0)], "ultrasound")
    assert not verdict.refuse
