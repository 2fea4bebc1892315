"""The nerve benchmark: decode TIFF -> segment -> RLE, timed against the resnet34 baseline."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import core.roots
from core.models import create_model
from core.tasks import get_task
from core.weights import ModelCard, load_model, read_card, save_model
from train import bench

CFG = {"widths": [4, 8, 8, 8, 8], "convs": [1, 1, 1, 1, 1], "presence_head": True}


@pytest.fixture()
def tiny_nerve_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A weights root holding only ``nerve/cnn``, a tiny random model with a presence head."""
    task = get_task("nerve")
    card = ModelCard(task="nerve", arch="cnn", arch_config=dict(CFG), labels=["nerve"],
                     input=task.input, postprocess=task.postprocess)
    save_model(create_model("cnn", **CFG), card, tmp_path / "nerve" / "cnn")
    # weights_dir reads the module global at call time (``root or WEIGHTS_ROOT``).
    monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", tmp_path)
    assert task.weights_dir("cnn") == tmp_path / "nerve" / "cnn"
    return tmp_path


def test_nerve_frames_are_580x420_tiffs() -> None:
    from core.io.image import load_image

    frames = bench.nerve_frames(3, per_subject=2)
    assert len(frames) == 3
    img = load_image(frames[0])
    assert img.format == "TIFF" and img.pixels.shape[:2] == (420, 580)


def test_nerve_bench_times_the_tiny_model_and_the_baseline(tiny_nerve_root: Path) -> None:
    rows = bench.bench("nerve", 2)
    assert [r["model"] for r in rows] == ["cnn", bench.BASELINE]
    assert all(r["task"] == "nerve" and r["input"] == "580x420 TIFF" for r in rows)
    assert all(r["p95_ms"] >= r["p50_ms"] > 0 and r["mean_ms"] > 0 for r in rows)
    assert rows[-1]["ratio_to_baseline_p50"] == 1.0 and rows[0]["ratio_to_baseline_p50"] > 0
    assert rows[0]["params_M"] < rows[-1]["params_M"]


def test_nerve_cli_records_the_bench_in_the_card(tiny_nerve_root: Path, tmp_path: Path) -> None:
    folder = tiny_nerve_root / "nerve" / "cnn"
    sha = read_card(folder).weights["sha256"]
    out = tmp_path / "bench.json"
    assert bench.main(["--task", "nerve", "--frames", "2", "--threads", "1", "--record",
                       "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert {r["task"] for r in report["rows"]} == {"nerve"}
    card = read_card(folder)
    assert card.weights["sha256"] == sha
    rec = card.metrics["bench"]
    assert rec["pipeline"] == bench.PIPELINES["nerve"].text and "TIFF" in rec["pipeline"]
    assert "RLE" in rec["pipeline"] and rec["p50_ms"] > 0 and rec["baseline_p50_ms"] > 0
    assert "--task nerve" in rec["command"]
    load_model(folder)  # recording must not break the sha256 check
