"""Synthetic brachial-plexus ultrasound sweeps in the Kaggle 2016 nerve layout (DOMAIN.md section 2).

Each subject is one video-like sweep of a LINEAR probe: a rectangular field of view, beams straight
down. :mod:`train.phantoms.ultrasound` models a curvilinear fan, so this module hands its
:func:`~train.phantoms.ultrasound.b_mode` a degenerate "fan" whose polar grid is the image's own
row/column grid (:func:`linear_geometry`): speckle, TGC, attenuation, noise and log compression are
reused unchanged, and lateral speckle size stays constant with depth as on a linear probe.

A subject's anatomy is drawn once on a canvas larger than the frame: skin, subcutaneous fat,
striated muscles separated by bright fascia, the nerve (a hyperechoic oval rim around a honeycomb
of dark fascicles in a bright matrix) beside an anechoic artery with bright walls and posterior
acoustic enhancement. Each frame warps the canvas a little (smooth translation, slight rotation and
probe pressure), and the nerve is drawn only on the frames where the sweep crosses it, about half.
A few nerve frames get an empty label on purpose (``label_missing``), as in the real set.
"""
from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from core.geometry import Ellipse
from core.rle import rle_encode
from train.phantoms import ultrasound as us
from train.phantoms.io import write_csv, write_image

log = logging.getLogger(__name__)

SHAPE = (420, 580)  # (H, W) of the Kaggle frames
TRAIN_CSV = "train_masks.csv"
_PAD = 48  # canvas margin around the frame, px: room for the sweep's motion
_MAX_SHIFT = (30.0, 6.0)  # largest sweep translation (x, y), px; must stay below _PAD


@dataclass(frozen=True)
class NervePhantom:
    """One synthetic frame of a subject's sweep and its label.

    Attributes:
        image: 420x580 uint8 B-mode frame.
        mask: 420x580 bool nerve region (filled outer boundary); all False when unlabelled.
        subject: subject number, from 1 (0 for test frames).
        frame: frame number within the subject's sweep, from 1.
        has_nerve: whether the nerve is drawn in ``image``.
        label_missing: the nerve is in the image but its label was left empty on purpose.
    """

    image: np.ndarray
    mask: np.ndarray
    subject: int
    frame: int
    has_nerve: bool
    label_missing: bool


@dataclass(frozen=True)
class _Subject:
    """Static anatomy on the canvas (4 float32 channels) and the subject's scanner settings.

    ``layers`` holds: echo without the nerve, the nerve's echo change, attenuation per px, and the
    nerve mask (0/1); the frame's echo is ``base + visibility * delta``.
    """

    layers: np.ndarray
    look: us.Look
    atten: float


@lru_cache(maxsize=4)
def linear_geometry(shape: tuple[int, int]) -> us.FanGeometry:
    """A :class:`~train.phantoms.ultrasound.FanGeometry` of a linear probe over an (H, W) frame.

    Beams run straight down, one per column, and the "polar" grid is rows x columns, so
    :func:`~train.phantoms.ultrasound.b_mode` scans a rectangle. ``angles`` are a nominal -1..1
    across the probe, to pair with :func:`linear_fan`.
    """
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    radii = np.arange(0.0, h + 2 * us.POLAR_STEP_PX, us.POLAR_STEP_PX, dtype=np.float32)
    angles = np.linspace(-1.0, 1.0, w, dtype=np.float32)
    cols = np.broadcast_to(np.arange(w, dtype=np.float32), (radii.size, w)).copy()
    rows = np.broadcast_to(radii[:, None], (radii.size, w)).copy()
    geo = us.FanGeometry((w / 2.0, 0.0), xx, yy, np.zeros_like(xx), np.ones_like(xx),
                         yy.astype(np.int32), (cols, rows), (xx.copy(), yy / us.POLAR_STEP_PX),
                         radii, angles)
    for arr in (xx, yy, geo.beam_x, geo.beam_y, geo.r_int, cols, rows, *geo.to_image, radii, angles):
        arr.flags.writeable = False
    return geo


def linear_fan(shape: tuple[int, int]) -> us.Fan:
    """The whole rectangle as the imaged "sector" of :func:`linear_geometry`."""
    h, w = shape
    return us.Fan(half_angle=1.0 + 4.0 / w, r_min=-1.5, r_max=h + 1.5, near_field=0.0)


def _boundaries(rng: np.random.Generator, depths: Sequence[float], w: int) -> np.ndarray:
    """(K, W) float32 wavy tissue boundaries at the given mean depths, px."""
    x = np.arange(w, dtype=np.float32)
    out = [d + rng.uniform(3, 12) * np.sin(x / rng.uniform(60, 200) + rng.uniform(0, 2 * math.pi))
           + rng.uniform(-0.06, 0.06) * (x - w / 2) for d in depths]
    return np.sort(np.stack(out).astype(np.float32), axis=0)


