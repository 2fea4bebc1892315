"""The one evaluation engine: models x cases -> per-case rows, streamed batch by batch.

``train.evaluate``, :func:`evaluate_segmentation` and the model lab page all run
through :func:`run_evaluation`, so a number means the same wherever it is shown. Cases are read
once and each batch goes through every model before the next is read; a page can show the first
rows while the rest run.

A model is a segmentation predictor (:class:`core.predict.Segmenter`: ``predict_batch``)
or a classification predictor (:class:`ProbClassifier`: ``labels`` + ``predict_proba``).
"""
from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core import metrics
from core.datasets import Case
from core.evaluation.schema import Evaluation, Scorer, case_row, set_metrics, summarize_rows
from core.evaluation.stats import aggregate, paired_comparison, worst_first
from core.tasks import get_task

__all__ = ["ENGINE_VERSION", "LabBatch", "LabResult", "ProbClassifier", "aggregate", "collect",
           "evaluate_segmentation", "paired_comparison", "predict_stream",
           "resolve_settings", "run_evaluation", "weights_sha256", "worst_first"]

ENGINE_VERSION = 1  # part of every cache key: bump when the rows' contents change
DEFAULTS = {
    "segmentation": {"threshold": None, "postprocess": {}, "task_columns": None, "limit": None},
    "classification": {"n_bins": 15, "limit": None},
}
Progress = Callable[[int, int | None], None]
OnBatch = Callable[["LabBatch"], None]


@dataclass(frozen=True)
class ProbClassifier:
    """A classifier as the lab sees it: images in, class probabilities out.

    Attributes:
        labels: class names in output order.
        predict_proba: ``images -> NxC`` float array whose rows sum to 1 (softmax outputs);
            images as the cases hold them (HxWx3 uint8 RGB photos for an ImageFolder).
        sha256: of the weights file, from the card; None makes the results uncacheable.
    """

    labels: tuple[str, ...]
    predict_proba: Callable[[Sequence[np.ndarray]], np.ndarray]
    sha256: str | None = None


def predictor_kind(predictor: Any) -> str:
    """``"classification"`` or ``"segmentation"``, from what the predictor can do."""
    if hasattr(predictor, "predict_proba") and hasattr(predictor, "labels"):
        return "classification"
    if hasattr(predictor, "predict_batch"):
        return "segmentation"
    raise TypeError(f"{type(predictor).__name__} is not a predictor: expected a Segmenter "
                    "(predict_batch) or a ProbClassifier (labels, predict_proba)")


def weights_sha256(predictor: Any) -> str | None:
    """The sha256 of a predictor's weights file, from its card; None when it has none."""
    card = getattr(predictor, "card", None)
    sha = card.weights.get("sha256") if card is not None else getattr(predictor, "sha256", None)
    return str(sha) if sha else None


def resolve_settings(settings: Mapping[str, Any] | None, *, kind: str, task: str | None) -> dict[str, Any]:
    """Every setting of a run, defaults filled in, so equal runs have equal settings (cache keys).

    Segmentation: ``threshold`` (None: each card's), ``postprocess`` (overrides of the cards'
    post-processing), ``task_columns`` (add the task's own columns, :attr:`TaskSpec.scorer`;
    default: True when the task has a scorer, i.e. ``fetal_head``), ``limit`` (first N cases).
    Classification: ``n_bins`` (calibration bins), ``limit``.
    """
    given = dict(settings or {})
    unknown = set(given) - set(DEFAULTS[kind])
    if unknown:
        raise ValueError(f"unknown {kind} settings {sorted(unknown)}; known: {', '.join(DEFAULTS[kind])}")
    out = {**DEFAULTS[kind], **given}
    if kind == "segmentation":
        has_scorer = task is not None and get_task(task).scorer is not None
        out["task_columns"] = has_scorer if out["task_columns"] is None else bool(out["task_columns"])
        out["threshold"] = None if out["threshold"] is None else float(out["threshold"])
        out["postprocess"] = dict(out["postprocess"] or {})
    if out["limit"] is not None and int(out["limit"]) < 1:
        raise ValueError(f"limit must be a positive number of cases, got {out['limit']}")
    return out


@dataclass(frozen=True)
class LabBatch:
    """One batch of a run: its cases, each model's rows and raw results, and the progress so far.

    ``results`` hold the predictions (masks, probabilities) of this batch only; keep what you
    show, the engine keeps nothing.
    """

    cases: tuple[Case, ...]
    rows: dict[str, list[dict[str, Any]]]
    results: dict[str, list[Any]]
    done: int
    total: int | None


