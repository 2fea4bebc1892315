"""dashboard.byte_cache: result caches bounded by bytes and by age."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dashboard import byte_cache
from dashboard.byte_cache import data_cache


def counting(max_mb: float, ttl_s: float = 3600.0):
    calls = []

    @data_cache(max_mb=max_mb, ttl_s=ttl_s)
    def f(x, n: int = 1, _ignored=None):
        calls.append(1)
        return np.full(n, 7, dtype=np.uint8) if not isinstance(x, np.ndarray) else x * 2

    return f, calls


def test_hit_returns_a_copy_and_keys_on_arguments():
    f, calls = counting(1)
    a = f("a", 10)
    a[:] = 0  # a caller mutating its result does not touch the cache
    b = f("a", 10)
    assert len(calls) == 1 and (b == 7).all()
    f("a", 11)
    f("b", 10)
    f("a", n=10, _ignored=object())  # underscored parameters are not part of the key
    assert len(calls) == 3


def test_arrays_key_by_content_shape_and_dtype():
    f, calls = counting(1)
    x = np.arange(12, dtype=np.int32)
    f(x)
    f(x.copy())
    assert len(calls) == 1
    f(x.reshape(3, 4))
    f(x.astype(np.int64))
    y = x.copy()
    y[5] = 99
    f(y)
    assert len(calls) == 4


def test_bounded_by_bytes_least_recently_used_first():
    f, calls = counting(max_mb=1)
    mb = 2**20
    f("a", 400_000)
    f("b", 400_000)
    f("a", 400_000)  # "a" is now the most recently used
    f("c", 400_000)  # over 1 MB: "b" goes
    s = f.stats()
    assert s.entries == 2 and s.bytes <= s.max_bytes == mb
    n = len(calls)
    f("a", 400_000)
    assert len(calls) == n
    f("b", 400_000)
    assert len(calls) == n + 1


def test_a_value_over_the_budget_is_returned_not_kept():
    f, calls = counting(max_mb=0.5)
    assert f("big", 2**20).nbytes == 2**20
    assert f.stats().entries == 0
    f("big", 2**20)
    assert len(calls) == 2


def test_entries_expire(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(byte_cache.time, "monotonic", lambda: clock[0])
    f, calls = counting(1, ttl_s=60)
    f("a")
    clock[0] += 59
    f("a")
    assert len(calls) == 1
    clock[0] += 2  # 61 s after it was computed
    f("a")
    assert len(calls) == 2


def test_exceptions_are_not_cached():
    calls = []

    @data_cache(max_mb=1)
    def fails(x):
        calls.append(x)
        raise ValueError("bad input")

    for _ in range(2):
        with pytest.raises(ValueError):
            fails(1)
    assert len(calls) == 2 and fails.stats().entries == 0


def test_dataclass_arguments_key_by_value():
    @dataclasses.dataclass(frozen=True)
    class Guess:
        layout: str
        n: int

    calls = []

    @data_cache(max_mb=1)
    def g(guess):
        calls.append(guess)
        return guess.n

    assert g(Guess("hc18", 3)) == g(Guess("hc18", 3)) == 3
    g(Guess("hc18", 4))
    assert len(calls) == 2


def test_unkeyable_argument_says_what_to_do():
    @data_cache(max_mb=1)
    def h(x):
        return 1

    with pytest.raises(TypeError, match="leading underscore"):
        h(lambda: 0)


def test_budgets_are_validated_and_summed():
    with pytest.raises(ValueError):
        data_cache(max_mb=0)
    before = byte_cache.total_budget_mb()

    @data_cache(max_mb=3)
    def k(x):
        return x

    assert byte_cache.total_budget_mb() == pytest.approx(before + 3)


def test_the_dashboard_caches_are_all_byte_bounded():
    from dashboard import cache  # noqa: F401 - registers the dashboard's caches

    names = {s.name for s in byte_cache.stats()}
    assert {"dashboard.cache.analyse_fetal_head", "dashboard.cache.volume_probabilities",
            "dashboard.cache.brain_upload", "dashboard.cache.screening_cam"} <= names
    dashboard_mb = sum(s.max_bytes for s in byte_cache.stats()
                       if s.name.startswith("dashboard.cache.")) / 2**20
    assert dashboard_mb <= 512  # what result caches may hold beside torch and the models in 1 GB
