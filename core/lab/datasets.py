"""The model lab's way into a dataset folder: :mod:`core.datasets` detection plus the bundled samples.

Layouts are recognised and read by :mod:`core.datasets` (one module per layout, one registry);
this module adds what only the lab knows: the project's own ``data_samples/`` folders
(``data_samples/fetal_head``, ``data_samples/nerve``, ``data_samples/brain_mri`` and
``data_samples/face_screening/<task>``, whose ``gallery/`` is an ImageFolder), flagged as bundled.
``nifti_pairs`` volumes are read as 2-D axial slices ``NAME_z007``: the slice model is scored slice
by slice here, per volume by ``python -m train.evaluate --task brain_tumor``.

Paths are checked by :func:`core.lab.paths.resolve_dataset_path` first.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from core.datasets import LayoutGuess, get_layout
from core.datasets import detect_layout as detect_dataset_layout
from core.roots import SAMPLES_ROOT
from core.weights import ModelCard

# Layouts whose cases are multi-sequence MRI slices (HxWxN, ``meta["sequences"]``): N per layout.
SEQUENCES_PER_SLICE = {"kaggle_3m": 3}

SAMPLES_EXPECTED = ("a bundled sample folder: data_samples/fetal_head, data_samples/nerve, "
                    "data_samples/brain_mri or data_samples/face_screening/<task>")


def _bundled_root(path: Path) -> tuple[Path, str | None]:
    """The folder to read for a bundled sample path, and a note when it is not ``path`` itself."""
    samples = SAMPLES_ROOT.resolve()
    if not path.is_relative_to(samples):
        return path, None
    parts = path.relative_to(samples).parts
    if len(parts) == 2 and parts[0] == "face_screening" and (path / "gallery").is_dir():
        return path / "gallery", ("bundled sample: the gallery/ photos are evaluated (cases/ holds one "
                                  "held-out phantom per class with its evidence mask)")
    return path, None


def detect_layout(path: str | Path) -> LayoutGuess:
    """Recognise the dataset layout of a folder, a bundled sample folder included.

    Args:
        path: the folder (check it with ``resolve_dataset_path`` first).

    Returns:
        :func:`core.datasets.detect_layout`'s guess, with ``bundled`` set for ``data_samples/``
        and a first warning when a bundled sample is read from a sub-folder.

    Raises:
        DatasetLayoutError: as :func:`core.datasets.detect_layout`; the list of what is expected
            also names the bundled sample folders.
    """
    folder = Path(path).resolve()
    if folder.is_dir():
        folder, note = _bundled_root(folder)
    else:
        note = None  # core.datasets.detect_layout says it is not a folder
    guess = detect_dataset_layout(folder, also_expected=(SAMPLES_EXPECTED,))
    warnings = (note, *guess.warnings) if note else guess.warnings
    return replace(guess, warnings=warnings, bundled=folder.is_relative_to(SAMPLES_ROOT.resolve()))


def input_channels(guess: LayoutGuess) -> int:
    """How many channels a model may read of this folder's cases: the MRI sequences of a slice
    (3 for LGG kaggle_3m), else 1 (a one-channel model greys a colour image itself)."""
    return SEQUENCES_PER_SLICE.get(guess.layout, 1)


def models_that_fit(cards: Mapping[str, ModelCard], channels: int) -> dict[str, ModelCard]:
    """The models an input of ``channels`` channels can feed, most input channels first (the one
    that uses most of the input leads): a 3-sequence model needs the three sequences, a one-channel
    model reads any input."""
    fits = {name: card for name, card in cards.items() if card.sequences <= channels}
    return dict(sorted(fits.items(), key=lambda item: -item[1].sequences))


def slice_window(guess: LayoutGuess) -> str | None:
    """The window a volume layout's reader puts each volume through before cutting it into slices
    (:data:`core.windowing.VOLUME_WINDOW`, the brain task's), or None for a layout of plain images."""
    if get_layout(guess.layout).kind != "volume":
        return None
    from core.windowing import VOLUME_WINDOW

    return VOLUME_WINDOW


def models_read_window(cards: Mapping[str, ModelCard], window: str | None) -> dict[str, ModelCard]:
    """The models that read volumes through ``window`` (all of them for None): a model of another
    window would be scored on slices scaled unlike the ones it learnt."""
    return {n: c for n, c in cards.items() if window is None or c.window == window}


def models_read_context(cards: Mapping[str, ModelCard], guess: LayoutGuess) -> dict[str, ModelCard]:
    """The models whose neighbouring slices (their ``context_slices``) this folder's cases bring: a
    volume layout's reader keeps :data:`core.windowing.NEIGHBOURS_KEPT` on either side of each slice,
    a folder of plain images none."""
    from core.windowing import NEIGHBOURS_KEPT

    reach = NEIGHBOURS_KEPT if slice_window(guess) else 0  # a volume layout's reader cut the slices
    return {n: c for n, c in cards.items() if c.context_slices <= reach}
