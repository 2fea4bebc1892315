"""Face landmarks: mediapipe Face Mesh on a photo -> 478 points in the photo's pixels.

Conventions:
    * ``right``/``left`` are the SUBJECT's sides, as in mediapipe's own ``FACEMESH_RIGHT_EYE``
      naming: in an unmirrored frontal photo the subject's right eye is on the image's LEFT.
      A mirrored selfie preview swaps them.
    * Points are (x, y, z) float32 pixels of the image given: x to the right, y down, z is
      mediapipe's relative depth (smaller = nearer the camera, about 0 at the face's centre)
      scaled by the image width like x, so all three share one unit.

One Face Mesh graph is built per process, on first use, and every call goes through a lock:
the cached graph is shared by all browser sessions and mediapipe graphs are not thread-safe.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import cv2
import numpy as np

from core.face.symmetry import MIRROR
from core.io.image import ImageError, load_image, to_rgb_u8

log = logging.getLogger(__name__)

N_LANDMARKS = 478  # 468 mesh points + 10 iris points (refine_landmarks=True)
MAX_PIXELS = 40_000_000
DETECT_MAX_SIDE = 2048  # larger photos are reduced before detection (the models see <= 256 px)
MIN_FACE_PX = 64  # a face fewer pixels across has too few pixels per landmark to measure
SAME_FACE_IOU = 0.5  # box overlap above which the mirrored detection is the same face

# Named points (subject's right/left), checked on matplotlib's grace_hopper.jpg
# (tests/core/face/test_face_landmarks.py). Iris centres need refine_landmarks=True.
LANDMARKS: MappingProxyType[str, int] = MappingProxyType({
    "right_eye_outer": 33,    # exocanthion (ex), right
    "right_eye_inner": 133,   # endocanthion (en), right
    "left_eye_inner": 362,
    "left_eye_outer": 263,
    "right_eye_upper": 159,   # mid upper lid margin
    "right_eye_lower": 145,   # mid lower lid margin
    "left_eye_upper": 386,
    "left_eye_lower": 374,
    "right_iris": 468,        # iris centre (pupil)
    "left_iris": 473,
    "forehead_top": 10,       # top of the mesh on the midline (not the hairline)
    "glabella": 9,            # between the brows
    "nasion": 168,            # root of the nose, level with the eyes
    "pronasale": 1,           # nose tip
    "subnasale": 2,           # where the columella meets the upper lip
    "right_alare": 129,       # most lateral point of the nose wing (ala)
    "left_alare": 358,
    "labrale_superius": 0,    # upper lip, vermilion border on the midline
    "stomion": 13,            # mouth opening on the midline (upper lip's inner edge)
    "labrale_inferius": 17,   # lower lip, vermilion border on the midline
    "right_cheilion": 61,     # mouth corner
    "left_cheilion": 291,
    "menton": 152,            # lowest point of the chin
    "right_zygion": 234,      # widest point of the face oval
    "left_zygion": 454,
})


class FaceError(ValueError):
    """The photo cannot be analysed as a face (unreadable, too large, wrong shape)."""


class FaceTooSmallError(FaceError):
    """The face is too few pixels across to measure."""


class NoFaceError(FaceError):
    """The photo was read but Face Mesh found no face in it."""


@dataclass(frozen=True)
class FaceLandmarks:
    """The landmarks of one face.

    Attributes:
        points: Nx3 float32 (x, y, z) in pixels of the image they were detected on (read-only).
            May lie slightly outside the image when the face touches its border.
        image_shape: (H, W) of that image.
        n_faces: how many faces the detector found (the largest is the one described).
        notices: remarks for the user, e.g. ``"3 faces found; the largest is analysed"``.
    """

    points: np.ndarray
    image_shape: tuple[int, int]
    n_faces: int = 1
    notices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        pts = np.array(self.points, dtype=np.float32, copy=True)
        if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
            raise FaceError(f"landmark points must be Nx3 (x, y, z), got shape {pts.shape}")
        pts.setflags(write=False)  # results are cached and shared between sessions
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "image_shape", (int(self.image_shape[0]), int(self.image_shape[1])))

    @property
    def xy(self) -> np.ndarray:
        """Nx2 float32 (x, y) pixel coordinates."""
        return self.points[:, :2]

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1): the landmarks' bounding box in pixels."""
        (x0, y0), (x1, y1) = self.xy.min(axis=0), self.xy.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def point(self, name: str) -> np.ndarray:
        """(x, y, z) of a named landmark from :data:`LANDMARKS`."""
        if name not in LANDMARKS:
            raise KeyError(f"unknown landmark {name!r}; known: {', '.join(LANDMARKS)}")
        return self.points[LANDMARKS[name]]


def oriented_rgb(src: bytes | str | Path | np.ndarray) -> np.ndarray:
    """A photo as HxWx3 uint8 RGB, upright.

    Files are decoded in memory by :func:`core.io.image.load_image` (Pillow: EXIF orientation
    applied, any mode converted, transparency composited on black). Arrays may be HxW grey or
    HxWx3/HxWx4 (alpha ignored); uint16 is scaled linearly to 0..255, other dtypes by a robust
    0.5..99.5 percentile window.

    Raises:
        FaceError: unreadable or corrupt file, unusable array shape, or over ``MAX_PIXELS``.
        FileNotFoundError: ``src`` is a path that does not exist.
    """
    if isinstance(src, np.ndarray):
        return _rgb_u8(src)
    if not isinstance(src, (bytes, bytearray, memoryview, str, os.PathLike)):
        raise FaceError(f"expected photo bytes, a path or an array, got {type(src).__name__}; "
                        "pass an upload as uploaded_file.getvalue()")
    try:
        pixels = load_image(src, max_pixels=MAX_PIXELS).pixels
    except ImageError as exc:
        raise FaceError(f"cannot read the photo: {exc}") from exc
    return _rgb_u8(pixels)


