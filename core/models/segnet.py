"""SegNet (Badrinarayanan, Kendall and Cipolla, TPAMI 2017), compact.

The encoder is VGG-like (two or three 3x3 conv-BN-ReLU per stage); each stage max-pools and
keeps the pooling INDICES, and the decoder max-unpools with those indices instead of learning
upsampling or copying encoder features as a U-Net does. Channel widths are reduced from the
paper's 64-512 so the model fits a CPU and a small weights file.
"""
from __future__ import annotations

import torch
from torch import nn

from core.models.blocks import conv_stack
from core.models.registry import register_model


class SegNet(nn.Module):
    """Encoder-decoder with pooling-index unpooling.

    Args:
        in_channels: input channels (1 for ultrasound).
        classes: output channels (logits).
        widths: channels of each encoder stage, shallow to deep.
        convs_per_stage: 3x3 convolutions in each stage.

    Input ``Bx C x H x W`` with H and W divisible by ``2**len(widths)``; output logits of the
    same spatial size.
    """

    def __init__(
        self,
        in_channels: int = 1,
        classes: int = 1,
        widths: tuple[int, ...] | list[int] = (16, 32, 64, 128, 128),
        convs_per_stage: int = 2,
    ) -> None:
        super().__init__()
        widths = tuple(widths)
        ins = (in_channels, *widths[:-1])
        self.enc = nn.ModuleList(conv_stack(i, o, convs_per_stage) for i, o in zip(ins, widths))
        # Decoder stage k mirrors encoder stage k: width_k -> width_{k-1} (the first -> widths[0]).
        outs = (widths[0], *widths[:-1])
        self.dec = nn.ModuleList(conv_stack(w, o, convs_per_stage) for w, o in zip(widths, outs))
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.head = nn.Conv2d(widths[0], classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        indices, sizes = [], []
        for stage in self.enc:
            x = stage(x)
            sizes.append(x.shape[-2:])
            x, idx = self.pool(x)
            indices.append(idx)
        for stage, idx, size in zip(reversed(self.dec), reversed(indices), reversed(sizes)):
            x = stage(self.unpool(x, idx, output_size=size))
        return self.head(x)


def _bottleneck_decoder(model: nn.Module) -> nn.Module:
    return model.dec[2]


@register_model(
    "segnet",
    kind="segmentation",
    cam_layer=_bottleneck_decoder,
    description="SegNet, our compact implementation with pooling-index max-unpooling",
    in_channels=1,
    classes=1,
    widths=(16, 32, 64, 128, 128),
    convs_per_stage=2,
)
def build_segnet(**cfg: object) -> nn.Module:
    """A fresh :class:`SegNet`."""
    return SegNet(**cfg)
