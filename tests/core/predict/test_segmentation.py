"""core.predict.segmenter: letterboxing, input preparation, post-processing and the Segmenter."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from core.models import create_model
from core.predict import (
    SegmentationResult,
    Segmenter,
    letterbox,
    postprocess,
    prepare_input,
    unletterbox,
)
from core.weights import ModelCard

INPUT = {"size": [64, 96], "resize": "letterbox", "mean": [0.5], "std": [0.25]}


def _card(arch: str = "unet", **postprocess_spec) -> ModelCard:
    return ModelCard(task="fetal_head", arch=arch, arch_config={}, labels=["head"], input=dict(INPUT),
                     postprocess={"threshold": 0.5, **postprocess_spec})


def _smooth(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return (np.sin(xx / 80) * np.cos(yy / 60)).astype(np.float32)


class ConstantLogit(nn.Module):
    """Returns ``value`` everywhere, whatever the input (but still through the input tensor)."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value
        self.calls: list[torch.Size] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape)
        return torch.full_like(x[:, :1], self.value)


@pytest.fixture(scope="module")
def unet_segmenter() -> Segmenter:
    torch.manual_seed(0)
    return Segmenter(create_model("unet"), _card())


# ---------------------------------------------------------------- letterbox


def test_letterbox_landscape_hc18_frame():
    img = np.full((540, 800), 7, np.uint8)
    out, box = letterbox(img, (256, 384))
    assert out.shape == (256, 384) and out.dtype == np.uint8
    assert box.scale == pytest.approx(256 / 540)
    assert (box.height, box.width) == (256, round(800 * 256 / 540)) == (256, 379)
    assert (box.top, box.left) == (0, 2)
    assert box.orig_shape == (540, 800)
    assert (out[:, 2:381] == 7).all()
    assert (out[:, :2] == 0).all() and (out[:, 381:] == 0).all()


def test_letterbox_portrait_pads_left_and_right():
    out, box = letterbox(np.full((800, 540), 9, np.uint8), (256, 384))
    assert box.scale == pytest.approx(256 / 800)
    assert (box.top, box.height, box.width) == (0, 256, 173)
    assert box.left == (384 - 173) // 2 == 105
    assert (out[:, 105:278] == 9).all() and out[:, :105].sum() == 0 and out[:, 278:].sum() == 0


def test_letterbox_pads_top_and_bottom():
    out, box = letterbox(np.ones((100, 600), np.float32), (64, 96))
    assert (box.height, box.width) == (16, 96)
    assert (box.top, box.left) == (24, 0)
    assert out[24:40].min() == pytest.approx(1.0) and out[:24].max() == 0.0 and out[40:].max() == 0.0


def test_letterbox_keeps_channels():
    out, box = letterbox(np.ones((30, 40, 3), np.uint8), (64, 96))
    assert out.shape == (64, 96, 3)


def test_unletterbox_inverts_letterbox_on_a_smooth_image():
    img = _smooth(540, 800)
    boxed, box = letterbox(img, (256, 384))
    back = unletterbox(boxed, box)
    assert back.shape == img.shape and back.dtype == np.float32
    assert np.abs(back - img).max() < 0.02
    assert np.abs(back - img).mean() < 1e-3


# ---------------------------------------------------------------- prepare_input


def test_prepare_input_normalises_with_the_card():
    img = np.zeros((64, 96), np.uint8)
    img[10, 20] = 204
    img[30, 40] = 255
    x, box = prepare_input(img, INPUT)
    assert x.shape == (1, 64, 96) and x.dtype == np.float32
    assert (box.scale, box.top, box.left) == (1.0, 0, 0)
    assert x[0, 10, 20] == pytest.approx((204 / 255 - 0.5) / 0.25)  # 1.2
    assert x[0, 30, 40] == pytest.approx(2.0)
    assert x[0, 0, 0] == pytest.approx(-2.0)


def test_prepare_input_uses_mean_and_std_from_the_spec():
    img = np.full((64, 96), 51, np.uint8)  # 0.2
    x, _ = prepare_input(img, {**INPUT, "mean": [0.1], "std": [0.5]})
    assert np.allclose(x, (0.2 - 0.1) / 0.5)


@pytest.mark.parametrize("shape,dtype", [((120, 200), np.uint8), ((120, 200), np.uint16),
                                         ((120, 200, 3), np.uint8), ((50, 50), np.float32)])
def test_prepare_input_accepts_common_images(shape, dtype):
    rng = np.random.default_rng(0)
    hi = 255 if dtype == np.uint8 else 4000
    img = rng.integers(0, hi, shape).astype(dtype)
    x, box = prepare_input(img, INPUT)
    assert x.shape == (1, 64, 96) and x.dtype == np.float32
    assert box.orig_shape == shape[:2]
    assert x.min() >= -2.0 - 1e-6 and x.max() <= 2.0 + 1e-6
    assert x.std() > 0.1


