"""AppTest: the model lab reads an LGG kaggle_3m folder (tiny TIFFs) and browses its slices worst-first."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "dashboard" / "pages" / "model_lab.py")


def _frame(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_the_lab_scores_and_browses_kaggle_3m_slices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "data" / "lgg" / "kaggle_3m" / "TCGA_AA_0001_20000101"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for n in (2, 1, 10):
        tifffile.imwrite(folder / f"TCGA_AA_0001_20000101_{n}.tif",
                         rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), compression="zlib")
        mask = np.zeros((32, 32), np.uint8)
        mask[8:8 + n, 8:20] = 255
        if n != 2:  # slice 2 has no mask: listed without scores
            tifffile.imwrite(folder / f"TCGA_AA_0001_20000101_{n}_mask.tif", mask)
    monkeypatch.setenv("DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("MEDIMG_LAB_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(PAGE, default_timeout=240).run()
    at.sidebar.text_input(key="lab_path").set_value(str(tmp_path / "data" / "lgg")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("LGG kaggle_3m" in m.value and "3 cases" in m.value and "brain_tumor" in m.value
               for m in at.markdown)
    assert any("1 of 3 slices have no" in c.value for c in at.caption)
    assert any("put on one intensity scale before its slices are scored" in c.value for c in at.caption)
    at.button(key="lab_run").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    table = _frame(at, "group")
    assert set(table["name"]) == {f"TCGA_AA_0001_20000101_{n}.tif" for n in (1, 2, 10)}
    assert set(table["group"]) == {"TCGA_AA_0001_20000101"}
    assert any(c.startswith("Input: ") for im in at.image for c in im.captions)
