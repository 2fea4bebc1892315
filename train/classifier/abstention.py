"""Choosing a screener's out-of-range thresholds on validation faces (core/face/abstain.py).

The held-out persons' test phantoms say how far from the training faces a face the model should
answer lies (nearest-training-face distance, 99th percentile); their untouched real photos, faces
without any of the drawn conditions, fix the confidence threshold: the smallest at which at least
``--abstain-target`` of them get the no-condition class or out-of-range. Both are written in the
card's ``postprocess.abstain``; the card's ``metrics.abstain_validation`` reports, on the same faces,
what the rule does (chosen on them, so optimistic: the independent test is other people's faces).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from core.face.abstain import AbstainRule, answer_shares, choose_rule, nearest_distance, selective_report
from core.face.landmarks import FaceLandmarks
from core.face.screening import Screener
from train.face_augment import FaceSource
from train.screening_eval import predict_phantoms


def real_photo_results(screener: Screener, sources: list[FaceSource]) -> list[Any]:
    """The screener's result on each source's untouched photo (its detected landmarks)."""
    return [screener.predict(src.photo, FaceLandmarks(src.points.astype(np.float32), src.shape))
            for src in sources]


def calibrate(screener: Screener, gallery: Any, held: list[FaceSource], test_faces: list[Any],
              no_condition: str, target: float, n_persons: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(``postprocess.abstain`` for the card, ``metrics.abstain_validation``); ``held``: the untouched
    photos of ``n_persons`` held-out people."""
    labels = list(screener.labels)
    phantoms = predict_phantoms(screener, test_faces, desc="abstention: phantoms")
    phantom_nn = [nearest_distance(gallery, r.embedding) for r in phantoms]
    real = real_photo_results(screener, held)
    real_nn = [nearest_distance(gallery, r.embedding) for r in real]
    rule = choose_rule(phantom_nn, [r.probs for r in real], real_nn, labels, no_condition, target=target)
    plain = AbstainRule()
    truth = [labels[int(f.label_index)] for f in test_faces]
    decide = lambda rule_, rs, nns: [rule_.decide(r.probs, labels, d) for r, d in zip(rs, nns)]  # noqa: E731
    spec = {"min_top_prob": rule.min_top_prob, "no_finding": no_condition,
            "max_gallery_distance": None if math.isinf(rule.max_gallery_distance) else
            round(rule.max_gallery_distance, 4),
            "chosen_on": f"{len(real)} untouched photos of {n_persons} held-out real persons "
                         f"without any condition (confidence: the smallest threshold giving >= "
                         f"{target:.0%} no-condition or out-of-range) and {len(test_faces)} test phantoms "
                         "of the same held-out persons (distance: their 99th percentile)"}
    shares = {name: _round(answer_shares(decide(r_, real, real_nn), no_condition))
              for name, r_ in (("without_rule", plain), ("with_rule", rule))}
    metrics = {
        "real_no_condition": shares,
        "phantom_held_out": {"without_rule": selective_report(decide(plain, phantoms, phantom_nn), truth),
                             "with_rule": selective_report(decide(rule, phantoms, phantom_nn), truth)},
        "note": "thresholds chosen on these faces: optimistic; the independent test is other people's faces",
    }
    return spec, metrics


def _round(d: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}
