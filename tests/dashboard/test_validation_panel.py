"""dashboard.validation_panel: which card record is a model's own real validation, and the recipe
cross-validation shown beside it (named as what it is, never taken for the model's own figures)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.weights import read_card
from dashboard.validation_panel import (
    RECIPE_CV,
    UNSEEN_PROXY,
    presence_calibrated,
    real_validation,
    recipe_cv_line,
    unseen_proxy_line,
    validation_line,
)

BRAIN = Path(__file__).resolve().parents[2] / "weights" / "brain_tumor" / "unet"
NERVE = Path(__file__).resolve().parents[2] / "weights" / "nerve"
CV = {"dice_per_patient_mean": 0.6, "dice_per_patient_median": 0.65, "dice_per_patient_ci95": [0.5, 0.7],
      "n_patients": 16, "tumour_free_slices_fp_share": 0.08, "method": "4-fold cross-validation",
      "recipe": "a shorter variant of this recipe"}


def test_the_recipe_cross_validation_is_context_not_the_models_own_validation() -> None:
    card = read_card(BRAIN)
    own = real_validation(card)
    assert own is not None and own[0] != RECIPE_CV
    others = {k: v for k, v in card.metrics.items() if k != RECIPE_CV}
    first = replace(card, metrics={RECIPE_CV: CV, **others})  # even when it comes first
    assert real_validation(first) == own and validation_line(first) == validation_line(card)
    assert recipe_cv_line(card).startswith("4-fold cross-validation over 16 patients")  # the shipped card's
    line = recipe_cv_line(first)
    assert line.startswith("4-fold cross-validation over 16 patients of a shorter variant of this recipe")
    assert "0.600 (95% CI 0.50-0.70" in line and "8.0% of tumour-free slices" in line
    assert recipe_cv_line(replace(card, metrics={RECIPE_CV: {"n": 3}})) is None


def test_every_draw_of_the_recipe_cross_validation_is_shown_with_their_mean() -> None:
    card = read_card(BRAIN)
    shipped = recipe_cv_line(card)  # the shipped card carries its recipe's draws (one or more)
    draws = [v for k, v in card.metrics.items() if k.startswith(RECIPE_CV)]
    assert draws and all(f"{d['dice_per_patient_mean']:.3f}" in shipped for d in draws)
    mean = sum(d["dice_per_patient_mean"] for d in draws) / len(draws)
    assert (f"mean over these {len(draws)} runs: {mean:.3f}" in shipped) == (len(draws) > 1)
    again = {**CV, "dice_per_patient_mean": 0.7, "recipe": "the same recipe run again with --seed 3"}
    two = replace(card, metrics={"validation_lgg": card.metrics["validation_lgg"], RECIPE_CV: CV,
                                 f"{RECIPE_CV}_seed3": again})
    line = recipe_cv_line(two)
    assert "The same recipe run again with --seed 3: per-patient Dice 0.700" in line
    assert "mean over these 2 runs: 0.650" in line
    assert real_validation(two)[0] == "validation_lgg"  # a second draw is never the model's own validation
    one = replace(two, metrics={k: v for k, v in two.metrics.items() if k != f"{RECIPE_CV}_seed3"})
    assert "mean over" not in recipe_cv_line(one)


def test_the_unseen_proxy_record_is_shown_beside_the_models_own_validation_never_for_it() -> None:
    for model in ("unet", "unet_mobilenet", "unet_vgg", "cnn"):
        card = read_card(NERVE / model)
        own = real_validation(card)
        assert own is not None and own[0] == "validation_real"
        unseen = card.metrics[UNSEEN_PROXY]
        first = replace(card, metrics={UNSEEN_PROXY: unseen,
                                       **{k: v for k, v in card.metrics.items() if k != UNSEEN_PROXY}})
        assert real_validation(first) == own  # even when it comes first
        line = unseen_proxy_line(card)
        assert line.startswith("On a kind of proxy empty frame it never trained on (225 zoomed windows")
        assert f"{unseen['dice_empty_mean']:.1%} left empty" in line and "presence ECE" in line
    assert unseen_proxy_line(replace(card, metrics={})) is None


def test_a_presence_probability_counts_as_calibrated_only_on_every_kind_of_proxy_recorded() -> None:
    card = read_card(NERVE / "unet")

    def ece(**records: float):
        return replace(card, metrics={k: {"presence_ece": v} for k, v in records.items()})

    assert presence_calibrated(ece(validation_real=0.03, validation_real_zoomed=0.05))
    # Held on the kind it trained on, failed on the unseen kind: not calibrated.
    assert not presence_calibrated(ece(validation_real=0.03, validation_real_zoomed=0.15))
    assert presence_calibrated(ece(validation_real=0.03))  # a card with one record: that record
    assert not presence_calibrated(ece()) and not presence_calibrated(ece(validation_real=0.2))
