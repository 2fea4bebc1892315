"""Synthetic face "conditions" with a known location, for the face screening classifiers.

Three screening tasks share one machinery. Each phantom is a mild augmentation of a real,
public-domain portrait (:mod:`train.face_augment`: mirror, pose, then lighting, colour and
degradation), with a class-specific change made on the posed photo BEFORE the lighting and
degradation steps, so that these apply to the change as to the skin around it. The landmarks
(mediapipe Face Mesh, detected once per portrait) move with every step. Every class is tied to
the facial regions that carry its evidence (``evidence_regions`` of its row in
:mod:`core.tasks.face_screening`, names from
:data:`core.face.regions.REGION_NAMES`); ``PhantomFace.evidence`` is that location as a pixel mask,
the ground truth of a Grad-CAM pointing game.

``skin``: drawn only on the landmark-derived skin (forehead, cheeks, nose and the chin, i.e. the
face oval below the lower lip: ``face_oval`` in the skin row's ``evidence_regions`` means that part), never
within 0.08 IPD of the eyes, brows, lips or the face's outline; blended into the skin's own
texture (multiplied tints and soft alphas, no flat discs).

* ``acne``: 6-30 papules (a soft red halo over a side-lit bump) and pustules (the same with a
  white-yellow centre) scattered over forehead, cheeks, chin and, rarely, the nose.
* ``eczema``: 1-3 dry pink-red patches with irregular borders on forehead, cheeks or chin:
  duller (desaturated), rough fine texture and whitish scale.
* ``rosacea``: diffuse blotchy centrofacial redness on both cheeks beside the nose and on the
  nose, mostly with a few fine red telangiectasia lines.
* ``healthy``: nothing drawn (the pixels equal those of the plain augmentation of the same seed).

Skin evidence = the pixels actually changed: where the condition's blend weight is >= 0.15.

``syndrome``: descriptive, syndrome-LIKE shape changes by smooth landmark-driven warps (they model
no real syndrome). Every class, ``unaffected`` included, first gets random natural shape variation
(:func:`train.face_shape._group_warps` at moderate strength); the class's own deformation is added
to the same displacement field and the photo is resampled once, so the classes differ by the class
change only, not by "any warp" or by resampling blur.

* ``wide_set_eyes``: both eyes, with lids and brows, moved apart rigidly by 8-13% of the
  interpupillary distance (IPD) each; the span between the inner canthi (and the nasal bridge)
  stretches: the intercanthal distance grows by 30-50%.
  Evidence: the hull of both eyes (the eyes and the span between them), grown by 0.05 IPD.
* ``short_fissures_smooth_philtrum``: each eye's outer corner pulled toward its inner corner by
  20-26% of the fissure's length (iris untouched), the upper lip's vermilion thinned by about 40%
  (the philtrum a little longer) and the philtrum's columns and groove smoothed away.
  Evidence: both eyes grown by 0.1 IPD, and the upper lip with the philtrum (the hull of the
  lips and the subnasale).
* ``small_jaw``: the face below the mouth scaled toward the mouth opening (70-80% vertically,
  84-90% across, fading away from the chin): the mouth-to-chin height about 20% shorter and the
  jaw narrower. Evidence: the face oval below the mouth opening (stomion).

``autism``: there is NO known facial marker of autism, and the product must never suggest one
(``shared/docs/DOMAIN.md`` section 4: the widely used Kaggle set was scraped without verified
diagnoses and the papers built on it are retracted or flagged). ``asd_label`` and ``td_label``
differ ONLY by a synthetic marker with no relation to autism: a faint chequered stamp (6 x 3
squares, fixed shape) on the forehead of every ``asd_label`` phantom. It exists so that the
pipeline (training, Grad-CAM, pointing game) can be demonstrated; it says nothing about faces and
autism. Evidence: the stamp's footprint (inside the forehead).

    python -m train.phantoms.face --task skin --n 200 --seed 0 --identity train --out DIR

writes an ImageFolder layout ``DIR/<class>/<task>_<i>.png``, the evidence masks as
``DIR/evidence/<class>/<task>_<i>.png`` (0/255) and ``DIR/manifest.csv``
(path,label,identity,evidence_path; paths relative to DIR); a reader that takes every
sub-folder of DIR as a class must skip ``evidence/`` (or read the manifest). Training identity:
matplotlib's ``grace_hopper.jpg``; held-out identity: scikit-image's astronaut.
"""
from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from core.face.landmarks import FaceLandmarks
from core.face.regions import REGION_LOOPS, region_masks
from core.tasks import get_task
from train.face_augment import (
    MILD,
    AugmentConfig,
    FaceSource,
    _apply,
    finish_pixels,
    pose_homography,
    warp_from_pyramid,
)
from train.face_shape import _group_warps
from train.face_sources import TRAIN_PHOTO, astronaut_source, sources_from
from train.phantoms.io import write_csv, write_image

