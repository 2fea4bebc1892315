"""Load an image from bytes or a path into :class:`ImageData`, entirely in memory.

PNG, JPEG, TIFF, BMP (and WebP, for face photos) are read with Pillow, DICOM with pydicom.
Nothing is ever written to disk: bytes are wrapped in :class:`io.BytesIO`. Every refusal is an
:class:`ImageError` whose message says what was found and what to do. Only an allow-list of
technical metadata is kept, so patient-identifying DICOM tags never leave this module.
"""
from __future__ import annotations

import io
import logging
import math
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pydicom
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_rescale, get_decoder, pixel_array
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

log = logging.getLogger(__name__)

MAX_PIXELS: int = 40_000_000
MAX_BYTES: int = 200 * 1024 * 1024

ACCEPTED_FORMATS = "PNG, JPEG, TIFF, BMP or DICOM"
_SAVE_HINT = "save it as 8-bit greyscale or RGB PNG"
_ALPHA_NOTE = "alpha channel dropped (composited on black)"
_PIL_FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "WEBP")  # never let Pillow try EPS, PSD, ... plugins
_MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"II*\x00": "TIFF",
          b"MM\x00*": "TIFF", b"II+\x00": "TIFF", b"MM\x00+": "TIFF", b"BM": "BMP"}
_DICOM_SUFFIXES = (".dcm", ".dicom")
# Errors Pillow and pydicom raise on damaged input; none of them means a bug on our side.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError,
                  TypeError, AttributeError, RuntimeError, ArithmeticError, struct.error,
                  InvalidDicomError)
# Allow-list: DICOM keyword -> meta key. Nothing else is copied (no patient or site data).
_SAFE_DICOM_TAGS = {"Modality": "modality", "BitsStored": "bit_depth",
                    "PhotometricInterpretation": "photometric_interpretation",
                    "Rows": "rows", "Columns": "cols",
                    "ManufacturerModelName": "manufacturer_model_name"}


class ImageError(ValueError):
    """Base class: the input cannot be turned into an image we can analyse."""


class UnsupportedFormatError(ImageError):
    """Not a format we read (random bytes, PDF, text, ...)."""


class CorruptImageError(ImageError):
    """A recognised format, but truncated or broken."""


class ImageTooLargeError(ImageError):
    """Over the pixel or byte limit (decompression bomb guard)."""


class ChannelLayoutError(ImageError):
    """A channel layout we do not handle (e.g. 2 or 5 samples per pixel)."""


@dataclass(frozen=True)
class ImageData:
    """A decoded image plus the little we trust about it.

    Attributes:
        pixels: HxW (grey) or HxWx3 (RGB) array, uint8 or uint16; float32 for DICOM after
            rescale slope/intercept, 32-bit float TIFF or out-of-range 32-bit integers.
            Never has an alpha channel.
        spacing_mm: (row, col) pixel size in mm when the file states it, else None.
        format: "PNG", "JPEG", "TIFF", "BMP", "WEBP" or "DICOM".
        meta: safe technical metadata only (bit_depth, modality, ...) plus ``notes``, a tuple
            of human-readable remarks about what loading changed.
    """

    pixels: np.ndarray
    spacing_mm: tuple[float, float] | None = None
    format: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)


def load_image(src: bytes | bytearray | memoryview | str | os.PathLike, *,
               max_pixels: int = MAX_PIXELS, name: str | None = None) -> ImageData:
    """Decode an image held in memory or stored at a path.

    Args:
        src: the file's bytes, or a path to it (read whole with ``Path.read_bytes``).
        max_pixels: refuse images whose width*height exceeds this (checked before decoding).
        name: original file name of uploaded bytes; only its suffix is used, to recognise a
            DICOM file without the 128-byte preamble (``.dcm``). Defaults to the path's name.

    Returns:
        The decoded :class:`ImageData`.

    Raises:
        ImageError: one of its subclasses, with a message saying what to do.
        FileNotFoundError: ``src`` is a path that does not exist.
    """
    data, name = _read_source(src, name)
    if not data:
        raise UnsupportedFormatError(f"the file is empty; choose a {ACCEPTED_FORMATS} image")
    if data[128:132] == b"DICM":
        return _load_dicom(data, max_pixels, forced=False)
    fmt = next((f for magic, f in _MAGIC.items() if data.startswith(magic)), None)
    if fmt is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":  # RIFF alone is also WAV, AVI
        fmt = "WEBP"
    if fmt is None and name and name.lower().endswith(_DICOM_SUFFIXES):
        return _load_dicom(data, max_pixels, forced=True)
    return _load_pillow(data, fmt, max_pixels)


