"""Scoring a face screening ensemble on phantoms: the classification report, the Grad-CAM pointing
game against the phantoms' known evidence, and gallery top-k (used by ``train.classifier`` after
training and by ``train.cam_select``)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from tqdm import tqdm

from core import metrics
from core.face.screening import Screener
from core.tasks import get_task


def topk_ks(n_classes: int) -> tuple[int, ...]:
    return tuple(k for k in (1, 3, 5) if k <= n_classes)


def evidence_regions(face: Any, min_share: float = 0.05, min_px: int = 10) -> np.ndarray:
    """HxW bool: the landmark-derived facial regions (core.face.regions label mask, disjoint) that
    hold at least ``min_share`` of a phantom's changed pixels (and ``min_px``): "the region that
    truly carries the class evidence". Empty for a face without evidence."""
    from core.face.regions import region_label_mask

    evidence = np.asarray(face.evidence, bool)
    if not evidence.any():
        return evidence
    labels = region_label_mask(face.landmarks)
    counts = np.bincount(labels[evidence].ravel(), minlength=int(labels.max()) + 1)
    keep = [k for k in range(1, len(counts)) if counts[k] >= max(min_px, min_share * evidence.sum())]
    return np.isin(labels, keep)


def phantom_test(screener: Screener, faces: list[Any], task: str, gallery: Any = None,
                 min_overlap: float = 0.01, identity: str = "held_out",
                 cam_stages: Mapping[str, int] | None = None) -> dict:
    """Classification report and Grad-CAM pointing game on test phantoms.

    The CAM explains the TRUE class (the standard pointing game: is the network's evidence for the
    right answer where the answer's evidence is?) and is scored against two masks, each warped into
    the member's frame: the facial REGIONS that carry the drawn condition (headline) and the
    changed PIXELS themselves (stricter). The whole-face member is scored on the aligned face; a
    region member on each view whose crop the evidence covers by at least ``min_overlap``.
    ``cam_stages``: member -> the stage Grad-CAM hooks (None: the card's, see
    :func:`core.face.screening.cam_stages`).
    """
    results = predict_phantoms(screener, faces)
    y = np.array([int(f.label_index) for f in faces])
    probs = np.stack([r.probs for r in results]).astype(np.float64)
    probs /= probs.sum(axis=1, keepdims=True)
    report = metrics.classification_report(y, probs, list(screener.labels), ks=(1, 3, 5))
    words = {"held_out": "held-out identity (scikit-image's astronaut), NEVER used for training",
             "train": "the TRAINING identity (grace_hopper.jpg): fresh phantoms, a seed never trained on"}
    out = {"identity": words.get(identity, identity),
           "n": len(faces), **report,
           "pointing_game": pointing_game_section(screener, faces, results, cam_stages, min_overlap),
           "caveat": get_task("face_screening").row(task).phantom_note}
    if gallery is not None:
        out["gallery"] = gallery_topk(gallery, [r.embedding for r in results],
                                      [screener.labels[i] for i in y])
    return out


def predict_phantoms(screener: Screener, faces: list[Any], desc: str = "phantom test") -> list[Any]:
    """The screener's prediction of every phantom (its known landmarks)."""
    return [screener.predict(f.rgb, f.landmarks) for f in tqdm(faces, desc=desc)]


def pointing_cases(screener: Screener, faces: list[Any], results: list[Any],
                   min_overlap: float = 0.01) -> list[dict[str, Any]]:
    """The member views a pointing game scores: one dict per (face, member, view) with ``face``
    (index), ``member``, ``view``, ``truth`` (class index), ``regions`` and ``pixels`` (the evidence
    masks in the member's frame). A region member's view is left out when the changed pixels cover
    less than ``min_overlap`` of its crop."""
    cases = []
    for i, (face, res) in enumerate(zip(faces, results)):
        pixels = np.asarray(face.evidence, bool)
        regions = evidence_regions(face)
        for member in screener.members:
            for v in range(len(screener.views.get(member, (None,)))):
                pixel_mask = res.inputs.mask_to_member(pixels, member, v)
                if member != "whole_face" and pixel_mask.mean() < min_overlap:
                    continue
                cases.append({"face": i, "member": member, "view": v, "truth": int(face.label_index),
                              "regions": res.inputs.mask_to_member(regions, member, v),
                              "pixels": pixel_mask})
    return cases


