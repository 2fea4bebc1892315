"""core.face.screening + core.models.screening: the region-wise ensemble and its predictor."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.face.regions import REGION_LOOPS, align_face, region_crops, region_masks
from core.face.screening import (
    MEAN,
    SCREEN_REGIONS,
    SKIN_TONE,
    STD,
    WHOLE_FACE,
    Screener,
    ScreeningNet,
    prepare_inputs,
    region_spec,
    skin_gains,
)
from core.models import create_model, get_spec, list_models
from core.models.screening import mean_softmax, views_logits
from core.weights import ModelCard, WeightsError, load_model, save_model

LABELS = ["a", "b", "c"]
FACE, CROP = 64, 32
REGIONS = list(SCREEN_REGIONS)


def _card(**post: object) -> ModelCard:
    return ModelCard(
        task="face_screening", arch="screening_net",
        arch_config={"classes": len(LABELS), "regions": REGIONS, "widths": [4, 8], "region_widths": [4, 8]},
        labels=LABELS,
        input={"size": [FACE, FACE], "resize": "align_face", "align": {"eye_distance": 0.35, "eye_y": 0.4},
               "crop_size": CROP, "crop_margin": 0.15, "regions": region_spec(REGIONS),
               "mean": MEAN, "std": STD},
        postprocess={"ensemble": "mean_softmax", **post},
        training={"synthetic": True, "screen_task": "skin"})


def _screener(seed: int = 0, **post: object) -> Screener:
    torch.manual_seed(seed)
    card = _card(**post)
    return Screener(create_model(card.arch, **card.arch_config), card)


@pytest.fixture(scope="module")
def screener() -> Screener:
    return _screener()


# ---------------------------------------------------------------- the ensemble's arithmetic
def test_prediction_is_the_mean_of_the_members_softmaxes(screener, rgb, lm) -> None:
    res = screener.predict(rgb, lm)
    face, crops = screener.tensors([res.inputs])
    with torch.no_grad():
        logits = screener.model(face, crops)
    assert list(logits) == [WHOLE_FACE, *REGIONS] == list(screener.members)
    by_hand = np.mean([torch.softmax(x, -1)[0].numpy() for x in logits.values()], axis=0)
    np.testing.assert_allclose(res.probs, by_hand, atol=1e-6)
    np.testing.assert_allclose(res.probs, np.mean(list(res.member_probs.values()), axis=0), atol=1e-6)
    for m, x in logits.items():
        np.testing.assert_allclose(res.member_probs[m], torch.softmax(x, -1)[0].numpy(), atol=1e-6)
    assert res.probs.dtype == np.float32 and res.probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_member_weights_from_the_card(rgb, lm) -> None:
    plain = _screener(seed=3)
    weighted = _screener(seed=3, member_weights={WHOLE_FACE: 3.0, "nose": 0.0})
    res = weighted.predict(rgb, lm)
    members = plain.predict(rgb, lm).member_probs
    w = {m: 3.0 if m == WHOLE_FACE else 0.0 if m == "nose" else 1.0 for m in members}
    expected = sum(members[m] * w[m] for m in members) / sum(w.values())
    np.testing.assert_allclose(res.probs, expected, atol=1e-6)
    assert res.member_weights == w


def test_bad_member_weights_are_refused() -> None:
    with pytest.raises(WeightsError, match="not members"):
        _screener(member_weights={"ears": 1.0})
    with pytest.raises(WeightsError, match="non-negative"):
        _screener(member_weights={m: 0.0 for m in [WHOLE_FACE, *REGIONS]})
    with pytest.raises(ValueError, match="non-negative"):
        mean_softmax({"x": torch.zeros(1, 2)}, {"x": -1.0})


def test_two_views_average_their_softmaxes_exactly() -> None:
    torch.manual_seed(0)
    model = create_model("screening_net", classes=4, widths=[4, 8], region_widths=[4, 8])
    net = model.member("cheeks").eval()
    views = torch.randn(2, 2, 3, CROP, CROP)
    with torch.no_grad():
        p = torch.softmax(views_logits(net, views), -1)
        by_hand = (torch.softmax(net(views[:, 0]), -1) + torch.softmax(net(views[:, 1]), -1)) / 2
        single = views_logits(net, views[:, :1])
    torch.testing.assert_close(p, by_hand, atol=1e-6, rtol=0)
    torch.testing.assert_close(single, net(views[:, 0]))


def test_top_n_is_sorted_and_matches_the_probabilities(screener, rgb, lm) -> None:
    res = screener.predict(rgb, lm, top_n=2)
    assert len(res.top) == 2
    full = screener.predict(rgb, lm, top_n=10).top
    assert len(full) == len(LABELS)  # never more than the classes
    probs = [p for _, p in full]
    assert probs == sorted(probs, reverse=True)
    assert [lab for lab, _ in full][0] == LABELS[res.top_index]
    assert all(res.probs[LABELS.index(lab)] == pytest.approx(p) for lab, p in full)
    assert full[:2] == res.top


# ---------------------------------------------------------------- inputs
def test_crop_shapes_and_embedding(screener, rgb, lm) -> None:
    res = screener.predict(rgb, lm)
    assert res.aligned.shape == (FACE, FACE, 3) and res.aligned.dtype == np.uint8
    assert set(res.crops) == set(REGIONS)
    for r, views in res.crops.items():
        assert len(views) == (2 if r == "cheeks" else 1)
        assert all(v.shape == (CROP, CROP, 3) and v.dtype == np.uint8 and v.any() for v in views)
    assert res.embedding.shape == (8,) and res.embedding.dtype == np.float32
    assert not res.aligned.flags.writeable and not res.probs.flags.writeable  # shared results


def test_each_region_crop_holds_its_landmarks(rgb, lm) -> None:
    inputs = prepare_inputs(rgb, lm, _card().input, REGIONS)
    for r, views in SCREEN_REGIONS.items():
        for k, view in enumerate(views):
            m = inputs.crop_matrices[r][k]
            xy = lm.xy[list(view.points)].astype(np.float64) @ m[:, :2].T + m[:, 2]
            assert xy.min() > 0 and xy.max() < CROP - 1, r
    # The mouth crop reaches the nose base (philtrum inside); periocular spans both eyes.
    assert {2, 0, 17} <= set(SCREEN_REGIONS["mouth"][0].points)
    eyes = set(REGION_LOOPS["right_eye"]) | set(REGION_LOOPS["left_eye"])
    assert eyes <= set(SCREEN_REGIONS["periocular"][0].points)


def test_left_cheek_view_is_the_mirrored_left_cheek_crop(rgb, lm) -> None:
    inputs = prepare_inputs(rgb, lm, _card().input, REGIONS)
    left = region_crops(rgb, lm, size=CROP, margin=0.15, loops={"l": SCREEN_REGIONS["cheeks"][1].points})["l"]
    diff = np.abs(inputs.crops["cheeks"][1].astype(int) - left[:, ::-1].astype(int))
    assert diff.max() <= 1


def test_region_crops_default_unchanged_by_the_loops_argument(rgb, lm) -> None:
    default, explicit = region_crops(rgb, lm, size=48), region_crops(rgb, lm, size=48, loops=REGION_LOOPS)
    assert default.keys() == explicit.keys()
    assert all(np.array_equal(default[k], explicit[k]) for k in default)


def test_evidence_mask_moves_into_the_member_frames(screener, rgb, lm) -> None:
    inputs = screener.prepare(rgb, lm)
    nose = region_masks(lm)["nose"]
    in_crop = inputs.mask_to_member(nose, "nose")
    in_face = inputs.mask_to_member(nose, WHOLE_FACE)
    assert in_crop.shape == (CROP, CROP) and in_face.shape == (FACE, FACE)
    assert 0.1 < in_crop.mean() < 0.8  # the nose fills much of its own crop
    rows, cols = np.nonzero(in_face)
    assert abs(cols.mean() - FACE / 2) < FACE * 0.08  # on the aligned face's midline
    assert inputs.mask_to_member(nose, "forehead").mean() < 0.05  # at most the nasion's tip


# ---------------------------------------------------------------- sharing and storage
def test_four_threads_on_one_screener_agree(screener, rgb, lm) -> None:
    expected = screener.predict(rgb, lm)

    def run(_: int) -> list:
        return [screener.predict(rgb, lm) for _ in range(3)]

    with ThreadPoolExecutor(4) as pool:
        results = [r for rs in pool.map(run, range(4)) for r in rs]
    for res in results:
        np.testing.assert_array_equal(res.probs, expected.probs)
        np.testing.assert_array_equal(res.embedding, expected.embedding)
        assert res.top == expected.top
    assert not screener.model.training


def test_card_round_trip_with_sha256(screener, rgb, lm, tmp_path) -> None:
    card = save_model(screener.model, screener.card, tmp_path)
    assert card.weights["dtype"] == "float16" and len(card.weights["sha256"]) == 64
    loaded = Screener.from_folder(tmp_path)
    assert loaded.card == card and loaded.labels == tuple(LABELS) and loaded.members == screener.members
    again = Screener.from_folder(tmp_path).predict(rgb, lm)
    np.testing.assert_array_equal(loaded.predict(rgb, lm).probs, again.probs)
    np.testing.assert_allclose(again.probs, screener.predict(rgb, lm).probs, atol=2e-2)  # fp16 weights
    data = bytearray((tmp_path / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_model(tmp_path)


def test_card_and_model_must_agree() -> None:
    card = _card()
    with pytest.raises(WeightsError, match="labels"):
        Screener(create_model(card.arch, **{**card.arch_config, "classes": 4}), card)
    with pytest.raises(WeightsError, match="regions"):
        Screener(create_model(card.arch, **card.arch_config),
                 replace(card, input={**card.input, "regions": region_spec(["nose"])}))


def test_registered_with_a_whole_face_cam_layer() -> None:
    assert "screening_net" in list_models("classification")
    model = create_model("screening_net", classes=3)
    assert get_spec("screening_net").cam_layer(model) is model.cam_layer(WHOLE_FACE)
    assert any(model.cam_layer("cheeks") is m for m in model.region_nets["cheeks"].modules())
    with pytest.raises(KeyError, match="members"):
        model.member("ears")


def test_default_model_fits_the_weights_budget(tmp_path) -> None:
    model = create_model("screening_net", classes=4)
    assert isinstance(model, ScreeningNet) and model.members == (WHOLE_FACE, *REGIONS)
    n = sum(p.numel() for p in model.parameters())
    assert 500_000 < n <= 4_000_000
    card = replace(_card(), arch_config={"classes": 4}, labels=["w", "x", "y", "z"])
    written = save_model(model, card, tmp_path)
    assert written.weights["bytes"] < 10_000_000
    assert (tmp_path / "model.safetensors").stat().st_size == written.weights["bytes"]


def test_skin_balance_brings_the_median_skin_to_the_card_tone(rgb, lm) -> None:
    plain = prepare_inputs(rgb, lm, _card().input, ["nose"])
    spec = {**_card().input, "colour": "skin_balance", "skin_tone": list(SKIN_TONE)}
    balanced = prepare_inputs(rgb, lm, spec, ["nose"])
    aligned = prepare_inputs(rgb, lm, {**spec, "colour": "none"}, ["nose"]).aligned
    np.testing.assert_array_equal(aligned, plain.aligned)  # "none" leaves the pixels alone
    face = align_face(rgb, lm, size=FACE, eye_distance=0.35, eye_y=0.4)
    gains = skin_gains(face.image, face.landmarks, spec)
    masks = region_masks(face.landmarks)
    skin = masks["face_oval"] & ~(masks["right_eye"] | masks["left_eye"] | masks["right_brow"]
                                  | masks["left_brow"] | masks["lips"])
    np.testing.assert_allclose(np.median(balanced.aligned[skin].astype(float), axis=0), SKIN_TONE, atol=3)
    expected_nose = np.clip(plain.crops["nose"][0] * gains.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(balanced.crops["nose"][0], expected_nose)  # crops get the face's gains
    with pytest.raises(WeightsError, match="colour"):
        prepare_inputs(rgb, lm, {**spec, "colour": "sepia"}, ["nose"])


def test_torchvision_whole_face_backbone_fits_the_budget_and_explains(rgb, lm, tmp_path) -> None:
    """mobilenet_v3_small (random init) as the whole-face member: outputs, Grad-CAM, size, and a
    torchvision-style checkpoint loading into it by name (train.classifier --pretrained)."""
    from safetensors.torch import save_file
    from torchvision.models import mobilenet_v3_small

    from core.face.screening_cam import classification_cam
    from train.classifier import load_pretrained

    card = _card()
    card = replace(card, arch_config={**card.arch_config, "whole_face_backbone": "mobilenet_v3_small"})
    torch.manual_seed(0)
    model = create_model(card.arch, **card.arch_config)
    screener = Screener(model, card)
    result = screener.predict(rgb, lm)
    assert result.probs.shape == (len(LABELS),) and abs(float(result.probs.sum()) - 1) < 1e-5
    assert result.embedding.shape == (576,)
    cam = classification_cam(screener, result, result.top_index)
    assert cam.shape == result.aligned.shape[:2] and 0 <= cam.min() and cam.max() <= 1
    big = create_model(card.arch, **{**card.arch_config, "widths": [16, 32, 64, 128],
                                     "region_widths": [16, 32, 64, 128]})
    assert sum(p.numel() for p in big.parameters()) * 2 < 10_000_000  # fp16 bytes
    tv = {k: v.contiguous() for k, v in mobilenet_v3_small(weights=None).state_dict().items()
          if k.startswith("features.")}
    save_file(tv, str(tmp_path / "imagenet.safetensors"))
    assert load_pretrained(model, tmp_path / "imagenet.safetensors") == len(tv)
    assert torch.equal(model.whole_face.features_net[0][0].weight, tv["features.0.0.weight"])
