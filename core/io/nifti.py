"""NIfTI-1/-2 (plain or gzipped) into a display-oriented :class:`Volume`, and results back to NIfTI.

Only allow-listed technical header fields reach ``meta`` (never ``descrip`` or ``aux_file``, which
can hold a patient's name). :func:`to_nifti_bytes` writes a display-grid result on the uploaded
file's own grid, so it overlays the upload in any viewer.
"""
from __future__ import annotations

import gzip
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from core.io.image_types import (
    DECODE_ERRORS,
    ChannelLayoutError,
    CorruptImageError,
    ImageTooLargeError,
    UnsupportedFormatError,
)
from core.io.lazy import lazy_module
from core.io.volume_types import (
    ACCEPTED,
    MAX_UNPACKED,
    MAX_VOXELS,
    Volume,
    VolumeError,
    display_affine,
    make_volume,
)

nib = lazy_module("nibabel")  # 0.2 s with pydicom: imported when a NIfTI file first comes


def nifti_errors() -> tuple[type[BaseException], ...]:
    """What a damaged NIfTI file raises (a function: naming nibabel's errors imports nibabel)."""
    return (*DECODE_ERRORS, nib.filebasedimages.ImageFileError, nib.spatialimages.HeaderDataError)


_HEADER_BYTES = 544  # a NIfTI-2 header and its extension flag; NIfTI-1 needs 352
_GZ_SLACK = 1 << 20  # bytes a .gz may hold past what its header promises (extensions, padding)
_UNIT_TO_MM = {"meter": 1000.0, "micron": 0.001}


def read_nifti(data: bytes, *, channel: int = 0, max_voxels: int = MAX_VOXELS) -> Volume:
    """Decode NIfTI-1/-2 bytes (plain or gzipped) into a display-oriented :class:`Volume`.

    Args:
        data: the whole ``.nii`` or ``.nii.gz`` file.
        channel: for 4-D files (multi-sequence XxYxZxC, or time series) the index kept.
        max_voxels: refuse volumes with more voxels than this (checked before decoding).

    Raises:
        ImageError: one of its subclasses, with a message saying what to do.
    """
    if data[:2] == b"\x1f\x8b":  # the header first: a small .gz can claim or expand to a huge volume
        expected = _expected_bytes(_gunzip_head(data), max_voxels)
        raw = _gunzip(data, None if expected is None else expected + _GZ_SLACK)
    else:
        raw = data
    klass = nifti_class(raw)
    if klass is None:
        raise UnsupportedFormatError(f"this is not a NIfTI file (no NIfTI-1/-2 header); upload {ACCEPTED}")
    try:
        img = klass.from_bytes(raw)
        hdr = img.header
    except nifti_errors() as exc:
        raise CorruptImageError(f"the NIfTI header could not be read ({exc}); export it again") from exc
    notes: list[str] = []
    arr = _nifti_array(img, channel, max_voxels, notes)
    affine, qcode, scode = np.asarray(img.affine, np.float64), int(hdr["qform_code"]), int(hdr["sform_code"])
    if qcode == 0 and scode == 0:
        notes.append("the header states no orientation (qform/sform codes 0): nibabel's default used")
    usable = np.isfinite(affine).all() and abs(np.linalg.det(affine[:3, :3])) > 1e-12
    if not usable:
        affine = np.diag([-1.0, -1.0, 1.0, 1.0])  # the layout of a plain 2-D image
        notes.append("the header's affine is unusable: L,P,S voxel order assumed, spacing unknown")
    unit = hdr.get_xyzt_units()[0]
    if unit in _UNIT_TO_MM:
        notes.append(f"spatial unit {unit} converted to mm")
    meta = {"nifti_version": 2 if klass is nib.Nifti2Image else 1, "datatype": str(hdr.get_data_dtype()),
            "shape": tuple(int(n) for n in img.shape), "qform_code": qcode, "sform_code": scode}
    dims = min(3, len(img.shape))  # a 2-D file has no slice spacing to check
    zooms = stored_pixdim(raw, klass)[1:1 + dims]  # as stored: nibabel reads a 0 as 1
    if usable and not (np.isfinite(zooms) & (zooms > 0)).all():
        usable = False
        notes.append("the header's voxel size holds a zero or invalid value: spacing unknown, "
                     "sizes in voxels")
    return make_volume(arr, affine, "NIfTI", meta, notes, spacing_known=bool(usable),
                       unit_mm=_UNIT_TO_MM.get(unit, 1.0))


