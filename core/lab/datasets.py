"""Which dataset layout a folder holds, and its cases: the model lab's way into a dataset folder.

Recognised layouts (``shared/docs/DOMAIN.md``), and the bundled samples that
``train.make_samples`` writes in them:

* ``hc18``: HC18 fetal head, ``training_set/NNN_HC.png`` + ``NNN_HC_Annotation.png`` and
  ``training_set_pixel_size_and_HC.csv`` (or the ``training_set/`` folder itself);
* ``kaggle_nerve``: Kaggle nerve, ``train/<subject>_<n>.tif`` + ``<subject>_<n>_mask.tif`` or
  ``train_masks.csv`` (or the ``train/`` folder itself);
* ``image_folder``: one sub-folder of photos per class (face screening);
* ``nifti_pairs``: brain MRI volumes (brain tumour), Medical Segmentation Decathlon / nnU-Net
  ``imagesTr/NAME.nii.gz`` + ``labelsTr/NAME.nii.gz`` (``dataset.json`` optional) or BraTS case
  folders (:mod:`core.volume_datasets`), read as 2-D axial slices ``NAME_z007``: the slice model
  is scored slice by slice here, per volume by ``python -m train.evaluate --task brain_tumor``;
* bundled samples: ``data_samples/fetal_head``, ``data_samples/nerve``, ``data_samples/brain_mri``
  and ``data_samples/face_screening/<task>`` (whose ``gallery/`` is an ImageFolder).

Paths are checked by :func:`core.lab.paths.resolve_dataset_path` first; re-exported here.
"""
from __future__ import annotations

import csv
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.orientations import axcodes2ornt, io_orientation, ornt_transform

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
from core.io.image import ImageError, load_image
from core.io.nifti import NIFTI_ERRORS, read_nifti
from core.io.volume import DISPLAY_AXCODES
from core.lab.inventory import Inventory, take_inventory
from core.lab.paths import DatasetPathError, allowed_roots, dataset_fingerprint, resolve_dataset_path
from core.tasks import SAMPLES_ROOT
from core.volume_datasets import nifti_pair_files, nifti_pair_slices

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
    "nifti_pairs": "NIfTI pairs (brain MRI): imagesTr/NAME.nii.gz with labelsTr/NAME.nii.gz "
                   "(Medical Segmentation Decathlon / nnU-Net, dataset.json optional), or BraTS case "
                   "folders CASE/CASE_t1ce.nii.gz with CASE_seg.nii.gz",
    "samples": "a bundled sample folder: data_samples/fetal_head, data_samples/nerve, "
               "data_samples/brain_mri or data_samples/face_screening/<task>",
}
LAYOUT_TASKS = {"hc18": "fetal_head", "kaggle_nerve": "nerve", "image_folder": "face_screening",
                "nifti_pairs": "brain_tumor"}
MSD_FOLDERS = ("imagesTr", "labelsTr", "imagesTs", "labelsTs")
_DICOM_SUFFIXES = (".zip", ".dcm", ".dicom")


class DatasetLayoutError(DatasetError):
    """A folder is empty, holds no recognised layout, or its files cannot be read."""


