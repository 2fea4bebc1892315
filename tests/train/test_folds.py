"""k-fold cross-validation by group: balanced folds (train.data.fold_of), the trainer's --folds /
--keep last, and train.holdout copying one fold's patients."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from core.weights import read_card
from tests.train.test_evaluate_kaggle_3m import PATIENTS, write_lgg
from tests.train.test_train_kaggle_3m import tiny
from train import holdout, segmentation
from train.data import fold_of, split_key, subset_groups


def test_folds_are_balanced_disjoint_and_ordered_by_the_seeded_hash() -> None:
    groups = [f"TCGA_XX_{i:04d}" for i in range(16)]
    folds = fold_of(reversed(groups), seed=0, folds=4)  # arrival order does not matter
    assert folds == fold_of(groups, seed=0, folds=4) and set(folds) == set(groups)
    assert sorted(Counter(folds.values()).values()) == [4, 4, 4, 4]
    ranked = sorted(groups, key=lambda g: split_key(g, 0))
    assert [folds[g] for g in ranked] == [i % 4 for i in range(16)]
    assert fold_of(groups, seed=1, folds=4) != folds  # another seed deals another split
    assert sorted(Counter(fold_of(groups[:10], 0, 4).values()).values()) == [2, 2, 3, 3]
    with pytest.raises(ValueError, match="at least 2 folds"):
        fold_of(groups[:3], 0, 4)
    with pytest.raises(ValueError):
        fold_of(groups, 0, 1)


def test_the_trainer_holds_out_one_fold_and_keeps_the_last_epoch(tmp_path: Path) -> None:
    data = write_lgg(tmp_path / "lgg")
    out = tmp_path / "fold1"
    args = [a for a in tiny(data, out, 3) if a not in ("--val-frac", "0.5")]
    assert segmentation.main([*args, "--folds", "2", "--fold", "1", "--keep", "last", "--epochs", "2"]) == 0
    card = read_card(out)
    held = [g for g, k in fold_of(PATIENTS, 0, 2).items() if k == 1]
    assert "fold 1 of a 2-fold cross-validation" in card.training["split"]
    assert "the last epoch kept" in card.training["split"]
    assert card.training["best_epoch"] == 2
    assert "1 held-out patients" in card.training["data"] and len(held) == 1
    assert card.training["train_groups"] == sorted(set(PATIENTS) - set(held))  # pages tell them apart
    with pytest.raises(SystemExit):
        segmentation.main([*args, "--folds", "2", "--fold", "2"])


def test_holdout_copies_one_folds_patients(tmp_path: Path) -> None:
    data = write_lgg(tmp_path / "lgg")
    seen = []
    for k in range(2):
        out = tmp_path / f"cv{k}"
        kept = holdout.write_holdout(data, out, fold=(k, 2))
        seen += kept
        meta = json.loads((out / holdout.HOLDOUT_FILE).read_text())
        assert meta["fold"] == k and meta["folds"] == 2 and meta["patients"] == kept
        assert f"fold {k} of a 2-fold cross-validation by patient" in holdout.describe(out)
        assert sorted(p.name for p in (out / "kaggle_3m").iterdir()) == sorted(kept)
    assert sorted(seen) == sorted(PATIENTS)  # every patient validated exactly once
    with pytest.raises(SystemExit, match="LGG kaggle_3m patients only"):
        holdout.write_holdout(Path(__file__).resolve().parents[2] / "data_samples" / "fetal_head",
                              tmp_path / "x", fold=(0, 2))


def test_the_folds_evaluations_pool_into_one_cross_validation_record(tmp_path: Path) -> None:
    from train import cv_summary, evaluate

    data = write_lgg(tmp_path / "lgg")
    model = tmp_path / "model"
    assert segmentation.main([*tiny(data, model, 3)]) == 0
    evals = []
    for k in range(2):
        holdout.write_holdout(data, tmp_path / f"cv{k}", fold=(k, 2))
        evals.append(tmp_path / f"eval{k}")
        assert evaluate.main(["--task", "brain_tumor", "--weights", str(model),
                              "--data", str(tmp_path / f"cv{k}"), "--out", str(evals[-1])]) == 0
    out = tmp_path / "pooled"
    assert cv_summary.main(["--eval", *map(str, evals), "--out", str(out), "--weights", str(model),
                            "--record", "validation_lgg", "--recipe", "the tiny test recipe"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_patients"] == len(PATIENTS) and [f["fold"] for f in summary["folds"]] == [0, 1]
    record = read_card(model).metrics["validation_lgg"]
    assert record["n_patients"] == len(PATIENTS) and record["method"] == "2-fold cross-validation"
    assert "every one of the 2 patients scored by the fold model that never trained on it" in record["data"]
    assert record["dice_per_patient_mean"] == pytest.approx(summary["dice_per_patient_mean"])
    assert record["recipe"] == "the tiny test recipe"
    assert "train.segmentation" in record["folds"][0]["command"]
    with pytest.raises(SystemExit):  # a record needs its recipe in words
        cv_summary.main(["--eval", *map(str, evals), "--out", str(out), "--weights", str(model),
                         "--record", "validation_lgg"])
    with pytest.raises(SystemExit, match="must not share patients"):
        cv_summary.main(["--eval", str(evals[0]), str(evals[0]), "--out", str(tmp_path / "x")])


def test_subset_groups_draws_n_groups_whatever_their_order() -> None:
    groups = [f"TCGA_XX_{i:04d}" for i in range(12)]
    picked = subset_groups(groups, seed=0, n=6)
    assert len(picked) == 6 and picked <= set(groups)
    assert subset_groups(reversed(groups), seed=0, n=6) == picked
    assert subset_groups(groups, seed=0, n=3) < picked  # a smaller draw nests inside a larger one
    assert subset_groups(groups, seed=1, n=6) != picked
    assert subset_groups(groups, seed=0, n=40) == set(groups)
    first = set(sorted(groups, key=lambda g: split_key(g, 0))[:6])
    assert picked != first  # salted apart from the fold ranking


def test_the_trainer_trains_on_a_subset_of_its_training_patients(tmp_path: Path) -> None:
    import shutil

    data = write_lgg(tmp_path / "lgg")
    for patient in PATIENTS:  # four patients: each one copied under a second id
        twin = patient.replace("TCGA_", "TCGA_Z")
        shutil.copytree(data / "kaggle_3m" / patient, data / "kaggle_3m" / twin)
        for f in (data / "kaggle_3m" / twin).iterdir():
            f.rename(f.with_name(f.name.replace(patient, twin)))
    patients = sorted(p.name for p in (data / "kaggle_3m").iterdir())
    held = sorted(g for g, k in fold_of(patients, 0, 2).items() if k == 0)
    base = [a for a in tiny(data, tmp_path / "m", 3) if a not in ("--val-frac", "0.5")]
    args = [*base, "--folds", "2", "--fold", "0", "--keep", "last"]
    assert segmentation.main([*args, "--max-train-groups", "1"]) == 0
    card = read_card(tmp_path / "m")
    trained = card.training["train_groups"]
    assert trained == sorted(subset_groups(set(patients) - set(held), 0, 1)) and len(trained) == 1
    assert not set(trained) & set(held)
    assert "2 held-out patients" in card.training["data"]  # the held-out side is unchanged
    assert "only 1 of the training patients trained on" in card.training["split"]
    assert segmentation.main(args) == 0  # without the option: both training patients
    assert read_card(tmp_path / "m").training["train_groups"] == sorted(set(patients) - set(held))
    with pytest.raises(SystemExit):
        segmentation.main([*args, "--max-train-groups", "-1"])
    with pytest.raises(SystemExit):
        segmentation.parse_args(["--task", "nerve", "--arch", "unet", "--phantoms", "8",
                                 "--max-train-groups", "2"])


def test_a_run_on_every_patient_says_that_nothing_is_held_out(tmp_path: Path) -> None:
    data = write_lgg(tmp_path / "lgg")
    args = [a for a in tiny(data, tmp_path / "m", 3) if a not in ("--val-frac", "0.5")]
    assert segmentation.main([*args, "--val-frac", "0", "--keep", "last"]) == 0
    card = read_card(tmp_path / "m")
    assert card.training["train_groups"] == sorted(PATIENTS)
    assert "no held-out patients" in card.training["data"] and "not a validation" in card.training["data"]
    assert "held-out patients" not in card.training["data"].replace("no held-out patients", "")
