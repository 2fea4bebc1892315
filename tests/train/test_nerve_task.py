"""The nerve task wiring: phantom cases, layout readers, samples and a tiny training run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.datasets import DatasetError, read_kaggle_nerve, read_labelled
from core.tasks import get_task
from core.weights import load_model, read_card
from train import make_samples, segmentation
from train.data import phantom_cases

ROOT = Path(__file__).resolve().parents[2]
TASK = get_task("nerve")


def test_phantom_cases_are_grouped_by_subject():
    cases = list(phantom_cases(TASK, 25, seed=5))
    assert len(cases) == 25
    assert [c.group for c in cases[:20]] == ["5_1"] * 20 and cases[20].group == "5_2"
    assert all(c.image.shape == (420, 580) and c.mask.shape == (420, 580) for c in cases)
    missing = [c for c in cases if c.meta["label_missing"]]
    assert all(c.meta["has_nerve"] and not c.mask.any() for c in missing)


def test_bundled_nerve_samples_in_the_kaggle_layout():
    cases = list(read_labelled(TASK.layout, TASK.samples_dir))
    assert len(cases) >= 10 and {c.group for c in cases} == {"1", "2"}
    assert any(c.mask.any() for c in cases) and any(not c.mask.any() for c in cases)
    assert len(list(read_kaggle_nerve(TASK.samples_dir, "test"))) == 2


def test_unknown_layout_is_a_clear_error():
    registered = "hc18, image_folder, kaggle_3m, kaggle_nerve, nerve_images, nifti_pairs"
    with pytest.raises(DatasetError, match=registered):
        read_labelled("imagefolder", ROOT)


def test_make_samples_nerve(tmp_path: Path):
    assert make_samples.main(["--task", "nerve", "--n", "3", "--root", str(tmp_path)]) == 0
    cases = list(read_kaggle_nerve(tmp_path / "nerve"))
    assert len(cases) == 6 and all(c.mask.dtype == bool for c in cases)


def test_tiny_nerve_training_run_with_a_presence_head(tmp_path: Path):
    out = tmp_path / "cnn"
    argv = ["--task", "nerve", "--arch", "cnn", "--phantoms", "60", "--epochs", "1",
            "--batch-size", "4", "--crop", "64", "96", "--input-size", "128", "192",
            "--val-frac", "0.34", "--threads", "1", "--arch-config", "presence_head=true",
            "--out", str(out)]
    assert segmentation.main(argv) == 0
    card = read_card(out)
    assert card.task == "nerve" and card.postprocess["presence_threshold"] == 0.5
    assert card.arch_config["presence_head"] is True
    model, _ = load_model(out)
    assert not model.training and model.presence is not None  # rebuilt from the card alone
    assert np.isfinite(card.metrics["validation"]["dice_mean"])
