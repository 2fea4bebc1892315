"""FASSEG face parsing layout: ``RGB/`` photos and colour-coded ``labels/``, matched by file stem.

FASSEG (Khan, Mauro, Leonardi, ICIP 2015) ships ``frontal01``, ``frontal02`` and ``multipose01``
sets, each with a ``train/`` (and, in the full release, ``test/``) folder holding ``RGB/`` and
``labels/``; ``multipose01`` nests both one level deeper, by yaw (``RGB/-30/name.jpg`` and
``labels/-30/name.png``). A label image paints each class in one colour (:data:`PALETTE`); its
edges are anti-aliased, so a pixel takes the class of the NEAREST palette colour.

:func:`read_fasseg` accepts any folder that holds such ``RGB/`` + ``labels/`` pairs at any depth
(one set's ``train/``, one set, or the whole ``fasseg/`` folder) and yields :class:`FassegCase`
records; the split unit (:attr:`FassegCase.group`) is the person: Pointing'04 file names
(``personne<PP><S><NN>...``) give the person ``PP``; any other photo is its own person.
Not registered with the model lab's layout registry (its masks are multi-class, not binary).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.datasets.base import IMAGE_SUFFIXES, DatasetLayoutError
from core.io.image import ImageError, load_image, to_rgb_u8

# Class name -> RGB colour in FASSEG's label images; the order is the label value (0 = background).
PALETTE: dict[str, tuple[int, int, int]] = {
    "background": (255, 0, 0),
    "hair": (127, 0, 0),  # eyebrows are labelled hair
    "skin": (255, 255, 0),  # face, ears, neck
    "eyes": (0, 0, 255),
    "nose": (0, 255, 255),
    "mouth": (0, 255, 0),
}
CLASSES: tuple[str, ...] = tuple(PALETTE)
# The classes the face-parser target averages (hair and background are not facial regions).
FACE_CLASSES: tuple[str, ...] = ("eyes", "nose", "mouth", "skin")
_COLOURS = np.array(list(PALETTE.values()), np.int32)
SPLITS = ("train", "test", "val", "validation")
_POINTING04 = re.compile(r"^personne(\d\d)", re.IGNORECASE)


@dataclass(frozen=True)
class FassegCase:
    """One labelled photo of a FASSEG-layout folder (pixels are read on demand).

    Attributes:
        name: the photo's file stem (unique within what :func:`read_fasseg` yields).
        image_path: the photo.
        label_path: its colour-coded label image.
        group: the person (the unit to split by).
        subset: ``<set>/<split>`` of its ``RGB/`` folder plus any sub-folder below it (for example
            ``multipose01/train/-30``), for reports by set and pose.
    """

    name: str
    image_path: Path
    label_path: Path
    group: str
    subset: str

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """(HxWx3 uint8 RGB photo, HxW uint8 label map); raises DatasetLayoutError on a bad pair."""
        try:
            image = to_rgb_u8(load_image(self.image_path))
            labels = decode_labels(to_rgb_u8(load_image(self.label_path)))
        except (ImageError, OSError) as exc:
            raise DatasetLayoutError(f"{self.name}: cannot read the photo or its labels: {exc}") from None
        if image.shape[:2] != labels.shape:
            raise DatasetLayoutError(f"{self.name}: photo {image.shape[1]}x{image.shape[0]} and labels "
                                     f"{labels.shape[1]}x{labels.shape[0]} differ in size")
        return image, labels


def decode_labels(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 colour-coded labels -> HxW uint8 class map, each pixel taking the nearest palette
    colour (anti-aliased edges between two classes fall to the closer one)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f"FASSEG labels are RGB images, got shape {rgb.shape}")
    flat = rgb[..., :3].reshape(-1, 3).astype(np.int32)
    keys, inverse = np.unique(flat[:, 0] << 16 | flat[:, 1] << 8 | flat[:, 2], return_inverse=True)
    colours = np.stack([keys >> 16, keys >> 8 & 255, keys & 255], 1)  # few distinct colours: cheap
    dist = ((colours[:, None, :] - _COLOURS[None]) ** 2).sum(-1)
    return dist.argmin(1).astype(np.uint8)[inverse.ravel()].reshape(rgb.shape[:2])


def encode_labels(labels: np.ndarray) -> np.ndarray:
    """HxW class map -> HxWx3 uint8 image in FASSEG's palette (the inverse of :func:`decode_labels`)."""
    labels = np.asarray(labels)
    if labels.size and int(labels.max()) >= len(CLASSES):
        raise ValueError(f"label values run 0..{len(CLASSES) - 1}, got {int(labels.max())}")
    return _COLOURS.astype(np.uint8)[labels]


def person_of(stem: str, subset: str) -> str:
    """The split unit of a photo: ``pointing04_<PP>`` for Pointing'04 names, else the photo itself."""
    m = _POINTING04.match(stem)
    return f"pointing04_{m.group(1)}" if m else f"{subset.split('/')[0] or 'photo'}_{stem}"


def set_path(rgb_dir: Path) -> str:
    """``<set>/<split>`` of an ``RGB/`` folder (``frontal02/train``), or the folder's name alone when
    it is not inside a ``train/``/``test/`` split, whatever folder the reading started from."""
    parent = rgb_dir.resolve().parent
    if parent.name.lower() in SPLITS and parent.parent.name:
        return f"{parent.parent.name}/{parent.name}"
    return parent.name or "photos"


def _pairs(rgb_dir: Path) -> Iterator[tuple[Path, Path]]:
    labels_dir = rgb_dir.parent / "labels"
    by_stem: dict[Path, Path] = {}
    for p in labels_dir.rglob("*"):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            by_stem[p.relative_to(labels_dir).with_suffix("")] = p
    for p in sorted(rgb_dir.rglob("*")):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            label = by_stem.get(p.relative_to(rgb_dir).with_suffix(""))
            if label is not None:
                yield p, label


def read_fasseg(root: str | Path) -> list[FassegCase]:
    """Every labelled photo under ``root`` (``RGB/`` + sibling ``labels/`` folders at any depth),
    sorted by subset and name.

    Raises:
        DatasetLayoutError: no ``RGB/`` + ``labels/`` pair with a matching file stem under ``root``,
            or two photos with the same stem.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: not a folder")
    rgb_dirs = sorted(d for d in [root, *root.rglob("*")] if d.is_dir() and d.name == "RGB"
                      and (d.parent / "labels").is_dir())
    cases: list[FassegCase] = []
    seen: dict[str, Path] = {}
    for rgb_dir in rgb_dirs:
        base = set_path(rgb_dir)
        for image, label in _pairs(rgb_dir):
            sub = image.parent.relative_to(rgb_dir).as_posix()
            subset = base if sub == "." else f"{base}/{sub}"
            if image.stem in seen:
                raise DatasetLayoutError(f"two photos named {image.stem}: {seen[image.stem]} and {image}")
            seen[image.stem] = image
            cases.append(FassegCase(image.stem, image, label, person_of(image.stem, subset), subset))
    if not cases:
        raise DatasetLayoutError(f"{root}: no FASSEG layout (RGB/ and labels/ folders with photos and "
                                 "label images of the same file stem)")
    return cases