def pointing_scores(screener: Screener, results: list[Any], cases: list[dict[str, Any]],
                    cam_stages: Mapping[str, int | None], desc: str = "pointing game"
                    ) -> dict[str, tuple[dict, dict]]:
    """Pointing game of the members named in ``cam_stages`` (member -> stage Grad-CAM hooks; None:
    the card's) on ``cases`` (:func:`pointing_cases`): member -> (against the evidence regions,
    against the changed pixels), each a :func:`core.explain.pointing_game` dict. The CAM explains
    the TRUE class; a case without evidence in the member's frame gets no CAM (it is skipped)."""
    from core.explain import pointing_game
    from core.face.screening_cam import classification_cam

    rows: dict[str, list] = {m: [] for m in cam_stages}
    for case in tqdm([c for c in cases if c["member"] in cam_stages], desc=desc, leave=False):
        member, regions = case["member"], case["regions"]
        cam = (classification_cam(screener, results[case["face"]], case["truth"], member, case["view"],
                                  stage=cam_stages[member])
               if regions.any() else np.zeros(regions.shape, np.float32))
        rows[member].append((cam, regions, case["pixels"]))
    return {m: (pointing_game([c for c, _, _ in r], [g for _, g, _ in r]),
                pointing_game([c for c, _, _ in r], [p for _, _, p in r])) for m, r in rows.items()}


def pointing_game_section(screener: Screener, faces: list[Any], results: list[Any],
                          cam_stages: Mapping[str, int] | None = None, min_overlap: float = 0.01) -> dict:
    """The ``pointing_game`` section of a phantom test (see :func:`phantom_test`); with explicit
    ``cam_stages`` (member -> stage) it records them under ``cam_stage``."""
    stages = dict(cam_stages) if cam_stages is not None else {m: None for m in screener.members}
    missing = [m for m in screener.members if m not in stages]
    if missing:
        raise ValueError(f"cam_stages lacks member(s) {missing}")
    cases = pointing_cases(screener, faces, results, min_overlap)
    scores = pointing_scores(screener, results, cases, stages)
    pg = {m: s[0] for m, s in scores.items()}
    pg_px = {m: s[1] for m, s in scores.items()}
    section = {
        "whole_face": pg["whole_face"],
        "regions": {m: pg[m] for m in screener.members if m != "whole_face"},
        "pixels": {"whole_face": pg_px["whole_face"],
                   "regions": {m: pg_px[m] for m in screener.members if m != "whole_face"}},
        "rule": "hit when the peak of the Grad-CAM of the TRUE class falls inside the facial "
                "regions (landmark-derived, disjoint) holding >= 5% of the drawn change, both in "
                "the member's frame; 'pixels': inside the changed pixels themselves; faces "
                f"without evidence (healthy) skipped; region members scored on crops the "
                f"evidence covers >= {min_overlap:.0%} (each cheek view a case of its own)"}
    if cam_stages is not None:
        section["cam_stage"] = {m: int(stages[m]) for m in screener.members}
    return section


def gallery_topk(gallery: Any, queries: list[np.ndarray], truth: list[str]) -> dict:
    """Top-k class accuracy of queries ranked against a gallery by cosine distance (nearest photo)."""
    pos = []
    for q, label in zip(queries, truth):
        ranking = [c.label for c in gallery.class_ranking(q, top=None)]
        pos.append(ranking.index(label) if label in ranking else len(ranking))
    pos = np.asarray(pos)
    n_cls = len(gallery.classes)
    return {**{f"top_{k}": float(np.mean(pos < k)) for k in topk_ks(n_cls)}, "n_classes": n_cls,
            "gallery_size": len(gallery), "n_queries": len(pos),
            "method": "classes ranked by the cosine distance of their nearest gallery embedding"}
