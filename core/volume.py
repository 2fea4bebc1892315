"""Load a 3-D volume (NIfTI, a DICOM series, or one 2-D image) into :class:`Volume`, in memory.

Every volume is reoriented to :data:`DISPLAY_AXCODES`, so the same anatomy gives the same array
whatever the file's voxel order; :meth:`Volume.to_source` and :func:`to_nifti_bytes` take results
back to the uploaded grid. Only allow-listed technical metadata is kept (never NIfTI ``descrip``
or ``aux_file``, DICOM patient tags or file names, which can all hold a patient's name).
"""
from __future__ import annotations

import gzip
import logging
import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from nibabel.affines import voxel_sizes
from nibabel.orientations import aff2axcodes, apply_orientation, axcodes2ornt, io_orientation, ornt_transform
from numpy.typing import DTypeLike

from core.io.image import (
    DECODE_ERRORS,
    IMAGE_MAGIC,
    MAX_BYTES,
    ChannelLayoutError,
    CorruptImageError,
    ImageData,
    ImageError,
    ImageTooLargeError,
    UnsupportedFormatError,
    load_image,
)

log = logging.getLogger(__name__)

DISPLAY_AXCODES = ("S", "P", "L")  # slices inferior->superior, rows anterior->posterior, cols right->left
MAX_VOXELS: int = 64_000_000
MAX_UNPACKED: int = 1_000_000_000  # bytes a .gz or .zip may expand to (decompression-bomb guard)
ACCEPTED = "NIfTI (.nii, .nii.gz), a .zip of one DICOM series, DICOM files, or a PNG/TIFF/JPEG image"
_NIFTI_ERRORS = (*DECODE_ERRORS, nib.filebasedimages.ImageFileError, nib.spatialimages.HeaderDataError)
_UNIT_TO_MM = {"meter": 1000.0, "micron": 0.001}


class VolumeError(ImageError):
    """The input cannot be turned into a 3-D volume we can analyse."""


class MixedSeriesError(VolumeError):
    """The DICOM files hold more than one series, or images that do not stack into one grid."""


class MissingSlicesError(VolumeError):
    """The DICOM series has gaps: slices are missing from the upload."""


class WrongModalityError(VolumeError):
    """Not the modality the model expects (e.g. CT for an MR model)."""


@dataclass(frozen=True)
class Volume:
    """A 3-D image in display orientation plus what is needed to map results back.

    Attributes:
        voxels: ZxHxW float32, C-contiguous, in :data:`DISPLAY_AXCODES` orientation: axis 0
            inferior->superior, rows anterior->posterior, cols patient right->left (radiological).
        spacing_mm: (slice, row, col) voxel size in mm in display order; None if unknown.
        affine: 4x4 float64 RAS+ affine of the original voxel grid (NIfTI convention).
        source_axcodes: ``nibabel.aff2axcodes(affine)``.
        source_shape: shape of the original 3-D array.
        format: "NIfTI", "DICOM series", "DICOM", "PNG", ...
        meta: allow-listed technical metadata plus ``notes``, a tuple of remarks.
    """

    voxels: np.ndarray
    spacing_mm: tuple[float, float, float] | None
    affine: np.ndarray
    source_axcodes: tuple[str, str, str]
    source_shape: tuple[int, int, int]
    format: str
    meta: Mapping[str, Any]

    def to_source(self, display: np.ndarray) -> np.ndarray:
        """Map a ZxHxW display-grid array (e.g. a mask) onto the original grid; dtype is kept."""
        display = np.asarray(display)
        if display.shape != self.voxels.shape:
            raise VolumeError(f"expected an array of the display shape {self.voxels.shape}, "
                              f"got {display.shape}")
        back = ornt_transform(axcodes2ornt(DISPLAY_AXCODES), io_orientation(self.affine))
        return np.ascontiguousarray(apply_orientation(display, back))

    @property
    def voxel_volume_ml(self) -> float | None:
        """Volume of one voxel in ml, or None when the spacing is unknown."""
        return None if self.spacing_mm is None else float(np.prod(self.spacing_mm)) / 1000.0


def reorient_to_display(data: np.ndarray, affine: np.ndarray
                        ) -> tuple[np.ndarray, tuple[float, float, float], np.ndarray]:
    """Reorient a 3-D array with a RAS+ affine to :data:`DISPLAY_AXCODES`.

    Returns:
        (ZxHxW display array, (slice, row, col) spacing in affine units, the ornt transform
        that was applied; ``ornt_transform`` with the arguments swapped undoes it).
    """
    transform = ornt_transform(io_orientation(affine), axcodes2ornt(DISPLAY_AXCODES))
    zooms = voxel_sizes(affine)
    spacing = [0.0, 0.0, 0.0]
    for src_axis, (dst_axis, _) in enumerate(transform):
        spacing[int(dst_axis)] = round(float(zooms[src_axis]), 9)
    display = np.ascontiguousarray(apply_orientation(data, transform))
    return display, (spacing[0], spacing[1], spacing[2]), transform


def make_volume(data: np.ndarray, affine: np.ndarray, fmt: str, meta: dict[str, Any],
                notes: list[str], *, spacing_known: bool = True) -> Volume:
    """Build a :class:`Volume` from an original-grid 3-D array and its RAS+ affine."""
    affine = np.asarray(affine, dtype=np.float64)
    display, spacing, _ = reorient_to_display(data, affine)
    meta = {**meta, "notes": tuple(dict.fromkeys(notes))}  # de-duplicated, order kept
    log.debug("%s volume %s from a %s grid of shape %s", fmt, display.shape, aff2axcodes(affine), data.shape)
    return Volume(np.ascontiguousarray(display, dtype=np.float32), spacing if spacing_known else None,
                  affine, tuple(aff2axcodes(affine)), tuple(int(n) for n in data.shape), fmt, meta)


