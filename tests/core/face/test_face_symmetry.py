"""The Face Mesh left-right table against mediapipe's own connection sets."""
from __future__ import annotations

import numpy as np
import pytest

from core.face.symmetry import MIRROR, PAIRS

fmc = pytest.importorskip("mediapipe.python.solutions.face_mesh_connections")


def _points(edges) -> set[int]:
    return {i for edge in edges for i in edge}


def test_table_is_an_involution_over_478_points():
    assert MIRROR.shape == (478,) and not MIRROR.flags.writeable
    assert np.array_equal(MIRROR[MIRROR], np.arange(478))
    assert len({i for pair in PAIRS for i in pair}) == 2 * len(PAIRS)  # no index in two pairs


@pytest.mark.parametrize("right, left", [("RIGHT_EYE", "LEFT_EYE"), ("RIGHT_EYEBROW", "LEFT_EYEBROW"),
                                         ("RIGHT_IRIS", "LEFT_IRIS")])
def test_right_sets_map_onto_left_sets(right, left):
    r, lft = _points(getattr(fmc, f"FACEMESH_{right}")), _points(getattr(fmc, f"FACEMESH_{left}"))
    assert {int(MIRROR[i]) for i in r} == lft


@pytest.mark.parametrize("name", ["LIPS", "FACE_OVAL"])
def test_symmetric_sets_map_onto_themselves(name):
    pts = _points(getattr(fmc, f"FACEMESH_{name}"))
    assert {int(MIRROR[i]) for i in pts} == pts


def test_named_pairs():
    for a, b in ((33, 263), (133, 362), (61, 291), (234, 454), (129, 358), (468, 473)):
        assert MIRROR[a] == b and MIRROR[b] == a
    assert all(MIRROR[i] == i for i in (1, 2, 0, 13, 152, 168, 10))
