"""Plotly figures of the model lab: distributions, paired differences, classifier curves, training."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from core.evaluation.stats import PairedComparison, metric_values
from core.lab.curves import Curve

MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
# Okabe-Ito: distinguishable with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def distribution(rows: Mapping[str, Sequence[Mapping[str, Any]]], metric: str, kind: str = "box"
                 ) -> go.Figure:
    """Box or violin plot of one metric per model, every case drawn as a point (finite values only).

    Args:
        rows: model -> per-case rows.
        metric: the column to draw.
        kind: ``"box"`` or ``"violin"``.
    """
    fig = go.Figure()
    for i, (model, model_rows) in enumerate(rows.items()):
        values = metric_values(model_rows, metric)
        keep = np.isfinite(values)
        names = [str(r["name"]) for r, k in zip(model_rows, keep) if k]
        trace = go.Violin if kind == "violin" else go.Box
        extra = ({"box_visible": True, "meanline_visible": True, "points": "all"} if kind == "violin"
                 else {"boxmean": True, "boxpoints": "all"})
        fig.add_trace(trace(y=values[keep], name=model, text=names, pointpos=0,
                            hovertemplate="%{text}: %{y:.3f}<extra>" + model + "</extra>",
                            marker_color=PALETTE[i % len(PALETTE)], **extra))
    fig.update_layout(title=metric, height=320, margin=MARGIN, showlegend=False, yaxis_title=metric)
    return fig


def paired_differences(cmp: PairedComparison, a: str, b: str) -> go.Figure:
    """Per-case ``b - a`` differences, sorted, coloured by which model is better, with the mean
    difference and its bootstrap interval as lines."""
    valid = [d for d in cmp.diffs if math.isfinite(d["diff"])]
    valid.sort(key=lambda d: d["diff"])
    sign = 1 if cmp.higher_is_better else -1
    colors = ["#009E73" if sign * d["diff"] > 0 else "#D55E00" if sign * d["diff"] < 0 else "#999999"
              for d in valid]
    fig = go.Figure(go.Bar(x=[d["name"] for d in valid], y=[d["diff"] for d in valid], marker_color=colors,
                           customdata=[[d["a"], d["b"]] for d in valid],
                           hovertemplate=f"%{{x}}<br>{a}: %{{customdata[0]:.3f}}<br>{b}: "
                                         f"%{{customdata[1]:.3f}}<br>diff %{{y:.3f}}<extra></extra>"))
    if math.isfinite(cmp.mean_diff):
        fig.add_hline(y=cmp.mean_diff, line_color="#000", annotation_text=f"mean {cmp.mean_diff:+.3f}")
        if math.isfinite(cmp.ci_low):
            fig.add_hrect(y0=cmp.ci_low, y1=cmp.ci_high, fillcolor="#000", opacity=0.08, line_width=0)
    fig.add_hline(y=0, line_color="#999", line_dash="dot")
    better = "higher" if cmp.higher_is_better else "lower"
    fig.update_layout(title=f"{cmp.metric}: {b} minus {a}, per case (green: {b} better, {better} is better)",
                      height=340, margin=MARGIN, xaxis_title="case (sorted by difference)",
                      yaxis_title=f"{cmp.metric} difference", xaxis_showticklabels=len(valid) <= 40)
    return fig


def confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str) -> go.Figure:
    """Confusion matrix heat map: rows the true class, columns the predicted one."""
    fig = go.Figure(go.Heatmap(z=matrix, x=list(labels), y=list(labels), colorscale="Blues", text=matrix,
                               texttemplate="%{text}", showscale=False))
    fig.update_layout(title=title, height=140 + 40 * len(labels), margin=MARGIN, xaxis_title="predicted",
                      yaxis_title="true", yaxis_autorange="reversed")
    return fig


def curves(items: Sequence[Curve], kind: str, title: str) -> go.Figure:
    """One-vs-rest ROC (``kind="roc"``) or precision-recall (``"pr"``) curves, one line per class."""
    fig = go.Figure()
    if kind == "roc":
        fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "#999"},
                        name="chance", hoverinfo="skip")
    area = "AUC" if kind == "roc" else "AP"
    for i, c in enumerate(items):
        text = f"{area} {c.area:.3f}" if math.isfinite(c.area) else f"{area} n/a"
        fig.add_scatter(x=c.x, y=c.y, mode="lines", line={"shape": "vh" if kind == "pr" else "linear",
                                                          "color": PALETTE[i % len(PALETTE)]},
                        name=f"{c.label} ({text}, {c.n_pos} cases)")
    axes = ("false positive rate", "true positive rate") if kind == "roc" else ("recall", "precision")
    fig.update_layout(title=title, height=360, margin=MARGIN, xaxis_title=axes[0], yaxis_title=axes[1],
                      xaxis_range=[-0.02, 1.02], yaxis_range=[-0.02, 1.05],
                      legend={"orientation": "h", "y": -0.25})
    return fig


def reliability(bins: Mapping[str, Sequence[float]], ece: float, title: str,
                axes: tuple[str, str] = ("confidence (top-class probability)", "accuracy")) -> go.Figure:
    """Reliability diagram: accuracy against mean confidence per bin, bar width the bin, with the
    diagonal of perfect calibration; empty bins are left out. ``axes``: the x and y titles (a
    presence probability against the share of frames that hold the structure)."""
    lower, upper = np.asarray(bins["lower"]), np.asarray(bins["upper"])
    acc, conf = np.asarray(bins["accuracy"], float), np.asarray(bins["confidence"], float)
    count = np.asarray(bins["count"])
    keep = count > 0
    fig = go.Figure(go.Bar(x=((lower + upper) / 2)[keep], y=acc[keep], width=(upper - lower)[keep],
                           marker_color="#0072B2", name="accuracy", customdata=np.c_[conf, count][keep],
                           hovertemplate="accuracy %{y:.2f}<br>mean confidence %{customdata[0]:.2f}"
                                         "<br>%{customdata[1]} cases<extra></extra>"))
    fig.add_scatter(x=conf[keep], y=acc[keep], mode="markers", marker={"color": "#E69F00", "size": 9},
                    name="(mean confidence, accuracy)")
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "#999"},
                    name="perfect calibration", hoverinfo="skip")
    fig.update_layout(title=f"{title} · ECE {ece:.3f}", height=360, margin=MARGIN, xaxis_range=[0, 1],
                      yaxis_range=[0, 1.05], xaxis_title=axes[0], yaxis_title=axes[1],
                      legend={"orientation": "h", "y": -0.25})
    return fig


def training_curves(history: pd.DataFrame, title: str) -> go.Figure | None:
    """Every numeric column of a ``history.csv`` against the epoch, one panel per column (a
    ``run`` column, such as cross-validation folds, gives one line per run); None when the table
    has no ``epoch`` column or nothing numeric to draw."""
    if "epoch" not in history.columns:
        return None
    numeric = [c for c in history.columns if c not in ("epoch", "run")
               and pd.api.types.is_numeric_dtype(history[c]) and not pd.api.types.is_bool_dtype(history[c])]
    if not numeric:
        return None
    ids = ["epoch", "run"] if "run" in history.columns else ["epoch"]
    long = history.melt(id_vars=ids, value_vars=numeric, var_name="column", value_name="value")
    rows = math.ceil(len(numeric) / 3)
    fig = px.line(long, x="epoch", y="value", color="run" if "run" in ids else None, facet_col="column",
                  facet_col_wrap=3, markers=True, facet_row_spacing=min(0.12, 0.6 / rows),
                  color_discrete_sequence=PALETTE)
    fig.update_yaxes(matches=None, showticklabels=True, title_text="")
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    fig.update_layout(title=title, height=60 + 220 * rows, margin=MARGIN)
    return fig
