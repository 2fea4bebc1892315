"""Landmark-driven shape changes of a face image: the pixels and the landmarks move together.

Each function takes an HxWx3 uint8 RGB image, its Nx3 float landmarks (pixels) and a numpy
Generator, and returns the new image and the moved landmarks (labels are then recomputed from
them). The image follows through the inverse of the landmarks' deformation.
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from core.face.regions import REGION_LOOPS

# Inner lip margins of mediapipe's FACEMESH_LIPS, corner (78) to corner (308).
INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)


def _group_warps(pts: np.ndarray, strength: float, rng: np.random.Generator) -> list[tuple]:
    """(centre, radius, 2x2 linear part, translation) of each local deformation, from landmarks."""
    g = strength
    u = lambda a: 1 + rng.uniform(-a, a) * g  # noqa: E731
    eye_dist = np.hypot(*(pts[473, :2] - pts[468, :2]))
    warps = []
    eye_sx, eye_sy, spread = u(0.15), u(0.25), rng.uniform(-0.06, 0.06) * g * eye_dist
    for side, name in ((-1, "right_eye"), (1, "left_eye")):
        loop = pts[list(REGION_LOOPS[name]), :2]
        width = np.ptp(loop[:, 0])
        tilt = np.radians(rng.uniform(-5, 5) * g) * side
        c, s = np.cos(tilt), np.sin(tilt)
        lin = np.array([[c, -s], [s, c]]) @ np.diag([eye_sx * u(0.04), eye_sy * u(0.06)])
        warps.append((loop.mean(axis=0), 0.7 * width, lin, np.array([side * spread, 0.0])))
    lift = rng.uniform(-0.08, 0.08) * g * eye_dist
    for name in ("right_brow", "left_brow"):
        loop = pts[list(REGION_LOOPS[name]), :2]
        warps.append((loop.mean(axis=0), 0.5 * np.ptp(loop[:, 0]), np.diag([u(0.1), u(0.2)]),
                      np.array([0.0, lift + rng.uniform(-0.02, 0.02) * g * eye_dist])))
    nose_len = np.hypot(*(pts[2, :2] - pts[168, :2]))
    tip = pts[[1, 2, 129, 358], :2].mean(axis=0)
    warps.append((tip, 0.45 * nose_len, np.diag([u(0.15), u(0.1)]),
                  np.array([0.0, rng.uniform(-0.12, 0.12) * g * nose_len])))
    lips = pts[list(REGION_LOOPS["lips"]), :2]
    warps.append((lips.mean(axis=0), 0.6 * np.ptp(lips[:, 0]), np.diag([u(0.15), u(0.25)]),
                  np.array([0.0, rng.uniform(-0.08, 0.08) * g * nose_len])))
    warps.append((pts[152, :2], 0.8 * nose_len, np.diag([u(0.1), 1.0]),
                  np.array([0.0, rng.uniform(-0.12, 0.12) * g * nose_len])))
    return warps


def _displacement(p: np.ndarray, warps: list[tuple]) -> np.ndarray:
    """Mx2 displacement at Mx2 points: each warp's local affine, faded by a Gaussian of its radius."""
    d = np.zeros_like(p)
    for centre, radius, lin, shift in warps:
        q = p - centre
        weight = np.exp(-(q**2).sum(axis=1, keepdims=True) / (2 * radius**2))
        d += weight * (q @ (lin - np.eye(2)).T + shift)
    return d


