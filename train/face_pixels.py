"""Pixel-only augmentations of a face photo (the landmarks and labels do not move).

Every function takes an HxWx3 uint8 RGB image, the face's Nx2+ landmarks where it needs to know
where the face is, and a numpy Generator; it returns a new HxWx3 uint8 image.
"""
from __future__ import annotations

import cv2
import numpy as np

from core.face.regions import REGION_LOOPS

HAIR = np.array([[35, 28, 25], [70, 48, 35], [115, 85, 60], [170, 140, 100], [135, 130, 125]], np.float64)


def _face_box(pts: np.ndarray) -> tuple[float, float, float, float]:
    (x0, y0), (x1, y1) = pts[:, :2].min(axis=0), pts[:, :2].max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def photometric(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Hue and saturation shifts, occasional grey, gamma, contrast, brightness, a colour cast and
    a lighting gradient from one side; ``strength`` scales every range (0: unchanged)."""
    g = strength
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.int16)
    hsv[..., 0] = (hsv[..., 0] + round(rng.uniform(-12, 12) * g)) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * (1 + rng.uniform(-0.6, 0.5) * g), 0, 255)
    x = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32) / 255
    if rng.random() < 0.1 * g:
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    x = x ** np.exp(rng.uniform(-0.5, 0.5) * g)
    mean = x.mean()
    x = (x - mean) * (1 + rng.uniform(-0.4, 0.4) * g) + mean + rng.uniform(-0.15, 0.15) * g
    x = x * (1 + rng.uniform(-0.15, 0.15, 3) * g).astype(np.float32)
    if rng.random() < 0.5 * g:  # light from one side
        h, w = x.shape[:2]
        ang = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ramp = ((xx - w / 2) * np.cos(ang) + (yy - h / 2) * np.sin(ang)) / max(h, w)
        x = x * (1 + rng.uniform(0.2, 0.8) * g * ramp)[..., None]
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def degrade(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Blur or resolution loss, sensor noise and JPEG compression (each with some probability)."""
    g = strength
    out = image
    if rng.random() < 0.5:
        sigma = rng.uniform(0.3, 0.3 + 1.4 * g)
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    elif rng.random() < 0.5:
        h, w = out.shape[:2]
        f = rng.uniform(1 - 0.65 * g, 1.0)
        small = cv2.resize(out, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        noise = rng.normal(0, rng.uniform(0, 12 * g), out.shape)
        out = np.clip(out + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        quality = int(rng.uniform(95 - 65 * g, 95))
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)  # channel order survives the round trip
    return np.ascontiguousarray(out)


def _skin(image: np.ndarray, pts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An RGB colour near the face's own skin (sampled at the cheeks and forehead), varied."""
    h, w = image.shape[:2]
    idx = [50, 280, 151, 205, 425]
    xy = np.clip(np.round(pts[idx, :2]).astype(int), 0, [w - 1, h - 1])
    colour = image[xy[:, 1], xy[:, 0]].astype(np.float64).mean(axis=0)
    return np.clip(colour * rng.uniform(0.7, 1.25) + rng.normal(0, 12, 3), 0, 255)


def occlude(image: np.ndarray, pts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One or two occluders over the face: a hand-like blob (palm and fingers in a skin colour) or
    a rectangle (flat colour, noise or a patch of the photo itself)."""
    out = image.copy()
    x0, y0, x1, y1 = _face_box(pts)
    fw = max(x1 - x0, 4.0)
    for _ in range(int(rng.integers(1, 3))):
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        size = rng.uniform(0.15, 0.4) * fw
        if rng.random() < 0.5:
            _hand(out, (cx, cy), size, _skin(image, pts, rng), rng)
        else:
            _rectangle(out, image, (cx, cy), size, rng)
    return out


def _hand(out: np.ndarray, centre: tuple[float, float], size: float, colour: np.ndarray,
          rng: np.random.Generator) -> None:
    mask = np.zeros(out.shape[:2], np.uint8)
    ang = rng.uniform(0, 360)
    cx, cy = centre
    cv2.ellipse(mask, (round(cx), round(cy)), (round(size * 0.5), round(size * 0.6)), ang, 0, 360, 255, -1)
    for k in range(4):  # fingers fanning out from the palm's top
        a = np.radians(ang - 90 + (k - 1.5) * 14)
        fx, fy = cx + np.cos(a) * size * 0.95, cy + np.sin(a) * size * 0.95
        cv2.ellipse(mask, (round(fx), round(fy)), (round(size * 0.45), round(size * 0.11)),
                    np.degrees(a), 0, 360, 255, -1)
    alpha = cv2.GaussianBlur(mask, (0, 0), 1.0).astype(np.float32)[..., None] / 255
    shade = cv2.GaussianBlur(rng.normal(1.0, 0.08, out.shape[:2]).astype(np.float32), (0, 0), size / 6)
    fill = np.clip(colour[None, None] * shade[..., None], 0, 255)
    out[:] = (out * (1 - alpha) + fill * alpha).astype(np.uint8)


def _rectangle(out: np.ndarray, image: np.ndarray, centre: tuple[float, float], size: float,
               rng: np.random.Generator) -> None:
    h, w = out.shape[:2]
    rw, rh = size * rng.uniform(0.6, 1.6), size * rng.uniform(0.4, 1.2)
    xa, ya = int(max(0, centre[0] - rw / 2)), int(max(0, centre[1] - rh / 2))
    xb, yb = int(min(w, centre[0] + rw / 2)), int(min(h, centre[1] + rh / 2))
    if xb <= xa or yb <= ya:
        return
    kind = rng.integers(3)
    if kind == 0:
        out[ya:yb, xa:xb] = rng.integers(0, 256, 3)
    elif kind == 1:
        out[ya:yb, xa:xb] = rng.integers(0, 256, (yb - ya, xb - xa, 3))
    else:  # a patch of the photo from elsewhere
        sy, sx = rng.integers(0, h - (yb - ya) + 1), rng.integers(0, w - (xb - xa) + 1)
        out[ya:yb, xa:xb] = image[sy:sy + yb - ya, sx:sx + xb - xa]


def replace_background(image: np.ndarray, pts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace what lies well outside the face (beyond an ellipse around it, hair mostly kept) by
    a random smooth colour texture, feathered at the edge."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = _face_box(pts)
    centre = (round((x0 + x1) / 2), round((y0 + y1) / 2 - 0.1 * (y1 - y0)))
    axes = (round((x1 - x0) / 2 * rng.uniform(1.15, 1.6)), round((y1 - y0) / 2 * rng.uniform(1.2, 1.7)))
    keep = np.zeros((h, w), np.uint8)
    cv2.ellipse(keep, centre, axes, 0, 0, 360, 255, -1)
    alpha = cv2.GaussianBlur(keep, (0, 0), max(1.0, axes[0] / 12)).astype(np.float32)[..., None] / 255
    cells = int(rng.integers(2, 12))
    texture = cv2.resize(rng.integers(0, 256, (cells, cells, 3)).astype(np.uint8), (w, h),
                         interpolation=cv2.INTER_CUBIC).astype(np.float32)
    texture += rng.normal(0, rng.uniform(0, 10), texture.shape)
    return np.clip(image * alpha + texture * (1 - alpha), 0, 255).astype(np.uint8)


def inpaint_dark_frames(rgb: np.ndarray, pts: np.ndarray, threshold: int = 90) -> np.ndarray:
    """The photo with dark spectacle frames around the eyes painted over (cv2.inpaint): dark
    pixels near the eyes and brows, the eyes themselves kept. For a portrait with glasses, so
    that the network also sees the eye region without them (brows are then painted per sample)."""
    xy = pts[:, :2]
    eye_dist = float(np.hypot(*(xy[473] - xy[468])))
    band, eyes = np.zeros(rgb.shape[:2], np.uint8), np.zeros(rgb.shape[:2], np.uint8)
    for side in ("right", "left"):
        idx = list(REGION_LOOPS[f"{side}_brow"]) + list(REGION_LOOPS[f"{side}_eye"])
        cv2.fillConvexPoly(band, cv2.convexHull(np.round(xy[idx]).astype(np.int32)), 255)
        cv2.fillPoly(eyes, [np.round(xy[list(REGION_LOOPS[f"{side}_eye"])]).astype(np.int32)], 255)
    side = max(3, int(0.35 * eye_dist))
    band = cv2.dilate(band, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side)))
    cv2.circle(band, tuple(int(v) for v in np.round(xy[168])), max(2, int(0.2 * eye_dist)), 255, -1)
    eyes = cv2.dilate(eyes, np.ones((5, 5), np.uint8))
    dark = ((rgb.max(axis=2) < threshold) & (band > 0) & (eyes == 0)).astype(np.uint8) * 255
    return cv2.inpaint(rgb, cv2.dilate(dark, np.ones((5, 5), np.uint8)), 6, cv2.INPAINT_TELEA)


def paint_brows(image: np.ndarray, pts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Eyebrows painted into the brow polygons: a hair colour, hair-like streaks, feathered edges
    and a random strength (faint to dark), the same for both brows."""
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    for name in ("right_brow", "left_brow"):
        cv2.fillPoly(mask, [np.round(pts[list(REGION_LOOPS[name]), :2] * 16).astype(np.int32)], 255,
                     cv2.LINE_AA, 4)
    alpha = cv2.GaussianBlur(mask, (0, 0), rng.uniform(0.5, 1.5)).astype(np.float32) / 255
    alpha *= rng.uniform(0.35, 0.9)
    streaks = cv2.blur(rng.normal(1.0, 0.25, (h, w)).astype(np.float32), (5, 1))
    colour = HAIR[rng.integers(len(HAIR))] * rng.uniform(0.8, 1.2)
    fill = colour[None, None] * streaks[..., None]
    return np.clip(image * (1 - alpha[..., None]) + fill * alpha[..., None], 0, 255).astype(np.uint8)
