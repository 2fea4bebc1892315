"""Fold each BatchNorm that directly follows a convolution into that convolution, for inference.

In eval mode a BatchNorm is a fixed per-channel scale and shift, so ``conv -> bn`` equals one
convolution with rescaled weights and a bias: the same outputs (to float rounding) for one
convolution's cost. On the fetal U-Net this removes about a fifth of the CPU time of a forward pass.
Only pairs that sit next to each other in an ``nn.Sequential`` are folded (the pattern of torchvision's
and segmentation-models-pytorch's conv-BN-activation blocks); the BatchNorm becomes ``nn.Identity``.
"""
from __future__ import annotations

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(model: nn.Module) -> int:
    """Fold ``Conv2d -> BatchNorm2d`` pairs of ``model`` (in eval mode) in place; returns how many.

    Raises:
        ValueError: if the model is in training mode (its BatchNorm statistics still move).
    """
    if model.training:
        raise ValueError("fold BatchNorm only into a model in eval mode")
    folded = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for first, second in zip(names, names[1:]):
            conv, bn = seq._modules[first], seq._modules[second]
            if (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats
                    and bn.running_mean is not None and conv.out_channels == bn.num_features):
                seq._modules[first] = fuse_conv_bn_eval(conv, bn).eval()
                seq._modules[second] = nn.Identity().eval()
                folded += 1
    return folded
