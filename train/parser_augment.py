"""Augmentation of the face parser's training samples (``train.face_regions``): each photo framed as
the predictor frames a face box, under a random similarity and mirror; optionally its background
replaced by procedural clutter; then colour, gamma, greyscale, blur, noise and JPEG varied.

Why the clutter: FASSEG photos stand on plain studio backgrounds, and a parser trained on them alone
calls a real photo's background (a wall, a shelf, dark clothes) hair. :func:`clutter` draws scenes
from no photo at all (smooth colour fields, noise at several scales, stripes, gradients, fine
textures -- short strokes like grass, grain like gravel, a weave like fabric -- and random shapes,
dark and light), so the held-out check on real photo backgrounds never sees them in training. The
fine textures matter: a parser that saw only smooth clutter still calls grass and gravel hair.

Why the elastic warp (:func:`elastic_warp`, optional): held out, the parser draws an unseen person's
eyes as rounded cores that miss the corners, while it fits its training persons' eye shapes; a
smooth random displacement field (U-Net's own augmentation, Ronneberger 2015) varies those shapes.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from core.face.region_net import face_frame, frame_matrix
from train.augment import ELASTIC_KNOTS, ELASTIC_SD  # one warp size for the parser and the slice models


def augmentation_text(background_mix: float, elastic: float = 0.0) -> str:
    """What :func:`training_sample` does, in words, for the card (``training.augmentation``)."""
    text = "framing zoom 0.6-1.25x, shift, tilt +-20 degrees, stretch, mirror"
    if elastic:
        text += (f"; on {elastic:.0%} of the samples an elastic warp (displacements of sd {ELASTIC_SD:.0%} "
                 f"of the frame on a {ELASTIC_KNOTS}x{ELASTIC_KNOTS} grid, smoothly interpolated)")
    text += "; colour, gamma, greyscale, blur, noise, JPEG"
    if background_mix:
        text += (f"; on {background_mix:.0%} of the samples the background replaced by procedural clutter "
                 "(train.parser_augment.clutter)")
    return text


def _strokes(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Many short thin strokes around one orientation on a dark or light ground (grass, straw, fur)."""
    ground = rng.uniform(0, 255, 3)
    out = np.empty((h, w, 3), np.uint8)
    out[:] = ground.astype(np.uint8)
    angle, spread = rng.uniform(0, math.pi), rng.uniform(0.1, 1.2)
    length = rng.uniform(0.02, 0.12) * max(h, w)
    n = min(30000, int(h * w / max(2.0, length * rng.uniform(0.15, 1.5))))  # dense: they cover the ground
    x, y = rng.uniform(0, w, n), rng.uniform(0, h, n)
    a = angle + rng.normal(0, spread, n)
    dx, dy = np.cos(a) * length * rng.uniform(0.4, 1.2, n), np.sin(a) * length * rng.uniform(0.4, 1.2, n)
    tone = np.clip(ground + rng.normal(0, rng.uniform(20, 80), (n, 1)) * rng.uniform(0.5, 1.2, 3), 0, 255)
    for i in range(n):
        cv2.line(out, (int(x[i]), int(y[i])), (int(x[i] + dx[i]), int(y[i] + dy[i])),
                 tuple(int(c) for c in tone[i]), 1, cv2.LINE_AA)
    return out.astype(np.float32)


