"""Memory measured inside a test: the peak of what Python allocates (tracemalloc; numpy and zlib buffers report to
it) while one action runs."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def measured(action: Callable[[], T]) -> tuple[T, int]:
    """Run ``action``; return its result and the peak of traced memory while it ran (bytes)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = action()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
