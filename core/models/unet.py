"""U-Net with a compact MobileNetV2 encoder, random init, in plain PyTorch.

The network is segmentation-models-pytorch 0.6.0's ``Unet(encoder_name="mobilenet_v2")`` layer for
layer -- torchvision's MobileNetV2 features as the encoder (skips after features 1, 3, 6, 13, 18),
smp's U-Net decoder (nearest upsampling to the skip's size, concatenation, two conv-BN-ReLU), a 3x3
segmentation head and, with ``aux_params``, smp's classification head on the deepest features --
with the same parameter names, so weights trained through smp load unchanged (the tests check both
give the same outputs). It is written out here because importing smp pulls in timm and
torchvision's model zoo: 1.6 s and about 200 MB of resident memory for every page with such a model.

The decoder is slimmed from smp's default (256, 128, 64, 32, 16) to (128, 64, 32, 16, 16):
4.1 M parameters, about 8 MB as fp16, and roughly half the CPU latency of smp's
``Unet("resnet34")`` at the same input size.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from core.models.registry import register_model

# torchvision's MobileNetV2 (width 1.0): expansion t, channels c, repeats n, first stride s
INVERTED_RESIDUALS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                      (6, 160, 3, 2), (6, 320, 1, 1))
SKIP_FEATURES = (1, 3, 6, 13, 18)  # smp's taps into ``features``: strides 2, 4, 8, 16, 32
ENCODER_CHANNELS = (16, 24, 32, 96, 1280)


class BlurPool(nn.Module):
    """Anti-aliased downsampling (Zhang 2019, "Making convolutional networks shift-invariant again"):
    a fixed [1, 2, 1] x [1, 2, 1] / 16 low-pass filter per channel, then every second pixel. No
    parameters (the filter is a non-persistent buffer), so weights trained without it load unchanged."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (k[:, None] * k[None, :] / 16).expand(channels, 1, 3, 3).clone(),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.kernel.to(x.dtype), stride=2,
                        groups=x.shape[1])


def _conv_bn_relu6(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                   antialias: bool = False) -> nn.Sequential:
    """torchvision's ``Conv2dNormActivation`` with ReLU6 (same child indices: 0 conv, 1 BN).

    With ``antialias`` a stride-2 block convolves at stride 1 and downsamples after the activation
    through :class:`BlurPool` (child 2 becomes ReLU6 + BlurPool): the same parameters, the same
    output size, and an output that no longer flips when the input moves by a pixel or two."""
    if antialias and stride == 2:
        return nn.Sequential(nn.Conv2d(cin, cout, kernel, 1, (kernel - 1) // 2, groups=groups, bias=False),
                             nn.BatchNorm2d(cout), nn.Sequential(nn.ReLU6(inplace=True), BlurPool(cout)))
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expansion, 3x3 depthwise, 1x1 linear projection (+ the input)."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int, antialias: bool = False) -> None:
        super().__init__()
        hidden = round(cin * expand)
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = [_conv_bn_relu6(cin, hidden, 1)] if expand != 1 else []
        layers += [_conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden, antialias=antialias),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2Encoder(nn.Module):
    """MobileNetV2's ``features`` (no classifier), returning the input and the five skip maps."""

    def __init__(self, in_channels: int, antialias: bool = False) -> None:
        super().__init__()
        blocks: list[nn.Module] = [_conv_bn_relu6(in_channels, 32, stride=2, antialias=antialias)]
        cin = 32
        for t, c, n, s in INVERTED_RESIDUALS:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t, antialias))
                cin = c
        blocks.append(_conv_bn_relu6(cin, 1280, 1))
        self.features = nn.Sequential(*blocks)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = [x]
        for i, block in enumerate(self.features):
            x = block(x)
            if i in SKIP_FEATURES:
                out.append(x)
        return out


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    """smp's ``Conv2dReLU`` (3x3, batch norm, ReLU)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class DecoderBlock(nn.Module):
    """smp's ``UnetDecoderBlock`` without attention: upsample to the skip's size, concatenate, 2 convs."""

    def __init__(self, cin: int, skip: int, cout: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(cin + skip, cout)
        self.conv2 = _conv_bn_relu(cout, cout)

    def forward(self, x: torch.Tensor, size: Sequence[int], skip: torch.Tensor | None) -> torch.Tensor:
        x = F.interpolate(x, size=tuple(size), mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class UnetDecoder(nn.Module):
    """smp's ``UnetDecoder`` (no centre block): deepest map up through every skip to full size."""

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        deep_first = ENCODER_CHANNELS[::-1]
        ins = [deep_first[0], *channels[:-1]]
        skips = [*deep_first[1:], 0]
        self.blocks = nn.ModuleList(DecoderBlock(i, s, o) for i, s, o in zip(ins, skips, channels))
        for m in self.modules():  # smp's initialize_decoder
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        sizes = [f.shape[2:] for f in features][::-1]  # deepest first, the input's size last
        deep_first = features[1:][::-1]
        x, skips = deep_first[0], deep_first[1:]
        for i, block in enumerate(self.blocks):
            x = block(x, sizes[i + 1], skips[i] if i < len(skips) else None)
        return x


