"""What the model lab page streams: batches seen as they are done, and one case read by name."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.datasets import Case
from core.evaluation.cache import LabCache
from core.evaluation.engine import LabBatch, collect
from core.lab import detect_layout, read_cases
from core.predict import Segmenter
from core.roots import SAMPLES_ROOT
from core.weights import ModelCard


class Half(nn.Module):
    """Logit +4 on the left half, -4 on the right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(x[:, :1], -4.0)
        out[..., : x.shape[-1] // 2] = 4.0
        return out


def _seg() -> Segmenter:
    card = ModelCard(task="nerve", arch="x", arch_config={}, labels=["nerve"],
                     input={"size": [16, 16], "resize": "letterbox", "mean": [0.5], "std": [0.25]},
                     postprocess={"threshold": 0.5}, weights={"sha256": "f" * 64})
    return Segmenter(Half(), card)


def _cases(n: int) -> list[Case]:
    mask = np.zeros((16, 16), bool)
    mask[:, :8] = True
    return [Case(name=f"{i}.tif", image=np.full((16, 16), i, np.uint8), mask=mask) for i in range(n)]


def test_collect_calls_on_batch_with_each_batch(tmp_path: Path) -> None:
    seen: list[LabBatch] = []
    res = collect({"m": _seg()}, _cases(5), batch_size=2, on_batch=seen.append)
    assert [b.done for b in seen] == [2, 4, 5]
    assert [r["name"] for b in seen for r in b.rows["m"]] == [r["name"] for r in res.rows["m"]]
    cache, again = LabCache(tmp_path), []
    cache.collect({"m": _seg()}, _cases(5), fingerprint="f", batch_size=2, on_batch=again.append)
    assert len(again) == 3
    hit: list[LabBatch] = []
    res = cache.collect({"m": _seg()}, _cases(5), fingerprint="f", on_batch=hit.append)
    assert res.meta["cached"] == ["m"]
    assert hit == []  # nothing ran


@pytest.mark.parametrize("folder, name", [("fetal_head", "404_2HC.png"), ("nerve", "1_2.tif"),
                                          ("face_screening/skin", "eczema/02.jpg")])
def test_read_cases_by_name_reads_only_those(folder: str, name: str) -> None:
    guess = detect_layout(SAMPLES_ROOT / folder)
    every = {c.name: c for c in read_cases(guess)}
    (one,) = read_cases(guess, names={name})
    assert one.name == name and np.array_equal(one.image, every[name].image)
    assert (one.mask is None and every[name].mask is None) or np.array_equal(one.mask, every[name].mask)
    assert one.meta == every[name].meta and one.pixel_size_mm == every[name].pixel_size_mm
    assert list(read_cases(guess, names={"nothing.png"})) == []
