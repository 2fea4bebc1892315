"""dashboard.volume_widgets.model_label: a brain model's name says what it reads and what it is."""
from __future__ import annotations

from core.weights import ModelCard
from dashboard.volume_widgets import model_label


def _card(arch: str, **cfg) -> ModelCard:
    return ModelCard(task="brain_tumor", arch=arch, arch_config=cfg, labels=["tumour"],
                     input={"size": [128, 128]}, postprocess={})


def test_one_network_and_a_mean_of_several() -> None:
    assert model_label("unet", _card("unet_mobilenet", in_channels=3)) == (
        "3-sequence U-Net (pre-contrast, FLAIR, post-contrast)")
    pair = _card("mean_ensemble", member_arch="unet_mobilenet", members=2, in_channels=3)
    assert model_label("unet", pair) == (
        "3-sequence U-Net (pre-contrast, FLAIR, post-contrast): the mean of 2 networks")
    assert model_label("unet_flair", _card("unet_mobilenet", in_channels=1)) == "FLAIR U-Net (one sequence)"
