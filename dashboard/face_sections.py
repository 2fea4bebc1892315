"""Face page sections: the face parser's regions beside the landmark-derived ones."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from core.datasets.fasseg import FACE_CLASSES
from core.face import draw
from core.face.landmarks import FaceLandmarks
from core.face.parsing_eval import landmark_regions_as_fasseg
from core.face.region_net import region_iou, resize_labels
from dashboard import cache
from dashboard.png import png


def pretty(name: str) -> str:
    """A label name for people: ``right_eye`` -> ``Right eye``."""
    return name.replace("_", " ").capitalize()


def parser_regions(folder: str, rgb: np.ndarray, lm: FaceLandmarks, landmark_labels: np.ndarray,
                    box: tuple[int, int, int, int], shape: tuple[int, int]) -> None:
    """The face parser's FASSEG regions (the ``box`` window shown at ``shape``), their IoU against
    the landmark-derived regions (in FASSEG's classes, on the whole photo's grid) and its card's
    validation on real held-out faces."""
    parser = cache.get_face_parser(folder)
    predicted = cache.face_region_labels(folder, rgb, lm)
    ious = region_iou(predicted, landmark_regions_as_fasseg(landmark_labels), parser.names)
    x0, y0, x1, y1 = box
    st.image(png(draw.color_classes(resize_labels(predicted[y0:y1, x0:x1], shape), parser.names)),
             width="stretch", caption="Regions from the face parser (FASSEG classes)")
    counts = np.bincount(predicted.ravel(), minlength=len(parser.names))
    val = parser.card.metrics.get("validation_real", {})
    st.dataframe(pd.DataFrame({
        "region": [pretty(n) for n in parser.names[1:]],
        "color": [draw.hex_color(draw.PARSER_COLORS.get(n, (128, 128, 128))) for n in parser.names[1:]],
        "area_px": counts[1:],
        "agreement": [ious[n] if n in FACE_CLASSES else None for n in parser.names[1:]],
        "validated": [val.get("iou", {}).get(n) for n in parser.names[1:]]}).style.map(
            lambda c: f"background-color: {c}; color: {c}", subset=["color"]),
        hide_index=True, width="stretch", column_config={
            "region": "Region", "color": "", "area_px": st.column_config.NumberColumn("px"),
            "agreement": st.column_config.NumberColumn(
                "vs landmarks", format="%.3f", help="IoU between the parser's region and the "
                "landmark-derived regions of this photo, mapped to FASSEG's classes (eyes, nose, lips "
                "= mouth, face = skin). FASSEG's skin also covers ears and neck, which the landmark "
                "regions do not reach, so skin agrees less by definition."),
            "validated": st.column_config.NumberColumn(
                "validated", format="%.3f", help="Mean IoU against expert FASSEG labels on the "
                "card's held-out persons (not this photo)")})
    if "mean_iou_face" in val:
        lo, hi = val.get("mean_iou_face_ci95", [math.nan, math.nan])
        st.caption(f"Validated on {val['n_images']} real FASSEG photos of {val['n_persons']} held-out "
                   f"persons (frontal and turned heads): mean IoU over eyes, nose, mouth and skin "
                   f"{val['mean_iou_face']:.3f} (95% CI {lo:.3f}-{hi:.3f}, persons resampled). "
                   f"Trained on {parser.card.training.get('n_train_photos', '?')} photos of "
                   f"{parser.card.training.get('n_train_persons', '?')} other persons "
                   f"({parser.card.training.get('data', 'unknown data')}).")
        scenes = parser.card.metrics.get("validation_real_backgrounds", {})
        if "mean_iou_face" in scenes:
            st.caption(f"The same photos with their plain studio background replaced by real photographs "
                       f"(train.parser_backgrounds): background IoU {scenes['iou']['background']:.3f}, "
                       f"hair {scenes['iou']['hair']:.3f}, mean over eyes, nose, mouth and skin "
                       f"{scenes['mean_iou_face']:.3f}. A busy background can be taken for hair.")
    else:
        st.caption("This parser's card holds no validation on real labelled faces.")
    if lm.n_faces > 1:
        st.caption("The parser framed the largest face only.")
