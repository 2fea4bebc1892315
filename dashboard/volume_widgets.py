"""Widgets for volumes (brain MRI page): volume input and the slice viewer's controls."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st

from core.analysis.brain_patients import model_input
from core.datasets import SEQUENCES, DatasetError, VolumeCase
from core.datasets.kaggle_3m_upload import uploaded_slice_mask
from core.io.image import ImageError
from core.io.nifti import read_nifti
from core.io.volume import Volume
from core.lab import models_that_fit
from core.predict.modality import volume_views
from core.volume_view import AXES, default_window
from core.weights import ModelCard
from dashboard import cache, widgets

VOLUME_TYPES = ["nii", "gz", "zip", "dcm", "dicom", "png", "tif", "tiff"]


MAX_LABEL_VALUES = 16  # background + tumour sub-regions (BraTS uses 4); an intensity image has many more


@dataclass(frozen=True)
class VolumeInput:
    """The volume a page analyses: ``key`` identifies it for caching (sample name or sha256)."""

    name: str
    key: str
    case: VolumeCase  # as read: its volume, and for an LGG patient its three sequences
    label: np.ndarray | None  # ZxHxW uint8 labels on the volume's display grid, or None

    @property
    def volume(self) -> Volume:
        return self.case.volume

    @property
    def sequences(self) -> dict[str, Volume] | None:
        """An LGG kaggle_3m patient's three sequences by name, else None."""
        return self.case.meta.get("sequences")

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(self.case.meta.get("notes", ()))

    def model_input(self, channels: int) -> np.ndarray:
        """What a slice model of ``channels`` inputs reads of the case
        (:func:`core.analysis.brain_patients.model_input`)."""
        return model_input(self.case, channels)


@dataclass(frozen=True)
class ViewSettings:
    """Where and how to look: axis name, slice index, window level / width, overlay opacity."""

    axis: str
    index: int
    level: float
    width: float
    opacity: float


def volume_input(key: str) -> VolumeInput | None:
    """Sidebar choice of a bundled case or an upload (NIfTI, zipped or several DICOM files, one 2-D
    slice, or an LGG kaggle_3m patient as slice TIFFs or a zip), with an optional ground-truth label
    upload (an LGG patient's own _mask.tif files come with it); None (and a message) when unusable."""
    names = cache.brain_sample_names()
    options = (["Bundled sample"] if names else []) + ["Upload"]
    source = st.sidebar.radio("Volume", options, key=f"{key}_source", horizontal=True)
    if source == "Bundled sample":
        name = st.sidebar.selectbox("Sample case", names, key=f"{key}_sample")
        case = cache.brain_sample(name)
        return VolumeInput(name, f"sample:{name}", case, case.label)
    ups = st.file_uploader("MRI volume: NIfTI (.nii, .nii.gz), a .zip of one DICOM series, the series' "
                           "DICOM files, a single slice (PNG, TIFF, DICOM), or an LGG kaggle_3m patient: "
                           "its slice TIFFs (with their _mask.tif files for ground truth) or a .zip of "
                           "its folder", type=VOLUME_TYPES, accept_multiple_files=True, key=f"{key}_upload")
    if not ups:
        st.info("Upload a volume, or switch to a bundled sample in the sidebar.")
        return None
    files = tuple((u.name, u.getvalue()) for u in ups)  # in memory only; nothing is written to disk
    sha = hashlib.sha256()
    for _, data in files:  # file by file: joining a large series first would copy it once more
        sha.update(data)
    digest = sha.hexdigest()
    label_name = "the upload" if len(files) > 1 else files[0][0]
    try:
        case = cache.brain_upload(digest, files)
    except ImageError as exc:
        st.error(f"Cannot read {label_name}: {exc}")
        return None
    vol = case.volume
    if str(vol.meta.get("modality", "")).upper() != "MR" and widgets.wrong_modality(
            label_name, volume_views(vol.voxels), "mri"):  # an ultrasound frame, a photograph...
        return None
    name = case.name if case.meta.get("layout") == "kaggle_3m" else label_name
    label = case.label if case.label is not None else _uploaded_label(key, case.volume)
    return VolumeInput(name, digest, case, label)


