"""Mask corrections on the nerve and brain pages (AppTest). The drawing canvas is a browser
component, so a stand-in returns the strokes a user would have drawn: a green disc (add) or a red
band (erase) on the canvas, scaled to the image by the page."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.datasets import read_kaggle_nerve
from core.io.nifti import read_nifti
from dashboard import brain_sections, mask_editor
from dashboard.mask_editor import ADD, stroke_masks

ROOT = Path(__file__).resolve().parents[2]


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[k:k + 2], 16) for k in (1, 3, 5))  # type: ignore[return-value]


def _disc_canvas(colour: str = ADD, radius: float = 0.15) -> object:
    """A stand-in canvas whose strokes are a filled disc in the middle."""
    def canvas(**kw: object) -> SimpleNamespace:
        h, w = int(kw["height"]), int(kw["width"])
        rgba = np.zeros((h, w, 4), np.uint8)
        cv2.circle(rgba, (w // 2, h // 2), int(radius * min(h, w)), (*_rgb(colour), 255), -1)
        return SimpleNamespace(image_data=rgba)
    return canvas


def test_strokes_are_split_by_colour_and_scaled_to_the_image() -> None:
    rgba = np.zeros((50, 100, 4), np.uint8)
    rgba[10:20, 10:20] = (*_rgb(mask_editor.ADD), 255)
    rgba[30:40, 50:60] = (*_rgb(mask_editor.ERASE), 255)
    rgba[0:5, 90:100] = (*_rgb(mask_editor.ADD), 40)  # faint: the canvas's anti-aliased edge, not a stroke
    add, erase = stroke_masks(rgba, (100, 200))
    assert add.shape == (100, 200) and add.sum() == 400 and erase.sum() == 400
    assert add[25, 25] and erase[65, 105] and not add[2, 190]


def test_a_nerve_correction_changes_the_measures_and_round_trips_through_the_kaggle_reader(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, deferred: dict) -> None:
    monkeypatch.setattr(mask_editor, "canvas", _disc_canvas())
    at = AppTest.from_file(str(ROOT / "dashboard" / "pages" / "nerve.py"), default_timeout=180).run()
    assert not at.exception
    model_area = int(next(m for m in at.metric if m.label == "Area, corrected").delta.split()[0])
    assert model_area > 0  # the disc added pixels to the model's mask
    assert float(next(m.value for m in at.metric if m.label == "Agreement with the model (Dice)")) < 1.0
    next(b for b in at.button if b.label == "Keep this correction").click().run()
    assert not at.exception
    with zipfile.ZipFile(io.BytesIO(deferred["nerve_corrections.zip"]())) as zf:
        zf.extractall(tmp_path)
    kept = next(iter(read_kaggle_nerve(tmp_path)))
    log = next(d.value for d in at.dataframe if "area_corrected_px" in d.value.columns)
    assert kept.name == f"{log['stem'].iloc[0]}.tif"
    assert int(kept.mask.sum()) == log["area_corrected_px"].iloc[0]


def test_a_brain_correction_is_applied_to_its_slice_and_downloads_as_a_label_on_the_grid(
        monkeypatch: pytest.MonkeyPatch, deferred: dict) -> None:
    monkeypatch.setattr(mask_editor, "canvas", _disc_canvas(radius=0.1))
    at = AppTest.from_file(str(ROOT / "dashboard" / "pages" / "brain_mri.py"), default_timeout=180).run()
    assert not at.exception
    assert int(next(m.value for m in at.metric if m.label == "Slices changed")) == 1
    next(b for b in at.button if b.label.startswith("Apply to slice")).click().run()
    assert not at.exception
    grid = next(m.value for m in at.metric if m.label == "Grid (voxels)")
    label = read_nifti(next(f for n, f in deferred.items() if n.endswith("_corrected_label.nii.gz"))())
    assert "×".join(str(n) for n in label.voxels.shape[::-1]) == grid
    assert set(np.unique(label.voxels)) == {0, 1}
    next(b for b in at.button if b.label.startswith("Undo every correction")).click().run()
    monkeypatch.setattr(mask_editor, "canvas", lambda **kw: SimpleNamespace(image_data=None))
    at.run()
    assert int(next(m.value for m in at.metric if m.label == "Slices changed")) == 0


def test_a_corrected_brain_case_zip_is_read_back_by_the_nifti_layout_reader(tmp_path: Path) -> None:
    from core.datasets import read_nifti_pairs
    from core.io.volume import load_volume

    image = (ROOT / "data_samples" / "brain_mri" / "imagesTr" / "brain_phantom_01.nii.gz").read_bytes()
    vol = load_volume(image, name="brain_phantom_01.nii.gz")
    label = np.zeros(vol.voxels.shape, bool)
    label[vol.voxels.shape[0] // 2, 20:40, 30:50] = True
    with zipfile.ZipFile(io.BytesIO(brain_sections.case_zip(vol, label, {"case": "upload"}))) as zf:
        zf.extractall(tmp_path)
    case = next(iter(read_nifti_pairs(tmp_path)))
    assert case.volume.voxels.shape == vol.voxels.shape
    assert np.allclose(case.volume.voxels, vol.voxels) and np.array_equal(case.label > 0, label)
