"""core.datasets.fasseg: the FASSEG layout read at any depth, persons as split units, the palette
decoded to the nearest colour (anti-aliased edges) and encoded back."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.datasets.base import DatasetLayoutError
from core.datasets.fasseg import CLASSES, PALETTE, decode_labels, encode_labels, person_of, read_fasseg


def test_reads_every_pair_with_persons_and_subsets(fasseg_folder: Path) -> None:
    cases = read_fasseg(fasseg_folder)
    assert len(cases) == 7
    groups = {c.name: c.group for c in cases}
    assert groups["1"] == "frontalT_1" and groups["3"] == "frontalT_3"
    assert groups["personne01146+0+0"] == groups["personne01146+0+30"] == "pointing04_01"
    assert groups["personne02146+0+30"] == "pointing04_02"
    subsets = {c.name: c.subset for c in cases}
    assert subsets["1"] == "frontalT/train" and subsets["personne01146+0+30"] == "multiposeT/train/+30"
    # Started from a set or a split, the persons and subsets are the same.
    assert {(c.name, c.group, c.subset) for c in read_fasseg(fasseg_folder / "frontalT" / "train")} \
        == {(c.name, c.group, c.subset) for c in cases if c.subset.startswith("frontalT")}


def test_loaded_pair_has_every_class_on_the_photo_grid(fasseg_folder: Path) -> None:
    case = next(c for c in read_fasseg(fasseg_folder) if c.name == "personne02146+0+30")
    image, labels = case.load()
    assert image.shape[:2] == labels.shape and image.dtype == labels.dtype == np.uint8
    assert set(np.unique(labels)) == set(range(len(CLASSES)))


def test_anti_aliased_edges_take_the_nearest_palette_colour() -> None:
    rgb = np.array([[[255, 0, 0], [250, 6, 3], [127, 0, 0], [122, 3, 2]],
                    [[200, 200, 40], [0, 10, 240], [30, 230, 230], [10, 240, 20]]], np.uint8)
    assert decode_labels(rgb).tolist() == [[0, 0, 1, 1], [2, 3, 4, 5]]
    # A half-way blend of skin and background falls to one of the two, never to a third class.
    blend = ((np.array(PALETTE["skin"]) + PALETTE["background"]) // 2).astype(np.uint8)[None, None]
    assert decode_labels(blend)[0, 0] in (CLASSES.index("skin"), CLASSES.index("background"))
    labels = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert np.array_equal(decode_labels(encode_labels(labels)), labels)
    assert encode_labels(labels)[0, 1].tolist() == [127, 0, 0]
    with pytest.raises(ValueError, match="0..5"):
        encode_labels(np.full((2, 2), 6, np.uint8))
    with pytest.raises(ValueError, match="RGB"):
        decode_labels(np.zeros((4, 4), np.uint8))


def test_person_of_names() -> None:
    assert person_of("personne07246+0-90", "multipose01/train/-90") == "pointing04_07"
    assert person_of("12", "frontal02/test") == "frontal02_12"


def test_bad_folders_are_refused_with_a_message(tmp_path: Path, fasseg_folder: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="no FASSEG layout"):
        read_fasseg(tmp_path)
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        read_fasseg(tmp_path / "missing")
    bad = tmp_path / "set" / "train"
    for kind, size in (("RGB", (40, 30)), ("labels", (20, 30))):
        (bad / kind).mkdir(parents=True)
        Image.fromarray(np.zeros((*size, 3), np.uint8)).save(bad / kind / "a.png")
    (case,) = read_fasseg(tmp_path / "set")
    with pytest.raises(DatasetLayoutError, match="differ in size"):
        case.load()
    (bad / "RGB" / "b.png").write_bytes(b"not a png")
    (bad / "labels" / "b.png").write_bytes(b"not a png")
    broken = next(c for c in read_fasseg(tmp_path / "set") if c.name == "b")
    with pytest.raises(DatasetLayoutError, match="cannot read"):
        broken.load()
