"""Load a 3-D volume (NIfTI, a DICOM series, or one 2-D image) into :class:`Volume`, in memory.

:func:`load_volume` recognises the format by content and hands it to :mod:`core.io.nifti`,
:mod:`core.io.dicom_series` or :mod:`core.io.image`. :class:`Volume`, its errors and limits are defined
in :mod:`core.io.volume_types` (below every reader) and re-exported here, the volume layer's
public face. Only allow-listed technical metadata is kept (never NIfTI ``descrip`` or
``aux_file``, DICOM patient tags or file names, which can all hold a patient's name).
"""
from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.io.image import IMAGE_MAGIC, load_image
from core.io.image_types import DICOM_SUFFIXES, MAX_BYTES, ImageTooLargeError, UnsupportedFormatError
from core.io.nifti import nifti_class, read_nifti
from core.io.volume_types import (
    ACCEPTED,
    DISPLAY_AXCODES,
    MAX_UNPACKED,
    MAX_VOXELS,
    MissingSlicesError,
    MixedSeriesError,
    Volume,
    VolumeError,
    WrongModalityError,
    image_volume,
    volume_from_display,
)

__all__ = ["ACCEPTED", "DISPLAY_AXCODES", "MAX_UNPACKED", "MAX_VOXELS", "MissingSlicesError",
           "MixedSeriesError", "Volume", "VolumeError", "WrongModalityError", "dicom_file_volume",
           "load_volume", "volume_from_display"]


def load_volume(src: bytes | str | os.PathLike | Sequence[tuple[str, bytes]], *, name: str | None = None,
                expect_modality: str | None = None, max_voxels: int = MAX_VOXELS,
                channel: int = 0) -> Volume:
    """Load NIfTI, a zipped or multi-file DICOM series, one DICOM file or one 2-D image.

    The format is recognised by content (gzip/NIfTI header, zip, DICOM, image signatures).

    Args:
        src: file bytes, a path, or (name, bytes) pairs of the files of one DICOM series.
        name: original file name of uploaded bytes (only its suffix is used).
        expect_modality: e.g. "MR"; DICOM of another modality raises WrongModalityError.
        max_voxels: refuse volumes with more voxels than this.
        channel: channel of a 4-D NIfTI to use.

    Raises:
        ImageError: one of its subclasses, with a message saying what to do.
        FileNotFoundError: ``src`` is a path that does not exist.
    """
    # pydicom (core.io.dicom_series) is imported only when a DICOM file or zip comes: 0.2 s per page
    if isinstance(src, Sequence) and not isinstance(src, (bytes, bytearray, memoryview, str)):
        from core.io.dicom_series import load_dicom_series

        return load_dicom_series(list(src), expect_modality=expect_modality, max_voxels=max_voxels)
    data, name = _source_bytes(src, name)
    lower = (name or "").lower()
    if not data:
        raise UnsupportedFormatError(f"the file is empty; upload {ACCEPTED}")
    if data[:2] == b"\x1f\x8b" or nifti_class(data) is not None or lower.endswith((".nii", ".nii.gz")):
        return read_nifti(data, channel=channel, max_voxels=max_voxels)
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        from core.io.dicom_series import dicom_files_from_zip, load_dicom_series

        return load_dicom_series(dicom_files_from_zip(data), expect_modality=expect_modality,
                                 max_voxels=max_voxels)
    if data[128:132] == b"DICM" or lower.endswith(DICOM_SUFFIXES):
        return dicom_file_volume(data, dcm_suffix=data[128:132] != b"DICM",
                                 expect_modality=expect_modality, max_voxels=max_voxels)
    if not any(data.startswith(m) for m in IMAGE_MAGIC) and data[8:12] != b"WEBP":
        raise UnsupportedFormatError(f"this is not a format we read; upload {ACCEPTED}")
    return image_volume(load_image(data, max_pixels=max_voxels))


def _source_bytes(src: Any, name: str | None) -> tuple[bytes, str | None]:
    """The bytes of ``src`` and its name (never quoted in a message: it may be a patient's name)."""
    if isinstance(src, (str, os.PathLike)):
        size, name = Path(src).stat().st_size, name or Path(src).name  # size before reading
    elif isinstance(src, (bytes, bytearray, memoryview)):
        size = len(src)
    else:
        raise TypeError(f"load_volume expects bytes, a path or (name, bytes) pairs, got "
                        f"{type(src).__name__}; pass an upload as uploaded_file.getvalue()")
    if size > MAX_BYTES:
        raise ImageTooLargeError(f"the file is {size:,} bytes, over the limit of {MAX_BYTES:,}")
    return (Path(src).read_bytes() if isinstance(src, (str, os.PathLike)) else bytes(src)), name


def dicom_file_volume(data: bytes, *, dcm_suffix: bool = False, expect_modality: str | None = None,
                      max_voxels: int = MAX_VOXELS) -> Volume:
    """One DICOM file as a 1-slice volume (first frame), with its slice thickness when stated."""
    import pydicom

    from core.io.dicom_series import check_modality, safe_meta, slice_thickness

    img = load_image(data, max_pixels=max_voxels, name=".dcm" if dcm_suffix else None)
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)  # header, for the tags
    check_modality(ds, expect_modality, "image")
    thickness = slice_thickness(ds)
    return image_volume(img, thickness, safe_meta(ds) | {"slices": 1})

