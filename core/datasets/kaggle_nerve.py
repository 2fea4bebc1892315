"""The Kaggle 2016 Ultrasound Nerve Segmentation layout (``shared/docs/DOMAIN.md`` section 2).

    train/<subject>_<n>.tif, train/<subject>_<n>_mask.tif (580x420, 8-bit, mask 0/255)
    test/<n>.tif, train_masks.csv (subject,img,pixels: run-length encoded, column-major)
"""
from __future__ import annotations

import csv
import re
from collections.abc import Collection, Iterator
from pathlib import Path

import numpy as np

from core.datasets.base import Case, DatasetError, DatasetLayoutError, probe_readable
from core.datasets.inventory import Inventory
from core.datasets.registry import Layout, LayoutGuess, register_layout
from core.io.image import load_image, to_gray_u8
from core.rle import rle_decode

NAME, TASK = "kaggle_nerve", "nerve"
EXPECTED = ("Kaggle nerve: train/<subject>_<n>.tif with <subject>_<n>_mask.tif or a "
            "train_masks.csv beside train/ (test/ optional), or the train/ folder itself")

NERVE_TRAIN_FRAME = re.compile(r"^(?P<subject>\d+)_(?P<frame>\d+)\.tif$", re.IGNORECASE)
NERVE_TEST_FRAME = re.compile(r"^(?P<frame>\d+)\.tif$", re.IGNORECASE)


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
    pattern = NERVE_TRAIN_FRAME if split == "train" else NERVE_TEST_FRAME
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


def _nerve_csv_names(root: Path) -> set[str]:
    path = root / "train_masks.csv"
    if not path.is_file():
        return set()
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and not {"subject", "img", "pixels"} <= set(rows[0]):
        raise DatasetLayoutError(f"{path}: expected the columns subject,img,pixels; got {', '.join(rows[0])}")
    return {f"{r['subject']}_{r['img']}.tif" for r in rows}


def probe_kaggle_nerve(path: Path, inv: Inventory) -> LayoutGuess | None:
    """The Kaggle nerve layout at ``path`` (its root, or its ``train/`` itself), else None."""
    root = path.parent if path.name == "train" else path
    train = root / "train"
    if not train.is_dir():
        return None
    frames = sorted(p for p in train.glob("*.tif") if NERVE_TRAIN_FRAME.match(p.name))
    if not frames:
        return None
    in_csv = _nerve_csv_names(root)
    labelled = [p for p in frames if p.with_name(f"{p.stem}_mask.tif").is_file() or p.name in in_csv]
    if not labelled:
        raise DatasetLayoutError(f"{train}: {len(frames)} nerve frames found but no mask (no <subject>_<n>"
                                 f"_mask.tif, no train_masks.csv rows): nothing to score")
    warnings = []
    if len(labelled) < len(frames):
        warnings.append(f"{len(frames) - len(labelled)} of {len(frames)} train frames have no mask: "
                        "they are listed without scores")
    test = root / "test"
    n_test = sum(bool(NERVE_TEST_FRAME.match(p.name)) for p in test.glob("*.tif")) if test.is_dir() else 0
    if n_test:
        warnings.append(f"test/: {n_test} frames without masks are not scored")
    probe_readable(labelled[0], "Kaggle nerve")
    return LayoutGuess(NAME, TASK, len(frames), tuple(warnings), root, "train", len(labelled))


def _read_labelled(root: Path, split: str | None, names: Collection[str] | None) -> Iterator[Case]:
    return read_kaggle_nerve(root, split or "train", names=names)


LAYOUT = register_layout(Layout(NAME, "Kaggle nerve", EXPECTED, (TASK,), "2d", probe_kaggle_nerve,
                                _read_labelled, priority=20))
