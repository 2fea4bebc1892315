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
    # 160x224 holds a 580x420 frame (scale 0.38) with 1 px of padding. trim_border: a file that
    # carries the frame inside letterbox bands (the shared 256x256 copy: 580x420 centred on a grey
    # square) is seen without them, at the same scale as the original frame.
    input={"size": [160, 224], "resize": "letterbox", "mean": [0.5], "std": [0.25], "trim_border": True},
    # One nerve per frame; specks under 0.2% of the frame are noise (the smallest of 1333 real
    # nerves covers 0.8%); the presence head can veto the mask.
    postprocess={"threshold": 0.5, "largest_component": True, "fill_holes": True,
                 "min_area_px": 0, "min_area_frac": 0.002, "presence_threshold": 0.5},
))
