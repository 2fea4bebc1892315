"""Face screening page: class probabilities, region votes, Grad-CAM and gallery matches for a face.

Three tasks share one machinery (core/face/screening.py): facial skin conditions, syndrome-like
shape changes, and an autism-research demo. The shipped weights are trained on synthetic conditions
drawn on real faces (train/phantoms/face.py) and say so wherever their outputs appear.
"""
from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from core.face.anthropometry import measure_face, measurement_table
from core.io.image import mean_chroma
from core.tasks import get_task
from dashboard import cache, charts, face_reports, tables, widgets
from dashboard import screening_sections as sections

KEY = "screen"
SCREENING = get_task("face_screening")  # rows: titles, classes, caveats
GREY_CHROMA = 3.0  # mean chroma (0-255) below which a photo is greyscale (JPEG noise stays under 2)


def _title(task: str) -> str:
    return SCREENING.rows[task].title if task in SCREENING.rows else task


st.title("Face screening")
widgets.research_note()
models = cache.screening_models()
if not models:
    st.info("No face screening weights yet (`weights/face_screening/<task>/model.json`). Train them "
            "with `python -m train.classifier --phantoms 1200 --screen-task skin` (or `--data FOLDER` "
            "of your own photos, one sub-folder per class).")
    st.stop()
task = st.sidebar.radio("Task", list(models), format_func=_title, key=f"{KEY}_task")
if task in SCREENING.rows and SCREENING.rows[task].warn:
    st.warning(SCREENING.rows[task].caveat)
folder = models[task]
screener = cache.get_screener(folder)
card = screener.card
if card.synthetic and "identities" in card.training:
    ids = card.training["identities"]
    st.warning(f"Demo weights: the conditions are SYNTHETIC phantoms drawn on real faces "
               f"({card.training.get('data', '')}). On a real photo the most this model can honestly say "
               "is 'none of the drawn conditions' or 'out of range'; a condition it names is not a finding. "
               f"Trained on {ids['train_persons']} real persons, checked on "
               f"{len(ids['held_out_persons'])} others.")
elif card.synthetic:
    st.warning(f"Demo weights trained on SYNTHETIC phantoms only ({card.training.get('data', '')}). "
               "On a real photo their output means nothing; they show how the analysis works.")
st.caption(f"{_title(task)}: {len(screener.labels)} classes "
           f"({', '.join(sections.pretty(c) for c in screener.labels)}); members: "
           f"{', '.join(sections.member_title(m) for m in screener.members)}, softmax outputs averaged.")

samples = {**cache.screening_cases(task), **cache.face_samples()}
name, rgb, lm = widgets.face_with_landmarks(KEY, samples)
if task in SCREENING.rows and SCREENING.rows[task].needs_colour and mean_chroma(rgb) < GREY_CHROMA:
    st.error(f"{name} is a greyscale photo: the {_title(task).lower()} model tells its classes by colour "
             "(redness, scale), so it cannot screen it. Use a colour photo.")
    st.stop()
top_n = st.sidebar.slider("Top N", 1, len(screener.labels), min(3, len(screener.labels)), key=f"{KEY}_topn")
result = cache.screen(folder, rgb, lm, top_n)

face_col, bar_col, top_col = st.columns([1, 1.4, 1])
face_col.image(result.aligned, width="stretch", caption=f"{name}: aligned by the eye centres")
bar_col.plotly_chart(charts.class_probability_bars(result.labels, result.probs), width="stretch")
abstainer = cache.get_abstainer(folder)
decision = abstainer.decide(result.probs, result.embedding) if abstainer else None
if decision is not None and decision.abstained:
    st.warning(f"**Out of range**: {decision.reason}. This model answers nothing for this face; the "
               f"probabilities below (top: {sections.pretty(decision.top_label)}, {decision.top_prob:.2f}) "
               "are shown for context only.")
elif decision is not None:
    st.success(f"Answer: **{sections.pretty(decision.answer)}** (probability {decision.top_prob:.2f}; "
               f"nearest training face at cosine distance {decision.nn_distance:.3f}).")
else:
    st.caption("This model's card has no out-of-range rule: it always answers its top class.")
