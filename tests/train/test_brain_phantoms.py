"""Tests for the brain MRI phantoms (train/phantoms/brain_mri.py) and their DICOM series writer
(train/phantoms/dicom_series.py): determinism, BraTS labels, and round trips through core's readers."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.datasets import read_nifti_pairs
from core.io.volume import WrongModalityError, load_volume
from train.phantoms.brain_mri import (
    IN_PLANE,
    LABELS,
    BrainPhantom,
    procedural_case,
    real_slice,
    real_slice_case,
    write_dataset,
)
from train.phantoms.dicom_series import series_zip


def small(seed: int, name: str = "case", slices: int = 6, **kw) -> BrainPhantom:
    return procedural_case(np.random.default_rng(seed), name, slices=slices, **kw)


@pytest.fixture(scope="module")
def necrotic() -> BrainPhantom:
    # 14 slices: a tumour centre must lie 6 voxels deep inside the brain, also along the slice axis
    return small(0, "necrotic", slices=14, tumours=1, kind="necrotic")


# ---------------------------------------------------------------- procedural volumes
def test_procedural_case_is_deterministic_by_seed():
    a, b, other = small(7), small(7), small(8)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.label, b.label)
    assert a.spacing_mm == b.spacing_mm
    assert not np.array_equal(a.image, other.image)


def test_procedural_case_types_shapes_and_spacing():
    ph = small(3, "p3")
    assert ph.name == "p3" and ph.source == "procedural"
    assert ph.image.dtype == np.uint16 and ph.label.dtype == np.uint8
    assert ph.image.shape == ph.label.shape == (6, IN_PLANE, IN_PLANE)
    z, row, col = ph.spacing_mm
    assert 3.0 <= z <= 5.0 and 0.85 <= row <= 1.0 and row == col
    assert ph.image.max() > 0 and ph.image[:, :5, :5].mean() < ph.image.mean()  # air in the corners


def test_labels_are_brats_values(necrotic):
    assert set(np.unique(necrotic.label)) <= {0, 1, 2, 4}
    assert set(np.unique(small(5).label)) <= {0, 1, 2, 4}
    np.testing.assert_array_equal(necrotic.tumour, necrotic.label > 0)


def test_no_tumour_requested_gives_empty_label():
    ph = small(4, tumours=0)
    assert not ph.label.any() and not ph.tumour.any()


def test_necrotic_tumour_has_core_and_enhancing_rim(necrotic):
    values = set(np.unique(necrotic.label))
    assert {1, 4} <= values  # necrotic core and enhancing rim
    assert 2 in values  # oedema around it
    rim, core = necrotic.label == 4, necrotic.label == 1
    img = necrotic.image.astype(np.float64)
    assert img[rim].mean() > 1.5 * img[core].mean()  # T1 post-contrast: bright rim, dark core


def test_tumour_lies_inside_the_head(necrotic):
    img, tumour = necrotic.image.astype(np.float64), necrotic.tumour
    air = img[:, :8, :8]  # corners of every slice are outside the head
    assert tumour.sum() > 100
    assert np.percentile(img[tumour], 1) > air.max()
    rows, cols = np.nonzero(tumour.any(axis=0))
    assert rows.min() > 20 and cols.min() > 20 and rows.max() < IN_PLANE - 20 and cols.max() < IN_PLANE - 20


def test_tumour_kind_does_not_change_the_anatomy(necrotic):
    solid = small(0, "solid", slices=14, tumours=1, kind="solid")
    np.testing.assert_array_equal(solid.tumour, necrotic.tumour)  # same rng draws whatever ``kind``
    assert 1 not in np.unique(solid.label) and 4 in np.unique(solid.label)


# ---------------------------------------------------------------- the real slice
def test_real_slice_case_shape_and_spacing():
    ph = real_slice_case(np.random.default_rng(1), "r1")
    assert ph.image.shape == ph.label.shape == (1, 256, 256)
    assert ph.spacing_mm == (5.0, 0.94, 0.94)
    assert ph.image.dtype == np.uint16 and ph.source == "s1045"
    assert set(np.unique(ph.label)) <= {0, 1, 2, 4}


def test_real_slice_brain_mask_is_plausible_and_read_only():
    img, mask = real_slice()
    assert img.shape == mask.shape == (256, 256)
    assert mask.dtype == np.bool_ and 5_000 < mask.sum() < 20_000
    assert np.percentile(img, 99.5) == pytest.approx(1.0)
    assert img[mask].mean() > 2 * img[~mask].mean()
    with pytest.raises(ValueError):
        mask[0, 0] = True
    with pytest.raises(ValueError):
        img[0, 0] = 0.0
    assert real_slice()[1] is mask  # cached: one shared, read-only copy


def test_real_slice_case_tumour_stays_inside_the_brain():
    _, brain = real_slice()
    for seed in range(4):
        ph = real_slice_case(np.random.default_rng(seed), f"r{seed}")
        tumour = ph.tumour[0]
        mirrored = brain[:, ::-1]
        assert not (tumour & ~brain).any() or not (tumour & ~mirrored).any()


# ---------------------------------------------------------------- writers and core's readers
def test_write_dataset_round_trip(tmp_path):
    phantoms = [small(11, "head_a", slices=4, tumours=0),
                real_slice_case(np.random.default_rng(2), "slice_b")]
    names = write_dataset(tmp_path, iter(phantoms))
    assert names == ["head_a", "slice_b"]
    info = json.loads((tmp_path / "dataset.json").read_text())
    assert info["numTraining"] == 2 and "synthetic" in info["description"]
    cases = {c.name: c for c in read_nifti_pairs(tmp_path)}
    assert set(cases) == {"head_a", "slice_b"}
    for ph in phantoms:
        case = cases[ph.name]
        np.testing.assert_array_equal(case.volume.voxels, ph.image.astype(np.float32))
        np.testing.assert_array_equal(case.label, ph.label)
        assert case.volume.spacing_mm == pytest.approx(ph.spacing_mm, abs=1e-3)
        assert case.label_names == LABELS


def test_write_dataset_round_trip_with_generator_names(tmp_path):
    names = [f"brain_9001_{i:04d}" for i in range(2)]  # the names generate(n, 9001) gives
    write_dataset(tmp_path, (small(20 + i, n, slices=4, tumours=0) for i, n in enumerate(names)))
    cases = list(read_nifti_pairs(tmp_path))
    assert [c.name for c in cases] == names
    assert all(c.label is not None for c in cases)


def test_series_zip_loads_as_the_same_mr_volume():
    ph = small(12, slices=4, tumours=0)
    data = series_zip(ph.image, ph.spacing_mm, seed="test")
    vol = load_volume(data, name="series.zip", expect_modality="MR")
    assert vol.voxels.shape == ph.image.shape
    np.testing.assert_array_equal(vol.voxels, ph.image.astype(np.float32))
    assert vol.spacing_mm == pytest.approx(ph.spacing_mm, abs=1e-3)
    assert series_zip(ph.image, ph.spacing_mm, seed="test") == data  # reproducible bytes
    with pytest.raises(WrongModalityError):
        load_volume(data, expect_modality="CT")
