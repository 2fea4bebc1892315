"""Fetal head biometry: a head mask on a trans-thalamic ultrasound frame (HC18)."""
from __future__ import annotations

from core.tasks.spec import TaskSpec, register_task

TASK = register_task(TaskSpec(
    name="fetal_head",
    title="Fetal head biometry",
    kind="segmentation",
    labels=("head",),
    modality="2-D B-mode ultrasound, trans-thalamic plane",
    layouts=("hc18",),
    models=("unet", "segnet"),
    input={"size": [256, 384], "resize": "letterbox", "mean": [0.5], "std": [0.25]},
    postprocess={"threshold": 0.5, "largest_component": True, "fill_holes": True, "min_area_px": 0},
))
