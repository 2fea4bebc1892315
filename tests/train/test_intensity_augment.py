"""train.augment.random_intensity: one draw for all channels, or one per channel (MRI sequences)."""
from __future__ import annotations

import pytest
import torch

from train.augment import random_intensity
from train.segmentation import make_card, parse_args


def channel_spread(per_channel: bool, seed: int) -> float:
    x = torch.full((1, 3, 64, 64), 0.5)
    out = random_intensity(x, torch.Generator().manual_seed(seed), per_channel)
    means = out.mean(dim=(2, 3))[0]
    return float(means.max() - means.min())


def test_joint_draw_keeps_identical_channels_alike_and_per_channel_draw_does_not():
    joint = [channel_spread(False, s) for s in range(8)]
    apart = [channel_spread(True, s) for s in range(8)]
    assert max(joint) < 0.005  # only the pixel noise differs
    assert min(apart) > 0.01 and sum(apart) / 8 > 0.05


def test_one_channel_input_is_drawn_alike_either_way():
    x = torch.rand(2, 1, 16, 16)
    a = random_intensity(x, torch.Generator().manual_seed(3), False)
    b = random_intensity(x, torch.Generator().manual_seed(3), True)
    assert torch.equal(a, b)


def test_the_card_says_when_intensity_is_drawn_per_channel():
    from core.tasks import get_task

    base = ["--task", "brain_tumor", "--arch", "unet_mobilenet", "--data", "x"]
    task = get_task("brain_tumor")
    plain = make_card(parse_args(base), task, (64, 64)).training["augmentation"]
    per = make_card(parse_args([*base, "--intensity-per-channel"]), task, (64, 64)).training["augmentation"]
    assert "per input channel" in per and "per input channel" not in plain


def test_intensity_scale_shrinks_every_range_about_no_change():
    x = torch.full((256, 1, 8, 8), 0.333)
    spans = {}
    for scale in (1.0, 0.25, 0.0):
        out = random_intensity(x, torch.Generator().manual_seed(0), scale=scale).mean(dim=(1, 2, 3))
        spans[scale] = (float(out.amin()), float(out.amax()))  # each image's grey, pixel noise averaged
    assert spans[0.0] == pytest.approx((0.333, 0.333), abs=1e-6)  # no change at all
    lo, hi = spans[0.25]
    assert 0.26 < lo < 0.333 < hi < 0.41  # tissue on grey 85 at worst 66-105 (a quarter of the ranges)
    assert spans[1.0][0] < 0.25 and spans[1.0][1] > 0.5  # gamma 0.7-1.4 and gain +-25% reach far


def test_the_card_says_when_intensity_ranges_are_shrunk():
    from core.tasks import get_task

    base = ["--task", "brain_tumor", "--arch", "unet_mobilenet", "--data", "x"]
    task = get_task("brain_tumor")
    mild = make_card(parse_args([*base, "--intensity-scale", "0.25"]), task, (64, 64)).training
    assert "intensity ranges x0.25" in mild["augmentation"] and mild["config"]["intensity_scale"] == 0.25
    assert "x1" not in make_card(parse_args(base), task, (64, 64)).training["augmentation"]
