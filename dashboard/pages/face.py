"""Face analysis: landmarks, facial regions and measurements drawn on the face to check by eye."""
from __future__ import annotations

import csv
import math
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from core.face import draw
from core.face.anthropometry import (
    REFERENCES,
    Measurement,
    measure_face,
    measurement_table,
    read_reference_table,
    zscores,
)
from core.face.region_net import resize_labels
from core.face.regions import region_label_mask
from dashboard import cache, face_reports, face_sections, widgets
from dashboard.png import png

KEY = "face"
MAX_SHOWN = 1200  # pixels: a larger photo is measured whole but shown reduced
MIN_SHOWN = 520  # pixels: a small face window is enlarged so that lines and numbers stay readable
DEMO_GROUP = cache.FACE_SAMPLES / "reference_group.csv"
REF_LABELS = {"interpupillary": "Interpupillary distance", "outer_canthal": "Outer canthal distance"}
GROUPS = ("None", "Bundled demo (one person)", "Upload CSV")


def _group_rows(source: str) -> tuple[list[dict], str] | None:
    """The reference group's table rows and its name, or None (none chosen, or unreadable)."""
    if source == GROUPS[1]:
        with DEMO_GROUP.open(encoding="utf-8") as f:
            return list(csv.DictReader(f)), DEMO_GROUP.name
    up = st.sidebar.file_uploader("Reference group table (CSV of `python -m train.face_measurements`)",
                                  type=["csv"], key=f"{KEY}_group_csv")
    if up is None:
        return None
    try:
        return read_reference_table(up.getvalue()), up.name
    except ValueError as exc:
        st.error(f"{up.name} {exc}.")
        return None


def _zscores(ms: list[Measurement], group: tuple[list[dict], str], reference: str) -> dict | None:
    """key -> z (None where it cannot be computed) against the group's rows of ``reference``."""
    rows, name = group
    matching = [r for r in rows if (r.get("reference") or reference) == reference and not r.get("error")]
    if not matching:
        refs = sorted({r.get("reference") for r in rows if r.get("reference")} - {reference})
        st.warning(f"{name} has no measured photo with lengths relative to {REF_LABELS[reference].lower()}"
                   + (f" (it uses {', '.join(refs)}): choose that reference" if refs else "")
                   + "; no z-scores.")
        return None
    try:
        z = zscores(ms, matching)
    except ValueError as exc:
        st.error(f"{name}: {exc}")
        return None
    st.caption(f"z-scores against {len(matching)} photos of {name} (sample SD); blank where the group "
               "has fewer than 2 values or no spread.")
    return {k: None if math.isnan(v) else v for k, v in z.items()}


st.title("Face analysis")
widgets.research_note()
st.caption("A frontal photo: Face Mesh's 478 landmarks, the facial regions they outline, a face "
           "parser's regions learnt from real labelled faces (FASSEG), and 15 "
           "measurements with their definitions, drawn on the face so each can be checked by eye. "
           "Right and left are the subject's (the subject's right eye is on the image's left).")

name, rgb, lm = widgets.face_with_landmarks(KEY)

with st.sidebar:
    st.markdown("**Overlays**")
    show_points = st.toggle("Landmarks", value=True, key=f"{KEY}_points")
    show_regions = st.toggle("Regions", value=False, key=f"{KEY}_regions")
    show_lines = st.toggle("Measurement lines", value=True, key=f"{KEY}_lines")
    zoom = st.toggle("Zoom to the face", value=True, key=f"{KEY}_zoom",
                     help="Show the face and its surroundings only; measurements always use the whole photo.")
    st.markdown("**Measurements**")
    reference = st.radio("Lengths relative to", list(REFERENCES), format_func=REF_LABELS.get,
                         key=f"{KEY}_reference")
    mm_per_px = st.number_input("Scale (mm per pixel), optional", min_value=0.0001, max_value=10.0,
                                value=None, step=0.001, format="%.4f", key=f"{KEY}_mm",
                                help="At the face, in pixels of this photo (e.g. from a ruler held "
                                     "beside the face). Empty: unknown, lengths are ratios only.")
    group_source = st.radio("Reference group (z-scores)", GROUPS, key=f"{KEY}_group")

try:
    ms = measure_face(lm.points, reference=reference, mm_per_px=mm_per_px)
except ValueError as exc:
    st.error(f"{name}: cannot measure this face: {exc}")
    st.stop()
