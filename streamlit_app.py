"""Router: page config and navigation only. Each page lives in dashboard/pages/."""
from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Medical image analysis", page_icon=":material/radiology:", layout="wide")
st.navigation([
    st.Page("dashboard/pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("dashboard/pages/fetal_biometry.py", title="Fetal head biometry",
            icon=":material/pregnant_woman:"),
    st.Page("dashboard/pages/nerve.py", title="Ultrasound nerve segmentation", icon=":material/neurology:"),
    st.Page("dashboard/pages/brain_mri.py", title="Brain tumour MRI", icon=":material/psychology:"),
    st.Page("dashboard/pages/face.py", title="Face analysis", icon=":material/face:"),
    st.Page("dashboard/pages/face_screening.py", title="Face screening", icon=":material/ar_on_you:"),
    st.Page("dashboard/pages/model_lab.py", title="Model lab", icon=":material/science:"),
]).run()
