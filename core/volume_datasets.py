"""Readers for NIfTI volume datasets (brain tumour MRI), yielding :class:`VolumeCase` objects.

Two real layouts are read, both as ``nifti_pairs``:

* Medical Segmentation Decathlon / nnU-Net::

      dataset.json                  optional: "modality" (channel names), "labels"
      imagesTr/NAME.nii.gz          3-D, or 4-D with one channel per sequence; nnU-Net names one
                                    file per sequence NAME_0000.nii.gz, NAME_0001.nii.gz, ...
      labelsTr/NAME.nii.gz          integer labels on the image grid (0 = background)
      imagesTs/NAME.nii.gz          optional, unlabelled

* BraTS (one folder per case)::

      CASE/CASE_t1ce.nii.gz  CASE_flair.nii.gz ...  CASE_seg.nii.gz      (2018-2020)
      CASE/CASE-t1c.nii.gz   CASE-t2f.nii.gz ...    CASE-seg.nii.gz      (2023)

The sequence a model reads is picked by name (default the post-contrast T1, which our phantoms
imitate). The whole tumour is ``label > 0`` in every convention (BraTS 1/2/4 or 1/2/3, MSD 1/2/3).
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.datasets import Case, DatasetError
from core.volume import Volume, read_nifti

log = logging.getLogger(__name__)

NIFTI_SUFFIXES = (".nii.gz", ".nii")
POST_CONTRAST = ("t1ce", "t1gd", "t1c", "t1-gd", "post")  # names of the sequence our model reads
BRATS_LABELS = {1: "necrotic / non-enhancing core", 2: "oedema", 3: "enhancing tumour", 4: "enhancing tumour"}
_CHANNEL = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")
_SLICE = re.compile(r"_z\d{3,}$")  # the slice suffix of nifti_pair_slices' case names


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
    """Index of the first channel whose name contains one of ``wanted`` (case-insensitive), else 0."""
    for i, name in enumerate(names):
        if any(w in name.lower().replace(" ", "") for w in wanted):
            return i
    return 0


def nifti_pair_files(root: str | Path, split: str = "Tr") -> list[tuple[str, Path, Path | None, int]]:
    """(name, image file, label file or None, channel) for every case of an MSD/nnU-Net or BraTS
    folder; ``split`` "Tr" (labelled) or "Ts" (unlabelled, MSD only)."""
    root = Path(root)
    info = _dataset_json(root)
    modality = info.get("modality") or info.get("channel_names") or {}
    names = [modality[k] for k in sorted(modality, key=int)]
    channel = _pick_channel(names, POST_CONTRAST) if modality else 0
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
        seq = next((files[k] for k in POST_CONTRAST if k in files), None)
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
                           "or BraTS case folders with a *_t1ce.nii.gz and *_seg.nii.gz")
    label_names = {int(k): v for k, v in (_dataset_json(root).get("labels") or {}).items()
                   if str(k).isdigit()}
    for name, image, label, channel in files:
        if names is None or name in names:
            yield read_volume_case(name, image, label, channel, label_names or None)


def nifti_pair_slices(root: str | Path, names: Collection[str] | None = None) -> Iterator[Case]:
    """The labelled cases of a NIfTI dataset as 2-D axial slices, windowed per volume, for the 2-D
    trainer and the per-slice evaluation; the volume is each slice's split group.

    Args:
        root: the dataset folder.
        names: only these slices (``NAME_z007``); only the volumes they belong to are read.
    """
    from core.predict import window_volume

    volumes = None if names is None else {_SLICE.sub("", n) for n in names}
    for vc in read_nifti_pairs(root, names=volumes):
        if vc.label is None:
            continue
        image = window_volume(vc.volume.voxels)
        px = None if vc.volume.spacing_mm is None else float(np.mean(vc.volume.spacing_mm[1:]))
        for z in range(image.shape[0]):
            name = f"{vc.name}_z{z:03d}"
            if names is None or name in names:
                yield Case(name=name, image=image[z], mask=vc.label[z] > 0, pixel_size_mm=px,
                           group=vc.name, meta={"slice": z})