log = logging.getLogger(__name__)

SCREENING = get_task("face_screening")  # the rows: classes, evidence regions, phantom notes
IDENTITIES = ("train", "held_out")
EVIDENCE_MIN_ALPHA = 0.15  # skin and marker: a pixel is evidence where the change's weight reaches this
SHAPE_VARIATION = (0.3, 0.7)  # strength range of the natural shape variation under every syndrome class
_SKIN_REGIONS = ("forehead", "right_cheek", "left_cheek", "nose")
_NOT_SKIN = ("right_eye", "left_eye", "right_brow", "left_brow", "lips")


@dataclass(frozen=True)
class PhantomFace:
    """One synthetic face and its ground truth.

    Attributes:
        rgb: HxWx3 uint8 RGB on the portrait's own pixel grid.
        landmarks: the landmarks moved with the image (pose and shape changes).
        label: the class name, from ``SCREENING.rows[task].labels``.
        label_index: its index in ``SCREENING.rows[task].labels``.
        evidence: HxW bool, where the class evidence lies; all False for the no-finding classes.
        identity: the portrait's name (one identity per portrait).
    """

    rgb: np.ndarray
    landmarks: FaceLandmarks
    label: str
    label_index: int
    evidence: np.ndarray
    identity: str


# ---------------------------------------------------------------- geometry helpers
@dataclass(frozen=True)
class _Face:
    """Where the face lies in the posed photo: landmarks, region masks and the face's own frame."""

    pts: np.ndarray                # Nx3 float64 pixels
    masks: dict[str, np.ndarray]   # region name -> HxW bool
    ipd: float                     # interpupillary distance, px
    rot: np.ndarray                # 2x2, columns: the face's x (right eye -> left eye) and y (down)

    @classmethod
    def of(cls, pts: np.ndarray, shape: tuple[int, int]) -> _Face:
        right, left = pts[[33, 133], :2].mean(axis=0), pts[[362, 263], :2].mean(axis=0)
        ex = (left - right) / max(float(np.hypot(*(left - right))), 1e-6)
        rot = np.array([[ex[0], -ex[1]], [ex[1], ex[0]]])
        ipd = max(float(np.hypot(*(pts[473, :2] - pts[468, :2]))), 4.0)
        return cls(pts, region_masks(FaceLandmarks(pts, shape)), ipd, rot)

    def below(self, index: int, margin: float = 0.0) -> np.ndarray:
        """HxW bool: pixels below landmark ``index`` (plus ``margin`` IPD) along the face's vertical."""
        h, w = next(iter(self.masks.values())).shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        o = self.pts[index, :2]
        return (xx - o[0]) * self.rot[0, 1] + (yy - o[1]) * self.rot[1, 1] > margin * self.ipd

    def union(self, names: Sequence[str]) -> np.ndarray:
        return np.logical_or.reduce([self.masks[n] for n in names])


def _px(value: float) -> int:
    return max(1, int(round(value)))


def _soft(mask: np.ndarray, px: float) -> np.ndarray:
    """HxW float32 in [0, 1]: ``mask`` eroded by ``px`` and feathered, zero outside ``mask``."""
    e = _px(px)
    inner = cv2.erode(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * e + 1,) * 2))
    return cv2.GaussianBlur(inner.astype(np.float32), (0, 0), e / 2) * mask


def _hull(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    hull = cv2.convexHull(np.round(points * 16).astype(np.int32))
    return cv2.fillConvexPoly(mask.astype(np.uint8), hull, 1, cv2.LINE_8, 4).astype(bool)


def _grow(mask: np.ndarray, px: float) -> np.ndarray:
    k = 2 * _px(px) + 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return cv2.dilate(mask.astype(np.uint8), disc).astype(bool)


def _noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """HxW float32 smooth Gaussian noise of unit standard deviation, correlated over ``sigma`` px."""
    n = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), max(sigma, 0.3))
    return n / (n.std() + 1e-6)


