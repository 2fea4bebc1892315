"""kaggle_3m patients as volumes: each patient's slices stacked in slice-number order.

The three sequences of a slice (:data:`~core.datasets.kaggle_3m.SEQUENCES`) become three volumes
on one grid; the :class:`~core.datasets.nifti_pairs.VolumeCase`'s ``volume`` is the one asked for
(FLAIR by default: the sequence the masks were drawn on and the shipped model reads), and
``meta["sequences"]`` holds all three by name. The files carry neither slice spacing nor pixel
size, so every volume has ``spacing_mm`` None (sizes in voxels, never an assumed 1 mm).
"""
from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

import numpy as np

from core.datasets.base import DatasetError
from core.datasets.kaggle_3m import (
    FLAIR,
    SEQUENCES,
    SPACING_NOTE,
    patient_folders,
    patient_slices,
    read_slice_image,
    read_slice_mask,
)
from core.datasets.nifti_pairs import VolumeCase
from core.io.volume_types import Volume, display_affine, make_volume

FORMAT = "TIFF slices (kaggle_3m)"
ORDER_NOTE = "slices stacked in slice-number order; the files do not say which way is superior"


def _sequence_volume(display: np.ndarray, sequence: str, patient: str) -> Volume:
    """A :class:`Volume` of one sequence (ZxHxW uint8 already in display order), spacing unknown."""
    # The unit affine only places the voxels on a grid: spacing_known=False keeps spacing_mm None.
    affine = display_affine(display.shape, (1.0, 1.0, 1.0))
    return make_volume(display.transpose(2, 1, 0), affine, FORMAT,
                       {"patient": patient, "sequence": sequence}, [SPACING_NOTE, ORDER_NOTE],
                       spacing_known=False)


def read_patient_volume(folder_name: str, images: np.ndarray, masks: np.ndarray | None,
                        numbers: list[int], channel: int = FLAIR, files: list[str] | None = None
                        ) -> VolumeCase:
    """A :class:`VolumeCase` from a patient's stacked slices.

    Args:
        folder_name: the patient id (its folder name).
        images: ZxHxWx3 uint8, slices in slice-number order, channels :data:`SEQUENCES`.
        masks: ZxHxW bool, or None when a slice has no mask (the volume is then unlabelled).
        numbers: the slice numbers, in stack order.
        files: the slices' file names, in stack order (default ``<patient>_<n>.tif``).
        channel: the sequence to make ``volume`` (0 pre-contrast, 1 FLAIR, 2 post-contrast).
    """
    if channel not in range(len(SEQUENCES)):
        raise ValueError(f"channel must be 0 (pre-contrast), 1 (FLAIR) or 2 (post-contrast), got {channel}")
    vols = {seq: _sequence_volume(np.ascontiguousarray(images[..., i]), seq, folder_name)
            for i, seq in enumerate(SEQUENCES)}
    label = None if masks is None else masks.astype(np.uint8)
    meta = {"layout": "kaggle_3m", "patient": folder_name, "sequence": SEQUENCES[channel],
            "channel": channel, "channels": dict(enumerate(SEQUENCES)), "sequences": vols,
            "slices": tuple(numbers), "spacing": SPACING_NOTE,
            "files": tuple(files or (f"{folder_name}_{n}.tif" for n in numbers))}
    return VolumeCase(folder_name, vols[SEQUENCES[channel]], label, {1: "FLAIR abnormality"}, meta)


def read_kaggle_3m_volumes(root: str | Path, *, names: Collection[str] | None = None,
                           channel: int = FLAIR) -> Iterator[VolumeCase]:
    """Every patient of a kaggle_3m folder as one :class:`VolumeCase` (patients in name order).

    Args:
        root: a folder holding ``kaggle_3m/``, ``kaggle_3m/`` itself, or one patient folder.
        names: only these patients (folder names); None reads all.
        channel: the sequence each case's ``volume`` holds (default FLAIR); all three are in
            ``meta["sequences"]``.

    Yields:
        Cases whose ``label`` is ZxHxW uint8 (1 = FLAIR abnormality), or None when any slice of
        the patient lacks its ``_mask.tif``; empty patient folders are skipped.

    Raises:
        DatasetError: no patient folder, or a slice whose size differs from the patient's others.
    """
    base, patients = patient_folders(root)
    if not patients:
        raise DatasetError(f"{base}: no kaggle_3m patient folders (<patient>/<patient>_<n>.tif) found")
    for folder in patients:
        if names is not None and folder.name not in names:
            continue
        slices = patient_slices(folder)
        if not slices:
            continue  # the probe warns about empty patient folders
        images = [read_slice_image(s.image) for s in slices]
        shapes = {im.shape for im in images}
        if len(shapes) > 1:
            sizes = ", ".join(f"{w}x{h}" for h, w, _ in sorted(shapes))
            raise DatasetError(f"{folder.name}: slices of different sizes ({sizes} px) cannot be stacked "
                               "into one volume")
        masks = None
        if all(s.mask is not None for s in slices):
            masks = np.stack([read_slice_mask(s.mask, im.shape) for s, im in zip(slices, images)])
        yield read_patient_volume(folder.name, np.stack(images), masks, [s.number for s in slices], channel,
                                  [s.image.name for s in slices])