def _rgb_u8(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.size == 0 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3)):
        raise FaceError(f"expected an HxW grey or HxWx3 RGB photo, got an array of shape "
                        f"{arr.shape}; pass the decoded image, e.g. np.asarray(PIL.Image.open(f))")
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise FaceError(f"the photo has {arr.shape[0] * arr.shape[1]:,} pixels, over the limit "
                        f"of {MAX_PIXELS:,}; downscale it (a face needs far less)")
    if arr.dtype == np.uint16:
        arr = ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return to_rgb_u8(arr)  # grey -> RGB, windows other dtypes, always a fresh C-contiguous copy


# ---------------------------------------------------------------- detection
_LOCK = threading.Lock()
_MESH: Any = None  # mediapipe FaceMesh, built once by _face_mesh()


def _face_mesh() -> Any:
    """The process-wide Face Mesh graph; call with ``_LOCK`` held."""
    global _MESH
    if _MESH is None:
        from mediapipe.python.solutions import face_mesh  # slow import: only when first needed

        _MESH = face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True,
                                   max_num_faces=5, min_detection_confidence=0.5)
        log.info("mediapipe Face Mesh graph created")
    return _MESH


def detect_landmarks(image: np.ndarray, *, mirror_average: bool = True) -> FaceLandmarks:
    """Find the face in a photo and return its 478 landmarks.

    Face Mesh is not left-right symmetric: on a photo and its mirror image its eye corners
    differ by about 2 px, enough to move a palpebral fissure length by 4%. With
    ``mirror_average`` (the default) the photo is also run mirrored, that detection is flipped
    back with the mesh's left-right table (:data:`core.face.symmetry.MIRROR`) and the two are
    averaged, so a mirrored photo gives exactly mirrored landmarks.

    Args:
        image: HxWx3 uint8 RGB (other layouts are converted as in :func:`oriented_rgb`).
            Arrays are taken as they are: decode files with :func:`oriented_rgb` so that EXIF
            orientation is honoured.
        mirror_average: average with the detection on the mirrored photo (two passes).

    Returns:
        The largest face's landmarks in ``image``'s pixel coordinates.

    Raises:
        NoFaceError: no face was found.
        FaceError: the array cannot be used as a photo.
    """
    rgb = _rgb_u8(np.asarray(image))
    h, w = rgb.shape[:2]
    small = _reduce(rgb)
    faces = _detect(small)
    if not faces:
        raise NoFaceError(
            "no face found: use a frontal, well-lit photo in which the face is larger than "
            "about 1/10 of the image, not cut off, and not covered (mask, hand, hair)")
    scale = np.array([w, h, w], np.float32)  # mediapipe coordinates are relative to the image
    chosen = _largest(faces)
    points = chosen * scale
    side = float(np.max(points[:, :2].max(axis=0) - points[:, :2].min(axis=0)))
    if side < MIN_FACE_PX:
        raise FaceTooSmallError(
            f"the face is only {side:.0f} px across: too small to measure or screen (at least "
            f"{MIN_FACE_PX} px); use a photo in which the face is larger")
    notices = [f"{len(faces)} faces found; the largest is analysed"] if len(faces) > 1 else []
    if mirror_average:
        mirrored = [f.copy() for f in _detect(np.ascontiguousarray(small[:, ::-1]))]
        for f in mirrored:
            f[:, 0] = 1.0 - f[:, 0]  # flip x back; z (depth) is unchanged by a mirror
        overlap = [_box_iou(f, chosen) for f in mirrored]
        best = int(np.argmax(overlap)) if overlap else -1
        if best >= 0 and overlap[best] >= SAME_FACE_IOU:  # the same person seen mirrored, never another
            points = (points + mirrored[best][MIRROR] * scale) / 2
        else:
            notices.append("the mirrored photo did not find the same face: its landmarks are not averaged")
    return FaceLandmarks(points.astype(np.float32), (h, w), len(faces), tuple(notices))


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of the (x, y) bounding boxes of two landmark sets."""
    lo, hi = np.maximum(a[:, :2].min(0), b[:, :2].min(0)), np.minimum(a[:, :2].max(0), b[:, :2].max(0))
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    union = _box_area(a) + _box_area(b) - inter
    return inter / union if union > 0 else 0.0


def _box_area(f: np.ndarray) -> float:
    return float(np.prod(f[:, :2].max(0) - f[:, :2].min(0)))


def _detect(rgb: np.ndarray) -> list[np.ndarray]:
    """Nx3 relative (x, y, z) landmarks of every face Face Mesh finds in ``rgb``."""
    with _LOCK:
        result = _face_mesh().process(rgb)
    return [np.array([(p.x, p.y, p.z) for p in f.landmark], np.float32)
            for f in result.multi_face_landmarks or []]


def _largest(faces: list[np.ndarray]) -> np.ndarray:
    """The face with the largest landmark bounding box (a copy)."""
    areas = [float(np.prod(f[:, :2].max(axis=0) - f[:, :2].min(axis=0))) for f in faces]
    return faces[int(np.argmax(areas))].copy()


def _reduce(rgb: np.ndarray) -> np.ndarray:
    """Shrink very large photos before detection; relative coordinates are unaffected."""
    side = max(rgb.shape[:2])
    if side <= DETECT_MAX_SIDE:
        return rgb
    f = DETECT_MAX_SIDE / side
    size = (max(1, round(rgb.shape[1] * f)), max(1, round(rgb.shape[0] * f)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
