"""Grad-CAM for segmentation and face screening models (pytorch-grad-cam), safe for a shared cached model.

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
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from core.face.screening import WHOLE_FACE, Screener, ScreeningInputs, ScreeningResult
from core.models import get_spec
from core.predict import Segmenter, letterbox, split_outputs, unletterbox
from core.weights import ModelCard, WeightsError

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
        target = letterbox(mask.astype(np.float32), segmenter.card.input["size"])[0] >= 0.5
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


def cam_stages(card: ModelCard, members: Sequence[str]) -> dict[str, int]:
    """The stage Grad-CAM hooks for each member, from the card's ``explain.cam_stage``.

    A card without an ``explain`` section (or a member it does not name) gives -1, the deepest
    stage, as before stages became selectable.

    Raises:
        WeightsError: the section names a member the model does not have, or a stage that is
            not an integer.
    """
    given = (card.explain or {}).get("cam_stage") or {}
    unknown = sorted(set(given) - set(members))
    if unknown:
        raise WeightsError(f"the card's explain.cam_stage names {unknown}, not members of the model "
                           f"({', '.join(members)})")
    bad = {m: s for m, s in given.items() if isinstance(s, bool) or not isinstance(s, int)}
    if bad:
        raise WeightsError(f"the card's explain.cam_stage must map members to integer stages, got {bad}")
    return {m: int(given.get(m, -1)) for m in members}


def classification_cam(screener: Screener, result_or_inputs: ScreeningResult | ScreeningInputs,
                       target_class: int, member: str = WHOLE_FACE, view: int = 0,
                       stage: int | None = None) -> np.ndarray:
    """Grad-CAM of one class's logit for one member of a face screening ensemble.

    Args:
        screener: the predictor whose model is explained (left untouched: the CAM runs on a
            private copy of the member's network).
        result_or_inputs: a prediction, or the prepared inputs, of one face.
        target_class: index of the class explained (e.g. ``result.top_index``).
        member: ``"whole_face"`` or a region member (``screener.members``).
        view: which view of a multi-view region (``cheeks``: 0 the right cheek, 1 the mirrored
            left cheek).
        stage: the member's stage whose output is hooked (-1 the deepest, -2 the one before: a
            map of twice the resolution, ...); None: the card's choice (:func:`cam_stages`).

    Returns:
        HxW float32 in [0, 1] on that member's input: the aligned face, or the region crop as the
        member saw it (mirrored views mirrored), upsampled from the stage's grid. All zeros where
        no location raises the logit.
    """
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    inputs = getattr(result_or_inputs, "inputs", result_or_inputs)
    if not 0 <= int(target_class) < len(screener.labels):
        raise ValueError(f"target_class must be in 0..{len(screener.labels) - 1} "
                         f"({', '.join(screener.labels)}), got {target_class}")
    image = inputs.member_image(member, view)  # raises on an unknown member or view
    if stage is None:
        stage = cam_stages(screener.card, screener.members)[member]
    with _LOCK, torch.inference_mode(False), torch.enable_grad():
        x = screener.member_tensor(inputs, member, view).clone()
        net = copy.deepcopy(screener.model.member(member)).eval()
        with GradCAM(model=net, target_layers=[net.cam_layer(stage)]) as cam:
            heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(target_class))])[0]
    heat = np.nan_to_num(np.asarray(heat, np.float32), nan=0.0)
    if heat.shape != image.shape[:2]:
        raise RuntimeError(f"Grad-CAM returned {heat.shape}, expected {image.shape[:2]}")
    return np.clip(heat, 0.0, 1.0)


def cam_peak(cam: np.ndarray) -> tuple[int, int]:
    """(row, col) of the CAM's highest value (the first in row-major order on ties)."""
    cam = np.asarray(cam)
    if cam.ndim != 2 or cam.size == 0:
        raise ValueError(f"expected an HxW map, got shape {cam.shape}")
    row, col = np.unravel_index(int(np.argmax(cam)), cam.shape)
    return int(row), int(col)


def pointing_game(cams: Sequence[np.ndarray], evidence_masks: Sequence[np.ndarray]) -> dict[str, Any]:
    """Share of cases whose CAM peak falls inside the region that truly carries the evidence.

    Both maps of a case must be on the same grid (e.g. the aligned face). Cases with an empty
    evidence mask (a healthy face, or evidence outside this member's crop) cannot be scored and
    are skipped; a CAM that is zero everywhere has no peak and counts as a miss.

    Returns:
        ``hits``, ``n`` (cases scored), ``score`` (hits / n; None when n == 0), ``skipped``
        (empty evidence masks) and ``flat`` (scored cases whose CAM was all zero).
    """
    if len(cams) != len(evidence_masks):
        raise ValueError(f"{len(cams)} CAMs but {len(evidence_masks)} evidence masks")
    hits = n = skipped = flat = 0
    for cam, mask in zip(cams, evidence_masks):
        cam, mask = np.asarray(cam), np.asarray(mask, bool)
        if cam.shape != mask.shape:
            raise ValueError(f"a CAM of shape {cam.shape} and an evidence mask of shape {mask.shape}: "
                             "warp both into the same frame first")
        if not mask.any():
            skipped += 1
            continue
        n += 1
        if not np.any(cam > 0):
            flat += 1
            continue
        hits += bool(mask[cam_peak(cam)])
    return {"hits": hits, "n": n, "score": hits / n if n else None, "skipped": skipped, "flat": flat}
