"""train.ensemble: trained weights folders in, one mean-ensemble weights folder out."""
from __future__ import annotations

import csv
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core.predict import Segmenter, VolumeSegmenter
from core.weights import read_card, write_card, write_history
from tests.train.test_cv_ensemble import fold_model
from tests.train.test_evaluate_kaggle_3m import PATIENTS, tiny_weights
from train import ensemble

A, B = list(PATIENTS)


def test_the_built_folder_predicts_the_members_mean_probability(tmp_path: Path) -> None:
    members = [fold_model(tmp_path, "m0", 0.4, [A]), fold_model(tmp_path, "m1", -1.0, [A])]
    out = tmp_path / "ens"
    assert ensemble.main(["--members", *map(str, members), "--out", str(out)]) == 0
    seg = Segmenter.from_folder(out)
    result = seg.predict(np.full((40, 40), 90, np.uint8))
    mean = (1 / (1 + math.exp(-0.4)) + 1 / (1 + math.exp(1.0))) / 2
    inside = result.prob[result.prob > 0.01]  # the letterbox's outside is far below
    assert inside.size and np.allclose(inside, mean, atol=0.01)
    assert not result.mask.any()  # 0.43 < 0.5: the first member alone would mark everything
    volume = VolumeSegmenter.from_folder(out).predict(np.full((3, 40, 40), 90, np.uint8))
    assert not volume.mask.any()


def test_the_card_says_what_it_is_made_of(tmp_path: Path) -> None:
    members = [fold_model(tmp_path, "m0", 0.4, [A, B]), fold_model(tmp_path, "m1", -1.0, [B, A])]
    card = ensemble.build(members, tmp_path / "ens", command="python -m train.ensemble ...")
    first = read_card(members[0])
    assert card.arch == "mean_ensemble" and card.arch_config["members"] == 2
    assert card.arch_config["member_arch"] == first.arch
    assert card.in_channels == first.in_channels and card.input == first.input
    assert card.postprocess == first.postprocess and card.labels == first.labels
    assert card.weights["dtype"] == "int8" and card.metrics == {}
    assert card.training["train_groups"] == [A, B]
    shas = [read_card(m).weights["sha256"] for m in members]
    assert [m["sha256"] for m in card.training["members"]] == shas
    assert [m["folder"] for m in card.training["members"]] == [str(m) for m in members]
    assert read_card(tmp_path / "ens") == card


def test_the_history_holds_each_members_curve(tmp_path: Path) -> None:
    members = [fold_model(tmp_path, "m0", 0.4, [A]), fold_model(tmp_path, "m1", -1.0, [A])]
    write_history(members[0], [{"epoch": 1, "val_dice": 0.5}, {"epoch": 2, "val_dice": 0.6}])
    write_history(members[1], [{"epoch": 1, "val_dice": 0.4}])
    ensemble.build(members, tmp_path / "ens")
    rows = list(csv.DictReader((tmp_path / "ens" / "history.csv").open()))
    assert [(r["run"], r["epoch"], r["val_dice"]) for r in rows] == [
        ("member 0: m0", "1", "0.5"), ("member 0: m0", "2", "0.6"), ("member 1: m1", "1", "0.4")]


def test_refuses_members_that_saw_other_patients(tmp_path: Path) -> None:
    members = [fold_model(tmp_path, "m0", 0.4, [A]), fold_model(tmp_path, "m1", -1.0, [B])]
    with pytest.raises(SystemExit, match="other patients"):
        ensemble.build(members, tmp_path / "ens")
    assert not (tmp_path / "ens").exists()


def test_refuses_members_that_read_their_input_differently(tmp_path: Path) -> None:
    members = [fold_model(tmp_path, "m0", 0.4, [A]), fold_model(tmp_path, "m1", -1.0, [A])]
    card = read_card(members[1])
    write_card(members[1], replace(card, input={**card.input, "window": "percentile"}))
    with pytest.raises(SystemExit, match="its input"):
        ensemble.build(members, tmp_path / "ens")


def test_refuses_a_single_member_and_an_ensemble_as_a_member(tmp_path: Path) -> None:
    members = [fold_model(tmp_path, "m0", 0.4, [A]), fold_model(tmp_path, "m1", -1.0, [A])]
    with pytest.raises(SystemExit, match="at least two"):
        ensemble.build(members[:1], tmp_path / "one")
    ensemble.build(members, tmp_path / "ens")
    with pytest.raises(SystemExit, match="already an ensemble"):
        ensemble.build([tmp_path / "ens", members[0]], tmp_path / "nested")


def test_grad_cam_explains_the_ensembles_output(tmp_path: Path) -> None:
    from core.explain import segmentation_cam

    torch.manual_seed(0)
    members = []
    for name in ("r0", "r1"):  # random networks: a constant one has no gradient to show
        folder = tiny_weights(tmp_path / name, 1)
        write_card(folder, replace(read_card(folder), training={"train_groups": [A]}))
        members.append(folder)
    ensemble.build(members, tmp_path / "ens")
    image = np.random.default_rng(0).integers(0, 256, (40, 40), dtype=np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[8:32, 8:32] = True
    heat = segmentation_cam(Segmenter.from_folder(tmp_path / "ens"), image, mask)
    assert heat.shape == (40, 40) and heat.dtype == np.float32
    assert 0.0 <= heat.min() and 0.5 < heat.max() <= 1.0
