"""Plotly figures shared by pages."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.analysis.fetal_biometry import GA_MAX_WEEKS, GA_MIN_WEEKS, centile_value_mm


def intergrowth_chart(points: dict[str, float], ga_weeks: float | None) -> go.Figure:
    """INTERGROWTH-21st HC chart (3rd, 50th, 97th centiles, 14-40 weeks) with this case.

    Args:
        points: measured HC in mm by model name.
        ga_weeks: stated gestational age; without one each HC is drawn as a horizontal line.
    """
    ga = np.linspace(GA_MIN_WEEKS, GA_MAX_WEEKS, 105)
    fig = go.Figure()
    for c, label, dash in ((97, "97th", "dash"), (50, "50th", "solid"), (3, "3rd", "dash")):
        fig.add_scatter(x=ga, y=[centile_value_mm(g, c) for g in ga], mode="lines", name=f"{label} centile",
                        line={"color": "#666", "dash": dash, "width": 1.5})
    symbols = ["circle", "diamond", "square", "x"]
    for i, (name, hc) in enumerate(points.items()):
        if ga_weeks is None:
            fig.add_hline(y=hc, line_dash="dot", annotation_text=f"{name}: {hc:.1f} mm (no GA stated)")
        else:
            fig.add_scatter(x=[ga_weeks], y=[hc], mode="markers", name=f"{name}: {hc:.1f} mm",
                            marker={"size": 12, "symbol": symbols[i % len(symbols)]})
    fig.update_layout(xaxis_title="gestational age (weeks)", yaxis_title="head circumference (mm)",
                      height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title="INTERGROWTH-21st fetal head circumference standard",
                      legend={"orientation": "h", "y": -0.2})
    return fig


def class_probability_bars(labels: tuple[str, ...], probs: np.ndarray) -> go.Figure:
    """Horizontal bars of every class's probability, the most probable on top."""
    order = np.argsort(probs)
    names = [labels[i].replace("_", " ") for i in order]
    fig = go.Figure(go.Bar(x=[float(probs[i]) for i in order], y=names, orientation="h",
                           marker_color="#0072B2", text=[f"{probs[i]:.2f}" for i in order],
                           textposition="auto"))
    fig.update_layout(height=60 + 42 * len(labels), margin=dict(l=10, r=10, t=30, b=30),
                      xaxis=dict(range=[0, 1], title="probability (averaged over the members)"),
                      title="Class probabilities")
    return fig


def tumour_area_chart(rows: list[dict], axis: str, current: int, unit: str) -> go.Figure:
    """Tumour area per slice (predicted, and true when known) with the slice on screen marked."""
    fig = go.Figure()
    x = [r["slice"] for r in rows]
    fig.add_scatter(x=x, y=[r[f"area_pred_{unit}"] for r in rows], mode="lines+markers", name="predicted",
                    line={"color": "#009E73"})
    if rows and f"area_true_{unit}" in rows[0]:
        fig.add_scatter(x=x, y=[r[f"area_true_{unit}"] for r in rows], mode="lines+markers",
                        name="ground truth", line={"color": "#E69F00", "dash": "dash"})
    fig.add_vline(x=current, line_dash="dot", line_color="#666", annotation_text="shown")
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      xaxis_title=f"{axis} slice", yaxis_title="tumour area (mm²)" if unit == "mm2" else
                      "tumour area (pixels)", title="Tumour area per slice",
                      legend={"orientation": "h", "y": -0.25})
    return fig
