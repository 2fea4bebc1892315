"""make run's launcher: the heavy imports are done before Streamlit's own `run` starts."""
from __future__ import annotations

import sys

import pytest

from dashboard import serve, warmup


def test_serve_imports_first_then_runs_streamlit_run_on_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.web import cli

    seen: dict = {}

    def fake_main(prog_name: str) -> int:
        seen["argv"], seen["prog"] = list(sys.argv), prog_name
        seen["imports_done"] = warmup.wait(0) is not None and all(m in sys.modules for m in warmup.MODULES)
        return 0

    monkeypatch.setattr(cli, "main", fake_main)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    assert serve.main(["--server.port", "8502"]) == 0
    assert seen["argv"] == ["streamlit", "run", str(serve.APP), "--server.port", "8502"]
    assert seen["prog"] == "streamlit" and serve.APP.is_file()
    assert seen["imports_done"]
