"""A face screening model as the lab engine's classifier, with photos in which no face is found."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.datasets import Case
from core.evaluation.engine import collect
from core.face.landmarks import NoFaceError
from core.lab.screening import faceless, screening_classifier

LABELS = ("acne", "healthy")


class FakeScreener:
    """Class probabilities from the photo's brightness; ``prepare`` keeps the brightness."""

    labels = LABELS
    card = SimpleNamespace(weights={"sha256": "e" * 64})

    def __init__(self) -> None:
        self.batches: list[int] = []

    def prepare(self, image: np.ndarray, lm: object) -> float:
        return float(image.mean()) / 255

    def predict_inputs(self, inputs: list[float]) -> list[SimpleNamespace]:
        self.batches.append(len(inputs))
        return [SimpleNamespace(probs=np.array([1 - v, v], np.float32) * 2) for v in inputs]  # unnormalised


def _detect(image: np.ndarray) -> object:
    if not image.any():
        raise NoFaceError("no face found")
    return object()


def _photo(value: int) -> np.ndarray:
    return np.full((8, 8, 3), value, np.uint8)


def test_probabilities_in_one_batch_and_uniform_without_a_face() -> None:
    screener = FakeScreener()
    clf = screening_classifier(screener, detect=_detect)
    assert clf.labels == LABELS and clf.sha256 == "e" * 64
    probs = clf.predict_proba([_photo(51), _photo(0), _photo(204)])
    assert screener.batches == [2]  # the two faces in one forward pass
    assert probs == pytest.approx(np.array([[0.8, 0.2], [0.5, 0.5], [0.2, 0.8]]))
    assert clf.predict_proba([_photo(0)]) == pytest.approx(np.array([[0.5, 0.5]]))
    assert screener.batches == [2]  # nothing to predict: the model is not called


def test_engine_rows_and_faceless_names() -> None:
    cases = [Case(name=f"{lab}/{i}.jpg", image=_photo(v), meta={"label": lab})
             for i, (lab, v) in enumerate([("acne", 25), ("healthy", 0), ("healthy", 230)])]
    res = collect({"s": screening_classifier(FakeScreener(), detect=_detect)}, cases, batch_size=2)
    rows = res.rows["s"]
    assert [r["correct"] for r in rows] == [True, False, True]  # a faceless photo is argmax 0: wrong here
    assert faceless(rows, LABELS) == ["healthy/1.jpg"]
    assert res.set_metrics["s"]["accuracy"] == pytest.approx(2 / 3)
