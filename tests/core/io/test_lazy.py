"""Heavy readers are imported when first used: nibabel and pydicom are not imported by the core
package or the dashboard's cache layer (0.2 s on every page's first visit), and still work."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.io.lazy import lazy_module

ROOT = Path(__file__).resolve().parents[3]


def _loaded_after(code: str) -> str:
    probe = (f"import sys\n{code}\n"
             "print('nibabel' if 'nibabel' in sys.modules else '-',\n"
             "      'pydicom' if 'pydicom' in sys.modules else '-')")
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          cwd=ROOT).stdout.strip()


def test_the_core_package_and_the_dashboard_cache_do_not_import_nibabel_or_pydicom() -> None:
    # torch imported AFTER the readers walks sys.modules (inspect.getmodule): still nothing loaded
    assert _loaded_after("import core.datasets, core.io.volume, core.io.image, dashboard.cache") == "- -"
    assert _loaded_after("import core.io.volume\nimport torch\nimport dashboard.cache") == "- -"


def test_a_nifti_file_still_reads_and_loads_nibabel_then() -> None:
    code = ("import numpy as np\n"
            "from core.io.nifti import to_nifti_bytes, read_nifti\n"
            "from core.io.volume_types import volume_from_display\n"
            "grid = volume_from_display(np.zeros((4, 5, 6), np.float32), (2.0, 1.0, 1.0))\n"
            "vol = read_nifti(to_nifti_bytes(np.ones((4, 5, 6), np.uint8), grid))\n"
            "assert vol.voxels.shape == (4, 5, 6) and vol.voxels.min() == 1\n")
    assert _loaded_after(code).split()[0] == "nibabel"


def test_a_png_does_not_load_pydicom() -> None:
    code = ("import cv2, numpy as np\nfrom core.io.image import load_image\n"
            "load_image(cv2.imencode('.png', np.zeros((8, 8), np.uint8))[1].tobytes())")
    assert _loaded_after(code).split()[1] == "-"


def test_lazy_module_imports_on_first_attribute_only() -> None:
    mod = lazy_module("json")
    assert not mod.loaded and not hasattr(mod, "__file__")  # dunder probes import nothing
    assert mod.dumps([1]) == "[1]" and mod.loaded
    with pytest.raises(ModuleNotFoundError):
        _ = lazy_module("no_such_module_medimg").anything
