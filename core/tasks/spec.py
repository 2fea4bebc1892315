"""What a task is (:class:`TaskSpec`) and the registry that holds one per task.

A task module (``core/tasks/<name>.py``) builds its :class:`TaskSpec` and calls
:func:`register_task`; everything else (pages, ``train.*``, the model lab, the benchmark) asks
:func:`get_task` instead of keeping a table of its own.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from core import roots

KINDS = ("segmentation", "classification")


@dataclass(frozen=True)
class ScreeningRow:
    """One classifier family of a classification task (face screening: skin, syndrome, autism).

    Attributes:
        name: identifier; also the weights folder ``weights/<task>/<name>`` and the samples folder
            ``data_samples/<task samples>/<name>``.
        title: human name.
        labels: class names in output order.
        evidence_regions: class -> facial regions (``core.face.regions.REGION_NAMES``) that carry its
            evidence on the synthetic phantoms (the ground truth of the Grad-CAM pointing game);
            empty for the no-finding class.
        phantom_note: what the synthetic phantoms of this row are; a card trained on them records it
            as its caveat.
        caveat: what any model of this row must say wherever its output appears (recorded in the card
            of a model trained on real photos).
        warn: show :attr:`caveat` as a warning on every page that shows this row's outputs.
        needs_colour: its classes are told by colour (skin redness), so a greyscale photo cannot be
            screened.
    """

    name: str
    title: str
    labels: tuple[str, ...]
    evidence_regions: Mapping[str, tuple[str, ...]]
    phantom_note: str
    caveat: str
    warn: bool = False
    needs_colour: bool = False

    def __post_init__(self) -> None:
        if tuple(self.evidence_regions) != self.labels:
            raise ValueError(f"{self.name}: evidence_regions must list every label in order")
        object.__setattr__(self, "evidence_regions", MappingProxyType(dict(self.evidence_regions)))

    @property
    def no_finding(self) -> str:
        """The class with no drawn evidence: the no-condition answer (``healthy``, ``unaffected``,
        ``td_label``)."""
        return next(c for c, regions in self.evidence_regions.items() if not regions)


@dataclass(frozen=True)
class TaskSpec:
    """One analysis task.

    Attributes:
        name: identifier used in paths and on the command line.
        title: human name.
        kind: ``"segmentation"`` or ``"classification"``.
        labels: output channel / class names (for a task with :attr:`rows`, each row has its own).
        modality: imaging modality in words.
        layouts: dataset layouts (``core.datasets``) that hold labelled cases of this task; the first
            is the one its bundled samples are in. Empty: no dataset layout is read yet.
        models: model (weights folder) names shipped for it, default first.
        input: the preprocessing a new model card starts from.
        postprocess: the post-processing a new model card starts from.
        samples: folder name of the bundled samples under data_samples/ (default: ``name``).
        caveat: one line every page shows beside this task's outputs (empty: the general research
            note is enough).
        scorer: task-specific columns of a scored case row, ``(case, result) -> dict`` (fetal head:
            HC / BPD / OFD and the HC error), or None.
        rows: classifier families by name (face screening); :attr:`models` are their names.
    """

    name: str
    title: str
    kind: str
    labels: tuple[str, ...]
    modality: str
    layouts: tuple[str, ...]
    models: tuple[str, ...]
    input: dict[str, Any] = field(default_factory=dict)
    postprocess: dict[str, Any] = field(default_factory=dict)
    samples: str = ""
    caveat: str = ""
    scorer: Callable[..., dict[str, Any]] | None = None
    rows: Mapping[str, ScreeningRow] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}, not {self.kind!r}")
        if self.rows and tuple(self.rows) != self.models:
            raise ValueError(f"{self.name}: models must be the rows' names, in order")
        object.__setattr__(self, "rows", MappingProxyType(dict(self.rows)))

    @property
    def layout(self) -> str:
        """The layout of the bundled samples (the first of :attr:`layouts`); "" when none."""
        return self.layouts[0] if self.layouts else ""

    @property
    def default_model(self) -> str:
        """The model a page opens with."""
        return self.models[0]

    @property
    def evaluable(self) -> bool:
        """Whether ``python -m train.evaluate`` can score it: a segmentation task with a layout."""
        return self.kind == "segmentation" and bool(self.layouts)

    def weights_dir(self, model: str, root: Path | None = None) -> Path:
        """Folder of the shipped weights of ``model`` for this task."""
        return (root or roots.WEIGHTS_ROOT) / self.name / model

    def weights_dirs(self, root: Path | None = None) -> dict[str, Path]:
        """Model name -> folder, for every folder under ``weights/<task>/`` with a ``model.json``:
        :attr:`models` first in their order, then any other (a user's own) by name."""
        base = (root or roots.WEIGHTS_ROOT) / self.name
        found = sorted(d.name for d in base.glob("*") if (d / "model.json").is_file())
        return {m: base / m for m in [*(m for m in self.models if m in found),
                                      *(m for m in found if m not in self.models)]}

    @property
    def samples_dir(self) -> Path:
        """Folder of this task's bundled sample cases (in the real dataset's layout)."""
        return roots.SAMPLES_ROOT / (self.samples or self.name)

    def row(self, name: str) -> ScreeningRow:
        """The classifier family called ``name``; an unknown name lists the valid ones."""
        try:
            return self.rows[name]
        except KeyError:
            valid = ", ".join(self.rows) or "none"
            raise KeyError(f"unknown {self.name} row {name!r}; rows: {valid}") from None


_REGISTRY: dict[str, TaskSpec] = {}
TASKS: Mapping[str, TaskSpec] = MappingProxyType(_REGISTRY)  # read-only view, in registration order


def register_task(task: TaskSpec) -> TaskSpec:
    """Add ``task`` to the registry (once per name) and return it."""
    if task.name in _REGISTRY:
        raise ValueError(f"task {task.name!r} is registered already")
    _REGISTRY[task.name] = task
    return task


def get_task(name: str) -> TaskSpec:
    """The :class:`TaskSpec` called ``name``; an unknown name lists the valid ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; tasks: {', '.join(sorted(_REGISTRY))}") from None


def task_names(*, kind: str | None = None, evaluable: bool | None = None) -> list[str]:
    """Registered task names, sorted, optionally only of one ``kind`` or only (non-)evaluable ones."""
    return sorted(n for n, t in _REGISTRY.items()
                  if (kind is None or t.kind == kind) and (evaluable is None or t.evaluable == evaluable))
