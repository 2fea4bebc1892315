"""Evaluation: ONE case-row schema for the pages, the model lab and ``train.evaluate``.

* :mod:`core.evaluation.schema`: what a case scores (:func:`case_row`, a task's scorer adds its
  columns), set-level figures, summaries;
* :mod:`core.evaluation.engine`: the one engine, models x cases -> rows, streamed in batches;
* :mod:`core.evaluation.cache`: results on disk per (weights, dataset, settings), wrapping the
  engine; CSV / JSON exports;
* :mod:`core.evaluation.stats`: aggregates with bootstrap intervals, paired comparisons, worst-first.
"""
from __future__ import annotations

from core.evaluation.cache import LabCache, cache_key, canonical_json, from_json, to_csv, to_json
from core.evaluation.engine import (
    LabBatch,
    LabResult,
    ProbClassifier,
    collect,
    evaluate_segmentation,
    predict_stream,
    run_evaluation,
)
from core.evaluation.schema import Evaluation, Scorer, case_row, set_metrics, summarize_rows
from core.evaluation.stats import PairedComparison, aggregate, paired_comparison, worst_first

__all__ = ["Evaluation", "LabBatch", "LabCache", "LabResult", "PairedComparison", "ProbClassifier", "Scorer",
           "aggregate", "cache_key", "canonical_json", "case_row", "collect",
           "evaluate_segmentation", "from_json", "paired_comparison", "predict_stream", "run_evaluation",
           "set_metrics", "summarize_rows", "to_csv", "to_json", "worst_first"]
