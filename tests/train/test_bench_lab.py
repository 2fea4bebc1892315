"""The model lab benchmark: the evaluation engine against a per-image loop, in frames per second."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import core.roots
from core.models import create_model
from core.tasks import get_task
from core.weights import ModelCard, save_model
from train import bench

CFG = {"widths": [4, 8, 8, 8, 8], "convs": [1, 1, 1, 1, 1]}


@pytest.fixture()
def tiny_fetal_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A weights root holding only ``fetal_head/unet``: a tiny random-init CNN."""
    task = get_task("fetal_head")
    card = ModelCard(task=task.name, arch="cnn", arch_config=dict(CFG), labels=list(task.labels),
                     input=task.input, postprocess=task.postprocess)
    save_model(create_model("cnn", **CFG), card, tmp_path / "fetal_head" / "unet")
    monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", tmp_path)
    return tmp_path


def test_lab_cases_are_square_256_frames_with_masks_and_scaled_pixel_sizes() -> None:
    cases = bench.lab_cases(2)
    assert [c.image.shape for c in cases] == [(256, 256)] * 2 and cases[0].image.dtype == np.uint8
    assert all(c.mask.shape == (256, 256) and c.mask.any() for c in cases)
    assert all(0.052 * 800 / 256 <= c.pixel_size_mm <= 0.326 * 800 / 256 for c in cases)


def test_lab_segmenters_run_the_shipped_model_at_256(tiny_fetal_root: Path) -> None:
    segs = bench.lab_segmenters()
    assert list(segs) == ["unet"] and segs["unet"].card.input["size"] == [256, 256]
    assert segs["unet"].predict(np.zeros((256, 256), np.uint8)).mask.shape == (256, 256)


def test_lab_bench_rows_per_batch_size_and_the_cli(tiny_fetal_root: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    rows = bench.bench_lab(3, batch_sizes=(1, 2), repeats=1)
    assert [(r["model"], r["batch_size"]) for r in rows] == [("unet", 1), ("unet", 2)]
    for r in rows:
        assert r["engine_fps"] > 0 and r["loop_fps"] > 0 and r["n"] == 3
        assert r["ratio_to_loop"] == pytest.approx(r["engine_fps"] / r["loop_fps"])
        assert r["meets_target"] == (r["engine_fps"] >= bench.LAB_TARGET_FPS)
    out = tmp_path / "bench.json"
    assert bench.main(["--task", "lab", "--frames", "2", "--threads", "1", "--batch-size", "2",
                       "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Model lab engine" in printed and "engine f/s" in printed and "x loop" in printed
    report = json.loads(out.read_text())
    assert [(r["task"], r["batch_size"]) for r in report["rows"]] == [("lab", 2)]
