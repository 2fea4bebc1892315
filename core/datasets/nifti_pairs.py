"""The ``nifti_pairs`` layout: NIfTI volume datasets (brain tumour MRI), read as :class:`VolumeCase`
objects, or as 2-D axial slices ``NAME_z007`` for the 2-D trainer, the model lab and the per-slice
evaluation. Two real layouts are read:

* Medical Segmentation Decathlon / nnU-Net::

      dataset.json                  optional: "modality" (channel names), "labels"
      imagesTr/NAME.nii.gz          3-D, or 4-D with one channel per sequence; nnU-Net names one
                                    file per sequence NAME_0000.nii.gz, NAME_0001.nii.gz, ...
      labelsTr/NAME.nii.gz          integer labels on the image grid (0 = background)
      imagesTs/NAME.nii.gz          optional, unlabelled

* BraTS (one folder per case)::

      CASE/CASE_t1ce.nii.gz  CASE_flair.nii.gz ...  CASE_seg.nii.gz      (2018-2020)
      CASE/CASE-t1c.nii.gz   CASE-t2f.nii.gz ...    CASE-seg.nii.gz      (2023)

The sequence a model reads is picked by name: FLAIR (``flair``, BraTS 2023 ``t2f``), the
sequence the shipped models were trained on, else the post-contrast T1 (``t1ce``, ``t1gd``, ``t1c``).
The whole tumour is ``label > 0`` in every convention (BraTS 1/2/4 or 1/2/3, MSD 1/2/3).
The probe counts the slices from the headers (no voxel is decoded but one probed pair).
"""
from __future__ import annotations

import json
import logging
import re
import zlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.datasets.base import Case, DatasetError, DatasetLayoutError
from core.datasets.inventory import Inventory
from core.datasets.registry import Layout, LayoutGuess, register_layout
from core.io.image_types import ImageError
from core.io.nifti import nib, nifti_errors, read_nifti
from core.io.volume import DISPLAY_AXCODES, Volume

log = logging.getLogger(__name__)

NAME, TASK = "nifti_pairs", "brain_tumor"
EXPECTED = ("NIfTI pairs (brain MRI): imagesTr/NAME.nii.gz with labelsTr/NAME.nii.gz "
            "(Medical Segmentation Decathlon / nnU-Net, dataset.json optional), or BraTS case "
            "folders CASE/CASE_flair.nii.gz (or _t1ce) with CASE_seg.nii.gz")

NIFTI_SUFFIXES = (".nii.gz", ".nii")
# The sequence our brain models read, by name: FLAIR (BraTS 2023: t2f), the sequence the LGG masks
# were drawn on and the whole tumour (with its oedema) shows best on; else the post-contrast T1.
FLAIR_NAMES = ("flair", "t2f", "t2-flair")
POST_CONTRAST = ("t1ce", "t1gd", "t1c", "t1-gd", "post")
WANTED = FLAIR_NAMES + POST_CONTRAST
BRATS_LABELS = {1: "necrotic / non-enhancing core", 2: "oedema", 3: "enhancing tumour", 4: "enhancing tumour"}
_CHANNEL = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")
_SLICE = re.compile(r"_z\d{3,}$")  # the slice suffix of nifti_pair_slices' case names
MSD_FOLDERS = ("imagesTr", "labelsTr", "imagesTs", "labelsTs")
_DICOM_SUFFIXES = (".zip", ".dcm", ".dicom")


@dataclass(frozen=True)
class VolumeCase:
    """One volume of a dataset, with its labels on the same display grid.

    Attributes:
        name: case name (file name without the NIfTI suffix, or the BraTS folder name).
        volume: the image, in display orientation.
        label: ZxHxW uint8 labels on ``volume.voxels``'s grid, or None when unlabelled.
        label_names: label value -> name.
        meta: layout details (``layout``, ``sequence``).
    """

    name: str
    volume: Volume
    label: np.ndarray | None = None
    label_names: dict[int, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def tumour(self) -> np.ndarray | None:
        """ZxHxW bool whole-tumour mask (any non-zero label), or None."""
        return None if self.label is None else self.label > 0


def _stem(path: Path) -> str:
    name = path.name
    return next((name[: -len(s)] for s in NIFTI_SUFFIXES if name.endswith(s)), name)


def _niftis(folder: Path) -> list[Path]:
    # Hidden files: macOS AppleDouble "._NAME.nii.gz" companions come along in some archives.
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(NIFTI_SUFFIXES)
                  and not p.name.startswith(".")) if folder.is_dir() else []


