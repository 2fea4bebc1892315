"""``train.evaluate`` for the face tasks: the face parser on a FASSEG-layout folder, a screener on
an ImageFolder of photos.

    python -m train.evaluate --task face_regions --weights weights/face_regions/unet \\
        --data ../shared/data/fasseg --out runs/eval_face --save-masks

``per_case.csv``: one row per photo (``name`` = file stem, ``group`` = person, ``subset``, size,
``iou_<class>`` for background, hair, skin, eyes, nose, mouth, ``mean_iou_face`` over eyes, nose,
mouth and skin, ``pixel_accuracy``); ``summary.json``: the per-class means, the mean over the face
classes with a 95% interval that resamples whole persons, per set. ``--save-masks`` writes
``masks/<stem>.png``: the predicted labels at the photo's size in FASSEG's own palette.

    python -m train.evaluate --task face_screening --weights weights/face_screening/skin \
        --data photos/ --out runs/eval_skin

``per_case.csv``: ``name``, ``true`` (the sub-folder), ``pred`` (a class or ``out_of_range``),
``reason``, top class and probability, distance to the nearest training face, class
probabilities; ``confusion.csv`` and ``summary.json`` (see :func:`evaluate_face_screening`).
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from core.datasets.fasseg import read_fasseg
from core.datasets.image_folder import image_folder_items
from core.evaluation.cache import rows_csv
from core.face.abstain import OUT_OF_RANGE, Abstainer, AbstainRule
from core.face.landmarks import FaceError, detect_landmarks, oriented_rgb
from core.face.parsing_eval import score_parser, summarise_scores
from core.face.region_net import FaceParser
from core.face.screening import Screener
from core.io.image import ImageError
from core.metrics.classification import classification_report
from core.tasks import get_task
from core.weights import read_card, write_card
from train.holdout import describe

SCREENING = get_task("face_screening")

if TYPE_CHECKING:
    from train.evaluate import EvaluateConfig


def evaluate_face_regions(args: EvaluateConfig) -> dict[str, Any]:
    """Score the parser in ``args.weights`` on every labelled photo under ``args.data``."""
    if args.data is None:
        raise SystemExit("--task face_regions needs --data: a FASSEG-layout folder (RGB/ + labels/)")
    parser = FaceParser.from_folder(args.weights)
    cases = read_fasseg(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(cases), desc="faces", unit="photo")
    rows = score_parser(parser, cases, save_masks=args.out / "masks" if args.save_masks else None,
                        progress=lambda done: bar.update(done - bar.n))
    bar.close()
    (args.out / "per_case.csv").write_text(rows_csv(rows))
    source = f"{describe(args.data)} (FASSEG layout)"
    summary = {"weights": str(args.weights), "sha256": parser.card.weights.get("sha256"), "data": source,
               "layout": "fasseg", "n": len(rows), **summarise_scores(rows, with_ci=True),
               "command": args.command("train.evaluate")}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.record:
        card = read_card(args.weights)
        record = {k: v for k, v in summary.items() if k not in ("weights", "sha256", "layout", "n")}
        write_card(args.weights, replace(card, metrics={**card.metrics, args.record: record}))
    return summary


def evaluate_face_screening(args: EvaluateConfig) -> dict[str, Any]:
    """Score the screener in ``args.weights`` on an ImageFolder (``DIR/<class>/*.jpg``): one row per
    photo with ``name``, ``true``, ``pred`` (a class or ``out_of_range``: the card's rule, no face
    found, or an unreadable photo), the top class and probability, the distance to the nearest
    training face and every class probability; ``confusion.csv`` (true folder x answer) and
    ``summary.json`` (shares per true class, the no-condition-or-out-of-range share, the top-k
    report on photos whose folder is one of the model's classes)."""
    if args.data is None:
        raise SystemExit("--task face_screening needs --data: an ImageFolder (DIR/<class>/*.jpg)")
    screener = Screener.from_folder(args.weights)
    labels = list(screener.labels)
    abstainer = Abstainer.from_folder(args.weights, screener.card.postprocess, labels) \
        or Abstainer(AbstainRule(), labels)
    items = image_folder_items(args.data)
    if not items:
        raise SystemExit(f"{args.data}: no photos in class sub-folders (DIR/<class>/*.jpg)")
    rows = []
    for path, true in tqdm(items, desc="faces", unit="photo"):
        row: dict[str, Any] = {"name": path.relative_to(args.data).as_posix(), "true": true}
        try:
            rgb = oriented_rgb(path)
            result = screener.predict(rgb, detect_landmarks(rgb))
        except (FaceError, ImageError, OSError, ValueError) as exc:
            rows.append({**row, "pred": OUT_OF_RANGE, "reason": f"no usable face: {exc}"})
            continue
        d = abstainer.decide(result.probs, result.embedding)
        rows.append({**row, "pred": d.answer, "reason": d.reason, "top_label": d.top_label,
                     "top_prob": round(d.top_prob, 4), "nn_distance": round(d.nn_distance, 4),
                     **{f"p_{c}": round(float(p), 4) for c, p in zip(labels, result.probs)}})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "per_case.csv").write_text(rows_csv(rows))
    answers = [*labels, OUT_OF_RANGE]
    truths = sorted({r["true"] for r in rows})
    confusion = [{"true": t, **{a: sum(r["true"] == t and r["pred"] == a for r in rows) for a in answers}}
                 for t in truths]
    (args.out / "confusion.csv").write_text(rows_csv(confusion))
    no_finding = SCREENING.row(screener.card.training.get("screen_task", "")).no_finding \
        if screener.card.training.get("screen_task") in SCREENING.rows else None
    summary: dict[str, Any] = {
        "weights": str(args.weights), "sha256": screener.card.weights.get("sha256"),
        "data": f"{describe(args.data)} (ImageFolder)", "layout": "image_folder", "n": len(rows),
        "labels": labels, "no_finding": no_finding, "rule": screener.card.postprocess.get("abstain"),
        "answers_per_true_class": {c["true"]: {a: c[a] for a in answers} for c in confusion},
        "out_of_range_share": round(sum(r["pred"] == OUT_OF_RANGE for r in rows) / len(rows), 4),
        "command": args.command("train.evaluate")}
    if no_finding:
        ok = sum(r["pred"] in (no_finding, OUT_OF_RANGE) for r in rows)
        summary["no_condition_or_out_of_range_share"] = round(ok / len(rows), 4)
    known = [r for r in rows if r["true"] in labels and "p_" + labels[0] in r]
    if known:
        probs = np.array([[r[f"p_{c}"] for c in labels] for r in known], np.float64)
        probs /= probs.sum(1, keepdims=True)
        summary["report_known_classes"] = classification_report(
            [labels.index(r["true"]) for r in known], probs, labels, ks=(1, 3, 5))
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    return summary


def print_face_summary(summary: dict[str, Any]) -> bool:
    """Print a face task's summary (True), or nothing for another task's (False)."""
    if summary.get("layout") == "fasseg":
        lo, hi = summary["mean_iou_face_ci95"]
        print(f"{summary['n_images']} photos of {summary['n_persons']} persons; mean IoU over eyes, nose, "
              f"mouth, skin {summary['mean_iou_face']:.4f} (95% CI {lo:.4f}-{hi:.4f}); per class "
              + ", ".join(f"{k} {v:.3f}" for k, v in summary["iou"].items()))
        return True
    if summary.get("layout") == "image_folder":
        print(f"{summary['n']} photos; out of range {summary['out_of_range_share']:.1%}"
              + (f"; no-condition ({summary['no_finding']}) or out of range "
                 f"{summary['no_condition_or_out_of_range_share']:.1%}" if summary.get("no_finding") else ""))
        for true, answers in summary["answers_per_true_class"].items():
            print(f"{true:>20}: " + ", ".join(f"{a} {n}" for a, n in answers.items() if n))
        return True
    return False