def test_prepare_input_grey_rgb_equals_grey():
    img = np.random.default_rng(1).integers(0, 256, (60, 90), dtype=np.uint8)
    x_grey, _ = prepare_input(img, INPUT)
    x_rgb, _ = prepare_input(np.repeat(img[..., None], 3, axis=2), INPUT)
    np.testing.assert_allclose(x_rgb, x_grey, atol=1e-6)


@pytest.mark.parametrize("shape", [(32, 48, 4), (1, 32, 48, 3), (2, 32, 48, 1), (32,)])
def test_prepare_input_rejects_other_layouts(shape):
    with pytest.raises(ValueError, match="HxW"):
        prepare_input(np.zeros(shape, np.uint8), INPUT)


# ---------------------------------------------------------------- postprocess


def test_postprocess_threshold_is_inclusive():
    prob = np.array([[0.1, 0.49, 0.5, 0.9]], np.float32)
    np.testing.assert_array_equal(postprocess(prob, 0.5, {}), [[False, False, True, True]])
    np.testing.assert_array_equal(postprocess(prob, 0.95, {}), [[False, False, False, False]])
    assert postprocess(prob, 0.5, {}).dtype == bool


def _two_blobs() -> np.ndarray:
    prob = np.zeros((20, 30), np.float32)
    prob[2:5, 2:5] = 0.9  # 9 px
    prob[8:16, 10:20] = 0.8  # 80 px
    return prob


def test_postprocess_largest_component():
    mask = postprocess(_two_blobs(), 0.5, {"largest_component": True})
    assert mask.sum() == 80 and mask[10, 15] and not mask[3, 3]
    assert postprocess(_two_blobs(), 0.5, {"largest_component": False}).sum() == 89


def test_postprocess_fill_holes():
    prob = np.zeros((20, 20), np.float32)
    prob[4:16, 4:16] = 1.0
    prob[8:12, 8:12] = 0.0  # a 16-px hole
    assert postprocess(prob, 0.5, {}).sum() == 144 - 16
    filled = postprocess(prob, 0.5, {"fill_holes": True})
    assert filled.sum() == 144 and filled[9, 9]


def test_postprocess_min_area_drops_only_small_components():
    prob = _two_blobs()
    prob[17:19, 25:29] = 0.7  # 8 px
    prob[0:10, 25:28] = 0.7  # 30 px
    mask = postprocess(prob, 0.5, {"min_area_px": 10})
    assert mask.sum() == 80 + 30
    assert not mask[3, 3] and not mask[18, 26]
    assert postprocess(prob, 0.5, {"min_area_px": 0}).sum() == 9 + 80 + 8 + 30
    assert postprocess(prob, 0.5, {"min_area_px": 1000}).sum() == 0


def test_postprocess_empty_stays_empty():
    spec = {"largest_component": True, "fill_holes": True, "min_area_px": 5}
    mask = postprocess(np.zeros((8, 8), np.float32), 0.5, spec)
    assert mask.shape == (8, 8) and not mask.any()


# ---------------------------------------------------------------- Segmenter


def test_predict_returns_maps_on_the_original_grid(unet_segmenter):
    img = np.random.default_rng(0).integers(0, 256, (120, 200), dtype=np.uint8)
    res = unet_segmenter.predict(img)
    assert isinstance(res, SegmentationResult)
    assert res.prob.shape == (120, 200) and res.prob.dtype == np.float32
    assert res.mask.shape == (120, 200) and res.mask.dtype == bool
    assert 0.0 <= res.prob.min() and res.prob.max() <= 1.0
    assert res.threshold == 0.5
    np.testing.assert_array_equal(res.mask, res.prob >= 0.5)


def test_predict_batch_returns_each_image_on_its_own_grid(unet_segmenter):
    rng = np.random.default_rng(1)
    shapes = [(120, 200), (50, 50), (300, 100)]
    images = [rng.integers(0, 256, s, dtype=np.uint8) for s in shapes]
    images.append(rng.integers(0, 256, (40, 70, 3), dtype=np.uint8))
    results = unet_segmenter.predict_batch(images)
    assert [r.prob.shape for r in results] == [*shapes, (40, 70)]
    assert [r.mask.shape for r in results] == [*shapes, (40, 70)]
    # A batch gives the same answer as one image at a time.
    np.testing.assert_allclose(results[1].prob, unet_segmenter.predict(images[1]).prob, atol=1e-5)


