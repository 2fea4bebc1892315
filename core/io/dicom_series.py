"""DICOM series, in memory: the files of one series (uploaded one by one or zipped) into a :class:`Volume`.

Slices are ordered by their position along the slice normal, never by file name or order, and
checked for mixed series and missing slices. The RAS affine is built from the geometry tags (DICOM
is LPS) and the volume reoriented exactly as a NIfTI file is, so the same acquisition gives the
same display array either way. Privacy: only an allow-list of technical metadata is kept; file and
member names can hold patient names, so they never reach meta, notes, messages or logs (slices are
named by their place in the sorted series).
"""
from __future__ import annotations

import io
import logging
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from core.io.dicom import DICOM_ERRORS, dicom_pixels, transfer_syntax
from core.io.image_types import (
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    UnsupportedFormatError,
)
from core.io.volume_types import (
    MAX_UNPACKED,
    MAX_VOXELS,
    MissingSlicesError,
    MixedSeriesError,
    Volume,
    VolumeError,
    WrongModalityError,
    grey,
    make_volume,
)

log = logging.getLogger(__name__)

MAX_MEMBERS: int = 2000
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
# Allow-list: DICOM keyword -> meta key. Nothing else is copied (no patient, date or site data).
_SERIES_TAGS = {"Modality": "modality", "MagneticFieldStrength": "magnetic_field_strength",
                "SliceThickness": "slice_thickness", "RepetitionTime": "repetition_time",
                "EchoTime": "echo_time", "ManufacturerModelName": "manufacturer_model_name",
                "Rows": "rows", "Columns": "cols"}


def load_dicom_series(files: Sequence[tuple[str, bytes]], *, expect_modality: str | None = None,
                      max_voxels: int = MAX_VOXELS) -> Volume:
    """Stack the DICOM files of one series into a display-oriented volume.

    Args:
        files: (name, bytes) pairs; names are ignored (they may hold patient names) and
            non-DICOM files (DICOMDIR, README, ...) are skipped with a note.
        expect_modality: e.g. "MR": a series of another modality raises WrongModalityError.
        max_voxels: refuse series with more voxels than this (checked before decoding).

    Raises:
        ImageError: one of its subclasses (MixedSeriesError, MissingSlicesError,
            WrongModalityError, ImageTooLargeError, ...), with a message saying what to do.
    """
    notes: list[str] = []
    datasets = _read_datasets(files, notes)
    series = Counter(str(ds.get("SeriesInstanceUID", "")) for ds in datasets)
    if len(series) > 1:
        counts = ", ".join(str(n) for n in sorted(series.values(), reverse=True))
        raise MixedSeriesError(f"the upload holds {len(series)} series (with {counts} images); "
                               "upload the files of one series only")
    check_modality(datasets[0], expect_modality, "series")
    try:
        _check_consistent(datasets)
        datasets, affine, spacing_known = _geometry(datasets, notes)
    except ImageError:
        raise
    except DICOM_ERRORS as exc:
        raise CorruptImageError(f"the series' geometry tags are unreadable ({exc}); "
                                "export the series again") from exc
    rows, cols, n = int(datasets[0].Rows), int(datasets[0].Columns), len(datasets)
    if rows * cols * n > max_voxels:
        raise ImageTooLargeError(f"the series is {n} slices of {cols}x{rows} = {rows * cols * n:,} voxels, "
                                 f"over the limit of {max_voxels:,}; export fewer slices or downsample")
    stack = np.empty((cols, rows, n), np.float32)  # NIfTI order: i = column, j = row, k = slice
    for k, ds in enumerate(datasets):
        stack[:, :, k] = grey(dicom_pixels(ds, transfer_syntax(ds), notes), notes).T
        if int(ds.get("NumberOfFrames") or 1) > 1:
            notes.append("multi-frame DICOM: first frame of each file used")
    meta = safe_meta(datasets[0]) | {"slices": n}
    log.info("DICOM series assembled: %d slices of %dx%d", n, cols, rows)
    return make_volume(stack, affine, "DICOM series", meta, notes, spacing_known=spacing_known)



