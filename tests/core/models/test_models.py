"""core.models: the registry, the factory and the two segmentation architectures (random init)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.models import (
    UnknownModelError,
    create_model,
    get_spec,
    list_models,
    register_model,
)

SEG_MODELS = list_models("segmentation")
FP16_BUDGET_BYTES = 10_000_000  # a default model must ship as fp16 in under 10 MB


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_lists_both_segmentation_models():
    assert {"unet", "segnet"} <= set(list_models())
    assert {"unet", "segnet"} <= set(SEG_MODELS)
    assert list_models() == sorted(list_models())
    assert all(get_spec(n).kind == "segmentation" for n in SEG_MODELS)


def test_list_models_filters_by_kind():
    assert list_models("no-such-kind") == []


def test_unknown_model_lists_valid_names():
    with pytest.raises(UnknownModelError) as info:
        create_model("nope")
    msg = str(info.value)
    assert "'nope'" in msg
    assert ", ".join(list_models()) in msg
    assert "segnet" in msg and "unet" in msg
    assert isinstance(info.value, KeyError)  # callers catching KeyError keep working


@pytest.mark.parametrize("name", SEG_MODELS)
def test_segmentation_model_keeps_spatial_size(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    x = torch.randn(2, 1, 64, 96)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 1, 64, 96)
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()
    # Logits depend on the input. Batch statistics (train mode) keep the signal alive through a
    # random-init network; in eval mode untrained BN layers let it fade to ~1e-9 in SegNet.
    model.train()
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 1, 64, 96)
    assert (y[0] - y[1]).abs().max() > 1e-3


@pytest.mark.parametrize("name", SEG_MODELS)
def test_create_model_returns_fresh_instances(name):
    a, b = create_model(name), create_model(name)
    assert a is not b
    pa, pb = next(a.parameters()), next(b.parameters())
    assert pa.data_ptr() != pb.data_ptr()


def test_segnet_uses_max_unpooling_with_indices():
    model = create_model("segnet").eval()
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    unpools = [m for m in model.modules() if isinstance(m, nn.MaxUnpool2d)]
    assert pools and all(p.return_indices for p in pools)
    assert unpools
    assert not any(isinstance(m, (nn.ConvTranspose2d, nn.Upsample)) for m in model.modules())

    # The unpooling really runs, once per encoder stage, with integer pooling indices.
    calls: list[tuple[torch.Size, torch.dtype]] = []

    def record(module, args, output):
        x, idx = args[0], args[1]
        calls.append((idx.shape, idx.dtype))
        assert idx.shape == x.shape

    handles = [u.register_forward_hook(record) for u in unpools]
    try:
        with torch.no_grad():
            model(torch.randn(1, 1, 64, 96))
    finally:
        for h in handles:
            h.remove()
    assert len(calls) == len(model.enc)
    assert all(dtype == torch.int64 for _, dtype in calls)


@pytest.mark.parametrize("name", SEG_MODELS)
def test_cfg_overrides_defaults(name):
    model = create_model(name, classes=3).eval()
    with torch.no_grad():
        y = model(torch.randn(1, 1, 64, 96))
    assert y.shape == (1, 3, 64, 96)
    # The registered defaults are not mutated by an override.
    assert get_spec(name).defaults["classes"] == 1
    with torch.no_grad():
        assert create_model(name)(torch.randn(1, 1, 64, 96)).shape[1] == 1


@pytest.mark.parametrize("name", SEG_MODELS)
def test_in_channels_override(name):
    model = create_model(name, in_channels=3).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 96)).shape == (1, 1, 64, 96)


@pytest.mark.parametrize("name", SEG_MODELS)
def test_default_model_fits_fp16_budget(name):
    n = _n_params(create_model(name))
    assert n > 100_000  # a real network, not a stub
    assert n * 2 < FP16_BUDGET_BYTES, f"{name}: {n} params = {n * 2 / 1e6:.1f} MB as fp16"


@pytest.mark.parametrize("name", SEG_MODELS)
def test_cam_layer_is_a_submodule_of_the_built_model(name):
    model = create_model(name)
    layer = get_spec(name).cam_layer(model)
    assert isinstance(layer, nn.Module)
    assert layer is not model
    assert any(layer is m for m in model.modules())
    # The layer sits in the forward path: hooking it sees a spatial activation.
    seen: list[torch.Size] = []
    handle = layer.register_forward_hook(lambda m, a, out: seen.append(out.shape))
    try:
        with torch.no_grad():
            model.eval()(torch.randn(1, 1, 64, 96))
    finally:
        handle.remove()
    assert len(seen) == 1 and len(seen[0]) == 4


def test_register_model_refuses_a_duplicate_name():
    before = get_spec("unet")

    def builder(**cfg):
        return nn.Identity()

    with pytest.raises(ValueError, match="already registered"):
        register_model("unet", kind="segmentation", cam_layer=lambda m: m, description="dup")(builder)
    assert get_spec("unet") is before
    assert list_models().count("unet") == 1


def test_spec_defaults_are_read_only():
    with pytest.raises(TypeError):
        get_spec("segnet").defaults["classes"] = 7  # type: ignore[index]
