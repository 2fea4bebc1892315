"""core.io.orientation: nibabel's orientation rules, restated so that axis-aligned volumes (TIFF
stacks, DICOM, most NIfTI) are built without importing nibabel; checked against nibabel itself."""
from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from core.io import orientation as ornt

DISPLAY = ("S", "P", "L")


def _aligned_affines() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((-1.0, 1.0), repeat=3):
            a = np.eye(4)
            a[:3, :3] = 0
            for col, row in enumerate(perm):
                a[row, col] = signs[col] * rng.uniform(0.3, 6.0)
            a[:3, 3] = rng.normal(0, 50, 3)
            out.append(a)
    return out


ALIGNED = _aligned_affines()


def _oblique(deg: float) -> np.ndarray:
    t = np.radians(deg)
    a = np.eye(4)
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    a[:3, :3] = rot @ np.diag([0.9, 0.9, 3])
    return a


@pytest.mark.parametrize("affine", [*ALIGNED, _oblique(20), _oblique(-70)], ids=lambda a: "")
def test_every_rule_agrees_with_nibabel(affine: np.ndarray) -> None:
    no = nib.orientations
    mine = ornt.io_orientation(affine)
    np.testing.assert_array_equal(mine, no.io_orientation(affine))
    assert ornt.aff2axcodes(affine) == tuple(nib.aff2axcodes(affine))
    np.testing.assert_allclose(ornt.voxel_sizes(affine), nib.affines.voxel_sizes(affine))
    np.testing.assert_array_equal(ornt.axcodes2ornt(DISPLAY), no.axcodes2ornt(DISPLAY))
    to_display = ornt.ornt_transform(mine, ornt.axcodes2ornt(DISPLAY))
    np.testing.assert_array_equal(to_display, no.ornt_transform(mine, no.axcodes2ornt(DISPLAY)))
    arr = np.arange(2 * 3 * 4 * 2).reshape(2, 3, 4, 2)
    np.testing.assert_array_equal(ornt.apply_orientation(arr, to_display),
                                  no.apply_orientation(arr, to_display))
    back = ornt.ornt_transform(ornt.axcodes2ornt(DISPLAY), mine)
    np.testing.assert_array_equal(ornt.apply_orientation(ornt.apply_orientation(arr, to_display), back), arr)


def test_impossible_transform_is_refused() -> None:
    with pytest.raises(ValueError, match="unable to take"):
        ornt.ornt_transform(np.array([[0, 1], [0, 1], [2, 1]]), ornt.axcodes2ornt(DISPLAY))


def test_a_tiff_stack_is_built_without_importing_nibabel() -> None:
    code = ("import sys, numpy as np\n"
            "from core.io.volume_types import make_volume\n"
            "a = np.diag([1.0, 1.0, 2.0, 1.0])\n"
            "v = make_volume(np.zeros((4, 5, 6), np.float32), a, 'TIFF', {}, [])\n"
            "assert v.source_axcodes == ('R', 'A', 'S') and v.voxels.shape == (6, 5, 4), v\n"
            "print('nibabel' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[3])
    assert out.stdout.strip() == "False"
