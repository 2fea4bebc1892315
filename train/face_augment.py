"""Augmented, labelled faces from one photo and its landmarks, for the facial-region U-Net.

Landmarks are detected ONCE per source photo; every augmentation then moves the image and the
landmarks together, and the labels are recomputed from the moved landmarks with
:func:`core.face.regions.region_label_mask`, so they follow the pixels exactly:

* mirror (the landmarks re-indexed with :data:`core.face.symmetry.MIRROR`, so right/left swap),
* for a portrait with glasses: the dark frames painted out and eyebrows painted in per sample,
* pose: in-plane rotation, scale, shift and a yaw-like perspective squeeze of one side,
* alignment by the eye centres into the network's frame, with a small jitter,
* landmark-driven shape warps (train/face_shape.py): eyes, brows, nose, mouth and chin moved or
  resized by smooth local deformations centred on their landmarks, and an opened mouth,
* lighting and colour, blur, resolution loss, noise, JPEG, occluders and background changes
  (pixels only: the labels stay the true regions, which the model should infer under them).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from core.face.landmarks import FaceLandmarks
from core.face.regions import alignment_matrix, region_label_mask
from core.face.symmetry import MIRROR
from train.face_pixels import (
    degrade,
    inpaint_dark_frames,
    occlude,
    paint_brows,
    photometric,
    replace_background,
)
from train.face_shape import open_mouth, shape_warp


@dataclass(frozen=True)
class FaceSource:
    """A photo with its landmarks (Nx3 pixels), ready to sample: the photo and its mirror image
    and, for a portrait with glasses, both again with the dark frames painted out ("bare")."""

    name: str
    shape: tuple[int, int]
    variants: dict[tuple[bool, bool], tuple[tuple[np.ndarray, ...], np.ndarray]]  # (mirrored, bare)

    @classmethod
    def from_photo(cls, name: str, rgb: np.ndarray, points: np.ndarray, *, glasses: bool = False
                   ) -> FaceSource:
        pts = np.asarray(points, np.float64)
        photos = {False: rgb, **({True: inpaint_dark_frames(rgb, pts)} if glasses else {})}
        variants = {}
        for bare, photo in photos.items():
            variants[(False, bare)] = (_pyramid(photo), pts)
            flipped, flipped_pts = mirror(photo, pts)
            variants[(True, bare)] = (_pyramid(flipped), flipped_pts)
        return cls(name, tuple(rgb.shape[:2]), variants)

    @property
    def photo(self) -> np.ndarray:
        """The photo as given (HxWx3 uint8)."""
        return self.variants[(False, False)][0][0]

    @property
    def points(self) -> np.ndarray:
        """Its landmarks (Nx3 float64 pixels)."""
        return self.variants[(False, False)][1]

    def pick(self, cfg: AugmentConfig, rng: np.random.Generator
             ) -> tuple[tuple[np.ndarray, ...], np.ndarray, bool]:
        """A variant's image pyramid and landmarks, and whether it is a bare (frames removed) one."""
        mirrored = bool(rng.random() < cfg.mirror_p)
        bare = (False, True) in self.variants and bool(rng.random() < cfg.bare_p)
        levels, pts = self.variants[(mirrored, bare)]
        return levels, pts, bare


@dataclass(frozen=True)
class AugmentConfig:
    """Strengths of each augmentation (ranges are symmetric unless a pair is given)."""

    mirror_p: float = 0.5
    bare_p: float = 0.5                         # the photo with its glasses' dark frames removed
    rotate_deg: float = 25.0
    scale: tuple[float, float] = (0.45, 1.25)  # of the photo: sets the face's resolution
    shift: float = 0.1                          # of the photo's size
    squeeze: float = 0.18                       # yaw-like: one side narrower by up to this
    jitter_deg: float = 2.0                     # of the alignment, which inference does not have
    jitter_scale: float = 0.03
    jitter_shift: float = 0.015
    shape_p: float = 0.8
    shape: float = 1.0                          # strength of the landmark-driven warps
    mouth_p: float = 0.35                       # open the mouth (teeth or a dark gap)
    colour: float = 1.0                         # strength of lighting and colour changes
    degrade_p: float = 0.6
    occlude_p: float = 0.4
    background_p: float = 0.3