class MobileNetUnet(nn.Module):
    """The U-Net: ``forward`` gives mask logits, or ``(mask_logits, presence_logits)`` with a head."""

    def __init__(self, in_channels: int, classes: int, decoder_channels: Sequence[int],
                 aux_params: dict | None = None, antialias: bool = False) -> None:
        super().__init__()
        if len(decoder_channels) != len(ENCODER_CHANNELS):
            raise ValueError(f"decoder_channels needs {len(ENCODER_CHANNELS)} entries, "
                             f"got {list(decoder_channels)}")
        self.encoder = MobileNetV2Encoder(in_channels, antialias)
        self.decoder = UnetDecoder(list(decoder_channels))
        self.segmentation_head = nn.Sequential(nn.Conv2d(decoder_channels[-1], classes, 3, padding=1))
        self.classification_head = _classification_head(aux_params) if aux_params else None
        heads = [self.segmentation_head] + ([self.classification_head] if self.classification_head else [])
        for head in heads:  # smp's initialize_head
            for m in head.modules():
                if isinstance(m, (nn.Linear, nn.Conv2d)):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        h, w = x.shape[-2:]
        if h % 32 or w % 32:
            raise RuntimeError(f"the MobileNetV2 U-Net needs a height and width divisible by 32, got {h}x{w}")
        features = self.encoder(x)
        masks = self.segmentation_head(self.decoder(features))
        if self.classification_head is not None:
            return masks, self.classification_head(features[-1])
        return masks


def _classification_head(aux: dict) -> nn.Sequential:
    """smp's ``ClassificationHead`` (pool, flatten, dropout, linear; child 3 is the linear layer)."""
    unknown = set(aux) - {"classes", "pooling", "dropout", "activation"}
    if unknown or aux.get("activation") is not None:
        raise ValueError(f"aux_params supports classes, pooling and dropout, got {dict(aux)}")
    pool = aux.get("pooling", "avg")
    if pool not in ("avg", "max"):
        raise ValueError(f"aux_params pooling must be 'avg' or 'max', got {pool!r}")
    dropout = aux.get("dropout", 0.2)
    return nn.Sequential(nn.AdaptiveAvgPool2d(1) if pool == "avg" else nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                         nn.Dropout(p=dropout, inplace=True) if dropout else nn.Identity(),
                         nn.Linear(ENCODER_CHANNELS[-1], int(aux.get("classes", 1))), nn.Identity())


def _decoder_mid_block(model: nn.Module) -> nn.Module:
    # Quarter-resolution decoder block: semantic enough to be meaningful, fine enough to show
    # which part of the skull outline drove the mask.
    return model.decoder.blocks[2]


@register_model(
    "unet_mobilenet",
    kind="segmentation",
    cam_layer=_decoder_mid_block,
    description="U-Net, MobileNetV2 encoder, slim decoder (smp's layout, plain PyTorch)",
    encoder_name="mobilenet_v2",
    decoder_channels=(128, 64, 32, 16, 16),
    in_channels=1,
    classes=1,
)
def build_unet_mobilenet(
    *,
    encoder_name: str,
    decoder_channels: tuple[int, ...] | list[int],
    in_channels: int,
    classes: int,
    encoder_weights: str | None = None,
    aux_params: dict | None = None,
    antialias: bool = False,
) -> nn.Module:
    """The MobileNetV2 U-Net; ``encoder_weights`` must stay None (no hub access; see the model cards).

    ``aux_params`` (e.g. ``{"classes": 1}``) adds smp's classification head on the encoder's
    deepest features; the model then returns ``(mask_logits, presence_logits)``. ``antialias``
    blurs before each of the encoder's five downsamplings (:class:`BlurPool`; same parameters).
    """
    if encoder_name != "mobilenet_v2":
        raise ValueError(f"only the mobilenet_v2 encoder is built here, got {encoder_name!r}")
    if encoder_weights is not None:
        raise ValueError("pretrained encoder weights are not available offline: encoder_weights must be None")
    return MobileNetUnet(in_channels, classes, decoder_channels, aux_params, bool(antialias))