def _uploaded_label(key: str, volume: Volume) -> np.ndarray | None:
    up = st.file_uploader("Optional ground truth: a NIfTI label volume on the same grid (0 = background), "
                          "or for one LGG slice its _mask.tif", type=["nii", "gz", "tif", "tiff"],
                          key=f"{key}_truth")
    if up is None:
        return None
    if up.name.lower().endswith((".tif", ".tiff")):
        if volume.voxels.shape[0] != 1:
            st.error(f"{up.name}: a TIFF mask labels one slice; this volume has {volume.voxels.shape[0]}. "
                     "Upload a NIfTI label volume instead.")
            return None
        try:
            return uploaded_slice_mask(up.name, up.getvalue(), volume.voxels.shape[1:])[None].astype(np.uint8)
        except DatasetError as exc:
            st.error(f"Cannot use the ground truth: {exc}")
            return None
    try:
        label = read_nifti(up.getvalue())
    except ImageError as exc:
        st.error(f"Cannot read the ground truth {up.name}: {exc}")
        return None
    if label.voxels.shape != volume.voxels.shape:
        st.error(f"The ground truth has {label.voxels.shape} voxels but the volume {volume.voxels.shape}; "
                 "it is ignored. Resample it onto the image grid first.")
        return None
    values = np.unique(label.voxels)
    whole = np.array_equal(values, np.rint(values))
    if len(values) > MAX_LABEL_VALUES or not whole or values.min() < 0:
        st.error(f"{up.name} holds {len(values)} different values" + ("" if whole else ", not whole numbers")
                 + f": an image, not a label volume (0 = background, a few whole-number labels, at most "
                   f"{MAX_LABEL_VALUES}); it is ignored.")
        return None
    return np.rint(np.clip(label.voxels, 0, 255)).astype(np.uint8)


def model_label(name: str, card: ModelCard) -> str:
    """A brain model's name in words: what it reads."""
    c = card.sequences
    reads = "3-sequence U-Net (pre-contrast, FLAIR, post-contrast)" if c == 3 else \
        ("FLAIR U-Net (one sequence)" if c == 1 else f"{name} ({c} inputs)")
    k = card.context_slices
    n = int(card.arch_config.get("members", 1)) if card.arch == "mean_ensemble" else 1
    return (reads + (f", {k} neighbouring slice{'s' * (k > 1)} each side" if k else "")
            + (f": the mean of {n} networks" if n > 1 else ""))


def choose_model(key: str, cards: dict[str, ModelCard], has_sequences: bool) -> str | None:
    """Sidebar choice of the brain model among those the input can feed: a 3-sequence model only
    when the input brings the three LGG sequences; by default the one using the most of the input.
    None when no model fits."""
    fits = models_that_fit(cards, len(SEQUENCES) if has_sequences else 1)
    if not fits:
        return None
    names = list(fits)
    if len(names) == 1:
        return names[0]
    return st.sidebar.radio("Model", names, key=f"{key}_model_{has_sequences}",
                            format_func=lambda n: model_label(n, fits[n]),
                            help="Picked from what the input holds: the 3-sequence model when an LGG patient "
                                 "brings its three sequences, else the FLAIR model.")


def view_settings(key: str, vol: Volume, focus: np.ndarray | None) -> ViewSettings:
    """Sidebar: axis, slice (starting where ``focus``, a ZxHxW mask, is largest), window and level,
    overlay opacity. Window limits come from the volume's own intensity range."""
    with st.sidebar:
        axis = st.radio("Axis", list(AXES), key=f"{key}_axis", horizontal=True,
                        format_func=str.capitalize, disabled=vol.voxels.shape[0] == 1)
        ax = AXES[axis] if vol.voxels.shape[0] > 1 else 0
        n = vol.voxels.shape[ax]
        start = n // 2
        if focus is not None and focus.any():
            start = int(np.argmax(focus.sum(axis=tuple(a for a in range(3) if a != ax))))
        index = st.slider("Slice", 0, n - 1, start, key=f"{key}_slice_{axis}_{n}") if n > 1 else 0
        level0, width0 = default_window(vol.voxels)
        lo, hi = float(np.min(vol.voxels)), float(np.max(vol.voxels))
        span = max(hi - lo, 1.0)
        hi = max(hi, lo + span)  # a constant volume still needs a slider range
        level = st.slider("Window level", lo, hi, float(np.clip(level0, lo, hi)), span / 200,
                          key=f"{key}_level")
        width = st.slider("Window width", span / 100, 2 * span, float(np.clip(width0, span / 100, 2 * span)),
                          span / 200, key=f"{key}_width")
        opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.4, 0.05, key=f"{key}_opacity")
    return ViewSettings(axis if vol.voxels.shape[0] > 1 else "axial", int(index), level, width, opacity)
