"""The allocator settings (``matcher.memory``): set by entry points, the operator's win."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import ctypes, json, sys
sys.path.insert(0, {root!r})
from matcher import memory
first = memory.tune_allocator()
again = memory.tune_allocator()
# glibc's mallinfo2 cannot show thresholds; a 2 MB block below the 32 MB threshold comes from
# the heap (arena), not from mmap: hblkhd (mmapped bytes) does not grow.
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
before = libc.mallinfo2().hblkhd
p = libc.malloc(2 * 1024 * 1024)
mapped = libc.mallinfo2().hblkhd - before
libc.free(ctypes.c_void_p(p))
print(json.dumps([first, again, mapped]))
"""

linux_glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux")
    or not os.path.exists("/lib/x86_64-linux-gnu/libc.so.6")
    and not os.path.exists("/lib/aarch64-linux-gnu/libc.so.6"),
    reason="glibc only",
)


def _probe(env: dict[str, str]) -> list[object]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(root=str(ROOT))],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | env,
    )
    return json.loads(out.stdout)


@linux_glibc
def test_tuned_process_serves_medium_blocks_from_the_heap() -> None:
    first, again, mapped = _probe({})
    assert first is True and again is True
    assert mapped == 0


@linux_glibc
def test_operator_setting_wins() -> None:
    first, again, mapped = _probe({"MALLOC_TRIM_THRESHOLD_": "131072"})
    assert first is False and again is False
    assert mapped > 0  # glibc's default threshold (128 kB): the block is mmapped


def test_entry_points_tune_and_library_does_not() -> None:
    """Process-wide settings belong to processes: the CLI, the web factory, solver workers."""
    calls = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "matcher").rglob("*.py")
        if "tune_allocator()" in path.read_text(encoding="utf-8")
    } | {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "api").rglob("*.py")
        if "tune_allocator()" in path.read_text(encoding="utf-8")
    }
    assert calls == {
        "matcher/memory.py",
        "matcher/cli/__init__.py",
        "matcher/solve/optimal.py",
        "api/main.py",
    }
