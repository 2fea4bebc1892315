"""3-D pieces of a stacked mask: small ones dropped, the largest one kept, and the order in which a
brain volume's post-processing applies them."""
from __future__ import annotations

import numpy as np

from core.geometry import drop_small_components, largest_piece
from core.predict.volume import volume_postprocess


def test_drop_small_components_counts_3d_pieces():
    mask = np.zeros((3, 8, 8), bool)
    mask[:, 1:3, 1:3] = True  # 12 voxels across three slices: one 3-D piece
    mask[1, 6, 6] = True  # an isolated speck
    kept = drop_small_components(mask, 5)
    assert kept[:, 1:3, 1:3].all() and not kept[1, 6, 6] and kept.sum() == 12
    assert drop_small_components(mask, 0) is mask  # 0: everything kept
    assert not drop_small_components(mask, 13).any()


def test_largest_piece_keeps_one_3d_lesion_and_the_volume_rule_applies_it_last():
    mask = np.zeros((3, 8, 8), bool)
    mask[:, 1:3, 1:3] = True  # 12 voxels across three slices: one 3-D piece
    mask[0:2, 5:8, 5:8] = True  # 18 voxels elsewhere: the larger piece
    mask[2, 0, 7] = True  # a speck
    kept = largest_piece(mask)
    assert kept[0:2, 5:8, 5:8].all() and kept.sum() == 18
    assert not largest_piece(np.zeros((2, 4, 4), bool)).any()
    # Touching only along an edge (diagonal) is two pieces: cross connectivity, as drop_small_components.
    diag = np.zeros((1, 4, 4), bool)
    diag[0, 0, 0] = diag[0, 1, 1] = diag[0, 2, 1] = True
    assert largest_piece(diag).sum() == 2
    assert volume_postprocess(mask, {"min_component_vox": 2}).sum() == 30  # the speck dropped only
    assert volume_postprocess(mask, {"min_component_vox": 2, "largest_component_3d": True}).sum() == 18
    assert volume_postprocess(mask, {"min_component_vox": 20, "largest_component_3d": True}).sum() == 0
