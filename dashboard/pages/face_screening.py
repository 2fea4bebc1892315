"""Face screening page: class probabilities, region votes, Grad-CAM and gallery matches for a face.

Three tasks share one machinery (core/face/screening.py): facial skin conditions, syndrome-like
shape changes, and an autism-research demo. The shipped weights are trained on synthetic phantoms
(train/phantoms/face.py) and say so wherever their outputs appear.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.explain import cam_peak
from core.face.anthropometry import measure_face, measurement_table
from core.io.image import mean_chroma
from core.metrics import top_k_caption
from core.models.screening import WHOLE_FACE
from core.overlay import heatmap_overlay, outlines_overlay
from core.roots import PROJECT_ROOT
from core.tasks import get_task
from dashboard import cache, charts, tables, widgets

KEY = "screen"
SCREENING = get_task("face_screening")  # rows: titles, classes, caveats
GREY_CHROMA = 3.0  # mean chroma (0-255) below which a photo is greyscale (JPEG noise stays under 2)
EVIDENCE_COLOR = (0, 158, 115)  # bluish green outline: where the phantom's condition was drawn


def _title(task: str) -> str:
    return SCREENING.rows[task].title if task in SCREENING.rows else task


def _pretty(name: str) -> str:
    return name.replace("_", " ")


def _member_title(member: str) -> str:
    return "whole face" if member == WHOLE_FACE else _pretty(member)


def _cam_panel(folder: str, rgb: np.ndarray, result, screener, target: int,
               evidence: np.ndarray | None) -> None:
    """Grad-CAM of ``target`` on the aligned face and on every region crop; with a phantom's known
    evidence, its outline and whether the CAM's peak falls inside it (the pointing game)."""
    views = [(WHOLE_FACE, 0)] + [(m, v) for m in screener.members if m != WHOLE_FACE
                                 for v in range(len(result.crops[m]))]
    cols = st.columns(4)
    hits = []
    for i, (member, view) in enumerate(views):
        cam = cache.screening_cam(folder, rgb, result, target, member, view)
        image = result.inputs.member_image(member, view)
        shown = heatmap_overlay(image, cam)
        caption = _member_title(member) + (f" (view {view + 1}, mirrored)" if view else "")
        if evidence is not None:
            mask = result.inputs.mask_to_member(evidence, member, view)
            if mask.any():
                shown = outlines_overlay(shown, [(mask, EVIDENCE_COLOR)])
                hit = bool(mask[cam_peak(cam)]) if cam.any() else False
                hits.append(hit)
                caption += (" · peak inside the drawn condition" if hit
                            else " · peak OUTSIDE the drawn condition")
        if not cam.any():
            caption += " · no location raises this class"
        cols[i % 4].image(shown, width="stretch", caption=caption)
    if hits:
        st.caption(f"Pointing game on this phantom: the CAM's peak falls inside the drawn condition "
                   f"(green outline) for {sum(hits)} of {len(hits)} member views that see it.")


def _cam_layers_caption(card) -> str:
    """Which stage each member's Grad-CAM hooks, as the card's ``explain`` section records it."""
    explain = card.explain or {}
    stages, grids = explain.get("cam_stage") or {}, explain.get("cam_grid") or {}
    if not stages:
        return "Grad-CAM hooks each member's deepest stage."
    parts = [f"{_member_title(m)} {s}" + (f" ({grids[m][0]}x{grids[m][1]})" if m in grids else "")
             for m, s in stages.items()]
    seed = (explain.get("selection") or {}).get("seed")
    return ("Grad-CAM stage per member (-1 the deepest): " + ", ".join(parts)
            + (f"; chosen on validation phantoms (seed {seed})." if seed is not None else "."))


