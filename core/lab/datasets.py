"""Which dataset layout a folder holds, and its cases: the model lab's way into a dataset folder.

Recognised layouts (``shared/docs/DOMAIN.md``), and the bundled samples that
``train.make_samples`` writes in them:

* ``hc18``: HC18 fetal head, ``training_set/NNN_HC.png`` + ``NNN_HC_Annotation.png`` and
  ``training_set_pixel_size_and_HC.csv`` (or the ``training_set/`` folder itself);
* ``kaggle_nerve``: Kaggle nerve, ``train/<subject>_<n>.tif`` + ``<subject>_<n>_mask.tif`` or
  ``train_masks.csv`` (or the ``train/`` folder itself);
* ``image_folder``: one sub-folder of photos per class (face screening);
* bundled samples: ``data_samples/fetal_head``, ``data_samples/nerve`` and
  ``data_samples/face_screening/<task>`` (whose ``gallery/`` is an ImageFolder).

Paths are checked by :func:`core.lab.paths.resolve_dataset_path` first; re-exported here.
"""
from __future__ import annotations

import csv
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from core.datasets import (
    HC18_FRAME,
    HC18_SPLITS,
    NERVE_TEST_FRAME,
    NERVE_TRAIN_FRAME,
    Case,
    DatasetError,
    image_folder_items,
    read_hc18,
    read_image_folder,
    read_kaggle_nerve,
)
from core.imaging import ImageError, load_image
from core.lab.inventory import Inventory, take_inventory
from core.lab.paths import DatasetPathError, allowed_roots, dataset_fingerprint, resolve_dataset_path
from core.tasks import SAMPLES_ROOT

__all__ = ["EXPECTED", "DatasetLayoutError", "DatasetPathError", "LayoutGuess", "allowed_roots",
           "dataset_fingerprint", "detect_layout", "read_cases", "resolve_dataset_path"]

EXPECTED = {
    "hc18": "HC18 (fetal head): training_set/NNN_HC.png with NNN_HC_Annotation.png and "
            "training_set_pixel_size_and_HC.csv beside training_set/ (test_set/ optional), "
            "or the training_set/ folder itself",
    "kaggle_nerve": "Kaggle nerve: train/<subject>_<n>.tif with <subject>_<n>_mask.tif or a "
                    "train_masks.csv beside train/ (test/ optional), or the train/ folder itself",
    "image_folder": "ImageFolder (face photos): at least two class sub-folders, each holding "
                    ".jpg/.png photos (<folder>/<class>/<photo>)",
    "samples": "a bundled sample folder: data_samples/fetal_head, data_samples/nerve or "
               "data_samples/face_screening/<task>",
}
LAYOUT_TASKS = {"hc18": "fetal_head", "kaggle_nerve": "nerve", "image_folder": "face_screening"}


class DatasetLayoutError(DatasetError):
    """A folder is empty, holds no recognised layout, or its files cannot be read."""


@dataclass(frozen=True)
class LayoutGuess:
    """What :func:`detect_layout` recognised.

    Attributes:
        layout: ``"hc18"``, ``"kaggle_nerve"`` or ``"image_folder"``.
        task: the task it serves (``"fetal_head"``, ``"nerve"``, ``"face_screening"``).
        n_cases: cases :func:`read_cases` yields (the labelled split: ``training_set``, ``train``).
        warnings: things to tell the user (frames without labels, unscored splits, ...).
        root: the folder the reader reads (the dataset root, or ``gallery/`` of a bundled sample).
        split: the split read (``"training_set"``, ``"train"``) or None for an ImageFolder.
        n_labelled: cases with a ground truth (mask or class).
        classes: class names of an ImageFolder, in class-index order (sorted).
        bundled: True for the project's own ``data_samples/``.
    """

    layout: str
    task: str
    n_cases: int
    warnings: tuple[str, ...]
    root: Path
    split: str | None = None
    n_labelled: int = 0
    classes: tuple[str, ...] = ()
    bundled: bool = False


def _expected_text() -> str:
    return "expected one of:\n" + "\n".join(f"  - {v}" for v in EXPECTED.values())


def _probe(path: Path, layout: str) -> None:
    """Decode one file, so an unreadable dataset is refused before a run starts."""
    try:
        load_image(path)
    except (ImageError, OSError) as exc:
        raise DatasetLayoutError(f"{path.parent}: looks like the {layout} layout, but {path.name} "
                                 f"cannot be read: {exc}") from None


def _hc18(path: Path) -> LayoutGuess | None:
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
            f"nothing to score; expected {EXPECTED['hc18']}")
    warnings = []
    if len(labelled) < len(train):
        warnings.append(f"{len(train) - len(labelled)} of {len(train)} {split} frames have no annotation: "
                        "only their head circumference is compared")
    if not (root / HC18_SPLITS[split]).is_file():
        warnings.append(f"{HC18_SPLITS[split]} not found: pixel sizes unknown, so HD95 (mm) and head "
                        "circumference are not computed")
    if split == "training_set" and frames.get("test_set"):
        warnings.append(f"test_set/: {len(frames['test_set'])} frames without annotations are not scored")
    _probe(labelled[0], "HC18")
    _probe(labelled[0].with_name(labelled[0].stem + "_Annotation.png"), "HC18")
    return LayoutGuess("hc18", "fetal_head", len(train), tuple(warnings), root, split, len(labelled))


