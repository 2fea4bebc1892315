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