def _gallery_panel(folder: str, task: str, result) -> None:
    gallery_dir = cache.SCREENING_SAMPLES / task / "gallery"
    if not gallery_dir.is_dir():
        st.info(f"No gallery for this task (`{gallery_dir}`: one sub-folder of photos per class).")
        return
    files = sorted(p for p in gallery_dir.rglob("*") if p.is_file())
    fingerprint = hashlib.sha256("|".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                                          for p in files).encode()).hexdigest()
    try:
        fg = cache.screening_gallery(folder, str(gallery_dir), fingerprint)
    except FileNotFoundError as exc:
        st.error(str(exc))
        return
    gallery = fg.gallery
    k = 3
    classes = gallery.class_ranking(result.embedding, top=None, k=k)
    st.dataframe(pd.DataFrame([{"rank": i + 1, "class": _pretty(c.label), "distance": c.distance,
                                "gallery photos": c.n_gallery} for i, c in enumerate(classes)]),
                 hide_index=True, width="stretch", column_config={
                     "distance": st.column_config.NumberColumn(
                         "cosine distance", format="%.3f",
                         help=f"mean of the class's {k} nearest gallery photos (fewer when it has fewer)")})
    st.caption(f"Classes ranked by distance to the gallery: {len(gallery.classes)} classes, gallery of "
               f"{len(gallery)} photos (`{gallery_dir.relative_to(PROJECT_ROOT)}`)"
               + (f"; {len(fg.skipped)} photos skipped (no face)" if fg.skipped else "") + ".")
    cols = st.columns(6)
    for i, match in enumerate(gallery.rank(result.embedding, top=6)):
        cols[i].image(str(fg.paths[match.id]), width="stretch",
                      caption=f"{_pretty(match.label)} · {match.distance:.3f}")


def _card_figures(card) -> None:
    for name, title in (("phantom_test", "Fresh phantoms of the training identity (seeds never trained on)"),
                        ("phantom_test_held_out_identity", "Phantoms of an identity NEVER seen in training"),
                        ("validation", "Validation (held-out split of the training data)")):
        report = card.metrics.get(name)
        if not isinstance(report, dict) or "accuracy" not in report:
            continue
        line = (f"**{title}**: {report['n_cases']} faces, accuracy {report['accuracy']:.3f}, balanced "
                f"accuracy {report['balanced_accuracy']:.3f}, ECE {report.get('ece', float('nan')):.3f}")
        if report.get("top_k"):
            line += f"; {top_k_caption(report)}"
        game = report.get("pointing_game", {}).get(WHOLE_FACE) if isinstance(report.get("pointing_game"),
                                                                             dict) else None
        if game and game.get("score") is not None:
            line += f"; Grad-CAM pointing game (whole face) {game['score']:.2f} over {game['n']} faces"
            last = (report.get("pointing_game_last_stage") or {}).get(WHOLE_FACE) or {}
            if last.get("score") is not None:
                line += f" (hooked at the deepest stage: {last['score']:.2f})"
        st.markdown(line)
        cm = report.get("confusion_matrix")
        if cm and name.startswith("phantom_test"):
            labels = [_pretty(c) for c in report["labels"]]
            fig = go.Figure(go.Heatmap(z=cm, x=labels, y=labels, colorscale="Blues", text=cm,
                                       texttemplate="%{text}", showscale=False))
            fig.update_layout(height=120 + 40 * len(labels), margin=dict(l=10, r=10, t=30, b=10),
                              xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed",
                              title=f"Confusion matrix: {title.lower()}")
            st.plotly_chart(fig, width="stretch")


st.title("Face screening")
widgets.research_note()
models = cache.screening_models()
if not models:
    st.info("No face screening weights yet (`weights/face_screening/<task>/model.json`). Train them "
            "with `python -m train.classifier --phantoms 1200 --screen-task skin` (or `--data FOLDER` "
            "of your own photos, one sub-folder per class).")
    st.stop()
task = st.sidebar.radio("Task", list(models), format_func=_title, key=f"{KEY}_task")
if task in SCREENING.rows and SCREENING.rows[task].warn:
    st.warning(SCREENING.rows[task].caveat)
