"""The Streamlit Community Cloud path: its entrypoint runs the app, its requirements follow ours."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
CLOUD = ROOT / "dashboard" / "cloud"
TRAIN_ONLY = {"torchvision", "segmentation-models-pytorch", "scikit-learn", "scikit-image", "grad-cam"}


def pins(path: Path) -> dict[str, str]:
    """Distribution name -> its version specifier, from a requirements file."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, spec = re.match(r"([A-Za-z0-9_.-]+)(.*)", line).groups()
            out[name.lower()] = spec.strip()
    return out


def test_cloud_requirements_are_ours_with_cpu_torch_and_no_training_libraries():
    ours, cloud = pins(ROOT / "requirements.txt"), pins(CLOUD / "requirements.txt")
    assert set(cloud) == set(ours) - TRAIN_ONLY
    assert cloud.pop("torch") == ours.pop("torch") + "+cpu"
    assert all(cloud[k] == ours[k] for k in cloud)
    text = (CLOUD / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text


def test_the_cloud_entrypoint_runs_the_app():
    at = AppTest.from_file(str(CLOUD / "streamlit_app.py"), default_timeout=120).run()
    assert not at.exception
    assert any("Medical image" in t.value or "dashboard" in t.value.lower() for t in at.title)


def test_the_pages_import_no_training_library():
    """What the cloud requirements leave out is never imported by a page (a tour of them all)."""
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        "pages = ('home', 'fetal_biometry', 'nerve', 'brain_mri', 'face', 'face_screening', 'model_lab')\n"
        "for page in pages:\n"
        "    at = AppTest.from_file(f'dashboard/pages/{page}.py', default_timeout=300).run()\n"
        "    assert not at.exception, (page, at.exception)\n"
        "mods = ('torchvision', 'segmentation_models_pytorch', 'timm', 'sklearn', 'skimage',\n"
        "        'pytorch_grad_cam')\n"
        "print(sorted(m for m in mods if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
