"""The model lab's case view shows the very prediction its row scored (the engine, the run's settings)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.evaluation import collect
from core.evaluation.cache import canonical_json
from core.lab import detect_layout, read_cases
from core.roots import SAMPLES_ROOT
from core.tasks import get_task
from dashboard import cache


def test_case_masks_are_the_scored_predictions_at_the_runs_threshold() -> None:
    guess = detect_layout(SAMPLES_ROOT / "nerve")
    task = get_task("nerve")
    folders = {m: str(task.weights_dir(m)) for m in ("unet", "cnn")}
    models = cache.lab_predictors("segmentation", folders)
    for threshold in (0.2, 0.8):
        result = collect(models, read_cases(guess), task="nerve",
                         settings={"threshold": threshold, "limit": 3})
        for row in result.rows["unet"]:
            masks = cache.lab_case_masks(tuple(folders.items()), guess, "fingerprint", row["name"],
                                         canonical_json(result.settings))
            for m, mask in masks.items():
                scored = next(r for r in result.rows[m] if r["name"] == row["name"])
                assert int(np.count_nonzero(mask)) == scored["tp_px"] + scored["fp_px"], (threshold, m)
    assert cache.lab_case_masks(tuple(folders.items()), guess, "fingerprint", "gone.tif",
                                canonical_json(result.settings)) is None


def test_cases_of_groups_the_model_trained_on_are_marked(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from core.evaluation import LabResult
    from core.weights import read_card
    from dashboard import lab_sections

    rows = [{"name": "a.tif", "group": "P1", "dice": 0.5}, {"name": "b.tif", "group": "P2", "dice": 0.9}]
    result = LabResult(task="brain_tumor", kind="segmentation", settings={}, rows={"m": rows}, set_metrics={})
    card = read_card(Path(__file__).resolve().parents[2] / "weights" / "brain_tumor" / "unet")
    card = replace(card, training={**card.training, "train_groups": ["P1"]})
    tables, captions = [], []
    monkeypatch.setattr(lab_sections.st, "dataframe", lambda df, **k: tables.append(df))
    monkeypatch.setattr(lab_sections.st, "caption", lambda text, **k: captions.append(text))
    lab_sections.worst_first_table(result, {"m": card})
    table = tables[-1]
    assert list(table.columns[:3]) == ["trained on", "name", "dice"]
    assert dict(zip(table["name"], table["trained on"])) == {"a.tif": True, "b.tif": False}
    assert "1 of 2 cases come from groups this model trained on" in captions[-1]
    lab_sections.worst_first_table(result, {"m": replace(card, training={})})  # nothing listed: no column
    assert "trained on" not in tables[-1].columns and "trained on" not in captions[-1]
