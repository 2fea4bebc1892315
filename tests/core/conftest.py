"""Shared fixtures: matplotlib's public-domain grace_hopper.jpg and its Face Mesh landmarks, read
and detected once per test session (read-only, so no test can change them for another)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib import cbook

from core.face.landmarks import FaceLandmarks, detect_landmarks, oriented_rgb


@pytest.fixture(scope="session")
def rgb() -> np.ndarray:
    src = cbook.get_sample_data("grace_hopper.jpg")  # a path or an open file, by version
    if hasattr(src, "read"):
        with src:
            image = oriented_rgb(src.read())
    else:
        image = oriented_rgb(Path(src))
    image.setflags(write=False)
    return image


@pytest.fixture(scope="session")
def lm(rgb: np.ndarray) -> FaceLandmarks:
    return detect_landmarks(rgb)
