"""The LGG kaggle_3m reader on tiny TIFFs written in that layout (both compressions, odd files)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from core.datasets import (
    FLAIR,
    SEQUENCES,
    DatasetError,
    DatasetLayoutError,
    detect_layout,
    read_cases,
    read_kaggle_3m,
    read_kaggle_3m_volumes,
)

H, W = 12, 16


def slice_image(patient: int, n: int) -> np.ndarray:
    """A recognisable HxWx3 slice: channel c holds 10*c + n + patient everywhere."""
    return np.stack([np.full((H, W), 10 * c + n + patient, np.uint8) for c in range(3)], axis=-1)


def slice_mask(n: int) -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    mask[: n % 4, :n] = 255  # n pixels wide, n % 4 rows: slice 4, 8 ... have none
    return mask


def write_patient(root: Path, name: str, numbers: list[int], *, patient: int = 0,
                  compression: str | None = "zlib", no_mask: tuple[int, ...] = ()) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for n in numbers:  # written in the given order: the reader must sort by number
        tifffile.imwrite(folder / f"{name}_{n}.tif", slice_image(patient, n), compression=compression)
        if n not in no_mask:
            tifffile.imwrite(folder / f"{name}_{n}_mask.tif", slice_mask(n), compression=compression)
    return folder


@pytest.fixture()
def lgg(tmp_path: Path) -> Path:
    """``tmp/lgg/kaggle_3m/`` with two patients: one deflate-compressed, one uncompressed."""
    base = tmp_path / "lgg" / "kaggle_3m"
    write_patient(base, "TCGA_AA_0001_20000101", [10, 2, 1, 11, 3], patient=0, compression="zlib")
    write_patient(base, "TCGA_BB_0002_20000202", [2, 1], patient=100, compression=None)
    (base / "data.csv").write_text("Patient,death01\nTCGA_AA_0001,0\n")
    return tmp_path / "lgg"


def test_both_compressions_are_read_in_numeric_slice_order(lgg: Path) -> None:
    cases = list(read_kaggle_3m(lgg))
    assert [c.name for c in cases] == [
        "TCGA_AA_0001_20000101_1.tif", "TCGA_AA_0001_20000101_2.tif", "TCGA_AA_0001_20000101_3.tif",
        "TCGA_AA_0001_20000101_10.tif", "TCGA_AA_0001_20000101_11.tif",
        "TCGA_BB_0002_20000202_1.tif", "TCGA_BB_0002_20000202_2.tif"]
    assert [c.group for c in cases] == ["TCGA_AA_0001_20000101"] * 5 + ["TCGA_BB_0002_20000202"] * 2
    for c in cases:
        patient = 100 if c.group.startswith("TCGA_BB") else 0
        n = c.meta["slice"]
        assert c.image.shape == (H, W, 3) and c.image.dtype == np.uint8
        np.testing.assert_array_equal(c.image, slice_image(patient, n))
        assert c.mask.dtype == bool and c.mask.sum() == (n % 4) * n
        assert c.pixel_size_mm is None and c.meta["sequences"] == SEQUENCES


def test_detect_from_the_parent_the_kaggle_3m_folder_or_one_patient(lgg: Path) -> None:
    for path, n in ((lgg, 7), (lgg / "kaggle_3m", 7), (lgg / "kaggle_3m" / "TCGA_BB_0002_20000202", 2)):
        guess = detect_layout(path)
        assert (guess.layout, guess.task) == ("kaggle_3m", "brain_tumor")
        assert (guess.n_cases, guess.n_labelled) == (n, n)
        assert any("not in the kaggle_3m files" in w for w in guess.warnings)
        assert len(list(read_cases(guess))) == n
    one = list(read_kaggle_3m(lgg / "kaggle_3m" / "TCGA_BB_0002_20000202"))
    assert [c.meta["slice"] for c in one] == [1, 2]


def test_a_missing_mask_is_a_warning_and_a_case_without_mask(tmp_path: Path) -> None:
    write_patient(tmp_path / "kaggle_3m", "TCGA_CC_0003_20010101", [1, 2, 3], no_mask=(2,))
    guess = detect_layout(tmp_path)
    assert (guess.n_cases, guess.n_labelled) == (3, 2)
    assert any("1 of 3 slices have no _mask.tif" in w and "TCGA_CC_0003_20010101_2.tif" in w
               for w in guess.warnings)
    masks = [c.mask for c in read_cases(guess)]
    assert masks[1] is None and masks[0] is not None and masks[2] is not None
    vol = next(read_kaggle_3m_volumes(tmp_path))
    assert vol.label is None and vol.volume.voxels.shape == (3, H, W)


def test_no_mask_at_all_is_refused(tmp_path: Path) -> None:
    write_patient(tmp_path / "kaggle_3m", "TCGA_CC_0003_20010101", [1, 2], no_mask=(1, 2))
    with pytest.raises(DatasetLayoutError, match="no <patient>_<n>_mask.tif: nothing to score"):
        detect_layout(tmp_path)


def test_an_empty_patient_folder_is_a_warning(lgg: Path) -> None:
    (lgg / "kaggle_3m" / "TCGA_DD_0004_20020202").mkdir()
    guess = detect_layout(lgg)
    assert any("1 empty patient folder(s), skipped: TCGA_DD_0004_20020202" in w for w in guess.warnings)
    assert len(list(read_cases(guess))) == 7
    assert [v.name for v in read_kaggle_3m_volumes(lgg)] == ["TCGA_AA_0001_20000101", "TCGA_BB_0002_20000202"]


@pytest.mark.parametrize(("bad", "message"), [
    (np.zeros((H, W), np.uint8), r"expected a 3-channel 8-bit slice .* got shape \(12, 16\)"),
    (np.zeros((H, W, 4), np.uint8), r"expected a 3-channel 8-bit slice .*\(RGBA\)"),
])
def test_a_slice_that_is_not_3_channel_uint8_is_a_dataset_error(tmp_path: Path, bad: np.ndarray,
                                                                  message: str) -> None:
    folder = write_patient(tmp_path, "TCGA_EE_0005_20030303", [1, 2])
    tifffile.imwrite(folder / "TCGA_EE_0005_20030303_2.tif", bad)
    with pytest.raises(DatasetError, match=message):
        list(read_kaggle_3m(tmp_path))


def test_odd_masks_and_sizes_are_dataset_errors(tmp_path: Path) -> None:
    folder = write_patient(tmp_path, "TCGA_EE_0005_20030303", [1, 2])
    mask = folder / "TCGA_EE_0005_20030303_1_mask.tif"
    tifffile.imwrite(mask, np.full((H, W), 7, np.uint8))
    with pytest.raises(DatasetError, match="holds 0 and 255 only; found 7"):
        list(read_kaggle_3m(tmp_path))
    with pytest.raises(DatasetLayoutError, match="looks like the kaggle_3m layout, but .* 0 and 255 only"):
        detect_layout(tmp_path)
    tifffile.imwrite(mask, np.zeros((H + 1, W), np.uint8))
    with pytest.raises(DatasetError, match="the mask is 16x13 px but its slice is 16x12 px"):
        list(read_kaggle_3m(tmp_path))
    slice2 = folder / "TCGA_EE_0005_20030303_2.tif"
    tifffile.imwrite(mask, slice_mask(1))
    tifffile.imwrite(slice2, np.zeros((H, W + 2, 3), np.uint8))
    tifffile.imwrite(folder / "TCGA_EE_0005_20030303_2_mask.tif", np.zeros((H, W + 2), np.uint8))
    with pytest.raises(DatasetError, match="18x12 px, unlike the patient's other slices"):
        list(read_kaggle_3m(tmp_path))
    with pytest.raises(DatasetError, match="cannot be stacked"):
        list(read_kaggle_3m_volumes(tmp_path))
    slice2.write_bytes(b"not an image at all")
    with pytest.raises(DatasetError, match="cannot be read as a kaggle_3m slice"):
        list(read_kaggle_3m(tmp_path))


def test_patients_become_volumes_in_slice_order_with_unknown_spacing(lgg: Path) -> None:
    vols = list(read_kaggle_3m_volumes(lgg))
    assert [v.name for v in vols] == ["TCGA_AA_0001_20000101", "TCGA_BB_0002_20000202"]
    v = vols[0]
    order = [1, 2, 3, 10, 11]
    assert v.meta["slices"] == tuple(order) and v.meta["sequence"] == "FLAIR"
    assert v.meta["channels"] == {0: "pre-contrast", 1: "FLAIR", 2: "post-contrast"}
    assert v.volume.spacing_mm is None and v.volume.voxel_volume_ml is None
    assert "not in the kaggle_3m files" in v.meta["spacing"]
    assert any("not in the kaggle_3m files" in n for n in v.volume.meta["notes"])
    assert v.volume.voxels.shape == (5, H, W)
    np.testing.assert_array_equal(v.volume.voxels[:, 0, 0], [10 * FLAIR + n for n in order])
    for c, seq in enumerate(SEQUENCES):
        np.testing.assert_array_equal(v.meta["sequences"][seq].voxels[:, 0, 0], [10 * c + n for n in order])
    assert v.label.shape == (5, H, W) and [int(v.label[z].sum()) for z in range(5)] == [1, 4, 9, 20, 33]
    pre = next(read_kaggle_3m_volumes(lgg, names={"TCGA_BB_0002_20000202"}, channel=0))
    assert pre.name == "TCGA_BB_0002_20000202" and pre.meta["sequence"] == "pre-contrast"
    np.testing.assert_array_equal(pre.volume.voxels[:, 0, 0], [101, 102])


def test_a_folder_without_patients_is_not_kaggle_3m(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a_1.tif").write_bytes(b"x")  # a_1.tif is not named after its folder
    with pytest.raises(DatasetError, match="no kaggle_3m patient folders"):
        list(read_kaggle_3m(tmp_path))
    with pytest.raises(DatasetError, match="no kaggle_3m patient folders"):
        list(read_kaggle_3m_volumes(tmp_path))
