"""The LGG "kaggle_3m" layout (Buda et al. 2019; TCIA TCGA-LGG): brain MRI slices of lower-grade gliomas.

    kaggle_3m/<patient>/<patient>_<n>.tif        256x256x3 uint8: pre-contrast, FLAIR, post-contrast
    kaggle_3m/<patient>/<patient>_<n>_mask.tif   256x256 uint8, 0/255: FLAIR abnormality
    kaggle_3m/data.csv                            genomic clusters per patient (not read)

The published TIFFs are uncompressed, the shared copy's are deflate-compressed: both are read.
Slices are ordered by their NUMBER (``_2`` before ``_10``). Neither the slice spacing nor the
in-plane pixel size is in the files: slices carry no pixel size and volumes are in voxels
(:mod:`core.datasets.kaggle_3m_volumes`). The root may be the folder holding ``kaggle_3m/``, the
``kaggle_3m/`` folder itself, or one patient folder. The patient is each slice's split group.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from core.datasets.base import Case, DatasetError, DatasetLayoutError
from core.datasets.inventory import Inventory
from core.datasets.registry import Layout, LayoutGuess, register_layout
from core.io.image import ImageError, load_image

log = logging.getLogger(__name__)

NAME, TASK = "kaggle_3m", "brain_tumor"
EXPECTED = ("LGG kaggle_3m (brain MRI): <patient>/<patient>_<n>.tif (3 channels: pre-contrast, FLAIR, "
            "post-contrast) with <patient>_<n>_mask.tif, in kaggle_3m/ or a folder holding it, "
            "or one patient folder")
SEQUENCES = ("pre-contrast", "FLAIR", "post-contrast")  # channel order of every slice
FLAIR = 1
SPACING_NOTE = ("slice spacing and pixel size are not in the kaggle_3m files: sizes are in voxels "
                "(pixels), not mm or mL")
_SUFFIX = re.compile(r"\.tiff?$", re.IGNORECASE)


@dataclass(frozen=True)
class Slice:
    """One slice file of a patient: its number, image file and mask file (None when missing)."""

    number: int
    image: Path
    mask: Path | None


def _slice_pattern(patient: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(patient)}_(?P<n>\d+)\.tiff?$", re.IGNORECASE)


def patient_slices(folder: Path) -> list[Slice]:
    """The slices of one patient folder in slice-number order (``<patient>_<n>.tif``, ``_mask``)."""
    pattern = _slice_pattern(folder.name)
    out = []
    for path in folder.iterdir() if folder.is_dir() else ():
        m = pattern.match(path.name)
        if m and path.is_file():
            mask = next((p for p in (path.with_name(_SUFFIX.sub(f"_mask{s}", path.name))
                                     for s in (".tif", ".tiff", ".TIF")) if p.is_file()), None)
            out.append(Slice(int(m["n"]), path, mask))
    return sorted(out, key=lambda s: s.number)


def is_patient_folder(folder: Path) -> bool:
    """True when ``folder`` holds at least one ``<folder name>_<n>.tif`` slice."""
    pattern = _slice_pattern(folder.name)
    return folder.is_dir() and any(pattern.match(p.name) for p in folder.iterdir())


def patient_folders(root: str | Path) -> tuple[Path, list[Path]]:
    """The dataset root and its patient folders (name order); empty patient folders are kept.

    ``root`` may hold ``kaggle_3m/``, be ``kaggle_3m/`` (any folder of patient folders) or be a
    single patient folder. A sub-folder counts as a patient (if empty) when it is named like its
    siblings (``TCGA_...``) or when the root is called ``kaggle_3m``.
    """
    root = Path(root)
    if (root / "kaggle_3m").is_dir():
        root = root / "kaggle_3m"
    if is_patient_folder(root):
        return root, [root]
    subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if root.is_dir() else []
    patients = [p for p in subs if is_patient_folder(p)]
    if patients:
        prefixes = {p.name.split("_")[0] for p in patients}
        empty = [p for p in subs if p not in patients and not any(p.iterdir())
                 and (root.name == "kaggle_3m" or p.name.split("_")[0] in prefixes)]
        patients = sorted(patients + empty)
    return root, patients


def read_slice_image(path: Path | bytes, name: str | None = None) -> np.ndarray:
    """A slice's HxWx3 uint8 image (channels: :data:`SEQUENCES`), from its file or its bytes
    (``name`` then names it in messages).

    Raises:
        DatasetError: the file cannot be decoded or is not a 3-channel 8-bit image.
    """
    name = name or Path(path).name
    try:
        img = load_image(path, name=name)
    except (ImageError, OSError) as exc:
        raise DatasetError(f"{name}: cannot be read as a kaggle_3m slice: {exc}") from None
    px = img.pixels
    # RGBA would come composited to RGB (core.io.image): the mode says what the file held.
    if px.ndim != 3 or px.shape[2] != 3 or px.dtype != np.uint8 or img.meta.get("mode") != "RGB":
        raise DatasetError(f"{name}: expected a 3-channel 8-bit slice (pre-contrast, FLAIR, "
                           f"post-contrast), got shape {px.shape} {px.dtype} ({img.meta.get('mode')})")
    return px


def read_slice_mask(path: Path | bytes, shape: tuple[int, ...], name: str | None = None) -> np.ndarray:
    """A slice's HxW bool mask from its ``_mask.tif`` (0/255; one channel, the image's size), from
    the file or its bytes (``name`` then names it in messages).

    Raises:
        DatasetError: unreadable, not one channel, another size than the image, or values other
            than 0 and 255.
    """
    name = name or Path(path).name
    try:
        px = load_image(path, name=name).pixels
    except (ImageError, OSError) as exc:
        raise DatasetError(f"{name}: cannot be read as a kaggle_3m mask: {exc}") from None
    return mask_from_pixels(px, name, shape)


def mask_from_pixels(px: np.ndarray, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The checks of :func:`read_slice_mask` on decoded pixels (``name`` for the messages)."""
    path = Path(name)
    if px.ndim != 2:
        raise DatasetError(f"{path.name}: expected a 1-channel mask, got shape {px.shape}")
    if px.shape != tuple(shape[:2]):
        raise DatasetError(f"{path.name}: the mask is {px.shape[1]}x{px.shape[0]} px but its slice is "
                           f"{shape[1]}x{shape[0]} px")
    values = np.unique(px)
    if not set(values.tolist()) <= {0, 255}:
        shown = ", ".join(str(v) for v in values[:6])
        raise DatasetError(f"{path.name}: a kaggle_3m mask holds 0 and 255 only; found {shown}"
                           f"{' ...' if len(values) > 6 else ''}")
    return px == 255


