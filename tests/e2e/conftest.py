"""The real-browser suite: the dashboard served as ``make run`` serves it (``dashboard.serve``) on
127.0.0.1 and Debian's Chromium driven by Playwright.

Run with ``make test-e2e`` (it installs Playwright and, where apt is available, Chromium). The tests
are marked ``e2e`` and left out of ``make test`` / ``make test-all``.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard served on 127.0.0.1 for the session, with a model-lab result cache of its own
    (a developer's ``runs/lab_cache`` must not change what the pages show)."""
    port = _free_port()
    env = {**os.environ, "MEDIMG_LAB_CACHE": str(tmp_path_factory.mktemp("lab_cache"))}
    proc = subprocess.Popen([sys.executable, "-m", "dashboard.serve",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--server.headless", "true"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("streamlit did not start within 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def browser():
    """Chromium (the system's, not a downloaded one)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="make test-e2e installs playwright")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()
