"""Models with an auxiliary "structure present?" head: predictor, Grad-CAM and training loss."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import expit
from torch import nn

from core.explain import segmentation_cam
from core.models import create_model, get_spec
from core.predict import Segmenter, split_outputs
from core.weights import ModelCard
from train.augment import segmentation_loss

INPUT = {"size": [64, 96], "resize": "letterbox", "mean": [0.5], "std": [0.25]}


def _card(arch: str = "unet", **post: float) -> ModelCard:
    return ModelCard(task="nerve", arch=arch, arch_config={}, labels=["nerve"], input=INPUT,
                     postprocess={"threshold": 0.5, **post})


class TwoHeads(nn.Module):
    """Mask logits +4 everywhere, presence logit fixed: isolates the presence rule."""

    def __init__(self, presence_logit: float) -> None:
        super().__init__()
        self.presence_logit = presence_logit

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = x.shape[0]
        return torch.full_like(x[:, :1], 4.0), torch.full((b, 1), self.presence_logit)


def test_split_outputs_accepts_both_kinds():
    t = torch.zeros(2, 1, 4, 4)
    assert split_outputs(t)[1] is None
    masks, presence = split_outputs((t, torch.ones(2, 1)))
    assert masks is t and presence.shape == (2, 1)


@pytest.mark.parametrize("logit, kept", [(2.0, True), (-2.0, False)])
def test_presence_threshold_empties_the_mask(logit, kept):
    seg = Segmenter(TwoHeads(logit), _card(presence_threshold=0.5))
    res = seg.predict(np.zeros((50, 70), np.uint8))
    assert res.presence == pytest.approx(float(expit(logit)))
    assert res.mask.any() == kept and res.prob.min() > 0.9  # probabilities are left as they are


def test_presence_without_a_head_is_the_highest_probability():
    class Half(nn.Module):
        def forward(self, x):
            return torch.zeros_like(x[:, :1])  # probability 0.5 everywhere

    res = Segmenter(Half(), _card()).predict(np.zeros((30, 40), np.uint8))
    assert res.presence == pytest.approx(0.5)


def test_smp_unet_with_aux_head_predicts_explains_and_trains():
    model = create_model("unet_mobilenet", aux_params={"classes": 1}, decoder_channels=(32, 16, 16, 8, 8))
    masks, presence = model(torch.zeros(2, 1, 64, 96))
    assert masks.shape == (2, 1, 64, 96) and presence.shape == (2, 1)
    cfg = {**dict(get_spec("unet_mobilenet").defaults), "aux_params": {"classes": 1},
           "decoder_channels": (32, 16, 16, 8, 8)}
    card = ModelCard(task="nerve", arch="unet_mobilenet", arch_config=cfg, labels=["nerve"], input=INPUT,
                     postprocess={"threshold": 0.5})
    seg = Segmenter(model, card)
    image = (np.random.default_rng(0).random((60, 90)) * 255).astype(np.uint8)
    res = seg.predict(image)
    assert 0.0 <= res.presence <= 1.0
    cam = segmentation_cam(seg, image, np.ones((60, 90), bool))
    assert cam.shape == (60, 90) and 0.0 <= cam.min() <= cam.max() <= 1.0
    target = torch.zeros(2, 1, 64, 96)
    target[0, :, 20:40, 30:60] = 1.0  # one image with the structure, one without
    train_model = create_model("unet_mobilenet", aux_params={"classes": 1},
                               decoder_channels=(32, 16, 16, 8, 8))
    loss = segmentation_loss(train_model(torch.rand(2, 1, 64, 96)), target)
    loss.backward()
    head = [p for n, p in train_model.named_parameters() if n.startswith("classification_head")]
    assert head and all(p.grad is not None for p in head)  # the presence head is trained
