"""Selectable Grad-CAM stages: the members' cam_layer(stage), the card's explain section, and
classification_cam reading it (a card without the section behaves as before: the deepest stage)."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.face.screening import MEAN, SCREEN_REGIONS, STD, WHOLE_FACE, Screener, cam_stages, region_spec
from core.face.screening_cam import classification_cam
from core.models import create_model
from core.models.screening import MemberNet, TorchvisionMember
from core.weights import ModelCard, WeightsError, load_model, read_card, save_model

FACE, CROP = 64, 32
REGIONS = list(SCREEN_REGIONS)


def _card(**explain: object) -> ModelCard:
    return ModelCard(
        task="face_screening", arch="screening_net",
        arch_config={"classes": 2, "regions": REGIONS, "widths": [4, 8, 8], "region_widths": [4, 8]},
        labels=["a", "b"],
        input={"size": [FACE, FACE], "resize": "align_face", "align": {"eye_distance": 0.35, "eye_y": 0.4},
               "crop_size": CROP, "crop_margin": 0.15, "regions": region_spec(REGIONS),
               "mean": MEAN, "std": STD},
        postprocess={"ensemble": "mean_softmax"}, training={"synthetic": True, "screen_task": "skin"},
        explain=dict(explain))


@pytest.fixture(scope="module")
def screener() -> Screener:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    card = _card()
    return Screener(create_model(card.arch, **card.arch_config), card)


def test_member_cam_layer_picks_a_stage_and_names_the_range() -> None:
    net = MemberNet(2, (4, 8, 8))
    assert net.cam_stages == 3
    assert net.cam_layer() is net.stages[-1] and net.cam_layer(-3) is net.stages[0]
    assert net.cam_layer(1) is net.stages[1]
    for bad in (-4, 3, 1.0, True):
        with pytest.raises(IndexError, match="3 stages"):
            net.cam_layer(bad)
    tv = TorchvisionMember(2)
    assert tv.cam_layer() is tv.features_net[-1] and tv.cam_layer(-2) is tv.features_net[-2]
    assert tv.cam_stages == len(tv.features_net)


def test_cam_at_every_stage_is_on_the_member_input_in_unit_range(screener, rgb, lm) -> None:
    res = screener.predict(rgb, lm)
    for member, view, stages in ((WHOLE_FACE, 0, (-1, -2, -3)), ("cheeks", 1, (-1, -2))):
        shape = res.inputs.member_image(member, view).shape[:2]
        for stage in stages:
            cam = classification_cam(screener, res, 1, member, view, stage=stage)
            assert cam.shape == shape and cam.dtype == np.float32
            assert 0.0 <= cam.min() and cam.max() <= 1.0 and np.isfinite(cam).all()
    with pytest.raises(IndexError, match="2 stages"):
        classification_cam(screener, res, 0, "nose", stage=-3)


def test_the_card_stage_is_the_default_and_absent_means_the_deepest(screener, rgb, lm) -> None:
    res = screener.predict(rgb, lm)
    deepest = classification_cam(screener, res, 1)
    np.testing.assert_array_equal(deepest, classification_cam(screener, res, 1, stage=-1))
    chosen = Screener(screener.model, _card(cam_stage={WHOLE_FACE: -2}))
    np.testing.assert_array_equal(classification_cam(chosen, res, 1),
                                  classification_cam(screener, res, 1, stage=-2))
    assert cam_stages(chosen.card, chosen.members) == {WHOLE_FACE: -2, **{r: -1 for r in REGIONS}}
    with pytest.raises(WeightsError, match="not members"):
        cam_stages(_card(cam_stage={"ears": -2}), chosen.members)
    with pytest.raises(WeightsError, match="integer stages"):
        cam_stages(_card(cam_stage={"nose": "-2"}), chosen.members)


def test_card_round_trip_with_and_without_the_explain_section(tmp_path, screener) -> None:
    plain = _card()
    data = json.loads(plain.to_json())
    assert "explain" not in data  # older cards' JSON stays as it was
    assert ModelCard.from_dict(data) == plain and ModelCard.from_dict(data).explain == {}
    section = {"cam_stage": {WHOLE_FACE: -2, "nose": -1}, "selection": {"seed": 7001}}
    card = replace(plain, explain=section)
    assert json.loads(card.to_json())["explain"] == section
    saved = save_model(screener.model, card, tmp_path / "m")
    model, loaded = load_model(tmp_path / "m")  # sha256 checked
    assert loaded.explain == section and loaded.weights["sha256"] == saved.weights["sha256"]
    assert read_card(tmp_path / "m") == saved


def test_screener_refuses_an_unusable_cam_stage_at_load() -> None:
    import dataclasses

    import torch

    from core.face.screening import Screener
    from core.models import create_model
    from core.weights import ModelCard, WeightsError

    torch.manual_seed(0)
    model = create_model("screening_net", classes=2)
    card = ModelCard(task="face_screening", arch="screening_net", arch_config={"classes": 2},
                     labels=["a", "b"], input={}, postprocess={})
    Screener(model, card)  # no explain section: the deepest stage, as before
    for bad in ({"whole_face": -99}, {"nose": "deep"}, {"ears": -1}):
        with pytest.raises(WeightsError):
            Screener(model, dataclasses.replace(card, explain={"cam_stage": bad}))
