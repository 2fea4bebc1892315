"""The fetal page's clinician loop: correct the ellipse, keep corrections as HC18 labels, and the
one-page case report."""
from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from core.analysis.fetal_biometry import format_centile
from core.analysis.fetal_correction import (
    CorrectedCase,
    CorrectedReading,
    controls_of,
    corrected_reading,
    ellipse_from_controls,
    hc18_folder_zip,
    review_row,
)
from core.analysis.fetal_head import FetalHeadAnalysis
from core.io.image import to_gray_u8
from core.overlay import draw_ellipse
from core.report import CaseReport, ReportImage, centile_chart_png, png_bytes, render_pdf
from core.weights import ModelCard
from dashboard import corrections
from dashboard.png import png
from dashboard.validation_panel import card_line
from dashboard.widgets import InputCase

CORRECTED_COLOUR = (204, 121, 167)  # reddish purple: apart from the model's yellow ellipse
UPLOAD_EXAM_BASE = 900000  # corrected uploads are named <900001..>_HC.png in the HC18 folder


def correction_panel(key: str, case: InputCase, results: Mapping[str, FetalHeadAnalysis],
                     labels: Mapping[str, str], px: float | None, ga: float | None
                     ) -> CorrectedReading | None:
    """Controls over the first measured model's ellipse; the corrected measures beside the model's;
    a button that keeps the correction for the session's HC18 download. Returns the corrected reading
    when the user changed the ellipse (None otherwise, or without a pixel size)."""
    measured = [(m, r) for m, r in results.items() if r.measurement is not None]
    st.subheader("Correct the outline")
    if not measured:
        st.caption("No ellipse to correct: no model measured a head on this frame.")
        return None
    model, res = measured[0]
    base = controls_of(res.measurement.ellipse)
    h, w = case.image.shape[:2]
    st.caption(f"Start: {labels[model]}'s ellipse. Move its centre, its diameters (OFD along the long "
               "axis, BPD across) and its angle; every measure below is recomputed from the corrected "
               "ellipse, beside the model's value.")
    big = float(2 * max(h, w))
    start = {"cx": min(max(base["cx"], 0.0), float(w)), "cy": min(max(base["cy"], 0.0), float(h)),
             "ofd": min(base["ofd_px"], big), "bpd": min(base["bpd_px"], big),
             "angle": round(base["angle_deg"], 1) % 180.0}
    cols = st.columns(5)
    stem = f"{key}_fix_{case.name}_{model}"
    now = {"cx": cols[0].number_input("Centre x (px)", 0.0, float(w), start["cx"], 1.0, key=f"{stem}_cx"),
           "cy": cols[1].number_input("Centre y (px)", 0.0, float(h), start["cy"], 1.0, key=f"{stem}_cy"),
           "ofd": cols[2].number_input("OFD (px)", 2.0, big, start["ofd"], 1.0, key=f"{stem}_ofd"),
           "bpd": cols[3].number_input("BPD (px)", 2.0, big, start["bpd"], 1.0, key=f"{stem}_bpd"),
           "angle": cols[4].number_input("Angle (degrees)", 0.0, 180.0, start["angle"], 0.5,
                                         key=f"{stem}_angle", help="Of the OFD axis from the horizontal, "
                                                                   "clockwise")}
    cx, cy, ofd, bpd, angle = now.values()
    ellipse = ellipse_from_controls(cx, cy, ofd, bpd, angle)
    picture = draw_ellipse(draw_ellipse(case.image, res.measurement.ellipse, axes=False), ellipse,
                           CORRECTED_COLOUR)
    left, right = st.columns([3, 2])
    left.image(png(picture), caption=f"Yellow: {labels[model]}'s ellipse · purple: the corrected one",
               width="stretch")
    if px is None:
        right.info("Enter the pixel size (sidebar) to measure the corrected ellipse.")
        return None
    fixed = corrected_reading(ellipse, px, ga)
    m = res.measurement
    for label, new, old in (("HC, corrected", fixed.hc_mm, m.hc_mm),
                            ("BPD, corrected", fixed.bpd_mm, m.bpd_mm),
                            ("OFD, corrected", fixed.ofd_mm, m.ofd_mm)):
        right.metric(label, f"{new:.1f} mm", delta=f"{new - old:+.1f} mm vs the model ({old:.1f} mm)",
                     delta_color="off")
    words = f"GA from the corrected HC (Hadlock 1984): {fixed.ga_hadlock_weeks:.1f} weeks"
    if fixed.centile is not None:
        words += f"; INTERGROWTH-21st {format_centile(fixed.centile.centile)} centile"
        if fixed.centile.flag:
            right.warning(f"Corrected HC {fixed.centile.flag}")
    right.caption(words + ".")
    review = review_row("upload" if case.uploaded else case.name, labels[model], res.segmentation.mask,
                        m.hc_mm, fixed)
    if right.button("Keep this correction", key=f"{stem}_keep",
                    help="Adds the corrected case to this session's HC18 download (in memory only)."):
        kept = corrections.kept(key)
        name = case.name.removesuffix(".png") if not case.uploaded else None
        kept_stem = name or f"{UPLOAD_EXAM_BASE + len(kept) + 1}_HC"
        kept[f"{case.name}:{case.uploaded}"] = CorrectedCase(kept_stem, to_gray_u8(case.image), fixed,
                                                             {**review, "stem": kept_stem})
    corrections.kept_downloads(
        key, "HC18", hc18_folder_zip,
        "The zip is an HC18 folder (`training_set/` frames and annotations, its CSV with the corrected HC, "
        "and `review_log.csv`): `python -m train.segmentation --task fetal_head --data <unzipped folder> "
        "--init weights/fetal_head/unet` with the other options of the card's recorded command fine-tunes "
        "on it.")
    return fixed if any(abs(now[k] - start[k]) > 1e-9 for k in now) else None


