"""core.face.abstain: the out-of-range answer (too far from the training faces, or no confident
class), its card form, the gallery it needs, and thresholds chosen on validation faces."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from core.face.abstain import (
    OUT_OF_RANGE,
    TRAINING_GALLERY,
    Abstainer,
    AbstainRule,
    Decision,
    answer_shares,
    choose_rule,
    selective_report,
)
from core.face.gallery import Gallery
from core.weights import WeightsError, sha256_bytes

LABELS = ("acne", "eczema", "healthy")


def test_decide_answers_or_abstains_with_the_reason() -> None:
    rule = AbstainRule(min_top_prob=0.6, max_gallery_distance=0.2)
    d = rule.decide([0.1, 0.8, 0.1], LABELS, 0.05)
    assert d == Decision("eczema", "", "eczema", pytest.approx(0.8), 0.05) and not d.abstained
    far = rule.decide([0.1, 0.8, 0.1], LABELS, 0.35)
    assert far.abstained and far.answer == OUT_OF_RANGE and "unlike the faces" in far.reason
    assert far.top_label == "eczema"  # kept as context
    unsure = rule.decide([0.3, 0.25, 0.45], LABELS, 0.05)
    assert unsure.abstained and "no class is confident" in unsure.reason and "0.45 < 0.60" in unsure.reason
    assert not rule.decide([0.1, 0.8, 0.1], LABELS, math.nan).abstained  # no gallery: distance skipped
    assert not AbstainRule().decide([0.34, 0.33, 0.33], LABELS, 5.0).abstained  # switched off


def test_rule_from_card() -> None:
    assert AbstainRule.from_card({"ensemble": "mean_softmax"}) is None
    rule = AbstainRule.from_card({"abstain": {"min_top_prob": 0.7, "max_gallery_distance": None}})
    assert rule == AbstainRule(0.7, math.inf)
    assert AbstainRule.from_card({"abstain": {"max_gallery_distance": 0.3}}) == AbstainRule(0.0, 0.3)


def test_abstainer_uses_the_training_gallery(tmp_path: Path) -> None:
    post = {"abstain": {"min_top_prob": 0.5, "max_gallery_distance": 0.1}}
    with pytest.raises(FileNotFoundError, match=TRAINING_GALLERY):
        Abstainer.from_folder(tmp_path, post, LABELS)
    assert Abstainer.from_folder(tmp_path, {}, LABELS) is None
    gallery = Gallery(np.array([[1.0, 0.0], [0.0, 1.0]]), ["acne", "healthy"], ["a", "b"])
    gallery.save(tmp_path / TRAINING_GALLERY)
    ab = Abstainer.from_folder(tmp_path, post, LABELS)
    assert ab.nearest_distance(np.array([2.0, 0.0])) == pytest.approx(0.0, abs=1e-6)
    sha = sha256_bytes((tmp_path / TRAINING_GALLERY).read_bytes())
    assert Abstainer.from_folder(tmp_path, {"abstain": {**post["abstain"], "gallery_sha256": sha}}, LABELS)
    with pytest.raises(WeightsError, match="sha256 differs"):
        Abstainer.from_folder(tmp_path, {"abstain": {**post["abstain"], "gallery_sha256": "0" * 64}}, LABELS)
    assert ab.decide([0.1, 0.1, 0.8], np.array([1.0, 0.05])).answer == "healthy"
    assert ab.decide([0.1, 0.1, 0.8], np.array([1.0, 1.0])).abstained  # 45 degrees: distance 0.29


def test_shares_and_selective_report() -> None:
    ds = [Decision("healthy", "", "healthy", 0.9, 0.1), Decision(OUT_OF_RANGE, "x", "acne", 0.4, 0.1),
          Decision("acne", "", "acne", 0.8, 0.1), Decision("healthy", "", "healthy", 0.7, 0.1)]
    shares = answer_shares(ds, "healthy")
    assert shares["n"] == 4 and shares["no_condition_share"] == 0.5 and shares["out_of_range_share"] == 0.25
    assert shares["no_condition_or_out_of_range_share"] == 0.75 and shares["called_a_condition_share"] == 0.25
    rep = selective_report(ds, ["healthy", "acne", "acne", "eczema"])
    assert rep["answered_share"] == 0.75 and rep["accuracy_answered"] == pytest.approx(2 / 3, abs=1e-4)
    assert rep["correct_share_per_class"] == {"acne": 0.5, "eczema": 0.0, "healthy": 1.0}
    assert selective_report([ds[1]], ["acne"])["accuracy_answered"] is None


def test_choose_rule_takes_the_smallest_confidence_reaching_the_target() -> None:
    # Real faces without a condition: two are called acne at 0.5 and 0.62, the rest healthy.
    real = [[0.1, 0.1, 0.8]] * 18 + [[0.5, 0.2, 0.3], [0.62, 0.2, 0.18]]
    nn = [0.05] * 20
    phantom_nn = [0.04, 0.06, 0.08, 0.1]
    rule = choose_rule(phantom_nn, real, nn, LABELS, "healthy", target=0.95)
    assert 0.5 < rule.min_top_prob <= 0.525  # one of two wrong answers must go: 19/20 = 95%
    assert rule.max_gallery_distance == pytest.approx(np.quantile(phantom_nn, 0.99))
    assert choose_rule([0.1], real, nn, LABELS, "healthy", target=1.0).min_top_prob > 0.62
    assert choose_rule([0.1], real[:18], nn[:18], LABELS, "healthy").min_top_prob == 0.0  # nothing to fix
    far = choose_rule([0.01, 0.01], real, [0.5] * 20, LABELS, "healthy")  # all unlike the phantoms
    assert far.min_top_prob == 0.0 and far.max_gallery_distance < 0.5
