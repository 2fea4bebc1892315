"""core.predict.fold: BatchNorm folded into the convolution before it gives the same outputs."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.models import create_model
from core.predict import Segmenter
from core.predict.fold import fold_batchnorm
from core.weights import ModelCard


@pytest.mark.parametrize("arch", ["unet", "segnet", "unet_mobilenet", "cnn"])
def test_folded_models_give_the_same_logits(arch: str) -> None:
    torch.manual_seed(0)
    model = create_model(arch)
    with torch.no_grad():  # non-trivial statistics, as a trained model has
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    model.eval()
    x = torch.randn(2, 1, 64, 96)
    with torch.inference_mode():
        before = model(x)
        n = fold_batchnorm(model)
        after = model(x)
    before, after = (o[0] if isinstance(o, (tuple, list)) else o for o in (before, after))
    assert n > 0 and not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert not any(m.training for m in model.modules())  # still all in eval mode
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)


def test_a_training_model_is_not_folded() -> None:
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(create_model("segnet").train())


def test_the_segmenter_folds_the_model_it_is_given() -> None:
    card = ModelCard(task="fetal_head", arch="segnet", arch_config={}, labels=["head"],
                     input={"size": [64, 96], "mean": [0.5], "std": [0.25]}, postprocess={})
    seg = Segmenter(create_model("segnet"), card)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in seg.model.modules())
