"""What a model card says about its validation on real data, in metric tiles and plain words."""
from __future__ import annotations

import math
from typing import Any

import streamlit as st

from core.analysis.fetal_validation import format_block
from core.weights import ModelCard


def other_tests(card: ModelCard) -> list[str]:
    """One phrase per further Dice test in the card (``metrics.phantom_test_<name>``, e.g. the brain
    model's real-slice test): its data, Dice and, where recorded, HD95 and healthy cases left clean."""
    out = []
    for key, report in card.metrics.items():
        if not key.startswith("phantom_test_") or not isinstance(report, dict) or "dice_mean" not in report:
            continue
        words = f"{report.get('data', key)}: Dice {report['dice_mean']:.3f}"
        if "hd95_mm_mean" in report and math.isfinite(report["hd95_mm_mean"]):
            words += f", HD95 {report['hd95_mm_mean']:.1f} mm"
        if report.get("n_healthy"):
            clean = round(report.get("healthy_clean_share", 0.0) * report["n_healthy"])
            words += f", {clean} of {report['n_healthy']} healthy cases left clean"
        out.append(words)
    return out


# The kinds of real validation record, each by the key only it carries, in the order they are
# told apart: a fetal record also carries the frame figures (dice_present_*) of every segmentation.
REPORT_KINDS = (("parser", "mean_iou_face_ci95"), ("patients", "dice_per_patient_mean"),
                ("fetal", "hc_report"), ("frames", "dice_present_mean"))


def report_kind(report: dict[str, Any]) -> str | None:
    """Which kind of real validation a card's ``metrics`` record is (:data:`REPORT_KINDS`), or None."""
    return next((kind for kind, key in REPORT_KINDS if key in report), None)


def real_validation(card: ModelCard) -> tuple[str, dict[str, Any]] | None:
    """The card's validation on real labelled data: a ``metrics`` record with an ``hc_report``
    (fetal frames), per-patient Dice (LGG brain patients, ``train.evaluate`` on kaggle_3m) or Dice
    on frames with and without the structure (nerve subjects), per-class IoU of a face parser on
    held-out persons; phantom tests are not."""
    for key, report in card.metrics.items():
        if (not key.startswith(("phantom_test", RECIPE_CV)) and key != UNSEEN_PROXY
                and isinstance(report, dict) and report_kind(report)):
            return key, report
    return None


# A card may also carry a cross-validation of its training RECIPE (not of its own weights: models
# of the same recipe, each trained without one fold of patients): the context its own, smaller
# validation needs. ``train.cv_summary --record recipe_cross_validation`` writes it.
RECIPE_CV = "recipe_cross_validation"


# A nerve card may also carry its scores on the held-out frames with a second kind of proxy empty
# frame, one it never trained on (zoomed windows that miss the nerve, train/empty_crops.py): how its
# empty-frame behaviour carries over to empty frames unlike its training ones, as real ones will be.
UNSEEN_PROXY = "validation_real_zoomed"


CALIBRATED_ECE = 0.1  # a presence probability this close to observed frequencies may flag labels
OWN_RECORD = "validation_real"  # a nerve card's held-out real frames with the proxies it trained on


def presence_calibrated(card: ModelCard) -> bool:
    """Whether the card's presence probability held (ECE <= :data:`CALIBRATED_ECE`) on the held-out
    real frames with EVERY kind of proxy empty frame its card records: the kind it trained on and,
    where recorded, the unseen kind."""
    eces = [card.metrics.get(r, {}).get("presence_ece") for r in (OWN_RECORD, UNSEEN_PROXY)]
    eces = [float(e) for e in eces if e is not None]
    return bool(eces) and max(eces) <= CALIBRATED_ECE


def unseen_proxy_line(card: ModelCard) -> str | None:
    """The card's scores on the unseen kind of proxy empty frame in words, or None."""
    rec = card.metrics.get(UNSEEN_PROXY)
    if not isinstance(rec, dict) or "dice_empty_mean" not in rec:
        return None
    n = rec.get("dice_empty_n", "?")
    return (f"On a kind of proxy empty frame it never trained on ({n} zoomed windows "
            f"of the held-out frames that miss the nerve): {rec['dice_empty_mean']:.1%} left empty "
            f"({_ci(rec, 'dice_empty')}), mean Dice under the empty rule {rec['mean_dice']:.3f}, presence "
            f"ECE {rec.get('presence_ece', math.nan):.3f}. Real empty frames are unlike both kinds of proxy.")


