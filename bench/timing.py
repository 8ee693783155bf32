"""Timing that survives a busy machine: the best of several repeats, models measured side by side."""
from __future__ import annotations

import time
from typing import Callable


def best_seconds(fn: Callable[[], object], repeats: int = 5, inner: int = 10, warmup: int = 2) -> float:
    """Seconds per call of `fn`: the fastest of `repeats` runs of `inner` calls each.

    Other processes only ever add time, so the minimum is the least disturbed estimate.
    """
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - began) / inner)
    return best
