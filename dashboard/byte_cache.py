"""Result caches bounded by BYTES and by age, shared by every session of the process.

``st.cache_data`` (Streamlit 1.60) bounds a cache by its number of entries only, and keeps entries
forever unless given a ``ttl``: 64 entries of a small PNG and 64 of a 24-megapixel upload weigh the
same to it. :func:`data_cache` keeps its semantics where they matter here -- the key is the call's
arguments (image bytes included; parameters named ``_x`` are left out of the key), every caller
gets its own copy (values are stored pickled), an exception is not cached, a spinner shows while a
miss computes -- and bounds each cache by the pickled size of what it holds:

- an entry older than ``ttl_s`` is a miss and is dropped;
- when a new entry would take the cache over ``max_mb``, the least recently used ones go first;
- a value bigger than the whole budget is returned but not kept.

:func:`stats` gives each cache's entries and bytes (the page bench prints their total), and
:data:`TOTAL_BUDGET_MB` is the sum of every budget: what result caches can ever hold in one process.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import inspect
import os
import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import numpy as np

__all__ = ["CacheStats", "DEFAULT_TTL_S", "clear_all", "data_cache", "stats", "total_budget_mb"]

P = ParamSpec("P")
R = TypeVar("R")
DEFAULT_TTL_S = 3600.0  # an hour: a case a user left is recomputed in seconds when they come back
_CACHES: dict[str, _ByteCache] = {}


@dataclasses.dataclass(frozen=True)
class CacheStats:
    """One cache's state: entries, bytes held, its budget, hits and misses since start."""

    name: str
    entries: int
    bytes: int
    max_bytes: int
    ttl_s: float
    hits: int
    misses: int


def _feed(h: Any, obj: Any) -> None:
    """Feed ``obj`` into the hash ``h``: arrays by dtype, shape and bytes; containers and dataclasses
    (:class:`core.lab.LayoutGuess`) item by item; paths as text; anything else by its pickle."""
    if isinstance(obj, np.ndarray):
        h.update(f"nd{obj.dtype.str}{obj.shape}".encode())
        h.update(np.ascontiguousarray(obj).data)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        h.update(b"b%d:" % len(obj))
        h.update(obj)
    elif obj is None or isinstance(obj, (str, int, float, bool, complex)):
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
    elif isinstance(obj, (tuple, list)):
        h.update(f"{type(obj).__name__}{len(obj)}(".encode())
        for item in obj:
            _feed(h, item)
        h.update(b")")
    elif isinstance(obj, dict):
        h.update(f"dict{len(obj)}(".encode())
        for k in sorted(obj, key=repr):
            _feed(h, k)
            _feed(h, obj[k])
        h.update(b")")
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(f"{type(obj).__qualname__}(".encode())
        for f in dataclasses.fields(obj):
            h.update(f.name.encode())
            _feed(h, getattr(obj, f.name))
        h.update(b")")
    elif isinstance(obj, os.PathLike):
        _feed(h, os.fspath(obj))
    else:
        try:
            h.update(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception as exc:  # noqa: BLE001 - any pickling failure means "cannot key on this"
            raise TypeError(f"cannot key a cache on a {type(obj).__name__}: name the parameter "
                            "with a leading underscore to leave it out of the key") from exc


class _ByteCache:
    """An LRU of pickled values, bounded by their total size and by age."""

    def __init__(self, name: str, max_bytes: int, ttl_s: float) -> None:
        self.name, self.max_bytes, self.ttl_s = name, max_bytes, ttl_s
        self._items: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None and time.monotonic() - item[1] > self.ttl_s:
                self._drop(key)
                item = None
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: str, blob: bytes) -> None:
        if len(blob) > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                self._drop(key)
            now = time.monotonic()
            for k in [k for k, (_, t) in self._items.items() if now - t > self.ttl_s]:
                self._drop(k)
            while self._items and self._bytes + len(blob) > self.max_bytes:
                self._drop(next(iter(self._items)))
            self._items[key] = (blob, now)
            self._bytes += len(blob)

    def _drop(self, key: str) -> None:
        blob, _ = self._items.pop(key)
        self._bytes -= len(blob)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self.name, len(self._items), self._bytes, self.max_bytes, self.ttl_s,
                              self.hits, self.misses)


def _spinner(text: str | bool) -> contextlib.AbstractContextManager[Any]:
    """``st.spinner(text)`` inside a Streamlit script run, a no-op elsewhere (tests, the bench)."""
    if not text:
        return contextlib.nullcontext()
    import streamlit as st
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return st.spinner(text if isinstance(text, str) else "Running...") if get_script_run_ctx() \
        else contextlib.nullcontext()


def data_cache(*, max_mb: float, ttl_s: float = DEFAULT_TTL_S, show_spinner: str | bool = False
               ) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: cache ``func``'s results by its arguments in at most ``max_mb`` MB (pickled),
    each for at most ``ttl_s`` seconds. The wrapped function gains ``.clear()`` and ``.stats()``."""
    if max_mb <= 0 or ttl_s <= 0:
        raise ValueError(f"max_mb and ttl_s must be positive, got {max_mb}, {ttl_s}")

    def wrap(func: Callable[P, R]) -> Callable[P, R]:
        name = f"{func.__module__}.{func.__qualname__}"
        cache = _ByteCache(name, int(max_mb * 2**20), float(ttl_s))
        _CACHES[name] = cache
        sig = inspect.signature(func)

        @functools.wraps(func)
        def cached(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            h = hashlib.blake2b(digest_size=20)
            for pname, value in bound.arguments.items():
                if not pname.startswith("_"):
                    h.update(pname.encode())
                    _feed(h, value)
            key = h.hexdigest()
            blob = cache.get(key)
            if blob is not None:
                return pickle.loads(blob)
            with _spinner(show_spinner):
                value = func(*args, **kwargs)
            cache.put(key, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
            return value  # the cache holds its own pickled copy

        cached.clear = cache.clear  # type: ignore[attr-defined]
        cached.stats = cache.stats  # type: ignore[attr-defined]
        return cached

    return wrap


def stats() -> list[CacheStats]:
    """Every byte-bounded cache of the process, by name."""
    return [c.stats() for _, c in sorted(_CACHES.items())]


def total_budget_mb() -> float:
    """The sum of every cache's budget, MB: the most result caches can hold at once."""
    return sum(c.max_bytes for c in _CACHES.values()) / 2**20


def clear_all() -> None:
    """Empty every byte-bounded cache (``st.cache_data.clear()`` does not reach them)."""
    for c in _CACHES.values():
        c.clear()
