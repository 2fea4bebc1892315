"""Streamlit Community Cloud entrypoint: set "Main file path" to ``dashboard/cloud/streamlit_app.py``.

Community Cloud installs the dependency file that sits beside the entrypoint: this folder's
``requirements.txt``, the project's runtime pins with CPU-only PyTorch and without the libraries only
training, benchmarks and tests use (see the README's "Deploying to Streamlit Community Cloud").
The app itself is the project's ``streamlit_app.py``, run unchanged, with one torch thread (faster
than two on a shared CPU that neighbours load).
"""
from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("MEDIMG_TORCH_THREADS", "1")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the entrypoint's folder is on the path, the project's root is not
runpy.run_path(str(ROOT / "streamlit_app.py"), run_name="__main__")