folder = models[task]
screener = cache.get_screener(folder)
card = screener.card
if card.synthetic:
    st.warning(f"Demo weights trained on SYNTHETIC phantoms only ({card.training.get('data', '')}). "
               "On a real photo their output means nothing; they show how the analysis works.")
st.caption(f"{_title(task)}: {len(screener.labels)} classes "
           f"({', '.join(_pretty(c) for c in screener.labels)}); members: "
           f"{', '.join(_member_title(m) for m in screener.members)}, softmax outputs averaged.")

samples = {**cache.screening_cases(task), **cache.face_samples()}
name, rgb, lm = widgets.face_with_landmarks(KEY, samples)
if task in SCREENING.rows and SCREENING.rows[task].needs_colour and mean_chroma(rgb) < GREY_CHROMA:
    st.error(f"{name} is a greyscale photo: the {_title(task).lower()} model tells its classes by colour "
             "(redness, scale), so it cannot screen it. Use a colour photo.")
    st.stop()
top_n = st.sidebar.slider("Top N", 1, len(screener.labels), min(3, len(screener.labels)), key=f"{KEY}_topn")
result = cache.screen(folder, rgb, lm, top_n)

face_col, bar_col, top_col = st.columns([1, 1.4, 1])
face_col.image(result.aligned, width="stretch", caption=f"{name}: aligned by the eye centres")
bar_col.plotly_chart(charts.class_probability_bars(result.labels, result.probs), width="stretch")
with top_col:
    st.markdown(f"**Top {top_n}** of {len(result.labels)} classes")
    st.dataframe(pd.DataFrame([{"rank": i + 1, "class": _pretty(c), "probability": p}
                               for i, (c, p) in enumerate(result.top)]), hide_index=True, width="stretch",
                 column_config={"probability": st.column_config.ProgressColumn(
                     "probability", format="%.3f", min_value=0.0, max_value=1.0)})
    widgets.model_badge(f"{task} screening model", card)

st.subheader("What each region voted")
votes = tables.screening_votes(result)
st.dataframe(votes, hide_index=True, width="stretch", column_config={
    "weight": st.column_config.NumberColumn("weight", format="%.2f"),
    **{_pretty(c): st.column_config.NumberColumn(_pretty(c), format="%.3f") for c in result.labels}})
crop_cols = st.columns(len(result.crops) + 1)
crop_cols[0].image(result.aligned, width="stretch", caption="whole face")
for col, (member, crops) in zip(crop_cols[1:], result.crops.items()):
    col.image(crops[0], width="stretch", caption=_member_title(member))

st.subheader("Where the networks looked (Grad-CAM)")
target = st.selectbox("Explain the class", range(len(result.labels)), index=result.top_index,
                      format_func=lambda i: f"{_pretty(result.labels[i])} ({result.probs[i]:.2f})",
                      key=f"{KEY}_target_{task}")  # per task: the classes differ
if st.toggle("Compute Grad-CAM for every member", value=True, key=f"{KEY}_cam"):
    _cam_panel(folder, rgb, result, screener, int(target), cache.screening_evidence(task, name))
    st.caption("Red = where evidence for the class raised its score most. Trust it only as far as the "
               "card's pointing-game score goes. " + _cam_layers_caption(card))

gallery_col, measure_col = st.columns([1.6, 1])
with gallery_col:
    st.subheader("Closest gallery cases")
    _gallery_panel(folder, task, result)
with measure_col:
    st.subheader("Measurements")
    rows = measurement_table(measure_face(lm.points))
    st.dataframe(pd.DataFrame([{"measurement": r["name"], "value": r["value"], "unit": r["unit"]}
                               for r in rows]), hide_index=True, width="stretch", height=320,
                 column_config={"value": st.column_config.NumberColumn(format="%.3f")})
    st.caption("From the face analysis page (definitions and lines there).")

with st.expander("The model's card: how it was trained and how it scored", expanded=False):
    _card_figures(card)
    st.caption(card.training.get("command", ""))
