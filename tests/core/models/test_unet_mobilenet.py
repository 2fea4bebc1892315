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
