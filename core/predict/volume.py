"""Volume predictor: a 2-D slice model run over every axial slice of a volume, masks stacked back.

The volume is first put on one intensity scale (the card's input ``"window"``, a
:data:`core.windowing.WINDOWS` function shared with training); slices then go through the
:class:`~core.predict.segmenter.Segmenter` in batches (each with its neighbours as extra channels
for a card with input ``"context_slices"``), and the stacked mask loses its 3-D
components smaller than the card's ``min_component_vox``. Every slice comes back on the grid
it was given (display orientation, :mod:`core.io.volume`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.geometry import drop_small_components, largest_piece
from core.predict.segmenter import Segmenter, postprocess
from core.weights import ModelCard
from core.windowing import neighbour_slices, slice_input, window_sequences


def volume_postprocess(mask: np.ndarray, spec: dict) -> np.ndarray:
    """The stacked mask's 3-D post-processing: pieces under ``min_component_vox`` voxels dropped (a
    tumour's thin end slice survives as part of its 3-D whole, an isolated speck, such as a sulcus
    taken for oedema, does not), then, with ``largest_component_3d``, only the largest piece kept."""
    mask = drop_small_components(mask, int(spec.get("min_component_vox", 0)))
    return largest_piece(mask) if spec.get("largest_component_3d") else mask


@dataclass(frozen=True)
class VolumeSegmentation:
    """A predicted tumour mask for a whole volume, on the grid it was given.

    Attributes:
        prob: ZxHxW float32 tumour probability.
        mask: ZxHxW bool mask after threshold and the card's per-slice post-processing.
        threshold: the probability threshold used.
        slices_run: slices that went through the network (blank slices are skipped: all zero).
    """

    prob: np.ndarray
    mask: np.ndarray
    threshold: float
    slices_run: int


BATCH_PIXELS = 4 * 256 * 256  # network input pixels per forward pass: 4 slices at 256x256, 16 at 128x128


def default_batch(card: ModelCard) -> int:
    """Slices per forward pass for a model's input size: as many as fill :data:`BATCH_PIXELS` (the same
    memory at any size; on 2 CPU cores 16 slices at 128x128 run about 15% faster per slice than 4)."""
    h, w = card.input["size"]
    return max(1, BATCH_PIXELS // (int(h) * int(w)))


class VolumeSegmenter:
    """Runs a 2-D slice model over every axial slice of a volume and stacks the results.

    Shares the (cached, read-only) :class:`~core.predict.segmenter.Segmenter`; nothing here changes it.
    """

    def __init__(self, segmenter: Segmenter, batch: int | None = None) -> None:
        self.segmenter = segmenter
        self.batch = max(1, int(batch)) if batch else default_batch(segmenter.card)

    @classmethod
    def from_folder(cls, folder: str | Path, batch: int | None = None) -> VolumeSegmenter:
        """Load a slice model's weights folder (sha256 checked), e.g. the brain tumour model."""
        return cls(Segmenter.from_folder(folder), batch)

    @property
    def card(self) -> ModelCard:
        return self.segmenter.card

    def predict(self, voxels: np.ndarray, *, threshold: float | None = None, overrides: dict | None = None,
                progress: Callable[[int, int], None] | None = None) -> VolumeSegmentation:
        """Segment a ZxHxW volume (any dtype; a HxW slice counts as Z = 1).

        Args:
            voxels: MR signal in display orientation (:mod:`core.io.volume`), slices on axis 0;
                ZxHxWxC (or HxWxC) for a model of C sequences (the card's ``sequences``, each
                windowed on its own). A model of ``context_slices`` K reads each slice with the K
                on either side (:func:`core.windowing.slice_input`).
            threshold: probability threshold (default: the card's).
            overrides: post-processing entries to replace for this call (card unchanged).
            progress: called as ``progress(done, total)`` after each batch of slices.
        """
        channels = self.card.sequences
        vol = np.asarray(voxels)
        want = 3 if channels == 1 else 4
        if vol.ndim == want - 1:
            vol = vol[None]
        if vol.ndim != want or 0 in vol.shape or (channels > 1 and vol.shape[3] != channels):
            shape = "ZxHxW" if channels == 1 else f"ZxHxWx{channels} (one channel per sequence)"
            raise ValueError(f"expected a {shape} volume, got shape {vol.shape}")
        thr = self.segmenter.threshold if threshold is None else float(threshold)
        windowed = window_sequences(vol, self.card.window)
        k = self.card.context_slices
        prob = np.zeros(vol.shape[:3], np.float32)
        mask = np.zeros(vol.shape[:3], bool)
        # A blank slice (air above the head) cannot hold a tumour: no need to run the network.
        todo = [z for z in range(len(vol)) if windowed[z].max() > 0]
        for start in range(0, len(todo), self.batch):
            zs = todo[start : start + self.batch]
            batch = [slice_input(windowed[z], neighbour_slices(windowed, z, k), k) for z in zs]
            results = self.segmenter.predict_batch(batch, threshold=thr, overrides=overrides)
            for z, res in zip(zs, results):
                prob[z], mask[z] = res.prob, res.mask
            if progress:
                progress(min(start + self.batch, len(todo)), len(todo))
        mask = volume_postprocess(mask, {**self.card.postprocess, **(overrides or {})})
        return VolumeSegmentation(prob, mask, thr, len(todo))

    def rethreshold(self, seg: VolumeSegmentation, *, threshold: float | None = None,
                    overrides: dict | None = None) -> VolumeSegmentation:
        """``seg``'s probabilities under another threshold or post-processing, without the network:
        what a page's threshold and minimum-size sliders change. The same masks as :meth:`predict`
        with those settings, for a card without a presence threshold (which needs the network's
        presence output; refused here)."""
        thr = self.segmenter.threshold if threshold is None else float(threshold)
        spec = {**self.card.postprocess, **(overrides or {})}
        if float(spec.get("presence_threshold", 0.0)) > 0:
            raise ValueError("a presence threshold needs the network's presence output: use predict()")
        mask = np.zeros(seg.prob.shape, bool)
        for z in np.flatnonzero(seg.prob.reshape(len(seg.prob), -1).max(axis=1) >= thr):
            mask[z] = postprocess(seg.prob[z], thr, spec)
        return VolumeSegmentation(seg.prob, volume_postprocess(mask, spec), thr, seg.slices_run)
