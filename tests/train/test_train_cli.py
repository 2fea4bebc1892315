"""Smoke runs of the training, evaluation and sample-making command lines (tiny, on CPU)."""
from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from core.datasets import read_hc18
from core.io.image import load_image
from core.weights import load_model, read_card
from train import evaluate, make_samples, segmentation

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--task", "fetal_head", "--phantoms", "8", "--epochs", "1", "--batch-size", "2",
        "--crop", "64", "96", "--input-size", "128", "192", "--val-frac", "0.25", "--threads", "1"]


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("w") / "segnet"
    assert segmentation.main([*TINY, "--arch", "segnet", "--out", str(out)]) == 0
    return out


def test_train_writes_a_self_describing_folder(tiny_weights: Path) -> None:
    names = {p.name for p in tiny_weights.iterdir()}
    assert {"model.json", "model.safetensors", "history.csv"} <= names
    card = read_card(tiny_weights)
    assert card.synthetic and "NOT real patient data" in card.training["data"]
    assert card.training["command"].startswith("python -m train.segmentation --task fetal_head")
    assert "--arch segnet" in card.training["command"]
    assert card.input["size"] == [128, 192]
    assert {"dice_mean", "hc_abs_diff_mm_mean", "n"} <= set(card.metrics["validation"])
    model, _ = load_model(tiny_weights)  # sha256 checked
    assert not model.training
    rows = list(csv.DictReader((tiny_weights / "history.csv").open()))
    assert len(rows) == 1 and 0.0 <= float(rows[0]["val_dice"]) <= 1.0


def test_fine_tuning_on_hc18_frames_records_its_start_and_calibrates_the_outline(tiny_weights: Path,
                                                                                tmp_path: Path) -> None:
    out = tmp_path / "tuned"
    assert segmentation.main(["--task", "fetal_head", "--arch", "segnet", "--data",
                              str(ROOT / "data_samples" / "fetal_head"), "--epochs", "1", "--batch-size", "2",
                              "--crop", "64", "96", "--input-size", "128", "192",
                              "--val-frac", "0.3", "--seed", "1",
                              "--threads", "1", "--init", str(tiny_weights), "--boundary-weight", "2",
                              "--out", str(out)]) == 0
    card = read_card(out)
    start = read_card(tiny_weights).weights["sha256"][:12]
    assert start in card.training["init"] and "phantoms" in card.training["init"]
    assert "edge pixels weighed 3x" in card.training["loss"]
    assert card.postprocess["tta"] == ["hflip", "zoom:0.9"]  # the task's test-time views
    calibration = card.training["calibration"]  # measured on the training frames, written into the card
    assert card.postprocess["outline_offset_px"] == calibration["outline_offset_px"]
    assert "validation exams not used" in calibration["how"]
    load_model(out)


def test_init_from_another_model_is_refused(tiny_weights: Path) -> None:
    with pytest.raises(SystemExit, match="is not this run's"):
        segmentation.main([*TINY, "--arch", "unet_mobilenet", "--init", str(tiny_weights), "--out", "/tmp/x"])


def test_train_refuses_a_missing_source() -> None:
    with pytest.raises(SystemExit):
        segmentation.main(["--task", "fetal_head", "--arch", "unet_mobilenet"])


def test_evaluate_on_hc18_samples_writes_csv_json_and_submission(tiny_weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    samples = tmp_path / "hc18"  # the bundled frames, plus a test_set as the challenge has one
    shutil.copytree(ROOT / "data_samples" / "fetal_head", samples)
    (samples / "test_set").mkdir()
    for i, frame in enumerate(("016_HC.png", "648_HC.png")):
        shutil.copyfile(samples / "training_set" / frame, samples / "test_set" / f"{i:03d}_HC.png")
    (samples / "test_set_pixel_size.csv").write_text(
        "filename,pixel size(mm)\n000_HC.png,0.0603\n001_HC.png,0.1518\n")
    assert evaluate.main(["--task", "fetal_head", "--weights", str(tiny_weights), "--data", str(samples),
                          "--out", str(out), "--record", "smoke"]) == 0
    rows = list(csv.DictReader((out / "per_case.csv").open()))
    n_train = len(list(read_hc18(samples, "training_set")))
    assert len(rows) == n_train
    assert {"dice", "iou", "hd95_mm", "hc_pred_mm", "hc_ref_mm", "hc_abs_diff_mm"} <= set(rows[0])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == n_train and "dice" in summary["metrics"]
    assert summary["hc_report"]["all"]["n"] == n_train  # every frame, a missed head counted in full
    sub = list(csv.reader((out / "submission.csv").open()))
    assert sub[0] == list(evaluate.SUBMISSION_COLUMNS) and len(sub) == 3
    card = read_card(tiny_weights)
    assert card.metrics["smoke"]["n"] == n_train and "dice_mean" in card.metrics["smoke"]
    load_model(tiny_weights)  # recording metrics must not break the sha256 check


def _free_port() -> int:
    """A port nobody listens on now: test runs side by side must not share a fixed one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two training processes: 12 s wall on an idle machine
def test_distributed_training_with_two_gloo_processes(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", str(_free_port()),
           "-m", "train.segmentation", *TINY, "--arch", "segnet", "--out", str(out)]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    assert read_card(out).training["device"] == "cpu x2"
    load_model(out)


def test_make_samples_copies_real_hc18_frames_and_writes_a_dicom(tmp_path: Path) -> None:
    source = ROOT / "data_samples" / "fetal_head"  # in the HC18 layout, as ../shared/data/hc18 is
    assert make_samples.main(["--task", "fetal_head", "--n", "3", "--root", str(tmp_path),
                              "--hc18", str(source)]) == 0
    cases = list(read_hc18(tmp_path / "fetal_head"))
    assert [c.name for c in cases] == list(make_samples.HC18_SAMPLES[:3])
    assert all(c.mask is not None and c.meta["hc_mm"] > 0 and c.pixel_size_mm for c in cases)
    readme = (tmp_path / "fetal_head" / "README.md").read_text()
    assert "CC BY 4.0" in readme and "van den Heuvel" in readme and "016_HC.png" in readme
    dcm = load_image(tmp_path / "fetal_head" / "dicom" / "fetal_head_phantom.dcm")
    assert dcm.format == "DICOM" and dcm.spacing_mm and 0.05 <= dcm.spacing_mm[0] <= 0.33
    assert "Phantom" not in repr(dcm.meta)


@pytest.mark.slow  # times every fetal model and the smp baseline
def test_bench_reports_every_model_against_the_baseline(tmp_path: Path) -> None:
    from train import bench

    out = tmp_path / "bench.json"
    assert bench.main(["--task", "fetal_head", "--frames", "2", "--threads", "1", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    models = [r["model"] for r in report["rows"]]
    assert models[-1].startswith("smp Unet(resnet34)") and {"unet", "segnet"} <= set(models)
    assert report["rows"][-1]["ratio_to_baseline_p50"] == 1.0
    assert all(r["p95_ms"] >= r["p50_ms"] > 0 for r in report["rows"]) and report["peak_rss_mb"] > 0
