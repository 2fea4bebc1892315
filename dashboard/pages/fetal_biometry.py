"""Fetal head biometry: head mask, ellipse, HC / BPD / OFD, GA and INTERGROWTH-21st centile."""
from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from core.analysis.fetal_biometry import format_centile
from core.analysis.fetal_head import pixel_size_problem, report_row
from core.overlay import COLORS, draw_ellipse, error_overlay, heatmap_overlay, mask_png, overlay_mask
from core.tasks import get_task
from dashboard import cache, fetal_sections, widgets
from dashboard.charts import intergrowth_chart

KEY = "fetal"
TASK = get_task("fetal_head")
LABELS = {"unet": "U-Net", "segnet": "SegNet", "unet_small": "Compact U-Net"}
PX_RANGE_MM = (0.001, 5.0)  # what the pixel size box accepts

st.title("Fetal head biometry")
widgets.research_note()

cards = widgets.usable_models(TASK.name, LABELS)
if not cards:
    st.error("No usable fetal head weights in weights/fetal_head/. Run `make weights-fetal` or restore "
             "the folder.")
    st.stop()
case = widgets.image_input(KEY, TASK)
if case is None:
    st.stop()
models = widgets.model_picker(KEY, cards, LABELS)
header_px = case.pixel_size_mm
header_problem = None if header_px is None else (
    pixel_size_problem(header_px, case.image.shape)
    or (None if PX_RANGE_MM[0] <= header_px <= PX_RANGE_MM[1] else "outside the box range"))
if header_problem:
    st.warning(f"The file states a pixel size of {header_px:g} mm, which cannot be right for this frame "
               f"({header_problem}): it is ignored. Enter the pixel size to measure.")
    header_px = None
with st.sidebar:
    px = st.number_input("Pixel size (mm)", min_value=PX_RANGE_MM[0], max_value=PX_RANGE_MM[1],
                         value=header_px, step=0.001, format="%.4f", key=f"{KEY}_px_{case.name}",
                         help="From the HC18 CSV or the DICOM header when known; edit if needed.")
    ga = st.number_input("Gestational age (weeks), optional", min_value=14.0, max_value=40.0, value=None,
                         step=0.1, format="%.1f", key=f"{KEY}_ga",
                         help="Stated GA places the HC on the INTERGROWTH-21st chart (14-40 weeks).")
    thr = st.slider("Mask threshold (probability)", 0.05, 0.95, 0.5, 0.05, key=f"{KEY}_thr")
    show_spread = st.toggle("Disagreement map of the test-time views", key=f"{KEY}_spread",
                            help="Where the model's views of the frame (plain, mirrored, zoomed) disagree "
                                 "about the head: the outline is least certain there.")
    show_cam = st.toggle("Grad-CAM of the segmentation", key=f"{KEY}_cam")

if px is not None and (typed_problem := pixel_size_problem(px, case.image.shape)):
    st.warning(f"The pixel size typed is ignored: {typed_problem}. Check the value (mm per pixel).")
    px = None
results = {m: cache.analyse_fetal_head(m, case.image, px, ga, thr) for m in models}
shown = [("Input: " + case.name, case.image)]
for m, res in results.items():
    img = overlay_mask(case.image, res.segmentation.mask)
    if res.measurement:
        img = draw_ellipse(img, res.measurement.ellipse)
    shown.append((f"{LABELS[m]}: mask and fitted ellipse (BPD, OFD axes)", img))
if case.mask is not None:
    shown.append(("Ground truth", overlay_mask(case.image, case.mask, COLORS["truth"])))
widgets.image_row(shown)
for m in models:
    widgets.model_badge(LABELS[m], cards[m])

warnings = {w for res in results.values() for w in res.warnings}
for w in sorted(warnings):
    st.warning(w)
for m, res in results.items():
    if res.problem:
        st.error(f"{LABELS[m]}: {res.problem}")
    elif res.uncertain:
        st.warning(f"{LABELS[m]}: {res.uncertain}", icon="⚠️")

