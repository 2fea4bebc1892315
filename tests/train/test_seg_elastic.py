"""train.augment.random_affine's elastic warp: image and mask move together, smoothly, on a share."""
from __future__ import annotations

import torch

from train.augment import ELASTIC_SD, elastic_field, random_affine
from train.segmentation import make_card, parse_args


def test_off_keeps_the_affine_and_its_random_stream():
    x, y = torch.rand(4, 3, 32, 32), (torch.rand(4, 1, 32, 32) > 0.5).float()
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    a = random_affine(x, y, g1)
    b = random_affine(x, y, g2, elastic=0.0)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(g1.get_state(), g2.get_state())


def test_image_and_mask_stay_in_register_and_shapes_move():
    y = torch.zeros(8, 1, 64, 64)
    y[:, :, 20:44, 16:48] = 1
    x = torch.cat([y, 1 - y, torch.full_like(y, 0.5)], 1)  # the mask drawn into the image
    gen = torch.Generator().manual_seed(0)
    wx, wy = random_affine(x, y, gen, rot_deg=0, scale=0, shift=0, hflip=False, elastic=1.0)
    assert torch.allclose(wx[:, :1], wy, atol=1e-5)  # resampled through the same field
    moved = (wy - y).abs().flatten(1).sum(1)
    assert (moved > 5).all()  # every sample warped (share 1)


def test_the_field_is_smooth_sized_as_stated_and_only_on_its_share():
    gen = torch.Generator().manual_seed(1)
    field = elastic_field(400, 64, 64, gen, 0.5)
    on = field.abs().flatten(1).amax(1) > 0
    assert 150 < int(on.sum()) < 250
    sd = float(field[on].std())
    assert 0.5 * 2 * ELASTIC_SD < sd < 1.5 * 2 * ELASTIC_SD  # sd 2% of the side = 0.04 in [-1, 1] units
    step = (field[on][:, 1:] - field[on][:, :-1]).abs().mean()
    assert float(step) < 0.15 * sd  # neighbouring pixels move alike: a smooth warp (noise: ~1.1 x sd)


def test_the_card_says_when_samples_are_warped():
    from core.tasks import get_task

    base = ["--task", "brain_tumor", "--arch", "unet_mobilenet", "--data", "x"]
    task = get_task("brain_tumor")
    on = make_card(parse_args([*base, "--elastic", "0.5"]), task, (64, 64)).training
    assert "an elastic warp on 50% of samples" in on["augmentation"] and on["config"]["elastic"] == 0.5
    plain = make_card(parse_args(base), task, (64, 64)).training["augmentation"]
    assert plain == "rotation +-20 deg, scale +-15%, shift, horizontal flip, gamma, gain, noise"
