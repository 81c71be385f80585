"""engine/heap.py: the allocator's freed pages go back to the system between phases."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import pytest
import torch

from privacy_checks.engine.heap import _malloc_trim, release_free_memory

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's"
)


def resident_mb() -> float:
    import resource

    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


@glibc
def test_freed_batches_held_by_the_heap_are_returned():
    assert _malloc_trim() is not None
    torch.ones(2**20 * 2)  # 8 MB freed: glibc now serves blocks up to that size from its heap
    kept = []
    for i in range(300):
        # batches of varied sizes (0.4-2.8 MB), each leaving a small live block above it: the heap
        # cannot shrink from the top
        batch = [torch.ones(100_000 * (1 + i % 7)) for _ in range(4)]
        kept.append(torch.ones(1000))
        del batch
    before = resident_mb()
    release_free_memory()
    assert before - resident_mb() > 5  # measured: 12.5 MB returned; 0 without the trim
    assert len(kept) == 300


def test_it_is_harmless_to_call_anywhere():
    release_free_memory()
    release_free_memory()
