"""train.parser_augment: the procedural clutter and its compositing behind the labelled head; the
elastic warp."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core.datasets.fasseg import CLASSES, read_fasseg
from train.parser_augment import (
    _grain,
    _strokes,
    _weave,
    augmentation_text,
    clutter,
    composite,
    elastic_warp,
    training_sample,
)


def test_clutter_is_varied_uint8_scenery() -> None:
    scenes = [clutter(48, 64, np.random.default_rng(seed)) for seed in range(12)]
    for s in scenes:
        assert s.shape == (48, 64, 3) and s.dtype == np.uint8
    assert np.mean([s.std() for s in scenes]) > 10  # not flat fields
    assert len({s.tobytes() for s in scenes}) == 12
    assert np.array_equal(clutter(48, 64, np.random.default_rng(3)), scenes[3])  # seeded


def test_fine_textures_carry_detail_a_smooth_field_lacks() -> None:
    """Strokes, grain and weave stand for grass, gravel and fabric: detail finer than a few pixels,
    which a parser that saw only smooth clutter took for hair."""
    def fine(img: np.ndarray) -> float:  # what a 3-px blur removes
        grey = np.clip(img, 0, 255).astype(np.float32).mean(2)
        return float((grey - cv2.GaussianBlur(grey, (0, 0), 3)).std())

    smooth = cv2.resize(np.random.default_rng(0).uniform(0, 255, (4, 4, 3)).astype(np.float32), (80, 64),
                        interpolation=cv2.INTER_CUBIC)
    assert fine(smooth) < 3
    for texture in (_strokes, _grain, _weave):
        draws = [texture(64, 80, np.random.default_rng(seed)) for seed in range(8)]
        assert all(d.shape == (64, 80, 3) for d in draws)
        assert np.median([fine(d) for d in draws]) > 6, texture.__name__


def test_composite_replaces_the_background_class_only() -> None:
    image = np.full((40, 40, 3), 200, np.uint8)
    labels = np.zeros((40, 40), np.uint8)
    labels[10:30, 10:30] = CLASSES.index("skin")
    back = np.zeros((40, 40, 3), np.uint8)
    out = composite(image, labels, back, np.random.default_rng(0))
    assert (out[14:26, 14:26] == 200).all()  # the head, away from its feathered edge
    assert (out[:5] == 0).all() and (out[:, 35:] == 0).all()  # the background
    assert 0 < out[10, 20, 0] < 200  # the edge is blended


def test_background_mix_moves_only_the_pixels_behind_the_head(fasseg_folder: Path) -> None:
    image, labels = read_fasseg(fasseg_folder)[0].load()
    plain = [training_sample(image, labels, 64, np.random.default_rng(s)) for s in range(4)]
    mixed = [training_sample(image, labels, 64, np.random.default_rng(s), background=1.0) for s in range(4)]
    for (_, y0), (_, y1) in zip(plain, mixed, strict=True):
        assert np.array_equal(y0, y1)  # the same framing: the labels do not move
    # photometry is drawn afterwards and differs too, but the clutter moves the background far more
    diff = lambda x0, x1, m: np.abs(x0[m].astype(int) - x1[m].astype(int)).mean()  # noqa: E731
    behind = np.mean([diff(x0, x1, y0 == 0) for (x0, y0), (x1, _) in zip(plain, mixed, strict=True)])
    head = np.mean([diff(x0, x1, y0 != 0) for (x0, y0), (x1, _) in zip(plain, mixed, strict=True)])
    assert behind > head + 20
    off = [training_sample(image, labels, 64, np.random.default_rng(s), background=0.0) for s in range(4)]
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(off, plain, strict=True))  # 0: no extra draw


def test_elastic_warp_keeps_photo_and_labels_in_register_and_moves_shapes() -> None:
    # a labelled "face": colour = the class's palette colour, with a small almond "eye"
    labels = np.zeros((96, 96), np.uint8)
    cv2.ellipse(labels, (48, 48), (30, 36), 0, 0, 360, 2, -1)  # skin
    cv2.ellipse(labels, (36, 40), (9, 4), 0, 0, 360, 3, -1)  # an eye
    palette = np.array([[0, 0, 0], [120, 60, 0], [230, 180, 150], [20, 20, 200], [0, 200, 0], [200, 0, 0]],
                       np.uint8)
    image = palette[labels]
    moved_any = False
    for seed in range(5):
        x, y = elastic_warp(image, labels, np.random.default_rng(seed))
        assert x.shape == image.shape and y.shape == labels.shape and x.dtype == np.uint8
        # in register: away from class edges (where bilinear blends colours) the colour is the label's
        inner = cv2.erode(y, np.ones((5, 5))) == cv2.dilate(y, np.ones((5, 5)))  # 2 px from any edge
        off = np.abs(x[inner].astype(int) - palette[y[inner]]).max(axis=1)
        assert inner.mean() > 0.8 and (off <= 2).all()
        assert set(np.unique(y)) <= {0, 2, 3}  # nearest: no new label values
        moved_any |= not np.array_equal(y == 3, labels == 3)
    assert moved_any  # the eye's outline really changes
    # the shape changes, the eye does not vanish or wander off: its area and centre stay close
    _, y = elastic_warp(image, labels, np.random.default_rng(0))
    assert 0.6 < (y == 3).sum() / (labels == 3).sum() < 1.6
    assert np.abs(np.argwhere(y == 3).mean(0) - np.argwhere(labels == 3).mean(0)).max() < 6


def test_elastic_share_zero_keeps_the_stream_and_the_card_says_when_it_is_on(fasseg_folder: Path) -> None:
    image, labels = read_fasseg(fasseg_folder)[0].load()
    for s in range(3):
        a = training_sample(image, labels, 64, np.random.default_rng(s))
        b = training_sample(image, labels, 64, np.random.default_rng(s), elastic=0.0)
        c = training_sample(image, labels, 64, np.random.default_rng(s), elastic=1.0)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])  # 0: no extra draw
        assert not np.array_equal(a[1], c[1])  # 1: every sample warped
    assert "elastic" not in augmentation_text(0.5)
    assert "on 50% of the samples an elastic warp" in augmentation_text(0.0, 0.5)
