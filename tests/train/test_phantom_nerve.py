"""train.phantoms.nerve: synthetic brachial-plexus sweeps in the Kaggle 2016 nerve layout."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from train.phantoms.nerve import NervePhantom, generate, main, make_subject, write_kaggle

SHAPE = (420, 580)
SEED = 3


@pytest.fixture(scope="module")
def sweeps() -> list[NervePhantom]:
    return list(generate(2, 20, seed=SEED))


def _rle_decode(rle: str, shape: tuple[int, int]) -> np.ndarray:
    """Kaggle RLE -> HxW bool: 1-indexed (start, length) pairs over the column-major flattening."""
    flat = np.zeros(shape[0] * shape[1], bool)
    nums = [int(v) for v in rle.split()]
    for start, length in zip(nums[::2], nums[1::2]):
        flat[start - 1:start - 1 + length] = True
    return flat.reshape(shape, order="F")


def test_shapes_dtypes_and_numbering(sweeps):
    assert len(sweeps) == 40
    for p in sweeps:
        assert p.image.shape == SHAPE and p.image.dtype == np.uint8
        assert p.mask.shape == SHAPE and p.mask.dtype == bool
    assert [(p.subject, p.frame) for p in sweeps[:2]] == [(1, 1), (1, 2)]
    assert [(p.subject, p.frame) for p in sweeps[20:22]] == [(2, 1), (2, 2)]


def test_deterministic_by_seed_and_subject_reproducible_alone(sweeps):
    again = list(generate(1, 20, seed=SEED))
    alone = make_subject(np.random.default_rng([SEED, 2]), 2, 20)
    for a, b in zip(again, sweeps[:3]):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.mask, b.mask)
    for a, b in zip(alone, sweeps[20:]):
        np.testing.assert_array_equal(a.image, b.image)
        assert (a.subject, a.frame, a.has_nerve, a.label_missing) == (b.subject, b.frame, b.has_nerve,
                                                                       b.label_missing)
    other = next(generate(1, 1, seed=SEED + 1))
    assert not np.array_equal(other.image, sweeps[0].image)


def test_about_half_the_masks_are_empty_and_masks_follow_has_nerve(sweeps):
    empty = np.mean([not p.mask.any() for p in sweeps])
    assert 0.25 <= empty <= 0.75
    for p in sweeps:
        if p.has_nerve and not p.label_missing:
            assert 1000 < p.mask.sum() < 20000  # an oval tens of px across
        else:
            assert not p.mask.any()


def test_label_missing_frames_show_a_nerve_but_have_an_empty_mask(sweeps):
    missing = [p for p in sweeps if p.label_missing]
    assert 1 <= len(missing) <= 4
    for p in missing:
        assert p.has_nerve and not p.mask.any()


def test_consecutive_frames_are_more_alike_than_other_subjects(sweeps):
    a, b = sweeps[:20], sweeps[20:]

    def mad(x: NervePhantom, y: NervePhantom) -> float:
        return float(np.abs(x.image.astype(np.float32) - y.image.astype(np.float32)).mean())

    within = np.mean([mad(x, y) for x, y in zip(a[:-1], a[1:])])
    between = np.mean([mad(x, y) for x, y in zip(a, b)])
    assert within < between


def test_nerve_rim_is_brighter_than_the_artery_lumen(sweeps):
    p = next(p for p in sweeps if p.mask.any())
    mask = p.mask.astype(np.uint8)
    rim = mask.astype(bool) & ~cv2.erode(mask, np.ones((7, 7), np.uint8)).astype(bool)
    # The artery lumen: the darkest large blob, found as the minimum of a heavily smoothed frame
    # outside the nerve (speckle-free tissue is never that dark).
    smooth = cv2.blur(p.image.astype(np.float32), (15, 15))
    smooth[cv2.dilate(mask, np.ones((15, 15), np.uint8)).astype(bool)] = 255
    smooth[:30] = 255  # skin
    y, x = np.unravel_index(np.argmin(smooth), smooth.shape)
    lumen = p.image[y - 4:y + 5, x - 4:x + 5].mean()
    assert p.image[rim].mean() > lumen + 40


def _check_tree(root: Path, n_subjects: int, n_frames: int, test_n: int) -> None:
    train = sorted(p.name for p in (root / "train").iterdir())
    expected = sorted(f"{s}_{n}{suffix}.tif" for s in range(1, n_subjects + 1)
                      for n in range(1, n_frames + 1) for suffix in ("", "_mask"))
    assert train == expected
    assert sorted(p.name for p in (root / "test").iterdir()) == [f"{k}.tif" for k in range(1, test_n + 1)]
    with (root / "train_masks.csv").open(newline="") as fh:
        reader = csv.reader(fh)
        assert next(reader) == ["subject", "img", "pixels"]
        rows = list(reader)
    assert len(rows) == n_subjects * n_frames
    for subject, img, pixels in rows:
        image = cv2.imread(str(root / "train" / f"{subject}_{img}.tif"), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(root / "train" / f"{subject}_{img}_mask.tif"), cv2.IMREAD_UNCHANGED)
        assert image.shape == SHAPE and image.dtype == np.uint8
        assert mask.shape == SHAPE and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
        np.testing.assert_array_equal(_rle_decode(pixels, SHAPE), mask == 255)


def test_write_kaggle_layout_and_rle(tmp_path):
    root = write_kaggle(tmp_path / "nerve", 2, 4, seed=SEED, test_n=2, progress=False)
    _check_tree(root, 2, 4, 2)
    frames = list(generate(2, 4, seed=SEED))
    written = cv2.imread(str(root / "train" / "2_3.tif"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(written, frames[6].image)


def test_cli_writes_the_tree(tmp_path):
    out = tmp_path / "cli"
    assert main(["--out", str(out), "--subjects", "1", "--frames", "3", "--seed", "0", "--test-n", "1",
                 "--no-progress"]) == 0
    _check_tree(out, 1, 3, 1)


def test_rejects_bad_counts(tmp_path):
    with pytest.raises(ValueError, match="n_frames"):
        make_subject(np.random.default_rng(0), 1, 0)
    with pytest.raises(ValueError, match="frames_per_subject"):
        write_kaggle(tmp_path, 1, 0, seed=0, progress=False)
