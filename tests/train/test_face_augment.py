"""train.face_augment (the screening phantoms' photo augmentation): augmented samples keep their
landmark-derived labels on the face; train.face_sources refuses folders without a face."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.face.landmarks import FaceLandmarks
from core.face.regions import LABEL_NAMES, region_label_mask
from train.face_augment import MILD, STRONG, photo_sample, training_sample
from train.face_pixels import paint_brows
from train.face_shape import INNER_LOWER, INNER_UPPER, open_mouth, shape_warp
from train.face_sources import load_sources

pytest.importorskip("skimage", reason="the held-out face is scikit-image's astronaut: "
                                      "pip install scikit-image==0.26.0")


@pytest.fixture(scope="module")
def sources():
    return load_sources()


def test_training_samples_are_aligned_faces_with_every_region(sources) -> None:
    src, _ = sources
    rng = np.random.default_rng(0)
    for _ in range(4):
        image, labels = training_sample(src, {"size": 96, "eye_distance": 0.28, "eye_y": 0.4}, STRONG, rng)
        assert image.shape == (96, 96, 3) and image.dtype == np.uint8 and labels.shape == (96, 96)
        assert set(np.unique(labels)) == set(range(len(LABEL_NAMES)))
        eyes = [np.argwhere(labels == LABEL_NAMES.index(n)).mean(axis=0) for n in ("right_eye", "left_eye")]
        assert eyes[0][1] < 48 < eyes[1][1]  # subject's right eye on the image's left, after any mirror
        assert abs(eyes[0][0] - 0.4 * 96) < 12  # jittered around the aligned eye height


def test_shape_warp_moves_image_and_landmarks_together(sources) -> None:
    """A pixel-exact marker at each landmark ends up where the warp says the landmark went."""
    src, _ = sources
    pts = src.points
    image = np.zeros((*src.shape, 3), np.uint8)
    idx = [33, 263, 1, 61, 291, 152]
    for x, y in np.round(pts[idx, :2]).astype(int):
        image[y - 1:y + 2, x - 1:x + 2] = 255
    out, moved = shape_warp(image, pts, STRONG.shape, np.random.default_rng(3))
    assert np.abs(moved - pts).max() > 1  # something moved
    for x, y in moved[idx, :2]:
        patch = out[int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4, 0]
        assert patch.max() > 100, (x, y)


def test_shape_warp_of_strength_zero_is_the_identity_to_the_pixel(sources) -> None:
    src, _ = sources
    ramp = np.zeros((96, 128, 3), np.uint8)
    ramp[..., 0] = np.arange(128)[None]
    ramp[..., 1] = np.arange(96)[:, None]
    out, moved = shape_warp(ramp, src.points * 0.2, 0.0, np.random.default_rng(0))
    assert np.array_equal(out[2:-2, 2:-2], ramp[2:-2, 2:-2]) and np.allclose(moved, src.points * 0.2)
    shift = np.array([[1, 0, 3.0], [0, 1, -2.0], [0, 0, 1]])
    out, moved = shape_warp(ramp, src.points * 0.2, 0.0, np.random.default_rng(0), after=lambda _: shift)
    assert np.array_equal(out[10:-10, 10:-10, 0].astype(int), ramp[10:-10, 10:-10, 0] - 3)
    assert np.array_equal(out[10:-10, 10:-10, 1].astype(int), ramp[10:-10, 10:-10, 1] + 2)
    assert np.allclose(moved[:, :2], src.points[:, :2] * 0.2 + [3, -2])


def test_aligned_samples_keep_the_eye_centres_where_the_predictor_puts_them(sources) -> None:
    src, _ = sources
    still = replace(STRONG, jitter_deg=0.0, jitter_scale=0.0, jitter_shift=0.0, shape_p=1.0)
    align = {"size": 96, "eye_distance": 0.28, "eye_y": 0.4}
    rng = np.random.default_rng(4)
    for _ in range(3):
        _, labels = training_sample(src, align, still, rng)
        for name, x in (("right_eye", 48 - 0.14 * 96), ("left_eye", 48 + 0.14 * 96)):
            cy, cx = np.argwhere(labels == LABEL_NAMES.index(name)).mean(axis=0)
            assert abs(cx - x) < 1.5 and abs(cy - 0.4 * 96) < 1.5


def test_open_mouth_moves_the_lower_lip_and_grows_the_lips_label(sources) -> None:
    src, _ = sources
    rgb, pts = src.photo, src.points
    out, moved = open_mouth(rgb, pts, np.random.default_rng(0))
    assert np.array_equal(moved[list(INNER_UPPER)], pts[list(INNER_UPPER)])
    assert moved[14, 1] > pts[14, 1] + 1 and moved[152, 1] >= pts[152, 1]  # lower lip (and chin) down
    lips = LABEL_NAMES.index("lips")
    before = (region_label_mask(FaceLandmarks(pts, src.shape)) == lips).sum()
    assert (region_label_mask(FaceLandmarks(moved, src.shape)) == lips).sum() > before
    gap = np.abs(out.astype(int) - rgb.astype(int)).sum(axis=2) > 30
    x, y = np.round(moved[list(INNER_LOWER[4:7]), :2].mean(axis=0)).astype(int)
    assert gap[int(pts[13, 1]) + 1:y, x].any()  # the opened gap is painted


def test_bare_variant_paints_out_the_rims_and_brows_go_into_the_brow_polygons(sources) -> None:
    src, held = sources
    assert (False, True) in src.variants and (False, True) not in held.variants  # only she wears glasses
    bare = src.variants[(False, True)][0][0]
    changed = np.abs(bare.astype(int) - src.photo.astype(int)).sum(axis=2) > 40
    labels = region_label_mask(FaceLandmarks(src.points, src.shape))
    brows = np.isin(labels, [LABEL_NAMES.index("right_brow"), LABEL_NAMES.index("left_brow")])
    brow_rows = np.nonzero(brows)[0]
    assert changed[brow_rows.min() - 15:brow_rows.max() + 15].sum() > 200  # the dark upper rim is gone
    assert not changed[labels == LABEL_NAMES.index("lips")].any()
    painted = paint_brows(np.full_like(bare, 230), src.points, np.random.default_rng(0))
    darker = painted.sum(axis=2) < 3 * 225
    assert darker[brows].mean() > 0.8 and darker[~brows].mean() < 0.01


def test_mild_photo_samples_keep_the_photo_grid(sources) -> None:
    _, held = sources
    image, lm = photo_sample(held, MILD, np.random.default_rng(1))
    assert image.shape == (*held.shape, 3) and isinstance(lm, FaceLandmarks)
    assert (region_label_mask(lm) > 0).sum() > 1000


def test_a_folder_without_any_face_is_refused(tmp_path: Path) -> None:
    from PIL import Image

    from train.face_sources import sources_from

    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "dark.png")
    with pytest.raises(SystemExit, match="no face found"):
        sources_from([tmp_path])
    with pytest.raises(SystemExit, match="no such photo"):
        sources_from([tmp_path / "missing"])
