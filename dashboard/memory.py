"""Give the heap memory a script run freed back to the system (glibc's ``malloc_trim``).

A page run allocates large short-lived arrays (volumes, probability maps, overlays, PNG bytes) in
the session's own thread. glibc keeps what is freed in that thread's arena for reuse, so a server's
resident memory climbs with every page its visitors open although little of it is in use; on a tour
of every page the process held 1051 MB with the CUDA build of PyTorch. ``malloc_trim(0)`` hands the
free pages of every arena back. The router calls :func:`release` after each run of a page
(``python -m dashboard.bench_pages --tour`` measures the effect). Elsewhere than glibc (macOS,
musl) there is no such call and nothing is done.
"""
from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return None


def release() -> bool:
    """Return freed heap pages to the system; False where the C library has no ``malloc_trim``."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
