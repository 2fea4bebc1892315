"""Mask and shape geometry: connected components, outlines and ellipses (fit, rasterise, draw).

Conventions (see ``shared/docs/DOMAIN.md`` section 1):

* An :class:`Ellipse` lives in pixel coordinates of the mask it was fitted to: ``cx`` is the
  column, ``cy`` the row (x right, y down), ``a >= b`` are SEMI-axes in pixels and ``angle_rad``
  is the direction of the major axis measured from the x axis towards y, in ``[0, pi)``.
* Outline points are ``(x, y)`` integer centres of boundary pixels, as OpenCV returns them.

Masks are ``HxW`` (``DxHxW`` where a function says so) bool or 0/1/255 arrays; ``> 0`` is foreground.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Ellipse:
    """An ellipse in pixel coordinates: centre (cx, cy), semi-axes a >= b, angle in radians."""

    cx: float
    cy: float
    a: float
    b: float
    angle_rad: float

    def scaled(self, sx: float, sy: float) -> Ellipse:
        """Return the ellipse mapped through an axis-aligned scaling ``x*sx, y*sy``.

        The image of an ellipse under a linear map is an ellipse whose semi-axes are the
        singular values of the map applied to the axis vectors (exact for any ``sx``, ``sy``).
        """
        c, s = math.cos(self.angle_rad), math.sin(self.angle_rad)
        m = np.array([[sx * c * self.a, -sx * s * self.b], [sy * s * self.a, sy * c * self.b]])
        u, (a, b), _ = np.linalg.svd(m)
        angle = math.atan2(u[1, 0], u[0, 0]) % math.pi
        return Ellipse(self.cx * sx, self.cy * sy, float(a), float(b), angle)


def ellipse_circumference(a: float, b: float) -> float:
    """Circumference of an ellipse with semi-axes ``a`` and ``b`` (Ramanujan's 2nd approximation).

    Args:
        a: one semi-axis, any length unit.
        b: the other semi-axis, same unit.

    Returns:
        The circumference in the unit of ``a`` and ``b``.
    """
    if a < 0 or b < 0:
        raise ValueError(f"semi-axes must be non-negative, got a={a}, b={b}")
    if a + b == 0:
        return 0.0
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))


# ---------------------------------------------------------------- components and outlines
def largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep the largest 8-connected foreground component of an HxW mask (bool out)."""
    m = np.ascontiguousarray(mask > 0, dtype=np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 2:
        return m.astype(bool)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest


def largest_piece(mask: np.ndarray) -> np.ndarray:
    """``mask`` reduced to its largest connected component, cross-connected as in
    :func:`drop_small_components` (4-connected in 2-D, 6-connected in 3-D); an empty mask stays empty.
    On a stacked ``DxHxW`` tumour mask: the one lesion, without false positives elsewhere in the head."""
    if not mask.any():
        return mask
    labels, n = ndimage.label(mask)
    if n == 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def drop_small_components(mask: np.ndarray, min_voxels: int) -> np.ndarray:
    """``mask`` without its connected components smaller than ``min_voxels``.

    Components are cross-connected (4-connected in 2-D, 6-connected in 3-D: scipy's default).
    On a stacked ``DxHxW`` volume a structure's thin first or last slice survives as part of its
    3-D whole, while an isolated speck does not.

    Args:
        mask: bool mask of any dimension.
        min_voxels: smallest component kept, in pixels (voxels); ``<= 0`` returns ``mask`` itself.
    """
    if min_voxels <= 0 or not mask.any():
        return mask
    labels, _ = ndimage.label(mask)
    keep = np.bincount(labels.ravel()) >= min_voxels
    keep[0] = False
    return keep[labels]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """HxW bool: ``mask`` with every background region that does not touch the border filled in.

    The same as ``scipy.ndimage.binary_fill_holes`` (4-connected background), by one OpenCV flood
    fill from outside the frame: about 20x faster on an 800x540 frame.
    """
    h, w = mask.shape
    outside = np.zeros((h + 2, w + 2), np.uint8)
    outside[1:-1, 1:-1] = mask.astype(bool)
    cv2.floodFill(outside, None, (0, 0), 2, flags=4)
    return outside[1:-1, 1:-1] != 2


def outline_points(region: np.ndarray) -> np.ndarray:
    """(x, y) int centres of the outer boundary pixels of a non-empty HxW region (its longest contour)."""
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return max(contours, key=len).reshape(-1, 2)


def on_border(pts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bool per (x, y) point: does it lie on the border of an image of ``shape`` (H, W)?"""
    h, w = shape
    return (pts[:, 0] == 0) | (pts[:, 0] == w - 1) | (pts[:, 1] == 0) | (pts[:, 1] == h - 1)


def border_fraction(mask: np.ndarray) -> float:
    """Share (0-1) of the largest component's outline that lies on the image border.

    A structure cut by the field of view has part of its outline on the border; past a small
    share a shape fitted to it is extrapolated rather than measured.
    """
    comp = largest_component(mask)
    if not comp.any():
        return 0.0
    return float(on_border(outline_points(comp), comp.shape).mean())


# ---------------------------------------------------------------- ellipses
def fit_ellipse(pts: np.ndarray) -> Ellipse:
    """Ellipse through (x, y) points (OpenCV's direct least-squares fit), as an :class:`Ellipse`.

    Args:
        pts: Nx2 (x, y) pixel coordinates, N >= 5.

    Raises:
        ValueError: for fewer than 5 points or a degenerate fit (a line, NaN axes).
    """
    if len(pts) < 5:
        raise ValueError(f"an ellipse fit needs at least 5 points, got {len(pts)}")
    (cx, cy), (w, h), angle_deg = cv2.fitEllipseDirect(np.asarray(pts).astype(np.float32))
    if not all(math.isfinite(v) for v in (cx, cy, w, h, angle_deg)) or min(w, h) <= 0:
        raise ValueError("the ellipse fit is degenerate")
    theta = math.radians(angle_deg)
    a, b = w / 2.0, h / 2.0  # OpenCV returns FULL axis lengths
    if b > a:
        a, b, theta = b, a, theta + math.pi / 2
    return Ellipse(float(cx), float(cy), float(a), float(b), float(theta % math.pi))


def fit_outline_ellipse(pts: np.ndarray, shape: tuple[int, int]) -> Ellipse:
    """Ellipse through a region's outline points, leaving out the points on the image border when
    enough of the outline is left without them.

    A region cut by the field of view has straight border segments that are not its outline: they
    are dropped as long as at least 20 points and half of the outline remain to constrain the fit.

    Args:
        pts: Nx2 (x, y) outline points (:func:`outline_points`).
        shape: (H, W) of the image the points lie on.

    Raises:
        ValueError: fewer than 5 points ("too thin") or a degenerate fit.
    """
    inside = ~on_border(pts, shape)
    if inside.sum() >= max(20, 0.5 * len(pts)):
        pts = pts[inside]
    if len(pts) < 5:
        raise ValueError("the segmented region is too thin to fit an ellipse")
    return fit_ellipse(pts)


def ellipse_mask(shape: tuple[int, int], ellipse: Ellipse) -> np.ndarray:
    """HxW bool mask of the pixel centres inside ``ellipse``."""
    # A column and a row broadcast against each other: the same arithmetic per pixel as full
    # coordinate grids, without building them (about 5x faster on an 800x540 frame).
    dy = np.arange(shape[0], dtype=np.float64)[:, None] - ellipse.cy
    dx = np.arange(shape[1], dtype=np.float64)[None, :] - ellipse.cx
    c, s = math.cos(ellipse.angle_rad), math.sin(ellipse.angle_rad)
    u = (dx * c + dy * s) / max(ellipse.a, 1e-9)
    v = (-dx * s + dy * c) / max(ellipse.b, 1e-9)
    return (u * u + v * v) <= 1.0


def ellipse_outline(shape: tuple[int, int], ellipse: Ellipse) -> np.ndarray:
    """HxW uint8 (0/255) one-pixel outline of ``ellipse``, drawn like an HC18 annotation."""
    out = np.zeros(shape, np.uint8)
    shift = 4  # sub-pixel precision for OpenCV's integer drawing API
    k = 1 << shift
    cv2.ellipse(
        out,
        (round(ellipse.cx * k), round(ellipse.cy * k)),
        (round(ellipse.a * k), round(ellipse.b * k)),
        math.degrees(ellipse.angle_rad),
        0,
        360,
        255,
        1,
        cv2.LINE_8,
        shift,
    )
    return out


def ellipse_fit_iou(mask: np.ndarray, ellipse: Ellipse) -> float:
    """IoU between the largest component of ``mask`` and the filled ``ellipse`` (fit quality)."""
    return region_ellipse_iou(largest_component(mask), ellipse)


def region_ellipse_iou(region: np.ndarray, ellipse: Ellipse) -> float:
    """IoU between an HxW bool region and the filled ``ellipse`` (0.0 when the ellipse is off the image)."""
    h, w = region.shape
    # Only the box around the ellipse can hold its pixels: no need to rasterise the whole frame.
    x0, x1 = max(0, int(ellipse.cx - ellipse.a) - 1), min(w, int(ellipse.cx + ellipse.a) + 2)
    y0, y1 = max(0, int(ellipse.cy - ellipse.a) - 1), min(h, int(ellipse.cy + ellipse.a) + 2)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    shifted = Ellipse(ellipse.cx - x0, ellipse.cy - y0, ellipse.a, ellipse.b, ellipse.angle_rad)
    ell = ellipse_mask((y1 - y0, x1 - x0), shifted)
    inter = int(np.logical_and(region[y0:y1, x0:x1], ell).sum())
    union = int(region.sum()) + int(ell.sum()) - inter
    return inter / union if union else 0.0
