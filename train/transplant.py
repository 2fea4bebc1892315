"""Empty frames made from labelled ones: the structure covered by tissue moved from beside it.

A dataset of frames that all contain the structure (the shared Kaggle nerve copy holds only
frames with a nerve) cannot teach a presence head or a mask to stay empty. From each labelled
frame this makes two training frames at the frame's own scale:

* an **empty** one: the structure (its mask, dilated) is covered, with a soft edge, by the tissue
  at the same depth a little to the side (same rows where the frame allows, so the speckle and
  attenuation match), mask all background;
* a **control**: the same kind of soft-edged transplant, of the same size, placed away from the
  structure, mask unchanged; so a transplant's seam appears in both classes and is no cue.

These are proxies for real empty frames (probe positions where no nerve is in view): the card says
so wherever they are used for validation.
"""
from __future__ import annotations

import cv2
import numpy as np

from core.predict import content_box

MARGIN_FRAC = 0.02  # the covered region: the mask dilated by this share of the frame's width
FEATHER_FRAC = 0.2  # soft edge of the transplant, as a share of the covered region's smaller side
TRIES = 40


def surroundings(mask: np.ndarray) -> np.ndarray:
    """HxW bool: the structure and its near surroundings (``mask`` dilated by :data:`MARGIN_FRAC` of
    the frame's width), what an empty frame must not show."""
    margin = max(1, round(MARGIN_FRAC * mask.shape[1]))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def _soft_alpha(region: np.ndarray, feather: float) -> np.ndarray:
    """HxW float32: 1 on ``region`` and fading to 0 over ``feather`` pixels outside it."""
    outside = cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, 5)
    return np.clip(1.0 - outside / max(feather, 1.0), 0.0, 1.0).astype(np.float32)


def _shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``image`` moved so that output[y, x] = image[y + dy, x + dx] (0 from outside the frame)."""
    m = np.float32([[1, 0, -dx], [0, 1, -dy]])
    return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _bbox(region: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(region)
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def _source_shift(support: np.ndarray, avoid: np.ndarray, rng: np.random.Generator
                  ) -> tuple[int, int] | None:
    """A shift (dy, dx) so that the tissue under ``support`` moved by it lies inside the frame and
    off ``avoid``; horizontal shifts first (same depth), then small vertical ones."""
    h, w = support.shape
    y0, y1, x0, x1 = _bbox(support)
    for attempt in range(TRIES):
        dx = int(rng.integers(-x0, w - x1 + 1))
        dy = 0 if attempt < TRIES // 2 else int(rng.integers(max(-y0, -h // 3), min(h - y1, h // 3) + 1))
        if dx == 0 and dy == 0:
            continue
        moved = _shifted(support.astype(np.uint8), -dy, -dx).astype(bool)  # where the tissue comes from
        if not (moved & avoid).any():
            return dy, dx
    return None


def _transplant(image: np.ndarray, support: np.ndarray, alpha: np.ndarray, avoid: np.ndarray,
                rng: np.random.Generator) -> np.ndarray | None:
    shift = _source_shift(support, avoid, rng)
    if shift is None:
        return None
    donor = _shifted(image.astype(np.float32), *shift)
    a = alpha if image.ndim == 2 else alpha[..., None]
    out = a * donor + (1 - a) * image.astype(np.float32)
    return np.clip(np.round(out), 0, 255).astype(image.dtype)


def transplant_pair(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator
                    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
    """``((empty_image, empty_mask), (control_image, mask))`` from one labelled frame, or None when
    the frame has no structure or no room beside it for the donor tissue.

    Args:
        image: HxW (or HxWxC) uint8 frame, letterbox bands already trimmed.
        mask: HxW bool mask of the structure (not empty).
        rng: random source (which donor tissue, where the control goes).
    """
    if not mask.any():
        return None
    h, w = mask.shape
    cover = surroundings(mask)
    y0, y1, x0, x1 = _bbox(cover)
    feather = FEATHER_FRAC * min(y1 - y0, x1 - x0)
    alpha = _soft_alpha(cover, feather)
    support = alpha > 0
    # The donor tissue must not hold any of the structure, nor its near surroundings.
    empty = _transplant(image, support, alpha, cover, rng)
    if empty is None:
        return None
    # Control: the same soft shape moved to where it does not touch the structure, filled likewise.
    s0, s1, t0, t1 = _bbox(support)
    for _ in range(TRIES):
        dy, dx = int(rng.integers(-s0, h - s1 + 1)), int(rng.integers(-t0, w - t1 + 1))
        c_alpha = _shifted(alpha, -dy, -dx)
        c_support = c_alpha > 0
        if c_support.any() and not (c_support & support).any():
            control = _transplant(image, c_support, c_alpha, cover, rng)
            if control is not None:
                return (empty, np.zeros_like(mask)), (control, mask.copy())
    return None


def in_content(make, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator):
    """``make(image, mask, rng)`` (a pair maker such as :func:`transplant_pair`) on the picture
    inside the file's letterbox bands (:func:`core.predict.content_box`), each result pasted back
    into the whole frame (bands kept); None where ``make`` gives None."""
    t, b, lft, r = content_box(image)
    pair = make(image[t:b, lft:r], mask[t:b, lft:r], rng)
    if pair is None:
        return None
    framed = []
    for inner, inner_mask in pair:
        frame, frame_mask = image.copy(), mask.copy()
        frame[t:b, lft:r], frame_mask[t:b, lft:r] = inner, inner_mask
        framed.append((frame, frame_mask))
    return framed[0], framed[1]


def transplant_in_frame(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator
                        ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
    """:func:`transplant_pair` on the picture inside the file's letterbox bands, each result pasted
    back into the whole frame (bands kept)."""
    return in_content(transplant_pair, image, mask, rng)
