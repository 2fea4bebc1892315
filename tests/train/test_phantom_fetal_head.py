"""train.phantoms.fetal_head: synthetic HC18 frames with exact ground truth lined up with the skull."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.analysis.fetal_biometry import measure_head
from core.datasets import fill_outline, read_hc18
from core.geometry import ellipse_circumference
from train.phantoms.fetal_head import FetalHeadPhantom, generate, main, make_phantom, write_hc18

SHAPE = (540, 800)
SEED = 7


@pytest.fixture(scope="module")
def phantoms() -> list[FetalHeadPhantom]:
    return list(generate(8, seed=SEED))


def _read_csv(path: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = {r["filename"]: r for r in reader}
        return list(reader.fieldnames or []), rows


def test_shapes_and_dtypes(phantoms):
    for p in phantoms:
        assert p.image.shape == SHAPE and p.image.dtype == np.uint8
        assert p.outline.shape == SHAPE and p.outline.dtype == np.uint8
        assert set(np.unique(p.outline)) == {0, 255}
        assert p.mask.shape == SHAPE and p.mask.dtype == bool
        np.testing.assert_array_equal(p.mask, fill_outline(p.outline))


def test_generate_is_deterministic_and_each_case_reproducible_alone(phantoms):
    again = list(generate(3, seed=SEED))
    for a, b in zip(phantoms[:3], again):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.outline, b.outline)
    alone = make_phantom(np.random.default_rng([SEED, 2]))
    np.testing.assert_array_equal(alone.image, phantoms[2].image)
    assert alone.ellipse == phantoms[2].ellipse
    assert not np.array_equal(phantoms[0].image, phantoms[1].image)
    assert not np.array_equal(next(generate(1, seed=SEED + 1)).image, phantoms[0].image)


def test_sizes_follow_hc18_and_intergrowth_ranges(phantoms):
    for p in phantoms:
        assert 0.052 <= p.pixel_size_mm <= 0.326
        assert 14.0 <= p.ga_weeks <= 40.0
        assert 0.70 <= p.ellipse.b / p.ellipse.a <= 0.90
        e = p.ellipse
        assert p.hc_mm == pytest.approx(ellipse_circumference(e.a * p.pixel_size_mm, e.b * p.pixel_size_mm))
        assert 60.0 < p.hc_mm < 400.0  # INTERGROWTH-21st +-3 SD over 14-40 weeks


def test_hc_measured_from_the_annotation_matches(phantoms):
    for p in phantoms:
        measured = measure_head(fill_outline(p.outline), p.pixel_size_mm).hc_mm
        assert measured == pytest.approx(p.hc_mm, rel=0.005)


def test_head_lies_inside_the_image_and_the_fan(phantoms):
    for p in phantoms:
        ys, xs = np.nonzero(p.mask)
        assert ys.min() > 0 and xs.min() > 0 and ys.max() < SHAPE[0] - 1 and xs.max() < SHAPE[1] - 1
        # Outside the fan the frame is exactly black; the sector is convex, so its hull is the fan.
        fan = np.zeros(SHAPE, np.uint8)
        hull = cv2.convexHull(cv2.findNonZero((p.image > 0).astype(np.uint8)))
        cv2.fillConvexPoly(fan, hull, 1)
        assert not (p.mask & (fan == 0)).any()
        # The frame is a fan on black: its top corners are outside it.
        assert p.image[:5, :40].max() == 0 and p.image[:5, -40:].max() == 0


def _bands(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(3-px band just inside the mask, band 3-8 px outside it)."""
    m = mask.astype(np.uint8)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 5)
    return mask & (inside <= 3), ~mask & (outside >= 3) & (outside <= 8)


def test_ground_truth_border_sits_on_the_bright_skull(phantoms):
    brighter = 0
    for p in phantoms:
        band_in, band_out = _bands(p.mask)
        brighter += p.image[band_in].mean() > p.image[band_out].mean() + 20
    assert brighter >= 0.8 * len(phantoms)


