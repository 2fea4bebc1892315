"""core.datasets.read_hc18 on a small HC18 tree written in the challenge's own layout and names."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage

from core import geometry
from core.analysis import fetal_biometry as bm
from core.datasets import DatasetError, fill_outline, read_hc18
from core.geometry import Ellipse

SHAPE = (540, 800)  # HC18 frames are 800 wide, 540 high
# name -> (ellipse in pixels, pixel size in mm)
TRAIN = {
    "000_HC.png": (Ellipse(400.0, 270.0, 150.0, 100.0, math.radians(20)), 0.12),
    "001_HC.png": (Ellipse(380.0, 260.0, 200.0, 160.0, math.radians(95)), 0.20),
    "001_2HC.png": (Ellipse(420.0, 280.0, 120.0, 90.0, math.radians(150)), 0.25),
}
TEST = {"002_HC.png": 0.15}


def _frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, SHAPE, dtype=np.uint8)


def _write_tree(root: Path) -> dict[str, np.ndarray]:
    """Write training_set/, test_set/ and both CSVs; return the frames written, by name."""
    (root / "training_set").mkdir(parents=True)
    (root / "test_set").mkdir()
    frames: dict[str, np.ndarray] = {}
    rows = ["filename,pixel size(mm),head circumference (mm)"]
    for i, (name, (ell, px)) in enumerate(TRAIN.items()):
        frames[name] = _frame(i)
        assert cv2.imwrite(str(root / "training_set" / name), frames[name])
        outline = geometry.ellipse_outline(SHAPE, ell)
        ann = name.replace(".png", "_Annotation.png")
        assert cv2.imwrite(str(root / "training_set" / ann), outline)
        rows.append(f"{name},{px},{geometry.ellipse_circumference(ell.a * px, ell.b * px):.2f}")
    (root / "training_set_pixel_size_and_HC.csv").write_text("\n".join(rows) + "\n")
    test_rows = ["filename,pixel size(mm)"]
    for i, (name, px) in enumerate(TEST.items()):
        frames[name] = _frame(100 + i)
        assert cv2.imwrite(str(root / "test_set" / name), frames[name])
        test_rows.append(f"{name},{px}")
    (root / "test_set_pixel_size.csv").write_text("\n".join(test_rows) + "\n")
    return frames


@pytest.fixture
def hc18(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    frames = _write_tree(tmp_path / "hc18")
    return tmp_path / "hc18", frames


def test_reads_every_frame_in_name_order(hc18):
    root, _ = hc18
    names = [c.name for c in read_hc18(root)]
    # training set first, file-name order ('2' sorts before 'H'), then the test set
    assert names == ["000_HC.png", "001_2HC.png", "001_HC.png", "002_HC.png"]


def test_training_cases_carry_image_mask_pixel_size_and_hc(hc18):
    root, frames = hc18
    cases = {c.name: c for c in read_hc18(root, "training_set")}
    assert set(cases) == set(TRAIN)
    for name, (ell, px) in TRAIN.items():
        case = cases[name]
        np.testing.assert_array_equal(case.image, frames[name])
        assert case.image.dtype == np.uint8 and case.image.shape == SHAPE
        assert case.mask is not None
        assert case.mask.dtype == bool and case.mask.shape == SHAPE
        # filled outline, outline included: about pi*a*b plus half the outline
        assert case.mask.sum() == pytest.approx(math.pi * ell.a * ell.b, rel=0.02)
        assert case.mask[int(ell.cy), int(ell.cx)]
        assert case.pixel_size_mm == pytest.approx(px)
        expected_hc = geometry.ellipse_circumference(ell.a * px, ell.b * px)
        assert case.meta["hc_mm"] == pytest.approx(expected_hc, abs=0.005)
        assert case.meta["split"] == "training_set"
        # end to end: the HC measured on the filled annotation matches the CSV
        assert bm.measure_head(case.mask, case.pixel_size_mm).hc_mm == pytest.approx(
            case.meta["hc_mm"], rel=0.005
        )


def test_frames_of_one_exam_share_a_group(hc18):
    root, _ = hc18
    groups = {c.name: c.group for c in read_hc18(root)}
    assert groups == {
        "000_HC.png": "000",
        "001_HC.png": "001",
        "001_2HC.png": "001",
        "002_HC.png": "002",
    }


def test_test_set_has_no_mask_but_a_pixel_size(hc18):
    root, frames = hc18
    (case,) = list(read_hc18(root, "test_set"))
    assert case.name == "002_HC.png"
    assert case.mask is None
    assert case.pixel_size_mm == pytest.approx(0.15)
    assert "hc_mm" not in case.meta
    np.testing.assert_array_equal(case.image, frames["002_HC.png"])


def test_missing_csv_leaves_pixel_size_unknown(hc18):
    root, _ = hc18
    (root / "test_set_pixel_size.csv").unlink()
    (case,) = list(read_hc18(root, "test_set"))
    assert case.pixel_size_mm is None


def test_outline_cut_by_the_border_is_closed(tmp_path):
    # the head runs off the top of the frame: the outline is an open arc
    ell = Ellipse(400.0, 60.0, 180.0, 120.0, math.radians(10))
    outline = geometry.ellipse_outline(SHAPE, ell)
    assert ndimage.binary_fill_holes(outline > 0).sum() == (outline > 0).sum()  # really open
    mask = fill_outline(outline)
    inside = geometry.ellipse_mask(SHAPE, ell)
    assert mask.sum() == pytest.approx(inside.sum(), rel=0.03)
    assert mask[int(ell.cy), int(ell.cx)]
    assert mask[outline > 0].all()  # the annotated pixels stay in the mask

    # and the same through the reader
    root = tmp_path / "cut"
    (root / "training_set").mkdir(parents=True)
    cv2.imwrite(str(root / "training_set" / "010_HC.png"), _frame(7))
    cv2.imwrite(str(root / "training_set" / "010_HC_Annotation.png"), outline)
    (root / "training_set_pixel_size_and_HC.csv").write_text(
        "filename,pixel size(mm),head circumference (mm)\n010_HC.png,0.1,95.0\n"
    )
    (case,) = list(read_hc18(root))
    np.testing.assert_array_equal(case.mask, mask)


def test_fill_outline_of_nothing_is_empty():
    out = fill_outline(np.zeros((20, 30), np.uint8))
    assert out.shape == (20, 30) and not out.any()


def test_a_folder_that_is_not_hc18(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="not an HC18 folder.*training_set"):
        list(read_hc18(tmp_path))
    with pytest.raises(DatasetError, match="not an HC18 folder"):
        list(read_hc18(tmp_path, "test_set"))


def test_a_split_without_frames(tmp_path):
    (tmp_path / "training_set").mkdir()
    (tmp_path / "training_set" / "notes.txt").write_text("nothing here")
    with pytest.raises(DatasetError, match="no frames named like 001_HC.png"):
        list(read_hc18(tmp_path))


def test_a_csv_without_filename_column(hc18):
    root, _ = hc18
    (root / "test_set_pixel_size.csv").write_text("name,pixel size(mm)\n002_HC.png,0.15\n")
    with pytest.raises(DatasetError, match="'filename' column"):
        list(read_hc18(root, "test_set"))


def test_an_unknown_split_is_a_dataset_error(hc18):
    root, _ = hc18
    (root / "validation_set").mkdir()
    with pytest.raises(DatasetError, match="training_set"):
        list(read_hc18(root, "validation_set"))


# ---------------------------------------------------------------- the bundled REAL HC18 frames
REAL = Path(__file__).resolve().parents[3] / "data_samples" / "fetal_head"


def test_the_bundled_real_hc18_frames_read_with_their_csv_rows():
    rows = {r["filename"]: r for r in csv.DictReader((REAL / "training_set_pixel_size_and_HC.csv").open())}
    cases = list(read_hc18(REAL))
    assert [c.name for c in cases] == ["016_HC.png", "185_HC.png", "404_2HC.png", "404_HC.png", "648_HC.png",
                                       "710_HC.png"]
    assert [c.group for c in cases] == ["016", "185", "404", "404", "648", "710"]
    bands = {"early": 0, "mid": 0, "late": 0}
    for c in cases:
        assert c.image.shape == (540, 800) and c.image.dtype == np.uint8
        assert c.image.std() > 10  # real speckle, not a blank
        assert c.pixel_size_mm == pytest.approx(float(rows[c.name]["pixel size(mm)"]))
        assert c.meta["hc_mm"] == pytest.approx(float(rows[c.name]["head circumference (mm)"]))
        # the copy's annotations are FILLED ellipses (3-channel PNG): read as a head mask
        assert c.mask.dtype == bool and 0.01 < c.mask.mean() < 0.6
        # the sonographer's ellipse: the filled mask measures within 1% of the CSV's HC
        assert bm.measure_head(c.mask, c.pixel_size_mm).hc_mm == pytest.approx(c.meta["hc_mm"], rel=0.01)
        bands["early" if c.meta["hc_mm"] < 100 else "mid" if c.meta["hc_mm"] < 200 else "late"] += 1
    assert all(bands.values())  # small, mid and late heads
    assert "CC BY 4.0" in (REAL / "README.md").read_text()
