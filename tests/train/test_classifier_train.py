"""train.classifier: smoke runs on tiny phantoms and a photo folder, splits, weights, augmentation."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.face.screening import SCREEN_REGIONS, Screener
from core.tasks import get_task
from core.weights import HISTORY_FILE
from train.classifier import (
    augment,
    class_weights,
    csv_items,
    folder_items,
    main,
    stratified_folds,
    stratified_split,
    validation_plan,
)
from train.phantoms.face import phantom_set

SCREENING = get_task("face_screening")

TINY = ["--epochs", "1", "--widths", "4", "8", "--region-widths", "4", "8", "--face-size", "64",
        "--crop-size", "32", "--batch-size", "8", "--threads", "1"]


def test_phantom_smoke_run_writes_a_loadable_card(tmp_path: Path) -> None:
    out = tmp_path / "skin"
    assert main(["--phantoms", "16", "--screen-task", "skin", "--test-phantoms", "8", "--gallery-out",
                 "--out", str(out), *TINY]) == 0
    screener = Screener.from_folder(out)  # sha256 checked
    card = screener.card
    assert card.task == "face_screening" and card.arch == "screening_net"
    assert card.labels == list(SCREENING.rows["skin"].labels)
    assert card.synthetic and card.training["screen_task"] == "skin"
    assert card.training["caveat"] == SCREENING.rows["skin"].phantom_note
    assert card.weights["dtype"] == "float16"
    assert card.postprocess["ensemble"] == "mean_softmax"
    val = card.metrics["validation"]
    assert val["n_cases"] == 16 and len(val["folds"]) == 4  # smallest class 4 < 5 folds
    assert {"accuracy", "balanced_accuracy", "top_k", "confusion_matrix", "ece"} <= set(val)
    assert set(val["fold_mean"]) == {"accuracy", "balanced_accuracy", "top_1", "top_3"}
    test = card.metrics["phantom_test"]
    assert test["n_cases"] == 8 and test["caveat"] == SCREENING.rows["skin"].phantom_note
    assert test["top_k"]["n_classes"] == 4
    pg = test["pointing_game"]
    assert pg["whole_face"]["n"] + pg["whole_face"]["skipped"] == 8
    assert pg["whole_face"]["skipped"] == 2  # the healthy faces carry no evidence
    assert set(pg["regions"]) == set(SCREEN_REGIONS)
    assert set(pg["pixels"]) == {"whole_face", "regions"} and "TRUE class" in pg["rule"]
    assert "TRAINING identity" in test["identity"]
    held = card.metrics["phantom_test_held_out_identity"]
    assert "NEVER used for training" in held["identity"] and held["n_cases"] == 8
    assert test["gallery"]["gallery_size"] == 16 and card.metrics["gallery"]["size"] == 16
    assert (out / "gallery.npz").stat().st_size < 1_000_000
    with (out / HISTORY_FILE).open() as fh:
        runs = {row["run"] for row in csv.DictReader(fh)}
    assert runs == {"fold1", "fold2", "fold3", "fold4", "final"}
    json.loads((out / "model.json").read_text())  # plain JSON


def test_image_folder_run_skips_a_photo_without_a_face(tmp_path: Path) -> None:
    data = tmp_path / "photos"
    faces = phantom_set("autism", 6, seed=5)
    for i, face in enumerate(faces):
        (data / face.label).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(data / face.label / f"{i}.png"), cv2.cvtColor(face.rgb, cv2.COLOR_RGB2BGR))
    blank = np.full((200, 200, 3), 128, np.uint8)
    cv2.imwrite(str(data / faces[0].label / "no_face.png"), blank)
    out = tmp_path / "out"
    assert main(["--data", str(data), "--screen-task", "autism", "--folds", "2", "--out", str(out),
                 *TINY]) == 0
    card = Screener.from_folder(out).card
    assert card.training["skipped_photos"] == 1 and not card.synthetic
    assert card.training["class_counts"] == {"asd_label": 3, "td_label": 3}
    assert "cannot diagnose autism" in card.training["caveat"]
    assert card.metrics["validation"]["n_cases"] == 6 and len(card.metrics["validation"]["folds"]) == 2
    assert "phantom_test" not in card.metrics


def test_folder_and_csv_items(tmp_path: Path) -> None:
    for cls, names in {"b": ["2.png", "1.jpg"], "a": ["x.PNG"]}.items():
        (tmp_path / cls).mkdir()
        for n in names:
            (tmp_path / cls / n).write_bytes(b"")
    (tmp_path / "a" / "notes.txt").write_text("not a photo")
    items = folder_items(tmp_path)
    assert [(p.name, c) for p, c in items] == [("x.PNG", "a"), ("1.jpg", "b"), ("2.png", "b")]
    sheet = tmp_path / "labels.csv"
    sheet.write_text("path,label\nb/1.jpg,b\n a/x.PNG , a \n")
    assert csv_items(sheet) == [(tmp_path / "b/1.jpg", "b"), (tmp_path / "a/x.PNG", "a")]
    sheet.write_text("b/1.jpg\n")
    with pytest.raises(SystemExit, match="path,label"):
        csv_items(sheet)


def test_stratified_folds_keep_class_proportions() -> None:
    y = np.repeat([0, 1, 2], [10, 20, 5])
    folds = stratified_folds(y, 5, seed=1)
    for f in range(5):
        assert np.bincount(y[folds == f], minlength=3).tolist() == [2, 4, 1]
    uneven = np.repeat([0, 1], [7, 3])
    folds = stratified_folds(uneven, 3, seed=0)
    sizes = np.bincount(folds, minlength=3)
    assert sizes.max() - sizes.min() <= 1  # fold sizes balance too
    for c, n in ((0, 7), (1, 3)):
        per = np.bincount(folds[uneven == c], minlength=3)
        assert per.max() - per.min() <= 1 and per.sum() == n
    np.testing.assert_array_equal(stratified_folds(y, 5, seed=1), stratified_folds(y, 5, seed=1))


def test_stratified_split_and_the_validation_plan() -> None:
    y = np.repeat([0, 1, 2], [50, 100, 1])
    val = stratified_split(y, 0.2, seed=0)
    assert np.bincount(y[val], minlength=3).tolist() == [10, 20, 0]  # a single case stays in training
    big = np.repeat([0, 1], [30, 40])
    assert len(validation_plan(big, None, 0)) == 1  # enough photos: one 80/20 split
    small = np.repeat([0, 1], [29, 40])
    plan = validation_plan(small, None, 0)
    assert len(plan) == 5 and np.sum(plan, axis=0).tolist() == [1] * len(small)  # each case once
    assert len(validation_plan(np.repeat([0, 1], [3, 9]), 5, 0)) == 3  # no more folds than the smallest class
    assert validation_plan(small, 0, 0) == []


def test_class_weights_are_inverse_frequency() -> None:
    w = class_weights(np.array([0, 0, 0, 1]), 3)
    torch.testing.assert_close(w, torch.tensor([4 / 9, 4 / 3, 0.0]))


def test_augment_keeps_shapes_and_range() -> None:
    g = torch.Generator().manual_seed(0)
    faces = torch.randint(0, 256, (4, 32, 32, 3), dtype=torch.uint8)
    crops = {"nose": torch.randint(0, 256, (4, 1, 16, 16, 3), dtype=torch.uint8),
             "cheeks": torch.randint(0, 256, (4, 2, 16, 16, 3), dtype=torch.uint8)}
    face, out = augment(faces, crops, {r: SCREEN_REGIONS[r] for r in crops}, g)
    assert face.shape == (4, 3, 32, 32) and out["nose"].shape == (4, 1, 3, 16, 16)
    assert out["cheeks"].shape == (4, 2, 3, 16, 16)
    assert all(0 <= t.min() and t.max() <= 1 for t in (face, *out.values()))


def test_evidence_regions_are_the_facial_regions_holding_the_change() -> None:
    from core.face.regions import LABEL_NAMES, region_label_mask
    from train.screening_eval import evidence_regions

    faces = {f.label: f for f in phantom_set("autism", 2, seed=3)}
    marked, plain = faces["asd_label"], faces["td_label"]
    assert not evidence_regions(plain).any()
    regions = evidence_regions(marked)
    labels = region_label_mask(marked.landmarks)
    assert set(np.unique(labels[regions])) == {LABEL_NAMES.index("forehead")}  # the stamp's region, whole
    assert (marked.evidence & regions).sum() >= 0.9 * marked.evidence.sum()
    assert regions.sum() > marked.evidence.sum()


def test_pool_options_reach_the_card_and_the_loaded_model(tmp_path: Path) -> None:
    out = tmp_path / "skin_lse"
    assert main(["--phantoms", "8", "--screen-task", "skin", "--test-phantoms", "0", "--folds", "0",
                 "--pool", "lse", "--lse-r", "4", "--regions", "nose", "--out", str(out), *TINY]) == 0
    screener = Screener.from_folder(out)
    assert {k: screener.card.arch_config[k] for k in ("pool", "region_pool", "lse_r")} == \
        {"pool": "lse", "region_pool": "avg", "lse_r": 4.0}
    assert screener.model.whole_face.pool == "lse" and screener.model.whole_face.lse_r == 4.0
    assert "--pool lse" in screener.card.training["command"]
    plain = tmp_path / "skin_avg"
    assert main(["--phantoms", "8", "--screen-task", "skin", "--test-phantoms", "0", "--folds", "0",
                 "--regions", "nose", "--out", str(plain), *TINY]) == 0
    assert "pool" not in Screener.from_folder(plain).card.arch_config  # as the cards before pools
