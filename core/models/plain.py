"""Two compact architectures of our own for comparisons: a VGG-encoder U-Net and a plain CNN.

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
    """

    def __init__(self, in_channels: int = 1, classes: int = 1,
                 widths: tuple[int, ...] | list[int] = (16, 32, 64, 128, 128),
                 convs: tuple[int, ...] | list[int] = (2, 2, 3, 3, 3), skips: bool = True,
                 presence_head: bool = False) -> None:
        super().__init__()
        widths, convs = tuple(widths), tuple(convs)
        if len(widths) != len(convs):
            raise ValueError(f"widths and convs need one entry per stage, got {widths} and {convs}")
        self.skips = skips
        ins = (in_channels, *widths[:-1])
        self.enc = nn.ModuleList(conv_stack(i, o, n) for i, o, n in zip(ins, widths, convs))
        # Decoder stage k goes from stage k+1's width to stage k's, after upsampling.
        self.dec = nn.ModuleList(
            conv_stack(widths[k + 1] + (widths[k] if skips else 0), widths[k], 2)
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
            x = F.interpolate(x, size=feats[k].shape[-2:], mode="bilinear", align_corners=False)
            x = self.dec[k](torch.cat([x, feats[k]], 1) if self.skips else x)
        logits = self.head(x)
        return (logits, self.presence(deepest)) if self.presence is not None else logits


def _quarter_resolution_decoder(model: nn.Module) -> nn.Module:
    return model.dec[2]


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
