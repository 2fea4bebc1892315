"""The ONLY place models and data are cached for the dashboard.

Models are cached once per process (``st.cache_resource``), keyed by their weights folder, and
loaded when a page first needs them; deterministic results are cached by their inputs, image bytes
included, in caches bounded by bytes and by age (:func:`dashboard.byte_cache.data_cache`: each
cache's budget in MB below, an hour's time to live), shared by every session.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
import torch

from core.analysis import fetal_head
from core.datasets import Case, DatasetError, VolumeCase, nifti_pair_files, read_labelled, read_nifti_pairs
from core.datasets.kaggle_3m_upload import uploaded_patient
from core.datasets.kaggle_3m_volumes import read_kaggle_3m_volumes
from core.evaluation import LabCache, LabResult, ProbClassifier, aggregate, run_evaluation, to_csv, to_json
from core.explain import segmentation_cam
from core.face.abstain import Abstainer
from core.face.gallery import INDEX_NAME, FolderGallery, gallery_from_folder, load_index
from core.face.landmarks import FaceLandmarks, detect_landmarks, oriented_rgb
from core.face.region_net import FaceParser, parser_box
from core.face.screening import Screener, ScreeningResult, photo_embedding
from core.face.screening_cam import classification_cam
from core.io.image_types import ImageError
from core.io.nifti import read_nifti
from core.io.volume import load_volume
from core.lab import LayoutGuess, read_cases
from core.lab.screening import screening_classifier
from core.predict import SegmentationResult, Segmenter, VolumeSegmentation, VolumeSegmenter
from core.predict.modality import ModalityGate, gate_folder
from core.tasks import get_task
from core.weights import ModelCard, WeightsError, read_card, read_checked
from dashboard.byte_cache import data_cache

FACE_SAMPLES = get_task("face_regions").samples_dir  # the face pages' photos
SCREENING_SAMPLES = get_task("face_screening").samples_dir
BRAIN_SAMPLES = get_task("brain_tumor").samples_dir
BRAIN_DICOM_SAMPLES = BRAIN_SAMPLES / "dicom"
BRAIN_LGG_SAMPLES = BRAIN_SAMPLES / "kaggle_3m"
FACE_PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")

# Streamlit serves several sessions from one process; two threads each is plenty on a small CPU.
# MEDIMG_TORCH_THREADS overrides it: on a shared host (Streamlit Community Cloud) one thread is
# faster than two when neighbours load the CPU (dashboard/cloud/streamlit_app.py sets 1).
torch.set_num_threads(int(os.environ.get("MEDIMG_TORCH_THREADS", 0)) or min(2, torch.get_num_threads()))


@st.cache_resource(show_spinner="Loading model...")
def get_segmenter(weights_dir: str) -> Segmenter:
    """The predictor of a weights folder (sha256 checked once, then shared)."""
    return Segmenter.from_folder(weights_dir)


def modality_gate() -> tuple[ModalityGate | None, str]:
    """The uploads' modality check and "", or None and why it cannot be used (weights missing or
    failing their check: the pages then rely on the colour and DICOM checks alone)."""
    return _modality_gate(str(gate_folder()))


@st.cache_resource(show_spinner=False)
def _modality_gate(folder: str) -> tuple[ModalityGate | None, str]:
    try:
        return ModalityGate.from_folder(folder), ""
    except (WeightsError, OSError, ValueError) as exc:
        return None, str(exc)


def available_models(task_name: str) -> dict[str, ModelCard]:
    """Shipped models of a task whose weights folder has a readable card, by model name."""
    task = get_task(task_name)
    cards = {}
    for name in task.models:
        try:
            cards[name] = read_card(task.weights_dir(name))
        except WeightsError:
            continue
    return cards


@st.cache_resource(show_spinner=False)
def checked_card(weights_dir: str) -> ModelCard:
    """A weights folder's card once its file's sha256 matched it (checked once per process; the
    model itself is built when a page first runs it, :func:`get_segmenter`)."""
    return read_checked(weights_dir)[0]


def loadable_models(task_name: str) -> tuple[dict[str, ModelCard], dict[str, str]]:
    """The shipped models of a task whose weights pass their check (card read, sha256 matched),
    and for every other one with a weights folder the reason it cannot be used. A model is built
    only when a page runs it: the brain page, which runs one of its two, skips building the other."""
    task = get_task(task_name)
    cards, problems = {}, {}
    for name in task.models:
        folder = task.weights_dir(name)
        if not folder.is_dir():
            continue  # not shipped here: nothing to say
        try:
            cards[name] = checked_card(str(folder))
        except WeightsError as exc:
            problems[name] = str(exc)
    return cards, problems


@data_cache(max_mb=16)
def load_samples(task_name: str) -> list[Case]:
    """The bundled sample cases of a task (read in the real dataset layout)."""
    task = get_task(task_name)
    return list(read_labelled(task.layout, task.samples_dir)) if task.samples_dir.is_dir() else []


@data_cache(max_mb=32, show_spinner="Segmenting...")
def analyse_fetal_head(model: str, image: np.ndarray, pixel_size_mm: float | None,
                       ga_weeks: float | None, threshold: float) -> fetal_head.FetalHeadAnalysis:
    """Cached :func:`core.analysis.fetal_head.analyse` with a shipped model."""
    seg = get_segmenter(str(get_task("fetal_head").weights_dir(model)))
    return fetal_head.analyse(seg, image, pixel_size_mm, ga_weeks, threshold)


@data_cache(max_mb=32, show_spinner="Segmenting...")
def segment(task_name: str, model: str, image: np.ndarray, threshold: float,
            overrides: dict | None = None) -> SegmentationResult:
    """Cached prediction of a shipped model, with page overrides of its post-processing."""
    seg = get_segmenter(str(get_task(task_name).weights_dir(model)))
    return seg.predict(image, threshold=threshold, overrides=overrides)


@data_cache(max_mb=16, show_spinner="Computing Grad-CAM...")
def gradcam(task_name: str, model: str, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Cached segmentation Grad-CAM of a shipped model for the predicted ``mask``."""
    seg = get_segmenter(str(get_task(task_name).weights_dir(model)))
    return segmentation_cam(seg, image, mask)


