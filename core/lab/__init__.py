"""The model lab: evaluate models on a dataset folder, aggregate, compare and cache the results.

* :mod:`core.lab.paths`: allowed data roots, path checks, dataset fingerprints;
* :mod:`core.lab.datasets`: layout detection (:mod:`core.datasets`) with the bundled samples;
* :mod:`core.lab.engine`: the one evaluation engine (also behind ``train.evaluate``);
* :mod:`core.lab.stats`: aggregates with bootstrap intervals (:func:`core.metrics.bootstrap_ci`),
  paired comparisons, worst-first;
* :mod:`core.lab.cache`: results cached per (weights, dataset, settings); CSV / JSON exports.
"""
from __future__ import annotations

from core.datasets import DatasetLayoutError, LayoutGuess, read_cases
from core.lab.cache import LabCache, cache_key, from_json, to_csv, to_json
from core.lab.datasets import detect_layout
from core.lab.engine import (
    LabBatch,
    LabResult,
    ProbClassifier,
    collect,
    engine_throughput,
    predict_stream,
    run_evaluation,
)
from core.lab.paths import DatasetPathError, allowed_roots, dataset_fingerprint, resolve_dataset_path
from core.lab.stats import PairedComparison, aggregate, paired_comparison, worst_first

__all__ = ["DatasetLayoutError", "DatasetPathError", "LabBatch", "LabCache", "LabResult", "LayoutGuess",
           "PairedComparison", "ProbClassifier", "aggregate", "allowed_roots", "cache_key",
           "collect", "dataset_fingerprint", "detect_layout", "engine_throughput", "from_json",
           "paired_comparison", "predict_stream", "read_cases", "resolve_dataset_path", "run_evaluation",
           "to_csv", "to_json", "worst_first"]
