"""Fixtures of the page tests."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager


@pytest.fixture()
def deferred(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], bytes | str]]:
    """File name -> the callable of every download made on click (``st.download_button`` with a
    callable ``data``) that the pages render: calling it gives the bytes a user would get."""
    made: dict[str, Callable[[], bytes | str]] = {}
    original = MediaFileManager.add_deferred

    def record(self, data_callable, mimetype, coordinates, file_name=None):  # noqa: ANN001
        made[file_name] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name=file_name)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return made
