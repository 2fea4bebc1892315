"""Ultrasound nerve frames as an ``images/`` + ``masks/`` pair of folders (a resized Kaggle 2016 copy).

    <root>/images/<subject>_<n>.jpg         the frame (.jpg, .jpeg, .png, .tif or .tiff)
    <root>/masks/<subject>_<n>_mask.jpg     its brachial-plexus mask (0 background, 255 nerve)

The shared copy (Kaggle 2016 Ultrasound Nerve Segmentation, frames that contain a nerve, from the
atlan-antillia Image-Segmentation-Nerve repository) is in this layout. Its masks are JPEG: their
compression leaves values other than 0 and 255 along the outline, so a mask pixel is nerve when
its grey value is above 127. Only ``masks/`` holds masks and only files named ``..._mask.<ext>``;
a ``_mask`` file in ``images/`` is ignored (and reported by the probe), never read as a frame.

The root is the folder holding ``images/`` and ``masks/`` (``nerve/positives``) or its parent when
that parent holds exactly one sub-folder and it is in the layout (``nerve/`` holding only
``positives/``); a parent with several sub-folders is not guessed at. Frames are ordered by subject,
then frame number, both numerically (``2_5`` before ``10_1``, ``10_2`` after ``10_1``); the subject
is each frame's split group. A frame without its mask is read with ``mask`` None; the probe says so.

How the copy was resized (checked on all 1333 frames of the shared copy): the 580x420 Kaggle frames
were NOT squeezed. Each was centred on a 580x580 canvas of grey 128 (the masks on black), then that
square was scaled to 256x256: one scale, 256/580 = 0.441, on both axes, so the anatomy keeps its
aspect. Every frame is letterboxed: rows 0-31 and 224-255 are grey 128 (give or take 2, JPEG
noise), rows 32-35 and 220-223 the blurred edge, and the ultrasound fills rows 35.3-220.7 (the 420
rows at 0.441) across the whole width; no mask pixel lies in the bands. Nerves are therefore drawn
at 0.441 times their Kaggle size (mean mask area 1378 px here, about 7070 px at 580x420), which is
1.375 times smaller than a 580x420 frame letterboxed to a 256x352 model input shows them (scale
0.607). A model meant for 580x420 frames should see these frames with the grey bands cropped off
(256x185, the 580x420 aspect), not as they are stored.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from pathlib import Path

import numpy as np

from core.datasets.base import Case, DatasetError, DatasetLayoutError
from core.datasets.inventory import Inventory
from core.datasets.registry import Layout, LayoutGuess, register_layout
from core.io.image import ImageError, load_image, to_gray_u8

NAME, TASK = "nerve_images", "nerve"
EXPECTED = ("nerve images/masks: images/<subject>_<n>.jpg with masks/<subject>_<n>_mask.jpg "
            "(.jpeg, .png, .tif also), or a folder holding only that folder")
MASK_THRESHOLD = 127  # JPEG masks: nerve where the grey value is above this
_EXT = r"\.(?:jpe?g|png|tiff?)"
FRAME_FILE = re.compile(rf"^(?P<subject>\d+)_(?P<frame>\d+){_EXT}$", re.IGNORECASE)
MASK_FILE = re.compile(rf"^(?P<subject>\d+)_(?P<frame>\d+)_mask{_EXT}$", re.IGNORECASE)

Key = tuple[int, int]  # (subject, frame number)


def _holds_pair(folder: Path) -> bool:
    return (folder / "images").is_dir() and (folder / "masks").is_dir()


def nerve_images_root(path: str | Path) -> Path | None:
    """The folder holding ``images/`` and ``masks/``: ``path`` itself, or its only sub-folder; else None."""
    folder = Path(path)
    if not folder.is_dir():
        return None
    if _holds_pair(folder):
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return subs[0] if len(subs) == 1 and _holds_pair(subs[0]) else None


def _index(folder: Path, pattern: re.Pattern[str]) -> tuple[dict[Key, Path], list[str]]:
    """``(subject, frame) -> file`` for the files of ``folder`` named like ``pattern``, and the
    names of the other files (hidden ones left out).

    Raises:
        DatasetError: two files for one frame (``1_1.jpg`` and ``1_1.png``).
    """
    found: dict[Key, Path] = {}
    other = []
    for path in sorted(folder.iterdir()):
        m = pattern.match(path.name) if path.is_file() else None
        if m is None:
            if not path.name.startswith("."):
                other.append(path.name)
            continue
        key = (int(m["subject"]), int(m["frame"]))
        if key in found:
            raise DatasetError(f"{folder.name}/{found[key].name} and {folder.name}/{path.name} are the same "
                               "frame: keep one of them")
        found[key] = path
    return found, other


def _pairs(root: Path) -> tuple[list[tuple[Key, Path, Path | None]], dict[Key, Path], list[str], list[str]]:
    """The frames of ``root`` in (subject, frame) order with their mask files (None: missing), the
    masks without a frame, and the other file names of ``images/`` and of ``masks/``."""
    frames, other_images = _index(root / "images", FRAME_FILE)
    masks, other_masks = _index(root / "masks", MASK_FILE)
    pairs = [(key, frames[key], masks.get(key)) for key in sorted(frames)]
    orphans = {key: path for key, path in masks.items() if key not in frames}
    return pairs, orphans, other_images, other_masks


def _read_grey(path: Path, what: str) -> np.ndarray:
    try:
        return to_gray_u8(load_image(path))
    except (ImageError, OSError) as exc:
        raise DatasetError(f"{path.parent.name}/{path.name}: cannot be read as a nerve {what}: "
                           f"{exc}") from None


def read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A frame's HxW bool mask: grey value above :data:`MASK_THRESHOLD` (JPEG-tolerant).

    Raises:
        DatasetError: unreadable, or not the size of its frame (``shape`` = (H, W)).
    """
    grey = _read_grey(path, "mask")
    if grey.shape != tuple(shape):
        raise DatasetError(f"masks/{path.name}: the mask is {grey.shape[1]}x{grey.shape[0]} px but its frame "
                           f"is {shape[1]}x{shape[0]} px; a mask must have its frame's size")
    return grey > MASK_THRESHOLD


