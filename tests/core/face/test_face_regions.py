"""core.face.regions: region index sets, masks, alignment and crops on grace_hopper.jpg."""
from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.face.landmarks import LANDMARKS, FaceError, FaceLandmarks, detect_landmarks
from core.face.regions import (
    LABEL_NAMES,
    REGION_LOOPS,
    REGION_NAMES,
    align_face,
    eye_centres,
    region_crops,
    region_label_mask,
    region_masks,
    region_polygons,
)
from core.face.symmetry import MIRROR

ROOT = Path(__file__).resolve().parents[3]
FEATURES = ("right_eye", "left_eye", "right_brow", "left_brow", "nose", "lips")


@pytest.fixture(scope="module")
def masks(lm: FaceLandmarks) -> dict[str, np.ndarray]:
    return region_masks(lm)


# ---------------------------------------------------------------- index sets vs mediapipe's
def _edges(loop: tuple[int, ...]) -> set[frozenset[int]]:
    return {frozenset(pair) for pair in zip(loop, loop[1:] + loop[:1])}


def _undirected(connections) -> set[frozenset[int]]:
    return {frozenset(edge) for edge in connections}


def _cycle_through(edges: set[frozenset[int]], start: int) -> set[frozenset[int]]:
    """The edges of the connected component of ``start``."""
    seen, todo = {start}, [start]
    while todo:
        node = todo.pop()
        for a, b in (tuple(e) for e in edges if node in e):
            for nxt in (a, b):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
    return {e for e in edges if e <= seen}


def test_index_sets_come_from_mediapipe_connections() -> None:
    conn = pytest.importorskip("mediapipe.python.solutions.face_mesh_connections")
    for name, mp_set in [("right_eye", conn.FACEMESH_RIGHT_EYE), ("left_eye", conn.FACEMESH_LEFT_EYE),
                         ("face_oval", conn.FACEMESH_FACE_OVAL)]:
        assert _edges(REGION_LOOPS[name]) == _undirected(mp_set), name
    assert _edges(REGION_LOOPS["lips"]) == _cycle_through(_undirected(conn.FACEMESH_LIPS), 61)
    for name, mp_set in [("right_brow", conn.FACEMESH_RIGHT_EYEBROW),
                         ("left_brow", conn.FACEMESH_LEFT_EYEBROW)]:
        brow = _undirected(mp_set)  # two open chains: the loop adds the two closing edges
        assert brow <= _edges(REGION_LOOPS[name]) and len(_edges(REGION_LOOPS[name]) - brow) == 2
        assert set(REGION_LOOPS[name]) == set().union(*brow)
    nose = set().union(*_undirected(conn.FACEMESH_NOSE))
    assert set(REGION_LOOPS["nose"]) <= nose and {168, 2} <= set(REGION_LOOPS["nose"])


def test_loops_are_simple_closed_polygons() -> None:
    for name, loop in REGION_LOOPS.items():
        assert len(loop) == len(set(loop)) >= 10, name
        assert all(0 <= i < 468 for i in loop), name


def test_regions_do_not_need_mediapipe_at_import() -> None:
    code = "import sys, core.face.regions; assert 'mediapipe' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


# ---------------------------------------------------------------- polygons and masks
def test_every_region_has_a_polygon_in_pixels(lm: FaceLandmarks) -> None:
    polys = region_polygons(lm)
    assert set(REGION_NAMES) == {"right_eye", "left_eye", "right_brow", "left_brow", "nose", "lips",
                                 "face_oval", "forehead", "right_cheek", "left_cheek"}
    assert tuple(polys) == REGION_NAMES and LABEL_NAMES == ("background", *REGION_NAMES)
    for name, poly in polys.items():
        assert poly.dtype == np.float32 and poly.shape == (len(REGION_LOOPS[name]), 2)
        assert cv2.contourArea(poly) > 50, name


