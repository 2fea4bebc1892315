"""train.augment.lesion_contrast: a lesion made fainter towards its surroundings, nothing else touched."""
from __future__ import annotations

import torch

from train.augment import LESION_FEATHER_SD, lesion_contrast
from train.segmentation import make_card, parse_args


def brain_with_lesion(b: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """B x 3 x 64 x 64: black outside a head disc, brain at 0.33, a bright 16 px square lesion
    (FLAIR 0.66, the other two sequences darker than brain) in the middle."""
    yy, xx = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    head = ((yy - 32) ** 2 + (xx - 32) ** 2 < 30 ** 2).float()
    x = torch.stack([head * 0.33] * 3)[None].repeat(b, 1, 1, 1)
    y = torch.zeros(b, 1, 64, 64)
    y[:, :, 24:40, 24:40] = 1
    x[:, 0, 24:40, 24:40], x[:, 1, 24:40, 24:40], x[:, 2, 24:40, 24:40] = 0.25, 0.66, 0.2
    return x, y


def test_off_changes_nothing_and_draws_nothing():
    x, y = brain_with_lesion()
    gen = torch.Generator().manual_seed(5)
    state = gen.get_state()
    assert lesion_contrast(x, y, gen, 0.0) is x
    assert torch.equal(gen.get_state(), state)


def test_the_lesion_moves_towards_its_surroundings_by_a_factor_in_range_and_only_the_lesion():
    x, y = brain_with_lesion(64)
    out = lesion_contrast(x, y, torch.Generator().manual_seed(0), 1.0)
    core = (slice(None), slice(None), slice(30, 34), slice(30, 34))  # deep inside: blend weight ~1
    factor = (out[core] - 0.33) / (x[core] - 0.33)  # contrast to the brain around, per sample and channel
    per_sample = factor.flatten(2).mean(2)
    assert per_sample.min() >= 0.39 and per_sample.max() <= 1.0
    assert per_sample.max() - per_sample.min() > 0.3  # drawn, not fixed
    assert (per_sample.amax(1) - per_sample.amin(1)).max() < 0.02  # one factor for all sequences
    far = torch.ones(64, 64, dtype=torch.bool)
    reach = 16 + 2 * int(3 * LESION_FEATHER_SD)
    far[24 - reach // 2 : 40 + reach // 2, 24 - reach // 2 : 40 + reach // 2] = False
    assert torch.equal(out[:, :, far], x[:, :, far])  # the brain away from the lesion is untouched


def test_a_share_of_samples_and_samples_without_a_lesion_are_left_alone():
    x, y = brain_with_lesion(200)
    y[:100] = 0  # the first half have no lesion
    out = lesion_contrast(x, y, torch.Generator().manual_seed(1), 0.5)
    changed = (out - x).abs().flatten(1).amax(1) > 1e-6
    assert not changed[:100].any()
    assert 30 < int(changed[100:].sum()) < 70  # about half of the lesion-bearing ones


def test_the_card_says_when_lesions_are_made_fainter():
    from core.tasks import get_task

    base = ["--task", "brain_tumor", "--arch", "unet_mobilenet", "--data", "x"]
    task = get_task("brain_tumor")
    on = make_card(parse_args([*base, "--lesion-contrast", "0.5"]), task, (64, 64)).training
    assert "in 50% of samples the lesion made fainter" in on["augmentation"]
    assert on["config"]["lesion_contrast"] == 0.5
    assert "fainter" not in make_card(parse_args(base), task, (64, 64)).training["augmentation"]
