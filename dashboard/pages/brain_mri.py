"""Brain tumour segmentation on MRI: volumes in, slices browsed on three axes, tumour measured."""
from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis.brain import slice_table, tumour_volume_ml, volume_metrics
from core.io.nifti import to_nifti_bytes
from core.overlay import COLORS, error_overlay, overlay_mask
from core.tasks import get_task
from core.volume_view import apply_window, axis_index, slice_spacing, take_slice, to_display
from dashboard import brain_sections, cache, widgets
from dashboard.charts import tumour_area_chart
from dashboard.volume_widgets import choose_model, model_label, view_settings, volume_input

KEY = "brain"
TASK = get_task("brain_tumor")

st.title("Brain tumour segmentation on MRI")
widgets.research_note()
st.caption("A 2-D U-Net reads every axial slice and the slice masks are stacked back into the volume: "
           "the FLAIR abnormality (tumour with its oedema) against background, as drawn in the LGG data. "
           "The FLAIR model reads one sequence (any NIfTI or DICOM series); the 3-sequence model reads "
           "pre-contrast, FLAIR and post-contrast together when an LGG patient brings all three (two "
           "networks, their probabilities averaged). "
           "2-D slices of lower-grade gliomas is the honest scope of these models.")

cards = widgets.usable_models(TASK.name)
if not cards:
    st.error("No brain tumour weights found in weights/brain_tumor/. Run `make weights-brain`.")
    st.stop()
case = volume_input(KEY)
if case is None:
    st.stop()
vol = case.volume
for note in (*vol.meta.get("notes", ()), *case.notes):
    st.caption(f"{case.name}: {note}")
model = choose_model(KEY, cards, case.sequences is not None)
if model is None:
    st.error("Only a 3-sequence model is available and this upload has one sequence. Restore "
             "`weights/brain_tumor/unet/` (the FLAIR model) from the repository.")
    st.stop()
card = cards[model]
channels = card.sequences
if card.context_slices and vol.voxels.shape[0] == 1:
    st.info(f"The {model_label(model, card)} reads each slice with its neighbours; this lone slice is read "
            "with copies of itself in their place, which its validation figures do not cover. Upload the "
            "whole patient (its slices, or a .zip of its folder) for the figures in its card.")
widgets.trained_on_notice(card, case.name)  # an LGG patient is named by its folder / file names
if float(np.ptp(vol.voxels)) == 0.0:
    st.warning(f"{case.name}: every voxel has the same value ({float(vol.voxels.flat[0]):g}): the file "
               "holds no image, so there is nothing to segment. Check that it is the MR sequence.")
with st.sidebar:
    thr = st.slider("Mask threshold (probability)", 0.05, 0.95, float(card.postprocess.get("threshold", 0.5)),
                    0.05, key=f"{KEY}_thr")
    min_area = st.slider("Minimum tumour area per slice (pixels)", 0, 500,
                         int(card.postprocess.get("min_area_px", 0)), 10, key=f"{KEY}_area")
    min_vox = st.slider("Minimum tumour size in 3-D (voxels)", 0, 1000,
                        int(card.postprocess.get("min_component_vox", 0)), 10, key=f"{KEY}_vox",
                        help="Connected pieces of the stacked mask smaller than this are dropped "
                             "(isolated specks); 0 keeps everything.")
    largest = st.toggle("Keep only the largest 3-D piece", bool(card.postprocess.get("largest_component_3d")),
                        key=f"{KEY}_largest",
                        help="A lower-grade glioma is usually one lesion: keeping the largest connected "
                             "piece of the stacked mask drops false positives elsewhere in the head, and "
                             "would drop a second lesion too. Off shows every piece.")
weights_dir = str(TASK.weights_dir(model))
with st.spinner(f"Segmenting {vol.voxels.shape[0]} slices..."):
    pred = cache.segment_volume(weights_dir, case.key, case.model_input(channels), thr, min_area, min_vox,
                                largest)
truth = None if case.label is None else case.label > 0
view = view_settings(KEY, vol, truth if truth is not None and truth.any() else pred.mask)
spacing = vol.spacing_mm
sp2 = slice_spacing(spacing, view.axis)

st.subheader("Volume")
cols = st.columns(5)
shape = "×".join(str(n) for n in vol.voxels.shape[::-1])
cols[0].metric("Grid (voxels)", shape,
               help=f"{vol.format}; voxel " + (" x ".join(f"{s:.2f}" for s in spacing[::-1]) + " mm"
                                               if spacing else "size unknown"))

def amount(mask) -> str:
    """Tumour volume in mL; one slice has no volume, so its area in cm²; voxels without spacing."""
    if spacing is None:
        return f"{int(mask.sum())} {'pixels' if mask.shape[0] == 1 else 'voxels'}"
    if mask.shape[0] == 1:
        return f"{mask.sum() * spacing[1] * spacing[2] / 100:.2f} cm²"
    return f"{tumour_volume_ml(mask, spacing):.2f} mL"


single = vol.voxels.shape[0] == 1
cols[1].metric("Predicted tumour " + ("area" if single else "volume"), amount(pred.mask),
               help="The file states no voxel size, so no mm." if spacing is None else None)
