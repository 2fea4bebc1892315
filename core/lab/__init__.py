"""The model lab's own pieces: which folders it may read and how it sees the bundled samples.

* :mod:`core.lab.paths`: allowed data roots, path checks, dataset fingerprints;
* :mod:`core.lab.datasets`: layout detection (:mod:`core.datasets`) with the bundled samples;
* :mod:`core.lab.curves`: ROC and precision-recall curves of classifier rows;
* :mod:`core.lab.screening`: a face screening model as the engine's classifier.

Scoring, the engine, its cache and the statistics are :mod:`core.evaluation`, shared with
``train.evaluate`` and the pages.
"""
from __future__ import annotations

from core.datasets import DatasetLayoutError, LayoutGuess, read_cases
from core.lab.datasets import (
    detect_layout,
    input_channels,
    models_read_context,
    models_read_window,
    models_that_fit,
    slice_window,
)
from core.lab.paths import DatasetPathError, allowed_roots, dataset_fingerprint, resolve_dataset_path

__all__ = [
    "DatasetLayoutError",
    "DatasetPathError",
    "LayoutGuess",
    "allowed_roots",
    "dataset_fingerprint",
    "detect_layout",
    "input_channels",
    "models_read_context",
    "models_read_window",
    "models_that_fit",
    "read_cases",
    "resolve_dataset_path",
    "slice_window",
]
