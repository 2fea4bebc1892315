"""The committed fetal head weights: integrity, behaviour on samples and on non-ultrasound input."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib import cbook

from core.analysis import fetal_head
from core.datasets import read_hc18
from core.io.image import load_image
from core.predict import Segmenter
from core.tasks import get_task
from core.weights import read_card

TASK = get_task("fetal_head")


@pytest.fixture(scope="module", params=TASK.models)
def shipped(request: pytest.FixtureRequest) -> Segmenter:
    return Segmenter.from_folder(TASK.weights_dir(request.param))  # sha256 checked here


def test_cards_say_real_hc18_training_and_record_the_held_out_figures() -> None:
    for model in TASK.models:
        card = read_card(TASK.weights_dir(model))
        assert not card.synthetic and "HC18" in card.training["data"]
        assert card.weights["bytes"] < 10e6  # every shipped model stays under 10 MB
        # calibrated on its training frames, read with the task's test-time views
        assert card.postprocess["tta"] and "validation exams not used" in card.training["calibration"]["how"]
        assert card.postprocess["outline_offset_px"] == card.training["calibration"]["outline_offset_px"]
        report = card.metrics["validation_hc18"]["hc_report"]  # 68 frames of 61 held-out exams
        assert report["all"]["n"] == 68 and sum(b["n"] for b in report["bands"].values()) == 68
        err = report["all"]["hc_abs_error_mm"]
        assert err["ci95"][0] <= err["mean"] <= err["ci95"][1]
        assert "spearman_rho" in report["spread"]


def test_samples_are_measured_close_to_their_reference(shipped: Segmenter) -> None:
    errors = []
    for case in read_hc18(TASK.samples_dir, "training_set"):
        res = fetal_head.analyse(shipped, case.image, case.pixel_size_mm)
        assert res.problem is None, res.problem
        errors.append(abs(res.measurement.hc_mm - case.meta["hc_mm"]))
    assert np.mean(errors) < 3.0, errors


@pytest.mark.parametrize("name", ["blank", "noise", "photo"])
def test_non_ultrasound_input_finds_no_head(shipped: Segmenter, name: str) -> None:
    photo = load_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).pixels
    image = {"blank": np.full((540, 800), 128, np.uint8),
             "noise": (np.random.default_rng(0).random((540, 800)) * 255).astype(np.uint8),
             "photo": photo}[name]
    res = fetal_head.analyse(shipped, image, 0.2, 25.0)
    expected = "not an ultrasound frame" if name == "photo" else "no head found"  # a photo: refused first
    assert res.measurement is None and res.problem.startswith(expected)
