"""Dataset folder layouts: one module per layout (reader + probe), one registry.

Importing this package registers every layout (:mod:`core.datasets.registry`). To add a layout,
write ``core/datasets/<name>.py`` that calls :func:`register_layout` and import it below.

* :mod:`core.datasets.base`: :class:`Case`, the errors, shared helpers;
* :mod:`core.datasets.registry`: :class:`Layout`, :func:`register_layout`, :func:`get_layout`,
  :func:`list_layouts`, :func:`detect_layout`, :func:`probe_layout`, :func:`read_cases`,
  :func:`read_labelled`;
* :mod:`core.datasets.inventory`: what a folder holds, for the detection messages;
* layouts: :mod:`~core.datasets.hc18` (fetal head), :mod:`~core.datasets.kaggle_nerve` (nerve: Kaggle
  ``train/``), :mod:`~core.datasets.nerve_images` (nerve: ``images/`` + ``masks/``),
  :mod:`~core.datasets.nifti_pairs` (brain MRI: MSD / nnU-Net / BraTS), :mod:`~core.datasets.kaggle_3m`
  (brain MRI: LGG TIFF slices, 3 sequences; patients as volumes: :mod:`~core.datasets.kaggle_3m_volumes`),
  :mod:`~core.datasets.image_folder` (face photos, one sub-folder per class).
"""
from __future__ import annotations

from core.datasets import (  # noqa: F401  (registration)
    hc18,
    image_folder,
    kaggle_3m,
    kaggle_nerve,
    nerve_images,
    nifti_pairs,
)
from core.datasets.base import IMAGE_SUFFIXES, Case, DatasetError, DatasetLayoutError
from core.datasets.hc18 import HC18_FRAME, HC18_SPLITS, fill_outline, hc18_split_dirs, read_hc18
from core.datasets.image_folder import image_folder_items, read_image_folder
from core.datasets.kaggle_3m import FLAIR, SEQUENCES, read_kaggle_3m
from core.datasets.kaggle_3m_volumes import read_kaggle_3m_volumes
from core.datasets.kaggle_nerve import NERVE_TEST_FRAME, NERVE_TRAIN_FRAME, read_kaggle_nerve
from core.datasets.nerve_images import read_nerve_images
from core.datasets.nifti_pairs import (
    BRATS_LABELS,
    VolumeCase,
    nifti_pair_files,
    nifti_pair_slices,
    read_nifti_pairs,
    read_volume_case,
)
from core.datasets.registry import (
    Layout,
    LayoutGuess,
    UnknownLayoutError,
    detect_layout,
    get_layout,
    list_layouts,
    probe_layout,
    read_cases,
    read_labelled,
    register_layout,
    unregister_layout,
)

__all__ = ["BRATS_LABELS", "Case", "DatasetError", "DatasetLayoutError", "FLAIR", "HC18_FRAME",
           "HC18_SPLITS", "IMAGE_SUFFIXES", "Layout", "LayoutGuess", "NERVE_TEST_FRAME",
           "NERVE_TRAIN_FRAME", "SEQUENCES", "UnknownLayoutError", "VolumeCase", "detect_layout",
           "fill_outline", "get_layout", "hc18_split_dirs", "image_folder_items", "list_layouts",
           "nifti_pair_files", "nifti_pair_slices", "probe_layout", "read_cases", "read_hc18",
           "read_image_folder", "read_kaggle_3m", "read_kaggle_3m_volumes", "read_kaggle_nerve",
           "read_labelled", "read_nerve_images", "read_nifti_pairs", "read_volume_case", "register_layout",
           "unregister_layout"]
