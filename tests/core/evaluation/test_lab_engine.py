"""The lab engine: streaming, several models, classification rows, the result cache and exports."""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.datasets import SEQUENCES, Case
from core.evaluation import set_metrics
from core.evaluation.cache import LabCache, canonical_json, from_json, to_csv, to_json
from core.evaluation.engine import (
    ProbClassifier,
    collect,
    evaluate_segmentation,
    model_view,
    predict_stream,
    resolve_settings,
    run_evaluation,
)
from core.lab import detect_layout, read_cases
from core.lab.paths import dataset_fingerprint
from core.predict import Segmenter
from core.roots import SAMPLES_ROOT
from core.weights import ModelCard


class Square(nn.Module):
    """Logit +4 in a centred square of half-side ``half`` pixels, -4 elsewhere; no presence head."""

    def __init__(self, half: int) -> None:
        super().__init__()
        self.half = half

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(x[:, :1], -4.0)
        h, w = x.shape[-2:]
        out[..., h // 2 - self.half : h // 2 + self.half, w // 2 - self.half : w // 2 + self.half] = 4.0
        return out


def _seg(half: int = 8, sha: str | None = "a" * 64) -> Segmenter:
    card = ModelCard(task="nerve", arch="x", arch_config={}, labels=["nerve"],
                     input={"size": [32, 32], "resize": "letterbox", "mean": [0.5], "std": [0.25]},
                     postprocess={"threshold": 0.5, "min_area_px": 0},
                     weights={"sha256": sha} if sha else {})
    return Segmenter(Square(half), card)


def _cases(n: int = 5) -> list[Case]:
    out = []
    for i in range(n):
        mask = np.zeros((32, 32), bool)
        if i % 2 == 0:
            mask[16 - 2 - i : 16 + 2 + i, 8:24] = True
        out.append(Case(name=f"{i}.tif", image=np.full((32, 32), 10 * i, np.uint8), mask=mask,
                        group=f"s{i // 2}"))
    return out


def _counting(cases: list[Case], seen: list[str]) -> Iterator[Case]:
    for c in cases:
        seen.append(c.name)
        yield c


def test_batches_stream_before_the_run_ends():
    seen: list[str] = []
    calls: list[tuple[int, int | None]] = []
    stream = run_evaluation({"a": _seg()}, _counting(_cases(5), seen), batch_size=2, total=5,
                            progress=lambda d, t: calls.append((d, t)))
    first = next(stream)
    assert len(seen) == 2 and first.done == 2 and first.total == 5  # only one batch read so far
    assert [r["name"] for r in first.rows["a"]] == ["0.tif", "1.tif"] and len(first.results["a"]) == 2
    rest = list(stream)
    assert [b.done for b in rest] == [4, 5] and calls == [(2, 5), (4, 5), (5, 5)]


def test_several_models_score_the_same_cases_and_match_evaluate_segmentation():
    cases = _cases(5)
    res = collect({"small": _seg(4), "large": _seg(8)}, cases, task="nerve", batch_size=3)
    assert res.models == ("small", "large") and res.kind == "segmentation"
    assert [r["name"] for r in res.rows["small"]] == [c.name for c in cases]
    assert res.rows["small"][0]["dice"] != res.rows["large"][0]["dice"]
    ev = evaluate_segmentation(_seg(8), cases, batch_size=2)  # the same code path
    assert canonical_json(ev.rows) == canonical_json(res.rows["large"])
    assert res.set_metrics["large"] == set_metrics(ev.rows)
    assert res.meta["weights_sha256"] == {"small": "a" * 64, "large": "a" * 64}
    table = res.aggregate("large")
    assert "dice" in table["metric"] and "tp_px" not in table["metric"]


def test_settings_are_resolved_checked_and_applied():
    assert resolve_settings(None, kind="segmentation", task="fetal_head")["task_columns"] is True
    assert resolve_settings({"threshold": 1}, kind="segmentation", task="nerve") == {
        "threshold": 1.0, "postprocess": {}, "task_columns": False, "limit": None}
    with pytest.raises(ValueError, match="unknown segmentation settings"):
        resolve_settings({"treshold": 0.5}, kind="segmentation", task=None)
    with pytest.raises(ValueError, match="limit"):
        resolve_settings({"limit": 0}, kind="classification", task=None)
    res = collect({"m": _seg(8)}, _cases(5), settings={"postprocess": {"min_area_px": 10_000}, "limit": 3})
    assert len(res.rows["m"]) == 3 and not any(r["pred_present"] for r in res.rows["m"])
    res = collect({"m": _seg(8)}, _cases(2), settings={"threshold": 0.999})
    assert not any(r["pred_present"] for r in res.rows["m"])


def test_predict_stream_pairs_cases_with_results():
    pairs = list(predict_stream(_seg(4), _cases(3), batch_size=2))
    assert [c.name for c, _ in pairs] == ["0.tif", "1.tif", "2.tif"] and pairs[0][1].mask.sum() == 8 * 8


def test_bad_model_sets_are_refused():
    with pytest.raises(ValueError, match="no model"):
        collect({}, _cases(1))
    clf = ProbClassifier(("a", "b"), lambda images: np.tile([0.5, 0.5], (len(images), 1)))
    with pytest.raises(ValueError, match="cannot evaluate segmentation and classification"):
        collect({"s": _seg(), "c": clf}, _cases(1))
    with pytest.raises(TypeError, match="not a predictor"):
        collect({"x": object()}, _cases(1))


def _photos() -> list[Case]:
    labels = ["acne", "healthy", "acne", "healthy"]
    return [Case(name=f"{lab}/{i}.jpg", image=np.full((8, 8, 3), i, np.uint8), group=str(i),
                 meta={"label": lab}) for i, lab in enumerate(labels)]


def _clf(sha: str | None = "c" * 64) -> ProbClassifier:
    table = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])  # right, right, wrong, wrong
    return ProbClassifier(("acne", "healthy"), lambda images: table[[int(im[0, 0, 0]) for im in images]], sha)