@data_cache(max_mb=16)
def face_samples() -> dict[str, np.ndarray]:
    """The bundled face photos (``data_samples/face/``) by file name, HxWx3 uint8 RGB, upright."""
    if not FACE_SAMPLES.is_dir():
        return {}
    return {p.name: oriented_rgb(p) for p in sorted(FACE_SAMPLES.iterdir())
            if p.suffix.lower() in FACE_PHOTO_SUFFIXES}


@data_cache(max_mb=4, show_spinner="Finding the face...")
def face_landmarks(image: np.ndarray) -> FaceLandmarks:
    """Cached :func:`core.face.landmarks.detect_landmarks` (keyed by the image's bytes).

    Raises:
        FaceError: NoFaceError when no face is found (not cached: asked again on each rerun).
    """
    return detect_landmarks(image)


def face_region_weights() -> str | None:
    """Weights folder of the face parser (task ``face_regions``), or None while it has no model
    card: the face page shows the parser's regions only once this is not None."""
    task = get_task("face_regions")
    folder = task.weights_dir(task.default_model)
    return str(folder) if (folder / "model.json").is_file() else None


@st.cache_resource(show_spinner="Loading the face parser...")
def get_face_parser(weights_dir: str) -> FaceParser:
    """The face parser of a weights folder (sha256 checked once, then shared)."""
    return FaceParser.from_folder(weights_dir)


@data_cache(max_mb=8, show_spinner="Predicting the facial regions...")
def face_region_labels(weights_dir: str, image: np.ndarray, _lm: FaceLandmarks) -> np.ndarray:
    """HxW uint8 face-parser labels on the photo's grid (the head framed from its landmarks), keyed
    by folder and the image's bytes (the landmarks are a function of the image: :func:`face_landmarks`)."""
    return get_face_parser(weights_dir).predict(image, parser_box(_lm)).labels


def screening_models() -> dict[str, str]:
    """Screening row -> weights folder, for every ``weights/face_screening/<row>/`` with a card (the
    registered rows first, in their order)."""
    return {name: str(d) for name, d in get_task("face_screening").weights_dirs().items()}


@st.cache_resource(show_spinner="Loading the screening model...")
def get_screener(weights_dir: str) -> Screener:
    """The screening predictor of a weights folder (sha256 checked once, then shared)."""
    return Screener.from_folder(weights_dir)


@st.cache_resource(show_spinner="Loading the screening model's out-of-range rule...")
def get_abstainer(weights_dir: str) -> Abstainer | None:
    """The out-of-range rule of a screening weights folder and its training gallery (None: the
    card has no rule)."""
    screener = get_screener(weights_dir)
    return Abstainer.from_folder(weights_dir, screener.card.postprocess, screener.labels)


@data_cache(max_mb=8, show_spinner="Screening...")
def screen(weights_dir: str, image: np.ndarray, _lm: FaceLandmarks, top_n: int) -> ScreeningResult:
    """Cached prediction, keyed by folder, image bytes and N (landmarks follow from the image)."""
    return get_screener(weights_dir).predict(image, _lm, top_n=top_n)