def shape_warp(image: np.ndarray, points: np.ndarray, strength: float, rng: np.random.Generator,
               after: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Move landmark groups (wider or narrower eyes, raised brows, longer nose, wider mouth,
    longer chin) by smooth local deformations; the image follows through the inverse map.

    Args:
        after: given the moved landmarks, a 3x3 affine to apply after the deformation (e.g. to
            re-align the moved eye centres), folded into the same single resampling.
    """
    warps = _group_warps(points, strength, rng)
    moved = points.copy()
    moved[:, :2] += _displacement(points[:, :2], warps)
    post = np.eye(3) if after is None else after(moved)
    h, w = image.shape[:2]
    step = 4  # the field is smooth: solve it on a coarse grid, then interpolate
    # Coarse sample (i, j) sits at fine pixel step*(i, j) + (step-1)/2: where cv2.resize puts it.
    gy, gx = np.mgrid[0:-(-h // step), 0:-(-w // step)].astype(np.float64) * step + (step - 1) / 2
    grid = np.stack([gx.ravel(), gy.ravel(), np.ones(gx.size)], axis=1)
    target = (grid @ np.linalg.inv(post).T)[:, :2]  # where each output pixel was before `post`
    src = target.copy()
    for _ in range(6):  # fixed point of src + D(src) = target: the inverse deformation
        src = target - _displacement(src, warps)
    maps = src.reshape(*gx.shape, 2).astype(np.float32)
    full = cv2.resize(maps, (gx.shape[1] * step, gx.shape[0] * step), interpolation=cv2.INTER_LINEAR)
    out = cv2.remap(image, full[:h, :w, 0], full[:h, :w, 1], cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    moved[:, :2] = moved[:, :2] @ post[:2, :2].T + post[:2, 2]
    return out, moved


def open_mouth(image: np.ndarray, points: np.ndarray, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """Open the mouth: everything below the upper lip's inner margin moves down, most at the
    middle of the mouth and not at all at its corners, fading towards the chin; the gap shows
    teeth or a dark mouth. The lips' outer outline (their label) grows with the gap."""
    pts = np.array(points, np.float64)
    upper = pts[list(INNER_UPPER), :2]
    order = np.argsort(upper[:, 0])
    cut_x, cut_y = upper[order, 0], upper[order, 1]
    x0, x1 = cut_x[0], cut_x[-1]
    width = max(x1 - x0, 2.0)
    gap, sigma = rng.uniform(0.06, 0.3) * width, 0.6 * width

    def lift(x: np.ndarray) -> np.ndarray:  # opening at column x: 0 at the corners
        return gap * np.clip(1 - ((2 * x - x0 - x1) / width) ** 2, 0, None) ** 1.5

    def drop(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # how far a point below the cut moves
        return lift(x) * np.exp(-(y - np.interp(x, cut_x, cut_y)) ** 2 / (2 * sigma**2))

    below = pts[:, 1] > np.interp(pts[:, 0], cut_x, cut_y) + 0.5
    below[list(INNER_LOWER)] = True
    below[list(INNER_UPPER)] = False
    pts[below, 1] += drop(pts[below, 0], pts[below, 1])
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cut, a = np.interp(xx, cut_x, cut_y), lift(xx)
    src = yy - a
    for _ in range(8):  # invert y -> y + drop(x, y) below the cut
        src = yy - a * np.exp(-(src - cut) ** 2 / (2 * sigma**2))
    hole = (yy > cut) & (yy < cut + a)
    map_y = np.where(yy >= cut + a, src, yy).astype(np.float32)
    out = cv2.remap(image, xx.astype(np.float32), map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return _paint_mouth(out, hole, cut, a, rng), pts


def _paint_mouth(image: np.ndarray, hole: np.ndarray, cut: np.ndarray, a: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """Fill the opened gap: teeth (off-white, upper part, faint gaps between teeth) over a dark
    mouth, or only the dark mouth; edges feathered."""
    if not hole.any():
        return image
    dark = np.array([70, 25, 30]) * rng.uniform(0.4, 1.4)
    fill = np.broadcast_to(dark, image.shape).astype(np.float32).copy()
    if rng.random() < 0.65:
        depth = np.where(a > 0, (np.mgrid[0:hole.shape[0], 0:1][0] - cut) / np.maximum(a, 1e-6), 1.0)
        teeth = (depth < rng.uniform(0.45, 0.8))[..., None]
        tooth = np.array([228, 218, 195]) * rng.uniform(0.75, 1.05)
        xs = np.arange(hole.shape[1])
        period = max(2.0, rng.uniform(0.06, 0.1) * hole.any(axis=0).sum())
        seams = 1 - 0.25 * (np.abs(((xs / period) % 1) - 0.5) > 0.42)
        fill = np.where(teeth, tooth * seams[None, :, None], fill)
    alpha = cv2.GaussianBlur(hole.astype(np.float32), (0, 0), 0.7)[..., None]
    return np.clip(image * (1 - alpha) + fill * alpha, 0, 255).astype(np.uint8)