def test_classification_rows_and_report():
    res = collect({"clf": _clf()}, _photos(), batch_size=3)
    rows = res.rows["clf"]
    assert res.kind == "classification" and res.settings == {"n_bins": 15, "limit": None}
    assert [r["correct"] for r in rows] == [True, True, False, False]
    assert rows[2]["pred"] == "healthy" and rows[2]["prob_true"] == pytest.approx(0.3)
    assert rows[0]["p_healthy"] == pytest.approx(0.1) and rows[3]["confidence"] == pytest.approx(0.6)
    report = res.set_metrics["clf"]
    assert report["accuracy"] == 0.5 and report["confusion_matrix"] == [[1, 1], [1, 1]]
    bad = [Case(name="x.jpg", image=np.zeros((8, 8, 3), np.uint8), meta={"label": "rosacea"})]
    with pytest.raises(ValueError, match="'rosacea' is not one of the model's classes"):
        collect({"clf": _clf()}, bad)


def _untouchable() -> Iterator[Case]:
    raise AssertionError("a cache hit must not read the dataset")
    yield  # pragma: no cover


def test_cache_hits_on_the_same_key_and_misses_when_settings_change(tmp_path: Path):
    cache = LabCache(tmp_path / "cache")
    first = cache.collect({"m": _seg(8)}, _cases(4), fingerprint="f1", task="nerve", batch_size=2)
    assert first.meta["cached"] == []
    entries = list((tmp_path / "cache").rglob("result.json"))
    assert len(entries) == 1 and (entries[0].parent / "rows.csv").is_file()
    calls: list = []
    again = cache.collect({"renamed": _seg(8)}, _untouchable(), fingerprint="f1", task="nerve",
                          progress=lambda d, t: calls.append((d, t)))
    assert again.meta["cached"] == ["renamed"] and calls == [(4, 4)]
    assert canonical_json(again.rows["renamed"]) == canonical_json(first.rows["m"])
    assert again.set_metrics["renamed"] == first.set_metrics["m"]
    changed = cache.collect({"m": _seg(8)}, _cases(4), fingerprint="f1", task="nerve",
                            settings={"threshold": 0.9})
    assert changed.meta["cached"] == []
    other_data = cache.collect({"m": _seg(8)}, _cases(2), fingerprint="f2", task="nerve")
    assert other_data.meta["cached"] == [] and len(other_data.rows["m"]) == 2
    other_weights = cache.collect({"m": _seg(8, sha="b" * 64)}, _cases(4), fingerprint="f1", task="nerve")
    assert other_weights.meta["cached"] == []
    assert len(list((tmp_path / "cache").rglob("result.json"))) == 4


