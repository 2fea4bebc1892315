"""train.cam_select: the stage choice, the seeds it reads from the card, and a run on a tiny model
folder that rewrites model.json only."""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from core.face.screening import Screener
from core.tasks import get_task
from core.weights import WEIGHTS_FILE, read_card, save_model
from train.cam_select import VAL_SEED, main, select_stages, training_args
from train.classifier import new_model, parse_args, screening_card
from train.phantoms.face import phantom_set
from train.screening_eval import pointing_game_section, predict_phantoms

SCREENING = get_task("face_screening")

COMMAND = ["--phantoms", "8", "--screen-task", "autism", "--test-phantoms", "4", "--widths", "4", "8",
           "--region-widths", "4", "8", "--face-size", "48", "--crop-size", "32"]
PLACEHOLDER = {"whole_face": {"hits": 1, "n": 2, "score": 0.5, "skipped": 2, "flat": 0}}


def test_select_stages_takes_the_best_and_the_later_stage_on_ties() -> None:
    scores = {"whole_face": {-1: 0.43, -2: 0.68, -3: 0.61},
              "nose": {-1: 0.9, -2: 0.9, -3: 0.5},
              "mouth": {-1: None, -2: 0.2},
              "cheeks": {-1: None, -2: None}}
    assert select_stages(scores) == {"whole_face": -2, "nose": -1, "mouth": -2, "cheeks": -1}


def test_training_args_read_the_card_command() -> None:
    args = parse_args(COMMAND)
    command = "python -m train.classifier " + " ".join([*COMMAND, "--test-seed", "11"])
    card = screening_card(args, ["asd_label", "td_label"], {"command": command})
    read = training_args(card)
    assert (read.phantom_seed, read.test_seed, read.test_phantoms) == (0, 11, 4)
    with pytest.raises(SystemExit, match="no train.classifier command"):
        training_args(replace(card, training={}))


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    torch.set_num_threads(1)
    args = parse_args(COMMAND)
    labels = list(SCREENING.rows["autism"].labels)
    card = screening_card(args, labels, {"synthetic": True, "screen_task": "autism",
                                         "command": "python -m train.classifier " + " ".join(COMMAND)})
    metrics = {name: {"n": 4, "accuracy": 0.25, "pointing_game": PLACEHOLDER}
               for name in ("phantom_test", "phantom_test_held_out_identity")}
    save_model(new_model(args, len(labels), seed=0), replace(card, metrics=metrics), tmp_path / "m")
    return tmp_path / "m"


def test_a_run_records_the_stages_and_leaves_the_weights_alone(folder: Path) -> None:
    before = hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()
    with pytest.raises(SystemExit, match="test seed"):
        main(["--weights", str(folder), "--val-seed", "2026"])
    assert main(["--weights", str(folder), "--n", "4", "--stages", "-1", "-2", "-3"]) == 0
    assert hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest() == before
    card = Screener.from_folder(folder).card  # the sha256 still matches the card
    assert card.weights["sha256"] == before
    members = ["whole_face", *card.arch_config["regions"]]
    explain = card.explain
    assert list(explain["cam_stage"]) == members and set(explain["cam_stage"].values()) <= {-1, -2}
    assert explain["cam_grid"]["whole_face"] in ([12, 12], [24, 24])
    sel = explain["selection"]
    assert sel["seed"] == VAL_SEED and sel["n"] == 4 and sel["identity"] == "train"
    assert sel["seeds_avoided"] == {"training": 0, "test": 2026}
    assert set(sel["scores"]["whole_face"]) == {"-1", "-2"}  # a 2-stage member has no -3
    for name in ("phantom_test", "phantom_test_held_out_identity"):
        report = card.metrics[name]
        assert report["accuracy"] == 0.25 and report["pointing_game_last_stage"] == PLACEHOLDER
        keys = list(report)
        assert keys.index("pointing_game_last_stage") == keys.index("pointing_game") + 1
        game = report["pointing_game"]
        assert game["cam_stage"] == explain["cam_stage"] and game["n_faces"] == 4
        assert game["whole_face"]["n"] + game["whole_face"]["skipped"] == 4
    main(["--weights", str(folder), "--n", "4", "--stages", "-1", "-2", "--no-test"])
    again = read_card(folder)  # a re-run keeps the figures of the deepest stage
    assert again.metrics["phantom_test"]["pointing_game_last_stage"] == PLACEHOLDER


def test_the_default_stages_score_as_the_deepest_stage(folder: Path) -> None:
    screener = Screener.from_folder(folder)
    faces = phantom_set("autism", 4, seed=3)
    results = predict_phantoms(screener, faces)
    default = pointing_game_section(screener, faces, results)
    deepest = pointing_game_section(screener, faces, results, {m: -1 for m in screener.members})
    assert deepest.pop("cam_stage") == {m: -1 for m in screener.members} and deepest == default
