"""Face pictures for people: landmarks, region colours and measurement lines drawn on a photo.

numpy/cv2 only. Every function returns a new HxWx3 uint8 RGB image and leaves its input alone.
Dot sizes, line widths and text scale with the image, so a 4000-pixel photo shown small looks
like a 600-pixel one. Colours are colour-blind-safe: the seven Okabe-Ito colours (Okabe & Ito
2008) plus Paul Tol's olive and wine and a neutral grey, so that ten regions get ten colours.
"""
from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

import cv2
import numpy as np

from core.face.anthropometry import Measurement
from core.face.regions import LABEL_NAMES
from core.io.image import to_rgb_u8

REGION_COLORS: MappingProxyType[str, tuple[int, int, int]] = MappingProxyType({
    "right_eye": (204, 121, 167),   # Okabe-Ito reddish purple
    "left_eye": (153, 153, 51),     # Tol olive
    "right_brow": (0, 114, 178),    # Okabe-Ito blue
    "left_brow": (136, 34, 85),     # Tol wine
    "nose": (230, 159, 0),          # Okabe-Ito orange
    "lips": (213, 94, 0),           # Okabe-Ito vermilion
    "face_oval": (187, 187, 187),   # grey: the rest of the face's skin
    "forehead": (240, 228, 66),     # Okabe-Ito yellow
    "right_cheek": (0, 158, 115),   # Okabe-Ito bluish green
    "left_cheek": (86, 180, 233),   # Okabe-Ito sky blue
})
# The face parser's FASSEG classes (index order of core.datasets.fasseg.CLASSES), same palette family.
PARSER_COLORS: MappingProxyType[str, tuple[int, int, int]] = MappingProxyType({
    "background": (0, 0, 0),
    "hair": (136, 34, 85),          # Tol wine
    "skin": (187, 187, 187),        # grey
    "eyes": (204, 121, 167),        # Okabe-Ito reddish purple
    "nose": (230, 159, 0),          # Okabe-Ito orange
    "mouth": (213, 94, 0),          # Okabe-Ito vermilion
})
MESH_COLOR = (86, 180, 233)   # sky blue: the 468 mesh points
IRIS_COLOR = (213, 94, 0)     # vermilion: the 10 refined iris points (468-477)
LINE_COLOR = (240, 228, 66)   # yellow: measurement lines
N_MESH = 468
_LUT = np.zeros((256, 3), np.uint8)  # label value -> colour; 0 (background) stays black
for _k, _name in enumerate(LABEL_NAMES[1:], start=1):
    _LUT[_k] = REGION_COLORS[_name]
_SHIFT = 4  # sub-pixel bits for cv2 drawing
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _line_width(shape: tuple[int, ...]) -> int:
    return max(1, round(max(shape[:2]) / 400))


def _fixed(xy: Sequence[float]) -> tuple[int, int]:
    return round(float(xy[0]) * (1 << _SHIFT)), round(float(xy[1]) * (1 << _SHIFT))


def hex_color(rgb: Sequence[int]) -> str:
    """``"#rrggbb"`` of an (r, g, b) colour, for legends and tables."""
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb))


def face_box(bbox: tuple[float, float, float, float], shape: tuple[int, int], margin: float = 0.35
             ) -> tuple[int, int, int, int]:
    """A square-ish window (x0, y0, x1, y1), integer pixels, around a face's landmark box grown by
    ``margin`` of its longer side on every edge and clipped to an image of ``shape`` (H, W): for
    showing a face that is small in its photo at a readable size."""
    x0, y0, x1, y1 = bbox
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    h, w = shape[:2]
    left, top = max(0, int(np.floor(cx - side / 2))), max(0, int(np.floor(cy - side / 2)))
    right, bottom = min(w, int(np.ceil(cx + side / 2))), min(h, int(np.ceil(cy + side / 2)))
    return left, top, max(right, left + 1), max(bottom, top + 1)


def fit(image: np.ndarray, max_side: int, min_side: int) -> tuple[np.ndarray, float]:
    """Like :func:`shrink`, but a small image (longer side under ``min_side``) is enlarged to it
    (cubic), so that dots, lines and numbers drawn on it afterwards stay readable."""
    h, w = image.shape[:2]
    if max(h, w) >= min_side:
        return shrink(image, max_side)
    factor = min_side / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC), factor


def shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy no larger than ``max_side`` pixels (area interpolation) and the factor applied
    (1.0 when already small enough): for showing a large photo without sending every pixel."""
    h, w = image.shape[:2]
    factor = min(1.0, max_side / max(h, w))
    if factor == 1.0:
        return image.copy(), 1.0
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), factor


def draw_landmarks(image: np.ndarray, points: np.ndarray, *, color: tuple[int, int, int] = MESH_COLOR,
                   iris_color: tuple[int, int, int] = IRIS_COLOR) -> np.ndarray:
    """HxWx3 uint8: each landmark as a small filled dot; iris points (468-477) in ``iris_color``.

    Args:
        image: the photo (HxW or HxWx3; converted as in :func:`core.io.image.to_rgb_u8`).
        points: Nx2 or Nx3 (x, y[, z]) pixels of ``image``; N = 468 or 478.
    """
    rgb = to_rgb_u8(image).copy()
    radius = max(1, round(max(rgb.shape[:2]) / 500))
    for i, xy in enumerate(np.asarray(points, np.float64)[:, :2]):
        cv2.circle(rgb, _fixed(xy), radius << _SHIFT, iris_color if i >= N_MESH else color,
                   -1, cv2.LINE_AA, _SHIFT)
    return rgb


def color_labels(labels: np.ndarray) -> np.ndarray:
    """HxWx3 uint8: an HxW region label image (values index ``LABEL_NAMES``) in the region
    colours on black."""
    return _LUT[np.asarray(labels, np.uint8)]


def color_classes(labels: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """HxWx3 uint8: a face parser's label image (value k = ``names[k]``) in :data:`PARSER_COLORS`
    (grey for a name without a colour), background black."""
    lut = np.array([PARSER_COLORS.get(n, (128, 128, 128)) for n in names], np.uint8)
    return lut[np.asarray(labels, np.uint8)]


def draw_regions(image: np.ndarray, labels: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """HxWx3 uint8: each region of ``labels`` (HxW, same size as ``image``) tinted in its colour,
    with a thin outline between regions; the background is left as it was."""
    rgb = to_rgb_u8(image).copy()
    labels = np.asarray(labels, np.uint8)
    if labels.shape != rgb.shape[:2]:
        raise ValueError(f"labels are {labels.shape[1]}x{labels.shape[0]} but the image is "
                         f"{rgb.shape[1]}x{rgb.shape[0]}; make them with region_label_mask(lm, shape)")
    inside = labels > 0
    rgb[inside] = (rgb[inside] * (1 - alpha) + _LUT[labels[inside]] * alpha).astype(np.uint8)
    for k in np.unique(labels[inside]):
        contours, _ = cv2.findContours((labels == k).astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(rgb, contours, -1, _LUT[k].tolist(), _line_width(rgb.shape))
    return rgb


def region_legend(labels: np.ndarray) -> list[dict[str, object]]:
    """One row per region: ``region`` (name), ``color`` ("#rrggbb"), ``area_px`` (pixels of
    ``labels``) and ``percent_of_face`` (of all labelled pixels; 0 when nothing is labelled)."""
    counts = np.bincount(np.asarray(labels, np.uint8).ravel(), minlength=len(LABEL_NAMES))
    face = int(counts[1:len(LABEL_NAMES)].sum())
    return [{"region": name, "color": hex_color(REGION_COLORS[name]), "area_px": int(counts[k]),
             "percent_of_face": 100.0 * counts[k] / face if face else 0.0}
            for k, name in enumerate(LABEL_NAMES) if k > 0]


def draw_measurements(image: np.ndarray, points: np.ndarray, measurements: Sequence[Measurement], *,
                      color: tuple[int, int, int] = LINE_COLOR, max_pairs: int = 4) -> np.ndarray:
    """HxWx3 uint8: each measurement's landmark pairs as lines, labelled with its number.

    Measurement ``i`` of the sequence is numbered ``i + 1`` (the row of its table). A line
    shared by several measurements is drawn once and labelled with all their numbers
    ("1,3"). Measurements defined by more than ``max_pairs`` pairs (the asymmetry index's 70)
    are not drawn: their lines would hide the face.

    Args:
        image: the photo the points belong to.
        points: Nx2 or Nx3 (x, y[, z]) pixels; N = 478 (the iris centres 468 and 473 are used).
        measurements: from :func:`core.face.anthropometry.measure_face`.
    """
    rgb = to_rgb_u8(image).copy()
    xy = np.asarray(points, np.float64)[:, :2]
    lines: dict[tuple[int, int], list[int]] = {}
    for number, m in enumerate(measurements, start=1):
        if len(m.landmarks) <= max_pairs:
            for a, b in m.landmarks:
                lines.setdefault((min(a, b), max(a, b)), []).append(number)
    width = _line_width(rgb.shape)
    for a, b in lines:
        cv2.line(rgb, _fixed(xy[a]), _fixed(xy[b]), color, width, cv2.LINE_AA, _SHIFT)
    scale = max(0.3, max(rgb.shape[:2]) / 1600)
    thick = max(1, round(max(rgb.shape[:2]) / 700))
    placed: list[tuple[float, float, float, float]] = []
    for (a, b), numbers in lines.items():
        text = ",".join(map(str, numbers))
        (tw, th), base = cv2.getTextSize(text, _FONT, scale, thick)
        box = _free_box(xy[a], xy[b], tw, th + base, placed)
        placed.append(box)
        org = (round(box[0]), round(box[3] - base))
        cv2.putText(rgb, text, org, _FONT, scale, (0, 0, 0), 3 * thick, cv2.LINE_AA)  # dark halo
        cv2.putText(rgb, text, org, _FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return rgb


def _free_box(p: np.ndarray, q: np.ndarray, w: float, h: float,
              placed: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a w x h label for the line p-q: centred on the line at the first of a
    few points along it where it overlaps no label placed so far, else as near the line as
    possible beside it (lines at eye level lie almost on top of each other), else at its middle."""
    d = q - p
    normal = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-9)
    step = abs(normal[0]) * w + abs(normal[1]) * h  # label extent across the line
    for offset in (0, -1, 1, -2, 2, -3, 3):
        for t in (0.5, 0.3, 0.7, 0.15, 0.85):
            cx, cy = p + t * d + offset * step * normal
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            if not any(box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3] for o in placed):
                return box
    cx, cy = p + 0.5 * d
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
