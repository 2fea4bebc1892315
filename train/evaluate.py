"""Evaluate a weights folder on a dataset folder or on fresh phantoms.

    python -m train.evaluate --task fetal_head --weights weights/fetal_head/unet \\
        --data /data/HC18 --out runs/eval_unet
    python -m train.evaluate --task fetal_head --weights weights/fetal_head/unet \\
        --phantoms 200 --phantom-seed 9001 --out runs/phantom_test --record phantom_test

    python -m train.evaluate --task nerve --weights weights/nerve/unet \
        --phantoms 200 --phantom-seed 9001 --out runs/nerve_test --record phantom_test

Writes ``per_case.csv`` (Dice, IoU, HD95 mm, HC predicted / reference / absolute difference;
presence probability and a suspect-label flag for models with a presence head) and
``summary.json`` (mean, SD, median per metric, plus the set-level figures: mean Dice under the
empty-mask rule beside the all-empty baseline, pooled pixel precision / recall / F1, image-level
presence confusion). On an HC18 folder with a ``test_set``, or a Kaggle nerve folder with a
``test/``, it also writes ``submission.csv`` in that challenge's format. ``--record NAME`` stores
the summary in the model card under ``metrics.NAME`` (the weights file and its sha256 are not
touched).

With ``--task face_regions``, a FASSEG-layout folder (``RGB/`` + ``labels/``) gives per-photo,
per-class IoU (train/evaluate_face.py; ``--save-masks`` writes the predicted label images); with
``--task face_screening``, an ImageFolder gives one row per photo with ``true`` and ``pred`` (a class
or ``out_of_range``).

With ``--task brain_tumor``, an LGG kaggle_3m folder (one holding ``kaggle_3m/``, it, or one patient)
gives ``per_case.csv`` with one row per slice, ``per_volume.csv`` with one row per patient (Dice of
the tp/fp/fn summed over its slices) and the mean per-patient Dice with a 95% bootstrap interval;
a 1-channel model reads FLAIR, a 3-channel one all three sequences.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.analysis.brain import evaluate_volumes, summarize_volumes
from core.analysis.brain_patients import evaluate_patients, summarize_patients
from core.analysis.fetal_validation import format_block, hc_report
from core.datasets import read_hc18, read_kaggle_3m_volumes, read_kaggle_nerve, read_nifti_pairs
from core.datasets.kaggle_3m import patient_folders
from core.evaluation import Evaluation, set_metrics, summarize_rows
from core.evaluation.cache import rows_csv
from core.evaluation.engine import collect, predict_stream
from core.predict import Segmenter, VolumeSegmenter
from core.rle import rle_encode
from core.tasks import get_task, task_names
from core.weights import read_card, write_card
from train.config import RunConfig
from train.data import dataset_cases, dataset_layout, phantom_cases, phantom_volume_cases
from train.evaluate_face import evaluate_face_regions, evaluate_face_screening, print_face_summary
from train.holdout import describe

log = logging.getLogger("train.evaluate")
CARD_METRICS = ("dice", "iou", "precision", "recall", "hd95_mm", "hc_abs_diff_mm")
SUBMISSION_COLUMNS = ("filename", "center_x_mm", "center_y_mm", "semi_axes_a_mm", "semi_axes_b_mm",
                      "angle_rad")


@dataclass(frozen=True, kw_only=True)
class EvaluateConfig(RunConfig):
    """What a ``train.evaluate`` run is given (the options' help says what each field means)."""

    task: str
    weights: Path
    out: Path
    data: Path | None = None
    phantoms: int | None = None
    phantom_seed: int = 9001
    batch_size: int = 4
    real_slice: bool = False
    save_masks: bool = False
    record: str | None = None


def parse_args(argv: list[str] | None = None) -> EvaluateConfig:
    """The configuration from a command line (``sys.argv[1:]`` when ``argv`` is None)."""
    p = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, choices=sorted([*task_names(evaluable=True), "face_screening"]))
    p.add_argument("--weights", required=True, type=Path, help="weights folder (model.json + safetensors)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="dataset folder in one of the task's layouts (nerve: Kaggle "
                     "train/ or images/ + masks/)")
    src.add_argument("--phantoms", type=int, help="evaluate on N fresh phantoms")
    p.add_argument("--phantom-seed", type=int, default=9001,
                   help="phantom seed; pick one never used in training (default 9001)")
    p.add_argument("--out", required=True, type=Path, help="output folder for CSV and JSON")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--real-slice", action="store_true",
                   help="brain_tumor phantoms: tumours in matplotlib's real s1045 slice, not head volumes")
    p.add_argument("--save-masks", action="store_true",
                   help="face_regions: write masks/<stem>.png, the predicted labels in FASSEG's palette")
    p.add_argument("--record", metavar="NAME", help="store the summary in the card as metrics.NAME")
    tokens = sys.argv[1:] if argv is None else list(argv)
    return EvaluateConfig.from_args(p.parse_args(tokens), tokens)


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write dict rows as CSV with the union of their keys (first-seen order)."""
    path.write_text(rows_csv(rows))


def write_submission(path: Path, ev: Evaluation) -> int:
    """HC18 challenge CSV; frames without an ellipse get NaN and are counted in the log."""
    missing = 0
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(SUBMISSION_COLUMNS)
        for r in ev.rows:
            missing += math.isnan(r.get("semi_axes_a_mm", math.nan))
            w.writerow([r["name"], *(f"{r.get(c, math.nan):.6f}" for c in SUBMISSION_COLUMNS[1:])])
    return missing


def write_nerve_submission(path: Path, seg: Segmenter, cases: Any, batch_size: int = 4) -> int:
    """Kaggle nerve CSV (``img,pixels``: image number, run-length mask); returns the row count."""
    n = 0
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("img", "pixels"))
        for case, res in predict_stream(seg, cases, batch_size=batch_size):
            w.writerow((Path(case.name).stem, rle_encode(res.mask)))
            n += 1
    return n


def flat_set_metrics(ev: Evaluation) -> dict[str, Any]:
    """:func:`core.evaluation.set_metrics` flattened for the card (``presence_*`` keys)."""
    if not any("true_present" in r for r in ev.rows):
        return {}
    sm = set_metrics(ev.rows)
    presence = sm.pop("presence")
    return {**sm, **{f"presence_{k}": v for k, v in presence.items()}}


def _run(seg: Segmenter, cases: Any, total: int | None, args: EvaluateConfig,
         desc: str) -> Evaluation:
    """The lab engine (:func:`core.evaluation.engine.collect`) on one model, with a progress bar."""
    bar = tqdm(total=total, desc=desc, unit="case")
    result = collect({"model": seg}, cases, task=args.task, batch_size=args.batch_size,
                     progress=lambda done, _: bar.update(done - bar.n))
    bar.close()
    rows = result.rows["model"]
    return Evaluation(rows, summarize_rows(rows))


def evaluate_patients_cli(args: EvaluateConfig, vseg: VolumeSegmenter) -> dict[str, Any]:
    """LGG kaggle_3m: each patient's slices as one volume; ``per_case.csv`` one row per slice,
    ``per_volume.csv`` one per patient (Dice of the summed tp/fp/fn), ``summary.json``."""
    n = len(patient_folders(args.data)[1])
    bar = tqdm(total=n, desc="patients", unit="patient")
    slices, patients = evaluate_patients(vseg, read_kaggle_3m_volumes(args.data),
                                         progress=lambda done: bar.update(done - bar.n))
    bar.close()
    args.out.mkdir(parents=True, exist_ok=True)
    write_rows(args.out / "per_case.csv", slices)
    write_rows(args.out / "per_volume.csv", patients)
    source = f"{describe(args.data)} (LGG kaggle_3m; model input: " \
             f"{'FLAIR' if vseg.segmenter.channels == 1 else 'pre-contrast, FLAIR, post-contrast'})"
    summary = {"weights": str(args.weights), "sha256": vseg.card.weights.get("sha256"), "data": source,
               "layout": "kaggle_3m", "n": len(patients), **summarize_patients(slices, patients),
               "command": args.command("train.evaluate")}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.record:
        card = read_card(args.weights)
        record = patient_record(summary, source, summary["command"])
        write_card(args.weights, replace(card, metrics={**card.metrics, args.record: record}))
    return summary


def patient_record(summary: dict[str, Any], source: str, command: str) -> dict[str, Any]:
    """What a card records of :func:`core.analysis.brain_patients.summarize_patients`' figures
    (``metrics.validation_lgg``: the page, the README and the home tiles read it)."""
    keys = ("n_patients", "n_slices", "n_tumour", "dice_per_patient_mean", "dice_per_patient_median",
            "dice_per_patient_ci95", "tumour_free_slices_fp_share", "pooled_dice", "volume_ratio_pred_true")
    return {"data": source, "per": "patient (Dice of the tp/fp/fn summed over its slices)",
            **{k: summary[k] for k in keys},
            **{f"{k}_{s}": v[s] for k, v in summary["metrics"].items() for s in ("mean", "sd", "median")},
            "command": command}


def evaluate_brain(args: EvaluateConfig) -> dict[str, Any]:
    """Brain tumour: whole volumes through the slice model, scored per volume (Dice, IoU, HD95 in mm,
    tumour volume in mL); ``--phantoms N`` means N procedural phantom volumes. An LGG kaggle_3m
    folder is scored per slice and per patient (:func:`evaluate_patients_cli`)."""
    vseg = VolumeSegmenter.from_folder(args.weights, batch=args.batch_size)
    if args.data is not None and patient_folders(args.data)[1]:
        return evaluate_patients_cli(args, vseg)
    if args.phantoms:
        cases = phantom_volume_cases(args.phantoms, args.phantom_seed, args.real_slice)
        source = (f"{args.phantoms} tumours inserted into the real s1045 MRI slice (one slice each), seed "
                  f"{args.phantom_seed}" if args.real_slice else
                  f"{args.phantoms} procedural brain phantom volumes, seed {args.phantom_seed}")
    else:
        cases, source = read_nifti_pairs(args.data), str(args.data)
    bar = tqdm(total=args.phantoms, desc="volumes", unit="volume")
    rows = evaluate_volumes(vseg, cases, progress=lambda done: bar.update(done - bar.n))
    bar.close()
    args.out.mkdir(parents=True, exist_ok=True)
    write_rows(args.out / "per_volume.csv", rows)
    summary = {"weights": str(args.weights), "sha256": vseg.card.weights.get("sha256"), "data": source,
               "n": len(rows), **summarize_volumes(rows),
               "command": args.command("train.evaluate")}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.record:
        card = read_card(args.weights)
        record = {"data": source, "n_volumes": len(rows), "n_tumour": summary["n_tumour"],
                  "per": "volume (tumour volumes only; healthy volumes below)",
                  **{f"{k}_{s}": v[s] for k, v in summary["metrics"].items()
                     for s in ("mean", "sd", "median")},
                  **{k: summary[k] for k in ("n_healthy", "healthy_clean_share", "healthy_false_ml_mean")
                     if k in summary}, "command": summary["command"]}
        write_card(args.weights, replace(card, metrics={**card.metrics, args.record: record}))
    return summary


def evaluate(args: EvaluateConfig) -> dict[str, Any]:
    """Run the evaluation and write its files; returns the summary written to JSON."""
    task = get_task(args.task)
    if task.name == "brain_tumor":
        return evaluate_brain(args)
    face = {"face_regions": evaluate_face_regions, "face_screening": evaluate_face_screening}.get(task.name)
    if face is not None:  # train/evaluate_face.py
        return face(args)
    seg = Segmenter.from_folder(args.weights)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.phantoms:
        cases = phantom_cases(task, args.phantoms, args.phantom_seed)
        source = f"{args.phantoms} phantoms, seed {args.phantom_seed}"
    else:
        cases = dataset_cases(task, args.data)
        source = describe(args.data)
    ev = _run(seg, cases, args.phantoms, args, "evaluate")
    write_rows(args.out / "per_case.csv", ev.rows)
    summary = {"weights": str(args.weights), "sha256": seg.card.weights.get("sha256"),
               "data": source, "n": len(ev.rows), "metrics": ev.summary,
               "set": flat_set_metrics(ev),
               "command": args.command("train.evaluate")}
    if task.name == "fetal_head":
        summary["hc_report"] = hc_report(ev.rows)
    if args.data and task.layout == "hc18" and (args.data / "test_set").is_dir():
        test = _run(seg, read_hc18(args.data, "test_set"), None, args, "test_set")
        summary["submission_missing"] = write_submission(args.out / "submission.csv", test)
    if args.data and dataset_layout(task, args.data) == "kaggle_nerve" and (args.data / "test").is_dir():
        summary["submission_rows"] = write_nerve_submission(
            args.out / "submission.csv", seg, read_kaggle_nerve(args.data, "test"), args.batch_size)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.record:
        card = read_card(args.weights)
        record = {"data": source, "n": len(ev.rows), "command": summary["command"],
                  **{f"{k}_{s}": v[s] for k, v in ev.summary.items() if k in CARD_METRICS
                     for s in ("mean", "sd", "median")}, **summary["set"],
                  **({"hc_report": summary["hc_report"]} if "hc_report" in summary else {})}
        write_card(args.weights, replace(card, metrics={**card.metrics, args.record: record}))
    return summary


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    summary = evaluate(args)
    if summary.get("layout") == "kaggle_3m":
        lo, hi = summary["dice_per_patient_ci95"]
        print(f"{summary['n_patients']} patients, {summary['n_slices']} slices; per-patient Dice (summed "
              f"tp/fp/fn) {summary['dice_per_patient_mean']:.4f} (95% CI {lo:.4f}-{hi:.4f}); false positive "
              f"on {summary['tumour_free_slices_fp_share']:.1%} of {summary['n_tumour_free_slices']} "
              "tumour-free slices")
    elif print_face_summary(summary):
        return 0
    elif "n_tumour" in summary:
        print(f"{summary['n_tumour']} volumes with tumour, {summary['n_healthy']} healthy")
    for k, v in summary["metrics"].items():
        print(f"{k:>16}: {v['mean']:.4f} +- {v['sd']:.4f} (median {v['median']:.4f}, n={v['n']})")
    for k, v in summary.get("set", {}).items():
        print(f"{k:>26}: {v:.4f}" if isinstance(v, float) else f"{k:>26}: {v}")
    if "hc_report" in summary:
        rep = summary["hc_report"]
        print("HC over every frame (no head measured = full miss):")
        print(f"{'all':>12}: {format_block(rep['all'])}")
        for band, block in rep["bands"].items():
            print(f"{band:>12}: {format_block(block)}")
        if "spread" in rep:
            sp = rep["spread"]
            print(f"test-time spread vs |HC error|: Spearman rho {sp['spearman_rho']:.2f} "
                  f"(p={sp['p_value']:.3g}, "
                  f"n={sp['n']}); {sp['uncertain_n']} frames called uncertain")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