scores = volume_metrics(pred.mask, truth, spacing) if truth is not None else {}
if truth is not None:
    cols[2].metric("True tumour " + ("area" if single else "volume"), amount(truth))
    cols[3].metric("Dice / IoU" + (" (slice)" if single else " (volume)"),
                   f"{scores['dice']:.3f} / {scores['iou']:.3f}")
    hd = scores.get("hd95_mm", scores.get("hd95_vox"))
    unit = "mm" if "hd95_mm" in scores else "voxels"
    cols[4].metric("HD95" + (" (slice)" if single else " (volume)"),
                   "n/a (one mask empty)" if not math.isfinite(hd) else f"{hd:.1f} {unit}")
else:
    cols[2].caption("No ground truth: pick a bundled case or upload a label volume to see Dice, IoU "
                    "and HD95.")
widgets.model_badge(model_label(model, card), card)

image = apply_window(take_slice(vol.voxels, view.axis, view.index), view.level, view.width)
shown_pred = take_slice(pred.mask, view.axis, view.index)
panels = [(f"{view.axis.capitalize()} slice {view.index}", image)]
if truth is not None:
    shown_truth = take_slice(truth, view.axis, view.index)
    panels.append(("Ground truth", overlay_mask(image, shown_truth, COLORS["truth"], alpha=view.opacity)))
panels.append(("Prediction", overlay_mask(image, shown_pred, COLORS["mask"], alpha=view.opacity)))
if truth is not None:
    panels.append(("Errors", error_overlay(image, shown_pred, shown_truth, alpha=view.opacity)))
widgets.image_row([(cap, to_display(img, sp2)) for cap, img in panels])
if truth is not None:
    st.caption("Errors: bluish green true positive · orange false positive · sky blue false "
               "negative. Slices are shown with square millimetres (coronal and sagittal are "
               "stretched by the slice spacing).")

rows = slice_table(pred.mask, truth, spacing, axis=axis_index(view.axis))
unit = "mm2" if spacing else "px"
st.plotly_chart(tumour_area_chart(rows, view.axis, view.index, unit), width="stretch")
st.subheader(f"Per slice ({view.axis})")
show_all = st.toggle("Show slices without tumour too", key=f"{KEY}_all")
table = pd.DataFrame([r for r in rows if show_all or any(v for k, v in r.items() if k.startswith("area_"))])
if table.empty:
    st.info("Neither the prediction nor the ground truth has tumour on any slice of this axis.")
else:
    names = {f"area_pred_{unit}": f"Predicted area ({'mm²' if spacing else 'px'})",
             f"area_true_{unit}": f"True area ({'mm²' if spacing else 'px'})", "dice": "Dice", "iou": "IoU",
             "hd95_mm": "HD95 (mm)", "hd95_px": "HD95 (px)"}
    formats = {"Dice": "%.3f", "IoU": "%.3f"} | {
        names[c]: "%d" if c.startswith("area_") and unit == "px" else "%.1f"  # pixel counts are whole
        for c in table.columns if c.startswith(("area_", "hd95"))}
    st.dataframe(table.set_index("slice").rename(columns=names), width="stretch",
                 column_config={c: st.column_config.NumberColumn(format=f) for c, f in formats.items()})
stem = widgets.export_stem(case.name, uploaded=not case.key.startswith("sample:"))
shown_name = case.name if case.key.startswith("sample:") else "upload"
corrected = brain_sections.correction_panel(KEY, case.key, shown_name, vol, pred.mask, truth, view.axis,
                                            view.index, view.level, view.width, amount, stem)
measures = [("Grid (voxels)", shape), ("Predicted tumour", amount(pred.mask))]
if truth is not None:
    measures += [("True tumour", amount(truth)),
                 ("Dice / IoU", f"{scores['dice']:.3f} / {scores['iou']:.3f}")]
if corrected is not None:
    measures.append(("Corrected by the user", amount(corrected)))
report = partial(  # the PDF is made when the button is pressed, not on every rerun
    brain_sections.report_pdf, shown_name, image, shown_pred,
    take_slice(truth, view.axis, view.index) if truth is not None else None,
    f"{view.axis.capitalize()} slice {view.index}", measures, model_label(model, card), card,
    take_slice(corrected, view.axis, view.index) if corrected is not None else None)
files = [("Predicted mask (NIfTI)", partial(to_nifti_bytes, pred.mask.astype("uint8"), vol),  # on click
          f"{stem}_pred_mask.nii.gz", "application/gzip"),
         ("Per-slice table (CSV)", pd.DataFrame(rows).to_csv(index=False),
          f"{stem}_{view.axis}_slices.csv", "text/csv"),
         ("Case report (PDF)", report, f"{stem}_report.pdf", "application/pdf")]
widgets.download_row(KEY, files)
st.caption("The mask is written on the original voxel grid with the original affine, so it overlays the "
           "uploaded file in ITK-SNAP or 3D Slicer. Tumour volume = voxels x voxel volume (1 mL = 1000 mm³).")
widgets.card_panel(TASK, model, card)
