"""The face pipeline in the benchmark: one photo through landmarks, regions and measurements."""
from __future__ import annotations

import pytest

from train import bench

pytest.importorskip("mediapipe")


def test_face_bench_rows_against_one_mesh_pass():
    rows = bench.bench_face(2)
    assert [r["model"] for r in rows] == ["face pipeline", bench.FACE_BASELINE]
    assert all(r["p50_ms"] > 0 and r["p95_ms"] >= r["p50_ms"] for r in rows)
    assert rows[1]["ratio_to_baseline_p50"] == 1.0
    assert rows[0]["ratio_to_baseline_p50"] > 1.0  # two mesh passes plus regions and measurements


def test_face_photos_differ():
    photos = bench.face_photos(3)
    assert len(set(photos)) == 3


def test_screening_bench_rows_with_a_random_init_model_when_none_is_shipped(tmp_path, monkeypatch):
    import core.roots

    monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", tmp_path)  # no screening weights here
    rows = bench.bench_screening(2)
    assert [r["model"] for r in rows] == ["screening: default size, random init", bench.FACE_BASELINE]
    assert rows[0]["params_M"] > 1.0 and rows[0]["ratio_to_baseline_p50"] > 1.0
    assert all(r["task"] == "face_screening" and r["p50_ms"] > 0 for r in rows)
