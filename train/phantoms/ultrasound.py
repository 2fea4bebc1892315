"""B-mode ultrasound machinery shared by the phantoms: fan geometry, beam physics, display.

A phantom builds a scene as an HxW float32 map of echo amplitude (``echo``, about 0-1.5, where 1
is a strong bone echo) plus an HxW float32 map of how much each pixel attenuates the beam
(``opacity``, per px), then calls :func:`b_mode` to turn them into a uint8 frame. ``b_mode`` works
on a polar beam grid, where speckle, attenuation, time-gain compensation (TGC) and acoustic
shadows are naturally per beam, and resamples onto the image, so lateral speckle size grows with
depth as on a real curvilinear probe.

Typical use::

    geo = fan_geometry(shape)                 # cached per shape; apex above the top edge
    fan, look = draw_fan(rng, shape), draw_look(rng)
    e = place_ellipse(rng, fan, shape, a, b, margin=4.0)   # a structure inside the fan
    tex = texture(rng, shape, 0.3)            # tissue heterogeneity
    echo = layered_echo(geo, fan, background, draw_wall_layers(rng, fan)) * tex
    roi = ellipse_roi(e, shape)
    g = ellipse_coords(e, geo, roi)           # distance to e, beam incidence
    echo[roi] += ... specular(g.cos_inc, ...) ...             # draw the structures
    image = b_mode(echo, opacity, geo, fan, look, rng)

Functions taking ``rng`` draw from it in a fixed order, so a phantom that calls them in a fixed
order is reproducible from its generator state.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import cv2
import numpy as np

from core.geometry import Ellipse

POLAR_HALF_ANGLE = math.radians(46.0)  # polar grid half-width, wider than any fan drawn
POLAR_STEP_PX = 1.25  # polar grid radial step, px: about the axial speckle size
POLAR_BEAMS = 320  # polar grid beams: lateral speckle grows with depth like a real probe's


@dataclass(frozen=True)
class FanGeometry:
    """Per-shape fan coordinates, apex above the image's top edge; all arrays are read-only.

    Attributes:
        apex: (x, y) of the probe's virtual apex, px (y is negative).
        xx, yy: HxW float32 column / row of each pixel.
        beam_x, beam_y: HxW float32 unit beam direction at each pixel.
        r_int: HxW int32 distance from the apex, px (truncated).
        to_polar: ``cv2.remap`` maps (two (n_r, n_theta) float32) sampling the image on the grid.
        to_image: ``cv2.remap`` maps (two HxW float32) sampling the polar grid on the image.
        radii: (n_r,) float32 radius of each polar row, px.
        angles: (n_theta,) float32 beam angle of each polar column, rad (0: straight down).
    """

    apex: tuple[float, float]
    xx: np.ndarray
    yy: np.ndarray
    beam_x: np.ndarray
    beam_y: np.ndarray
    r_int: np.ndarray
    to_polar: tuple[np.ndarray, np.ndarray]
    to_image: tuple[np.ndarray, np.ndarray]
    radii: np.ndarray
    angles: np.ndarray


@dataclass(frozen=True)
class Fan:
    """The imaged sector, as distances from the apex of :class:`FanGeometry`.

    Attributes:
        half_angle: half the sector's opening, rad.
        r_min: radius of the probe face, px.
        r_max: radius of the deepest imaged row, px.
        near_field: depth of the body-wall layers (skin, fat, muscle) below the probe face, px.
    """

    half_angle: float
    r_min: float
    r_max: float
    near_field: float


@dataclass(frozen=True)
class Look:
    """Scanner settings and beam properties of one frame.

    Attributes:
        gain_db: overall gain, dB.
        dynamic_range_db: echo range mapped onto 0-255, dB.
        gamma: display gamma applied after log compression.
        tgc_db: gain at evenly spaced depths from probe face to ``r_max``, dB (net of attenuation).
        lateral_db: darkening towards the fan's sides at its edge, dB.
        speckle: blur of the complex noise: (axial, lateral) in polar grid samples.
        noise: electronic noise level; it grows with depth.
        reverb: reverberation haze behind bone: (strength, decay length in px).
    """

    gain_db: float
    dynamic_range_db: float
    gamma: float
    tgc_db: tuple[float, ...]
    lateral_db: float
    speckle: tuple[float, float]
    noise: float
    reverb: tuple[float, float]


class EllipseCoords(NamedTuple):
    """Per-pixel geometry of an ellipse over a region of interest; arrays are float32 of its shape.

    Attributes:
        d: signed distance to the ellipse, px, negative inside (Sampson approximation).
        phi: parametric angle on the ellipse, rad.
        cos_inc: |cos| of the angle between the beam and the ellipse's normal (1: normal incidence).
    """

    d: np.ndarray
    phi: np.ndarray
    cos_inc: np.ndarray


@lru_cache(maxsize=4)
def fan_geometry(shape: tuple[int, int]) -> FanGeometry:
    """Fan coordinates and polar remap tables for an (H, W) frame, computed once per shape.

    The apex sits at the top edge's centre, 0.2 H above the image.
    """
    h, w = shape
    ax, ay = (w - 1) / 2.0, -0.2 * h
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xx - ax, yy - ay
    r = np.hypot(dx, dy)
    radii = np.arange(0.0, float(r.max()) + 2 * POLAR_STEP_PX, POLAR_STEP_PX, dtype=np.float32)
    angles = np.linspace(-POLAR_HALF_ANGLE, POLAR_HALF_ANGLE, POLAR_BEAMS, dtype=np.float32)
    dtheta = float(angles[1] - angles[0])
    to_image = (
        ((np.arctan2(dx, dy) + POLAR_HALF_ANGLE) / dtheta).astype(np.float32),
        (r / POLAR_STEP_PX).astype(np.float32),
    )
    rr, tt = np.meshgrid(radii, angles, indexing="ij")
    to_polar = ((ax + rr * np.sin(tt)).astype(np.float32), (ay + rr * np.cos(tt)).astype(np.float32))
    geo = FanGeometry((ax, ay), xx, yy, dx / r, dy / r, r.astype(np.int32), to_polar, to_image,
                      radii, angles)
    for arr in (xx, yy, geo.beam_x, geo.beam_y, geo.r_int, *to_polar, *to_image, radii, angles):
        arr.flags.writeable = False
    return geo


def draw_fan(rng: np.random.Generator, shape: tuple[int, int], *,
             near_field: tuple[float, float] = (0.04, 0.14)) -> Fan:
    """A random convex-probe sector for an (H, W) frame, reaching about the bottom edge.

    Args:
        rng: draws 4 numbers: probe face radius, half angle (34-42 deg), depth, near field.
        shape: (H, W) of the frame, px.
        near_field: range of the body wall's thickness, as fractions of H.
    """
    h, _ = shape
    ay = fan_geometry(shape).apex[1]
    r_min = rng.uniform(0.22, 0.30) * h
    return Fan(
        half_angle=math.radians(rng.uniform(34.0, 42.0)),
        r_min=r_min,
        r_max=rng.uniform(h - 12, h + 30) - ay,
        near_field=rng.uniform(*near_field) * h,
    )


def draw_wall_layers(rng: np.random.Generator, fan: Fan) -> tuple[tuple[float, float, float], ...]:
    """2-5 bright body-wall layers (skin, fascia) within the near field, for :func:`layered_echo`."""
    return tuple((rng.uniform(0, fan.near_field), rng.uniform(2, 14), rng.uniform(0.02, 0.2))
                 for _ in range(int(rng.integers(2, 6))))


def draw_look(rng: np.random.Generator) -> Look:
    """Random scanner settings; draws 14 numbers from ``rng``, in field order."""
    return Look(
        gain_db=rng.uniform(-5.0, 5.0),
        dynamic_range_db=rng.uniform(42.0, 55.0),
        gamma=rng.uniform(0.75, 1.35),
        tgc_db=tuple(rng.uniform(-4.0, 4.0, 7) + np.linspace(0, rng.uniform(-9.0, 2.0), 7)),
        lateral_db=rng.uniform(0.0, 8.0),
        speckle=(rng.uniform(0.9, 1.6), rng.uniform(1.1, 2.2)),
        noise=rng.uniform(0.0005, 0.003),
        reverb=(rng.uniform(0.0, 0.15), rng.uniform(10.0, 60.0)),
    )


def ellipse_points(e: Ellipse, n: int = 180) -> tuple[np.ndarray, np.ndarray]:
    """(x, y): two (n,) float64 arrays of points evenly spaced in parametric angle on ``e``."""
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    c, s = math.cos(e.angle_rad), math.sin(e.angle_rad)
    x = e.cx + e.a * np.cos(t) * c - e.b * np.sin(t) * s
    y = e.cy + e.a * np.cos(t) * s + e.b * np.sin(t) * c
    return x, y


def ellipse_fits(e: Ellipse, fan: Fan, shape: tuple[int, int], *, margin: float) -> bool:
    """Whether all of ``e`` lies ``margin`` px inside the image and the fan, below the near field."""
    h, w = shape
    ax, ay = fan_geometry(shape).apex
    x, y = ellipse_points(e)
    if x.min() < margin or y.min() < margin or x.max() > w - 1 - margin or y.max() > h - 1 - margin:
        return False
    r = np.hypot(x - ax, y - ay)
    side = (fan.half_angle - np.abs(np.arctan2(x - ax, y - ay))) * r
    near = fan.r_min + fan.near_field + margin
    return bool(r.min() >= near and r.max() <= fan.r_max - margin and side.min() >= margin)


def place_ellipse(rng: np.random.Generator, fan: Fan, shape: tuple[int, int], a: float, b: float, *,
                  margin: float, tries: int = 40) -> Ellipse | None:
    """A random pose (centre, angle 0-180 deg) of an a x b ellipse that :func:`ellipse_fits`, or None."""
    h, w = shape
    for _ in range(tries):
        ang = rng.uniform(0.0, math.pi)
        ex = math.hypot(a * math.cos(ang), b * math.sin(ang))
        ey = math.hypot(a * math.sin(ang), b * math.cos(ang))
        if 2 * (ex + margin) >= w - 1 or 2 * (ey + margin) >= h - 1:
            continue
        e = Ellipse(rng.uniform(ex + margin, w - 1 - ex - margin),
                    rng.uniform(ey + margin, h - 1 - ey - margin), a, b, ang)
        if ellipse_fits(e, fan, shape, margin=margin):
            return e
    return None


def ellipse_roi(e: Ellipse, shape: tuple[int, int]) -> tuple[slice, slice]:
    """(rows, cols) slices of ``e``'s bounding box plus a 3 px margin, clipped to the image."""
    ex = math.hypot(e.a * math.cos(e.angle_rad), e.b * math.sin(e.angle_rad))
    ey = math.hypot(e.a * math.sin(e.angle_rad), e.b * math.cos(e.angle_rad))
    y0, y1 = max(int(e.cy - ey) - 3, 0), min(int(e.cy + ey) + 4, shape[0])
    x0, x1 = max(int(e.cx - ex) - 3, 0), min(int(e.cx + ex) + 4, shape[1])
    return slice(y0, y1), slice(x0, x1)