def read_kaggle_3m(root: str | Path, *, names: Collection[str] | None = None) -> Iterator[Case]:
    """The slices of a kaggle_3m folder as 2-D cases: patients in name order, slices by number.

    Args:
        root: a folder holding ``kaggle_3m/``, ``kaggle_3m/`` itself, or one patient folder.
        names: read only the slices with these file names (``<patient>_<n>.tif``); None reads all.

    Yields:
        :class:`Case` with ``image`` HxWx3 uint8 (:data:`SEQUENCES`), ``mask`` HxW bool or None
        when the ``_mask.tif`` is missing, ``pixel_size_mm`` None (not in the files), ``group``
        the patient, ``meta`` ``patient``, ``slice`` (its number), ``sequences``, ``path``.

    Raises:
        DatasetError: no slice found, or a file that is not a kaggle_3m slice or mask.
    """
    for folder in _patients(root):
        yield from _patient_cases(folder, names)


def _patients(root: str | Path) -> list[Path]:
    """The patient folders under ``root``; raises DatasetError when there are none."""
    base, patients = patient_folders(root)
    if not patients:
        raise DatasetError(f"{base}: no kaggle_3m patient folders (<patient>/<patient>_<n>.tif) found")
    return patients


def _patient_cases(folder: Path, names: Collection[str] | None) -> Iterator[Case]:
    """One patient folder's slices (only ``names``, when given) in slice-number order."""
    slices = patient_slices(folder)
    if not slices:
        log.warning("%s: empty patient folder (no %s_<n>.tif): skipped", folder, folder.name)
    shape = None
    for s in slices:
        if names is not None and s.image.name not in names:
            continue
        image = read_slice_image(s.image)
        if shape is not None and image.shape != shape:
            raise DatasetError(f"{s.image.name}: {image.shape[1]}x{image.shape[0]} px, unlike the "
                               f"patient's other slices ({shape[1]}x{shape[0]} px)")
        shape = image.shape
        mask = None if s.mask is None else read_slice_mask(s.mask, image.shape)
        yield Case(name=s.image.name, image=image, mask=mask, group=folder.name,
                   meta={"patient": folder.name, "slice": s.number, "sequences": SEQUENCES,
                         "path": str(s.image)})


