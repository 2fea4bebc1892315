"""core.explain: segmentation Grad-CAM on random-init models, and that the shared model is untouched."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from torch import nn

from core.explain import segmentation_cam
from core.geometry import Ellipse, ellipse_mask
from core.models import create_model, list_models
from core.predict import Segmenter
from core.weights import ModelCard

SHAPE = (120, 200)  # the frame; the network sees 64x96
HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
              "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs")


def _segmenter(arch: str, seed: int = 0) -> Segmenter:
    torch.manual_seed(seed)
    card = ModelCard(task="fetal_head", arch=arch, arch_config={}, labels=["head"],
                     input={"size": [64, 96], "resize": "letterbox", "mean": [0.5], "std": [0.25]},
                     postprocess={"threshold": 0.5})
    return Segmenter(create_model(arch), card)


def _image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, SHAPE, dtype=np.uint8)


def _head_mask() -> np.ndarray:
    return ellipse_mask(SHAPE, Ellipse(100, 60, 50, 30, 0.3))


def _hooks(model: nn.Module) -> dict[str, int]:
    return {f"{name}.{d}": len(getattr(m, d)) for name, m in model.named_modules() for d in HOOK_DICTS
            if getattr(m, d, None)}


def _global_hooks() -> tuple[int, ...]:
    from torch.nn.modules import module as M

    names = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
             "_global_backward_pre_hooks")
    return tuple(len(getattr(M, n, {})) for n in names)


@pytest.fixture(scope="module", params=list_models("segmentation"))
def seg(request) -> Segmenter:
    # Random init: with seed 0 the plain U-Net's CAM at its quarter-resolution decoder block is
    # negative everywhere and clips to an all-zero map (the trained weights give a proper map,
    # checked in test_cam_of_the_shipped_nerve_unet); with seed 1 it gives a map.
    return _segmenter(request.param, seed=1 if request.param == "unet" else 0)


def test_cam_is_unit_float_map_on_the_frame_grid(seg):
    heat = segmentation_cam(seg, _image(), _head_mask())
    assert heat.shape == SHAPE and heat.dtype == np.float32
    assert heat.min() >= 0.0 and heat.max() <= 1.0
    assert heat.max() > 0.5  # pytorch-grad-cam scales each map to its maximum
    assert np.isfinite(heat).all()


def test_cam_from_the_models_own_prediction(seg):
    img = _image()
    assert seg.predict(img).mask.any()  # else the next line would be trivially zero
    heat = segmentation_cam(seg, img)
    assert heat.shape == SHAPE and heat.dtype == np.float32
    assert 0.0 <= heat.min() and 0.5 < heat.max() <= 1.0


def test_cam_of_an_rgb_frame(seg):
    rgb = np.repeat(_image()[..., None], 3, axis=2)
    heat = segmentation_cam(seg, rgb, _head_mask())
    np.testing.assert_allclose(heat, segmentation_cam(seg, _image(), _head_mask()), atol=1e-5)


def test_empty_mask_gives_zeros(seg):
    heat = segmentation_cam(seg, _image(), np.zeros(SHAPE, bool))
    assert heat.shape == SHAPE and heat.dtype == np.float32
    assert not heat.any()


def test_empty_prediction_gives_zeros():
    seg = _segmenter("segnet")
    with torch.no_grad():
        seg.model.head.bias.fill_(-50.0)  # every logit very negative: nothing segmented
    assert not seg.predict(_image()).mask.any()
    heat = segmentation_cam(seg, _image())
    assert heat.shape == SHAPE and not heat.any()


def test_shared_model_is_left_untouched(seg):
    model = seg.model
    state = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [(p.requires_grad, p.grad) for p in model.parameters()]
    global_before = _global_hooks()
    grad_before = torch.is_grad_enabled()

    segmentation_cam(seg, _image(), _head_mask())
    segmentation_cam(seg, _image())

    assert _hooks(model) == {}
    assert _global_hooks() == global_before
    assert not any(m.training for m in model.modules())
    assert [(p.requires_grad, p.grad) for p in model.parameters()] == flags
    after = model.state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)  # parameters and BN buffers
    assert torch.is_grad_enabled() is grad_before


def test_prediction_unchanged_by_a_cam(seg):
    img = _image()
    before = seg.predict(img).prob
    segmentation_cam(seg, img, _head_mask())
    np.testing.assert_array_equal(seg.predict(img).prob, before)


def test_two_threads_at_once(seg):
    img, mask = _image(), _head_mask()
    reference = segmentation_cam(seg, img, mask)
    start = threading.Barrier(3)

    def cam(_):
        start.wait()
        return segmentation_cam(seg, img, mask)

    def predict(_):
        start.wait()
        return [seg.predict(img).prob for _ in range(3)]

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(cam, 0), pool.submit(cam, 1), pool.submit(predict, 2)]
        heats = [f.result(timeout=60) for f in futures[:2]]
        probs = futures[2].result(timeout=60)
    for heat in heats:
        assert heat.shape == SHAPE
        np.testing.assert_allclose(heat, reference, atol=1e-5)
    expected = seg.predict(img).prob
    for prob in probs:  # a CAM running alongside never leaks into another session's prediction
        np.testing.assert_array_equal(prob, expected)
    assert _hooks(seg.model) == {}


def test_cam_works_inside_no_grad():
    seg = _segmenter("segnet")
    expected = segmentation_cam(seg, _image(), _head_mask())
    with torch.no_grad():
        heat = segmentation_cam(seg, _image(), _head_mask())
    np.testing.assert_allclose(heat, expected, atol=1e-6)


def test_cam_of_the_shipped_nerve_unet():
    from core.datasets import read_kaggle_nerve
    from core.tasks import get_task

    task = get_task("nerve")
    seg = Segmenter.from_folder(task.weights_dir("unet"))
    case = next(c for c in read_kaggle_nerve(task.samples_dir) if c.mask.any())
    mask = seg.predict(case.image).mask
    assert mask.any()
    heat = segmentation_cam(seg, case.image, mask)
    assert heat.shape == case.image.shape and heat.max() > 0.5
    # The map is concentrated: most of the frame is far below the peak.
    assert np.mean(heat > 0.5) < 0.2


# ---------------------------------------------------------------- classification CAM (face screening)
def _screener_and_inputs(seed: int = 0):
    from core.face.screening import MEAN, SCREEN_REGIONS, STD, Screener, ScreeningInputs, region_spec

    torch.manual_seed(seed)
    regions = list(SCREEN_REGIONS)
    card = ModelCard(task="face_screening", arch="screening_net",
                     arch_config={"classes": 3, "regions": regions, "widths": [8, 16],
                                  "region_widths": [8, 16]},
                     labels=["a", "b", "c"],
                     input={"size": [64, 64], "resize": "align_face", "crop_size": 32,
                            "regions": region_spec(regions), "mean": MEAN, "std": STD},
                     postprocess={"ensemble": "mean_softmax"})
    screener = Screener(create_model(card.arch, **card.arch_config), card)
    rng = np.random.default_rng(seed)

    def img(side: int) -> np.ndarray:
        return rng.integers(0, 256, (side, side, 3), dtype=np.uint8)

    eye = np.hstack([np.eye(2), np.zeros((2, 1))])
    inputs = ScreeningInputs(img(64), eye, {r: tuple(img(32) for _ in SCREEN_REGIONS[r]) for r in regions},
                             {r: tuple(eye for _ in SCREEN_REGIONS[r]) for r in regions})
    return screener, inputs


@pytest.fixture(scope="module")
def screening():
    return _screener_and_inputs()


@pytest.mark.parametrize(("member", "view", "size"),
                         [("whole_face", 0, 64), ("nose", 0, 32), ("cheeks", 1, 32)])
def test_classification_cam_shape_and_range(screening, member, view, size):
    from core.face.screening_cam import classification_cam

    screener, inputs = screening
    result = screener.predict_inputs([inputs])[0]
    heats = [classification_cam(screener, result, k, member, view) for k in range(3)]
    for heat in heats:
        assert heat.shape == (size, size) and heat.dtype == np.float32
        assert np.isfinite(heat).all() and heat.min() >= 0.0 and heat.max() <= 1.0
    assert any(h.max() > 0.5 for h in heats)  # scaled to its maximum unless all negative
    # The prepared inputs give the same map as the result that carries them.
    np.testing.assert_allclose(classification_cam(screener, inputs, 0, member, view), heats[0], atol=1e-6)


def test_classification_cam_leaves_the_cached_model_untouched(screening):
    from core.face.screening_cam import classification_cam

    screener, inputs = screening
    model = screener.model
    state = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [(p.requires_grad, p.grad) for p in model.parameters()]
    global_before = _global_hooks()
    before = screener.predict_inputs([inputs])[0].probs
    with torch.inference_mode():  # as a page would call it
        for member in screener.members:
            classification_cam(screener, inputs, 1, member)
    assert _hooks(model) == {}
    assert _global_hooks() == global_before
    assert not any(m.training for m in model.modules())
    assert [(p.requires_grad, p.grad) for p in model.parameters()] == flags
    after = model.state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)
    np.testing.assert_array_equal(screener.predict_inputs([inputs])[0].probs, before)


def test_classification_cam_refuses_bad_targets(screening):
    from core.face.screening_cam import classification_cam

    screener, inputs = screening
    with pytest.raises(ValueError, match="target_class"):
        classification_cam(screener, inputs, 3)
    with pytest.raises(KeyError, match="members"):
        classification_cam(screener, inputs, 0, "ears")
    with pytest.raises(IndexError, match="view"):
        classification_cam(screener, inputs, 0, "nose", view=1)


def test_cam_peak_and_pointing_game_on_hand_masks():
    from core.explain import cam_peak, pointing_game

    cam = np.zeros((4, 5), np.float32)
    cam[2, 3] = 1.0
    cam[0, 0] = 0.5
    assert cam_peak(cam) == (2, 3)
    tie = np.ones((2, 2), np.float32)
    assert cam_peak(tie) == (0, 0)  # first in row-major order
    hit = np.zeros((4, 5), bool)
    hit[1:3, 2:4] = True          # holds the peak (2, 3)
    miss = np.zeros((4, 5), bool)
    miss[0, 0] = True             # holds only the second-highest value
    empty = np.zeros((4, 5), bool)
    flat = np.zeros((4, 5), np.float32)
    out = pointing_game([cam, cam, cam, flat], [hit, miss, empty, hit])
    assert out == {"hits": 1, "n": 3, "score": pytest.approx(1 / 3), "skipped": 1, "flat": 1}
    assert pointing_game([cam], [empty]) == {"hits": 0, "n": 0, "score": None, "skipped": 1, "flat": 0}
    with pytest.raises(ValueError, match="same frame"):
        pointing_game([cam], [np.ones((5, 4), bool)])
    with pytest.raises(ValueError, match="evidence masks"):
        pointing_game([cam, cam], [hit])


def test_classification_cams_and_predictions_at_once(screening):
    from core.face.screening_cam import classification_cam

    screener, inputs = screening
    reference = classification_cam(screener, inputs, 2, "periocular")
    expected = screener.predict_inputs([inputs])[0].probs
    start = threading.Barrier(3)

    def cam(_):
        start.wait()
        return classification_cam(screener, inputs, 2, "periocular")

    def predict(_):
        start.wait()
        return [screener.predict_inputs([inputs])[0].probs for _ in range(3)]

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(cam, 0), pool.submit(cam, 1), pool.submit(predict, 2)]
        heats = [f.result(timeout=60) for f in futures[:2]]
        probs = futures[2].result(timeout=60)
    for heat in heats:
        np.testing.assert_allclose(heat, reference, atol=1e-5)
    for p in probs:
        np.testing.assert_array_equal(p, expected)
    assert _hooks(screener.model) == {}


# ---------------------------------------------------------------- the same maps as pytorch-grad-cam
def _library_cam(model, layer, x, target):
    gc = pytest.importorskip("pytorch_grad_cam")
    with torch.inference_mode(False), torch.enable_grad(), \
            gc.GradCAM(model=model, target_layers=[layer]) as cam:
        return cam(input_tensor=x.clone(), targets=[target])[0]


def test_segmentation_cam_matches_pytorch_grad_cam(seg):
    import copy

    from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

    from core.explain.gradcam import _MaskLogits
    from core.models import get_spec
    from core.predict import letterbox, unletterbox

    img, mask = _image(), _head_mask()
    x, box = seg.input_tensor(img)
    target = (letterbox(mask.astype(np.float32), seg.card.input["size"], crop=box.crop)[0] >= 0.5)
    model = copy.deepcopy(seg.model).eval()
    ref = _library_cam(_MaskLogits(model), get_spec(seg.card.arch).cam_layer(model), x,
                       SemanticSegmentationTarget(0, target.astype(np.float32)))
    ours = segmentation_cam(seg, img, mask)
    np.testing.assert_allclose(ours, np.clip(unletterbox(ref, box), 0, 1), atol=2e-5)


@pytest.mark.parametrize(("member", "stage"), [("whole_face", -1), ("whole_face", -2), ("nose", -1)])
def test_classification_cam_matches_pytorch_grad_cam(screening, member, stage):
    import copy

    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from core.face.screening_cam import classification_cam

    screener, inputs = screening
    x = screener.member_tensor(inputs, member, 0)
    for k in range(3):
        net = copy.deepcopy(screener.model.member(member)).eval()
        ref = np.nan_to_num(_library_cam(net, net.cam_layer(stage), x, ClassifierOutputTarget(k)), nan=0.0)
        ours = classification_cam(screener, inputs, k, member, 0, stage=stage)
        np.testing.assert_allclose(ours, np.clip(ref, 0, 1), atol=2e-5)