def ellipse_coords(e: Ellipse, geo: FanGeometry, roi: tuple[slice, slice]) -> EllipseCoords:
    """Distance, angle and beam incidence of ``e`` over ``roi`` (see :class:`EllipseCoords`)."""
    c, s = math.cos(e.angle_rad), math.sin(e.angle_rad)
    dx, dy = geo.xx[roi] - np.float32(e.cx), geo.yy[roi] - np.float32(e.cy)
    u, v = dx * c + dy * s, dy * c - dx * s
    gu, gv = u / np.float32(e.a * e.a), v / np.float32(e.b * e.b)
    rho = np.sqrt(u * gu + v * gv)
    gn = np.sqrt(gu * gu + gv * gv)
    d = (rho - 1) * (rho + 1e-6) / (gn + 1e-6 / e.b)  # Sampson distance: exact enough near the border
    cos_inc = np.abs((gu * c - gv * s) * geo.beam_x[roi] + (gu * s + gv * c) * geo.beam_y[roi]) / (gn + 1e-9)
    return EllipseCoords(d, np.arctan2(v / e.b, u / e.a), cos_inc)


def specular(cos_inc: np.ndarray, brightness: float, floor: float, power: float) -> np.ndarray:
    """Echo of a smooth reflector (bone, a vessel wall): little comes back along the beam.

    Args:
        cos_inc: float32 array, |cos| of the incidence angle (see :class:`EllipseCoords`).
        brightness: echo at normal incidence.
        floor: fraction of it left where the surface runs parallel to the beam.
        power: how fast the echo falls off away from normal incidence.

    Returns:
        float32 array shaped like ``cos_inc``.
    """
    return brightness * (floor + (1 - floor) * cos_inc**power)


