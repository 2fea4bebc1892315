"""Every analysis page makes a one-page case report of what it shows (AppTest); read back as text."""
from __future__ import annotations

import io
from pathlib import Path

import cv2
import pytest
from pypdf import PdfReader
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
PAGES = {  # page -> (title, words the report must hold)
    "fetal_biometry": ("Fetal head biometry", ["U-Net: HC", "mm", "Validation"]),
    "nerve": ("Ultrasound nerve segmentation", ["present", "Dice", "Validation"]),
    "brain_mri": ("Brain tumour segmentation (MRI)", ["Predicted tumour", "Dice / IoU", "per-patient Dice"]),
    "face": ("Face analysis", ["Interpupillary distance", "Face Mesh", "mean IoU"]),
    "face_screening": ("Face screening", ["Answer", "Top 1"]),
}


def _report(deferred: dict, name: str | None = None) -> bytes:
    """The bytes of the page's case report (made when its button is pressed): the one named
    ``name``, or the only one rendered."""
    names = [n for n in deferred if n.endswith("report.pdf") and (name is None or n == name)]
    assert len(names) == 1, list(deferred)
    return deferred[names[0]]()


def _text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), " ".join(" ".join(p.extract_text() for p in reader.pages).split())


@pytest.mark.parametrize("page", list(PAGES))
def test_each_page_reports_its_case_on_one_page(page: str, deferred: dict) -> None:
    title, words = PAGES[page]
    at = AppTest.from_file(str(ROOT / "dashboard" / "pages" / f"{page}.py"), default_timeout=240).run()
    assert not at.exception
    pages, text = _text(_report(deferred))
    assert pages == 1
    for word in [title, "not a diagnosis", "Report made:", *words]:
        assert word in text, (word, text[:400])


def test_an_uploaded_frame_is_reported_as_upload_never_by_its_file_name(deferred: dict) -> None:
    frame = cv2.imread(str(ROOT / "data_samples" / "fetal_head" / "training_set" / "404_HC.png"),
                       cv2.IMREAD_GRAYSCALE)
    at = AppTest.from_file(str(ROOT / "dashboard" / "pages" / "fetal_biometry.py"), default_timeout=180).run()
    at.sidebar.radio(key="fetal_source").set_value("Upload").run()
    data = cv2.imencode(".png", frame)[1].tobytes()
    at.file_uploader(key="fetal_upload").set_value(("Jane_Doe_scan.png", data, "image/png")).run()
    assert not at.exception
    _, text = _text(_report(deferred, "upload_report.pdf"))
    assert "Case: upload" in text and "Jane" not in text
