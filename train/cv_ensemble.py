"""Cross-validate an ensemble of brain fold models without training: each patient is segmented by the
average of the tumour probabilities of every given model that never trained on it (its card's
``training.train_groups``), then the first such model's threshold and post-processing.

    python -m train.cv_ensemble --data ../shared/data/lgg --out runs/brain_cv_ens \\
        --models runs/cvmed_f0 runs/cvmed_f1 runs/cvmed_f2 runs/cvmed_f3 \\
                 runs/s1med_f0 runs/s1med_f1 runs/s1med_f2 runs/s1med_f3

With the fold models of two cross-validation draws (``make brain-cv`` and ``make brain-cv CV_SEED=1``),
every patient gets one model of each draw: the cross-validated figure of a two-model ensemble of the
recipe. (Its members differ in their training patients as well as their seed, so it overstates how
much two models trained on the same patients would differ.) Writes what ``train.evaluate`` writes for
an LGG folder: ``per_case.csv`` (one row per slice), ``per_volume.csv`` (one per patient, with the
``members`` that scored it) and ``summary.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.analysis.brain_patients import model_input, patient_row, slice_rows, summarize_patients
from core.datasets import read_kaggle_3m_volumes
from core.predict.volume import VolumeSegmentation, VolumeSegmenter
from core.weights import ModelCard, read_card
from train.evaluate import write_rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m train.cv_ensemble", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True,
                   help="an LGG kaggle_3m folder (as train.evaluate reads)")
    p.add_argument("--models", type=Path, nargs="+", required=True,
                   help="fold model folders whose cards name their training patients")
    p.add_argument("--out", type=Path, required=True)
    return p.parse_args(argv)


def read_cards(folders: list[Path]) -> dict[Path, ModelCard]:
    """The models' cards, checked to read their input the same way and to name their training patients.

    Raises:
        SystemExit: a card lacks ``training.train_groups``, two cards differ in input or labels, or a
            card has a presence threshold (its gate needs the network's presence output).
    """
    cards = {f: read_card(f) for f in folders}
    first = next(iter(cards.values()))
    for folder, card in cards.items():
        if not card.training.get("train_groups"):
            raise SystemExit(f"{folder}: its card does not name its training patients "
                             "(training.train_groups), so the patients it never saw are unknown")
        if (card.task, card.input, card.sequences, list(card.labels)) != (
                first.task, first.input, first.sequences, list(first.labels)):
            raise SystemExit(f"{folder}: its input ({card.input}) differs from {next(iter(cards))}'s; "
                             "an ensemble needs the same input")
        if float(card.postprocess.get("presence_threshold", 0.0)) > 0:
            raise SystemExit(f"{folder}: its card gates slices on the network's presence output, which "
                             "probabilities alone cannot average; not supported")
    return cards


def unseen_by(cards: dict[Path, ModelCard], patient: str) -> list[Path]:
    """The models that never trained on ``patient``, in the given order."""
    return [f for f, c in cards.items() if patient not in set(c.training["train_groups"])]


def average(members: list[VolumeSegmenter], voxels: np.ndarray) -> VolumeSegmentation:
    """The members' probabilities averaged, then the first member's threshold and post-processing."""
    segs = [m.predict(voxels) for m in members]
    prob = np.mean([s.prob for s in segs], axis=0).astype(np.float32)
    mean = VolumeSegmentation(prob, segs[0].mask, segs[0].threshold, segs[0].slices_run)
    return members[0].rethreshold(mean)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    cards = read_cards(args.models)
    models: dict[Path, VolumeSegmenter] = {}
    slices: list[dict[str, Any]] = []
    patients: list[dict[str, Any]] = []
    for case in read_kaggle_3m_volumes(args.data):
        chosen = unseen_by(cards, case.name)
        if case.label is None or not chosen:
            why = "no masks" if case.label is None else "every model trained on it"
            print(f"{case.name}: not scored ({why})", file=sys.stderr)
            continue
        for f in chosen:
            if f not in models:  # each model loaded once
                models[f] = VolumeSegmenter.from_folder(f)
        members = [models[f] for f in chosen]
        t0 = time.perf_counter()
        seg = average(members, model_input(case, members[0].card.sequences))
        rows = slice_rows(case, seg.mask)
        slices += rows
        patients.append({**patient_row(case.name, rows, time.perf_counter() - t0),
                         "members": " ".join(str(f) for f in chosen)})
        print(f"{case.name}: Dice {patients[-1]['dice']:.3f} ({len(chosen)} models)", file=sys.stderr)
    if not patients:
        raise SystemExit(f"{args.data}: no labelled patient that some model never trained on")
    args.out.mkdir(parents=True, exist_ok=True)
    write_rows(args.out / "per_case.csv", slices)
    write_rows(args.out / "per_volume.csv", patients)
    summary = {"data": str(args.data), "layout": "kaggle_3m", "models": [str(f) for f in args.models],
               "ensemble": "per patient, the mean probability of the models that never trained on it; "
                           "the first one's threshold and post-processing",
               "n": len(patients), **summarize_patients(slices, patients),
               "command": " ".join(["python -m train.cv_ensemble", *argv])}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lo, hi = summary["dice_per_patient_ci95"]
    print(f"{len(patients)} patients: mean per-patient Dice {summary['dice_per_patient_mean']:.4f} (95% CI "
          f"{lo:.4f}-{hi:.4f}); false positive on {summary['tumour_free_slices_fp_share']:.1%} of the "
          "tumour-free slices")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
