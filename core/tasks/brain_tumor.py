"""Brain tumour segmentation: the whole tumour on MRI volumes, slice by slice."""
from __future__ import annotations

from core.tasks.spec import TaskSpec, register_task
from core.windowing import VOLUME_WINDOW

TASK = register_task(TaskSpec(
    name="brain_tumor",
    title="Brain tumour segmentation",
    kind="segmentation",
    labels=("tumour",),
    modality="MRI, read as 2-D axial slices of a volume: the three LGG sequences pre-contrast, FLAIR and "
             "post-contrast together (unet), or FLAIR alone (unet_flair)",
    # The first: what `--data` is read as when it is not kaggle_3m (data_samples/brain_mri has both:
    # phantom NIfTI pairs and, in kaggle_3m/, a real LGG patient).
    layouts=("nifti_pairs", "kaggle_3m"),
    models=("unet", "unet_flair"),  # 3 sequences, then FLAIR alone: the page picks what the input can feed
    # "window": each volume (each sequence) is put on one intensity scale before its slices are cut:
    # VOLUME_WINDOW, "volume_median", divides it by its head's median signal, so normal brain has the
    # same grey in every patient and a lesion keeps its signal ratio to it (core.windowing). In the
    # 4-fold cross-validation over 16 LGG patients it raised the mean per-patient Dice from 0.621
    # ("volume_percentile", the 0.5th..99.5th percentile range, whose top is scalp fat or vessels)
    # to 0.726 (README).
    input={"size": [256, 256], "resize": "letterbox", "mean": [0.5], "std": [0.25],
           "window": VOLUME_WINDOW},
    # The FLAIR abnormality (tumour with its oedema, as the LGG masks draw it). min_component_vox: 3-D
    # components of the stacked mask smaller than this are dropped; largest_component_3d: then only the
    # largest is kept (a lower-grade glioma is usually one lesion: in the 4-fold cross-validation over 16
    # LGG patients it raised the mean per-patient Dice 0.606 -> 0.621 and cut false positives on
    # tumour-free slices 8.8% -> 6.2%; README). The page can switch it off to show every piece.
    postprocess={"threshold": 0.5, "largest_component": False, "fill_holes": True,
                 "min_area_px": 20, "min_component_vox": 100, "largest_component_3d": True},
    samples="brain_mri",
))
