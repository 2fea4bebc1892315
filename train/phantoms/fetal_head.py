"""Synthetic HC18-style B-mode ultrasound frames of a fetal head, with exact ground truth.

These phantoms are the only data our fetal head segmenters are trained on (no real data is
reachable here), so they try to be hard in the ways real frames are hard while keeping one
unambiguous answer: the ground-truth ellipse is the OUTER border of a bright skull ring, drawn
as a 1-pixel HC18 annotation and filled with :func:`core.datasets.fill_outline`.

Each frame is a curvilinear fan on black, scanned by :mod:`train.phantoms.ultrasound` (speckle,
TGC, noise, shadows, log compression). The scene: maternal wall layers under the probe, dark
amniotic fluid, a placenta / uterine wall band and fetal body or limb clutter near the head, and
the head itself: a skull ring 2-6 mm thick (scaled with head size) whose echo fades where it runs
parallel to the beam and over random gaps, which shadows what lies beyond it, around a brain with
a midline echo, cavum septi pellucidi, thalami and choroid plexus (each present at random).

Sizes follow the INTERGROWTH-21st HC standard for a gestational age drawn from 14-40 weeks;
the pixel size is chosen so the head spans 30-70% of the fan and lies in HC18's 0.052-0.326 mm.
:func:`write_hc18` writes them as an HC18 dataset folder (the layout: :mod:`train.phantoms.hc18`).
"""
from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.analysis.fetal_biometry import intergrowth_hc
from core.datasets import fill_outline
from core.geometry import Ellipse, ellipse_circumference, ellipse_outline
from train.phantoms import fetal_echo as fe
from train.phantoms import hc18
from train.phantoms import ultrasound as us

log = logging.getLogger(__name__)

SHAPE = (540, 800)
PIXEL_SIZE_RANGE_MM = (0.052, 0.326)
GA_RANGE_WEEKS = (14.0, 40.0)
ASPECT_RANGE = (0.70, 0.90)
SPAN_RANGE = (0.30, 0.70)  # major axis as a fraction of the fan's width
SKULL_RANGE_MM = (2.0, 6.0)

_EDGE_PX = 4.0  # how far the head must stay from the fan's and image's edges


@dataclass(frozen=True)
class FetalHeadPhantom:
    """One synthetic frame and its ground truth.

    Attributes:
        image: HxW uint8 B-mode frame.
        outline: HxW uint8 (0/255) one-pixel outline of ``ellipse`` (an HC18 annotation).
        mask: HxW bool, ``fill_outline(outline)``.
        ellipse: the outer skull border, pixels.
        pixel_size_mm: isotropic pixel size, mm.
        hc_mm: head circumference of ``ellipse`` at ``pixel_size_mm``, mm.
        ga_weeks: gestational age the head size was drawn for, weeks.
    """

    image: np.ndarray
    outline: np.ndarray
    mask: np.ndarray
    ellipse: Ellipse
    pixel_size_mm: float
    hc_mm: float
    ga_weeks: float


@dataclass(frozen=True)
class _Skull:
    thickness_px: float
    wobble: tuple[float, float, float, float]  # thickness modulation: amp1, phase1, amp2, phase2
    brightness: float
    floor: float  # echo left where the skull runs parallel to the beam
    power: float  # how fast the echo falls off away from normal incidence
    gaps: tuple[tuple[float, float, float], ...]  # (centre, half-width, depth) in ellipse angle
    opacity: float  # optical depth of one pass through the bone: the shadow behind the skull
    softness: float  # width of the ring's inner edge, as a fraction of its thickness


@dataclass(frozen=True)
class _Brain:
    level: float
    flip: float  # +1 / -1: which end of the major axis is the forehead
    midline: float
    csp: float  # 0: cavum septi pellucidi not shown
    thalami: float
    choroid: tuple[float, float]
    rim: float  # darker CSF rim just inside the skull
    insula: float  # faint curved echoes of the lateral sulci


