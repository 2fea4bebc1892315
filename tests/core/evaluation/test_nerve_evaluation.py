"""Set-level nerve figures, page overrides of post-processing, and the Kaggle submission."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.datasets import Case
from core.evaluation import case_row, set_metrics
from core.evaluation.engine import evaluate_segmentation
from core.models import create_model
from core.overlay import outlines_overlay
from core.predict import SegmentationResult, Segmenter
from core.rle import rle_decode
from core.tasks import get_task
from core.weights import ModelCard, read_card, save_model
from dashboard.tables import segmentation_comparison
from train import evaluate

ROOT = Path(__file__).resolve().parents[3]
TASK = get_task("nerve")
TINY = {"presence_head": True, "widths": [4, 8, 8, 8, 8], "convs": [1, 1, 1, 1, 1]}


def _mask(box: tuple[int, int, int, int] | None, shape=(20, 30)) -> np.ndarray:
    m = np.zeros(shape, bool)
    if box:
        r0, r1, c0, c1 = box
        m[r0:r1, c0:c1] = True
    return m


def _row(pred_box, truth_box, presence=None, **meta) -> dict:
    case = Case(name="x.tif", image=np.zeros((20, 30), np.uint8), mask=_mask(truth_box), group="s1",
                meta=meta)
    res = SegmentationResult(prob=np.zeros((20, 30), np.float32), mask=_mask(pred_box),
                             threshold=0.5, presence=presence)
    return case_row(case, res)


def test_set_metrics_on_hand_cases():
    rows = [
        _row((0, 10, 0, 10), (0, 10, 0, 10), 0.9),  # perfect: Dice 1, 100 TP
        _row(None, None, 0.1),                       # both empty: Dice 1 by the rule
        _row((0, 10, 0, 10), None, 0.95, label_missing=True),  # confident on an empty label
        _row(None, (0, 5, 0, 10), 0.2),              # missed nerve: Dice 0, 50 FN
    ]
    sm = set_metrics(rows)
    assert sm["n"] == 4 and sm["n_groups"] == 1
    assert sm["mean_dice"] == pytest.approx(0.5)
    assert sm["all_empty_baseline"] == pytest.approx(0.5)  # two empty labels out of four
    assert sm["pixel_precision"] == pytest.approx(100 / 200)
    assert sm["pixel_recall"] == pytest.approx(100 / 150)
    assert sm["pixel_f1"] == pytest.approx(200 / (200 + 100 + 50))
    assert sm["presence"] == {"tp": 1, "fp": 1, "fn": 1, "tn": 1, "accuracy": 0.5}
    assert sm["suspect_labels"] == 1
    assert sm["missing_labels"] == 1 and sm["missing_labels_flagged"] == 1
    assert sm["presence_accuracy_true_labels"] == pytest.approx(0.75)  # the dropped label restored


def test_set_metrics_split_frames_with_and_without_a_nerve_and_calibrate_presence():
    rows = [_row((0, 10, 0, 10), (0, 10, 0, 10), 0.9), _row(None, None, 0.1),
            _row((0, 10, 0, 10), None, 0.95), _row(None, (0, 5, 0, 10), 0.2)]
    sm = set_metrics(rows)
    assert sm["dice_present_n"] == 2 and sm["dice_present_mean"] == pytest.approx(0.5)
    assert sm["dice_empty_n"] == 2 and sm["dice_empty_mean"] == pytest.approx(0.5)
    # One group: the interval of a single subject has no width.
    assert sm["mean_dice_ci_low"] == sm["mean_dice_ci_high"] == pytest.approx(0.5)
    # Each probability has a bin of its own (0.1 wide): the gaps |present - p| are 0.1 (0.9, nerve),
    # 0.1 (0.1, none), 0.95 (0.95, none) and 0.8 (0.2, nerve).
    assert sm["presence_ece"] == pytest.approx((0.1 + 0.1 + 0.95 + 0.8) / 4)
    assert sum(sm["presence_reliability"]["count"]) == 4
    assert sm["presence_brier"] == pytest.approx((0.01 + 0.01 + 0.9025 + 0.64) / 4)


def test_suspect_label_needs_a_confident_model():
    assert not _row((0, 10, 0, 10), None, 0.4)["suspect_label"]
    assert not _row(None, None, 0.95)["suspect_label"]  # nothing segmented
    assert not _row((0, 10, 0, 10), None, None)["suspect_label"]  # no presence estimate
    assert _row((0, 10, 0, 10), None, 0.99)["suspect_label"]


def test_set_metrics_without_labels_is_an_error():
    with pytest.raises(ValueError, match="no labelled rows"):
        set_metrics([{"name": "a"}])


def test_all_empty_set_has_undefined_pixel_figures():
    sm = set_metrics([_row(None, None, 0.1)])
    assert sm["mean_dice"] == 1.0 and math.isnan(sm["pixel_precision"]) and math.isnan(sm["pixel_f1"])


class Blob(nn.Module):
    """Logit +4 in a 12x12 square at the centre, -4 elsewhere; presence logit fixed."""

    def __init__(self, presence_logit: float) -> None:
        super().__init__()
        self.presence_logit = presence_logit

    def forward(self, x):
        out = torch.full_like(x[:, :1], -4.0)
        h, w = x.shape[-2:]
        out[..., h // 2 - 6 : h // 2 + 6, w // 2 - 6 : w // 2 + 6] = 4.0
        return out, torch.full((x.shape[0], 1), self.presence_logit)


def _blob_segmenter(presence_logit: float = 0.0) -> Segmenter:
    card = ModelCard(task="nerve", arch="x", arch_config={}, labels=["nerve"],
                     input={"size": [64, 64], "resize": "letterbox", "mean": [0.5], "std": [0.25]},
                     postprocess={"threshold": 0.5, "min_area_px": 0, "presence_threshold": 0.5})
    return Segmenter(Blob(presence_logit), card)


def test_overrides_change_post_processing_for_one_call_only():
    seg = _blob_segmenter(presence_logit=0.0)  # presence 0.5: kept at threshold 0.5
    img = np.zeros((64, 64), np.uint8)
    assert seg.predict(img).mask.sum() == 144
    assert not seg.predict(img, overrides={"min_area_px": 200}).mask.any()
    assert not seg.predict(img, overrides={"presence_threshold": 0.9}).mask.any()
    assert seg.card.postprocess["min_area_px"] == 0 and seg.predict(img).mask.any()


def test_outlines_overlay_draws_each_mask_in_its_colour():
    img = np.zeros((40, 40), np.uint8)
    a, b = _mask((5, 15, 5, 15), (40, 40)), _mask((20, 30, 20, 30), (40, 40))
    out = outlines_overlay(img, [(a, (255, 0, 0)), (b, (0, 0, 255)), (_mask(None, (40, 40)), (0, 255, 0))])
    assert out.shape == (40, 40, 3)
    assert (out[5, 5:15] == (255, 0, 0)).all() and (out[29, 20:30] == (0, 0, 255)).all()
    assert not (out == (0, 255, 0)).all(-1).any() and (out[10, 10] == 0).all()  # outlines only


@pytest.fixture()
def tiny_weights(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    card = ModelCard(task="nerve", arch="cnn", arch_config=TINY, labels=["nerve"],
                     input={**TASK.input, "size": [64, 96]},
                     postprocess={**TASK.postprocess, "min_area_px": 0, "presence_threshold": 0.0})
    save_model(create_model("cnn", **TINY), card, tmp_path / "cnn")
    return tmp_path / "cnn"


def test_evaluate_writes_set_figures_and_the_kaggle_submission(tiny_weights: Path, tmp_path: Path):
    out = tmp_path / "eval"
    argv = ["--task", "nerve", "--weights", str(tiny_weights), "--data", str(TASK.samples_dir),
            "--out", str(out), "--record", "samples"]
    assert evaluate.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    cases = list(evaluate.dataset_cases(TASK, TASK.samples_dir))
    assert summary["set"]["n"] == len(cases) and summary["set"]["n_groups"] == 2
    empty = np.mean([not c.mask.any() for c in cases])
    assert summary["set"]["all_empty_baseline"] == pytest.approx(empty)
    rows = list(csv.DictReader((out / "submission.csv").open()))
    assert [r["img"] for r in rows] == ["1", "2"] and summary["submission_rows"] == 2
    seg = Segmenter.from_folder(tiny_weights)
    test_image = evaluate.read_kaggle_nerve(TASK.samples_dir, "test").__next__().image
    expected = seg.predict(test_image).mask
    assert np.array_equal(rle_decode(rows[0]["pixels"], expected.shape), expected)
    card = read_card(tiny_weights)
    rec = card.metrics["samples"]
    assert rec["mean_dice"] == pytest.approx(summary["set"]["mean_dice"])
    assert {"all_empty_baseline", "presence_accuracy", "pixel_f1", "dice_mean"} <= set(rec)
    table = segmentation_comparison({"cnn": card}, {"cnn": "Tiny CNN"}, record="samples")
    assert table.loc["Tiny CNN", "Mean Dice (empty rule)"] == pytest.approx(rec["mean_dice"])
    assert "p50 latency (ms)" not in table  # not benchmarked: the empty column is left out
    assert "Dropped labels flagged" not in table  # real-layout data: nothing known about dropped labels


def test_engine_rows_carry_presence(tiny_weights: Path):
    seg = Segmenter.from_folder(tiny_weights)
    cases = list(evaluate.dataset_cases(TASK, TASK.samples_dir))[:3]
    ev = evaluate_segmentation(seg, cases, batch_size=2)
    assert all({"presence_prob", "true_present", "pred_present", "suspect_label"} <= set(r) for r in ev.rows)
    assert "presence_prob" in ev.summary and "true_present" not in ev.summary
