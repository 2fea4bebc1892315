"""The nerve images/ + masks/ layout (a resized Kaggle 2016 copy) on tiny trees written in it."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.datasets import (
    DatasetError,
    DatasetLayoutError,
    detect_layout,
    list_layouts,
    read_cases,
    read_labelled,
    read_nerve_images,
)
from core.lab import detect_layout as lab_detect_layout
from core.tasks import get_task
from train.data import dataset_cases, dataset_layout, dataset_title, is_validation

H, W = 24, 32
NERVE = get_task("nerve")


def _frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (H, W), dtype=np.uint8)


def _mask(seed: int) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[4 + seed % 5 : 14 + seed % 5, 6:20] = 255
    return m


def _write(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), pixels)
    return path


def _tree(root: Path, frames=((10, 1), (2, 5), (10, 2), (1, 3)), unmasked=(), mask_ext: str = ".png") -> Path:
    """``images/<s>_<n>.jpg`` and ``masks/<s>_<n>_mask<ext>`` for each (subject, frame)."""
    for i, (s, n) in enumerate(frames):
        _write(root / "images" / f"{s}_{n}.jpg", _frame(i))
        if (s, n) not in unmasked:
            _write(root / "masks" / f"{s}_{n}_mask{mask_ext}", _mask(i))
    (root / "masks").mkdir(parents=True, exist_ok=True)
    return root


def test_the_layout_is_registered_for_the_nerve_task_after_kaggle() -> None:
    assert "nerve_images" in list_layouts(task="nerve")
    assert NERVE.layouts == ("kaggle_nerve", "nerve_images") and NERVE.layout == "kaggle_nerve"


def test_detected_from_its_folder_and_from_a_parent_holding_only_it(tmp_path: Path) -> None:
    root = _tree(tmp_path / "nerve" / "positives")
    for path in (root, tmp_path / "nerve"):
        guess = detect_layout(path)
        assert (guess.layout, guess.task, guess.n_cases, guess.n_labelled) == ("nerve_images", "nerve", 4, 4)
        assert guess.root == root.resolve() and guess.split is None and guess.warnings == ()
        assert [c.name for c in read_cases(guess)][:1] == ["1_3.jpg"]
    lab = lab_detect_layout(tmp_path / "nerve")  # the model lab's way in
    assert (lab.layout, lab.task, lab.root, lab.bundled) == ("nerve_images", "nerve", root.resolve(), False)
    names = [c.name for c in read_nerve_images(root)]
    assert [c.name for c in read_nerve_images(tmp_path / "nerve")] == names


def test_a_parent_with_two_folders_is_not_guessed_at(tmp_path: Path) -> None:
    _tree(tmp_path / "nerve" / "positives")
    _tree(tmp_path / "nerve" / "others")
    with pytest.raises(DatasetError, match="no images/ and masks/ folders"):
        list(read_nerve_images(tmp_path / "nerve"))
    assert detect_layout(tmp_path / "nerve").layout != "nerve_images"


def test_frames_in_numeric_subject_then_frame_order_with_the_subject_as_group(tmp_path: Path) -> None:
    root = _tree(tmp_path, frames=((10, 1), (2, 5), (10, 2), (1, 3), (10, 10), (2, 40)))
    cases = list(read_nerve_images(root))
    assert [c.name for c in cases] == ["1_3.jpg", "2_5.jpg", "2_40.jpg", "10_1.jpg", "10_2.jpg", "10_10.jpg"]
    assert [c.group for c in cases] == ["1", "2", "2", "10", "10", "10"]
    assert [(c.meta["subject"], c.meta["frame"]) for c in cases] == [
        (1, 3), (2, 5), (2, 40), (10, 1), (10, 2), (10, 10)]
    assert cases[0].meta["path"] == str(root / "images" / "1_3.jpg")
    for c in cases:
        assert c.image.shape == (H, W) and c.image.dtype == np.uint8
        assert c.mask.shape == (H, W) and c.mask.dtype == bool
    assert [c.name for c in read_nerve_images(root, names={"10_2.jpg", "2_5.jpg"})] == ["2_5.jpg", "10_2.jpg"]


def test_a_mask_is_nerve_above_127(tmp_path: Path) -> None:
    root = _tree(tmp_path, frames=((1, 1),), unmasked=((1, 1),))
    values = np.zeros((H, W), np.uint8)
    values[:, 8:16], values[:, 16:24], values[:, 24:] = 100, 130, 255  # PNG: exactly these values
    _write(root / "masks" / "1_1_mask.png", values)
    (case,) = read_nerve_images(root)
    assert np.array_equal(case.mask, values > 127)
    assert not case.mask[:, :16].any() and case.mask[:, 16:].all()


def test_a_real_jpeg_mask_is_thresholded_despite_its_artefacts(tmp_path: Path) -> None:
    root = _tree(tmp_path, frames=((1, 1),), mask_ext=".jpg")
    stored = cv2.imread(str(root / "masks" / "1_1_mask.jpg"), cv2.IMREAD_GRAYSCALE)
    assert not set(np.unique(stored).tolist()) <= {0, 255}  # JPEG leaves other values
    (case,) = read_nerve_images(root)
    truth = _mask(0) > 0
    assert np.array_equal(case.mask, stored > 127)
    assert (case.mask & truth).sum() / (case.mask | truth).sum() > 0.9


def test_mask_suffixes_and_masks_never_read_as_frames(tmp_path: Path) -> None:
    root = _tree(tmp_path, frames=((1, 1), (1, 2), (1, 3)), unmasked=((1, 1), (1, 2), (1, 3)))
    for n, ext in ((1, ".jpeg"), (2, ".tif"), (3, ".PNG")):
        _write(root / "masks" / f"1_{n}_mask{ext}", _mask(n))
    _write(root / "images" / "1_1_mask.png", _mask(1))  # a mask in the wrong folder
    _write(root / "masks" / "9_9_mask.png", _mask(9))  # a mask without its frame
    guess = detect_layout(root)
    assert (guess.layout, guess.n_cases, guess.n_labelled) == ("nerve_images", 3, 3)
    assert any("_mask file(s) in images/" in w and "1_1_mask.png" in w for w in guess.warnings)
    assert any("without a frame" in w and "9_9_mask.png" in w for w in guess.warnings)
    cases = list(read_cases(guess))
    assert [c.name for c in cases] == ["1_1.jpg", "1_2.jpg", "1_3.jpg"]
    assert all(np.array_equal(c.mask, _mask(n) > 0) for c, n in zip(cases, (1, 2, 3), strict=True))


def test_a_frame_without_its_mask_is_listed_with_a_warning(tmp_path: Path) -> None:
    root = _tree(tmp_path, unmasked=((2, 5),))
    guess = detect_layout(root)
    assert (guess.n_cases, guess.n_labelled) == (4, 3)
    assert any("1 of 4 frames have no mask" in w and "2_5.jpg" in w for w in guess.warnings)
    masks = {c.name: c.mask for c in read_cases(guess)}
    assert masks["2_5.jpg"] is None and all(m is not None for n, m in masks.items() if n != "2_5.jpg")


def test_no_mask_at_all_cannot_be_scored(tmp_path: Path) -> None:
    root = _tree(tmp_path, frames=((1, 1), (1, 2)), unmasked=((1, 1), (1, 2)))
    with pytest.raises(DatasetLayoutError, match="2 nerve frames in images/ but no <subject>_<n>_mask"):
        detect_layout(root)
    with pytest.raises(DatasetLayoutError, match="nothing to score"):
        dataset_cases(NERVE, root)


def test_a_mask_of_another_size_is_a_clear_error(tmp_path: Path) -> None:
    root = _tree(tmp_path, frames=((1, 1), (1, 2)))
    _write(root / "masks" / "1_2_mask.png", np.zeros((H + 4, W), np.uint8))
    with pytest.raises(DatasetError, match=rf"1_2_mask.png: the mask is {W}x{H + 4} px but its frame is "
                                           rf"{W}x{H} px"):
        list(read_nerve_images(root))
    _write(root / "masks" / "1_1_mask.png", np.zeros((H, W + 2), np.uint8))  # the probe reads the first pair
    with pytest.raises(DatasetLayoutError, match="nerve images/masks layout, but masks/1_1_mask.png"):
        detect_layout(root)


def test_two_files_for_one_frame_are_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path, frames=((1, 1),))
    _write(root / "images" / "1_1.png", _frame(0))
    with pytest.raises(DatasetError, match="images/1_1.jpg and images/1_1.png are the same frame"):
        list(read_nerve_images(root))


def test_train_reads_a_nerve_folder_in_either_layout(tmp_path: Path) -> None:
    root = _tree(tmp_path / "nerve" / "positives")
    for path in (root, tmp_path / "nerve"):
        assert dataset_layout(NERVE, path) == "nerve_images"
        assert [c.name for c in dataset_cases(NERVE, path)] == ["1_3.jpg", "2_5.jpg", "10_1.jpg", "10_2.jpg"]
    assert dataset_title(NERVE, root) == "Nerve images/masks (nerve_images layout)"
    kaggle = NERVE.samples_dir  # the Kaggle train/ layout stays the default
    assert dataset_layout(NERVE, kaggle) == "kaggle_nerve"
    want = [c.name for c in read_labelled("kaggle_nerve", kaggle)]
    assert [c.name for c in dataset_cases(NERVE, kaggle)] == want


def test_the_split_keeps_every_frame_of_a_subject_on_one_side(tmp_path: Path) -> None:
    frames = [(s, n) for s in range(1, 13) for n in (1, 2, 7, 30)]
    cases = list(dataset_cases(NERVE, _tree(tmp_path, frames=frames)))
    sides: dict[str, set[bool]] = {}
    for c in cases:
        sides.setdefault(c.group, set()).add(is_validation(c.group, 0, 0.5))
    assert len(sides) == 12 and all(len(s) == 1 for s in sides.values())
    assert {next(iter(s)) for s in sides.values()} == {False, True}  # both sides hold subjects
