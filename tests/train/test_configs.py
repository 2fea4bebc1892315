"""Run configurations: argparse fills them with the dataclass's own defaults, and cards record them."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from train import abstain_select, cam_select, classifier, evaluate, face_regions, segmentation
from train.abstain_select import AbstainSelectConfig
from train.cam_select import CamSelectConfig
from train.classifier import ClassifierConfig
from train.config import RunConfig
from train.evaluate import EvaluateConfig
from train.face_regions import FaceRegionsConfig
from train.segmentation import SegmentationConfig


def test_classifier_options_default_to_the_dataclass() -> None:
    argv = ["--phantoms", "4", "--screen-task", "skin"]
    assert classifier.parse_args(argv) == ClassifierConfig(screen_task="skin", phantoms=4, argv=tuple(argv))


def test_segmentation_options_default_to_the_dataclass() -> None:
    argv = ["--task", "nerve", "--arch", "unet", "--phantoms", "8"]
    assert segmentation.parse_args(argv) == SegmentationConfig(task="nerve", arch="unet", phantoms=8,
                                                               argv=tuple(argv))
    cfg = segmentation.parse_args([*argv, "--crop", "96", "128", "--input-size", "128", "160", "--no-amp"])
    assert cfg.crop == (96, 128) and cfg.input_size == (128, 160) and cfg.amp is False


def test_the_other_clis_default_to_their_dataclasses() -> None:
    argv = ["--task", "fetal_head", "--weights", "w", "--phantoms", "3", "--out", "o"]
    assert evaluate.parse_args(argv) == EvaluateConfig(task="fetal_head", weights=Path("w"), phantoms=3,
                                                       out=Path("o"), argv=tuple(argv))
    assert face_regions.parse_args(["--data", "d"]) == FaceRegionsConfig(data=Path("d"), argv=("--data", "d"))
    cfg = CamSelectConfig(weights=Path("w"), argv=("--weights", "w"))
    assert cam_select.parse_args(["--weights", "w"]) == cfg
    argv = ["--weights", "w", "--identities", "a", "b", "--held-out-persons", "2"]
    assert abstain_select.parse_args(argv) == AbstainSelectConfig(
        weights=Path("w"), identities=[Path("a"), Path("b")], held_out_persons=2, argv=tuple(argv))


def test_a_config_is_frozen_and_records_itself() -> None:
    record = face_regions.parse_args(["--data", "faces", "--widths", "8", "16"]).to_json()
    assert record["data"] == "faces" and record["widths"] == [8, 16]
    argv = ["--data", "my photos", "--screen-task", "syndrome", "--widths", "8", "16"]
    cfg = classifier.parse_args(argv)
    with pytest.raises(AttributeError):
        cfg.lr = 1.0  # type: ignore[misc]
    record = json.loads(json.dumps(cfg.to_json()))
    assert record["data"] == "my photos" and record["widths"] == [8, 16] and "argv" not in record
    assert cfg.command("train.classifier") == "python -m train.classifier " \
        "--data 'my photos' --screen-task syndrome --widths 8 16"
    assert isinstance(cfg.data, Path)


def test_an_option_without_a_field_is_refused() -> None:
    with pytest.raises(TypeError, match="no field for option"):
        RunConfig.from_args(argparse.Namespace(epochs=3), [])


def test_pick_device_follows_the_options() -> None:
    import torch

    from train.config import pick_device

    assert pick_device("cpu", None) == (torch.device("cpu"), False)  # mixed precision only asked for
    assert pick_device("cpu", True) == (torch.device("cpu"), True)
    auto, amp = pick_device("auto", None)
    assert (auto.type == "cuda") == torch.cuda.is_available() == amp