def recipe_cvs(card: ModelCard) -> list[dict[str, Any]]:
    """The card's recipe cross-validations, in card order: ``recipe_cross_validation`` and any
    ``recipe_cross_validation_<draw>`` (the same recipe run again, e.g. with another seed dealing
    the patients into other folds)."""
    return [cv for key, cv in card.metrics.items() if key.startswith(RECIPE_CV) and isinstance(cv, dict)
            and "dice_per_patient_mean" in cv]


def recipe_cv_line(card: ModelCard) -> str | None:
    """The card's recipe cross-validations in words (every draw, and their mean when several), or None."""
    cvs = recipe_cvs(card)
    if not cvs:
        return None

    def figures(cv: dict[str, Any]) -> str:
        lo, hi = cv["dice_per_patient_ci95"]
        return (f"per-patient Dice {cv['dice_per_patient_mean']:.3f} (95% CI {lo:.2f}-{hi:.2f}, median "
                f"{cv['dice_per_patient_median']:.3f}); false positives on "
                f"{cv['tumour_free_slices_fp_share']:.1%} of tumour-free slices")

    first, *again = cvs
    text = (f"{first.get('method', 'Cross-validation').capitalize()} over {first['n_patients']} patients "
            f"of {first.get('recipe', 'models like this one')}, each patient scored by the fold model that "
            f"never trained on it: {figures(first)}.")
    for cv in again:
        again_recipe = cv.get("recipe", "another run of the same recipe")
        text += f" {again_recipe[:1].upper()}{again_recipe[1:]}: {figures(cv)}."
    if again:
        mean = sum(cv["dice_per_patient_mean"] for cv in cvs) / len(cvs)
        text += f" The recipe's mean over these {len(cvs)} runs: {mean:.3f}; one run is one draw."
    return text + (" With this few patients it is a better guide than a single split to how such models do "
                   "on new patients.")


def validation_line(card: ModelCard) -> str:
    """The card's real validation in one line for a report (or that it has none)."""
    found = real_validation(card)
    if found is None:
        return "No validation on real labelled data in its card."
    report = found[1]
    data = report.get("data", "held-out real data")
    kind = report_kind(report)
    if kind == "parser":
        lo, hi = report["mean_iou_face_ci95"]
        return (f"Validation ({data}): mean IoU eyes/nose/mouth/skin {report['mean_iou_face']:.3f} "
                f"(95% CI {lo:.2f}-{hi:.2f}), n={report['n_images']} photos of "
                f"{report['n_persons']} persons.")
    if kind == "patients":
        lo, hi = report["dice_per_patient_ci95"]
        return (f"Validation ({data}): per-patient Dice {report['dice_per_patient_mean']:.3f} "
                f"(95% CI {lo:.2f}-{hi:.2f}), n={report['n_patients']} patients.")
    if kind == "frames":
        return (f"Validation ({data}): Dice on frames with a nerve {report['dice_present_mean']:.3f} "
                f"({_ci(report, 'dice_present')}), n={report['dice_present_n']} frames.")
    return f"Validation ({data}): {format_block(report['hc_report']['all'])}."


def card_line(name: str, card: ModelCard) -> str:
    """A model card in one line for a report: its name and title, what trained it, its validation."""
    return (f"{name} ({card.title}): trained on {card.training.get('data', 'unknown data')}. "
            f"{validation_line(card)}")


def _ci(report: dict[str, Any], key: str) -> str:
    return f"95% CI {report[f'{key}_ci_low']:.2f}-{report[f'{key}_ci_high']:.2f}"


def _frame_validation_rows(report: dict[str, Any]) -> None:
    """Frames of held-out subjects, some with the structure and some without (nerve)."""
    n_pos, n_empty = report["dice_present_n"], report.get("dice_empty_n", 0)
    cols = st.columns(4)
    cols[0].metric("Validation Dice, frames with a nerve", f"{report['dice_present_mean']:.3f}",
                   help=_ci(report, "dice_present") + f" (bootstrap over subjects); n={n_pos} frames")
    cols[1].metric("Mean Dice, empty rule", f"{report['mean_dice']:.3f}",
                   help=_ci(report, "mean_dice") + f"; {n_empty} of {report['n']} frames have no nerve "
                        f"(predicting none everywhere scores {report['all_empty_baseline']:.3f})")
    if n_empty:
        cols[2].metric("Empty frames left empty", f"{report['dice_empty_mean']:.1%}",
                       help=_ci(report, "dice_empty"))
    if "presence_ece" in report:
        cols[3].metric("Presence ECE", f"{report['presence_ece']:.3f}",
                       help="Expected calibration error of the nerve-present probability (10 bins); 0 is "
                            "perfectly calibrated")
    st.caption(f"Validation data: {report.get('data', '?')}. Dice on frames with a nerve "
               f"{report['dice_present_mean']:.3f} ({_ci(report, 'dice_present')}, n={n_pos} frames of "
               f"{report.get('n_groups', '?')} subjects).")