def _dataset_json(root: Path) -> dict[str, Any]:
    path = root / "dataset.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return {}


def _pick_channel(names: Sequence[str], wanted: Sequence[str]) -> int:
    """Index of the channel whose name contains the earliest of ``wanted`` (case-insensitive), else 0."""
    for w in wanted:
        for i, name in enumerate(names):
            if w in name.lower().replace(" ", ""):
                return i
    return 0


def nifti_pair_files(root: str | Path, split: str = "Tr") -> list[tuple[str, Path, Path | None, int]]:
    """(name, image file, label file or None, channel) for every case of an MSD/nnU-Net or BraTS
    folder; ``split`` "Tr" (labelled) or "Ts" (unlabelled, MSD only)."""
    root = Path(root)
    info = _dataset_json(root)
    modality = info.get("modality") or info.get("channel_names") or {}
    names = [modality[k] for k in sorted(modality, key=int)]
    channel = _pick_channel(names, WANTED) if modality else 0
    images, labels = _niftis(root / f"images{split}"), {_stem(p): p for p in _niftis(root / f"labels{split}")}
    if images:
        out, seen = [], set()
        for path in images:
            stem = _stem(path)
            # NAME_0000 is nnU-Net's channel suffix, unless a label of that very name exists (a
            # case that is merely called e.g. brain_9001_0000).
            m = None if stem in labels else _CHANNEL.match(stem)
            case, file_channel = (m["case"], int(m["channel"])) if m else (stem, None)
            if file_channel is not None and file_channel != channel:
                continue  # nnU-Net: one file per sequence; keep the wanted one
            if case not in seen:
                seen.add(case)
                out.append((case, path, labels.get(case), 0 if file_channel is not None else channel))
        return out
    return _brats_files(root)


def _brats_files(root: Path) -> list[tuple[str, Path, Path | None, int]]:
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        files = {_stem(p)[len(folder.name):].lstrip("_-").lower(): p for p in _niftis(folder)}
        seq = next((files[k] for k in WANTED if k in files), None)
        if seq is not None:
            out.append((folder.name, seq, files.get("seg"), 0))
    return out


def read_volume_case(name: str, image: Path, label: Path | None, channel: int = 0,
                     label_names: dict[int, str] | None = None) -> VolumeCase:
    """Load one image (and label) pair; the label must lie on the image's voxel grid."""
    vol = read_nifti(image.read_bytes(), channel=channel)
    lab = None
    if label is not None:
        lv = read_nifti(label.read_bytes())
        if lv.source_shape != vol.source_shape or not np.allclose(lv.affine, vol.affine, atol=1e-3):
            raise DatasetError(f"{label.name}: the label grid {lv.source_shape} does not match the image "
                               f"grid {vol.source_shape} (or its affine differs); resample the label")
        lab = np.rint(lv.voxels).astype(np.uint8)
    return VolumeCase(name, vol, lab, dict(label_names or BRATS_LABELS),
                      {"image_file": image.name, "channel": channel})


def read_nifti_pairs(root: str | Path, split: str = "Tr", names: Collection[str] | None = None
                     ) -> Iterator[VolumeCase]:
    """Every case of a NIfTI dataset folder (see the module docstring for the layouts); with
    ``names``, only the cases of those names (no other file is read)."""
    root = Path(root)
    files = nifti_pair_files(root, split)
    if not files:
        raise DatasetError(f"{root}: no NIfTI cases found; expected imagesTr/*.nii.gz (+ labelsTr/) "
                           "or BraTS case folders with a *_flair.nii.gz (or *_t1ce) and *_seg.nii.gz")
    label_names = {int(k): v for k, v in (_dataset_json(root).get("labels") or {}).items()
                   if str(k).isdigit()}
    for name, image, label, channel in files:
        if names is None or name in names:
            yield read_volume_case(name, image, label, channel, label_names or None)


