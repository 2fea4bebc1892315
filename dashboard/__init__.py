"""Streamlit UI: pages and the small widgets they share. Calls ``core``; never ``train``."""
