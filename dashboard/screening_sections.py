"""The face screening page's panels: Grad-CAM per member, the gallery ranking, the card's figures."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from core.explain import cam_peak
from core.metrics import top_k_caption
from core.models.screening import WHOLE_FACE
from core.overlay import heatmap_overlay, outlines_overlay
from core.roots import PROJECT_ROOT
from dashboard import cache, lab_charts

EVIDENCE_COLOR = (0, 158, 115)  # bluish green outline: where the phantom's condition was drawn


def pretty(name: str) -> str:
    """A class or region name for people: ``wide_set_eyes`` -> ``wide set eyes``."""
    return name.replace("_", " ")


def member_title(member: str) -> str:
    """An ensemble member's name for people."""
    return "whole face" if member == WHOLE_FACE else pretty(member)


def cam_panel(folder: str, rgb: np.ndarray, result, screener, target: int,
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
        caption = member_title(member) + (f" (view {view + 1}, mirrored)" if view else "")
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


def cam_layers_caption(card) -> str:
    """Which stage each member's Grad-CAM hooks, as the card's ``explain`` section records it."""
    explain = card.explain or {}
    stages, grids = explain.get("cam_stage") or {}, explain.get("cam_grid") or {}
    if not stages:
        return "Grad-CAM hooks each member's deepest stage."
    parts = [f"{member_title(m)} {s}" + (f" ({grids[m][0]}x{grids[m][1]})" if m in grids else "")
             for m, s in stages.items()]
    seed = (explain.get("selection") or {}).get("seed")
    return ("Grad-CAM stage per member (-1 the deepest): " + ", ".join(parts)
            + (f"; chosen on validation phantoms (seed {seed})." if seed is not None else "."))


def gallery_panel(folder: str, task: str, result) -> None:
    """The classes ranked by embedding distance to the task's gallery, and the closest photos."""
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
    st.dataframe(pd.DataFrame([{"rank": i + 1, "class": pretty(c.label), "distance": c.distance,
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
                      caption=f"{pretty(match.label)} · {match.distance:.3f}")


def card_figures(card) -> None:
    """The card's phantom tests in words (accuracy, top-k, pointing game) with confusion matrices."""
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
            st.plotly_chart(lab_charts.confusion(cm, [pretty(c) for c in report["labels"]],
                                                 f"Confusion matrix: {title.lower()}"), width="stretch")
