"""A kaggle_3m patient uploaded as files: one slice, several slice TIFFs, or one ``.zip`` of a patient folder.

The uploads are held in memory only. Slices are recognised by name, as in the dataset
(``<patient>_<n>.tif`` with ``<patient>_<n>_mask.tif`` beside it); a zip's folders are ignored
(only member file names count), so a zipped ``kaggle_3m/<patient>/`` folder and a zip of the
files alone read the same. Slices are stacked in slice-number order whatever order they came in.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePosixPath

import numpy as np

from core.datasets.base import DatasetError
from core.datasets.kaggle_3m import FLAIR, read_slice_image, read_slice_mask
from core.datasets.kaggle_3m_volumes import read_patient_volume
from core.datasets.nifti_pairs import VolumeCase

SLICE = re.compile(r"^(?P<patient>.+)_(?P<n>\d+)\.tiff?$", re.IGNORECASE)
MASK = re.compile(r"^(?P<patient>.+)_(?P<n>\d+)_mask\.tiff?$", re.IGNORECASE)
MAX_SLICES = 512  # the published patients have 20-88 slices
ZIP_MAGIC = b"PK\x03\x04"


def _is_slice_file(name: str) -> bool:
    """A zip member named like a kaggle_3m slice or mask (other members are not unpacked)."""
    base = PurePosixPath(name.replace("\\", "/")).name
    return bool(SLICE.match(base) or MASK.match(base))


def _members(files: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The uploaded files with one zip expanded (base names only; macOS ``__MACOSX`` shadows dropped)."""
    if len(files) == 1 and files[0][1][:4] == ZIP_MAGIC:
        from core.io.dicom_series import zip_members  # pydicom only when a zip comes

        files = zip_members(files[0][1], lambda name, _head: _is_slice_file(name))  # others: head only
    out = []
    for name, data in files:
        path = PurePosixPath(name.replace("\\", "/"))
        if "__MACOSX" in path.parts or path.name.startswith("._"):
            continue
        out.append((path.name, data))
    return out


def is_kaggle_3m_upload(files: Sequence[tuple[str, bytes]]) -> bool:
    """True when the upload (after expanding one zip) holds a file named like a kaggle_3m slice.

    Raises:
        ImageError: a zip that cannot be opened or is over the unpacking limits.
    """
    return any(SLICE.match(name) and not MASK.match(name) for name, _ in _members(files))


def uploaded_patient(files: Sequence[tuple[str, bytes]], channel: int = FLAIR) -> VolumeCase | None:
    """One kaggle_3m patient from uploaded files, or None when no file is named like a slice.

    Args:
        files: ``(name, bytes)`` pairs: slice TIFFs (``<patient>_<n>.tif``) with or without their
            ``_mask.tif`` files, or one zip holding them (in any folders).
        channel: the sequence that becomes the case's ``volume`` (FLAIR by default); all three are
            in ``meta["sequences"]`` (:func:`~core.datasets.kaggle_3m_volumes.read_patient_volume`).

    Returns:
        None also for a lone file named like a slice that is not a 3-channel 8-bit image (a plain
        grey TIFF); else the patient's case: ``label`` is the stacked masks when every slice has
        its ``_mask.tif``, else None, and then ``meta["notes"]`` says how many slices lack one.

    Raises:
        DatasetError: slices of several patients, two files for one slice number, slices of
            different sizes, a mask without its slice, too many slices, or a file that is not a
            kaggle_3m slice or mask.
        ImageError: a zip that cannot be opened or is over the unpacking limits.
    """
    members = _members(files)
    slices: dict[int, tuple[str, bytes]] = {}
    masks: dict[int, tuple[str, bytes]] = {}
    patients: set[str] = set()
    for name, data in members:
        m = MASK.match(name)
        target = masks
        if m is None:
            m, target = SLICE.match(name), slices
        if m is None:
            continue
        patients.add(m["patient"])
        n = int(m["n"])
        if n in target:
            raise DatasetError(f"two files for slice {n}: {target[n][0]} and {name}")
        target[n] = (name, data)
    if not slices:
        if masks:
            raise DatasetError(f"{len(masks)} _mask.tif file(s) but no slice image (<patient>_<n>.tif) to go "
                               "with them")
        return None
    if len(patients) > 1:
        shown = ", ".join(sorted(patients)[:4])
        more = " ..." if len(patients) > 4 else ""
        raise DatasetError(f"slices of {len(patients)} patients ({shown}{more}): upload one patient "
                           "at a time")
    if len(slices) > MAX_SLICES:
        raise DatasetError(f"{len(slices)} slices, over the limit of {MAX_SLICES} for one patient")
    orphans = sorted(set(masks) - set(slices))
    if orphans:
        raise DatasetError(f"{masks[orphans[0]][0]}: a mask without its slice image "
                           f"({len(orphans)} such mask(s)); upload the slices with their masks")
    numbers = sorted(slices)
    if len(members) == 1:
        try:
            images = [read_slice_image(slices[numbers[0]][1], slices[numbers[0]][0])]
        except DatasetError:
            return None  # one image merely named like a slice (a grey TIFF): not a kaggle_3m slice
    else:
        images = [read_slice_image(slices[n][1], slices[n][0]) for n in numbers]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        sizes = ", ".join(f"{w}x{h}" for h, w, _ in sorted(shapes))
        raise DatasetError(f"slices of different sizes ({sizes} px) cannot be stacked into one volume")
    label = None
    if len(masks) == len(slices):
        label = np.stack([read_slice_mask(masks[n][1], images[0].shape, masks[n][0]) for n in numbers])
    case = read_patient_volume(patients.pop(), np.stack(images), label, numbers, channel,
                               [slices[n][0] for n in numbers])
    if masks and label is None:
        case.meta["notes"] = [f"{len(slices) - len(masks)} of {len(slices)} slices have no _mask.tif: "
                              "no ground truth is shown"]
    return case


def uploaded_slice_mask(name: str, data: bytes, shape: tuple[int, int]) -> np.ndarray:
    """HxW bool from an uploaded kaggle_3m ``_mask.tif`` (0/255, the slice's size).

    Raises:
        DatasetError: unreadable, not one channel, another size, or values other than 0 and 255.
    """
    return read_slice_mask(data, shape, name)
