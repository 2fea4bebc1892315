"""read_kaggle_nerve on temporary trees in the exact Kaggle 2016 layout."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.datasets import DatasetError, read_kaggle_nerve
from core.rle import rle_encode

H, W = 420, 580


def _frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (H, W), dtype=np.uint8)


def _mask(row: int, col: int) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    if row >= 0:
        cv2.ellipse(m, (col, row), (40, 25), 0, 0, 360, 255, -1)
    return m


@pytest.fixture()
def kaggle(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    train, test = tmp_path / "train", tmp_path / "test"
    train.mkdir()
    test.mkdir()
    masks = {"1_1.tif": _mask(200, 300), "1_2.tif": _mask(-1, 0), "1_10.tif": _mask(210, 310),
             "2_1.tif": _mask(150, 100)}
    rows = []
    for i, (name, m) in enumerate(masks.items()):
        assert cv2.imwrite(str(train / name), _frame(i))
        assert cv2.imwrite(str(train / name.replace(".tif", "_mask.tif")), m)
        subject, img = name[:-4].split("_")
        rows.append((subject, img, rle_encode(m)))
    with (tmp_path / "train_masks.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([("subject", "img", "pixels"), *rows])
    for k in (1, 2):
        assert cv2.imwrite(str(test / f"{k}.tif"), _frame(10 + k))
    return tmp_path, masks


def test_train_cases_in_subject_then_frame_order(kaggle):
    root, masks = kaggle
    cases = list(read_kaggle_nerve(root))
    assert [c.name for c in cases] == ["1_1.tif", "1_2.tif", "1_10.tif", "2_1.tif"]
    assert [c.group for c in cases] == ["1", "1", "1", "2"]
    assert [c.meta["frame"] for c in cases] == [1, 2, 10, 1]
    for c in cases:
        assert c.image.shape == (H, W) and c.image.dtype == np.uint8
        assert np.array_equal(c.mask, masks[c.name] > 0)
    assert not cases[1].mask.any()  # an empty mask stays empty, not None


def test_masks_fall_back_to_the_csv(kaggle):
    root, masks = kaggle
    for p in (root / "train").glob("*_mask.tif"):
        p.unlink()
    cases = list(read_kaggle_nerve(root))
    assert all(np.array_equal(c.mask, masks[c.name] > 0) for c in cases)


def test_test_split_has_no_masks(kaggle):
    root, _ = kaggle
    cases = list(read_kaggle_nerve(root, "test"))
    assert [c.name for c in cases] == ["1.tif", "2.tif"]
    assert all(c.mask is None and c.group == "" for c in cases)


def test_wrong_folder_and_split_are_clear_errors(tmp_path, kaggle):
    root, _ = kaggle
    with pytest.raises(DatasetError, match="Kaggle nerve layout"):
        list(read_kaggle_nerve(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match="'train' or 'test'"):
        list(read_kaggle_nerve(root, "validation"))
    (root / "train_masks.csv").write_text("a,b\n1,2\n")
    for p in (root / "train").glob("*_mask.tif"):
        p.unlink()
    with pytest.raises(DatasetError, match="subject,img,pixels"):
        list(read_kaggle_nerve(root))
