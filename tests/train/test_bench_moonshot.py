"""train.bench prints issue 24's fetal moonshot: speed against the baseline in the run, held-out HC
error against the shipped U-Net's."""
from __future__ import annotations

import pytest

from train import bench

BASE = bench.BASELINE


def rows(**ratios: float) -> list[dict[str, object]]:
    out = [{"task": "fetal_head", "model": m, "ratio_to_baseline_p50": r} for m, r in ratios.items()]
    return out + [{"task": "fetal_head", "model": BASE, "ratio_to_baseline_p50": 1.0}]


def test_the_shipped_compact_unet_is_judged_on_its_card() -> None:
    unet_small, unet = bench.held_out_hc_error("unet_small"), bench.held_out_hc_error("unet")
    assert unet_small is not None and unet is not None
    (head, line) = bench.moonshot_lines(rows(unet_small=0.10))
    assert "3x faster" in head and f"HC error {unet_small:.2f} mm" in line and f"unet: {unet:.2f} mm" in line
    assert line.endswith("yes" if unet_small <= unet else "no") and "10.0x faster" in line


def test_too_slow_or_less_accurate_or_unscored_models_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    errors = {"unet": 1.9, "fast_but_worse": 2.2, "slow_and_good": 1.5, "good": 1.8, "unscored": None}
    monkeypatch.setattr(bench, "held_out_hc_error", errors.get)
    lines = bench.moonshot_lines(rows(fast_but_worse=0.1, slow_and_good=0.5, good=0.25, unscored=0.1))[1:]
    verdict = {ln.split()[0]: ln.rsplit(" ", 1)[-1] for ln in lines}
    assert verdict == {"fast_but_worse": "no", "slow_and_good": "no", "good": "yes", "unscored": "no"}
    assert "no held-out HC error" in lines[-1]