def dicom_files_from_zip(data: bytes) -> list[tuple[str, bytes]]:
    """The (name, bytes) members of a zip held in memory, sub-folders included; a member that does
    not start like a DICOM file is not read beyond its first bytes (:func:`zip_members`)."""
    return zip_members(data, lambda _name, head: dicom_shaped(head))


def zip_members(data: bytes, wanted: Callable[[str, bytes], bool] = lambda _name, _head: True
                ) -> list[tuple[str, bytes]]:
    """The (name, bytes) members of a zip held in memory, sub-folders included. A member for which
    ``wanted(name, first 134 bytes)`` is False is not inflated further: its bytes are that head.

    Raises:
        ImageTooLargeError: over :data:`MAX_MEMBERS` files or :data:`MAX_UNPACKED` bytes unpacked.
        CorruptImageError, UnsupportedFormatError: a damaged, encrypted or exotic zip.
    """
    # zipfile's own messages quote member names (patient names, possibly): never pass them on.
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = [info for info in zf.infolist() if not info.is_dir()]
            if len(infos) > MAX_MEMBERS:
                raise ImageTooLargeError(f"the zip holds {len(infos):,} files, over the limit of "
                                         f"{MAX_MEMBERS:,}; zip one series only")
            total = sum(info.file_size for info in infos)
            if total > MAX_UNPACKED:
                raise ImageTooLargeError(f"the zip unpacks to {total:,} bytes, over the limit of "
                                         f"{MAX_UNPACKED:,}; zip one series only")
            return [(info.filename, _read_member(zf, info, wanted)) for info in infos]
    except ImageError:
        raise
    except NotImplementedError:
        raise UnsupportedFormatError("the zip uses a compression method we cannot read; zip the "
                                     "series again with standard (deflate) compression") from None
    except RuntimeError:
        raise UnsupportedFormatError("the zip is password-protected; zip the series without a "
                                     "password") from None
    except (zipfile.BadZipFile, zlib.error, *DICOM_ERRORS):
        raise CorruptImageError("the zip file is damaged or truncated; zip the series again") from None


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, wanted: Callable[[str, bytes], bool]) -> bytes:
    """A member's bytes, inflating no more than its stated size: ``zf.read`` inflates a whole
    compressed block at once, so a member whose header understates its size could expand to
    gigabytes in memory before the read is cut to size. A member not ``wanted`` is not inflated
    beyond its first 134 bytes (those are returned): 1900 zero-filled members of 250 KB in a DICOM
    zip no longer sit in memory together."""
    with zf.open(info) as fh:
        head = fh.read(_HEAD)
        if not wanted(info.filename, head):
            return head
        data = head + fh.read(info.file_size + 1 - len(head))  # bounded: read(n) inflates <= max(n, 4 KiB)
    if len(data) > info.file_size:
        raise CorruptImageError("a file in the zip holds more than the zip says it does; zip the series "
                                "again")
    return data


def check_modality(ds: Dataset, expect: str | None, what: str) -> None:
    """Raise WrongModalityError when ``ds`` states a modality other than ``expect``."""
    modality = str(ds.get("Modality") or "").upper()
    if expect and modality and modality != expect.upper():
        raise WrongModalityError(f"the {what} is {modality}, but this model expects {expect.upper()}; "
                                 f"choose the {expect.upper()} {what} of the study instead")


def safe_meta(ds: Dataset) -> dict[str, Any]:
    """Allow-listed technical tags of ``ds`` as plain ints, floats and strings."""
    meta: dict[str, Any] = {}
    for keyword, key in _SERIES_TAGS.items():
        value = ds.get(keyword)
        if value not in (None, ""):
            meta[key] = int(value) if isinstance(value, int) else (
                float(value) if isinstance(value, float) else str(value))
    return meta


