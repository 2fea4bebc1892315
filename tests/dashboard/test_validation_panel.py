"""dashboard.validation_panel: which card record is a model's own real validation, and the recipe
cross-validation shown beside it (named as what it is, never taken for the model's own figures)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.weights import read_card
from dashboard.validation_panel import RECIPE_CV, real_validation, recipe_cv_line, validation_line

BRAIN = Path(__file__).resolve().parents[2] / "weights" / "brain_tumor" / "unet"
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