@dataclass(frozen=True)
class _Scene:
    shape: tuple[int, int]
    fan: us.Fan
    ellipse: Ellipse
    pixel_size_mm: float
    ga_weeks: float
    skull: _Skull
    brain: _Brain
    look: us.Look
    fluid: float  # amniotic fluid echo
    near_layers: tuple[tuple[float, float, float], ...]  # (depth, width, echo) below probe
    band: tuple[float, ...]  # placenta: normal angle, gap, width, curvature, echo
    blobs: tuple[tuple[float, ...], ...]  # cx, cy, ax, ay, angle_deg, echo, bone echo


def _draw_head(rng: np.random.Generator, fan: us.Fan, shape: tuple[int, int]
               ) -> tuple[Ellipse, float, float, float]:
    """Draw GA, HC and aspect, then a pixel size and pose that fit: (ellipse, px, GA, HC_mm)."""
    fan_width = min(2 * fan.r_max * math.sin(fan.half_angle), shape[1])
    lo, hi = PIXEL_SIZE_RANGE_MM
    for _ in range(100):  # a clipped pixel size can make a head too big for the fan: re-draw it
        ga = rng.uniform(*GA_RANGE_WEEKS)
        mu, sd = intergrowth_hc(ga)
        hc = mu + sd * float(np.clip(rng.standard_normal(), -3.0, 3.0))
        q = rng.uniform(*ASPECT_RANGE)
        a_mm = hc / ellipse_circumference(1.0, q)  # C is linear in scale: C(a, qa) = a C(1, q)
        for _ in range(10):
            px = float(np.clip(2 * a_mm / (rng.uniform(*SPAN_RANGE) * fan_width), lo, hi))
            e = us.place_ellipse(rng, fan, shape, a_mm / px, q * a_mm / px, margin=_EDGE_PX)
            if e is not None:
                return e, px, ga, ellipse_circumference(e.a * px, e.b * px)
    raise ValueError(f"could not fit a fetal head into a {shape[0]}x{shape[1]} frame; use a larger shape")


def _draw_skull(rng: np.random.Generator, e: Ellipse, px: float, hc_mm: float) -> _Skull:
    # Younger skulls are thinner; the echo never fills more than a tenth of the head.
    mm = rng.uniform(*SKULL_RANGE_MM) * float(np.clip(hc_mm / 300.0, 0.45, 1.0))
    n_gaps = int(rng.integers(0, 4))
    gaps = tuple((rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(4, 22)), rng.uniform(0.5, 0.95))
                 for _ in range(n_gaps))
    return _Skull(
        thickness_px=float(np.clip(mm / px, 3.0, max(3.0, 0.1 * e.b))),
        wobble=(rng.uniform(0, 0.25), rng.uniform(0, 2 * math.pi),
                rng.uniform(0, 0.15), rng.uniform(0, 2 * math.pi)),
        brightness=rng.uniform(0.3, 1.5),
        floor=rng.uniform(0.001, 0.02),
        power=rng.uniform(2.5, 8.0),
        softness=rng.uniform(0.1, 0.6),
        gaps=gaps,
        opacity=rng.uniform(0.1, 0.7),
    )


def _draw_brain(rng: np.random.Generator, fluid: float) -> _Brain:
    """Brain echo and which landmarks show; echo amplitudes are relative to a full skull echo."""
    def maybe(p: float, lo: float, hi: float) -> float:
        return rng.uniform(lo, hi) if rng.random() < p else 0.0

    return _Brain(
        # From barely above the fluid to well above it: the ring, not the fill, marks the head.
        level=max(1.5 * fluid, rng.uniform(0.006, 0.06)),
        flip=1.0 if rng.random() < 0.5 else -1.0,
        midline=maybe(0.85, 0.03, 0.25),
        csp=maybe(0.7, 0.04, 0.2),
        thalami=maybe(0.7, 0.3, 0.7),
        choroid=(maybe(0.4, 0.05, 0.3), maybe(0.7, 0.05, 0.4)),
        rim=maybe(0.6, 0.3, 0.8),
        insula=maybe(0.6, 0.03, 0.15),
    )


