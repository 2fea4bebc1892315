"""Ultrasound nerve segmentation: four architectures on the same frame and over a held-out set."""
from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from core import metrics
from core.evaluation.schema import SUSPECT_PRESENCE
from core.overlay import (
    COLORS,
    OUTLINE_COLORS,
    error_overlay,
    heatmap_overlay,
    mask_png,
    outlines_overlay,
    overlay_mask,
)
from core.rle import rle_encode
from core.tasks import get_task
from dashboard import cache, nerve_sections, widgets
from dashboard.png import png
from dashboard.tables import segmentation_comparison
from dashboard.validation_panel import CALIBRATED_ECE, OWN_RECORD, UNSEEN_PROXY, presence_calibrated

KEY = "nerve"
RECORD = OWN_RECORD  # the cards' record of held-out real subjects (train.evaluate --record)
TASK = get_task("nerve")
LABELS = {"unet": "U-Net", "unet_mobilenet": "U-Net MobileNetV2", "unet_vgg": "U-Net VGG",
          "cnn": "Plain CNN"}
COLOR_NAMES = ("orange", "sky blue", "bluish green", "yellow", "blue", "vermilion", "pink", "white")

st.title("Ultrasound nerve segmentation")
widgets.research_note()
st.caption("Brachial plexus on B-mode ultrasound (Kaggle 2016 frames, 580x420, or the 256x256 copy "
           "whose grey bands are trimmed off): the same frame through a plain U-Net, a MobileNetV2-encoder "
           "U-Net, a VGG-encoder U-Net and a CNN without skip connections, to see where the architectures "
           "disagree.")

cards = widgets.usable_models(TASK.name, LABELS)
if not cards:
    st.error("No nerve weights found in weights/nerve/. Run `make weights` or restore the folder.")
    st.stop()
case = widgets.image_input(KEY, TASK)
if case is None:
    st.stop()
if not case.uploaded:
    st.info("The bundled frames are synthetic phantoms in the Kaggle layout: the Kaggle data may not be "
            "redistributed. The models were trained on real Kaggle frames; upload one (580x420, or the "
            "256x256 copy) to see them on what they were made for.")
if float(case.image.std()) < 1e-6:
    st.error(f"{case.name} is blank (a single grey level): there is nothing to segment, so nothing is "
             "analysed. Check that it is the ultrasound frame.")
    st.stop()
default = next(iter(cards.values())).postprocess
with st.sidebar:
    models = st.multiselect("Models", list(cards), default=list(cards), key=f"{KEY}_models",
                            format_func=lambda m: LABELS.get(m, m))
    thr = st.slider("Mask threshold (probability)", 0.05, 0.95,
                    float(default.get("threshold", 0.5)), 0.05, key=f"{KEY}_thr")
    min_area = st.slider("Minimum nerve area (% of the frame)", 0.0, 3.0,
                         round(100 * float(default.get("min_area_frac", 0.0)), 2), 0.05, key=f"{KEY}_area",
                         help="Smaller predicted regions are dropped. The smallest of 1333 labelled "
                              "nerves in the Kaggle frames covers 0.8% of its frame.")
    presence_thr = st.slider("Presence threshold", 0.0, 1.0,
                             float(default.get("presence_threshold", 0.0)), 0.05, key=f"{KEY}_pres",
                             help="Below this nerve-present probability the mask is emptied.")
    show_cam = st.toggle("Grad-CAM of the segmentation", key=f"{KEY}_cam")
if not models:
    st.info("Pick at least one model in the sidebar.")
    st.stop()

override = {"min_area_px": 0, "min_area_frac": min_area / 100, "presence_threshold": presence_thr}
results = {m: cache.segment(TASK.name, m, case.image, thr, override) for m in models}
truth = case.mask
# Each model's overlap with the truth, the very columns a case row of the model lab carries.
scores = {m: metrics.mask_scores(r.mask, truth) for m, r in results.items()} if truth is not None else {}


def _caption(m: str) -> str:
    res = results[m]
    text = f"{LABELS.get(m, m)} · present {res.presence:.2f}"
    if truth is not None:
        text += f" · Dice {scores[m]['dice']:.2f}"
    return text + ("" if res.mask.any() else " · no nerve")


shown = [("Input: " + case.name, case.image)]
if truth is not None:
    shown.append(("Ground truth" + ("" if truth.any() else ": no nerve"),
                  overlay_mask(case.image, truth, COLORS["truth"])))
shown += [(_caption(m), overlay_mask(case.image, results[m].mask)) for m in models]
widgets.image_row(shown)
for m in models:
    widgets.model_badge(LABELS.get(m, m), cards[m])

if truth is not None and not truth.any():
    # Only a model whose presence probability held on real validation frames may call a label missing.
    confident = [m for m, r in results.items() if r.mask.any() and r.presence >= SUSPECT_PRESENCE]
    sure = [LABELS.get(m, m) for m in confident if presence_calibrated(cards[m])]
    if sure:
        st.warning(f"The label of this frame is empty, but {', '.join(sure)} segment a nerve "
                   f"(presence >= {SUSPECT_PRESENCE:.0%}, calibrated on validation frames with both kinds "
                   f"of proxy empty frame: ECE <= {CALIBRATED_ECE}): check whether the label is missing.")
    elif confident:
        st.caption(f"The label is empty and {', '.join(LABELS.get(m, m) for m in confident)} segment a "
                   "nerve, but no such model's presence probability held on both kinds of proxy empty frame "
                   f"(ECE <= {CALIBRATED_ECE}), so this is not flagged as a missing label.")

