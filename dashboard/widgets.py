"""Small reusable widgets shared by the analysis pages."""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import pandas as pd
import streamlit as st

from core.datasets import fill_outline
from core.face.landmarks import FaceError, FaceLandmarks, oriented_rgb
from core.io.image import PHOTO_CHROMA, ImageError, load_image, mean_chroma, to_gray_u8, to_rgb_u8
from core.tasks import TaskSpec
from core.weights import ModelCard
from dashboard import cache
from dashboard.png import png
from dashboard.validation_panel import (
    other_tests,
    real_validation,
    real_validation_rows,
    recipe_cv_line,
    unseen_proxy_line,
)

RESEARCH_NOTE = "Research and education use only: not a medical device, not a diagnosis."
MAX_SIDE = 2048  # pixels; larger uploads are reduced before analysis
UPLOAD_TYPES = ["png", "jpg", "jpeg", "tif", "tiff", "bmp", "dcm", "dicom"]
PHOTO_TYPES = ["png", "jpg", "jpeg", "tif", "tiff", "bmp", "webp"]


@dataclass(frozen=True)
class InputCase:
    """The image a page analyses, wherever it came from.

    Attributes:
        name: file name shown to the user.
        image: HxW or HxWx3 array as decoded.
        mask: HxW bool ground truth, or None.
        pixel_size_mm: isotropic pixel size when the file or CSV says, else None.
        meta: anything else (reference HC, notes from the decoder).
        uploaded: True for a user's file, False for a bundled sample.
    """

    name: str
    image: np.ndarray
    mask: np.ndarray | None = None
    pixel_size_mm: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    uploaded: bool = False


UPLOAD_STEM = "upload"
# DICOM modalities an ultrasound page accepts: US, and secondary captures / other (screen exports).
ULTRASOUND_MODALITIES = ("US", "SC", "OT")


def wrong_modality(name: str, images: np.ndarray | Sequence[np.ndarray], expected: str) -> bool:
    """True, with a message, when the modality check is confident an upload is another kind of
    image than the page analyses (``expected``: ``ultrasound``, ``mri`` or ``other``); a caption
    says so when the check itself is unavailable."""
    gate, why = cache.modality_gate()
    if gate is None:
        st.caption(f"The modality check is unavailable ({why}); only colour and DICOM tags are checked.")
        return False
    verdict = gate.check(images, expected)
    if verdict.refuse:
        st.error(verdict.message(name))
    return verdict.refuse


def export_stem(name: str, uploaded: bool) -> str:
    """The stem of a download's file name and of its ``file`` column: a bundled sample's own name,
    but never an uploaded file's (a file name can carry a patient's name)."""
    return UPLOAD_STEM if uploaded else name.split(".")[0]


def research_note() -> None:
    """The one-line intended-use statement every analysis page carries."""
    st.caption(f":material/info: {RESEARCH_NOTE}")


def usable_models(task_name: str, labels: dict[str, str] | None = None) -> dict[str, ModelCard]:
    """The task's models that load, by name; one warning per model whose weights fail their check
    (the others still run)."""
    cards, problems = cache.loadable_models(task_name)
    for name, reason in problems.items():
        st.warning(f"{(labels or {}).get(name, name)} is unavailable: its weights failed their check "
                   f"({reason}). Restore `weights/{task_name}/{name}/` from the repository.")
    return cards


def model_badge(name: str, card: ModelCard) -> None:
    """Caption under a model's output saying what trained it."""
    if card.synthetic:
        st.caption(f"**{name}** · trained on synthetic phantoms only; not validated on patient images")
    else:
        st.caption(f"**{name}** · trained on {card.training.get('data', 'unknown data')}")


def trained_on_notice(card: ModelCard, group: str, what: str = "patient") -> bool:
    """Say so when the case shown belongs to a group (patient, subject) the model trained on: its
    scores then show how well the model fits what it saw, not how it does on new cases. Returns
    whether it did."""
    if group not in card.training.get("train_groups", ()):
        return False
    st.info(f"This {what} ({group}) is one of the model's training {what}s: the scores below show how "
            "well it fits data it has seen, not how it does on new ones. The card's validation figures "
            "(below) measure that.")
    return True