def read_nerve_images(root: str | Path, *, names: Collection[str] | None = None) -> Iterator[Case]:
    """Read the frames of an ``images/`` + ``masks/`` folder, ordered by subject then frame number.

    Args:
        root: the folder holding ``images/`` and ``masks/``, or a folder holding only that folder.
        names: read only the frames with these file names (``10_1.jpg``); None reads all.

    Yields:
        :class:`Case` with ``image`` HxW uint8 grey, ``mask`` HxW bool (or None when the mask file
        is missing), ``group`` the subject (a string, the split unit), ``meta`` ``subject`` and
        ``frame`` (ints) and ``path`` (the frame's file).

    Raises:
        DatasetError: not this layout, no frame, two files for one frame, an unreadable file, or
            a mask whose size differs from its frame's.
    """
    folder = nerve_images_root(root)
    if folder is None:
        raise DatasetError(f"{root}: no images/ and masks/ folders here or in its only sub-folder "
                           f"({EXPECTED})")
    pairs = _pairs(folder)[0]
    if not pairs:
        raise DatasetError(f"{folder / 'images'}: no frames named like 1_1.jpg ({EXPECTED})")
    for (subject, frame), image_path, mask_path in pairs:
        if names is not None and image_path.name not in names:
            continue
        image = _read_grey(image_path, "frame")
        mask = None if mask_path is None else read_mask(mask_path, image.shape)
        yield Case(name=image_path.name, image=image, mask=mask, group=str(subject),
                   meta={"subject": subject, "frame": frame, "path": str(image_path)})


def _listed(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (" ..." if len(names) > n else "")


def _warnings(pairs: list[tuple[Key, Path, Path | None]], orphans: dict[Key, Path],
              other_images: list[str], other_masks: list[str]) -> list[str]:
    warnings = []
    missing = [image.name for _, image, mask in pairs if mask is None]
    if missing:
        warnings.append(f"{len(missing)} of {len(pairs)} frames have no mask in masks/: listed without "
                        f"scores ({_listed(missing)})")
    if orphans:
        warnings.append(f"{len(orphans)} mask(s) without a frame in images/, ignored "
                        f"({_listed([p.name for p in orphans.values()])})")
    misplaced = [n for n in other_images if MASK_FILE.match(n)]
    if misplaced:
        warnings.append(f"{len(misplaced)} _mask file(s) in images/ are not frames and are ignored (masks "
                        f"belong in masks/): {_listed(misplaced)}")
    ignored = [n for n in other_images if n not in misplaced] + [f"masks/{n}" for n in other_masks]
    if ignored:
        warnings.append(f"{len(ignored)} file(s) not named <subject>_<n> (images/) or <subject>_<n>_mask "
                        f"(masks/), ignored: {_listed(ignored)}")
    return warnings


def probe_nerve_images(path: Path, inv: Inventory) -> LayoutGuess | None:
    """The ``images/`` + ``masks/`` nerve layout at ``path`` (or in its only sub-folder), else None.

    Raises:
        DatasetLayoutError: frames but no mask at all, two files for one frame, or a first frame
            and mask that cannot be read together.
    """
    root = nerve_images_root(path)
    if root is None:
        return None
    try:
        pairs, orphans, other_images, other_masks = _pairs(root)
    except DatasetError as exc:
        raise DatasetLayoutError(f"{root}: looks like the nerve images/masks layout, but {exc}") from None
    if not pairs:
        return None  # images/ + masks/ of other names: another layout's (or two ImageFolder classes)
    labelled = [(image, mask) for _, image, mask in pairs if mask is not None]
    if not labelled:
        raise DatasetLayoutError(f"{root}: {len(pairs)} nerve frames in images/ but no <subject>_<n>_mask "
                                 "file in masks/: nothing to score")
    try:
        image, mask = labelled[0]
        read_mask(mask, _read_grey(image, "frame").shape)
    except DatasetError as exc:
        raise DatasetLayoutError(f"{root}: looks like the nerve images/masks layout, but {exc}") from None
    warnings = _warnings(pairs, orphans, other_images, other_masks)
    return LayoutGuess(NAME, TASK, len(pairs), tuple(warnings), root, None, len(labelled))


def _read_labelled(root: Path, split: str | None, names: Collection[str] | None) -> Iterator[Case]:
    return read_nerve_images(root, names=names)


LAYOUT = register_layout(Layout(NAME, "Nerve images/masks (ultrasound)", EXPECTED, (TASK,), "2d",
                                probe_nerve_images, _read_labelled, priority=22))
