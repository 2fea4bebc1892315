"""core.models.ensemble (the mean of several networks' probabilities) and int8 weight storage."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from core.models import create_model, list_models
from core.weights import INT8_SCALE, ModelCard, dequantize_int8, load_model, quantize_int8, save_model

CFG = {"widths": [4, 8, 8, 8, 8], "convs": [1, 1, 1, 1, 1], "presence_head": False}


def constant(model: torch.nn.Module, logit: float) -> torch.nn.Module:
    """A tiny ``cnn`` that gives every pixel the logit ``logit``."""
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(logit)
    return model


def test_the_output_is_the_logit_of_the_members_mean_probability() -> None:
    ens = create_model("mean_ensemble", member_arch="cnn", members=2, **CFG).eval()
    constant(ens.members[0], 0.4)
    constant(ens.members[1], -1.0)
    with torch.no_grad():
        out = ens(torch.randn(2, 1, 16, 24))
    mean = (1 / (1 + math.exp(-0.4)) + 1 / (1 + math.exp(1.0))) / 2  # 0.434: below 0.5, unlike member 0
    assert out.shape == (2, 1, 16, 24)
    torch.testing.assert_close(out, torch.full_like(out, math.log(mean / (1 - mean))), atol=1e-5, rtol=0)


def test_members_are_independent_networks_built_from_the_config() -> None:
    ens = create_model("mean_ensemble", member_arch="cnn", members=3, in_channels=3, **CFG).eval()
    assert len(ens.members) == 3
    assert ens.members[0].head.weight.data_ptr() != ens.members[1].head.weight.data_ptr()
    assert ens(torch.randn(1, 3, 16, 16)).shape == (1, 1, 16, 16)


@pytest.mark.parametrize("cfg, words", [({"members": 0}, "at least one"),
                                        ({"classes": 2}, "classes must be 1"),
                                        ({"member_arch": "screening_net"}, "segmentation")])
def test_refuses_what_it_cannot_average(cfg: dict, words: str) -> None:
    base = {"member_arch": "cnn", "members": 2, **CFG}
    with pytest.raises(ValueError, match=words):
        create_model("mean_ensemble", **{**base, **cfg})


def test_an_ensemble_is_not_listed_as_a_trainable_segmentation_architecture() -> None:
    assert "mean_ensemble" in list_models("ensemble")
    assert "mean_ensemble" not in list_models("segmentation")


def test_int8_storage_rounds_each_weight_within_half_its_channels_step() -> None:
    torch.manual_seed(0)
    state = create_model("cnn", **CFG).state_dict()
    stored = quantize_int8(state)
    back = dequantize_int8(stored)
    assert set(back) == set(state)
    for key, value in state.items():
        if value.is_floating_point() and value.ndim >= 2:
            assert stored[key].dtype == torch.int8
            step = stored[key + INT8_SCALE].reshape(-1, *[1] * (value.ndim - 1))
            assert ((back[key] - value).abs() <= step / 2 + 1e-7).all()
            largest = value.abs().amax(dim=tuple(range(1, value.ndim)), keepdim=True)
            assert (largest - step * 127).abs().max() < 1e-5  # each channel's largest weight is exact
        elif value.is_floating_point():
            assert stored[key].dtype == torch.float16 and back[key].dtype == torch.float32
        else:
            assert torch.equal(back[key], value)  # e.g. BatchNorm's num_batches_tracked


def test_an_int8_file_loads_to_nearly_the_same_outputs_at_under_a_third_of_float32(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = {"member_arch": "cnn", "members": 2, **CFG, "widths": [16, 32, 64, 64, 64]}
    model = create_model("mean_ensemble", **cfg).eval()
    card = ModelCard(task="brain_tumor", arch="mean_ensemble", arch_config=cfg,
                     labels=["tumour"], input={"size": [32, 32]}, postprocess={})
    small = save_model(model, card, tmp_path / "int8", dtype=torch.int8)
    big = save_model(model, card, tmp_path / "f32", dtype=torch.float32)
    assert small.weights["dtype"] == "int8"
    assert small.weights["bytes"] < 0.3 * big.weights["bytes"]
    loaded, _ = load_model(tmp_path / "int8")
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    assert (a - b).abs().max() < 0.02 * a.abs().max()
    assert not torch.equal(a, b)  # the rounding is real
