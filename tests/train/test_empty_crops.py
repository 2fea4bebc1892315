"""train.empty_crops: a second kind of empty frame (a zoomed window that misses the structure), with
a control of the same zoom that holds it, so the zoom is no cue."""
from __future__ import annotations

import numpy as np

from train.empty_crops import MIN_SCALE, crop_in_frame, crop_pair


def _frame(h: int = 120, w: int = 200, cy: int = 40, cx: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.integers(40, 90, (h, w)).astype(np.uint8)
    yy, xx = np.mgrid[:h, :w]
    mask = (yy - cy) ** 2 / 12**2 + (xx - cx) ** 2 / 16**2 <= 1
    image[mask] = 250  # a bright 'nerve' that no empty window may show
    return image, mask


def test_the_empty_window_misses_the_structure_and_the_control_holds_it() -> None:
    image, mask = _frame()
    for seed in range(10):
        pair = crop_pair(image, mask, np.random.default_rng(seed))
        assert pair is not None
        (empty, empty_mask), (control, control_mask) = pair
        assert empty.shape == control.shape == image.shape and empty.dtype == np.uint8
        assert not empty_mask.any() and empty.max() < 200  # none of the bright structure, not even its edge
        assert control_mask.dtype == mask.dtype and control_mask.shape == mask.shape
        # The whole structure, zoomed by the same factor as the empty window (>= 1/0.8 in area^0.5).
        assert control_mask.sum() >= mask.sum() * 1.25**2 * 0.9
        assert control[control_mask].mean() > 200 and control[~control_mask].mean() < 120


def test_windows_shrink_where_the_structure_leaves_little_room() -> None:
    image, mask = _frame(cy=60, cx=100)  # the structure in the middle: no window of half the frame misses it
    pair = crop_pair(image, mask, np.random.default_rng(0))
    assert pair is not None
    zoom = (pair[1][1].sum() / mask.sum()) ** 0.5
    assert 1 / 0.5 < zoom <= 1 / MIN_SCALE * 1.1


def test_no_structure_or_no_room_gives_none() -> None:
    image, mask = _frame()
    assert crop_pair(image, np.zeros_like(mask), np.random.default_rng(0)) is None
    assert crop_pair(image, np.ones_like(mask), np.random.default_rng(0)) is None


def test_in_frame_keeps_the_letterbox_bands() -> None:
    inner, inner_mask = _frame()
    image = np.full((200, 200), 128, np.uint8)
    image[40:160] = inner
    mask = np.zeros((200, 200), bool)
    mask[40:160] = inner_mask
    pair = crop_in_frame(image, mask, np.random.default_rng(0))
    assert pair is not None
    for frame, frame_mask in pair:
        assert (frame[:40] == 128).all() and (frame[160:] == 128).all()  # bands untouched
        assert not frame_mask[:40].any() and not frame_mask[160:].any()
    assert not pair[0][1].any() and pair[1][1][40:160].any()
