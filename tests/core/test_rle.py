"""Run-length encoding in the Kaggle nerve convention (column-major, 1-indexed)."""
from __future__ import annotations

import numpy as np
import pytest

from core.rle import rle_decode, rle_encode


def test_hand_encoded_case():
    # 3 rows x 4 columns; numbering runs down each column: col 0 -> 1,2,3; col 1 -> 4,5,6; ...
    mask = np.array([[0, 1, 0, 0],
                     [0, 1, 0, 1],
                     [1, 0, 0, 1]], bool)
    # foreground pixel numbers: 3 (r2,c0), 4, 5 (col 1, rows 0-1), 11, 12 (col 3, rows 1-2)
    assert rle_encode(mask) == "3 3 11 2"
    assert np.array_equal(rle_decode("3 3 11 2", (3, 4)), mask)


def test_empty_and_full_masks():
    assert rle_encode(np.zeros((420, 580), bool)) == ""
    assert not rle_decode("", (420, 580)).any()
    assert rle_encode(np.full((2, 3), 255, np.uint8)) == "1 6"


@pytest.mark.parametrize("seed", range(5))
def test_round_trip_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((42, 58)) > 0.6
    assert np.array_equal(rle_decode(rle_encode(mask), mask.shape), mask)


@pytest.mark.parametrize("bad", ["1", "0 3", "5 -1", "1 2 2 2", "10 5", "a b"])
def test_malformed_strings_are_refused(bad):
    with pytest.raises(ValueError):
        rle_decode(bad, (3, 4))


def test_needs_a_2d_mask():
    with pytest.raises(ValueError, match="HxW"):
        rle_encode(np.zeros((2, 2, 2), bool))