@dataclass(frozen=True)
class LayoutGuess:
    """What :func:`detect_layout` recognised.

    Attributes:
        layout: ``"hc18"``, ``"kaggle_nerve"``, ``"image_folder"`` or ``"nifti_pairs"``.
        task: the task it serves (``"fetal_head"``, ``"nerve"``, ``"face_screening"``,
            ``"brain_tumor"``).
        n_cases: cases :func:`read_cases` yields (the labelled split: ``training_set``, ``train``;
            for ``nifti_pairs`` the axial slices of the labelled volumes).
        warnings: things to tell the user (frames without labels, unscored splits, ...).
        root: the folder the reader reads (the dataset root, or ``gallery/`` of a bundled sample).
        split: the split read (``"training_set"``, ``"train"``, ``"Tr"``) or None for an ImageFolder.
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


def _unreadable_nifti(root: Path, path: Path, reason: str) -> DatasetLayoutError:
    return DatasetLayoutError(f"{root}: looks like the NIfTI pairs layout, but {path.relative_to(root)} "
                              f"cannot be read: {reason}")


def _nifti_header(path: Path, root: Path) -> nib.Nifti1Image:
    """The NIfTI image with its header only: ``nib.load`` is lazy, no voxel is read."""
    try:
        return nib.load(path)
    except (*NIFTI_ERRORS, zlib.error) as exc:
        reason = " ".join(str(exc).replace(str(path), path.name).split()) or type(exc).__name__
        raise _unreadable_nifti(root, path, f"not a NIfTI-1/-2 file, or a damaged one ({reason}); "
                                            "export or download it again") from None


def _grid(img: nib.Nifti1Image) -> tuple[int, int, int]:
    """The 3-D voxel grid of a NIfTI (the channels of a 4-D one left out; a 2-D one is one slice)."""
    return (*(int(n) for n in img.shape[:3]), 1, 1)[:3]


def _axial_slices(img: nib.Nifti1Image) -> int:
    """Slices along the display slice axis (S/I, ``DISPLAY_AXCODES[0]``), as ``read_nifti`` cuts them."""
    shape = _grid(img)
    affine = np.asarray(img.affine, np.float64)
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) <= 1e-12:
        return shape[2]  # read_nifti then assumes L,P,S voxel order
    to_display = ornt_transform(io_orientation(affine), axcodes2ornt(DISPLAY_AXCODES))
    return next(shape[i] for i, (axis, _) in enumerate(to_display) if int(axis) == 0)


def _probe_nifti(image: Path, label: Path, channel: int, root: Path) -> None:
    """Decode one image and its label, so an unreadable dataset is refused before a run starts."""
    for path, ch in ((image, channel), (label, 0)):
        try:
            read_nifti(path.read_bytes(), channel=ch)
        except (ImageError, OSError) as exc:
            raise _unreadable_nifti(root, path, str(exc)) from None


def _unused_folders(root: Path, used: Collection[str]) -> list[str]:
    """Warnings for the sub-folders a NIfTI pairs reader does not read (a DICOM series, notes)."""
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if folder.name in used:
            continue
        files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
        dicom = sum(p.name.lower().endswith(_DICOM_SUFFIXES) for p in files)
        if dicom:
            out.append(f"{folder.name}/: {len(files)} files, DICOM series among them, are not scored: the "
                       "lab reads NIfTI pairs only (open a series on the Brain tumour MRI page)")
        else:
            out.append(f"{folder.name}/: not part of the layout ({len(files)} files), not read")
    return out


def _nifti_pairs(path: Path) -> LayoutGuess | None:
    """MSD / nnU-Net (or its ``imagesTr/`` itself) or BraTS folders; cases are the axial slices of the
    labelled volumes, counted from the headers (no voxel is decoded but one probed pair)."""
    root = path.parent if path.name in MSD_FOLDERS[:2] and (path.parent / "imagesTr").is_dir() else path
    files = nifti_pair_files(root)
    if not files:
        if (root / "imagesTs").is_dir() and nifti_pair_files(root, "Ts"):
            raise DatasetLayoutError(f"{root}: only unlabelled imagesTs/ volumes found (no imagesTr/): "
                                     f"nothing to score; expected {EXPECTED['nifti_pairs']}")
        return None
    msd = files[0][1].parent == root / "imagesTr"
    labelled = [f for f in files if f[2] is not None]
    if not labelled:
        found = (f"imagesTr/ holds {len(files)} NIfTI volumes, none with its labelsTr/NAME.nii.gz" if msd
                 else f"{len(files)} BraTS case folders, none with a *_seg.nii.gz")
        raise DatasetLayoutError(f"{root}: {found}: nothing to score; expected {EXPECTED['nifti_pairs']}")
    n = 0
    for name, image, label, _ in labelled:
        img, lab = _nifti_header(image, root), _nifti_header(label, root)
        if _grid(img) != _grid(lab):
            raise DatasetLayoutError(f"{root}: {name}: the label grid {_grid(lab)} does not match the "
                                     f"image grid {_grid(img)}; resample the label")
        n += _axial_slices(img)
    warnings = [f"{len(labelled)} labelled volumes read as {n} 2-D axial slices, each scored on its own; "
                "volume-level figures (Dice per volume, tumour volume in mL): python -m train.evaluate "
                "--task brain_tumor --weights weights/brain_tumor/unet --data <this folder> --out <folder>"]
    if len(labelled) < len(files):
        warnings.append(f"{len(files) - len(labelled)} of {len(files)} volumes have no label "
                        f"({'labelsTr/NAME.nii.gz' if msd else 'CASE_seg.nii.gz'}): not scored")
    n_test = len(nifti_pair_files(root, "Ts")) if msd and (root / "imagesTs").is_dir() else 0
    if n_test:
        warnings.append(f"imagesTs/: {n_test} volumes without labels are not scored")
    warnings += _unused_folders(root, MSD_FOLDERS if msd else {f[0] for f in files})
    _, image, label, channel = min(labelled, key=lambda f: f[1].stat().st_size)
    _probe_nifti(image, label, channel, root)
    return LayoutGuess("nifti_pairs", "brain_tumor", n, tuple(warnings), root, "Tr", n)


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
    guess = _hc18(folder) or _nerve(folder) or _nifti_pairs(folder) or _image_folder(folder, inv)
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
            For ``nifti_pairs`` (slices ``NAME_z007``) only the volumes they belong to are decoded.
    """
    if guess.layout == "hc18":
        return read_hc18(guess.root, guess.split or "training_set", names=names)
    if guess.layout == "kaggle_nerve":
        return read_kaggle_nerve(guess.root, "train", names=names)
    if guess.layout == "image_folder":
        return read_image_folder(guess.root, names=names)
    if guess.layout == "nifti_pairs":
        return nifti_pair_slices(guess.root, names=names)
    raise DatasetLayoutError(f"unknown layout {guess.layout!r}; known: {', '.join(LAYOUT_TASKS)}")
