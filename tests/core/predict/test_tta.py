"""core.predict.tta and the Segmenter's test-time views: names, exact undo, members and overrides."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from core.predict import Segmenter
from core.predict.tta import IDENTITY, parse_transform, parse_transforms
from core.weights import ModelCard

INPUT = {"size": [64, 96], "resize": "letterbox", "mean": [0.5], "std": [0.25]}
VIEWS = ["hflip", "zoom:0.9"]


class Pixelwise(nn.Module):
    """Logits from each input pixel alone (bright = foreground): equivariant to any view."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(x.shape[0])
        return 40.0 * x[:, :1]  # normalised: black is -2, white +2, the 0.5 grey level 0


def _segmenter(tta: list[str] | None) -> Segmenter:
    post = {"threshold": 0.5, "largest_component": True, "fill_holes": True}
    if tta is not None:
        post["tta"] = tta
    card = ModelCard(task="fetal_head", arch="unet", arch_config={}, labels=["head"], input=dict(INPUT),
                     postprocess=post)
    return Segmenter(Pixelwise(), card)


def _disk(h: int = 180, w: int = 270, r: float = 50.0) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.where((yy - 95) ** 2 + (xx - 120) ** 2 <= r * r, 230, 20).astype(np.uint8)


@pytest.mark.parametrize("name, flip, zoom, shift", [
    ("hflip", True, 1.0, (0.0, 0.0)),
    ("zoom:0.9", False, 0.9, (0.0, 0.0)),
    ("hflip+zoom:1.1+shift:0.03,-0.02", True, 1.1, (0.03, -0.02)),
])
def test_names_parse_into_views(name: str, flip: bool, zoom: float, shift: tuple[float, float]) -> None:
    t = parse_transform(name)
    assert (t.name, t.flip, t.zoom, t.shift) == (name, flip, zoom, shift)
    assert parse_transforms([name])[0] is IDENTITY and len(parse_transforms([name])) == 2


@pytest.mark.parametrize("name", ["rotate:10", "hflip:1", "zoom:5", "zoom:x", "shift:0.5,0", "shift:0.1"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="test-time transform"):
        parse_transform(name)


@pytest.mark.parametrize("name", ["hflip", "zoom:0.9", "zoom:1.1+shift:0.03,-0.02", "hflip+zoom:0.92"])
def test_undo_puts_a_view_back_on_the_input_grid(name: str) -> None:
    t = parse_transform(name)
    yy, xx = np.mgrid[0:64, 0:96].astype(np.float32)
    x = np.sin(xx / 9) * np.cos(yy / 7)  # smooth, so resampling twice loses little
    back = t.undo(t.apply(x[None], fill=0.0)[0])
    inner = (slice(10, 54), slice(12, 84))  # a zoom-out view has no data near the border
    assert back.shape == x.shape and np.abs(back[inner] - x[inner]).max() < 0.05
    if not t.warps:
        assert np.array_equal(back, x)  # a mirror is undone exactly


def test_views_are_one_forward_pass_and_come_back_as_members() -> None:
    seg = _segmenter(VIEWS)
    res = seg.predict(_disk())
    assert seg.model.batches == [3]  # the frame and its two views, in one batch
    assert len(res.members) == 3 and all(m.shape == res.mask.shape and m.dtype == bool for m in res.members)
    assert res.postprocess["tta"] == VIEWS
    dis = res.disagreement()
    assert dis.shape == res.mask.shape and dis.dtype == np.float32 and 0 <= dis.min() <= dis.max() <= 1
    assert (dis > 0).mean() < 0.02  # an equivariant model: the views agree but for edge pixels
    assert abs(res.mask.sum() - np.pi * 50**2) < 0.05 * np.pi * 50**2


def test_without_views_there_are_no_members_and_an_override_turns_them_off() -> None:
    plain = _segmenter(None).predict(_disk())
    assert plain.members == () and plain.disagreement() is None
    seg = _segmenter(VIEWS)
    off = seg.predict(_disk(), overrides={"tta": []})
    assert off.members == () and seg.model.batches == [1]
    assert np.array_equal(off.mask, plain.mask)


def test_a_card_with_an_unknown_view_is_refused() -> None:
    with pytest.raises(ValueError, match="rotate"):
        _segmenter(["rotate:5"])
