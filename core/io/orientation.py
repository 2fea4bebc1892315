"""Voxel-axis orientations, as ``nibabel.orientations`` computes them, without importing nibabel
for the common case.

Importing nibabel takes about 0.3 s, and every volume is reoriented when it is built, even a stack
of TIFF slices or a DICOM series that nibabel never reads. Most affines are axis-aligned (a scaled,
signed permutation: TIFF stacks, the LGG slices, most DICOM and NIfTI): for them the orientation is
read off the matrix here. An oblique affine goes to ``nibabel.orientations.io_orientation`` (its
SVD-based nearest axes). The other functions are nibabel's own small array rules, restated;
``tests/core/io/test_orientation.py`` checks every one against nibabel on all 48 axis orders.

An orientation ``ornt`` is nibabel's (3, 2) array: row ``i`` is input axis ``i``'s output axis
and its flip (1 or -1).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.io.lazy import lazy_module

nib = lazy_module("nibabel")

LABELS = (("L", "R"), ("P", "A"), ("I", "S"))  # RAS+: the code of -1 / +1 along each world axis
ALIGNED_TOL = 1e-6  # an off-axis entry this small, relative to the largest, counts as zero


def io_orientation(affine: np.ndarray) -> np.ndarray:
    """The world axis and direction of each voxel axis (``nibabel.orientations.io_orientation``)."""
    rzs = np.asarray(affine, dtype=np.float64)[:3, :3]
    mag = np.abs(rzs)
    on = mag > ALIGNED_TOL * max(float(mag.max()), np.finfo(float).tiny)
    if on.sum(axis=0).tolist() != [1, 1, 1] or on.sum(axis=1).tolist() != [1, 1, 1]:
        return nib.orientations.io_orientation(affine)  # oblique: nibabel's nearest axes
    out = np.empty((3, 2))
    for col in range(3):
        row = int(np.argmax(on[:, col]))
        out[col] = (row, 1.0 if rzs[row, col] > 0 else -1.0)
    return out


def axcodes2ornt(axcodes: Sequence[str]) -> np.ndarray:
    """The orientation of axis codes such as ``("S", "P", "L")`` (RAS+ labels)."""
    out = np.empty((len(axcodes), 2))
    for i, code in enumerate(axcodes):
        axis = next(a for a, pair in enumerate(LABELS) if code in pair)
        out[i] = (axis, 1.0 if code == LABELS[axis][1] else -1.0)
    return out


def ornt2axcodes(ornt: np.ndarray) -> tuple[str, ...]:
    """Axis codes of an orientation (RAS+ labels)."""
    return tuple(LABELS[int(axis)][1 if flip == 1 else 0] for axis, flip in ornt)


def aff2axcodes(affine: np.ndarray) -> tuple[str, ...]:
    """Axis codes of an affine's voxel axes (``nibabel.aff2axcodes``)."""
    return ornt2axcodes(io_orientation(affine))


def ornt_transform(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The orientation that takes an array in ``start`` orientation to ``end``."""
    start, end = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    out = np.empty_like(start)
    for end_in, (end_out, end_flip) in enumerate(end):
        for start_in, (start_out, start_flip) in enumerate(start):
            if end_out == start_out:
                out[start_in] = (end_in, 1.0 if start_flip == end_flip else -1.0)
                break
        else:
            raise ValueError(f"unable to take orientation {start.tolist()} to {end.tolist()}")
    return out


def apply_orientation(arr: np.ndarray, ornt: np.ndarray) -> np.ndarray:
    """``arr`` flipped and its first three axes permuted as ``ornt`` says (a view)."""
    out = np.asarray(arr)
    for axis, flip in enumerate(np.asarray(ornt)[:, 1]):
        if flip == -1:
            out = np.flip(out, axis=axis)
    order = np.arange(out.ndim)
    order[:3] = np.argsort(np.asarray(ornt)[:, 0])
    return out.transpose(order)


def voxel_sizes(affine: np.ndarray) -> np.ndarray:
    """The length of each voxel axis in world units (``nibabel.affines.voxel_sizes``)."""
    top = np.asarray(affine, dtype=np.float64)[:-1, :-1]
    return np.sqrt(np.sum(top**2, axis=0))