def _patient_validation_rows(report: dict[str, Any]) -> None:
    lo, hi = report["dice_per_patient_ci95"]
    cols = st.columns(4)
    cols[0].metric("Validation Dice per patient", f"{report['dice_per_patient_mean']:.3f}",
                   help=f"95% CI {lo:.2f}-{hi:.2f} (bootstrap over patients); each patient's Dice from the "
                        "true/false positive and false negative pixels summed over all its slices")
    cols[1].metric("Validation patients", f"{report['n_patients']}", help=f"{report['n_slices']} slices")
    cols[2].metric("False positives on tumour-free slices", f"{report['tumour_free_slices_fp_share']:.1%}",
                   help="Share of the slices without tumour on which the model marks any tumour")
    cols[3].metric("Predicted / true volume", f"{report['volume_ratio_pred_true']:.2f}",
                   help="Summed over the validation patients; 1 is right, below 1 under-segments")
    st.caption(f"Validation data: {report.get('data', '?')}. Per-patient Dice "
               f"{report['dice_per_patient_mean']:.3f} (95% CI {lo:.2f}-{hi:.2f}, n={report['n_patients']} "
               f"patients; median {report['dice_per_patient_median']:.3f}). With so few patients the "
               "interval is wide: read it as a range, not a guarantee.")


def _parser_validation_rows(report: dict[str, Any]) -> None:
    """Photos of held-out persons with expert labels (the face parser)."""
    lo, hi = report["mean_iou_face_ci95"]
    iou = report["iou"]
    cols = st.columns(4)
    cols[0].metric("Validation mean IoU (eyes, nose, mouth, skin)", f"{report['mean_iou_face']:.3f}",
                   help=f"95% CI {lo:.2f}-{hi:.2f} (bootstrap over persons); per photo, then averaged")
    cols[1].metric("Validation photos", f"{report['n_images']}", help=f"{report['n_persons']} persons")
    cols[2].metric("Eyes IoU", f"{iou['eyes']:.3f}")
    cols[3].metric("Pixel accuracy", f"{report['pixel_accuracy']:.1%}")
    by_set = "; ".join(f"{k}: {v['mean_iou_face']:.3f} (n={v['n_images']})"
                       for k, v in report.get("by_set", {}).items())
    classes = ", ".join(f"{k} {v:.3f}" for k, v in iou.items())
    st.caption(f"Validation data: {report.get('data', 'held-out persons of the training data')}. Per class: "
               f"{classes}" + (f". By set: {by_set}." if by_set else "."))


def real_validation_rows(report: dict[str, Any]) -> None:
    """A card's real validation as metric tiles and a caption (the kinds :func:`real_validation` finds)."""
    kind = report_kind(report)
    if kind != "fetal":
        {"parser": _parser_validation_rows, "patients": _patient_validation_rows,
         "frames": _frame_validation_rows}[kind](report)
        return
    hc = report["hc_report"]
    block = hc["all"]
    err, dice, hd = block["hc_abs_error_mm"], block["dice"], block["hd95_mm"]
    ci = lambda b, unit="": f"95% CI {b['ci95'][0]:.2f}-{b['ci95'][1]:.2f}{unit}"  # noqa: E731
    cols = st.columns(4)
    cols[0].metric("Validation |HC error|", f"{err['mean']:.2f} mm",
                   help=ci(err, " mm") + "; a frame without a measured head counts as a full miss")
    cols[1].metric("Validation Dice", f"{dice['mean']:.3f}", help=ci(dice))
    cols[2].metric("Validation HD95", f"{hd['mean']:.2f} mm", help=ci(hd, " mm"))
    cols[3].metric("Validation frames", f"{block['n']}", help=f"{block['missed']} without a measured head")
    bands = "; ".join(f"{name}: {b['hc_abs_error_mm']['mean']:.2f} mm ({ci(b['hc_abs_error_mm'])}, "
                      f"n={b['n']})" for name, b in hc["bands"].items() if b["hc_abs_error_mm"]["n"])
    st.caption(f"Validation data: {report.get('data', '?')}. HC |error| by head size: {bands}.")
    if "spread" in hc:
        sp = hc["spread"]
        st.caption(f"The test-time spread tracks the error with Spearman rho {sp['spearman_rho']:.2f} "
                   f"(n={sp['n']}); {sp['uncertain_n']} frames were called uncertain.")
