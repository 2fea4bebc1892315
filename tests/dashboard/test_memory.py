"""dashboard.memory: freed heap pages go back to the system, and the router does it after every run."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import memory

ROOT = Path(__file__).resolve().parents[2]
GLIBC = sys.platform.startswith("linux") and "glibc" in " ".join(__import__("platform").libc_ver())

# A session's thread allocates 190 MB in 64 KB blocks (glibc's per-thread arena, below the mmap
# threshold), keeps every 100th block and frees the rest: the free pages stay resident until trimmed.
FRAGMENT = """
import threading
from dashboard import memory
from dashboard.bench_pages import rss_mb
keep = []
def work():
    blocks = [bytearray(64 * 1024) for _ in range(3000)]
    keep.extend(blocks[::100])
t = threading.Thread(target=work); t.start(); t.join()
before = rss_mb(); done = memory.release(); after = rss_mb()
print(done, round(before - after))
"""


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_release_hands_a_threads_freed_heap_back() -> None:
    out = subprocess.run([sys.executable, "-c", FRAGMENT], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=120)
    done, freed_mb = out.stdout.split()
    assert done == "True" and int(freed_mb) > 100


def test_release_is_harmless_without_malloc_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)
    assert memory.release() is False


def test_the_router_releases_after_every_page_run_even_a_stopped_one(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(memory, "release", lambda: calls.append(1) or True)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120).run()
    assert not at.exception and calls == [1]
    # The model lab on a folder that is not there stops early (st.stop): released all the same.
    at.switch_page("dashboard/pages/model_lab.py").run()
    at.text_input(key="lab_path").set_value("/nonexistent/folder").run()
    assert at.error and not at.exception and len(calls) == 3