def _read_source(src: Any, name: str | None) -> tuple[bytes, str | None]:
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        _check_bytes(len(data), name or "the upload")
        return data, name
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        _check_bytes(path.stat().st_size, path.name)  # before reading it into memory
        return path.read_bytes(), name or path.name
    raise TypeError(f"load_image expects bytes or a path, got {type(src).__name__}; "
                    "pass an upload as uploaded_file.getvalue()")


def _check_bytes(size: int, what: str) -> None:
    if size > MAX_BYTES:
        raise ImageTooLargeError(f"{what} is {size:,} bytes, over the limit of {MAX_BYTES:,}; "
                                 "export a single frame or a downscaled copy")


def _check_pixels(rows: int, cols: int, max_pixels: int) -> None:
    if rows * cols > max_pixels:
        raise ImageTooLargeError(
            f"the image is {cols}x{rows} = {rows * cols:,} pixels, over the limit of "
            f"{max_pixels:,}; downscale or crop it before loading")


# ---------------------------------------------------------------- Pillow formats
def _load_pillow(data: bytes, fmt: str | None, max_pixels: int) -> ImageData:
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # set globally by someone: damage would pass silently
        log.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on; truncated files will load")
    try:
        im = Image.open(io.BytesIO(data), formats=_PIL_FORMATS)  # lazy: reads the header only
        _check_pixels(im.height, im.width, max_pixels)  # before a single pixel is decoded
        fmt = im.format or fmt
        frames = int(getattr(im, "n_frames", 1))
        im.load()
        orientation = im.getexif().get(0x0112, 1)
        im = ImageOps.exif_transpose(im)  # phone/scanner JPEGs store rotation in EXIF
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        if fmt is None:
            raise UnsupportedFormatError(
                f"this is not a {ACCEPTED_FORMATS} image; export it as one of those") from exc
        raise _diagnose(data, fmt) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard (also raised under ``python -W error``) speaks of DOS attacks.
        raise ImageTooLargeError(f"the image is too large to decode safely ({exc}); the "
                                 f"limit is {max_pixels:,} pixels: downscale or crop it") from exc
    except _DECODE_ERRORS as exc:
        raise CorruptImageError(f"the {fmt or 'image'} file is damaged or truncated ({exc}); "
                                "export it again") from exc
    notes = [f"multi-page {fmt}: first of {frames} pages used"] if frames > 1 else []
    if orientation not in (1, None):
        notes.append(f"EXIF orientation {orientation} applied")
    mode = im.mode
    pixels, bit_depth = _pil_pixels(im, notes)
    meta = {"bit_depth": bit_depth, "mode": mode, "frames": frames, "notes": tuple(notes)}
    return ImageData(np.ascontiguousarray(pixels), None, fmt or "image", meta)


def _diagnose(data: bytes, fmt: str) -> ImageError:
    """Explain why Pillow refused a file whose signature says it is ``fmt``."""
    Image.init()
    reason = "no reason given"
    try:
        Image.OPEN[fmt][0](io.BytesIO(data))  # the plugin itself keeps the real message
    except _DECODE_ERRORS as exc:
        reason = str(exc) or type(exc).__name__
    if "mode" in reason:
        return ChannelLayoutError(f"the {fmt} file has a channel layout we cannot read "
                                  f"({reason}); {_SAVE_HINT}")
    return CorruptImageError(f"the {fmt} file is damaged or truncated ({reason}); "
                             "export it again")


def _pil_pixels(im: Image.Image, notes: list[str]) -> tuple[np.ndarray, int]:
    mode = im.mode
    if mode in ("L", "RGB"):
        return np.asarray(im), 8
    if mode == "I" or mode.startswith("I;16"):
        return _integer_pixels(np.asarray(im), notes)
    if mode == "F":
        return np.asarray(im, dtype=np.float32), 32
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        notes.append(_ALPHA_NOTE)
        return _composite_on_black(im), 8
    if mode == "1":
        return np.asarray(im.convert("L")), 8
    if mode in ("P", "CMYK", "YCbCr", "RGBX"):
        return np.asarray(im.convert("RGB")), 8
    raise ChannelLayoutError(f"the image has Pillow mode {mode!r}, which we do not handle; "
                             f"{_SAVE_HINT}")


def _integer_pixels(arr: np.ndarray, notes: list[str]) -> tuple[np.ndarray, int]:
    """16/32-bit integer images: uint16 when the values fit, else float32 (values kept)."""
    if arr.size and arr.min() >= 0 and arr.max() <= np.iinfo(np.uint16).max:
        return arr.astype(np.uint16), 16
    notes.append("integer values outside 0..65535 kept as float32")
    return arr.astype(np.float32), 32


