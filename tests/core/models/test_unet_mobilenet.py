"""core.models.unet: the MobileNetV2 U-Net written out in PyTorch is smp's, parameter for parameter."""
from __future__ import annotations

import sys

import pytest
import torch

from core.models import create_model

CONFIGS = [
    {"in_channels": 1, "classes": 1},
    {"in_channels": 3, "classes": 1},
    {"in_channels": 1, "classes": 1, "aux_params": {"classes": 1}},
    {"in_channels": 1, "classes": 2, "decoder_channels": [64, 32, 16, 16, 8]},
]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_same_parameters_and_outputs_as_smp(cfg):
    smp = pytest.importorskip("segmentation_models_pytorch")
    torch.manual_seed(0)
    dec = cfg.get("decoder_channels", [128, 64, 32, 16, 16])
    ref = smp.Unet("mobilenet_v2", encoder_weights=None, decoder_channels=tuple(dec),
                   in_channels=cfg["in_channels"], classes=cfg["classes"],
                   aux_params=cfg.get("aux_params")).eval()
    ours = create_model("unet_mobilenet", **cfg).eval()
    ref_state = ref.state_dict()
    assert list(ours.state_dict()) == list(ref_state)
    assert all(ours.state_dict()[k].shape == v.shape for k, v in ref_state.items())
    ours.load_state_dict(ref_state, strict=True)
    x = torch.randn(2, cfg["in_channels"], 96, 160)
    with torch.inference_mode():
        a, b = ref(x), ours(x)
    for r, o in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        torch.testing.assert_close(o, r, rtol=1e-5, atol=1e-5)


def test_built_without_smp_timm_or_torchvision():
    code = ("import sys, torch\nfrom core.models import create_model\n"
            "m = create_model('unet_mobilenet', aux_params={'classes': 1}).eval()\n"
            "m(torch.zeros(1, 1, 64, 64))\n"
            "heavy = ('segmentation_models_pytorch', 'timm', 'torchvision')\n"
            "print(sorted(k for k in heavy if k in sys.modules))")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_shapes_and_options_are_checked():
    model = create_model("unet_mobilenet").eval()
    with torch.inference_mode(), pytest.raises(RuntimeError, match="divisible by 32"):
        model(torch.zeros(1, 1, 100, 96))
    with pytest.raises(ValueError, match="encoder"):
        create_model("unet_mobilenet", encoder_name="resnet34")
    with pytest.raises(ValueError, match="offline"):
        create_model("unet_mobilenet", encoder_weights="imagenet")
    with pytest.raises(ValueError, match="decoder_channels"):
        create_model("unet_mobilenet", decoder_channels=[16, 16])
    with pytest.raises(ValueError, match="aux_params"):
        create_model("unet_mobilenet", aux_params={"classes": 1, "activation": "sigmoid"})


def test_blurpool_removes_what_plain_striding_aliases():
    from core.models.unet import BlurPool

    pool = BlurPool(1)
    flat = torch.full((1, 1, 8, 8), 3.0)
    torch.testing.assert_close(pool(flat), torch.full((1, 1, 4, 4), 3.0))  # the filter sums to 1
    stripes = (torch.arange(16) % 2).float().expand(1, 1, 16, 16)  # columns 0 1 0 1 ...: Nyquist
    shifted = stripes.roll(1, dims=3)
    # plain stride 2 sees all zeros or all ones depending on a one-pixel shift...
    assert stripes[..., ::2, ::2].max() == 0 and shifted[..., ::2, ::2].min() == 1
    # ...the blurred one sees the stripes' mean either way (inside the reflect-padded border)
    for x in (stripes, shifted):
        torch.testing.assert_close(pool(x)[..., 1:-1], torch.full((1, 1, 8, 6), 0.5))


def test_antialias_adds_no_parameters_and_keeps_every_size():
    plain = create_model("unet_mobilenet", in_channels=3, aux_params={"classes": 1}).eval()
    smooth = create_model("unet_mobilenet", in_channels=3, aux_params={"classes": 1}, antialias=True).eval()
    shapes = lambda m: {k: v.shape for k, v in m.state_dict().items()}  # noqa: E731
    assert shapes(smooth) == shapes(plain)
    smooth.load_state_dict(plain.state_dict(), strict=True)
    x = torch.rand(1, 3, 64, 96)
    with torch.inference_mode():
        a, b = plain.encoder(x), smooth.encoder(x)
        assert [f.shape for f in a] == [f.shape for f in b]
        assert (a[1] - b[1]).abs().max() > 0.01 * a[1].abs().max()  # the blur is really there
        assert smooth(x)[0].shape == (1, 1, 64, 96)


def test_an_antialiased_model_still_folds_its_batchnorms():
    from core.predict.fold import fold_batchnorm

    model = create_model("unet_mobilenet", antialias=True)
    for m in model.modules():  # non-trivial statistics, so folding matters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)
    model.eval()
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    x = torch.rand(1, 1, 64, 64)
    with torch.inference_mode():
        before = model(x)
        assert fold_batchnorm(model) == n_bn  # the BlurPool sits after the activation, not between
        torch.testing.assert_close(model(x), before, rtol=1e-4, atol=1e-4)