def _nifti_array(img: nib.Nifti1Image, channel: int, max_voxels: int, notes: list[str]) -> np.ndarray:
    """The 3-D float32 voxel array of ``img`` (one channel of a 4-D file)."""
    shape = tuple(int(n) for n in img.shape)
    while len(shape) > 4 and shape[-1] == 1:
        shape = shape[:-1]
    if not 2 <= len(shape) <= 4:
        raise ChannelLayoutError(f"the NIfTI image has shape {shape}; expected a 3-D volume (or 4-D "
                                 "with channels); save one 3-D volume per file")
    if int(np.prod(shape[:3])) > max_voxels:
        raise ImageTooLargeError(f"the volume is {'x'.join(map(str, shape[:3]))} voxels, over the limit "
                                 f"of {max_voxels:,}; crop or resample it")
    channels = shape[3] if len(shape) == 4 else 1
    if not 0 <= channel < channels:
        raise VolumeError(f"channel {channel} requested but the file has {channels} (0..{channels - 1})")
    if channels > 1:
        notes.append(f"4-D NIfTI with {channels} channels (sequences or time points): channel {channel} used")
    try:
        arr = np.asarray(img.dataobj[..., channel] if len(img.shape) >= 4 else img.dataobj)
        arr = arr.reshape(shape[:3] if len(shape) >= 3 else (*shape, 1))
    except nifti_errors() as exc:
        reason = " ".join(str(exc).split())  # nibabel's message spans two lines
        raise CorruptImageError(f"the NIfTI voxel data is truncated or damaged ({reason}); "
                                "export it again") from exc
    if arr.dtype.kind not in "biuf":
        raise ChannelLayoutError(f"NIfTI voxels of type {arr.dtype} are not supported; "
                                 "save a scalar (greyscale) volume")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        notes.append("NaN/infinite voxels set to 0")
        arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    return arr


def stored_pixdim(raw: bytes, klass: type[nib.Nifti1Image]) -> np.ndarray:
    """The header's ``pixdim[0..7]`` exactly as stored (float32 in NIfTI-1 at byte 76, float64 in
    NIfTI-2 at byte 104), before nibabel replaces zero voxel sizes by 1."""
    end = "<" if struct.unpack("<i", raw[:4])[0] in (348, 540) else ">"
    if klass is nib.Nifti2Image:
        return np.asarray(struct.unpack(end + "8d", raw[104:168]), np.float64)
    return np.asarray(struct.unpack(end + "8f", raw[76:108]), np.float64)


def nifti_class(raw: bytes) -> type[nib.Nifti1Image] | None:
    """NIfTI-1 or -2 image class from sizeof_hdr (348 / 540, either endianness) and the magic; None
    when ``raw`` (uncompressed) is not NIfTI."""
    if len(raw) < 348:
        return None
    sizes = {struct.unpack("<i", raw[:4])[0], struct.unpack(">i", raw[:4])[0]}
    if 348 in sizes and raw[344:348] in (b"n+1\x00", b"ni1\x00"):
        if raw[344:348] == b"ni1\x00":
            raise UnsupportedFormatError("this is the header of a NIfTI .hdr/.img pair; convert it "
                                         "to a single .nii or .nii.gz file")
        return nib.Nifti1Image
    if 540 in sizes and raw[4:8] == b"n+2\x00":
        return nib.Nifti2Image
    return None


