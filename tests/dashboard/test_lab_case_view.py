"""The model lab's case view shows the very prediction its row scored (the engine, the run's settings)."""
from __future__ import annotations

import numpy as np

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
