"""Empty frames made from labelled ones, a second way: a zoomed window of the frame that holds none
of the structure (:mod:`train.transplant` is the first way: the structure covered in place).

From each labelled frame this makes two frames at one random zoom (a window of 50-80% of the
frame's height and width, smaller down to 35% where the structure leaves no room; same aspect,
scaled back up to the frame's size):

* an **empty** one: a window that holds none of the structure nor its near surroundings (the mask
  dilated as in :mod:`train.transplant`), mask all background;
* a **control**: a window of the same size that holds the whole structure, its mask zoomed alike;
  so the zoom (coarser speckle, a deeper or shallower field) appears in both classes and is no cue.

The tissue is real and untouched, but seen closer than the probe showed it, and a window from
the bottom of the frame puts deep tissue at the top. Like the transplants these are proxies for
real empty frames: ``train.holdout --crop-empty`` writes them as a second, independent kind of
proxy, so that a model trained on one kind can be scored on the other.
"""
from __future__ import annotations

import cv2
import numpy as np

from train.transplant import in_content, surroundings

SCALES = (0.5, 0.8)  # the window's side, as a share of the frame's: drawn in this range...
SHRINK, MIN_SCALE = 0.9, 0.35  # ...and made smaller where no window of that size misses the structure


def _zoom(image: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int],
          interpolation: int) -> np.ndarray:
    y, x, ch, cw = box
    return cv2.resize(np.ascontiguousarray(image[y : y + ch, x : x + cw]), (size[1], size[0]),
                      interpolation=interpolation)


def crop_pair(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator
              ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
    """``((empty_image, empty_mask), (control_image, control_mask))`` from one labelled frame, or
    None when the frame has no structure or no window of the drawn zoom misses it.

    Args:
        image: HxW (or HxWxC) uint8 frame, letterbox bands already trimmed.
        mask: HxW bool mask of the structure.
        rng: random source (zoom, where the windows go).
    """
    if not mask.any():
        return None
    h, w = mask.shape
    cover = surroundings(mask)
    ys, xs = np.nonzero(mask)
    m_y0, m_y1, m_x0, m_x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    # Summed-area table of the cover: every window's count of covered pixels at once.
    sat = np.pad(cover.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    s = float(rng.uniform(*SCALES))
    while s >= MIN_SCALE:
        ch, cw = max(2, round(s * h)), max(2, round(s * w))
        covered = sat[ch:, cw:] - sat[:-ch, cw:] - sat[ch:, :-cw] + sat[:-ch, :-cw]
        free = np.argwhere(covered == 0)  # (y, x) of the windows that miss the structure
        # The control: the same window size, placed to hold the whole structure.
        cy = (max(0, m_y1 - ch), min(m_y0, h - ch))
        cx = (max(0, m_x1 - cw), min(m_x0, w - cw))
        if len(free) and cy[0] <= cy[1] and cx[0] <= cx[1]:
            y, x = (int(v) for v in free[rng.integers(len(free))])
            cy0, cx0 = int(rng.integers(cy[0], cy[1] + 1)), int(rng.integers(cx[0], cx[1] + 1))
            empty = _zoom(image, (y, x, ch, cw), (h, w), cv2.INTER_LINEAR)
            control = _zoom(image, (cy0, cx0, ch, cw), (h, w), cv2.INTER_LINEAR)
            control_mask = _zoom(mask.astype(np.uint8), (cy0, cx0, ch, cw), (h, w), cv2.INTER_NEAREST) > 0
            return (empty, np.zeros_like(mask)), (control, control_mask.astype(mask.dtype))
        s *= SHRINK
    return None


def crop_in_frame(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator
                  ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
    """:func:`crop_pair` on the picture inside the file's letterbox bands, each result pasted back
    into the whole frame (bands kept)."""
    return in_content(crop_pair, image, mask, rng)
