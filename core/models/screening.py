"""Region-wise ensemble for face screening: a whole-face CNN plus one small CNN per facial region.

Each member sees its own input and returns C class logits; the prediction is the (optionally
weighted) mean of the members' SOFTMAX outputs, as in the rare-disease seed system. A region may
have several views that share one network (the right cheek and the MIRRORED left cheek): the
member then returns ``log(mean_v softmax(logits_v))``, so its softmax is exactly the mean of its
views' softmaxes and cross-entropy on it scores that mean.

Inputs (built by :mod:`core.face.screening`): the eye-aligned face ``Bx3xSxS`` and, per region,
``BxVx3xcxc`` crops (V views). Every member ends in a global pooling (:func:`global_pool`), so the
input sizes are free; the card records the ones it was trained at. Random init (no hub access).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import nn

from core.models.blocks import conv_stack
from core.models.registry import register_model

WHOLE_FACE = "whole_face"
DEFAULT_REGIONS = ("periocular", "nose", "mouth", "forehead", "cheeks", "lower_face")
POOLS = ("avg", "max", "lse")
LSE_R = 5.0


def global_pool(x: torch.Tensor, pool: str = "avg", r: float = LSE_R) -> torch.Tensor:
    """BxDxHxW feature maps -> BxD: the mean (``avg``), the maximum (``max``), or the log-sum-exp
    (``lse``), ``(log mean exp(r * x)) / r``, a smooth maximum whose sharpness ``r`` runs from the mean
    (r -> 0) to the maximum (r -> inf). A maximum-like pool answers "is the finding anywhere?",
    so the class evidence stays where the finding is and a Grad-CAM of the last stage points there
    (weakly supervised localisation, Oquab et al. 2015; Pinheiro and Collobert 2015)."""
    if pool == "avg":
        return x.mean(dim=(2, 3))
    if pool == "max":
        return x.amax(dim=(2, 3))
    if pool == "lse":
        flat = x.flatten(2).float() * r
        return ((torch.logsumexp(flat, dim=2) - math.log(flat.shape[2])) / r).to(x.dtype)
    raise ValueError(f"unknown pool {pool!r}; choose one of {', '.join(POOLS)}")


def _check_pool(pool: str, r: float) -> None:
    if pool not in POOLS:
        raise ValueError(f"unknown pool {pool!r}; choose one of {', '.join(POOLS)}")
    if not (math.isfinite(r) and r > 0):
        raise ValueError(f"lse_r must be a positive number, got {r}")


class MemberNet(nn.Module):
    """A compact VGG-like classifier: a stride-2 stem, stages of two 3x3 convs, max-pooling
    between stages, a global pooling, dropout and a linear head.

    Args:
        classes: output logits.
        widths: channels per stage (the stem has ``widths[0]``).
        dropout: before the linear head.
        pool: the global pooling, ``avg``, ``max`` or ``lse`` (:func:`global_pool`).
        lse_r: the sharpness of ``lse``.
    """

    def __init__(self, classes: int, widths: Sequence[int] = (16, 32, 64, 128), dropout: float = 0.2,
                 pool: str = "avg", lse_r: float = LSE_R) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if not widths or min(widths) < 1:
            raise ValueError(f"widths must be positive channel counts, got {widths}")
        _check_pool(pool, float(lse_r))
        self.pool, self.lse_r = pool, float(lse_r)
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        ins = (widths[0], *widths[:-1])
        self.stages = nn.ModuleList(conv_stack(i, o, 2) for i, o in zip(ins, widths))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(widths[-1], classes)

    @property
    def feature_dim(self) -> int:
        """Length of the pooled feature vector (the embedding)."""
        return self.head.in_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Bx3xHxW normalised images -> BxD pooled features (the penultimate layer)."""
        x = self.stem(x)
        for k, stage in enumerate(self.stages):
            x = stage(x if k == 0 else F.max_pool2d(x, 2))
        return global_pool(x, self.pool, self.lse_r)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Bx3xHxW -> BxC logits."""
        return self.head(self.dropout(self.features(x)))

    @property
    def cam_stages(self) -> int:
        """How many stages Grad-CAM may hook (``stage`` -1 .. -cam_stages)."""
        return len(self.stages)

    def cam_layer(self, stage: int = -1) -> nn.Module:
        """A convolutional stage whose output Grad-CAM hooks: -1 the deepest (coarsest map), -2 the
        one before (twice the resolution), ...; non-negative indices count from the first."""
        return _pick_stage(self.stages, stage)


class TorchvisionMember(nn.Module):
    """A torchvision backbone (``mobilenet_v3_small``, random init) as a member: its ``features``
    keep torchvision's parameter names, so a user's local ImageNet checkpoint loads by name
    (``train.classifier --pretrained``); a global pooling (:func:`global_pool`), dropout and our
    linear head."""

    BACKBONES = ("mobilenet_v3_small",)

    def __init__(self, classes: int, backbone: str = "mobilenet_v3_small", dropout: float = 0.2,
                 pool: str = "avg", lse_r: float = LSE_R) -> None:
        super().__init__()
        if backbone not in self.BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; choose one of {', '.join(self.BACKBONES)}")
        _check_pool(pool, float(lse_r))
        self.pool, self.lse_r = pool, float(lse_r)
        from torchvision.models import mobilenet_v3_small

        net = mobilenet_v3_small(weights=None)
        self.features_net = net.features
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(net.classifier[0].in_features, classes)

    @property
    def feature_dim(self) -> int:
        """Length of the pooled feature vector (the embedding)."""
        return self.head.in_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Bx3xHxW normalised images -> BxD pooled features."""
        return global_pool(self.features_net(x), self.pool, self.lse_r)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Bx3xHxW -> BxC logits."""
        return self.head(self.dropout(self.features(x)))

    @property
    def cam_stages(self) -> int:
        """How many feature blocks Grad-CAM may hook (``stage`` -1 .. -cam_stages)."""
        return len(self.features_net)

    def cam_layer(self, stage: int = -1) -> nn.Module:
        """A feature block whose output Grad-CAM hooks: -1 the last, -2 the one before, ..."""
        return _pick_stage(self.features_net, stage)


def _pick_stage(stages: nn.Sequential | nn.ModuleList, stage: int) -> nn.Module:
    """``stages[stage]`` with an error that names the valid range."""
    n = len(stages)
    if isinstance(stage, bool) or not isinstance(stage, Integral) or not -n <= stage < n:
        raise IndexError(f"CAM stage {stage!r} out of range: this member has {n} stages "
                         f"(-1 the deepest .. {-n} the first, or 0 .. {n - 1})")
    return stages[int(stage)]


BACKBONES = ("small_cnn", *TorchvisionMember.BACKBONES)


class ScreeningNet(nn.Module):
    """Whole-face CNN + one CNN per screening region, in ONE module.

    Args:
        classes: number of classes C.
        regions: region member names, in order (their crops come from ``core.face.screening``).
        widths: whole-face network channels per stage.
        region_widths: region networks' channels per stage.
        dropout: before each linear head.
        whole_face_backbone: ``"small_cnn"`` (:class:`MemberNet` with ``widths``) or a torchvision
            backbone (``"mobilenet_v3_small"``, :class:`TorchvisionMember`; ``widths`` unused).
        pool: the whole-face network's global pooling (:func:`global_pool`).
        region_pool: the region networks' global pooling.
        lse_r: the sharpness of ``lse`` pooling.
    """

    def __init__(self, classes: int = 2, regions: Sequence[str] = DEFAULT_REGIONS,
                 widths: Sequence[int] = (16, 32, 64, 128), region_widths: Sequence[int] = (16, 32, 64, 128),
                 dropout: float = 0.2, whole_face_backbone: str = "small_cnn", pool: str = "avg",
                 region_pool: str = "avg", lse_r: float = LSE_R) -> None:
        super().__init__()
        if classes < 2:
            raise ValueError(f"a screening classifier needs at least 2 classes, got {classes}")
        regions = tuple(regions)
        if WHOLE_FACE in regions or len(set(regions)) != len(regions):
            raise ValueError(f"region names must be unique and not {WHOLE_FACE!r}, got {regions}")
        self.classes = int(classes)
        self.regions = regions
        if whole_face_backbone not in BACKBONES:
            raise ValueError(f"unknown whole-face backbone {whole_face_backbone!r}; choose one of "
                             f"{', '.join(BACKBONES)}")
        self.whole_face = (MemberNet(classes, widths, dropout, pool, lse_r)
                           if whole_face_backbone == "small_cnn"
                           else TorchvisionMember(classes, whole_face_backbone, dropout, pool, lse_r))
        self.region_nets = nn.ModuleDict({r: MemberNet(classes, region_widths, dropout, region_pool, lse_r)
                                          for r in regions})

    @property
    def members(self) -> tuple[str, ...]:
        """Member names: ``"whole_face"`` then the regions."""
        return (WHOLE_FACE, *self.regions)

    def member(self, name: str) -> MemberNet | TorchvisionMember:
        """The network of one member (raises KeyError listing the members)."""
        if name == WHOLE_FACE:
            return self.whole_face
        if name not in self.region_nets:
            raise KeyError(f"unknown member {name!r}; members: {', '.join(self.members)}")
        return self.region_nets[name]

    def cam_layer(self, member: str = WHOLE_FACE, stage: int = -1) -> nn.Module:
        """The layer Grad-CAM hooks for ``member``: its stage ``stage`` (-1: the deepest)."""
        return self.member(member).cam_layer(stage)

    def embed(self, face: torch.Tensor) -> torch.Tensor:
        """Bx3xSxS aligned faces -> BxD whole-face penultimate features (not normalised)."""
        return self.whole_face.features(face)

    def forward_with_embedding(self, face: torch.Tensor, crops: Mapping[str, torch.Tensor]
                               ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Member logits (member -> BxC) and the whole-face embedding (BxD) in one pass."""
        feats = self.whole_face.features(face)
        logits = {WHOLE_FACE: self.whole_face.head(self.whole_face.dropout(feats))}
        for name in self.regions:
            if name not in crops:
                raise KeyError(f"no crop for region {name!r}; the model needs {', '.join(self.regions)}")
            logits[name] = views_logits(self.region_nets[name], crops[name])
        return logits, feats

    def forward(self, face: torch.Tensor, crops: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-member logits (member -> BxC) of the aligned faces and their region crops."""
        return self.forward_with_embedding(face, crops)[0]


def views_logits(net: nn.Module, views: torch.Tensor) -> torch.Tensor:
    """BxVx3xHxW views through one shared net -> BxC logits whose softmax is the mean of the
    views' softmaxes (plain logits when V == 1; a Bx3xHxW tensor counts as one view)."""
    if views.ndim == 4:
        views = views[:, None]
    b, v = views.shape[:2]
    logits = net(views.flatten(0, 1)).unflatten(0, (b, v))
    if v == 1:
        return logits[:, 0]
    return torch.logsumexp(torch.log_softmax(logits, dim=-1), dim=1) - math.log(v)


def mean_softmax(logits: Mapping[str, torch.Tensor], weights: Mapping[str, float] | None = None
                 ) -> torch.Tensor:
    """The ensemble's prediction: the weighted mean of the members' softmaxes (BxC).

    Args:
        logits: member -> BxC logits.
        weights: member -> non-negative weight; None (or a missing member) counts as 1.
    """
    w = {m: float((weights or {}).get(m, 1.0)) for m in logits}
    if any(v < 0 or not math.isfinite(v) for v in w.values()) or sum(w.values()) <= 0:
        raise ValueError(f"member weights must be finite, non-negative and not all zero, got {w}")
    total = sum(w.values())
    return sum(torch.softmax(x.float(), dim=-1) * (w[m] / total) for m, x in logits.items())


def _whole_face_cam_layer(model: nn.Module) -> nn.Module:
    return model.cam_layer(WHOLE_FACE)


@register_model("screening_net", kind="classification", cam_layer=_whole_face_cam_layer,
                description="face screening: whole-face CNN + one small CNN per facial region, "
                            "mean of softmaxes, ours",
                classes=2, regions=DEFAULT_REGIONS, widths=(16, 32, 64, 128),
                region_widths=(16, 32, 64, 128), dropout=0.2, whole_face_backbone="small_cnn",
                pool="avg", region_pool="avg", lse_r=LSE_R)
def build_screening_net(**cfg: object) -> nn.Module:
    """A fresh region-wise screening ensemble."""
    return ScreeningNet(**cfg)
