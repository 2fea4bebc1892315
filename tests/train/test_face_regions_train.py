"""train.face_regions (the face parser on FASSEG): persons kept apart, augmented samples keep their
labels on the pixels, a tiny run writes a card with real-data validation, and train.evaluate scores
a FASSEG folder and writes its masks by name, size and palette."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.datasets.fasseg import CLASSES, PALETTE, read_fasseg
from core.face.region_net import FaceParser
from core.weights import load_model
from train.evaluate import main as evaluate_main
from train.face_regions import (
    BatchStream,
    lr_at,
    main,
    parse_args,
    parser_card,
    parser_loss,
    sampling_weights,
    split_persons,
    training_sample,
)
from train.segmentation import face_regions_argv


def test_split_keeps_persons_together_and_holds_out_both_kinds(fasseg_folder: Path) -> None:
    cases = read_fasseg(fasseg_folder)
    train, val = split_persons(cases, 1, 1, seed=0)
    assert {c.group for c in train}.isdisjoint({c.group for c in val})
    held = {c.group for c in val}
    assert sum(g.startswith("pointing04") for g in held) == 1 and len(held) == 2
    assert len(train) + len(val) == len(cases)
    assert [c.name for c in split_persons(cases, 1, 1, seed=0)[1]] == [c.name for c in val]  # seeded
    # Never the last person of a kind: asking for too many leaves one to train on.
    train, val = split_persons(cases, 10, 10, seed=0)
    assert {c.group for c in train} & {"pointing04_01", "pointing04_02"}


def test_sampling_weights_balance_persons_with_many_poses() -> None:
    w = sampling_weights(["a", "p", "p", "p", "p"])
    assert w.sum() == pytest.approx(1) and w[0] == pytest.approx(2 * w[1])



def test_worker_processes_each_draw_their_own_batches(fasseg_folder: Path) -> None:
    pairs = [c.load() for c in read_fasseg(fasseg_folder)]
    stream = BatchStream(pairs, parser_card(64, [4, 8, 16]), 3, sampling_weights(["a"] * len(pairs)), seed=5)
    loader = iter(torch.utils.data.DataLoader(stream, batch_size=None, num_workers=2,
                                                multiprocessing_context="spawn"))
    first, second = next(loader), next(loader)  # the DataLoader takes its workers in turn
    for x, y in (first, second):
        assert x.shape == (3, 3, 64, 64) and x.dtype == torch.float32 and y.shape == (3, 64, 64)
        assert y.dtype == torch.int64 and int(y.max()) < len(CLASSES)
    assert not torch.equal(first[0], second[0])  # worker 0 and worker 1 do not repeat each other
    again = next(iter(torch.utils.data.DataLoader(stream, batch_size=None, num_workers=2,
                                                multiprocessing_context="spawn")))
    assert torch.equal(again[0], first[0])  # seeded: the same (seed, worker) gives the same batch
    assert parse_args(["--data", "d"]).workers == 0  # default: the recorded runs' in-loop stream


def test_training_samples_keep_labels_on_the_pixels(fasseg_folder: Path) -> None:
    image, labels = read_fasseg(fasseg_folder)[0].load()
    rng = np.random.default_rng(0)
    for _ in range(6):
        x, y = training_sample(image, labels, 64, rng)
        assert x.shape == (64, 64, 3) and y.shape == (64, 64) and x.dtype == y.dtype == np.uint8
        assert set(np.unique(y)) <= set(range(len(CLASSES))) and (y == CLASSES.index("skin")).any()
        # The drawn eyes are the darkest thing on the face: the eye label sits on dark pixels.
        eyes, skin = y == CLASSES.index("eyes"), y == CLASSES.index("skin")
        if eyes.sum() > 4:
            assert x[eyes].mean() < x[skin].mean()


def test_loss_and_schedule() -> None:
    target = torch.randint(0, len(CLASSES), (2, 8, 8))
    perfect = torch.nn.functional.one_hot(target, len(CLASSES)).permute(0, 3, 1, 2).float() * 30
    assert parser_loss(perfect, target) < 0.05 < parser_loss(torch.zeros_like(perfect), target)
    assert lr_at(0.0, 1.0) == 0.0 and lr_at(0.02, 1.0) == pytest.approx(1.0)
    assert lr_at(1.0, 1.0) == pytest.approx(0.0) and lr_at(2.0, 1.0) == pytest.approx(0.0)


def test_per_image_dice_weighs_a_small_missed_eye_like_a_large_one() -> None:
    """Photo 0: a large eye found; photo 1: a small eye missed. Pooled over the batch the miss is a
    few pixels among many; averaged per photo it costs photo 1's whole eye Dice."""
    eye, skin = CLASSES.index("eyes"), CLASSES.index("skin")
    target = torch.full((2, 16, 16), skin)
    target[0, 2:12, 2:12] = eye  # 100 px
    target[1, 5:7, 5:7] = eye  # 4 px
    pred = target.clone()
    pred[1, 5:7, 5:7] = skin  # the small eye called skin
    logits = torch.nn.functional.one_hot(pred, len(CLASSES)).permute(0, 3, 1, 2).float() * 30
    pooled, per_image = parser_loss(logits, target), parser_loss(logits, target, per_image=True)
    ce = torch.nn.functional.cross_entropy(logits, target)
    n_classes = len(CLASSES) - 1  # the Dice term averages over the face classes (background excluded)
    # pooled: the eye's Dice is 2*100/(100+104) ~ 0.98 -> a small loss; per photo: photo 1's eye Dice
    # is smooth/(4+1) = 0.2 -> loss 0.8, half of it after averaging over the two photos
    assert float(pooled - ce) < 0.02 / n_classes + 0.01
    assert float(per_image - ce) > 0.35 / n_classes
    perfect = torch.nn.functional.one_hot(target, len(CLASSES)).permute(0, 3, 1, 2).float() * 30
    assert parser_loss(perfect, target, per_image=True) < 0.05