def test_cache_runs_only_the_models_it_misses_and_skips_models_without_a_sha(tmp_path: Path):
    cache = LabCache(tmp_path)
    cache.collect({"a": _seg(8)}, _cases(3), fingerprint="f", task="nerve")
    seen: list[str] = []
    both = cache.collect({"a": _seg(8), "b": _seg(4, sha="d" * 64)}, _counting(_cases(3), seen),
                         fingerprint="f", task="nerve")
    assert both.meta["cached"] == ["a"] and len(seen) == 3 and both.models == ("a", "b")
    anon = cache.collect({"x": _seg(8, sha=None)}, _cases(3), fingerprint="f", task="nerve")
    anon2 = cache.collect({"x": _seg(8, sha=None)}, _cases(3), fingerprint="f", task="nerve")
    assert anon.meta["cached"] == anon2.meta["cached"] == []


def test_equal_settings_share_a_key_and_a_streaming_page_can_lookup_and_save(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MEDIMG_LAB_CACHE", str(tmp_path / "env"))
    cache = LabCache()
    assert cache.root == tmp_path / "env"
    models = {"a": _seg(8)}
    k1 = cache.keys(models, fingerprint="f", task="nerve")
    same = {"task_columns": False, "limit": None}
    assert k1 == cache.keys(models, fingerprint="f", task="nerve", settings=same)
    assert k1 != cache.keys(models, fingerprint="f", task="nerve", settings={"task_columns": True})
    assert cache.lookup(models, fingerprint="f", task="nerve") == {}
    rows = [r for batch in run_evaluation(models, _cases(3), task="nerve") for r in batch.rows["a"]]
    res = collect(models, _cases(3), task="nerve")
    assert canonical_json(rows) == canonical_json(res.rows["a"])
    (folder,) = cache.save(res, models, fingerprint="f")
    assert folder.parent.parent == tmp_path / "env"
    hit = cache.lookup(models, fingerprint="f", task="nerve")
    assert list(hit) == ["a"] and len(hit["a"]["rows"]) == 3 and hit["a"]["dataset"] == "f"


def test_a_corrupt_cache_entry_is_a_miss(tmp_path: Path):
    cache = LabCache(tmp_path)
    cache.collect({"a": _seg(8)}, _cases(2), fingerprint="f")
    (entry,) = tmp_path.rglob("result.json")
    entry.write_text("{not json")
    assert cache.collect({"a": _seg(8)}, _cases(2), fingerprint="f").meta["cached"] == []


def test_exports_round_trip(tmp_path: Path):
    res = collect({"a": _seg(4), "b": _seg(8)}, _cases(3))
    rows = list(csv.DictReader(io.StringIO(to_csv(res))))
    assert [r["model"] for r in rows] == ["a"] * 3 + ["b"] * 3 and "dice" in rows[0]
    text = to_json(res)
    back = from_json(text)
    assert back.models == ("a", "b") and canonical_json(back.rows) == canonical_json(res.rows)
    assert back.set_metrics == res.set_metrics and '"aggregate"' in text


def test_bundled_fetal_samples_run_with_biometry():
    guess = detect_layout(SAMPLES_ROOT / "fetal_head")
    res = collect({"m": _seg(8)}, read_cases(guess), task=guess.task, batch_size=4, total=guess.n_cases)
    rows = res.rows["m"]
    assert len(rows) == guess.n_cases and res.settings["task_columns"]
    assert all("hc_ref_mm" in r for r in rows) and all(math.isfinite(r["dice"]) for r in rows)
    assert len(dataset_fingerprint(guess.root)) == 64


def test_a_one_channel_model_reads_the_flair_channel_of_a_multi_sequence_slice() -> None:
    image = np.stack([np.full((4, 4), v, np.uint8) for v in (10, 200, 90)], axis=-1)
    mri = Case(name="TCGA_x_1.tif", image=image, mask=None, meta={"sequences": SEQUENCES})
    assert model_view(mri, 1).shape == (4, 4) and set(np.unique(model_view(mri, 1))) == {200}
    assert model_view(mri, 3) is image  # a three-sequence model gets all three
    photo = Case(name="face.png", image=image, mask=None)
    assert model_view(photo, 1) is image  # an RGB photo stays as it is (the predictor greys it)