def _draw_clutter(rng: np.random.Generator, e: Ellipse, fan: us.Fan
                  ) -> tuple[tuple[tuple[float, float, float], ...], tuple[float, ...],
                             tuple[tuple[float, ...], ...]]:
    """Maternal wall layers, the placenta band and fetal body / limb blobs around the head."""
    layers = us.draw_wall_layers(rng, fan)
    # The band touches the head (gap 0) now and then; it mostly lies towards the probe.
    normal = rng.uniform(-math.pi, math.pi) if rng.random() < 0.5 else -math.pi / 2 + rng.normal(0, 0.5)
    gap = 0.0 if rng.random() < 0.3 else rng.uniform(2, 0.6 * e.b)
    band = (normal, gap, rng.uniform(25, 160), rng.uniform(0, 0.004), rng.uniform(0.02, 0.12))
    blobs = []
    for _ in range(int(rng.integers(1, 6))):
        direction = rng.uniform(0, 2 * math.pi)
        big = rng.random() < 0.3
        ax_len = e.a * (rng.uniform(0.5, 1.0) if big else rng.uniform(0.15, 0.6))
        ay_len = ax_len * (rng.uniform(0.5, 0.9) if big else rng.uniform(0.12, 0.35))
        dist = e.a * rng.uniform(0.9, 1.6) + ay_len * rng.uniform(0.3, 1.0)
        blobs.append((e.cx + dist * math.cos(direction), e.cy + dist * math.sin(direction),
                      ax_len, ay_len, rng.uniform(0, 180), rng.uniform(0.01, 0.08),
                      0.0 if big or rng.random() < 0.4 else rng.uniform(0.1, 0.6)))
    return layers, band, tuple(blobs)


def _draw_scene(rng: np.random.Generator, shape: tuple[int, int]) -> _Scene:
    fan = us.draw_fan(rng, shape)
    e, px, ga, hc = _draw_head(rng, fan, shape)
    fluid = rng.uniform(0.002, 0.008)
    look = us.draw_look(rng)
    layers, band, blobs = _draw_clutter(rng, e, fan)
    return _Scene(shape, fan, e, px, ga, _draw_skull(rng, e, px, hc), _draw_brain(rng, fluid),
                  look, fluid, layers, band, blobs)


def _second_view(scene: _Scene, rng: np.random.Generator) -> _Scene:
    """The same exam a moment later: the probe slid and tilted a little, the gain nudged."""
    e = scene.ellipse
    for _ in range(30):
        moved = replace(e, cx=e.cx + rng.normal(0, 0.06 * e.a), cy=e.cy + rng.normal(0, 0.04 * e.a),
                        angle_rad=(e.angle_rad + math.radians(rng.normal(0, 5.0))) % math.pi)
        if us.ellipse_fits(moved, scene.fan, scene.shape, margin=_EDGE_PX):
            e = moved
            break
    look = replace(scene.look, gain_db=scene.look.gain_db + rng.normal(0, 1.5))
    return replace(scene, ellipse=e, look=look)


def _render(scene: _Scene, rng: np.random.Generator) -> FetalHeadPhantom:
    """Echo map of the scene -> beam physics -> log compression, plus the ground truth."""
    geo = us.fan_geometry(scene.shape)
    tex = us.texture(rng, scene.shape, 0.3)
    echo, bones = fe.outside_echo(scene, geo, tex)
    roi = us.ellipse_roi(scene.ellipse, scene.shape)  # head work is done there only, for speed
    g = us.ellipse_coords(scene.ellipse, geo, roi)
    inside, skull = fe.skull_echo(scene.skull, g, tex[roi])
    echo[roi] = inside * fe.brain_echo(scene, g, roi, tex[roi]) + (1 - inside) * echo[roi] + skull
    opacity = bones * np.float32(0.08)
    opacity[roi] += skull * np.float32(scene.skull.opacity / scene.skull.thickness_px)
    image = us.b_mode(echo, opacity, geo, scene.fan, scene.look, rng)
    e, px = scene.ellipse, scene.pixel_size_mm
    outline = ellipse_outline(scene.shape, e)
    return FetalHeadPhantom(image, outline, fill_outline(outline), e, px,
                            ellipse_circumference(e.a * px, e.b * px), scene.ga_weeks)


