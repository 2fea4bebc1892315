"""Faces for the screening trainer: photo folders, CSV lists or phantoms, landmarked, aligned and cut once."""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from core.datasets import IMAGE_SUFFIXES
from core.face.landmarks import FaceError, detect_landmarks, oriented_rgb
from core.face.screening import ScreeningInputs, prepare_inputs
from train.classifier.config import SCREENING, ClassifierConfig
from train.classifier.model import input_spec

log = logging.getLogger("train.classifier")


@dataclass
class FaceSet:
    """Prepared faces held in memory.

    Attributes:
        faces: NxSxSx3 uint8 aligned faces.
        crops: region -> NxVxcxcx3 uint8 crops.
        y: N int64 class indices.
        ids: N names (file paths or phantom numbers).
        labels: class names.
    """

    faces: torch.Tensor
    crops: dict[str, torch.Tensor]
    y: np.ndarray
    ids: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.y)


def folder_items(root: Path) -> list[tuple[Path, str]]:
    """(photo, class) pairs of an ImageFolder layout: each sub-folder of ``root`` is a class."""
    if not root.is_dir():
        raise SystemExit(f"--data {root}: not a folder")
    items = [(p, d.name) for d in sorted(x for x in root.iterdir() if x.is_dir())
             for p in sorted(d.rglob("*")) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not items:
        raise SystemExit(f"--data {root}: no photos in class sub-folders (expected {root}/<class>/*.jpg)")
    return items


def csv_items(path: Path) -> list[tuple[Path, str]]:
    """(photo, class) pairs from ``path,label`` rows; a header row ``path,label`` is skipped."""
    with path.open(newline="") as fh:
        rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "label"]:
        rows = rows[1:]
    bad = [r for r in rows if len(r) < 2 or not r[0].strip() or not r[1].strip()]
    if bad or not rows:
        raise SystemExit(f"--csv {path}: expected path,label rows; bad rows: {bad[:3] or 'none at all'}")
    return [(path.parent / r[0].strip(), r[1].strip()) for r in rows]


def photo_set(items: list[tuple[Path, str]], spec: dict, regions: list[str]) -> tuple[FaceSet, int]:
    """Detect, align and crop every photo; those without a usable face are skipped (counted)."""
    labels = sorted({c for _, c in items})
    prepared, y, ids, skipped = [], [], [], 0
    for path, cls in tqdm(items, desc="landmarks"):
        try:
            rgb = oriented_rgb(path)
            prepared.append(prepare_inputs(rgb, detect_landmarks(rgb), spec, regions))
        except (FaceError, OSError) as exc:
            skipped += 1
            log.warning("skipped %s: %s", path, exc)
            continue
        y.append(labels.index(cls))
        ids.append(str(path))
    log.info("%d photos with a face, %d skipped (no face or unreadable)", len(prepared), skipped)
    if not prepared:
        raise SystemExit("no face found in any photo")
    empty = [c for k, c in enumerate(labels) if k not in set(y)]
    if empty:
        log.warning("no usable photo of class(es) %s: the model cannot learn them", ", ".join(empty))
    return stack_inputs(prepared, y, ids, labels, regions), skipped


def phantom_faces(task: str, n: int, seed: int, identity: str, identity_variation: float = 0.0,
                  sources: list[Any] | None = None) -> list[Any]:
    """Phantom faces of a screening task (train/phantoms/face.py), on ``sources`` when given."""
    from train.phantoms.face import phantom_set

    return phantom_set(task, n, seed, identity=identity, identity_variation=identity_variation,
                       sources=sources)


def phantom_face_set(faces: list[Any], labels: list[str], spec: dict, regions: list[str]) -> FaceSet:
    """Align and crop phantom faces with their known landmarks."""
    prepared = [prepare_inputs(f.rgb, f.landmarks, spec, regions) for f in tqdm(faces, desc="phantoms")]
    return stack_inputs(prepared, [int(f.label_index) for f in faces],
                        [f"phantom_{i:05d}" for i in range(len(faces))], labels, regions)


def stack_inputs(prepared: list[ScreeningInputs], y: list[int], ids: list[str], labels: list[str],
                 regions: list[str]) -> FaceSet:
    """Stack prepared inputs into uint8 tensors."""
    faces = torch.from_numpy(np.stack([p.aligned for p in prepared]))
    crops = {r: torch.from_numpy(np.stack([np.stack(p.crops[r]) for p in prepared])) for r in regions}
    return FaceSet(faces, crops, np.asarray(y, np.int64), list(ids), list(labels))


def load_data(args: ClassifierConfig, sources: list[Any] | None = None) -> tuple[FaceSet, int, list[str]]:
    """The training faces, the number of photos skipped, and the class names; phantoms are drawn
    on ``sources`` (real people's photos) when given."""
    spec = input_spec(args)
    if args.phantoms:
        labels = list(SCREENING.row(args.screen_task).labels)
        faces = phantom_faces(args.screen_task, args.phantoms, args.phantom_seed, "train",
                              args.identity_variation, sources)
        return phantom_face_set(faces, labels, spec, args.regions), 0, labels
    items = folder_items(args.data) if args.data else csv_items(args.csv)
    data, skipped = photo_set(items, spec, args.regions)
    return data, skipped, data.labels
