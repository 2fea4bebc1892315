"""The model lab's sidebar inputs: the dataset folder (checked against the allowed roots, its layout
recognised), the models that fit it, and the run's settings. Each stops the page with the reason
when there is nothing it can offer."""
from __future__ import annotations

import re
from typing import Any

import streamlit as st

from core.datasets import get_layout, list_layouts
from core.lab import (
    DatasetLayoutError,
    DatasetPathError,
    LayoutGuess,
    allowed_roots,
    dataset_fingerprint,
    detect_layout,
    input_channels,
    models_read_context,
    models_read_window,
    models_that_fit,
    resolve_dataset_path,
    slice_window,
)
from core.lab.paths import DATA_ROOT_ENV
from core.roots import PROJECT_ROOT
from core.tasks import TASKS, get_task
from core.weights import ModelCard
from dashboard import cache, widgets
from dashboard.lab_sections import KEY

DEFAULT_PATH = "data_samples/fetal_head"
BATCH_SIZES = (1, 2, 4, 8, 16)


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
        window = slice_window(guess)
        same = models_read_window(fits, window)
        for name in fits.keys() - same.keys():
            st.caption(f"Not offered: {name}, which reads volumes through the "
                       f"`{fits[name].window}` window; this folder's "
                       f"slices are cut from volumes put through `{window}`.")
        if window:
            st.caption(f"Each volume (patient) is put on one intensity scale before its slices are scored "
                       f"(`{window}` window, as the brain models' cards read volumes).")
        cards = models_read_context(same, guess)
        for name in same.keys() - cards.keys():
            st.caption(f"Not offered: {name}, which reads {same[name].context_slices} neighbouring slices on "
                       "either side of each; this folder's slices do not come with them.")
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
