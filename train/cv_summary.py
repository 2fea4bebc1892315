"""Pool a k-fold cross-validation of the brain model: every patient scored once, by the fold model
that never trained on it.

    for k in 0 1 2 3; do
      python -m train.holdout --data ../shared/data/lgg --folds 4 --fold $k --out runs/lgg_cv$k
      python -m train.evaluate --task brain_tumor --weights runs/lgg_cv_f$k --data runs/lgg_cv$k \\
          --out runs/eval_cv$k
    done
    python -m train.cv_summary --eval runs/eval_cv0 runs/eval_cv1 runs/eval_cv2 runs/eval_cv3 \\
        --out runs/brain_cv --weights weights/brain_tumor/unet --record validation_lgg

Each ``--eval`` folder is what ``train.evaluate`` wrote for one fold on an LGG kaggle_3m folder
(``per_case.csv`` one row per slice, ``per_volume.csv`` one per patient, ``summary.json`` naming the
fold's weights). The folds' rows are pooled and summarised exactly as one evaluation is
(:func:`core.analysis.brain_patients.summarize_patients`: mean per-patient Dice with a bootstrap 95%
interval over patients, false positives on tumour-free slices, ...); a patient in two folds is
refused. ``--record KEY`` writes the pooled figures into a card with ``--recipe``, the words saying
what the fold models are (the folds' training commands are recorded too): ``validation_lgg`` for a
model that is the same recipe trained on every patient, ``recipe_cross_validation`` for context
beside a model's own validation (the pages show both, named as what they are).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.analysis.brain_patients import summarize_patients
from core.evaluation.cache import rows_csv
from core.weights import read_card, write_card
from train.evaluate import patient_record


def _value(text: str) -> Any:
    """A CSV cell back to the bool / int / float / str it was written from."""
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="") as fh:
        return [{k: _value(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def pool_folds(folders: list[Path]) -> tuple[list[dict], list[dict], list[dict[str, Any]]]:
    """(slice rows, patient rows, one description per fold) of the folds' evaluations, each row
    tagged with its ``fold``.

    Raises:
        SystemExit: a folder lacks an evaluation's files, or a patient is in two folds.
    """
    slices, patients, folds, seen = [], [], [], {}
    for k, folder in enumerate(folders):
        try:
            summary = json.loads((folder / "summary.json").read_text())
            fold_slices = read_rows(folder / "per_case.csv")
            fold_patients = read_rows(folder / "per_volume.csv")
        except (OSError, ValueError) as exc:
            raise SystemExit(f"{folder}: not a train.evaluate output of an LGG folder ({exc})") from None
        for row in fold_patients:
            if row["name"] in seen:
                raise SystemExit(f"patient {row['name']} is in fold {seen[row['name']]} and fold {k}: the "
                                 "folds of a cross-validation must not share patients")
            seen[row["name"]] = k
        slices += [{"fold": k, **r} for r in fold_slices]
        patients += [{"fold": k, **r} for r in fold_patients]
        folds.append({"fold": k, "weights": summary.get("weights"), "sha256": summary.get("sha256"),
                      "data": summary.get("data"), "patients": [r["name"] for r in fold_patients]})
    return slices, patients, folds


def _fold_command(weights: str | None) -> str | None:
    """The training command a fold model's card records (None when its folder is gone)."""
    try:
        return read_card(weights).training.get("command") if weights else None
    except Exception:  # noqa: BLE001 - a moved or deleted fold folder only loses the command
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.cv_summary", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eval", type=Path, nargs="+", required=True, help="train.evaluate outputs, one per fold")
    p.add_argument("--out", type=Path, required=True, help="folder for the pooled CSVs and summary.json")
    p.add_argument("--weights", type=Path, help="a weights folder whose card records the pooled figures")
    p.add_argument("--record", help="the card's metrics key to write (with --weights), e.g. validation_lgg")
    p.add_argument("--recipe", help="with --record: what the fold models are, in words (recorded)")
    a = p.parse_args(argv)
    if not (bool(a.weights) == bool(a.record) == bool(a.recipe)):
        p.error("--weights, --record and --recipe go together")
    slices, patients, folds = pool_folds(a.eval)
    summary = summarize_patients(slices, patients)
    command = "python -m train.cv_summary " + " ".join(sys.argv[1:] if argv is None else argv)
    source = (f"LGG kaggle_3m: {len(folds)}-fold cross-validation by patient, every one of the "
              f"{len(patients)} patients scored by the fold model that never trained on it")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "per_case.csv").write_text(rows_csv(slices))
    (a.out / "per_volume.csv").write_text(rows_csv(patients))
    (a.out / "summary.json").write_text(json.dumps({"data": source, "folds": folds, **summary,
                                                    "command": command}, indent=2) + "\n")
    lo, hi = summary["dice_per_patient_ci95"]
    print(f"{len(folds)} folds, {summary['n_patients']} patients: mean per-patient Dice "
          f"{summary['dice_per_patient_mean']:.4f} (95% CI {lo:.4f}-{hi:.4f}), median "
          f"{summary['dice_per_patient_median']:.4f}; false positive on "
          f"{summary['tumour_free_slices_fp_share']:.1%} of {summary['n_tumour_free_slices']} tumour-free "
          f"slices; pooled Dice {summary['pooled_dice']:.4f}")
    if a.weights:
        card = read_card(a.weights)
        record = {**patient_record(summary, source, command), "method": f"{len(folds)}-fold cross-validation",
                  "recipe": a.recipe, "folds": [{**{k: f[k] for k in ("fold", "sha256", "patients")},
                                                 "command": _fold_command(f["weights"])} for f in folds]}
        write_card(a.weights, replace(card, metrics={**card.metrics, a.record: record}))
        print(f"recorded in {a.weights}/model.json as metrics.{a.record}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
