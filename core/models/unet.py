"""U-Net with a compact MobileNetV2 encoder (segmentation-models-pytorch), random init.

The decoder is slimmed from smp's default (256, 128, 64, 32, 16) to (128, 64, 32, 16, 16):
4.1 M parameters, about 8 MB as fp16, and roughly half the CPU latency of smp's
``Unet("resnet34")`` at the same input size.
"""
from __future__ import annotations

from torch import nn

from core.models.registry import register_model


def _decoder_mid_block(model: nn.Module) -> nn.Module:
    # Quarter-resolution decoder block: semantic enough to be meaningful, fine enough to show
    # which part of the skull outline drove the mask.
    return model.decoder.blocks[2]


@register_model(
    "unet_mobilenet",
    kind="segmentation",
    cam_layer=_decoder_mid_block,
    description="U-Net, MobileNetV2 encoder, slim decoder (smp)",
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
) -> nn.Module:
    """smp U-Net; ``encoder_weights`` stays None here (no hub access; see the model cards).

    ``aux_params`` (e.g. ``{"classes": 1}``) adds smp's classification head on the encoder's
    deepest features; the model then returns ``(mask_logits, presence_logits)``.

    smp is imported here, when a model is built: importing it pulls in timm and torchvision's model
    zoo (1.6 s on a 2-core CPU), which pages without an smp model should not wait for.
    """
    import segmentation_models_pytorch as smp

    return smp.Unet(
        encoder_name=encoder_name,
        encoder_weights=encoder_weights,
        decoder_channels=tuple(decoder_channels),
        in_channels=in_channels,
        classes=classes,
        aux_params=dict(aux_params) if aux_params else None,
    )
