"""The echo of a fetal head phantom's scene, before the beam physics: everything outside the head
(layers, placenta band, clutter, bones), the skull ring and the brain's landmarks.
:func:`train.phantoms.fetal_head._render` puts them together; split out of that module for size.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

from train.phantoms import ultrasound as us

if TYPE_CHECKING:
    from train.phantoms.fetal_head import _Scene as Scene
    from train.phantoms.fetal_head import _Skull as Skull


def band_polygon(scene: Scene, far: float, ripple_amp: float = 0.0, ripple_phase: float = 0.0
                 ) -> np.ndarray:
    """Points of the placenta band edge at ``far`` px beyond its near edge, (n, 1, 2) int32 x16."""
    e = scene.ellipse
    normal, gap, _, curv, _ = scene.band
    nx, ny = math.cos(normal), math.sin(normal)
    c, s = math.cos(e.angle_rad), math.sin(e.angle_rad)
    support = math.hypot(e.a * (nx * c + ny * s), e.b * (ny * c - nx * s))  # head extent along n
    tau = np.linspace(-1200.0, 1200.0, 161)
    # Curving away, the band can touch the head but not cut it; the ripple is on its far side only.
    ripple = ripple_amp * np.sin(tau / 40.0 + ripple_phase) ** 2
    dist = support + gap + far + ripple + curv * tau**2
    pts = np.stack([e.cx + nx * dist - ny * tau, e.cy + ny * dist + nx * tau], axis=1)
    return np.round(np.clip(pts, -4000, 4000) * 16).astype(np.int32).reshape(-1, 1, 2)


def outside_echo(scene: Scene, geo: us.FanGeometry, tex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Echo amplitude of everything but the head (HxW float32) and the bone echoes that shadow."""
    echo_map = us.layered_echo(geo, scene.fan, scene.fluid, scene.near_layers) * tex
    clutter, bones = np.zeros(scene.shape, np.float32), np.zeros(scene.shape, np.float32)
    _, _, width, _, band_echo = scene.band
    near, far = band_polygon(scene, 0.0), band_polygon(scene, width, 0.15 * width, width)
    cv2.fillPoly(clutter, [np.concatenate([near, far[::-1]])], band_echo, cv2.LINE_8, 4)
    cv2.polylines(bones, [far], False, 1.5 * band_echo, 3, cv2.LINE_8, 4)  # uterine wall line
    for cx, cy, ax, ay, ang, echo, bone in scene.blobs:
        centre, axes = (round(cx * 16), round(cy * 16)), (round(ax * 16), round(ay * 16))
        cv2.ellipse(clutter, centre, axes, ang, 0, 360, echo, -1, cv2.LINE_8, 4)
        if bone:
            cv2.ellipse(bones, centre, (round(ax * 11), 0), ang, 0, 360, bone, max(2, round(ay * 0.3)),
                        cv2.LINE_8, 4)
    clutter = cv2.GaussianBlur(clutter, (0, 0), 3.0)
    bones = cv2.GaussianBlur(bones, (0, 0), 1.0)
    echo_map += clutter * tex + bones
    return echo_map, bones


def skull_echo(sk: Skull, g: us.EllipseCoords, tex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inside weight, skull echo) over the head's ROI; the echo's outer edge is the ellipse."""
    d, phi = g.d, g.phi
    w1, p1, w2, p2 = sk.wobble
    t = sk.thickness_px * (1 + w1 * np.cos(phi + p1) + w2 * np.cos(2 * phi + p2))
    # Half-way at d = +0.4 px: the annotation's pixels belong to the mask, so the edge is theirs.
    inside = np.clip(0.9 - d, 0, 1)
    shell = inside * np.clip((d + t) / (sk.softness * t) + 0.5, 0, 1)
    # Bone reflects specularly: where the ring runs along the beam little comes back (dropout).
    refl = us.specular(g.cos_inc, sk.brightness, sk.floor, sk.power)
    for centre, half, depth in sk.gaps:
        refl *= 1 - depth * np.exp(-2 * (1 - np.cos(phi - centre)) / half**2)
    return inside, shell * refl * tex


def brain_echo(scene: Scene, g: us.EllipseCoords, roi: tuple[slice, slice],
               tex: np.ndarray) -> np.ndarray:
    """Brain echo over the ROI: parenchyma, midline, CSP, thalami, choroid plexus."""
    e, br = scene.ellipse, scene.brain
    c, s = math.cos(e.angle_rad), math.sin(e.angle_rad)
    x0, y0 = roi[1].start, roi[0].start

    def pt(un: float, vn: float) -> tuple[int, int]:
        x = e.cx + br.flip * un * e.a * c - vn * e.b * s - x0
        y = e.cy + br.flip * un * e.a * s + vn * e.b * c - y0
        return round(x * 16), round(y * 16)

    def oval(img: np.ndarray, un: float, vn: float, ra: float, rb: float, tilt: float, val: float) -> None:
        axes = (round(ra * e.a * 16), round(rb * e.b * 16))
        cv2.ellipse(img, pt(un, vn), axes, math.degrees(e.angle_rad) + tilt, 0, 360, val, -1, cv2.LINE_8, 4)

    bright, dark = np.zeros(g.d.shape, np.float32), np.zeros(g.d.shape, np.float32)
    line = max(1, round(0.012 * e.b))
    if br.midline:
        cv2.line(bright, pt(-0.9, 0), pt(-0.25, 0), br.midline, line, cv2.LINE_8, 4)
        cv2.line(bright, pt(0.42 if br.csp else 0.1, 0), pt(0.9, 0), br.midline, line, cv2.LINE_8, 4)
    if br.csp:
        box = np.array([pt(0.18, -0.06), pt(0.4, -0.06), pt(0.4, 0.06), pt(0.18, 0.06)], np.int32)
        cv2.fillPoly(dark, [box], 0.8, cv2.LINE_8, 4)
        cv2.polylines(bright, [box[:2], box[2:]], False, br.csp, line, cv2.LINE_8, 4)  # its two walls
    if br.thalami:
        for side in (-1, 1):
            oval(dark, -0.02, side * 0.15, 0.2, 0.12, side * 25.0, br.thalami)
    for side, val in zip((-1, 1), br.choroid):
        if val:
            oval(bright, -0.5, side * 0.27, 0.14, 0.06, side * 15.0, val)
    if br.insula:
        axes = (round(0.45 * e.a * 16), round(0.5 * e.b * 16))
        for start in (65, 245):
            cv2.ellipse(bright, pt(-0.1, 0), axes, math.degrees(e.angle_rad), start, start + 50,
                        br.insula, line, cv2.LINE_8, 4)
    sigma = 1.0 + 0.004 * e.a
    bright = cv2.GaussianBlur(bright, (0, 0), sigma)
    dark = cv2.GaussianBlur(dark, (0, 0), sigma)
    level = br.level * tex * (1 - dark)
    if br.rim:  # CSF between skull and brain: a darker crescent just inside the bone
        t = scene.skull.thickness_px
        level *= 1 - br.rim * np.exp(-(((g.d + 1.6 * t + 2) / (0.5 * t + 2)) ** 2))
    return level + bright
