"""How an MR volume is put on one intensity scale before its slices go to a 2-D model.

MR signal has no absolute unit, so a slice model reads each volume through one of these windows,
named by its card's input ``"window"`` (:data:`WINDOWS`), the same function in training
(train/data.py), in the dataset readers that cut volumes into slices for the model lab
(:mod:`core.datasets.nifti_pairs`, :mod:`core.datasets.kaggle_3m`) and at inference
(:class:`core.predict.volume.VolumeSegmenter`). NumPy only: reading a dataset does not load torch.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

WINDOW_PERCENTILES = (0.5, 99.5)


def window_volume(voxels: np.ndarray, percentiles: tuple[float, float] = WINDOW_PERCENTILES) -> np.ndarray:
    """Scale a whole volume to uint8 from its own percentile range (ZxHxW any dtype -> uint8).

    MR signal has no absolute unit, so every volume is put on one scale before the network sees
    it; doing it per volume rather than per slice keeps a slice's contrast independent of what else
    happens to be in that slice. Training (train/data.py) and inference use this same function.
    """
    x = np.nan_to_num(np.asarray(voxels, dtype=np.float32))
    if not x.size:
        return np.zeros(x.shape, np.uint8)
    lo, hi = (float(v) for v in np.percentile(x, percentiles))
    if hi <= lo:
        lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return np.zeros(x.shape, np.uint8)
    return np.clip(np.rint((x - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)


# window_volume_median: the head's median signal lands here, and 3x it at the top of the scale.
MEDIAN_LEVEL = 85.0
HEAD_FLOOR = 0.1


def window_volume_median(voxels: np.ndarray, level: float = MEDIAN_LEVEL) -> np.ndarray:
    """Scale a whole volume to uint8 by its head's median signal (ZxHxW any dtype -> uint8).

    The signal above the volume's 0.5th percentile (the air) is divided by the median of the head's
    voxels (those above a tenth of the 99.5th percentile: mostly brain), so the head's median lands on
    ``level`` and 255 is 3x it. Unlike :func:`window_volume`, whose top is set by the brightest
    0.5% (scalp fat on FLAIR, vessels after contrast), this puts normal brain at the same grey in
    every patient and a lesion at its signal ratio to the brain, which is what tells it apart.
    """
    x = np.nan_to_num(np.asarray(voxels, dtype=np.float32))
    if not x.size:
        return np.zeros(x.shape, np.uint8)
    lo, hi = (float(v) for v in np.percentile(x, WINDOW_PERCENTILES))
    x = x - lo
    head = x[x > HEAD_FLOOR * (hi - lo)]
    med = float(np.median(head)) if head.size else 0.0
    if hi <= lo or med <= 0:
        return window_volume(voxels)
    return np.clip(np.rint(x * (level / med)), 0, 255).astype(np.uint8)


# The window the volume readers that cut slices for the model lab (LGG kaggle_3m, NIfTI pairs) apply:
# the brain task's, which its shipped cards name (core.tasks.brain_tumor sets its input "window" to it).
VOLUME_WINDOW = "volume_median"

# The window of a card that names none (the brain cards before the median window).
DEFAULT_WINDOW = "volume_percentile"

# The card's input "window": how a volume is put on one intensity scale before its slices are cut.
WINDOWS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "volume_percentile": window_volume, "volume_median": window_volume_median}


def window_sequences(voxels: np.ndarray, window: str = DEFAULT_WINDOW) -> np.ndarray:
    """The ``window`` (:data:`WINDOWS`) of a ZxHxW volume, or of each sequence of a ZxHxWxC one on
    its own (every MR sequence has its own signal scale)."""
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}; known: {', '.join(WINDOWS)}")
    scale = WINDOWS[window]
    vol = np.asarray(voxels)
    if vol.ndim < 4:
        return scale(vol)
    return np.stack([scale(vol[..., c]) for c in range(vol.shape[3])], axis=-1)


# A dataset reader that cuts a volume into slice cases keeps this many slices on either side of each
# (its meta["neighbours"], :func:`neighbour_slices`): a model of context_slices (the card's input
# "context_slices") up to it can be scored on the cases as it reads a volume.
NEIGHBOURS_KEPT = 1


def neighbour_slices(stack: np.ndarray, z: int, reach: int = NEIGHBOURS_KEPT) -> tuple[np.ndarray, ...]:
    """The slices around slice ``z`` of a windowed ZxHxW or ZxHxWxC stack: z-reach .. z-1, then
    z+1 .. z+reach, the end slice standing in past either end (a lone slice is read as a stack of
    copies of itself)."""
    last = len(stack) - 1
    offsets = [*range(-reach, 0), *range(1, reach + 1)]
    return tuple(stack[min(max(z + d, 0), last)] for d in offsets)


def slice_input(image: np.ndarray, neighbours: tuple[np.ndarray, ...], context: int) -> np.ndarray:
    """One slice's input for a model of ``context_slices`` K: ``image`` with the nearest K of its
    ``neighbours`` (:func:`neighbour_slices`) on either side as channels, HxWx(C*(2K+1)): slices
    z-K .. z+K in that order, each with its C channels (sequences) in their order, so the slice
    itself is the middle block. ``context`` 0 returns ``image`` unchanged.

    Raises:
        ValueError: fewer neighbours kept than the model reads.
    """
    if context <= 0:
        return image
    reach = len(neighbours) // 2
    if context > reach:
        raise ValueError(f"the model reads {context} neighbouring slices on either side; {reach} were kept")
    parts = [*neighbours[reach - context : reach], image, *neighbours[reach : reach + context]]
    return np.concatenate([p[..., None] if p.ndim == 2 else p for p in parts], axis=-1)
