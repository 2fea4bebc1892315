"""train.evaluate runs on the lab engine: same files as before, and the same numbers as the lab."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from core.evaluation.engine import collect
from core.evaluation.stats import aggregate
from core.lab import detect_layout, read_cases
from core.models import create_model
from core.predict import Segmenter
from core.tasks import get_task
from core.weights import ModelCard, load_model, read_card, save_model
from train import evaluate

TINY = {"presence_head": True, "widths": [4, 8, 8, 8, 8], "convs": [1, 1, 1, 1, 1]}
FETAL = get_task("fetal_head")


@pytest.fixture(scope="module")
def fetal_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    card = ModelCard(task="fetal_head", arch="cnn", arch_config=TINY, labels=["head"],
                     input={**FETAL.input, "size": [64, 96]}, postprocess=dict(FETAL.postprocess))
    out = tmp_path_factory.mktemp("w") / "cnn"
    save_model(create_model("cnn", **TINY), card, out)
    return out


def _float(text: str) -> float:
    return float(text) if text not in ("", "nan") else math.nan


def test_evaluate_writes_its_files_with_the_lab_engine_numbers(fetal_weights: Path, tmp_path: Path):
    out = tmp_path / "eval"
    argv = ["--task", "fetal_head", "--weights", str(fetal_weights), "--data", str(FETAL.samples_dir),
            "--out", str(out), "--batch-size", "3", "--record", "lab"]
    assert evaluate.main(argv) == 0
    # the bundled HC18 samples have no test_set: no submission (test_train_cli covers one)
    assert {p.name for p in out.iterdir()} == {"per_case.csv", "summary.json"}
    rows = list(csv.DictReader((out / "per_case.csv").open()))
    summary = json.loads((out / "summary.json").read_text())

    guess = detect_layout(FETAL.samples_dir)
    lab = collect({"m": Segmenter.from_folder(fetal_weights)}, read_cases(guess), task=guess.task)
    lab_rows = lab.rows["m"]
    assert [r["name"] for r in rows] == [r["name"] for r in lab_rows] and summary["n"] == len(lab_rows)
    for col in ("dice", "iou", "hd95_mm", "hc_abs_diff_mm", "presence_prob"):
        got = [_float(r[col]) for r in rows]
        want = [r.get(col, math.nan) for r in lab_rows]
        assert got == pytest.approx(want, nan_ok=True), col
    table = aggregate(lab_rows, ["dice", "hc_abs_diff_mm"])
    for i, metric in enumerate(table["metric"]):
        for stat in ("mean", "sd", "median", "n"):
            assert summary["metrics"][metric][stat] == pytest.approx(table[stat][i], nan_ok=True)
    assert summary["set"]["mean_dice"] == pytest.approx(lab.set_metrics["m"]["mean_dice"])
    assert summary["hc_report"]["all"]["n"] == len(lab_rows)
    record = read_card(fetal_weights).metrics["lab"]
    assert record["n"] == len(lab_rows)
    assert record["dice_mean"] == pytest.approx(summary["metrics"]["dice"]["mean"])
    load_model(fetal_weights)  # the sha256 still matches


def test_evaluate_on_phantoms_uses_the_engine_too(fetal_weights: Path, tmp_path: Path):
    out = tmp_path / "ph"
    assert evaluate.main(["--task", "fetal_head", "--weights", str(fetal_weights), "--phantoms", "3",
                          "--out", str(out), "--batch-size", "2"]) == 0
    rows = list(csv.DictReader((out / "per_case.csv").open()))
    assert len(rows) == 3 and {"dice", "hc_pred_mm", "hc_ref_mm"} <= set(rows[0])
    assert not (out / "submission.csv").exists()
