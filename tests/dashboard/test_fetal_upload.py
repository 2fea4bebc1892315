"""The fetal page's upload branch: formats, bad files and an uploaded ground truth (AppTest)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data_samples" / "fetal_head"
PAGE = str(ROOT / "dashboard" / "pages" / "fetal_biometry.py")
FRAME = SAMPLES / "training_set" / "404_HC.png"  # a real HC18 frame of a held-out exam
FRAME_PX, FRAME_HC = 0.235595235, 189.1  # its row of the CSV


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def _upload(name: str, data: bytes, truth: tuple[str, bytes] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.sidebar.radio(key="fetal_source").set_value("Upload").run()
    at.file_uploader(key="fetal_upload").set_value((name, data, "application/octet-stream")).run()
    if truth:
        at.file_uploader(key="fetal_truth").set_value((truth[0], truth[1], "image/png")).run()
    assert not at.exception
    return at


def _hc(at: AppTest) -> float:
    metric = next(m for m in at.metric if m.label == "Head circumference")
    return float(metric.value.split()[0])


def test_dicom_upload_prefills_the_pixel_size_and_measures():
    at = _upload("scan.dcm", (SAMPLES / "dicom" / "fetal_head_phantom.dcm").read_bytes())
    px = at.sidebar.number_input[0].value
    assert px == pytest.approx(0.3144, abs=1e-3)
    assert 50 < _hc(at) < 400


def test_sixteen_bit_and_rgba_uploads_are_measured():
    frame = cv2.imread(str(FRAME), cv2.IMREAD_GRAYSCALE)
    for image in (frame.astype(np.uint16) * 257, cv2.cvtColor(frame, cv2.COLOR_GRAY2BGRA)):
        at = _upload("frame.png", _png(image))
        at.sidebar.number_input[0].set_value(FRAME_PX).run()  # a PNG carries no pixel size
        assert not at.exception and abs(_hc(at) - FRAME_HC) < 5.0


def test_corrupt_file_gets_a_message_not_a_traceback():
    at = _upload("broken.png", _png(np.zeros((20, 20), np.uint8))[:30])
    assert any("Cannot read broken.png" in e.value for e in at.error)
    assert not at.metric


def test_blank_frame_says_no_head_found():
    at = _upload("blank.png", _png(np.full((540, 800), 128, np.uint8)))
    at.sidebar.number_input[0].set_value(0.2).run()
    assert any("no head found" in e.value for e in at.error)
    assert not any(m.label == "Head circumference" for m in at.metric)


def test_uploaded_hc18_outline_turns_on_the_comparison():
    frame = FRAME.read_bytes()
    outline = FRAME.with_name("404_HC_Annotation.png").read_bytes()
    at = _upload("404_HC.png", frame, truth=("404_HC_Annotation.png", outline))
    at.sidebar.number_input[0].set_value(FRAME_PX).run()
    table = at.dataframe[0].value
    assert table["Dice"].iloc[0] > 0.97 and table["|HC error| (mm)"].iloc[0] < 5.0
    assert any("Errors against the ground truth" in s.value for s in at.subheader)


@pytest.mark.parametrize("delta_cm", [0.6, 0.00001])  # 6 mm and 0.0001 mm per pixel
def test_an_implausible_dicom_pixel_size_is_ignored_with_a_note(delta_cm: float) -> None:
    import io

    import pydicom

    ds = pydicom.dcmread(SAMPLES / "dicom" / "fetal_head_phantom.dcm")
    region = ds.SequenceOfUltrasoundRegions[0]
    region.PhysicalDeltaX = region.PhysicalDeltaY = delta_cm
    buf = io.BytesIO()
    ds.save_as(buf)
    at = _upload("scan.dcm", buf.getvalue())
    assert any("is ignored. Enter the pixel size" in w.value for w in at.warning)
    assert at.sidebar.number_input[0].value is None
    assert not [m for m in at.metric if m.label == "Head circumference"]  # no HC without a pixel size
    at.sidebar.number_input[0].set_value(0.3144).run()
    assert not at.exception and 50 < _hc(at) < 400


def test_a_tiny_ground_truth_mark_is_refused_with_a_message() -> None:
    frame = cv2.imread(str(FRAME), cv2.IMREAD_GRAYSCALE)
    mark = np.zeros_like(frame)
    mark[100, 100:103] = 255  # three pixels: no outline, no region
    at = _upload("404_HC.png", _png(frame), ("404_HC_Annotation.png", _png(mark)))
    assert any("is not a closed outline or a filled region" in e.value for e in at.error)
    assert not [c for c in at.dataframe if "Dice" in c.value.columns]  # no comparison against it


@pytest.mark.parametrize("page", ["fetal_biometry", "nerve"])
def test_a_face_photo_on_an_ultrasound_page_gets_a_message_and_no_numbers(page: str) -> None:
    photo = (ROOT / "data_samples" / "face" / "grace_hopper.jpg").read_bytes()
    at = AppTest.from_file(str(ROOT / "dashboard" / "pages" / f"{page}.py"), default_timeout=180).run()
    key = "fetal" if page == "fetal_biometry" else "nerve"
    at.sidebar.radio(key=f"{key}_source").set_value("Upload").run()
    at.file_uploader(key=f"{key}_upload").set_value(("photo.jpg", photo, "image/jpeg")).run()
    assert not at.exception
    assert any("is a colour picture" in e.value and "nothing is analysed" in e.value for e in at.error)
    assert not at.metric and not at.dataframe


@pytest.mark.parametrize("page", ["fetal_biometry", "nerve"])
def test_a_greyscale_photo_on_an_ultrasound_page_is_refused_by_the_modality_check(page: str) -> None:
    grey = cv2.imread(str(ROOT / "data_samples" / "face" / "grace_hopper.jpg"), cv2.IMREAD_GRAYSCALE)
    at = AppTest.from_file(str(ROOT / "dashboard" / "pages" / f"{page}.py"), default_timeout=180).run()
    key = "fetal" if page == "fetal_biometry" else "nerve"
    at.sidebar.radio(key=f"{key}_source").set_value("Upload").run()
    at.file_uploader(key=f"{key}_upload").set_value(("photo.png", _png(grey), "image/png")).run()
    assert not at.exception
    assert any("looks like a photograph" in e.value and "nothing is analysed" in e.value for e in at.error)
    assert not at.metric and not at.dataframe


def test_a_typed_pixel_size_no_frame_can_have_is_ignored_with_a_warning() -> None:
    at = _upload("frame.png", _png(cv2.imread(str(FRAME), cv2.IMREAD_GRAYSCALE)))
    at.sidebar.number_input[0].set_value(2.0).run()  # 800 px x 2 mm: a 1.6 m field of view
    assert not at.exception
    assert any("pixel size typed is ignored" in w.value and "1600 mm across" in w.value for w in at.warning)
    assert not [m for m in at.metric if m.label == "Head circumference"]


def test_an_uploaded_file_name_stays_out_of_the_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    files: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self, data, mimetype, kind, filename=None):
        if filename:
            files[filename] = data if isinstance(data, bytes) else str(data).encode()
        return original(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    frame = FRAME.read_bytes()
    at = _upload("DOE_JANE_1970-01-01.png", frame)
    at.sidebar.number_input[0].set_value(FRAME_PX).run()
    assert not at.exception and files
    assert {"upload_biometry.csv", "upload_unet_small_mask.png"} <= set(files)  # the sample's came first
    assert not any("DOE" in name for name in files), sorted(files)
    assert not any(b"DOE" in data for data in files.values())


def test_a_ct_dicom_on_an_ultrasound_page_gets_a_message_and_no_numbers() -> None:
    import io

    import pydicom

    ds = pydicom.dcmread(SAMPLES / "dicom" / "fetal_head_phantom.dcm")
    ds.Modality = "CT"
    buf = io.BytesIO()
    ds.save_as(buf)
    at = _upload("scan.dcm", buf.getvalue())
    assert any("modality 'CT', not ultrasound" in e.value for e in at.error)
    assert not at.metric and not at.dataframe


def _number(at: AppTest, label: str):
    return next(n for n in at.number_input if n.label == label)


def _metric_mm(at: AppTest, label: str) -> float:
    return float(next(m.value for m in at.metric if m.label == label).split()[0])


def test_a_corrected_ellipse_changes_the_hc_by_the_expected_amount_and_is_kept() -> None:
    from core.geometry import ellipse_circumference

    at = _upload("frame.png", _png(cv2.imread(str(FRAME), cv2.IMREAD_GRAYSCALE)))
    at.sidebar.number_input[0].set_value(FRAME_PX).run()
    model_hc = _hc(at)
    assert _metric_mm(at, "HC, corrected") == pytest.approx(model_hc, abs=0.05)  # starts at the model's
    ofd, bpd = _number(at, "OFD (px)").value, _number(at, "BPD (px)").value
    _number(at, "OFD (px)").set_value(ofd + 20).run()
    expected = ellipse_circumference((ofd + 20) / 2 * FRAME_PX, bpd / 2 * FRAME_PX)
    assert _metric_mm(at, "HC, corrected") == pytest.approx(expected, abs=0.05)
    assert _hc(at) == pytest.approx(model_hc)  # the model's own value stays
    delta = next(m.delta for m in at.metric if m.label == "HC, corrected")
    assert float(delta.split()[0]) == pytest.approx(expected - model_hc, abs=0.11)  # model HC shown rounded
    next(b for b in at.button if b.label == "Keep this correction").click().run()
    assert not at.exception
    log = next(d.value for d in at.dataframe if "hc_corrected_mm" in d.value.columns)
    assert len(log) == 1 and log["hc_corrected_mm"].iloc[0] == pytest.approx(expected, abs=0.01)
    assert log["stem"].iloc[0] == "900001_HC"  # an upload never keeps its file name


def test_the_case_report_download_is_a_one_page_pdf(deferred: dict) -> None:
    import io

    from pypdf import PdfReader

    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception
    reader = PdfReader(io.BytesIO(next(f for n, f in deferred.items() if n.endswith("_report.pdf"))()))
    text = " ".join(reader.pages[0].extract_text().split())
    assert len(reader.pages) == 1
    assert "Fetal head biometry" in text and "not a diagnosis" in text
    assert f"HC {_hc(at):.1f}" in text.replace(": HC ", " HC ") and "Validation" in text