@dataclass(frozen=True)
class LabResult:
    """A finished run: per-case rows per model and set-level figures per model."""

    task: str | None
    kind: str
    settings: dict[str, Any]
    rows: dict[str, list[dict[str, Any]]]
    set_metrics: dict[str, dict[str, Any]]
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def models(self) -> tuple[str, ...]:
        """The model names, in the order they were given."""
        return tuple(self.rows)

    def aggregate(self, model: str, metrics: Sequence[str] | None = None, **kw: Any) -> dict[str, list]:
        """:func:`core.evaluation.stats.aggregate` of one model's rows."""
        return aggregate(self.rows[model], metrics, **kw)


def _batches(cases: Iterable[Case], size: int) -> Iterator[list[Case]]:
    if size < 1:
        raise ValueError(f"batch_size must be >= 1, got {size}")
    it = iter(cases)
    while batch := list(itertools.islice(it, size)):
        yield batch


def model_view(case: Case, channels: int | None, context: int = 0) -> np.ndarray:
    """The image a segmenter of ``channels`` sequences reads of a case: a multi-sequence MRI slice
    (``meta["sequences"]`` naming its channels, as LGG kaggle_3m slices do) gives a one-channel
    model its FLAIR channel, the sequence such models are trained on, rather than a grey mix of
    the sequences; every other image as it is. A model of ``context`` (its card's
    ``context_slices``) gets the slice with that many neighbours on either side as channels, from
    the ones the volume reader kept (``meta["neighbours"]``, :func:`core.windowing.slice_input`).

    Raises:
        ValueError: a model with context and a case without (enough) neighbours.
    """
    from core.windowing import slice_input

    sequences = tuple(case.meta.get("sequences") or ())
    flair = channels == 1 and "FLAIR" in sequences and case.image.ndim == 3 \
        and case.image.shape[2] == len(sequences)
    view = (lambda im: im[..., sequences.index("FLAIR")]) if flair else (lambda im: im)  # noqa: E731
    if not context:
        return view(case.image)
    neighbours = case.meta.get("neighbours") or ()
    try:
        return slice_input(view(case.image), tuple(view(n) for n in neighbours), context)
    except ValueError as exc:
        raise ValueError(f"{case.name}: {exc} (a slice read from a volume keeps them)") from None


def _predict(predictor: Any, kind: str, batch: Sequence[Case], settings: Mapping[str, Any]) -> list[Any]:
    card = getattr(predictor, "card", None)
    channels = card.sequences if card is not None else getattr(predictor, "channels", None)
    context = card.context_slices if card is not None else 0
    images = [model_view(c, channels, context) for c in batch]
    if kind == "classification":
        probs = np.asarray(predictor.predict_proba(images), dtype=np.float64)
        if probs.shape != (len(batch), len(predictor.labels)):
            raise ValueError(f"predict_proba returned shape {probs.shape}, expected "
                             f"{(len(batch), len(predictor.labels))} (cases x classes)")
        return list(probs)
    return predictor.predict_batch(images, threshold=settings["threshold"],
                                   overrides=settings["postprocess"] or None)


