"""Router: page config and navigation only (and, after each run, freed memory back to the system). Each
page lives in dashboard/pages/."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import memory, warmup

PAGES = Path(__file__).resolve().parent / "dashboard" / "pages"  # absolute: dashboard/cloud/ runs this too

warmup.start()  # PyTorch, the core package and MediaPipe load in the background while Home shows
st.set_page_config(page_title="Medical image analysis", page_icon=":material/radiology:", layout="wide")
pages = st.navigation([
    st.Page(PAGES / "home.py", title="Home", icon=":material/home:", default=True),
    st.Page(PAGES / "fetal_biometry.py", title="Fetal head biometry",
            icon=":material/pregnant_woman:"),
    st.Page(PAGES / "nerve.py", title="Ultrasound nerve segmentation", icon=":material/neurology:"),
    st.Page(PAGES / "brain_mri.py", title="Brain tumour MRI", icon=":material/psychology:"),
    st.Page(PAGES / "face.py", title="Face analysis", icon=":material/face:"),
    st.Page(PAGES / "face_screening.py", title="Face screening", icon=":material/ar_on_you:"),
    st.Page(PAGES / "model_lab.py", title="Model lab", icon=":material/science:"),
])
try:
    pages.run()
finally:
    memory.release()  # what the page's run freed goes back to the system (dashboard/memory.py)
