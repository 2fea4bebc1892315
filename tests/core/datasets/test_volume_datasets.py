"""Tests for core.datasets.nifti_pairs: MSD / nnU-Net / BraTS NIfTI layouts read as VolumeCase objects."""
from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from core.datasets import Case, DatasetError, read_labelled
from core.datasets.nifti_pairs import (
    BRATS_LABELS,
    VolumeCase,
    nifti_pair_files,
    nifti_pair_slices,
    read_nifti_pairs,
)
from core.io.nifti import write_nifti
from core.io.volume_types import display_affine
from core.windowing import VOLUME_WINDOW, window_sequences

SPACING = (3.0, 0.5, 0.75)
SHAPE = (4, 5, 6)  # display (Z, H, W)
MODALITY = {"0": "T1w", "1": "t1gd", "2": "FLAIR", "3": "T2w"}  # FLAIR wins, though t1gd comes first


def image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 500, SHAPE).astype(np.float32)


def label(seed: int = 0) -> np.ndarray:
    lab = np.zeros(SHAPE, np.uint8)
    rng = np.random.default_rng(seed)
    lab[1:3, 1:4, 2:5] = rng.choice([1, 2, 4], (2, 3, 3))
    return lab


def write_json(root: Path, **info) -> None:
    (root / "dataset.json").write_text(json.dumps(info))


def write_pair(root: Path, name: str, img: np.ndarray, lab: np.ndarray | None, split: str = "Tr") -> None:
    (root / f"images{split}").mkdir(parents=True, exist_ok=True)
    write_nifti(root / f"images{split}" / f"{name}.nii.gz", img, SPACING)
    if lab is not None:
        (root / f"labels{split}").mkdir(parents=True, exist_ok=True)
        write_nifti(root / f"labels{split}" / f"{name}.nii.gz", lab, SPACING, dtype=np.uint8)


# ---------------------------------------------------------------- MSD / nnU-Net
def test_msd_layout_reads_images_labels_and_label_names(tmp_path):
    write_pair(tmp_path, "BRATS_002", image(2), label(2))
    write_pair(tmp_path, "BRATS_001", image(1), label(1))
    write_json(tmp_path, labels={"0": "background", "1": "edema", "2": "non-enhancing", "3": "enhancing"})
    cases = list(read_nifti_pairs(tmp_path))
    assert [c.name for c in cases] == ["BRATS_001", "BRATS_002"]  # sorted
    c = cases[0]
    assert isinstance(c, VolumeCase)
    np.testing.assert_array_equal(c.volume.voxels, image(1))
    np.testing.assert_array_equal(c.label, label(1))
    assert c.label.dtype == np.uint8
    assert c.volume.spacing_mm == pytest.approx(SPACING)
    assert c.label_names == {0: "background", 1: "edema", 2: "non-enhancing", 3: "enhancing"}
    np.testing.assert_array_equal(c.tumour, label(1) > 0)
    assert c.meta["image_file"] == "BRATS_001.nii.gz"


def test_msd_without_dataset_json_uses_brats_label_names(tmp_path):
    write_pair(tmp_path, "a", image(), label())
    (case,) = read_nifti_pairs(tmp_path)
    assert case.label_names == BRATS_LABELS


def test_msd_test_split_is_unlabelled(tmp_path):
    write_pair(tmp_path, "train", image(1), label(1))
    write_pair(tmp_path, "test", image(2), None, split="Ts")
    (case,) = read_nifti_pairs(tmp_path, split="Ts")
    assert case.name == "test" and case.label is None and case.tumour is None
    np.testing.assert_array_equal(case.volume.voxels, image(2))


def test_msd_image_without_label_is_unlabelled(tmp_path):
    write_pair(tmp_path, "a", image(1), label(1))
    write_pair(tmp_path, "b", image(2), None)
    cases = {c.name: c for c in read_nifti_pairs(tmp_path)}
    assert cases["a"].label is not None and cases["b"].label is None


def test_nnunet_per_channel_files_pick_the_flair_channel(tmp_path):
    (tmp_path / "imagesTr").mkdir()
    for ch in range(4):  # channel k is filled with 10 (k + 1) so the one read is visible
        write_nifti(tmp_path / "imagesTr" / f"BRATS_001_{ch:04d}.nii.gz", np.full(SHAPE, 10.0 * (ch + 1)),
                    SPACING)
    (tmp_path / "labelsTr").mkdir()
    write_nifti(tmp_path / "labelsTr" / "BRATS_001.nii.gz", label(), SPACING, dtype=np.uint8)
    write_json(tmp_path, modality=MODALITY)
    files = nifti_pair_files(tmp_path)
    assert [(n, img.name, lab.name if lab else None, ch) for n, img, lab, ch in files] == [
        ("BRATS_001", "BRATS_001_0002.nii.gz", "BRATS_001.nii.gz", 0)]
    (case,) = read_nifti_pairs(tmp_path)
    assert case.name == "BRATS_001"
    np.testing.assert_array_equal(case.volume.voxels, np.full(SHAPE, 30.0))
    np.testing.assert_array_equal(case.label, label())


