"""Mask corrections: strokes applied, the review row, and the Kaggle folder the reader takes back."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.analysis.mask_correction import CorrectedFrame, apply_strokes, kaggle_nerve_zip, mask_review_row
from core.datasets import read_kaggle_nerve


def test_strokes_add_and_erase_with_erase_winning() -> None:
    mask = np.zeros((4, 5), bool)
    mask[1, 1] = True
    add, erase = np.zeros_like(mask), np.zeros_like(mask)
    add[2, 2] = add[3, 3] = erase[3, 3] = erase[1, 1] = True
    fixed = apply_strokes(mask, add, erase)
    assert fixed.sum() == 1 and fixed[2, 2]
    with pytest.raises(ValueError, match="strokes of shape"):
        apply_strokes(mask, add[:2], erase)


def test_the_review_row_scores_both_masks_against_the_truth() -> None:
    model = np.zeros((10, 10), bool)
    model[2:6, 2:6] = True
    fixed = model.copy()
    fixed[2:6, 6:8] = True
    row = mask_review_row("upload", "U-Net", model, fixed, truth=fixed)
    assert row["area_model_px"] == 16 and row["area_corrected_px"] == 24
    assert row["dice_corrected_vs_truth"] == 1.0 and row["dice_model_vs_truth"] == pytest.approx(0.8)
    assert "dice_model_vs_truth" not in mask_review_row("x", "m", model, fixed)


def test_corrected_frames_round_trip_through_the_kaggle_reader(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = []
    for k in range(2):
        mask = np.zeros((42, 58), bool)
        mask[10 + k:20, 5:30 - k] = True
        frames.append(CorrectedFrame(f"900_{k + 1}", rng.integers(0, 255, (42, 58), dtype=np.uint8), mask,
                                     {"case": "upload", "stem": f"900_{k + 1}"}))
    with zipfile.ZipFile(io.BytesIO(kaggle_nerve_zip(frames))) as zf:
        zf.extractall(tmp_path)
    read = {c.name: c for c in read_kaggle_nerve(tmp_path)}
    assert sorted(read) == ["900_1.tif", "900_2.tif"]
    for f in frames:
        case = read[f"{f.stem}.tif"]
        assert np.array_equal(case.image, f.frame) and np.array_equal(case.mask, f.mask)
        assert case.group == "900"
    rle_rows = (tmp_path / "train_masks.csv").read_text().splitlines()
    assert rle_rows[0] == "subject,img,pixels" and rle_rows[1].startswith("900,1,")
    (tmp_path / "train" / "900_1_mask.tif").unlink()  # the RLE row alone gives the same mask
    assert np.array_equal({c.name: c for c in read_kaggle_nerve(tmp_path)}["900_1.tif"].mask, frames[0].mask)
