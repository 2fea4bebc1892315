"""One-page case reports (PDF) of the two face pages."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.report import CaseReport, ReportImage, png_bytes, render_pdf
from core.weights import ModelCard
from dashboard.validation_panel import card_line

FACE_MESH = "Landmarks: MediaPipe Face Mesh 0.10.21 (478 points, Google's published model, run as shipped)."


def _value(row: Mapping[str, Any], z: Mapping[str, float | None] | None) -> str:
    text = f"{row['value']:.3f} {row['unit']}".strip()
    if row.get("value_mm") is not None:
        text += f" ({row['value_mm']:.1f} mm)"
    if z and z.get(row["key"]) is not None:
        text += f", z {z[row['key']]:+.2f}"
    return text


def face_report(case: str, picture: np.ndarray, regions: np.ndarray, rows: Sequence[Mapping[str, Any]],
                z: Mapping[str, float | None] | None, reference: str, parser: ModelCard | None) -> bytes:
    """The face analysis page's report: the photo with its landmarks and lines, the regions, the
    measurements (relative to ``reference``, in mm with a stated scale, z-scores against a group)."""
    images = [ReportImage("Landmarks and measurement lines (numbered as below)", png_bytes(picture)),
              ReportImage("Regions from the landmarks", png_bytes(regions))]
    measures = [(f"{k}. {r['name']}", _value(r, z)) for k, r in enumerate(rows, 1)]
    model = [FACE_MESH]
    if parser is not None:
        model.append(card_line("Face parser", parser))
    notes = [f"Lengths relative to the {reference.replace('_', ' ')} distance, in the image plane of a "
             "frontal photo; a turned head shortens the lengths across the turn.",
             "Right and left are the subject's."]
    return render_pdf(CaseReport("Face analysis", case, images, measures, model, notes))


def screening_report(case: str, aligned: np.ndarray, task: str, answer: str, top: Sequence[tuple[str, float]],
                     card: ModelCard, notes: Sequence[str]) -> bytes:
    """The face screening page's report: the aligned face, the answer (or out-of-range), the top
    classes with their probabilities, the card (what trained it; how the rule did on real faces)."""
    measures = [("Answer", answer)] + [(f"Top {k}: {name}", f"{p:.3f}") for k, (name, p) in enumerate(top, 1)]
    model = [f"{card.title}: trained on {card.training.get('data', 'unknown data')}."]
    shares = card.metrics.get("abstain_validation", {}).get("real_no_condition", {}).get("with_rule", {})
    if shares:
        model.append(f"On {shares['n']} real faces without a condition: {shares['no_condition_share']:.0%} "
                     f"no-condition, {shares['out_of_range_share']:.0%} out of range, "
                     f"{shares['called_a_condition_share']:.0%} called a condition.")
    picture = ReportImage("Aligned by the eye centres", png_bytes(aligned))
    return render_pdf(CaseReport(f"Face screening: {task}", case, [picture], measures, model,
                                 [n for n in notes if n]))
