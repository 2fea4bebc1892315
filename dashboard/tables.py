"""Tables built from model cards (read once per rerun, never recomputed on the page)."""
from __future__ import annotations

import math

import pandas as pd

from core.weights import ModelCard


def _get(d: dict, key: str) -> float:
    v = d.get(key)
    return float(v) if isinstance(v, (int, float)) else math.nan


def segmentation_comparison(cards: dict[str, ModelCard], labels: dict[str, str],
                            record: str = "phantom_test",
                            second: tuple[str, str] | None = None) -> pd.DataFrame:
    """One row per model from ``metrics[record]`` and ``metrics.bench`` of its card.

    Columns: the set-level figures ``train.evaluate --record`` stores (Dice on the frames with the
    structure and its 95% interval over subjects, mean Dice under the empty-mask rule, the all-empty
    baseline on the same set, frames without the structure left empty, pooled pixel precision /
    recall / F1, image-level presence accuracy and calibration (ECE); on phantoms also against the
    restored dropped labels), parameters and the benchmarked p50 latency. ``second`` = (record,
    words): the empty frames left empty and the presence ECE of a second record (the same frames
    with another kind of empty frame), headed with those words. Columns no card fills are left out.
    """
    rows = {}
    for name, card in cards.items():
        test, bench = card.metrics.get(record, {}), card.metrics.get("bench", {})
        ci = (f"{test['dice_present_ci_low']:.2f}-{test['dice_present_ci_high']:.2f}"
              if "dice_present_ci_low" in test else "")
        rows[labels.get(name, name)] = {
            "Dice, frames with a nerve": _get(test, "dice_present_mean"),
            "95% CI (subjects)": ci,
            "Mean Dice (empty rule)": _get(test, "mean_dice"),
            "All-empty baseline": _get(test, "all_empty_baseline"),
            "Empty frames left empty": _get(test, "dice_empty_mean"),
            "Presence ECE": _get(test, "presence_ece"),
            **({f"Left empty ({second[1]})": _get(card.metrics.get(second[0], {}), "dice_empty_mean"),
                f"Presence ECE ({second[1]})": _get(card.metrics.get(second[0], {}), "presence_ece")}
               if second else {}),
            "Presence accuracy": _get(test, "presence_accuracy"),
            "Pixel precision": _get(test, "pixel_precision"),
            "Pixel recall": _get(test, "pixel_recall"),
            "Pixel F1": _get(test, "pixel_f1"),
            # Phantoms only: against the labels the generator deliberately dropped, restored.
            "Presence accuracy (restored labels)": _get(test, "presence_accuracy_true_labels"),
            "Dropped labels flagged": (f"{test['missing_labels_flagged']} of {test['missing_labels']}"
                                       if "missing_labels" in test else ""),
            "Parameters (M)": card.weights.get("params", 0) / 1e6,
            "p50 latency (ms)": _get(bench, "p50_ms"),
            "× resnet34 baseline": _get(bench, "ratio_to_baseline_p50"),
            "Frames (subjects)": f"{test['n']} ({test['n_groups']})" if "n_groups" in test else "",
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    return table.drop(columns=[c for c in table if (table[c].isna() | (table[c] == "")).all()])


def screening_votes(result) -> pd.DataFrame:
    """One row per ensemble member (its weight, its top class and every class's probability),
    then the weighted mean the prediction uses (a :class:`core.face.screening.ScreeningResult`)."""
    def pretty(name: str) -> str:
        return "whole face" if name == "whole_face" else name.replace("_", " ")

    rows = []
    for member, probs in result.member_probs.items():
        rows.append({"member": pretty(member), "weight": result.member_weights.get(member, 1.0),
                     "vote": pretty(result.labels[int(probs.argmax())]),
                     **{pretty(c): float(p) for c, p in zip(result.labels, probs)}})
    rows.append({"member": "ENSEMBLE (weighted mean)", "weight": float(sum(result.member_weights.values())),
                 "vote": pretty(result.labels[result.top_index]),
                 **{pretty(c): float(p) for c, p in zip(result.labels, result.probs)}})
    return pd.DataFrame(rows)
