"""Pictures for people: masks, ellipses, error maps and heat maps drawn on images (numpy only)."""
from __future__ import annotations

import math

import cv2
import numpy as np

from core.geometry import Ellipse
from core.io.image import to_rgb_u8

# Colour-blind-safe choices (Okabe-Ito): TP green-blue, FP orange, FN blue.
COLORS = {
    "mask": (0, 158, 115),
    "truth": (230, 159, 0),
    "ellipse": (240, 228, 66),
    "tp": (0, 158, 115),
    "fp": (213, 94, 0),
    "fn": (86, 180, 233),
}


def overlay_mask(image: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = COLORS["mask"],
                 alpha: float = 0.35, outline: bool = True) -> np.ndarray:
    """HxWx3 uint8: ``mask`` tinted over ``image`` with an optional solid outline."""
    rgb = to_rgb_u8(image).copy()
    m = mask.astype(bool)
    if m.any():
        rgb[m] = (rgb[m] * (1 - alpha) + np.array(color) * alpha).astype(np.uint8)
        if outline:
            contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(rgb, contours, -1, color, max(1, round(max(m.shape) / 400)))
    return rgb


def draw_ellipse(image: np.ndarray, ellipse: Ellipse, color: tuple[int, int, int] = COLORS["ellipse"],
                 axes: bool = True) -> np.ndarray:
    """HxWx3 uint8 copy of ``image`` with the ellipse and (optionally) its BPD/OFD axes drawn."""
    rgb = to_rgb_u8(image).copy()
    thick = max(1, round(max(rgb.shape[:2]) / 300))
    shift, k = 4, 16
    centre = (round(ellipse.cx * k), round(ellipse.cy * k))
    cv2.ellipse(rgb, centre, (round(ellipse.a * k), round(ellipse.b * k)),
                math.degrees(ellipse.angle_rad), 0, 360, color, thick, cv2.LINE_AA, shift)
    if axes:
        c, s = math.cos(ellipse.angle_rad), math.sin(ellipse.angle_rad)
        for length, (dx, dy) in ((ellipse.a, (c, s)), (ellipse.b, (-s, c))):
            p1 = (round((ellipse.cx - length * dx) * k), round((ellipse.cy - length * dy) * k))
            p2 = (round((ellipse.cx + length * dx) * k), round((ellipse.cy + length * dy) * k))
            cv2.line(rgb, p1, p2, color, max(1, thick - 1), cv2.LINE_AA, shift)
    return rgb


def error_overlay(image: np.ndarray, pred: np.ndarray, truth: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """HxWx3 uint8: true positives, false positives and false negatives in three colours."""
    rgb = to_rgb_u8(image).copy()
    p, t = pred.astype(bool), truth.astype(bool)
    for key, region in (("tp", p & t), ("fp", p & ~t), ("fn", ~p & t)):
        if region.any():
            rgb[region] = (rgb[region] * (1 - alpha) + np.array(COLORS[key]) * alpha).astype(np.uint8)
    return rgb


def heatmap_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """HxWx3 uint8: an HxW map in [0, 1] in the 'jet' colour map over ``image``."""
    rgb = to_rgb_u8(image)
    colored = cv2.applyColorMap(np.uint8(np.clip(heat, 0, 1) * 255), cv2.COLORMAP_JET)[..., ::-1]
    return (rgb * (1 - alpha) + colored * alpha).astype(np.uint8)


def mask_png(mask: np.ndarray) -> bytes:
    """PNG bytes of a binary mask (0/255), for download."""
    ok, buf = cv2.imencode(".png", np.where(mask.astype(bool), 255, 0).astype(np.uint8))
    if not ok:
        raise ValueError("could not encode the mask as PNG")
    return buf.tobytes()


# Okabe-Ito colours for up to eight outlines drawn on one image (model comparisons).
OUTLINE_COLORS = ((230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66),
                  (0, 114, 178), (213, 94, 0), (204, 121, 167), (255, 255, 255))


def outlines_overlay(image: np.ndarray, masks: list[tuple[np.ndarray, tuple[int, int, int]]]
                     ) -> np.ndarray:
    """HxWx3 uint8: the outline of each mask in its colour, so overlapping masks stay visible."""
    rgb = to_rgb_u8(image).copy()
    for mask, color in masks:
        m = mask.astype(np.uint8)
        if m.any():
            contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(rgb, contours, -1, color, max(1, round(max(m.shape) / 300)))
    return rgb
