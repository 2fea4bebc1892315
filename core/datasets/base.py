"""What every dataset layout shares: the :class:`Case` it yields, its errors, and small helpers."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.io.image import ImageError, load_image

# Photo and frame suffixes the 2-D layouts read (ImageFolder photos; counted by the inventory).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


class DatasetError(ValueError):
    """A dataset folder does not hold the layout it was read as."""


class DatasetLayoutError(DatasetError):
    """A folder is empty, holds no recognised layout, or its files cannot be read."""


@dataclass(frozen=True)
class Case:
    """One case of a dataset.

    Attributes:
        name: file name of the image, unique within its dataset.
        image: HxW uint8 greyscale image (HxWx3 uint8 RGB for photos: the ImageFolder layout).
        mask: HxW bool ground-truth mask, or None when the split has no labels.
        pixel_size_mm: isotropic pixel size in mm, or None when unknown.
        group: the unit to split by (the exam for HC18), so frames of one exam stay together.
        meta: anything else the layout carries (e.g. ``hc_mm`` reference value).
    """

    name: str
    image: np.ndarray
    mask: np.ndarray | None = None
    pixel_size_mm: float | None = None
    group: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def probe_readable(path: Path, layout: str) -> None:
    """Decode one file, so an unreadable dataset is refused before a run starts.

    Raises:
        DatasetLayoutError: naming the folder, the ``layout`` it looks like and the file.
    """
    try:
        load_image(path)
    except (ImageError, OSError) as exc:
        raise DatasetLayoutError(f"{path.parent}: looks like the {layout} layout, but {path.name} "
                                 f"cannot be read: {exc}") from None