h, w = rgb.shape[:2]
box = draw.face_box(lm.bbox, (h, w)) if zoom else (0, 0, w, h)
x0, y0, x1, y1 = box
shown, k = draw.fit(rgb[y0:y1, x0:x1], MAX_SHOWN, MIN_SHOWN)
points = (lm.points - np.array([x0, y0, 0], np.float32)) * k  # in the shown window's pixels
labels = region_label_mask(lm)
labels_shown = resize_labels(labels[y0:y1, x0:x1], shown.shape[:2])
picture = draw.draw_regions(shown, labels_shown) if show_regions else shown
if show_points:
    picture = draw.draw_landmarks(picture, points)
if show_lines:  # last, so that the numbers stay readable
    picture = draw.draw_measurements(picture, points, ms)

photo_col, region_col, parser_col = st.columns(3)
notes = [f"{len(lm.points)} landmarks, iris points in vermilion"] if show_points else []
notes += ["lines numbered as in the measurement table"] if show_lines else []
notes += [] if (x1 - x0, y1 - y0) == (w, h) else [f"zoomed to the face ({x1 - x0}x{y1 - y0} of {w}x{h} px)"]
notes += [] if k >= 1 else [f"shown reduced, measured on the full {w}x{h} photo"]
photo_col.image(png(picture), width="stretch", caption="; ".join([name, *notes]))
region_col.image(png(draw.color_labels(labels_shown)), width="stretch",
                 caption="Regions from the landmarks")
legend = pd.DataFrame(draw.region_legend(labels))
legend["region"] = legend["region"].map(face_sections.pretty)
region_col.dataframe(
    legend.style.map(lambda c: f"background-color: {c}; color: {c}", subset=["color"]),
    hide_index=True, width="stretch", column_config={
        "region": "Region", "color": "Colour", "area_px": st.column_config.NumberColumn("Area (px)"),
        "percent_of_face": st.column_config.NumberColumn("% of face", format="%.1f")})
with parser_col:
    parser_folder = cache.face_region_weights()
    if parser_folder is None:
        st.info("No face-parser weights (`weights/face_regions/unet/model.json`): train them with "
                "`make weights-face` to see the parser's regions here beside the landmark-derived ones.")
    else:
        face_sections.parser_regions(parser_folder, rgb, lm, labels, box, shown.shape[:2])

st.subheader("Measurements")
rows = measurement_table(ms)
table = pd.DataFrame(rows).drop(columns="key")
table.insert(0, "#", range(1, len(rows) + 1))
if mm_per_px is None:
    table = table.drop(columns="value_mm")
group = _group_rows(group_source) if group_source != GROUPS[0] else None
if group_source == GROUPS[1]:
    st.warning("The bundled reference group is ONE person's photo (this portrait) under augmentation: "
               "it demonstrates z-scores and is not a population norm. See data_samples/face/README.md.")
z = _zscores(ms, group, reference) if group else None
if z is not None:
    table["z_score"] = [z.get(r["key"]) for r in rows]
st.dataframe(table, hide_index=True, width="stretch", column_config={
    "name": "Measurement", "value": st.column_config.NumberColumn("Value", format="%.3f"),
    "unit": "Unit", "value_mm": st.column_config.NumberColumn("mm", format="%.1f"), "side": "Side",
    "definition": st.column_config.TextColumn("Definition", width="large"), "landmarks": "Landmarks",
    "z_score": st.column_config.NumberColumn("z-score", format="%.2f")})
st.caption("Lengths in the image plane of a frontal photo; a turned head shortens the lengths across "
           "the turn. The asymmetry index (70 landmark pairs) is not drawn.")

stem = widgets.export_stem(name, uploaded=name not in cache.face_samples())
points = pd.DataFrame({"index": np.arange(len(lm.points)), "x_px": lm.points[:, 0],
                       "y_px": lm.points[:, 1], "z_px": lm.points[:, 2]})
records = [{"file": stem, "reference": reference, "mm_per_px": mm_per_px, **r,
            **({"z_score": z.get(r["key"])} if z is not None else {})} for r in rows]
parser_card = cache.available_models("face_regions").get("unet") if parser_folder else None
report = partial(face_reports.face_report, stem if stem == "upload" else name, picture,
                 draw.color_labels(labels_shown), rows, z, reference, parser_card)
widgets.download_row(KEY, [("Landmarks (CSV)", points.to_csv(index=False, float_format="%.3f"),
                            f"{stem}_landmarks.csv", "text/csv")]
                     + widgets.table_downloads(KEY, f"{stem}_face_measurements", records)
                     + [("Case report (PDF)", report, f"{stem}_report.pdf", "application/pdf")])