def test_nnunet_v2_channel_names_key_is_read_too(tmp_path):
    (tmp_path / "imagesTr").mkdir()
    for ch in range(2):
        write_nifti(tmp_path / "imagesTr" / f"X_{ch:04d}.nii.gz", np.full(SHAPE, 10.0 * (ch + 1)), SPACING)
    write_json(tmp_path, channel_names={"0": "T1", "1": "T1ce"})
    (case,) = read_nifti_pairs(tmp_path)
    assert case.volume.voxels.max() == 20.0  # no FLAIR: the post-contrast T1


def test_msd_4d_image_picks_channel_by_dataset_json(tmp_path):
    channels = [np.full(SHAPE, 10.0 * (ch + 1)) + image(ch) for ch in range(4)]
    data = np.stack([c.transpose(2, 1, 0) for c in channels], axis=-1).astype(np.float32)  # X, Y, Z, C
    affine = display_affine(SHAPE, SPACING)
    (tmp_path / "imagesTr").mkdir()
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "imagesTr" / "BRATS_007.nii.gz")
    (tmp_path / "labelsTr").mkdir()
    write_nifti(tmp_path / "labelsTr" / "BRATS_007.nii.gz", label(), SPACING, dtype=np.uint8)
    write_json(tmp_path, modality=MODALITY)
    (case,) = read_nifti_pairs(tmp_path)
    assert case.meta["channel"] == 2
    np.testing.assert_array_equal(case.volume.voxels, channels[2])
    np.testing.assert_array_equal(case.label, label())


def test_4d_image_without_dataset_json_uses_channel_0(tmp_path):
    channels = [np.full(SHAPE, 10.0 * (ch + 1)) for ch in range(3)]
    data = np.stack([c.transpose(2, 1, 0) for c in channels], axis=-1).astype(np.float32)
    (tmp_path / "imagesTr").mkdir()
    nib.save(nib.Nifti1Image(data, display_affine(SHAPE, SPACING)), tmp_path / "imagesTr" / "c.nii.gz")
    (case,) = read_nifti_pairs(tmp_path)
    assert case.volume.voxels.max() == 10.0


def test_msd_case_names_ending_in_four_digits_are_not_channels(tmp_path):
    write_pair(tmp_path, "patient_0000", image(1), label(1))
    write_pair(tmp_path, "patient_0001", image(2), label(2))
    cases = list(read_nifti_pairs(tmp_path))
    assert [c.name for c in cases] == ["patient_0000", "patient_0001"]
    assert all(c.label is not None for c in cases)


def test_hidden_appledouble_files_are_ignored(tmp_path):
    write_pair(tmp_path, "BRATS_001", image(1), label(1))
    junk = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(4000)  # AppleDouble header
    (tmp_path / "imagesTr" / "._BRATS_001.nii.gz").write_bytes(junk)
    (tmp_path / "labelsTr" / "._BRATS_001.nii.gz").write_bytes(junk)
    assert [c.name for c in read_nifti_pairs(tmp_path)] == ["BRATS_001"]


# ---------------------------------------------------------------- BraTS
def test_brats_2020_case_folders(tmp_path):
    for name, seed in (("BraTS20_Training_001", 1), ("BraTS20_Training_002", 2)):
        folder = tmp_path / name
        folder.mkdir()
        write_nifti(folder / f"{name}_flair.nii.gz", image(seed + 10), SPACING)
        write_nifti(folder / f"{name}_t1.nii.gz", image(seed + 20), SPACING)
        write_nifti(folder / f"{name}_t1ce.nii.gz", image(seed), SPACING)
        write_nifti(folder / f"{name}_seg.nii.gz", label(seed), SPACING, dtype=np.uint8)
    cases = list(read_nifti_pairs(tmp_path))
    assert [c.name for c in cases] == ["BraTS20_Training_001", "BraTS20_Training_002"]
    np.testing.assert_array_equal(cases[1].volume.voxels, image(12))  # the flair, not t1ce or t1
    np.testing.assert_array_equal(cases[1].label, label(2))
    assert cases[1].meta["image_file"] == "BraTS20_Training_002_flair.nii.gz"
    assert cases[0].label_names == BRATS_LABELS