@pytest.mark.parametrize("grad_enabled", [True, False])
def test_predict_leaves_model_mode_and_grad_state_alone(unet_segmenter, grad_enabled):
    model = unet_segmenter.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    img = np.zeros((70, 90), np.uint8)
    with torch.set_grad_enabled(grad_enabled):
        unet_segmenter.predict(img)
        assert torch.is_grad_enabled() is grad_enabled
    assert not any(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN statistics untouched


def test_segmenter_runs_in_inference_mode():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append((torch.is_inference_mode_enabled(), self.training))
            return torch.zeros_like(x)

    Segmenter(Probe().train(), _card()).predict(np.zeros((10, 10), np.uint8))
    assert seen == [(True, False)]


@pytest.mark.parametrize("value,full", [(5.0, True), (-5.0, False)])
def test_constant_logit_model_gives_full_or_empty_mask(value, full):
    model = ConstantLogit(value)
    seg = Segmenter(model, _card(largest_component=True, fill_holes=True))
    res = seg.predict(np.random.default_rng(0).integers(0, 256, (120, 200), dtype=np.uint8))
    assert model.calls == [torch.Size([1, 1, 64, 96])]
    expected = 1.0 / (1.0 + np.exp(-value))
    np.testing.assert_allclose(res.prob, expected, rtol=1e-6)
    assert res.mask.all() if full else not res.mask.any()


def test_threshold_override_and_card_threshold():
    seg = Segmenter(ConstantLogit(1.0), _card())  # sigmoid(1) = 0.731
    assert seg.threshold == 0.5
    assert seg.predict(np.zeros((30, 40), np.uint8)).mask.all()
    res = seg.predict(np.zeros((30, 40), np.uint8), threshold=0.8)
    assert res.threshold == 0.8 and not res.mask.any()
    strict_card = dataclasses.replace(_card(), postprocess={"threshold": 0.75})
    strict = Segmenter(ConstantLogit(1.0), strict_card)
    assert strict.threshold == 0.75 and not strict.predict(np.zeros((30, 40), np.uint8)).mask.any()


def test_input_tensor_shape(unet_segmenter):
    x, box = unet_segmenter.input_tensor(np.zeros((120, 200), np.uint8))
    assert x.shape == (1, 1, 64, 96) and x.dtype == torch.float32
    assert box.orig_shape == (120, 200)


def test_very_negative_logits_do_not_overflow():
    import warnings

    seg = Segmenter(ConstantLogit(-100.0), _card())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = seg.predict(np.zeros((30, 40), np.uint8))
    assert res.prob.dtype == np.float32 and not res.mask.any()


def test_a_volume_rethresholded_matches_a_fresh_prediction_at_those_settings() -> None:
    from core.predict import VolumeSegmenter
    from core.tasks import get_task

    vseg = VolumeSegmenter(Segmenter.from_folder(get_task("brain_tumor").weights_dir("unet_flair")))
    folder = Path(__file__).resolve().parents[3] / "data_samples" / "brain_mri" / "kaggle_3m"
    folder = folder / "TCGA_DU_7304_19930325"
    vol = np.stack([cv2.imread(str(folder / f"{folder.name}_{n}.tif"))[..., 1] for n in (1, 18, 20, 22, 24)])
    vol = vol.astype(np.float32)  # FLAIR of a real patient's slices: the first one above the head
    base = vseg.predict(vol)
    every = {"min_area_px": 0, "min_component_vox": 0, "largest_component_3d": False}
    settings = ((0.5, None), (0.2, every), (0.8, {"min_area_px": 50}),
                (0.2, {**every, "largest_component_3d": True}))
    masks = []
    for thr, over in settings:
        fresh = vseg.predict(vol, threshold=thr, overrides=over)
        again = vseg.rethreshold(base, threshold=thr, overrides=over)
        assert np.array_equal(again.mask, fresh.mask) and again.threshold == thr
        assert again.prob is base.prob and again.slices_run == fresh.slices_run
        masks.append(int(fresh.mask.sum()))
    assert len(set(masks)) == len(masks) and max(masks) > 0  # the settings did change the masks
    with pytest.raises(ValueError, match="presence threshold"):
        vseg.rethreshold(base, overrides={"presence_threshold": 0.5})


@pytest.mark.parametrize("size, batch", [([256, 256], 4), ([128, 128], 16), ([64, 96], 42), ([600, 600], 1)])
def test_a_volume_goes_through_the_network_in_batches_of_equal_pixels(size, batch) -> None:
    from core.predict import VolumeSegmenter

    card = dataclasses.replace(_card(), input={**_card().input, "size": size})
    seg = Segmenter(create_model("unet"), card)
    assert VolumeSegmenter(seg).batch == batch
    assert VolumeSegmenter(seg, batch=3).batch == 3  # an explicit batch wins


def test_the_slices_of_a_volume_do_not_depend_on_the_batch() -> None:
    from core.predict import VolumeSegmenter

    torch.manual_seed(0)
    seg = Segmenter(create_model("unet"), _card())
    vol = np.stack([_smooth(48, 64) * (k + 1) / 5 for k in range(5)]).astype(np.float32)
    probs = [VolumeSegmenter(seg, batch=b).predict(vol).prob for b in (1, 2, 5)]
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-5)
    np.testing.assert_allclose(probs[0], probs[2], atol=1e-5)
