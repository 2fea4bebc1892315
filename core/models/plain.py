"""Compact architectures of our own for comparisons: a plain U-Net, a VGG-encoder U-Net and a
plain CNN.

* ``unet``: Ronneberger's U-Net shape (two 3x3 convolutions per stage, 2x2 transposed-conv
  up-sampling that halves the channels, skip concatenation), with widths scaled down.
* ``unet_vgg``: a U-Net whose encoder has VGG16's shape (2, 2, 3, 3, 3 convolutions per
  stage, as in TernausNet), with widths scaled down so it trains on a CPU and ships small.
* ``cnn``: the same kind of encoder and decoder WITHOUT skip connections: the baseline that
  shows what the skips of a U-Net buy.

Both can carry an auxiliary presence head (``presence_head=True``); they then return
``(mask_logits, presence_logits)``. Inputs need H and W divisible by ``2**(len(widths)-1)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.models.blocks import PresenceHead, conv_stack
from core.models.registry import register_model


class EncoderDecoder(nn.Module):
    """VGG-shaped encoder, bilinear-upsampling decoder, skip connections optional.

    Args:
        in_channels: input channels.
        classes: mask logit channels.
        widths: channels per encoder stage, shallow to deep (the first runs at full size).
        convs: 3x3 convolutions per encoder stage.
        skips: concatenate encoder features into the decoder (a U-Net) or not (a plain CNN).
        presence_head: add the auxiliary image-level head.
        upsample: ``"bilinear"`` interpolation, or ``"transpose"``: a learned 2x2 transposed
            convolution to the skip's width, as in the original U-Net.
    """

    def __init__(self, in_channels: int = 1, classes: int = 1,
                 widths: tuple[int, ...] | list[int] = (16, 32, 64, 128, 128),
                 convs: tuple[int, ...] | list[int] = (2, 2, 3, 3, 3), skips: bool = True,
                 presence_head: bool = False, upsample: str = "bilinear") -> None:
        super().__init__()
        widths, convs = tuple(widths), tuple(convs)
        if len(widths) != len(convs):
            raise ValueError(f"widths and convs need one entry per stage, got {widths} and {convs}")
        if upsample not in ("bilinear", "transpose"):
            raise ValueError(f"upsample must be 'bilinear' or 'transpose', got {upsample!r}")
        self.skips = skips
        transpose = upsample == "transpose"
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(widths[k + 1], widths[k], 2, stride=2) if transpose else nn.Identity()
            for k in range(len(widths) - 1)
        )
        ins = (in_channels, *widths[:-1])
        self.enc = nn.ModuleList(conv_stack(i, o, n) for i, o, n in zip(ins, widths, convs))
        # Decoder stage k goes from stage k+1's width to stage k's, after upsampling.
        self.dec = nn.ModuleList(
            conv_stack((widths[k] if transpose else widths[k + 1]) + (widths[k] if skips else 0),
                       widths[k], 2)
            for k in range(len(widths) - 1)
        )
        self.head = nn.Conv2d(widths[0], classes, 1)
        self.presence = PresenceHead(widths[-1]) if presence_head else None

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        feats = []
        for k, stage in enumerate(self.enc):
            x = stage(x if k == 0 else F.max_pool2d(x, 2))
            feats.append(x)
        deepest = x
        for k in reversed(range(len(self.dec))):
            if isinstance(self.up[k], nn.Identity):
                x = F.interpolate(x, size=feats[k].shape[-2:], mode="bilinear", align_corners=False)
            else:
                x = self.up[k](x)
            x = self.dec[k](torch.cat([x, feats[k]], 1) if self.skips else x)
        logits = self.head(x)
        return (logits, self.presence(deepest)) if self.presence is not None else logits


def _quarter_resolution_decoder(model: nn.Module) -> nn.Module:
    return model.dec[2]


@register_model("unet", kind="segmentation", cam_layer=_quarter_resolution_decoder,
                description="plain U-Net (Ronneberger shape: 2 convs per stage, transposed-conv "
                            "up-sampling), compact, ours",
                in_channels=1, classes=1, widths=(16, 32, 64, 128, 256), convs=(2, 2, 2, 2, 2),
                presence_head=False, upsample="transpose")
def build_unet(**cfg: object) -> nn.Module:
    """A fresh plain U-Net."""
    return EncoderDecoder(skips=True, **cfg)


@register_model("unet_vgg", kind="segmentation", cam_layer=_quarter_resolution_decoder,
                description="U-Net with a VGG16-shaped encoder (2-2-3-3-3 convs), compact, ours",
                in_channels=1, classes=1, widths=(16, 32, 64, 128, 128), convs=(2, 2, 3, 3, 3),
                presence_head=False)
def build_unet_vgg(**cfg: object) -> nn.Module:
    """A fresh VGG-encoder U-Net."""
    return EncoderDecoder(skips=True, **cfg)


@register_model("cnn", kind="segmentation", cam_layer=_quarter_resolution_decoder,
                description="plain encoder-decoder CNN without skip connections, ours",
                in_channels=1, classes=1, widths=(16, 32, 64, 128, 128), convs=(2, 2, 2, 2, 2),
                presence_head=False)
def build_cnn(**cfg: object) -> nn.Module:
    """A fresh plain encoder-decoder (no skips)."""
    return EncoderDecoder(skips=False, **cfg)