@data_cache(max_mb=16, show_spinner="Computing Grad-CAM...")
def screening_cam(weights_dir: str, image: np.ndarray, _result: ScreeningResult, target: int,
                  member: str, view: int) -> np.ndarray:
    """Grad-CAM of one class for one member, on that member's input (see core.face.screening_cam)."""
    return classification_cam(get_screener(weights_dir), _result, target, member, view)


def screening_cases(task: str) -> dict[str, np.ndarray]:
    """The demo phantoms of a screening task (``data_samples/face_screening/<task>/cases``)."""
    folder = SCREENING_SAMPLES / task / "cases"
    if not folder.is_dir():
        return {}
    return {f"{task} phantom: {p.name}": oriented_rgb(p) for p in sorted(folder.glob("*.jpg"))}


def screening_evidence(task: str, name: str) -> np.ndarray | None:
    """The evidence mask of a demo phantom (HxW bool), None for other photos."""
    prefix = f"{task} phantom: "
    if not name.startswith(prefix):
        return None
    path = SCREENING_SAMPLES / task / "cases" / (Path(name[len(prefix):]).stem + "_evidence.png")
    if not path.is_file():
        return None
    return oriented_rgb(path)[..., 0] > 127


@st.cache_resource(show_spinner="Embedding the gallery photos...")
def screening_gallery(weights_dir: str, gallery_dir: str, fingerprint: str) -> FolderGallery:
    """The gallery folder embedded by the screening model (cached per model, folder and content
    ``fingerprint``: file names, sizes and times)."""
    screener = get_screener(weights_dir)
    index = load_index(gallery_dir, str(screener.card.weights.get("sha256", "")),
                       Path(gallery_dir).parent / INDEX_NAME)
    if index is not None:  # embedded ahead (python -m train.gallery_index) from these photos and weights
        return index

    return gallery_from_folder(gallery_dir, lambda path: photo_embedding(screener, path))


# --- Model lab ---------------------------------------------------------------------------------


def lab_results() -> LabCache:
    """The model lab's on-disk result cache (``runs/lab_cache/`` or ``MEDIMG_LAB_CACHE``): one entry
    per (weights sha256, dataset fingerprint, settings), shared by every session and process."""
    return LabCache()


@st.cache_resource(show_spinner="Loading the screening model...")
def get_lab_classifier(weights_dir: str) -> ProbClassifier:
    """A screening model as the lab engine's classifier (landmarks found per photo)."""
    return screening_classifier(get_screener(weights_dir))


def lab_screening_cards() -> dict[str, tuple[str, ModelCard]]:
    """Screening task -> (weights folder, card) for every screening model with a readable card."""
    out = {}
    for task, folder in screening_models().items():
        try:
            out[task] = (folder, read_card(folder))
        except WeightsError:
            continue
    return out


def lab_predictors(kind: str, folders: Mapping[str, str]) -> dict[str, Any]:
    """Model name -> cached predictor: Segmenters, or screening classifiers (``kind``)."""
    get = get_lab_classifier if kind == "classification" else get_segmenter
    return {name: get(folder) for name, folder in folders.items()}


@data_cache(max_mb=16, show_spinner="Reading the case...")
def lab_case(guess: LayoutGuess, fingerprint: str, name: str) -> Case | None:
    """One case of a dataset by name (only its files are read), or None when it is gone;
    ``fingerprint`` keys the entry to the folder's content."""
    return next(iter(read_cases(guess, names={name})), None)


@data_cache(max_mb=16, show_spinner="Predicting the case...")
def lab_case_masks(folders: tuple[tuple[str, str], ...], guess: LayoutGuess, fingerprint: str, name: str,
                   settings_json: str) -> dict[str, np.ndarray] | None:
    """Each model's mask of one case, predicted by the lab engine with the run's resolved settings
    (``LabResult.settings`` as canonical JSON): the very prediction that case's row scored. None
    when the case is gone. ``folders`` is ``((model, weights folder), ...)``."""
    case = lab_case(guess, fingerprint, name)
    if case is None:
        return None
    models = lab_predictors("segmentation", dict(folders))
    batch = next(run_evaluation(models, [case], task=guess.task, settings=json.loads(settings_json),
                                batch_size=1))
    return {m: results[0].mask for m, results in batch.results.items()}


@data_cache(max_mb=4)
def lab_aggregate(key: str, _rows: Sequence[dict], metrics: tuple[str, ...] | None) -> dict[str, list]:
    """:func:`core.lab.aggregate` (bootstrap CIs) of one model's rows, cached by the rows' lab cache
    ``key`` (weights, dataset, settings) and the metrics."""
    return aggregate(_rows, list(metrics) if metrics is not None else None)


