"""The C allocator's thresholds for this process: large numpy temporaries reuse heap memory.

The candidate search and the solver allocate and free arrays of a few hundred kB to tens of MB
thousands of times. With glibc's defaults each such array is an ``mmap`` / ``munmap`` pair
(fresh pages, zeroed, faulted in one by one, both threads contending for the address space)
until the dynamic threshold has grown; a fresh process — a CLI run, a new web worker — pays
that on its first plan. Raising the mmap threshold to 32 MB and keeping up to 256 MB of freed
heap lets those arrays reuse pages. National benchmark, first candidate search in fresh
processes on a quiet machine (median of 3–5, same runs): 0.34–0.39 s wall and 0.61–0.67 s of
CPU with these settings against 0.40–0.43 s and 0.68–0.71 s with glibc's defaults; peak RSS of
the whole benchmark 1.31 → 1.35 GB (``benchmarks/national.py`` prints both every run).

Process-wide, so only entry points call ``tune_allocator`` (the CLI, the web app's factory,
solver worker processes, benchmarks), never library functions. A no-op off glibc, and when the
operator set ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` (theirs win).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's upper bound for this setting on 64-bit
TRIM_THRESHOLD = 256 * 1024 * 1024

_tuned: bool | None = None


def tune_allocator() -> bool:
    """Set the thresholds once; True when they are in force (set now or before)."""
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if not sys.platform.startswith("linux") or any(
        name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
    ):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _tuned
