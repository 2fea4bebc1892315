"""Cached lab results, keyed by what determines them, and CSV / JSON exports of a result.

One entry per model run: the key is the sha256 of the canonical JSON of (weights sha256 from
the card, dataset fingerprint, resolved settings, task, engine version), so revisiting a dataset
with a model is instant and any change to the weights, the files or a setting is a miss. Entries
are ``<root>/<key[:2]>/<key>/result.json`` (what is read back) and ``rows.csv`` (for people),
written atomically so that concurrent sessions never read half a file.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from core.datasets import Case
from core.evaluation.engine import (
    ENGINE_VERSION,
    LabResult,
    OnBatch,
    Progress,
    collect,
    models_kind,
    resolve_settings,
    weights_sha256,
)
from core.evaluation.stats import aggregate
from core.roots import PROJECT_ROOT

log = logging.getLogger(__name__)
CACHE_ENV = "MEDIMG_LAB_CACHE"
DEFAULT_CACHE = PROJECT_ROOT / "runs" / "lab_cache"


def _plain(value: Any) -> Any:
    """JSON fallback: numpy scalars and arrays as Python values, anything else as text."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces: equal objects give equal text (and equal cache keys)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_plain)


def cache_key(sha256: str, fingerprint: str, settings: Mapping[str, Any], *, task: str | None,
              kind: str) -> str:
    """64 hex digits identifying one model's run on one dataset with one set of settings."""
    payload = {"engine": ENGINE_VERSION, "weights_sha256": sha256, "dataset": fingerprint,
               "settings": dict(settings), "task": task, "kind": kind}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)


def rows_csv(rows: Iterable[Mapping[str, Any]], lead: Mapping[str, Any] | None = None) -> str:
    """CSV text of dict rows with the union of their keys (first-seen order), ``lead`` columns first."""
    rows = [{**(lead or {}), **r} for r in rows]
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(keys), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


class LabCache:
    """Lab results on disk (default ``runs/lab_cache/``, or the ``MEDIMG_LAB_CACHE`` folder)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root or os.environ.get(CACHE_ENV) or DEFAULT_CACHE)

    def path(self, key: str) -> Path:
        """The folder of one entry."""
        return self.root / key[:2] / key

    def load(self, key: str) -> dict[str, Any] | None:
        """The stored entry (``rows``, ``set_metrics``, ``seconds``, ...) or None on a miss."""
        path = self.path(key) / "result.json"
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            log.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None
        return entry if entry.get("key") == key else None

    def store(self, key: str, entry: Mapping[str, Any]) -> Path:
        """Write one entry (JSON to read back, CSV for people); returns its folder."""
        folder = self.path(key)
        _write_atomic(folder / "rows.csv", rows_csv(entry["rows"]))
        _write_atomic(folder / "result.json", json.dumps({**entry, "key": key}, default=_plain) + "\n")
        return folder

    def keys(self, models: Mapping[str, Any], *, fingerprint: str, task: str | None = None,
             settings: Mapping[str, Any] | None = None) -> dict[str, str | None]:
        """Each model's cache key (None for a model without a weights sha256: never cached)."""
        kind = models_kind(models)
        s = resolve_settings(settings, kind=kind, task=task)
        return {name: (cache_key(sha, fingerprint, s, task=task, kind=kind) if (sha := weights_sha256(p))
                       else None) for name, p in models.items()}

    def lookup(self, models: Mapping[str, Any], *, fingerprint: str, task: str | None = None,
               settings: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """The stored entries of the models that hit; a streaming page runs only the others."""
        keys = self.keys(models, fingerprint=fingerprint, task=task, settings=settings)
        return {name: e for name, k in keys.items() if k and (e := self.load(k)) is not None}

    def save(self, result: LabResult, models: Mapping[str, Any], *, fingerprint: str) -> list[Path]:
        """Store each model of a finished run (those with a weights sha256); returns the folders."""
        keys = self.keys(models, fingerprint=fingerprint, task=result.task, settings=result.settings)
        return [self.store(key, {"engine": ENGINE_VERSION, "task": result.task, "kind": result.kind,
                                 "settings": result.settings, "dataset": fingerprint,
                                 "weights_sha256": weights_sha256(models[name]), "rows": result.rows[name],
                                 "set_metrics": result.set_metrics[name], "seconds": result.seconds})
                for name, key in keys.items() if key and name in result.rows]

    def collect(self, models: Mapping[str, Any], cases: Iterable[Case], *, fingerprint: str,
                task: str | None = None, batch_size: int = 4, settings: Mapping[str, Any] | None = None,
                progress: Progress | None = None, total: int | None = None,
                on_batch: OnBatch | None = None) -> LabResult:
        """:func:`core.evaluation.engine.collect` that reads each model's rows from the cache when it can,
        runs only the models it misses (cases are not read at all when every model hits), and
        stores what it ran. Models without a weights sha256 are run every time. ``on_batch``
        sees the batches of the models that run (none on a full hit).

        ``meta["cached"]`` lists the models read from the cache.
        """
        s = resolve_settings(settings, kind=models_kind(models), task=task)
        hits = self.lookup(models, fingerprint=fingerprint, task=task, settings=s)
        todo = {name: p for name, p in models.items() if name not in hits}
        ran = None
        if todo:
            ran = collect(todo, cases, task=task, batch_size=batch_size, settings=s, progress=progress,
                          total=total, on_batch=on_batch)
            self.save(ran, todo, fingerprint=fingerprint)
        elif progress is not None:
            n = len(next(iter(hits.values()))["rows"])
            progress(n, n)
        rows = {n: hits[n]["rows"] if n in hits else ran.rows[n] for n in models}
        sets = {n: hits[n]["set_metrics"] if n in hits else ran.set_metrics[n] for n in models}
        meta = {"weights_sha256": {n: weights_sha256(p) for n, p in models.items()},
                "dataset": fingerprint, "cached": [n for n in models if n in hits],
                "batch_size": batch_size, "engine": ENGINE_VERSION}
        return LabResult(task, models_kind(models), s, rows, sets, ran.seconds if ran else 0.0, meta)


def to_csv(result: LabResult) -> str:
    """Every model's per-case rows as one CSV (a leading ``model`` column)."""
    rows = [{"model": m, **r} for m in result.models for r in result.rows[m]]
    return rows_csv(rows) if rows else ""


def to_json(result: LabResult, *, aggregates: bool = True) -> str:
    """The whole result as JSON: settings, per model its rows, set figures and (by default) the
    aggregate table. NaN and infinity are written as ``NaN`` / ``Infinity`` (Python's json), as
    in ``train.evaluate``'s ``summary.json``."""
    models = {m: {"rows": result.rows[m], "set_metrics": result.set_metrics[m],
                  **({"aggregate": aggregate(result.rows[m])} if aggregates else {})} for m in result.models}
    doc = {"task": result.task, "kind": result.kind, "settings": result.settings, "seconds": result.seconds,
           "meta": result.meta, "models": models}
    return json.dumps(doc, indent=1, default=_plain) + "\n"


def from_json(text: str) -> LabResult:
    """A :class:`LabResult` back from :func:`to_json` text."""
    doc = json.loads(text)
    models = doc["models"]
    return LabResult(doc["task"], doc["kind"], doc["settings"], {m: v["rows"] for m, v in models.items()},
                     {m: v["set_metrics"] for m, v in models.items()}, doc.get("seconds", 0.0),
                     doc.get("meta", {}))
