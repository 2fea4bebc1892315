"""train.augment.lesion_paste: another sample's lesion pasted into a sample, inside its head, mask and all."""
from __future__ import annotations

import torch

from train.augment import LESION_FEATHER_SD, lesion_paste
from train.segmentation import make_card, parse_args


def two_brains() -> tuple[torch.Tensor, torch.Tensor]:
    """2 x 3 x 64 x 64: black outside a head disc, brain at 0.33; sample 0 has a bright 10 px lesion on
    the left, sample 1 a dark-ish one on the right (its sequences at other greys)."""
    yy, xx = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    head = ((yy - 32) ** 2 + (xx - 32) ** 2 < 30 ** 2).float()
    x = torch.stack([head * 0.33] * 3)[None].repeat(2, 1, 1, 1)
    y = torch.zeros(2, 1, 64, 64)
    y[0, :, 27:37, 12:22] = 1
    x[0, :, 27:37, 12:22] = torch.tensor([0.3, 0.8, 0.4]).view(3, 1, 1)
    y[1, :, 27:37, 42:52] = 1
    x[1, :, 27:37, 42:52] = torch.tensor([0.5, 0.6, 0.1]).view(3, 1, 1)
    return x, y


def test_off_changes_nothing_and_draws_nothing():
    x, y = two_brains()
    gen = torch.Generator().manual_seed(5)
    state = gen.get_state()
    out = lesion_paste(x, y, gen, 0.0)
    assert out[0] is x and out[1] is y
    assert torch.equal(gen.get_state(), state)


def test_each_sample_gets_the_other_lesion_its_mask_and_nothing_else_changes():
    x, y = two_brains()
    out_x, out_y = lesion_paste(x, y, torch.Generator().manual_seed(0), 1.0)
    for i, j in ((0, 1), (1, 0)):
        assert torch.equal(out_y[i], torch.maximum(y[i], y[j]))  # both lesions are now marked
        deep = (slice(None), slice(27, 37), slice(42, 52) if j == 1 else slice(12, 22))
        assert torch.equal(out_x[i][deep], x[j][deep])  # the donor's signal as it is, all sequences
    reach = 2 * int(3 * LESION_FEATHER_SD)
    far = torch.ones(64, 64, dtype=torch.bool)
    far[27 - reach : 37 + reach, :] = False
    assert torch.equal(out_x[:, :, far], x[:, :, far])  # away from the lesions nothing moved
    assert torch.equal(x, two_brains()[0])  # the input is not changed in place


def test_no_paste_without_a_donor_nor_outside_the_head():
    x, y = two_brains()
    x[1, :, 27:37, 42:52], y[1] = 0.33, 0  # sample 1 has no lesion: sample 0 has no donor
    out_x, out_y = lesion_paste(x, y, torch.Generator().manual_seed(0), 1.0)
    assert torch.equal(out_x[0], x[0]) and torch.equal(out_y[0], y[0])
    assert torch.equal(out_y[1], y[0])  # sample 1 still receives sample 0's lesion
    x, y = two_brains()
    x[1, :, :, :32] = 0  # sample 1's head lacks the left half, where sample 0's lesion would land
    out_x, out_y = lesion_paste(x, y, torch.Generator().manual_seed(0), 1.0)
    assert torch.equal(out_x[1], x[1]) and torch.equal(out_y[1], y[1])
    assert torch.equal(out_y[0], torch.maximum(y[0], y[1]))  # the other way round it fits


def test_the_card_says_when_lesions_are_pasted():
    from core.tasks import get_task

    base = ["--task", "brain_tumor", "--arch", "unet_mobilenet", "--data", "x"]
    task = get_task("brain_tumor")
    on = make_card(parse_args([*base, "--lesion-paste", "0.5"]), task, (64, 64)).training
    assert "in 50% of samples another sample's lesion pasted in" in on["augmentation"]
    assert on["config"]["lesion_paste"] == 0.5
    assert "pasted" not in make_card(parse_args(base), task, (64, 64)).training["augmentation"]
