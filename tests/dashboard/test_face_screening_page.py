"""AppTest of the face screening page for each task, on tiny random-init models in a temporary
weights root (the page must work whatever weights exist), plus bad input."""
from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import core.roots
from core import metrics
from core.tasks import get_task
from core.weights import save_model
from train.classifier import new_model, parse_args, screening_card

SCREENING = get_task("face_screening")

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "dashboard" / "pages" / "face_screening.py")
TASKS = ("autism", "skin", "syndrome")


@pytest.fixture(scope="module")
def weights_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("weights")
    rng = np.random.default_rng(0)
    for task in TASKS:
        labels = list(SCREENING.rows[task].labels)
        args = parse_args(["--phantoms", "8", "--screen-task", task, "--widths", "4", "8",
                           "--region-widths", "4", "8", "--face-size", "64", "--crop-size", "32"])
        probs = rng.dirichlet(np.ones(len(labels)), size=12)
        report = metrics.classification_report(np.arange(12) % len(labels), probs, labels)
        report["pointing_game"] = {"whole_face": {"hits": 5, "n": 8, "score": 0.625, "skipped": 4}}
        card = screening_card(args, labels, training={"synthetic": True, "screen_task": task,
                                                      "data": "tiny test phantoms "
                                                              f"({SCREENING.rows[task].phantom_note[:20]})",
                                                      "command": "python -m train.classifier ..."})
        card = replace(card, metrics={"phantom_test": report})
        save_model(new_model(args, len(labels), seed=0), card, root / "face_screening" / task)
    return root


def _app(weights_root: Path, monkeypatch: pytest.MonkeyPatch, task: str) -> AppTest:
    monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", weights_root)
    at = AppTest.from_file(PAGE, default_timeout=240).run()
    at.sidebar.radio(key="screen_task").set_value(task).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("task", TASKS)
def test_each_task_shows_probabilities_votes_cam_gallery_and_caveats(weights_root, monkeypatch, task) -> None:
    at = _app(weights_root, monkeypatch, task)
    assert not at.error
    labels = SCREENING.rows[task].labels
    assert any("not a diagnosis" in c.value for c in at.caption)
    assert any("SYNTHETIC phantoms" in w.value for w in at.warning)
    # the demo case of this task is the default photo
    assert at.sidebar.selectbox(key="screen_sample").value.startswith(f"{task} phantom: ")
    top = next(d.value for d in at.dataframe if "probability" in d.value.columns)
    assert len(top) == min(3, len(labels)) and top["probability"].is_monotonic_decreasing
    votes = next(d.value for d in at.dataframe if "vote" in d.value.columns)
    members = votes[~votes["member"].str.startswith("ENSEMBLE")]
    assert len(members) == 7  # whole face + 6 regions
    ensemble = votes[votes["member"].str.startswith("ENSEMBLE")].iloc[0]
    cols = [c.replace("_", " ") for c in labels]
    expected = np.average(members[cols].to_numpy(float), axis=0, weights=members["weight"].to_numpy(float))
    assert np.allclose(ensemble[cols].to_numpy(float), expected, atol=1e-3)  # the mean of the members
    assert abs(float(ensemble[cols].sum()) - 1) < 1e-3
    # Grad-CAM: whole face + 6 regions, cheeks with two views
    cams = [im for im in at.image if any("whole face" in c or "view" in c for c in im.captions)]
    assert cams
    ranking = next(d.value for d in at.dataframe if "gallery photos" in d.value.columns)
    assert sorted(ranking["class"]) == sorted(cols) and ranking["distance"].is_monotonic_increasing
    assert any("gallery of" in c.value and f"{len(labels)} classes" in c.value for c in at.caption)
    assert any("Measurements" in h.value for h in at.subheader)
    if task == "autism":  # the statement comes first, before any output
        assert "cannot diagnose autism" in at.warning[0].value and "retracted" in at.warning[0].value


def test_demo_phantom_shows_the_drawn_condition_beside_the_cam(weights_root, monkeypatch) -> None:
    at = _app(weights_root, monkeypatch, "skin")
    at.sidebar.selectbox(key="screen_sample").set_value("skin phantom: acne.jpg").run()
    assert not at.exception and not at.error
    assert any("Pointing game on this phantom" in c.value for c in at.caption)


def test_no_weights_says_how_to_train(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", tmp_path)
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    assert any("No face screening weights yet" in i.value for i in at.info)


def test_photo_without_a_face_gets_a_message(weights_root, monkeypatch) -> None:
    at = _app(weights_root, monkeypatch, "skin")
    at.sidebar.radio(key="screen_source").set_value("Upload").run()
    buf = io.BytesIO()
    Image.fromarray(np.full((300, 400, 3), 128, np.uint8)).save(buf, "PNG")
    at.file_uploader(key="screen_upload").set_value(("blank.png", buf.getvalue(), "image/png")).run()
    assert not at.exception
    assert any("no face found" in e.value for e in at.error)


@pytest.mark.parametrize("task, refused", [("skin", True), ("syndrome", False)])
def test_a_greyscale_photo_is_not_skin_screened(weights_root, monkeypatch, task, refused) -> None:
    at = _app(weights_root, monkeypatch, task)
    at.sidebar.radio(key="screen_source").set_value("Upload").run()
    grey = Image.open(ROOT / "data_samples" / "face" / "grace_hopper.jpg").convert("L").convert("RGB")
    buf = io.BytesIO()
    grey.save(buf, "JPEG")
    at.file_uploader(key="screen_upload").set_value(("portrait.jpg", buf.getvalue(), "image/jpeg")).run()
    assert not at.exception
    said = any("is a greyscale photo" in e.value for e in at.error)
    assert said == refused
    assert bool([c for c in at.dataframe if "probability" in c.value.columns]) != refused


@pytest.mark.parametrize("min_top_prob, abstains", [(0.999, True), (0.0, False)])
def test_out_of_range_answers_are_shown_as_such(tmp_path, monkeypatch, min_top_prob, abstains) -> None:
    labels = list(SCREENING.rows["skin"].labels)
    args = parse_args(["--phantoms", "8", "--screen-task", "skin", "--widths", "4", "8",
                       "--region-widths", "4", "8", "--face-size", "64", "--crop-size", "32"])
    card = screening_card(args, labels, training={"synthetic": True, "screen_task": "skin",
                                                  "data": "tiny test phantoms"})
    card = replace(card, postprocess={**card.postprocess, "abstain": {
        "min_top_prob": min_top_prob, "max_gallery_distance": None, "chosen_on": "a test"}})
    save_model(new_model(args, len(labels), seed=0), card, tmp_path / "face_screening" / "skin")
    at = _app(tmp_path, monkeypatch, "skin")
    assert not at.error
    out = [w.value for w in at.warning if "Out of range" in w.value]
    answered = [s.value for s in at.success if s.value.startswith("Answer:")]
    if abstains:
        assert out and "no class is confident" in out[0] and "context only" in out[0] and not answered
    else:
        assert answered and not out
    assert any("Out-of-range rule" in c.value and "a test" in c.value for c in at.caption)