if abstainer is not None:
    spec = card.postprocess["abstain"]
    shares = card.metrics.get("abstain_validation", {}).get("real_no_condition", {}).get("with_rule", {})
    tau = abstainer.rule.min_top_prob
    st.caption("Out-of-range rule: "
               + (f"a condition named with probability below {tau:.2f}" if tau > 0 else
                  "no confidence threshold (none was needed on validation)")
               + ("" if spec.get("max_gallery_distance") is None else
                  f"; a face further than {abstainer.rule.max_gallery_distance:.3f} (cosine) from every "
                  "training face")
               + f"; chosen on {spec.get('chosen_on', 'validation faces')}"
               + (f". On those {shares['n']} real faces without a condition: "
                  f"{shares['no_condition_share']:.0%} no-condition, "
                  f"{shares['out_of_range_share']:.0%} out of range, "
                  f"{shares['called_a_condition_share']:.0%} called a condition." if shares else "."))
with top_col:
    st.markdown(f"**Top {top_n}** of {len(result.labels)} classes")
    st.dataframe(pd.DataFrame([{"rank": i + 1, "class": sections.pretty(c), "probability": p}
                               for i, (c, p) in enumerate(result.top)]), hide_index=True, width="stretch",
                 column_config={"probability": st.column_config.ProgressColumn(
                     "probability", format="%.3f", min_value=0.0, max_value=1.0)})
    widgets.model_badge(f"{task} screening model", card)

st.subheader("What each region voted")
votes = tables.screening_votes(result)
st.dataframe(votes, hide_index=True, width="stretch", column_config={
    "weight": st.column_config.NumberColumn("weight", format="%.2f"),
    **{sections.pretty(c): st.column_config.NumberColumn(sections.pretty(c), format="%.3f")
       for c in result.labels}})
crop_cols = st.columns(len(result.crops) + 1)
crop_cols[0].image(result.aligned, width="stretch", caption="whole face")
for col, (member, crops) in zip(crop_cols[1:], result.crops.items()):
    col.image(crops[0], width="stretch", caption=sections.member_title(member))

st.subheader("Where the networks looked (Grad-CAM)")
target = st.selectbox("Explain the class", range(len(result.labels)), index=result.top_index,
                      format_func=lambda i: f"{sections.pretty(result.labels[i])} ({result.probs[i]:.2f})",
                      key=f"{KEY}_target_{task}")  # per task: the classes differ
if st.toggle("Compute Grad-CAM for every member", value=True, key=f"{KEY}_cam"):
    sections.cam_panel(folder, rgb, result, screener, int(target), cache.screening_evidence(task, name))
    st.caption("Red = where evidence for the class raised its score most. Trust it only as far as the "
               "card's pointing-game score goes. " + sections.cam_layers_caption(card))

gallery_col, measure_col = st.columns([1.6, 1])
with gallery_col:
    st.subheader("Closest gallery cases")
    sections.gallery_panel(folder, task, result)
with measure_col:
    st.subheader("Measurements")
    rows = measurement_table(measure_face(lm.points))
    st.dataframe(pd.DataFrame([{"measurement": r["name"], "value": r["value"], "unit": r["unit"]}
                               for r in rows]), hide_index=True, width="stretch", height=320,
                 column_config={"value": st.column_config.NumberColumn(format="%.3f")})
    st.caption("From the face analysis page (definitions and lines there).")

if decision is not None and decision.abstained:
    answer = f"out of range: {decision.reason}"
elif decision is not None:
    answer = sections.pretty(decision.answer)
else:
    answer = f"{sections.pretty(result.labels[result.top_index])} (no out-of-range rule in its card)"
shown_name = name if name in samples else "upload"
report = partial(  # the PDF is made when the button is pressed, not on every rerun
    face_reports.screening_report, shown_name, result.aligned, _title(task), answer,
    [(sections.pretty(c), p) for c, p in result.top], card,
    ["The conditions are synthetic phantoms drawn on faces: a condition named is not a finding."
     if card.synthetic else "", "Grad-CAM and gallery views are on the page, not in this report."])
st.download_button("Case report (PDF)", report, file_name=f"{widgets.export_stem(name, name not in samples)}"
                   "_screening_report.pdf", mime="application/pdf", key=f"{KEY}_report")

with st.expander("The model's card: how it was trained and how it scored", expanded=False):
    sections.card_figures(card)
    st.caption(card.training.get("command", ""))
