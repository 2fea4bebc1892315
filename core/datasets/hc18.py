"""The HC18 fetal head layout (``shared/docs/DOMAIN.md`` section 1): reader, probe, registration.

    training_set/NNN_HC.png              800x540 greyscale frame (NNN_2HC.png: 2nd frame, same exam)
    training_set/NNN_HC_Annotation.png   1-pixel ellipse outline drawn by a sonographer
    training_set_pixel_size_and_HC.csv   filename, pixel size(mm), head circumference (mm)
    test_set/NNN_HC.png                  frames without annotations
    test_set_pixel_size.csv              filename, pixel size(mm)

Used by ``train/`` and by the dashboard alike, so the same files mean the same thing in both.
"""
from __future__ import annotations

import csv
import logging
import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from core.datasets.base import Case, DatasetError, DatasetLayoutError, probe_readable
from core.datasets.inventory import Inventory
from core.datasets.registry import Layout, LayoutGuess, register_layout
from core.geometry import ellipse_mask, fit_outline_ellipse, largest_component, outline_points
from core.io.image import load_image, to_gray_u8

log = logging.getLogger(__name__)

NAME, TASK = "hc18", "fetal_head"
EXPECTED = ("HC18 (fetal head): training_set/NNN_HC.png with NNN_HC_Annotation.png and "
            "training_set_pixel_size_and_HC.csv beside training_set/ (test_set/ optional), "
            "or the training_set/ folder itself")

HC18_SPLITS = {
    "training_set": "training_set_pixel_size_and_HC.csv",
    "test_set": "test_set_pixel_size.csv",
}
HC18_FRAME = re.compile(r"^(?P<exam>\d+)_(?P<frame>\d*)HC\.png$", re.IGNORECASE)


def fill_outline(outline: np.ndarray) -> np.ndarray:
    """Fill a 1-pixel closed outline (HC18 annotation) into an HxW bool mask, outline included.

    A mask that is already filled is returned as it is, so either kind of annotation works.

    An outline cut by the image border is not closed; it is then closed by fitting an ellipse
    to its pixels and rasterising that ellipse.

    Raises:
        ValueError: an open outline too small (or too straight) to fit an ellipse to.
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
    region = largest_component(filled)
    return ellipse_mask(line.shape, fit_outline_ellipse(outline_points(region), region.shape)) | line


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
    frames = sorted(p for p in folder.iterdir() if HC18_FRAME.match(p.name))
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
            group=HC18_FRAME.match(path.name).group("exam"),
            meta=meta,
        )


def probe_hc18(path: Path, inv: Inventory) -> LayoutGuess | None:
    """The HC18 layout at ``path`` (its root, or its ``training_set/`` itself), else None."""
    if path.name in HC18_SPLITS and any(HC18_FRAME.match(p.name) for p in path.iterdir()):
        root, splits = path.parent, [path.name]
    else:
        root, splits = path, [s for s in HC18_SPLITS if (path / s).is_dir()]
    if not splits:
        return None
    frames = {s: sorted(p for p in (root / s).iterdir() if HC18_FRAME.match(p.name)) for s in splits}
    if not any(frames.values()):
        return None
    split = "training_set" if "training_set" in splits else splits[0]
    train = frames[split]
    labelled = [p for p in train if p.with_name(p.stem + "_Annotation.png").is_file()]
    if not labelled:
        raise DatasetLayoutError(
            f"{root / split}: HC18 frames found ({len(train)}) but none has its NNN_HC_Annotation.png: "
            f"nothing to score; expected {EXPECTED}")
    warnings = []
    if len(labelled) < len(train):
        warnings.append(f"{len(train) - len(labelled)} of {len(train)} {split} frames have no annotation: "
                        "only their head circumference is compared")
    if not (root / HC18_SPLITS[split]).is_file():
        warnings.append(f"{HC18_SPLITS[split]} not found: pixel sizes unknown, so HD95 (mm) and head "
                        "circumference are not computed")
    if split == "training_set" and frames.get("test_set"):
        warnings.append(f"test_set/: {len(frames['test_set'])} frames without annotations are not scored")
    probe_readable(labelled[0], "HC18")
    probe_readable(labelled[0].with_name(labelled[0].stem + "_Annotation.png"), "HC18")
    return LayoutGuess(NAME, TASK, len(train), tuple(warnings), root, split, len(labelled))


def _read_labelled(root: Path, split: str | None, names: Collection[str] | None) -> Iterator[Case]:
    return read_hc18(root, split or "training_set", names=names)


LAYOUT = register_layout(Layout(NAME, "HC18 (fetal head)", EXPECTED, (TASK,), "2d", probe_hc18,
                                _read_labelled, priority=10))
