"""Which dataset folders the model lab may read, and a cheap fingerprint of a folder's files.

The dashboard may be served to other people, so a folder typed in a page is read only when it
lies, after resolving ``..`` and symbolic links, under an allowed data root: the project's
``data_samples/`` and every folder named in the ``DATA_ROOT`` environment variable
(``os.pathsep``-separated, like ``PATH``).
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from core.datasets import DatasetError
from core.roots import PROJECT_ROOT, SAMPLES_ROOT

DATA_ROOT_ENV = "DATA_ROOT"
_MAX_LISTED = 5
MAX_PATH_CHARS = 1024  # longer text is no folder path anyone typed


class DatasetPathError(DatasetError):
    """A dataset path is outside the allowed data roots, missing, or not a folder."""


def allowed_roots(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The folders a dataset path must lie in: ``data_samples/`` then each ``DATA_ROOT`` entry.

    Args:
        environ: the environment to read ``DATA_ROOT`` from (default ``os.environ``).

    Returns:
        Resolved absolute paths (symbolic links followed), duplicates removed, in that order.
    """
    env = os.environ if environ is None else environ
    extra = [p.strip() for p in env.get(DATA_ROOT_ENV, "").split(os.pathsep) if p.strip()]
    roots: list[Path] = []
    for text in [str(SAMPLES_ROOT), *extra]:
        root = Path(text).expanduser().resolve()
        if root not in roots:
            roots.append(root)
    return roots


def _roots_text(roots: Sequence[Path]) -> str:
    return ", ".join(str(r) for r in roots) or "(none)"


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == r or path.is_relative_to(r) for r in roots)


def _candidates(text: str, roots: Sequence[Path]) -> list[Path]:
    """Absolute paths ``text`` may mean: itself, or (when relative) under each root or the project."""
    path = Path(text).expanduser()
    if path.is_absolute():
        return [path]
    return [base / path for base in (*roots, PROJECT_ROOT)]


def resolve_dataset_path(text: str | os.PathLike[str], roots: Sequence[Path] | None = None) -> Path:
    """Turn a typed folder path into a resolved folder inside the allowed data roots.

    A relative path is looked up under each root in turn (``nerve`` finds
    ``data_samples/nerve``), then under the project folder. ``..`` and symbolic links are
    resolved BEFORE the containment check, so neither can lead outside the roots; symbolic
    links inside the folder that point outside the roots are refused too.

    Args:
        text: the path as typed.
        roots: allowed roots (default :func:`allowed_roots`).

    Returns:
        The resolved absolute folder.

    Raises:
        DatasetPathError: empty text, a path outside the roots, a missing path, a file, or a
            folder holding links that lead outside the roots. The message names the roots.
    """
    roots = [Path(r).resolve() for r in (allowed_roots() if roots is None else roots)]
    where = f"allowed data roots: {_roots_text(roots)} (add folders with the {DATA_ROOT_ENV} " \
            f"environment variable, separated by '{os.pathsep}')"
    typed = str(text).strip()
    if not typed:
        raise DatasetPathError(f"type the path of a dataset folder; {where}")
    if "\x00" in typed:
        raise DatasetPathError(f"the path holds a NUL character; type a folder path; {where}")
    if len(typed) > MAX_PATH_CHARS:
        raise DatasetPathError(f"the path is {len(typed)} characters long (at most {MAX_PATH_CHARS}); "
                               f"type a folder path; {where}")
    try:
        resolved = [c.resolve() for c in _candidates(typed, roots)]
        inside = [p for p in resolved if _inside(p, roots)]
        if not inside:
            raise DatasetPathError(f"{typed}: refused, the folder is outside the {where}")
        path = next((p for p in inside if p.exists()), None)
    except RuntimeError:  # Path.expanduser: "~name" of a user this machine does not know
        raise DatasetPathError(f"{typed}: no such user for '~'; type the folder's full path; "
                               f"{where}") from None
    except OSError as exc:  # a name too long for the file system, a loop of links
        raise DatasetPathError(f"{typed[:80]}: not a usable folder path ({exc.strerror or exc}); "
                               f"{where}") from None
    if path is None:
        raise DatasetPathError(f"{text}: no such folder ({inside[0]}); {where}")
    if not path.is_dir():
        raise DatasetPathError(f"{text}: {path.name} is a file; choose the dataset FOLDER that "
                               f"holds it ({path.parent})")
    escaping = list(_escaping_links(path, roots))
    if escaping:
        shown = ", ".join(str(p.relative_to(path)) for p in escaping[:_MAX_LISTED])
        raise DatasetPathError(f"{text}: refused, {len(escaping)} symbolic link(s) inside lead outside "
                               f"the {where}: {shown}")
    return path


def _escaping_links(folder: Path, roots: Sequence[Path]) -> Iterator[Path]:
    """Symbolic links under ``folder`` (not followed) whose targets resolve outside ``roots``."""
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in (*dirnames, *filenames):
            entry = Path(dirpath) / name
            if entry.is_symlink() and not _inside(entry.resolve(), roots):
                yield entry


def dataset_fingerprint(path: str | os.PathLike[str]) -> str:
    """sha256 over the sorted relative paths, sizes and modification times of a folder's files.

    Cheap (no file is read): enough to tell that a dataset was changed, added to or replaced,
    for caching results. Hidden files and folders (``.name``) are left out.

    Returns:
        64 hex digits.
    """
    root = Path(path)
    if not root.is_dir():
        raise DatasetPathError(f"{root}: not a folder")
    entries: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith("."):
                continue
            p = Path(dirpath) / name
            try:
                st = p.stat()
            except OSError:  # a dangling link: its name still counts
                entries.append(f"{p.relative_to(root).as_posix()}\t-1\t-1")
                continue
            entries.append(f"{p.relative_to(root).as_posix()}\t{st.st_size}\t{st.st_mtime_ns}")
    digest = hashlib.sha256()
    for line in sorted(entries):
        digest.update(line.encode("utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()
