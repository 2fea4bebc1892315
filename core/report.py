"""One-page case reports (PDF) for the analysis pages, built with fpdf2.

A page fills a :class:`CaseReport` -- the input and the prediction as pictures, the measures with
their units and uncertainty, an optional chart, a summary of the model card (what trained it, its
validated figures), notes -- and :func:`render_pdf` lays it out on one A4 page with the date and the
research-use line. Nothing identifies a patient: the page passes ``"upload"`` for an uploaded
file's name, and no DICOM tag is ever written.
"""
from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from core.analysis.fetal_biometry import GA_MAX_WEEKS, GA_MIN_WEEKS, centile_value_mm

RESEARCH_LINE = "Research and education use only: not a medical device, not a diagnosis."
# The PDF core fonts hold Latin-1 only; these stand-ins keep the text readable.
_PLAIN = str.maketrans({"≥": ">=", "≤": "<=", "–": "-", "—": "-", "−": "-", "·": "-", "’": "'", "“": '"',
                        "”": '"', "…": "...", "³": "^3", "→": "->", "≈": "~"})
PAGE_W, PAGE_H, MARGIN = 210.0, 297.0, 12.0


def plain(text: object) -> str:
    """``text`` in the Latin-1 the PDF's core fonts can draw (others become ``?``)."""
    return str(text).translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


def png_bytes(image: np.ndarray, max_side: int = 900) -> bytes:
    """An HxW or HxWx3 uint8 picture as PNG, reduced to at most ``max_side`` pixels (file size)."""
    pic = Image.fromarray(np.ascontiguousarray(image))
    pic.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    pic.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


@dataclass(frozen=True)
class ReportImage:
    """A picture of the report with its caption."""

    caption: str
    png: bytes


@dataclass(frozen=True)
class CaseReport:
    """What one page reports about one case.

    Attributes:
        title: the analysis, e.g. ``"Fetal head biometry"``.
        case: the case's name (``"upload"`` for an uploaded file: never its file name).
        images: the input and the prediction (at most three are laid out side by side).
        measures: (label, value with its unit and uncertainty) pairs.
        chart: an optional chart picture (the INTERGROWTH-21st centile chart).
        model: lines summarising the model card: name, what trained it, its validated figures.
        notes: warnings and remarks shown on the page.
        created: when the report was made (now, by default; UTC).
    """

    title: str
    case: str
    images: Sequence[ReportImage]
    measures: Sequence[tuple[str, str]]
    model: Sequence[str] = ()
    notes: Sequence[str] = ()
    chart: ReportImage | None = None
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))


def _picture(pdf: Any, image: ReportImage, x: float, y: float, w: float, h: float) -> float:
    """Draw ``image`` fitted into the w x h box at (x, y) with its caption below; the height used."""
    with Image.open(io.BytesIO(image.png)) as pic:
        iw, ih = pic.size
    scale = min(w / iw, (h - 5) / ih)
    pw, ph = iw * scale, ih * scale
    pdf.image(io.BytesIO(image.png), x=x + (w - pw) / 2, y=y, w=pw, h=ph)
    pdf.set_xy(x, y + ph + 0.5)
    pdf.set_font("Helvetica", size=7)
    pdf.multi_cell(w, 3, plain(image.caption), align="C")
    return ph + 5


def render_pdf(report: CaseReport) -> bytes:
    """The report as a one-page A4 PDF (what does not fit is cut, never spilled onto a second
    page: at most three pictures, 16 measures, 6 model lines and 5 notes).

    fpdf2 is imported here, when a report is made (on a click): pages should not wait for it."""
    from fpdf import FPDF

    pdf = FPDF(unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(MARGIN, MARGIN)
    pdf.set_title(plain(f"{report.title}: {report.case}"))
    pdf.set_creator("medimg-dashboard")
    pdf.add_page()
    width = PAGE_W - 2 * MARGIN
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(width, 8, plain(report.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    when = report.created.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    pdf.cell(width, 5, plain(f"Case: {report.case}    Report made: {when}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(160, 40, 40)
    pdf.cell(width, 5, RESEARCH_LINE, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    y = pdf.get_y() + 2
    images = list(report.images)[:3]
    if images:
        box = (width - 4 * (len(images) - 1)) / len(images)
        used = max(_picture(pdf, im, MARGIN + k * (box + 4), y, box, 80) for k, im in enumerate(images))
        y += used + 3
    pdf.set_xy(MARGIN, y)
    left = width * (0.5 if report.chart else 1.0)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(left, 6, "Measures", new_x="LMARGIN", new_y="NEXT")
    for label, value in list(report.measures)[:16]:
        pdf.set_font("Helvetica", size=8.5)
        pdf.cell(left * 0.55, 4.6, plain(label), border="B")
        pdf.set_font("Helvetica", "B", 8.5)
        pdf.cell(left * 0.45, 4.6, plain(value), border="B", new_x="LMARGIN", new_y="NEXT")
    bottom = pdf.get_y()
    if report.chart:
        bottom = max(bottom, y + _picture(pdf, report.chart, MARGIN + left + 4, y, width - left - 4, 70))
    pdf.set_xy(MARGIN, bottom + 3)
    for heading, lines, limit in (("Model", report.model, 6), ("Notes", report.notes, 5)):
        if not lines:
            continue
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(width, 6, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=8)
        for line in list(lines)[:limit]:
            if pdf.get_y() > PAGE_H - MARGIN - 12:
                break
            pdf.multi_cell(width, 3.8, plain(line), new_x="LMARGIN", new_y="NEXT")
    pdf.set_xy(MARGIN, PAGE_H - MARGIN - 5)
    pdf.set_font("Helvetica", "I", 7.5)
    pdf.cell(width, 4, plain(f"{RESEARCH_LINE} Numbers are computed by the models named above; check the "
                             "outline before using any of them."), align="C")
    return bytes(pdf.output())


def centile_chart_png(points: dict[str, float], ga_weeks: float | None) -> bytes:
    """The INTERGROWTH-21st HC chart (3rd, 50th, 97th centiles, 14-40 weeks) with this case's HC
    by source, as a PNG for the report (a horizontal line per HC when no GA is stated). matplotlib is
    imported here, when a report is made (on a click): pages should not wait for it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2, 3.0), dpi=150)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ga = np.linspace(GA_MIN_WEEKS, GA_MAX_WEEKS, 105)
    for c, style in ((97, "--"), (50, "-"), (3, "--")):
        label = "3rd centile" if c == 3 else f"{c}th centile"
        ax.plot(ga, [centile_value_mm(g, c) for g in ga], style, color="#666", lw=1, label=label)
    for k, (name, hc) in enumerate(points.items()):
        colour = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")[k % 4]
        if ga_weeks is None:
            ax.axhline(hc, ls=":", color=colour, label=f"{name}: {hc:.1f} mm (no GA stated)")
        else:
            ax.plot([ga_weeks], [hc], "o", color=colour, ms=6, label=f"{name}: {hc:.1f} mm")
    ax.set_xlabel("gestational age (weeks)", fontsize=8)
    ax.set_ylabel("head circumference (mm)", fontsize=8)
    ax.set_title("INTERGROWTH-21st head circumference", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
