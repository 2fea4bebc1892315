"""Facial regions: a face parser's FASSEG regions on the photo (beside the landmark-derived ones)."""
from __future__ import annotations

from core.datasets.fasseg import CLASSES
from core.tasks.spec import TaskSpec, register_task

TASK = register_task(TaskSpec(
    name="face_regions",
    title="Facial regions",
    kind="segmentation",
    labels=CLASSES,
    modality="face photo (RGB), the head framed as in FASSEG (any yaw)",
    layouts=("fasseg",),  # read by core.datasets.fasseg (multi-class labels: not a model-lab layout)
    models=("unet",),
    input={"size": [256, 256], "resize": "face_box",
           "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    postprocess={"argmax": True, "mirror_tta": True},
    samples="face",
))