st.subheader("Where the models disagree")
left, right = st.columns([3, 2])
outlined = [(results[m].mask, OUTLINE_COLORS[i]) for i, m in enumerate(models)]
legend = [f"{LABELS.get(m, m)}: {COLOR_NAMES[i]}" for i, m in enumerate(models)]
if truth is not None:
    outlined.append((truth, (255, 255, 255)))
    legend.append("ground truth: white")
left.image(png(outlines_overlay(case.image, outlined)), caption=" · ".join(legend), width="stretch")
agreement = pd.DataFrame({LABELS.get(a, a): {LABELS.get(b, b): metrics.dice(results[a].mask, results[b].mask)
                                             for b in models} for a in models})
right.markdown("**Pairwise Dice between models** (1 = identical; both empty counts as 1)")
right.dataframe(agreement.style.format("{:.2f}"), width="stretch")

rows = {}
for m, res in results.items():
    row = {"Presence probability": res.presence, "Nerve shown": "yes" if res.mask.any() else "no",
           "Mask area (px)": int(res.mask.sum())}
    if m in scores:
        row.update({"Dice (empty rule)": scores[m]["dice"], "IoU": scores[m]["iou"],
                    "Precision": scores[m]["precision"], "Recall": scores[m]["recall"]})
    rows[LABELS.get(m, m)] = row
st.dataframe(pd.DataFrame.from_dict(rows, orient="index"), width="stretch", column_config={
    c: st.column_config.NumberColumn(format="%.3f")
    for c in ("Presence probability", "Dice (empty rule)", "IoU", "Precision", "Recall")})
if truth is None:
    st.caption("No ground truth for this frame: pick a bundled training frame or upload a mask "
               "to see Dice.")
else:
    st.subheader("Errors against the ground truth")
    st.caption("Bluish green: true positive · orange: false positive · sky blue: false negative")
    widgets.image_row([(LABELS.get(m, m), error_overlay(case.image, res.mask, truth))
                       for m, res in results.items()])

if show_cam:
    st.subheader("Grad-CAM: where each network looked to segment the nerve")
    explained = [(LABELS.get(m, m),
                  heatmap_overlay(case.image, cache.gradcam(TASK.name, m, case.image, res.mask)))
                 for m, res in results.items() if res.mask.any()]
    if explained:
        widgets.image_row(explained)
    skipped = [LABELS.get(m, m) for m, res in results.items() if not res.mask.any()]
    if skipped:
        st.caption(f"No nerve segmented, nothing to explain: {', '.join(skipped)}.")

corrected = nerve_sections.correction_panel(KEY, case, results, LABELS)

st.subheader("Comparison over held-out real subjects")
table = segmentation_comparison(cards, LABELS, record=RECORD, second=(UNSEEN_PROXY, "zoomed proxies, unseen"))
if "Mean Dice (empty rule)" in table and table["Mean Dice (empty rule)"].notna().any():
    st.dataframe(table, width="stretch", column_config={
        c: st.column_config.NumberColumn(format="%.3f") for c in table.columns if table[c].dtype.kind == "f"})
    data = next((c.metrics[RECORD].get("data", "") for c in cards.values() if RECORD in c.metrics), "")
    st.caption(f"From each model card (`make evaluate-nerve`: `python -m train.evaluate --record "
               f"{RECORD}`; `python -m train.bench --record`). Data: {data}. The shared Kaggle copy holds "
               "only frames WITH a nerve; its empty frames here are proxies (the nerve covered by tissue "
               "from beside it, the kind the models trained on), so \"empty frames left empty\" and the mean "
               "Dice under the empty rule (a frame scores 1 when label and prediction are both empty) are "
               "not yet measured on real empty frames. The \"zoomed proxies, unseen\" columns score the same "
               "real frames with a second kind of proxy the models never trained on (a zoomed window that "
               "misses the nerve, `--record validation_real_zoomed`): a first look at how their empty-frame "
               "behaviour carries over. The all-empty baseline is what predicting \"no nerve\" everywhere "
               "scores on the same frames.")
else:
    st.info("The model cards have no recorded evaluation on real frames yet: run `make evaluate-nerve`.")

stem = widgets.export_stem(case.name, case.uploaded)
rles = {m: rle_encode(res.mask) for m, res in results.items()}
report = partial(nerve_sections.report_pdf, case, results, LABELS, cards, corrected)
widgets.download_row(f"{KEY}_png", [(f"{LABELS.get(m, m)} mask (PNG)", mask_png(res.mask),
                                     f"{stem}_{m}_mask.png", "image/png") for m, res in results.items()])
widgets.download_row(f"{KEY}_rle", [(f"{LABELS.get(m, m)} mask (RLE)", rles[m] + "\n",
                                     f"{stem}_{m}_rle.txt", "text/plain") for m in results]
                     + [("Case report (PDF)", report, f"{stem}_report.pdf", "application/pdf")])
with st.expander("Run-length encodings (Kaggle convention: column-major, 1-indexed start/length)"):
    for m in results:
        st.text(f"{LABELS.get(m, m)}: {rles[m] or '(empty mask)'}")
