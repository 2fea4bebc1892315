"""AppTest of the face page on the bundled portrait, its reference group, uploads and bad files."""
from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

import core.roots
from core.datasets.fasseg import CLASSES
from core.face.anthropometry import MEASUREMENTS
from core.face.regions import REGION_NAMES
from core.models import create_model
from core.weights import save_model
from train.face_regions import parser_card

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "dashboard" / "pages" / "face.py")
SAMPLES = ROOT / "data_samples" / "face"
NO_UNET = not (ROOT / "weights" / "face_regions" / "unet" / "model.json").is_file()


@pytest.fixture(scope="module")
def downloads() -> dict[str, bytes]:
    """File name -> bytes of every download button rendered while the module runs.

    AppTest keeps download data in a media store it drops after each run; recording what goes
    into it lets the tests read the files a user would get.
    """
    files: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self, data, mimetype, kind, filename=None):
        if filename:
            files[filename] = data
        return original(self, data, mimetype, kind, filename)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
        yield files


@pytest.fixture()
def face(downloads: dict[str, bytes]) -> AppTest:
    """The page as it opens, for each test afresh: most tests change its widgets."""
    return AppTest.from_file(PAGE, default_timeout=180).run()


def _measurements(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "definition" in d.value.columns)


def _csv(downloads: dict[str, bytes], name: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(downloads[name]))


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def _upload(name: str, data: bytes) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.sidebar.radio(key="face_source").set_value("Upload").run()
    at.file_uploader(key="face_upload").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception
    return at


def test_bundled_portrait_landmarks_regions_measurements(face: AppTest, downloads: dict) -> None:
    assert not face.exception and not face.error
    assert any("not a diagnosis" in c.value for c in face.caption)
    marks = _csv(downloads, "grace_hopper_landmarks.csv")
    assert list(marks.columns) == ["index", "x_px", "y_px", "z_px"] and len(marks) == 478
    assert marks["x_px"].between(0, 512).all() and marks["y_px"].between(0, 600).all()
    table = _measurements(face)
    assert list(table["name"]) == [d.name for d in MEASUREMENTS.values()]
    assert table["value"].notna().all() and "z_score" not in table and "value_mm" not in table
    assert table.loc[table["name"] == "Interpupillary distance", "value"].item() == pytest.approx(1.0)
    legend = next(d.value for d in face.dataframe if "percent_of_face" in d.value.columns)
    assert len(legend) == len(REGION_NAMES) and (legend["area_px"] > 0).all()
    assert legend["percent_of_face"].sum() == pytest.approx(100)
    saved = _csv(downloads, "grace_hopper_face_measurements.csv")
    assert list(saved["key"]) == list(MEASUREMENTS)
    assert len(json.loads(downloads["grace_hopper_face_measurements.json"])) == 15
    if NO_UNET:
        assert any("No face-parser weights" in i.value for i in face.info)


def test_bundled_reference_group_gives_zscores(face: AppTest) -> None:
    face.sidebar.radio(key="face_group").set_value("Bundled demo (one person)").run()
    assert not face.exception and not face.error
    assert any("ONE person" in w.value for w in face.warning)
    z = _measurements(face).set_index("name")["z_score"]
    assert z.drop("Interpupillary distance").notna().all()  # the reference itself: no spread
    assert np.isnan(z["Interpupillary distance"]) and z.abs().max() < 5
    face.sidebar.radio(key="face_reference").set_value("outer_canthal").run()
    z = _measurements(face).set_index("name")["z_score"]
    assert np.isnan(z["Outer canthal distance"]) and np.isfinite(z["Interpupillary distance"])
    face.sidebar.radio(key="face_reference").set_value("interpupillary").run()
    face.sidebar.radio(key="face_group").set_value("None").run()


def test_scale_gives_lengths_in_mm(face: AppTest, downloads: dict) -> None:
    face.sidebar.number_input(key="face_mm").set_value(0.25).run()
    assert not face.exception
    table = _measurements(face).set_index("name")
    marks = _csv(downloads, "grace_hopper_landmarks.csv").set_index("index")
    ipd_px = np.hypot(*(marks.loc[468, ["x_px", "y_px"]] - marks.loc[473, ["x_px", "y_px"]]))
    assert table.loc["Interpupillary distance", "value_mm"] == pytest.approx(0.25 * ipd_px, rel=1e-3)
    assert np.isnan(table.loc["Canthal index", "value_mm"])  # an index has no length
    face.sidebar.number_input(key="face_mm").set_value(None).run()
    assert "value_mm" not in _measurements(face)


def test_overlay_toggles_off_and_on(face: AppTest) -> None:
    shown = []  # (points, regions, lines) from (on, off, on): each step a new combination
    for key, value in (("points", False), ("regions", True), ("lines", False), ("points", True),
                       ("lines", True), ("regions", False)):
        face.sidebar.toggle(key=f"face_{key}").set_value(value).run()
        assert not face.exception and not face.error
        shown.append(face.image[0].value[0])  # the URL names the picture's bytes
    assert len(set(shown)) == len(shown)  # every switch changes the picture
    assert "478 landmarks" in face.image[0].captions[0]