# A DICOM file without the 128-byte preamble and "DICM" (old ACR-NEMA exports) starts with a tag
# of group 0x0002 (file meta) or 0x0008 (identifying), little-endian.
_FIRST_GROUPS = (b"\x02\x00", b"\x08\x00")


_HEAD = 134  # bytes that tell whether a file is DICOM-shaped
READ_SECONDS = 6.0  # parsing a series stops past this (a zip of DICOM-shaped filler parses for minutes)


def dicom_shaped(head: bytes) -> bool:
    """Whether a file's first 134 bytes look like DICOM: the preamble's "DICM" followed by the file
    meta group (0x0002), or a first tag of group 0x0002 / 0x0008 (old exports without a preamble)."""
    head = bytes(head[:_HEAD])
    if head[128:132] == b"DICM":
        return head[132:134] == b"\x02\x00"
    return head[:2] in _FIRST_GROUPS


def _read_datasets(files: Sequence[tuple[str, bytes]], notes: list[str]) -> list[Dataset]:
    datasets: list[Dataset] = []
    imageless = 0  # DICOM without pixel data: DICOMDIR, reports, or a file cut short
    deadline = time.monotonic() + READ_SECONDS
    for index, (_, data) in enumerate(files, 1):
        if time.monotonic() > deadline:
            raise ImageTooLargeError(f"reading stopped after {READ_SECONDS:g} s at file {index} of "
                                     f"{len(files)}: the files are slow to parse (not a normal DICOM "
                                     "series); upload the series' image files only, or the volume as NIfTI")
        if not dicom_shaped(data[:_HEAD]):
            continue  # not DICOM-shaped: skipped without a forced parse (zeros parse for minutes)
        has_magic = bytes(data[128:132]) == b"DICM"
        try:
            ds = pydicom.dcmread(io.BytesIO(data), force=not has_magic)
        except DICOM_ERRORS as exc:  # the reason only: parser messages may quote tag values
            if has_magic:
                raise CorruptImageError(f"file {index} of {len(files)} (in upload order) is DICOM but "
                                        f"damaged ({type(exc).__name__}); export the series again") from None
            continue
        if "PixelData" in ds and "Rows" in ds and "Columns" in ds:
            datasets.append(ds)
        elif has_magic:
            imageless += 1
    skipped = f"{len(files) - len(datasets)} of {len(files)} files skipped: not DICOM images"
    if imageless:
        skipped += f" ({imageless} DICOM without pixel data: a DICOMDIR, a report or a truncated file)"
    if not datasets:
        raise UnsupportedFormatError(f"no DICOM image among the {len(files)} files ({skipped}); upload the "
                                     "image files of one DICOM series, or a .zip of them")
    if len(datasets) < len(files):
        notes.append(skipped)
    return datasets


def _check_consistent(datasets: list[Dataset]) -> None:
    checks = (("image size (Rows x Columns)", lambda ds: (int(ds.Rows), int(ds.Columns))),
              ("orientation (ImageOrientationPatient)", lambda ds: _floats(ds, "ImageOrientationPatient", 6)),
              ("pixel spacing (PixelSpacing)", lambda ds: _floats(ds, "PixelSpacing", 2)))
    for label, get in checks:
        values: list[Any] = []
        for value in map(get, datasets):
            if not any(_same(value, seen) for seen in values):
                values.append(value)
        if len(values) > 1:
            shown = " and ".join(str(v) for v in values[:3])
            raise MixedSeriesError(f"the images differ in {label}: {shown}; they do not stack into one "
                                   "volume (several series, or a localizer among them); upload one series")