def test_segmentation_cli_hands_face_regions_over() -> None:
    assert face_regions_argv(["--task", "fetal_head", "--arch", "unet", "--phantoms", "4"]) is None
    assert face_regions_argv(["--task=face_regions", "--arch", "unet", "--data", "faces/", "--epochs", "2"]) \
        == ["--data", "faces/", "--epochs", "2"]
    with pytest.raises(SystemExit, match="plain U-Net"):
        face_regions_argv(["--task", "face_regions", "--arch", "segnet", "--data", "faces/"])


def test_tiny_run_writes_a_card_and_evaluate_scores_and_saves_masks(fasseg_folder: Path,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "unet"
    argv = ["--data", str(fasseg_folder), "--out", str(out), "--val-frontal", "1", "--val-pose-persons", "1",
            "--epochs", "2", "--eval-every", "1", "--batch-size", "2", "--input-size", "64",
            "--widths", "4", "8", "16", "--threads", "1"]
    assert main(argv) == 0
    model, card = load_model(out)
    assert card.task == "face_regions" and card.labels == list(CLASSES) and not card.synthetic
    assert card.input["resize"] == "face_box" and card.input["size"] == [64, 64]
    assert "FASSEG" in card.training["data"] and card.training["n_train_persons"] == 3
    assert len(card.training["held_out"]) == 2
    assert card.training["command"].startswith("python -m train.face_regions")
    val = card.metrics["validation_real"]
    assert val["n_images"] == 3 and val["n_persons"] == 2 and set(val["iou"]) == set(CLASSES)
    lo, hi = val["mean_iou_face_ci95"]
    assert 0 <= lo <= val["mean_iou_face"] <= hi <= 1
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert len(rows) == 2 and "val_mean_iou_face" in rows[0]
    assert json.loads((out / "model.json").read_text())["weights"]["dtype"] == "float16"
    FaceParser(model, card)  # loads as a predictor
    assert card.training["init"].startswith("random")
    again = tmp_path / "again"  # a continued run starts from the first one's weights
    assert main([*argv, "--out", str(again), "--epochs", "1", "--input-size", "96", "--init", str(out),
                 "--device", "cpu", "--amp", "--workers", "2"]) == 0  # bf16 autocast, as on a GPU, here on
    # the CPU, the batches made by two worker processes
    again_card = load_model(again)[1]  # the last option wins: one epoch at 96 px from the 64 px run
    assert again_card.training["config"]["amp"] is True and again_card.training["config"]["device"] == "cpu"
    assert again_card.training["config"]["workers"] == 2
    init = again_card.training["init"]
    assert init.startswith(f"the weights in {out}") and "at 64 px" in init
    assert again_card.input["size"] == [96, 96]
    with pytest.raises(SystemExit, match="is not this run's"):
        main([*argv, "--out", str(tmp_path / "no"), "--widths", "4", "8", "--init", str(out)])

    ev = tmp_path / "eval"
    assert evaluate_main(["--task", "face_regions", "--weights", str(out), "--data", str(fasseg_folder),
                          "--out", str(ev), "--save-masks"]) == 0
    per_case = list(csv.DictReader((ev / "per_case.csv").open()))
    assert len(per_case) == 7 and {f"iou_{c}" for c in CLASSES} <= set(per_case[0])
    assert {"name", "group", "mean_iou_face", "pixel_accuracy"} <= set(per_case[0])
    summary = json.loads((ev / "summary.json").read_text())
    assert summary["layout"] == "fasseg" and summary["n_images"] == 7 and summary["n_persons"] == 5
    for case in read_fasseg(fasseg_folder):
        mask = np.asarray(Image.open(ev / "masks" / f"{case.name}.png").convert("RGB"))
        assert mask.shape[:2] == case.load()[1].shape  # the photo's own size
        colours = {tuple(c) for c in mask.reshape(-1, 3)}
        assert colours <= set(PALETTE.values())  # the dataset's own palette, no blends
