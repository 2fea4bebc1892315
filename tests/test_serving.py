"""Server defaults: make run binds this machine only and keeps spooled uploads in memory; the
dependency floors stay above releases with published advisories."""
from __future__ import annotations

import subprocess
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
# Releases with published advisories that the floors in requirements.txt must exclude.
VULNERABLE = {"starlette": ["0.40.0", "0.47.1", "0.49.0"], "protobuf": ["4.25.1", "4.25.7"],
              "pillow": ["10.2.0", "11.2.1"]}


def test_make_run_binds_localhost_and_spools_uploads_to_memory() -> None:
    out = subprocess.run(["make", "-n", "--no-print-directory", "run"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout  # also when run from make (CI: make test-all)
    (line,) = [x for x in out.splitlines() if "-m dashboard.serve" in x]  # streamlit run, imports first
    assert "--server.address 127.0.0.1" in line
    assert line.startswith("TMPDIR=") and ("/dev/shm" in line or not Path("/dev/shm").is_dir())


def test_requirement_floors_exclude_versions_with_advisories() -> None:
    reqs = {}
    for raw in (ROOT / "requirements.txt").read_text().splitlines():
        text = raw.split("#", 1)[0].strip()
        if text:
            req = Requirement(text)
            reqs[req.name.lower()] = req.specifier
    for name, versions in VULNERABLE.items():
        admitted = [v for v in versions if reqs[name].contains(v)]
        assert not admitted, f"requirements.txt admits {name} {admitted}"