def _nerve_csv_names(root: Path) -> set[str]:
    path = root / "train_masks.csv"
    if not path.is_file():
        return set()
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and not {"subject", "img", "pixels"} <= set(rows[0]):
        raise DatasetLayoutError(f"{path}: expected the columns subject,img,pixels; got {', '.join(rows[0])}")
    return {f"{r['subject']}_{r['img']}.tif" for r in rows}


def _nerve(path: Path) -> LayoutGuess | None:
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
    _probe(labelled[0], "Kaggle nerve")
    return LayoutGuess("kaggle_nerve", "nerve", len(frames), tuple(warnings), root, "train", len(labelled))


def _image_folder(path: Path, inv: Inventory) -> LayoutGuess | None:
    items = image_folder_items(path)
    classes = sorted({label for _, label in items})
    if len(classes) < 2:
        return None
    warnings = []
    empty = sorted(set(inv.subfolders) - set(classes))
    if empty:
        warnings.append(f"sub-folders without photos are ignored: {', '.join(empty)}")
    counts = {c: sum(label == c for _, label in items) for c in classes}
    if inv.loose:
        warnings.append(f"{inv.loose} files directly in the folder (not in a class sub-folder) are ignored")
    few = [f"{c} ({n})" for c, n in counts.items() if n < 5]
    if few:
        warnings.append(f"classes with fewer than 5 photos give wide intervals: {', '.join(few)}")
    _probe(items[0][0], "ImageFolder")
    return LayoutGuess("image_folder", "face_screening", len(items), tuple(warnings), path, None,
                       len(items), tuple(classes))


def _bundled_root(path: Path) -> tuple[Path, str | None]:
    """The folder to read for a bundled sample path, and a note when it is not ``path`` itself."""
    samples = SAMPLES_ROOT.resolve()
    if not path.is_relative_to(samples):
        return path, None
    parts = path.relative_to(samples).parts
    if len(parts) == 2 and parts[0] == "face_screening" and (path / "gallery").is_dir():
        return path / "gallery", ("bundled sample: the gallery/ photos are evaluated (cases/ holds one "
                                  "held-out phantom per class with its evidence mask)")
    return path, None


def detect_layout(path: str | Path) -> LayoutGuess:
    """Recognise the dataset layout of a folder (check it with ``resolve_dataset_path`` first).

    Raises:
        DatasetLayoutError: the folder is empty, holds no recognised layout, holds files that
            cannot be read, or holds a layout without any label. The message says what was
            found (files by suffix, sub-folders) and what each layout expects.
    """
    folder = Path(path).resolve()
    if not folder.is_dir():
        raise DatasetLayoutError(f"{folder}: not a folder")
    folder, note = _bundled_root(folder)
    try:
        inv = take_inventory(folder)
    except PermissionError as exc:
        raise DatasetLayoutError(str(exc)) from None
    if inv.n_files == 0:
        raise DatasetLayoutError(f"{folder}: the folder is empty ({inv.describe()}); {_expected_text()}")
    if inv.unreadable:
        shown = ", ".join(str(p.relative_to(folder)) for p in inv.unreadable[:5])
        raise DatasetLayoutError(f"{folder}: {len(inv.unreadable)} image file(s) cannot be read (empty, "
                                 f"no permission or a broken link): {shown}; {inv.describe()}")
    guess = _hc18(folder) or _nerve(folder) or _image_folder(folder, inv)
    if guess is None:
        raise DatasetLayoutError(f"{folder}: no dataset layout recognised; {inv.describe()}; "
                                 f"{_expected_text()}")
    bundled = folder.is_relative_to(SAMPLES_ROOT.resolve())
    warnings = (note, *guess.warnings) if note else guess.warnings
    return LayoutGuess(guess.layout, guess.task, guess.n_cases, warnings, guess.root, guess.split,
                       guess.n_labelled, guess.classes, bundled)


def read_cases(guess: LayoutGuess, names: Collection[str] | None = None) -> Iterator[Case]:
    """The cases of a detected dataset, in the reader's order (see :mod:`core.datasets`).

    Args:
        guess: what :func:`detect_layout` found.
        names: read only the cases with these names (a page opening one case); None reads all.
    """
    if guess.layout == "hc18":
        return read_hc18(guess.root, guess.split or "training_set", names=names)
    if guess.layout == "kaggle_nerve":
        return read_kaggle_nerve(guess.root, "train", names=names)
    if guess.layout == "image_folder":
        return read_image_folder(guess.root, names=names)
    raise DatasetLayoutError(f"unknown layout {guess.layout!r}; known: {', '.join(LAYOUT_TASKS)}")
