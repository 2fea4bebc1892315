"""The session's kept corrections (held in memory only) and their downloads, shared by the pages
that let a person correct what a model drew."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st


def kept(key: str) -> dict[str, Any]:
    """The page's corrections kept this session, by case (in ``st.session_state``: never on disk)."""
    return st.session_state.setdefault(f"{key}_corrections", {})


def kept_downloads(key: str, layout: str, write_zip: Callable[[Sequence[Any]], bytes], how: str) -> None:
    """The kept corrections' review log as a table, and two downloads: the cases in the task's
    dataset ``layout`` (``write_zip`` of the kept cases, made on click) and the review log (CSV).
    ``how`` tells how to train on the unzipped folder."""
    cases = list(kept(key).values())
    if not cases:
        return
    log = pd.DataFrame([c.review for c in cases])
    st.caption(f"{len(cases)} correction(s) kept this session. {how}")
    st.dataframe(log, width="stretch", hide_index=True)
    cols = st.columns(2)
    cols[0].download_button(f"Corrected cases ({layout} zip)", partial(write_zip, cases),
                            f"{key}_corrections.zip", "application/zip", key=f"{key}_corrections_zip")
    cols[1].download_button("Review log (CSV)", log.to_csv(index=False), f"{key}_review_log.csv", "text/csv",
                            key=f"{key}_review_csv")
