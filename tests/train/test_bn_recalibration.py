"""train.seg_loop.recalibrate_batchnorm: BatchNorm statistics re-estimated on batches augmented as the run
trained them, every option of its Augment included."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from train.augment import Augment
from train.seg_loop import Split, recalibrate_batchnorm


class _Card:
    input = {"mean": [0.2], "std": [0.3]}


def _split() -> Split:
    gen = torch.Generator().manual_seed(0)
    images = (torch.rand(32, 3, 64, 64, generator=gen) * 255).to(torch.uint8)
    masks = torch.zeros(32, 1, 64, 64, dtype=torch.uint8)
    masks[:, :, 20:44, 16:40] = 255
    images[:, :, 20:44, 16:40] = 230  # a bright lesion, so that lesion contrast has something to change
    return Split(images, masks, [])


def _stats(augment: Augment | None, crop: tuple[int, int] | None = (48, 48)) -> list[torch.Tensor]:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4))
    recalibrate_batchnorm(model, _split(), _Card, torch.device("cpu"), crop, n=32, batch=8, augment=augment)
    bn = model[1]
    assert not model.training and bn.momentum == 0.1  # left as training leaves it
    return [bn.running_mean.clone(), bn.running_var.clone()]


def test_the_statistics_are_an_exact_average_and_reproducible() -> None:
    first = _stats(None)
    assert all(torch.equal(a, b) for a, b in zip(first, _stats(Augment())))  # None is the default Augment
    assert all(torch.equal(a, b) for a, b in zip(first, _stats(None)))
    fresh = nn.BatchNorm2d(4)
    assert not torch.allclose(first[0], fresh.running_mean)
    assert not torch.allclose(first[1], fresh.running_var)


OPTIONS = [{"elastic": 1.0}, {"per_channel": True}, {"lesion": 1.0}, {"scale": 0.25}, {"paste": 1.0}]


@pytest.mark.parametrize("option", OPTIONS)
def test_each_augmentation_option_reaches_the_recalibration(option: dict) -> None:
    plain = _stats(Augment())
    changed = _stats(Augment(**option))
    assert not all(torch.allclose(a, b) for a, b in zip(plain, changed)), option


def test_crops_are_taken_when_the_run_trained_on_crops() -> None:
    assert not all(torch.allclose(a, b) for a, b in zip(_stats(None, (48, 48)), _stats(None, None)))