def _uploaded_case(key: str) -> InputCase | None:
    up = st.file_uploader("Ultrasound frame (PNG, JPEG, TIFF, BMP or DICOM)", type=UPLOAD_TYPES,
                          key=f"{key}_upload")
    if up is None:
        st.info("Upload a frame, or switch to a bundled sample.")
        return None
    try:
        img = load_image(up.getvalue(), name=up.name)  # in memory only; nothing is written to disk
    except ImageError as exc:
        st.error(f"Cannot read {up.name}: {exc}")
        return None
    modality = str(img.meta.get("modality", "")).upper()
    if img.format == "DICOM" and modality not in ULTRASOUND_MODALITIES:
        st.error(f"{up.name} is a DICOM image of modality '{modality or 'not stated'}', not ultrasound "
                 "(US): nothing is analysed. Upload the ultrasound frame.")
        return None
    chroma = mean_chroma(img.pixels)
    if chroma > PHOTO_CHROMA:  # a photograph on an ultrasound page: a message, no numbers
        st.error(f"{up.name} is a colour picture (mean colour {chroma:.0f} on 0-255; a greyscale B-mode "
                 "ultrasound frame has about 0), not an ultrasound frame: nothing is analysed. Upload "
                 "the B-mode frame as exported by the scanner.")
        return None
    if modality != "US" and wrong_modality(up.name, img.pixels, "ultrasound"):  # a grey photo, an MRI...
        return None
    pixels, spacing = _limit_size(img.pixels, img.spacing_mm, up.name)
    px = None
    if spacing:
        px = float(np.mean(spacing))
        if abs(spacing[0] - spacing[1]) > 0.01 * px:
            st.warning(f"Pixels are not square ({spacing[0]:.4f} x {spacing[1]:.4f} mm); "
                       f"measuring with their mean, {px:.4f} mm.")
    for note in img.meta.get("notes", []):
        st.caption(f"{up.name}: {note}")
    truth = _uploaded_truth(key, pixels.shape[:2])
    return InputCase(up.name, pixels, truth, px, {"format": img.format}, uploaded=True)