# ---------------------------------------------------------------- NIfTI
def read_nifti(data: bytes, *, channel: int = 0, max_voxels: int = MAX_VOXELS) -> Volume:
    """Decode NIfTI-1/-2 bytes (plain or gzipped) into a display-oriented :class:`Volume`.

    Args:
        data: the whole ``.nii`` or ``.nii.gz`` file.
        channel: for 4-D files (multi-sequence XxYxZxC, or time series) the index kept.
        max_voxels: refuse volumes with more voxels than this (checked before decoding).

    Raises:
        ImageError: one of its subclasses, with a message saying what to do.
    """
    raw = _gunzip(data) if data[:2] == b"\x1f\x8b" else data
    klass = _nifti_class(raw)
    if klass is None:
        raise UnsupportedFormatError(f"this is not a NIfTI file (no NIfTI-1/-2 header); upload {ACCEPTED}")
    try:
        img = klass.from_bytes(raw)
        hdr = img.header
    except _NIFTI_ERRORS as exc:
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
    vol = make_volume(arr, affine, "NIfTI", meta, notes, spacing_known=bool(usable))
    if vol.spacing_mm is None:
        return vol
    scale = _UNIT_TO_MM.get(unit, 1.0)  # the header stores float32: 0.8, not 0.800000011920929
    return replace(vol, spacing_mm=tuple(float(str(np.float32(s * scale))) for s in vol.spacing_mm))


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
    except _NIFTI_ERRORS as exc:
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


def _nifti_class(raw: bytes) -> type[nib.Nifti1Image] | None:
    """NIfTI-1 or -2 image class from sizeof_hdr (348 / 540, either endianness) and the magic."""
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


def _gunzip(data: bytes) -> bytes:
    """gzip.decompress with a cap on the output size (a small .gz can expand to terabytes)."""
    out, rest, limit = bytearray(), data, MAX_UNPACKED
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


def display_affine(shape: Sequence[int], spacing_mm: Sequence[float]) -> np.ndarray:
    """RAS+ affine of a ZxHxW display array stored on L,P,S axes (col, row, slice), centred at 0."""
    affine = np.diag([-float(spacing_mm[2]), -float(spacing_mm[1]), float(spacing_mm[0]), 1.0])
    affine[:3, 3] = -affine[:3, :3] @ ((np.array(shape[::-1], float) - 1) / 2.0)
    return affine


def volume_from_display(display: np.ndarray, spacing_mm: Sequence[float], fmt: str = "phantom",
                        meta: Mapping[str, Any] = ()) -> Volume:
    """A :class:`Volume` of an array already in display orientation (phantoms), as if read from
    the NIfTI :func:`write_nifti` would write."""
    display = np.asarray(display)
    return make_volume(display.transpose(2, 1, 0), display_affine(display.shape, spacing_mm), fmt,
                       dict(meta), [])


# ---------------------------------------------------------------- dispatcher
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
    from core.dicom_series import dicom_file_volume, dicom_files_from_zip, load_dicom_series  # imports us

    if isinstance(src, Sequence) and not isinstance(src, (bytes, bytearray, memoryview, str)):
        return load_dicom_series(list(src), expect_modality=expect_modality, max_voxels=max_voxels)
    data, name = _source_bytes(src, name)
    lower = (name or "").lower()
    if not data:
        raise UnsupportedFormatError(f"the file is empty; upload {ACCEPTED}")
    if data[:2] == b"\x1f\x8b" or _nifti_class(data) is not None or lower.endswith((".nii", ".nii.gz")):
        return read_nifti(data, channel=channel, max_voxels=max_voxels)
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return load_dicom_series(dicom_files_from_zip(data), expect_modality=expect_modality,
                                 max_voxels=max_voxels)
    if data[128:132] == b"DICM" or lower.endswith((".dcm", ".dicom")):
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


def image_volume(img: ImageData, slice_mm: float | None = None, extra_meta: Mapping[str, Any] = ()
                 ) -> Volume:
    """Wrap a 2-D image as a 1-slice volume (Z=1) on an L,P,S grid, so display = the picture."""
    notes = list(img.meta.get("notes", ()))
    pixels = grey(img.pixels, notes)
    row_mm, col_mm = img.spacing_mm or (1.0, 1.0)
    if img.spacing_mm is not None and slice_mm is None:
        notes.append("slice thickness unknown: 1 mm assumed")
    affine = np.diag([-col_mm, -row_mm, slice_mm or 1.0, 1.0])
    meta = {k: v for k, v in img.meta.items() if k != "notes"} | dict(extra_meta)
    return make_volume(pixels.T[:, :, None], affine, img.format, meta, notes,
                       spacing_known=img.spacing_mm is not None)


def grey(pixels: np.ndarray, notes: list[str]) -> np.ndarray:
    """HxW float32: grey as is, HxWx3 RGB as ITU-R 601 luminance (noted)."""
    if pixels.ndim == 3:
        notes.append("RGB converted to grey (luminance)")
        return pixels.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return pixels.astype(np.float32)
