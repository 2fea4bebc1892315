"""Layout detection on tiny trees written in each dataset's own layout, and its messages."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.datasets import HC18_FRAME, DatasetLayoutError, get_layout, list_layouts, read_cases
from core.lab import detect_layout
from core.lab.datasets import SAMPLES_EXPECTED
from core.roots import SAMPLES_ROOT

EXPECTED = {name: get_layout(name).expected for name in list_layouts()} | {"samples": SAMPLES_EXPECTED}


def _img(path: Path, shape=(20, 30), value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full(shape, value, np.uint8)
    image[5:15, 8:20] = 255 - value
    assert cv2.imwrite(str(path), image)
    return path


def _hc18(root: Path, n: int = 3, annotated: int | None = None, csv: bool = True, test: int = 0) -> Path:
    for i in range(n):
        _img(root / "training_set" / f"{i:03d}_HC.png")
        if i < (n if annotated is None else annotated):
            _img(root / "training_set" / f"{i:03d}_HC_Annotation.png", value=0)
    if csv:
        rows = "".join(f"{i:03d}_HC.png,0.1,100.0\n" for i in range(n))
        (root / "training_set_pixel_size_and_HC.csv").write_text(
            "filename,pixel size(mm),head circumference (mm)\n" + rows)
    for i in range(test):
        _img(root / "test_set" / f"{i:03d}_HC.png")
    return root


def _nerve(root: Path, frames=((1, 1), (1, 2), (2, 1)), masks: str = "files", test: int = 0) -> Path:
    for s, f in frames:
        _img(root / "train" / f"{s}_{f}.tif")
        if masks == "files":
            _img(root / "train" / f"{s}_{f}_mask.tif")
    if masks == "csv":
        rows = "".join(f"{s},{f},{'1 5' if f == 1 else ''}\n" for s, f in frames)
        (root / "train_masks.csv").write_text("subject,img,pixels\n" + rows)
    for i in range(1, test + 1):
        _img(root / "test" / f"{i}.tif")
    return root


def test_hc18_root(tmp_path: Path):
    g = detect_layout(_hc18(tmp_path / "hc", test=2))
    assert (g.layout, g.task, g.n_cases, g.n_labelled) == ("hc18", "fetal_head", 3, 3)
    assert g.split == "training_set"
    assert g.root == (tmp_path / "hc").resolve() and not g.bundled
    assert any("test_set/: 2 frames" in w for w in g.warnings)
    cases = list(read_cases(g))
    assert [c.name for c in cases] == ["000_HC.png", "001_HC.png", "002_HC.png"]
    assert cases[0].pixel_size_mm == 0.1 and cases[0].mask is not None


def test_hc18_split_folder_itself_and_missing_pieces(tmp_path: Path):
    root = _hc18(tmp_path / "hc", n=4, annotated=2, csv=False)
    g = detect_layout(root / "training_set")
    assert g.layout == "hc18" and g.root == root.resolve() and g.split == "training_set"
    assert (g.n_cases, g.n_labelled) == (4, 2)
    text = " ".join(g.warnings)
    assert "2 of 4 training_set frames have no annotation" in text
    assert "training_set_pixel_size_and_HC.csv not found" in text


def test_hc18_without_any_annotation_says_so(tmp_path: Path):
    with pytest.raises(DatasetLayoutError, match="none has its NNN_HC_Annotation.png"):
        detect_layout(_hc18(tmp_path / "hc", annotated=0))


def test_kaggle_nerve_with_mask_files_and_with_the_csv(tmp_path: Path):
    g = detect_layout(_nerve(tmp_path / "n1", test=2))
    assert (g.layout, g.task, g.n_cases, g.n_labelled, g.split) == ("kaggle_nerve", "nerve", 3, 3, "train")
    assert any("test/: 2 frames" in w for w in g.warnings)
    g2 = detect_layout(_nerve(tmp_path / "n2", masks="csv") / "train")  # the train/ folder itself
    assert g2.layout == "kaggle_nerve" and g2.root == (tmp_path / "n2").resolve() and g2.n_labelled == 3
    cases = list(read_cases(g2))
    assert [c.name for c in cases] == ["1_1.tif", "1_2.tif", "2_1.tif"]
    assert cases[0].mask.sum() == 5 and not cases[1].mask.any()


def test_kaggle_nerve_without_masks_is_refused(tmp_path: Path):
    with pytest.raises(DatasetLayoutError, match="no mask"):
        detect_layout(_nerve(tmp_path / "n", masks="none"))


def test_image_folder_of_faces(tmp_path: Path):
    root = tmp_path / "faces"
    for cls, n in (("acne", 2), ("healthy", 6)):
        for i in range(n):
            _img(root / cls / f"{i}.jpg", shape=(16, 16, 3))
    _img(root / "healthy" / "deeper" / "x.png", shape=(16, 16, 3))
    (root / "empty_class").mkdir()
    (root / "labels.txt").write_text("loose")
    g = detect_layout(root)
    assert (g.layout, g.task, g.n_cases) == ("image_folder", "face_screening", 9)
    assert g.classes == ("acne", "healthy")
    text = " ".join(g.warnings)
    assert "empty_class" in text and "1 files directly" in text and "acne (2)" in text
    cases = list(read_cases(g))
    assert cases[0].name == "acne/0.jpg" and cases[0].meta["label"] == "acne"
    assert cases[0].image.shape == (16, 16, 3) and cases[-1].name == "healthy/deeper/x.png"


def test_bundled_samples_are_recognised():
    fetal = detect_layout(SAMPLES_ROOT / "fetal_head")
    assert (fetal.layout, fetal.task, fetal.bundled) == ("hc18", "fetal_head", True)
    frames = [p for p in (SAMPLES_ROOT / "fetal_head" / "training_set").iterdir() if HC18_FRAME.match(p.name)]
    assert fetal.n_cases == len(frames) == len(list(read_cases(fetal)))
    nerve = detect_layout(SAMPLES_ROOT / "nerve")
    assert (nerve.layout, nerve.task, nerve.bundled) == ("kaggle_nerve", "nerve", True)
    skin = SAMPLES_ROOT / "face_screening" / "skin"
    if (skin / "gallery").is_dir():
        g = detect_layout(skin)
        assert g.layout == "image_folder" and g.root == (skin / "gallery").resolve() and g.bundled
        assert set(g.classes) == {d.name for d in (skin / "gallery").iterdir() if d.is_dir()}
        assert "gallery/" in g.warnings[0]


def test_an_empty_folder_lists_what_is_expected(tmp_path: Path):
    (tmp_path / "e" / "sub").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="empty") as err:
        detect_layout(tmp_path / "e")
    for text in EXPECTED.values():
        assert text in str(err.value)


def test_an_unknown_layout_lists_what_was_found_and_expected(tmp_path: Path):
    root = tmp_path / "u"
    for i in range(3):
        _img(root / "scans" / f"img{i}.png")
    (root / "scans" / "notes.csv").write_text("a,b\n")
    (root / "readme.md").write_text("hi")
    with pytest.raises(DatasetLayoutError) as err:
        detect_layout(root)
    msg = str(err.value)
    assert "no dataset layout recognised" in msg
    assert "found 5 files (.png: 3, .csv: 1, .md: 1)" in msg and "scans/ (4 files)" in msg
    assert all(text in msg for text in EXPECTED.values())


def test_unreadable_files_are_named(tmp_path: Path):
    root = _nerve(tmp_path / "n")
    (root / "train" / "3_1.tif").write_bytes(b"")
    with pytest.raises(DatasetLayoutError, match=r"cannot be read.*3_1\.tif"):
        detect_layout(root)
    root2 = _hc18(tmp_path / "hc", n=1)
    (root2 / "training_set" / "000_HC.png").write_bytes(b"this is not a png at all")
    with pytest.raises(DatasetLayoutError, match=r"HC18 layout, but 000_HC\.png cannot be read"):
        detect_layout(root2)


def test_not_a_folder(tmp_path: Path):
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        detect_layout(tmp_path / "missing")
