"""Home: what the dashboard does, the model cards in plain words, intended use."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.tasks import TASKS
from dashboard import cache, widgets

st.title("Medical image analysis dashboard")
st.markdown(
    "Look at a case and see what a model sees: its mask or its class probabilities beside the "
    "ground truth, the measurements computed from them with their units, and where the network "
    "looked. Pick an analysis in the sidebar."
)
st.markdown(
    "- **Fetal head biometry**: ultrasound frame (HC18 style) → head mask (U-Net or SegNet) → "
    "fitted ellipse → head circumference, BPD and OFD in mm → gestational age (Hadlock 1984) and "
    "the INTERGROWTH-21st centile for a stated gestational age."
)

st.subheader("Models and their cards")
st.markdown(
    "**Every model shipped here was trained from scratch on synthetic phantoms** made by "
    "`train/phantoms/`, because this project has no access to real patient data or pretrained "
    "weights. Their figures below are measured on fresh phantoms, not on patients, and say "
    "nothing about clinical accuracy. Train on your own data with `python -m train.segmentation`."
)
rows = [r for name, task in TASKS.items() for r in widgets.card_rows(task, cache.available_models(name))]
if rows:
    st.dataframe(pd.DataFrame(rows), width="stretch", hide_index=True, column_config={
        "parameters (M)": st.column_config.NumberColumn(format="%.2f"),
        "file (MB)": st.column_config.NumberColumn(format="%.1f"),
        "test Dice": st.column_config.NumberColumn(format="%.4f"),
        "test |HC error| (mm)": st.column_config.NumberColumn(format="%.2f"),
        "validation Dice": st.column_config.NumberColumn(format="%.4f"),
    })
else:
    st.warning("No model cards found under weights/.")

st.subheader("Intended use")
st.markdown(
    "Research and education: clinicians exploring cases, researchers checking model behaviour. "
    "**This is not a medical device.** Nothing shown here is a diagnosis; centile flags are "
    "screening prompts for a qualified person to check. Uploaded images are processed in memory "
    "and never stored."
)