def test_label_mask_values_and_every_region_present(lm: FaceLandmarks) -> None:
    labels = region_label_mask(lm)
    assert labels.dtype == np.uint8 and labels.shape == lm.image_shape
    assert set(np.unique(labels)) == set(range(len(LABEL_NAMES)))  # 0..10, each present
    half = region_label_mask(lm, shape=(lm.image_shape[0] // 2, lm.image_shape[1] // 2))
    resized = cv2.resize(labels, half.shape[::-1], interpolation=cv2.INTER_NEAREST)
    face = (half > 0) | (resized > 0)
    assert np.mean(half[face] == resized[face]) > 0.95  # the same regions, at half resolution


def test_label_mask_agrees_with_region_masks(lm: FaceLandmarks, masks: dict[str, np.ndarray]) -> None:
    labels = region_label_mask(lm)
    for k, name in enumerate(LABEL_NAMES[1:], start=1):
        assert np.all(masks[name][labels == k]), name  # a label never leaves its own polygon
    for name in FEATURES:  # small features win over the large areas they lie in
        assert np.all(labels[masks[name]] == LABEL_NAMES.index(name)), name
    outside = (labels > 0) & ~masks["face_oval"]
    assert outside.sum() < 0.01 * (labels > 0).sum()


def test_features_are_disjoint_and_non_empty(masks: dict[str, np.ndarray]) -> None:
    for name in REGION_NAMES:
        assert masks[name].dtype == bool and masks[name].any(), name
    for a, b in itertools.combinations(FEATURES, 2):
        assert not np.any(masks[a] & masks[b]), (a, b)


def test_regions_are_where_they_belong(lm: FaceLandmarks, masks: dict[str, np.ndarray]) -> None:
    for eye in ("right_eye", "left_eye"):
        assert not np.any(masks[eye] & ~masks["face_oval"])
    rows = {n: np.nonzero(m)[0] for n, m in masks.items()}
    cols = {n: np.nonzero(m)[1] for n, m in masks.items()}
    eyes_top = min(rows["right_eye"].min(), rows["left_eye"].min())
    eyes_bottom = max(rows["right_eye"].max(), rows["left_eye"].max())
    eyes_middle = max(rows["right_eye"].mean(), rows["left_eye"].mean())
    assert rows["forehead"].max() < eyes_top
    for side in ("right", "left"):
        cheek = f"{side}_cheek"
        assert rows[cheek].min() > eyes_middle and rows[cheek].mean() > eyes_bottom
        assert rows[cheek].mean() > rows["nose"].min()  # beside the nose, not above it
    assert cols["right_cheek"].mean() < cols["nose"].min() < cols["nose"].max() < cols["left_cheek"].mean()
    assert cols["right_eye"].mean() < cols["left_eye"].mean()  # subject's right on the image's left
    assert rows["lips"].min() > rows["nose"].mean()


def test_iris_centres_lie_inside_their_eyes(lm: FaceLandmarks) -> None:
    polys = region_polygons(lm)
    for side in ("right", "left"):
        iris = tuple(float(v) for v in lm.xy[LANDMARKS[f"{side}_iris"]])
        assert cv2.pointPolygonTest(polys[f"{side}_eye"], iris, True) > 1.0, side


def test_cheeks_mirror_each_other(lm: FaceLandmarks) -> None:
    """The left cheek's indices are the mirror images of the right cheek's, point by point."""
    assert tuple(int(i) for i in MIRROR[list(REGION_LOOPS["right_cheek"])]) == REGION_LOOPS["left_cheek"]
    mid_x = (lm.point("nasion")[0] + lm.point("menton")[0]) / 2
    right = lm.xy[list(REGION_LOOPS["right_cheek"])].copy()
    left = lm.xy[list(REGION_LOOPS["left_cheek"])]
    right[:, 0] = 2 * mid_x - right[:, 0]
    interocular = np.linalg.norm(np.subtract(*eye_centres(lm)))
    # Grace Hopper's head is turned a little: a loose geometric check on top of the exact one.
    assert np.linalg.norm(right - left, axis=1).max() < 0.2 * interocular


def test_regions_refuse_a_partial_mesh() -> None:
    with pytest.raises(FaceError, match="468-point"):
        region_polygons(FaceLandmarks(np.zeros((10, 3)), (20, 20)))


# ---------------------------------------------------------------- alignment and crops
def _check_aligned(aligned, size: int = 256, eye_distance: float = 0.35, eye_y: float = 0.4) -> None:
    right, left = eye_centres(aligned.landmarks)
    assert abs(right[1] - left[1]) < 1.0
    assert abs(right[1] - eye_y * size) < 1.0
    assert abs(np.linalg.norm(left - right) - eye_distance * size) < 1.0
    assert abs((right[0] + left[0]) / 2 - size / 2) < 1.0
    assert right[0] < left[0]


def test_align_face_levels_and_scales_the_eyes(rgb: np.ndarray, lm: FaceLandmarks) -> None:
    aligned = align_face(rgb, lm)
    assert aligned.image.shape == (256, 256, 3) and aligned.image.dtype == np.uint8
    assert aligned.matrix.shape == (2, 3) and aligned.matrix.dtype == np.float64
    assert aligned.landmarks.image_shape == (256, 256)
    _check_aligned(aligned)
    # The picture moved with the points: Face Mesh finds the face where the matrix put it.
    redetected = detect_landmarks(aligned.image)
    assert np.abs(redetected.xy - aligned.landmarks.xy).mean() < 2.0


def test_align_face_undoes_a_tilted_head(rgb: np.ndarray) -> None:
    h, w = rgb.shape[:2]
    tilt = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0)
    tilted = cv2.warpAffine(rgb, tilt, (w, h), borderMode=cv2.BORDER_REPLICATE)
    lm = detect_landmarks(tilted)
    right, left = eye_centres(lm)
    assert abs(left[1] - right[1]) > 20  # really tilted
    aligned = align_face(tilted, lm, size=200, eye_distance=0.3, eye_y=0.45)
    assert aligned.image.shape == (200, 200, 3)
    _check_aligned(aligned, 200, 0.3, 0.45)


def test_align_face_needs_the_photo_the_landmarks_came_from(rgb: np.ndarray, lm: FaceLandmarks) -> None:
    with pytest.raises(FaceError, match="pass the photo they were detected on"):
        align_face(rgb[:300], lm)


@pytest.mark.parametrize("size", [96, 48])
def test_region_crops_shape_for_every_region(rgb: np.ndarray, lm: FaceLandmarks, size: int) -> None:
    crops = region_crops(rgb, lm, size=size)
    assert tuple(crops) == REGION_NAMES
    for name, crop in crops.items():
        assert crop.shape == (size, size, 3) and crop.dtype == np.uint8, name
        assert crop.std() > 10, name  # picture content, not the black border


def test_eye_crop_is_centred_on_the_eye(rgb: np.ndarray, lm: FaceLandmarks) -> None:
    """The darkest blob of an eye crop (the iris) is near its centre, both sides."""
    for name in ("right_eye", "left_eye"):
        grey = cv2.cvtColor(region_crops(rgb, lm)[name], cv2.COLOR_RGB2GRAY).astype(float)
        dark = grey < np.percentile(grey, 5)
        cy, cx = (np.mean(np.nonzero(dark)[i]) for i in (0, 1))
        assert abs(cx - 48) < 20 and abs(cy - 48) < 20, name


def test_a_large_photo_gives_the_same_aligned_face_and_crops(rgb: np.ndarray, lm: FaceLandmarks) -> None:
    """Downsampling goes through an image pyramid; its levels must map to the same pixels."""
    f = 4
    big = cv2.resize(rgb, (rgb.shape[1] * f, rgb.shape[0] * f), interpolation=cv2.INTER_CUBIC)
    points = lm.points * f + np.array([(f - 1) / 2, (f - 1) / 2, 0], np.float32)  # pixel centres
    big_lm = FaceLandmarks(points, big.shape[:2])
    diff = np.abs(align_face(big, big_lm).image.astype(int) - align_face(rgb, lm).image).mean()
    assert diff < 4
    small, large = region_crops(rgb, lm), region_crops(big, big_lm)
    for name in ("face_oval", "forehead", "right_cheek", "nose"):
        assert np.abs(large[name].astype(int) - small[name]).mean() < 6, name
