"""Facial regions from Face Mesh landmarks: polygons, label masks, an eye-aligned face, crops.

Every region is a closed polygon over landmark indices (subject's right/left, see
:mod:`core.face.landmarks`), stored as plain tuples so nothing here needs mediapipe:

* ``right_eye``/``left_eye``, ``face_oval``: the single loop of mediapipe's
  ``FACEMESH_RIGHT_EYE``/``LEFT_EYE``/``FACE_OVAL`` edge sets (lid margins; the oval is the
  face's outline, forehead to chin).
* ``lips``: the outer loop of ``FACEMESH_LIPS`` (vermilion border; the mouth opening inside).
* ``right_brow``/``left_brow``: ``FACEMESH_*_EYEBROW`` is two open chains (upper and lower
  edge of the brow); the polygon is the upper chain followed by the lower one reversed.
* ``nose``: ``FACEMESH_NOSE`` is the midline from the nasion (168) down plus the outline of
  tip and alae; the polygon is that outline's outer points joined to the nasion, i.e. the
  nose's frontal outline, bridge included.
* ``forehead`` (no mediapipe set): the upper edges of both brows (70..107, 336..300) joined
  through the glabella (9) and closed along the top of the face oval (251..10..21).
* ``right_cheek``/``left_cheek`` (no mediapipe set): the mesh row just under the eye
  (143, 35, 31, 228..233), down the side of the nose (128, 114, 217, 198, 209, 129) and the
  nasolabial fold (203, 206, 216, 212), across at mouth-corner level (214, 138) and back up
  the face oval to the zygion (172..234); the left cheek uses the mirrored indices.

``tests/core/face/test_face_regions.py`` checks these tuples against mediapipe's own sets.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import cv2
import numpy as np

from core.face.landmarks import FaceError, FaceLandmarks, oriented_rgb

REGION_LOOPS: MappingProxyType[str, tuple[int, ...]] = MappingProxyType({
    "right_eye": (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    "left_eye": (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466),
    "right_brow": (70, 63, 105, 66, 107, 55, 65, 52, 53, 46),
    "left_brow": (300, 293, 334, 296, 336, 285, 295, 282, 283, 276),
    "nose": (168, 48, 64, 98, 97, 2, 326, 327, 294, 278),
    "lips": (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291,
             409, 270, 269, 267, 0, 37, 39, 40, 185),
    "face_oval": (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
                  400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
                  54, 103, 67, 109),
    "forehead": (70, 63, 105, 66, 107, 9, 336, 296, 334, 293, 300,
                 251, 284, 332, 297, 338, 10, 109, 67, 103, 54, 21),
    "right_cheek": (143, 35, 31, 228, 229, 230, 231, 232, 233, 128, 114, 217, 198, 209, 129, 203,
                    206, 216, 212, 214, 138, 172, 58, 132, 93, 234),
    "left_cheek": (372, 265, 261, 448, 449, 450, 451, 452, 453, 357, 343, 437, 420, 429, 358, 423,
                   426, 436, 432, 434, 367, 397, 288, 361, 323, 454),
})
REGION_NAMES: tuple[str, ...] = tuple(REGION_LOOPS)
LABEL_NAMES: tuple[str, ...] = ("background", *REGION_NAMES)  # label value k -> LABEL_NAMES[k]
# Large areas first so that the small features painted later win where polygons overlap.
_PAINT_ORDER = ("face_oval", "forehead", "right_cheek", "left_cheek", "nose", "lips",
                "right_brow", "left_brow", "right_eye", "left_eye")
_EYE_CORNERS = ((33, 133), (362, 263))  # subject's right eye, left eye
_SHIFT = 4  # sub-pixel bits for cv2.fillPoly


@dataclass(frozen=True)
class AlignedFace:
    """A face rotated and scaled so that the eye centres are level at a fixed distance.

    Attributes:
        image: size x size x 3 uint8 RGB.
        matrix: 2x3 float64 affine from original to aligned pixel coordinates.
        landmarks: the landmarks in aligned coordinates (z scaled like x and y).
    """

    image: np.ndarray
    matrix: np.ndarray
    landmarks: FaceLandmarks


def region_polygons(lm: FaceLandmarks) -> dict[str, np.ndarray]:
    """Each region's closed polygon as Kx2 float32 (x, y) pixels, keyed by :data:`REGION_NAMES`."""
    _check_mesh(lm)
    return {name: lm.xy[list(loop)].copy() for name, loop in REGION_LOOPS.items()}


