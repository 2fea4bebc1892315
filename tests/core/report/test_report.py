"""The one-page case report: rendered to PNG and read back as text."""
from __future__ import annotations

import io

import numpy as np
import pypdfium2
import pytest
from pypdf import PdfReader

from core.report import (
    RESEARCH_LINE,
    CaseReport,
    ReportImage,
    centile_chart_png,
    plain,
    png_bytes,
    render_pdf,
)


def _report(**kw: object) -> CaseReport:
    frame = (np.indices((300, 400)).sum(0) % 255).astype(np.uint8)
    base = dict(title="Fetal head biometry", case="upload",
                images=[ReportImage("Input", png_bytes(frame)),
                        ReportImage("U-Net: fitted ellipse", png_bytes(np.dstack([frame] * 3)))],
                measures=[("U-Net: HC", "182.4 ± 1.2 mm"), ("U-Net: BPD / OFD", "50.1 / 64.0 mm")],
                model=["U-Net: trained on real HC18 frames. "
                       "Validation: HC |error| 1.93 mm (95% CI 1.5-2.4), n=68."],
                notes=["U-Net: uncertain: check the outline ≥ 2%"],
                chart=ReportImage("", centile_chart_png({"U-Net": 182.4}, 21.0)))
    return CaseReport(**{**base, **kw})


def _pdf_text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), " ".join(p.extract_text() for p in reader.pages)


def test_the_report_is_one_page_with_its_fields() -> None:
    pdf = render_pdf(_report())
    pages, text = _pdf_text(pdf)
    assert pages == 1
    for field in ("Fetal head biometry", "Case: upload", "Report made: 20", RESEARCH_LINE, "182.4 ± 1.2 mm",
                  "Validation: HC |error| 1.93 mm", "check the outline >= 2%"):
        assert field in " ".join(text.split()), field
    page = pypdfium2.PdfDocument(pdf)[0]
    png = np.asarray(page.render(scale=1).to_pil().convert("L"))
    assert png.shape[0] > png.shape[1] and png.std() > 10  # portrait A4 with pictures on it


def test_too_much_content_is_cut_to_one_page() -> None:
    long = _report(measures=[(f"measure {k}", f"{k} mm") for k in range(40)],
                   model=["a long line " * 30] * 10, notes=["note " * 40] * 10,
                   images=[ReportImage(f"picture {k}", png_bytes(np.zeros((50, 50), np.uint8) + k))
                           for k in range(5)])
    pages, text = _pdf_text(render_pdf(long))
    assert pages == 1 and "measure 15" in text and "measure 16" not in text


@pytest.mark.parametrize(("text", "shown"), [("≥ 2 mm", ">= 2 mm"), ("5 cm²", "5 cm²"), ("漢", "?")])
def test_text_outside_latin1_is_replaced(text: str, shown: str) -> None:
    assert plain(text) == shown
