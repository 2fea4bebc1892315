"""Import the heavy libraries in the background while a visitor reads the Home page.

A fresh server process imports nothing until its first visitor arrives; Home itself needs no
network, but every analysis page needs PyTorch and the core package (about 2 s on 2 cores) and the
face pages MediaPipe (0.6 s), the brain page nibabel (0.2 s). The router starts :func:`start` on
every run; the first call starts ONE daemon thread per process that imports them, so the page a
visitor opens next finds them loaded. Models are NOT loaded here: a model is still loaded when a
page first needs it. An import that fails is left for the page that needs it to report.
"""
from __future__ import annotations

import importlib
import threading
import time

# dashboard.cache pulls in the core package; nibabel (with pydicom) is the brain page's, which the core
# package defers to first use (core/io/lazy.py)
MODULES = ("torch", "dashboard.cache", "mediapipe", "nibabel")
_started = threading.Event()
_done = threading.Event()
_seconds: list[float] = []


def _run() -> None:
    t0 = time.perf_counter()
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the page that needs the module says what is wrong
            pass
    _seconds.append(time.perf_counter() - t0)
    _done.set()


def start() -> None:
    """Start the background imports once per process (later calls return at once)."""
    if _started.is_set():
        return
    _started.set()
    threading.Thread(target=_run, name="medimg-warmup", daemon=True).start()


def preload(timeout: float | None = None) -> float:
    """Start the imports (if not yet) and block until they are done: their seconds (what
    ``dashboard.serve`` does before Streamlit listens; 0.0 if still running after ``timeout``)."""
    start()
    return wait(timeout) or 0.0


def wait(timeout: float | None = None) -> float | None:
    """Block until the imports are done; their seconds, or None if not started or still running."""
    if not _started.is_set() or not _done.wait(timeout):
        return None
    return _seconds[0]
