"""Readers for real dataset layouts, yielding :class:`Case` objects.

Used by ``train/`` and by the dashboard alike, so the same files mean the same thing in both.
HC18 fetal head (``shared/docs/DOMAIN.md`` section 1) and Kaggle nerve (section 2) layouts:

    training_set/NNN_HC.png              800x540 greyscale frame (NNN_2HC.png: 2nd frame, same exam)
    training_set/NNN_HC_Annotation.png   1-pixel ellipse outline drawn by a sonographer
    training_set_pixel_size_and_HC.csv   filename, pixel size(mm), head circumference (mm)
    test_set/NNN_HC.png                  frames without annotations
    test_set_pixel_size.csv              filename, pixel size(mm)
"""
from __future__ import annotations

import csv
import logging
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from core.analysis.fetal_biometry import fit_head_ellipse
from core.geometry import ellipse_mask
from core.imaging import load_image, to_gray_u8, to_rgb_u8
from core.rle import rle_decode

log = logging.getLogger(__name__)

HC18_SPLITS = {
    "training_set": "training_set_pixel_size_and_HC.csv",
    "test_set": "test_set_pixel_size.csv",
}
_HC18_NAME = re.compile(r"^(?P<exam>\d+)_(?P<frame>\d*)HC\.png$", re.IGNORECASE)
HC18_FRAME = _HC18_NAME  # public: the model lab's layout detection matches the same names


class DatasetError(ValueError):
    """A dataset folder does not hold the layout it was read as."""


@dataclass(frozen=True)
class Case:
    """One case of a dataset.

    Attributes:
        name: file name of the image, unique within its dataset.
        image: HxW uint8 greyscale image (HxWx3 uint8 RGB for photos: the ImageFolder layout).
        mask: HxW bool ground-truth mask, or None when the split has no labels.
        pixel_size_mm: isotropic pixel size in mm, or None when unknown.
        group: the unit to split by (the exam for HC18), so frames of one exam stay together.
        meta: anything else the layout carries (e.g. ``hc_mm`` reference value).
    """

    name: str
    image: np.ndarray
    mask: np.ndarray | None = None
    pixel_size_mm: float | None = None
    group: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def fill_outline(outline: np.ndarray) -> np.ndarray:
    """Fill a 1-pixel closed outline (HC18 annotation) into an HxW bool mask, outline included.

    A mask that is already filled is returned as it is, so either kind of annotation works.

    An outline cut by the image border is not closed; it is then closed by fitting an ellipse
    to its pixels and rasterising that ellipse.
    """
    line = outline > 0
    if not line.any():
        return line
    if ndimage.binary_erosion(line).sum() > 0.5 * line.sum():
        return line  # already a filled mask, not an outline
    filled = ndimage.binary_fill_holes(line)
    if filled.sum() > 2 * line.sum():
        return filled
    log.info("annotation outline is open (cut by the border); closing it with an ellipse fit")
    return ellipse_mask(line.shape, fit_head_ellipse(filled)) | line


def _read_csv_rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "filename" not in rows[0]:
        raise DatasetError(f"{path.name}: expected a CSV with a 'filename' column")
    return {r["filename"].strip(): r for r in rows}


def _pixel_size(row: dict[str, str] | None) -> float | None:
    if row is None:
        return None
    value = row.get("pixel size(mm)")
    return float(value) if value not in (None, "") else None


def hc18_split_dirs(root: str | Path) -> list[str]:
    """Names of the HC18 splits present under ``root`` (``training_set``, ``test_set``)."""
    root = Path(root)
    return [s for s in HC18_SPLITS if (root / s).is_dir()]


