"""Out-of-range answers for the screening models: abstain when a face is unlike the training faces
or no class is confident.

A screener's card may carry ``postprocess.abstain``::

    {"min_top_prob": 0.7, "max_gallery_distance": 0.21, "chosen_on": "...", ...}

* ``max_gallery_distance``: cosine distance from the face's whole-face embedding to its NEAREST
  training face in the model's gallery (``gallery.npz``; a deep nearest-neighbour out-of-distribution
  test, Sun et al. ICML 2022). Further than this, the face is unlike anything the model was trained on.
* ``min_top_prob``: a CONDITION named with a probability below this is not confident enough
  (``no_finding``, the no-condition class, is answered whenever it is the most probable).

Either gives the answer :data:`OUT_OF_RANGE` instead of a class, with the reason. Thresholds are
chosen on validation faces by ``train.classifier`` (:func:`choose_rule`) and written in the card.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.face.gallery import Gallery
from core.weights import WeightsError, sha256_bytes

OUT_OF_RANGE = "out_of_range"


@dataclass(frozen=True)
class Decision:
    """What the screener answers for one face.

    Attributes:
        answer: a class name, or :data:`OUT_OF_RANGE`.
        reason: why it abstained ("" when it answers).
        top_label: the most probable class (shown even when abstaining, as context).
        top_prob: its probability.
        nn_distance: cosine distance to the nearest training face (NaN without a gallery).
    """

    answer: str
    reason: str
    top_label: str
    top_prob: float
    nn_distance: float

    @property
    def abstained(self) -> bool:
        return self.answer == OUT_OF_RANGE


@dataclass(frozen=True)
class AbstainRule:
    """Thresholds of the out-of-range answer (see the module docstring); 0 / inf switch one off.

    ``no_finding``: the no-condition class. The confidence test applies to the answers that NAME
    a condition: a face whose most probable class is the no-condition one is answered so (an
    ensemble's "nothing drawn here" is rarely peaked, and saying it is the safe answer), one whose
    most probable class is a condition below ``min_top_prob`` is out of range.
    """

    min_top_prob: float = 0.0
    max_gallery_distance: float = math.inf
    no_finding: str | None = None

    @classmethod
    def from_card(cls, postprocess: Mapping[str, Any]) -> AbstainRule | None:
        """The rule in a card's ``postprocess`` (None when the card has none)."""
        spec = postprocess.get("abstain")
        if not spec:
            return None
        dist = spec.get("max_gallery_distance")
        return cls(float(spec.get("min_top_prob", 0.0)), math.inf if dist is None else float(dist),
                   spec.get("no_finding"))

    def decide(self, probs: Sequence[float], labels: Sequence[str],
               nn_distance: float = math.nan) -> Decision:
        """The answer for class probabilities ``probs`` (in ``labels`` order) and the face's
        distance to its nearest training face (NaN: unknown, the distance test is skipped)."""
        p = np.asarray(probs, np.float64)
        k = int(np.argmax(p))
        top, label = float(p[k]), str(labels[k])
        if not math.isnan(nn_distance) and nn_distance > self.max_gallery_distance:
            reason = (f"unlike the faces it was trained on (distance to the nearest training face "
                      f"{nn_distance:.3f} > {self.max_gallery_distance:.3f})")
            return Decision(OUT_OF_RANGE, reason, label, top, nn_distance)
        if top < self.min_top_prob and label != self.no_finding:
            reason = (f"no class is confident (top probability {top:.2f} < {self.min_top_prob:.2f} for "
                      f"naming a condition)")
            return Decision(OUT_OF_RANGE, reason, label, top, nn_distance)
        return Decision(label, "", label, top, nn_distance)


def answer_shares(decisions: Sequence[Decision], no_condition: str) -> dict[str, float | int]:
    """For faces WITHOUT any condition: how many get the no-condition class, out-of-range, or a
    condition (the last is the error a screener must avoid)."""
    n = len(decisions)
    none = sum(d.answer == no_condition for d in decisions)
    oor = sum(d.abstained for d in decisions)
    return {"n": n, "no_condition_share": none / n if n else math.nan,
            "out_of_range_share": oor / n if n else math.nan,
            "no_condition_or_out_of_range_share": (none + oor) / n if n else math.nan,
            "called_a_condition_share": (n - none - oor) / n if n else math.nan}


def selective_report(decisions: Sequence[Decision], truth: Sequence[str]) -> dict[str, Any]:
    """On labelled faces: the share answered, accuracy among the answered, and per class the share
    of its faces answered correctly (sensitivity after abstaining)."""
    n = len(decisions)
    answered = [(d, t) for d, t in zip(decisions, truth) if not d.abstained]
    per_class = {}
    for c in sorted(set(truth)):
        faces = [d for d, t in zip(decisions, truth) if t == c]
        per_class[c] = round(sum(d.answer == c for d in faces) / len(faces), 4)
    return {"n": n, "answered_share": round(len(answered) / n, 4) if n else None,
            "accuracy_answered": round(sum(d.answer == t for d, t in answered) / len(answered), 4)
            if answered else None,
            "correct_share_per_class": per_class}


def choose_rule(phantom_nn: Sequence[float], real_probs: Sequence[Sequence[float]], real_nn: Sequence[float],
                labels: Sequence[str], no_condition: str, *, target: float = 0.95,
                distance_quantile: float = 0.99, grid: Sequence[float] | None = None) -> AbstainRule:
    """Thresholds chosen on validation faces.

    ``max_gallery_distance``: the ``distance_quantile`` of the nearest-training-face distances of
    held-out validation phantoms (faces the model should answer). ``min_top_prob``: the smallest
    value on ``grid`` at which at least ``target`` of the held-out REAL faces without a condition
    get the no-condition class or out-of-range (0 when they already do without it); the confidence
    test applies to condition answers (see :class:`AbstainRule`).
    """
    nn = np.asarray(phantom_nn, np.float64)
    nn = nn[np.isfinite(nn)]
    max_dist = float(np.quantile(nn, distance_quantile)) if nn.size else math.inf
    grid = list(grid) if grid is not None else [round(0.3 + 0.025 * i, 3) for i in range(27)]  # 0.30..0.95
    for tau in [0.0, *grid]:
        rule = AbstainRule(tau, max_dist, no_condition)
        shares = answer_shares([rule.decide(p, labels, d) for p, d in zip(real_probs, real_nn)], no_condition)
        if not shares["n"] or shares["no_condition_or_out_of_range_share"] >= target:
            return rule
    return AbstainRule(grid[-1], max_dist, no_condition)


TRAINING_GALLERY = "gallery.npz"  # a screener's training-set embeddings, next to its weights


def nearest_distance(gallery: Gallery | None, embedding: np.ndarray) -> float:
    """Cosine distance from an embedding to its nearest gallery face (NaN without a gallery)."""
    return float(np.min(gallery.distances(embedding))) if gallery is not None else math.nan


class Abstainer:
    """A screener's out-of-range rule with its training gallery (for the distance test)."""

    def __init__(self, rule: AbstainRule, labels: Sequence[str], gallery: Gallery | None = None) -> None:
        self.rule = rule
        self.labels = tuple(labels)
        self.gallery = gallery

    @classmethod
    def from_folder(cls, folder: str | Path, postprocess: Mapping[str, Any],
                    labels: Sequence[str]) -> Abstainer | None:
        """The rule of a screener's card and the folder's ``gallery.npz`` (None: the card has no
        rule). A rule with a distance threshold but no gallery file is refused, and so is a gallery
        whose sha256 differs from the one the rule records (``gallery_sha256``)."""
        rule = AbstainRule.from_card(postprocess)
        if rule is None:
            return None
        path = Path(folder) / TRAINING_GALLERY
        gallery = None
        if path.is_file():
            expected = postprocess["abstain"].get("gallery_sha256")
            if expected and sha256_bytes(path.read_bytes()) != expected:
                raise WeightsError(f"{path}: sha256 differs from the card's out-of-range rule; the file was "
                                   "changed or replaced")
            gallery = Gallery.load(path)
        if gallery is None and not math.isinf(rule.max_gallery_distance):
            raise FileNotFoundError(f"{folder}: the card's out-of-range rule needs {TRAINING_GALLERY}")
        return cls(rule, labels, gallery)

    def nearest_distance(self, embedding: np.ndarray) -> float:
        """Cosine distance to the nearest training face (NaN without a gallery)."""
        return nearest_distance(self.gallery, embedding)

    def decide(self, probs: Sequence[float], embedding: np.ndarray) -> Decision:
        """The answer for one face's class probabilities and whole-face embedding."""
        return self.rule.decide(probs, self.labels, self.nearest_distance(embedding))
