"""Explanations of what a model looks at, generic over tasks.

* :mod:`core.explain.gradcam`: Grad-CAM of a segmentation model's mask or a classifier's class
  logit, on a private copy of a shared cached model, one CAM at a time (a lock);
* :mod:`core.explain.pointing`: the CAM's peak and the pointing game against evidence masks.

Task adapters live with their task (the face screening one: :mod:`core.face.screening_cam`).
"""
from __future__ import annotations

from core.explain.gradcam import classifier_cam, segmentation_cam
from core.explain.pointing import cam_peak, pointing_game

__all__ = ["cam_peak", "classifier_cam", "pointing_game", "segmentation_cam"]