def read_hc18(root: str | Path, split: str | None = None, *,
              names: Collection[str] | None = None) -> Iterator[Case]:
    """Read an HC18 tree into cases, one per frame, in file-name order.

    Args:
        root: folder holding ``training_set/`` and/or ``test_set/`` and their CSVs.
        split: ``"training_set"`` or ``"test_set"``; None reads every split present.
        names: read only the frames with these file names (``001_HC.png``); None reads all.

    Yields:
        :class:`Case` with ``mask`` filled from the annotation (training set only),
        ``pixel_size_mm`` from the CSV and ``meta["hc_mm"]`` the reference HC when given.

    Raises:
        DatasetError: if no HC18 split is found or a split has no frames.
    """
    root = Path(root)
    if split is not None and split not in HC18_SPLITS:
        raise DatasetError(f"unknown HC18 split {split!r}; expected one of {', '.join(HC18_SPLITS)}")
    splits = [split] if split else hc18_split_dirs(root)
    if not splits or not all((root / s).is_dir() for s in splits):
        raise DatasetError(
            f"{root}: not an HC18 folder; expected training_set/ and/or test_set/ "
            f"with {', '.join(HC18_SPLITS.values())}"
        )
    for s in splits:
        yield from _read_hc18_split(root, s, names)


def _read_hc18_split(root: Path, split: str, names: Collection[str] | None = None) -> Iterator[Case]:
    folder = root / split
    csv_path = root / HC18_SPLITS[split]
    rows = _read_csv_rows(csv_path) if csv_path.is_file() else {}
    if not rows:
        log.warning("%s not found: pixel sizes unknown for %s", csv_path.name, split)
    frames = sorted(p for p in folder.iterdir() if _HC18_NAME.match(p.name))
    if not frames:
        raise DatasetError(f"{folder}: no frames named like 001_HC.png")
    for path in frames if names is None else [p for p in frames if p.name in names]:
        row = rows.get(path.name)
        image = to_gray_u8(load_image(path))
        ann = path.with_name(path.stem + "_Annotation.png")
        mask = fill_outline(to_gray_u8(load_image(ann))) if ann.is_file() else None
        meta: dict[str, Any] = {"split": split, "path": str(path)}
        if row and row.get("head circumference (mm)"):
            meta["hc_mm"] = float(row["head circumference (mm)"])
        yield Case(
            name=path.name,
            image=image,
            mask=mask,
            pixel_size_mm=_pixel_size(row),
            group=_HC18_NAME.match(path.name).group("exam"),
            meta=meta,
        )


# Kaggle 2016 Ultrasound Nerve Segmentation (DOMAIN.md section 2):
#   train/<subject>_<n>.tif, train/<subject>_<n>_mask.tif (580x420, 8-bit, mask 0/255)
#   test/<n>.tif, train_masks.csv (subject,img,pixels: run-length encoded, column-major)
_NERVE_TRAIN = re.compile(r"^(?P<subject>\d+)_(?P<frame>\d+)\.tif$", re.IGNORECASE)
_NERVE_TEST = re.compile(r"^(?P<frame>\d+)\.tif$", re.IGNORECASE)
NERVE_TRAIN_FRAME, NERVE_TEST_FRAME = _NERVE_TRAIN, _NERVE_TEST  # public, for layout detection


def _nerve_rle_masks(root: Path) -> dict[str, str]:
    """``"<subject>_<img>.tif" -> RLE`` from ``train_masks.csv``, or {} without the file."""
    path = root / "train_masks.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and not {"subject", "img", "pixels"} <= set(rows[0]):
        raise DatasetError(f"{path.name}: expected columns subject,img,pixels")
    return {f"{r['subject']}_{r['img']}.tif": r["pixels"] or "" for r in rows}


def _nerve_mask(path: Path, rles: dict[str, str], shape: tuple[int, int]) -> np.ndarray | None:
    """A frame's mask from its ``_mask.tif``, else from ``train_masks.csv``, else None."""
    mask_path = path.with_name(f"{path.stem}_mask.tif")
    if mask_path.is_file():
        return to_gray_u8(load_image(mask_path)) > 127
    return rle_decode(rles[path.name], shape) if path.name in rles else None


