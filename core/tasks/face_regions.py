"""Facial regions: a U-Net's region labels on the eye-aligned face (beside the landmark-derived ones)."""
from __future__ import annotations

from core.face.regions import LABEL_NAMES
from core.tasks.spec import TaskSpec, register_task

TASK = register_task(TaskSpec(
    name="face_regions",
    title="Facial regions",
    kind="segmentation",
    labels=LABEL_NAMES,
    modality="frontal face photo (RGB), aligned by the eye centres",
    layouts=(),  # trained on landmark-derived masks of face photos; no labelled layout is read yet
    models=("unet",),
    input={"size": [192, 192], "resize": "align_face", "align": {"eye_distance": 0.28, "eye_y": 0.4},
           "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    postprocess={"argmax": True, "mirror_tta": True},
    samples="face",
))
