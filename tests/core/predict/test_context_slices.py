"""2.5-D brain models: each slice read with its neighbours as extra channels (the card's input
``"context_slices"``), the same way in training, in the volume predictor and from a lone slice."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.models import create_model, get_spec
from core.predict import Segmenter, VolumeSegmenter
from core.tasks import get_task
from core.weights import ModelCard, read_card
from core.windowing import VOLUME_WINDOW, neighbour_slices, slice_input, window_sequences
from tests.core.predict.test_window_median import head

TASK = get_task("brain_tumor")


def with_neighbours(stack: np.ndarray, context: int) -> np.ndarray:
    """Every slice of a stack as a model of ``context`` reads it."""
    return np.stack([slice_input(stack[z], neighbour_slices(stack, z, context), context)
                     for z in range(len(stack))])


def test_neighbours_come_in_slice_order_with_the_end_slice_past_either_end():
    stack3 = np.arange(3)[:, None, None] * np.ones((3, 2, 2), np.uint8)
    assert [int(s[0, 0]) for s in neighbour_slices(stack3, 0, 2)] == [0, 0, 1, 2]  # z-2, z-1, z+1, z+2
    with pytest.raises(ValueError, match="reads 2 neighbouring slices on either side; 1 were kept"):
        slice_input(stack3[1], neighbour_slices(stack3, 1), 2)
    stack = (np.arange(4)[:, None, None, None] * 10 + np.arange(3)).astype(np.uint8)
    stack = np.broadcast_to(stack, (4, 2, 2, 3))
    out = with_neighbours(stack, 1)
    assert out.shape == (4, 2, 2, 9)
    np.testing.assert_array_equal(out[1, 0, 0], [0, 1, 2, 10, 11, 12, 20, 21, 22])  # z-1, z, z+1
    np.testing.assert_array_equal(out[0, 0, 0], [0, 1, 2, 0, 1, 2, 10, 11, 12])  # before the first: itself
    np.testing.assert_array_equal(out[3, 0, 0], [20, 21, 22, 30, 31, 32, 30, 31, 32])
    assert with_neighbours(stack[:1], 2).shape == (1, 2, 2, 15)  # a lone slice: copies of itself
    assert with_neighbours(stack[..., 0], 1).shape == (4, 2, 2, 3)  # one sequence: 3 channels
    np.testing.assert_array_equal(with_neighbours(stack, 0), stack)  # no context: the stack as it is


def context_card(context: int, sequences: int = 3) -> tuple[torch.nn.Module, ModelCard]:
    torch.manual_seed(0)
    cfg = {**get_spec("unet_mobilenet").defaults, "in_channels": sequences * (2 * context + 1)}
    card = ModelCard(task=TASK.name, arch="unet_mobilenet", arch_config=cfg, labels=list(TASK.labels),
                     input={**TASK.input, "size": [32, 32], "context_slices": context},
                     postprocess={**TASK.postprocess, "min_component_vox": 0, "largest_component_3d": False})
    return create_model("unet_mobilenet", **cfg), card


def test_card_counts_sequences_apart_from_the_slices_read_at_once():
    _, card = context_card(1)
    assert (card.in_channels, card.context_slices, card.sequences) == (9, 1, 3)
    _, flair = context_card(2, sequences=1)
    assert (flair.in_channels, flair.sequences) == (5, 1)
    shipped = read_card(Path("weights/brain_tumor/unet"))  # a card without the entry: lone slices
    assert (shipped.context_slices, shipped.sequences) == (shipped.input.get("context_slices", 0), 3)


def test_volume_predictor_feeds_each_slice_with_its_neighbours():
    model, card = context_card(1)
    seg = Segmenter(model, card)
    vol = np.stack([head(lesion=180 + 20 * c) for c in range(3)], axis=-1)
    vol[2] *= 1.5  # slices differ, so a neighbour's channels matter
    res = VolumeSegmenter(seg).predict(vol)
    inputs = with_neighbours(window_sequences(vol, card.window), 1)
    for z in range(len(vol)):
        np.testing.assert_allclose(res.prob[z], seg.predict(inputs[z]).prob, atol=1e-4)
    alone = with_neighbours(window_sequences(vol, card.window)[1:2], 1)[0]  # slice 1 without its neighbours
    assert not np.allclose(res.prob[1], seg.predict(alone).prob, atol=1e-3)
    single = VolumeSegmenter(seg).predict(vol[1])  # a lone slice: read with copies of itself
    assert single.prob.shape == (1, 32, 32)
    with pytest.raises(ValueError, match="ZxHxWx3"):
        VolumeSegmenter(seg).predict(inputs)  # the model's 9 channels are not the upload's 3 sequences


def test_a_context_model_starts_as_the_lone_slice_model_it_widens(tmp_path: Path) -> None:
    from tests.train.test_evaluate_kaggle_3m import write_lgg
    from tests.train.test_train_kaggle_3m import tiny
    from train import segmentation

    data = write_lgg(tmp_path / "lgg")
    lone, wide = tmp_path / "lone", tmp_path / "wide"
    assert segmentation.main(tiny(data, lone, 3)) == 0
    assert segmentation.main(tiny(data, wide, 3, "--context-slices", "1", "--init", str(lone))) == 0
    card = read_card(wide)
    assert (card.in_channels, card.context_slices, card.sequences, card.window) == (9, 1, 3, VOLUME_WINDOW)
    assert "middle slice's sequences, zero on the other 6 inputs" in card.training["init"]
    assert card.training["config"]["context_slices"] == 1
    vseg = VolumeSegmenter.from_folder(wide)
    from core.analysis.brain_patients import model_input
    from core.datasets import read_kaggle_3m_volumes

    case = next(iter(read_kaggle_3m_volumes(data)))
    assert vseg.predict(model_input(case, card.sequences)).mask.shape == case.label.shape


def test_widened_weights_reproduce_the_lone_slice_model():
    from train.seg_init import widen_first_conv

    lone, _ = context_card(0)
    wide, _ = context_card(1)
    wide.load_state_dict(widen_first_conv(lone.state_dict(), wide.state_dict(), first=3))
    lone.eval(), wide.eval()
    x, before, after = (torch.rand(1, 3, 32, 32) for _ in range(3))
    with torch.no_grad():  # the neighbours have no say yet
        assert torch.allclose(lone(x), wide(torch.cat([before, x, after], 1)), atol=1e-5)


def test_context_needs_volumes():
    from train.segmentation import parse_args

    base = ["--task", "brain_tumor", "--arch", "unet_mobilenet", "--context-slices", "1"]
    assert parse_args([*base, "--data", "x"]).context_slices == 1
    with pytest.raises(SystemExit):
        parse_args([*base, "--phantoms", "4"])


def test_lab_scores_a_context_model_on_slices_as_the_volume_predictor_reads_them(tmp_path: Path) -> None:
    from core.analysis.brain_patients import model_input
    from core.datasets import read_kaggle_3m_volumes
    from core.datasets.kaggle_3m import read_kaggle_3m_windowed
    from core.evaluation.engine import evaluate_segmentation, model_view
    from tests.train.test_evaluate_kaggle_3m import write_lgg

    data = write_lgg(tmp_path / "lgg")
    model, card = context_card(1)
    seg = Segmenter(model, card)
    slices = list(read_kaggle_3m_windowed(data, window=card.window))
    patient = next(iter(read_kaggle_3m_volumes(data)))
    mine = [c for c in slices if c.group == patient.name]
    volume = VolumeSegmenter(seg).predict(model_input(patient, 3))
    assert len(mine) == len(volume.prob) > 2
    for z, case in enumerate(mine):
        assert model_view(case, 3, 1).shape == (*case.image.shape[:2], 9)
        np.testing.assert_allclose(seg.predict(model_view(case, 3, 1)).prob, volume.prob[z], atol=1e-4)
    rows = evaluate_segmentation(seg, mine, task=TASK.name).rows
    assert [r["name"] for r in rows] == [c.name for c in mine]
    flair = model_view(mine[1], 1, 1)  # a FLAIR model of context 1: FLAIR of slices 0, 1, 2
    np.testing.assert_array_equal(flair[..., 1], mine[1].image[..., 1])
    np.testing.assert_array_equal(flair[..., 2], mine[2].image[..., 1])
    lone = mine[1].__class__(name="x.tif", image=mine[1].image, mask=None)
    with pytest.raises(ValueError, match="reads 1 neighbouring slices on either side; 0 were kept"):
        model_view(lone, 3, 1)


def test_lab_offers_context_models_only_for_folders_of_volumes(tmp_path: Path) -> None:
    from core.lab import detect_layout, models_read_context
    from tests.train.test_evaluate_kaggle_3m import write_lgg

    _, ctx = context_card(1)
    _, wide = context_card(2)
    _, lone = context_card(0)
    cards = {"ctx": ctx, "wide": wide, "lone": lone}
    lgg = detect_layout(write_lgg(tmp_path / "lgg"))
    assert set(models_read_context(cards, lgg)) == {"ctx", "lone"}
    images = tmp_path / "nerve"
    (images / "images").mkdir(parents=True)
    (images / "masks").mkdir()
    import cv2

    frame = np.zeros((8, 8), np.uint8)
    cv2.imwrite(str(images / "images" / "1_1.png"), frame)
    cv2.imwrite(str(images / "masks" / "1_1_mask.png"), frame)
    assert set(models_read_context(cards, detect_layout(images))) == {"lone"}
