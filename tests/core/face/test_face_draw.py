"""core.face.draw on synthetic points and labels: shapes, dtypes, and pixels changed where drawn."""
from __future__ import annotations

import numpy as np
import pytest

from core.face import draw
from core.face.anthropometry import Measurement, measure_face
from core.face.regions import LABEL_NAMES, REGION_NAMES


def _black(h: int = 200, w: int = 200) -> np.ndarray:
    return np.zeros((h, w, 3), np.uint8)


def _near(pixel: np.ndarray, color: tuple[int, int, int]) -> bool:
    return bool(np.abs(pixel.astype(int) - color).max() <= 30)


def _measurement(*pairs: tuple[int, int]) -> Measurement:
    return Measurement("m", "M", 1.0, "ratio", "a test line", tuple(pairs))


def test_region_colours_cover_every_region_and_differ() -> None:
    assert set(draw.REGION_COLORS) == set(REGION_NAMES)
    assert len(set(draw.REGION_COLORS.values())) == len(REGION_NAMES)
    assert draw.hex_color((0, 114, 178)) == "#0072b2"


def test_landmark_dots_mesh_and_iris_colours() -> None:
    points = np.zeros((478, 3), np.float32)
    points[:468, :2] = (50, 60)     # every mesh point on one pixel
    points[468:, :2] = (150, 140)   # every iris point on another
    image = _black()
    out = draw.draw_landmarks(image, points)
    assert out.shape == (200, 200, 3) and out.dtype == np.uint8
    assert tuple(out[60, 50]) == draw.MESH_COLOR
    assert tuple(out[140, 150]) == draw.IRIS_COLOR
    assert not out[100, 100].any() and not out[0, 0].any()
    assert not image.any()  # the input is left alone


def test_dots_and_lines_grow_with_the_image() -> None:
    def painted(size: int, fn) -> int:
        return int(fn(_black(size, size), size).any(axis=2).sum())

    def dots(img: np.ndarray, size: int) -> np.ndarray:
        return draw.draw_landmarks(img, np.full((478, 2), size / 2))

    def line(img: np.ndarray, size: int) -> np.ndarray:
        pts = np.zeros((478, 2))
        pts[0], pts[1] = (size * 0.1, size * 0.9), (size * 0.9, size * 0.9)
        return draw.draw_measurements(img, pts, [_measurement((0, 1))])

    # 10x the side: a dot of constant size would paint as much, a line of constant width 10x.
    assert painted(3000, dots) > 5 * painted(300, dots)
    assert painted(3000, line) > 30 * painted(300, line)


def test_regions_tinted_in_their_colours_background_untouched() -> None:
    image = np.full((100, 120, 3), 100, np.uint8)
    labels = np.zeros((100, 120), np.uint8)
    labels[10:40, 10:40] = LABEL_NAMES.index("nose")
    labels[50:90, 60:110] = LABEL_NAMES.index("left_cheek")
    out = draw.draw_regions(image, labels)
    assert out.shape == image.shape and out.dtype == np.uint8
    nose, cheek = np.array(draw.REGION_COLORS["nose"]), np.array(draw.REGION_COLORS["left_cheek"])
    inside = out[25, 25].astype(int)
    assert np.abs(inside - nose).sum() < np.abs(image[25, 25].astype(int) - nose).sum()
    assert tuple(out[10, 25]) == tuple(nose)  # the outline on the region's border
    assert np.abs(out[70, 85].astype(int) - cheek).sum() < np.abs(100 - cheek).sum()
    assert (out[labels == 0] == 100).all()
    with pytest.raises(ValueError, match="region_label_mask"):
        draw.draw_regions(image, labels[:50])


def test_colour_labels_and_legend() -> None:
    labels = np.zeros((10, 10), np.uint8)
    labels[:2] = LABEL_NAMES.index("face_oval")   # 20 px
    labels[2:3] = LABEL_NAMES.index("lips")       # 10 px
    rgb = draw.color_labels(labels)
    assert rgb.shape == (10, 10, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == draw.REGION_COLORS["face_oval"] and not rgb[9, 9].any()
    legend = {row["region"]: row for row in draw.region_legend(labels)}
    assert list(legend) == list(REGION_NAMES)
    assert legend["face_oval"]["area_px"] == 20 and legend["lips"]["area_px"] == 10
    assert legend["face_oval"]["percent_of_face"] == pytest.approx(200 / 3)
    assert sum(r["percent_of_face"] for r in legend.values()) == pytest.approx(100)
    assert legend["lips"]["color"] == draw.hex_color(draw.REGION_COLORS["lips"])
    assert all(r["percent_of_face"] == 0 for r in draw.region_legend(np.zeros((4, 4), np.uint8)))


def test_measurement_lines_drawn_between_their_landmarks() -> None:
    points = np.zeros((478, 2))
    points[0], points[1] = (20, 100), (180, 100)         # one horizontal line
    points[2:7] = (30, 30), (170, 30), (30, 170), (170, 170), (100, 20)
    many = _measurement((2, 3), (4, 5), (2, 4), (3, 5), (6, 2))  # 5 pairs: not drawn
    out = draw.draw_measurements(_black(), points, [_measurement((0, 1)), many])
    assert out.shape == (200, 200, 3) and out.dtype == np.uint8
    assert _near(out[100, 40], draw.LINE_COLOR)  # on the line (anti-aliased), away from its number
    assert out[95:106, 90:111].min(axis=2).max() > 200  # the white number near its middle
    assert not out[30, 58].any() and not out[170, 58].any()  # the 5-pair lines are skipped
    assert _near(draw.draw_measurements(_black(), points, [many], max_pairs=5)[30, 58], draw.LINE_COLOR)


def test_measure_face_output_draws_numbered_lines() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(50, 350, (478, 3))
    ms = measure_face(points)
    out = draw.draw_measurements(_black(400, 400), points, ms)
    assert out.shape == (400, 400, 3) and out.dtype == np.uint8
    a, b = ms[7].landmarks[0]  # interpupillary distance, 468-473
    x, y = (0.85 * points[a, :2] + 0.15 * points[b, :2]).round().astype(int)
    assert out[y - 1:y + 2, x - 1:x + 2].any()


def test_shrink_keeps_small_images_and_reduces_large_ones() -> None:
    small = _black(100, 80)
    same, factor = draw.shrink(small, 600)
    assert factor == 1.0 and same.shape == small.shape and same is not small
    reduced, factor = draw.shrink(_black(1000, 3000), 600)
    assert reduced.shape == (200, 600, 3) and factor == pytest.approx(0.2)


def test_face_box_grows_the_landmark_box_and_stays_inside_the_image() -> None:
    assert draw.face_box((100, 100, 200, 220), (600, 500), margin=0.25) == (60, 70, 240, 250)
    x0, y0, x1, y1 = draw.face_box((10, 5, 90, 95), (100, 100), margin=0.5)
    assert (x0, y0) == (0, 0) and (x1, y1) == (100, 100)


def test_fit_enlarges_small_images_and_shrinks_large_ones() -> None:
    small, k = draw.fit(np.zeros((100, 50, 3), np.uint8), 1200, 400)
    assert small.shape[:2] == (400, 200) and k == 4.0
    large, k = draw.fit(np.zeros((2400, 1000, 3), np.uint8), 1200, 400)
    assert large.shape[:2] == (1200, 500) and k == 0.5
    same, k = draw.fit(np.zeros((600, 500, 3), np.uint8), 1200, 400)
    assert same.shape[:2] == (600, 500) and k == 1.0