def class_row(case: Case, probs: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Per-case classification figures; the truth is ``case.meta["label"]`` when present."""
    pred = int(np.argmax(probs))
    row: dict[str, Any] = {"name": case.name, "group": case.group}
    label = case.meta.get("label")
    if label is not None:
        if label not in labels:
            raise ValueError(f"case {case.name}: class {label!r} is not one of the model's classes "
                             f"({', '.join(labels)})")
        truth = list(labels).index(label)
        row.update(label=label, pred=labels[pred], correct=pred == truth, prob_true=float(probs[truth]))
    else:
        row["pred"] = labels[pred]
    row["confidence"] = float(probs[pred])
    row.update({f"p_{name}": float(p) for name, p in zip(labels, probs)})
    return row


def _row(kind: str, case: Case, result: Any, predictor: Any, scorer: Scorer | None) -> dict[str, Any]:
    if kind == "classification":
        return class_row(case, result, predictor.labels)
    return case_row(case, result, extra=scorer)


def models_kind(models: Mapping[str, Any]) -> str:
    """The kind shared by every model of a run; refuses none and a mix."""
    if not models:
        raise ValueError("no model to evaluate: pass at least one {name: predictor}")
    kinds = {predictor_kind(p) for p in models.values()}
    if len(kinds) > 1:
        raise ValueError("cannot evaluate segmentation and classification models in one run")
    return kinds.pop()


def run_evaluation(models: Mapping[str, Any], cases: Iterable[Case], *, task: str | None = None,
                   batch_size: int = 4, settings: Mapping[str, Any] | None = None,
                   progress: Progress | None = None, total: int | None = None) -> Iterator[LabBatch]:
    """Stream the evaluation of every model on every case, one :class:`LabBatch` at a time.

    Args:
        models: ``{name: predictor}``, all segmentation or all classification.
        cases: cases with ground truth (streamed: read once, a batch at a time).
        task: task name (its scorer adds the task's columns: see :func:`resolve_settings`).
        batch_size: cases per forward pass.
        settings: see :func:`resolve_settings`.
        progress: called as ``progress(done, total)`` after each batch; ``total`` is
            ``len(cases)`` when known (or the ``total`` argument, capped by ``limit``), else None.
        total: the number of cases when ``cases`` has no length.
    """
    kind = models_kind(models)
    s = resolve_settings(settings, kind=kind, task=task)
    scorer = get_task(task).scorer if task and kind == "segmentation" and s["task_columns"] else None
    total = len(cases) if isinstance(cases, Sized) else total
    if s["limit"] is not None:
        cases = itertools.islice(cases, int(s["limit"]))
        total = int(s["limit"]) if total is None else min(total, int(s["limit"]))
    done = 0
    for batch in _batches(cases, batch_size):
        rows, results = {}, {}
        for name, predictor in models.items():
            results[name] = _predict(predictor, kind, batch, s)
            rows[name] = [_row(kind, c, r, predictor, scorer) for c, r in zip(batch, results[name])]
        done += len(batch)
        if progress is not None:
            progress(done, total)
        yield LabBatch(tuple(batch), rows, results, done, total)


def evaluate_segmentation(
    segmenter: Any,
    cases: Iterable[Case],
    *,
    task: str | None = None,
    batch_size: int = 4,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> Evaluation:
    """Predict every case and score it against its ground truth (the lab engine, one model).

    Args:
        segmenter: the predictor (``predict_batch``: :class:`core.predict.Segmenter`).
        cases: cases to evaluate (streamed; masks may be None, then only the task's columns are scored).
        task: task name; its scorer adds the task's own columns (fetal head: HC / BPD / OFD in mm).
        batch_size: cases per forward pass.
        on_row: called with each row as soon as it is ready (progress bars, live tables).
    """
    rows: list[dict[str, Any]] = []
    for batch in run_evaluation({"model": segmenter}, cases, task=task, batch_size=batch_size):
        for row in batch.rows["model"]:
            rows.append(row)
            if on_row:
                on_row(row)
    return Evaluation(rows, summarize_rows(rows))



def predict_stream(predictor: Any, cases: Iterable[Case], *, batch_size: int = 4,
                   settings: Mapping[str, Any] | None = None) -> Iterator[tuple[Case, Any]]:
    """``(case, result)`` pairs of one model, predicted in batches (no scoring: unlabelled splits)."""
    kind = predictor_kind(predictor)
    s = resolve_settings(settings, kind=kind, task=None)
    for batch in _batches(cases, batch_size):
        yield from zip(batch, _predict(predictor, kind, batch, s))


def model_set_metrics(kind: str, rows: list[dict[str, Any]], labels: Sequence[str] = (),
                      n_bins: int = 15) -> dict[str, Any]:
    """Set-level figures of one model: :func:`core.evaluation.set_metrics` for segmentation,
    :func:`core.metrics.classification_report` for classification; {} without labelled rows."""
    if kind == "segmentation":
        return set_metrics(rows) if any("true_present" in r for r in rows) else {}
    labelled = [r for r in rows if "label" in r]
    if not labelled:
        return {}
    y = [list(labels).index(r["label"]) for r in labelled]
    probs = np.array([[r[f"p_{name}"] for name in labels] for r in labelled])
    return metrics.classification_report(y, probs, labels, n_bins=n_bins)


def collect(models: Mapping[str, Any], cases: Iterable[Case], *, task: str | None = None,
            batch_size: int = 4, settings: Mapping[str, Any] | None = None,
            progress: Progress | None = None, total: int | None = None,
            on_batch: OnBatch | None = None) -> LabResult:
    """Run :func:`run_evaluation` to the end and gather a :class:`LabResult` (same arguments;
    ``on_batch`` is called with each :class:`LabBatch` as it is done: live tables)."""
    kind = models_kind(models)
    s = resolve_settings(settings, kind=kind, task=task)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in models}
    t0 = time.perf_counter()
    for batch in run_evaluation(models, cases, task=task, batch_size=batch_size, settings=s,
                                progress=progress, total=total):
        for name, batch_rows in batch.rows.items():
            rows[name].extend(batch_rows)
        if on_batch is not None:
            on_batch(batch)
    seconds = time.perf_counter() - t0
    sets = {name: model_set_metrics(kind, rows[name], getattr(p, "labels", ()), s.get("n_bins", 15))
            for name, p in models.items()}
    meta = {"weights_sha256": {name: weights_sha256(p) for name, p in models.items()},
            "batch_size": batch_size, "engine": ENGINE_VERSION}
    return LabResult(task, kind, s, rows, sets, seconds, meta)
