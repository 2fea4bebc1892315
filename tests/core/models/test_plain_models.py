"""Our plain U-Net, the VGG-encoder U-Net and the plain CNN (no skips), with and without a presence head."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.explain import segmentation_cam
from core.models import create_model, get_spec
from core.predict import Segmenter
from core.weights import ModelCard


@pytest.mark.parametrize("name", ["unet", "unet_vgg", "cnn"])
@pytest.mark.parametrize("presence", [False, True])
def test_shapes_with_and_without_presence_head(name, presence):
    out = create_model(name, presence_head=presence)(torch.zeros(2, 1, 64, 96))
    if presence:
        assert out[0].shape == (2, 1, 64, 96) and out[1].shape == (2, 1)
    else:
        assert out.shape == (2, 1, 64, 96)


def test_only_the_unet_concatenates_encoder_features():
    unet, cnn = create_model("unet_vgg"), create_model("cnn")
    # The first decoder conv sees its skip's channels too in the U-Net, not in the plain CNN.
    assert unet.dec[0][0].in_channels == 32 + 16 and cnn.dec[0][0].in_channels == 32
    x = torch.zeros(1, 1, 64, 96)
    x[..., 30:34, 40:44] = 1.0
    grads = {}
    for name, model in (("unet_vgg", unet), ("cnn", cnn)):
        model.eval()
        inp = x.clone().requires_grad_(True)
        model(inp)[0, 0, 32, 42].backward()
        grads[name] = inp.grad.abs().sum().item()
    assert all(g > 0 for g in grads.values())


def test_plain_unet_has_ronneberger_shape():
    model = create_model("unet")
    assert [sum(isinstance(m, torch.nn.Conv2d) for m in stage) for stage in model.enc] == [2] * 5
    ups = [m for m in model.up if isinstance(m, torch.nn.ConvTranspose2d)]
    # 2x2 stride-2 up-convolutions that halve the channels to the skip's width.
    assert len(ups) == 4 and all(u.kernel_size == (2, 2) and u.stride == (2, 2) for u in ups)
    assert [(u.in_channels, u.out_channels) for u in ups] == [(32, 16), (64, 32), (128, 64), (256, 128)]
    assert model.dec[0][0].in_channels == 16 + 16  # up-sampled + skip


def test_unknown_upsampling_is_refused():
    with pytest.raises(ValueError, match="upsample"):
        create_model("unet", upsample="nearest")


def test_mobilenet_unet_presence_head_via_smp_aux_params():
    out = create_model("unet_mobilenet", aux_params={"classes": 1})(torch.zeros(2, 1, 64, 96))
    assert out[0].shape == (2, 1, 64, 96) and out[1].shape == (2, 1)


def test_vgg_shape_of_the_encoder():
    model = create_model("unet_vgg")
    convs = [sum(isinstance(m, torch.nn.Conv2d) for m in stage) for stage in model.enc]
    assert convs == [2, 2, 3, 3, 3]


def test_mismatched_stage_lists_are_refused():
    with pytest.raises(ValueError, match="one entry per stage"):
        create_model("cnn", widths=(8, 16), convs=(2, 2, 2))


def test_gradcam_through_the_presence_head_model():
    cfg = {**dict(get_spec("unet_vgg").defaults), "presence_head": True}
    card = ModelCard(task="nerve", arch="unet_vgg", arch_config=cfg, labels=["nerve"],
                     input={"size": [64, 96], "resize": "letterbox", "mean": [0.5], "std": [0.25]},
                     postprocess={"threshold": 0.5})
    seg = Segmenter(create_model("unet_vgg", presence_head=True), card)
    image = (np.random.default_rng(1).random((70, 100)) * 255).astype(np.uint8)
    cam = segmentation_cam(seg, image, np.ones((70, 100), bool))
    assert cam.shape == (70, 100) and 0.0 <= cam.min() <= cam.max() <= 1.0
    assert seg.predict(image).presence is not None
