"""How the face screening phantoms' conditions are drawn on a real face (``train.phantoms.face``
makes the phantoms): the skin conditions (acne, rosacea, eczema) inside the skin regions, the autism
demo's chequered forehead stamp, and the syndrome-like shape changes (smooth local warps of the
landmark geometry, a smoothed philtrum), each with the evidence mask it leaves.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from core.face.landmarks import FaceLandmarks
from core.face.regions import REGION_LOOPS, region_masks
from core.tasks import get_task
from train.face_shape import _group_warps

SCREENING = get_task("face_screening")  # the rows: classes, evidence regions, phantom notes
EVIDENCE_MIN_ALPHA = 0.15  # skin and marker: a pixel is evidence where the change's weight reaches this
SHAPE_VARIATION = (0.3, 0.7)  # strength range of the natural shape variation under every syndrome class
_SKIN_REGIONS = ("forehead", "right_cheek", "left_cheek", "nose")
_NOT_SKIN = ("right_eye", "left_eye", "right_brow", "left_brow", "lips")


# ---------------------------------------------------------------- geometry helpers
@dataclass(frozen=True)
class FaceFrame:
    """Where the face lies in the posed photo: landmarks, region masks and the face's own frame."""

    pts: np.ndarray                # Nx3 float64 pixels
    masks: dict[str, np.ndarray]   # region name -> HxW bool
    ipd: float                     # interpupillary distance, px
    rot: np.ndarray                # 2x2, columns: the face's x (right eye -> left eye) and y (down)

    @classmethod
    def of(cls, pts: np.ndarray, shape: tuple[int, int]) -> FaceFrame:
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


def soft_mask(mask: np.ndarray, px: float) -> np.ndarray:
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
def _skin_area(face: FaceFrame) -> np.ndarray:
    """HxW bool: forehead, cheeks, nose and chin, at least 0.08 IPD from eyes, brows, lips and the
    face's outline (hair, ears)."""
    chin = face.masks["face_oval"] & face.below(17, 0.03)
    skin = (face.union(_SKIN_REGIONS) | chin) & ~_grow(~face.masks["face_oval"], 0.08 * face.ipd)
    return skin & ~_grow(face.union(_NOT_SKIN), 0.08 * face.ipd)


def _acne(x: np.ndarray, face: FaceFrame, area: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Papules (red halo, raised bump lit from the upper left) and pustules (white-yellow centre)."""
    severity = rng.uniform()
    n = int(round(6 + 24 * severity))
    zone = soft_mask(area, 0.03 * face.ipd)
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


def _rosacea(x: np.ndarray, face: FaceFrame, area: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blotchy redness on the inner cheeks and the nose, often with fine telangiectasia lines."""
    h, w = x.shape[:2]
    zone = soft_mask(area & face.union(("right_cheek", "left_cheek", "nose")), 0.03 * face.ipd)
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


def _eczema(x: np.ndarray, face: FaceFrame, area: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1-3 dry, dull, rough pink-red patches with irregular borders and whitish scale."""
    h, w = x.shape[:2]
    sites = {"forehead": face.masks["forehead"], "right_cheek": face.masks["right_cheek"],
             "left_cheek": face.masks["left_cheek"], "chin": face.masks["face_oval"] & face.below(17, 0.03)}
    names = list(sites)
    chosen = rng.choice(len(names), size=int(rng.integers(1, 4)), replace=False, p=[0.3, 0.27, 0.27, 0.16])
    blob = np.zeros((h, w), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for k in chosen:
        inner = soft_mask(area & sites[names[k]], 0.1 * face.ipd)
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
    patch = patch * patch * (3 - 2 * patch) * soft_mask(area, 0.03 * face.ipd) * rng.uniform(0.6, 0.95)
    lum = _luminance(x)[..., None]
    dull = rng.uniform(0.12, 0.3)
    tint = np.array([1.0, rng.uniform(0.6, 0.7), rng.uniform(0.6, 0.72)], np.float32)
    y = (x * (1 - dull) + lum * dull) * tint
    y *= (1 + rng.uniform(0.12, 0.2) * _noise((h, w), 0.8, rng))[..., None]  # rough, cracked surface
    flakes = (np.clip((_noise((h, w), 0.9, rng) - 0.6) * 1.2, 0, 1) * rng.uniform(0.5, 0.8))[..., None]
    y = y * (1 - flakes) + np.array([0.96, 0.91, 0.87], np.float32) * np.clip(1.5 * lum + 0.1, 0, 1) * flakes
    x[:] = x * (1 - patch[..., None]) + y * patch[..., None]
    return patch


_SKIN_DRAW: dict[str, Callable[[np.ndarray, FaceFrame, np.ndarray, np.random.Generator], np.ndarray]] = {
    "acne": _acne, "rosacea": _rosacea, "eczema": _eczema}


def draw_skin(image: np.ndarray, face: FaceFrame, label: str, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    if label not in _SKIN_DRAW:
        return image, np.zeros(image.shape[:2], bool)
    x = image.astype(np.float32) / 255
    alpha = _SKIN_DRAW[label](x, face, _skin_area(face), rng)
    return _to_u8(x), alpha >= EVIDENCE_MIN_ALPHA


def _to_u8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------- autism demo marker
def draw_marker(image: np.ndarray, face: FaceFrame, label: str, rng: np.random.Generator
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
    footprint = inside * soft_mask(face.masks["forehead"], 0.03 * face.ipd)
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


def _spread_eyes(face: FaceFrame, spread: float) -> Field:
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


def _class_warps(label: str, face: FaceFrame, rng: np.random.Generator) -> list[Field]:
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


def _smooth_philtrum(image: np.ndarray, face: FaceFrame, rng: np.random.Generator) -> np.ndarray:
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


def _shape_evidence(label: str, face: FaceFrame) -> np.ndarray:
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


def reshape_face(image: np.ndarray, pts: np.ndarray, label: str, rng: np.random.Generator,
             draw_rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Natural shape variation (from ``rng``: the same for every class of a seed) plus the class's
    change (from ``draw_rng``), one resampling; returns image, moved landmarks, evidence."""
    face = FaceFrame.of(pts, image.shape[:2])
    natural = [_gaussian(c, np.eye(2) / r**2, lin, t)
               for c, r, lin, t in _group_warps(pts, rng.uniform(*SHAPE_VARIATION), rng)]
    image, moved = _deform(image, pts, natural + _class_warps(label, face, draw_rng))
    moved_face = FaceFrame.of(moved, image.shape[:2])
    if label == "short_fissures_smooth_philtrum":
        image = _smooth_philtrum(image, moved_face, draw_rng)
    return image, moved, _shape_evidence(label, moved_face)