# ---------------------------------------------------------------- probe
def probe_kaggle_3m(path: Path, inv: Inventory) -> LayoutGuess | None:
    """The kaggle_3m layout at ``path`` (a folder holding ``kaggle_3m/``, it, or one patient), else None.

    Raises:
        DatasetLayoutError: patient folders without any mask, or a first slice that cannot be read.
    """
    root, patients = patient_folders(path)
    if not patients:
        return None
    slices = {p.name: patient_slices(p) for p in patients}
    every = [s for ss in slices.values() for s in ss]
    labelled = [s for s in every if s.mask is not None]
    if not labelled:
        raise DatasetLayoutError(f"{root}: {len(every)} kaggle_3m slices in {len(patients)} patient "
                                 f"folder(s) but no <patient>_<n>_mask.tif: nothing to score")
    warnings = [f"{len(patients)} patient(s), {len(every)} slices read one by one; per-patient Dice: "
                f"python -m train.evaluate --task brain_tumor --weights weights/brain_tumor/unet "
                f"--data <this folder> --out <folder>", SPACING_NOTE]
    empty = [name for name, ss in slices.items() if not ss]
    if empty:
        warnings.append(f"{len(empty)} empty patient folder(s), skipped: {', '.join(empty[:5])}"
                        f"{' ...' if len(empty) > 5 else ''}")
    if len(labelled) < len(every):
        missing = [s.image.name for s in every if s.mask is None]
        warnings.append(f"{len(missing)} of {len(every)} slices have no _mask.tif: listed without "
                        f"scores ({', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''})")
    try:
        read_slice_mask(labelled[0].mask, read_slice_image(labelled[0].image).shape)
    except DatasetError as exc:
        raise DatasetLayoutError(f"{root}: looks like the kaggle_3m layout, but {exc}") from None
    return LayoutGuess(NAME, TASK, len(every), tuple(warnings), root, None, len(labelled))


def read_kaggle_3m_windowed(root: str | Path, *, names: Collection[str] | None = None,
                            window: str | None = None) -> Iterator[Case]:
    """The slices of a kaggle_3m folder as a slice model reads them: :func:`read_kaggle_3m`'s cases
    with each patient's slices windowed together, sequence by sequence (``window``, default the
    brain task's: :data:`core.windowing.VOLUME_WINDOW`), as training and ``train.evaluate`` do.

    The files' own 8-bit values are not the model's scale (the brain model scores a Dice near 0 on
    them), so this is what the model lab reads. ``names`` (slice file names) reads only the patients
    they belong to, whole (a patient's window needs all its slices), and yields only those slices.
    ``meta["window"]`` names the window; ``meta["neighbours"]`` holds the windowed slices on either
    side (:func:`core.windowing.neighbour_slices`), for a model that reads them too.
    """
    from core.windowing import VOLUME_WINDOW, neighbour_slices, window_sequences

    window = window or VOLUME_WINDOW
    wanted = None if names is None else {n.rsplit("_", 1)[0] for n in names}
    for folder in _patients(root):
        if wanted is not None and folder.name not in wanted:
            continue
        cases = list(_patient_cases(folder, None))
        if not cases:
            continue
        stack = window_sequences(np.stack([c.image for c in cases]), window)
        for z, (case, image) in enumerate(zip(cases, stack)):
            if names is None or case.name in names:
                yield replace(case, image=image, meta={**case.meta, "window": window,
                                                       "neighbours": neighbour_slices(stack, z)})


def _read_labelled(root: Path, split: str | None, names: Collection[str] | None) -> Iterator[Case]:
    return read_kaggle_3m_windowed(root, names=names)


LAYOUT = register_layout(Layout(NAME, "LGG kaggle_3m (brain MRI slices, 3 sequences)", EXPECTED, (TASK,),
                                "volume", probe_kaggle_3m, _read_labelled, priority=25))
