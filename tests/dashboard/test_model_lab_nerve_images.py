"""AppTest: the model lab reads a nerve images/ + masks/ folder (tiny JPEGs) given as its parent."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "dashboard" / "pages" / "model_lab.py")


def _frame(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_the_lab_scores_nerve_images_and_masks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "data" / "nerve" / "positives"
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for s, n in ((10, 1), (2, 5), (2, 40)):
        assert cv2.imwrite(str(folder / "images" / f"{s}_{n}.jpg"), rng.integers(0, 255, (48, 64), np.uint8))
        if (s, n) != (2, 40):  # no mask: listed without scores
            mask = np.zeros((48, 64), np.uint8)
            mask[10:30, 20:40] = 255
            assert cv2.imwrite(str(folder / "masks" / f"{s}_{n}_mask.jpg"), mask)
    monkeypatch.setenv("DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("MEDIMG_LAB_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(PAGE, default_timeout=240).run()
    at.sidebar.text_input(key="lab_path").set_value(str(tmp_path / "data" / "nerve")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Nerve images/masks" in m.value and "3 cases" in m.value and "`nerve`" in m.value
               for m in at.markdown)
    assert any("1 of 3 frames have no mask" in c.value for c in at.caption)
    at.button(key="lab_run").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    table = _frame(at, "group")
    assert sorted(table["name"]) == ["10_1.jpg", "2_40.jpg", "2_5.jpg"]  # the table is sorted worst-first
    assert set(table["group"]) == {"2", "10"}
