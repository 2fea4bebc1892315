"""Model lab: evaluate shipped models on a dataset folder, compare them and browse the cases worst-first.

The folder is checked against the allowed data roots and its layout recognised (core.lab); the
models run through the one evaluation engine that ``train.evaluate`` uses, batch by batch, and
each model's rows are cached on disk per (weights sha256, dataset fingerprint, settings).
"""
from __future__ import annotations

import re
from typing import Any

import pandas as pd
import streamlit as st

from core.datasets import DatasetError, get_layout, list_layouts
from core.evaluation import LabBatch, LabResult
from core.evaluation.stats import AGGREGATE_COLUMNS
from core.lab import (
    DatasetLayoutError,
    DatasetPathError,
    LayoutGuess,
    allowed_roots,
    dataset_fingerprint,
    detect_layout,
    input_channels,
    models_that_fit,
    read_cases,
    resolve_dataset_path,
)
from core.lab.paths import DATA_ROOT_ENV
from core.roots import PROJECT_ROOT
from core.tasks import TASKS, get_task
from core.weights import ModelCard
from dashboard import cache, lab_sections, widgets

KEY = "lab"
DEFAULT_PATH = "data_samples/fetal_head"
BATCH_SIZES = (1, 2, 4, 8, 16)
LIVE_ROWS = 20  # rows of the live table while a run streams


def escape_md(text: str) -> str:
    """Text shown verbatim in a Markdown element: paths and patterns like ``<class>/*.jpg``."""
    return re.sub(r"([\\`*_<>\[\]#|])", r"\\\1", text)


def choose_dataset() -> tuple[LayoutGuess, str]:
    """Sidebar folder input, validated; stops the page with the reason when it cannot be read."""
    roots = allowed_roots()
    bundled = ", ".join(f"`{t.samples_dir.relative_to(PROJECT_ROOT)}`" for t in TASKS.values()
                        if t.layout in list_layouts() and t.samples_dir.is_dir())  # the folders the lab reads
    layouts = "; ".join(get_layout(name).title for name in list_layouts())
    text = st.sidebar.text_input(
        "Dataset folder", DEFAULT_PATH, key=f"{KEY}_path",
        help=f"A folder inside an allowed data root, in one of the layouts: {layouts}. "
             f"Bundled: {bundled} (and `data_samples/face_screening/<task>`).")
    st.sidebar.caption("Allowed data roots: " + ", ".join(f"`{r}`" for r in roots)
                       + f". Add your own with the `{DATA_ROOT_ENV}` environment variable.")
    try:
        folder = resolve_dataset_path(text, roots)
        guess = detect_layout(folder)
        fingerprint = dataset_fingerprint(guess.root)
    except (DatasetPathError, DatasetLayoutError) as exc:
        st.error(escape_md(str(exc)))
        st.stop()
    return guess, fingerprint


def choose_models(guess: LayoutGuess) -> tuple[str, dict[str, str], dict[str, ModelCard]]:
    """The kind of the task and the picked models' weights folders and cards (stops without any)."""
    if guess.task == "face_screening":
        found = cache.lab_screening_cards()
        if not found:
            st.info("No face screening weights yet (`weights/face_screening/<task>/model.json`), so there is "
                    "no classifier to evaluate on this folder. Train one with `python -m train.classifier "
                    "--phantoms 1200 --screen-task skin`.")
            st.stop()
        fits = {t: fc for t, fc in found.items() if set(guess.classes) <= set(fc[1].labels)}
        for t in sorted(set(found) - set(fits)):
            st.caption(f"Not offered: the {t} screening model, whose classes "
                       f"({', '.join(found[t][1].labels)}) do not include all of the folder's.")
        if not fits:
            st.info(f"No screening model knows the folder's classes ({', '.join(guess.classes)}); the class "
                    "sub-folders must be named like a model's labels.")
            st.stop()
        kind, folders, cards = "classification", {t: f for t, (f, _) in fits.items()}, \
            {t: c for t, (_, c) in fits.items()}
    else:
        task = get_task(guess.task)
        cards = widgets.usable_models(task.name)
        if not cards:
            st.error(f"No {task.title.lower()} weights in `weights/{task.name}/`. Run `make weights`.")
            st.stop()
        channels = input_channels(guess)
        fits = models_that_fit(cards, channels)
        for name in cards.keys() - fits.keys():
            st.caption(f"Not offered: {name}, which reads {cards[name].in_channels} MRI sequences per "
                       f"slice; this folder's slices have {channels}.")
        cards = fits
        kind, folders = "segmentation", {m: str(task.weights_dir(m)) for m in cards}
    picked = st.sidebar.multiselect("Models", list(cards), default=list(cards)[:1],
                                    key=f"{KEY}_models_{guess.task}")  # one choice per task
    if not picked:
        st.info("Pick at least one model in the sidebar.")
        st.stop()
    return kind, {m: folders[m] for m in picked}, {m: cards[m] for m in picked}


def choose_settings(kind: str, guess: LayoutGuess) -> tuple[dict[str, Any], int]:
    """Run settings (the cache key's part) and the batch size (not part of it)."""
    with st.sidebar.expander("Settings"):
        limit = st.number_input("Cases (the first N; 0 = all)", min_value=0, value=0, step=10,
                                key=f"{KEY}_limit")
        batch = st.select_slider("Batch size", BATCH_SIZES, 1, key=f"{KEY}_batch",
                                 help="Cases per forward pass; does not change the results. On a small CPU "
                                      "1 is fastest (`python -m train.bench --task lab`); larger batches "
                                      "pay on machines with more cores or a GPU.")
        # The first N of all cases is all cases: one cache entry, whatever N was typed.
        settings: dict[str, Any] = {"limit": int(limit) if 0 < limit < guess.n_cases else None}
        if kind == "segmentation" and st.toggle("Override the cards' mask threshold", key=f"{KEY}_thr_on"):
            settings["threshold"] = st.slider("Mask threshold", 0.05, 0.95, 0.5, 0.05, key=f"{KEY}_thr")
    return settings, int(batch)


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
        st.error(f"The evaluation stopped after {len(shown)} rows: {escape_md(str(exc))}")
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

guess, fingerprint = choose_dataset()
st.markdown(f"**{get_layout(guess.layout).title}** · task `{guess.task}` · "
            f"**{guess.n_cases} cases** ({guess.n_labelled} labelled)"
            + (f" · split `{guess.split}`" if guess.split else "")
            + (f" · classes: {', '.join(guess.classes)}" if guess.classes else "")
            + f" · `{guess.root}`")
for note in guess.warnings:
    st.caption(f":material/info: {escape_md(note)}")
kind, folders, cards = choose_models(guess)
for row in get_task("face_screening").rows.values():  # a row's caveat wherever its outputs appear
    if row.warn and any(c.training.get("screen_task") == row.name for c in cards.values()):
        st.warning(row.caveat)
settings, batch = choose_settings(kind, guess)
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
name = lab_sections.worst_first_table(result)
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