def _composite_on_black(im: Image.Image) -> np.ndarray:
    """Drop alpha by compositing on black, the background of ultrasound frames."""
    arr = np.asarray(im.convert("LA" if im.mode == "LA" else "RGBA"), dtype=np.uint16)
    out = ((arr[..., :-1] * arr[..., -1:] + 127) // 255).astype(np.uint8)
    return out[..., 0] if out.shape[-1] == 1 else out


# ---------------------------------------------------------------- DICOM
def _load_dicom(data: bytes, max_pixels: int, *, forced: bool) -> ImageData:
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=forced)
    except _DECODE_ERRORS as exc:
        raise CorruptImageError(f"the DICOM file could not be parsed ({exc}); "
                                "export it again") from exc
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise CorruptImageError("the DICOM file has no pixel data (perhaps a report or a "
                                "presentation state); export the image series itself")
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames") or 1)
    except _DECODE_ERRORS as exc:
        raise CorruptImageError(f"the DICOM file has no valid Rows/Columns ({exc}); "
                                "export it again") from exc
    # Only the first frame is decoded, so a long cine loop is fine as long as one frame fits.
    _check_pixels(rows, cols, max_pixels)
    syntax = _transfer_syntax(ds)
    notes = [f"multi-frame DICOM: first of {frames} frames used"] if frames > 1 else []
    pixels = _dicom_pixels(ds, syntax, notes)
    try:
        spacing = _dicom_spacing(ds)
    except _DECODE_ERRORS as exc:  # a malformed spacing tag must not cost us the image
        log.warning("ignoring unreadable DICOM pixel spacing: %s", exc)
        spacing = None
    meta: dict[str, Any] = {key: int(v) if isinstance(v, int) else str(v)
                            for kw, key in _SAFE_DICOM_TAGS.items()
                            if (v := ds.get(kw)) not in (None, "")}
    meta.update(frames=frames, transfer_syntax=syntax.name, notes=tuple(notes))
    return ImageData(np.ascontiguousarray(pixels), spacing, "DICOM", meta)


def _transfer_syntax(ds: pydicom.Dataset) -> pydicom.uid.UID:
    """Return the transfer syntax, inferring it for preamble-less files read with force."""
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is None:
        implicit, little = ds.original_encoding
        syntax = (ImplicitVRLittleEndian if implicit else
                  ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
        ds.ensure_file_meta()
        ds.file_meta.TransferSyntaxUID = syntax
    return syntax


def _dicom_pixels(ds: pydicom.Dataset, syntax: pydicom.uid.UID, notes: list[str]) -> np.ndarray:
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
    except _DECODE_ERRORS as exc:
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
                                 f"nor RGB; {_SAVE_HINT}")
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


# ---------------------------------------------------------------- display conversions
def to_gray_u8(img: ImageData | np.ndarray) -> np.ndarray:
    """Return an HxW uint8 C-contiguous greyscale copy of ``img``.

    uint8 grey is copied unchanged, RGB becomes luminance, and other dtypes are scaled
    linearly from their 0.5th..99.5th percentile range to 0..255.
    """
    arr = _as_array(img)
    if arr.ndim == 3:
        return cv2.cvtColor(np.ascontiguousarray(_to_u8(arr)), cv2.COLOR_RGB2GRAY)
    return _fresh(_to_u8(arr), arr)


def to_rgb_u8(img: ImageData | np.ndarray) -> np.ndarray:
    """Return an HxWx3 uint8 C-contiguous RGB copy of ``img`` (grey is repeated 3 times)."""
    arr = _as_array(img)
    if arr.ndim == 2:
        return cv2.cvtColor(to_gray_u8(arr), cv2.COLOR_GRAY2RGB)
    return _fresh(_to_u8(arr), arr)


def _as_array(img: ImageData | np.ndarray) -> np.ndarray:
    arr = img.pixels if isinstance(img, ImageData) else np.asarray(img)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.size and (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3)):
        return arr
    raise ChannelLayoutError(f"expected an HxW greyscale or HxWx3 RGB image, got shape "
                             f"{arr.shape}; {_SAVE_HINT}")


def _to_u8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    # A robust window: a few hot pixels must not squash the rest of the image to black.
    x = np.nan_to_num(arr.astype(np.float32))
    lo, hi = (float(v) for v in np.percentile(x, (0.5, 99.5)))
    if hi <= lo:
        lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return np.zeros(x.shape, np.uint8)
    return np.clip(np.rint((x - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)


def _fresh(out: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Never hand back the caller's own buffer: drawing on the result must not alter it."""
    return out.copy(order="C") if out is src else np.ascontiguousarray(out)