def _grain(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Fine grain of pebbles: small cells of random tone, lightly blurred (gravel, sand, asphalt)."""
    cell = float(rng.uniform(1.5, 8))
    small = rng.uniform(0, 1, (max(2, int(h / cell)), max(2, int(w / cell)))).astype(np.float32)
    how = cv2.INTER_NEAREST if rng.random() < 0.5 else cv2.INTER_LINEAR
    tone = cv2.resize(small, (w, h), interpolation=how)
    tone = cv2.GaussianBlur(tone, (0, 0), float(rng.uniform(0.3, 1.5)))
    a, b = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    return a + (b - a) * tone[..., None]


def _weave(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Two fine crossing gratings with noise (woven fabric, mesh, knitwear)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period, angle = rng.uniform(2.5, 12), rng.uniform(0, math.pi)
    u = xx * math.cos(angle) + yy * math.sin(angle)
    v = -xx * math.sin(angle) + yy * math.cos(angle)
    ratio = rng.uniform(0.7, 1.4)
    t = 0.5 + 0.25 * (np.sin(u * 2 * math.pi / period) + np.sin(v * 2 * math.pi / period * ratio))
    t = np.clip(t + rng.normal(0, 0.1, t.shape).astype(np.float32), 0, 1)
    a, b = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    return a + (b - a) * t[..., None]


def clutter(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """An HxWx3 uint8 procedural background: a base (smooth colour field, multi-scale noise, a
    gradient, stripes, strokes, grain or a weave) with 0-12 random shapes (rectangles, ellipses,
    thick lines) on top."""
    kind = int(rng.integers(7))
    if kind >= 4:  # the fine textures
        base = (_strokes, _grain, _weave)[kind - 4](h, w, rng)
    elif kind == 0:  # smooth colour field
        cells = int(rng.integers(2, 10))
        base = cv2.resize(rng.integers(0, 256, (cells, cells, 3)).astype(np.float32), (w, h),
                          interpolation=cv2.INTER_CUBIC)
    elif kind == 1:  # noise at several scales, one colour per octave
        base = np.zeros((h, w, 3), np.float32)
        for octave in range(int(rng.integers(2, 5))):
            cells = 2 ** (octave + 2)
            layer = cv2.resize(rng.random((cells, cells), np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
            base += layer[..., None] * rng.uniform(0, 255, 3).astype(np.float32) / (octave + 1)
        base = base / max(1e-3, float(base.max())) * 255
    else:  # a gradient (kind 2) or stripes (kind 3) between two colours, at a random angle
        a, b = rng.uniform(0, 255, (2, 3)).astype(np.float32)
        angle = rng.uniform(0, math.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = (xx * math.cos(angle) + yy * math.sin(angle)) / max(h, w)
        t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
        if kind == 3:
            t = (np.sin(t * math.pi * rng.uniform(4, 40)) > 0).astype(np.float32)
        base = a + (b - a) * t[..., None]
    out = np.clip(base, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(0, 13))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        sx, sy = int(rng.integers(w // 20 + 1, w // 2 + 2)), int(rng.integers(h // 20 + 1, h // 2 + 2))
        shape = int(rng.integers(3))
        if shape == 0:
            cv2.rectangle(out, (cx - sx // 2, cy - sy // 2), (cx + sx // 2, cy + sy // 2), colour, -1)
        elif shape == 1:
            cv2.ellipse(out, (cx, cy), (sx // 2, sy // 2), float(rng.uniform(0, 180)), 0, 360, colour, -1)
        else:
            cv2.line(out, (cx, cy), (int(rng.integers(0, w)), int(rng.integers(0, h))), colour,
                     int(rng.integers(1, max(2, w // 25))))
    grey = out.mean(2, keepdims=True)  # real scenes are mostly less saturated than random colours
    out = np.clip(grey + (out - grey) * rng.uniform(0.15, 1.0), 0, 255).astype(np.uint8)
    noise = rng.uniform(0, 12)
    if noise > 1:
        out = np.clip(out + rng.normal(0, noise, out.shape), 0, 255).astype(np.uint8)
    return out


def composite(image: np.ndarray, labels: np.ndarray, background: np.ndarray, rng: np.random.Generator
              ) -> np.ndarray:
    """``image`` with its background-class pixels (label 0) replaced by ``background``, the edge
    feathered over a pixel or two (a hard cut-out edge would be a cue real photos do not give)."""
    keep = (labels != 0).astype(np.float32)
    alpha = cv2.GaussianBlur(keep, (0, 0), float(rng.uniform(0.5, 1.5)))[..., None]
    return np.clip(np.rint(image * alpha + background * (1 - alpha)), 0, 255).astype(np.uint8)


def random_matrix(shape: tuple[int, int], size: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Photo -> input affine of one training sample (the whole photo framed, then zoomed 0.6-1.25x,
    shifted up to 12%, tilted up to 20 degrees, stretched up to 8%) and whether to mirror it."""
    h, w = shape
    base = np.vstack([frame_matrix((0, 0, w, h), size), [0, 0, 1]])
    zoom = math.exp(rng.uniform(math.log(0.6), math.log(1.25)))
    stretch = math.exp(rng.uniform(-0.08, 0.08))
    angle = math.radians(rng.uniform(-20, 20))
    c, s = math.cos(angle), math.sin(angle)
    lin = zoom * np.array([[c, -s], [s, c]]) @ np.diag([stretch, 1 / stretch])
    shift = rng.uniform(-0.12, 0.12, 2) * size
    centre = np.array([size / 2, size / 2])
    aug = np.eye(3)
    aug[:2, :2] = lin
    aug[:2, 2] = centre - lin @ centre + shift
    return (aug @ base)[:2], bool(rng.random() < 0.5)


def photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour, brightness, contrast, gamma, greyscale, blur, noise and JPEG varied (uint8 in and out)."""
    x = img.astype(np.float32) / 255.0
    grey = x.mean(2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(0.5, 1.5)  # saturation
    x = x * rng.uniform(0.85, 1.15, 3).astype(np.float32)  # colour cast
    x = (x - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.uniform(-0.15, 0.15)  # contrast, brightness
    x = np.clip(x, 0, 1) ** math.exp(rng.uniform(-0.4, 0.4))  # gamma
    if rng.random() < 0.15:
        x = np.repeat(x.mean(2, keepdims=True), 3, 2)
    out = (x * 255).astype(np.uint8)
    if rng.random() < 0.25:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.6))
    if rng.random() < 0.25:
        out = np.clip(out + rng.normal(0, rng.uniform(2, 8), out.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 90))])
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else out
    return out


def elastic_warp(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The pair resampled through one smooth random displacement field: normal displacements at a
    :data:`ELASTIC_KNOTS` square grid, cubic-interpolated to every pixel; the photo bilinear, the
    labels nearest, so they stay in register."""
    h, w = labels.shape
    knots = rng.normal(0.0, ELASTIC_SD * max(h, w), (2, ELASTIC_KNOTS, ELASTIC_KNOTS)).astype(np.float32)
    dx, dy = (cv2.resize(k, (w, h), interpolation=cv2.INTER_CUBIC) for k in knots)
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    mx, my = gx + dx, gy + dy
    border = cv2.BORDER_REFLECT_101
    warped = cv2.remap(np.ascontiguousarray(image), mx, my, cv2.INTER_LINEAR, borderMode=border)
    moved = cv2.remap(np.ascontiguousarray(labels), mx, my, cv2.INTER_NEAREST, borderMode=border)
    return warped, moved


def training_sample(image: np.ndarray, labels: np.ndarray, size: int, rng: np.random.Generator,
                    background: float = 0.0, elastic: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One augmented (SxSx3 uint8, SxS uint8) pair; labels outside the photo are background. With
    probability ``elastic`` the pair goes through :func:`elastic_warp`; with probability
    ``background`` the background pixels are replaced by :func:`clutter` (no random draw at all
    for either when it is 0, so runs without them keep their stream)."""
    matrix, flip = random_matrix(image.shape[:2], size, rng)
    x = face_frame(image, matrix, size)
    y = face_frame(labels, matrix, size, interpolation=cv2.INTER_NEAREST)
    if flip:
        x, y = x[:, ::-1], y[:, ::-1]
    if elastic and rng.random() < elastic:
        x, y = elastic_warp(x, y, rng)
    if background and rng.random() < background:
        x = composite(x, y, clutter(size, size, rng), rng)
    return photometric(np.ascontiguousarray(x), rng), np.ascontiguousarray(y)
