"""Grad-CAM (pytorch-grad-cam) for segmentation models and classifiers, safe for a shared cached model.

The cached model is shared by every browser session. Grad-CAM registers hooks, and any
forward pass through a hooked module (another session's prediction, say) would write into
them; so the CAM runs on a private copy of the model and the cached one is never touched.
A lock keeps at most one CAM computing at a time, bounding memory on a small server.
pytorch-grad-cam is imported on first use: it pulls in about 330 MB of libraries, which a
dashboard process should only pay when someone asks for a CAM.
"""
from __future__ import annotations

import copy
import threading
from collections.abc import Callable

import numpy as np
import torch

from core.models import get_spec
from core.predict import Segmenter, letterbox, split_outputs, unletterbox

_LOCK = threading.Lock()


class _MaskLogits(torch.nn.Module):
    """Exposes only the mask logits of a model that may also have a presence head."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return split_outputs(self.model(x))[0]


def segmentation_cam(segmenter: Segmenter, image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Grad-CAM of the foreground logits inside the predicted (or given) mask.

    Args:
        segmenter: the predictor whose model is explained (left untouched).
        image: HxW or HxWx3 frame.
        mask: HxW bool region whose score is explained, on the frame's grid; None uses the
            model's own prediction.

    Returns:
        HxW float32 in [0, 1] on the frame's grid (all zeros if nothing was segmented).
    """
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

    x, box = segmenter.input_tensor(image)
    if mask is None:
        with torch.inference_mode():
            logits = split_outputs(segmenter.model(x))[0]
            target = (torch.sigmoid(logits[0, 0]) >= segmenter.threshold).cpu().numpy()
    else:
        target = letterbox(mask.astype(np.float32), segmenter.card.input["size"], crop=box.crop)[0] >= 0.5
    target = target.astype(np.float32)
    if not target.any():
        return np.zeros(image.shape[:2], np.float32)
    # Gradients are needed even when the caller runs under no_grad / inference_mode.
    with _LOCK, torch.inference_mode(False), torch.enable_grad():
        model = copy.deepcopy(segmenter.model).eval()
        layer = get_spec(segmenter.card.arch).cam_layer(model)
        with GradCAM(model=_MaskLogits(model), target_layers=[layer]) as cam:
            targets = [SemanticSegmentationTarget(0, target)]
            heat = cam(input_tensor=x.clone(), targets=targets)[0]
    return np.clip(unletterbox(heat, box), 0.0, 1.0)


def classifier_cam(model: torch.nn.Module, x: torch.Tensor, target_class: int,
                   layer: Callable[[torch.nn.Module], torch.nn.Module]) -> np.ndarray:
    """Grad-CAM of one class's logit of a classifier, computed on a private copy of the model.

    Args:
        model: a network returning 1xC class logits (left untouched: the CAM runs on a deep
            copy in eval mode, under the module lock).
        x: its 1xCxHxW input tensor (cloned, so an inference-mode tensor is fine).
        target_class: index of the class whose logit is explained.
        layer: picks the hooked layer out of the copy, e.g. ``lambda net: net.cam_layer(-1)``.

    Returns:
        HxW float32 in [0, 1] on the input's grid, upsampled from the layer's grid; NaN (a map
        with no positive location) is 0.
    """
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    with _LOCK, torch.inference_mode(False), torch.enable_grad():
        x = x.clone()
        net = copy.deepcopy(model).eval()
        with GradCAM(model=net, target_layers=[layer(net)]) as cam:
            heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(target_class))])[0]
    heat = np.nan_to_num(np.asarray(heat, np.float32), nan=0.0)
    return np.clip(heat, 0.0, 1.0)
