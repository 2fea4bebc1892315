"""How an image is framed into the network input and a network map back onto the image.

* :func:`content_box`: the part of an image inside letterbox bands someone else added (a 580x420
  ultrasound frame centred on a grey square, then scaled: the shared Kaggle nerve copy);
* :func:`letterbox`: scale (aspect kept) and zero-pad into the network input, optionally only the
  content box, so a frame is seen at one scale whatever bands its file carries;
* :func:`unletterbox`: the inverse for a network-sized map (bands and padding get ``fill``).

Training (``train.segmentation``) and inference (:mod:`core.predict.segmenter`) both frame
images here, so they see the same pixels.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

# A band row (or column) is flat: its values span at most this many grey levels (JPEG noise).
BAND_SPREAD = 12
# Letterbox bands come in opposite pairs of (nearly) equal size, each this share of the side at least.
BAND_MIN_FRAC = 0.03
BAND_PAIR_TOLERANCE_PX = 3


@dataclass(frozen=True)
class Letterbox:
    """How an image was scaled (aspect kept) and zero-padded into the network input.

    Attributes:
        scale: network pixels per image pixel.
        top, left: where the scaled content starts in the network input.
        height, width: size of the scaled content inside the padded input.
        orig_shape: the whole image's (H, W).
        crop: the content box ``(top, bottom, left, right)`` of the image that was framed (the
            whole image unless bands were trimmed); rows ``top:bottom``, columns ``left:right``.
    """

    scale: float
    top: int
    left: int
    height: int
    width: int
    orig_shape: tuple[int, int]
    crop: tuple[int, int, int, int] | None = None

    @property
    def box(self) -> tuple[int, int, int, int]:
        """The framed part of the image, ``(top, bottom, left, right)``."""
        return self.crop or (0, self.orig_shape[0], 0, self.orig_shape[1])


def _flat(lines: np.ndarray) -> np.ndarray:
    """Per row of ``lines`` (N x L): True where its values span at most :data:`BAND_SPREAD`."""
    return (lines.max(axis=1).astype(np.int16) - lines.min(axis=1).astype(np.int16)) <= BAND_SPREAD


def _run(flat: np.ndarray) -> int:
    """How many leading entries of ``flat`` are True."""
    return int(np.argmin(flat)) if not flat.all() else len(flat)


def _band_pair(lines: np.ndarray) -> tuple[int, int]:
    """The sizes of a matched pair of flat bands at both ends of ``lines`` (N x L), else (0, 0)."""
    flat = _flat(lines)
    head, tail = _run(flat), _run(flat[::-1])
    n = len(flat)
    if head == n or min(head, tail) < BAND_MIN_FRAC * n or abs(head - tail) > BAND_PAIR_TOLERANCE_PX:
        return 0, 0
    # Both bands must be one grey (a letterbox fill), not, say, black sky above white floor.
    if abs(float(np.median(lines[:head])) - float(np.median(lines[n - tail :]))) > BAND_SPREAD:
        return 0, 0
    return head, tail


def content_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` of ``image`` (HxW or HxWxC) without letterbox bands.

    A band is a run of flat rows (or columns) at the image's edge; bands are trimmed only in
    opposite pairs of about equal size and one grey, the mark of a frame centred on a padded
    canvas. A dark region at one edge of an ultrasound frame (the far field) is kept.
    """
    grey = image if image.ndim == 2 else image.mean(axis=2)
    grey = np.asarray(grey)
    h, w = grey.shape
    top, bottom = _band_pair(grey)
    left, right = _band_pair(grey.T)
    return top, h - bottom, left, w - right


def letterbox(image: np.ndarray, size: Sequence[int], interpolation: int = cv2.INTER_AREA,
              crop: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, Letterbox]:
    """Scale ``image`` (HxW or HxWxC), or its ``crop`` box, to fit ``size`` = (H, W) keeping its
    aspect, and pad with 0."""
    h, w = image.shape[:2]
    t, b, lft, r = crop or (0, h, 0, w)
    inner = image[t:b, lft:r]
    out_h, out_w = int(size[0]), int(size[1])
    ih, iw = inner.shape[:2]
    scale = min(out_h / ih, out_w / iw)
    nh, nw = max(1, round(ih * scale)), max(1, round(iw * scale))
    top, left = (out_h - nh) // 2, (out_w - nw) // 2
    resized = cv2.resize(np.ascontiguousarray(inner), (nw, nh), interpolation=interpolation)
    out = np.zeros((out_h, out_w, *image.shape[2:]), dtype=resized.dtype)
    out[top : top + nh, left : left + nw] = resized
    kept = None if (t, b, lft, r) == (0, h, 0, w) else (t, b, lft, r)
    return out, Letterbox(scale, top, left, nh, nw, (h, w), kept)


def unletterbox(array: np.ndarray, box: Letterbox, fill: float = 0.0) -> np.ndarray:
    """Crop the padding off a network-sized HxW float map and resize it onto the original grid;
    trimmed bands get ``fill`` (a very negative logit for logit maps)."""
    inner = array[box.top : box.top + box.height, box.left : box.left + box.width]
    t, b, lft, r = box.box
    resized = cv2.resize(np.ascontiguousarray(inner, np.float32), (r - lft, b - t),
                         interpolation=cv2.INTER_LINEAR)
    if box.crop is None:
        return resized
    out = np.full(box.orig_shape, fill, np.float32)
    out[t:b, lft:r] = resized
    return out
