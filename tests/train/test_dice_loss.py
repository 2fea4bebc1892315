"""The segmentation loss's soft Dice: per image (default) or pooled over the batch (--batch-dice)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from train.augment import dice_bce_loss, segmentation_loss
from train.segmentation import parse_args


def test_an_empty_image_costs_a_whole_dice_point_per_image_but_its_share_pooled() -> None:
    n = 64  # pixels per image
    logits = torch.full((2, 1, 8, 8), 3.0)  # p = sigmoid(3) everywhere
    target = torch.zeros(2, 1, 8, 8)
    target[0] = 1  # image 0 full, image 1 empty
    p = torch.sigmoid(torch.tensor(3.0)).item()
    bce = F.binary_cross_entropy_with_logits(logits, target).item()
    per_image = ((2 * p * n + 1) / (p * n + n + 1), 1 / (p * n + 1))  # Dice of each image, smoothing 1
    pooled = (2 * p * n + 1) / (2 * p * n + n + 1)
    assert dice_bce_loss(logits, target).item() == pytest.approx(bce + 1 - sum(per_image) / 2, rel=1e-5)
    assert dice_bce_loss(logits, target, batch_dice=True).item() == pytest.approx(bce + 1 - pooled, rel=1e-5)
    want = pytest.approx(bce + 1 - pooled, rel=1e-5)
    assert segmentation_loss(logits, target, batch_dice=True).item() == want
    # the empty image's false mass costs ~0.49 per image, ~0.33 pooled
    assert dice_bce_loss(logits, target).item() > dice_bce_loss(logits, target, batch_dice=True).item() + 0.1


def test_batch_dice_is_an_option_off_by_default() -> None:
    base = ["--task", "brain_tumor", "--arch", "unet_mobilenet", "--data", "d"]
    assert parse_args(base).batch_dice is False
    assert parse_args([*base, "--batch-dice"]).batch_dice is True
