"""Sections of the model lab page, each drawing one part of a finished :class:`LabResult`."""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core.evaluation import LabResult, aggregate, paired_comparison, to_csv, to_json, worst_first
from core.evaluation.cache import canonical_json
from core.evaluation.stats import metric_values, numeric_metrics
from core.lab import LayoutGuess
from core.lab.curves import pr_curves, roc_curves
from core.lab.screening import faceless
from core.overlay import COLORS, OUTLINE_COLORS, error_overlay, outlines_overlay, overlay_mask
from core.weights import ModelCard
from dashboard import cache, lab_charts, widgets
from dashboard.png import png

KEY = "lab"
CLASS_METRICS = ("correct", "prob_true", "confidence")
DEFAULT_METRIC = {"segmentation": "dice", "classification": "prob_true"}
DISTRIBUTION_DEFAULTS = ("dice", "hd95_mm", "hc_abs_diff_mm", "presence_prob", "prob_true", "confidence")
COLOR_NAMES = ("orange", "sky blue", "bluish green", "yellow", "blue", "vermilion", "pink", "white")


def metric_options(result: LabResult) -> list[str]:
    """The per-case metrics of a result: float and boolean columns (segmentation, plus whether the
    presence call is right) or the classifier's correctness and probabilities."""
    if result.kind == "classification":
        return list(CLASS_METRICS)
    seen: dict[str, None] = {}
    for m in result.models:
        seen.update(dict.fromkeys(numeric_metrics(result.rows[m])))
    if any("true_present" in r for m in result.models for r in result.rows[m]):
        seen["presence_correct"] = None
    return list(seen)


def _index(options: list[str], preferred: str) -> int:
    return options.index(preferred) if preferred in options else 0


def exports(result: LabResult, keys: Mapping[str, str | None]) -> tuple[str, str]:
    """CSV and JSON downloads, cached when every model's run has a cache key."""
    if all(keys.values()):
        return cache.lab_exports("|".join(str(k) for k in keys.values()), result)
    return to_csv(result), to_json(result)


def aggregate_table(result: LabResult, keys: Mapping[str, str | None]) -> pd.DataFrame:
    """Mean, SD, median and bootstrap 95% CI of every metric, one row per (model, metric)."""
    metrics = tuple(metric_options(result))
    frames = []
    for m in result.models:
        key = keys.get(m)
        table = (cache.lab_aggregate(key, result.rows[m], metrics) if key
                 else aggregate(result.rows[m], list(metrics)))
        frames.append(pd.DataFrame(table).assign(model=m))
    out = pd.concat(frames, ignore_index=True)
    return out[["model", *[c for c in out.columns if c != "model"]]]


