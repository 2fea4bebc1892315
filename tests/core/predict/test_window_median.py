"""core.windowing's "volume_median" window (each volume scaled by its head's median signal), and the
card's window used by the volume predictor and chosen by the training CLI."""
from __future__ import annotations

import numpy as np
import pytest

from core.windowing import (
    MEDIAN_LEVEL,
    VOLUME_WINDOW,
    WINDOWS,
    window_sequences,
    window_volume,
    window_volume_median,
)


def head(brain: float = 100.0, lesion: float = 180.0, fat: float = 600.0, air: float = 0.0) -> np.ndarray:
    """A 4x32x32 'head': air around, a brain of one signal, a lesion in it, a ring of bright scalp fat."""
    v = np.full((4, 32, 32), air, np.float32)
    v[:, 4:28, 4:28] = fat
    v[:, 6:26, 6:26] = brain
    v[1:3, 12:16, 12:16] = lesion
    return v


def test_brain_median_lands_on_the_level_and_lesion_keeps_its_ratio():
    out = window_volume_median(head())
    assert out.dtype == np.uint8 and out.shape == (4, 32, 32)
    assert out[0, 10, 10] == round(MEDIAN_LEVEL)  # brain: the head's median
    assert out[1, 13, 13] == round(MEDIAN_LEVEL * 1.8)  # lesion at 1.8x the brain's signal
    assert out[0, 5, 5] == 255  # fat at 6x: clipped
    assert out[0, 0, 0] == 0  # air


def test_same_grey_for_brain_whatever_the_scanner_scale_or_the_brightest_tissue():
    a = window_volume_median(head(brain=100, lesion=180, fat=600))
    b = window_volume_median(head(brain=40, lesion=72, fat=360) * 3.3)  # other gain, fat 9x the brain
    np.testing.assert_array_equal(a[:, 6:26, 6:26], b[:, 6:26, 6:26])
    # the percentile window puts the same brain at different greys once the fat changes
    pa, pb = window_volume(head(fat=600)), window_volume(head(fat=900))
    assert pa[0, 10, 10] == 42 and pb[0, 10, 10] == 28
    assert pa[0, 10, 10] != pb[0, 10, 10]


def test_offset_air_is_removed_before_scaling():
    a = window_volume_median(head())
    b = window_volume_median(head(brain=150, lesion=230, fat=650, air=50))  # every signal +50
    np.testing.assert_array_equal(a, b)


def test_degenerate_volumes_fall_back_like_the_percentile_window():
    flat = window_volume_median(np.full((2, 3, 3), 7.0))
    np.testing.assert_array_equal(flat, np.zeros((2, 3, 3), np.uint8))
    assert window_volume_median(np.zeros((0, 4, 4))).shape == (0, 4, 4)


def test_window_sequences_windows_each_sequence_on_its_own_and_refuses_unknown_names():
    vol = np.stack([head(), head() * 10], axis=-1)
    out = window_sequences(vol, "volume_median")
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(window_sequences(head()), window_volume(head()))  # default unchanged
    assert set(WINDOWS) == {"volume_percentile", "volume_median"}
    with pytest.raises(ValueError, match="unknown window 'zscore'"):
        window_sequences(head(), "zscore")


def test_volume_segmenter_windows_by_its_card():
    import torch

    from core.models import create_model, get_spec
    from core.predict import Segmenter, VolumeSegmenter
    from core.tasks import get_task
    from core.weights import ModelCard

    t = get_task("brain_tumor")
    torch.manual_seed(0)
    cfg = {**get_spec("unet_mobilenet").defaults}
    model = create_model("unet_mobilenet", **cfg)
    card = ModelCard(task=t.name, arch="unet_mobilenet", arch_config=cfg, labels=list(t.labels),
                     input={**t.input, "size": [32, 32], "window": "volume_median"},
                     postprocess=t.postprocess)
    seg = Segmenter(model, card)
    vol = head()
    res = VolumeSegmenter(seg).predict(vol)
    windowed = window_volume_median(vol)
    np.testing.assert_allclose(res.prob[1], seg.predict(windowed[1]).prob, atol=1e-4)
    assert not np.allclose(res.prob[1], seg.predict(window_volume(vol)[1]).prob, atol=1e-3)


def test_training_cli_takes_a_window_for_volumes_only():
    from train.segmentation import parse_args

    base = ["--task", "brain_tumor", "--arch", "unet_mobilenet", "--window", "volume_median"]
    assert parse_args([*base, "--data", "x"]).window == "volume_median"
    with pytest.raises(SystemExit):
        parse_args([*base, "--phantoms", "4"])


def test_a_run_cannot_window_a_nifti_folder_unlike_its_reader(tmp_path):
    from core.tasks import get_task
    from tests.core.datasets.test_volume_datasets import image, label, write_pair
    from train.data import dataset_cases

    write_pair(tmp_path, "vol_a", image(1), label(1))
    task, window = get_task("brain_tumor"), VOLUME_WINDOW
    assert len(list(dataset_cases(task, tmp_path, 1, window))) == len(list(dataset_cases(task, tmp_path))) > 0
    other = next(w for w in WINDOWS if w != window)
    with pytest.raises(ValueError, match="only LGG kaggle_3m folders are windowed by the run"):
        dataset_cases(task, tmp_path, 1, other)
