"""train.parser_augment: the procedural clutter and its compositing behind the labelled head."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core.datasets.fasseg import CLASSES, read_fasseg
from train.parser_augment import _grain, _strokes, _weave, clutter, composite, training_sample


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
