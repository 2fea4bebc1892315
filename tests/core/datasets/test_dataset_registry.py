"""The dataset layout registry: lookups, detection of every bundled sample, and a toy layout."""
from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.datasets import (
    Case,
    DatasetError,
    Layout,
    LayoutGuess,
    UnknownLayoutError,
    detect_layout,
    get_layout,
    list_layouts,
    read_cases,
    read_labelled,
    register_layout,
    unregister_layout,
)
from core.datasets.inventory import Inventory

SAMPLES = Path(__file__).resolve().parents[3] / "data_samples"
# brain_mri also holds phantom NIfTI pairs (imagesTr/, labelsTr/), but its real LGG patient comes first.
BUNDLED = {"fetal_head": "hc18", "nerve": "kaggle_nerve", "brain_mri": "kaggle_3m",
           "face_screening/autism/gallery": "image_folder", "face_screening/skin/gallery": "image_folder",
           "face_screening/syndrome/gallery": "image_folder"}


def test_the_shipped_layouts_are_registered() -> None:
    assert list_layouts() == ["hc18", "image_folder", "kaggle_3m", "kaggle_nerve", "nerve_images",
                              "nifti_pairs"]
    assert list_layouts(kind="volume") == ["kaggle_3m", "nifti_pairs"]
    assert list_layouts(task="nerve") == ["kaggle_nerve", "nerve_images"]
    for name in list_layouts():
        layout = get_layout(name)
        assert layout.name == name and layout.title and layout.expected and layout.tasks


def test_an_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(KeyError) as err:
        get_layout("imagefolder")
    assert isinstance(err.value, UnknownLayoutError) and isinstance(err.value, DatasetError)
    assert str(err.value) == ("unknown layout 'imagefolder'; registered layouts: "
                              "hc18, image_folder, kaggle_3m, kaggle_nerve, nerve_images, nifti_pairs")
    with pytest.raises(DatasetError, match="registered layouts: hc18, image_folder"):
        read_labelled("imagefolder", SAMPLES)
    with pytest.raises(UnknownLayoutError, match="unknown layout 'gone'"):
        unregister_layout("gone")


@pytest.mark.parametrize("folder", sorted(BUNDLED))
def test_each_bundled_sample_is_detected(folder: str) -> None:
    path = SAMPLES / folder
    if not path.is_dir():
        pytest.skip(f"data_samples/{folder} is not bundled")
    guess = detect_layout(path)
    assert guess.layout == BUNDLED[folder] and guess.task in get_layout(guess.layout).tasks
    root = path / "kaggle_3m" if guess.layout == "kaggle_3m" else path
    assert guess.root == root.resolve() and guess.n_labelled > 0 and not guess.bundled
    first = next(read_cases(guess))
    assert isinstance(first, Case) and first.image.dtype == np.uint8


# ---------------------------------------------------------------- a toy layout
# images/<n>.png + masks/<n>_mask.png: also two "class" sub-folders of photos to image_folder, so the
# toy must be probed first (its default priority lies below image_folder's).
def _probe(folder: Path, inv: Inventory) -> LayoutGuess | None:
    images = sorted((folder / "images").glob("*.png"))
    if not images or not (folder / "masks").is_dir():
        return None
    return LayoutGuess("toy_pairs", "toy_task", len(images), (), folder, None, len(images))


def _read(root: Path, split: str | None, names: Collection[str] | None) -> Iterator[Case]:
    for path in sorted((root / "images").glob("*.png")):
        if names is None or path.name in names:
            mask = cv2.imread(str(root / "masks" / f"{path.stem}_mask.png"), cv2.IMREAD_GRAYSCALE) > 127
            yield Case(path.name, cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), mask, group=path.stem)


@pytest.fixture()
def toy_layout() -> Iterator[Layout]:
    layout = register_layout(Layout("toy_pairs", "Toy pairs", "images/<n>.png with masks/<n>_mask.png",
                                    ("toy_task",), "2d", _probe, _read))
    try:
        yield layout
    finally:
        unregister_layout("toy_pairs")  # other tests see the shipped registry only


def _toy_tree(root: Path, n: int = 3) -> Path:
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
    for i in range(n):
        image = np.full((8, 10), 40 * i, np.uint8)
        assert cv2.imwrite(str(root / "images" / f"{i}.png"), image)
        assert cv2.imwrite(str(root / "masks" / f"{i}_mask.png"), (image > 0).astype(np.uint8) * 255)
    return root


def test_a_registered_toy_layout_is_detected_read_and_removed(tmp_path: Path, toy_layout: Layout) -> None:
    root = _toy_tree(tmp_path / "toy")
    assert "toy_pairs" in list_layouts() and list_layouts(task="toy_task") == ["toy_pairs"]
    assert get_layout("toy_pairs") is toy_layout
    guess = detect_layout(root)  # image_folder would also match: the toy is probed first
    assert (guess.layout, guess.task, guess.n_cases) == ("toy_pairs", "toy_task", 3)
    assert [c.name for c in read_cases(guess)] == ["0.png", "1.png", "2.png"]
    assert [c.name for c in read_cases(guess, names={"1.png"})] == ["1.png"]
    assert [c.mask.any() for c in read_labelled("toy_pairs", root)] == [False, True, True]
    with pytest.raises(ValueError, match="already registered"):
        register_layout(toy_layout)
    with pytest.raises(DatasetError, match="images/<n>.png with masks/<n>_mask.png"):
        detect_layout(tmp_path / "toy" / "images")  # one loose folder of images: nothing matches


def test_without_the_toy_the_same_folder_is_an_image_folder(tmp_path: Path) -> None:
    assert "toy_pairs" not in list_layouts()
    assert detect_layout(_toy_tree(tmp_path / "toy")).layout == "image_folder"


def test_a_layout_checks_its_description() -> None:
    with pytest.raises(ValueError, match="kind must be one of 2d, volume"):
        Layout("bad", "Bad", "", ("t",), "3d", _probe, _read)
    with pytest.raises(ValueError, match="at least one task"):
        Layout("bad", "Bad", "", (), "2d", _probe, _read)
