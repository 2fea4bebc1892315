"""What every 2-D reader shares: :class:`ImageData`, the error classes, and the size limits.

:mod:`core.io.image` (Pillow formats) and :mod:`core.io.dicom` (DICOM frames) both build these,
so they live here, below both. Every refusal is an :class:`ImageError` whose message says what
was found and what to do.
"""
from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_PIXELS: int = 40_000_000
MAX_BYTES: int = 200 * 1024 * 1024

ACCEPTED_FORMATS = "PNG, JPEG, TIFF, BMP or DICOM"
SAVE_HINT = "save it as 8-bit greyscale or RGB PNG"
# Errors Pillow raises on damaged input; none of them means a bug on our side. pydicom adds its own
# (core.io.dicom.DICOM_ERRORS): it is imported only when a DICOM file comes (0.2 s on every page otherwise).
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError,
                 TypeError, AttributeError, RuntimeError, ArithmeticError, struct.error)
DICOM_SUFFIXES = (".dcm", ".dicom")


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


def check_pixels(rows: int, cols: int, max_pixels: int) -> None:
    """Raise :class:`ImageTooLargeError` when ``rows * cols`` exceeds ``max_pixels``."""
    if rows * cols > max_pixels:
        raise ImageTooLargeError(
            f"the image is {cols}x{rows} = {rows * cols:,} pixels, over the limit of "
            f"{max_pixels:,}; downscale or crop it before loading")