def _geometry(datasets: list[Dataset], notes: list[str]) -> tuple[list[Dataset], np.ndarray, bool]:
    """Sort the slices and build the RAS affine of the (column, row, slice) grid."""
    first = datasets[0]
    iop = _floats(first, "ImageOrientationPatient", 6)
    if iop is None:
        notes.append("no ImageOrientationPatient: axial orientation assumed")
    row_cos, col_cos = np.array((iop or _AXIAL)[:3]), np.array((iop or _AXIAL)[3:])
    normal = np.cross(row_cos, col_cos)
    positions = [_floats(ds, "ImagePositionPatient", 3) for ds in datasets]
    known = all(p is not None for p in positions)
    if known:
        order = np.argsort([np.dot(p, normal) for p in positions], kind="stable")
    else:
        order = _instance_order(datasets, notes)
    datasets = [datasets[i] for i in order]
    spacing = _floats(first, "PixelSpacing", 2)
    if spacing is None:
        notes.append("no PixelSpacing: 1 mm pixels assumed, volumes in ml unavailable")
    affine = np.eye(4)
    affine[:3, 0] = row_cos * (spacing or (1.0, 1.0))[1]  # along a row: the column index grows
    affine[:3, 1] = col_cos * (spacing or (1.0, 1.0))[0]
    thickness = _positive(first.get("SliceThickness"))  # the spacing of a lone slice only
    affine[:3, 2] = normal * (thickness or 1.0)
    step_known = len(datasets) == 1 and thickness is not None
    if known:
        affine[:3, 3] = positions[order[0]]
        if len(datasets) > 1:
            affine[:3, 2] = _slice_step(np.array([positions[i] for i in order]), normal, notes)
            step_known = True
    return datasets, _LPS_TO_RAS @ affine, step_known and spacing is not None


def _slice_step(positions: np.ndarray, normal: np.ndarray, notes: list[str]) -> np.ndarray:
    """The mean step between sorted slice positions, after checking for duplicates and gaps."""
    steps = np.diff(positions @ normal)
    duplicates = np.flatnonzero(steps < 1e-3)
    if duplicates.size:
        i = int(duplicates[0])
        raise MixedSeriesError(f"slices {i + 1} and {i + 2} share one position; the series holds several "
                               "acquisitions (echoes, phases, b-values); upload one of them")
    median = float(np.median(steps))
    gaps = [(int(i), float(steps[i])) for i in np.flatnonzero(steps > 1.5 * median)]
    if gaps:
        where = "; ".join(f"between slice {i + 1} and {i + 2}: {step:.1f} mm against {median:.1f} mm "
                          f"elsewhere; {_missing(step / median)}" for i, step in gaps)
        raise MissingSlicesError(f"the series has gaps ({where}); upload the complete series")
    if steps.max() - steps.min() > 0.01 * median:
        notes.append(f"slice spacing varies from {steps.min():.2f} to {steps.max():.2f} mm; "
                     f"the mean, {steps.mean():.2f} mm, is used")
    return (positions[-1] - positions[0]) / (len(positions) - 1)


def _missing(ratio: float) -> str:
    n = max(1, round(ratio) - 1)
    return f"{n} slice{'s' if n > 1 else ''} appear{'' if n > 1 else 's'} to be missing"


def _instance_order(datasets: list[Dataset], notes: list[str]) -> np.ndarray:
    numbers = [ds.get("InstanceNumber") for ds in datasets]
    if len(datasets) > 1 and (None in numbers or len(set(numbers)) < len(numbers)):
        raise VolumeError("the slices carry neither ImagePositionPatient nor distinct InstanceNumbers, "
                          "so their order is unknown; export the series with its geometry tags")
    if len(datasets) > 1:
        notes.append("no ImagePositionPatient: slices ordered by InstanceNumber, slice spacing unknown")
    return np.argsort([int(n or 0) for n in numbers], kind="stable")


def _floats(ds: Dataset, keyword: str, count: int) -> tuple[float, ...] | None:
    value = ds.get(keyword)
    return None if value is None or len(value) != count else tuple(float(v) for v in value)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None or isinstance(a[0], int):
        return a == b
    return bool(np.allclose(a, b, rtol=0.0, atol=1e-3))


def slice_thickness(ds: Dataset) -> float | None:
    """The SliceThickness of ``ds`` in mm when it is a positive number, else None."""
    return _positive(ds.get("SliceThickness"))


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) and number > 0 else None