def test_brats_2023_names(tmp_path):
    name = "BraTS-GLI-00000-000"
    folder = tmp_path / name
    folder.mkdir()
    for seq, seed in (("t1n", 5), ("t2f", 6), ("t2w", 7), ("t1c", 3)):
        write_nifti(folder / f"{name}-{seq}.nii.gz", image(seed), SPACING)
    write_nifti(folder / f"{name}-seg.nii.gz", label(3), SPACING, dtype=np.uint8)
    (case,) = read_nifti_pairs(tmp_path)
    assert case.name == name
    np.testing.assert_array_equal(case.volume.voxels, image(6))  # t2f: FLAIR
    np.testing.assert_array_equal(case.label, label(3))


def test_brats_folder_without_flair_or_post_contrast_is_skipped(tmp_path):
    (tmp_path / "A").mkdir()
    write_nifti(tmp_path / "A" / "A_t1.nii.gz", image(), SPACING)
    (tmp_path / "B").mkdir()
    write_nifti(tmp_path / "B" / "B_t1ce.nii.gz", image(), SPACING)  # no FLAIR: the post-contrast T1
    (tmp_path / "C").mkdir()
    write_nifti(tmp_path / "C" / "C_flair.nii.gz", image(), SPACING)
    assert [c.name for c in read_nifti_pairs(tmp_path)] == ["B", "C"]


# ---------------------------------------------------------------- errors
def test_label_on_a_different_grid_raises(tmp_path):
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    write_nifti(tmp_path / "imagesTr" / "a.nii.gz", image(), SPACING)
    write_nifti(tmp_path / "labelsTr" / "a.nii.gz", np.zeros((4, 5, 7), np.uint8), SPACING, dtype=np.uint8)
    with pytest.raises(DatasetError, match="grid"):
        list(read_nifti_pairs(tmp_path))


def test_label_with_a_different_spacing_raises(tmp_path):
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    write_nifti(tmp_path / "imagesTr" / "a.nii.gz", image(), SPACING)
    write_nifti(tmp_path / "labelsTr" / "a.nii.gz", label(), (1.0, 0.5, 0.75), dtype=np.uint8)
    with pytest.raises(DatasetError, match="affine"):
        list(read_nifti_pairs(tmp_path))


def test_empty_or_missing_folder_raises(tmp_path):
    with pytest.raises(DatasetError, match="no NIfTI cases"):
        list(read_nifti_pairs(tmp_path))
    with pytest.raises(DatasetError, match="no NIfTI cases"):
        list(read_nifti_pairs(tmp_path / "does_not_exist"))


# ---------------------------------------------------------------- 2-D slices
def test_nifti_pair_slices_one_case_per_slice(tmp_path):
    write_pair(tmp_path, "vol_a", image(1), label(1))
    write_pair(tmp_path, "vol_b", image(2), label(2))
    write_pair(tmp_path, "vol_c", image(3), None)  # unlabelled: no slices
    cases = list(nifti_pair_slices(tmp_path))
    assert len(cases) == 2 * SHAPE[0]
    window = VOLUME_WINDOW  # the brain models' window, as the lab must feed them
    windowed = window_sequences(image(2), window)
    for z, case in enumerate(cases[SHAPE[0]:]):
        assert isinstance(case, Case)
        assert case.name == f"vol_b_z{z:03d}"
        assert case.group == "vol_b"
        assert (case.meta["slice"], case.meta["window"]) == (z, window)
        before, after = case.meta["neighbours"]  # for a model that reads them: the end slice past either end
        np.testing.assert_array_equal(before, windowed[max(z - 1, 0)])
        np.testing.assert_array_equal(after, windowed[min(z + 1, SHAPE[0] - 1)])
        assert case.image.dtype == np.uint8 and case.image.shape == SHAPE[1:]
        np.testing.assert_array_equal(case.image, windowed[z])  # windowed per volume
        assert case.mask.dtype == np.bool_
        np.testing.assert_array_equal(case.mask, label(2)[z] > 0)
        assert case.pixel_size_mm == pytest.approx((SPACING[1] + SPACING[2]) / 2)
    assert {c.group for c in cases} == {"vol_a", "vol_b"}


def test_read_labelled_nifti_pairs_layout(tmp_path):
    write_pair(tmp_path, "vol_a", image(1), label(1))
    cases = list(read_labelled("nifti_pairs", tmp_path))
    assert [c.name for c in cases] == [f"vol_a_z{z:03d}" for z in range(SHAPE[0])]
    assert sum(int(c.mask.sum()) for c in cases) == int((label(1) > 0).sum())
