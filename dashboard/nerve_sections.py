"""The nerve page's clinician loop: correct a model's mask, keep corrections as Kaggle-layout labels,
and the one-page case report."""
from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from core import metrics
from core.analysis.mask_correction import UPLOAD_SUBJECT, CorrectedFrame, kaggle_nerve_zip, mask_review_row
from core.io.image import to_gray_u8
from core.overlay import COLORS, overlay_mask
from core.predict import SegmentationResult
from core.report import CaseReport, ReportImage, png_bytes, render_pdf
from core.weights import ModelCard
from dashboard import corrections
from dashboard.mask_editor import edit_mask
from dashboard.validation_panel import card_line
from dashboard.widgets import InputCase


def correction_panel(key: str, case: InputCase, results: Mapping[str, SegmentationResult],
                     labels: Mapping[str, str]) -> tuple[str, SegmentationResult, object] | None:
    """Pick a model, correct its mask with strokes, see the measures again, keep the correction.
    Returns (model, its result, the corrected mask) when the mask was changed, else None."""
    st.subheader("Correct the mask")
    model = st.selectbox("Start from", list(results), format_func=lambda m: labels.get(m, m),
                         key=f"{key}_fix_model")
    res = results[model]
    st.caption("Draw on the frame: green strokes add nerve, red strokes erase it (the canvas toolbar "
               "undoes and clears). The measures below follow the corrected mask.")
    fixed = edit_mask(f"{key}_fix_{case.name}_{model}", case.image, res.mask)
    review = mask_review_row("upload" if case.uploaded else case.name, labels.get(model, model), res.mask,
                             fixed, case.mask)
    cols = st.columns(4)
    cols[0].metric("Area, corrected", f"{review['area_corrected_px']} px",
                   delta=f"{review['area_corrected_px'] - review['area_model_px']:+d} px vs the model",
                   delta_color="off")
    cols[1].metric("Agreement with the model (Dice)", f"{review['dice_model_vs_corrected']:.3f}")
    if case.mask is not None:
        cols[2].metric("Dice vs ground truth, corrected", f"{review['dice_corrected_vs_truth']:.3f}",
                       delta=f"{review['dice_corrected_vs_truth'] - review['dice_model_vs_truth']:+.3f} "
                             "vs the model", delta_color="off")
    if cols[3].button("Keep this correction", key=f"{key}_fix_keep",
                      help="Adds the corrected frame to this session's Kaggle-layout download (in memory)."):
        kept = corrections.kept(key)
        stem = case.name.rsplit(".", 1)[0] if not case.uploaded else f"{UPLOAD_SUBJECT}_{len(kept) + 1}"
        kept[f"{case.name}:{case.uploaded}"] = CorrectedFrame(stem, to_gray_u8(case.image), fixed,
                                                              {**review, "stem": stem})
    corrections.kept_downloads(
        key, "Kaggle", kaggle_nerve_zip,
        "The zip is a Kaggle 2016 nerve folder (`train/<subject>_<n>.tif`, `_mask.tif`, `train_masks.csv` "
        "with run-length masks, and `review_log.csv`): `python -m train.segmentation --task nerve --data "
        "<unzipped folder> --init weights/nerve/unet` with the other options of the card's recorded command "
        "fine-tunes on it.")
    return (model, res, fixed) if (fixed != res.mask).any() else None


def report_pdf(case: InputCase, results: Mapping[str, SegmentationResult], labels: Mapping[str, str],
               cards: Mapping[str, ModelCard], corrected: tuple[str, SegmentationResult, object] | None
               ) -> bytes:
    """The one-page report of what the page shows for this frame."""
    images = [ReportImage("Input" + ("" if case.uploaded else f": {case.name}"), png_bytes(case.image))]
    if case.mask is not None:
        truth = overlay_mask(case.image, case.mask, COLORS["truth"])
        images.append(ReportImage("Ground truth", png_bytes(truth)))
    first = next(iter(results))
    shown_mask = corrected[2] if corrected else results[first].mask
    images.append(ReportImage(("Corrected by the user, from " if corrected else "")
                              + labels.get(corrected[0] if corrected else first, first),
                              png_bytes(overlay_mask(case.image, shown_mask))))
    measures: list[tuple[str, str]] = []
    for m, res in results.items():
        name = labels.get(m, m)
        text = f"present {res.presence:.2f}, area {int(res.mask.sum())} px"
        if case.mask is not None:
            text += f", Dice {metrics.dice(res.mask, case.mask):.3f}"
        measures.append((name, text))
    if corrected:
        text = f"area {int(corrected[2].sum())} px"
        if case.mask is not None:
            text += f", Dice {metrics.dice(corrected[2], case.mask):.3f}"
        measures.append(("Corrected mask", text))
    model_lines = [card_line(labels.get(m, m), cards[m]) for m in results]
    notes = ["Areas in pixels: the frame states no pixel size.",
             "Presence: the model's nerve-present probability (see its card for its calibration)."]
    return render_pdf(CaseReport("Ultrasound nerve segmentation", "upload" if case.uploaded else case.name,
                                 images, measures, model_lines, notes))
