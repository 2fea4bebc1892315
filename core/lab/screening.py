"""A face screening ensemble as the lab engine's classifier: photos in, class probabilities out.

The engine scores a :class:`core.evaluation.engine.ProbClassifier`; a face screening model needs the
face's landmarks first, so :func:`screening_classifier` finds them (Face Mesh), aligns and crops
every photo of a batch and runs the ensemble in one forward pass. A photo without a detectable
face gets uniform probabilities (chance): the engine scores it like any other case (usually
wrong), and :func:`faceless` finds those rows again, in a fresh run or one read from the cache.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from core.evaluation.engine import ProbClassifier

__all__ = ["faceless", "screening_classifier"]


def screening_classifier(screener: Any, *, detect: Callable[[np.ndarray], Any] | None = None
                         ) -> ProbClassifier:
    """Wrap a :class:`core.face.screening.Screener` for the lab engine.

    Args:
        screener: the (possibly shared, cached) screening model; only its thread-safe
            ``prepare`` / ``predict_inputs`` are used.
        detect: ``HxWx3 uint8 RGB -> FaceLandmarks`` (default
            :func:`core.face.landmarks.detect_landmarks`); raises ``FaceError`` without a face.

    Returns:
        A classifier whose ``predict_proba`` maps photos (HxWx3 uint8 RGB, as an ImageFolder's
        cases hold them) to an NxC float64 array of the ensemble's averaged softmax, rows
        renormalised to sum to 1; uniform rows for photos without a face. ``sha256`` is the
        card's, so results are cached per weights.
    """
    from core.face.landmarks import FaceError, detect_landmarks

    find = detect or detect_landmarks
    labels = tuple(screener.labels)

    def predict_proba(images: Sequence[np.ndarray]) -> np.ndarray:
        prepared, where = [], []
        for i, image in enumerate(images):
            try:
                prepared.append(screener.prepare(image, find(image)))
            except FaceError:
                continue
            where.append(i)
        out = np.full((len(images), len(labels)), 1.0 / len(labels))
        for i, result in zip(where, screener.predict_inputs(prepared) if prepared else []):
            p = np.asarray(result.probs, dtype=np.float64)
            out[i] = p / p.sum()
        return out

    sha = screener.card.weights.get("sha256")
    return ProbClassifier(labels, predict_proba, str(sha) if sha else None)


def faceless(rows: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> list[str]:
    """Names of the rows whose class probabilities are all equal: photos in which no face was found
    (a softmax over real logits is never exactly uniform)."""
    out = []
    for row in rows:
        probs = [row.get(f"p_{label}") for label in labels]
        if len(probs) > 1 and None not in probs and len(set(probs)) == 1:
            out.append(str(row["name"]))
    return out