@data_cache(max_mb=16, show_spinner="Preparing the downloads...")
def lab_exports(key: str, _result: LabResult) -> tuple[str, str]:
    """CSV and JSON text of a lab result, cached by the joined cache keys of its models."""
    return to_csv(_result), to_json(_result)


@data_cache(max_mb=4)
def training_history(path: str, mtime_ns: int) -> pd.DataFrame | None:
    """A weights folder's ``history.csv`` (keyed by path and modification time), None when absent
    or unreadable."""
    try:
        return pd.read_csv(path)
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- brain MRI
@data_cache(max_mb=1)
def brain_sample_names() -> list[str]:
    """Bundled brain MRI cases: the real LGG patients (kaggle_3m) first, then the NIfTI pairs by
    name, then the zipped DICOM series by file name."""
    if not BRAIN_SAMPLES.is_dir():
        return []
    lgg = sorted(p.name for p in BRAIN_LGG_SAMPLES.glob("*") if p.is_dir())
    names = [name for name, *_ in nifti_pair_files(BRAIN_SAMPLES)]
    return lgg + names + sorted(p.name for p in BRAIN_DICOM_SAMPLES.glob("*.zip"))


@data_cache(max_mb=64, show_spinner="Reading the volume...")
def brain_sample(name: str) -> VolumeCase:
    """One bundled case with its labels (a zipped series takes ``<stem>_seg.nii.gz`` beside it; an
    LGG patient keeps its three sequences in ``meta["sequences"]``)."""
    if (BRAIN_LGG_SAMPLES / name).is_dir():
        return next(read_kaggle_3m_volumes(BRAIN_LGG_SAMPLES, names=[name]))
    if name.endswith(".zip"):
        volume = load_volume(BRAIN_DICOM_SAMPLES / name, expect_modality="MR")
        seg = BRAIN_DICOM_SAMPLES / f"{Path(name).stem}_seg.nii.gz"
        label = np.rint(read_nifti(seg.read_bytes()).voxels).astype(np.uint8) if seg.is_file() else None
        if label is not None and label.shape != volume.voxels.shape:
            label = None
        return VolumeCase(name, volume, label)
    return next(read_nifti_pairs(BRAIN_SAMPLES, names=[name]))


@data_cache(max_mb=80, show_spinner="Reading the upload...")
def brain_upload(digest: str, _files: tuple[tuple[str, bytes], ...]) -> VolumeCase:
    """An uploaded volume, keyed by the sha256 of its bytes (kept in memory only, never on disk).

    LGG kaggle_3m slices (one ``<patient>_<n>.tif``, several, or a zip of a patient folder) become
    the patient's case with its three sequences, and their ``_mask.tif`` files as ground truth.

    Raises:
        ImageError: the upload cannot be read as a volume (a kaggle_3m problem included).
    """
    try:
        lgg = uploaded_patient(_files)
    except DatasetError as exc:
        raise ImageError(str(exc)) from None
    if lgg is not None:
        return lgg
    src = _files[0][1] if len(_files) == 1 else list(_files)
    name = _files[0][0] if len(_files) == 1 else None
    return VolumeCase(name or "upload", load_volume(src, name=name, expect_modality="MR"), None)


@st.cache_resource(show_spinner="Loading model...")
def get_volume_segmenter(weights_dir: str) -> VolumeSegmenter:
    """The slice-by-slice volume predictor over the shared, cached slice model."""
    return VolumeSegmenter(get_segmenter(weights_dir))


@data_cache(max_mb=80)
def volume_probabilities(weights_dir: str, key: str, _voxels: np.ndarray) -> VolumeSegmentation:
    """The network's tumour probabilities for the volume identified by ``key`` (sample name or
    upload digest): ``_voxels`` ZxHxW, or ZxHxWxC for a model of C sequences."""
    return get_volume_segmenter(weights_dir).predict(_voxels)


def segment_volume(weights_dir: str, key: str, _voxels: np.ndarray, threshold: float,
                   min_area_px: int, min_component_vox: int, largest_3d: bool) -> VolumeSegmentation:
    """Predicted tumour of the volume identified by ``key``: the cached probabilities, thresholded and
    post-processed with the page's settings (a slider change does not run the network again)."""
    overrides = {"min_area_px": min_area_px, "min_component_vox": min_component_vox,
                 "largest_component_3d": largest_3d}
    return get_volume_segmenter(weights_dir).rethreshold(volume_probabilities(weights_dir, key, _voxels),
                                                         threshold=threshold, overrides=overrides)
