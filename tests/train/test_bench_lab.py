"""The model lab benchmark: real-size frames read from a folder and evaluated as the page does."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import core.roots
from core.models import create_model
from core.tasks import get_task
from core.weights import ModelCard, save_model
from train import bench, bench_lab

CFG = {"widths": [4, 8, 8, 8, 8], "convs": [1, 1, 1, 1, 1]}
FETAL = core.roots.SAMPLES_ROOT / "fetal_head"


@pytest.fixture()
def tiny_fetal_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A weights root holding only the default fetal head model: a tiny random-init CNN."""
    task = get_task("fetal_head")
    card = ModelCard(task=task.name, arch="cnn", arch_config=dict(CFG), labels=list(task.labels),
                     input=task.input, postprocess=task.postprocess)
    save_model(create_model("cnn", **CFG), card, tmp_path / "fetal_head" / task.default_model)
    monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", tmp_path)
    return tmp_path


def test_frames_are_read_from_the_folder_at_their_own_size_and_reused() -> None:
    cases, seconds, size = bench_lab.read_frames(FETAL, 8)  # the folder holds 6 real HC18 frames
    assert len(cases) == 8 and len({c.name for c in cases}) == 8 and seconds > 0
    assert size == "800x540" and cases[0].image.shape == (540, 800) and cases[0].mask.any()
    assert cases[6].name.split("#")[0] == cases[0].name.split("#")[0]


def test_the_timed_predictor_counts_only_the_network() -> None:
    class Slow:
        channels = 1

        def predict_batch(self, images, **kw):
            import time
            time.sleep(0.01)
            return list(images)

    timed = bench_lab.TimedPredictor(Slow())
    assert timed.channels == 1 and timed.predict_batch([1, 2]) == [1, 2]
    assert timed.seconds >= 0.01


def test_lab_rows_per_model_and_batch_with_the_time_split(tiny_fetal_root: Path) -> None:
    rows = bench_lab.bench_lab(2, batch_sizes=(1, 2), folders={"fetal_head": FETAL})
    assert [(r["model"], r["batch_size"]) for r in rows] == [
        ("unet_small", 1), (bench_lab.BASELINE, 1), ("unet_small", 2), (bench_lab.BASELINE, 2)]
    for r in rows:
        assert r["fps"] > 0 and r["n"] == 2 and r["input"] == "800x540 fetal_head"
        assert r["decode_ms"] > 0 and r["network_ms"] > 0 and r["scoring_ms"] > 0
        per_frame_ms = r["decode_ms"] + r["network_ms"] + r["scoring_ms"]
        assert r["fps"] == pytest.approx(1000 / per_frame_ms, rel=0.05)
    unet1 = rows[0]
    assert unet1["default"] and unet1["meets_target"] == (unet1["fps"] >= bench_lab.LAB_TARGET_FPS)
    assert rows[2]["meets_target"] is None  # only the page's batch size is judged
    assert rows[1]["net_x_faster"] == pytest.approx(1.0)
    assert unet1["net_x_faster"] > 1  # the tiny CNN against a ResNet-34 U-Net


def test_the_cli_prints_and_writes_the_lab_rows(tiny_fetal_root: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bench_lab, "LAB_FOLDERS", {"fetal_head": "fetal_head"})
    out = tmp_path / "bench.json"
    assert bench.main(["--task", "lab", "--frames", "2", "--threads", "1", "--batch-size", "2",
                       "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Model lab on real-size frames" in printed and "frames/s" in printed and "network" in printed
    report = json.loads(out.read_text())
    assert [(r["lab_task"], r["batch_size"]) for r in report["rows"]] == [("fetal_head", 2)] * 2
