"""DICOM, in memory (pydicom): one 2-D frame into :class:`ImageData` (its pixels, photometry and
spacing); :mod:`core.io.dicom_series` stacks the frames of a series into a volume.

Only the first frame of a multi-frame file is decoded. Privacy: only an allow-list of technical
metadata is kept, so patient-identifying tags never leave this module.
"""
from __future__ import annotations

import io
import logging
import math
from typing import Any

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_rescale, get_decoder, pixel_array
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from core.io.image_types import (
    DECODE_ERRORS,
    SAVE_HINT,
    ChannelLayoutError,
    CorruptImageError,
    ImageData,
    UnsupportedFormatError,
    check_pixels,
)

log = logging.getLogger(__name__)

DICOM_ERRORS = (*DECODE_ERRORS, InvalidDicomError)  # what damaged DICOM input raises

# Allow-list: DICOM keyword -> meta key. Nothing else is copied (no patient or site data).
_SAFE_DICOM_TAGS = {"Modality": "modality", "BitsStored": "bit_depth",
                    "PhotometricInterpretation": "photometric_interpretation",
                    "Rows": "rows", "Columns": "cols",
                    "ManufacturerModelName": "manufacturer_model_name"}


def decode_dicom_frame(data: bytes, max_pixels: int, *, forced: bool) -> ImageData:
    """Decode the first frame of a DICOM file (``forced``: read it without the 128-byte preamble)."""
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=forced)
    except DICOM_ERRORS as exc:
        raise CorruptImageError(f"the DICOM file could not be parsed ({exc}); "
                                "export it again") from exc
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise CorruptImageError("the DICOM file has no pixel data (perhaps a report or a "
                                "presentation state); export the image series itself")
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames") or 1)
    except DICOM_ERRORS as exc:
        raise CorruptImageError(f"the DICOM file has no valid Rows/Columns ({exc}); "
                                "export it again") from exc
    # Only the first frame is decoded, so a long cine loop is fine as long as one frame fits.
    check_pixels(rows, cols, max_pixels)
    syntax = transfer_syntax(ds)
    notes = [f"multi-frame DICOM: first of {frames} frames used"] if frames > 1 else []
    pixels = dicom_pixels(ds, syntax, notes)
    try:
        spacing = _dicom_spacing(ds)
    except DICOM_ERRORS as exc:  # a malformed spacing tag must not cost us the image
        log.warning("ignoring unreadable DICOM pixel spacing: %s", exc)
        spacing = None
    meta: dict[str, Any] = {key: int(v) if isinstance(v, int) else str(v)
                            for kw, key in _SAFE_DICOM_TAGS.items()
                            if (v := ds.get(kw)) not in (None, "")}
    meta.update(frames=frames, transfer_syntax=syntax.name, notes=tuple(notes))
    return ImageData(np.ascontiguousarray(pixels), spacing, "DICOM", meta)


def transfer_syntax(ds: pydicom.Dataset) -> pydicom.uid.UID:
    """Return the transfer syntax, inferring it for preamble-less files read with force."""
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is None:
        implicit, little = ds.original_encoding
        syntax = (ImplicitVRLittleEndian if implicit else
                  ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
        ds.ensure_file_meta()
        ds.file_meta.TransferSyntaxUID = syntax
    return syntax


def dicom_pixels(ds: pydicom.Dataset, syntax: pydicom.uid.UID, notes: list[str]) -> np.ndarray:
    """The first frame of ``ds`` as HxW or HxWx3 (uint8, uint16 or float32), display-ready photometry."""
    if syntax.is_compressed:
        try:
            decoder = get_decoder(syntax)
        except NotImplementedError as exc:
            raise UnsupportedFormatError(f"compressed transfer syntax {syntax.name} is not "
                                         "supported; export it uncompressed") from exc
        if not decoder.is_available:
            raise UnsupportedFormatError(
                f"compressed transfer syntax {syntax.name} needs a decoder that is not "
                f"installed ({'; '.join(decoder.missing_dependencies)}), e.g. pylibjpeg; "
                "export it uncompressed (Explicit VR Little Endian)")
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    try:
        # pydicom 3 converts YBR_FULL(_422) to RGB itself (as_rgb=True): do not convert twice.
        arr = pixel_array(ds, index=0, as_rgb=True)
        if photometric == "PALETTE COLOR":
            arr = apply_color_lut(arr, ds)
        elif ds.get("SamplesPerPixel", 1) == 1 and ("RescaleSlope" in ds
                                                    or "RescaleIntercept" in ds):
            arr = apply_rescale(arr, ds).astype(np.float32)
            notes.append("rescale slope/intercept applied (float32)")
    except DICOM_ERRORS as exc:
        raise CorruptImageError(f"the DICOM pixel data could not be decoded ({exc}); "
                                "export it again uncompressed") from exc
    if photometric.startswith("YBR"):
        notes.append(f"{photometric} converted to RGB")
    if arr.dtype not in (np.uint8, np.uint16, np.float32):
        arr = arr.astype(np.float32)  # signed or 32-bit stored values, kept as numbers
    if photometric == "MONOCHROME1":
        arr = _invert(arr, int(ds.get("BitsStored") or arr.itemsize * 8))
        notes.append("MONOCHROME1 inverted so that high values are bright")
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3)):
        raise ChannelLayoutError(f"the DICOM frame has shape {arr.shape}, neither greyscale "
                                 f"nor RGB; {SAVE_HINT}")
    return arr


def _invert(arr: np.ndarray, bits_stored: int) -> np.ndarray:
    if arr.dtype.kind == "u":
        top = (1 << min(bits_stored, arr.itemsize * 8)) - 1
        return (top - np.minimum(arr, top)).astype(arr.dtype)
    return (float(arr.min()) + float(arr.max()) - arr).astype(np.float32)


def _dicom_spacing(ds: pydicom.Dataset) -> tuple[float, float] | None:
    """(row, col) mm per pixel from the first tag that states it, else None."""
    shared = ds.get("SharedFunctionalGroupsSequence")
    measures = shared[0].get("PixelMeasuresSequence") if shared else None
    for value in (ds.get("PixelSpacing"), ds.get("ImagerPixelSpacing"),
                  measures[0].get("PixelSpacing") if measures else None):
        if value is not None and len(value) == 2:
            return _positive_pair(float(value[0]), float(value[1]))
    regions = ds.get("SequenceOfUltrasoundRegions")
    if regions:
        region = regions[0]
        units = (region.get("PhysicalUnitsXDirection"), region.get("PhysicalUnitsYDirection"))
        if units == (3, 3):  # 3 is centimetres; other codes (seconds, Hz, ...) are not lengths
            return _positive_pair(abs(float(region.PhysicalDeltaY)) * 10,
                                  abs(float(region.PhysicalDeltaX)) * 10)
    return None


def _positive_pair(row: float, col: float) -> tuple[float, float] | None:
    if all(math.isfinite(v) and v > 0 for v in (row, col)):
        return round(row, 9), round(col, 9)  # cm -> mm products like 0.15000000000000002
    log.warning("ignoring DICOM pixel spacing %r x %r: not positive", row, col)
    return None


# ---------------------------------------------------------------- series
