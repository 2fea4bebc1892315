"""The brain page's clinician loop: correct the tumour mask slice by slice, download it as a NIfTI
label on the original grid with a review log, and the one-page case report."""
from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from core import metrics
from core.analysis.mask_correction import mask_review_row
from core.io.nifti import to_nifti_bytes
from core.io.volume import Volume
from core.overlay import COLORS, overlay_mask
from core.report import CaseReport, ReportImage, png_bytes, render_pdf
from core.volume_view import apply_window
from core.weights import ModelCard
from dashboard.mask_editor import edit_mask
from dashboard.validation_panel import card_line


def correction_panel(key: str, case_key: str, case_name: str, vol: Volume, pred: np.ndarray,
                     truth: np.ndarray | None, axis: str, index: int, level: float, width: float,
                     amount: Callable[[np.ndarray], str], stem: str) -> np.ndarray | None:
    """Strokes on the axial slice on screen; "Apply" keeps them in the session's corrected volume.
    Shows the corrected volume and its Dice, and downloads the corrected label (NIfTI on the
    original grid) and the review log. Returns the corrected mask when it differs from ``pred``."""
    st.subheader("Correct the mask")
    store = st.session_state.setdefault(f"{key}_fixed", {})
    fixed = store.get(case_key)
    fixed = pred.copy() if fixed is None or fixed.shape != pred.shape else fixed
    current = fixed
    if axis != "axial":
        st.caption("Corrections are drawn on axial slices: choose the axial axis in the sidebar.")
    else:
        st.caption(f"Axial slice {index}: green strokes add tumour, red strokes erase it; **Apply** keeps "
                   "them for this slice (other slices keep theirs). The figures below include what is drawn.")
        image = apply_window(vol.voxels[index], level, width)
        drawn = edit_mask(f"{key}_fix_{case_key[:16]}_{index}", image, fixed[index])
        current = fixed.copy()
        current[index] = drawn
        cols = st.columns(2)
        if cols[0].button(f"Apply to slice {index}", key=f"{key}_fix_apply"):
            store[case_key] = current
        if cols[1].button("Undo every correction of this case", key=f"{key}_fix_reset"):
            store.pop(case_key, None)
            current = pred.copy()
    changed_slices = int(np.count_nonzero((current != pred).any(axis=(1, 2))))
    review = {**mask_review_row(case_name, "model", pred, current, truth), "slices_changed": changed_slices,
              "volume_model": amount(pred), "volume_corrected": amount(current)}
    if truth is not None:
        review["iou_corrected_vs_truth"] = metrics.iou(current, truth)  # Dice is in the row already
    cols = st.columns(4)
    cols[0].metric("Tumour, corrected", amount(current), help=f"The model's: {amount(pred)}")
    cols[1].metric("Agreement with the model (Dice)", f"{review['dice_model_vs_corrected']:.3f}")
    cols[2].metric("Slices changed", f"{review['slices_changed']}")
    if truth is not None:
        cols[3].metric("Dice vs ground truth, corrected", f"{review['dice_corrected_vs_truth']:.3f}",
                       delta=f"{review['dice_corrected_vs_truth'] - review['dice_model_vs_truth']:+.3f} "
                             "vs the model", delta_color="off")
    if changed_slices:
        files = [("Corrected label (NIfTI)", partial(to_nifti_bytes, current.astype(np.uint8), vol),
                  f"{stem}_corrected_label.nii.gz", "application/gzip"),
                 ("Corrected case (NIfTI layout zip)", partial(case_zip, vol, current, review),
                  f"{stem}_corrected_case.zip", "application/zip"),
                 ("Review log (CSV)", pd.DataFrame([review]).to_csv(index=False), f"{stem}_review_log.csv",
                  "text/csv"),
                 ("Review log (JSON)", json.dumps(review, indent=2, default=float), f"{stem}_review_log.json",
                  "application/json")]
        for col, (label, data, name, mime) in zip(st.columns(len(files)), files):
            col.download_button(label, data, file_name=name, mime=mime, key=f"{key}_fix_{name}")
        st.caption("The label is written on the uploaded file's own voxel grid and affine (1 = tumour). The "
                   "zip is one labelled case of the NIfTI layout (`imagesTr/case_0001.nii.gz`: the volume as "
                   "read, `labelsTr/case_0001.nii.gz`, `review_log.csv`): unzip several into one folder "
                   "(renumbered) and `python -m train.segmentation --task brain_tumor --data DIR --init "
                   "weights/brain_tumor/unet_flair ...` fine-tunes on them.")
    return current if changed_slices else None


def case_zip(vol: Volume, label: np.ndarray, review: dict) -> bytes:
    """One corrected case in the NIfTI layout: the volume and its label on the file's own grid."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("imagesTr/case_0001.nii.gz", to_nifti_bytes(vol.voxels, vol, dtype=np.float32))
        zf.writestr("labelsTr/case_0001.nii.gz", to_nifti_bytes(label.astype(np.uint8), vol))
        zf.writestr("review_log.csv", pd.DataFrame([review]).to_csv(index=False))
    return buf.getvalue()


def report_pdf(case_name: str, image: np.ndarray, pred_slice: np.ndarray, truth_slice: np.ndarray | None,
               where: str, measures: list[tuple[str, str]], model: str, card: ModelCard,
               corrected_slice: np.ndarray | None) -> bytes:
    """The one-page report of what the page shows: the slice on screen with the prediction (and the
    ground truth, and the correction), the volume's measures, the card."""
    images = [ReportImage(where, png_bytes(image))]
    if truth_slice is not None:
        shown_truth = overlay_mask(image, truth_slice, COLORS["truth"])
        images.append(ReportImage("Ground truth", png_bytes(shown_truth)))
    images.append(ReportImage("Corrected by the user" if corrected_slice is not None else "Prediction",
                              png_bytes(overlay_mask(image, pred_slice if corrected_slice is None
                                                     else corrected_slice))))
    lines = [card_line(model, card)]
    notes = ["2-D slice model stacked into the volume: lower-grade gliomas (the FLAIR abnormality) are "
             "its scope.",
             "Volumes are in mL only when the file states its voxel size; otherwise in voxels."]
    return render_pdf(CaseReport("Brain tumour segmentation (MRI)", case_name, images, measures, lines,
                                 notes))