def region_masks(lm: FaceLandmarks, shape: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """Each region's own filled polygon as an HxW bool mask (regions may overlap the oval).

    Args:
        lm: the face's landmarks.
        shape: (H, W) of the masks, for a resized copy of the photo (the polygons are scaled
            from ``lm.image_shape``); defaults to the photo's own size.
    """
    h, w = shape or lm.image_shape
    return {name: _fill(np.zeros((h, w), np.uint8), poly, 1).astype(bool)
            for name, poly in _scaled_polygons(lm, (h, w)).items()}


def region_label_mask(lm: FaceLandmarks, shape: tuple[int, int] | None = None) -> np.ndarray:
    """HxW uint8 label image: 0 background, k the region ``LABEL_NAMES[k]``.

    Regions are disjoint: eyes, brows, lips, nose, cheeks and forehead are painted over the
    face oval (small features last, so they win), and ``face_oval`` keeps the rest of the
    face's skin. ``shape`` is as in :func:`region_masks`.
    """
    h, w = shape or lm.image_shape
    polys = _scaled_polygons(lm, (h, w))
    labels = np.zeros((h, w), np.uint8)
    for name in _PAINT_ORDER:
        _fill(labels, polys[name], LABEL_NAMES.index(name))
    return labels


def _scaled_polygons(lm: FaceLandmarks, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    sy, sx = (shape[i] / lm.image_shape[i] for i in (0, 1))
    factor = np.array([sx, sy], np.float32)
    return {name: poly * factor for name, poly in region_polygons(lm).items()}


def _fill(canvas: np.ndarray, poly: np.ndarray, value: int) -> np.ndarray:
    pts = np.round(poly * (1 << _SHIFT)).astype(np.int32)
    return cv2.fillPoly(canvas, [pts], int(value), lineType=cv2.LINE_8, shift=_SHIFT)


def _check_mesh(lm: FaceLandmarks) -> None:
    if len(lm.points) < 468:
        raise FaceError(f"regions need the 468-point Face Mesh, got {len(lm.points)} points; "
                        "use core.face.landmarks.detect_landmarks")


# ---------------------------------------------------------------- alignment and crops
def eye_centres(lm: FaceLandmarks) -> np.ndarray:
    """2x2 float64: (x, y) of the subject's right then left eye, midway between the canthi.

    The canthi, not the irises, so that the gaze direction does not move the alignment.
    """
    _check_mesh(lm)
    return np.array([lm.xy[list(pair)].mean(axis=0) for pair in _EYE_CORNERS], np.float64)


def alignment_matrix(lm: FaceLandmarks, size: int = 256, eye_distance: float = 0.35,
                     eye_y: float = 0.4) -> np.ndarray:
    """2x3 float64 affine mapping original pixels to a size x size eye-aligned frame.

    The eye centres end up level at height ``eye_y * size``, ``eye_distance * size`` apart and
    centred horizontally (a similarity transform: rotation, uniform scale, shift).
    """
    if size < 8 or not (0 < eye_distance < 1 and 0 < eye_y < 1):
        raise ValueError(f"need size >= 8 and eye_distance, eye_y in (0, 1); got size={size}, "
                         f"eye_distance={eye_distance}, eye_y={eye_y}")
    right, left = eye_centres(lm)
    dx, dy = left - right
    dist = float(np.hypot(dx, dy))
    if dist < 1e-3:
        raise FaceError("the eye centres coincide; the landmarks are not a usable face")
    k = eye_distance * size / dist
    c, s = k * dx / dist, k * dy / dist  # scale * (cos, sin) of the eye line's angle
    mid = (right + left) / 2
    rot = np.array([[c, s], [-s, c]])
    shift = np.array([size / 2, eye_y * size]) - rot @ mid
    return np.hstack([rot, shift[:, None]])


def align_face(image: np.ndarray, lm: FaceLandmarks, size: int = 256, eye_distance: float = 0.35,
               eye_y: float = 0.4) -> AlignedFace:
    """Rotate and scale the face so that the eye centres are level and a fixed distance apart.

    Args:
        image: the photo the landmarks were detected on (HxWx3 uint8; other layouts converted).
        lm: its landmarks.
        size: side of the square output in pixels.
        eye_distance: distance between the eye centres as a fraction of ``size``.
        eye_y: height of the eye centres as a fraction of ``size`` from the top.

    Returns:
        The aligned image, the affine used, and the landmarks moved with it. Pixels from
        outside the photo are black.
    """
    rgb = _matching_rgb(image, lm)
    matrix = alignment_matrix(lm, size, eye_distance, eye_y)
    xy = lm.xy.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
    z = lm.points[:, 2:] * _scale(matrix)
    moved = FaceLandmarks(np.hstack([xy, z]), (size, size), lm.n_faces, lm.notices)
    return AlignedFace(_warp(_pyramid(rgb, _scale(matrix)), matrix, size), matrix, moved)


def region_crop_matrices(lm: FaceLandmarks, size: int = 96, margin: float = 0.15,
                         loops: Mapping[str, Sequence[int]] | None = None) -> dict[str, np.ndarray]:
    """2x3 float64 affines from the photo's pixels to each region's size x size crop.

    Each crop is the bounding box of the region's landmarks in the eye-aligned frame, made
    square (its longer side) and grown by ``margin`` of that side on every edge.

    Args:
        lm: the face's landmarks.
        size: side of the square crops in pixels.
        margin: growth on every edge as a fraction of the box's side.
        loops: landmark index sets by name (any set of indices, e.g. the union of several
            loops); defaults to :data:`REGION_LOOPS`.
    """
    if size < 8 or margin < 0:
        raise ValueError(f"need size >= 8 and margin >= 0; got size={size}, margin={margin}")
    align = alignment_matrix(lm)
    aligned = lm.xy.astype(np.float64) @ align[:, :2].T + align[:, 2]
    matrices = {}
    for name, loop in (REGION_LOOPS if loops is None else loops).items():
        pts = aligned[list(loop)]
        (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
        side = max(x1 - x0, y1 - y0, 1.0) * (1 + 2 * margin)
        k = size / side
        crop = np.array([[k, 0.0, k * (side - x0 - x1) / 2], [0.0, k, k * (side - y0 - y1) / 2]])
        matrices[name] = _compose(crop, align)
    return matrices


def warp_photo(image: np.ndarray, lm: FaceLandmarks, matrices: Mapping[str, np.ndarray],
               size: int) -> dict[str, np.ndarray]:
    """Resample the photo through each 2x3 affine (photo -> output pixels) into size x size x 3
    uint8 RGB, from one anti-aliasing pyramid; parts outside the photo are black."""
    rgb = _matching_rgb(image, lm)
    if not matrices:
        return {}
    levels = _pyramid(rgb, min(_scale(m) for m in matrices.values()))
    return {name: _warp(levels, m, size) for name, m in matrices.items()}


def region_crops(image: np.ndarray, lm: FaceLandmarks, size: int = 96, margin: float = 0.15,
                 loops: Mapping[str, Sequence[int]] | None = None) -> dict[str, np.ndarray]:
    """Square crops of the eye-aligned face around each region, size x size x 3 uint8 RGB.

    Each crop is the region's bounding box in the aligned frame, made square (its longer
    side), grown by ``margin`` of that side on every edge, and resampled straight from the
    original photo (one interpolation, full detail). Parts outside the photo are black.
    ``loops`` names other landmark index sets to crop (see :func:`region_crop_matrices`).
    """
    if size < 8 or margin < 0:
        raise ValueError(f"need size >= 8 and margin >= 0; got size={size}, margin={margin}")
    rgb = _matching_rgb(image, lm)
    return warp_photo(rgb, lm, region_crop_matrices(lm, size, margin, loops), size)


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2x3 affine that applies ``inner`` then ``outer``."""
    return np.hstack([outer[:, :2] @ inner[:, :2], outer[:, :2] @ inner[:, 2:] + outer[:, 2:]])


def _scale(matrix: np.ndarray) -> float:
    """Output pixels per input pixel of a similarity transform."""
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def _matching_rgb(image: np.ndarray, lm: FaceLandmarks) -> np.ndarray:
    rgb = oriented_rgb(np.asarray(image))
    if rgb.shape[:2] != lm.image_shape:
        raise FaceError(f"the landmarks belong to a {lm.image_shape[1]}x{lm.image_shape[0]} image, "
                        f"this one is {rgb.shape[1]}x{rgb.shape[0]}; pass the photo they were "
                        "detected on")
    return rgb


def _pyramid(rgb: np.ndarray, scale: float) -> list[np.ndarray]:
    """The image and as many anti-aliased halvings as a warp by ``scale`` needs (see _warp)."""
    levels = [rgb]
    while scale * 2 ** len(levels) <= 1.0 and min(levels[-1].shape[:2]) >= 4:
        levels.append(cv2.pyrDown(levels[-1]))
    return levels


def _warp(levels: list[np.ndarray], matrix: np.ndarray, size: int) -> np.ndarray:
    """Apply ``matrix`` (original -> output pixels), sampling the pyramid level that avoids
    aliasing: the smallest one still at least as fine as the output."""
    scale, level = _scale(matrix), 0
    while level + 1 < len(levels) and scale * 2 ** (level + 1) <= 1.0:
        level += 1
    m = matrix.copy()
    m[:, :2] *= 2 ** level  # pyrDown: level pixel i sits on original pixel 2**level * i
    return cv2.warpAffine(levels[level], m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