def nifti_pair_slices(root: str | Path, names: Collection[str] | None = None) -> Iterator[Case]:
    """The labelled cases of a NIfTI dataset as 2-D axial slices, windowed per volume, for the 2-D
    trainer and the per-slice evaluation; the volume is each slice's split group, and
    ``meta["neighbours"]`` holds the windowed slices on either side (for a model that reads them).

    Args:
        root: the dataset folder.
        names: only these slices (``NAME_z007``); only the volumes they belong to are read.
    """
    from core.windowing import VOLUME_WINDOW as window
    from core.windowing import neighbour_slices, window_sequences

    volumes = None if names is None else {_SLICE.sub("", n) for n in names}
    for vc in read_nifti_pairs(root, names=volumes):
        if vc.label is None:
            continue
        image = window_sequences(vc.volume.voxels, window)
        px = None if vc.volume.spacing_mm is None else float(np.mean(vc.volume.spacing_mm[1:]))
        for z in range(image.shape[0]):
            name = f"{vc.name}_z{z:03d}"
            if names is None or name in names:
                yield Case(name=name, image=image[z], mask=vc.label[z] > 0, pixel_size_mm=px,
                           group=vc.name, meta={"slice": z, "window": window,
                                                "neighbours": neighbour_slices(image, z)})


# ---------------------------------------------------------------- probe
def _unreadable_nifti(root: Path, path: Path, reason: str) -> DatasetLayoutError:
    return DatasetLayoutError(f"{root}: looks like the NIfTI pairs layout, but {path.relative_to(root)} "
                              f"cannot be read: {reason}")


def _nifti_header(path: Path, root: Path) -> nib.Nifti1Image:
    """The NIfTI image with its header only: ``nib.load`` is lazy, no voxel is read."""
    try:
        return nib.load(path)
    except (*nifti_errors(), zlib.error) as exc:
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
    ornt = nib.orientations
    to_display = ornt.ornt_transform(ornt.io_orientation(affine), ornt.axcodes2ornt(DISPLAY_AXCODES))
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


def probe_nifti_pairs(path: Path, inv: Inventory) -> LayoutGuess | None:
    """MSD / nnU-Net (or its ``imagesTr/`` itself) or BraTS folders; cases are the axial slices of the
    labelled volumes, counted from the headers (no voxel is decoded but one probed pair)."""
    root = path.parent if path.name in MSD_FOLDERS[:2] and (path.parent / "imagesTr").is_dir() else path
    files = nifti_pair_files(root)
    if not files:
        if (root / "imagesTs").is_dir() and nifti_pair_files(root, "Ts"):
            raise DatasetLayoutError(f"{root}: only unlabelled imagesTs/ volumes found (no imagesTr/): "
                                     f"nothing to score; expected {EXPECTED}")
        return None
    msd = files[0][1].parent == root / "imagesTr"
    labelled = [f for f in files if f[2] is not None]
    if not labelled:
        found = (f"imagesTr/ holds {len(files)} NIfTI volumes, none with its labelsTr/NAME.nii.gz" if msd
                 else f"{len(files)} BraTS case folders, none with a *_seg.nii.gz")
        raise DatasetLayoutError(f"{root}: {found}: nothing to score; expected {EXPECTED}")
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
    return LayoutGuess(NAME, TASK, n, tuple(warnings), root, "Tr", n)


def _read_labelled(root: Path, split: str | None, names: Collection[str] | None) -> Iterator[Case]:
    return nifti_pair_slices(root, names=names)


LAYOUT = register_layout(Layout(NAME, "NIfTI pairs (brain MRI, MSD / nnU-Net or BraTS), as 2-D axial slices",
                                EXPECTED, (TASK,), "volume", probe_nifti_pairs, _read_labelled, priority=30))
