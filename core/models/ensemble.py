"""A mean ensemble of segmentation networks: several trained members, one model to the rest of the code.

Each member sees the same input; their foreground probabilities are averaged and handed on as the
logit of that mean, so the predictor, the volume pipeline, ``train.evaluate`` and the pages threshold
and post-process an ensemble exactly as they do one network (``core.predict.Segmenter`` resizes logits
and applies the sigmoid). That is the average ``train.cv_ensemble`` takes, on the network's grid.

``python -m train.ensemble`` builds one from trained weights folders; its card's ``arch_config`` names
the members' architecture and how many there are, and the weights file holds them all
(``members.0.*``, ``members.1.*``, ...).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from core.models.registry import create_model, get_spec, register_model

_EPS = 1e-6  # probabilities kept inside (eps, 1 - eps) so the logit stays finite


class MeanEnsemble(nn.Module):
    """Members of one architecture with one foreground output; the output is logit(mean(sigmoid))."""

    def __init__(self, member_arch: str, members: int, **member_config: Any) -> None:
        super().__init__()
        if members < 1:
            raise ValueError(f"an ensemble needs at least one member, got {members}")
        if int(member_config.get("classes", 1)) != 1:
            raise ValueError("a mean ensemble averages one foreground probability: classes must be 1")
        if get_spec(member_arch).kind != "segmentation":
            raise ValueError(f"members must be segmentation networks, {member_arch!r} is not")
        self.member_arch = member_arch
        self.members = nn.ModuleList(create_model(member_arch, **member_config) for _ in range(members))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prob = torch.stack([_mask_logits(m(x)) for m in self.members]).sigmoid().mean(0)
        return torch.logit(prob.clamp(_EPS, 1 - _EPS))


def _mask_logits(out: torch.Tensor | tuple | list) -> torch.Tensor:
    if isinstance(out, (tuple, list)):
        raise ValueError("ensembles of models with a presence head are not supported")
    return out


def _first_member_cam_layer(model: nn.Module) -> nn.Module:
    # Grad-CAM of the ensemble's output through its first member's usual layer.
    return get_spec(model.member_arch).cam_layer(model.members[0])


@register_model(
    "mean_ensemble",
    kind="ensemble",
    cam_layer=_first_member_cam_layer,
    description="the mean probability of several trained segmentation networks (train.ensemble)",
    member_arch="unet_mobilenet",
    members=2,
)
def build_mean_ensemble(member_arch: str, members: int, **member_config: Any) -> nn.Module:
    return MeanEnsemble(member_arch, members, **member_config)
