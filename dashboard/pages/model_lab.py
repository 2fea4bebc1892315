"""Model lab: evaluate shipped models on a dataset folder, compare them and browse the cases worst-first.

The folder is checked against the allowed data roots and its layout recognised (core.lab); the
models run through the one evaluation engine that ``train.evaluate`` uses, batch by batch, and
each model's rows are cached on disk per (weights sha256, dataset fingerprint, settings).
"""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.datasets import DatasetError, get_layout
from core.evaluation import LabBatch, LabResult
from core.evaluation.stats import AGGREGATE_COLUMNS
from core.lab import (
    LayoutGuess,
    read_cases,
)
from core.tasks import get_task
from dashboard import cache, lab_inputs, lab_sections, widgets

KEY = lab_sections.KEY
LIVE_ROWS = 20  # rows of the live table while a run streams


def evaluate(models: dict[str, Any], guess: LayoutGuess, fingerprint: str, settings: dict[str, Any],
             batch: int, keys: dict[str, str | None]) -> LabResult:
    """The run: cached models are read back, the others stream with a progress bar and a live table."""
    lab = cache.lab_results()
    missing = [m for m, k in keys.items() if k is None or lab.load(k) is None]
    n = min(guess.n_cases, settings["limit"] or guess.n_cases)
    slot = st.empty()
    if missing and not slot.button(f"Evaluate {n} cases with {', '.join(missing)}", type="primary",
                                   key=f"{KEY}_run"):
        st.info(f"Not evaluated yet with these settings: {', '.join(missing)}. Press **Evaluate**; results "
                "are cached, so coming back later is instant.")
        st.stop()
    slot.empty()
    bar = st.progress(0.0, text="Starting...") if missing else None
    live, shown = st.empty(), []

    def progress(done: int, total: int | None) -> None:
        if bar is not None:
            bar.progress(min(1.0, done / (total or n)), text=f"Evaluated {done} of {total or n} cases")

    def on_batch(b: LabBatch) -> None:
        shown.extend({"model": m, **r} for m, rows in b.rows.items() for r in rows)
        live.dataframe(pd.DataFrame(shown[-LIVE_ROWS:]), hide_index=True, width="stretch")

    try:
        result = lab.collect(models, read_cases(guess), fingerprint=fingerprint, task=guess.task,
                             batch_size=batch, settings=settings, progress=progress, total=guess.n_cases,
                             on_batch=on_batch)
    except (DatasetError, ValueError, OSError) as exc:  # unreadable files mid-way, classes the model lacks
        st.error(f"The evaluation stopped after {len(shown)} rows: {lab_inputs.escape_md(str(exc))}")
        st.stop()
    live.empty()
    if bar is not None:
        bar.empty()
    return result


def summary_line(result: LabResult, keys: dict[str, str | None]) -> str:
    """Where the rows came from: the cache, a fresh run, or neither (no weights sha256)."""
    cached = result.meta.get("cached", [])
    fresh = [m for m in result.models if m not in cached]
    parts = []
    if cached:
        parts.append(f"read from the result cache: {', '.join(cached)}")
    if fresh:
        parts.append(f"evaluated now in {result.seconds:.1f} s: {', '.join(fresh)}")
    uncached = [m for m, k in keys.items() if k is None]
    if uncached:
        parts.append(f"not cached (no weights sha256 in the card): {', '.join(uncached)}")
    return "; ".join(parts)


st.title("Model lab")
widgets.research_note()
st.caption("Point the lab at a dataset folder, pick models, and get per-case scores, aggregates with "
           "bootstrap 95% confidence intervals, distributions, the worst cases first, paired "
           "comparisons and, for classifiers, calibration and ROC / precision-recall curves.")

guess, fingerprint = lab_inputs.choose_dataset()
st.markdown(f"**{get_layout(guess.layout).title}** · task `{guess.task}` · "
            f"**{guess.n_cases} cases** ({guess.n_labelled} labelled)"
            + (f" · split `{guess.split}`" if guess.split else "")
            + (f" · classes: {', '.join(guess.classes)}" if guess.classes else "")
            + f" · `{guess.root}`")
for note in guess.warnings:
    st.caption(f":material/info: {lab_inputs.escape_md(note)}")
kind, folders, cards = lab_inputs.choose_models(guess)
for row in get_task("face_screening").rows.values():  # a row's caveat wherever its outputs appear
    if row.warn and any(c.training.get("screen_task") == row.name for c in cards.values()):
        st.warning(row.caveat)
settings, batch = lab_inputs.choose_settings(kind, guess)
models = cache.lab_predictors(kind, folders)
keys = cache.lab_results().keys(models, fingerprint=fingerprint, task=guess.task, settings=settings)
result = evaluate(models, guess, fingerprint, settings, batch, keys)
st.caption(summary_line(result, keys))

csv_text, json_text = lab_sections.exports(result, keys)
widgets.download_row(f"{KEY}_dl", [("Per-case rows (CSV)", csv_text, "model_lab_rows.csv", "text/csv"),
                                   ("Rows, aggregates and settings (JSON)", json_text, "model_lab.json",
                                    "application/json")])

st.subheader("Aggregates")
table = lab_sections.aggregate_table(result, keys)
st.dataframe(table, hide_index=True, width="stretch", column_config={
    c: st.column_config.NumberColumn(c.replace("_", " ").replace("ci ", "95% CI "), format="%.4g")
    for c in AGGREGATE_COLUMNS if c not in ("metric", "n", "n_nan", "n_inf")})
st.caption("Mean, SD and median over the finite per-case values; 95% CI: percentile bootstrap of the mean "
           "(2000 resamples). n_nan: could not be computed (no pixel size, no ellipse); n_inf: HD95 with "
           "exactly one mask empty. Booleans (correct, present) are shares.")
for m in result.models:
    widgets.model_badge(m, cards[m])
lab_sections.set_figures(result)

st.subheader("Distributions")
lab_sections.distributions(result)

st.subheader("Cases, worst first")
name = lab_sections.worst_first_table(result, cards)
st.subheader("Case view")
lab_sections.case_view(result, guess, fingerprint, name, cards, folders)

if len(result.models) > 1:
    st.subheader("Paired comparison")
    lab_sections.paired(result, cards)
if result.kind == "classification":
    st.subheader("Classifier figures")
    lab_sections.classifier_figures(result, cards)
st.subheader("Training curves")
lab_sections.training_curves(folders)
