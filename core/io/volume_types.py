"""What every volume reader shares: :class:`Volume`, its errors and limits, and its construction.

Every volume is reoriented to :data:`DISPLAY_AXCODES`, so the same anatomy gives the same array
whatever the file's voxel order; :meth:`Volume.to_source` takes results back to the source grid.
:mod:`core.io.nifti`, :mod:`core.io.dicom` and the dispatcher :mod:`core.io.volume` all build
volumes with :func:`make_volume`, so it lives here, below all three.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.io import orientation as ornt
from core.io.image_types import ImageData, ImageError

log = logging.getLogger(__name__)

DISPLAY_AXCODES = ("S", "P", "L")  # slices inferior->superior, rows anterior->posterior, cols right->left
# 256^3: a 1 mm brain (BraTS 240x240x155, 3-D T1 256x256x176) or a 512x512x64 stack fit; what is
# larger would take the slice model minutes on a small CPU, and is refused with a hint to resample.
MAX_VOXELS: int = 256 ** 3
# Bytes a .gz or .zip may expand to (decompression-bomb guard): what MAX_VOXELS allows at 8 bytes a voxel
# (a float64 NIfTI) with room for DICOM headers; more could only be refused after inflating it.
MAX_UNPACKED: int = 200_000_000
ACCEPTED = "NIfTI (.nii, .nii.gz), a .zip of one DICOM series, DICOM files, or a PNG/TIFF/JPEG image"


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
        source_axcodes: ``nibabel.aff2axcodes(affine)`` (:func:`core.io.orientation.aff2axcodes`).
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
        back = ornt.ornt_transform(ornt.axcodes2ornt(DISPLAY_AXCODES), ornt.io_orientation(self.affine))
        return np.ascontiguousarray(ornt.apply_orientation(display, back))

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
    transform = ornt.ornt_transform(ornt.io_orientation(affine), ornt.axcodes2ornt(DISPLAY_AXCODES))
    zooms = ornt.voxel_sizes(affine)
    spacing = [0.0, 0.0, 0.0]
    for src_axis, (dst_axis, _) in enumerate(transform):
        spacing[int(dst_axis)] = round(float(zooms[src_axis]), 9)
    display = np.ascontiguousarray(ornt.apply_orientation(data, transform))
    return display, (spacing[0], spacing[1], spacing[2]), transform


# Voxel sizes a scan can have (mm): outside them a header is wrong, and a measurement in mm or mL
# would be a wrong number; the volume is then read with its spacing unknown (results in voxels).
IN_PLANE_MM = (0.05, 5.0)
SLICE_MM = (0.05, 20.0)


def implausible_spacing(spacing_mm: Sequence[float]) -> str | None:
    """Why a (slice, row, col) voxel size in mm cannot be a scan's, or None when it can."""
    (s, r, c), (lo, hi), (slo, shi) = spacing_mm, IN_PLANE_MM, SLICE_MM
    if not all(np.isfinite(v) for v in (s, r, c)):
        return "it is not a finite number"
    if not (lo <= r <= hi and lo <= c <= hi):
        return f"pixels must be {lo:g}-{hi:g} mm across"
    if not slo <= s <= shi:
        return f"slices must be {slo:g}-{shi:g} mm apart"
    return None


def checked_spacing(spacing_mm: Sequence[float] | None, notes: list[str]) -> tuple[float, ...] | None:
    """``spacing_mm`` when a scan can have it; else None, with a note saying why (appended)."""
    if spacing_mm is None:
        return None
    why = implausible_spacing(spacing_mm)
    if why:
        notes.append(f"the stated voxel size {' x '.join(f'{v:g}' for v in spacing_mm[::-1])} mm is "
                     f"implausible ({why}): spacing unknown, sizes in voxels")
        return None
    return tuple(float(v) for v in spacing_mm)


def make_volume(data: np.ndarray, affine: np.ndarray, fmt: str, meta: dict[str, Any],
                notes: list[str], *, spacing_known: bool = True, unit_mm: float | None = None) -> Volume:
    """Build a :class:`Volume` from an original-grid 3-D array and its RAS+ affine; a voxel size no
    scan can have (:func:`implausible_spacing`) leaves the spacing unknown, with a note.

    ``unit_mm``: for NIfTI, its length unit in mm; the header stores float32 lengths, so the
    spacing is their shortest text (0.8, not 0.800000011920929). None: lengths in mm as they are.
    """
    affine = np.asarray(affine, dtype=np.float64)
    display, spacing, _ = reorient_to_display(data, affine)
    notes = list(notes)
    if spacing_known:
        if unit_mm is not None:
            spacing = tuple(float(str(np.float32(s * unit_mm))) for s in spacing)
        spacing = checked_spacing(spacing, notes)
        spacing_known = spacing is not None
    meta = {**meta, "notes": tuple(dict.fromkeys(notes))}  # de-duplicated, order kept
    axcodes = ornt.aff2axcodes(affine)
    log.debug("%s volume %s from a %s grid of shape %s", fmt, display.shape, axcodes, data.shape)
    return Volume(np.ascontiguousarray(display, dtype=np.float32), spacing if spacing_known else None,
                  affine, axcodes, tuple(int(n) for n in data.shape), fmt, meta)


def display_affine(shape: Sequence[int], spacing_mm: Sequence[float]) -> np.ndarray:
    """RAS+ affine of a ZxHxW display array stored on L,P,S axes (col, row, slice), centred at 0."""
    affine = np.diag([-float(spacing_mm[2]), -float(spacing_mm[1]), float(spacing_mm[0]), 1.0])
    affine[:3, 3] = -affine[:3, :3] @ ((np.array(shape[::-1], float) - 1) / 2.0)
    return affine


def volume_from_display(display: np.ndarray, spacing_mm: Sequence[float], fmt: str = "phantom",
                        meta: Mapping[str, Any] = ()) -> Volume:
    """A :class:`Volume` of an array already in display orientation (phantoms), as if read from
    the NIfTI :func:`core.io.nifti.write_nifti` would write."""
    display = np.asarray(display)
    return make_volume(display.transpose(2, 1, 0), display_affine(display.shape, spacing_mm), fmt,
                       dict(meta), [])


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
