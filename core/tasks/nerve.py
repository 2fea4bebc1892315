"""Ultrasound nerve segmentation: the brachial plexus on a linear-probe frame (Kaggle 2016)."""
from __future__ import annotations

from core.tasks.spec import TaskSpec, register_task

TASK = register_task(TaskSpec(
    name="nerve",
    title="Ultrasound nerve segmentation",
    kind="segmentation",
    labels=("nerve",),
    modality="2-D B-mode ultrasound, brachial plexus, linear probe",
    # Kaggle's own train/ first (the bundled samples, the --data default); then the images/ + masks/
    # copy of the shared data, read when a folder holds it.
    layouts=("kaggle_nerve", "nerve_images"),
    # Weights folder names as the nerve issue names the four models; each card says which
    # registered architecture builds it.
    models=("unet", "unet_mobilenet", "unet_vgg", "cnn"),
    input={"size": [256, 352], "resize": "letterbox", "mean": [0.5], "std": [0.25]},
    # One nerve per frame; small specks are noise; the presence head can veto the mask.
    postprocess={"threshold": 0.5, "largest_component": True, "fill_holes": True,
                 "min_area_px": 1000, "presence_threshold": 0.5},
))
