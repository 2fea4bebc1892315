"""core.predict.postprocess: a minimum area given as a share of the frame fits any frame size."""
from __future__ import annotations

import numpy as np

from core.predict import postprocess


def _blobs(size: int) -> np.ndarray:
    """A frame of ``size`` x ``size`` with a blob of 0.1% and one of 1% of its area."""
    prob = np.zeros((size, size), np.float32)
    small, big = round((0.001 * size * size) ** 0.5), round((0.01 * size * size) ** 0.5)
    prob[:small, :small] = 1
    prob[-big:, -big:] = 1
    return prob


def test_the_share_rule_drops_the_same_blob_at_any_resolution() -> None:
    for size in (256, 580):
        mask = postprocess(_blobs(size), 0.5, {"min_area_frac": 0.002})
        assert not mask[:5, :5].any() and mask[-5:, -5:].all()


def test_the_larger_of_pixels_and_share_applies() -> None:
    prob = _blobs(256)  # blobs of ~64 and ~655 px
    assert postprocess(prob, 0.5, {"min_area_px": 0, "min_area_frac": 0.0}).sum() > 655
    assert not postprocess(prob, 0.5, {"min_area_px": 1000, "min_area_frac": 0.002}).any()
    assert postprocess(prob, 0.5, {"min_area_px": 10, "min_area_frac": 0.002})[:5, :5].sum() == 0
