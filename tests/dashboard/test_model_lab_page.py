"""AppTest of the model lab page: the bundled fetal samples with one and two shipped models, the
result cache, refused paths and unreadable folders, and the classifier figures of a tiny random-init
screening model on the bundled skin gallery (an ImageFolder)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import core.evaluation.engine
import core.roots
from core.tasks import get_task
from core.weights import save_model
from train.classifier import new_model, parse_args, screening_card

SCREENING = get_task("face_screening")

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "dashboard" / "pages" / "model_lab.py")
TIMEOUT = 240


@pytest.fixture(scope="module")
def lab_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private result cache and a DATA_ROOT holding an empty folder and a folder of notes."""
    root = tmp_path_factory.mktemp("lab")
    (root / "data" / "empty").mkdir(parents=True)
    (root / "data" / "notes").mkdir()
    (root / "data" / "notes" / "readme.txt").write_text("not a dataset")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDIMG_LAB_CACHE", str(root / "cache"))
        mp.setenv("DATA_ROOT", str(root / "data"))
        yield root


def _frame(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _evaluate(at: AppTest) -> AppTest:
    at.button(key="lab_run").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


@pytest.fixture()
def one_model(lab_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The bundled fetal samples evaluated with one model, for each test afresh and with an empty
    result cache of its own: some tests change the widgets or fill the cache."""
    monkeypatch.setenv("MEDIMG_LAB_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception and any("Press **Evaluate**" in i.value for i in at.info)
    return _evaluate(at)


def test_bundled_fetal_samples_with_one_model(one_model: AppTest) -> None:
    at = one_model
    assert any("not a diagnosis" in c.value for c in at.caption)
    assert any("HC18" in m.value and "6 cases" in m.value and "fetal_head" in m.value for m in at.markdown)
    assert any("evaluated now" in c.value for c in at.caption)
    agg = _frame(at, "ci_low")
    assert {"model", "metric", "mean", "sd", "median", "ci_low", "ci_high"} <= set(agg.columns)
    dice = agg[agg["metric"] == "dice"].iloc[0]
    assert dice["model"] == "unet_small" and dice["n"] == 6 and dice["mean"] > 0.9
    assert dice["ci_low"] <= dice["mean"] <= dice["ci_high"] <= 1.0
    assert "hc_abs_diff_mm" in set(agg["metric"])  # biometry on HC18 with pixel sizes
    table = _frame(at, "group")
    assert len(table) == 6 and list(table.columns[:2]) == ["name", "dice"]
    assert table["dice"].is_monotonic_increasing  # worst first
    assert at.selectbox(key="lab_case").value == table["name"].iloc[0]
    captions = [c for im in at.image for c in im.captions]
    assert any(c.startswith("Input: ") for c in captions) and any("Ground truth" in c for c in captions)
    assert any(c.startswith("unet_small · Dice") for c in captions)  # the prediction, scored
    assert any("ground truth: white" in c for c in captions)  # the outlines beside the error maps
    assert any("trained on HC18" in c.value and "dataset folder" in c.value for c in at.caption)  # the badge
    labels = [b.label for b in at.get("download_button")]
    assert "Per-case rows (CSV)" in labels and any("JSON" in b for b in labels)
    assert any("Training curves" in s.value for s in at.subheader)
    assert not any("no training history" in c.value for c in at.caption)


def test_another_case_and_violins(one_model: AppTest) -> None:
    at = one_model
    last = _frame(at, "group")["name"].iloc[-1]
    at.selectbox(key="lab_case").set_value(last)
    at.radio(key="lab_dist_kind").set_value("violin").run()
    assert not at.exception and not at.error
    assert any(c.startswith(f"Input: {last}") for im in at.image for c in im.captions)


def test_two_models_give_the_paired_comparison(one_model: AppTest) -> None:
    at = one_model
    at.sidebar.multiselect(key="lab_models_fetal_head").set_value(["unet_small", "segnet"]).run()
    assert [b.label for b in at.button] == ["Evaluate 6 cases with segnet"]  # unet_small is cached
    _evaluate(at)
    assert any("read from the result cache: unet_small" in c.value for c in at.caption)
    assert any("Paired comparison" in s.value for s in at.subheader)
    agg = _frame(at, "ci_low")
    mean = agg[agg["metric"] == "dice"].set_index("model")["mean"]
    shown = {m.label: m.value for m in at.metric}
    assert float(shown["Mean dice, unet_small"]) == pytest.approx(mean["unet_small"], abs=5e-4)
    assert float(shown["Mean dice, segnet"]) == pytest.approx(mean["segnet"], abs=5e-4)
    assert "Mean difference (B - A)" in shown and "Cases better in B / in A" in shown
    assert any("95% CI" in c.value and "paired cases" in c.value for c in at.caption)
    assert "dice (segnet)" in _frame(at, "group").columns
    at.selectbox(key="lab_pair_metric").set_value("presence_correct").run()
    assert not at.exception


def test_the_result_cache_spares_a_second_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIMG_LAB_CACHE", str(tmp_path))
    calls: list[int] = []
    predict = core.evaluation.engine._predict

    def counting(*args, **kwargs):
        calls.append(1)
        return predict(*args, **kwargs)

    monkeypatch.setattr(core.evaluation.engine, "_predict", counting)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.sidebar.text_input(key="lab_path").set_value("nerve").run()
    _evaluate(at)
    assert calls and any("evaluated now" in c.value for c in at.caption)
    n = len(calls)
    again = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    again.sidebar.text_input(key="lab_path").set_value("nerve").run()
    assert not again.exception and not again.button  # nothing left to evaluate
    assert any("read from the result cache: unet" in c.value for c in again.caption)
    assert len(calls) == n and len(_frame(again, "group")) == len(_frame(at, "group"))
    assert len(list(tmp_path.rglob("result.json"))) == 1
    again.sidebar.number_input(key="lab_limit").set_value(3).run()  # other settings: another entry
    assert [b.label for b in again.button] == ["Evaluate 3 cases with unet"]
    _evaluate(again)
    assert len(_frame(again, "group")) == 3 and len(list(tmp_path.rglob("result.json"))) == 2
    again.sidebar.number_input(key="lab_limit").set_value(100).run()  # N >= all cases: all of them
    assert not again.button and len(_frame(again, "group")) == len(_frame(at, "group"))


@pytest.mark.parametrize("path", ["/etc", "data_samples/../..", "../../etc"])
def test_paths_outside_the_data_roots_are_refused(lab_env: Path, path: str) -> None:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.sidebar.text_input(key="lab_path").set_value(path).run()
    assert not at.exception
    (error,) = at.error
    assert "refused" in error.value and "outside the allowed data roots" in error.value
    assert "DATA" in error.value and "ROOT" in error.value  # escaped for Markdown: DATA\_ROOT
    assert not at.button and not at.dataframe


@pytest.mark.parametrize("path", ["~nonexistentuser/data", "x" * 5000, "data\x00samples"])
def test_odd_typed_paths_show_a_message(lab_env: Path, path: str) -> None:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.sidebar.text_input(key="lab_path").set_value(path).run()
    assert not at.exception and len(at.error) == 1 and "type" in at.error[0].value
    assert not at.button and not at.dataframe


@pytest.mark.parametrize("folder, found", [("empty", "the folder is empty"),
                                           ("notes", "no dataset layout recognised")])
def test_unreadable_folders_say_what_was_found_and_expected(lab_env: Path, folder: str, found: str) -> None:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.sidebar.text_input(key="lab_path").set_value(str(lab_env / "data" / folder)).run()
    assert not at.exception
    (error,) = at.error
    assert found in error.value and "expected one of" in error.value and "HC18" in error.value
    assert "found" in error.value


@pytest.fixture(scope="module")
def screening_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights root with a tiny random-init skin screening model (4 classes)."""
    root = tmp_path_factory.mktemp("weights")
    labels = list(SCREENING.rows["skin"].labels)
    args = parse_args(["--phantoms", "8", "--screen-task", "skin", "--widths", "4", "8",
                       "--region-widths", "4", "8", "--face-size", "64", "--crop-size", "32"])
    card = screening_card(args, labels, training={"synthetic": True, "screen_task": "skin",
                                                  "data": "tiny test phantoms", "command": "test"})
    folder = root / "face_screening" / "skin"
    save_model(new_model(args, len(labels), seed=0), card, folder)
    (folder / "history.csv").write_text("run,epoch,train_loss,val_accuracy\n"
                                        "fold1,1,1.2,0.3\nfold1,2,0.9,0.5\n")
    return root


def test_classifier_figures_on_an_image_folder(lab_env: Path, screening_root: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", screening_root)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.sidebar.text_input(key="lab_path").set_value("data_samples/face_screening/skin").run()
    assert any("ImageFolder" in m.value and "16 cases" in m.value for m in at.markdown)
    _evaluate(at)
    assert any("Classifier figures" in s.value for s in at.subheader)
    shown = {m.label: m.value for m in at.metric}
    assert 0.0 <= float(shown["Accuracy"]) <= 1.0 and 0.0 <= float(shown["ECE"]) <= 1.0
    agg = _frame(at, "ci_low")
    assert set(agg["metric"]) == {"correct", "prob_true", "confidence"}
    table = _frame(at, "prob_true")
    assert len(table) == 16 and table["prob_true"].is_monotonic_increasing
    charts = at.get("plotly_chart")
    assert len(charts) >= 4 + 3  # confusion, reliability, ROC, PR + distributions + training curves
    assert any("trained on synthetic phantoms only" in c.value for c in at.caption)
    assert not any("no face found" in w.value.lower() for w in at.warning)  # every gallery photo has one
    # the photo, its true class and the model's probabilities
    assert any("true class:" in c for im in at.image for c in im.captions)
    assert "predicted" in _frame(at, "predicted").columns


def test_image_folder_without_a_fitting_or_any_screening_model(lab_env: Path, screening_root: Path,
                                                              tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", screening_root)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.sidebar.text_input(key="lab_path").set_value("data_samples/face_screening/autism").run()
    assert not at.exception
    assert any("No screening model knows the folder's classes" in i.value for i in at.info)
    assert any("Not offered: the skin screening model" in c.value for c in at.caption)
    monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", tmp_path)
    at.run()
    assert not at.exception and any("No face screening weights yet" in i.value for i in at.info)
