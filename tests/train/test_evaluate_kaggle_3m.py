"""train.evaluate --task brain_tumor on an LGG kaggle_3m folder: per-slice and per-patient rows."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile

from core.analysis.brain_patients import model_input, pooled_scores
from core.datasets import read_kaggle_3m_volumes
from core.models import create_model
from core.predict import Segmenter, VolumeSegmenter
from core.tasks import get_task
from core.weights import ModelCard, read_card, save_model
from train import evaluate as evaluate_cli

H = W = 16
CFG = {"widths": [4, 8, 8, 8, 8], "convs": [1, 1, 1, 1, 1], "presence_head": False}
PATIENTS = {"TCGA_AA_0001_20000101": (1, 2, 10), "TCGA_BB_0002_20000202": (3, 1)}


def write_lgg(root: Path) -> Path:
    """Two patients; slice n: FLAIR bright on rows [0, n), the other channels bright on the last
    rows (a model fed the wrong channel scores differently); truth on rows [1, 3) except slice 10,
    which is tumour-free."""
    for patient, numbers in PATIENTS.items():
        folder = root / "kaggle_3m" / patient
        folder.mkdir(parents=True)
        for n in numbers:
            image = np.zeros((H, W, 3), np.uint8)
            image[:n, :, 1] = 200
            image[-3:, :, 0] = image[-3:, :, 2] = 200
            mask = np.zeros((H, W), np.uint8)
            if n != 10:
                mask[1:3] = 255
            tifffile.imwrite(folder / f"{patient}_{n}.tif", image, compression="zlib" if n % 2 else None)
            tifffile.imwrite(folder / f"{patient}_{n}_mask.tif", mask)
    return root


class ThresholdStub:
    """A VolumeSegmenter stand-in: tumour = voxels above 100 (channels as :func:`model_input` gives)."""

    def __init__(self, card: ModelCard, channels: int = 1) -> None:
        self.card, self.segmenter, self.seen = card, SimpleNamespace(channels=channels), []

    def predict(self, voxels: np.ndarray) -> SimpleNamespace:
        self.seen.append(voxels.shape)
        return SimpleNamespace(mask=voxels > 100)


def tiny_weights(root: Path, channels: int) -> Path:
    task = get_task("brain_tumor")
    card = ModelCard(task=task.name, arch="cnn", arch_config={**CFG, "in_channels": channels},
                     labels=list(task.labels), input={**task.input, "size": [32, 32]},
                     postprocess=task.postprocess)
    folder = root / f"unet{channels}"
    save_model(create_model("cnn", **CFG, in_channels=channels), card, folder)
    return folder


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


def test_one_row_per_slice_and_per_patient_dice_from_summed_counts(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    weights = tiny_weights(tmp_path, 1)
    stub = ThresholdStub(read_card(weights))
    monkeypatch.setattr(evaluate_cli.VolumeSegmenter, "from_folder", lambda *a, **k: stub)
    out = tmp_path / "run"
    argv = ["--task", "brain_tumor", "--weights", str(weights), "--data", str(write_lgg(tmp_path / "lgg")),
            "--out", str(out), "--record", "lgg_test"]
    assert evaluate_cli.main(argv) == 0
    assert stub.seen == [(3, H, W), (2, H, W)]  # FLAIR alone, a patient at a time
    slices = _rows(out / "per_case.csv")
    assert [(r["group"], int(r["slice"])) for r in slices] == [
        ("TCGA_AA_0001_20000101", 1), ("TCGA_AA_0001_20000101", 2), ("TCGA_AA_0001_20000101", 10),
        ("TCGA_BB_0002_20000202", 1), ("TCGA_BB_0002_20000202", 3)]
    assert slices[0]["name"] == "TCGA_AA_0001_20000101_1.tif"
    # predicted rows [0, n) of FLAIR vs true rows [1, 3): by hand, in pixels
    want = {1: (0, W, 2 * W), 2: (W, W, W), 10: (0, 10 * W, 0), 3: (2 * W, W, 0)}
    for r in slices:
        assert (int(r["tp_px"]), int(r["fp_px"]), int(r["fn_px"])) == want[int(r["slice"])]
    assert [r["true_present"] for r in slices] == ["True", "True", "False", "True", "True"]
    assert [r["pred_present"] for r in slices] == ["True"] * 5
    patients = _rows(out / "per_volume.csv")
    assert [r["name"] for r in patients] == list(PATIENTS)
    for p in patients:
        mine = [r for r in slices if r["group"] == p["name"]]
        tp, fp, fn = (sum(int(r[k]) for r in mine) for k in ("tp_px", "fp_px", "fn_px"))
        assert float(p["dice"]) == pytest.approx(2 * tp / (2 * tp + fp + fn))
        assert float(p["dice"]) != pytest.approx(np.mean([float(r["dice"]) for r in mine]))
    assert float(patients[0]["dice"]) == pytest.approx(2 * W / (2 * W + 12 * W + 3 * W))  # 2/17
    assert float(patients[1]["dice"]) == pytest.approx(4 * W / (4 * W + 2 * W + 2 * W))  # 1/2
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["n_patients"], summary["n_slices"], summary["n_tumour_free_slices"]) == (2, 5, 1)
    assert summary["dice_per_patient_mean"] == pytest.approx((2 / 17 + 1 / 2) / 2)
    lo, hi = summary["dice_per_patient_ci95"]
    assert 2 / 17 <= lo < summary["dice_per_patient_mean"] < hi <= 1 / 2
    assert summary["tumour_free_slices_fp_share"] == 1.0
    record = read_card(weights).metrics["lgg_test"]
    assert record["n_patients"] == 2 and record["dice_per_patient_mean"] == summary["dice_per_patient_mean"]
    assert "kaggle_3m" in record["data"] and "FLAIR" in record["data"]


def test_a_three_channel_card_gets_all_three_sequences(tmp_path: Path) -> None:
    lgg = write_lgg(tmp_path / "lgg")
    case = next(read_kaggle_3m_volumes(lgg))
    flair = model_input(case, 1)
    assert flair.shape == (3, H, W) and flair[:, 0, 0].tolist() == [200, 200, 200]
    assert flair[:, -1, 0].tolist() == [0, 0, 0]
    three = model_input(case, 3)
    assert three.shape == (3, H, W, 3) and three.dtype == np.uint8
    assert three[0, -1, 0].tolist() == [200, 0, 200] and three[1, 1, 0].tolist() == [0, 200, 0]
    with pytest.raises(ValueError, match="2-channel model needs the sequences"):
        model_input(case, 2)


@pytest.mark.parametrize("channels", [1, 3])
def test_tiny_models_of_one_and_three_channels_run_end_to_end(tmp_path: Path, channels: int) -> None:
    weights = tiny_weights(tmp_path, channels)
    assert VolumeSegmenter.from_folder(weights).segmenter.channels == channels
    out = tmp_path / f"run{channels}"
    assert evaluate_cli.main(["--task", "brain_tumor", "--weights", str(weights), "--data",
                              str(write_lgg(tmp_path / "lgg") / "kaggle_3m"), "--out", str(out)]) == 0
    slices, patients = _rows(out / "per_case.csv"), _rows(out / "per_volume.csv")
    assert len(slices) == 5 and len(patients) == 2
    for p in patients:
        mine = [r for r in slices if r["group"] == p["name"]]
        tp, fp, fn = (sum(int(r[k]) for r in mine) for k in ("tp_px", "fp_px", "fn_px"))
        assert float(p["dice"]) == pytest.approx(pooled_scores(tp, fp, fn)["dice"])
        assert int(p["volume_true_vox"]) == tp + fn == 4 * W
    assert "hd95_mm" not in slices[0] and "hd95_px" in slices[0]  # no pixel size in the files


def test_a_three_channel_segmenter_refuses_a_grey_slice(tmp_path: Path) -> None:
    seg = Segmenter.from_folder(tiny_weights(tmp_path, 3))
    assert seg.predict(np.zeros((H, W, 3), np.uint8)).mask.shape == (H, W)
    with pytest.raises(ValueError, match="reads 3-channel images"):
        seg.predict(np.zeros((H, W), np.uint8))
    with pytest.raises(ValueError, match=r"expected a ZxHxWx3 \(one channel per sequence\) volume"):
        VolumeSegmenter(seg).predict(np.zeros((2, H, W), np.uint8))


def test_a_patient_with_a_missing_mask_is_left_out_with_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    weights = tiny_weights(tmp_path, 1)
    stub = ThresholdStub(read_card(weights))
    monkeypatch.setattr(evaluate_cli.VolumeSegmenter, "from_folder", lambda *a, **k: stub)
    lgg = write_lgg(tmp_path / "lgg")
    (lgg / "kaggle_3m" / "TCGA_AA_0001_20000101" / "TCGA_AA_0001_20000101_2_mask.tif").unlink()
    out = tmp_path / "run"
    assert evaluate_cli.main(["--task", "brain_tumor", "--weights", str(weights), "--data", str(lgg),
                              "--out", str(out)]) == 0
    assert [r["name"] for r in _rows(out / "per_volume.csv")] == ["TCGA_BB_0002_20000202"]
    assert {r["group"] for r in _rows(out / "per_case.csv")} == {"TCGA_BB_0002_20000202"}
    assert "TCGA_AA_0001_20000101: not scored, a slice has no _mask.tif" in caplog.text
