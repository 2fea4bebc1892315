"""The ImageFolder layout (torchvision's; face screening photos): ``<root>/<class>/<photo>``.

Photos may sit in deeper folders under their class; the class is the sub-folder's name. Any folder
with two class sub-folders of photos matches, so this layout is probed last.
"""
from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

from core.datasets.base import IMAGE_SUFFIXES, Case, DatasetError, probe_readable
from core.datasets.inventory import Inventory
from core.datasets.registry import Layout, LayoutGuess, register_layout
from core.io.image import load_image, to_rgb_u8

NAME, TASK = "image_folder", "face_screening"
EXPECTED = ("ImageFolder (face photos): at least two class sub-folders, each holding "
            ".jpg/.png photos (<folder>/<class>/<photo>)")


def image_folder_items(root: str | Path) -> list[tuple[Path, str]]:
    """``(photo, class)`` pairs of an ImageFolder tree, classes and photos in name order.

    Hidden files and folders (``.name``) are skipped.
    """
    root = Path(root)
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    return [(p, d.name) for d in classes for p in sorted(d.rglob("*"))
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
            and not any(part.startswith(".") for part in p.relative_to(d).parts)]


def read_image_folder(root: str | Path, *, names: Collection[str] | None = None) -> Iterator[Case]:
    """Read an ImageFolder tree into cases: HxWx3 RGB photos labelled by their sub-folder.

    Args:
        root: the folder holding one sub-folder per class.
        names: read only the cases with these names (``<class>/<photo>``); None reads all.

    Yields:
        :class:`Case` named ``<class>/<path below the class folder>``, ``meta["label"]`` the
        class name, ``group`` the case name (nothing in the layout says which photos show the
        same person).

    Raises:
        DatasetError: if no class sub-folder holds a photo.
    """
    root = Path(root)
    items = image_folder_items(root) if root.is_dir() else []
    if not items:
        raise DatasetError(f"{root}: no photos in class sub-folders (expected {root}/<class>/*.jpg)")
    for path, label in items:
        name = f"{label}/{path.relative_to(root / label).as_posix()}"
        if names is not None and name not in names:
            continue
        yield Case(name=name, image=to_rgb_u8(load_image(path)), group=name,
                   meta={"label": label, "path": str(path)})


def probe_image_folder(path: Path, inv: Inventory) -> LayoutGuess | None:
    """An ImageFolder of at least two classes at ``path``, else None."""
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
    probe_readable(items[0][0], "ImageFolder")
    return LayoutGuess(NAME, TASK, len(items), tuple(warnings), path, None,
                       len(items), tuple(classes))


def _read_labelled(root: Path, split: str | None, names: Collection[str] | None) -> Iterator[Case]:
    return read_image_folder(root, names=names)


LAYOUT = register_layout(Layout(NAME, "ImageFolder (one sub-folder of photos per class)", EXPECTED, (TASK,),
                                "2d", probe_image_folder, _read_labelled, priority=90))