def texture(rng: np.random.Generator, shape: tuple[int, int], amp: float) -> np.ndarray:
    """HxW float32 smooth multiplicative tissue heterogeneity around 1, on two scales."""
    h, w = shape
    field = np.zeros(shape, np.float32)
    for cell, weight in ((48, 1.0), (12, 0.5)):
        small = rng.standard_normal((h // cell + 2, w // cell + 2)).astype(np.float32)
        field += weight * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return cv2.exp(field * np.float32(amp))


def layered_echo(geo: FanGeometry, fan: Fan, background: float,
                 layers: tuple[tuple[float, float, float], ...], wall_echo: float = 0.02) -> np.ndarray:
    """HxW float32 echo that depends on depth only: body-wall layers over a uniform background.

    Args:
        geo: the frame's :func:`fan_geometry`.
        fan: the sector; its ``near_field`` is the body wall's thickness.
        background: echo beyond the body wall (e.g. amniotic fluid, muscle).
        layers: (depth below the probe face px, half-width px, echo) of each bright wall layer.
        wall_echo: base echo of the wall, fading out over a few px at its depth.
    """
    depth = np.arange(int(geo.r_int.max()) + 1, dtype=np.float32) - fan.r_min
    wall = np.clip((fan.near_field - depth) / 6.0 + 0.5, 0, 1)
    profile = background + wall_echo * wall
    for d0, width, echo in layers:
        profile += echo * wall * np.exp(-(((depth - d0) / width) ** 2))
    return np.take(profile.astype(np.float32), geo.r_int)


def rayleigh_speckle(geo: FanGeometry, look: Look, rng: np.random.Generator) -> np.ndarray:
    """(n_r, n_theta) float32 speckle of mean 1 on the polar grid; draws 2 n_r n_theta normals.

    The envelope of spatially correlated complex noise is Rayleigh distributed, like real speckle.
    """
    z = rng.standard_normal((geo.radii.size, geo.angles.size, 2), dtype=np.float32)
    z = cv2.GaussianBlur(z, (0, 0), sigmaX=look.speckle[1], sigmaY=look.speckle[0])
    amp = cv2.magnitude(z[..., 0], z[..., 1])
    amp *= np.float32(1.0 / amp.mean())
    return amp


def beam_shadow(geo: FanGeometry, opacity: np.ndarray, reverb: tuple[float, float]
                ) -> tuple[np.ndarray, np.ndarray]:
    """(shadow, haze): (n_r, n_theta) float32 transmission and reverberation along each beam.

    Args:
        geo: the frame's :func:`fan_geometry`.
        opacity: HxW float32 attenuation per px of path.
        reverb: (strength, decay length px); echoes bouncing inside bone come back late, a haze
            fading behind it.
    """
    opa = cv2.remap(opacity, *geo.to_polar, cv2.INTER_LINEAR)
    shadow = np.exp(-np.cumsum(opa, axis=0) * POLAR_STEP_PX)
    strength, length = reverb
    tail = np.exp(-np.arange(0, 3 * length, POLAR_STEP_PX, dtype=np.float32) / length)
    kernel = np.concatenate([np.zeros(tail.size - 1, np.float32), tail])[::-1, None]
    haze = cv2.filter2D(opa, -1, kernel * np.float32(strength * POLAR_STEP_PX),
                        borderType=cv2.BORDER_CONSTANT)
    return shadow, haze


def _gain_and_noise(geo: FanGeometry, fan: Fan, look: Look) -> tuple[np.ndarray, np.ndarray]:
    """(gain, noise): (n_r, n_theta) float32; TGC x lateral fall-off x fan mask, and depth noise."""
    depth = (geo.radii - fan.r_min) / (fan.r_max - fan.r_min)
    tgc = np.interp(depth, np.linspace(0, 1, len(look.tgc_db)), look.tgc_db)
    fan_r = np.clip((geo.radii - fan.r_min) / 1.5, 0, 1) * np.clip((fan.r_max - geo.radii) / 1.5, 0, 1)
    dtheta = float(geo.angles[1] - geo.angles[0])
    fan_t = np.clip((fan.half_angle - np.abs(geo.angles)) / dtheta, 0, 1)
    lateral = 10 ** (-look.lateral_db * (geo.angles / fan.half_angle) ** 4 / 20)
    gain = ((10 ** (tgc / 20) * fan_r)[:, None] * (lateral * fan_t)[None, :]).astype(np.float32)
    noise = (look.noise * (0.3 + 2.5 * np.clip(depth, 0, 1) ** 2) * fan_r)[:, None] * fan_t[None, :]
    return gain, noise.astype(np.float32)


def beam_fields(geo: FanGeometry, fan: Fan, look: Look, opacity: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicative (speckle x gain x shadow x fan) and additive (noise + reverberation) fields.

    Args:
        geo: the frame's :func:`fan_geometry`.
        fan: the sector; zero outside it.
        look: scanner settings.
        opacity: HxW float32 attenuation per px, casting shadows down the beams.
        rng: draws the speckle (:func:`rayleigh_speckle`).

    Returns:
        (mult, add): two HxW float32 maps; the received envelope is ``echo * mult + add``.
    """
    amp = rayleigh_speckle(geo, look, rng)
    shadow, haze = beam_shadow(geo, opacity, look.reverb)
    gain, noise = _gain_and_noise(geo, fan, look)
    fields = np.dstack([amp * shadow * gain, np.roll(amp, (37, 101), (0, 1)) * (noise + haze * gain)])
    out = cv2.remap(fields, *geo.to_image, cv2.INTER_LINEAR)
    return out[..., 0], out[..., 1]


def log_compress(env: np.ndarray, look: Look) -> np.ndarray:
    """HxW uint8 B-mode frame from an HxW float32 envelope (overwritten): gain, range, gamma."""
    top_db = -look.gain_db
    lo, hi = (top_db - look.dynamic_range_db) * math.log(10) / 20, top_db * math.log(10) / 20
    np.maximum(env, np.float32(math.exp(lo)), out=env)
    cv2.log(env, env)
    u8 = cv2.convertScaleAbs(env, alpha=255 / (hi - lo), beta=-lo * 255 / (hi - lo))
    lut = np.round(255 * (np.arange(256) / 255) ** look.gamma).astype(np.uint8)
    return cv2.LUT(u8, lut)


def b_mode(echo: np.ndarray, opacity: np.ndarray, geo: FanGeometry, fan: Fan, look: Look,
           rng: np.random.Generator) -> np.ndarray:
    """Scan a scene: point spread, speckle, gain, shadows, noise, then log compression.

    Args:
        echo: HxW float32 echo amplitude of the scene (1: a strong bone echo).
        opacity: HxW float32 attenuation per px of path.
        geo: :func:`fan_geometry` of (H, W).
        fan: the imaged sector; the frame is black outside it.
        look: scanner settings.
        rng: draws the speckle.

    Returns:
        HxW uint8 frame.
    """
    # The beam's point spread: wider across the beam than along it (axial resolution is better).
    echo = cv2.GaussianBlur(echo, (0, 0), sigmaX=1.2, sigmaY=0.8)
    mult, add = beam_fields(geo, fan, look, opacity, rng)
    return log_compress(echo * mult + add, look)
