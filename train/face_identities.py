"""Real people to draw the screening phantoms on: photos split by person into training and held-out.

    sources, held = identity_split([Path("../shared/data/fasseg/frontal02/train/RGB")], 6, seed=0)

Every photo named directly or found under a folder is a candidate; its person is
:func:`core.datasets.fasseg.person_of` (Pointing'04 names give the person, any other photo is its
own person). Whole persons are held out (seeded), so the test phantoms and the real no-condition
faces scored at the end show people the screener never saw. Photos in which Face Mesh finds no
face are skipped (``train.face_sources.sources_from``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.datasets.fasseg import person_of, set_path
from train.face_augment import FaceSource
from train.face_sources import photo_files, sources_from


@dataclass(frozen=True)
class IdentitySplit:
    """Training and held-out people.

    Attributes:
        train: a FaceSource per training photo with a face.
        held_out: a FaceSource per held-out photo with a face.
        train_persons: how many persons the training photos show.
        held_out_persons: the held-out persons' ids.
    """

    train: list[FaceSource]
    held_out: list[FaceSource]
    train_persons: int
    held_out_persons: tuple[str, ...]


def person(path: Path) -> str:
    """The person a photo shows (see the module docstring); a photo inside a FASSEG ``RGB/`` folder
    is named by its set (``frontal02_13``)."""
    rgb = next((a for a in path.parents if a.name == "RGB"), None)
    return person_of(path.stem, set_path(rgb) if rgb is not None else path.parent.name)


def identity_split(paths: list[Path], held_out_persons: int, seed: int = 0) -> IdentitySplit:
    """Split the photos under ``paths`` by person; ``held_out_persons`` of them (at most all but one)
    are held out. Raises SystemExit when no photo has a face."""
    files = photo_files(paths)
    persons = sorted({person(p) for p in files})
    rng = np.random.default_rng(seed)
    n_held = min(max(0, held_out_persons), max(0, len(persons) - 1))
    held = set(rng.permutation(persons)[:n_held].tolist())
    train_files = [p for p in files if person(p) not in held]
    held_files = [p for p in files if person(p) in held]
    train = sources_from(train_files)
    return IdentitySplit(train, sources_from(held_files) if held_files else [],
                         len({person(p) for p in train_files}), tuple(sorted(held)))