STRONG = AugmentConfig()
MILD = AugmentConfig(bare_p=0.0, rotate_deg=10.0, scale=(0.8, 1.2), shift=0.05, squeeze=0.05, jitter_deg=0.0,
                     jitter_scale=0.0, jitter_shift=0.0, shape_p=0.0, mouth_p=0.0, colour=0.35, degrade_p=0.3,
                     occlude_p=0.0, background_p=0.0)


def mirror(rgb: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mirrored photo and its landmarks: x -> W-1-x (cv2's pixel centres), then re-indexed so
    that index i is again landmark i of the (now mirrored) face: its right eye is the old left."""
    pts = np.array(points, np.float64)
    pts[:, 0] = rgb.shape[1] - 1 - pts[:, 0]
    return np.ascontiguousarray(rgb[:, ::-1]), pts[MIRROR]


def pose_homography(shape: tuple[int, int], points: np.ndarray, cfg: AugmentConfig,
                    rng: np.random.Generator) -> np.ndarray:
    """3x3 photo -> photo homography: rotation and scale about the face centre, a shift, and a
    perspective squeeze of one side of the face (a head turned a little)."""
    h, w = shape
    cx, cy = points[:, :2].mean(axis=0)
    half = max(np.ptp(points[:, 0]), 1.0) / 2
    ang = np.radians(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    k = rng.uniform(*cfg.scale)
    squeeze = rng.uniform(0, cfg.squeeze) * rng.choice([-1, 1])
    to_face = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1.0]])
    # x' = x / (1 + p x): the side at x = +half shrinks by about `squeeze`, the other grows.
    persp = np.array([[1, 0, 0], [0, 1, 0], [squeeze / half, 0, 1.0]])
    c, s = k * np.cos(ang), k * np.sin(ang)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    dx, dy = rng.uniform(-cfg.shift, cfg.shift, 2) * (w, h)
    back = np.array([[1, 0, cx + dx], [0, 1, cy + dy], [0, 0, 1.0]])
    return back @ rot @ persp @ to_face


def _apply(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Nx3 points through a 3x3 homography (x, y); z scaled by the local scale."""
    xy1 = np.hstack([points[:, :2], np.ones((len(points), 1))]) @ h.T
    xy = xy1[:, :2] / xy1[:, 2:]
    z = points[:, 2:] * np.sqrt(abs(np.linalg.det(h[:2, :2])))
    return np.hstack([xy, z])


def _jitter(size: int, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    ang = np.radians(rng.uniform(-1, 1) * cfg.jitter_deg)
    k = 1 + rng.uniform(-1, 1) * cfg.jitter_scale
    c, s = k * np.cos(ang), k * np.sin(ang)
    centre = size / 2
    tx, ty = rng.uniform(-1, 1, 2) * cfg.jitter_shift * size
    return np.array([[c, -s, centre - c * centre + s * centre + tx],
                     [s, c, centre - s * centre - c * centre + ty], [0, 0, 1.0]])


def _aligner(align: dict) -> Callable[[np.ndarray], np.ndarray]:
    """Landmarks (Nx2+ pixels) -> the 3x3 eye alignment the predictor would apply to them."""
    def matrix(points: np.ndarray) -> np.ndarray:
        lm = FaceLandmarks(points, (int(align["size"]), int(align["size"])))
        m = alignment_matrix(lm, int(align["size"]), align["eye_distance"], align["eye_y"])
        return np.vstack([m, [0, 0, 1]])
    return matrix


def _pyramid(rgb: np.ndarray) -> tuple[np.ndarray, ...]:
    levels = [np.ascontiguousarray(rgb)]
    while min(levels[-1].shape[:2]) >= 64:
        levels.append(cv2.pyrDown(levels[-1]))
    return tuple(levels)


def warp_from_pyramid(levels: tuple[np.ndarray, ...], h: np.ndarray, out: tuple[int, int],
                      at: np.ndarray) -> np.ndarray:
    """Warp by homography ``h`` (level-0 pixels -> output), sampling the pyramid level that
    avoids aliasing at point ``at`` (level-0 pixels)."""
    p = np.array([*at, 1.0])
    den = h[2] @ p
    jac = (h[:2, :2] * den - np.outer(h[:2] @ p, h[2, :2])) / den**2
    scale = np.sqrt(abs(np.linalg.det(jac)))
    level = 0
    while level + 1 < len(levels) and scale * 2 ** (level + 1) <= 1.0:
        level += 1
    m = h @ np.diag([2.0**level, 2.0**level, 1.0])
    return cv2.warpPerspective(levels[level], m, (out[1], out[0]), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


# ---------------------------------------------------------------- samples
def training_sample(src: FaceSource, align: dict, cfg: AugmentConfig, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray]:
    """One augmented face in the network's aligned frame: (SxSx3 uint8 RGB, SxS uint8 labels).

    Pose, alignment and jitter are composed into one homography (one resampling of the photo);
    a shape warp resamples once more and puts the moved eye centres back where the predictor's
    alignment would (then jitters): at inference the frame comes from the landmarks themselves.
    """
    levels, pts, bare = src.pick(cfg, rng)
    pose = pose_homography(src.shape, pts, cfg, rng)
    posed = _apply(pose, pts)
    size = int(align["size"])
    jitter = _jitter(size, cfg, rng)
    reshape = bool(rng.random() < cfg.shape_p)
    total = _aligner(align)(posed) @ pose
    if not reshape:
        total = jitter @ total
    image = warp_from_pyramid(levels, total, (size, size), pts[:, :2].mean(axis=0))
    pts = _apply(total, pts)
    if reshape:  # the predictor aligns by the eyes it is given: re-align the moved eyes, then jitter
        realign = _aligner(align)
        image, pts = shape_warp(image, pts, cfg.shape, rng, after=lambda moved: jitter @ realign(moved))
    if rng.random() < cfg.mouth_p:
        image, pts = open_mouth(image, pts, rng)
    if bare and rng.random() < 0.9:
        image = paint_brows(image, pts, rng)
    labels = region_label_mask(FaceLandmarks(pts, (size, size)))
    return finish_pixels(image, pts, cfg, rng), labels


def finish_pixels(image: np.ndarray, pts: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator
                  ) -> np.ndarray:
    """Background, occluders, lighting and colour, then blur/noise/JPEG (pixels only)."""
    if rng.random() < cfg.background_p:
        image = replace_background(image, pts, rng)
    if rng.random() < cfg.occlude_p:
        image = occlude(image, pts, rng)
    image = photometric(image, cfg.colour, rng)
    if rng.random() < cfg.degrade_p:
        image = degrade(image, cfg.colour, rng)
    return image


def photo_sample(src: FaceSource, cfg: AugmentConfig, rng: np.random.Generator
                 ) -> tuple[np.ndarray, FaceLandmarks]:
    """A milder augmentation of the whole photo, on its own grid, with its moved landmarks: what
    the predictor is scored on (it aligns the face itself)."""
    levels, pts, _ = src.pick(cfg, rng)
    pose = pose_homography(src.shape, pts, cfg, rng)
    image = warp_from_pyramid(levels, pose, src.shape, pts[:, :2].mean(axis=0))
    pts = _apply(pose, pts)
    return finish_pixels(image, pts, cfg, rng), FaceLandmarks(pts.astype(np.float32), src.shape)