def test_head_is_not_trivially_separable_by_brightness():
    # The brain's fill varies from darker than the surroundings to brighter: the ring must decide.
    diffs = []
    for p in generate(12, seed=3):
        deep_inside = cv2.distanceTransform(p.mask.astype(np.uint8), cv2.DIST_L2, 5) > 15
        outside_fan = ~p.mask & (p.image > 0)
        diffs.append(p.image[deep_inside].mean() - p.image[outside_fan].mean())
    assert max(abs(d) for d in diffs) < 120
    assert min(diffs) < 20  # at least one head whose fill is not brighter than its surroundings


def test_write_hc18_layout_reads_back(tmp_path):
    root = write_hc18(tmp_path / "hc18", 6, seed=SEED, test_n=2, second_frame_every=3, progress=False)
    train = sorted(p.name for p in (root / "training_set").iterdir())
    frames = [f"{i:03d}_HC.png" for i in range(6)] + ["002_2HC.png", "005_2HC.png"]
    assert train == sorted(frames + [f.replace(".png", "_Annotation.png") for f in frames])
    assert sorted(p.name for p in (root / "test_set").iterdir()) == ["000_HC.png", "001_HC.png"]

    header, rows = _read_csv(root / "training_set_pixel_size_and_HC.csv")
    assert header == ["filename", "pixel size(mm)", "head circumference (mm)"]
    assert sorted(rows) == sorted(frames)
    test_header, test_rows = _read_csv(root / "test_set_pixel_size.csv")
    assert test_header == ["filename", "pixel size(mm)"]
    assert sorted(test_rows) == ["000_HC.png", "001_HC.png"]

    expected = {f"{i:03d}_HC.png": p for i, p in enumerate(generate(6, seed=SEED))}
    cases = {c.name: c for c in read_hc18(root, "training_set")}
    assert sorted(cases) == sorted(frames)
    for name, case in cases.items():
        assert case.pixel_size_mm == float(rows[name]["pixel size(mm)"])
        assert case.meta["hc_mm"] == float(rows[name]["head circumference (mm)"])
        measured = measure_head(case.mask, case.pixel_size_mm).hc_mm
        assert measured == pytest.approx(case.meta["hc_mm"], rel=0.005)
        if name in expected:
            np.testing.assert_array_equal(case.mask, expected[name].mask)
            np.testing.assert_array_equal(case.image, expected[name].image)
            assert case.pixel_size_mm == pytest.approx(expected[name].pixel_size_mm, rel=1e-8)
            assert case.meta["hc_mm"] == pytest.approx(expected[name].hc_mm, abs=0.005)
    for exam in ("002", "005"):  # a second frame: the same head, seen again
        first, second = cases[f"{exam}_HC.png"], cases[f"{exam}_2HC.png"]
        assert second.group == first.group == exam
        assert second.meta["hc_mm"] == first.meta["hc_mm"]
        assert not np.array_equal(second.image, first.image)
        assert 0.8 < second.mask.sum() / first.mask.sum() < 1.25

    tests = list(read_hc18(root, "test_set"))
    assert [c.name for c in tests] == ["000_HC.png", "001_HC.png"]
    for case in tests:
        assert case.mask is None
        assert case.pixel_size_mm == float(test_rows[case.name]["pixel size(mm)"])


def test_cli_writes_the_tree(tmp_path):
    out = tmp_path / "cli"
    assert main(["--out", str(out), "--n", "2", "--seed", "1", "--test-n", "1", "--no-progress"]) == 0
    assert (out / "training_set" / "001_HC_Annotation.png").is_file()
    assert (out / "test_set" / "000_HC.png").is_file()
    _, rows = _read_csv(out / "training_set_pixel_size_and_HC.csv")
    assert sorted(rows) == ["000_HC.png", "001_HC.png"]
    assert all(math.isfinite(float(r["head circumference (mm)"])) for r in rows.values())