def _gunzip_head(data: bytes) -> bytes:
    """The first bytes of a .gz (enough for a NIfTI-2 header), inflating nothing more."""
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[:1 << 16], _HEADER_BYTES)
    except zlib.error as exc:
        raise CorruptImageError(f"the .gz file is damaged ({exc}); export it again") from exc


def _expected_bytes(head: bytes, max_voxels: int) -> int | None:
    """The size a NIfTI file's header promises (offset + voxels), refusing a volume over
    ``max_voxels`` before anything is inflated; None when ``head`` is no NIfTI header."""
    klass = nifti_class(head)
    if klass is None:
        return None
    try:
        hdr = klass.header_class.from_fileobj(io.BytesIO(head))
        shape, itemsize = hdr.get_data_shape(), hdr.get_data_dtype().itemsize
        offset = int(hdr.get_data_offset())
    except nifti_errors() as exc:
        raise CorruptImageError(f"the NIfTI header could not be read ({exc}); export it again") from exc
    voxels = int(np.prod(shape[:3], dtype=np.int64))
    if voxels > max_voxels:
        raise ImageTooLargeError(f"the volume is {'x'.join(map(str, shape[:3]))} voxels, over the limit "
                                 f"of {max_voxels:,}; crop or resample it")
    return offset + int(np.prod(shape, dtype=np.int64)) * itemsize


def _gunzip(data: bytes, limit: int | None = None) -> bytes:
    """gzip.decompress with a cap on the output size (a small .gz can expand to terabytes): the
    size the header promises when known, else :data:`MAX_UNPACKED`."""
    out, rest = bytearray(), data
    limit = MAX_UNPACKED if limit is None else min(limit, MAX_UNPACKED)
    try:
        while rest:
            unzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += unzip.decompress(rest, limit + 1 - len(out))
            if len(out) > limit:
                raise ImageTooLargeError(f"the .gz file expands to over {limit:,} bytes; "
                                         "upload a smaller volume")
            if not unzip.eof:
                raise CorruptImageError("the .gz file is truncated; export or download it again")
            rest = unzip.unused_data if unzip.unused_data[:2] == b"\x1f\x8b" else b""
    except zlib.error as exc:
        raise CorruptImageError(f"the .gz file is damaged ({exc}); export it again") from exc
    return bytes(out)


def _nifti_bytes(data: np.ndarray, affine: np.ndarray, dtype: DTypeLike, gz: bool) -> bytes:
    img = nib.Nifti1Image(np.asarray(data).astype(dtype), affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm")
    raw = img.to_bytes()
    return gzip.compress(raw, mtime=0) if gz else raw


def to_nifti_bytes(display: np.ndarray, volume: Volume, *, dtype: DTypeLike = np.uint8,
                   gz: bool = True) -> bytes:
    """Encode a ZxHxW display-grid array (e.g. a mask) as NIfTI on ``volume``'s original grid.

    With the original affine it overlays the uploaded file in any viewer (ITK-SNAP, 3D Slicer).
    Built in memory; ``.nii.gz`` bytes unless ``gz`` is False.
    """
    return _nifti_bytes(volume.to_source(display), volume.affine, dtype, gz)


def write_nifti(path: str | os.PathLike, display: np.ndarray, spacing_mm: tuple[float, float, float], *,
                dtype: DTypeLike = np.float32) -> None:
    """Write a ZxHxW display-orientation array as NIfTI on L,P,S axes, centred at the origin.

    For phantom generators. ``spacing_mm`` is (slice, row, col); gzipped when ``path`` ends in .gz.
    """
    data = np.asarray(display).transpose(2, 1, 0)  # (col, row, slice): axes L, P, S
    affine = display_affine(np.shape(display), spacing_mm)
    Path(path).write_bytes(_nifti_bytes(data, affine, dtype, str(path).endswith(".gz")))

