"""The shipped face screening demo weights: cards state what they are; figures reproduce."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.face.screening import Screener
from core.tasks import get_task
from train.phantoms.face import phantom_set

SCREENING = get_task("face_screening")

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted(p.parent.name for p in (ROOT / "weights" / "face_screening").glob("*/model.json"))
pytestmark = pytest.mark.skipif(not SHIPPED, reason="no shipped face screening weights")


@pytest.mark.parametrize("task", SHIPPED)
def test_card_says_phantoms_and_holds_both_test_sets(task: str) -> None:
    screener = Screener.from_folder(ROOT / "weights" / "face_screening" / task)  # sha256 checked
    card = screener.card
    assert card.synthetic and card.training["screen_task"] == task
    assert card.labels == list(SCREENING.rows[task].labels)
    assert card.training["caveat"] == SCREENING.rows[task].phantom_note and card.weights["bytes"] < 10_000_000
    same, other = card.metrics["phantom_test"], card.metrics["phantom_test_held_out_identity"]
    assert "TRAINING identity" in same["identity"] and "NEVER used for training" in other["identity"]
    for report in (same, other):
        assert report["top_k"]["n_classes"] == len(card.labels) and "pointing_game" in report


@pytest.mark.slow  # 12 phantoms per shipped model; the default run predicts one (below)
@pytest.mark.parametrize("task", SHIPPED)
def test_fresh_phantoms_of_the_training_identity_reproduce_the_card(task: str) -> None:
    """The first 12 test phantoms (the card's seed): accuracy within reach of the card's figure."""
    screener = Screener.from_folder(ROOT / "weights" / "face_screening" / task)
    seed = int(screener.card.training["command"].split("--test-seed ")[1].split()[0]) \
        if "--test-seed" in screener.card.training["command"] else 2026
    faces = phantom_set(task, 12, seed, identity="train")
    right = [screener.predict(f.rgb, f.landmarks).top_index == f.label_index for f in faces]
    assert np.mean(right) >= screener.card.metrics["phantom_test"]["accuracy"] - 0.2


@pytest.mark.parametrize("task", SHIPPED)
def test_shipped_weights_give_probabilities_on_one_fresh_phantom(task: str) -> None:
    """The default run's cheap check: the weights load (sha256 checked) and score one fresh phantom."""
    screener = Screener.from_folder(ROOT / "weights" / "face_screening" / task)
    (face,) = phantom_set(task, 1, 2026, identity="train")
    probs = screener.predict(face.rgb, face.landmarks).probs
    assert probs.shape == (len(screener.card.labels),) and abs(float(probs.sum()) - 1) < 1e-4


@pytest.mark.parametrize("task", SHIPPED)
def test_the_bundled_gallery_index_is_the_gallery_embedded_now(task: str) -> None:
    """The index the screening page reads (python -m train.gallery_index) matches these weights and
    photos, and holds what embedding the photos now gives."""
    from core.face.gallery import INDEX_NAME, gallery_from_folder, load_index
    from core.face.screening import photo_embedding

    gallery = SCREENING.samples_dir / task / "gallery"
    if not gallery.is_dir():
        pytest.skip("no bundled gallery")
    screener = Screener.from_folder(ROOT / "weights" / "face_screening" / task)
    index = load_index(gallery, screener.card.weights["sha256"], gallery.parent / INDEX_NAME)
    assert index is not None, "stale or missing gallery index: run python -m train.gallery_index"
    fresh = gallery_from_folder(gallery, lambda p: photo_embedding(screener, p))
    assert index.gallery.ids == fresh.gallery.ids and index.gallery.labels == fresh.gallery.labels
    # Up to floating point: the landmarks and embeddings round differently on another CPU (up to 0.7% of
    # an embedding's length on an AMD EPYC with AVX2, no AVX-512); two different photos lie 9% or more apart.
    stored, now = index.gallery.embeddings, fresh.gallery.embeddings
    off = np.linalg.norm(stored - now, axis=1) / np.linalg.norm(now, axis=1)
    assert off.max() < 0.02, dict(zip(index.gallery.ids, off.round(4)))
