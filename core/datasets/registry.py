"""The one registry of dataset folder layouts: what each expects, how to recognise it, how to read it.

A layout module (``core/datasets/hc18.py``, ...) describes itself with a :class:`Layout` and calls
:func:`register_layout` when imported; ``core/datasets/__init__.py`` imports every layout module,
so importing :mod:`core.datasets` gives the complete registry. Adding a layout is one module plus
one import line there.

:func:`detect_layout` asks the layouts' probes in turn (ascending ``priority``, then registration
order) which one a folder holds; :func:`read_cases` and :func:`read_labelled` read its labelled
cases through the layout's reader. Nothing here dispatches on a layout name by hand.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.datasets.base import Case, DatasetError, DatasetLayoutError
from core.datasets.inventory import Inventory, take_inventory

KINDS = ("2d", "volume")


class UnknownLayoutError(DatasetError, KeyError):
    """A layout name that is not registered; the message lists the registered names.

    Both a :class:`DatasetError` (what readers of a dataset catch) and a :class:`KeyError` (a
    registry lookup that failed).
    """

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class LayoutGuess:
    """What :func:`detect_layout` recognised.

    Attributes:
        layout: the registered layout name (``"hc18"``, ``"kaggle_nerve"``, ...).
        task: the task it serves (``"fetal_head"``, ``"nerve"``, ``"face_screening"``, ...).
        n_cases: cases :func:`read_cases` yields (the labelled split: ``training_set``, ``train``;
            for ``nifti_pairs`` the axial slices of the labelled volumes).
        warnings: things to tell the user (frames without labels, unscored splits, ...).
        root: the folder the reader reads (the dataset root, or ``gallery/`` of a bundled sample).
        split: the split read (``"training_set"``, ``"train"``, ``"Tr"``) or None for an ImageFolder.
        n_labelled: cases with a ground truth (mask or class).
        classes: class names of an ImageFolder, in class-index order (sorted).
        bundled: True for the project's own ``data_samples/`` (set by the model lab).
    """

    layout: str
    task: str
    n_cases: int
    warnings: tuple[str, ...]
    root: Path
    split: str | None = None
    n_labelled: int = 0
    classes: tuple[str, ...] = ()
    bundled: bool = False


Probe = Callable[[Path, Inventory], "LayoutGuess | None"]
Reader = Callable[[Path, "str | None", "Collection[str] | None"], Iterator[Case]]


@dataclass(frozen=True)
class Layout:
    """A dataset folder layout, as registered.

    Attributes:
        name: registry name, e.g. ``"hc18"``: what a task's ``layout`` names.
        title: for people, e.g. ``"HC18 (fetal head)"``.
        expected: what a folder in this layout holds, in one sentence (listed when a folder
            holds no recognised layout).
        tasks: the tasks whose cases it holds; the first is the one detection reports.
        kind: ``"2d"`` (a folder of images) or ``"volume"`` (3-D volumes; its reader may still
            yield 2-D slices, as ``nifti_pairs`` does).
        probe: ``probe(folder, inventory)``: a :class:`LayoutGuess` when the resolved ``folder``
            holds this layout, None when it does not; raises :class:`DatasetLayoutError` when it
            does but cannot be scored (no labels, unreadable files).
        read: ``read(root, split, names)``: the labelled cases under ``root`` in the reader's
            order; ``split`` None means the layout's labelled split, ``names`` (None: all) the
            case names to read.
        priority: probes run in ascending priority, then in registration order. A catch-all
            (``image_folder`` matches any folder of class sub-folders) takes a high number, so
            the specific layouts are tried first.
    """

    name: str
    title: str
    expected: str
    tasks: tuple[str, ...]
    kind: str
    probe: Probe
    read: Reader
    priority: int = 50

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"layout {self.name!r}: kind must be one of {', '.join(KINDS)}, "
                             f"got {self.kind!r}")
        if not self.tasks:
            raise ValueError(f"layout {self.name!r}: name at least one task")


_REGISTRY: dict[str, Layout] = {}


def register_layout(layout: Layout) -> Layout:
    """Add ``layout`` to the registry and return it.

    Raises:
        ValueError: a layout of that name is already registered.
    """
    if layout.name in _REGISTRY:
        raise ValueError(f"layout {layout.name!r} is already registered")
    _REGISTRY[layout.name] = layout
    return layout


def unregister_layout(name: str) -> Layout:
    """Remove a layout from the registry (a test's temporary layout) and return it.

    Raises:
        UnknownLayoutError: listing the valid names.
    """
    layout = get_layout(name)
    del _REGISTRY[name]
    return layout


def get_layout(name: str) -> Layout:
    """The :class:`Layout` registered as ``name``.

    Raises:
        UnknownLayoutError: listing the valid names.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(list_layouts()) or "(none)"
        raise UnknownLayoutError(f"unknown layout {name!r}; registered layouts: {valid}") from None


def list_layouts(*, kind: str | None = None, task: str | None = None) -> list[str]:
    """Registered layout names in name order, optionally only those of one ``kind`` or ``task``."""
    return sorted(n for n, lay in _REGISTRY.items()
                  if (kind is None or lay.kind == kind) and (task is None or task in lay.tasks))


def _probe_order() -> list[Layout]:
    return sorted(_REGISTRY.values(), key=lambda lay: lay.priority)  # stable: registration order next


def expected_text(also: Sequence[str] = ()) -> str:
    """``expected one of:`` and one line per layout (probe order), then the ``also`` lines."""
    return "expected one of:\n" + "\n".join(f"  - {v}" for v in
                                             [lay.expected for lay in _probe_order()] + list(also))


def detect_layout(path: str | Path, *, also_expected: Sequence[str] = ()) -> LayoutGuess:
    """Recognise the dataset layout of a folder.

    Args:
        path: the folder (check a typed path with ``core.lab.paths.resolve_dataset_path`` first).
        also_expected: further lines for the list of what is expected (the model lab's bundled
            samples), shown when nothing is recognised.

    Raises:
        DatasetLayoutError: the folder is empty, holds no recognised layout, holds files that
            cannot be read, or holds a layout without any label. The message says what was
            found (files by suffix, sub-folders) and what each layout expects.
    """
    folder = Path(path).resolve()
    if not folder.is_dir():
        raise DatasetLayoutError(f"{folder}: not a folder")
    try:
        inv = take_inventory(folder)
    except PermissionError as exc:
        raise DatasetLayoutError(str(exc)) from None
    if inv.n_files == 0:
        raise DatasetLayoutError(f"{folder}: the folder is empty ({inv.describe()}); "
                                 f"{expected_text(also_expected)}")
    if inv.unreadable:
        shown = ", ".join(str(p.relative_to(folder)) for p in inv.unreadable[:5])
        raise DatasetLayoutError(f"{folder}: {len(inv.unreadable)} image file(s) cannot be read (empty, "
                                 f"no permission or a broken link): {shown}; {inv.describe()}")
    for layout in _probe_order():
        guess = layout.probe(folder, inv)
        if guess is not None:
            return guess
    raise DatasetLayoutError(f"{folder}: no dataset layout recognised; {inv.describe()}; "
                             f"{expected_text(also_expected)}")


def probe_layout(name: str, path: str | Path) -> LayoutGuess | None:
    """Ask one layout's probe whether a folder holds it (a task with several layouts reading ``--data``).

    Args:
        name: a registered layout name.
        path: the folder.

    Returns:
        The probe's guess, or None when ``path`` is not a folder or not in this layout.

    Raises:
        UnknownLayoutError: ``name`` is not registered.
        DatasetLayoutError: the folder is in this layout but cannot be scored (the probe's own error).
    """
    layout = get_layout(name)
    folder = Path(path).resolve()
    if not folder.is_dir():
        return None
    try:
        inv = take_inventory(folder)
    except PermissionError as exc:
        raise DatasetLayoutError(str(exc)) from None
    return layout.probe(folder, inv)


def read_cases(guess: LayoutGuess, names: Collection[str] | None = None) -> Iterator[Case]:
    """The cases of a detected dataset, in the reader's order.

    Args:
        guess: what :func:`detect_layout` found.
        names: read only the cases with these names (a page opening one case); None reads all.
            For ``nifti_pairs`` (slices ``NAME_z007``) only the volumes they belong to are decoded.
    """
    return get_layout(guess.layout).read(guess.root, guess.split, names)


def read_labelled(layout: str, root: str | Path) -> Iterator[Case]:
    """The labelled cases of a dataset folder in ``layout`` (a task's ``layout``).

    Raises:
        UnknownLayoutError: ``layout`` is not registered (a :class:`DatasetError`).
    """
    return get_layout(layout).read(Path(root), None, None)
