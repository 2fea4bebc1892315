"""The task table: what each analysis segments or classifies, and where its files live.

A new analysis is mostly a row here, a phantom generator and a small page.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_ROOT = Path(os.environ.get("MEDIMG_WEIGHTS", PROJECT_ROOT / "weights"))
SAMPLES_ROOT = PROJECT_ROOT / "data_samples"


@dataclass(frozen=True)
class TaskSpec:
    """One analysis task.

    Attributes:
        name: identifier used in paths and on the command line.
        title: human name.
        kind: ``"segmentation"`` or ``"classification"``.
        labels: output channel names.
        modality: imaging modality in words.
        layout: dataset layout ``core.datasets`` reads for it.
        models: architectures shipped for it, default first.
        input: the preprocessing a new model card starts from.
        postprocess: the post-processing a new model card starts from.
        samples: folder name of the bundled samples under data_samples/ (default: ``name``).
    """

    name: str
    title: str
    kind: str
    labels: tuple[str, ...]
    modality: str
    layout: str
    models: tuple[str, ...]
    input: dict[str, Any] = field(default_factory=dict)
    postprocess: dict[str, Any] = field(default_factory=dict)
    samples: str = ""

    def weights_dir(self, model: str, root: Path | None = None) -> Path:
        """Folder of the shipped weights of ``model`` for this task."""
        return (root or WEIGHTS_ROOT) / self.name / model

    @property
    def samples_dir(self) -> Path:
        """Folder of this task's bundled sample cases (in the real dataset's layout)."""
        return SAMPLES_ROOT / (self.samples or self.name)


TASKS: dict[str, TaskSpec] = {
    "fetal_head": TaskSpec(
        name="fetal_head",
        title="Fetal head biometry",
        kind="segmentation",
        labels=("head",),
        modality="2-D B-mode ultrasound, trans-thalamic plane",
        layout="hc18",
        models=("unet", "segnet"),
        input={"size": [256, 384], "resize": "letterbox", "mean": [0.5], "std": [0.25]},
        postprocess={"threshold": 0.5, "largest_component": True, "fill_holes": True,
                     "min_area_px": 0},
    ),
    "nerve": TaskSpec(
        name="nerve",
        title="Ultrasound nerve segmentation",
        kind="segmentation",
        labels=("nerve",),
        modality="2-D B-mode ultrasound, brachial plexus, linear probe",
        layout="kaggle_nerve",
        # Weights folder names as the nerve issue names the four models; each card says
        # which registered architecture builds it.
        models=("unet", "unet_mobilenet", "unet_vgg", "cnn"),
        input={"size": [256, 352], "resize": "letterbox", "mean": [0.5], "std": [0.25]},
        # One nerve per frame; small specks are noise; the presence head can veto the mask.
        postprocess={"threshold": 0.5, "largest_component": True, "fill_holes": True,
                     "min_area_px": 1000, "presence_threshold": 0.5},
    ),
    "brain_tumor": TaskSpec(
        name="brain_tumor",
        title="Brain tumour segmentation",
        kind="segmentation",
        labels=("tumour",),
        modality="MRI, one sequence (T1-weighted post-contrast-like), read as 2-D slices of a volume",
        layout="nifti_pairs",
        models=("unet",),
        # "window": each volume is scaled to 0..255 once, from its own 0.5th..99.5th percentile
        # (core.brain.window_volume), so every slice of a volume sees the same intensity scale.
        input={"size": [256, 256], "resize": "letterbox", "mean": [0.5], "std": [0.25],
               "window": "volume_percentile"},
        # Whole tumour (necrotic core + oedema + enhancing rim); a volume may hold several tumours.
        # min_component_vox: 3-D components of the stacked mask smaller than this are dropped.
        postprocess={"threshold": 0.5, "largest_component": False, "fill_holes": True,
                     "min_area_px": 20, "min_component_vox": 100},
        samples="brain_mri",
    ),
}


def get_task(name: str) -> TaskSpec:
    """The :class:`TaskSpec` called ``name``; an unknown name lists the valid ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; tasks: {', '.join(sorted(TASKS))}") from None
