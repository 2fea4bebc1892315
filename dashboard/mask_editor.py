"""Correct a predicted mask on the page: brush or polygon strokes on a canvas over the image.

The canvas is streamlit-drawable-canvas (kept up to date by its author; 0.13 needs Streamlit 1.53+).
Strokes are drawn in one colour to add and another to erase; the canvas's rendered strokes come
back as an RGBA picture, are scaled to the image's grid and applied to the model's mask
(:func:`core.analysis.mask_correction.apply_strokes`).
"""
from __future__ import annotations

import cv2
import numpy as np
import streamlit as st
from PIL import Image

from core.analysis.mask_correction import apply_strokes
from core.io.image import to_rgb_u8
from core.overlay import overlay_mask

ADD, ERASE = "#00c853", "#ff1744"  # green adds, red erases
CANVAS_WIDTH = 560  # px on screen


def canvas(**kwargs: object) -> object:
    """The drawing canvas (``streamlit_drawable_canvas.st_canvas``). Imported on first use: the
    component registers its files with the running Streamlit server when imported, and there is
    none when tests or the CLIs import this module."""
    from streamlit_drawable_canvas import st_canvas

    return st_canvas(**kwargs)


def stroke_masks(rgba: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The canvas's RGBA strokes on the image's HxW grid: (add, erase) bool masks. A stroke pixel
    is painted where its alpha is over half; green-dominant adds, red-dominant erases."""
    small = np.asarray(rgba)
    painted = small[..., 3] > 127
    green, red = small[..., 1].astype(int), small[..., 0].astype(int)
    add, erase = painted & (green > red), painted & (red > green)
    size = (shape[1], shape[0])
    return (cv2.resize(add.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0,
            cv2.resize(erase.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0)


def edit_mask(key: str, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A canvas over ``image`` with ``mask`` shown; returns the mask with the user's strokes applied
    (``mask`` itself until something is drawn). The canvas keeps its strokes across reruns; its own
    toolbar undoes, redoes and clears them."""
    cols = st.columns(3)
    mode = cols[0].radio("Stroke", ["Add", "Erase"], horizontal=True, key=f"{key}_mode",
                         help="Green strokes add to the mask, red strokes erase; switch between strokes.")
    tool = cols[1].radio("Tool", ["Brush", "Polygon"], horizontal=True, key=f"{key}_tool",
                         help="Polygon: click the corners, then the first one again to close it.")
    width = cols[2].slider("Brush width (screen px)", 2, 60, 14, key=f"{key}_width")
    h, w = mask.shape
    height = max(1, round(CANVAS_WIDTH * h / w))
    background = Image.fromarray(overlay_mask(to_rgb_u8(image), mask))
    colour = ADD if mode == "Add" else ERASE
    result = canvas(fill_color=colour, stroke_width=width, stroke_color=colour,
                    background_image=background, height=height, width=CANVAS_WIDTH,
                    drawing_mode="freedraw" if tool == "Brush" else "polygon", return_image_data=True,
                    key=f"{key}_canvas")
    if result is None or result.image_data is None:
        return mask
    add, erase = stroke_masks(result.image_data, mask.shape)
    return apply_strokes(mask, add, erase)