def _flat(figures: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in figures.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = float(v)
        elif isinstance(v, Mapping):
            out.update({f"{k} {k2}": float(v2) for k2, v2 in v.items()
                        if isinstance(v2, (int, float)) and not isinstance(v2, bool)})
    return out


def set_figures(result: LabResult) -> None:
    """Set-level figures per model (pooled pixels, presence, accuracy, ECE, top-k)."""
    flat = {m: _flat(result.set_metrics[m]) for m in result.models if result.set_metrics[m]}
    if flat:
        with st.expander("Set-level figures (pooled over the whole set)"):
            st.dataframe(pd.DataFrame.from_dict(flat, orient="index"), width="stretch")
    calibrated = [m for m in result.models if "presence_reliability" in (result.set_metrics[m] or {})]
    if calibrated:
        st.markdown("**Presence calibration**: of the frames given a \"structure present\" probability "
                    "in each bin, the share that truly hold it (on the diagonal: calibrated)")
        cols = st.columns(min(len(calibrated), 2))
        for i, m in enumerate(calibrated):
            report = result.set_metrics[m]
            cols[i % len(cols)].plotly_chart(lab_charts.reliability(
                report["presence_reliability"], report["presence_ece"], f"{m}: presence",
                axes=("predicted presence probability", "share with the structure")), width="stretch")


def distributions(result: LabResult) -> None:
    """Box or violin plots of the chosen metrics, one box per model."""
    options = metric_options(result)
    drawable = [m for m in options
                if any(np.isfinite(metric_values(result.rows[r], m)).any() for r in result.models)]
    default = [m for m in DISTRIBUTION_DEFAULTS if m in drawable][:3] or drawable[:1]
    left, right = st.columns([3, 1])
    chosen = left.multiselect("Metrics", options, default=default, key=f"{KEY}_dist_{result.kind}")
    kind = right.radio("Plot", ["box", "violin"], horizontal=True, key=f"{KEY}_dist_kind")
    cols = st.columns(2)
    for i, metric in enumerate(chosen):
        rows = {m: result.rows[m] for m in result.models}
        cols[i % 2].plotly_chart(lab_charts.distribution(rows, metric, kind), width="stretch")


def _selector(names: list[str]) -> Callable[[], None]:
    """The table's row-selection callback: the clicked case becomes the case view's choice."""
    def pick() -> None:
        rows = st.session_state[f"{KEY}_table"].selection.rows
        if rows and rows[0] < len(names):
            st.session_state[f"{KEY}_case"] = names[rows[0]]
    return pick


def worst_first_table(result: LabResult, cards: Mapping[str, ModelCard] | None = None) -> str:
    """Per-case table of one model sorted worst-first on a metric; returns the case to open. A case
    whose group (patient, subject) the model's card lists among its training groups is marked."""
    options = metric_options(result)
    left, right = st.columns(2)
    metric = left.selectbox("Sort by", options, index=_index(options, DEFAULT_METRIC[result.kind]),
                            key=f"{KEY}_sort")
    model = right.selectbox("Rows of", result.models, key=f"{KEY}_sort_model")
    ordered = worst_first(result.rows[model], metric)
    names = [str(r["name"]) for r in ordered]
    table = pd.DataFrame(ordered)
    for other in result.models:
        if other != model:
            by_name = {str(r["name"]): r.get(metric) for r in result.rows[other]}
            table[f"{metric} ({other})"] = [by_name.get(n) for n in names]
    card = (cards or {}).get(model)
    trained = set(card.training.get("train_groups", ())) if card is not None else set()
    seen = [str(r.get("group")) in trained for r in ordered]
    lead = ["trained on"] if any(seen) else []
    if lead:
        table.insert(0, "trained on", seen)
    if metric in table.columns:
        first = [*lead, "name", metric]
        table = table[[*first, *[c for c in table.columns if c not in first]]]
    st.dataframe(table, hide_index=True, width="stretch", height=min(400, 38 + 35 * len(table)),
                 key=f"{KEY}_table", on_select=_selector(names), selection_mode="single-row")
    st.caption(f"{model}, worst {metric} first (cases that could not be scored come first). "
               "Click a row, or pick a case below, to open it."
               + (f" **{sum(seen)} of {len(seen)} cases come from groups this model trained on** ('trained "
                  "on'): their scores show the fit, not performance on new cases." if any(seen) else ""))
    if st.session_state.get(f"{KEY}_case") not in names:
        st.session_state.pop(f"{KEY}_case", None)
    return st.selectbox("Case", names, key=f"{KEY}_case")


def _row(result: LabResult, model: str, name: str) -> dict[str, Any]:
    return next((r for r in result.rows[model] if str(r["name"]) == name), {})


CAPTION_SCORES = (("dice", "Dice {:.3f}"), ("hd95_mm", "HD95 {:.1f} mm"),
                  ("hc_abs_diff_mm", "|HC error| {:.1f} mm"))


def _score_caption(model: str, row: Mapping[str, Any]) -> str:
    parts = [model]
    for key, text in CAPTION_SCORES:
        v = row.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            parts.append(text.format(v))
    return " · ".join(parts)


def case_view(result: LabResult, guess: LayoutGuess, fingerprint: str, name: str,
              cards: Mapping[str, ModelCard], folders: Mapping[str, str]) -> None:
    """The chosen case: input, ground truth, each model's prediction and error map (segmentation);
    the photo, its class and each model's probabilities (classification). A prediction shown is
    the one its row scored: the lab engine's, with the run's settings."""
    case = cache.lab_case(guess, fingerprint, name)
    if case is None:
        st.warning(f"{name} is no longer in the folder.")
        return
    if result.kind == "classification":
        _class_case(result, case, name, cards)
        return
    preds = cache.lab_case_masks(tuple((m, folders[m]) for m in result.models), guess, fingerprint, name,
                                 canonical_json(result.settings))
    if preds is None:
        st.warning(f"{name} is no longer in the folder.")
        return
    shown = [(f"Input: {name}", case.image)]
    if case.mask is not None:
        shown.append(("Ground truth" + ("" if case.mask.any() else ": empty"),
                      overlay_mask(case.image, case.mask, COLORS["truth"])))
    shown += [(_score_caption(m, _row(result, m, name)), overlay_mask(case.image, preds[m])) for m in preds]
    widgets.image_row(shown)
    for m in result.models:
        widgets.model_badge(m, cards[m])
    if case.mask is None:
        st.caption("No ground truth for this case.")
        return
    st.caption("Error maps. Bluish green: true positive · orange: false positive · sky blue: false negative")
    outlined = [(preds[m], OUTLINE_COLORS[i]) for i, m in enumerate(preds)] + [(case.mask, (255, 255, 255))]
    legend = [f"{m}: {COLOR_NAMES[i]}" for i, m in enumerate(preds)] + ["ground truth: white"]
    errors = [(f"{m}: errors", error_overlay(case.image, p, case.mask)) for m, p in preds.items()]
    errors.append((" · ".join(legend), outlines_overlay(case.image, outlined)))
    for col, (caption, image) in zip(st.columns(max(len(shown), len(errors))), errors):
        col.image(png(image), caption=caption, width="stretch")


def _class_case(result: LabResult, case: Any, name: str, cards: Mapping[str, ModelCard]) -> None:
    left, right = st.columns([1, 2])
    truth = case.meta.get("label", "unknown")
    left.image(case.image, caption=f"{name} · true class: {truth}", width="stretch")
    rows = []
    for m in result.models:
        row = _row(result, m, name)
        labels = [k[2:] for k in row if k.startswith("p_")]
        rows.append({"model": m, "predicted": row.get("pred"), "correct": row.get("correct"),
                     **{c: row[f"p_{c}"] for c in labels}})
        if name in faceless([row], labels):
            right.warning(f"{m}: no face found in this photo; it was scored with uniform probabilities.")
    right.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    with right:
        for m in result.models:
            widgets.model_badge(m, cards[m])


def paired(result: LabResult, cards: Mapping[str, ModelCard]) -> None:
    """Model B against model A case by case: mean difference with its CI, the plot, the flips."""
    c1, c2, c3 = st.columns(3)
    a = c1.selectbox("Model A", result.models, index=0, key=f"{KEY}_pair_a")
    b = c2.selectbox("Model B", [m for m in result.models if m != a], key=f"{KEY}_pair_b")
    options = metric_options(result)
    metric = c3.selectbox("Metric", options, index=_index(options, DEFAULT_METRIC[result.kind]),
                          key=f"{KEY}_pair_metric")
    cmp = paired_comparison(result.rows[a], result.rows[b], metric)
    cols = st.columns(4)
    cols[0].metric(f"Mean {metric}, {a}", f"{cmp.mean_a:.3f}")
    cols[1].metric(f"Mean {metric}, {b}", f"{cmp.mean_b:.3f}")
    cols[2].metric("Mean difference (B - A)", f"{cmp.mean_diff:+.4f}",
                   help=f"{b} minus {a}; 95% bootstrap CI of the paired differences: [{cmp.ci_low:+.4f}, "
                        f"{cmp.ci_high:+.4f}]")
    cols[3].metric("Cases better in B / in A", f"{cmp.n_b_better} / {cmp.n_a_better}", f"ties {cmp.n_ties}",
                   delta_color="off", delta_arrow="off")
    st.caption(f"Mean difference {cmp.mean_diff:+.4f}, 95% CI [{cmp.ci_low:+.4f}, {cmp.ci_high:+.4f}] over "
               f"{cmp.n_valid} of {cmp.n_pairs} paired cases"
               + (f"; left out (not finite on a side): {', '.join(cmp.excluded)}" if cmp.excluded else "")
               + ". An interval that excludes 0 means the difference is unlikely to be chance on these "
               "cases.")
    if cmp.n_valid:
        st.plotly_chart(lab_charts.paired_differences(cmp, a, b), width="stretch")
        for m in (a, b):
            widgets.model_badge(m, cards[m])
    if cmp.rule is None:
        st.caption(f"No pass rule for {metric}: flips are computed for Dice, IoU, F1 and right/wrong "
                   "columns.")
    elif cmp.flips:
        st.markdown(f"**{len(cmp.flips)} cases flip** (pass `{cmp.rule}` in one model only)")
        flips = pd.DataFrame(cmp.flips).rename(columns={"a": f"{metric} ({a})", "b": f"{metric} ({b})"})
        flips["passes in"] = flips.pop("passes").map({"a": a, "b": b})
        st.dataframe(flips, hide_index=True, width="stretch")
    else:
        st.caption(f"No case flips: every case passes `{cmp.rule}` in both models or in neither.")


def _labelled(rows: list[dict[str, Any]], labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    keep = [r for r in rows if "label" in r]
    y = np.array([labels.index(r["label"]) for r in keep], dtype=int)
    probs = np.array([[r[f"p_{c}"] for c in labels] for r in keep], dtype=np.float64).reshape(len(keep), -1)
    return y, probs


def classifier_figures(result: LabResult, cards: Mapping[str, ModelCard]) -> None:
    """Per model: accuracy, balanced accuracy and ECE, the confusion matrix, one-vs-rest ROC and
    precision-recall curves, and the reliability diagram."""
    for m in result.models:
        report = result.set_metrics[m]
        if not report:
            st.info(f"{m}: no labelled case to score.")
            continue
        labels = list(report["labels"])
        y, probs = _labelled(result.rows[m], labels)
        st.markdown(f"**{m}**: {report['n_cases']} photos, {len(labels)} classes")
        widgets.model_badge(m, cards[m])
        cols = st.columns(3)
        cols[0].metric("Accuracy", f"{report['accuracy']:.3f}")
        cols[1].metric("Balanced accuracy", f"{report['balanced_accuracy']:.3f}")
        cols[2].metric("ECE", f"{report['ece']:.3f}", help="Expected calibration error, 15 equal-width bins.")
        missing = faceless(result.rows[m], labels)
        if missing:
            st.warning(f"No face found in {len(missing)} photos (scored with uniform probabilities): "
                       f"{', '.join(missing[:10])}")
        left, right = st.columns(2)
        left.plotly_chart(lab_charts.confusion(report["confusion_matrix"], labels, f"{m}: confusion matrix"),
                          width="stretch")
        right.plotly_chart(lab_charts.reliability(report["reliability"], report["ece"],
                                                  f"{m}: reliability"), width="stretch")
        left, right = st.columns(2)
        left.plotly_chart(lab_charts.curves(roc_curves(y, probs, labels), "roc", f"{m}: ROC, one vs rest"),
                          width="stretch")
        right.plotly_chart(lab_charts.curves(pr_curves(y, probs, labels), "pr",
                                             f"{m}: precision-recall, one vs rest"), width="stretch")


def training_curves(folders: Mapping[str, str]) -> None:
    """Each model's ``history.csv`` (written by the training scripts) as line charts."""
    for m, folder in folders.items():
        path = Path(folder) / "history.csv"
        history = cache.training_history(str(path), path.stat().st_mtime_ns) if path.is_file() else None
        fig = lab_charts.training_curves(history, f"{m}: training history") if history is not None else None
        if fig is None:
            st.caption(f"{m}: no training history (`{path.name}` with an epoch column) in its weights "
                       "folder.")
        else:
            st.plotly_chart(fig, width="stretch")