def _limit_size(pixels: np.ndarray, spacing: tuple[float, float] | None, name: str
                ) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Shrink images with a side over MAX_SIDE (memory on small servers), keeping mm right."""
    h, w = pixels.shape[:2]
    if max(h, w) <= MAX_SIDE:
        return pixels, spacing
    f = MAX_SIDE / max(h, w)
    small = cv2.resize(pixels, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    st.caption(f"{name}: {w}x{h} pixels, reduced to {small.shape[1]}x{small.shape[0]} for analysis; "
               "the pixel size is scaled to match.")
    return small, (spacing[0] / f, spacing[1] / f) if spacing else None


def _uploaded_truth(key: str, shape: tuple[int, int]) -> np.ndarray | None:
    up = st.file_uploader("Optional ground truth (outline or filled mask, same size as the frame)",
                          type=["png", "tif", "tiff", "bmp"], key=f"{key}_truth")
    if up is None:
        return None
    try:
        truth = fill_outline(to_gray_u8(load_image(up.getvalue(), name=up.name)) > 127)
    except ImageError as exc:
        st.error(f"Cannot read the ground truth {up.name}: {exc}")
        return None
    except ValueError as exc:  # an open outline too small to close with an ellipse
        st.error(f"The ground truth {up.name} is not a closed outline or a filled region ({exc}); "
                 "it is ignored.")
        return None
    if truth.shape != shape:
        st.error(f"Ground truth is {truth.shape[1]}x{truth.shape[0]} but the frame is "
                 f"{shape[1]}x{shape[0]}; it is ignored.")
        return None
    return truth


def image_input(key: str, task: TaskSpec) -> InputCase | None:
    """Sidebar choice of a bundled sample or an upload; returns the case or None."""
    samples = cache.load_samples(task.name)
    options = (["Bundled sample"] if samples else []) + ["Upload"]
    source = st.sidebar.radio("Image", options, key=f"{key}_source", horizontal=True)
    if source == "Upload":
        return _uploaded_case(key)
    names = [c.name for c in samples]
    name = st.sidebar.selectbox("Sample case", names, key=f"{key}_sample")
    c = samples[names.index(name)]
    return InputCase(c.name, c.image, c.mask, c.pixel_size_mm, dict(c.meta))


def face_photo_input(key: str, samples: dict[str, np.ndarray] | None = None
                     ) -> tuple[str, np.ndarray] | None:
    """Sidebar choice of a bundled face photo, an upload or the webcam (``st.camera_input``).

    Uploads and snapshots are decoded in memory (EXIF orientation applied) and never written.
    ``samples`` (name -> RGB photo) replaces the bundled portraits of ``data_samples/face/``.

    Returns:
        (file name, HxWx3 uint8 RGB photo), or None when nothing is chosen yet or the file cannot
        be read (the reason is shown with ``st.error``).
    """
    samples = cache.face_samples() if samples is None else samples
    options = (["Bundled sample"] if samples else []) + ["Upload", "Webcam"]
    source = st.sidebar.radio("Photo", options, key=f"{key}_source", horizontal=True)
    if source == "Bundled sample":
        name = st.sidebar.selectbox("Sample photo", list(samples), key=f"{key}_sample")
        return name, samples[name]
    if source == "Upload":
        up = st.sidebar.file_uploader("Face photo (PNG, JPEG, TIFF, BMP or WebP)", type=PHOTO_TYPES,
                                      key=f"{key}_upload")
    else:
        up = st.sidebar.camera_input("Frontal photo, face filling the frame", key=f"{key}_camera")
    if up is None:
        st.info("Upload a frontal face photo or take one with the webcam (sidebar), or switch to "
                "the bundled sample.")
        return None
    try:
        rgb = oriented_rgb(up.getvalue())
    except FaceError as exc:
        st.error(f"Cannot read {up.name}: {exc}")
        return None
    return None if wrong_modality(up.name, rgb, "other") else (up.name, rgb)


def face_with_landmarks(key: str, samples: dict[str, np.ndarray] | None = None
                        ) -> tuple[str, np.ndarray, FaceLandmarks]:
    """:func:`face_photo_input`, then its landmarks (cached): the page stops with a message when
    no photo is chosen or no face is found; notices (several faces) are shown."""
    photo = face_photo_input(key, samples)
    if photo is None:
        st.stop()
    name, rgb = photo
    try:
        lm = cache.face_landmarks(rgb)
    except FaceError as exc:
        st.error(f"{name}: {exc}")
        st.stop()
    for notice in lm.notices:
        st.info(notice)
    return name, rgb, lm


def model_picker(key: str, cards: dict[str, ModelCard], labels: dict[str, str]) -> list[str]:
    """Sidebar choice of one model or all side by side; returns model names."""
    if not cards:
        st.error("No trained weights found in weights/. Run `make weights` or restore the folder.")
        st.stop()
    options = [labels.get(m, m) for m in cards] + (["All side by side"] if len(cards) > 1 else [])
    choice = st.sidebar.radio("Model", options, key=f"{key}_model")
    return list(cards) if choice == "All side by side" else [m for m in cards if labels.get(m, m) == choice]


def image_row(items: Sequence[tuple[str, np.ndarray]]) -> None:
    """Images side by side, each with a caption."""
    for col, (caption, img) in zip(st.columns(len(items)), items):
        col.image(png(to_rgb_u8(img)), caption=caption, width="stretch")  # lossless


# label, data (or a callable that makes it), file name, mime
Download = tuple[str, bytes | str | Callable[[], bytes | str], str, str]


def download_row(key: str, files: Sequence[Download]) -> None:
    """Download buttons side by side: (label, data or a callable that makes it on click, file name, mime)."""
    for col, (label, data, fname, mime) in zip(st.columns(len(files)), files):
        col.download_button(label, data, file_name=fname, mime=mime, key=f"{key}_{fname}")


def table_downloads(key: str, stem: str, rows: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """CSV and JSON download entries for a list of row dicts."""
    return [
        ("Measurements (CSV)", pd.DataFrame(rows).to_csv(index=False), f"{stem}.csv", "text/csv"),
        ("Measurements (JSON)", json.dumps(rows, indent=2, default=float), f"{stem}.json",
         "application/json"),
    ]


def card_panel(task: TaskSpec, name: str, card: ModelCard) -> None:
    """One model card in plain words: what it is, what trained it, what it scored."""
    test = card.metrics.get("phantom_test", {})
    real = real_validation(card)
    with st.container(border=True):
        st.markdown(f"**{task.title} · {name}**: {card.title.split(': ', 1)[-1]}")
        trained = ("synthetic phantoms only (no patient data, no pretrained weights)" if card.synthetic
                   else card.training.get("data", "unknown data"))
        split = card.training.get("split")
        st.caption(f"Trained on {trained}." + (f" Validation split {split}." if split else ""))
        if real:
            real_validation_rows(real[1])
        for line in (recipe_cv_line(card), unseen_proxy_line(card)):
            if line is not None:
                st.caption(line)
        cols = st.columns(4) if test or not real else [None, None, *st.columns(2)]
        if test or not real:
            cols[0].metric("Test Dice", f"{test['dice_mean']:.3f}" if "dice_mean" in test else "n/a")
        if "hc_abs_diff_mm_mean" in test:
            cols[1].metric("Test |HC error|", f"{test['hc_abs_diff_mm_mean']:.2f} mm")
        elif "hd95_mm_mean" in test and math.isfinite(test["hd95_mm_mean"]):
            cols[1].metric("Test HD95", f"{test['hd95_mm_mean']:.1f} mm",
                           help="Mean 95th-percentile Hausdorff distance between predicted and true "
                                "boundaries, in mm on the voxel grid.")
        elif test.get("all_empty_baseline", 0) > 0:  # sets with empty frames: Dice beside its floor
            cols[1].metric("All-empty baseline", f"{test['all_empty_baseline']:.3f}",
                           help="Mean Dice of predicting nothing on every frame of the same set.")
        cols[2].metric("Parameters", f"{card.weights.get('params', 0) / 1e6:.2f} M")
        cols[3].metric("Weights file", f"{card.weights.get('bytes', 0) / 1e6:.1f} MB")
        st.caption((f"Test set: {test.get('data', 'not evaluated yet')}. " if test or not real else "")
                   + f"sha256 {card.weights.get('sha256', '')[:16]}...")
        more = other_tests(card)
        if more:
            st.caption("Also tested: " + "; ".join(more) + ".")
        with st.expander("Training command and card"):
            st.code(card.training.get("command", ""), language="bash")
            st.json(card.to_json(), expanded=False)
