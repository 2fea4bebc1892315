"""Adding a task is one module in core/tasks/ and a small page: shown here with a toy task.

The toy module registers a segmentation task that reads the Kaggle nerve layout; with its weights
folder in place, ``train.evaluate`` accepts it, the home page lists its model card, and a page of a
dozen lines built from the shared widgets segments a bundled frame. Nothing else is edited.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import core.roots
from core.tasks import TASKS, get_task
from core.tasks.spec import _REGISTRY
from train import evaluate

ROOT = Path(__file__).resolve().parents[1]
TOY_MODULE = '''
"""Toy task: the nerve frames under another name (a test of the registry, not a product task)."""
from __future__ import annotations

from core.tasks.spec import TaskSpec, register_task

TASK = register_task(TaskSpec(
    name="toy_nerve", title="Toy nerve", kind="segmentation", labels=("nerve",),
    modality="2-D B-mode ultrasound", layouts=("kaggle_nerve",), models=("unet",),
    input={"size": [256, 352], "resize": "letterbox", "mean": [0.5], "std": [0.25]},
    postprocess={"threshold": 0.5, "largest_component": True, "fill_holes": True},
    samples="nerve",
))
'''
TOY_PAGE = '''
import streamlit as st

from core.tasks import get_task
from dashboard import cache, widgets

TASK = get_task("toy_nerve")
st.title(TASK.title)
widgets.research_note()
cards = cache.available_models(TASK.name)
case = widgets.image_input("toy", TASK)
if case is None:
    st.stop()
for model, card in cards.items():
    result = cache.segment(TASK.name, model, case.image, card.postprocess["threshold"])
    st.metric(f"{model}: mask area", f"{int(result.mask.sum())} px")
'''


@pytest.fixture()
def toy_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The toy task registered (and removed afterwards) with a weights root holding its model."""
    module = tmp_path / "toy_nerve.py"
    module.write_text(textwrap.dedent(TOY_MODULE))
    spec = importlib.util.spec_from_file_location("toy_nerve_task", module)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    try:
        weights = tmp_path / "weights"
        weights.mkdir()
        for task in TASKS.values():  # the shipped models stay where pages look for them
            if (core.roots.WEIGHTS_ROOT / task.name).is_dir():
                (weights / task.name).symlink_to(core.roots.WEIGHTS_ROOT / task.name)
        folder = weights / "toy_nerve" / "unet"
        shutil.copytree(get_task("nerve").weights_dir("unet"), folder)
        card = json.loads((folder / "model.json").read_text())
        (folder / "model.json").write_text(json.dumps({**card, "task": "toy_nerve"}))
        monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", weights)
        yield folder
    finally:
        del _REGISTRY["toy_nerve"]


def test_the_evaluate_cli_takes_the_new_task(toy_task: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    argv = ["--task", "toy_nerve", "--weights", str(toy_task), "--data", str(ROOT / "data_samples" / "nerve"),
            "--out", str(out)]
    assert evaluate.main(argv) == 0
    rows = list(csv.DictReader((out / "per_case.csv").open()))
    assert rows and {"name", "group", "dice", "tp_px", "fp_px", "fn_px"} <= set(rows[0])


def test_a_small_page_and_the_home_page_show_it(toy_task: Path, tmp_path: Path) -> None:
    page = tmp_path / "toy_page.py"
    page.write_text(TOY_PAGE)
    assert len(TOY_PAGE.strip().splitlines()) <= 20
    at = AppTest.from_file(str(page), default_timeout=120).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Toy nerve" and any("not a diagnosis" in c.value for c in at.caption)
    assert [m.label for m in at.metric] == ["unet: mask area"] and at.metric[0].value.endswith(" px")
    home = AppTest.from_file(str(ROOT / "dashboard" / "pages" / "home.py"), default_timeout=120).run()
    assert not home.exception
    assert any("Toy nerve · unet" in m.value for m in home.markdown)


def test_the_toy_task_is_gone_afterwards() -> None:
    assert "toy_nerve" not in TASKS