def _blob(canvas: np.ndarray, centre: np.ndarray, sigma: float, peak: float, add: bool = False) -> None:
    """Put a round Gaussian (``peak`` at ``centre``) into ``canvas``: the maximum, or added."""
    h, w = canvas.shape
    r = int(np.ceil(3.5 * sigma)) + 1
    cx, cy = float(centre[0]), float(centre[1])
    x0, x1 = max(0, int(cx) - r), min(w, int(cx) + r + 1)
    y0, y1 = max(0, int(cy) - r), min(h, int(cy) + r + 1)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    g = peak * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
    view = canvas[y0:y1, x0:x1]
    if add:
        view += g
    else:
        np.maximum(view, g, out=view)


def _sample_points(weight: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n (x, y) pixel positions drawn with probability proportional to ``weight`` (HxW >= 0)."""
    flat = weight.ravel().astype(np.float64)
    if flat.sum() <= 0:
        return np.zeros((0, 2))
    idx = rng.choice(flat.size, size=n, p=flat / flat.sum())
    ys, xs = np.divmod(idx, weight.shape[1])
    return np.stack([xs, ys], axis=1) + rng.uniform(-0.5, 0.5, (n, 2))


def _luminance(x: np.ndarray) -> np.ndarray:
    return x @ np.array([0.299, 0.587, 0.114], np.float32)


# ---------------------------------------------------------------- skin
def _skin_area(face: _Face) -> np.ndarray:
    """HxW bool: forehead, cheeks, nose and chin, at least 0.08 IPD from eyes, brows, lips and the
    face's outline (hair, ears)."""
    chin = face.masks["face_oval"] & face.below(17, 0.03)
    skin = (face.union(_SKIN_REGIONS) | chin) & ~_grow(~face.masks["face_oval"], 0.08 * face.ipd)
    return skin & ~_grow(face.union(_NOT_SKIN), 0.08 * face.ipd)


def _acne(x: np.ndarray, face: _Face, area: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Papules (red halo, raised bump lit from the upper left) and pustules (white-yellow centre)."""
    severity = rng.uniform()
    n = int(round(6 + 24 * severity))
    zone = _soft(area, 0.03 * face.ipd)
    spots = _sample_points(zone * np.where(face.masks["nose"], 0.25, 1.0), n, rng)
    red, bump, white = (np.zeros(x.shape[:2], np.float32) for _ in range(3))
    for c in spots:
        r = face.ipd * rng.uniform(0.025, 0.05)
        _blob(red, c, 1.2 * r, rng.uniform(0.55, 0.9))  # inflamed halo
        _blob(red, c, 0.6 * r, 1.0)                       # deeper red top
        _blob(bump, c, r, r * rng.uniform(0.5, 1.0), add=True)
        if rng.random() < 0.3 + 0.3 * severity:
            _blob(white, c, 0.42 * r, rng.uniform(0.75, 0.95))
    red, bump, white = red * zone, bump * zone, white * zone
    tint = np.array([1.0, rng.uniform(0.36, 0.5), rng.uniform(0.4, 0.55)], np.float32)
    x *= 1 - red[..., None] * (1 - tint)
    light = face.rot @ np.array([-1.0, -1.0]) / np.sqrt(2)  # towards the light: the face's upper left
    gy, gx = np.gradient(bump)
    x *= (1 - 0.3 * (gx * light[0] + gy * light[1]))[..., None]
    if white.any():  # pus: warm white, a little darker where the skin is in shadow
        lum = cv2.GaussianBlur(_luminance(x), (0, 0), 0.1 * face.ipd)
        cream = np.array([1.0, 0.95, 0.74], np.float32) * np.clip(1.5 * lum + 0.15, 0.75, 1.0)[..., None]
        x[:] = x * (1 - white[..., None]) + cream * white[..., None]
    return np.maximum(red, white)


def _rosacea(x: np.ndarray, face: _Face, area: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blotchy redness on the inner cheeks and the nose, often with fine telangiectasia lines."""
    h, w = x.shape[:2]
    zone = _soft(area & face.union(("right_cheek", "left_cheek", "nose")), 0.03 * face.ipd)
    red = np.zeros((h, w), np.float32)
    starts = []
    for cheek, ala in (("right_cheek", 129), ("left_cheek", 358)):
        centroid = face.pts[list(REGION_LOOPS[cheek]), :2].mean(axis=0)
        centre = 0.55 * centroid + 0.45 * face.pts[ala, :2]
        _blob(red, centre, face.ipd * rng.uniform(0.22, 0.32), rng.uniform(0.8, 1.0), add=True)
        starts.append(0.4 * centre + 0.6 * face.pts[ala, :2])
    _blob(red, face.pts[[1, 4, 5], :2].mean(axis=0), face.ipd * rng.uniform(0.13, 0.2),
          rng.uniform(0.7, 1.0), add=True)
    red *= np.clip(0.75 + 0.3 * _noise((h, w), 0.05 * face.ipd, rng), 0.2, 1.3)
    red = np.clip(red, 0, 1) * rng.uniform(0.55, 0.9) * zone
    tint = np.array([1.0, rng.uniform(0.55, 0.66), rng.uniform(0.58, 0.7)], np.float32)
    x *= 1 - red[..., None] * (1 - tint)
    lines = np.zeros((h, w), np.uint8)
    if rng.random() < 0.75:
        for side, start in zip((-1, 1), starts):
            for _ in range(int(rng.integers(3, 8))):
                p = start + rng.normal(0, 0.06 * face.ipd, 2)
                ang = rng.uniform(-0.9, 0.9) + (np.pi if side < 0 else 0.0)  # running outwards
                path = [p]
                for _ in range(int(rng.integers(3, 7))):
                    ang += rng.normal(0, 0.35)
                    path.append(path[-1] + face.rot @ (np.array([np.cos(ang), np.sin(ang)])
                                                       * face.ipd * rng.uniform(0.025, 0.05)))
                cv2.polylines(lines, [np.round(np.array(path) * 16).astype(np.int32)], False, 255, 1,
                              cv2.LINE_AA, 4)
    vessels = cv2.GaussianBlur(lines.astype(np.float32) / 255, (0, 0), 0.4) * rng.uniform(0.35, 0.6) * zone
    x *= 1 - vessels[..., None] * (1 - np.array([1.0, 0.42, 0.48], np.float32))
    return np.maximum(red, vessels)


def _eczema(x: np.ndarray, face: _Face, area: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1-3 dry, dull, rough pink-red patches with irregular borders and whitish scale."""
    h, w = x.shape[:2]
    sites = {"forehead": face.masks["forehead"], "right_cheek": face.masks["right_cheek"],
             "left_cheek": face.masks["left_cheek"], "chin": face.masks["face_oval"] & face.below(17, 0.03)}
    names = list(sites)
    chosen = rng.choice(len(names), size=int(rng.integers(1, 4)), replace=False, p=[0.3, 0.27, 0.27, 0.16])
    blob = np.zeros((h, w), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for k in chosen:
        inner = _soft(area & sites[names[k]], 0.1 * face.ipd)
        if not inner.any():
            continue
        centre = _sample_points(inner, 1, rng)[0]
        a = face.ipd * rng.uniform(0.18, 0.32)
        b = a * rng.uniform(0.5, 0.9)
        ang = rng.uniform(0, np.pi)
        u = (xx - centre[0]) * np.cos(ang) + (yy - centre[1]) * np.sin(ang)
        v = -(xx - centre[0]) * np.sin(ang) + (yy - centre[1]) * np.cos(ang)
        np.maximum(blob, np.exp(-((u / a) ** 2 + (v / b) ** 2)), out=blob)
    ragged = blob * (1 + 0.5 * _noise((h, w), 0.04 * face.ipd, rng))  # irregular borders
    patch = np.clip((ragged - 0.3) / 0.2, 0, 1)
    patch = patch * patch * (3 - 2 * patch) * _soft(area, 0.03 * face.ipd) * rng.uniform(0.6, 0.95)
    lum = _luminance(x)[..., None]
    dull = rng.uniform(0.12, 0.3)
    tint = np.array([1.0, rng.uniform(0.6, 0.7), rng.uniform(0.6, 0.72)], np.float32)
    y = (x * (1 - dull) + lum * dull) * tint
    y *= (1 + rng.uniform(0.12, 0.2) * _noise((h, w), 0.8, rng))[..., None]  # rough, cracked surface
    flakes = (np.clip((_noise((h, w), 0.9, rng) - 0.6) * 1.2, 0, 1) * rng.uniform(0.5, 0.8))[..., None]
    y = y * (1 - flakes) + np.array([0.96, 0.91, 0.87], np.float32) * np.clip(1.5 * lum + 0.1, 0, 1) * flakes
    x[:] = x * (1 - patch[..., None]) + y * patch[..., None]
    return patch


_SKIN_DRAW: dict[str, Callable[[np.ndarray, _Face, np.ndarray, np.random.Generator], np.ndarray]] = {
    "acne": _acne, "rosacea": _rosacea, "eczema": _eczema}


def _draw_skin(image: np.ndarray, face: _Face, label: str, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    if label not in _SKIN_DRAW:
        return image, np.zeros(image.shape[:2], bool)
    x = image.astype(np.float32) / 255
    alpha = _SKIN_DRAW[label](x, face, _skin_area(face), rng)
    return _to_u8(x), alpha >= EVIDENCE_MIN_ALPHA


def _to_u8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------- autism demo marker
def _draw_marker(image: np.ndarray, face: _Face, label: str, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """A faint 6 x 3 chequered stamp on the forehead (asd_label only): deliberately artificial."""
    if label != "asd_label":
        return image, np.zeros(image.shape[:2], bool)
    h, w = image.shape[:2]
    pts, ex, ey = face.pts, face.rot[:, 0], face.rot[:, 1]
    centre = (pts[9, :2] + rng.uniform(0.36, 0.44) * (pts[10, :2] - pts[9, :2])
              + ex * face.ipd * rng.uniform(-0.04, 0.04))
    cell = 0.055 * face.ipd * rng.uniform(0.92, 1.08)
    half_u, half_v = 3 * cell, 1.5 * cell
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xx - centre[0]) * ex[0] + (yy - centre[1]) * ex[1]
    v = (xx - centre[0]) * ey[0] + (yy - centre[1]) * ey[1]
    inside = np.clip(np.minimum(half_u - np.abs(u), half_v - np.abs(v)) + 0.5, 0, 1)  # 1-px edge ramp
    checks = np.clip(3 * np.sin(np.pi * (u + half_u) / cell) * np.sin(np.pi * (v + half_v) / cell), -1, 1)
    footprint = inside * _soft(face.masks["forehead"], 0.03 * face.ipd)
    x = image.astype(np.float32) / 255 * (1 + rng.uniform(0.12, 0.2) * checks * footprint)[..., None]
    return _to_u8(x), footprint >= EVIDENCE_MIN_ALPHA


# ---------------------------------------------------------------- syndrome-like shape changes
# A displacement field: Mx2 points (pixels) -> Mx2 displacements (pixels). Fields add up.
Field = Callable[[np.ndarray], np.ndarray]


def _gaussian(centre: np.ndarray, icov: np.ndarray, lin: np.ndarray, shift: np.ndarray) -> Field:
    """A local affine faded by a Gaussian (``icov``: its 2x2 inverse covariance), as in
    train/face_shape.py: p moves by weight(p) * ((lin - I)(p - centre) + shift)."""
    def move(p: np.ndarray) -> np.ndarray:
        q = p - centre
        weight = np.exp(-0.5 * np.einsum("ni,ij,nj->n", q, icov, q))[:, None]
        return weight * (q @ (lin - np.eye(2)).T + shift)
    return move


def _local(centre: np.ndarray, rot: np.ndarray, radii: tuple[float, float],
           scale: tuple[float, float] = (1.0, 1.0), origin: np.ndarray | None = None,
           shift: np.ndarray | None = None) -> Field:
    """A Gaussian-weighted deformation in the face's frame: radii and scale along its x and y, the
    scaling about ``origin`` (default: the centre), plus a shift (pixels)."""
    icov = rot @ np.diag([1 / radii[0] ** 2, 1 / radii[1] ** 2]) @ rot.T
    lin = rot @ np.diag(scale) @ rot.T
    about = (lin - np.eye(2)) @ (centre - (centre if origin is None else origin))
    return _gaussian(centre, icov, lin, about + (np.zeros(2) if shift is None else shift))


def _spread_eyes(face: _Face, spread: float) -> Field:
    """Both eyes moved apart by ``spread`` px each, rigidly (lids, canthi and irises alike): the
    span between the inner canthi stretches, the field fades beyond the outer canthi and above
    and below the eye line (brows follow most, cheeks less)."""
    pts, ex = face.pts[:, :2], face.rot[:, 0]
    mid = (pts[133] + pts[362]) / 2
    inner = max(float(np.hypot(*(pts[362] - pts[133]))) / 2, 1.0)
    outer = float(np.hypot(*(pts[263] - pts[33]))) / 2

    def move(p: np.ndarray) -> np.ndarray:
        uv = (p - mid) @ face.rot
        u, v = uv[:, 0], uv[:, 1]
        beyond = np.maximum(np.abs(u) - outer, 0)
        along = np.clip(u / inner, -1, 1) * np.exp(-beyond**2 / (2 * (0.2 * face.ipd) ** 2))
        return (spread * along * np.exp(-v**2 / (2 * (0.3 * face.ipd) ** 2)))[:, None] * ex
    return move


def _class_warps(label: str, face: _Face, rng: np.random.Generator) -> list[Field]:
    pts, ipd, rot = face.pts[:, :2], face.ipd, face.rot
    warps: list[Field] = []
    if label == "wide_set_eyes":
        warps.append(_spread_eyes(face, ipd * rng.uniform(0.08, 0.13)))
    elif label == "short_fissures_smooth_philtrum":
        for outer, inner in ((33, 133), (263, 362)):  # the outer corner pulled in: the inner one stays
            width = max(float(np.hypot(*(pts[outer] - pts[inner]))), 1.0)
            towards = (pts[inner] - pts[outer]) / width
            pull = towards * rng.uniform(0.2, 0.26) * width
            warps.append(_local(pts[outer], rot, (0.25 * width,) * 2, shift=pull))
        lip = max(float(np.hypot(*(pts[0] - pts[13]))), 1.0)
        mouth = float(np.hypot(*(pts[61] - pts[291])))
        warps.append(_local((pts[0] + pts[13]) / 2, rot, (0.45 * mouth, 0.8 * lip),
                            (1.0, rng.uniform(0.4, 0.55)), origin=pts[13]))  # upper vermilion thinned
    elif label == "small_jaw":
        length = float(np.hypot(*(pts[152] - pts[13])))
        warps.append(_local(0.6 * pts[152] + 0.4 * pts[17], rot, (0.75 * ipd, 0.6 * length),
                            (rng.uniform(0.84, 0.9), rng.uniform(0.72, 0.8)), origin=pts[13]))
    return warps


def _field(p: np.ndarray, fields: list[Field]) -> np.ndarray:
    return sum((f(p) for f in fields), np.zeros_like(p))


def _deform(image: np.ndarray, pts: np.ndarray, warps: list[Field]) -> tuple[np.ndarray, np.ndarray]:
    """Move the landmarks by the warps' field; the image follows through its inverse (one resampling)."""
    moved = pts.copy()
    moved[:, :2] += _field(pts[:, :2], warps)
    h, w = image.shape[:2]
    step = 4  # the field is smooth: invert it on a coarse grid, then interpolate
    # Coarse sample (i, j) sits at fine pixel step*(i, j) + (step-1)/2: where cv2.resize puts it.
    gy, gx = np.mgrid[0:-(-h // step), 0:-(-w // step)].astype(np.float64) * step + (step - 1) / 2
    target = np.stack([gx.ravel(), gy.ravel()], axis=1)
    src = target.copy()
    for _ in range(15):  # fixed point of src + D(src) = target (the field's slope stays below 1)
        src = target - _field(src, warps)
    maps = src.reshape(*gx.shape, 2).astype(np.float32)
    full = cv2.resize(maps, (gx.shape[1] * step, gx.shape[0] * step), interpolation=cv2.INTER_LINEAR)
    out = cv2.remap(image, full[:h, :w, 0], full[:h, :w, 1], cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return out, moved


def _smooth_philtrum(image: np.ndarray, face: _Face, rng: np.random.Generator) -> np.ndarray:
    """Blur the philtrum across its columns (mostly along the face's x), feathered into the skin."""
    pts, ex = face.pts[:, :2], face.rot[:, 0]
    half = 0.1 * face.ipd * ex
    poly = np.array([pts[2] - half, pts[2] + half, pts[267], pts[0], pts[37]])
    mask = cv2.fillPoly(np.zeros(image.shape[:2], np.uint8), [np.round(poly * 16).astype(np.int32)], 1,
                        cv2.LINE_8, 4)
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.03 * face.ipd)[..., None]
    sigma = rng.uniform(0.05, 0.08) * face.ipd
    smooth = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=0.015 * face.ipd)
    return (image * (1 - alpha) + smooth * alpha + 0.5).astype(np.uint8)


def _shape_evidence(label: str, face: _Face) -> np.ndarray:
    """The region carrying a shape change (see the module docstring), from the moved landmarks."""
    pts, empty = face.pts[:, :2], np.zeros_like(face.masks["face_oval"])
    eyes = list(REGION_LOOPS["right_eye"]) + list(REGION_LOOPS["left_eye"])
    if label == "wide_set_eyes":
        return _grow(_hull(empty, pts[eyes]), 0.05 * face.ipd)
    if label == "short_fissures_smooth_philtrum":
        lip = _hull(empty, pts[[*REGION_LOOPS["lips"], 2]])
        return _grow(face.union(("right_eye", "left_eye")), 0.1 * face.ipd) | lip
    if label == "small_jaw":
        return face.masks["face_oval"] & face.below(13)
    return empty


def _reshape(image: np.ndarray, pts: np.ndarray, label: str, rng: np.random.Generator,
             draw_rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Natural shape variation (from ``rng``: the same for every class of a seed) plus the class's
    change (from ``draw_rng``), one resampling; returns image, moved landmarks, evidence."""
    face = _Face.of(pts, image.shape[:2])
    natural = [_gaussian(c, np.eye(2) / r**2, lin, t)
               for c, r, lin, t in _group_warps(pts, rng.uniform(*SHAPE_VARIATION), rng)]
    image, moved = _deform(image, pts, natural + _class_warps(label, face, draw_rng))
    moved_face = _Face.of(moved, image.shape[:2])
    if label == "short_fissures_smooth_philtrum":
        image = _smooth_philtrum(image, moved_face, draw_rng)
    return image, moved, _shape_evidence(label, moved_face)


# ---------------------------------------------------------------- phantoms
def vary_identity(image: np.ndarray, face: _Face, rng: np.random.Generator) -> np.ndarray:
    """Make the one training face look less like itself, before any class is drawn: skin smoothed
    (younger, fewer wrinkles) and its tone shifted (lighter, darker, pinker, yellower) inside the
    face oval, each in a random share of samples. Every class gets the same nuisance, so a
    classifier must tell the classes by the drawn change, not by this person's skin."""
    oval = _soft(face.masks["face_oval"], 0.05 * face.ipd)[..., None]
    out = image.astype(np.float32)
    if rng.random() < 0.6:
        smooth = cv2.bilateralFilter(image, 0, float(rng.uniform(15, 45)), 0.04 * face.ipd).astype(np.float32)
        k = rng.uniform(0.4, 1.0)
        out = out * (1 - k * oval) + smooth * (k * oval)
    if rng.random() < 0.8:
        lab = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2LAB).astype(np.float32)
        shift = np.array([rng.uniform(-25, 20), rng.uniform(-6, 12), rng.uniform(-10, 8)], np.float32)
        lab += shift * (255 / 100, 1, 1) * oval  # L is stored 0..255 for 0..100
        shifted = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.float32)
        out = out * (1 - oval) + shifted * oval
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _classes(task: str) -> tuple[str, ...]:
    if task not in SCREENING.rows:
        raise ValueError(f"unknown face screening task {task!r}; choose one of {', '.join(SCREENING.rows)}")
    return SCREENING.rows[task].labels


def make_phantom(task: str, label: str, source: FaceSource, rng: np.random.Generator,
                 augment: AugmentConfig = MILD, identity_variation: float = 0.0) -> PhantomFace:
    """One phantom of class ``label``: the portrait mirrored and posed, the class change made, then
    lighting, colour and degradation (all from ``augment``).

    The class change draws from its own stream (``rng.spawn``), so the pose, natural shape
    variation and lighting of a seed are the same for every class: a ``healthy``/``td_label``
    phantom equals :func:`train.face_augment.photo_sample` with the same seed, pixel for pixel.

    Args:
        task: a row of the ``face_screening`` task (``skin``, ``syndrome``, ``autism``).
        label: one of its classes.
        source: the portrait and its landmarks.
        rng: a seeded Generator (``np.random.default_rng(...)``: it must be able to spawn).
        augment: the augmentation strengths (occluders and background changes apply if set).
        identity_variation: share of phantoms whose face is first made to look less like the
            portrait (:func:`vary_identity`; its own random stream, so nothing else changes).

    Raises:
        ValueError: unknown task or label.
    """
    classes = _classes(task)
    if label not in classes:
        raise ValueError(f"unknown class {label!r} for task {task!r}; choose one of {', '.join(classes)}")
    draw_rng = rng.spawn(1)[0]
    vary_rng = rng.spawn(1)[0] if identity_variation else None
    levels, pts, _ = source.pick(augment, rng)
    pose = pose_homography(source.shape, pts, augment, rng)
    image = warp_from_pyramid(levels, pose, source.shape, pts[:, :2].mean(axis=0))
    pts = _apply(pose, pts)
    if vary_rng is not None and vary_rng.random() < identity_variation:
        image = vary_identity(image, _Face.of(pts, source.shape), vary_rng)
    if task == "syndrome":
        image, pts, evidence = _reshape(image, pts, label, rng, draw_rng)
    else:
        draw = _draw_skin if task == "skin" else _draw_marker
        image, evidence = draw(image, _Face.of(pts, source.shape), label, draw_rng)
    image = finish_pixels(image, pts, augment, rng)
    return PhantomFace(image, FaceLandmarks(pts.astype(np.float32), source.shape), label,
                       classes.index(label), evidence, source.name)


@lru_cache(maxsize=2)
def face_source(identity: str = "train") -> FaceSource:
    """The portrait of an identity, landmarks detected once per process (as ``default_sources``):
    ``train`` is matplotlib's grace_hopper.jpg, ``held_out`` scikit-image's astronaut."""
    if identity not in IDENTITIES:
        raise ValueError(f"unknown identity {identity!r}; choose one of {', '.join(IDENTITIES)}")
    if identity == "held_out":
        return astronaut_source()
    from matplotlib import cbook

    return sources_from([Path(cbook.get_sample_data(TRAIN_PHOTO, asfileobj=False))], glasses=True)[0]


def iter_phantoms(task: str, n: int, seed: int, identity: str = "train",
                  identity_variation: float = 0.0,
                  sources: Sequence[FaceSource] | None = None) -> Iterator[PhantomFace]:
    """Phantom ``i`` (0..n-1) has class ``SCREENING.rows[task].labels[i % C]`` and Generator ``[seed, i]``:
    balanced (the remainder goes to the first classes) and reproducible one by one. With ``sources``
    (real people's photos, :mod:`train.face_identities`) phantom ``i`` is drawn on
    ``sources[(i // C) % len(sources)]``, so every person gets every class in turn; else on the
    portrait of ``identity``."""
    classes = _classes(task)
    if n < 0:
        raise ValueError(f"need n >= 0, got {n}")
    pool = list(sources) if sources else [face_source(identity)]
    for i in range(n):
        source = pool[(i // len(classes)) % len(pool)]
        yield make_phantom(task, classes[i % len(classes)], source, np.random.default_rng([seed, i]),
                           identity_variation=identity_variation)


def phantom_set(task: str, n: int, seed: int, identity: str = "train",
                identity_variation: float = 0.0,
                sources: Sequence[FaceSource] | None = None) -> list[PhantomFace]:
    """``n`` phantoms of a task, balanced over its classes, on the ``train`` (grace_hopper) or
    ``held_out`` (astronaut) identity, or on the photos ``sources``; the same seed gives identical
    pixels. ``identity_variation``: see :func:`make_phantom` (for training sets; test sets keep the
    portrait as it is)."""
    return list(iter_phantoms(task, n, seed, identity, identity_variation, sources))


def write_dataset(out: str | Path, task: str, n: int, seed: int, identity: str = "train", *,
                  progress: bool = True) -> Path:
    """Write phantoms as ``out/<class>/<task>_<i>.png``, their evidence as
    ``out/evidence/<class>/<task>_<i>.png`` (0/255) and ``out/manifest.csv``
    (path,label,identity,evidence_path; paths relative to ``out``). Returns the manifest's path."""
    out = Path(out)
    for label in _classes(task):
        (out / label).mkdir(parents=True, exist_ok=True)
        (out / "evidence" / label).mkdir(parents=True, exist_ok=True)
    rows = []
    width = max(4, len(str(max(n - 1, 0))))
    phantoms = iter_phantoms(task, n, seed, identity)
    for i, ph in enumerate(tqdm(phantoms, total=n, desc=f"{task} phantoms", disable=not progress)):
        name = f"{ph.label}/{task}_{i:0{width}d}.png"
        write_image(out / name, cv2.cvtColor(ph.rgb, cv2.COLOR_RGB2BGR))
        write_image(out / "evidence" / name, ph.evidence.astype(np.uint8) * 255)
        rows.append((name, ph.label, ph.identity, f"evidence/{name}"))
    manifest = out / "manifest.csv"
    write_csv(manifest, ("path", "label", "identity", "evidence_path"), rows)
    log.info("wrote %d %s phantoms (%s identity) to %s", n, task, identity, out)
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m train.phantoms.face --task skin --n 200 --seed 0 --out DIR``."""
    parser = argparse.ArgumentParser(
        prog="python -m train.phantoms.face",
        description="Write synthetic face-screening phantoms (skin conditions, syndrome-like shape "
                    "changes, or the autism demo's artificial forehead marker) as an ImageFolder "
                    "layout with evidence masks and manifest.csv. "
                    + " ".join(r.phantom_note for r in SCREENING.rows.values()))
    parser.add_argument("--task", required=True, choices=list(SCREENING.rows), help="screening task")
    parser.add_argument("--n", type=int, default=200, help="number of phantoms, balanced (default: 200)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default: 0)")
    parser.add_argument("--identity", choices=IDENTITIES, default="train",
                        help="train: grace_hopper.jpg; held_out: scikit-image's astronaut (default: train)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    write_dataset(args.out, args.task, args.n, args.seed, args.identity, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
