"""Load an image from bytes or a path into :class:`ImageData`, entirely in memory.

PNG, JPEG, TIFF, BMP (and WebP, for face photos) are read with Pillow here, DICOM by
:mod:`core.io.dicom`; the format is recognised by content. Nothing is ever written to disk: bytes
are wrapped in :class:`io.BytesIO`. Every refusal is an :class:`ImageError` (:mod:`core.io.image_types`,
re-exported here with :class:`ImageData` and the limits) whose message says what was found and what
to do. Also the display conversions :func:`to_gray_u8` and :func:`to_rgb_u8`.
"""
from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from core.io.image_types import (
    ACCEPTED_FORMATS,
    DECODE_ERRORS,
    DICOM_SUFFIXES,
    MAX_BYTES,
    MAX_PIXELS,
    SAVE_HINT,
    ChannelLayoutError,
    CorruptImageError,
    ImageData,
    ImageError,
    ImageTooLargeError,
    UnsupportedFormatError,
    check_pixels,
)

__all__ = ["ACCEPTED_FORMATS", "IMAGE_MAGIC", "MAX_BYTES", "MAX_PIXELS", "ChannelLayoutError",
           "CorruptImageError", "ImageData", "ImageError", "ImageTooLargeError", "UnsupportedFormatError",
           "PHOTO_CHROMA", "load_image", "mean_chroma", "to_gray_u8", "to_rgb_u8"]

log = logging.getLogger(__name__)

_ALPHA_NOTE = "alpha channel dropped (composited on black)"
_PIL_FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "WEBP")  # never let Pillow try EPS, PSD, ... plugins
IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"II*\x00": "TIFF",
               b"MM\x00*": "TIFF", b"II+\x00": "TIFF", b"MM\x00+": "TIFF", b"BM": "BMP"}


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
        from core.io.dicom import decode_dicom_frame  # pydicom only when a DICOM file comes

        return decode_dicom_frame(data, max_pixels, forced=False)
    fmt = next((f for magic, f in IMAGE_MAGIC.items() if data.startswith(magic)), None)
    if fmt is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":  # RIFF alone is also WAV, AVI
        fmt = "WEBP"
    if fmt is None and name and name.lower().endswith(DICOM_SUFFIXES):
        from core.io.dicom import decode_dicom_frame

        return decode_dicom_frame(data, max_pixels, forced=True)
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



# ---------------------------------------------------------------- Pillow formats
def _load_pillow(data: bytes, fmt: str | None, max_pixels: int) -> ImageData:
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # set globally by someone: damage would pass silently
        log.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on; truncated files will load")
    try:
        im = Image.open(io.BytesIO(data), formats=_PIL_FORMATS)  # lazy: reads the header only
        check_pixels(im.height, im.width, max_pixels)  # before a single pixel is decoded
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
    except DECODE_ERRORS as exc:
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
    except DECODE_ERRORS as exc:
        reason = str(exc) or type(exc).__name__
    if "mode" in reason:
        return ChannelLayoutError(f"the {fmt} file has a channel layout we cannot read "
                                  f"({reason}); {SAVE_HINT}")
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
                             f"{SAVE_HINT}")


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


# Mean chroma above which an image is a colour photograph, not a greyscale scan: the bundled face
# photos measure 32-57; greyscale B-mode ultrasound and MR measure 0 (a colour Doppler box or
# coloured annotations stay well below on a whole frame).
PHOTO_CHROMA = 25.0


def mean_chroma(img: ImageData | np.ndarray) -> float:
    """Mean over the pixels of (largest - smallest colour channel), on the 0..255 scale (16-bit
    scaled down); 0 for a greyscale image."""
    arr = _as_array(img)
    if arr.ndim == 2:
        return 0.0
    scale = 255.0 / 65535.0 if arr.dtype == np.uint16 else 1.0
    return float(np.mean(arr.max(axis=2).astype(np.float32) - arr.min(axis=2))) * scale


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
                             f"{arr.shape}; {SAVE_HINT}")


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