ref = case.meta.get("hc_mm")
rows = {LABELS[m]: report_row(res, case.mask, ref) for m, res in results.items()}
first = next((r for r in rows.values() if r["HC (mm)"]), None)
if first:
    def with_spread(key: str) -> str:
        value, spread = first[f"{key} (mm)"], first[f"{key} spread (± mm)"]
        return f"{value:.1f} ± {spread:.1f} mm" if spread is not None else f"{value:.1f} mm"

    cols = st.columns(4)
    cols[0].metric("Head circumference", with_spread("HC"))
    cols[1].metric("BPD (outer-outer)", with_spread("BPD"))
    cols[2].metric("OFD (outer-outer)", with_spread("OFD"))
    cols[3].metric("GA from HC (Hadlock 1984)", f"{first['GA Hadlock (weeks)']:.1f} weeks")
    source = next(k for k, r in rows.items() if r is first)
    spread = next(res.spread for m, res in results.items() if LABELS[m] == source)
    st.caption((f"Headline figures from {source}; every model is in the table below. "
                if len(rows) > 1 else "")
               + (f"± : the largest difference from the shown value over the model's {spread.n_views} "
                  "test-time views of the frame (plain, mirrored, zoomed), not a confidence interval; "
                  "see the model card below for the error on real validation frames." if spread else ""))
table = pd.DataFrame.from_dict(rows, orient="index").dropna(axis=1, how="all")
if "HC centile" in table:
    table["HC centile"] = table["HC centile"].map(format_centile)
st.dataframe(table, width="stretch", column_config={
    c: st.column_config.NumberColumn(format="%.2f") for c in table.columns if table[c].dtype.kind == "f"})
for name, row in rows.items():
    if row.get("flag"):
        st.warning(f"{name}: HC {row['flag']}")

hcs = {name: r["HC (mm)"] for name, r in rows.items() if r["HC (mm)"]}
if hcs:
    st.plotly_chart(intergrowth_chart(hcs, ga), width="stretch")
    if ga is None:
        st.caption("State a gestational age in the sidebar to see the centile and screening flags.")

fixed = fetal_sections.correction_panel(KEY, case, results, LABELS, px, ga)

if case.mask is not None:
    st.subheader("Errors against the ground truth")
    st.caption("Bluish green: true positive · orange: false positive · sky blue: false negative")
    widgets.image_row([(LABELS[m], error_overlay(case.image, res.segmentation.mask, case.mask))
                       for m, res in results.items()])

if show_spread:
    st.subheader("Disagreement of the test-time views")
    st.caption("Bright: pixels where some views see head and others do not. A wide band along the skull "
               "means the outline, and so HC, is less certain.")
    maps = [(LABELS[m], heatmap_overlay(case.image, dis)) for m, res in results.items()
            if (dis := res.segmentation.disagreement()) is not None]
    if maps:
        widgets.image_row(maps)
    else:
        st.info("These models have no test-time views.")

if show_cam:
    st.subheader("Grad-CAM: where the network looked to segment the head")
    widgets.image_row([(LABELS[m], heatmap_overlay(case.image, cache.gradcam(TASK.name, m, case.image,
                                                                                  res.segmentation.mask)))
                       for m, res in results.items() if res.segmentation.mask.any()])

st.subheader("Model cards")
for m in models:
    widgets.card_panel(TASK, LABELS[m], cards[m])

stem = widgets.export_stem(case.name, case.uploaded)
report = partial(fetal_sections.report_pdf, case, results, rows, LABELS, cards, px, ga, fixed)
records = [{"file": stem, "model": name, "pixel_size_mm": px, "ga_stated_weeks": ga, **row}
           for name, row in rows.items()]
widgets.download_row(KEY, [(f"{LABELS[m]} mask (PNG)", mask_png(res.segmentation.mask),
                            f"{stem}_{m}_mask.png", "image/png") for m, res in results.items()]
                     + widgets.table_downloads(KEY, f"{stem}_biometry", records)
                     + [("Case report (PDF)", report, f"{stem}_report.pdf", "application/pdf")])
