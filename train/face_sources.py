"""Face photos as training and phantom sources: a photo with its Face Mesh landmarks (detected once).

The bundled identities are matplotlib's ``grace_hopper.jpg`` (training) and scikit-image's
astronaut (held out); any folder of photos is another source. The screening trainer and the face
phantom generator take their portraits from here (``train.face_identities`` splits many by person).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from core.datasets import IMAGE_SUFFIXES
from core.face.landmarks import detect_landmarks, oriented_rgb
from train.face_augment import FaceSource

log = logging.getLogger(__name__)
TRAIN_PHOTO = "grace_hopper.jpg"  # she wears glasses with a dark upper rim over the brows
HELD_OUT_NAME = "astronaut (skimage.data)"


def photo_files(paths: list[Path]) -> list[Path]:
    """Image files named directly or found under folders (recursively), sorted, without repeats."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise SystemExit(f"no such photo or folder: {path}")
    return list(dict.fromkeys(found))


def sources_from(paths: list[Path], *, glasses: bool = False) -> list[FaceSource]:
    """One FaceSource per photo with a face, named relative to the folder it was found in; photos
    without a face (or unreadable) are skipped, logged."""
    sources = []
    folders = [p for p in paths if p.is_dir()]
    for path in photo_files(paths):
        root = next((f for f in folders if path.is_relative_to(f)), None)
        try:
            rgb = oriented_rgb(path)
            points = detect_landmarks(rgb).points
        except Exception as exc:  # noqa: BLE001 - a bad photo in a user's folder is skipped, not fatal
            log.warning("skipped %s: %s", path, exc)
            continue
        name = str(path.relative_to(root)) if root and path.is_relative_to(root) else path.name
        sources.append(FaceSource.from_photo(name, rgb, points, glasses=glasses))
    if not sources:
        raise SystemExit(f"no face found in any photo of {', '.join(map(str, paths))}")
    return sources


def default_sources() -> tuple[list[FaceSource], list[FaceSource]]:
    """The bundled training portrait (grace_hopper.jpg) and the held-out one (the astronaut)."""
    from matplotlib import cbook

    grace = Path(cbook.get_sample_data(TRAIN_PHOTO, asfileobj=False))
    return sources_from([grace], glasses=True), [astronaut_source()]


def astronaut_source() -> FaceSource:
    try:
        from skimage import data as skdata
    except ImportError:
        raise SystemExit("the default held-out face is scikit-image's astronaut: "
                         "pip install scikit-image==0.26.0 (or pass --held-out PHOTOS)") from None
    rgb = np.ascontiguousarray(skdata.astronaut()[..., :3])
    return FaceSource.from_photo(HELD_OUT_NAME, rgb, detect_landmarks(rgb).points)


def load_sources() -> tuple[FaceSource, FaceSource]:
    """The default training portrait and the held-out one, landmarks detected once each."""
    train, held = default_sources()
    return train[0], held[0]
