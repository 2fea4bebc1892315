"""What a folder holds, in a few numbers: the "found" half of the layout detection messages."""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.datasets.base import IMAGE_SUFFIXES

MAX_FILES = 100_000  # stop counting here: a message needs the shape of a folder, not every file
_LISTED = 8
_COMPOUND = (".nii.gz",)  # suffixes counted whole: ".nii.gz", not ".gz"
_CHECKED = IMAGE_SUFFIXES | {".nii", ".nii.gz"}  # files whose readability is checked


@dataclass(frozen=True)
class Inventory:
    """Counts of a folder's files (hidden ones left out), walked recursively.

    Attributes:
        n_files: files counted (at most :data:`MAX_FILES`).
        by_suffix: lower-case suffix (``".nii.gz"`` counted whole; ``"(none)"`` without one) -> count.
        subfolders: top-level sub-folder name -> files below it.
        loose: files directly in the folder.
        unreadable: image (or NIfTI) files that cannot be read: 0 bytes, no read permission, or a
            dangling link.
        truncated: True when counting stopped at :data:`MAX_FILES`.
    """

    n_files: int
    by_suffix: dict[str, int]
    subfolders: dict[str, int]
    loose: int
    unreadable: tuple[Path, ...]
    truncated: bool

    def describe(self) -> str:
        """One sentence: ``found 14 files (.png: 12, .csv: 2); sub-folders: training_set/ (12 files)``."""
        if not self.n_files and not self.subfolders:
            return "found nothing (the folder is empty)"
        more = "+" if self.truncated else ""
        ranked = sorted(self.by_suffix.items(), key=lambda kv: (-kv[1], kv[0]))
        kinds = ", ".join(f"{k}: {v}" for k, v in ranked)
        text = f"found {self.n_files}{more} files" + (f" ({kinds})" if kinds else "")
        if self.subfolders:
            names = sorted(self.subfolders)
            shown = ", ".join(f"{n}/ ({self.subfolders[n]} files)" for n in names[:_LISTED])
            extra = f" and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
            text += f"; sub-folders: {shown}{extra}"
        else:
            text += "; no sub-folders"
        return text


def _unreadable(path: Path) -> bool:
    try:
        return path.stat().st_size == 0 or not os.access(path, os.R_OK)
    except OSError:
        return True


def _suffix(name: str) -> str:
    lower = name.lower()
    return next((s for s in _COMPOUND if lower.endswith(s)), Path(lower).suffix or "(none)")


def take_inventory(folder: Path) -> Inventory:
    """Walk ``folder`` (links to folders not followed) and count what is there."""
    by_suffix: Counter[str] = Counter()
    subfolders: Counter[str] = Counter()
    loose, n = 0, 0
    unreadable: list[Path] = []
    truncated = False
    try:
        with os.scandir(folder) as entries:
            subfolders.update({e.name: 0 for e in entries if e.is_dir() and not e.name.startswith(".")})
    except OSError as exc:
        raise PermissionError(f"{folder}: cannot list the folder ({exc.strerror})") from None
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = Path(dirpath).relative_to(folder).parts
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if n == MAX_FILES:
                truncated = True
                break
            n += 1
            suffix = _suffix(name)
            by_suffix[suffix] += 1
            if rel:
                subfolders[rel[0]] += 1
            else:
                loose += 1
            if suffix in _CHECKED and _unreadable(Path(dirpath) / name):
                unreadable.append(Path(dirpath) / name)
        if truncated:
            break
    return Inventory(n, dict(by_suffix), dict(subfolders), loose, tuple(unreadable), truncated)
