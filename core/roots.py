"""Where the project's files live: its root, the shipped weights and the bundled samples.

``MEDIMG_WEIGHTS`` points the weights somewhere else (a deployment with its own models). Code reads
these as module attributes at call time (``roots.WEIGHTS_ROOT``), so a test can point them at a
temporary folder with ``monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", tmp_path)``.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_ROOT = Path(os.environ.get("MEDIMG_WEIGHTS", PROJECT_ROOT / "weights"))
SAMPLES_ROOT = PROJECT_ROOT / "data_samples"