def _striation(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """HxW float32 muscle fibre texture, about N(0, 1): long thin streaks, slightly tilted."""
    h, w = shape
    z = rng.standard_normal(shape, dtype=np.float32)
    z = cv2.GaussianBlur(z, (0, 0), sigmaX=9.0, sigmaY=1.1)
    shear = np.float32([[1, 0, 0], [rng.uniform(-0.12, 0.12), 1, 0]])
    z = cv2.warpAffine(z, shear, (w, h), borderMode=cv2.BORDER_REFLECT)
    return z / np.float32(z.std() + 1e-6)


def _tissue_echo(rng: np.random.Generator, shape: tuple[int, int], nerve_y: float, nerve_b: float
                 ) -> np.ndarray:
    """Canvas echo of skin, fat, muscles and fascia; the nerve lies between two fascia lines."""
    h, w = shape
    skin, fat = rng.uniform(8, 16), rng.uniform(15, 45)
    above, below = nerve_y - nerve_b - rng.uniform(10, 25), nerve_y + nerve_b + rng.uniform(15, 45)
    mid = (skin + fat + above) / 2 + rng.uniform(-10, 10)
    depths = [skin, skin + fat, mid, above, below, below + rng.uniform(60, 120)]
    bounds = _boundaries(rng, depths, w)
    yy = np.arange(h, dtype=np.float32)[:, None]
    region = (yy > bounds[:, None, :]).sum(axis=0)
    muscle = rng.uniform(0.05, 0.09)
    strength = rng.uniform(0.6, 1.4)
    striated = muscle * np.clip(0.45 + strength * 0.6 * _striation(rng, shape), 0.15, None)
    levels = [rng.uniform(0.25, 0.5), rng.uniform(0.08, 0.16), None, None,
              rng.uniform(0.05, 0.1), None, rng.uniform(0.06, 0.12)]
    echo = striated.astype(np.float32)
    for k, level in enumerate(levels):
        if level is not None:
            echo[region == k] = level
    for k in range(1, len(depths)):  # fascia: bright specular sheets between the layers
        bright = rng.uniform(0.3, 0.9) * (0.6 + 0.4 * np.sin(np.arange(w) / rng.uniform(20, 60)))
        width = rng.uniform(1.2, 2.5)
        echo += (bright[None, :] * np.exp(-(((yy - bounds[k][None, :]) / width) ** 2))).astype(np.float32)
    return echo * us.texture(rng, shape, 0.35)


def _fascicles(rng: np.random.Generator, e: Ellipse, rim: float) -> list[tuple[float, float, float]]:
    """(x, y, radius) px of 5-14 non-overlapping dark fascicles inside the nerve's rim."""
    out: list[tuple[float, float, float]] = []
    target = int(rng.integers(5, 15))
    c, s = math.cos(e.angle_rad), math.sin(e.angle_rad)
    for _ in range(80):
        r = rng.uniform(0.09, 0.17) * e.b + 1.5
        t, rho = rng.uniform(0, 2 * math.pi), math.sqrt(rng.uniform(0, 1))
        u, v = rho * (e.a - rim - r - 1) * math.cos(t), rho * (e.b - rim - r - 1) * math.sin(t)
        x, y = e.cx + u * c - v * s, e.cy + u * s + v * c
        if all(math.hypot(x - x2, y - y2) > r + r2 + 1.5 for x2, y2, r2 in out):
            out.append((x, y, r))
        if len(out) == target:
            break
    return out


def _nerve_layers(rng: np.random.Generator, geo: us.FanGeometry, e: Ellipse, tex: np.ndarray,
                  base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(delta echo, mask) over the canvas: a bright rim around a honeycomb of fascicles."""
    roi = us.ellipse_roi(e, base.shape)
    g = us.ellipse_coords(e, geo, roi)
    rim = rng.uniform(2.5, 5.0)
    inside = np.clip(0.5 - g.d, 0, 1)
    shell = inside * np.clip((g.d + rim) / 1.5 + 0.5, 0, 1)
    fasc = np.zeros(g.d.shape, np.float32)
    for x, y, r in _fascicles(rng, e, rim):
        cv2.circle(fasc, (round((x - roi[1].start) * 16), round((y - roi[0].start) * 16)),
                   round(r * 16), 1.0, -1, cv2.LINE_8, 4)
    fasc = cv2.GaussianBlur(fasc, (0, 0), 0.8)
    matrix = rng.uniform(0.25, 0.45) * tex[roi] * (1 - 0.9 * fasc)
    nerve = inside * (1 - shell) * matrix + shell * us.specular(g.cos_inc, rng.uniform(0.6, 1.1), 0.55, 2.0)
    delta = np.zeros_like(base)
    delta[roi] = nerve - inside * base[roi]
    mask = np.zeros_like(base)
    mask[roi] = (g.d <= 0).astype(np.float32)
    return delta, mask


def _artery(rng: np.random.Generator, geo: us.FanGeometry, e: Ellipse, echo: np.ndarray,
            opacity: np.ndarray) -> None:
    """Draw an anechoic lumen with bright walls into ``echo``; the lumen stops attenuating."""
    roi = us.ellipse_roi(e, echo.shape)
    g = us.ellipse_coords(e, geo, roi)
    wall = rng.uniform(2.0, 3.5)
    inside, lumen = np.clip(0.5 - g.d, 0, 1), np.clip(-wall - g.d + 0.5, 0, 1)
    walls = (inside - lumen) * us.specular(g.cos_inc, rng.uniform(0.5, 1.0), 0.2, 3.0)
    echo[roi] = (1 - inside) * echo[roi] + walls + lumen * np.float32(0.003)
    opacity[roi] *= 1 - lumen  # fluid barely attenuates: posterior acoustic enhancement below


def _draw_subject(rng: np.random.Generator) -> _Subject:
    """A subject's anatomy on the canvas and its scanner settings."""
    shape = (SHAPE[0] + 2 * _PAD, SHAPE[1] + 2 * _PAD)
    geo = linear_geometry(shape)
    a = rng.uniform(32, 50)
    nerve = Ellipse(rng.uniform(_PAD + 150, shape[1] - _PAD - 150), _PAD + rng.uniform(120, 250),
                    a, a * rng.uniform(0.55, 0.8), math.radians(rng.uniform(-25, 25)))
    r = rng.uniform(22, 36)
    side = 1 if rng.random() < 0.5 else -1
    artery = Ellipse(nerve.cx + side * (nerve.a + r + rng.uniform(4, 25)),
                     nerve.cy + rng.uniform(-0.6, 0.6) * nerve.b, r, r * rng.uniform(0.85, 1.0),
                     rng.uniform(0, math.pi))
    echo = _tissue_echo(rng, shape, nerve.cy, nerve.b)
    atten = rng.uniform(0.008, 0.013)
    opacity = np.full(shape, atten, np.float32)
    _artery(rng, geo, artery, echo, opacity)
    delta, mask = _nerve_layers(rng, geo, nerve, us.texture(rng, shape, 0.3), echo)
    look = us.draw_look(rng)
    look = replace(look, lateral_db=0.0, reverb=(0.0, 10.0), gain_db=look.gain_db - 9.0,
                   dynamic_range_db=look.dynamic_range_db + 5.0,
                   speckle=(1.8 * look.speckle[0], 2.4 * look.speckle[1]))
    return _Subject(np.dstack([echo, delta, opacity, mask]), look, atten)


def _sweep(rng: np.random.Generator, n_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame (motion, visibility, label_missing): motion is (n, 4) tx, ty, rotation deg, y scale."""
    t = np.arange(n_frames) / max(n_frames - 1, 1)
    motion = np.zeros((n_frames, 4))
    for j, amp in enumerate((_MAX_SHIFT[0], _MAX_SHIFT[1], 1.5, 0.03)):
        f, ph, a = rng.uniform(0.3, 1.2), rng.uniform(0, 2 * math.pi), rng.uniform(0.3, 1.0) * amp
        motion[:, j] = a * np.sin(2 * math.pi * f * t + ph)
    motion[:, 3] += 1.0
    k = round(n_frames * rng.uniform(0.35, 0.65))
    start = int(rng.integers(0, n_frames - k + 1))
    vis = np.zeros(n_frames)
    vis[start:start + k] = 1.0
    if k >= 3:  # entering / leaving the imaging plane: fainter at the ends of the crossing
        vis[start] = vis[start + k - 1] = rng.uniform(0.55, 0.8)
    missing = np.zeros(n_frames, bool)
    n_miss = min(max(1, rng.binomial(k, 0.1)), 2 * math.ceil(n_frames / 20)) if k >= 4 else 0
    missing[rng.choice(np.arange(start, start + k), size=n_miss, replace=False)] = True
    return motion, vis, missing


def _render(subj: _Subject, motion: np.ndarray, vis: float, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray]:
    """(HxW uint8 frame, HxW bool mask) of the canvas seen from one probe pose."""
    h, w = SHAPE
    tx, ty, rot, sy = motion
    m = cv2.getRotationMatrix2D((w / 2, 0.0), float(rot), 1.0)
    m[:, 1] *= sy  # probe pressure squeezes depth a little
    m[:, 2] += (_PAD + tx, _PAD + ty)
    layers = cv2.warpAffine(subj.layers, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REFLECT)
    echo = layers[..., 0] + np.float32(vis) * layers[..., 1]
    # Undo the mean tissue loss (the scanner's TGC) so only the lumen's missing loss stands out.
    echo *= np.exp(np.float32(subj.atten) * linear_geometry(SHAPE).yy)
    look = replace(subj.look, gain_db=subj.look.gain_db + rng.normal(0, 0.3))
    image = us.b_mode(echo, layers[..., 2], linear_geometry(SHAPE), linear_fan(SHAPE), look, rng)
    return image, layers[..., 3] >= 0.5


def make_subject(rng: np.random.Generator, subject: int, n_frames: int) -> list[NervePhantom]:
    """One subject's sweep: ``n_frames`` consecutive frames of the same anatomy.

    Args:
        rng: source of all randomness; the same generator state gives the same sweep.
        subject: subject number stored in each frame.
        n_frames: frames in the sweep, numbered from 1.

    Returns:
        :class:`NervePhantom` frames; about half show the nerve, and a few of those have
        ``label_missing`` (empty mask).
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    subj = _draw_subject(rng)
    motion, vis, missing = _sweep(rng, n_frames)
    frames = []
    for i in range(n_frames):
        image, mask = _render(subj, motion[i], float(vis[i]), rng)
        has = bool(vis[i] > 0)
        if not has or missing[i]:
            mask = np.zeros_like(mask)
        frames.append(NervePhantom(image, mask, subject, i + 1, has, bool(missing[i])))
    return frames


def generate(n_subjects: int, frames_per_subject: int, seed: int) -> Iterator[NervePhantom]:
    """Yield subjects 1..n_subjects in order; subject ``s`` uses ``np.random.default_rng([seed, s])``."""
    for s in range(1, n_subjects + 1):
        yield from make_subject(np.random.default_rng([seed, s]), s, frames_per_subject)


def write_kaggle(root: str | Path, n_subjects: int, frames_per_subject: int, seed: int, *,
                 test_n: int = 0, progress: bool = True) -> Path:
    """Write sweeps in the Kaggle nerve layout (``shared/docs/DOMAIN.md`` section 2).

    Args:
        root: output folder; ``train/``, ``train_masks.csv`` (and ``test/``) are created inside.
        n_subjects: subjects, numbered from 1 (:func:`generate`'s subjects).
        frames_per_subject: frames per subject, numbered from 1.
        seed: dataset seed.
        test_n: unlabelled test frames ``test/1.tif`` onwards, each the first frame of a hidden
            subject (``rng([seed, 0, k])``); 0 for none.
        progress: show a tqdm progress bar.

    Returns:
        ``root`` as a Path.
    """
    if n_subjects < 0 or frames_per_subject < 1 or test_n < 0:
        raise ValueError(f"need n_subjects >= 0, frames_per_subject >= 1, test_n >= 0; got "
                         f"{n_subjects}, {frames_per_subject}, {test_n}")
    root = Path(root)
    train_dir = root / "train"
    train_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    total = n_subjects * frames_per_subject
    for p in tqdm(generate(n_subjects, frames_per_subject, seed), total=total, desc="train frames",
                  disable=not progress):
        write_image(train_dir / f"{p.subject}_{p.frame}.tif", p.image)
        write_image(train_dir / f"{p.subject}_{p.frame}_mask.tif", p.mask.astype(np.uint8) * 255)
        rows.append((p.subject, p.frame, rle_encode(p.mask)))
    write_csv(root / TRAIN_CSV, ("subject", "img", "pixels"), rows)
    if test_n:
        test_dir = root / "test"
        test_dir.mkdir(exist_ok=True)
        for k in tqdm(range(1, test_n + 1), desc="test frames", disable=not progress):
            p = make_subject(np.random.default_rng([seed, 0, k]), 0, 1)[0]
            write_image(test_dir / f"{k}.tif", p.image)
    log.info("wrote %d training frames (%d subjects) and %d test frames to %s", total, n_subjects,
             test_n, root)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m train.phantoms.nerve --out DIR --subjects 4 --frames 20 --seed 0``."""
    parser = argparse.ArgumentParser(
        prog="python -m train.phantoms.nerve",
        description="Write synthetic brachial-plexus ultrasound sweeps in the Kaggle 2016 nerve "
                    "layout (train/<subject>_<n>.tif + _mask.tif, train_masks.csv; optional test/).",
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--subjects", type=int, default=4, help="subjects (default: 4)")
    parser.add_argument("--frames", type=int, default=20, help="frames per subject (default: 20)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default: 0)")
    parser.add_argument("--test-n", type=int, default=0, help="unlabelled test frames (default: 0)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    write_kaggle(args.out, args.subjects, args.frames, args.seed, test_n=args.test_n,
                 progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