def test_uploaded_reference_of_another_reference_is_refused_politely(face: AppTest) -> None:
    lines = (SAMPLES / "reference_group.csv").read_text(encoding="utf-8").splitlines()
    interpupillary_only = "\n".join(line for line in lines if ",outer_canthal," not in line)
    face.sidebar.radio(key="face_group").set_value("Upload CSV").run()
    face.file_uploader(key="face_group_csv").set_value(
        ("group.csv", interpupillary_only.encode(), "text/csv")).run()
    assert not face.exception and "z_score" in _measurements(face)
    face.sidebar.radio(key="face_reference").set_value("outer_canthal").run()
    assert not face.exception and "z_score" not in _measurements(face)
    assert any("choose that reference" in w.value for w in face.warning)


def test_large_webp_upload_is_measured_whole_and_shown_reduced() -> None:
    bgr = cv2.resize(cv2.imread(str(SAMPLES / "grace_hopper.jpg")), None, fx=2.5, fy=2.5)
    ok, webp = cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, 95])
    assert ok
    at = _upload("portrait.webp", webp.tobytes())
    assert not at.error and len(_measurements(at)) == 15
    assert "zoomed to the face (" in at.image[0].captions[0] and "of 1280x1500 px" in at.image[0].captions[0]
    at.sidebar.toggle(key="face_zoom").set_value(False).run()
    assert "measured on the full 1280x1500 photo" in at.image[0].captions[0]
    assert len(_measurements(at)) == 15


def test_blank_upload_says_no_face_found() -> None:
    at = _upload("blank.png", _png(np.full((480, 640, 3), 128, np.uint8)))
    assert any("no face found" in e.value for e in at.error)
    assert not any("definition" in d.value.columns for d in at.dataframe)


def test_corrupt_upload_gets_a_message_not_a_traceback() -> None:
    at = _upload("broken.jpg", (SAMPLES / "grace_hopper.jpg").read_bytes()[:500])
    assert any("Cannot read broken.jpg" in e.value for e in at.error)
    assert not at.dataframe


def test_webcam_waits_for_a_snapshot() -> None:
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.sidebar.radio(key="face_source").set_value("Webcam").run()
    assert not at.exception and not at.error
    assert any("webcam" in i.value for i in at.info) and not at.dataframe


# ---------------------------------------------------------------- the face parser panel
def test_without_unet_weights_the_page_says_how_to_get_them(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", tmp_path)  # a weights root without face_regions/
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception and not at.error
    assert any("No face-parser weights" in i.value for i in at.info)
    assert not any("iou" in d.value.columns for d in at.dataframe)


def test_parser_regions_shown_with_agreement_and_validated_iou(tmp_path: Path, monkeypatch) -> None:
    card = parser_card(size=64, widths=[4, 8, 16])
    card = replace(card, training={**card.training, "n_train_photos": 170, "n_train_persons": 20},
                   metrics={"validation_real": {
                       "n_images": 32, "n_persons": 7, "mean_iou_face": 0.812,
                       "mean_iou_face_ci95": [0.78, 0.84],
                       "iou": {c: 0.5 for c in CLASSES}},
                       "validation_real_backgrounds": {
                           "n_images": 32, "n_persons": 7, "mean_iou_face": 0.756,
                           "iou": {**{c: 0.6 for c in CLASSES}, "background": 0.424}}})
    torch.manual_seed(0)
    save_model(create_model("unet", **card.arch_config), card, tmp_path / "face_regions" / "unet")
    monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", tmp_path)
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception and not at.error
    assert not any("No face-parser weights" in i.value for i in at.info)
    table = next(d.value for d in at.dataframe if "agreement" in d.value.columns)
    assert list(table["region"]) == ["Hair", "Skin", "Eyes", "Nose", "Mouth"]
    scored = table.dropna(subset=["agreement"])
    assert list(scored["region"]) == ["Skin", "Eyes", "Nose", "Mouth"]
    assert scored["agreement"].between(0, 1).all()
    assert (table["validated"] == 0.5).all() and (table["area_px"] >= 0).all()
    assert any(c.startswith("Regions from the face parser") for im in at.image for c in im.captions)
    assert any("32 real FASSEG photos of 7 held-out persons" in c.value
               and "0.812 (95% CI 0.780-0.840" in c.value and "170 photos of 20 other persons" in c.value
               for c in at.caption)
    assert any("replaced by real photographs" in c.value and "background IoU 0.424" in c.value
               and "skin 0.756" in c.value for c in at.caption)


def test_an_unrelated_csv_is_not_taken_as_a_reference_group(face: AppTest) -> None:
    face.sidebar.radio(key="face_group").set_value("Upload CSV").run()
    face.file_uploader(key="face_group_csv").set_value(
        ("patients.csv", b"id,age,weight\n1,34,70\n2,51,82\n", "text/csv")).run()
    assert not face.exception and "z_score" not in _measurements(face)
    assert any("is not a reference group table" in e.value for e in face.error)


def test_an_ultrasound_frame_on_the_face_page_is_refused_by_the_modality_check() -> None:
    frame = (ROOT / "data_samples" / "fetal_head" / "training_set" / "404_HC.png").read_bytes()
    at = _upload("frame.png", frame)
    assert any("looks like an ultrasound frame" in e.value and "not a photograph" in e.value
               for e in at.error)
    assert not at.metric and not at.dataframe
