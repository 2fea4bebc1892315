"""Grad-CAM (Selvaraju et al. 2017) for segmentation models and classifiers, safe for a shared cached model.

The map is pytorch-grad-cam 1.5.7's ``GradCAM`` for one target layer, step for step: the layer's
activations A and the gradients dS/dA of the explained score S, channel weights = the gradients'
spatial mean, map = ReLU(sum of weighted channels), scaled to [0, 1] (minus its minimum, over its
maximum + 1e-7), resized bilinearly to the input, scaled again. The tests check it against the
library on every registered architecture. It is computed here rather than by the library because
importing pytorch-grad-cam costs a server about 180 MB of resident memory (scikit-learn,
matplotlib, ttach) for twenty lines of arithmetic.

The cached model is shared by every browser session. A forward hook on a module would also fire
on another session's prediction through it; so the CAM runs on a private copy of the model, made
once per model (not per CAM) and kept as long as the model is, and the cached one is never touched.
A lock keeps at most one CAM computing at a time, bounding memory on a small server.
"""
from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Callable

import cv2
import numpy as np
import torch

from core.models import get_spec
from core.predict import Segmenter, letterbox, split_outputs, unletterbox

_LOCK = threading.Lock()
_PRIVATE: weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module] = weakref.WeakKeyDictionary()


def _private_copy(model: torch.nn.Module) -> torch.nn.Module:
    """The CAM's own copy of a shared model (eval mode), made on first use; call under the lock."""
    twin = _PRIVATE.get(model)
    if twin is None:
        with torch.inference_mode(False):  # a copy made in inference mode could not be differentiated
            twin = _PRIVATE[model] = copy.deepcopy(model).eval()
    return twin


def _unit(cam: np.ndarray) -> np.ndarray:
    """pytorch-grad-cam's ``scale_cam_image`` of one map: minus its minimum, over its maximum."""
    cam = cam - cam.min()
    return cam / (1e-7 + cam.max())


def grad_cam(model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor,
             score: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    """Grad-CAM of ``score(model(x))`` at ``layer``'s output, HxW float32 in [0, 1] on ``x``'s grid.

    Runs with gradients whatever the caller's mode. ``model`` is hooked while it runs: pass a
    private copy (:func:`_private_copy`), never a shared model.
    """
    acts: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: acts.append(out))
    try:
        with torch.inference_mode(False), torch.enable_grad():
            x = x.clone().requires_grad_(True)  # a graph even when the weights need no gradients
            target = score(model(x))
            (grads,) = torch.autograd.grad(target, acts[0])
    finally:
        handle.remove()
    a, g = acts[0].detach()[0].numpy(), grads[0].numpy()
    cam = np.maximum((g.mean(axis=(1, 2))[:, None, None] * a).sum(axis=0), 0)
    cam = cv2.resize(_unit(cam).astype(np.float32), (x.shape[-1], x.shape[-2]))
    return _unit(np.maximum(cam, 0)).astype(np.float32)


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
    weight = torch.from_numpy(target)
    with _LOCK:
        model = _private_copy(segmenter.model)
        layer = get_spec(segmenter.card.arch).cam_layer(model)
        heat = grad_cam(_MaskLogits(model), layer, x, lambda logits: (logits[0, 0] * weight).sum())
    return np.clip(unletterbox(heat, box), 0.0, 1.0)


def classifier_cam(model: torch.nn.Module, x: torch.Tensor, target_class: int,
                   layer: Callable[[torch.nn.Module], torch.nn.Module]) -> np.ndarray:
    """Grad-CAM of one class's logit of a classifier, computed on a private copy of the model.

    Args:
        model: a network returning 1xC class logits (left untouched: the CAM runs on its private
            copy in eval mode, under the module lock).
        x: its 1xCxHxW input tensor (cloned, so an inference-mode tensor is fine).
        target_class: index of the class whose logit is explained.
        layer: picks the hooked layer out of the copy, e.g. ``lambda net: net.cam_layer(-1)``.

    Returns:
        HxW float32 in [0, 1] on the input's grid, upsampled from the layer's grid; NaN (a map
        with no positive location) is 0.
    """
    with _LOCK:
        net = _private_copy(model)
        heat = grad_cam(net, layer(net), x, lambda logits: logits[0, int(target_class)])
    heat = np.nan_to_num(np.asarray(heat, np.float32), nan=0.0)
    return np.clip(heat, 0.0, 1.0)
