"""train.cv_ensemble: each patient scored by the mean probability of the fold models that never saw it."""
from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core.analysis.brain_patients import model_input
from core.datasets import read_kaggle_3m_volumes
from core.models import create_model
from core.predict import VolumeSegmenter
from core.weights import read_card, save_model, write_card
from tests.train.test_evaluate_kaggle_3m import CFG, PATIENTS, tiny_weights, write_lgg
from train import cv_ensemble

A, B = list(PATIENTS)


def fold_model(root: Path, name: str, logit: float, trained_on: list[str], channels: int = 1) -> Path:
    """A tiny network that gives every pixel the tumour logit ``logit``, its card saying it trained on
    ``trained_on``."""
    card = read_card(tiny_weights(root / f"base_{name}", channels))
    model = create_model("cnn", **CFG, in_channels=channels)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(logit)
    folder = root / name
    save_model(model, card, folder)
    write_card(folder, replace(read_card(folder), training={**card.training, "train_groups": trained_on}))
    return folder


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


def test_each_patient_gets_the_mean_probability_of_the_models_that_never_saw_it(tmp_path: Path) -> None:
    lgg = write_lgg(tmp_path / "lgg")
    # B is scored by two models: probabilities 0.60 and 0.27, mean 0.43 < 0.5 -> nothing; the first
    # alone would mark every pixel. A is scored by one: 0.60 -> every pixel.
    saw_a = [fold_model(tmp_path, "saw_a0", 0.4, [A]), fold_model(tmp_path, "saw_a1", -1.0, [A])]
    saw_b = fold_model(tmp_path, "saw_b", 0.4, [B])
    out = tmp_path / "ens"
    assert cv_ensemble.main(["--data", str(lgg), "--out", str(out), "--models",
                             *map(str, [saw_a[0], saw_b, saw_a[1]])]) == 0
    patients = {r["name"]: r for r in _rows(out / "per_volume.csv")}
    assert patients[A]["members"] == str(saw_b)
    assert patients[B]["members"] == f"{saw_a[0]} {saw_a[1]}"
    cases = {c.name: c for c in read_kaggle_3m_volumes(lgg)}
    truth_a, truth_b = (int((cases[p].label > 0).sum()) for p in (A, B))
    voxels_a = cases[A].label.size
    assert (int(patients[A]["tp_px"]), int(patients[A]["fp_px"]), int(patients[A]["fn_px"])) == (
        truth_a, voxels_a - truth_a, 0)
    assert (int(patients[B]["tp_px"]), int(patients[B]["fp_px"]), int(patients[B]["fn_px"])) == (
        0, 0, truth_b)
    first = VolumeSegmenter.from_folder(saw_a[0]).predict(model_input(cases[B], 1))
    assert first.mask.all() and np.allclose(first.prob, 1 / (1 + np.exp(-0.4)), atol=1e-3)
    slices = _rows(out / "per_case.csv")
    assert sorted({r["group"] for r in slices}) == sorted(PATIENTS)
    assert len(slices) == sum(len(v) for v in PATIENTS.values())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_patients"] == 2 and summary["models"] == [str(saw_a[0]), str(saw_b), str(saw_a[1])]
    assert summary["dice_per_patient_mean"] == pytest.approx(
        (float(patients[A]["dice"]) + float(patients[B]["dice"])) / 2)


def test_a_patient_every_model_trained_on_is_left_out_and_none_left_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lgg = write_lgg(tmp_path / "lgg")
    saw_a = fold_model(tmp_path, "saw_a", 0.4, [A])
    out = tmp_path / "ens"
    assert cv_ensemble.main(["--data", str(lgg), "--out", str(out), "--models", str(saw_a)]) == 0
    assert [r["name"] for r in _rows(out / "per_volume.csv")] == [B]
    assert f"{A}: not scored (every model trained on it)" in capsys.readouterr().err
    saw_both = fold_model(tmp_path, "saw_both", 0.4, [A, B])
    with pytest.raises(SystemExit, match="no labelled patient"):
        cv_ensemble.main(["--data", str(lgg), "--out", str(tmp_path / "none"), "--models", str(saw_both)])


def test_models_that_do_not_name_their_patients_or_read_another_input_are_refused(tmp_path: Path) -> None:
    lgg = write_lgg(tmp_path / "lgg")
    anonymous = tiny_weights(tmp_path / "anon", 1)
    with pytest.raises(SystemExit, match="does not name its training patients"):
        cv_ensemble.main(["--data", str(lgg), "--out", str(tmp_path / "o"), "--models", str(anonymous)])
    flair = fold_model(tmp_path, "flair", 0.4, [A])
    three = fold_model(tmp_path, "three", 0.4, [A], channels=3)
    gated = fold_model(tmp_path, "gated", 0.4, [A])
    write_card(gated, replace(read_card(gated), postprocess={**read_card(gated).postprocess,
                                                               "presence_threshold": 0.5}))
    with pytest.raises(SystemExit, match="presence output"):
        cv_ensemble.main(["--data", str(lgg), "--out", str(tmp_path / "o"), "--models", str(gated)])
    with pytest.raises(SystemExit, match="an ensemble needs the same input"):
        cv_ensemble.main(["--data", str(lgg), "--out", str(tmp_path / "o"),
                          "--models", str(flair), str(three)])
