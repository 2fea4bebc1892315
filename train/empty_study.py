"""Which proxy empty frames teach a nerve model to leave real empty frames empty: the table.

The shared Kaggle copy holds only frames with a nerve, so empty frames are made
(:mod:`train.transplant`: the nerve covered in place; :mod:`train.empty_crops`: a zoomed window that
misses it). A model trained on one kind and scored on the other meets an empty frame unlike any it
trained on, as it will meet real empty frames; that is the test of a proxy. ``make
nerve-empty-study`` trains one architecture on each choice (none, covered, zoomed, both) for the
same number of optimiser steps, scores each on the held-out subjects' frames with each kind of
proxy (``train.holdout --transplant-empty`` / ``--crop-empty``) and prints this table:

    python -m train.empty_study --model covered runs/empty_cmp/eval_transplant_nerve_val \\
        runs/empty_cmp/eval_transplant_nerve_val_crop --model ... [--json OUT]

Each ``--model NAME COVERED ZOOMED`` names two ``train.evaluate`` output folders of one model: on
the covered proxies and on the zoomed ones (the same real frames with a nerve in both).
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

COLUMNS = (  # header, which evaluation, key of its summary's "set", key of the interval (low / high)
    ("Dice, frames with a nerve (95% CI)", "covered", "dice_present_mean", "dice_present_ci"),
    ("covered proxies left empty (95% CI)", "covered", "dice_empty_mean", "dice_empty_ci"),
    ("zoomed proxies left empty (95% CI)", "zoomed", "dice_empty_mean", "dice_empty_ci"),
    ("mean Dice, empty rule, covered", "covered", "mean_dice", None),
    ("mean Dice, empty rule, zoomed", "zoomed", "mean_dice", None),
    ("presence ECE, covered", "covered", "presence_ece", None),
    ("presence ECE, zoomed", "zoomed", "presence_ece", None),
)


def read_set(folder: Path) -> dict:
    """The set-level figures of one ``train.evaluate`` output folder."""
    try:
        return json.loads((Path(folder) / "summary.json").read_text())["set"]
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(f"{folder}: no train.evaluate summary with set figures ({exc})") from exc


def _cell(figures: dict, key: str, ci: str | None) -> str:
    value = figures.get(key, math.nan)
    if value is None or not math.isfinite(value):
        return "-"
    if ci and f"{ci}_low" in figures:
        return f"{value:.3f} ({figures[f'{ci}_low']:.2f}-{figures[f'{ci}_high']:.2f})"
    return f"{value:.3f}"


def study_rows(models: list[tuple[str, Path, Path]]) -> list[dict[str, str]]:
    """One row per model: its name and each of :data:`COLUMNS`, formatted."""
    rows = []
    for name, covered, zoomed in models:
        sets = {"covered": read_set(covered), "zoomed": read_set(zoomed)}
        row = {"trained with": name}
        for header, which, key, ci in COLUMNS:
            row[header] = _cell(sets[which], key, ci)
        row["frames (subjects)"] = (f"{sets['covered'].get('n', '?')} / {sets['zoomed'].get('n', '?')} "
                                    f"({sets['covered'].get('n_groups', '?')})")
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, str]]) -> str:
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    lines += ["| " + " | ".join(r[h] for h in head) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.empty_study", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs=3, action="append", required=True, metavar=("NAME", "COVERED", "ZOOMED"),
                   help="a model's name and its train.evaluate folders on the covered and zoomed proxies")
    p.add_argument("--json", type=Path, help="also write the rows here")
    a = p.parse_args(argv)
    rows = study_rows([(n, Path(c), Path(z)) for n, c, z in a.model])
    print(markdown(rows))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
