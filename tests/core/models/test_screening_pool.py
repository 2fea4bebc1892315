"""Global pooling of the screening members: avg / max / lse, in the card and through Grad-CAM."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.models import create_model
from core.models.screening import MemberNet, ScreeningNet, global_pool


def test_lse_runs_from_the_mean_to_the_maximum() -> None:
    x = torch.randn(2, 5, 4, 6, generator=torch.Generator().manual_seed(0))
    mean, peak = x.mean(dim=(2, 3)), x.amax(dim=(2, 3))
    assert torch.allclose(global_pool(x, "avg"), mean)
    assert torch.allclose(global_pool(x, "max"), peak)
    assert torch.allclose(global_pool(x, "lse", 1e-2), mean, atol=0.02)
    assert torch.allclose(global_pool(x, "lse", 1e3), peak, atol=0.01)
    mid = global_pool(x, "lse", 5.0)
    assert bool((mid > mean).all() and (mid <= peak + 1e-6).all())


def test_lse_of_a_constant_map_is_the_constant() -> None:
    x = torch.full((1, 3, 8, 8), 0.7)
    assert torch.allclose(global_pool(x, "lse", 5.0), torch.full((1, 3), 0.7), atol=1e-5)


@pytest.mark.parametrize("pool,r", [("median", 5.0), ("lse", 0.0), ("lse", float("nan"))])
def test_bad_pools_are_refused(pool: str, r: float) -> None:
    with pytest.raises(ValueError):
        MemberNet(3, (4, 8), pool=pool, lse_r=r)
    with pytest.raises(ValueError):
        global_pool(torch.zeros(1, 1, 2, 2), "median")


def test_lse_member_puts_its_evidence_where_the_finding_is() -> None:
    """One hot spot in an otherwise empty map moves an lse-pooled feature far more than the mean:
    the pooled value (and so the logit) answers 'is it anywhere?'."""
    x = torch.zeros(1, 1, 16, 16)
    x[0, 0, 3, 11] = 4.0
    assert float(global_pool(x, "avg")) == pytest.approx(4.0 / 256)
    assert float(global_pool(x, "lse", 5.0)) > 0.25 * 4.0


def test_arch_config_carries_the_pools() -> None:
    net = create_model("screening_net", classes=3, regions=["nose"], widths=[4, 8, 16],
                       region_widths=[4, 8], pool="lse", region_pool="max", lse_r=3.0)
    assert isinstance(net, ScreeningNet)
    assert (net.whole_face.pool, net.whole_face.lse_r) == ("lse", 3.0)
    assert net.member("nose").pool == "max"
    face, crops = torch.rand(2, 3, 32, 32), {"nose": torch.rand(2, 1, 3, 24, 24)}
    logits = net.eval()(face, crops)
    assert logits["whole_face"].shape == (2, 3) and logits["nose"].shape == (2, 3)
    old = create_model("screening_net", classes=3, regions=["nose"], widths=[4, 8], region_widths=[4, 8])
    assert old.whole_face.pool == "avg" and old.member("nose").pool == "avg"  # cards without pools


def test_torchvision_member_takes_the_pool() -> None:
    net = create_model("screening_net", classes=2, regions=["nose"], region_widths=[4, 8],
                       whole_face_backbone="mobilenet_v3_small", pool="lse")
    assert net.whole_face.pool == "lse"
    out = net.eval()(torch.rand(1, 3, 64, 64), {"nose": torch.rand(1, 1, 3, 32, 32)})
    assert np.isfinite(out["whole_face"].detach().numpy()).all()
