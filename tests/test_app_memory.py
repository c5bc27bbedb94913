"""The app's allocator settings: glibc's arena cap, and freed memory handed back after a run."""
import os

import pytest

from robust_synth.app import memory

glibc_only = pytest.mark.skipif(memory._LIBC is None, reason="needs glibc's mallopt and malloc_trim")


@glibc_only
def test_arenas_are_capped_unless_the_operator_set_a_cap(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert memory.cap_arenas() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert memory.cap_arenas() is False


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@glibc_only
def test_freed_heap_memory_goes_back_to_the_system():
    chunks = [b"\x01" * 100_000 for _ in range(3000)]  # 300 MB of heap, each under glibc's mmap threshold
    kept = chunks[::50]  # a few survivors pin the heap: glibc's own trimming (top of the heap only) cannot help
    del chunks
    before = _rss_bytes()
    assert memory.release_freed() is True
    assert before - _rss_bytes() > 200e6
    assert len(kept) == 60
