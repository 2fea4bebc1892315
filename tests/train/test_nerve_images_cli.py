"""train.segmentation and train.evaluate read a nerve folder in the images/ + masks/ layout (no training)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.models import create_model
from core.tasks import get_task
from core.weights import ModelCard, save_model
from train import evaluate, segmentation
from train.data import is_validation

NERVE = get_task("nerve")
TINY = {"presence_head": True, "widths": [4, 8, 8, 8, 8], "convs": [1, 1, 1, 1, 1]}
FRAMES = [(s, n) for s in (1, 2, 3, 10) for n in (1, 2, 11)]


def _tree(root: Path, shape: tuple[int, int] = (40, 56)) -> Path:
    """``root/positives/{images,masks}``: 4 subjects of 3 frames, 40x56 px, each mask a JPEG."""
    for folder in ("images", "masks"):
        (root / "positives" / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for s, n in FRAMES:
        mask = np.zeros(shape, np.uint8)
        mask[10 + n : 24 + n, 20:40] = 255
        assert cv2.imwrite(str(root / "positives" / "images" / f"{s}_{n}.jpg"),
                           rng.integers(0, 255, shape, dtype=np.uint8))
        assert cv2.imwrite(str(root / "positives" / "masks" / f"{s}_{n}_mask.jpg"), mask)
    return root


@pytest.fixture(scope="module")
def nerve_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    card = ModelCard(task="nerve", arch="cnn", arch_config=TINY, labels=list(NERVE.labels),
                     input={**NERVE.input, "size": [64, 96]}, postprocess=dict(NERVE.postprocess))
    out = tmp_path_factory.mktemp("w") / "cnn"
    save_model(create_model("cnn", **TINY), card, out)
    return out


def test_training_splits_the_frames_by_subject(tmp_path: Path) -> None:
    data = _tree(tmp_path / "nerve")
    args = segmentation.parse_args(["--task", "nerve", "--arch", "cnn", "--data", str(data),
                                    "--val-frac", "0.5", "--out", str(tmp_path / "out")])
    train, val = segmentation.load_splits(args, NERVE, (64, 96))
    held = {str(s) for s, _ in FRAMES if is_validation(str(s), 0, 0.5)}
    assert 0 < len(held) < 4  # the fixture's subjects fall on both sides with seed 0
    assert {c.group for c in val.cases} == held and len(val.cases) == 3 * len(held)
    assert train.images.shape == (3 * (4 - len(held)), 1, 64, 96)
    card = segmentation.make_card(args, NERVE, (64, 96))
    assert card.training["data"] == "Nerve images/masks (nerve_images layout) dataset folder nerve"


def test_evaluate_scores_every_frame(nerve_weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    argv = ["--task", "nerve", "--weights", str(nerve_weights), "--data", str(_tree(tmp_path / "nerve")),
            "--out", str(out)]
    assert evaluate.main(argv) == 0
    assert {p.name for p in out.iterdir()} == {"per_case.csv", "summary.json"}  # no Kaggle test/ here
    rows = list(csv.DictReader((out / "per_case.csv").open()))
    assert [r["name"] for r in rows] == [f"{s}_{n}.jpg" for s, n in FRAMES]
    assert json.loads((out / "summary.json").read_text())["n"] == len(FRAMES)


def test_transplant_empty_adds_an_empty_frame_and_a_control_per_frame_on_both_sides(tmp_path: Path) -> None:
    data = _tree(tmp_path / "nerve", (80, 112))  # room beside each nerve for the donor tissue
    argv = ["--task", "nerve", "--arch", "cnn", "--data", str(data), "--val-frac", "0.5",
            "--out", str(tmp_path / "out")]
    plain_train, plain_val = segmentation.load_splits(segmentation.parse_args(argv), NERVE, (64, 96))
    args = segmentation.parse_args([*argv, "--transplant-empty"])
    assert args.transplant_empty
    train, val = segmentation.load_splits(args, NERVE, (64, 96))
    assert len(train.images) == 3 * len(plain_train.images) and len(val.cases) == 3 * len(plain_val.cases)
    names = [c.name for c in val.cases]
    empties = sum(n.endswith("~empty") for n in names)
    assert empties == sum(n.endswith("~control") for n in names) == len(plain_val.cases)
    for case in val.cases:
        assert case.mask.any() != case.name.endswith("~empty")
        assert case.meta.get("transplant", "") in ("", "empty", "control")
    # An empty frame's target is all background; the others keep their nerve.
    present = train.masks.flatten(1).amax(1) >= 128
    assert int((~present).sum()) == len(plain_train.images)


def test_crop_empty_adds_a_zoomed_empty_window_and_a_control_and_combines_with_transplants(
        tmp_path: Path) -> None:
    data = _tree(tmp_path / "nerve", (80, 112))
    argv = ["--task", "nerve", "--arch", "cnn", "--data", str(data), "--val-frac", "0.5",
            "--out", str(tmp_path / "out")]
    plain_train, plain_val = segmentation.load_splits(segmentation.parse_args(argv), NERVE, (64, 96))
    args = segmentation.parse_args([*argv, "--crop-empty"])
    assert args.crop_empty and not args.transplant_empty
    train, val = segmentation.load_splits(args, NERVE, (64, 96))
    assert len(train.images) == 3 * len(plain_train.images)
    names = [c.name for c in val.cases]
    assert sum(n.endswith("~crop-empty") for n in names) == sum(n.endswith("~crop-control") for n in names)
    assert not any(n.endswith(("~empty", "~control")) for n in names)
    for case in val.cases:
        assert case.mask.any() != case.name.endswith("~crop-empty")
    both = segmentation.parse_args([*argv, "--crop-empty", "--transplant-empty"])
    train, val = segmentation.load_splits(both, NERVE, (64, 96))
    assert len(train.images) == 5 * len(plain_train.images) and len(val.cases) == 5 * len(plain_val.cases)
    present = train.masks.flatten(1).amax(1) >= 128
    assert int((~present).sum()) == 2 * len(plain_train.images)
    # The card says which proxies trained the model, and that they are proxies.
    said = segmentation.make_card(both, NERVE, (64, 96)).training["empty_frames"]
    assert "--transplant-empty" in said and "--crop-empty" in said and "NOT real empty frames" in said
    plain_card = segmentation.make_card(segmentation.parse_args(argv), NERVE, (64, 96))
    assert "empty_frames" not in plain_card.training