def make_phantom(rng: np.random.Generator, *, shape: tuple[int, int] = SHAPE) -> FetalHeadPhantom:
    """One random fetal head frame with its ground truth.

    Args:
        rng: source of all randomness; the same generator state gives the same frame.
        shape: (H, W) of the frame, px; HC18 frames are 540 x 800.

    Returns:
        A :class:`FetalHeadPhantom` whose ellipse lies wholly inside the image and the fan.
    """
    return _render(_draw_scene(rng, shape), rng)


def generate(n: int, seed: int) -> Iterator[FetalHeadPhantom]:
    """Yield ``n`` phantoms; case ``i`` uses ``np.random.default_rng([seed, i])``.

    Any case can therefore be regenerated alone, and datasets of different sizes made with the
    same seed share their first cases.
    """
    for i in range(n):
        yield make_phantom(np.random.default_rng([seed, i]))


def exam_frames(seed: int, i: int, second: bool) -> list[FetalHeadPhantom]:
    """Exam ``i``'s first frame (identical to ``generate``'s case ``i``) and maybe a second one."""
    rng = np.random.default_rng([seed, i])
    scene = _draw_scene(rng, SHAPE)
    frames = [_render(scene, rng)]
    if second:
        rng2 = np.random.default_rng([seed, i, 2])
        frames.append(_render(_second_view(scene, rng2), rng2))
    return frames


def write_hc18(root: str | Path, n: int, seed: int, *, test_n: int = 0, second_frame_every: int = 5,
               progress: bool = True) -> Path:
    """Write phantoms in the HC18 layout (``shared/docs/DOMAIN.md`` section 1).

    Args:
        root: output folder; ``training_set/`` (and ``test_set/``) are created inside.
        n: number of training exams, named ``000_HC.png`` onwards.
        seed: dataset seed; exam ``i`` is :func:`generate`'s case ``i``.
        test_n: number of unannotated test frames (``rng([seed, j, 1])``), 0 for none.
        second_frame_every: every k-th exam also gets ``NNN_2HC.png``, the same head seen again
            with the probe moved a little (``rng([seed, i, 2])``); 0 for none.
        progress: show a tqdm progress bar.

    Returns:
        ``root`` as a Path.
    """
    if n < 0 or test_n < 0 or second_frame_every < 0:
        raise ValueError(f"n, test_n and second_frame_every must be >= 0, got {n}, {test_n}, "
                         f"{second_frame_every}")
    root = Path(root)
    exams = (exam_frames(seed, i, second_frame_every > 0 and (i + 1) % second_frame_every == 0)
             for i in range(n))
    frames = hc18.write_training_set(root, tqdm(exams, total=n, desc="training exams", disable=not progress))
    if test_n:
        tests = (make_phantom(np.random.default_rng([seed, j, 1])) for j in range(test_n))
        hc18.write_test_set(root, tqdm(tests, total=test_n, desc="test frames", disable=not progress))
    log.info("wrote %d training frames (%d exams) and %d test frames to %s", frames, n, test_n, root)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m train.phantoms.fetal_head --out DIR --n 100 --seed 0``."""
    parser = argparse.ArgumentParser(
        prog="python -m train.phantoms.fetal_head",
        description="Write synthetic fetal head ultrasound phantoms in the HC18 layout "
                    "(training_set/NNN_HC.png + NNN_HC_Annotation.png + CSV; optional test_set/).",
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--n", type=int, default=100, help="training exams (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default: 0)")
    parser.add_argument("--test-n", type=int, default=0, help="unannotated test frames (default: 0)")
    parser.add_argument("--second-frame-every", type=int, default=5,
                        help="every k-th exam gets a second frame NNN_2HC.png; 0: none (default: 5)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    write_hc18(args.out, args.n, args.seed, test_n=args.test_n,
               second_frame_every=args.second_frame_every, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
