"""train.evaluate and train.bench on brain volumes, with a tiny random model (fast, CPU)."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import core.roots
from core.io.volume import load_volume
from core.models import create_model
from core.predict import Segmenter
from core.tasks import get_task
from core.weights import ModelCard, read_card, save_model
from train import bench
from train import evaluate as evaluate_cli

ROOT = Path(__file__).resolve().parents[2]
CFG = {"widths": [4, 8, 8, 8, 8], "convs": [1, 1, 1, 1, 1], "presence_head": False}


@pytest.fixture()
def tiny_brain(tmp_path: Path) -> Path:
    task = get_task("brain_tumor")
    card = ModelCard(task=task.name, arch="cnn", arch_config=dict(CFG), labels=list(task.labels),
                     input={**task.input, "size": [64, 64]}, postprocess=task.postprocess)
    folder = tmp_path / "brain_tumor" / "unet"
    save_model(create_model("cnn", **CFG), card, folder)
    return folder


def test_evaluate_scores_phantom_volumes_and_records_them(tiny_brain: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert evaluate_cli.main(["--task", "brain_tumor", "--weights", str(tiny_brain), "--phantoms", "2",
                              "--phantom-seed", "5", "--out", str(out), "--record", "phantom_test"]) == 0
    rows = list(csv.DictReader((out / "per_volume.csv").open()))
    assert len(rows) == 2
    assert {"dice", "iou", "hd95_mm", "volume_true_ml", "volume_pred_ml", "seconds"} <= set(rows[0])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 2 and summary["n_tumour"] + summary["n_healthy"] == 2
    record = read_card(tiny_brain).metrics["phantom_test"]
    assert record["n_volumes"] == 2 and "procedural brain phantom volumes, seed 5" in record["data"]
    if summary["n_tumour"]:
        assert 0.0 <= record["dice_mean"] <= 1.0 and "hd95_mm_mean" in record


def test_evaluate_reads_the_bundled_nifti_pairs(tiny_brain: Path, tmp_path: Path) -> None:
    samples = ROOT / "data_samples" / "brain_mri"
    pairs = tmp_path / "pairs"  # the phantom pairs alone: the bundled folder also holds a kaggle_3m/ patient
    for part in ("imagesTr", "labelsTr"):
        shutil.copytree(samples / part, pairs / part)
    shutil.copy(samples / "dataset.json", pairs)
    out = tmp_path / "samples"
    evaluate_cli.main(["--task", "brain_tumor", "--weights", str(tiny_brain), "--data", str(pairs),
                       "--out", str(out)])
    rows = list(csv.DictReader((out / "per_volume.csv").open()))
    assert [r["name"] for r in rows] == ["brain_phantom_01", "s1045_tumour_01", "s1045_tumour_02"]
    assert [int(r["slices"]) for r in rows] == [20, 1, 1]
    assert all(float(r["volume_true_ml"]) > 0 for r in rows)


def test_evaluate_reads_the_bundled_folder_as_its_real_lgg_patient(tiny_brain: Path, tmp_path: Path) -> None:
    out = tmp_path / "lgg"
    evaluate_cli.main(["--task", "brain_tumor", "--weights", str(tiny_brain), "--data",
                       str(ROOT / "data_samples" / "brain_mri"), "--out", str(out)])
    (patient,) = list(csv.DictReader((out / "per_volume.csv").open()))
    assert patient["name"] == "TCGA_DU_7304_19930325" and int(patient["slices"]) == 36
    assert int(patient["volume_true_vox"]) == 45972
    assert len(list(csv.DictReader((out / "per_case.csv").open()))) == 36


@pytest.mark.slow  # a full-size benchmark volume; test_bench_caps_the_volume_calls runs small ones
def test_bench_volume_is_256x256x64_nifti_and_the_pipeline_gives_millilitres(tiny_brain: Path) -> None:
    data = bench.brain_volumes(1)[0]
    vol = load_volume(data)
    assert vol.format == "NIfTI" and vol.voxels.shape == bench.BRAIN_SHAPE
    ml = bench.brain_pipeline(Segmenter.from_folder(tiny_brain), data)
    assert isinstance(ml, float) and 0.0 <= ml <= vol.voxels.size * np.prod(vol.spacing_mm) / 1000


def test_bench_caps_the_volume_calls(tiny_brain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", tiny_brain.parents[1])
    monkeypatch.setattr(bench, "baseline_segmenter", lambda card: Segmenter.from_folder(tiny_brain))
    pipe, calls = bench.PIPELINES["brain_tumor"], []

    def run(seg: Segmenter, data: bytes) -> object:
        calls.append(len(data))
        return pipe.run(seg, data)

    monkeypatch.setitem(bench.PIPELINES, "brain_tumor", pipe._replace(frames=_small_volumes, run=run))
    rows = bench.bench("brain_tumor", 30)
    assert [r["model"] for r in rows] == ["unet", bench.BASELINE]
    assert rows[0]["input"] == "256x256x64 NIfTI" and rows[0]["p50_ms"] > 0
    assert len(calls) == 2 * (pipe.max_calls + 3)  # two models, each 3 warm-up + max_calls timed


def _small_volumes(n: int) -> list[bytes]:
    from core.io.nifti import to_nifti_bytes
    from core.io.volume import volume_from_display

    vol = np.random.default_rng(0).integers(0, 1000, (4, 32, 32)).astype(np.uint16)
    return [to_nifti_bytes(vol, volume_from_display(vol, (3.0, 1.0, 1.0)), dtype=np.uint16)] * n


def test_train_segmentation_on_brain_phantoms_writes_a_card(tmp_path: Path) -> None:
    from train import segmentation

    out = tmp_path / "brain"
    assert segmentation.main(["--task", "brain_tumor", "--arch", "cnn", "--phantoms", "40", "--epochs", "1",
                              "--batch-size", "4", "--crop", "48", "48", "--input-size", "64", "64",
                              "--val-frac", "0.5", "--seed", "1", "--threads", "1", "--arch-config",
                              "widths=[4,8,8,8,8]", "convs=[1,1,1,1,1]", "--out", str(out)]) == 0
    card = read_card(out)  # the task's window, which the phantom slices go through too
    assert card.task == "brain_tumor" and card.input["window"] == "volume_median"
    assert "train/phantoms/brain_mri.py" in card.training["data"] and card.synthetic
    assert 0.0 <= card.metrics["validation"]["dice_mean"] <= 1.0


def test_make_samples_writes_the_brain_layout(tmp_path: Path) -> None:
    from core.datasets import read_nifti_pairs
    from train import make_samples

    assert make_samples.main(["--task", "brain_mri", "--n", "1", "--root", str(tmp_path)]) == 0
    root = tmp_path / "brain_mri"
    cases = list(read_nifti_pairs(root))
    assert [c.name for c in cases] == ["brain_phantom_01", "s1045_tumour_01"]
    assert cases[0].volume.voxels.shape == (20, 256, 256) and set(np.unique(cases[0].label)) == {0, 1, 2, 4}
    series = load_volume(root / "dicom" / "brain_phantom_02.zip", expect_modality="MR")
    assert series.format == "DICOM series" and series.voxels.shape == (20, 256, 256)
    # The same seed rewrites the bundled files byte for byte (the samples are reproducible).
    bundled = ROOT / "data_samples" / "brain_mri" / "imagesTr" / "brain_phantom_01.nii.gz"
    assert (root / "imagesTr" / "brain_phantom_01.nii.gz").read_bytes() == bundled.read_bytes()
