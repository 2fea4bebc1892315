"""The modality classifier: is an upload an ultrasound frame, an MRI slice, or something else?

A small VGG-like CNN (:class:`core.models.screening.MemberNet`, random init) on a grey image
repeated over three channels. It only gates uploads (:mod:`core.predict.modality`); it never
measures anything.
"""
from __future__ import annotations

from torch import nn

from core.models.registry import register_model
from core.models.screening import MemberNet

MODALITIES = ("ultrasound", "mri", "other")


@register_model("modality_cnn", kind="classification", cam_layer=lambda m: m.cam_layer(-1),
                description="input check: ultrasound / MRI / other (photographs, documents), "
                            "a small CNN, ours",
                classes=len(MODALITIES), widths=(8, 16, 32, 64), dropout=0.2)
def build_modality_cnn(**cfg: object) -> nn.Module:
    """A :class:`MemberNet` with one logit per modality."""
    return MemberNet(**cfg)  # type: ignore[arg-type]
