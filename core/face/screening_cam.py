"""Grad-CAM of a face screening ensemble member: the screening side of :mod:`core.explain`.

The generic part (the lock, the private copy of the network, the map of one class's logit) is
:func:`core.explain.classifier_cam`; this adapter picks the
member's input (the aligned face or one view of a region crop) and the stage the card names.
"""
from __future__ import annotations

import numpy as np

from core.explain import classifier_cam
from core.face.screening import Screener, ScreeningInputs, ScreeningResult, cam_stages
from core.models.screening import WHOLE_FACE


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
            map of twice the resolution, ...); None: the card's choice
            (:func:`core.face.screening.cam_stages`).

    Returns:
        HxW float32 in [0, 1] on that member's input: the aligned face, or the region crop as the
        member saw it (mirrored views mirrored), upsampled from the stage's grid. All zeros where
        no location raises the logit.
    """
    inputs = getattr(result_or_inputs, "inputs", result_or_inputs)
    if not 0 <= int(target_class) < len(screener.labels):
        raise ValueError(f"target_class must be in 0..{len(screener.labels) - 1} "
                         f"({', '.join(screener.labels)}), got {target_class}")
    image = inputs.member_image(member, view)  # raises on an unknown member or view
    if stage is None:
        stage = cam_stages(screener.card, screener.members)[member]
    heat = classifier_cam(screener.model.member(member), screener.member_tensor(inputs, member, view),
                          int(target_class), lambda net: net.cam_layer(stage))
    if heat.shape != image.shape[:2]:
        raise RuntimeError(f"Grad-CAM returned {heat.shape}, expected {image.shape[:2]}")
    return heat