def read_kaggle_nerve(root: str | Path, split: str = "train", *,
                      names: Collection[str] | None = None) -> Iterator[Case]:
    """Read the Kaggle nerve layout into cases, ordered by subject then frame number.

    Args:
        root: folder holding ``train/`` and/or ``test/`` (and ``train_masks.csv``).
        split: ``"train"`` (labelled; the mask comes from ``_mask.tif``, else from the CSV) or
            ``"test"`` (no labels).
        names: read only the frames with these file names (``1_2.tif``); None reads all.

    Yields:
        :class:`Case` with ``group`` the subject, so splits never separate a subject's frames,
        and ``meta["subject"]``, ``meta["frame"]``.
    """
    if split not in ("train", "test"):
        raise DatasetError(f"unknown nerve split {split!r}; expected 'train' or 'test'")
    folder = Path(root) / split
    pattern = _NERVE_TRAIN if split == "train" else _NERVE_TEST
    frames = [p for p in folder.glob("*.tif") if pattern.match(p.name)] if folder.is_dir() else []
    if not frames:
        raise DatasetError(f"{folder}: no frames named like "
                           f"{'1_1.tif' if split == 'train' else '1.tif'} (Kaggle nerve layout)")
    rles = _nerve_rle_masks(Path(root)) if split == "train" else {}
    if names is not None:
        frames = [p for p in frames if p.name in names]
    for path in sorted(frames, key=lambda p: tuple(map(int, pattern.match(p.name).groups()))):
        m = pattern.match(path.name)
        image = to_gray_u8(load_image(path))
        mask = _nerve_mask(path, rles, image.shape) if split == "train" else None
        subject = m.groupdict().get("subject", "")
        yield Case(name=path.name, image=image, mask=mask, group=subject,
                   meta={"split": split, "subject": int(subject) if subject else None,
                         "frame": int(m.group("frame")), "path": str(path)})


# ImageFolder (torchvision's layout, face screening photos): <root>/<class>/<photo>, photos may sit
# in deeper folders under their class; the class is the sub-folder's name.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


def image_folder_items(root: str | Path) -> list[tuple[Path, str]]:
    """``(photo, class)`` pairs of an ImageFolder tree, classes and photos in name order.

    Hidden files and folders (``.name``) are skipped.
    """
    root = Path(root)
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    return [(p, d.name) for d in classes for p in sorted(d.rglob("*"))
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
            and not any(part.startswith(".") for part in p.relative_to(d).parts)]


def read_image_folder(root: str | Path, *, names: Collection[str] | None = None) -> Iterator[Case]:
    """Read an ImageFolder tree into cases: HxWx3 RGB photos labelled by their sub-folder.

    Args:
        root: the folder holding one sub-folder per class.
        names: read only the cases with these names (``<class>/<photo>``); None reads all.

    Yields:
        :class:`Case` named ``<class>/<path below the class folder>``, ``meta["label"]`` the
        class name, ``group`` the case name (nothing in the layout says which photos show the
        same person).

    Raises:
        DatasetError: if no class sub-folder holds a photo.
    """
    root = Path(root)
    items = image_folder_items(root) if root.is_dir() else []
    if not items:
        raise DatasetError(f"{root}: no photos in class sub-folders (expected {root}/<class>/*.jpg)")
    for path, label in items:
        name = f"{label}/{path.relative_to(root / label).as_posix()}"
        if names is not None and name not in names:
            continue
        yield Case(name=name, image=to_rgb_u8(load_image(path)), group=name,
                   meta={"label": label, "path": str(path)})


LABELLED_READERS = {
    "hc18": lambda root: read_hc18(root, "training_set"),
    "kaggle_nerve": lambda root: read_kaggle_nerve(root, "train"),
    "image_folder": read_image_folder,
    "nifti_pairs": lambda root: _nifti_slices(root),
}


def _nifti_slices(root: str | Path) -> Iterator[Case]:
    from core.volume_datasets import nifti_pair_slices  # imports this module: import late

    return nifti_pair_slices(root)


def read_labelled(layout: str, root: str | Path) -> Iterator[Case]:
    """The labelled cases of a dataset folder in ``layout`` (a task's ``layout``)."""
    try:
        reader = LABELLED_READERS[layout]
    except KeyError:
        raise DatasetError(f"unknown layout {layout!r}; known: {', '.join(LABELLED_READERS)}") from None
    return reader(root)
