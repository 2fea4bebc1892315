"""train.parser_backgrounds: the held-out photos re-scored on real scenes, and its card record; the
trainer's --background-mix recorded in the card."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.datasets.fasseg import CLASSES, read_fasseg
from core.weights import read_card
from train import face_regions, parser_backgrounds
from train.parser_backgrounds import OnScene, on_scenes


def test_a_case_on_a_scene_shows_the_scene_behind_the_head_only(fasseg_folder: Path) -> None:
    case = read_fasseg(fasseg_folder)[0]
    image, labels = case.load()
    scene = np.zeros((7, 9, 3), np.uint8)
    scene[..., 2] = 250  # blue
    moved, same = on_scenes([case], [scene])[0].load()
    assert isinstance(on_scenes([case], [scene])[0], OnScene) and np.array_equal(same, labels)
    inner = (labels != 0) & np.pad(np.ones((labels.shape[0] - 6, labels.shape[1] - 6), bool), 3)
    far_bg = cv2.erode((labels == 0).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    far_head = cv2.erode((labels != 0).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool) & inner
    assert far_bg.any() and far_head.any()
    assert (moved[far_bg] == [0, 0, 250]).all()
    assert np.array_equal(moved[far_head], image[far_head])


def test_the_check_runs_on_the_cards_held_out_persons_and_records(fasseg_folder: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "parser"
    assert face_regions.main(["--data", str(fasseg_folder), "--out", str(out), "--val-frontal", "1",
                              "--val-pose-persons", "1", "--epochs", "1", "--batch-size", "2",
                              "--input-size", "64", "--widths", "4", "8", "16", "--threads", "1",
                              "--background-mix", "0.5"]) == 0
    augmentation = read_card(out).training["augmentation"]
    assert "on 50% of the samples the background replaced by procedural clutter" in augmentation
    rng = np.random.default_rng(0)
    monkeypatch.setattr(parser_backgrounds, "scenes", lambda: [rng.integers(0, 256, (20, 30, 3), np.uint8)
                                                              for _ in range(3)])
    assert parser_backgrounds.main(["--weights", str(out), "--data", str(fasseg_folder), "--record"]) == 0
    assert "on_scenes" in capsys.readouterr().out
    rec = read_card(out).metrics[parser_backgrounds.RECORD]
    assert rec["n_images"] == 3 and rec["n_persons"] == 2  # the card's held-out persons: 1 + 1 (2 poses)
    assert set(rec["iou"]) == set(CLASSES) and "mean_iou_face" in rec["plain_same_photos"]
    assert "never used in training" in rec["data"] and rec["command"].endswith("--record")
    assert read_card(out).metrics["validation_real"]  # the plain validation stays
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in out.iterdir():
        (bare / f.name).write_bytes(f.read_bytes())
    (bare / "model.json").write_text((out / "model.json").read_text().replace('"held_out"', '"was_held_out"'))
    with pytest.raises(SystemExit, match="no held-out persons"):
        parser_backgrounds.held_out_cases(bare, fasseg_folder)
