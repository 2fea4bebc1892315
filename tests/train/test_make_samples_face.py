"""make_samples --task face: the portrait copied as is and a demo reference group from it."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.face.anthropometry import MEASUREMENTS
from train import make_samples

ROOT = Path(__file__).resolve().parents[2]


def test_face_variants_are_named_after_what_was_done() -> None:
    image = np.zeros((60, 50, 3), np.uint8)
    variants = make_samples.face_variants(image, 4, seed=1)
    names = [name for name, _ in variants]
    assert names[0] == "variant_00_original.png" and len(set(names)) == 4
    assert "_mirror" in names[1] and "_mirror" not in names[2]
    assert all(img.ndim == 3 and img.dtype == np.uint8 for _, img in variants)
    assert [n for n, _ in make_samples.face_variants(image, 4, seed=1)] == names  # reproducible


def test_make_samples_face_writes_portrait_and_reference_group(tmp_path: Path) -> None:
    (tmp_path / "face").mkdir()
    (tmp_path / "face" / "README.md").write_text("kept")
    assert make_samples.main(["--task", "face", "--n", "3", "--root", str(tmp_path)]) == 0
    out = tmp_path / "face"
    bundled = ROOT / "data_samples" / "face" / "grace_hopper.jpg"
    assert (out / "grace_hopper.jpg").read_bytes() == bundled.read_bytes()
    held_out = ROOT / "data_samples" / "face" / "skimage_astronaut.jpg"
    assert (out / "skimage_astronaut.jpg").read_bytes() == held_out.read_bytes()  # rewritten identically
    assert (out / "README.md").read_text() == "kept"
    with (out / "reference_group.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["reference"] for r in rows] == ["interpupillary"] * 3 + ["outer_canthal"] * 3
    assert not any(r["error"] for r in rows)
    assert all(float(r[key]) > 0 for r in rows for key in ("mouth_width", "facial_index"))
    assert set(MEASUREMENTS) <= set(rows[0])


def _assert_same_picture(written: Path, bundled: Path) -> None:
    """The phantom just written is the bundled one up to floating point: the landmarks and warps behind
    it round differently on another CPU (an AMD EPYC with AVX2, no AVX-512, moved about 1% of the pixels
    by at most 11 grey levels after JPEG), so the bytes need not match. Another seed or generator would
    change most pixels."""
    a, b = (cv2.imread(str(p)).astype(np.int16) for p in (written, bundled))
    assert a.shape == b.shape
    diff = np.abs(a - b)
    assert diff.mean() < 0.1 and (diff > 2).mean() < 0.01, (written.name, diff.mean(), (diff > 2).mean())


def test_make_samples_face_screening_writes_cases_and_galleries(tmp_path: Path) -> None:
    pytest.importorskip("skimage", reason="the demo cases use scikit-image's astronaut")
    from core.tasks import get_task

    assert make_samples.main(["--task", "face_screening", "--n", "1", "--root", str(tmp_path)]) == 0
    bundled = ROOT / "data_samples" / "face_screening"
    for task, row in get_task("face_screening").rows.items():
        classes = row.labels
        out = tmp_path / "face_screening" / task
        for label in classes:
            case = out / "cases" / f"{label}.jpg"
            _assert_same_picture(case, bundled / task / "cases" / f"{label}.jpg")
            evidence = cv2.imread(str(out / "cases" / f"{label}_evidence.png"), cv2.IMREAD_GRAYSCALE)
            assert set(np.unique(evidence)) <= {0, 255}
            gallery = sorted((out / "gallery" / label).glob("*.jpg"))
            assert len(gallery) == 1 and cv2.imread(str(gallery[0])).shape == (256, 256, 3)