def report_pdf(case: InputCase, results: Mapping[str, FetalHeadAnalysis], rows: Mapping[str, dict],
               labels: Mapping[str, str], cards: Mapping[str, ModelCard], px: float | None, ga: float | None,
               fixed: CorrectedReading | None) -> bytes:
    """The one-page report of what the page shows for this frame."""
    images = [ReportImage("Input" + ("" if case.uploaded else f": {case.name}"), png_bytes(case.image))]
    notes: list[str] = []
    measures: list[tuple[str, str]] = [("Pixel size", f"{px:.4f} mm" if px else "not given")]
    if ga is not None:
        measures.append(("Stated gestational age", f"{ga:.1f} weeks"))
    for m, res in results.items():
        row, name = rows[labels[m]], labels[m]
        if res.measurement is None:
            notes.append(f"{name}: {res.problem or 'no head measured'}")
            continue
        if len(images) < 3:
            images.append(ReportImage(f"{name}: fitted ellipse", png_bytes(draw_ellipse(case.image,
                                                                                        res.measurement.ellipse))))
        spread = f" ± {row['HC spread (± mm)']:.1f}" if row.get("HC spread (± mm)") is not None else ""
        measures += [(f"{name}: HC", f"{row['HC (mm)']:.1f}{spread} mm"),
                     (f"{name}: BPD / OFD", f"{row['BPD (mm)']:.1f} / {row['OFD (mm)']:.1f} mm"),
                     (f"{name}: GA (Hadlock)", f"{row['GA Hadlock (weeks)']:.1f} weeks")]
        if row.get("HC centile") is not None:
            measures.append((f"{name}: HC centile (INTERGROWTH-21st)", f"{format_centile(row['HC centile'])}"
                             + (f" ({row['flag']})" if row.get("flag") else "")))
        if res.uncertain:
            notes.append(f"{name}: {res.uncertain}")
    if fixed is not None:
        measures += [("Ellipse corrected by the user: HC", f"{fixed.hc_mm:.1f} mm"),
                     ("Corrected: BPD / OFD", f"{fixed.bpd_mm:.1f} / {fixed.ofd_mm:.1f} mm"),
                     ("Corrected: GA (Hadlock)", f"{fixed.ga_hadlock_weeks:.1f} weeks")]
        if fixed.centile is not None:
            measures.append(("Corrected: HC centile", format_centile(fixed.centile.centile)))
    hcs = {labels[m]: r.measurement.hc_mm for m, r in results.items() if r.measurement}
    if fixed is not None:
        hcs["corrected"] = fixed.hc_mm
    chart = ReportImage("", centile_chart_png(hcs, ga)) if hcs else None
    model_lines = [card_line(labels[m], cards[m]) for m in results]
    notes.append("± : the largest difference over the model's test-time views, not a confidence interval.")
    return render_pdf(CaseReport("Fetal head biometry", "upload" if case.uploaded else case.name, images,
                                 measures, model_lines, notes, chart))
